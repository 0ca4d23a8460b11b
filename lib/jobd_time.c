/*
 * jobd_time: wall-clock milliseconds, RFC 3339 formatting and parsing, and
 * the duration and size syntax of the config file and jobctl.  Pure libc,
 * shared by the daemon and the client library: no allocation, no diag.
 * Calendar arithmetic is done by hand, so nothing reads the TZ variable
 * but jobctl's --at (jobd_at_parse), whose clock times and zoneless dates
 * are the local time's.
 */
#include "jobd/time.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY INT64_C(86400000)

int64_t
jobd_time_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of jobd_time_days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

static int
einval(void)
{
	errno = EINVAL;
	return -1;
}

int64_t
jobd_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
jobd_time_format(int64_t ms, char *buf)
{
	int64_t days, rem, y;
	int m, d;

	/* Floor division, so times before 1970 format correctly. */
	days = ms / MS_PER_DAY;
	rem = ms % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, JOBD_TIME_LEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (long long)y, m, d, (int)(rem / 3600000),
		 (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
		 (int)(rem % 1000));
	return buf;
}

/* Reads exactly n decimal digits at *p into *v and advances *p. */
static bool
digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

int
jobd_time_parse(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, scale = 100, oh, om, off = 0;
	int64_t t;

	if (s == NULL)
		return einval();
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return einval();
	if (*p != 'T' && *p != 't' && *p != ' ')
		return einval();
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
	    *p++ != ':' || !digits(&p, 2, &sec))
		return einval();
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return einval();
		/* Milliseconds are kept; finer digits are truncated. */
		for (; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
			return einval();
		if (oh > 23 || om > 59)
			return einval();
		off = sign * (oh * 60 + om);
	} else {
		return einval();
	}
	if (*p != '\0')
		return einval();
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return einval();
	t = jobd_time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
	    sec - (int64_t)off * 60;
	*ms = t * 1000 + frac;
	return 0;
}

/* Parses the unsigned decimal number (digits, optional fraction, no sign,
 * no exponent) at the start of s; *end is set past it.  Done by hand so the
 * locale's decimal point does not matter. */
static bool
parse_decimal(const char *s, const char **end, double *out)
{
	const char *p = s;
	double v = 0, scale = 1;
	bool any = false;

	for (; *p >= '0' && *p <= '9'; p++, any = true)
		v = v * 10 + (*p - '0');
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++, any = true) {
			scale *= 10;
			v += (*p - '0') / scale;
		}
	}
	*end = p;
	*out = v;
	return any;
}

/* The seconds of the unit at the start of p ("ms", "s", "m", "h", "d"),
 * with *end set past it; 0 when no unit is there. */
static double
unit_at(const char *p, const char **end)
{
	static const struct {
		const char *name;
		double secs;
	} units[] = {
		{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (strncmp(p, units[i].name, n) == 0) {
			*end = p + n;
			return units[i].secs;
		}
	}
	return 0;
}

int
jobd_duration_parse(const char *s, double *secs)
{
	const char *p = s;
	double v, mult, total = 0, last = 0;

	if (s == NULL || *s == '\0')
		return einval();
	while (*p != '\0') {
		if (!parse_decimal(p, &p, &v))
			return einval();
		mult = unit_at(p, &p);
		if (mult == 0) {
			/* A bare number is seconds, alone only. */
			if (*p != '\0' || last != 0)
				return einval();
			mult = 1;
		}
		/* Parts go from the largest unit down, each unit once. */
		if (last != 0 && !(mult < last))
			return einval();
		last = mult;
		total += v * mult;
	}
	if (!isfinite(total))
		return einval();
	*secs = total;
	return 0;
}

/* Writes the non-negative us microseconds as "W" or "W.F" (no trailing
 * zeros) into buf. */
static void
put_micros(long long us, char *buf)
{
	long long w = us / 1000000, f = us % 1000000;
	int digits = 6;

	if (f == 0) {
		snprintf(buf, JOBD_UNIT_LEN, "%lld", w);
		return;
	}
	while (f % 10 == 0) {
		f /= 10;
		digits--;
	}
	snprintf(buf, JOBD_UNIT_LEN, "%lld.%0*lld", w, digits, f);
}

/* Values past this many seconds are written as whole numbers: their
 * microseconds would not fit a long long. */
#define WHOLE_ONLY 9.0e12

char *
jobd_number_format(double v, char *buf)
{
	bool neg = v < 0;

	if (!isfinite(v)) {
		snprintf(buf, JOBD_UNIT_LEN, "-");
		return buf;
	}
	if (neg)
		v = -v;
	if (v >= WHOLE_ONLY)
		snprintf(buf, JOBD_UNIT_LEN, "%.0f", v);
	else
		put_micros(llround(v * 1e6), buf);
	if (neg && strcmp(buf, "0") != 0) {
		memmove(buf + 1, buf, strlen(buf) + 1);
		buf[0] = '-';
	}
	return buf;
}

char *
jobd_duration_format(double secs, char *buf)
{
	static const struct {
		long long secs;
		const char *unit;
	} units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
	long long us, s;

	if (!(secs >= 0) || !isfinite(secs)) {
		snprintf(buf, JOBD_UNIT_LEN, "-");
		errno = EINVAL;
		return NULL;
	}
	if (secs >= WHOLE_ONLY) {
		snprintf(buf, JOBD_UNIT_LEN, "%.0fs", secs);
		return buf;
	}
	us = llround(secs * 1e6);
	if (us == 0) {
		snprintf(buf, JOBD_UNIT_LEN, "0");
		return buf;
	}
	if (us % 1000000 == 0) {
		s = us / 1000000;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (s % units[i].secs == 0) {
				snprintf(buf, JOBD_UNIT_LEN, "%lld%s",
					 s / units[i].secs, units[i].unit);
				return buf;
			}
	}
	put_micros(us, buf);
	strcat(buf, "s");
	return buf;
}

char *
jobd_rate_format(double limit, double period, char *buf)
{
	char n[JOBD_UNIT_LEN], p[JOBD_UNIT_LEN];

	jobd_number_format(limit, n);
	if (period == 1)
		snprintf(p, sizeof(p), "s");
	else if (period == 60)
		snprintf(p, sizeof(p), "m");
	else if (period == 3600)
		snprintf(p, sizeof(p), "h");
	else if (period == 86400)
		snprintf(p, sizeof(p), "d");
	else
		jobd_duration_format(period, p);
	snprintf(buf, JOBD_UNIT_LEN, "%.23s/%.23s", n, p);
	return buf;
}

int
jobd_size_parse(const char *s, int64_t *bytes)
{
	const char *p = s;
	int64_t v = 0, mult = 1;

	if (s == NULL || *p < '0' || *p > '9')
		return einval();
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return einval();
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case 'k':
	case 'K':
		mult = INT64_C(1) << 10;
		break;
	case 'm':
	case 'M':
		mult = INT64_C(1) << 20;
		break;
	case 'g':
	case 'G':
		mult = INT64_C(1) << 30;
		break;
	case 't':
	case 'T':
		mult = INT64_C(1) << 40;
		break;
	default:
		break;
	}
	if (mult != 1) {
		p++;
		if (*p == 'i')
			p++;
	}
	if (*p == 'B')
		p++;
	if (*p != '\0' || (p[-1] == 'i'))
		return einval();
	if (v > INT64_MAX / mult)
		return einval();
	*bytes = v * mult;
	return 0;
}

/* ---- jobctl's --at and relative times: the local time zone ---- */

/* The local time of the broken-down local date and time tm (tm_isdst
 * left to mktime, so a DST change between now and then is the zone's
 * business, not ours) in ms, plus frac ms.  -1 with EINVAL when mktime
 * cannot represent it. */
static int
local_ms(struct tm *tm, int frac, int64_t *ms)
{
	time_t t;

	tm->tm_isdst = -1;
	errno = 0;
	t = mktime(tm);
	if (t == (time_t)-1 && errno != 0)
		return einval();
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

/* Reads "HH:MM[:SS]" at *p into tm's time fields and advances *p. */
static bool
clock_time(const char **p, struct tm *tm)
{
	int h, mi, sec = 0;

	if (!digits(p, 2, &h) || *(*p)++ != ':' || !digits(p, 2, &mi))
		return false;
	if (**p == ':' && (++*p, !digits(p, 2, &sec)))
		return false;
	if (h > 23 || mi > 59 || sec > 59)
		return false;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = sec;
	return true;
}

/* "HH:MM[:SS]" on the day now falls on, or the day after when that time
 * has passed (or is now); with tomorrow, on the day after always. */
static int
at_clock(const char *s, int64_t now_ms, bool tomorrow, int64_t *ms)
{
	time_t now = (time_t)(now_ms / 1000 - (now_ms % 1000 < 0));
	const char *p = s;
	struct tm tm, want;
	int64_t t;

	if (localtime_r(&now, &tm) == NULL)
		return einval();
	want = tm;
	if (!clock_time(&p, &want) || *p != '\0')
		return einval();
	if (tomorrow)
		want.tm_mday++;
	tm = want;
	if (local_ms(&tm, 0, &t) != 0)
		return -1;
	if (!tomorrow && t <= now_ms) {
		want.tm_mday++;
		if (local_ms(&want, 0, &t) != 0)
			return -1;
	}
	*ms = t;
	return 0;
}

/* Reads an ISO 8601 zone at *p: 'Z', or "+HH:MM", "+HHMM", "+HH" (or
 * '-') into *off (minutes east) and advances *p.  False when none is
 * there or it is malformed. */
static bool
zone(const char **p, int *off)
{
	int sign, oh, om = 0;

	if (**p == 'Z' || **p == 'z') {
		++*p;
		*off = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (!digits(p, 2, &oh))
		return false;
	if (**p == ':' ? (++*p, !digits(p, 2, &om))
		       : **p != '\0' && !digits(p, 2, &om))
		return false;
	if (oh > 23 || om > 59)
		return false;
	*off = sign * (oh * 60 + om);
	return true;
}

/* ISO 8601: "YYYY-MM-DD", optionally with "THH:MM[:SS[.frac]]" ('t' or a
 * space for 'T') and a zone; without a zone, in local time. */
static int
at_iso(const char *s, int64_t *ms)
{
	const char *p = s, *clock;
	struct tm tm = {0};
	int y, mo, d, frac = 0, scale = 100, off;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return einval();
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return einval();
	if (*p == 'T' || *p == 't' || *p == ' ') {
		clock = ++p;
		if (!clock_time(&p, &tm))
			return einval();
		/* A fraction of a second follows the seconds only. */
		if (*p == '.' && p - clock == 8) {
			p++;
			if (*p < '0' || *p > '9')
				return einval();
			for (; *p >= '0' && *p <= '9'; p++) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
		if (*p != '\0') {
			if (!zone(&p, &off) || *p != '\0')
				return einval();
			*ms = (jobd_time_days_from_civil(y, mo, d) * 86400 +
			       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec -
			       (int64_t)off * 60) *
				      1000 +
			      frac;
			return 0;
		}
	}
	if (*p != '\0')
		return einval();
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	return local_ms(&tm, frac, ms);
}

int
jobd_at_parse(const char *s, int64_t now_ms, int64_t *ms)
{
	double secs;
	int64_t t;

	if (s == NULL)
		return einval();
	if (s[0] == '+') {
		if (jobd_duration_parse(s + 1, &secs) != 0 ||
		    secs > 1e6 * 86400)
			return einval();
		t = now_ms + llround(secs * 1000);
	} else if (strncmp(s, "tomorrow ", 9) == 0) {
		if (at_clock(s + 9, now_ms, true, &t) != 0)
			return -1;
	} else if (strlen(s) <= 8 && strchr(s, ':') != NULL) {
		if (at_clock(s, now_ms, false, &t) != 0)
			return -1;
	} else if (at_iso(s, &t) != 0) {
		return -1;
	}
	*ms = t;
	return 0;
}

char *
jobd_time_relative(int64_t ms, int64_t now_ms, char *buf)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{1000, "s"}, {60000, "m"}, {3600000, "h"}};
	int64_t d = ms > now_ms ? ms - now_ms : now_ms - ms;
	int64_t n = (d + 43200000) / 86400000;
	const char *unit = "d";

	/* The smallest unit whose count, rounded, stays under the next. */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t k = (d + units[i].ms / 2) / units[i].ms;

		if (k < (i == 2 ? 24 : 60)) {
			n = k;
			unit = units[i].unit;
			break;
		}
	}
	if (n == 0)
		snprintf(buf, JOBD_UNIT_LEN, "now");
	else
		snprintf(buf, JOBD_UNIT_LEN,
			 ms > now_ms ? "in %lld%s" : "%lld%s ago", (long long)n,
			 unit);
	return buf;
}
