/*
 * scheduler: one coroutine, one timer for the earliest due job.
 */
#include "scheduler.h"

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/time.h"
#include "log.h"
#include "store.h"

/* Longest sleep without looking again (wall clock steps are caught). */
#define SCHED_MAX_SLEEP 60.0
/* Pause before promoting again after a failed write or commit, seconds:
 * doubled at each failure up to the maximum. */
#define SCHED_RETRY_MIN 0.01
#define SCHED_RETRY_MAX 1.0

static struct coro *sched;
static scheduler_promote_fn promote_due;
static int64_t target; /* ms the scheduler sleeps towards, 0 none */
static struct waitq kick_q;

static void
scheduler_f(void *arg)
{
	(void)arg;
	double retry = 0;
	for (;;) {
		if (promote_due() != 0) {
			if (retry == 0)
				log_error("%s", diag_msg());
			retry = retry == 0		      ? SCHED_RETRY_MIN
				: retry * 2 < SCHED_RETRY_MAX ? retry * 2
							      : SCHED_RETRY_MAX;
			if (await_sleep(retry) != 0 &&
			    diag_code() == E_CANCELLED)
				break;
			continue;
		}
		retry = 0;
		int64_t now = jobd_time_now_ms();
		int64_t next;
		double wait = SCHED_MAX_SLEEP;
		if (store_job_next_due(&next) == 0) {
			target = next;
			wait = (double)(next - now) / 1000.0;
			if (wait > SCHED_MAX_SLEEP)
				wait = SCHED_MAX_SLEEP;
			if (wait < 0)
				wait = 0;
		} else {
			target = 0;
		}
		if (waitq_wait(&kick_q, wait) != 0 &&
		    diag_code() == E_CANCELLED)
			break;
	}
}

void
scheduler_init(scheduler_promote_fn promote)
{
	promote_due = promote;
	sched = coro_spawn("scheduler", scheduler_f, NULL);
}

void
scheduler_shutdown(void)
{
	if (sched == NULL)
		return;
	coro_cancel(sched);
	coro_join(sched);
	sched = NULL;
}

void
scheduler_kick(int64_t run_at)
{
	if (target == 0 || run_at < target) {
		target = run_at;
		waitq_notify_all(&kick_q);
	}
}
