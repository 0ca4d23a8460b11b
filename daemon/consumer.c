/*
 * consumer: claim, run, record.  Each consumer coroutine owns the struct
 * runner of its current attempt.
 */
#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/time.h"
#include "log.h"
#include "loop.h"
#include "runner.h"
#include "scheduler.h"
#include "store.h"
#include "xmem.h"

struct consumer {
	struct queue *q;
	int slot;
	int64_t job_id;		/* held from claim to recorded end; 0: none */
	struct consumer *next, *prev;	/* every live consumer */
};

static struct consumer_opts opts;
static bool stopping;
static int nconsumers;
static struct consumer *consumers;

bool
consumer_holds(int64_t id)
{
	for (struct consumer *cs = consumers; cs; cs = cs->next)
		if (cs->job_id == id)
			return true;
	return false;
}

void
consumer_init(const struct consumer_opts *o)
{
	opts = *o;
	stopping = false;
}

void
consumer_set_opts(const struct consumer_opts *o)
{
	opts = *o;
}

int
consumer_count(void)
{
	return nconsumers;
}

static void
dependent_moved(int64_t id, int64_t qid, int from, int to, void *arg)
{
	(void)arg;
	queue_job_moved(qid, id, from, to,
			to == JOBD_CANCELLED ? JOBD_REASON_DEPENDENCY_FAILED
					     : JOBD_REASON_NONE);
	if (to == JOBD_CANCELLED) {
		events_totals.cancelled++;
		events_job(EV_JOB_FINISHED, id);
	} else if (to == JOBD_SCHEDULED) {
		struct store_job_brief b;
		if (store_job_brief(id, &b) == 0)
			scheduler_kick(b.run_at);
		events_job(EV_JOB_CHANGED, id);
	} else {
		events_job(EV_JOB_CHANGED, id);
	}
}

void
consumer_job_ended(int64_t id, int state)
{
	events_job(EV_JOB_FINISHED, id);
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

/* Waits until this consumer may claim a job.  -1 when it must leave. */
static int
await_work(struct consumer *cs)
{
	struct queue *q = cs->q;
	for (;;) {
		if (stopping || coro_is_cancelled() ||
		    cs->slot >= q->conf.concurrency)
			return -1;
		/* Slots above a lowered concurrency leave; the others wait
		 * while the jobs that were running still fill it. */
		if (q->paused || q->counts[JOBD_QUEUED] <= 0 ||
		    q->active >= q->conf.concurrency) {
			if (waitq_wait(&q->work, -1) != 0)
				return -1;
			continue;
		}
		if (q->conf.rate_limit > 0) {
			double wait;
			if (!ratelimit_take(&q->rl, loop_now(), &wait)) {
				/* Sleep on the work queue so a pause or
				 * a config change still wakes us. */
				if (waitq_wait(&q->work, wait) != 0 &&
				    diag_code() == E_CANCELLED)
					return -1;
				continue;
			}
		}
		return 0;
	}
}

static void
record_end(struct queue *q, const struct store_job_run *r,
	   const struct runner *ctl, const struct runner_result *res)
{
	struct store_job_end e;
	memset(&e, 0, sizeof(e));
	e.exit_code = res->exited ? res->exit_code : -1;
	e.signal = res->signal;
	e.duration = res->spawned ? res->duration : -1;
	e.output_truncated = res->output_truncated;
	e.ru_user = (double)res->ru.ru_utime.tv_sec +
		    (double)res->ru.ru_utime.tv_usec / 1e6;
	e.ru_sys = (double)res->ru.ru_stime.tv_sec +
		   (double)res->ru.ru_stime.tv_usec / 1e6;
	e.max_rss_kb = res->ru.ru_maxrss;
	int64_t now = jobd_time_now_ms();
	struct store_job_brief b;
	int from = JOBD_RUNNING;
	if (store_job_brief(r->id, &b) == 0)
		from = b.state;

	if (from == JOBD_CANCELLED) {
		/* Cancelled while running: the state was recorded by the
		 * cancel; keep it, add what the process did. */
		e.state = JOBD_CANCELLED;
		e.reason = b.reason;
		e.finished_at = now;
		store_job_end_attempt(r->id, &e);
		return;
	}
	if (!res->spawned) {
		e.state = JOBD_FAILED;
		e.reason = JOBD_REASON_SPAWN_ERROR;
		e.error = res->error;
		e.finished_at = now;
	} else if (ctl->kill == RUNNER_KILL_INTERRUPT) {
		e.state = JOBD_QUEUED;
		e.reason = JOBD_REASON_INTERRUPTED;
		e.attempt_delta = -1;
		e.run_at = now;
	} else if (res->exited && res->exit_code == 0) {
		e.state = JOBD_SUCCEEDED;
		e.reason = JOBD_REASON_NONE;
		e.finished_at = now;
	} else {
		e.reason = res->timed_out ? JOBD_REASON_TIMEOUT
			   : res->exited  ? JOBD_REASON_EXIT
					  : JOBD_REASON_SIGNAL;
		if (res->timed_out)
			events_totals.timed_out++;
		if (r->attempt < r->max_attempts) {
			double u = (double)random() / ((double)RAND_MAX + 1.0);
			double d = backoff_delay(&r->backoff, r->attempt, u);
			e.state = JOBD_SCHEDULED;
			e.run_at = now + (int64_t)(d * 1000.0 + 0.5);
		} else {
			e.state = JOBD_FAILED;
			e.finished_at = now;
		}
	}
	if (store_job_end_attempt(r->id, &e) != 0) {
		log_error("job %lld: %s", (long long)r->id, diag_msg());
		return;
	}
	queue_job_moved(q->id, r->id, JOBD_RUNNING, e.state, e.reason);
	switch (e.state) {
	case JOBD_SCHEDULED:
		events_totals.retried++;
		scheduler_kick(e.run_at);
		events_job(EV_JOB_RETRYING, r->id);
		break;
	case JOBD_SUCCEEDED:
		events_totals.succeeded++;
		consumer_job_ended(r->id, e.state);
		break;
	case JOBD_FAILED:
		events_totals.failed++;
		consumer_job_ended(r->id, e.state);
		break;
	default:
		events_job(EV_JOB_CHANGED, r->id);
		break;
	}
}

/* True when job id is still running in the store (not cancelled while its
 * claim was being committed, not rolled back by a failed commit). */
static bool
still_running(int64_t id)
{
	struct store_job_brief b;
	return store_job_brief(id, &b) == 0 && b.state == JOBD_RUNNING;
}

/* One attempt of q ended (or never started). */
static void
release_slot(struct queue *q)
{
	if (q->active-- >= q->conf.concurrency)
		waitq_notify_all(&q->work);
}

static void
consumer_spawned(const struct runner *ctl, void *arg)
{
	(void)arg;
	if (store_job_set_pid(ctl->job_id, ctl->pid) != 0)
		log_error("job %lld: %s", (long long)ctl->job_id, diag_msg());
	events_job(EV_JOB_STARTED, ctl->job_id);
}

static void
consumer_f(void *arg)
{
	struct consumer *cs = arg;
	struct queue *q = cs->q;
	nconsumers++;
	cs->next = consumers;
	if (consumers)
		consumers->prev = cs;
	consumers = cs;
	while (await_work(cs) == 0) {
		struct store_job_run r;
		if (store_job_claim(q->id, jobd_time_now_ms(), &r) != 0) {
			if (diag_code() != E_NOTFOUND) {
				log_error("queue %s: %s", q->conf.name,
					  diag_msg());
				await_sleep(1.0);
			} else {
				/* The counts were off; trust the store. */
				q->counts[JOBD_QUEUED] = 0;
			}
			continue;
		}
		cs->job_id = r.id;
		queue_job_moved(q->id, r.id, JOBD_QUEUED, JOBD_RUNNING,
				JOBD_REASON_NONE);
		q->active++;
		/* The claim is committed before the process starts: a job
		 * that dies with jobd then comes back `recovered` and counts
		 * towards recovery_limit, and a submit that was never
		 * committed never runs.  (Power loss takes the process
		 * too, so no fsync is needed for this.) */
		store_request_commit(false);
		if (store_sync_crash_safe() != 0) {
			/* The commit failed and took the claim with it. */
			log_error("job %lld: %s", (long long)r.id, diag_msg());
			queue_job_moved(q->id, r.id, JOBD_RUNNING, JOBD_QUEUED,
					JOBD_REASON_NONE);
			release_slot(q);
			store_job_run_destroy(&r);
			cs->job_id = 0;
			await_sleep(0.1);
			continue;
		}
		if (!still_running(r.id)) {
			/* Cancelled while the claim was being committed. */
			release_slot(q);
			store_job_run_destroy(&r);
			cs->job_id = 0;
			continue;
		}
		events_totals.started++;
		struct runner ctl;
		memset(&ctl, 0, sizeof(ctl));
		ctl.job_id = r.id;
		struct runner_opts ro = {opts.log_dir, opts.max_log_bytes,
					 q->conf.name, consumer_spawned, NULL};
		struct runner_result res;
		runner_run(&r, &ro, &ctl, &res);
		record_end(q, &r, &ctl, &res);
		cs->job_id = 0;
		release_slot(q);
		store_job_run_destroy(&r);
	}
	q->consumers[cs->slot] = NULL;
	nconsumers--;
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		consumers = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	free(cs);
}

void
consumer_sync(struct queue *q)
{
	if (stopping)
		return;
	int want = q->conf.concurrency;
	if (want > q->nslots) {
		q->consumers = xreallocarray(q->consumers, (size_t)want,
					     sizeof(*q->consumers));
		for (int i = q->nslots; i < want; i++)
			q->consumers[i] = NULL;
		q->nslots = want;
	}
	for (int i = 0; i < want; i++) {
		if (q->consumers[i] != NULL)
			continue;
		struct consumer *cs = xcalloc(1, sizeof(*cs));
		cs->q = q;
		cs->slot = i;
		char name[96];
		snprintf(name, sizeof(name), "consumer[%s#%d]", q->conf.name,
			 i);
		q->consumers[i] = coro_try_spawn(name, consumer_f, cs);
		if (q->consumers[i] == NULL) {
			/* The slots that run serve; the next sync (a queue
			 * change, a reload) tries again. */
			log_warnx("queue %s: %s", q->conf.name, diag_msg());
			free(cs);
			break;
		}
		coro_detach(q->consumers[i]);
	}
	waitq_notify_all(&q->work);
}

void
consumer_stop_all(void)
{
	stopping = true;
	queue_wake_all();
}
