/*
 * basic_suite's jobs (SPEC 5.1, 5.2): submit, batches, get and its
 * fields, list with its filters and pages, wait, and logs with their
 * offsets, streams and limits.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "basic.h"
#include "harness.h"

/* True when ids (array of integers) holds exactly want[0..n). */
static bool
ids_are(const json_t *ids, const int64_t *want, size_t n)
{
	if (json_array_size(ids) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_integer_value(json_array_get(ids, i)) != want[i])
			return false;
	return true;
}

/* ---- submit / get / list / wait ---- */

START_TEST(basic_submit_single)
{
	json_t *r = jd_req(&D, "{s:s,s:{s:[s,s]}}", "cmd", "submit", "job",
			   "argv", "echo", "x");
	json_t *res = jd_ok(r);
	ck_assert(json_is_integer(json_object_get(res, "id")));
	ck_assert_int_gt(jd_num(res, "id"), 0);
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	int64_t id = jd_num(res, "id");
	json_decref(r);
	json_t *job = jd_get(&D, id);
	ck_assert_int_eq(jd_num(job, "id"), id);
	ck_assert_str_eq(jd_str(job, "queue"), "default");
	json_decref(job);
	/* Ids grow. */
	int64_t id2 = jd_submit_text(&D, "{\"shell\":\"true\"}");
	ck_assert_int_gt(id2, id);
}
END_TEST

START_TEST(basic_submit_batch)
{
	json_t *r = jd_call(
		&D, jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"shell\":\"exit 0\",\"unique_key\":\"k\","
			    "\"delay\":3600},"
			    "{\"argv\":[\"true\"],\"queue\":\"default\"},"
			    "{\"argv\":[\"false\"],\"unique_key\":\"k\"}"
			    "]}"));
	json_t *res = jd_ok(r);
	json_t *ids = json_object_get(res, "ids");
	json_t *dups = json_object_get(res, "duplicates");
	ck_assert_int_eq(json_array_size(ids), 4);
	ck_assert_int_eq(json_array_size(dups), 4);
	int64_t id[4];
	for (size_t i = 0; i < 4; i++)
		id[i] = json_integer_value(json_array_get(ids, i));
	ck_assert_int_gt(id[0], 0);
	ck_assert_int_gt(id[1], id[0]);
	ck_assert_int_gt(id[2], id[1]);
	/* The repeated unique_key is a duplicate of its first use. */
	ck_assert_int_eq(id[3], id[1]);
	ck_assert(json_is_false(json_array_get(dups, 0)));
	ck_assert(json_is_false(json_array_get(dups, 1)));
	ck_assert(json_is_false(json_array_get(dups, 2)));
	ck_assert(json_is_true(json_array_get(dups, 3)));
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 3);
	json_t *job = jd_get(&D, id[1]);
	ck_assert_str_eq(jd_str(job, "shell"), "exit 0");
	ck_assert_str_eq(jd_str(job, "state"), "scheduled");
	json_decref(job);
}
END_TEST

START_TEST(basic_submit_batch_all_or_nothing)
{
	jd_submit_text(&D, "{\"argv\":[\"true\"],\"delay\":3600}");
	ck_assert_int_eq(count_jobs(&D), 1);
	static const char *const bad[] = {
		/* the last spec is invalid */
		"[{\"argv\":[\"true\"]},{\"argv\":[\"true\"]},{\"argv\":[]}]",
		/* the first */
		"[{\"argv\":\"true\"},{\"argv\":[\"true\"]}]",
		/* an unknown field in the middle */
		"[{\"argv\":[\"true\"]},{\"argv\":[\"true\"],\"x\":1},"
		"{\"argv\":[\"true\"]}]",
		/* a spec that is not an object */
		"[{\"argv\":[\"true\"]},42]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *req = json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jd_json(bad[i]));
		json_t *r = jd_call(&D, req);
		ck_assert_msg(strcmp(jd_err(r), "invalid_argument") == 0,
			      "batch %zu: got '%s'", i, jd_err(r));
		json_decref(r);
		ck_assert_msg(count_jobs(&D) == 1, "batch %zu stored jobs", i);
	}
	/* An unknown queue in the batch: unknown_queue, nothing stored. */
	json_t *r = jd_call(
		&D, jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"argv\":[\"true\"],\"queue\":\"nope\"}]}"));
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 1);
	/* A dependency on a missing id anywhere in the batch. */
	r = jd_call(&D,
		    jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"argv\":[\"true\"],\"depends_on\":[999999]}]}"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 1);
}
END_TEST

static const char *const job_fields[] = {
	"id",		"queue",
	"name",		"cwd",
	"priority",	"state",
	"reason",	"error",
	"exit_code",	"signal",
	"attempt",	"recoveries",
	"max_attempts", "timeout",
	"kill_grace",	"backoff",
	"depends_on",	"unique_key",
	"uid",		"pid",
	"created_at",	"run_at",
	"started_at",	"finished_at",
	"duration",	"output_truncated",
	"rusage",
};

START_TEST(basic_get_fields)
{
	int64_t dep = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	json_t *spec = json_pack(
		"{s:[s,s],s:s,s:i,s:{s:s},s:[I],s:s,s:i}", "argv", "echo", "hi",
		"name", "n1", "priority", 5, "env", "FOO", "bar", "depends_on",
		(json_int_t)dep, "unique_key", "u1", "max_attempts", 2);
	int64_t id = jd_submit(&D, spec);
	json_t *job = jd_wait(&D, id, 10);
	for (size_t i = 0; i < sizeof(job_fields) / sizeof(job_fields[0]); i++)
		ck_assert_msg(json_object_get(job, job_fields[i]) != NULL,
			      "job object lacks '%s'", job_fields[i]);
	ck_assert_msg(json_object_get(job, "env") == NULL,
		      "env must only come with \"env\": true");
	ck_assert(json_object_get(job, "shell") == NULL);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_str_eq(jd_str(job, "name"), "n1");
	ck_assert_int_eq(jd_num(job, "priority"), 5);
	ck_assert_int_eq(jd_num(job, "max_attempts"), 2);
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	ck_assert_int_eq(jd_num(job, "uid"), getuid());
	ck_assert_str_eq(jd_str(job, "unique_key"), "u1");
	ck_assert_str_eq(jd_str(job, "cwd"), "/");
	ck_assert(json_is_null(json_object_get(job, "reason")));
	ck_assert(json_is_null(json_object_get(job, "pid")));
	ck_assert(json_is_null(json_object_get(job, "signal")));
	ck_assert(json_is_false(json_object_get(job, "output_truncated")));
	json_t *argv = json_object_get(job, "argv");
	ck_assert_int_eq(json_array_size(argv), 2);
	ck_assert_str_eq(json_string_value(json_array_get(argv, 1)), "hi");
	json_t *deps = json_object_get(job, "depends_on");
	ck_assert_int_eq(json_array_size(deps), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(deps, 0)), dep);
	ck_assert(json_is_number(json_object_get(job, "timeout")));
	ck_assert(json_is_number(json_object_get(job, "kill_grace")));
	ck_assert(json_is_number(json_object_get(job, "duration")));
	json_t *bo = json_object_get(job, "backoff");
	ck_assert(json_is_object(bo));
	static const char *const bof[] = {"base", "factor", "max", "jitter"};
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(json_is_number(json_object_get(bo, bof[i])),
			      "backoff lacks %s", bof[i]);
	json_t *ru = json_object_get(job, "rusage");
	ck_assert(json_is_number(json_object_get(ru, "user")));
	ck_assert(json_is_number(json_object_get(ru, "system")));
	ck_assert(json_is_integer(json_object_get(ru, "max_rss_kb")));
	static const char *const times[] = {"created_at", "run_at",
					    "started_at", "finished_at"};
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(is_rfc3339_ms(jd_str(job, times[i])),
			      "%s is '%s'", times[i], jd_str(job, times[i]));
	ck_assert_str_le(jd_str(job, "created_at"), jd_str(job, "started_at"));
	ck_assert_str_le(jd_str(job, "started_at"), jd_str(job, "finished_at"));
	json_decref(job);

	/* "env": true adds the stored env. */
	json_t *r = jd_req(&D, "{s:s,s:I,s:b}", "cmd", "get", "job_id",
			   (json_int_t)id, "env", 1);
	json_t *env = json_object_get(json_object_get(jd_ok(r), "job"), "env");
	ck_assert(json_is_object(env));
	ck_assert_str_eq(jd_str(env, "FOO"), "bar");
	json_decref(r);

	/* A shell job has shell and no argv; one that never ran has nulls. */
	id = jd_submit_text(&D, "{\"shell\":\"echo hi\",\"delay\":3600}");
	job = jd_get(&D, id);
	ck_assert_str_eq(jd_str(job, "shell"), "echo hi");
	ck_assert(json_object_get(job, "argv") == NULL);
	ck_assert_str_eq(jd_str(job, "state"), "scheduled");
	ck_assert(json_is_null(json_object_get(job, "started_at")));
	ck_assert(json_is_null(json_object_get(job, "finished_at")));
	ck_assert(json_is_null(json_object_get(job, "reason")));
	ck_assert(json_is_null(json_object_get(job, "exit_code")));
	ck_assert(json_is_null(json_object_get(job, "unique_key")));
	ck_assert(is_rfc3339_ms(jd_str(job, "run_at")));
	ck_assert_str_gt(jd_str(job, "run_at"), jd_str(job, "created_at"));
	json_decref(job);
}
END_TEST

START_TEST(basic_get_errors)
{
	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "get", "job_id", 999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert(json_is_string(
		json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
	r = jd_req(&D, "{s:s}", "cmd", "get");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s}", "cmd", "get", "job_id", "1");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
}
END_TEST

START_TEST(basic_list_filters)
{
	start("[queue other]\nconcurrency = 2\n");
	int64_t ok1 = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	int64_t bad = jd_submit_text(&D, "{\"argv\":[\"false\"],\"queue\":"
					 "\"other\"}");
	int64_t later = jd_submit_text(&D,
				       "{\"argv\":[\"true\"],\"delay\":3600,"
				       "\"queue\":\"other\"}");
	int64_t ok2 = jd_submit_text(&D, "{\"argv\":[\"true\"],\"queue\":"
					 "\"other\"}");
	int64_t later2 = jd_submit_text(&D, "{\"argv\":[\"true\"],"
					    "\"delay\":3600}");
	json_decref(jd_wait(&D, ok1, 10));
	json_decref(jd_wait(&D, bad, 10));
	json_decref(jd_wait(&D, ok2, 10));

	json_t *ids = list_all(&D, "{}", 0);
	int64_t all[] = {ok1, bad, later, ok2, later2};
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);
	ids = list_all(&D, "{\"queue\":\"other\"}", 0);
	int64_t other[] = {bad, later, ok2};
	ck_assert(ids_are(ids, other, 3));
	json_decref(ids);
	ids = list_all(&D, "{\"state\":\"scheduled\"}", 0);
	int64_t sched[] = {later, later2};
	ck_assert(ids_are(ids, sched, 2));
	json_decref(ids);
	ids = list_all(&D, "{\"state\":[\"succeeded\",\"failed\"]}", 0);
	int64_t done[] = {ok1, bad, ok2};
	ck_assert(ids_are(ids, done, 3));
	json_decref(ids);
	ids = list_all(&D, "{\"queue\":\"other\",\"state\":[\"succeeded\"]}",
		       0);
	int64_t other_ok[] = {ok2};
	ck_assert(ids_are(ids, other_ok, 1));
	json_decref(ids);
	/* Paging two at a time visits every job once, in order. */
	ids = list_all(&D, "{}", 2);
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);
	ids = list_all(&D, "{}", 1);
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);

	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "list", "limit", 2);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 2);
	ck_assert_int_eq(jd_num(res, "next_after_id"), bad);
	json_decref(r);
	r = jd_req(&D, "{s:s,s:I}", "cmd", "list", "after_id", (json_int_t)ok2);
	res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 1);
	ck_assert_int_eq(
		jd_num(json_array_get(json_object_get(res, "jobs"), 0), "id"),
		later2);
	json_decref(r);

	r = jd_req(&D, "{s:s,s:s}", "cmd", "list", "state", "bogus");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s}", "cmd", "list", "queue", "nope");
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
}
END_TEST

START_TEST(basic_list_default_limit)
{
	json_t *jobs = json_array();
	for (int i = 0; i < 105; i++)
		json_array_append_new(jobs, jd_json("{\"argv\":[\"true\"],"
						    "\"delay\":3600}"));
	json_t *r = jd_call(
		&D, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", jobs));
	json_t *ids = json_object_get(jd_ok(r), "ids");
	ck_assert_int_eq(json_array_size(ids), 105);
	json_int_t hundredth = json_integer_value(json_array_get(ids, 99));
	json_decref(r);
	r = jd_req(&D, "{s:s}", "cmd", "list");
	json_t *res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 100);
	ck_assert_int_eq(jd_num(res, "next_after_id"), hundredth);
	json_decref(r);
	ids = list_all(&D, "{}", 0);
	ck_assert_int_eq(json_array_size(ids), 105);
	json_decref(ids);
}
END_TEST

START_TEST(basic_wait)
{
	int64_t a = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	int64_t b = jd_submit_text(&D, "{\"shell\":\"exit 4\"}");
	json_t *r = jd_req(&D, "{s:s,s:[I,I],s:f}", "cmd", "wait", "job_ids",
			   (json_int_t)a, (json_int_t)b, "timeout", 10.0);
	json_t *jobs = json_object_get(jd_ok(r), "jobs");
	ck_assert_int_eq(json_array_size(jobs), 2);
	json_t *ja = json_array_get(jobs, 0), *jb = json_array_get(jobs, 1);
	ck_assert_int_eq(jd_num(ja, "id"), a);
	ck_assert_int_eq(jd_num(jb, "id"), b);
	ck_assert_str_eq(jd_str(ja, "state"), "succeeded");
	ck_assert_str_eq(jd_str(jb, "state"), "failed");
	ck_assert_int_eq(jd_num(jb, "exit_code"), 4);
	json_decref(r);

	/* Not all terminal within the timeout: error timeout, on time. */
	int64_t s = jd_submit_text(&D, "{\"argv\":[\"sleep\",\"30\"]}");
	double t0 = jd_now();
	r = jd_req(&D, "{s:s,s:[I,I],s:f}", "cmd", "wait", "job_ids",
		   (json_int_t)a, (json_int_t)s, "timeout", 0.3);
	double el = jd_now() - t0;
	ck_assert_str_eq(jd_err(r), "timeout");
	ck_assert_msg(el >= 0.25 && el < 3, "wait took %.2f s", el);
	json_decref(r);
	/* A missing id is not_found. */
	r = jd_req(&D, "{s:s,s:[I,i]}", "cmd", "wait", "job_ids", (json_int_t)a,
		   999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:I}", "cmd", "cancel", "job_id", (json_int_t)s);
	jd_ok(r);
	json_decref(r);
	json_t *job = jd_wait(&D, s, 10);
	ck_assert_str_eq(jd_str(job, "state"), "cancelled");
	json_decref(job);
}
END_TEST

/* ---- logs ---- */

START_TEST(basic_logs_both_streams)
{
	json_t *job = run_text(&D, "{\"shell\":\"echo out; echo err >&2; "
				   "echo out2\"}");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "out\nerr\nout2\n");
	ck_assert_int_eq(jd_num(l, "offset"), 0);
	ck_assert_int_eq(jd_num(l, "next_offset"), 13);
	ck_assert_int_eq(jd_num(l, "size"), 13);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	ck_assert(json_is_false(json_object_get(l, "truncated")));
	json_decref(l);
	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "logs", "job_id", 999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
}
END_TEST

START_TEST(basic_logs_offsets)
{
	json_t *job = run_text(&D, "{\"argv\":[\"printf\",\"0123456789\"]}");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	json_t *l = logs(&D, id, 3, 4);
	ck_assert_str_eq(jd_str(l, "data"), "3456");
	ck_assert_int_eq(jd_num(l, "offset"), 3);
	ck_assert_int_eq(jd_num(l, "next_offset"), 7);
	ck_assert_int_eq(jd_num(l, "size"), 10);
	ck_assert(json_is_false(json_object_get(l, "eof")));
	json_decref(l);
	l = logs(&D, id, 7, 0);
	ck_assert_str_eq(jd_str(l, "data"), "789");
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
	/* Negative: from the end. */
	l = logs(&D, id, -4, 0);
	ck_assert_str_eq(jd_str(l, "data"), "6789");
	ck_assert_int_eq(jd_num(l, "offset"), 6);
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
	l = logs(&D, id, -4, 2);
	ck_assert_str_eq(jd_str(l, "data"), "67");
	ck_assert_int_eq(jd_num(l, "offset"), 6);
	ck_assert_int_eq(jd_num(l, "next_offset"), 8);
	json_decref(l);
	/* At the end: nothing more. */
	l = logs(&D, id, 10, 0);
	ck_assert_str_eq(jd_str(l, "data"), "");
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_invalid_utf8)
{
	json_t *job =
		run_text(&D, "{\"argv\":[\"printf\",\"a\\\\377b\\\\n\"]}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "a\xef\xbf\xbd"
					    "b\n");
	ck_assert_int_eq(jd_num(l, "size"), 4);
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_discard)
{
	json_t *job = run_text(&D, "{\"shell\":\"echo hi; echo err >&2\","
				   "\"output\":\"discard\"}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "");
	ck_assert_int_eq(jd_num(l, "size"), 0);
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_max_log_bytes)
{
	start("max_log_bytes = 1K\n");
	json_t *job = run_text(&D, "{\"shell\":\"head -c 5000 /dev/zero | "
				   "tr '\\\\0' a; echo; exit 0\"}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	ck_assert(json_is_true(json_object_get(job, "output_truncated")));
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert(json_is_true(json_object_get(l, "truncated")));
	ck_assert_int_gt(jd_num(l, "size"), 0);
	ck_assert_int_le(jd_num(l, "size"), 1024);
	ck_assert_int_eq(strlen(jd_str(l, "data")), jd_num(l, "size"));
	ck_assert_int_eq(strspn(jd_str(l, "data"), "a"), jd_num(l, "size"));
	json_decref(l);
	/* A job under the limit is not marked. */
	job = run_text(&D, "{\"argv\":[\"echo\",\"small\"]}");
	ck_assert(json_is_false(json_object_get(job, "output_truncated")));
	json_decref(job);
}
END_TEST

void
basic_add_jobs(Suite *s, TCase *configured)
{
	TCase *tc;

	tc = basic_tcase("jobs", 30);
	tcase_add_test(tc, basic_submit_single);
	tcase_add_test(tc, basic_submit_batch);
	tcase_add_test(tc, basic_submit_batch_all_or_nothing);
	tcase_add_test(tc, basic_get_fields);
	tcase_add_test(tc, basic_get_errors);
	tcase_add_test(tc, basic_list_default_limit);
	tcase_add_test(tc, basic_wait);
	suite_add_tcase(s, tc);

	tc = basic_tcase("logs", 30);
	tcase_add_test(tc, basic_logs_both_streams);
	tcase_add_test(tc, basic_logs_offsets);
	tcase_add_test(tc, basic_logs_invalid_utf8);
	tcase_add_test(tc, basic_logs_discard);
	suite_add_tcase(s, tc);

	tcase_add_test(configured, basic_list_filters);
	tcase_add_test(configured, basic_logs_max_log_bytes);
}
