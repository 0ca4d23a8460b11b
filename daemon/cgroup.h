/*
 * cgroup: a cgroup v2 per attempt, when jobd has a subtree it may manage.
 *
 * The subtree (the base) is jobd's own cgroup when systemd delegated it
 * (Delegate=yes marks it with the trusted.delegate or user.delegate
 * extended attribute), or the configured cgroup_root.  Below the base:
 *
 *     BASE/daemon      jobd and its spawner, when they were in BASE
 *                      (no process may sit in a cgroup that has children
 *                      with controllers: the no-internal-process rule)
 *     BASE/jobs        the attempts' parent, controllers enabled
 *     BASE/jobs/ID.N   attempt N of job ID: its limits, its processes
 *
 * The child joins its cgroup before exec by writing cgroup.procs (the
 * spawner does it, spawner.h); everything it starts, setsid or not, stays
 * in it, so the whole attempt is killed at once (cgroup.kill, or freeze
 * and SIGKILL on kernels without it).  What an attempt's cgroup still
 * holds after its main process exited gets SIGTERM, then is killed
 * kill_grace later unless the job lingers; empty cgroups are removed as
 * they empty.  A restarted jobd kills and removes whatever is left below
 * BASE/jobs: the attempts of the jobd that died.
 *
 * Without a usable subtree, nothing here applies: attempts are contained
 * by their process group, as before.  Used from the loop's thread only.
 */
#ifndef CGROUP_H_INCLUDED
#define CGROUP_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "joblimits.h"

/* Finds and prepares the subtree: root (borrowed; NULL or "" when not
 * configured) or, without it, jobd's own cgroup when delegated.  Moves
 * jobd into BASE/daemon when it sits in BASE itself: call it before the
 * spawner is forked, so the spawner starts there too.  Returns 1 when
 * cgroups are in use, 0 when there is no usable subtree (why is logged:
 * attempts use process groups), or -1 with diag set when required and
 * there is none (why in the message). */
int cgroup_init(const char *root, bool required);
/* True when attempts get a cgroup each. */
bool cgroup_active(void);
/* The controllers enabled for attempts, JOBLIMITS_HAVE_* bits. */
unsigned cgroup_controllers(void);
/* BASE/jobs, or NULL when not active. */
const char *cgroup_jobs_dir(void);

/* At start, before anything runs: kills every process below BASE/jobs
 * (what a dead jobd's attempts left, setsid'd descendants included) and
 * removes their cgroups, waiting up to a few seconds for them to empty.
 * Returns how many cgroups held processes. */
int cgroup_reap_leftovers(void);
/* At exit, once no attempt runs: gives what ended attempts left the rest
 * of its grace (lingering ones SIGTERM and grace seconds), then kills
 * what is left and removes every cgroup jobd made, waiting up to a second
 * more for them to empty.  Blocks. */
void cgroup_shutdown(double grace);

/* One attempt's cgroup, named; jobd holds no descriptor of it. */
struct cgroup_attempt {
	char name[48]; /* ID.N, below BASE/jobs */
	char *procs;   /* owned: BASE/jobs/ID.N/cgroup.procs, for the
			  spawner (spawner.h); NULL: no cgroup */
};

/* What an attempt's cgroup measured. */
struct cgroup_usage {
	bool cpu_known;
	double user, system; /* seconds, every process of the attempt */
	int64_t memory_peak; /* bytes; -1: unknown */
	int64_t oom_kills;   /* memory.events oom_kill */
};

/* Makes the cgroup of attempt `attempt` of job id with limits l (borrowed:
 * memory.max and memory.swap.max = 0 when the memory controller is on,
 * cpu.max, pids.max) into *a.  A cgroup of that name left from before is
 * killed and replaced.  Returns 0, or -1 with diag set and errno (a has no
 * cgroup then).  When not active, sets a to none and returns 0.  Does not
 * yield. */
int cgroup_attempt_open(int64_t id, int attempt, const struct joblimits *l,
			struct cgroup_attempt *a);
/* Sends sig to every process in a (none: does nothing). */
void cgroup_attempt_signal(const struct cgroup_attempt *a, int sig);
/* SIGKILLs every process in a at once. */
void cgroup_attempt_kill(const struct cgroup_attempt *a);
/* Reads a's accounting into *u (all unknown when a is none). */
void cgroup_attempt_usage(const struct cgroup_attempt *a,
			  struct cgroup_usage *u);
/* Reads the accounting files of the cgroup directory dir (cpu.stat,
 * memory.peak, memory.events) into *u; what is missing is unknown. */
void cgroup_usage_at(int dir, struct cgroup_usage *u);
/* Once the attempt's main process has exited: removes a's cgroup when it
 * is empty; else SIGTERMs what it holds and kills it grace seconds later
 * (never when linger: it is left to end on its own), removing the cgroup
 * once empty.  Frees what a holds.  Does not yield. */
void cgroup_attempt_close(struct cgroup_attempt *a, double grace, bool linger);
/* Cgroups of ended attempts still holding processes. */
int cgroup_pending(void);

#endif /* CGROUP_H_INCLUDED */
