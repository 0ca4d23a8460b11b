/*
 * store, both backends: the job object of SPEC 5.2 from a job's column
 * values (store_jobobj.h).  The keys, their order and their types are
 * decided here alone; the backends only read their rows.
 */
#include "store_jobobj.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "store.h"
#include "store_sqlnum.h"

/* A stored output is a number of enum jobspec_output. */
_Static_assert(JOBSPEC_OUTPUT_CAPTURE == 0 && JOBSPEC_OUTPUT_DISCARD == 1,
	       "store_jobobj__json reads output 0 as capture, else discard");

static store_live_progress_fn live_progress;

void
store_set_live_progress(store_live_progress_fn fn)
{
	live_progress = fn;
}

static void
set_time(json_t *o, const char *key, struct store_jobobj__int t)
{
	char tb[JOBD_TIME_LEN];

	json_object_set_new(o, key,
			    t.null ? json_null()
				   : json_string(jobd_time_format(t.v, tb)));
}

static void
set_int(json_t *o, const char *key, struct store_jobobj__int v)
{
	json_object_set_new(o, key, v.null ? json_null() : json_integer(v.v));
}

static void
set_text(json_t *o, const char *key, const char *t)
{
	json_object_set_new(o, key, t != NULL ? json_string(t) : json_null());
}

/* Stored JSON text parsed (a new reference), or NULL when there is none
 * or it does not parse. */
static json_t *
parse(const char *t)
{
	return t != NULL ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
}

/* The stored labels as an object with its keys in order (jsonb keeps
 * them in an order of its own), so both backends show them alike; {}
 * when there are none. */
static json_t *
sorted_labels(const char *t)
{
	json_t *l = parse(t), *o = NULL;
	char *s;

	if (json_object_size(l) > 1 &&
	    (s = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		o = json_loads(s, 0, NULL);
		free(s);
	}
	if (o == NULL && json_is_object(l))
		o = json_incref(l);
	json_decref(l);
	return o != NULL ? o : json_object();
}

static json_t *
rusage(const struct store_jobobj__row *r)
{
	json_t *ru;

	if (r->ru_user.null)
		return json_null();
	ru = json_pack("{s:f,s:f,s:I}", "user", r->ru_user.v, "system",
		       r->ru_sys, "max_rss_kb", (json_int_t)r->ru_maxrss);
	set_int(ru, "memory_peak", r->ru_mempeak);
	return ru;
}

/* What the job says back: its snooze settings and count, its latest
 * attempt's result (or, brief, the result's size) and result_error. */
static void
talkback(json_t *o, const struct store_jobobj__row *r)
{
	json_t *res = NULL;

	set_int(o, "snooze_exit", r->snooze_exit);
	json_object_set_new(o, "snooze",
			    r->snooze.null ? json_null()
					   : json_real(r->snooze.v));
	json_object_set_new(o, "max_snoozes", json_integer(r->max_snoozes));
	json_object_set_new(o, "snoozes", json_integer(r->snoozes));
	if (r->result_brief) {
		if (r->result != NULL)
			json_object_set_new(
				o, "result_bytes",
				json_integer((json_int_t)strlen(r->result)));
	} else {
		res = parse(r->result);
		json_object_set_new(o, "result", res ? res : json_null());
	}
	set_text(o, "result_error", r->result_error);
}

/* The progress of the latest attempt: the running one's when it runs
 * here, else what its end stored. */
static void
set_progress(json_t *o, const struct store_jobobj__row *r)
{
	json_t *p = NULL;
	int64_t bad = r->progress_bad;

	if (live_progress == NULL || !live_progress(r->id, &p, &bad))
		p = parse(r->progress);
	json_object_set_new(o, "progress", p != NULL ? p : json_null());
	json_object_set_new(o, "progress_bad_lines", json_integer(bad));
}

json_t *
store_jobobj__json(const struct store_jobobj__row *r, bool with_env,
		   json_t *env)
{
	json_t *o = json_object();
	json_t *argv = parse(r->argv), *deps, *limits;
	const char *reason = jobd_reason_name(r->reason);

	json_object_set_new(o, "id", json_integer(r->id));
	set_text(o, "queue", r->queue);
	set_text(o, "name", r->name);
	if (argv != NULL)
		json_object_set_new(o, "argv", argv);
	else
		set_text(o, "shell", r->shell);
	set_text(o, "cwd", r->cwd);
	json_object_set_new(o, "priority", json_integer(r->priority));
	json_object_set_new(o, "state", json_string(jobd_state_name(r->state)));
	set_text(o, "reason", reason);
	set_text(o, "error", r->error);
	set_int(o, "exit_code", r->exit_code);
	set_int(o, "signal", r->signal);
	json_object_set_new(o, "attempt", json_integer(r->attempt));
	json_object_set_new(o, "recoveries", json_integer(r->recoveries));
	json_object_set_new(o, "max_attempts", json_integer(r->max_attempts));
	json_object_set_new(o, "timeout", json_real(r->timeout));
	json_object_set_new(o, "kill_grace", json_real(r->kill_grace));
	json_object_set_new(o, "backoff",
			    json_pack("{s:f,s:f,s:f,s:f}", "base", r->b_base,
				      "factor", r->b_factor, "max", r->b_max,
				      "jitter", r->b_jitter));
	deps = parse(r->depends_on);
	json_object_set_new(
		o, "dependency_condition",
		deps != NULL && json_array_size(deps) > 0
			? json_string(jobspec_cond_name(r->dep_cond))
			: json_null());
	json_object_set_new(o, "depends_on", deps ? deps : json_array());
	set_text(o, "unique_key", r->unique_key);
	limits = parse(r->limits);
	json_object_set_new(o, "limits", limits ? limits : json_object());
	json_object_set_new(o, "labels", sorted_labels(r->labels));
	json_object_set_new(o, "uid", json_integer(r->uid));
	set_int(o, "hook_of", r->hook_of);
	if (r->state == JOBD_RUNNING)
		set_int(o, "pid", r->pid);
	else
		json_object_set_new(o, "pid", json_null());
	/* A retry forgets the attempts (started_at with them), and the
	 * node goes with them. */
	set_text(o, "node", r->started_at.null ? NULL : r->node);
	set_int(o, "resubmitted_from", r->resubmitted_from);
	set_time(o, "created_at", r->created_at);
	set_time(o, "run_at", r->run_at);
	set_time(o, "started_at", r->started_at);
	set_time(o, "finished_at", r->finished_at);
	json_object_set_new(o, "duration",
			    r->duration.null ? json_null()
					     : json_real(r->duration.v));
	json_object_set_new(o, "output_truncated", json_boolean(r->truncated));
	json_object_set_new(o, "output",
			    json_string(r->output ? "discard" : "capture"));
	json_object_set_new(o, "linger", json_boolean(r->linger));
	json_object_set_new(o, "rusage", rusage(r));
	talkback(o, r);
	set_progress(o, r);
	if (with_env)
		json_object_set_new(o, "env", env != NULL ? env : json_null());
	return o;
}

const int64_t *
store_jobobj__deps(const struct store_job_new *j, size_t *n)
{
	if (j->deps != NULL) {
		*n = j->ndeps;
		return j->deps;
	}
	*n = j->spec->ndeps;
	return j->spec->depends_on;
}

int
store_jobobj__dep_cond(const struct store_job_new *j)
{
	if (j->dep_cond == JOBSPEC_AFTER_FAILED && j->dep_failed)
		return SQL_DEP_FAILED_MET;
	return j->dep_cond;
}

void
store_jobobj__texts(const struct store_job_new *j,
		    struct store_jobobj__texts *t)
{
	const struct jobspec *sp = j->spec;

	t->argv = sp->argv != NULL ? json_dumps(sp->argv, JSON_COMPACT) : NULL;
	size_t nd;
	const int64_t *deps = store_jobobj__deps(j, &nd);

	t->deps = NULL;
	if (nd > 0) {
		struct buf b = BUF_INIT;

		for (size_t i = 0; i < nd; i++)
			buf_printf(&b, "%s%lld", i ? "," : "[",
				   (long long)deps[i]);
		buf_puts(&b, "]");
		t->deps = buf_detach(&b);
	}
	t->limits = NULL;
	if (!joblimits_is_empty(&j->limits)) {
		json_t *o = joblimits_to_json(&j->limits);

		t->limits = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	t->labels =
		j->labels != NULL
			? json_dumps(j->labels, JSON_COMPACT | JSON_SORT_KEYS)
			: NULL;
}

void
store_jobobj__texts_free(struct store_jobobj__texts *t)
{
	free(t->argv);
	free(t->deps);
	free(t->limits);
	free(t->labels);
	t->argv = t->deps = t->limits = t->labels = NULL;
}

json_t *
store_job_new_json(const struct store_job_new *j, int64_t id, const char *queue)
{
	const struct jobspec *sp = j->spec;
	const struct store_jobobj__int none = {.null = true};
	struct store_jobobj__texts t;

	store_jobobj__texts(j, &t);
	/* The columns the insert leaves to their defaults: no attempt yet,
	 * nothing run, ended at birth only when born cancelled. */
	struct store_jobobj__row r = {
		.id = id,
		.queue = queue,
		.name = sp->name,
		.argv = t.argv,
		.shell = sp->shell,
		.cwd = sp->cwd,
		.priority = sp->priority,
		.state = j->state,
		.reason = j->reason,
		.exit_code = none,
		.signal = none,
		.max_attempts = j->max_attempts,
		.timeout = j->timeout,
		.kill_grace = j->kill_grace,
		.b_base = j->backoff.base,
		.b_factor = j->backoff.factor,
		.b_max = j->backoff.max,
		.b_jitter = j->backoff.jitter,
		.depends_on = t.deps,
		.unique_key = sp->unique_key,
		.limits = t.limits,
		.labels = t.labels,
		.hook_of = {.null = sp->hook_of <= 0, .v = sp->hook_of},
		.uid = (int64_t)j->uid,
		.pid = none,
		.created_at = {.v = j->created_at},
		.run_at = {.v = j->run_at},
		.started_at = none,
		.finished_at =
			jobd_state_is_terminal(j->state)
				? (struct store_jobobj__int){.v = j->created_at}
				: none,
		.duration = {.null = true},
		.output = sp->output,
		.linger = sp->linger,
		.ru_user = {.null = true},
		.ru_mempeak = none,
		.snooze_exit = {.null = j->snooze_exit <= 0,
				.v = j->snooze_exit},
		.snooze = {.null = j->snooze < 0, .v = j->snooze},
		.max_snoozes = j->max_snoozes,
		.dep_cond = j->dep_cond,
		.resubmitted_from = {.null = sp->resubmitted_from <= 0,
				     .v = sp->resubmitted_from},
	};
	json_t *o = store_jobobj__json(&r, false, NULL);

	store_jobobj__texts_free(&t);
	return o;
}
