/*
 * cmd_job: the job commands — submit, get, list, cancel, retry, wait.
 * Each works in slices over what a client can make big (the jobs of a
 * submit, the ids of a cancel or a wait, a listing) and streams its reply;
 * wait answers later, from a deferred reply.  Jobs enter only through
 * submit.h; state changes go through the store, queue and events.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "joblog.h"
#include "jobs.h"
#include "jobspec.h"
#include "labels.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "runner.h"
#include "submit.h"
#include "xmem.h"

#define LIST_DEFAULT 100
#define LIST_MAX 10000
#define BATCH_MAX 100000
/* A listing reads at most this many rows, in a window of at most
 * LIST_WINDOW ids, between two turns of the loop. */
#define LIST_SLICE 32
#define LIST_WINDOW 4096

/* ---- submit ---- */

/* Answers a batch submit: {"ids":[...],"duplicates":[...]}, streamed.
 * Yields. */
static void
reply_submitted(struct cmd_req *r, const struct submit_result *out, size_t n)
{
	struct conn *c = r->c;
	char num[32];
	if (cmd_stream_open(c, r->id, "{\"ids\":[") != 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			control_stream_write(c, "],\"duplicates\":[", 16);
		for (size_t i = 0; i < n; i++) {
			int len = pass == 0 ? snprintf(num, sizeof(num),
						       "%s%lld", i ? "," : "",
						       (long long)out[i].id)
					    : snprintf(num, sizeof(num), "%s%s",
						       i ? "," : "",
						       out[i].duplicate
							       ? "true"
							       : "false");
			control_stream_write(c, num, (size_t)len);
			if (cmd_stream_turn(c) != 0) {
				control_stream_end(c, false);
				return;
			}
		}
	}
	control_stream_write(c, "]}}\n", 4);
	control_stream_end(c, true);
}

/* How many times a submit is made when the database's connection is lost
 * before its commit. */
#define SUBMIT_TRIES 3

void
cmd_submit(struct cmd_req *r)
{
	const json_t *one = cmd_arg(r, "job"), *many = cmd_arg(r, "jobs");
	if (cmd_shutting_down()) {
		cmd_reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if ((one == NULL) == (many == NULL)) {
		cmd_reply_error(r, E_INVAL,
				one ? "jobs: not with job"
				    : "job: one of job or jobs is "
				      "required");
		return;
	}
	if (many && (!json_is_array(many) || json_array_size(many) == 0 ||
		     json_array_size(many) > BATCH_MAX)) {
		cmd_reply_error(r, E_INVAL,
				"jobs: must be an array of 1 to %d job specs",
				BATCH_MAX);
		return;
	}
	size_t n = one ? 1 : json_array_size(many);
	struct jobspec *specs = xcalloc(n, sizeof(*specs));
	struct submit_result *out = xcalloc(n, sizeof(*out));
	size_t parsed = 0;
	for (; parsed < n; parsed++) {
		jobspec_init(&specs[parsed]);
		const json_t *o = one ? one : json_array_get(many, parsed);
		if (jobspec_parse(o, &specs[parsed]) != 0) {
			if (many) {
				char p[32];
				snprintf(p, sizeof(p), "jobs[%zu]", parsed);
				diag_prefix(p);
			}
			parsed++;
			cmd_reply_diag(r);
			goto out;
		}
		if (await_slice() != 0) {
			parsed++;
			goto out;
		}
	}
	/* Committed before the answer.  A transaction lost with the
	 * database's connection before its COMMIT went committed nothing:
	 * the submit is made again (the connection is made again first). */
	int rc;
	for (int tries = 1;; tries++) {
		rc = submit_jobs(specs, n, r->c->uid, many ? "jobs" : NULL, out,
				 true);
		if (rc == 0)
			rc = store_sync();
		else if (diag_code() == E_DB)
			(void)store_sync(); /* its transaction ended: how */
		if (rc == 0 || tries == SUBMIT_TRIES ||
		    !store_failed_uncommitted() || diag_code() == E_CANCELLED)
			break;
		log_info("submit: %s; submitting again", diag_msg());
	}
	if (rc != 0) {
		if (diag_code() != E_CANCELLED)
			cmd_reply_diag(r);
		goto out;
	}
	if (one)
		cmd_reply_ok(r,
			     json_pack("{s:I,s:b}", "id", (json_int_t)out[0].id,
				       "duplicate", out[0].duplicate));
	else
		reply_submitted(r, out, n);
out:
	for (size_t i = 0; i < parsed; i++) {
		jobspec_destroy(&specs[i]);
		if (i % 1024 == 1023)
			(void)await_slice();
	}
	free(specs);
	free(out);
}

/* ---- get, list ---- */

void
cmd_get(struct cmd_req *r)
{
	int64_t id = 0;
	bool env = false;
	struct store_job_brief b;
	if (cmd_arg_job_id(cmd_arg(r, "job_id"), "job_id", &id) != 0 ||
	    cmd_arg_bool(r, "env", &env) != 0 || cmd_find_job(r, id, &b) != 0) {
		cmd_reply_diag(r);
		return;
	}
	json_t *job = store_job_json(id, env);
	if (job == NULL) {
		cmd_reply_diag(r);
		return;
	}
	/* A job that gave no env runs with the minimal one: show that. */
	if (env && json_is_null(json_object_get(job, "env")))
		json_object_set_new(job, "env", runner_minimal_env(b.uid));
	cmd_reply_ok(r, json_pack("{s:o}", "job", job));
}

int
cmd_state_mask(const json_t *v, unsigned *mask)
{
	*mask = 0;
	if (v == NULL)
		return 0;
	if (json_is_string(v)) {
		int s = jobd_state_parse(json_string_value(v));
		if (s < 0)
			return diag_set(E_INVAL, "state: unknown state %s",
					json_string_value(v));
		*mask = 1u << s;
		return 0;
	}
	if (!json_is_array(v))
		return diag_set(E_INVAL, "state: must be a state or an array "
					 "of states");
	size_t i;
	const json_t *e;
	json_array_foreach (v, i, e) {
		int s = json_is_string(e)
				? jobd_state_parse(json_string_value(e))
				: -1;
		if (s < 0)
			return diag_set(E_INVAL, "state: unknown state");
		*mask |= 1u << s;
	}
	return 0;
}

/* Reads the next slice of a listing: at most LIST_SLICE rows (and want),
 * in a window of LIST_WINDOW ids from the cursor *at on — upwards, or
 * downwards with f->desc — never past `end` (the far bound: the highest id
 * ascending, the after_id descending), into a new array; *at moves to
 * where the next slice starts.  NULL with diag on error. */
static json_t *
list_slice(const struct store_job_filter *f, int want, int64_t end, int64_t *at)
{
	struct store_job_filter w = *f;
	w.limit = want < LIST_SLICE ? want : LIST_SLICE;
	if (f->desc) {
		/* Ids in (w.after_id, *at), newest first. */
		w.before_id = *at;
		w.after_id = *at - end > LIST_WINDOW + 1 ? *at - LIST_WINDOW - 1
							 : end;
	} else {
		/* Ids in (*at, w.upto_id]. */
		w.after_id = *at;
		w.upto_id = end - *at > LIST_WINDOW ? *at + LIST_WINDOW : end;
	}
	json_t *jobs = json_array();
	int64_t next;
	if (store_job_list(&w, jobs, &next) != 0) {
		json_decref(jobs);
		return NULL;
	}
	if (f->desc)
		*at = next ? next : w.after_id + 1;
	else
		*at = next ? next : w.upto_id;
	return jobs;
}

/* Answers a listing, streamed: read in slices of ids (so that no query
 * scans far, whatever the filter), each written out before the next is
 * read.  Yields. */
static void
list_stream(struct cmd_req *r, const struct store_job_filter *f)
{
	struct conn *c = r->c;
	int64_t top = store_job_max_id(), at, end, last = 0;
	if (f->desc) {
		/* From below before_id (or the newest) down to after_id. */
		at = f->before_id > 0 && f->before_id <= top ? f->before_id
							     : top + 1;
		end = f->after_id;
	} else {
		at = f->after_id;
		end = f->before_id > 0 && f->before_id - 1 < top
			      ? f->before_id - 1
			      : top;
	}
	int got = 0;
	bool first = true;
#define LIST_DONE() (f->desc ? at <= end + 1 : at >= end)
	/* The first slice is read before the reply starts, so that an
	 * error is answered as one. */
	json_t *jobs = !LIST_DONE() ? list_slice(f, f->limit, end, &at)
				    : json_array();
	if (jobs == NULL) {
		cmd_reply_diag(r);
		return;
	}
	if (cmd_stream_open(c, r->id, "{\"jobs\":[") != 0) {
		json_decref(jobs);
		return;
	}
	for (;;) {
		size_t i;
		json_t *job;
		json_array_foreach (jobs, i, job) {
			char *t = json_dumps(job, CONTROL_JSON_FLAGS);
			if (t == NULL)
				continue;
			if (!first)
				control_stream_write(c, ",", 1);
			control_stream_write(c, t, strlen(t));
			free(t);
			first = false;
			last = json_integer_value(json_object_get(job, "id"));
			got++;
		}
		json_decref(jobs);
		if (got >= f->limit || LIST_DONE())
			break;
		if (cmd_stream_turn(c) != 0)
			goto cut;
		jobs = list_slice(f, f->limit - got, end, &at);
		if (jobs == NULL) {
			log_error("conn[%lld]: list: %s", (long long)c->num,
				  diag_msg());
			goto cut;
		}
	}
#undef LIST_DONE
	/* A full page names the cursor of the next: after_id ascending,
	 * before_id newest first. */
	const char *key = f->desc ? "next_before_id" : "next_after_id";
	char tail[80];
	int len;
	if (got >= f->limit)
		len = snprintf(tail, sizeof(tail), "],\"%s\":%lld}}\n", key,
			       (long long)last);
	else
		len = snprintf(tail, sizeof(tail), "],\"%s\":null}}\n", key);
	control_stream_write(c, tail, (size_t)len);
	control_stream_end(c, true);
	return;
cut:
	control_stream_end(c, false);
}

void
cmd_list(struct cmd_req *r)
{
	struct store_job_filter f = {
		.qid = -1, .limit = LIST_DEFAULT, .uid = cmd_uid_filter(r->c)};
	const json_t *v;
	if ((v = cmd_arg(r, "queue")) != NULL) {
		struct queue *q = json_is_string(v)
					  ? queue_find(json_string_value(v))
					  : NULL;
		if (!json_is_string(v))
			diag_set(E_INVAL, "queue: must be a string");
		if (q == NULL) {
			cmd_reply_diag(r);
			return;
		}
		f.qid = q->id;
	}
	struct labels labels;
	if (cmd_state_mask(cmd_arg(r, "state"), &f.state_mask) != 0 ||
	    cmd_arg_labels(r, &labels) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (!labels_is_empty(&labels))
		f.labels = &labels;
	if ((v = cmd_arg(r, "limit")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > LIST_MAX) {
			cmd_reply_error(
				r, E_INVAL,
				"limit: must be an integer from 1 to %d",
				LIST_MAX);
			return;
		}
		f.limit = (int)json_integer_value(v);
	}
	if ((v = cmd_arg(r, "after_id")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			cmd_reply_error(r, E_INVAL,
					"after_id: must be an integer >= 0");
			return;
		}
		f.after_id = json_integer_value(v);
	}
	if ((v = cmd_arg(r, "before_id")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			cmd_reply_error(r, E_INVAL,
					"before_id: must be an integer >= 0");
			return;
		}
		f.before_id = json_integer_value(v);
	}
	/* "desc" lists newest first and pages on with next_before_id. */
	if ((v = cmd_arg(r, "order")) != NULL) {
		const char *o = json_string_value(v);
		if (o == NULL ||
		    (strcmp(o, "asc") != 0 && strcmp(o, "desc") != 0)) {
			cmd_reply_error(r, E_INVAL,
					"order: must be \"asc\" or \"desc\"");
			return;
		}
		f.desc = strcmp(o, "desc") == 0;
	}
	list_stream(r, &f);
}

/* ---- cancel, retry ---- */

void
cmd_cancel(struct cmd_req *r)
{
	int64_t *ids;
	size_t n;
	struct store_job_brief b;
	if (cmd_arg(r, "filter") != NULL) {
		cmd_cancel_filter(r);
		return;
	}
	if (cmd_arg_job_ids(r, &ids, &n) != 0) {
		cmd_reply_diag(r);
		return;
	}
	/* All or nothing: every job is checked before any is cancelled. */
	for (size_t i = 0; i < n; i++) {
		if (cmd_find_job(r, ids[i], &b) != 0)
			goto fail;
		if (jobd_state_is_terminal(b.state)) {
			diag_set(E_STATE, "job %lld is %s", (long long)ids[i],
				 jobd_state_name(b.state));
			goto fail;
		}
		if (await_slice() != 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* A dependent cancelled by an earlier id of this list, or a
		 * job that ended since its check, is terminal by now. */
		if (store_job_brief(ids[i], &b) == 0 &&
		    !jobd_state_is_terminal(b.state) &&
		    jobs_cancel(&b, jobd_time_now_ms()) != 0)
			goto fail; /* the error, not jobs left running */
		/* Claimed here, its attempt not started: it will not. */
		consumer_cancelled(ids[i]);
		/* Cancelled or not, every job checked is cancelled. */
		(void)await_slice();
	}
	cmd_reply_jobs(r->c, r->id, ids, n);
	goto out;
fail:
	cmd_reply_diag(r);
out:
	free(ids);
}

int
cmd_retry_job(const struct store_job_brief *b)
{
	if (b->state != JOBD_FAILED && b->state != JOBD_CANCELLED)
		return diag_set(E_STATE,
				"job %lld is %s, not failed or cancelled",
				(long long)b->id, jobd_state_name(b->state));
	/* A job cancelled while running is `cancelled` before its process
	 * has gone: one job never has two live attempts. */
	if (consumer_holds(b->id))
		return diag_set(E_STATE,
				"job %lld is still stopping; retry "
				"once its process has exited",
				(long long)b->id);
	if (jobs_retry(b, jobd_time_now_ms()) != 0)
		return -1;
	/* The job starts afresh: its attempts count from 1 again, so the
	 * logs of the earlier round go, and `logs` shows the new run. */
	joblog_remove(cmd_ctx()->log_dir, b->id, b->attempt);
	return 0;
}

void
cmd_retry(struct cmd_req *r)
{
	int64_t id = 0;
	struct store_job_brief b;
	if (cmd_arg(r, "filter") != NULL) {
		cmd_retry_filter(r);
		return;
	}
	if (cmd_shutting_down()) {
		cmd_reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if (cmd_arg_job_id(cmd_arg(r, "job_id"), "job_id", &id) != 0 ||
	    cmd_find_job(r, id, &b) != 0 || cmd_retry_job(&b) != 0) {
		cmd_reply_diag(r);
		return;
	}
	json_t *job = store_job_json(id, false);
	cmd_reply_ok(r, json_pack("{s:o}", "job", job ? job : json_null()));
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Answers a wait with any: the job id, ended. */
static void
reply_any(struct conn *c, json_t *rid, int64_t id)
{
	struct cmd_req req = {.c = c, .id = rid};
	json_t *job = store_job_json(id, false);

	cmd_reply_ok(&req, json_pack("{s:o}", "job", job ? job : json_null()));
}

static void
wait_f(void *arg)
{
	struct cmd_deferred *d = arg;
	/* Sorted unique copy for the waiter; d->ids keeps request order. */
	int64_t *sorted = xcalloc(d->nids, sizeof(int64_t));
	memcpy(sorted, d->ids, d->nids * sizeof(int64_t));
	bool in_order = true;
	for (size_t i = 1; i < d->nids && in_order; i++)
		in_order = sorted[i - 1] <= sorted[i];
	if (!in_order)
		qsort(sorted, d->nids, sizeof(int64_t), cmp_id);
	size_t n = 0;
	for (size_t i = 0; i < d->nids; i++)
		if (n == 0 || sorted[n - 1] != sorted[i])
			sorted[n++] = sorted[i];
	bool *done = xcalloc(n, sizeof(bool));
	/* With any, the first end counts it down to 0, which wakes. */
	struct events_waiter w = {sorted,      done, n,	  d->any ? 1 : n,
				  coro_self(), NULL, NULL};
	double deadline = d->timeout >= 0 ? loop_now() + d->timeout : -1;
	bool cancelled = false;
	/* Listening first: a job that ends while the others are looked at
	 * (in slices) is not missed. */
	events_add_waiter(&w);
	for (size_t i = 0; i < n && w.left > 0; i++) {
		struct store_job_brief b;
		/* done[i] is looked at again after the read: the event may
		 * have counted the job while the read waited on the store. */
		if (!done[i] && store_job_brief(sorted[i], &b) == 0 &&
		    !done[i] && jobd_state_is_terminal(b.state)) {
			done[i] = true;
			w.left--;
		}
		if (await_slice() != 0) {
			cancelled = true;
			break;
		}
	}
	while (w.left > 0 && !cancelled) {
		double left = deadline >= 0 ? deadline - loop_now() : -1;
		if (deadline >= 0 && left <= 0)
			break;
		if (await_wakeup(left) != 0 && diag_code() == E_CANCELLED) {
			cancelled = true;
			break;
		}
	}
	events_remove_waiter(&w);
	if (!cancelled && !d->c->closed) {
		size_t k = 0;

		while (d->any && k < n && !done[k])
			k++;
		if (d->any && w.left == 0 && k < n)
			reply_any(d->c, d->id, sorted[k]);
		else if (w.left == 0)
			cmd_reply_jobs(d->c, d->id, d->ids, d->nids);
		else
			cmd_reply_error_id(d->c, d->id, E_TIMEOUT,
					   "jobs not finished in time");
	}
	free(sorted);
	free(done);
	cmd_deferred_free(d);
}

/* The jobs pending or running, of all the states. */
static unsigned
pending_states(void)
{
	unsigned mask = 0;
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		if (!jobd_state_is_terminal(s))
			mask |= 1u << s;
	return mask;
}

/* The listing of a wait by filter: the jobs of w pending or running (of
 * its states, when it names some), with ids in (after, upto]. */
static struct store_job_filter
wait_filter(const struct cmd_filter *w, int64_t after, int64_t upto, int limit)
{
	struct store_job_filter f = w->f;
	f.state_mask = f.state_mask != 0 ? f.state_mask & pending_states()
					 : pending_states();
	f.after_id = after;
	f.upto_id = upto;
	f.limit = limit;
	return f;
}

/* Waits for the first job of d's filter from id *at on that is pending
 * or running, and moves *at to it: 1 when there was one (ended now), 0
 * when the rows read held none (*at moved past them), -1 with diag
 * (E_TIMEOUT past deadline, E_CANCELLED, or the store's error).
 * Yields. */
static int
wait_labels_step(struct cmd_deferred *d, int64_t top, int64_t *at,
		 double deadline)
{
	/* One row is enough when the store matches the whole filter. */
	struct store_job_filter f =
		wait_filter(d->filter, *at,
			    top - *at > LIST_WINDOW ? *at + LIST_WINDOW : top,
			    cmd_filter_after_store(d->filter) ? LIST_SLICE : 1);
	json_t *jobs = json_array(), *job;
	int64_t next, id = 0;
	size_t i;
	if (store_job_list(&f, jobs, &next) != 0) {
		json_decref(jobs);
		return -1;
	}
	json_array_foreach (jobs, i, job) {
		if (cmd_filter_match(d->filter, job)) {
			id = json_integer_value(json_object_get(job, "id"));
			break;
		}
	}
	json_decref(jobs);
	if (id == 0) {
		*at = next != 0 ? next : f.upto_id;
		return 0;
	}
	/* Listening first, then looking: an end in between is not
	 * missed. */
	bool done = false;
	struct events_waiter w = {&id, &done, 1, 1, coro_self(), NULL, NULL};
	struct store_job_brief b;
	int rc = 1;
	events_add_waiter(&w);
	if (store_job_brief(id, &b) != 0 || jobd_state_is_terminal(b.state))
		done = true;
	while (!done) {
		double left = deadline >= 0 ? deadline - loop_now() : -1;
		if (deadline >= 0 && left <= 0) {
			rc = diag_set(E_TIMEOUT, "jobs not finished in time");
			break;
		}
		if (await_wakeup(left) != 0 && diag_code() == E_CANCELLED) {
			rc = -1;
			break;
		}
	}
	events_remove_waiter(&w);
	/* Looked at again from it: a retry may have brought it back. */
	*at = id - 1;
	return rc;
}

/* wait with a filter and any: the ids of the jobs of the filter pending
 * or running now into *ids (a new array the caller frees, *n of them),
 * read in windows between turns of the loop.  -1 with diag (E_TIMEOUT
 * past deadline, E_CANCELLED, the store's error).  Yields. */
static int
wait_collect(const struct cmd_filter *w, double deadline, int64_t **ids,
	     size_t *n)
{
	int64_t at = 0, top, next;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	while (at < (top = store_job_max_id())) {
		int64_t upto = top - at > LIST_WINDOW ? at + LIST_WINDOW : top;
		struct store_job_filter f =
			wait_filter(w, at, upto, LIST_WINDOW);
		json_t *jobs = json_array(), *job;
		size_t i;

		if (store_job_list(&f, jobs, &next) != 0) {
			json_decref(jobs);
			return -1;
		}
		json_array_foreach (jobs, i, job) {
			if (!cmd_filter_match(w, job))
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*ids = xreallocarray(*ids, cap, sizeof(**ids));
			}
			(*ids)[(*n)++] =
				json_integer_value(json_object_get(job, "id"));
		}
		json_decref(jobs);
		at = upto;
		if (deadline >= 0 && loop_now() > deadline)
			return diag_set(E_TIMEOUT, "jobs not finished in time");
		if (await_slice() != 0)
			return -1;
	}
	return 0;
}

/* wait with a filter and any, in the request's own turn (so that the
 * connection's next request is read once the jobs are known): the jobs of
 * the filter pending or running now, answered at the first end of one by
 * wait_f; at once, with no job, when there is none. */
static void
wait_any_filter(struct cmd_req *r, const struct cmd_filter *w, double timeout)
{
	double deadline = timeout >= 0 ? loop_now() + timeout : -1;
	int64_t *ids;
	size_t n;

	if (wait_collect(w, deadline, &ids, &n) != 0) {
		if (diag_code() != E_CANCELLED)
			cmd_reply_diag(r);
		free(ids);
		return;
	}
	if (n == 0) {
		cmd_reply_ok(r, json_object());
		free(ids);
		return;
	}
	struct cmd_deferred *d = cmd_deferred_new(r, "wait", wait_f);
	if (d == NULL) {
		cmd_reply_diag(r);
		free(ids);
		return;
	}
	d->ids = ids;
	d->nids = n;
	/* What is left of the time from now on. */
	d->timeout = deadline < 0	     ? -1
		     : deadline > loop_now() ? deadline - loop_now()
					     : 0;
	d->any = true;
}

/* wait with labels or a queue: answers once no job of the filter (of the
 * caller, unless root) is pending or running.  One pass over the ids in
 * windows finds the first such job, waits for its end, and goes on from
 * it; jobs submitted meanwhile have higher ids, so the pass meets them
 * before it ends. */
static void
wait_labels_f(void *arg)
{
	struct cmd_deferred *d = arg;
	double deadline = d->timeout >= 0 ? loop_now() + d->timeout : -1;
	int64_t at = 0, top;
	int rc = 0;
	while (rc >= 0 && at < (top = store_job_max_id())) {
		rc = wait_labels_step(d, top, &at, deadline);
		/* A scan over many ids that ended: the deadline holds
		 * between windows too. */
		if (rc >= 0 && deadline >= 0 && loop_now() > deadline)
			rc = diag_set(E_TIMEOUT, "jobs not finished in time");
		if (rc >= 0 && await_slice() != 0)
			rc = -1;
	}
	if (!d->c->closed && (rc >= 0 || diag_code() != E_CANCELLED)) {
		struct cmd_req req = {.c = d->c, .id = d->id};
		if (rc >= 0)
			cmd_reply_ok(&req, json_object());
		else
			cmd_reply_error_id(d->c, d->id, diag_code(),
					   diag_msg());
	}
	cmd_deferred_free(d);
}

/* The filter of a wait by labels or queue (the fields of the request)
 * into *w.  0, or -1 with diag. */
static int
wait_fields(struct cmd_req *r, struct cmd_filter *w)
{
	const json_t *q = cmd_arg(r, "queue");
	memset(w, 0, sizeof(*w));
	w->f.qid = -1;
	w->f.uid = cmd_uid_filter(r->c);
	if (cmd_arg_labels(r, &w->labels) != 0)
		return -1;
	if (labels_is_empty(&w->labels) && q == NULL)
		return diag_set(E_INVAL, "labels: must hold a label to wait "
					 "for");
	if (!labels_is_empty(&w->labels))
		w->f.labels = &w->labels;
	if (q != NULL) {
		struct queue *qq = json_is_string(q)
					   ? queue_find(json_string_value(q))
					   : NULL;
		if (!json_is_string(q))
			return diag_set(E_INVAL, "queue: must be a string");
		if (qq == NULL)
			return -1;
		w->f.qid = qq->id;
	}
	return 0;
}

/* wait with a filter, or labels or a queue (or both), not with ids:
 * refused, or answered later by wait_labels_f (with any,
 * wait_any_filter). */
static void
wait_labels(struct cmd_req *r, double timeout, bool any)
{
	const json_t *fo = cmd_arg(r, "filter");
	const char *by = fo != NULL		       ? "filter"
			 : cmd_arg(r, "queue") != NULL ? "queue"
						       : "labels";
	struct cmd_filter *w = xmalloc(sizeof(*w));
	int rc;
	if (cmd_arg(r, "job_id") != NULL || cmd_arg(r, "job_ids") != NULL)
		rc = diag_set(E_INVAL, "%s: not with job_id or job_ids", by);
	else if (fo != NULL &&
		 (cmd_arg(r, "queue") != NULL || cmd_arg(r, "labels") != NULL))
		rc = diag_set(E_INVAL, "filter: not with queue or labels");
	else if (fo != NULL)
		rc = cmd_filter_parse(r->c, fo, w);
	else
		rc = wait_fields(r, w);
	if (rc != 0) {
		if (fo != NULL)
			cmd_filter_free(w);
		free(w);
		cmd_reply_diag(r);
		return;
	}
	if (w->f.state_mask != 0 && (w->f.state_mask & pending_states()) == 0) {
		/* Only ended states: nothing of them is left to end. */
		cmd_filter_free(w);
		free(w);
		cmd_reply_ok(r, json_object());
		return;
	}
	if (any) {
		wait_any_filter(r, w, timeout);
		cmd_filter_free(w);
		free(w);
		return;
	}
	struct cmd_deferred *d = cmd_deferred_new(r, "wait", wait_labels_f);
	if (d == NULL) {
		cmd_filter_free(w);
		free(w);
		cmd_reply_diag(r);
		return;
	}
	d->filter = w;
	d->timeout = timeout;
}

void
cmd_wait(struct cmd_req *r)
{
	int64_t *ids;
	size_t n;
	double timeout = -1;
	bool any = false;
	if (cmd_arg_seconds(r, "timeout", &timeout) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (cmd_arg_bool(r, "any", &any) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (cmd_arg(r, "labels") != NULL || cmd_arg(r, "queue") != NULL ||
	    cmd_arg(r, "filter") != NULL) {
		wait_labels(r, timeout, any);
		return;
	}
	if (cmd_arg_job_ids(r, &ids, &n) != 0) {
		cmd_reply_diag(r);
		return;
	}
	bool all_done = true;
	int64_t ended = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_job_brief b;
		if (cmd_find_job(r, ids[i], &b) != 0) {
			cmd_reply_diag(r);
			free(ids);
			return;
		}
		if (!jobd_state_is_terminal(b.state))
			all_done = false;
		else if (ended == 0)
			ended = ids[i];
		if (await_slice() != 0) {
			free(ids);
			return;
		}
	}
	if (any && ended != 0) {
		reply_any(r->c, r->id, ended);
		free(ids);
		return;
	}
	if (all_done) {
		cmd_reply_jobs(r->c, r->id, ids, n);
		free(ids);
		return;
	}
	if (timeout == 0) {
		cmd_reply_error(r, E_TIMEOUT, "jobs not finished in time");
		free(ids);
		return;
	}
	struct cmd_deferred *d = cmd_deferred_new(r, "wait", wait_f);
	if (d == NULL) {
		cmd_reply_diag(r);
		free(ids);
		return;
	}
	d->ids = ids;
	d->nids = n;
	d->timeout = timeout;
	d->any = any;
}
