/*
 * bulk_suite: cancel and retry by filter (docs/jobd-protocol.7, cancel
 * and retry): the filter's fields each narrow what is matched (queue,
 * state or states, labels, a name glob, a span of creation times); a bulk
 * cancel does what single cancels do (a running job's process stopped,
 * its dependents cancelled); retry by filter queues failed jobs again;
 * bad filters are refused naming the field and change nothing; a caller
 * other than root matches only its own jobs; and jobctl's cancel and
 * retry filter options, --all and its question.
 */
#include <check.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *bulk_suite(void);

#define BASE_CONF                                                        \
	"; bulk_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"[queue p]\n[queue q]\n[queue r]\nmax_attempts = 1\n"

static struct jd D;

/* Starts jobd with queues p and q paused (nothing of them runs) and r
 * running jobs once each. */
static struct jd *
start(void)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	jd_queue_cmd(d, "queue.pause", "p");
	jd_queue_cmd(d, "queue.pause", "q");
	return d;
}

/* Submits argv[0] "true" into queue with name and labels (a JSON
 * object text, may be NULL). */
static int64_t
sub(struct jd *d, const char *queue, const char *name, const char *labels)
{
	json_t *spec = json_pack("{s:[s],s:s,s:s}", "argv", "true", "queue",
				 queue, "name", name);
	if (labels != NULL)
		json_object_set_new(spec, "labels", jd_json(labels));
	return jd_submit(d, spec);
}

/* Sends cmd with filter (a JSON text) and checks the answer's counts. */
static void
bulk_ok(struct jd *d, const char *cmd, const char *filter, json_int_t matched,
	json_int_t changed)
{
	json_t *r = jd_call(d, json_pack("{s:s,s:o}", "cmd", cmd, "filter",
					 jd_json(filter)));
	json_t *res = jd_ok(r);
	ck_assert_msg(jd_num(res, "matched") == matched &&
			      jd_num(res, "changed") == changed,
		      "%s %s: matched %lld changed %lld, want %lld %lld", cmd,
		      filter, (long long)jd_num(res, "matched"),
		      (long long)jd_num(res, "changed"), (long long)matched,
		      (long long)changed);
	json_decref(r);
}

static void
assert_state(struct jd *d, int64_t id, const char *state)
{
	json_t *job = jd_get(d, id);
	ck_assert_msg(strcmp(jd_str(job, "state"), state) == 0,
		      "job %lld is %s, want %s", (long long)id,
		      jd_str(job, "state"), state);
	json_decref(job);
}

/* ---- matching ---- */

START_TEST(bulk_cancel_by_queue_and_state)
{
	struct jd *d = start();
	int64_t p1 = sub(d, "p", "a", NULL), p2 = sub(d, "p", "b", NULL);
	int64_t q1 = sub(d, "q", "a", NULL);
	int64_t p3 = sub(d, "p", "c", NULL);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)p3));
	/* p3 is cancelled already: matched (no state asked), not changed. */
	bulk_ok(d, "cancel", "{\"queue\":\"p\"}", 3, 2);
	assert_state(d, p1, "cancelled");
	assert_state(d, p2, "cancelled");
	assert_state(d, q1, "queued");
	/* Only queued jobs: p's are not any more. */
	bulk_ok(d, "cancel", "{\"queue\":\"p\",\"state\":\"queued\"}", 0, 0);
	bulk_ok(d, "cancel",
		"{\"queue\":\"q\",\"state\":[\"running\","
		"\"queued\"]}",
		1, 1);
	assert_state(d, q1, "cancelled");
	/* A cancel by filter reads as single cancels: reason cancelled. */
	json_t *job = jd_get(d, q1);
	ck_assert_str_eq(jd_str(job, "reason"), "cancelled");
	json_decref(job);
}
END_TEST

START_TEST(bulk_cancel_by_labels_and_name)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "build-1", "{\"team\":\"x\",\"env\":\"ci\"}");
	int64_t b = sub(d, "p", "build-2", "{\"team\":\"y\"}");
	int64_t c = sub(d, "q", "deploy", "{\"team\":\"x\"}");
	int64_t e = sub(d, "q", "build-3", "{\"team\":\"x\",\"env\":\"ci\"}");
	bulk_ok(d, "cancel", "{\"labels\":{\"team\":\"x\",\"env\":\"ci\"}}", 2,
		2);
	assert_state(d, a, "cancelled");
	assert_state(d, e, "cancelled");
	assert_state(d, b, "queued");
	assert_state(d, c, "queued");
	bulk_ok(d, "cancel", "{\"name\":\"build-*\",\"state\":\"queued\"}", 1,
		1);
	assert_state(d, b, "cancelled");
	assert_state(d, c, "queued");
	bulk_ok(d, "cancel", "{\"name\":\"dep?oy\"}", 1, 1);
	assert_state(d, c, "cancelled");
}
END_TEST

/* The creation time of job id in ms (from its created_at). */
static char *
created_of(struct jd *d, int64_t id)
{
	json_t *job = jd_get(d, id);
	char *t = strdup(jd_str(job, "created_at"));
	json_decref(job);
	return t;
}

START_TEST(bulk_cancel_by_time)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL);
	char *ta = created_of(d, a);
	/* Created times are in ms: the next job is made a later one. */
	char *tb;
	int64_t b;
	do {
		jd_pause_ms(5);
		b = sub(d, "p", "b", NULL);
		tb = created_of(d, b);
		if (strcmp(tb, ta) != 0)
			break;
		jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
					(json_int_t)b));
		free(tb);
	} while (1);
	char f[256];
	/* before and after are strict, on created_at. */
	snprintf(f, sizeof(f), "{\"before\":\"%s\",\"state\":\"queued\"}", ta);
	bulk_ok(d, "cancel", f, 0, 0);
	snprintf(f, sizeof(f), "{\"before\":\"%s\",\"state\":\"queued\"}", tb);
	bulk_ok(d, "cancel", f, 1, 1);
	assert_state(d, a, "cancelled");
	assert_state(d, b, "queued");
	snprintf(f, sizeof(f), "{\"after\":\"%s\",\"state\":\"queued\"}", tb);
	bulk_ok(d, "cancel", f, 0, 0);
	snprintf(f, sizeof(f), "{\"after\":\"%s\",\"state\":\"queued\"}", ta);
	bulk_ok(d, "cancel", f, 1, 1);
	assert_state(d, b, "cancelled");
	free(ta);
	free(tb);
}
END_TEST

/* A cancel by filter stops a running job's process and cancels the jobs
 * that depend on it, as a cancel by id does. */
START_TEST(bulk_cancel_running_and_dependents)
{
	struct jd *d = start();
	int64_t run =
		jd_submit(d, json_pack("{s:s,s:s,s:s}", "shell", "sleep 60",
				       "queue", "r", "name", "long"));
	ck_assert(jd_poll_state(d, run, "running", 20));
	json_t *spec = json_pack("{s:[s],s:s,s:s,s:[I]}", "argv", "true",
				 "queue", "q", "name", "after", "depends_on",
				 (json_int_t)run);
	int64_t dep = jd_submit(d, spec);
	json_t *job = jd_get(d, run);
	pid_t pid = (pid_t)jd_num(job, "pid");
	json_decref(job);
	ck_assert_int_gt(pid, 0);
	bulk_ok(d, "cancel", "{\"queue\":\"r\",\"name\":\"long\"}", 1, 1);
	job = jd_wait(d, run, 20);
	ck_assert_str_eq(jd_str(job, "state"), "cancelled");
	json_decref(job);
	job = jd_wait(d, dep, 20);
	ck_assert_str_eq(jd_str(job, "state"), "cancelled");
	ck_assert_str_eq(jd_str(job, "reason"), "dependency_failed");
	json_decref(job);
	/* Its process is gone. */
	double deadline = jd_now() + 20;
	while (kill(pid, 0) == 0 && jd_now() < deadline)
		jd_pause_ms(20);
	ck_assert_msg(kill(pid, 0) != 0, "process %d still runs", (int)pid);
}
END_TEST

/* A cancel by filter sends each job's job.finished (state cancelled), as
 * cancels by id do, and none of a job it leaves. */
START_TEST(bulk_cancel_events)
{
	struct jd *d = start();
	int fd = jd_watch_conn(d, "p");
	int64_t ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = sub(d, "p", i == 1 ? "keep" : "go", NULL);
	bulk_ok(d, "cancel", "{\"name\":\"go\"}", 2, 2);
	/* The kept one's cancel afterwards marks the end of the stream. */
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)ids[1]));
	bool fin[3] = {false, false, false};
	int order = 0, at[3] = {0, 0, 0};
	double end = jd_now() + 30;
	while (!fin[1]) {
		ck_assert_msg(jd_now() < end, "no job.finished for job %lld",
			      (long long)ids[1]);
		char *line = jd_read_line(fd, 1000);
		if (line == NULL)
			continue;
		json_t *ev = jd_json(line);
		free(line);
		json_t *job = json_object_get(ev, "job");
		if (strcmp(jd_str(ev, "event"), "job.finished") == 0) {
			int64_t id = jd_num(job, "id");
			int i = id == ids[0] ? 0 : id == ids[1] ? 1 : 2;
			ck_assert_int_eq(id, ids[i]);
			ck_assert_str_eq(jd_str(job, "state"), "cancelled");
			ck_assert(!fin[i]);
			fin[i] = true;
			at[i] = ++order;
		}
		json_decref(ev);
	}
	jd_close(fd);
	ck_assert(fin[0] && fin[2]);
	ck_assert(at[0] < at[1] && at[2] < at[1]);
}
END_TEST

/* Retry by filter: failed jobs of the span, queued again, run again. */
START_TEST(bulk_retry_failed)
{
	struct jd *d = start();
	char *flag = jd_path(d, "flag");
	int64_t ids[3];
	for (int i = 0; i < 3; i++) {
		ids[i] = jd_submit(d,
				   json_pack("{s:[s,s,s],s:s}", "argv", "test",
					     "-e", flag, "queue", "r"));
		json_t *job = jd_wait(d, ids[i], 20);
		ck_assert_str_eq(jd_str(job, "state"), "failed");
		json_decref(job);
	}
	int64_t other = sub(d, "p", "x", NULL);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)other));
	jd_write_file(flag, "");
	/* A retry of a job not failed nor cancelled is no change. */
	int64_t queued = sub(d, "p", "y", NULL);
	bulk_ok(d, "retry", "{\"queue\":\"r\",\"state\":\"failed\"}", 3, 3);
	for (int i = 0; i < 3; i++) {
		json_t *job = jd_wait(d, ids[i], 20);
		ck_assert_str_eq(jd_str(job, "state"), "succeeded");
		json_decref(job);
	}
	assert_state(d, other, "cancelled");
	bulk_ok(d, "retry", "{\"queue\":\"p\"}", 2, 1);
	assert_state(d, other, "queued");
	assert_state(d, queued, "queued");
	free(flag);
}
END_TEST

/* A cancel by filter of many jobs holds the loop no step longer than
 * 50 ms: jobd counts the steps over its slow_callback_ms, and the count
 * does not grow over the cancel (the submit before it is left out so).
 * 100,000 jobs on SQLite are in slices_suite; here fewer, on both
 * stores. */
START_TEST(bulk_cancel_sliced)
{
	/* PostgreSQL takes a few round trips a job (about 4 ms each). */
	int n = jd_under_asan() || jd_on_postgres() ? 2000 : 10000;
	struct jd *d = jd_test_start(&D, BASE_CONF,
				     "[daemon]\nslow_callback_ms = 50\n", NULL);
	jd_queue_cmd(d, "queue.pause", "p");
	json_t *jobs = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(jobs, json_pack("{s:[s],s:s}", "argv",
						      "true", "queue", "p"));
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *req = json_pack("{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	json_t *r = jd_call_fd(d, fd, req, 120000);
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "ids")),
			  (size_t)n);
	json_decref(r);
	json_decref(req);
	r = jd_req(d, "{s:s}", "cmd", "stats");
	json_int_t before =
		jd_num(json_object_get(jd_ok(r), "loop"), "slow_callbacks");
	json_decref(r);
	req = json_pack("{s:s,s:{s:s,s:s}}", "cmd", "cancel", "filter", "queue",
			"p", "state", "queued");
	double t0 = jd_now();
	r = jd_call_fd(d, fd, req, 120000);
	ck_assert_int_eq(jd_num(jd_ok(r), "matched"), n);
	ck_assert_int_eq(jd_num(jd_ok(r), "changed"), n);
	json_decref(r);
	json_decref(req);
	jd_close(fd);
	r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *loop = json_object_get(jd_ok(r), "loop");
	json_int_t slow = jd_num(loop, "slow_callbacks") - before;
	fprintf(stderr,
		"bulk: cancel by filter of %d: %.0f ms, %lld steps over "
		"50 ms\n",
		n, (jd_now() - t0) * 1000, (long long)slow);
	ck_assert_msg(slow == 0, "the cancel held the loop %lld times",
		      (long long)slow);
	json_decref(r);
	json_t *q = jd_queue_get(d, "p", NULL);
	ck_assert_int_eq(jd_num(json_object_get(q, "counts"), "cancelled"), n);
	json_decref(q);
}
END_TEST

/* ---- refused ---- */

static void
refused(struct jd *d, const char *cmd, const char *filter, const char *code,
	const char *field)
{
	json_t *r = jd_call(d, json_pack("{s:s,s:o}", "cmd", cmd, "filter",
					 jd_json(filter)));
	ck_assert_msg(strcmp(jd_err(r), code) == 0, "%s %s: got \"%s\"", cmd,
		      filter, jd_err(r));
	ck_assert_msg(field == NULL || strstr(jd_err_msg(r), field) != NULL,
		      "%s %s: message \"%s\" does not name %s", cmd, filter,
		      jd_err_msg(r), field);
	json_decref(r);
}

START_TEST(bulk_bad_filters)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL);
	const char *cmds[] = {"cancel", "retry"};
	for (int i = 0; i < 2; i++) {
		const char *c = cmds[i];
		refused(d, c, "[]", "invalid_argument", "filter");
		refused(d, c, "\"p\"", "invalid_argument", "filter");
		refused(d, c, "{\"color\":1}", "invalid_argument",
			"filter.color");
		refused(d, c, "{\"state\":\"done\"}", "invalid_argument",
			"state");
		refused(d, c, "{\"state\":[1]}", "invalid_argument", "state");
		refused(d, c, "{\"queue\":1}", "invalid_argument",
			"filter.queue");
		refused(d, c, "{\"queue\":\"nope\"}", "unknown_queue", NULL);
		refused(d, c, "{\"labels\":[1]}", "invalid_argument", "labels");
		refused(d, c, "{\"name\":\"\"}", "invalid_argument",
			"filter.name");
		refused(d, c, "{\"name\":5}", "invalid_argument",
			"filter.name");
		refused(d, c, "{\"before\":\"yesterday\"}", "invalid_argument",
			"filter.before");
		refused(d, c, "{\"after\":12}", "invalid_argument",
			"filter.after");
	}
	json_t *r = jd_req(d, "{s:s,s:I,s:{}}", "cmd", "cancel", "job_id",
			   (json_int_t)a, "filter");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	assert_state(d, a, "queued");
}
END_TEST

/* The protocol's empty filter matches every job. */
START_TEST(bulk_empty_filter_matches_all)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL), b = sub(d, "q", "b", NULL);
	bulk_ok(d, "cancel", "{}", 2, 2);
	assert_state(d, a, "cancelled");
	assert_state(d, b, "cancelled");
}
END_TEST

/* ---- callers other than root ---- */

/* As uid (a child that drops root), sends text on a new connection and
 * returns the reply line (caller frees). */
static char *
request_as(struct jd *d, uid_t uid, const char *text)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		if (setgroups(0, NULL) != 0 || setgid(uid) != 0 ||
		    setuid(uid) != 0)
			_exit(126);
		int fd = jd_connect(d);
		if (fd < 0 || !jd_write(fd, text, strlen(text)))
			_exit(125);
		char *line = jd_read_line(fd, 30000);
		if (line == NULL)
			_exit(124);
		size_t n = strlen(line);
		ssize_t w = write(pfd[1], line, n);
		_exit(w == (ssize_t)n ? 0 : 123);
	}
	close(pfd[1]);
	char buf[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(buf) - 1 &&
	       (r = read(pfd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(pfd[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "request as %d: status %d", (int)uid, st);
	return strdup(buf);
}

START_TEST(bulk_non_root_matches_own)
{
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || pw == NULL) {
		fprintf(stderr, "bulk: not root or no user nobody: the "
				"non-root filter is not tested\n");
		return;
	}
	struct jd *d = start();
	ck_assert_int_eq(chmod(d->dir, 0755), 0);
	ck_assert_int_eq(chmod(d->sock, 0666), 0);
	int64_t mine = sub(d, "p", "a", NULL);
	char *line = request_as(d, pw->pw_uid,
				"{\"id\":1,\"cmd\":\"submit\",\"job\":{"
				"\"argv\":[\"true\"],\"queue\":\"p\","
				"\"name\":\"a\",\"cwd\":\"/\"}}\n");
	json_t *r = jd_json(line);
	int64_t theirs = jd_num(jd_ok(r), "id");
	json_decref(r);
	free(line);
	line = request_as(d, pw->pw_uid,
			  "{\"id\":1,\"cmd\":\"cancel\",\"filter\":{}}\n");
	r = jd_json(line);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "matched"), 1);
	ck_assert_int_eq(jd_num(res, "changed"), 1);
	json_decref(r);
	free(line);
	assert_state(d, theirs, "cancelled");
	assert_state(d, mine, "queued");
	/* Retry too: root's cancelled job is not theirs to retry. */
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)mine));
	line = request_as(d, pw->pw_uid,
			  "{\"id\":1,\"cmd\":\"retry\",\"filter\":{"
			  "\"queue\":\"p\"}}\n");
	r = jd_json(line);
	ck_assert_int_eq(jd_num(jd_ok(r), "matched"), 1);
	json_decref(r);
	free(line);
	assert_state(d, mine, "cancelled");
	assert_state(d, theirs, "queued");
}
END_TEST

/* ---- resubmit ---- */

START_TEST(bulk_resubmit)
{
	struct jd *d = start();
	int64_t a = jd_submit(d, jd_json("{\"argv\":[\"sh\",\"-c\",\"exit 0\"],"
					 "\"queue\":\"r\",\"name\":\"one\","
					 "\"priority\":5,\"env\":{\"K\":\"v\"},"
					 "\"labels\":{\"team\":\"x\"}}"));
	json_t *old = jd_wait(d, a, 20);
	ck_assert_str_eq(jd_str(old, "state"), "succeeded");
	ck_assert(json_is_null(json_object_get(old, "resubmitted_from")));
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "resubmit", "job_id",
			   (json_int_t)a);
	json_t *job = json_object_get(jd_ok(r), "job");
	int64_t b = jd_num(job, "id");
	ck_assert_int_gt(b, a);
	ck_assert_int_eq(jd_num(job, "resubmitted_from"), a);
	json_decref(r);
	json_t *nj = jd_wait(d, b, 20);
	ck_assert_str_eq(jd_str(nj, "state"), "succeeded");
	ck_assert_int_eq(jd_num(nj, "resubmitted_from"), a);
	const char *same[] = {"queue",	  "name",	  "argv",
			      "priority", "labels",	  "cwd",
			      "timeout",  "max_attempts", NULL};
	for (int i = 0; same[i]; i++)
		ck_assert_msg(json_equal(json_object_get(old, same[i]),
					 json_object_get(nj, same[i])),
			      "%s differs", same[i]);
	json_decref(nj);
	json_decref(old);
	/* Its environment too. */
	r = jd_req(d, "{s:s,s:I,s:b}", "cmd", "get", "job_id", (json_int_t)b,
		   "env", 1);
	ck_assert_str_eq(
		jd_str(json_object_get(json_object_get(jd_ok(r), "job"), "env"),
		       "K"),
		"v");
	json_decref(r);
	/* Overrides, through the spec's checks. */
	r = jd_req(d, "{s:s,s:I,s:{s:s,s:i,s:{s:s}}}", "cmd", "resubmit",
		   "job_id", (json_int_t)a, "overrides", "queue", "p",
		   "priority", -3, "labels", "team", "y");
	job = json_object_get(jd_ok(r), "job");
	int64_t c = jd_num(job, "id");
	ck_assert_str_eq(jd_str(job, "queue"), "p");
	ck_assert_int_eq(jd_num(job, "priority"), -3);
	ck_assert_str_eq(jd_str(json_object_get(job, "labels"), "team"), "y");
	ck_assert_int_eq(jd_num(job, "resubmitted_from"), a);
	json_decref(r);
	/* Kept by the store. */
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	job = jd_get(d, c);
	ck_assert_int_eq(jd_num(job, "resubmitted_from"), a);
	ck_assert_str_eq(jd_str(job, "state"), "queued");
	json_decref(job);
	/* Not finished: refused; a failed or cancelled one may be. */
	r = jd_req(d, "{s:s,s:I}", "cmd", "resubmit", "job_id", (json_int_t)c);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)c));
	r = jd_req(d, "{s:s,s:I}", "cmd", "resubmit", "job_id", (json_int_t)c);
	ck_assert_int_eq(
		jd_num(json_object_get(jd_ok(r), "job"), "resubmitted_from"),
		c);
	json_decref(r);
}
END_TEST

START_TEST(bulk_resubmit_refused)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)a));
	json_t *r = jd_req(d, "{s:s,s:I,s:{s:s}}", "cmd", "resubmit", "job_id",
			   (json_int_t)a, "overrides", "priority", "high");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), "overrides: priority", 19) == 0,
		      "%s", jd_err_msg(r));
	json_decref(r);
	r = jd_req(d, "{s:s,s:I,s:{s:s}}", "cmd", "resubmit", "job_id",
		   (json_int_t)a, "overrides", "colour", "red");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(d, "{s:s,s:I,s:[]}", "cmd", "resubmit", "job_id",
		   (json_int_t)a, "overrides");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = jd_req(d, "{s:s,s:I}", "cmd", "resubmit", "job_id",
		   (json_int_t)a + 100);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	r = jd_req(d, "{s:s}", "cmd", "resubmit");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	/* Nothing was made. */
	r = jd_req(d, "{s:s,s:i}", "cmd", "list", "limit", 10);
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "jobs")),
			  1);
	json_decref(r);
}
END_TEST

START_TEST(bulk_jobctl_restart)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL), q = sub(d, "p", "b", NULL);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)a));
	char ida[32], idq[32], *out = NULL, *err = NULL;
	snprintf(ida, sizeof(ida), "%lld", (long long)a);
	snprintf(idq, sizeof(idq), "%lld", (long long)q);
	int st = jd_jobctl(d, NULL, &out, &err, "restart", ida, "--json", NULL);
	ck_assert_msg(st == 0, "%d %s", st, err);
	json_t *res = jd_json(out);
	json_t *nj = json_object_get(res, "job");
	ck_assert_int_eq(jd_num(nj, "resubmitted_from"), a);
	char idn[32], want[64];
	snprintf(idn, sizeof(idn), "%lld", (long long)jd_num(nj, "id"));
	snprintf(want, sizeof(want), "%lld", (long long)a);
	json_decref(res);
	free(out);
	free(err);
	/* A queued one is refused (status 1), the others still made. */
	st = jd_jobctl(d, NULL, &out, &err, "restart", idq, ida, NULL);
	ck_assert_msg(st == 1 && strstr(err, "invalid_state"), "%d %s", st,
		      err);
	ck_assert_msg(strstr(out, "queued") != NULL, "%s", out);
	free(out);
	free(err);
	st = jd_jobctl(d, NULL, &out, &err, "get", idn, NULL);
	ck_assert_msg(st == 0, "%s", err);
	ck_assert_str_eq(jd_kv(out, "resubmitted_from"), want);
	free(out);
	free(err);
}
END_TEST

/* ---- jobctl ---- */

START_TEST(bulk_jobctl_cancel_retry)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL), b = sub(d, "q", "b", NULL);
	char *out = NULL, *err = NULL;
	/* No criteria: refused, nothing done. */
	int st = jd_jobctl(d, NULL, &out, &err, "cancel", "--yes", NULL);
	ck_assert_msg(st == 2 && strstr(err, "--all"), "%d %s", st, err);
	free(out);
	free(err);
	assert_state(d, a, "queued");
	st = jd_jobctl(d, NULL, &out, &err, "cancel", "--queue", "p", "--state",
		       "queued", NULL);
	ck_assert_msg(st == 0, "%d %s", st, err);
	ck_assert_str_eq(out, "matched: 1\nchanged: 1\n");
	free(out);
	free(err);
	assert_state(d, a, "cancelled");
	assert_state(d, b, "queued");
	st = jd_jobctl(d, NULL, &out, &err, "cancel", "--all", "--yes",
		       "--json", NULL);
	ck_assert_msg(st == 0, "%d %s", st, err);
	json_t *res = jd_json(out);
	ck_assert_int_eq(jd_num(res, "matched"), 2);
	ck_assert_int_eq(jd_num(res, "changed"), 1);
	json_decref(res);
	free(out);
	free(err);
	assert_state(d, b, "cancelled");
	/* retry --failed: none failed; --since takes a duration. */
	st = jd_jobctl(d, NULL, &out, &err, "retry", "--failed", "--queue", "q",
		       "--since", "1h", NULL);
	ck_assert_msg(st == 0, "%d %s", st, err);
	ck_assert_str_eq(out, "matched: 0\nchanged: 0\n");
	free(out);
	free(err);
	st = jd_jobctl(d, NULL, &out, &err, "retry", "-S", "cancelled",
		       "--since", "1h", "-q", "q", NULL);
	ck_assert_msg(st == 0, "%d %s", st, err);
	ck_assert_str_eq(out, "matched: 1\nchanged: 1\n");
	free(out);
	free(err);
	assert_state(d, b, "queued");
	st = jd_jobctl(d, NULL, &out, &err, "retry", "--failed", "--since",
		       "soon", NULL);
	ck_assert_msg(st == 2 && strstr(err, "soon"), "%d %s", st, err);
	free(out);
	free(err);
	/* Ids and a filter do not mix. */
	st = jd_jobctl(d, NULL, &out, &err, "cancel", "-q", "q", "7", NULL);
	ck_assert_int_eq(st, 2);
	free(out);
	free(err);
	assert_state(d, b, "queued");
}
END_TEST

/* Runs jobctl cancel --all on a terminal, answers the question with
 * answer, and returns its exit status; *out gets what it wrote. */
static int
cancel_all_on_tty(struct jd *d, const char *answer, char *out, size_t n)
{
	int master;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *bin = getenv("JOBCTL_BIN");
		execl(bin ? bin : "build/jobctl", "jobctl", "-s", d->sock,
		      "cancel", "--all", (char *)NULL);
		_exit(127);
	}
	size_t len = 0;
	bool answered = false;
	double end = jd_now() + 20;
	out[0] = '\0';
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		int left = (int)((end - jd_now()) * 1000);
		ck_assert_msg(left > 0, "cancel --all did not end: %s", out);
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t r = read(master, out + len, n - 1 - len);
		if (r <= 0)
			break; /* EIO once jobctl has gone */
		len += (size_t)r;
		out[len] = '\0';
		if (!answered && strstr(out, "[y/N]") != NULL) {
			ck_assert(write(master, answer, strlen(answer)) ==
				  (ssize_t)strlen(answer));
			answered = true;
		}
	}
	close(master);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(answered, "no question: %s", out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* cancel --all asks first on a terminal: no cancels nothing. */
START_TEST(bulk_jobctl_cancel_all_asks)
{
	struct jd *d = start();
	int64_t a = sub(d, "p", "a", NULL);
	char out[4096];
	ck_assert_int_eq(cancel_all_on_tty(d, "n\n", out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "nothing done") != NULL, "%s", out);
	assert_state(d, a, "queued");
	ck_assert_int_eq(cancel_all_on_tty(d, "y\n", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "changed: 1") != NULL, "%s", out);
	assert_state(d, a, "cancelled");
}
END_TEST

Suite *
bulk_suite(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = tcase_create("bulk");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bulk_cancel_by_queue_and_state);
	tcase_add_test(tc, bulk_cancel_by_labels_and_name);
	tcase_add_test(tc, bulk_cancel_by_time);
	tcase_add_test(tc, bulk_cancel_running_and_dependents);
	tcase_add_test(tc, bulk_cancel_events);
	tcase_add_test(tc, bulk_retry_failed);
	tcase_add_test(tc, bulk_cancel_sliced);
	tcase_add_test(tc, bulk_bad_filters);
	tcase_add_test(tc, bulk_empty_filter_matches_all);
	tcase_add_test(tc, bulk_non_root_matches_own);
	tcase_add_test(tc, bulk_jobctl_cancel_retry);
	tcase_add_test(tc, bulk_jobctl_cancel_all_asks);
	tcase_add_test(tc, bulk_resubmit);
	tcase_add_test(tc, bulk_resubmit_refused);
	tcase_add_test(tc, bulk_jobctl_restart);
	suite_add_tcase(s, tc);
	return s;
}
