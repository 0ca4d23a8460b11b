/*
 * usability_suite: what a new user meets in the daemon's answers — a
 * retried job starts a fresh round (its own logs, its run fields
 * cleared), a rerun after a crash is marked in the log, a generator's
 * stderr is logged under its producer's name and its last exit is shown.
 * Each test runs its own daemon; every wait is a poll with a deadline.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *usability_suite(void);

#define BASE_CONF \
	"; usability_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* The data of job id's latest attempt's log (caller frees). */
static char *
log_data(struct jd *d, int64_t id)
{
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "logs", "job_id",
			   (json_int_t)id);
	char *s = strdup(jd_str(jd_ok(r), "data"));
	json_decref(r);
	return s;
}

/* Polls until job id's log holds needle (deadline s seconds). */
static bool
poll_log(struct jd *d, int64_t id, const char *needle, double s)
{
	double deadline = jd_now() + s;
	for (;;) {
		char *data = log_data(d, id);
		bool found = strstr(data, needle) != NULL;
		free(data);
		if (found || jd_now() >= deadline)
			return found;
		poll(NULL, 0, 20);
	}
}

/* ---- retry ---- */

START_TEST(usability_retry_fresh_round)
{
	struct jd *d = start(NULL);
	char *flag = jd_path(d, "flag");
	char spec[512];
	/* The first run says "first" and fails; the next says "second". */
	snprintf(spec, sizeof(spec),
		 "{\"shell\":\"if [ -e %s ]; then echo second; else touch %s;"
		 " echo first; exit 3; fi\"}",
		 flag, flag);
	free(flag);
	int64_t id = jd_submit(d, jd_json(spec));
	json_t *job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "failed");
	json_decref(job);
	char *data = log_data(d, id);
	ck_assert_str_eq(data, "first\n");
	free(data);

	/* Retried into a paused queue, the job shows no run yet. */
	jd_queue_cmd(d, "queue.pause", "default");
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "retry", "job_id",
				(json_int_t)id));
	job = jd_get(d, id);
	ck_assert_str_eq(jd_str(job, "state"), "queued");
	ck_assert_int_eq(jd_num(job, "attempt"), 0);
	const char *cleared[] = {"started_at", "finished_at", "duration",
				 "exit_code", "rusage", "pid"};
	for (size_t i = 0; i < sizeof(cleared) / sizeof(cleared[0]); i++) {
		json_t *v = json_object_get(job, cleared[i]);
		ck_assert_msg(v == NULL || json_is_null(v), "%s not cleared",
			      cleared[i]);
	}
	json_decref(job);

	/* Its new run has a log of its own. */
	jd_queue_cmd(d, "queue.resume", "default");
	job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	data = log_data(d, id);
	ck_assert_str_eq(data, "second\n");
	free(data);
}
END_TEST

/* A job that runs again after a crash has a marker line between its
 * runs. */
START_TEST(usability_rerun_marker)
{
	struct jd *d = start(NULL);
	int64_t id = jd_submit(d, jd_json("{\"shell\":\"echo one; sleep 2\"}"));
	ck_assert(poll_log(d, id, "one\n", 10));
	jd_kill9(d);
	jd_start(d, NULL);
	json_t *job = jd_wait(d, id, 15);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "recoveries"), 1);
	json_decref(job);
	char *data = log_data(d, id);
	ck_assert_msg(strstr(data, "one\n--- jobd: attempt 1 runs again") ==
				      data &&
			      strstr(data, "---\none\n") != NULL,
		      "log: %s", data);
	free(data);
}
END_TEST

/* ---- producers ---- */

START_TEST(usability_generator_stderr)
{
	struct jd *d = start(NULL);
	json_t *p = jd_json(
		"{\"name\":\"gen\",\"type\":\"command\",\"queue\":\"default\","
		"\"format\":\"lines\",\"job\":{\"argv\":[\"echo\"]},"
		"\"generator\":{\"shell\":\"echo a; echo 'cannot read "
		"the list' >&2; exit 3\"}}");
	jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "producer.create",
				"producer", p));
	double deadline = jd_now() + 10;
	json_t *pr = NULL;
	for (;;) {
		json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get",
				   "name", "gen");
		pr = json_incref(json_object_get(jd_ok(r), "producer"));
		json_decref(r);
		if (strcmp(jd_str(pr, "state"), "failed") == 0 ||
		    jd_now() > deadline)
			break;
		json_decref(pr);
		poll(NULL, 0, 20);
	}
	ck_assert_str_eq(jd_str(pr, "state"), "failed");
	ck_assert_int_eq(jd_num(pr, "produced"), 1);
	ck_assert_int_eq(jd_num(pr, "last_exit_code"), 3);
	ck_assert_str_eq(jd_str(pr, "last_error"), "cannot read the list");
	json_decref(pr);

	/* In jobd's log, the line names its producer, at warning level. */
	char *log = jd_slurp(d->log);
	ck_assert_msg(strstr(log, "warning: producer gen: generator: cannot "
				  "read the list\n") != NULL,
		      "log: %s", log);
	free(log);
}
END_TEST

/* `producer add` runs its jobs and generator where jobctl ran, with its
 * environment: relative commands work as the README's tour shows. */
START_TEST(usability_producer_takes_cwd)
{
	struct jd *d = start(NULL);
	/* The binaries' paths may be relative to where the tests started. */
	const char *vars[] = {"JOBCTL_BIN", "JOBD_BIN"};
	for (int i = 0; i < 2; i++) {
		char *abs = getenv(vars[i]) ? realpath(getenv(vars[i]), NULL)
					    : NULL;
		if (abs != NULL)
			setenv(vars[i], abs, 1);
		free(abs);
	}
	ck_assert_int_eq(chdir(d->dir), 0);
	jd_write_file("list", "a\nb\n");
	jd_write_file("thumb", "#!/bin/sh\necho \"$1 $GREETING\" >> out\n");
	ck_assert_int_eq(chmod("thumb", 0755), 0);
	setenv("GREETING", "hello", 1);
	char *err = NULL;
	int st = jd_jobctl(d, NULL, NULL, &err, "producer", "add", "thumbs",
			   "--type", "command", "--generator", "cat list",
			   "--format", "lines", "--", "./thumb", NULL);
	unsetenv("GREETING");
	ck_assert_msg(st == 0, "producer add: %d %s", st, err);
	free(err);
	double deadline = jd_now() + 10;
	while (jd_count_lines("out") < 2 && jd_now() < deadline)
		poll(NULL, 0, 20);
	char *out = jd_slurp("out");
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "a hello\n") && strstr(out, "b hello\n"),
		      "out: %s", out);
	free(out);
}
END_TEST

Suite *
usability_suite(void)
{
	Suite *s = suite_create("usability");
	TCase *tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, usability_retry_fresh_round);
	tcase_add_test(tc, usability_rerun_marker);
	suite_add_tcase(s, tc);

	tc = tcase_create("producers");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, usability_generator_stderr);
	tcase_add_test(tc, usability_producer_takes_cwd);
	suite_add_tcase(s, tc);
	return s;
}
