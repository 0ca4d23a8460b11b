/*
 * store, both backends: the job object of SPEC 5.2 built from a job's
 * column values, so that SQLite (store_job_json.c) and PostgreSQL
 * (store_pg_job_json.c) answer with the same JSON for the same job.  Each
 * backend reads its row into struct store_jobobj__row; this module turns
 * that into the object and knows nothing of either database.  Private to
 * the store like store_impl.h.
 */
#ifndef STORE_JOBOBJ_H_INCLUDED
#define STORE_JOBOBJ_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* A column that may be NULL. */
struct store_jobobj__int {
	bool null;
	int64_t v;
};

struct store_jobobj__real {
	bool null;
	double v;
};

/* One job's columns as stored, in the object's terms.  Texts are borrowed
 * for the call and NULL when the column is; a JSON column is its stored
 * text, parsed here. */
struct store_jobobj__row {
	int64_t id;
	const char *queue;
	const char *name;
	const char *argv; /* JSON; NULL or not JSON: the shell is shown */
	const char *shell;
	const char *cwd;
	int priority;
	int state;  /* enum jobd_state */
	int reason; /* enum jobd_reason */
	const char *error;
	struct store_jobobj__int exit_code;
	struct store_jobobj__int signal;
	int attempt;
	int recoveries;
	int max_attempts;
	double timeout;	   /* s */
	double kill_grace; /* s */
	double b_base, b_factor, b_max, b_jitter;
	const char *depends_on; /* JSON; NULL: [] */
	const char *unique_key;
	const char *limits; /* JSON; NULL: {} */
	const char *labels; /* JSON; NULL: {} */
	int64_t uid;
	struct store_jobobj__int pid; /* shown while running only */
	struct store_jobobj__int created_at, run_at;	  /* ms */
	struct store_jobobj__int started_at, finished_at; /* ms */
	struct store_jobobj__real duration;		  /* s */
	bool truncated;
	int output; /* enum jobspec_output */
	bool linger;
	struct store_jobobj__real ru_user;   /* s; NULL: no rusage at all */
	double ru_sys;			     /* s */
	int64_t ru_maxrss;		     /* KiB */
	struct store_jobobj__int ru_mempeak; /* bytes */
	const char *node; /* the node of the latest attempt; shown only
			     once the job started (started_at) */
	struct store_jobobj__int snooze_exit; /* NULL: none */
	struct store_jobobj__real snooze;     /* s; NULL: the backoff's */
	int max_snoozes;
	int snoozes;
	const char *result;	  /* JSON; NULL: none */
	const char *result_error; /* why the latest attempt has none */
	bool result_brief;	  /* a listing: "result_bytes", not "result" */
	const char *progress;	  /* JSON: the latest attempt's; NULL: none */
	int64_t progress_bad;
	struct store_jobobj__int hook_of;	   /* NULL: not a hook job */
	struct store_jobobj__int resubmitted_from; /* NULL: submitted */
	int dep_cond;				   /* enum jobspec_cond */
};

struct store_job_new;

/* The texts a job's insert stores for its spec's JSON columns (each
 * malloc'd, NULL when the column is): argv, depends_on, limits and labels
 * (keys sorted), as store_jobobj__json reads them back. */
struct store_jobobj__texts {
	char *argv, *deps, *limits, *labels;
};
void store_jobobj__texts(const struct store_job_new *j,
			 struct store_jobobj__texts *t);
void store_jobobj__texts_free(struct store_jobobj__texts *t);
/* The dependency ids of j (borrowed from it): its resolved ones, or its
 * spec's; *n gets how many. */
const int64_t *store_jobobj__deps(const struct store_job_new *j, size_t *n);
/* The cond column of j's deps rows: its condition, or
 * SQL_DEP_FAILED_MET when one of its dependencies has failed already. */
int store_jobobj__dep_cond(const struct store_job_new *j);

/* The job object of r (new reference).  With with_env, it ends with "env":
 * env (the function takes the reference), or null when env is NULL;
 * without, env must be NULL and there is no "env" key. */
json_t *store_jobobj__json(const struct store_jobobj__row *r, bool with_env,
			   json_t *env);

#endif /* STORE_JOBOBJ_H_INCLUDED */
