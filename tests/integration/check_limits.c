/*
 * limits_suite: jobd out of resources.  A running jobd's RLIMIT_NOFILE is
 * lowered (prlimit) until one job's pipe, pidfd and log fill its table,
 * and the spawner's RLIMIT_NPROC (jobs inherit the spawner's limits) is
 * lowered until the user jobs run as cannot exec more processes.  Each
 * test ends with jobd serving, every acknowledged job present and
 * succeeded with one counted attempt, every job's command run
 * exactly once (the jobs record their runs in a file that is audited), and
 * no job failed with spawn_error.  The accept loop backs off while
 * descriptors are short instead of warning every 100 ms.  Every wait has a
 * deadline.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *limits_suite(void);

#define BASE_CONF \
	"; limits_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* The one daemon of the current test. */
static struct jd D;

/* The lowest descriptor limit that leaves pid exactly free descriptors
 * (its open ones above the limit stay usable; new ones must be below). */
static rlim_t
limit_leaving(pid_t pid, int free_fds)
{
	static bool used[65536];
	char path[64];
	memset(used, 0, sizeof(used));
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd >= 0 && fd < 65536)
			used[fd] = true;
	}
	closedir(d);
	int n = 0, lim = 0;
	while (n < free_fds)
		n += !used[lim++];
	return (rlim_t)lim;
}

/* Sets the soft limit of resource res of pid to lim; returns the old
 * limits.  The hard limit stays: raising it back could need a capability
 * a container does not grant. */
static struct rlimit
set_limit(pid_t pid, int res, rlim_t lim)
{
	struct rlimit old, nl;
	ck_assert_int_eq(prlimit(pid, (__rlimit_resource_t)res, NULL, &old), 0);
	nl.rlim_cur = lim;
	nl.rlim_max = old.rlim_max;
	ck_assert_msg(prlimit(pid, (__rlimit_resource_t)res, &nl, NULL) == 0,
		      "prlimit: %s", strerror(errno));
	return old;
}

static void
restore_limit(pid_t pid, int res, const struct rlimit *old)
{
	ck_assert_msg(prlimit(pid, (__rlimit_resource_t)res, old, NULL) == 0,
		      "prlimit: %s", strerror(errno));
}

/* Lines of text that hold both a and b. */
static int
lines_with(const char *text, const char *a, const char *b)
{
	int n = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		n += strstr(line, a) && strstr(line, b);
		free(line);
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Sends ping on fd and fails unless it is answered within timeout_ms. */
static void
ping_on(struct jd *d, int fd, int timeout_ms)
{
	json_t *req = json_pack("{s:s}", "cmd", "ping");
	json_t *r = jd_call_fd(d, fd, req, timeout_ms);
	json_decref(req);
	jd_ok(r);
	json_decref(r);
}

/* Waits for every job of ids (n) to end and checks that each succeeded
 * with one counted attempt, and that runs (one line "ID" per run of a
 * job's command) names each exactly once and nothing else. */
static void
audit(struct jd *d, const int64_t *ids, int n, const char *runs)
{
	for (int i = 0; i < n; i++) {
		json_t *j = jd_wait(d, ids[i], 120);
		ck_assert_msg(j != NULL, "job %lld is gone", (long long)ids[i]);
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0 &&
				      jd_num(j, "attempt") == 1,
			      "job %lld: state %s (%s: %s), attempt %lld",
			      (long long)ids[i], jd_str(j, "state"),
			      jd_str(j, "reason"), jd_str(j, "error"),
			      (long long)jd_num(j, "attempt"));
		json_decref(j);
	}
	char *text = jd_slurp(runs);
	ck_assert_ptr_nonnull(text);
	int lines = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_msg(lines == n, "%d runs recorded for %d jobs:\n%s", lines, n,
		      text);
	for (int i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "%lld\n", (long long)ids[i]);
		int hits = 0;
		for (char *p = text; *p; p = strchr(p, '\n') + 1)
			hits += strncmp(p, want, strlen(want)) == 0;
		ck_assert_msg(hits == 1, "job %lld ran %d times",
			      (long long)ids[i], hits);
	}
	free(text);
}

/* The daemon answers ping on a new connection. */
static void
expect_serving(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	ping_on(d, fd, 20000);
	close(fd);
}

START_TEST(limits_nofile)
{
	struct jd *d = jd_test_start(
		&D, BASE_CONF, "[queue default]\nconcurrency = 8\n", NULL);
	char *runs = jd_path(d, "runs");
	/* A first job opens what jobd keeps for all of them (/dev/null for
	 * their stdin). */
	int64_t first = jd_submit(d, json_pack("{s:s}", "shell", "true"));
	json_t *j = jd_wait(d, first, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	/* Room for exactly one running job: its output and progress pipes'
	 * read ends, its pidfd and its log file (the write ends are closed
	 * once it runs), and while it starts, both pipes whole and the
	 * pidfd's slot: 5. */
	rlim_t lim5 = limit_leaving(d->pid, 5), lim4 = limit_leaving(d->pid, 4);
	struct rlimit old = set_limit(d->pid, RLIMIT_NOFILE, lim5);

	/* 1. One job fills the table for 2 s: a client that connects then
	 * waits, and jobd says so once, not every 100 ms. */
	int64_t hold = jd_submit(
		d, json_pack("{s:s}", "shell", "echo holding; exec sleep 2"));
	char *hold_log = NULL;
	if (asprintf(&hold_log, "%s/logs/%lld.1.log", d->state,
		     (long long)hold) < 0)
		abort();
	double deadline = jd_now() + 20;
	while (access(hold_log, F_OK) != 0 && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert_msg(access(hold_log, F_OK) == 0, "the job never wrote");
	free(hold_log);
	/* Running, it holds the 4 lowest: the fifth goes too. */
	set_limit(d->pid, RLIMIT_NOFILE, lim4);
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	ping_on(d, fd, 30000);
	close(fd);
	j = jd_wait(d, hold, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	char *log = jd_slurp(d->log);
	int warns = lines_with(log, "control: accept", "Too many open files");
	ck_assert_msg(
		warns >= 1 && warns <= 3,
		"%d accept warnings while descriptors ran out for 2 s:\n%s",
		warns, log);
	free(log);

	/* 2. Many jobs: one at a time fits, the others find no descriptor
	 * and go back to the queue. */
	set_limit(d->pid, RLIMIT_NOFILE, lim5);
	enum { N = 30 };
	int64_t ids[N];
	char sh[600];
	snprintf(sh, sizeof(sh),
		 "echo $JOBD_JOB_ID >> %s; echo done; exec sleep 0.05", runs);
	/* Submitted while paused, so that every worker starts at once. */
	jd_queue_cmd(d, "queue.pause", "default");
	for (int i = 0; i < N; i++)
		ids[i] = jd_submit(d, json_pack("{s:s}", "shell", sh));
	jd_queue_cmd(d, "queue.resume", "default");
	audit(d, ids, N, runs);
	log = jd_slurp(d->log);
	ck_assert_msg(strstr(log, "Too many open files): back to queued"),
		      "no spawn ever lacked a descriptor:\n%s", log);
	free(log);

	restore_limit(d->pid, RLIMIT_NOFILE, &old);
	expect_serving(d);
	free(runs);
}
END_TEST

/* Live processes of uid. */
static int
procs_of(uid_t uid)
{
	DIR *dir = opendir("/proc");
	ck_assert_ptr_nonnull(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		struct stat st;
		char path[300];
		if (atoi(e->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s", e->d_name);
		if (stat(path, &st) == 0 && st.st_uid == uid)
			n++;
	}
	closedir(dir);
	return n;
}

START_TEST(limits_nproc)
{
	/* Root is exempt from RLIMIT_NPROC: the limit is hit by the jobs'
	 * own user, when a job's exec finds its user over the limit. */
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "limits_nproc: skipped: needs root and a user "
				"nobody to run jobs as\n");
		return;
	}
	uid_t nobody = pw->pw_uid;
	struct jd *d = jd_test_start(
		&D, BASE_CONF, "[queue default]\nconcurrency = 6\n", NULL);
	char *dir = jd_path(d, "nobody");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(chown(dir, nobody, (gid_t)-1), 0);
	char *runs = jd_path(d, "nobody/runs");
	/* Two of nobody's processes at a time; the jobs never fork (the
	 * redirection is the shell's, and sleep replaces it).  The jobs get
	 * the limit from the spawner, which starts them. */
	pid_t spawner = jd_spawner_pid(d);
	ck_assert_int_gt(spawner, 0);
	struct rlimit old =
		set_limit(spawner, RLIMIT_NPROC, (rlim_t)procs_of(nobody) + 2);
	enum { N = 20 };
	int64_t ids[N];
	char sh[600];
	snprintf(sh, sizeof(sh), "echo $JOBD_JOB_ID >> %s; exec sleep 0.3",
		 runs);
	jd_queue_cmd(d, "queue.pause", "default");
	for (int i = 0; i < N; i++)
		ids[i] = jd_submit(d, json_pack("{s:s,s:s}", "shell", sh,
						"user", "nobody"));
	jd_queue_cmd(d, "queue.resume", "default");
	audit(d, ids, N, runs);
	char *log = jd_slurp(d->log);
	ck_assert_msg(strstr(log, "Resource temporarily unavailable): back "
				  "to queued"),
		      "no spawn ever hit the process limit:\n%s", log);
	free(log);
	restore_limit(spawner, RLIMIT_NPROC, &old);
	expect_serving(d);
	free(dir);
	free(runs);
}
END_TEST

Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("rlimit");
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, limits_nofile);
	tcase_add_test(tc, limits_nproc);
	suite_add_tcase(s, tc);
	return s;
}
