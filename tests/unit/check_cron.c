/*
 * Tests of cron: parsing into bit sets, parse errors naming the field, next
 * firing times (UTC table), the day-of-month / day-of-week OR rule, and DST
 * gaps and overlaps in America/New_York.  Expected times are written as UTC
 * wall clock and converted with timegm(), independently of the module.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "diag.h"

Suite *cron_suite(void);

/* "YYYY-MM-DD HH:MM[:SS]" in UTC to epoch seconds. */
static int64_t
utc(const char *s)
{
	struct tm tm;
	int n;

	memset(&tm, 0, sizeof(tm));
	n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	ck_assert_msg(n >= 5, "bad test time \"%s\"", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void
utc_setup(void)
{
	set_tz("UTC0");
}

static void
ny_setup(void)
{
	/* The DST tests need the zone database (Debian: tzdata).  Without it
	 * glibc silently uses UTC, so fail loudly rather than pass. */
	ck_assert_msg(access("/usr/share/zoneinfo/America/New_York", R_OK) == 0,
		      "tzdata is missing: install the tzdata package");
	set_tz("America/New_York");
}

START_TEST(cron_parse_bits)
{
	struct cron c;

	ck_assert_int_eq(cron_parse("*/15 0,12 1-3 */4 mon-fri", &c), 0);
	ck_assert_uint_eq(c.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) |
					     (1ull << 45));
	ck_assert_uint_eq(c.hours, (1u << 0) | (1u << 12));
	ck_assert_uint_eq(c.mdays, (1u << 1) | (1u << 2) | (1u << 3));
	ck_assert_uint_eq(c.months, (1u << 1) | (1u << 5) | (1u << 9));
	ck_assert_uint_eq(c.wdays, 0x3e);
	ck_assert(!c.mday_any);
	ck_assert(!c.wday_any);

	ck_assert_int_eq(cron_parse("* * * * *", &c), 0);
	ck_assert_uint_eq(c.minutes, (1ull << 60) - 1);
	ck_assert_uint_eq(c.hours, (1u << 24) - 1);
	ck_assert_uint_eq(c.mdays, 0xfffffffeu);
	ck_assert_uint_eq(c.months, 0x1ffe);
	ck_assert_uint_eq(c.wdays, 0x7f);
	ck_assert(c.mday_any && c.wday_any);
}
END_TEST

START_TEST(cron_parse_sunday_seven)
{
	struct cron c;

	ck_assert_int_eq(cron_parse("0 0 * * 7", &c), 0);
	ck_assert_uint_eq(c.wdays, 1);
	ck_assert_int_eq(cron_parse("0 0 * * 5-7", &c), 0);
	ck_assert_uint_eq(c.wdays, (1u << 5) | (1u << 6) | 1u);
	ck_assert_int_eq(cron_parse("0 0 * * 0-7", &c), 0);
	ck_assert_uint_eq(c.wdays, 0x7f);
}
END_TEST

START_TEST(cron_parse_names_any_case)
{
	struct cron a, b;

	ck_assert_int_eq(cron_parse("0 0 * JAN,Jul,dec Sun,MON,sat", &a), 0);
	ck_assert_int_eq(cron_parse("0 0 * 1,7,12 0,1,6", &b), 0);
	ck_assert_uint_eq(a.months, b.months);
	ck_assert_uint_eq(a.wdays, b.wdays);
	ck_assert_int_eq(cron_parse("0 0 * feb-apr tue-thu", &a), 0);
	ck_assert_uint_eq(a.months, 0x1c);
	ck_assert_uint_eq(a.wdays, 0x1c);
}
END_TEST

START_TEST(cron_parse_steps)
{
	struct cron c;

	ck_assert_int_eq(cron_parse("5-20/5 * * * *", &c), 0);
	ck_assert_uint_eq(c.minutes, (1ull << 5) | (1ull << 10) | (1ull << 15) |
					     (1ull << 20));
	/* "a/n": from a to the end of the field. */
	ck_assert_int_eq(cron_parse("10/20 * * * *", &c), 0);
	ck_assert_uint_eq(c.minutes,
			  (1ull << 10) | (1ull << 30) | (1ull << 50));
	ck_assert_int_eq(cron_parse("0 */7 * * *", &c), 0);
	ck_assert_uint_eq(c.hours,
			  (1u << 0) | (1u << 7) | (1u << 14) | (1u << 21));
	/* A stepped "*" still counts as "*" for the day rule. */
	ck_assert_int_eq(cron_parse("0 0 */2 * *", &c), 0);
	ck_assert(c.mday_any);
}
END_TEST

static const struct {
	const char *name;
	const char *expr;
} shorthand_cases[] = {
	{"@hourly", "0 * * * *"},     {"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},   {"@weekly", "0 0 * * 0"},
	{"@monthly", "0 0 1 * *"},    {"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},   {"@DAILY", "0 0 * * *"},
	{"  @weekly  ", "0 0 * * 0"},
};

START_TEST(cron_parse_shorthands)
{
	struct cron a, b;

	ck_assert_int_eq(cron_parse(shorthand_cases[_i].name, &a), 0);
	ck_assert_int_eq(cron_parse(shorthand_cases[_i].expr, &b), 0);
	ck_assert_uint_eq(a.minutes, b.minutes);
	ck_assert_uint_eq(a.hours, b.hours);
	ck_assert_uint_eq(a.mdays, b.mdays);
	ck_assert_uint_eq(a.months, b.months);
	ck_assert_uint_eq(a.wdays, b.wdays);
	ck_assert(a.mday_any == b.mday_any && a.wday_any == b.wday_any);
}
END_TEST

static const struct {
	const char *expr;
	const char *prefix;
} bad_exprs[] = {
	{"", "cron: "},
	{"* * * *", "cron: "},
	{"* * * * * *", "cron: "},
	{"@reboot", "cron: "},
	{"@daily *", "cron: "},
	{"60 * * * *", "minute: "},
	{"*/0 * * * *", "minute: "},
	{"5-1 * * * *", "minute: "},
	{"1,,2 * * * *", "minute: "},
	{"a * * * *", "minute: "},
	{"*/ * * * *", "minute: "},
	{"1- * * * *", "minute: "},
	{"-1 * * * *", "minute: "},
	{"*-5 * * * *", "minute: "},
	{"1.5 * * * *", "minute: "},
	{"* 24 * * *", "hour: "},
	{"* * 0 * *", "day-of-month: "},
	{"* * 32 * *", "day-of-month: "},
	{"* * * 13 *", "month: "},
	{"* * * 0 *", "month: "},
	{"* * * foo *", "month: "},
	{"* * * janu *", "month: "},
	{"* * * * 8", "day-of-week: "},
	{"* * * * jan", "day-of-week: "},
	{"* * * * 1-7/0", "day-of-week: "},
	{"* * * sun *", "month: "},
};

START_TEST(cron_parse_rejects)
{
	struct cron c;

	diag_clear();
	ck_assert_msg(cron_parse(bad_exprs[_i].expr, &c) == -1,
		      "accepted \"%s\"", bad_exprs[_i].expr);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_msg(strncmp(diag_msg(), bad_exprs[_i].prefix,
			      strlen(bad_exprs[_i].prefix)) == 0,
		      "\"%s\": message \"%s\"", bad_exprs[_i].expr, diag_msg());
}
END_TEST

static const struct {
	const char *expr;
	const char *after; /* UTC */
	const char *next;  /* UTC, or NULL for "never" */
} utc_cases[] = {
	{"* * * * *", "2026-01-01 00:00", "2026-01-01 00:01"},
	{"* * * * *", "2026-01-01 00:00:30", "2026-01-01 00:01"},
	{"0 * * * *", "2026-01-01 10:00", "2026-01-01 11:00"},
	{"0 * * * *", "2026-01-01 09:59:59", "2026-01-01 10:00"},
	{"30 4 * * *", "2026-01-01 04:30", "2026-01-02 04:30"},
	{"30 4 * * *", "2026-01-01 04:29", "2026-01-01 04:30"},
	{"*/15 * * * *", "2026-01-01 10:07", "2026-01-01 10:15"},
	{"*/15 * * * *", "2026-01-01 10:45", "2026-01-01 11:00"},
	{"5-10/2 * * * *", "2026-01-01 10:06", "2026-01-01 10:07"},
	{"5-10/2 * * * *", "2026-01-01 10:09", "2026-01-01 11:05"},
	{"10/20 * * * *", "2026-01-01 10:30", "2026-01-01 10:50"},
	{"0,30 8-9 * * *", "2026-01-01 08:45", "2026-01-01 09:00"},
	{"0,30 8-9 * * *", "2026-01-01 09:30", "2026-01-02 08:00"},
	/* 2026-01-01 is a Thursday. */
	{"0 9 * * mon-fri", "2026-01-02 09:00", "2026-01-05 09:00"},
	{"0 0 * * 0", "2026-01-01 00:00", "2026-01-04 00:00"},
	{"0 0 * * 7", "2026-01-01 00:00", "2026-01-04 00:00"},
	{"0 0 1 jan,jul *", "2026-01-01 00:00", "2026-07-01 00:00"},
	{"0 12 * jan-mar/2 *", "2026-01-31 12:00", "2026-03-01 12:00"},
	{"59 23 31 12 *", "2026-12-31 23:59", "2027-12-31 23:59"},
	{"0 0 31 * *", "2026-01-31 00:00", "2026-03-31 00:00"},
	/* Feb 29: the next leap year. */
	{"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},
	{"0 0 29 2 *", "2024-02-28 23:59", "2024-02-29 00:00"},
	/* Never within 5 years. */
	{"0 0 30 2 *", "2026-01-01 00:00", NULL},
	{"0 0 31 4,6,9,11 *", "2026-01-01 00:00", NULL},
	/* Both day fields restricted: either matches. */
	{"0 0 13 * fri", "2026-01-01 00:00", "2026-01-02 00:00"},
	{"0 0 13 * fri", "2026-01-02 00:00", "2026-01-09 00:00"},
	{"0 0 13 * fri", "2026-01-12 00:00", "2026-01-13 00:00"},
	/* Only day-of-month restricted. */
	{"0 0 13 * *", "2026-01-01 00:00", "2026-01-13 00:00"},
	/* "*" with a step: both must match (odd days that are Mondays). */
	{"0 0 */2 * mon", "2026-01-01 00:00", "2026-01-05 00:00"},
	{"0 0 */2 * mon", "2026-01-05 00:00", "2026-01-19 00:00"},
	/* Shorthands. */
	{"@hourly", "2026-05-05 05:05", "2026-05-05 06:00"},
	{"@daily", "2026-05-05 05:05", "2026-05-06 00:00"},
	{"@weekly", "2026-05-05 05:05", "2026-05-10 00:00"},
	{"@monthly", "2026-05-05 05:05", "2026-06-01 00:00"},
	{"@yearly", "2026-05-05 05:05", "2027-01-01 00:00"},
	/* Year end and a far date. */
	{"0 0 1 1 *", "2099-12-31 23:59", "2100-01-01 00:00"},
	/* The month still has to match: Monday 2 February. */
	{"0 0 29 2 mon", "2026-01-01 00:00", "2026-02-02 00:00"},
};

START_TEST(cron_next_utc)
{
	struct cron c;
	int64_t got, want;

	ck_assert_int_eq(cron_parse(utc_cases[_i].expr, &c), 0);
	got = cron_next(&c, utc(utc_cases[_i].after));
	want = utc_cases[_i].next != NULL ? utc(utc_cases[_i].next) : -1;
	ck_assert_msg(got == want, "\"%s\" after %s: got %lld, want %s (%lld)",
		      utc_cases[_i].expr, utc_cases[_i].after, (long long)got,
		      utc_cases[_i].next ? utc_cases[_i].next : "never",
		      (long long)want);
}
END_TEST

START_TEST(cron_next_strictly_after)
{
	struct cron c;
	int64_t t = utc("2026-06-01 00:00"), n;
	int i;

	/* Walking "*\/7" forward visits each match once, in order. */
	ck_assert_int_eq(cron_parse("*/7 * * * *", &c), 0);
	for (i = 0; i < 200; i++) {
		n = cron_next(&c, t);
		ck_assert_int_gt(n, t);
		ck_assert_int_eq(n % 60, 0);
		ck_assert_int_eq((n / 60) % 60 % 7, 0);
		t = n;
	}
}
END_TEST

START_TEST(cron_next_never_is_fast)
{
	struct cron c;
	clock_t start = clock();
	int i;

	ck_assert_int_eq(cron_parse("* * 31 2 *", &c), 0);
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(cron_next(&c, utc("2026-01-01 00:00") + i),
				 -1);
	/* 200 five-year searches well under a second each. */
	ck_assert_msg(clock() - start < 5 * CLOCKS_PER_SEC,
		      "cron_next too slow");
}
END_TEST

static const struct {
	const char *expr;
	const char *after; /* UTC */
	const char *next;  /* UTC */
} ny_cases[] = {
	/* Spring forward, 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does
	 * not exist that day and is skipped. */
	{"30 2 * * *", "2026-03-07 17:00", "2026-03-09 06:30"},
	{"0 2 * * *", "2026-03-07 17:00", "2026-03-09 06:00"},
	{"*/30 * * * *", "2026-03-08 06:30", "2026-03-08 07:00"},
	/* Times either side of the gap are unaffected. */
	{"59 1 * * *", "2026-03-07 17:00", "2026-03-08 06:59"},
	{"0 3 * * *", "2026-03-07 17:00", "2026-03-08 07:00"},
	/* Fall back, 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens
	 * twice and fires only the first time (EDT). */
	{"30 1 * * *", "2026-10-31 16:00", "2026-11-01 05:30"},
	{"30 1 * * *", "2026-11-01 05:30", "2026-11-02 06:30"},
	{"0 * * * *", "2026-11-01 04:30", "2026-11-01 05:00"},
	{"0 * * * *", "2026-11-01 05:00", "2026-11-01 07:00"},
	/* After the second 01:10: 01:20 was already had (in EDT). */
	{"20 1 * * *", "2026-11-01 06:10", "2026-11-02 06:20"},
	/* A normal day keeps the local hour across the change. */
	{"0 9 * * *", "2026-03-07 15:00", "2026-03-08 13:00"},
	{"0 9 * * *", "2026-10-31 14:00", "2026-11-01 14:00"},
};

START_TEST(cron_next_dst)
{
	struct cron c;
	int64_t got, want;

	ck_assert_int_eq(cron_parse(ny_cases[_i].expr, &c), 0);
	got = cron_next(&c, utc(ny_cases[_i].after));
	want = utc(ny_cases[_i].next);
	ck_assert_msg(got == want,
		      "\"%s\" after %s UTC: got %lld, want %s UTC (%lld)",
		      ny_cases[_i].expr, ny_cases[_i].after, (long long)got,
		      ny_cases[_i].next, (long long)want);
}
END_TEST

START_TEST(cron_next_follows_local_zone)
{
	struct cron c;

	/* 09:00 in New York in January is 14:00 UTC. */
	ck_assert_int_eq(cron_parse("0 9 * * *", &c), 0);
	ck_assert_int_eq(cron_next(&c, utc("2026-01-10 00:00")),
			 utc("2026-01-10 14:00"));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
cron_suite(void)
{
	Suite *s = suite_create("cron");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, cron_parse_bits);
	tcase_add_test(tc, cron_parse_sunday_seven);
	tcase_add_test(tc, cron_parse_names_any_case);
	tcase_add_test(tc, cron_parse_steps);
	tcase_add_loop_test(tc, cron_parse_shorthands, 0, N(shorthand_cases));
	tcase_add_loop_test(tc, cron_parse_rejects, 0, N(bad_exprs));
	suite_add_tcase(s, tc);

	tc = tcase_create("next_utc");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, utc_setup, NULL);
	tcase_add_loop_test(tc, cron_next_utc, 0, N(utc_cases));
	tcase_add_test(tc, cron_next_strictly_after);
	tcase_add_test(tc, cron_next_never_is_fast);
	suite_add_tcase(s, tc);

	tc = tcase_create("next_dst");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, ny_setup, NULL);
	tcase_add_loop_test(tc, cron_next_dst, 0, N(ny_cases));
	tcase_add_test(tc, cron_next_follows_local_zone);
	suite_add_tcase(s, tc);
	return s;
}
