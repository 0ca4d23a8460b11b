/*
 * Tests of ratelimit on a fake clock: burst, continuous refill, the wait it
 * reports, reconfiguration and a clock that goes backwards.
 */
#include <check.h>
#include <math.h>

#include "ratelimit.h"

Suite *ratelimit_suite(void);

/* Takes tokens until refused; returns how many were taken. */
static int
drain(struct ratelimit *r, double now)
{
	int n = 0;

	while (ratelimit_take(r, now, NULL) && n < 100000)
		n++;
	return n;
}

START_TEST(ratelimit_starts_full_with_burst)
{
	struct ratelimit r;

	ratelimit_init(&r, 10, 1, 20, 100.0);
	ck_assert_int_eq(drain(&r, 100.0), 20);
}
END_TEST

START_TEST(ratelimit_burst_defaults_to_limit)
{
	struct ratelimit r;

	ratelimit_init(&r, 5, 2, 0, 0.0);
	ck_assert_double_eq(r.burst, 5);
	ck_assert_int_eq(drain(&r, 0.0), 5);
	ratelimit_init(&r, 3, 1, -1, 0.0);
	ck_assert_int_eq(drain(&r, 0.0), 3);
}
END_TEST

START_TEST(ratelimit_refills_continuously)
{
	struct ratelimit r;

	/* 5 per 2 s: one token every 0.4 s. */
	ratelimit_init(&r, 5, 2, 5, 0.0);
	ck_assert_int_eq(drain(&r, 0.0), 5);
	ck_assert(!ratelimit_take(&r, 0.39, NULL));
	ck_assert(ratelimit_take(&r, 0.4, NULL));
	ck_assert(!ratelimit_take(&r, 0.4, NULL));
	/* 2 s later: 5 more, not more than burst. */
	ck_assert_int_eq(drain(&r, 10.0), 5);
}
END_TEST

START_TEST(ratelimit_wait_is_time_to_next_token)
{
	struct ratelimit r;
	double wait = -1;

	ratelimit_init(&r, 10, 1, 1, 50.0);
	ck_assert(ratelimit_take(&r, 50.0, &wait));
	ck_assert_double_eq(wait, -1); /* untouched on success */
	ck_assert(!ratelimit_take(&r, 50.0, &wait));
	ck_assert_double_eq_tol(wait, 0.1, 1e-9);
	ck_assert(!ratelimit_take(&r, 50.025, &wait));
	ck_assert_double_eq_tol(wait, 0.075, 1e-9);
	/* Waiting exactly the time told must be enough. */
	ck_assert(ratelimit_take(&r, 50.025 + wait, &wait));
}
END_TEST

START_TEST(ratelimit_wait_positive_slow_rate)
{
	struct ratelimit r;
	double wait = 0;

	/* 1 per hour. */
	ratelimit_init(&r, 1, 3600, 0, 0.0);
	ck_assert(ratelimit_take(&r, 0.0, &wait));
	ck_assert(!ratelimit_take(&r, 1.0, &wait));
	ck_assert_double_eq_tol(wait, 3599.0, 1e-6);
	ck_assert(wait > 0);
}
END_TEST

START_TEST(ratelimit_steady_rate)
{
	struct ratelimit r;
	double now = 0, wait;
	int taken = 0;

	/* Taking as fast as allowed for 100 s yields burst + 100 * rate. */
	ratelimit_init(&r, 3, 1, 3, 0.0);
	while (now <= 100.0) {
		if (ratelimit_take(&r, now, &wait)) {
			taken++;
		} else {
			ck_assert(wait > 0);
			now += wait;
		}
	}
	ck_assert_int_eq(taken, 3 + 300);
}
END_TEST

START_TEST(ratelimit_clock_backwards)
{
	struct ratelimit r;
	double wait = 0;

	ratelimit_init(&r, 1, 1, 1, 1000.0);
	ck_assert(ratelimit_take(&r, 1000.0, NULL));
	/* Back 500 s: no tokens appear, the wait is still sane. */
	ck_assert(!ratelimit_take(&r, 500.0, &wait));
	ck_assert(wait > 0 && wait <= 1.0);
	ck_assert(r.tokens >= 0 && r.tokens < 1);
	/* Forward again from the new reading only. */
	ck_assert(!ratelimit_take(&r, 500.5, NULL));
	ck_assert(ratelimit_take(&r, 501.0, NULL));
	/* A NaN clock neither crashes nor grants tokens. */
	ck_assert(!ratelimit_take(&r, NAN, &wait));
	ck_assert(isfinite(wait) && wait > 0);
}
END_TEST

START_TEST(ratelimit_reconfigure_keeps_tokens)
{
	struct ratelimit r;

	ratelimit_init(&r, 10, 1, 10, 0.0);
	ck_assert_int_eq(drain(&r, 0.0), 10);
	/* Half a second at 10/s: 5 tokens, then a slower rate. */
	ratelimit_reconfigure(&r, 1, 1, 10, 0.5);
	ck_assert_double_eq_tol(r.tokens, 5, 1e-9);
	ck_assert_int_eq(drain(&r, 0.5), 5);
	ck_assert(!ratelimit_take(&r, 1.4, NULL));
	ck_assert(ratelimit_take(&r, 1.5, NULL));
}
END_TEST

START_TEST(ratelimit_reconfigure_caps_to_new_burst)
{
	struct ratelimit r;

	ratelimit_init(&r, 100, 1, 100, 0.0);
	ratelimit_reconfigure(&r, 100, 1, 3, 0.0);
	ck_assert_int_eq(drain(&r, 0.0), 3);
}
END_TEST

START_TEST(ratelimit_unlimited)
{
	struct ratelimit r;

	ratelimit_init(&r, 0, 1, 0, 0.0);
	ck_assert_int_eq(drain(&r, 0.0), 100000);
	/* From unlimited to limited: starts with a full bucket. */
	ratelimit_reconfigure(&r, 2, 1, 4, 1.0);
	ck_assert_int_eq(drain(&r, 1.0), 4);
	/* And back. */
	ratelimit_reconfigure(&r, 0, 1, 0, 2.0);
	ck_assert(ratelimit_take(&r, 2.0, NULL));
}
END_TEST

START_TEST(ratelimit_fractional_limit_still_fires)
{
	struct ratelimit r;
	double wait = 0;

	/* 0.5 per second: the bucket must still hold one whole token. */
	ratelimit_init(&r, 0.5, 1, 0, 0.0);
	ck_assert(ratelimit_take(&r, 0.0, NULL));
	ck_assert(!ratelimit_take(&r, 1.0, &wait));
	ck_assert_double_eq_tol(wait, 1.0, 1e-9);
	ck_assert(ratelimit_take(&r, 2.0, NULL));
}
END_TEST

Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc;

	tc = tcase_create("bucket");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, ratelimit_starts_full_with_burst);
	tcase_add_test(tc, ratelimit_burst_defaults_to_limit);
	tcase_add_test(tc, ratelimit_refills_continuously);
	tcase_add_test(tc, ratelimit_wait_is_time_to_next_token);
	tcase_add_test(tc, ratelimit_wait_positive_slow_rate);
	tcase_add_test(tc, ratelimit_steady_rate);
	tcase_add_test(tc, ratelimit_clock_backwards);
	tcase_add_test(tc, ratelimit_unlimited);
	tcase_add_test(tc, ratelimit_fractional_limit_still_fires);
	suite_add_tcase(s, tc);

	tc = tcase_create("reconfigure");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, ratelimit_reconfigure_keeps_tokens);
	tcase_add_test(tc, ratelimit_reconfigure_caps_to_new_burst);
	suite_add_tcase(s, tc);
	return s;
}
