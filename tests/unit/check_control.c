/*
 * Tests of control over a real Unix socket in a temp directory, with a
 * fake request handler in place of commands: lines reach the handler whole
 * and in order however they arrive, a pipelined burst is handled line by
 * line, an over-long line is refused with too_large and the connection
 * closed (SPEC 5), the handler's replies go back in order, and on_gone
 * runs when the peer closes or jobd shuts down.
 *
 * The client side runs in the test's main coroutine on a non-blocking
 * socket, so it never blocks the loop the connections run on; every wait
 * is bounded by a deadline (loopfix.h).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "await.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"

Suite *control_suite(void);

/* Seconds any one wait of a scenario may take. */
#define WAIT_MAX 3.0
#define MAX_LINES 256
#define MAX_REQUEST 64

static char tmpdir[PATH_MAX];
static char sock[PATH_MAX + 32];

/* What the fake handler saw. */
static char *lines[MAX_LINES]; /* owned copies, in arrival order */
static int nlines;
static struct conn *line_conn; /* the connection of the last line */
static int ngone;
static struct conn *gone_conn;		 /* the last connection gone */
static int handler_arg;			 /* its address is the callbacks' arg */
static bool bad_arg;			 /* a callback got another arg */
static struct waitq seen_q = WAITQ_INIT; /* notified at each callback */

/* Records the line and answers "re:<line>" as a reply that reports state
 * (it goes out after store_sync(), with no store open here). */
static void
fake_line(struct conn *c, const char *line, size_t len, void *arg)
{
	char reply[MAX_REQUEST + 8];

	if (arg != &handler_arg)
		bad_arg = true;
	if (nlines < MAX_LINES)
		lines[nlines++] = strndup(line, len);
	line_conn = c;
	int n = snprintf(reply, sizeof(reply), "re:%.*s\n", (int)len, line);
	control_send_raw(c, reply, (size_t)n);
	waitq_notify_all(&seen_q);
}

static void
fake_gone(struct conn *c, void *arg)
{
	if (arg != &handler_arg)
		bad_arg = true;
	ngone++;
	gone_conn = c;
	waitq_notify_all(&seen_q);
}

static void
control_setup(void)
{
	const char *t = getenv("TMPDIR");

	loopfix_reset();
	log_set_level(LOG_LEVEL_WARNING);
	diag_clear();
	loop_init();
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-control-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(sock, sizeof(sock), "%s/jobd.sock", tmpdir);
	nlines = 0;
	line_conn = NULL;
	ngone = 0;
	gone_conn = NULL;
	bad_arg = false;
}

static void
control_teardown(void)
{
	for (int i = 0; i < nlines; i++)
		free(lines[i]);
	nlines = 0;
	loop_shutdown();
	coro_shutdown();
	unlink(sock);
	rmdir(tmpdir);
}

/* ---- the scenario's side: a client on a non-blocking socket ---- */

static int
start_control(void)
{
	struct control_opts o = {
		.path = sock,
		.inherited_fd = -1,
		.mode = 0600,
		.max_request_bytes = MAX_REQUEST,
		.max_connections = 8,
		.request_timeout = 30,
		.user_mode = true,
		.on_line = fake_line,
		.on_gone = fake_gone,
		.arg = &handler_arg,
	};

	return control_init(&o);
}

static int
client_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends all of s (small: the socket buffer takes it at once). */
static bool
client_send(int fd, const char *s)
{
	size_t n = strlen(s);

	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Reads into b (NUL-terminated) until it holds want newlines, EOF comes,
 * or WAIT_MAX passes.  Returns the bytes read; *eof tells whether the peer
 * closed. */
static size_t
client_read(int fd, char *b, size_t cap, int want, bool *eof)
{
	double deadline = loop_now() + WAIT_MAX;
	size_t len = 0;
	int nl = 0;

	*eof = false;
	b[0] = '\0';
	while (nl < want && len + 1 < cap) {
		ssize_t r = recv(fd, b + len, cap - 1 - len, 0);
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				nl += b[len + (size_t)i] == '\n';
			len += (size_t)r;
			b[len] = '\0';
			continue;
		}
		if (r == 0) {
			*eof = true;
			break;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			break;
		double left = deadline - loop_now();
		if (left <= 0 || await_io(fd, EV_READ, left, false, NULL) != 0)
			break;
	}
	return len;
}

/* Waits until the handler has seen n lines and g connections gone. */
static bool
await_seen(int n, int g)
{
	double deadline = loop_now() + WAIT_MAX;

	while (nlines < n || ngone < g) {
		double left = deadline - loop_now();
		if (left <= 0 || waitq_wait(&seen_q, left) != 0)
			return false;
	}
	return true;
}

/* ---- scenarios ---- */

/* A line split over several writes reaches the handler once, whole; blank
 * lines are not handed over; replies come back in order. */
static void
split_lines_s(void *arg)
{
	char b[1024];
	bool eof;

	(void)arg;
	CO_EXPECT(start_control() == 0);
	int fd = client_connect();
	CO_EXPECT(fd >= 0);
	CO_EXPECT(client_send(fd, "{\"n\":1}\nhel"));
	CO_EXPECT(await_seen(1, 0));
	CO_EXPECT(nlines == 1);
	CO_EXPECT(client_send(fd, "l"));
	await_yield();
	CO_EXPECT(client_send(fd, "o world\n \t\r\n\nlast\n"));
	CO_EXPECT(await_seen(3, 0));
	client_read(fd, b, sizeof(b), 3, &eof);
	CO_EXPECT(strcmp(b, "re:{\"n\":1}\nre:hello world\nre:last\n") == 0);
	CO_EXPECT(!eof);
	CO_EXPECT(nlines == 3);
	CO_EXPECT(nlines == 3 && strcmp(lines[0], "{\"n\":1}") == 0 &&
		  strcmp(lines[1], "hello world") == 0 &&
		  strcmp(lines[2], "last") == 0);
	CO_EXPECT(ngone == 0);
	CO_EXPECT(control_connections() == 1);
	close(fd);
	control_shutdown();
}

START_TEST(control_lines_whole_in_order)
{
	loopfix_run(split_lines_s, NULL);
	ck_assert(!bad_arg);
	ck_assert_int_eq(nlines, 3);
}
END_TEST

/* Many lines in one write: each is handed over alone, in order, and each
 * reply follows in the same order. */
static void
pipelined_s(void *arg)
{
	enum { N = 100 };
	char out[N * 16], want[N * 16], b[N * 16];
	size_t o = 0, w = 0;
	bool eof;

	(void)arg;
	for (int i = 0; i < N; i++) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "l%d\n", i);
		w += (size_t)snprintf(want + w, sizeof(want) - w, "re:l%d\n",
				      i);
	}
	CO_EXPECT(start_control() == 0);
	int fd = client_connect();
	CO_EXPECT(fd >= 0);
	CO_EXPECT(client_send(fd, out));
	size_t n = client_read(fd, b, sizeof(b), N, &eof);
	CO_EXPECT(n == w && strcmp(b, want) == 0);
	CO_EXPECT(nlines == N);
	for (int i = 0; i < nlines; i++) {
		char name[16];
		snprintf(name, sizeof(name), "l%d", i);
		CO_EXPECT(strcmp(lines[i], name) == 0);
	}
	close(fd);
	control_shutdown();
}

START_TEST(control_pipelined_lines)
{
	loopfix_run(pipelined_s, NULL);
	ck_assert_int_eq(nlines, 100);
}
END_TEST

/* Checks that b is one too_large error line and nothing after it. */
static bool
is_too_large(const char *b)
{
	json_t *o = json_loads(b, JSON_DISABLE_EOF_CHECK, NULL);
	const char *code = json_string_value(
		json_object_get(json_object_get(o, "error"), "code"));
	bool ok = json_is_object(o) &&
		  json_is_false(json_object_get(o, "ok")) &&
		  json_is_null(json_object_get(o, "id")) && code != NULL &&
		  strcmp(code, "too_large") == 0;
	const char *nl = strchr(b, '\n');

	json_decref(o);
	return ok && nl != NULL && nl[1] == '\0';
}

/* A line of max_request_bytes is taken; a longer one is answered
 * too_large, never handed over, and the connection closed. */
static void
overlong_s(void *arg)
{
	char line[MAX_REQUEST * 2 + 2], b[1024];
	bool eof;

	(void)arg;
	CO_EXPECT(start_control() == 0);
	int fd = client_connect();
	CO_EXPECT(fd >= 0);
	memset(line, 'x', MAX_REQUEST);
	line[MAX_REQUEST] = '\n';
	line[MAX_REQUEST + 1] = '\0';
	CO_EXPECT(client_send(fd, line));
	CO_EXPECT(await_seen(1, 0));
	client_read(fd, b, sizeof(b), 1, &eof);
	CO_EXPECT(strncmp(b, "re:x", 4) == 0 && strlen(b) == MAX_REQUEST + 4);
	memset(line, 'y', MAX_REQUEST + 1);
	line[MAX_REQUEST + 1] = '\n';
	line[MAX_REQUEST + 2] = '\0';
	CO_EXPECT(client_send(fd, line));
	client_read(fd, b, sizeof(b), 2, &eof);
	CO_EXPECT(is_too_large(b));
	CO_EXPECT(eof);
	CO_EXPECT(await_seen(1, 1));
	CO_EXPECT(nlines == 1);
	CO_EXPECT(control_connections() == 0);
	close(fd);
	control_shutdown();
}

START_TEST(control_overlong_line_refused)
{
	loopfix_run(overlong_s, NULL);
	ck_assert_int_eq(nlines, 1);
	ck_assert_int_eq(ngone, 1);
}
END_TEST

/* A partial line that already exceeds the limit is refused before its
 * newline comes. */
static void
overlong_partial_s(void *arg)
{
	char line[MAX_REQUEST * 4], b[1024];
	bool eof;

	(void)arg;
	CO_EXPECT(start_control() == 0);
	int fd = client_connect();
	CO_EXPECT(fd >= 0);
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	CO_EXPECT(client_send(fd, line));
	client_read(fd, b, sizeof(b), 2, &eof);
	CO_EXPECT(is_too_large(b));
	CO_EXPECT(eof);
	CO_EXPECT(await_seen(0, 1));
	CO_EXPECT(nlines == 0);
	close(fd);
	control_shutdown();
}

START_TEST(control_overlong_partial_refused)
{
	loopfix_run(overlong_partial_s, NULL);
	ck_assert_int_eq(nlines, 0);
	ck_assert_int_eq(ngone, 1);
}
END_TEST

/* A peer that closes frees its connection: on_gone gets the connection
 * its lines came from. */
static void
peer_close_s(void *arg)
{
	char b[256];
	bool eof;

	(void)arg;
	CO_EXPECT(start_control() == 0);
	int fd = client_connect();
	CO_EXPECT(fd >= 0);
	CO_EXPECT(client_send(fd, "hi\n"));
	client_read(fd, b, sizeof(b), 1, &eof);
	CO_EXPECT(strcmp(b, "re:hi\n") == 0);
	CO_EXPECT(ngone == 0 && control_connections() == 1);
	close(fd);
	CO_EXPECT(await_seen(1, 1));
	CO_EXPECT(ngone == 1);
	CO_EXPECT(gone_conn != NULL && gone_conn == line_conn);
	CO_EXPECT(control_connections() == 0);
	control_shutdown();
}

START_TEST(control_on_gone_when_peer_closes)
{
	loopfix_run(peer_close_s, NULL);
	ck_assert_int_eq(ngone, 1);
	ck_assert(!bad_arg);
}
END_TEST

/* control_shutdown() returns once every connection has left: each got
 * on_gone, each peer sees EOF, and the socket file is gone. */
static void
shutdown_s(void *arg)
{
	char b[256];
	bool eof;
	int fd[3];

	(void)arg;
	CO_EXPECT(start_control() == 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = client_connect();
		CO_EXPECT(fd[i] >= 0);
		CO_EXPECT(client_send(fd[i], "ping\n"));
	}
	CO_EXPECT(await_seen(3, 0));
	CO_EXPECT(control_connections() == 3);
	control_shutdown();
	CO_EXPECT(control_connections() == 0);
	CO_EXPECT(ngone == 3);
	CO_EXPECT(access(sock, F_OK) != 0);
	for (int i = 0; i < 3; i++) {
		client_read(fd[i], b, sizeof(b), 2, &eof);
		CO_EXPECT(strcmp(b, "re:ping\n") == 0);
		CO_EXPECT(eof);
		close(fd[i]);
	}
}

START_TEST(control_shutdown_waits_for_connections)
{
	loopfix_run(shutdown_s, NULL);
	ck_assert_int_eq(ngone, 3);
}
END_TEST

Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("socket");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, control_setup, control_teardown);
	tcase_add_test(tc, control_lines_whole_in_order);
	tcase_add_test(tc, control_pipelined_lines);
	tcase_add_test(tc, control_overlong_line_refused);
	tcase_add_test(tc, control_overlong_partial_refused);
	tcase_add_test(tc, control_on_gone_when_peer_closes);
	tcase_add_test(tc, control_shutdown_waits_for_connections);
	suite_add_tcase(s, tc);
	return s;
}
