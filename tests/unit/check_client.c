/*
 * Tests of the client library (client/client.c) against a fake jobd: a
 * thread that listens on a Unix socket in a fresh temp directory, takes
 * one connection and plays a script — reads the requests, checks them,
 * writes lines back (responses, events, garbage, half a line) or closes.
 * Covered: request ids and responses matched by id, events and other
 * responses kept for later, error codes mapped from their wire names, a
 * timeout that leaves the connection usable, a line that is not JSON, a
 * long line, the connection closed in the middle of a reply, and the
 * checks made before connecting.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "jobd/client.h"

Suite *client_suite(void);

/* ---- the fake server ---- */

struct fake;
typedef void (*fake_script_fn)(struct fake *f);

struct fake {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	int lfd; /* listening socket */
	int fd;	 /* the accepted connection, or -1 */
	fake_script_fn script;
	pthread_t thread;
	bool running;
	char fail[256];	   /* the first thing the script did not like */
	char buf[1 << 16]; /* bytes read and not yet a whole line */
	size_t len;
};

static struct fake fk;

static void
fake_failed(struct fake *f, const char *what)
{
	if (f->fail[0] == '\0')
		snprintf(f->fail, sizeof(f->fail), "%s", what);
}

/* Reads one request line (without its newline) and parses it; NULL on
 * end of file, after 5 s, or when it is not JSON (recorded as a
 * failure). */
static json_t *
fake_read(struct fake *f)
{
	for (;;) {
		char *nl = memchr(f->buf, '\n', f->len);
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		ssize_t n;

		if (nl != NULL) {
			size_t k = (size_t)(nl - f->buf);
			json_t *v = json_loadb(f->buf, k, 0, NULL);

			memmove(f->buf, nl + 1, f->len - k - 1);
			f->len -= k + 1;
			if (v == NULL)
				fake_failed(f, "a request line is not JSON");
			return v;
		}
		if (f->len == sizeof(f->buf) || poll(&p, 1, 5000) != 1)
			return NULL;
		n = read(f->fd, f->buf + f->len, sizeof(f->buf) - f->len);
		if (n <= 0)
			return NULL;
		f->len += (size_t)n;
	}
}

static void
fake_write(struct fake *f, const char *text)
{
	size_t n = strlen(text), off = 0;

	while (off < n) {
		ssize_t w = write(f->fd, text + off, n - off);

		if (w <= 0) {
			fake_failed(f, "cannot write to the client");
			return;
		}
		off += (size_t)w;
	}
}

/* Reads a request and checks its cmd; returns its id (-1 when none). */
static long long
fake_expect(struct fake *f, const char *cmd)
{
	json_t *req = fake_read(f);
	const char *got;
	long long id;

	if (req == NULL) {
		fake_failed(f, "no request came");
		return -1;
	}
	got = json_string_value(json_object_get(req, "cmd"));
	if (got == NULL || strcmp(got, cmd) != 0)
		fake_failed(f, "a request has the wrong cmd");
	id = json_is_integer(json_object_get(req, "id"))
		     ? json_integer_value(json_object_get(req, "id"))
		     : -1;
	json_decref(req);
	return id;
}

/* Writes the response {"id": id, <members>} as one line. */
static void
fake_reply(struct fake *f, long long id, const char *members)
{
	char line[1024];

	snprintf(line, sizeof(line), "{\"id\":%lld,%s}\n", id, members);
	fake_write(f, line);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = {.fd = f->lfd, .events = POLLIN};

	if (poll(&p, 1, 5000) != 1) {
		fake_failed(f, "nobody connected");
		return NULL;
	}
	f->fd = accept(f->lfd, NULL, NULL);
	if (f->fd < 0) {
		fake_failed(f, "accept failed");
		return NULL;
	}
	f->script(f);
	close(f->fd);
	f->fd = -1;
	return NULL;
}

static void
fake_setup(void)
{
	const char *t = getenv("TMPDIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(&fk, 0, sizeof(fk));
	fk.fd = -1;
	snprintf(fk.dir, sizeof(fk.dir), "%s/jobd-client-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(fk.dir));
	snprintf(fk.path, sizeof(fk.path), "%s/s.sock", fk.dir);
	ck_assert_uint_lt(strlen(fk.path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, fk.path);
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fk.lfd, 0);
	ck_assert_int_eq(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fk.lfd, 4), 0);
}

static void
fake_teardown(void)
{
	if (fk.running)
		pthread_join(fk.thread, NULL);
	close(fk.lfd);
	unlink(fk.path);
	rmdir(fk.dir);
}

/* Starts the server on script and connects to it. */
static struct jobd_client *
fake_start(fake_script_fn script)
{
	struct jobd_client *c;

	fk.script = script;
	ck_assert_int_eq(pthread_create(&fk.thread, NULL, fake_main, &fk), 0);
	fk.running = true;
	c = jobd_client_connect(fk.path);
	ck_assert_msg(c != NULL, "%s", jobd_client_connect_error());
	ck_assert_str_eq(jobd_client_path(c), fk.path);
	return c;
}

/* Closes c, waits for the script's end and fails on its complaint. */
static void
fake_finish(struct jobd_client *c)
{
	jobd_client_close(c);
	ck_assert_int_eq(pthread_join(fk.thread, NULL), 0);
	fk.running = false;
	ck_assert_msg(fk.fail[0] == '\0', "fake jobd: %s", fk.fail);
}

/* ---- request and reply ---- */

static void
out_of_turn_script(struct fake *f)
{
	long long id = fake_expect(f, "ping");

	if (id != 1)
		fake_failed(f, "the first request id is not 1");
	fake_write(f, "{\"event\":\"job.started\",\"job\":{\"id\":5}}\n");
	fake_write(f, "{\"ok\":true,\"id\":77,\"result\":{\"other\":1}}\n");
	fake_reply(f, id, "\"ok\":true,\"result\":{\"pong\":true}");
	id = fake_expect(f, "stats");
	if (id != 2)
		fake_failed(f, "the second request id is not 2");
	/* No result: an empty object. */
	fake_reply(f, id, "\"ok\":true");
	json_decref(fake_read(f));
}

START_TEST(client_call_matches_its_response_and_keeps_the_rest)
{
	struct jobd_client *c = fake_start(out_of_turn_script);
	json_t *r, *ev;

	r = jobd_client_cmd(c, "ping", NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_true(json_object_get(r, "pong")));
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_NONE);
	ck_assert_ptr_null(jobd_client_error_name(c));
	ck_assert_str_eq(jobd_client_error_message(c), "");
	json_decref(r);
	/* The event and the other response were kept, in order. */
	ck_assert_uint_eq(jobd_client_pending(c), 2);
	r = jobd_client_response(c, 77, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(r, "result"), "other")),
			 1);
	json_decref(r);
	ev = jobd_client_next_event(c, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "event")),
			 "job.started");
	json_decref(ev);
	ck_assert_uint_eq(jobd_client_pending(c), 0);
	r = jobd_client_cmd(c, "stats", NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_object(r));
	ck_assert_uint_eq(json_object_size(r), 0);
	json_decref(r);
	fake_finish(c);
}
END_TEST

static void
errors_script(struct fake *f)
{
	static const char *const replies[] = {
		"\"ok\":false,\"error\":{\"code\":\"not_found\","
		"\"message\":\"no job 9\"}",
		"\"ok\":false,\"error\":{\"code\":\"queue_full\","
		"\"message\":\"full\"}",
		"\"ok\":false,\"error\":{\"code\":\"gremlins\","
		"\"message\":\"odd\"}",
		"\"ok\":false",
		"\"ok\":true,\"result\":{}",
	};

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		fake_reply(f, fake_expect(f, "get"), replies[i]);
	json_decref(fake_read(f));
}

/* Calls "get" and checks the outcome. */
static void
assert_outcome(struct jobd_client *c, int code, const char *name,
	       const char *msg)
{
	json_t *r = jobd_client_cmd(c, "get", NULL);

	ck_assert(code == JOBD_E_NONE ? r != NULL : r == NULL);
	json_decref(r);
	ck_assert_int_eq(jobd_client_error_code(c), code);
	if (name == NULL)
		ck_assert_ptr_null(jobd_client_error_name(c));
	else
		ck_assert_str_eq(jobd_client_error_name(c), name);
	ck_assert_str_eq(jobd_client_error_message(c), msg);
}

START_TEST(client_error_codes_mapped_from_their_names)
{
	struct jobd_client *c = fake_start(errors_script);

	assert_outcome(c, JOBD_E_NOT_FOUND, "not_found", "no job 9");
	assert_outcome(c, JOBD_E_QUEUE_FULL, "queue_full", "full");
	/* A code this library does not know: internal, its name kept. */
	assert_outcome(c, JOBD_E_INTERNAL, "gremlins", "odd");
	assert_outcome(c, JOBD_E_INTERNAL, "internal", "");
	/* A daemon error leaves the connection usable, and success clears
	 * it. */
	assert_outcome(c, JOBD_E_NONE, NULL, "");
	fake_finish(c);
}
END_TEST

static void
submit_script(struct fake *f)
{
	json_t *req = fake_read(f);
	json_t *job = json_object_get(req, "job");

	if (req == NULL || !json_is_object(job) ||
	    json_integer_value(json_object_get(job, "priority")) != 7)
		fake_failed(f, "submit did not carry the job spec");
	fake_reply(f, json_integer_value(json_object_get(req, "id")),
		   "\"ok\":true,\"result\":{\"id\":42,\"duplicate\":true}");
	json_decref(req);
	json_decref(fake_read(f));
}

START_TEST(client_submit_sends_the_spec_and_reads_id_and_duplicate)
{
	struct jobd_client *c = fake_start(submit_script);
	json_t *spec = json_pack("{s:[s],s:i}", "argv", "true", "priority", 7);
	int64_t id = 0;
	int dup = 0;

	ck_assert_int_eq(jobd_client_submit(c, spec, &id, &dup), 0);
	ck_assert_int_eq(id, 42);
	ck_assert_int_eq(dup, 1);
	/* The caller's spec is left as it was. */
	ck_assert_uint_eq(json_object_size(spec), 2);
	json_decref(spec);
	fake_finish(c);
}
END_TEST

static void
timeout_script(struct fake *f)
{
	long long a = fake_expect(f, "a");
	long long b;

	/* Silent until the second request comes. */
	b = fake_expect(f, "b");
	fake_reply(f, a, "\"ok\":true");
	fake_reply(f, b, "\"ok\":true");
	json_decref(fake_read(f));
}

START_TEST(client_timeout_leaves_the_connection_usable)
{
	struct jobd_client *c = fake_start(timeout_script);
	json_t *req = json_pack("{s:s}", "cmd", "a");
	int64_t a, b;
	json_t *r;

	a = jobd_client_send(c, req);
	ck_assert_int_eq(a, 1);
	/* The caller's object did not get the id. */
	ck_assert_ptr_null(json_object_get(req, "id"));
	json_decref(req);
	errno = 0;
	ck_assert_ptr_null(jobd_client_read(c, 30));
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(jobd_client_error_code(c), -1);
	req = json_pack("{s:s,s:i}", "cmd", "b", "id", 9);
	b = jobd_client_send(c, req);
	json_decref(req);
	ck_assert_int_eq(b, 9);
	r = jobd_client_response(c, b, 5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 9);
	json_decref(r);
	ck_assert_uint_eq(jobd_client_pending(c), 1);
	r = jobd_client_response(c, a, 0);
	ck_assert_ptr_nonnull(r);
	json_decref(r);
	fake_finish(c);
}
END_TEST

static void
garbage_script(struct fake *f)
{
	long long id = fake_expect(f, "x");
	char *big = malloc(300001);

	fake_write(f, "this is not json\n");
	fake_write(f, "[1,2]\n");
	/* A line far longer than one read. */
	memset(big, 'a', 300000);
	big[300000] = '\0';
	char head[64];

	snprintf(head, sizeof(head),
		 "{\"ok\":true,\"id\":%lld,\"result\":"
		 "{\"s\":\"",
		 id);
	fake_write(f, head);
	fake_write(f, big);
	fake_write(f, "\"}}\n");
	free(big);
	json_decref(fake_read(f));
}

START_TEST(client_drops_lines_that_are_not_objects_and_reads_long_ones)
{
	struct jobd_client *c = fake_start(garbage_script);
	json_t *req = json_pack("{s:s}", "cmd", "x");
	json_t *r;

	ck_assert_int_eq(jobd_client_send(c, req), 1);
	json_decref(req);
	errno = 0;
	ck_assert_ptr_null(jobd_client_read(c, 5000));
	ck_assert_int_eq(errno, EPROTO);
	errno = 0;
	ck_assert_ptr_null(jobd_client_read(c, 5000));
	ck_assert_int_eq(errno, EPROTO);
	r = jobd_client_read(c, 5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(
				  json_object_get(r, "result"), "s"))),
			  300000);
	json_decref(r);
	fake_finish(c);
}
END_TEST

static void
half_reply_script(struct fake *f)
{
	char head[64];

	snprintf(head, sizeof(head),
		 "{\"ok\":true,\"id\":%lld,\"result\":{\"jo",
		 fake_expect(f, "get"));
	fake_write(f, head);
	/* Then the connection closes (fake_main). */
}

START_TEST(client_connection_closed_mid_reply)
{
	struct jobd_client *c = fake_start(half_reply_script);
	json_t *r;

	errno = 0;
	r = jobd_client_cmd(c, "get", NULL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(jobd_client_error_code(c), -1);
	ck_assert_str_eq(jobd_client_error_name(c), "transport");
	ck_assert_str_ne(jobd_client_error_message(c), "");
	ck_assert_uint_eq(jobd_client_pending(c), 0);
	fake_finish(c);
}
END_TEST

static void
refuse_script(struct fake *f)
{
	/* A daemon at its connection limit: one line, then close. */
	fake_write(f, "{\"ok\":false,\"id\":null,\"error\":{\"code\":\"busy\","
		      "\"message\":\"too many connections\"}}\n");
	json_decref(fake_read(f));
}

START_TEST(client_reads_the_refusal_of_a_busy_daemon)
{
	struct jobd_client *c = fake_start(refuse_script);
	json_t *r = NULL;

	/* The answer to the connection (null id) answers the call. */
	r = jobd_client_cmd(c, "ping", NULL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_BUSY);
	ck_assert_str_eq(jobd_client_error_message(c), "too many connections");
	fake_finish(c);
}
END_TEST

/* ---- connecting ---- */

START_TEST(client_connect_refuses_a_directory_others_may_write)
{
	struct jobd_client *c;

	ck_assert_int_eq(chmod(fk.dir, 0777), 0);
	errno = 0;
	ck_assert_ptr_null(jobd_client_connect(fk.path));
	ck_assert_int_eq(errno, EPERM);
	ck_assert_str_ne(jobd_client_connect_error(), "");
	/* The sticky bit (as on /tmp) makes it fine. */
	ck_assert_int_eq(chmod(fk.dir, 01777), 0);
	c = jobd_client_connect(fk.path);
	ck_assert_msg(c != NULL, "%s", jobd_client_connect_error());
	jobd_client_close(c);
	ck_assert_int_eq(chmod(fk.dir, 0700), 0);
}
END_TEST

START_TEST(client_connect_reports_missing_and_long_paths)
{
	char missing[PATH_MAX + 32];
	char longp[300];

	snprintf(missing, sizeof(missing), "%s/none.sock", fk.dir);
	errno = 0;
	ck_assert_ptr_null(jobd_client_connect(missing));
	ck_assert_int_eq(errno, ENOENT);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	errno = 0;
	ck_assert_ptr_null(jobd_client_connect(longp));
	ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = tcase_create("protocol");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, client_call_matches_its_response_and_keeps_the_rest);
	tcase_add_test(tc, client_error_codes_mapped_from_their_names);
	tcase_add_test(tc,
		       client_submit_sends_the_spec_and_reads_id_and_duplicate);
	tcase_add_test(tc, client_timeout_leaves_the_connection_usable);
	tcase_add_test(
		tc,
		client_drops_lines_that_are_not_objects_and_reads_long_ones);
	tcase_add_test(tc, client_connection_closed_mid_reply);
	tcase_add_test(tc, client_reads_the_refusal_of_a_busy_daemon);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, client_connect_refuses_a_directory_others_may_write);
	tcase_add_test(tc, client_connect_reports_missing_and_long_paths);
	suite_add_tcase(s, tc);
	return s;
}
