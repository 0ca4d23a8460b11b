/*
 * control: the Unix socket — listener, one coroutine per connection,
 * newline framing, limits (line size, idle partial line, connection count),
 * peer credentials.  Requests are handed to commands; responses and
 * events come back through control_send().
 *
 * A connection's responses are written only after store_sync(), so a
 * response never reports an uncommitted change.  Lines already buffered are
 * all handled before that one sync: a pipelining client gets one commit
 * for a whole burst.
 */
#ifndef CONTROL_H_INCLUDED
#define CONTROL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h"
#include "events.h"

/* How responses are encoded: as events are (events.h). */
#define CONTROL_JSON_FLAGS EVENTS_WIRE_FLAGS

struct control_opts {
	const char *path;		/* socket path (borrowed) */
	int inherited_fd;		/* listening fd from systemd, or -1 */
	unsigned mode;			/* socket mode */
	const char *group;		/* socket group, or NULL */
	int64_t max_request_bytes;
	int max_connections;
	double request_timeout;
	bool user_mode;			/* jobd runs as a user: owner only */
};

struct conn {
	int fd;
	int64_t num;			/* for conn[N] names */
	uid_t uid;			/* peer */
	gid_t gid;
	pid_t pid;
	bool admin;			/* may change queues, stop, ... */
	struct buf in;
	struct buf out;
	struct coro *c;			/* the connection's coroutine */
	int refs;			/* the coroutine + deferred replies */
	bool closed;			/* no more output is wanted */
	bool eof;			/* peer sent EOF */
	struct events_sub sub;		/* for watch */
	bool watching;
	struct conn *next, *prev;
};

/* Opens the listening socket and starts accepting.  -1 with diag. */
int control_init(const struct control_opts *o);
/* Changes the limits (reload). */
void control_set_limits(int64_t max_request_bytes, int max_connections,
			double request_timeout);
/* Stops accepting and closes the listener (unlinks the socket unless it
 * was handed over).  Connections stay until control_shutdown(). */
void control_stop_listening(void);
/* Closes every connection after flushing what it can.  Yields. */
void control_shutdown(void);
/* Appends msg (borrowed) as one line to c's output and wakes its
 * coroutine.  Does nothing once c is closed.  Does not yield. */
void control_send(struct conn *c, const json_t *msg);
/* Appends line[0..n) — one or more whole lines, newline included — to
 * c's output, as control_send() does. */
void control_send_raw(struct conn *c, const char *line, size_t n);
/* Reference counting for deferred replies. */
void control_conn_ref(struct conn *c);
void control_conn_unref(struct conn *c);
/* Connections open now. */
int control_connections(void);
/* The admin group's gid (or -1), set by main from the config. */
void control_set_admin_gid(long gid);

#endif /* CONTROL_H_INCLUDED */
