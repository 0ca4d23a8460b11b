/*
 * backoff: the retry delay of SPEC 2.4, and the validation of its four
 * parameters.  Pure arithmetic; randomness comes from the caller.
 */
#include "backoff.h"

#include <math.h>

#include "diag.h"

double
backoff_delay(const struct backoff *b, int n, double u)
{
	double d, jitter;

	if (n < 1)
		n = 1;
	if (!(u >= 0))
		u = 0;
	else if (u > 1)
		u = 1;
	jitter = b->jitter;
	if (!(jitter >= 0))
		jitter = 0;
	else if (jitter > 1)
		jitter = 1;
	if (!(b->base > 0) || !(b->max > 0))
		return 0;
	/* pow() may overflow to inf for large n: that simply means "max". */
	d = b->factor > 1 ? b->base * pow(b->factor, n - 1) : b->base;
	if (!(d <= b->max))
		d = b->max;
	d *= 1 - jitter * u;
	if (!isfinite(d) || d < 0)
		return 0;
	return d;
}

/* Checks one field against [lo, BACKOFF_LIMIT]. */
static int
check_field(const char *name, double v, double lo, double hi)
{
	if (!isfinite(v))
		return diag_set(E_INVAL, "backoff.%s: must be a finite number",
				name);
	if (v < lo || v > hi)
		return diag_set(E_INVAL, "backoff.%s: must be from %g to %g",
				name, lo, hi);
	return 0;
}

int
backoff_validate(const struct backoff *b)
{
	if (check_field("base", b->base, 0, BACKOFF_LIMIT) < 0 ||
	    check_field("factor", b->factor, 1, BACKOFF_LIMIT) < 0 ||
	    check_field("max", b->max, 0, BACKOFF_LIMIT) < 0 ||
	    check_field("jitter", b->jitter, 0, 1) < 0)
		return -1;
	return 0;
}
