/*
 * spawner: the small process that starts and reaps every process of jobd.
 *
 * jobd forks it at start, before it opens the store or grows, and sends
 * it each process to start over a socket pair.  The spawner makes the
 * child with clone(CLONE_VM | CLONE_VFORK): no page tables are copied, it
 * is suspended until the child execs, and a failed step leaves its errno
 * in memory both share.  A child exec'd from a shared mm inherits that
 * mm's high-water RSS as its own peak (the kernel records it at exec), so
 * starting children from the small spawner instead of jobd is what makes a
 * job's rusage maxrss its own.  The spawner reaps its children (SIGCHLD
 * through a signalfd) and sends jobd an exit record with the wait status
 * and the rusage; jobd awaits those records instead of SIGCHLD, so libev
 * never installs a handler.
 *
 * The spawner dies with jobd (PR_SET_PDEATHSIG), and its children with it
 * (the same, set in each child after the user switch).  If it dies while
 * jobd lives, the exits of the running children are lost with it: jobd
 * calls the lost hook, which ends jobd (see spawner_watch).
 *
 * jobd's side is used from the loop's thread only, and spawner_spawn and
 * the awaits from coroutines.
 */
#ifndef SPAWNER_H_INCLUDED
#define SPAWNER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

struct coro;

/* One process to start, everything prepared by the caller; every pointer
 * is borrowed for the call. */
struct spawner_req {
	char *const *argv;		/* NULL-terminated, argv[0] set */
	char *const *envp;		/* NULL-terminated */
	const char *path;		/* PATH to search argv[0] in */
	const char *cwd;
	int out_fd;			/* the child's stdout; -1: /dev/null */
	int err_fd;			/* the child's stderr; -1: as stdout */
	bool switch_user;		/* setgroups, setgid, setuid below */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;		/* supplementary groups */
	size_t ngroups;
};

/* Why a process could not start. */
struct spawner_fail {
	char step[16];			/* "clone", "setsid", "setgroups",
					   "setgid", "setuid", "prctl",
					   "cwd", "dup2", "exec", or
					   "spawner" (the request could not
					   be taken: descriptors short) */
	int err;			/* errno of that step */
};

/* How a child ended. */
struct spawner_exit {
	int status;			/* wait status */
	struct rusage ru;		/* the child's and its reaped
					   descendants' */
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

/* Starts the process r describes and returns its pid, or -1 with *f set
 * (when the spawner is lost, after calling the lost hook: step "spawner",
 * EPIPE).  The caller then awaits its exit with spawner_wait, or
 * spawner_notify and spawner_reaped, or drops it with spawner_forget.
 * r's strings are copied before the first yield; its descriptors must
 * stay open until it returns.  Yields until the child has exec'd or
 * failed (other coroutines, and other spawns, go on meanwhile); not
 * cancellable. */
int spawner_spawn(const struct spawner_req *r, struct spawner_fail *f);
/* Makes c (NULL: nobody) the coroutine woken when pid's exit record
 * arrives.  Does not yield. */
void spawner_notify(int pid, struct coro *c);
/* True once pid's exit record has arrived: fills *ex and forgets pid.
 * Does not yield. */
bool spawner_reaped(int pid, struct spawner_exit *ex);
/* Awaits pid's exit for up to timeout seconds (< 0: no limit), then as
 * spawner_reaped.  Returns 0, or -1 with E_TIMEOUT or E_CANCELLED (pid is
 * still awaited then).  Yields. */
int spawner_wait(int pid, double timeout, struct spawner_exit *ex);
/* Stops awaiting pid: its exit record will be dropped.  Does not yield. */
void spawner_forget(int pid);

#endif /* SPAWNER_H_INCLUDED */
