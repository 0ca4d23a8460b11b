/* Calls not yet made for PostgreSQL: each fails. */
#include "store_pg.h"
#include "diag.h"

int
store__pg_job_promote_due(int64_t now, store_job_fn fn, void *arg)
{
	(void)now;
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_job_next_due(int64_t *run_at)
{
	(void)run_at;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_job_resolve_dependents(int64_t id, bool succeeded, int64_t now,
				 store_job_fn fn, void *arg)
{
	(void)id;
	(void)succeeded;
	(void)now;
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_job_running_pids(store_pid_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_job_recover(int64_t now, int max_recoveries, store_job_fn fn,
		      void *arg)
{
	(void)now;
	(void)max_recoveries;
	(void)fn;
	(void)arg;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}

int
store__pg_job_prune(int64_t before, int64_t qid, int64_t limit,
		    store_prune_fn fn, void *arg, int64_t *n)
{
	(void)before;
	(void)qid;
	(void)limit;
	(void)fn;
	(void)arg;
	(void)n;
	return diag_set(E_DB, "store: %s: not made yet", __func__);
}
