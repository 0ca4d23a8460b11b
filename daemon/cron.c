/*
 * cron: parsing of 5-field cron expressions into bit sets, and the search
 * for the next firing time in the local time zone.  The search walks
 * calendar days with integer arithmetic and calls mktime() only for the
 * candidate hours and minutes of a matching day, so a rare expression costs
 * a few thousand cheap steps, not a minute-by-minute scan.  No allocation,
 * no loop, no I/O.
 */
#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diag.h"
#include "jobd/time.h"

/* How far cron_next looks ahead, in days (5 years and a leap day). */
#define CRON_HORIZON_DAYS (5 * 365 + 2)

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

struct field_def {
	const char *name;
	int lo, hi;
	const char *const *names; /* names for lo.., or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may",
					  "jun", "jul", "aug", "sep", "oct",
					  "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed",
					"thu", "fri", "sat", NULL};

static const struct field_def fields[F_COUNT] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	/* 7 is Sunday too; folded into bit 0 after parsing. */
	{"day-of-week", 0, 7, day_names},
};

static const struct {
	const char *name;
	const char *expr;
} shorthands[] = {
	{"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
	{"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
};

/* Reads a number or (for fields with names) a name at *p. */
static int
parse_value(const struct field_def *f, const char **p, int *v)
{
	const char *s = *p;
	char *end;
	long n;
	int i;

	if (isdigit((unsigned char)*s)) {
		n = strtol(s, &end, 10);
		if (end - s > 3 || n < f->lo || n > f->hi)
			return diag_set(
				E_INVAL, "%s: %.*s is out of range %d-%d",
				f->name, (int)(end - s), s, f->lo, f->hi);
		*v = (int)n;
		*p = end;
		return 0;
	}
	if (f->names != NULL && isalpha((unsigned char)*s)) {
		for (i = 0; f->names[i] != NULL; i++) {
			if (strncasecmp(s, f->names[i], 3) == 0 &&
			    !isalpha((unsigned char)s[3])) {
				*v = f->lo + i;
				*p = s + 3;
				return 0;
			}
		}
		return diag_set(E_INVAL, "%s: unknown name \"%.*s\"", f->name,
				(int)strcspn(s, ",-/"), s);
	}
	if (*s == '\0')
		return diag_set(E_INVAL, "%s: missing value", f->name);
	return diag_set(E_INVAL, "%s: unexpected \"%c\"", f->name, *s);
}

/* Parses one comma-separated field (s is NUL-terminated) into *bits;
 * *any is set when the field starts with '*'. */
static int
parse_field(const struct field_def *f, const char *s, uint64_t *bits, bool *any)
{
	const char *p = s;
	int a, b, step, v;
	char *end;
	long n;

	*bits = 0;
	*any = *s == '*';
	for (;;) {
		if (*p == '*') {
			a = f->lo;
			b = f->hi;
			p++;
		} else {
			if (parse_value(f, &p, &a) < 0)
				return -1;
			b = a;
			if (*p == '-') {
				p++;
				if (parse_value(f, &p, &b) < 0)
					return -1;
				if (b < a)
					return diag_set(E_INVAL,
							"%s: range %d-%d is "
							"backwards",
							f->name, a, b);
			}
		}
		step = 1;
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char)*p))
				return diag_set(E_INVAL,
						"%s: step must be a number",
						f->name);
			n = strtol(p, &end, 10);
			if (end - p > 3 || n < 1 || n > f->hi)
				return diag_set(E_INVAL,
						"%s: step %.*s is out of range "
						"1-%d",
						f->name, (int)(end - p), p,
						f->hi);
			step = (int)n;
			p = end;
			/* "a/n" runs from a to the end of the field. */
			if (a == b)
				b = f->hi;
		}
		for (v = a; v <= b; v += step)
			*bits |= UINT64_C(1) << v;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return diag_set(E_INVAL, "%s: unexpected \"%c\"",
					f->name, *p);
		p++;
	}
}

int
cron_parse(const char *expr, struct cron *c)
{
	char buf[256], *tok[F_COUNT + 1], *save = NULL, *t;
	uint64_t bits[F_COUNT];
	bool any[F_COUNT];
	size_t i, n = 0;

	if (expr == NULL)
		return diag_set(E_INVAL, "cron: empty expression");
	expr += strspn(expr, " \t");
	if (*expr == '@') {
		size_t len = strcspn(expr, " \t");

		if (expr[len + strspn(expr + len, " \t")] != '\0')
			return diag_set(E_INVAL, "cron: junk after %.*s",
					(int)len, expr);
		for (i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]);
		     i++) {
			if (strlen(shorthands[i].name) == len &&
			    strncasecmp(expr, shorthands[i].name, len) == 0)
				return cron_parse(shorthands[i].expr, c);
		}
		return diag_set(E_INVAL, "cron: unknown shorthand \"%.*s\"",
				(int)len, expr);
	}
	if (strlen(expr) >= sizeof(buf))
		return diag_set(E_INVAL, "cron: expression too long");
	strcpy(buf, expr);
	for (t = strtok_r(buf, " \t\n", &save); t != NULL;
	     t = strtok_r(NULL, " \t\n", &save)) {
		if (n == F_COUNT)
			return diag_set(E_INVAL,
					"cron: too many fields (need 5)");
		tok[n++] = t;
	}
	if (n != F_COUNT)
		return diag_set(E_INVAL, "cron: %zu field%s, need 5", n,
				n == 1 ? "" : "s");
	for (i = 0; i < F_COUNT; i++) {
		if (parse_field(&fields[i], tok[i], &bits[i], &any[i]) < 0)
			return -1;
	}
	/* Day-of-week 7 is Sunday. */
	if (bits[F_WDAY] & (UINT64_C(1) << 7))
		bits[F_WDAY] = (bits[F_WDAY] | 1) & ~(UINT64_C(1) << 7);
	c->minutes = bits[F_MINUTE];
	c->hours = (uint32_t)bits[F_HOUR];
	c->mdays = (uint32_t)bits[F_MDAY];
	c->months = (uint16_t)bits[F_MONTH];
	c->wdays = (uint8_t)bits[F_WDAY];
	c->mday_any = any[F_MDAY];
	c->wday_any = any[F_WDAY];
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

static bool
day_matches(const struct cron *c, int y, int m, int d)
{
	int64_t days = jobd_time_days_from_civil(y, m, d);
	int wday = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01: Thursday */
	bool md = c->mdays & (UINT32_C(1) << d);
	bool wd = c->wdays & (1u << wday);

	if (c->mday_any || c->wday_any)
		return md && wd;
	return md || wd;
}

/* The first instant at which the local clock reads y-m-d H:M:00, or -1 if
 * it never does (a DST gap).  Both DST readings are tried, and one hour
 * earlier, so the earliest of two occurrences is found. */
static int64_t
local_first(int y, int m, int d, int hh, int mm)
{
	int64_t best = -1;
	struct tm tm, out;
	time_t t, cand[3];
	int isdst, i, nc;

	for (isdst = 0; isdst <= 1; isdst++) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		tm.tm_hour = hh;
		tm.tm_min = mm;
		tm.tm_isdst = isdst;
		t = mktime(&tm);
		if (t == (time_t)-1)
			continue;
		nc = 0;
		cand[nc++] = t;
		cand[nc++] = t - 3600;
		for (i = 0; i < nc; i++) {
			if (localtime_r(&cand[i], &out) == NULL)
				continue;
			if (out.tm_year != y - 1900 || out.tm_mon != m - 1 ||
			    out.tm_mday != d || out.tm_hour != hh ||
			    out.tm_min != mm)
				continue;
			if (best < 0 || cand[i] < best)
				best = cand[i];
		}
	}
	return best;
}

int64_t
cron_next(const struct cron *c, int64_t after)
{
	time_t a = (time_t)after;
	struct tm now;
	int y, m, d, hh, mm, i, first_h, first_m;
	bool first_day = true;
	int64_t t;

	if (localtime_r(&a, &now) == NULL)
		return -1;
	y = now.tm_year + 1900;
	m = now.tm_mon + 1;
	d = now.tm_mday;
	for (i = 0; i < CRON_HORIZON_DAYS; i++) {
		if (!(c->months & (1u << m))) {
			/* Skip the rest of the month. */
			i += days_in_month(y, m) - d;
			d = days_in_month(y, m);
		} else if (day_matches(c, y, m, d)) {
			/* Local times before after's own minute cannot be
			 * later than it: first occurrences run in local
			 * order. */
			first_h = first_day ? now.tm_hour : 0;
			for (hh = first_h; hh < 24; hh++) {
				if (!(c->hours & (UINT32_C(1) << hh)))
					continue;
				first_m = first_day && hh == now.tm_hour
						  ? now.tm_min
						  : 0;
				for (mm = first_m; mm < 60; mm++) {
					if (!(c->minutes & (UINT64_C(1) << mm)))
						continue;
					t = local_first(y, m, d, hh, mm);
					if (t > after)
						return t;
				}
			}
		}
		first_day = false;
		if (++d > days_in_month(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	return -1;
}
