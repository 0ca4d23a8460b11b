/*
 * basic.h: the fixture and helpers of basic_suite, shared by its files
 * (check_basic.c defines them; the tests are in check_basic*.c).  Private
 * to those files.  Every test runs in its own fork with one daemon, D.
 */
#ifndef BASIC_H_INCLUDED
#define BASIC_H_INCLUDED

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "harness.h"

/* The minimal PATH of SPEC 2.1. */
#define MIN_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The one daemon of the current test (each test runs in its own fork). */
extern struct jd D;

/* Every daemon here gets this much config; a test may add to it. */
#define BASE_CONF \
	"; basic_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* Starts the test's daemon with BASE_CONF plus extra (may be NULL). */
static inline struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* A test case named name whose tests get a daemon started with the
 * suite's config (and stopped by jd_test_teardown), timeout seconds each. */
TCase *basic_tcase(const char *name, int timeout);

/* The next line on fd as a JSON object (new ref); fails on timeout, EOF
 * or a line that is not one JSON object. */
json_t *raw_recv(int fd, int timeout_ms);

/* A new connection to d or fail. */
int conn(struct jd *d);

/* Submits spec text, waits for the job to end (10 s), returns the job
 * (new ref). */
json_t *run_text(struct jd *d, const char *spec);

/* The logs result of job id from offset with max_bytes (0: default; new
 * ref). */
json_t *logs(struct jd *d, int64_t id, json_int_t offset, json_int_t max_bytes);

/* The whole captured output of job id (caller frees). */
char *output(struct jd *d, int64_t id);

/* The ids of list(filter) with every page followed (array, new ref). */
json_t *list_all(struct jd *d, const char *filter, json_int_t limit);

/* The number of jobs d holds. */
size_t count_jobs(struct jd *d);

/* Whether s is a time as "2026-11-26T10:34:12.123Z", or starts with
 * prefix. */
bool is_rfc3339_ms(const char *s);
bool starts_with(const char *s, const char *prefix);

/* Add the suite's other files' cases to s: "jobs" and "logs", "run",
 * "jobctl", "bad_input"; the tests that start their own daemon go to
 * configured. */
void basic_add_jobs(Suite *s, TCase *configured);
void basic_add_run(Suite *s, TCase *configured);
void basic_add_client(Suite *s);
void basic_add_bad_input(Suite *s, TCase *configured);

#endif /* BASIC_H_INCLUDED */
