/*
 * await: each await follows one recipe: watchers and a wait record on the
 * coroutine's own stack, their data pointing at the record, start, yield,
 * stop every watcher on every path, then check for cancellation.
 */
#include "await.h"

#include <assert.h>
#include <ev.h>

#include "coro.h"
#include "diag.h"
#include "loop.h"

struct waiter {
	struct coro *c;
	struct waiter *next, *prev;
	bool notified;
	bool linked;
};

struct wait_rec {
	struct coro *c;
	int revents; /* what fired */
	bool timed_out;
};

static void
await_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	struct wait_rec *r = w->data;
	r->timed_out = true;
	coro_wakeup(r->c);
}

static void
await_io_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	struct wait_rec *r = w->data;
	r->revents |= revents;
	coro_wakeup(r->c);
}

static int
check_cancel(void)
{
	if (coro_is_cancelled())
		return diag_set(E_CANCELLED, "cancelled");
	return 0;
}

int
await_sleep(double secs)
{
	struct wait_rec r = {coro_self(), 0, false};
	ev_timer t;
	if (check_cancel() != 0)
		return -1;
	ev_now_update(loop_ev());
	ev_timer_init(&t, await_timer_cb, secs > 0 ? secs : 0, 0);
	t.data = &r;
	ev_timer_start(loop_ev(), &t);
	while (!r.timed_out && !coro_is_cancelled())
		coro_yield();
	ev_timer_stop(loop_ev(), &t);
	return check_cancel();
}

int
await_yield(void)
{
	/* A timer due now fires after the loop's next poll, so what came in
	 * meanwhile is seen first. */
	return await_sleep(0);
}

int
await_slice(void)
{
	if (coro_step_ns() < AWAIT_SLICE_NS)
		return check_cancel();
	return await_yield();
}

int
await_io(int fd, int events, double timeout, bool spurious, int *revents)
{
	struct wait_rec r = {coro_self(), 0, false};
	ev_io w;
	ev_timer t;
	if (revents)
		*revents = 0;
	if (check_cancel() != 0)
		return -1;
	ev_io_init(&w, await_io_cb, fd, events);
	w.data = &r;
	ev_io_start(loop_ev(), &w);
	if (timeout >= 0) {
		/* Count from now, not from the loop's cached time, which
		 * lags by however long this pass has run. */
		ev_now_update(loop_ev());
		ev_timer_init(&t, await_timer_cb, timeout, 0);
		t.data = &r;
		ev_timer_start(loop_ev(), &t);
	}
	for (;;) {
		coro_yield();
		if (r.revents || r.timed_out || coro_is_cancelled() || spurious)
			break;
	}
	ev_io_stop(loop_ev(), &w);
	if (timeout >= 0)
		ev_timer_stop(loop_ev(), &t);
	if (check_cancel() != 0)
		return -1;
	if (revents)
		*revents = r.revents;
	if (!r.revents && r.timed_out)
		return diag_set(E_TIMEOUT, "timed out");
	return 0;
}

int
await_wakeup(double timeout)
{
	struct wait_rec r = {coro_self(), 0, false};
	ev_timer t;
	if (check_cancel() != 0)
		return -1;
	if (timeout >= 0) {
		/* Count from now, not from the loop's cached time, which
		 * lags by however long this pass has run. */
		ev_now_update(loop_ev());
		ev_timer_init(&t, await_timer_cb, timeout, 0);
		t.data = &r;
		ev_timer_start(loop_ev(), &t);
	}
	coro_yield();
	if (timeout >= 0)
		ev_timer_stop(loop_ev(), &t);
	if (check_cancel() != 0)
		return -1;
	if (r.timed_out)
		return diag_set(E_TIMEOUT, "timed out");
	return 0;
}

static void
waitq_link(struct waitq *q, struct waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->linked = true;
}

static void
waitq_unlink(struct waitq *q, struct waiter *w)
{
	if (!w->linked)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->linked = false;
}

int
waitq_wait(struct waitq *q, double timeout)
{
	struct waiter w = {coro_self(), NULL, NULL, false, false};
	struct wait_rec r = {coro_self(), 0, false};
	ev_timer t;
	if (check_cancel() != 0)
		return -1;
	waitq_link(q, &w);
	if (timeout >= 0) {
		/* Count from now, not from the loop's cached time, which
		 * lags by however long this pass has run. */
		ev_now_update(loop_ev());
		ev_timer_init(&t, await_timer_cb, timeout, 0);
		t.data = &r;
		ev_timer_start(loop_ev(), &t);
	}
	while (!w.notified && !r.timed_out && !coro_is_cancelled())
		coro_yield();
	waitq_unlink(q, &w);
	if (timeout >= 0)
		ev_timer_stop(loop_ev(), &t);
	if (check_cancel() != 0)
		return -1;
	if (!w.notified)
		return diag_set(E_TIMEOUT, "timed out");
	return 0;
}

void
waitq_notify_one(struct waitq *q)
{
	struct waiter *w = q->head;
	if (w == NULL)
		return;
	waitq_unlink(q, w);
	w->notified = true;
	coro_wakeup(w->c);
}

void
waitq_notify_all(struct waitq *q)
{
	while (q->head != NULL)
		waitq_notify_one(q);
}

bool
waitq_empty(const struct waitq *q)
{
	return q->head == NULL;
}
