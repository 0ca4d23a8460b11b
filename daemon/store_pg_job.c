/*
 * store, PostgreSQL backend: the rows of a job through its life, as
 * SQLite's store_job.c keeps them: insert (its spec in job_specs, its
 * environment stored once per distinct body, its dependencies in deps),
 * the look-ups the engine decides on (unique key, brief, dependencies,
 * highest id), claim, pid, the end of an attempt, state changes and
 * retry.  Same results and diag codes as SQLite's functions.
 *
 * Each call is one statement: other coroutines' statements run between
 * any two of ours, so a read-then-write is one statement (CTEs) and
 * nothing comes between.  None raises an error on an outcome the engine
 * expects (a unique key held): that would abort the group transaction of
 * every writer.  Such outcomes are read from the rows a conditional
 * statement returns.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "joblimits.h"
#include "jobd/proto.h"
#include "store_jobobj.h"
#include "store_sqlnum.h"
#include "xmem.h"

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the STATE() macros. */
/* clang-format off */

/*
 * A job, its spec and its dependencies, in one statement.
 *
 * The environment ($18 its hash, $19 its body, both NULL for none) is
 * found by hash and body, or added when no row has it: found-or-added in
 * the same statement, so no statement of this node comes between the look
 * and the insert (two nodes may still add one body twice: space lost,
 * nothing wrong).
 *
 * A live job of the same uid holding the unique key ($20): the engine
 * looks for one first (store_job_find_unique), but one may come between
 * (another node's submit).  The insert then adds nothing (ON CONFLICT on
 * jobs_unique's predicate, DO NOTHING) instead of raising, which would
 * abort the group transaction; no row comes back, and the caller answers
 * E_CONFLICT as SQLite's constraint error does.  No spec or deps rows are
 * written then: they are made from the job's row.
 *
 * $23 is depends_on as stored, "[1,2]" (or NULL); its ids become the deps
 * rows, with cond $34.
 */
static const char sql_job_insert[] =
	"WITH found AS ("
	"  SELECT id FROM envs"
	"  WHERE $19::text IS NOT NULL AND hash = $18::int8"
	"  AND body = $19::text LIMIT 1),"
	" added AS ("
	"  INSERT INTO envs (hash, body) SELECT $18::int8, $19::text"
	"  WHERE $19::text IS NOT NULL AND NOT EXISTS (SELECT FROM found)"
	"  RETURNING id),"
	" job AS ("
	"  INSERT INTO jobs (qid, state, reason, priority, run_at,"
	"   max_attempts, uid, unique_key, deps_left, finished_at)"
	"  VALUES ($1::int8, $2::int2, $3::int2, $4::int, " PG_TS("$5") ","
	"   $7::int, $14::int8, $20::text, $22::int, " PG_TS("$24") ")"
	"  ON CONFLICT (uid, unique_key)"
	"   WHERE unique_key IS NOT NULL AND state < " STATE(SUCCEEDED)
	"  DO NOTHING"
	"  RETURNING id),"
	" spec AS ("
	"  INSERT INTO job_specs (job_id, created_at, env_id, timeout,"
	"   kill_grace, b_base, b_factor, b_max, b_jitter, output, linger,"
	"   cwd, name, argv, shell, depends_on, limits, snooze_exit, snooze,"
	"   max_snoozes, labels, hook_of, resubmitted_from, dep_cond)"
	"  SELECT job.id, " PG_TS("$6") ","
	"   (SELECT id FROM found UNION ALL SELECT id FROM added LIMIT 1),"
	"   $8::float8, $9::float8, $10::float8, $11::float8, $12::float8,"
	"   $13::float8, $21::int2, $26::bool, $17::text, $15::text,"
	"   $16::text, $27::text, $23::text, $25::text, $28::int,"
	"   $29::float8, $30::int, $31::jsonb, $32::int8, $33::int8,"
	"   $35::int2"
	"  FROM job),"
	" dep AS ("
	"  INSERT INTO deps (dep_id, job_id, cond)"
	"  SELECT DISTINCT d.v::int8, job.id, $34::int2"
	"  FROM job, json_array_elements_text($23::json) AS d(v)"
	"  ON CONFLICT DO NOTHING)"
	"SELECT id FROM job";

static const char sql_job_unique[] =
	"SELECT id FROM jobs WHERE uid = $2::int8 AND unique_key = $1::text"
	" AND state < " STATE(SUCCEEDED);

static const char sql_job_brief[] =
	"SELECT id, qid, state, reason, uid, attempt, max_attempts, "
	PG_MS("run_at") ", truncated FROM jobs WHERE id = $1::int8";

/* The state and uid of each id of $1 ("{1,2}"), in the order given; NULL
 * for an id with no job. */
static const char sql_job_dep_states[] =
	"SELECT j.state, j.uid"
	" FROM unnest($1::int8[]) WITH ORDINALITY AS d(id, i)"
	" LEFT JOIN jobs j ON j.id = d.id ORDER BY d.i";

static const char sql_job_max_id[] =
	"SELECT coalesce(max(id), 0) FROM jobs";

/*
 * The next ready job of queue $1 in claim order, made running as SQLite's
 * S_JOB_CLAIM does, by this node's incarnation (id $3, epoch $4, name $5),
 * with what its attempt needs from its spec and environment.  Through
 * `me`, a node whose lease ran out (or that registered again since)
 * claims nothing, even before its own clock notices.  SKIP LOCKED passes
 * over a job another node's claim holds; MATERIALIZED keeps the pick (and
 * its lock) to the one row.
 *
 * The cluster's limits, in CTEs of their own (lim, permit, bucket, go,
 * held, spent), looked at only when the node may claim and the queue has
 * a ready job:
 *
 * - global_concurrency: a free permit (a queue_slots row with no job,
 *   1..global_concurrency) is taken FOR UPDATE SKIP LOCKED before the
 *   job, and the job and this node ($3) are written into it.  No permit
 *   is taken while one above the cap is held (the cap was lowered and its
 *   jobs still run), so running jobs never pass a lowered cap.  The test
 *   is on the locked row's own column (job_id IS NULL), which PostgreSQL
 *   checks again on the newest version when another transaction changed
 *   it.
 * - rate: the queue's queue_rate row FOR UPDATE SKIP LOCKED, refilled by
 *   the database clock (clock_timestamp(), not the transaction's start)
 *   up to burst; a job is claimed only with a whole token, and the token
 *   is taken in the same statement.  A bucket another node's transaction
 *   holds is not waited for: the claim gets nothing this time.
 *
 * The statement returns one row: the job's columns (NULL when none was
 * claimed), then ready (a job was ready and the node may claim),
 * permit_ok, token_ok and wait_ms (until the bucket holds a token; NULL
 * when unknown).
 */
static const char sql_job_claim[] =
	"WITH me AS (SELECT FROM nodes WHERE id = $3::int8 AND epoch = $4::int"
	"  AND lease_until > clock_timestamp()),"
	" lim AS MATERIALIZED ("
	"  SELECT coalesce((SELECT q.global_concurrency FROM queues q"
	"    WHERE q.id = $1::int8), 0) AS gc,"
	"   EXISTS (SELECT FROM queue_rate r WHERE r.qid = $1::int8) AS rated,"
	"   EXISTS (SELECT FROM me) AND EXISTS (SELECT FROM jobs j"
	"    WHERE j.qid = $1::int8 AND j.state = " STATE(QUEUED) ") AS ready),"
	" permit AS MATERIALIZED ("
	"  SELECT s.qid, s.slot FROM queue_slots s, lim"
	"  WHERE s.qid = $1::int8 AND lim.ready AND lim.gc > 0"
	"  AND s.slot <= lim.gc AND s.job_id IS NULL"
	"  AND NOT EXISTS (SELECT FROM queue_slots o WHERE o.qid = $1::int8"
	"   AND o.slot > lim.gc AND o.job_id IS NOT NULL)"
	"  ORDER BY s.slot LIMIT 1 FOR UPDATE OF s SKIP LOCKED),"
	" bucket AS MATERIALIZED ("
	"  SELECT r.qid, r.per_sec, c.t, least(r.burst, r.tokens + r.per_sec"
	"   * greatest(0, extract(epoch FROM c.t - r.tokens_at))) AS tokens"
	"  FROM queue_rate r, lim, (SELECT clock_timestamp() AS t) c"
	"  WHERE r.qid = $1::int8 AND lim.ready FOR UPDATE OF r SKIP LOCKED),"
	" go AS MATERIALIZED ("
	"  SELECT lim.ready,"
	"   lim.gc = 0 OR EXISTS (SELECT FROM permit) AS permit_ok,"
	"   NOT lim.rated OR coalesce((SELECT tokens >= 1 FROM bucket), false)"
	"    AS token_ok,"
	"   (SELECT ceil((1 - tokens) / per_sec * 1000)::int8 FROM bucket)"
	"    AS wait_ms"
	"  FROM lim),"
	" pick AS MATERIALIZED ("
	"  SELECT id FROM jobs WHERE qid = $1::int8"
	"  AND state = " STATE(QUEUED) " AND EXISTS (SELECT FROM me)"
	"  AND (SELECT ready AND permit_ok AND token_ok FROM go)"
	"  ORDER BY priority DESC, run_at, id LIMIT 1"
	"  FOR UPDATE SKIP LOCKED),"
	" claimed AS ("
	"  UPDATE jobs j SET state = " STATE(RUNNING) ","
	"   reason = " REASON(NONE) ", attempt = j.attempt + 1,"
	"   started_at = " PG_TS("$2") ", pid = NULL, exit_code = NULL,"
	"   signal = NULL, error = NULL, truncated = false,"
	"   progress = NULL, progress_bad = 0,"
	"   node_id = $3::int8, node_epoch = $4::int, last_node = $5::text"
	"  FROM pick WHERE j.id = pick.id"
	"  RETURNING j.id, j.qid, j.attempt, j.max_attempts, j.recoveries,"
	"   j.uid, j.snoozes),"
	" held AS ("
	"  UPDATE queue_slots s SET job_id = c.id, node_id = $3::int8"
	"  FROM permit p, claimed c WHERE s.qid = p.qid AND s.slot = p.slot),"
	" spent AS ("
	"  UPDATE queue_rate r SET tokens = b.tokens - 1,"
	"   tokens_at = greatest(r.tokens_at, b.t)"
	"  FROM bucket b, claimed c WHERE r.qid = b.qid)"
	"SELECT c.id, c.qid, c.attempt, c.max_attempts, c.recoveries, c.uid,"
	" s.argv, s.shell, s.cwd, e.body, s.timeout, s.kill_grace, s.b_base,"
	" s.b_factor, s.b_max, s.b_jitter, s.output, s.limits, s.linger,"
	" g.ready, g.permit_ok, g.token_ok, g.wait_ms, s.snooze_exit,"
	" s.snooze, s.max_snoozes, c.snoozes, s.labels::text"
	" FROM go g LEFT JOIN (claimed c JOIN job_specs s ON s.job_id = c.id"
	" LEFT JOIN envs e ON e.id = s.env_id) ON true";

static const char sql_job_set_pid[] =
	"UPDATE jobs SET pid = $2::int WHERE id = $1::int8";

/* Only the attempt that runs (or was cancelled while running) ends, and
 * only by the incarnation that claimed it (node $17, epoch $18, attempt
 * $19): the row comes back, with the state it had, when it did; none when
 * a peer rescued the job meanwhile (the result is dropped).  A job
 * cancelled while its attempt ran keeps what the cancel recorded; only
 * what the process did is added.  The owner is cleared; last_node
 * stays.  The attempt's global permit, if it held one, is given back
 * (freed, or deleted when above the queue's cap: the cap was lowered
 * meanwhile), only when the end was recorded (ended; a rescue gave it
 * back otherwise), or when the job is gone (pruned once cancelled while
 * it ran: orphan; the test of the job's absence is made once, before any
 * permit is looked at). */
static const char sql_job_end[] =
	"WITH old AS (SELECT state FROM jobs WHERE id = $1::int8"
	"  FOR UPDATE),"
	" ended AS ("
	"UPDATE jobs SET"
	" state = CASE WHEN old.state = " STATE(CANCELLED) " THEN old.state"
	"  ELSE $2::int2 END,"
	" reason = CASE WHEN old.state = " STATE(CANCELLED) " THEN reason"
	"  ELSE $3::int2 END,"
	" exit_code = $4::int, signal = $5::int, error = $6::text,"
	" duration = coalesce($7::float8, duration), truncated = $8::bool,"
	" ru_user = $9::float8, ru_sys = $10::float8, ru_maxrss = $11::int8,"
	" ru_mempeak = $15::int8, result = $21::text,"
	" result_error = $22::text,"
	" snoozes = snoozes + CASE WHEN old.state = " STATE(CANCELLED)
	" THEN 0 ELSE $20::int END,"
	" progress = $23::text, progress_bad = $24::int8,"
	" finished_at = CASE WHEN old.state = " STATE(CANCELLED)
	" THEN " PG_TS("$16") " ELSE " PG_TS("$12") " END,"
	" run_at = CASE WHEN old.state = " STATE(CANCELLED) " THEN run_at"
	"  ELSE coalesce(" PG_TS("$13") ", run_at) END,"
	" attempt = attempt + CASE WHEN old.state = " STATE(CANCELLED)
	" THEN 0 ELSE $14::int END, pid = NULL,"
	" node_id = NULL, node_epoch = NULL"
	" FROM old WHERE jobs.id = $1::int8"
	" AND old.state IN (" STATE(RUNNING) ", " STATE(CANCELLED) ")"
	" AND jobs.node_id = $17::int8 AND jobs.node_epoch = $18::int"
	" AND jobs.attempt = $19::int"
	" RETURNING old.state, jobs.qid),"
	" freed AS ("
	"  UPDATE queue_slots s SET job_id = NULL, node_id = NULL"
	"  FROM ended e, queues q WHERE q.id = e.qid AND s.qid = e.qid"
	"  AND s.job_id = $1::int8 AND s.slot <= q.global_concurrency),"
	" dropped AS ("
	"  DELETE FROM queue_slots s USING ended e, queues q"
	"  WHERE q.id = e.qid AND s.qid = e.qid AND s.job_id = $1::int8"
	"  AND s.slot > q.global_concurrency),"
	" orphan AS ("
	"  UPDATE queue_slots s SET job_id = NULL, node_id = NULL"
	"  WHERE s.job_id = $1::int8"
	"  AND NOT EXISTS (SELECT FROM jobs WHERE id = $1::int8))"
	"SELECT state FROM ended";

/* Only while the job is in state $5 (< 0: any); the row comes back when
 * it was. */
static const char sql_job_set_state[] =
	"UPDATE jobs SET state = $2::int2, reason = $3::int2,"
	" finished_at = " PG_TS("$4") ", pid = NULL WHERE id = $1::int8"
	" AND ($5::int < 0 OR state = $5::int) RETURNING id";

/*
 * A job back to queued, attempt 0, as SQLite's S_JOB_RETRY, unless another
 * live job of its uid holds its unique key: SQLite's update then fails on
 * the unique index, and this one would too, aborting the group
 * transaction.  So the statement looks first (held) and updates only when
 * the key is free, and the caller answers as SQLite does (E_STATE).  It
 * returns no row when there is no such job (nothing done, as in SQLite).
 * A key taken by another node's transaction not yet committed is not
 * seen: the update then waits for it and fails if it commits, which one
 * node alone never meets (its statements run one after another).
 */
static const char sql_job_retry[] =
	"WITH t AS ("
	"  SELECT j.id, j.state, j.unique_key IS NOT NULL AND EXISTS ("
	"   SELECT FROM jobs o WHERE o.uid = j.uid"
	"   AND o.unique_key = j.unique_key"
	"   AND o.state < " STATE(SUCCEEDED) " AND o.id <> j.id) AS held"
	"  FROM jobs j WHERE j.id = $1::int8),"
	" retried AS ("
	"  UPDATE jobs j SET state = " STATE(QUEUED) ","
	"   reason = " REASON(NONE) ", attempt = 0, recoveries = 0,"
	"   run_at = " PG_TS("$2") ", started_at = NULL,"
	"   finished_at = NULL, exit_code = NULL, signal = NULL,"
	"   error = NULL, pid = NULL, duration = NULL, truncated = false,"
	"   ru_user = NULL, ru_sys = NULL, ru_maxrss = NULL,"
	"   ru_mempeak = NULL, snoozes = 0, result = NULL,"
	"   result_error = NULL, progress = NULL, progress_bad = 0,"
	"   deps_left = 0"
	"  FROM t WHERE j.id = t.id AND NOT t.held"
	"  AND ($3::int < 0 OR t.state = $3::int)"
	"  RETURNING j.id)"
	"SELECT held, state FROM t";

/* clang-format on */

/* The hash SQLite's store files an environment under (store_job.c), so
 * that a database copied from SQLite finds its environments again: FNV-1a
 * over the compact, key-sorted JSON body. */
static uint64_t
env_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The texts of a job's insert that are encoded for it (owned; the
 * caller frees them after the statement ran). */
struct insert_texts {
	struct store_jobobj__texts j;
	char *env;
};

/* The parameters of sql_job_insert for j into a, its encoded texts into
 * t.  -1 with E_INTERNAL when the environment cannot be encoded. */
static int
insert_args(const struct store_job_new *j, struct store_pg__args *a,
	    struct insert_texts *t)
{
	const struct jobspec *sp = j->spec;

	memset(t, 0, sizeof(*t));
	if (sp->env != NULL) {
		t->env = json_dumps(sp->env, JSON_COMPACT | JSON_SORT_KEYS);
		if (t->env == NULL)
			return diag_set(E_INTERNAL, "env: cannot encode");
	}
	store_jobobj__texts(j, &t->j);
	store_pg__arg_int(a, j->qid);		    /* $1 */
	store_pg__arg_int(a, j->state);		    /* $2 */
	store_pg__arg_int(a, j->reason);	    /* $3 */
	store_pg__arg_int(a, sp->priority);	    /* $4 */
	store_pg__arg_int(a, j->run_at);	    /* $5 */
	store_pg__arg_int(a, j->created_at);	    /* $6 */
	store_pg__arg_int(a, j->max_attempts);	    /* $7 */
	store_pg__arg_double(a, j->timeout);	    /* $8 */
	store_pg__arg_double(a, j->kill_grace);	    /* $9 */
	store_pg__arg_double(a, j->backoff.base);   /* $10 */
	store_pg__arg_double(a, j->backoff.factor); /* $11 */
	store_pg__arg_double(a, j->backoff.max);    /* $12 */
	store_pg__arg_double(a, j->backoff.jitter); /* $13 */
	store_pg__arg_int(a, (int64_t)j->uid);	    /* $14 */
	store_pg__arg_text(a, sp->name);	    /* $15 */
	store_pg__arg_text(a, t->j.argv);	    /* $16 */
	store_pg__arg_text(a, sp->cwd);		    /* $17 */
	if (t->env != NULL)			    /* $18 */
		store_pg__arg_int(a, (int64_t)env_hash(t->env, strlen(t->env)));
	else
		store_pg__arg_null(a);
	store_pg__arg_text(a, t->env);	       /* $19 */
	store_pg__arg_text(a, sp->unique_key); /* $20 */
	store_pg__arg_int(a, sp->output);      /* $21 */
	store_pg__arg_int(a, j->deps_left);    /* $22 */
	store_pg__arg_text(a, t->j.deps);      /* $23 */
	if (jobd_state_is_terminal(j->state))  /* $24 */
		store_pg__arg_int(a, j->created_at);
	else
		store_pg__arg_null(a);
	store_pg__arg_text(a, t->j.limits); /* $25 */
	store_pg__arg_bool(a, sp->linger);  /* $26 */
	store_pg__arg_text(a, sp->shell);   /* $27 */
	if (j->snooze_exit > 0)		    /* $28 */
		store_pg__arg_int(a, j->snooze_exit);
	else
		store_pg__arg_null(a);
	if (j->snooze >= 0) /* $29 */
		store_pg__arg_double(a, j->snooze);
	else
		store_pg__arg_null(a);
	store_pg__arg_int(a, j->max_snoozes); /* $30 */
	store_pg__arg_text(a, t->j.labels);   /* $31 */
	if (sp->hook_of > 0)		      /* $32 */
		store_pg__arg_int(a, sp->hook_of);
	else
		store_pg__arg_null(a);
	if (sp->resubmitted_from > 0) /* $33 */
		store_pg__arg_int(a, sp->resubmitted_from);
	else
		store_pg__arg_null(a);
	store_pg__arg_int(a, store_jobobj__dep_cond(j)); /* $34 */
	store_pg__arg_int(a, j->dep_cond);		 /* $35 */
	return 0;
}

int
store__pg_job_insert(const struct store_job_new *j, int64_t *id)
{
	struct store_pg__args a = {0};
	struct insert_texts t;
	PGresult *r;
	int rc;

	if (insert_args(j, &a, &t) != 0)
		return -1;
	rc = store_pg__write("job insert", sql_job_insert, &a, &r);
	store_jobobj__texts_free(&t.j);
	free(t.env);
	if (rc != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_CONFLICT, "unique_key %s is in use",
				j->spec->unique_key ? j->spec->unique_key : "");
	}
	*id = store_pg__int(r, 0, 0);
	PQclear(r);
	return 0;
}

int
store__pg_job_find_unique(const char *key, uid_t uid, int64_t *id)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_text(&a, key);
	store_pg__arg_int(&a, (int64_t)uid);
	if (store_pg__read("unique", sql_job_unique, &a, &r) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_NOTFOUND, "no job with unique_key %s", key);
	}
	*id = store_pg__int(r, 0, 0);
	PQclear(r);
	return 0;
}

int
store__pg_job_brief(int64_t id, struct store_job_brief *b)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, id);
	if (store_pg__read("job brief", sql_job_brief, &a, &r) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	}
	b->id = store_pg__int(r, 0, 0);
	b->qid = store_pg__int(r, 0, 1);
	b->state = (int)store_pg__int(r, 0, 2);
	b->reason = (int)store_pg__int(r, 0, 3);
	b->uid = (uid_t)store_pg__int(r, 0, 4);
	b->attempt = (int)store_pg__int(r, 0, 5);
	b->max_attempts = (int)store_pg__int(r, 0, 6);
	b->run_at = store_pg__int(r, 0, 7);
	b->output_truncated = store_pg__bool(r, 0, 8);
	PQclear(r);
	return 0;
}

int
store__pg_job_check_deps(const int64_t *ids, size_t n, long uid_filter,
			 int64_t *missing, bool *failed, int *left)
{
	struct store_pg__args a = {0};
	struct buf b = BUF_INIT;
	PGresult *r;
	char *list;
	int rc;

	*missing = 0;
	*failed = false;
	*left = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%lld", i ? "," : "{", (long long)ids[i]);
	buf_puts(&b, "}");
	list = buf_detach(&b);
	store_pg__arg_text(&a, list);
	rc = store_pg__read("deps", sql_job_dep_states, &a, &r);
	free(list);
	if (rc != 0)
		return -1;
	/* As SQLite's loop: up to the first missing id, in the order
	 * given. */
	for (size_t i = 0; i < n && i < (size_t)PQntuples(r); i++) {
		int state = (int)store_pg__int(r, (int)i, 0);
		long uid = (long)store_pg__int(r, (int)i, 1);

		if (store_pg__null(r, (int)i, 0) ||
		    (uid_filter >= 0 && uid != uid_filter)) {
			*missing = ids[i];
			break;
		}
		if (state == JOBD_FAILED || state == JOBD_CANCELLED)
			*failed = true;
		else if (state != JOBD_SUCCEEDED)
			(*left)++;
	}
	PQclear(r);
	return 0;
}

int64_t
store__pg_job_max_id(void)
{
	PGresult *r;
	int64_t id;

	if (store_pg__read("max id", sql_job_max_id, NULL, &r) != 0)
		return 0;
	id = store_pg__int(r, 0, 0);
	PQclear(r);
	return id;
}

static char *
text_dup(const PGresult *r, int col)
{
	const char *t = store_pg__text(r, 0, col);

	return t != NULL ? xstrdup(t) : NULL;
}

int
store__pg_job_claim(int64_t qid, int64_t now, struct store_job_run *r)
{
	struct store_pg__args a = {0};
	PGresult *res;

	/* Fenced (epoch 0), in doubt, or never registered: no claim. */
	if (store_pg__node.epoch == 0 || store_pg__node.claims_paused)
		return diag_set(E_NOTFOUND, "no ready job: the node %s",
				store_pg__node.id == 0 ? "has not registered"
						       : "is fenced");
	store_pg__arg_int(&a, qid);
	store_pg__arg_int(&a, now);
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	store_pg__arg_text(&a, store_pg__node.name);
	if (store_pg__write("claim", sql_job_claim, &a, &res) != 0)
		return -1;
	if (PQntuples(res) == 0 || store_pg__null(res, 0, 0)) {
		bool one = PQntuples(res) > 0;
		bool ready = one && store_pg__bool(res, 0, 19);
		bool permit = one && store_pg__bool(res, 0, 20);
		bool token = one && store_pg__bool(res, 0, 21);

		/* How long, when the bucket says; 0 (not known) when a permit
		 * is missing or another node's transaction holds the
		 * bucket. */
		r->wait_ms = 0;
		if (permit && !token && !store_pg__null(res, 0, 22)) {
			r->wait_ms = store_pg__int(res, 0, 22);
			if (r->wait_ms < 1)
				r->wait_ms = 1;
		}
		PQclear(res);
		if (ready && (!permit || !token))
			return diag_set(E_BUSY, "queue %lld: %s",
					(long long)qid,
					!permit ? "no global permit free"
						: "no rate token");
		return diag_set(E_NOTFOUND, "no ready job");
	}
	memset(r, 0, sizeof(*r));
	r->id = store_pg__int(res, 0, 0);
	r->qid = store_pg__int(res, 0, 1);
	r->attempt = (int)store_pg__int(res, 0, 2);
	r->max_attempts = (int)store_pg__int(res, 0, 3);
	r->recoveries = (int)store_pg__int(res, 0, 4);
	r->uid = (uid_t)store_pg__int(res, 0, 5);
	r->argv = store_pg__json(res, 0, 6);
	r->shell = text_dup(res, 7);
	r->cwd = text_dup(res, 8);
	r->env = store_pg__json(res, 0, 9);
	r->timeout = store_pg__double(res, 0, 10);
	r->kill_grace = store_pg__double(res, 0, 11);
	r->backoff.base = store_pg__double(res, 0, 12);
	r->backoff.factor = store_pg__double(res, 0, 13);
	r->backoff.max = store_pg__double(res, 0, 14);
	r->backoff.jitter = store_pg__double(res, 0, 15);
	r->output = (int)store_pg__int(res, 0, 16);
	joblimits_load(store_pg__text(res, 0, 17), &r->limits);
	r->linger = store_pg__bool(res, 0, 18);
	r->snooze_exit = store_pg__null(res, 0, 23)
				 ? -1
				 : (int)store_pg__int(res, 0, 23);
	r->snooze = store_pg__null(res, 0, 24) ? -1
					       : store_pg__double(res, 0, 24);
	r->max_snoozes = (int)store_pg__int(res, 0, 25);
	r->snoozes = (int)store_pg__int(res, 0, 26);
	r->labels = labels_from_text(store_pg__text(res, 0, 27));
	r->started_at = now;
	PQclear(res);
	if (r->cwd == NULL)
		r->cwd = xstrdup("/");
	return 0;
}

int
store__pg_job_set_pid(int64_t id, int pid)
{
	struct store_pg__args a = {0};

	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, pid);
	/* Not awaited: the attempt goes on meanwhile (the pid matters to a
	 * restart's clean-up, once committed). */
	return store_pg__write_unawaited("set pid", sql_job_set_pid, &a);
}

int
store__pg_job_end_attempt(int64_t id, const struct store_job_end *e, int *was)
{
	struct store_pg__args a = {0};
	PGresult *r;
	int n;

	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, e->state);
	store_pg__arg_int(&a, e->reason);
	if (e->exit_code >= 0)
		store_pg__arg_int(&a, e->exit_code);
	else
		store_pg__arg_null(&a);
	if (e->signal > 0)
		store_pg__arg_int(&a, e->signal);
	else
		store_pg__arg_null(&a);
	store_pg__arg_text(&a, e->error);
	if (e->duration >= 0)
		store_pg__arg_double(&a, e->duration);
	else
		store_pg__arg_null(&a);
	store_pg__arg_bool(&a, e->output_truncated);
	store_pg__arg_double(&a, e->ru_user);
	store_pg__arg_double(&a, e->ru_sys);
	store_pg__arg_int(&a, e->max_rss_kb);
	if (e->finished_at > 0)
		store_pg__arg_int(&a, e->finished_at);
	else
		store_pg__arg_null(&a);
	if (e->run_at > 0)
		store_pg__arg_int(&a, e->run_at);
	else
		store_pg__arg_null(&a);
	store_pg__arg_int(&a, e->attempt_delta);
	if (e->memory_peak >= 0)
		store_pg__arg_int(&a, e->memory_peak);
	else
		store_pg__arg_null(&a);
	store_pg__arg_int(&a, e->now);
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	store_pg__arg_int(&a, e->attempt);
	store_pg__arg_int(&a, e->snooze_delta);
	store_pg__arg_text(&a, e->result);
	store_pg__arg_text(&a, e->result_error);
	store_pg__arg_text(&a, e->progress);
	store_pg__arg_int(&a, e->progress_bad);
	if (store_pg__write("job end", sql_job_end, &a, &r) != 0)
		return -1;
	n = PQntuples(r);
	*was = n > 0 ? (int)store_pg__int(r, 0, 0) : -1;
	PQclear(r);
	/* Only the attempt this incarnation runs (or ran, cancelled) can
	 * end: a job rescued or retried meanwhile is someone else's now. */
	if (n == 0)
		return diag_set(E_STATE,
				"job %lld attempt %d is no longer this "
				"node's to record (fenced: rescued, retried "
				"or gone)",
				(long long)id, e->attempt);
	return 0;
}

int
store__pg_job_set_state(int64_t id, int from, int state, int reason,
			int64_t now)
{
	struct store_pg__args a = {0};
	PGresult *r;
	int n;

	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, state);
	store_pg__arg_int(&a, reason);
	if (jobd_state_is_terminal(state))
		store_pg__arg_int(&a, now);
	else
		store_pg__arg_null(&a);
	store_pg__arg_int(&a, from);
	if (store_pg__write("set state", sql_job_set_state, &a, &r) != 0)
		return -1;
	n = PQntuples(r);
	PQclear(r);
	if (n == 0 && from >= 0)
		return diag_set(E_CONFLICT, "job %lld is no longer %s",
				(long long)id, jobd_state_name(from));
	return 0;
}

int
store__pg_job_retry(int64_t id, int from, int64_t now)
{
	struct store_pg__args a = {0};
	PGresult *r;
	bool held, moved;

	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, now);
	store_pg__arg_int(&a, from);
	if (store_pg__write("retry", sql_job_retry, &a, &r) != 0)
		return -1;
	held = PQntuples(r) > 0 && store_pg__bool(r, 0, 0);
	moved = PQntuples(r) > 0 && from >= 0 && store_pg__int(r, 0, 1) != from;
	PQclear(r);
	if (moved)
		return diag_set(E_CONFLICT, "job %lld is no longer %s",
				(long long)id, jobd_state_name(from));
	/* What SQLite answers when its update fails on the unique index. */
	if (held)
		return diag_set(E_STATE,
				"job %lld: its unique_key is held by "
				"another job that has not finished",
				(long long)id);
	return 0;
}
