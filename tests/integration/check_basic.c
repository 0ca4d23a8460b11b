/*
 * basic_suite: the walking skeleton end to end against a real jobd: the
 * control protocol (SPEC 5), submit/get/list/wait/logs (SPEC 5.1, 5.2),
 * how a job runs (SPEC 2.3), jobctl (SPEC 8), the client library, bad
 * input and the connection limits (SPEC 5), and a 10,000-job smoke run.
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

#include "harness.h"
#include "jobd/client.h"

Suite *basic_suite(void);

/* Every daemon here gets this much config; a test may add to it. */
#define BASE_CONF \
	"; basic_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* The minimal PATH of SPEC 2.1. */
#define MIN_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The one daemon of the current test (each test runs in its own fork). */
static struct jd D;

/* Starts the test's daemon with BASE_CONF plus extra (may be NULL). */
static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

static void
setup_default(void)
{
	start(NULL);
}

/* ---- helpers ---- */

/* The next line on fd as a JSON object (new ref); fails on timeout, EOF
 * or a line that is not one JSON object. */
static json_t *
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

/* True when the peer closes fd within timeout_ms (lines before the end
 * are dropped). */
static bool
raw_eof(int fd, int timeout_ms)
{
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - jd_now()) * 1000);
		if (left <= 0)
			return false;
		char *line = jd_read_line(fd, left);
		if (line == NULL)
			return jd_now() < deadline;
		free(line);
	}
}

/* A new connection or fail. */
static int
conn(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Pings on fd and fails unless the answer is ok. */
static void
ping_fd(struct jd *d, int fd)
{
	json_t *req = json_pack("{s:s}", "cmd", "ping");
	json_t *r = jd_call_fd(d, fd, req, 5000);
	json_decref(req);
	jd_ok(r);
	json_decref(r);
}

/* Fails the test with the last line of the daemon's log. */
static void
died(struct jd *d, const char *when)
{
	char *log = jd_slurp(d->log);
	const char *last = "";
	if (log) {
		size_t n = strlen(log);
		while (n > 0 && log[n - 1] == '\n')
			log[--n] = '\0';
		char *nl = strrchr(log, '\n');
		last = nl ? nl + 1 : log;
	}
	ck_abort_msg("jobd died %s: %s", when, last);
}

/* Sends {"cmd": cmd} on the harness's connection and returns the ok
 * result's response (new ref); fails with the daemon's last log line
 * when the daemon is gone. */
static json_t *
checked_call(struct jd *d, const char *cmd)
{
	char req[128];
	snprintf(req, sizeof(req), "{\"id\":\"chk\",\"cmd\":\"%s\"}\n", cmd);
	if (!jd_write(d->fd, req, strlen(req)))
		died(d, "after the clients left");
	for (;;) {
		char *line = jd_read_line(d->fd, 5000);
		if (line == NULL)
			died(d, "after the clients left");
		json_t *r = json_loads(line, 0, NULL);
		free(line);
		if (strcmp(jd_str(r, "id"), "chk") == 0) {
			jd_ok(r);
			return r;
		}
		json_decref(r);
	}
}

/* Waits (5 s) until the daemon has closed every connection but the
 * harness's own (stats.connections), then checks that it still serves. */
static void
settle(struct jd *d)
{
	double deadline = jd_now() + 5;
	json_int_t n = -1;
	while (jd_now() < deadline) {
		json_t *r = checked_call(d, "stats");
		n = jd_num(json_object_get(r, "result"), "connections");
		json_decref(r);
		if (n == 1) {
			/* A few more round trips, so a crash on the way out
			 * of the last connection shows here. */
			for (int i = 0; i < 3; i++) {
				json_decref(checked_call(d, "ping"));
				poll(NULL, 0, 20);
			}
			ck_assert(jd_alive(d));
			return;
		}
		poll(NULL, 0, 10);
	}
	ck_abort_msg("still %lld connections after 5 s", (long long)n);
}

/* Submits spec text, waits for the job to end (10 s), returns the job. */
static json_t *
run_text(struct jd *d, const char *spec)
{
	int64_t id = jd_submit_text(d, spec);
	json_t *job = jd_wait(d, id, 10);
	ck_assert_ptr_nonnull(job);
	ck_assert_int_eq(jd_num(job, "id"), id);
	return job;
}

/* The logs result of job id from offset with max_bytes (0: default). */
static json_t *
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
static char *
output(struct jd *d, int64_t id)
{
	json_t *l = logs(d, id, 0, 0);
	char *s = strdup(jd_str(l, "data"));
	json_decref(l);
	return s;
}

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

/* The ids of list(filter) with every page followed (array, new ref). */
static json_t *
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

/* True when ids (array of integers) holds exactly want[0..n). */
static bool
ids_are(const json_t *ids, const int64_t *want, size_t n)
{
	if (json_array_size(ids) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_integer_value(json_array_get(ids, i)) != want[i])
			return false;
	return true;
}

/* Number of jobs list reports with no filter. */
static size_t
count_jobs(struct jd *d)
{
	json_t *ids = list_all(d, "{}", 10000);
	size_t n = json_array_size(ids);
	json_decref(ids);
	return n;
}

/* "2026-11-26T10:34:12.123Z" */
static bool
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

static bool
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

/* ---- submit / get / list / wait ---- */

START_TEST(basic_submit_single)
{
	json_t *r = jd_req(&D, "{s:s,s:{s:[s,s]}}", "cmd", "submit", "job",
			   "argv", "echo", "x");
	json_t *res = jd_ok(r);
	ck_assert(json_is_integer(json_object_get(res, "id")));
	ck_assert_int_gt(jd_num(res, "id"), 0);
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	int64_t id = jd_num(res, "id");
	json_decref(r);
	json_t *job = jd_get(&D, id);
	ck_assert_int_eq(jd_num(job, "id"), id);
	ck_assert_str_eq(jd_str(job, "queue"), "default");
	json_decref(job);
	/* Ids grow. */
	int64_t id2 = jd_submit_text(&D, "{\"shell\":\"true\"}");
	ck_assert_int_gt(id2, id);
}
END_TEST

START_TEST(basic_submit_batch)
{
	json_t *r = jd_call(
		&D, jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"shell\":\"exit 0\",\"unique_key\":\"k\","
			    "\"delay\":3600},"
			    "{\"argv\":[\"true\"],\"queue\":\"default\"},"
			    "{\"argv\":[\"false\"],\"unique_key\":\"k\"}"
			    "]}"));
	json_t *res = jd_ok(r);
	json_t *ids = json_object_get(res, "ids");
	json_t *dups = json_object_get(res, "duplicates");
	ck_assert_int_eq(json_array_size(ids), 4);
	ck_assert_int_eq(json_array_size(dups), 4);
	int64_t id[4];
	for (size_t i = 0; i < 4; i++)
		id[i] = json_integer_value(json_array_get(ids, i));
	ck_assert_int_gt(id[0], 0);
	ck_assert_int_gt(id[1], id[0]);
	ck_assert_int_gt(id[2], id[1]);
	/* The repeated unique_key is a duplicate of its first use. */
	ck_assert_int_eq(id[3], id[1]);
	ck_assert(json_is_false(json_array_get(dups, 0)));
	ck_assert(json_is_false(json_array_get(dups, 1)));
	ck_assert(json_is_false(json_array_get(dups, 2)));
	ck_assert(json_is_true(json_array_get(dups, 3)));
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 3);
	json_t *job = jd_get(&D, id[1]);
	ck_assert_str_eq(jd_str(job, "shell"), "exit 0");
	ck_assert_str_eq(jd_str(job, "state"), "scheduled");
	json_decref(job);
}
END_TEST

START_TEST(basic_submit_batch_all_or_nothing)
{
	jd_submit_text(&D, "{\"argv\":[\"true\"],\"delay\":3600}");
	ck_assert_int_eq(count_jobs(&D), 1);
	static const char *const bad[] = {
		/* the last spec is invalid */
		"[{\"argv\":[\"true\"]},{\"argv\":[\"true\"]},{\"argv\":[]}]",
		/* the first */
		"[{\"argv\":\"true\"},{\"argv\":[\"true\"]}]",
		/* an unknown field in the middle */
		"[{\"argv\":[\"true\"]},{\"argv\":[\"true\"],\"x\":1},"
		"{\"argv\":[\"true\"]}]",
		/* a spec that is not an object */
		"[{\"argv\":[\"true\"]},42]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *req = json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jd_json(bad[i]));
		json_t *r = jd_call(&D, req);
		ck_assert_msg(strcmp(jd_err(r), "invalid_argument") == 0,
			      "batch %zu: got '%s'", i, jd_err(r));
		json_decref(r);
		ck_assert_msg(count_jobs(&D) == 1, "batch %zu stored jobs", i);
	}
	/* An unknown queue in the batch: unknown_queue, nothing stored. */
	json_t *r = jd_call(
		&D, jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"argv\":[\"true\"],\"queue\":\"nope\"}]}"));
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 1);
	/* A dependency on a missing id anywhere in the batch. */
	r = jd_call(&D,
		    jd_json("{\"cmd\":\"submit\",\"jobs\":["
			    "{\"argv\":[\"true\"]},"
			    "{\"argv\":[\"true\"],\"depends_on\":[999999]}]}"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	ck_assert_int_eq(count_jobs(&D), 1);
}
END_TEST

static const char *const job_fields[] = {
	"id",		"queue",
	"name",		"cwd",
	"priority",	"state",
	"reason",	"error",
	"exit_code",	"signal",
	"attempt",	"recoveries",
	"max_attempts", "timeout",
	"kill_grace",	"backoff",
	"depends_on",	"unique_key",
	"uid",		"pid",
	"created_at",	"run_at",
	"started_at",	"finished_at",
	"duration",	"output_truncated",
	"rusage",
};

START_TEST(basic_get_fields)
{
	int64_t dep = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	json_t *spec = json_pack(
		"{s:[s,s],s:s,s:i,s:{s:s},s:[I],s:s,s:i}", "argv", "echo", "hi",
		"name", "n1", "priority", 5, "env", "FOO", "bar", "depends_on",
		(json_int_t)dep, "unique_key", "u1", "max_attempts", 2);
	int64_t id = jd_submit(&D, spec);
	json_t *job = jd_wait(&D, id, 10);
	for (size_t i = 0; i < sizeof(job_fields) / sizeof(job_fields[0]); i++)
		ck_assert_msg(json_object_get(job, job_fields[i]) != NULL,
			      "job object lacks '%s'", job_fields[i]);
	ck_assert_msg(json_object_get(job, "env") == NULL,
		      "env must only come with \"env\": true");
	ck_assert(json_object_get(job, "shell") == NULL);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_str_eq(jd_str(job, "name"), "n1");
	ck_assert_int_eq(jd_num(job, "priority"), 5);
	ck_assert_int_eq(jd_num(job, "max_attempts"), 2);
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	ck_assert_int_eq(jd_num(job, "uid"), getuid());
	ck_assert_str_eq(jd_str(job, "unique_key"), "u1");
	ck_assert_str_eq(jd_str(job, "cwd"), "/");
	ck_assert(json_is_null(json_object_get(job, "reason")));
	ck_assert(json_is_null(json_object_get(job, "pid")));
	ck_assert(json_is_null(json_object_get(job, "signal")));
	ck_assert(json_is_false(json_object_get(job, "output_truncated")));
	json_t *argv = json_object_get(job, "argv");
	ck_assert_int_eq(json_array_size(argv), 2);
	ck_assert_str_eq(json_string_value(json_array_get(argv, 1)), "hi");
	json_t *deps = json_object_get(job, "depends_on");
	ck_assert_int_eq(json_array_size(deps), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(deps, 0)), dep);
	ck_assert(json_is_number(json_object_get(job, "timeout")));
	ck_assert(json_is_number(json_object_get(job, "kill_grace")));
	ck_assert(json_is_number(json_object_get(job, "duration")));
	json_t *bo = json_object_get(job, "backoff");
	ck_assert(json_is_object(bo));
	static const char *const bof[] = {"base", "factor", "max", "jitter"};
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(json_is_number(json_object_get(bo, bof[i])),
			      "backoff lacks %s", bof[i]);
	json_t *ru = json_object_get(job, "rusage");
	ck_assert(json_is_number(json_object_get(ru, "user")));
	ck_assert(json_is_number(json_object_get(ru, "system")));
	ck_assert(json_is_integer(json_object_get(ru, "max_rss_kb")));
	static const char *const times[] = {"created_at", "run_at",
					    "started_at", "finished_at"};
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(is_rfc3339_ms(jd_str(job, times[i])),
			      "%s is '%s'", times[i], jd_str(job, times[i]));
	ck_assert_str_le(jd_str(job, "created_at"), jd_str(job, "started_at"));
	ck_assert_str_le(jd_str(job, "started_at"), jd_str(job, "finished_at"));
	json_decref(job);

	/* "env": true adds the stored env. */
	json_t *r = jd_req(&D, "{s:s,s:I,s:b}", "cmd", "get", "job_id",
			   (json_int_t)id, "env", 1);
	json_t *env = json_object_get(json_object_get(jd_ok(r), "job"), "env");
	ck_assert(json_is_object(env));
	ck_assert_str_eq(jd_str(env, "FOO"), "bar");
	json_decref(r);

	/* A shell job has shell and no argv; one that never ran has nulls. */
	id = jd_submit_text(&D, "{\"shell\":\"echo hi\",\"delay\":3600}");
	job = jd_get(&D, id);
	ck_assert_str_eq(jd_str(job, "shell"), "echo hi");
	ck_assert(json_object_get(job, "argv") == NULL);
	ck_assert_str_eq(jd_str(job, "state"), "scheduled");
	ck_assert(json_is_null(json_object_get(job, "started_at")));
	ck_assert(json_is_null(json_object_get(job, "finished_at")));
	ck_assert(json_is_null(json_object_get(job, "reason")));
	ck_assert(json_is_null(json_object_get(job, "exit_code")));
	ck_assert(json_is_null(json_object_get(job, "unique_key")));
	ck_assert(is_rfc3339_ms(jd_str(job, "run_at")));
	ck_assert_str_gt(jd_str(job, "run_at"), jd_str(job, "created_at"));
	json_decref(job);
}
END_TEST

START_TEST(basic_get_errors)
{
	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "get", "job_id", 999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert(json_is_string(
		json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
	r = jd_req(&D, "{s:s}", "cmd", "get");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s}", "cmd", "get", "job_id", "1");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
}
END_TEST

START_TEST(basic_list_filters)
{
	start("[queue other]\nconcurrency = 2\n");
	int64_t ok1 = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	int64_t bad = jd_submit_text(&D, "{\"argv\":[\"false\"],\"queue\":"
				      "\"other\"}");
	int64_t later = jd_submit_text(&D, "{\"argv\":[\"true\"],\"delay\":3600,"
					"\"queue\":\"other\"}");
	int64_t ok2 = jd_submit_text(&D, "{\"argv\":[\"true\"],\"queue\":"
				      "\"other\"}");
	int64_t later2 = jd_submit_text(&D, "{\"argv\":[\"true\"],"
					 "\"delay\":3600}");
	json_decref(jd_wait(&D, ok1, 10));
	json_decref(jd_wait(&D, bad, 10));
	json_decref(jd_wait(&D, ok2, 10));

	json_t *ids = list_all(&D, "{}", 0);
	int64_t all[] = {ok1, bad, later, ok2, later2};
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);
	ids = list_all(&D, "{\"queue\":\"other\"}", 0);
	int64_t other[] = {bad, later, ok2};
	ck_assert(ids_are(ids, other, 3));
	json_decref(ids);
	ids = list_all(&D, "{\"state\":\"scheduled\"}", 0);
	int64_t sched[] = {later, later2};
	ck_assert(ids_are(ids, sched, 2));
	json_decref(ids);
	ids = list_all(&D, "{\"state\":[\"succeeded\",\"failed\"]}", 0);
	int64_t done[] = {ok1, bad, ok2};
	ck_assert(ids_are(ids, done, 3));
	json_decref(ids);
	ids = list_all(&D, "{\"queue\":\"other\",\"state\":[\"succeeded\"]}",
		       0);
	int64_t other_ok[] = {ok2};
	ck_assert(ids_are(ids, other_ok, 1));
	json_decref(ids);
	/* Paging two at a time visits every job once, in order. */
	ids = list_all(&D, "{}", 2);
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);
	ids = list_all(&D, "{}", 1);
	ck_assert(ids_are(ids, all, 5));
	json_decref(ids);

	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "list", "limit", 2);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 2);
	ck_assert_int_eq(jd_num(res, "next_after_id"), bad);
	json_decref(r);
	r = jd_req(&D, "{s:s,s:I}", "cmd", "list", "after_id", (json_int_t)ok2);
	res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 1);
	ck_assert_int_eq(
		jd_num(json_array_get(json_object_get(res, "jobs"), 0), "id"),
		later2);
	json_decref(r);

	r = jd_req(&D, "{s:s,s:s}", "cmd", "list", "state", "bogus");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s}", "cmd", "list", "queue", "nope");
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
}
END_TEST

START_TEST(basic_list_default_limit)
{
	json_t *jobs = json_array();
	for (int i = 0; i < 105; i++)
		json_array_append_new(jobs, jd_json("{\"argv\":[\"true\"],"
						    "\"delay\":3600}"));
	json_t *r = jd_call(
		&D, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", jobs));
	json_t *ids = json_object_get(jd_ok(r), "ids");
	ck_assert_int_eq(json_array_size(ids), 105);
	json_int_t hundredth = json_integer_value(json_array_get(ids, 99));
	json_decref(r);
	r = jd_req(&D, "{s:s}", "cmd", "list");
	json_t *res = jd_ok(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "jobs")), 100);
	ck_assert_int_eq(jd_num(res, "next_after_id"), hundredth);
	json_decref(r);
	ids = list_all(&D, "{}", 0);
	ck_assert_int_eq(json_array_size(ids), 105);
	json_decref(ids);
}
END_TEST

START_TEST(basic_wait)
{
	int64_t a = jd_submit_text(&D, "{\"argv\":[\"true\"]}");
	int64_t b = jd_submit_text(&D, "{\"shell\":\"exit 4\"}");
	json_t *r = jd_req(&D, "{s:s,s:[I,I],s:f}", "cmd", "wait", "job_ids",
			   (json_int_t)a, (json_int_t)b, "timeout", 10.0);
	json_t *jobs = json_object_get(jd_ok(r), "jobs");
	ck_assert_int_eq(json_array_size(jobs), 2);
	json_t *ja = json_array_get(jobs, 0), *jb = json_array_get(jobs, 1);
	ck_assert_int_eq(jd_num(ja, "id"), a);
	ck_assert_int_eq(jd_num(jb, "id"), b);
	ck_assert_str_eq(jd_str(ja, "state"), "succeeded");
	ck_assert_str_eq(jd_str(jb, "state"), "failed");
	ck_assert_int_eq(jd_num(jb, "exit_code"), 4);
	json_decref(r);

	/* Not all terminal within the timeout: error timeout, on time. */
	int64_t s = jd_submit_text(&D, "{\"argv\":[\"sleep\",\"30\"]}");
	double t0 = jd_now();
	r = jd_req(&D, "{s:s,s:[I,I],s:f}", "cmd", "wait", "job_ids",
		   (json_int_t)a, (json_int_t)s, "timeout", 0.3);
	double el = jd_now() - t0;
	ck_assert_str_eq(jd_err(r), "timeout");
	ck_assert_msg(el >= 0.25 && el < 3, "wait took %.2f s", el);
	json_decref(r);
	/* A missing id is not_found. */
	r = jd_req(&D, "{s:s,s:[I,i]}", "cmd", "wait", "job_ids", (json_int_t)a,
		   999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	r = jd_req(&D, "{s:s,s:I}", "cmd", "cancel", "job_id", (json_int_t)s);
	jd_ok(r);
	json_decref(r);
	json_t *job = jd_wait(&D, s, 10);
	ck_assert_str_eq(jd_str(job, "state"), "cancelled");
	json_decref(job);
}
END_TEST

/* ---- logs ---- */

START_TEST(basic_logs_both_streams)
{
	json_t *job = run_text(&D, "{\"shell\":\"echo out; echo err >&2; "
				   "echo out2\"}");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "out\nerr\nout2\n");
	ck_assert_int_eq(jd_num(l, "offset"), 0);
	ck_assert_int_eq(jd_num(l, "next_offset"), 13);
	ck_assert_int_eq(jd_num(l, "size"), 13);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	ck_assert(json_is_false(json_object_get(l, "truncated")));
	json_decref(l);
	json_t *r = jd_req(&D, "{s:s,s:i}", "cmd", "logs", "job_id", 999999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
}
END_TEST

START_TEST(basic_logs_offsets)
{
	json_t *job = run_text(&D, "{\"argv\":[\"printf\",\"0123456789\"]}");
	int64_t id = jd_num(job, "id");
	json_decref(job);
	json_t *l = logs(&D, id, 3, 4);
	ck_assert_str_eq(jd_str(l, "data"), "3456");
	ck_assert_int_eq(jd_num(l, "offset"), 3);
	ck_assert_int_eq(jd_num(l, "next_offset"), 7);
	ck_assert_int_eq(jd_num(l, "size"), 10);
	ck_assert(json_is_false(json_object_get(l, "eof")));
	json_decref(l);
	l = logs(&D, id, 7, 0);
	ck_assert_str_eq(jd_str(l, "data"), "789");
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
	/* Negative: from the end. */
	l = logs(&D, id, -4, 0);
	ck_assert_str_eq(jd_str(l, "data"), "6789");
	ck_assert_int_eq(jd_num(l, "offset"), 6);
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
	l = logs(&D, id, -4, 2);
	ck_assert_str_eq(jd_str(l, "data"), "67");
	ck_assert_int_eq(jd_num(l, "offset"), 6);
	ck_assert_int_eq(jd_num(l, "next_offset"), 8);
	json_decref(l);
	/* At the end: nothing more. */
	l = logs(&D, id, 10, 0);
	ck_assert_str_eq(jd_str(l, "data"), "");
	ck_assert_int_eq(jd_num(l, "next_offset"), 10);
	ck_assert(json_is_true(json_object_get(l, "eof")));
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_invalid_utf8)
{
	json_t *job =
		run_text(&D, "{\"argv\":[\"printf\",\"a\\\\377b\\\\n\"]}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "a\xef\xbf\xbd"
					    "b\n");
	ck_assert_int_eq(jd_num(l, "size"), 4);
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_discard)
{
	json_t *job = run_text(&D, "{\"shell\":\"echo hi; echo err >&2\","
				   "\"output\":\"discard\"}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert_str_eq(jd_str(l, "data"), "");
	ck_assert_int_eq(jd_num(l, "size"), 0);
	json_decref(l);
}
END_TEST

START_TEST(basic_logs_max_log_bytes)
{
	start("max_log_bytes = 1K\n");
	json_t *job = run_text(&D, "{\"shell\":\"head -c 5000 /dev/zero | "
				   "tr '\\\\0' a; echo; exit 0\"}");
	int64_t id = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "exit_code"), 0);
	ck_assert(json_is_true(json_object_get(job, "output_truncated")));
	json_decref(job);
	json_t *l = logs(&D, id, 0, 0);
	ck_assert(json_is_true(json_object_get(l, "truncated")));
	ck_assert_int_gt(jd_num(l, "size"), 0);
	ck_assert_int_le(jd_num(l, "size"), 1024);
	ck_assert_int_eq(strlen(jd_str(l, "data")), jd_num(l, "size"));
	ck_assert_int_eq(strspn(jd_str(l, "data"), "a"), jd_num(l, "size"));
	json_decref(l);
	/* A job under the limit is not marked. */
	job = run_text(&D, "{\"argv\":[\"echo\",\"small\"]}");
	ck_assert(json_is_false(json_object_get(job, "output_truncated")));
	json_decref(job);
}
END_TEST

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
	char want[256];
	snprintf(want, sizeof(want), "JOBD_JOB_ID=%lld", (long long)id);
	/* Exactly these five lines, in any order. */
	const char *lines[] = {"FOO=bar baz", "EMPTY=", want,
			       "JOBD_QUEUE=default", "JOBD_ATTEMPT=1"};
	int seen = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		bool known = false;
		for (int i = 0; i < 5; i++)
			if (strcmp(l, lines[i]) == 0) {
				known = true;
				seen |= 1 << i;
			}
		ck_assert_msg(known, "unexpected variable in the job: %s", l);
	}
	ck_assert_msg(seen == 31, "variables missing (mask %d)", seen);
	free(out);
}
END_TEST

START_TEST(basic_run_env_jobd_prefix)
{
	/* Only the three variables jobd adds are jobd's: another JOBD_* the
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
	int64_t id = jd_submit_text(&D, "{\"shell\":\"echo "
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

/* ---- bad input ---- */

START_TEST(basic_bad_lines)
{
	static const struct {
		const char *line;
		const char *code;
	} cases[] = {
		{"this is not json", "bad_request"},
		{"{\"cmd\":\"ping\"", "bad_request"},
		{"[]", "bad_request"},
		{"42", "bad_request"},
		{"\"x\"", "bad_request"},
		{"null", "bad_request"},
		{"[{\"cmd\":\"ping\"}]", "bad_request"},
		{"{}", "bad_request"},
		{"{\"id\":1}", "bad_request"},
		{"{\"cmd\":\"nope\"}", "unknown_command"},
		{"{\"cmd\":\"ping\",\"bogus\":1}", "invalid_argument"},
		{"{\"cmd\":\"get\",\"id\":1}", "invalid_argument"},
		{"{\"cmd\":\"get\",\"job_id\":1,\"extra\":true}",
		 "invalid_argument"},
		{"{\"cmd\":\"debug.block\",\"ms\":1}", "unknown_command"},
	};
	int fd = conn(&D);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		jd_send(fd, cases[i].line);
		jd_send(fd, "\n");
		json_t *r = raw_recv(fd, 5000);
		ck_assert_msg(json_is_false(json_object_get(r, "ok")),
			      "%s: not refused", cases[i].line);
		ck_assert_msg(strcmp(jd_err(r), cases[i].code) == 0,
			      "%s: got '%s', want '%s'", cases[i].line,
			      jd_err(r), cases[i].code);
		ck_assert(json_is_string(json_object_get(
			json_object_get(r, "error"), "message")));
		json_decref(r);
		/* The connection stays open and serves. */
		ping_fd(&D, fd);
	}
	close(fd);
}
END_TEST

static const struct {
	const char *spec;
	const char *code;
	const char *field; /* the message starts with one of these ('|') */
} bad_specs[] = {
	{"{\"argv\":\"echo hi\"}", "invalid_argument", "argv"},
	{"{\"argv\":[]}", "invalid_argument", "argv"},
	{"{\"argv\":[\"echo\",1]}", "invalid_argument", "argv"},
	{"{\"argv\":[\"true\"],\"shell\":\"true\"}", "invalid_argument",
	 "argv|shell"},
	{"{}", "invalid_argument", "argv|shell"},
	{"{\"name\":\"x\"}", "invalid_argument", "argv|shell"},
	{"{\"shell\":42}", "invalid_argument", "shell"},
	{"{\"argv\":[\"true\"],\"priority\":5000}", "invalid_argument",
	 "priority"},
	{"{\"argv\":[\"true\"],\"priority\":-1001}", "invalid_argument",
	 "priority"},
	{"{\"argv\":[\"true\"],\"priority\":1.5}", "invalid_argument",
	 "priority"},
	{"{\"argv\":[\"true\"],\"delay\":-1}", "invalid_argument", "delay"},
	{"{\"argv\":[\"true\"],\"delay\":\"5\"}", "invalid_argument", "delay"},
	{"{\"argv\":[\"true\"],\"delay\":5,"
	 "\"run_at\":\"2030-01-01T00:00:00.000Z\"}",
	 "invalid_argument", "delay|run_at"},
	{"{\"argv\":[\"true\"],\"run_at\":\"garbage\"}", "invalid_argument",
	 "run_at"},
	{"{\"argv\":[\"true\"],\"max_attempts\":0}", "invalid_argument",
	 "max_attempts"},
	{"{\"argv\":[\"true\"],\"max_attempts\":1001}", "invalid_argument",
	 "max_attempts"},
	{"{\"argv\":[\"true\"],\"foo\":1}", "invalid_argument", "foo"},
	{"{\"argv\":[\"true\"],\"env\":{\"A\":1}}", "invalid_argument", "env"},
	{"{\"argv\":[\"true\"],\"env\":[\"A=1\"]}", "invalid_argument", "env"},
	{"{\"argv\":[\"true\"],\"cwd\":\"relative/dir\"}", "invalid_argument",
	 "cwd"},
	{"{\"argv\":[\"true\"],\"output\":\"x\"}", "invalid_argument",
	 "output"},
	{"{\"argv\":[\"true\"],\"timeout\":-1}", "invalid_argument", "timeout"},
	{"{\"argv\":[\"true\"],\"kill_grace\":-1}", "invalid_argument",
	 "kill_grace"},
	{"{\"argv\":[\"true\"],\"backoff\":{\"jitter\":2}}", "invalid_argument",
	 "backoff"},
	{"{\"argv\":[\"true\"],\"backoff\":{\"nope\":1}}", "invalid_argument",
	 "backoff"},
	{"{\"argv\":[\"true\"],\"depends_on\":[999999]}", "invalid_argument",
	 "depends_on"},
	{"{\"argv\":[\"true\"],\"depends_on\":\"1\"}", "invalid_argument",
	 "depends_on"},
	{"{\"argv\":[\"true\"],\"unique_key\":7}", "invalid_argument",
	 "unique_key"},
	{"{\"argv\":[\"true\"],\"queue\":\"nope\"}", "unknown_queue", NULL},
	{"{\"argv\":[\"true\"],\"queue\":5}", "invalid_argument", "queue"},
};

static bool
message_names(const char *msg, const char *fields)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", fields);
	for (char *save = NULL, *f = strtok_r(buf, "|", &save); f;
	     f = strtok_r(NULL, "|", &save))
		if (starts_with(msg, f))
			return true;
	return false;
}

START_TEST(basic_bad_specs)
{
	size_t n = sizeof(bad_specs) / sizeof(bad_specs[0]);
	for (size_t i = 0; i < n; i++) {
		json_t *r = jd_call(&D, json_pack("{s:s,s:o}", "cmd", "submit",
						  "job",
						  jd_json(bad_specs[i].spec)));
		ck_assert_msg(strcmp(jd_err(r), bad_specs[i].code) == 0,
			      "%s: got '%s', want '%s'", bad_specs[i].spec,
			      jd_err(r), bad_specs[i].code);
		const char *msg =
			jd_str(json_object_get(r, "error"), "message");
		ck_assert_msg(bad_specs[i].field == NULL ||
				      message_names(msg, bad_specs[i].field),
			      "%s: message '%s' does not start with %s",
			      bad_specs[i].spec, msg, bad_specs[i].field);
		json_decref(r);
	}
	/* A name over 256 bytes. */
	char name[300];
	memset(name, 'n', 257);
	name[257] = '\0';
	json_t *r =
		jd_call(&D, json_pack("{s:s,s:{s:[s],s:s}}", "cmd", "submit",
				      "job", "argv", "true", "name", name));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert(starts_with(jd_str(json_object_get(r, "error"), "message"),
			      "name"));
	json_decref(r);
	/* "job" of the wrong type, and neither job nor jobs. */
	r = jd_call(&D, jd_json("{\"cmd\":\"submit\",\"job\":\"x\"}"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_call(&D, jd_json("{\"cmd\":\"submit\"}"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	/* Nothing was stored. */
	ck_assert_int_eq(count_jobs(&D), 0);
	/* And a good one still goes through. */
	json_t *job = run_text(&D, "{\"argv\":[\"true\"]}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
}
END_TEST

/* A request line of n bytes (with the newline) that is a valid ping. */
static char *
padded_ping(size_t n)
{
	static const char head[] = "{\"cmd\":\"ping\",\"id\":9,\"x\":\"";
	char *s = malloc(n + 1);
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'p', n - (sizeof(head) - 1) - 3);
	memcpy(s + n - 3, "\"}\n", 4);
	return s;
}

START_TEST(basic_bad_too_large)
{
	start("max_request_bytes = 1K\n");
	int other = conn(&D);
	ping_fd(&D, other);
	/* Over the limit: too_large, then the connection is closed. */
	int fd = conn(&D);
	char *big = padded_ping(2000);
	jd_send(fd, big);
	json_t *r = raw_recv(fd, 5000);
	ck_assert_str_eq(jd_err(r), "too_large");
	json_decref(r);
	ck_assert_msg(raw_eof(fd, 3000), "connection not closed after "
					 "too_large");
	close(fd);
	/* The same without a newline at all. */
	fd = conn(&D);
	big[1999] = 'p';
	jd_send(fd, big);
	r = raw_recv(fd, 5000);
	ck_assert_str_eq(jd_err(r), "too_large");
	json_decref(r);
	ck_assert(raw_eof(fd, 3000));
	close(fd);
	free(big);
	/* Under the limit is served (the field is unknown to ping, so it is
	 * refused as invalid_argument, not too_large). */
	fd = conn(&D);
	big = padded_ping(900);
	jd_send(fd, big);
	r = raw_recv(fd, 5000);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	ping_fd(&D, fd);
	close(fd);
	free(big);
	/* The connection opened before keeps working. */
	ping_fd(&D, other);
	close(other);
	json_t *job = run_text(&D, "{\"argv\":[\"true\"]}");
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
}
END_TEST

START_TEST(basic_bad_request_timeout)
{
	start("request_timeout = 1\n");
	int idle = conn(&D);
	int fd = conn(&D);
	ping_fd(&D, fd);
	double t0 = jd_now();
	jd_send(fd, "{\"cmd\":\"pi");
	ck_assert_msg(raw_eof(fd, 3000), "partial line not timed out in 3 s");
	double el = jd_now() - t0;
	ck_assert_msg(el >= 0.8, "closed after %.2f s, before request_timeout",
		      el);
	close(fd);
	/* A connection that sent nothing at all is not timed out. */
	struct pollfd p = {idle, POLLIN, 0};
	int left = (int)((t0 + 1.6 - jd_now()) * 1000);
	ck_assert_int_eq(poll(&p, 1, left > 0 ? left : 0), 0);
	ping_fd(&D, idle);
	/* Complete lines sent slowly never time out. */
	for (int i = 0; i < 3; i++) {
		jd_send(idle, "{\"cmd\":");
		p.revents = 0;
		ck_assert_int_eq(poll(&p, 1, 400), 0);
		jd_send(idle, "\"ping\",\"id\":77}\n");
		json_t *r = raw_recv(idle, 3000);
		ck_assert_int_eq(jd_num(r, "id"), 77);
		json_decref(r);
		p.revents = 0;
		ck_assert_int_eq(poll(&p, 1, 400), 0);
	}
	close(idle);
	json_t *r = jd_req(&D, "{s:s}", "cmd", "ping");
	jd_ok(r);
	json_decref(r);
}
END_TEST

START_TEST(basic_bad_max_connections)
{
	/* The harness's own connection is the first of the three. */
	start("max_connections = 3\n");
	int a = conn(&D), b = conn(&D);
	ping_fd(&D, a);
	ping_fd(&D, b);
	int c = conn(&D);
	char *line = jd_read_line(c, 5000);
	ck_assert_msg(line != NULL, "no busy line");
	json_t *r = json_loads(line, 0, NULL);
	free(line);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert_str_eq(jd_err(r), "busy");
	json_decref(r);
	ck_assert_msg(raw_eof(c, 3000), "busy connection not closed");
	close(c);
	ping_fd(&D, a);
	/* A freed slot is usable again. */
	close(b);
	bool served = false;
	double deadline = jd_now() + 5;
	while (!served && jd_now() < deadline) {
		c = conn(&D);
		jd_send(c, "{\"cmd\":\"ping\",\"id\":\"again\"}\n");
		line = jd_read_line(c, 2000);
		r = line ? json_loads(line, 0, NULL) : NULL;
		served = r && json_is_true(json_object_get(r, "ok"));
		if (!served && line)
			ck_assert_str_eq(jd_err(r), "busy");
		json_decref(r);
		free(line);
		if (!served) {
			raw_eof(c, 1000);
			poll(NULL, 0, 20);
		}
		close(c);
	}
	ck_assert_msg(served, "no slot after a connection closed");
	close(a);
}
END_TEST

START_TEST(basic_bad_disconnects)
{
	/* Half a request, then gone: the last line is answered to nobody. */
	int fd = conn(&D);
	jd_send(fd, "{\"cmd\":\"sub");
	close(fd);
	settle(&D);

	/* Requests sent, connection gone before the answers. */
	int64_t slow = jd_submit_text(&D, "{\"argv\":[\"sleep\",\"0.3\"]}");
	for (int i = 0; i < 20; i++) {
		fd = conn(&D);
		char req[512];
		snprintf(req, sizeof(req),
			 "{\"cmd\":\"ping\"}\n"
			 "{\"cmd\":\"submit\",\"job\":{\"argv\":[\"true\"]}}\n"
			 "{\"cmd\":\"wait\",\"job_id\":%lld,\"timeout\":5}\n"
			 "{\"cmd\":\"list\"}\n{\"cmd\":\"get\",\"job_id\":1}\n"
			 "{\"cmd\":\"logs\",\"job_id\":%lld}\n",
			 (long long)slow, (long long)slow);
		jd_send(fd, req);
		if (i % 2)
			shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	/* The pending waits resolve with nobody to answer. */
	json_t *job = jd_wait(&D, slow, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	settle(&D);
	/* The submits that made it through are ordinary jobs. */
	json_t *ids = list_all(&D, "{}", 0);
	ck_assert_int_ge(json_array_size(ids), 1);
	size_t i;
	json_t *v;
	json_array_foreach (ids, i, v) {
		json_t *j = jd_wait(&D, json_integer_value(v), 10);
		ck_assert_str_eq(jd_str(j, "state"), "succeeded");
		json_decref(j);
	}
	json_decref(ids);
}
END_TEST

START_TEST(basic_bad_garbage)
{
	int64_t keep[3];
	keep[0] = jd_submit_text(&D, "{\"argv\":[\"echo\",\"kept\"]}");
	keep[1] = jd_submit_text(&D, "{\"argv\":[\"false\"]}");
	keep[2] = jd_submit_text(&D, "{\"argv\":[\"true\"],\"delay\":3600}");
	json_t *before[3];
	before[0] = jd_wait(&D, keep[0], 10);
	before[1] = jd_wait(&D, keep[1], 10);
	before[2] = jd_get(&D, keep[2]);

	/* Deterministic binary noise with NULs and newlines in it. */
	size_t n = 64 * 1024;
	unsigned char *g = malloc(n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		g[i] = (unsigned char)(x >> 16);
		if (i % 97 == 0)
			g[i] = '\0';
		if (i % 251 == 0)
			g[i] = '\n';
	}
	int fd = conn(&D);
	ck_assert(jd_write(fd, (const char *)g, n));
	jd_send(fd, "\n{\"cmd\":\"ping\",\"id\":\"end\"}\n");
	int errors = 0;
	for (;;) {
		json_t *r = raw_recv(fd, 10000);
		if (json_is_string(json_object_get(r, "id")) &&
		    strcmp(jd_str(r, "id"), "end") == 0) {
			jd_ok(r);
			json_decref(r);
			break;
		}
		ck_assert(json_is_false(json_object_get(r, "ok")));
		ck_assert_str_eq(jd_err(r), "bad_request");
		errors++;
		json_decref(r);
	}
	ck_assert_int_gt(errors, 100);
	close(fd);
	/* Garbage then hang up, on several connections at once. */
	int fds[5];
	for (int i = 0; i < 5; i++) {
		fds[i] = conn(&D);
		ck_assert(jd_write(fds[i], (const char *)g + i * 1000, 9000));
	}
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	free(g);
	settle(&D);
	/* Stored jobs are intact. */
	ck_assert_int_eq(count_jobs(&D), 3);
	for (int i = 0; i < 3; i++) {
		json_t *now = jd_get(&D, keep[i]);
		ck_assert_msg(json_equal(now, before[i]), "job %lld changed",
			      (long long)keep[i]);
		json_decref(now);
		json_decref(before[i]);
	}
	char *out = output(&D, keep[0]);
	ck_assert_str_eq(out, "kept\n");
	free(out);
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
	enum { N = 10000 };
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
		"basic_throughput_10k: %d jobs, submit %.2f s, all succeeded "
		"after %.2f s (%.0f jobs/s); jobd peak RSS (VmHWM) %ld kB\n",
		N, t_submit, wall, N / wall, kb);
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
	TCase *tc;

	tc = tcase_create("protocol");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_ping_fields);
	tcase_add_test(tc, basic_id_echoed);
	tcase_add_test(tc, basic_pipelined_in_order);
	tcase_add_test(tc, basic_response_one_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_submit_single);
	tcase_add_test(tc, basic_submit_batch);
	tcase_add_test(tc, basic_submit_batch_all_or_nothing);
	tcase_add_test(tc, basic_get_fields);
	tcase_add_test(tc, basic_get_errors);
	tcase_add_test(tc, basic_list_default_limit);
	tcase_add_test(tc, basic_wait);
	suite_add_tcase(s, tc);

	/* These tests start their own daemon with a config of their own. */
	tc = tcase_create("configured");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_list_filters);
	tcase_add_test(tc, basic_logs_max_log_bytes);
	tcase_add_test(tc, basic_run_env_minimal);
	tcase_add_test(tc, basic_run_env_jobd_vars);
	tcase_add_test(tc, basic_bad_too_large);
	tcase_add_test(tc, basic_bad_request_timeout);
	tcase_add_test(tc, basic_bad_max_connections);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_logs_both_streams);
	tcase_add_test(tc, basic_logs_offsets);
	tcase_add_test(tc, basic_logs_invalid_utf8);
	tcase_add_test(tc, basic_logs_discard);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_run_exit_code);
	tcase_add_test(tc, basic_run_spawn_error);
	tcase_add_test(tc, basic_run_env_given_is_whole);
	tcase_add_test(tc, basic_run_env_jobd_prefix);
	tcase_add_test(tc, basic_run_cwd);
	tcase_add_test(tc, basic_run_stdin_devnull);
	tcase_add_test(tc, basic_run_own_session);
	tcase_add_test(tc, basic_run_pid_and_rusage);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobctl");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_jobctl_submit_wait_logs);
	tcase_add_test(tc, basic_jobctl_wait_status);
	tcase_add_test(tc, basic_jobctl_errors);
	tcase_add_test(tc, basic_jobctl_batch);
	tcase_add_test(tc, basic_jobctl_env_cwd);
	tcase_add_test(tc, basic_client_library);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_bad_lines);
	tcase_add_test(tc, basic_bad_specs);
	tcase_add_test(tc, basic_bad_disconnects);
	tcase_add_test(tc, basic_bad_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("throughput");
	tcase_add_checked_fixture(tc, setup_default, jd_test_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, basic_throughput_10k);
	suite_add_tcase(s, tc);

	return s;
}
