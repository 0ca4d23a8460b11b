/*
 * store, SQLite backend: what its files share (store_sqlite.c,
 * store_sql.c, store_queue.c, store_job.c, store_job_json.c).  Private to
 * the store like store_impl.h; these are the only files that include
 * sqlite3.h.
 *
 * Every statement is prepared once at open, from the SQL text of
 * store_sql.c, and named by its enum store__stmt_id; the row files bind and
 * step them through store__st() and report failures with
 * store__db_error().
 */
#ifndef STORE_SQLITE_H_INCLUDED
#define STORE_SQLITE_H_INCLUDED

#include <sqlite3.h>
#include <stdint.h>

#include <jansson.h>

#include "store_backend.h"

/* The columns of a job object, in the order of enum job_col: the SELECT
 * list of S_JOB_GET and the listings, read back by store_job_json.c. */
#define JOB_COLS                                                               \
	"j.id, q.name, j.state, j.reason, j.priority, j.run_at, "              \
	"j.created_at, j.started_at, j.finished_at, j.attempt, "               \
	"j.recoveries, j.max_attempts, j.timeout, j.kill_grace, j.b_base, "    \
	"j.b_factor, j.b_max, j.b_jitter, j.uid, j.name, j.argv, j.shell, "    \
	"j.cwd, j.unique_key, j.output, j.depends_on, j.exit_code, j.signal, " \
	"j.error, j.pid, j.duration, j.truncated, j.ru_user, j.ru_sys, "       \
	"j.ru_maxrss, j.env_id, j.limits, j.linger, j.ru_mempeak, "            \
	"j.snooze_exit, j.snooze, j.max_snoozes, j.snoozes, j.result, "        \
	"j.result_error, j.labels, j.progress, j.progress_bad, j.hook_of, "    \
	"j.resubmitted_from, j.dep_cond "
enum job_col {
	JC_ID,
	JC_QUEUE,
	JC_STATE,
	JC_REASON,
	JC_PRIORITY,
	JC_RUN_AT,
	JC_CREATED,
	JC_STARTED,
	JC_FINISHED,
	JC_ATTEMPT,
	JC_RECOVERIES,
	JC_MAX_ATTEMPTS,
	JC_TIMEOUT,
	JC_KILL_GRACE,
	JC_B_BASE,
	JC_B_FACTOR,
	JC_B_MAX,
	JC_B_JITTER,
	JC_UID,
	JC_NAME,
	JC_ARGV,
	JC_SHELL,
	JC_CWD,
	JC_UNIQUE,
	JC_OUTPUT,
	JC_DEPENDS,
	JC_EXIT,
	JC_SIGNAL,
	JC_ERROR,
	JC_PID,
	JC_DURATION,
	JC_TRUNCATED,
	JC_RU_USER,
	JC_RU_SYS,
	JC_RU_MAXRSS,
	JC_ENV_ID,
	JC_LIMITS,
	JC_LINGER,
	JC_RU_MEMPEAK,
	JC_SNOOZE_EXIT,
	JC_SNOOZE,
	JC_MAX_SNOOZES,
	JC_SNOOZES,
	JC_RESULT,
	JC_RESULT_ERROR,
	JC_LABELS,
	JC_PROGRESS,
	JC_PROGRESS_BAD,
	JC_HOOK_OF,
	JC_RESUBMITTED_FROM,
	JC_DEP_COND,
};

/* The statements, prepared at open, finalized at close. */
enum store__stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_QUEUE_ALL,
	S_QUEUE_INSERT,
	S_QUEUE_UPDATE,
	S_QUEUE_PAUSE,
	S_QUEUE_DELETE,
	S_COUNTS,
	S_QUEUE_PENDING,
	S_ENV_FIND,
	S_ENV_INSERT,
	S_ENV_GET,
	S_JOB_INSERT,
	S_DEP_INSERT,
	S_JOB_UNIQUE,
	S_JOB_BRIEF,
	S_JOB_CLAIM,
	S_JOB_SET_PID,
	S_JOB_END,
	S_JOB_SET_STATE,
	S_JOB_RETRY,
	S_JOB_PROMOTE,
	S_JOB_NEXT_DUE,
	S_DEP_MET,
	S_DEP_SUCCEEDED,
	S_DEP_READY,
	S_DEP_NOT_NEEDED,
	S_DEP_DEPENDENTS,
	S_JOB_DEP_STATE,
	S_JOB_RECOVER,
	S_JOB_PRUNE_SELECT,
	S_JOB_PRUNE_STATE,
	S_JOB_PRUNE_KEEP,
	S_JOB_DELETE,
	S_DEP_DELETE,
	S_JOB_GET,
	S_JOB_LIST,
	S_JOB_LIST_RUNNING,
	S_JOB_LIST_DESC,
	S_JOB_LIST_RUNNING_DESC,
	S_JOB_MAX_ID,
	S_JOB_RUNNING_PIDS,
	S_PROD_ALL,
	S_PROD_PUT,
	S_PROD_COUNTERS,
	S_PROD_ADD,
	S_PROD_PAUSE,
	S_PROD_DELETE,
	S_COUNT
};

/* SQL text of each statement, by id (store_sql.c). */
extern const char *const store__stmt_sql[S_COUNT];
/* The migrations: store__migrations[i] takes the schema from version i to
 * i + 1; there are STORE_SCHEMA_VERSION of them (store_sql.c). */
extern const char *const store__migrations[];

/* The loop's connection (borrowed), for what a row file asks of it
 * (sqlite3_changes, sqlite3_last_insert_rowid). */
sqlite3 *store__sqlite(void);
/* Statement id, reset and with its bindings cleared, ready to bind. */
sqlite3_stmt *store__st(enum store__stmt_id id);
/* Statement id as it is, bindings kept: for a statement whose every
 * parameter is bound on every use, reset right after its step. */
sqlite3_stmt *store__stmt(enum store__stmt_id id);
/* Runs s, a statement that returns no rows, and resets it; -1 with E_DB
 * naming what. */
int store__st_exec(sqlite3_stmt *s, const char *what);
/* Records SQLite's last error as E_DB, "store: <what>: <message>", and
 * notices a group transaction SQLite rolled back by itself
 * (store__txn_lost).  Returns -1. */
int store__db_error(const char *what);
/* Column i of s parsed as JSON (new reference), or NULL when NULL. */
json_t *store__col_json(sqlite3_stmt *s, int i);
/* Binds l at col as its JSON text, or NULL when no key is set. */
struct joblimits;
void store__bind_limits(sqlite3_stmt *s, int col, const struct joblimits *l);

/* The stored environment with this id (new reference), or NULL
 * (store_job.c). */
json_t *store__env_get(int64_t id);
/* Forgets the environments remembered as stored: after a rollback they
 * may not be (store_job.c). */
void store__env_cache_clear(void);

/* The calls of STORE_BACKEND_CALLS, store__sqlite_NAME for store_NAME
 * (the row files and store_sqlite.c), gathered into
 * store__sqlite_backend. */
#define STORE_SQLITE_PROTO(ret, name, params, args) \
	ret store__sqlite_##name params;
#define STORE_SQLITE_PROTOV(name, params, args) \
	void store__sqlite_##name params;
STORE_BACKEND_CALLS(STORE_SQLITE_PROTO, STORE_SQLITE_PROTOV)

#endif /* STORE_SQLITE_H_INCLUDED */
