/*
 * exec suite's cancel and retry (SPEC 5.1): pending and running jobs
 * cancelled, finished ones refused; failed jobs retried, others refused.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "exec.h"
#include "harness.h"

/* ---- cancel and retry (SPEC 5.1) ---- */

START_TEST(exec_cancel_pending)
{
	struct jd d;
	start(&d, NULL);
	char *mark = jd_path(&d, "ran");
	char *cmd = xasprintf("touch %s", mark);
	char *gate = gate_cmd(&d, "gate");
	/* queued, in a paused queue */
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, cmd);
	/* scheduled */
	int64_t s = jd_submit(
		&d, json_pack("{s:s,s:f}", "shell", cmd, "delay", 30.0));
	/* waiting, with a dependent of its own */
	int64_t a = submit_sh(&d, gate);
	int64_t w = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", cmd,
					    "depends_on", (json_int_t)a));
	int64_t w2 = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", cmd,
					     "depends_on", (json_int_t)w));
	json_t *job = jd_get(&d, q);
	assert_job(job, "queued", NULL);
	json_decref(job);
	job = jd_get(&d, s);
	assert_job(job, "scheduled", NULL);
	json_decref(job);
	job = jd_get(&d, w);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	int64_t ids[3] = {q, s, w};
	for (int i = 0; i < 3; i++) {
		job = cancel(&d, ids[i]);
		assert_job(job, "cancelled", "cancelled");
		json_decref(job);
	}
	job = jd_get(&d, w2);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	queue_pause(&d, "default", false);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	/* Nothing cancelled ran, nor came back. */
	int64_t probe = submit_sh(&d, "true");
	json_decref(jd_wait(&d, probe, 10));
	for (int i = 0; i < 3; i++) {
		job = jd_get(&d, ids[i]);
		assert_job(job, "cancelled", "cancelled");
		json_decref(job);
	}
	ck_assert_msg(access(mark, F_OK) != 0, "a cancelled job ran");
	free(gate);
	free(cmd);
	free(mark);
	jd_free(&d);
}
END_TEST

START_TEST(exec_cancel_running)
{
	struct jd d;
	start(&d, NULL);
	char *pidf = jd_path(&d, "pid"), *starts = jd_path(&d, "starts");
	char *cmd = xasprintf("echo x >> %s; sleep 60 & echo $! > %s.tmp; "
			      "mv %s.tmp %s; wait",
			      starts, pidf, pidf, pidf);
	int64_t id = jd_submit(&d, json_pack("{s:s,s:i,s:{s:f,s:f}}", "shell",
					     cmd, "max_attempts", 3, "backoff",
					     "base", 0.05, "jitter", 0.0));
	long pid = poll_pid_file(pidf, 5);
	double t0 = jd_now();
	json_t *job = cancel(&d, id);
	assert_job(job, "cancelled", "cancelled");
	json_decref(job);
	ck_assert_msg(poll_pid_gone(pid, 2),
		      "the cancelled job's process %ld lives on", pid);
	double took = jd_now() - t0;
	fprintf(stderr,
		"exec_cancel_running: process gone %.3f s after "
		"cancel\n",
		took);
	/* No retry follows: a retry would come 0.05 s after. */
	assert_stays(&d, id, "cancelled", 0.4);
	job = jd_get(&d, id);
	assert_job(job, "cancelled", "cancelled");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	ck_assert_int_eq(jd_count_lines(starts), 1);
	free(cmd);
	free(pidf);
	free(starts);
	jd_free(&d);
}
END_TEST

START_TEST(exec_cancel_terminal_refused)
{
	struct jd d;
	start(&d, NULL);
	int64_t done = submit_sh(&d, "true");
	json_decref(jd_wait(&d, done, 10));
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)done);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, "true");
	r = jd_req(&d, "{s:s,s:[I,I]}", "cmd", "cancel", "job_ids",
		   (json_int_t)q, (json_int_t)done);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	json_t *job = jd_get(&d, q);
	assert_job(job, "queued", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_retry_failed)
{
	struct jd d;
	start(&d, NULL);
	char *cnt = jd_path(&d, "count");
	char *cmd = xasprintf("n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); "
			      "echo $n > %s; [ $n -ge 2 ]",
			      cnt, cnt);
	int64_t id = submit_sh(&d, cmd);
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "exit");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	queue_pause(&d, "default", true);
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id",
			   (json_int_t)id);
	job = json_object_get(jd_ok(r), "job");
	assert_job(job, "queued", NULL);
	ck_assert_int_eq(jd_num(job, "attempt"), 0);
	json_decref(r);
	queue_pause(&d, "default", false);
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	/* A cancelled job can be retried too. */
	queue_pause(&d, "default", true);
	int64_t c = submit_sh(&d, "true");
	json_decref(cancel(&d, c));
	r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id", (json_int_t)c);
	assert_job(json_object_get(jd_ok(r), "job"), "queued", NULL);
	json_decref(r);
	free(cmd);
	free(cnt);
	jd_free(&d);
}
END_TEST

START_TEST(exec_retry_refused)
{
	struct jd d;
	start(&d, NULL);
	int64_t ok = submit_sh(&d, "true");
	json_decref(jd_wait(&d, ok, 10));
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id",
			   (json_int_t)ok);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, "true");
	r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id", (json_int_t)q);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	r = jd_req(&d, "{s:s,s:i}", "cmd", "retry", "job_id", 9999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	jd_free(&d);
}
END_TEST

void
exec_add_cancel(Suite *s)
{
	const TTest *cancel[] = {
		exec_cancel_pending,	      exec_cancel_running,
		exec_cancel_terminal_refused, exec_retry_failed,
		exec_retry_refused,	      NULL,
	};

	exec_add_case(s, "cancel", 20, cancel);
}
