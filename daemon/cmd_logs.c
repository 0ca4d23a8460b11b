/*
 * cmd_logs: the output commands — logs (a window of an attempt's log,
 * and with follow a deferred reply that sends what the attempt writes
 * until the job ends; of an attempt that ran on another node, only a
 * window inside the end of its log stored in the database) and watch
 * (the connection's event subscription).
 */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "joblog.h"
#include "queue.h"
#include "xmem.h"

#define LOGS_DEFAULT (64 * 1024)
#define LOGS_MAX (16 * 1024 * 1024)

/* ---- logs ---- */

static void
follow_f(void *arg)
{
	struct cmd_deferred *d = arg;
	int64_t ids[1] = {d->job_id};
	bool done[1] = {false};
	struct events_waiter w = {ids, done, 1, 1, coro_self(), NULL, NULL};
	events_add_waiter(&w);
	for (;;) {
		struct store_job_brief b;
		if (store_job_brief(d->job_id, &b) != 0)
			break;
		if (d->attempt == 0 && b.attempt > d->followed) {
			/* A new attempt started: follow it from its
			 * start. */
			d->followed = b.attempt;
			d->offset = 0;
		}
		int attempt = d->attempt ? d->attempt : d->followed;
		for (;;) {
			struct joblog_window lr;
			joblog_read(cmd_ctx()->log_dir, d->job_id, attempt,
				    d->offset, LOGS_MAX, &lr);
			if (lr.next_offset <= d->offset) {
				json_decref(lr.data);
				break;
			}
			json_t *ev = json_pack("{s:s,s:I,s:i,s:o}", "event",
					       "log", "job_id",
					       (json_int_t)d->job_id, "attempt",
					       attempt, "data", lr.data);
			control_send(d->c, ev);
			json_decref(ev);
			d->offset = lr.next_offset;
		}
		if (jobd_state_is_terminal(b.state) || d->c->closed)
			break;
		/* The runner appends output as it comes; look again soon,
		 * or at once when the job ends. */
		if (await_wakeup(0.1) != 0 && diag_code() == E_CANCELLED)
			goto out;
	}
	if (!d->c->closed) {
		json_t *job = store_job_json(d->job_id, false);
		json_t *ev = json_pack("{s:s,s:I,s:o}", "event", "log.end",
				       "job_id", (json_int_t)d->job_id, "job",
				       job ? job : json_null());
		control_send(d->c, ev);
		json_decref(ev);
	}
out:
	events_remove_waiter(&w);
	cmd_deferred_free(d);
}

/*
 * Where attempt a (0: none yet) of job id ran.  Returns 1 when its log is
 * here (or no node is known for it: a SQLite store, or an attempt that no
 * node recorded); 0 when it ran on another node and the window at offset
 * lies in the end of its log that node stored, then read into *w; -1 after
 * answering r: with invalid_state naming that node for a window outside
 * that end, a follow, or an attempt that runs there now.  Yields.
 */
static int
read_here(struct cmd_req *r, int64_t id, int a, int64_t offset, int64_t max,
	  bool follow, struct joblog_window *w)
{
	struct store_attempt_seen s;
	const char *me = store_local_node();
	int rc = 1;
	if (a == 0)
		return 1;
	if (store_attempt_where(id, a, &s) != 0) {
		cmd_reply_diag(r);
		return -1;
	}
	if (s.node != NULL && (me == NULL || strcmp(s.node, me) != 0)) {
		rc = 0;
		if (follow || s.running || !s.have_tail || s.tail == NULL ||
		    !joblog_window_of(s.tail, s.tail_len, s.log_size, offset,
				      max, w)) {
			cmd_reply_error(
				r, E_STATE, "job %lld attempt %d ran on %s%s",
				(long long)id, a, s.node,
				s.running ? " (still running there)" : "");
			rc = -1;
		}
	}
	store_attempt_seen_destroy(&s);
	return rc;
}

void
cmd_logs(struct cmd_req *r)
{
	int64_t id = 0, offset = 0, max = LOGS_DEFAULT;
	int attempt = 0;
	bool follow = false;
	struct store_job_brief b;
	const json_t *v;
	if (cmd_arg_job_id(cmd_arg(r, "job_id"), "job_id", &id) != 0 ||
	    cmd_arg_bool(r, "follow", &follow) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if ((v = cmd_arg(r, "attempt")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000) {
			cmd_reply_error(r, E_INVAL,
					"attempt: must be a positive integer");
			return;
		}
		attempt = (int)json_integer_value(v);
	}
	if ((v = cmd_arg(r, "offset")) != NULL) {
		if (!json_is_integer(v)) {
			cmd_reply_error(r, E_INVAL,
					"offset: must be an integer");
			return;
		}
		offset = json_integer_value(v);
	}
	if ((v = cmd_arg(r, "max_bytes")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > LOGS_MAX) {
			cmd_reply_error(
				r, E_INVAL,
				"max_bytes: must be an integer from 1 to "
				"%d",
				LOGS_MAX);
			return;
		}
		max = json_integer_value(v);
	}
	if (cmd_find_job(r, id, &b) != 0) {
		cmd_reply_diag(r);
		return;
	}
	int latest = b.attempt;
	if (attempt > latest) {
		cmd_reply_error(r, E_NOTFOUND, "job %lld has no attempt %d",
				(long long)id, attempt);
		return;
	}
	int a = attempt ? attempt : latest;
	struct joblog_window lr = {0};
	int here = read_here(r, id, a, offset, max, follow, &lr);
	if (here < 0)
		return;
	/* A follow is refused before anything is answered. */
	struct cmd_deferred *d = NULL;
	if (follow && (d = cmd_deferred_new(r, "logs", follow_f)) == NULL) {
		json_decref(lr.data);
		cmd_reply_diag(r);
		return;
	}
	if (here > 0)
		joblog_read(cmd_ctx()->log_dir, id, a, offset, max, &lr);
	bool truncated = a == latest ? b.output_truncated
				     : lr.size >= cmd_ctx()->cfg->max_log_bytes;
	bool eof = jobd_state_is_terminal(b.state) && lr.next_offset == lr.size;
	cmd_reply_ok(r, json_pack("{s:o,s:I,s:I,s:I,s:b,s:b,s:i}", "data",
				  lr.data, "offset", (json_int_t)lr.offset,
				  "next_offset", (json_int_t)lr.next_offset,
				  "size", (json_int_t)lr.size, "eof", eof,
				  "truncated", truncated, "attempt", a));
	if (d == NULL)
		return;
	d->job_id = id;
	d->attempt = attempt;
	d->offset = lr.next_offset;
	d->followed = a;
}

/* ---- watch ---- */

static void
watch_cb(struct events_sub *s, const char *line, size_t len, void *arg)
{
	(void)s;
	control_send_raw(arg, line, len);
}

void
cmd_watch(struct cmd_req *r)
{
	const json_t *q = cmd_arg(r, "queue"), *j = cmd_arg(r, "job_id");
	int64_t job_id = 0;
	struct labels filter;
	if (cmd_arg_labels(r, &filter) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (q &&
	    (!json_is_string(q) || queue_find(json_string_value(q)) == NULL)) {
		if (!json_is_string(q))
			diag_set(E_INVAL, "queue: must be a string");
		cmd_reply_diag(r);
		return;
	}
	if (j) {
		struct store_job_brief b;
		if (cmd_arg_job_id(j, "job_id", &job_id) != 0 ||
		    cmd_find_job(r, job_id, &b) != 0) {
			cmd_reply_diag(r);
			return;
		}
	}
	struct conn *c = r->c;
	if (c->watching)
		events_unsubscribe(&c->sub);
	free(c->sub.queue);
	free(c->sub.labels);
	c->sub.labels = NULL;
	if (!labels_is_empty(&filter)) {
		c->sub.labels = xmalloc(sizeof(filter));
		*c->sub.labels = filter;
	}
	c->sub.fn = watch_cb;
	c->sub.arg = c;
	c->sub.queue = q ? xstrdup(json_string_value(q)) : NULL;
	c->sub.job_id = job_id;
	c->sub.uid = cmd_uid_filter(c);
	events_subscribe(&c->sub);
	c->watching = true;
	cmd_reply_ok(r, json_object());
}
