/*
 * jobs: each transition of a job, with everything it moves.  The order
 * inside every function is the header's: store, counts, totals, events,
 * consequences.
 */
#include "jobs.h"

#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "log.h"
#include "queue.h"
#include "runner.h"
#include "scheduler.h"

static jobs_ended_fn ended_fn;

void
jobs_set_ended(jobs_ended_fn fn)
{
	ended_fn = fn;
}

/* ---- submitted ---- */

void
jobs_inserted(int64_t qid, int64_t id, int state)
{
	queue_job_moved(qid, id, -1, state,
			state == JOBD_CANCELLED ? JOBD_REASON_DEPENDENCY_FAILED
						: JOBD_REASON_NONE);
}

void
jobs_insert_undone(int64_t qid, int64_t id, int state)
{
	queue_job_moved(qid, id, state, -1, JOBD_REASON_NONE);
}

void
jobs_submitted(int64_t id, int state, int64_t run_at, json_t *shown)
{
	events_tally()->submitted++;
	events_job_as(EVENTS_JOB_SUBMITTED, id, shown);
	if (state == JOBD_SCHEDULED)
		scheduler_kick(run_at);
	if (state == JOBD_CANCELLED) {
		events_tally()->cancelled++;
		events_job(EVENTS_JOB_FINISHED, id);
	}
}

/* ---- holds ---- */

int
jobs_hold(void)
{
	return store_hold();
}

void
jobs_unhold(void)
{
	store_unhold();
	/* Consumers wait out a hold (consumer.c): let them look. */
	if (!store_held())
		queue_wake_all();
}

/* ---- ended: dependents ---- */

/* A dependent of an ended job moved (store_job_resolve_dependents). */
static void
dependent_moved(int64_t id, int64_t qid, int from, int to, void *arg)
{
	(void)arg;
	int reason = JOBD_REASON_NONE;
	if (to == JOBD_CANCELLED) {
		/* dependency_failed, or not_needed (after_failed): the
		 * store's row says which. */
		struct store_job_brief b;
		reason = store_job_brief(id, &b) == 0
				 ? b.reason
				 : JOBD_REASON_DEPENDENCY_FAILED;
	}
	queue_job_moved(qid, id, from, to, reason);
	if (to == JOBD_CANCELLED) {
		events_tally()->cancelled++;
		events_job(EVENTS_JOB_FINISHED, id);
	} else if (to == JOBD_SCHEDULED) {
		struct store_job_brief b;
		if (store_job_brief(id, &b) == 0)
			scheduler_kick(b.run_at);
		events_job(EVENTS_JOB_CHANGED, id);
	} else {
		events_job(EVENTS_JOB_CHANGED, id);
	}
}

/* Job id of queue qid reached terminal `state` (written in the open,
 * held transaction): announced, its dependents resolved, and the ended
 * function told (the queue's hooks). */
static void
ended(int64_t qid, int64_t id, int state)
{
	events_job(EVENTS_JOB_FINISHED, id);
	if (ended_fn != NULL)
		ended_fn(qid, id, state);
	/* Only a waiting job can be affected by the end of another (a
	 * dependent leaves `waiting` once all it waits for succeeded), so
	 * with none waiting there is nothing to look up. */
	if (!queue_any_waiting())
		return;
	if (store_job_resolve_dependents(id, state == JOBD_SUCCEEDED,
					 jobd_time_now_ms(), dependent_moved,
					 NULL) != 0)
		log_error("job %lld: dependents: %s", (long long)id,
			  diag_msg());
}

/* ---- claimed, started, attempt ended ---- */

int
jobs_claim(int64_t qid, int64_t now, struct store_job_run *r)
{
	if (store_job_claim(qid, now, r) != 0)
		return -1;
	queue_job_moved(qid, r->id, JOBD_QUEUED, JOBD_RUNNING,
			JOBD_REASON_NONE);
	return 0;
}

void
jobs_started(void)
{
	events_totals.started++;
}

void
jobs_spawned(int64_t id, pid_t pid)
{
	if (store_job_set_pid(id, pid) != 0)
		log_error("job %lld: %s", (long long)id, diag_msg());
	events_job(EVENTS_JOB_STARTED, id);
}

/* The end and what it moves in the store (dependents), in one
 * transaction (jobs_hold). */
static int
end_attempt(int64_t qid, int64_t id, const struct store_job_end *e)
{
	int from;
	if (store_job_end_attempt(id, e, &from) != 0)
		return -1;
	if (from == JOBD_CANCELLED)
		return 0; /* moved, counted and announced by the cancel */
	queue_job_moved(qid, id, JOBD_RUNNING, e->state, e->reason);
	if (e->reason == JOBD_REASON_TIMEOUT)
		events_tally()->timed_out++;
	if (e->reason == JOBD_REASON_OOM)
		events_tally()->oom++;
	switch (e->state) {
	case JOBD_SCHEDULED:
		if (e->reason == JOBD_REASON_SNOOZED)
			events_tally()->snoozed++;
		else
			events_tally()->retried++;
		scheduler_kick(e->run_at);
		events_job(EVENTS_JOB_RETRYING, id);
		break;
	case JOBD_SUCCEEDED:
		events_tally()->succeeded++;
		ended(qid, id, e->state);
		break;
	case JOBD_FAILED:
		events_tally()->failed++;
		ended(qid, id, e->state);
		break;
	case JOBD_CANCELLED:
		events_tally()->cancelled++;
		ended(qid, id, e->state);
		break;
	default:
		events_job(EVENTS_JOB_CHANGED, id);
		break;
	}
	return 0;
}

int
jobs_end_attempt(int64_t qid, int64_t id, const struct store_job_end *e)
{
	if (jobs_hold() != 0)
		return -1;
	int rc = end_attempt(qid, id, e);
	jobs_unhold();
	return rc;
}

/* ---- cancelled, retried ---- */

/* How often a cancel reads a job again that moved under it. */
#define CANCEL_TRIES 8

/* The cancel and what it moves in the store (dependents), in one
 * transaction (jobs_hold). */
static int
cancel(const struct store_job_brief *seen, int64_t now)
{
	struct store_job_brief b = *seen;
	for (int tries = 1;; tries++) {
		if (store_job_set_state(b.id, b.state, JOBD_CANCELLED,
					JOBD_REASON_CANCELLED, now) == 0)
			break;
		/* It moved since it was read (an attempt ended, a
		 * dependency resolved): read it again. */
		if (diag_code() != E_CONFLICT || tries == CANCEL_TRIES ||
		    store_job_brief(b.id, &b) != 0)
			return -1;
		if (jobd_state_is_terminal(b.state))
			return 0; /* ended meanwhile: nothing to cancel */
	}
	queue_job_moved(b.qid, b.id, b.state, JOBD_CANCELLED,
			JOBD_REASON_CANCELLED);
	events_tally()->cancelled++;
	if (b.state == JOBD_RUNNING) {
		struct runner *run = runner_find(b.id);
		if (run)
			runner_kill(run, RUNNER_KILL_CANCEL);
	}
	ended(b.qid, b.id, JOBD_CANCELLED);
	return 0;
}

int
jobs_cancel(const struct store_job_brief *b, int64_t now)
{
	if (jobs_hold() != 0)
		return -1;
	int rc = cancel(b, now);
	jobs_unhold();
	return rc;
}

int
jobs_retry(const struct store_job_brief *b, int64_t now)
{
	if (store_job_retry(b->id, b->state, now) != 0) {
		if (diag_code() == E_CONFLICT)
			diag_set(E_STATE, "job %lld changed meanwhile",
				 (long long)b->id);
		return -1;
	}
	queue_job_moved(b->qid, b->id, b->state, JOBD_QUEUED, JOBD_REASON_NONE);
	events_job(EVENTS_JOB_CHANGED, b->id);
	return 0;
}

/* ---- promoted, pruned ---- */

static void
promoted(int64_t id, int64_t qid, int from, int to, void *arg)
{
	int *n = arg;
	(*n)++;
	queue_job_moved(qid, id, from, to, JOBD_REASON_NONE);
}

int
jobs_promote_due(void)
{
	int n = 0;
	if (store_job_promote_due(jobd_time_now_ms(), promoted, &n) != 0)
		return -1;
	return n > 0 ? store_sync_crash_safe() : 0;
}

void
jobs_pruned(int64_t qid, int64_t id, int state)
{
	queue_job_moved(qid, id, state, -1, JOBD_REASON_NONE);
}
