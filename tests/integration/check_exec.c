/*
 * exec suite: how jobd runs jobs, checked against a real daemon.  One test
 * per rule of SPEC 2.3-2.6, 3, 5.1 and 8: timeouts and kill_grace,
 * retries and backoff, delay and run_at and priorities here; rate limits,
 * concurrency and capacity (check_exec_limits.c), dependencies and unique
 * keys (check_exec_deps.c), cancel and retry (check_exec_cancel.c), queue
 * commands (check_exec_queue.c) and jobctl's job and queue commands
 * (check_exec_jobctl.c), with the helpers they share (exec.h).
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

#include "exec.h"
#include "harness.h"

Suite *exec_suite(void);

/* How far a measured delay may stray from the rule (s). */
#define SLACK_DELAY 0.15
/* How late a scheduled job may start after its run_at (s): the 50 ms the
 * brief allows plus room for a shell to start on a loaded machine. */
#define SLACK_START (0.05 + 0.10)

/* ---- small helpers ---- */

char *
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

bool
jis(const json_t *o, const char *key, const char *want)
{
	return strcmp(jd_str(o, key), want) == 0;
}

/* Fails unless job has state (and reason, when reason is not NULL). */
void
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
double
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

double
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

/* Reads up to max numbers (one or more a line) from a file; returns how
 * many. */
int
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

bool
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
long
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
void
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
char *
gate_cmd(const struct jd *d, const char *name)
{
	char *p = jd_path(d, name);
	char *s = xasprintf("while [ ! -e %s ]; do sleep 0.01; done", p);
	free(p);
	return s;
}

void
gate_open(const struct jd *d, const char *name)
{
	char *p = jd_path(d, name);
	FILE *f = fopen(p, "we");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	free(p);
}

/* Submits {"shell": cmd} and returns its id. */
int64_t
submit_sh(struct jd *d, const char *cmd)
{
	return jd_submit(d, json_pack("{s:s}", "shell", cmd));
}

/* Sends a request and returns its error code (a static string copy). */
const char *
req_err(struct jd *d, json_t *req)
{
	static char code[64];
	json_t *r = jd_call(d, req);
	snprintf(code, sizeof(code), "%s", jd_err(r));
	json_decref(r);
	return code;
}

void
queue_pause(struct jd *d, const char *name, bool pause)
{
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd",
				pause ? "queue.pause" : "queue.resume", "name",
				name));
}

json_t *
cancel(struct jd *d, int64_t id)
{
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)id);
	jd_ok(r);
	json_decref(r);
	return jd_get(d, id);
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

/* ---- the suite ---- */

void
exec_add_case(Suite *s, const char *name, int timeout,
	      const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	for (size_t k = 0; tests[k] != NULL; k++)
		tcase_add_test(tc, tests[k]);
	suite_add_tcase(s, tc);
}

Suite *
exec_suite(void)
{
	Suite *s = suite_create("exec");
	const TTest *timeout[] = {
		exec_timeout_fails,
		exec_timeout_kill_grace,
		exec_timeout_kills_group,
		NULL,
	};
	const TTest *retry[] = {
		exec_retry_backoff,
		exec_retry_exhausted,
		exec_spawn_error_not_retried,
		NULL,
	};
	const TTest *schedule[] = {
		exec_delay,
		exec_run_at,
		exec_delay_with_run_at_refused,
		exec_priority_order,
		NULL,
	};

	exec_add_case(s, "timeout", 20, timeout);
	exec_add_case(s, "retry", 20, retry);
	exec_add_case(s, "schedule", 20, schedule);
	exec_add_limits(s);
	exec_add_deps(s);
	exec_add_cancel(s);
	exec_add_queue(s);
	exec_add_jobctl(s);
	return s;
}
