/*
 * Tests of the store on a real SQLite file in a temp directory: schema and
 * migrations, queues, jobs (insert, claim order, attempts, promotion,
 * dependencies, unique keys, recovery, pruning), producers, environment
 * dedupe, savepoints, held changes and their spills, transaction hooks and
 * group commit.  A second SQLite connection (tests only) looks at the file
 * to see what is committed.  The commit tests run the store under a real
 * loop with store_flush as its flush hook.
 */
#include <check.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"

Suite *store_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

static char tmpdir[PATH_MAX];
static char dbpath[PATH_MAX + 32];
static int64_t qdef; /* id of queue "default" */

/* ---- a second connection, to see what is on disk ---- */

static sqlite3 *
peek_open(void)
{
	sqlite3 *p = NULL;

	if (sqlite3_open_v2(dbpath, &p, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(p);
		return NULL;
	}
	return p;
}

/* The first column of the first row of sql, or -1. */
static int64_t
peek_int(const char *sql)
{
	sqlite3 *p = peek_open();
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (p == NULL)
		return -1;
	if (sqlite3_prepare_v2(p, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(p);
	return v;
}

static void
peek_text(const char *sql, char *out, size_t n)
{
	sqlite3 *p = peek_open();
	sqlite3_stmt *s = NULL;

	out[0] = '\0';
	if (p == NULL)
		return;
	if (sqlite3_prepare_v2(p, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(p);
}

static int
peek_exec(const char *sql)
{
	sqlite3 *p = peek_open();
	int rc;

	if (p == NULL)
		return -1;
	rc = sqlite3_exec(p, sql, NULL, NULL, NULL);
	sqlite3_close(p);
	return rc == SQLITE_OK ? 0 : -1;
}

/* ---- fixtures and helpers ---- */

static int64_t
add_queue(const char *name)
{
	struct queue_conf qc;
	int64_t id = 0;

	queue_conf_init(&qc, name);
	ck_assert_msg(store_queue_insert(&qc, false, &id) == 0, "%s",
		      diag_msg());
	ck_assert_int_gt(id, 0);
	return id;
}

/* The store commits from the loop's flush hook and reads the loop's
 * clock, so every test has a loop, running or not. */
static void
store_setup(void)
{
	const char *t = getenv("TMPDIR");

	log_set_level(LOG_LEVEL_WARNING);
	diag_clear();
	store_fail_next_commit = false;
	loop_init();
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-store-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/jobd.db", tmpdir);
	ck_assert_msg(store_open(dbpath, true) == 0, "%s", diag_msg());
	qdef = add_queue("default");
}

static void
store_teardown(void)
{
	char p[PATH_MAX + 64];

	store_close();
	loopfix_teardown();
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	rmdir(tmpdir);
}

/* What a test job differs in; zero fields take the defaults. */
struct jopt {
	int64_t qid; /* 0: default queue */
	int state;
	int priority;
	int64_t run_at; /* 0: T0 */
	const char *key;
	const int64_t *deps;
	size_t ndeps;
	int deps_left;
	const json_t *env; /* borrowed */
	uid_t uid;	   /* 0: 1000 */
};

static int
try_add_job(const struct jopt *o, int64_t *id)
{
	struct jobspec sp;
	struct store_job_new j;
	struct backoff bo = BACKOFF_DEFAULT_INIT;
	int rc;

	jobspec_init(&sp);
	sp.argv = json_pack("[ss]", "echo", "hi");
	sp.priority = o->priority;
	if (o->key != NULL)
		sp.unique_key = strdup(o->key);
	if (o->env != NULL)
		sp.env = json_deep_copy(o->env);
	if (o->ndeps > 0) {
		sp.depends_on = malloc(o->ndeps * sizeof(*sp.depends_on));
		memcpy(sp.depends_on, o->deps,
		       o->ndeps * sizeof(*sp.depends_on));
		sp.ndeps = o->ndeps;
	}
	memset(&j, 0, sizeof(j));
	j.spec = &sp;
	j.qid = o->qid ? o->qid : qdef;
	j.state = o->state;
	j.reason = JOBD_REASON_NONE;
	j.created_at = T0;
	j.run_at = o->run_at ? o->run_at : T0;
	j.uid = o->uid ? o->uid : 1000;
	j.timeout = 0;
	j.kill_grace = 5;
	j.max_attempts = 3;
	j.backoff = bo;
	j.deps_left = o->deps_left;
	rc = store_job_insert(&j, id);
	jobspec_destroy(&sp);
	return rc;
}

#define ADD_JOB(...) add_job(&(struct jopt){__VA_ARGS__})

static int64_t
add_job(const struct jopt *o)
{
	int64_t id = 0;

	ck_assert_msg(try_add_job(o, &id) == 0, "%s", diag_msg());
	ck_assert_int_gt(id, 0);
	return id;
}

/* Commits the group transaction now, as a flush with a waiter would.
 * Returns whether something was committed. */
static bool
commit_now(void)
{
	store_request_commit(true);
	return store_flush(NULL);
}

static struct store_job_brief
brief(int64_t id)
{
	struct store_job_brief b;

	memset(&b, 0, sizeof(b));
	ck_assert_msg(store_job_brief(id, &b) == 0, "job %lld: %s",
		      (long long)id, diag_msg());
	ck_assert_int_eq(b.id, id);
	return b;
}

static void
assert_gone(int64_t id)
{
	struct store_job_brief b;

	ck_assert_int_eq(store_job_brief(id, &b), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
}

static int64_t
claim(int64_t qid, int64_t now)
{
	struct store_job_run r;
	int64_t id;

	ck_assert_msg(store_job_claim(qid, now, &r) == 0, "%s", diag_msg());
	id = r.id;
	store_job_run_destroy(&r);
	return id;
}

struct change {
	int64_t id, qid;
	int from, to;
};

struct changes {
	struct change c[64];
	int n;
};

static void
record_change(int64_t id, int64_t qid, int from, int to, void *arg)
{
	struct changes *ch = arg;

	if (ch->n < 64)
		ch->c[ch->n] = (struct change){id, qid, from, to};
	ch->n++;
}

/* The change recorded for id, or NULL. */
static const struct change *
change_of(const struct changes *ch, int64_t id)
{
	const struct change *found = NULL;

	for (int i = 0; i < ch->n && i < 64; i++) {
		if (ch->c[i].id == id) {
			ck_assert_msg(found == NULL, "job %lld reported twice",
				      (long long)id);
			found = &ch->c[i];
		}
	}
	return found;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

static double
jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_number(v), "%s is not a number", key);
	return json_number_value(v);
}

static bool
jnull(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v != NULL && json_is_null(v);
}

/* ---- schema, open, close ---- */

START_TEST(store_creates_schema)
{
	char mode[32];

	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM sqlite_master WHERE "
				  "type = 'table' AND name IN ('queues', "
				  "'jobs', 'envs', 'deps', 'producers')"),
			 5);
	peek_text("PRAGMA journal_mode", mode, sizeof(mode));
	ck_assert_str_eq(mode, "wal");
	ck_assert_int_eq(peek_int("SELECT count(*) FROM queues"), 1);
}
END_TEST

START_TEST(store_refuses_newer_schema)
{
	store_close();
	ck_assert_int_eq(peek_exec("PRAGMA user_version = 99"), 0);
	ck_assert_int_eq(store_open(dbpath, true), -1);
	ck_assert_int_eq(diag_code(), E_DB);
	ck_assert_ptr_nonnull(strstr(diag_msg(), "newer"));
}
END_TEST

struct queue_list {
	struct store_queue q[8];
	int n;
	int stop_after;
};

static int
collect_queue(const struct store_queue *q, void *arg)
{
	struct queue_list *l = arg;

	if (l->n < 8)
		l->q[l->n] = *q;
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

START_TEST(store_reopen_keeps_data)
{
	struct queue_conf qc;
	struct queue_list l;
	int64_t qid, id;

	queue_conf_init(&qc, "other");
	qc.concurrency = 9;
	ck_assert_int_eq(store_queue_insert(&qc, true, &qid), 0);
	id = ADD_JOB(.qid = qid, .state = JOBD_QUEUED, .priority = 3);
	store_close();
	ck_assert_msg(store_open(dbpath, false) == 0, "%s", diag_msg());
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.q[1].conf.name, "other");
	ck_assert_int_eq(l.q[1].id, qid);
	ck_assert_int_eq(l.q[1].conf.concurrency, 9);
	ck_assert(l.q[1].paused);
	ck_assert_int_eq(brief(id).qid, qid);
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
	ck_assert_int_eq(claim(qid, T0), id);
}
END_TEST

START_TEST(store_close_checkpoints)
{
	char wal[PATH_MAX + 64];
	struct stat sb;
	int64_t db_bytes, wal_bytes, id = 0;

	for (int i = 0; i < 200; i++)
		id = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(commit_now());
	store_sizes(&db_bytes, &wal_bytes);
	ck_assert_int_gt(db_bytes, 0);
	ck_assert_int_gt(wal_bytes, 0);
	ADD_JOB(.state = JOBD_QUEUED); /* left open: close commits it */
	store_close();
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_msg(stat(wal, &sb) != 0 || sb.st_size == 0,
		      "WAL holds %lld bytes after close",
		      (long long)sb.st_size);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 201);
	ck_assert_int_eq(store_open(dbpath, true), 0);
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
	store_close();
	store_close(); /* safe when not open */
}
END_TEST

/* ---- queues ---- */

START_TEST(store_queue_crud)
{
	struct queue_conf qc;
	struct queue_list l;
	int64_t id, dup = -7;

	queue_conf_init(&qc, "work");
	qc.concurrency = 8;
	qc.rate_limit = 10;
	qc.rate_period = 60;
	qc.rate_burst = 20;
	qc.capacity = 100;
	qc.timeout = 30;
	qc.kill_grace = 3;
	qc.max_attempts = 5;
	qc.backoff = (struct backoff){2, 3, 120, 0.5};
	ck_assert_int_eq(store_queue_insert(&qc, false, &id), 0);
	ck_assert_int_ne(id, qdef);
	ck_assert_int_eq(store_queue_insert(&qc, false, &dup), -1);
	ck_assert_int_eq(diag_code(), E_CONFLICT);
	ck_assert_int_eq(dup, -7);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.q[0].id, qdef);
	ck_assert_str_eq(l.q[0].conf.name, "default");
	ck_assert_int_eq(l.q[1].id, id);
	ck_assert_str_eq(l.q[1].conf.name, "work");
	ck_assert(!l.q[1].paused);
	ck_assert_int_eq(l.q[1].conf.concurrency, 8);
	ck_assert_double_eq(l.q[1].conf.rate_limit, 10);
	ck_assert_double_eq(l.q[1].conf.rate_period, 60);
	ck_assert_double_eq(l.q[1].conf.rate_burst, 20);
	ck_assert_int_eq(l.q[1].conf.capacity, 100);
	ck_assert_double_eq(l.q[1].conf.timeout, 30);
	ck_assert_double_eq(l.q[1].conf.kill_grace, 3);
	ck_assert_int_eq(l.q[1].conf.max_attempts, 5);
	ck_assert_double_eq(l.q[1].conf.backoff.base, 2);
	ck_assert_double_eq(l.q[1].conf.backoff.factor, 3);
	ck_assert_double_eq(l.q[1].conf.backoff.max, 120);
	ck_assert_double_eq(l.q[1].conf.backoff.jitter, 0.5);

	qc.concurrency = 2;
	qc.capacity = 0;
	ck_assert_int_eq(store_queue_update(id, &qc), 0);
	ck_assert_int_eq(store_queue_set_paused(id, true), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.q[1].conf.concurrency, 2);
	ck_assert_int_eq(l.q[1].conf.capacity, 0);
	ck_assert_str_eq(l.q[1].conf.name, "work");
	ck_assert(l.q[1].paused);
	ck_assert(!l.q[0].paused);

	/* The callback can stop the walk. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	store_queue_each(collect_queue, &l);
	ck_assert_int_eq(l.n, 1);

	ck_assert_int_eq(store_queue_delete(id), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.q[0].conf.name, "default");
	/* The name is free again. */
	ck_assert_int_eq(store_queue_insert(&qc, false, &id), 0);
}
END_TEST

/* ---- producers ---- */

struct prod_list {
	struct {
		char name[32];
		json_t *spec;	/* owned */
		uid_t uid;
		bool paused;
		int state;
		int64_t produced, skipped, errors, last_run;
	} p[4];
	int n;
	int stop_after;
};

static int
collect_producer(const struct store_producer *p, void *arg)
{
	struct prod_list *l = arg;

	ck_assert_int_lt(l->n, 4);
	snprintf(l->p[l->n].name, sizeof(l->p[l->n].name), "%s", p->name);
	l->p[l->n].spec = json_deep_copy(p->spec);
	l->p[l->n].uid = p->uid;
	l->p[l->n].paused = p->paused;
	l->p[l->n].state = p->state;
	l->p[l->n].produced = p->produced;
	l->p[l->n].skipped = p->skipped;
	l->p[l->n].errors = p->errors;
	l->p[l->n].last_run = p->last_run;
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static void
list_producers(struct prod_list *l, int stop_after)
{
	for (int i = 0; i < l->n; i++)
		json_decref(l->p[i].spec);
	memset(l, 0, sizeof(*l));
	l->stop_after = stop_after;
}

START_TEST(store_producer_crud)
{
	json_t *tick = json_pack("{ss,sf}", "queue", "default", "every", 1.0);
	json_t *cron = json_pack("{ss}", "cron", "* * * * *");
	struct prod_list l = {.n = 0};

	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 0);

	ck_assert_int_eq(store_producer_put("tick", tick, 1000, false), 0);
	ck_assert_int_eq(store_producer_put("nightly", cron, 0, true), 0);
	ck_assert_int_eq(store_producer_counters("tick", 1, 5, 2, 1, T0), 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 2);
	/* By name. */
	ck_assert_str_eq(l.p[0].name, "nightly");
	ck_assert(json_equal(l.p[0].spec, cron));
	ck_assert_uint_eq(l.p[0].uid, 0);
	ck_assert(l.p[0].paused);
	ck_assert_int_eq(l.p[0].state, 0);
	ck_assert_int_eq(l.p[0].produced, 0);
	ck_assert_int_eq(l.p[0].last_run, 0);
	ck_assert_str_eq(l.p[1].name, "tick");
	ck_assert(json_equal(l.p[1].spec, tick));
	ck_assert_uint_eq(l.p[1].uid, 1000);
	ck_assert(!l.p[1].paused);
	ck_assert_int_eq(l.p[1].state, 1);
	ck_assert_int_eq(l.p[1].produced, 5);
	ck_assert_int_eq(l.p[1].skipped, 2);
	ck_assert_int_eq(l.p[1].errors, 1);
	ck_assert_int_eq(l.p[1].last_run, T0);

	/* A new definition keeps counters and pause; the state starts
	 * over. */
	ck_assert_int_eq(store_producer_set_paused("tick", true), 0);
	ck_assert_int_eq(store_producer_put("tick", cron, 1001, false), 0);
	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert(json_equal(l.p[1].spec, cron));
	ck_assert_uint_eq(l.p[1].uid, 1001);
	ck_assert(l.p[1].paused);
	ck_assert_int_eq(l.p[1].state, 0);
	ck_assert_int_eq(l.p[1].produced, 5);
	ck_assert_int_eq(l.p[1].last_run, T0);

	/* The callback can stop the walk. */
	list_producers(&l, 1);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), -1);
	ck_assert_int_eq(l.n, 1);

	ck_assert_int_eq(store_producer_delete("nightly"), 0);
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM producers"), 1);
	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.p[0].name, "tick");
	list_producers(&l, 0);
	json_decref(tick);
	json_decref(cron);
}
END_TEST

/* ---- jobs ---- */

/* Every key of a job object (SPEC 5.2) but shell and env, which only some
 * have. */
static const char *const job_keys[] = {
	"id",	       "queue",	       "name",
	"argv",	       "cwd",	       "priority",
	"state",       "reason",       "error",
	"exit_code",   "signal",       "attempt",
	"recoveries",  "max_attempts", "timeout",
	"kill_grace",  "backoff",      "depends_on",
	"unique_key",  "uid",	       "pid",
	"created_at",  "run_at",       "started_at",
	"finished_at", "duration",     "output_truncated",
	"rusage",
};

/* What full_job() stores besides its spec. */
static void
full_job_new(struct store_job_new *j, const struct jobspec *sp)
{
	memset(j, 0, sizeof(*j));
	j->spec = sp;
	j->qid = qdef;
	j->state = JOBD_WAITING;
	j->created_at = T0;
	j->run_at = T0 + 1500;
	j->uid = 1234;
	j->timeout = 30;
	j->kill_grace = 2.5;
	j->max_attempts = 4;
	j->backoff = (struct backoff){2, 3, 60, 0};
	j->deps_left = 1;
}

/* The argv and env of full_job() (new references). */
static json_t *
full_job_argv(void)
{
	return json_pack("[sss]", "sh", "-c", "exit 0");
}

static json_t *
full_job_env(void)
{
	return json_pack("{ss,ss}", "A", "1", "PATH", "/bin");
}

/* A job with every field of the spec set, waiting for dep. */
static int64_t
full_job(int64_t dep)
{
	struct jobspec sp;
	struct store_job_new j;
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = full_job_argv();
	sp.name = strdup("build");
	free(sp.cwd);
	sp.cwd = strdup("/tmp");
	sp.env = full_job_env();
	sp.priority = 7;
	sp.unique_key = strdup("k1");
	sp.output = JOBSPEC_OUTPUT_DISCARD;
	sp.depends_on = malloc(sizeof(*sp.depends_on));
	sp.depends_on[0] = dep;
	sp.ndeps = 1;
	full_job_new(&j, &sp);
	ck_assert_msg(store_job_insert(&j, &id) == 0, "%s", diag_msg());
	jobspec_destroy(&sp);
	ck_assert_int_gt(id, dep);
	return id;
}

START_TEST(store_job_insert_then_brief)
{
	struct store_job_brief b;
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);

	ck_assert_int_eq(store_job_brief(id, &b), 0);
	ck_assert_int_eq(b.id, id);
	ck_assert_int_eq(b.qid, qdef);
	ck_assert_int_eq(b.state, JOBD_WAITING);
	ck_assert_int_eq(b.reason, JOBD_REASON_NONE);
	ck_assert_uint_eq(b.uid, 1234);
	ck_assert_int_eq(b.attempt, 0);
	ck_assert_int_eq(b.max_attempts, 4);
	ck_assert_int_eq(b.run_at, T0 + 1500);
	ck_assert(!b.output_truncated);
}
END_TEST

START_TEST(store_job_json_has_every_key)
{
	int64_t id = full_job(ADD_JOB(.state = JOBD_QUEUED));
	json_t *o = store_job_json(id, false);

	ck_assert_ptr_nonnull(o);
	for (size_t i = 0; i < sizeof(job_keys) / sizeof(job_keys[0]); i++)
		ck_assert_msg(json_object_get(o, job_keys[i]) != NULL,
			      "job object lacks %s", job_keys[i]);
	ck_assert_ptr_null(json_object_get(o, "shell"));
	ck_assert_ptr_null(json_object_get(o, "env"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_fields)
{
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);
	json_t *argv = full_job_argv();
	json_t *o = store_job_json(id, false);

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(jnum(o, "id"), id);
	ck_assert_str_eq(jstr(o, "queue"), "default");
	ck_assert_str_eq(jstr(o, "name"), "build");
	ck_assert(json_equal(json_object_get(o, "argv"), argv));
	ck_assert_str_eq(jstr(o, "cwd"), "/tmp");
	ck_assert_int_eq(jnum(o, "priority"), 7);
	ck_assert_str_eq(jstr(o, "state"), "waiting");
	ck_assert(jnull(o, "reason"));
	ck_assert(jnull(o, "error"));
	ck_assert(jnull(o, "exit_code"));
	ck_assert(jnull(o, "signal"));
	ck_assert_int_eq(jnum(o, "attempt"), 0);
	ck_assert_int_eq(jnum(o, "recoveries"), 0);
	ck_assert_int_eq(jnum(o, "max_attempts"), 4);
	ck_assert_double_eq(jnum(o, "timeout"), 30);
	ck_assert_double_eq(jnum(o, "kill_grace"), 2.5);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "base"), 2);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "factor"), 3);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "max"), 60);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "jitter"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(o, "depends_on")), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(
				 json_object_get(o, "depends_on"), 0)),
			 dep);
	ck_assert_str_eq(jstr(o, "unique_key"), "k1");
	ck_assert_int_eq(jnum(o, "uid"), 1234);
	ck_assert(jnull(o, "pid"));
	ck_assert_str_eq(jstr(o, "created_at"), "2026-01-01T00:00:00.000Z");
	ck_assert_str_eq(jstr(o, "run_at"), "2026-01-01T00:00:01.500Z");
	ck_assert(jnull(o, "started_at"));
	ck_assert(jnull(o, "finished_at"));
	ck_assert(jnull(o, "duration"));
	ck_assert(json_is_false(json_object_get(o, "output_truncated")));
	ck_assert(jnull(o, "rusage"));
	json_decref(o);
	json_decref(argv);
}
END_TEST

/* The env only when asked for; null for a job without one. */
START_TEST(store_job_json_with_env)
{
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);
	json_t *env = full_job_env();
	json_t *o = store_job_json(id, true);

	ck_assert_ptr_nonnull(o);
	ck_assert_msg(json_equal(json_object_get(o, "env"), env),
		      "env differs");
	json_decref(o);
	json_decref(env);

	o = store_job_json(dep, true);
	ck_assert(jnull(o, "env"));
	ck_assert(json_is_array(json_object_get(o, "depends_on")));
	ck_assert_int_eq(json_array_size(json_object_get(o, "depends_on")), 0);
	ck_assert(jnull(o, "unique_key"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_of_a_shell_command)
{
	struct jobspec sp;
	struct store_job_new j;
	int64_t id = 0;
	json_t *o;

	jobspec_init(&sp);
	sp.shell = strdup("echo $HOME");
	full_job_new(&j, &sp);
	j.state = JOBD_QUEUED;
	j.deps_left = 0;
	ck_assert_int_eq(store_job_insert(&j, &id), 0);
	jobspec_destroy(&sp);
	o = store_job_json(id, false);
	ck_assert_str_eq(jstr(o, "shell"), "echo $HOME");
	ck_assert_ptr_null(json_object_get(o, "argv"));
	ck_assert(jnull(o, "name"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_of_no_job)
{
	int64_t id = ADD_JOB(.state = JOBD_QUEUED);

	ck_assert_ptr_null(store_job_json(id + 100, false));
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	assert_gone(id + 100);
}
END_TEST

START_TEST(store_claim_order)
{
	int64_t q2 = add_queue("other");
	int64_t j1 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 300);
	int64_t j2 = ADD_JOB(.state = JOBD_QUEUED, .priority = 5,
			     .run_at = T0 + 500);
	int64_t j3 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 100);
	int64_t j4 = ADD_JOB(.state = JOBD_QUEUED, .priority = 5,
			     .run_at = T0 + 400);
	int64_t j5 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 100);
	int64_t j6 = ADD_JOB(.state = JOBD_QUEUED, .priority = -1,
			     .run_at = T0 - 5000);
	int64_t want[] = {j4, j2, j3, j5, j1, j6};
	int64_t sched = ADD_JOB(.state = JOBD_SCHEDULED, .priority = 1000);
	int64_t wait = ADD_JOB(.state = JOBD_WAITING, .priority = 1000);
	int64_t other =
		ADD_JOB(.qid = q2, .state = JOBD_QUEUED, .priority = 1000);
	struct store_job_run r;

	ck_assert_int_eq(store_job_claim(qdef, T0 + 7000, &r), 0);
	ck_assert_int_eq(r.id, j4);
	ck_assert_int_eq(r.qid, qdef);
	ck_assert_int_eq(r.attempt, 1);
	ck_assert_int_eq(r.max_attempts, 3);
	ck_assert_int_eq(r.recoveries, 0);
	ck_assert_uint_eq(r.uid, 1000);
	ck_assert_ptr_nonnull(r.argv);
	ck_assert_str_eq(json_string_value(json_array_get(r.argv, 0)), "echo");
	ck_assert_ptr_null(r.shell);
	ck_assert_str_eq(r.cwd, "/");
	ck_assert_ptr_null(r.env);
	ck_assert_double_eq(r.timeout, 0);
	ck_assert_double_eq(r.kill_grace, 5);
	ck_assert_double_eq(r.backoff.base, 1);
	ck_assert_double_eq(r.backoff.factor, 2);
	ck_assert_int_eq(r.output, JOBSPEC_OUTPUT_CAPTURE);
	ck_assert_int_eq(r.started_at, T0 + 7000);
	store_job_run_destroy(&r);
	ck_assert_int_eq(brief(j4).state, JOBD_RUNNING);
	ck_assert_int_eq(brief(j4).attempt, 1);

	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_int_eq(claim(qdef, T0 + 7000), want[i]);
	ck_assert_int_eq(store_job_claim(qdef, T0 + 7000, &r), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	ck_assert_int_eq(brief(sched).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(wait).state, JOBD_WAITING);
	ck_assert_int_eq(claim(q2, T0), other);
	ck_assert_int_eq(store_job_claim(q2, T0, &r), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
}
END_TEST

START_TEST(store_job_end_attempt_fields)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	struct store_job_end e;
	json_t *o, *ru;

	ck_assert_int_eq(claim(qdef, T0 + 1000), a);
	ck_assert_int_eq(store_job_set_pid(a, 4242), 0);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "running");
	ck_assert_int_eq(jnum(o, "pid"), 4242);
	ck_assert_int_eq(jnum(o, "attempt"), 1);
	ck_assert_str_eq(jstr(o, "started_at"), "2026-01-01T00:00:01.000Z");
	json_decref(o);

	memset(&e, 0, sizeof(e));
	e.state = JOBD_FAILED;
	e.reason = JOBD_REASON_EXIT;
	e.exit_code = 3;
	e.signal = 0;
	e.error = "boom";
	e.duration = 1.5;
	e.output_truncated = true;
	e.ru_user = 0.25;
	e.ru_sys = 0.125;
	e.max_rss_kb = 2048;
	e.finished_at = T0 + 2500;
	ck_assert_int_eq(store_job_end_attempt(a, &e), 0);
	ck_assert_int_eq(brief(a).state, JOBD_FAILED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_EXIT);
	ck_assert(brief(a).output_truncated);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "failed");
	ck_assert_str_eq(jstr(o, "reason"), "exit");
	ck_assert_int_eq(jnum(o, "exit_code"), 3);
	ck_assert(jnull(o, "signal"));
	ck_assert_str_eq(jstr(o, "error"), "boom");
	ck_assert_double_eq(jnum(o, "duration"), 1.5);
	ck_assert(json_is_true(json_object_get(o, "output_truncated")));
	ck_assert(jnull(o, "pid"));
	ck_assert_int_eq(jnum(o, "attempt"), 1);
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:02.500Z");
	ru = json_object_get(o, "rusage");
	ck_assert(json_is_object(ru));
	ck_assert_double_eq(jnum(ru, "user"), 0.25);
	ck_assert_double_eq(jnum(ru, "system"), 0.125);
	ck_assert_int_eq(jnum(ru, "max_rss_kb"), 2048);
	json_decref(o);

	/* A failed attempt with attempts left: scheduled, not finished. */
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0 + 1000), b);
	memset(&e, 0, sizeof(e));
	e.state = JOBD_SCHEDULED;
	e.reason = JOBD_REASON_SIGNAL;
	e.exit_code = -1;
	e.signal = 9;
	e.duration = -1;
	e.run_at = T0 + 60000;
	ck_assert_int_eq(store_job_end_attempt(b, &e), 0);
	ck_assert_int_eq(brief(b).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(b).run_at, T0 + 60000);
	ck_assert_int_eq(brief(b).attempt, 1);
	o = store_job_json(b, false);
	ck_assert_str_eq(jstr(o, "reason"), "signal");
	ck_assert_int_eq(jnum(o, "signal"), 9);
	ck_assert(jnull(o, "exit_code"));
	ck_assert(jnull(o, "duration"));
	ck_assert(jnull(o, "finished_at"));
	ck_assert(jnull(o, "error"));
	ck_assert_str_eq(jstr(o, "run_at"), "2026-01-01T00:01:00.000Z");
	json_decref(o);

	/* Interrupted: back to queued, the attempt given back. */
	int64_t c = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0 + 1000), c);
	memset(&e, 0, sizeof(e));
	e.state = JOBD_QUEUED;
	e.reason = JOBD_REASON_INTERRUPTED;
	e.exit_code = -1;
	e.duration = 0.5;
	e.attempt_delta = -1;
	ck_assert_int_eq(store_job_end_attempt(c, &e), 0);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).reason, JOBD_REASON_INTERRUPTED);
	ck_assert_int_eq(brief(c).attempt, 0);
	ck_assert_int_eq(brief(c).run_at, T0);
	/* And it is claimable again, as attempt 1. */
	ck_assert_int_eq(claim(qdef, T0 + 2000), c);
	ck_assert_int_eq(brief(c).attempt, 1);
}
END_TEST

START_TEST(store_set_state_and_retry)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	json_t *o;

	ck_assert_int_eq(store_job_set_state(a, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0 + 5000),
			 0);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "cancelled");
	ck_assert_str_eq(jstr(o, "reason"), "cancelled");
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:05.000Z");
	json_decref(o);
	ck_assert_int_eq(store_job_retry(a, T0 + 9000), 0);
	ck_assert_int_eq(brief(a).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_NONE);
	ck_assert_int_eq(brief(a).attempt, 0);
	ck_assert_int_eq(brief(a).run_at, T0 + 9000);
	o = store_job_json(a, false);
	ck_assert(jnull(o, "finished_at"));
	json_decref(o);
}
END_TEST

START_TEST(store_promote_due_and_next_due)
{
	int64_t s1 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 100);
	int64_t s3 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 300);
	int64_t s2 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 200);
	int64_t w = ADD_JOB(.state = JOBD_WAITING, .run_at = T0 + 50);
	struct changes ch;
	const struct change *c;
	int64_t due = 0;

	ck_assert_int_eq(store_job_next_due(&due), 0);
	ck_assert_int_eq(due, T0 + 100);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_promote_due(T0 + 99, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 0);
	ck_assert_int_eq(store_job_promote_due(T0 + 200, record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 2);
	for (int i = 0; i < 2; i++) {
		c = change_of(&ch, i == 0 ? s1 : s2);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->qid, qdef);
		ck_assert_int_eq(c->from, JOBD_SCHEDULED);
		ck_assert_int_eq(c->to, JOBD_QUEUED);
	}
	ck_assert_int_eq(brief(s1).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(s2).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(s3).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(w).state, JOBD_WAITING);
	ck_assert_int_eq(store_job_next_due(&due), 0);
	ck_assert_int_eq(due, T0 + 300);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_promote_due(T0 + 1000, record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	ck_assert_int_eq(ch.c[0].id, s3);
	due = 77;
	ck_assert_int_eq(store_job_next_due(&due), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	ck_assert_int_eq(brief(w).state, JOBD_WAITING);
}
END_TEST

/* ---- dependencies ---- */

START_TEST(store_deps_success_releases_dependents)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	int64_t ab[] = {a, b};
	int64_t c = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 2,
			    .deps_left = 2);
	int64_t d = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 1,
			    .deps_left = 1, .run_at = T0 + 60000);
	int64_t e = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 1,
			    .deps_left = 1);
	struct changes ch;
	const struct change *x;

	/* e was cancelled meanwhile: a success must not revive it. */
	ck_assert_int_eq(store_job_set_state(e, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);
	ck_assert_int_eq(store_job_set_state(a, JOBD_SUCCEEDED,
					     JOBD_REASON_NONE, T0 + 10),
			 0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(a, true, T0 + 10,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	x = change_of(&ch, d);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->from, JOBD_WAITING);
	ck_assert_int_eq(x->to, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(d).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(c).state, JOBD_WAITING);
	ck_assert_int_eq(brief(e).state, JOBD_CANCELLED);

	ck_assert_int_eq(store_job_set_state(b, JOBD_SUCCEEDED,
					     JOBD_REASON_NONE, T0 + 20),
			 0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(b, true, T0 + 20,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	x = change_of(&ch, c);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->qid, qdef);
	ck_assert_int_eq(x->from, JOBD_WAITING);
	ck_assert_int_eq(x->to, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).reason, JOBD_REASON_NONE);
	ck_assert_int_eq(claim(qdef, T0 + 30), c);
}
END_TEST

START_TEST(store_deps_failure_cascades)
{
	int64_t y = ADD_JOB(.state = JOBD_QUEUED);
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_WAITING, .deps = &a, .ndeps = 1,
			    .deps_left = 1);
	int64_t c = ADD_JOB(.state = JOBD_WAITING, .deps = &b, .ndeps = 1,
			    .deps_left = 1);
	int64_t d = ADD_JOB(.state = JOBD_WAITING, .deps = &c, .ndeps = 1,
			    .deps_left = 1);
	int64_t ay[] = {a, y};
	int64_t x = ADD_JOB(.state = JOBD_WAITING, .deps = ay, .ndeps = 2,
			    .deps_left = 2);
	int64_t bx[] = {b, x};
	int64_t dia = ADD_JOB(.state = JOBD_WAITING, .deps = bx, .ndeps = 2,
			      .deps_left = 2);
	int64_t z = ADD_JOB(.state = JOBD_WAITING, .deps = &y, .ndeps = 1,
			    .deps_left = 1);
	int64_t gone[] = {b, c, d, x, dia};
	struct changes ch;
	json_t *o;

	ck_assert_int_eq(
		store_job_set_state(a, JOBD_FAILED, JOBD_REASON_EXIT, T0 + 10),
		0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(a, false, T0 + 10,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 5);
	for (size_t i = 0; i < 5; i++) {
		const struct change *k = change_of(&ch, gone[i]);

		ck_assert_msg(k != NULL, "job %lld not reported",
			      (long long)gone[i]);
		ck_assert_int_eq(k->from, JOBD_WAITING);
		ck_assert_int_eq(k->to, JOBD_CANCELLED);
		ck_assert_int_eq(brief(gone[i]).state, JOBD_CANCELLED);
		ck_assert_int_eq(brief(gone[i]).reason,
				 JOBD_REASON_DEPENDENCY_FAILED);
		o = store_job_json(gone[i], false);
		ck_assert_str_eq(jstr(o, "reason"), "dependency_failed");
		ck_assert_str_eq(jstr(o, "finished_at"),
				 "2026-01-01T00:00:00.010Z");
		json_decref(o);
	}
	ck_assert_int_eq(brief(z).state, JOBD_WAITING);
	ck_assert_int_eq(brief(y).state, JOBD_QUEUED);
}
END_TEST

START_TEST(store_check_deps)
{
	int64_t q = ADD_JOB(.state = JOBD_QUEUED);
	int64_t s = ADD_JOB(.state = JOBD_QUEUED);
	int64_t f = ADD_JOB(.state = JOBD_QUEUED);
	int64_t x = ADD_JOB(.state = JOBD_QUEUED);
	int64_t o = ADD_JOB(.state = JOBD_QUEUED, .uid = 2000);
	int64_t ids[3];
	int64_t missing = -1;
	bool failed = true;
	int left = -1;

	ck_assert_int_eq(store_job_set_state(s, JOBD_SUCCEEDED, 0, T0), 0);
	ck_assert_int_eq(
		store_job_set_state(f, JOBD_FAILED, JOBD_REASON_EXIT, T0), 0);
	ck_assert_int_eq(store_job_set_state(x, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);

	ck_assert_int_eq(
		store_job_check_deps(NULL, 0, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert(!failed);
	ck_assert_int_eq(left, 0);

	ids[0] = s;
	ids[1] = q;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert(!failed);
	ck_assert_int_eq(left, 1);

	ids[0] = s;
	ids[1] = f;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert(failed);
	ck_assert_int_eq(left, 0);
	ids[0] = x;
	ck_assert_int_eq(
		store_job_check_deps(ids, 1, -1, &missing, &failed, &left), 0);
	ck_assert(failed);
	ck_assert_int_eq(missing, 0);

	ids[0] = q;
	ids[1] = x + 1000;
	ids[2] = s;
	ck_assert_int_eq(
		store_job_check_deps(ids, 3, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, x + 1000);

	/* Another user's job counts as missing under a uid filter. */
	ids[0] = q;
	ids[1] = o;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, 1000, &missing, &failed, &left),
		0);
	ck_assert_int_eq(missing, o);
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(left, 2);
	ck_assert_int_eq(
		store_job_check_deps(&o, 1, 2000, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(left, 1);
}
END_TEST

/* ---- unique keys ---- */

START_TEST(store_unique_key_held_while_live)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED, .key = "k");
	int64_t b = 0, found = 0;

	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(found, a);
	ck_assert_int_eq(
		try_add_job(&(struct jopt){.state = JOBD_QUEUED, .key = "k"},
			    &b),
		-1);
	ck_assert_int_eq(diag_code(), E_CONFLICT);
	ck_assert_int_eq(store_job_find_unique("other", 1000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	/* Jobs without a key never conflict. */
	ADD_JOB(.state = JOBD_QUEUED);
	ADD_JOB(.state = JOBD_QUEUED);

	/* Running still holds it; terminal frees it. */
	ck_assert_int_eq(claim(qdef, T0), a);
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(store_job_set_state(a, JOBD_SUCCEEDED, 0, T0), 0);
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	b = ADD_JOB(.state = JOBD_SCHEDULED, .key = "k");
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(found, b);
	/* Keys are per user: another user's live job neither answers nor
	 * conflicts. */
	ck_assert_int_eq(store_job_find_unique("k", 2000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	int64_t c = ADD_JOB(.state = JOBD_QUEUED, .key = "k", .uid = 2000);
	ck_assert_int_eq(store_job_find_unique("k", 2000, &found), 0);
	ck_assert_int_eq(found, c);
}
END_TEST

/* ---- recovery ---- */

START_TEST(store_recover_running_jobs)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED, .priority = 10);
	int64_t idle = ADD_JOB(.state = JOBD_QUEUED);
	struct changes ch;
	json_t *o;

	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(claim(qdef, T0 + i), a);
		ck_assert_int_eq(brief(a).attempt, 1);
		memset(&ch, 0, sizeof(ch));
		ck_assert_int_eq(
			store_job_recover(T0 + 100, 3, record_change, &ch), 0);
		ck_assert_int_eq(ch.n, 1);
		ck_assert_int_eq(ch.c[0].id, a);
		ck_assert_int_eq(ch.c[0].qid, qdef);
		ck_assert_int_eq(ch.c[0].from, JOBD_RUNNING);
		ck_assert_int_eq(ch.c[0].to, JOBD_QUEUED);
		ck_assert_int_eq(brief(a).state, JOBD_QUEUED);
		ck_assert_int_eq(brief(a).reason, JOBD_REASON_RECOVERED);
		ck_assert_int_eq(brief(a).attempt, 0);
		o = store_job_json(a, false);
		ck_assert_int_eq(jnum(o, "recoveries"), i);
		ck_assert_str_eq(jstr(o, "reason"), "recovered");
		ck_assert(jnull(o, "finished_at"));
		ck_assert(jnull(o, "pid"));
		json_decref(o);
	}
	/* Recovered more than 3 times: failed. */
	ck_assert_int_eq(claim(qdef, T0 + 4), a);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_recover(T0 + 200, 3, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 1);
	ck_assert_int_eq(ch.c[0].to, JOBD_FAILED);
	ck_assert_int_eq(brief(a).state, JOBD_FAILED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_RECOVERY_LIMIT);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "reason"), "recovery_limit");
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:00.200Z");
	json_decref(o);
	ck_assert_int_eq(brief(idle).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(idle).reason, JOBD_REASON_NONE);
	/* Nothing running: nothing to do. */
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_recover(T0 + 300, 3, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 0);
}
END_TEST

START_TEST(store_job_max_id_is_the_highest)
{
	int64_t a, b;

	ck_assert_int_eq(store_job_max_id(), 0);
	a = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_job_max_id(), a);
	b = ADD_JOB(.state = JOBD_WAITING);
	ck_assert_int_gt(b, a);
	ck_assert_int_eq(store_job_max_id(), b);
	ck_assert(commit_now());
	ck_assert_int_eq(store_job_max_id(), b);
}
END_TEST

struct pids {
	int64_t id[8];
	int pid[8];
	int n;
};

static void
record_pid(int64_t id, int pid, void *arg)
{
	struct pids *p = arg;

	if (p->n < 8) {
		p->id[p->n] = id;
		p->pid[p->n] = pid;
	}
	p->n++;
}

/* Only running jobs with a recorded pid: what a restart must kill. */
START_TEST(store_running_pids_are_the_running_jobs_with_a_pid)
{
	struct pids p;
	int64_t a, b, c;

	a = ADD_JOB(.state = JOBD_QUEUED);
	b = ADD_JOB(.state = JOBD_QUEUED);
	c = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0), a);
	ck_assert_int_eq(claim(qdef, T0), b);
	ck_assert_int_eq(store_job_set_pid(a, 4242), 0);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_job_running_pids(record_pid, &p), 0);
	ck_assert_int_eq(p.n, 1);
	ck_assert_int_eq(p.id[0], a);
	ck_assert_int_eq(p.pid[0], 4242);

	/* A job that ended has no pid any more. */
	ck_assert_int_eq(store_job_set_pid(b, 4343), 0);
	ck_assert_int_eq(store_job_set_state(a, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_job_running_pids(record_pid, &p), 0);
	ck_assert_int_eq(p.n, 1);
	ck_assert_int_eq(p.id[0], b);
	ck_assert_int_eq(p.pid[0], 4343);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
}
END_TEST

/* ---- pruning ---- */

struct pruned {
	int64_t id[16], qid[16];
	int state[16];
	int n;
};

static void
record_prune(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	struct pruned *p = arg;

	(void)attempts;
	if (p->n < 16) {
		p->id[p->n] = id;
		p->qid[p->n] = qid;
		p->state[p->n] = state;
	}
	p->n++;
}

START_TEST(store_prune_only_old_terminal_jobs)
{
	int64_t q2 = add_queue("other");
	int64_t run = ADD_JOB(.state = JOBD_QUEUED);
	int64_t a, b, c, f, g, n = -1;
	struct pruned p;
	char sql[128];

	ck_assert_int_eq(claim(qdef, T0), run);
	a = ADD_JOB(.state = JOBD_QUEUED);
	b = ADD_JOB(.state = JOBD_QUEUED);
	c = ADD_JOB(.state = JOBD_QUEUED);
	f = ADD_JOB(.qid = q2, .state = JOBD_QUEUED);
	/* g is stored cancelled (as when a dependency already failed): it
	 * finished when it was created, at T0. */
	g = ADD_JOB(.state = JOBD_CANCELLED, .deps = &b, .ndeps = 1,
		    .deps_left = 1);
	ck_assert_int_eq(store_job_set_state(a, JOBD_SUCCEEDED, 0, T0 + 1000),
			 0);
	ck_assert_int_eq(store_job_set_state(b, JOBD_FAILED, JOBD_REASON_EXIT,
					     T0 + 2000),
			 0);
	ck_assert_int_eq(store_job_set_state(f, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0 + 1200),
			 0);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, qdef, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(p.n, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert(p.id[i] == a || p.id[i] == g);
		ck_assert_int_eq(p.qid[i], qdef);
		ck_assert_int_eq(p.state[i], p.id[i] == a ? JOBD_SUCCEEDED
							  : JOBD_CANCELLED);
	}
	assert_gone(a);
	assert_gone(g);
	ck_assert_int_eq(brief(f).state, JOBD_CANCELLED);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(p.id[0], f);
	ck_assert_int_eq(p.qid[0], q2);
	assert_gone(f);
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 0);

	/* Not terminal, or too recent: kept. */
	ck_assert_int_eq(brief(b).state, JOBD_FAILED);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(run).state, JOBD_RUNNING);
	ck_assert(commit_now());
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM deps WHERE job_id = "
		 "%lld",
		 (long long)g);
	ck_assert_int_eq(peek_int(sql), 0);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 3);
}
END_TEST

/* A big prune goes in chunks: each call deletes at most its limit, the
 * oldest first, and says when none is left. */
START_TEST(store_prune_in_chunks)
{
	int64_t id[5], n = -1;
	struct pruned p;
	for (int i = 0; i < 5; i++) {
		id[i] = ADD_JOB(.state = JOBD_QUEUED);
		ck_assert_int_eq(store_job_set_state(id[i], JOBD_CANCELLED,
						     JOBD_REASON_CANCELLED,
						     T0 + 100 * (i + 1)),
				 0);
	}
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_job_prune(T0 + 1000, -1, 2, record_prune, &p,
					 &n),
			 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_job_prune(T0 + 1000, -1, 2, record_prune, &p,
					 &n),
			 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_job_prune(T0 + 1000, -1, 2, record_prune, &p,
					 &n),
			 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(p.n, 5);
	for (int i = 0; i < 5; i++)
		assert_gone(id[i]);
}
END_TEST

/* ---- held changes ---- */

/* A held transaction is not committed, however hard it is asked; it
 * commits once the hold ends. */
START_TEST(store_hold_keeps_the_transaction_open)
{
	ck_assert_int_eq(store_hold(), 0);
	ck_assert(store_held());
	int64_t id = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(!commit_now());
	ck_assert(store_txn_open());
	store_unhold();
	ck_assert(!store_held());
	ck_assert(commit_now());
	ck_assert(!store_txn_open());
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
}
END_TEST

/* A held change that failed half written takes the whole group
 * transaction down with it: nothing of it commits. */
START_TEST(store_abort_rolls_the_transaction_back)
{
	int64_t before = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(commit_now());
	ck_assert_int_eq(store_hold(), 0);
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	store_spill();
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	store_abort();
	/* Rolled back at once: nothing is left to commit. */
	ck_assert(!store_txn_open());
	store_unhold();
	assert_gone(a);
	assert_gone(b);
	ck_assert_int_eq(brief(before).state, JOBD_QUEUED);
	/* The next transaction commits as usual. */
	int64_t c = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(commit_now());
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
}
END_TEST

/* Between slices, a held change's pages go to the WAL uncommitted: the
 * WAL grows, another connection sees none of it, the commit shows all. */
START_TEST(store_spill_writes_the_held_change_to_the_wal)
{
	int64_t db_bytes, wal_before, wal_held, wal_spilled;

	ck_assert(commit_now());
	store_sizes(&db_bytes, &wal_before);
	ck_assert_int_eq(store_hold(), 0);
	for (int i = 0; i < 500; i++)
		ADD_JOB(.state = JOBD_QUEUED);
	store_sizes(&db_bytes, &wal_held);
	ck_assert_int_eq(wal_held, wal_before);
	store_spill();
	store_sizes(&db_bytes, &wal_spilled);
	ck_assert_int_gt(wal_spilled, wal_before);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 0);
	ck_assert(store_txn_open());
	store_unhold();
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 500);
}
END_TEST

/* Nothing is open: a spill does nothing, and opens nothing. */
START_TEST(store_spill_without_a_transaction)
{
	ck_assert(commit_now());
	store_spill();
	ck_assert(!store_txn_open());
	ck_assert(!store_flush(NULL));
}
END_TEST

/* ---- environments ---- */

START_TEST(store_env_dedupe)
{
	json_t *env = json_pack("{ss,ss,ss}", "PATH", "/bin", "HOME", "/root",
				"USER", "root");
	json_t *reordered = json_pack("{ss,ss,ss}", "USER", "root", "HOME",
				      "/root", "PATH", "/bin");
	struct store_job_run r;
	int64_t first = 0, last;
	json_t *o;

	for (int i = 0; i < 1000; i++) {
		int64_t id = ADD_JOB(.state = JOBD_QUEUED,
				     .env = i % 2 ? reordered : env);
		if (first == 0)
			first = id;
	}
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 1000);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM envs"), 1);
	ck_assert_int_eq(peek_int("SELECT count(DISTINCT env_id) FROM jobs"),
			 1);

	ck_assert_int_eq(store_job_claim(qdef, T0, &r), 0);
	ck_assert_int_eq(r.id, first);
	ck_assert_ptr_nonnull(r.env);
	ck_assert(json_equal(r.env, env));
	store_job_run_destroy(&r);

	/* More environments than the store's cache holds, then the first
	 * again: still found, not stored twice. */
	for (int i = 0; i < 20; i++) {
		char v[16];
		json_t *e;

		snprintf(v, sizeof(v), "%d", i);
		e = json_pack("{ss}", "N", v);
		ADD_JOB(.state = JOBD_QUEUED, .env = e);
		json_decref(e);
	}
	last = ADD_JOB(.state = JOBD_QUEUED, .env = env);
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM envs"), 21);
	o = store_job_json(last, true);
	ck_assert(json_equal(json_object_get(o, "env"), env));
	json_decref(o);
	json_decref(env);
	json_decref(reordered);
}
END_TEST

/* ---- savepoints ---- */

START_TEST(store_savepoint_rollback_undoes_only_its_own)
{
	json_t *e2 = json_pack("{ss}", "ONLY", "in-savepoint");
	int64_t a, b, c, d, e;
	json_t *o;

	a = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_savepoint(), 0);
	b = ADD_JOB(.state = JOBD_QUEUED, .env = e2);
	c = ADD_JOB(.state = JOBD_QUEUED, .key = "sp");
	store_rollback();
	ck_assert_int_eq(brief(a).state, JOBD_QUEUED);
	assert_gone(b);
	assert_gone(c);

	/* The environment stored inside the savepoint went with it; using
	 * it again must store it again. */
	d = ADD_JOB(.state = JOBD_QUEUED, .env = e2, .key = "sp");
	o = store_job_json(d, true);
	ck_assert_msg(json_equal(json_object_get(o, "env"), e2),
		      "env of job %lld lost after a rollback", (long long)d);
	json_decref(o);

	ck_assert_int_eq(store_savepoint(), 0);
	e = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_release(), 0);
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 3);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM envs"), 1);
	ck_assert_int_eq(brief(e).state, JOBD_QUEUED);
	json_decref(e2);
}
END_TEST

/* ---- counts and lists ---- */

struct counts {
	int64_t n[2][JOBD_STATE_COUNT];
	int64_t q2;
};

static void
record_count(int64_t qid, int state, int64_t n, void *arg)
{
	struct counts *c = arg;

	if (state >= 0 && state < JOBD_STATE_COUNT)
		c->n[qid == c->q2][state] += n;
}

START_TEST(store_counts_and_list)
{
	struct counts c;
	struct store_job_filter f;
	int64_t q2 = add_queue("other");
	int64_t ids[6], next = -1;
	json_t *arr;

	for (int i = 0; i < 4; i++)
		ids[i] = ADD_JOB(.state = JOBD_QUEUED);
	ids[4] = ADD_JOB(.qid = q2, .state = JOBD_SCHEDULED, .uid = 7);
	ids[5] = ADD_JOB(.state = JOBD_WAITING);
	memset(&c, 0, sizeof(c));
	c.q2 = q2;
	ck_assert_int_eq(store_count_each(record_count, &c), 0);
	ck_assert_int_eq(c.n[0][JOBD_QUEUED], 4);
	ck_assert_int_eq(c.n[0][JOBD_WAITING], 1);
	ck_assert_int_eq(c.n[1][JOBD_SCHEDULED], 1);
	ck_assert_int_eq(c.n[1][JOBD_QUEUED], 0);

	memset(&f, 0, sizeof(f));
	f.qid = qdef;
	f.state_mask = 1u << JOBD_QUEUED;
	f.limit = 3;
	f.uid = -1;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 3);
	ck_assert_int_eq(next, ids[2]);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[0]);
	f.after_id = next;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 4);
	ck_assert_int_eq(jnum(json_array_get(arr, 3), "id"), ids[3]);
	ck_assert_int_eq(next, 0);
	json_decref(arr);

	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.limit = 100;
	f.uid = 7;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 1);
	ck_assert_str_eq(jstr(json_array_get(arr, 0), "queue"), "other");
	json_decref(arr);
}
END_TEST

/* Newest first: descending pages, before_id as the cursor, and the
 * running-jobs statement the same way. */
START_TEST(store_list_newest_first)
{
	struct store_job_filter f;
	int64_t ids[5], next = -1;
	json_t *arr;

	for (int i = 0; i < 5; i++)
		ids[i] = ADD_JOB(.state = i == 1 || i == 3 ? JOBD_RUNNING
							   : JOBD_QUEUED);
	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.uid = -1;
	f.limit = 2;
	f.desc = true;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 2);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[4]);
	ck_assert_int_eq(jnum(json_array_get(arr, 1), "id"), ids[3]);
	ck_assert_int_eq(next, ids[3]);
	f.before_id = next;
	f.limit = 10;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 5);
	ck_assert_int_eq(jnum(json_array_get(arr, 2), "id"), ids[2]);
	ck_assert_int_eq(jnum(json_array_get(arr, 4), "id"), ids[0]);
	ck_assert_int_eq(next, 0);
	json_decref(arr);

	/* Ascending with both bounds. */
	f.desc = false;
	f.after_id = ids[0];
	f.before_id = ids[4];
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 3);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[1]);
	json_decref(arr);

	/* The running jobs, newest first. */
	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.uid = -1;
	f.limit = 1;
	f.state_mask = 1u << JOBD_RUNNING;
	f.desc = true;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 1);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[3]);
	f.before_id = next;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(jnum(json_array_get(arr, 1), "id"), ids[1]);
	json_decref(arr);
}
END_TEST

/* ---- group commit ---- */

START_TEST(store_flush_commits_the_group)
{
	int64_t id;

	ck_assert(commit_now());       /* the queue of the fixture */
	ck_assert(!store_flush(NULL)); /* nothing open */
	id = ADD_JOB(.state = JOBD_QUEUED);
	ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(store_txn_open());
	/* Nobody waits and the transaction is fresh: it stays open a few
	 * ms for company. */
	ck_assert(!store_flush(NULL));
	ck_assert(store_txn_open());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 0);
	ck_assert(commit_now());
	ck_assert(!store_txn_open());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 2);
	ck_assert(!store_flush(NULL));
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
}
END_TEST

/* ---- transaction hooks and commits outside the loop ---- */

struct hook_log {
	int calls[2];	/* [committed] */
	bool jobs_seen;	/* the last call saw the job still readable */
	int64_t id;	/* a job written in the transaction */
};

static void
log_hook(bool committed, void *arg)
{
	struct hook_log *h = arg;
	struct store_job_brief b;

	h->calls[committed]++;
	h->jobs_seen = h->id != 0 && store_job_brief(h->id, &b) == 0;
}

/* A rollback of the whole group transaction is told to the hooks, and
 * by then the rows are gone; a savepoint's rollback is no transaction's
 * end and tells no one. */
START_TEST(store_hooks_hear_of_a_rollback)
{
	struct hook_log h;

	memset(&h, 0, sizeof(h));
	ck_assert(commit_now());
	store_add_txn_hook(log_hook, &h);
	ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_savepoint(), 0);
	ADD_JOB(.state = JOBD_QUEUED);
	store_rollback();
	ck_assert_int_eq(h.calls[0], 0);
	ck_assert_int_eq(h.calls[1], 0);
	h.id = ADD_JOB(.state = JOBD_QUEUED);
	store_abort();
	ck_assert_int_eq(h.calls[0], 1);
	ck_assert_int_eq(h.calls[1], 0);
	ck_assert(!h.jobs_seen);
	/* Nothing open: no second rollback, no call. */
	store_abort();
	ck_assert_int_eq(h.calls[0], 1);
	h.id = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert(commit_now());
	ck_assert_int_eq(h.calls[1], 1);
	ck_assert(h.jobs_seen);
}
END_TEST

START_TEST(store_commit_now_commits_at_once)
{
	struct hook_log h;
	int64_t id;

	memset(&h, 0, sizeof(h));
	store_add_txn_hook(log_hook, &h);
	id = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert(!store_txn_open());
	ck_assert_int_eq(h.calls[1], 1);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 1);
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
	/* Nothing open: nothing to do. */
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(h.calls[1], 1);
}
END_TEST

START_TEST(store_commit_now_reports_a_failed_commit)
{
	struct hook_log h;
	int64_t id;

	ck_assert(commit_now());
	memset(&h, 0, sizeof(h));
	store_add_txn_hook(log_hook, &h);
	id = ADD_JOB(.state = JOBD_QUEUED);
	store_fail_next_commit = true;
	ck_assert_int_eq(store_commit_now(), -1);
	ck_assert_int_eq(diag_code(), E_DB);
	ck_assert_msg(strstr(diag_msg(), "store: commit failed: ") != NULL,
		      "%s", diag_msg());
	ck_assert(!store_txn_open());
	ck_assert_int_eq(h.calls[0], 1);
	ck_assert_int_eq(h.calls[1], 0);
	assert_gone(id);
	/* The next one commits. */
	id = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
}
END_TEST

/* A commit nobody asked to be durable leaves an fsync owed, which a
 * durable request pays; store_make_durable() pays it at once. */
START_TEST(store_make_durable_pays_the_owed_fsync)
{
	ck_assert(commit_now());
	ADD_JOB(.state = JOBD_QUEUED);
	store_request_commit(false);
	ck_assert(store_flush(NULL));	/* the commit */
	ck_assert(!store_flush(NULL));	/* nobody needs the fsync yet */
	store_request_commit(true);
	ck_assert(store_flush(NULL));	/* the fsync */

	ADD_JOB(.state = JOBD_QUEUED);
	store_request_commit(false);
	ck_assert(store_flush(NULL));
	ck_assert_int_eq(store_make_durable(), 0);
	store_request_commit(true);
	ck_assert(!store_flush(NULL));	/* nothing left owed */
}
END_TEST

/* The commit tests run a real loop with store_flush as its hook. */
static void
commit_setup(void)
{
	loopfix_reset();
	store_setup();
	loop_add_flush(store_flush, NULL, "store.commit");
}

static int64_t
co_add_job(const json_t *env)
{
	int64_t id = 0;

	CO_EXPECT(try_add_job(&(struct jopt){.state = JOBD_QUEUED, .env = env},
			      &id) == 0);
	return id;
}

static void
spy_f(void *arg)
{
	*(bool *)arg = true;
}

struct sync_arg {
	int64_t id;
	bool spy_ran;
};

static void
sync_main_f(void *arg)
{
	struct sync_arg *a = arg;
	struct coro *spy;

	CO_EXPECT(store_sync() == 0); /* the fixture's queue */
	CO_EXPECT(peek_int("SELECT count(*) FROM queues") == 1);
	a->id = co_add_job(NULL);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 1);

	/* Nothing open: returns at once, without yielding. */
	spy = coro_spawn("spy", spy_f, &a->spy_ran);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(!a->spy_ran);
	coro_join(spy);
}

START_TEST(store_sync_waits_for_the_commit)
{
	struct sync_arg a;

	memset(&a, 0, sizeof(a));
	loopfix_run(sync_main_f, &a);
	ck_assert_int_gt(a.id, 0);
	ck_assert(a.spy_ran);
}
END_TEST

struct multi_arg {
	int rc[3];
};

struct writer {
	struct multi_arg *m;
	int idx;
};

static void
writer_f(void *arg)
{
	struct writer *w = arg;

	co_add_job(NULL);
	w->m->rc[w->idx] = store_sync();
}

static void
multi_main_f(void *arg)
{
	struct multi_arg *m = arg;
	struct writer w[3] = {{m, 0}, {m, 1}, {m, 2}};
	struct coro *c[3];

	for (int i = 0; i < 3; i++)
		c[i] = coro_spawn("writer", writer_f, &w[i]);
	for (int i = 0; i < 3; i++)
		coro_join(c[i]);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 3);
}

/* A write nobody waits for is committed a few ms later by itself. */
static void
delayed_main_f(void *arg)
{
	int64_t *counts = arg;
	struct coro *self = coro_self();

	CO_EXPECT(store_sync() == 0);
	co_add_job(NULL);
	coro_wakeup(self);
	coro_yield(); /* the flush hook ran meanwhile */
	counts[0] = peek_int("SELECT count(*) FROM jobs");
	CO_EXPECT(await_sleep(0.1) == 0);
	counts[1] = peek_int("SELECT count(*) FROM jobs");
	CO_EXPECT(!store_txn_open());
}

START_TEST(store_unawaited_write_commits_soon)
{
	int64_t counts[2] = {-1, -1};

	loopfix_run(delayed_main_f, counts);
	ck_assert_int_eq(counts[0], 0);
	ck_assert_int_eq(counts[1], 1);
}
END_TEST

START_TEST(store_sync_many_writers_one_commit)
{
	struct multi_arg m = {{9, 9, 9}};

	loopfix_run(multi_main_f, &m);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(m.rc[i], 0);
}
END_TEST

struct crash_safe_arg {
	int64_t seen;
	int ok_rc, failed_rc, code;
};

static void
crash_safe_main_f(void *arg)
{
	struct crash_safe_arg *a = arg;

	CO_EXPECT(store_sync() == 0);
	co_add_job(NULL);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 0);
	a->ok_rc = store_sync_crash_safe();
	a->seen = peek_int("SELECT count(*) FROM jobs");
	co_add_job(NULL);
	store_fail_next_commit = true;
	a->failed_rc = store_sync_crash_safe();
	a->code = diag_code();
}

/* A claim waits for its commit, not for an fsync, and learns of a lost
 * commit as store_sync() does. */
START_TEST(store_sync_crash_safe_waits_for_the_commit)
{
	struct crash_safe_arg a = {-1, 9, 9, 0};

	loopfix_run(crash_safe_main_f, &a);
	ck_assert_int_eq(a.ok_rc, 0);
	ck_assert_int_eq(a.seen, 1);
	ck_assert_int_eq(a.failed_rc, -1);
	ck_assert_int_eq(a.code, E_DB);
}
END_TEST

struct fail_arg {
	int64_t lost, kept;
	int rc, code;
	json_t *env;
};

static void
fail_main_f(void *arg)
{
	struct fail_arg *a = arg;
	struct store_job_brief b;

	CO_EXPECT(store_sync() == 0);
	a->lost = co_add_job(a->env);
	store_fail_next_commit = true;
	a->rc = store_sync();
	a->code = diag_code();
	CO_EXPECT(!store_fail_next_commit);
	CO_EXPECT(store_job_brief(a->lost, &b) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 0);
	CO_EXPECT(peek_int("SELECT count(*) FROM envs") == 0);

	/* The hook fails one commit only; the same env is stored anew. */
	a->kept = co_add_job(a->env);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 1);
	CO_EXPECT(peek_int("SELECT count(*) FROM envs") == 1);
}

START_TEST(store_failed_commit_fails_sync)
{
	struct fail_arg a;
	json_t *o;

	memset(&a, 0, sizeof(a));
	a.rc = 99;
	a.env = json_pack("{ss}", "K", "v");
	loopfix_run(fail_main_f, &a);
	ck_assert_int_eq(a.rc, -1);
	ck_assert_int_eq(a.code, E_DB);
	ck_assert_int_eq(brief(a.kept).state, JOBD_QUEUED);
	o = store_job_json(a.kept, true);
	ck_assert_msg(json_equal(json_object_get(o, "env"), a.env),
		      "env lost after a failed commit");
	json_decref(o);
	json_decref(a.env);
}
END_TEST

/* ---- failures: locked database, lost commits ---- */

static void
failed_cause_main_f(void *arg)
{
	char *msg = arg;

	co_add_job(NULL);
	store_fail_next_commit = true;
	CO_EXPECT(store_sync() == -1);
	CO_EXPECT(diag_code() == E_DB);
	snprintf(msg, 256, "%s", diag_msg());
}

START_TEST(store_failed_commit_names_its_cause)
{
	char msg[256] = "";

	loopfix_run(failed_cause_main_f, msg);
	ck_assert_msg(strstr(msg, "store: commit failed: database or disk "
				  "is full") != NULL,
		      "%s", msg);
}
END_TEST

struct late_arg {
	int writer_rc, reader_rc, next_rc;
};

static void
late_main_f(void *arg)
{
	struct late_arg *a = arg;

	CO_EXPECT(store_sync() == 0);
	co_add_job(NULL);
	store_fail_next_commit = true;
	/* The transaction fails on its own timer, before this sync. */
	CO_EXPECT(await_sleep(0.05) == 0);
	CO_EXPECT(!store_txn_open());
	a->writer_rc = store_sync();
	/* Learnt once: the next sync is about what came after. */
	a->next_rc = store_sync();
}

static void
reader_f(void *arg)
{
	struct late_arg *a = arg;

	CO_EXPECT(await_sleep(0.05) == 0);
	a->reader_rc = store_sync();
}

static void
late_both_f(void *arg)
{
	struct coro *r = coro_spawn("reader", reader_f, arg);

	late_main_f(arg);
	coro_join(r);
}

START_TEST(store_late_sync_learns_its_lost_write)
{
	struct late_arg a = {9, 9, 9};

	loopfix_run(late_both_f, &a);
	ck_assert_int_eq(a.writer_rc, -1);
	ck_assert_int_eq(a.next_rc, 0);
	ck_assert_int_eq(a.reader_rc, 0);
}
END_TEST

static int hook_calls[2];

static void
count_hook(bool committed, void *arg)
{
	(void)arg;
	hook_calls[committed]++;
}

static void
hooks_main_f(void *arg)
{
	(void)arg;
	CO_EXPECT(store_sync() == 0);
	int before = hook_calls[1];
	co_add_job(NULL);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(hook_calls[1] == before + 1);
	CO_EXPECT(hook_calls[0] == 0);
	co_add_job(NULL);
	store_fail_next_commit = true;
	CO_EXPECT(store_sync() == -1);
	CO_EXPECT(hook_calls[0] == 1);
	CO_EXPECT(peek_int("SELECT count(*) FROM jobs") == 1);
}

START_TEST(store_txn_hooks_follow_the_outcome)
{
	memset(hook_calls, 0, sizeof(hook_calls));
	store_add_txn_hook(count_hook, NULL);
	store_add_txn_hook(count_hook, NULL);	/* once is enough */
	loopfix_run(hooks_main_f, NULL);
}
END_TEST

struct locked_arg {
	double took;
	char msg[256];
	int after_rc;
};

static void
locked_main_f(void *arg)
{
	struct locked_arg *a = arg;
	sqlite3 *other = peek_open();
	int64_t id = 0;

	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other != NULL);
	CO_EXPECT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
		  SQLITE_OK);
	double t0 = loopfix_mono();
	CO_EXPECT(try_add_job(&(struct jopt){.state = JOBD_QUEUED}, &id) ==
		  -1);
	a->took = loopfix_mono() - t0;
	snprintf(a->msg, sizeof(a->msg), "%s", diag_msg());
	CO_EXPECT(!store_txn_open());
	/* Reads go on meanwhile. */
	CO_EXPECT(peek_int("SELECT count(*) FROM queues") == 1);
	sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(other);
	co_add_job(NULL);
	a->after_rc = store_sync();
}

START_TEST(store_locked_database_fails_writes_at_once)
{
	struct locked_arg a = {99, "", 9};

	loopfix_run(locked_main_f, &a);
	ck_assert_msg(a.took < 0.1, "a locked write took %.3f s", a.took);
	ck_assert_msg(strstr(a.msg, "locked") != NULL, "%s", a.msg);
	ck_assert_int_eq(a.after_rc, 0);
}
END_TEST

Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("file");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_test(tc, store_creates_schema);
	tcase_add_test(tc, store_refuses_newer_schema);
	tcase_add_test(tc, store_reopen_keeps_data);
	tcase_add_test(tc, store_close_checkpoints);
	tcase_add_test(tc, store_queue_crud);
	tcase_add_test(tc, store_producer_crud);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobs");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_test(tc, store_job_insert_then_brief);
	tcase_add_test(tc, store_job_json_has_every_key);
	tcase_add_test(tc, store_job_json_fields);
	tcase_add_test(tc, store_job_json_with_env);
	tcase_add_test(tc, store_job_json_of_a_shell_command);
	tcase_add_test(tc, store_job_json_of_no_job);
	tcase_add_test(tc, store_claim_order);
	tcase_add_test(tc, store_job_end_attempt_fields);
	tcase_add_test(tc, store_set_state_and_retry);
	tcase_add_test(tc, store_promote_due_and_next_due);
	tcase_add_test(tc, store_deps_success_releases_dependents);
	tcase_add_test(tc, store_deps_failure_cascades);
	tcase_add_test(tc, store_check_deps);
	tcase_add_test(tc, store_unique_key_held_while_live);
	tcase_add_test(tc, store_recover_running_jobs);
	tcase_add_test(tc, store_job_max_id_is_the_highest);
	tcase_add_test(tc, store_running_pids_are_the_running_jobs_with_a_pid);
	tcase_add_test(tc, store_prune_only_old_terminal_jobs);
	tcase_add_test(tc, store_prune_in_chunks);
	tcase_add_test(tc, store_hold_keeps_the_transaction_open);
	tcase_add_test(tc, store_abort_rolls_the_transaction_back);
	tcase_add_test(tc, store_spill_writes_the_held_change_to_the_wal);
	tcase_add_test(tc, store_spill_without_a_transaction);
	tcase_add_test(tc, store_env_dedupe);
	tcase_add_test(tc, store_savepoint_rollback_undoes_only_its_own);
	tcase_add_test(tc, store_counts_and_list);
	tcase_add_test(tc, store_list_newest_first);
	suite_add_tcase(s, tc);

	tc = tcase_create("commit");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_test(tc, store_flush_commits_the_group);
	tcase_add_test(tc, store_hooks_hear_of_a_rollback);
	tcase_add_test(tc, store_commit_now_commits_at_once);
	tcase_add_test(tc, store_commit_now_reports_a_failed_commit);
	tcase_add_test(tc, store_make_durable_pays_the_owed_fsync);
	suite_add_tcase(s, tc);

	tc = tcase_create("sync");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, commit_setup, store_teardown);
	tcase_add_test(tc, store_sync_waits_for_the_commit);
	tcase_add_test(tc, store_sync_many_writers_one_commit);
	tcase_add_test(tc, store_sync_crash_safe_waits_for_the_commit);
	tcase_add_test(tc, store_unawaited_write_commits_soon);
	tcase_add_test(tc, store_failed_commit_fails_sync);
	tcase_add_test(tc, store_failed_commit_names_its_cause);
	tcase_add_test(tc, store_late_sync_learns_its_lost_write);
	tcase_add_test(tc, store_txn_hooks_follow_the_outcome);
	tcase_add_test(tc, store_locked_database_fails_writes_at_once);
	suite_add_tcase(s, tc);
	return s;
}
