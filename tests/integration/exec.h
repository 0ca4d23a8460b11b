/*
 * exec.h: the helpers of the exec suite, shared by its files
 * (check_exec.c defines them; the tests are in check_exec*.c).  Private
 * to those files.  Each test starts its own daemon with start() and frees
 * it with jd_free.
 */
#ifndef EXEC_H_INCLUDED
#define EXEC_H_INCLUDED

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "harness.h"

/* A daemon on a config (may be NULL); the test frees it with jd_free. */
static inline void
start(struct jd *d, const char *conf)
{
	jd_init(d, conf);
	jd_start(d, NULL);
}

/* The formatted string (caller frees); fails the test when out of
 * memory. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether string member key of o is want. */
bool jis(const json_t *o, const char *key, const char *want);

/* Fails unless job has state (and reason, when reason is not NULL). */
void assert_job(const json_t *job, const char *state, const char *reason);

/* Wall-clock seconds (the clock `date +%s.%N` reads), and the time in
 * member key of job in the same seconds. */
double real_now(void);
double jtime(const json_t *job, const char *key);

/* Reads up to max numbers (one or more a line) from a file; returns how
 * many. */
int read_numbers(const char *path, double *v, int max);

/* Polls (up to timeout_s) until process pid is gone; returns whether it
 * is. */
bool poll_pid_gone(long pid, double timeout_s);

/* Waits until path exists and holds a line; returns its first number. */
long poll_pid_file(const char *path, double timeout_s);

/* Polls that job id stays in state for hold_s (a bounded watch for
 * something that must not happen). */
void assert_stays(struct jd *d, int64_t id, const char *state, double hold_s);

/* A shell snippet that blocks until the file `name` exists under d's
 * directory (caller frees); gate_open() makes the file. */
char *gate_cmd(const struct jd *d, const char *name);
void gate_open(const struct jd *d, const char *name);

/* Submits {"shell": cmd} and returns its id. */
int64_t submit_sh(struct jd *d, const char *cmd);

/* Sends a request (taking req) and returns its error code (a static
 * string copy, until the next call). */
const char *req_err(struct jd *d, json_t *req);

/* Pauses (or resumes) queue name. */
void queue_pause(struct jd *d, const char *name, bool pause);

/* Number of jobs list finds (queue may be NULL). */
static inline size_t
count_jobs(struct jd *d, const char *queue)
{
	json_t *req = json_pack("{s:s,s:i}", "cmd", "list", "limit", 10000);
	if (queue)
		json_object_set_new(req, "queue", json_string(queue));
	json_t *r = jd_call(d, req);
	size_t n = json_array_size(json_object_get(jd_ok(r), "jobs"));
	json_decref(r);
	return n;
}

/* Cancels job id (failing the test unless that is ok) and returns the job
 * as get shows it then (new ref). */
json_t *cancel(struct jd *d, int64_t id);

/* Adds a case name of the NULL-terminated tests, timeout seconds each, to
 * s; the exec_add_* functions add the cases of the suite's other files:
 * "limits", "deps", "cancel", "queue", "jobctl". */
void exec_add_case(Suite *s, const char *name, int timeout,
		   const TTest *const *tests);
void exec_add_limits(Suite *s);
void exec_add_deps(Suite *s);
void exec_add_cancel(Suite *s);
void exec_add_queue(Suite *s);
void exec_add_jobctl(Suite *s);

#endif /* EXEC_H_INCLUDED */
