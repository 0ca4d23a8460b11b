/*
 * jobd time and unit helpers, shared by the daemon, the client library and
 * jobctl: wall-clock milliseconds, RFC 3339 formatting and parsing,
 * durations ("5m") and sizes ("16M").  Pure libc: no allocation, no diag, no
 * dependence on the TZ variable but jobd_at_parse's.  Failures set errno to
 * EINVAL.
 */
#ifndef JOBD_TIME_H_INCLUDED
#define JOBD_TIME_H_INCLUDED

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room jobd_time_format needs, the NUL included. */
#define JOBD_TIME_LEN 32

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the Unix epoch. */
int64_t jobd_time_now_ms(void);

/* Writes ms as RFC 3339 UTC with milliseconds ("2026-11-26T10:34:12.123Z")
 * into buf, which the caller owns and which holds at least JOBD_TIME_LEN
 * bytes.  Returns buf. */
char *jobd_time_format(int64_t ms, char *buf);

/* Parses an RFC 3339 time "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"
 * ('t', 'z' and a space for 'T' also accepted; fractions past milliseconds
 * are truncated) into *ms.  Rejects dates and times that do not exist.
 * Returns 0, or -1 with errno EINVAL (then *ms is untouched). */
int jobd_time_parse(const char *s, int64_t *ms);

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1-12, d
 * 1-31; the date is not checked), negative before 1970.  Integer
 * arithmetic only, so the TZ variable plays no part. */
int64_t jobd_time_days_from_civil(int64_t y, int m, int d);

/* Parses a duration into *secs: a non-negative finite number with an
 * optional unit "ms", "s", "m", "h" or "d" ("90", "1.5", "500ms", "1.5h",
 * "2d"), or several numbers each with its unit, largest unit first and
 * each unit once ("1h30m", "2d12h", "1m30.5s").  A bare number is seconds.
 * The one duration syntax of jobctl's options and the config file.
 * Returns 0, or -1 with errno EINVAL (then *secs is untouched). */
int jobd_duration_parse(const char *s, double *secs);

/* Room jobd_duration_format, jobd_number_format and jobd_rate_format
 * need, the NUL included. */
#define JOBD_UNIT_LEN 48

/* Writes secs (>= 0, finite; rounded to the microsecond) as a duration
 * jobd_duration_parse reads back, in the largest unit that holds it whole:
 * "0", "30s", "5m", "2h", "30d", else seconds with a fraction ("1.5s",
 * "0.037s").  Never an exponent.  buf, which the caller owns, holds at
 * least JOBD_UNIT_LEN bytes.  Returns buf, or NULL with errno EINVAL for a
 * negative or non-finite secs (buf then holds "-"). */
char *jobd_duration_format(double secs, char *buf);

/* Writes v (finite; rounded to the microsecond) as a plain decimal number
 * with no exponent and no trailing zeros ("10", "0.1", "2592000").  buf
 * holds at least JOBD_UNIT_LEN bytes.  Returns buf ("-" for a non-finite
 * v). */
char *jobd_number_format(double v, char *buf);

/* Writes a rate of limit starts per period seconds in the form the config
 * file and jobctl read back: "N/s", "N/m", "N/h", "N/d" when the period is
 * one of those, else "N/<duration>" ("1/30d", "5/2s").  buf holds at least
 * JOBD_UNIT_LEN bytes.  Returns buf. */
char *jobd_rate_format(double limit, double period, char *buf);

/* Parses a size: a non-negative integer with an optional binary multiple
 * "K", "M", "G" (either case, optionally followed by "B" or "iB"), or a
 * bare "B", into *bytes.  Returns 0, or -1 with errno EINVAL on bad syntax
 * or overflow. */
int jobd_size_parse(const char *s, int64_t *bytes);

/* Parses jobctl's --at into *ms (wall-clock ms), now_ms being the time
 * now: an ISO 8601 date and time with a zone ("2026-11-26T10:34Z",
 * "...+01:00", "...+0100") or without one (local time: "2026-11-26",
 * "2026-11-26T10:34", "2026-11-26 10:34:12.5"); "HH:MM[:SS]", the next
 * time the local clock shows it (tomorrow when it has passed today, or is
 * now); "tomorrow HH:MM[:SS]"; "+DURATION" (jobd_duration_parse's), from
 * now_ms.  Local times go through mktime, so a day is a calendar day
 * whatever the DST rules (reads TZ).  Returns 0, or -1 with errno EINVAL
 * (then *ms is untouched). */
int jobd_at_parse(const char *s, int64_t now_ms, int64_t *ms);

/* Writes the time ms as seen from now_ms, rounded to the nearest whole
 * second, minute, hour or day, the smallest whose count stays under the
 * next unit's: "now" (under half a second away), "5s ago", "2m ago",
 * "in 3h", "in 2d".  buf holds at least JOBD_UNIT_LEN bytes.
 * Returns buf. */
char *jobd_time_relative(int64_t ms, int64_t now_ms, char *buf);

#ifdef __cplusplus
}
#endif
#endif /* JOBD_TIME_H_INCLUDED */
