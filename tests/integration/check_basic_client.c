/*
 * basic_suite's clients: jobctl (SPEC 8: submit, wait, logs, errors,
 * batches, env and cwd) and the client library.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "basic.h"
#include "harness.h"
#include "jobd/client.h"

/* True when s is one line ending in a newline, made of digits only. */
static bool
is_id_line(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || s[n - 1] != '\n')
		return false;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* ---- jobctl ---- */

/* Parses an id printed by jobctl submit. */
static int64_t
printed_id(const char *out)
{
	ck_assert_msg(is_id_line(out), "jobctl submit printed '%s'", out);
	return strtoll(out, NULL, 10);
}

START_TEST(basic_jobctl_submit_wait_logs)
{
	char *out, *err;
	int rc = jd_jobctl(&D, NULL, &out, &err, "submit", "--", "echo", "hi",
			   NULL);
	ck_assert_msg(rc == 0, "submit exited %d: %s", rc, err);
	int64_t id = printed_id(out);
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	free(out);
	free(err);
	rc = jd_jobctl(&D, NULL, NULL, NULL, "wait", ids, NULL);
	ck_assert_int_eq(rc, 0);
	rc = jd_jobctl(&D, NULL, &out, NULL, "logs", ids, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "hi\n");
	free(out);
	rc = jd_jobctl(&D, NULL, &out, NULL, "get", ids, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "succeeded") != NULL, "get printed %s", out);
	free(out);
	rc = jd_jobctl(&D, NULL, &out, NULL, "--json", "get", ids, NULL);
	ck_assert_int_eq(rc, 0);
	json_error_t e;
	json_t *v = json_loads(out, 0, &e);
	ck_assert_msg(v != NULL, "--json get printed no JSON: %s", out);
	json_t *job = json_object_get(v, "job");
	ck_assert_int_eq(jd_num(job, "id"), id);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(v);
	free(out);
	/* The daemon agrees. */
	job = jd_get(&D, id);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
}
END_TEST

START_TEST(basic_jobctl_wait_status)
{
	char *out;
	int rc = jd_jobctl(&D, NULL, &out, NULL, "submit", "--", "false", NULL);
	ck_assert_int_eq(rc, 0);
	int64_t id = printed_id(out);
	free(out);
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	rc = jd_jobctl(&D, NULL, NULL, NULL, "wait", ids, NULL);
	ck_assert_int_eq(rc, 1);

	rc = jd_jobctl(&D, NULL, &out, NULL, "submit", "--", "sleep", "30",
		       NULL);
	ck_assert_int_eq(rc, 0);
	id = printed_id(out);
	free(out);
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	double t0 = jd_now();
	rc = jd_jobctl(&D, NULL, NULL, NULL, "wait", ids, "--timeout", "0.2",
		       NULL);
	ck_assert_int_eq(rc, 124);
	ck_assert(jd_now() - t0 < 5);
	rc = jd_jobctl(&D, NULL, NULL, NULL, "cancel", ids, NULL);
	ck_assert_int_eq(rc, 0);

	rc = jd_jobctl(&D, NULL, NULL, NULL, "submit", "--wait", "--", "sh",
		       "-c", "exit 3", NULL);
	ck_assert_int_eq(rc, 3);
	rc = jd_jobctl(&D, NULL, NULL, NULL, "submit", "--wait", "--", "true",
		       NULL);
	ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(basic_jobctl_errors)
{
	char *out, *err;
	int rc = jd_jobctl(&D, NULL, &out, &err, "get", "999999", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_str_eq(out, "");
	ck_assert_msg(starts_with(err, "jobctl: not_found: "), "stderr: '%s'",
		      err);
	ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1,
		      "stderr is not one line: '%s'", err);
	free(out);
	free(err);

	static const char *const usage[][4] = {
		{"frobnicate", NULL}, {"submit", NULL},
		{"get", NULL},	      {"get", "notanumber", NULL},
		{"wait", NULL},	      {"submit", "--bogus-flag", "--", "true"},
	};
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		rc = jd_jobctl(&D, NULL, NULL, &err, usage[i][0], usage[i][1],
			       usage[i][2], usage[i][3], NULL);
		ck_assert_msg(rc == 2, "jobctl %s %s: exit %d", usage[i][0],
			      usage[i][1] ? usage[i][1] : "", rc);
		ck_assert_msg(strlen(err) > 0, "no usage message");
		free(err);
	}
	/* Nothing was submitted by the usage errors. */
	ck_assert_int_eq(count_jobs(&D), 0);

	/* No daemon at that path: 3. */
	struct jd nowhere = D;
	snprintf(nowhere.sock, sizeof(nowhere.sock), "%s/nope.sock", D.dir);
	rc = jd_jobctl(&nowhere, NULL, NULL, &err, "ping", NULL);
	ck_assert_int_eq(rc, 3);
	ck_assert_msg(starts_with(err, "jobctl: "), "stderr: '%s'", err);
	free(err);
	rc = jd_jobctl(&nowhere, NULL, NULL, NULL, "submit", "--", "true",
		       NULL);
	ck_assert_int_eq(rc, 3);
}
END_TEST

START_TEST(basic_jobctl_batch)
{
	char *out, *err;
	int rc = jd_jobctl(&D,
			   "{\"argv\":[\"echo\",\"one\"]}\n"
			   "{\"shell\":\"echo two\"}\n"
			   "{\"argv\":[\"echo\",\"three\"],\"name\":\"n3\"}\n",
			   &out, &err, "submit", "--batch", "-", NULL);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	static const char *const want[] = {"one\n", "two\n", "three\n"};
	char *save = NULL;
	char *line = strtok_r(out, "\n", &save);
	int n = 0;
	for (; line; line = strtok_r(NULL, "\n", &save), n++) {
		ck_assert_int_lt(n, 3);
		char buf[64];
		snprintf(buf, sizeof(buf), "%s\n", line);
		int64_t id = printed_id(buf);
		json_t *job = jd_wait(&D, id, 10);
		ck_assert_str_eq(jd_str(job, "state"), "succeeded");
		json_decref(job);
		char *o = output(&D, id);
		ck_assert_str_eq(o, want[n]);
		free(o);
	}
	ck_assert_int_eq(n, 3);
	free(out);
	free(err);
	/* A bad line refuses the batch: an invalid value, status 2. */
	rc = jd_jobctl(&D, "{\"argv\":[\"true\"]}\n{\"argv\":[]}\n", NULL, NULL,
		       "submit", "--batch", "-", NULL);
	ck_assert_int_eq(rc, 2);
	ck_assert_int_eq(count_jobs(&D), 3);
}
END_TEST

START_TEST(basic_jobctl_env_cwd)
{
	char mark[64];
	snprintf(mark, sizeof(mark), "mark-%d", (int)getpid());
	setenv("BASIC_MARK", mark, 1);
	char cwd[4096];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	char *out;
	int rc = jd_jobctl(&D, NULL, &out, NULL, "submit", "--", "/bin/sh",
			   "-c", "echo \"$BASIC_MARK\"; pwd -P", NULL);
	ck_assert_int_eq(rc, 0);
	int64_t id = printed_id(out);
	free(out);
	json_decref(jd_wait(&D, id, 10));
	out = output(&D, id);
	char want[4200];
	snprintf(want, sizeof(want), "%s\n%s\n", mark, cwd);
	ck_assert_str_eq(out, want);
	free(out);

	rc = jd_jobctl(&D, NULL, &out, NULL, "submit", "--no-env", "--",
		       "/bin/sh", "-c",
		       "echo \"[$BASIC_MARK]\"; "
		       "echo $PATH",
		       NULL);
	ck_assert_int_eq(rc, 0);
	id = printed_id(out);
	free(out);
	json_decref(jd_wait(&D, id, 10));
	out = output(&D, id);
	ck_assert_str_eq(out, "[]\n" MIN_PATH "\n");
	free(out);
	unsetenv("BASIC_MARK");
}
END_TEST

/* ---- the client library ---- */

START_TEST(basic_client_library)
{
	struct jobd_client *c = jobd_client_connect(D.sock);
	ck_assert_ptr_nonnull(c);
	json_t *res = jobd_client_cmd(c, "ping", NULL);
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(jd_num(res, "pid"), D.pid);
	json_decref(res);

	json_t *spec = jd_json("{\"argv\":[\"echo\",\"lib\"]}");
	int64_t id = 0;
	int dup = -1;
	ck_assert_int_eq(jobd_client_submit(c, spec, &id, &dup), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(dup, 0);
	json_decref(spec);
	res = jobd_client_wait(c, &id, 1, 10);
	ck_assert_ptr_nonnull(res);
	json_t *job = json_array_get(json_object_get(res, "jobs"), 0);
	ck_assert_int_eq(jd_num(job, "id"), id);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(res);
	job = jobd_client_get(c, id);
	ck_assert_ptr_nonnull(job);
	ck_assert_int_eq(jd_num(job, "id"), id);
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	json_decref(job);
	char *out = output(&D, id);
	ck_assert_str_eq(out, "lib\n");
	free(out);

	/* Errors. */
	ck_assert_ptr_null(jobd_client_get(c, 999999));
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_NOT_FOUND);
	ck_assert_str_eq(jobd_client_error_name(c), "not_found");
	spec = jd_json("{\"argv\":[]}");
	ck_assert_int_eq(jobd_client_submit(c, spec, &id, NULL), -1);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_INVALID_ARGUMENT);
	json_decref(spec);

	/* Unique jobs answer the live job's id. */
	spec = jd_json("{\"argv\":[\"sleep\",\"30\"],\"unique_key\":\"lib\"}");
	int64_t s1 = 0, s2 = 0;
	ck_assert_int_eq(jobd_client_submit(c, spec, &s1, &dup), 0);
	ck_assert_int_eq(dup, 0);
	ck_assert_int_eq(jobd_client_submit(c, spec, &s2, &dup), 0);
	ck_assert_int_eq(dup, 1);
	ck_assert_int_eq(s1, s2);
	json_decref(spec);
	ck_assert_ptr_null(jobd_client_wait(c, &s1, 1, 0.2));
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_TIMEOUT);
	/* The connection still works after daemon errors. */
	res = jobd_client_cmd(c, "cancel",
			      json_pack("{s:I}", "job_id", (json_int_t)s1));
	ck_assert_ptr_nonnull(res);
	json_decref(res);
	jobd_client_close(c);

	errno = 0;
	char nope[400];
	snprintf(nope, sizeof(nope), "%s/nope.sock", D.dir);
	ck_assert_ptr_null(jobd_client_connect(nope));
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

void
basic_add_client(Suite *s)
{
	TCase *tc;

	tc = basic_tcase("jobctl", 30);
	tcase_add_test(tc, basic_jobctl_submit_wait_logs);
	tcase_add_test(tc, basic_jobctl_wait_status);
	tcase_add_test(tc, basic_jobctl_errors);
	tcase_add_test(tc, basic_jobctl_batch);
	tcase_add_test(tc, basic_jobctl_env_cwd);
	tcase_add_test(tc, basic_client_library);
	suite_add_tcase(s, tc);
}
