/*
 * Durability (SPEC 2.3, 2.7): jobd killed with SIGKILL at random moments
 * under a steady stream of submits loses no acknowledged job and never runs
 * a finished job again; SIGTERM drains and exits 0; kill -9 recovery and
 * its limit; SIGHUP reload, refused when the file is broken; SIGPIPE; and
 * group commit under many concurrent submitters.  The crash torture is in
 * check_durability_torture.c, with the fixture and helpers it shares with
 * this file in durability.h.  Each test runs a real jobd (harness.h);
 * every wait has a deadline.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durability.h"
#include "harness.h"

Suite *durability_suite(void);

/* The daemon of the current test; the fixture frees it. */
struct jd jd;

/* ---- small helpers ---- */

/* Reads d->fd to its end, which releases the harness's buffer for it, and
 * closes it.  Only once the daemon is gone. */
static void
drop_harness_fd(struct jd *d)
{
	if (d->fd < 0)
		return;
	char *l;
	while ((l = jd_read_line(d->fd, 1000)) != NULL)
		free(l);
	close(d->fd);
	d->fd = -1;
}

/* Waits for the daemon to exit on its own within timeout seconds; its exit
 * status, or -1 when it is still running. */
static int
reap_within(struct jd *d, double timeout)
{
	double deadline = jd_now() + timeout;
	do {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			drop_harness_fd(d);
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		poll(NULL, 0, 5);
	} while (jd_now() < deadline);
	return -1;
}

/* ---- a connection with its own line buffer (durability.h) ---- */

void
conn_open(struct conn *c, const struct jd *d)
{
	memset(c, 0, sizeof(*c));
	c->fd = jd_connect(d);
	ck_assert_msg(c->fd >= 0, "cannot connect to %s", d->sock);
}

void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* One line (caller frees) within timeout_ms; NULL on timeout or EOF. */
char *
conn_line(struct conn *c, int timeout_ms)
{
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			char *line = strndup(c->buf, n);
			ck_assert_ptr_nonnull(line);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (c->eof)
			return NULL;
		int left = (int)((deadline - jd_now()) * 1000);
		if (left <= 0)
			return NULL;
		struct pollfd p = {c->fd, POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			continue;
		if (c->cap - c->len < 65536) {
			c->cap = c->cap * 2 + 65536;
			c->buf = realloc(c->buf, c->cap);
			ck_assert_ptr_nonnull(c->buf);
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			c->eof = true;
		else
			c->len += (size_t)r;
	}
}

bool
conn_send(struct conn *c, const json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	ck_assert_ptr_nonnull(s);
	size_t n = strlen(s);
	s = realloc(s, n + 2);
	ck_assert_ptr_nonnull(s);
	s[n] = '\n';
	bool ok = jd_write(c->fd, s, n + 1);
	free(s);
	return ok;
}

/* Sends req (stolen; it must carry an integer "id") and returns the
 * response with that id (new ref), skipping events; NULL when none came
 * within timeout_ms. */
static json_t *
conn_call(struct conn *c, json_t *req, int timeout_ms)
{
	json_int_t id = jd_num(req, "id");
	bool sent = conn_send(c, req);
	json_decref(req);
	if (!sent)
		return NULL;
	double deadline = jd_now() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - jd_now()) * 1000);
		char *line = conn_line(c, left > 0 ? left : 0);
		if (line == NULL)
			return NULL;
		json_t *resp = json_loads(line, 0, NULL);
		ck_assert_msg(resp != NULL, "response is not JSON: %s", line);
		free(line);
		if (json_object_get(resp, "event") == NULL &&
		    jd_num(resp, "id") == id)
			return resp;
		json_decref(resp);
	}
}

/* ---- processes ---- */

/* Polls until no process but skip carries marker (timeout_s); what gets
 * a survivor when it returns false. */
bool
wait_no_procs(const char *marker, pid_t skip, double timeout_s, char *what,
	      size_t wn)
{
	double deadline = jd_now() + timeout_s;
	for (;;) {
		if (jd_procs_with(marker, skip, what, wn) == 0)
			return true;
		if (jd_now() >= deadline)
			return false;
		poll(NULL, 0, 10);
	}
}

/* Starts jobd on d and arms its guard (jd_guard) the first time. */
void
start(struct jd *d)
{
	static char armed[sizeof(d->dir)];
	if (strcmp(armed, d->dir) != 0) {
		jd_guard(d->dir);
		snprintf(armed, sizeof(armed), "%s", d->dir);
	}
	drop_harness_fd(d);
	jd_start(d, NULL);
}

/* A link to sleep(1) inside the test directory: a job that runs it is
 * recognisable in /proc by its command line. */
char *
make_msleep(const struct jd *d)
{
	char *p = jd_path(d, "msleep");
	ck_assert_int_eq(symlink("/bin/sleep", p), 0);
	return p;
}

static void
setup(void)
{
	memset(&jd, 0, sizeof(jd));
	jd.fd = -1;
}

static void
teardown(void)
{
	if (jd.dir[0])
		jd_free(&jd);
	memset(&jd, 0, sizeof(jd));
}

TCase *
durability_tcase(const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

/* ---- 2. shutdown ---- */

START_TEST(durability_shutdown_waits_for_running_job)
{
	jd_init(&jd, "[daemon]\nshutdown_timeout = 5\n");
	char *msleep = make_msleep(&jd);
	start(&jd);
	int64_t id =
		jd_submit(&jd, json_pack("{s:[s,s]}", "argv", msleep, "0.5"));
	ck_assert(jd_poll_state(&jd, id, "running", 10));
	double t0 = jd_now();
	ck_assert_int_eq(jd_stop(&jd), 0);
	ck_assert_msg(jd_now() - t0 < 4.5, "the drain took %.2f s",
		      jd_now() - t0);
	ck_assert_msg(!jd_exists(jd.sock), "socket left behind");
	start(&jd);
	json_t *j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_is_null(json_object_get(j, "reason")));
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	ck_assert_int_eq(jd_num(j, "exit_code"), 0);
	json_decref(j);
	free(msleep);
}
END_TEST

START_TEST(durability_shutdown_timeout_interrupts_job)
{
	jd_init(&jd, "[daemon]\nshutdown_timeout = 0.5\nkill_grace = 0.5\n");
	char *msleep = make_msleep(&jd);
	char *flag = jd_path(&jd, "flag");
	char sh[1200];
	snprintf(sh, sizeof(sh),
		 "if [ -f %s ]; then exit 0; fi; touch %s; %s 30", flag, flag,
		 msleep);
	start(&jd);
	int64_t id = jd_submit(&jd, json_pack("{s:s}", "shell", sh));
	ck_assert(jd_poll_state(&jd, id, "running", 10));
	double deadline = jd_now() + 10;
	while (!jd_exists(flag) && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert(jd_exists(flag));
	/* Paused (kept across the restart), so the job is seen queued. */
	jd_queue_cmd(&jd, "queue.pause", "default");
	double t0 = jd_now();
	ck_assert_int_eq(jd_stop(&jd), 0);
	double took = jd_now() - t0;
	ck_assert_msg(took < 2.0, "exit took %.2f s", took);
	ck_assert_msg(!jd_exists(jd.sock), "socket left behind");
	char what[4200];
	ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
		      "the job survived the shutdown: %s", what);
	start(&jd);
	json_t *j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "interrupted");
	ck_assert_int_eq(jd_num(j, "attempt"), 0);
	ck_assert_int_eq(jd_num(j, "recoveries"), 0);
	json_decref(j);
	jd_queue_cmd(&jd, "queue.resume", "default");
	j = jd_wait(&jd, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	json_decref(j);
	free(flag);
	free(msleep);
}
END_TEST

START_TEST(durability_shutdown_drain_and_second_signal)
{
	jd_init(&jd, "[daemon]\nshutdown_timeout = 30\nkill_grace = 1\n");
	char *msleep = make_msleep(&jd);
	start(&jd);
	int64_t id =
		jd_submit(&jd, json_pack("{s:[s,s]}", "argv", msleep, "30"));
	ck_assert(jd_poll_state(&jd, id, "running", 10));
	jd_queue_cmd(&jd, "queue.pause", "default");
	struct conn rd, w;
	conn_open(&rd, &jd);
	conn_open(&w, &jd);
	json_t *r = conn_call(
		&w, json_pack("{s:i,s:s}", "id", 1, "cmd", "watch"), 5000);
	ck_assert_ptr_nonnull(r);
	jd_ok(r);
	json_decref(r);

	ck_assert_int_eq(kill(jd.pid, SIGTERM), 0);
	bool stopping = false;
	double deadline = jd_now() + 10;
	while (!stopping && jd_now() < deadline) {
		char *line = conn_line(&w, 200);
		json_t *ev = line ? json_loads(line, 0, NULL) : NULL;
		stopping = strcmp(jd_str(ev, "event"), "daemon.stopping") == 0;
		json_decref(ev);
		free(line);
	}
	ck_assert_msg(stopping, "no daemon.stopping event on the watch");

	/* Draining: writes refused, reads answered. */
	r = conn_call(&rd,
		      json_pack("{s:i,s:s,s:{s:[s]}}", "id", 2, "cmd", "submit",
				"job", "argv", "true"),
		      5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(jd_err(r), "shutting_down");
	json_decref(r);
	r = conn_call(&rd,
		      json_pack("{s:i,s:s,s:I}", "id", 3, "cmd", "get",
				"job_id", (json_int_t)id),
		      5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(jd_str(json_object_get(jd_ok(r), "job"), "state"),
			 "running");
	json_decref(r);
	r = conn_call(&rd, json_pack("{s:i,s:s}", "id", 4, "cmd", "list"),
		      5000);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(json_array_size(json_object_get(jd_ok(r), "jobs")), 1);
	json_decref(r);
	r = conn_call(&rd, json_pack("{s:i,s:s}", "id", 5, "cmd", "ping"),
		      5000);
	ck_assert_ptr_nonnull(r);
	jd_ok(r);
	json_decref(r);
	ck_assert_msg(jd_alive(&jd), "jobd did not wait for the job");

	double t0 = jd_now();
	ck_assert_int_eq(kill(jd.pid, SIGTERM), 0);
	int rc = reap_within(&jd, 10);
	double took = jd_now() - t0;
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(took < 2.0, "second SIGTERM: exit took %.2f s", took);
	ck_assert_msg(!jd_exists(jd.sock), "socket left behind");
	char what[4200];
	ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
		      "the job survived the shutdown: %s", what);
	conn_close(&rd);
	conn_close(&w);

	start(&jd);
	json_t *j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "interrupted");
	ck_assert_int_eq(jd_num(j, "attempt"), 0);
	json_decref(j);
	free(msleep);
}
END_TEST

START_TEST(durability_shutdown_command_now)
{
	jd_init(&jd, "[daemon]\nshutdown_timeout = 30\nkill_grace = 1\n");
	char *msleep = make_msleep(&jd);
	start(&jd);
	int64_t id =
		jd_submit(&jd, json_pack("{s:[s,s]}", "argv", msleep, "30"));
	ck_assert(jd_poll_state(&jd, id, "running", 10));
	jd_queue_cmd(&jd, "queue.pause", "default");
	double t0 = jd_now();
	json_t *r = jd_req(&jd, "{s:s,s:b}", "cmd", "shutdown", "now", 1);
	jd_ok(r);
	json_decref(r);
	int rc = reap_within(&jd, 10);
	double took = jd_now() - t0;
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(took < 2.0, "shutdown now: exit took %.2f s", took);
	ck_assert_msg(!jd_exists(jd.sock), "socket left behind");
	char what[4200];
	ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
		      "the job survived the shutdown: %s", what);
	start(&jd);
	json_t *j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "interrupted");
	ck_assert_int_eq(jd_num(j, "attempt"), 0);
	json_decref(j);
	free(msleep);
}
END_TEST

/* ---- 3. recovery ---- */

START_TEST(durability_recovery_after_kill9_and_limit)
{
	jd_init(&jd, "[queue default]\nconcurrency = 1\nmax_attempts = 1\n");
	char *msleep = make_msleep(&jd);
	char what[4200];
	start(&jd);
	int64_t id =
		jd_submit(&jd, json_pack("{s:[s,s]}", "argv", msleep, "30"));
	json_t *j = jd_poll_job(&jd, id, "running", 0, 10);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	json_decref(j);

	/* Crash 1, with the queue paused so the recovered job stays put. */
	jd_queue_cmd(&jd, "queue.pause", "default");
	double deadline = jd_now() + 10;
	while (jd_procs_with(msleep, 0, NULL, 0) == 0 && jd_now() < deadline)
		poll(NULL, 0, 10);
	jd_kill9(&jd);
	ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
		      "the job outlived the killed jobd: %s", what);
	start(&jd);
	j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "recovered");
	ck_assert_int_eq(jd_num(j, "recoveries"), 1);
	ck_assert_int_eq(jd_num(j, "attempt"), 0);
	json_decref(j);
	jd_queue_cmd(&jd, "queue.resume", "default");
	j = jd_poll_job(&jd, id, "running", 1, 10);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	json_decref(j);

	/* Crashes 2 and 3: back to running each time, attempt still 1. */
	for (int n = 2; n <= 3; n++) {
		deadline = jd_now() + 10;
		while (jd_procs_with(msleep, 0, NULL, 0) == 0 &&
		       jd_now() < deadline)
			poll(NULL, 0, 10);
		jd_kill9(&jd);
		ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
			      "the job outlived the killed jobd: %s", what);
		start(&jd);
		j = jd_poll_job(&jd, id, "running", n, 10);
		ck_assert_msg(j != NULL, "not running again after crash %d", n);
		ck_assert_int_eq(jd_num(j, "attempt"), 1);
		json_decref(j);
	}

	/* Crash 4: recovered more than 3 times, the job fails. */
	deadline = jd_now() + 10;
	while (jd_procs_with(msleep, 0, NULL, 0) == 0 && jd_now() < deadline)
		poll(NULL, 0, 10);
	jd_kill9(&jd);
	ck_assert_msg(wait_no_procs(msleep, 0, 2.0, what, sizeof(what)),
		      "the job outlived the killed jobd: %s", what);
	start(&jd);
	j = jd_wait(&jd, id, 5);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "recovery_limit");
	ck_assert_int_eq(jd_num(j, "recoveries"), 4);
	ck_assert(json_is_string(json_object_get(j, "finished_at")));
	json_decref(j);
	ck_assert_int_eq(jd_procs_with(msleep, 0, NULL, 0), 0);
	free(msleep);
}
END_TEST

/* ---- 4. reload and SIGPIPE ---- */

START_TEST(durability_reload_sighup_applies)
{
	jd_init(&jd, "[queue default]\nconcurrency = 1\n");
	start(&jd);
	const char *err;
	json_t *q = jd_queue_get(&jd, "default", &err);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(jd_num(q, "concurrency"), 1);
	json_decref(q);
	ck_assert_ptr_null(jd_queue_get(&jd, "x", &err));
	ck_assert_str_eq(err, "unknown_queue");

	jd_write_file(jd.conf, "[queue default]\nconcurrency = 3\n\n"
			       "[queue x]\nconcurrency = 2\n");
	ck_assert_int_eq(kill(jd.pid, SIGHUP), 0);
	double deadline = jd_now() + 10;
	int conc = 0;
	while (conc != 3 && jd_now() < deadline) {
		q = jd_queue_get(&jd, "default", NULL);
		conc = (int)jd_num(q, "concurrency");
		json_decref(q);
		if (conc != 3)
			poll(NULL, 0, 10);
	}
	ck_assert_int_eq(conc, 3);
	q = jd_queue_get(&jd, "x", &err);
	ck_assert_msg(q != NULL, "queue x after reload: %s", err);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	json_decref(q);

	/* Three jobs that succeed only when all three run at once. */
	char *bar = jd_path(&jd, "bar");
	ck_assert_int_eq(mkdir(bar, 0755), 0);
	char sh[1200];
	snprintf(sh, sizeof(sh),
		 "touch %s/$JOBD_JOB_ID; i=0; while [ $(ls %s | wc -l) -lt 3 ] "
		 "&& [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
		 "[ $(ls %s | wc -l) -ge 3 ]",
		 bar, bar, bar);
	int64_t ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = jd_submit(&jd, json_pack("{s:s}", "shell", sh));
	for (int i = 0; i < 3; i++) {
		json_t *j = jd_wait(&jd, ids[i], 20);
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
			      "job %d did not run alongside the others", i);
		json_decref(j);
	}
	free(bar);
}
END_TEST

START_TEST(durability_reload_bad_config_refused)
{
	jd_init(&jd, "[queue default]\nconcurrency = 2\n");
	start(&jd);
	/* The first section alone is valid: nothing of it may be applied. */
	jd_write_file(jd.conf,
		      "[queue default]\nconcurrency = 5\n[queue broken\n");
	ck_assert_int_eq(kill(jd.pid, SIGHUP), 0);
	double deadline = jd_now() + 10;
	char *log = NULL;
	for (;;) {
		free(log);
		log = jd_slurp(jd.log);
		if (log && strstr(log, "refused"))
			break;
		ck_assert_msg(jd_now() < deadline,
			      "no reload refusal in the log: %s",
			      log ? log : "");
		poll(NULL, 0, 10);
	}
	ck_assert_msg(strstr(log, "section header") != NULL ||
			      strstr(log, ":3") != NULL,
		      "the log does not say what is wrong: %s", log);
	free(log);
	ck_assert(jd_alive(&jd));
	json_t *q = jd_queue_get(&jd, "default", NULL);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(jd_num(q, "concurrency"), 2);
	json_decref(q);

	json_t *r = jd_req(&jd, "{s:s}", "cmd", "reload");
	ck_assert(!json_is_true(json_object_get(r, "ok")));
	ck_assert_str_ne(jd_err(r), "");
	ck_assert_str_ne(jd_str(json_object_get(r, "error"), "message"), "");
	json_decref(r);
	ck_assert(jd_alive(&jd));
	r = jd_req(&jd, "{s:s}", "cmd", "ping");
	jd_ok(r);
	json_decref(r);

	/* Fixed, the same command applies it. */
	jd_write_file(jd.conf, "[queue default]\nconcurrency = 4\n");
	r = jd_req(&jd, "{s:s}", "cmd", "reload");
	jd_ok(r);
	json_decref(r);
	q = jd_queue_get(&jd, "default", NULL);
	ck_assert_int_eq(jd_num(q, "concurrency"), 4);
	json_decref(q);
}
END_TEST

START_TEST(durability_sigpipe_does_not_kill)
{
	jd_init(&jd, "[queue default]\nconcurrency = 1\n");
	start(&jd);
	jd_queue_cmd(&jd, "queue.pause", "default");
	/* Enough jobs with long names that a list outgrows the socket
	 * buffers, so the daemon is still writing when the peer is gone. */
	char name[257];
	memset(name, 'n', 256);
	name[256] = '\0';
	json_t *jobs = json_array();
	for (int i = 0; i < 500; i++)
		json_array_append_new(jobs, json_pack("{s:[s],s:s}", "argv",
						      "true", "name", name));
	json_t *r = jd_req(&jd, "{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	jd_ok(r);
	json_decref(r);
	static const char req[] =
		"{\"id\":1,\"cmd\":\"list\",\"limit\":10000}\n";
	int i;
	for (i = 0; i < 200; i++) {
		int fd = jd_connect(&jd);
		if (fd < 0)
			break;
		bool ok = jd_write(fd, req, sizeof(req) - 1);
		if (ok && i % 2) {
			/* Close once the answer has begun: the daemon is in
			 * the middle of writing it. */
			struct pollfd p = {fd, POLLIN, 0};
			char b;
			ok = poll(&p, 1, 10000) == 1 && recv(fd, &b, 1, 0) == 1;
		}
		close(fd);
		if (!ok)
			break;
	}
	if (i < 200) {
		reap_within(&jd, 2);
		char *log = jd_slurp(jd.log);
		ck_abort_msg("jobd died after %d clients closed before reading "
			     "their answer; its log: %s",
			     i, log ? log : "");
	}
	r = jd_req(&jd, "{s:s}", "cmd", "ping");
	jd_ok(r);
	json_decref(r);
	ck_assert(jd_alive(&jd));
	r = jd_req(&jd, "{s:s,s:i}", "cmd", "list", "limit", 10000);
	ck_assert_int_eq(json_array_size(json_object_get(jd_ok(r), "jobs")),
			 500);
	json_decref(r);
	ck_assert_int_eq(jd_stop(&jd), 0);
}
END_TEST

/* ---- 5. group commit ---- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

START_TEST(durability_group_commit_concurrent_submits)
{
	enum { N = 100 };
	jd_init(&jd, "[queue default]\nconcurrency = 4\n");
	start(&jd);
	static struct conn c[N];
	int64_t ids[N];
	for (int i = 0; i < N; i++)
		conn_open(&c[i], &jd);
	/* Every request is out before any answer is read. */
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "g%d", i);
		json_t *req = json_pack("{s:i,s:s,s:{s:[s],s:s}}", "id", i,
					"cmd", "submit", "job", "argv", "true",
					"name", name);
		ck_assert(conn_send(&c[i], req));
		json_decref(req);
	}
	for (int i = 0; i < N; i++) {
		char *line = conn_line(&c[i], 20000);
		ck_assert_msg(line != NULL, "no answer on connection %d", i);
		json_t *r = json_loads(line, 0, NULL);
		ck_assert_msg(r != NULL, "not JSON: %s", line);
		ck_assert_int_eq(jd_num(r, "id"), i);
		ids[i] = jd_num(jd_ok(r), "id");
		ck_assert_int_gt(ids[i], 0);
		json_decref(r);
		free(line);
		conn_close(&c[i]);
	}
	qsort(ids, N, sizeof(ids[0]), cmp_i64);
	for (int i = 1; i < N; i++)
		ck_assert_int_ne(ids[i], ids[i - 1]);
	ck_assert_int_eq(jd_stop(&jd), 0);

	/* The database itself, read by another program. */
	char *sql = malloc(64 + N * 24);
	ck_assert_ptr_nonnull(sql);
	int n = sprintf(sql, "SELECT count(*) FROM jobs WHERE id IN (");
	for (int i = 0; i < N; i++)
		n += sprintf(sql + n, "%s%lld", i ? "," : "",
			     (long long)ids[i]);
	sprintf(sql + n, ") AND name LIKE 'g%%';");
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s/jobd.db' \"%s\" 'PRAGMA integrity_check;'",
		 jd.state, sql);
	free(sql);
	FILE *p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	char out[256] = "";
	size_t got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_str_eq(out, "100\nok\n");
}
END_TEST

/* Runs the sqlite3 shell's sql on the state directory's database; returns
 * what it printed (caller frees), failing the test when it fails. */
static char *
sqlite3_shell(const struct jd *d, const char *sql)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/jobd.db' '%s'", d->state, sql);
	FILE *p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	char out[256] = "";
	size_t got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	ck_assert_msg(pclose(p) == 0, "%s: %s", cmd, out);
	return strdup(out);
}

/* A database a newer jobd migrated is refused at start, naming its
 * version, and left as it was: with its version put back, the same jobd
 * starts on it and finds its jobs. */
START_TEST(durability_newer_schema_refused)
{
	jd_init(&jd, NULL);
	start(&jd);
	int64_t id = jd_submit(&jd, json_pack("{s:[s]}", "argv", "true"));
	json_decref(jd_wait(&jd, id, 10));
	ck_assert_int_eq(jd_stop(&jd), 0);
	char *version = sqlite3_shell(&jd, "PRAGMA user_version;");
	ck_assert_int_gt(atoi(version), 0);
	free(sqlite3_shell(&jd, "PRAGMA user_version = 99;"));

	char *errpath = jd_path(&jd, "refused.err");
	const char *const args[] = {"-c", jd.conf,  "-s", jd.sock,
				    "-d", jd.state, NULL};
	int rc = jd_run_jobd(args, errpath, 10);
	char *err = jd_slurp(errpath);
	ck_assert_msg(rc == 1, "status %d, want 1: %s", rc, err ? err : "");
	ck_assert_msg(err && strstr(err, "schema 99 is newer than this jobd"),
		      "stderr: %s", err ? err : "");
	free(err);
	free(errpath);
	char *now = sqlite3_shell(&jd, "PRAGMA user_version;");
	ck_assert_str_eq(now, "99\n");
	free(now);

	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;", atoi(version));
	free(sqlite3_shell(&jd, sql));
	free(version);
	start(&jd);
	json_t *j = jd_get(&jd, id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
}
END_TEST

Suite *
durability_suite(void)
{
	Suite *s = suite_create("durability");
	TCase *tc;

	durability_add_torture(s);

	tc = durability_tcase("shutdown", 60);
	tcase_add_test(tc, durability_shutdown_waits_for_running_job);
	tcase_add_test(tc, durability_shutdown_timeout_interrupts_job);
	tcase_add_test(tc, durability_shutdown_drain_and_second_signal);
	tcase_add_test(tc, durability_shutdown_command_now);
	suite_add_tcase(s, tc);

	tc = durability_tcase("recovery", 60);
	tcase_add_test(tc, durability_recovery_after_kill9_and_limit);
	tcase_add_test(tc, durability_newer_schema_refused);
	suite_add_tcase(s, tc);

	tc = durability_tcase("reload", 60);
	tcase_add_test(tc, durability_reload_sighup_applies);
	tcase_add_test(tc, durability_reload_bad_config_refused);
	tcase_add_test(tc, durability_sigpipe_does_not_kill);
	suite_add_tcase(s, tc);

	tc = durability_tcase("commit", 60);
	tcase_add_test(tc, durability_group_commit_concurrent_submits);
	suite_add_tcase(s, tc);

	return s;
}
