/*
 * retention_suite: how long finished jobs are kept (docs/jobd.conf.5,
 * RETENTION; docs/jobd-protocol.7, queue objects).  A queue's retention
 * keys and fields (from jobd.conf and queue.update, shown by queue.get,
 * refused when bad); the automatic prune by end state (each state's key,
 * else the queue's retention, else the daemon's; 0 keeps), by count
 * (keep_last: the most recent by end time stay), in slices that never
 * hold the loop (a pinger measures the worst ping while 20,000 jobs are
 * pruned), and often enough that a stream of 100 jobs a second into a
 * queue with a short keep_last stays bounded.  prune_interval is 100ms
 * here, so each test takes seconds.
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

Suite *retention_suite(void);

#define BASE_CONF                                                          \
	"; retention_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = " \
	"1\nprune_interval = 100ms\n"

/* The worst ping allowed while a prune runs (ms): far above what a slice
 * costs (a few ms), far below what pruning 20,000 jobs in one go costs;
 * the measured worst is printed. */
#define PING_BOUND_MS 250.0
#define PING_BOUND_ASAN_MS 2000.0
/* The most any wait here takes (s). */
#define DEADLINE_S 60.0

static struct jd D;

static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* The queue object of name (new reference). */
static json_t *
queue_obj(struct jd *d, const char *name)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", name);
	json_t *q = json_incref(json_object_get(jd_ok(r), "queue"));
	json_decref(r);
	ck_assert_ptr_nonnull(q);
	return q;
}

static json_int_t
queue_count(struct jd *d, const char *name, const char *state)
{
	json_t *q = queue_obj(d, name);
	json_int_t n = jd_num(json_object_get(q, "counts"), state);
	json_decref(q);
	return n;
}

static json_int_t
finished_count(struct jd *d, const char *name)
{
	json_t *q = queue_obj(d, name);
	json_t *c = json_object_get(q, "counts");
	json_int_t n = jd_num(c, "succeeded") + jd_num(c, "failed") +
		       jd_num(c, "cancelled");
	json_decref(q);
	return n;
}

/* The queue's jobs not finished: pending and running. */
static json_int_t
unfinished(struct jd *d, const char *name)
{
	json_t *q = queue_obj(d, name);
	json_int_t n = jd_num(q, "pending") + jd_num(q, "running");
	json_decref(q);
	return n;
}

static bool
job_exists(struct jd *d, int64_t id)
{
	json_t *r =
		jd_req(d, "{s:s,s:I}", "cmd", "get", "job_id", (json_int_t)id);
	bool gone = json_is_false(json_object_get(r, "ok")) &&
		    strcmp(jd_err(r), "not_found") == 0;
	if (!gone)
		jd_ok(r);
	json_decref(r);
	return !gone;
}

/* Polls until job id is gone; true when it went within timeout_s. */
static bool
poll_gone(struct jd *d, int64_t id, double timeout_s)
{
	double end = jd_now() + timeout_s;
	while (jd_now() < end) {
		if (!job_exists(d, id))
			return true;
		jd_pause_ms(20);
	}
	return false;
}

static int64_t
submit(struct jd *d, const char *queue, const char *prog)
{
	return jd_submit(
		d, json_pack("{s:[s],s:s}", "argv", prog, "queue", queue));
}

/* A job of queue that ends cancelled (it is cancelled while scheduled an
 * hour ahead). */
static int64_t
submit_cancelled(struct jd *d, const char *queue)
{
	int64_t id = jd_submit(d, json_pack("{s:[s],s:s,s:f}", "argv", "true",
					    "queue", queue, "delay", 3600.0));
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)id));
	ck_assert(jd_poll_state(d, id, "cancelled", DEADLINE_S));
	return id;
}

/* The request must be refused invalid_argument, its message starting
 * with field. */
static void
refused(struct jd *d, json_t *req, const char *field)
{
	json_t *r = jd_call(d, req);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), field, strlen(field)) == 0,
		      "message \"%s\" does not name %s", jd_err_msg(r), field);
	json_decref(r);
}

/* ---- settings ---- */

START_TEST(retention_fields)
{
	struct jd *d = start("[queue r]\nretention = 1h\nretention_failed = "
			     "0\nkeep_last = 5\n");
	json_t *q = queue_obj(d, "r");
	ck_assert(json_real_value(json_object_get(q, "retention")) == 3600);
	ck_assert(json_real_value(json_object_get(q, "retention_failed")) == 0);
	ck_assert(json_is_null(json_object_get(q, "retention_succeeded")));
	ck_assert(json_is_null(json_object_get(q, "retention_cancelled")));
	ck_assert_int_eq(jd_num(q, "keep_last"), 5);
	json_decref(q);
	/* A queue of no key: nothing set, no cap. */
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "queue.create", "name",
				"plain"));
	q = queue_obj(d, "plain");
	ck_assert(json_is_null(json_object_get(q, "retention")));
	ck_assert_int_eq(jd_num(q, "keep_last"), 0);
	json_decref(q);
	/* Changed, and unset with null. */
	jd_call_ok(d, json_pack("{s:s,s:s,s:f,s:n,s:i}", "cmd", "queue.update",
				"name", "r", "retention_succeeded", 90.0,
				"retention", "keep_last", 7));
	q = queue_obj(d, "r");
	ck_assert(json_real_value(json_object_get(q, "retention_succeeded")) ==
		  90);
	ck_assert(json_is_null(json_object_get(q, "retention")));
	ck_assert(json_real_value(json_object_get(q, "retention_failed")) == 0);
	ck_assert_int_eq(jd_num(q, "keep_last"), 7);
	json_decref(q);
	/* Bad values name their field and change nothing. */
	refused(d,
		json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name", "r",
			  "retention", -1),
		"retention");
	refused(d,
		json_pack("{s:s,s:s,s:s}", "cmd", "queue.update", "name", "r",
			  "retention_cancelled", "1h"),
		"retention_cancelled");
	refused(d,
		json_pack("{s:s,s:s,s:f}", "cmd", "queue.update", "name", "r",
			  "keep_last", 1.5),
		"keep_last");
	refused(d,
		json_pack("{s:s,s:s,s:i}", "cmd", "queue.create", "name", "x",
			  "keep_last", -2),
		"keep_last");
	q = queue_obj(d, "r");
	ck_assert(json_is_null(json_object_get(q, "retention")));
	ck_assert_int_eq(jd_num(q, "keep_last"), 7);
	json_decref(q);
	/* jobctl queue set's options. */
	char *out = NULL, *err = NULL;
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "queue", "set", "r",
				   "--retention-cancelled", "2h",
				   "--retention-succeeded", "none",
				   "--keep-last", "4", NULL),
			 0);
	free(out);
	free(err);
	q = queue_obj(d, "r");
	ck_assert(json_real_value(json_object_get(q, "retention_cancelled")) ==
		  7200);
	ck_assert(json_is_null(json_object_get(q, "retention_succeeded")));
	ck_assert_int_eq(jd_num(q, "keep_last"), 4);
	json_decref(q);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "queue", "set", "r",
				   "--keep-last", "some", NULL),
			 2);
	ck_assert_ptr_nonnull(strstr(err, "some"));
	free(out);
	free(err);
	jd_call_ok(d, json_pack("{s:s,s:s,s:f}", "cmd", "queue.update", "name",
				"r", "retention_succeeded", 90.0));
	/* Kept across a restart, where the file sets again what it sets
	 * (keep_last, retention, retention_failed). */
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	q = queue_obj(d, "r");
	ck_assert(json_real_value(json_object_get(q, "retention_succeeded")) ==
		  90);
	ck_assert(json_real_value(json_object_get(q, "retention")) == 3600);
	ck_assert(json_real_value(json_object_get(q, "retention_failed")) == 0);
	ck_assert_int_eq(jd_num(q, "keep_last"), 5);
	json_decref(q);
}
END_TEST

START_TEST(retention_bad_config)
{
	static const char *const bad[] = {
		"[queue r]\nretention = soon\n",
		"[queue r]\nretention_succeeded = -1s\n",
		"[queue r]\nkeep_last = many\n",
		"[queue r]\nkeep_last = -1\n",
		"[daemon]\nprune_interval = 1ms\n",
	};
	static const char *const key[] = {"retention", "retention_succeeded",
					  "keep_last", "keep_last",
					  "prune_interval"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char dir[] = "/tmp/jobd-retention-XXXXXX";
		ck_assert_ptr_nonnull(mkdtemp(dir));
		char conf[128], errp[128];
		snprintf(conf, sizeof(conf), "%s/jobd.conf", dir);
		snprintf(errp, sizeof(errp), "%s/err", dir);
		char *text = malloc(strlen(bad[i]) + 2 * sizeof(dir) + 64);
		ck_assert_ptr_nonnull(text);
		sprintf(text, "[daemon]\nsocket = %s/s\nstate_dir = %s\n%s",
			dir, dir, bad[i]);
		jd_write_file(conf, text);
		free(text);
		const char *args[] = {"-c", conf, "--check-config", NULL};
		int st = jd_run_jobd(args, errp, 30);
		char *err = jd_slurp(errp);
		ck_assert_msg(st != 0 && err && strstr(err, key[i]),
			      "%s: status %d, \"%s\"", bad[i], st,
			      err ? err : "");
		free(err);
		unlink(conf);
		unlink(errp);
		rmdir(dir);
	}
}
END_TEST

/* ---- the automatic prune ---- */

START_TEST(retention_by_state)
{
	/* Queue s: succeeded jobs go after 1s, failed ones are kept, the
	 * cancelled ones keep the queue's hour.  Queue d: the daemon's
	 * second for every state.  Queue k: retention 0 keeps all. */
	struct jd *d = start("retention = 1s\n"
			     "[queue s]\nretention_succeeded = 1s\n"
			     "retention_failed = 0\nretention = 1h\n"
			     "[queue d]\n"
			     "[queue k]\nretention = 0\n");
	int64_t s_ok = submit(d, "s", "true"), s_bad = submit(d, "s", "false");
	int64_t s_can = submit_cancelled(d, "s");
	int64_t d_ok = submit(d, "d", "true"), d_bad = submit(d, "d", "false");
	int64_t d_can = submit_cancelled(d, "d");
	int64_t k_ok = submit(d, "k", "true"), k_bad = submit(d, "k", "false");
	int64_t k_can = submit_cancelled(d, "k");
	ck_assert(jd_poll_state(d, s_ok, "succeeded", DEADLINE_S));
	ck_assert(jd_poll_state(d, k_ok, "succeeded", DEADLINE_S));
	ck_assert(jd_poll_state(d, k_bad, "failed", DEADLINE_S));
	ck_assert(jd_poll_state(d, s_bad, "failed", DEADLINE_S));
	ck_assert(poll_gone(d, s_ok, DEADLINE_S));
	ck_assert(poll_gone(d, d_ok, DEADLINE_S));
	ck_assert(poll_gone(d, d_bad, DEADLINE_S));
	ck_assert(poll_gone(d, d_can, DEADLINE_S));
	/* Several passes later, the kept ones are still there. */
	jd_pause_ms(1500);
	ck_assert(job_exists(d, s_bad));
	ck_assert(job_exists(d, s_can));
	ck_assert(job_exists(d, k_ok));
	ck_assert(job_exists(d, k_bad));
	ck_assert(job_exists(d, k_can));
	/* The counts followed (the same path as prune's). */
	ck_assert_int_eq(queue_count(d, "s", "succeeded"), 0);
	ck_assert_int_eq(queue_count(d, "s", "failed"), 1);
	ck_assert_int_eq(queue_count(d, "d", "failed"), 0);
	ck_assert_int_eq(queue_count(d, "k", "succeeded"), 1);
	/* A change of the queue applies to the next pass. */
	jd_call_ok(d, json_pack("{s:s,s:s,s:f}", "cmd", "queue.update", "name",
				"s", "retention_failed", 0.5));
	ck_assert(poll_gone(d, s_bad, DEADLINE_S));
	ck_assert(job_exists(d, s_can));
}
END_TEST

START_TEST(retention_keep_last)
{
	struct jd *d = start("[queue k]\nconcurrency = 1\nkeep_last = 3\n"
			     "[queue other]\nconcurrency = 1\n");
	int64_t ids[10], other[4];
	for (int i = 0; i < 10; i++)
		ids[i] = submit(d, "k", i % 3 == 0 ? "false" : "true");
	for (int i = 0; i < 4; i++)
		other[i] = submit(d, "other", "true");
	/* One at a time: they end in id order (the first may be gone by
	 * the time the last has ended). */
	json_decref(jd_wait(d, ids[9], DEADLINE_S));
	for (int i = 0; i < 7; i++)
		ck_assert_msg(poll_gone(d, ids[i], DEADLINE_S), "job %lld kept",
			      (long long)ids[i]);
	jd_pause_ms(500);
	for (int i = 7; i < 10; i++)
		ck_assert(job_exists(d, ids[i]));
	ck_assert_int_eq(finished_count(d, "k"), 3);
	/* Other queues keep theirs. */
	for (int i = 0; i < 4; i++) {
		json_decref(jd_wait(d, other[i], DEADLINE_S));
		ck_assert(job_exists(d, other[i]));
	}
	/* Pending jobs are not counted: a paused queue's waiting job stays,
	 * and keep_last lowered to 1 leaves the most recent one. */
	jd_queue_cmd(d, "queue.pause", "k");
	int64_t queued = submit(d, "k", "true");
	jd_call_ok(d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				"k", "keep_last", 1));
	ck_assert(poll_gone(d, ids[8], DEADLINE_S));
	ck_assert(!job_exists(d, ids[7]));
	ck_assert(job_exists(d, ids[9]));
	ck_assert(job_exists(d, queued));
}
END_TEST

/* ---- slices and streams ---- */

struct pinger {
	pid_t pid;
	int stop;   /* write end: closing it stops the child */
	int result; /* read end: the child's worst and count */
};

static void
pinger_child(struct jd *d, int stop, int result)
{
	int fd = jd_connect(d);
	double worst = fd < 0 ? 1e9 : 0;
	long count = 0;
	char req[64];
	while (fd >= 0) {
		struct pollfd p = {stop, POLLIN, 0};
		if (poll(&p, 1, 1) != 0)
			break;
		int n = snprintf(req, sizeof(req),
				 "{\"id\":%ld,\"cmd\":\"ping\"}\n", count);
		double t0 = jd_now();
		if (!jd_write(fd, req, (size_t)n))
			break;
		char *line = jd_read_line(fd, (int)(DEADLINE_S * 1000));
		double ms = (jd_now() - t0) * 1000.0;
		bool ok = line && strstr(line, "\"ok\":true") != NULL;
		free(line);
		if (ms > worst)
			worst = ms;
		count++;
		if (!ok)
			break;
	}
	char out[64];
	int n = snprintf(out, sizeof(out), "%.3f %ld\n", worst, count);
	ssize_t w = write(result, out, (size_t)n);
	(void)w;
	_exit(0);
}

static void
pinger_start(struct pinger *pg, struct jd *d)
{
	int sp[2], rp[2];
	ck_assert(pipe(sp) == 0 && pipe(rp) == 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		close(sp[1]);
		close(rp[0]);
		pinger_child(d, sp[0], rp[1]);
	}
	close(sp[0]);
	close(rp[1]);
	pg->pid = pid;
	pg->stop = sp[1];
	pg->result = rp[0];
}

/* Stops the pinger; returns its worst latency (ms). */
static double
pinger_stop(struct pinger *pg, long *count)
{
	char buf[64] = "";
	close(pg->stop);
	struct pollfd p = {pg->result, POLLIN, 0};
	if (poll(&p, 1, (int)(DEADLINE_S * 1000)) == 1) {
		ssize_t r = read(pg->result, buf, sizeof(buf) - 1);
		buf[r > 0 ? r : 0] = '\0';
	}
	close(pg->result);
	waitpid(pg->pid, NULL, 0);
	double worst = 1e9;
	if (sscanf(buf, "%lf %ld", &worst, count) != 2)
		worst = 1e9;
	return worst;
}

START_TEST(retention_sliced)
{
	/* Jobs whose dependency was cancelled are cancelled as they are
	 * submitted: n finished jobs at once, kept (retention 0) until
	 * keep_last lets all but one go. */
	size_t n = jd_under_asan() ? 5000 : jd_on_postgres() ? 5000 : 20000;
	struct jd *d = start("[queue p]\nretention = 0\n");
	int64_t dep = submit_cancelled(d, "p");
	size_t per = 2000;
	for (size_t got = 0; got < n; got += per) {
		json_t *jobs = json_array();
		for (size_t i = 0; i < per && got + i < n; i++)
			json_array_append_new(
				jobs, json_pack("{s:[s],s:s,s:[I]}", "argv",
						"true", "queue", "p",
						"depends_on", (json_int_t)dep));
		jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jobs));
	}
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), (json_int_t)n + 1);
	struct pinger pg;
	pinger_start(&pg, d);
	jd_pause_ms(50);
	double t0 = jd_now();
	jd_call_ok(d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				"p", "keep_last", 1));
	double end = jd_now() + 2 * DEADLINE_S;
	while (queue_count(d, "p", "cancelled") > 1 && jd_now() < end)
		jd_pause_ms(50);
	double took = jd_now() - t0;
	long count = 0;
	double worst = pinger_stop(&pg, &count);
	fprintf(stderr,
		"retention: pruned %zu jobs in %.0f ms; worst ping %.1f ms "
		"(%ld pings)\n",
		n, took * 1000, worst, count);
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), 1);
	ck_assert(count > 0);
	double bound = jd_under_asan() ? PING_BOUND_ASAN_MS : PING_BOUND_MS;
	ck_assert_msg(worst < bound, "a ping took %.1f ms (bound %.0f ms)",
		      worst, bound);
}
END_TEST

/* A stream of about 100 jobs a second for 4 seconds, five every 50 ms, into a queue of
 * keep_last = keep: the finished jobs never pile up (without the prune
 * they would reach 400), and settle at keep. */
static void
stream(struct jd *d, const char *queue, int keep)
{
	json_int_t most = 0;
	double t0 = jd_now(), next_sample = t0 + 0.25;
	int sent = 0;
	while (sent < 400) {
		/* Five a request: a store whose every submit waits for a
		 * round trip still keeps the pace. */
		json_t *jobs = json_array();
		for (int i = 0; i < 5; i++)
			json_array_append_new(jobs, json_pack("{s:[s],s:s}",
							      "argv", "true",
							      "queue", queue));
		jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jobs));
		sent += 5;
		if (jd_now() >= next_sample) {
			json_int_t f = finished_count(d, queue);
			if (f > most)
				most = f;
			next_sample = jd_now() + 0.25;
		}
		/* The next five 50 ms after the last ones' due time. */
		double ahead = t0 + sent * 0.01 - jd_now();
		if (ahead > 0)
			jd_pause_ms((int)(ahead * 1000));
	}
	double rate = sent / (jd_now() - t0);
	double settle = jd_now() + DEADLINE_S;
	json_int_t f;
	while (((f = finished_count(d, queue)) != keep ||
		unfinished(d, queue) > 0) &&
	       jd_now() < settle)
		jd_pause_ms(50);
	fprintf(stderr,
		"retention: stream of %d jobs (%.0f/s), keep_last %d: at most "
		"%lld finished seen\n",
		sent, rate, keep, (long long)most);
	ck_assert_int_eq(f, keep);
	ck_assert_msg(most <= keep + 150, "%lld finished jobs kept",
		      (long long)most);
	ck_assert_int_eq(unfinished(d, queue), 0);
}

START_TEST(retention_stream)
{
	struct jd *d = start("[queue s]\nconcurrency = 8\nkeep_last = 20\n");
	stream(d, "s", 20);
}
END_TEST

Suite *
retention_suite(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("retention");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, retention_fields);
	tcase_add_test(tc, retention_bad_config);
	tcase_add_test(tc, retention_by_state);
	tcase_add_test(tc, retention_keep_last);
	tcase_add_test(tc, retention_sliced);
	tcase_add_test(tc, retention_stream);
	suite_add_tcase(s, tc);
	return s;
}
