/*
 * basic_suite: the walking skeleton end to end against a real jobd: the
 * control protocol (SPEC 5) and a 10,000-job smoke run here, and the
 * shared fixture and helpers (basic.h) of the suite's other files: jobs,
 * submit/get/list/wait/logs (SPEC 5.1, 5.2: check_basic_jobs.c), how a
 * job runs (SPEC 2.3: check_basic_run.c), jobctl (SPEC 8) and the client
 * library (check_basic_client.c), bad input and the connection limits
 * (SPEC 5: check_basic_bad.c).
 * Every test starts its own daemon through the checked fixture (or its own
 * config) and stops it in the teardown (jd_test_teardown), which also fails
 * the test when the daemon's log shows a sanitizer report (JD_SHOW_LOG=1
 * prints every log).  Nothing sleeps blindly: every wait is a poll with a
 * deadline.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "basic.h"
#include "harness.h"
#include "jobd/client.h"

Suite *basic_suite(void);

/* The one daemon of the current test (each test runs in its own fork). */
struct jd D;

static void
setup_default(void)
{
	start(NULL);
}

TCase *
basic_tcase(const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

/* ---- helpers ---- */

/* The next line on fd as a JSON object (new ref); fails on timeout, EOF
 * or a line that is not one JSON object. */
json_t *
raw_recv(int fd, int timeout_ms)
{
	char *line = jd_read_line(fd, timeout_ms);
	ck_assert_msg(line != NULL, "no response line within %d ms",
		      timeout_ms);
	json_error_t e;
	json_t *v = json_loads(line, 0, &e);
	ck_assert_msg(json_is_object(v), "response is not one object: %s",
		      line);
	free(line);
	return v;
}

/* A new connection or fail. */
int
conn(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Submits spec text, waits for the job to end (10 s), returns the job. */
json_t *
run_text(struct jd *d, const char *spec)
{
	int64_t id = jd_submit_text(d, spec);
	json_t *job = jd_wait(d, id, 10);
	ck_assert_ptr_nonnull(job);
	ck_assert_int_eq(jd_num(job, "id"), id);
	return job;
}

/* The logs result of job id from offset with max_bytes (0: default). */
json_t *
logs(struct jd *d, int64_t id, json_int_t offset, json_int_t max_bytes)
{
	json_t *req = json_pack("{s:s,s:I,s:I}", "cmd", "logs", "job_id",
				(json_int_t)id, "offset", offset);
	if (max_bytes > 0)
		json_object_set_new(req, "max_bytes", json_integer(max_bytes));
	json_t *r = jd_call(d, req);
	json_t *res = json_incref(jd_ok(r));
	json_decref(r);
	return res;
}

/* The whole captured output of job id (caller frees). */
char *
output(struct jd *d, int64_t id)
{
	json_t *l = logs(d, id, 0, 0);
	char *s = strdup(jd_str(l, "data"));
	json_decref(l);
	return s;
}

/* The ids of list(filter) with every page followed (array, new ref). */
json_t *
list_all(struct jd *d, const char *filter, json_int_t limit)
{
	json_t *ids = json_array();
	json_int_t after = 0;
	for (int page = 0; page < 1000; page++) {
		json_t *req = jd_json(filter);
		json_object_set_new(req, "cmd", json_string("list"));
		if (limit > 0)
			json_object_set_new(req, "limit", json_integer(limit));
		if (after > 0)
			json_object_set_new(req, "after_id",
					    json_integer(after));
		json_t *r = jd_call(d, req);
		json_t *res = jd_ok(r);
		json_t *jobs = json_object_get(res, "jobs");
		ck_assert(json_is_array(jobs));
		if (limit > 0)
			ck_assert_int_le(json_array_size(jobs), limit);
		size_t i;
		json_t *j;
		json_array_foreach (jobs, i, j) {
			json_int_t id = jd_num(j, "id");
			ck_assert_msg(id > after,
				      "list not ascending: %lld "
				      "after %lld",
				      (long long)id, (long long)after);
			after = id;
			json_array_append_new(ids, json_integer(id));
		}
		json_t *next = json_object_get(res, "next_after_id");
		bool more = json_is_integer(next);
		if (more)
			ck_assert_int_eq(json_integer_value(next), after);
		size_t n = json_array_size(jobs);
		json_decref(r);
		if (!more || n == 0)
			return ids;
	}
	ck_abort_msg("list paging did not end");
	return NULL;
}

/* Number of jobs list reports with no filter. */
size_t
count_jobs(struct jd *d)
{
	json_t *ids = list_all(d, "{}", 10000);
	size_t n = json_array_size(ids);
	json_decref(ids);
	return n;
}

/* "2026-11-26T10:34:12.123Z" */
bool
is_rfc3339_ms(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (s == NULL || strlen(s) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	}
	return true;
}

bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- protocol ---- */

START_TEST(basic_ping_fields)
{
	json_t *r = jd_req(&D, "{s:s}", "cmd", "ping");
	json_t *res = jd_ok(r);
	ck_assert(json_is_string(json_object_get(res, "version")));
	ck_assert_str_ne(jd_str(res, "version"), "");
	ck_assert_int_eq(jd_num(res, "pid"), D.pid);
	json_t *up = json_object_get(res, "uptime");
	ck_assert(json_is_number(up));
	ck_assert(json_number_value(up) >= 0 && json_number_value(up) < 60);
	json_decref(r);
}
END_TEST

START_TEST(basic_id_echoed)
{
	static const char *const ids[] = {
		"7",	     "-3",   "\"abc\"", "{\"a\":[1,2,{\"b\":null}]}",
		"[1,\"x\"]", "true", "2.5",
	};
	int fd = conn(&D);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "{\"id\":%s,\"cmd\":\"ping\"}\n",
			 ids[i]);
		jd_send(fd, line);
		json_t *r = raw_recv(fd, 5000);
		json_t *want = jd_json(ids[i]);
		ck_assert_msg(json_equal(json_object_get(r, "id"), want),
			      "id %s not echoed", ids[i]);
		ck_assert(json_is_true(json_object_get(r, "ok")));
		json_decref(want);
		json_decref(r);
	}
	jd_send(fd, "{\"cmd\":\"ping\"}\n");
	json_t *r = raw_recv(fd, 5000);
	ck_assert_msg(json_is_null(json_object_get(r, "id")),
		      "absent id must come back as null");
	ck_assert(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	/* An error echoes the id too. */
	jd_send(fd, "{\"id\":\"e1\",\"cmd\":\"get\",\"job_id\":999999}\n");
	r = raw_recv(fd, 5000);
	ck_assert_str_eq(jd_str(r, "id"), "e1");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	close(fd);
}
END_TEST

START_TEST(basic_pipelined_in_order)
{
	int64_t job = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	char *all = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&all, &len);
	for (int i = 1; i <= 50; i++) {
		switch (i % 5) {
		case 0:
			fprintf(m,
				"{\"id\":%d,\"cmd\":\"submit\",\"job\":"
				"{\"argv\":[\"true\"],\"delay\":3600}}\n",
				i);
			break;
		case 1:
			fprintf(m,
				"{\"id\":%d,\"cmd\":\"get\",\"job_id\":%lld}"
				"\n",
				i, (long long)job);
			break;
		case 2:
			fprintf(m,
				"{\"id\":%d,\"cmd\":\"get\",\"job_id\":"
				"999999}\n",
				i);
			break;
		case 3:
			fprintf(m, "{\"id\":%d,\"cmd\":\"list\",\"limit\":2}\n",
				i);
			break;
		default:
			fprintf(m, "{\"id\":%d,\"cmd\":\"ping\"}\n", i);
			break;
		}
	}
	fclose(m);
	int fd = conn(&D);
	ck_assert(jd_write(fd, all, len));
	free(all);
	for (int i = 1; i <= 50; i++) {
		json_t *r = raw_recv(fd, 10000);
		ck_assert_msg(jd_num(r, "id") == i, "response %d has id %lld",
			      i, (long long)jd_num(r, "id"));
		bool ok = json_is_true(json_object_get(r, "ok"));
		ck_assert_msg(ok == (i % 5 != 2), "response %d: ok %d", i, ok);
		json_decref(r);
	}
	close(fd);
}
END_TEST

START_TEST(basic_response_one_line)
{
	/* A name with newlines and non-ASCII comes back escaped, one line. */
	int64_t id = jd_submit_text(&D, "{\"argv\":[\"true\"],\"delay\":3600,"
					"\"name\":\"a\\nb\\r\\nc \\u00e9\"}");
	int fd = conn(&D);
	char line[128];
	snprintf(line, sizeof(line),
		 "{\"id\":1,\"cmd\":\"get\",\"job_id\":%lld}"
		 "\n{\"id\":2,\"cmd\":\"ping\"}\n",
		 (long long)id);
	jd_send(fd, line);
	json_t *r = raw_recv(fd, 5000);
	ck_assert_int_eq(jd_num(r, "id"), 1);
	ck_assert_str_eq(jd_str(json_object_get(jd_ok(r), "job"), "name"),
			 "a\nb\r\nc \xc3\xa9");
	json_decref(r);
	r = raw_recv(fd, 5000);
	ck_assert_int_eq(jd_num(r, "id"), 2);
	json_decref(r);
	close(fd);
}
END_TEST

/* ---- throughput ---- */

/* VmHWM of pid in kB, or -1. */
static long
peak_rss_kb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	char *s = jd_slurp(path);
	if (s == NULL)
		return -1;
	char *p = strstr(s, "VmHWM:");
	long kb = p ? strtol(p + 6, NULL, 10) : -1;
	free(s);
	return kb;
}

START_TEST(basic_throughput_10k)
{
	/* On PostgreSQL a batch costs a statement and a round trip per job
	 * for now: a tenth of it says the same there. */
	const int N = jd_on_postgres() ? 1000 : 10000;
	json_t *jobs = json_array();
	for (int i = 0; i < N; i++)
		json_array_append_new(jobs, jd_json("{\"argv\":[\"true\"]}"));
	double t0 = jd_now();
	json_t *r = jd_call(
		&D, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", jobs));
	json_t *ids = json_object_get(jd_ok(r), "ids");
	ck_assert_int_eq(json_array_size(ids), N);
	double t_submit = jd_now() - t0;
	json_t *req = json_pack("{s:s,s:O,s:f}", "cmd", "wait", "job_ids", ids,
				"timeout", 120.0);
	json_decref(r);
	r = jd_call_fd(&D, D.fd, req, 150000);
	json_decref(req);
	double wall = jd_now() - t0;
	json_t *done = json_object_get(jd_ok(r), "jobs");
	ck_assert_int_eq(json_array_size(done), N);
	size_t i;
	json_t *j;
	json_array_foreach (done, i, j) {
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
			      "job %lld ended %s", (long long)jd_num(j, "id"),
			      jd_str(j, "state"));
		ck_assert_int_eq(jd_num(j, "exit_code"), 0);
	}
	json_decref(r);
	long kb = peak_rss_kb(D.pid);
	fprintf(stderr,
		"basic_throughput_10k: %d jobs on %s, submit %.2f s, all "
		"succeeded after %.2f s (%.0f jobs/s); jobd peak RSS (VmHWM) "
		"%ld kB\n",
		N, jd_on_postgres() ? "PostgreSQL" : "SQLite", t_submit, wall,
		N / wall, kb);
	ck_assert_int_gt(kb, 0);
	json_t *ids2 = list_all(&D, "{\"state\":\"succeeded\"}", 10000);
	ck_assert_int_eq(json_array_size(ids2), N);
	json_decref(ids2);
}
END_TEST

Suite *
basic_suite(void)
{
	Suite *s = suite_create("basic");
	TCase *tc, *configured;

	tc = basic_tcase("protocol", 30);
	tcase_add_test(tc, basic_ping_fields);
	tcase_add_test(tc, basic_id_echoed);
	tcase_add_test(tc, basic_pipelined_in_order);
	tcase_add_test(tc, basic_response_one_line);
	suite_add_tcase(s, tc);

	/* These tests start their own daemon with a config of their own. */
	configured = tcase_create("configured");
	tcase_add_checked_fixture(configured, NULL, jd_test_teardown);
	tcase_set_timeout(configured, 30);
	suite_add_tcase(s, configured);

	basic_add_jobs(s, configured);
	basic_add_run(s, configured);
	basic_add_client(s);
	basic_add_bad_input(s, configured);

	tc = basic_tcase("throughput", 240);
	tcase_add_test(tc, basic_throughput_10k);
	suite_add_tcase(s, tc);

	return s;
}
