/*
 * The store's job rows on both backends (bothfix.h): each scenario runs
 * on SQLite, the reference, and on PostgreSQL, and must see the same.
 * Insert (the spec, an environment stored once per distinct body, the
 * deps rows), unique keys (per uid, live jobs only; a clash refused
 * without losing the group transaction), the brief view, dependencies
 * counted, the highest id, claim order and what a claim gives the
 * attempt, pid, the end of an attempt, state changes and retries with
 * their conditions, and coroutines whose statements interleave.
 */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bothfix.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "loopfix.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"

Suite *store_both_job_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* ---- helpers, inside a scenario ---- */

/* The first column of the first row of lite on SQLite, pg on PostgreSQL,
 * as an integer; -1 when there is none, it is NULL, or the read failed.
 * peek() is the same with one text for both, made by printf. */
static int64_t
peek_both(const char *lite, const char *pg)
{
	int64_t v = -1;

	if (bothfix_backend() == BOTHFIX_SQLITE) {
		sqlite3_stmt *s;

		if (sqlite3_prepare_v2(store__sqlite(), lite, -1, &s, NULL) !=
		    SQLITE_OK)
			return -1;
		if (sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_type(s, 0) != SQLITE_NULL)
			v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	} else {
		PGresult *r;

		if (store_pg__read("peek", pg, NULL, &r) != 0)
			return -1;
		if (PQntuples(r) > 0 && !store_pg__null(r, 0, 0))
			v = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	return v;
}

static int64_t peek(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t
peek(const char *fmt, ...)
{
	char sql[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return peek_both(sql, sql);
}

/* A time column of job id in ms, or -1 when NULL. */
static int64_t
peek_time(const char *col, int64_t id)
{
	char lite[256], pg[256];

	snprintf(lite, sizeof(lite), "SELECT %s FROM jobs WHERE id = %lld", col,
		 (long long)id);
	snprintf(pg, sizeof(pg),
		 "SELECT (extract(epoch FROM %s) * 1000)::int8 FROM jobs "
		 "WHERE id = %lld",
		 col, (long long)id);
	return peek_both(lite, pg);
}

/* What a test job differs in; zero fields take the defaults. */
struct jo {
	int64_t qid; /* 0: 1 */
	int state;   /* JOBD_WAITING is 0: the default */
	int priority;
	int64_t run_at; /* 0: T0 */
	const char *key;
	const int64_t *deps;
	size_t ndeps;
	int deps_left;
	json_t *env; /* borrowed */
	uid_t uid;   /* 0: 1000 */
};

/* store_job_insert of o: 0 or -1, *id set. */
static int
try_add(const struct jo *o, int64_t *id)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	int rc;

	jobspec_init(&sp);
	sp.argv = json_pack("[ss]", "true", "x");
	sp.priority = o->priority;
	if (o->key != NULL)
		sp.unique_key = strdup(o->key);
	if (o->env != NULL)
		sp.env = json_incref(o->env);
	if (o->ndeps > 0) {
		sp.depends_on = calloc(o->ndeps, sizeof(*sp.depends_on));
		memcpy(sp.depends_on, o->deps,
		       o->ndeps * sizeof(*sp.depends_on));
		sp.ndeps = o->ndeps;
	}
	j.spec = &sp;
	j.qid = o->qid ? o->qid : 1;
	j.state = o->state;
	j.created_at = T0;
	j.run_at = o->run_at ? o->run_at : T0;
	j.uid = o->uid ? o->uid : 1000;
	j.timeout = 10;
	j.kill_grace = 1;
	j.max_attempts = 3;
	j.backoff = (struct backoff){1, 2, 30, 0};
	j.deps_left = o->deps_left;
	rc = store_job_insert(&j, id);
	jobspec_destroy(&sp);
	return rc;
}

/* The id of a new job of o; 0 (an expectation failed) when the insert
 * failed. */
static int64_t
add(const struct jo *o)
{
	int64_t id = 0;

	CO_EXPECT(try_add(o, &id) == 0);
	CO_EXPECT(id > 0);
	return id;
}
#define ADD(...) add(&(struct jo){__VA_ARGS__})

/* Runs fn on backend _i; returns from the test when skipped. */
#define RUN(fn)                                             \
	do {                                                \
		if (!bothfix_run(__func__, _i, (fn), NULL)) \
			return;                             \
	} while (0)

/* ---- insert, brief, highest id ---- */

static void
insert_brief_f(void *arg)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	struct store_job_brief b;
	int64_t id = 0, id2;

	(void)arg;
	CO_EXPECT(store_job_max_id() == 0);
	jobspec_init(&sp);
	sp.argv = json_pack("[sss]", "sh", "-c", "exit 0");
	sp.name = strdup("build");
	sp.priority = 7;
	j.spec = &sp;
	j.qid = 5;
	j.state = JOBD_SCHEDULED;
	j.reason = JOBD_REASON_NONE;
	j.created_at = T0;
	j.run_at = T0 + 1234; /* to the millisecond */
	j.uid = 4000000000u;  /* above 2^31 - 1 */
	j.timeout = 30;
	j.kill_grace = 2.5;
	j.max_attempts = 4;
	j.backoff = (struct backoff){2, 3, 60, 0};
	CO_EXPECT(store_job_insert(&j, &id) == 0);
	jobspec_destroy(&sp);
	CO_EXPECT(id > 0);
	CO_EXPECT(store_job_brief(id, &b) == 0);
	CO_EXPECT(b.id == id);
	CO_EXPECT(b.qid == 5);
	CO_EXPECT(b.state == JOBD_SCHEDULED);
	CO_EXPECT(b.reason == JOBD_REASON_NONE);
	CO_EXPECT(b.uid == 4000000000u);
	CO_EXPECT(b.attempt == 0);
	CO_EXPECT(b.max_attempts == 4);
	CO_EXPECT(b.run_at == T0 + 1234);
	CO_EXPECT(!b.output_truncated);
	/* A live job has no end time; one inserted terminal (a dependency
	 * failed before it) ends as it is made. */
	CO_EXPECT(peek_time("finished_at", id) == -1);
	id2 = ADD(.state = JOBD_CANCELLED);
	CO_EXPECT(peek_time("finished_at", id2) == T0);
	CO_EXPECT(id2 > id);
	CO_EXPECT(store_job_max_id() == id2);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_job_brief(id2, &b) == 0 && b.state == JOBD_CANCELLED);
	CO_EXPECT(store_job_brief(id2 + 1, &b) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
}

START_TEST(store_both_job_insert_then_brief)
{
	RUN(insert_brief_f);
}
END_TEST

/* ---- environments ---- */

static void
env_dedupe_f(void *arg)
{
	json_t *e1 = json_pack("{ss,ss}", "A", "1", "PATH", "/bin");
	/* The same body, its keys made in the other order. */
	json_t *e2 = json_pack("{ss,ss}", "PATH", "/bin", "A", "1");
	json_t *e3 = json_pack("{ss}", "A", "2");

	(void)arg;
	ADD(.env = e1);
	ADD(.env = e2);
	ADD();
	CO_EXPECT(peek("SELECT count(*) FROM envs") == 1);
	ADD(.env = e3);
	ADD(.env = e1);
	CO_EXPECT(peek("SELECT count(*) FROM envs") == 2);
	CO_EXPECT(peek("SELECT count(*) FROM jobs") == 5);
	/* Committed and looked up again in a later transaction. */
	CO_EXPECT(store_sync() == 0);
	ADD(.env = e2);
	CO_EXPECT(peek("SELECT count(*) FROM envs") == 2);
	json_decref(e1);
	json_decref(e2);
	json_decref(e3);
}

START_TEST(store_both_job_env_stored_once)
{
	RUN(env_dedupe_f);
}
END_TEST

/* ---- unique keys ---- */

static void
unique_f(void *arg)
{
	int64_t id, a, b, c, other, done;

	(void)arg;
	a = ADD(.key = "k", .uid = 1000);
	CO_EXPECT(store_job_find_unique("k", 1000, &id) == 0 && id == a);
	/* Keys are each user's own. */
	CO_EXPECT(store_job_find_unique("k", 1001, &id) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	other = ADD(.key = "k", .uid = 1001);
	CO_EXPECT(store_job_find_unique("k", 1001, &id) == 0 && id == other);
	CO_EXPECT(store_job_find_unique("nokey", 1000, &id) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	/* A clash is refused, and the group transaction goes on. */
	b = 0;
	CO_EXPECT(try_add(&(struct jo){.key = "k", .uid = 1000}, &b) == -1);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(strstr(diag_msg(), "unique_key k is in use") != NULL);
	CO_EXPECT(peek("SELECT count(*) FROM jobs") == 2);
	CO_EXPECT(peek("SELECT count(*) FROM deps") == 0);
	c = ADD(.key = "k2", .uid = 1000);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_job_max_id() == c);
	CO_EXPECT(store_job_find_unique("k2", 1000, &id) == 0 && id == c);
	/* A finished job holds its key no more. */
	done = ADD(.key = "old", .state = JOBD_CANCELLED);
	CO_EXPECT(store_job_find_unique("old", 1000, &id) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	id = ADD(.key = "old");
	CO_EXPECT(id > done);
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_job_unique_key_per_uid)
{
	RUN(unique_f);
}
END_TEST

/* ---- dependencies ---- */

static void
deps_f(void *arg)
{
	int64_t ok, bad, q, w, other, id, missing;
	bool failed;
	int left;

	(void)arg;
	ok = ADD(.state = JOBD_SUCCEEDED);
	bad = ADD(.state = JOBD_CANCELLED);
	q = ADD(.state = JOBD_QUEUED);
	w = ADD(.state = JOBD_WAITING);
	other = ADD(.state = JOBD_QUEUED, .uid = 1001);

	/* The deps rows of a new job, one per id. */
	id = ADD(.deps = (int64_t[]){q, w, ok}, .ndeps = 3, .deps_left = 2);
	CO_EXPECT(peek("SELECT count(*) FROM deps WHERE job_id = %lld",
		       (long long)id) == 3);
	CO_EXPECT(peek("SELECT count(*) FROM deps WHERE dep_id = %lld",
		       (long long)q) == 1);
	CO_EXPECT(peek("SELECT deps_left FROM jobs WHERE id = %lld",
		       (long long)id) == 2);

	CO_EXPECT(store_job_check_deps((int64_t[]){ok, q, w}, 3, -1, &missing,
				       &failed, &left) == 0);
	CO_EXPECT(missing == 0 && !failed && left == 2);
	CO_EXPECT(store_job_check_deps((int64_t[]){ok, bad}, 2, -1, &missing,
				       &failed, &left) == 0);
	CO_EXPECT(missing == 0 && failed && left == 0);
	/* The first missing id, counting stops there. */
	CO_EXPECT(store_job_check_deps((int64_t[]){q, 999999, bad, 888888}, 4,
				       -1, &missing, &failed, &left) == 0);
	CO_EXPECT(missing == 999999 && !failed && left == 1);
	/* Another user's job is missing to a filter of uid. */
	CO_EXPECT(store_job_check_deps((int64_t[]){q, other}, 2, 1000, &missing,
				       &failed, &left) == 0);
	CO_EXPECT(missing == other && left == 1);
	CO_EXPECT(store_job_check_deps((int64_t[]){q, other}, 2, -1, &missing,
				       &failed, &left) == 0);
	CO_EXPECT(missing == 0 && left == 2);
	/* A repeated id counts each time, as given. */
	CO_EXPECT(store_job_check_deps((int64_t[]){w, w}, 2, -1, &missing,
				       &failed, &left) == 0);
	CO_EXPECT(missing == 0 && left == 2);
	missing = 5;
	left = 5;
	CO_EXPECT(store_job_check_deps(NULL, 0, -1, &missing, &failed, &left) ==
		  0);
	CO_EXPECT(missing == 0 && !failed && left == 0);
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_job_deps_counted)
{
	RUN(deps_f);
}
END_TEST

/* ---- claim ---- */

/* Claims the next job of qid at now; its id, or 0 when none (r
 * released). */
static int64_t
claim(int64_t qid, int64_t now)
{
	struct store_job_run r;
	int64_t id;

	if (store_job_claim(qid, now, &r) != 0)
		return 0;
	id = r.id;
	store_job_run_destroy(&r);
	return id;
}

static void
claim_order_f(void *arg)
{
	struct store_job_brief b;
	int64_t a, bb, c, d, e, f, id;

	(void)arg;
	a = ADD(.state = JOBD_QUEUED, .run_at = T0 + 2);
	bb = ADD(.state = JOBD_QUEUED, .priority = 5, .run_at = T0 + 3);
	c = ADD(.state = JOBD_QUEUED, .priority = 5, .run_at = T0 + 1);
	d = ADD(.state = JOBD_QUEUED, .run_at = T0 + 1);
	e = ADD(.state = JOBD_QUEUED, .run_at = T0 + 1);
	f = ADD(.state = JOBD_QUEUED, .qid = 2, .priority = 9);
	ADD(.state = JOBD_WAITING, .priority = 9);
	ADD(.state = JOBD_SCHEDULED, .priority = 9);
	ADD(.state = JOBD_CANCELLED, .priority = 9);
	/* Priority first, then run_at, then id. */
	CO_EXPECT(claim(1, T0 + 100) == c);
	CO_EXPECT(claim(1, T0 + 100) == bb);
	CO_EXPECT(claim(1, T0 + 100) == d);
	CO_EXPECT(claim(1, T0 + 100) == e);
	CO_EXPECT(claim(1, T0 + 200) == a);
	CO_EXPECT(store_job_claim(1, T0 + 300, &(struct store_job_run){0}) ==
		  -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(store_job_brief(c, &b) == 0);
	CO_EXPECT(b.state == JOBD_RUNNING && b.attempt == 1);
	CO_EXPECT(peek_time("started_at", a) == T0 + 200);
	CO_EXPECT(peek_time("started_at", c) == T0 + 100);
	/* The other queue's job is its own. */
	CO_EXPECT(store_job_brief(f, &b) == 0 && b.state == JOBD_QUEUED);
	CO_EXPECT(claim(2, T0 + 300) == f);
	CO_EXPECT(claim(2, T0 + 300) == 0);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE state = %d",
		       JOBD_RUNNING) == 6);
	CO_EXPECT(store_sync() == 0);
	id = ADD(.state = JOBD_QUEUED);
	CO_EXPECT(claim(1, T0 + 400) == id);
}

START_TEST(store_both_job_claim_order)
{
	RUN(claim_order_f);
}
END_TEST

/* A job with every field an attempt needs set. */
static int64_t
full_job(void)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[sss]", "sh", "-c", "exit 0");
	sp.name = strdup("build");
	free(sp.cwd);
	sp.cwd = strdup("/tmp");
	sp.env = json_pack("{ss,ss}", "A", "1", "PATH", "/bin");
	sp.output = JOBSPEC_OUTPUT_DISCARD;
	sp.linger = true;
	j.spec = &sp;
	j.qid = 3;
	j.state = JOBD_QUEUED;
	j.created_at = T0;
	j.run_at = T0;
	j.uid = 4000000000u;
	j.timeout = 30;
	j.kill_grace = 2.5;
	j.max_attempts = 4;
	j.backoff = (struct backoff){2, 3, 60, 0.25};
	j.limits = (struct joblimits){.memory = 1 << 20,
				      .cpu = 0.5,
				      .tasks = 10,
				      .nofile = 64,
				      .cpu_time = 2.5};
	CO_EXPECT(store_job_insert(&j, &id) == 0);
	jobspec_destroy(&sp);
	return id;
}

static void
claim_gives_f(void *arg)
{
	struct store_job_run r;
	struct jobspec sp;
	struct store_job_new j = {0};
	json_t *argv = json_pack("[sss]", "sh", "-c", "exit 0");
	json_t *env = json_pack("{ss,ss}", "PATH", "/bin", "A", "1");
	int64_t id = full_job(), id2 = 0;

	(void)arg;
	CO_EXPECT(store_job_claim(3, T0 + 5000, &r) == 0);
	CO_EXPECT(r.id == id && r.qid == 3);
	CO_EXPECT(r.attempt == 1 && r.max_attempts == 4 && r.recoveries == 0);
	CO_EXPECT(r.uid == 4000000000u);
	CO_EXPECT(r.argv != NULL && json_equal(r.argv, argv));
	CO_EXPECT(r.shell == NULL);
	CO_EXPECT(r.cwd != NULL && strcmp(r.cwd, "/tmp") == 0);
	CO_EXPECT(r.env != NULL && json_equal(r.env, env));
	CO_EXPECT(r.timeout == 30 && r.kill_grace == 2.5);
	CO_EXPECT(r.backoff.base == 2 && r.backoff.factor == 3);
	CO_EXPECT(r.backoff.max == 60 && r.backoff.jitter == 0.25);
	CO_EXPECT(r.output == JOBSPEC_OUTPUT_DISCARD);
	CO_EXPECT(r.started_at == T0 + 5000);
	CO_EXPECT(r.limits.memory == 1 << 20 && r.limits.cpu == 0.5);
	CO_EXPECT(r.limits.tasks == 10 && r.limits.nofile == 64);
	CO_EXPECT(r.limits.cpu_time == 2.5);
	CO_EXPECT(r.linger);
	store_job_run_destroy(&r);

	/* A shell command, no environment, the defaults. */
	jobspec_init(&sp);
	sp.shell = strdup("echo hi");
	j.spec = &sp;
	j.qid = 3;
	j.state = JOBD_QUEUED;
	j.created_at = T0;
	j.run_at = T0;
	j.uid = 1000;
	j.max_attempts = 1;
	CO_EXPECT(store_job_insert(&j, &id2) == 0);
	jobspec_destroy(&sp);
	CO_EXPECT(store_job_claim(3, T0 + 6000, &r) == 0);
	CO_EXPECT(r.id == id2);
	CO_EXPECT(r.argv == NULL && r.env == NULL);
	CO_EXPECT(r.shell != NULL && strcmp(r.shell, "echo hi") == 0);
	CO_EXPECT(r.cwd != NULL && strcmp(r.cwd, "/") == 0);
	CO_EXPECT(r.timeout == 0 && r.output == JOBSPEC_OUTPUT_CAPTURE);
	CO_EXPECT(joblimits_is_empty(&r.limits) && !r.linger);
	store_job_run_destroy(&r);

	/* The pid of the running attempt. */
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE pid IS NULL") == 2);
	CO_EXPECT(store_job_set_pid(id, 4242) == 0);
	CO_EXPECT(peek("SELECT pid FROM jobs WHERE id = %lld", (long long)id) ==
		  4242);
	CO_EXPECT(store_sync() == 0);
	json_decref(argv);
	json_decref(env);
}

START_TEST(store_both_job_claim_gives_the_attempt)
{
	RUN(claim_gives_f);
}
END_TEST

/* ---- end of an attempt, state changes ---- */

/* An end that changes nothing but the state and when. */
static struct store_job_end
end_of(int state, int reason)
{
	return (struct store_job_end){.state = state,
				      .reason = reason,
				      .exit_code = -1,
				      .duration = -1,
				      .memory_peak = -1};
}

/* Ends job id's attempt as e says, by the attempt the store has (the
 * claim's: under PostgreSQL, only the claiming attempt may end it). */
static int
end_attempt(int64_t id, struct store_job_end e, int *was)
{
	struct store_job_brief b;

	if (store_job_brief(id, &b) == 0)
		e.attempt = b.attempt;
	return store_job_end_attempt(id, &e, was);
}

static void
end_f(void *arg)
{
	struct store_job_brief b;
	struct store_job_end e;
	int64_t a, q, id;
	int was = -1;

	(void)arg;
	a = ADD(.state = JOBD_QUEUED);
	q = ADD(.state = JOBD_QUEUED, .qid = 2);
	CO_EXPECT(claim(1, T0 + 10) == a);
	CO_EXPECT(store_job_set_pid(a, 77) == 0);
	e = (struct store_job_end){.state = JOBD_FAILED,
				   .reason = JOBD_REASON_EXIT,
				   .exit_code = 3,
				   .error = "boom",
				   .duration = 1.5,
				   .output_truncated = true,
				   .ru_user = 0.25,
				   .ru_sys = 0.5,
				   .max_rss_kb = 1000,
				   .memory_peak = 2048,
				   .finished_at = T0 + 9000};
	CO_EXPECT(end_attempt(a, e, &was) == 0);
	CO_EXPECT(was == JOBD_RUNNING);
	CO_EXPECT(store_job_brief(a, &b) == 0);
	CO_EXPECT(b.state == JOBD_FAILED && b.reason == JOBD_REASON_EXIT);
	CO_EXPECT(b.attempt == 1 && b.output_truncated);
	CO_EXPECT(peek("SELECT exit_code FROM jobs WHERE id = %lld",
		       (long long)a) == 3);
	CO_EXPECT(peek("SELECT signal FROM jobs WHERE id = %lld",
		       (long long)a) == -1);
	CO_EXPECT(peek("SELECT pid FROM jobs WHERE id = %lld", (long long)a) ==
		  -1);
	CO_EXPECT(peek("SELECT ru_maxrss FROM jobs WHERE id = %lld",
		       (long long)a) == 1000);
	CO_EXPECT(peek("SELECT ru_mempeak FROM jobs WHERE id = %lld",
		       (long long)a) == 2048);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE id = %lld AND "
		       "error = 'boom' AND duration = 1.5 AND ru_user = 0.25 "
		       "AND ru_sys = 0.5",
		       (long long)a) == 1);
	CO_EXPECT(peek_time("finished_at", a) == T0 + 9000);
	/* It ended: not again, and not one that does not run. */
	CO_EXPECT(end_attempt(a, e, &was) == -1);
	CO_EXPECT(diag_code() == E_STATE);
	CO_EXPECT(end_attempt(q, e, &was) == -1);
	CO_EXPECT(diag_code() == E_STATE);
	CO_EXPECT(store_job_brief(q, &b) == 0 && b.state == JOBD_QUEUED);
	CO_EXPECT(end_attempt(999999, e, &was) == -1);
	CO_EXPECT(diag_code() == E_STATE);

	/* Back to queued for a later run, the attempt given back; a
	 * duration not given stays as it was. */
	id = ADD(.state = JOBD_QUEUED, .qid = 3);
	CO_EXPECT(claim(3, T0 + 10) == id);
	e = end_of(JOBD_QUEUED, JOBD_REASON_NONE);
	e.duration = 2;
	e.run_at = T0 + 60000;
	CO_EXPECT(end_attempt(id, e, &was) == 0);
	CO_EXPECT(store_job_brief(id, &b) == 0);
	CO_EXPECT(b.state == JOBD_QUEUED && b.attempt == 1);
	CO_EXPECT(b.run_at == T0 + 60000);
	CO_EXPECT(claim(3, T0 + 70000) == id);
	e = end_of(JOBD_SCHEDULED, JOBD_REASON_INTERRUPTED);
	e.attempt_delta = -1;
	CO_EXPECT(end_attempt(id, e, &was) == 0);
	CO_EXPECT(store_job_brief(id, &b) == 0);
	CO_EXPECT(b.state == JOBD_SCHEDULED && b.attempt == 1);
	CO_EXPECT(b.reason == JOBD_REASON_INTERRUPTED);
	CO_EXPECT(b.run_at == T0 + 60000);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE id = %lld AND "
		       "duration = 2 AND exit_code IS NULL AND "
		       "ru_mempeak IS NULL AND finished_at IS NULL",
		       (long long)id) == 1);

	/* Cancelled while it runs: its end is still recorded, as what the
	 * process did; the cancel's state and reason stay, whatever end
	 * was computed, and it says it found the job cancelled. */
	id = ADD(.state = JOBD_QUEUED, .qid = 4);
	CO_EXPECT(claim(4, T0 + 10) == id);
	CO_EXPECT(store_job_set_state(id, JOBD_RUNNING, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 20) == 0);
	e = end_of(JOBD_SCHEDULED, JOBD_REASON_EXIT);
	e.signal = 15;
	e.run_at = T0 + 99000;
	e.attempt_delta = -1;
	e.now = T0 + 30;
	CO_EXPECT(end_attempt(id, e, &was) == 0);
	CO_EXPECT(was == JOBD_CANCELLED);
	CO_EXPECT(store_job_brief(id, &b) == 0);
	CO_EXPECT(b.state == JOBD_CANCELLED);
	CO_EXPECT(b.reason == JOBD_REASON_CANCELLED);
	CO_EXPECT(b.attempt == 1 && b.run_at != T0 + 99000);
	CO_EXPECT(peek("SELECT signal FROM jobs WHERE id = %lld",
		       (long long)id) == 15);
	CO_EXPECT(peek_time("finished_at", id) == T0 + 30);
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_job_end_attempt)
{
	RUN(end_f);
}
END_TEST

static void
set_state_f(void *arg)
{
	struct store_job_brief b;
	int64_t q, w, r;

	(void)arg;
	q = ADD(.state = JOBD_QUEUED);
	w = ADD(.state = JOBD_WAITING);
	r = ADD(.state = JOBD_QUEUED, .qid = 2);
	/* Only from the state the caller read. */
	CO_EXPECT(store_job_set_state(q, JOBD_WAITING, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 7000) == -1);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(store_job_brief(q, &b) == 0 && b.state == JOBD_QUEUED);
	CO_EXPECT(store_job_set_state(q, JOBD_QUEUED, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 7000) == 0);
	CO_EXPECT(store_job_brief(q, &b) == 0);
	CO_EXPECT(b.state == JOBD_CANCELLED);
	CO_EXPECT(b.reason == JOBD_REASON_CANCELLED);
	CO_EXPECT(peek_time("finished_at", q) == T0 + 7000);
	/* A state that is not an end has no end time. */
	CO_EXPECT(store_job_set_state(w, -1, JOBD_QUEUED, JOBD_REASON_NONE,
				      T0 + 8000) == 0);
	CO_EXPECT(store_job_brief(w, &b) == 0 && b.state == JOBD_QUEUED);
	CO_EXPECT(peek_time("finished_at", w) == -1);
	/* The pid goes with the attempt. */
	CO_EXPECT(claim(2, T0) == r);
	CO_EXPECT(store_job_set_pid(r, 99) == 0);
	CO_EXPECT(store_job_set_state(r, -1, JOBD_FAILED,
				      JOBD_REASON_INTERRUPTED, T0 + 9000) == 0);
	CO_EXPECT(peek("SELECT pid FROM jobs WHERE id = %lld", (long long)r) ==
		  -1);
	CO_EXPECT(store_job_brief(r, &b) == 0 && b.state == JOBD_FAILED);
	/* No such job: nothing done, as SQLite. */
	CO_EXPECT(store_job_set_state(999999, -1, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0) == 0);
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_job_set_state)
{
	RUN(set_state_f);
}
END_TEST

/* ---- retry ---- */

/* Claims id (the only ready job of its queue qid) and fails it. */
static void
run_and_fail(int64_t qid, int64_t id)
{
	struct store_job_end e = end_of(JOBD_FAILED, JOBD_REASON_EXIT);
	int was;

	e.exit_code = 1;
	e.duration = 1;
	e.finished_at = T0 + 1000;
	CO_EXPECT(claim(qid, T0 + 500) == id);
	CO_EXPECT(end_attempt(id, e, &was) == 0);
}

static void
retry_f(void *arg)
{
	struct store_job_brief b;
	struct store_job_end e = end_of(JOBD_FAILED, JOBD_REASON_EXIT);
	int64_t a, h, z, other;
	int was;

	(void)arg;
	a = ADD(.state = JOBD_QUEUED, .key = "k");
	run_and_fail(1, a);
	/* Only from the state the caller read. */
	CO_EXPECT(store_job_retry(a, JOBD_CANCELLED, T0 + 20000) == -1);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(store_job_retry(a, JOBD_FAILED, T0 + 20000) == 0);
	CO_EXPECT(store_job_brief(a, &b) == 0);
	CO_EXPECT(b.state == JOBD_QUEUED && b.reason == JOBD_REASON_NONE);
	CO_EXPECT(b.attempt == 0 && b.run_at == T0 + 20000);
	CO_EXPECT(peek("SELECT count(*) FROM jobs WHERE id = %lld AND "
		       "exit_code IS NULL AND duration IS NULL AND "
		       "finished_at IS NULL AND started_at IS NULL AND "
		       "recoveries = 0 AND deps_left = 0",
		       (long long)a) == 1);
	/* Retried, it is the attempt's no more. */
	CO_EXPECT(end_attempt(a, e, &was) == -1);
	CO_EXPECT(diag_code() == E_STATE);
	CO_EXPECT(claim(1, T0 + 30000) == a);
	CO_EXPECT(store_job_brief(a, &b) == 0 && b.attempt == 1);

	/* Its unique key taken meanwhile: refused, and the group
	 * transaction goes on. */
	e.finished_at = T0 + 31000;
	CO_EXPECT(end_attempt(a, e, &was) == 0);
	h = ADD(.state = JOBD_QUEUED, .key = "k", .qid = 2);
	CO_EXPECT(store_job_retry(a, -1, T0 + 40000) == -1);
	CO_EXPECT(diag_code() == E_STATE);
	CO_EXPECT(strstr(diag_msg(), "unique_key is held") != NULL);
	CO_EXPECT(store_job_brief(a, &b) == 0 && b.state == JOBD_FAILED);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_job_brief(h, &b) == 0 && b.state == JOBD_QUEUED);
	/* Freed, it is retried. */
	CO_EXPECT(store_job_set_state(h, -1, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 41000) == 0);
	CO_EXPECT(store_job_retry(a, -1, T0 + 42000) == 0);
	CO_EXPECT(store_job_brief(a, &b) == 0 && b.state == JOBD_QUEUED);

	/* Another user's job with the same key holds nothing of this
	 * one's. */
	z = ADD(.state = JOBD_QUEUED, .key = "z", .qid = 3);
	run_and_fail(3, z);
	other = ADD(.state = JOBD_QUEUED, .key = "z", .uid = 1001, .qid = 4);
	CO_EXPECT(other > 0);
	CO_EXPECT(store_job_retry(z, -1, T0 + 50000) == 0);
	CO_EXPECT(store_job_brief(z, &b) == 0 && b.state == JOBD_QUEUED);
	/* No such job: nothing done, as SQLite. */
	CO_EXPECT(store_job_retry(999999, -1, T0) == 0);
	CO_EXPECT(store_sync() == 0);
}

START_TEST(store_both_job_retry)
{
	RUN(retry_f);
}
END_TEST

/* ---- coroutines at once ---- */

/* What each of the coroutines of together_f did. */
struct together {
	json_t *env;	/* borrowed */
	int64_t got[4]; /* claimed ids */
};

static void
insert_with_env_f(void *arg)
{
	struct together *t = arg;

	ADD(.env = t->env, .state = JOBD_QUEUED);
}

static void
claim_one_f(void *arg)
{
	int64_t *got = arg;

	*got = claim(1, T0 + 10);
}

/* Coroutines whose statements interleave: four inserts of one new
 * environment store it once, and four claims take four different jobs. */
static void
together_f(void *arg)
{
	struct together t = {0};
	struct coro *c[4];

	(void)arg;
	t.env = json_pack("{ss}", "SAME", "1");
	for (int i = 0; i < 4; i++)
		c[i] = coro_spawn("insert", insert_with_env_f, &t);
	for (int i = 0; i < 4; i++)
		coro_join(c[i]);
	CO_EXPECT(peek("SELECT count(*) FROM envs") == 1);
	CO_EXPECT(peek("SELECT count(*) FROM jobs") == 4);
	for (int i = 0; i < 4; i++)
		c[i] = coro_spawn("claim", claim_one_f, &t.got[i]);
	for (int i = 0; i < 4; i++)
		coro_join(c[i]);
	for (int i = 0; i < 4; i++) {
		CO_EXPECT(t.got[i] > 0);
		for (int k = 0; k < i; k++)
			CO_EXPECT(t.got[k] != t.got[i]);
	}
	CO_EXPECT(claim(1, T0 + 10) == 0);
	CO_EXPECT(store_sync() == 0);
	json_decref(t.env);
}

START_TEST(store_both_job_coroutines_at_once)
{
	RUN(together_f);
}
END_TEST

Suite *
store_both_job_suite(void)
{
	Suite *s = suite_create("store_both_job");
	TCase *tc = tcase_create("rows");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_add_loop_test(tc, store_both_job_insert_then_brief, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_env_stored_once, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_unique_key_per_uid, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_deps_counted, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_claim_order, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_claim_gives_the_attempt, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_end_attempt, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_set_state, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_retry, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_job_coroutines_at_once, 0,
			    BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
