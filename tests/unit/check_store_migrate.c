/*
 * Tests of the store's migrations on a database an older jobd left: the
 * file is built at schema version N (1 <= N <= STORE_SCHEMA_VERSION) with
 * the first N migrations and PRAGMA user_version = N, as the store itself
 * records a version, and filled the way a jobd of version N wrote it:
 * queues, an environment, jobs in every kind of state with a dependency,
 * and from version 2 a producer.  The store then opens it: the schema must
 * come to STORE_SCHEMA_VERSION, every row must read back as it was
 * written, the running job must be recovered as at a start, and new jobs
 * with resource limits must go in and come out.  A new schema version
 * needs no change here: the loop runs over every older version, and the
 * last one (the current) checks the file needs no migration at all.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "diag.h"
#include "jobd/proto.h"
#include "queue.h"
#include "store.h"
#include "store_sqlite.h"
#include "storefix.h"

Suite *migrate_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* ---- the database of an older jobd ---- */

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
		      "%s: %s", sql, err != NULL ? err : "?");
}

/* The rows every version has: the queues (`default` as jobd makes it, and
 * `mail` with every setting changed, paused), an environment, and jobs
 * queued, scheduled, running, succeeded, failed and waiting on the first.
 * Times are T0-based ms; durations REAL seconds, as the store writes them. */
static const char rows_v1[] =
	"INSERT INTO queues (id, name, concurrency, rate_limit, rate_period,"
	" rate_burst, capacity, paused, timeout, kill_grace, max_attempts,"
	" b_base, b_factor, b_max, b_jitter) VALUES"
	" (1, 'default', 4, 0, 1, 0, 0, 0, 0, -1, 1, 1, 2, 300, 0.1),"
	" (2, 'mail', 3, 5, 60, 10, 1000, 1, 120, 7.5, 4, 2, 3, 600, 0.25);"
	"INSERT INTO envs (id, hash, body) VALUES (1, 1234567,"
	" '{\"LANG\":\"C.UTF-8\",\"PATH\":\"/usr/bin:/bin\"}');"
	"INSERT INTO jobs (id, qid, state, reason, priority, run_at,"
	" created_at, started_at, finished_at, attempt, recoveries,"
	" max_attempts, timeout, kill_grace, b_base, b_factor, b_max,"
	" b_jitter, uid, name, argv, shell, cwd, env_id, unique_key, output,"
	" deps_left, depends_on, exit_code, signal, error, pid, duration,"
	" truncated, ru_user, ru_sys, ru_maxrss) VALUES"
	/* 1: queued, with a name, an environment and a unique key */
	" (1, 2, 2, 0, 5, 1767225600000, 1767225600000, NULL, NULL, 0, 0,"
	" 4, 120, 7.5, 2, 3, 600, 0.25, 1000, 'digest',"
	" '[\"/usr/bin/send-digest\",\"--all\"]', NULL, '/srv/mail', 1,"
	" 'digest-2026-01-01', 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0,"
	" NULL, NULL, NULL),"
	/* 2: scheduled an hour on, a shell job discarding its output */
	" (2, 1, 1, 0, 0, 1767229200000, 1767225600000, NULL, NULL, 0, 0,"
	" 1, 0, 10, 1, 2, 300, 0.1, 1001, NULL, NULL, 'echo later', '/',"
	" NULL, NULL, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,"
	" NULL, NULL),"
	/* 3: running, recovered once already */
	" (3, 2, 3, 0, 0, 1767225600000, 1767225600000, 1767225601000, NULL,"
	" 2, 1, 4, 120, 7.5, 2, 3, 600, 0.25, 1000, NULL,"
	" '[\"/usr/bin/sync-inbox\"]', NULL, '/srv/mail', NULL, NULL, 0, 0,"
	" NULL, NULL, NULL, NULL, 4242, NULL, 0, NULL, NULL, NULL),"
	/* 4: succeeded, its output truncated */
	" (4, 1, 4, 0, 0, 1767225600000, 1767225600000, 1767225602000,"
	" 1767225603500, 1, 0, 1, 0, 10, 1, 2, 300, 0.1, 1000, 'build',"
	" '[\"make\",\"-j2\"]', NULL, '/src', NULL, NULL, 0, 0, NULL, 0,"
	" NULL, NULL, NULL, 1.5, 1, 0.25, 0.0625, 2048),"
	/* 5: failed by a signal after its attempts */
	" (5, 2, 5, 2, 0, 1767225600000, 1767225600000, 1767225604000,"
	" 1767225605000, 4, 0, 4, 120, 7.5, 2, 3, 600, 0.25, 1000, NULL,"
	" '[\"/usr/bin/bounce\"]', NULL, '/srv/mail', NULL, NULL, 0, 0, NULL,"
	" NULL, 9, NULL, NULL, 0.75, 0, 0.125, 0, 512),"
	/* 6: waiting for job 1 */
	" (6, 2, 0, 0, 0, 1767225600000, 1767225600000, NULL, NULL, 0, 0,"
	" 4, 120, 7.5, 2, 3, 600, 0.25, 1000, NULL, '[\"/usr/bin/archive\"]',"
	" NULL, '/srv/mail', NULL, NULL, 0, 1, '[1]', NULL, NULL, NULL, NULL,"
	" NULL, 0, NULL, NULL, NULL);"
	"INSERT INTO deps (dep_id, job_id) VALUES (1, 6);";

/* Version 2 added producers. */
static const char rows_v2[] =
	"INSERT INTO producers (name, spec, uid, paused, state, produced,"
	" skipped, errors, last_run) VALUES ('nightly',"
	" '{\"name\":\"nightly\",\"type\":\"cron\",\"schedule\":\"0 3 * * *\","
	"\"queue\":\"mail\",\"job\":{\"argv\":[\"/usr/bin/report\"]}}',"
	" 1000, 1, 0, 4, 1, 2, 1767225000000);";

/* Version 3 added limits, to queues and jobs. */
static const char rows_v3[] =
	"UPDATE queues SET limits = '{\"memory\":268435456}' WHERE id = 2;"
	"UPDATE jobs SET limits = '{\"memory\":268435456,\"nofile\":256}'"
	" WHERE id = 1;";

static const char *const rows[] = {rows_v1, rows_v2, rows_v3};

/* The database at schema version *arg, as a jobd of that version left it
 * (storefix_prepare_fn).  In WAL mode, as jobd opens it; the rows of
 * version v go in once its migration ran. */
static void
build_db(const char *path, void *arg)
{
	int version = *(const int *)arg;
	sqlite3 *db = NULL;
	char sql[64];

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode = WAL");
	exec_ok(db, "BEGIN IMMEDIATE");
	for (int v = 0; v < version; v++)
		exec_ok(db, store__migrations[v]);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	exec_ok(db, sql);
	exec_ok(db, "COMMIT");
	for (int v = 0; v < version && v < (int)(sizeof(rows) / sizeof(*rows));
	     v++)
		exec_ok(db, rows[v]);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* PRAGMA user_version of the file, read by a connection of its own. */
static int
file_version(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int v = -1;

	ck_assert_int_eq(sqlite3_open_v2(storefix_db_path(), &db,
					 SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ---- what must read back ---- */

/* Fails the test unless every member of want (JSON text) is in job id's
 * object (with its environment), equal. */
static void
assert_job(int64_t id, const char *want)
{
	json_error_t err;
	json_t *w = json_loads(want, 0, &err);
	json_t *got = store_job_json(id, true);
	const char *k;
	json_t *v;

	ck_assert_msg(w != NULL, "%s", err.text);
	ck_assert_msg(got != NULL, "job %lld: %s", (long long)id, diag_msg());
	json_object_foreach (w, k, v) {
		json_t *g = json_object_get(got, k);
		char *gs = g ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
		char *ws = json_dumps(v, JSON_ENCODE_ANY);

		ck_assert_msg(g != NULL && json_equal(g, v),
			      "job %lld: %s is %s, want %s", (long long)id, k,
			      gs ? gs : "absent", ws);
		free(gs);
		free(ws);
	}
	json_decref(got);
	json_decref(w);
}

static void
check_jobs(int version)
{
	assert_job(1,
		   "{\"queue\":\"mail\",\"name\":\"digest\","
		   "\"argv\":[\"/usr/bin/send-digest\",\"--all\"],"
		   "\"cwd\":\"/srv/mail\",\"priority\":5,"
		   "\"state\":\"queued\",\"reason\":null,\"attempt\":0,"
		   "\"recoveries\":0,\"max_attempts\":4,\"timeout\":120.0,"
		   "\"kill_grace\":7.5,\"backoff\":{\"base\":2.0,"
		   "\"factor\":3.0,\"max\":600.0,\"jitter\":0.25},"
		   "\"unique_key\":\"digest-2026-01-01\",\"uid\":1000,"
		   "\"depends_on\":[],\"output\":\"capture\","
		   "\"env\":{\"LANG\":\"C.UTF-8\",\"PATH\":\"/usr/bin:/bin\"},"
		   "\"created_at\":\"2026-01-01T00:00:00.000Z\","
		   "\"run_at\":\"2026-01-01T00:00:00.000Z\","
		   "\"started_at\":null,\"finished_at\":null,"
		   "\"rusage\":null}");
	/* No limits before version 3: {} as for any job without them. */
	assert_job(1, version >= 3 ? "{\"limits\":{\"memory\":268435456,"
				     "\"nofile\":256}}"
				   : "{\"limits\":{}}");
	assert_job(2, "{\"queue\":\"default\",\"shell\":\"echo later\","
		      "\"cwd\":\"/\",\"state\":\"scheduled\",\"uid\":1001,"
		      "\"output\":\"discard\",\"env\":null,\"limits\":{},"
		      "\"run_at\":\"2026-01-01T01:00:00.000Z\","
		      "\"unique_key\":null,\"name\":null}");
	assert_job(3, "{\"state\":\"running\",\"attempt\":2,"
		      "\"recoveries\":1,\"pid\":4242,\"limits\":{},"
		      "\"started_at\":\"2026-01-01T00:00:01.000Z\"}");
	assert_job(4, "{\"queue\":\"default\",\"name\":\"build\","
		      "\"argv\":[\"make\",\"-j2\"],\"state\":\"succeeded\","
		      "\"reason\":null,\"exit_code\":0,\"signal\":null,"
		      "\"attempt\":1,\"duration\":1.5,"
		      "\"output_truncated\":true,\"limits\":{},"
		      "\"rusage\":{\"user\":0.25,\"system\":0.0625,"
		      "\"max_rss_kb\":2048,\"memory_peak\":null},"
		      "\"linger\":false,"
		      "\"started_at\":\"2026-01-01T00:00:02.000Z\","
		      "\"finished_at\":\"2026-01-01T00:00:03.500Z\"}");
	assert_job(5, "{\"state\":\"failed\",\"reason\":\"signal\","
		      "\"exit_code\":null,\"signal\":9,\"attempt\":4,"
		      "\"duration\":0.75,\"pid\":null,\"limits\":{},"
		      "\"rusage\":{\"user\":0.125,\"system\":0.0,"
		      "\"max_rss_kb\":512,\"memory_peak\":null},"
		      "\"finished_at\":\"2026-01-01T00:00:05.000Z\"}");
	assert_job(6, "{\"state\":\"waiting\",\"depends_on\":[1],"
		      "\"limits\":{}}");
	ck_assert_int_eq(store_job_max_id(), 6);
}

struct queues {
	struct store_queue q[4];
	int n;
};

static int
collect(const struct store_queue *q, void *arg)
{
	struct queues *l = arg;

	if (l->n < 4)
		l->q[l->n] = *q;
	l->n++;
	return 0;
}

static void
check_queues(int version)
{
	struct queues l = {.n = 0};
	const struct queue_conf *c;

	ck_assert_int_eq(store_queue_each(collect, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.q[0].conf.name, "default");
	ck_assert(joblimits_is_empty(&l.q[0].conf.limits));
	ck_assert(!l.q[0].paused);
	c = &l.q[1].conf;
	ck_assert_int_eq(l.q[1].id, 2);
	ck_assert_str_eq(c->name, "mail");
	ck_assert(l.q[1].paused);
	ck_assert_int_eq(c->concurrency, 3);
	ck_assert_double_eq(c->rate_limit, 5);
	ck_assert_double_eq(c->rate_period, 60);
	ck_assert_double_eq(c->rate_burst, 10);
	ck_assert_int_eq(c->capacity, 1000);
	ck_assert_double_eq(c->timeout, 120);
	ck_assert_double_eq(c->kill_grace, 7.5);
	ck_assert_int_eq(c->max_attempts, 4);
	ck_assert_double_eq(c->backoff.base, 2);
	ck_assert_double_eq(c->backoff.factor, 3);
	ck_assert_double_eq(c->backoff.max, 600);
	ck_assert_double_eq(c->backoff.jitter, 0.25);
	ck_assert_int_eq(c->limits.memory, version >= 3 ? 268435456 : 0);
	ck_assert_int_eq(c->limits.nofile, 0);
	ck_assert_double_eq(c->limits.cpu_time, 0);
}

struct producers {
	int n;
	bool ok;
};

static int
check_producer(const struct store_producer *p, void *arg)
{
	struct producers *l = arg;
	json_t *want = json_pack("{s:s,s:s,s:s,s:s,s:{s:[s]}}", "name",
				 "nightly", "type", "cron", "schedule",
				 "0 3 * * *", "queue", "mail", "job", "argv",
				 "/usr/bin/report");

	l->n++;
	l->ok = strcmp(p->name, "nightly") == 0 && json_equal(p->spec, want) &&
		p->uid == 1000 && p->paused && p->state == 0 &&
		p->produced == 4 && p->skipped == 1 && p->errors == 2 &&
		p->last_run == INT64_C(1767225000000);
	json_decref(want);
	return 0;
}

/* The jobs a recovery moved. */
struct moves {
	int64_t id[8];
	int from[8], to[8];
	int n;
};

static void
record(int64_t id, int64_t qid, int from, int to, void *arg)
{
	struct moves *m = arg;

	(void)qid;
	if (m->n < 8) {
		m->id[m->n] = id;
		m->from[m->n] = from;
		m->to[m->n] = to;
	}
	m->n++;
}

/* ---- the tests ---- */

/* A database of version _i opens, migrated, with every row as written. */
START_TEST(store_migrate_keeps_rows)
{
	int version = _i;
	struct producers p = {0, false};

	storefix_setup_from(build_db, &version);
	ck_assert_int_eq(file_version(), STORE_SCHEMA_VERSION);
	check_queues(version);
	check_jobs(version);
	ck_assert_int_eq(store_producer_each(check_producer, &p), 0);
	ck_assert_int_eq(p.n, version >= 2 ? 1 : 0);
	ck_assert(p.n == 0 || p.ok);
	/* Open again: nothing left to migrate, nothing changed. */
	store_close();
	ck_assert_msg(store_open(storefix_db_path(), false) == 0, "%s",
		      diag_msg());
	ck_assert_int_eq(file_version(), STORE_SCHEMA_VERSION);
	check_queues(version);
	check_jobs(version);
	storefix_teardown();
}
END_TEST

/* After the migration, the start goes on as jobd's: the running job is
 * recovered (and only it), the queues load with their counts, and jobs
 * submitted now carry their limits, over the queue's, to the claim. */
START_TEST(store_migrate_then_start)
{
	int version = _i;
	struct moves m = {.n = 0};
	struct queue *q;
	struct store_job_run r;
	int64_t id = 0;

	storefix_setup_from(build_db, &version);
	ck_assert_int_eq(store_job_recover(T0 + 60000, 3, record, &m), 0);
	ck_assert_int_eq(m.n, 1);
	ck_assert_int_eq(m.id[0], 3);
	ck_assert_int_eq(m.from[0], JOBD_RUNNING);
	ck_assert_int_eq(m.to[0], JOBD_QUEUED);
	ck_assert_int_eq(store_commit_now(), 0);
	assert_job(3, "{\"state\":\"queued\",\"reason\":\"recovered\","
		      "\"attempt\":1,\"recoveries\":2,\"pid\":null,"
		      "\"finished_at\":null}");

	storefix_engine_start();
	q = queue_find("mail");
	ck_assert_ptr_nonnull(q);
	ck_assert(q->paused);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 2);
	ck_assert_int_eq(q->counts[JOBD_WAITING], 1);
	ck_assert_int_eq(q->counts[JOBD_FAILED], 1);
	ck_assert_int_eq(q->counts[JOBD_RUNNING], 0);
	q = queue_find("default");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(q->counts[JOBD_SCHEDULED], 1);
	ck_assert_int_eq(q->counts[JOBD_SUCCEEDED], 1);

	ck_assert_msg(
		storefix_submit("[{\"queue\":\"mail\",\"argv\":[\"true\"],"
				"\"limits\":{\"nofile\":64,"
				"\"cpu_time\":30}}]",
				1000, &id, NULL) == 0,
		"%s", diag_msg());
	/* Ids go on from the old ones (AUTOINCREMENT's sequence kept). */
	ck_assert_int_eq(id, 7);
	ck_assert_int_eq(store_commit_now(), 0);
	assert_job(7, version >= 3 ? "{\"limits\":{\"memory\":268435456,"
				     "\"nofile\":64,\"cpu_time\":30}}"
				   : "{\"limits\":{\"nofile\":64,"
				     "\"cpu_time\":30}}");

	/* The claims hand the runner each job's limits: job 1's from
	 * before (priority 5), then the recovered job 3, then job 7. */
	ck_assert_int_eq(store_job_claim(2, T0 + 120000, &r), 0);
	ck_assert_int_eq(r.id, 1);
	ck_assert_int_eq(r.limits.memory, version >= 3 ? 268435456 : 0);
	ck_assert_int_eq(r.limits.nofile, version >= 3 ? 256 : 0);
	store_job_run_destroy(&r);
	ck_assert_int_eq(store_job_claim(2, T0 + 120000, &r), 0);
	ck_assert_int_eq(r.id, 3);
	ck_assert(joblimits_is_empty(&r.limits));
	ck_assert_int_eq(r.attempt, 2);
	store_job_run_destroy(&r);
	ck_assert_int_eq(store_job_claim(2, T0 + 120000, &r), 0);
	ck_assert_int_eq(r.id, 7);
	ck_assert_int_eq(r.limits.nofile, 64);
	ck_assert_double_eq(r.limits.cpu_time, 30);
	ck_assert_int_eq(r.limits.memory, version >= 3 ? 268435456 : 0);
	store_job_run_destroy(&r);
	storefix_engine_teardown();
}
END_TEST

/* A database a newer jobd migrated further is refused, naming both
 * versions, and left as it was. */
START_TEST(store_migrate_refuses_newer)
{
	int version = STORE_SCHEMA_VERSION;
	char want[128];
	sqlite3 *db = NULL;

	storefix_setup_from(build_db, &version);
	store_close();
	ck_assert_int_eq(sqlite3_open(storefix_db_path(), &db), SQLITE_OK);
	snprintf(want, sizeof(want), "PRAGMA user_version = %d",
		 STORE_SCHEMA_VERSION + 1);
	exec_ok(db, want);
	sqlite3_close(db);
	ck_assert_int_eq(store_open(storefix_db_path(), false), -1);
	ck_assert_int_eq(diag_code(), E_DB);
	snprintf(want, sizeof(want), "schema %d is newer than this jobd (%d)",
		 STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
	ck_assert_msg(strstr(diag_msg(), want) != NULL, "%s", diag_msg());
	ck_assert_int_eq(file_version(), STORE_SCHEMA_VERSION + 1);
	storefix_teardown();
}
END_TEST

Suite *
migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("migrate");

	tcase_set_timeout(tc, 30);
	/* Every version from the first to the current one. */
	tcase_add_loop_test(tc, store_migrate_keeps_rows, 1,
			    STORE_SCHEMA_VERSION + 1);
	tcase_add_loop_test(tc, store_migrate_then_start, 1,
			    STORE_SCHEMA_VERSION + 1);
	tcase_add_test(tc, store_migrate_refuses_newer);
	suite_add_tcase(s, tc);
	return s;
}
