/*
 * stamp: the job of the dispatch-latency benchmark.  Prints CLOCK_REALTIME
 * in nanoseconds, the moment it runs, and exits.  Linked statically when
 * the toolchain can, so little but exec lies between the spawn and the
 * clock read.
 */
#include <stdio.h>
#include <time.h>

int
main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
