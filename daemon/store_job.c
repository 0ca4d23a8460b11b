/*
 * store, SQLite backend: the rows of jobs, their dependencies and their
 * environments, through a job's life: insert (an environment stored once
 * per distinct body), claim, pid, end, state changes and retry, promotion
 * of scheduled jobs, dependents released or cancelled, recovery at start,
 * prune.  The job object and listings are store_job_json.c's.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "jobd/proto.h"
#include "log.h"
#include "store_impl.h"
#include "store_jobobj.h"
#include "store_sqlite.h"
#include "xmem.h"

/* The last few environments stored, so a batch from one shell looks its
 * environment up once: a hit costs a json_equal, not an encoding. */
#define ENV_CACHE 8
static struct {
	json_t *env; /* owned copy */
	int64_t id;
} env_cache[ENV_CACHE];
static int env_cache_next;

void
store__env_cache_clear(void)
{
	for (int i = 0; i < ENV_CACHE; i++) {
		json_decref(env_cache[i].env);
		env_cache[i].env = NULL;
		env_cache[i].id = 0;
	}
}

static void
bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Binds t without copying it: t must live until the statement's next
 * reset. */
static void
bind_static_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

/* Binds malloc'd t, which SQLite frees (NULL binds NULL). */
static void
bind_owned_or_null(sqlite3_stmt *s, int i, char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, free);
	else
		sqlite3_bind_null(s, i);
}

static char *
col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

/* ---- environments ---- */

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Id of the stored environment with this body, storing it when new. */
static int
env_id_for(const json_t *env, int64_t *id)
{
	for (int i = 0; i < ENV_CACHE; i++) {
		if (env_cache[i].env != NULL &&
		    json_equal(env_cache[i].env, env)) {
			*id = env_cache[i].id;
			return 0;
		}
	}
	char *body = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	if (body == NULL)
		return diag_set(E_INTERNAL, "env: cannot encode");
	size_t n = strlen(body);
	uint64_t h = fnv1a(body, n);
	sqlite3_stmt *s = store__st(S_ENV_FIND);
	sqlite3_bind_int64(s, 1, (int64_t)h);
	int rc;
	*id = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(s, 1);
		if (b && strcmp(b, body) == 0) {
			*id = sqlite3_column_int64(s, 0);
			break;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(body);
		return store__db_error("env find");
	}
	if (*id == 0) {
		s = store__st(S_ENV_INSERT);
		sqlite3_bind_int64(s, 1, (int64_t)h);
		sqlite3_bind_text(s, 2, body, (int)n, SQLITE_TRANSIENT);
		if (store__st_exec(s, "env insert") != 0) {
			free(body);
			return -1;
		}
		*id = sqlite3_last_insert_rowid(store__sqlite());
	}
	free(body);
	json_decref(env_cache[env_cache_next].env);
	env_cache[env_cache_next].env = json_deep_copy(env);
	env_cache[env_cache_next].id = *id;
	env_cache_next = (env_cache_next + 1) % ENV_CACHE;
	return 0;
}

json_t *
store__env_get(int64_t id)
{
	sqlite3_stmt *s = store__st(S_ENV_GET);
	sqlite3_bind_int64(s, 1, id);
	json_t *env = NULL;
	if (sqlite3_step(s) == SQLITE_ROW)
		env = store__col_json(s, 0);
	sqlite3_reset(s);
	return env;
}

/* ---- jobs ---- */

int
store__sqlite_job_insert(const struct store_job_new *j, int64_t *id)
{
	const struct jobspec *sp = j->spec;
	int64_t env_id = 0;
	if (store__write_begin() != 0)
		return -1;
	if (sp->env != NULL && env_id_for(sp->env, &env_id) != 0)
		return -1;
	/* The hottest statement: every parameter is bound on every use (so
	 * no clearing), and strings are bound without a copy (they outlive
	 * the step, and the statement is reset right after it). */
	sqlite3_stmt *s = store__stmt(S_JOB_INSERT);
	sqlite3_bind_int64(s, 1, j->qid);
	sqlite3_bind_int(s, 2, j->state);
	sqlite3_bind_int(s, 3, j->reason);
	sqlite3_bind_int(s, 4, sp->priority);
	sqlite3_bind_int64(s, 5, j->run_at);
	sqlite3_bind_int64(s, 6, j->created_at);
	sqlite3_bind_int(s, 7, j->max_attempts);
	sqlite3_bind_double(s, 8, j->timeout);
	sqlite3_bind_double(s, 9, j->kill_grace);
	sqlite3_bind_double(s, 10, j->backoff.base);
	sqlite3_bind_double(s, 11, j->backoff.factor);
	sqlite3_bind_double(s, 12, j->backoff.max);
	sqlite3_bind_double(s, 13, j->backoff.jitter);
	sqlite3_bind_int64(s, 14, (int64_t)j->uid);
	/* Bound with free: SQLite owns the texts from here on. */
	struct store_jobobj__texts t;
	store_jobobj__texts(j, &t);
	bind_static_or_null(s, 15, sp->name);
	bind_owned_or_null(s, 16, t.argv);
	bind_static_or_null(s, 17, sp->shell);
	bind_static_or_null(s, 18, sp->cwd);
	if (env_id)
		sqlite3_bind_int64(s, 19, env_id);
	else
		sqlite3_bind_null(s, 19);
	bind_static_or_null(s, 20, sp->unique_key);
	sqlite3_bind_int(s, 21, sp->output);
	sqlite3_bind_int(s, 22, j->deps_left);
	bind_owned_or_null(s, 23, t.deps);
	if (jobd_state_is_terminal(j->state))
		sqlite3_bind_int64(s, 24, j->created_at);
	else
		sqlite3_bind_null(s, 24);
	bind_owned_or_null(s, 25, t.limits);
	sqlite3_bind_int(s, 26, sp->linger);
	if (j->snooze_exit > 0)
		sqlite3_bind_int(s, 27, j->snooze_exit);
	else
		sqlite3_bind_null(s, 27);
	if (j->snooze >= 0)
		sqlite3_bind_double(s, 28, j->snooze);
	else
		sqlite3_bind_null(s, 28);
	sqlite3_bind_int(s, 29, j->max_snoozes);
	bind_owned_or_null(s, 30, t.labels);
	if (sp->hook_of > 0)
		sqlite3_bind_int64(s, 31, sp->hook_of);
	else
		sqlite3_bind_null(s, 31);
	if (sp->resubmitted_from > 0)
		sqlite3_bind_int64(s, 32, sp->resubmitted_from);
	else
		sqlite3_bind_null(s, 32);
	sqlite3_bind_int(s, 33, j->dep_cond);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return diag_set(E_CONFLICT, "unique_key %s is in use",
				sp->unique_key ? sp->unique_key : "");
	if (rc != SQLITE_DONE)
		return store__db_error("job insert");
	*id = sqlite3_last_insert_rowid(store__sqlite());
	size_t nd;
	const int64_t *deps = store_jobobj__deps(j, &nd);
	for (size_t i = 0; i < nd; i++) {
		s = store__st(S_DEP_INSERT);
		sqlite3_bind_int64(s, 1, deps[i]);
		sqlite3_bind_int64(s, 2, *id);
		sqlite3_bind_int(s, 3, store_jobobj__dep_cond(j));
		if (store__st_exec(s, "dep insert") != 0)
			return -1;
	}
	return 0;
}

int
store__sqlite_job_find_unique(const char *key, uid_t uid, int64_t *id)
{
	sqlite3_stmt *s = store__st(S_JOB_UNIQUE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (int64_t)uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("unique");
	return diag_set(E_NOTFOUND, "no job with unique_key %s", key);
}

int
store__sqlite_job_brief(int64_t id, struct store_job_brief *b)
{
	sqlite3_stmt *s = store__st(S_JOB_BRIEF);
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return store__db_error("job brief");
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	}
	b->id = sqlite3_column_int64(s, 0);
	b->qid = sqlite3_column_int64(s, 1);
	b->state = sqlite3_column_int(s, 2);
	b->reason = sqlite3_column_int(s, 3);
	b->uid = (uid_t)sqlite3_column_int64(s, 4);
	b->attempt = sqlite3_column_int(s, 5);
	b->max_attempts = sqlite3_column_int(s, 6);
	b->run_at = sqlite3_column_int64(s, 7);
	b->output_truncated = sqlite3_column_int(s, 8) != 0;
	sqlite3_reset(s);
	return 0;
}

int
store__sqlite_job_claim(int64_t qid, int64_t now, struct store_job_run *r)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_CLAIM);
	sqlite3_bind_int64(s, 1, qid);
	sqlite3_bind_int64(s, 2, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return store__db_error("claim");
		return diag_set(E_NOTFOUND, "no ready job");
	}
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->qid = sqlite3_column_int64(s, 1);
	r->attempt = sqlite3_column_int(s, 2);
	r->max_attempts = sqlite3_column_int(s, 3);
	r->recoveries = sqlite3_column_int(s, 4);
	r->uid = (uid_t)sqlite3_column_int64(s, 5);
	r->argv = store__col_json(s, 6);
	r->shell = col_strdup(s, 7);
	r->cwd = col_strdup(s, 8);
	int64_t env_id = sqlite3_column_int64(s, 9);
	r->timeout = sqlite3_column_double(s, 10);
	r->kill_grace = sqlite3_column_double(s, 11);
	r->backoff.base = sqlite3_column_double(s, 12);
	r->backoff.factor = sqlite3_column_double(s, 13);
	r->backoff.max = sqlite3_column_double(s, 14);
	r->backoff.jitter = sqlite3_column_double(s, 15);
	r->output = sqlite3_column_int(s, 16);
	joblimits_load((const char *)sqlite3_column_text(s, 17), &r->limits);
	r->linger = sqlite3_column_int(s, 18) != 0;
	r->snooze_exit = sqlite3_column_type(s, 19) == SQLITE_NULL
				 ? -1
				 : sqlite3_column_int(s, 19);
	r->snooze = sqlite3_column_type(s, 20) == SQLITE_NULL
			    ? -1
			    : sqlite3_column_double(s, 20);
	r->max_snoozes = sqlite3_column_int(s, 21);
	r->snoozes = sqlite3_column_int(s, 22);
	r->labels = labels_from_text((const char *)sqlite3_column_text(s, 23));
	r->started_at = now;
	/* Step to the end so the UPDATE completes before the reset. */
	while (sqlite3_step(s) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (env_id)
		r->env = store__env_get(env_id);
	if (r->cwd == NULL)
		r->cwd = xstrdup("/");
	return 0;
}

int
store__sqlite_job_set_pid(int64_t id, int pid)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_SET_PID);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, pid);
	return store__st_exec(s, "set pid");
}

int
store__sqlite_job_end_attempt(int64_t id, const struct store_job_end *e,
			      int *was)
{
	if (store__write_begin() != 0)
		return -1;
	/* Read then written with no yield between: nothing comes between
	 * them here. */
	sqlite3_stmt *s = store__st(S_JOB_DEP_STATE);
	sqlite3_bind_int64(s, 1, id);
	*was = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_reset(s);
	s = store__st(S_JOB_END);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, e->state);
	sqlite3_bind_int(s, 3, e->reason);
	if (e->exit_code >= 0)
		sqlite3_bind_int(s, 4, e->exit_code);
	if (e->signal > 0)
		sqlite3_bind_int(s, 5, e->signal);
	bind_text_or_null(s, 6, e->error);
	if (e->duration >= 0)
		sqlite3_bind_double(s, 7, e->duration);
	sqlite3_bind_int(s, 8, e->output_truncated);
	sqlite3_bind_double(s, 9, e->ru_user);
	sqlite3_bind_double(s, 10, e->ru_sys);
	sqlite3_bind_int64(s, 11, e->max_rss_kb);
	if (e->finished_at > 0)
		sqlite3_bind_int64(s, 12, e->finished_at);
	if (e->run_at > 0)
		sqlite3_bind_int64(s, 13, e->run_at);
	sqlite3_bind_int(s, 14, e->attempt_delta);
	if (e->memory_peak >= 0)
		sqlite3_bind_int64(s, 15, e->memory_peak);
	sqlite3_bind_int64(s, 16, e->now);
	sqlite3_bind_int(s, 17, e->snooze_delta);
	bind_text_or_null(s, 18, e->result);
	bind_text_or_null(s, 19, e->result_error);
	bind_text_or_null(s, 20, e->progress);
	sqlite3_bind_int64(s, 21, e->progress_bad);
	if (store__st_exec(s, "job end") != 0)
		return -1;
	/* Only the attempt that runs (or was cancelled while running) can
	 * end: a job retried meanwhile is someone else's now. */
	if (sqlite3_changes(store__sqlite()) == 0)
		return diag_set(E_STATE, "job %lld is not running",
				(long long)id);
	return 0;
}

int
store__sqlite_job_set_state(int64_t id, int from, int state, int reason,
			    int64_t now)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_SET_STATE);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int(s, 3, reason);
	if (jobd_state_is_terminal(state))
		sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int(s, 5, from);
	if (store__st_exec(s, "set state") != 0)
		return -1;
	if (sqlite3_changes(store__sqlite()) == 0 && from >= 0)
		return diag_set(E_CONFLICT, "job %lld is no longer %s",
				(long long)id, jobd_state_name(from));
	return 0;
}

int
store__sqlite_job_retry(int64_t id, int from, int64_t now)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_RETRY);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int(s, 3, from);
	if (sqlite3_step(s) != SQLITE_DONE) {
		/* The partial unique index: another job that is not finished
		 * holds this one's unique_key. */
		if (sqlite3_extended_errcode(store__sqlite()) ==
		    SQLITE_CONSTRAINT_UNIQUE) {
			sqlite3_reset(s);
			return diag_set(E_STATE,
					"job %lld: its unique_key is held by "
					"another job that has not finished",
					(long long)id);
		}
		int r = store__db_error("retry");
		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
	if (sqlite3_changes(store__sqlite()) == 0 && from >= 0)
		return diag_set(E_CONFLICT, "job %lld is no longer %s",
				(long long)id, jobd_state_name(from));
	return 0;
}

int
store__sqlite_job_promote_due(int64_t now, store_job_fn fn, void *arg)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_PROMOTE);
	sqlite3_bind_int64(s, 1, now);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_SCHEDULED, JOBD_QUEUED, arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("promote");
	return 0;
}

int
store__sqlite_job_next_due(int64_t *run_at)
{
	sqlite3_stmt *s = store__st(S_JOB_NEXT_DUE);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*run_at = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__db_error("next due");
	return diag_set(E_NOTFOUND, "nothing scheduled");
}

struct dependent {
	int64_t id, qid;
	int state;
	int attempts;
	char *deps; /* owned: depends_on as stored, or NULL */
};

/* The non-running, non-terminal dependents of id (caller frees). */
static int
dependents_of(int64_t id, struct dependent **out, size_t *n)
{
	sqlite3_stmt *s = store__st(S_DEP_DEPENDENTS);
	sqlite3_bind_int64(s, 1, id);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[*n].id = sqlite3_column_int64(s, 0);
		(*out)[*n].qid = sqlite3_column_int64(s, 1);
		(*out)[*n].state = sqlite3_column_int(s, 2);
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return store__db_error("dependents");
	}
	return 0;
}

/* What is left to do of a resolution, on a stack rather than by
 * recursion: a chain may be long and a coroutine's stack is small.  Popped
 * in the order the recursive walk would take: a job is cancelled and
 * reported, then its own dependents are resolved, before its next
 * sibling. */
enum step_kind {
	STEP_RESOLVE, /* id ended: count it, release, cancel not needed */
	STEP_AFTER,   /* id failed: cancel its after dependents */
	STEP_CANCEL,  /* cancel dependent d with reason */
};

struct step {
	enum step_kind kind;
	bool succeeded;	    /* STEP_RESOLVE */
	int reason;	    /* STEP_CANCEL */
	int64_t id;	    /* STEP_RESOLVE, STEP_AFTER */
	struct dependent d; /* STEP_CANCEL */
};

struct steps {
	struct step *v;
	size_t n, cap;
};

static void
step_push(struct steps *t, struct step k)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	t->v[t->n++] = k;
}

/* Pushes a cancel of each of d (n of them), the first on top. */
static void
push_cancels(struct steps *t, const struct dependent *d, size_t n, int reason)
{
	while (n-- > 0)
		step_push(t, (struct step){.kind = STEP_CANCEL,
					   .reason = reason,
					   .d = d[n]});
}

/* The waiting after_failed dependents of id none of whose dependencies
 * failed, with none left to end (caller frees). */
static int
not_needed_of(int64_t id, struct dependent **out, size_t *n)
{
	sqlite3_stmt *s = store__st(S_DEP_NOT_NEEDED);
	size_t cap = 0;
	int rc;

	sqlite3_bind_int64(s, 1, id);
	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		(*out)[*n].id = sqlite3_column_int64(s, 0);
		(*out)[*n].qid = sqlite3_column_int64(s, 1);
		(*out)[*n].state = sqlite3_column_int(s, 2);
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return store__db_error("deps not needed");
	}
	return 0;
}

/* Job id ended: its dependents count it, those it releases are reported,
 * those not needed now are pushed to be cancelled, and, when it did not
 * succeed, its after dependents after them. */
static int
resolve_one(int64_t id, bool succeeded, int64_t now, store_job_fn fn, void *arg,
	    struct steps *t)
{
	struct dependent *d;
	size_t n;
	sqlite3_stmt *s;
	int rc;

	if (!succeeded) {
		step_push(t, (struct step){.kind = STEP_AFTER, .id = id});
		s = store__st(S_DEP_MET);
		sqlite3_bind_int64(s, 1, id);
		if (store__st_exec(s, "deps met") != 0)
			return -1;
	}
	s = store__st(S_DEP_SUCCEEDED);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, succeeded);
	if (store__st_exec(s, "deps ended") != 0)
		return -1;
	if (sqlite3_changes(store__sqlite()) == 0)
		return 0;
	s = store__st(S_DEP_READY);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_WAITING, sqlite3_column_int(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("deps ready");
	if (not_needed_of(id, &d, &n) != 0)
		return -1;
	push_cancels(t, d, n, JOBD_REASON_NOT_NEEDED);
	free(d);
	return 0;
}

/* Runs one step of t. */
static int
step_run(const struct step *k, int64_t now, store_job_fn fn, void *arg,
	 struct steps *t)
{
	struct dependent *d;
	size_t n;
	int rc;

	switch (k->kind) {
	case STEP_RESOLVE:
		return resolve_one(k->id, k->succeeded, now, fn, arg, t);
	case STEP_AFTER:
		if (dependents_of(k->id, &d, &n) != 0)
			return -1;
		push_cancels(t, d, n, JOBD_REASON_DEPENDENCY_FAILED);
		free(d);
		return 0;
	case STEP_CANCEL:
		rc = store__sqlite_job_set_state(
			k->d.id, k->d.state, JOBD_CANCELLED, k->reason, now);
		/* Cancelled already by an earlier branch of this cascade
		 * (it depends on two of the cancelled jobs): moved once. */
		if (rc != 0)
			return diag_code() == E_CONFLICT ? 0 : -1;
		fn(k->d.id, k->d.qid, k->d.state, JOBD_CANCELLED, arg);
		step_push(t, (struct step){.kind = STEP_RESOLVE,
					   .succeeded = false,
					   .id = k->d.id});
		return 0;
	}
	panic("step kind %d", (int)k->kind);
}

int
store__sqlite_job_resolve_dependents(int64_t id, bool succeeded, int64_t now,
				     store_job_fn fn, void *arg)
{
	struct steps t = {0};
	int rc = 0;

	if (store__write_begin() != 0)
		return -1;
	step_push(&t, (struct step){.kind = STEP_RESOLVE,
				    .succeeded = succeeded,
				    .id = id});
	while (rc == 0 && t.n > 0) {
		struct step k = t.v[--t.n];

		rc = step_run(&k, now, fn, arg, &t);
	}
	free(t.v);
	return rc;
}

int
store__sqlite_job_check_deps(const int64_t *ids, size_t n, long uid_filter,
			     int64_t *missing, bool *failed, int *left)
{
	*missing = 0;
	*failed = false;
	*left = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = store__st(S_JOB_DEP_STATE);
		sqlite3_bind_int64(s, 1, ids[i]);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			if (rc != SQLITE_DONE)
				return store__db_error("deps");
			*missing = ids[i];
			return 0;
		}
		int state = sqlite3_column_int(s, 0);
		long uid = (long)sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
		if (uid_filter >= 0 && uid != uid_filter) {
			*missing = ids[i];
			return 0;
		}
		if (state == JOBD_FAILED || state == JOBD_CANCELLED)
			*failed = true;
		else if (state != JOBD_SUCCEEDED)
			(*left)++;
	}
	return 0;
}

int
store__sqlite_job_running_pids(store_pid_fn fn, void *arg)
{
	sqlite3_stmt *s = store__st(S_JOB_RUNNING_PIDS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("running pids");
	return 0;
}

int
store__sqlite_job_recover(int64_t now, int max_recoveries, store_job_fn fn,
			  void *arg)
{
	if (store__write_begin() != 0)
		return -1;
	sqlite3_stmt *s = store__st(S_JOB_RECOVER);
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, max_recoveries);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   JOBD_RUNNING, sqlite3_column_int(s, 2), arg);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__db_error("recover");
	return 0;
}

/* Deletes the deps rows of job id, one per id in its stored depends_on
 * ("[1,2,3]"): by the whole key, as deps is indexed. */
static int
delete_deps(int64_t id, const char *deps)
{
	const char *p = deps;
	while (p != NULL && *p != '\0') {
		char *end;
		long long dep = strtoll(p, &end, 10);
		if (end == p) {
			p++;
			continue;
		}
		p = end;
		sqlite3_stmt *s = store__st(S_DEP_DELETE);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, dep);
		if (store__st_exec(s, "prune deps") != 0)
			return -1;
	}
	return 0;
}

/* Deletes the jobs select s (bound) returns (id, qid, state, attempt,
 * depends_on) with their deps rows, fn for each; *n how many.  The group
 * transaction is opened only when there is one to delete: a pass with
 * nothing due writes nothing. */
static int
prune_selected(sqlite3_stmt *s, store_prune_fn fn, void *arg, int64_t *n)
{
	struct dependent *rows = NULL;
	size_t nrows = 0, cap = 0, i = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (nrows == cap) {
			cap = cap ? cap * 2 : 64;
			rows = xreallocarray(rows, cap, sizeof(*rows));
		}
		rows[nrows].id = sqlite3_column_int64(s, 0);
		rows[nrows].qid = sqlite3_column_int64(s, 1);
		rows[nrows].state = sqlite3_column_int(s, 2);
		rows[nrows].attempts = sqlite3_column_int(s, 3);
		rows[nrows].deps = col_strdup(s, 4);
		nrows++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store__db_error("prune");
		goto fail;
	}
	if (nrows > 0 && store__write_begin() != 0)
		goto fail;
	for (; i < nrows; i++) {
		s = store__st(S_JOB_DELETE);
		sqlite3_bind_int64(s, 1, rows[i].id);
		if (store__st_exec(s, "prune delete") != 0 ||
		    delete_deps(rows[i].id, rows[i].deps) != 0)
			goto fail;
		fn(rows[i].id, rows[i].qid, rows[i].state, rows[i].attempts,
		   arg);
		free(rows[i].deps);
	}
	*n = (int64_t)nrows;
	free(rows);
	return 0;
fail:
	for (; i < nrows; i++)
		free(rows[i].deps);
	free(rows);
	return -1;
}

int
store__sqlite_job_prune(int64_t before, int64_t qid, int64_t limit,
			store_prune_fn fn, void *arg, int64_t *n)
{
	*n = 0;
	sqlite3_stmt *s = store__st(S_JOB_PRUNE_SELECT);
	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, qid);
	sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
	return prune_selected(s, fn, arg, n);
}

int
store__sqlite_job_prune_rule(const struct store_prune_rule *r, int64_t limit,
			     store_prune_fn fn, void *arg, int64_t *n)
{
	*n = 0;
	sqlite3_stmt *s =
		store__st(r->keep > 0 ? S_JOB_PRUNE_KEEP : S_JOB_PRUNE_STATE);
	sqlite3_bind_int64(s, 1, r->before);
	sqlite3_bind_int64(s, 2, r->qid);
	sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
	sqlite3_bind_int64(s, 4, r->keep > 0 ? r->keep : r->state);
	return prune_selected(s, fn, arg, n);
}
