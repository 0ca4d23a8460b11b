/*
 * exec suite's queue commands (SPEC 3, 5.1): create, get, list, update,
 * delete, pause and resume, unknown queues, and queues that outlive a
 * restart.
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

/* ---- queues (SPEC 3, 5.1) ---- */

START_TEST(exec_queue_create_get_list)
{
	struct jd d;
	start(&d, NULL);
	json_t *r = jd_req(&d,
			   "{s:s,s:s,s:i,s:i,s:f,s:i,s:{s:f,s:f,s:f,s:f},"
			   "s:{s:f,s:f}}",
			   "cmd", "queue.create", "name", "q1", "concurrency",
			   2, "capacity", 5, "timeout", 3.0, "max_attempts", 4,
			   "backoff", "base", 0.5, "factor", 3.0, "max", 9.0,
			   "jitter", 0.0, "rate", "limit", 7.0, "period", 2.0);
	json_t *q = json_object_get(jd_ok(r), "queue");
	ck_assert(jis(q, "name", "q1"));
	json_decref(r);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.create", "name", "q1")),
			 "invalid_state");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.create",
				      "name", "default")),
		"invalid_state");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.create",
				      "name", "bad/name")),
		"invalid_argument");
	q = jd_queue_get(&d, "q1", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	ck_assert_int_eq(jd_num(q, "capacity"), 5);
	ck_assert_int_eq(jd_num(q, "max_attempts"), 4);
	ck_assert(fabs(json_number_value(json_object_get(q, "timeout")) - 3) <
		  1e-9);
	json_t *bo = json_object_get(q, "backoff");
	ck_assert(json_number_value(json_object_get(bo, "base")) == 0.5);
	ck_assert(json_number_value(json_object_get(bo, "factor")) == 3.0);
	ck_assert(json_number_value(json_object_get(bo, "max")) == 9.0);
	ck_assert(json_number_value(json_object_get(bo, "jitter")) == 0.0);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 7.0);
	ck_assert(json_number_value(json_object_get(rate, "period")) == 2.0);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	/* The queue's defaults are copied into its jobs. */
	queue_pause(&d, "q1", true);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q1"));
	jd_submit(&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q1"));
	json_t *job = jd_get(&d, id);
	ck_assert_int_eq(jd_num(job, "max_attempts"), 4);
	ck_assert(json_number_value(json_object_get(job, "timeout")) == 3.0);
	ck_assert(json_number_value(json_object_get(
			  json_object_get(job, "backoff"), "base")) == 0.5);
	json_decref(job);
	int64_t dflt = submit_sh(&d, "true");
	json_decref(jd_wait(&d, dflt, 10));
	r = jd_req(&d, "{s:s}", "cmd", "queue.list");
	json_t *qs = json_object_get(jd_ok(r), "queues");
	bool seen_q1 = false, seen_default = false;
	size_t i;
	json_array_foreach (qs, i, q) {
		json_t *counts = json_object_get(q, "counts");
		ck_assert(json_is_object(counts));
		if (jis(q, "name", "q1")) {
			seen_q1 = true;
			ck_assert_int_eq(jd_num(counts, "queued"), 2);
			ck_assert_int_eq(jd_num(counts, "succeeded"), 0);
		} else if (jis(q, "name", "default")) {
			seen_default = true;
			ck_assert_int_eq(jd_num(counts, "queued"), 0);
			ck_assert_int_eq(jd_num(counts, "succeeded"), 1);
		}
	}
	ck_assert(seen_q1 && seen_default);
	json_decref(r);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_update)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "q"));
	json_t *r = jd_req(&d, "{s:s,s:s,s:i,s:i,s:{s:f,s:f,s:f}}", "cmd",
			   "queue.update", "name", "q", "concurrency", 7,
			   "capacity", 9, "rate", "limit", 3.0, "period", 1.0,
			   "burst", 2.0);
	jd_ok(r);
	json_decref(r);
	json_t *q = jd_queue_get(&d, "q", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 7);
	ck_assert_int_eq(jd_num(q, "capacity"), 9);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 3.0);
	ck_assert(json_number_value(json_object_get(rate, "burst")) == 2.0);
	json_decref(q);
	/* Keys not sent keep their values; rate null removes the limit. */
	jd_call_ok(&d, json_pack("{s:s,s:s,s:n}", "cmd", "queue.update", "name",
				 "q", "rate"));
	q = jd_queue_get(&d, "q", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 7);
	ck_assert(json_is_null(json_object_get(q, "rate")));
	json_decref(q);
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update",
				      "name", "q", "concurrency", 0)),
		"invalid_argument");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update",
				      "name", "q", "bogus", 1)),
		"invalid_argument");
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_delete)
{
	struct jd d;
	start(&d, NULL);
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.delete",
				      "name", "default")),
		"invalid_argument");
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "q"));
	queue_pause(&d, "q", true);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q"));
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.delete", "name", "q")),
			 "invalid_state");
	json_decref(jd_queue_get(&d, "q", NULL));
	json_decref(cancel(&d, id));
	/* Nor with a running job. */
	queue_pause(&d, "q", false);
	char *gate = gate_cmd(&d, "gate");
	id = jd_submit(&d, json_pack("{s:s,s:s}", "shell", gate, "queue", "q"));
	json_t *job = jd_poll_job(&d, id, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.delete", "name", "q")),
			 "invalid_state");
	gate_open(&d, "gate");
	json_decref(jd_wait(&d, id, 10));
	free(gate);
	/* With only finished jobs left it goes. */
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.delete", "name", "q"));
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.get",
					       "name", "q")),
			 "unknown_queue");
	/* An empty queue goes at once, and its name can be used again. */
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "e"));
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.delete", "name", "e"));
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:{s:s,s:s}}", "cmd", "submit",
				      "job", "shell", "true", "queue", "e")),
		"unknown_queue");
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.create", "name",
				 "e", "concurrency", 1));
	id = jd_submit(&d,
		       json_pack("{s:s,s:s}", "shell", "true", "queue", "e"));
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_pause_resume)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 2\n");
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	json_t *job = jd_poll_job(&d, a, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	json_t *r = jd_req(&d, "{s:s,s:s}", "cmd", "queue.pause", "name",
			   "default");
	ck_assert(json_is_true(
		json_object_get(json_object_get(jd_ok(r), "queue"), "paused")));
	json_decref(r);
	int64_t b = submit_sh(&d, "true");
	/* A paused queue starts nothing, while a slot is free; the running
	 * job goes on. */
	assert_stays(&d, b, "queued", 0.3);
	job = jd_get(&d, a);
	assert_job(job, "running", NULL);
	json_decref(job);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	assert_stays(&d, b, "queued", 0.1);
	r = jd_req(&d, "{s:s,s:s}", "cmd", "queue.resume", "name", "default");
	ck_assert(json_is_false(
		json_object_get(json_object_get(jd_ok(r), "queue"), "paused")));
	json_decref(r);
	job = jd_wait(&d, b, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_unknown)
{
	struct jd d;
	start(&d, NULL);
	static const char *const cmds[] = {"queue.get", "queue.update",
					   "queue.delete", "queue.pause",
					   "queue.resume"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		json_t *req =
			json_pack("{s:s,s:s}", "cmd", cmds[i], "name", "nope");
		if (strcmp(cmds[i], "queue.update") == 0)
			json_object_set_new(req, "concurrency",
					    json_integer(2));
		ck_assert_msg(strcmp(req_err(&d, req), "unknown_queue") == 0,
			      "%s of a missing queue", cmds[i]);
	}
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:{s:s,s:s}}", "cmd", "submit",
				      "job", "shell", "true", "queue", "nope")),
		"unknown_queue");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "list",
					       "queue", "nope")),
			 "unknown_queue");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "watch",
					       "queue", "nope")),
			 "unknown_queue");
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_persists)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i,s:i,s:i,s:{s:f,s:f,s:f}}", "cmd",
				 "queue.create", "name", "pq", "concurrency", 3,
				 "capacity", 7, "max_attempts", 2, "rate",
				 "limit", 2.0, "period", 1.0, "burst", 4.0));
	queue_pause(&d, "pq", true);
	queue_pause(&d, "default", true);
	queue_pause(&d, "default", false);
	ck_assert_int_eq(jd_stop(&d), 0);
	jd_start(&d, NULL);
	json_t *q = jd_queue_get(&d, "pq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 3);
	ck_assert_int_eq(jd_num(q, "capacity"), 7);
	ck_assert_int_eq(jd_num(q, "max_attempts"), 2);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 2.0);
	ck_assert(json_number_value(json_object_get(rate, "burst")) == 4.0);
	ck_assert(json_is_true(json_object_get(q, "paused")));
	json_decref(q);
	q = jd_queue_get(&d, "default", NULL);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	/* Still paused in deed, not only in word. */
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "pq"));
	assert_stays(&d, id, "queued", 0.2);
	queue_pause(&d, "pq", false);
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

void
exec_add_queue(Suite *s)
{
	const TTest *queue[] = {
		exec_queue_create_get_list,
		exec_queue_update,
		exec_queue_delete,
		exec_queue_pause_resume,
		exec_queue_unknown,
		exec_queue_persists,
		NULL,
	};

	exec_add_case(s, "queue", 30, queue);
}
