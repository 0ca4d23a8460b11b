/*
 * fuzz: the two entry points libFuzzer calls in every target of
 * tests/fuzz/.  A target checks its module's contract on each input and
 * aborts (a crash libFuzzer saves) when an invariant does not hold.
 */
#ifndef FUZZ_H_INCLUDED
#define FUZZ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input; may be left undefined. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Runs one input (borrowed); returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed invariant when cond is false. */
#define FUZZ_CHECK(cond)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

#endif /* FUZZ_H_INCLUDED */
