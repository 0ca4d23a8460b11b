/*
 * store: SQLite schema, statements and group commit.  No other file
 * includes sqlite3.h.  All SQL text lives here as constants.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "await.h"
#include "buf.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "log.h"
#include "loop.h"
#include "xmem.h"

bool store_fail_next_commit;
const char *store_fault_file;

/* Schema version 1.  Times are integer milliseconds since the epoch;
 * durations are REAL seconds (SQLite stores whole values as integers).
 * The partial indexes hold only the rows the engine looks for: ready jobs
 * in claim order, scheduled jobs by time, the unique keys of live jobs,
 * and finished jobs by end time for pruning. */
static const char schema_v1[] =
	"CREATE TABLE queues ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  concurrency INTEGER NOT NULL,"
	"  rate_limit REAL NOT NULL, rate_period REAL NOT NULL,"
	"  rate_burst REAL NOT NULL,"
	"  capacity INTEGER NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  timeout REAL NOT NULL, kill_grace REAL NOT NULL,"
	"  max_attempts INTEGER NOT NULL,"
	"  b_base REAL NOT NULL, b_factor REAL NOT NULL,"
	"  b_max REAL NOT NULL, b_jitter REAL NOT NULL);"
	"CREATE TABLE envs ("
	"  id INTEGER PRIMARY KEY,"
	"  hash INTEGER NOT NULL,"
	"  body TEXT NOT NULL);"
	"CREATE INDEX envs_hash ON envs(hash);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  qid INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  reason INTEGER NOT NULL DEFAULT 0,"
	"  priority INTEGER NOT NULL,"
	"  run_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER, finished_at INTEGER,"
	"  attempt INTEGER NOT NULL DEFAULT 0,"
	"  recoveries INTEGER NOT NULL DEFAULT 0,"
	"  max_attempts INTEGER NOT NULL,"
	"  timeout REAL NOT NULL, kill_grace REAL NOT NULL,"
	"  b_base REAL NOT NULL, b_factor REAL NOT NULL,"
	"  b_max REAL NOT NULL, b_jitter REAL NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  name TEXT, argv TEXT, shell TEXT, cwd TEXT NOT NULL,"
	"  env_id INTEGER,"
	"  unique_key TEXT,"
	"  output INTEGER NOT NULL DEFAULT 0,"
	"  deps_left INTEGER NOT NULL DEFAULT 0,"
	"  depends_on TEXT,"
	"  exit_code INTEGER, signal INTEGER, error TEXT, pid INTEGER,"
	"  duration REAL, truncated INTEGER NOT NULL DEFAULT 0,"
	"  ru_user REAL, ru_sys REAL, ru_maxrss INTEGER);"
	"CREATE INDEX jobs_ready ON jobs(qid, priority DESC, run_at, id)"
	"  WHERE state = 2;"
	"CREATE INDEX jobs_due ON jobs(run_at) WHERE state = 1;"
	"CREATE INDEX jobs_running ON jobs(state) WHERE state = 3;"
	"CREATE UNIQUE INDEX jobs_unique ON jobs(uid, unique_key)"
	"  WHERE unique_key IS NOT NULL AND state < 4;"
	"CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state >= 4;"
	"CREATE TABLE deps ("
	"  dep_id INTEGER NOT NULL,"
	"  job_id INTEGER NOT NULL,"
	"  PRIMARY KEY (dep_id, job_id)) WITHOUT ROWID;";

/* Version 2: producers.  spec is the producer object as created (JSON);
 * the counters and state change as it runs. */
static const char schema_v2[] =
	"CREATE TABLE producers ("
	"  name TEXT PRIMARY KEY,"
	"  spec TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  produced INTEGER NOT NULL DEFAULT 0,"
	"  skipped INTEGER NOT NULL DEFAULT 0,"
	"  errors INTEGER NOT NULL DEFAULT 0,"
	"  last_run INTEGER);";

/* Migrations: migrations[i] takes the schema from version i to i + 1. */
static const char *const migrations[] = {schema_v1, schema_v2};

#define JOB_COLS                                                               \
	"j.id, q.name, j.state, j.reason, j.priority, j.run_at, "              \
	"j.created_at, j.started_at, j.finished_at, j.attempt, "               \
	"j.recoveries, j.max_attempts, j.timeout, j.kill_grace, j.b_base, "    \
	"j.b_factor, j.b_max, j.b_jitter, j.uid, j.name, j.argv, j.shell, "    \
	"j.cwd, j.unique_key, j.output, j.depends_on, j.exit_code, j.signal, " \
	"j.error, j.pid, j.duration, j.truncated, j.ru_user, j.ru_sys, "       \
	"j.ru_maxrss, j.env_id "
enum job_col {
	JC_ID, JC_QUEUE, JC_STATE, JC_REASON, JC_PRIORITY, JC_RUN_AT,
	JC_CREATED, JC_STARTED, JC_FINISHED, JC_ATTEMPT, JC_RECOVERIES,
	JC_MAX_ATTEMPTS, JC_TIMEOUT, JC_KILL_GRACE, JC_B_BASE, JC_B_FACTOR,
	JC_B_MAX, JC_B_JITTER, JC_UID, JC_NAME, JC_ARGV, JC_SHELL, JC_CWD,
	JC_UNIQUE, JC_OUTPUT, JC_DEPENDS, JC_EXIT, JC_SIGNAL, JC_ERROR,
	JC_PID, JC_DURATION, JC_TRUNCATED, JC_RU_USER, JC_RU_SYS,
	JC_RU_MAXRSS, JC_ENV_ID,
};

enum stmt_id {
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
	S_DEP_SUCCEEDED,
	S_DEP_READY,
	S_DEP_DEPENDENTS,
	S_JOB_DEP_STATE,
	S_JOB_RECOVER,
	S_JOB_PRUNE_SELECT,
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
	S_PROD_PAUSE,
	S_PROD_DELETE,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT sp",
	[S_RELEASE] = "RELEASE sp",
	[S_ROLLBACK_TO] = "ROLLBACK TO sp",
	[S_QUEUE_ALL] = "SELECT id, name, concurrency, rate_limit, "
			"rate_period, rate_burst, capacity, paused, timeout, "
			"kill_grace, max_attempts, b_base, b_factor, b_max, "
			"b_jitter FROM queues ORDER BY id",
	[S_QUEUE_INSERT] = "INSERT INTO queues (name, concurrency, "
			   "rate_limit, rate_period, rate_burst, capacity, "
			   "paused, timeout, kill_grace, max_attempts, b_base, "
			   "b_factor, b_max, b_jitter) VALUES "
			   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
			   "?12, ?13, ?14)",
	[S_QUEUE_UPDATE] = "UPDATE queues SET concurrency = ?2, "
			   "rate_limit = ?3, rate_period = ?4, "
			   "rate_burst = ?5, capacity = ?6, timeout = ?8, "
			   "kill_grace = ?9, max_attempts = ?10, b_base = ?11, "
			   "b_factor = ?12, b_max = ?13, b_jitter = ?14 "
			   "WHERE id = ?1",
	[S_QUEUE_PAUSE] = "UPDATE queues SET paused = ?2 WHERE id = ?1",
	[S_QUEUE_DELETE] = "DELETE FROM queues WHERE id = ?1",
	[S_COUNTS] = "SELECT qid, state, count(*) FROM jobs "
		     "GROUP BY qid, state",
	[S_ENV_FIND] = "SELECT id, body FROM envs WHERE hash = ?1",
	[S_ENV_INSERT] = "INSERT INTO envs (hash, body) VALUES (?1, ?2)",
	[S_ENV_GET] = "SELECT body FROM envs WHERE id = ?1",
	[S_JOB_INSERT] = "INSERT INTO jobs (qid, state, reason, priority, "
			 "run_at, created_at, max_attempts, timeout, "
			 "kill_grace, b_base, b_factor, b_max, b_jitter, uid, "
			 "name, argv, shell, cwd, env_id, unique_key, output, "
			 "deps_left, depends_on, finished_at) VALUES (?1, ?2, "
			 "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
			 "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, "
			 "?24)",
	[S_DEP_INSERT] = "INSERT OR IGNORE INTO deps (dep_id, job_id) "
			 "VALUES (?1, ?2)",
	[S_JOB_UNIQUE] = "SELECT id FROM jobs WHERE uid = ?2 AND "
			 "unique_key = ?1 AND state < 4",
	[S_JOB_BRIEF] = "SELECT id, qid, state, reason, uid, attempt, "
			"max_attempts, run_at, truncated FROM jobs "
			"WHERE id = ?1",
	[S_JOB_CLAIM] = "UPDATE jobs SET state = 3, reason = 0, "
			"attempt = attempt + 1, started_at = ?2, pid = NULL, "
			"exit_code = NULL, "
			"signal = NULL, error = NULL, truncated = 0 "
			"WHERE id = (SELECT id FROM jobs WHERE qid = ?1 AND "
			"state = 2 ORDER BY priority DESC, run_at, id LIMIT 1) "
			"RETURNING id, qid, attempt, max_attempts, recoveries, "
			"uid, argv, shell, cwd, env_id, timeout, kill_grace, "
			"b_base, b_factor, b_max, b_jitter, output",
	[S_JOB_SET_PID] = "UPDATE jobs SET pid = ?2 WHERE id = ?1",
	[S_JOB_END] = "UPDATE jobs SET state = ?2, reason = ?3, "
		      "exit_code = ?4, signal = ?5, error = ?6, "
		      "duration = coalesce(?7, duration), truncated = ?8, "
		      "ru_user = ?9, ru_sys = ?10, ru_maxrss = ?11, "
		      "finished_at = ?12, run_at = coalesce(?13, run_at), "
		      "attempt = attempt + ?14, pid = NULL WHERE id = ?1 "
		      "AND state IN (3, 6)",
	[S_JOB_SET_STATE] = "UPDATE jobs SET state = ?2, reason = ?3, "
			    "finished_at = ?4, pid = NULL WHERE id = ?1",
	[S_JOB_RETRY] = "UPDATE jobs SET state = 2, reason = 0, "
			"attempt = 0, recoveries = 0, run_at = ?2, "
			"started_at = NULL, finished_at = NULL, "
			"exit_code = NULL, signal = NULL, error = NULL, "
			"pid = NULL, duration = NULL, truncated = 0, "
			"ru_user = NULL, ru_sys = NULL, ru_maxrss = NULL, "
			"deps_left = 0 WHERE id = ?1",
	[S_JOB_PROMOTE] = "UPDATE jobs SET state = 2 WHERE state = 1 AND "
			  "run_at <= ?1 RETURNING id, qid",
	[S_JOB_NEXT_DUE] = "SELECT min(run_at) FROM jobs WHERE state = 1",
	[S_DEP_SUCCEEDED] = "UPDATE jobs SET deps_left = deps_left - 1 "
			    "WHERE state = 0 AND id IN (SELECT job_id FROM "
			    "deps WHERE dep_id = ?1)",
	[S_DEP_READY] = "UPDATE jobs SET state = CASE WHEN run_at > ?2 "
			"THEN 1 ELSE 2 END WHERE state = 0 AND deps_left <= 0 "
			"AND id IN (SELECT job_id FROM deps WHERE dep_id = ?1) "
			"RETURNING id, qid, state",
	[S_DEP_DEPENDENTS] = "SELECT d.job_id, j.qid, j.state FROM deps d "
			     "JOIN jobs j ON j.id = d.job_id "
			     "WHERE d.dep_id = ?1 AND j.state < 3",
	[S_JOB_DEP_STATE] = "SELECT state, uid FROM jobs WHERE id = ?1",
	[S_JOB_RECOVER] = "UPDATE jobs SET "
			  "state = CASE WHEN recoveries >= ?2 THEN 5 ELSE 2 "
			  "END, reason = CASE WHEN recoveries >= ?2 THEN 7 "
			  "ELSE 8 END, recoveries = recoveries + 1, "
			  "attempt = max(attempt - 1, 0), pid = NULL, "
			  "finished_at = CASE WHEN recoveries >= ?2 THEN ?1 "
			  "ELSE NULL END WHERE state = 3 "
			  "RETURNING id, qid, state",
	[S_JOB_PRUNE_SELECT] = "SELECT id, qid, state, attempt, depends_on "
			       "FROM jobs "
			       "WHERE state >= 4 AND finished_at < ?1 "
			       "AND (?2 < 0 OR qid = ?2) LIMIT ?3",
	[S_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	/* By the whole key: deps has no index on job_id alone. */
	[S_DEP_DELETE] = "DELETE FROM deps WHERE dep_id = ?2 AND job_id = ?1",
	[S_JOB_GET] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
		      "ON q.id = j.qid WHERE j.id = ?1",
	[S_JOB_LIST] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
		       "ON q.id = j.qid WHERE j.id > ?1 "
		       "AND (?6 = 0 OR j.id < ?6) "
		       "AND (?2 < 0 OR j.qid = ?2) "
		       "AND (?3 = 0 OR (?3 >> j.state) & 1) "
		       "AND (?4 < 0 OR j.uid = ?4) "
		       "AND (?7 = 0 OR j.id <= ?7) ORDER BY j.id LIMIT ?5",
	/* The same, newest first: the page a person wants to see. */
	[S_JOB_LIST_DESC] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
			    "ON q.id = j.qid WHERE j.id > ?1 "
			    "AND (?6 = 0 OR j.id < ?6) "
			    "AND (?2 < 0 OR j.qid = ?2) "
			    "AND (?3 = 0 OR (?3 >> j.state) & 1) "
			    "AND (?4 < 0 OR j.uid = ?4) ORDER BY j.id DESC "
			    "LIMIT ?5",
	/* The running jobs alone, the question a monitor asks every second:
	 * the state is written out so the partial index jobs_running serves
	 * it, in id order, however big the backlog. */
	[S_JOB_LIST_RUNNING] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
			       "ON q.id = j.qid WHERE j.state = 3 "
			       "AND j.id > ?1 AND (?6 = 0 OR j.id < ?6) "
			       "AND (?2 < 0 OR j.qid = ?2) "
			       "AND (?4 < 0 OR j.uid = ?4) "
			       "AND (?7 = 0 OR j.id <= ?7) ORDER BY j.id "
			       "LIMIT ?5",
	[S_JOB_LIST_RUNNING_DESC] = "SELECT " JOB_COLS "FROM jobs j "
				    "JOIN queues q ON q.id = j.qid "
				    "WHERE j.state = 3 AND j.id > ?1 "
				    "AND (?6 = 0 OR j.id < ?6) "
				    "AND (?2 < 0 OR j.qid = ?2) "
				    "AND (?4 < 0 OR j.uid = ?4) "
				    "ORDER BY j.id DESC LIMIT ?5",
	[S_JOB_MAX_ID] = "SELECT max(id) FROM jobs",
	[S_JOB_RUNNING_PIDS] = "SELECT id, pid FROM jobs WHERE state = 3 "
			       "AND pid IS NOT NULL",
	[S_PROD_ALL] = "SELECT name, spec, uid, paused, state, produced, "
		       "skipped, errors, last_run FROM producers ORDER BY name",
	[S_PROD_PUT] = "INSERT INTO producers (name, spec, uid, paused) "
		       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE "
		       "SET spec = excluded.spec, uid = excluded.uid, "
		       "state = 0",
	[S_PROD_COUNTERS] = "UPDATE producers SET state = ?2, produced = ?3, "
			    "skipped = ?4, errors = ?5, last_run = ?6 "
			    "WHERE name = ?1",
	[S_PROD_PAUSE] = "UPDATE producers SET paused = ?2 WHERE name = ?1",
	[S_PROD_DELETE] = "DELETE FROM producers WHERE name = ?1",
};

static sqlite3 *db;
static sqlite3_stmt *stmts[S_COUNT];
static char *db_path;
static bool in_txn;		/* the group transaction is open */
static uint64_t txn_seq;	/* number of the open (or last) transaction */
static uint64_t done_seq;	/* last transaction committed or failed */
static uint64_t failed_seq;	/* last transaction whose commit failed */
static uint64_t synced_seq;	/* last transaction known durable */
static struct waitq commit_wq;
static int nwaiters;		/* coroutines in store_sync*() */
static int nreporters;		/* of those, in store_sync() */
static bool commit_asap;	/* store_request_commit() was called */
static bool durable_asap;	/* ... with durable = true */
static bool full_sync;		/* synchronous = full was configured */
static bool unsynced;		/* a commit not yet fsynced */
static int wal_fd = -1;		/* the WAL file, for fdatasync */
static bool closing;		/* store_close(): commit now */
static double txn_opened;	/* loop_now() when the transaction began */
static ev_timer commit_timer;	/* wakes the loop when a delay is due */
static int sp_depth;
static bool txn_doomed;		/* SQLite rolled the open transaction back */
static bool busy_fail_fast;	/* a lock taken now must not be waited for */
static char fail_msg[DIAG_MSG_MAX];	/* why the last commit failed */
/* The last transactions whose commit failed, newest at failed_ring[(nfailed
 * - 1) % FAILED_RING]: a writer syncing late still learns its write was
 * lost. */
#define FAILED_RING 32
static uint64_t failed_ring[FAILED_RING];
static unsigned nfailed;
#define MAX_TXN_HOOKS 4
static struct {
	store_txn_fn fn;
	void *arg;
} txn_hooks[MAX_TXN_HOOKS];
static int ntxn_hooks;
static int holds;		/* store_hold() not yet undone */

/* Checkpoints run in a thread of their own, on a connection of their own:
 * after a big commit (a submit of 100,000 jobs) copying the WAL into the
 * database takes tens of milliseconds, which the loop must not wait for.
 * The loop's connection only asks for one (its WAL hook), once the WAL
 * holds CKPT_PAGES.  The thread touches nothing but its connection and
 * these fields, under ckpt.mu. */
#define CKPT_PAGES 1000
static struct {
	pthread_t thread;
	bool running;		/* the thread was started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted;		/* a checkpoint is asked for */
	bool stop;		/* the thread is to leave */
	int err;		/* last SQLite error of a checkpoint, 0: none */
} ckpt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The last few environments stored, so a batch from one shell looks its
 * environment up once: a hit costs a json_equal, not an encoding. */
#define ENV_CACHE 8
static struct {
	json_t *env;		/* owned copy */
	int64_t id;
} env_cache[ENV_CACHE];
static int env_cache_next;

static void
env_cache_clear(void)
{
	for (int i = 0; i < ENV_CACHE; i++) {
		json_decref(env_cache[i].env);
		env_cache[i].env = NULL;
		env_cache[i].id = 0;
	}
}

static void txn_over(bool committed);

/* SQLite rolls a transaction back by itself after some errors (a full
 * disk, an I/O error).  The group transaction is then doomed: later writes
 * fail until the flush ends it as failed, so no write runs outside it and
 * every writer of it learns of the loss. */
static void
check_txn_lost(void)
{
	if (in_txn && !txn_doomed && sqlite3_get_autocommit(db)) {
		snprintf(fail_msg, sizeof(fail_msg),
			 "store: commit failed: %s", sqlite3_errmsg(db));
		txn_doomed = true;
		commit_asap = true;
	}
}

static int
db_error(const char *what)
{
	int rc = diag_set(E_DB, "store: %s: %s", what, sqlite3_errmsg(db));
	check_txn_lost();
	return rc;
}

static sqlite3_stmt *
st(enum stmt_id id)
{
	sqlite3_stmt *s = stmts[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Runs a statement that returns no rows. */
static int
st_exec(sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		int r = db_error(what);
		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
	return 0;
}

static int
exec_sql(const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		diag_set(E_DB, "store: %s", err ? err : "error");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* Joins the group transaction, opening it when none is open.  BEGIN
 * IMMEDIATE takes the write lock at once: another process holding it
 * makes the write fail now (SQLite is not asked to wait), instead of a
 * write halfway through a transaction. */
static int
write_begin(void)
{
	uint64_t *mark = coro_local();
	if (in_txn) {
		if (txn_doomed)
			return diag_set(E_DB, "%s", fail_msg);
		if (*mark == 0)
			*mark = txn_seq;
		return 0;
	}
	busy_fail_fast = true;
	int rc = sqlite3_step(st(S_BEGIN));
	busy_fail_fast = false;
	sqlite3_reset(stmts[S_BEGIN]);
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			return diag_set(E_DB, "store: the database is locked "
					      "by another process");
		return diag_set(E_DB, "store: begin: %s", sqlite3_errmsg(db));
	}
	in_txn = true;
	txn_doomed = false;
	txn_seq++;
	txn_opened = loop_ev() ? loop_now() : 0;
	if (*mark == 0)
		*mark = txn_seq;
	return 0;
}

/* A short wait for a lock, for reads (a checkpoint or a recovery of the
 * WAL by another process): about 2 ms at most, so the loop never stalls
 * on it.  The group transaction's own BEGIN does not wait at all. */
#define BUSY_TRIES 10
#define BUSY_PAUSE_US 200

static int
busy_cb(void *arg, int n)
{
	(void)arg;
	if (busy_fail_fast || n >= BUSY_TRIES)
		return 0;
	usleep(BUSY_PAUSE_US);
	return 1;
}

static void
bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Binds t without copying it: t must live until the statement's next
 * reset. */
static void
bind_static_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static char *
col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static json_t *
col_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (t == NULL)
		return NULL;
	return json_loads(t, JSON_DECODE_ANY, NULL);
}

static int
migrate(void)
{
	sqlite3_stmt *s;
	int version = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
	    SQLITE_OK)
		return db_error("user_version");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > latest)
		return diag_set(E_DB,
				"store: database schema %d is newer than "
				"this jobd (%d)",
				version, latest);
	if (version == latest)
		return 0;
	if (exec_sql("BEGIN IMMEDIATE") != 0)
		return -1;
	for (int v = version; v < latest; v++) {
		if (exec_sql(migrations[v]) != 0)
			goto fail;
		log_info("store: migrated schema to version %d", v + 1);
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest);
	if (exec_sql(sql) != 0 || exec_sql("COMMIT") != 0)
		goto fail;
	return 0;
fail:
	exec_sql("ROLLBACK");
	return -1;
}

static void *
ckpt_main(void *arg)
{
	sqlite3 *cdb = arg;
	pthread_mutex_lock(&ckpt.mu);
	for (;;) {
		while (!ckpt.wanted && !ckpt.stop)
			pthread_cond_wait(&ckpt.cv, &ckpt.mu);
		if (ckpt.stop)
			break;
		ckpt.wanted = false;
		pthread_mutex_unlock(&ckpt.mu);
		/* Passive: it never blocks the writer, and the writer
		 * starts the WAL over once all of it is copied. */
		int rc = sqlite3_wal_checkpoint_v2(cdb, NULL,
						   SQLITE_CHECKPOINT_PASSIVE,
						   NULL, NULL);
		pthread_mutex_lock(&ckpt.mu);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			ckpt.err = rc;
	}
	pthread_mutex_unlock(&ckpt.mu);
	sqlite3_close(cdb);
	return NULL;
}

/* The loop's connection committed: pages frames are in the WAL. */
static int
wal_hook(void *arg, sqlite3 *d, const char *name, int pages)
{
	(void)arg;
	(void)d;
	(void)name;
	if (pages >= CKPT_PAGES && ckpt.running) {
		pthread_mutex_lock(&ckpt.mu);
		ckpt.wanted = true;
		pthread_cond_signal(&ckpt.cv);
		pthread_mutex_unlock(&ckpt.mu);
	}
	return SQLITE_OK;
}

/* Starts the checkpoint thread; without it (it could not start), SQLite
 * checkpoints in the loop as it would by itself. */
static void
ckpt_start(const char *path)
{
	sqlite3 *cdb = NULL;
	if (sqlite3_open_v2(path, &cdb,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_exec(cdb, "PRAGMA synchronous = NORMAL", NULL, NULL,
			 NULL) != SQLITE_OK) {
		log_warnx("store: checkpoints run in the loop: %s",
			  cdb ? sqlite3_errmsg(cdb) : "out of memory");
		sqlite3_close(cdb);
		return;
	}
	ckpt.stop = ckpt.wanted = false;
	ckpt.err = 0;
	/* Signals are the loop's: the thread is born with all blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&ckpt.thread, NULL, ckpt_main, cdb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("store: checkpoints run in the loop: no thread");
		sqlite3_close(cdb);
		return;
	}
	ckpt.running = true;
	sqlite3_wal_hook(db, wal_hook, NULL);
}

static void
ckpt_stop(void)
{
	if (!ckpt.running)
		return;
	pthread_mutex_lock(&ckpt.mu);
	ckpt.stop = true;
	pthread_cond_signal(&ckpt.cv);
	pthread_mutex_unlock(&ckpt.mu);
	pthread_join(ckpt.thread, NULL);
	ckpt.running = false;
	sqlite3_wal_autocheckpoint(db, CKPT_PAGES);
}

/* Logs what the checkpoint thread could not do (it does not log). */
static void
ckpt_report(void)
{
	if (!ckpt.running)
		return;
	pthread_mutex_lock(&ckpt.mu);
	int err = ckpt.err;
	ckpt.err = 0;
	pthread_mutex_unlock(&ckpt.mu);
	if (err != 0)
		log_warnx("store: checkpoint: %s", sqlite3_errstr(err));
}

static void
commit_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	/* Nothing to do: waking the loop runs the flush hooks. */
}

int
store_open(const char *path, bool sync_full)
{
	/* Two threads use SQLite, each with its own connection (the loop,
	 * and checkpoints): no mutex per connection, no memory statistics.
	 * These fail harmlessly once SQLite is initialised (a second
	 * open). */
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		diag_set(E_DB, "store: cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	/* WAL lets readers (the sqlite3 shell, backups) work beside jobd.
	 * SQLite itself runs with synchronous NORMAL: a commit is written
	 * to the WAL, which survives a crash of jobd (the page cache keeps
	 * it), but not power loss.  With `synchronous = full` configured,
	 * the store fsyncs the WAL itself before anything is reported —
	 * what SQLite's FULL does at every commit — so commits nobody
	 * reports (a claim before its spawn, a job's end) cost no fsync
	 * until the next report.  The busy timeout is a couple of
	 * milliseconds (busy_cb): jobd is the only writer, a long wait
	 * would stall the loop, and a write refused because another
	 * process holds the lock is retried by its writer. */
	full_sync = sync_full;
	unsynced = false;
	if (exec_sql("PRAGMA journal_mode = WAL") != 0 ||
	    exec_sql("PRAGMA synchronous = NORMAL") != 0 ||
	    exec_sql("PRAGMA foreign_keys = ON") != 0 ||
	    sqlite3_busy_handler(db, busy_cb, NULL) != SQLITE_OK ||
	    exec_sql("PRAGMA cache_size = -8000") != 0 || migrate() != 0) {
		diag_prefix(path);
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &stmts[i],
				       NULL) != SQLITE_OK) {
			db_error(stmt_sql[i]);
			store_close();
			return -1;
		}
	}
	db_path = xstrdup(path);
	in_txn = false;
	ev_timer_init(&commit_timer, commit_timer_cb, 0, 0);
	ckpt_start(path);
	return 0;
}

void
store_close(void)
{
	if (db == NULL)
		return;
	closing = true;
	if (in_txn)
		store_flush(NULL);
	closing = false;
	ckpt_stop();
	if (loop_ev() && ev_is_active(&commit_timer))
		ev_timer_stop(loop_ev(), &commit_timer);
	for (int i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(stmts[i]);
		stmts[i] = NULL;
	}
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
				  NULL);
	if (sqlite3_close(db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(db));
	db = NULL;
	free(db_path);
	db_path = NULL;
	if (wal_fd >= 0)
		close(wal_fd);
	wal_fd = -1;
	env_cache_clear();
	ntxn_hooks = 0;
}

/* Makes every commit so far survive power loss (with synchronous =
 * full; a no-op with normal). */
static int
make_durable(void)
{
	if (!full_sync || !unsynced) {
		unsynced = false;
		synced_seq = done_seq;
		return 0;
	}
	if (wal_fd < 0) {
		char *wal = xasprintf("%s-wal", db_path);
		wal_fd = open(wal, O_RDWR | O_CLOEXEC);
		free(wal);
		if (wal_fd < 0)
			return diag_set(E_DB, "store: cannot open the WAL: %s",
					strerror(errno));
	}
	while (fdatasync(wal_fd) != 0) {
		if (errno != EINTR)
			return diag_set(E_DB, "store: fdatasync: %s",
					strerror(errno));
	}
	unsynced = false;
	synced_seq = done_seq;
	return 0;
}

static void
note_failed(uint64_t seq)
{
	failed_ring[nfailed % FAILED_RING] = seq;
	nfailed++;
	failed_seq = seq;
}

/* True when a transaction numbered from first to last failed. */
static bool
failed_between(uint64_t first, uint64_t last)
{
	unsigned n = nfailed < FAILED_RING ? nfailed : FAILED_RING;
	for (unsigned i = 0; i < n; i++) {
		uint64_t f = failed_ring[(nfailed - 1 - i) % FAILED_RING];
		if (f >= first && f <= last)
			return true;
	}
	return false;
}

/* Ends the group transaction, committed or rolled back: tells the hooks
 * (so in-memory state follows what committed), then wakes whoever waits
 * for it. */
static void
txn_over(bool committed)
{
	in_txn = false;
	txn_doomed = false;
	done_seq = txn_seq;
	sp_depth = 0;
	if (committed) {
		unsynced = true;
	} else {
		note_failed(txn_seq);
		env_cache_clear();
	}
	for (int i = 0; i < ntxn_hooks; i++)
		txn_hooks[i].fn(committed, txn_hooks[i].arg);
	waitq_notify_all(&commit_wq);
}

/* The commit failed (or SQLite rolled back already): rolls back whatever
 * is left and tells everyone.  fail_msg says why. */
static void
txn_fail(void)
{
	log_error("%s", fail_msg);
	if (!sqlite3_get_autocommit(db)) {
		sqlite3_step(st(S_ROLLBACK));
		sqlite3_reset(stmts[S_ROLLBACK]);
	}
	txn_over(false);
}

/* Commits the group transaction now; -1 with E_DB naming the cause when
 * that failed and everything in it was rolled back. */
static int
txn_commit(void)
{
	const char *fault = NULL;
	struct stat sb;
	if (store_fail_next_commit)
		fault = "database or disk is full (injected)";
	else if (store_fault_file != NULL && stat(store_fault_file, &sb) == 0)
		fault = "database or disk is full (injected)";
	store_fail_next_commit = false;
	if (txn_doomed) {
		/* fail_msg was set when SQLite rolled back. */
	} else if (fault != NULL) {
		snprintf(fail_msg, sizeof(fail_msg),
			 "store: commit failed: %s", fault);
	} else if (sqlite3_step(st(S_COMMIT)) != SQLITE_DONE) {
		snprintf(fail_msg, sizeof(fail_msg),
			 "store: commit failed: %s", sqlite3_errmsg(db));
		sqlite3_reset(stmts[S_COMMIT]);
	} else {
		sqlite3_reset(stmts[S_COMMIT]);
		txn_over(true);
		ckpt_report();
		return 0;
	}
	txn_fail();
	return diag_set(E_DB, "%s", fail_msg);
}

/* A write nobody waits for yet (a job's end, a claim) may stay open this
 * long, so that one fsync covers the changes of many loop iterations.
 * Whoever reports a change waits in store_sync(), which commits at once. */
#define COMMIT_DELAY 0.005

bool
store_flush(void *arg)
{
	(void)arg;
	bool did = false;
	if (in_txn && holds > 0) {
		if (!closing)
			return false;	/* store_unhold() comes back here */
		/* Closing in the middle of a held change: it must not
		 * commit half written. */
		log_warnx("store: closing during a held change; rolling back");
		store_abort();
		did = true;
	}
	if (in_txn) {
		if (nwaiters == 0 && !commit_asap && !closing &&
		    loop_ev() != NULL && loop_now() < txn_opened + COMMIT_DELAY) {
			if (!ev_is_active(&commit_timer)) {
				ev_timer_set(&commit_timer,
					     txn_opened + COMMIT_DELAY -
						     loop_now(),
					     0);
				ev_timer_start(loop_ev(), &commit_timer);
			}
			return false;
		}
		if (loop_ev() != NULL && ev_is_active(&commit_timer))
			ev_timer_stop(loop_ev(), &commit_timer);
		commit_asap = false;
		txn_commit();
		did = true;
		/* Claims waiting for a crash-safe commit start their
		 * processes now; the fsync for the reporters comes on the
		 * next pass, so a job's dispatch does not wait for it. */
		if (nwaiters > nreporters)
			return true;
	}
	if (unsynced && (nreporters > 0 || durable_asap || closing)) {
		durable_asap = false;
		if (make_durable() != 0) {
			snprintf(fail_msg, sizeof(fail_msg), "%s", diag_msg());
			log_error("%s", fail_msg);
			note_failed(done_seq);
		}
		waitq_notify_all(&commit_wq);
		did = true;
	}
	return did;
}

int
store_commit_now(void)
{
	if (!in_txn)
		return 0;
	if (loop_ev() != NULL && ev_is_active(&commit_timer))
		ev_timer_stop(loop_ev(), &commit_timer);
	commit_asap = false;
	if (txn_commit() != 0)
		return -1;
	if (make_durable() != 0) {
		note_failed(done_seq);
		return -1;
	}
	return 0;
}

void
store_abort(void)
{
	if (!in_txn)
		return;
	if (!txn_doomed)
		snprintf(fail_msg, sizeof(fail_msg), "store: rolled back");
	if (!sqlite3_get_autocommit(db)) {
		sqlite3_step(st(S_ROLLBACK));
		sqlite3_reset(stmts[S_ROLLBACK]);
	}
	txn_over(false);
}

/* Waits until every write made so far is committed (and with durable,
 * fsynced); -1 naming the cause when a transaction holding a write of this
 * coroutine since its last sync failed.  A coroutine that wrote nothing
 * (a ping, a read) is not failed for another's loss. */
static int
sync_wait(bool durable)
{
	uint64_t *mark = coro_local();
	uint64_t first = *mark;
	uint64_t mine = in_txn ? txn_seq : done_seq;
	if (!in_txn && durable && unsynced) {
		if (make_durable() != 0)
			return -1;
	} else if (in_txn) {
		int rc = 0;
		nwaiters++;
		nreporters += durable;
		while (done_seq < mine ||
		       (durable && synced_seq < mine &&
			!failed_between(mine, mine))) {
			if (waitq_wait(&commit_wq, -1) != 0) {
				rc = -1;
				break;
			}
		}
		nwaiters--;
		nreporters -= durable;
		if (rc != 0)
			return -1;
	}
	*mark = 0;
	if (first != 0 && failed_between(first, mine))
		return diag_set(E_DB, "%s", fail_msg);
	return 0;
}

int
store_sync(void)
{
	return sync_wait(true);
}

int
store_sync_crash_safe(void)
{
	return sync_wait(false);
}

void
store_request_commit(bool durable)
{
	commit_asap = true;
	if (durable)
		durable_asap = true;
}

int
store_make_durable(void)
{
	return make_durable();
}

bool
store_txn_open(void)
{
	return in_txn;
}

void
store_add_txn_hook(store_txn_fn fn, void *arg)
{
	for (int i = 0; i < ntxn_hooks; i++)
		if (txn_hooks[i].fn == fn && txn_hooks[i].arg == arg)
			return;
	if (ntxn_hooks == MAX_TXN_HOOKS)
		panic("store: too many transaction hooks");
	txn_hooks[ntxn_hooks].fn = fn;
	txn_hooks[ntxn_hooks].arg = arg;
	ntxn_hooks++;
}

int
store_savepoint(void)
{
	if (write_begin() != 0)
		return -1;
	if (st_exec(st(S_SAVEPOINT), "savepoint") != 0)
		return -1;
	sp_depth++;
	return 0;
}

int
store_release(void)
{
	/* A transaction that failed meanwhile took the savepoint along. */
	if (sp_depth <= 0 || !in_txn || txn_doomed)
		return diag_set(E_DB, "%s",
				txn_doomed ? fail_msg : "store: savepoint lost");
	sp_depth--;
	return st_exec(st(S_RELEASE), "release");
}

void
store_rollback(void)
{
	env_cache_clear();
	if (sp_depth <= 0 || !in_txn || txn_doomed)
		return;
	st_exec(st(S_ROLLBACK_TO), "rollback to");
	st_exec(st(S_RELEASE), "release");
	sp_depth--;
}

int
store_hold(void)
{
	if (write_begin() != 0)
		return -1;
	holds++;
	return 0;
}

void
store_unhold(void)
{
	assert(holds > 0);
	holds--;
}

bool
store_held(void)
{
	return holds > 0;
}

/* A held change fsyncs what it spilled every this many bytes. */
#define SPILL_SYNC_BYTES (4 * 1024 * 1024)

void
store_spill(void)
{
	static off_t synced_size;
	if (!in_txn)
		return;
	sqlite3_db_cacheflush(db);
	if (!full_sync)
		return;
	if (wal_fd < 0) {
		char *wal = xasprintf("%s-wal", db_path);
		wal_fd = open(wal, O_RDWR | O_CLOEXEC);
		free(wal);
	}
	struct stat sb;
	if (wal_fd < 0 || fstat(wal_fd, &sb) != 0)
		return;
	/* A WAL started over is smaller than the last mark. */
	if (sb.st_size < synced_size)
		synced_size = 0;
	if (sb.st_size - synced_size < SPILL_SYNC_BYTES)
		return;
	/* Frames of the open transaction: their sync only spares the
	 * commit's. */
	while (fdatasync(wal_fd) != 0 && errno == EINTR)
		;
	synced_size = sb.st_size;
}

void
store_sizes(int64_t *db_bytes, int64_t *wal_bytes)
{
	struct stat sb;
	*db_bytes = *wal_bytes = 0;
	if (db_path == NULL)
		return;
	if (stat(db_path, &sb) == 0)
		*db_bytes = sb.st_size;
	char *wal = xasprintf("%s-wal", db_path);
	if (stat(wal, &sb) == 0)
		*wal_bytes = sb.st_size;
	free(wal);
}

/* ---- queues ---- */

int
store_queue_each(store_queue_fn fn, void *arg)
{
	sqlite3_stmt *s = st(S_QUEUE_ALL);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_queue q;
		memset(&q, 0, sizeof(q));
		q.id = sqlite3_column_int64(s, 0);
		const char *name = (const char *)sqlite3_column_text(s, 1);
		queue_conf_init(&q.conf, name ? name : "");
		q.conf.concurrency = sqlite3_column_int(s, 2);
		q.conf.rate_limit = sqlite3_column_double(s, 3);
		q.conf.rate_period = sqlite3_column_double(s, 4);
		q.conf.rate_burst = sqlite3_column_double(s, 5);
		q.conf.capacity = sqlite3_column_int64(s, 6);
		q.paused = sqlite3_column_int(s, 7) != 0;
		q.conf.timeout = sqlite3_column_double(s, 8);
		q.conf.kill_grace = sqlite3_column_double(s, 9);
		q.conf.max_attempts = sqlite3_column_int(s, 10);
		q.conf.backoff.base = sqlite3_column_double(s, 11);
		q.conf.backoff.factor = sqlite3_column_double(s, 12);
		q.conf.backoff.max = sqlite3_column_double(s, 13);
		q.conf.backoff.jitter = sqlite3_column_double(s, 14);
		if (fn(&q, arg) != 0) {
			sqlite3_reset(s);
			return -1;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("queue list");
	return 0;
}

static void
bind_queue(sqlite3_stmt *s, const struct queue_conf *qc)
{
	sqlite3_bind_text(s, 1, qc->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, qc->concurrency);
	sqlite3_bind_double(s, 3, qc->rate_limit);
	sqlite3_bind_double(s, 4, qc->rate_period);
	sqlite3_bind_double(s, 5, qc->rate_burst);
	sqlite3_bind_int64(s, 6, qc->capacity);
	sqlite3_bind_double(s, 8, qc->timeout);
	sqlite3_bind_double(s, 9, qc->kill_grace);
	sqlite3_bind_int(s, 10, qc->max_attempts);
	sqlite3_bind_double(s, 11, qc->backoff.base);
	sqlite3_bind_double(s, 12, qc->backoff.factor);
	sqlite3_bind_double(s, 13, qc->backoff.max);
	sqlite3_bind_double(s, 14, qc->backoff.jitter);
}

int
store_queue_insert(const struct queue_conf *qc, bool paused, int64_t *id)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_QUEUE_INSERT);
	bind_queue(s, qc);
	sqlite3_bind_int(s, 7, paused);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return diag_set(E_CONFLICT, "queue %s exists", qc->name);
	if (rc != SQLITE_DONE)
		return db_error("queue insert");
	*id = sqlite3_last_insert_rowid(db);
	return 0;
}

int
store_queue_update(int64_t id, const struct queue_conf *qc)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_QUEUE_UPDATE);
	bind_queue(s, qc);
	sqlite3_bind_int64(s, 1, id);
	return st_exec(s, "queue update");
}

int
store_queue_set_paused(int64_t id, bool paused)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_QUEUE_PAUSE);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, paused);
	return st_exec(s, "queue pause");
}

int
store_queue_delete(int64_t id)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_QUEUE_DELETE);
	sqlite3_bind_int64(s, 1, id);
	return st_exec(s, "queue delete");
}

int
store_count_each(store_count_fn fn, void *arg)
{
	sqlite3_stmt *s = st(S_COUNTS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
		   sqlite3_column_int64(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("counts");
	return 0;
}

/* ---- environments ---- */

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Id of the stored environment with this body, storing it when new. */
static int
env_id_for(const json_t *env, int64_t *id)
{
	for (int i = 0; i < ENV_CACHE; i++) {
		if (env_cache[i].env != NULL &&
		    json_equal(env_cache[i].env, env)) {
			*id = env_cache[i].id;
			return 0;
		}
	}
	char *body = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	if (body == NULL)
		return diag_set(E_INTERNAL, "env: cannot encode");
	size_t n = strlen(body);
	uint64_t h = fnv1a(body, n);
	sqlite3_stmt *s = st(S_ENV_FIND);
	sqlite3_bind_int64(s, 1, (int64_t)h);
	int rc;
	*id = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(s, 1);
		if (b && strcmp(b, body) == 0) {
			*id = sqlite3_column_int64(s, 0);
			break;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(body);
		return db_error("env find");
	}
	if (*id == 0) {
		s = st(S_ENV_INSERT);
		sqlite3_bind_int64(s, 1, (int64_t)h);
		sqlite3_bind_text(s, 2, body, (int)n, SQLITE_TRANSIENT);
		if (st_exec(s, "env insert") != 0) {
			free(body);
			return -1;
		}
		*id = sqlite3_last_insert_rowid(db);
	}
	free(body);
	json_decref(env_cache[env_cache_next].env);
	env_cache[env_cache_next].env = json_deep_copy(env);
	env_cache[env_cache_next].id = *id;
	env_cache_next = (env_cache_next + 1) % ENV_CACHE;
	return 0;
}

static json_t *
env_get(int64_t id)
{
	sqlite3_stmt *s = st(S_ENV_GET);
	sqlite3_bind_int64(s, 1, id);
	json_t *env = NULL;
	if (sqlite3_step(s) == SQLITE_ROW)
		env = col_json(s, 0);
	sqlite3_reset(s);
	return env;
}

/* ---- jobs ---- */

int
store_job_insert(const struct store_job_new *j, int64_t *id)
{
	const struct jobspec *sp = j->spec;
	int64_t env_id = 0;
	if (write_begin() != 0)
		return -1;
	if (sp->env != NULL && env_id_for(sp->env, &env_id) != 0)
		return -1;
	/* The hottest statement: every parameter is bound on every use (so
	 * no clearing), and strings are bound without a copy (they outlive
	 * the step, and the statement is reset right after it). */
	sqlite3_stmt *s = stmts[S_JOB_INSERT];
	sqlite3_bind_int64(s, 1, j->qid);
	sqlite3_bind_int(s, 2, j->state);
	sqlite3_bind_int(s, 3, j->reason);
	sqlite3_bind_int(s, 4, sp->priority);
	sqlite3_bind_int64(s, 5, j->run_at);
	sqlite3_bind_int64(s, 6, j->created_at);
	sqlite3_bind_int(s, 7, j->max_attempts);
	sqlite3_bind_double(s, 8, j->timeout);
	sqlite3_bind_double(s, 9, j->kill_grace);
	sqlite3_bind_double(s, 10, j->backoff.base);
	sqlite3_bind_double(s, 11, j->backoff.factor);
	sqlite3_bind_double(s, 12, j->backoff.max);
	sqlite3_bind_double(s, 13, j->backoff.jitter);
	sqlite3_bind_int64(s, 14, (int64_t)j->uid);
	bind_static_or_null(s, 15, sp->name);
	if (sp->argv != NULL)
		sqlite3_bind_text(s, 16, json_dumps(sp->argv, JSON_COMPACT), -1,
				  free);
	else
		sqlite3_bind_null(s, 16);
	bind_static_or_null(s, 17, sp->shell);
	bind_static_or_null(s, 18, sp->cwd);
	if (env_id)
		sqlite3_bind_int64(s, 19, env_id);
	else
		sqlite3_bind_null(s, 19);
	bind_static_or_null(s, 20, sp->unique_key);
	sqlite3_bind_int(s, 21, sp->output);
	sqlite3_bind_int(s, 22, j->deps_left);
	if (sp->ndeps > 0) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < sp->ndeps; i++)
			buf_printf(&b, "%s%lld", i ? "," : "[",
				   (long long)sp->depends_on[i]);
		buf_puts(&b, "]");
		sqlite3_bind_text(s, 23, buf_detach(&b), -1, free);
	} else {
		sqlite3_bind_null(s, 23);
	}
	if (jobd_state_is_terminal(j->state))
		sqlite3_bind_int64(s, 24, j->created_at);
	else
		sqlite3_bind_null(s, 24);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return diag_set(E_CONFLICT, "unique_key %s is in use",
				sp->unique_key ? sp->unique_key : "");
	if (rc != SQLITE_DONE)
		return db_error("job insert");
	*id = sqlite3_last_insert_rowid(db);
	for (size_t i = 0; i < sp->ndeps; i++) {
		s = st(S_DEP_INSERT);
		sqlite3_bind_int64(s, 1, sp->depends_on[i]);
		sqlite3_bind_int64(s, 2, *id);
		if (st_exec(s, "dep insert") != 0)
			return -1;
	}
	return 0;
}

int
store_job_find_unique(const char *key, uid_t uid, int64_t *id)
{
	sqlite3_stmt *s = st(S_JOB_UNIQUE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (int64_t)uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("unique");
	return diag_set(E_NOTFOUND, "no job with unique_key %s", key);
}

int
store_job_brief(int64_t id, struct store_job_brief *b)
{
	sqlite3_stmt *s = st(S_JOB_BRIEF);
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return db_error("job brief");
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	}
	b->id = sqlite3_column_int64(s, 0);
	b->qid = sqlite3_column_int64(s, 1);
	b->state = sqlite3_column_int(s, 2);
	b->reason = sqlite3_column_int(s, 3);
	b->uid = (uid_t)sqlite3_column_int64(s, 4);
	b->attempt = sqlite3_column_int(s, 5);
	b->max_attempts = sqlite3_column_int(s, 6);
	b->run_at = sqlite3_column_int64(s, 7);
	b->output_truncated = sqlite3_column_int(s, 8) != 0;
	sqlite3_reset(s);
	return 0;
}

int
store_job_claim(int64_t qid, int64_t now, struct store_job_run *r)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_CLAIM);
	sqlite3_bind_int64(s, 1, qid);
	sqlite3_bind_int64(s, 2, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return db_error("claim");
		return diag_set(E_NOTFOUND, "no ready job");
	}
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->qid = sqlite3_column_int64(s, 1);
	r->attempt = sqlite3_column_int(s, 2);
	r->max_attempts = sqlite3_column_int(s, 3);
	r->recoveries = sqlite3_column_int(s, 4);
	r->uid = (uid_t)sqlite3_column_int64(s, 5);
	r->argv = col_json(s, 6);
	r->shell = col_strdup(s, 7);
	r->cwd = col_strdup(s, 8);
	int64_t env_id = sqlite3_column_int64(s, 9);
	r->timeout = sqlite3_column_double(s, 10);
	r->kill_grace = sqlite3_column_double(s, 11);
	r->backoff.base = sqlite3_column_double(s, 12);
	r->backoff.factor = sqlite3_column_double(s, 13);
	r->backoff.max = sqlite3_column_double(s, 14);
	r->backoff.jitter = sqlite3_column_double(s, 15);
	r->output = sqlite3_column_int(s, 16);
	r->started_at = now;
	/* Step to the end so the UPDATE completes before the reset. */
	while (sqlite3_step(s) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (env_id)
		r->env = env_get(env_id);
	if (r->cwd == NULL)
		r->cwd = xstrdup("/");
	return 0;
}

void
store_job_run_destroy(struct store_job_run *r)
{
	json_decref(r->argv);
	json_decref(r->env);
	free(r->shell);
	free(r->cwd);
	memset(r, 0, sizeof(*r));
}

int
store_job_set_pid(int64_t id, int pid)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_SET_PID);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, pid);
	return st_exec(s, "set pid");
}

int
store_job_end_attempt(int64_t id, const struct store_job_end *e)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_END);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, e->state);
	sqlite3_bind_int(s, 3, e->reason);
	if (e->exit_code >= 0)
		sqlite3_bind_int(s, 4, e->exit_code);
	if (e->signal > 0)
		sqlite3_bind_int(s, 5, e->signal);
	bind_text_or_null(s, 6, e->error);
	if (e->duration >= 0)
		sqlite3_bind_double(s, 7, e->duration);
	sqlite3_bind_int(s, 8, e->output_truncated);
	sqlite3_bind_double(s, 9, e->ru_user);
	sqlite3_bind_double(s, 10, e->ru_sys);
	sqlite3_bind_int64(s, 11, e->max_rss_kb);
	if (e->finished_at > 0)
		sqlite3_bind_int64(s, 12, e->finished_at);
	if (e->run_at > 0)
		sqlite3_bind_int64(s, 13, e->run_at);
	sqlite3_bind_int(s, 14, e->attempt_delta);
	if (st_exec(s, "job end") != 0)
		return -1;
	/* Only the attempt that runs (or was cancelled while running) can
	 * end: a job retried meanwhile is someone else's now. */
	if (sqlite3_changes(db) == 0)
		return diag_set(E_STATE, "job %lld is not running",
				(long long)id);
	return 0;
}
_Static_assert(JOBD_RUNNING == 3 && JOBD_CANCELLED == 6,
	       "S_JOB_END names running and cancelled by number");
_Static_assert(JOBD_QUEUED == 2, "S_JOB_RETRY names queued by number");

int
store_job_set_state(int64_t id, int state, int reason, int64_t now)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_SET_STATE);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int(s, 3, reason);
	if (jobd_state_is_terminal(state))
		sqlite3_bind_int64(s, 4, now);
	return st_exec(s, "set state");
}

int
store_job_retry(int64_t id, int64_t now)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_RETRY);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	if (sqlite3_step(s) != SQLITE_DONE) {
		/* The partial unique index: another job that is not finished
		 * holds this one's unique_key. */
		if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE) {
			sqlite3_reset(s);
			return diag_set(E_STATE,
					"job %lld: its unique_key is held by "
					"another job that has not finished",
					(long long)id);
		}
		int r = db_error("retry");
		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
	return 0;
}

int
store_job_promote_due(int64_t now, store_job_fn fn, void *arg)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_PROMOTE);
	sqlite3_bind_int64(s, 1, now);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_SCHEDULED, JOBD_QUEUED, arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("promote");
	return 0;
}

int
store_job_next_due(int64_t *run_at)
{
	sqlite3_stmt *s = st(S_JOB_NEXT_DUE);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*run_at = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error("next due");
	return diag_set(E_NOTFOUND, "nothing scheduled");
}

struct dependent {
	int64_t id, qid;
	int state;
	int attempts;
	char *deps;		/* owned: depends_on as stored, or NULL */
};

/* The non-running, non-terminal dependents of id (caller frees). */
static int
dependents_of(int64_t id, struct dependent **out, size_t *n)
{
	sqlite3_stmt *s = st(S_DEP_DEPENDENTS);
	sqlite3_bind_int64(s, 1, id);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[*n].id = sqlite3_column_int64(s, 0);
		(*out)[*n].qid = sqlite3_column_int64(s, 1);
		(*out)[*n].state = sqlite3_column_int(s, 2);
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return db_error("dependents");
	}
	return 0;
}

static int
cancel_dependents(int64_t id, int64_t now, store_job_fn fn, void *arg,
		  int depth)
{
	struct dependent *d;
	size_t n;
	if (depth > 10000)
		return diag_set(E_INTERNAL, "dependency chain too deep");
	if (dependents_of(id, &d, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (store_job_set_state(d[i].id, JOBD_CANCELLED,
					JOBD_REASON_DEPENDENCY_FAILED,
					now) != 0 ||
		    (fn(d[i].id, d[i].qid, d[i].state, JOBD_CANCELLED, arg),
		     cancel_dependents(d[i].id, now, fn, arg, depth + 1)) !=
			    0) {
			free(d);
			return -1;
		}
	}
	free(d);
	return 0;
}

int
store_job_resolve_dependents(int64_t id, bool succeeded, int64_t now,
			     store_job_fn fn, void *arg)
{
	if (write_begin() != 0)
		return -1;
	if (!succeeded)
		return cancel_dependents(id, now, fn, arg, 0);
	sqlite3_stmt *s = st(S_DEP_SUCCEEDED);
	sqlite3_bind_int64(s, 1, id);
	if (st_exec(s, "deps succeeded") != 0)
		return -1;
	if (sqlite3_changes(db) == 0)
		return 0;
	s = st(S_DEP_READY);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_WAITING, sqlite3_column_int(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("deps ready");
	return 0;
}

int
store_job_check_deps(const int64_t *ids, size_t n, long uid_filter,
		     int64_t *missing, bool *failed, int *left)
{
	*missing = 0;
	*failed = false;
	*left = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = st(S_JOB_DEP_STATE);
		sqlite3_bind_int64(s, 1, ids[i]);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			if (rc != SQLITE_DONE)
				return db_error("deps");
			*missing = ids[i];
			return 0;
		}
		int state = sqlite3_column_int(s, 0);
		long uid = (long)sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
		if (uid_filter >= 0 && uid != uid_filter) {
			*missing = ids[i];
			return 0;
		}
		if (state == JOBD_FAILED || state == JOBD_CANCELLED)
			*failed = true;
		else if (state != JOBD_SUCCEEDED)
			(*left)++;
	}
	return 0;
}

int
store_job_running_pids(store_pid_fn fn, void *arg)
{
	sqlite3_stmt *s = st(S_JOB_RUNNING_PIDS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("running pids");
	return 0;
}

int
store_job_recover(int64_t now, int max_recoveries, store_job_fn fn,
		  void *arg)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_JOB_RECOVER);
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, max_recoveries);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_RUNNING, sqlite3_column_int(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("recover");
	return 0;
}

/* Deletes the deps rows of job id, one per id in its stored depends_on
 * ("[1,2,3]"): by the whole key, as deps is indexed. */
static int
delete_deps(int64_t id, const char *deps)
{
	const char *p = deps;
	while (p != NULL && *p != '\0') {
		char *end;
		long long dep = strtoll(p, &end, 10);
		if (end == p) {
			p++;
			continue;
		}
		p = end;
		sqlite3_stmt *s = st(S_DEP_DELETE);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, dep);
		if (st_exec(s, "prune deps") != 0)
			return -1;
	}
	return 0;
}

int
store_job_prune(int64_t before, int64_t qid, int64_t limit,
		store_prune_fn fn, void *arg, int64_t *n)
{
	*n = 0;
	if (write_begin() != 0)
		return -1;
	struct dependent *rows = NULL;
	size_t nrows = 0, cap = 0, i = 0;
	sqlite3_stmt *s = st(S_JOB_PRUNE_SELECT);
	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, qid);
	sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nrows == cap) {
			cap = cap ? cap * 2 : 64;
			rows = xreallocarray(rows, cap, sizeof(*rows));
		}
		rows[nrows].id = sqlite3_column_int64(s, 0);
		rows[nrows].qid = sqlite3_column_int64(s, 1);
		rows[nrows].state = sqlite3_column_int(s, 2);
		rows[nrows].attempts = sqlite3_column_int(s, 3);
		rows[nrows].deps = col_strdup(s, 4);
		nrows++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		db_error("prune");
		goto fail;
	}
	for (; i < nrows; i++) {
		s = st(S_JOB_DELETE);
		sqlite3_bind_int64(s, 1, rows[i].id);
		if (st_exec(s, "prune delete") != 0 ||
		    delete_deps(rows[i].id, rows[i].deps) != 0)
			goto fail;
		fn(rows[i].id, rows[i].qid, rows[i].state, rows[i].attempts,
		   arg);
		free(rows[i].deps);
	}
	*n = (int64_t)nrows;
	free(rows);
	return 0;
fail:
	for (; i < nrows; i++)
		free(rows[i].deps);
	free(rows);
	return -1;
}

/* ---- job objects ---- */

static void
set_time(json_t *o, const char *key, sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		json_object_set_new(o, key, json_null());
		return;
	}
	char tb[JOBD_TIME_LEN];
	jobd_time_format(sqlite3_column_int64(s, col), tb);
	json_object_set_new(o, key, json_string(tb));
}

static void
set_int_or_null(json_t *o, const char *key, sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		json_object_set_new(o, key, json_null());
	else
		json_object_set_new(o, key,
				    json_integer(sqlite3_column_int64(s, col)));
}

static void
set_text_or_null(json_t *o, const char *key, sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	json_object_set_new(o, key, t ? json_string(t) : json_null());
}

static json_t *
row_to_job(sqlite3_stmt *s, bool with_env)
{
	json_t *o = json_object();
	int state = sqlite3_column_int(s, JC_STATE);
	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(s,
								       JC_ID)));
	set_text_or_null(o, "queue", s, JC_QUEUE);
	set_text_or_null(o, "name", s, JC_NAME);
	json_t *argv = col_json(s, JC_ARGV);
	if (argv)
		json_object_set_new(o, "argv", argv);
	else
		set_text_or_null(o, "shell", s, JC_SHELL);
	set_text_or_null(o, "cwd", s, JC_CWD);
	json_object_set_new(o, "priority",
			    json_integer(sqlite3_column_int(s, JC_PRIORITY)));
	json_object_set_new(o, "state", json_string(jobd_state_name(state)));
	const char *reason = jobd_reason_name(sqlite3_column_int(s, JC_REASON));
	json_object_set_new(o, "reason",
			    reason ? json_string(reason) : json_null());
	set_text_or_null(o, "error", s, JC_ERROR);
	set_int_or_null(o, "exit_code", s, JC_EXIT);
	set_int_or_null(o, "signal", s, JC_SIGNAL);
	json_object_set_new(o, "attempt",
			    json_integer(sqlite3_column_int(s, JC_ATTEMPT)));
	json_object_set_new(o, "recoveries",
			    json_integer(sqlite3_column_int(s,
							    JC_RECOVERIES)));
	json_object_set_new(o, "max_attempts",
			    json_integer(sqlite3_column_int(s,
							    JC_MAX_ATTEMPTS)));
	json_object_set_new(o, "timeout",
			    json_real(sqlite3_column_double(s, JC_TIMEOUT)));
	json_object_set_new(o, "kill_grace",
			    json_real(sqlite3_column_double(s,
							    JC_KILL_GRACE)));
	json_object_set_new(
		o, "backoff",
		json_pack("{s:f,s:f,s:f,s:f}", "base",
			  sqlite3_column_double(s, JC_B_BASE), "factor",
			  sqlite3_column_double(s, JC_B_FACTOR), "max",
			  sqlite3_column_double(s, JC_B_MAX), "jitter",
			  sqlite3_column_double(s, JC_B_JITTER)));
	json_t *deps = col_json(s, JC_DEPENDS);
	json_object_set_new(o, "depends_on", deps ? deps : json_array());
	set_text_or_null(o, "unique_key", s, JC_UNIQUE);
	json_object_set_new(o, "uid",
			    json_integer(sqlite3_column_int64(s, JC_UID)));
	if (state == JOBD_RUNNING)
		set_int_or_null(o, "pid", s, JC_PID);
	else
		json_object_set_new(o, "pid", json_null());
	set_time(o, "created_at", s, JC_CREATED);
	set_time(o, "run_at", s, JC_RUN_AT);
	set_time(o, "started_at", s, JC_STARTED);
	set_time(o, "finished_at", s, JC_FINISHED);
	if (sqlite3_column_type(s, JC_DURATION) == SQLITE_NULL)
		json_object_set_new(o, "duration", json_null());
	else
		json_object_set_new(
			o, "duration",
			json_real(sqlite3_column_double(s, JC_DURATION)));
	json_object_set_new(o, "output_truncated",
			    json_boolean(sqlite3_column_int(s,
							    JC_TRUNCATED)));
	json_object_set_new(o, "output",
			    json_string(sqlite3_column_int(s, JC_OUTPUT)
						? "discard"
						: "capture"));
	if (sqlite3_column_type(s, JC_RU_USER) == SQLITE_NULL)
		json_object_set_new(o, "rusage", json_null());
	else
		json_object_set_new(
			o, "rusage",
			json_pack("{s:f,s:f,s:I}", "user",
				  sqlite3_column_double(s, JC_RU_USER),
				  "system",
				  sqlite3_column_double(s, JC_RU_SYS),
				  "max_rss_kb",
				  (json_int_t)sqlite3_column_int64(
					  s, JC_RU_MAXRSS)));
	if (with_env) {
		int64_t env_id = sqlite3_column_int64(s, JC_ENV_ID);
		json_t *env = env_id ? env_get(env_id) : NULL;
		json_object_set_new(o, "env", env ? env : json_null());
	}
	return o;
}

json_t *
store_job_json(int64_t id, bool with_env)
{
	sqlite3_stmt *s = st(S_JOB_GET);
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			db_error("job get");
		else
			diag_set(E_NOTFOUND, "no job %lld", (long long)id);
		return NULL;
	}
	/* env_get() reuses another statement, so build before resetting
	 * is fine: S_ENV_GET is not S_JOB_GET. */
	json_t *o = row_to_job(s, with_env);
	sqlite3_reset(s);
	return o;
}

int
store_job_list(const struct store_job_filter *f, json_t *arr,
	       int64_t *next_after_id)
{
	bool running = f->state_mask == 1u << JOBD_RUNNING;
	sqlite3_stmt *s =
		st(running ? (f->desc ? S_JOB_LIST_RUNNING_DESC
				      : S_JOB_LIST_RUNNING)
			   : (f->desc ? S_JOB_LIST_DESC : S_JOB_LIST));
	sqlite3_bind_int64(s, 1, f->after_id);
	sqlite3_bind_int64(s, 6, f->before_id);
	sqlite3_bind_int64(s, 2, f->qid);
	if (!running)
		sqlite3_bind_int64(s, 3, f->state_mask);
	sqlite3_bind_int64(s, 4, f->uid);
	sqlite3_bind_int(s, 5, f->limit);
	if (!f->desc)
		sqlite3_bind_int64(s, 7, f->upto_id);
	int rc, n = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_array_append_new(arr, row_to_job(s, false));
		last = sqlite3_column_int64(s, JC_ID);
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("job list");
	*next_after_id = n == f->limit ? last : 0;
	return 0;
}

int64_t
store_job_max_id(void)
{
	sqlite3_stmt *s = st(S_JOB_MAX_ID);
	int64_t id = 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return id;
}

/* ---- producers ---- */

int
store_producer_each(store_producer_fn fn, void *arg)
{
	sqlite3_stmt *s = st(S_PROD_ALL);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_producer p;
		p.name = (const char *)sqlite3_column_text(s, 0);
		p.spec = col_json(s, 1);
		p.uid = (uid_t)sqlite3_column_int64(s, 2);
		p.paused = sqlite3_column_int(s, 3) != 0;
		p.state = sqlite3_column_int(s, 4);
		p.produced = sqlite3_column_int64(s, 5);
		p.skipped = sqlite3_column_int64(s, 6);
		p.errors = sqlite3_column_int64(s, 7);
		p.last_run = sqlite3_column_int64(s, 8);
		int r = p.spec && p.name ? fn(&p, arg) : 0;
		json_decref(p.spec);
		if (r != 0) {
			sqlite3_reset(s);
			return -1;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error("producer list");
	return 0;
}

int
store_producer_put(const char *name, const json_t *spec, uid_t uid,
		   bool paused)
{
	if (write_begin() != 0)
		return -1;
	char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *s = st(S_PROD_PUT);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, text, -1, free);
	sqlite3_bind_int64(s, 3, (int64_t)uid);
	sqlite3_bind_int(s, 4, paused);
	return st_exec(s, "producer put");
}

int
store_producer_counters(const char *name, int state, int64_t produced,
			int64_t skipped, int64_t errors, int64_t last_run)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_PROD_COUNTERS);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int64(s, 3, produced);
	sqlite3_bind_int64(s, 4, skipped);
	sqlite3_bind_int64(s, 5, errors);
	if (last_run > 0)
		sqlite3_bind_int64(s, 6, last_run);
	return st_exec(s, "producer counters");
}

int
store_producer_set_paused(const char *name, bool paused)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_PROD_PAUSE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, paused);
	return st_exec(s, "producer pause");
}

int
store_producer_delete(const char *name)
{
	if (write_begin() != 0)
		return -1;
	sqlite3_stmt *s = st(S_PROD_DELETE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	return st_exec(s, "producer delete");
}
