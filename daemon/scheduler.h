/*
 * scheduler: moves scheduled jobs to queued when their run_at comes.  One
 * coroutine sleeps until the earliest run_at in the store (one timer, no
 * polling); anyone who schedules a job earlier than that kicks it.  What
 * promoting means (store, counts) is the caller's: the scheduler only
 * knows when.
 */
#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

#include <stdint.h>

/* Promotes the jobs due now and waits until that is committed; -1 with
 * diag when the write or its commit failed (tried again, with a growing
 * pause).  May yield. */
typedef int (*scheduler_promote_fn)(void);

/* Starts the scheduler coroutine, which calls promote whenever the
 * earliest run_at comes. */
void scheduler_init(scheduler_promote_fn promote);
/* Stops it (cancel and join).  Yields. */
void scheduler_shutdown(void);
/* A job became scheduled for run_at (ms); wakes the scheduler when that
 * is earlier than what it sleeps towards.  Does not yield. */
void scheduler_kick(int64_t run_at);

#endif /* SCHEDULER_H_INCLUDED */
