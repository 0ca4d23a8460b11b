/*
 * Faults: a database locked by another process while jobs run, a full
 * disk (a small tmpfs where mounting is allowed, and the debug-mode fault
 * file that fails every commit), and a recovery at start that cannot
 * commit.  Each ends with an audit: jobd serving, every acknowledged job
 * present and terminal, every job run exactly once, no job `running`
 * without a process, and the counts and totals equal to a recount of the
 * store.  Every wait has a deadline.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *faults_suite(void);

#define BASE_CONF                                                          \
	"; faults_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"[queue default]\nconcurrency = 4\n"

/* The acknowledged jobs of a test. */
static int64_t acked[4096];
static size_t nacked;

/* ---- requests that may go unanswered ---- */

/* Sends req (stolen) on *fd and returns the response (new ref), or NULL
 * when the connection closed or nothing came within timeout_ms; the
 * connection is then replaced by a new one. */
static json_t *
try_call(struct jd *d, int *fd, json_t *req, int timeout_ms)
{
	json_int_t id = d->next_id++;
	json_object_set_new(req, "id", json_integer(id));
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t n = strlen(s);
	s = realloc(s, n + 2);
	s[n] = '\n';
	bool sent = jd_write(*fd, s, n + 1);
	free(s);
	double deadline = jd_now() + timeout_ms / 1000.0;
	while (sent) {
		int left = (int)((deadline - jd_now()) * 1000);
		char *line = jd_read_line(*fd, left > 0 ? left : 0);
		if (line == NULL)
			break;
		json_t *resp = json_loads(line, 0, NULL);
		free(line);
		json_t *rid = json_object_get(resp, "id");
		if (resp != NULL && json_is_integer(rid) &&
		    json_integer_value(rid) == id)
			return resp;
		json_decref(resp);
	}
	close(*fd);
	*fd = jd_connect(d);
	ck_assert_int_ge(*fd, 0);
	return NULL;
}

/* Submits one job that appends its id to runs; records the id when the
 * submit was acknowledged.  Returns true when it was. */
static bool
submit_job(struct jd *d, int *fd, const char *runs, double secs,
	   const char *name)
{
	char sh[512];
	snprintf(sh, sizeof(sh), "echo $JOBD_JOB_ID >> %s; sleep %.2f", runs,
		 secs);
	json_t *r = try_call(d, fd,
			     json_pack("{s:s,s:{s:s,s:s}}", "cmd", "submit",
				       "job", "shell", sh, "name", name),
			     10000);
	bool ok = r != NULL && json_is_true(json_object_get(r, "ok"));
	if (ok) {
		ck_assert_uint_lt(nacked, sizeof(acked) / sizeof(acked[0]));
		acked[nacked++] = jd_num(json_object_get(r, "result"), "id");
	}
	json_decref(r);
	return ok;
}

/* A ping on fd: its latency in ms, or -1 when it went unanswered. */
static double
ping_ms(struct jd *d, int *fd)
{
	double t0 = jd_now();
	json_t *r = try_call(d, fd, json_pack("{s:s}", "cmd", "ping"), 5000);
	bool ok = r != NULL && json_is_true(json_object_get(r, "ok"));
	json_decref(r);
	return ok ? (jd_now() - t0) * 1000.0 : -1;
}

/* ---- the audit ---- */

static int
count_in(const int64_t *ids, size_t n, int64_t id)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += ids[i] == id;
	return c;
}

/* Checks what every fault test ends with. */
static void
audit(struct jd *d, const char *runs)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	/* jobd serves, and `wait` on every acknowledged job returns. */
	ck_assert_msg(ping_ms(d, &fd) >= 0, "jobd does not answer ping");
	json_t *ids = json_array();
	for (size_t i = 0; i < nacked; i++)
		json_array_append_new(ids, json_integer(acked[i]));
	json_t *w = try_call(d, &fd,
			     json_pack("{s:s,s:o,s:i}", "cmd", "wait",
				       "job_ids", ids, "timeout", 60),
			     70000);
	ck_assert_msg(w != NULL && json_is_true(json_object_get(w, "ok")),
		      "wait on the acknowledged jobs did not return them");
	json_t *jobs = json_object_get(json_object_get(w, "result"), "jobs");
	ck_assert_uint_eq(json_array_size(jobs), nacked);
	size_t i;
	json_t *j;
	json_array_foreach (jobs, i, j) {
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
			      "job %lld is %s", (long long)jd_num(j, "id"),
			      jd_str(j, "state"));
	}
	json_decref(w);

	/* Every job in the store: terminal, and run exactly once. */
	char *text = jd_slurp(runs);
	int64_t ran[8192];
	size_t nran = 0;
	for (char *p = text; p && *p;) {
		ck_assert_uint_lt(nran, sizeof(ran) / sizeof(ran[0]));
		ran[nran++] = strtoll(p, &p, 10);
		while (*p == '\n')
			p++;
	}
	free(text);
	json_t *l = try_call(
		d, &fd, json_pack("{s:s,s:i}", "cmd", "list", "limit", 10000),
		10000);
	ck_assert_ptr_nonnull(l);
	json_t *all = json_object_get(jd_ok(l), "jobs");
	int64_t by_state[16] = {0};
	const char *names[] = {"waiting",   "scheduled", "queued",    "running",
			       "succeeded", "failed",	 "cancelled", NULL};
	json_array_foreach (all, i, j) {
		int64_t id = jd_num(j, "id");
		const char *st = jd_str(j, "state");
		ck_assert_msg(strcmp(st, "running") != 0,
			      "job %lld left running", (long long)id);
		ck_assert_msg(count_in(ran, nran, id) == 1,
			      "job %lld ran %d times", (long long)id,
			      count_in(ran, nran, id));
		for (int s = 0; names[s]; s++)
			if (strcmp(st, names[s]) == 0)
				by_state[s]++;
	}
	for (size_t k = 0; k < nacked; k++) {
		bool found = false;
		json_array_foreach (all, i, j)
			found |= jd_num(j, "id") == acked[k];
		ck_assert_msg(found, "acknowledged job %lld is missing",
			      (long long)acked[k]);
	}
	for (size_t k = 0; k < nran; k++) {
		bool found = false;
		json_array_foreach (all, i, j)
			found |= jd_num(j, "id") == ran[k];
		ck_assert_msg(found, "job %lld ran but is not stored",
			      (long long)ran[k]);
	}
	size_t nall = json_array_size(all);

	/* Counts and totals equal a recount of the store. */
	json_t *q = try_call(
		d, &fd,
		json_pack("{s:s,s:s}", "cmd", "queue.get", "name", "default"),
		10000);
	ck_assert_ptr_nonnull(q);
	json_t *counts =
		json_object_get(json_object_get(jd_ok(q), "queue"), "counts");
	json_t *st =
		try_call(d, &fd, json_pack("{s:s}", "cmd", "stats"), 10000);
	ck_assert_ptr_nonnull(st);
	json_t *sj = json_object_get(jd_ok(st), "jobs");
	json_t *tot = json_object_get(jd_ok(st), "totals");
	for (int s = 0; names[s]; s++) {
		ck_assert_msg(jd_num(counts, names[s]) == by_state[s],
			      "queue count %s: %lld, store %lld", names[s],
			      (long long)jd_num(counts, names[s]),
			      (long long)by_state[s]);
		ck_assert_msg(jd_num(sj, names[s]) == by_state[s],
			      "stats jobs.%s: %lld, store %lld", names[s],
			      (long long)jd_num(sj, names[s]),
			      (long long)by_state[s]);
	}
	ck_assert_msg((size_t)jd_num(tot, "submitted") == nall,
		      "totals.submitted %lld, store %zu",
		      (long long)jd_num(tot, "submitted"), nall);
	ck_assert_msg(jd_num(tot, "succeeded") == by_state[4],
		      "totals.succeeded %lld, store %lld",
		      (long long)jd_num(tot, "succeeded"),
		      (long long)by_state[4]);
	ck_assert_msg((size_t)jd_num(tot, "started") == nran,
		      "totals.started %lld, runs %zu",
		      (long long)jd_num(tot, "started"), nran);
	json_decref(l);
	json_decref(q);
	json_decref(st);
	close(fd);
}

/* Waits until n jobs run (the queue's running count), within 20 s. */
static void
await_running(struct jd *d, int n)
{
	double deadline = jd_now() + 20;
	while (jd_now() < deadline) {
		json_t *q = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name",
				   "default");
		int64_t r =
			jd_num(json_object_get(jd_ok(q), "queue"), "running");
		json_decref(q);
		if (r >= n)
			return;
		poll(NULL, 0, 10);
	}
	ck_abort_msg("jobs did not start");
}

/* Stops d and checks it exited 0 on SIGTERM with no sanitizer report. */
static void
stop_clean(struct jd *d)
{
	int rc = jd_stop(d);
	char *log = jd_slurp(d->log);
	bool report = log && (strstr(log, "AddressSanitizer") ||
			      strstr(log, "runtime error") ||
			      strstr(log, "LeakSanitizer"));
	if (rc != 0 || report || getenv("JD_SHOW_LOG"))
		fprintf(stderr, "--- jobd log (%s) ---\n%s\n", d->dir,
			log ? log : "");
	free(log);
	ck_assert_msg(!report, "sanitizer report in the daemon log");
	ck_assert_msg(rc == 0, "jobd exited %d on SIGTERM", rc);
}

/* ---- a database locked by another process ---- */

START_TEST(faults_locked_database)
{
	struct jd d;
	jd_init(&d, BASE_CONF);
	jd_guard(d.dir);
	jd_start(&d, NULL);
	char *runs = jd_path(&d, "runs");
	char *locked = jd_path(&d, "locked");
	char *script = jd_path(&d, "lock.sql");
	int sfd = jd_connect(&d), pfd = jd_connect(&d);
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_ge(pfd, 0);
	nacked = 0;
	/* Jobs that end while the lock is held. */
	for (int i = 0; i < 8; i++)
		ck_assert(submit_job(&d, &sfd, runs, 0.3, "before"));
	await_running(&d, 4);
	/* A job to cancel while the lock is held. */
	jd_queue_cmd(&d, "queue.pause", "default");
	char hsh[512];
	snprintf(hsh, sizeof(hsh), "echo $JOBD_JOB_ID >> %s", runs);
	int64_t held = jd_submit(&d, json_pack("{s:s}", "shell", hsh));

	/* Another process takes the write lock and holds it for 2 s. */
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 ".timeout 5000\nBEGIN IMMEDIATE;\n"
		 "UPDATE queues SET name = name WHERE 0;\n"
		 ".system touch %s\n.system sleep 2\nCOMMIT;\n",
		 locked);
	jd_write_file(script, sql);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int in = open(script, O_RDONLY);
		int null = open("/dev/null", O_WRONLY);
		dup2(in, 0);
		dup2(null, 1);
		char db[400];
		snprintf(db, sizeof(db), "%s/jobd.db", d.state);
		execlp("sqlite3", "sqlite3", db, (char *)NULL);
		_exit(127);
	}
	double deadline = jd_now() + 10;
	while (access(locked, F_OK) != 0 && jd_now() < deadline)
		poll(NULL, 0, 5);
	ck_assert_msg(access(locked, F_OK) == 0,
		      "the sqlite3 shell did not take the lock");

	/* A cancel the store cannot take answers its error: it never says
	 * ok over a job left queued. */
	json_t *cr = jd_req(&d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			    (json_int_t)held);
	ck_assert_str_eq(jd_err(cr), "internal");
	ck_assert_msg(strstr(jd_err_msg(cr), "locked") != NULL, "%s",
		      jd_err_msg(cr));
	json_decref(cr);

	/* While locked: submits come in, jobs end, pings must stay fast. */
	double worst = 0;
	int refused = 0, pings = 0;
	int st = 0;
	deadline = jd_now() + 15;
	while (waitpid(child, &st, WNOHANG) == 0 && jd_now() < deadline) {
		double ms = ping_ms(&d, &pfd);
		ck_assert_msg(ms >= 0, "ping unanswered while locked");
		if (ms > worst)
			worst = ms;
		pings++;
		if (!submit_job(&d, &sfd, runs, 0.05, "locked"))
			refused++;
		poll(NULL, 0, 20);
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the sqlite3 shell failed (status %d)", st);
	fprintf(stderr,
		"faults_locked_database: worst ping while locked %.1f ms "
		"(%d pings), %d submits refused\n",
		worst, pings, refused);
	ck_assert_msg(worst < 500, "worst ping while locked: %.0f ms", worst);
	ck_assert_msg(refused > 0, "no submit met the lock");

	/* The job the cancel could not touch is still queued: it runs, once,
	 * as the audit checks. */
	json_t *hj = jd_get(&d, held);
	ck_assert_str_eq(jd_str(hj, "state"), "queued");
	json_decref(hj);
	jd_queue_cmd(&d, "queue.resume", "default");
	json_decref(jd_wait(&d, held, 10));

	/* After the release: more work, then the audit. */
	for (int i = 0; i < 4; i++)
		ck_assert(submit_job(&d, &sfd, runs, 0.01, "after"));
	audit(&d, runs);
	close(sfd);
	close(pfd);
	stop_clean(&d);
	free(runs);
	free(locked);
	free(script);
	jd_free(&d);
}
END_TEST

/* ---- a full disk ---- */

/* Runs the full-disk scenario: fill() makes commits fail, unfill() lets
 * them work again.  Jobs end and submits come in meanwhile. */
static void
full_disk_run(struct jd *d, void (*fill)(struct jd *),
	      void (*unfill)(struct jd *), const char *what)
{
	char *runs = jd_path(d, "runs");
	int sfd = jd_connect(d), pfd = jd_connect(d);
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_ge(pfd, 0);
	nacked = 0;
	for (int i = 0; i < 8; i++)
		ck_assert(submit_job(d, &sfd, runs, 0.3, "before"));
	await_running(d, 4);
	fill(d);
	int refused = 0;
	double until = jd_now() + 1.5;
	char name[256];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	while (jd_now() < until) {
		ck_assert_msg(ping_ms(d, &pfd) >= 0,
			      "ping unanswered while the disk is full");
		/* Long names make the WAL grow. */
		for (int k = 0; k < 20; k++)
			if (!submit_job(d, &sfd, runs, 0.01, name))
				refused++;
		poll(NULL, 0, 20);
	}
	unfill(d);
	fprintf(stderr, "%s: %d submits refused while full, %zu acked\n", what,
		refused, nacked);
	ck_assert_msg(refused > 0, "no commit failed while the disk was full");
	for (int i = 0; i < 4; i++)
		ck_assert(submit_job(d, &sfd, runs, 0.01, "after"));
	audit(d, runs);
	close(sfd);
	close(pfd);
	free(runs);
}

static void
fault_file_on(struct jd *d)
{
	char *p = jd_path(d, "disk-full");
	jd_write_file(p, "");
	free(p);
}

static void
fault_file_off(struct jd *d)
{
	char *p = jd_path(d, "disk-full");
	unlink(p);
	free(p);
}

/* Starts a daemon (debug mode) whose commits fail while the test's
 * disk-full file exists (fault_file_on / fault_file_off). */
static void
start_faultable(struct jd *d)
{
	jd_init(d, BASE_CONF);
	jd_guard(d->dir);
	char *p = jd_path(d, "disk-full");
	setenv("JOBD_TEST_DISK_FULL", p, 1);
	free(p);
	const char *args[] = {"--debug", NULL};
	jd_start(d, args);
}

START_TEST(faults_disk_full_hook)
{
	struct jd d;
	start_faultable(&d);
	full_disk_run(&d, fault_file_on, fault_file_off,
		      "faults_disk_full_hook");
	stop_clean(&d);
	jd_free(&d);
}
END_TEST

/* A submit whose commit fails is answered `internal` with the cause, on a
 * connection that stays open; a pipelined burst gets one answer per
 * request; nothing it was told is stored. */
START_TEST(faults_commit_failure_answers)
{
	struct jd d;
	start_faultable(&d);
	int fd = jd_connect(&d);
	ck_assert_int_ge(fd, 0);
	fault_file_on(&d);
	const char *burst =
		"{\"id\":1,\"cmd\":\"submit\",\"job\":{\"argv\":[\"true\"]}}\n"
		"{\"id\":2,\"cmd\":\"submit\",\"job\":{\"argv\":[\"true\"]}}\n";
	ck_assert(jd_write(fd, burst, strlen(burst)));
	for (int i = 1; i <= 2; i++) {
		char *line = jd_read_line(fd, 10000);
		ck_assert_msg(line != NULL, "submit %d: no answer", i);
		json_t *r = json_loads(line, 0, NULL);
		free(line);
		ck_assert_int_eq(jd_num(r, "id"), i);
		ck_assert_str_eq(jd_err(r), "internal");
		ck_assert_msg(strstr(jd_err_msg(r), "disk is full") != NULL,
			      "message: %s", jd_err_msg(r));
		json_decref(r);
	}
	fault_file_off(&d);
	/* The same connection goes on, and the refused jobs do not exist. */
	const char *next =
		"{\"id\":3,\"cmd\":\"submit\",\"job\":{\"argv\":[\"true\"]}}\n";
	ck_assert(jd_write(fd, next, strlen(next)));
	char *line = jd_read_line(fd, 10000);
	ck_assert_ptr_nonnull(line);
	json_t *r = json_loads(line, 0, NULL);
	free(line);
	int64_t id = jd_num(json_object_get(r, "result"), "id");
	ck_assert_int_gt(id, 0);
	json_decref(r);
	json_t *list = jd_req(&d, "{s:s}", "cmd", "list");
	ck_assert_int_eq(json_array_size(json_object_get(jd_ok(list), "jobs")),
			 1);
	json_decref(list);
	jd_close(fd);
	stop_clean(&d);
	jd_free(&d);
}
END_TEST

/* Watchers and counters see only what committed: submits whose commit
 * failed send no job.submitted and count nowhere. */
START_TEST(faults_events_follow_commits)
{
	struct jd d;
	start_faultable(&d);
	int wfd = jd_connect(&d);
	ck_assert_int_ge(wfd, 0);
	json_t *watch = jd_json("{\"cmd\":\"watch\"}");
	json_decref(jd_call_fd(&d, wfd, watch, 5000));
	json_decref(watch);
	fault_file_on(&d);
	for (int i = 0; i < 5; i++) {
		json_t *r = jd_req(&d, "{s:s,s:{s:[s]}}", "cmd", "submit",
				   "job", "argv", "true");
		ck_assert_str_eq(jd_err(r), "internal");
		json_decref(r);
	}
	fault_file_off(&d);
	int64_t id = jd_submit(&d, jd_json("{\"argv\":[\"true\"]}"));
	/* Every job.submitted up to this job's is for a job that exists:
	 * this one alone. */
	int submitted = 0;
	bool seen = false;
	double deadline = jd_now() + 10;
	while (!seen && jd_now() < deadline) {
		char *line = jd_read_line(wfd, 1000);
		if (line == NULL)
			continue;
		json_t *ev = json_loads(line, 0, NULL);
		free(line);
		if (strcmp(jd_str(ev, "event"), "job.submitted") == 0) {
			submitted++;
			seen = jd_num(json_object_get(ev, "job"), "id") == id;
		}
		json_decref(ev);
	}
	ck_assert(seen);
	ck_assert_int_eq(submitted, 1);
	json_t *st = jd_req(&d, "{s:s}", "cmd", "stats");
	json_t *res = jd_ok(st);
	ck_assert_int_eq(jd_num(json_object_get(res, "totals"), "submitted"),
			 1);
	json_int_t pending = 0;
	json_t *jobs = json_object_get(res, "jobs");
	const char *k;
	json_t *v;
	json_object_foreach (jobs, k, v)
		pending += json_integer_value(v);
	ck_assert_int_eq(pending, 1);
	json_decref(st);
	jd_close(wfd);
	stop_clean(&d);
	jd_free(&d);
}
END_TEST

/* A generator's lines read while commits fail are submitted again once
 * they can be recorded: every line makes exactly one job. */
START_TEST(faults_producer_lines_recorded)
{
	struct jd d;
	start_faultable(&d);
	char *go = jd_path(&d, "go"), *runs = jd_path(&d, "runs");
	char gen[512], job[512];
	snprintf(gen, sizeof(gen),
		 "while [ ! -e %s ]; do sleep 0.02; done; seq 1 50", go);
	snprintf(job, sizeof(job), "echo \"$1\" >> %s", runs);
	json_t *prod = json_pack(
		"{s:s,s:s,s:s,s:s,s:{s:[s,s,s,s]},s:{s:s}}", "name", "gen",
		"type", "command", "queue", "default", "format", "lines", "job",
		"argv", "/bin/sh", "-c", job, "sh", "generator", "shell", gen);
	jd_call_ok(&d, json_pack("{s:s,s:o}", "cmd", "producer.create",
				 "producer", prod));
	fault_file_on(&d);
	jd_write_file(go, "");
	/* Wait until jobd has tried and failed to record them. */
	double deadline = jd_now() + 10;
	bool tried = false;
	while (!tried && jd_now() < deadline) {
		char *log = jd_slurp(d.log);
		tried = log && strstr(log, "producer gen: jobs not recorded");
		free(log);
		if (!tried)
			poll(NULL, 0, 20);
	}
	ck_assert_msg(tried, "no failed try to record the lines");
	fault_file_off(&d);
	deadline = jd_now() + 20;
	while (jd_count_lines(runs) < 50 && jd_now() < deadline)
		poll(NULL, 0, 20);
	/* Every job has ended before the runs are counted. */
	size_t njobs = 0, done = 0;
	deadline = jd_now() + 20;
	do {
		json_t *list =
			jd_req(&d, "{s:s,s:i}", "cmd", "list", "limit", 1000);
		json_t *jobs = json_object_get(jd_ok(list), "jobs");
		njobs = json_array_size(jobs);
		done = 0;
		for (size_t i = 0; i < njobs; i++)
			done += strcmp(jd_str(json_array_get(jobs, i), "state"),
				       "succeeded") == 0;
		json_decref(list);
		if (done < 50)
			poll(NULL, 0, 20);
	} while (done < 50 && jd_now() < deadline);
	ck_assert_int_eq(njobs, 50);
	ck_assert_int_eq(done, 50);
	json_t *r =
		jd_req(&d, "{s:s,s:s}", "cmd", "producer.get", "name", "gen");
	json_t *pr = json_object_get(jd_ok(r), "producer");
	ck_assert_int_eq(jd_num(pr, "produced"), 50);
	ck_assert_int_eq(jd_num(pr, "errors"), 0);
	json_decref(r);
	char *text = jd_slurp(runs);
	ck_assert_ptr_nonnull(text);
	int seen[51] = {0};
	for (char *line = text; *line;) {
		int n = atoi(line);
		ck_assert(n >= 1 && n <= 50);
		seen[n]++;
		char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : line + strlen(line);
	}
	for (int i = 1; i <= 50; i++)
		ck_assert_msg(seen[i] == 1, "line %d ran %d times", i, seen[i]);
	free(text);
	free(go);
	free(runs);
	stop_clean(&d);
	jd_free(&d);
}
END_TEST

static void
tmpfs_fill(struct jd *d)
{
	char *p = jd_path(d, "state/filler");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	static char chunk[4096];
	while (write(fd, chunk, sizeof(chunk)) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
	free(p);
}

static void
tmpfs_unfill(struct jd *d)
{
	char *p = jd_path(d, "state/filler");
	ck_assert_int_eq(unlink(p), 0);
	free(p);
}

/* Mounts a small tmpfs on d's state directory in a mount namespace of
 * this test's own; false when that is not permitted. */
static bool
private_tmpfs(struct jd *d, const char *size)
{
	if (unshare(CLONE_NEWNS) != 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return false;
	mkdir(d->state, 0700);
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
	return mount("tmpfs", d->state, "tmpfs", 0, opts) == 0;
}

START_TEST(faults_disk_full_tmpfs)
{
	struct jd d;
	jd_init(&d, BASE_CONF);
	jd_guard(d.dir);
	if (!private_tmpfs(&d, "4m")) {
		fprintf(stderr,
			"faults_disk_full_tmpfs: skipped (cannot "
			"mount a tmpfs here: %s)\n",
			strerror(errno));
		jd_free(&d);
		return;
	}
	jd_start(&d, NULL);
	full_disk_run(&d, tmpfs_fill, tmpfs_unfill, "faults_disk_full_tmpfs");
	stop_clean(&d);
	umount2(d.state, MNT_DETACH);
	jd_free(&d);
}
END_TEST

/* ---- recovery at start that cannot commit ---- */

START_TEST(faults_recovery_cannot_commit)
{
	struct jd d;
	jd_init(&d, BASE_CONF);
	jd_guard(d.dir);
	char *fault = jd_path(&d, "disk-full");
	char *runs = jd_path(&d, "runs");
	setenv("JOBD_TEST_DISK_FULL", fault, 1);
	const char *args[] = {"--debug", NULL};
	jd_start(&d, args);
	int fd = jd_connect(&d);
	nacked = 0;
	ck_assert(submit_job(&d, &fd, runs, 30, "long"));
	close(fd);
	await_running(&d, 1);
	jd_kill9(&d);

	/* The disk is full at start: jobd must not serve. */
	jd_write_file(fault, "");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int lfd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(lfd, 2);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		const char *bin = getenv("JOBD_BIN");
		execl(bin ? bin : "build/jobd", "jobd", "-c", d.conf, "-s",
		      d.sock, "-d", d.state, "--debug", (char *)NULL);
		_exit(127);
	}
	double deadline = jd_now() + 30;
	int st = 0;
	bool exited = false, served = false;
	while (jd_now() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			exited = true;
			break;
		}
		/* Listening at all is serving. */
		int c = jd_connect(&d);
		if (c >= 0) {
			served = true;
			close(c);
		}
		poll(NULL, 0, 20);
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	char *log = jd_slurp(d.log);
	ck_assert_msg(!served, "jobd served a half-recovered state: %s",
		      log ? log : "");
	ck_assert_msg(exited && WIFEXITED(st) && WEXITSTATUS(st) != 0,
		      "jobd did not exit with an error: %s", log ? log : "");
	ck_assert_msg(log && strstr(log, "recovery") &&
			      strstr(log, "database or disk is full"),
		      "no clear error: %s", log ? log : "");
	free(log);

	/* Space again: the job is recovered once and runs to its end. */
	unlink(fault);
	jd_start(&d, args);
	json_t *j = jd_get(&d, acked[0]);
	ck_assert_int_eq(jd_num(j, "recoveries"), 1);
	json_decref(j);
	json_t *c = jd_req(&d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)acked[0]);
	jd_ok(c);
	json_decref(c);
	stop_clean(&d);
	free(fault);
	free(runs);
	jd_free(&d);
}
END_TEST

Suite *
faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, faults_locked_database);
	tcase_add_test(tc, faults_disk_full_hook);
	tcase_add_test(tc, faults_commit_failure_answers);
	tcase_add_test(tc, faults_producer_lines_recorded);
	tcase_add_test(tc, faults_events_follow_commits);
	tcase_add_test(tc, faults_disk_full_tmpfs);
	tcase_add_test(tc, faults_recovery_cannot_commit);
	suite_add_tcase(s, tc);
	return s;
}
