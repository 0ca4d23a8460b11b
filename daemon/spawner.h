/*
 * spawner: the small process that starts every process of jobd.
 *
 * jobd forks it at start, before it opens the store or grows, and sends
 * it each process to start over a socket pair.  The spawner makes the
 * child with clone(CLONE_VM | CLONE_VFORK | CLONE_PARENT): no page tables
 * are copied, it is suspended until the child execs, a failed step leaves
 * its errno in memory both share, and the child is jobd's child, not the
 * spawner's.  A child exec'd from a shared mm inherits that mm's
 * high-water RSS as its own peak (the kernel records it at exec), so
 * making children on the small spawner's memory instead of jobd's is what
 * makes a job's rusage maxrss its own.  jobd reaps its children itself,
 * through their pidfds, as before; the spawner has none of its own.
 *
 * The spawner dies with jobd (PR_SET_PDEATHSIG), as do the children (the
 * same, set in each child after the user switch: their parent is jobd).
 * If the spawner dies while jobd lives, jobd cannot start anything more:
 * it calls the lost hook, which ends jobd (see spawner_watch).
 *
 * jobd's side is used from the loop's thread only.
 */
#ifndef SPAWNER_H_INCLUDED
#define SPAWNER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The descriptor number extra_fd takes in the child: the first after
 * stdin, stdout and stderr.  Every other descriptor is closed. */
#define SPAWNER_EXTRA_FD 3

/* One process to start, everything prepared by the caller; every pointer
 * is borrowed for the call. */
struct spawner_req {
	char *const *argv; /* NULL-terminated, argv[0] set */
	char *const *envp; /* NULL-terminated */
	const char *path;  /* PATH to search argv[0] in */
	const char *cwd;
	int out_fd;		  /* the child's stdout; -1: /dev/null */
	int err_fd;		  /* the child's stderr; -1: as stdout */
	int extra_fd;		  /* the child's SPAWNER_EXTRA_FD (not
				     close-on-exec there); 0: none (jobd's
				     stdin is never one to hand over) */
	const char *cgroup_procs; /* a cgroup's cgroup.procs: the child
				     moves itself there first; NULL: it
				     stays in jobd's cgroup */
	bool switch_user;	  /* setgroups, setgid, setuid below */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
	/* setrlimit before the user switch, 0: leave as inherited.  Soft =
	 * hard for RLIMIT_AS and RLIMIT_NOFILE; RLIMIT_CPU soft = rlimit_cpu
	 * seconds (SIGXCPU), hard one second more (SIGKILL). */
	uint64_t rlimit_as;
	uint64_t rlimit_nofile;
	uint64_t rlimit_cpu;
};

/* Why a process could not start. */
struct spawner_fail {
	char step[20]; /* "clone", "cgroup", "setsid", "setgroups",
			  "keyring",
					   "setgid", "setuid", "prctl",
					   "cwd", "dup2", "exec",
					   "limits.memory", "limits.nofile",
					   "limits.cpu_time" (setrlimit),
					   "pidfd_open", or "spawner" (the
					   request could not be taken:
					   descriptors short, or the
					   spawner is gone) */
	int err;       /* errno of that step */
};

/* Called when the spawner is gone (why: static text); jobd ends there. */
typedef void (*spawner_lost_fn)(const char *why);

/* Forks the spawner.  Call it before anything big is allocated: the
 * spawner's footprint is jobd's at this point, and every child's reported
 * peak RSS is at least that.  It closes every descriptor above 2 but its
 * socket.  Returns 0, or -1 with diag set. */
int spawner_init(void);
/* Starts reading the spawner's records on the loop (loop_init done);
 * lost is called when the spawner dies or breaks the protocol. */
void spawner_watch(spawner_lost_fn lost);
/* Closes the socket (the spawner exits) and reaps the spawner. */
void spawner_shutdown(void);
/* The spawner's pid, 0 when not started. */
pid_t spawner_pid(void);

/* Starts the process r describes as a child of jobd and returns its pid,
 * with its pidfd (close-on-exec, owned by the caller) in *pidfd; the
 * caller reaps it (wait4 once the pidfd is readable).  Returns -1 with *f
 * set when it could not start (a child that failed before exec is reaped
 * here; when the spawner is lost, after calling the lost hook: step
 * "spawner", EPIPE).  Does not yield: blocks until the child has exec'd
 * or failed, as a vfork would. */
int spawner_spawn(const struct spawner_req *r, int *pidfd,
		  struct spawner_fail *f);

#endif /* SPAWNER_H_INCLUDED */
