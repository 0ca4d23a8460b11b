/*
 * Tests of producer_spec: interval, cron and command producers parsed into
 * their fields, what is stored (reported fields and paused left out), the
 * queue asked of the caller, the job one production makes, and every
 * refusal with its message.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "producer_spec.h"

Suite *producer_spec_suite(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parses JSON text (test input, must be valid JSON). */
static json_t *
j(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, err.text);
	return v;
}

/* Parses text into s with queue_ok; returns producer_spec_parse's
 * result. */
static int
parse(const char *text, producer_spec_queue_fn queue_ok,
      struct producer_spec *s)
{
	json_t *o = j(text);
	int r = producer_spec_parse(o, queue_ok, s);

	json_decref(o);
	return r;
}

/* The queues the fake engine knows: "default" and "work". */
static char asked[80];

static int
known_queue(const char *queue)
{
	snprintf(asked, sizeof(asked), "%s", queue);
	if (strcmp(queue, "default") == 0 || strcmp(queue, "work") == 0)
		return 0;
	return diag_set(E_UNKNOWN_QUEUE, "no queue %s", queue);
}

START_TEST(producer_spec_interval)
{
	struct producer_spec s;

	ck_assert_int_eq(parse("{\"name\":\"tick\",\"type\":\"interval\","
			       "\"every\":2.5,\"job\":{\"argv\":[\"true\"],"
			       "\"queue\":\"elsewhere\"},\"paused\":true,"
			       "\"state\":\"running\",\"produced\":7}",
			       known_queue, &s),
			 0);
	ck_assert_str_eq(s.name, "tick");
	ck_assert_int_eq(s.type, PRODUCER_SPEC_INTERVAL);
	ck_assert_double_eq(s.every, 2.5);
	/* No queue given: "default", and that is what was asked. */
	ck_assert_str_eq(s.queue, "default");
	ck_assert_str_eq(asked, "default");
	/* The template's own queue is dropped: the producer's wins. */
	ck_assert_ptr_null(json_object_get(s.job, "queue"));
	ck_assert_ptr_nonnull(json_object_get(s.job, "argv"));
	ck_assert(s.paused);
	ck_assert(!s.overlap);
	ck_assert_ptr_null(s.generator);
	ck_assert_int_eq(s.format, PRODUCER_SPEC_LINES);
	ck_assert_int_eq(s.restart, PRODUCER_SPEC_NEVER);
	/* Stored: the definition, less what is reported and paused. */
	ck_assert_ptr_nonnull(json_object_get(s.stored, "every"));
	ck_assert_ptr_null(json_object_get(s.stored, "state"));
	ck_assert_ptr_null(json_object_get(s.stored, "produced"));
	ck_assert_ptr_null(json_object_get(s.stored, "paused"));
	producer_spec_destroy(&s);
	ck_assert_ptr_null(s.name);
	producer_spec_destroy(&s); /* twice: harmless */
}
END_TEST

START_TEST(producer_spec_schedule)
{
	struct producer_spec s;

	ck_assert_int_eq(parse("{\"name\":\"nightly\",\"type\":\"cron\","
			       "\"schedule\":\"30 2 * * *\",\"queue\":\"work\","
			       "\"overlap\":true,\"job\":{\"shell\":\"x\"}}",
			       known_queue, &s),
			 0);
	ck_assert_int_eq(s.type, PRODUCER_SPEC_CRON);
	ck_assert_str_eq(s.queue, "work");
	ck_assert(s.overlap);
	ck_assert(!s.paused);
	/* Cron reads local time: UTC here, whatever an earlier test in the
	 * same process (CK_FORK=no, as under Valgrind) left in TZ. */
	setenv("TZ", "UTC0", 1);
	tzset();
	/* 2026-01-01T00:00:00Z: the next run is 02:30 that day. */
	ck_assert_int_eq(cron_next(&s.cron, 1767225600),
			 1767225600 + 2 * 3600 + 30 * 60);
	producer_spec_destroy(&s);
}
END_TEST

START_TEST(producer_spec_generator)
{
	struct producer_spec s;
	struct jobspec js;
	json_t *over;

	ck_assert_int_eq(parse("{\"name\":\"gen\",\"type\":\"command\","
			       "\"generator\":{\"argv\":[\"ls\"]},"
			       "\"restart\":\"on-failure\","
			       "\"job\":{\"argv\":[\"echo\"]}}",
			       NULL, &s),
			 0);
	ck_assert_int_eq(s.type, PRODUCER_SPEC_COMMAND);
	ck_assert_int_eq(s.format, PRODUCER_SPEC_LINES);
	ck_assert_int_eq(s.restart, PRODUCER_SPEC_ON_FAILURE);
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(s.generator, "argv"), 0)),
			 "ls");
	/* One production: the template with a line's argv laid over it,
	 * in the producer's queue. */
	over = j("{\"argv\":[\"echo\",\"a line\"],\"priority\":3}");
	ck_assert_int_eq(producer_spec_job(&s, over, &js), 0);
	ck_assert_str_eq(js.queue, "default");
	ck_assert_int_eq(js.priority, 3);
	ck_assert_uint_eq(json_array_size(js.argv), 2);
	jobspec_destroy(&js);
	json_decref(over);
	producer_spec_destroy(&s);

	/* A json generator's lines complete the job: no argv needed. */
	ck_assert_int_eq(parse("{\"name\":\"gen\",\"type\":\"command\","
			       "\"generator\":{\"shell\":\"ls\"},"
			       "\"format\":\"json\",\"restart\":\"always\"}",
			       NULL, &s),
			 0);
	ck_assert_int_eq(s.format, PRODUCER_SPEC_JSON);
	ck_assert_int_eq(s.restart, PRODUCER_SPEC_ALWAYS);
	ck_assert_int_eq(producer_spec_job(&s, NULL, &js), -1);
	jobspec_destroy(&js);
	producer_spec_destroy(&s);
}
END_TEST

START_TEST(producer_spec_names)
{
	ck_assert_str_eq(producer_spec_type_names[PRODUCER_SPEC_INTERVAL],
			 "interval");
	ck_assert_str_eq(producer_spec_type_names[PRODUCER_SPEC_CRON], "cron");
	ck_assert_str_eq(producer_spec_type_names[PRODUCER_SPEC_COMMAND],
			 "command");
	ck_assert_ptr_null(producer_spec_type_names[3]);
	ck_assert_str_eq(producer_spec_format_names[PRODUCER_SPEC_JSON],
			 "json");
	ck_assert_ptr_null(producer_spec_format_names[2]);
	ck_assert_str_eq(producer_spec_restart_names[PRODUCER_SPEC_ON_FAILURE],
			 "on-failure");
	ck_assert_ptr_null(producer_spec_restart_names[3]);
}
END_TEST

START_TEST(producer_spec_unknown_queue)
{
	struct producer_spec s;

	diag_clear();
	ck_assert_int_eq(parse("{\"name\":\"t\",\"type\":\"interval\","
			       "\"every\":1,\"queue\":\"gone\","
			       "\"job\":{\"argv\":[\"x\"]}}",
			       known_queue, &s),
			 -1);
	ck_assert_int_eq(diag_code(), E_UNKNOWN_QUEUE);
	ck_assert_str_eq(diag_msg(), "no queue gone");
	ck_assert_ptr_null(s.name);
	/* Without the callback the queue is not looked at. */
	ck_assert_int_eq(parse("{\"name\":\"t\",\"type\":\"interval\","
			       "\"every\":1,\"queue\":\"gone\","
			       "\"job\":{\"argv\":[\"x\"]}}",
			       NULL, &s),
			 0);
	producer_spec_destroy(&s);
}
END_TEST

#define IV "\"name\":\"p\",\"type\":\"interval\",\"every\":1"
#define JOB "\"job\":{\"argv\":[\"x\"]}"
#define CMD "\"name\":\"p\",\"type\":\"command\""

static const struct {
	const char *json;
	const char *msg; /* the whole message */
} refusals[] = {
	{"[1]", "producer: must be an object"},
	{"{" IV "," JOB ",\"colour\":1}", "colour: unknown field"},
	{"{\"type\":\"interval\",\"every\":1," JOB "}",
	 "name: must be 1 to 64 of A-Z a-z 0-9 _ . -"},
	{"{\"name\":\"a/b\",\"type\":\"interval\",\"every\":1," JOB "}",
	 "name: must be 1 to 64 of A-Z a-z 0-9 _ . -"},
	{"{\"name\":\"p\",\"every\":1," JOB "}",
	 "type: required (interval, cron, command)"},
	{"{\"name\":\"p\",\"type\":\"sometimes\"}",
	 "type: must be one of interval, cron, command"},
	{"{" IV "," JOB ",\"format\":\"xml\"}",
	 "format: must be one of lines, json"},
	{"{" IV "," JOB ",\"restart\":1}",
	 "restart: must be one of never, on-failure, always"},
	{"{" IV "," JOB ",\"queue\":3}", "queue: must be a string"},
	{"{" IV "," JOB ",\"overlap\":\"yes\"}",
	 "overlap: must be true or false"},
	{"{" IV "," JOB ",\"paused\":1}", "paused: must be true or false"},
	{"{" IV ",\"job\":[]}", "job: must be an object (a job spec)"},
	{"{\"name\":\"p\",\"type\":\"interval\"," JOB "}",
	 "every: must be a number of seconds >= 0.01"},
	{"{\"name\":\"p\",\"type\":\"interval\",\"every\":0.001," JOB "}",
	 "every: must be a number of seconds >= 0.01"},
	{"{\"name\":\"p\",\"type\":\"interval\",\"every\":1e12," JOB "}",
	 "every: must be a number of seconds >= 0.01"},
	{"{\"name\":\"p\",\"type\":\"cron\",\"every\":1," JOB "}",
	 "every: only for interval producers"},
	{"{\"name\":\"p\",\"type\":\"cron\"," JOB "}",
	 "schedule: required for cron producers"},
	{"{\"name\":\"p\",\"type\":\"cron\",\"schedule\":\"61 * * * *\"," JOB
	 "}",
	 "schedule: minute: 61 is out of range 0-59"},
	{"{" IV ",\"schedule\":\"* * * * *\"," JOB "}",
	 "schedule: only for cron producers"},
	{"{" CMD "," JOB "}", "generator: required for command producers"},
	{"{" CMD ",\"generator\":\"ls\"," JOB "}",
	 "generator: must be {\"argv\": [...]} or {\"shell\": \"...\"}"},
	{"{" CMD ",\"generator\":{\"argv\":[\"ls\"],\"cwd\":\"/\"}," JOB "}",
	 "generator.cwd: unknown field"},
	{"{" CMD ",\"generator\":{}," JOB "}",
	 "generator: one of argv or shell"},
	{"{" CMD ",\"generator\":{\"shell\":\"\"}," JOB "}",
	 "generator.shell: must be a non-empty string"},
	{"{" CMD ",\"generator\":{\"argv\":[]}," JOB "}",
	 "generator.argv: must be a non-empty array"},
	{"{" CMD ",\"generator\":{\"argv\":[1]}," JOB "}",
	 "generator.argv: must hold strings"},
	{"{" CMD ",\"generator\":{\"argv\":[\"ls\"]}}",
	 "job.argv: format lines appends each line to job.argv"},
	{"{" IV ",\"generator\":{\"argv\":[\"ls\"]}," JOB "}",
	 "generator: only for command producers"},
	{"{" IV "}", "job: argv: one of argv or shell is required"},
	{"{" IV ",\"job\":{\"argv\":[\"x\"],\"priority\":\"high\"}}",
	 "job: priority: "},
};

START_TEST(producer_spec_refusals)
{
	struct producer_spec s;

	diag_clear();
	ck_assert_msg(parse(refusals[_i].json, NULL, &s) == -1, "accepted %s",
		      refusals[_i].json);
	ck_assert_int_eq(diag_code(), E_INVAL);
	/* A message ending in ": " is a prefix (the rest is jobspec's). */
	size_t n = strlen(refusals[_i].msg);
	if (n >= 2 && strcmp(refusals[_i].msg + n - 2, ": ") == 0)
		ck_assert_msg(strncmp(diag_msg(), refusals[_i].msg, n) == 0,
			      "%s: message \"%s\", want \"%s...\"",
			      refusals[_i].json, diag_msg(), refusals[_i].msg);
	else
		ck_assert_msg(strcmp(diag_msg(), refusals[_i].msg) == 0,
			      "%s: message \"%s\", want \"%s\"",
			      refusals[_i].json, diag_msg(), refusals[_i].msg);
	/* Nothing is left to free (ASan checks). */
	ck_assert_ptr_null(s.name);
	ck_assert_ptr_null(s.job);
}
END_TEST

Suite *
producer_spec_suite(void)
{
	Suite *s = suite_create("producer_spec");
	TCase *tc;

	tc = tcase_create("accept");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, producer_spec_interval);
	tcase_add_test(tc, producer_spec_schedule);
	tcase_add_test(tc, producer_spec_generator);
	tcase_add_test(tc, producer_spec_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, producer_spec_unknown_queue);
	tcase_add_loop_test(tc, producer_spec_refusals, 0, N(refusals));
	suite_add_tcase(s, tc);
	return s;
}
