/*
 * sdnotify: service notifications, the watchdog interval and socket
 * activation, implemented from the protocol's documentation.  It owns a
 * copy of the notification address and nothing else that lives across
 * calls: each send opens, uses and closes its own datagram socket, so no fd
 * leaks into forks.  It must not block, log errors it returns to its caller,
 * or depend on the loop.
 */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "xmem.h"

/*
 * The address read from $NOTIFY_SOCKET.  notify_len is 0 while notification
 * is disabled; otherwise it is the socklen_t to pass to sendto().
 */
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static double watchdog_sec; /* s; 0 = off */

/*
 * Parses a whole decimal string as an unsigned number no larger than max.
 * Returns false for anything else (empty, sign, junk, overflow).
 */
static bool
parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * True when the environment variable name holds our own pid, the way
 * $WATCHDOG_PID and $LISTEN_PID name the process a value is meant for.
 */
static bool
env_is_our_pid(const char *name)
{
	unsigned long long pid;
	if (!parse_ulong(getenv(name), INT_MAX, &pid))
		return false;
	return (pid_t)pid == getpid();
}

/*
 * Fills notify_addr and notify_len from value.  Returns false, leaving
 * notification disabled, for a value jobd cannot use: a relative path, a
 * vsock address, or a name too long for sun_path.
 */
static bool
set_notify_addr(const char *value)
{
	size_t n = strlen(value);
	size_t base = offsetof(struct sockaddr_un, sun_path);

	if (value[0] != '/' && value[0] != '@')
		return false;
	if (n < 2 || n > sizeof(notify_addr.sun_path) - (value[0] == '/'))
		return false;
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, value, n);
	if (value[0] == '@') {
		/* An abstract name: a leading NUL and no terminator. */
		notify_addr.sun_path[0] = '\0';
		notify_len = (socklen_t)(base + n);
	} else {
		notify_len = (socklen_t)(base + n + 1);
	}
	return true;
}

void
sdnotify_init(void)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	unsigned long long usec;

	notify_len = 0;
	watchdog_sec = 0;
	if (sock != NULL && !set_notify_addr(sock))
		log_warnx("sdnotify: unusable NOTIFY_SOCKET %s, not notifying",
			  sock);
	if (notify_len > 0 &&
	    parse_ulong(getenv("WATCHDOG_USEC"), ULLONG_MAX, &usec) &&
	    usec > 0 &&
	    (getenv("WATCHDOG_PID") == NULL || env_is_our_pid("WATCHDOG_PID")))
		watchdog_sec = (double)usec / 1e6;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

bool
sdnotify_enabled(void)
{
	return notify_len > 0;
}

int
sdnotify_send(const char *fmt, ...)
{
	char small[512];
	char *msg = small;
	va_list ap;
	int rc = -1;

	if (notify_len == 0)
		return 0;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return diag_set(E_IO, "sdnotify: cannot format message");
	if ((size_t)n >= sizeof(small)) {
		msg = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		diag_set(E_IO, "sdnotify: socket: %s", strerror(errno));
		goto out;
	}
	ssize_t w;
	do {
		w = sendto(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&notify_addr, notify_len);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		diag_set(E_IO, "sdnotify: send: %s", strerror(errno));
	else if ((size_t)w != (size_t)n)
		diag_set(E_IO, "sdnotify: short send");
	else
		rc = 0;
	close(fd);
out:
	if (msg != small)
		free(msg);
	return rc;
}

double
sdnotify_watchdog_interval(void)
{
	return watchdog_sec;
}

/* The int value of socket option opt on fd, or -1 when it cannot be read. */
static int
sockopt_int(int fd, int opt)
{
	int v;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) < 0)
		return -1;
	return v;
}

/*
 * Returns 0 when fd is a listening AF_UNIX stream socket, or -1 with diag
 * set (E_INVAL) saying what it is not.
 */
static int
check_listen_socket(int fd)
{
	struct stat st;
	const char *bad = NULL;

	if (fstat(fd, &st) < 0)
		return diag_set(E_INVAL, "sdnotify: passed fd %d: %s", fd,
				strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		bad = "not a socket";
	else if (sockopt_int(fd, SO_DOMAIN) != AF_UNIX)
		bad = "not an AF_UNIX socket";
	else if (sockopt_int(fd, SO_TYPE) != SOCK_STREAM)
		bad = "not a stream socket";
	else if (sockopt_int(fd, SO_ACCEPTCONN) != 1)
		bad = "not listening";
	if (bad != NULL)
		return diag_set(E_INVAL, "sdnotify: passed fd %d is %s", fd,
				bad);
	return 0;
}

int
sdnotify_listen_fd(void)
{
	unsigned long long n = 0;
	bool ours = env_is_our_pid("LISTEN_PID");
	bool have = parse_ulong(getenv("LISTEN_FDS"),
				INT_MAX - SDNOTIFY_LISTEN_FDS_START, &n);
	int fd = SDNOTIFY_LISTEN_FDS_START;

	/* Whatever they said, they must not reach a child. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");

	if (!ours || !have || n == 0)
		return diag_set(E_NOTFOUND, "sdnotify: no socket passed");
	for (int i = 0; i < (int)n; i++) {
		int f = SDNOTIFY_LISTEN_FDS_START + i;
		int flags = fcntl(f, F_GETFD);
		if (flags < 0)
			return diag_set(E_INVAL, "sdnotify: passed fd %d: %s",
					f, strerror(errno));
		if (!(flags & FD_CLOEXEC) &&
		    fcntl(f, F_SETFD, flags | FD_CLOEXEC) < 0)
			return diag_set(E_INVAL, "sdnotify: passed fd %d: %s",
					f, strerror(errno));
	}
	if (check_listen_socket(fd) < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return diag_set(E_INVAL, "sdnotify: passed fd %d: %s", fd,
				strerror(errno));
	return fd;
}
