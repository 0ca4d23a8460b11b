/*
 * consumer: the pool of coroutines that run a queue's jobs.  Consumer #i
 * of queue q waits until q has a ready job, is not paused, and (with a
 * rate) has a token; claims the job; runs one attempt through the runner;
 * and records the end: succeeded, retry (scheduled with backoff), failed,
 * or back to queued when interrupted by shutdown.  A queue has
 * `concurrency` consumers, so it never runs more jobs than that.
 */
#ifndef CONSUMER_H_INCLUDED
#define CONSUMER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

struct consumer_opts {
	const char *log_dir; /* borrowed, lives as long as jobd */
	int64_t max_log_bytes;
	double kill_grace;	  /* the daemon's default */
	int64_t max_result_bytes; /* most of $JOBD_RESULT read */
};

void consumer_init(const struct consumer_opts *o);
/* Updates the options (reload). */
void consumer_set_opts(const struct consumer_opts *o);
/* Spawns consumers for the free slots below q's concurrency; those above
 * leave after their current job.  Does not yield. */
void consumer_sync(struct queue *q);
/* Stops starting jobs: every consumer leaves once idle.  Does not yield. */
void consumer_stop_all(void);
/* True while a consumer holds job id: from its claim until the end of
 * the attempt is recorded.  Such a job must not be started again. */
bool consumer_holds(int64_t id);
/* Job id, which a consumer of this node may hold, was cancelled: if its
 * attempt has not started (its claim's commit awaited), it will not.
 * Does not yield. */
void consumer_cancelled(int64_t id);
/* Number of consumer coroutines alive. */
int consumer_count(void);
/* After consumer_stop_all: waits until no attempt runs (runner_count() is
 * 0) or, with all, until every consumer left (consumer_count() is 0); or
 * until deadline (loop_now() seconds; < 0: none) passes; or until
 * *give_up (may be NULL) is true when consumer_drain_wake() is called.
 * Returns 0 when drained, or -1 with diag E_TIMEOUT (deadline, given up)
 * or E_CANCELLED.  Yields. */
int consumer_await_drained(bool all, double deadline, const bool *give_up);
/* Wakes consumer_await_drained's waiters to look at their give_up flag
 * again.  Does not yield. */
void consumer_drain_wake(void);

#endif /* CONSUMER_H_INCLUDED */
