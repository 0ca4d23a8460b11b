/*
 * Tests of jobspec: defaults, every field accepted and refused, the field
 * name leading every message, ownership (destroy twice), and overlay.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobspec.h"

Suite *jobspec_suite(void);

/* Parses JSON text (test input, must be valid JSON). */
static json_t *
j(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, err.text);
	return v;
}

/* Parses text into s (jobspec_init'ed here); returns jobspec_parse's
 * result. */
static int
parse(const char *text, struct jobspec *s)
{
	json_t *o = j(text);
	int r;

	jobspec_init(s);
	r = jobspec_parse(o, s);
	json_decref(o);
	return r;
}

START_TEST(jobspec_defaults)
{
	struct jobspec s;

	ck_assert_int_eq(parse("{\"argv\":[\"true\"]}", &s), 0);
	ck_assert_str_eq(s.queue, "default");
	ck_assert_str_eq(s.cwd, "/");
	ck_assert_ptr_null(s.shell);
	ck_assert_ptr_null(s.name);
	ck_assert_ptr_null(s.env);
	ck_assert_ptr_null(s.unique_key);
	ck_assert_ptr_null(s.user);
	ck_assert_int_eq(s.priority, 0);
	ck_assert(!s.has_delay);
	ck_assert(!s.has_run_at);
	ck_assert(s.timeout < 0);
	ck_assert(s.kill_grace < 0);
	ck_assert_int_eq(s.max_attempts, 0);
	ck_assert(isnan(s.backoff.base) && isnan(s.backoff.factor) &&
		  isnan(s.backoff.max) && isnan(s.backoff.jitter));
	ck_assert_uint_eq(s.ndeps, 0);
	ck_assert_int_eq(s.output, JOBSPEC_OUTPUT_CAPTURE);
	ck_assert_int_eq(json_array_size(s.argv), 1);
	jobspec_destroy(&s);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_all_fields)
{
	struct jobspec s;

	ck_assert_int_eq(
		parse("{\"argv\":[\"/bin/"
		      "echo\",\"a\",\"\"],\"queue\":\"q.1-x_Y\","
		      "\"name\":\"nightly\",\"cwd\":\"/tmp\","
		      "\"env\":{\"A\":\"1\",\"PATH\":\"/bin\"},"
		      "\"priority\":-1000,\"run_at\":\"1970-01-01T00:00:01Z\","
		      "\"timeout\":1.5,\"kill_grace\":0,\"max_attempts\":1000,"
		      "\"backoff\":{\"base\":2,\"factor\":3,\"max\":60,"
		      "\"jitter\":0},\"depends_on\":[3,1,3,2,1],"
		      "\"unique_key\":\"k\",\"output\":\"discard\","
		      "\"user\":\"nobody\"}",
		      &s),
		0);
	ck_assert_int_eq(json_array_size(s.argv), 3);
	ck_assert_str_eq(json_string_value(json_array_get(s.argv, 1)), "a");
	ck_assert_str_eq(s.queue, "q.1-x_Y");
	ck_assert_str_eq(s.name, "nightly");
	ck_assert_str_eq(s.cwd, "/tmp");
	ck_assert_str_eq(json_string_value(json_object_get(s.env, "PATH")),
			 "/bin");
	ck_assert_int_eq(s.priority, -1000);
	ck_assert(s.has_run_at);
	ck_assert_int_eq(s.run_at_ms, 1000);
	ck_assert_double_eq(s.timeout, 1.5);
	ck_assert_double_eq(s.kill_grace, 0);
	ck_assert_int_eq(s.max_attempts, 1000);
	ck_assert_double_eq(s.backoff.base, 2);
	ck_assert_double_eq(s.backoff.factor, 3);
	ck_assert_double_eq(s.backoff.max, 60);
	ck_assert_double_eq(s.backoff.jitter, 0);
	/* Duplicates removed, first order kept. */
	ck_assert_uint_eq(s.ndeps, 3);
	ck_assert_int_eq(s.depends_on[0], 3);
	ck_assert_int_eq(s.depends_on[1], 1);
	ck_assert_int_eq(s.depends_on[2], 2);
	ck_assert_str_eq(s.unique_key, "k");
	ck_assert_int_eq(s.output, JOBSPEC_OUTPUT_DISCARD);
	ck_assert_str_eq(s.user, "nobody");
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_shell_and_delay)
{
	struct jobspec s;

	ck_assert_int_eq(parse("{\"shell\":\"echo hi | wc\",\"delay\":30,"
			       "\"priority\":1000,\"output\":\"capture\"}",
			       &s),
			 0);
	ck_assert_ptr_null(s.argv);
	ck_assert_str_eq(s.shell, "echo hi | wc");
	ck_assert(s.has_delay);
	ck_assert_double_eq(s.delay, 30);
	ck_assert(!s.has_run_at);
	ck_assert_int_eq(s.priority, 1000);
	ck_assert_int_eq(s.output, JOBSPEC_OUTPUT_CAPTURE);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_nulls_are_not_given)
{
	struct jobspec s;

	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"shell\":null,"
			       "\"queue\":null,\"name\":null,\"cwd\":null,"
			       "\"env\":null,\"priority\":null,\"delay\":null,"
			       "\"run_at\":null,\"timeout\":null,"
			       "\"kill_grace\":null,\"max_attempts\":null,"
			       "\"backoff\":null,\"depends_on\":null,"
			       "\"unique_key\":null,\"output\":null,"
			       "\"user\":null}",
			       &s),
			 0);
	ck_assert_str_eq(s.queue, "default");
	ck_assert_str_eq(s.cwd, "/");
	ck_assert(s.timeout < 0);
	ck_assert(!s.has_delay && !s.has_run_at);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_partial_backoff)
{
	struct jobspec s;

	ck_assert_int_eq(
		parse("{\"argv\":[\"x\"],\"backoff\":{\"max\":10}}", &s), 0);
	ck_assert_double_eq(s.backoff.max, 10);
	ck_assert(isnan(s.backoff.base));
	ck_assert(isnan(s.backoff.factor));
	ck_assert(isnan(s.backoff.jitter));
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_edges_accepted)
{
	static const char *const ok[] = {
		"{\"argv\":[\"x\"],\"priority\":-1000}",
		"{\"argv\":[\"x\"],\"max_attempts\":1}",
		"{\"argv\":[\"x\"],\"delay\":0}",
		"{\"argv\":[\"x\"],\"delay\":315360000}",
		"{\"argv\":[\"x\"],\"name\":\"\"}",
		"{\"argv\":[\"x\"],\"env\":{}}",
		"{\"argv\":[\"x\"],\"depends_on\":[]}",
		"{\"argv\":[\"x\"],\"run_at\":\"2026-11-26T10:34:12+01:00\"}",
		"{\"argv\":[\"x\"],\"queue\":"
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa\"}",
	};
	struct jobspec s;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(parse(ok[i], &s) == 0, "%s: %s", ok[i],
			      diag_msg());
		jobspec_destroy(&s);
	}
}
END_TEST

static const struct {
	const char *json;
	const char *prefix;
} bad_specs[] = {
	{"{}", "argv: one of argv or shell is required"},
	{"{\"argv\":null,\"shell\":null}", "argv: one of argv or shell"},
	{"{\"argv\":[\"x\"],\"shell\":\"y\"}", "shell: not with argv"},
	{"{\"argv\":[]}", "argv: "},
	{"{\"argv\":\"ls\"}", "argv: "},
	{"{\"argv\":[\"ls\",1]}", "argv: "},
	{"{\"argv\":[\"\"]}", "argv: "},
	{"{\"argv\":[\"a\\u0000b\"]}", "argv: "},
	{"{\"shell\":\"\"}", "shell: "},
	{"{\"shell\":5}", "shell: "},
	{"{\"shell\":\"a\\u0000b\"}", "shell: "},
	{"{\"argv\":[\"x\"],\"queue\":\"\"}", "queue: "},
	{"{\"argv\":[\"x\"],\"queue\":\"a b\"}", "queue: "},
	{"{\"argv\":[\"x\"],\"queue\":\"a/b\"}", "queue: "},
	{"{\"argv\":[\"x\"],\"queue\":7}", "queue: "},
	{"{\"argv\":[\"x\"],\"queue\":"
	 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""
	 "}",
	 "queue: "},
	{"{\"argv\":[\"x\"],\"name\":5}", "name: "},
	{"{\"argv\":[\"x\"],\"cwd\":\"tmp\"}", "cwd: "},
	{"{\"argv\":[\"x\"],\"cwd\":\"\"}", "cwd: "},
	{"{\"argv\":[\"x\"],\"cwd\":[\"/\"]}", "cwd: "},
	{"{\"argv\":[\"x\"],\"env\":[\"A=1\"]}", "env: "},
	{"{\"argv\":[\"x\"],\"env\":{\"A\":1}}", "env: "},
	{"{\"argv\":[\"x\"],\"env\":{\"\":\"1\"}}", "env: "},
	{"{\"argv\":[\"x\"],\"env\":{\"A=B\":\"1\"}}", "env: "},
	{"{\"argv\":[\"x\"],\"env\":{\"A\":\"1\\u00002\"}}", "env: "},
	{"{\"argv\":[\"x\"],\"priority\":1001}",
	 "priority: must be an integer from -1000 to 1000"},
	{"{\"argv\":[\"x\"],\"priority\":-1001}", "priority: "},
	{"{\"argv\":[\"x\"],\"priority\":1.0}", "priority: "},
	{"{\"argv\":[\"x\"],\"priority\":\"1\"}", "priority: "},
	{"{\"argv\":[\"x\"],\"priority\":true}", "priority: "},
	{"{\"argv\":[\"x\"],\"delay\":-1}", "delay: "},
	{"{\"argv\":[\"x\"],\"delay\":\"5m\"}", "delay: "},
	{"{\"argv\":[\"x\"],\"delay\":315360001}", "delay: "},
	{"{\"argv\":[\"x\"],\"delay\":1e308}", "delay: "},
	{"{\"argv\":[\"x\"],\"run_at\":\"tomorrow\"}", "run_at: "},
	{"{\"argv\":[\"x\"],\"run_at\":\"2026-02-30T00:00:00Z\"}", "run_at: "},
	{"{\"argv\":[\"x\"],\"run_at\":12345}", "run_at: "},
	{"{\"argv\":[\"x\"],\"delay\":1,"
	 "\"run_at\":\"2026-01-01T00:00:00Z\"}",
	 "run_at: not with delay"},
	{"{\"argv\":[\"x\"],\"timeout\":-0.5}", "timeout: "},
	{"{\"argv\":[\"x\"],\"timeout\":\"1\"}", "timeout: "},
	{"{\"argv\":[\"x\"],\"kill_grace\":-1}", "kill_grace: "},
	{"{\"argv\":[\"x\"],\"kill_grace\":400000000}", "kill_grace: "},
	{"{\"argv\":[\"x\"],\"max_attempts\":0}", "max_attempts: "},
	{"{\"argv\":[\"x\"],\"max_attempts\":1001}", "max_attempts: "},
	{"{\"argv\":[\"x\"],\"max_attempts\":2.5}", "max_attempts: "},
	{"{\"argv\":[\"x\"],\"backoff\":5}", "backoff: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"base\":-1}}", "backoff.base: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"factor\":0.5}}", "backoff.factor: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"max\":-1}}", "backoff.max: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"jitter\":2}}", "backoff.jitter: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"base\":\"1\"}}", "backoff.base: "},
	{"{\"argv\":[\"x\"],\"backoff\":{\"bse\":1}}",
	 "backoff.bse: unknown field"},
	{"{\"argv\":[\"x\"],\"depends_on\":5}", "depends_on: "},
	{"{\"argv\":[\"x\"],\"depends_on\":[0]}", "depends_on: "},
	{"{\"argv\":[\"x\"],\"depends_on\":[-3]}", "depends_on: "},
	{"{\"argv\":[\"x\"],\"depends_on\":[1.5]}", "depends_on: "},
	{"{\"argv\":[\"x\"],\"depends_on\":[\"1\"]}", "depends_on: "},
	{"{\"argv\":[\"x\"],\"after\":[\"@\"]}", "after: "},
	{"{\"argv\":[\"x\"],\"after\":[\"@1x\"]}", "after: "},
	{"{\"argv\":[\"x\"],\"after\":[\"@-1\"]}", "after: "},
	{"{\"argv\":[\"x\"],\"after\":[\"@ 1\"]}", "after: "},
	{"{\"argv\":[\"x\"],\"after\":[\"@1000001\"]}", "after: "},
	{"{\"argv\":[\"x\"],\"after_any\":5}", "after_any: "},
	{"{\"argv\":[\"x\"],\"after_failed\":[0]}", "after_failed: "},
	{"{\"argv\":[\"x\"],\"depends_on\":[1],\"after\":[2]}",
	 "after: only one of"},
	{"{\"argv\":[\"x\"],\"after_any\":[1],\"after_failed\":[]}",
	 "after_failed: only one of"},
	{"{\"argv\":[\"x\"],\"unique_key\":\"\"}", "unique_key: "},
	{"{\"argv\":[\"x\"],\"unique_key\":1}", "unique_key: "},
	{"{\"argv\":[\"x\"],\"output\":\"stdout\"}", "output: "},
	{"{\"argv\":[\"x\"],\"output\":1}", "output: "},
	{"{\"argv\":[\"x\"],\"user\":\"\"}", "user: "},
	{"{\"argv\":[\"x\"],\"user\":0}", "user: "},
	{"{\"argv\":[\"x\"],\"colour\":\"red\"}", "colour: unknown field"},
	{"{\"argv\":[\"x\"],\"id\":3}", "id: unknown field"},
	{"{\"argv\":[\"x\"],\"limits\":5}", "limits: must be an object"},
	{"{\"argv\":[\"x\"],\"limits\":{\"swap\":1}}",
	 "limits.swap: unknown key"},
	{"{\"argv\":[\"x\"],\"limits\":{\"memory\":0}}", "limits.memory: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"memory\":1.5}}", "limits.memory: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"memory\":\"512M\"}}",
	 "limits.memory: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"nofile\":0}}", "limits.nofile: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"tasks\":0}}", "limits.tasks: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"cpu\":0}}", "limits.cpu: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"cpu_time\":0}}", "limits.cpu_time: "},
	{"{\"argv\":[\"x\"],\"limits\":{\"cpu_time\":315360001}}",
	 "limits.cpu_time: "},
	{"{\"argv\":[\"x\"],\"linger\":1}", "linger: must be a boolean"},
	{"{\"argv\":[\"x\"],\"snooze_exit\":0}", "snooze_exit: "},
	{"{\"argv\":[\"x\"],\"snooze_exit\":256}", "snooze_exit: "},
	{"{\"argv\":[\"x\"],\"snooze_exit\":true}", "snooze_exit: "},
	{"{\"argv\":[\"x\"],\"snooze\":-0.5}", "snooze: "},
	{"{\"argv\":[\"x\"],\"max_snoozes\":1000001}", "max_snoozes: "},
	{"{\"argv\":[\"x\"],\"max_snoozes\":\"3\"}", "max_snoozes: "},
};

START_TEST(jobspec_rejects)
{
	struct jobspec s;

	diag_clear();
	ck_assert_msg(parse(bad_specs[_i].json, &s) == -1, "accepted %s",
		      bad_specs[_i].json);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_msg(strncmp(diag_msg(), bad_specs[_i].prefix,
			      strlen(bad_specs[_i].prefix)) == 0,
		      "%s: message \"%s\", want \"%s...\"", bad_specs[_i].json,
		      diag_msg(), bad_specs[_i].prefix);
	/* Whatever was filled before the error is freed (ASan checks). */
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_limits)
{
	struct jobspec s;
	json_t *o;

	ck_assert_int_eq(parse("{\"argv\":[\"x\"]}", &s), 0);
	ck_assert(joblimits_is_empty(&s.limits));
	jobspec_destroy(&s);
	ck_assert_msg(parse("{\"argv\":[\"x\"],\"limits\":{\"memory\":"
			    "536870912,\"nofile\":64,\"cpu_time\":1.5}}",
			    &s) == 0,
		      "%s", diag_msg());
	ck_assert_int_eq(s.limits.memory, 536870912);
	ck_assert_int_eq(s.limits.nofile, 64);
	ck_assert_double_eq(s.limits.cpu_time, 1.5);
	ck_assert_int_eq(s.limits.tasks, 0);
	ck_assert_double_eq(s.limits.cpu, 0);
	o = joblimits_to_json(&s.limits);
	ck_assert_int_eq(json_object_size(o), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "memory")),
			 536870912);
	ck_assert_double_eq(json_number_value(json_object_get(o, "cpu_time")),
			    1.5);
	json_decref(o);
	jobspec_destroy(&s);
	/* null and {} are none. */
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"limits\":null}", &s), 0);
	ck_assert(joblimits_is_empty(&s.limits));
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"limits\":{}}", &s), 0);
	ck_assert(joblimits_is_empty(&s.limits));
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_limits_merge_and_load)
{
	struct joblimits own = {.nofile = 10, .cpu_time = 2};
	struct joblimits queue = {.memory = 100, .nofile = 20};
	struct joblimits back;
	json_t *o;
	char *text;

	/* The job's keys beat the queue's, key by key. */
	joblimits_merge(&own, &queue);
	ck_assert_int_eq(own.memory, 100);
	ck_assert_int_eq(own.nofile, 10);
	ck_assert_double_eq(own.cpu_time, 2);
	/* The stored text reads back the same. */
	o = joblimits_to_json(&own);
	text = json_dumps(o, JSON_COMPACT);
	ck_assert_str_eq(text, "{\"memory\":100,\"nofile\":10,\"cpu_time\":2}");
	joblimits_load(text, &back);
	ck_assert_int_eq(back.memory, 100);
	ck_assert_int_eq(back.nofile, 10);
	ck_assert_double_eq(back.cpu_time, 2);
	free(text);
	json_decref(o);
	joblimits_load(NULL, &back);
	ck_assert(joblimits_is_empty(&back));
	joblimits_load("not json", &back);
	ck_assert(joblimits_is_empty(&back));
}
END_TEST

/* cpu and tasks parse anywhere; jobd refuses them where their cgroup
 * controller is missing, naming it. */
START_TEST(jobspec_limits_need_controllers)
{
	struct jobspec s;

	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"limits\":{\"cpu\":0.5,"
			       "\"tasks\":10,\"memory\":1000000}}",
			       &s),
			 0);
	ck_assert_double_eq(s.limits.cpu, 0.5);
	ck_assert_int_eq(s.limits.tasks, 10);
	diag_clear();
	ck_assert_int_eq(joblimits_check(&s.limits, 0, "limits."), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_str_eq(diag_msg(), "limits.cpu: needs the cgroup v2 cpu "
				     "controller, which jobd does not have "
				     "here");
	ck_assert_int_eq(
		joblimits_check(&s.limits, JOBLIMITS_HAVE_CPU, "limit_"), -1);
	ck_assert_str_eq(diag_msg(), "limit_tasks: needs the cgroup v2 pids "
				     "controller, which jobd does not have "
				     "here");
	ck_assert_int_eq(
		joblimits_check(&s.limits,
				JOBLIMITS_HAVE_CPU | JOBLIMITS_HAVE_PIDS,
				"limits."),
		0);
	/* memory falls back to RLIMIT_AS: never refused. */
	struct joblimits mem = {.memory = 1 << 20, .nofile = 5};
	ck_assert_int_eq(joblimits_check(&mem, 0, "limits."), 0);
	jobspec_destroy(&s);
	/* linger is a boolean, false unless given. */
	ck_assert_int_eq(parse("{\"argv\":[\"x\"]}", &s), 0);
	ck_assert(!s.linger);
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"linger\":true}", &s), 0);
	ck_assert(s.linger);
	jobspec_destroy(&s);
	/* Snooze fields: absent is the queue's; a null snooze_exit is off,
	 * a null snooze or max_snoozes the queue's. */
	ck_assert_int_eq(parse("{\"argv\":[\"x\"]}", &s), 0);
	ck_assert_int_eq(s.snooze_exit, JOBSPEC_SNOOZE_EXIT_UNSET);
	ck_assert(s.snooze < 0 && s.max_snoozes < 0);
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"snooze_exit\":null,"
			       "\"snooze\":null,\"max_snoozes\":null}",
			       &s),
			 0);
	ck_assert_int_eq(s.snooze_exit, JOBSPEC_SNOOZE_EXIT_OFF);
	ck_assert(s.snooze < 0 && s.max_snoozes < 0);
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"snooze_exit\":255,"
			       "\"snooze\":2.5,\"max_snoozes\":0}",
			       &s),
			 0);
	ck_assert_int_eq(s.snooze_exit, 255);
	ck_assert_double_eq(s.snooze, 2.5);
	ck_assert_int_eq(s.max_snoozes, 0);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_long_texts)
{
	char buf[1024], text[300];
	struct jobspec s;

	memset(text, 'n', sizeof(text));
	text[256] = '\0';
	snprintf(buf, sizeof(buf),
		 "{\"argv\":[\"x\"],\"name\":\"%s\","
		 "\"unique_key\":\"%s\"}",
		 text, text);
	ck_assert_int_eq(parse(buf, &s), 0);
	ck_assert_uint_eq(strlen(s.name), 256);
	jobspec_destroy(&s);
	text[256] = 'n';
	text[257] = '\0';
	snprintf(buf, sizeof(buf), "{\"argv\":[\"x\"],\"name\":\"%s\"}", text);
	ck_assert_int_eq(parse(buf, &s), -1);
	ck_assert_str_eq(diag_msg(), "name: must be at most 256 bytes");
	jobspec_destroy(&s);
	snprintf(buf, sizeof(buf), "{\"argv\":[\"x\"],\"unique_key\":\"%s\"}",
		 text);
	ck_assert_int_eq(parse(buf, &s), -1);
	ck_assert(strncmp(diag_msg(), "unique_key: ", 12) == 0);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_user_length)
{
	size_t n = 300000;
	char *name = malloc(n + 1);
	struct jobspec s;

	memset(name, 'u', n);
	name[256] = '\0';
	json_t *o = json_pack("{s:[s],s:s}", "argv", "x", "user", name);
	jobspec_init(&s);
	ck_assert_int_eq(jobspec_parse(o, &s), 0);
	ck_assert_uint_eq(strlen(s.user), 256);
	jobspec_destroy(&s);
	json_decref(o);
	name[256] = 'u';
	name[n] = '\0';
	o = json_pack("{s:[s],s:s}", "argv", "x", "user", name);
	jobspec_init(&s);
	diag_clear();
	ck_assert_int_eq(jobspec_parse(o, &s), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_str_eq(diag_msg(),
			 "user: must be a user name of 1 to 256 bytes");
	jobspec_destroy(&s);
	json_decref(o);
	free(name);
}
END_TEST

START_TEST(jobspec_depends_limit)
{
	json_t *o = json_pack("{s:[s]}", "argv", "x"), *deps = json_array();
	struct jobspec s;
	int i;

	for (i = 1; i <= 1000; i++)
		json_array_append_new(deps, json_integer(i));
	json_object_set_new(o, "depends_on", deps);
	jobspec_init(&s);
	ck_assert_int_eq(jobspec_parse(o, &s), 0);
	ck_assert_uint_eq(s.ndeps, 1000);
	jobspec_destroy(&s);
	json_array_append_new(deps, json_integer(1));
	jobspec_init(&s);
	ck_assert_int_eq(jobspec_parse(o, &s), -1);
	ck_assert(strncmp(diag_msg(), "depends_on: ", 12) == 0);
	jobspec_destroy(&s);
	json_decref(o);
}
END_TEST

START_TEST(jobspec_conditions_and_refs)
{
	struct jobspec s;

	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"after_failed\":"
			       "[\"@2\",7,\"@2\",\"@0\"]}",
			       &s),
			 0);
	ck_assert_int_eq(s.dep_cond, JOBSPEC_AFTER_FAILED);
	ck_assert_str_eq(s.dep_field, "after_failed");
	ck_assert_uint_eq(s.ndeps, 3);
	ck_assert(JOBSPEC_DEP_IS_REF(s.depends_on[0]));
	ck_assert_uint_eq(JOBSPEC_DEP_REF_INDEX(s.depends_on[0]), 2);
	ck_assert_int_eq(s.depends_on[1], 7);
	ck_assert_uint_eq(JOBSPEC_DEP_REF_INDEX(s.depends_on[2]), 0);
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"after\":[1]}", &s), 0);
	ck_assert_int_eq(s.dep_cond, JOBSPEC_AFTER);
	jobspec_destroy(&s);
	ck_assert_int_eq(parse("{\"argv\":[\"x\"],\"after_any\":[1]}", &s), 0);
	ck_assert_int_eq(s.dep_cond, JOBSPEC_AFTER_ANY);
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_not_object)
{
	struct jobspec s;
	json_t *a = json_array();

	jobspec_init(&s);
	ck_assert_int_eq(jobspec_parse(NULL, &s), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_str_eq(diag_msg(), "job: must be an object");
	ck_assert_int_eq(jobspec_parse(a, &s), -1);
	ck_assert_str_eq(diag_msg(), "job: must be an object");
	jobspec_destroy(&s);
	json_decref(a);
}
END_TEST

START_TEST(jobspec_shares_argv_env)
{
	json_t *o = j("{\"argv\":[\"a\"],\"env\":{\"K\":\"v\"},"
		      "\"name\":\"n\"}");
	struct jobspec s;

	jobspec_init(&s);
	ck_assert_int_eq(jobspec_parse(o, &s), 0);
	/* argv and env are shared references (no copy of a big
	 * environment per job); s keeps them alive when the input goes,
	 * and the strings are copies. */
	ck_assert_ptr_eq(s.argv, json_object_get(o, "argv"));
	ck_assert_ptr_eq(s.env, json_object_get(o, "env"));
	ck_assert_int_eq(s.argv->refcount, 2);
	json_decref(o);
	ck_assert_int_eq(s.argv->refcount, 1);
	ck_assert_str_eq(json_string_value(json_array_get(s.argv, 0)), "a");
	ck_assert_str_eq(json_string_value(json_object_get(s.env, "K")), "v");
	ck_assert_str_eq(s.name, "n");
	jobspec_destroy(&s);
}
END_TEST

START_TEST(jobspec_overlay_fields)
{
	json_t *t = j("{\"argv\":[\"t\"],\"queue\":\"q\",\"timeout\":5}");
	json_t *o = j("{\"argv\":[\"o\"],\"name\":\"n\"}");
	json_t *r = jobspec_overlay(t, o);

	ck_assert_int_eq(json_object_size(r), 4);
	ck_assert_str_eq(json_string_value(
				 json_array_get(json_object_get(r, "argv"), 0)),
			 "o");
	ck_assert_str_eq(json_string_value(json_object_get(r, "queue")), "q");
	ck_assert_str_eq(json_string_value(json_object_get(r, "name")), "n");
	/* The inputs are unchanged. */
	ck_assert_int_eq(json_object_size(t), 3);
	ck_assert_ptr_null(json_object_get(t, "name"));
	json_decref(r);
	r = jobspec_overlay(NULL, o);
	ck_assert_int_eq(json_object_size(r), 2);
	json_decref(r);
	r = jobspec_overlay(t, NULL);
	ck_assert(json_equal(r, t));
	json_decref(r);
	json_decref(t);
	json_decref(o);
}
END_TEST

START_TEST(jobspec_queue_names)
{
	char name[80];

	ck_assert(jobspec_queue_name_valid("default"));
	ck_assert(jobspec_queue_name_valid("a"));
	ck_assert(jobspec_queue_name_valid("A-z_0.9"));
	ck_assert(!jobspec_queue_name_valid(""));
	ck_assert(!jobspec_queue_name_valid(NULL));
	ck_assert(!jobspec_queue_name_valid("a b"));
	ck_assert(!jobspec_queue_name_valid("a/b"));
	ck_assert(!jobspec_queue_name_valid("caf\xc3\xa9"));
	memset(name, 'x', sizeof(name));
	name[64] = '\0';
	ck_assert(jobspec_queue_name_valid(name));
	name[64] = 'x';
	name[65] = '\0';
	ck_assert(!jobspec_queue_name_valid(name));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
jobspec_suite(void)
{
	Suite *s = suite_create("jobspec");
	TCase *tc;

	tc = tcase_create("accept");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, jobspec_defaults);
	tcase_add_test(tc, jobspec_all_fields);
	tcase_add_test(tc, jobspec_shell_and_delay);
	tcase_add_test(tc, jobspec_nulls_are_not_given);
	tcase_add_test(tc, jobspec_partial_backoff);
	tcase_add_test(tc, jobspec_edges_accepted);
	tcase_add_test(tc, jobspec_shares_argv_env);
	tcase_add_test(tc, jobspec_limits);
	tcase_add_test(tc, jobspec_limits_merge_and_load);
	tcase_add_test(tc, jobspec_limits_need_controllers);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, jobspec_rejects, 0, N(bad_specs));
	tcase_add_test(tc, jobspec_long_texts);
	tcase_add_test(tc, jobspec_user_length);
	tcase_add_test(tc, jobspec_depends_limit);
	tcase_add_test(tc, jobspec_conditions_and_refs);
	tcase_add_test(tc, jobspec_not_object);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, jobspec_overlay_fields);
	tcase_add_test(tc, jobspec_queue_names);
	suite_add_tcase(s, tc);
	return s;
}
