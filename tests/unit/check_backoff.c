/*
 * Tests of backoff: exact delays with and without jitter, clamping for huge
 * attempt counts, and validation messages.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "backoff.h"
#include "diag.h"

Suite *backoff_suite(void);

START_TEST(backoff_default_sequence)
{
	struct backoff b = {1.0, 2.0, 300.0, 0.0};
	static const double want[] = {1,  2,   4,   8,	 16, 32,
				      64, 128, 256, 300, 300};
	int n;

	for (n = 1; n <= 11; n++)
		ck_assert_double_eq(backoff_delay(&b, n, 0.5), want[n - 1]);
}
END_TEST

START_TEST(backoff_default_init_values)
{
	struct backoff b = BACKOFF_DEFAULT_INIT;

	ck_assert_double_eq(b.base, 1.0);
	ck_assert_double_eq(b.factor, 2.0);
	ck_assert_double_eq(b.max, 300.0);
	ck_assert_double_eq(b.jitter, 0.1);
	ck_assert_int_eq(backoff_validate(&b), 0);
}
END_TEST

START_TEST(backoff_jitter_scales_down)
{
	struct backoff b = {10.0, 3.0, 1000.0, 0.5};

	/* u = 0: no reduction. */
	ck_assert_double_eq(backoff_delay(&b, 1, 0.0), 10.0);
	ck_assert_double_eq(backoff_delay(&b, 2, 0.0), 30.0);
	/* u = 0.5, jitter 0.5: 25% off. */
	ck_assert_double_eq(backoff_delay(&b, 2, 0.5), 22.5);
	/* Capped first, then jittered: min(1000, 2430) * 0.75. */
	ck_assert_double_eq(backoff_delay(&b, 6, 0.5), 750.0);
	/* u just under 1. */
	ck_assert_double_eq_tol(backoff_delay(&b, 1, 0.999999), 5.000005, 1e-9);
}
END_TEST

START_TEST(backoff_full_jitter)
{
	struct backoff b = {4.0, 2.0, 100.0, 1.0};

	ck_assert_double_eq(backoff_delay(&b, 3, 0.75), 4.0);
	ck_assert_double_eq(backoff_delay(&b, 3, 0.0), 16.0);
}
END_TEST

START_TEST(backoff_factor_one_is_constant)
{
	struct backoff b = {7.0, 1.0, 300.0, 0.0};

	ck_assert_double_eq(backoff_delay(&b, 1, 0), 7.0);
	ck_assert_double_eq(backoff_delay(&b, 1000000, 0), 7.0);
}
END_TEST

START_TEST(backoff_huge_n_clamps)
{
	struct backoff b = {1.0, 10.0, 3600.0, 0.0};
	double d;

	d = backoff_delay(&b, 2147483647, 0);
	ck_assert(isfinite(d));
	ck_assert_double_eq(d, 3600.0);
	b.factor = BACKOFF_LIMIT;
	b.base = BACKOFF_LIMIT;
	b.max = BACKOFF_LIMIT;
	b.jitter = 1;
	d = backoff_delay(&b, 5000, 0.3);
	ck_assert(isfinite(d));
	ck_assert_double_eq_tol(d, BACKOFF_LIMIT * 0.7, 1e-3);
}
END_TEST

START_TEST(backoff_zero_base_or_max)
{
	struct backoff b = {0.0, 2.0, 300.0, 0.1};

	ck_assert_double_eq(backoff_delay(&b, 1, 0.5), 0.0);
	/* 0 * inf must not become NaN. */
	ck_assert_double_eq(backoff_delay(&b, 100000, 0.5), 0.0);
	b.base = 5;
	b.max = 0;
	ck_assert_double_eq(backoff_delay(&b, 3, 0.5), 0.0);
}
END_TEST

START_TEST(backoff_n_below_one_is_first)
{
	struct backoff b = {3.0, 2.0, 300.0, 0.0};

	ck_assert_double_eq(backoff_delay(&b, 0, 0), 3.0);
	ck_assert_double_eq(backoff_delay(&b, -5, 0), 3.0);
}
END_TEST

START_TEST(backoff_u_out_of_range_clamped)
{
	struct backoff b = {10.0, 2.0, 300.0, 0.5};

	ck_assert_double_eq(backoff_delay(&b, 1, -3), 10.0);
	ck_assert_double_eq(backoff_delay(&b, 1, 7), 5.0);
	ck_assert_double_eq(backoff_delay(&b, 1, NAN), 10.0);
}
END_TEST

static const struct {
	struct backoff b;
	const char *prefix;
} bad_backoffs[] = {
	{{-1, 2, 300, 0.1}, "backoff.base: "},
	{{NAN, 2, 300, 0.1}, "backoff.base: "},
	{{INFINITY, 2, 300, 0.1}, "backoff.base: "},
	{{BACKOFF_LIMIT * 2, 2, 300, 0.1}, "backoff.base: "},
	{{1, 0.5, 300, 0.1}, "backoff.factor: "},
	{{1, NAN, 300, 0.1}, "backoff.factor: "},
	{{1, BACKOFF_LIMIT + 1, 300, 0.1}, "backoff.factor: "},
	{{1, 2, -0.001, 0.1}, "backoff.max: "},
	{{1, 2, INFINITY, 0.1}, "backoff.max: "},
	{{1, 2, BACKOFF_LIMIT + 1, 0.1}, "backoff.max: "},
	{{1, 2, 300, -0.1}, "backoff.jitter: "},
	{{1, 2, 300, 1.01}, "backoff.jitter: "},
	{{1, 2, 300, NAN}, "backoff.jitter: "},
};

START_TEST(backoff_validate_rejects)
{
	diag_clear();
	ck_assert_int_eq(backoff_validate(&bad_backoffs[_i].b), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_msg(strncmp(diag_msg(), bad_backoffs[_i].prefix,
			      strlen(bad_backoffs[_i].prefix)) == 0,
		      "case %d: message \"%s\"", _i, diag_msg());
}
END_TEST

START_TEST(backoff_validate_accepts_edges)
{
	struct backoff lo = {0, 1, 0, 0};
	struct backoff hi = {BACKOFF_LIMIT, BACKOFF_LIMIT, BACKOFF_LIMIT, 1};

	ck_assert_int_eq(backoff_validate(&lo), 0);
	ck_assert_int_eq(backoff_validate(&hi), 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc;

	tc = tcase_create("delay");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, backoff_default_sequence);
	tcase_add_test(tc, backoff_default_init_values);
	tcase_add_test(tc, backoff_jitter_scales_down);
	tcase_add_test(tc, backoff_full_jitter);
	tcase_add_test(tc, backoff_factor_one_is_constant);
	tcase_add_test(tc, backoff_huge_n_clamps);
	tcase_add_test(tc, backoff_zero_base_or_max);
	tcase_add_test(tc, backoff_n_below_one_is_first);
	tcase_add_test(tc, backoff_u_out_of_range_clamped);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, backoff_validate_rejects, 0, N(bad_backoffs));
	tcase_add_test(tc, backoff_validate_accepts_edges);
	suite_add_tcase(s, tc);
	return s;
}
