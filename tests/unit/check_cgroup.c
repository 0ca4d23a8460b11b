/*
 * cgroup_suite: what an attempt's cgroup files are read as (from a plain
 * directory laid out like one), a cgroup_root that is no cgroup refused or
 * fallen back from, and, as root where a cgroup2 file system is mounted, a
 * real attempt cgroup: a process in it outliving its main process is
 * killed after the grace and the cgroup removed, and a restart's reap
 * kills what a cgroup left below jobs holds.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "await.h"
#include "cgroup.h"
#include "diag.h"
#include "loop.h"
#include "loopfix.h"

Suite *cgroup_suite(void);

static char tmp[PATH_MAX];

static void
put_file(const char *name, const char *text)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
tmp_setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/jobd-cgroup-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	diag_clear();
}

static void
tmp_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(cgroup_usage_read)
{
	put_file("cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n"
			     "system_usec 500000\nnr_periods 0\n");
	put_file("memory.peak", "12345678\n");
	put_file("memory.events", "low 0\nhigh 0\nmax 7\noom 2\n"
				  "oom_kill 1\noom_group_kill 0\n");
	int dir = open(tmp, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dir, 0);
	struct cgroup_usage u;
	cgroup_usage_at(dir, &u);
	ck_assert(u.cpu_known);
	ck_assert_double_eq_tol(u.user, 2.0, 1e-9);
	ck_assert_double_eq_tol(u.system, 0.5, 1e-9);
	ck_assert_int_eq(u.memory_peak, 12345678);
	ck_assert_int_eq(u.oom_kills, 1);
	/* oom_group_kill is another key: no kill is not one. */
	put_file("memory.events", "oom 1\noom_group_kill 3\noom_kill 0\n");
	cgroup_usage_at(dir, &u);
	ck_assert_int_eq(u.oom_kills, 0);
	close(dir);
}
END_TEST

/* A cgroup without the memory controller has no memory files; a missing
 * attempt cgroup has nothing at all. */
START_TEST(cgroup_usage_unknown)
{
	put_file("cpu.stat", "usage_usec 10\nuser_usec 7\nsystem_usec 3\n");
	int dir = open(tmp, O_RDONLY | O_DIRECTORY);
	struct cgroup_usage u;
	cgroup_usage_at(dir, &u);
	ck_assert(u.cpu_known);
	ck_assert_int_eq(u.memory_peak, -1);
	ck_assert_int_eq(u.oom_kills, 0);
	close(dir);
	struct cgroup_attempt a = {.procs = NULL};
	cgroup_attempt_usage(&a, &u);
	ck_assert(!u.cpu_known);
	ck_assert_int_eq(u.memory_peak, -1);
}
END_TEST

START_TEST(cgroup_root_not_cgroup)
{
	ck_assert_int_eq(cgroup_init(tmp, true), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_msg(strncmp(diag_msg(), "cgroups = required: ", 20) == 0,
		      "message: %s", diag_msg());
	ck_assert_msg(strstr(diag_msg(), "not a cgroup2 directory") != NULL,
		      "message: %s", diag_msg());
	ck_assert(!cgroup_active());
	/* auto: process groups, and nothing applies. */
	ck_assert_int_eq(cgroup_init(tmp, false), 0);
	ck_assert(!cgroup_active());
	ck_assert_ptr_null(cgroup_jobs_dir());
	struct joblimits none = {0};
	struct cgroup_attempt a;
	ck_assert_int_eq(cgroup_attempt_open(1, 1, &none, &a), 0);
	ck_assert_ptr_null(a.procs);
	cgroup_attempt_close(&a, 0, false);
	ck_assert_int_eq(cgroup_pending(), 0);
	cgroup_shutdown(0);
}
END_TEST

/* ---- a real cgroup (root, cgroup2) ---- */

static char root[PATH_MAX];

/* Makes a fresh directory under the cgroup2 mount into root; false when
 * this is not root or there is no cgroup2 mount. */
static bool
real_root(void)
{
	if (geteuid() != 0)
		return false;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], mnt[2048] = "";
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, " - cgroup2 ") != NULL &&
		    sscanf(line, "%*s %*s %*s %*s %2047s", mnt) == 1)
			break;
	if (f != NULL)
		fclose(f);
	if (mnt[0] == '\0')
		return false;
	snprintf(root, sizeof(root), "%s/jobd-unit-%d", mnt, (int)getpid());
	return mkdir(root, 0755) == 0;
}

/* Removes what a test left below root, even after a failure: each
 * cgroup killed, then removed. */
static void
real_teardown(void)
{
	if (root[0] == '\0')
		return;
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "for c in '%s'/jobs/*/; do [ -d \"$c\" ] && "
		 "echo 1 > \"$c\"cgroup.kill; done; "
		 "for i in 1 2 3 4 5 6 7 8 9 10; do "
		 "find '%s' -depth -type d -exec rmdir {} + 2>/dev/null; "
		 "[ -d '%s' ] || break; sleep 0.1; done",
		 root, root, root);
	ck_assert_int_eq(system(cmd), 0);
	root[0] = '\0';
}

/* A child that joins the cgroup whose cgroup.procs is procs and sleeps,
 * as an attempt's leftover would; with ignore_term it ignores SIGTERM. */
static pid_t
child_in_ex(const char *procs, bool ignore_term)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* Check's handler, inherited until exec, would pass a SIGTERM
		 * on to the whole test's process group. */
		signal(SIGTERM, ignore_term ? SIG_IGN : SIG_DFL);
		int fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(2);
		close(fd);
		execlp("sleep", "sleep", "300", (char *)NULL);
		_exit(3);
	}
	return pid;
}

static pid_t
child_in(const char *procs)
{
	return child_in_ex(procs, false);
}

/* True when pid runs sleep, its exec done. */
static bool
runs_sleep(pid_t pid)
{
	char p[64], comm[32] = "";
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(p, "r");
	if (f == NULL)
		return false;
	bool yes = fgets(comm, sizeof(comm), f) != NULL &&
		   strcmp(comm, "sleep\n") == 0;
	fclose(f);
	return yes;
}

/* True once pid is listed in ROOT/jobs/name/cgroup.procs and has exec'd
 * sleep, within 10 s.  The child forked under Valgrind on a loaded
 * machine may take seconds to get there, and a signal sent while
 * Valgrind execs it may stay blocked in sleep: the tests signal it only
 * once it runs sleep. */
static bool
joined(const char *name, pid_t pid)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/jobs/%s/cgroup.procs", root, name);
	double until = loopfix_mono() + 10;
	while (loopfix_mono() < until) {
		FILE *f = fopen(p, "r");
		long got = 0;
		if (f != NULL) {
			if (fscanf(f, "%ld", &got) != 1)
				got = 0;
			fclose(f);
		}
		if (got == pid && runs_sleep(pid))
			return true;
		usleep(5000);
	}
	return false;
}

/* True once pid has exited (reaped here) before timeout_s. */
static bool
exited_within(pid_t pid, double timeout_s)
{
	double until = loopfix_mono() + timeout_s;
	do {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return true;
		usleep(5000);
	} while (loopfix_mono() < until);
	return false;
}

struct leftover_run {
	pid_t pid;
	double ended_at, killed_at;
	bool alive_in_grace;
};

static void
leftover_f(void *arg)
{
	struct leftover_run *r = arg;
	struct joblimits none = {0};
	struct cgroup_attempt a;
	CO_EXPECT(cgroup_attempt_open(42, 3, &none, &a) == 0);
	CO_EXPECT(strcmp(a.name, "42.3") == 0);
	r->pid = child_in(a.procs);
	CO_EXPECT(joined("42.3", r->pid));
	/* The "main process" ended: the child is left over. */
	r->ended_at = loopfix_mono();
	cgroup_attempt_close(&a, 0.3, false);
	CO_EXPECT(a.procs == NULL);
	CO_EXPECT(cgroup_pending() == 1);
	/* SIGTERM went at once; sleep dies of it, so the grace is moot. */
	while (cgroup_pending() > 0 && loopfix_mono() < r->ended_at + 5) {
		await_sleep(0.02);
	}
	r->killed_at = loopfix_mono();
}

START_TEST(cgroup_leftover_killed_and_removed)
{
	if (!real_root()) {
		printf("cgroup_leftover_killed_and_removed: needs root and "
		       "cgroup2, skipped\n");
		return;
	}
	loopfix_setup();
	ck_assert_int_eq(cgroup_init(root, true), 1);
	ck_assert(cgroup_active());
	struct leftover_run r = {0};
	ck_assert_msg(loopfix_ok(leftover_f, &r), "%s", loopfix_failure());
	ck_assert_msg(exited_within(r.pid, 5), "leftover %d still runs",
		      (int)r.pid);
	ck_assert_int_eq(cgroup_pending(), 0);
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/jobs/42.3", root);
	ck_assert_int_eq(access(p, F_OK), -1);
	cgroup_shutdown(0);
	loopfix_teardown();
}
END_TEST

struct rerun {
	pid_t first, second;
	bool first_alive, second_alive;
	char second_name[48];
};

/* A retried job runs attempt 1 again while the first run's cgroup
 * lingers: the new run gets a cgroup of its own (5.1.2), the lingering
 * run goes on, and neither's deadline reaches the other. */
static void
rerun_f(void *arg)
{
	struct rerun *r = arg;
	struct joblimits none = {0};
	struct cgroup_attempt a, b;
	CO_EXPECT(cgroup_attempt_open(5, 1, &none, &a) == 0);
	r->first = child_in(a.procs);
	CO_EXPECT(joined("5.1", r->first));
	cgroup_attempt_close(&a, 0.1, true);
	CO_EXPECT(cgroup_pending() == 1);
	CO_EXPECT(cgroup_attempt_open(5, 1, &none, &b) == 0);
	snprintf(r->second_name, sizeof(r->second_name), "%s", b.name);
	r->second = child_in(b.procs);
	CO_EXPECT(joined(b.name, r->second));
	/* Past the first run's grace, with the sweep running. */
	await_sleep(0.6);
	r->first_alive = kill(r->first, 0) == 0;
	r->second_alive = kill(r->second, 0) == 0;
	cgroup_attempt_kill(&b);
	cgroup_attempt_close(&b, 0.1, false);
	while (cgroup_pending() > 1)
		await_sleep(0.02);
}

START_TEST(cgroup_rerun_beside_lingering)
{
	if (!real_root()) {
		printf("cgroup_rerun_beside_lingering: needs root and "
		       "cgroup2, skipped\n");
		return;
	}
	loopfix_setup();
	ck_assert_int_eq(cgroup_init(root, true), 1);
	struct rerun r = {0};
	ck_assert_msg(loopfix_ok(rerun_f, &r), "%s", loopfix_failure());
	ck_assert_str_eq(r.second_name, "5.1.2");
	ck_assert_msg(r.first_alive, "the lingering run was killed");
	ck_assert_msg(r.second_alive, "the new run was killed");
	ck_assert(exited_within(r.second, 5));
	/* The lingering run ends with jobd: SIGTERM, then the kill. */
	cgroup_shutdown(0.2);
	ck_assert_msg(exited_within(r.first, 5),
		      "the lingering run outlived shutdown");
	loopfix_teardown();
}
END_TEST

struct linger_run {
	pid_t pid;
	bool dropped;
};

/* A lingering cgroup is followed through inotify, not polled: when its
 * last process ends, it is removed without a timer running. */
static void
linger_f(void *arg)
{
	struct linger_run *r = arg;
	struct joblimits none = {0};
	struct cgroup_attempt a;
	CO_EXPECT(cgroup_attempt_open(6, 1, &none, &a) == 0);
	r->pid = child_in(a.procs);
	CO_EXPECT(joined("6.1", r->pid));
	cgroup_attempt_close(&a, 0.1, true);
	CO_EXPECT(cgroup_pending() == 1);
	/* No deadline, so no timer: only the inotify watch sees it go. */
	kill(r->pid, SIGKILL);
	double until = loopfix_mono() + 5;
	while (cgroup_pending() > 0 && loopfix_mono() < until)
		await_sleep(0.02);
	r->dropped = cgroup_pending() == 0;
}

START_TEST(cgroup_linger_followed_by_inotify)
{
	if (!real_root()) {
		printf("cgroup_linger_followed_by_inotify: needs root and "
		       "cgroup2, skipped\n");
		return;
	}
	loopfix_setup();
	ck_assert_int_eq(cgroup_init(root, true), 1);
	/* The root is this jobd's: a second cannot take it. */
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/jobs", root);
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), -1);
	struct linger_run r = {0};
	ck_assert_msg(loopfix_ok(linger_f, &r), "%s", loopfix_failure());
	ck_assert(r.dropped);
	waitpid(r.pid, NULL, 0);
	snprintf(p, sizeof(p), "%s/jobs/6.1", root);
	ck_assert_int_eq(access(p, F_OK), -1);
	cgroup_shutdown(0);
	snprintf(p, sizeof(p), "%s/jobs", root);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	loopfix_teardown();
}
END_TEST

/* Writes pid into cgroup dir's cgroup.procs (0: the caller). */
static void
move_pid(const char *dir, pid_t pid)
{
	char p[PATH_MAX + 64], num[24];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	snprintf(num, sizeof(num), "%d", (int)pid);
	int fd = open(p, O_WRONLY);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, num, strlen(num)), (ssize_t)strlen(num));
	close(fd);
}

/* The cgroup (v2) path of process pid, or "". */
static const char *
cgroup_of(pid_t pid)
{
	static char line[PATH_MAX];
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(p, "r");
	line[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "0::", 3) == 0)
			break;
	if (f != NULL)
		fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return strncmp(line, "0::", 3) == 0 ? line + 3 : "";
}

/* jobd sitting in a configured cgroup_root moves itself, and only
 * itself, into ROOT/daemon; the cgroup2 mount's root is refused. */
START_TEST(cgroup_configured_root_moves_only_jobd)
{
	if (!real_root()) {
		printf("cgroup_configured_root_moves_only_jobd: needs root "
		       "and cgroup2, skipped\n");
		return;
	}
	char mnt[PATH_MAX];
	memcpy(mnt, root, sizeof(mnt));
	*strrchr(mnt, '/') = '\0';
	ck_assert_int_eq(cgroup_init(mnt, true), -1);
	ck_assert_msg(strstr(diag_msg(), "the root cgroup") != NULL,
		      "message: %s", diag_msg());
	char was[2 * PATH_MAX];
	snprintf(was, sizeof(was), "%s%s", mnt, cgroup_of(getpid()));
	pid_t other = fork();
	if (other == 0) {
		execlp("sleep", "sleep", "300", (char *)NULL);
		_exit(3);
	}
	move_pid(root, other);
	move_pid(root, 0);
	int rc = cgroup_init(root, true);
	const char *rel = root + strlen(mnt);
	char want_self[PATH_MAX + 16];
	snprintf(want_self, sizeof(want_self), "%s/daemon", rel);
	char self_cg[PATH_MAX], other_cg[PATH_MAX];
	snprintf(self_cg, sizeof(self_cg), "%s", cgroup_of(getpid()));
	snprintf(other_cg, sizeof(other_cg), "%s", cgroup_of(other));
	/* Back where it was, so the teardown can remove ROOT. */
	move_pid(was, 0);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	cgroup_shutdown(0);
	char daemon[PATH_MAX + 16];
	snprintf(daemon, sizeof(daemon), "%s/daemon", root);
	rmdir(daemon);
	ck_assert_int_eq(rc, 1);
	ck_assert_str_eq(self_cg, want_self);
	ck_assert_str_eq(other_cg, rel);
}
END_TEST

struct sub {
	pid_t pid;
};

/* A job that made a cgroup below its own: SIGTERM reaches its processes
 * there too. */
static void
sub_f(void *arg)
{
	struct sub *r = arg;
	struct joblimits none = {0};
	struct cgroup_attempt a;
	CO_EXPECT(cgroup_attempt_open(8, 1, &none, &a) == 0);
	char sub[PATH_MAX + 64];
	snprintf(sub, sizeof(sub), "%s/jobs/8.1/inner", root);
	CO_EXPECT(mkdir(sub, 0755) == 0);
	strcat(sub, "/cgroup.procs");
	r->pid = child_in(sub);
	CO_EXPECT(joined("8.1/inner", r->pid));
	cgroup_attempt_signal(&a, SIGTERM);
	CO_EXPECT(exited_within(r->pid, 5));
	cgroup_attempt_close(&a, 0.1, false);
	while (cgroup_pending() > 0)
		await_sleep(0.02);
}

START_TEST(cgroup_signal_reaches_sub_cgroups)
{
	if (!real_root()) {
		printf("cgroup_signal_reaches_sub_cgroups: needs root and "
		       "cgroup2, skipped\n");
		return;
	}
	loopfix_setup();
	ck_assert_int_eq(cgroup_init(root, true), 1);
	struct sub r = {0};
	ck_assert_msg(loopfix_ok(sub_f, &r), "%s", loopfix_failure());
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/jobs/8.1", root);
	ck_assert_int_eq(access(p, F_OK), -1);
	cgroup_shutdown(0);
	loopfix_teardown();
}
END_TEST

/* A cgroup left below jobs by a jobd that died: its process ignores
 * SIGTERM and is killed all the same. */
START_TEST(cgroup_reap_kills_what_was_left)
{
	if (!real_root()) {
		printf("cgroup_reap_kills_what_was_left: needs root and "
		       "cgroup2, skipped\n");
		return;
	}
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/jobs", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/jobs/9.1", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/jobs/9.1/cgroup.procs", root);
	pid_t pid = child_in_ex(p, true);
	ck_assert_int_gt(pid, 0);
	ck_assert(joined("9.1", pid));
	ck_assert_int_eq(cgroup_init(root, true), 1);
	ck_assert_int_eq(cgroup_reap_leftovers(), 1);
	ck_assert_msg(exited_within(pid, 5), "process %d survived the reap",
		      (int)pid);
	snprintf(p, sizeof(p), "%s/jobs/9.1", root);
	ck_assert_int_eq(access(p, F_OK), -1);
	cgroup_shutdown(0);
}
END_TEST

Suite *
cgroup_suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, cgroup_usage_read);
	tcase_add_test(tc, cgroup_usage_unknown);
	tcase_add_test(tc, cgroup_root_not_cgroup);
	suite_add_tcase(s, tc);
	tc = tcase_create("real");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, NULL, real_teardown);
	tcase_add_test(tc, cgroup_leftover_killed_and_removed);
	tcase_add_test(tc, cgroup_reap_kills_what_was_left);
	tcase_add_test(tc, cgroup_rerun_beside_lingering);
	tcase_add_test(tc, cgroup_linger_followed_by_inotify);
	tcase_add_test(tc, cgroup_configured_root_moves_only_jobd);
	tcase_add_test(tc, cgroup_signal_reaches_sub_cgroups);
	suite_add_tcase(s, tc);
	return s;
}
