/*
 * The store's commits under a running loop with store_flush as its flush
 * hook (store suite, "sync" case): coroutines that wait for their commit,
 * many writers sharing one, writes nobody waits for, and what a failed or
 * lost commit, a locked database and the transaction hooks tell them.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>

#include "await.h"
#include "check_store.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"

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
	store_add_txn_hook(count_hook, NULL); /* once is enough */
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
	CO_EXPECT(try_add_job(&(struct jopt){.state = JOBD_QUEUED}, &id) == -1);
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

void
check_store_add_sync(Suite *s)
{
	TCase *tc = tcase_create("sync");

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
}
