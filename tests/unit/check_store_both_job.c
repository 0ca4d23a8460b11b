/*
 * The store's job rows on both backends (bothfix.h): each scenario runs
 * on SQLite, the reference, and on PostgreSQL, and must see the same.
 * Insert (the spec, an environment stored once per distinct body, the
 * deps rows), unique keys (per uid, live jobs only; a clash refused
 * without losing the group transaction), the brief view, dependencies
 * counted, the highest id, claim order and what a claim gives the
 * attempt, pid, the end of an attempt, state changes and retries with
 * their conditions.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bothfix.h"
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
	suite_add_tcase(s, tc);
	return s;
}
