/*
 * store, SQLite backend: the job object of SPEC 5.2, built from a jobs row
 * (one job, or a listing in windows of ids), and the highest id given.
 * Reads only.
 */
#include "store.h"

#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "store_sqlite.h"

/* A stored output is read back as a number of enum jobspec_output. */
_Static_assert(JOBSPEC_OUTPUT_CAPTURE == 0 && JOBSPEC_OUTPUT_DISCARD == 1,
	       "row_to_job reads output 0 as capture, 1 as discard");

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
	json_object_set_new(o, "id",
			    json_integer(sqlite3_column_int64(s, JC_ID)));
	set_text_or_null(o, "queue", s, JC_QUEUE);
	set_text_or_null(o, "name", s, JC_NAME);
	json_t *argv = store__col_json(s, JC_ARGV);
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
			    json_integer(sqlite3_column_int(s, JC_RECOVERIES)));
	json_object_set_new(
		o, "max_attempts",
		json_integer(sqlite3_column_int(s, JC_MAX_ATTEMPTS)));
	json_object_set_new(o, "timeout",
			    json_real(sqlite3_column_double(s, JC_TIMEOUT)));
	json_object_set_new(o, "kill_grace",
			    json_real(sqlite3_column_double(s, JC_KILL_GRACE)));
	json_object_set_new(
		o, "backoff",
		json_pack("{s:f,s:f,s:f,s:f}", "base",
			  sqlite3_column_double(s, JC_B_BASE), "factor",
			  sqlite3_column_double(s, JC_B_FACTOR), "max",
			  sqlite3_column_double(s, JC_B_MAX), "jitter",
			  sqlite3_column_double(s, JC_B_JITTER)));
	json_t *deps = store__col_json(s, JC_DEPENDS);
	json_object_set_new(o, "depends_on", deps ? deps : json_array());
	set_text_or_null(o, "unique_key", s, JC_UNIQUE);
	json_t *limits = store__col_json(s, JC_LIMITS);
	json_object_set_new(o, "limits", limits ? limits : json_object());
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
			    json_boolean(sqlite3_column_int(s, JC_TRUNCATED)));
	json_object_set_new(o, "output",
			    json_string(sqlite3_column_int(s, JC_OUTPUT)
						? "discard"
						: "capture"));
	json_object_set_new(o, "linger",
			    json_boolean(sqlite3_column_int(s, JC_LINGER)));
	if (sqlite3_column_type(s, JC_RU_USER) == SQLITE_NULL) {
		json_object_set_new(o, "rusage", json_null());
	} else {
		json_t *ru = json_pack(
			"{s:f,s:f,s:I}", "user",
			sqlite3_column_double(s, JC_RU_USER), "system",
			sqlite3_column_double(s, JC_RU_SYS), "max_rss_kb",
			(json_int_t)sqlite3_column_int64(s, JC_RU_MAXRSS));
		set_int_or_null(ru, "memory_peak", s, JC_RU_MEMPEAK);
		json_object_set_new(o, "rusage", ru);
	}
	if (with_env) {
		int64_t env_id = sqlite3_column_int64(s, JC_ENV_ID);
		json_t *env = env_id ? store__env_get(env_id) : NULL;
		json_object_set_new(o, "env", env ? env : json_null());
	}
	return o;
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
	/* store__env_get() reuses another statement, so build before resetting
	 * is fine: S_ENV_GET is not S_JOB_GET. */
	json_t *o = row_to_job(s, with_env);
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
	int rc, n = 0;
	int64_t last = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_array_append_new(arr, row_to_job(s, false));
		last = sqlite3_column_int64(s, JC_ID);
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("job list");
	*next_after_id = n == f->limit ? last : 0;
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
