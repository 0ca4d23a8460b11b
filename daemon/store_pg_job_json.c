/*
 * store, PostgreSQL backend: the job object of SPEC 5.2 from a job's rows
 * (jobs, its job_specs, its queue's name and, when asked, its
 * environment), for one job or a listing in windows of ids.  The object
 * is store_jobobj's, as SQLite's is, so both backends answer alike; this
 * file reads the rows.  Reads only.
 */
#include "store_pg.h"

#include <stdlib.h>

#include "diag.h"
#include "jobd/proto.h"
#include "store_jobobj.h"
#include "store_sqlnum.h"

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the PG_MS() and STATE() macros. */
/* clang-format off */

/* The columns of a job object, in the order of enum job_col: those of
 * SQLite's JOB_COLS, from the hot row (j), the spec (s) and the queue
 * (q), times as ms. */
#define JOB_COLS \
	"j.id, q.name, j.state, j.reason, j.priority, " \
	PG_MS("j.run_at") ", " PG_MS("s.created_at") ", " \
	PG_MS("j.started_at") ", " PG_MS("j.finished_at") ", " \
	"j.attempt, j.recoveries, j.max_attempts, s.timeout, s.kill_grace, " \
	"s.b_base, s.b_factor, s.b_max, s.b_jitter, j.uid, s.name, s.argv, " \
	"s.shell, s.cwd, j.unique_key, s.output, s.depends_on, j.exit_code, " \
	"j.signal, j.error, j.pid, j.duration, j.truncated, j.ru_user, " \
	"j.ru_sys, j.ru_maxrss, s.limits, s.linger, j.ru_mempeak, " \
	"j.last_node, s.snooze_exit, s.snooze, s.max_snoozes, j.snoozes, " \
	"j.result, j.result_error, s.labels, j.progress, j.progress_bad, " \
	"s.hook_of, s.resubmitted_from, s.dep_cond "
#define JOB_FROM \
	"FROM jobs j JOIN job_specs s ON s.job_id = j.id " \
	"JOIN queues q ON q.id = j.qid "

/* One job: $1 its id; $2 whether its environment's body is wanted (the
 * column after JOB_COLS, NULL when not or when it has none). */
static const char job_get[] =
	"SELECT " JOB_COLS ", e.body " JOB_FROM
	"LEFT JOIN envs e ON $2::boolean AND e.id = s.env_id "
	"WHERE j.id = $1::int8";

/* A listing's page, as SQLite's: ids above $1 and below $2 (0: no bound),
 * of queue $3 (< 0: any), of uid $4 (< 0: any), $5 rows at most (NULL: no
 * limit); then, for all states, $6 the mask of states (0: any); then,
 * ascending, the window's top id (0: no bound), $7 or $6; last, the
 * labels filter (jsonb the job's labels contain; NULL: any), $8, $7 or $6.
 * The running jobs alone name their state, the question a monitor asks
 * every second. */
#define LIST_WHERE \
	"WHERE j.id > $1::int8 AND ($2::int8 = 0 OR j.id < $2::int8) " \
	"AND ($3::int8 < 0 OR j.qid = $3::int8) " \
	"AND ($4::int8 < 0 OR j.uid = $4::int8) "
#define LIST_MASK(p) \
	"AND (" p "::int8 = 0 OR ((" p "::int8 >> j.state) & 1) = 1) "
#define LIST_UPTO(p) "AND (" p "::int8 = 0 OR j.id <= " p "::int8) "
#define LIST_RUNNING "AND j.state = " STATE(RUNNING) " "
#define LIST_LABELS(p) \
	"AND (" p "::jsonb IS NULL OR s.labels @> " p "::jsonb) "

static const char job_list[] =
	"SELECT " JOB_COLS JOB_FROM LIST_WHERE LIST_MASK("$6")
	LIST_UPTO("$7") LIST_LABELS("$8") "ORDER BY j.id LIMIT $5::int8";
static const char job_list_desc[] =
	"SELECT " JOB_COLS JOB_FROM LIST_WHERE LIST_MASK("$6")
	LIST_LABELS("$7") "ORDER BY j.id DESC LIMIT $5::int8";
static const char job_list_running[] =
	"SELECT " JOB_COLS JOB_FROM LIST_WHERE LIST_RUNNING
	LIST_UPTO("$6") LIST_LABELS("$7") "ORDER BY j.id LIMIT $5::int8";
static const char job_list_running_desc[] =
	"SELECT " JOB_COLS JOB_FROM LIST_WHERE LIST_RUNNING
	LIST_LABELS("$6") "ORDER BY j.id DESC LIMIT $5::int8";
/* clang-format on */

enum job_col {
	JC_ID,
	JC_QUEUE,
	JC_STATE,
	JC_REASON,
	JC_PRIORITY,
	JC_RUN_AT,
	JC_CREATED,
	JC_STARTED,
	JC_FINISHED,
	JC_ATTEMPT,
	JC_RECOVERIES,
	JC_MAX_ATTEMPTS,
	JC_TIMEOUT,
	JC_KILL_GRACE,
	JC_B_BASE,
	JC_B_FACTOR,
	JC_B_MAX,
	JC_B_JITTER,
	JC_UID,
	JC_NAME,
	JC_ARGV,
	JC_SHELL,
	JC_CWD,
	JC_UNIQUE,
	JC_OUTPUT,
	JC_DEPENDS,
	JC_EXIT,
	JC_SIGNAL,
	JC_ERROR,
	JC_PID,
	JC_DURATION,
	JC_TRUNCATED,
	JC_RU_USER,
	JC_RU_SYS,
	JC_RU_MAXRSS,
	JC_LIMITS,
	JC_LINGER,
	JC_RU_MEMPEAK,
	JC_NODE,
	JC_SNOOZE_EXIT,
	JC_SNOOZE,
	JC_MAX_SNOOZES,
	JC_SNOOZES,
	JC_RESULT,
	JC_RESULT_ERROR,
	JC_LABELS,
	JC_PROGRESS,
	JC_PROGRESS_BAD,
	JC_HOOK_OF,
	JC_RESUBMITTED_FROM,
	JC_DEP_COND,
	JC_ENV_BODY, /* job_get only */
};

static struct store_jobobj__int
col_int(const PGresult *r, int row, int col)
{
	return (struct store_jobobj__int){.null = store_pg__null(r, row, col),
					  .v = store_pg__int(r, row, col)};
}

static struct store_jobobj__real
col_real(const PGresult *r, int row, int col)
{
	return (struct store_jobobj__real){.null = store_pg__null(r, row, col),
					   .v = store_pg__double(r, row, col)};
}

/* The job object of row `row` of r (JOB_COLS), built before r is
 * cleared: its texts are r's.  brief (a listing): the result's size in
 * place of the result. */
static json_t *
row_to_job(const PGresult *r, int row, bool with_env, bool brief)
{
	struct store_jobobj__row j = {
		.id = store_pg__int(r, row, JC_ID),
		.queue = store_pg__text(r, row, JC_QUEUE),
		.name = store_pg__text(r, row, JC_NAME),
		.argv = store_pg__text(r, row, JC_ARGV),
		.shell = store_pg__text(r, row, JC_SHELL),
		.cwd = store_pg__text(r, row, JC_CWD),
		.priority = (int)store_pg__int(r, row, JC_PRIORITY),
		.state = (int)store_pg__int(r, row, JC_STATE),
		.reason = (int)store_pg__int(r, row, JC_REASON),
		.error = store_pg__text(r, row, JC_ERROR),
		.exit_code = col_int(r, row, JC_EXIT),
		.signal = col_int(r, row, JC_SIGNAL),
		.attempt = (int)store_pg__int(r, row, JC_ATTEMPT),
		.recoveries = (int)store_pg__int(r, row, JC_RECOVERIES),
		.max_attempts = (int)store_pg__int(r, row, JC_MAX_ATTEMPTS),
		.timeout = store_pg__double(r, row, JC_TIMEOUT),
		.kill_grace = store_pg__double(r, row, JC_KILL_GRACE),
		.b_base = store_pg__double(r, row, JC_B_BASE),
		.b_factor = store_pg__double(r, row, JC_B_FACTOR),
		.b_max = store_pg__double(r, row, JC_B_MAX),
		.b_jitter = store_pg__double(r, row, JC_B_JITTER),
		.depends_on = store_pg__text(r, row, JC_DEPENDS),
		.unique_key = store_pg__text(r, row, JC_UNIQUE),
		.limits = store_pg__text(r, row, JC_LIMITS),
		.uid = store_pg__int(r, row, JC_UID),
		.pid = col_int(r, row, JC_PID),
		.created_at = col_int(r, row, JC_CREATED),
		.run_at = col_int(r, row, JC_RUN_AT),
		.started_at = col_int(r, row, JC_STARTED),
		.finished_at = col_int(r, row, JC_FINISHED),
		.duration = col_real(r, row, JC_DURATION),
		.truncated = store_pg__bool(r, row, JC_TRUNCATED),
		.output = (int)store_pg__int(r, row, JC_OUTPUT),
		.linger = store_pg__bool(r, row, JC_LINGER),
		.ru_user = col_real(r, row, JC_RU_USER),
		.ru_sys = store_pg__double(r, row, JC_RU_SYS),
		.ru_maxrss = store_pg__int(r, row, JC_RU_MAXRSS),
		.ru_mempeak = col_int(r, row, JC_RU_MEMPEAK),
		.node = store_pg__text(r, row, JC_NODE),
		.snooze_exit = col_int(r, row, JC_SNOOZE_EXIT),
		.snooze = col_real(r, row, JC_SNOOZE),
		.max_snoozes = (int)store_pg__int(r, row, JC_MAX_SNOOZES),
		.snoozes = (int)store_pg__int(r, row, JC_SNOOZES),
		.result = store_pg__text(r, row, JC_RESULT),
		.result_error = store_pg__text(r, row, JC_RESULT_ERROR),
		.result_brief = brief,
		.labels = store_pg__text(r, row, JC_LABELS),
		.progress = store_pg__text(r, row, JC_PROGRESS),
		.progress_bad = store_pg__int(r, row, JC_PROGRESS_BAD),
		.hook_of = col_int(r, row, JC_HOOK_OF),
		.resubmitted_from = col_int(r, row, JC_RESUBMITTED_FROM),
		.dep_cond = (int)store_pg__int(r, row, JC_DEP_COND),
	};

	return store_jobobj__json(&j, with_env,
				  with_env ? store_pg__json(r, row, JC_ENV_BODY)
					   : NULL);
}

json_t *
store__pg_job_json(int64_t id, bool with_env)
{
	struct store_pg__args a = {0};
	PGresult *r;
	json_t *o;

	store_pg__arg_int(&a, id);
	store_pg__arg_bool(&a, with_env);
	if (store_pg__read("job get", job_get, &a, &r) != 0)
		return NULL;
	if (PQntuples(r) == 0) {
		PQclear(r);
		diag_set(E_NOTFOUND, "no job %lld", (long long)id);
		return NULL;
	}
	o = row_to_job(r, 0, with_env, false);
	PQclear(r);
	return o;
}

int
store__pg_job_list(const struct store_job_filter *f, json_t *arr,
		   int64_t *next_after_id)
{
	bool running = f->state_mask == 1u << JOBD_RUNNING;
	const char *sql =
		running ? (f->desc ? job_list_running_desc : job_list_running)
			: (f->desc ? job_list_desc : job_list);
	struct store_pg__args a = {0};
	char *labels;
	PGresult *r;
	int i, n, rc;

	store_pg__arg_int(&a, f->after_id);
	store_pg__arg_int(&a, f->before_id);
	store_pg__arg_int(&a, f->qid);
	store_pg__arg_int(&a, f->uid);
	/* SQLite takes a negative limit as none; PostgreSQL refuses it. */
	if (f->limit >= 0)
		store_pg__arg_int(&a, f->limit);
	else
		store_pg__arg_null(&a);
	if (!running)
		store_pg__arg_int(&a, f->state_mask);
	if (!f->desc)
		store_pg__arg_int(&a, f->upto_id);
	labels = f->labels != NULL ? labels_to_text(f->labels) : NULL;
	store_pg__arg_text(&a, labels);
	rc = store_pg__read("job list", sql, &a, &r);
	free(labels);
	if (rc != 0)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, row_to_job(r, i, false, true));
	*next_after_id = n > 0 && n == f->limit ? store_pg__int(r, n - 1, JC_ID)
						: 0;
	PQclear(r);
	return 0;
}
