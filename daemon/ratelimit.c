/*
 * ratelimit: a token bucket refilled continuously on a clock the caller
 * passes in.  It owns no timers and never reads a clock itself, so tests
 * drive it with made-up times.
 *
 * Invariant: 0 <= tokens <= burst, and burst >= 1 for a limited bucket (a
 * bucket that can never hold a whole token would refuse forever).
 */
#include "ratelimit.h"

#include <math.h>
#include <stddef.h>

/* Tolerance for float rounding: a caller that waits exactly the time it was
 * told must get its token. */
#define RATELIMIT_EPS 1e-9

static bool
unlimited(const struct ratelimit *r)
{
	return !(r->limit > 0) || !(r->period > 0) || !isfinite(r->limit) ||
	       !isfinite(r->period);
}

static void
set_params(struct ratelimit *r, double limit, double period, double burst)
{
	r->limit = limit;
	r->period = period;
	if (unlimited(r)) {
		r->burst = 0;
		return;
	}
	r->burst = burst > 0 && isfinite(burst) ? burst : limit;
	if (r->burst < 1)
		r->burst = 1;
}

/* Adds the tokens earned since r->last.  A clock that went backwards adds
 * nothing; last follows it, so a later forward step earns only the time
 * that really passed after it. */
static void
refill(struct ratelimit *r, double now)
{
	double dt = now - r->last;

	if (dt > 0 && !unlimited(r)) {
		r->tokens += dt * r->limit / r->period;
		if (!(r->tokens <= r->burst))
			r->tokens = r->burst;
	}
	if (isfinite(now))
		r->last = now;
}

void
ratelimit_init(struct ratelimit *r, double limit, double period, double burst,
	       double now)
{
	set_params(r, limit, period, burst);
	r->tokens = r->burst;
	r->last = now;
}

bool
ratelimit_take(struct ratelimit *r, double now, double *wait)
{
	double w;

	if (unlimited(r))
		return true;
	refill(r, now);
	if (r->tokens >= 1 - RATELIMIT_EPS) {
		r->tokens -= 1;
		if (r->tokens < 0)
			r->tokens = 0;
		return true;
	}
	if (wait != NULL) {
		w = (1 - r->tokens) * r->period / r->limit;
		*wait = w > RATELIMIT_EPS ? w : RATELIMIT_EPS;
	}
	return false;
}

void
ratelimit_reconfigure(struct ratelimit *r, double limit, double period,
		      double burst, double now)
{
	bool was_unlimited = unlimited(r);

	refill(r, now);
	set_params(r, limit, period, burst);
	if (was_unlimited) {
		/* A bucket that was not limiting starts full. */
		r->tokens = r->burst;
	} else if (r->tokens > r->burst) {
		r->tokens = r->burst;
	}
	r->last = now;
}
