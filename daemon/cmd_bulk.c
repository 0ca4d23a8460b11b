/*
 * cmd_bulk: cancel and retry by filter, and resubmit.  A filter picks the
 * caller's jobs (every job for root) by queue, state, labels, name (a
 * glob) and creation time; the ids known when the request came are gone
 * through in windows, a slice at a time, and each job matched is cancelled
 * or retried through the same paths as one named by id.
 */
#include "cmd.h"

#include <fnmatch.h>
#include <stdint.h>
#include <string.h>

#include "await.h"
#include "consumer.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobs.h"
#include "labels.h"
#include "queue.h"
#include "store.h"

/* A window reads at most this many rows, in at most BULK_WINDOW ids,
 * between two turns of the loop (as a listing does). */
#define BULK_SLICE 32
#define BULK_WINDOW 4096
#define BULK_NAME_MAX 1024

static const char *const filter_fields[] = {"queue", "state",  "labels",
					    "name",  "before", "after",
					    NULL};

struct bulk {
	struct store_job_filter f;
	struct labels labels;
	const char *name; /* borrowed from the request; NULL: any */
	int64_t before;	  /* ms: created before it only; 0: no bound */
	int64_t after;	  /* ms: created after it only; 0: no bound */
};

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

/* Reads r's filter into *b (labels and name borrowed from r).  0, or -1
 * with E_INVAL naming the field. */
static int
filter_parse(struct cmd_req *r, struct bulk *b)
{
	const json_t *o = cmd_arg(r, "filter"), *v;
	const char *key;
	memset(b, 0, sizeof(*b));
	b->f.qid = -1;
	b->f.uid = cmd_uid_filter(r->c);
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
		b->name = json_string_value(v);
	}
	if (filter_time(o, "before", &b->before) != 0 ||
	    filter_time(o, "after", &b->after) != 0)
		return -1;
	return 0;
}

/* Whether job (an object of the listing) passes what the store's filter
 * does not look at: its name and its creation time. */
static bool
bulk_match(const struct bulk *b, const json_t *job)
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
bulk_each(struct bulk *b, bulk_fn fn, int64_t *matched, int64_t *changed)
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
			if (!bulk_match(b, job))
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
	struct bulk b;
	int64_t matched, changed;
	if (cmd_arg(r, "job_id") != NULL || cmd_arg(r, "job_ids") != NULL) {
		cmd_reply_error(r, E_INVAL, "filter: not with job_id or job_ids");
		return;
	}
	if (filter_parse(r, &b) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (bulk_each(&b, fn, &matched, &changed) != 0) {
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
