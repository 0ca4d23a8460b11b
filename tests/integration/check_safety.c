/*
 * safety_suite: what another local user could do to jobd and its clients,
 * and what a bad file could do to a running jobd.  The socket's directory
 * must be the user's (or root's) and writable by nobody else, for jobd and
 * for jobctl, and jobctl talks only to a daemon of its own uid or root;
 * the state directory is refused when it is another user's or writable by
 * others, and its files are narrowed to 0600/0700; a huge user name in a
 * job spec is refused; a reload is applied whole or not at all.  Tests
 * that need a second uid run as root (chown to nobody, a forked server
 * that drops to nobody) and are skipped with a message otherwise.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "jobd/client.h"

Suite *safety_suite(void);

#define BASE_CONF "; safety_suite\n[daemon]\nshutdown_timeout = 1\n"

/* The one daemon of the current test. */
static struct jd D;

/* The uid of "nobody", or (uid_t)-1 when it does not exist or we are not
 * root (nobody else can chown). */
static uid_t
other_uid(void)
{
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "safety: not root or no user nobody: the "
				"second-uid part of this test is skipped\n");
		return (uid_t)-1;
	}
	return pw->pw_uid;
}

/* Starts jobd on socket sock and state dir state (config t->conf) and
 * expects it to refuse: exit status 1 and every string of want (NULL-
 * terminated) in its stderr; nothing may be left at sock. */
static void
expect_refused(struct jd *t, const char *sock, const char *state,
	       const char *const *want)
{
	char *errpath = jd_path(t, "refused.err");
	const char *const args[] = {"-c", t->conf, "-s", sock,
				    "-d", state,   NULL};
	int rc = jd_run_jobd(args, errpath, 10);
	char *err = jd_slurp(errpath);
	ck_assert_msg(rc == 1, "jobd -s %s -d %s: status %d, want 1: %s", sock,
		      state, rc, err ? err : "");
	for (int i = 0; want[i] != NULL; i++)
		ck_assert_msg(err && strstr(err, want[i]),
			      "stderr lacks \"%s\": %s", want[i],
			      err ? err : "");
	struct stat st;
	ck_assert_msg(lstat(sock, &st) != 0, "a refused start left %s", sock);
	free(err);
	free(errpath);
}

/* Runs jobctl -s d->sock ping; returns its status, *err its stderr. */
static int
jobctl_ping(struct jd *d, char **err)
{
	return jd_jobctl(d, NULL, NULL, err, "ping", NULL);
}

/* ---- 1. the socket's directory ---- */

START_TEST(safety_socket_dir_jobd)
{
	struct jd t;
	jd_init(&t, BASE_CONF);
	jd_guard(t.dir);
	char *run = jd_path(&t, "run");
	char *sock = jd_path(&t, "run/jobd.sock");

	/* World-writable, as a squatter would leave /tmp/jobd-UID. */
	ck_assert_int_eq(mkdir(run, 0700), 0);
	ck_assert_int_eq(chmod(run, 0777), 0);
	const char *const ww[] = {"unsafe socket directory", run,
				  "writable by group or others (mode 0777)",
				  NULL};
	expect_refused(&t, sock, t.state, ww);
	/* Group-writable is no better. */
	ck_assert_int_eq(chmod(run, 0770), 0);
	const char *const gw[] = {"unsafe socket directory", "mode 0770", NULL};
	expect_refused(&t, sock, t.state, gw);

	/* A symbolic link to a good directory. */
	char *real = jd_path(&t, "real");
	char *link = jd_path(&t, "link");
	char *lsock = jd_path(&t, "link/jobd.sock");
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, link), 0);
	const char *const sl[] = {"unsafe socket directory", link,
				  "symbolic link", NULL};
	expect_refused(&t, lsock, t.state, sl);

	uid_t nobody = other_uid();
	if (nobody != (uid_t)-1) {
		/* Owned by another user, whatever its mode. */
		ck_assert_int_eq(chmod(run, 0700), 0);
		ck_assert_int_eq(chown(run, nobody, (gid_t)-1), 0);
		char who[64];
		snprintf(who, sizeof(who), "owned by uid %u (nobody)",
			 (unsigned)nobody);
		const char *const ow[] = {"unsafe socket directory", run, who,
					  NULL};
		expect_refused(&t, sock, t.state, ow);
	}

	/* Ours and closed to others: it starts. */
	ck_assert_int_eq(chown(run, geteuid(), (gid_t)-1), 0);
	ck_assert_int_eq(chmod(run, 0755), 0);
	snprintf(t.sock, sizeof(t.sock), "%s", sock);
	jd_start(&t, NULL);
	ck_assert_int_eq(jd_stop(&t), 0);
	free(run);
	free(sock);
	free(real);
	free(link);
	free(lsock);
	jd_free(&t);
}
END_TEST

START_TEST(safety_socket_dir_jobctl)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(jobctl_ping(d, &err), 0);
	free(err);

	/* The daemon is ours, but anyone could have swapped its socket. */
	ck_assert_int_eq(chmod(d->dir, 0777), 0);
	int rc = jobctl_ping(d, &err);
	ck_assert_msg(rc == 3, "jobctl in a 0777 directory: status %d: %s", rc,
		      err);
	ck_assert_msg(strstr(err, d->sock) && strstr(err, d->dir) &&
			      strstr(err, "writable by group or others"),
		      "jobctl's message: %s", err);
	free(err);
	/* The library says the same, with EPERM. */
	errno = 0;
	struct jobd_client *c = jobd_client_connect(d->sock);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_msg(strstr(jobd_client_connect_error(), "mode 0777"),
		      "connect error: %s", jobd_client_connect_error());

	/* Sticky like /tmp: nobody else can remove our socket, and the peer
	 * check catches one made by someone else. */
	ck_assert_int_eq(chmod(d->dir, 01777), 0);
	rc = jobctl_ping(d, &err);
	ck_assert_msg(rc == 0, "jobctl in a 01777 directory: %d: %s", rc, err);
	free(err);

	uid_t nobody = other_uid();
	if (nobody != (uid_t)-1) {
		ck_assert_int_eq(chmod(d->dir, 0755), 0);
		ck_assert_int_eq(chown(d->dir, nobody, (gid_t)-1), 0);
		rc = jobctl_ping(d, &err);
		ck_assert_msg(rc == 3, "jobctl in nobody's directory: %d: %s",
			      rc, err);
		char who[64];
		snprintf(who, sizeof(who), "owned by uid %u (nobody)",
			 (unsigned)nobody);
		ck_assert_msg(strstr(err, d->sock) && strstr(err, who),
			      "jobctl's message: %s", err);
		free(err);
		ck_assert_int_eq(chown(d->dir, geteuid(), (gid_t)-1), 0);
	}
	ck_assert_int_eq(chmod(d->dir, 0755), 0);
	ck_assert_int_eq(jobctl_ping(d, &err), 0);
	free(err);
	free(out);
}
END_TEST

/* A server on sock run by uid: binds as us, then a child drops to uid and
 * listens (the peer credentials are the listener's), accepts one
 * connection, and writes how many bytes it received on the returned pipe
 * when the client has gone. */
static int
fake_server(const char *sock, uid_t uid, pid_t *pid)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		close(p[0]);
		if (setgid(65534) != 0 || setuid(uid) != 0 || listen(fd, 8))
			_exit(1);
		if (write(p[1], "L", 1) != 1)
			_exit(1);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				_exit(1);
			char buf[4096];
			long total = 0;
			ssize_t r;
			while ((r = read(c, buf, sizeof(buf))) > 0)
				total += r;
			close(c);
			char line[32];
			int n = snprintf(line, sizeof(line), "%ld\n", total);
			if (write(p[1], line, (size_t)n) != n)
				_exit(1);
		}
	}
	close(fd);
	close(p[1]);
	char ready;
	ck_assert_int_eq(read(p[0], &ready, 1), 1);
	return p[0];
}

START_TEST(safety_peer_uid_checked)
{
	uid_t nobody = other_uid();
	if (nobody == (uid_t)-1)
		return;
	struct jd t;
	jd_init(&t, NULL);
	jd_guard(t.dir);
	pid_t pid;
	int rd = fake_server(t.sock, nobody, &pid);

	errno = 0;
	struct jobd_client *c = jobd_client_connect(t.sock);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(errno, EPERM);
	char who[64];
	snprintf(who, sizeof(who), "served by uid %u (nobody)",
		 (unsigned)nobody);
	ck_assert_msg(strstr(jobd_client_connect_error(), who),
		      "connect error: %s", jobd_client_connect_error());

	char *err = NULL;
	int rc = jd_jobctl(&t, "", NULL, &err, "submit", "--", "true", NULL);
	ck_assert_msg(rc == 3, "jobctl submit to nobody's server: %d: %s", rc,
		      err);
	ck_assert_msg(strstr(err, t.sock) && strstr(err, who),
		      "jobctl's message names neither the socket nor the "
		      "owner: %s",
		      err);
	free(err);

	/* Two connections were made; not one byte went to the server. */
	char got[64] = "";
	size_t n = 0;
	double deadline = jd_now() + 10;
	while (jd_now() < deadline && n < sizeof(got) - 1) {
		struct pollfd pfd = {.fd = rd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t r = read(rd, got + n, sizeof(got) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		got[n] = '\0';
		if (strcmp(got, "0\n0\n") == 0)
			break;
	}
	ck_assert_str_eq(got, "0\n0\n");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(rd);
	jd_free(&t);
}
END_TEST

/* ---- 2. the state directory ---- */

static mode_t
mode_of(const char *path)
{
	struct stat st;
	ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* Every file of the state directory that exists is private. */
static void
expect_private(struct jd *d)
{
	char path[400];
	static const char *const files[] = {"jobd.db", "jobd.db-wal",
					    "jobd.db-shm", "jobd.lock", NULL};
	/* Run as root, jobs of other users pass through it (not list it)
	 * to their result and snooze files in talk/. */
	ck_assert_uint_eq(mode_of(d->state), geteuid() == 0 ? 0711 : 0700);
	snprintf(path, sizeof(path), "%s/talk", d->state);
	ck_assert_uint_eq(mode_of(path), geteuid() == 0 ? 0711 : 0700);
	snprintf(path, sizeof(path), "%s/logs", d->state);
	ck_assert_uint_eq(mode_of(path), 0700);
	for (int i = 0; files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", d->state, files[i]);
		struct stat st;
		/* jobd.db must be there, but for a jobd on PostgreSQL. */
		if (lstat(path, &st) != 0 && (i > 0 || jd_on_postgres()))
			continue;
		ck_assert_msg(mode_of(path) == 0600, "%s: mode %04o", path,
			      (unsigned)mode_of(path));
	}
}

START_TEST(safety_state_dir_modes)
{
	struct jd t;
	jd_init(&t, BASE_CONF);
	jd_guard(t.dir);
	/* Made by an admin with umask 022. */
	ck_assert_int_eq(mkdir(t.state, 0755), 0);
	ck_assert_int_eq(chmod(t.state, 0755), 0);
	mode_t old = umask(022);
	jd_start(&t, NULL);
	umask(old);
	int64_t id = jd_submit(&t, json_pack("{s:s}", "shell", "echo hi"));
	json_t *j = jd_wait(&t, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	expect_private(&t);
	char log[400];
	snprintf(log, sizeof(log), "%s/logs/%lld.1.log", t.state,
		 (long long)id);
	ck_assert_uint_eq(mode_of(log), 0600);
	ck_assert_int_eq(jd_stop(&t), 0);

	/* Files left open by an older jobd (or an admin) are narrowed. */
	char path[400];
	static const char *const files[] = {"jobd.lock", "jobd.db", NULL};
	for (int i = 0; files[i] != NULL; i++) {
		if (i > 0 && jd_on_postgres())
			break; /* no database file here */
		snprintf(path, sizeof(path), "%s/%s", t.state, files[i]);
		ck_assert_int_eq(chmod(path, 0644), 0);
	}
	snprintf(path, sizeof(path), "%s/logs", t.state);
	ck_assert_int_eq(chmod(path, 0711), 0);
	ck_assert_int_eq(chmod(t.state, 0755), 0);
	jd_start(&t, NULL);
	expect_private(&t);
	j = jd_get(&t, id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	ck_assert_int_eq(jd_stop(&t), 0);
	jd_free(&t);
}
END_TEST

START_TEST(safety_state_dir_refused)
{
	struct jd t;
	jd_init(&t, BASE_CONF);
	jd_guard(t.dir);
	ck_assert_int_eq(mkdir(t.state, 0700), 0);
	ck_assert_int_eq(chmod(t.state, 0770), 0);
	const char *const gw[] = {"unsafe state directory", t.state,
				  "writable by group or others (mode 0770)",
				  NULL};
	expect_refused(&t, t.sock, t.state, gw);
	char path[400];
	snprintf(path, sizeof(path), "%s/jobd.db", t.state);
	ck_assert_msg(access(path, F_OK) != 0, "a refused start made %s", path);

	uid_t nobody = other_uid();
	if (nobody != (uid_t)-1) {
		ck_assert_int_eq(chmod(t.state, 0700), 0);
		ck_assert_int_eq(chown(t.state, nobody, (gid_t)-1), 0);
		char who[64];
		snprintf(who, sizeof(who), "owned by uid %u (nobody)",
			 (unsigned)nobody);
		const char *const ow[] = {"unsafe state directory", t.state,
					  who, NULL};
		expect_refused(&t, t.sock, t.state, ow);
		ck_assert_msg(access(path, F_OK) != 0,
			      "a refused start made %s", path);
	}
	jd_free(&t);
}
END_TEST

/* ---- 3. user names ---- */

START_TEST(safety_long_user_refused)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	size_t n = 300000;
	char *name = malloc(n + 1);
	memset(name, 'u', n);
	name[n] = '\0';
	json_t *r = jd_req(d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job",
			   "shell", "true", "user", name);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), "user: ", 6) == 0, "message: %s",
		      jd_err_msg(r));
	json_decref(r);
	/* The longest name allowed is looked up (and not found). */
	name[256] = '\0';
	r = jd_req(d, "{s:s,s:{s:s,s:s}}", "cmd", "submit", "job", "shell",
		   "true", "user", name);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), "user: no user uuu", 17) == 0,
		      "message: %s", jd_err_msg(r));
	json_decref(r);
	free(name);
	ck_assert(jd_alive(d));
	r = jd_req(d, "{s:s}", "cmd", "ping");
	jd_ok(r);
	json_decref(r);
	if (geteuid() == 0 && getpwnam("nobody") != NULL) {
		int64_t id =
			jd_submit(d, json_pack("{s:s,s:s}", "shell", "id -un",
					       "user", "nobody"));
		json_t *j = jd_wait(d, id, 20);
		ck_assert_str_eq(jd_str(j, "state"), "succeeded");
		json_decref(j);
	}
}
END_TEST

/* Prints the id of the caller's session keyring (keyctl
 * KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING), or "none". */
#define SESSION_KEYRING_ID                                          \
	"python3 -c \'import ctypes, platform; "                    \
	"n = {\\\"x86_64\\\": 250, \\\"aarch64\\\": "               \
	"219}.get(platform.machine()); "                            \
	"r = ctypes.CDLL(None).syscall(n, 0, -3, 0) if n else -1; " \
	"print(r if r > 0 else \\\"none\\\")\'"

/* Each job has a session keyring of its own: one shared with jobd would
 * let any job possess the keys another job, of any user, put there. */
START_TEST(safety_session_keyring_own)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char *ids[2];
	for (int i = 0; i < 2; i++) {
		int64_t id = jd_submit_text(
			d, "{\"shell\":\"" SESSION_KEYRING_ID "\"}");
		json_t *j = jd_wait(d, id, 20);
		ck_assert_str_eq(jd_str(j, "state"), "succeeded");
		json_decref(j);
		json_t *r = jd_call(d, json_pack("{s:s,s:I}", "cmd", "logs",
						 "job_id", (json_int_t)id));
		ids[i] = strdup(jd_str(jd_ok(r), "data"));
		json_decref(r);
	}
	if (strncmp(ids[0], "none", 4) == 0) {
		printf("safety_session_keyring_own: no keyrings here, "
		       "skipped\n");
	} else {
		ck_assert_msg(strcmp(ids[0], ids[1]) != 0,
			      "two jobs share session keyring %s", ids[0]);
	}
	free(ids[0]);
	free(ids[1]);
}
END_TEST

/* ---- 4. reload: all or nothing ---- */

static json_int_t
concurrency_of(struct jd *d, const char *queue, const char **err)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", queue);
	static char code[64];
	snprintf(code, sizeof(code), "%s", jd_err(r));
	*err = code;
	json_int_t n = -1;
	if (json_is_true(json_object_get(r, "ok")))
		n = jd_num(json_object_get(jd_ok(r), "queue"), "concurrency");
	json_decref(r);
	return n;
}

/* Whether a 3000-byte request is refused as too large (the connection is
 * closed then: a new one is used each time). */
static bool
big_request_refused(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	char pad[3001];
	memset(pad, 'p', 3000);
	pad[3000] = '\0';
	char line[3100];
	int n = snprintf(line, sizeof(line),
			 "{\"cmd\":\"ping\",\"id\":1,\"pad\":\"%s\"}\n", pad);
	ck_assert(jd_write(fd, line, (size_t)n));
	char *reply = jd_read_line(fd, 10000);
	ck_assert_msg(reply != NULL, "no reply to a 3000-byte request");
	json_t *r = jd_json(reply);
	free(reply);
	bool refused = strcmp(jd_err(r), "too_large") == 0;
	json_decref(r);
	close(fd);
	return refused;
}

START_TEST(safety_reload_all_or_nothing)
{
	struct jd *d = jd_test_start(
		&D, BASE_CONF, "[queue default]\nconcurrency = 2\n", NULL);
	const char *err;
	ck_assert(!big_request_refused(d));

	/* Valid daemon and queue sections; one producer feeds a queue that
	 * does not exist. */
	jd_write_file(d->conf, BASE_CONF "max_request_bytes = 2K\n"
					 "[queue default]\nconcurrency = 5\n"
					 "[queue extra]\nconcurrency = 3\n"
					 "[producer tick]\ntype = interval\n"
					 "every = 1h\nshell = true\n"
					 "queue = nosuch\n");
	json_t *r = jd_req(d, "{s:s}", "cmd", "reload");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), "producer tick") &&
			      strstr(jd_err_msg(r), "no queue nosuch"),
		      "message: %s", jd_err_msg(r));
	json_decref(r);
	ck_assert_int_eq(concurrency_of(d, "default", &err), 2);
	ck_assert_int_eq(concurrency_of(d, "extra", &err), -1);
	ck_assert_str_eq(err, "unknown_queue");
	ck_assert(!big_request_refused(d));
	r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get", "name", "tick");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);

	/* SIGHUP refuses it the same way. */
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	double deadline = jd_now() + 10;
	char *log = NULL;
	for (;;) {
		free(log);
		log = jd_slurp(d->log);
		if (log && strstr(log, "reload refused") &&
		    strstr(strstr(log, "reload refused") + 1, "reload refused"))
			break;
		ck_assert_msg(jd_now() < deadline, "no second refusal: %s",
			      log ? log : "");
		poll(NULL, 0, 10);
	}
	free(log);
	ck_assert_int_eq(concurrency_of(d, "default", &err), 2);
	ck_assert(!big_request_refused(d));

	/* The producer's queue defined in the same file: all of it goes. */
	jd_write_file(d->conf, BASE_CONF "max_request_bytes = 2K\n"
					 "[queue default]\nconcurrency = 5\n"
					 "[queue extra]\nconcurrency = 3\n"
					 "[producer tick]\ntype = interval\n"
					 "every = 1h\nshell = true\n"
					 "queue = extra\n");
	r = jd_req(d, "{s:s}", "cmd", "reload");
	jd_ok(r);
	json_decref(r);
	ck_assert_int_eq(concurrency_of(d, "default", &err), 5);
	ck_assert_int_eq(concurrency_of(d, "extra", &err), 3);
	r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get", "name", "tick");
	jd_ok(r);
	json_decref(r);
	ck_assert(big_request_refused(d));
}
END_TEST

Suite *
safety_suite(void)
{
	Suite *s = suite_create("safety");
	TCase *tc = tcase_create("socket");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, safety_socket_dir_jobd);
	tcase_add_test(tc, safety_socket_dir_jobctl);
	tcase_add_test(tc, safety_peer_uid_checked);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, safety_state_dir_modes);
	tcase_add_test(tc, safety_state_dir_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("input");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, safety_long_user_refused);
	tcase_add_test(tc, safety_session_keyring_own);
	tcase_add_test(tc, safety_reload_all_or_nothing);
	suite_add_tcase(s, tc);
	return s;
}
