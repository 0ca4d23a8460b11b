/*
 * control: the Unix socket — listener, one coroutine per connection,
 * newline framing, limits (line size, idle partial line, connection count),
 * peer credentials.  Each request line is handed to the on_line callback
 * its owner gives in control_opts (main wires commands there), so control
 * knows nothing of what a request means; responses and events come back
 * through control_send().
 *
 * A connection's responses are written only after store_sync(), so a
 * response never reports an uncommitted change.  Lines already buffered are
 * all handled before that one sync: a pipelining client gets one commit
 * for a whole burst.
 *
 * A big reply is streamed: written into the output in pieces while its
 * producer waits for the peer to take them (control_await_drain), so it
 * needs no memory of its size and a peer that reads is never dropped.
 * What piles up unread beyond CONTROL_OUT_DROP (events a watcher does not
 * read) drops the peer.
 */
#ifndef CONTROL_H_INCLUDED
#define CONTROL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "await.h"
#include "buf.h"
#include "events.h"

/* How responses are encoded: as events are (events.h). */
#define CONTROL_JSON_FLAGS EVENTS_WIRE_FLAGS

/* A streamed reply's producer waits while more than this waits for the
 * peer (bytes). */
#define CONTROL_STREAM_HIGH (256 * 1024)
/* A peer that leaves this much output unread is dropped (bytes). */
#define CONTROL_OUT_DROP (64 * 1024 * 1024)

struct conn;

/* Handles one request line of len bytes (borrowed, NUL-terminated, left
 * untouched until the call returns; may hold NUL bytes) from c (borrowed;
 * a callback that answers later takes a reference, control_conn_ref).
 * Runs in c's coroutine and may yield; c's later lines wait meanwhile. */
typedef void (*control_line_fn)(struct conn *c, const char *line, size_t len,
				void *arg);
/* c's coroutine has left (the peer is gone or jobd shuts down): stop what
 * would answer it later.  c stays valid for the call and for as long as
 * references to it are held.  Must not yield. */
typedef void (*control_gone_fn)(struct conn *c, void *arg);

struct control_opts {
	const char *path;  /* socket path (borrowed) */
	int inherited_fd;  /* listening fd from systemd, or -1 */
	unsigned mode;	   /* socket mode */
	const char *group; /* socket group, or NULL */
	int64_t max_request_bytes;
	int max_connections;
	double request_timeout;
	bool user_mode;		 /* jobd runs as a user: owner only */
	control_line_fn on_line; /* each request line */
	control_gone_fn on_gone; /* a connection left, or NULL */
	void *arg;		 /* passed to both (borrowed) */
};

struct conn {
	int fd;
	int64_t num; /* for conn[N] names */
	uid_t uid;   /* peer */
	gid_t gid;
	pid_t pid;
	bool admin; /* may change queues, stop, ... */
	struct buf in;
	struct buf out;
	uint64_t sent;	       /* bytes of out written so far */
	bool must_sync;	       /* out reports state: sync
					 * before writing it */
	bool streaming;	       /* a reply streams into out */
	struct buf held;       /* lines sent meanwhile: they follow
					 * the streamed one */
	struct waitq stream_q; /* streams waiting their turn */
	struct coro *c;	       /* the connection's coroutine */
	int refs;	       /* the coroutine + deferred replies */
	bool closed;	       /* no more output is wanted */
	bool eof;	       /* peer sent EOF */
	struct events_sub sub; /* for watch */
	bool watching;
	struct conn *next, *prev;
};

/* Opens the listening socket and starts accepting; o (borrowed) is
 * copied, its path too; o->on_line is required.  -1 with diag. */
int control_init(const struct control_opts *o);
/* Changes the limits (reload). */
void control_set_limits(int64_t max_request_bytes, int max_connections,
			double request_timeout);
/* Stops accepting and closes the listener (unlinks the socket unless it
 * was handed over).  Connections stay until control_shutdown(). */
void control_stop_listening(void);
/* Closes every connection after flushing what it can, and waits up to a
 * second for their coroutines to leave.  Yields. */
void control_shutdown(void);
/* Appends msg (borrowed) as one line to c's output and wakes its
 * coroutine.  Does nothing once c is closed.  Does not yield. */
void control_send(struct conn *c, const json_t *msg);
/* Appends line[0..n) — one or more whole lines, newline included — to
 * c's output, as control_send() does.  While a reply is streamed to c,
 * the line is held and follows that reply.  A peer that leaves more than
 * CONTROL_OUT_DROP unread is dropped. */
void control_send_raw(struct conn *c, const char *line, size_t n);
/* As control_send(), for a reply that reports nothing stored (ping): it
 * does not wait for the group commit. */
void control_send_nosync(struct conn *c, const json_t *msg);

/* Streaming one big reply line.  control_stream_begin() waits for any
 * other stream to c to end (lines sent meanwhile are held, then follow
 * the stream); control_stream_write() appends a piece (no yield); the
 * producer calls control_await_drain() between pieces, and ends with
 * control_stream_end() on every path after a successful begin: whole when
 * its newline is written, else the connection is closed (a torn line
 * must not be followed by another).  begin: 0, or -1 (E_IO: c is closed;
 * E_CANCELLED).  Yields; write and end do not. */
int control_stream_begin(struct conn *c);
void control_stream_write(struct conn *c, const char *p, size_t n);
void control_stream_end(struct conn *c, bool whole);
/* Returns at once while at most CONTROL_STREAM_HIGH bytes wait for c's
 * peer; otherwise writes them itself (after store_sync(), as the
 * connection would) and waits until the peer has taken enough.  0, or -1
 * when c is closed or gone (E_IO) or the caller was cancelled
 * (E_CANCELLED).  Yields. */
int control_await_drain(struct conn *c);
/* Reference counting for deferred replies. */
void control_conn_ref(struct conn *c);
void control_conn_unref(struct conn *c);
/* Connections open now. */
int control_connections(void);
/* The admin group's gid (or -1), set by main from the config. */
void control_set_admin_gid(long gid);

#endif /* CONTROL_H_INCLUDED */
