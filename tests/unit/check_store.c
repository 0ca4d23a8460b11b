/*
 * Tests of the store on a real SQLite file in a temp directory: schema and
 * migrations, held changes and their spills, savepoints, group commit and
 * transaction hooks, and the fixtures of the other store test files
 * (check_store.h): queues and producers (check_store_queue.c), jobs
 * (check_store_job.c), recovery and pruning (check_store_recover.c),
 * commits under a running loop (check_store_sync.c).  A second SQLite
 * connection (tests only) looks at the file to see what is committed.
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

#include "check_store.h"
#include "diag.h"
#include "jobd/proto.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"

Suite *store_suite(void);

static char tmpdir[PATH_MAX];
static char dbpath[PATH_MAX + 32];
int64_t qdef;

/* ---- a second connection, to see what is on disk ---- */

sqlite3 *
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
int64_t
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

int64_t
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
void
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

void
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

int
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

int64_t
add_job(const struct jopt *o)
{
	int64_t id = 0;

	ck_assert_msg(try_add_job(o, &id) == 0, "%s", diag_msg());
	ck_assert_int_gt(id, 0);
	return id;
}

/* Commits the group transaction now, as a flush with a waiter would.
 * Returns whether something was committed. */
bool
commit_now(void)
{
	store_request_commit(true);
	return store_flush(NULL);
}

struct store_job_brief
brief(int64_t id)
{
	struct store_job_brief b;

	memset(&b, 0, sizeof(b));
	ck_assert_msg(store_job_brief(id, &b) == 0, "job %lld: %s",
		      (long long)id, diag_msg());
	ck_assert_int_eq(b.id, id);
	return b;
}

void
assert_gone(int64_t id)
{
	struct store_job_brief b;

	ck_assert_int_eq(store_job_brief(id, &b), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
}

int64_t
claim(int64_t qid, int64_t now)
{
	struct store_job_run r;
	int64_t id;

	ck_assert_msg(store_job_claim(qid, now, &r) == 0, "%s", diag_msg());
	id = r.id;
	store_job_run_destroy(&r);
	return id;
}

void
record_change(int64_t id, int64_t qid, int from, int to, void *arg)
{
	struct changes *ch = arg;

	if (ch->n < 64)
		ch->c[ch->n] = (struct change){id, qid, from, to};
	ch->n++;
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

int
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
	bool jobs_seen; /* the last call saw the job still readable */
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

/* Runs the loop until the fsync running in the background has been
 * answered (5 s at most). */
static void
sync_settle(void)
{
	double end = loop_now() + 5;
	while (store_syncing() && loop_now() < end) {
		ev_run(loop_ev(), EVRUN_ONCE);
		ev_now_update(loop_ev());
	}
	ck_assert_msg(!store_syncing(), "the fsync was never answered");
}

/* A commit nobody asked to be durable leaves an fsync owed, which a
 * durable request starts in the background (one at a time, the loop told
 * of its end); store_make_durable() pays it at once. */
START_TEST(store_make_durable_pays_the_owed_fsync)
{
	ck_assert(commit_now());
	sync_settle();
	ADD_JOB(.state = JOBD_QUEUED);
	store_request_commit(false);
	ck_assert(store_flush(NULL));  /* the commit */
	ck_assert(!store_flush(NULL)); /* nobody needs the fsync yet */
	ck_assert(!store_syncing());
	store_request_commit(true);
	ck_assert(store_flush(NULL)); /* the fsync starts */
	ck_assert(store_syncing());
	ck_assert(!store_flush(NULL)); /* nothing more owed */
	sync_settle();

	ADD_JOB(.state = JOBD_QUEUED);
	store_request_commit(false);
	ck_assert(store_flush(NULL));
	ck_assert_int_eq(store_make_durable(), 0);
	store_request_commit(true);
	ck_assert(!store_flush(NULL)); /* nothing left owed */
	ck_assert(!store_syncing());
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
	check_store_add_queues(tc);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobs");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	check_store_add_jobs(tc);
	check_store_add_recovery(tc);
	tcase_add_test(tc, store_hold_keeps_the_transaction_open);
	tcase_add_test(tc, store_abort_rolls_the_transaction_back);
	tcase_add_test(tc, store_spill_writes_the_held_change_to_the_wal);
	tcase_add_test(tc, store_spill_without_a_transaction);
	tcase_add_test(tc, store_savepoint_rollback_undoes_only_its_own);
	check_store_add_lists(tc);
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

	check_store_add_sync(s);
	return s;
}
