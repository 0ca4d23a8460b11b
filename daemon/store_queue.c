/*
 * store, SQLite backend: the rows of queues and producers, and the job
 * counts per queue and state.  Configuration-like rows, few and small:
 * queue.c and producer.c load them at start and write each change through.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "store_impl.h"
#include "store_sqlite.h"

/* ---- queues ---- */

int
store__sqlite_queue_each(store_queue_fn fn, void *arg)
{
	sqlite3_stmt *s = store__st(S_QUEUE_ALL);
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
		joblimits_load((const char *)sqlite3_column_text(s, 15),
			       &q.conf.limits);
		q.conf.global_concurrency = sqlite3_column_int(s, 16);
		q.conf.snooze_exit = sqlite3_column_int(s, 17);
		q.conf.snooze = sqlite3_column_double(s, 18);
		q.conf.max_snoozes = sqlite3_column_int(s, 19);
		labels_load((const char *)sqlite3_column_text(s, 20),
			    &q.conf.labels);
		queue_conf_hooks_load(&q.conf,
				      (const char *)sqlite3_column_text(s, 21));
		q.conf.retention = sqlite3_column_double(s, 22);
		for (int i = 0; i < 3; i++)
			q.conf.retention_by[i] =
				sqlite3_column_double(s, 23 + i);
		q.conf.keep_last = sqlite3_column_int64(s, 26);
		if (fn(&q, arg) != 0) {
			sqlite3_reset(s);
			return -1;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("queue list");
	return 0;
}

void
store__bind_limits(sqlite3_stmt *s, int col, const struct joblimits *l)
{
	if (joblimits_is_empty(l)) {
		sqlite3_bind_null(s, col);
		return;
	}
	json_t *o = joblimits_to_json(l);
	sqlite3_bind_text(s, col, json_dumps(o, JSON_COMPACT), -1, free);
	json_decref(o);
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
	store__bind_limits(s, 15, &qc->limits);
	sqlite3_bind_int(s, 16, qc->global_concurrency);
	sqlite3_bind_int(s, 17, qc->snooze_exit);
	sqlite3_bind_double(s, 18, qc->snooze);
	sqlite3_bind_int(s, 19, qc->max_snoozes);
	char *labels = labels_to_text(&qc->labels);
	if (labels != NULL)
		sqlite3_bind_text(s, 20, labels, -1, free);
	else
		sqlite3_bind_null(s, 20);
	char *hooks = queue_conf_hooks_text(qc);
	if (hooks != NULL)
		sqlite3_bind_text(s, 21, hooks, -1, free);
	else
		sqlite3_bind_null(s, 21);
	sqlite3_bind_double(s, 22, qc->retention);
	for (int i = 0; i < 3; i++)
		sqlite3_bind_double(s, 23 + i, qc->retention_by[i]);
	sqlite3_bind_int64(s, 26, qc->keep_last);
}

int
store__sqlite_queue_insert(const struct queue_conf *qc, bool paused,
			   int64_t *id)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_QUEUE_INSERT);
	bind_queue(s, qc);
	sqlite3_bind_int(s, 7, paused);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return diag_set(E_CONFLICT, "queue %s exists", qc->name);
	if (rc != SQLITE_DONE)
		return store__db_error("queue insert");
	*id = sqlite3_last_insert_rowid(store__sqlite());
	return 0;
}

int
store__sqlite_queue_update(int64_t id, const struct queue_conf *qc)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_QUEUE_UPDATE);
	bind_queue(s, qc);
	sqlite3_bind_int64(s, 1, id);
	return store__st_exec(s, "queue update");
}

int
store__sqlite_queue_set_paused(int64_t id, bool paused)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_QUEUE_PAUSE);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, paused);
	return store__st_exec(s, "queue pause");
}

int
store__sqlite_queue_delete(int64_t id)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_QUEUE_DELETE);
	sqlite3_bind_int64(s, 1, id);
	return store__st_exec(s, "queue delete");
}

int
store__sqlite_count_each(store_count_fn fn, void *arg)
{
	sqlite3_stmt *s = store__st(S_COUNTS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
		   sqlite3_column_int64(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("counts");
	return 0;
}

/* The write transaction is the lock: one writer at a time. */
int
store__sqlite_queue_pending(int64_t qid, int64_t *n)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_QUEUE_PENDING);
	sqlite3_bind_int64(s, 1, qid);
	int rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW)
		return store__db_error("queue pending");
	return 0;
}

/* ---- producers ---- */

int
store__sqlite_producer_each(store_producer_fn fn, void *arg)
{
	sqlite3_stmt *s = store__st(S_PROD_ALL);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_producer p;
		p.name = (const char *)sqlite3_column_text(s, 0);
		p.spec = store__col_json(s, 1);
		p.uid = (uid_t)sqlite3_column_int64(s, 2);
		p.paused = sqlite3_column_int(s, 3) != 0;
		p.state = sqlite3_column_int(s, 4);
		p.produced = sqlite3_column_int64(s, 5);
		p.skipped = sqlite3_column_int64(s, 6);
		p.errors = sqlite3_column_int64(s, 7);
		p.last_run = sqlite3_column_int64(s, 8);
		p.anchor = 0;
		int r = p.spec && p.name ? fn(&p, arg) : 0;
		json_decref(p.spec);
		if (r != 0) {
			sqlite3_reset(s);
			return -1;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("producer list");
	return 0;
}

int
store__sqlite_producer_put(const char *name, const json_t *spec, uid_t uid,
			   bool paused)
{
	if (store__write_begin() != 0)
		return -1;
	char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *s = store__st(S_PROD_PUT);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, text, -1, free);
	sqlite3_bind_int64(s, 3, (int64_t)uid);
	sqlite3_bind_int(s, 4, paused);
	return store__st_exec(s, "producer put");
}

int
store__sqlite_producer_counters(const char *name, int state, int64_t produced,
				int64_t skipped, int64_t errors,
				int64_t last_run)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_PROD_COUNTERS);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int64(s, 3, produced);
	sqlite3_bind_int64(s, 4, skipped);
	sqlite3_bind_int64(s, 5, errors);
	if (last_run > 0)
		sqlite3_bind_int64(s, 6, last_run);
	return store__st_exec(s, "producer counters");
}

int
store__sqlite_producer_add(const char *name, const struct store_producer_add *a,
			   struct store_producer *after)
{
	if (after != NULL)
		memset(after, 0, sizeof(*after));
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_PROD_ADD);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, a->state);
	sqlite3_bind_int64(s, 3, a->produced);
	sqlite3_bind_int64(s, 4, a->skipped);
	sqlite3_bind_int64(s, 5, a->errors);
	sqlite3_bind_int64(s, 6, a->last_run);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && after != NULL) {
		after->uid = (uid_t)sqlite3_column_int64(s, 0);
		after->paused = sqlite3_column_int(s, 1) != 0;
		after->state = sqlite3_column_int(s, 2);
		after->produced = sqlite3_column_int64(s, 3);
		after->skipped = sqlite3_column_int64(s, 4);
		after->errors = sqlite3_column_int64(s, 5);
		after->last_run = sqlite3_column_int64(s, 6);
	}
	/* RETURNING writes when the statement runs to its end. */
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("producer add");
	return 0;
}

/* One node: it takes every tick, and keeps the last job in memory. */
int
store__sqlite_producer_tick(const char *name, int64_t tick, bool *won,
			    int64_t *last_job)
{
	(void)name;
	(void)tick;
	*won = true;
	if (last_job != NULL)
		*last_job = 0;
	return 0;
}

int
store__sqlite_producer_own(const char *name, bool *owned,
			   struct store_producer *row)
{
	(void)name;
	*owned = true;
	if (row != NULL)
		memset(row, 0, sizeof(*row));
	return 0;
}

int
store__sqlite_producer_disown(const char *name)
{
	(void)name;
	return 0;
}

int
store__sqlite_producer_set_paused(const char *name, bool paused)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_PROD_PAUSE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, paused);
	return store__st_exec(s, "producer pause");
}

int
store__sqlite_producer_delete(const char *name)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_PROD_DELETE);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	return store__st_exec(s, "producer delete");
}
