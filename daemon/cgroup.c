/*
 * cgroup: the subtree found and prepared at start, one cgroup per attempt,
 * and the cgroups of ended attempts that still hold processes (leftovers),
 * swept on a timer until they empty.  Every file is reached relative to
 * the BASE/jobs descriptor, so a path is walked once, at start.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "xmem.h"

/* cpu.max's period, microseconds (the kernel's default), and the least
 * quota it takes. */
#define CPU_PERIOD_US 100000
#define CPU_MIN_QUOTA_US 1000
/* pids.max takes at most the kernel's PID_MAX_LIMIT. */
#define PIDS_LIMIT_MAX (4 * 1024 * 1024)
/* How often leftovers are looked at, seconds. */
#define SWEEP_INTERVAL 0.25
/* Most processes one signal_procs() signals, each checked on its own: a
 * job of 100,000 processes must not hold the loop.  Beyond it, SIGTERM
 * misses some; the kill at the end of the grace (cgroup.kill) does not. */
#define SIGNAL_BUDGET 4096
/* Deepest cgroup tree below an attempt's that is removed. */
#define MAX_DEPTH 16

static struct {
	bool active;
	char *jobs;	 /* BASE/jobs */
	const char *rel; /* BASE/jobs as /proc/PID/cgroup names it */
	int jobs_fd;	 /* BASE/jobs, O_DIRECTORY; flock'd: one jobd */
	unsigned have;	 /* JOBLIMITS_HAVE_* */
	bool has_kill;	 /* cgroup.kill (Linux 5.14) */
} cg = {.jobs_fd = -1};

/* The cgroup of an ended attempt that still holds processes. */
struct leftover {
	char name[48];
	double kill_at; /* monotonic s; INFINITY: it lingers */
	bool killed;
	int wd; /* inotify watch of its cgroup.events, or -1 */
	struct leftover *next;
};

static struct leftover *leftovers;
static int nleftovers;
static ev_timer sweep_w;
static bool sweeping;

/* ---- files ------------------------------------------------------------ */

/* Directory name in at (AT_FDCWD: a path), opened to walk or to reach its
 * files; -1 with errno. */
static int
open_dir(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The cgroup name below BASE/jobs, opened as open_dir does. */
static int
open_job(const char *name)
{
	return open_dir(cg.jobs_fd, name);
}

/* Writes text to file in directory dir; 0, or -1 with errno. */
static int
put(int dir, const char *file, const char *text)
{
	int fd = openat(dir, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	int e = errno;
	close(fd);
	errno = e;
	return w == (ssize_t)n ? 0 : -1;
}

/* Reads file in dir into buf (NUL-terminated); its length, or -1. */
static ssize_t
get(int dir, const char *file, char *buf, size_t size)
{
	int fd = openat(dir, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	ssize_t r;
	while (len + 1 < size && (r = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The value of line "key N" of a flat-keyed file's text; -1 if none. */
static int64_t
keyed(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p != NULL && *p;) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* True when a cgroup (dir) holds processes, itself or below. */
static bool
populated(int dir)
{
	char buf[256];
	return get(dir, "cgroup.events", buf, sizeof(buf)) < 0 ||
	       keyed(buf, "populated") != 0;
}

/* True when process pid is in cgroup rel (as /proc/PID/cgroup names
 * it) or below it. */
static bool
in_cgroup(pid_t pid, const char *rel)
{
	char p[64], line[PATH_MAX + 8];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(p, "re");
	bool in = false;
	size_t n = strlen(rel);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		const char *x = line + 3;
		in = strncmp(x, rel, n) == 0 &&
		     (x[n] == '\n' || x[n] == '/' || x[n] == '\0');
		break;
	}
	if (f != NULL)
		fclose(f);
	return in;
}

/* Sends sig to process pid if it is in cgroup rel: a pid read from
 * cgroup.procs may have ended and been reused by the time it is
 * signalled.  The pidfd pins the process the check is about. */
static void
signal_checked(pid_t pid, const char *rel, int sig)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		/* No pidfds (under Valgrind, say): checked, then signalled
		 * by pid, which leaves the reuse race open. */
		if (errno == ENOSYS && in_cgroup(pid, rel))
			kill(pid, sig);
		return;
	}
	if (in_cgroup(pid, rel) &&
	    syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) != 0 &&
	    errno == ENOSYS)
		kill(pid, sig);
	close(pfd);
}

/* Sends sig to each process of cgroup dir (named rel in /proc/PID/cgroup)
 * and of the cgroups below it (a job may make its own), depth levels deep
 * at most, and to *budget processes at most, counted down. */
static void
signal_tree(int dir, const char *rel, int sig, int depth, int *budget)
{
	int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	long pid;
	while (*budget > 0 && fscanf(f, "%ld", &pid) == 1) {
		if (pid > 1)
			signal_checked((pid_t)pid, rel, sig);
		--*budget;
	}
	fclose(f);
	if (depth >= MAX_DEPTH || *budget <= 0)
		return;
	int dfd = open_dir(dir, ".");
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	struct dirent *de;
	char sub[PATH_MAX];
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel,
				     de->d_name) >= sizeof(sub))
			continue;
		int c = open_dir(dirfd(d), de->d_name);
		if (c >= 0) {
			signal_tree(c, sub, sig, depth + 1, budget);
			close(c);
		}
	}
	closedir(d);
}

/* Sends sig to every process of the cgroup name below BASE/jobs (open as
 * dir), the cgroups below it included. */
static void
signal_procs(int dir, const char *name, int sig)
{
	char rel[PATH_MAX];
	int budget = SIGNAL_BUDGET;
	if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", cg.rel, name) <
	    sizeof(rel))
		signal_tree(dir, rel, sig, 0, &budget);
}

/* SIGKILLs every process of the cgroup name below BASE/jobs (open as dir)
 * and below: cgroup.kill, or, on a kernel without it, freeze (so nothing
 * forks meanwhile), SIGKILL each process, thaw (the dead then exit). */
static void
kill_dir(int dir, const char *name)
{
	if (cg.has_kill && put(dir, "cgroup.kill", "1") == 0)
		return;
	put(dir, "cgroup.freeze", "1");
	char buf[256];
	for (int i = 0; i < 20; i++) {
		if (get(dir, "cgroup.events", buf, sizeof(buf)) < 0 ||
		    keyed(buf, "frozen") == 1)
			break;
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	}
	signal_procs(dir, name, SIGKILL);
	put(dir, "cgroup.freeze", "0");
}

/* Removes cgroup name in parent and the cgroups below it (a job may make
 * its own); 0, or -1 with errno (EBUSY: processes left). */
static int
remove_tree(int parent, const char *name, int depth)
{
	if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EBUSY && errno != ENOTEMPTY) || depth >= MAX_DEPTH)
		return -1;
	int fd = open_dir(parent, name);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_DIR && de->d_name[0] != '.')
			remove_tree(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

static double
mono(void)
{
	return (double)coro_clock_ns() / 1e9;
}

/* Calls fn on each cgroup directly below BASE/jobs (its name, and a
 * descriptor of it the callee may use but not close); returns the sum of
 * what fn returned. */
static int
each_job_cgroup(int (*fn)(const char *name, int dir))
{
	int fd = open_job(".");
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	int sum = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		int c = open_job(de->d_name);
		if (c < 0)
			continue;
		sum += fn(de->d_name, c);
		close(c);
	}
	closedir(d);
	return sum;
}

static int
kill_one(const char *name, int dir)
{
	if (!populated(dir))
		return 0;
	kill_dir(dir, name);
	return 1;
}

static int
held_one(const char *name, int dir)
{
	(void)name;
	return populated(dir) ? 1 : 0;
}

static int
remove_one(const char *name, int dir)
{
	(void)dir;
	if (remove_tree(cg.jobs_fd, name, 0) == 0)
		return 0;
	log_warnx("cgroup %s/%s: not removed: %s", cg.jobs, name,
		  strerror(errno));
	return 1;
}

/* Kills every cgroup below BASE/jobs, waits up to timeout seconds for all
 * to empty and removes them.  Returns how many held processes.  Blocks:
 * for start and exit only. */
static int
kill_and_remove_all(double timeout)
{
	int held = each_job_cgroup(kill_one);
	double until = mono() + timeout;
	while (held > 0 && each_job_cgroup(held_one) > 0 && mono() < until)
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	each_job_cgroup(remove_one);
	return held;
}

/* ---- the subtree ------------------------------------------------------ */

/* The mount point of the cgroup2 file system, from mountinfo. */
static int
find_mount(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;
	while (rc != 0 && getline(&line, &cap, f) > 0) {
		/* id parent dev root MOUNTPOINT opts [optional...] - TYPE */
		char *sep = strstr(line, " - ");
		if (sep == NULL || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		/* Octal escapes: \040 is a space. */
		size_t o = 0;
		for (const char *p = mp; *p && o + 1 < size; o++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] && p[3]) {
				out[o] = (char)((p[1] - '0') * 64 +
						(p[2] - '0') * 8 +
						(p[3] - '0'));
				p += 4;
			} else {
				out[o] = *p++;
			}
		}
		out[o] = '\0';
		rc = 0;
	}
	free(line);
	fclose(f);
	return rc;
}

/* jobd's cgroup v2 path, from /proc/self/cgroup ("0::/PATH"). */
static int
own_path(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		return -1;
	char line[PATH_MAX + 8];
	int rc = -1;
	while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		size_t n = strlen(line + 3);
		if (n >= size)
			break;
		memcpy(out, line + 3, n + 1);
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* True when systemd delegated cgroup dir (Delegate=yes). */
static bool
delegated(const char *dir)
{
	static const char *const attrs[] = {"trusted.delegate",
					    "user.delegate"};
	for (size_t i = 0; i < 2; i++) {
		char v[8];
		ssize_t n = getxattr(dir, attrs[i], v, sizeof(v) - 1);
		if (n > 0) {
			v[n] = '\0';
			if (v[0] == '1')
				return true;
		}
	}
	return false;
}

/* Moves jobd into dir/daemon, and with all every other process of
 * cgroup dir too (a delegated unit's cgroup holds only its own). */
static int
move_to_leaf(const char *dir, bool all)
{
	char *leaf = xasprintf("%s/daemon", dir);
	int rc = -1;
	if (mkdir(leaf, 0755) != 0 && errno != EEXIST) {
		diag_set(E_IO, "%s: %s", leaf, strerror(errno));
		goto out;
	}
	int dfd = open_dir(AT_FDCWD, dir);
	int lfd = open_dir(AT_FDCWD, leaf);
	static char buf[65536];
	strcpy(buf, "0\n");
	if (dfd >= 0 && lfd >= 0 &&
	    (!all || get(dfd, "cgroup.procs", buf, sizeof(buf)) >= 0)) {
		rc = 0;
		/* Whole lines only: a pid cut at the buffer's end is not
		 * some other pid. */
		for (char *p = buf, *e; *p; p = e + 1) {
			long pid = strtol(p, &e, 10);
			if (e == p || *e != '\n')
				break;
			char num[24];
			snprintf(num, sizeof(num), "%ld", pid);
			if (put(lfd, "cgroup.procs", num) != 0 &&
			    errno != ESRCH) {
				diag_set(E_IO, "%s/cgroup.procs: %s", leaf,
					 strerror(errno));
				rc = -1;
				break;
			}
		}
	} else {
		diag_set(E_IO, "%s: %s", dir, strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
out:
	free(leaf);
	return rc;
}

/* Enables in cgroup dir's subtree_control each controller it offers of
 * memory, cpu and pids; returns what its children have, as bits. */
static unsigned
enable_controllers(int dir)
{
	static const struct {
		const char *name;
		unsigned bit;
	} ctl[] = {{"memory", JOBLIMITS_HAVE_MEMORY},
		   {"cpu", JOBLIMITS_HAVE_CPU},
		   {"pids", JOBLIMITS_HAVE_PIDS}};
	char buf[512];
	for (size_t i = 0; i < 3; i++) {
		char op[16];
		snprintf(op, sizeof(op), "+%s", ctl[i].name);
		put(dir, "cgroup.subtree_control", op);
	}
	unsigned have = 0;
	if (get(dir, "cgroup.subtree_control", buf, sizeof(buf)) < 0)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(ctl[i].name);
		for (char *p = buf; (p = strstr(p, ctl[i].name)) != NULL;
		     p += l) {
			if ((p == buf || p[-1] == ' ') &&
			    (p[l] == ' ' || p[l] == '\n' || p[l] == '\0'))
				have |= ctl[i].bit;
		}
	}
	return have;
}

/* Prepares base (an absolute path in the cgroup2 file system; own is
 * jobd's cgroup there): BASE/daemon when jobd sits in base (with every
 * other process of base when delegated), BASE/jobs with the controllers.
 * 0, or -1 with diag. */
static int
prepare(const char *base, const char *mnt, const char *own, bool delegated_base)
{
	struct statfs sf;
	if (statfs(base, &sf) != 0)
		return diag_set(E_IO, "%s: %s", base, strerror(errno));
	if (sf.f_type != CGROUP2_SUPER_MAGIC)
		return diag_set(E_INVAL, "%s: not a cgroup2 directory", base);
	char rb[PATH_MAX], ro[PATH_MAX];
	if (realpath(base, rb) == NULL)
		return diag_set(E_IO, "%s: %s", base, strerror(errno));
	if (realpath(own, ro) != NULL && strcmp(rb, ro) == 0 &&
	    move_to_leaf(rb, delegated_base) != 0)
		return -1;
	int bfd = open_dir(AT_FDCWD, rb);
	if (bfd < 0)
		return diag_set(E_IO, "%s: %s", rb, strerror(errno));
	enable_controllers(bfd);
	close(bfd);
	cg.jobs = xasprintf("%s/jobs", rb);
	if (mkdir(cg.jobs, 0755) != 0 && errno != EEXIST)
		return diag_set(E_IO, "%s: %s", cg.jobs, strerror(errno));
	cg.jobs_fd = open_dir(AT_FDCWD, cg.jobs);
	if (cg.jobs_fd < 0)
		return diag_set(E_IO, "%s: %s", cg.jobs, strerror(errno));
	/* A second jobd here would kill this one's jobs at its start. */
	if (flock(cg.jobs_fd, LOCK_EX | LOCK_NB) != 0)
		return diag_set(E_INVAL, "%s: %s", cg.jobs,
				errno == EWOULDBLOCK ? "another jobd uses it"
						     : strerror(errno));
	char rm[PATH_MAX];
	size_t ml = realpath(mnt, rm) != NULL ? strlen(rm) : 0;
	if (ml == 0 || strncmp(cg.jobs, rm, ml) != 0)
		return diag_set(E_INVAL, "%s: not below the cgroup2 mount %s",
				cg.jobs, mnt);
	cg.rel = cg.jobs + ml;
	cg.have = enable_controllers(cg.jobs_fd);
	/* Making and removing a child is what each attempt will do. */
	if (mkdirat(cg.jobs_fd, "probe", 0755) != 0 && errno != EEXIST)
		return diag_set(E_IO, "%s: cannot make cgroups: %s", cg.jobs,
				strerror(errno));
	cg.has_kill = faccessat(cg.jobs_fd, "probe/cgroup.kill", W_OK, 0) == 0;
	unlinkat(cg.jobs_fd, "probe", AT_REMOVEDIR);
	return 0;
}

/* Picks the base and prepares it; 0, or -1 with diag saying why not. */
static int
find_base(const char *root)
{
	char mnt[PATH_MAX], own[PATH_MAX], ownp[2 * PATH_MAX];
	if (find_mount(mnt, sizeof(mnt)) != 0)
		return diag_set(E_INVAL, "no cgroup2 file system is mounted");
	if (own_path(own, sizeof(own)) != 0)
		return diag_set(E_INVAL, "jobd is in no cgroup v2");
	snprintf(ownp, sizeof(ownp), "%s%s", mnt,
		 strcmp(own, "/") == 0 ? "" : own);
	if (root != NULL && *root != '\0') {
		char rr[PATH_MAX], rm[PATH_MAX];
		if (realpath(root, rr) != NULL && realpath(mnt, rm) != NULL &&
		    strcmp(rr, rm) == 0)
			return diag_set(E_INVAL,
					"cgroup_root %s: the root cgroup holds "
					"every process; name a cgroup below it",
					root);
		return prepare(root, mnt, ownp, false);
	}
	if (strcmp(own, "/") == 0)
		return diag_set(E_INVAL, "jobd runs in the root cgroup and "
					 "cgroup_root is not set");
	if (!delegated(ownp))
		return diag_set(E_INVAL,
				"jobd's cgroup %s is not delegated to it "
				"(Delegate=yes) and cgroup_root is not set",
				ownp);
	return prepare(ownp, mnt, ownp, true);
}

static void
reset(void)
{
	if (cg.jobs_fd >= 0)
		close(cg.jobs_fd);
	free(cg.jobs);
	cg.jobs = NULL;
	cg.rel = NULL;
	cg.jobs_fd = -1;
	cg.have = 0;
	cg.active = false;
}

int
cgroup_init(const char *root, bool required)
{
	if (find_base(root) != 0) {
		reset();
		if (required) {
			char why[DIAG_MSG_MAX];
			snprintf(why, sizeof(why), "%s", diag_msg());
			return diag_set(E_INVAL, "cgroups = required: %s", why);
		}
		log_info("cgroups: not used (%s): attempts are contained by "
			 "their process groups",
			 diag_msg());
		return 0;
	}
	cg.active = true;
	log_info("cgroups: attempts in %s, controllers:%s%s%s%s", cg.jobs,
		 cg.have & JOBLIMITS_HAVE_MEMORY ? " memory" : "",
		 cg.have & JOBLIMITS_HAVE_CPU ? " cpu" : "",
		 cg.have & JOBLIMITS_HAVE_PIDS ? " pids" : "",
		 cg.have == 0 ? " none" : "");
	return 1;
}

bool
cgroup_active(void)
{
	return cg.active;
}

unsigned
cgroup_controllers(void)
{
	return cg.have;
}

const char *
cgroup_jobs_dir(void)
{
	return cg.active ? cg.jobs : NULL;
}

int
cgroup_reap_leftovers(void)
{
	return cg.active ? kill_and_remove_all(5.0) : 0;
}

/* ---- leftovers -------------------------------------------------------- */

/* Leftovers are removed when their cgroup.events says they emptied: the
 * kernel signals a change of that file to inotify, so a lingering cgroup
 * costs nothing while it runs.  The timer runs only while some leftover
 * has a deadline to kill it or no watch (inotify refused one). */
static int ino_fd = -1;
static ev_io ino_w;

static struct leftover *
find_leftover(const char *name)
{
	for (struct leftover *l = leftovers; l != NULL; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

static void
drop_leftover(struct leftover *gone)
{
	for (struct leftover **pp = &leftovers; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			if (gone->wd >= 0 && ino_fd >= 0)
				inotify_rm_watch(ino_fd, gone->wd);
			free(gone);
			nleftovers--;
			return;
		}
	}
}

/* Kills l when its deadline has come (again while it still holds
 * processes, for the freeze fallback), and drops it once its cgroup is
 * gone.  True when it was dropped. */
static bool
look_at(struct leftover *l, double now)
{
	int c = open_job(l->name);
	bool held = c >= 0 && populated(c);
	if (held && now >= l->kill_at) {
		kill_dir(c, l->name);
		l->killed = true;
	}
	if (c >= 0)
		close(c);
	if (held || (c >= 0 && remove_tree(cg.jobs_fd, l->name, 0) != 0))
		return false;
	drop_leftover(l);
	return true;
}

/* Whether the timer is needed: a leftover with a deadline not yet met,
 * or killed and not yet gone, or without a watch. */
static bool
timer_needed(void)
{
	for (struct leftover *l = leftovers; l != NULL; l = l->next)
		if (l->wd < 0 || isfinite(l->kill_at))
			return true;
	return false;
}

static void
sweep(void)
{
	double now = mono();
	for (struct leftover *l = leftovers, *next; l != NULL; l = next) {
		next = l->next;
		if (l->wd < 0 || now >= l->kill_at)
			look_at(l, now);
	}
	if (sweeping && !timer_needed()) {
		ev_timer_stop(loop_ev(), &sweep_w);
		sweeping = false;
	}
}

static void
sweep_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	sweep();
}

/* cgroup.events of some leftovers changed: those now empty go. */
static void
ino_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const void *)p;
			for (struct leftover *x = leftovers; x; x = x->next) {
				if (x->wd == e->wd) {
					look_at(x, mono());
					break;
				}
			}
			p += sizeof(*e) + e->len;
		}
	}
}

static void
start_timer(void)
{
	if (sweeping)
		return;
	ev_timer_init(&sweep_w, sweep_cb, SWEEP_INTERVAL, SWEEP_INTERVAL);
	ev_timer_start(loop_ev(), &sweep_w);
	sweeping = true;
}

/* Records the cgroup name, which still holds processes, as a leftover:
 * killed at kill_at (INFINITY: never, it lingers), removed once empty. */
static void
add_leftover(const char *name, double kill_at)
{
	struct leftover *l = xcalloc(1, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->kill_at = kill_at;
	l->wd = -1;
	if (ino_fd < 0) {
		ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ino_fd >= 0) {
			ev_io_init(&ino_w, ino_cb, ino_fd, EV_READ);
			ev_io_start(loop_ev(), &ino_w);
		}
	}
	if (ino_fd >= 0) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s/cgroup.events", cg.jobs, name);
		l->wd = inotify_add_watch(ino_fd, p, IN_MODIFY);
	}
	l->next = leftovers;
	leftovers = l;
	nleftovers++;
	if (l->wd < 0 || isfinite(kill_at))
		start_timer();
}

int
cgroup_pending(void)
{
	return nleftovers;
}

/* Holds until what the leftovers hold has had its grace: lingering ones
 * get SIGTERM now and grace seconds; the others keep their deadlines
 * (at most grace from now).  Blocks: for exit only. */
static void
leftovers_grace(double grace)
{
	double now = mono(), until = now;
	for (struct leftover *l = leftovers; l != NULL; l = l->next) {
		double at = isfinite(l->kill_at) ? l->kill_at : now + grace;
		if (!isfinite(l->kill_at)) {
			int c = open_job(l->name);
			if (c >= 0) {
				signal_procs(c, l->name, SIGTERM);
				close(c);
			}
		}
		if (at > until)
			until = at < now + grace ? at : now + grace;
	}
	while (nleftovers > 0 && mono() < until) {
		for (struct leftover *l = leftovers, *next; l; l = next) {
			next = l->next;
			int c = open_job(l->name);
			bool held = c >= 0 && populated(c);
			if (c >= 0)
				close(c);
			if (!held)
				drop_leftover(l);
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
}

void
cgroup_shutdown(double grace)
{
	if (sweeping)
		ev_timer_stop(loop_ev(), &sweep_w);
	sweeping = false;
	if (cg.active)
		leftovers_grace(grace);
	while (leftovers != NULL)
		drop_leftover(leftovers);
	if (ino_fd >= 0) {
		ev_io_stop(loop_ev(), &ino_w);
		close(ino_fd);
		ino_fd = -1;
	}
	if (cg.active)
		kill_and_remove_all(1.0);
	reset();
}

/* ---- attempts --------------------------------------------------------- */

/* Writes l into the new cgroup dir; 0, or -1 with diag. */
static int
set_limits(int dir, const char *name, const struct joblimits *l)
{
	char v[64];
	const char *file = NULL;
	if (l->memory > 0 && (cg.have & JOBLIMITS_HAVE_MEMORY)) {
		snprintf(v, sizeof(v), "%lld", (long long)l->memory);
		if (put(dir, file = "memory.max", v) != 0)
			goto fail;
		/* Swap would let it go past the limit, slowly. */
		if (put(dir, "memory.swap.max", "0") != 0 && errno != ENOENT)
			goto fail;
	}
	if (l->cpu > 0) {
		/* As many CPUs as the host has, or more, is no limit (and
		 * the kernel refuses quotas past a bound). */
		double q = ceil(l->cpu * CPU_PERIOD_US);
		if (l->cpu >= (double)get_nprocs_conf())
			snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
		else
			snprintf(v, sizeof(v), "%.0f %d",
				 q < CPU_MIN_QUOTA_US ? CPU_MIN_QUOTA_US : q,
				 CPU_PERIOD_US);
		if (put(dir, file = "cpu.max", v) != 0)
			goto fail;
	}
	if (l->tasks > 0) {
		/* Past the most pids a host can have, it is no limit. */
		if (l->tasks > PIDS_LIMIT_MAX)
			snprintf(v, sizeof(v), "max");
		else
			snprintf(v, sizeof(v), "%lld", (long long)l->tasks);
		if (put(dir, file = "pids.max", v) != 0)
			goto fail;
	}
	return 0;
fail:
	return diag_set(E_IO, "cgroup %s/%s/%s: %s", cg.jobs, name,
			file ? file : "memory.swap.max", strerror(errno));
}

/* A descriptor of a's cgroup (the caller closes it), or -1. */
static int
open_attempt(const struct cgroup_attempt *a)
{
	if (a->procs == NULL)
		return -1;
	return open_job(a->name);
}

/* Makes a new cgroup for a: ID.N, or, while a cgroup of that name still
 * holds an earlier run of that attempt number (a retried job counts from
 * 1 again; a lingering run stays as it is), ID.N.2, ID.N.3...  A cgroup of
 * the name that is no leftover of this jobd is killed and swept.  0, or
 * -1 with errno. */
static int
make_cgroup(struct cgroup_attempt *a, int64_t id, int attempt)
{
	for (int k = 1; k <= 100; k++) {
		if (k == 1)
			snprintf(a->name, sizeof(a->name), "%lld.%d",
				 (long long)id, attempt);
		else
			snprintf(a->name, sizeof(a->name), "%lld.%d.%d",
				 (long long)id, attempt, k);
		if (mkdirat(cg.jobs_fd, a->name, 0755) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (find_leftover(a->name) == NULL)
			add_leftover(a->name, mono());
	}
	errno = EEXIST;
	return -1;
}

int
cgroup_attempt_open(int64_t id, int attempt, const struct joblimits *l,
		    struct cgroup_attempt *a)
{
	a->procs = NULL;
	snprintf(a->name, sizeof(a->name), "%lld.%d", (long long)id, attempt);
	if (!cg.active)
		return 0;
	if (make_cgroup(a, id, attempt) != 0) {
		int e = errno;
		diag_set(E_IO, "cgroup %s/%s: %s", cg.jobs, a->name,
			 strerror(e));
		errno = e;
		return -1;
	}
	int dir = open_job(a->name);
	int rc = dir < 0 ? diag_set(E_IO, "cgroup %s/%s: %s", cg.jobs, a->name,
				    strerror(errno))
			 : set_limits(dir, a->name, l);
	int e = errno;
	if (dir >= 0)
		close(dir);
	if (rc != 0) {
		unlinkat(cg.jobs_fd, a->name, AT_REMOVEDIR);
		errno = e;
		return -1;
	}
	a->procs = xasprintf("%s/%s/cgroup.procs", cg.jobs, a->name);
	return 0;
}

void
cgroup_attempt_signal(const struct cgroup_attempt *a, int sig)
{
	int dir = open_attempt(a);
	if (dir >= 0) {
		signal_procs(dir, a->name, sig);
		close(dir);
	}
}

void
cgroup_attempt_kill(const struct cgroup_attempt *a)
{
	int dir = open_attempt(a);
	if (dir >= 0) {
		kill_dir(dir, a->name);
		close(dir);
	}
}

void
cgroup_usage_at(int dir, struct cgroup_usage *u)
{
	*u = (struct cgroup_usage){.memory_peak = -1};
	char buf[1024];
	if (dir < 0)
		return;
	if (get(dir, "cpu.stat", buf, sizeof(buf)) > 0) {
		int64_t us = keyed(buf, "user_usec");
		int64_t sy = keyed(buf, "system_usec");
		if (us >= 0 && sy >= 0) {
			u->cpu_known = true;
			u->user = (double)us / 1e6;
			u->system = (double)sy / 1e6;
		}
	}
	if (get(dir, "memory.peak", buf, sizeof(buf)) > 0)
		u->memory_peak = strtoll(buf, NULL, 10);
	if (get(dir, "memory.events", buf, sizeof(buf)) > 0) {
		int64_t k = keyed(buf, "oom_kill");
		u->oom_kills = k > 0 ? k : 0;
	}
}

void
cgroup_attempt_usage(const struct cgroup_attempt *a, struct cgroup_usage *u)
{
	int dir = open_attempt(a);
	cgroup_usage_at(dir, u);
	if (dir >= 0)
		close(dir);
}

void
cgroup_attempt_close(struct cgroup_attempt *a, double grace, bool linger)
{
	if (a->procs == NULL)
		return;
	free(a->procs);
	a->procs = NULL;
	if (remove_tree(cg.jobs_fd, a->name, 0) == 0)
		return;
	/* Whatever the reason it stays (processes left, or descriptors
	 * short for the walk), it is followed until it is gone. */
	if (errno != EBUSY && errno != ENOTEMPTY)
		log_warnx("cgroup %s/%s: not removed yet: %s", cg.jobs, a->name,
			  strerror(errno));
	log_debug("cgroup %s/%s: processes left%s", cg.jobs, a->name,
		  linger ? " (linger)" : "");
	if (!linger) {
		int dir = open_job(a->name);
		if (dir >= 0) {
			signal_procs(dir, a->name, SIGTERM);
			close(dir);
		}
	}
	add_leftover(a->name, linger ? INFINITY : mono() + grace);
}
