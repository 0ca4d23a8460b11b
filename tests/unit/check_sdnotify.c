/*
 * Tests for sdnotify: datagrams reach a socket named by $NOTIFY_SOCKET
 * (a path or an abstract name), the watchdog interval follows
 * $WATCHDOG_USEC/$WATCHDOG_PID, and socket activation hands over fd 3 only
 * when it is a listening AF_UNIX stream socket.  Tests that put a socket on
 * fd 3 do it in a child they fork themselves, so they never disturb the
 * runner's own fds even with CK_FORK=no.
 */
#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "sdnotify.h"

/* Per-test receiving socket and the temp dir holding its path. */
static char tmpdir[64];
static char sock_path[128];
static int rx_fd = -1;

static void
clear_env(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static void
setup(void)
{
	clear_env();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_sdnotify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(sock_path, sizeof(sock_path), "%s/notify", tmpdir);
	rx_fd = -1;
}

static void
teardown(void)
{
	if (rx_fd >= 0)
		close(rx_fd);
	unlink(sock_path);
	rmdir(tmpdir);
	clear_env();
	sdnotify_init();
}

/* Binds the receiving datagram socket at name (leading '@': abstract). */
static void
bind_rx(const char *name)
{
	struct sockaddr_un sa;
	size_t n = strlen(name);
	socklen_t len;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(n, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@') {
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		len = (socklen_t)sizeof(sa);
	}
	rx_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rx_fd, 0);
	ck_assert_int_eq(bind(rx_fd, (struct sockaddr *)&sa, len), 0);
}

/* Asserts that the next datagram on rx_fd is exactly want. */
static void
expect_datagram(const char *want)
{
	char got[4096];
	ssize_t n = recv(rx_fd, got, sizeof(got) - 1, MSG_DONTWAIT);
	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	got[n] = '\0';
	ck_assert_uint_eq((size_t)n, strlen(want));
	ck_assert_str_eq(got, want);
}

static void
expect_no_datagram(void)
{
	char got[16];
	ck_assert_int_lt(recv(rx_fd, got, sizeof(got), MSG_DONTWAIT), 0);
	ck_assert_int_eq(errno, EAGAIN);
}

START_TEST(sdnotify_disabled_without_env)
{
	sdnotify_init();
	ck_assert(!sdnotify_enabled());
	ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	ck_assert(sdnotify_watchdog_interval() == 0);
}
END_TEST

START_TEST(sdnotify_send_to_path)
{
	bind_rx(sock_path);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	sdnotify_init();
	ck_assert(sdnotify_enabled());
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));

	ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	expect_datagram("READY=1");
	ck_assert_int_eq(sdnotify_send("STATUS=%d running, %d queued", 3, 120),
			 0);
	expect_datagram("STATUS=3 running, 120 queued");
	ck_assert_int_eq(sdnotify_send("STOPPING=1\nSTATUS=%s", "draining"), 0);
	expect_datagram("STOPPING=1\nSTATUS=draining");
	expect_no_datagram();
}
END_TEST

START_TEST(sdnotify_send_to_abstract)
{
	char name[108];
	snprintf(name, sizeof(name), "@jobd-check-sdnotify-%ld-%ld",
		 (long)getpid(), (long)random());
	bind_rx(name);
	setenv("NOTIFY_SOCKET", name, 1);
	sdnotify_init();
	ck_assert(sdnotify_enabled());
	ck_assert_int_eq(sdnotify_send("WATCHDOG=1"), 0);
	expect_datagram("WATCHDOG=1");
}
END_TEST

START_TEST(sdnotify_send_long_message)
{
	char want[2001];
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	memcpy(want, "STATUS=", 7);
	bind_rx(sock_path);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	sdnotify_init();
	ck_assert_int_eq(sdnotify_send("%s", want), 0);
	expect_datagram(want);
}
END_TEST

START_TEST(sdnotify_send_fails_without_listener)
{
	setenv("NOTIFY_SOCKET", sock_path, 1); /* nothing bound there */
	sdnotify_init();
	ck_assert(sdnotify_enabled());
	diag_clear();
	ck_assert_int_eq(sdnotify_send("READY=1"), -1);
	ck_assert_int_eq(diag_code(), E_IO);
}
END_TEST

START_TEST(sdnotify_unusable_socket_disables)
{
	static const char *const bad[] = {"relative/path", "vsock:2:1234", "@",
					  ""};
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';

	/* Each value logs a warning; keep the test output quiet. */
	enum log_level level = log_get_level();
	log_set_level(LOG_LEVEL_ERROR);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		sdnotify_init();
		ck_assert_msg(!sdnotify_enabled(), "enabled by '%s'", bad[i]);
		ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	}
	setenv("NOTIFY_SOCKET", longpath, 1);
	sdnotify_init();
	log_set_level(level);
	ck_assert(!sdnotify_enabled());
}
END_TEST

START_TEST(sdnotify_watchdog)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	bind_rx(sock_path);

	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	sdnotify_init();
	ck_assert(sdnotify_watchdog_interval() == 30.0);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));

	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "500000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	sdnotify_init();
	ck_assert(sdnotify_watchdog_interval() == 0.5);
	ck_assert_ptr_null(getenv("WATCHDOG_PID"));
}
END_TEST

START_TEST(sdnotify_watchdog_off)
{
	char other[32];
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	static const char *const bad[] = {"0", "-5", "12abc", "", "1e6"};

	bind_rx(sock_path);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	setenv("WATCHDOG_PID", other, 1);
	sdnotify_init();
	ck_assert(sdnotify_enabled());
	ck_assert(sdnotify_watchdog_interval() == 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", sock_path, 1);
		setenv("WATCHDOG_USEC", bad[i], 1);
		sdnotify_init();
		ck_assert_msg(sdnotify_watchdog_interval() == 0,
			      "watchdog on for '%s'", bad[i]);
	}

	/* Without a notification socket a watchdog could not be fed. */
	setenv("WATCHDOG_USEC", "30000000", 1);
	sdnotify_init();
	ck_assert(sdnotify_watchdog_interval() == 0);
}
END_TEST

/* What the child of run_listen_child() puts on fd 3 before the call. */
enum fd3_kind {
	FD3_LISTENING,	/* AF_UNIX stream socket after listen() */
	FD3_UNLISTENED, /* AF_UNIX stream socket, never listen()ed */
	FD3_DGRAM,	/* AF_UNIX datagram socket */
	FD3_PIPE,	/* not a socket at all */
};

/*
 * Child exit statuses: 0 means every check passed, anything else names the
 * first one that failed.
 */
enum {
	CHILD_OK = 0,
	CHILD_SETUP,
	CHILD_WRONG_FD,
	CHILD_WRONG_DIAG,
	CHILD_CLOEXEC,
	CHILD_BLOCKING,
	CHILD_ENV_LEFT,
};

static int
make_fd3(enum fd3_kind kind, const char *path)
{
	int fd;
	int p[2];
	struct sockaddr_un sa;

	if (kind == FD3_PIPE) {
		if (pipe(p) < 0)
			return -1;
		fd = p[0];
	} else {
		fd = socket(AF_UNIX,
			    kind == FD3_DGRAM ? SOCK_DGRAM : SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, path, strlen(path) + 1);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -1;
		if (kind == FD3_LISTENING && listen(fd, 8) < 0)
			return -1;
	}
	if (fd != SDNOTIFY_LISTEN_FDS_START) {
		if (dup2(fd, SDNOTIFY_LISTEN_FDS_START) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

/*
 * Forks a child that puts a kind socket on fd 3, sets $LISTEN_PID to its
 * own pid plus pid_offset and $LISTEN_FDS to nfds (NULL: unset), calls
 * sdnotify_listen_fd() and checks the result against want_fd and
 * want_code.  Returns the child's exit status (CHILD_OK on success).
 */
static int
run_listen_child(enum fd3_kind kind, int pid_offset, const char *nfds,
		 int want_fd, int want_code)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[32];
		if (make_fd3(kind, sock_path) < 0)
			_exit(CHILD_SETUP);
		snprintf(buf, sizeof(buf), "%ld", (long)getpid() + pid_offset);
		setenv("LISTEN_PID", buf, 1);
		if (nfds != NULL)
			setenv("LISTEN_FDS", nfds, 1);
		setenv("LISTEN_FDNAMES", "jobd.socket", 1);
		diag_clear();
		int fd = sdnotify_listen_fd();
		if (fd != want_fd)
			_exit(CHILD_WRONG_FD);
		if (fd < 0 && diag_code() != want_code)
			_exit(CHILD_WRONG_DIAG);
		/* Passed fds turn close-on-exec; others are not touched. */
		bool cloexec = fcntl(SDNOTIFY_LISTEN_FDS_START, F_GETFD) &
			       FD_CLOEXEC;
		if (cloexec != (want_code != E_NOTFOUND))
			_exit(CHILD_CLOEXEC);
		if (fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK))
			_exit(CHILD_BLOCKING);
		if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") ||
		    getenv("LISTEN_FDNAMES"))
			_exit(CHILD_ENV_LEFT);
		_exit(CHILD_OK);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	unlink(sock_path);
	ck_assert_msg(WIFEXITED(status), "child died: status %d", status);
	return WEXITSTATUS(status);
}

START_TEST(sdnotify_listen_fd_taken)
{
	ck_assert_int_eq(run_listen_child(FD3_LISTENING, 0, "1",
					  SDNOTIFY_LISTEN_FDS_START, 0),
			 CHILD_OK);
}
END_TEST

START_TEST(sdnotify_listen_fd_other_pid)
{
	ck_assert_int_eq(
		run_listen_child(FD3_LISTENING, 1, "1", -1, E_NOTFOUND),
		CHILD_OK);
}
END_TEST

START_TEST(sdnotify_listen_fd_none)
{
	ck_assert_int_eq(
		run_listen_child(FD3_LISTENING, 0, NULL, -1, E_NOTFOUND),
		CHILD_OK);
	ck_assert_int_eq(
		run_listen_child(FD3_LISTENING, 0, "0", -1, E_NOTFOUND),
		CHILD_OK);
	ck_assert_int_eq(
		run_listen_child(FD3_LISTENING, 0, "x1", -1, E_NOTFOUND),
		CHILD_OK);
}
END_TEST

START_TEST(sdnotify_listen_fd_rejects_unusable)
{
	ck_assert_int_eq(run_listen_child(FD3_UNLISTENED, 0, "1", -1, E_INVAL),
			 CHILD_OK);
	ck_assert_int_eq(run_listen_child(FD3_DGRAM, 0, "1", -1, E_INVAL),
			 CHILD_OK);
	ck_assert_int_eq(run_listen_child(FD3_PIPE, 0, "1", -1, E_INVAL),
			 CHILD_OK);
}
END_TEST

Suite *sdnotify_suite(void);

Suite *
sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc;

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, sdnotify_disabled_without_env);
	tcase_add_test(tc, sdnotify_send_to_path);
	tcase_add_test(tc, sdnotify_send_to_abstract);
	tcase_add_test(tc, sdnotify_send_long_message);
	tcase_add_test(tc, sdnotify_send_fails_without_listener);
	tcase_add_test(tc, sdnotify_unusable_socket_disables);
	suite_add_tcase(s, tc);

	tc = tcase_create("watchdog");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, sdnotify_watchdog);
	tcase_add_test(tc, sdnotify_watchdog_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, sdnotify_listen_fd_taken);
	tcase_add_test(tc, sdnotify_listen_fd_other_pid);
	tcase_add_test(tc, sdnotify_listen_fd_none);
	tcase_add_test(tc, sdnotify_listen_fd_rejects_unusable);
	suite_add_tcase(s, tc);
	return s;
}
