/*
 * backoff: the retry delay of SPEC 2.4.  Pure arithmetic: the caller
 * supplies the random number, so results are deterministic and testable.
 */
#ifndef BACKOFF_H_INCLUDED
#define BACKOFF_H_INCLUDED

struct backoff {
	double base;   /* seconds, delay after the first failure */
	double factor; /* growth per further failure, >= 1 */
	double max;    /* seconds, cap before jitter */
	double jitter; /* fraction in [0,1] taken off at random */
};

#define BACKOFF_DEFAULT_INIT         \
	{                            \
		1.0, 2.0, 300.0, 0.1 \
	}

/* Longest duration any backoff field may hold: ten years, in seconds.
 * The one definition of the longest duration jobd takes anywhere: job
 * delays, timeouts and kill_grace (JOBSPEC_MAX_SECONDS), config durations
 * and producer intervals use it too. */
#define BACKOFF_LIMIT (10.0 * 365.0 * 86400.0)

/* Delay in seconds before the next attempt, after n failed attempts (n >= 1;
 * n < 1 is taken as 1): min(max, base * factor^(n-1)) * (1 - jitter * u).
 * u is a uniform random number in [0,1) (clamped into [0,1]).  Never
 * negative, never infinite or NaN for a validated b, however large n is. */
double backoff_delay(const struct backoff *b, int n, double u);

/* Checks b: base >= 0, factor >= 1, max >= 0, jitter in [0,1], all finite,
 * each at most BACKOFF_LIMIT.  Returns 0, or -1 with diag E_INVAL
 * "backoff.<field>: ...". */
int backoff_validate(const struct backoff *b);

#endif /* BACKOFF_H_INCLUDED */
