/*
 * loop: the one libev loop of jobd and the place coroutines run from.
 *
 * Before the loop sleeps, an ev_prepare watcher runs every ready coroutine,
 * then the flush hooks (the store's group commit), then coroutines woken by
 * those hooks, until nothing is left to do.  The loop also keeps the counters
 * of SPEC 5.3 `loop` (iterations, lag, slow callbacks, busy time) and, in
 * debug mode, warns about every coroutine step or callback slower than the
 * threshold.
 */
#ifndef LOOP_H_INCLUDED
#define LOOP_H_INCLUDED

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

/* A hook run before the loop sleeps; returns true when it did something
 * (so woken coroutines get to run and the hooks run again). */
typedef bool (*loop_flush_fn)(void *arg);

struct loop_stats {
	uint64_t iterations;
	double lag_max_ms; /* longest time without polling for events */
	uint64_t slow_callbacks;
	double slowest_ms;
	double busy_ms; /* wall time from each poll's return to the next
			   poll, summed since start */
};

/* Creates the loop (a non-default libev loop: jobd reaps its own children
 * through pidfds, so libev must not install a SIGCHLD handler). */
void loop_init(void);
void loop_shutdown(void);
/* The libev loop; borrowed. */
struct ev_loop *loop_ev(void);
/* Which loop it is: changes at each loop_init(), so that a watcher
 * started on an earlier loop (gone with it, even when the new one has
 * its address) is known not to be in this one. */
unsigned loop_generation(void);
/* Adds a flush hook; hooks run in the order added.  name (static) names
 * it in slow-callback warnings ("store.commit"). */
void loop_add_flush(loop_flush_fn fn, void *arg, const char *name);
/* Removes the hook fn with arg, if added; never from inside a hook. */
void loop_remove_flush(loop_flush_fn fn, void *arg);
/* Runs until loop_stop(). */
void loop_run(void);
void loop_stop(void);
/* Monotonic now in seconds (libev's cached time). */
double loop_now(void);
/* Debug mode: time every step, warn above slow_ms. */
void loop_set_debug(bool on, double slow_ms);
bool loop_debug(void);
void loop_get_stats(struct loop_stats *st);

#endif /* LOOP_H_INCLUDED */
