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

static struct coro *sched;
static int64_t target;		/* ms the scheduler sleeps towards, 0 none */
static struct waitq kick_q;

static void
promoted(int64_t id, int64_t qid, int from, int to, void *arg)
{
	(void)arg;
	queue_job_moved(qid, id, from, to, JOBD_REASON_NONE);
}

static void
scheduler_f(void *arg)
{
	(void)arg;
	for (;;) {
		int64_t now = jobd_time_now_ms();
		if (store_job_promote_due(now, promoted, NULL) != 0)
			log_error("%s", diag_msg());
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
