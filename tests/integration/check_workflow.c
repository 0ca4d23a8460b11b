/*
 * workflow_suite: a whole graph of jobs in one submit.  "@N" names an
 * earlier spec of the same request (forward references, and so cycles,
 * refused, nothing written); after (depends_on), after_any and
 * after_failed release or cancel a job by its dependencies' ends; a
 * 1,000-job graph runs in dependency order (checked from the order in
 * which the jobs append to one file) and a failure cascades through
 * 1,000 dependents; wait by queue alone and wait with any.  Every wait
 * has a deadline.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "exec.h"
#include "harness.h"
#include "jobd/proto.h"

Suite *workflow_suite(void);

#define BASE_CONF \
	"; workflow_suite\n[daemon]\nshutdown_timeout = 2\nkill_grace = 1\n"

/* The one daemon of the current test. */
static struct jd D;

static struct jd *
wf_start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* Submits the specs (stolen) in one request; the ids, n of them, into
 * ids. */
static void
submit_batch(struct jd *d, json_t *specs, int64_t *ids, size_t n)
{
	json_t *r = jd_call(
		d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", specs));
	json_t *got = json_object_get(jd_ok(r), "ids");
	ck_assert_uint_eq(json_array_size(got), n);
	for (size_t i = 0; i < n; i++)
		ids[i] = json_integer_value(json_array_get(got, i));
	json_decref(r);
}

/* The batch must be refused invalid_argument with a message naming
 * field. */
static void
refused(struct jd *d, json_t *specs, const char *field)
{
	json_t *r = jd_call(
		d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", specs));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), field) != NULL,
		      "message \"%s\" does not name %s", jd_err_msg(r), field);
	json_decref(r);
}

/* A spec that appends tag to the file at path when it runs, then exits
 * with status. */
static json_t *
appender(const char *path, const char *tag, int status)
{
	char *sh = xasprintf("echo %s >> %s; exit %d", tag, path, status);
	json_t *o = json_pack("{s:s}", "shell", sh);
	free(sh);
	return o;
}

static json_t *
with(json_t *spec, const char *field, json_t *deps)
{
	json_object_set_new(spec, field, deps);
	return spec;
}

START_TEST(workflow_refs_run_in_order)
{
	struct jd *d = wf_start(NULL);
	char *log = jd_path(d, "order");
	int64_t ids[3];
	submit_batch(d,
		     json_pack("[o,o,o]", appender(log, "a", 0),
			       with(appender(log, "b", 0), "after",
				    json_pack("[s]", "@0")),
			       with(appender(log, "c", 0), "depends_on",
				    json_pack("[s,s]", "@1", "@0"))),
		     ids, 3);
	json_t *c = jd_wait(d, ids[2], 30);
	assert_job(c, "succeeded", NULL);
	/* Stored with the ids the request gave its jobs. */
	json_t *deps = json_object_get(c, "depends_on");
	ck_assert_uint_eq(json_array_size(deps), 2);
	ck_assert_int_eq(json_integer_value(json_array_get(deps, 0)), ids[1]);
	ck_assert_int_eq(json_integer_value(json_array_get(deps, 1)), ids[0]);
	json_decref(c);
	char *text = jd_slurp(log);
	ck_assert_str_eq(text, "a\nb\nc\n");
	free(text);
	free(log);
}
END_TEST

START_TEST(workflow_refs_refused)
{
	struct jd *d = wf_start(NULL);
	/* Forward, to itself, and a single submit (no earlier spec). */
	refused(d,
		json_pack("[{s:s,s:[s]},{s:s}]", "shell", "true", "after", "@1",
			  "shell", "true"),
		"after");
	refused(d,
		json_pack("[{s:s},{s:s,s:[s]}]", "shell", "true", "shell",
			  "true", "after_any", "@1"),
		"after_any");
	refused(d,
		json_pack("[{s:s},{s:s,s:[s]}]", "shell", "true", "shell",
			  "true", "after", "@x"),
		"after");
	refused(d,
		json_pack("[{s:s},{s:s,s:[s]}]", "shell", "true", "shell",
			  "true", "after", "@-1"),
		"after");
	/* One condition a job. */
	refused(d,
		json_pack("[{s:s},{s:s,s:[s],s:[s]}]", "shell", "true", "shell",
			  "true", "after", "@0", "after_failed", "@0"),
		"after");
	json_t *r = jd_call(d, json_pack("{s:s,s:{s:s,s:[s]}}", "cmd", "submit",
					 "job", "shell", "true", "after_failed",
					 "@0"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_ptr_nonnull(strstr(jd_err_msg(r), "after_failed"));
	json_decref(r);
	/* All or nothing: the valid specs before a bad one are not in. */
	ck_assert_uint_eq(count_jobs(d, NULL), 0);
}
END_TEST

START_TEST(workflow_after_any)
{
	struct jd *d = wf_start(NULL);
	char *gate = gate_cmd(d, "gate");
	int64_t ids[4];
	submit_batch(d,
		     json_pack("[{s:s},{s:s},{s:s,s:[s,s]},{s:s,s:[s]}]",
			       "shell", "exit 3", "shell", gate, "shell",
			       "true", "after_any", "@0", "@1", "shell", "true",
			       "after", "@0"),
		     ids, 4);
	json_t *job = jd_wait(d, ids[0], 30);
	assert_job(job, "failed", "exit");
	json_decref(job);
	/* after: cancelled by the failure; after_any: waits for the other. */
	job = jd_wait(d, ids[3], 30);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	assert_stays(d, ids[2], "waiting", 0.3);
	gate_open(d, "gate");
	json_t *g = jd_wait(d, ids[1], 30);
	job = jd_wait(d, ids[2], 30);
	assert_job(g, "succeeded", NULL);
	assert_job(job, "succeeded", NULL);
	ck_assert(jtime(job, "started_at") >= jtime(g, "finished_at"));
	json_decref(job);
	json_decref(g);
	free(gate);
}
END_TEST

START_TEST(workflow_after_failed)
{
	struct jd *d = wf_start(NULL);
	int64_t ids[6];
	/* 0 fails, 1 succeeds; 2 after_failed both: runs; 3 after_failed
	 * 1: not needed; 4 after 3: dependency_failed; 5 after_any 3:
	 * runs. */
	submit_batch(d,
		     json_pack("[{s:s},{s:s},{s:s,s:[s,s]},{s:s,s:[s]},"
			       "{s:s,s:[s]},{s:s,s:[s]}]",
			       "shell", "exit 1", "shell", "true", "shell",
			       "true", "after_failed", "@0", "@1", "shell",
			       "true", "after_failed", "@1", "shell", "true",
			       "after", "@3", "shell", "true", "after_any",
			       "@3"),
		     ids, 6);
	json_t *job = jd_wait(d, ids[2], 30);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	job = jd_wait(d, ids[3], 30);
	assert_job(job, "cancelled", "not_needed");
	ck_assert(json_is_null(json_object_get(job, "started_at")));
	json_decref(job);
	job = jd_wait(d, ids[4], 30);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	job = jd_wait(d, ids[5], 30);
	assert_job(job, "succeeded", NULL);
	ck_assert_str_eq(jd_str(job, "dependency_condition"), "after_any");
	json_decref(job);
	job = jd_get(d, ids[4]);
	ck_assert_str_eq(jd_str(job, "dependency_condition"), "after");
	json_decref(job);
	job = jd_get(d, ids[0]);
	ck_assert(json_is_null(json_object_get(job, "dependency_condition")));
	json_decref(job);
	/* A resubmit keeps the condition: not needed again. */
	json_t *r = jd_call(d, json_pack("{s:s,s:I}", "cmd", "resubmit",
					 "job_id", (json_int_t)ids[3]));
	int64_t again = jd_num(json_object_get(jd_ok(r), "job"), "id");
	json_decref(r);
	job = jd_wait(d, again, 30);
	assert_job(job, "cancelled", "not_needed");
	ck_assert_str_eq(jd_str(job, "dependency_condition"), "after_failed");
	json_decref(job);

	/* Dependencies ended before the submit: decided at once. */
	int64_t late[2];
	submit_batch(d,
		     json_pack("[{s:s,s:[I]},{s:s,s:[I]}]", "shell", "true",
			       "after_failed", (json_int_t)ids[1], "shell",
			       "true", "after_failed", (json_int_t)ids[0]),
		     late, 2);
	job = jd_get(d, late[0]);
	assert_job(job, "cancelled", "not_needed");
	json_decref(job);
	job = jd_wait(d, late[1], 30);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
}
END_TEST

/* The dependencies of job i of the 1,000-job graph, as "@N" (N < i):
 * 1 to 899 fan out of 0 and form a tree (i / 2); 900 to 998 each depend
 * on ten earlier ones spread over the graph; 999 fans in all of 1 to
 * 998. */
static json_t *
dag_deps(int i)
{
	json_t *a = json_array();
	char ref[16];
	if (i == 0)
		return a;
	if (i < 900) {
		json_array_append_new(a, json_string("@0"));
		if (i / 2 >= 1) {
			snprintf(ref, sizeof(ref), "@%d", i / 2);
			json_array_append_new(a, json_string(ref));
		}
	} else if (i < 999) {
		for (int j = 0; j < 10; j++) {
			snprintf(ref, sizeof(ref), "@%d",
				 (i * 7 + j * 131) % i);
			json_array_append_new(a, json_string(ref));
		}
	} else {
		for (int k = 1; k < 999; k++) {
			snprintf(ref, sizeof(ref), "@%d", k);
			json_array_append_new(a, json_string(ref));
		}
	}
	return a;
}

START_TEST(workflow_dag_1000_in_order)
{
	enum { N = 1000 };
	struct jd *d = wf_start("[queue dag]\nconcurrency = 16\n");
	char *log = jd_path(d, "order");
	json_t *specs = json_array();
	static int64_t ids[N];
	for (int i = 0; i < N; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "%d", i);
		json_t *s = appender(log, tag, 0);
		json_object_set_new(s, "queue", json_string("dag"));
		/* Alternate the spellings: after and depends_on are one. */
		if (i > 0)
			json_object_set_new(s, i % 2 ? "after" : "depends_on",
					    dag_deps(i));
		json_array_append_new(specs, s);
	}
	double t0 = jd_now();
	submit_batch(d, specs, ids, N);
	fprintf(stderr, "workflow: 1,000-job graph submitted in %.3f s\n",
		jd_now() - t0);
	json_t *last = jd_wait(d, ids[N - 1], 600);
	assert_job(last, "succeeded", NULL);
	json_decref(last);
	fprintf(stderr, "workflow: 1,000-job graph ran in %.3f s\n",
		jd_now() - t0);
	/* Each job's line comes after the lines of its dependencies. */
	static int pos[N];
	for (int i = 0; i < N; i++)
		pos[i] = -1;
	char *text = jd_slurp(log), *p = text, *nl;
	int line = 0;
	while ((nl = strchr(p, '\n')) != NULL) {
		int i = atoi(p);
		ck_assert_msg(i >= 0 && i < N && pos[i] < 0, "line %d: %.*s",
			      line, (int)(nl - p), p);
		pos[i] = line++;
		p = nl + 1;
	}
	free(text);
	ck_assert_int_eq(line, N);
	for (int i = 1; i < N; i++) {
		json_t *deps = dag_deps(i), *v;
		size_t k;
		json_array_foreach (deps, k, v) {
			int dep = atoi(json_string_value(v) + 1);
			ck_assert_msg(pos[dep] < pos[i],
				      "job %d ran before its dependency %d", i,
				      dep);
		}
		json_decref(deps);
	}
	free(log);
}
END_TEST

START_TEST(workflow_fanout_failure_1000)
{
	enum { N = 1000 };
	struct jd *d = wf_start(NULL);
	char *gate = gate_cmd(d, "gate");
	char *sh = xasprintf("%s; exit 1", gate);
	static int64_t ids[N];
	json_t *specs = json_array();
	json_array_append_new(specs, json_pack("{s:s}", "shell", sh));
	for (int i = 1; i < N - 1; i++)
		json_array_append_new(specs, json_pack("{s:s,s:[s]}", "shell",
						       "true", "after", "@0"));
	json_array_append_new(specs, json_pack("{s:s,s:[s]}", "shell", "true",
					       "after_failed", "@0"));
	submit_batch(d, specs, ids, N);
	/* The loop's longest turn so far, before the failure. */
	json_t *st = jd_req(d, "{s:s}", "cmd", "stats");
	double before = json_number_value(json_object_get(
		json_object_get(jd_ok(st), "loop"), "slowest_ms"));
	json_decref(st);
	gate_open(d, "gate");
	json_t *job = jd_wait(d, ids[0], 30);
	assert_job(job, "failed", "exit");
	json_decref(job);
	/* The loop answers while the 998 dependents are cancelled. */
	double worst = 0, until = jd_now() + 60;
	while (!jd_poll_state(d, ids[N - 2], "cancelled", 0.001)) {
		double t = jd_now();
		json_t *r = jd_req(d, "{s:s}", "cmd", "ping");
		jd_ok(r);
		json_decref(r);
		if (jd_now() - t > worst)
			worst = jd_now() - t;
		ck_assert_msg(jd_now() < until, "not cancelled in time");
	}
	st = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *loop = json_object_get(jd_ok(st), "loop");
	fprintf(stderr,
		"workflow: slowest ping during the cascade %.3f s; loop "
		"slowest_ms %.1f before it, %.1f after\n",
		worst, before,
		json_number_value(json_object_get(loop, "slowest_ms")));
	json_decref(st);
	for (int i = 1; i < N - 1; i++) {
		job = jd_get(d, ids[i]);
		assert_job(job, "cancelled", "dependency_failed");
		json_decref(job);
	}
	job = jd_wait(d, ids[N - 1], 30);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	free(sh);
	free(gate);
}
END_TEST

/* A chain of 1,000 jobs, each after the one before, whose first fails:
 * every other one is cancelled, however deep. */
START_TEST(workflow_chain_failure_1000)
{
	enum { N = 1000 };
	struct jd *d = wf_start(NULL);
	static int64_t ids[N];
	json_t *specs = json_array();
	json_array_append_new(specs, json_pack("{s:s}", "shell", "exit 1"));
	for (int i = 1; i < N; i++) {
		char ref[16];
		snprintf(ref, sizeof(ref), "@%d", i - 1);
		json_array_append_new(specs, json_pack("{s:s,s:[s]}", "shell",
						       "true", "after", ref));
	}
	submit_batch(d, specs, ids, N);
	json_t *job = jd_wait(d, ids[N - 1], 60);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	job = jd_get(d, ids[N / 2]);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
}
END_TEST

START_TEST(workflow_wait_queue)
{
	struct jd *d = wf_start("[queue p]\n[queue other]\n");
	char *gate = gate_cmd(d, "gate");
	/* Nothing in p: answered at once. */
	ck_assert_int_eq(
		jd_jobctl(d, NULL, NULL, NULL, "wait", "--queue", "p", NULL),
		0);
	queue_pause(d, "p", true);
	int64_t ids[2];
	submit_batch(d,
		     json_pack("[{s:s,s:s},{s:s,s:s,s:[s]}]", "shell", "true",
			       "queue", "p", "shell", "true", "queue", "p",
			       "after", "@0"),
		     ids, 2);
	/* A job of another queue that never ends is not waited for. */
	int64_t other = jd_submit(
		d, json_pack("{s:s,s:s}", "shell", gate, "queue", "other"));
	char *err = NULL;
	ck_assert_int_eq(jd_jobctl(d, NULL, NULL, &err, "wait", "--queue", "p",
				   "--timeout", "0.3", NULL),
			 124);
	free(err);
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "wait", "queue", "nope");
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
	r = jd_req(d, "{s:s,s:s,s:I}", "cmd", "wait", "queue", "p", "job_id",
		   (json_int_t)ids[0]);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	queue_pause(d, "p", false);
	ck_assert_int_eq(jd_jobctl(d, NULL, NULL, NULL, "wait", "--queue", "p",
				   "--timeout", "60", NULL),
			 0);
	for (int i = 0; i < 2; i++) {
		json_t *job = jd_get(d, ids[i]);
		assert_job(job, "succeeded", NULL);
		json_decref(job);
	}
	json_t *job = jd_get(d, other);
	ck_assert(!jobd_state_is_terminal(
		jobd_state_parse(jd_str(job, "state"))));
	json_decref(job);
	gate_open(d, "gate");
	free(gate);
}
END_TEST

/* wait with a filter object, as cancel and retry take: jobs of the
 * filter matched by name, not the others; only ended states wait for
 * nothing; bad filters refused. */
START_TEST(workflow_wait_filter_object)
{
	struct jd *d = wf_start("[queue p]\n");
	char *g1 = gate_cmd(d, "g1"), *g2 = gate_cmd(d, "g2");
	int64_t build =
		jd_submit(d, json_pack("{s:s,s:s,s:s}", "shell", g1, "queue",
				       "p", "name", "build-1"));
	int64_t other = jd_submit(d, json_pack("{s:s,s:s,s:s}", "shell", g2,
					       "queue", "p", "name", "other"));
	json_t *r = jd_req(d, "{s:s,s:{s:s,s:s},s:f}", "cmd", "wait", "filter",
			   "queue", "p", "name", "build-*", "timeout", 0.3);
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	gate_open(d, "g1");
	jd_call_ok(d,
		   json_pack("{s:s,s:{s:s,s:s},s:f}", "cmd", "wait", "filter",
			     "queue", "p", "name", "build-*", "timeout", 60.0));
	json_t *job = jd_get(d, build);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	/* The other job of p runs on: any by name finds none pending. */
	r = jd_call(d,
		    json_pack("{s:s,s:{s:s},s:b,s:f}", "cmd", "wait", "filter",
			      "name", "build-*", "any", 1, "timeout", 60.0));
	ck_assert_int_eq(json_object_size(jd_ok(r)), 0);
	json_decref(r);
	r = jd_req(d, "{s:s,s:{s:s},s:b,s:f}", "cmd", "wait", "filter", "name",
		   "oth*", "any", 1, "timeout", 0.3);
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	/* Only ended states: nothing to wait for. */
	jd_call_ok(d, json_pack("{s:s,s:{s:s}}", "cmd", "wait", "filter",
				"state", "succeeded"));
	r = jd_req(d, "{s:s,s:{s:i}}", "cmd", "wait", "filter", "bogus", 1);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), "filter.bogus") != NULL, "%s",
		      jd_err_msg(r));
	json_decref(r);
	r = jd_req(d, "{s:s,s:{s:s},s:s}", "cmd", "wait", "filter", "queue",
		   "p", "queue", "p");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	job = jd_get(d, other);
	ck_assert_str_eq(jd_str(job, "state"), "running");
	json_decref(job);
	gate_open(d, "g2");
	free(g1);
	free(g2);
}
END_TEST

START_TEST(workflow_wait_any)
{
	struct jd *d = wf_start("[queue q]\n");
	char *gate = gate_cmd(d, "gate");
	char *g2 = gate_cmd(d, "gate2");
	int64_t slow = jd_submit(
		d, json_pack("{s:s,s:s}", "shell", gate, "queue", "q"));
	int64_t quick =
		jd_submit(d, json_pack("{s:s,s:s}", "shell", g2, "queue", "q"));
	char sslow[32], squick[32];
	snprintf(sslow, sizeof(sslow), "%lld", (long long)slow);
	snprintf(squick, sizeof(squick), "%lld", (long long)quick);
	/* Neither ends in time. */
	ck_assert_int_eq(jd_jobctl(d, NULL, NULL, NULL, "wait", "--any", sslow,
				   squick, "--timeout", "0.3", NULL),
			 124);
	gate_open(d, "gate2");
	char *out = NULL;
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "wait", "--any",
				   "--json", sslow, squick, "--timeout", "60",
				   NULL),
			 0);
	json_t *res = jd_json(out);
	ck_assert_int_eq(jd_num(json_object_get(res, "job"), "id"), quick);
	assert_job(json_object_get(res, "job"), "succeeded", NULL);
	json_decref(res);
	free(out);
	/* With a filter: the jobs of q pending when it began; the one
	 * that ends first. */
	char *g3 = gate_cmd(d, "gate3");
	char *sh3 = xasprintf("%s; exit 2", g3);
	int64_t third = jd_submit(
		d, json_pack("{s:s,s:s}", "shell", sh3, "queue", "q"));
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	jd_send(fd, "{\"id\":7,\"cmd\":\"wait\",\"queue\":\"q\","
		    "\"any\":true,\"timeout\":60}\n");
	/* The wait is under way once a ping sent after it is answered. */
	jd_send(fd, "{\"id\":8,\"cmd\":\"ping\"}\n");
	char *line = jd_read_line(fd, 10000);
	ck_assert_ptr_nonnull(line);
	json_t *resp = jd_json(line);
	free(line);
	ck_assert_int_eq(jd_num(resp, "id"), 8);
	json_decref(resp);
	gate_open(d, "gate3");
	line = jd_read_line(fd, 60000);
	ck_assert_ptr_nonnull(line);
	resp = jd_json(line);
	free(line);
	ck_assert_int_eq(jd_num(resp, "id"), 7);
	json_t *first = json_object_get(json_object_get(resp, "result"), "job");
	char *shown = json_dumps(resp, JSON_COMPACT);
	ck_assert_msg(jd_num(first, "id") == third, "%lld: %s",
		      (long long)third, shown);
	free(shown);
	assert_job(first, "failed", "exit");
	json_decref(resp);
	jd_close(fd);
	/* Only the slow one is left: the timeout runs out. */
	json_t *r = jd_req(d, "{s:s,s:s,s:b,s:f}", "cmd", "wait", "queue", "q",
			   "any", 1, "timeout", 0.3);
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	ck_assert_int_eq(jd_jobctl(d, NULL, NULL, NULL, "wait", "--any", "-q",
				   "q", "--timeout", "0.3", NULL),
			 124);
	gate_open(d, "gate");
	json_t *job = jd_wait(d, slow, 60);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	free(sh3);
	free(g3);
	/* Nothing pending: answered at once, with no job. */
	r = jd_req(d, "{s:s,s:s,s:b}", "cmd", "wait", "queue", "q", "any", 1);
	ck_assert_ptr_null(json_object_get(jd_ok(r), "job"));
	json_decref(r);
	free(gate);
	free(g2);
}
END_TEST

Suite *
workflow_suite(void)
{
	Suite *s = suite_create("workflow");
	TCase *tc = tcase_create("workflow");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, workflow_refs_run_in_order);
	tcase_add_test(tc, workflow_refs_refused);
	tcase_add_test(tc, workflow_after_any);
	tcase_add_test(tc, workflow_after_failed);
	tcase_add_test(tc, workflow_dag_1000_in_order);
	tcase_add_test(tc, workflow_fanout_failure_1000);
	tcase_add_test(tc, workflow_wait_queue);
	tcase_add_test(tc, workflow_wait_filter_object);
	tcase_add_test(tc, workflow_wait_any);
	suite_add_tcase(s, tc);
	/* Deep: every cancel of the chain resolves the next one's. */
	tc = tcase_create("chain");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, workflow_chain_failure_1000);
	suite_add_tcase(s, tc);
	return s;
}
