/*
 * Tests that run natively only.  Valgrind does not know pidfd_open, which
 * every child the spawner starts needs, runs a CLONE_VFORK child as a
 * forked copy, and counts its own memory in every process it runs: the
 * tests that depend on those return early under it, and say so.
 */
#ifndef NATIVELY_H_INCLUDED
#define NATIVELY_H_INCLUDED

#include <stdio.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Ends the calling test under Valgrind, telling why (a string). */
#define SKIP_UNDER_VALGRIND(why)                                             \
	do {                                                                 \
		if (RUNNING_ON_VALGRIND) {                                   \
			fprintf(stderr, "%s: skipped under Valgrind (%s)\n", \
				__func__, why);                              \
			return;                                              \
		}                                                            \
	} while (0)

#endif /* NATIVELY_H_INCLUDED */
