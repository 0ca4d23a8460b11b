/*
 * submit: turning validated job specs into stored jobs — the one path
 * every job enters by, whether a client submits it or a producer does.
 * It resolves each spec against its queue's defaults, checks queues,
 * users, dependencies and capacity, inserts all of a request or none of it
 * (savepoints in the group transaction, held open while a big request is
 * written in slices), handles unique keys, and tells the queues, the
 * scheduler and the event bus.  The caller waits for the commit before
 * reporting.
 */
#ifndef SUBMIT_H_INCLUDED
#define SUBMIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobspec.h"

struct submit_result {
	int64_t id;
	bool duplicate; /* unique_key matched a live job */
	/* Private to submit.c. */
	int64_t qid;
	int state;
	int64_t run_at;
	bool fresh;
};

/* The daemon-wide kill_grace (for queues that set none). */
void submit_set_kill_grace(double secs);
/* Inserts specs[0..n) (borrowed) for caller uid, all or nothing; out[i]
 * gets each job's id.  prefix (may be NULL) names the array in error
 * messages ("jobs" gives "jobs[3].priority: ...").
 *
 * With sliced, a big request works in slices of a few milliseconds: it
 * checks every job first (writing nothing), reserves the room the request
 * takes in capped queues, then inserts while the store holds the group
 * transaction open, so it commits whole.  Other requests, jobs and
 * submits run between the slices; jobs checked before a yield are
 * checked again where it matters (unique keys, dependencies).  Without
 * sliced it never yields (a producer's single job).
 *
 * -1 with diag: E_UNKNOWN_QUEUE, E_INVAL, E_PERM (user field from a
 * non-root caller), E_FULL, E_STATE (the queue is being deleted), E_DB,
 * E_CANCELLED (the caller was cancelled before anything was written).
 * Yields when sliced. */
int submit_jobs(const struct jobspec *specs, size_t n, uid_t uid,
		const char *prefix, struct submit_result *out, bool sliced);

#endif /* SUBMIT_H_INCLUDED */
