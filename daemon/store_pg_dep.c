/*
 * store, PostgreSQL backend: the rows of jobs around their attempts:
 * scheduled jobs promoted when due, dependents released or cancelled when
 * a job ends, the pids and the recovery of running jobs at start, and the
 * pruning of old finished jobs.  Each call is one statement, so no other
 * coroutine's statement can come between its read and its write; SQLite's
 * functions (store_job.c) are the reference for what each does, and in
 * which order it reports.  Callbacks run once the rows are read, never
 * while a statement is pending.
 */
#include "store_pg.h"

#include <stdlib.h>

#include "buf.h"
#include "diag.h"
#include "jobd/proto.h"
#include "store_sqlnum.h"
#include "xmem.h"

/* The one reason only these statements name. */
#define SQL_REASON_DEPENDENCY_FAILED 6
_Static_assert(SQL_REASON_DEPENDENCY_FAILED == JOBD_REASON_DEPENDENCY_FAILED,
	       "REASON(DEPENDENCY_FAILED)");
#define SQL_REASON_NOT_NEEDED 13
_Static_assert(SQL_REASON_NOT_NEEDED == JOBD_REASON_NOT_NEEDED,
	       "REASON(NOT_NEEDED)");

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the STATE() macros. */
/* clang-format off */

/* Scheduled jobs due by $1 become queued, reported by id (as SQLite's
 * update reports them).  Rows another transaction holds are left to it:
 * they are promoted by whoever holds them, or next time. */
static const char sql_promote[] =
	"WITH due AS (SELECT id FROM jobs WHERE state = " STATE(SCHEDULED)
	"  AND run_at <= " PG_TS("$1")
	"  ORDER BY run_at, id FOR UPDATE SKIP LOCKED),"
	" moved AS (UPDATE jobs j SET state = " STATE(QUEUED)
	"  FROM due WHERE j.id = due.id AND j.state = " STATE(SCHEDULED)
	"  RETURNING j.id, j.qid)"
	" SELECT id, qid FROM moved ORDER BY id";

static const char sql_next_due[] =
	"SELECT " PG_MS("min(run_at)") " FROM jobs"
	" WHERE state = " STATE(SCHEDULED);

/* The jobs of $1 ("{1,2}") ended, all succeeded ($3 true) or all failed
 * or cancelled: each waiting dependent counts those its condition counts
 * (after: successes only; after_any and after_failed: any end), and one
 * with none left becomes scheduled (run_at later than $2) or queued, or,
 * after_failed with no failure among its dependencies, cancelled with
 * reason not_needed, in one update, so two dependencies ending at once
 * cannot both read the same count.  A failure marks every row of an
 * after_failed dependent met; the rows the update reads are those from
 * before, so it takes a failure ($3 false) as met.  Returns the jobs
 * moved, by id. */
static const char sql_deps_ended[] =
	"WITH met AS (UPDATE deps SET cond = " DEP(FAILED_MET)
	"  WHERE NOT $3::bool AND cond = " DEP(FAILED) " AND job_id IN"
	"  (SELECT d.job_id FROM deps d JOIN jobs j ON j.id = d.job_id"
	"   WHERE d.dep_id = ANY($1::int8[]) AND d.cond = " DEP(FAILED)
	"   AND j.state = " STATE(WAITING) ")),"
	" cnt AS (SELECT job_id, count(*) AS n FROM deps"
	"  WHERE dep_id = ANY($1::int8[])"
	"  AND ($3::bool OR cond <> " DEP(AFTER) ") GROUP BY job_id),"
	" dec AS (SELECT j.id, j.deps_left - c.n AS left,"
	"  $3::bool AND EXISTS (SELECT FROM deps x WHERE x.job_id = j.id"
	"   AND x.cond = " DEP(FAILED) ") AS unmet"
	"  FROM jobs j JOIN cnt c ON c.job_id = j.id"
	"  WHERE j.state = " STATE(WAITING) " FOR UPDATE OF j),"
	" moved AS (UPDATE jobs j SET deps_left = dec.left,"
	"  state = CASE WHEN dec.left > 0 THEN " STATE(WAITING)
	"   WHEN dec.unmet THEN " STATE(CANCELLED)
	"   WHEN j.run_at > " PG_TS("$2") " THEN " STATE(SCHEDULED)
	"   ELSE " STATE(QUEUED) " END,"
	"  reason = CASE WHEN dec.left <= 0 AND dec.unmet"
	"   THEN " REASON(NOT_NEEDED) " ELSE j.reason END,"
	"  finished_at = CASE WHEN dec.left <= 0 AND dec.unmet"
	"   THEN " PG_TS("$2") " ELSE j.finished_at END"
	"  FROM dec WHERE j.id = dec.id AND j.state = " STATE(WAITING)
	"  RETURNING j.id, j.qid, j.state)"
	" SELECT id, qid, state FROM moved WHERE state <> " STATE(WAITING)
	" ORDER BY id";

/* Job $1 failed or was cancelled: its `after` dependents that have not
 * started, theirs, and so on, are cancelled (finished at $2).  `hit` is
 * every such dependency edge into such a job (the job's state as it was
 * read); a job reached by several edges is updated once.  Returns each
 * edge into a job cancelled, sorted by (dependency, job): the caller
 * walks them from $1 to report in SQLite's order. */
static const char sql_deps_failed[] =
	"WITH RECURSIVE hit (dep_id, job_id, state) AS ("
	"  SELECT d.dep_id, d.job_id, j.state FROM deps d"
	"  JOIN jobs j ON j.id = d.job_id"
	"  WHERE d.dep_id = $1 AND d.cond = " DEP(AFTER)
	"  AND j.state < " STATE(RUNNING)
	"  UNION SELECT d.dep_id, d.job_id, j.state FROM hit h"
	"  JOIN deps d ON d.dep_id = h.job_id JOIN jobs j ON j.id = d.job_id"
	"  WHERE d.cond = " DEP(AFTER) " AND j.state < " STATE(RUNNING) "),"
	" gone AS (UPDATE jobs j SET state = " STATE(CANCELLED) ","
	"  reason = " REASON(DEPENDENCY_FAILED) ","
	"  finished_at = " PG_TS("$2") ", pid = NULL"
	"  FROM (SELECT DISTINCT job_id, state FROM hit) h"
	"  WHERE j.id = h.job_id AND j.state < " STATE(RUNNING)
	"  RETURNING j.id, j.qid, h.state AS was)"
	" SELECT h.dep_id, g.id, g.qid, g.was FROM gone g"
	" JOIN hit h ON h.job_id = g.id ORDER BY h.dep_id, g.id";

/* The attempts this node's earlier incarnations (node $1, epochs below
 * $2) ran, and any running job without an owner (claimed before nodes had
 * owners). */
static const char sql_running_pids[] =
	"SELECT id, pid FROM jobs WHERE pid IS NOT NULL"
	" AND ((node_id = $1::int8 AND node_epoch < $2::int"
	"   AND state IN (" STATE(RUNNING) ", " STATE(CANCELLED) "))"
	"  OR (node_id IS NULL AND state = " STATE(RUNNING) "))"
	" ORDER BY id";

/* The running jobs of this node's earlier incarnations (node $3, epochs
 * below $4), and any without an owner, go back to queued (the attempt
 * given back, reason recovered), or past $2 recoveries to failed
 * (recovery_limit, finished at $1); jobs cancelled while such an
 * incarnation ran them lose their owner.  Reported by id. */
static const char sql_recover[] =
	"WITH cx AS (UPDATE jobs SET node_id = NULL, node_epoch = NULL,"
	"  pid = NULL WHERE node_id = $3::int8 AND node_epoch < $4::int"
	"  AND state <> " STATE(RUNNING) "),"
	" back AS (UPDATE jobs SET "
	PG_SET_RECOVERED("$2", PG_TS("$1"))
	"  WHERE state = " STATE(RUNNING)
	"  AND ((node_id = $3::int8 AND node_epoch < $4::int)"
	"   OR node_id IS NULL) RETURNING id, qid, state),"
	/* Their global permits go back; so do this node's other permits
	 * (or ones of no node) whose job does not run: cancelled while it
	 * ran here, or pruned since, its end never recorded. */
	" freed AS (UPDATE queue_slots s SET job_id = NULL, node_id = NULL"
	"  FROM back b WHERE s.qid = b.qid AND s.job_id = b.id),"
	" stale AS (UPDATE queue_slots s SET job_id = NULL, node_id = NULL"
	"  WHERE s.job_id IS NOT NULL"
	"  AND (s.node_id = $3::int8 OR s.node_id IS NULL)"
	"  AND NOT EXISTS (SELECT FROM jobs j WHERE j.id = s.job_id"
	"   AND j.state = " STATE(RUNNING) "))"
	" SELECT id, qid, state FROM back ORDER BY id";

/* Finished jobs that ended before $1, of queue $2 (< 0: any), the oldest
 * first, at most $3 (NULL: all); with them their own deps rows, by the
 * whole key (each dependency named in their stored depends_on, whatever
 * brackets surround the numbers), and their specs and attempts by their
 * foreign keys.  Rows another transaction holds are left for next time. */
#define PRUNE_OLD \
	"WITH old AS (SELECT id FROM jobs WHERE state >= " STATE(SUCCEEDED) \
	"  AND finished_at < " PG_TS("$1") \
	"  AND ($2::int8 < 0 OR qid = $2::int8)" \
	"  ORDER BY finished_at, id LIMIT $3::int8 FOR UPDATE SKIP LOCKED),"
/* A retention rule's: queue $2's jobs that ended in state $4 before $1
 * (jobs_ended). */
#define PRUNE_OLD_STATE \
	"WITH old AS (SELECT id FROM jobs WHERE qid = $2::int8" \
	"  AND state = $4::int AND state >= " STATE(SUCCEEDED) \
	"  AND finished_at < " PG_TS("$1") \
	"  ORDER BY finished_at, id LIMIT $3::int8 FOR UPDATE SKIP LOCKED),"
/* keep_last's: queue $2's finished jobs past its $1 most recent, by end
 * time then id (jobs_ended_last).  The cut is read without locks, so a
 * row another node holds neither counts nor shifts it. */
#define PRUNE_OLD_KEEP \
	"WITH cut AS (SELECT finished_at, id FROM jobs WHERE qid = $2::int8" \
	"  AND state >= " STATE(SUCCEEDED) \
	"  ORDER BY finished_at DESC, id DESC OFFSET $1::int8 LIMIT 1)," \
	" old AS (SELECT j.id FROM jobs j, cut WHERE j.qid = $2::int8" \
	"  AND j.state >= " STATE(SUCCEEDED) \
	"  AND (j.finished_at, j.id) <= (cut.finished_at, cut.id)" \
	"  ORDER BY j.finished_at, j.id LIMIT $3::int8" \
	"  FOR UPDATE OF j SKIP LOCKED),"
#define PRUNE_DELETE \
	" spec AS (SELECT s.job_id, s.depends_on FROM job_specs s" \
	"  JOIN old ON old.id = s.job_id WHERE s.depends_on IS NOT NULL)," \
	" undep AS (DELETE FROM deps d USING spec s," \
	"  regexp_matches(s.depends_on, '[0-9]+', 'g') AS x(m)" \
	"  WHERE d.job_id = s.job_id AND d.dep_id = x.m[1]::int8)," \
	" gone AS (DELETE FROM jobs j USING old WHERE j.id = old.id" \
	"  AND j.state >= " STATE(SUCCEEDED) \
	"  RETURNING j.id, j.qid, j.state, j.attempt, j.finished_at)" \
	" SELECT id, qid, state, attempt FROM gone ORDER BY finished_at, id"
static const char sql_prune[] = PRUNE_OLD PRUNE_DELETE;
static const char sql_prune_state[] = PRUNE_OLD_STATE PRUNE_DELETE;
static const char sql_prune_keep[] = PRUNE_OLD_KEEP PRUNE_DELETE;

/* clang-format on */

int
store__pg_job_promote_due(int64_t now, store_job_fn fn, void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, now);
	if (store_pg__write("promote", sql_promote, &a, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), store_pg__int(r, i, 1),
		   JOBD_SCHEDULED, JOBD_QUEUED, arg);
	PQclear(r);
	return 0;
}

int
store__pg_job_next_due(int64_t *run_at)
{
	PGresult *r;
	int rc;

	if (store_pg__read("next due", sql_next_due, NULL, &r) != 0)
		return -1;
	if (PQntuples(r) == 1 && !store_pg__null(r, 0, 0)) {
		*run_at = store_pg__int(r, 0, 0);
		rc = 0;
	} else {
		rc = diag_set(E_NOTFOUND, "nothing scheduled");
	}
	PQclear(r);
	return rc;
}

/* An edge of the cancelled jobs' graph: job waited for dep. */
struct edge {
	int64_t dep, job, qid;
	int was; /* job's state before */
};

/* The first edge out of dep in e (n edges sorted by dep), or n. */
static size_t
edges_from(const struct edge *e, size_t n, int64_t dep)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e[mid].dep < dep)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A job cancelled: its id, queue and state before, and whether the walk
 * reached it yet. */
struct gone {
	int64_t id, qid;
	int was;
	bool seen;
};

static int
cmp_gone(const void *x, const void *y)
{
	int64_t a = ((const struct gone *)x)->id;
	int64_t b = ((const struct gone *)y)->id;

	return a < b ? -1 : a > b;
}

/* Reports the cancelled jobs in the order SQLite's walk cancels them:
 * depth first from root, each job's dependents by id, each job once, when
 * first reached.  e holds n edges sorted by (dep, job).  No recursion: a
 * chain may be long and a coroutine's stack is small.  Does not yield. */
static void
report_cancelled(int64_t root, const struct edge *e, size_t n, store_job_fn fn,
		 void *arg)
{
	struct gone *g = xreallocarray(NULL, n + 1, sizeof(*g));
	int64_t *stack = xreallocarray(NULL, n + 1, sizeof(*stack));
	size_t ng = 0, sp = 0;

	/* The distinct jobs, sorted by id, to mark each one reached. */
	for (size_t i = 0; i < n; i++)
		g[i] = (struct gone){
			.id = e[i].job, .qid = e[i].qid, .was = e[i].was};
	qsort(g, n, sizeof(*g), cmp_gone);
	for (size_t i = 0; i < n; i++)
		if (ng == 0 || g[ng - 1].id != g[i].id)
			g[ng++] = g[i];
	/* Each edge is pushed once, when its dependency is first reached, so
	 * the stack holds at most n + 1. */
	stack[sp++] = root;
	while (sp > 0) {
		int64_t x = stack[--sp];
		size_t first, last;

		if (x != root) {
			struct gone key = {.id = x}, *k;

			k = bsearch(&key, g, ng, sizeof(*g), cmp_gone);
			if (k == NULL || k->seen)
				continue;
			k->seen = true;
			fn(k->id, k->qid, k->was, JOBD_CANCELLED, arg);
		}
		first = edges_from(e, n, x);
		for (last = first; last < n && e[last].dep == x; last++)
			;
		while (last > first)
			stack[sp++] = e[--last].job;
	}
	/* A job the walk cannot reach (one between was changed by another
	 * transaction meanwhile, so not cancelled here) is still reported. */
	for (size_t i = 0; i < ng; i++)
		if (!g[i].seen)
			fn(g[i].id, g[i].qid, g[i].was, JOBD_CANCELLED, arg);
	free(stack);
	free(g);
}

/* The ids of a set of ended jobs, as "{1,2}" for sql_deps_ended. */
struct ended {
	struct buf b;
	size_t n;
};

static void
ended_add(struct ended *e, int64_t id)
{
	buf_printf(&e->b, "%s%lld", e->n++ ? "," : "{", (long long)id);
}

/* The after dependents of id cancelled (and theirs), reported, each added
 * to e. */
static int
cancel_after(int64_t id, int64_t now, struct ended *e, store_job_fn fn,
	     void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, now);
	if (store_pg__write("deps failed", sql_deps_failed, &a, &r) != 0)
		return -1;

	size_t n = (size_t)PQntuples(r);
	struct edge *ed = xreallocarray(NULL, n + 1, sizeof(*ed));

	for (size_t i = 0; i < n; i++) {
		ed[i].dep = store_pg__int(r, (int)i, 0);
		ed[i].job = store_pg__int(r, (int)i, 1);
		ed[i].qid = store_pg__int(r, (int)i, 2);
		ed[i].was = (int)store_pg__int(r, (int)i, 3);
		ended_add(e, ed[i].job);
	}
	PQclear(r);
	report_cancelled(id, ed, n, fn, arg);
	free(ed);
	return 0;
}

/* The jobs in e ended (succeeded or not): their after_any and
 * after_failed dependents (and, when they succeeded, after ones) count
 * them.  The jobs cancelled as not needed are pushed on *todo (*ntodo of
 * them, room for *cap). */
static int
count_ended(struct ended *e, bool succeeded, int64_t now, store_job_fn fn,
	    void *arg, int64_t **todo, size_t *ntodo, size_t *cap)
{
	struct store_pg__args a = {0};
	PGresult *r;
	char *list;
	int rc;

	buf_puts(&e->b, "}");
	list = buf_detach(&e->b);
	store_pg__arg_text(&a, list);
	store_pg__arg_int(&a, now);
	store_pg__arg_bool(&a, succeeded);
	rc = store_pg__write("deps ended", sql_deps_ended, &a, &r);
	free(list);
	if (rc != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t id = store_pg__int(r, i, 0);
		int state = (int)store_pg__int(r, i, 2);

		fn(id, store_pg__int(r, i, 1), JOBD_WAITING, state, arg);
		if (state != JOBD_CANCELLED)
			continue;
		if (*ntodo == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			*todo = xreallocarray(*todo, *cap, sizeof(**todo));
		}
		(*todo)[(*ntodo)++] = id;
	}
	PQclear(r);
	return 0;
}

int
store__pg_job_resolve_dependents(int64_t id, bool succeeded, int64_t now,
				 store_job_fn fn, void *arg)
{
	int64_t *todo = NULL;
	size_t ntodo = 0, cap = 0;
	int rc = -1;

	/* Each job cancelled here ends too: its dependents are resolved
	 * in turn, from a list rather than by recursion, as a chain may be
	 * long and a coroutine's stack is small. */
	for (;;) {
		struct ended e = {.b = BUF_INIT};

		if (succeeded) {
			ended_add(&e, id);
		} else {
			ended_add(&e, id);
			if (cancel_after(id, now, &e, fn, arg) != 0) {
				free(buf_detach(&e.b));
				goto out;
			}
		}
		if (count_ended(&e, succeeded, now, fn, arg, &todo, &ntodo,
				&cap) != 0)
			goto out;
		if (ntodo == 0)
			break;
		id = todo[--ntodo];
		succeeded = false;
	}
	rc = 0;
out:
	free(todo);
	return rc;
}

int
store__pg_job_running_pids(store_pid_fn fn, void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	if (store_pg__read("running pids", sql_running_pids, &a, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), (int)store_pg__int(r, i, 1), arg);
	PQclear(r);
	return 0;
}

int
store__pg_job_recover(int64_t now, int max_recoveries, store_job_fn fn,
		      void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, now);
	store_pg__arg_int(&a, max_recoveries);
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	if (store_pg__write("recover", sql_recover, &a, &r) != 0)
		return -1;
	store_pg__report_recovered(r, fn, arg);
	PQclear(r);
	return 0;
}

void
store_pg__report_recovered(const PGresult *r, store_job_fn fn, void *arg)
{
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), store_pg__int(r, i, 1), JOBD_RUNNING,
		   (int)store_pg__int(r, i, 2), arg);
}

int
store__pg_job_prune(int64_t before, int64_t qid, int64_t limit,
		    store_prune_fn fn, void *arg, int64_t *n)
{
	struct store_pg__args a = {0};
	PGresult *r;

	*n = 0;
	store_pg__arg_int(&a, before);
	store_pg__arg_int(&a, qid);
	if (limit > 0)
		store_pg__arg_int(&a, limit);
	else
		store_pg__arg_null(&a);
	if (store_pg__write("prune", sql_prune, &a, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), store_pg__int(r, i, 1),
		   (int)store_pg__int(r, i, 2), (int)store_pg__int(r, i, 3),
		   arg);
	*n = PQntuples(r);
	PQclear(r);
	return 0;
}

int
store__pg_job_prune_rule(const struct store_prune_rule *rule, int64_t limit,
			 store_prune_fn fn, void *arg, int64_t *n)
{
	struct store_pg__args a = {0};
	PGresult *r;

	*n = 0;
	store_pg__arg_int(&a, rule->keep > 0 ? rule->keep : rule->before);
	store_pg__arg_int(&a, rule->qid);
	if (limit > 0)
		store_pg__arg_int(&a, limit);
	else
		store_pg__arg_null(&a);
	if (rule->keep <= 0)
		store_pg__arg_int(&a, rule->state);
	if (store_pg__write("prune",
			    rule->keep > 0 ? sql_prune_keep : sql_prune_state,
			    &a, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), store_pg__int(r, i, 1),
		   (int)store_pg__int(r, i, 2), (int)store_pg__int(r, i, 3),
		   arg);
	*n = PQntuples(r);
	PQclear(r);
	return 0;
}
