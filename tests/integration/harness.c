/*
 * harness: a real jobd per test, in its own temporary directory.
 */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

/* execv wants a non-const array; the strings are not written to. */
static char *const *
argv_mut(const char **argv)
{
	union {
		const char **c;
		char *const *m;
	} u = {argv};
	return u.m;
}

double
jd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
bin(const char *env, const char *fallback)
{
	const char *b = getenv(env);
	return b && *b ? b : fallback;
}

char *
jd_path(const struct jd *d, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", d->dir, name) < 0)
		abort();
	return p;
}

int
jd_watch_conn(struct jd *d, const char *q)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *req =
		q != NULL ? json_pack("{s:s,s:s}", "cmd", "watch", "queue", q)
			  : json_pack("{s:s}", "cmd", "watch");
	json_t *r = jd_call_fd(d, fd, req, 20000);
	json_decref(req);
	jd_ok(r);
	json_decref(r);
	return fd;
}

const char *
jd_kv(const char *out, const char *key)
{
	static char val[128];
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\n%s:", key);
	p = strstr(out, pat);
	if (p == NULL && strncmp(out, pat + 1, strlen(pat) - 1) == 0)
		p = out - 1;
	ck_assert_msg(p != NULL, "no %s in:\n%s", key, out);
	p += strlen(pat);
	p += strspn(p, " ");
	n = strcspn(p, "\n");
	ck_assert_uint_lt(n, sizeof(val));
	memcpy(val, p, n);
	val[n] = '\0';
	return val;
}

char *
jd_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	size_t r;
	while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 >= cap)
			s = realloc(s, cap *= 2);
	}
	s[n] = '\0';
	fclose(f);
	return s;
}

int
jd_count_lines(const char *path)
{
	char *s = jd_slurp(path);
	int n = 0;
	if (s == NULL)
		return 0;
	for (char *p = s; *p; p++)
		if (*p == '\n')
			n++;
	free(s);
	return n;
}

void
jd_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

void
jd_init(struct jd *d, const char *conf_text)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->next_id = 1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/jobd-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	chmod(d->dir, 0755);
	snprintf(d->sock, sizeof(d->sock), "%s/jobd.sock", d->dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/jobd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/jobd.log", d->dir);
	if (conf_text)
		jd_write_file(d->conf, conf_text);
}

int
jd_connect(const struct jd *d)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(d->sock) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool
jd_on_postgres(void)
{
	const char *pg = getenv("JOBD_TEST_PG");
	return pg != NULL && *pg != '\0';
}

/* With JOBD_TEST_PG (a connection string to a server the runner
 * started), d's jobd runs on PostgreSQL: a database of its own, named
 * after its directory (made once, so a restarted jobd finds its jobs),
 * named in a [daemon] section added at the end of its config file. */
static void
use_postgres(struct jd *d)
{
	const char *pg = getenv("JOBD_TEST_PG");
	const char *base = strrchr(d->dir, '/') + 1;
	char sql[128], conninfo[512], extra[700];
	if (!jd_on_postgres())
		return;
	PGconn *c = PQconnectdb(pg);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", base);
	PGresult *r = PQexec(c, sql);
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
			      (st != NULL && strcmp(st, "42P04") == 0),
		      "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", pg, base);
	snprintf(extra, sizeof(extra),
		 "\n[daemon]\nstore = postgres\ndatabase = %s\n", conninfo);
	FILE *f = fopen(d->conf, "a");
	ck_assert_msg(f != NULL, "cannot open %s", d->conf);
	fputs(extra, f);
	ck_assert_int_eq(fclose(f), 0);
}

void
jd_start(struct jd *d, const char *const *extra)
{
	const char *argv[32];
	int n = 0;
	argv[n++] = bin("JOBD_BIN", "build/jobd");
	argv[n++] = "-c";
	argv[n++] = d->conf;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "-d";
	argv[n++] = d->state;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	use_postgres(d);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		execv(argv[0], argv_mut(argv));
		_exit(127);
	}
	d->pid = pid;
	double deadline = jd_now() + 10;
	while (jd_now() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = 0;
			char *log = jd_slurp(d->log);
			ck_abort_msg("jobd exited at start: %s",
				     log ? log : "");
		}
		int fd = jd_connect(d);
		if (fd >= 0) {
			d->fd = fd;
			json_t *r = jd_req(d, "{s:s}", "cmd", "ping");
			int ok = json_is_true(json_object_get(r, "ok"));
			json_decref(r);
			if (ok)
				return;
			close(fd);
			d->fd = -1;
		}
		poll(NULL, 0, 10);
	}
	ck_abort_msg("jobd did not answer within 10 s");
}

static int
reap(struct jd *d, double timeout)
{
	double deadline = jd_now() + timeout;
	int st;
	while (jd_now() < deadline) {
		pid_t w = waitpid(d->pid, &st, WNOHANG);
		if (w == d->pid) {
			d->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		poll(NULL, 0, 5);
	}
	return -2;
}

int
jd_stop(struct jd *d)
{
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGTERM);
	int rc = reap(d, 20);
	if (rc == -2) {
		kill(d->pid, SIGKILL);
		reap(d, 5);
		return -1;
	}
	return rc;
}

void
jd_kill9(struct jd *d)
{
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	reap(d, 5);
}

void
jd_free(struct jd *d)
{
	if (d->pid > 0)
		jd_kill9(d);
	if (d->dir[0]) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n",
				d->dir);
	}
}

bool
jd_write(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

/* Per-fd read buffers, for lines split across reads. */
struct rbuf {
	int fd;
	char *data;
	size_t len;
};
static struct rbuf rbufs[64];

static struct rbuf *
rbuf_for(int fd)
{
	for (int i = 0; i < 64; i++)
		if (rbufs[i].fd == fd && rbufs[i].data)
			return &rbufs[i];
	for (int i = 0; i < 64; i++)
		if (rbufs[i].data == NULL) {
			rbufs[i].fd = fd;
			rbufs[i].data = malloc(1);
			rbufs[i].len = 0;
			return &rbufs[i];
		}
	abort();
}

char *
jd_read_line(int fd, int timeout_ms)
{
	struct rbuf *b = rbuf_for(fd);
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		char *nl = memchr(b->data, '\n', b->len);
		if (nl) {
			size_t n = (size_t)(nl - b->data);
			char *line = strndup(b->data, n);
			memmove(b->data, nl + 1, b->len - n - 1);
			b->len -= n + 1;
			return line;
		}
		int left = (int)((deadline - jd_now()) * 1000);
		if (left <= 0)
			return NULL;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			continue;
		char chunk[65536];
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			free(b->data);
			b->data = NULL;
			b->len = 0;
			return NULL;
		}
		b->data = realloc(b->data, b->len + (size_t)r + 1);
		memcpy(b->data + b->len, chunk, (size_t)r);
		b->len += (size_t)r;
	}
}

void
jd_close(int fd)
{
	for (size_t i = 0; i < sizeof(rbufs) / sizeof(rbufs[0]); i++) {
		if (rbufs[i].fd == fd && rbufs[i].data) {
			free(rbufs[i].data);
			rbufs[i].data = NULL;
			rbufs[i].len = 0;
		}
	}
	close(fd);
}

bool
jd_under_asan(void)
{
	const char *b = getenv("JOBD_BIN");
	return b != NULL && strstr(b, "asan") != NULL;
}

json_t *
jd_call_fd(struct jd *d, int fd, json_t *req, int timeout_ms)
{
	if (json_object_get(req, "id") == NULL)
		json_object_set_new(req, "id", json_integer(d->next_id++));
	json_int_t id = json_integer_value(json_object_get(req, "id"));
	char *s = json_dumps(req, JSON_COMPACT);
	size_t n = strlen(s);
	s = realloc(s, n + 2);
	s[n] = '\n';
	ck_assert(jd_write(fd, s, n + 1));
	free(s);
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - jd_now()) * 1000);
		char *line = jd_read_line(fd, left > 0 ? left : 0);
		ck_assert_msg(line != NULL, "no response to request %lld",
			      (long long)id);
		json_t *resp = json_loads(line, 0, NULL);
		ck_assert_msg(resp != NULL, "response is not JSON: %s", line);
		free(line);
		json_t *rid = json_object_get(resp, "id");
		if (json_object_get(resp, "event") == NULL &&
		    json_is_integer(rid) && json_integer_value(rid) == id)
			return resp;
		json_decref(resp);
	}
}

json_t *
jd_call(struct jd *d, json_t *req)
{
	json_t *r = jd_call_fd(d, d->fd, req, 60000);
	json_decref(req);
	return r;
}

json_t *
jd_req(struct jd *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_error_t err;
	json_t *req = json_vpack_ex(&err, 0, fmt, ap);
	va_end(ap);
	ck_assert_msg(req != NULL, "bad pack: %s", err.text);
	return jd_call(d, req);
}

json_t *
jd_ok(json_t *resp)
{
	if (!json_is_true(json_object_get(resp, "ok"))) {
		char *s = json_dumps(resp, JSON_COMPACT);
		ck_abort_msg("request failed: %s", s);
	}
	return json_object_get(resp, "result");
}

const char *
jd_err(json_t *resp)
{
	json_t *e = json_object_get(json_object_get(resp, "error"), "code");
	return e ? json_string_value(e) : "";
}

void
jd_call_ok(struct jd *d, json_t *req)
{
	json_t *r = jd_call(d, req);
	jd_ok(r);
	json_decref(r);
}

void
jd_queue_cmd(struct jd *d, const char *cmd, const char *name)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", cmd, "name", name);
	jd_ok(r);
	json_decref(r);
}

const char *
jd_err_msg(json_t *resp)
{
	return jd_str(json_object_get(resp, "error"), "message");
}

json_t *
jd_json(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, e.text);
	return v;
}

const char *
jd_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

json_int_t
jd_num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

int64_t
jd_submit(struct jd *d, json_t *spec)
{
	json_t *r = jd_call(
		d, json_pack("{s:s,s:o}", "cmd", "submit", "job", spec));
	int64_t id = json_integer_value(json_object_get(jd_ok(r), "id"));
	json_decref(r);
	ck_assert_int_gt(id, 0);
	return id;
}

json_t *
jd_get(struct jd *d, int64_t id)
{
	json_t *r =
		jd_req(d, "{s:s,s:I}", "cmd", "get", "job_id", (json_int_t)id);
	json_t *job = json_incref(json_object_get(jd_ok(r), "job"));
	json_decref(r);
	return job;
}

json_t *
jd_wait(struct jd *d, int64_t id, double timeout_s)
{
	json_t *r = jd_req(d, "{s:s,s:I,s:f}", "cmd", "wait", "job_id",
			   (json_int_t)id, "timeout", timeout_s);
	json_t *jobs = json_object_get(jd_ok(r), "jobs");
	json_t *job = json_incref(json_array_get(jobs, 0));
	json_decref(r);
	return job;
}

bool
jd_poll_state(struct jd *d, int64_t id, const char *state, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		json_t *job = jd_get(d, id);
		bool hit =
			strcmp(json_string_value(json_object_get(job, "state")),
			       state) == 0;
		json_decref(job);
		if (hit)
			return true;
		poll(NULL, 0, 5);
	}
	return false;
}

bool
jd_alive(struct jd *d)
{
	int st;
	if (d->pid <= 0)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == 0)
		return true;
	d->pid = 0;
	return false;
}

static char *
drain_fd(int fd)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	for (;;) {
		if (n + 4096 > cap)
			s = realloc(s, cap *= 2);
		ssize_t r = read(fd, s + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	s[n] = '\0';
	return s;
}

int
jd_jobctl(struct jd *d, const char *in, char **out, char **err, ...)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = bin("JOBCTL_BIN", "build/jobctl");
	argv[n++] = "-s";
	argv[n++] = d->sock;
	va_list ap;
	va_start(ap, err);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 62)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	char *inpath = jd_path(d, "jobctl.in");
	char *outpath = jd_path(d, "jobctl.out");
	char *errpath = jd_path(d, "jobctl.err");
	jd_write_file(inpath, in ? in : "");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int i = open(inpath, O_RDONLY);
		int o = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(i, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv_mut(argv));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int fd = open(outpath, O_RDONLY);
	char *o = drain_fd(fd);
	close(fd);
	fd = open(errpath, O_RDONLY);
	char *e = drain_fd(fd);
	close(fd);
	if (out)
		*out = o;
	else
		free(o);
	if (err)
		*err = e;
	else
		free(e);
	free(inpath);
	free(outpath);
	free(errpath);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int
jd_procs_with(const char *marker, pid_t skip, char *what, size_t wn)
{
	DIR *dir = opendir("/proc");
	ck_assert_ptr_nonnull(dir);
	int count = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)skip ||
		    pid == (long)getpid())
			continue;
		char path[64], buf[4096];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		char *rp = strrchr(buf, ')');
		if (rp == NULL || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		ssize_t n = read_small(path, buf, sizeof(buf));
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		if (strstr(buf, marker) == NULL)
			continue;
		if (count == 0 && what)
			snprintf(what, wn, "pid %ld: %s", pid, buf);
		count++;
	}
	closedir(dir);
	return count;
}

pid_t
jd_spawner_pid(const struct jd *d)
{
	char path[96], kids[4096];
	if (d->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d->pid,
		 (int)d->pid);
	if (read_small(path, kids, sizeof(kids)) <= 0)
		return 0;
	for (char *p = kids, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		char comm[64];
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		if (read_small(path, comm, sizeof(comm)) > 0 &&
		    strcmp(comm, "jobd-spawner\n") == 0)
			return (pid_t)pid;
	}
	return 0;
}

/* The guard learns that the test process ended when its pipe reaches EOF:
 * the write end is close-on-exec, so no daemon or job holds it. */
/* True when process pid is a postgres whose command line holds marker. */
static bool
postgres_with(pid_t pid, const char *marker)
{
	char path[64], comm[32], cmd[4096];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	bool pg = f != NULL && fgets(comm, sizeof(comm), f) != NULL &&
		  strncmp(comm, "postgres", 8) == 0;
	if (f != NULL)
		fclose(f);
	if (!pg)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, marker) != NULL;
}

/* Each PostgreSQL of dir's (a pgfix server) gets SIGQUIT, its immediate
 * shutdown, which also removes its shared memory (a SIGKILL leaves it);
 * waits up to 2 s for them to go. */
static void
quit_postgres(const char *dir)
{
	for (int round = 0; round < 200; round++) {
		int left = 0;
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d != NULL && (de = readdir(d)) != NULL) {
			pid_t pid = (pid_t)atol(de->d_name);
			if (pid <= 1 || !postgres_with(pid, dir))
				continue;
			left++;
			if (round % 50 == 0)
				kill(pid, SIGQUIT);
		}
		if (d != NULL)
			closedir(d);
		if (left == 0)
			return;
		poll(NULL, 0, 10);
	}
}

void
jd_guard(const char *dir)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		/* Out of the test's process group, which Check kills. */
		setsid();
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0])
				close(fd);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		quit_postgres(dir);
		for (int round = 0; round < 50; round++) {
			char what[4200];
			if (jd_procs_with(dir, 0, what, sizeof(what)) == 0)
				break;
			kill((pid_t)atol(what + 4), SIGKILL);
			poll(NULL, 0, 10);
		}
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			_exit(1);
		_exit(0);
	}
	close(p[0]);
}

/* The daemon jd_test_start started last (borrowed from the suite). */
static struct jd *test_jd;

/* Frees test_jd's daemon and directory, if it has them. */
static void
test_cleanup(void)
{
	if (test_jd != NULL && test_jd->dir[0]) {
		jd_free(test_jd);
		test_jd->dir[0] = '\0';
	}
}

struct jd *
jd_test_start(struct jd *d, const char *base, const char *extra,
	      const char *const *args)
{
	static bool registered;
	char *conf;
	if (!registered) {
		atexit(test_cleanup);
		registered = true;
	}
	test_cleanup();
	test_jd = d;
	if (asprintf(&conf, "%s%s", base ? base : "", extra ? extra : "") < 0)
		abort();
	jd_init(d, conf);
	free(conf);
	jd_guard(d->dir);
	jd_start(d, args);
	return d;
}

void
jd_test_teardown(void)
{
	struct jd *d = test_jd;
	if (d == NULL || d->dir[0] == '\0')
		return;
	int rc = d->pid > 0 ? jd_stop(d) : 0;
	char *log = jd_slurp(d->log);
	bool asan = log && strstr(log, "AddressSanitizer") != NULL;
	bool ubsan = log && strstr(log, "runtime error") != NULL;
	bool leak = log && strstr(log, "LeakSanitizer") != NULL;
	if (asan || ubsan || leak || rc != 0 || getenv("JD_SHOW_LOG"))
		fprintf(stderr, "--- jobd log (%s) ---\n%s\n", d->dir,
			log ? log : "");
	free(log);
	test_cleanup();
	ck_assert_msg(!asan && !ubsan && !leak,
		      "sanitizer report in the daemon log");
	ck_assert_msg(rc == 0, "jobd exited %d on SIGTERM", rc);
}

void
jd_send(int fd, const char *s)
{
	ck_assert(jd_write(fd, s, strlen(s)));
}

void
jd_pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

bool
jd_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

off_t
jd_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

int64_t
jd_submit_text(struct jd *d, const char *text)
{
	return jd_submit(d, jd_json(text));
}

json_t *
jd_poll_job(struct jd *d, int64_t id, const char *state, int recoveries,
	    double timeout_s)
{
	double deadline = jd_now() + timeout_s;

	do {
		json_t *j = jd_get(d, id);

		if (strcmp(jd_str(j, "state"), state) == 0 &&
		    (recoveries < 0 || jd_num(j, "recoveries") == recoveries))
			return j;
		json_decref(j);
		jd_pause_ms(3);
	} while (jd_now() < deadline);
	return NULL;
}

json_t *
jd_queue_get(struct jd *d, const char *name, const char **err)
{
	static char code[64];
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", name);
	json_t *q = NULL;

	snprintf(code, sizeof(code), "%s", jd_err(r));
	if (err != NULL)
		*err = code;
	if (err == NULL || json_is_true(json_object_get(r, "ok")))
		q = json_incref(json_object_get(jd_ok(r), "queue"));
	json_decref(r);
	return q;
}

int
jd_run_jobd(const char *const *args, const char *errpath, double timeout_s)
{
	char *argv[16];
	const char *b = getenv("JOBD_BIN");
	double deadline;
	int n = 0, st;
	pid_t pid;

	argv[n++] = strdup(b && *b ? b : "build/jobd");
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = strdup(args[i]);
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		free(argv[i]);
	deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		jd_pause_ms(10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}
