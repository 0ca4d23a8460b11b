/*
 * runner: spawn (through the spawner), capture, time out and reap one
 * attempt.  Owns the child's pipe, pidfd and log file (named and opened
 * by joblog) for the attempt's lifetime; the list of running attempts
 * links the consumers' struct runner, which it does not own.
 */
#include "runner.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "cgroup.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "joblog.h"
#include "log.h"
#include "loop.h"
#include "spawner.h"
#include "users.h"
#include "xmem.h"

#define MINIMAL_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define READ_CHUNK (64 * 1024)
/* Bytes read from one job's pipe before letting others run. */
#define READ_BUDGET (1024 * 1024)
/* The progress pipe is read at most once every PROGRESS_PACE seconds
 * (what a job writes meanwhile waits in the pipe, so a job writing line
 * after line wakes jobd 20 times a second, not once a line), and its
 * job.progress events go at most once every PROGRESS_EVENT_GAP seconds,
 * each with the latest progress. */
#define PROGRESS_PACE 0.05
#define PROGRESS_EVENT_GAP 0.25
#define PROGRESS_BUDGET (256 * 1024)

static struct runner *running;
static int nrunning;

/* One runner per job: a job is never run twice at once. */
static void
list_add(struct runner *r)
{
	assert(runner_find(r->job_id) == NULL);
	r->prev = NULL;
	r->next = running;
	if (running)
		running->prev = r;
	running = r;
	nrunning++;
}

static void
list_remove(struct runner *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		running = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	nrunning--;
}

struct runner *
runner_find(int64_t job_id)
{
	for (struct runner *r = running; r; r = r->next)
		if (r->job_id == job_id)
			return r;
	return NULL;
}

int
runner_count(void)
{
	return nrunning;
}

void
runner_kill(struct runner *ctl, enum runner_kill why)
{
	if (ctl->kill == RUNNER_KILL_NONE)
		ctl->kill = why;
	if (ctl->c)
		coro_wakeup(ctl->c);
}

void
runner_kill_all(enum runner_kill why)
{
	for (struct runner *r = running; r; r = r->next)
		runner_kill(r, why);
}

void
runner_fence_all(double grace)
{
	for (struct runner *r = running; r; r = r->next) {
		r->max_grace = grace > 0 ? grace : 0.001;
		/* A cancel or shutdown already under way is one now. */
		r->kill = RUNNER_KILL_FENCE;
		if (r->c)
			coro_wakeup(r->c);
	}
}

/* A user jobs run as, as the child needs it.  Looked up once and kept for
 * USER_TTL seconds: reading /etc/passwd and /etc/group for every job was
 * a tenth of the cost of a short job. */
struct user {
	uid_t uid;
	gid_t gid;
	char *name, *dir, *shell; /* owned */
	gid_t *groups;		  /* owned: supplementary groups */
	size_t ngroups;
	double at; /* loop_now() of the lookup */
};

#define USER_CACHE 16
#define USER_TTL 30.0

static struct user users[USER_CACHE];
static int users_next;

static void
user_clear(struct user *u)
{
	free(u->name);
	free(u->dir);
	free(u->shell);
	free(u->groups);
	memset(u, 0, sizeof(*u));
}

/* Looks the user up (in the cache first); borrowed until the next call. */
static const struct user *
user_get(uid_t uid)
{
	double now = loop_ev() ? loop_now() : 0;
	for (int i = 0; i < USER_CACHE; i++)
		if (users[i].name && users[i].uid == uid &&
		    now - users[i].at < USER_TTL)
			return &users[i];
	struct users_pw ent;
	if (users_pw_by_uid(uid, &ent) != 0) {
		/* Out of descriptors the look-up fails: an expired entry
		 * is better than none. */
		int e = errno;
		for (int i = 0; i < USER_CACHE; i++)
			if (users[i].name && users[i].uid == uid)
				return &users[i];
		errno = e;
		return NULL;
	}
	struct passwd pw = ent.pw;
	gid_t *groups = NULL;
	size_t ngroups = 0;
	if (geteuid() == 0) {
		int n = 32;
		for (;;) {
			groups =
				xreallocarray(groups, (size_t)n, sizeof(gid_t));
			int want = n;
			if (getgrouplist(pw.pw_name, pw.pw_gid, groups,
					 &want) >= 0) {
				ngroups = (size_t)want;
				break;
			}
			if (want <= n)
				want = n * 2;
			if (want > 65536) {
				free(groups);
				diag_set(E_INVAL, "user %s: too many groups",
					 pw.pw_name);
				users_pw_release(&ent);
				return NULL;
			}
			n = want;
		}
	}
	struct user *u = NULL;
	for (int i = 0; i < USER_CACHE && u == NULL; i++)
		if (users[i].name && users[i].uid == uid)
			u = &users[i];
	if (u == NULL) {
		u = &users[users_next];
		users_next = (users_next + 1) % USER_CACHE;
	}
	user_clear(u);
	u->uid = uid;
	u->gid = pw.pw_gid;
	u->name = xstrdup(pw.pw_name);
	u->dir = xstrdup(pw.pw_dir ? pw.pw_dir : "/");
	u->shell =
		xstrdup(pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh");
	u->groups = groups;
	u->ngroups = ngroups;
	u->at = now;
	users_pw_release(&ent);
	return u;
}

/* True when extra ("K=V" strings) sets key. */
static bool
overridden(const char *key, char *const *extra)
{
	size_t n = strlen(key);
	for (size_t i = 0; extra && extra[i]; i++)
		if (strncmp(extra[i], key, n) == 0 && extra[i][n] == '=')
			return true;
	return false;
}

/* The environment of a process: env (an object), or the minimal one for
 * pw, plus extra (NULL-terminated, may be NULL).  Returns a NULL-terminated
 * array the caller frees with free_strv(); *path points into it (PATH's
 * value) or at the minimal PATH. */
static char **
build_env(const json_t *env, const struct user *pw, char *const *extra,
	  const char **path)
{
	size_t n = 0, cap = 16;
	char **out = xcalloc(cap, sizeof(*out));
	*path = NULL;
#define ADD(s)                                                       \
	do {                                                         \
		if (n + 2 > cap) {                                   \
			cap *= 2;                                    \
			out = xreallocarray(out, cap, sizeof(*out)); \
		}                                                    \
		out[n++] = (s);                                      \
	} while (0)
	if (env != NULL) {
		const char *k;
		json_t *v;
		json_object_foreach ((json_t *)(uintptr_t)env, k, v) {
			if (overridden(k, extra))
				continue;
			ADD(xasprintf("%s=%s", k, json_string_value(v)));
			if (strcmp(k, "PATH") == 0)
				*path = out[n - 1] + 5;
		}
	} else {
		ADD(xstrdup("PATH=" MINIMAL_PATH));
		*path = out[n - 1] + 5;
		if (pw) {
			ADD(xasprintf("HOME=%s", pw->dir));
			ADD(xasprintf("USER=%s", pw->name));
			ADD(xasprintf("LOGNAME=%s", pw->name));
			ADD(xasprintf("SHELL=%s", pw->shell));
		}
	}
	for (size_t i = 0; extra && extra[i]; i++)
		ADD(xstrdup(extra[i]));
#undef ADD
	out[n] = NULL;
	if (*path == NULL)
		*path = MINIMAL_PATH;
	return out;
}

static char **
build_argv(const json_t *argv, const char *shell)
{
	if (shell != NULL) {
		char **v = xcalloc(4, sizeof(*v));
		v[0] = xstrdup("/bin/sh");
		v[1] = xstrdup("-c");
		v[2] = xstrdup(shell);
		return v;
	}
	size_t n = json_array_size(argv);
	char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(json_string_value(json_array_get(argv, i)));
	return v;
}

static void
free_strv(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static double
mono_now(void)
{
	return (double)coro_clock_ns() / 1e9;
}

/* Where one attempt's output goes. */
struct capture {
	int fd;		/* pipe read end, -1 when closed */
	int log_fd;	/* -1 until the first byte */
	char *log_path; /* owned */
	int64_t written;
	int64_t max;
	bool truncated;
	uid_t uid;
	gid_t gid;
	bool chown;
	int attempt;
};

static void
capture_write(struct capture *cp, const char *data, size_t n)
{
	if (cp->written >= cp->max) {
		cp->truncated = true;
		return;
	}
	if ((int64_t)n > cp->max - cp->written) {
		n = (size_t)(cp->max - cp->written);
		cp->truncated = true;
	}
	if (cp->log_fd < 0) {
		cp->log_fd = joblog_open(cp->log_path, cp->attempt, cp->chown,
					 cp->uid, cp->gid);
		if (cp->log_fd < 0) {
			log_warn("job log %s", cp->log_path);
			cp->written = cp->max;
			return;
		}
	}
	while (n > 0) {
		ssize_t w = write(cp->log_fd, data, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			log_warn("job log %s", cp->log_path);
			cp->written = cp->max;
			return;
		}
		data += w;
		n -= (size_t)w;
		cp->written += w;
	}
}

/* Reads what the pipe holds, up to budget bytes.  Returns false at EOF. */
static bool
capture_read(struct capture *cp, size_t budget)
{
	char chunk[READ_CHUNK];
	size_t got = 0;
	while (cp->fd >= 0 && got < budget) {
		ssize_t r = read(cp->fd, chunk, sizeof(chunk));
		if (r > 0) {
			capture_write(cp, chunk, (size_t)r);
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		return false; /* EOF or error */
	}
	return true;
}

struct run_rec {
	struct coro *c;
	bool exited;
	bool readable;
	bool timer;
	bool prog_readable; /* the progress pipe has lines */
	bool prog_pace;	    /* time to look at it again */
	bool prog_event;    /* a job.progress event is due */
};

static void
runner_pid_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)revents;
	struct run_rec *rec = w->data;
	rec->exited = true;
	ev_io_stop(l, w);
	coro_wakeup(rec->c);
}

static void
runner_out_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)revents;
	struct run_rec *rec = w->data;
	rec->readable = true;
	coro_wakeup(rec->c);
}

static void
runner_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	struct run_rec *rec = w->data;
	rec->timer = true;
	coro_wakeup(rec->c);
}

static void
runner_prog_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)revents;
	struct run_rec *rec = w->data;
	rec->prog_readable = true;
	coro_wakeup(rec->c);
}

static void
runner_pace_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	struct run_rec *rec = w->data;
	rec->prog_pace = true;
	coro_wakeup(rec->c);
}

static void
runner_prog_event_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	struct run_rec *rec = w->data;
	rec->prog_event = true;
	coro_wakeup(rec->c);
}

/* One attempt's progress pipe and its events. */
struct prog_pipe {
	int fd;		    /* the read end; -1 once closed */
	struct progress *p; /* borrowed: the runner's */
	ev_io io_w;	    /* started while fd is open and not paced */
	ev_timer pace_w;    /* brings io_w back */
	ev_timer event_w;   /* the next event is due */
	uint64_t sent_seq;  /* p->seq the last event showed */
	double sent_at;	    /* s, monotonic: the last event; 0: none */
	int64_t job_id;
	const char *queue; /* borrowed */
	json_t *labels;	   /* borrowed; NULL: none */
	uid_t uid;
	int attempt;
};

/* Read in one step from the loop, never across a yield: one buffer for
 * every attempt. */
static char prog_chunk[64 * 1024];

/* Sends job.progress with the latest progress when it changed since the
 * last event.  Does not yield. */
static void
prog_send(struct prog_pipe *pp)
{
	if (pp->p->seq == pp->sent_seq)
		return;
	pp->sent_seq = pp->p->seq;
	pp->sent_at = mono_now();
	if (!events_watched())
		return;
	json_t *progress = progress_json(pp->p);
	/* Its labels too: a watch filtered by labels matches on them. */
	json_t *job = json_pack(
		"{s:I,s:s,s:I,s:s,s:i,s:o,s:I,s:o}", "id",
		(json_int_t)pp->job_id, "queue", pp->queue, "uid",
		(json_int_t)pp->uid, "state", "running", "attempt", pp->attempt,
		"progress", progress ? progress : json_null(),
		"progress_bad_lines", (json_int_t)pp->p->bad, "labels",
		pp->labels ? json_incref(pp->labels) : json_object());
	events_job_progress(pp->job_id, job);
}

/* The progress changed: its event goes now, or once PROGRESS_EVENT_GAP
 * has passed since the last one. */
static void
prog_due(struct prog_pipe *pp)
{
	if (pp->p->seq == pp->sent_seq || ev_is_active(&pp->event_w))
		return;
	double wait = pp->sent_at + PROGRESS_EVENT_GAP - mono_now();
	if (pp->sent_at == 0 || wait <= 0) {
		prog_send(pp);
		return;
	}
	ev_timer_set(&pp->event_w, wait, 0);
	ev_timer_start(loop_ev(), &pp->event_w);
}

/* Reads what the pipe holds, up to budget bytes; at EOF (every writer
 * gone) takes a last line without its newline and closes the pipe.
 * Returns the bytes read.  Does not yield. */
static size_t
prog_read(struct prog_pipe *pp, size_t budget)
{
	size_t got = 0;
	while (pp->fd >= 0 && got < budget) {
		ssize_t r = read(pp->fd, prog_chunk, sizeof(prog_chunk));
		if (r > 0) {
			progress_feed(pp->p, prog_chunk, (size_t)r);
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		progress_eof(pp->p);
		ev_io_stop(loop_ev(), &pp->io_w);
		close(pp->fd);
		pp->fd = -1;
	}
	return got;
}

/* Reads the pipe now, one read of what it holds (another would race a
 * writer that refills it line by line, a system call a line); when it
 * held something, looks again in PROGRESS_PACE (what comes meanwhile
 * waits in the pipe), else waits for it to turn readable. */
static void
prog_turn(struct prog_pipe *pp)
{
	size_t got = prog_read(pp, 1);
	if (pp->fd < 0)
		return;
	if (got > 0) {
		ev_io_stop(loop_ev(), &pp->io_w);
		ev_timer_set(&pp->pace_w, PROGRESS_PACE, 0);
		ev_timer_start(loop_ev(), &pp->pace_w);
	} else {
		ev_io_start(loop_ev(), &pp->io_w);
	}
}

static void
prog_start(struct prog_pipe *pp, struct run_rec *rec)
{
	ev_io_init(&pp->io_w, runner_prog_cb, pp->fd >= 0 ? pp->fd : 0,
		   EV_READ);
	pp->io_w.data = rec;
	ev_init(&pp->pace_w, runner_pace_cb);
	pp->pace_w.data = rec;
	ev_init(&pp->event_w, runner_prog_event_cb);
	pp->event_w.data = rec;
	if (pp->fd >= 0)
		ev_io_start(loop_ev(), &pp->io_w);
}

/* What the loop of attempt_watch does for the progress pipe. */
static void
prog_step(struct prog_pipe *pp, struct run_rec *rec)
{
	if (rec->prog_readable) {
		rec->prog_readable = false;
		prog_turn(pp);
	}
	if (rec->prog_pace) {
		rec->prog_pace = false;
		prog_turn(pp);
	}
	if (rec->prog_event) {
		rec->prog_event = false;
		prog_send(pp);
	}
	prog_due(pp);
}

/* The attempt's process has exited: takes what the pipe still holds (a
 * grandchild that keeps it open is not waited for), sends the last
 * event when it is due (else the event of the attempt's end shows the
 * progress), and closes the pipe. */
static void
prog_finish(struct prog_pipe *pp)
{
	ev_timer_stop(loop_ev(), &pp->pace_w);
	ev_timer_stop(loop_ev(), &pp->event_w);
	if (pp->fd >= 0)
		ev_io_stop(loop_ev(), &pp->io_w);
	prog_read(pp, PROGRESS_BUDGET);
	if (pp->p->seq != pp->sent_seq &&
	    (pp->sent_at == 0 ||
	     mono_now() >= pp->sent_at + PROGRESS_EVENT_GAP))
		prog_send(pp);
	if (pp->fd >= 0)
		close(pp->fd);
	pp->fd = -1;
}

/* True for an errno that says a resource ran out, not that the job is
 * wrong: trying again later may work. */
static bool
lacks_resources(int e)
{
	return e == EMFILE || e == ENFILE || e == EAGAIN || e == ENOMEM;
}

int
runner_spawn(struct runner_spawn *sp)
{
	const char *path = NULL;
	char **argv = NULL, **envp = NULL;
	int rc = -1;
	sp->pid = sp->pidfd = -1;
	sp->error[0] = '\0';
	sp->no_resources = false;
	const struct user *u = user_get(sp->uid);
	if (u == NULL && geteuid() == 0) {
		sp->no_resources = lacks_resources(errno);
		snprintf(sp->error, sizeof(sp->error), "%s", diag_msg());
		goto out;
	}
	argv = build_argv(sp->argv, sp->shell);
	envp = build_env(sp->env, u, sp->extra_env, &path);
	struct spawner_req q = {
		.argv = argv,
		.envp = envp,
		.path = path,
		.cwd = sp->cwd,
		.out_fd = sp->out_fd,
		.err_fd = sp->err_fd,
		.extra_fd = sp->extra_fd,
		.switch_user = geteuid() == 0,
		.uid = sp->uid,
		.gid = u ? u->gid : getegid(),
		.groups = u ? u->groups : NULL,
		.ngroups = u ? u->ngroups : 0,
	};
	q.cgroup_procs = sp->cgroup_procs;
	if (sp->limits != NULL) {
		q.rlimit_as = (uint64_t)sp->limits->memory;
		q.rlimit_nofile = (uint64_t)sp->limits->nofile;
		q.rlimit_cpu = (uint64_t)ceil(sp->limits->cpu_time);
	}
	sp->gid = q.gid;
	struct spawner_fail f;
	int pidfd = -1;
	int pid = spawner_spawn(&q, &pidfd, &f);
	if (pid < 0) {
		/* A user at their key quota runs more once some end. */
		sp->no_resources =
			lacks_resources(f.err) ||
			(strcmp(f.step, "keyring") == 0 && f.err == EDQUOT);
		if (strcmp(f.step, "exec") == 0)
			snprintf(sp->error, sizeof(sp->error), "exec %s: %s",
				 argv[0], strerror(f.err));
		else if (strcmp(f.step, "cgroup") == 0)
			snprintf(sp->error, sizeof(sp->error),
				 "cgroup: cannot join: %s", strerror(f.err));
		else if (strncmp(f.step, "limits.", 7) == 0)
			snprintf(sp->error, sizeof(sp->error),
				 "%s: setrlimit: %s", f.step, strerror(f.err));
		else if (strcmp(f.step, "cwd") == 0)
			snprintf(sp->error, sizeof(sp->error), "cwd %s: %s",
				 sp->cwd, strerror(f.err));
		else
			snprintf(sp->error, sizeof(sp->error), "%s: %s", f.step,
				 strerror(f.err));
		goto out;
	}
	sp->pid = pid;
	sp->pidfd = pidfd;
	rc = 0;
out:
	free_strv(argv);
	free_strv(envp);
	return rc;
}

/* The deadlines of one attempt's process group: SIGTERM at its timeout
 * or when jobd asks it to stop (runner_kill), SIGKILL kill_grace later;
 * each goes to its cgroup's processes too. */
struct stop_clock {
	int pid; /* the group's leader: signals go to -pid */
	const struct cgroup_attempt *cg;
	double started; /* s, monotonic */
	double timeout; /* s; 0: none */
	double grace;	/* s from SIGTERM to SIGKILL */
	double term_at; /* s, monotonic: when SIGTERM went */
};

/* Sends SIGTERM to the group once jobd asks it to stop or its timeout
 * has passed (setting *timed_out then), and SIGKILL once the grace after
 * SIGTERM has passed; ctl records what went.  Returns the seconds until
 * the next step is due, or -1 when none is.  Does not yield. */
static double
stop_escalate(struct stop_clock *sc, struct runner *ctl, bool *timed_out)
{
	double now = mono_now();
	bool expired = sc->timeout > 0 && now >= sc->started + sc->timeout;
	if (ctl->max_grace > 0 && ctl->max_grace < sc->grace)
		sc->grace = ctl->max_grace;
	if (!ctl->term_sent && (ctl->kill != RUNNER_KILL_NONE || expired)) {
		/* jobd's own request comes first: not a timeout then. */
		*timed_out = ctl->kill == RUNNER_KILL_NONE;
		kill(-sc->pid, SIGTERM);
		cgroup_attempt_signal(sc->cg, SIGTERM);
		ctl->term_sent = true;
		sc->term_at = now;
	}
	if (ctl->term_sent && !ctl->kill_sent &&
	    now >= sc->term_at + sc->grace) {
		kill(-sc->pid, SIGKILL);
		cgroup_attempt_kill(sc->cg);
		ctl->kill_sent = true;
	}
	if (!ctl->term_sent && sc->timeout > 0)
		return sc->started + sc->timeout - now;
	if (ctl->term_sent && !ctl->kill_sent)
		return sc->term_at + sc->grace - now;
	return -1;
}

/* The leader has exited and is a zombie, so its pid and group cannot be
 * reused yet: sweeps what is left of a group jobd was stopping.  With a
 * cgroup, what is left keeps the rest of its grace (attempt_close). */
static void
stop_sweep(const struct stop_clock *sc, const struct runner *ctl)
{
	if (ctl->term_sent && sc->cg->procs == NULL)
		kill(-sc->pid, SIGKILL);
}

/* Closes the attempt's cgroup once its leader is reaped: what it still
 * holds gets SIGTERM and kill_grace, or, when jobd was stopping the
 * attempt, the rest of the grace that began at its SIGTERM (linger does
 * not hold then). */
static void
attempt_close(struct cgroup_attempt *cga, const struct stop_clock *sc,
	      const struct runner *ctl, bool linger)
{
	double grace = sc->grace;
	if (ctl->term_sent) {
		grace = sc->term_at + sc->grace - mono_now();
		linger = false;
	}
	cgroup_attempt_close(cga, grace > 0 ? grace : 0, linger);
}

/* Starts attempt r's process, its output into a new non-blocking pipe
 * when it is captured, and its progress pipe's write end as descriptor
 * SPAWNER_EXTRA_FD: 0 with sp filled (pid, pidfd, gid; the caller closes
 * the pidfd), *out_rd the output pipe's read end (or -1), *prog_rd the
 * progress pipe's, and *t0 the spawn's start (s, monotonic); or -1 with
 * res->error and res->no_resources, nothing left open.  jobd keeps no
 * write end: the pipes reach EOF when the job and its children have
 * closed theirs.  Does not yield. */
static int
attempt_spawn(const struct store_job_run *r, const struct runner_opts *o,
	      const struct cgroup_attempt *cga, const struct talkback *tb,
	      struct runner_spawn *sp, int *out_rd, int *prog_rd, double *t0,
	      struct runner_result *res)
{
	int out[2] = {-1, -1}, prog[2] = {-1, -1};
	*out_rd = *prog_rd = -1;
	if ((r->output == JOBSPEC_OUTPUT_CAPTURE &&
	     pipe2(out, O_CLOEXEC) != 0) ||
	    pipe2(prog, O_CLOEXEC) != 0) {
		res->no_resources = lacks_resources(errno);
		snprintf(res->error, sizeof(res->error), "pipe: %s",
			 strerror(errno));
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return -1;
	}
	if (out[0] >= 0)
		fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(prog[0], F_SETFL, O_NONBLOCK);
	char idv[40], qv[80], av[32], nv[96], pv[40];
	snprintf(idv, sizeof(idv), "JOBD_JOB_ID=%lld", (long long)r->id);
	snprintf(qv, sizeof(qv), "JOBD_QUEUE=%s", o->queue_name);
	snprintf(av, sizeof(av), "JOBD_ATTEMPT=%d", r->attempt);
	/* A node with no name (a host name that is none) sets none. */
	const char *node = store_local_node();
	snprintf(nv, sizeof(nv), "JOBD_NODE=%s", node != NULL ? node : "");
	snprintf(pv, sizeof(pv), "JOBD_PROGRESS_FD=%d", SPAWNER_EXTRA_FD);
	char *const extra[] = {idv,
			       qv,
			       av,
			       pv,
			       tb->result_env,
			       tb->snooze_env,
			       node != NULL ? nv : NULL,
			       NULL};
	/* The memory controller replaces the address-space limit. */
	struct joblimits lim = r->limits;
	if (cga->procs != NULL &&
	    (cgroup_controllers() & JOBLIMITS_HAVE_MEMORY))
		lim.memory = 0;
	*sp = (struct runner_spawn){.argv = r->argv,
				    .shell = r->shell,
				    .cwd = r->cwd,
				    .env = r->env,
				    .uid = r->uid,
				    .extra_env = extra,
				    .limits = &lim,
				    .cgroup_procs = cga->procs,
				    .out_fd = out[1],
				    .err_fd = -1,
				    .extra_fd = prog[1],
				    .pid = -1,
				    .pidfd = -1};
	*t0 = mono_now();
	int spawned = runner_spawn(sp);
	sp->extra_env = NULL; /* it and limits pointed into this frame */
	sp->limits = NULL;
	if (out[1] >= 0)
		close(out[1]);
	close(prog[1]);
	if (spawned != 0) {
		res->no_resources = sp->no_resources;
		snprintf(res->error, sizeof(res->error), "%s", sp->error);
		if (out[0] >= 0)
			close(out[0]);
		close(prog[0]);
		return -1;
	}
	*out_rd = out[0];
	*prog_rd = prog[0];
	return 0;
}

/* Captures the output of the attempt's process into cp and its progress
 * from pp until the process exits (its pidfd turns readable), stopping
 * its group as sc and jobd ask.  Leaves cp->fd open (or -1 once it
 * reached EOF); ends with prog_finish.  Yields. */
static void
attempt_watch(struct capture *cp, struct prog_pipe *pp, int pidfd,
	      struct runner *ctl, struct stop_clock *sc,
	      struct runner_result *res)
{
	struct run_rec rec = {.c = coro_self()};
	ev_io pw_w, out_w;
	ev_timer t_w;
	ev_io_init(&pw_w, runner_pid_cb, pidfd, EV_READ);
	pw_w.data = &rec;
	ev_io_start(loop_ev(), &pw_w);
	if (cp->fd >= 0) {
		ev_io_init(&out_w, runner_out_cb, cp->fd, EV_READ);
		out_w.data = &rec;
		ev_io_start(loop_ev(), &out_w);
	}
	ev_init(&t_w, runner_timer_cb);
	t_w.data = &rec;
	prog_start(pp, &rec);
	for (;;) {
		if (rec.readable && cp->fd >= 0) {
			rec.readable = false;
			if (!capture_read(cp, READ_BUDGET)) {
				ev_io_stop(loop_ev(), &out_w);
				close(cp->fd);
				cp->fd = -1;
			}
			/* What is left stays readable: libev polls level
			 * triggered and wakes us again after others ran. */
		}
		prog_step(pp, &rec);
		if (rec.exited)
			break;
		double next = stop_escalate(sc, ctl, &res->timed_out);
		ev_timer_stop(loop_ev(), &t_w);
		rec.timer = false;
		if (next >= 0) {
			ev_timer_set(&t_w, next > 0 ? next : 0, 0);
			ev_timer_start(loop_ev(), &t_w);
		}
		coro_yield();
	}
	ev_timer_stop(loop_ev(), &t_w);
	ev_io_stop(loop_ev(), &pw_w);
	if (cp->fd >= 0)
		ev_io_stop(loop_ev(), &out_w);
	prog_finish(pp);
}

/* Reaps the exited leader pid into res: status, rusage, and the duration
 * since t0.  Does not yield (the process has exited). */
static void
attempt_reap(int pid, double t0, struct runner_result *res)
{
	int status = 0;
	int w;
	while ((w = wait4(pid, &status, 0, &res->ru)) < 0 && errno == EINTR)
		;
	res->duration = mono_now() - t0;
	if (w == pid && WIFEXITED(status)) {
		res->exited = true;
		res->exit_code = WEXITSTATUS(status);
	} else if (w == pid && WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
	}
}

/* What the attempt's cgroup measured, over what wait4 gave: the CPU time
 * of every process of the attempt, its memory peak, its OOM kills. */
static void
attempt_account(const struct cgroup_attempt *cga, struct runner_result *res)
{
	struct cgroup_usage u;
	cgroup_attempt_usage(cga, &u);
	if (u.cpu_known) {
		res->ru.ru_utime.tv_sec = (time_t)u.user;
		res->ru.ru_utime.tv_usec =
			(suseconds_t)((u.user - floor(u.user)) * 1e6);
		res->ru.ru_stime.tv_sec = (time_t)u.system;
		res->ru.ru_stime.tv_usec =
			(suseconds_t)((u.system - floor(u.system)) * 1e6);
	}
	res->memory_peak = u.memory_peak;
	res->oom = u.oom_kills > 0;
}

int
runner_run(const struct store_job_run *r, const struct runner_opts *o,
	   struct runner *ctl, struct runner_result *res)
{
	memset(res, 0, sizeof(*res));
	struct capture cp = {.fd = -1,
			     .log_fd = -1,
			     .max = o->max_log_bytes,
			     .attempt = r->attempt};
	res->memory_peak = -1;
	if (ctl->progress == NULL)
		ctl->progress = progress_new();
	struct prog_pipe pp = {.fd = -1,
			       .p = ctl->progress,
			       .job_id = r->id,
			       .queue = o->queue_name,
			       .labels = r->labels,
			       .uid = r->uid,
			       .attempt = r->attempt};
	struct runner_spawn sp;
	struct cgroup_attempt cga;
	struct talkback tb;
	double t0;
	/* Accepted where the controllers were; jobd may have lost them
	 * since (a restart without cgroups): never run unlimited. */
	if (joblimits_check(&r->limits, cgroup_controllers(), "limits.") != 0) {
		snprintf(res->error, sizeof(res->error), "%s", diag_msg());
		goto out;
	}
	if (talkback_open(&tb, r->id, r->attempt, r->uid) != 0) {
		res->no_resources = lacks_resources(errno);
		snprintf(res->error, sizeof(res->error), "%s", diag_msg());
		goto out;
	}
	if (cgroup_attempt_open(r->id, r->attempt, &r->limits, &cga) != 0) {
		res->no_resources = lacks_resources(errno);
		snprintf(res->error, sizeof(res->error), "%s", diag_msg());
		talkback_discard(&tb);
		goto out;
	}
	if (attempt_spawn(r, o, &cga, &tb, &sp, &cp.fd, &pp.fd, &t0, res) !=
	    0) {
		cgroup_attempt_close(&cga, 0, false);
		talkback_discard(&tb);
		goto out;
	}
	res->spawned = true;
	ctl->pid = sp.pid;
	ctl->c = coro_self();
	list_add(ctl);
	if (o->on_spawn)
		o->on_spawn(ctl, o->arg);

	cp.log_path = joblog_path(o->log_dir, r->id, r->attempt);
	cp.uid = r->uid;
	cp.gid = sp.gid;
	cp.chown = geteuid() == 0;
	struct stop_clock sc = {.pid = sp.pid,
				.cg = &cga,
				.started = t0,
				.timeout = r->timeout,
				.grace = r->kill_grace};
	attempt_watch(&cp, &pp, sp.pidfd, ctl, &sc, res);
	stop_sweep(&sc, ctl);
	attempt_reap(sp.pid, t0, res);
	/* What it said, read now that it is over: a few kilobytes. */
	talkback_collect(&tb, o->max_result_bytes, &res->said);
	attempt_account(&cga, res);
	attempt_close(&cga, &sc, ctl, r->linger);
	/* Take what the job wrote before it ended; a grandchild that keeps
	 * the pipe open is not waited for. */
	if (cp.fd >= 0)
		capture_read(&cp, READ_BUDGET);
	list_remove(ctl);
	ctl->c = NULL;
	close(sp.pidfd);
out:
	res->output_truncated = cp.truncated;
	if (cp.fd >= 0)
		close(cp.fd);
	if (cp.log_fd >= 0)
		close(cp.log_fd);
	free(cp.log_path);
	return 0;
}

/* Session id of process pid, or -1. */
static int
proc_session(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold anything: fields follow the last ')'.
	 * After it: state ppid pgrp session. */
	char *p = strrchr(buf, ')');
	int ppid, pgrp, sid;
	char state;
	if (p == NULL ||
	    sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
		return -1;
	return sid;
}

/* True when process pid's environment holds the entry want. */
static bool
proc_has_env(int pid, const char *want)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && b.len < (1u << 20))
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	bool hit = false;
	size_t wl = strlen(want);
	for (size_t off = 0; off < b.len;) {
		const char *e = b.data + off;
		size_t el = strnlen(e, b.len - off);
		if (el == wl && memcmp(e, want, wl) == 0) {
			hit = true;
			break;
		}
		off += el + 1;
	}
	buf_release(&b);
	return hit;
}

int
runner_kill_orphans(const int64_t *ids, const int *pids, size_t n)
{
	if (n == 0)
		return 0;
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	int killed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 1 || pid == getpid())
			continue;
		int sid = proc_session((int)pid);
		for (size_t i = 0; sid > 0 && i < n; i++) {
			if (pids[i] != sid)
				continue;
			char want[48];
			snprintf(want, sizeof(want), "JOBD_JOB_ID=%lld",
				 (long long)ids[i]);
			if (proc_has_env((int)pid, want) &&
			    kill((pid_t)pid, SIGKILL) == 0)
				killed++;
		}
	}
	closedir(d);
	return killed;
}

json_t *
runner_minimal_env(uid_t uid)
{
	json_t *env = json_pack("{s:s}", "PATH", MINIMAL_PATH);
	const struct user *u = user_get(uid);
	if (u != NULL) {
		json_object_set_new(env, "HOME", json_string(u->dir));
		json_object_set_new(env, "USER", json_string(u->name));
		json_object_set_new(env, "LOGNAME", json_string(u->name));
		json_object_set_new(env, "SHELL", json_string(u->shell));
	}
	return env;
}
