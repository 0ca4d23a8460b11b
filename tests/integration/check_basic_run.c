/*
 * basic_suite's runs (SPEC 2.3): how a job runs: its exit code, spawn
 * errors, its environment, working directory, stdin, session, pid and
 * resource usage.
 */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "basic.h"
#include "harness.h"

/* Runs spec text and returns its output (caller frees); the job must
 * succeed. */
static char *
run_output(struct jd *d, const char *spec)
{
	json_t *job = run_text(d, spec);
	ck_assert_msg(strcmp(jd_str(job, "state"), "succeeded") == 0,
		      "job %s ended %s (%s)", spec, jd_str(job, "state"),
		      jd_str(job, "error"));
	char *s = output(d, jd_num(job, "id"));
	json_decref(job);
	return s;
}

/* ---- running ---- */

START_TEST(basic_run_exit_code)
{
	json_t *job = run_text(&D, "{\"shell\":\"exit 7\"}");
	ck_assert_str_eq(jd_str(job, "state"), "failed");
	ck_assert_str_eq(jd_str(job, "reason"), "exit");
	ck_assert_int_eq(jd_num(job, "exit_code"), 7);
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	job = run_text(&D, "{\"argv\":[\"true\"]}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	ck_assert(json_is_null(json_object_get(job, "reason")));
	json_decref(job);
}
END_TEST

START_TEST(basic_run_spawn_error)
{
	static const char *const specs[] = {
		"{\"argv\":[\"no-such-program-jobd-test\"],\"max_attempts\":3}",
		"{\"argv\":[\"/nonexistent/prog\"]}",
		"{\"argv\":[\"true\"],\"cwd\":\"/nonexistent-dir-jobd-test\","
		"\"max_attempts\":3}",
	};
	for (size_t i = 0; i < 3; i++) {
		json_t *job = run_text(&D, specs[i]);
		ck_assert_msg(strcmp(jd_str(job, "state"), "failed") == 0,
			      "%s: state %s", specs[i], jd_str(job, "state"));
		ck_assert_str_eq(jd_str(job, "reason"), "spawn_error");
		ck_assert_msg(strstr(jd_str(job, "error"), strerror(ENOENT)),
			      "%s: error '%s' lacks the errno text", specs[i],
			      jd_str(job, "error"));
		/* Counted, and never retried. */
		ck_assert_int_eq(jd_num(job, "attempt"), 1);
		json_decref(job);
	}
}
END_TEST

START_TEST(basic_run_env_given_is_whole)
{
	json_t *job = run_text(&D, "{\"argv\":[\"/usr/bin/env\"],"
				   "\"env\":{\"FOO\":\"bar baz\","
				   "\"EMPTY\":\"\"}}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	char *out = output(&D, id);
	char want[256], host[256] = "", node[300];
	snprintf(want, sizeof(want), "JOBD_JOB_ID=%lld", (long long)id);
	/* No node_name: the node is the host (its name cut to 63 bytes). */
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[63] = '\0';
	snprintf(node, sizeof(node), "JOBD_NODE=%s", host);
	/* The files it may say something back in. */
	char result[600], snooze[600];
	snprintf(result, sizeof(result), "JOBD_RESULT=%s/talk/%lld.1.result",
		 D.state, (long long)id);
	snprintf(snooze, sizeof(snooze), "JOBD_SNOOZE=%s/talk/%lld.1.snooze",
		 D.state, (long long)id);
	/* Exactly these nine lines, in any order. */
	const char *lines[] = {
		"FOO=bar baz",	     "EMPTY=", want,   "JOBD_QUEUE=default",
		"JOBD_ATTEMPT=1",    node,     result, snooze,
		"JOBD_PROGRESS_FD=3"};
	int seen = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		bool known = false;
		for (int i = 0; i < 9; i++)
			if (strcmp(l, lines[i]) == 0) {
				known = true;
				seen |= 1 << i;
			}
		ck_assert_msg(known, "unexpected variable in the job: %s", l);
	}
	ck_assert_msg(seen == 511, "variables missing (mask %d)", seen);
	free(out);
}
END_TEST

START_TEST(basic_run_env_jobd_prefix)
{
	/* Only the variables jobd adds are jobd's: another JOBD_* the
	 * submitter gives (JOBD_SOCKET, for a job that calls jobctl) is part
	 * of "the job's whole environment"; a given JOBD_JOB_ID is
	 * overridden by the real one. */
	json_t *job = run_text(&D, "{\"argv\":[\"/usr/bin/env\"],"
				   "\"env\":{\"JOBD_SOCKET\":\"/x/y.sock\","
				   "\"JOBD_JOB_ID\":\"bogus\"}}");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	char *out = output(&D, id);
	char want[64];
	snprintf(want, sizeof(want), "JOBD_JOB_ID=%lld\n", (long long)id);
	ck_assert_msg(strstr(out, want) != NULL, "no %s in: %s", want, out);
	ck_assert_msg(strstr(out, "bogus") == NULL, "given JOBD_JOB_ID kept");
	ck_assert_msg(strstr(out, "JOBD_SOCKET=/x/y.sock\n") != NULL,
		      "the given JOBD_SOCKET was dropped: %s", out);
	free(out);
}
END_TEST

START_TEST(basic_run_env_minimal)
{
	/* The daemon's own environment must not leak into jobs. */
	setenv("JOBD_BASIC_LEAK", "1", 1);
	start(NULL);
	char *out = run_output(&D, "{\"argv\":[\"/usr/bin/env\"]}");
	struct passwd *pw = getpwuid(getuid());
	ck_assert_ptr_nonnull(pw);
	char line[512];
	ck_assert_msg(strstr(out, "PATH=" MIN_PATH "\n") != NULL,
		      "no minimal PATH in: %s", out);
	snprintf(line, sizeof(line), "HOME=%s\n", pw->pw_dir);
	ck_assert_msg(strstr(out, line), "no %s in: %s", line, out);
	snprintf(line, sizeof(line), "USER=%s\n", pw->pw_name);
	ck_assert_msg(strstr(out, line), "no %s in: %s", line, out);
	snprintf(line, sizeof(line), "LOGNAME=%s\n", pw->pw_name);
	ck_assert_msg(strstr(out, line), "no %s in: %s", line, out);
	snprintf(line, sizeof(line), "SHELL=%s\n", pw->pw_shell);
	ck_assert_msg(strstr(out, line), "no %s in: %s", line, out);
	ck_assert(strstr(out, "JOBD_QUEUE=default\n") != NULL);
	ck_assert(strstr(out, "JOBD_ATTEMPT=1\n") != NULL);
	ck_assert(strstr(out, "JOBD_JOB_ID=") != NULL);
	ck_assert_msg(strstr(out, "JOBD_BASIC_LEAK") == NULL,
		      "the daemon's environment leaked into the job");
	free(out);
}
END_TEST

START_TEST(basic_run_env_jobd_vars)
{
	start("[queue other]\nconcurrency = 1\n");
	int64_t id = jd_submit_text(&D,
				    "{\"shell\":\"echo "
				    "$JOBD_JOB_ID:$JOBD_QUEUE:$JOBD_ATTEMPT\","
				    "\"queue\":\"other\"}");
	json_decref(jd_wait(&D, id, 10));
	char *out = output(&D, id);
	char want[64];
	snprintf(want, sizeof(want), "%lld:other:1\n", (long long)id);
	ck_assert_str_eq(out, want);
	free(out);
}
END_TEST

START_TEST(basic_run_cwd)
{
	char *spec;
	ck_assert_int_ge(asprintf(&spec,
				  "{\"argv\":[\"/bin/pwd\"],"
				  "\"cwd\":\"%s\"}",
				  D.dir),
			 0);
	char *out = run_output(&D, spec);
	char want[300];
	snprintf(want, sizeof(want), "%s\n", D.dir);
	ck_assert_str_eq(out, want);
	free(out);
	free(spec);
	out = run_output(&D, "{\"argv\":[\"/bin/pwd\"]}");
	ck_assert_str_eq(out, "/\n");
	free(out);
}
END_TEST

START_TEST(basic_run_stdin_devnull)
{
	/* cat would wait forever on anything but /dev/null. */
	double t0 = jd_now();
	json_t *job = run_text(&D, "{\"argv\":[\"cat\"],\"timeout\":20}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert(jd_now() - t0 < 5);
	json_decref(job);
	char *out = run_output(&D, "{\"shell\":\"readlink /proc/$$/fd/0\"}");
	ck_assert_str_eq(out, "/dev/null\n");
	free(out);
}
END_TEST

START_TEST(basic_run_own_session)
{
	/* Fields 1, 5 and 6 of /proc/PID/stat: pid, pgrp, session. */
	char *out = run_output(&D, "{\"shell\":\"set -- $(cat /proc/$$/stat); "
				   "echo $1 $5 $6\"}");
	long pid, pgrp, sid;
	ck_assert_int_eq(sscanf(out, "%ld %ld %ld", &pid, &pgrp, &sid), 3);
	ck_assert_int_gt(pid, 1);
	ck_assert_msg(pid == sid, "job %ld is not a session leader (sid %ld)",
		      pid, sid);
	ck_assert_int_eq(pid, pgrp);
	ck_assert_int_ne(sid, getsid(0));
	free(out);
}
END_TEST

START_TEST(basic_run_pid_and_rusage)
{
	int64_t id = jd_submit_text(&D, "{\"argv\":[\"sleep\",\"30\"]}");
	ck_assert(jd_poll_state(&D, id, "running", 10));
	json_t *job = jd_get(&D, id);
	pid_t pid = (pid_t)jd_num(job, "pid");
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(kill(pid, 0), 0);
	ck_assert(is_rfc3339_ms(jd_str(job, "started_at")));
	ck_assert(json_is_null(json_object_get(job, "finished_at")));
	json_decref(job);
	json_t *r = jd_req(&D, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)id);
	jd_ok(r);
	json_decref(r);
	job = jd_wait(&D, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "cancelled");
	ck_assert(json_is_null(json_object_get(job, "pid")));
	json_decref(job);

	/* A job that burns some CPU reports it. */
	job = run_text(&D, "{\"shell\":\"i=0; while [ $i -lt 20000 ]; do "
			   "i=$((i+1)); done\"}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_t *ru = json_object_get(job, "rusage");
	ck_assert(json_is_object(ru));
	double cpu = json_number_value(json_object_get(ru, "user")) +
		     json_number_value(json_object_get(ru, "system"));
	ck_assert_msg(cpu > 0, "rusage shows no CPU time");
	ck_assert_int_gt(jd_num(ru, "max_rss_kb"), 0);
	ck_assert(json_number_value(json_object_get(job, "duration")) > 0);
	json_decref(job);
}
END_TEST

void
basic_add_run(Suite *s, TCase *configured)
{
	TCase *tc;

	tc = basic_tcase("run", 30);
	tcase_add_test(tc, basic_run_exit_code);
	tcase_add_test(tc, basic_run_spawn_error);
	tcase_add_test(tc, basic_run_env_given_is_whole);
	tcase_add_test(tc, basic_run_env_jobd_prefix);
	tcase_add_test(tc, basic_run_cwd);
	tcase_add_test(tc, basic_run_stdin_devnull);
	tcase_add_test(tc, basic_run_own_session);
	tcase_add_test(tc, basic_run_pid_and_rusage);
	suite_add_tcase(s, tc);

	tcase_add_test(configured, basic_run_env_minimal);
	tcase_add_test(configured, basic_run_env_jobd_vars);
}
