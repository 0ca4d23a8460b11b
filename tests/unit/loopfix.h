/*
 * loopfix: the loop fixture of the unit suites that run coroutines on a
 * real libev loop (coro, store, queue, events, submit).  A test runs its
 * scenario as the main coroutine of the loop; coroutines record what they
 * saw with CO_EXPECT and the test asserts after the loop returns, because a
 * failed Check assertion must not unwind through a coroutine stack.  Every
 * test that made a loop ends it with loopfix_teardown(), which fails the
 * test when a watcher of it is left running (a leak the daemon would carry
 * too).  check_loopfix.c defines no suite; it is named check_*.c only so
 * that the unit runner links it.
 */
#ifndef LOOPFIX_H_INCLUDED
#define LOOPFIX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "coro.h"

/* Inside a coroutine: records "line N: cond" when cond is false and no
 * expectation has failed yet in this test. */
#define CO_EXPECT(cond)                                         \
	do {                                                    \
		if (!(cond))                                    \
			loopfix_expect_failed(__LINE__, #cond); \
	} while (0)

/* Records the failed expectation what (borrowed) at line, unless an
 * earlier one is already recorded.  Only for CO_EXPECT. */
void loopfix_expect_failed(int line, const char *what);

/* Forgets the recorded failure; every test's setup calls it. */
void loopfix_reset(void);

/* The setup of a test that runs the loop: loopfix_reset(), diag_clear()
 * and loop_init(). */
void loopfix_setup(void);

/* Inside a coroutine: lets every other ready coroutine run once, then
 * comes back.  Yields. */
void loopfix_yield_once(void);

/* The order in which coroutines or hooks did things, one character each
 * (at most 63). */
struct loopfix_log {
	char s[64];
	size_t n;
};

/* Appends ch to l, which stays a string. */
void loopfix_log_add(struct loopfix_log *l, char ch);

/* Monotonic seconds. */
double loopfix_mono(void);

/* Runs fn(arg) as the main coroutine of the loop (loop_init done) until it
 * ends and stops the loop.  Returns true when the loop returned because
 * the scenario ended and no expectation failed.  Asserts nothing, so a
 * scenario whose failure is a crash can run in a child process. */
bool loopfix_ok(coro_fn fn, void *arg);
/* The expectation recorded as failed ("line N: cond"), or "" when none;
 * for the message of a failed loopfix_ok(). */
const char *loopfix_failure(void);

/* Runs fn(arg) the same way, with a watchdog timer that keeps the loop
 * alive while the scenario runs and stops it once the scenario is done, or
 * after 5 s.  Without it, a scenario that ends in the loop's first pass
 * would run on (loop_stop_in_first_pass), and one whose last watcher is a
 * one-shot timer would return early (loop_runs_what_the_last_watcher_woke).
 * Fails the test when the loop returned before the scenario ended, or with
 * the first failed expectation. */
void loopfix_run(coro_fn fn, void *arg);

/* Fails the test when the loop still has work of the test's: an event
 * pending, a coroutine ready to run, or an active watcher that keeps the
 * loop alive (what ev_run(EVRUN_NOWAIT) reports; loop_init's own watchers
 * do not count).  Call it after the
 * test has released what it opened (the store stops its own timer on
 * close), before loop_shutdown(). */
void loopfix_assert_quiet(void);

/* The teardown of a test that used the loop: loopfix_assert_quiet(), then
 * loop_shutdown() and coro_shutdown(). */
void loopfix_teardown(void);

#endif /* LOOPFIX_H_INCLUDED */
