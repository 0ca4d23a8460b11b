/*
 * Tests of coro, loop and await on a real libev loop: scheduling order,
 * wakeups, join and cancel, every await with its timeout, the wait queue,
 * the event and the semaphore, the per-coroutine diag record, the guard
 * page, stack reuse and the loop's flush hooks.
 *
 * Each test spawns a main coroutine, runs the loop until that coroutine
 * stops it, and asserts that the loop returned (loopfix.h).  Coroutines
 * record what they saw (CO_EXPECT) and the test asserts after the loop: a
 * failed Check assertion must not unwind through a coroutine stack.
 * Scenarios whose failure is a crash run in a child process when Check does
 * not fork.
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

Suite *coro_suite(void);

static void
loop_setup(void)
{
	loopfix_reset();
	diag_clear();
	loop_init();
}

static void
loop_teardown(void)
{
	loopfix_teardown();
}

/* Lets every other ready coroutine run once, then comes back. */
static void
yield_once(void)
{
	coro_wakeup(coro_self());
	coro_yield();
}

static bool
fork_disabled(void)
{
	const char *f = getenv("CK_FORK");

	return f != NULL && strcmp(f, "no") == 0;
}

/* Runs body in a child process and returns its wait status, so that a
 * crash which is the bug under test cannot take the runner down. */
static int
child_status(void (*body)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		body();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* ---- spawning and scheduling ---- */

static void
set_flag_f(void *arg)
{
	*(bool *)arg = true;
}

START_TEST(coro_spawn_runs_when_loop_runs)
{
	bool ran = false;
	struct coro *c = coro_spawn("t", set_flag_f, &ran);

	coro_detach(c);
	ck_assert(!ran);
	ck_assert(coro_has_ready());
	loop_run();
	ck_assert(ran);
	ck_assert(!coro_has_ready());
}
END_TEST

static void
self_name_f(void *arg)
{
	struct coro *self = coro_self();

	CO_EXPECT(self != NULL);
	CO_EXPECT(strcmp(coro_name(self), "main") == 0);
	coro_set_name(self, "renamed");
	CO_EXPECT(strcmp(coro_name(self), "renamed") == 0);
	*(bool *)arg = true;
}

START_TEST(coro_self_and_names)
{
	bool ran = false;
	char longname[100];
	struct coro *c;

	ck_assert_ptr_null(coro_self());
	ck_assert_str_eq(coro_name(NULL), "main");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	c = coro_spawn(longname, set_flag_f, &ran);
	ck_assert_uint_eq(strlen(coro_name(c)), 47);
	coro_detach(c);
	loopfix_run(self_name_f, &ran);
	ck_assert(ran);
	ck_assert_ptr_null(coro_self());
}
END_TEST

struct order_log {
	char s[64];
	size_t n;
};

static void
order_add(struct order_log *l, char ch)
{
	if (l->n + 1 < sizeof(l->s))
		l->s[l->n++] = ch;
	l->s[l->n] = '\0';
}

struct fifo_arg {
	struct order_log *log;
	char id;
};

static void
fifo_f(void *arg)
{
	struct fifo_arg *a = arg;

	order_add(a->log, a->id);
	coro_yield();
	order_add(a->log, a->id);
}

static void
fifo_main_f(void *arg)
{
	struct order_log *log = arg;
	struct fifo_arg fa[3] = {{log, 'A'}, {log, 'B'}, {log, 'C'}};
	struct coro *c[3];

	for (int i = 0; i < 3; i++)
		c[i] = coro_spawn("fifo", fifo_f, &fa[i]);
	yield_once();
	order_add(log, '|');
	coro_wakeup(c[2]);
	coro_wakeup(c[0]);
	coro_wakeup(c[1]);
	for (int i = 0; i < 3; i++)
		coro_join(c[i]);
}

START_TEST(coro_wakeups_run_in_fifo_order)
{
	struct order_log log = {"", 0};

	loopfix_run(fifo_main_f, &log);
	ck_assert_str_eq(log.s, "ABC|CAB");
}
END_TEST

struct count_arg {
	int steps;
	bool stop;
};

static void
count_steps_f(void *arg)
{
	struct count_arg *a = arg;

	while (!a->stop) {
		a->steps++;
		coro_yield();
	}
}

static void
double_wakeup_main_f(void *arg)
{
	struct count_arg *a = arg;
	struct coro *c = coro_spawn("counter", count_steps_f, a);

	yield_once();
	CO_EXPECT(a->steps == 1);
	coro_wakeup(c);
	coro_wakeup(c);
	coro_wakeup(c);
	yield_once();
	CO_EXPECT(a->steps == 2);
	/* Nothing of the extra wakeups may be left queued. */
	yield_once();
	yield_once();
	CO_EXPECT(a->steps == 2);
	a->stop = true;
	coro_wakeup(c);
	coro_join(c);
}

START_TEST(coro_wakeup_twice_is_once)
{
	struct count_arg a = {0, false};

	loopfix_run(double_wakeup_main_f, &a);
	ck_assert_int_eq(a.steps, 2);
}
END_TEST

struct pingpong {
	struct coro *peer[2];
	struct order_log log;
	int rounds;
};

struct pp_arg {
	struct pingpong *pp;
	int me;
};

static void
pingpong_f(void *arg)
{
	struct pp_arg *a = arg;

	for (int i = 0; i < a->pp->rounds; i++) {
		order_add(&a->pp->log, a->me ? 'b' : 'a');
		coro_wakeup(a->pp->peer[!a->me]);
		coro_yield();
	}
	coro_wakeup(a->pp->peer[!a->me]); /* let the peer finish too */
}

static void
pingpong_main_f(void *arg)
{
	struct pingpong *pp = arg;
	struct pp_arg pa[2] = {{pp, 0}, {pp, 1}};

	pp->peer[0] = coro_spawn("ping", pingpong_f, &pa[0]);
	pp->peer[1] = coro_spawn("pong", pingpong_f, &pa[1]);
	coro_join(pp->peer[0]);
	coro_join(pp->peer[1]);
}

START_TEST(coro_yield_wakeup_pingpong)
{
	struct pingpong pp;

	memset(&pp, 0, sizeof(pp));
	pp.rounds = 5;
	loopfix_run(pingpong_main_f, &pp);
	ck_assert_str_eq(pp.log.s, "ababababab");
}
END_TEST

/* ---- join ---- */

static void
slow_child_f(void *arg)
{
	await_sleep(0.02);
	*(bool *)arg = true;
}

static void
join_main_f(void *arg)
{
	(void)arg;
	bool finished = false, quick = false;
	struct coro *c = coro_spawn("slow", slow_child_f, &finished);
	double t0 = loopfix_mono();

	CO_EXPECT(!coro_is_done(c));
	coro_join(c);
	CO_EXPECT(finished);
	CO_EXPECT(loopfix_mono() - t0 >= 0.015);

	/* Joining a coroutine that has already returned returns at once. */
	c = coro_spawn("quick", set_flag_f, &quick);
	yield_once();
	CO_EXPECT(quick);
	CO_EXPECT(coro_is_done(c));
	coro_join(c);
}

START_TEST(coro_join_waits_for_end)
{
	loopfix_run(join_main_f, NULL);
}
END_TEST

/* A coroutine woken (by itself here) during its last step must not be
 * resumed after it returned, nor freed while still queued. */
static void
self_wake_f(void *arg)
{
	(*(int *)arg)++;
	coro_wakeup(coro_self());
}

static void
self_cancel_f(void *arg)
{
	(*(int *)arg)++;
	coro_cancel(coro_self());
}

static void
self_wake_main_f(void *arg)
{
	int *runs = arg;

	coro_join(coro_spawn("selfwake", self_wake_f, runs));
	coro_join(coro_spawn("selfcancel", self_cancel_f, runs));
	coro_detach(coro_spawn("selfwake-detached", self_wake_f, runs));
	await_sleep(0.01);
	await_sleep(0.01);
}

static void
self_wake_body(void)
{
	int runs = 0;

	if (!loopfix_ok(self_wake_main_f, &runs) || runs != 3)
		_exit(1);
	loop_shutdown();
	coro_shutdown();
}

START_TEST(coro_woken_during_last_step_is_not_resumed)
{
	int st = child_status(self_wake_body);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "scenario died (%s %d)",
		      WIFSIGNALED(st) ? "signal" : "exit",
		      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}
END_TEST

/* ---- cancel ---- */

enum {
	CANCEL_SLEEP,
	CANCEL_IO,
	CANCEL_WAITQ,
	CANCEL_WAKEUP,
	CANCEL_EVENT,
	CANCEL_SEM,
	CANCEL_KINDS
};

struct cancel_arg {
	int kind;
	int fd;
	struct waitq q;
	struct event ev;
	struct sem sem;
	int rc;
	int code;
	bool cancelled_seen;
	bool started;
};

static void
cancel_target_f(void *arg)
{
	struct cancel_arg *a = arg;

	a->started = true;
	switch (a->kind) {
	case CANCEL_SLEEP:
		a->rc = await_sleep(10);
		break;
	case CANCEL_IO:
		a->rc = await_io(a->fd, EV_READ, 10, false, NULL);
		break;
	case CANCEL_WAITQ:
		a->rc = waitq_wait(&a->q, 10);
		break;
	case CANCEL_WAKEUP:
		a->rc = await_wakeup(10);
		break;
	case CANCEL_EVENT:
		a->rc = event_wait(&a->ev, 10);
		break;
	default:
		a->rc = sem_acquire(&a->sem, 10);
		break;
	}
	a->code = diag_code();
	a->cancelled_seen = coro_is_cancelled();
}

static void
cancel_main_f(void *arg)
{
	struct cancel_arg *a = arg;
	struct coro *c = coro_spawn("target", cancel_target_f, a);
	double t0;

	yield_once();
	CO_EXPECT(a->started);
	CO_EXPECT(!coro_is_done(c));
	CO_EXPECT(!coro_is_cancelled());
	t0 = loopfix_mono();
	coro_cancel(c);
	coro_join(c);
	CO_EXPECT(loopfix_mono() - t0 < 1.0);
	CO_EXPECT(waitq_empty(&a->q));
	CO_EXPECT(waitq_empty(&a->ev.q));
	CO_EXPECT(waitq_empty(&a->sem.q));
}

START_TEST(coro_cancel_ends_await)
{
	struct cancel_arg a;
	int p[2];

	memset(&a, 0, sizeof(a));
	a.kind = _i;
	a.rc = 99;
	sem_init_count(&a.sem, 0);
	ck_assert_int_eq(pipe(p), 0);
	a.fd = p[0];
	loopfix_run(cancel_main_f, &a);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(a.rc, -1);
	ck_assert_int_eq(a.code, E_CANCELLED);
	ck_assert(a.cancelled_seen);
	ck_assert_int_eq(a.sem.count, 0);
}
END_TEST

static void
cancelled_early_f(void *arg)
{
	struct cancel_arg *a = arg;

	a->cancelled_seen = coro_is_cancelled();
	a->rc = await_sleep(0);
	a->code = diag_code();
}

static void
cancel_before_start_main_f(void *arg)
{
	struct coro *c = coro_spawn("early", cancelled_early_f, arg);

	coro_cancel(c);
	coro_join(c);
}

START_TEST(coro_cancel_before_start)
{
	struct cancel_arg a;

	memset(&a, 0, sizeof(a));
	a.rc = 99;
	loopfix_run(cancel_before_start_main_f, &a);
	ck_assert(a.cancelled_seen);
	ck_assert_int_eq(a.rc, -1);
	ck_assert_int_eq(a.code, E_CANCELLED);
}
END_TEST

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

	yield_once();
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

	yield_once();
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
	struct order_log log;
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
	order_add(&w->a->log, (char)('0' + w->idx));
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
	yield_once();
	CO_EXPECT(!waitq_empty(&a->q));
	waitq_notify_one(&a->q);
	yield_once();
	yield_once();
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
	yield_once();
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

	yield_once();
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

	yield_once();
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

/* ---- the diag record follows the coroutine ---- */

struct diag_arg {
	int code_a;
	char msg_a[64];
	int code_b;
};

static void
diag_a_f(void *arg)
{
	struct diag_arg *d = arg;

	diag_set(E_IO, "from a");
	await_sleep(0.01);
	d->code_a = diag_code();
	snprintf(d->msg_a, sizeof(d->msg_a), "%s", diag_msg());
}

static void
diag_b_f(void *arg)
{
	struct diag_arg *d = arg;

	CO_EXPECT(diag_code() == 0);
	diag_set(E_DB, "from b");
	await_sleep(0.02);
	d->code_b = diag_code();
}

static void
diag_main_f(void *arg)
{
	struct coro *a = coro_spawn("a", diag_a_f, arg);
	struct coro *b = coro_spawn("b", diag_b_f, arg);

	CO_EXPECT(diag_code() == 0);
	coro_join(a);
	coro_join(b);
	CO_EXPECT(diag_code() == 0);
}

START_TEST(diag_record_is_per_coroutine)
{
	struct diag_arg d;

	memset(&d, 0, sizeof(d));
	diag_set(E_PERM, "outside");
	loopfix_run(diag_main_f, &d);
	ck_assert_int_eq(d.code_a, E_IO);
	ck_assert_str_eq(d.msg_a, "from a");
	ck_assert_int_eq(d.code_b, E_DB);
	/* The scheduler's own record was not touched. */
	ck_assert_int_eq(diag_code(), E_PERM);
	ck_assert_str_eq(diag_msg(), "outside");
}
END_TEST

/* ---- guard page ---- */

static volatile uintptr_t overflow_top;
static char altstack[64 * 1024];

static int
recurse(int depth)
{
	volatile char pad[1024];

	pad[0] = (char)depth;
	pad[sizeof(pad) - 1] = (char)depth;
	if (depth > 1000000)
		return pad[0];
	return recurse(depth + 1) + pad[0] + pad[sizeof(pad) - 1];
}

static void
overflow_f(void *arg)
{
	overflow_top = (uintptr_t)__builtin_frame_address(0);
	*(int *)arg = recurse(0);
}

/* Checks that the fault is in the page right below the coroutine's stack,
 * then lets it kill the process the default way. */
static void
overflow_segv(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	uintptr_t top = overflow_top;
	uintptr_t ps = 4096;

	(void)uc;
	if (top == 0 || a < top - CORO_STACK_SIZE - 4 * ps ||
	    a >= top - CORO_STACK_SIZE + ps)
		_exit(3);
	signal(sig, SIG_DFL);
}

static void
overflow_body(void)
{
	struct sigaction sa;
	stack_t ss;
	int r = 0;

	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0)
		_exit(5);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = overflow_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		_exit(5);
	coro_detach(coro_spawn("overflow", overflow_f, &r));
	loop_run();
	/* Only reached when the overflow went unnoticed. */
	_exit(4);
}

START_TEST(coro_guard_page_stops_overflow)
{
	overflow_body();
}
END_TEST

START_TEST(coro_guard_page_stops_overflow_nofork)
{
	int st = child_status(overflow_body);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		      "overflow ended with %s %d, not SIGSEGV",
		      WIFSIGNALED(st) ? "signal" : "exit",
		      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}
END_TEST

/* ---- many coroutines, stack reuse ---- */

#define MANY 1000

struct many_arg {
	int finished;
	int detached_finished;
	struct event all_detached;
	uintptr_t frame[2];
};

static void
many_f(void *arg)
{
	struct many_arg *m = arg;

	yield_once();
	m->finished++;
}

static void
many_detached_f(void *arg)
{
	struct many_arg *m = arg;

	await_sleep(0.001);
	if (++m->detached_finished == MANY)
		event_set(&m->all_detached);
}

static void
frame_f(void *arg)
{
	*(uintptr_t *)arg = (uintptr_t)__builtin_frame_address(0);
}

static void
many_main_f(void *arg)
{
	struct many_arg *m = arg;
	struct coro **c = calloc(MANY, sizeof(*c));

	CO_EXPECT(c != NULL);
	if (c == NULL)
		return;
	for (int round = 0; round < 2; round++) {
		m->finished = 0;
		for (int i = 0; i < MANY; i++)
			c[i] = coro_spawn("many", many_f, m);
		for (int i = 0; i < MANY; i++)
			coro_join(c[i]);
		CO_EXPECT(m->finished == MANY);
	}
	free(c);

	for (int i = 0; i < MANY; i++)
		coro_detach(coro_spawn("detached", many_detached_f, m));
	CO_EXPECT(event_wait(&m->all_detached, 5.0) == 0);
	CO_EXPECT(m->detached_finished == MANY);

	/* A freed coroutine's stack is the next one's. */
	coro_join(coro_spawn("frame", frame_f, &m->frame[0]));
	coro_join(coro_spawn("frame", frame_f, &m->frame[1]));
}

START_TEST(coro_many_spawn_and_reuse_stacks)
{
	struct many_arg m;

	memset(&m, 0, sizeof(m));
	loopfix_run(many_main_f, &m);
	ck_assert_int_eq(m.finished, MANY);
	ck_assert_int_eq(m.detached_finished, MANY);
	ck_assert(m.frame[0] != 0);
	ck_assert_msg(m.frame[0] == m.frame[1],
		      "stack not reused: frames at %#lx and %#lx",
		      (unsigned long)m.frame[0], (unsigned long)m.frame[1]);
}
END_TEST

/* ---- the loop ---- */

struct flush_arg {
	struct order_log log;
	struct coro *to_wake;
	int rc;
	uint64_t iter_before, iter_after;
};

static bool
flush_a(void *arg)
{
	struct flush_arg *f = arg;

	order_add(&f->log, 'a');
	if (f->to_wake != NULL) {
		coro_wakeup(f->to_wake);
		f->to_wake = NULL;
		return true;
	}
	return false;
}

static bool
flush_b(void *arg)
{
	order_add(&((struct flush_arg *)arg)->log, 'b');
	return false;
}

static void
flush_main_f(void *arg)
{
	struct flush_arg *f = arg;
	struct loop_stats st;

	order_add(&f->log, 'M');
	loop_get_stats(&st);
	f->iter_before = st.iterations;
	f->to_wake = coro_self();
	f->rc = await_wakeup(2.0);
	loop_get_stats(&st);
	f->iter_after = st.iterations;
	order_add(&f->log, 'M');
}

START_TEST(loop_flush_hooks_run_before_sleep)
{
	struct flush_arg f;
	double t0 = loopfix_mono();

	memset(&f, 0, sizeof(f));
	f.rc = 99;
	loop_add_flush(flush_a, &f, "test.a");
	loop_add_flush(flush_b, &f, "test.b");
	loopfix_run(flush_main_f, &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_msg(loopfix_mono() - t0 < 1.0,
		      "the hook's wakeup was not run");
	/* Woken by the hook and run again in the same pass, before any
	 * sleep. */
	ck_assert_uint_eq(f.iter_before, f.iter_after);
	ck_assert_msg(strncmp(f.log.s, "MabM", 4) == 0, "order %s", f.log.s);
}
END_TEST

struct stop_arg {
	struct coro *helper;
	int rc;
	bool stopped;
};

static void
parked_f(void *arg)
{
	struct stop_arg *h = arg;

	h->rc = await_sleep(2.0);
}

static void
stop_early_main_f(void *arg)
{
	struct stop_arg *h = arg;

	h->helper = coro_spawn("parked", parked_f, h);
	yield_once();
	h->stopped = true;
	loop_stop();
}

/* loop_stop() from the loop's very first pass (loop_run() runs the ready
 * coroutines before it enters libev) must stop the loop, even with a
 * watcher still active.  No watchdog here: it would hide the bug. */
START_TEST(loop_stop_in_first_pass)
{
	struct stop_arg h = {NULL, 99, false};
	double t0 = loopfix_mono(), elapsed;

	coro_detach(coro_spawn("main", stop_early_main_f, &h));
	loop_run();
	elapsed = loopfix_mono() - t0;
	ck_assert(h.stopped);
	/* Unwind the helper before asserting, so that nothing leaks. */
	if (!coro_is_done(h.helper))
		coro_cancel(h.helper);
	coro_detach(h.helper);
	loop_run();
	ck_assert_msg(elapsed < 1.0,
		      "loop_run returned after %.3f s, not at loop_stop()",
		      elapsed);
	ck_assert_int_eq(h.rc, -1);
}
END_TEST

static void
sleep_then_flag_f(void *arg)
{
	await_sleep(0.01);
	*(bool *)arg = true;
}

/* The last watcher's callback wakes a coroutine: loop_run() must run it
 * before returning for lack of watchers. */
START_TEST(loop_runs_what_the_last_watcher_woke)
{
	bool done = false, done_first;

	coro_detach(coro_spawn("sleeper", sleep_then_flag_f, &done));
	loop_run();
	done_first = done;
	if (!done)
		loop_run(); /* let it finish, so nothing leaks */
	ck_assert_msg(done_first, "loop_run() returned with the coroutine "
				  "its timer woke still unrun");
	ck_assert(done);
}
END_TEST

static void
stats_main_f(void *arg)
{
	(void)arg;
	await_sleep(0.01);
	await_sleep(0.01);
}

START_TEST(loop_counts_iterations)
{
	struct loop_stats a, b;

	loop_get_stats(&a);
	loopfix_run(stats_main_f, NULL);
	loop_get_stats(&b);
	ck_assert_uint_ge(b.iterations, a.iterations + 3);
	ck_assert(loop_now() > 0);
	ck_assert_ptr_nonnull(loop_ev());
}
END_TEST

Suite *
coro_suite(void)
{
	Suite *s = suite_create("coro");
	TCase *tc;

	tc = tcase_create("coro");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
	tcase_add_test(tc, coro_spawn_runs_when_loop_runs);
	tcase_add_test(tc, coro_self_and_names);
	tcase_add_test(tc, coro_wakeups_run_in_fifo_order);
	tcase_add_test(tc, coro_wakeup_twice_is_once);
	tcase_add_test(tc, coro_yield_wakeup_pingpong);
	tcase_add_test(tc, coro_join_waits_for_end);
	tcase_add_test(tc, coro_woken_during_last_step_is_not_resumed);
	tcase_add_loop_test(tc, coro_cancel_ends_await, 0, CANCEL_KINDS);
	tcase_add_test(tc, coro_cancel_before_start);
	tcase_add_test(tc, diag_record_is_per_coroutine);
	tcase_add_test(tc, coro_many_spawn_and_reuse_stacks);
	if (fork_disabled())
		tcase_add_test(tc, coro_guard_page_stops_overflow_nofork);
	else
		tcase_add_test_raise_signal(tc, coro_guard_page_stops_overflow,
					    SIGSEGV);
	suite_add_tcase(s, tc);

	tc = tcase_create("await");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
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

	tc = tcase_create("loop");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
	tcase_add_test(tc, loop_flush_hooks_run_before_sleep);
	tcase_add_test(tc, loop_stop_in_first_pass);
	tcase_add_test(tc, loop_runs_what_the_last_watcher_woke);
	tcase_add_test(tc, loop_counts_iterations);
	suite_add_tcase(s, tc);
	return s;
}
