/*
 * await: libev watchers turned into coroutine awaits, and the coroutine
 * synchronisation object built on them: the wait queue.
 *
 * Every await takes a timeout in seconds (< 0: none) and returns 0, or -1
 * with diag E_TIMEOUT (the deadline passed) or E_CANCELLED (the coroutine
 * was cancelled: unwind and release).  Every function here yields unless
 * said otherwise, and must be called from a coroutine.
 */
#ifndef AWAIT_H_INCLUDED
#define AWAIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

struct coro;

/* Sleeps for secs.  Yields. */
int await_sleep(double secs);

/* How long one slice of a big request may hold the loop (ns). */
#define AWAIT_SLICE_NS (2 * 1000 * 1000)

/* Gives the loop a turn: it polls for I/O and runs the other ready
 * coroutines, then this one goes on.  0, or -1 with E_CANCELLED.
 * Yields. */
int await_yield(void);
/* For a loop over a client-supplied count, called once per item (cheap:
 * one clock read): once the running coroutine has held the loop for
 * AWAIT_SLICE_NS, gives the loop a turn (await_yield).  The caller holds
 * no savepoint, unfinished statement or borrowed pointer across it.  0,
 * or -1 with E_CANCELLED.  Yields. */
int await_slice(void);
/* Waits until fd is ready for events (EV_READ and/or EV_WRITE); *revents
 * (may be NULL) gets what fired.  Returns 0 early, with *revents 0, when
 * the coroutine is woken for another reason and spurious is true.
 * Yields. */
int await_io(int fd, int events, double timeout, bool spurious, int *revents);

/* Parks until woken by anyone (coro_wakeup) or until timeout passes.
 * Returns 0 when woken, -1 with E_TIMEOUT or E_CANCELLED.  Callers loop
 * on their own predicate.  Yields. */
int await_wakeup(double timeout);

/* A list of parked coroutines: the condition variable of jobd.  A wait can
 * end spuriously; callers loop on their predicate. */
struct waitq {
	struct waiter *head, *tail;
};

/* A braced list, not a block: */
/* clang-format off */
#define WAITQ_INIT {NULL, NULL}
/* clang-format on */

/* Parks until notified, timed out or cancelled.  Yields. */
int waitq_wait(struct waitq *q, double timeout);
/* Wakes the first waiter / every waiter.  Does not yield. */
void waitq_notify_one(struct waitq *q);
void waitq_notify_all(struct waitq *q);
bool waitq_empty(const struct waitq *q);

#endif /* AWAIT_H_INCLUDED */
