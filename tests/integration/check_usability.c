/*
 * usability_suite: what a new user meets in the daemon's answers — a
 * retried job starts a fresh round (its own logs, its run fields
 * cleared), a rerun after a crash is marked in the log, a generator's
 * stderr is logged under its producer's name and its last exit is shown.
 * Each test runs its own daemon; every wait is a poll with a deadline.
 */
#include <check.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *usability_suite(void);

#define BASE_CONF \
	"; usability_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* The data of job id's latest attempt's log (caller frees). */
static char *
log_data(struct jd *d, int64_t id)
{
	json_t *r =
		jd_req(d, "{s:s,s:I}", "cmd", "logs", "job_id", (json_int_t)id);
	char *s = strdup(jd_str(jd_ok(r), "data"));
	json_decref(r);
	return s;
}

/* Polls until job id's log holds needle (deadline s seconds). */
static bool
poll_log(struct jd *d, int64_t id, const char *needle, double s)
{
	double deadline = jd_now() + s;
	for (;;) {
		char *data = log_data(d, id);
		bool found = strstr(data, needle) != NULL;
		free(data);
		if (found || jd_now() >= deadline)
			return found;
		poll(NULL, 0, 20);
	}
}

/* ---- retry ---- */

START_TEST(usability_retry_fresh_round)
{
	struct jd *d = start(NULL);
	char *flag = jd_path(d, "flag");
	char spec[512];
	/* The first run says "first" and fails; the next says "second". */
	snprintf(spec, sizeof(spec),
		 "{\"shell\":\"if [ -e %s ]; then echo second; else touch %s;"
		 " echo first; exit 3; fi\"}",
		 flag, flag);
	free(flag);
	int64_t id = jd_submit(d, jd_json(spec));
	json_t *job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "failed");
	json_decref(job);
	char *data = log_data(d, id);
	ck_assert_str_eq(data, "first\n");
	free(data);

	/* Retried into a paused queue, the job shows no run yet. */
	jd_queue_cmd(d, "queue.pause", "default");
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "retry", "job_id",
				(json_int_t)id));
	job = jd_get(d, id);
	ck_assert_str_eq(jd_str(job, "state"), "queued");
	ck_assert_int_eq(jd_num(job, "attempt"), 0);
	const char *cleared[] = {"started_at", "finished_at", "duration",
				 "exit_code",  "rusage",      "pid"};
	for (size_t i = 0; i < sizeof(cleared) / sizeof(cleared[0]); i++) {
		json_t *v = json_object_get(job, cleared[i]);
		ck_assert_msg(v == NULL || json_is_null(v), "%s not cleared",
			      cleared[i]);
	}
	json_decref(job);

	/* Its new run has a log of its own. */
	jd_queue_cmd(d, "queue.resume", "default");
	job = jd_wait(d, id, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "attempt"), 1);
	json_decref(job);
	data = log_data(d, id);
	ck_assert_str_eq(data, "second\n");
	free(data);
}
END_TEST

/* A job that runs again after a crash has a marker line between its
 * runs. */
START_TEST(usability_rerun_marker)
{
	struct jd *d = start(NULL);
	int64_t id = jd_submit(d, jd_json("{\"shell\":\"echo one; sleep 2\"}"));
	ck_assert(poll_log(d, id, "one\n", 10));
	jd_kill9(d);
	jd_start(d, NULL);
	json_t *job = jd_wait(d, id, 15);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(jd_num(job, "recoveries"), 1);
	json_decref(job);
	char *data = log_data(d, id);
	ck_assert_msg(strstr(data, "one\n--- jobd: attempt 1 runs again") ==
				      data &&
			      strstr(data, "---\none\n") != NULL,
		      "log: %s", data);
	free(data);
}
END_TEST

/* ---- producers ---- */

START_TEST(usability_generator_stderr)
{
	struct jd *d = start(NULL);
	json_t *p = jd_json(
		"{\"name\":\"gen\",\"type\":\"command\",\"queue\":\"default\","
		"\"format\":\"lines\",\"job\":{\"argv\":[\"echo\"]},"
		"\"generator\":{\"shell\":\"echo a; echo 'cannot read "
		"the list' >&2; exit 3\"}}");
	jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "producer.create",
				"producer", p));
	double deadline = jd_now() + 10;
	json_t *pr = NULL;
	for (;;) {
		json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get",
				   "name", "gen");
		pr = json_incref(json_object_get(jd_ok(r), "producer"));
		json_decref(r);
		if (strcmp(jd_str(pr, "state"), "failed") == 0 ||
		    jd_now() > deadline)
			break;
		json_decref(pr);
		poll(NULL, 0, 20);
	}
	ck_assert_str_eq(jd_str(pr, "state"), "failed");
	ck_assert_int_eq(jd_num(pr, "produced"), 1);
	ck_assert_int_eq(jd_num(pr, "last_exit_code"), 3);
	ck_assert_str_eq(jd_str(pr, "last_error"), "cannot read the list");
	json_decref(pr);

	/* In jobd's log, the line names its producer, at warning level. */
	char *log = jd_slurp(d->log);
	ck_assert_msg(strstr(log, "warning: producer gen: generator: cannot "
				  "read the list\n") != NULL,
		      "log: %s", log);
	free(log);
}
END_TEST

/* `producer add` runs its jobs and generator where jobctl ran, with its
 * environment: relative commands work as the README's tour shows. */
START_TEST(usability_producer_takes_cwd)
{
	struct jd *d = start(NULL);
	/* The binaries' paths may be relative to where the tests started. */
	const char *vars[] = {"JOBCTL_BIN", "JOBD_BIN"};
	for (int i = 0; i < 2; i++) {
		char *abs = getenv(vars[i]) ? realpath(getenv(vars[i]), NULL)
					    : NULL;
		if (abs != NULL)
			setenv(vars[i], abs, 1);
		free(abs);
	}
	ck_assert_int_eq(chdir(d->dir), 0);
	jd_write_file("list", "a\nb\n");
	jd_write_file("thumb", "#!/bin/sh\necho \"$1 $GREETING\" >> out\n");
	ck_assert_int_eq(chmod("thumb", 0755), 0);
	setenv("GREETING", "hello", 1);
	char *err = NULL;
	int st = jd_jobctl(d, NULL, NULL, &err, "producer", "add", "thumbs",
			   "--type", "command", "--generator", "cat list",
			   "--format", "lines", "--", "./thumb", NULL);
	unsetenv("GREETING");
	ck_assert_msg(st == 0, "producer add: %d %s", st, err);
	free(err);
	double deadline = jd_now() + 10;
	while (jd_count_lines("out") < 2 && jd_now() < deadline)
		poll(NULL, 0, 20);
	char *out = jd_slurp("out");
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "a hello\n") && strstr(out, "b hello\n"),
		      "out: %s", out);
	free(out);
}
END_TEST

/* ---- reaching jobd ---- */

/* Runs jobctl (as uid when uid > 0) with args; *err gets its stderr. */
static int
jobctl_as(uid_t uid, char **err, const char *const *args)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (uid > 0 && (setgroups(0, NULL) != 0 || setgid(uid) != 0 ||
				setuid(uid) != 0))
			_exit(126);
		const char *bin = getenv("JOBCTL_BIN");
		/* execv takes char *const[]: the strings are not written. */
		size_t n = 0;
		while (args[n] != NULL)
			n++;
		char **v = calloc(n + 1, sizeof(*v));
		for (size_t i = 0; i < n; i++)
			v[i] = strdup(args[i]);
		execv(bin ? bin : "build/jobctl", v);
		_exit(127);
	}
	close(pfd[1]);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(pfd[0], buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 >= cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	close(pfd[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	*err = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A failed connect says what is wrong and what to do. */
START_TEST(usability_connect_errors_explain)
{
	struct jd *d = start(NULL);
	char *err;
	/* A directory is not a socket. */
	const char *a1[] = {"jobctl", "-s", d->dir, "ping", NULL};
	ck_assert_int_eq(jobctl_as(0, &err, a1), 3);
	ck_assert_msg(strstr(err, "not a socket") && !strstr(err, "refused"),
		      "%s", err);
	free(err);
	/* Nothing there: is jobd running? */
	char *none = jd_path(d, "none.sock");
	const char *a2[] = {"jobctl", "-s", none, "ping", NULL};
	ck_assert_int_eq(jobctl_as(0, &err, a2), 3);
	ck_assert_msg(strstr(err, "is jobd running?"), "%s", err);
	free(err);
	free(none);
	/* A socket of a group the caller is not in names the group. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(d->dir, 0755), 0);
		ck_assert_int_eq(chmod(d->sock, 0660), 0);
		const char *a3[] = {"jobctl", "-s", d->sock, "ping", NULL};
		ck_assert_int_eq(jobctl_as(65534, &err, a3), 3);
		ck_assert_msg(strstr(err, "group"), "%s", err);
		free(err);
	}
}
END_TEST

/* top, when jobd stops under it, says the connection closed (it used to
 * end with "Broken pipe"). */
START_TEST(usability_top_when_jobd_stops)
{
	struct jd *d = start(NULL);
	int master;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("TERM", "xterm", 1);
		const char *bin = getenv("JOBCTL_BIN");
		execl(bin ? bin : "build/jobctl", "jobctl", "-s", d->sock,
		      "top", (char *)NULL);
		_exit(127);
	}
	char buf[65536];
	size_t len = 0;
	bool stopped = false;
	double end = jd_now() + 20;
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		int left = (int)((end - jd_now()) * 1000);
		ck_assert_msg(left > 0, "top did not end: %.*s", (int)len, buf);
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break; /* EIO once top has gone */
		len += (size_t)n;
		buf[len] = '\0';
		if (len > sizeof(buf) / 2) {
			/* Keep the tail: the end is what matters. */
			memmove(buf, buf + len - 1024, 1024);
			len = 1024;
		}
		/* The first frame is up: stop jobd under it. */
		if (!stopped && strstr(buf, "QUEUE") != NULL) {
			ck_assert_int_eq(jd_stop(d), 0);
			stopped = true;
		}
	}
	buf[len] = '\0';
	close(master);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(stopped);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 3);
	ck_assert_msg(strstr(buf, "closed by jobd") &&
			      !strstr(buf, "Broken pipe"),
		      "top ended with: %s", buf);
}
END_TEST

Suite *
usability_suite(void)
{
	Suite *s = suite_create("usability");
	TCase *tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, usability_retry_fresh_round);
	tcase_add_test(tc, usability_rerun_marker);
	suite_add_tcase(s, tc);

	tc = tcase_create("producers");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, usability_generator_stderr);
	tcase_add_test(tc, usability_producer_takes_cwd);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, usability_connect_errors_explain);
	tcase_add_test(tc, usability_top_when_jobd_stops);
	suite_add_tcase(s, tc);
	return s;
}
