/*
 * The client library: one blocking Unix-socket connection to jobd, framing
 * newline-delimited JSON both ways, matching responses to requests by id and
 * keeping what arrives out of turn (events, other responses) in one FIFO.
 * It owns the socket, a read buffer and that FIFO; it knows the protocol's
 * shapes (SPEC 5) but nothing of the daemon's insides, and never includes
 * anything from daemon/.  Allocation failures are reported (ENOMEM), never
 * fatal: this is a library.
 */
#include "jobd/client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The read buffer grows by at least this much, so one read(2) can take a
 * good bite of a long line. */
#define READ_CHUNK 65536

/* A message read from the socket and not delivered yet. */
struct msg {
	struct msg *next;
	json_t *obj;   /* owned */
	bool is_event; /* has "event" */
};

struct jobd_client {
	int fd;			 /* owned socket */
	char *path;		 /* owned */
	int64_t next_id;	 /* request id counter, from 1 */
	char *buf;		 /* owned read buffer */
	size_t start;		 /* first byte not consumed */
	size_t len;		 /* bytes held, from buf[0] */
	size_t scan;		 /* bytes before this were searched for '\n' */
	size_t cap;		 /* bytes allocated */
	struct msg *head, *tail; /* owned FIFO of kept messages */
	size_t nkept;		 /* messages in the FIFO */
	int err_code;		 /* JOBD_E_NONE, enum jobd_error or -1 */
	char *err_name;		 /* owned, NULL when err_code is none */
	char *err_msg;		 /* owned, NULL when err_code is none */
};

/* Milliseconds on the monotonic clock. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms: -1 stays "never". */
static int64_t
deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return mono_ms() + timeout_ms;
}

static void
clear_error(struct jobd_client *c)
{
	free(c->err_name);
	free(c->err_msg);
	c->err_name = NULL;
	c->err_msg = NULL;
	c->err_code = JOBD_E_NONE;
}

/* Records an error; name and msg are copied.  errno is preserved. */
static void
set_error(struct jobd_client *c, int code, const char *name, const char *msg)
{
	int saved = errno;

	clear_error(c);
	c->err_code = code;
	c->err_name = strdup(name != NULL ? name : "internal");
	c->err_msg = strdup(msg != NULL ? msg : "");
	errno = saved;
}

/* Records a transport failure from errno, with what was being done. */
static void
set_transport_error(struct jobd_client *c, const char *what)
{
	char msg[256];

	switch (errno) {
	case ECONNRESET:
	case EPIPE:
		snprintf(msg, sizeof(msg), "connection closed by jobd");
		break;
	case EPROTO:
		snprintf(msg, sizeof(msg), "malformed line from jobd");
		break;
	case ETIMEDOUT:
		snprintf(msg, sizeof(msg), "timed out %s", what);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
		break;
	}
	set_error(c, -1, "transport", msg);
}

char *
jobd_client_user_socket_path(void)
{
	const char *env = getenv("XDG_RUNTIME_DIR");
	char *path = NULL;

	if (env != NULL && env[0] != '\0') {
		if (asprintf(&path, "%s/jobd.sock", env) < 0)
			path = NULL;
	} else {
		if (asprintf(&path, "/tmp/jobd-%u/jobd.sock",
			     (unsigned)getuid()) < 0)
			path = NULL;
	}
	if (path == NULL)
		errno = ENOMEM;
	return path;
}

char *
jobd_client_socket_path(const char *explicit_path)
{
	const char *env;
	char *path = NULL;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		return strdup(explicit_path);
	env = getenv("JOBD_SOCKET");
	if (env != NULL && env[0] != '\0')
		return strdup(env);
	path = jobd_client_user_socket_path();
	if (path == NULL)
		return NULL;
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return strdup(JOBD_CLIENT_SYSTEM_SOCKET);
}

/* Why the last jobd_client_connect of this thread failed. */
static _Thread_local char connect_err[512];

const char *
jobd_client_connect_error(void)
{
	return connect_err;
}

/* "uid N (name)", or "uid N" when the name is unknown, into buf. */
static void
describe_uid(uid_t uid, char *buf, size_t n)
{
	struct passwd pw, *res = NULL;
	char pbuf[4096];

	if (getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &res) == 0 && res != NULL)
		snprintf(buf, n, "uid %u (%s)", (unsigned)uid, res->pw_name);
	else
		snprintf(buf, n, "uid %u", (unsigned)uid);
}

/* True for the uids we trust to serve us: our own, or root. */
static bool
trusted_uid(uid_t uid)
{
	return uid == 0 || uid == getuid() || uid == geteuid();
}

/* Whoever may write to the socket's directory can swap the socket for
 * their own: the directory must be ours or root's and writable by nobody
 * else, unless it is sticky like /tmp (then only the socket's owner can
 * remove it, and the peer check below catches a socket someone else
 * made).  Returns 0, or -1 with errno EPERM (or lstat's) and connect_err
 * set. */
static int
check_dir(const char *path)
{
	char *dir = strdup(path), *slash, who[320];
	struct stat st;
	int rc = -1;

	if (dir == NULL) {
		errno = ENOMEM;
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == dir) {
		dir[1] = '\0';
	} else {
		*slash = '\0';
	}
	if (lstat(dir, &st) != 0) {
		/* connect(2) reports what is wrong with the path. */
		rc = 0;
	} else if (S_ISLNK(st.st_mode)) {
		snprintf(connect_err, sizeof(connect_err),
			 "refusing it: its directory %s is a symbolic link",
			 dir);
	} else if (!S_ISDIR(st.st_mode)) {
		rc = 0;
	} else if (!trusted_uid(st.st_uid)) {
		describe_uid(st.st_uid, who, sizeof(who));
		snprintf(connect_err, sizeof(connect_err),
			 "refusing it: its directory %s is owned by %s, not "
			 "by you or root",
			 dir, who);
	} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		   (st.st_mode & S_ISVTX) == 0) {
		snprintf(connect_err, sizeof(connect_err),
			 "refusing it: its directory %s is writable by group "
			 "or others (mode %04o)",
			 dir, (unsigned)(st.st_mode & 07777));
	} else {
		rc = 0;
	}
	free(dir);
	if (rc != 0)
		errno = EPERM;
	return rc;
}

/* The daemon must run as our uid or root: anyone else listening on the
 * path would receive our requests (and the environments in them).
 * Returns 0, or -1 with errno EPERM and connect_err set. */
static int
check_peer(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char who[320];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		snprintf(connect_err, sizeof(connect_err),
			 "cannot learn who serves it: %s", strerror(errno));
		return -1;
	}
	if (trusted_uid(cred.uid))
		return 0;
	describe_uid(cred.uid, who, sizeof(who));
	snprintf(connect_err, sizeof(connect_err),
		 "refusing it: it is served by %s (pid %ld), not by you or "
		 "root",
		 who, (long)cred.pid);
	errno = EPERM;
	return -1;
}

struct jobd_client *
jobd_client_connect(const char *path)
{
	struct sockaddr_un sa;
	struct jobd_client *c;
	char *p;
	int fd, saved;

	connect_err[0] = '\0';
	fd = -1;
	p = path != NULL ? strdup(path) : jobd_client_socket_path(NULL);
	if (p == NULL) {
		errno = ENOMEM;
		snprintf(connect_err, sizeof(connect_err), "%s",
			 strerror(errno));
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(p) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, p, strlen(p) + 1);
	if (check_dir(p) != 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		/* An interrupted connect goes on in the background; wait for
		 * it to finish and take its outcome. */
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int err = 0;
		socklen_t len = sizeof(err);

		if (errno != EINTR)
			goto fail;
		while (poll(&pfd, 1, -1) < 0)
			if (errno != EINTR)
				goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	if (check_peer(fd) != 0)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->fd = fd;
	c->path = p;
	c->next_id = 1;
	c->err_code = JOBD_E_NONE;
	return c;
fail:
	saved = errno;
	if (connect_err[0] == '\0')
		snprintf(connect_err, sizeof(connect_err), "%s",
			 strerror(saved));
	if (fd >= 0)
		close(fd);
	free(p);
	errno = saved;
	return NULL;
}

void
jobd_client_close(struct jobd_client *c)
{
	struct msg *m, *next;

	if (c == NULL)
		return;
	for (m = c->head; m != NULL; m = next) {
		next = m->next;
		json_decref(m->obj);
		free(m);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c->path);
	free(c->err_name);
	free(c->err_msg);
	free(c);
}

int
jobd_client_fd(const struct jobd_client *c)
{
	return c->fd;
}

size_t
jobd_client_pending(const struct jobd_client *c)
{
	return c->nkept;
}

const char *
jobd_client_path(const struct jobd_client *c)
{
	return c->path;
}

/* Writes all of buf, through short writes and EINTR.  0 or -1 (errno). */
static int
write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {.fd = fd,
						     .events = POLLOUT};

				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return -1;
				continue;
			}
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int64_t
jobd_client_send(struct jobd_client *c, json_t *req)
{
	json_t *copy = NULL, *idv;
	int64_t id;
	char *line;
	size_t n;
	int rc;

	clear_error(c);
	if (!json_is_object(req)) {
		errno = EINVAL;
		set_error(c, -1, "transport", "request is not a JSON object");
		return -1;
	}
	idv = json_object_get(req, "id");
	if (idv == NULL) {
		/* A shallow copy takes the id, so the caller's object is
		 * never changed. */
		copy = json_copy(req);
		if (copy == NULL ||
		    json_object_set_new(copy, "id", json_integer(c->next_id)) !=
			    0) {
			json_decref(copy);
			errno = ENOMEM;
			set_transport_error(c, "building request");
			return -1;
		}
		id = c->next_id++;
		req = copy;
	} else {
		id = json_is_integer(idv) ? json_integer_value(idv) : 0;
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(copy);
	if (line == NULL) {
		errno = EINVAL;
		set_transport_error(c, "encoding request");
		return -1;
	}
	/* The encoder escapes control characters, so the line holds no
	 * '\n' of its own; put the terminator in place of the NUL. */
	n = strlen(line);
	{
		char *grown = realloc(line, n + 1);

		if (grown == NULL) {
			free(line);
			errno = ENOMEM;
			set_transport_error(c, "building request");
			return -1;
		}
		line = grown;
	}
	line[n] = '\n';
	rc = write_all(c->fd, line, n + 1);
	free(line);
	if (rc != 0) {
		set_transport_error(c, "writing to jobd");
		return -1;
	}
	return id;
}

/* Makes room for READ_CHUNK more bytes after c->len, first by dropping the
 * consumed prefix, then by growing.  0 or -1 (ENOMEM). */
static int
make_room(struct jobd_client *c)
{
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->scan -= c->start;
		c->start = 0;
	}
	if (c->cap - c->len < READ_CHUNK) {
		size_t cap = c->cap < READ_CHUNK ? 2 * READ_CHUNK : c->cap;
		char *nb;

		while (cap - c->len < READ_CHUNK) {
			if (cap > SIZE_MAX / 2) {
				errno = ENOMEM;
				return -1;
			}
			cap *= 2;
		}
		nb = realloc(c->buf, cap);
		if (nb == NULL) {
			errno = ENOMEM;
			return -1;
		}
		c->buf = nb;
		c->cap = cap;
	}
	return 0;
}

/*
 * Reads the next non-blank line from the socket and parses it, waiting
 * until deadline (monotonic ms, -1 = never).  Returns the object (new
 * reference) or NULL with errno ETIMEDOUT, ECONNRESET, EPROTO, ENOMEM or a
 * read error.  Records nothing in c's error slot.
 */
static json_t *
read_wire(struct jobd_client *c, int64_t deadline)
{
	for (;;) {
		char *nl = NULL;
		ssize_t r;

		if (c->scan < c->start)
			c->scan = c->start;
		if (c->len > c->scan)
			nl = memchr(c->buf + c->scan, '\n', c->len - c->scan);
		if (nl != NULL) {
			char *line = c->buf + c->start;
			size_t n = (size_t)(nl - line);
			json_error_t jerr;
			json_t *obj;

			c->start += n + 1;
			c->scan = c->start;
			if (c->start == c->len)
				c->start = c->len = c->scan = 0;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			if (n == 0)
				continue;
			obj = json_loadb(line, n, JSON_ALLOW_NUL, &jerr);
			if (!json_is_object(obj)) {
				json_decref(obj);
				errno = EPROTO;
				return NULL;
			}
			return obj;
		}
		c->scan = c->len;
		if (deadline >= 0) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			int64_t left = deadline - mono_ms();
			int pr;

			if (left < 0)
				left = 0;
			if (left > INT_MAX)
				left = INT_MAX;
			pr = poll(&pfd, 1, (int)left);
			if (pr < 0) {
				if (errno == EINTR)
					continue;
				return NULL;
			}
			if (pr == 0) {
				errno = ETIMEDOUT;
				return NULL;
			}
		}
		if (make_room(c) != 0)
			return NULL;
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return NULL;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return NULL;
		}
		c->len += (size_t)r;
	}
}

/* Appends obj (stolen) to the FIFO.  0 or -1 (ENOMEM; obj released). */
static int
keep(struct jobd_client *c, json_t *obj)
{
	struct msg *m = malloc(sizeof(*m));

	if (m == NULL) {
		json_decref(obj);
		errno = ENOMEM;
		return -1;
	}
	m->next = NULL;
	m->obj = obj;
	m->is_event = json_object_get(obj, "event") != NULL;
	if (c->tail != NULL)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->nkept++;
	return 0;
}

/* Unlinks m (whose predecessor is prev, NULL for the head) and returns its
 * object, which the caller now owns. */
static json_t *
take(struct jobd_client *c, struct msg *prev, struct msg *m)
{
	json_t *obj = m->obj;

	if (prev != NULL)
		prev->next = m->next;
	else
		c->head = m->next;
	if (c->tail == m)
		c->tail = prev;
	c->nkept--;
	free(m);
	return obj;
}

json_t *
jobd_client_read(struct jobd_client *c, int timeout_ms)
{
	json_t *obj;

	clear_error(c);
	if (c->head != NULL)
		return take(c, NULL, c->head);
	obj = read_wire(c, deadline_of(timeout_ms));
	if (obj == NULL)
		set_transport_error(c, "reading from jobd");
	return obj;
}

/* Whether obj is the response to the request with id: its id is equal, or
 * it is an error with a null id (which answers the connection). */
static bool
is_response_to(json_t *obj, const json_t *id)
{
	json_t *v = json_object_get(obj, "id");

	if (json_object_get(obj, "event") != NULL)
		return false;
	if (v != NULL && json_equal(v, id))
		return true;
	return (v == NULL || json_is_null(v)) &&
	       json_is_false(json_object_get(obj, "ok"));
}

/* jobd_client_response with the id as a JSON value (borrowed). */
static json_t *
response_by(struct jobd_client *c, const json_t *id, int64_t deadline)
{
	struct msg *m, *prev = NULL;

	for (m = c->head; m != NULL; prev = m, m = m->next)
		if (!m->is_event && is_response_to(m->obj, id))
			return take(c, prev, m);
	for (;;) {
		json_t *obj = read_wire(c, deadline);

		if (obj == NULL) {
			set_transport_error(c, "reading from jobd");
			return NULL;
		}
		if (is_response_to(obj, id))
			return obj;
		if (keep(c, obj) != 0) {
			set_transport_error(c, "reading from jobd");
			return NULL;
		}
	}
}

json_t *
jobd_client_response(struct jobd_client *c, int64_t id, int timeout_ms)
{
	json_t *idv, *resp;

	clear_error(c);
	idv = json_integer(id);
	if (idv == NULL) {
		errno = ENOMEM;
		set_transport_error(c, "reading from jobd");
		return NULL;
	}
	resp = response_by(c, idv, deadline_of(timeout_ms));
	json_decref(idv);
	return resp;
}

/*
 * After a failed send: a daemon that refuses the connection ("busy",
 * "permission_denied") writes one error line and closes, so the write
 * fails.  Returns that line (new reference) if it is already here, else
 * NULL with c's error and errno as the send left them.
 */
static json_t *
refusal(struct jobd_client *c)
{
	int saved = errno;
	json_t *obj;

	if (saved != EPIPE && saved != ECONNRESET)
		return NULL;
	obj = read_wire(c, mono_ms());
	if (obj != NULL && json_object_get(obj, "event") == NULL &&
	    json_is_false(json_object_get(obj, "ok"))) {
		clear_error(c);
		return obj;
	}
	json_decref(obj);
	errno = saved;
	return NULL;
}

json_t *
jobd_client_call(struct jobd_client *c, json_t *req)
{
	json_t *idv, *resp;
	int64_t id;

	if (!json_is_object(req)) {
		clear_error(c);
		errno = EINVAL;
		set_error(c, -1, "transport", "request is not a JSON object");
		return NULL;
	}
	idv = json_object_get(req, "id");
	if (idv != NULL) {
		json_incref(idv);
		if (jobd_client_send(c, req) < 0) {
			json_decref(idv);
			return refusal(c);
		}
	} else {
		id = jobd_client_send(c, req);
		if (id < 0)
			return refusal(c);
		idv = json_integer(id);
		if (idv == NULL) {
			errno = ENOMEM;
			set_transport_error(c, "reading from jobd");
			return NULL;
		}
	}
	resp = response_by(c, idv, -1);
	json_decref(idv);
	return resp;
}

json_t *
jobd_client_result(struct jobd_client *c, json_t *resp)
{
	json_t *res, *err;
	const char *name, *msg;
	int code;

	if (resp == NULL)
		return NULL;
	clear_error(c);
	if (json_is_true(json_object_get(resp, "ok"))) {
		res = json_object_get(resp, "result");
		if (res != NULL)
			json_incref(res);
		else
			res = json_object();
		json_decref(resp);
		return res;
	}
	err = json_object_get(resp, "error");
	name = json_string_value(json_object_get(err, "code"));
	msg = json_string_value(json_object_get(err, "message"));
	if (name == NULL)
		name = "internal";
	code = jobd_error_parse(name);
	if (code <= JOBD_E_NONE)
		code = JOBD_E_INTERNAL;
	set_error(c, code, name, msg != NULL ? msg : "");
	json_decref(resp);
	return NULL;
}

json_t *
jobd_client_cmd(struct jobd_client *c, const char *cmd, json_t *args)
{
	json_t *req = args != NULL ? args : json_object();
	json_t *resp;

	if (!json_is_object(req) ||
	    json_object_set_new(req, "cmd", json_string(cmd)) != 0) {
		json_decref(req);
		clear_error(c);
		errno = EINVAL;
		set_error(c, -1, "transport", "cannot build the request");
		return NULL;
	}
	resp = jobd_client_call(c, req);
	json_decref(req);
	return jobd_client_result(c, resp);
}

int
jobd_client_error_code(const struct jobd_client *c)
{
	return c->err_code;
}

const char *
jobd_client_error_name(const struct jobd_client *c)
{
	return c->err_name;
}

const char *
jobd_client_error_message(const struct jobd_client *c)
{
	return c->err_msg != NULL ? c->err_msg : "";
}

int
jobd_client_submit(struct jobd_client *c, const json_t *spec, int64_t *id,
		   int *duplicate)
{
	json_t *args = json_object(), *res;

	if (json_object_set_new(args, "job", json_deep_copy(spec)) != 0) {
		json_decref(args);
		clear_error(c);
		errno = EINVAL;
		set_error(c, -1, "transport", "cannot build the request");
		return -1;
	}
	res = jobd_client_cmd(c, "submit", args);
	if (res == NULL)
		return -1;
	if (id != NULL)
		*id = json_integer_value(json_object_get(res, "id"));
	if (duplicate != NULL)
		*duplicate = json_is_true(json_object_get(res, "duplicate"));
	json_decref(res);
	return 0;
}

json_t *
jobd_client_get(struct jobd_client *c, int64_t id)
{
	json_t *res, *job;

	res = jobd_client_cmd(c, "get",
			      json_pack("{sI}", "job_id", (json_int_t)id));
	if (res == NULL)
		return NULL;
	job = json_object_get(res, "job");
	if (job == NULL) {
		json_decref(res);
		errno = EPROTO;
		set_error(c, -1, "transport", "get answered without a job");
		return NULL;
	}
	json_incref(job);
	json_decref(res);
	return job;
}

json_t *
jobd_client_wait(struct jobd_client *c, const int64_t *ids, size_t n,
		 double timeout)
{
	json_t *args = json_object(), *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_integer(ids[i]));
	json_object_set_new(args, "job_ids", arr);
	if (timeout >= 0) {
		/* Whole seconds go out as an integer, the rest as a real. */
		json_int_t whole = (json_int_t)timeout;

		json_object_set_new(args, "timeout",
				    (double)whole == timeout
					    ? json_integer(whole)
					    : json_real(timeout));
	}
	return jobd_client_cmd(c, "wait", args);
}

int
jobd_client_watch(struct jobd_client *c, const char *queue, int64_t job_id)
{
	json_t *args = json_object(), *res;

	if (queue != NULL)
		json_object_set_new(args, "queue", json_string(queue));
	if (job_id > 0)
		json_object_set_new(args, "job_id", json_integer(job_id));
	res = jobd_client_cmd(c, "watch", args);
	if (res == NULL)
		return -1;
	json_decref(res);
	return 0;
}

json_t *
jobd_client_next_event(struct jobd_client *c, int timeout_ms)
{
	struct msg *m, *prev = NULL;
	int64_t deadline = deadline_of(timeout_ms);

	clear_error(c);
	for (m = c->head; m != NULL; prev = m, m = m->next)
		if (m->is_event)
			return take(c, prev, m);
	for (;;) {
		json_t *obj = read_wire(c, deadline);

		if (obj == NULL) {
			set_transport_error(c, "reading from jobd");
			return NULL;
		}
		if (json_object_get(obj, "event") != NULL)
			return obj;
		if (keep(c, obj) != 0) {
			set_transport_error(c, "reading from jobd");
			return NULL;
		}
	}
}
