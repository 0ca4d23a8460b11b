/*
 * cmd_bulk: cancel and retry by filter, and resubmit.  A filter picks the
 * caller's jobs (every job for root) by queue, state, labels, name (a
 * glob) and creation time; the ids known when the request came are gone
 * through in windows, a slice at a time, and each job matched is cancelled
 * or retried through the same paths as one named by id.  resubmit makes
 * a new job of a finished one's spec, through submit.h.
 */
#include "cmd.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "consumer.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobs.h"
#include "jobspec.h"
#include "labels.h"
#include "queue.h"
#include "store.h"
#include "submit.h"
#include "xmem.h"

/* A window reads at most this many rows, in at most BULK_WINDOW ids,
 * between two turns of the loop (as a listing does). */
#define BULK_SLICE 32
#define BULK_WINDOW 4096
#define BULK_NAME_MAX 1024

static const char *const filter_fields[] = {"queue",  "state", "labels", "name",
					    "before", "after", NULL};

/* Per job matched: 1 when it was changed, 0 when it was left as it is,
 * -1 with diag to stop.  May yield. */
typedef int (*bulk_fn)(const struct store_job_brief *b);

static int
filter_time(const json_t *o, const char *key, int64_t *ms)
{
	const json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || jobd_time_parse(json_string_value(v), ms) < 0)
		return diag_set(E_INVAL,
				"filter.%s: must be an RFC 3339 time "
				"(\"2026-12-05T10:00:00Z\")",
				key);
	return 0;
}

int
cmd_filter_parse(const struct conn *c, const json_t *o, struct cmd_filter *b)
{
	const json_t *v;
	const char *key;
	memset(b, 0, sizeof(*b));
	b->f.qid = -1;
	b->f.uid = cmd_uid_filter(c);
	if (!json_is_object(o))
		return diag_set(E_INVAL, "filter: must be an object");
	/* jansson iterates only non-const objects; nothing writes here. */
	json_object_foreach ((json_t *)(uintptr_t)o, key, v) {
		const char *const *f = filter_fields;
		while (*f && strcmp(*f, key) != 0)
			f++;
		if (*f == NULL)
			return diag_set(E_INVAL, "filter.%s: unknown field",
					key);
	}
	if ((v = json_object_get(o, "queue")) != NULL && !json_is_null(v)) {
		struct queue *q = json_is_string(v)
					  ? queue_find(json_string_value(v))
					  : NULL;
		if (!json_is_string(v))
			return diag_set(E_INVAL,
					"filter.queue: must be a string");
		if (q == NULL)
			return -1;
		b->f.qid = q->id;
	}
	if ((v = json_object_get(o, "state")) != NULL && !json_is_null(v) &&
	    cmd_state_mask(v, &b->f.state_mask) != 0) {
		diag_prefix("filter");
		return -1;
	}
	if (labels_parse(json_object_get(o, "labels"), &b->labels) != 0) {
		diag_prefix("filter");
		return -1;
	}
	if (!labels_is_empty(&b->labels))
		b->f.labels = &b->labels;
	if ((v = json_object_get(o, "name")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > BULK_NAME_MAX)
			return diag_set(E_INVAL,
					"filter.name: must be a glob of 1 to "
					"%d bytes",
					BULK_NAME_MAX);
		b->name = xstrdup(json_string_value(v));
	}
	if (filter_time(o, "before", &b->before) != 0 ||
	    filter_time(o, "after", &b->after) != 0)
		return -1;
	return 0;
}

bool
cmd_filter_after_store(const struct cmd_filter *b)
{
	return b->name != NULL || b->before != 0 || b->after != 0;
}

void
cmd_filter_free(struct cmd_filter *b)
{
	free(b->name);
	b->name = NULL;
}

bool
cmd_filter_match(const struct cmd_filter *b, const json_t *job)
{
	if (b->name != NULL) {
		const char *n = json_string_value(json_object_get(job, "name"));
		if (n == NULL || fnmatch(b->name, n, 0) != 0)
			return false;
	}
	if (b->before != 0 || b->after != 0) {
		const char *t =
			json_string_value(json_object_get(job, "created_at"));
		int64_t ms;
		if (t == NULL || jobd_time_parse(t, &ms) != 0)
			return false;
		if (b->before != 0 && !(ms < b->before))
			return false;
		if (b->after != 0 && !(ms > b->after))
			return false;
	}
	return true;
}

/* Calls fn for every job of b among the ids there were when it began, in
 * windows of ids, giving the loop a turn between jobs once a slice is
 * spent; counts the jobs matched and changed.  Jobs submitted meanwhile
 * are not looked at.  0, or -1 with diag (what was done stays done).
 * Yields. */
static int
bulk_each(struct cmd_filter *b, bulk_fn fn, int64_t *matched, int64_t *changed)
{
	int64_t top = store_job_max_id(), at = 0;
	*matched = *changed = 0;
	while (at < top) {
		struct store_job_filter w = b->f;
		w.after_id = at;
		w.upto_id = top - at > BULK_WINDOW ? at + BULK_WINDOW : top;
		w.limit = BULK_SLICE;
		json_t *jobs = json_array(), *job;
		int64_t next;
		size_t i;
		if (store_job_list(&w, jobs, &next) != 0) {
			json_decref(jobs);
			return -1;
		}
		at = next ? next : w.upto_id;
		json_array_foreach (jobs, i, job) {
			if (!cmd_filter_match(b, job))
				continue;
			(*matched)++;
			struct store_job_brief jb;
			json_int_t id =
				json_integer_value(json_object_get(job, "id"));
			/* Read again: an earlier one may have moved it. */
			if (store_job_brief(id, &jb) != 0)
				continue;
			int rc = fn(&jb);
			if (rc < 0) {
				json_decref(jobs);
				return -1;
			}
			*changed += rc;
			if (await_slice() != 0) {
				json_decref(jobs);
				return -1;
			}
		}
		json_decref(jobs);
		if (await_slice() != 0)
			return -1;
	}
	return 0;
}

static int
cancel_one(const struct store_job_brief *b)
{
	if (jobd_state_is_terminal(b->state))
		return 0;
	if (jobs_cancel(b, jobd_time_now_ms()) != 0)
		return -1;
	/* Claimed here, its attempt not started: it will not. */
	consumer_cancelled(b->id);
	return 1;
}

static int
retry_one(const struct store_job_brief *b)
{
	if (cmd_retry_job(b) == 0)
		return 1;
	return diag_code() == E_STATE ? 0 : -1;
}

/* Answers {matched, changed} for r's filter, fn applied to each job. */
static void
bulk_run(struct cmd_req *r, bulk_fn fn)
{
	struct cmd_filter b;
	int64_t matched, changed;
	if (cmd_arg(r, "job_id") != NULL || cmd_arg(r, "job_ids") != NULL) {
		cmd_reply_error(r, E_INVAL,
				"filter: not with job_id or job_ids");
		return;
	}
	if (cmd_filter_parse(r->c, cmd_arg(r, "filter"), &b) != 0) {
		cmd_filter_free(&b);
		cmd_reply_diag(r);
		return;
	}
	int rc = bulk_each(&b, fn, &matched, &changed);
	cmd_filter_free(&b);
	if (rc != 0) {
		if (diag_code() != E_CANCELLED)
			cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_pack("{s:I,s:I}", "matched", (json_int_t)matched,
				  "changed", (json_int_t)changed));
}

void
cmd_cancel_filter(struct cmd_req *r)
{
	bulk_run(r, cancel_one);
}

void
cmd_retry_filter(struct cmd_req *r)
{
	if (cmd_shutting_down()) {
		cmd_reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	bulk_run(r, retry_one);
}

/* ---- resubmit ---- */

/* The members of a job object that are fields of its spec, copied into
 * the spec of its resubmit (run_at is not: the copy runs now, unless an
 * override says otherwise). */
static const char *const spec_fields[] = {
	"argv",	   "shell",	  "queue",	"name",	       "cwd",
	"env",	   "priority",	  "timeout",	"kill_grace",  "max_attempts",
	"backoff", "depends_on",  "unique_key", "output",      "limits",
	"linger",  "snooze_exit", "snooze",	"max_snoozes", "labels",
	NULL,
};

/* The fields that name a job's dependencies, one per condition. */
static const char *const dep_fields[] = {"depends_on", "after", "after_any",
					 "after_failed", NULL};

/* The spec of stored job id with the fields of overrides (borrowed, an
 * object or NULL) laid over it, one level deep; new, or NULL with diag. */
static json_t *
resubmit_spec(int64_t id, const json_t *overrides)
{
	json_t *job = store_job_json(id, true);
	if (job == NULL)
		return NULL;
	json_t *spec = json_object();
	for (const char *const *f = spec_fields; *f; f++) {
		json_t *v = json_object_get(job, *f);
		/* An empty list or object is as not given. */
		if (v == NULL || json_is_null(v) ||
		    (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0))
			continue;
		json_object_set(spec, *f, v);
	}
	/* The dependencies under the field of their condition; an override
	 * naming dependencies replaces them whatever its condition. */
	const char *cond =
		json_string_value(json_object_get(job, "dependency_condition"));
	json_t *deps = json_object_get(spec, "depends_on");
	if (cond != NULL && deps != NULL && strcmp(cond, "after") != 0) {
		json_object_set(spec, cond, deps);
		json_object_del(spec, "depends_on");
	}
	json_decref(job);
	if (overrides == NULL)
		return spec;
	for (const char *const *f = dep_fields; *f; f++)
		if (json_object_get(overrides, *f) != NULL)
			for (const char *const *g = dep_fields; *g; g++)
				json_object_del(spec, *g);
	json_object_update(spec, (json_t *)(uintptr_t)overrides);
	return spec;
}

void
cmd_resubmit(struct cmd_req *r)
{
	const json_t *over = cmd_arg(r, "overrides");
	struct store_job_brief b;
	struct jobspec spec;
	struct submit_result out = {0};
	int64_t id = 0;
	if (cmd_shutting_down()) {
		cmd_reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if (cmd_arg_job_id(cmd_arg(r, "job_id"), "job_id", &id) != 0 ||
	    cmd_find_job(r, id, &b) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (over != NULL && !json_is_object(over)) {
		cmd_reply_error(r, E_INVAL,
				"overrides: must be an object of job spec "
				"fields");
		return;
	}
	if (!jobd_state_is_terminal(b.state)) {
		cmd_reply_error(r, E_STATE, "job %lld is %s, not finished",
				(long long)id, jobd_state_name(b.state));
		return;
	}
	json_t *obj = resubmit_spec(id, over);
	if (obj == NULL) {
		cmd_reply_diag(r);
		return;
	}
	jobspec_init(&spec);
	int rc = jobspec_parse(obj, &spec);
	if (rc != 0 && over != NULL)
		diag_prefix("overrides");
	spec.resubmitted_from = id;
	/* The copy is the owner's, whoever asks (root may). */
	if (rc == 0)
		rc = submit_jobs(&spec, 1, b.uid, NULL, &out, true);
	if (rc == 0)
		rc = store_sync();
	if (rc == 0 && out.duplicate)
		rc = diag_set(E_STATE,
			      "job %lld: its unique_key is held by job %lld, "
			      "not finished",
			      (long long)id, (long long)out.id);
	jobspec_destroy(&spec);
	json_decref(obj);
	if (rc != 0) {
		if (diag_code() != E_CANCELLED)
			cmd_reply_diag(r);
		return;
	}
	json_t *job = store_job_json(out.id, false);
	cmd_reply_ok(r, json_pack("{s:o}", "job", job ? job : json_null()));
}
