/*
 * Tests of jobd_time: RFC 3339 formatting and parsing, durations, sizes,
 * jobctl's --at times and relative times.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobd/time.h"

Suite *time_suite(void);

/* 2026-11-26T10:34:12.123Z, computed independently of the code under
 * test: days from 1970 to 2026-11-26 = 20783. */
#define T_REF INT64_C(1795689252123)

START_TEST(time_format_reference)
{
	char buf[JOBD_TIME_LEN];

	ck_assert_ptr_eq(jobd_time_format(T_REF, buf), buf);
	ck_assert_str_eq(buf, "2026-11-26T10:34:12.123Z");
	ck_assert_str_eq(jobd_time_format(0, buf), "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(jobd_time_format(-1, buf), "1969-12-31T23:59:59.999Z");
	ck_assert_str_eq(jobd_time_format(INT64_C(951782400000), buf),
			 "2000-02-29T00:00:00.000Z");
}
END_TEST

START_TEST(time_format_matches_gmtime)
{
	char buf[JOBD_TIME_LEN], want[64];
	int64_t ms, sec;
	struct tm tm;
	time_t t;
	int i;

	/* Every 37 days and a bit, over 150 years from 1900. */
	for (i = 0, ms = INT64_C(-2208988800000); i < 1500; i++) {
		sec = ms / 1000 - (ms % 1000 < 0);
		t = (time_t)sec;
		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 ".%03dZ", (int)(ms - sec * 1000));
		ck_assert_str_eq(jobd_time_format(ms, buf), want);
		ms += INT64_C(37) * 86400000 + 3723001;
	}
}
END_TEST

START_TEST(time_parse_reference)
{
	int64_t ms = 0;

	ck_assert_int_eq(jobd_time_parse("2026-11-26T10:34:12.123Z", &ms), 0);
	ck_assert_int_eq(ms, T_REF);
	ck_assert_int_eq(jobd_time_parse("2026-11-26t10:34:12.123z", &ms), 0);
	ck_assert_int_eq(ms, T_REF);
	ck_assert_int_eq(jobd_time_parse("2026-11-26 10:34:12.123Z", &ms), 0);
	ck_assert_int_eq(ms, T_REF);
	ck_assert_int_eq(jobd_time_parse("1970-01-01T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 0);
}
END_TEST

START_TEST(time_parse_offsets)
{
	int64_t ms = 0;

	ck_assert_int_eq(jobd_time_parse("2026-11-26T12:34:12.123+02:00", &ms),
			 0);
	ck_assert_int_eq(ms, T_REF);
	ck_assert_int_eq(jobd_time_parse("2026-11-26T05:04:12.123-05:30", &ms),
			 0);
	ck_assert_int_eq(ms, T_REF);
	ck_assert_int_eq(jobd_time_parse("2026-11-26T10:34:12.123-00:00", &ms),
			 0);
	ck_assert_int_eq(ms, T_REF);
	/* Crossing midnight and the year. */
	ck_assert_int_eq(jobd_time_parse("1969-12-31T23:00:00-01:00", &ms), 0);
	ck_assert_int_eq(ms, 0);
}
END_TEST

START_TEST(time_parse_fractions)
{
	int64_t ms = 0;

	ck_assert_int_eq(jobd_time_parse("1970-01-01T00:00:01.5Z", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(jobd_time_parse("1970-01-01T00:00:01.05Z", &ms), 0);
	ck_assert_int_eq(ms, 1050);
	ck_assert_int_eq(jobd_time_parse("1970-01-01T00:00:01.123999Z", &ms),
			 0);
	ck_assert_int_eq(ms, 1123);
	ck_assert_int_eq(jobd_time_parse("1969-12-31T23:59:59.250Z", &ms), 0);
	ck_assert_int_eq(ms, -750);
}
END_TEST

START_TEST(time_parse_roundtrip)
{
	char buf[JOBD_TIME_LEN];
	int64_t ms, back;

	for (ms = INT64_C(-5000000000000); ms < INT64_C(5000000000000);
	     ms += INT64_C(7777777777)) {
		ck_assert_int_eq(
			jobd_time_parse(jobd_time_format(ms, buf), &back), 0);
		ck_assert_int_eq(back, ms);
	}
}
END_TEST

static const char *const bad_times[] = {
	"",
	"2026-11-26",
	"2026-11-26T10:34:12", /* no zone */
	"2026-11-26T10:34Z",
	"2026-13-01T00:00:00Z",
	"2026-00-01T00:00:00Z",
	"2026-02-29T00:00:00Z", /* not a leap year */
	"2100-02-29T00:00:00Z", /* not a leap year either */
	"2026-02-30T00:00:00Z",
	"2026-04-31T00:00:00Z",
	"2026-01-00T00:00:00Z",
	"2026-01-01T24:00:00Z",
	"2026-01-01T00:60:00Z",
	"2026-01-01T00:00:60Z",
	"2026-01-01T00:00:00.Z",
	"2026-01-01T00:00:00+2400",
	"2026-01-01T00:00:00+24:00",
	"2026-01-01T00:00:00+01:60",
	"2026-01-01T00:00:00+1:00",
	"2026-01-01X00:00:00Z",
	"2026-01-01T00:00:00Zjunk",
	"26-01-01T00:00:00Z",
	"2026-1-01T00:00:00Z",
	" 2026-01-01T00:00:00Z",
	"2026-01-01T00:00:00 Z",
};

START_TEST(time_parse_rejects)
{
	int64_t ms = 42;

	errno = 0;
	ck_assert_msg(jobd_time_parse(bad_times[_i], &ms) == -1,
		      "accepted \"%s\"", bad_times[_i]);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(time_parse_leap_day)
{
	int64_t ms = 0;

	ck_assert_int_eq(jobd_time_parse("2024-02-29T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, INT64_C(1709164800000));
	ck_assert_int_eq(jobd_time_parse("2000-02-29T12:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, INT64_C(951825600000));
}
END_TEST

START_TEST(time_now_is_realtime)
{
	/* time() reads a coarse clock that may lag the precise one by a
	 * tick: a second of slack on each side. */
	int64_t a = ((int64_t)time(NULL) - 1) * 1000;
	int64_t now = jobd_time_now_ms();
	int64_t b = ((int64_t)time(NULL) + 2) * 1000;

	ck_assert_int_ge(now, a);
	ck_assert_int_le(now, b);
}
END_TEST

static const struct {
	const char *s;
	double secs;
} good_durations[] = {
	{"30", 30},	   {"1.5", 1.5},     {"30s", 30},
	{"5m", 300},	   {"2h", 7200},     {"7d", 604800},
	{"500ms", 0.5},	   {"0", 0},	     {".5", 0.5},
	{"2.", 2},	   {"0.25h", 900},   {"1.5m", 90},
	{"90", 90},	   {"90s", 90},	     {"1h30m", 5400},
	{"2d", 172800},	   {"1.5h", 5400},   {"2d12h", 216000},
	{"1m30.5s", 90.5}, {"1h0m0s", 3600}, {"1d2h3m4s5ms", 93784.005},
	{"1s500ms", 1.5},
};

START_TEST(time_duration_accepts)
{
	double d = -1;

	ck_assert_int_eq(jobd_duration_parse(good_durations[_i].s, &d), 0);
	ck_assert_double_eq_tol(d, good_durations[_i].secs, 1e-12);
}
END_TEST

static const char *const bad_durations[] = {
	"",   "-1",   "-0",	"+1",	"1x",	"s",	 "1 s",	  " 1",
	"1 ", "nan",  "inf",	"1e3",	"0x10", "1.5.5", "5mm",	  "5M",
	".",  "1sec", "ms",	"1,5",	"1h30", "30m1h", "1h1h",  "1h 30m",
	"h",  "1hm",  "1h-30m", "1h.m", "1m1m", "2d1d",	 "1ms1s", "90+",
};

START_TEST(time_duration_rejects)
{
	double d = 42;

	errno = 0;
	ck_assert_msg(jobd_duration_parse(bad_durations[_i], &d) == -1,
		      "accepted \"%s\"", bad_durations[_i]);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_double_eq(d, 42);
}
END_TEST

START_TEST(time_duration_huge_is_finite_or_rejected)
{
	char big[400];
	double d = 42;

	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(jobd_duration_parse(big, &d), -1);
	ck_assert_double_eq(d, 42);
	ck_assert_int_eq(jobd_duration_parse(NULL, &d), -1);
}
END_TEST

static const struct {
	const char *s;
	int64_t bytes;
} good_sizes[] = {
	{"123", 123},
	{"0", 0},
	{"4K", 4096},
	{"4k", 4096},
	{"16M", 16 << 20},
	{"16m", 16 << 20},
	{"1G", INT64_C(1) << 30},
	{"1g", INT64_C(1) << 30},
	{"4KB", 4096},
	{"4KiB", 4096},
	{"2MiB", 2 << 20},
	{"100B", 100},
	{"8589934591G", INT64_C(8589934591) << 30},
	{"9223372036854775807", INT64_MAX},
};

START_TEST(time_size_accepts)
{
	int64_t b = -1;

	ck_assert_int_eq(jobd_size_parse(good_sizes[_i].s, &b), 0);
	ck_assert_int_eq(b, good_sizes[_i].bytes);
}
END_TEST

static const char *const bad_sizes[] = {
	"",
	"-1",
	"K",
	"1.5M",
	"4X",
	"4KBB",
	"4i",
	"4Ki",
	"4iB",
	" 4K",
	"4K ",
	"4 K",
	"9223372036854775808",
	"8589934592G",
	"99999999999999999999",
	"0x10",
};

START_TEST(time_size_rejects)
{
	int64_t b = 42;

	errno = 0;
	ck_assert_msg(jobd_size_parse(bad_sizes[_i], &b) == -1,
		      "accepted \"%s\"", bad_sizes[_i]);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(b, 42);
}
END_TEST

static const struct {
	double secs;
	const char *text;
} formatted_durations[] = {
	{0, "0"},
	{30, "30s"},
	{90, "90s"},
	{300, "5m"},
	{7200, "2h"},
	{2592000, "30d"},
	{1209600, "14d"},
	{1.5, "1.5s"},
	{0.5, "0.5s"},
	{0.0371908289999965, "0.037191s"},
	{86400.25, "86400.25s"},
	{315360000, "3650d"},
	{1e13, "10000000000000s"},
};

/* Durations of a million seconds and more come out in a form that
 * jobd_duration_parse reads back, never with an exponent. */
START_TEST(time_duration_format_parses_back)
{
	char buf[JOBD_UNIT_LEN];
	double back = -1;

	ck_assert_ptr_eq(
		jobd_duration_format(formatted_durations[_i].secs, buf), buf);
	ck_assert_str_eq(buf, formatted_durations[_i].text);
	ck_assert_int_eq(jobd_duration_parse(buf, &back), 0);
	ck_assert_double_eq_tol(back, formatted_durations[_i].secs, 1e-6);
}
END_TEST

START_TEST(time_duration_format_rejects)
{
	char buf[JOBD_UNIT_LEN];

	ck_assert_ptr_null(jobd_duration_format(-1, buf));
	ck_assert_str_eq(buf, "-");
	ck_assert_ptr_null(jobd_duration_format(NAN, buf));
	ck_assert_ptr_null(jobd_duration_format(INFINITY, buf));
}
END_TEST

static const struct {
	double limit, period;
	const char *text;
} formatted_rates[] = {
	{10, 1, "10/s"},   {100, 60, "100/m"},	     {5, 3600, "5/h"},
	{2, 86400, "2/d"}, {1, 2592000, "1/30d"},    {5, 2, "5/2s"},
	{0.5, 1, "0.5/s"}, {1e9, 1, "1000000000/s"}, {3, 1.5, "3/1.5s"},
};

START_TEST(time_rate_format)
{
	char buf[JOBD_UNIT_LEN];

	ck_assert_str_eq(jobd_rate_format(formatted_rates[_i].limit,
					  formatted_rates[_i].period, buf),
			 formatted_rates[_i].text);
}
END_TEST

START_TEST(time_number_format)
{
	char buf[JOBD_UNIT_LEN];

	ck_assert_str_eq(jobd_number_format(2592000, buf), "2592000");
	ck_assert_str_eq(jobd_number_format(0.1, buf), "0.1");
	ck_assert_str_eq(jobd_number_format(0.00001, buf), "0.00001");
	ck_assert_str_eq(jobd_number_format(-2.5, buf), "-2.5");
	ck_assert_str_eq(jobd_number_format(1e15, buf), "1000000000000000");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- --at ---- */

/* TZ as the suite found it (NULL: unset), put back after each test of
 * the "at" case, so that unforked runs leave the zone alone. */
static char *saved_tz;

static void
zone_save(void)
{
	const char *tz = getenv("TZ");

	saved_tz = tz != NULL ? strdup(tz) : NULL;
}

static void
zone_restore(void)
{
	if (saved_tz != NULL)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved_tz);
	saved_tz = NULL;
}

/* Sets the local zone for the rest of the test. */
static void
zone_set(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* The UTC time s (RFC 3339) in ms, parsed by the code the RFC 3339 tests
 * above check. */
static int64_t
utc(const char *s)
{
	int64_t ms = 0;

	ck_assert_int_eq(jobd_time_parse(s, &ms), 0);
	return ms;
}

static void
at_is(const char *s, int64_t now, int64_t want)
{
	int64_t ms = -1;
	char got[JOBD_TIME_LEN], exp[JOBD_TIME_LEN];

	ck_assert_msg(jobd_at_parse(s, now, &ms) == 0, "refused \"%s\"", s);
	ck_assert_msg(ms == want, "\"%s\": %s, want %s", s,
		      jobd_time_format(ms, got), jobd_time_format(want, exp));
}

START_TEST(time_at_relative)
{
	at_is("+2s", T_REF, T_REF + 2000);
	at_is("+90", T_REF, T_REF + 90000);
	at_is("+1h30m", T_REF, T_REF + 5400000);
	at_is("+1.5h", T_REF, T_REF + 5400000);
	at_is("+2d", T_REF, T_REF + INT64_C(172800000));
	at_is("+0", T_REF, T_REF);
}
END_TEST

START_TEST(time_at_clock_utc)
{
	zone_set("UTC0");
	/* Now is 2026-11-26T10:34:12.123Z. */
	at_is("12:00", T_REF, utc("2026-11-26T12:00:00Z"));
	at_is("10:35", T_REF, utc("2026-11-26T10:35:00Z"));
	at_is("10:34:13", T_REF, utc("2026-11-26T10:34:13Z"));
	/* Passed today, so tomorrow. */
	at_is("10:34", T_REF, utc("2026-11-27T10:34:00Z"));
	at_is("00:00", T_REF, utc("2026-11-27T00:00:00Z"));
	at_is("10:34:12", T_REF, utc("2026-11-27T10:34:12Z"));
	/* Exactly now is not the next occurrence. */
	at_is("10:34:12", utc("2026-11-26T10:34:12Z"),
	      utc("2026-11-27T10:34:12Z"));
	/* Over a month's and a year's end. */
	at_is("08:00", utc("2026-11-30T09:00:00Z"),
	      utc("2026-12-01T08:00:00Z"));
	at_is("08:00", utc("2026-12-31T23:00:00Z"),
	      utc("2027-01-01T08:00:00Z"));
	at_is("tomorrow 09:00", T_REF, utc("2026-11-27T09:00:00Z"));
	at_is("tomorrow 23:59:59", T_REF, utc("2026-11-27T23:59:59Z"));
	at_is("tomorrow 00:00", utc("2026-12-31T23:59:59Z"),
	      utc("2027-01-01T00:00:00Z"));
}
END_TEST

START_TEST(time_at_clock_local)
{
	/* Five hours west of UTC, no DST. */
	zone_set("EST5");
	/* 05:34 local now: 12:00 is today's, 05:00 tomorrow's. */
	at_is("12:00", T_REF, utc("2026-11-26T17:00:00Z"));
	at_is("05:00", T_REF, utc("2026-11-27T10:00:00Z"));
	/* 23:30 local on the 25th: tomorrow is the 26th local. */
	at_is("tomorrow 01:00", utc("2026-11-26T04:30:00Z"),
	      utc("2026-11-26T06:00:00Z"));
	at_is("23:45", utc("2026-11-26T04:30:00Z"),
	      utc("2026-11-26T04:45:00Z"));
}
END_TEST

START_TEST(time_at_clock_dst)
{
	/* Central Europe: CEST from the last Sunday of March (2026-03-29)
	 * to the last Sunday of October (2026-10-25).  A day across a
	 * change is 23 or 25 hours: the clock time stays, the offset moves. */
	zone_set("CET-1CEST,M3.5.0,M10.5.0/3");
	/* 23:30 CET on the 28th; 22:00 passed, so the 29th, in CEST. */
	at_is("22:00", utc("2026-03-28T22:30:00Z"),
	      utc("2026-03-29T20:00:00Z"));
	at_is("tomorrow 12:00", utc("2026-03-28T10:00:00Z"),
	      utc("2026-03-29T10:00:00Z"));
	/* 22:00 CEST on the 24th of October; 21:00 tomorrow is in CET. */
	at_is("21:00", utc("2026-10-24T20:00:00Z"),
	      utc("2026-10-25T20:00:00Z"));
	at_is("tomorrow 21:00", utc("2026-10-24T20:00:00Z"),
	      utc("2026-10-25T20:00:00Z"));
	/* A zoneless date on either side of the change. */
	at_is("2026-03-28T12:00", T_REF, utc("2026-03-28T11:00:00Z"));
	at_is("2026-03-29T12:00", T_REF, utc("2026-03-29T10:00:00Z"));
}
END_TEST

START_TEST(time_at_iso)
{
	zone_set("EST5");
	at_is("2026-11-26T10:34:12Z", 0, utc("2026-11-26T10:34:12Z"));
	at_is("2026-11-26T10:34:12.5Z", 0, utc("2026-11-26T10:34:12.500Z"));
	at_is("2026-11-26T10:34Z", 0, utc("2026-11-26T10:34:00Z"));
	at_is("2026-11-26T10:34+01:00", 0, utc("2026-11-26T09:34:00Z"));
	at_is("2026-11-26T10:34:12+0100", 0, utc("2026-11-26T09:34:12Z"));
	at_is("2026-11-26T10:34-02", 0, utc("2026-11-26T12:34:00Z"));
	at_is("2026-11-26 10:34:12z", 0, utc("2026-11-26T10:34:12Z"));
	/* Without a zone: local time (UTC-5). */
	at_is("2026-11-26T10:34", 0, utc("2026-11-26T15:34:00Z"));
	at_is("2026-11-26T10:34:12", 0, utc("2026-11-26T15:34:12Z"));
	at_is("2026-11-26 10:34:12.25", 0, utc("2026-11-26T15:34:12.250Z"));
	at_is("2026-11-26", 0, utc("2026-11-26T05:00:00Z"));
	at_is("2028-02-29T00:00", 0, utc("2028-02-29T05:00:00Z"));
}
END_TEST

static const char *const bad_ats[] = {
	"",
	"now",
	"25:00",
	"12:60",
	"12:00:60",
	"1:00",
	"12:0",
	"12",
	"12:00 ",
	" 12:00",
	"12:00:00.5",
	"tomorrow",
	"tomorrow ",
	"tomorrow 25:00",
	"tomorrow  10:00",
	"Tomorrow 10:00",
	"yesterday 10:00",
	"+",
	"+1x",
	"+-1h",
	"++1h",
	"+1h 30m",
	"+1e9d",
	"2026-02-29T10:00",
	"2026-13-01",
	"2026-11-26T10",
	"2026-11-26T10:34:12Z junk",
	"2026-11-26T10:34.5",
	"2026-11-26T10:34+25:00",
	"2026-11-26T10:34+01:",
	"2026-11-26T",
	"26-11-2026",
	"2026/11/26",
};

START_TEST(time_at_rejects)
{
	int64_t ms = 42;

	zone_set("UTC0");
	errno = 0;
	ck_assert_msg(jobd_at_parse(bad_ats[_i], T_REF, &ms) == -1,
		      "accepted \"%s\"", bad_ats[_i]);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ms, 42);
	ck_assert_int_eq(jobd_at_parse(NULL, T_REF, &ms), -1);
}
END_TEST

START_TEST(time_relative_format)
{
	char buf[JOBD_UNIT_LEN];

	ck_assert_str_eq(jobd_time_relative(T_REF, T_REF, buf), "now");
	ck_assert_str_eq(jobd_time_relative(T_REF + 499, T_REF, buf), "now");
	ck_assert_str_eq(jobd_time_relative(T_REF + 500, T_REF, buf), "in 1s");
	ck_assert_str_eq(jobd_time_relative(T_REF - 5000, T_REF, buf),
			 "5s ago");
	ck_assert_str_eq(jobd_time_relative(T_REF - 120000, T_REF, buf),
			 "2m ago");
	ck_assert_str_eq(jobd_time_relative(T_REF - 149999, T_REF, buf),
			 "2m ago");
	ck_assert_str_eq(jobd_time_relative(T_REF - 150000, T_REF, buf),
			 "3m ago");
	/* Just under 3h is 3h, not 2h. */
	ck_assert_str_eq(
		jobd_time_relative(T_REF + 3 * 3600000 - 5000, T_REF, buf),
		"in 3h");
	ck_assert_str_eq(
		jobd_time_relative(T_REF + 23 * 3600000 + 1800000, T_REF, buf),
		"in 1d");
	ck_assert_str_eq(jobd_time_relative(T_REF + 3 * 3600000, T_REF, buf),
			 "in 3h");
	ck_assert_str_eq(jobd_time_relative(T_REF + 59499, T_REF, buf),
			 "in 59s");
	ck_assert_str_eq(jobd_time_relative(T_REF + 59999, T_REF, buf),
			 "in 1m");
	ck_assert_str_eq(
		jobd_time_relative(T_REF - 86400000 * INT64_C(400), T_REF, buf),
		"400d ago");
}
END_TEST

Suite *
time_suite(void)
{
	Suite *s = suite_create("time");
	TCase *tc;

	tc = tcase_create("rfc3339");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, time_format_reference);
	tcase_add_test(tc, time_format_matches_gmtime);
	tcase_add_test(tc, time_parse_reference);
	tcase_add_test(tc, time_parse_offsets);
	tcase_add_test(tc, time_parse_fractions);
	tcase_add_test(tc, time_parse_roundtrip);
	tcase_add_loop_test(tc, time_parse_rejects, 0, N(bad_times));
	tcase_add_test(tc, time_parse_leap_day);
	tcase_add_test(tc, time_now_is_realtime);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, time_duration_accepts, 0, N(good_durations));
	tcase_add_loop_test(tc, time_duration_rejects, 0, N(bad_durations));
	tcase_add_test(tc, time_duration_huge_is_finite_or_rejected);
	tcase_add_loop_test(tc, time_duration_format_parses_back, 0,
			    N(formatted_durations));
	tcase_add_test(tc, time_duration_format_rejects);
	tcase_add_loop_test(tc, time_rate_format, 0, N(formatted_rates));
	tcase_add_test(tc, time_number_format);
	tcase_add_loop_test(tc, time_size_accepts, 0, N(good_sizes));
	tcase_add_loop_test(tc, time_size_rejects, 0, N(bad_sizes));
	suite_add_tcase(s, tc);

	tc = tcase_create("at");
	tcase_add_checked_fixture(tc, zone_save, zone_restore);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, time_at_relative);
	tcase_add_test(tc, time_at_clock_utc);
	tcase_add_test(tc, time_at_clock_local);
	tcase_add_test(tc, time_at_clock_dst);
	tcase_add_test(tc, time_at_iso);
	tcase_add_loop_test(tc, time_at_rejects, 0, N(bad_ats));
	tcase_add_test(tc, time_relative_format);
	suite_add_tcase(s, tc);
	return s;
}
