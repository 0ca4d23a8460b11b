/*
 * scheduler: moves scheduled jobs to queued when their run_at comes.  One
 * coroutine sleeps until the earliest run_at in the store (one timer, no
 * polling); anyone who schedules a job earlier than that kicks it.
 */
#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

#include <stdint.h>

/* Starts the scheduler coroutine. */
void scheduler_init(void);
/* Stops it (cancel and join).  Yields. */
void scheduler_shutdown(void);
/* A job became scheduled for run_at (ms); wakes the scheduler when that
 * is earlier than what it sleeps towards.  Does not yield. */
void scheduler_kick(int64_t run_at);

#endif /* SCHEDULER_H_INCLUDED */
