/*
 * sdnotify: the parts of the systemd service protocol jobd speaks, written
 * against the documented wire format and without libsystemd.  It owns the
 * notification socket address, the watchdog interval and the hand-over of
 * socket-activated listen fds.  It never blocks, never logs an error it
 * returns, and knows nothing about the loop: main.c decides when to send.
 *
 * The process is single-threaded, so reading and unsetting environment
 * variables here is safe.
 */
#ifndef SDNOTIFY_H_INCLUDED
#define SDNOTIFY_H_INCLUDED

#include <stdbool.h>

/* First fd systemd hands over with socket activation. */
#define SDNOTIFY_LISTEN_FDS_START 3

/*
 * Reads $NOTIFY_SOCKET (a path, or an abstract name written with a leading
 * '@') and $WATCHDOG_USEC / $WATCHDOG_PID once, remembers them, and unsets
 * all three so that jobs and generators do not inherit them.  Every other
 * call is a no-op when $NOTIFY_SOCKET is unset or unusable (a warning is
 * logged for a value that is set but unusable).  Call it once at start-up,
 * before the first fork; a later call reads the environment again.
 */
void sdnotify_init(void);

/* True when sdnotify_init() found a usable $NOTIFY_SOCKET. */
bool sdnotify_enabled(void);

/*
 * Sends one datagram built from fmt, such as "READY=1" or
 * "STATUS=3 running, 120 queued" (several assignments may be joined with
 * '\n').  Never blocks (MSG_DONTWAIT): a full receive queue is an error, not
 * a wait.  Returns 0, also when notification is disabled, or -1 with diag
 * set (E_IO).  Does not yield.
 */
int sdnotify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The watchdog interval in seconds taken from $WATCHDOG_USEC by
 * sdnotify_init(), or 0 when the watchdog is off: the variable is unset or
 * not a positive integer, $WATCHDOG_PID is set to another pid, or
 * notification is disabled.  Callers send "WATCHDOG=1" at half this
 * interval, as systemd recommends.
 */
double sdnotify_watchdog_interval(void);

/*
 * Takes over a listen socket passed by systemd socket activation
 * ($LISTEN_PID equal to getpid(), $LISTEN_FDS >= 1).  Checks that the first
 * fd (SDNOTIFY_LISTEN_FDS_START) is a listening AF_UNIX stream socket, sets
 * FD_CLOEXEC on every passed fd and O_NONBLOCK on the returned one, and
 * unsets $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES in every case so that
 * children do not inherit them.  Fds after the first are left open (close
 * on exec) and unused.
 *
 * Returns the fd, which the caller owns (and must not unlink the socket's
 * path at exit: systemd owns it); or -1 with diag set: E_NOTFOUND when no
 * socket was handed over (start a listener of your own), E_INVAL when the
 * passed fd is not usable (a unit misconfiguration).
 */
int sdnotify_listen_fd(void);

#endif /* SDNOTIFY_H_INCLUDED */
