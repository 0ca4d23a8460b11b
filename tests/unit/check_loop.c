/*
 * Tests of loop: the flush hooks run before the loop sleeps, a stop in the
 * first pass, the coroutines the last watcher woke, and the iteration
 * count (loopfix.h runs each scenario as the loop's main coroutine).
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

Suite *loop_suite(void);

/* ---- the loop ---- */

struct flush_arg {
	struct loopfix_log log;
	struct coro *to_wake;
	int rc;
	uint64_t iter_before, iter_after;
};

static bool
flush_a(void *arg)
{
	struct flush_arg *f = arg;

	loopfix_log_add(&f->log, 'a');
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
	loopfix_log_add(&((struct flush_arg *)arg)->log, 'b');
	return false;
}

static void
flush_main_f(void *arg)
{
	struct flush_arg *f = arg;
	struct loop_stats st;

	loopfix_log_add(&f->log, 'M');
	loop_get_stats(&st);
	f->iter_before = st.iterations;
	f->to_wake = coro_self();
	f->rc = await_wakeup(2.0);
	loop_get_stats(&st);
	f->iter_after = st.iterations;
	loopfix_log_add(&f->log, 'M');
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
	loopfix_yield_once();
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
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc;

	tc = tcase_create("loop");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loopfix_setup, loopfix_teardown);
	tcase_add_test(tc, loop_flush_hooks_run_before_sleep);
	tcase_add_test(tc, loop_stop_in_first_pass);
	tcase_add_test(tc, loop_runs_what_the_last_watcher_woke);
	tcase_add_test(tc, loop_counts_iterations);
	suite_add_tcase(s, tc);
	return s;
}
