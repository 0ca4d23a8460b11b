/*
 * store internals: what the store's own files share, and nothing else
 * includes.  store.h is the contract; this header is not part of it.
 *
 * The store has two halves.  store.c is backend-neutral: group commit
 * (numbering transactions, who waits for which commit, which commits
 * failed, the transaction hooks, holds) and the order of open and close;
 * it speaks no SQL.  The SQLite backend is the rest: store_sqlite.c (the
 * connection, migrations, the statement cache, the transaction
 * primitives, savepoints, the WAL and the checkpoint thread), store_sql.c
 * (every SQL text), and the rows: store_queue.c (queues, counts,
 * producers), store_job.c (jobs and their environments) and
 * store_job_json.c (job objects and listings).  The backend's files share
 * store_sqlite.h; only they include sqlite3.h.
 *
 * Each half calls the other only through the functions below: the first
 * section is what store.c offers the backend, the second what a backend
 * provides to store.c.
 */
#ifndef STORE_IMPL_H_INCLUDED
#define STORE_IMPL_H_INCLUDED

#include <stdbool.h>

/* ---- group commit, for the backend (store.c) ---- */

/* Joins the group transaction before a write, opening it (through
 * store__db_begin) when none is open, and marks the calling coroutine as
 * a writer of it, so that its next store_sync() learns whether its write
 * committed.  -1 with E_DB when the transaction cannot begin or is doomed
 * (the cause of its loss).  Does not yield. */
int store__write_begin(void);
/* True when the open group transaction was lost (store__txn_lost): later
 * writes fail until the flush ends it. */
bool store__txn_doomed(void);
/* Why the last group transaction failed ("store: commit failed: ...");
 * borrowed, valid until the next failure. */
const char *store__fail_msg(void);
/* The database rolled the open group transaction back by itself, for
 * cause (borrowed): dooms it, and asks the next flush to end it as failed,
 * so that every writer of it learns of the loss.  No-op when no
 * transaction is open or it is doomed already. */
void store__txn_lost(const char *cause);
/* The same, when the transaction went with the database's connection
 * before its COMMIT was sent: nothing of it was committed, so its writers
 * may do it all again (store_failed_uncommitted). */
void store__txn_lost_uncommitted(const char *cause);

/* A backend that commits without waiting (db_commit_send) tells the
 * answer here, from the scheduler context: committed, or not and why
 * (cause borrowed).  The flush hook then ends the transaction. */
void store__commit_answered(bool committed, const char *cause);

/* The background fsync a backend started (db_fsync_send) is over, told
 * from the loop: done, or not and why (cause borrowed). */
void store__fsync_answered(bool ok, const char *cause);

/* ---- the backend's primitives, for store.c (store_sqlite.c) ---- */

/* Opens the database at path (borrowed), migrates it and prepares every
 * statement; sync_full as for store_open().  -1 with diag set; the
 * database is then closed, or left open for store_close() to close when
 * store__db_is_open() says so. */
int store__db_open(const char *path, bool sync_full);
/* True between store__db_open() and store__db_close(). */
bool store__db_is_open(void);
/* Closes the database: stops background work, checkpoints, frees every
 * statement.  The group transaction is over already. */
void store__db_close(void);
/* Begins a transaction, failing at once (not waiting) when another
 * process holds the write lock.  -1 with E_DB. */
int store__db_begin(void);
/* Commits the open transaction.  -1 with E_DB, "store: commit failed:
 * <cause>", when it did not: the transaction may still be open then. */
int store__db_commit(void);
/* Rolls back whatever of the transaction is still open (nothing when the
 * database ended it itself). */
void store__db_rollback(void);
/* Called as each group transaction ends, before the hooks: forgets what
 * the backend keeps per transaction (savepoints, and on a rollback what
 * it cached of rows written). */
void store__db_txn_over(bool committed);
/* After a commit and its waiters: logs what the backend's background work
 * (checkpoints) could not do. */
void store__db_report(void);
/* Makes every commit so far survive power loss when synchronous = full
 * was configured; 0 at once otherwise.  -1 with E_DB. */
int store__db_fsync(void);
/* Its db_fsync_send: the same fdatasync in the sync thread. */
int store__db_fsync_send(void);

#endif /* STORE_IMPL_H_INCLUDED */
