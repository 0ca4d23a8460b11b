/*
 * pgconn: libpq's pipeline mode on the libev loop (pgconn.h).
 *
 * Each statement sent is a record in the connection's FIFO, in send order;
 * a Sync is a record too, with nobody waiting on it.  A caller's record
 * lives on its own stack: it is pushed, the statement goes into libpq's
 * output buffer, and the caller yields until the socket's callback has
 * filled the record and woken it.  The flush hook (one for every
 * connection) appends a Sync where statements were sent since the last
 * one, and writes libpq's buffer out, watching for EV_WRITE while the
 * kernel takes only part of it.
 */
#include "pgconn.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "xmem.h"

enum req_kind {
	REQ_STATEMENT, /* a statement in the pipeline */
	REQ_SYNC,      /* a Sync: heap-allocated, nobody waits */
	REQ_SEND,      /* a statement nobody waits for: heap-allocated,
			* its callback told */
	REQ_SCRIPT     /* a script, outside pipeline mode */
};

struct pgconn_req {
	struct pgconn_req *next;
	int kind;	     /* enum req_kind */
	struct coro *c;	     /* the waiter; NULL for a Sync or a send */
	pgconn_result_fn fn; /* a send's callback, or NULL */
	void *arg;
	PGresult *res;	/* owned until handed to the waiter */
	bool done;	/* answered (or failed) */
	bool failed;	/* with the reason in err */
	char err[256];	/* the server's or the connection's message */
	double sent_at; /* loop time, s */
};

struct pgconn {
	PGconn *pg;
	struct pgconn *next_conn; /* every open connection, for the hook */
	ev_io rio, wio;		  /* socket readable; writable (while
				   * libpq holds unsent output) */
	ev_timer watchdog;	  /* while anything waits: its age */
	double timeout;		  /* s */
	struct pgconn_req *head, *tail;
	int pending;   /* records in the FIFO, Syncs too */
	bool unsynced; /* statements sent since the last Sync */
	bool lost;
	char error[256];   /* why it was lost */
	struct waitq idle; /* notified when the FIFO empties */
	pgconn_notify_fn notify;
	void *notify_arg;
};

static struct pgconn *conns; /* every connection, for the flush hook */

/* libpq's message on one line: its lines (it ends in a newline, and some
 * go on over indented lines) joined by single spaces. */
static void
copy_msg(char *dst, size_t size, const char *msg)
{
	size_t n = 0;
	bool space = false;

	for (; *msg != '\0' && n + 1 < size; msg++) {
		if (*msg == '\n' || *msg == '\t' || *msg == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < size)
			dst[n++] = ' ';
		space = false;
		dst[n++] = *msg;
	}
	dst[n] = '\0';
}

static void
push(struct pgconn *pc, struct pgconn_req *r)
{
	r->next = NULL;
	r->sent_at = loop_now();
	if (pc->tail != NULL)
		pc->tail->next = r;
	else
		pc->head = r;
	pc->tail = r;
	pc->pending++;
	if (!ev_is_active(&pc->watchdog))
		ev_timer_again(loop_ev(), &pc->watchdog);
}

/* Takes the head record out of the FIFO and hands it to its waiter. */
static void
finish_head(struct pgconn *pc)
{
	struct pgconn_req *r = pc->head;

	pc->head = r->next;
	if (pc->head == NULL) {
		pc->tail = NULL;
		ev_timer_stop(loop_ev(), &pc->watchdog);
		waitq_notify_all(&pc->idle);
	}
	pc->pending--;
	r->done = true;
	if (r->kind == REQ_SYNC || r->kind == REQ_SEND) {
		if (r->fn != NULL)
			r->fn(r->failed ? NULL : r->res,
			      r->failed ? r->err : NULL, r->arg);
		PQclear(r->res);
		free(r);
		return;
	}
	coro_wakeup(r->c);
}

/* The connection broke, timed out or is closed: every record fails with
 * why, its waiter is woken, and libpq's connection is closed. */
static void
lose(struct pgconn *pc, const char *why)
{
	if (!pc->lost) {
		pc->lost = true;
		copy_msg(pc->error, sizeof(pc->error), why);
	}
	while (pc->head != NULL) {
		struct pgconn_req *r = pc->head;

		if (!r->failed) {
			r->failed = true;
			snprintf(r->err, sizeof(r->err), "%s", pc->error);
		}
		finish_head(pc);
	}
	ev_io_stop(loop_ev(), &pc->rio);
	ev_io_stop(loop_ev(), &pc->wio);
	ev_timer_stop(loop_ev(), &pc->watchdog);
	waitq_notify_all(&pc->idle);
	if (pc->pg != NULL) {
		PQfinish(pc->pg);
		pc->pg = NULL;
	}
}

static void
lose_conn(struct pgconn *pc, const char *what)
{
	char why[256], msg[200];

	copy_msg(msg, sizeof(msg),
		 pc->pg != NULL ? PQerrorMessage(pc->pg) : "closed");
	snprintf(why, sizeof(why), "postgres: %s: %s", what, msg);
	lose(pc, why);
}

/* One result of the head record. */
static void
take_result(struct pgconn *pc, PGresult *res)
{
	struct pgconn_req *r = pc->head;
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_PIPELINE_SYNC) {
		/* Ends a Sync record; none follows it. */
		if (r->kind == REQ_SYNC) {
			PQclear(res);
			finish_head(pc);
			return;
		}
		PQclear(res);
		lose(pc, "postgres: pipeline out of step (a Sync came "
			 "before a statement's answer)");
		return;
	}
	if (st == PGRES_PIPELINE_ABORTED) {
		if (!r->failed) {
			r->failed = true;
			snprintf(r->err, sizeof(r->err),
				 "postgres: not run: an earlier statement "
				 "of its batch failed");
		}
		PQclear(res);
		return;
	}
	if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR ||
	    st == PGRES_BAD_RESPONSE) {
		if (!r->failed) {
			char msg[224];

			copy_msg(msg, sizeof(msg), PQresultErrorMessage(res));
			r->failed = true;
			snprintf(r->err, sizeof(r->err), "postgres: %s", msg);
			PQclear(r->res);
			r->res = res; /* the waiter reads its SQLSTATE */
			return;
		}
		PQclear(res);
		return;
	}
	/* A script gives one result per statement: the last one is kept. */
	if (r->failed) {
		PQclear(res);
		return;
	}
	PQclear(r->res);
	r->res = res;
}

/* Moves every complete result into its record and wakes its waiter, then
 * hands out the notifications. */
static void
drain(struct pgconn *pc)
{
	PGnotify *nt;

	while (pc->pg != NULL && pc->head != NULL && !PQisBusy(pc->pg)) {
		PGresult *res = PQgetResult(pc->pg);

		if (res == NULL) {
			/* The end of a statement's results (never of a
			 * Sync's). */
			struct pgconn_req *r = pc->head;

			if (r->kind == REQ_SYNC) {
				lose(pc, "postgres: pipeline out of step (a "
					 "statement's end where a Sync was "
					 "due)");
				return;
			}
			if (r->res == NULL && !r->failed) {
				char m[200];

				copy_msg(m, sizeof(m), PQerrorMessage(pc->pg));
				r->failed = true;
				snprintf(r->err, sizeof(r->err),
					 "postgres: no result: %s", m);
			}
			finish_head(pc);
			continue;
		}
		take_result(pc, res);
	}
	/* The server closed the connection (a FATAL, then the end of the
	 * stream) without a read failing. */
	if (pc->pg != NULL && PQstatus(pc->pg) == CONNECTION_BAD) {
		lose_conn(pc, "connection lost");
		return;
	}
	while (pc->pg != NULL && (nt = PQnotifies(pc->pg)) != NULL) {
		if (pc->notify != NULL)
			pc->notify(nt->relname, nt->extra, pc->notify_arg);
		PQfreemem(nt);
	}
}

/* Writes what libpq holds; watches for EV_WRITE while some is left. */
static void
flush_out(struct pgconn *pc)
{
	int r = PQflush(pc->pg);

	if (r < 0) {
		lose_conn(pc, "cannot send");
		return;
	}
	if (r > 0)
		ev_io_start(loop_ev(), &pc->wio);
	else
		ev_io_stop(loop_ev(), &pc->wio);
}

static void
pgconn_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct pgconn *pc = w->data;

	(void)l;
	(void)revents;
	if (!PQconsumeInput(pc->pg)) {
		lose_conn(pc, "connection lost");
		return;
	}
	drain(pc);
}

static void
pgconn_write_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct pgconn *pc = w->data;

	(void)l;
	(void)revents;
	/* libpq may need to read before it can write more (the server
	 * blocks on its own output otherwise). */
	if (!PQconsumeInput(pc->pg)) {
		lose_conn(pc, "connection lost");
		return;
	}
	flush_out(pc);
	if (pc->pg != NULL)
		drain(pc);
}

static void
pgconn_watchdog_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct pgconn *pc = w->data;
	char why[128];

	(void)l;
	(void)revents;
	if (pc->head == NULL) {
		ev_timer_stop(loop_ev(), w);
		return;
	}
	/* A script (a migration building an index) may take its time. */
	if (pc->head->kind == REQ_SCRIPT ||
	    loop_now() - pc->head->sent_at < pc->timeout)
		return;
	snprintf(why, sizeof(why), "postgres: no answer in %g s", pc->timeout);
	lose(pc, why);
}

/* The flush hook: ends each connection's iteration with a Sync and sends
 * it.  Wakes nobody, so says it did nothing. */
static bool
pgconn_flush(void *arg)
{
	(void)arg;
	for (struct pgconn *pc = conns; pc != NULL; pc = pc->next_conn) {
		if (pc->lost || !pc->unsynced)
			continue;
		struct pgconn_req *s = xcalloc(1, sizeof(*s));

		s->kind = REQ_SYNC;
		if (!PQpipelineSync(pc->pg)) {
			free(s);
			lose_conn(pc, "cannot send");
			continue;
		}
		pc->unsynced = false;
		push(pc, s);
		flush_out(pc);
	}
	return false;
}

/* The server's notices ("relation exists, skipping") go to the debug
 * log, not to stderr, where libpq would print them. */
static void
notice_cb(void *arg, const char *msg)
{
	char m[256];

	(void)arg;
	copy_msg(m, sizeof(m), msg);
	log_debug("postgres: %s", m);
}

/* Adds the keepalives and TCP user timeout that let a partition be noticed
 * in seconds, where conninfo does not set them.  Returns PQconninfoParse's
 * options (PQconninfoFree them), or NULL with E_DB. */
static PQconninfoOption *
parse_conninfo(const char *conninfo)
{
	static const char *const defaults[][2] = {
		{"keepalives_idle", "5"},
		{"keepalives_interval", "2"},
		{"keepalives_count", "3"},
		{"tcp_user_timeout", "10000"},
	};
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

	if (opts == NULL) {
		char msg[200];

		copy_msg(msg, sizeof(msg), err != NULL ? err : "out of memory");
		PQfreemem(err);
		diag_set(E_DB, "postgres: bad connection string: %s", msg);
		return NULL;
	}
	for (size_t d = 0; d < sizeof(defaults) / sizeof(defaults[0]); d++)
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, defaults[d][0]) == 0 &&
			    o->val == NULL)
				o->val = xstrdup(defaults[d][1]);
	return opts;
}

/* Steps PQconnectPoll until the connection is made, waiting on the socket
 * as it asks; the socket may change between steps (a multi-host string
 * tries each host).  0, or -1 with E_DB. */
static int
connect_poll(PGconn *pg, double timeout)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double deadline = loop_now() + timeout;

	for (;;) {
		int ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
		double left = deadline - loop_now();

		if (st == PGRES_POLLING_OK)
			return 0;
		if (st == PGRES_POLLING_FAILED)
			break;
		if (left <= 0)
			return diag_set(E_DB,
					"postgres: cannot connect: no "
					"answer in %g s",
					timeout);
		if (await_io(PQsocket(pg), ev, left, false, NULL) != 0) {
			if (diag_code() == E_TIMEOUT)
				continue; /* said above, with the time */
			return -1;
		}
		st = PQconnectPoll(pg);
	}
	char msg[200];

	copy_msg(msg, sizeof(msg), PQerrorMessage(pg));
	return diag_set(E_DB, "postgres: cannot connect: %s", msg);
}

struct pgconn *
pgconn_connect(const char *conninfo, double timeout)
{
	PQconninfoOption *opts = parse_conninfo(conninfo);
	const char **keys, **vals;
	size_t n = 0, i = 0;
	PGconn *pg;

	assert(coro_self() != NULL && timeout > 0);
	if (opts == NULL)
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		n++;
	keys = xcalloc(n + 1, sizeof(*keys));
	vals = xcalloc(n + 1, sizeof(*vals));
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (o->val != NULL) {
			keys[i] = o->keyword;
			vals[i++] = o->val;
		}
	pg = PQconnectStartParams(keys, vals, 0);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	if (pg == NULL) {
		diag_set(E_DB, "postgres: cannot connect: out of memory");
		return NULL;
	}
	if (PQstatus(pg) == CONNECTION_BAD) {
		char msg[200];

		copy_msg(msg, sizeof(msg), PQerrorMessage(pg));
		diag_set(E_DB, "postgres: cannot connect: %s", msg);
		PQfinish(pg);
		return NULL;
	}
	if (connect_poll(pg, timeout) != 0) {
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, notice_cb, NULL);
	if (PQsetnonblocking(pg, 1) != 0 || !PQenterPipelineMode(pg)) {
		char msg[200];

		copy_msg(msg, sizeof(msg), PQerrorMessage(pg));
		diag_set(E_DB, "postgres: cannot enter pipeline mode: %s", msg);
		PQfinish(pg);
		return NULL;
	}

	struct pgconn *pc = xcalloc(1, sizeof(*pc));

	pc->pg = pg;
	pc->idle = (struct waitq)WAITQ_INIT;
	pc->timeout = timeout;
	ev_io_init(&pc->rio, pgconn_read_cb, PQsocket(pg), EV_READ);
	ev_io_init(&pc->wio, pgconn_write_cb, PQsocket(pg), EV_WRITE);
	ev_init(&pc->watchdog, pgconn_watchdog_cb);
	pc->watchdog.repeat = timeout < 1 ? timeout : 1;
	pc->rio.data = pc->wio.data = pc->watchdog.data = pc;
	ev_io_start(loop_ev(), &pc->rio);
	if (conns == NULL)
		loop_add_flush(pgconn_flush, NULL, "pgconn.send");
	pc->next_conn = conns;
	conns = pc;
	return pc;
}

void
pgconn_delete(struct pgconn *pc)
{
	if (pc == NULL)
		return;
	lose(pc, "postgres: connection closed");
	for (struct pgconn **p = &conns; *p != NULL; p = &(*p)->next_conn)
		if (*p == pc) {
			*p = pc->next_conn;
			break;
		}
	if (conns == NULL)
		loop_remove_flush(pgconn_flush, NULL);
	free(pc);
}

bool
pgconn_ok(const struct pgconn *pc)
{
	return !pc->lost;
}

const char *
pgconn_error(const struct pgconn *pc)
{
	return pc->error;
}

void
pgconn_on_notify(struct pgconn *pc, pgconn_notify_fn fn, void *arg)
{
	pc->notify = fn;
	pc->notify_arg = arg;
}

int
pgconn_server_version(const struct pgconn *pc)
{
	return pc->pg != NULL ? PQserverVersion(pc->pg) : 0;
}

int
pgconn_pending(const struct pgconn *pc)
{
	return pc->pending;
}

/* Waits for r's answer (r was pushed): 0, or -1 with E_DB; the result
 * goes to *out (or is freed). */
static int
await_req(struct pgconn_req *r, PGresult **out)
{
	while (!r->done)
		coro_yield(); /* not cancellable: r is on this stack */
	if (out != NULL)
		*out = r->res;
	else
		PQclear(r->res);
	if (r->failed)
		return diag_set(E_DB, "%s", r->err);
	return 0;
}

/* After a statement went into libpq's buffer: pushes its record and waits
 * for the answer; sent is what the PQsend* call returned. */
static int
send_and_wait(struct pgconn *pc, int sent, PGresult **out)
{
	struct pgconn_req r = {.kind = REQ_STATEMENT, .c = coro_self()};

	if (!sent) {
		lose_conn(pc, "cannot send");
		return diag_set(E_DB, "%s", pc->error);
	}
	pc->unsynced = true;
	push(pc, &r);
	return await_req(&r, out);
}

static int
check_usable(struct pgconn *pc, PGresult **out)
{
	assert(coro_self() != NULL);
	if (out != NULL)
		*out = NULL;
	if (pc->lost)
		return diag_set(E_DB, "%s", pc->error);
	return 0;
}

int
pgconn_query(struct pgconn *pc, const char *sql, int n, const char *const *vals,
	     PGresult **out)
{
	if (check_usable(pc, out) != 0)
		return -1;
	return send_and_wait(
		pc,
		PQsendQueryParams(pc->pg, sql, n, NULL, vals, NULL, NULL, 0),
		out);
}

int
pgconn_prepare(struct pgconn *pc, const char *name, const char *sql)
{
	if (check_usable(pc, NULL) != 0)
		return -1;
	return send_and_wait(pc, PQsendPrepare(pc->pg, name, sql, 0, NULL),
			     NULL);
}

int
pgconn_exec(struct pgconn *pc, const char *name, int n, const char *const *vals,
	    PGresult **out)
{
	if (check_usable(pc, out) != 0)
		return -1;
	return send_and_wait(
		pc, PQsendQueryPrepared(pc->pg, name, n, vals, NULL, NULL, 0),
		out);
}

/* Records a statement just sent whose result nobody waits for. */
static int
sent_unwaited(struct pgconn *pc, int sent, pgconn_result_fn fn, void *arg)
{
	if (!sent) {
		lose_conn(pc, "cannot send");
		return diag_set(E_DB, "%s", pc->error);
	}

	struct pgconn_req *r = xcalloc(1, sizeof(*r));

	r->kind = REQ_SEND;
	r->fn = fn;
	r->arg = arg;
	pc->unsynced = true;
	push(pc, r);
	return 0;
}

int
pgconn_send(struct pgconn *pc, const char *sql, int n, const char *const *vals,
	    pgconn_result_fn fn, void *arg)
{
	if (pc->lost)
		return diag_set(E_DB, "%s", pc->error);
	return sent_unwaited(
		pc,
		PQsendQueryParams(pc->pg, sql, n, NULL, vals, NULL, NULL, 0),
		fn, arg);
}

int
pgconn_send_prepare(struct pgconn *pc, const char *name, const char *sql,
		    pgconn_result_fn fn, void *arg)
{
	if (pc->lost)
		return diag_set(E_DB, "%s", pc->error);
	return sent_unwaited(pc, PQsendPrepare(pc->pg, name, sql, 0, NULL), fn,
			     arg);
}

int
pgconn_script(struct pgconn *pc, const char *sql)
{
	struct pgconn_req r = {.kind = REQ_SCRIPT, .c = coro_self()};
	int rc;

	if (check_usable(pc, NULL) != 0)
		return -1;
	/* Leaving pipeline mode needs an idle connection: whatever others
	 * sent is answered first (the flush hook syncs it). */
	while (pc->head != NULL || pc->unsynced) {
		if (waitq_wait(&pc->idle, -1) != 0)
			return -1;
		if (pc->lost)
			return diag_set(E_DB, "%s", pc->error);
	}
	if (!PQexitPipelineMode(pc->pg)) {
		lose_conn(pc, "cannot leave pipeline mode");
		return diag_set(E_DB, "%s", pc->error);
	}
	if (!PQsendQuery(pc->pg, sql)) {
		lose_conn(pc, "cannot send");
		return diag_set(E_DB, "%s", pc->error);
	}
	push(pc, &r);
	flush_out(pc);
	rc = await_req(&r, NULL);
	if (!pc->lost && !PQenterPipelineMode(pc->pg)) {
		lose_conn(pc, "cannot enter pipeline mode");
		if (rc == 0)
			return diag_set(E_DB, "%s", pc->error);
	}
	return rc;
}
