/*
 * runner: one attempt of one job — spawn the child the vfork way, capture
 * its output into the attempt's log file, enforce the timeout with SIGTERM
 * then SIGKILL to its process group, and to its cgroup when it has one
 * (cgroup.h), and reap it with its rusage.
 *
 * The child is made by the spawner (spawner.h), a small process forked at
 * start, as jobd's own child: a child made from jobd's memory would report
 * jobd's peak RSS as its own.  Exit is awaited through the pidfd, so libev
 * never needs a SIGCHLD handler.
 */
#ifndef RUNNER_H_INCLUDED
#define RUNNER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <jansson.h>

#include "progress.h"
#include "store.h"
#include "talkback.h"

struct runner;

/* Daemon-wide settings the runner needs. */
struct runner_opts {
	const char *log_dir; /* borrowed: state_dir/logs */
	int64_t max_log_bytes;
	int64_t max_result_bytes; /* most of $JOBD_RESULT read */
	const char *queue_name;	  /* borrowed: for JOBD_QUEUE */
	/* Called once the child runs (not on a spawn error); must not
	 * yield. */
	void (*on_spawn)(const struct runner *ctl, void *arg);
	void *arg;
};

enum runner_kill {
	RUNNER_KILL_NONE = 0,
	RUNNER_KILL_CANCEL,    /* the job was cancelled */
	RUNNER_KILL_INTERRUPT, /* shutdown */
	RUNNER_KILL_FENCE,     /* the node fenced itself: record nothing */
};

/* One running attempt; the consumer owns it, commands may ask it to stop
 * through runner_kill(). */
struct runner {
	int64_t job_id;
	int pid;		    /* 0 until spawned */
	enum runner_kill kill;	    /* why jobd is stopping it */
	bool term_sent;		    /* SIGTERM went to the group */
	bool kill_sent;		    /* SIGKILL went to the group */
	double max_grace;	    /* s from SIGTERM to SIGKILL at most; 0:
				       the attempt's kill_grace */
	struct coro *c;		    /* the coroutine awaiting it */
	struct runner *next, *prev; /* the list of running attempts */
	/* What the attempt wrote to $JOBD_PROGRESS_FD: made by runner_run
	 * (NULL before), kept after it returns so that the end can record
	 * it; the caller frees it with progress_delete(). */
	struct progress *progress;
};

struct runner_result {
	bool spawned;	 /* false: spawn_error */
	char error[256]; /* spawn error text */
	bool exited;	 /* WIFEXITED */
	int exit_code;	 /* when exited */
	int signal;	 /* when killed by a signal, else 0 */
	bool timed_out;
	bool oom;	     /* its cgroup recorded an OOM kill */
	double duration;     /* seconds */
	struct rusage ru;    /* CPU times of the whole cgroup when it had one */
	int64_t memory_peak; /* bytes, its cgroup's memory.peak; -1: none */
	bool output_truncated;
	/* Not spawned for lack of descriptors, processes or memory (EMFILE,
	 * ENFILE, EAGAIN, ENOMEM): worth trying again. */
	bool no_resources;
	/* What the attempt wrote to $JOBD_RESULT and $JOBD_SNOOZE; the
	 * caller frees said.result. */
	struct talkback_said said;
};

/* A process to start the jobd way (new session, user switch when root,
 * death signal, cwd, env), for attempts and for producers' generators. */
struct runner_spawn {
	const json_t *argv;	/* borrowed: array of strings, or NULL */
	const char *shell;	/* borrowed, or NULL */
	const char *cwd;	/* borrowed */
	const json_t *env;	/* borrowed object, or NULL: minimal */
	uid_t uid;		/* runs as this user (when root) */
	char *const *extra_env; /* "K=V" added, NULL-terminated */
	const struct joblimits *limits; /* borrowed, or NULL: none */
	const char *cgroup_procs;	/* borrowed: a cgroup's cgroup.procs the
				     child joins, or NULL */
	int out_fd;			/* child's stdout; -1: /dev/null */
	int err_fd;			/* child's stderr; -1: as stdout */
	int extra_fd;			/* child's fd 3; 0: none */
	int pid;			/* out */
	int pidfd;			/* out: owned by the caller */
	gid_t gid;			/* out: the child's group */
	char error[256];		/* out: why it could not start */
	bool no_resources;		/* out: it could not for lack of
					   resources (see runner_result) */
};
/* Starts the process through the spawner; 0, or -1 with sp->error (the
 * spawn_error text) and sp->no_resources set when the cause was a lack of
 * resources, anywhere from the user look-up to the exec.  Does not yield
 * (jobd waits only until the child execs). */
int runner_spawn(struct runner_spawn *sp);

/* Runs one attempt of r and fills res.  Returns 0 once the attempt is
 * over (whatever its outcome, spawn errors included), -1 only on an
 * internal failure.  The attempt gets $JOBD_RESULT and $JOBD_SNOOZE
 * (talkback.h), read into res->said once it is over: the caller frees
 * res->said.result.  Yields. */
int runner_run(const struct store_job_run *r, const struct runner_opts *o,
	       struct runner *ctl, struct runner_result *res);
/* Asks a running attempt to stop: SIGTERM to its group now, SIGKILL after
 * the attempt's kill_grace.  Does not yield. */
void runner_kill(struct runner *ctl, enum runner_kill why);
/* The running attempt of job id, or NULL. */
struct runner *runner_find(int64_t job_id);
/* Calls runner_kill on every running attempt. */
void runner_kill_all(enum runner_kill why);
/* Stops every running attempt for a fence: SIGTERM now, SIGKILL grace
 * seconds later at the latest, whatever the attempt's kill_grace.  Does
 * not yield. */
void runner_fence_all(double grace);
/* Number of attempts running now. */
int runner_count(void);
/* At start: kills what is left of the attempts a dead jobd ran — the
 * processes of session pids[i] (the attempt's setsid) that carry
 * JOBD_JOB_ID=ids[i] in their environment.  The attempts' own processes
 * died with jobd (PR_SET_PDEATHSIG); this takes their children too.
 * Returns how many processes were killed. */
int runner_kill_orphans(const int64_t *ids, const int *pids, size_t n);
/* The minimal environment a job of uid gets when it gives none (without
 * the JOBD_* variables of each attempt); new reference. */
json_t *runner_minimal_env(uid_t uid);

#endif /* RUNNER_H_INCLUDED */
