/*
 * rlimits_suite: a job's resource limits (SPEC 2.1 `limits`) without
 * cgroups (cgroups = off): memory, nofile and cpu_time applied with setrlimit and observed
 * inside the job; cpu and tasks refused, naming the cgroup controller
 * each needs; a queue's defaults merged under the job's own keys; jobctl's
 * flags, for submit, queue set and a producer's job template.  Every wait has a deadline.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"

Suite *rlimits_suite(void);

#define BASE_CONF                                                           \
	"; rlimits_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"cgroups = off\n"                                                   \
	"[queue capped]\nlimit_memory = 512M\nlimit_nofile = 64\n"

/* A command that needs 128 MiB of address space: dd's buffer. */
#define BIG_AS "exec dd if=/dev/zero of=/dev/null bs=128M count=1"

/* The one daemon of the current test. */
static struct jd D;

/* The captured output of job id (caller frees). */
static char *
job_output(struct jd *d, int64_t id)
{
	json_t *r = jd_call(d, json_pack("{s:s,s:I}", "cmd", "logs", "job_id",
					 (json_int_t)id));
	char *s = strdup(jd_str(jd_ok(r), "data"));
	json_decref(r);
	return s;
}

/* The job's limits key, or -1 when absent. */
static json_int_t
limit_of(const json_t *job, const char *key)
{
	const json_t *l = json_object_get(job, "limits");
	ck_assert_msg(json_is_object(l), "job has no limits object");
	const json_t *v = json_object_get(l, key);
	return v ? json_integer_value(v) : -1;
}

START_TEST(rlimits_nofile_seen)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t id = jd_submit(
		d, jd_json("{\"shell\":\"ulimit -n\",\"limits\":{\"nofile\":"
			   "37}}"));
	json_t *j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(limit_of(j, "nofile"), 37);
	char *out = job_output(d, id);
	ck_assert_str_eq(out, "37\n");
	free(out);
	json_decref(j);
}
END_TEST

START_TEST(rlimits_cpu_time_kills)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	double t0 = jd_now();
	int64_t id = jd_submit(
		d, jd_json("{\"argv\":[\"sh\",\"-c\",\"while :; do :; done\"],"
			   "\"limits\":{\"cpu_time\":1}}"));
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "signal");
	json_int_t sig = jd_num(j, "signal");
	ck_assert_msg(sig == 24 || sig == 9, "ended by signal %lld",
		      (long long)sig);
	/* One CPU second, plus the load of a shared machine. */
	ck_assert_msg(jd_now() - t0 < 20, "took %.1f s", jd_now() - t0);
	json_decref(j);
}
END_TEST

START_TEST(rlimits_memory_refuses_allocation)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	json_t *spec = json_pack("{s:[s,s,s]}", "argv", "sh", "-c", BIG_AS);
	/* Without the limit the command succeeds... */
	int64_t free_id = jd_submit(d, json_deep_copy(spec));
	/* ...and under 64 MiB of address space it fails. */
	json_object_set_new(spec, "limits",
			    json_pack("{s:I}", "memory", (json_int_t)64 << 20));
	int64_t id = jd_submit(d, spec);
	json_t *j = jd_wait(d, free_id, 60);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	j = jd_wait(d, id, 60);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_int_eq(limit_of(j, "memory"), (json_int_t)64 << 20);
	json_t *ec = json_object_get(j, "exit_code");
	ck_assert_msg(json_is_integer(ec) && json_integer_value(ec) != 0,
		      "no nonzero exit code");
	json_decref(j);
}
END_TEST

START_TEST(rlimits_setrlimit_failure_is_spawn_error)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	/* More descriptors than the kernel allows anyone (fs.nr_open is at
	 * most 2^30): setrlimit fails, and so does the spawn. */
	int64_t id = jd_submit(
		d, jd_json("{\"shell\":\"true\",\"limits\":{\"nofile\":"
			   "1099511627776}}"));
	json_t *j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "spawn_error");
	ck_assert_msg(strstr(jd_str(j, "error"), "limits.nofile: setrlimit") !=
			      NULL,
		      "error: %s", jd_str(j, "error"));
	json_decref(j);
}
END_TEST

/* The error of submitting spec text, which must be refused. */
static void
refused(struct jd *d, const char *spec, const char *want)
{
	json_t *r =
		jd_req(d, "{s:s,s:o}", "cmd", "submit", "job", jd_json(spec));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), want) != NULL, "message: %s",
		      jd_err_msg(r));
	json_decref(r);
}

START_TEST(rlimits_cgroup_keys_refused)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	refused(d, "{\"shell\":\"true\",\"limits\":{\"cpu\":0.5}}",
		"limits.cpu: needs the cgroup v2 cpu controller");
	refused(d, "{\"shell\":\"true\",\"limits\":{\"tasks\":10}}",
		"limits.tasks: needs the cgroup v2 pids controller");
	refused(d, "{\"shell\":\"true\",\"limits\":{\"swap\":1}}",
		"limits.swap: unknown key");
	refused(d, "{\"shell\":\"true\",\"limits\":{\"nofile\":0}}",
		"limits.nofile:");
	json_t *r = jd_req(d, "{s:s,s:s,s:{s:f}}", "cmd", "queue.create",
			   "name", "q", "limits", "cpu", 0.5);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_ptr_nonnull(strstr(jd_err_msg(r), "cpu controller"));
	json_decref(r);
	/* The config key too: jobd refuses to start with it (exit 78). */
	char *errpath = jd_path(d, "cpu.err");
	char *conf = jd_path(d, "cpu.conf");
	char *sock = jd_path(d, "cpu.sock");
	char *state = jd_path(d, "cpu.state");
	char text[3 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nstate_dir = %s\ncgroups = off\n"
		 "[queue q]\nlimit_cpu = 0.5\n",
		 sock, state);
	jd_write_file(conf, text);
	const char *args[] = {"-c", conf, NULL};
	ck_assert_int_eq(jd_run_jobd(args, errpath, 20), 78);
	free(sock);
	free(state);
	char *err = jd_slurp(errpath);
	ck_assert_msg(strstr(err, "limit_cpu: needs the cgroup v2 cpu") != NULL,
		      "stderr: %s", err);
	free(err);
	free(conf);
	free(errpath);
}
END_TEST

START_TEST(rlimits_queue_defaults)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	/* The config's defaults, key by key under the job's own. */
	int64_t id = jd_submit(
		d, jd_json("{\"shell\":\"ulimit -n\",\"queue\":\"capped\","
			   "\"limits\":{\"nofile\":40}}"));
	json_t *j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(limit_of(j, "nofile"), 40);
	ck_assert_int_eq(limit_of(j, "memory"), 512 << 20);
	char *out = job_output(d, id);
	ck_assert_str_eq(out, "40\n");
	free(out);
	json_decref(j);
	json_t *q = jd_queue_get(d, "capped", NULL);
	ck_assert_int_eq(limit_of(q, "nofile"), 64);
	json_decref(q);
	/* queue.update replaces the queue's limits; new jobs take them. */
	jd_call_ok(d, json_pack("{s:s,s:s,s:{s:i,s:i}}", "cmd", "queue.update",
				"name", "capped", "limits", "nofile", 50,
				"cpu_time", 100));
	id = jd_submit(d, jd_json("{\"shell\":\"ulimit -n\",\"queue\":"
				  "\"capped\",\"limits\":{\"cpu_time\":7}}"));
	j = jd_wait(d, id, 20);
	ck_assert_int_eq(limit_of(j, "nofile"), 50);
	ck_assert_int_eq(limit_of(j, "cpu_time"), 7);
	ck_assert_int_eq(limit_of(j, "memory"), -1);
	json_decref(j);
	/* A job without limits in a queue without them: {}. */
	id = jd_submit(d, jd_json("{\"shell\":\"true\"}"));
	j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(json_object_size(json_object_get(j, "limits")), 0);
	json_decref(j);
}
END_TEST

START_TEST(rlimits_jobctl_flags)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "submit", "--memory", "512M",
			   "--nofile", "100", "--cpu-time", "1m", "--", "true",
			   NULL);
	ck_assert_msg(rc == 0, "jobctl submit: %s", err);
	int64_t id = strtoll(out, NULL, 10);
	free(out);
	free(err);
	json_t *j = jd_wait(d, id, 20);
	ck_assert_int_eq(limit_of(j, "memory"), 536870912);
	ck_assert_int_eq(limit_of(j, "nofile"), 100);
	ck_assert_int_eq(limit_of(j, "cpu_time"), 60);
	json_decref(j);
	/* queue set changes the keys given and keeps the others. */
	rc = jd_jobctl(d, NULL, &out, &err, "queue", "set", "capped",
		       "--nofile", "77", NULL);
	ck_assert_msg(rc == 0, "jobctl queue set: %s", err);
	free(out);
	free(err);
	json_t *q = jd_queue_get(d, "capped", NULL);
	ck_assert_int_eq(limit_of(q, "nofile"), 77);
	ck_assert_int_eq(limit_of(q, "memory"), 512 << 20);
	json_decref(q);
	rc = jd_jobctl(d, NULL, &out, &err, "get", "1", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "limits") && strstr(out, "536870912"),
		      "get shows no limits:\n%s", out);
	free(out);
	free(err);
	rc = jd_jobctl(d, NULL, &out, &err, "submit", "--cpu", "0.5", "--",
		       "true", NULL);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err, "cpu controller") != NULL, "stderr: %s", err);
	free(out);
	free(err);
}
END_TEST

/* The first job of queue name, polled for until timeout_s (new ref), or
 * NULL when none came. */
static json_t *
poll_first_job(struct jd *d, const char *name, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		json_t *r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "queue",
				   name, "limit", 1);
		json_t *j =
			json_array_get(json_object_get(jd_ok(r), "jobs"), 0);
		json_incref(j);
		json_decref(r);
		if (j != NULL)
			return j;
		jd_pause_ms(20);
	}
	return NULL;
}

/* producer add takes submit's limit flags into its job template, over
 * --job's limits key by key whatever their order; the jobs it makes carry
 * them, beating their queue's, and run under them. */
START_TEST(rlimits_producer_flags)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "producer", "add", "lim",
			   "--type", "interval", "--every", "0.3", "-q",
			   "capped", "--nofile", "41", "--job",
			   "{\"limits\":{\"nofile\":10,\"memory\":268435456}}",
			   "--cpu-time", "1m", "-c", "ulimit -n", NULL);
	ck_assert_msg(rc == 0, "jobctl producer add: %s", err);
	free(out);
	free(err);
	json_t *want = jd_json("{\"nofile\":41,\"memory\":268435456,"
			       "\"cpu_time\":60}");
	json_t *r =
		jd_req(d, "{s:s,s:s}", "cmd", "producer.get", "name", "lim");
	json_t *got = json_object_get(
		json_object_get(json_object_get(jd_ok(r), "producer"), "job"),
		"limits");
	char *gs = json_dumps(got, JSON_ENCODE_ANY);
	ck_assert_msg(json_equal(got, want), "template limits: %s", gs);
	free(gs);
	json_decref(r);

	json_t *j = poll_first_job(d, "capped", 10);
	ck_assert_msg(j != NULL, "the producer made no job");
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "producer.pause", "name",
				"lim"));
	int64_t id = jd_num(j, "id");
	json_decref(j);
	j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	gs = json_dumps(json_object_get(j, "limits"), JSON_ENCODE_ANY);
	ck_assert_msg(json_equal(json_object_get(j, "limits"), want),
		      "job limits: %s", gs);
	free(gs);
	json_decref(j);
	out = job_output(d, id);
	ck_assert_str_eq(out, "41\n");
	free(out);
	json_decref(want);

	/* The cgroup keys are refused as for submit. */
	rc = jd_jobctl(d, NULL, &out, &err, "producer", "add", "cg", "--type",
		       "interval", "--every", "1h", "--tasks", "5", "--",
		       "true", NULL);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err, "pids controller") != NULL, "stderr: %s",
		      err);
	free(out);
	free(err);
}
END_TEST

Suite *
rlimits_suite(void)
{
	Suite *s = suite_create("rlimits");
	TCase *tc = tcase_create("rlimits");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rlimits_nofile_seen);
	tcase_add_test(tc, rlimits_cpu_time_kills);
	tcase_add_test(tc, rlimits_memory_refuses_allocation);
	tcase_add_test(tc, rlimits_setrlimit_failure_is_spawn_error);
	tcase_add_test(tc, rlimits_cgroup_keys_refused);
	tcase_add_test(tc, rlimits_queue_defaults);
	tcase_add_test(tc, rlimits_jobctl_flags);
	tcase_add_test(tc, rlimits_producer_flags);
	suite_add_tcase(s, tc);
	return s;
}
