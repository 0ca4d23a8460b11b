/*
 * exec suite: how jobd runs jobs, checked against a real daemon.  One test
 * per rule of SPEC 2.3-2.6, 3, 5.1 and 8: timeouts and kill_grace,
 * retries and backoff, delay and run_at, priorities, rate limits,
 * concurrency, capacity, dependencies, unique keys, cancel and retry,
 * queue commands and jobctl's job and queue commands.
 *
 * Timing is measured with the jobs' own clocks: a job appends
 * `date +%s.%N` stamps to files under its test directory, and the test
 * computes gaps and overlaps from those.  Every wait is bounded by a
 * deadline; nothing here sleeps blindly.
 */
#include <check.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

Suite *exec_suite(void);

/* How far a measured delay may stray from the rule (s). */
#define SLACK_DELAY 0.15
/* How late a scheduled job may start after its run_at (s): the 50 ms the
 * brief allows plus room for a shell to start on a loaded machine. */
#define SLACK_START (0.05 + 0.10)

/* ---- small helpers ---- */

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

static bool
jis(const json_t *o, const char *key, const char *want)
{
	return strcmp(jd_str(o, key), want) == 0;
}

/* Fails unless job has state (and reason, when reason is not NULL). */
static void
assert_job(const json_t *job, const char *state, const char *reason)
{
	char *s = json_dumps(job, JSON_COMPACT);
	ck_assert_msg(jis(job, "state", state), "want state %s: %s", state, s);
	if (reason != NULL)
		ck_assert_msg(jis(job, "reason", reason), "want reason %s: %s",
			      reason, s);
	free(s);
}

/* Wall-clock seconds (the clock `date +%s.%N` reads). */
static double
real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An RFC 3339 UTC time with milliseconds, as jobd prints them, in seconds
 * since the epoch; NAN when s is not one. */
static double
rfc3339(const char *s)
{
	struct tm tm;
	int ms = 0, n = 0;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return NAN;
	if (s[n] == '.' && sscanf(s + n + 1, "%3d", &ms) != 1)
		return NAN;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) + ms / 1000.0;
}

static double
jtime(const json_t *job, const char *key)
{
	return rfc3339(jd_str(job, key));
}

/* Formats t (epoch seconds) as RFC 3339 UTC with milliseconds. */
static void
fmt_rfc3339(double t, char *out, size_t n)
{
	time_t sec = (time_t)floor(t);
	int ms = (int)lround((t - floor(t)) * 1000.0);
	if (ms == 1000) {
		sec++;
		ms = 0;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03dZ", base, ms);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Reads up to max numbers (one or more a line) from a file; returns how
 * many. */
static int
read_numbers(const char *path, double *v, int max)
{
	char *s = jd_slurp(path);
	int n = 0;
	if (s == NULL)
		return 0;
	char *p = s, *end;
	while (n < max) {
		double x = strtod(p, &end);
		if (end == p)
			break;
		v[n++] = x;
		p = end;
	}
	free(s);
	return n;
}

/* The most intervals [start[i], end[i]) open at any one time. */
static int
max_overlap(const double *start, const double *end, int n)
{
	int best = 0;
	for (int i = 0; i < n; i++) {
		/* The peak is at some interval's start. */
		int open = 0;
		for (int k = 0; k < n; k++)
			if (start[k] <= start[i] && end[k] > start[i])
				open++;
		if (open > best)
			best = open;
	}
	return best;
}

/* True when process pid is gone (no such process, or a zombie nobody
 * reaped: it runs nothing any more). */
static bool
pid_gone(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	char *s = jd_slurp(path);
	if (s == NULL)
		return true;
	/* "pid (comm) S ...": the state follows the last ')'. */
	char *rp = strrchr(s, ')');
	bool gone = rp == NULL || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X';
	free(s);
	return gone;
}

static bool
poll_pid_gone(long pid, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (pid_gone(pid))
			return true;
		poll(NULL, 0, 10);
	}
	return pid_gone(pid);
}

/* Waits until path exists and holds a line; returns its first number. */
static long
poll_pid_file(const char *path, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		char *s = jd_slurp(path);
		if (s != NULL && strchr(s, '\n') != NULL) {
			long pid = strtol(s, NULL, 10);
			free(s);
			return pid;
		}
		free(s);
		poll(NULL, 0, 5);
	}
	ck_abort_msg("no pid in %s within %.1f s", path, timeout_s);
	return -1;
}

/* Polls that job id stays in state for hold_s (a bounded watch for
 * something that must not happen). */
static void
assert_stays(struct jd *d, int64_t id, const char *state, double hold_s)
{
	double deadline = jd_now() + hold_s;
	do {
		json_t *job = jd_get(d, id);
		char *s = json_dumps(job, JSON_COMPACT);
		ck_assert_msg(jis(job, "state", state), "want %s: %s", state,
			      s);
		free(s);
		json_decref(job);
		poll(NULL, 0, 20);
	} while (jd_now() < deadline);
}

/* A shell snippet that blocks until the file `name` exists. */
static char *
gate_cmd(const struct jd *d, const char *name)
{
	char *p = jd_path(d, name);
	char *s = xasprintf("while [ ! -e %s ]; do sleep 0.01; done", p);
	free(p);
	return s;
}

static void
gate_open(const struct jd *d, const char *name)
{
	char *p = jd_path(d, name);
	FILE *f = fopen(p, "we");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	free(p);
}

/* Submits {"shell": cmd} and returns its id. */
static int64_t
submit_sh(struct jd *d, const char *cmd)
{
	return jd_submit(d, json_pack("{s:s}", "shell", cmd));
}

/* Sends a request and returns its error code (a static string copy). */
static const char *
req_err(struct jd *d, json_t *req)
{
	static char code[64];
	json_t *r = jd_call(d, req);
	snprintf(code, sizeof(code), "%s", jd_err(r));
	json_decref(r);
	return code;
}

static void
queue_pause(struct jd *d, const char *name, bool pause)
{
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd",
				pause ? "queue.pause" : "queue.resume", "name",
				name));
}

/* Number of jobs list finds (queue may be NULL). */
static size_t
count_jobs(struct jd *d, const char *queue)
{
	json_t *req = json_pack("{s:s,s:i}", "cmd", "list", "limit", 10000);
	if (queue)
		json_object_set_new(req, "queue", json_string(queue));
	json_t *r = jd_call(d, req);
	size_t n = json_array_size(json_object_get(jd_ok(r), "jobs"));
	json_decref(r);
	return n;
}

/* A daemon on a config; the test frees it with jd_free. */
static void
start(struct jd *d, const char *conf)
{
	jd_init(d, conf);
	jd_start(d, NULL);
}

/* ---- timeouts (SPEC 2.3) ---- */

START_TEST(exec_timeout_fails)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 2\n");
	double t0 = jd_now();
	int64_t id = jd_submit(&d, json_pack("{s:s,s:f}", "shell", "sleep 60",
					     "timeout", 1.0));
	json_t *job = jd_wait(&d, id, 10);
	double took = jd_now() - t0;
	assert_job(job, "failed", "timeout");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	ck_assert_msg(took < 2.0, "timeout 1 s took %.3f s", took);
	double ran = jtime(job, "finished_at") - jtime(job, "started_at");
	ck_assert_msg(ran >= 0.95, "killed after %.3f s, before timeout", ran);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_timeout_kill_grace)
{
	struct jd d;
	start(&d, NULL);
	double t0 = jd_now();
	int64_t id =
		jd_submit(&d, json_pack("{s:s,s:f,s:f}", "shell",
					"trap '' TERM; sleep 60", "timeout",
					0.5, "kill_grace", 0.5));
	json_t *job = jd_wait(&d, id, 10);
	double took = jd_now() - t0;
	char *s = json_dumps(job, JSON_COMPACT);
	ck_assert_msg(jis(job, "state", "failed"), "%s", s);
	ck_assert_msg(jis(job, "reason", "timeout") ||
			      jd_num(job, "signal") == 9,
		      "want reason timeout or signal 9: %s", s);
	free(s);
	double ran = jtime(job, "finished_at") - jtime(job, "started_at");
	ck_assert_msg(ran >= 0.95,
		      "SIGKILL came %.3f s after start, before "
		      "timeout + kill_grace",
		      ran);
	ck_assert_msg(took < 1.5 + 0.3, "a job ignoring SIGTERM took %.3f s",
		      took);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_timeout_kills_group)
{
	struct jd d;
	start(&d, NULL);
	char *pidf = jd_path(&d, "grandchild.pid");
	char *cmd = xasprintf("sleep 60 & echo $! > %s.tmp; mv %s.tmp %s; wait",
			      pidf, pidf, pidf);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:f}", "shell", cmd, "timeout", 0.5));
	long pid = poll_pid_file(pidf, 5);
	ck_assert_int_gt(pid, 1);
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "timeout");
	ck_assert_msg(poll_pid_gone(pid, 3),
		      "grandchild %ld outlived its job's timeout", pid);
	json_decref(job);
	free(cmd);
	free(pidf);
	jd_free(&d);
}
END_TEST

/* ---- retries (SPEC 2.4) ---- */

START_TEST(exec_retry_backoff)
{
	struct jd d;
	start(&d, NULL);
	char *cnt = jd_path(&d, "count"), *stamps = jd_path(&d, "stamps");
	char *cmd = xasprintf("n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); "
			      "echo $n > %s; date +%%s.%%N >> %s; [ $n -ge 3 ]",
			      cnt, cnt, stamps);
	int64_t id = jd_submit(&d, json_pack("{s:s,s:i,s:{s:f,s:f,s:f,s:f}}",
					     "shell", cmd, "max_attempts", 3,
					     "backoff", "base", 0.2, "factor",
					     2.0, "max", 10.0, "jitter", 0.0));
	/* Between attempts the job waits in scheduled, reason exit. */
	json_t *job = jd_poll_job(&d, id, "scheduled", -1, 5);
	ck_assert_msg(job != NULL, "never saw the job scheduled for a retry");
	assert_job(job, "scheduled", "exit");
	ck_assert_int_ge(jd_num(job, "attempt"), 1);
	json_decref(job);
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	ck_assert_int_eq(jd_num(job, "attempt"), 3);
	json_decref(job);
	double t[4];
	ck_assert_int_eq(read_numbers(stamps, t, 4), 3);
	double g1 = t[1] - t[0], g2 = t[2] - t[1];
	fprintf(stderr,
		"exec_retry_backoff: gaps %.3f s (want 0.2), %.3f s "
		"(want 0.4)\n",
		g1, g2);
	ck_assert_msg(fabs(g1 - 0.2) <= SLACK_DELAY, "delay(1) was %.3f s", g1);
	ck_assert_msg(fabs(g2 - 0.4) <= SLACK_DELAY, "delay(2) was %.3f s", g2);
	free(cmd);
	free(cnt);
	free(stamps);
	jd_free(&d);
}
END_TEST

START_TEST(exec_retry_exhausted)
{
	struct jd d;
	start(&d, NULL);
	char *stamps = jd_path(&d, "stamps");
	char *cmd = xasprintf("date +%%s.%%N >> %s; exit 3", stamps);
	int64_t id = jd_submit(&d, json_pack("{s:s,s:i,s:{s:f,s:f}}", "shell",
					     cmd, "max_attempts", 2, "backoff",
					     "base", 0.1, "jitter", 0.0));
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "exit");
	ck_assert_int_eq(jd_num(job, "attempt"), 2);
	ck_assert_int_eq(jd_num(job, "max_attempts"), 2);
	ck_assert_int_eq(jd_num(job, "exit_code"), 3);
	ck_assert_int_eq(jd_count_lines(stamps), 2);
	json_decref(job);
	free(cmd);
	free(stamps);
	jd_free(&d);
}
END_TEST

START_TEST(exec_spawn_error_not_retried)
{
	struct jd d;
	start(&d, NULL);
	int64_t id = jd_submit(&d, json_pack("{s:[s],s:i,s:{s:f,s:f}}", "argv",
					     "/nonexistent/jobd-test-program",
					     "max_attempts", 3, "backoff",
					     "base", 0.05, "jitter", 0.0));
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "spawn_error");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	/* A bad cwd is a spawn error too. */
	id = jd_submit(&d, json_pack("{s:s,s:s,s:i}", "shell", "true", "cwd",
				     "/nonexistent/jobd-test-dir",
				     "max_attempts", 3));
	job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "spawn_error");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	jd_free(&d);
}
END_TEST

/* ---- scheduling ---- */

START_TEST(exec_delay)
{
	struct jd d;
	start(&d, NULL);
	char *stamp = jd_path(&d, "start");
	char *cmd = xasprintf("date +%%s.%%N > %s", stamp);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:f}", "shell", cmd, "delay", 0.3));
	json_t *job = jd_get(&d, id);
	assert_job(job, "scheduled", NULL);
	json_decref(job);
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	double created = jtime(job, "created_at"),
	       run_at = jtime(job, "run_at");
	double started = jtime(job, "started_at");
	ck_assert_msg(started - created >= 0.3 - 0.0015,
		      "started %.3f s after submit, delay 0.3",
		      started - created);
	double t;
	ck_assert_int_eq(read_numbers(stamp, &t, 1), 1);
	fprintf(stderr, "exec_delay: job started %.3f s after run_at\n",
		t - run_at);
	ck_assert_msg(t >= run_at - 0.0015, "job ran %.3f s before run_at",
		      run_at - t);
	ck_assert_msg(t - run_at <= SLACK_START,
		      "job started %.3f s after run_at", t - run_at);
	json_decref(job);
	free(cmd);
	free(stamp);
	jd_free(&d);
}
END_TEST

START_TEST(exec_run_at)
{
	struct jd d;
	start(&d, NULL);
	char *stamp = jd_path(&d, "start");
	char *cmd = xasprintf("date +%%s.%%N > %s", stamp);
	char when[64];
	double want = real_now() + 0.5;
	fmt_rfc3339(want, when, sizeof(when));
	want = rfc3339(when);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", cmd, "run_at", when));
	json_t *job = jd_get(&d, id);
	assert_job(job, "scheduled", NULL);
	ck_assert_msg(fabs(jtime(job, "run_at") - want) < 0.0015,
		      "run_at %s, sent %s", jd_str(job, "run_at"), when);
	json_decref(job);
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	double t;
	ck_assert_int_eq(read_numbers(stamp, &t, 1), 1);
	fprintf(stderr, "exec_run_at: job started %.3f s after run_at\n",
		t - want);
	ck_assert_msg(t >= want - 0.0015, "job ran %.3f s before run_at",
		      want - t);
	ck_assert_msg(t - want <= SLACK_START,
		      "job started %.3f s after run_at", t - want);
	json_decref(job);
	free(cmd);
	free(stamp);
	jd_free(&d);
}
END_TEST

START_TEST(exec_delay_with_run_at_refused)
{
	struct jd d;
	start(&d, NULL);
	char when[64];
	fmt_rfc3339(real_now() + 60, when, sizeof(when));
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:{s:s,s:f,s:s}}", "cmd",
					       "submit", "job", "shell", "true",
					       "delay", 1.0, "run_at", when)),
			 "invalid_argument");
	ck_assert_int_eq(count_jobs(&d, NULL), 0);
	jd_free(&d);
}
END_TEST

/* ---- priorities (SPEC 3) ---- */

START_TEST(exec_priority_order)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 1\n");
	char *order = jd_path(&d, "order");
	char *cmd = xasprintf("echo $JOBD_JOB_ID >> %s", order);
	char past[64];
	fmt_rfc3339(real_now() - 30, past, sizeof(past));
	queue_pause(&d, "default", true);
	int prio[] = {0, 10, -5, 10, 0};
	int64_t ids[6];
	for (int i = 0; i < 5; i++)
		ids[i] = jd_submit(&d, json_pack("{s:s,s:i}", "shell", cmd,
						 "priority", prio[i]));
	/* Same priority as ids[0] and ids[4], higher id, earlier run_at. */
	ids[5] = jd_submit(&d, json_pack("{s:s,s:i,s:s}", "shell", cmd,
					 "priority", 0, "run_at", past));
	json_t *job = jd_get(&d, ids[5]);
	assert_job(job, "queued", NULL);
	json_decref(job);
	queue_pause(&d, "default", false);
	for (int i = 0; i < 6; i++)
		json_decref(jd_wait(&d, ids[i], 10));
	double got[6];
	ck_assert_int_eq(read_numbers(order, got, 6), 6);
	/* priority desc, then run_at, then id. */
	int64_t want[6] = {ids[1], ids[3], ids[5], ids[0], ids[4], ids[2]};
	for (int i = 0; i < 6; i++)
		ck_assert_msg((int64_t)got[i] == want[i],
			      "start %d was job %lld, want %lld", i,
			      (long long)got[i], (long long)want[i]);
	free(cmd);
	free(order);
	jd_free(&d);
}
END_TEST

/* ---- rate limits (SPEC 3) ---- */

START_TEST(exec_rate_limit)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i,s:{s:f,s:f,s:f}}", "cmd",
				 "queue.create", "name", "rl", "concurrency",
				 20, "rate", "limit", 5.0, "period", 1.0,
				 "burst", 1.0));
	char *stamps = jd_path(&d, "starts");
	char *cmd = xasprintf("date +%%s.%%N >> %s", stamps);
	json_t *jobs = json_array();
	for (int i = 0; i < 11; i++)
		json_array_append_new(jobs, json_pack("{s:s,s:s}", "shell", cmd,
						      "queue", "rl"));
	json_t *r = jd_req(&d, "{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	json_t *ids = json_incref(json_object_get(jd_ok(r), "ids"));
	json_decref(r);
	r = jd_req(&d, "{s:s,s:O,s:f}", "cmd", "wait", "job_ids", ids,
		   "timeout", 15.0);
	jd_ok(r);
	json_decref(r);
	json_decref(ids);
	double t[11];
	ck_assert_int_eq(read_numbers(stamps, t, 11), 11);
	qsort(t, 11, sizeof(double), cmp_double);
	double spread = t[10] - t[0];
	int worst = 0;
	for (int i = 0; i < 11; i++) {
		int n = 0;
		for (int k = i; k < 11 && t[k] - t[i] < 1.0; k++)
			n++;
		if (n > worst)
			worst = n;
	}
	fprintf(stderr,
		"exec_rate_limit: 11 starts over %.3f s (%.2f/s after the "
		"first, want 5/s); at most %d in any 1 s window\n",
		spread, 10 / spread, worst);
	ck_assert_msg(spread >= 1.9, "11 starts at 5/s took only %.3f s",
		      spread);
	ck_assert_msg(spread <= 3.0, "11 starts at 5/s took %.3f s", spread);
	ck_assert_msg(worst <= 6, "%d starts within one second", worst);
	free(cmd);
	free(stamps);
	jd_free(&d);
}
END_TEST

/* ---- concurrency (SPEC 3) ---- */

/* A job that sleeps secs between two stamps "start end" in file. */
static char *
timed_cmd(const char *file, const char *secs)
{
	return xasprintf("s=$(date +%%s.%%N); sleep %s; "
			 "echo \"$s $(date +%%s.%%N)\" >> %s",
			 secs, file);
}

/* Reads "start end" pairs; returns how many. */
static int
read_intervals(const char *file, double *start, double *end, int max)
{
	double v[200];
	int n = read_numbers(file, v, max * 2 < 200 ? max * 2 : 200) / 2;
	for (int i = 0; i < n; i++) {
		start[i] = v[2 * i];
		end[i] = v[2 * i + 1];
	}
	return n;
}

/* Submits n jobs of cmd in one batch; ids into out. */
static void
submit_batch(struct jd *d, const char *cmd, const char *queue, int n,
	     int64_t *out)
{
	json_t *jobs = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(jobs, json_pack("{s:s,s:s}", "shell", cmd,
						      "queue", queue));
	json_t *r = jd_req(d, "{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	json_t *ids = json_object_get(jd_ok(r), "ids");
	ck_assert_int_eq(json_array_size(ids), n);
	for (int i = 0; i < n; i++)
		out[i] = json_integer_value(json_array_get(ids, i));
	json_decref(r);
}

static void
wait_all(struct jd *d, const int64_t *ids, int n, double timeout_s)
{
	for (int i = 0; i < n; i++) {
		json_t *job = jd_wait(d, ids[i], timeout_s);
		assert_job(job, "succeeded", NULL);
		json_decref(job);
	}
}

/* Polls queue name until its running count is want; true when it got
 * there. */
static bool
poll_running(struct jd *d, const char *name, json_int_t want, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	do {
		json_t *q = jd_queue_get(d, name, NULL);
		json_int_t n = jd_num(json_object_get(q, "counts"), "running");
		json_decref(q);
		if (n == want)
			return true;
		poll(NULL, 0, 3);
	} while (jd_now() < deadline);
	return false;
}

START_TEST(exec_concurrency_limit)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 3\n");
	char *file = jd_path(&d, "intervals");
	char *cmd = timed_cmd(file, "0.1");
	int64_t ids[20];
	submit_batch(&d, cmd, "default", 20, ids);
	wait_all(&d, ids, 20, 20);
	double s[20], e[20];
	ck_assert_int_eq(read_intervals(file, s, e, 20), 20);
	int most = max_overlap(s, e, 20);
	fprintf(stderr, "exec_concurrency_limit: at most %d at once\n", most);
	ck_assert_msg(most <= 3, "%d jobs ran at once, concurrency 3", most);
	ck_assert_msg(most == 3, "never ran 3 at once (only %d)", most);
	free(cmd);
	free(file);
	jd_free(&d);
}
END_TEST

START_TEST(exec_concurrency_raise)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 2\n");
	char *file = jd_path(&d, "intervals");
	char *cmd = timed_cmd(file, "1");
	int64_t ids[8];
	submit_batch(&d, cmd, "default", 8, ids);
	ck_assert(poll_running(&d, "default", 2, 5));
	double raised = real_now();
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "default", "concurrency", 6));
	/* At once: well before the first two (1 s each) are done. */
	ck_assert_msg(poll_running(&d, "default", 6, 0.5),
		      "raising concurrency to 6 did not start 4 more jobs");
	wait_all(&d, ids, 8, 10);
	double s[8], e[8];
	ck_assert_int_eq(read_intervals(file, s, e, 8), 8);
	int most = max_overlap(s, e, 8);
	/* The first two ran 1 s from before the update; four more joined
	 * them at once, and the last two waited for free slots. */
	int soon = 0;
	for (int i = 0; i < 8; i++)
		if (s[i] < raised + 0.5)
			soon++;
	fprintf(stderr,
		"exec_concurrency_raise: at most %d at once; %d started by "
		"0.5 s after the update\n",
		most, soon);
	ck_assert_msg(most == 6, "%d at once after raising to 6", most);
	ck_assert_int_eq(soon, 6);
	free(cmd);
	free(file);
	jd_free(&d);
}
END_TEST

START_TEST(exec_concurrency_lower)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 4\n");
	char *first = jd_path(&d, "first"), *second = jd_path(&d, "second");
	/* The running four end one by one, 0.15 s apart. */
	static const char *const secs[4] = {"0.3", "0.45", "0.6", "0.75"};
	int64_t a[4], b[4];
	for (int i = 0; i < 4; i++) {
		char *cmd = timed_cmd(first, secs[i]);
		a[i] = submit_sh(&d, cmd);
		free(cmd);
	}
	ck_assert(poll_running(&d, "default", 4, 5));
	char *cmd2 = timed_cmd(second, "0.1");
	submit_batch(&d, cmd2, "default", 4, b);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "default", "concurrency", 1));
	/* The running ones go on to their end. */
	wait_all(&d, a, 4, 10);
	wait_all(&d, b, 4, 10);
	double s1[4], e1[4], s2[4], e2[4];
	ck_assert_int_eq(read_intervals(first, s1, e1, 4), 4);
	ck_assert_int_eq(read_intervals(second, s2, e2, 4), 4);
	double last_end = 0;
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(e1[i] - s1[i] >= 0.3,
			      "a running job was cut short");
		if (e1[i] > last_end)
			last_end = e1[i];
	}
	/* Concurrency 1: nothing new starts while any of the four still
	 * runs, and then one at a time. */
	double s[8], e[8];
	for (int i = 0; i < 4; i++) {
		s[i] = s1[i];
		e[i] = e1[i];
		s[4 + i] = s2[i];
		e[4 + i] = e2[i];
	}
	int early = 0;
	for (int i = 0; i < 4; i++)
		if (s2[i] < last_end)
			early++;
	ck_assert_msg(early == 0,
		      "%d queued jobs started while the old jobs still ran "
		      "(up to %d at once after lowering concurrency to 1)",
		      early, max_overlap(s, e, 8));
	ck_assert_int_eq(max_overlap(s2, e2, 4), 1);
	free(cmd2);
	free(first);
	free(second);
	jd_free(&d);
}
END_TEST

/* ---- capacity (SPEC 3) ---- */

START_TEST(exec_capacity)
{
	struct jd d;
	start(&d, "[queue small]\ncapacity = 2\n");
	queue_pause(&d, "small", true);
	json_t *one = json_pack("{s:s,s:s}", "shell", "true", "queue", "small");
	ck_assert_int_gt(jd_submit(&d, json_deep_copy(one)), 0);
	/* A batch that does not fit: all of it is refused, also the part
	 * bound for another queue. */
	json_t *jobs = json_pack("[O,O,{s:s}]", one, one, "shell", "true");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:o}", "cmd", "submit",
					       "jobs", jobs)),
			 "queue_full");
	ck_assert_int_eq(count_jobs(&d, "small"), 1);
	ck_assert_int_eq(count_jobs(&d, "default"), 0);
	ck_assert_int_gt(jd_submit(&d, json_deep_copy(one)), 0);
	/* The third pending job. */
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:O}", "cmd", "submit",
					       "job", one)),
			 "queue_full");
	ck_assert_int_eq(count_jobs(&d, "small"), 2);
	json_decref(one);
	jd_free(&d);
}
END_TEST

/* ---- dependencies (SPEC 2.5) ---- */

START_TEST(exec_deps_wait)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	json_t *job = jd_poll_job(&d, a, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	job = jd_get(&d, b);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	assert_stays(&d, b, "waiting", 0.2);
	gate_open(&d, "gate");
	json_t *ja = jd_wait(&d, a, 10), *jb = jd_wait(&d, b, 10);
	assert_job(ja, "succeeded", NULL);
	assert_job(jb, "succeeded", NULL);
	ck_assert_msg(jtime(jb, "started_at") >= jtime(ja, "finished_at"),
		      "B started before A finished");
	json_decref(ja);
	json_decref(jb);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_failure_cascades)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	char *cmd = xasprintf("%s; exit 1", gate);
	int64_t a = submit_sh(&d, cmd);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	int64_t c = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)b));
	json_t *job = jd_get(&d, c);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "failed", "exit");
	json_decref(job);
	int64_t ids[2] = {b, c};
	for (int i = 0; i < 2; i++) {
		job = jd_wait(&d, ids[i], 5);
		assert_job(job, "cancelled", "dependency_failed");
		ck_assert_int_eq(jd_num(job, "attempt"), 0);
		ck_assert(json_is_null(json_object_get(job, "started_at")));
		json_decref(job);
	}
	free(cmd);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_missing_refused)
{
	struct jd d;
	start(&d, NULL);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:{s:s,s:[i]}}", "cmd",
					       "submit", "job", "shell", "true",
					       "depends_on", 9999)),
			 "invalid_argument");
	ck_assert_int_eq(count_jobs(&d, NULL), 0);
	jd_free(&d);
}
END_TEST

START_TEST(exec_deps_on_failed_cancelled_at_once)
{
	struct jd d;
	start(&d, NULL);
	int64_t a = submit_sh(&d, "exit 1");
	json_t *job = jd_wait(&d, a, 10);
	assert_job(job, "failed", "exit");
	json_decref(job);
	int64_t b = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)a));
	job = jd_get(&d, b);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	/* A cancelled dependency counts the same. */
	int64_t c = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", "true",
					    "depends_on", (json_int_t)b));
	job = jd_get(&d, c);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	jd_free(&d);
}
END_TEST

/* ---- unique keys (SPEC 2.6) ---- */

START_TEST(exec_unique_key)
{
	struct jd d;
	start(&d, NULL);
	char *gate = gate_cmd(&d, "gate");
	json_t *r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job",
			   "shell", gate, "unique_key", "k");
	json_t *res = jd_ok(r);
	json_int_t first = jd_num(res, "id");
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	json_decref(r);
	r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job", "shell",
		   "true", "unique_key", "k");
	res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "id"), first);
	ck_assert(json_is_true(json_object_get(res, "duplicate")));
	json_decref(r);
	/* In one batch: x twice (the second is the first's duplicate), and
	 * k (a duplicate of the running job). */
	r = jd_req(&d, "{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "cmd",
		   "submit", "jobs", "shell", "true", "unique_key", "x",
		   "shell", "true", "unique_key", "x", "shell", "true",
		   "unique_key", "k");
	res = jd_ok(r);
	json_t *ids = json_object_get(res, "ids");
	json_t *dups = json_object_get(res, "duplicates");
	ck_assert_int_eq(json_array_size(ids), 3);
	ck_assert_int_eq(json_integer_value(json_array_get(ids, 1)),
			 json_integer_value(json_array_get(ids, 0)));
	ck_assert_int_ne(json_integer_value(json_array_get(ids, 0)), first);
	ck_assert_int_eq(json_integer_value(json_array_get(ids, 2)), first);
	ck_assert(json_is_false(json_array_get(dups, 0)));
	ck_assert(json_is_true(json_array_get(dups, 1)));
	ck_assert(json_is_true(json_array_get(dups, 2)));
	json_decref(r);
	ck_assert_int_eq(count_jobs(&d, NULL), 2);
	/* Once the first is terminal, k is free again. */
	gate_open(&d, "gate");
	json_decref(jd_wait(&d, first, 10));
	r = jd_req(&d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job", "shell",
		   "true", "unique_key", "k");
	res = jd_ok(r);
	ck_assert_int_ne(jd_num(res, "id"), first);
	ck_assert(json_is_false(json_object_get(res, "duplicate")));
	json_decref(r);
	free(gate);
	jd_free(&d);
}
END_TEST

/* ---- cancel and retry (SPEC 5.1) ---- */

static json_t *
cancel(struct jd *d, int64_t id)
{
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)id);
	jd_ok(r);
	json_decref(r);
	return jd_get(d, id);
}

START_TEST(exec_cancel_pending)
{
	struct jd d;
	start(&d, NULL);
	char *mark = jd_path(&d, "ran");
	char *cmd = xasprintf("touch %s", mark);
	char *gate = gate_cmd(&d, "gate");
	/* queued, in a paused queue */
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, cmd);
	/* scheduled */
	int64_t s = jd_submit(
		&d, json_pack("{s:s,s:f}", "shell", cmd, "delay", 30.0));
	/* waiting, with a dependent of its own */
	int64_t a = submit_sh(&d, gate);
	int64_t w = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", cmd,
					    "depends_on", (json_int_t)a));
	int64_t w2 = jd_submit(&d, json_pack("{s:s,s:[I]}", "shell", cmd,
					     "depends_on", (json_int_t)w));
	json_t *job = jd_get(&d, q);
	assert_job(job, "queued", NULL);
	json_decref(job);
	job = jd_get(&d, s);
	assert_job(job, "scheduled", NULL);
	json_decref(job);
	job = jd_get(&d, w);
	assert_job(job, "waiting", NULL);
	json_decref(job);
	int64_t ids[3] = {q, s, w};
	for (int i = 0; i < 3; i++) {
		job = cancel(&d, ids[i]);
		assert_job(job, "cancelled", "cancelled");
		json_decref(job);
	}
	job = jd_get(&d, w2);
	assert_job(job, "cancelled", "dependency_failed");
	json_decref(job);
	queue_pause(&d, "default", false);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	/* Nothing cancelled ran, nor came back. */
	int64_t probe = submit_sh(&d, "true");
	json_decref(jd_wait(&d, probe, 10));
	for (int i = 0; i < 3; i++) {
		job = jd_get(&d, ids[i]);
		assert_job(job, "cancelled", "cancelled");
		json_decref(job);
	}
	ck_assert_msg(access(mark, F_OK) != 0, "a cancelled job ran");
	free(gate);
	free(cmd);
	free(mark);
	jd_free(&d);
}
END_TEST

START_TEST(exec_cancel_running)
{
	struct jd d;
	start(&d, NULL);
	char *pidf = jd_path(&d, "pid"), *starts = jd_path(&d, "starts");
	char *cmd = xasprintf("echo x >> %s; sleep 60 & echo $! > %s.tmp; "
			      "mv %s.tmp %s; wait",
			      starts, pidf, pidf, pidf);
	int64_t id = jd_submit(&d, json_pack("{s:s,s:i,s:{s:f,s:f}}", "shell",
					     cmd, "max_attempts", 3, "backoff",
					     "base", 0.05, "jitter", 0.0));
	long pid = poll_pid_file(pidf, 5);
	double t0 = jd_now();
	json_t *job = cancel(&d, id);
	assert_job(job, "cancelled", "cancelled");
	json_decref(job);
	ck_assert_msg(poll_pid_gone(pid, 2),
		      "the cancelled job's process %ld lives on", pid);
	double took = jd_now() - t0;
	fprintf(stderr,
		"exec_cancel_running: process gone %.3f s after "
		"cancel\n",
		took);
	/* No retry follows: a retry would come 0.05 s after. */
	assert_stays(&d, id, "cancelled", 0.4);
	job = jd_get(&d, id);
	assert_job(job, "cancelled", "cancelled");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	ck_assert_int_eq(jd_count_lines(starts), 1);
	free(cmd);
	free(pidf);
	free(starts);
	jd_free(&d);
}
END_TEST

START_TEST(exec_cancel_terminal_refused)
{
	struct jd d;
	start(&d, NULL);
	int64_t done = submit_sh(&d, "true");
	json_decref(jd_wait(&d, done, 10));
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)done);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, "true");
	r = jd_req(&d, "{s:s,s:[I,I]}", "cmd", "cancel", "job_ids",
		   (json_int_t)q, (json_int_t)done);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	json_t *job = jd_get(&d, q);
	assert_job(job, "queued", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_retry_failed)
{
	struct jd d;
	start(&d, NULL);
	char *cnt = jd_path(&d, "count");
	char *cmd = xasprintf("n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); "
			      "echo $n > %s; [ $n -ge 2 ]",
			      cnt, cnt);
	int64_t id = submit_sh(&d, cmd);
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "failed", "exit");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	queue_pause(&d, "default", true);
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id",
			   (json_int_t)id);
	job = json_object_get(jd_ok(r), "job");
	assert_job(job, "queued", NULL);
	ck_assert_int_eq(jd_num(job, "attempt"), 0);
	json_decref(r);
	queue_pause(&d, "default", false);
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	/* A cancelled job can be retried too. */
	queue_pause(&d, "default", true);
	int64_t c = submit_sh(&d, "true");
	json_decref(cancel(&d, c));
	r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id", (json_int_t)c);
	assert_job(json_object_get(jd_ok(r), "job"), "queued", NULL);
	json_decref(r);
	free(cmd);
	free(cnt);
	jd_free(&d);
}
END_TEST

START_TEST(exec_retry_refused)
{
	struct jd d;
	start(&d, NULL);
	int64_t ok = submit_sh(&d, "true");
	json_decref(jd_wait(&d, ok, 10));
	json_t *r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id",
			   (json_int_t)ok);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	queue_pause(&d, "default", true);
	int64_t q = submit_sh(&d, "true");
	r = jd_req(&d, "{s:s,s:I}", "cmd", "retry", "job_id", (json_int_t)q);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	r = jd_req(&d, "{s:s,s:i}", "cmd", "retry", "job_id", 9999);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	jd_free(&d);
}
END_TEST

/* ---- queues (SPEC 3, 5.1) ---- */

START_TEST(exec_queue_create_get_list)
{
	struct jd d;
	start(&d, NULL);
	json_t *r = jd_req(&d,
			   "{s:s,s:s,s:i,s:i,s:f,s:i,s:{s:f,s:f,s:f,s:f},"
			   "s:{s:f,s:f}}",
			   "cmd", "queue.create", "name", "q1", "concurrency",
			   2, "capacity", 5, "timeout", 3.0, "max_attempts", 4,
			   "backoff", "base", 0.5, "factor", 3.0, "max", 9.0,
			   "jitter", 0.0, "rate", "limit", 7.0, "period", 2.0);
	json_t *q = json_object_get(jd_ok(r), "queue");
	ck_assert(jis(q, "name", "q1"));
	json_decref(r);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.create", "name", "q1")),
			 "invalid_state");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.create",
				      "name", "default")),
		"invalid_state");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.create",
				      "name", "bad/name")),
		"invalid_argument");
	q = jd_queue_get(&d, "q1", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	ck_assert_int_eq(jd_num(q, "capacity"), 5);
	ck_assert_int_eq(jd_num(q, "max_attempts"), 4);
	ck_assert(fabs(json_number_value(json_object_get(q, "timeout")) - 3) <
		  1e-9);
	json_t *bo = json_object_get(q, "backoff");
	ck_assert(json_number_value(json_object_get(bo, "base")) == 0.5);
	ck_assert(json_number_value(json_object_get(bo, "factor")) == 3.0);
	ck_assert(json_number_value(json_object_get(bo, "max")) == 9.0);
	ck_assert(json_number_value(json_object_get(bo, "jitter")) == 0.0);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 7.0);
	ck_assert(json_number_value(json_object_get(rate, "period")) == 2.0);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	/* The queue's defaults are copied into its jobs. */
	queue_pause(&d, "q1", true);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q1"));
	jd_submit(&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q1"));
	json_t *job = jd_get(&d, id);
	ck_assert_int_eq(jd_num(job, "max_attempts"), 4);
	ck_assert(json_number_value(json_object_get(job, "timeout")) == 3.0);
	ck_assert(json_number_value(json_object_get(
			  json_object_get(job, "backoff"), "base")) == 0.5);
	json_decref(job);
	int64_t dflt = submit_sh(&d, "true");
	json_decref(jd_wait(&d, dflt, 10));
	r = jd_req(&d, "{s:s}", "cmd", "queue.list");
	json_t *qs = json_object_get(jd_ok(r), "queues");
	bool seen_q1 = false, seen_default = false;
	size_t i;
	json_array_foreach (qs, i, q) {
		json_t *counts = json_object_get(q, "counts");
		ck_assert(json_is_object(counts));
		if (jis(q, "name", "q1")) {
			seen_q1 = true;
			ck_assert_int_eq(jd_num(counts, "queued"), 2);
			ck_assert_int_eq(jd_num(counts, "succeeded"), 0);
		} else if (jis(q, "name", "default")) {
			seen_default = true;
			ck_assert_int_eq(jd_num(counts, "queued"), 0);
			ck_assert_int_eq(jd_num(counts, "succeeded"), 1);
		}
	}
	ck_assert(seen_q1 && seen_default);
	json_decref(r);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_update)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "q"));
	json_t *r = jd_req(&d, "{s:s,s:s,s:i,s:i,s:{s:f,s:f,s:f}}", "cmd",
			   "queue.update", "name", "q", "concurrency", 7,
			   "capacity", 9, "rate", "limit", 3.0, "period", 1.0,
			   "burst", 2.0);
	jd_ok(r);
	json_decref(r);
	json_t *q = jd_queue_get(&d, "q", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 7);
	ck_assert_int_eq(jd_num(q, "capacity"), 9);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 3.0);
	ck_assert(json_number_value(json_object_get(rate, "burst")) == 2.0);
	json_decref(q);
	/* Keys not sent keep their values; rate null removes the limit. */
	jd_call_ok(&d, json_pack("{s:s,s:s,s:n}", "cmd", "queue.update", "name",
				 "q", "rate"));
	q = jd_queue_get(&d, "q", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 7);
	ck_assert(json_is_null(json_object_get(q, "rate")));
	json_decref(q);
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update",
				      "name", "q", "concurrency", 0)),
		"invalid_argument");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update",
				      "name", "q", "bogus", 1)),
		"invalid_argument");
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_delete)
{
	struct jd d;
	start(&d, NULL);
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.delete",
				      "name", "default")),
		"invalid_argument");
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "q"));
	queue_pause(&d, "q", true);
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "q"));
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.delete", "name", "q")),
			 "invalid_state");
	json_decref(jd_queue_get(&d, "q", NULL));
	json_decref(cancel(&d, id));
	/* Nor with a running job. */
	queue_pause(&d, "q", false);
	char *gate = gate_cmd(&d, "gate");
	id = jd_submit(&d, json_pack("{s:s,s:s}", "shell", gate, "queue", "q"));
	json_t *job = jd_poll_job(&d, id, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd",
					       "queue.delete", "name", "q")),
			 "invalid_state");
	gate_open(&d, "gate");
	json_decref(jd_wait(&d, id, 10));
	free(gate);
	/* With only finished jobs left it goes. */
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.delete", "name", "q"));
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "queue.get",
					       "name", "q")),
			 "unknown_queue");
	/* An empty queue goes at once, and its name can be used again. */
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.create", "name", "e"));
	jd_call_ok(&d,
		   json_pack("{s:s,s:s}", "cmd", "queue.delete", "name", "e"));
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:{s:s,s:s}}", "cmd", "submit",
				      "job", "shell", "true", "queue", "e")),
		"unknown_queue");
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.create", "name",
				 "e", "concurrency", 1));
	id = jd_submit(&d,
		       json_pack("{s:s,s:s}", "shell", "true", "queue", "e"));
	job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_pause_resume)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 2\n");
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	json_t *job = jd_poll_job(&d, a, "running", -1, 5);
	ck_assert_ptr_nonnull(job);
	json_decref(job);
	json_t *r = jd_req(&d, "{s:s,s:s}", "cmd", "queue.pause", "name",
			   "default");
	ck_assert(json_is_true(
		json_object_get(json_object_get(jd_ok(r), "queue"), "paused")));
	json_decref(r);
	int64_t b = submit_sh(&d, "true");
	/* A paused queue starts nothing, while a slot is free; the running
	 * job goes on. */
	assert_stays(&d, b, "queued", 0.3);
	job = jd_get(&d, a);
	assert_job(job, "running", NULL);
	json_decref(job);
	gate_open(&d, "gate");
	job = jd_wait(&d, a, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	assert_stays(&d, b, "queued", 0.1);
	r = jd_req(&d, "{s:s,s:s}", "cmd", "queue.resume", "name", "default");
	ck_assert(json_is_false(
		json_object_get(json_object_get(jd_ok(r), "queue"), "paused")));
	json_decref(r);
	job = jd_wait(&d, b, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	free(gate);
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_unknown)
{
	struct jd d;
	start(&d, NULL);
	static const char *const cmds[] = {"queue.get", "queue.update",
					   "queue.delete", "queue.pause",
					   "queue.resume"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		json_t *req =
			json_pack("{s:s,s:s}", "cmd", cmds[i], "name", "nope");
		if (strcmp(cmds[i], "queue.update") == 0)
			json_object_set_new(req, "concurrency",
					    json_integer(2));
		ck_assert_msg(strcmp(req_err(&d, req), "unknown_queue") == 0,
			      "%s of a missing queue", cmds[i]);
	}
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:{s:s,s:s}}", "cmd", "submit",
				      "job", "shell", "true", "queue", "nope")),
		"unknown_queue");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "list",
					       "queue", "nope")),
			 "unknown_queue");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s}", "cmd", "watch",
					       "queue", "nope")),
			 "unknown_queue");
	jd_free(&d);
}
END_TEST

START_TEST(exec_queue_persists)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i,s:i,s:i,s:{s:f,s:f,s:f}}", "cmd",
				 "queue.create", "name", "pq", "concurrency", 3,
				 "capacity", 7, "max_attempts", 2, "rate",
				 "limit", 2.0, "period", 1.0, "burst", 4.0));
	queue_pause(&d, "pq", true);
	queue_pause(&d, "default", true);
	queue_pause(&d, "default", false);
	ck_assert_int_eq(jd_stop(&d), 0);
	jd_start(&d, NULL);
	json_t *q = jd_queue_get(&d, "pq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 3);
	ck_assert_int_eq(jd_num(q, "capacity"), 7);
	ck_assert_int_eq(jd_num(q, "max_attempts"), 2);
	json_t *rate = json_object_get(q, "rate");
	ck_assert(json_number_value(json_object_get(rate, "limit")) == 2.0);
	ck_assert(json_number_value(json_object_get(rate, "burst")) == 4.0);
	ck_assert(json_is_true(json_object_get(q, "paused")));
	json_decref(q);
	q = jd_queue_get(&d, "default", NULL);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	/* Still paused in deed, not only in word. */
	int64_t id = jd_submit(
		&d, json_pack("{s:s,s:s}", "shell", "true", "queue", "pq"));
	assert_stays(&d, id, "queued", 0.2);
	queue_pause(&d, "pq", false);
	json_t *job = jd_wait(&d, id, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	jd_free(&d);
}
END_TEST

/* ---- jobctl (SPEC 8) ---- */

/* Runs jobctl and fails unless it exits with want; returns its stdout
 * (caller frees). */
#define JOBCTL(d, want, ...) \
	jobctl_check((d), (want), __FILE__, __LINE__, __VA_ARGS__, NULL)

static char *jobctl_check(struct jd *d, int want, const char *file, int line,
			  ...) __attribute__((sentinel));

static char *
jobctl_check(struct jd *d, int want, const char *file, int line, ...)
{
	const char *a[32] = {NULL};
	int n = 0;
	va_list ap;
	va_start(ap, line);
	while (n < 31 && (a[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	a[n] = NULL;
	/* jd_jobctl takes a NULL-terminated list; pass up to 12. */
	ck_assert_int_le(n, 12);
	char *out = NULL, *err = NULL;
	int st = jd_jobctl(d, NULL, &out, &err, a[0], a[1], a[2], a[3], a[4],
			   a[5], a[6], a[7], a[8], a[9], a[10], a[11], NULL);
	ck_assert_msg(st == want,
		      "%s:%d: jobctl %s %s %s exited %d, want %d; stdout: "
		      "%s; stderr: %s",
		      file, line, a[0] ? a[0] : "", n > 1 ? a[1] : "",
		      n > 2 ? a[2] : "", st, want, out, err);
	if (want == 1 || want == 3)
		ck_assert_msg(strncmp(err, "jobctl: ", 8) == 0 &&
				      strchr(err, '\n') ==
					      err + strlen(err) - 1,
			      "%s:%d: want one 'jobctl: ...' error line, got "
			      "'%s'",
			      file, line, err);
	free(err);
	return out;
}

static int64_t
out_id(char *out)
{
	char *end;
	long long id = strtoll(out, &end, 10);
	ck_assert_msg(id > 0 && strcmp(end, "\n") == 0,
		      "want an id alone, got '%s'", out);
	free(out);
	return id;
}

START_TEST(exec_jobctl_cancel_retry)
{
	struct jd d;
	start(&d, NULL);
	queue_pause(&d, "default", true);
	int64_t id = submit_sh(&d, "true");
	char sid[32];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	free(JOBCTL(&d, 0, "cancel", sid));
	json_t *job = jd_get(&d, id);
	assert_job(job, "cancelled", "cancelled");
	json_decref(job);
	/* Cancelling it again: the daemon answers invalid_state. */
	free(JOBCTL(&d, 1, "cancel", sid));
	free(JOBCTL(&d, 0, "retry", sid));
	job = jd_get(&d, id);
	assert_job(job, "queued", NULL);
	json_decref(job);
	queue_pause(&d, "default", false);
	json_decref(jd_wait(&d, id, 10));
	char *err = NULL;
	ck_assert_int_eq(jd_jobctl(&d, NULL, NULL, &err, "retry", sid, NULL),
			 1);
	ck_assert_msg(strncmp(err, "jobctl: invalid_state: ", 23) == 0,
		      "stderr: %s", err);
	free(err);
	ck_assert_int_eq(
		jd_jobctl(&d, NULL, NULL, &err, "cancel", "9999", NULL), 1);
	ck_assert_msg(strncmp(err, "jobctl: not_found: ", 19) == 0,
		      "stderr: %s", err);
	free(err);
	free(JOBCTL(&d, 2, "cancel"));
	jd_free(&d);
}
END_TEST

START_TEST(exec_jobctl_queue)
{
	struct jd d;
	start(&d, NULL);
	free(JOBCTL(&d, 0, "queue", "add", "jq", "--concurrency", "2", "--rate",
		    "5/s", "--capacity", "10"));
	json_t *q = jd_queue_get(&d, "jq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	ck_assert_int_eq(jd_num(q, "capacity"), 10);
	ck_assert(json_number_value(json_object_get(json_object_get(q, "rate"),
						    "limit")) == 5.0);
	json_decref(q);
	free(JOBCTL(&d, 1, "queue", "add", "jq"));
	free(JOBCTL(&d, 0, "queue", "set", "jq", "--concurrency", "4"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 4);
	json_decref(q);
	char *out = JOBCTL(&d, 0, "queue", "get", "jq");
	ck_assert_msg(strstr(out, "jq") != NULL, "queue get: %s", out);
	free(out);
	out = JOBCTL(&d, 0, "queue", "list");
	ck_assert_msg(strstr(out, "jq") && strstr(out, "default"),
		      "queue list: %s", out);
	free(out);
	free(JOBCTL(&d, 0, "queue", "pause", "jq"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert(json_is_true(json_object_get(q, "paused")));
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "resume", "jq"));
	q = jd_queue_get(&d, "jq", NULL);
	ck_assert(json_is_false(json_object_get(q, "paused")));
	json_decref(q);
	free(JOBCTL(&d, 0, "queue", "rm", "jq"));
	free(JOBCTL(&d, 1, "queue", "get", "jq"));
	/* jobd's invalid_argument is status 2, like jobctl's own. */
	free(JOBCTL(&d, 2, "queue", "rm", "default"));
	free(JOBCTL(&d, 1, "queue", "pause", "nope"));
	free(JOBCTL(&d, 2, "queue", "add"));
	free(JOBCTL(&d, 2, "queue", "set", "default", "--concurrency", "x"));
	char *err = NULL;
	jd_jobctl(&d, NULL, NULL, &err, "queue", "get", "nope", NULL);
	ck_assert_msg(strncmp(err, "jobctl: unknown_queue: ", 23) == 0,
		      "stderr: %s", err);
	free(err);
	jd_free(&d);
}
END_TEST

START_TEST(exec_jobctl_submit)
{
	struct jd d;
	start(&d, NULL);
	int64_t id =
		out_id(JOBCTL(&d, 0, "submit", "--delay", "1", "--", "true"));
	json_t *job = jd_get(&d, id);
	assert_job(job, "scheduled", NULL);
	ck_assert_msg(jtime(job, "run_at") - jtime(job, "created_at") >= 0.999,
		      "--delay 1: run_at %s, created_at %s",
		      jd_str(job, "run_at"), jd_str(job, "created_at"));
	json_decref(job);
	/* --after: waits for its dependency. */
	char *gate = gate_cmd(&d, "gate");
	int64_t a = submit_sh(&d, gate);
	char sa[32];
	snprintf(sa, sizeof(sa), "%lld", (long long)a);
	int64_t b =
		out_id(JOBCTL(&d, 0, "submit", "--after", sa, "--", "true"));
	job = jd_get(&d, b);
	assert_job(job, "waiting", NULL);
	ck_assert_int_eq(json_integer_value(json_array_get(
				 json_object_get(job, "depends_on"), 0)),
			 a);
	json_decref(job);
	gate_open(&d, "gate");
	job = jd_wait(&d, b, 10);
	assert_job(job, "succeeded", NULL);
	json_decref(job);
	/* --unique: the second prints the first's id. */
	int64_t u1 = out_id(JOBCTL(&d, 0, "submit", "--delay", "30", "--unique",
				   "K", "--", "true"));
	int64_t u2 = out_id(JOBCTL(&d, 0, "submit", "--delay", "30", "--unique",
				   "K", "--", "true"));
	ck_assert_int_eq(u1, u2);
	/* Exit statuses. */
	free(JOBCTL(&d, 2, "submit"));
	free(JOBCTL(&d, 2, "submit", "--delay", "1", "--at",
		    "2030-01-01T00:00:00Z", "--", "true"));
	free(JOBCTL(&d, 1, "submit", "-q", "nope", "--", "true"));
	free(JOBCTL(&d, 2, "submit", "--after", "9999", "--", "true"));
	char su[32];
	snprintf(su, sizeof(su), "%lld", (long long)u1);
	free(JOBCTL(&d, 124, "wait", su, "--timeout", "0.2"));
	int64_t f = submit_sh(&d, "exit 3");
	json_decref(jd_wait(&d, f, 10));
	char sf[32];
	snprintf(sf, sizeof(sf), "%lld", (long long)f);
	/* A waited job that did not succeed: 1, without an error line
	 * (the daemon answered no error). */
	ck_assert_int_eq(jd_jobctl(&d, NULL, NULL, NULL, "wait", sf, NULL), 1);
	/* submit --wait exits with the job's own status. */
	free(JOBCTL(&d, 5, "submit", "--wait", "--", "sh", "-c", "exit 5"));
	free(JOBCTL(&d, 0, "submit", "--wait", "--", "true"));
	/* No daemon: 3, the error, and a line on what it likely means. */
	ck_assert_int_eq(jd_stop(&d), 0);
	const char *nodaemon[][3] = {{"ping", NULL, NULL},
				     {"cancel", su, NULL}};
	for (int i = 0; i < 2; i++) {
		char *err = NULL;
		int st = jd_jobctl(&d, NULL, NULL, &err, nodaemon[i][0],
				   nodaemon[i][1], NULL);
		ck_assert_int_eq(st, 3);
		ck_assert_msg(strncmp(err, "jobctl: cannot connect to ", 26) ==
					      0 &&
				      strstr(err, "is jobd running?") != NULL,
			      "%s", err);
		free(err);
	}
	free(gate);
	jd_free(&d);
}
END_TEST

Suite *
exec_suite(void)
{
	Suite *s = suite_create("exec");
	struct {
		const char *name;
		int timeout;
		const TTest *tests[8];
	} cases[] = {
		{"timeout",
		 20,
		 {exec_timeout_fails, exec_timeout_kill_grace,
		  exec_timeout_kills_group}},
		{"retry",
		 20,
		 {exec_retry_backoff, exec_retry_exhausted,
		  exec_spawn_error_not_retried}},
		{"schedule",
		 20,
		 {exec_delay, exec_run_at, exec_delay_with_run_at_refused,
		  exec_priority_order}},
		{"limits",
		 30,
		 {exec_rate_limit, exec_concurrency_limit,
		  exec_concurrency_raise, exec_concurrency_lower,
		  exec_capacity}},
		{"deps",
		 20,
		 {exec_deps_wait, exec_deps_failure_cascades,
		  exec_deps_missing_refused,
		  exec_deps_on_failed_cancelled_at_once, exec_unique_key}},
		{"cancel",
		 20,
		 {exec_cancel_pending, exec_cancel_running,
		  exec_cancel_terminal_refused, exec_retry_failed,
		  exec_retry_refused}},
		{"queue",
		 30,
		 {exec_queue_create_get_list, exec_queue_update,
		  exec_queue_delete, exec_queue_pause_resume,
		  exec_queue_unknown, exec_queue_persists}},
		{"jobctl",
		 30,
		 {exec_jobctl_cancel_retry, exec_jobctl_queue,
		  exec_jobctl_submit}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_set_timeout(tc, cases[i].timeout);
		for (size_t k = 0; k < 8 && cases[i].tests[k]; k++)
			tcase_add_test(tc, cases[i].tests[k]);
		suite_add_tcase(s, tc);
	}
	return s;
}
