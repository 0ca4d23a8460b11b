/*
 * Tests of coro on a real libev loop: scheduling order, wakeups, join and
 * cancel, the guard page and stack reuse.  The awaits, the wait queue,
 * the event and the semaphore are await's (check_await.c), the flush hooks
 * and the loop's own rules loop's (check_loop.c).
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
#include "syncfix.h"

Suite *coro_suite(void);

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

struct fifo_arg {
	struct loopfix_log *log;
	char id;
};

static void
fifo_f(void *arg)
{
	struct fifo_arg *a = arg;

	loopfix_log_add(a->log, a->id);
	coro_yield();
	loopfix_log_add(a->log, a->id);
}

static void
fifo_main_f(void *arg)
{
	struct loopfix_log *log = arg;
	struct fifo_arg fa[3] = {{log, 'A'}, {log, 'B'}, {log, 'C'}};
	struct coro *c[3];

	for (int i = 0; i < 3; i++)
		c[i] = coro_spawn("fifo", fifo_f, &fa[i]);
	loopfix_yield_once();
	loopfix_log_add(log, '|');
	coro_wakeup(c[2]);
	coro_wakeup(c[0]);
	coro_wakeup(c[1]);
	for (int i = 0; i < 3; i++)
		coro_join(c[i]);
}

START_TEST(coro_wakeups_run_in_fifo_order)
{
	struct loopfix_log log = {"", 0};

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

	loopfix_yield_once();
	CO_EXPECT(a->steps == 1);
	coro_wakeup(c);
	coro_wakeup(c);
	coro_wakeup(c);
	loopfix_yield_once();
	CO_EXPECT(a->steps == 2);
	/* Nothing of the extra wakeups may be left queued. */
	loopfix_yield_once();
	loopfix_yield_once();
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
	struct loopfix_log log;
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
		loopfix_log_add(&a->pp->log, a->me ? 'b' : 'a');
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
	loopfix_yield_once();
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

	loopfix_yield_once();
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

	loopfix_yield_once();
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

Suite *
coro_suite(void)
{
	Suite *s = suite_create("coro");
	TCase *tc;

	tc = tcase_create("coro");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loopfix_setup, loopfix_teardown);
	tcase_add_test(tc, coro_spawn_runs_when_loop_runs);
	tcase_add_test(tc, coro_self_and_names);
	tcase_add_test(tc, coro_wakeups_run_in_fifo_order);
	tcase_add_test(tc, coro_wakeup_twice_is_once);
	tcase_add_test(tc, coro_yield_wakeup_pingpong);
	tcase_add_test(tc, coro_join_waits_for_end);
	tcase_add_test(tc, coro_woken_during_last_step_is_not_resumed);
	tcase_add_loop_test(tc, coro_cancel_ends_await, 0, CANCEL_KINDS);
	tcase_add_test(tc, coro_cancel_before_start);
	tcase_add_test(tc, coro_many_spawn_and_reuse_stacks);
	if (fork_disabled())
		tcase_add_test(tc, coro_guard_page_stops_overflow_nofork);
	else
		tcase_add_test_raise_signal(tc, coro_guard_page_stops_overflow,
					    SIGSEGV);
	suite_add_tcase(s, tc);
	return s;
}
