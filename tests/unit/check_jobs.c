/*
 * Tests of jobs, the job lifecycle, over a real store, queues and event
 * bus: each transition writes the store and moves the queue's counts, the
 * totals (once committed) and the dependents with it, and a transition the
 * store refuses moves nothing.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobs.h"
#include "loop.h"
#include "loopfix.h"
#include "queue.h"
#include "store.h"
#include "storefix.h"

Suite *jobs_suite(void);

static struct queue *dq; /* the default queue */

static void
jobs_setup(void)
{
	storefix_engine_setup();
	dq = queue_find("default");
	ck_assert_ptr_nonnull(dq);
}

static int64_t
submit_one(const char *text)
{
	int64_t id = 0;

	ck_assert_msg(storefix_submit(text, 1000, &id, NULL) == 0, "%s: %s",
		      text, diag_msg());
	ck_assert_int_eq(store_commit_now(), 0);
	return id;
}

static struct store_job_brief
brief(int64_t id)
{
	struct store_job_brief b;

	ck_assert_msg(store_job_brief(id, &b) == 0, "job %lld: %s",
		      (long long)id, diag_msg());
	return b;
}

/* Claims the next job of the default queue, which must be id. */
static void
claim(int64_t id)
{
	struct store_job_run r;

	ck_assert_msg(jobs_claim(dq->id, jobd_time_now_ms(), &r) == 0, "%s",
		      diag_msg());
	ck_assert_int_eq(r.id, id);
	store_job_run_destroy(&r);
	ck_assert_int_eq(store_commit_now(), 0);
}

/* The end of an attempt in state state for reason. */
static struct store_job_end
end_of(int state, int reason)
{
	struct store_job_end e;

	memset(&e, 0, sizeof(e));
	e.state = state;
	e.reason = reason;
	e.exit_code = state == JOBD_SUCCEEDED ? 0 : 1;
	e.duration = 0.5;
	if (jobd_state_is_terminal(state))
		e.finished_at = jobd_time_now_ms();
	else
		e.run_at = jobd_time_now_ms() + 60000;
	return e;
}

START_TEST(jobs_attempt_that_succeeds_moves_counts_and_totals)
{
	int64_t id = submit_one("[{\"argv\":[\"true\"]}]");
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);

	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
	claim(id);
	ck_assert_int_eq(brief(id).state, JOBD_RUNNING);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 0);
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 1);
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), 0);
	/* Counted at once, totalled once committed. */
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 0);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 1);
	ck_assert_uint_eq(events_totals.succeeded, 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_uint_eq(events_totals.succeeded, 1);
	ck_assert_int_eq(brief(id).state, JOBD_SUCCEEDED);
}
END_TEST

START_TEST(jobs_attempt_that_times_out_is_retried)
{
	int64_t id = submit_one("[{\"argv\":[\"false\"],\"max_attempts\":3}]");
	struct store_job_end e = end_of(JOBD_SCHEDULED, JOBD_REASON_TIMEOUT);

	claim(id);
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(id).state, JOBD_SCHEDULED);
	ck_assert_int_eq(dq->counts[JOBD_SCHEDULED], 1);
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 0);
	ck_assert_uint_eq(events_totals.retried, 1);
	ck_assert_uint_eq(events_totals.timed_out, 1);
	ck_assert_uint_eq(events_totals.failed, 0);
}
END_TEST

/* A job cancelled while it ran: the cancel moved it, so the end of its
 * attempt, computed as a success, only records the attempt's figures:
 * the job stays cancelled. */
START_TEST(jobs_end_after_cancel_moves_nothing_again)
{
	int64_t id = submit_one("[{\"argv\":[\"sleep\",\"9\"]}]");
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);
	struct store_job_brief b;

	claim(id);
	b = brief(id);
	ck_assert_int_eq(jobs_cancel(&b, jobd_time_now_ms()), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(dq->counts[JOBD_CANCELLED], 1);
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 0);
	ck_assert_uint_eq(events_totals.cancelled, 1);
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(dq->counts[JOBD_CANCELLED], 1);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 0);
	ck_assert_uint_eq(events_totals.cancelled, 1);
	ck_assert_uint_eq(events_totals.succeeded, 0);
	ck_assert_int_eq(brief(id).state, JOBD_CANCELLED);
	ck_assert_int_eq(brief(id).reason, JOBD_REASON_CANCELLED);
}
END_TEST

/* A cancelled job takes its waiting dependents with it; a job that
 * succeeds releases its own. */
START_TEST(jobs_cancel_and_success_resolve_dependents)
{
	int64_t a = submit_one("[{\"argv\":[\"true\"]}]");
	int64_t b = submit_one("[{\"argv\":[\"true\"]}]");
	char text[160];
	int64_t after_a, after_b;
	struct store_job_brief ba;
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);

	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld]}]", (long long)a);
	after_a = submit_one(text);
	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld]}]", (long long)b);
	after_b = submit_one(text);
	ck_assert_int_eq(dq->counts[JOBD_WAITING], 2);

	ba = brief(a);
	ck_assert_int_eq(jobs_cancel(&ba, jobd_time_now_ms()), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(after_a).state, JOBD_CANCELLED);
	ck_assert_int_eq(brief(after_a).reason, JOBD_REASON_DEPENDENCY_FAILED);
	ck_assert_uint_eq(events_totals.cancelled, 2);

	claim(b);
	ck_assert_int_eq(jobs_end_attempt(dq->id, b, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(after_b).state, JOBD_QUEUED);
	ck_assert_int_eq(dq->counts[JOBD_WAITING], 0);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(dq->counts[JOBD_CANCELLED], 2);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 1);
}
END_TEST

START_TEST(jobs_retry_puts_a_failed_job_back)
{
	int64_t id = submit_one("[{\"argv\":[\"false\"]}]");
	struct store_job_end e = end_of(JOBD_FAILED, JOBD_REASON_EXIT);
	struct store_job_brief b;

	claim(id);
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_uint_eq(events_totals.failed, 1);
	b = brief(id);
	ck_assert_int_eq(jobs_retry(&b, jobd_time_now_ms()), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	b = brief(id);
	ck_assert_int_eq(b.state, JOBD_QUEUED);
	ck_assert_int_eq(b.attempt, 0);
	ck_assert_int_eq(dq->counts[JOBD_FAILED], 0);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
}
END_TEST

/* A cancel decided on a job read before it moved (claimed meanwhile):
 * the store refuses the stale state, the cancel reads the job again and
 * cancels what it is now, counted from there; one that ended meanwhile
 * is left as it ended. */
START_TEST(jobs_cancel_of_a_job_that_moved)
{
	int64_t id = submit_one("[{\"argv\":[\"sleep\",\"9\"]}]");
	int64_t done = submit_one("[{\"argv\":[\"true\"]}]");
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);
	struct store_job_brief stale = brief(id), stale_done;

	ck_assert_int_eq(store_job_set_state(id, JOBD_RUNNING, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, 1),
			 -1);
	ck_assert_int_eq(diag_code(), E_CONFLICT);
	claim(id);
	ck_assert_int_eq(jobs_cancel(&stale, jobd_time_now_ms()), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(id).state, JOBD_CANCELLED);
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 0);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(dq->counts[JOBD_CANCELLED], 1);
	stale_done = brief(done);
	claim(done);
	ck_assert_int_eq(jobs_end_attempt(dq->id, done, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(jobs_cancel(&stale_done, jobd_time_now_ms()), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(brief(done).state, JOBD_SUCCEEDED);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 1);
	ck_assert_int_eq(dq->counts[JOBD_CANCELLED], 1);
}
END_TEST

/* A transition the store refuses moves nothing in memory. */
START_TEST(jobs_refused_transition_moves_nothing)
{
	int64_t id = submit_one("[{\"argv\":[\"true\"]}]");
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);

	/* Never claimed: an end has no running attempt to record. */
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), -1);
	ck_assert_int_eq(diag_code(), E_STATE);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(dq->counts[JOBD_RUNNING], 0);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 0);
	ck_assert_uint_eq(events_totals.succeeded, 0);
	ck_assert_int_eq(brief(id).state, JOBD_QUEUED);
}
END_TEST

static void
promote_f(void *arg)
{
	int *rc = arg;

	*rc = jobs_promote_due();
}

START_TEST(jobs_promote_due_queues_what_is_due)
{
	int64_t due = submit_one("[{\"argv\":[\"true\"],\"delay\":0.001}]");
	int64_t later = submit_one("[{\"argv\":[\"true\"],\"delay\":600}]");
	int rc = -1;

	ck_assert_int_eq(dq->counts[JOBD_SCHEDULED], 2);
	while (jobd_time_now_ms() <= brief(due).run_at)
		; /* a millisecond */
	loopfix_run(promote_f, &rc);
	ck_assert_msg(rc == 0, "%s", diag_msg());
	ck_assert_int_eq(brief(due).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(later).state, JOBD_SCHEDULED);
	ck_assert_int_eq(dq->counts[JOBD_SCHEDULED], 1);
	ck_assert_int_eq(dq->counts[JOBD_QUEUED], 1);
}
END_TEST

START_TEST(jobs_pruned_are_uncounted)
{
	int64_t id = submit_one("[{\"argv\":[\"true\"]}]");
	struct store_job_end e = end_of(JOBD_SUCCEEDED, JOBD_REASON_NONE);

	claim(id);
	ck_assert_int_eq(jobs_end_attempt(dq->id, id, &e), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 1);
	jobs_pruned(dq->id, id, JOBD_SUCCEEDED);
	ck_assert_int_eq(dq->counts[JOBD_SUCCEEDED], 0);
}
END_TEST

Suite *
jobs_suite(void)
{
	Suite *s = suite_create("jobs");
	TCase *tc = tcase_create("transitions");

	tcase_add_checked_fixture(tc, jobs_setup, storefix_engine_teardown);
	tcase_add_test(tc, jobs_attempt_that_succeeds_moves_counts_and_totals);
	tcase_add_test(tc, jobs_attempt_that_times_out_is_retried);
	tcase_add_test(tc, jobs_end_after_cancel_moves_nothing_again);
	tcase_add_test(tc, jobs_cancel_and_success_resolve_dependents);
	tcase_add_test(tc, jobs_retry_puts_a_failed_job_back);
	tcase_add_test(tc, jobs_cancel_of_a_job_that_moved);
	tcase_add_test(tc, jobs_refused_transition_moves_nothing);
	tcase_add_test(tc, jobs_promote_due_queues_what_is_due);
	tcase_add_test(tc, jobs_pruned_are_uncounted);
	suite_add_tcase(s, tc);
	return s;
}
