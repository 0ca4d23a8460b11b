/*
 * human_suite: jobctl's human times and logs (docs/jobctl.1): durations
 * with several units, --at in its relative and clock forms giving the
 * run_at expected, list's WHEN column relative to now on a terminal (a
 * real pseudo-terminal) and absolute with --absolute, --json or off one,
 * logs --tail N, and logs without an id following the caller's latest
 * job.
 */
#include <check.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "jobd/time.h"

Suite *human_suite(void);

#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static struct jd *
start(void)
{
	return jd_test_start(&D, BASE_CONF, NULL, NULL);
}

/* Runs jobctl submit a1 a2 [a3] -- true; returns the new job's id. */
static int64_t
submit_cli(struct jd *d, const char *a1, const char *a2, const char *a3)
{
	char *out, *err;
	long long id = 0;
	int st;

	if (a3 != NULL)
		st = jd_jobctl(d, NULL, &out, &err, "submit", a1, a2, a3, "--",
			       "true", NULL);
	else
		st = jd_jobctl(d, NULL, &out, &err, "submit", a1, a2, "--",
			       "true", NULL);

	ck_assert_msg(st == 0, "submit %s %s: %d: %s", a1, a2, st, err);
	ck_assert_int_eq(sscanf(out, "%lld", &id), 1);
	free(out);
	free(err);
	return id;
}

/* The time member key of job id, in ms. */
static int64_t
time_of(struct jd *d, int64_t id, const char *key)
{
	json_t *job = jd_get(d, id);
	int64_t ms = 0;

	ck_assert_msg(jd_str(job, key) != NULL, "job %lld has no %s",
		      (long long)id, key);
	ck_assert_int_eq(jobd_time_parse(jd_str(job, key), &ms), 0);
	json_decref(job);
	return ms;
}

START_TEST(human_at_relative)
{
	struct jd *d = start();
	int64_t before = jobd_time_now_ms();
	int64_t id = submit_cli(d, "--at", "+2s", NULL);
	int64_t after = jobd_time_now_ms();
	int64_t at = time_of(d, id, "run_at");

	ck_assert_msg(at >= before + 2000 && at <= after + 2000,
		      "run_at %lld not 2 s after [%lld, %lld]", (long long)at,
		      (long long)before, (long long)after);
	/* It runs, and no sooner. */
	json_t *job = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	ck_assert_int_ge(time_of(d, id, "started_at"), at);

	/* Several units, in --at and --delay alike. */
	before = jobd_time_now_ms();
	id = submit_cli(d, "--at", "+1h30m", NULL);
	after = jobd_time_now_ms();
	at = time_of(d, id, "run_at");
	ck_assert(at >= before + 5400000 && at <= after + 5400000);
	before = jobd_time_now_ms();
	id = submit_cli(d, "--delay", "1.5h", NULL);
	after = jobd_time_now_ms();
	at = time_of(d, id, "run_at");
	ck_assert(at >= before + 5400000 && at <= after + 5400000);
	id = submit_cli(d, "-t", "1h30m", "--kill-grace=90s");
	job = jd_get(d, id);
	ck_assert_double_eq(json_number_value(json_object_get(job, "timeout")),
			    5400);
	ck_assert_double_eq(
		json_number_value(json_object_get(job, "kill_grace")), 90);
	json_decref(job);
}
END_TEST

START_TEST(human_at_clock)
{
	struct jd *d = start();
	/* Two hours on, in local time: the next HH:MM is that minute. */
	time_t then = time(NULL) + 2 * 3600;
	struct tm tm;
	char hhmm[16], tomorrow[32];

	localtime_r(&then, &tm);
	strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
	int64_t want = ((int64_t)then - tm.tm_sec) * 1000;
	int64_t id = submit_cli(d, "--at", hhmm, NULL);
	ck_assert_int_eq(time_of(d, id, "run_at"), want);

	/* A minute that has passed: tomorrow's, in local time (today's
	 * only when two minutes ago was yesterday). */
	time_t now = time(NULL), past = now - 120;
	struct tm today;
	localtime_r(&past, &tm);
	strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
	localtime_r(&now, &today);
	today.tm_hour = tm.tm_hour;
	today.tm_min = tm.tm_min;
	today.tm_sec = 0;
	today.tm_isdst = -1;
	if (mktime(&today) <= now)
		today.tm_mday++;
	today.tm_isdst = -1;
	tm = today;
	want = (int64_t)mktime(&tm) * 1000;
	id = submit_cli(d, "--at", hhmm, NULL);
	ck_assert_int_eq(time_of(d, id, "run_at"), want);
	snprintf(tomorrow, sizeof(tomorrow), "tomorrow %s", hhmm);
	id = submit_cli(d, "--at", tomorrow, NULL);
	ck_assert_int_eq(time_of(d, id, "run_at"), want);

	/* ISO 8601 without a zone is local; with one, that zone's. */
	char iso[32];
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M", &tm);
	id = submit_cli(d, "--at", iso, NULL);
	ck_assert_int_eq(time_of(d, id, "run_at"), want);
	id = submit_cli(d, "--at", "2031-01-02T03:04+01:00", NULL);
	ck_assert_int_eq(jobd_time_parse("2031-01-02T02:04:00Z", &want), 0);
	ck_assert_int_eq(time_of(d, id, "run_at"), want);
}
END_TEST

START_TEST(human_bad_input_names_the_flag)
{
	static const char *const bad[][2] = {
		{"--at", "25:00"},   {"--at", "tomorrow"},
		{"--at", "+1x"},     {"--at", "2026-02-30T10:00"},
		{"--delay", "1h30"}, {"--timeout", "30m1h"},
	};
	struct jd *d = start();
	char *out, *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = jd_jobctl(d, NULL, &out, &err, "submit", bad[i][0],
				   bad[i][1], "--", "true", NULL);
		char want[64];

		ck_assert_int_eq(st, 2);
		snprintf(want, sizeof(want), "invalid %s '%s'", bad[i][0],
			 bad[i][1]);
		ck_assert_msg(strstr(err, want) != NULL, "%s %s: %s", bad[i][0],
			      bad[i][1], err);
		ck_assert_str_eq(out, "");
		free(out);
		free(err);
	}
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "wait", "--timeout",
				   "1m1m", "1", NULL),
			 2);
	ck_assert_msg(strstr(err, "invalid --timeout '1m1m'") != NULL, "%s",
		      err);
	free(out);
	free(err);
	/* Nothing was submitted. */
	json_t *resp = jd_call(d, jd_json("{\"cmd\":\"list\"}"));
	ck_assert_int_eq(json_array_size(json_object_get(jd_ok(resp), "jobs")),
			 0);
	json_decref(resp);
}
END_TEST

/* Runs jobctl -s SOCK list [arg] under a pseudo-terminal; returns what it
 * printed (caller frees). */
static char *
list_on_tty(const char *arg)
{
	const char *bin = getenv("JOBCTL_BIN");
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int master, st;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("NO_COLOR", "1", 1);
		execl(bin ? bin : "build/jobctl", "jobctl", "-s", D.sock,
		      "list", arg, (char *)NULL);
		_exit(127);
	}
	double end = jd_now() + 20;
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		int left = (int)((end - jd_now()) * 1000);
		ssize_t n;

		ck_assert_msg(left > 0, "jobctl list under a pty did not end");
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(master, buf + len, cap - 1 - len);
		if (n <= 0)
			break; /* EIO once the child has gone */
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(master);
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", buf);
	return buf;
}

/* The line of out whose first word is id (borrowed into buf). */
static const char *
row_of(const char *out, int64_t id, char *buf, size_t n)
{
	for (const char *p = out; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		long long v;

		if (sscanf(p, "%lld", &v) == 1 && v == id) {
			snprintf(buf, n, "%.*s", (int)l, p);
			return buf;
		}
		p = nl ? nl + 1 : NULL;
	}
	ck_abort_msg("no row for job %lld in:\n%s", (long long)id, out);
	return NULL;
}

START_TEST(human_list_relative_and_absolute)
{
	struct jd *d = start();
	int64_t done = submit_cli(d, "-n", "done", NULL);
	int64_t later = submit_cli(d, "--at", "+3h", NULL);
	char row[512], *out, *err;

	json_decref(jd_wait(d, done, 30));
	json_t *job = jd_get(d, later);
	char *run_at = strdup(jd_str(job, "run_at"));
	json_decref(job);
	job = jd_get(d, done);
	char *finished_at = strdup(jd_str(job, "finished_at"));
	json_decref(job);

	/* A terminal: relative to now. */
	out = list_on_tty(NULL);
	ck_assert_msg(strstr(out, "WHEN") != NULL, "%s", out);
	ck_assert_msg(strstr(row_of(out, later, row, sizeof(row)), " in 3h ") !=
			      NULL,
		      "%s", out);
	row_of(out, done, row, sizeof(row));
	ck_assert_msg(strstr(row, " ago ") != NULL ||
			      strstr(row, " now ") != NULL,
		      "%s", out);
	ck_assert_ptr_null(strstr(out, run_at));
	free(out);

	/* --absolute on a terminal: the times themselves. */
	out = list_on_tty("--absolute");
	ck_assert_msg(strstr(row_of(out, later, row, sizeof(row)), run_at) !=
			      NULL,
		      "%s", out);
	ck_assert_msg(strstr(row_of(out, done, row, sizeof(row)),
			     finished_at) != NULL,
		      "%s", out);
	ck_assert_ptr_null(strstr(out, " ago "));
	ck_assert_ptr_null(strstr(out, " in 3h "));
	free(out);

	/* Not a terminal: absolute too. */
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "list", NULL), 0);
	ck_assert_msg(strstr(row_of(out, later, row, sizeof(row)), run_at) !=
			      NULL,
		      "%s", out);
	ck_assert_ptr_null(strstr(out, " ago "));
	free(out);
	free(err);

	/* --json: the daemon's times. */
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "list", "--json", NULL),
			 0);
	json_t *res = jd_json(out);
	json_t *jobs = json_object_get(res, "jobs");
	ck_assert_int_eq(json_array_size(jobs), 2);
	ck_assert_str_eq(jd_str(json_array_get(jobs, 0), "run_at"), run_at);
	ck_assert_ptr_null(strstr(out, " ago"));
	json_decref(res);
	free(out);
	free(err);
	free(run_at);
	free(finished_at);
}
END_TEST

/* jobctl logs args... of d; the output (caller frees) after asserting
 * the exit status. */
static char *
logs(struct jd *d, int want_st, const char *a1, const char *a2, const char *a3)
{
	char *out, *err;
	int st = jd_jobctl(d, NULL, &out, &err, "logs", a1, a2, a3, NULL);

	ck_assert_msg(st == want_st, "logs %s %s: %d: %s", a1 ? a1 : "",
		      a2 ? a2 : "", st, err);
	free(err);
	return out;
}

/* Submits sh -c script and waits for it to succeed; returns its id as
 * text in buf. */
static const char *
run_sh(struct jd *d, const char *script, char *buf, size_t n)
{
	json_t *spec = json_pack("{s[sss]}", "argv", "/bin/sh", "-c", script);
	int64_t id = jd_submit(d, spec);
	json_t *job = jd_wait(d, id, 60);

	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	snprintf(buf, n, "%lld", (long long)id);
	return buf;
}

START_TEST(human_logs_tail)
{
	struct jd *d = start();
	char id[32], small[32], cut[32], *out;

	run_sh(d, "seq 1 1000", small, sizeof(small));
	out = logs(d, 0, "--tail", "3", small);
	ck_assert_str_eq(out, "998\n999\n1000\n");
	free(out);
	out = logs(d, 0, "--tail=1", small, NULL);
	ck_assert_str_eq(out, "1000\n");
	free(out);
	out = logs(d, 0, "--tail", "0", small);
	ck_assert_str_eq(out, "");
	free(out);
	/* More lines asked than there are: the whole log. */
	out = logs(d, 0, "-n", "5000", small);
	ck_assert_int_eq(strlen(out), 3893);
	ck_assert_int_eq(strncmp(out, "1\n2\n3\n", 6), 0);
	free(out);

	/* A last line without its newline counts. */
	run_sh(d, "printf 'a\\nb\\nc'", cut, sizeof(cut));
	out = logs(d, 0, "--tail", "2", cut);
	ck_assert_str_eq(out, "b\nc");
	free(out);

	/* Large: 588,895 bytes; 20,000 lines (120,001 bytes) need a window
	 * past the first two. */
	run_sh(d, "seq 1 100000", id, sizeof(id));
	out = logs(d, 0, "--tail", "20000", id);
	ck_assert_int_eq(strncmp(out, "80001\n80002\n", 12), 0);
	ck_assert_int_eq(strlen(out), 120001);
	free(out);
	out = logs(d, 0, "--tail", "2", id);
	ck_assert_str_eq(out, "99999\n100000\n");
	free(out);

	out = logs(d, 2, "--tail", "x", id);
	free(out);
	out = logs(d, 2, "--tail", "-1", id);
	free(out);
}
END_TEST

START_TEST(human_logs_follow_latest)
{
	struct jd *d = start();
	char old[32], *out;

	/* No job yet: nothing to follow. */
	out = logs(d, 1, "-f", NULL, NULL);
	free(out);
	run_sh(d, "echo done", old, sizeof(old));
	/* An older job runs on; the latest (the highest id) runs a while:
	 * -f prints all of the latest, to its end, and no more. */
	int64_t older =
		jd_submit(d, json_pack("{s[sss]}", "argv", "/bin/sh", "-c",
				       "echo older; exec sleep 600"));
	ck_assert(jd_poll_state(d, older, "running", 30));
	json_t *spec = json_pack("{s[sss]}", "argv", "/bin/sh", "-c",
				 "echo one; sleep 1; echo two");
	int64_t id = jd_submit(d, spec);
	ck_assert(jd_poll_state(d, id, "running", 30));
	out = logs(d, 0, "-f", NULL, NULL);
	ck_assert_str_eq(out, "one\ntwo\n");
	free(out);
	json_t *o = jd_get(d, older);
	ck_assert_str_eq(jd_str(o, "state"), "running");
	json_decref(o);
	json_t *job = jd_get(d, id);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	out = logs(d, 0, "--tail", "1", NULL);
	ck_assert_str_eq(out, "two\n");
	free(out);
	out = logs(d, 0, "-f", "--tail", "1");
	ck_assert_str_eq(out, "two\n");
	free(out);
	out = logs(d, 0, old, NULL, NULL);
	ck_assert_str_eq(out, "done\n");
	free(out);
	char *err;
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", (long long)older);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "cancel", oid, NULL),
			 0);
	free(out);
	free(err);
}
END_TEST

Suite *
human_suite(void)
{
	Suite *s = suite_create("human");
	TCase *tc = tcase_create("human");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, human_at_relative);
	tcase_add_test(tc, human_at_clock);
	tcase_add_test(tc, human_bad_input_names_the_flag);
	tcase_add_test(tc, human_list_relative_and_absolute);
	tcase_add_test(tc, human_logs_tail);
	tcase_add_test(tc, human_logs_follow_latest);
	suite_add_tcase(s, tc);
	return s;
}
