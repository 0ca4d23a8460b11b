/*
 * scheduler: one coroutine, one timer for the earliest due job.
 */
#include "scheduler.h"

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "log.h"
#include "queue.h"
#include "store.h"

/* Longest sleep without looking again (wall clock steps are caught). */
#define SCHED_MAX_SLEEP 60.0
/* Pause before promoting again after a failed write or commit, seconds:
 * doubled at each failure up to the maximum. */
#define SCHED_RETRY_MIN 0.01
#define SCHED_RETRY_MAX 1.0

static struct coro *sched;
static int64_t target;		/* ms the scheduler sleeps towards, 0 none */
static struct waitq kick_q;

static void
promoted(int64_t id, int64_t qid, int from, int to, void *arg)
{
	int *n = arg;
	(*n)++;
	queue_job_moved(qid, id, from, to, JOBD_REASON_NONE);
}

/* Promotes the due jobs and waits until that is committed.  -1 when the
 * write or its commit failed: the jobs are still scheduled in the store
 * (and in the counts), to be promoted on the next try.  Yields. */
static int
promote_due(void)
{
	int n = 0;
	if (store_job_promote_due(jobd_time_now_ms(), promoted, &n) != 0)
		return -1;
	return n > 0 ? store_sync_crash_safe() : 0;
}

static void
scheduler_f(void *arg)
{
	(void)arg;
	double retry = 0;
	for (;;) {
		if (promote_due() != 0) {
			if (retry == 0)
				log_error("%s", diag_msg());
			retry = retry == 0 ? SCHED_RETRY_MIN
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
scheduler_init(void)
{
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
