/*
 * exec suite's dependencies (SPEC 2.5) and unique keys (SPEC 2.6): jobs
 * that wait for others, failures that cascade, missing and failed
 * dependencies, and a key held while its job lives.
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

/* ---- dependencies (SPEC 2.5) ---- */

START_TEST(exec_deps_wait)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	json_t *job = jd_poll_job(&d, a, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	job = jd_get(&d, b);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	assert_stays(&d, b, "waiting", 0.2);
	gate_open(&d, "gate");
	json_t *ja = jd_wait(&d, a, 10), *jb = jd_wait(&d, b, 10);
	assert_job(ja, "succeeded", NULL);
	assert_job(jb, "succeeded", NULL);
	ck_assert_msg(jtime(jb, "started_at") >= jtime(ja, "finished_at"),
		      "B started before A finished");
	json_decref(ja);
	json_decref(jb);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_failure_cascades)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	char *cmd = xasprintf("%s; exit 1", gate);
	int64_t a = submit_sh(&d, cmd);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	int64_t c = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)b));
	json_t *job = jd_get(&d, c);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "failed", "exit");
	json_decref(job);
	int64_t ids[2] = {b, c};
	for (int i = 0; i < 2; i++) {
		job = jd_wait(&d, ids[i], 5);
		assert_job(job, "cancelled", "dependency_failed");
		ck_assert_int_eq(jd_num(job, "attempt"), 0);
		ck_assert(json_is_null(json_object_get(job, "started_at")));
		json_decref(job);
	}
	free(cmd);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_missing_refused)
{
	struct jd d;
	start(&d, NULL);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:{s:s,s:[i]}}", "cmd",
					       "submit", "job", "shell", "true",
					       "depends_on", 9999)),
			 "invalid_argument");
	ck_assert_int_eq(count_jobs(&d, NULL), 0);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_on_failed_cancelled_at_once)
{
	struct jd d;
	start(&d, NULL);
	int64_t a = submit_sh(&d, "exit 1");
	json_t *job = jd_wait(&d, a, 10);
	assert_job(job, "failed", "exit");
	json_decref(job);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	job = jd_get(&d, b);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	/* A cancelled dependency counts the same. */
	int64_t c = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)b));
	job = jd_get(&d, c);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	jd_free(&d);
}
END_TEST

/* ---- unique keys (SPEC 2.6) ---- */

START_TEST(exec_unique_key)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	json_t *r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job",
			   "shell", gate, "unique_key", "k");
	json_t *res = jd_ok(r);
	json_int_t first = jd_num(res, "id");
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	json_decref(r);
	r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job", "shell",
		   "true", "unique_key", "k");
	res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "id"), first);
	ck_assert(json_is_true(json_object_get(res, "duplicate")));
	json_decref(r);
	/* In one batch: x twice (the second is the first's duplicate), and
	 * k (a duplicate of the running job). */
	r = jd_req(&d, "{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "cmd",
		   "submit", "jobs", "shell", "true", "unique_key", "x",
		   "shell", "true", "unique_key", "x", "shell", "true",
		   "unique_key", "k");
	res = jd_ok(r);
	json_t *ids = json_object_get(res, "ids");
	json_t *dups = json_object_get(res, "duplicates");
	ck_assert_int_eq(json_array_size(ids), 3);
	ck_assert_int_eq(json_integer_value(json_array_get(ids, 1)),
			 json_integer_value(json_array_get(ids, 0)));
	ck_assert_int_ne(json_integer_value(json_array_get(ids, 0)), first);
	ck_assert_int_eq(json_integer_value(json_array_get(ids, 2)), first);
	ck_assert(json_is_false(json_array_get(dups, 0)));
	ck_assert(json_is_true(json_array_get(dups, 1)));
	ck_assert(json_is_true(json_array_get(dups, 2)));
	json_decref(r);
	ck_assert_int_eq(count_jobs(&d, NULL), 2);
	/* Once the first is terminal, k is free again. */
	gate_open(&d, "gate");
	json_decref(jd_wait(&d, first, 10));
	r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job", "shell",
		   "true", "unique_key", "k");
	res = jd_ok(r);
	ck_assert_int_ne(jd_num(res, "id"), first);
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	json_decref(r);
	free(gate);
	jd_free(&d);
}
END_TEST

void
exec_add_deps(Suite *s)
{
	const TTest *deps[] = {
		exec_deps_wait,
		exec_deps_failure_cascades,
		exec_deps_missing_refused,
		exec_deps_on_failed_cancelled_at_once,
		exec_unique_key,
		NULL,
	};

	exec_add_case(s, "deps", 20, deps);
}
