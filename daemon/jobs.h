/*
 * jobs: the job lifecycle.  Every transition of a job — submitted,
 * claimed, started, attempt ended, retried, cancelled, promoted, pruned —
 * is one call here: it writes the store and then everything the change
 * moves in memory, in one place and one order:
 *
 *   1. the store row (in the open group transaction);
 *   2. the queue's counts (queue_job_moved: also the debug state log);
 *   3. the totals of `stats` (events_tally: dropped if the commit fails);
 *   4. the events for `watch` and `wait` (delivered once committed);
 *   5. what follows from it: dependents resolved, the scheduler kicked,
 *      a running process killed.
 *
 * The callers (submit, consumer, the command handlers, the scheduler
 * through its callback) decide *when* a job moves; this module owns *what
 * moving it means*.  Nothing here yields unless its contract says so, so
 * the memory side can never run ahead of or behind the store write it
 * describes.
 */
#ifndef JOBS_H_INCLUDED
#define JOBS_H_INCLUDED

#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* Holds the group transaction open while one change spans several store
 * calls (store_hold), so that no commit takes half of it when the store
 * yields between them; jobs_unhold() ends the hold and, when it was the
 * last, wakes the consumers, which claim nothing while one lasts.  -1
 * with diag as store_hold.  May yield (a commit in flight is awaited). */
int jobs_hold(void);
void jobs_unhold(void);

/* A job inserted by a submit, in state `state` (cancelled when its
 * dependency already failed): counts it in queue qid.  Called right after
 * its store_job_insert; announced later by jobs_submitted().  Does not
 * yield. */
void jobs_inserted(int64_t qid, int64_t id, int state);
/* A job counted by jobs_inserted whose insert was rolled back (to a
 * savepoint) before it was announced: uncounted.  Does not yield. */
void jobs_insert_undone(int64_t qid, int64_t id, int state);
/* Announces a job counted by jobs_inserted: the submitted total and event
 * (showing `shown`, stolen: the job as inserted, from store_job_new_json;
 * NULL when nobody watched at its insert), the scheduler kicked when it waits for run_at, finished when
 * it was born cancelled.  May yield (a store that waits on its server). */
void jobs_submitted(int64_t id, int state, int64_t run_at, json_t *shown);

/* Claims the oldest ready job of queue qid into *r (caller destroys with
 * store_job_run_destroy) and counts it running.  -1 with diag as
 * store_job_claim (E_NOTFOUND: none ready).  May yield. */
int jobs_claim(int64_t qid, int64_t now, struct store_job_run *r);
/* A claim was committed and its job goes on to run: the started total.
 * Does not yield. */
void jobs_started(void);
/* Its process is running as pid: recorded, and job.started announced.
 * May yield. */
void jobs_spawned(int64_t id, pid_t pid);
/* Records the end of an attempt of job id of queue qid, in one store step
 * that says what the job was: running, or cancelled when a cancel came
 * while it ran (the cancel moved and announced it already, so only the
 * attempt's figures are written).  Then its counts, totals, events and
 * dependents.  -1 with diag when the store refused (E_STATE: the job is no
 * longer running or cancelled); nothing moved.  May yield (a store that
 * waits on its server). */
int jobs_end_attempt(int64_t qid, int64_t id, const struct store_job_end *e);
/* Cancels job b (not terminal when read): the state, counts, totals, its
 * process killed when running, dependents cancelled.  A job that moved
 * since b was read is read again; one that ended meanwhile is left as it
 * is (0).  -1 with diag when the store would not take it (a locked
 * database): nothing of it happened.  May yield. */
int jobs_cancel(const struct store_job_brief *b, int64_t now);
/* Puts failed or cancelled job b back to queued, attempt 0.  The caller
 * checked that no attempt of it is still live.  -1 with diag as
 * store_job_retry, E_STATE when it moved since b was read.  May yield. */
int jobs_retry(const struct store_job_brief *b, int64_t now);
/* Promotes the scheduled jobs that are due to queued and waits until that
 * is committed: the scheduler's callback.  -1 when the write or its commit
 * failed (the jobs stay scheduled, to be promoted on the next try).
 * Yields. */
int jobs_promote_due(void);
/* Job id of queue qid, in terminal state `state`, was deleted by a
 * prune: uncounted.  Does not yield. */
void jobs_pruned(int64_t qid, int64_t id, int state);

/* Told of each job of queue qid that reached terminal `state` by its
 * attempt's end or by a cancel (not a job cancelled for a dependency,
 * nor one failed by a recovery: a start's, or a peer's rescue), once per
 * end, inside the held group transaction that wrote the end: what it
 * writes commits with the end, or neither does.  fn may yield as store
 * calls do. */
typedef void (*jobs_ended_fn)(int64_t qid, int64_t id, int state);
/* Sets the one jobs_ended_fn (NULL: none; the hooks module's). */
void jobs_set_ended(jobs_ended_fn fn);

#endif /* JOBS_H_INCLUDED */
