/*
 * pgconn: one PostgreSQL connection driven by libpq from the libev loop,
 * in pipeline mode.  It owns the socket's watchers, the FIFO of statements
 * sent and not yet answered, and the notifications that arrive; it knows no
 * SQL of jobd's (the PostgreSQL store does).
 *
 * Statements are appended to the pipeline as callers make them; a loop
 * flush hook ends each loop iteration's statements with one Sync and
 * writes them out, so everything the coroutines of one iteration asked for
 * goes in one round trip.  The socket's callback only moves each result
 * into its waiter's record and wakes the waiter.  Nothing here blocks the
 * loop: no PQexec, PQprepare, PQconnectdb or PQreset is ever called.
 *
 * A statement that fails aborts the statements sent after it up to the
 * next Sync (libpq's pipeline rule): each of those fails too, saying so.
 * A connection that breaks, or that leaves its oldest statement without an
 * answer for `timeout` seconds, is lost: every statement waiting on it
 * fails with E_DB, and later calls fail at once.  Making a new connection
 * is the caller's decision.
 *
 * Host names in a connection string are resolved by libpq itself, in
 * blocking getaddrinfo calls: give `hostaddr` (or a Unix socket directory)
 * so that connecting never waits on DNS.
 */
#ifndef PGCONN_H_INCLUDED
#define PGCONN_H_INCLUDED

#include <stdbool.h>

#include <libpq-fe.h>

struct pgconn;

/* Called for each notification, in the scheduler context, after the
 * results that arrived with it have been handed out; channel and payload
 * are borrowed for the call.  Must not yield. */
typedef void (*pgconn_notify_fn)(const char *channel, const char *payload,
				 void *arg);

/* Connects to conninfo (a libpq connection string, borrowed), adding TCP
 * keepalives of 5/2/3 s and a 10 s TCP user timeout unless it sets them,
 * and enters pipeline mode.  timeout (seconds, > 0) bounds the connect and,
 * later, how long the oldest statement may wait for its answer.  Returns
 * the connection (release with pgconn_delete()), or NULL with E_DB naming
 * the cause.  From a coroutine.  Yields. */
struct pgconn *pgconn_connect(const char *conninfo, double timeout);
/* Closes the connection.  Statements still waiting fail with E_DB
 * ("connection closed"); their coroutines are woken, and the callbacks of
 * statements sent without waiting are called.  Not while a coroutine is
 * inside pgconn_script() on it.  NULL does nothing.  Does not yield. */
void pgconn_delete(struct pgconn *pc);
/* False once the connection is lost or closed. */
bool pgconn_ok(const struct pgconn *pc);
/* Why the connection was lost ("" while it is not); borrowed. */
const char *pgconn_error(const struct pgconn *pc);
/* Sets the notification callback (fn NULL: none). */
void pgconn_on_notify(struct pgconn *pc, pgconn_notify_fn fn, void *arg);

/* Appends one statement with n text parameters (vals borrowed; a NULL
 * value is SQL NULL) to the pipeline and waits for its result.  On success
 * returns 0 and, when out is not NULL, stores the result there (the caller
 * PQclear()s it).  On failure returns -1 with E_DB; *out then holds the
 * server's error result when there is one (PQresultErrorField gives its
 * SQLSTATE; the caller PQclear()s it), else NULL.  The wait cannot be
 * cancelled: the record lives on the caller's stack until its answer
 * or the connection's loss.  From a coroutine.  Yields. */
int pgconn_query(struct pgconn *pc, const char *sql, int n,
		 const char *const *vals, PGresult **out);
/* Prepares the named statement (name and sql borrowed), as
 * pgconn_query() runs one.  Yields. */
int pgconn_prepare(struct pgconn *pc, const char *name, const char *sql);
/* Runs the named prepared statement, as pgconn_query() does.  Yields. */
int pgconn_exec(struct pgconn *pc, const char *name, int n,
		const char *const *vals, PGresult **out);
/* Called with a sent statement's result: res (borrowed for the call) on
 * success, else NULL and err (borrowed), the reason.  In the scheduler
 * context (or inside pgconn_delete(), when the connection closes with the
 * statement unanswered).  Must not yield. */
typedef void (*pgconn_result_fn)(PGresult *res, const char *err, void *arg);
/* Appends one statement, as pgconn_query() does, without waiting: fn (may
 * be NULL) learns its result.  0, or -1 with E_DB when the connection is
 * lost (fn is then never called).  For the flush hook that commits, and
 * writes whose outcome only matters if they fail.  Does not yield. */
int pgconn_send(struct pgconn *pc, const char *sql, int n,
		const char *const *vals, pgconn_result_fn fn, void *arg);
/* Appends the preparation of the named statement (name and sql
 * borrowed), as pgconn_send() appends a statement: a run of it appended
 * next, in the same pass, comes after it.  Does not yield. */
int pgconn_send_prepare(struct pgconn *pc, const char *name, const char *sql,
			pgconn_result_fn fn, void *arg);
/* Runs a script of several statements (sql borrowed) with the simple query
 * protocol, which pipeline mode does not allow: waits until nothing is in
 * flight, leaves pipeline mode, runs the script and enters it again.  0,
 * or -1 with E_DB and the first error's message.  For schema changes at
 * open, when nothing else uses the connection.  Yields. */
int pgconn_script(struct pgconn *pc, const char *sql);

/* The server's version as libpq numbers it (150018 for 15.18); 0 once
 * the connection is lost. */
int pgconn_server_version(const struct pgconn *pc);
/* How many statements wait for their answer (tests, stats). */
int pgconn_pending(const struct pgconn *pc);

#endif /* PGCONN_H_INCLUDED */
