/*
 * Tests of await on a real libev loop: await_sleep, await_io and
 * await_wakeup with their timeouts, the wait queue, the event and the
 * semaphore (loopfix.h runs each scenario as the loop's main coroutine).
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "loop.h"
#include "loopfix.h"
#include "syncfix.h"

Suite *await_suite(void);

/* ---- await_sleep, await_io, await_wakeup ---- */

static void
sleep_main_f(void *arg)
{
	double *elapsed = arg;
	double t0;

	/* Start from a fresh loop time: how a stale one shortens sleeps is
	 * await_sleep_counts_from_the_call's business. */
	CO_EXPECT(await_sleep(0) == 0);
	t0 = loopfix_mono();
	CO_EXPECT(await_sleep(0.05) == 0);
	elapsed[0] = loopfix_mono() - t0;
	t0 = loopfix_mono();
	CO_EXPECT(await_sleep(0) == 0);
	CO_EXPECT(await_sleep(-1) == 0);
	elapsed[1] = loopfix_mono() - t0;
}

START_TEST(await_sleep_takes_its_time)
{
	double elapsed[2] = {0, 0};

	loopfix_run(sleep_main_f, elapsed);
	ck_assert_msg(elapsed[0] >= 0.049, "slept %.4f s", elapsed[0]);
	ck_assert_msg(elapsed[0] < 1.0, "slept %.4f s", elapsed[0]);
	ck_assert_msg(elapsed[1] < 0.5, "zero sleeps took %.4f s", elapsed[1]);
}
END_TEST

/* A step that ran long leaves libev's cached time behind; a sleep started
 * after it must still last its full length from the call. */
static void
sleep_after_slow_step_main_f(void *arg)
{
	double *elapsed = arg;
	double t0 = loopfix_mono();

	while (loopfix_mono() - t0 < 0.04)
		; /* a slow step, on purpose */
	t0 = loopfix_mono();
	CO_EXPECT(await_sleep(0.05) == 0);
	*elapsed = loopfix_mono() - t0;
}

START_TEST(await_sleep_counts_from_the_call)
{
	double elapsed = 0;

	loopfix_run(sleep_after_slow_step_main_f, &elapsed);
	ck_assert_msg(elapsed >= 0.05, "slept %.4f s of 0.05", elapsed);
}
END_TEST

struct io_arg {
	int rfd, wfd;
	int rc, code, revents;
	double elapsed;
	struct coro *reader;
};

static void
io_writer_f(void *arg)
{
	struct io_arg *a = arg;

	await_sleep(0.02);
	CO_EXPECT(write(a->wfd, "x", 1) == 1);
}

static void
io_main_f(void *arg)
{
	struct io_arg *a = arg;
	struct coro *w = coro_spawn("writer", io_writer_f, a);
	double t0 = loopfix_mono();

	a->rc = await_io(a->rfd, EV_READ, 2.0, false, &a->revents);
	a->code = diag_code();
	a->elapsed = loopfix_mono() - t0;
	coro_join(w);
}

START_TEST(await_io_readable_after_write)
{
	struct io_arg a;
	int p[2];
	char ch;

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(pipe(p), 0);
	a.rfd = p[0];
	a.wfd = p[1];
	loopfix_run(io_main_f, &a);
	ck_assert_int_eq(a.rc, 0);
	ck_assert(a.revents & EV_READ);
	ck_assert_msg(a.elapsed >= 0.015 && a.elapsed < 1.0, "waited %.4f s",
		      a.elapsed);
	ck_assert_int_eq(read(p[0], &ch, 1), 1);
	ck_assert_int_eq(ch, 'x');
	close(p[0]);
	close(p[1]);
}
END_TEST

static void
io_timeout_main_f(void *arg)
{
	struct io_arg *a = arg;
	double t0 = loopfix_mono();

	a->revents = -1;
	a->rc = await_io(a->rfd, EV_READ, 0.03, false, &a->revents);
	a->code = diag_code();
	a->elapsed = loopfix_mono() - t0;
}

START_TEST(await_io_times_out)
{
	struct io_arg a;
	int p[2];

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(pipe(p), 0);
	a.rfd = p[0];
	loopfix_run(io_timeout_main_f, &a);
	ck_assert_int_eq(a.rc, -1);
	ck_assert_int_eq(a.code, E_TIMEOUT);
	ck_assert_int_eq(a.revents, 0);
	ck_assert_msg(a.elapsed >= 0.025 && a.elapsed < 1.0, "waited %.4f s",
		      a.elapsed);
	close(p[0]);
	close(p[1]);
}
END_TEST

static void
io_spurious_reader_f(void *arg)
{
	struct io_arg *a = arg;

	a->revents = -1;
	a->rc = await_io(a->rfd, EV_READ, 2.0, true, &a->revents);
	a->code = diag_code();
}

static void
io_spurious_main_f(void *arg)
{
	struct io_arg *a = arg;
	struct coro *r = coro_spawn("reader", io_spurious_reader_f, a);
	int rev = 0;

	loopfix_yield_once();
	CO_EXPECT(!coro_is_done(r));
	coro_wakeup(r);
	coro_join(r);
	/* An empty pipe is writable at once. */
	CO_EXPECT(await_io(a->wfd, EV_WRITE, 1.0, false, &rev) == 0);
	CO_EXPECT(rev & EV_WRITE);
}

START_TEST(await_io_spurious_wakeup)
{
	struct io_arg a;
	int p[2];

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(pipe(p), 0);
	a.rfd = p[0];
	a.wfd = p[1];
	loopfix_run(io_spurious_main_f, &a);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(a.revents, 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

struct wakeup_arg {
	int rc[2], code[2];
	double elapsed[2];
};

static void
wakeup_sleeper_f(void *arg)
{
	struct wakeup_arg *a = arg;
	double t0 = loopfix_mono();

	a->rc[0] = await_wakeup(2.0);
	a->code[0] = diag_code();
	a->elapsed[0] = loopfix_mono() - t0;
}

static void
wakeup_main_f(void *arg)
{
	struct wakeup_arg *a = arg;
	struct coro *c = coro_spawn("sleeper", wakeup_sleeper_f, a);
	double t0;

	loopfix_yield_once();
	coro_wakeup(c);
	coro_join(c);
	t0 = loopfix_mono();
	a->rc[1] = await_wakeup(0.03);
	a->code[1] = diag_code();
	a->elapsed[1] = loopfix_mono() - t0;
}

START_TEST(await_wakeup_woken_or_timeout)
{
	struct wakeup_arg a;

	memset(&a, 0, sizeof(a));
	loopfix_run(wakeup_main_f, &a);
	ck_assert_int_eq(a.rc[0], 0);
	ck_assert_msg(a.elapsed[0] < 1.0, "woken after %.4f s", a.elapsed[0]);
	ck_assert_int_eq(a.rc[1], -1);
	ck_assert_int_eq(a.code[1], E_TIMEOUT);
	ck_assert_msg(a.elapsed[1] >= 0.025, "timed out after %.4f s",
		      a.elapsed[1]);
}
END_TEST

/* ---- wait queue ---- */

struct wq_arg {
	struct waitq q;
	struct loopfix_log log;
	int rc[3];
};

struct wq_waiter {
	struct wq_arg *a;
	int idx;
};

static void
wq_waiter_f(void *arg)
{
	struct wq_waiter *w = arg;

	w->a->rc[w->idx] = waitq_wait(&w->a->q, 2.0);
	loopfix_log_add(&w->a->log, (char)('0' + w->idx));
}

static void
wq_main_f(void *arg)
{
	struct wq_arg *a = arg;
	struct wq_waiter w[3] = {{a, 0}, {a, 1}, {a, 2}};
	struct coro *c[3];

	CO_EXPECT(waitq_empty(&a->q));
	for (int i = 0; i < 3; i++)
		c[i] = coro_spawn("waiter", wq_waiter_f, &w[i]);
	loopfix_yield_once();
	CO_EXPECT(!waitq_empty(&a->q));
	waitq_notify_one(&a->q);
	loopfix_yield_once();
	loopfix_yield_once();
	CO_EXPECT(strcmp(a->log.s, "0") == 0);
	CO_EXPECT(!waitq_empty(&a->q));
	waitq_notify_all(&a->q);
	CO_EXPECT(waitq_empty(&a->q));
	for (int i = 0; i < 3; i++)
		coro_join(c[i]);
	/* Notifying an empty queue is harmless. */
	waitq_notify_one(&a->q);
	waitq_notify_all(&a->q);
}

START_TEST(waitq_notify_one_then_all)
{
	struct wq_arg a;

	memset(&a, 0, sizeof(a));
	loopfix_run(wq_main_f, &a);
	ck_assert_str_eq(a.log.s, "012");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(a.rc[i], 0);
}
END_TEST

static void
wq_timeout_main_f(void *arg)
{
	struct wq_arg *a = arg;
	double t0 = loopfix_mono();

	a->rc[0] = waitq_wait(&a->q, 0.03);
	a->rc[1] = diag_code();
	CO_EXPECT(loopfix_mono() - t0 >= 0.025);
	CO_EXPECT(waitq_empty(&a->q));
}

START_TEST(waitq_wait_times_out)
{
	struct wq_arg a;

	memset(&a, 0, sizeof(a));
	loopfix_run(wq_timeout_main_f, &a);
	ck_assert_int_eq(a.rc[0], -1);
	ck_assert_int_eq(a.rc[1], E_TIMEOUT);
}
END_TEST

/* ---- event ---- */

struct ev_arg {
	struct event e;
	int rc[2];
	bool spy_ran;
	int late_rc, late_code;
};

struct ev_waiter {
	struct ev_arg *a;
	int idx;
};

static void
ev_waiter_f(void *arg)
{
	struct ev_waiter *w = arg;

	w->a->rc[w->idx] = event_wait(&w->a->e, 2.0);
}

static void
spy_f(void *arg)
{
	*(bool *)arg = true;
}

static void
ev_main_f(void *arg)
{
	struct ev_arg *a = arg;
	struct ev_waiter w[2] = {{a, 0}, {a, 1}};
	struct coro *c[2], *spy;
	double t0;

	for (int i = 0; i < 2; i++)
		c[i] = coro_spawn("ev", ev_waiter_f, &w[i]);
	loopfix_yield_once();
	CO_EXPECT(!coro_is_done(c[0]) && !coro_is_done(c[1]));
	event_set(&a->e);
	coro_join(c[0]);
	coro_join(c[1]);

	/* Set: returns at once, without letting another coroutine run. */
	spy = coro_spawn("spy", spy_f, &a->spy_ran);
	CO_EXPECT(event_wait(&a->e, 1.0) == 0);
	CO_EXPECT(!a->spy_ran);
	coro_join(spy);
	CO_EXPECT(a->spy_ran);

	event_clear(&a->e);
	t0 = loopfix_mono();
	a->late_rc = event_wait(&a->e, 0.03);
	a->late_code = diag_code();
	CO_EXPECT(loopfix_mono() - t0 >= 0.025);
}

START_TEST(event_set_wakes_waiters)
{
	struct ev_arg a;

	memset(&a, 0, sizeof(a));
	a.rc[0] = a.rc[1] = 99;
	loopfix_run(ev_main_f, &a);
	ck_assert_int_eq(a.rc[0], 0);
	ck_assert_int_eq(a.rc[1], 0);
	ck_assert_int_eq(a.late_rc, -1);
	ck_assert_int_eq(a.late_code, E_TIMEOUT);
}
END_TEST

/* ---- semaphore ---- */

struct sem_arg {
	struct sem s;
	int holders, max_holders, finished;
};

static void
sem_worker_f(void *arg)
{
	struct sem_arg *a = arg;

	if (sem_acquire(&a->s, 2.0) != 0) {
		CO_EXPECT(!"sem_acquire failed");
		return;
	}
	a->holders++;
	if (a->holders > a->max_holders)
		a->max_holders = a->holders;
	await_sleep(0.01);
	a->holders--;
	sem_release(&a->s);
	a->finished++;
}

static void
sem_main_f(void *arg)
{
	struct sem_arg *a = arg;
	struct coro *c[5];

	for (int i = 0; i < 5; i++)
		c[i] = coro_spawn("sem", sem_worker_f, a);
	for (int i = 0; i < 5; i++)
		coro_join(c[i]);
	CO_EXPECT(sem_acquire(&a->s, 0) == 0);
	CO_EXPECT(sem_acquire(&a->s, 0) == 0);
	CO_EXPECT(sem_acquire(&a->s, 0.02) == -1);
	CO_EXPECT(diag_code() == E_TIMEOUT);
	CO_EXPECT(waitq_empty(&a->s.q));
	sem_release(&a->s);
	sem_release(&a->s);
}

START_TEST(sem_limits_holders)
{
	struct sem_arg a;

	memset(&a, 0, sizeof(a));
	sem_init_count(&a.s, 2);
	loopfix_run(sem_main_f, &a);
	ck_assert_int_eq(a.finished, 5);
	ck_assert_int_eq(a.max_holders, 2);
	ck_assert_int_eq(a.s.count, 2);
}
END_TEST

struct sem_race {
	struct sem s;
	int rc[2], code[2];
	double elapsed[2];
};

struct sem_racer {
	struct sem_race *r;
	int idx;
	double timeout;
};

static void
sem_racer_f(void *arg)
{
	struct sem_racer *x = arg;
	double t0 = loopfix_mono();

	x->r->rc[x->idx] = sem_acquire(&x->r->s, x->timeout);
	x->r->code[x->idx] = diag_code();
	x->r->elapsed[x->idx] = loopfix_mono() - t0;
}

/* A unit released to a waiter that is cancelled before it runs must go to
 * the next waiter, not be lost while the count says it is free. */
static void
sem_cancel_race_main_f(void *arg)
{
	struct sem_race *r = arg;
	struct sem_racer x[2] = {{r, 0, 2.0}, {r, 1, 0.3}};
	struct coro *a = coro_spawn("a", sem_racer_f, &x[0]);
	struct coro *b = coro_spawn("b", sem_racer_f, &x[1]);

	loopfix_yield_once();
	sem_release(&r->s);
	coro_cancel(a);
	coro_join(a);
	coro_join(b);
}

START_TEST(sem_cancelled_waiter_passes_the_unit_on)
{
	struct sem_race r;

	memset(&r, 0, sizeof(r));
	sem_init_count(&r.s, 0);
	loopfix_run(sem_cancel_race_main_f, &r);
	/* Either a kept the unit, or b got it; never neither. */
	ck_assert_msg(r.rc[0] == 0 || r.rc[1] == 0,
		      "released unit lost: a rc %d code %d, b rc %d code %d "
		      "after %.3f s, count %ld",
		      r.rc[0], r.code[0], r.rc[1], r.code[1], r.elapsed[1],
		      r.s.count);
	ck_assert_int_eq(r.s.count, 0);
}
END_TEST

/* A waiter whose unit was taken by someone else in between keeps its
 * deadline: the timeout is for the whole acquire. */
static void
sem_deadline_main_f(void *arg)
{
	struct sem_race *r = arg;
	struct sem_racer x = {r, 0, 0.1};
	struct coro *a = coro_spawn("a", sem_racer_f, &x);

	loopfix_yield_once();
	await_sleep(0.05);
	sem_release(&r->s);
	CO_EXPECT(sem_acquire(&r->s, 0) == 0); /* barges in: no yield */
	coro_join(a);
	sem_release(&r->s);
}

START_TEST(sem_acquire_keeps_its_deadline)
{
	struct sem_race r;

	memset(&r, 0, sizeof(r));
	sem_init_count(&r.s, 0);
	loopfix_run(sem_deadline_main_f, &r);
	ck_assert_int_eq(r.rc[0], -1);
	ck_assert_int_eq(r.code[0], E_TIMEOUT);
	ck_assert_msg(r.elapsed[0] < 0.13,
		      "acquire with timeout 0.1 s gave up after %.3f s",
		      r.elapsed[0]);
}
END_TEST

Suite *
await_suite(void)
{
	Suite *s = suite_create("await");
	TCase *tc;

	tc = tcase_create("await");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loopfix_setup, loopfix_teardown);
	tcase_add_test(tc, await_sleep_takes_its_time);
	tcase_add_test(tc, await_sleep_counts_from_the_call);
	tcase_add_test(tc, await_io_readable_after_write);
	tcase_add_test(tc, await_io_times_out);
	tcase_add_test(tc, await_io_spurious_wakeup);
	tcase_add_test(tc, await_wakeup_woken_or_timeout);
	tcase_add_test(tc, waitq_notify_one_then_all);
	tcase_add_test(tc, waitq_wait_times_out);
	tcase_add_test(tc, event_set_wakes_waiters);
	tcase_add_test(tc, sem_limits_holders);
	tcase_add_test(tc, sem_cancelled_waiter_passes_the_unit_on);
	tcase_add_test(tc, sem_acquire_keeps_its_deadline);
	suite_add_tcase(s, tc);
	return s;
}
