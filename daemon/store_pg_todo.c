/* Calls not yet made for PostgreSQL: each fails. */
#include "store_pg.h"
#include "diag.h"

int
store__pg_queue_each(store_queue_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_queue_insert(const struct queue_conf *qc, bool paused, int64_t *id)
{
	(void)qc;
	(void)paused;
	(void)id;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_queue_update(int64_t id, const struct queue_conf *qc)
{
	(void)id;
	(void)qc;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_queue_set_paused(int64_t id, bool paused)
{
	(void)id;
	(void)paused;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_queue_delete(int64_t id)
{
	(void)id;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_count_each(store_count_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

json_t *
store__pg_job_json(int64_t id, bool with_env)
{
	(void)id;
	(void)with_env;
	diag_set(E_DB, "store: %s: not made yet", __func__);
	return NULL;
}

int
store__pg_job_list(const struct store_job_filter *f, json_t *arr,
		   int64_t *next_after_id)
{
	(void)f;
	(void)arr;
	(void)next_after_id;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_producer_each(store_producer_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_producer_put(const char *name, const json_t *spec, uid_t uid,
		       bool paused)
{
	(void)name;
	(void)spec;
	(void)uid;
	(void)paused;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_producer_counters(const char *name, int state, int64_t produced,
			    int64_t skipped, int64_t errors, int64_t last_run)
{
	(void)name;
	(void)state;
	(void)produced;
	(void)skipped;
	(void)errors;
	(void)last_run;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_producer_set_paused(const char *name, bool paused)
{
	(void)name;
	(void)paused;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_producer_delete(const char *name)
{
	(void)name;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}
