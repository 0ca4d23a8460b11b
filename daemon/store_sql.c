/*
 * store, SQLite backend: every SQL text of the store, and nothing else.
 * The schema as its migrations build it, and each statement prepared at
 * open, by its enum store__stmt_id (store_sqlite.h).  Statements bind their
 * values as parameters; no SQL is ever built at run time.
 *
 * Job states and reasons are stored as the numbers of include/jobd/proto.h,
 * spelled STATE(QUEUED) or REASON(RECOVERED) and pinned to their enums in
 * store_sqlnum.h, which the PostgreSQL schema shares.
 */
#include "store_sqlite.h"

#include "store.h"
#include "store_sqlnum.h"

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the STATE() macros. */
/* clang-format off */
/* A listing's labels filter: ?8 to ?23, the filter's pairs each as its
 * text in a job's stored labels ("\"k\":\"v\"", labels_pair_text; NULL
 * past the last).  A job's labels are stored as jansson writes them,
 * compact, so a pair is in a job's labels exactly when its text is in the
 * stored text: a quote that starts it can only be the one that opens a
 * key (a key holds no quote, and a value's quotes are escaped).  instr()
 * costs a job no JSON parse, in the listing's window of ids. */
#define LABEL_PAIR(n) "AND (?" #n " IS NULL OR instr(j.labels, ?" #n ") > 0) "
#define LABELS_MATCH \
	LABEL_PAIR(8) LABEL_PAIR(9) LABEL_PAIR(10) LABEL_PAIR(11) \
	LABEL_PAIR(12) LABEL_PAIR(13) LABEL_PAIR(14) LABEL_PAIR(15) \
	LABEL_PAIR(16) LABEL_PAIR(17) LABEL_PAIR(18) LABEL_PAIR(19) \
	LABEL_PAIR(20) LABEL_PAIR(21) LABEL_PAIR(22) LABEL_PAIR(23)
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
	"  reason INTEGER NOT NULL DEFAULT " REASON(NONE) ","
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
	"  output INTEGER NOT NULL DEFAULT " OUTPUT(CAPTURE) ","
	"  deps_left INTEGER NOT NULL DEFAULT 0,"
	"  depends_on TEXT,"
	"  exit_code INTEGER, signal INTEGER, error TEXT, pid INTEGER,"
	"  duration REAL, truncated INTEGER NOT NULL DEFAULT 0,"
	"  ru_user REAL, ru_sys REAL, ru_maxrss INTEGER);"
	"CREATE INDEX jobs_ready ON jobs(qid, priority DESC, run_at, id)"
	"  WHERE state = " STATE(QUEUED) ";"
	"CREATE INDEX jobs_due ON jobs(run_at) WHERE state = " STATE(SCHEDULED)
	";"
	"CREATE INDEX jobs_running ON jobs(state) WHERE state = " STATE(RUNNING)
	";"
	"CREATE UNIQUE INDEX jobs_unique ON jobs(uid, unique_key)"
	"  WHERE unique_key IS NOT NULL AND state < " STATE(SUCCEEDED) ";"
	"CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state >= "
	STATE(SUCCEEDED) ";"
	"CREATE TABLE deps ("
	"  dep_id INTEGER NOT NULL,"
	"  job_id INTEGER NOT NULL,"
	"  PRIMARY KEY (dep_id, job_id)) WITHOUT ROWID;";

/* Version 2: producers.  spec is the producer object as created (JSON);
 * the counters and state change as it runs.  A state is a number of enum
 * producer_state (daemon/producer.h, a layer above the store: the store
 * cannot pin it: producer.h asserts PRODUCER_RUNNING is 0). */
static const char schema_v2[] =
	"CREATE TABLE producers ("
	"  name TEXT PRIMARY KEY,"
	"  spec TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  state INTEGER NOT NULL DEFAULT 0,"	/* PRODUCER_RUNNING */
	"  produced INTEGER NOT NULL DEFAULT 0,"
	"  skipped INTEGER NOT NULL DEFAULT 0,"
	"  errors INTEGER NOT NULL DEFAULT 0,"
	"  last_run INTEGER);";

/* Version 3: resource limits.  A job's limits as resolved at submit (its
 * own keys over its queue's) and a queue's defaults, each the JSON object
 * of the protocol; NULL (rows from before) is no limits. */
static const char schema_v3[] =
	"ALTER TABLE jobs ADD COLUMN limits TEXT;"
	"ALTER TABLE queues ADD COLUMN limits TEXT;";

/* Version 4: cgroups.  linger: what the attempt's cgroup holds when its
 * main process exits is left to end on its own; ru_mempeak: the
 * attempt's cgroup memory.peak in bytes (NULL: not measured). */
static const char schema_v4[] =
	"ALTER TABLE jobs ADD COLUMN linger INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN ru_mempeak INTEGER;";

/* Version 5: global_concurrency, the cap on a queue's running jobs over
 * all nodes (PostgreSQL's column); here one node is all of them.  0: no
 * cap. */
static const char schema_v5[] = "ALTER TABLE queues ADD COLUMN "
				"global_concurrency INTEGER NOT NULL DEFAULT 0;";

/* Version 6: what a job says back.  A queue's snooze defaults
 * (snooze_exit -1: none; snooze -1: the backoff delay); a job's own
 * (snooze_exit and snooze NULL: none, the backoff delay; rows from before
 * never snooze), the snoozes so far, and its latest attempt's result (the
 * JSON text) or why it has none (result_error). */
static const char schema_v6[] =
	"ALTER TABLE queues ADD COLUMN snooze_exit INTEGER NOT NULL "
	"DEFAULT 75;"
	"ALTER TABLE queues ADD COLUMN snooze REAL NOT NULL DEFAULT -1;"
	"ALTER TABLE queues ADD COLUMN max_snoozes INTEGER NOT NULL "
	"DEFAULT 100;"
	"ALTER TABLE jobs ADD COLUMN snooze_exit INTEGER;"
	"ALTER TABLE jobs ADD COLUMN snooze REAL;"
	"ALTER TABLE jobs ADD COLUMN max_snoozes INTEGER NOT NULL "
	"DEFAULT 100;"
	"ALTER TABLE jobs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN result TEXT;"
	"ALTER TABLE jobs ADD COLUMN result_error TEXT;";

/* Version 7: labels.  A job's labels as resolved at submit (its own
 * over its queue's) and a queue's defaults, each the compact JSON object
 * of the protocol with its keys sorted, as jansson writes it (a listing's
 * filter looks for each pair's text in it: LABELS_MATCH); NULL is
 * none. */
static const char schema_v7[] =
	"ALTER TABLE jobs ADD COLUMN labels TEXT;"
	"ALTER TABLE queues ADD COLUMN labels TEXT;";

/* Version 8: progress.  The progress object of the latest attempt (JSON
 * text, NULL: none) and the bad lines it wrote, written with its end. */
static const char schema_v8[] =
	"ALTER TABLE jobs ADD COLUMN progress TEXT;"
	"ALTER TABLE jobs ADD COLUMN progress_bad INTEGER NOT NULL DEFAULT 0;";

/* Version 9: hooks.  A queue's hook templates (queue_conf_hooks_text:
 * a JSON object by hook name, NULL: none); a hook job's parent (NULL: not
 * a hook job), so that its end fires no hook. */
static const char schema_v9[] = "ALTER TABLE queues ADD COLUMN hooks TEXT;"
				"ALTER TABLE jobs ADD COLUMN hook_of INTEGER;";
/* Version 10: resubmit.  The job a job was made from by resubmit (its id,
 * kept when that job is pruned); NULL: submitted. */
static const char schema_v10[] =
	"ALTER TABLE jobs ADD COLUMN resubmitted_from INTEGER;";
/* Version 11: retention.  A queue's retention, and by end state (seconds;
 * 0: forever; -1: not set, see queue_conf_retention_for) and keep_last
 * (0: no cap); the finished jobs by queue, for its pruning passes: by
 * state and end time (retention), and by end time (keep_last). */
static const char schema_v11[] =
	"ALTER TABLE queues ADD COLUMN retention REAL NOT NULL DEFAULT -1;"
	"ALTER TABLE queues ADD COLUMN retention_succeeded REAL NOT NULL "
	"DEFAULT -1;"
	"ALTER TABLE queues ADD COLUMN retention_failed REAL NOT NULL "
	"DEFAULT -1;"
	"ALTER TABLE queues ADD COLUMN retention_cancelled REAL NOT NULL "
	"DEFAULT -1;"
	"ALTER TABLE queues ADD COLUMN keep_last INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX jobs_ended ON jobs(qid, state, finished_at) WHERE state "
	">= " STATE(SUCCEEDED) ";"
	"CREATE INDEX jobs_ended_last ON jobs(qid, finished_at) WHERE state "
	">= " STATE(SUCCEEDED) ";";
/* Version 12: workflows.  Each dependency row says when its job may run
 * (cond: DEP(AFTER), after_any, DEP(FAILED), DEP(FAILED_MET)); the rows
 * of a job are found by job_id to tell whether one of its dependencies
 * failed. */
static const char schema_v12[] =
	"ALTER TABLE deps ADD COLUMN cond INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX deps_job ON deps(job_id);";
/* Version 13: a job's dependency condition as its spec named it (enum
 * jobspec_cond), for the job object and resubmit. */
static const char schema_v13[] =
	"ALTER TABLE jobs ADD COLUMN dep_cond INTEGER NOT NULL DEFAULT 0;";

/* Migrations: store__migrations[i] takes the schema from version i to
 * i + 1. */
const char *const store__migrations[] = {schema_v1, schema_v2, schema_v3,
					  schema_v4, schema_v5, schema_v6,
					  schema_v7, schema_v8, schema_v9,
					  schema_v10, schema_v11, schema_v12,
					  schema_v13};
_Static_assert(sizeof(store__migrations) / sizeof(store__migrations[0]) ==
		       STORE_SCHEMA_VERSION,
	       "one migration per schema version");

const char *const store__stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT sp",
	[S_RELEASE] = "RELEASE sp",
	[S_ROLLBACK_TO] = "ROLLBACK TO sp",
	[S_QUEUE_ALL] = "SELECT id, name, concurrency, rate_limit, "
			"rate_period, rate_burst, capacity, paused, timeout, "
			"kill_grace, max_attempts, b_base, b_factor, b_max, "
			"b_jitter, limits, global_concurrency, snooze_exit, "
			"snooze, max_snoozes, labels, hooks, retention, "
			"retention_succeeded, retention_failed, "
			"retention_cancelled, keep_last FROM queues ORDER BY id",
	[S_QUEUE_INSERT] = "INSERT INTO queues (name, concurrency, "
			   "rate_limit, rate_period, rate_burst, capacity, "
			   "paused, timeout, kill_grace, max_attempts, b_base, "
			   "b_factor, b_max, b_jitter, limits, "
			   "global_concurrency, snooze_exit, snooze, "
			   "max_snoozes, labels, hooks, retention, "
			   "retention_succeeded, retention_failed, "
			   "retention_cancelled, keep_last) VALUES "
			   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
			   "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
			   "?22, ?23, ?24, ?25, ?26)",
	[S_QUEUE_UPDATE] = "UPDATE queues SET concurrency = ?2, "
			   "rate_limit = ?3, rate_period = ?4, "
			   "rate_burst = ?5, capacity = ?6, timeout = ?8, "
			   "kill_grace = ?9, max_attempts = ?10, b_base = ?11, "
			   "b_factor = ?12, b_max = ?13, b_jitter = ?14, "
			   "limits = ?15, global_concurrency = ?16, "
			   "snooze_exit = ?17, snooze = ?18, max_snoozes = ?19, "
			   "labels = ?20, hooks = ?21, retention = ?22, "
			   "retention_succeeded = ?23, retention_failed = ?24, "
			   "retention_cancelled = ?25, keep_last = ?26 "
			   "WHERE id = ?1",
	[S_QUEUE_PAUSE] = "UPDATE queues SET paused = ?2 WHERE id = ?1",
	[S_QUEUE_DELETE] = "DELETE FROM queues WHERE id = ?1",
	[S_QUEUE_PENDING] = "SELECT count(*) FROM jobs WHERE qid = ?1 AND "
			    "state IN (" STATE(WAITING) ", " STATE(SCHEDULED)
			    ", " STATE(QUEUED) ")",
	[S_COUNTS] = "SELECT qid, state, count(*) FROM jobs "
		     "GROUP BY qid, state",
	[S_ENV_FIND] = "SELECT id, body FROM envs WHERE hash = ?1",
	[S_ENV_INSERT] = "INSERT INTO envs (hash, body) VALUES (?1, ?2)",
	[S_ENV_GET] = "SELECT body FROM envs WHERE id = ?1",
	[S_JOB_INSERT] = "INSERT INTO jobs (qid, state, reason, priority, "
			 "run_at, created_at, max_attempts, timeout, "
			 "kill_grace, b_base, b_factor, b_max, b_jitter, uid, "
			 "name, argv, shell, cwd, env_id, unique_key, output, "
			 "deps_left, depends_on, finished_at, limits, linger, "
			 "snooze_exit, snooze, max_snoozes, labels, hook_of, "
			 "resubmitted_from, dep_cond) VALUES "
			 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
			 "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
			 "?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, "
			 "?33)",
	[S_DEP_INSERT] = "INSERT OR IGNORE INTO deps (dep_id, job_id, cond) "
			 "VALUES (?1, ?2, ?3)",
	[S_JOB_UNIQUE] = "SELECT id FROM jobs WHERE uid = ?2 AND "
			 "unique_key = ?1 AND state < " STATE(SUCCEEDED),
	[S_JOB_BRIEF] = "SELECT id, qid, state, reason, uid, attempt, "
			"max_attempts, run_at, truncated FROM jobs "
			"WHERE id = ?1",
	[S_JOB_CLAIM] = "UPDATE jobs SET state = " STATE(RUNNING)
			", reason = " REASON(NONE) ", "
			"attempt = attempt + 1, started_at = ?2, pid = NULL, "
			"exit_code = NULL, "
			"signal = NULL, error = NULL, truncated = 0, "
			"progress = NULL, progress_bad = 0 "
			"WHERE id = (SELECT id FROM jobs WHERE qid = ?1 AND "
			"state = " STATE(QUEUED)
			" ORDER BY priority DESC, run_at, id LIMIT 1) "
			"RETURNING id, qid, attempt, max_attempts, recoveries, "
			"uid, argv, shell, cwd, env_id, timeout, kill_grace, "
			"b_base, b_factor, b_max, b_jitter, output, limits, "
			"linger, snooze_exit, snooze, max_snoozes, snoozes, "
			"labels",
	[S_JOB_SET_PID] = "UPDATE jobs SET pid = ?2 WHERE id = ?1",
	/* A job cancelled while its attempt ran keeps what the cancel
	 * recorded; only what the process did is added. */
	[S_JOB_END] = "UPDATE jobs SET "
		      "state = CASE WHEN state = " STATE(CANCELLED) " THEN "
		      "state ELSE ?2 END, "
		      "reason = CASE WHEN state = " STATE(CANCELLED) " THEN "
		      "reason ELSE ?3 END, "
		      "exit_code = ?4, signal = ?5, error = ?6, "
		      "duration = coalesce(?7, duration), truncated = ?8, "
		      "ru_user = ?9, ru_sys = ?10, ru_maxrss = ?11, "
		      "ru_mempeak = ?15, result = ?18, result_error = ?19, "
		      "snoozes = snoozes + CASE WHEN state = " STATE(CANCELLED)
		      " THEN 0 ELSE ?17 END, "
		      "progress = ?20, progress_bad = ?21, "
		      "finished_at = CASE WHEN state = " STATE(CANCELLED)
		      " THEN ?16 ELSE ?12 END, "
		      "run_at = CASE WHEN state = " STATE(CANCELLED) " THEN "
		      "run_at ELSE coalesce(?13, run_at) END, "
		      "attempt = attempt + CASE WHEN state = " STATE(CANCELLED)
		      " THEN 0 ELSE ?14 END, pid = NULL WHERE id = ?1 "
		      "AND state IN (" STATE(RUNNING) ", " STATE(CANCELLED)
		      ")",
	[S_JOB_SET_STATE] = "UPDATE jobs SET state = ?2, reason = ?3, "
			    "finished_at = ?4, pid = NULL WHERE id = ?1 "
			    "AND (?5 < 0 OR state = ?5)",
	[S_JOB_RETRY] = "UPDATE jobs SET state = " STATE(QUEUED)
			", reason = " REASON(NONE) ", "
			"attempt = 0, recoveries = 0, run_at = ?2, "
			"started_at = NULL, finished_at = NULL, "
			"exit_code = NULL, signal = NULL, error = NULL, "
			"pid = NULL, duration = NULL, truncated = 0, "
			"ru_user = NULL, ru_sys = NULL, ru_maxrss = NULL, "
			"ru_mempeak = NULL, snoozes = 0, result = NULL, "
			"result_error = NULL, progress = NULL, "
			"progress_bad = 0, deps_left = 0 WHERE id = ?1 "
			"AND (?3 < 0 OR state = ?3)",
	[S_JOB_PROMOTE] = "UPDATE jobs SET state = " STATE(QUEUED)
			  " WHERE state = " STATE(SCHEDULED) " AND "
			  "run_at <= ?1 RETURNING id, qid",
	[S_JOB_NEXT_DUE] = "SELECT min(run_at) FROM jobs WHERE state = "
			   STATE(SCHEDULED),
	[S_DEP_MET] = "UPDATE deps SET cond = " DEP(FAILED_MET)
		      " WHERE cond = " DEP(FAILED) " AND job_id IN "
		      "(SELECT d.job_id FROM deps d JOIN jobs j "
		      "ON j.id = d.job_id WHERE d.dep_id = ?1 "
		      "AND d.cond = " DEP(FAILED) " AND j.state = "
		      STATE(WAITING) ")",
	[S_DEP_SUCCEEDED] = "UPDATE jobs SET deps_left = deps_left - 1 "
			    "WHERE state = " STATE(WAITING) " AND id IN "
			    "(SELECT job_id FROM deps WHERE dep_id = ?1 "
			    "AND (?2 OR cond <> " DEP(AFTER) "))",
	[S_DEP_READY] = "UPDATE jobs SET state = CASE WHEN run_at > ?2 "
			"THEN " STATE(SCHEDULED) " ELSE " STATE(QUEUED)
			" END WHERE state = " STATE(WAITING)
			" AND deps_left <= 0 "
			"AND id IN (SELECT job_id FROM deps WHERE dep_id = ?1) "
			"AND NOT EXISTS (SELECT 1 FROM deps x WHERE "
			"x.job_id = jobs.id AND x.cond = " DEP(FAILED) ") "
			"RETURNING id, qid, state",
	[S_DEP_NOT_NEEDED] = "SELECT j.id, j.qid, j.state FROM jobs j "
			     "WHERE j.state = " STATE(WAITING)
			     " AND j.deps_left <= 0 AND j.id IN "
			     "(SELECT job_id FROM deps WHERE dep_id = ?1) "
			     "AND EXISTS (SELECT 1 FROM deps x WHERE "
			     "x.job_id = j.id AND x.cond = " DEP(FAILED) ")",
	[S_DEP_DEPENDENTS] = "SELECT d.job_id, j.qid, j.state FROM deps d "
			     "JOIN jobs j ON j.id = d.job_id "
			     "WHERE d.dep_id = ?1 AND d.cond = " DEP(AFTER)
			     " AND j.state < " STATE(RUNNING),
	[S_JOB_DEP_STATE] = "SELECT state, uid FROM jobs WHERE id = ?1",
	[S_JOB_RECOVER] = "UPDATE jobs SET "
			  "state = CASE WHEN recoveries >= ?2 THEN "
			  STATE(FAILED)
			  " ELSE " STATE(QUEUED) " END, reason = CASE WHEN "
			  "recoveries >= ?2 THEN " REASON(RECOVERY_LIMIT)
			  " ELSE " REASON(RECOVERED) " END, "
			  "recoveries = recoveries + 1, "
			  "attempt = max(attempt - 1, 0), pid = NULL, "
			  "finished_at = CASE WHEN recoveries >= ?2 THEN ?1 "
			  "ELSE NULL END WHERE state = " STATE(RUNNING) " "
			  "RETURNING id, qid, state",
	[S_JOB_PRUNE_SELECT] = "SELECT id, qid, state, attempt, depends_on "
			       "FROM jobs "
			       "WHERE state >= " STATE(SUCCEEDED)
			       " AND finished_at < ?1 "
			       "AND (?2 < 0 OR qid = ?2) LIMIT ?3",
	/* A queue's jobs that ended in one state before ?1 (jobs_ended). */
	[S_JOB_PRUNE_STATE] = "SELECT id, qid, state, attempt, depends_on "
			      "FROM jobs WHERE qid = ?2 AND state = ?4 "
			      "AND finished_at < ?1 AND state >= " STATE(
				      SUCCEEDED) " LIMIT ?3",
	/* A queue's finished jobs past its ?4 most recent (by end time,
	 * then id).  Both read jobs_ended_last in its order: left to
	 * itself, the planner takes the covering jobs_ended and sorts all
	 * the queue's finished jobs for each chunk. */
	[S_JOB_PRUNE_KEEP] = "SELECT id, qid, state, attempt, depends_on "
			     "FROM jobs INDEXED BY jobs_ended_last "
			     "WHERE qid = ?2 AND state >= " STATE(
				     SUCCEEDED) " AND (finished_at, id) <= "
			     "(SELECT finished_at, id FROM jobs INDEXED BY "
			     "jobs_ended_last WHERE qid = ?2 "
			     "AND state >= " STATE(
				     SUCCEEDED) " ORDER BY finished_at DESC, "
			     "id DESC LIMIT 1 OFFSET ?4) LIMIT ?3",
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
		       "AND (?4 < 0 OR j.uid = ?4) " LABELS_MATCH
		       "AND (?7 = 0 OR j.id <= ?7) ORDER BY j.id LIMIT ?5",
	/* The same, newest first: the page a person wants to see. */
	[S_JOB_LIST_DESC] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
			    "ON q.id = j.qid WHERE j.id > ?1 "
			    "AND (?6 = 0 OR j.id < ?6) "
			    "AND (?2 < 0 OR j.qid = ?2) "
			    "AND (?3 = 0 OR (?3 >> j.state) & 1) "
			    "AND (?4 < 0 OR j.uid = ?4) " LABELS_MATCH
			    "ORDER BY j.id DESC "
			    "LIMIT ?5",
	/* The running jobs alone, the question a monitor asks every second:
	 * the state is written out so the partial index jobs_running serves
	 * it, in id order, however big the backlog. */
	[S_JOB_LIST_RUNNING] = "SELECT " JOB_COLS "FROM jobs j JOIN queues q "
			       "ON q.id = j.qid WHERE j.state = "
			       STATE(RUNNING) " "
			       "AND j.id > ?1 AND (?6 = 0 OR j.id < ?6) "
			       "AND (?2 < 0 OR j.qid = ?2) "
			       "AND (?4 < 0 OR j.uid = ?4) " LABELS_MATCH
			       "AND (?7 = 0 OR j.id <= ?7) ORDER BY j.id "
			       "LIMIT ?5",
	[S_JOB_LIST_RUNNING_DESC] = "SELECT " JOB_COLS "FROM jobs j "
				    "JOIN queues q ON q.id = j.qid "
				    "WHERE j.state = " STATE(RUNNING)
				    " AND j.id > ?1 "
				    "AND (?6 = 0 OR j.id < ?6) "
				    "AND (?2 < 0 OR j.qid = ?2) "
				    "AND (?4 < 0 OR j.uid = ?4) " LABELS_MATCH
				    "ORDER BY j.id DESC LIMIT ?5",
	[S_JOB_MAX_ID] = "SELECT max(id) FROM jobs",
	[S_JOB_RUNNING_PIDS] = "SELECT id, pid FROM jobs WHERE state = "
			       STATE(RUNNING) " "
			       "AND pid IS NOT NULL",
	[S_PROD_ALL] = "SELECT name, spec, uid, paused, state, produced, "
		       "skipped, errors, last_run FROM producers ORDER BY name",
	[S_PROD_PUT] = "INSERT INTO producers (name, spec, uid, paused) "
		       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE "
		       "SET spec = excluded.spec, uid = excluded.uid, "
		       "state = 0",	/* PRODUCER_RUNNING: runs again */
	[S_PROD_COUNTERS] = "UPDATE producers SET state = ?2, produced = ?3, "
			    "skipped = ?4, errors = ?5, last_run = ?6 "
			    "WHERE name = ?1",
	[S_PROD_ADD] = "UPDATE producers SET state = CASE WHEN ?2 < 0 "
		       "THEN state ELSE ?2 END, "
		       "produced = produced + ?3, skipped = skipped + ?4, "
		       "errors = errors + ?5, last_run = CASE WHEN ?6 > "
		       "coalesce(last_run, 0) THEN ?6 ELSE last_run END "
		       "WHERE name = ?1 RETURNING uid, paused, state, "
		       "produced, skipped, errors, last_run",
	[S_PROD_PAUSE] = "UPDATE producers SET paused = ?2 WHERE name = ?1",
	[S_PROD_DELETE] = "DELETE FROM producers WHERE name = ?1",
};
/* clang-format on */
