/*
 * loopfix: a scenario as the main coroutine of a real loop (loopfix.h).
 */
#include "loopfix.h"

#include <check.h>
#include <stdio.h>
#include <time.h>

#include "diag.h"
#include "loop.h"

/* The first expectation that failed inside a coroutine, or "". */
static char co_fail[256];

void
loopfix_expect_failed(int line, const char *what)
{
	if (co_fail[0] == '\0')
		snprintf(co_fail, sizeof(co_fail), "line %d: %s", line, what);
}

void
loopfix_reset(void)
{
	co_fail[0] = '\0';
}

void
loopfix_setup(void)
{
	loopfix_reset();
	diag_clear();
	loop_init();
}

void
loopfix_yield_once(void)
{
	coro_wakeup(coro_self());
	coro_yield();
}

void
loopfix_log_add(struct loopfix_log *l, char ch)
{
	if (l->n + 1 < sizeof(l->s))
		l->s[l->n++] = ch;
	l->s[l->n] = '\0';
}

double
loopfix_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct scenario {
	coro_fn fn;
	void *arg;
	bool done;
};

static void
scenario_main_f(void *arg)
{
	struct scenario *sc = arg;

	sc->fn(sc->arg);
	sc->done = true;
	loop_stop();
}

const char *
loopfix_failure(void)
{
	return co_fail;
}

bool
loopfix_ok(coro_fn fn, void *arg)
{
	struct scenario sc = {fn, arg, false};

	coro_detach(coro_spawn("main", scenario_main_f, &sc));
	loop_run();
	return sc.done && co_fail[0] == '\0';
}

static ev_timer watchdog;
static const struct scenario *watched;
static double watch_deadline;

static void
watchdog_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	if (watched->done || loopfix_mono() > watch_deadline)
		loop_stop();
}

void
loopfix_run(coro_fn fn, void *arg)
{
	struct scenario sc = {fn, arg, false};

	watched = &sc;
	watch_deadline = loopfix_mono() + 5.0;
	ev_timer_init(&watchdog, watchdog_cb, 0.01, 0.01);
	ev_timer_start(loop_ev(), &watchdog);
	coro_detach(coro_spawn("main", scenario_main_f, &sc));
	loop_run();
	ev_timer_stop(loop_ev(), &watchdog);
	watched = NULL;
	ck_assert_msg(sc.done, "the loop returned before the scenario ended");
	ck_assert_msg(co_fail[0] == '\0', "%s", co_fail);
}

void
loopfix_assert_quiet(void)
{
	struct ev_loop *l = loop_ev();
	unsigned int iter;
	int active;

	ck_assert_ptr_nonnull(l);
	ck_assert_msg(ev_pending_count(l) == 0,
		      "%u event(s) left pending after the test",
		      ev_pending_count(l));
	ck_assert_msg(!coro_has_ready(),
		      "a coroutine was left ready to run after the test");
	/* One pass without blocking, which returns whether a watcher that
	 * keeps the loop alive is still active (loop_init's own are not
	 * counted).  With none, it runs only the loop's prepare and check
	 * watchers (and the flush hooks, which must find nothing to do)
	 * and wakes nothing. */
	iter = ev_iteration(l);
	active = ev_run(l, EVRUN_NOWAIT);
	ck_assert_uint_eq(ev_iteration(l), iter + 1);
	ck_assert_msg(active == 0, "a watcher was left active after the test");
	ck_assert_msg(!coro_has_ready(),
		      "a watcher left behind woke a coroutine");
}

void
loopfix_teardown(void)
{
	loopfix_assert_quiet();
	loop_shutdown();
	coro_shutdown();
}
