/*
 * common: what the benchmark programs (chaos, looplag, load) share to
 * start up and to talk to a running jobd: dying with the program's name,
 * allocators that die on failure, the monotonic clock, sleeps, and a raw
 * connection to the control socket.  It needs libc only, so a tool built
 * without the client library (load) can use it.
 */
#ifndef BENCH_COMMON_H_INCLUDED
#define BENCH_COMMON_H_INCLUDED

#include <signal.h>
#include <stddef.h>

/* Names the program in bench_die's messages (prog, borrowed for good) and
 * sets the exit status bench_die ends it with.  Call first in main. */
void bench_init(const char *prog, int die_status);

/* Prints "PROG: " and the message on stderr and exits with the status
 * bench_init set. */
void bench_die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

/* malloc and realloc (n 0 counts as 1) that die when out of memory; the
 * caller frees. */
void *bench_xmalloc(size_t n);
void *bench_xrealloc(void *p, size_t n);

/* Monotonic seconds. */
double bench_mono(void);

/* Sleeps s seconds (nothing when s <= 0), through signals, unless *stop
 * (stop may be NULL) is set by one: then it returns early. */
void bench_sleep(double s, volatile sig_atomic_t *stop);

/* A stream connection to the Unix socket at path (borrowed), the caller's
 * to close; dies when the path does not fit or connect fails. */
int bench_connect(const char *path);

#endif /* BENCH_COMMON_H_INCLUDED */
