/*
 * spawner: the spawner process (serve() and what it calls) and jobd's side
 * of its socket.  The process side uses no libev, no SQLite and no jansson,
 * and no heap beyond one request at a time, so it stays the size it was
 * forked at; it has no children of its own.  jobd's side owns the socket:
 * a request is written as the socket takes it, while jobd waits for the
 * answer.
 */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "xmem.h"

#define CHILD_STACK (64 * 1024)
/* The largest request.  The kernel execs at most a quarter of the stack
 * limit, and never more than 6 MiB, of argv and envp: a bigger request
 * fails as its exec would (E2BIG) without being sent, so the spawner never
 * grows to hold it. */
#define MAX_REQUEST (8u << 20)

enum { REC_STARTED = 1, REC_FAILED };
enum {
	REQ_SWITCH_USER = 1,
	REQ_OUT_FD = 2,
	REQ_ERR_FD = 4,
	REQ_CGROUP = 8,
	REQ_EXTRA_FD = 16
};
/* Most descriptors a request carries: out, err, extra. */
#define REQ_MAX_FDS 3

/* jobd → spawner: this header, then len bytes: ngroups gid_t, then argc +
 * envc + 2 NUL-terminated strings (argv, envp, PATH, cwd), and one more,
 * the path of a cgroup.procs, when the flags say REQ_CGROUP.  The out, err
 * and extra descriptors the flags announce ride with the header, in that
 * order (SCM_RIGHTS). */
struct req_hdr {
	uint32_t len;
	uint32_t argc;
	uint32_t envc;
	uint32_t ngroups;
	uint32_t uid;
	uint32_t gid;
	uint32_t flags;
	uint32_t pad;
	uint64_t rlimit_as;
	uint64_t rlimit_nofile;
	uint64_t rlimit_cpu;
};

/* spawner → jobd, fixed size: STARTED (pid) or FAILED (step, err, and
 * the pid of the child that failed, which jobd reaps, or 0) answers each
 * request in turn. */
struct rec {
	int32_t type;
	int32_t pid;
	int32_t err;
	char step[20];
};

/* ---- the spawner process --------------------------------------------- */

/* What the child needs, in memory it shares with the spawner until exec:
 * everything is prepared beforehand, the child only makes system calls. */
struct child_args {
	char *const *argv;
	char *const *envp;
	const char *path; /* PATH to search argv[0] in */
	const char *cwd;
	int out_fd;
	int err_fd;
	int extra_fd; /* becomes SPAWNER_EXTRA_FD; -1: none */
	int null_fd;
	const char *cgroup_procs; /* the cgroup's cgroup.procs, or NULL */
	bool switch_user;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	uint64_t rlimit_as; /* 0: not set */
	uint64_t rlimit_nofile;
	uint64_t rlimit_cpu;
	pid_t parent;
	sigset_t mask;	  /* set before exec */
	int err;	  /* set by the child on failure */
	const char *step; /* what failed */
};

static char child_stack[CHILD_STACK] __attribute__((aligned(16)));

/* Signals jobd or the spawner catches or ignores; the child puts them back
 * to default before it unblocks signals, so no disposition of theirs ever
 * reaches a job. */
static const int reset_signals[] = {SIGTERM, SIGINT,  SIGHUP,  SIGPIPE, SIGCHLD,
				    SIGUSR1, SIGUSR2, SIGQUIT, SIGALRM};

static int __attribute__((no_sanitize_address))
child_fail(struct child_args *a, const char *step)
{
	a->err = errno;
	a->step = step;
	_exit(127);
}

/* The job's resource limits, in the child; -1 after child_fail. */
static int __attribute__((no_sanitize_address)) set_limits(struct child_args *a)
{
	struct rlimit rl;

	if (a->rlimit_as > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)a->rlimit_as;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			return child_fail(a, "limits.memory");
	}
	if (a->rlimit_nofile > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)a->rlimit_nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return child_fail(a, "limits.nofile");
	}
	if (a->rlimit_cpu > 0) {
		rl.rlim_cur = (rlim_t)a->rlimit_cpu;
		rl.rlim_max = (rlim_t)a->rlimit_cpu + 1;
		if (setrlimit(RLIMIT_CPU, &rl) != 0)
			return child_fail(a, "limits.cpu_time");
	}
	return 0;
}

/* Moves the calling process into the cgroup whose cgroup.procs is path;
 * 0, or -1 with errno. */
static int __attribute__((no_sanitize_address)) join_cgroup(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, "0", 1);
	int e = errno;
	close(fd);
	errno = e;
	return w == 1 ? 0 : -1;
}

/* Runs in the child, on child_stack, sharing memory with the suspended
 * spawner: only async-signal-safe calls. */
static int __attribute__((no_sanitize_address)) child_main(void *arg)
{
	struct child_args *a = arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(reset_signals) / sizeof(int); i++)
		sigaction(reset_signals[i], &sa, NULL);
	/* First, so everything it does is the cgroup's ("0": the writer).
	 * Opened here, in the child's copy of the spawner's table: jobd
	 * spends no descriptor on it. */
	if (a->cgroup_procs != NULL && join_cgroup(a->cgroup_procs) != 0)
		return child_fail(a, "cgroup");
	if (setsid() < 0)
		return child_fail(a, "setsid");
	/* Before the user switch: root may raise a hard limit, a user only
	 * lower one. */
	if (set_limits(a) < 0)
		return -1;
	if (a->switch_user) {
		if (setgroups(a->ngroups, a->groups) != 0)
			return child_fail(a, "setgroups");
		if (setgid(a->gid) != 0)
			return child_fail(a, "setgid");
		if (setuid(a->uid) != 0)
			return child_fail(a, "setuid");
	}
	/* A session keyring of its own, the job's user's (as pam_keyinit
	 * gives a cron job): jobd's would let every job possess the keys
	 * any other job, of any user, added to it.  Past the user's key
	 * quota the job does not start (EDQUOT: tried again later); a
	 * kernel without keyrings has nothing to share. */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 &&
	    errno != ENOSYS)
		return child_fail(a, "keyring");
	/* After the user switch, which clears it.  If the spawner died
	 * before this line, the child is already an orphan: leave. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		return child_fail(a, "prctl");
	if (getppid() != a->parent)
		_exit(127);
	if (chdir(a->cwd) != 0)
		return child_fail(a, "cwd");
	if (dup2(a->null_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 ||
	    dup2(a->err_fd, 2) < 0)
		return child_fail(a, "dup2");
	/* Received close-on-exec: dup2 onto itself would keep the flag. */
	if (a->extra_fd == SPAWNER_EXTRA_FD) {
		if (fcntl(SPAWNER_EXTRA_FD, F_SETFD, 0) != 0)
			return child_fail(a, "dup2");
	} else if (a->extra_fd >= 0 &&
		   dup2(a->extra_fd, SPAWNER_EXTRA_FD) < 0) {
		return child_fail(a, "dup2");
	}
	close_range(a->extra_fd >= 0 ? SPAWNER_EXTRA_FD + 1 : 3, ~0U, 0);
	sigprocmask(SIG_SETMASK, &a->mask, NULL);
	const char *file = a->argv[0];
	if (strchr(file, '/') != NULL) {
		execve(file, a->argv, a->envp);
		return child_fail(a, "exec");
	}
	char path[4096];
	size_t flen = strlen(file);
	const char *p = a->path;
	int saved = ENOENT;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		if (dlen == 0) {
			path[0] = '.';
			dlen = 1;
		} else if (dlen + flen + 2 <= sizeof(path)) {
			memcpy(path, p, dlen);
		} else {
			dlen = 0;
		}
		if (dlen > 0 && dlen + flen + 2 <= sizeof(path)) {
			path[dlen] = '/';
			memcpy(path + dlen + 1, file, flen + 1);
			execve(path, a->argv, a->envp);
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return child_fail(a, "exec");
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	errno = saved;
	return child_fail(a, "exec");
}

/* Starts the child of a, as a child of jobd (a->parent); its pid, or -1
 * with errno.  All signals are blocked around clone, so nothing runs in
 * the child before it has reset the dispositions. */
static int
spawn(struct child_args *a)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	a->err = 0;
	a->step = NULL;
	int pid = clone(child_main, child_stack + sizeof(child_stack),
			CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, a);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return pid;
}

struct server {
	int sock;	     /* to jobd, blocking */
	int null_fd;	     /* /dev/null, every child's stdin */
	pid_t jobd;	     /* the children's parent */
	sigset_t child_mask; /* the mask jobd started with */
};

static void __attribute__((noreturn)) server_exit(const char *why)
{
	if (why != NULL)
		log_warnx("spawner: %s", why);
	_exit(why != NULL ? 1 : 0);
}

static void
server_send(struct server *s, const struct rec *r)
{
	const char *p = (const char *)r;
	size_t n = sizeof(*r);
	while (n > 0) {
		ssize_t w = write(s->sock, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			server_exit(NULL); /* jobd is gone */
		p += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes; false at EOF or on error. */
static bool
server_read(int fd, void *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p = (char *)p + r;
		n -= (size_t)r;
	}
	return true;
}

/* Reads the header of the next request and the descriptors sent with it
 * (at most REQ_MAX_FDS kept; *ctrunc when some could not be received).
 * False at EOF. */
static bool
server_read_hdr(struct server *s, struct req_hdr *h, int fds[REQ_MAX_FDS],
		int *nfds, bool *ctrunc)
{
	union {
		char buf[CMSG_SPACE(REQ_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cm;
	size_t got = 0;
	*nfds = 0;
	*ctrunc = false;
	while (got < sizeof(*h)) {
		struct iovec iov = {(char *)h + got, sizeof(*h) - got};
		struct msghdr m;
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cm.buf;
		m.msg_controllen = sizeof(cm.buf);
		ssize_t r = recvmsg(s->sock, &m, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		if (m.msg_flags & MSG_CTRUNC)
			*ctrunc = true;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL;
		     c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (*nfds < REQ_MAX_FDS)
					fds[(*nfds)++] = fd;
				else
					close(fd);
			}
		}
		got += (size_t)r;
	}
	return true;
}

/* Takes one request, starts its child and answers.  False at EOF. */
static bool
server_request(struct server *s)
{
	struct req_hdr h;
	int fds[REQ_MAX_FDS], nfds;
	bool ctrunc;
	if (!server_read_hdr(s, &h, fds, &nfds, &ctrunc))
		return false;
	if (h.len > MAX_REQUEST || h.argc == 0 ||
	    h.ngroups > h.len / sizeof(gid_t) ||
	    (uint64_t)h.argc + h.envc + 2 > h.len)
		server_exit("bad request header");
	char *data = malloc(h.len + 1);
	char **strv = calloc((size_t)h.argc + h.envc + 5, sizeof(char *));
	if (data == NULL || strv == NULL)
		server_exit("out of memory");
	if (!server_read(s->sock, data, h.len))
		server_exit(NULL);
	data[h.len] = '\0';
	/* The strings: argc, NULL, envc, NULL, PATH, cwd (and the cgroup's
	 * cgroup.procs), each ending within the data, which they fill
	 * exactly. */
	size_t off = (size_t)h.ngroups * sizeof(gid_t);
	size_t want = (size_t)h.argc + h.envc + 2 + !!(h.flags & REQ_CGROUP);
	size_t n = 0;
	char **argv = strv, **envp = strv + h.argc + 1;
	while (n < want && off < h.len) {
		char *str = data + off;
		off += strlen(str) + 1;
		if (n < h.argc)
			argv[n] = str;
		else if (n < (size_t)h.argc + h.envc)
			envp[n - h.argc] = str;
		else
			strv[h.argc + h.envc + 2 + (n - h.argc - h.envc)] = str;
		n++;
	}
	if (n != want || off != h.len)
		server_exit("bad request strings");

	struct rec r;
	memset(&r, 0, sizeof(r));
	int expect = !!(h.flags & REQ_OUT_FD) + !!(h.flags & REQ_ERR_FD) +
		     !!(h.flags & REQ_EXTRA_FD);
	if (nfds != expect) {
		if (!ctrunc)
			server_exit("bad request descriptors");
		/* The spawner's table is full: jobd's limit is ours. */
		r.type = REC_FAILED;
		r.err = EMFILE;
		snprintf(r.step, sizeof(r.step), "spawner");
	} else {
		struct child_args a;
		memset(&a, 0, sizeof(a));
		a.argv = argv;
		a.envp = envp;
		a.path = strv[h.argc + h.envc + 2];
		a.cwd = strv[h.argc + h.envc + 3];
		a.null_fd = s->null_fd;
		int k = 0;
		a.out_fd = h.flags & REQ_OUT_FD ? fds[k++] : s->null_fd;
		a.err_fd = h.flags & REQ_ERR_FD ? fds[k++] : a.out_fd;
		a.extra_fd = h.flags & REQ_EXTRA_FD ? fds[k++] : -1;
		a.cgroup_procs =
			h.flags & REQ_CGROUP ? strv[h.argc + h.envc + 4] : NULL;
		a.switch_user = h.flags & REQ_SWITCH_USER;
		a.uid = (uid_t)h.uid;
		a.gid = (gid_t)h.gid;
		a.groups = (const gid_t *)(void *)data;
		a.ngroups = h.ngroups;
		a.rlimit_as = h.rlimit_as;
		a.rlimit_nofile = h.rlimit_nofile;
		a.rlimit_cpu = h.rlimit_cpu;
		a.mask = s->child_mask;
		a.parent = s->jobd;
		int pid = spawn(&a);
		if (pid < 0) {
			r.type = REC_FAILED;
			r.err = errno;
			snprintf(r.step, sizeof(r.step), "clone");
		} else if (a.err != 0) {
			/* jobd's child: jobd reaps it. */
			r.type = REC_FAILED;
			r.pid = pid;
			r.err = a.err;
			snprintf(r.step, sizeof(r.step), "%s", a.step);
		} else {
			r.type = REC_STARTED;
			r.pid = pid;
		}
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(strv);
	free(data);
	server_send(s, &r);
	return true;
}

static void __attribute__((noreturn)) serve(int sock, pid_t parent)
{
	/* Dies with jobd; if jobd died already, leave. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "jobd-spawner");
	struct server s = {.sock = sock, .null_fd = -1, .jobd = parent};
	/* Nothing of jobd's: its lock, a socket systemd handed over. */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	/* It lives as long as jobd: the signals that stop jobd (a terminal's
	 * ^C reaches the whole group) are not its business. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_SETMASK, NULL, &s.child_mask);
	s.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s.null_fd < 0)
		server_exit("cannot open /dev/null");
	while (server_request(&s))
		;
	server_exit(NULL);
}

/* ---- jobd's side ------------------------------------------------------ */

static int sock = -1; /* to the spawner, non-blocking */
static pid_t spid;
static ev_io sock_w;
static bool watching;
static bool lost;
static spawner_lost_fn lost_hook;
static unsigned char inbuf[64 * sizeof(struct rec)];
static size_t inlen;

/* A request, on its caller's stack until answered. */
struct pending {
	struct buf msg;	      /* what to send */
	size_t off;	      /* bytes of msg sent */
	int fds[REQ_MAX_FDS]; /* sent with the first byte */
	int nfds;
	bool answered;
	struct rec reply;
	struct pending *next;
};

/* Requests not yet answered, oldest first: the spawner answers them in
 * turn.  send_next is the first not wholly sent. */
static struct pending *pend_head, *pend_tail, *send_next;

pid_t
spawner_pid(void)
{
	return spid;
}

int
spawner_init(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return diag_set(E_IO, "spawner: socketpair: %s",
				strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return diag_set(E_IO, "spawner: fork: %s", strerror(e));
	}
	if (pid == 0) {
		close(sv[0]);
		serve(sv[1], parent);
	}
	close(sv[1]);
	sock = sv[0];
	spid = pid;
	fcntl(sock, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Marks the spawner lost, once: says why (what became of it) and calls the
 * hook.  Returns -1. */
static int
lose(const char *what)
{
	if (lost)
		return -1;
	lost = true;
	if (watching) {
		ev_io_stop(loop_ev(), &sock_w);
		watching = false;
	}
	/* The request waiting fails. */
	pend_head = pend_tail = send_next = NULL;
	static char why[160];
	int st;
	pid_t w = 0;
	/* Its socket closes as it exits: give it a moment to be reaped. */
	for (int i = 0; i < 100 && (w = waitpid(spid, &st, WNOHANG)) == 0; i++)
		poll(NULL, 0, 1);
	if (w == spid && WIFSIGNALED(st))
		snprintf(why, sizeof(why),
			 "spawner (pid %d) %s: killed by "
			 "signal %d",
			 (int)spid, what, WTERMSIG(st));
	else if (w == spid && WIFEXITED(st))
		snprintf(why, sizeof(why),
			 "spawner (pid %d) %s: exited with "
			 "status %d",
			 (int)spid, what, WEXITSTATUS(st));
	else
		snprintf(why, sizeof(why), "spawner (pid %d) %s", (int)spid,
			 what);
	if (lost_hook != NULL)
		lost_hook(why);
	return -1;
}

static void
file_rec(const struct rec *r)
{
	struct pending *p = pend_head;
	if (p == NULL || p == send_next ||
	    (r->type != REC_STARTED && r->type != REC_FAILED)) {
		lose("broke the protocol");
		return;
	}
	pend_head = p->next;
	if (pend_head == NULL)
		pend_tail = NULL;
	p->reply = *r;
	p->answered = true;
}

/* Reads and files every record the socket holds.  0, or -1 when the
 * spawner is lost. */
static int
drain(void)
{
	for (;;) {
		ssize_t n = read(sock, inbuf + inlen, sizeof(inbuf) - inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return lost ? -1 : 0;
		if (n == 0)
			return lose("closed its socket");
		if (n < 0)
			return lose("cannot be read");
		inlen += (size_t)n;
		size_t off = 0;
		while (inlen - off >= sizeof(struct rec)) {
			struct rec r;
			memcpy(&r, inbuf + off, sizeof(r));
			file_rec(&r);
			off += sizeof(r);
		}
		memmove(inbuf, inbuf + off, inlen - off);
		inlen -= off;
		if (lost)
			return -1;
	}
}

/* The spawner's reader: files records and wakes whoever awaits them. */
static void
spawner_sock_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	drain();
}

void
spawner_watch(spawner_lost_fn lost_fn)
{
	lost_hook = lost_fn;
	if (sock < 0 || watching)
		return;
	ev_io_init(&sock_w, spawner_sock_cb, sock, EV_READ);
	ev_io_start(loop_ev(), &sock_w);
	watching = true;
}

void
spawner_shutdown(void)
{
	if (watching) {
		ev_io_stop(loop_ev(), &sock_w);
		watching = false;
	}
	if (sock >= 0) {
		close(sock);
		sock = -1;
		int st;
		if (!lost)
			while (waitpid(spid, &st, 0) < 0 && errno == EINTR)
				;
	}
	spid = 0;
	lost = false;
	lost_hook = NULL;
	inlen = 0;
	pend_head = pend_tail = send_next = NULL;
}

static int
fail(struct spawner_fail *f, const char *step, int err)
{
	snprintf(f->step, sizeof(f->step), "%s", step);
	f->err = err;
	return -1;
}

static size_t
strv_len(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Sends what the requests hold, as far as the socket takes it. */
static void
flush(void)
{
	while (send_next != NULL && !lost) {
		struct pending *p = send_next;
		ssize_t n;
		if (p->off == 0 && p->nfds > 0) {
			union {
				char buf[CMSG_SPACE(REQ_MAX_FDS * sizeof(int))];
				struct cmsghdr align;
			} cm;
			memset(&cm, 0, sizeof(cm));
			struct iovec iov = {p->msg.data, p->msg.len};
			struct msghdr m;
			memset(&m, 0, sizeof(m));
			m.msg_iov = &iov;
			m.msg_iovlen = 1;
			m.msg_control = cm.buf;
			m.msg_controllen =
				CMSG_SPACE((size_t)p->nfds * sizeof(int));
			struct cmsghdr *c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN((size_t)p->nfds * sizeof(int));
			memcpy(CMSG_DATA(c), p->fds,
			       (size_t)p->nfds * sizeof(int));
			n = sendmsg(sock, &m, MSG_NOSIGNAL);
		} else {
			n = send(sock, p->msg.data + p->off,
				 p->msg.len - p->off, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			lose("cannot be written to");
			return;
		}
		p->off += (size_t)n;
		if (p->off == p->msg.len)
			send_next = p->next;
	}
}

int
spawner_spawn(const struct spawner_req *r, int *pidfd, struct spawner_fail *f)
{
	memset(f, 0, sizeof(*f));
	*pidfd = -1;
	if (sock < 0 || lost)
		return fail(f, "spawner", EPIPE);
	size_t argc = strv_len(r->argv), envc = strv_len(r->envp);
	struct req_hdr h = {.argc = (uint32_t)argc,
			    .envc = (uint32_t)envc,
			    .ngroups = (uint32_t)r->ngroups,
			    .uid = (uint32_t)r->uid,
			    .gid = (uint32_t)r->gid,
			    .rlimit_as = r->rlimit_as,
			    .rlimit_nofile = r->rlimit_nofile,
			    .rlimit_cpu = r->rlimit_cpu};
	size_t len = r->ngroups * sizeof(gid_t) + strlen(r->path) + 1 +
		     strlen(r->cwd) + 1;
	if (r->cgroup_procs != NULL)
		len += strlen(r->cgroup_procs) + 1;
	for (size_t i = 0; i < argc && len <= MAX_REQUEST; i++)
		len += strlen(r->argv[i]) + 1;
	for (size_t i = 0; i < envc && len <= MAX_REQUEST; i++)
		len += strlen(r->envp[i]) + 1;
	if (argc == 0 || r->ngroups > MAX_REQUEST / sizeof(gid_t) ||
	    len > MAX_REQUEST)
		return fail(f, "exec", argc == 0 ? EINVAL : E2BIG);
	h.len = (uint32_t)len;
	int fds[REQ_MAX_FDS] = {-1, -1, -1}, nfds = 0;
	if (r->out_fd >= 0) {
		h.flags |= REQ_OUT_FD;
		fds[nfds++] = r->out_fd;
	}
	if (r->err_fd >= 0) {
		h.flags |= REQ_ERR_FD;
		fds[nfds++] = r->err_fd;
	}
	if (r->extra_fd > 0) {
		h.flags |= REQ_EXTRA_FD;
		fds[nfds++] = r->extra_fd;
	}
	if (r->cgroup_procs != NULL)
		h.flags |= REQ_CGROUP;
	if (r->switch_user)
		h.flags |= REQ_SWITCH_USER;
	/* The child's pidfd will take this slot: a process that jobd could
	 * not watch is never started. */
	int slot = fcntl(sock, F_DUPFD_CLOEXEC, 0);
	if (slot < 0)
		return fail(f, "clone", errno);
	struct pending p;
	memset(&p, 0, sizeof(p));
	memcpy(p.fds, fds, sizeof(fds));
	p.nfds = nfds;
	buf_reserve(&p.msg, sizeof(h) + len);
	buf_append(&p.msg, &h, sizeof(h));
	buf_append(&p.msg, r->groups, r->ngroups * sizeof(gid_t));
	for (size_t i = 0; i < argc; i++)
		buf_append(&p.msg, r->argv[i], strlen(r->argv[i]) + 1);
	for (size_t i = 0; i < envc; i++)
		buf_append(&p.msg, r->envp[i], strlen(r->envp[i]) + 1);
	buf_append(&p.msg, r->path, strlen(r->path) + 1);
	buf_append(&p.msg, r->cwd, strlen(r->cwd) + 1);
	if (r->cgroup_procs != NULL)
		buf_append(&p.msg, r->cgroup_procs,
			   strlen(r->cgroup_procs) + 1);
	if (pend_tail != NULL)
		pend_tail->next = &p;
	else
		pend_head = &p;
	pend_tail = &p;
	if (send_next == NULL)
		send_next = &p;
	/* Synchronous, as a vfork in jobd was: what follows the spawn (the
	 * pid recorded) happens before anything else runs. */
	flush();
	while (!p.answered && !lost) {
		struct pollfd pf = {sock, POLLIN, 0};
		if (send_next != NULL)
			pf.events |= POLLOUT;
		if (poll(&pf, 1, -1) < 0) {
			if (errno != EINTR)
				lose("cannot be polled");
			continue;
		}
		if (pf.revents & POLLOUT)
			flush();
		if (pf.revents & (POLLIN | POLLHUP | POLLERR))
			drain();
	}
	buf_release(&p.msg);
	close(slot);
	if (!p.answered)
		return fail(f, "spawner", EPIPE);
	int pid = p.reply.pid, st;
	if (p.reply.type == REC_FAILED) {
		/* A child that failed before exec is ours to reap; it has
		 * exited already (the spawner saw its vfork end). */
		while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		p.reply.step[sizeof(p.reply.step) - 1] = '\0';
		return fail(f, p.reply.step, p.reply.err);
	}
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0) {
		int e = errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		return fail(f, "pidfd_open", e);
	}
	return pid;
}
