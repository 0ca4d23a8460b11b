/*
 * store, PostgreSQL backend: the rows of queues and producers, and the job
 * counts per queue and state, as store_queue.c keeps them in SQLite.  A
 * queue's global permits (queue_slots, one row per permit up to
 * global_concurrency) and its token bucket (queue_rate, when it has a
 * rate) are made and changed with it; the claim and the end of an attempt
 * (store_pg_job.c) take and give them back.  The counts are the sums of
 * queue_counts over the nodes, which the schema's triggers keep, never a
 * count of the jobs.
 *
 * Each call is one statement, so nothing of another coroutine comes
 * between its parts; an expected outcome (a name taken, no such row) is
 * read from the rows returned, never raised.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "joblimits.h"
#include "queue_conf.h"
#include "store_sqlnum.h"

/* ---- queues ---- */

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the STATE() macros. */
/* clang-format off */

/* Parameters $2..$15 of the insert and the update are bind_queue's; the
 * queue's labels are the last (the text of labels_to_text, NULL: none). */
static const char queue_all[] =
	"SELECT id, name, concurrency, rate_limit, rate_period, rate_burst,"
	" capacity, paused, timeout, kill_grace, max_attempts, b_base,"
	" b_factor, b_max, b_jitter, limits, global_concurrency,"
	" snooze_exit, snooze, max_snoozes, labels, hooks, retention,"
	" retention_succeeded, retention_failed, retention_cancelled,"
	" keep_last FROM queues ORDER BY id";
/* The permits 1..global_concurrency, and a full bucket when the queue has
 * a rate (per second: limit / period; burst: the limit when none). */
static const char queue_insert[] =
	"WITH q AS ("
	"  INSERT INTO queues (name, concurrency, rate_limit, rate_period,"
	"   rate_burst, capacity, timeout, kill_grace, max_attempts, b_base,"
	"   b_factor, b_max, b_jitter, limits, global_concurrency, paused,"
	"   snooze_exit, snooze, max_snoozes, labels, hooks, retention,"
	"   retention_succeeded, retention_failed, retention_cancelled,"
	"   keep_last)"
	"  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
	"   $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
	"  ON CONFLICT DO NOTHING"
	"  RETURNING id, global_concurrency AS gc, rate_limit AS lim,"
	"   rate_period AS per, CASE WHEN rate_burst > 0 THEN rate_burst"
	"   ELSE rate_limit END AS burst),"
	" slots AS ("
	"  INSERT INTO queue_slots (qid, slot)"
	"  SELECT q.id, g FROM q, generate_series(1, q.gc) AS g),"
	" bucket AS ("
	"  INSERT INTO queue_rate (qid, per_sec, burst, tokens, tokens_at)"
	"  SELECT id, lim / per, burst, burst, clock_timestamp() FROM q"
	"  WHERE lim > 0)"
	"SELECT id FROM q";
/*
 * Permits added up to global_concurrency; free ones above it deleted (one
 * held there is deleted by the end of its attempt, and until then no
 * claim takes a permit: see sql_job_claim).  The bucket follows the rate:
 * made full, deleted with it, or changed keeping its tokens (refilled at
 * the old rate up to now, then capped to the new burst) as
 * ratelimit_reconfigure does; left alone when nothing of it changed, so
 * nodes applying the same file do not refill it.
 */
static const char queue_update[] =
	"WITH q AS ("
	"  UPDATE queues SET concurrency = $2, rate_limit = $3,"
	"   rate_period = $4, rate_burst = $5, capacity = $6, timeout = $7,"
	"   kill_grace = $8, max_attempts = $9, b_base = $10, b_factor = $11,"
	"   b_max = $12, b_jitter = $13, limits = $14,"
	"   global_concurrency = $15, snooze_exit = $16, snooze = $17,"
	"   max_snoozes = $18, labels = $19, hooks = $20, retention = $21,"
	"   retention_succeeded = $22, retention_failed = $23,"
	"   retention_cancelled = $24, keep_last = $25 WHERE id = $1"
	"  RETURNING id, global_concurrency AS gc, rate_limit AS lim,"
	"   rate_period AS per, CASE WHEN rate_burst > 0 THEN rate_burst"
	"   ELSE rate_limit END AS burst),"
	" slots AS ("
	"  INSERT INTO queue_slots (qid, slot)"
	"  SELECT q.id, g FROM q, generate_series(1, q.gc) AS g"
	"  ON CONFLICT DO NOTHING),"
	" unslot AS ("
	"  DELETE FROM queue_slots s USING q WHERE s.qid = q.id"
	"  AND s.slot > q.gc AND s.job_id IS NULL),"
	" unrate AS ("
	"  DELETE FROM queue_rate r USING q WHERE r.qid = q.id AND q.lim <= 0),"
	" bucket AS ("
	"  INSERT INTO queue_rate AS r (qid, per_sec, burst, tokens, tokens_at)"
	"  SELECT id, lim / per, burst, burst, clock_timestamp() FROM q"
	"  WHERE lim > 0"
	"  ON CONFLICT (qid) DO UPDATE SET per_sec = excluded.per_sec,"
	"   burst = excluded.burst,"
	"   tokens = least(excluded.burst, r.tokens + r.per_sec * greatest(0,"
	"    extract(epoch FROM clock_timestamp() - r.tokens_at))),"
	"   tokens_at = greatest(r.tokens_at, clock_timestamp())"
	"  WHERE r.per_sec <> excluded.per_sec OR r.burst <> excluded.burst)"
	"SELECT id FROM q";
static const char queue_pause[] = "UPDATE queues SET paused = $2 WHERE id = $1";
/* The queue's settings per node, permits and bucket go with it (foreign
 * keys); its counts have none, so the statement deletes them too. */
static const char queue_delete[] =
	"WITH counts AS (DELETE FROM queue_counts WHERE qid = $1)"
	" DELETE FROM queues WHERE id = $1";
/* Zero sums are left out, as a count of the jobs would have no group for
 * them. */
static const char counts[] =
	"SELECT qid, state, sum(n)::int8 FROM queue_counts"
	" GROUP BY qid, state HAVING sum(n) <> 0 ORDER BY qid, state";
/* The queue's row locked first, by a statement of its own: the count,
 * another statement, takes its snapshot after the lock was granted, so it
 * sees the jobs of a submit that held the lock and committed.  NO KEY
 * UPDATE: capacity checks wait for each other, and the permits' and
 * bucket's foreign keys do not wait for them. */
static const char queue_lock[] =
	"SELECT id FROM queues WHERE id = $1 FOR NO KEY UPDATE";
static const char queue_pending[] =
	"SELECT coalesce(sum(n), 0)::int8 FROM queue_counts WHERE qid = $1"
	" AND state IN (" STATE(WAITING) ", " STATE(SCHEDULED) ", "
	STATE(QUEUED) ")";

/* clang-format on */

int
store__pg_queue_each(store_queue_fn fn, void *arg)
{
	PGresult *r;
	int rc = 0;

	if (store_pg__read("queue list", queue_all, NULL, &r) != 0)
		return -1;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_queue q;
		const char *name = store_pg__text(r, i, 1);

		memset(&q, 0, sizeof(q));
		q.id = store_pg__int(r, i, 0);
		queue_conf_init(&q.conf, name ? name : "");
		q.conf.concurrency = (int)store_pg__int(r, i, 2);
		q.conf.rate_limit = store_pg__double(r, i, 3);
		q.conf.rate_period = store_pg__double(r, i, 4);
		q.conf.rate_burst = store_pg__double(r, i, 5);
		q.conf.capacity = store_pg__int(r, i, 6);
		q.paused = store_pg__bool(r, i, 7);
		q.conf.timeout = store_pg__double(r, i, 8);
		q.conf.kill_grace = store_pg__double(r, i, 9);
		q.conf.max_attempts = (int)store_pg__int(r, i, 10);
		q.conf.backoff.base = store_pg__double(r, i, 11);
		q.conf.backoff.factor = store_pg__double(r, i, 12);
		q.conf.backoff.max = store_pg__double(r, i, 13);
		q.conf.backoff.jitter = store_pg__double(r, i, 14);
		joblimits_load(store_pg__text(r, i, 15), &q.conf.limits);
		q.conf.global_concurrency = (int)store_pg__int(r, i, 16);
		q.conf.snooze_exit = (int)store_pg__int(r, i, 17);
		q.conf.snooze = store_pg__double(r, i, 18);
		q.conf.max_snoozes = (int)store_pg__int(r, i, 19);
		labels_load(store_pg__text(r, i, 20), &q.conf.labels);
		queue_conf_hooks_load(&q.conf, store_pg__text(r, i, 21));
		q.conf.retention = store_pg__double(r, i, 22);
		for (int k = 0; k < 3; k++)
			q.conf.retention_by[k] = store_pg__double(r, i, 23 + k);
		q.conf.keep_last = store_pg__int(r, i, 26);
		if (fn(&q, arg) != 0)
			rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Appends a queue's settings to a, twelve numbers, its limits (the text
 * of joblimits_to_json, NULL when none set), which the caller frees once
 * the statement ran, then its global_concurrency. */
static char *
bind_queue(struct store_pg__args *a, const struct queue_conf *qc)
{
	char *limits = NULL;

	store_pg__arg_int(a, qc->concurrency);
	store_pg__arg_double(a, qc->rate_limit);
	store_pg__arg_double(a, qc->rate_period);
	store_pg__arg_double(a, qc->rate_burst);
	store_pg__arg_int(a, qc->capacity);
	store_pg__arg_double(a, qc->timeout);
	store_pg__arg_double(a, qc->kill_grace);
	store_pg__arg_int(a, qc->max_attempts);
	store_pg__arg_double(a, qc->backoff.base);
	store_pg__arg_double(a, qc->backoff.factor);
	store_pg__arg_double(a, qc->backoff.max);
	store_pg__arg_double(a, qc->backoff.jitter);
	if (!joblimits_is_empty(&qc->limits)) {
		json_t *o = joblimits_to_json(&qc->limits);

		limits = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	store_pg__arg_text(a, limits);
	store_pg__arg_int(a, qc->global_concurrency);
	return limits;
}

/* Appends a queue's snooze settings to a: snooze_exit, snooze,
 * max_snoozes. */
static void
bind_snooze(struct store_pg__args *a, const struct queue_conf *qc)
{
	store_pg__arg_int(a, qc->snooze_exit);
	store_pg__arg_double(a, qc->snooze);
	store_pg__arg_int(a, qc->max_snoozes);
}

/* Appends a queue's retention to a: retention, by state (succeeded,
 * failed, cancelled), keep_last. */
static void
bind_retention(struct store_pg__args *a, const struct queue_conf *qc)
{
	store_pg__arg_double(a, qc->retention);
	for (int i = 0; i < 3; i++)
		store_pg__arg_double(a, qc->retention_by[i]);
	store_pg__arg_int(a, qc->keep_last);
}

int
store__pg_queue_insert(const struct queue_conf *qc, bool paused, int64_t *id)
{
	struct store_pg__args a = {0};
	PGresult *r;
	char *limits, *labels = labels_to_text(&qc->labels);
	char *hooks = queue_conf_hooks_text(qc);
	int rc;

	store_pg__arg_text(&a, qc->name);
	limits = bind_queue(&a, qc);
	store_pg__arg_bool(&a, paused);
	bind_snooze(&a, qc);
	store_pg__arg_text(&a, labels); /* $20 */
	store_pg__arg_text(&a, hooks);	/* $21 */
	bind_retention(&a, qc);
	rc = store_pg__write("queue insert", queue_insert, &a, &r);
	free(limits);
	free(labels);
	free(hooks);
	if (rc != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_CONFLICT, "queue %s exists", qc->name);
	}
	*id = store_pg__int(r, 0, 0);
	PQclear(r);
	return 0;
}

int
store__pg_queue_update(int64_t id, const struct queue_conf *qc)
{
	struct store_pg__args a = {0};
	char *limits, *labels = labels_to_text(&qc->labels);
	char *hooks = queue_conf_hooks_text(qc);
	int rc;

	store_pg__arg_int(&a, id);
	limits = bind_queue(&a, qc);
	bind_snooze(&a, qc);
	store_pg__arg_text(&a, labels); /* $19 */
	store_pg__arg_text(&a, hooks);	/* $20 */
	bind_retention(&a, qc);
	rc = store_pg__write("queue update", queue_update, &a, NULL);
	free(limits);
	free(labels);
	free(hooks);
	return rc;
}

int
store__pg_queue_set_paused(int64_t id, bool paused)
{
	struct store_pg__args a = {0};

	store_pg__arg_int(&a, id);
	store_pg__arg_bool(&a, paused);
	return store_pg__write("queue pause", queue_pause, &a, NULL);
}

int
store__pg_queue_delete(int64_t id)
{
	struct store_pg__args a = {0};

	store_pg__arg_int(&a, id);
	return store_pg__write("queue delete", queue_delete, &a, NULL);
}

int
store__pg_queue_pending(int64_t qid, int64_t *n)
{
	struct store_pg__args a = {0};
	PGresult *r;

	int rc = -1;

	*n = 0;
	store_pg__arg_int(&a, qid);
	/* No commit between the two: the count is made under the lock. */
	if (store_hold() != 0)
		return -1;
	if (store_pg__write("queue lock", queue_lock, &a, NULL) == 0 &&
	    store_pg__write("queue pending", queue_pending, &a, &r) == 0) {
		*n = store_pg__int(r, 0, 0);
		PQclear(r);
		rc = 0;
	}
	store_unhold();
	return rc;
}

int
store__pg_count_each(store_count_fn fn, void *arg)
{
	PGresult *r;

	if (store_pg__read("counts", counts, NULL, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), (int)store_pg__int(r, i, 1),
		   store_pg__int(r, i, 2), arg);
	PQclear(r);
	return 0;
}

/* ---- producers ---- */

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the PG_TS() and PG_MS() macros. */
/* clang-format off */
static const char prod_all[] =
	"SELECT name, spec, uid, paused, state, produced, skipped, errors, "
	PG_MS("last_run") ", " PG_MS("anchor") " FROM producers ORDER BY name";
/* A definition put again replaces spec and owner, keeps the counters, the
 * pause and the anchor (the first tick, from the database's clock: every
 * node reads the same one), and runs again: state 0 is PRODUCER_RUNNING
 * (producer.h pins it). */
static const char prod_put[] =
	"INSERT INTO producers (name, spec, uid, paused, anchor)"
	" VALUES ($1, $2, $3, $4, now()) ON CONFLICT (name) DO UPDATE"
	" SET spec = excluded.spec, uid = excluded.uid, state = 0";
static const char prod_counters[] =
	"UPDATE producers SET state = $2, produced = $3, skipped = $4,"
	" errors = $5, last_run = " PG_TS("$6") " WHERE name = $1";
/* Each node adds its own counts: none overwrites another's.  A row put
 * before anchors were kept gets one now, the first writer's (a second
 * waits for the first's lock and reads its anchor). */
static const char prod_add[] =
	"UPDATE producers SET state = CASE WHEN $2 < 0 THEN state"
	" ELSE $2::int END, produced = produced + $3,"
	" skipped = skipped + $4, errors = errors + $5,"
	" last_run = CASE WHEN $6::int8 > 0"
	" THEN greatest(last_run, " PG_TS("$6") ") ELSE last_run END,"
	" last_job = coalesce($7, last_job), anchor = coalesce(anchor, now())"
	" WHERE name = $1"
	" RETURNING uid, paused, state, produced, skipped, errors, "
	PG_MS("last_run") ", " PG_MS("anchor");
/* Compare-and-set: the first node to reach a tick takes it; another one
 * reaching it later (its clock behind) finds last_tick there already.  A
 * node that finds the row locked (the winner's transaction open) waits for
 * it and then sees the winner's tick. */
static const char prod_tick[] =
	"UPDATE producers SET last_tick = " PG_TS("$2") " WHERE name = $1"
	" AND NOT paused AND (last_tick IS NULL OR last_tick < " PG_TS("$2")
	") RETURNING last_job";
/* A producer that finished or failed (states 2 and 3, producer.h pins
 * them) is not run again.  Node 0 has not registered (one node alone on
 * the database): no lease to check.  The SELECT reads the row as it was
 * before the update (a CTE's change is not seen by its statement). */
static const char prod_own[] =
	"WITH took AS (UPDATE producers SET owner_node = $2, owner_epoch = $3"
	" WHERE name = $1 AND state < 2 AND NOT paused"
	" AND (owner_node IS NULL OR (owner_node = $2 AND owner_epoch < $3))"
	" AND ($2 = 0 OR EXISTS (SELECT 1 FROM nodes WHERE id = $2"
	" AND epoch = $3 AND lease_until > now())) RETURNING name)"
	" SELECT EXISTS (SELECT 1 FROM took), uid, paused, state, produced,"
	" skipped, errors, " PG_MS("last_run") ", " PG_MS("anchor")
	" FROM producers WHERE name = $1";
/* clang-format on */
static const char prod_disown[] =
	"UPDATE producers SET owner_node = NULL, owner_epoch = NULL"
	" WHERE owner_node = $2 AND ($1::text IS NULL"
	" OR (name = $1 AND owner_epoch = $3))";
static const char prod_pause[] =
	"UPDATE producers SET paused = $2 WHERE name = $1";
static const char prod_delete[] = "DELETE FROM producers WHERE name = $1";

int
store__pg_producer_each(store_producer_fn fn, void *arg)
{
	PGresult *r;
	int rc = 0;

	if (store_pg__read("producer list", prod_all, NULL, &r) != 0)
		return -1;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_producer p;

		p.name = store_pg__text(r, i, 0);
		p.spec = store_pg__json(r, i, 1);
		p.uid = (uid_t)store_pg__int(r, i, 2);
		p.paused = store_pg__bool(r, i, 3);
		p.state = (int)store_pg__int(r, i, 4);
		p.produced = store_pg__int(r, i, 5);
		p.skipped = store_pg__int(r, i, 6);
		p.errors = store_pg__int(r, i, 7);
		p.last_run = store_pg__int(r, i, 8);
		p.anchor = store_pg__int(r, i, 9);
		/* A spec that does not parse is passed over, as in SQLite. */
		if (p.spec != NULL && p.name != NULL && fn(&p, arg) != 0)
			rc = -1;
		json_decref(p.spec);
	}
	PQclear(r);
	return rc;
}

int
store__pg_producer_put(const char *name, const json_t *spec, uid_t uid,
		       bool paused)
{
	struct store_pg__args a = {0};
	char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	store_pg__arg_text(&a, name);
	store_pg__arg_text(&a, text);
	store_pg__arg_int(&a, (int64_t)uid);
	store_pg__arg_bool(&a, paused);
	rc = store_pg__write("producer put", prod_put, &a, NULL);
	free(text);
	return rc;
}

int
store__pg_producer_counters(const char *name, int state, int64_t produced,
			    int64_t skipped, int64_t errors, int64_t last_run)
{
	struct store_pg__args a = {0};

	store_pg__arg_text(&a, name);
	store_pg__arg_int(&a, state);
	store_pg__arg_int(&a, produced);
	store_pg__arg_int(&a, skipped);
	store_pg__arg_int(&a, errors);
	if (last_run > 0)
		store_pg__arg_int(&a, last_run);
	else
		store_pg__arg_null(&a);
	return store_pg__write("producer counters", prod_counters, &a, NULL);
}

int
store__pg_producer_set_paused(const char *name, bool paused)
{
	struct store_pg__args a = {0};

	store_pg__arg_text(&a, name);
	store_pg__arg_bool(&a, paused);
	return store_pg__write("producer pause", prod_pause, &a, NULL);
}

int
store__pg_producer_delete(const char *name)
{
	struct store_pg__args a = {0};

	store_pg__arg_text(&a, name);
	return store_pg__write("producer delete", prod_delete, &a, NULL);
}

/* Reads uid, paused, state, produced, skipped, errors, last_run and
 * anchor from the columns of r's first row from col on into *p. */
static void
read_row(const PGresult *r, int col, struct store_producer *p)
{
	p->uid = (uid_t)store_pg__int(r, 0, col);
	p->paused = store_pg__bool(r, 0, col + 1);
	p->state = (int)store_pg__int(r, 0, col + 2);
	p->produced = store_pg__int(r, 0, col + 3);
	p->skipped = store_pg__int(r, 0, col + 4);
	p->errors = store_pg__int(r, 0, col + 5);
	p->last_run = store_pg__int(r, 0, col + 6);
	p->anchor = store_pg__int(r, 0, col + 7);
}

int
store__pg_producer_add(const char *name, const struct store_producer_add *pa,
		       struct store_producer *after)
{
	struct store_pg__args a = {0};
	PGresult *r;

	if (after != NULL)
		memset(after, 0, sizeof(*after));
	store_pg__arg_text(&a, name);
	store_pg__arg_int(&a, pa->state);
	store_pg__arg_int(&a, pa->produced);
	store_pg__arg_int(&a, pa->skipped);
	store_pg__arg_int(&a, pa->errors);
	store_pg__arg_int(&a, pa->last_run);
	if (pa->last_job > 0)
		store_pg__arg_int(&a, pa->last_job);
	else
		store_pg__arg_null(&a);
	if (store_pg__write("producer add", prod_add, &a, &r) != 0)
		return -1;
	if (PQntuples(r) > 0 && after != NULL)
		read_row(r, 0, after);
	PQclear(r);
	return 0;
}

int
store__pg_producer_tick(const char *name, int64_t tick, bool *won,
			int64_t *last_job)
{
	struct store_pg__args a = {0};
	PGresult *r;

	*won = false;
	if (last_job != NULL)
		*last_job = 0;
	store_pg__arg_text(&a, name);
	store_pg__arg_int(&a, tick);
	if (store_pg__write("producer tick", prod_tick, &a, &r) != 0)
		return -1;
	if (PQntuples(r) > 0) {
		*won = true;
		if (last_job != NULL)
			*last_job = store_pg__int(r, 0, 0);
	}
	PQclear(r);
	return 0;
}

int
store__pg_producer_own(const char *name, bool *owned,
		       struct store_producer *row)
{
	struct store_pg__args a = {0};
	PGresult *r;

	*owned = false;
	if (row != NULL)
		memset(row, 0, sizeof(*row));
	store_pg__arg_text(&a, name);
	store_pg__arg_int(&a, store_node_id());
	store_pg__arg_int(&a, store_node_epoch());
	if (store_pg__write("producer own", prod_own, &a, &r) != 0)
		return -1;
	if (PQntuples(r) > 0) {
		*owned = store_pg__bool(r, 0, 0);
		if (row != NULL)
			read_row(r, 1, row);
	}
	PQclear(r);
	return 0;
}

int
store__pg_producer_disown(const char *name)
{
	struct store_pg__args a = {0};

	store_pg__arg_text(&a, name);
	store_pg__arg_int(&a, store_node_id());
	store_pg__arg_int(&a, store_node_epoch());
	return store_pg__write("producer disown", prod_disown, &a, NULL);
}
