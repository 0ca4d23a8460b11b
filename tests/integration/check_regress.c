/*
 * regress_suite: one test per audit fix, each one failing when its fix is
 * reverted: the state directory lock (SPEC 1), closed peers freeing their
 * connection slot (SPEC 5), unique keys per user (SPEC 2.6, 11), producer
 * errors in the config file (SPEC 7), queue.delete of a queue a producer
 * feeds and queue.updated carrying the queue (SPEC 3, 5.1), NUL and blank
 * request lines (SPEC 5), logs windows that always advance (SPEC 5.1),
 * job.submitted carrying the job as submitted, interval ticks not made up
 * (SPEC 4), the minimal env shown by get (SPEC 2.1, 5.2) and reals written
 * as short as they read.  Every test runs its own daemon (or none) and
 * every wait is a poll with a deadline.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *regress_suite(void);

/* Every daemon here gets this much config; a test may add to it. */
#define BASE_CONF \
	"; regress_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* EX_CONFIG, jobd's exit status for a bad config file. */
#define EXIT_CONFIG 78

/* The one daemon of the current test (each test runs in its own fork). */
static struct jd D;

/* Starts the test's daemon with BASE_CONF plus extra (may be NULL). */
static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* ---- helpers ---- */

/* Reads one line from fd a byte at a time (so nothing is buffered for a
 * later connection that gets the same fd), within timeout_ms.  Returns it
 * without the newline (caller frees), or NULL on EOF or timeout. */
static char *
raw_line(int fd, int timeout_ms)
{
	size_t cap = 256, n = 0;
	char *s = malloc(cap);
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - jd_now()) * 1000);
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			if (left > 0 && errno == EINTR)
				continue;
			free(s);
			return NULL;
		}
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(s);
			return NULL;
		}
		if (c == '\n') {
			s[n] = '\0';
			return s;
		}
		if (n + 2 > cap)
			s = realloc(s, cap *= 2);
		s[n++] = c;
	}
}

/* Sends the raw request line text on fd and returns the next line parsed
 * (new ref); fails when none comes within 5 s or it is not JSON. */
static json_t *
raw_call(int fd, const char *text)
{
	jd_send(fd, text);
	char *line = raw_line(fd, 5000);
	ck_assert_msg(line != NULL, "no response to %s", text);
	json_t *r = json_loads(line, 0, NULL);
	ck_assert_msg(r != NULL, "response is not JSON: %s", line);
	free(line);
	return r;
}

/* True when s holds key (written as "key":) followed by the number text
 * and then no further digit. */
static bool
has_number(const char *s, const char *key, const char *number)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\"%s\":%s", key, number);
	for (const char *p = strstr(s, pat); p; p = strstr(p + 1, pat)) {
		char next = p[strlen(pat)];
		if (next < '0' || next > '9')
			return true;
	}
	return false;
}

/* Cancels id, whatever state it is in (a terminal one is left alone). */
static void
cancel_quietly(struct jd *d, int64_t id)
{
	json_decref(jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)id));
}

/* Reads events on the watch connection fd until one named event arrives
 * whose member key is an object with "name" equal to name (or, for a
 * string member, that string); returns it (new ref) or NULL after
 * timeout_s. */
static json_t *
next_event(int fd, const char *event, const char *key, const char *name,
	   double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		int left = (int)((deadline - jd_now()) * 1000);
		char *line = jd_read_line(fd, left > 0 ? left : 1);
		if (line == NULL)
			return NULL;
		json_t *ev = json_loads(line, 0, NULL);
		ck_assert_msg(ev != NULL, "event is not JSON: %s", line);
		free(line);
		json_t *m = json_object_get(ev, key);
		const char *n = json_is_string(m) ? json_string_value(m)
						  : jd_str(m, "name");
		if (strcmp(jd_str(ev, "event"), event) == 0 &&
		    strcmp(n, name) == 0)
			return ev;
		json_decref(ev);
	}
	return NULL;
}

/* ---- 1. one jobd per state directory ---- */

START_TEST(regress_state_dir_lock)
{
	struct jd *d = start(NULL);
	int64_t id = jd_submit_text(d, "{\"argv\":[\"sleep\",\"2\"]}");
	ck_assert(jd_poll_state(d, id, "running", 5));

	char *other = jd_path(d, "other.sock");
	char *errpath = jd_path(d, "second.err");
	const char *const args[] = {"-c", "/dev/null", "-s", other,
				    "-d", d->state,    NULL};
	int rc = jd_run_jobd(args, errpath, 5);
	char *err = jd_slurp(errpath);
	ck_assert_msg(rc > 0 && rc < 128,
		      "second jobd on the same state dir: status %d "
		      "(-1: still running after 5 s), stderr: %s",
		      rc, err ? err : "");
	ck_assert_msg(err && strstr(err, "another jobd uses the state "
					 "directory") != NULL,
		      "stderr: %s", err ? err : "");
	ck_assert_msg(!jd_exists(other), "the second jobd created %s", other);

	json_t *job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "recoveries"), 0);
	json_decref(job);
	free(err);
	free(errpath);
	free(other);
}
END_TEST

/* ---- 2. closed peers free their slot ---- */

/* stats.connections as seen from a fresh connection (which counts), or
 * -1 when that connection is refused busy. */
static json_int_t
fresh_connections(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *r = raw_call(fd, "{\"id\":1,\"cmd\":\"stats\"}\n");
	json_int_t n = -1; /* busy: every slot taken */
	if (json_is_true(json_object_get(r, "ok")))
		n = jd_num(json_object_get(r, "result"), "connections");
	json_decref(r);
	close(fd);
	return n;
}

START_TEST(regress_closed_peer_frees_slot)
{
	/* Room for every connection a round can hold at once (the harness,
	 * the asker and the three of a round, each maybe not yet seen
	 * closed), so no connect is refused busy: a leak shows in the count
	 * after each round. */
	struct jd *d = start("max_connections = 8\n");
	int64_t id = jd_submit_text(d, "{\"argv\":[\"sleep\",\"30\"]}");
	ck_assert(jd_poll_state(d, id, "running", 5));
	char wait_req[128], logs_req[128];
	snprintf(wait_req, sizeof(wait_req),
		 "{\"id\":2,\"cmd\":\"wait\",\"job_ids\":[%lld]}\n",
		 (long long)id);
	snprintf(logs_req, sizeof(logs_req),
		 "{\"id\":3,\"cmd\":\"logs\",\"job_id\":%lld,"
		 "\"follow\":true}\n",
		 (long long)id);

	/* 18 connections, each closed with something pending (watch, wait,
	 * logs follow). */
	for (int round = 0; round < 6; round++) {
		int fd = jd_connect(d);
		ck_assert_int_ge(fd, 0);
		json_t *r = raw_call(fd, "{\"id\":1,\"cmd\":\"watch\"}\n");
		ck_assert_msg(json_is_true(json_object_get(r, "ok")),
			      "round %d: watch refused (%s): slots leak", round,
			      jd_err(r));
		json_decref(r);
		close(fd);

		fd = jd_connect(d);
		ck_assert_int_ge(fd, 0);
		jd_send(fd, wait_req);
		close(fd);

		fd = jd_connect(d);
		ck_assert_int_ge(fd, 0);
		jd_send(fd, logs_req);
		close(fd);

		/* The daemon sees the closes when it next reads (a connect
		 * can come first and be refused busy): within a bound, only
		 * the harness and the asking connection are left. */
		double until = jd_now() + 3;
		json_int_t n = -1;
		while (jd_now() < until && (n = fresh_connections(d)) != 2)
			jd_pause_ms(5);
		ck_assert_msg(n == 2, "round %d: %lld connections, want 2",
			      round, (long long)n);
	}

	/* A peer that only shuts its writing side still gets its reply. */
	int hc = jd_connect(d);
	ck_assert_int_ge(hc, 0);
	char half[128];
	snprintf(half, sizeof(half),
		 "{\"id\":9,\"cmd\":\"wait\",\"job_ids\":[%lld],"
		 "\"timeout\":0.3}\n",
		 (long long)id);
	jd_send(hc, half);
	ck_assert_int_eq(shutdown(hc, SHUT_WR), 0);
	char *line = raw_line(hc, 5000);
	ck_assert_msg(line != NULL, "half-closed peer got no wait reply");
	json_t *r = jd_json(line);
	ck_assert_int_eq(jd_num(r, "id"), 9);
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	free(line);
	close(hc);

	/* Only the asking connection is left once the harness's closes. */
	close(d->fd);
	d->fd = -1;
	double deadline = jd_now() + 5;
	json_int_t n = -1;
	while (jd_now() < deadline && (n = fresh_connections(d)) != 1)
		jd_pause_ms(10);
	ck_assert_msg(n == 1, "stats.connections is %lld, want 1",
		      (long long)n);

	/* And every slot takes a new connection. */
	int fds[4];
	for (int i = 0; i < 4; i++) {
		fds[i] = jd_connect(d);
		ck_assert_int_ge(fds[i], 0);
		r = raw_call(fds[i], "{\"id\":5,\"cmd\":\"ping\"}\n");
		ck_assert_msg(json_is_true(json_object_get(r, "ok")),
			      "connection %d of 4 refused: %s", i + 1,
			      jd_err(r));
		json_decref(r);
	}
	d->fd = fds[0];
	for (int i = 1; i < 4; i++)
		close(fds[i]);
	cancel_quietly(d, id);
}
END_TEST

/* ---- 3. unique keys per user ---- */

START_TEST(regress_unique_key_per_user)
{
	struct jd *d = start(NULL);
	/* Delayed, so that neither job can end (and free its key). */
	json_t *r = jd_req(d, "{s:s,s:{s:[s,s],s:s,s:i}}", "cmd", "submit",
			   "job", "argv", "sleep", "30", "unique_key", "k",
			   "delay", 60);
	json_int_t root_id = jd_num(jd_ok(r), "id");
	ck_assert(json_is_false(json_object_get(jd_ok(r), "duplicate")));
	json_decref(r);

	r = jd_req(d, "{s:s,s:{s:[s,s],s:s,s:i,s:s}}", "cmd", "submit", "job",
		   "argv", "sleep", "30", "unique_key", "k", "delay", 60,
		   "user", "nobody");
	json_int_t nobody_id = jd_num(jd_ok(r), "id");
	ck_assert_msg(nobody_id != root_id,
		      "nobody's submit got root's job %lld",
		      (long long)root_id);
	ck_assert(json_is_false(json_object_get(jd_ok(r), "duplicate")));
	json_decref(r);

	r = jd_req(d, "{s:s,s:{s:[s,s],s:s,s:i,s:s}}", "cmd", "submit", "job",
		   "argv", "sleep", "30", "unique_key", "k", "delay", 60,
		   "user", "nobody");
	ck_assert_int_eq(jd_num(jd_ok(r), "id"), nobody_id);
	ck_assert(json_is_true(json_object_get(jd_ok(r), "duplicate")));
	json_decref(r);

	cancel_quietly(d, root_id);
	cancel_quietly(d, nobody_id);
}
END_TEST

/* ---- 4. producer errors in the config file ---- */

START_TEST(regress_config_producer_errors)
{
	struct jd t;
	jd_init(&t, NULL);
	jd_guard(t.dir);
	char *errpath = jd_path(&t, "jobd.err");

	/* An interval producer without its job. */
	jd_write_file(t.conf, "[producer x]\ntype = interval\nevery = 5m\n");
	const char *const check[] = {"-c", t.conf, "--check-config", NULL};
	int rc = jd_run_jobd(check, errpath, 5);
	char *err = jd_slurp(errpath);
	char where[400];
	snprintf(where, sizeof(where), "%s:1:", t.conf);
	ck_assert_msg(rc == EXIT_CONFIG, "--check-config: status %d: %s", rc,
		      err ? err : "");
	ck_assert_msg(err && strstr(err, where) && strstr(err, "producer x"),
		      "stderr lacks %s and producer x: %s", where,
		      err ? err : "");
	free(err);

	const char *const run[] = {"-c", t.conf,  "-s", t.sock,
				   "-d", t.state, NULL};
	rc = jd_run_jobd(run, errpath, 5);
	err = jd_slurp(errpath);
	ck_assert_msg(rc == EXIT_CONFIG, "start: status %d: %s", rc,
		      err ? err : "");
	ck_assert_msg(!jd_exists(t.sock), "a refused start left %s", t.sock);
	free(err);

	/* A producer whose queue does not exist: only a start knows. */
	jd_write_file(t.conf, "[producer y]\ntype = interval\nevery = 5m\n"
			      "shell = true\nqueue = nope\n");
	rc = jd_run_jobd(check, errpath, 5);
	err = jd_slurp(errpath);
	ck_assert_msg(rc == 0, "--check-config: status %d: %s", rc,
		      err ? err : "");
	free(err);
	rc = jd_run_jobd(run, errpath, 5);
	err = jd_slurp(errpath);
	ck_assert_msg(rc == EXIT_CONFIG, "start: status %d: %s", rc,
		      err ? err : "");
	ck_assert_msg(err && strstr(err, "no queue nope"), "stderr: %s",
		      err ? err : "");
	ck_assert_msg(!jd_exists(t.sock), "a refused start left %s", t.sock);
	free(err);
	free(errpath);
	jd_free(&t);
}
END_TEST

/* ---- 5. a fed queue; queue.updated carries the queue ---- */

START_TEST(regress_queue_delete_producer)
{
	struct jd *d = start(NULL);
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "queue.create", "name",
				"fed"));
	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"feeder\",\"type\":\"interval\","
			      "\"every\":3600,\"queue\":\"fed\","
			      "\"job\":{\"argv\":[\"true\"]}}}"));
	json_t *r =
		jd_req(d, "{s:s,s:s}", "cmd", "queue.delete", "name", "fed");
	ck_assert_str_eq(jd_err(r), "invalid_state");
	ck_assert_msg(strstr(jd_err_msg(r), "feeder") != NULL,
		      "message does not name the producer: %s", jd_err_msg(r));
	json_decref(r);

	int w = jd_watch_conn(d, NULL);
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "producer.delete", "name",
				"feeder"));
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "queue.delete", "name",
				"fed"));
	json_t *ev = next_event(w, "queue.updated", "queue", "fed", 5);
	ck_assert_msg(ev != NULL, "no queue.updated for the deleted queue");
	json_t *q = json_object_get(ev, "queue");
	ck_assert_msg(json_is_object(q), "queue is not an object");
	ck_assert_str_eq(jd_str(q, "name"), "fed");
	ck_assert(json_is_true(json_object_get(q, "deleted")));
	json_decref(ev);

	jd_call_ok(d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				"default", "concurrency", 3));
	ev = next_event(w, "queue.updated", "queue", "default", 5);
	ck_assert_msg(ev != NULL, "no queue.updated for queue.update");
	q = json_object_get(ev, "queue");
	ck_assert_msg(json_is_object(q), "queue is not an object");
	ck_assert_int_eq(jd_num(q, "concurrency"), 3);
	json_decref(ev);
	close(w);
}
END_TEST

/* ---- 6. NUL and blank request lines ---- */

START_TEST(regress_nul_and_blank_lines)
{
	struct jd *d = start(NULL);
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	static const char nuls[] = "\0\0\n";
	ck_assert(jd_write(fd, nuls, sizeof(nuls) - 1));
	char *line = raw_line(fd, 3000);
	ck_assert_msg(line != NULL, "no response to a line of NUL bytes");
	json_t *r = jd_json(line);
	ck_assert_str_eq(jd_err(r), "bad_request");
	json_decref(r);
	free(line);

	static const char lead[] = "\0{\"cmd\":\"ping\"}\n";
	ck_assert(jd_write(fd, lead, sizeof(lead) - 1));
	line = raw_line(fd, 3000);
	ck_assert_msg(line != NULL, "no response to a line starting NUL");
	r = jd_json(line);
	ck_assert_str_eq(jd_err(r), "bad_request");
	json_decref(r);
	free(line);

	jd_send(fd, "   \n{\"id\":77,\"cmd\":\"ping\"}\n");
	line = raw_line(fd, 3000);
	ck_assert_msg(line != NULL, "no response to ping");
	r = jd_json(line);
	ck_assert_msg(jd_num(r, "id") == 77 &&
			      json_is_true(json_object_get(r, "ok")),
		      "a blank line was answered: %s", line);
	json_decref(r);
	free(line);
	close(fd);
}
END_TEST

/* ---- 7. logs windows advance ---- */

START_TEST(regress_logs_window_advances)
{
	struct jd *d = start(NULL);
	/* a, an invalid byte, then e-acute (two bytes), then z. */
	int64_t id = jd_submit_text(d, "{\"shell\":\"printf 'a\\\\376\\\\303"
				       "\\\\251z'\"}");
	json_t *job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);

	json_t *r =
		jd_req(d, "{s:s,s:I}", "cmd", "logs", "job_id", (json_int_t)id);
	json_int_t size = jd_num(jd_ok(r), "size");
	json_decref(r);
	ck_assert_int_eq(size, 5);

	char data[256] = "";
	json_int_t off = 0;
	int steps = 0;
	while (off != size) {
		ck_assert_msg(steps < size,
			      "no end after %d steps (at %lld "
			      "of %lld)",
			      steps, (long long)off, (long long)size);
		r = jd_req(d, "{s:s,s:I,s:I,s:i}", "cmd", "logs", "job_id",
			   (json_int_t)id, "offset", off, "max_bytes", 1);
		json_t *res = jd_ok(r);
		json_int_t next = jd_num(res, "next_offset");
		ck_assert_msg(next > off,
			      "window at %lld does not advance "
			      "(next_offset %lld)",
			      (long long)off, (long long)next);
		ck_assert_int_le(next, size);
		ck_assert_int_lt(strlen(data) + strlen(jd_str(res, "data")),
				 sizeof(data));
		strcat(data, jd_str(res, "data"));
		off = next;
		steps++;
		json_decref(r);
	}
	ck_assert_msg(strstr(data, "\xef\xbf\xbd") != NULL, "no U+FFFD in %s",
		      data);

	r = jd_req(d, "{s:s,s:I,s:i}", "cmd", "logs", "job_id", (json_int_t)id,
		   "attempt", 2);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
}
END_TEST

/* ---- 8. job.submitted carries the job as submitted ---- */

START_TEST(regress_submitted_snapshot)
{
	struct jd *d = start(NULL);
	int w = jd_watch_conn(d, NULL);
	enum { N = 20 };
	for (int i = 0; i < N; i++)
		jd_submit_text(d, "{\"argv\":[\"true\"]}");
	int seen = 0;
	double deadline = jd_now() + 10;
	while (seen < N && jd_now() < deadline) {
		int left = (int)((deadline - jd_now()) * 1000);
		char *line = jd_read_line(w, left > 0 ? left : 1);
		if (line == NULL)
			break;
		json_t *ev = jd_json(line);
		if (strcmp(jd_str(ev, "event"), "job.submitted") == 0) {
			const char *st =
				jd_str(json_object_get(ev, "job"), "state");
			ck_assert_msg(strcmp(st, "queued") == 0 ||
					      strcmp(st, "scheduled") == 0 ||
					      strcmp(st, "waiting") == 0,
				      "job.submitted with state %s: %s", st,
				      line);
			seen++;
		}
		json_decref(ev);
		free(line);
	}
	ck_assert_int_eq(seen, N);
	close(w);
}
END_TEST

/* job.submitted is made from the insert, not read back: it must show
 * what a read of the job answers, field for field, for jobs that do not
 * move after their submit (scheduled far ahead, waiting on one, born
 * cancelled by a failed dependency). */
START_TEST(regress_submitted_matches_get)
{
	struct jd *d = start(NULL);
	int64_t bad = jd_submit_text(d, "{\"argv\":[\"false\"]}");
	json_decref(jd_wait(d, bad, 10));
	int w = jd_watch_conn(d, NULL);
	int64_t sched = jd_submit_text(
		d, "{\"argv\":[\"echo\",\"a b\",\"\\u00e9\"],"
		   "\"name\":\"sched\",\"cwd\":\"/tmp\",\"priority\":-3,"
		   "\"run_at\":\"2099-01-02T03:04:05.678Z\","
		   "\"timeout\":2.5,\"kill_grace\":0.25,"
		   "\"max_attempts\":7,\"unique_key\":\"u1\","
		   "\"backoff\":{\"base\":0.5,\"factor\":3,\"max\":60,"
		   "\"jitter\":0},\"limits\":{\"nofile\":64,"
		   "\"cpu_time\":10},\"output\":\"discard\","
		   "\"linger\":true}");
	char spec[256];
	snprintf(spec, sizeof(spec),
		 "{\"shell\":\"exit 3\",\"name\":\"waiter\","
		 "\"depends_on\":[%lld]}",
		 (long long)sched);
	int64_t waiter = jd_submit_text(d, spec);
	snprintf(spec, sizeof(spec),
		 "{\"argv\":[\"true\"],\"name\":\"born\","
		 "\"depends_on\":[%lld,%lld]}",
		 (long long)sched, (long long)bad);
	int64_t born = jd_submit_text(d, spec);

	const char *names[] = {"sched", "waiter", "born"};
	int64_t ids[] = {sched, waiter, born};
	for (int i = 0; i < 3; i++) {
		json_t *ev =
			next_event(w, "job.submitted", "job", names[i], 10);
		ck_assert_msg(ev != NULL, "no job.submitted for %s", names[i]);
		json_t *job = jd_get(d, ids[i]);
		json_t *shown = json_object_get(ev, "job");
		char *a = json_dumps(shown, JSON_SORT_KEYS);
		char *b = json_dumps(job, JSON_SORT_KEYS);
		ck_assert_msg(json_equal(shown, job),
			      "%s: job.submitted shows %s, get answers %s",
			      names[i], a, b);
		free(a);
		free(b);
		json_decref(job);
		json_decref(ev);
	}
	close(w);
}
END_TEST

/* ---- 9. interval ticks are not made up ---- */

START_TEST(regress_interval_no_catch_up)
{
	struct jd *d = start(NULL);
	jd_call_ok(d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.create", "name",
				"pq", "capacity", 1));
	jd_queue_cmd(d, "queue.pause", "pq");
	double t0 = jd_now();
	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"tick\",\"type\":\"interval\","
			      "\"every\":0.2,\"overlap\":true,\"queue\":\"pq\","
			      "\"job\":{\"argv\":[\"true\"]}}}"));
	/* The first tick fills the queue; the next ones find no room. */
	double deadline = t0 + 10;
	json_int_t p0 = 0;
	for (;;) {
		ck_assert_msg(jd_now() < deadline, "the producer never ran");
		json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get",
				   "name", "tick");
		json_t *p = json_object_get(jd_ok(r), "producer");
		bool ran = json_is_string(json_object_get(p, "last_run"));
		p0 = jd_num(p, "produced");
		json_decref(r);
		if (ran && jd_now() - t0 >= 1.2)
			break;
		jd_pause_ms(20);
	}
	ck_assert_int_le(p0, 1);

	/* After the resume: the tick that waited for room, then ticks 0.2 s
	 * apart: by e seconds after the resume was asked for, at most
	 * 2 + floor(e / 0.2), so 2 in the first 0.2 s.  Made-up ticks (some
	 * 4 were missed) would all come at once. */
	double t1 = jd_now();
	jd_queue_cmd(d, "queue.resume", "pq");
	json_int_t grown = 0;
	while (jd_now() - t1 < 0.5) {
		json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get",
				   "name", "tick");
		grown = jd_num(json_object_get(jd_ok(r), "producer"),
			       "produced") -
			p0;
		json_decref(r);
		double e = jd_now() - t1;
		ck_assert_msg(grown <= 2 + (json_int_t)(e / 0.2),
			      "produced grew by %lld within %.3f s of the "
			      "resume: missed ticks made up",
			      (long long)grown, e);
		jd_pause_ms(10);
	}
	ck_assert_msg(grown >= 1, "nothing produced after the resume");
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "producer.delete", "name",
				"tick"));
}
END_TEST

/* ---- 10. the minimal env is shown ---- */

START_TEST(regress_get_env_minimal)
{
	struct jd *d = start(NULL);
	int64_t id = jd_submit_text(d, "{\"argv\":[\"true\"]}");
	json_t *r = jd_req(d, "{s:s,s:I,s:b}", "cmd", "get", "job_id",
			   (json_int_t)id, "env", 1);
	json_t *env = json_object_get(json_object_get(jd_ok(r), "job"), "env");
	ck_assert_msg(json_is_object(env), "env is not an object");
	ck_assert_msg(*jd_str(env, "PATH") != '\0', "env has no PATH");
	json_decref(r);
	json_decref(jd_wait(d, id, 10));
}
END_TEST

/* ---- 12. listing running jobs (its own indexed statement) ---- */

/* list with state "running" alone answers exactly the running jobs, in
 * id order, with the queue filter and after_id paging, among queued ones
 * of another queue. */
START_TEST(regress_list_running)
{
	struct jd *d = start("[queue other]\n");
	jd_call_ok(d, json_pack("{s:s,s:s}", "cmd", "queue.pause", "name",
				"other"));
	int64_t r[3];
	for (int i = 0; i < 3; i++) {
		/* Queued in the paused queue, interleaved by id. */
		jd_submit_text(d, "{\"argv\":[\"true\"],\"queue\":\"other\"}");
		r[i] = jd_submit_text(d, "{\"argv\":[\"sleep\",\"30\"]}");
	}
	for (int i = 0; i < 3; i++)
		ck_assert(jd_poll_state(d, r[i], "running", 10));
	json_t *res = jd_req(d, "{s:s,s:s}", "cmd", "list", "state", "running");
	json_t *jobs = json_object_get(jd_ok(res), "jobs");
	ck_assert_int_eq(json_array_size(jobs), 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(jd_num(json_array_get(jobs, (size_t)i), "id"),
				 r[i]);
	json_decref(res);
	res = jd_req(d, "{s:s,s:s,s:I,s:i}", "cmd", "list", "state", "running",
		     "after_id", (json_int_t)r[0], "limit", 1);
	jobs = json_object_get(jd_ok(res), "jobs");
	ck_assert_int_eq(json_array_size(jobs), 1);
	ck_assert_int_eq(jd_num(json_array_get(jobs, 0), "id"), r[1]);
	ck_assert_int_eq(jd_num(jd_ok(res), "next_after_id"), r[1]);
	json_decref(res);
	res = jd_req(d, "{s:s,s:s,s:s}", "cmd", "list", "state", "running",
		     "queue", "other");
	ck_assert_int_eq(json_array_size(json_object_get(jd_ok(res), "jobs")),
			 0);
	json_decref(res);
	json_t *c = jd_req(d, "{s:s,s:[I,I,I]}", "cmd", "cancel", "job_ids",
			   (json_int_t)r[0], (json_int_t)r[1],
			   (json_int_t)r[2]);
	jd_ok(c);
	json_decref(c);
}
END_TEST

/* ---- 11. reals written short ---- */

START_TEST(regress_real_numbers)
{
	struct jd *d = start(NULL);
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	jd_send(fd, "{\"id\":0.1,\"cmd\":\"ping\"}\n");
	char *line = raw_line(fd, 5000);
	ck_assert_msg(line != NULL, "no response to ping");
	ck_assert_msg(has_number(line, "id", "0.1"), "id not 0.1: %s", line);
	free(line);

	jd_send(fd, "{\"id\":2,\"cmd\":\"queue.get\",\"name\":\"default\"}\n");
	line = raw_line(fd, 5000);
	ck_assert_msg(line != NULL, "no response to queue.get");
	ck_assert_msg(has_number(line, "jitter", "0.1"),
		      "jitter not written 0.1: %s", line);
	free(line);
	close(fd);
}
END_TEST

Suite *
regress_suite(void)
{
	Suite *s = suite_create("regress");
	TCase *tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, regress_state_dir_lock);
	tcase_add_test(tc, regress_config_producer_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("protocol");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, regress_closed_peer_frees_slot);
	tcase_add_test(tc, regress_nul_and_blank_lines);
	tcase_add_test(tc, regress_real_numbers);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, regress_unique_key_per_user);
	tcase_add_test(tc, regress_logs_window_advances);
	tcase_add_test(tc, regress_submitted_snapshot);
	tcase_add_test(tc, regress_submitted_matches_get);
	tcase_add_test(tc, regress_get_env_minimal);
	tcase_add_test(tc, regress_list_running);
	suite_add_tcase(s, tc);

	tc = tcase_create("queues");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, regress_queue_delete_producer);
	tcase_add_test(tc, regress_interval_no_catch_up);
	suite_add_tcase(s, tc);
	return s;
}
