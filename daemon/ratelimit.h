/*
 * ratelimit: a token bucket on an injected clock (seconds as a double, any
 * monotonic origin).  It holds no timers: the caller asks, and on refusal
 * learns how long to wait.  A clock that goes backwards adds nothing.
 */
#ifndef RATELIMIT_H_INCLUDED
#define RATELIMIT_H_INCLUDED

#include <stdbool.h>

struct ratelimit {
	double limit;  /* tokens per period; <= 0 means unlimited */
	double period; /* seconds */
	double burst;  /* most tokens the bucket holds */
	double tokens; /* tokens now (as of last) */
	double last;   /* seconds, clock reading of the last refill */
};

/* Sets r up full: burst tokens (burst <= 0 means burst = limit).  A limit
 * or period <= 0 makes a bucket that never refuses. */
void ratelimit_init(struct ratelimit *r, double limit, double period,
		    double burst, double now);

/* Refills r up to now (limit/period tokens a second, capped at burst), then
 * takes one token if a whole one is there and returns true.  Otherwise
 * returns false and sets *wait (if wait is not NULL) to the seconds until a
 * whole token is there (> 0). */
bool ratelimit_take(struct ratelimit *r, double now, double *wait);

/* Changes the parameters of r, keeping the tokens it holds (refilled to now
 * at the old rate, then capped to the new burst). */
void ratelimit_reconfigure(struct ratelimit *r, double limit, double period,
			   double burst, double now);

#endif /* RATELIMIT_H_INCLUDED */
