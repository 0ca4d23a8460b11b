/*
 * jobd_time: wall-clock milliseconds, RFC 3339 formatting and parsing, and
 * the duration and size syntax of the config file and jobctl.  Pure libc,
 * shared by the daemon and the client library: no allocation, no diag, and
 * nothing here reads the TZ variable (calendar arithmetic is done by hand).
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

int
jobd_duration_parse(const char *s, double *secs)
{
	const char *p;
	double v, mult;

	if (s == NULL || !parse_decimal(s, &p, &v))
		return einval();
	if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
		mult = 1;
	else if (strcmp(p, "ms") == 0)
		mult = 0.001;
	else if (strcmp(p, "m") == 0)
		mult = 60;
	else if (strcmp(p, "h") == 0)
		mult = 3600;
	else if (strcmp(p, "d") == 0)
		mult = 86400;
	else
		return einval();
	v *= mult;
	if (!isfinite(v))
		return einval();
	*secs = v;
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
