/*
 * cron: 5-field cron expressions (minute hour day-of-month month
 * day-of-week) and their next firing time in the process's local time zone.
 * Pure: no loop, no allocation.
 */
#ifndef CRON_H_INCLUDED
#define CRON_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

struct cron {
	uint64_t minutes;	 /* bit m set: minute m (0-59) matches */
	uint32_t hours;		 /* bit h: hour 0-23 */
	uint32_t mdays;		 /* bit d: day of month 1-31 */
	uint16_t months;	 /* bit m: month 1-12 */
	uint8_t wdays;		 /* bit w: weekday 0-6, 0 = Sunday */
	bool mday_any, wday_any; /* the field was "*" (or "*" with a step) */
};

/* Parses expr: five fields separated by blanks, each "*", a number, a name
 * (jan-dec, sun-sat, any case), a range "a-b", a step ("a-b/n", "a/n" from
 * a to the field's end, or "*" followed by "/n"), or a comma list of those; or
 * one of @hourly
 * @daily @midnight @weekly @monthly @yearly @annually.  In day-of-week 7 is
 * Sunday too.  Returns 0 and fills *c, or -1 with diag E_INVAL naming the
 * field and the problem. */
int cron_parse(const char *expr, struct cron *c);

/* The first matching time strictly after `after` (epoch seconds), read in
 * the local time zone, in epoch seconds.  When both day-of-month and
 * day-of-week are restricted, a day matches if either does.  A local time
 * that a DST change skips does not fire; one that happens twice fires only
 * the first time.  Returns -1 if nothing matches within 5 years. */
int64_t cron_next(const struct cron *c, int64_t after);

#endif /* CRON_H_INCLUDED */
