/*
 * fuzz_cron: cron_parse() on any text, and cron_next() on what parses,
 * in a zone with daylight saving time.  A refusal must come with E_INVAL;
 * a next firing time must lie after the given time, within the five-year
 * horizon, on a whole minute whose local fields the expression matches,
 * and a chain of firing times must increase.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "diag.h"
#include "fuzz.h"

/* Starting points: ordinary days and both DST changes of 2026 in New
 * York, and the end of a leap February. */
static const int64_t starts[] = {
	1767225600, /* 2026-01-01 00:00 UTC */
	1773000000, /* 2026-03-08 20:00 UTC, the spring change */
	1793502000, /* 2026-11-01 05:00 UTC, the autumn change */
	1709251170, /* 2024-02-29 23:59:30 UTC */
};

#define HORIZON (5 * 366 * 86400 + 86400)

static bool
matches(const struct cron *c, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || tm.tm_sec != 0)
		return false;
	if (!(c->minutes & (UINT64_C(1) << tm.tm_min)) ||
	    !(c->hours & (UINT32_C(1) << tm.tm_hour)) ||
	    !(c->months & (1u << (tm.tm_mon + 1))))
		return false;
	bool md = c->mdays & (UINT32_C(1) << tm.tm_mday);
	bool wd = c->wdays & (1u << tm.tm_wday);
	return c->mday_any || c->wday_any ? md && wd : md || wd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "America/New_York", 1);
	tzset();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct cron c;

	memcpy(s, data, size);
	s[size] = '\0';
	diag_clear();
	if (cron_parse(s, &c) != 0) {
		FUZZ_CHECK(diag_code() == E_INVAL && diag_msg()[0] != '\0');
		free(s);
		return 0;
	}
	FUZZ_CHECK(c.minutes != 0 && c.hours != 0 && c.mdays != 0 &&
		   c.months != 0 && c.wdays != 0);
	FUZZ_CHECK(c.minutes >> 60 == 0 && c.hours >> 24 == 0 &&
		   (c.mdays & 1) == 0 && (c.months & 0xE001) == 0 &&
		   (c.wdays & 0x80) == 0);
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		int64_t after = starts[i];
		for (int k = 0; k < 3; k++) {
			int64_t t = cron_next(&c, after);
			if (t < 0)
				break;
			FUZZ_CHECK(t > after && t - after <= HORIZON);
			FUZZ_CHECK(matches(&c, t));
			after = t;
		}
	}
	free(s);
	return 0;
}
