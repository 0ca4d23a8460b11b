/*
 * The limits that span nodes, in the store (bothfix.h).  A queue's
 * global_concurrency is kept by both backends; on PostgreSQL its permits
 * are rows of queue_slots, made and trimmed with the queue, taken by the
 * claim and given back by the end of the attempt, and a cap lowered under
 * running jobs is never passed.  The queue's token bucket is queue_rate,
 * refilled by the database clock: claims over a window stay within burst
 * + rate * t, and a claim the bucket refuses says how long to wait.  The
 * pending jobs a capacity check counts are the whole database's, read
 * after the queue's lock is granted.  A unique key held by a job another
 * connection inserted (committed, or committing while the insert waits)
 * is a clash that loses nothing.
 *
 * "Another node" is a second libpq connection to the scenario's
 * database, with jobd.node_id 7.  It blocks the loop while it runs, so
 * the scenario commits (store_sync) before it touches rows the group
 * transaction wrote; where the store must wait for it, a coroutine of
 * the scenario ends its transaction once the store's statement is seen
 * waiting on a lock (polled, with a deadline).
 */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "await.h"
#include "bothfix.h"
#include "config.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "loop.h"
#include "loopfix.h"
#include "queue.h"
#include "queue_conf.h"
#include "store.h"
#include "store_pg.h"
#include "submit.h"

Suite *store_both_limits_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* ---- helpers, inside a scenario ---- */

/* The first column of the first row of sql on PostgreSQL, as an integer;
 * -1 when none, NULL, or the read failed. */
static int64_t peek(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t
peek(const char *fmt, ...)
{
	char sql[512];
	va_list ap;
	PGresult *r;
	int64_t v = -1;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (store_pg__read("peek", sql, NULL, &r) != 0)
		return -1;
	if (PQntuples(r) > 0 && !store_pg__null(r, 0, 0))
		v = store_pg__int(r, 0, 0);
	PQclear(r);
	return v;
}

/* A queue named name with global_concurrency gc and, when limit > 0, a
 * rate of limit per second with burst; its id, or 0. */
static int64_t
queue_add(const char *name, int gc, double limit, double burst)
{
	struct queue_conf qc;
	int64_t id = 0;

	queue_conf_init(&qc, name);
	qc.global_concurrency = gc;
	qc.rate_limit = limit;
	qc.rate_burst = burst;
	CO_EXPECT(store_queue_insert(&qc, false, &id) == 0);
	return id;
}

static int
queue_set(int64_t id, const char *name, int gc, double limit, double burst)
{
	struct queue_conf qc;

	queue_conf_init(&qc, name);
	qc.global_concurrency = gc;
	qc.rate_limit = limit;
	qc.rate_burst = burst;
	return store_queue_update(id, &qc);
}

/* A job of queue qid in state (queued, scheduled...); its id, or 0. */
static int64_t
job_add(int64_t qid, int state, const char *key)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[s]", "true");
	if (key != NULL)
		sp.unique_key = strdup(key);
	j.spec = &sp;
	j.qid = qid;
	j.state = state;
	j.created_at = T0;
	j.run_at = T0;
	j.uid = 1000;
	j.kill_grace = 1;
	j.max_attempts = 1;
	j.backoff = (struct backoff){1, 2, 30, 0};
	if (store_job_insert(&j, &id) != 0)
		id = 0;
	jobspec_destroy(&sp);
	return id;
}

/* Claims the next job of qid: its id; 0 when the claim failed, with
 * *code its diag code and *wait_ms what it said to wait. */
static int64_t
claim(int64_t qid, int *code, int64_t *wait_ms)
{
	struct store_job_run r = {0};
	int64_t id;

	*code = 0;
	if (store_job_claim(qid, T0 + 10, &r) != 0) {
		*code = diag_code();
		if (wait_ms != NULL)
			*wait_ms = r.wait_ms;
		return 0;
	}
	id = r.id;
	store_job_run_destroy(&r);
	return id;
}

/* Ends the first attempt of job id, succeeded. */
static int
end(int64_t id)
{
	struct store_job_end e = {.state = JOBD_SUCCEEDED,
				  .exit_code = 0,
				  .duration = 0.1,
				  .memory_peak = -1,
				  .finished_at = T0 + 100,
				  .attempt = 1};
	int was;

	return store_job_end_attempt(id, &e, &was);
}

/* The permits of queue qid as "slot:job" pairs (job 0: free), by slot,
 * into buf. */
static const char *
permits(int64_t qid, char *buf, size_t n)
{
	char sql[256];
	PGresult *r;

	snprintf(buf, n, "?");
	snprintf(
		sql, sizeof(sql),
		"SELECT coalesce(string_agg(slot || ':' || coalesce(job_id, "
		"0), ',' ORDER BY slot), '') FROM queue_slots WHERE qid = %lld",
		(long long)qid);
	if (store_pg__read("permits", sql, NULL, &r) == 0) {
		snprintf(buf, n, "%s", store_pg__text(r, 0, 0));
		PQclear(r);
	}
	return buf;
}

#define PERMITS_ARE(qid, want)                                              \
	do {                                                                \
		char b_[256];                                               \
		CO_EXPECT(strcmp(permits((qid), b_, sizeof(b_)), (want)) == \
			  0);                                               \
	} while (0)

/* ---- another node: a second connection ---- */

static PGconn *
other_open(void)
{
	PGconn *c = PQconnectdb(bothfix_conninfo());

	CO_EXPECT(PQstatus(c) == CONNECTION_OK);
	PQclear(PQexec(c, "SET jobd.node_id = 7"));
	return c;
}

/* Runs sql on c: its first value as an integer (0 when none), -1 with an
 * expectation failed when it failed. */
static int64_t
other(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int st = PQresultStatus(r);
	int64_t v = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		loopfix_expect_failed(__LINE__, PQerrorMessage(c));
		v = -1;
	} else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
		   !PQgetisnull(r, 0, 0)) {
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	}
	PQclear(r);
	return v;
}

/* What a coroutine ends on another connection once the store waits. */
struct ender {
	PGconn *c;
	const char *then; /* run when a backend waits on a lock */
	bool done;	  /* then has run */
};

/* Polls (10 ms apart, 10 s at most) until some backend waits on a lock
 * (pg_locks: pg_stat_activity would be read once per transaction), then
 * runs e->then on e->c.  Yields. */
static void
ender_f(void *arg)
{
	struct ender *e = arg;
	double deadline = loopfix_mono() + 10;

	while (loopfix_mono() < deadline &&
	       other(e->c, "SELECT count(*) FROM pg_locks WHERE NOT granted") ==
		       0)
		await_sleep(0.01);
	CO_EXPECT(loopfix_mono() < deadline);
	other(e->c, e->then);
	e->done = true;
}

#define RUN(fn)                                             \
	do {                                                \
		if (!bothfix_run(__func__, _i, (fn), NULL)) \
			return;                             \
	} while (0)

/* ---- global_concurrency and the bucket, kept with the queue ---- */

struct gc_seen {
	int64_t id;
	int gc[4];
};

static int
gc_of(const struct store_queue *q, void *arg)
{
	struct gc_seen *s = arg;

	if (q->id == s->id)
		s->gc[0] = q->conf.global_concurrency;
	return 0;
}

static int
gc_stored(int64_t id)
{
	struct gc_seen s = {.id = id, .gc = {-1}};

	CO_EXPECT(store_queue_each(gc_of, &s) == 0);
	return s.gc[0];
}

static void
queue_rows_f(void *arg)
{
	bool pg = bothfix_backend() == BOTHFIX_POSTGRES;
	int64_t q, plain, held;

	(void)arg;
	q = queue_add("capped", 3, 10, 4);
	plain = queue_add("plain", 0, 0, 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(gc_stored(q) == 3);
	CO_EXPECT(gc_stored(plain) == 0);
	if (pg) {
		PERMITS_ARE(q, "1:0,2:0,3:0");
		PERMITS_ARE(plain, "");
		CO_EXPECT(
			peek("SELECT count(*) FROM queue_rate "
			     "WHERE qid = %lld AND per_sec = 10 AND burst = 4 "
			     "AND tokens = 4",
			     (long long)q) == 1);
		CO_EXPECT(peek("SELECT count(*) FROM queue_rate") == 1);
	}
	/* Lowered: free permits above the cap go; no rate, no bucket. */
	CO_EXPECT(queue_set(q, "capped", 1, 0, 0) == 0);
	CO_EXPECT(gc_stored(q) == 1);
	if (pg) {
		PERMITS_ARE(q, "1:0");
		CO_EXPECT(peek("SELECT count(*) FROM queue_rate") == 0);
	}
	/* Raised; a rate again, burst defaulting to the limit. */
	CO_EXPECT(queue_set(q, "capped", 2, 5, 0) == 0);
	CO_EXPECT(gc_stored(q) == 2);
	if (pg) {
		PERMITS_ARE(q, "1:0,2:0");
		CO_EXPECT(peek("SELECT count(*) FROM queue_rate WHERE qid = "
			       "%lld AND per_sec = 5 AND burst = 5 AND "
			       "tokens = 5",
			       (long long)q) == 1);
		/* A permit held above a lowered cap stays until its end. */
		held = job_add(q, JOBD_QUEUED, NULL);
		CO_EXPECT(peek("UPDATE queue_slots SET job_id = %lld WHERE "
			       "qid = %lld AND slot = 2 RETURNING slot",
			       (long long)held, (long long)q) == 2);
		CO_EXPECT(queue_set(q, "capped", 1, 5, 0) == 0);
		char want[64];
		snprintf(want, sizeof(want), "1:0,2:%lld", (long long)held);
		PERMITS_ARE(q, want);
		/* Deleted with the queue. */
		CO_EXPECT(store_queue_delete(q) == 0);
		CO_EXPECT(peek("SELECT count(*) FROM queue_slots") == 0);
	}
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_limits_queue_rows)
{
	RUN(queue_rows_f);
}
END_TEST

/* ---- permits ---- */

/* Deletes job id as a prune does. */
static int
job_delete(int64_t id)
{
	struct store_pg__args a = {0};

	store_pg__arg_int(&a, id);
	return store_pg__write("test delete", "DELETE FROM jobs WHERE id = $1",
			       &a, NULL);
}

static void
permits_f(void *arg)
{
	int64_t q = queue_add("capped", 2, 0, 0), a, b, c, d, x, w = 0;
	int code;
	char want[64];

	(void)arg;
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	/* Three ready jobs, two permits: two claims, then none. */
	a = claim(q, &code, NULL);
	b = claim(q, &code, NULL);
	CO_EXPECT(a > 0 && b > 0 && a != b);
	x = claim(q, &code, &w);
	CO_EXPECT(x == 0);
	CO_EXPECT(code == E_BUSY);
	CO_EXPECT(w == 0); /* when another end frees one: not known */
	CO_EXPECT(strstr(diag_msg(), "no global permit") != NULL);
	snprintf(want, sizeof(want), "1:%lld,2:%lld", (long long)a,
		 (long long)b);
	PERMITS_ARE(q, want);
	/* This node is written into its permits. */
	CO_EXPECT(store_node_id() > 0);
	CO_EXPECT(peek("SELECT count(*) FROM queue_slots WHERE node_id = "
		       "%lld",
		       (long long)store_node_id()) == 2);
	/* Still none after a commit; one once an attempt ends. */
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(claim(q, &code, NULL) == 0 && code == E_BUSY);
	CO_EXPECT(end(a) == 0);
	c = claim(q, &code, NULL);
	CO_EXPECT(c > 0);
	snprintf(want, sizeof(want), "1:%lld,2:%lld", (long long)c,
		 (long long)b);
	PERMITS_ARE(q, want);
	/* No ready job: not a limit. */
	CO_EXPECT(claim(q, &code, NULL) == 0 && code == E_NOTFOUND);

	/* The cap lowered to 1 under two running jobs: b's permit is above
	 * it.  An end of c frees permit 1, and still no claim while b runs
	 * above the cap; b's end deletes its permit, and the claim goes. */
	d = job_add(q, JOBD_QUEUED, NULL);
	CO_EXPECT(queue_set(q, "capped", 1, 0, 0) == 0);
	CO_EXPECT(end(c) == 0);
	CO_EXPECT(claim(q, &code, NULL) == 0 && code == E_BUSY);
	CO_EXPECT(end(b) == 0);
	PERMITS_ARE(q, "1:0");
	CO_EXPECT(claim(q, &code, NULL) == d);
	snprintf(want, sizeof(want), "1:%lld", (long long)d);
	PERMITS_ARE(q, want);
	/* Cancelled while it ran and pruned before its end: the end records
	 * nothing, and gives the permit back. */
	CO_EXPECT(store_job_set_state(d, JOBD_RUNNING, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 50) == 0);
	CO_EXPECT(job_delete(d) == 0);
	CO_EXPECT(end(d) == -1 && diag_code() == E_STATE);
	PERMITS_ARE(q, "1:0");
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_limits_permits)
{
	RUN(permits_f);
}
END_TEST

static void
recovered(int64_t id, int64_t qid, int from, int to, void *arg)
{
	(void)id;
	(void)qid;
	(void)from;
	(void)to;
	(*(int *)arg)++;
}

/* A restart's recovery frees the permits of the attempts it takes back,
 * and of those whose end was never recorded: one cancelled while it ran,
 * one cancelled and pruned since. */
static void
recover_f(void *arg)
{
	int64_t q = queue_add("capped", 3, 0, 0), a, b, c;
	int code, n = 0;

	(void)arg;
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	a = claim(q, &code, NULL);
	b = claim(q, &code, NULL);
	c = claim(q, &code, NULL);
	CO_EXPECT(a > 0 && b > 0 && c > 0);
	CO_EXPECT(store_job_set_state(b, JOBD_RUNNING, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 50) == 0);
	CO_EXPECT(store_job_set_state(c, JOBD_RUNNING, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 50) == 0);
	CO_EXPECT(job_delete(c) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(peek("SELECT count(*) FROM queue_slots WHERE job_id IS NOT "
		       "NULL") == 3);
	/* The restart: the node registers again, its epoch raised. */
	CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) == 0);
	CO_EXPECT(store_job_recover(T0 + 200, 3, recovered, &n) == 0);
	CO_EXPECT(n == 1);
	PERMITS_ARE(q, "1:0,2:0,3:0");
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_limits_recover_frees_permits)
{
	RUN(recover_f);
}
END_TEST

/* Another node's permits count: one it holds (committed) leaves one for
 * this node; one it is taking (locked in its open transaction) is passed
 * over at once, not waited for, and is there again once it gives up. */
static void
other_node_f(void *arg)
{
	int64_t q = queue_add("capped", 2, 0, 0), a, b;
	int code;
	char sql[256];
	PGconn *c;

	(void)arg;
	a = job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	CO_EXPECT(store_sync() == 0);
	c = other_open();
	snprintf(sql, sizeof(sql),
		 "UPDATE queue_slots SET job_id = 999, node_id = 7 WHERE "
		 "qid = %lld AND slot = 1",
		 (long long)q);
	other(c, sql);
	b = claim(q, &code, NULL);
	CO_EXPECT(b == a);
	CO_EXPECT(claim(q, &code, NULL) == 0 && code == E_BUSY);
	CO_EXPECT(end(b) == 0);
	CO_EXPECT(store_sync() == 0);
	/* The free permit, locked by the other node's claim. */
	other(c, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "SELECT slot FROM queue_slots WHERE qid = %lld AND slot = 2 "
		 "FOR UPDATE",
		 (long long)q);
	CO_EXPECT(other(c, sql) == 2);
	CO_EXPECT(claim(q, &code, NULL) == 0 && code == E_BUSY);
	CO_EXPECT(store_sync() == 0);
	other(c, "ROLLBACK");
	CO_EXPECT(claim(q, &code, NULL) > 0);
	CO_EXPECT(store_sync() == 0);
	/* Its permit freed on its side: this node takes it. */
	snprintf(sql, sizeof(sql),
		 "UPDATE queue_slots SET job_id = NULL, node_id = NULL WHERE "
		 "qid = %lld AND slot = 1",
		 (long long)q);
	other(c, sql);
	CO_EXPECT(claim(q, &code, NULL) > 0);
	CO_EXPECT(store_sync() == 0);
	PQfinish(c);
}

START_TEST(store_both_limits_permit_of_another_node)
{
	RUN(other_node_f);
}
END_TEST

/* ---- the cluster's bucket ---- */

#define RATE 20.0
#define BURST 2.0
#define WINDOW 0.6 /* s of claims */

static void
rate_f(void *arg)
{
	int64_t q = queue_add("rated", 0, RATE, BURST), w = 0;
	double t[64];
	int n = 0, code, refused = 0;
	char sql[256];
	PGconn *c;

	(void)arg;
	for (int i = 0; i < 40; i++)
		job_add(q, JOBD_QUEUED, NULL);
	CO_EXPECT(store_sync() == 0);
	/* Another node took the token of a bucket that refills one a
	 * minute: this one gets none, and learns when one is back, as the
	 * database clock refills it. */
	struct queue_conf qc;
	int64_t slow = 0;
	queue_conf_init(&qc, "slow");
	qc.rate_limit = 1;
	qc.rate_period = 60;
	CO_EXPECT(store_queue_insert(&qc, false, &slow) == 0);
	job_add(slow, JOBD_QUEUED, NULL);
	CO_EXPECT(store_sync() == 0);
	c = other_open();
	snprintf(sql, sizeof(sql),
		 "UPDATE queue_rate SET tokens = 0, tokens_at = "
		 "clock_timestamp() WHERE qid = %lld",
		 (long long)slow);
	other(c, sql);
	CO_EXPECT(claim(slow, &code, &w) == 0 && code == E_BUSY);
	CO_EXPECT(strstr(diag_msg(), "no rate token") != NULL);
	CO_EXPECT(w > 50000 && w <= 60000);
	/* Its bucket held by the other node's transaction: passed over at
	 * once, not waited for, and no time said. */
	CO_EXPECT(store_sync() == 0);
	other(c, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "SELECT qid FROM queue_rate WHERE qid = %lld FOR UPDATE",
		 (long long)slow);
	CO_EXPECT(other(c, sql) == slow);
	CO_EXPECT(claim(slow, &code, &w) == 0 && code == E_BUSY);
	CO_EXPECT(w == 0);
	CO_EXPECT(store_sync() == 0);
	other(c, "ROLLBACK");
	/* This one's bucket took its burst at the start: its first claims
	 * pass at once. */
	/* Claims as fast as told for WINDOW s: within BURST + RATE * t,
	 * t between grants by the database clock (the bucket's tokens_at
	 * after each). */
	double t0 = loopfix_mono();
	while (loopfix_mono() - t0 < WINDOW && n < 40) {
		if (claim(q, &code, &w) > 0) {
			CO_EXPECT(store_sync() == 0);
			t[n++] = (double)peek("SELECT (extract(epoch FROM "
					      "tokens_at) * 1e6)::int8 FROM "
					      "queue_rate WHERE qid = %lld",
					      (long long)q) /
				 1e6;
			continue;
		}
		CO_EXPECT(code == E_BUSY);
		CO_EXPECT(w >= 1 && w <= 1000 / RATE + 1);
		refused++;
		await_sleep((double)w / 1000.0);
	}
	for (int i = 0; i < n; i++)
		for (int k = i; k < n; k++)
			CO_EXPECT(k - i + 1 <=
				  BURST + RATE * (t[k] - t[i]) + 1e-3);
	/* Not starved either: the refill is used. */
	CO_EXPECT(n >= (int)(RATE * WINDOW / 2));
	CO_EXPECT(refused > 0);
	PQfinish(c);
}

START_TEST(store_both_limits_rate_shared)
{
	RUN(rate_f);
}
END_TEST

/* ---- capacity ---- */

static void
pending_f(void *arg)
{
	bool pg = bothfix_backend() == BOTHFIX_POSTGRES;
	int64_t q = queue_add("capped", 0, 0, 0), n = -1;
	int code;
	char sql[256];
	PGconn *c;
	struct ender e = {0};
	struct coro *co;

	(void)arg;
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_QUEUED, NULL);
	job_add(q, JOBD_SCHEDULED, NULL);
	job_add(q, JOBD_WAITING, NULL);
	job_add(q, JOBD_SUCCEEDED, NULL);
	CO_EXPECT(claim(q, &code, NULL) > 0);
	CO_EXPECT(store_queue_pending(q, &n) == 0);
	CO_EXPECT(n == 3);
	CO_EXPECT(store_queue_pending(q + 100, &n) == 0 && n == 0);
	CO_EXPECT(store_sync() == 0);
	if (!pg)
		return;
	/* Another node's jobs count (its own rows of queue_counts). */
	c = other_open();
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state) VALUES (%lld, 1000, now(), 0, 1, 2)",
		 (long long)q);
	other(c, sql);
	CO_EXPECT(store_queue_pending(q, &n) == 0 && n == 4);
	CO_EXPECT(store_sync() == 0);
	/* Another node's submit holds the queue: the count waits for its
	 * commit and sees its job. */
	other(c, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM queues WHERE id = %lld FOR NO KEY UPDATE",
		 (long long)q);
	CO_EXPECT(other(c, sql) == q);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state) VALUES (%lld, 1000, now(), 0, 1, 2)",
		 (long long)q);
	other(c, sql);
	e.c = c;
	e.then = "COMMIT";
	co = coro_spawn("ender", ender_f, &e);
	CO_EXPECT(store_queue_pending(q, &n) == 0);
	CO_EXPECT(e.done);
	CO_EXPECT(n == 5);
	coro_join(co);
	CO_EXPECT(store_sync() == 0);
	/* This node holds it now, and keeps it while it holds the group
	 * transaction: the other node's check waits for the commit
	 * (lock_timeout makes its wait fail). */
	other(c, "SET lock_timeout = '100ms'");
	CO_EXPECT(store_hold() == 0);
	CO_EXPECT(store_queue_pending(q, &n) == 0);
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM queues WHERE id = %lld FOR NO KEY UPDATE",
		 (long long)q);
	PGresult *r = PQexec(c, sql);
	CO_EXPECT(PQresultStatus(r) == PGRES_FATAL_ERROR);
	PQclear(r);
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other(c, sql) == q);
	PQfinish(c);
}

START_TEST(store_both_limits_pending_across_nodes)
{
	RUN(pending_f);
}
END_TEST

/* ---- unique keys ---- */

static void
unique_f(void *arg)
{
	int64_t q = queue_add("u", 0, 0, 0), theirs, id = 0, mine;
	char sql[256];
	PGconn *c;
	struct ender e = {0};
	struct coro *co;

	(void)arg;
	CO_EXPECT(store_sync() == 0);
	c = other_open();
	/* Committed before this node's insert. */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state, unique_key) VALUES (%lld, 1000, now(), 0, 1, 2, 'k') "
		 "RETURNING id",
		 (long long)q);
	theirs = other(c, sql);
	CO_EXPECT(theirs > 0);
	CO_EXPECT(job_add(q, JOBD_QUEUED, "k") == 0);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(store_job_find_unique("k", 1000, &id) == 0 && id == theirs);
	/* Committed while this node's insert waits for it. */
	other(c, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state, unique_key) VALUES (%lld, 1000, now(), 0, 1, 2, 'w') "
		 "RETURNING id",
		 (long long)q);
	theirs = other(c, sql);
	e.c = c;
	e.then = "COMMIT";
	co = coro_spawn("ender", ender_f, &e);
	CO_EXPECT(job_add(q, JOBD_QUEUED, "w") == 0);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(e.done);
	coro_join(co);
	CO_EXPECT(store_job_find_unique("w", 1000, &id) == 0 && id == theirs);
	/* Rolled back while it waits: the key is this node's. */
	other(c, "BEGIN");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state, unique_key) VALUES (%lld, 1000, now(), 0, 1, 2, 'r')",
		 (long long)q);
	other(c, sql);
	e = (struct ender){.c = c, .then = "ROLLBACK"};
	co = coro_spawn("ender", ender_f, &e);
	mine = job_add(q, JOBD_QUEUED, "r");
	CO_EXPECT(mine > 0);
	coro_join(co);
	/* Nothing of the group transaction was lost. */
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_job_find_unique("r", 1000, &id) == 0 && id == mine);
	PQfinish(c);
}

START_TEST(store_both_limits_unique_key_of_another_node)
{
	RUN(unique_f);
}
END_TEST

/* ---- through submit ---- */

/* Submits n jobs {"shell":"true","queue":queue[,"unique_key":key]}, all
 * or nothing, as a client's request; ids and dups into out (n at most 4).
 * 0 or -1 with diag.  Yields. */
static int
submit_n(const char *queue, const char *key, size_t n,
	 struct submit_result *out)
{
	struct jobspec sp[4];
	int rc = -1;

	memset(sp, 0, sizeof(sp));
	if (n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *o =
			json_pack("{s:s,s:s}", "shell", "true", "queue", queue);

		if (key != NULL)
			json_object_set_new(o, "unique_key", json_string(key));
		jobspec_init(&sp[i]);
		CO_EXPECT(jobspec_parse(o, &sp[i]) == 0);
		json_decref(o);
	}
	rc = submit_jobs(sp, n, 1000, "jobs", out, true);
	for (size_t i = 0; i < n; i++)
		jobspec_destroy(&sp[i]);
	if (rc == 0)
		CO_EXPECT(store_sync() == 0);
	return rc;
}

/* The engine's submit over the shared store: a capped queue counts the
 * pending jobs another node put in (this node's memory knows none of
 * them), a batch that does not fit is refused whole; a unique key another
 * node's submit takes while this one's insert waits answers the
 * duplicate, its id that job's. */
static void
submit_f(void *arg)
{
	struct config conf;
	struct queue_conf qc;
	struct submit_result out[4];
	struct ender e = {0};
	struct coro *co;
	char sql[256];
	int64_t theirs;
	PGconn *c;
	struct queue *q;

	(void)arg;
	events_init();
	config_init(&conf);
	CO_EXPECT(queue_init(&conf) == 0);
	queue_conf_init(&qc, "capped");
	qc.capacity = 3;
	q = queue_create(&qc, true);
	CO_EXPECT(q != NULL);
	CO_EXPECT(store_sync() == 0);
	c = other_open();
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state) VALUES (%lld, 1000, now(), 0, 1, 2), "
		 "(%lld, 1000, now(), 0, 1, 1)",
		 (long long)q->id, (long long)q->id);
	other(c, sql);
	CO_EXPECT(queue_pending(q) == 0);
	CO_EXPECT(submit_n("capped", NULL, 2, out) == -1);
	CO_EXPECT(diag_code() == E_FULL);
	CO_EXPECT(submit_n("capped", NULL, 1, out) == 0);
	CO_EXPECT(submit_n("capped", NULL, 1, out) == -1);
	CO_EXPECT(diag_code() == E_FULL);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE qid = %lld",
		       (long long)q->id) == 3);

	/* The key taken by another node between this submit's look and its
	 * insert. */
	other(c, "BEGIN");
	theirs = other(c, "INSERT INTO jobs (qid, uid, run_at, priority, "
			  "max_attempts, state, unique_key) VALUES (1, 1000, "
			  "now(), 0, 1, 2, 'once') RETURNING id");
	e.c = c;
	e.then = "COMMIT";
	co = coro_spawn("ender", ender_f, &e);
	memset(out, 0, sizeof(out));
	CO_EXPECT(submit_n("default", "once", 1, out) == 0);
	CO_EXPECT(e.done);
	CO_EXPECT(out[0].duplicate);
	CO_EXPECT(out[0].id == theirs);
	coro_join(co);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE unique_key = 'once'") ==
		  1);
	PQfinish(c);
	queue_shutdown();
	events_shutdown();
	config_destroy(&conf);
}

START_TEST(store_both_limits_submit_across_nodes)
{
	RUN(submit_f);
}
END_TEST

Suite *
store_both_limits_suite(void)
{
	Suite *s = suite_create("store_both_limits");
	TCase *tc = tcase_create("limits");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_add_loop_test(tc, store_both_limits_queue_rows, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_pending_across_nodes, 0,
			    BOTHFIX_COUNT);
	/* What only a database shared by nodes keeps (store.h,
	 * store_limits_shared). */
	tcase_add_loop_test(tc, store_both_limits_permits, BOTHFIX_POSTGRES,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_recover_frees_permits,
			    BOTHFIX_POSTGRES, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_permit_of_another_node,
			    BOTHFIX_POSTGRES, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_rate_shared, BOTHFIX_POSTGRES,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_unique_key_of_another_node,
			    BOTHFIX_POSTGRES, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_limits_submit_across_nodes,
			    BOTHFIX_POSTGRES, BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
