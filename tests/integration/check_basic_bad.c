/*
 * basic_suite's bad input (SPEC 5): bad lines and specs, lines too large,
 * the request timeout, the connection limit, clients that go away and
 * garbage; the daemon answers or closes, and keeps serving.
 */
#include <check.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "basic.h"
#include "harness.h"

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
		/* While the slot is still taken, jobd may answer busy and
		 * close before the request is written. */
		const char *ping = "{\"cmd\":\"ping\",\"id\":\"again\"}\n";
		if (!jd_write(c, ping, strlen(ping))) {
			close(c);
			poll(NULL, 0, 20);
			continue;
		}
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

void
basic_add_bad_input(Suite *s, TCase *configured)
{
	TCase *tc;

	tc = basic_tcase("bad_input", 30);
	tcase_add_test(tc, basic_bad_lines);
	tcase_add_test(tc, basic_bad_specs);
	tcase_add_test(tc, basic_bad_disconnects);
	tcase_add_test(tc, basic_bad_garbage);
	suite_add_tcase(s, tc);

	tcase_add_test(configured, basic_bad_too_large);
	tcase_add_test(configured, basic_bad_request_timeout);
	tcase_add_test(configured, basic_bad_max_connections);
}
