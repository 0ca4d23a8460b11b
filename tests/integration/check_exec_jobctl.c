/*
 * exec suite's jobctl (SPEC 8): its cancel and retry, queue and submit
 * commands against a real daemon, with their exit codes and output.
 */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "exec.h"
#include "harness.h"

/* ---- jobctl (SPEC 8) ---- */

/* Runs jobctl and fails unless it exits with want; returns its stdout
 * (caller frees). */
#define JOBCTL(d, want, ...) \
	jobctl_check((d), (want), __FILE__, __LINE__, __VA_ARGS__, NULL)

static char *jobctl_check(struct jd *d, int want, const char *file, int line,
			  ...) __attribute__((sentinel));

static char *
jobctl_check(struct jd *d, int want, const char *file, int line, ...)
{
	const char *a[32] = {NULL};
	int n = 0;
	va_list ap;
	va_start(ap, line);
	while (n < 31 && (a[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	a[n] = NULL;
	/* jd_jobctl takes a NULL-terminated list; pass up to 12. */
	ck_assert_int_le(n, 12);
	char *out = NULL, *err = NULL;
	int st = jd_jobctl(d, NULL, &out, &err, a[0], a[1], a[2], a[3], a[4],
			   a[5], a[6], a[7], a[8], a[9], a[10], a[11], NULL);
	ck_assert_msg(st == want,
		      "%s:%d: jobctl %s %s %s exited %d, want %d; stdout: "
		      "%s; stderr: %s",
		      file, line, a[0] ? a[0] : "", n > 1 ? a[1] : "",
		      n > 2 ? a[2] : "", st, want, out, err);
	if (want == 1 || want == 3)
		ck_assert_msg(strncmp(err, "jobctl: ", 8) == 0 &&
				      strchr(err, '\n') ==
					      err + strlen(err) - 1,
			      "%s:%d: want one 'jobctl: ...' error line, got "
			      "'%s'",
			      file, line, err);
	free(err);
	return out;
}

static int64_t
out_id(char *out)
{
	char *end;
	long long id = strtoll(out, &end, 10);
	ck_assert_msg(id > 0 && strcmp(end, "\n") == 0,
		      "want an id alone, got '%s'", out);
	free(out);
	return id;
}

START_TEST(exec_jobctl_cancel_retry)
{
	struct jd d;
	start(&d, NULL);
	queue_pause(&d, "default", true);
	int64_t id = submit_sh(&d, "true");
	char sid[32];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	free(JOBCTL(&d, 0, "cancel", sid));
	json_t *job = jd_get(&d, id);
	assert_job(job, "cancelled", "cancelled");
	json_decref(job);
	/* Cancelling it again: the daemon answers invalid_state. */
	free(JOBCTL(&d, 1, "cancel", sid));
	free(JOBCTL(&d, 0, "retry", sid));
	job = jd_get(&d, id);
	assert_job(job, "queued", NULL);
	json_decref(job);
	queue_pause(&d, "default", false);
	json_decref(jd_wait(&d, id, 10));
	char *err = NULL;
	ck_assert_int_eq(jd_jobctl(&d, NULL, NULL, &err, "retry", sid, NULL),
			 1);
	ck_assert_msg(strncmp(err, "jobctl: invalid_state: ", 23) == 0,
		      "stderr: %s", err);
	free(err);
	ck_assert_int_eq(
		jd_jobctl(&d, NULL, NULL, &err, "cancel", "9999", NULL), 1);
	ck_assert_msg(strncmp(err, "jobctl: not_found: ", 19) == 0,
		      "stderr: %s", err);
	free(err);
	free(JOBCTL(&d, 2, "cancel"));
	jd_free(&d);
}
END_TEST

START_TEST(exec_jobctl_queue)
{
	struct jd d;
	start(&d, NULL);
	free(JOBCTL(&d, 0, "queue", "add", "jq", "--concurrency", "2", "--rate",
		    "5/s", "--capacity", "10"));
	json_t *q = jd_queue_get(&d, "jq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	ck_assert_int_eq(jd_num(q, "capacity"), 10);
	ck_assert(json_number_value(json_object_get(json_object_get(q, "rate"),
						    "limit")) == 5.0);
	json_decref(q);
	free(JOBCTL(&d, 1, "queue", "add", "jq"));
	free(JOBCTL(&d, 0, "queue", "set", "jq", "--concurrency", "4"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 4);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 0);
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "set", "jq", "--global-concurrency", "3"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 3);
	ck_assert_int_eq(jd_num(q, "concurrency"), 4);
	json_decref(q);
	free(JOBCTL(&d, 2, "queue", "set", "jq", "--global-concurrency", "x"));
	char *out = JOBCTL(&d, 0, "queue", "get", "jq");
	ck_assert_msg(strstr(out, "jq") != NULL, "queue get: %s", out);
	ck_assert_str_eq(jd_kv(out, "global_concurrency"), "3");
	free(out);
	out = JOBCTL(&d, 0, "queue", "list");
	ck_assert_msg(strstr(out, "jq") && strstr(out, "default"),
		      "queue list: %s", out);
	ck_assert_msg(strstr(out, "GLOBAL") != NULL, "queue list: %s", out);
	free(out);
	free(JOBCTL(&d, 0, "queue", "add", "jg", "--global-concurrency", "2"));
	q = jd_queue_get(&d, "jg", NULL);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 2);
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "rm", "jg"));
	free(JOBCTL(&d, 0, "queue", "pause", "jq"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert(json_is_true(json_object_get(q, "paused")));
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "resume", "jq"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "rm", "jq"));
	free(JOBCTL(&d, 1, "queue", "get", "jq"));
	/* jobd's invalid_argument is status 2, like jobctl's own. */
	free(JOBCTL(&d, 2, "queue", "rm", "default"));
	free(JOBCTL(&d, 1, "queue", "pause", "nope"));
	free(JOBCTL(&d, 2, "queue", "add"));
	free(JOBCTL(&d, 2, "queue", "set", "default", "--concurrency", "x"));
	char *err = NULL;
	jd_jobctl(&d, NULL, NULL, &err, "queue", "get", "nope", NULL);
	ck_assert_msg(strncmp(err, "jobctl: unknown_queue: ", 23) == 0,
		      "stderr: %s", err);
	free(err);
	jd_free(&d);
}
END_TEST

START_TEST(exec_jobctl_submit)
{
	struct jd d;
	start(&d, NULL);
	int64_t id =
		out_id(JOBCTL(&d, 0, "submit", "--delay", "1", "--", "true"));
	json_t *job = jd_get(&d, id);
	assert_job(job, "scheduled", NULL);
	ck_assert_msg(jtime(job, "run_at") - jtime(job, "created_at") >= 0.999,
		      "--delay 1: run_at %s, created_at %s",
		      jd_str(job, "run_at"), jd_str(job, "created_at"));
	json_decref(job);
	/* --after: waits for its dependency. */
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	char sa[32];
	snprintf(sa, sizeof(sa), "%lld", (long long)a);
	int64_t b =
		out_id(JOBCTL(&d, 0, "submit", "--after", sa, "--", "true"));
	job = jd_get(&d, b);
	assert_job(job, "waiting", NULL);
	ck_assert_int_eq(json_integer_value(json_array_get(
				 json_object_get(job, "depends_on"), 0)),
			 a);
	json_decref(job);
	/* --after-any and --after-failed: the spec's conditions; one job
	 * takes one. */
	int64_t any = out_id(
		JOBCTL(&d, 0, "submit", "--after-any", sa, "--", "true"));
	int64_t failed = out_id(
		JOBCTL(&d, 0, "submit", "--after-failed", sa, "--", "true"));
	free(JOBCTL(&d, 2, "submit", "--after", sa, "--after-failed", sa, "--",
		    "true"));
	gate_open(&d, "gate");
	job = jd_wait(&d, b, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	job = jd_wait(&d, any, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	job = jd_wait(&d, failed, 10);
	assert_job(job, "cancelled", "not_needed");
	json_decref(job);
	/* --unique: the second prints the first's id. */
	int64_t u1 = out_id(JOBCTL(&d, 0, "submit", "--delay", "30", "--unique",
				   "K", "--", "true"));
	int64_t u2 = out_id(JOBCTL(&d, 0, "submit", "--delay", "30", "--unique",
				   "K", "--", "true"));
	ck_assert_int_eq(u1, u2);
	/* Exit statuses. */
	free(JOBCTL(&d, 2, "submit"));
	free(JOBCTL(&d, 2, "submit", "--delay", "1", "--at",
		    "2030-01-01T00:00:00Z", "--", "true"));
	free(JOBCTL(&d, 1, "submit", "-q", "nope", "--", "true"));
	free(JOBCTL(&d, 2, "submit", "--after", "9999", "--", "true"));
	char su[32];
	snprintf(su, sizeof(su), "%lld", (long long)u1);
	free(JOBCTL(&d, 124, "wait", su, "--timeout", "0.2"));
	int64_t f = submit_sh(&d, "exit 3");
	json_decref(jd_wait(&d, f, 10));
	char sf[32];
	snprintf(sf, sizeof(sf), "%lld", (long long)f);
	/* A waited job that did not succeed: 1, without an error line
	 * (the daemon answered no error). */
	ck_assert_int_eq(jd_jobctl(&d, NULL, NULL, NULL, "wait", sf, NULL), 1);
	/* submit --wait exits with the job's own status. */
	free(JOBCTL(&d, 5, "submit", "--wait", "--", "sh", "-c", "exit 5"));
	free(JOBCTL(&d, 0, "submit", "--wait", "--", "true"));
	/* No daemon: 3, the error, and a line on what it likely means. */
	ck_assert_int_eq(jd_stop(&d), 0);
	const char *nodaemon[][3] = {{"ping", NULL, NULL},
				     {"cancel", su, NULL}};
	for (int i = 0; i < 2; i++) {
		char *err = NULL;
		int st = jd_jobctl(&d, NULL, NULL, &err, nodaemon[i][0],
				   nodaemon[i][1], NULL);
		ck_assert_int_eq(st, 3);
		ck_assert_msg(strncmp(err, "jobctl: cannot connect to ", 26) ==
					      0 &&
				      strstr(err, "is jobd running?") != NULL,
			      "%s", err);
		free(err);
	}
	free(gate);
	jd_free(&d);
}
END_TEST

void
exec_add_jobctl(Suite *s)
{
	const TTest *jobctl[] = {
		exec_jobctl_cancel_retry,
		exec_jobctl_queue,
		exec_jobctl_submit,
		NULL,
	};

	exec_add_case(s, "jobctl", 30, jobctl);
}
