/*
 * hooks_suite: a queue's on_failure, on_success and on_finish
 * (docs/jobd-protocol.7, QUEUE OBJECT): set by queue.set and by jobd.conf,
 * checked there, kept across a restart; the hook job submitted when a job
 * of the queue ends so, into its own queue or the parent's, with the
 * JOBD_PARENT_* variables, the parent's labels under its own and hook_of;
 * hook jobs fire no hooks; and one hook job per end, also when jobd is
 * killed right after ends and started again.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"

Suite *hooks_suite(void);

#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

static void
ok_text(struct jd *d, const char *text)
{
	jd_call_ok(d, jd_json(text));
}

/* The jobs of queue (all states, ascending ids), as a new array. */
static json_t *
jobs_of(struct jd *d, const char *queue)
{
	json_t *r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "queue", queue,
			   "limit", 1000);
	json_t *jobs = json_incref(json_object_get(jd_ok(r), "jobs"));
	json_decref(r);
	ck_assert(json_is_array(jobs));
	return jobs;
}

/* How many jobs of queue have hook_of == parent. */
static int
hooks_for(const json_t *jobs, int64_t parent)
{
	size_t i;
	json_t *j;
	int n = 0;

	json_array_foreach (jobs, i, j) {
		json_t *h = json_object_get(j, "hook_of");
		n += json_is_integer(h) && json_integer_value(h) == parent;
	}
	return n;
}

/* Polls until queue holds n jobs (30 s); returns them (new ref). */
static json_t *
poll_count(struct jd *d, const char *queue, size_t n)
{
	double deadline = jd_now() + 30;
	for (;;) {
		json_t *jobs = jobs_of(d, queue);
		if (json_array_size(jobs) >= n || jd_now() > deadline)
			return jobs;
		json_decref(jobs);
		jd_pause_ms(20);
	}
}

START_TEST(hooks_fire_by_end)
{
	struct jd *d = start(NULL);
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"alerts\"}");
	jd_queue_cmd(d, "queue.pause", "alerts");
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"work\","
		   "\"labels\":{\"team\":\"ops\",\"tier\":\"q\"},"
		   "\"on_failure\":{\"shell\":\"true\",\"queue\":\"alerts\","
		   "\"name\":\"fail\",\"labels\":{\"tier\":\"hook\"}},"
		   "\"on_success\":{\"shell\":\"true\",\"queue\":\"alerts\","
		   "\"name\":\"ok\"},"
		   "\"on_finish\":{\"shell\":\"true\",\"queue\":\"alerts\","
		   "\"name\":\"fin\"}}");
	int64_t good =
		jd_submit_text(d, "{\"queue\":\"work\",\"shell\":\"exit 0\","
				  "\"labels\":{\"run\":\"1\"}}");
	int64_t bad = jd_submit_text(
		d, "{\"queue\":\"work\",\"shell\":\"exit 3\","
		   "\"max_attempts\":2,\"backoff\":{\"base\":0.01}}");
	int64_t gone = jd_submit_text(
		d, "{\"queue\":\"work\",\"shell\":\"true\",\"delay\":3600}");
	json_decref(jd_wait(d, good, 20));
	json_decref(jd_wait(d, bad, 20));
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)gone);
	json_decref(jd_ok(r));
	json_decref(r);
	/* good: on_success and on_finish; bad (after its retry): on_failure
	 * and on_finish; gone (cancelled): on_finish. */
	json_t *jobs = poll_count(d, "alerts", 5);
	ck_assert_int_eq(json_array_size(jobs), 5);
	ck_assert_int_eq(hooks_for(jobs, good), 2);
	ck_assert_int_eq(hooks_for(jobs, bad), 2);
	ck_assert_int_eq(hooks_for(jobs, gone), 1);
	size_t i;
	json_t *j;
	json_array_foreach (jobs, i, j) {
		int64_t p = jd_num(j, "hook_of");
		const char *name = jd_str(j, "name");
		ck_assert_str_eq(jd_str(j, "state"), "queued");
		if (p == good)
			ck_assert_msg(strcmp(name, "ok") == 0 ||
					      strcmp(name, "fin") == 0,
				      "%s", name);
		else if (p == bad)
			ck_assert_msg(strcmp(name, "fail") == 0 ||
					      strcmp(name, "fin") == 0,
				      "%s", name);
		else
			ck_assert_str_eq(name, "fin");
		if (strcmp(name, "fail") == 0) {
			/* The parent's labels (its queue's too) under the
			 * template's own. */
			char *t = json_dumps(json_object_get(j, "labels"),
					     JSON_COMPACT | JSON_SORT_KEYS);
			ck_assert_str_eq(
				t, "{\"team\":\"ops\",\"tier\":\"hook\"}");
			free(t);
		}
		if (p == good) {
			json_t *l = json_object_get(j, "labels");
			ck_assert_str_eq(jd_str(l, "run"), "1");
		}
	}
	json_decref(jobs);
	/* Nothing else fired: a parent's end is no longer pending. */
	jd_pause_ms(200);
	jobs = jobs_of(d, "alerts");
	ck_assert_int_eq(json_array_size(jobs), 5);
	json_decref(jobs);
}
END_TEST

START_TEST(hooks_env_and_own_queue)
{
	struct jd *d = start(NULL);
	char *out = jd_path(d, "env.out");
	char spec[2048];
	/* The template names no queue: the hook runs in the parent's. */
	snprintf(spec, sizeof(spec),
		 "{\"cmd\":\"queue.create\",\"name\":\"work\","
		 "\"on_failure\":{\"shell\":\"echo "
		 "\\\"$JOBD_PARENT_ID $JOBD_PARENT_STATE $JOBD_PARENT_REASON "
		 "[$JOBD_PARENT_EXIT_CODE] $MINE\\\" >> %s\","
		 "\"env\":{\"MINE\":\"x\",\"JOBD_PARENT_ID\":\"forged\"}}}",
		 out);
	ok_text(d, spec);
	int64_t bad =
		jd_submit_text(d, "{\"queue\":\"work\",\"shell\":\"exit 7\"}");
	json_decref(jd_wait(d, bad, 20));
	json_t *jobs = poll_count(d, "work", 2);
	ck_assert_int_eq(json_array_size(jobs), 2);
	int64_t hook = jd_num(json_array_get(jobs, 1), "id");
	ck_assert_int_eq(jd_num(json_array_get(jobs, 1), "hook_of"), bad);
	ck_assert(json_is_null(
		json_object_get(json_array_get(jobs, 0), "hook_of")));
	json_decref(jobs);
	json_t *hj = jd_wait(d, hook, 20);
	ck_assert_str_eq(jd_str(hj, "state"), "succeeded");
	json_decref(hj);
	char *text = jd_slurp(out), want[128];
	snprintf(want, sizeof(want), "%lld failed exit [7] x\n",
		 (long long)bad);
	ck_assert_str_eq(text, want);
	free(text);

	/* A hook job that fails fires no hook of its own queue. */
	char spec2[1024];
	snprintf(spec2, sizeof(spec2),
		 "{\"cmd\":\"queue.update\",\"name\":\"work\","
		 "\"on_finish\":{\"shell\":\"exit 1\"},"
		 "\"on_failure\":null}");
	ok_text(d, spec2);
	int64_t ok =
		jd_submit_text(d, "{\"queue\":\"work\",\"shell\":\"true\"}");
	json_decref(jd_wait(d, ok, 20));
	jobs = poll_count(d, "work", 4);
	ck_assert_int_eq(json_array_size(jobs), 4);
	int64_t h2 = jd_num(json_array_get(jobs, 3), "id");
	ck_assert_int_eq(jd_num(json_array_get(jobs, 3), "hook_of"), ok);
	json_decref(jobs);
	hj = jd_wait(d, h2, 20);
	ck_assert_str_eq(jd_str(hj, "state"), "failed");
	json_decref(hj);
	jd_pause_ms(300);
	jobs = jobs_of(d, "work");
	ck_assert_int_eq(json_array_size(jobs), 4);
	json_decref(jobs);
	free(out);
}
END_TEST

/* The request text must be refused invalid_argument naming field. */
static void
refused(struct jd *d, const char *text, const char *field)
{
	json_t *r = jd_call(d, jd_json(text));
	ck_assert_msg(strcmp(jd_err(r), "invalid_argument") == 0,
		      "%s: got \"%s\"", text, jd_err(r));
	ck_assert_msg(strncmp(jd_err_msg(r), field, strlen(field)) == 0,
		      "%s: message \"%s\" does not name %s", text,
		      jd_err_msg(r), field);
	json_decref(r);
}

START_TEST(hooks_checked_and_kept)
{
	struct jd *d = start("[queue work]\n"
			     "on_success = {\"argv\": [\"true\"], "
			     "\"priority\": 5}\n");
	refused(d,
		"{\"cmd\":\"queue.update\",\"name\":\"work\","
		"\"on_failure\":{\"priority\":5000,\"shell\":\"x\"}}",
		"on_failure");
	refused(d,
		"{\"cmd\":\"queue.update\",\"name\":\"work\","
		"\"on_finish\":\"echo\"}",
		"on_finish");
	refused(d,
		"{\"cmd\":\"queue.create\",\"name\":\"q2\","
		"\"on_success\":{\"name\":\"no command\"}}",
		"on_success");
	json_t *q = jd_queue_get(d, "work", NULL);
	ck_assert_int_eq(jd_num(json_object_get(q, "on_success"), "priority"),
			 5);
	ck_assert(json_is_null(json_object_get(q, "on_failure")));
	json_decref(q);
	ok_text(d, "{\"cmd\":\"queue.update\",\"name\":\"work\","
		   "\"on_failure\":{\"shell\":\"echo hi\"}}");
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	q = jd_queue_get(d, "work", NULL);
	ck_assert_str_eq(jd_str(json_object_get(q, "on_failure"), "shell"),
			 "echo hi");
	ck_assert_int_eq(jd_num(json_object_get(q, "on_success"), "priority"),
			 5);
	json_decref(q);
	const char *err;
	ck_assert_ptr_null(jd_queue_get(d, "q2", &err));
	ck_assert_str_eq(err, "unknown_queue");
}
END_TEST

/* A bad template in jobd.conf stops the start, naming the key. */
START_TEST(hooks_bad_config)
{
	struct jd d;
	jd_init(&d, BASE_CONF "[queue work]\non_failure = {\"shell\": 5}\n");
	const char *args[] = {"-c", d.conf, "--check-config", NULL};
	char *errpath = jd_path(&d, "check.err");
	int st = jd_run_jobd(args, errpath, 30);
	char *err = jd_slurp(errpath);
	ck_assert_int_eq(st, 78);
	ck_assert_msg(err != NULL && strstr(err, "on_failure") != NULL, "%s",
		      err ? err : "");
	free(err);
	free(errpath);
	jd_free(&d);
}
END_TEST

/* jobctl queue set --on-finish, and a running job cancelled: its hook
 * fires at the cancel, once, and not again when its process is reaped. */
START_TEST(hooks_cli_and_cancel_running)
{
	struct jd *d = start("[queue alerts]\n");
	jd_queue_cmd(d, "queue.pause", "alerts");
	char *out = NULL;
	int st = jd_jobctl(d, NULL, &out, NULL, "queue", "add", "work",
			   "--on-finish",
			   "{\"shell\":\"true\",\"queue\":\"alerts\"}", NULL);
	ck_assert_msg(st == 0, "%s", out ? out : "");
	free(out);
	st = jd_jobctl(d, NULL, NULL, NULL, "queue", "set", "work",
		       "--on-failure", "[1]", NULL);
	ck_assert_int_eq(st, 2);
	json_t *q = jd_queue_get(d, "work", NULL);
	ck_assert_str_eq(jd_str(json_object_get(q, "on_finish"), "queue"),
			 "alerts");
	json_decref(q);
	int64_t id = jd_submit_text(
		d, "{\"queue\":\"work\",\"shell\":\"sleep 30\"}");
	ck_assert(jd_poll_state(d, id, "running", 20));
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)id);
	json_decref(jd_ok(r));
	json_decref(r);
	json_t *jobs = poll_count(d, "alerts", 1);
	ck_assert_int_eq(hooks_for(jobs, id), 1);
	json_decref(jobs);
	/* The attempt's end is recorded once its process is gone. */
	double deadline = jd_now() + 20;
	for (;;) {
		json_t *j = jd_get(d, id);
		bool done = !json_is_null(json_object_get(j, "duration"));
		json_decref(j);
		if (done || jd_now() > deadline)
			break;
		jd_pause_ms(20);
	}
	jd_pause_ms(200);
	jobs = jobs_of(d, "alerts");
	ck_assert_int_eq(json_array_size(jobs), 1);
	json_t *hook = json_array_get(jobs, 0);
	ck_assert_int_eq(jd_num(hook, "hook_of"), id);
	json_decref(jobs);
	st = jd_jobctl(d, NULL, NULL, NULL, "queue", "set", "work",
		       "--on-finish", "none", NULL);
	ck_assert_int_eq(st, 0);
	q = jd_queue_get(d, "work", NULL);
	ck_assert(json_is_null(json_object_get(q, "on_finish")));
	json_decref(q);
}
END_TEST

/* jobd killed between inserting a parent's hook job and committing it
 * with the parent's end (JOBD_TEST_HOOK_CRASH): both are lost together,
 * the parent runs again after the start, and ends with one hook job. */
START_TEST(hooks_crash_before_commit)
{
	struct jd *d;
	const char *args[] = {"--debug", NULL};
	char conf[256];
	snprintf(conf, sizeof(conf),
		 "[queue work]\n"
		 "on_failure = {\"shell\": \"true\", \"queue\": \"alerts\"}\n"
		 "[queue alerts]\n");
	/* Started again once its directory is known, with the fault. */
	d = jd_test_start(&D, BASE_CONF, conf, args);
	char *crash = jd_path(d, "crash");
	setenv("JOBD_TEST_HOOK_CRASH", crash, 1);
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, args);
	jd_queue_cmd(d, "queue.pause", "alerts");
	jd_write_file(crash, "");
	int64_t id =
		jd_submit_text(d, "{\"queue\":\"work\",\"shell\":\"exit 3\"}");
	double deadline = jd_now() + 30;
	while (jd_alive(d) && jd_now() < deadline)
		jd_pause_ms(10);
	ck_assert_msg(!jd_alive(d), "jobd did not crash at the hook");
	ck_assert(!jd_exists(crash));
	unsetenv("JOBD_TEST_HOOK_CRASH");
	jd_start(d, NULL);
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	/* Its first end was not kept: it ran again. */
	ck_assert_int_eq(jd_num(j, "recoveries"), 1);
	json_decref(j);
	json_t *jobs = poll_count(d, "alerts", 1);
	jd_pause_ms(200);
	json_decref(jobs);
	jobs = jobs_of(d, "alerts");
	ck_assert_int_eq(json_array_size(jobs), 1);
	ck_assert_int_eq(hooks_for(jobs, id), 1);
	json_decref(jobs);
	free(crash);
}
END_TEST

/* Parents end while jobd is killed, again and again: after each start,
 * every parent that ended has exactly one hook job, none twice. */
START_TEST(hooks_once_across_kill)
{
	struct jd *d = start("[queue work]\nconcurrency = 4\n"
			     "on_failure = {\"shell\": \"true\", "
			     "\"queue\": \"alerts\"}\n"
			     "[queue alerts]\n");
	jd_queue_cmd(d, "queue.pause", "alerts");
	enum { N = 24 };
	int64_t ids[N];
	for (int i = 0; i < N; i++) {
		char spec[128];
		snprintf(spec, sizeof(spec),
			 "{\"queue\":\"work\",\"shell\":\"sleep 0.0%d; "
			 "exit 3\"}",
			 i % 10);
		ids[i] = jd_submit_text(d, spec);
	}
	for (int round = 0; round < 3; round++) {
		/* Kill right after one more parent is reported ended. */
		int64_t seen = -1;
		double deadline = jd_now() + 30;
		while (seen < 0 && jd_now() < deadline) {
			for (int i = 0; i < N && seen < 0; i++) {
				json_t *j = jd_get(d, ids[i]);
				if (strcmp(jd_str(j, "state"), "failed") == 0 &&
				    round * 6 <= i)
					seen = ids[i];
				json_decref(j);
			}
		}
		jd_kill9(d);
		jd_start(d, NULL);
		/* What a wait reported as ended stays so, with its hook. */
		if (seen > 0) {
			json_t *jobs = jobs_of(d, "alerts");
			ck_assert_int_eq(hooks_for(jobs, seen), 1);
			json_decref(jobs);
		}
	}
	/* A job running at every kill fails at the start for
	 * recovery_limit, which fires no hook: each other one has one. */
	int want[N], total = 0;
	for (int i = 0; i < N; i++) {
		json_t *j = jd_wait(d, ids[i], 30);
		ck_assert_str_eq(jd_str(j, "state"), "failed");
		want[i] = strcmp(jd_str(j, "reason"), "recovery_limit") != 0;
		total += want[i];
		json_decref(j);
	}
	ck_assert_int_ge(total, N - 4);
	json_t *jobs = poll_count(d, "alerts", (size_t)total);
	jd_pause_ms(200);
	json_decref(jobs);
	jobs = jobs_of(d, "alerts");
	ck_assert_int_eq(json_array_size(jobs), total);
	for (int i = 0; i < N; i++)
		ck_assert_msg(hooks_for(jobs, ids[i]) == want[i],
			      "job %lld: %d hook jobs", (long long)ids[i],
			      hooks_for(jobs, ids[i]));
	json_decref(jobs);
}
END_TEST

Suite *
hooks_suite(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc = tcase_create("hooks");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hooks_fire_by_end);
	tcase_add_test(tc, hooks_env_and_own_queue);
	tcase_add_test(tc, hooks_checked_and_kept);
	tcase_add_test(tc, hooks_bad_config);
	tcase_add_test(tc, hooks_cli_and_cancel_running);
	tcase_add_test(tc, hooks_once_across_kill);
	tcase_add_test(tc, hooks_crash_before_commit);
	suite_add_tcase(s, tc);
	return s;
}
