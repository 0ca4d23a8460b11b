/*
 * cgroups_suite: a cgroup v2 per attempt (cgroup_root, cgroups =
 * required).  Each test makes its own root under the cgroup2 mount
 * (jobd-test-PID-N) and removes it at the end.  A descendant started
 * with setsid is gone after a timeout, a cancel, a shutdown and a
 * restart after kill -9; what a job leaves at its normal end is killed
 * kill_grace later, or lingers until jobd stops; cgroups = off changes
 * nothing; required refuses to start without a usable root; a restart
 * touches nothing outside the root; limits and rusage with a cgroup.
 * Tests of the memory, cpu and pids controllers check what jobd offers
 * (stats.cgroups.controllers) and say so when they skip.  Tests skip,
 * saying why, when not run as root or without a cgroup2 mount.  Every
 * wait has a deadline.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *cgroups_suite(void);

#define BASE_CONF                                                           \
	"; cgroups_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"cgroups = required\ncgroup_root = %s\n"

/* How long a process or a cgroup may take to go, on a loaded machine. */
#define GONE_S 15.0
/* The most processes a test records for its teardown to kill. */
#define MAX_PIDS 8

/* The one daemon of the current test. */
static struct jd D;

/* The current test's cgroups and the processes it must not leave. */
static struct {
	char mount[512]; /* the cgroup2 mount point */
	char root[1024]; /* MOUNT/jobd-test-PID-N: cgroup_root */
	char sib[1100];	 /* a sibling of root, or "" */
	pid_t pids[MAX_PIDS];
	bool waitable[MAX_PIDS]; /* our child: reaped after the kill */
	int npids;
} T;

static char *
xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* ---- cgroup files ------------------------------------------------------ */

/* The mount point of the cgroup2 file system (from mountinfo) into out;
 * false when none is mounted. */
static bool
find_mount(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *sep = strstr(line, " - ");
		char mp[PATH_MAX];
		if (sep == NULL || strncmp(sep + 3, "cgroup2 ", 8) != 0 ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    strchr(mp, '\\') != NULL || strlen(mp) >= size)
			continue;
		memcpy(out, mp, strlen(mp) + 1);
		found = true;
	}
	fclose(f);
	return found;
}

/* Writes text to dir/file; false on error. */
static bool
put(const char *dir, const char *file, const char *text)
{
	char *p = xfmt("%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return false;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* The text of dir/file (caller frees), "" when unreadable. */
static char *
get(const char *dir, const char *file)
{
	char *p = xfmt("%s/%s", dir, file);
	char *s = jd_slurp(p);
	free(p);
	return s ? s : strdup("");
}

/* SIGKILLs every process of cgroup dir and below; removes the cgroups,
 * the deepest first.  Returns 0, or -1 when some would not go. */
static int
remove_cgroup(const char *dir, int depth)
{
	if (!put(dir, "cgroup.kill", "1")) {
		/* No cgroup.kill: each process by itself. */
		char *procs = get(dir, "cgroup.procs");
		for (char *p = procs, *e; *p; p = e) {
			long pid = strtol(p, &e, 10);
			if (e == p)
				break;
			if (pid > 1)
				kill((pid_t)pid, SIGKILL);
		}
		free(procs);
	}
	DIR *d = depth < 8 ? opendir(dir) : NULL;
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char *sub = xfmt("%s/%s", dir, de->d_name);
		remove_cgroup(sub, depth + 1);
		free(sub);
	}
	if (d != NULL)
		closedir(d);
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes cgroup dir and what it holds, retrying until timeout_s. */
static bool
remove_cgroup_until(const char *dir, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (remove_cgroup(dir, 0) != 0) {
		if (jd_now() >= deadline)
			return false;
		jd_pause_ms(20);
	}
	return true;
}

/* Removes every cgroup of process pid's tests (jobd-test-PID-*). */
static void
remove_test_cgroups(const char *mount, pid_t pid)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "jobd-test-%ld-", (long)pid);
	DIR *d = opendir(mount);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char *p = xfmt("%s/%s", mount, de->d_name);
		if (!remove_cgroup_until(p, 5))
			fprintf(stderr, "cgroups: could not remove %s\n", p);
		free(p);
	}
	if (d != NULL)
		closedir(d);
}

/* Once per test process: a process outside the test's process group that
 * waits for the test process to end, however it ends (a failed test
 * leaves through _exit, one that times out is killed), then kills and
 * removes the cgroups it made.  jd_guard does the same for what is named
 * after the test's directory. */
static void
cgroup_guard(void)
{
	static pid_t armed_for;
	if (armed_for == getpid())
		return;
	armed_for = getpid();
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t owner = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		setsid();
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0])
				close(fd);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		remove_test_cgroups(T.mount, owner);
		_exit(0);
	}
	close(p[0]);
}

/* ---- processes --------------------------------------------------------- */

/* True while pid runs as one of this test's processes, whose command
 * lines all name the test directory: a zombie (whose command line is
 * empty) has ended, and a pid the kernel gave to another process since
 * is not ours. */
static bool
alive(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || D.dir[0] == '\0')
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, D.dir) != NULL;
}

/* Polls until pid has ended; false when it still ran after timeout_s. */
static bool
gone_within(pid_t pid, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (alive(pid)) {
		if (jd_now() >= deadline)
			return false;
		jd_pause_ms(20);
	}
	return true;
}

/* Polls until path is gone; false when it was still there after
 * timeout_s. */
static bool
path_gone_within(const char *path, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_exists(path)) {
		if (jd_now() >= deadline)
			return false;
		jd_pause_ms(20);
	}
	return true;
}

/* Records pid for the teardown to kill. */
static void
track(pid_t pid, bool waitable)
{
	ck_assert_int_lt(T.npids, MAX_PIDS);
	T.waitable[T.npids] = waitable;
	T.pids[T.npids++] = pid;
}

/* The pid a job wrote to the file name in the test directory, once it
 * is there (10 s); recorded for the teardown. */
static pid_t
wait_pidfile(const struct jd *d, const char *name)
{
	char *path = jd_path(d, name);
	double deadline = jd_now() + 10;
	long pid = 0;
	for (;;) {
		char *s = jd_slurp(path);
		if (s != NULL && strchr(s, '\n') != NULL)
			pid = strtol(s, NULL, 10);
		free(s);
		if (pid > 0 || jd_now() >= deadline)
			break;
		jd_pause_ms(20);
	}
	ck_assert_msg(pid > 0, "%s never held a pid", path);
	free(path);
	track((pid_t)pid, false);
	return (pid_t)pid;
}

/* The cgroup v2 of process pid, relative to the mount ("" if none). */
static char *
cgroup_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", (long)pid);
	char *s = jd_slurp(path);
	char *line = s ? strstr(s, "0::") : NULL;
	char *r = strdup(line ? line + 3 : "");
	r[strcspn(r, "\n")] = '\0';
	free(s);
	return r;
}

/* ---- the test's root and daemon ---------------------------------------- */

/* Makes the test's root (and arms its removal), or says why the test
 * skips: false then. */
static bool
begin(const char *test)
{
	static int n;
	memset(&T, 0, sizeof(T));
	if (geteuid() != 0) {
		fprintf(stderr, "%s: skipped: needs root to make cgroups\n",
			test);
		return false;
	}
	if (!find_mount(T.mount, sizeof(T.mount))) {
		fprintf(stderr, "%s: skipped: no cgroup2 file system mounted\n",
			test);
		return false;
	}
	cgroup_guard();
	snprintf(T.root, sizeof(T.root), "%s/jobd-test-%ld-%d", T.mount,
		 (long)getpid(), ++n);
	ck_assert_msg(mkdir(T.root, 0755) == 0, "mkdir %s: %s", T.root,
		      strerror(errno));
	return true;
}

/* Starts the test's daemon on its root, with extra config (may be
 * NULL). */
static struct jd *
start(const char *extra)
{
	char *conf = xfmt(BASE_CONF, T.root);
	struct jd *d = jd_test_start(&D, conf, extra, NULL);
	free(conf);
	return d;
}

static void
teardown(void)
{
	/* Only ours: the pid of one that ended may be another's now. */
	for (int i = 0; i < T.npids; i++) {
		pid_t pid = T.pids[i];
		if (T.waitable[i] && waitpid(pid, NULL, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		} else if (!T.waitable[i] && alive(pid)) {
			kill(pid, SIGKILL);
		}
	}
	T.npids = 0;
	jd_test_teardown();
	if (T.sib[0] && !remove_cgroup_until(T.sib, 5))
		fprintf(stderr, "cgroups: could not remove %s\n", T.sib);
	if (T.root[0] && !remove_cgroup_until(T.root, 5))
		fprintf(stderr, "cgroups: could not remove %s\n", T.root);
	T.sib[0] = T.root[0] = '\0';
}

/* stats.cgroups (new ref). */
static json_t *
cg_stats(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *c = json_incref(json_object_get(jd_ok(r), "cgroups"));
	json_decref(r);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* True when jobd gives attempts controller name (memory, cpu, pids). */
static bool
has_controller(struct jd *d, const char *name)
{
	json_t *c = cg_stats(d);
	json_t *a = json_object_get(c, "controllers");
	ck_assert_msg(json_is_array(a), "stats.cgroups has no controllers");
	bool found = false;
	size_t i;
	json_t *v;
	json_array_foreach (a, i, v) {
		if (strcmp(json_string_value(v), name) == 0)
			found = true;
	}
	json_decref(c);
	return found;
}

static json_int_t
lingering(struct jd *d)
{
	json_t *c = cg_stats(d);
	json_int_t n = jd_num(c, "lingering");
	json_decref(c);
	return n;
}

/* ROOT/jobs/ID.ATTEMPT (caller frees). */
static char *
attempt_dir(int64_t id, int attempt)
{
	return xfmt("%s/jobs/%lld.%d", T.root, (long long)id, attempt);
}

/* A job's shell text: it starts a descendant with setsid that ignores
 * SIGTERM and writes its pid to DIR/desc.pid, then waits for ever
 * (ignoring SIGTERM too when main_ignores).  Run again (after a restart),
 * it ends at once.  Every process's command line names DIR,
 * for jd_guard. */
static char *
descendant_job(const struct jd *d, bool main_ignores)
{
	return xfmt("[ -e %s/ran ] && exit 0; : > %s/ran; %s"
		    "setsid sh -c 'trap \"\" TERM; echo $$ > %s/desc.pid; "
		    "while :; do sleep 1; done' & "
		    "while :; do sleep 1; done",
		    d->dir, d->dir, main_ignores ? "trap \"\" TERM; " : "",
		    d->dir);
}

/* Submits descendant_job with the extra fields of json text more
 * ("{...}"), waits for its descendant and checks it runs in the
 * attempt's cgroup, ROOT/jobs/ID.1.  Returns the job's id; *pid gets the
 * descendant's. */
static int64_t
submit_descendant(struct jd *d, const char *more, bool main_ignores, pid_t *pid)
{
	char *sh = descendant_job(d, main_ignores);
	json_t *spec = jd_json(more);
	json_object_set_new(spec, "shell", json_string(sh));
	free(sh);
	int64_t id = jd_submit(d, spec);
	*pid = wait_pidfile(d, "desc.pid");
	ck_assert(jd_poll_state(d, id, "running", 10));
	char *dir = attempt_dir(id, 1);
	ck_assert_msg(jd_exists(dir), "%s missing while the job runs", dir);
	char *cg = cgroup_of(*pid);
	ck_assert_str_eq(cg, dir + strlen(T.mount));
	free(cg);
	free(dir);
	return id;
}

/* Asserts that pid and the attempt's cgroup are gone (deadline). */
static void
assert_all_gone(int64_t id, pid_t pid)
{
	ck_assert_msg(gone_within(pid, GONE_S),
		      "the setsid'd descendant %ld still runs", (long)pid);
	char *dir = attempt_dir(id, 1);
	ck_assert_msg(path_gone_within(dir, GONE_S), "%s not removed", dir);
	free(dir);
}

/* ---- 1: a setsid'd descendant does not outlive its attempt ------------- */

START_TEST(cgroups_timeout_kills_descendant)
{
	if (!begin("cgroups_timeout_kills_descendant"))
		return;
	struct jd *d = start(NULL);
	pid_t pid;
	int64_t id = submit_descendant(d, "{\"timeout\":3}", false, &pid);
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "timeout");
	json_decref(j);
	assert_all_gone(id, pid);
}
END_TEST

START_TEST(cgroups_cancel_kills_descendant)
{
	if (!begin("cgroups_cancel_kills_descendant"))
		return;
	struct jd *d = start(NULL);
	pid_t pid;
	int64_t id = submit_descendant(d, "{}", true, &pid);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)id));
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "cancelled");
	json_decref(j);
	assert_all_gone(id, pid);
}
END_TEST

START_TEST(cgroups_shutdown_kills_descendant)
{
	if (!begin("cgroups_shutdown_kills_descendant"))
		return;
	struct jd *d = start(NULL);
	pid_t pid;
	/* Its main process ignores SIGTERM too: only the kill after
	 * kill_grace ends the attempt. */
	int64_t id = submit_descendant(d, "{}", true, &pid);
	ck_assert_int_eq(jd_stop(d), 0);
	assert_all_gone(id, pid);
}
END_TEST

START_TEST(cgroups_restart_kills_leftovers)
{
	if (!begin("cgroups_restart_kills_leftovers"))
		return;
	struct jd *d = start("[queue hold]\n");
	pid_t pid;
	int64_t id = submit_descendant(d, "{\"queue\":\"hold\"}", true, &pid);
	/* So that the recovered job does not start again at once: a new
	 * attempt in the same cgroup would kill what is left too. */
	jd_queue_cmd(d, "queue.pause", "hold");
	jd_kill9(d);
	/* It outlives jobd: only the restart's cleanup can end it. */
	double until = jd_now() + 0.5;
	while (jd_now() < until) {
		ck_assert_msg(alive(pid), "the descendant died with jobd");
		jd_pause_ms(50);
	}
	char *dir = attempt_dir(id, 1);
	ck_assert(jd_exists(dir));
	free(dir);
	jd_start(d, NULL);
	assert_all_gone(id, pid);
	json_t *j = jd_get(d, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "recovered");
	json_decref(j);
	/* Resumed, it runs again and ends at once. */
	jd_queue_cmd(d, "queue.resume", "hold");
	j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	char *log = jd_slurp(d->log);
	ck_assert_msg(log && strstr(log, "killed what 1 cgroups") != NULL,
		      "log: %s", log ? log : "");
	free(log);
}
END_TEST

/* ---- 2: what a job leaves at its end ----------------------------------- */

/* A job that starts two setsid'd children, one ignoring SIGTERM (its pid
 * in DIR/left.pid), one not (DIR/term.pid), and exits 0 once both are in
 * place. */
static int64_t
submit_leaver(struct jd *d, const char *more)
{
	char *sh = xfmt("setsid sh -c 'trap \"\" TERM; echo $$ > %s/left.pid; "
			"while :; do sleep 1; done' & "
			"setsid sh -c 'echo $$ > %s/term.pid; "
			"while :; do sleep 1; done' & "
			"while [ ! -s %s/left.pid ] || [ ! -s %s/term.pid ]; "
			"do sleep 0.02; done",
			d->dir, d->dir, d->dir, d->dir);
	json_t *spec = jd_json(more);
	json_object_set_new(spec, "shell", json_string(sh));
	free(sh);
	return jd_submit(d, spec);
}

START_TEST(cgroups_leftover_killed_after_grace)
{
	if (!begin("cgroups_leftover_killed_after_grace"))
		return;
	struct jd *d = start(NULL);
	json_t *c = cg_stats(d);
	char *jobs = xfmt("%s/jobs", T.root);
	ck_assert_str_eq(jd_str(c, "path"), jobs);
	ck_assert_int_eq(jd_num(c, "lingering"), 0);
	free(jobs);
	json_decref(c);
	/* A grace long enough to tell the SIGTERM at the job's end from the
	 * kill after it, even on a loaded machine. */
	int64_t id = submit_leaver(d, "{\"kill_grace\":5}");
	json_t *j = jd_wait(d, id, 30);
	double ended = jd_now();
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_is_false(json_object_get(j, "linger")));
	json_decref(j);
	pid_t pid = wait_pidfile(d, "left.pid");
	pid_t term = wait_pidfile(d, "term.pid");
	/* The one that does not ignore it ends on the SIGTERM sent at the
	 * job's end, well before the kill; the other runs on until then. */
	ck_assert_msg(gone_within(term, ended + 3.5 - jd_now()),
		      "no SIGTERM at the end");
	json_int_t n = lingering(d);
	if (jd_now() - ended < 4.5) {
		ck_assert_msg(alive(pid), "killed before kill_grace");
		ck_assert_int_eq(n, 1);
	} else {
		fprintf(stderr,
			"cgroups_leftover_killed_after_grace: too "
			"slow to see the grace (%.1f s)\n",
			jd_now() - ended);
	}
	ck_assert_msg(gone_within(pid, 5 + GONE_S),
		      "the child outlived kill_grace");
	char *dir = attempt_dir(id, 1);
	ck_assert_msg(path_gone_within(dir, GONE_S), "%s not removed", dir);
	free(dir);
	double until = jd_now() + GONE_S;
	while (lingering(d) != 0 && jd_now() < until)
		jd_pause_ms(20);
	ck_assert_int_eq(lingering(d), 0);
}
END_TEST

START_TEST(cgroups_linger_keeps_leftover)
{
	if (!begin("cgroups_linger_keeps_leftover"))
		return;
	struct jd *d = start(NULL);
	int64_t id = submit_leaver(d, "{\"kill_grace\":1,\"linger\":true}");
	json_t *j = jd_wait(d, id, 30);
	double ended = jd_now();
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_is_true(json_object_get(j, "linger")));
	json_decref(j);
	pid_t pid = wait_pidfile(d, "left.pid");
	pid_t term = wait_pidfile(d, "term.pid");
	/* Past kill_grace and a second more, both still run: no SIGTERM,
	 * no kill. */
	while (jd_now() < ended + 2) {
		ck_assert_msg(alive(pid) && alive(term),
			      "a lingering child was killed");
		jd_pause_ms(50);
	}
	ck_assert(alive(pid) && alive(term));
	ck_assert_int_eq(lingering(d), 1);
	char *dir = attempt_dir(id, 1);
	ck_assert(jd_exists(dir));
	/* jobd kills it on its way out. */
	ck_assert_int_eq(jd_stop(d), 0);
	ck_assert_msg(gone_within(pid, GONE_S) && gone_within(term, GONE_S),
		      "it outlived jobd");
	ck_assert_msg(path_gone_within(dir, GONE_S), "%s not removed", dir);
	free(dir);
}
END_TEST

/* ---- 3: cgroups = off ---------------------------------------------------- */

START_TEST(cgroups_off_changes_nothing)
{
	if (!begin("cgroups_off_changes_nothing"))
		return;
	struct jd *d = start("cgroups = off\n");
	json_t *c = cg_stats(d);
	ck_assert(json_is_null(c));
	json_decref(c);
	char *sh = descendant_job(d, false);
	int64_t id =
		jd_submit(d, json_pack("{s:s,s:i}", "shell", sh, "timeout", 3));
	free(sh);
	pid_t pid = wait_pidfile(d, "desc.pid");
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "reason"), "timeout");
	json_decref(j);
	/* Only its process group was stopped: the descendant runs on,
	 * outside any cgroup of jobd's. */
	ck_assert_msg(alive(pid), "the descendant was killed");
	char *jobs = xfmt("%s/jobs", T.root);
	ck_assert_msg(!jd_exists(jobs), "%s made with cgroups = off", jobs);
	free(jobs);
	char *cg = cgroup_of(pid);
	ck_assert_msg(strstr(cg, "jobd-test-") == NULL, "in cgroup %s", cg);
	free(cg);
	if (alive(pid))
		kill(pid, SIGKILL);
	ck_assert(gone_within(pid, GONE_S));
}
END_TEST

/* ---- 4: cgroups = required without a usable root ------------------------- */

/* True when jobd, started from here, would sit in a cgroup delegated to
 * it: required then works without cgroup_root. */
static bool
own_cgroup_delegated(void)
{
	char *own = cgroup_of(getpid());
	char *p = xfmt("%s%s", T.mount, own);
	char v[8];
	bool del = strcmp(own, "/") != 0 &&
		   (getxattr(p, "trusted.delegate", v, sizeof(v)) > 0 ||
		    getxattr(p, "user.delegate", v, sizeof(v)) > 0);
	free(p);
	free(own);
	return del;
}

/* Runs jobd on config text (a fresh state directory named tag) and
 * returns what it wrote on stderr (caller frees); *rc its status. */
static char *
run_refused(struct jd *d, const char *tag, const char *conf_text, int *rc)
{
	char *name = xfmt("%s.conf", tag);
	char *conf = jd_path(d, name);
	free(name);
	name = xfmt("%s.err", tag);
	char *errpath = jd_path(d, name);
	free(name);
	name = xfmt("%s.sock", tag);
	char *sock = jd_path(d, name);
	free(name);
	name = xfmt("%s.state", tag);
	char *state = jd_path(d, name);
	free(name);
	char *text = xfmt("[daemon]\nsocket = %s\nstate_dir = %s\n%s", sock,
			  state, conf_text);
	jd_write_file(conf, text);
	const char *args[] = {"-c", conf, NULL};
	*rc = jd_run_jobd(args, errpath, 20);
	char *err = jd_slurp(errpath);
	free(text);
	free(state);
	free(sock);
	free(errpath);
	free(conf);
	return err ? err : strdup("");
}

START_TEST(cgroups_required_refuses_without_root)
{
	if (!begin("cgroups_required_refuses_without_root"))
		return;
	/* A daemon for the directory; auto without cgroup_root: process
	 * groups, unless this cgroup is delegated. */
	struct jd *d =
		jd_test_start(&D, "[daemon]\nkill_grace = 1\n", NULL, NULL);
	bool del = own_cgroup_delegated();
	int rc;
	char *err;
	if (del) {
		fprintf(stderr, "cgroups_required_refuses_without_root: "
				"this cgroup is delegated: not checking "
				"required without cgroup_root\n");
	} else {
		json_t *c = cg_stats(d);
		ck_assert_msg(json_is_null(c), "auto found cgroups");
		json_decref(c);
		err = run_refused(d, "noroot", "cgroups = required\n", &rc);
		ck_assert_msg(rc != 0 && rc != -1, "exit %d", rc);
		ck_assert_msg(strstr(err, "cgroups = required:") != NULL,
			      "stderr: %s", err);
		free(err);
	}
	/* A cgroup_root that is no cgroup: refused, naming it. */
	char *text = xfmt("cgroups = required\ncgroup_root = %s\n", d->dir);
	err = run_refused(d, "notcg", text, &rc);
	free(text);
	ck_assert_msg(rc != 0 && rc != -1, "exit %d", rc);
	ck_assert_msg(strstr(err, "cgroups = required:") != NULL &&
			      strstr(err, d->dir) != NULL,
		      "stderr: %s", err);
	free(err);
	/* Nothing was made in the root of a refused start. */
	char *jobs = xfmt("%s/jobs", d->dir);
	ck_assert(!jd_exists(jobs));
	free(jobs);
}
END_TEST

/* ---- 5: a restart touches only its root --------------------------------- */

START_TEST(cgroups_restart_spares_sibling)
{
	if (!begin("cgroups_restart_spares_sibling"))
		return;
	struct jd *d = start("[queue hold]\n");
	snprintf(T.sib, sizeof(T.sib), "%s-sib", T.root);
	ck_assert_int_eq(mkdir(T.sib, 0755), 0);
	pid_t sib = fork();
	ck_assert_int_ge(sib, 0);
	if (sib == 0) {
		/* Into the sibling, then a loop whose command line names
		 * the test directory. */
		if (!put(T.sib, "cgroup.procs", "0"))
			_exit(126);
		execl("/bin/sh", "sh", "-c", "while :; do sleep 1; done",
		      d->dir, (char *)NULL);
		_exit(127);
	}
	track(sib, true);
	char *want = strdup(T.sib + strlen(T.mount));
	double until = jd_now() + 10;
	char *cg = cgroup_of(sib);
	/* Moved, then its shell started. */
	while ((strcmp(cg, want) != 0 || !alive(sib)) && jd_now() < until &&
	       waitpid(sib, NULL, WNOHANG) == 0) {
		free(cg);
		jd_pause_ms(20);
		cg = cgroup_of(sib);
	}
	ck_assert_str_eq(cg, want);
	ck_assert(alive(sib));
	free(cg);
	/* And a leftover in the root, for the restart to kill. */
	pid_t pid;
	int64_t id = submit_descendant(d, "{\"queue\":\"hold\"}", true, &pid);
	jd_queue_cmd(d, "queue.pause", "hold");
	jd_kill9(d);
	jd_start(d, NULL);
	assert_all_gone(id, pid);
	ck_assert_msg(alive(sib), "the sibling's process was killed");
	cg = cgroup_of(sib);
	ck_assert_str_eq(cg, want);
	free(cg);
	free(want);
	kill(sib, SIGKILL);
	ck_assert_int_eq(waitpid(sib, NULL, 0), sib);
}
END_TEST

/* ---- 6: limits ----------------------------------------------------------- */

/* The captured output of job id (caller frees). */
static char *
job_output(struct jd *d, int64_t id)
{
	json_t *r = jd_call(d, json_pack("{s:s,s:I}", "cmd", "logs", "job_id",
					 (json_int_t)id));
	char *s = strdup(jd_str(jd_ok(r), "data"));
	json_decref(r);
	return s;
}

START_TEST(cgroups_rlimits_apply)
{
	if (!begin("cgroups_rlimits_apply"))
		return;
	struct jd *d = start(NULL);
	int64_t id = jd_submit(
		d, jd_json("{\"shell\":\"ulimit -n; ulimit -t; grep '^0::' "
			   "/proc/self/cgroup\","
			   "\"limits\":{\"nofile\":37,\"cpu_time\":100}}"));
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	char *out = job_output(d, id);
	char *dir = attempt_dir(id, 1);
	char *want = xfmt("37\n100\n0::%s\n", dir + strlen(T.mount));
	ck_assert_str_eq(out, want);
	free(want);
	free(dir);
	free(out);
}
END_TEST

START_TEST(cgroups_spawn_error_leaves_no_cgroup)
{
	if (!begin("cgroups_spawn_error_leaves_no_cgroup"))
		return;
	struct jd *d = start(NULL);
	/* Both fail in the child, once it has joined its cgroup: no such
	 * directory, a limit setrlimit refuses.  Their cgroups go. */
	int64_t ids[2];
	ids[0] = jd_submit(d, jd_json("{\"shell\":\"true\",\"cwd\":"
				      "\"/nonexistent/dir\"}"));
	ids[1] = jd_submit(d, jd_json("{\"shell\":\"true\",\"limits\":"
				      "{\"nofile\":1099511627776}}"));
	for (int i = 0; i < 2; i++) {
		json_t *j = jd_wait(d, ids[i], 30);
		ck_assert_str_eq(jd_str(j, "state"), "failed");
		ck_assert_str_eq(jd_str(j, "reason"), "spawn_error");
		json_decref(j);
		char *dir = attempt_dir(ids[i], 1);
		ck_assert_msg(path_gone_within(dir, GONE_S), "%s left", dir);
		free(dir);
	}
	double until = jd_now() + GONE_S;
	while (lingering(d) != 0 && jd_now() < until)
		jd_pause_ms(20);
	ck_assert_int_eq(lingering(d), 0);
}
END_TEST

static json_int_t
total_oom(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_int_t n = jd_num(json_object_get(jd_ok(r), "totals"), "oom");
	json_decref(r);
	return n;
}

START_TEST(cgroups_memory_limit)
{
	if (!begin("cgroups_memory_limit"))
		return;
	struct jd *d = start(NULL);
	bool mem = has_controller(d, "memory");
	/* A 256 MiB buffer that read(2) fills, under a 64 MiB limit. */
	int64_t id = jd_submit(
		d,
		jd_json("{\"shell\":\"exec dd if=/dev/zero of=/dev/null "
			"bs=256M count=1\",\"limits\":{\"memory\":67108864}}"));
	json_t *j = jd_wait(d, id, 60);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	json_t *peak =
		json_object_get(json_object_get(j, "rusage"), "memory_peak");
	if (mem) {
		ck_assert_str_eq(jd_str(j, "reason"), "oom");
		ck_assert_int_eq(total_oom(d), 1);
		ck_assert(json_is_integer(peak));
	} else {
		fprintf(stderr, "cgroups_memory_limit: no memory controller: "
				"checked RLIMIT_AS instead of the OOM kill\n");
		ck_assert_str_eq(jd_str(j, "reason"), "exit");
		ck_assert_int_ne(jd_num(j, "exit_code"), 0);
		ck_assert_int_eq(total_oom(d), 0);
		ck_assert(json_is_null(peak));
	}
	json_decref(j);
}
END_TEST

/* Submits a job with limits (json text) that waits for DIR/go, checks
 * that file of the attempt's cgroup holds want while it runs, and lets
 * it end. */
static void
limit_file_holds(struct jd *d, const char *limits, const char *file,
		 const char *want)
{
	char *go = jd_path(d, "go");
	unlink(go);
	char *sh = xfmt("while [ ! -e %s ]; do sleep 0.02; done", go);
	json_t *spec =
		json_pack("{s:s,s:o}", "shell", sh, "limits", jd_json(limits));
	free(sh);
	int64_t id = jd_submit(d, spec);
	ck_assert(jd_poll_state(d, id, "running", 10));
	char *dir = attempt_dir(id, 1);
	char *got = get(dir, file);
	ck_assert_str_eq(got, want);
	free(got);
	free(dir);
	jd_write_file(go, "");
	json_t *j = jd_wait(d, id, 30);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	free(go);
}

/* Submitting spec text must be refused, the message holding want. */
static void
refused(struct jd *d, const char *spec, const char *want)
{
	json_t *r =
		jd_req(d, "{s:s,s:o}", "cmd", "submit", "job", jd_json(spec));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), want) != NULL, "message: %s",
		      jd_err_msg(r));
	json_decref(r);
}

START_TEST(cgroups_cpu_and_tasks)
{
	if (!begin("cgroups_cpu_and_tasks"))
		return;
	struct jd *d = start(NULL);
	if (has_controller(d, "cpu")) {
		limit_file_holds(d, "{\"cpu\":0.5}", "cpu.max",
				 "50000 100000\n");
	} else {
		fprintf(stderr, "cgroups_cpu_and_tasks: no cpu controller: "
				"checked that limits.cpu is refused\n");
		refused(d, "{\"shell\":\"true\",\"limits\":{\"cpu\":0.5}}",
			"limits.cpu: needs the cgroup v2 cpu controller, "
			"which jobd does not have here");
	}
	if (has_controller(d, "pids")) {
		limit_file_holds(d, "{\"tasks\":10}", "pids.max", "10\n");
	} else {
		fprintf(stderr, "cgroups_cpu_and_tasks: no pids controller: "
				"checked that limits.tasks is refused\n");
		refused(d, "{\"shell\":\"true\",\"limits\":{\"tasks\":10}}",
			"limits.tasks: needs the cgroup v2 pids controller, "
			"which jobd does not have here");
	}
}
END_TEST

/* ---- 7: rusage of the whole tree ---------------------------------------- */

START_TEST(cgroups_rusage_whole_tree)
{
	if (!begin("cgroups_rusage_whole_tree"))
		return;
	struct jd *d = start(NULL);
	bool mem = has_controller(d, "memory");
	/* A grandchild started with setsid burns 0.35 s of CPU (35 ticks
	 * of its /proc stat utime, stime, cutime and cstime); the main
	 * process only waits for its file. */
	char *burn = jd_path(d, "burn.sh");
	char *text = xfmt("while :; do\n"
			  "\ti=0\n"
			  "\twhile [ $i -lt 1000 ]; do i=$((i + 1)); done\n"
			  "\tset -- $(cat /proc/$$/stat)\n"
			  "\tshift 13\n"
			  "\t[ $(($1 + $2 + $3 + $4)) -ge 35 ] && break\n"
			  "done\n"
			  ": > %s/burnt\n",
			  d->dir);
	jd_write_file(burn, text);
	free(text);
	/* Its parent leaves at once: nothing waits for it, so its CPU time
	 * is not in the main process's rusage (wait4's). */
	char *sh = xfmt("sh -c 'setsid sh %s &'; "
			"while [ ! -e %s/burnt ]; do sleep 0.1; done",
			burn, d->dir);
	free(burn);
	int64_t id = jd_submit(
		d, json_pack("{s:s,s:i}", "shell", sh, "timeout", 60));
	free(sh);
	json_t *j = jd_wait(d, id, 90);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_t *ru = json_object_get(j, "rusage");
	double cpu = json_number_value(json_object_get(ru, "user")) +
		     json_number_value(json_object_get(ru, "system"));
	ck_assert_msg(cpu >= 0.2, "the tree's CPU time: %.3f s", cpu);
	json_t *peak = json_object_get(ru, "memory_peak");
	if (mem) {
		ck_assert(json_is_integer(peak));
		ck_assert_int_gt(json_integer_value(peak), 0);
	} else {
		fprintf(stderr, "cgroups_rusage_whole_tree: no memory "
				"controller: memory_peak must be null\n");
		ck_assert(json_is_null(peak));
	}
	json_decref(j);
}
END_TEST

Suite *
cgroups_suite(void)
{
	Suite *s = suite_create("cgroups");
	TCase *tc = tcase_create("cgroups");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cgroups_timeout_kills_descendant);
	tcase_add_test(tc, cgroups_cancel_kills_descendant);
	tcase_add_test(tc, cgroups_shutdown_kills_descendant);
	tcase_add_test(tc, cgroups_restart_kills_leftovers);
	tcase_add_test(tc, cgroups_leftover_killed_after_grace);
	tcase_add_test(tc, cgroups_linger_keeps_leftover);
	tcase_add_test(tc, cgroups_off_changes_nothing);
	tcase_add_test(tc, cgroups_required_refuses_without_root);
	tcase_add_test(tc, cgroups_restart_spares_sibling);
	tcase_add_test(tc, cgroups_rlimits_apply);
	tcase_add_test(tc, cgroups_spawn_error_leaves_no_cgroup);
	tcase_add_test(tc, cgroups_memory_limit);
	tcase_add_test(tc, cgroups_cpu_and_tasks);
	tcase_add_test(tc, cgroups_rusage_whole_tree);
	suite_add_tcase(s, tc);
	return s;
}
