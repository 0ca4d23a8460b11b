/*
 * store, PostgreSQL backend: what its files share (store_pg.c, the
 * connection and the primitives; store_pg_sql.c, the schema; the row
 * files).  Private to the store like store_impl.h; these are the only
 * files that include libpq-fe.h, beside pgconn.
 *
 * Every statement is SQL text bound with text parameters; no SQL is built
 * at run time.  Times cross as integer milliseconds since the epoch, the
 * store API's unit: PG_TS() turns a parameter into a timestamptz,
 * PG_MS() a column back.  Every call here may yield: it waits for the
 * database's answer.
 */
#ifndef STORE_PG_H_INCLUDED
#define STORE_PG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store_backend.h"

/* The migrations (store_pg_sql.c): store_pg__migrations[i] takes the
 * schema from version i to i + 1; there are STORE_PG_SCHEMA_VERSION of
 * them.  Each text holds several statements and no transaction control,
 * so the caller sends it whole by the simple query protocol (PQsendQuery
 * outside pipeline mode: the extended protocol takes one statement) inside
 * its own transaction.  None of them makes or writes jobd_schema: the
 * caller does.  store_pg__compat[i] is the compat the schema has after
 * migration i: the version itself for a migration older nodes cannot
 * read past, else the one before. */
extern const char *const store_pg__migrations[];
extern const int store_pg__compat[];

/* SQL for parameter p (say "$3") as a timestamptz, and for the
 * timestamptz column c as milliseconds.  A time past what timestamptz
 * holds (INT64_MAX: "no bound") is cut to the year 128000, or 4700 BC;
 * NULL stays NULL. */
#define PG_TS(p)                                                          \
	"(CASE WHEN (" p ")::float8 IS NULL THEN NULL ELSE to_timestamp(" \
	"least(greatest((" p ")::float8, -2e14), 4e15) / 1000) END)"
#define PG_MS(c) "(extract(epoch FROM " c ") * 1000)::int8"

/* The SET list of an UPDATE of jobs that takes back a running attempt
 * whose node is gone: the job goes back to queued (reason recovered, the
 * attempt given back), or, past `lim` recoveries (a parameter, "$2"), to
 * failed (recovery_limit, finished at `at`, SQL for a timestamptz).  Uses
 * STATE() and REASON() of store_sqlnum.h. */
#define PG_SET_RECOVERED(lim, at)                                              \
	"state = CASE WHEN recoveries >= " lim                                 \
	" THEN " STATE(FAILED) " ELSE " STATE(                                 \
		QUEUED) " END,"                                                \
			" reason = CASE WHEN recoveries >= " lim               \
			" THEN " REASON(RECOVERY_LIMIT) " ELSE " REASON(       \
				RECOVERED) " END, recoveries = recoveries + "  \
					   "1,"                                \
					   " attempt = greatest(attempt - 1, " \
					   "0), pid = NULL,"                   \
					   " node_id = NULL, node_epoch = "    \
					   "NULL,"                             \
					   " finished_at = CASE WHEN "         \
					   "recoveries >= " lim " THEN " at    \
					   " END"

/* A statement's parameters, in order, as text. */
#define STORE_PG_MAX_ARGS 40
struct store_pg__args {
	int n;
	const char *v[STORE_PG_MAX_ARGS]; /* NULL: SQL NULL */
	char buf[STORE_PG_MAX_ARGS][32];  /* numbers' text */
};
void store_pg__arg_int(struct store_pg__args *a, int64_t v);
void store_pg__arg_double(struct store_pg__args *a, double v);
void store_pg__arg_bool(struct store_pg__args *a, bool v);
/* s borrowed until the statement ran; NULL is SQL NULL. */
void store_pg__arg_text(struct store_pg__args *a, const char *s);
void store_pg__arg_null(struct store_pg__args *a);

/* Runs a statement that writes nothing (a may be NULL: no parameters); on
 * success *res (may be NULL) gets its result, which the caller PQclear()s.
 * -1 with E_DB, "store: <what>: <cause>"; a statement that fails while
 * the group transaction is open loses it (store__txn_lost).  Yields. */
int store_pg__read(const char *what, const char *sql,
		   const struct store_pg__args *a, PGresult **res);
/* The same for a statement that writes: it joins the group transaction
 * first (store__write_begin).  A statement that would fail on an expected
 * outcome (a name taken) must not: one failure aborts the transaction of
 * every writer.  Write those with ON CONFLICT DO NOTHING or a condition,
 * and read the outcome from the rows returned.  Yields. */
int store_pg__write(const char *what, const char *sql,
		    const struct store_pg__args *a, PGresult **res);
/* A write whose result nobody needs (what names it when it cannot be
 * sent): sent in the group transaction without waiting for its
 * answer; its failure loses the transaction, as any write's does.  0, or
 * -1 with E_DB when it cannot be sent.  Yields only to join the group
 * transaction (store__write_begin). */
int store_pg__write_unawaited(const char *what, const char *sql,
			      const struct store_pg__args *a);

/* Reports to fn the rows (id, qid, new state) of r, jobs that left
 * running (a recovery, a rescue). */
void store_pg__report_recovered(const PGresult *r, store_job_fn fn, void *arg);

/* Column col of row: NULL-ness; a number (0 when NULL); a boolean
 * (false when NULL); text (borrowed from r, NULL when NULL); JSON text
 * parsed (a new reference, NULL when NULL). */
bool store_pg__null(const PGresult *r, int row, int col);
int64_t store_pg__int(const PGresult *r, int row, int col);
double store_pg__double(const PGresult *r, int row, int col);
bool store_pg__bool(const PGresult *r, int row, int col);
const char *store_pg__text(const PGresult *r, int row, int col);
json_t *store_pg__json(const PGresult *r, int row, int col);

/* This node in the cluster (store_pg_node.c): id 0 until it registers;
 * epoch 0 while it is fenced (no claim is made then); claims_paused while
 * its lease is in doubt (the heartbeat late). */
struct store_pg__node {
	int64_t id;
	int epoch;
	char *name; /* owned */
	bool claims_paused;
};
extern struct store_pg__node store_pg__node;

/* The connection string the store was opened with (borrowed), NULL when
 * it is closed: the listening connection connects with it too. */
const char *store_pg__conninfo(void);

/* store__pg_open(conninfo) (store_backend.h) connects to conninfo
 * (borrowed), sets the session up and creates or migrates the schema.  -1
 * with E_DB; store_close() then closes what was opened.  From a
 * coroutine.  Yields. */

/* The calls of STORE_BACKEND_CALLS, store__pg_NAME for store_NAME (the
 * row files and store_pg.c), gathered into store__pg_backend. */
#define STORE_PG_PROTO(ret, name, params, args) ret store__pg_##name params;
#define STORE_PG_PROTOV(name, params, args) void store__pg_##name params;
STORE_BACKEND_CALLS(STORE_PG_PROTO, STORE_PG_PROTOV)

#endif /* STORE_PG_H_INCLUDED */
