/*
 * producer_node_suite: what producers keep in the store for a cluster
 * (SCALEOUT 7), seen from one node, on either store.  A command producer's
 * generator runs again after jobd was killed while it ran (the node frees
 * what it owned in an earlier run) and its counts match its jobs, and a
 * new definition's generator replaces the old one on reload; an
 * interval producer's ticks stay on the grid of its stored anchor across
 * a restart on PostgreSQL (on SQLite they start again from the restart);
 * overlap = false knows the last job after a restart on PostgreSQL, which
 * stores it (SQLite forgets it, as before).  Every wait is a bounded poll.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *producer_node_suite(void);

#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

/* The producer object of name (new ref). */
static json_t *
pget(struct jd *d, const char *name)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get", "name", name);
	json_t *p = json_incref(json_object_get(jd_ok(r), "producer"));
	json_decref(r);
	ck_assert_msg(json_is_object(p), "producer.get %s: no producer", name);
	return p;
}

static json_int_t
pnum(struct jd *d, const char *name, const char *key)
{
	json_t *p = pget(d, name);
	json_int_t n = jd_num(p, key);
	json_decref(p);
	return n;
}

/* Polls until producer name's field key >= want (timeout_s). */
static bool
poll_pnum(struct jd *d, const char *name, const char *key, json_int_t want,
	  double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (pnum(d, name, key) >= want)
			return true;
		jd_pause_ms(10);
	}
	return false;
}

/* Jobs in queue name, by listing it. */
static size_t
count_jobs(struct jd *d, const char *queue)
{
	json_t *r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "queue", queue,
			   "limit", 10000);
	size_t n = json_array_size(json_object_get(jd_ok(r), "jobs"));
	json_decref(r);
	return n;
}

/* Polls until queue name holds at least want jobs (timeout_s). */
static bool
poll_jobs(struct jd *d, const char *queue, size_t want, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (count_jobs(d, queue) >= want)
			return true;
		jd_pause_ms(10);
	}
	return false;
}

/* The id of the first job of queue name (0: none). */
static int64_t
first_job(struct jd *d, const char *queue)
{
	json_t *r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "queue", queue,
			   "limit", 1);
	json_t *j = json_array_get(json_object_get(jd_ok(r), "jobs"), 0);
	int64_t id = j != NULL ? jd_num(j, "id") : 0;
	json_decref(r);
	return id;
}

/* The time of producer name's field key in ms (an RFC 3339 UTC time with
 * milliseconds), or -1 when it is null. */
static int64_t
ptime_ms(struct jd *d, const char *name, const char *key)
{
	json_t *p = pget(d, name);
	const char *s = json_string_value(json_object_get(p, key));
	int64_t ms = -1;
	if (s != NULL) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		ck_assert_msg(rest != NULL && rest[0] == '.',
			      "not an RFC 3339 time with ms: %s", s);
		ms = (int64_t)timegm(&tm) * 1000 + atoi(rest + 1);
	}
	json_decref(p);
	return ms;
}

/* Polls until a process other than this one has marker in its command
 * line (want) or none has (!want); *pid gets the first one's. */
static bool
poll_marker(const char *marker, bool want, pid_t *pid, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		char what[256];
		if ((jd_procs_with(marker, 0, what, sizeof(what)) > 0) ==
		    want) {
			if (want && pid != NULL)
				*pid = (pid_t)atol(what + strlen("pid "));
			return true;
		}
		jd_pause_ms(20);
	}
	return false;
}

/* jobd killed while a command producer's generator runs: the generator is
 * left (its own process group), and is killed here; the restarted jobd
 * runs it again, which on PostgreSQL needs the node to free the producer
 * it owned before the crash.  The counts were recorded with the jobs. */
START_TEST(producer_node_command_after_crash)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char marker[64], shell[128];
	pid_t pid = 0;

	/* sleep adds its arguments up: the marker is a harmless extra one
	 * to find the generator by. */
	snprintf(marker, sizeof(marker), "0.000%ld%d",
		 (long)(time(NULL) % 100000), (int)getpid());
	snprintf(shell, sizeof(shell), "echo one; exec sleep 1000 %s", marker);
	jd_call_ok(d, json_pack("{s:s,s:{s:s,s:s,s:{s:s},s:{s:[s]}}}", "cmd",
				"producer.create", "producer", "name", "gen",
				"type", "command", "generator", "shell", shell,
				"job", "argv", "true"));
	ck_assert_msg(poll_marker(marker, true, &pid, 10),
		      "the generator did not start");
	ck_assert(poll_pnum(d, "gen", "produced", 1, 10));
	/* Its job ran, so it was committed; a write answered after that
	 * commits the count too (the group transaction after it, at
	 * worst). */
	ck_assert(poll_jobs(d, "default", 1, 10));
	ck_assert(jd_poll_state(d, first_job(d, "default"), "succeeded", 10));
	jd_call_ok(d, jd_json("{\"cmd\":\"queue.create\",\"name\":\"s\"}"));
	jd_kill9(d);
	ck_assert_int_gt(pid, 0);
	kill(pid, SIGKILL);
	ck_assert_msg(poll_marker(marker, false, NULL, 10),
		      "the generator did not die");

	jd_start(d, NULL);
	ck_assert_msg(poll_marker(marker, true, NULL, 10),
		      "the generator did not start again");
	ck_assert(poll_pnum(d, "gen", "produced", 2, 10));
	ck_assert_int_eq(pnum(d, "gen", "produced"), 2);
	ck_assert_int_eq(pnum(d, "gen", "errors"), 0);
	ck_assert_int_eq((json_int_t)count_jobs(d, "default"), 2);
}
END_TEST

/* A command producer's definition changed by a reload: the old generator
 * ends and the new one runs; on PostgreSQL the replaced producer gives up
 * its ownership for the new one to take. */
START_TEST(producer_node_reload_command)
{
	char m1[64], m2[64], extra[256];
	snprintf(m1, sizeof(m1), "0.000%ld%d1", (long)(time(NULL) % 100000),
		 (int)getpid());
	snprintf(m2, sizeof(m2), "0.000%ld%d2", (long)(time(NULL) % 100000),
		 (int)getpid());
	snprintf(extra, sizeof(extra),
		 "[producer gen]\ntype = command\n"
		 "generator = exec sleep 1000 %s\n"
		 "job = {\"argv\": [\"true\"]}\n",
		 m1);
	struct jd *d = jd_test_start(&D, BASE_CONF, extra, NULL);
	ck_assert_msg(poll_marker(m1, true, NULL, 10),
		      "the generator did not start");

	char *conf = jd_slurp(d->conf);
	ck_assert_ptr_nonnull(conf);
	char *at = strstr(conf, m1);
	ck_assert_ptr_nonnull(at);
	memcpy(at, m2, strlen(m2));
	jd_write_file(d->conf, conf);
	free(conf);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_msg(poll_marker(m2, true, NULL, 10),
		      "the new generator did not start");
	ck_assert_msg(poll_marker(m1, false, NULL, 10),
		      "the old generator did not end");
}
END_TEST

/* The wall clock in ms, as jobd reads it. */
static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An interval's ticks are anchor + n * every: on PostgreSQL the anchor is
 * stored, so the next tick after a restart is on the grid of the ticks
 * before it; on SQLite the grid starts again at the restart, the first
 * tick one `every` after it, as before. */
START_TEST(producer_node_interval_anchor)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);

	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"grid\",\"type\":\"interval\","
			      "\"every\":1.777,\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}}"));
	/* After a tick, next_run is the loop's, on its grid. */
	ck_assert(poll_pnum(d, "grid", "produced", 1, 10));
	int64_t before = ptime_ms(d, "grid", "next_run");
	ck_assert_int_gt(before, 0);
	ck_assert_int_eq(jd_stop(d), 0);
	int64_t t0 = wall_ms();
	jd_start(d, NULL);
	int64_t after = ptime_ms(d, "grid", "next_run");
	int64_t t1 = wall_ms();
	ck_assert_int_gt(after, 0);
	if (jd_on_postgres()) {
		ck_assert_msg((after - before) % 1777 == 0,
			      "next tick %lld off the grid of %lld",
			      (long long)after, (long long)before);
	} else {
		/* The first grid point after a time read between t0 and t1,
		 * on a grid that began after t0. */
		ck_assert_int_ge(after, t0 + 1777 - 5);
		ck_assert_int_le(after, t1 + 1777 + 5);
	}
}
END_TEST

/* overlap = false into a paused queue: one job, then skips.  After a
 * restart, PostgreSQL still knows that job (the store keeps last_job) and
 * goes on skipping; SQLite forgot it and submits one more, as before. */
START_TEST(producer_node_overlap_after_restart)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);

	jd_call_ok(d, jd_json("{\"cmd\":\"queue.create\",\"name\":\"hold\"}"));
	jd_queue_cmd(d, "queue.pause", "hold");
	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"ov\",\"type\":\"interval\","
			      "\"every\":0.1,\"queue\":\"hold\","
			      "\"job\":{\"argv\":[\"true\"]}}}"));
	ck_assert(poll_pnum(d, "ov", "skipped", 2, 10));
	ck_assert_int_eq(pnum(d, "ov", "produced"), 1);
	ck_assert_int_eq(jd_stop(d), 0);

	jd_start(d, NULL);
	json_int_t skipped = pnum(d, "ov", "skipped");
	ck_assert_int_ge(skipped, 2);
	ck_assert(poll_pnum(d, "ov", "skipped", skipped + 3, 10));
	json_int_t want = jd_on_postgres() ? 1 : 2;
	ck_assert_int_eq(pnum(d, "ov", "produced"), want);
	ck_assert_int_eq((json_int_t)count_jobs(d, "hold"), want);
}
END_TEST

Suite *
producer_node_suite(void)
{
	Suite *s = suite_create("producer_node");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, producer_node_command_after_crash);
	tcase_add_test(tc, producer_node_reload_command);
	tcase_add_test(tc, producer_node_interval_anchor);
	tcase_add_test(tc, producer_node_overlap_after_restart);
	suite_add_tcase(s, tc);
	return s;
}
