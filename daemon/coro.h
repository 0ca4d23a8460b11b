/*
 * coro: stackful coroutines on ucontext, scheduled from one place.
 *
 * A coroutine runs until it yields; it is resumed only by the scheduler
 * (coro_run_ready), after someone called coro_wakeup() on it.  Wakeups are
 * idempotent: they append to a FIFO ready list once.  Stacks are mmap'ed with
 * a PROT_NONE guard page below them and reused from a free list; they are
 * registered with Valgrind and switched with AddressSanitizer's fiber hooks.
 *
 * coro owns no libev watcher: awaits live in await.h, and the loop module
 * calls coro_run_ready() before the loop sleeps.
 */
#ifndef CORO_H_INCLUDED
#define CORO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coro;
typedef void (*coro_fn)(void *arg);
/* Called after every coroutine step with how long it ran (ns). */
typedef void (*coro_step_fn)(struct coro *c, uint64_t ns);

/* Default stack size in bytes (256 KiB). */
#define CORO_STACK_SIZE (256 * 1024)

/* Creates a coroutine that will run fn(arg) once the scheduler gets to it.
 * The name (copied, truncated to 47 bytes) appears in slow-callback
 * warnings.  The coroutine stays joinable until coro_join() or
 * coro_detach(); a detached one is freed when it returns. */
struct coro *coro_spawn(const char *name, coro_fn fn, void *arg);
/* coro_spawn() that may fail: NULL with diag E_BUSY when no stack can be
 * mapped (memory or vm.max_map_count exhausted).  For coroutines a client
 * asks for, which are refused rather than taking jobd down; coro_spawn()
 * panics instead, for the daemon's own. */
struct coro *coro_try_spawn(const char *name, coro_fn fn, void *arg);
/* The running coroutine, or NULL in the scheduler context. */
struct coro *coro_self(void);
const char *coro_name(const struct coro *c);
/* Renames c (copied). */
void coro_set_name(struct coro *c, const char *name);
/* One word private to the running coroutine, zero when it is spawned (a
 * process-wide word outside any coroutine); borrowed.  The store keeps
 * there the first transaction holding a write of this coroutine that has
 * not yet been synced, so a rolled-back write is never reported. */
uint64_t *coro_local(void);

/* Makes c runnable; harmless when it already is, or when it has ended. */
void coro_wakeup(struct coro *c);
/* Parks the running coroutine until someone wakes it.  Yields. */
void coro_yield(void);
/* How many times any coroutine has yielded so far: a code path that must
 * not yield (a savepoint's span) compares it before and after.  Does not
 * yield. */
uint64_t coro_yields(void);
/* Asks c to unwind: sets its cancelled flag and wakes it.  Its awaits then
 * return -1 with E_CANCELLED. */
void coro_cancel(struct coro *c);
/* True when the running coroutine was cancelled. */
bool coro_is_cancelled(void);
/* Waits for c to return, then frees it.  Yields. */
void coro_join(struct coro *c);
/* c is freed by the scheduler when it returns; c must not be used after. */
void coro_detach(struct coro *c);
/* True when c has returned. */
bool coro_is_done(const struct coro *c);

/* Runs ready coroutines until none is ready; returns how many steps ran.
 * Scheduler context only. */
size_t coro_run_ready(void);
/* True when some coroutine is ready to run. */
bool coro_has_ready(void);
/* The monotonic clock (CLOCK_MONOTONIC) in ns: the one clock read of
 * jobd's step, hook and lag timings, slices and job durations.  Does not
 * yield. */
uint64_t coro_clock_ns(void);
/* How long the running coroutine has run since it was last resumed (ns);
 * 0 in the scheduler context.  Long loops use it to know when to give
 * the loop a turn (await_slice). */
uint64_t coro_step_ns(void);
/* Installs a step-timing hook (NULL removes it). */
void coro_set_step_hook(coro_step_fn fn);
/* Frees cached stacks (at exit, for leak checkers). */
void coro_shutdown(void);

#endif /* CORO_H_INCLUDED */
