/*
 * store: the SQLite database, the only module that speaks SQL.
 *
 * It owns the schema and its migrations (PRAGMA user_version), every
 * statement (prepared once at open), and group commit: the first write of a
 * loop iteration opens a transaction, and store_flush() — a loop flush hook —
 * commits it before the loop sleeps, so one fsync covers a whole burst.
 * Whoever reports a change waits for that commit with store_sync().
 *
 * Functions here never yield, except store_sync() and
 * store_sync_crash_safe().  Returns follow the
 * house rule: 0 or -1 with diag set (E_DB, E_NOTFOUND, E_CONFLICT).
 *
 * The module spans daemon/store*.c: group commit in store.c, the SQLite
 * backend in the others (store_impl.h says which file holds what).  This
 * header is the whole contract.
 */
#ifndef STORE_H_INCLUDED
#define STORE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "backoff.h"
#include "config.h"
#include "jobspec.h"
#include "labels.h"

/* Current schema version (SQLite: PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 13
/* Current schema version of the PostgreSQL store (table jobd_schema). */
#define STORE_PG_SCHEMA_VERSION 9

/* Opens (creating if needed) the database at path (borrowed), applies
 * migrations, prepares every statement.  sync_full: whatever is reported
 * (store_sync) has been fsynced and survives power loss; without it,
 * commits survive a crash of jobd but may be lost with the power. */
int store_open(const char *path, bool sync_full);
/* Commits what is open, checkpoints the WAL and closes.  Safe when not
 * open. */
void store_close(void);
/* Loop flush hook: commits the group transaction if one is open and
 * someone waits for it (store_sync, store_request_commit) or it has been
 * open for a few milliseconds; otherwise arms a timer for that.  Returns
 * true when it committed (or failed to). */
bool store_flush(void *arg);
/* Commits the open group transaction now, outside the loop (at start);
 * -1 with E_DB naming the cause when the commit failed: everything in it
 * is rolled back then.  Does not yield. */
int store_commit_now(void);
/* Rolls the open group transaction back now, everyone's writes in it
 * (at start, after a step that failed halfway; a held change that failed
 * after some of its slices were written): the hooks are told, and every
 * store_sync() waiting for it fails.  A commit in flight (PostgreSQL) is
 * awaited first: it ends as its answer says.  Yields only then. */
void store_abort(void);
/* Asks the next flush to commit without delay (and fsync, when
 * durable).  Does not yield. */
void store_request_commit(bool durable);
/* Fsyncs what was committed without it (when synchronous = full). */
int store_make_durable(void);
/* True while the group transaction is open (changes not yet durable),
 * its commit in flight included. */
bool store_txn_open(void);
/* True while a commit was sent and its answer has not come (a backend
 * that commits without waiting, PostgreSQL): nothing a flush hook does
 * ends the transaction before the answer wakes the loop. */
bool store_committing(void);
/* True while an fsync started by the flush hook runs in the background
 * (synchronous = full on SQLite): its end is told on the loop, and wakes
 * the coroutines in store_sync() it makes durable. */
bool store_syncing(void);
/*
 * Failure.  A write fails at once, -1 with E_DB, when another process
 * holds the database's write lock ("the database is locked by another
 * process"): SQLite is never asked to wait for it, so the loop does not
 * stall.  A commit that fails (a full disk, an I/O error) rolls back the
 * whole group transaction: every coroutine's writes in it are gone.  The
 * transaction hooks then undo what memory holds of them (counts, events,
 * totals), and every writer learns of the loss from its next store_sync()
 * or store_sync_crash_safe(), which fail for any transaction holding a
 * write of the calling coroutine since its previous sync, with the cause:
 * "store: commit failed: database or disk is full".  The writer redoes its
 * change or reports the error; nothing is reported before its commit.
 */
/* Waits until every write made so far is committed and durable — for
 * whoever reports a change (a response, an event).  -1 with E_DB when a
 * commit holding a write of this coroutine failed.  Yields. */
int store_sync(void);
/* Waits until every write made so far is committed: it survives a crash
 * of jobd, not yet power loss (for a claim before its process starts, a
 * job's end).  Fails as store_sync() does.  Yields. */
int store_sync_crash_safe(void);
/* Called after each group transaction ends: committed is true when its
 * writes are in the database, false when all of them were rolled back.
 * Hooks run in the order added, before anyone waiting for the commit is
 * woken; they must not yield nor write.  Adding one twice adds it once;
 * store_close() removes them all. */
typedef void (*store_txn_fn)(bool committed, void *arg);
void store_add_txn_hook(store_txn_fn fn, void *arg);
/* A savepoint inside the group transaction, for a change that spans rows:
 * store_savepoint(), then store_release() or store_rollback().  Never
 * across a yield.  store_release() fails when the group transaction failed
 * meanwhile (taking the savepoint with it). */
int store_savepoint(void);
int store_release(void);
void store_rollback(void);
/* Holds the group transaction open (beginning it when none is) until the
 * matching store_unhold(): store_flush() does not commit it meanwhile, so
 * a change written in slices across yields (a big submit) commits whole
 * or not at all.  Other writers go on writing into the same transaction,
 * and reporters (store_sync) wait for the hold to end.  Holds nest.  -1
 * with E_DB when the transaction cannot begin.  Does not yield. */
int store_hold(void);
void store_unhold(void);
/* True while a hold keeps the group transaction from committing. */
bool store_held(void);
/* Between slices of a held change: writes the pages it changed so far to
 * the WAL (uncommitted), and now and then makes them durable, so that the
 * commit at its end has little left to write and fsync.  Does not
 * yield. */
void store_spill(void);
/* Sizes of the database file and its WAL, in bytes. */
void store_sizes(int64_t *db_bytes, int64_t *wal_bytes);
/* Test hooks: when store_fail_next_commit is set, the next commit fails
 * as if the disk were full; while the file store_fault_file (borrowed)
 * exists, every commit does. */
extern bool store_fail_next_commit;
extern const char *store_fault_file;

/* ---- queues ---- */

struct store_queue {
	int64_t id;
	struct queue_conf conf;
	bool paused;
};

typedef int (*store_queue_fn)(const struct store_queue *q, void *arg);
/* Calls fn for every stored queue; stops at the first non-zero return. */
int store_queue_each(store_queue_fn fn, void *arg);
/* Inserts a queue; *id gets its id.  E_CONFLICT when the name exists. */
int store_queue_insert(const struct queue_conf *qc, bool paused, int64_t *id);
int store_queue_update(int64_t id, const struct queue_conf *qc);
int store_queue_set_paused(int64_t id, bool paused);
int store_queue_delete(int64_t id);

/* Locks queue qid's row until the group transaction ends, so that
 * capacity checks of the queue by other nodes (and this one's) wait for
 * its commit, then gives in *n the queue's pending jobs (waiting,
 * scheduled, queued) in the whole database, what the open transaction
 * wrote included.  On PostgreSQL the lock is taken before the jobs are
 * counted (two statements: the count sees what a submit holding the lock
 * before committed) and counts are the sums of every node's counts.  A
 * queue with no row counts 0.  The lock lasts only as long as the group
 * transaction: a caller that inserts jobs after the check holds it
 * (store_hold) from before the check to after the inserts. */
int store_queue_pending(int64_t qid, int64_t *n);
/* True when the database is shared by several nodes (PostgreSQL) and so
 * keeps the limits that span them: global_concurrency and rate in
 * store_job_claim, capacity through store_queue_pending.  False under
 * SQLite: one node is the whole cluster, and the engine keeps them in
 * memory. */
bool store_limits_shared(void);

typedef void (*store_count_fn)(int64_t qid, int state, int64_t n, void *arg);
/* Calls fn with the number of jobs in each (queue, state). */
int store_count_each(store_count_fn fn, void *arg);

/* ---- jobs ---- */

/* A job to insert: the spec plus what the daemon resolved. */
struct store_job_new {
	const struct jobspec *spec; /* borrowed */
	int64_t qid;
	int state; /* waiting, scheduled, queued, or
					 * cancelled (a dependency ended
					 * badly already) */
	int reason;
	int64_t created_at; /* ms */
	int64_t run_at;	    /* ms */
	uid_t uid;
	double timeout;
	double kill_grace;
	int max_attempts;
	struct backoff backoff;
	int deps_left;	     /* dependencies not yet ended (not yet
				    succeeded for JOBSPEC_AFTER) */
	const int64_t *deps; /* borrowed: the dependencies' ids (spec's
				"@N" resolved); NULL: the spec's */
	size_t ndeps;
	int dep_cond;	 /* enum jobspec_cond */
	bool dep_failed; /* JOBSPEC_AFTER_FAILED: one has failed already */
	struct joblimits limits; /* the spec's over the queue's */
	int snooze_exit;	 /* 1..255; -1: none */
	double snooze;		 /* s; < 0: the backoff delay */
	int max_snoozes;
	const json_t *labels; /* borrowed: the spec's over the queue's
				    (labels_merge); NULL: none */
};

/* Inserts a job; *id gets its id.  E_CONFLICT, nothing written, when
 * another live job of its user holds its unique_key (callers look first
 * with store_job_find_unique; a store that yields may let another submit
 * take the key in between). */
int store_job_insert(const struct store_job_new *j, int64_t *id);
/* The job object (SPEC 5.2) of the job j inserted as id into the queue
 * named queue, as a read of it right after the insert would answer, built
 * without reading: for job.submitted, which must show the job as
 * submitted even when a claim of it was sent meanwhile.  Does not yield. */
json_t *store_job_new_json(const struct store_job_new *j, int64_t id,
			   const char *queue);
/* Where a job object (SPEC 5.2) gets the progress of an attempt that runs
 * here, which the store holds only once the attempt has ended: fn(id,
 * &progress, &bad) returns true when this node runs (or is recording)
 * job id's attempt, with *progress its progress object (new reference,
 * NULL: none yet) and *bad its bad lines; false leaves the stored ones.
 * fn must not yield.  NULL: the stored ones always. */
typedef bool (*store_live_progress_fn)(int64_t id, json_t **progress,
				       int64_t *bad);
void store_set_live_progress(store_live_progress_fn fn);
/* Id of uid's non-terminal job holding unique_key, or -1 with E_NOTFOUND.
 * Keys are each user's own: another user's job never answers. */
int store_job_find_unique(const char *key, uid_t uid, int64_t *id);

/* The few columns the engine decides on. */
struct store_job_brief {
	int64_t id;
	int64_t qid;
	int state;
	int reason;
	uid_t uid;
	int attempt;
	int max_attempts;
	int64_t run_at;
	bool output_truncated;
};
/* -1 with E_NOTFOUND when there is no such job. */
int store_job_brief(int64_t id, struct store_job_brief *b);

/* What one attempt needs. */
struct store_job_run {
	int64_t id;
	int64_t qid;
	int attempt; /* this attempt, 1-based */
	int max_attempts;
	int recoveries;
	uid_t uid;
	json_t *argv;	/* owned: array of strings, or NULL */
	char *shell;	/* owned, or NULL */
	char *cwd;	/* owned */
	json_t *env;	/* owned: object, or NULL for the minimal env */
	double timeout; /* 0: none */
	double kill_grace;
	struct backoff backoff;
	int output;	    /* enum jobspec_output */
	int64_t started_at; /* ms */
	struct joblimits limits;
	bool linger;	 /* what its cgroup holds may outlive it */
	int64_t wait_ms; /* a claim refused with E_BUSY: retry after it
			  * (0: unknown) */
	int snooze_exit; /* 1..255; -1: none */
	double snooze;	 /* s; < 0: the backoff delay */
	int max_snoozes;
	int snoozes;	/* before this attempt */
	json_t *labels; /* owned: its labels object, or NULL: none */
};
/* Claims the next ready job of queue qid (priority, run_at, id order):
 * state running, attempt + 1, started_at now.  -1 with E_NOTFOUND when
 * none is ready.  Release r with store_job_run_destroy().
 *
 * Where the database keeps the cluster's limits (store_limits_shared),
 * the claim also takes one of the queue's global permits (when
 * global_concurrency is set) and one token of its bucket (when rate is):
 * -1 with E_BUSY when one of them stops it, r->wait_ms then set to when
 * to try again: the milliseconds until the bucket holds a token, or 0
 * when the store cannot tell (a permit is missing: an end on any node
 * frees one; another node's transaction holds the bucket), and the caller
 * polls.  The end of the attempt (store_job_end_attempt) gives the permit
 * back. */
int store_job_claim(int64_t qid, int64_t now, struct store_job_run *r);
void store_job_run_destroy(struct store_job_run *r);
/* Records the pid of a running attempt. */
int store_job_set_pid(int64_t id, int pid);

/* The end of an attempt, or any other state change of a job. */
struct store_job_end {
	int state;
	int reason;
	int exit_code;	   /* -1: none */
	int signal;	   /* 0: none */
	const char *error; /* borrowed, or NULL */
	double duration;   /* seconds; < 0: leave as is */
	bool output_truncated;
	double ru_user, ru_sys; /* seconds */
	int64_t max_rss_kb;
	int64_t memory_peak;	  /* bytes, the attempt's cgroup; -1: unknown */
	int64_t finished_at;	  /* ms; 0 for a non-terminal state */
	int64_t now;		  /* ms: a cancelled job's finished_at */
	int64_t run_at;		  /* ms; for scheduled/queued */
	int attempt_delta;	  /* -1 gives the attempt back */
	int attempt;		  /* the attempt that ended (its claim's) */
	int snooze_delta;	  /* 1: a snooze, counted */
	const char *result;	  /* borrowed JSON text, or NULL: none */
	const char *result_error; /* borrowed, or NULL */
	/* Borrowed: the attempt's progress object as JSON text, or NULL:
	 * none; and the bad lines it wrote. */
	const char *progress;
	int64_t progress_bad;
};
/* Records the end of a running attempt, in one step that nothing can come
 * between: *was gets the state the job had, running or cancelled.  A job
 * cancelled while its attempt ran keeps its state and reason (the cancel
 * recorded and announced them): only what the process did is added, with
 * finished_at e->now.  E_STATE (nothing written) when the job is neither
 * running nor cancelled, or, under PostgreSQL, when attempt e->attempt is
 * not this node incarnation's any more (a peer rescued the job). */
int store_job_end_attempt(int64_t id, const struct store_job_end *e, int *was);
/* Sets state and reason of a job that is still in state `from` (a cancel
 * decided on a brief read before); E_CONFLICT, nothing written, when it
 * has moved since.  from < 0: whatever its state (tests, tools). */
int store_job_set_state(int64_t id, int from, int state, int reason,
			int64_t now);
/* Puts a failed/cancelled job, still in state `from` (< 0: any), back to
 * queued with attempt 0.  E_CONFLICT when it has moved since; E_STATE
 * when another live job holds its unique_key. */
int store_job_retry(int64_t id, int from, int64_t now);

typedef void (*store_job_fn)(int64_t id, int64_t qid, int old_state,
			     int new_state, void *arg);
/* Moves scheduled jobs whose run_at <= now to queued; fn for each. */
int store_job_promote_due(int64_t now, store_job_fn fn, void *arg);
/* Earliest run_at of a scheduled job, or -1 with E_NOTFOUND. */
int store_job_next_due(int64_t *run_at);
/* After job id ended: each waiting dependent counts it by its condition
 * (enum jobspec_cond).  JOBSPEC_AFTER: if it succeeded, a dependent whose
 * last dependency it was becomes queued (or scheduled when its run_at is
 * later); if it failed or was cancelled, the dependent is cancelled with
 * reason dependency_failed.  JOBSPEC_AFTER_ANY: a dependent whose last
 * dependency it was becomes queued or scheduled, whatever the outcome.
 * JOBSPEC_AFTER_FAILED: likewise if one of its dependencies failed or was
 * cancelled, else it is cancelled with reason not_needed.  A job cancelled
 * here is resolved in turn, and so on down the graph.  fn for each job
 * changed. */
int store_job_resolve_dependents(int64_t id, bool succeeded, int64_t now,
				 store_job_fn fn, void *arg);
/* Counts dependencies of a new job: *missing gets the first id that does
 * not exist (0 if none), *failed whether one already failed or was
 * cancelled, *left how many have not succeeded.  uid_filter >= 0 treats
 * other users' jobs as missing. */
int store_job_check_deps(const int64_t *ids, size_t n, long uid_filter,
			 int64_t *missing, bool *failed, int *left);

typedef void (*store_pid_fn)(int64_t id, int pid, void *arg);
/* Calls fn for every job recorded as running with a pid: under
 * PostgreSQL, those this node's earlier incarnations ran. */
int store_job_running_pids(store_pid_fn fn, void *arg);
/* At start: running jobs go back to queued (reason recovered, attempt given
 * back) or, past max_recoveries, to failed (recovery_limit).  fn for each
 * job changed.  Under PostgreSQL, only the jobs of this node's earlier
 * incarnations (older epochs, once it registered again); other nodes'
 * running jobs are theirs, or their rescuers'. */
int store_job_recover(int64_t now, int max_recoveries, store_job_fn fn,
		      void *arg);
typedef void (*store_prune_fn)(int64_t id, int64_t qid, int state, int attempts,
			       void *arg);
/* Deletes terminal jobs finished before `before` (ms), of queue qid (-1:
 * any), at most limit of them (<= 0: all); fn for each, so logs and
 * counts follow.  *n gets how many: fewer than limit means none is left.
 * A big prune calls it again and again, yielding in between. */
int store_job_prune(int64_t before, int64_t qid, int64_t limit,
		    store_prune_fn fn, void *arg, int64_t *n);
/* What a queue's retention lets go. */
struct store_prune_rule {
	int64_t qid;	/* the queue */
	int state;	/* keep == 0: JOBD_SUCCEEDED, JOBD_FAILED or
			   JOBD_CANCELLED, the jobs that ended so */
	int64_t before; /* keep == 0: those of them that ended before (ms) */
	int64_t keep;	/* > 0: instead, its finished jobs past the keep
			   most recent (by end time, then id), any state */
};
/* Deletes the finished jobs rule r (borrowed) lets go, at most limit of
 * them (<= 0: all), as store_job_prune does: fn for each, *n how many
 * (fewer than limit: none is left).  Indexed: cheap when none is due.
 * Under PostgreSQL, rows another node's prune holds are left to it. */
int store_job_prune_rule(const struct store_prune_rule *r, int64_t limit,
			 store_prune_fn fn, void *arg, int64_t *n);

/* The highest job id given so far (0: none). */
int64_t store_job_max_id(void);

/* The job object of SPEC 5.2 (new reference), with env when asked.
 * -1/NULL with E_NOTFOUND. */
json_t *store_job_json(int64_t id, bool with_env);

/* Filters for store_job_list. */
struct store_job_filter {
	int64_t qid;	     /* -1: any */
	unsigned state_mask; /* bit per state; 0: any */
	int64_t after_id;    /* ids above it only */
	int64_t upto_id;     /* ascending: ids above it are not looked at;
				 * 0: no bound */
	int limit;
	long uid;		     /* -1: any */
	int64_t before_id;	     /* ids below it only; 0: no bound */
	bool desc;		     /* newest (highest id) first */
	const struct labels *labels; /* borrowed: jobs holding every pair
					of it only; NULL or empty: any */
};
/* Appends matching job objects to arr, ascending id, or descending with
 * f->desc; *next_after_id gets the last id appended when the page was
 * full (the cursor for the next page: after_id ascending, before_id
 * descending), else 0.  A big listing reads in windows of ids (upto_id
 * ascending, after_id and before_id descending), so that no one call
 * scans far. */
int store_job_list(const struct store_job_filter *f, json_t *arr,
		   int64_t *next_after_id);

/* ---- producers ---- */

struct store_producer {
	const char *name; /* borrowed for the callback */
	json_t *spec;	  /* borrowed for the callback */
	uid_t uid;
	bool paused;
	int state; /* enum producer_state */
	int64_t produced, skipped, errors;
	int64_t last_run; /* ms, 0: never */
	int64_t anchor;	  /* ms: the first tick of an interval, the
			     same for every node (PostgreSQL); 0: not
			     kept (SQLite) */
};
typedef int (*store_producer_fn)(const struct store_producer *p, void *arg);
/* Calls fn for every stored producer, by name. */
int store_producer_each(store_producer_fn fn, void *arg);
/* Stores a producer's definition (spec borrowed), creating it or replacing
 * the definition of one with that name (counters and pause kept). */
int store_producer_put(const char *name, const json_t *spec, uid_t uid,
		       bool paused);
int store_producer_counters(const char *name, int state, int64_t produced,
			    int64_t skipped, int64_t errors, int64_t last_run);
int store_producer_set_paused(const char *name, bool paused);
int store_producer_delete(const char *name);

/*
 * Producers across nodes (PostgreSQL; SCALEOUT 7).  Each node runs every
 * producer; the store decides which node acts.  Under SQLite there is one
 * node, and it always does.
 */

/* What a producer's run adds to its stored row. */
struct store_producer_add {
	int state;			   /* enum producer_state: set;
					      < 0: kept */
	int64_t produced, skipped, errors; /* added to the stored counts */
	int64_t last_run;		   /* ms: set when later; 0: kept */
	int64_t last_job;		   /* set when > 0 (PostgreSQL) */
};
/* Adds a's counts to producer name's stored ones (in SQL: other nodes add
 * theirs to the same row) and sets its state, last_run and last_job.
 * *after (the caller's, may be NULL) gets the row as it is then: every
 * node's counts summed; name and spec NULL.  No such row: nothing is
 * written and *after is zeroed. */
int store_producer_add(const char *name, const struct store_producer_add *a,
		       struct store_producer *after);
/* Takes the tick of an interval or cron producer at tick (ms: a time every
 * node computes alike, anchor + n * every or the cron time) when it is not
 * paused and no node has taken that tick or a later one: *won tells
 * whether this node did, and then *last_job (may be NULL) gets the job
 * the producer's last tick submitted, for overlap (0: none, or not kept).
 * The tick is taken in the group transaction: the caller syncs before it
 * acts on it.  SQLite: always won, last_job 0 (the caller keeps it). */
int store_producer_tick(const char *name, int64_t tick, bool *won,
			int64_t *last_job);
/* Makes this node (store_node_id, store_node_epoch) the owner of command
 * producer name, the one node that runs its generator, when it has not
 * ended (finished, failed) nor is paused, and no node owns it, or an older incarnation of
 * this node does; once registered, only while this node's lease holds.
 * *owned tells whether this call made this node the owner (false when it
 * owned it already: a producer replaced on reload waits for the one it
 * replaces to give it up); *row (the caller's, may be NULL) gets the row
 * as it was (its state and counts, as the owner left them; zeroed when
 * there is none), name and spec NULL.  The owner's lease is its
 * node's: the rescue of a dead node frees what it owned.  In the group
 * transaction: the caller syncs before it starts the generator.  SQLite:
 * always owned, *row zeroed. */
int store_producer_own(const char *name, bool *owned,
		       struct store_producer *row);
/* Frees producer name of this node's ownership (name NULL: every producer
 * this node owns, whatever the incarnation: at start, when none of its
 * generators runs).  Nothing when another node owns it. */
int store_producer_disown(const char *name);

/* ---- PostgreSQL ---- */

/* Opens the PostgreSQL store in the database conninfo (a libpq connection
 * string, borrowed) names: connects, and creates or migrates the schema
 * (as store_pg_init_db).  -1 with E_DB naming the cause.  Every call of
 * this header may then yield, waiting for the database; store_close()
 * is called from a coroutine too.  From a coroutine.  Yields. */
int store_open_pg(const char *conninfo);

/* Creates jobd's schema in the PostgreSQL database that conninfo (a libpq
 * connection string, borrowed) names, or migrates it to this jobd's
 * version, in one transaction under an advisory lock, so that nodes
 * starting together migrate once.  *from and *to get the schema version
 * before and after.  -1 with E_DB naming the cause when the server cannot
 * be reached, is older than 14, refuses, or holds a schema that needs a
 * newer jobd (nothing is changed then).  From a coroutine.  Yields. */
int store_pg_init_db(const char *conninfo, int *from, int *to);

/* True when the last transaction that failed was lost with the
 * database's connection before its COMMIT was sent: nothing of it was
 * committed, so a writer that store_sync() failed may do it all again
 * (a submit does, answered only once it holds).  Does not yield. */
bool store_failed_uncommitted(void);

/* ---- The cluster (PostgreSQL) ---- */

/* This node as the cluster knows it: its row in the nodes table, the
 * epoch of its registration (raised each time it registers again, so an
 * older incarnation's writes are fenced off) and its name (borrowed).
 * 0, 0 and NULL under SQLite and before the node registered; the epoch is
 * 0 while the node is fenced. */
int64_t store_node_id(void);
int store_node_epoch(void);
const char *store_node_name(void);

/* Under SQLite each of these does nothing and returns 0.
 *
 * Registers this node as name (borrowed), of instance (a UUID the node
 * keeps on disk): takes the row of that name, with its epoch raised, when
 * it is this instance's or its lease ran out, else makes one; its lease
 * runs lease seconds from now on the database's clock.  E_CONFLICT when a
 * live node of another instance holds the name.  Committed by the next
 * store_sync(). */
int store_node_register(const char *name, const char *instance, double lease);
/* Renews the lease for lease seconds from now.  E_CONFLICT when this
 * incarnation no longer holds it (it ran out, or a peer rescued the node):
 * the node must fence itself and register again.  Committed by the next
 * store_sync(). */
int store_node_heartbeat(double lease);
/* The rescue: nodes whose lease ran out more than grace seconds ago are
 * deleted, their running jobs go back to queued (reason recovered) or,
 * past max_recoveries, to failed (recovery_limit), fn called for each;
 * their permits and command producers are freed.  Writes nothing when no
 * lease ran out. */
int store_node_rescue(double grace, int max_recoveries, store_job_fn fn,
		      void *arg);
typedef void (*store_id_fn)(int64_t id, void *arg);
/* Calls fn for each job this incarnation runs that was cancelled (by
 * another node: the attempt must be stopped here). */
int store_node_cancelled(store_id_fn fn, void *arg);
/* Lets the lease run out now (a clean stop), so that peers forget the
 * node after rescue_grace. */
int store_node_leave(void);
/* Fences the node (epoch 0): it claims nothing and its heartbeats fail
 * until it registers again.  Does not yield. */
void store_node_fence(void);
/* While paused, the node claims nothing (its lease is in doubt).  Does
 * not yield. */
void store_node_pause_claims(bool paused);

/* This node's name as the config gives it (node_name, else the host
 * name), set once at start before the store is opened (name borrowed: the
 * store keeps a copy; NULL: none could be had).  Under SQLite every job
 * that started ran here, so its job object's `node` is this name. */
void store_set_local_node(const char *name);
/* The name of this node (borrowed): the one store_set_local_node() gave
 * (the name the node registers under, as main.c sets it), else
 * store_node_name(); NULL when there is none.  What each attempt gets as JOBD_NODE, what its job_attempts
 * row names, and what `logs` compares to tell an attempt run here. */
const char *store_local_node(void);

/* ---- attempts, where they ran (PostgreSQL) ---- */

/* How many bytes of an attempt's log end the store keeps. */
#define STORE_LOG_TAIL (64 * 1024)

/* An attempt that ended on this node, as its job_attempts row records
 * it. */
struct store_attempt_end {
	int64_t job_id;
	int attempt;
	int64_t log_size; /* bytes; 0 when there is no log */
	const char *tail; /* borrowed: the log's last tail_len bytes, at
			     most STORE_LOG_TAIL; NULL when there is no
			     log */
	size_t tail_len;
};
/* True when the store keeps what store_attempt_ended() records
 * (PostgreSQL), so that the caller reads a log's tail only then.  Does
 * not yield. */
bool store_keeps_attempts(void);
/* Records the end of attempt a->attempt of job a->job_id on this node
 * (store_local_node()) in the open group transaction: its node, log size
 * and tail.  The row of an attempt recorded before (an attempt given back
 * by a shutdown runs again with its number; a commit that failed is
 * written again) is replaced, never a conflict; a job that no longer
 * exists gets none.  Nothing under SQLite, where every log is here.
 * Meant inside the hold of the attempt's end (jobs_hold), so that both
 * commit together.  May yield (PostgreSQL). */
int store_attempt_ended(const struct store_attempt_end *a);

/* Where attempt `attempt` of a job ran, as the store knows it. */
struct store_attempt_seen {
	char *node;	  /* owned: the node's name; NULL: not known (SQLite,
			     or no node recorded one) */
	bool running;	  /* it is the job's attempt running now */
	bool have_tail;	  /* its end was recorded by node */
	int64_t log_size; /* bytes, when have_tail */
	char *tail;	  /* owned: the log's last tail_len bytes; NULL when
			     none were kept, or node is this one (the log
			     is here) */
	size_t tail_len;
};
/* Fills *s for attempt `attempt` (>= 1) of job id: the node of the job's
 * latest attempt (jobs.last_node) when attempt is that one, else the node
 * its job_attempts row names; with the row's size and tail when that row
 * is the node's.  E_NOTFOUND when there is no such job (PostgreSQL;
 * SQLite knows no node: node is NULL, and it does not look).  Release
 * with store_attempt_seen_destroy().  May yield (PostgreSQL). */
int store_attempt_where(int64_t id, int attempt, struct store_attempt_seen *s);
void store_attempt_seen_destroy(struct store_attempt_seen *s);

/* ---- Across nodes (PostgreSQL) ---- */

/* The channel the nodes notify each other on, and the longest payload
 * (PostgreSQL refuses 8000 bytes and more). */
#define STORE_CHANNEL "jobd"
#define STORE_NOTICE_MAX 7900

/* Called with each notification's payload on STORE_CHANNEL (borrowed for
 * the call), this node's own included.  Must not yield. */
typedef void (*store_notice_fn)(const char *payload, void *arg);
/* Opens a connection of its own to the store's database (closing one
 * open before) and listens on STORE_CHANNEL there; fn gets what arrives.
 * -1 with E_DB.  Yields. */
int store_listen_open(store_notice_fn fn, void *arg);
/* 0 while the listening connection works; -1 with E_DB saying why once
 * it is lost (or when none is open).  Does not yield. */
int store_listen_check(void);
/* A round trip on the listening connection: -1 with E_DB when it is
 * lost or did not answer in 5 s (it is lost then).  Yields. */
int store_listen_ping(void);
/* Closes the listening connection.  Does not yield. */
void store_listen_close(void);
/* Sends payload (at most STORE_NOTICE_MAX bytes) on STORE_CHANNEL through
 * the listening connection: a statement of its own, outside any
 * transaction.  Not awaited: -1 with E_DB only when it cannot be sent
 * (not listening).  Does not yield. */
int store_publish(const char *payload);

/* The nodes of the cluster, by name, as a new JSON array of {name,
 * lease_age, running}: lease_age is lease (this node's `lease`, s) less
 * what is left of the node's lease in the database's clock, so the
 * seconds since its last renewal when every node has the same lease
 * (more than lease: expired); running, the attempts it owns.  NULL with
 * E_DB.  Yields. */
json_t *store_nodes_json(double lease);
/* Calls fn (store_id_fn) for each job of ids[0..n) that is terminal.
 * Yields. */
int store_jobs_terminal(const int64_t *ids, size_t n, store_id_fn fn,
			void *arg);
/* Writes whether this node has watchers or waiters into its nodes row
 * (nothing before it registered).  Yields. */
int store_node_set_listening(bool on);
/* *any: whether another node says it has watchers or waiters.  Yields. */
int store_nodes_listening(bool *any);

#endif /* STORE_H_INCLUDED */
