/*
 * loop: libev loop wrapper, coroutine scheduling point, loop statistics.
 */
#include "loop.h"

#include <string.h>
#include <time.h>

#include "coro.h"
#include "log.h"
#include "xmem.h"

#define LOOP_MAX_FLUSH 8

struct flush_hook {
	loop_flush_fn fn;
	void *arg;
	const char *name; /* for slow-callback warnings */
};

static struct ev_loop *evl;
static unsigned generation;
static ev_prepare prepare_w;
static ev_check check_w;
static uint64_t polled_at; /* ns, when the last poll returned */
static struct flush_hook hooks[LOOP_MAX_FLUSH];
static int nhooks;
static struct loop_stats stats;
static bool debug_mode;
static bool stop_requested;
static double slow_ns = 100e6;

static void loop_note_step(const char *what, uint64_t ns);

static void
loop_step_cb(struct coro *c, uint64_t ns)
{
	loop_note_step(coro_name(c), ns);
}

/* Counts (and in debug mode reports) a step named what that took ns. */
static void
loop_note_step(const char *what, uint64_t ns)
{
	double ms = (double)ns / 1e6;
	if (ms > stats.slowest_ms)
		stats.slowest_ms = ms;
	if ((double)ns > slow_ns) {
		stats.slow_callbacks++;
		if (debug_mode)
			log_warnx("slow callback: %s took %.0f ms", what, ms);
	}
}

static void
loop_prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	stats.iterations++;
	for (;;) {
		if (stop_requested)
			break;
		coro_run_ready();
		bool did = false;
		for (int i = 0; i < nhooks; i++) {
			uint64_t t0 = coro_clock_ns();
			if (hooks[i].fn(hooks[i].arg))
				did = true;
			loop_note_step(hooks[i].name, coro_clock_ns() - t0);
		}
		if (!did && !coro_has_ready())
			break;
	}
	/* Lag: how long the loop went without polling, from the moment
	 * the last poll returned.  An event that came in meanwhile waited
	 * this long to be seen. */
	if (polled_at != 0) {
		double lag = (double)(coro_clock_ns() - polled_at) / 1e6;
		if (lag > stats.lag_max_ms)
			stats.lag_max_ms = lag;
		stats.busy_ms += lag;
	}
}

static void
loop_check_cb(struct ev_loop *l, ev_check *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	polled_at = coro_clock_ns();
}

void
loop_init(void)
{
	evl = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	generation++;
	if (evl == NULL)
		fatalx("loop: cannot create the event loop");
	ev_prepare_init(&prepare_w, loop_prepare_cb);
	ev_set_priority(&prepare_w, EV_MINPRI);
	ev_prepare_start(evl, &prepare_w);
	ev_unref(evl);
	ev_check_init(&check_w, loop_check_cb);
	ev_set_priority(&check_w, EV_MAXPRI);
	ev_check_start(evl, &check_w);
	ev_unref(evl);
	coro_set_step_hook(loop_step_cb);
}

void
loop_shutdown(void)
{
	if (evl == NULL)
		return;
	ev_ref(evl);
	ev_prepare_stop(evl, &prepare_w);
	ev_ref(evl);
	ev_check_stop(evl, &check_w);
	ev_loop_destroy(evl);
	evl = NULL;
	nhooks = 0;
}

struct ev_loop *
loop_ev(void)
{
	return evl;
}

unsigned
loop_generation(void)
{
	return generation;
}

void
loop_add_flush(loop_flush_fn fn, void *arg, const char *name)
{
	if (nhooks == LOOP_MAX_FLUSH)
		panic("loop: too many flush hooks");
	hooks[nhooks].fn = fn;
	hooks[nhooks].arg = arg;
	hooks[nhooks].name = name;
	nhooks++;
}

void
loop_remove_flush(loop_flush_fn fn, void *arg)
{
	for (int i = 0; i < nhooks; i++)
		if (hooks[i].fn == fn && hooks[i].arg == arg) {
			memmove(&hooks[i], &hooks[i + 1],
				(size_t)(nhooks - i - 1) * sizeof(hooks[0]));
			nhooks--;
			return;
		}
}

void
loop_run(void)
{
	stop_requested = false;
	/* Run what is ready before the first sleep; ev_run forgets a break
	 * made before it starts, so remember it here.  ev_run also returns
	 * when the last watcher's callback has only woken a coroutine: run
	 * until nothing is ready. */
	loop_prepare_cb(evl, &prepare_w, 0);
	while (!stop_requested) {
		ev_run(evl, 0);
		if (stop_requested || !coro_has_ready())
			break;
		loop_prepare_cb(evl, &prepare_w, 0);
	}
}

void
loop_stop(void)
{
	stop_requested = true;
	ev_break(evl, EVBREAK_ALL);
}

double
loop_now(void)
{
	return ev_now(evl);
}

void
loop_set_debug(bool on, double slow_ms)
{
	debug_mode = on;
	slow_ns = slow_ms * 1e6;
}

bool
loop_debug(void)
{
	return debug_mode;
}

void
loop_get_stats(struct loop_stats *st)
{
	*st = stats;
}
