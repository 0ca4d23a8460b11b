/*
 * loopfix: a scenario as the main coroutine of a real loop (loopfix.h).
 */
#include "loopfix.h"

#include <check.h>
#include <stdio.h>
#include <time.h>

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
