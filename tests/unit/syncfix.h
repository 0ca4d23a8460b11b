/*
 * syncfix: an event (a level-triggered flag) and a counting semaphore,
 * built on the wait queue as a module of jobd would build them.  jobd
 * itself needs neither; the coro and await suites use them to drive
 * waitq_wait's notify, timeout and cancel paths the way such a module does.
 * Include after await.h and loop.h.
 */
#ifndef SYNCFIX_H_INCLUDED
#define SYNCFIX_H_INCLUDED

#include <stdbool.h>

#include <ev.h>

#include "await.h"
#include "loop.h"

struct event {
	bool set;
	struct waitq q;
};

static inline void
event_set(struct event *e)
{
	e->set = true;
	waitq_notify_all(&e->q);
}

static inline void
event_clear(struct event *e)
{
	e->set = false;
}

/* Returns at once when set.  Yields. */
static inline int
event_wait(struct event *e, double timeout)
{
	if (e->set)
		return 0;
	if (waitq_wait(&e->q, timeout) != 0)
		return -1;
	return 0;
}

struct sem {
	long count;
	struct waitq q;
};

static inline void
sem_init_count(struct sem *s, long count)
{
	s->count = count;
	s->q.head = s->q.tail = NULL;
}

/* Takes one unit, waiting while none is left, within one deadline however
 * often it is woken.  Yields. */
static inline int
sem_acquire(struct sem *s, double timeout)
{
	double deadline = timeout >= 0 ? loop_now() + timeout : -1;
	while (s->count <= 0) {
		double left = -1;
		if (deadline >= 0) {
			ev_now_update(loop_ev());
			left = deadline - loop_now();
			if (left < 0)
				left = 0;
		}
		if (waitq_wait(&s->q, left) != 0) {
			/* A unit handed to us while we were cancelled or
			 * timing out goes to the next waiter. */
			if (s->count > 0)
				waitq_notify_one(&s->q);
			return -1;
		}
	}
	s->count--;
	return 0;
}

static inline void
sem_release(struct sem *s)
{
	s->count++;
	waitq_notify_one(&s->q);
}

#endif /* SYNCFIX_H_INCLUDED */
