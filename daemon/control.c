/*
 * control: listener and connections.  Owns every struct conn; a conn is
 * freed when its coroutine has left and no deferred reply holds it.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "safedir.h"
#include "store.h"
#include "users.h"
#include "xmem.h"

#define READ_CHUNK (64 * 1024)
/* Stop reading requests while this much output waits for the peer. */
#define OUT_HIGH (4 * 1024 * 1024)
/* A watcher that lets this much pile up is dropped. */
#define OUT_DROP (64 * 1024 * 1024)
/* Seconds control_shutdown() waits for the connections to leave. */
#define SHUTDOWN_WAIT 1.0
/* Seconds between checks whether a half-closed peer is gone entirely. */
#define PEER_CHECK 0.5
/* An output buffer bigger than this is freed once it is empty. */
#define OUT_KEEP (64 * 1024)

static struct control_opts opts;
static char *sock_path;
static int listen_fd = -1;
static bool inherited;
static struct coro *acceptor;
static struct conn *conns;
static int nconns;
static struct waitq conns_gone = WAITQ_INIT; /* notified at nconns 0 */
static int64_t next_num = 1;
static long admin_gid = -1;

void
control_set_admin_gid(long gid)
{
	admin_gid = gid;
}

int
control_connections(void)
{
	return nconns;
}

void
control_set_limits(int64_t max_request_bytes, int max_connections,
		   double request_timeout)
{
	opts.max_request_bytes = max_request_bytes;
	opts.max_connections = max_connections;
	opts.request_timeout = request_timeout;
}

/* Appends whole lines to c's output (held while a reply is streamed);
 * sync: they report state, so they go out after store_sync(). */
static void
send_lines(struct conn *c, const char *line, size_t n, bool sync)
{
	if (c->closed)
		return;
	struct buf *b = c->streaming ? &c->held : &c->out;
	size_t backlog = c->out.len + c->held.len;
	buf_append(b, line, n);
	if (sync)
		c->must_sync = true;
	/* Only output left unread counts: a streamed reply waits for its
	 * reader, and one line alone is always taken. */
	if (backlog > 0 && backlog + n > CONTROL_OUT_DROP) {
		log_warnx("conn[%lld]: peer does not read, dropping it",
			  (long long)c->num);
		c->closed = true;
	}
	if (c->c)
		coro_wakeup(c->c);
}

static void
send_msg(struct conn *c, const json_t *msg, bool sync)
{
	if (c->closed)
		return;
	char *line = json_dumps(msg, CONTROL_JSON_FLAGS);
	if (line == NULL)
		return;
	size_t n = strlen(line);
	line[n] = '\n';
	send_lines(c, line, n + 1, sync);
	free(line);
}

void
control_send(struct conn *c, const json_t *msg)
{
	send_msg(c, msg, true);
}

void
control_send_nosync(struct conn *c, const json_t *msg)
{
	send_msg(c, msg, false);
}

void
control_send_raw(struct conn *c, const char *line, size_t n)
{
	send_lines(c, line, n, true);
}

void
control_conn_ref(struct conn *c)
{
	c->refs++;
}

void
control_conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	if (c->watching)
		events_unsubscribe(&c->sub);
	free(c->sub.queue);
	free(c->sub.labels);
	buf_release(&c->in);
	buf_release(&c->out);
	buf_release(&c->held);
	free(c);
}

static void
send_error_raw(int fd, const char *code, const char *msg)
{
	json_t *o = json_pack("{s:n,s:b,s:{s:s,s:s}}", "id", "ok", 0, "error",
			      "code", code, "message", msg);
	char *line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line) {
		size_t n = strlen(line);
		line[n] = '\n';
		ssize_t w = send(fd, line, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		free(line);
	}
}

/* Writes what it can without blocking.  -1 when the peer is gone. */
static int
flush_out(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.data, c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf_consume(&c->out, (size_t)w);
			c->sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	/* A big reply's buffer is not kept once it is sent (while it is
	 * streamed, the buffer serves every piece). */
	if (c->out.cap > OUT_KEEP && !c->streaming)
		buf_release(&c->out);
	return 0;
}

int
control_stream_begin(struct conn *c)
{
	for (;;) {
		if (c->closed)
			return diag_set(E_IO, "conn[%lld]: closed",
					(long long)c->num);
		if (!c->streaming)
			break;
		if (waitq_wait(&c->stream_q, -1) != 0)
			return -1;
	}
	c->streaming = true;
	return 0;
}

void
control_stream_write(struct conn *c, const char *p, size_t n)
{
	if (c->closed)
		return;
	buf_append(&c->out, p, n);
	c->must_sync = true;
}

void
control_stream_end(struct conn *c, bool whole)
{
	if (!whole && !c->closed) {
		log_warnx("conn[%lld]: reply cut short, closing",
			  (long long)c->num);
		c->closed = true;
	}
	c->streaming = false;
	if (c->held.len > 0) {
		if (!c->closed) {
			buf_append(&c->out, c->held.data, c->held.len);
			c->must_sync = true;
		}
		buf_release(&c->held);
	}
	waitq_notify_all(&c->stream_q);
	if (c->c)
		coro_wakeup(c->c);
}

int
control_await_drain(struct conn *c)
{
	while (!c->closed && c->out.len > CONTROL_STREAM_HIGH) {
		if (c->must_sync) {
			/* What goes out reports only what is committed,
			 * as in conn_f. */
			c->must_sync = false;
			if (store_sync() != 0) {
				log_error("conn[%lld]: %s", (long long)c->num,
					  diag_msg());
				c->closed = true;
				break;
			}
			continue;
		}
		if (flush_out(c) != 0) {
			c->closed = true;
			break;
		}
		if (c->out.len <= CONTROL_STREAM_HIGH)
			break;
		/* Woken early too (the connection closing, an event): the
		 * loop looks again. */
		if (await_io(c->fd, EV_WRITE, -1, true, NULL) != 0)
			return -1;
	}
	if (c->closed) {
		if (c->c)
			coro_wakeup(c->c);
		return diag_set(E_IO, "conn[%lld]: closed", (long long)c->num);
	}
	return 0;
}

/* After a failed commit: every success answered in out[from..to) — the
 * lines handled since the last sync — reported work that was rolled back.
 * Each becomes an `internal` error with the same id and the cause; events
 * and error replies stay as they are. */
static void
answer_commit_failure(struct conn *c, size_t from, size_t to, const char *cause)
{
	struct buf b = BUF_INIT;
	size_t off = from;
	while (off < to) {
		char *start = c->out.data + off;
		char *nl = memchr(start, '\n', to - off);
		size_t len = nl ? (size_t)(nl - start) + 1 : to - off;
		json_t *o = json_loadb(start, len, 0, NULL);
		if (json_is_object(o) &&
		    json_is_true(json_object_get(o, "ok"))) {
			json_t *id = json_object_get(o, "id");
			json_t *e = json_pack(
				"{s:O,s:b,s:{s:s,s:s+}}", "id",
				id ? id : json_null(), "ok", 0, "error", "code",
				"internal", "message", "not recorded: ", cause);
			char *line = e ? json_dumps(e, CONTROL_JSON_FLAGS)
				       : NULL;
			if (line != NULL) {
				buf_puts(&b, line);
				buf_append(&b, "\n", 1);
			}
			free(line);
			json_decref(e);
		} else {
			buf_append(&b, start, len);
		}
		json_decref(o);
		off += len;
	}
	/* Splice: out[0..from) + b + out[to..len). */
	struct buf rest = BUF_INIT;
	buf_append(&rest, c->out.data + to, c->out.len - to);
	c->out.len = from;
	buf_append(&c->out, b.data ? b.data : "", b.len);
	buf_append(&c->out, rest.data ? rest.data : "", rest.len);
	buf_release(&rest);
	buf_release(&b);
}

/* Handles every complete line in c->in.  Returns true when any was. */
static bool
handle_lines(struct conn *c)
{
	bool any = false;
	size_t off = 0;
	while (!c->closed && c->out.len < OUT_HIGH && off < c->in.len) {
		char *start = c->in.data + off;
		char *nl = memchr(start, '\n', c->in.len - off);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - start);
		if ((int64_t)len > opts.max_request_bytes) {
			send_error_raw(c->fd, "too_large",
				       "request line too long");
			c->closed = true;
			break;
		}
		*nl = '\0';
		off += len + 1;
		/* Blank lines (white space only) are ignored. */
		if (strspn(start, " \t\r") == len)
			continue;
		opts.on_line(c, start, len, opts.arg);
		any = true;
	}
	buf_consume(&c->in, off);
	return any;
}

/* True when the peer closed both directions (not just its writing side):
 * a zero-length send then fails with EPIPE. */
static bool
peer_gone(int fd)
{
	ssize_t r = send(fd, "", 0, MSG_NOSIGNAL | MSG_DONTWAIT);
	return r < 0 &&
	       (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN);
}

/* Reads what the socket holds.  Returns -1 at EOF or error. */
static int
read_in(struct conn *c)
{
	size_t budget = 4 * READ_CHUNK;
	while (budget > 0) {
		buf_reserve(&c->in, READ_CHUNK);
		ssize_t r = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
		if (r > 0) {
			c->in.len += (size_t)r;
			c->in.data[c->in.len] = '\0';
			budget = budget > (size_t)r ? budget - (size_t)r : 0;
			if ((int64_t)c->in.len > opts.max_request_bytes + 1 &&
			    memchr(c->in.data, '\n', c->in.len) == NULL)
				return 0;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	return 0;
}

/* c's coroutine leaves: c is closed, unlisted and handed to on_gone; it
 * is freed once no deferred reply holds it. */
static void
conn_leave(struct conn *c)
{
	c->closed = true;
	if (c->watching) {
		events_unsubscribe(&c->sub);
		c->watching = false;
	}
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (--nconns == 0)
		waitq_notify_all(&conns_gone);
	c->c = NULL;
	if (opts.on_gone)
		opts.on_gone(c, opts.arg);
	control_conn_unref(c);
}

static void
conn_f(void *arg)
{
	struct conn *c = arg;
	double partial_since = -1;
	while (!c->closed) {
		size_t mark = c->out.len;
		uint64_t sent = c->sent;
		bool handled = handle_lines(c);
		size_t answered = c->out.len;
		if (!c->closed && c->in.len > 0 &&
		    (int64_t)c->in.len > opts.max_request_bytes &&
		    memchr(c->in.data, '\n', c->in.len) == NULL) {
			send_error_raw(c->fd, "too_large",
				       "request line too long");
			break;
		}
		/* Whatever goes out — responses, late replies, events —
		 * reports only what is committed and durable (a ping's
		 * answer reports nothing: it need not wait). */
		if ((handled || c->out.len > 0) && c->must_sync) {
			c->must_sync = false;
			if (store_sync() != 0) {
				/* The commit failed: what was answered as
				 * done is not recorded.  Say so, and go on
				 * serving.  (What a streamed reply sent
				 * already went out after a sync of its
				 * own.) */
				log_error("conn[%lld]: %s", (long long)c->num,
					  diag_msg());
				uint64_t gone = c->sent - sent;
				answer_commit_failure(
					c, mark > gone ? mark - gone : 0,
					answered > gone ? answered - gone : 0,
					diag_msg());
			}
		}
		if (flush_out(c) != 0)
			break;
		if (c->closed)
			break;
		if (c->eof && c->in.len == 0 && c->out.len == 0 &&
		    c->refs <= 1 && !c->watching)
			break;
		if (c->eof && c->in.len > 0 &&
		    memchr(c->in.data, '\n', c->in.len) == NULL) {
			/* A last line without newline: handle it too. */
			buf_append(&c->in, "\n", 1);
			continue;
		}
		if (c->in.len > 0 && partial_since < 0)
			partial_since = loop_now();
		if (c->in.len == 0)
			partial_since = -1;
		int events = 0;
		if (!c->eof && c->out.len < OUT_HIGH)
			events |= EV_READ;
		if (c->out.len > 0)
			events |= EV_WRITE;
		double timeout = -1;
		if (partial_since >= 0 && !c->eof) {
			timeout = partial_since + opts.request_timeout -
				  loop_now();
			if (timeout <= 0) {
				log_info("conn[%lld]: request timed out",
					 (long long)c->num);
				break;
			}
		}
		int revents = 0;
		if (events == 0) {
			/* After EOF nothing tells us when the peer closes its
			 * other side too: look now and then, so a peer that
			 * is gone frees its slot even while a reply it asked
			 * for is pending. */
			if (await_wakeup(c->eof ? PEER_CHECK : -1) != 0 &&
			    (diag_code() != E_TIMEOUT || peer_gone(c->fd)))
				break;
			continue;
		}
		if (await_io(c->fd, events, timeout, true, &revents) != 0) {
			if (diag_code() == E_TIMEOUT)
				continue; /* re-checked above */
			break;
		}
		if (revents & EV_READ) {
			size_t before = c->in.len;
			if (read_in(c) != 0) {
				c->eof = true;
				/* A peer that only shut its writing side still
				 * gets its late replies; one that is gone
				 * entirely frees its slot now, whatever it
				 * waited for. */
				if (peer_gone(c->fd))
					break;
			}
			if (before == 0 && c->in.len > 0)
				partial_since = loop_now();
		}
		/* A complete line resets the idle clock of the next. */
		if (c->in.len > 0 && memchr(c->in.data, '\n', c->in.len))
			partial_since = loop_now();
	}
	conn_leave(c);
}

static bool
is_admin(uid_t uid, int fd)
{
	if (uid == 0)
		return true;
	if (opts.user_mode)
		return uid == geteuid();
	if (admin_gid < 0)
		return false;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if ((long)groups[i] == admin_gid)
				return true;
	}
	return false;
}

static void
accept_one(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd);
		return;
	}
	if (opts.user_mode && cred.uid != 0 && cred.uid != geteuid()) {
		send_error_raw(fd, "permission_denied",
			       "this jobd serves its owner only");
		close(fd);
		return;
	}
	if (nconns >= opts.max_connections) {
		send_error_raw(fd, "busy", "too many connections");
		close(fd);
		return;
	}
	char name[48];
	snprintf(name, sizeof(name), "conn[%lld]", (long long)next_num);
	struct conn *c = xcalloc(1, sizeof(*c));
	c->c = coro_try_spawn(name, conn_f, c);
	if (c->c == NULL) {
		send_error_raw(fd, "busy", diag_msg());
		close(fd);
		free(c);
		return;
	}
	coro_detach(c->c);
	c->fd = fd;
	c->num = next_num++;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->admin = is_admin(cred.uid, fd);
	c->refs = 1;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	nconns++;
}

/* Out of descriptors, accept fails while connections wait: the acceptor
 * sleeps 10 ms, doubling to 1 s while it goes on, and says so once when
 * it starts and once when it ends. */
static void
acceptor_f(void *arg)
{
	(void)arg;
	double backoff = 0; /* s; > 0 while descriptors run out */
	for (;;) {
		if (await_io(listen_fd, EV_READ, -1, false, NULL) != 0)
			break;
		for (int i = 0; i < 64; i++) {
			int fd = accept4(listen_fd, NULL, NULL,
					 SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0 && errno == EINTR)
				continue;
			if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
				if (backoff == 0) {
					log_warn("control: accept (backing "
						 "off until descriptors are "
						 "free)");
					backoff = 0.01;
				} else if ((backoff *= 2) > 1.0) {
					backoff = 1.0;
				}
				if (await_sleep(backoff) != 0 &&
				    diag_code() == E_CANCELLED)
					return;
				break;
			}
			if (fd < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					log_warn("control: accept");
				break;
			}
			if (backoff > 0) {
				log_info("control: accepting connections "
					 "again");
				backoff = 0;
			}
			accept_one(fd);
		}
	}
}

static int
make_parent_dir(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	if (safedir_mkdir_p(dir, opts.user_mode ? 0700 : 0755) != 0) {
		diag_set(E_IO, "control: cannot create %s: %s", dir,
			 strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

static int
open_listener(void)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(opts.path) >= sizeof(sa.sun_path))
		return diag_set(E_INVAL, "control: socket path too long: %s",
				opts.path);
	strcpy(sa.sun_path, opts.path);
	if (make_parent_dir(opts.path) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return diag_set(E_IO, "control: socket: %s", strerror(errno));
	/* A socket file left by a dead jobd is removed; a live one is not
	 * stolen. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			return diag_set(E_IO,
					"control: another jobd listens on %s",
					opts.path);
		}
		close(probe);
	}
	unlink(opts.path);
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		diag_set(E_IO, "control: cannot bind %s: %s", opts.path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	/* Listen before the socket is opened up, so that whoever sees the
	 * file can connect. */
	if (listen(fd, 512) != 0) {
		diag_set(E_IO, "control: listen: %s", strerror(errno));
		close(fd);
		unlink(opts.path);
		return -1;
	}
	if (!opts.user_mode && opts.group && *opts.group) {
		gid_t gid;
		if (users_gid_by_name(opts.group, &gid) != 0)
			log_warnx("control: group %s does not exist; the "
				  "socket keeps group %u",
				  opts.group, (unsigned)getegid());
		else if (chown(opts.path, (uid_t)-1, gid) != 0)
			log_warn("control: chown %s", opts.path);
	}
	if (chmod(opts.path, opts.user_mode ? 0600 : opts.mode) != 0)
		log_warn("control: chmod %s", opts.path);
	listen_fd = fd;
	return 0;
}

int
control_init(const struct control_opts *o)
{
	opts = *o;
	sock_path = xstrdup(o->path ? o->path : "");
	opts.path = sock_path;
	if (o->inherited_fd >= 0) {
		listen_fd = o->inherited_fd;
		inherited = true;
		fcntl(listen_fd, F_SETFL,
		      fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	} else if (open_listener() != 0) {
		return -1;
	}
	acceptor = coro_spawn("control.accept", acceptor_f, NULL);
	return 0;
}

void
control_stop_listening(void)
{
	if (acceptor) {
		coro_cancel(acceptor);
		coro_detach(acceptor);
		acceptor = NULL;
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
		if (!inherited && sock_path && *sock_path)
			unlink(sock_path);
	}
}

void
control_shutdown(void)
{
	control_stop_listening();
	for (struct conn *c = conns; c; c = c->next) {
		flush_out(c);
		c->closed = true;
		if (c->c)
			coro_wakeup(c->c);
	}
	/* Let the connection coroutines leave. */
	double deadline = loop_now() + SHUTDOWN_WAIT;
	while (conns != NULL) {
		double left = deadline - loop_now();
		if (left <= 0 || waitq_wait(&conns_gone, left) != 0)
			break;
	}
	free(sock_path);
	sock_path = NULL;
}
