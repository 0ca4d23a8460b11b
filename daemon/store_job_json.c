/*
 * store, SQLite backend: the job object of SPEC 5.2 from a jobs row (one
 * job, or a listing in windows of ids), and the highest id given.  The
 * object itself is store_jobobj's, shared with PostgreSQL; this file reads
 * the row.  And where attempts ran, which under SQLite is always here.
 * Reads only.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "labels.h"

#include "diag.h"
#include "jobd/proto.h"
#include "store_jobobj.h"
#include "store_sqlite.h"

/* ---- job objects ---- */

static struct store_jobobj__int
col_int(sqlite3_stmt *s, int col)
{
	struct store_jobobj__int v = {.null = sqlite3_column_type(s, col) ==
					      SQLITE_NULL};

	v.v = v.null ? 0 : sqlite3_column_int64(s, col);
	return v;
}

static struct store_jobobj__real
col_real(sqlite3_stmt *s, int col)
{
	struct store_jobobj__real v = {.null = sqlite3_column_type(s, col) ==
					       SQLITE_NULL};

	v.v = v.null ? 0 : sqlite3_column_double(s, col);
	return v;
}

static const char *
col_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

/* The columns of the current row of s (JOB_COLS), texts borrowed from s
 * until its next step or reset.  Each column is read by one initialiser
 * alone, so their order does not matter. */
static void
row_read(sqlite3_stmt *s, struct store_jobobj__row *r)
{
	*r = (struct store_jobobj__row){
		.id = sqlite3_column_int64(s, JC_ID),
		.queue = col_text(s, JC_QUEUE),
		.name = col_text(s, JC_NAME),
		.argv = col_text(s, JC_ARGV),
		.shell = col_text(s, JC_SHELL),
		.cwd = col_text(s, JC_CWD),
		.priority = sqlite3_column_int(s, JC_PRIORITY),
		.state = sqlite3_column_int(s, JC_STATE),
		.reason = sqlite3_column_int(s, JC_REASON),
		.error = col_text(s, JC_ERROR),
		.exit_code = col_int(s, JC_EXIT),
		.signal = col_int(s, JC_SIGNAL),
		.attempt = sqlite3_column_int(s, JC_ATTEMPT),
		.recoveries = sqlite3_column_int(s, JC_RECOVERIES),
		.max_attempts = sqlite3_column_int(s, JC_MAX_ATTEMPTS),
		.timeout = sqlite3_column_double(s, JC_TIMEOUT),
		.kill_grace = sqlite3_column_double(s, JC_KILL_GRACE),
		.b_base = sqlite3_column_double(s, JC_B_BASE),
		.b_factor = sqlite3_column_double(s, JC_B_FACTOR),
		.b_max = sqlite3_column_double(s, JC_B_MAX),
		.b_jitter = sqlite3_column_double(s, JC_B_JITTER),
		.depends_on = col_text(s, JC_DEPENDS),
		.unique_key = col_text(s, JC_UNIQUE),
		.limits = col_text(s, JC_LIMITS),
		.labels = col_text(s, JC_LABELS),
		.uid = sqlite3_column_int64(s, JC_UID),
		.pid = col_int(s, JC_PID),
		.created_at = col_int(s, JC_CREATED),
		.run_at = col_int(s, JC_RUN_AT),
		.started_at = col_int(s, JC_STARTED),
		.finished_at = col_int(s, JC_FINISHED),
		.duration = col_real(s, JC_DURATION),
		.truncated = sqlite3_column_int(s, JC_TRUNCATED),
		.output = sqlite3_column_int(s, JC_OUTPUT),
		.linger = sqlite3_column_int(s, JC_LINGER),
		.ru_user = col_real(s, JC_RU_USER),
		.ru_sys = sqlite3_column_double(s, JC_RU_SYS),
		.ru_maxrss = sqlite3_column_int64(s, JC_RU_MAXRSS),
		.ru_mempeak = col_int(s, JC_RU_MEMPEAK),
		.snooze_exit = col_int(s, JC_SNOOZE_EXIT),
		.snooze = col_real(s, JC_SNOOZE),
		.max_snoozes = sqlite3_column_int(s, JC_MAX_SNOOZES),
		.snoozes = sqlite3_column_int(s, JC_SNOOZES),
		.result = col_text(s, JC_RESULT),
		.result_error = col_text(s, JC_RESULT_ERROR),
		.progress = col_text(s, JC_PROGRESS),
		.progress_bad = sqlite3_column_int64(s, JC_PROGRESS_BAD),
		.hook_of = col_int(s, JC_HOOK_OF),
		.resubmitted_from = col_int(s, JC_RESUBMITTED_FROM),
		.dep_cond = sqlite3_column_int(s, JC_DEP_COND),
		/* One node: every attempt ran here. */
		.node = store_local_node(),
	};
}

/* The job object of the current row of s; brief (a listing): the
 * result's size in place of the result. */
static json_t *
row_to_job(sqlite3_stmt *s, bool with_env, bool brief)
{
	struct store_jobobj__row r;
	json_t *env = NULL;

	row_read(s, &r);
	r.result_brief = brief;
	if (with_env) {
		/* store__env_get() steps another statement (S_ENV_GET): the
		 * texts of s stay valid. */
		int64_t env_id = sqlite3_column_int64(s, JC_ENV_ID);
		env = env_id ? store__env_get(env_id) : NULL;
	}
	return store_jobobj__json(&r, with_env, env);
}

json_t *
store__sqlite_job_json(int64_t id, bool with_env)
{
	sqlite3_stmt *s = store__st(S_JOB_GET);
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			store__db_error("job get");
		else
			diag_set(E_NOTFOUND, "no job %lld", (long long)id);
		return NULL;
	}
	json_t *o = row_to_job(s, with_env, false);
	sqlite3_reset(s);
	return o;
}

int
store__sqlite_job_list(const struct store_job_filter *f, json_t *arr,
		       int64_t *next_after_id)
{
	bool running = f->state_mask == 1u << JOBD_RUNNING;
	sqlite3_stmt *s =
		store__st(running ? (f->desc ? S_JOB_LIST_RUNNING_DESC
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
	/* The filter's pairs, ?8 on (LABELS_MATCH); unbound ones are
	 * NULL. */
	for (int i = 0; f->labels != NULL && i < f->labels->n; i++)
		sqlite3_bind_text(s, 8 + i, labels_pair_text(f->labels, i), -1,
				  free);
	int rc, n = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_array_append_new(arr, row_to_job(s, false, true));
		last = sqlite3_column_int64(s, JC_ID);
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("job list");
	*next_after_id = n == f->limit ? last : 0;
	return 0;
}

/* Every log is here: nothing is known of a node, nor kept. */
int
store__sqlite_attempt_where(int64_t id, int attempt,
			    struct store_attempt_seen *s)
{
	(void)id;
	(void)attempt;
	memset(s, 0, sizeof(*s));
	return 0;
}

int
store__sqlite_attempt_ended(const struct store_attempt_end *a)
{
	(void)a;
	return 0;
}

int64_t
store__sqlite_job_max_id(void)
{
	sqlite3_stmt *s = store__st(S_JOB_MAX_ID);
	int64_t id = 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return id;
}
