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
#include "jobd/time.h"
#include "joblog.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "runner.h"
#include "store.h"
#include "xmem.h"

struct consumer {
	struct queue *q;
	int slot;
	int64_t job_id; /* held from claim to recorded end; 0: none */
	bool cancelled; /* job_id was cancelled (consumer_cancelled) */
	struct consumer *next, *prev; /* every live consumer */
	double spawn_backoff; /* s; 0 unless the last spawn lacked resources */
	/* The attempt that runs, until its end is recorded (its progress
	 * is shown from here until then); NULL: none. */
	const struct runner *ctl;
};

/* Back-off between spawns that fail for lack of resources. */
#define SPAWN_BACKOFF_MIN 0.05
#define SPAWN_BACKOFF_MAX 1.0

static struct consumer_opts opts;
static bool stopping;
static int nconsumers;
static struct consumer *consumers;
/* Notified when the last attempt ends and when the last consumer leaves:
 * the shutdown's drain waits on it. */
static struct waitq drained = WAITQ_INIT;

bool
consumer_holds(int64_t id)
{
	for (struct consumer *cs = consumers; cs; cs = cs->next)
		if (cs->job_id == id)
			return true;
	return false;
}

void
consumer_cancelled(int64_t id)
{
	for (struct consumer *cs = consumers; cs; cs = cs->next)
		if (cs->job_id == id)
			cs->cancelled = true;
}

/* store_live_progress_fn: the progress of the attempt a consumer holds,
 * from its start until its end is recorded. */
static bool
live_progress(int64_t id, json_t **progress, int64_t *bad)
{
	for (struct consumer *cs = consumers; cs; cs = cs->next) {
		if (cs->job_id != id || cs->ctl == NULL ||
		    cs->ctl->progress == NULL)
			continue;
		*progress = progress_json(cs->ctl->progress);
		*bad = cs->ctl->progress->bad;
		return true;
	}
	return false;
}

void
consumer_init(const struct consumer_opts *o)
{
	opts = *o;
	stopping = false;
	store_set_live_progress(live_progress);
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

int
consumer_await_drained(bool all, double deadline, const bool *give_up)
{
	while (all ? nconsumers > 0 : runner_count() > 0) {
		if (give_up != NULL && *give_up)
			return diag_set(E_TIMEOUT, "drain given up");
		double left = -1;
		if (deadline >= 0) {
			left = deadline - loop_now();
			if (left <= 0)
				return diag_set(E_TIMEOUT, "timed out");
		}
		if (waitq_wait(&drained, left) != 0 &&
		    diag_code() == E_CANCELLED)
			return -1;
	}
	return 0;
}

void
consumer_drain_wake(void)
{
	waitq_notify_all(&drained);
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
		/* While a big submit holds the group transaction, nothing
		 * is claimed: its jobs are not committed, nor announced, and
		 * a claim could not commit before the hold ends anyway.
		 * store_unhold's caller wakes the queues. */
		if (q->paused ||
		    (q->counts[JOBD_QUEUED] <= 0 && !q->maybe_ready) ||
		    q->active >= queue_conf_pool(&q->conf) || store_held()) {
			if (waitq_wait(&q->work, -1) != 0)
				return -1;
			continue;
		}
		/* A limit the store keeps for the cluster (a global permit,
		 * the shared bucket) refused the last claim: until the time
		 * it gave, or a wake-up (an end here freed a permit). */
		if (q->claim_after > loop_now()) {
			if (waitq_wait(&q->work, q->claim_after - loop_now()) !=
				    0 &&
			    diag_code() == E_CANCELLED)
				return -1;
			continue;
		}
		/* The store's bucket is the cluster's when it keeps one: a
		 * local one too would only lose tokens to claims that get
		 * nothing. */
		if (q->conf.rate_limit > 0 && !store_limits_shared()) {
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

/* An attempt that exited with its job's snooze_exit status: back to
 * scheduled, its attempt given back, after the delay it wrote to
 * $JOBD_SNOOZE, else the job's snooze, else the backoff delay a retry
 * would have; or, past max_snoozes, failed (snooze_limit). */
static void
snooze_end(const struct store_job_run *r, const struct runner_result *res,
	   int64_t now, struct store_job_end *e)
{
	double d;

	if (r->snoozes >= r->max_snoozes) {
		e->state = JOBD_FAILED;
		e->reason = JOBD_REASON_SNOOZE_LIMIT;
		e->finished_at = now;
		return;
	}
	if (res->said.snooze_given) {
		d = res->said.snooze;
	} else if (r->snooze >= 0) {
		d = r->snooze;
	} else {
		double u = (double)random() / ((double)RAND_MAX + 1.0);
		d = backoff_delay(&r->backoff, r->attempt, u);
	}
	e->state = JOBD_SCHEDULED;
	e->reason = JOBD_REASON_SNOOZED;
	e->attempt_delta = -1;
	e->snooze_delta = 1;
	e->run_at = now + (int64_t)(d * 1000.0 + 0.5);
}

/* True when the attempt asked to be run later: it exited by itself with
 * the job's snooze_exit status (not stopped by jobd, a timeout or the
 * OOM killer). */
static bool
is_snooze(const struct store_job_run *r, const struct runner *ctl,
	  const struct runner_result *res)
{
	return r->snooze_exit > 0 && res->spawned && res->exited &&
	       res->exit_code == r->snooze_exit && !res->timed_out &&
	       !res->oom && ctl->kill == RUNNER_KILL_NONE;
}

/* Writes the end of attempt r in the open transaction, with what it moves
 * in memory (counts, totals, events, dependents).  Computed from the
 * store as it is now, so it can be written again after a rollback. */
static int
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
	e.memory_peak = res->memory_peak;
	e.attempt = r->attempt;
	e.result = res->said.result;
	e.result_error = res->said.result_error[0] != '\0'
				 ? res->said.result_error
				 : NULL;
	/* The stored text goes with the end: the same object as shown
	 * while the attempt ran. */
	json_t *progress = ctl->progress ? progress_json(ctl->progress) : NULL;
	char *ptext = progress ? json_dumps(progress, JSON_COMPACT) : NULL;
	json_decref(progress);
	e.progress = ptext;
	e.progress_bad = ctl->progress ? ctl->progress->bad : 0;
	int64_t now = jobd_time_now_ms();
	/* Cancelled while running: the store keeps what the cancel
	 * recorded and adds what the process did, finished now. */
	e.now = now;
	if (ctl->kill == RUNNER_KILL_CANCEL) {
		/* Killed by a cancel whose own commit failed: the process is
		 * gone for the cancel's sake, so the cancel is what it
		 * records (never an automatic retry). */
		e.state = JOBD_CANCELLED;
		e.reason = JOBD_REASON_CANCELLED;
		e.finished_at = now;
	} else if (!res->spawned && res->no_resources) {
		/* Out of descriptors, processes or memory: not the job's
		 * fault.  It goes back to the queue, its attempt given
		 * back, and the consumer backs off before the next. */
		e.state = JOBD_QUEUED;
		e.reason = JOBD_REASON_NONE;
		e.attempt_delta = -1;
		e.run_at = now;
	} else if (!res->spawned) {
		e.state = JOBD_FAILED;
		e.reason = JOBD_REASON_SPAWN_ERROR;
		e.error = res->error;
		e.finished_at = now;
	} else if (ctl->kill == RUNNER_KILL_INTERRUPT) {
		e.state = JOBD_QUEUED;
		e.reason = JOBD_REASON_INTERRUPTED;
		e.attempt_delta = -1;
		e.run_at = now;
	} else if (is_snooze(r, ctl, res)) {
		snooze_end(r, res, now, &e);
	} else if (res->exited && res->exit_code == 0 && !res->oom) {
		e.state = JOBD_SUCCEEDED;
		e.reason = JOBD_REASON_NONE;
		e.finished_at = now;
	} else {
		e.reason = res->timed_out ? JOBD_REASON_TIMEOUT
			   : res->oom	  ? JOBD_REASON_OOM
			   : res->exited  ? JOBD_REASON_EXIT
					  : JOBD_REASON_SIGNAL;
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
	int rc = jobs_end_attempt(q->id, r->id, &e);
	free(ptext);
	return rc;
}

/* A claim whose commit failed goes back to its queue, its attempt given
 * back, if it was committed after all (PostgreSQL: the answer to a COMMIT
 * can be lost with its connection).  Fenced like an end, it changes
 * nothing when the claim was not committed (E_STATE). */
static int
give_back(struct queue *q, const struct store_job_run *r)
{
	int64_t now = jobd_time_now_ms();
	struct store_job_end e = {.state = JOBD_QUEUED,
				  .reason = JOBD_REASON_NONE,
				  .exit_code = -1,
				  .duration = -1,
				  .memory_peak = -1,
				  .now = now,
				  .run_at = now,
				  .attempt_delta = -1,
				  .attempt = r->attempt};
	return jobs_end_attempt(q->id, r->id, &e);
}

/* record_end, and where the attempt ran with the end of its log (a
 * store that keeps them: store_attempt_ended), in one hold, so that the
 * two commit together.  An attempt given back unspawned gets no row: it
 * did not run.  Yields. */
static int
record_attempt(struct queue *q, const struct store_job_run *r,
	       const struct runner *ctl, const struct runner_result *res)
{
	struct store_attempt_end a = {.job_id = r->id, .attempt = r->attempt};
	char *tail = NULL;
	if (!store_keeps_attempts() || (!res->spawned && res->no_resources))
		return record_end(q, r, ctl, res);
	joblog_tail(opts.log_dir, r->id, r->attempt, STORE_LOG_TAIL,
		    &a.log_size, &tail, &a.tail_len);
	a.tail = tail;
	int rc = jobs_hold();
	if (rc == 0) {
		rc = record_end(q, r, ctl, res);
		if (rc == 0)
			rc = store_attempt_ended(&a);
		jobs_unhold();
	}
	free(tail);
	return rc;
}

/* Pause between two tries to record an end, in seconds. */
#define END_RETRY_MIN 0.01
#define END_RETRY_MAX 1.0

/* Records the end of attempt r (ctl NULL: gives its claim back) and waits
 * until it is committed.  A write
 * refused (the database locked by another process) or a commit that
 * failed (a full disk) is tried again, with a growing pause, until it
 * holds: the end is never dropped, so the job never stays `running`
 * without a process, `wait` returns, and a restart does not run it again.
 * The consumer keeps its slot meanwhile.  Yields. */
static void
settle_end(struct queue *q, const struct store_job_run *r,
	   const struct runner *ctl, const struct runner_result *res)
{
	double pause = END_RETRY_MIN;
	for (int tries = 1;; tries++) {
		int rc = ctl != NULL ? record_attempt(q, r, ctl, res)
				     : give_back(q, r);
		if (rc != 0 && diag_code() == E_STATE) {
			/* Not running any more (pruned once cancelled,
			 * rescued by a peer; a claim that was not
			 * committed): there is nothing to record
			 * against. */
			if (ctl != NULL)
				log_warnx("job %lld: end not recorded: %s",
					  (long long)r->id, diag_msg());
			return;
		}
		if (rc == 0 && store_sync_crash_safe() == 0) {
			if (tries > 1)
				log_info("job %lld: end recorded after %d "
					 "tries",
					 (long long)r->id, tries);
			return;
		}
		if (tries == 1 || tries % 60 == 0)
			log_error("job %lld: cannot record its end, will "
				  "retry: %s",
				  (long long)r->id, diag_msg());
		if (await_sleep(pause) != 0 && diag_code() == E_CANCELLED) {
			log_error("job %lld: end not recorded: cancelled",
				  (long long)r->id);
			return;
		}
		pause = pause * 2 < END_RETRY_MAX ? pause * 2 : END_RETRY_MAX;
	}
}

/* Polls for a permit another node may free (or a bucket its transaction
 * holds): from 50 ms, doubling to 1 s while the limit lasts. */
#define LIMIT_POLL_MIN 0.05
#define LIMIT_POLL_MAX 1.0

/* A claim of q was refused by a limit the store keeps for the cluster:
 * no consumer of q claims before the time it gave (wait_ms), or before
 * the next poll when it could not give one. */
static void
limit_wait(struct queue *q, int64_t wait_ms)
{
	double wait = (double)wait_ms / 1000.0;

	if (wait_ms <= 0) {
		q->claim_poll = q->claim_poll <= 0 ? LIMIT_POLL_MIN
						   : q->claim_poll * 2;
		if (q->claim_poll > LIMIT_POLL_MAX)
			q->claim_poll = LIMIT_POLL_MAX;
		wait = q->claim_poll;
	}
	q->claim_after = loop_now() + wait;
}

/* One attempt of q ended (or never started).  With a global cap kept by
 * the store, its permit is free again: a consumer waiting for one
 * claims. */
static void
release_slot(struct queue *q)
{
	if (q->active-- >= queue_conf_pool(&q->conf))
		waitq_notify_all(&q->work);
	if (q->conf.global_concurrency > 0 && store_limits_shared() &&
	    q->claim_after > 0) {
		q->claim_after = 0;
		waitq_notify_one(&q->work);
	}
}

static void
consumer_spawned(const struct runner *ctl, void *arg)
{
	(void)arg;
	jobs_spawned(ctl->job_id, ctl->pid);
}

/* A spawn of job id failed for lack of resources (error says which):
 * waits before this consumer claims again, 50 ms doubling to 1 s while it
 * goes on, so a full descriptor table or process limit is not spun on.
 * Said once per episode.  Yields. */
static void
spawn_backoff(struct consumer *cs, int64_t id, const char *error)
{
	if (cs->spawn_backoff <= 0) {
		log_warnx("job %lld: cannot start (%s): back to queued, "
			  "retrying",
			  (long long)id, error);
		cs->spawn_backoff = SPAWN_BACKOFF_MIN;
	} else {
		log_debug("job %lld: cannot start (%s): back to queued",
			  (long long)id, error);
		cs->spawn_backoff *= 2;
		if (cs->spawn_backoff > SPAWN_BACKOFF_MAX)
			cs->spawn_backoff = SPAWN_BACKOFF_MAX;
	}
	await_sleep(cs->spawn_backoff);
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
		int epoch = store_node_epoch();
		if (jobs_claim(q->id, jobd_time_now_ms(), &r) != 0) {
			if (diag_code() == E_BUSY) {
				limit_wait(q, r.wait_ms);
			} else if (diag_code() != E_NOTFOUND) {
				log_error("queue %s: %s", q->conf.name,
					  diag_msg());
				await_sleep(1.0);
			} else {
				/* The counts were off; trust the store. */
				q->counts[JOBD_QUEUED] = 0;
				q->maybe_ready = false;
			}
			continue;
		}
		cs->job_id = r.id;
		cs->cancelled = false;
		q->active++;
		q->claim_poll = 0;
		/* The claim is committed before the process starts: a job
		 * that dies with jobd then comes back `recovered` and counts
		 * towards recovery_limit, and a submit that was never
		 * committed never runs.  (Power loss takes the process
		 * too, so no fsync is needed for this.) */
		store_request_commit(false);
		if (store_sync_crash_safe() != 0) {
			/* The commit failed and took the claim with it (the
			 * counts were put back with it), or its answer was
			 * lost and it may hold: given back if it does. */
			log_error("job %lld: %s", (long long)r.id, diag_msg());
			settle_end(q, &r, NULL, NULL);
			release_slot(q);
			store_job_run_destroy(&r);
			cs->job_id = 0;
			await_sleep(0.1);
			continue;
		}
		if (store_node_epoch() != epoch) {
			/* The node fenced itself while the claim was being
			 * committed: the job is its earlier incarnation's,
			 * recovered when it registers again. */
			release_slot(q);
			store_job_run_destroy(&r);
			cs->job_id = 0;
			continue;
		}
		if (cs->cancelled) {
			/* Cancelled while the claim was being committed: its
			 * end is the cancel's (recorded as such should the
			 * cancel's own commit fail), with no process. */
			struct runner ctl = {.job_id = r.id,
					     .kill = RUNNER_KILL_CANCEL};
			struct runner_result res = {.exit_code = -1,
						    .memory_peak = -1};
			settle_end(q, &r, &ctl, &res);
			release_slot(q);
			store_job_run_destroy(&r);
			cs->job_id = 0;
			continue;
		}
		jobs_started();
		struct runner ctl;
		memset(&ctl, 0, sizeof(ctl));
		ctl.job_id = r.id;
		struct runner_opts ro = {
			.log_dir = opts.log_dir,
			.max_log_bytes = opts.max_log_bytes,
			.max_result_bytes = opts.max_result_bytes,
			.queue_name = q->conf.name,
			.on_spawn = consumer_spawned,
			.arg = NULL};
		struct runner_result res;
		cs->ctl = &ctl;
		runner_run(&r, &ro, &ctl, &res);
		if (runner_count() == 0)
			waitq_notify_all(&drained);
		if (ctl.kill == RUNNER_KILL_FENCE)
			/* Nothing is recorded: registered again, the node
			 * recovers the job, unless a peer rescued it. */
			log_warnx("job %lld: attempt %d stopped by the node's "
				  "fence, not recorded",
				  (long long)r.id, r.attempt);
		else
			settle_end(q, &r, &ctl, &res);
		cs->ctl = NULL;
		progress_delete(ctl.progress);
		cs->job_id = 0;
		release_slot(q);
		if (!res.spawned && res.no_resources)
			spawn_backoff(cs, r.id, res.error);
		else if (res.spawned)
			cs->spawn_backoff = 0;
		free(res.said.result);
		store_job_run_destroy(&r);
	}
	q->consumers[cs->slot] = NULL;
	nconsumers--;
	if (nconsumers == 0)
		waitq_notify_all(&drained);
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
