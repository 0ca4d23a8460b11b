/*
 * rusage_suite: a job's rusage is its own.  jobd is grown well past 100 MB
 * (watchers that never read hold the events of big submits), then a job's
 * max_rss_kb must be its own peak, not jobd's: a process started from
 * jobd's memory would inherit jobd's high-water RSS at exec.  Also: jobd
 * ends, saying why, when the spawner that starts its jobs dies, and the
 * running job with it.  Every wait has a deadline.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *rusage_suite(void);

#define BASE_CONF                                                          \
	"; rusage_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"max_request_bytes = 8M\n[queue hold]\n"

/* The watchers that inflate jobd; each holds at most WATCH_HOLD of
 * events, well under the 64 MiB at which jobd drops a peer. */
#define WATCHERS 3
#define WATCH_HOLD (48 << 20)
/* jobd's RSS the test grows it to, and the least it must reach. */
#define GROW_TO (130 << 20)
#define GROWN_MIN (100 << 20)
/* What the dd job holds: a buffer of this many bytes. */
#define DD_MB 64

/* The one daemon of the current test. */
static struct jd D;

static json_int_t
rss_bytes(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_int_t n = jd_num(jd_ok(r), "rss_bytes");
	json_decref(r);
	return n;
}

/* Runs the shell command sh in the queue default and returns its
 * rusage.max_rss_kb once it succeeded. */
static json_int_t
job_max_rss_kb(struct jd *d, const char *sh)
{
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", sh));
	json_t *j = jd_wait(d, id, 60);
	ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
		      "%s: %s (%s)", sh, jd_str(j, "state"),
		      jd_str(j, "error"));
	json_t *ru = json_object_get(j, "rusage");
	ck_assert(json_is_object(ru));
	json_int_t kb = jd_num(ru, "max_rss_kb");
	json_decref(j);
	return kb;
}

/* Grows jobd past GROW_TO: watchers of the paused queue hold that never
 * read, and submits of big jobs there, each of whose events the watchers'
 * buffers keep.  Returns the watchers' descriptors (WATCHERS of them) in
 * fds; jobd's RSS in *rss. */
static void
grow(struct jd *d, int *fds, json_int_t *rss)
{
	jd_queue_cmd(d, "queue.pause", "hold");
	for (int i = 0; i < WATCHERS; i++) {
		fds[i] = jd_connect(d);
		ck_assert_int_ge(fds[i], 0);
		json_t *req =
			json_pack("{s:s,s:s}", "cmd", "watch", "queue", "hold");
		json_decref(jd_call_fd(d, fds[i], req, 20000));
		json_decref(req);
	}
	/* 60 jobs of 60 KB each: 3.6 MB of events per watcher per submit,
	 * under max_request_bytes. */
	enum { PER_SUBMIT = 60, ARG_BYTES = 60000 };
	char *big = malloc(ARG_BYTES + 1);
	memset(big, 'x', ARG_BYTES);
	big[ARG_BYTES] = '\0';
	size_t held = 0;
	*rss = rss_bytes(d);
	while (*rss < GROW_TO && held + PER_SUBMIT * ARG_BYTES < WATCH_HOLD) {
		json_t *jobs = json_array();
		for (int i = 0; i < PER_SUBMIT; i++)
			json_array_append_new(
				jobs, json_pack("{s:s,s:[s,s]}", "queue",
						"hold", "argv", "true", big));
		jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jobs));
		held += PER_SUBMIT * ARG_BYTES;
		*rss = rss_bytes(d);
	}
	free(big);
}

START_TEST(rusage_own_peak)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int fds[WATCHERS];
	json_int_t rss;
	grow(d, fds, &rss);
	ck_assert_msg(rss > GROWN_MIN, "jobd grew to %lld bytes only",
		      (long long)rss);

	/* A process that holds nothing: its own peak is a megabyte or two
	 * (and the spawner's footprint bounds it from below). */
	json_int_t kb_true = job_max_rss_kb(d, "exec true");
	/* A process that holds DD_MB MB: its peak is that, plus what dd
	 * and its libraries take, and far from jobd's RSS plus it. */
	char sh[128];
	snprintf(sh, sizeof(sh),
		 "exec dd if=/dev/zero of=/dev/null bs=%dM count=1 2>/dev/null",
		 DD_MB);
	json_int_t kb_dd = job_max_rss_kb(d, sh);
	json_int_t rss_after = rss_bytes(d);
	fprintf(stderr,
		"rusage_own_peak: jobd RSS %lld kB (after %lld kB); true "
		"max_rss_kb %lld, dd of %d MB max_rss_kb %lld\n",
		(long long)rss / 1024, (long long)rss_after / 1024,
		(long long)kb_true, DD_MB, (long long)kb_dd);
	ck_assert_msg(kb_true > 0 && kb_true < 16 * 1024,
		      "true reported max_rss_kb %lld with jobd at %lld kB",
		      (long long)kb_true, (long long)rss / 1024);
	ck_assert_msg(kb_dd >= DD_MB * 1024,
		      "dd holding %d MB reported max_rss_kb %lld", DD_MB,
		      (long long)kb_dd);
	ck_assert_msg(kb_dd < (DD_MB + 16) * 1024,
		      "dd holding %d MB reported max_rss_kb %lld with jobd at "
		      "%lld kB",
		      DD_MB, (long long)kb_dd, (long long)rss / 1024);
	for (int i = 0; i < WATCHERS; i++)
		jd_close(fds[i]);
}
END_TEST

START_TEST(rusage_spawner_lost)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	/* A job runs while the spawner dies: jobd exits, and the job dies
	 * with jobd. */
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", "exec sleep 30"));
	/* Running, and its pid recorded (a moment after the state). */
	pid_t job = 0;
	double deadline = jd_now() + 20;
	while (job <= 0 && jd_now() < deadline) {
		json_t *j = jd_get(d, id);
		if (strcmp(jd_str(j, "state"), "running") == 0)
			job = (pid_t)jd_num(j, "pid");
		json_decref(j);
		if (job <= 0)
			poll(NULL, 0, 10);
	}
	ck_assert_int_gt(job, 0);
	pid_t sp = jd_spawner_pid(d);
	ck_assert_int_gt(sp, 0);
	ck_assert_int_eq(kill(sp, SIGKILL), 0);
	int st = 0;
	deadline = jd_now() + 20;
	pid_t w = 0;
	while ((w = waitpid(d->pid, &st, WNOHANG)) == 0 && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert_msg(w == d->pid, "jobd still runs without its spawner");
	d->pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "jobd ended with wait status %#x", st);
	char *log = jd_slurp(d->log);
	ck_assert_msg(strstr(log, "spawner") &&
			      strstr(log, "killed by signal 9") &&
			      strstr(log, "cannot run jobs without it"),
		      "no reason in the log:\n%s", log);
	free(log);
	/* The job died with jobd (PR_SET_PDEATHSIG). */
	deadline = jd_now() + 20;
	while (kill(job, 0) == 0 && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert_msg(kill(job, 0) != 0, "job %d outlived jobd", (int)job);
}
END_TEST

Suite *
rusage_suite(void)
{
	Suite *s = suite_create("rusage");
	TCase *tc = tcase_create("rusage");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rusage_own_peak);
	tcase_add_test(tc, rusage_spawner_lost);
	suite_add_tcase(s, tc);
	return s;
}
