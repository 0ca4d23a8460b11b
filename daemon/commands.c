/*
 * commands: the protocol's command handlers.  Owns the deferred replies
 * (wait, logs follow) until they answer or their connection goes.
 */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "await.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobs.h"
#include "jobspec.h"
#include "jsonin.h"
#include "producer.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "runner.h"
#include "scheduler.h"
#include "store.h"
#include "submit.h"
#include "utf8.h"
#include "xmem.h"

#define LIST_DEFAULT 100
#define LIST_MAX 10000
#define LOGS_DEFAULT (64 * 1024)
#define LOGS_MAX (16 * 1024 * 1024)
#define BATCH_MAX 100000
#define WAIT_IDS_MAX 100000
/* Replies that come later (wait, logs follow) each hold a coroutine and
 * its stack: at most this many on one connection, and in all. */
#define DEFERRED_PER_CONN 256
#define DEFERRED_MAX 4096
/* Longest request id, encoded: it is echoed in every reply and kept by
 * deferred ones. */
#define ID_MAX_BYTES 1024
/* A request line longer than this is parsed and freed in slices. */
#define BIG_REQUEST (64 * 1024)
/* A listing reads at most this many rows, in a window of at most
 * LIST_WINDOW ids, between two turns of the loop. */
#define LIST_SLICE 32
#define LIST_WINDOW 4096
/* Jobs pruned between two turns of the loop. */
#define PRUNE_CHUNK 64

/* What one request carries while it is handled. */
struct req {
	struct conn *c;
	json_t *msg;		/* the whole request, borrowed */
	json_t *id;		/* borrowed */
};

typedef void (*handler_fn)(struct req *r);

struct command {
	const char *name;
	handler_fn fn;
	bool admin;		/* needs root or admin_group */
	const char *const *fields;	/* allowed argument names */
};

/* A reply that comes later. */
struct deferred {
	struct conn *c;
	json_t *id;		/* owned */
	struct coro *co;
	struct deferred *next, *prev;
	/* wait */
	int64_t *ids;
	size_t nids;
	double timeout;
	/* logs follow */
	int64_t job_id;
	int attempt;		/* asked for; 0: follow the latest */
	int followed;		/* the attempt followed now */
	int64_t offset;
};

static struct commands_ctx ctx;
static bool shutting_down;
static struct deferred *deferreds;
static int ndeferreds;

/* ---- replies ---- */

static void
reply_ok(struct req *r, json_t *result)
{
	json_t *o = json_object();
	json_object_set(o, "id", r->id ? r->id : json_null());
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result", result ? result : json_object());
	control_send(r->c, o);
	json_decref(o);
}

static void
reply_error_id(struct conn *c, json_t *id, int code, const char *msg)
{
	json_t *o = json_pack("{s:O,s:b,s:{s:s,s:s}}", "id",
			      id ? id : json_null(), "ok", 0, "error", "code",
			      diag_wire_name(code), "message", msg);
	control_send(c, o);
	json_decref(o);
}

static void
reply_diag(struct req *r)
{
	int code = diag_code();
	if (code == E_CONFLICT)
		code = E_STATE;
	reply_error_id(r->c, r->id, code ? code : E_INTERNAL, diag_msg());
}

static void
reply_error(struct req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
reply_error(struct req *r, int code, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_id(r->c, r->id, code, msg);
}

/* Starts a streamed reply: {"id":ID,"ok":true,"result":<head>.  The
 * caller writes the rest with control_stream_write(), calls stream_turn()
 * between pieces, and ends with control_stream_end().  -1 when c is
 * closed.  Yields. */
static int
stream_open(struct conn *c, const json_t *id, const char *head)
{
	if (control_stream_begin(c) != 0)
		return -1;
	char *idtxt = json_dumps(id ? id : json_null(),
				 JSON_ENCODE_ANY | CONTROL_JSON_FLAGS);
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"id\":%s,\"ok\":true,\"result\":%s",
		   idtxt ? idtxt : "null", head);
	free(idtxt);
	control_stream_write(c, b.data, b.len);
	buf_release(&b);
	return 0;
}

/* Between two pieces of a streamed reply: the peer takes what waits, and
 * the loop gets its turn.  -1 when the reply cannot go on.  Yields. */
static int
stream_turn(struct conn *c)
{
	if (control_await_drain(c) != 0 || await_slice() != 0)
		return -1;
	return 0;
}

/* Appends job id's object to a streamed reply (a comma first unless
 * *first).  A job gone meanwhile is left out. */
static void
stream_job(struct conn *c, int64_t id, bool *first)
{
	json_t *job = store_job_json(id, false);
	if (job == NULL)
		return;
	char *t = json_dumps(job, CONTROL_JSON_FLAGS);
	json_decref(job);
	if (t == NULL)
		return;
	if (!*first)
		control_stream_write(c, ",", 1);
	control_stream_write(c, t, strlen(t));
	free(t);
	*first = false;
}

/* Answers {"jobs":[...]} for ids, streamed one job at a time: a reply
 * about 100,000 jobs never holds 100,000 job objects, nor its whole text,
 * nor the loop.  Yields. */
static void
reply_jobs(struct conn *c, json_t *id, const int64_t *ids, size_t n)
{
	if (stream_open(c, id, "{\"jobs\":[") != 0)
		return;
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		stream_job(c, ids[i], &first);
		if (stream_turn(c) != 0) {
			control_stream_end(c, false);
			return;
		}
	}
	control_stream_write(c, "]}}\n", 4);
	control_stream_end(c, true);
}

/* ---- argument helpers ---- */

static const json_t *
arg(struct req *r, const char *key)
{
	const json_t *v = json_object_get(r->msg, key);
	return json_is_null(v) ? NULL : v;
}

static int
arg_job_id(const json_t *v, const char *field, int64_t *id)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return diag_set(E_INVAL, "%s: must be a positive integer",
				field);
	*id = json_integer_value(v);
	return 0;
}

/* job_id or job_ids, into a new array (caller frees). */
static int
arg_job_ids(struct req *r, int64_t **ids, size_t *n)
{
	const json_t *one = arg(r, "job_id"), *many = arg(r, "job_ids");
	*ids = NULL;
	*n = 0;
	if (one && many)
		return diag_set(E_INVAL, "job_ids: not with job_id");
	if (one) {
		*ids = xmalloc(sizeof(int64_t));
		*n = 1;
		if (arg_job_id(one, "job_id", *ids) != 0) {
			free(*ids);
			*ids = NULL;
			return -1;
		}
		return 0;
	}
	if (!json_is_array(many) || json_array_size(many) == 0 ||
	    json_array_size(many) > WAIT_IDS_MAX)
		return diag_set(E_INVAL,
				many ? "job_ids: must be a non-empty array of "
				       "job ids"
				     : "job_id: required");
	*n = json_array_size(many);
	*ids = xcalloc(*n, sizeof(int64_t));
	for (size_t i = 0; i < *n; i++) {
		if (arg_job_id(json_array_get(many, i), "job_ids",
			       &(*ids)[i]) != 0) {
			free(*ids);
			*ids = NULL;
			return -1;
		}
	}
	return 0;
}

static int
arg_bool(struct req *r, const char *key, bool *out)
{
	const json_t *v = arg(r, key);
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return diag_set(E_INVAL, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

static int
arg_seconds(struct req *r, const char *key, double *out)
{
	const json_t *v = arg(r, key);
	if (v == NULL)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) < 0 ||
	    json_number_value(v) > JOBSPEC_MAX_SECONDS)
		return diag_set(E_INVAL, "%s: must be a number of seconds >= 0",
				key);
	*out = json_number_value(v);
	return 0;
}

static int
arg_name(struct req *r, const char **name)
{
	const json_t *v = arg(r, "name");
	if (!json_is_string(v))
		return diag_set(E_INVAL, "name: required string");
	*name = json_string_value(v);
	return 0;
}

/* The caller may see this job. */
static bool
visible(const struct conn *c, uid_t owner)
{
	return c->uid == 0 || c->uid == owner;
}

/* Brief of a job the caller may see; E_NOTFOUND otherwise. */
static int
find_job(struct req *r, int64_t id, struct store_job_brief *b)
{
	if (store_job_brief(id, b) != 0 || !visible(r->c, b->uid))
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	return 0;
}

static long
uid_filter(const struct conn *c)
{
	return c->uid == 0 ? -1 : (long)c->uid;
}

/* Removes the logs of job id's attempts (one more than counted: an
 * attempt given back by a shutdown has a log too). */
static void
remove_logs(int64_t id, int attempts)
{
	for (int a = 1; a <= attempts + 1; a++) {
		char *path = runner_log_path(ctx.log_dir, id, a);
		unlink(path);
		free(path);
	}
}

/* ---- ping, stats ---- */

static void
cmd_ping(struct req *r)
{
	json_t *o = json_pack("{s:O,s:b,s:{s:s,s:i,s:f}}", "id",
			      r->id ? r->id : json_null(), "ok", 1, "result",
			      "version", JOBD_VERSION, "pid", (int)getpid(),
			      "uptime", loop_now() - ctx.started_at);
	/* It reports nothing stored: no need to wait for a commit (say,
	 * while a big submit holds one open). */
	control_send_nosync(r->c, o);
	json_decref(o);
}

static int64_t
rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

static void
cmd_stats(struct req *r)
{
	int64_t counts[JOBD_STATE_COUNT] = {0};
	for (struct queue *q = queue_first(); q; q = q->next)
		for (int s = 0; s < JOBD_STATE_COUNT; s++)
			counts[s] += q->counts[s];
	json_t *jobs = json_object();
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		json_object_set_new(jobs, jobd_state_name(s),
				    json_integer(counts[s]));
	struct loop_stats ls;
	loop_get_stats(&ls);
	int64_t dbb, walb;
	store_sizes(&dbb, &walb);
	struct events_totals *t = &events_totals;
	json_t *res = json_pack(
		"{s:s,s:i,s:f,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:i,"
		"s:{s:I,s:f,s:I,s:f},s:{s:s,s:I,s:I},s:I}",
		"version", JOBD_VERSION, "pid", (int)getpid(), "uptime",
		loop_now() - ctx.started_at, "jobs", jobs, "totals",
		"submitted", (json_int_t)t->submitted, "started",
		(json_int_t)t->started, "succeeded", (json_int_t)t->succeeded,
		"failed", (json_int_t)t->failed, "retried",
		(json_int_t)t->retried, "timed_out", (json_int_t)t->timed_out,
		"cancelled", (json_int_t)t->cancelled, "connections",
		control_connections(), "loop", "iterations",
		(json_int_t)ls.iterations, "lag_max_ms", ls.lag_max_ms,
		"slow_callbacks", (json_int_t)ls.slow_callbacks, "slowest_ms",
		ls.slowest_ms, "db", "path", ctx.db_path, "size_bytes",
		(json_int_t)dbb, "wal_bytes", (json_int_t)walb, "rss_bytes",
		(json_int_t)rss_bytes());
	reply_ok(r, res);
}

/* ---- submit ---- */

/* Answers a batch submit: {"ids":[...],"duplicates":[...]}, streamed.
 * Yields. */
static void
reply_submitted(struct req *r, const struct submit_result *out, size_t n)
{
	struct conn *c = r->c;
	char num[32];
	if (stream_open(c, r->id, "{\"ids\":[") != 0)
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
			if (stream_turn(c) != 0) {
				control_stream_end(c, false);
				return;
			}
		}
	}
	control_stream_write(c, "]}}\n", 4);
	control_stream_end(c, true);
}

static void
cmd_submit(struct req *r)
{
	const json_t *one = arg(r, "job"), *many = arg(r, "jobs");
	if (shutting_down) {
		reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if ((one == NULL) == (many == NULL)) {
		reply_error(r, E_INVAL, one ? "jobs: not with job"
					    : "job: one of job or jobs is "
					      "required");
		return;
	}
	if (many && (!json_is_array(many) || json_array_size(many) == 0 ||
		     json_array_size(many) > BATCH_MAX)) {
		reply_error(r, E_INVAL,
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
			reply_diag(r);
			goto out;
		}
		if (await_slice() != 0) {
			parsed++;
			goto out;
		}
	}
	if (submit_jobs(specs, n, r->c->uid, many ? "jobs" : NULL, out,
			true) != 0) {
		if (diag_code() != E_CANCELLED)
			reply_diag(r);
		goto out;
	}
	if (one)
		reply_ok(r, json_pack("{s:I,s:b}", "id", (json_int_t)out[0].id,
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

static void
cmd_get(struct req *r)
{
	int64_t id = 0;
	bool env = false;
	struct store_job_brief b;
	if (arg_job_id(arg(r, "job_id"), "job_id", &id) != 0 ||
	    arg_bool(r, "env", &env) != 0 || find_job(r, id, &b) != 0) {
		reply_diag(r);
		return;
	}
	json_t *job = store_job_json(id, env);
	if (job == NULL) {
		reply_diag(r);
		return;
	}
	/* A job that gave no env runs with the minimal one: show that. */
	if (env && json_is_null(json_object_get(job, "env")))
		json_object_set_new(job, "env", runner_minimal_env(b.uid));
	reply_ok(r, json_pack("{s:o}", "job", job));
}

static int
state_mask(const json_t *v, unsigned *mask)
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
	json_array_foreach(v, i, e)
	{
		int s = json_is_string(e) ? jobd_state_parse(json_string_value(e))
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
list_slice(const struct store_job_filter *f, int want, int64_t end,
	   int64_t *at)
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
list_stream(struct req *r, const struct store_job_filter *f)
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
		reply_diag(r);
		return;
	}
	if (stream_open(c, r->id, "{\"jobs\":[") != 0) {
		json_decref(jobs);
		return;
	}
	for (;;) {
		size_t i;
		json_t *job;
		json_array_foreach(jobs, i, job)
		{
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
		if (stream_turn(c) != 0)
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

static void
cmd_list(struct req *r)
{
	struct store_job_filter f = {.qid = -1,
				     .limit = LIST_DEFAULT,
				     .uid = uid_filter(r->c)};
	const json_t *v;
	if ((v = arg(r, "queue")) != NULL) {
		struct queue *q = json_is_string(v)
					  ? queue_find(json_string_value(v))
					  : NULL;
		if (!json_is_string(v))
			diag_set(E_INVAL, "queue: must be a string");
		if (q == NULL) {
			reply_diag(r);
			return;
		}
		f.qid = q->id;
	}
	if (state_mask(arg(r, "state"), &f.state_mask) != 0) {
		reply_diag(r);
		return;
	}
	if ((v = arg(r, "limit")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > LIST_MAX) {
			reply_error(r, E_INVAL,
				    "limit: must be an integer from 1 to %d",
				    LIST_MAX);
			return;
		}
		f.limit = (int)json_integer_value(v);
	}
	if ((v = arg(r, "after_id")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			reply_error(r, E_INVAL,
				    "after_id: must be an integer >= 0");
			return;
		}
		f.after_id = json_integer_value(v);
	}
	if ((v = arg(r, "before_id")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			reply_error(r, E_INVAL,
				    "before_id: must be an integer >= 0");
			return;
		}
		f.before_id = json_integer_value(v);
	}
	/* "desc" lists newest first and pages on with next_before_id. */
	if ((v = arg(r, "order")) != NULL) {
		const char *o = json_string_value(v);
		if (o == NULL || (strcmp(o, "asc") != 0 &&
				  strcmp(o, "desc") != 0)) {
			reply_error(r, E_INVAL,
				    "order: must be \"asc\" or \"desc\"");
			return;
		}
		f.desc = strcmp(o, "desc") == 0;
	}
	list_stream(r, &f);
}

/* ---- cancel, retry ---- */

static void
cmd_cancel(struct req *r)
{
	int64_t *ids;
	size_t n;
	struct store_job_brief b;
	if (arg_job_ids(r, &ids, &n) != 0) {
		reply_diag(r);
		return;
	}
	/* All or nothing: every job is checked before any is cancelled. */
	for (size_t i = 0; i < n; i++) {
		if (find_job(r, ids[i], &b) != 0)
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
			goto fail;	/* the error, not jobs left running */
		/* Cancelled or not, every job checked is cancelled. */
		(void)await_slice();
	}
	reply_jobs(r->c, r->id, ids, n);
	goto out;
fail:
	reply_diag(r);
out:
	free(ids);
}

static void
cmd_retry(struct req *r)
{
	int64_t id = 0;
	struct store_job_brief b;
	if (shutting_down) {
		reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if (arg_job_id(arg(r, "job_id"), "job_id", &id) != 0 ||
	    find_job(r, id, &b) != 0) {
		reply_diag(r);
		return;
	}
	if (b.state != JOBD_FAILED && b.state != JOBD_CANCELLED) {
		reply_error(r, E_STATE, "job %lld is %s, not failed or "
					"cancelled",
			    (long long)id, jobd_state_name(b.state));
		return;
	}
	/* A job cancelled while running is `cancelled` before its process
	 * has gone: one job never has two live attempts. */
	if (consumer_holds(id)) {
		reply_error(r, E_STATE, "job %lld is still stopping; retry "
					"once its process has exited",
			    (long long)id);
		return;
	}
	if (jobs_retry(&b, jobd_time_now_ms()) != 0) {
		reply_diag(r);
		return;
	}
	/* The job starts afresh: its attempts count from 1 again, so the
	 * logs of the earlier round go, and `logs` shows the new run. */
	remove_logs(id, b.attempt);
	json_t *job = store_job_json(id, false);
	reply_ok(r, json_pack("{s:o}", "job", job ? job : json_null()));
}

/* ---- deferred replies ---- */

/* Whether r may leave a reply pending; -1 with E_BUSY when too many are
 * (the connection's coroutine holds one of its references). */
static int
deferred_check(struct req *r)
{
	if (r->c->refs - 1 >= DEFERRED_PER_CONN)
		return diag_set(E_BUSY,
				"too many pending replies on this connection "
				"(%d)",
				DEFERRED_PER_CONN);
	if (ndeferreds >= DEFERRED_MAX)
		return diag_set(E_BUSY, "too many pending replies (%d)",
				DEFERRED_MAX);
	return 0;
}

/* A pending reply for r whose coroutine runs fn, or NULL with E_BUSY when
 * none can be had now (limits, or no stack for the coroutine).  Set the
 * fields fn needs before it runs: it starts at the next scheduler pass. */
static struct deferred *
deferred_new(struct req *r, const char *what, coro_fn fn)
{
	if (deferred_check(r) != 0)
		return NULL;
	struct deferred *d = xcalloc(1, sizeof(*d));
	char name[48];
	snprintf(name, sizeof(name), "%s[conn%lld]", what,
		 (long long)r->c->num);
	d->co = coro_try_spawn(name, fn, d);
	if (d->co == NULL) {
		free(d);
		return NULL;
	}
	coro_detach(d->co);
	ndeferreds++;
	d->c = r->c;
	d->id = json_incref(r->id ? r->id : json_null());
	control_conn_ref(r->c);
	d->next = deferreds;
	if (deferreds)
		deferreds->prev = d;
	deferreds = d;
	return d;
}

static void
deferred_free(struct deferred *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		deferreds = d->next;
	if (d->next)
		d->next->prev = d->prev;
	json_decref(d->id);
	control_conn_unref(d->c);
	free(d->ids);
	free(d);
	ndeferreds--;
}


static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void
wait_f(void *arg)
{
	struct deferred *d = arg;
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
	struct events_waiter w = {sorted, done, n, n, coro_self(), NULL, NULL};
	double deadline = d->timeout >= 0 ? loop_now() + d->timeout : -1;
	bool cancelled = false;
	/* Listening first: a job that ends while the others are looked at
	 * (in slices) is not missed. */
	events_add_waiter(&w);
	for (size_t i = 0; i < n && w.left > 0; i++) {
		struct store_job_brief b;
		if (!done[i] && store_job_brief(sorted[i], &b) == 0 &&
		    jobd_state_is_terminal(b.state)) {
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
		if (w.left == 0)
			reply_jobs(d->c, d->id, d->ids, d->nids);
		else
			reply_error_id(d->c, d->id, E_TIMEOUT,
				       "jobs not finished in time");
	}
	free(sorted);
	free(done);
	deferred_free(d);
}

static void
cmd_wait(struct req *r)
{
	int64_t *ids;
	size_t n;
	double timeout = -1;
	if (arg_seconds(r, "timeout", &timeout) != 0 ||
	    arg_job_ids(r, &ids, &n) != 0) {
		reply_diag(r);
		return;
	}
	bool all_done = true;
	for (size_t i = 0; i < n; i++) {
		struct store_job_brief b;
		if (find_job(r, ids[i], &b) != 0) {
			reply_diag(r);
			free(ids);
			return;
		}
		if (!jobd_state_is_terminal(b.state))
			all_done = false;
		if (await_slice() != 0) {
			free(ids);
			return;
		}
	}
	if (all_done) {
		reply_jobs(r->c, r->id, ids, n);
		free(ids);
		return;
	}
	if (timeout == 0) {
		reply_error(r, E_TIMEOUT, "jobs not finished in time");
		free(ids);
		return;
	}
	struct deferred *d = deferred_new(r, "wait", wait_f);
	if (d == NULL) {
		reply_diag(r);
		free(ids);
		return;
	}
	d->ids = ids;
	d->nids = n;
	d->timeout = timeout;
}

/* ---- logs ---- */

struct log_read {
	json_t *data;
	int64_t offset, next_offset, size;
};

static int
read_log(int64_t id, int attempt, int64_t offset, int64_t max,
	 struct log_read *lr)
{
	char *path = runner_log_path(ctx.log_dir, id, attempt);
	int fd = attempt > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	free(path);
	lr->size = 0;
	if (fd >= 0) {
		struct stat sb;
		if (fstat(fd, &sb) == 0)
			lr->size = sb.st_size;
	}
	if (offset < 0)
		offset = lr->size + offset < 0 ? 0 : lr->size + offset;
	if (offset > lr->size)
		offset = lr->size;
	lr->offset = offset;
	size_t want = (size_t)(lr->size - offset < max ? lr->size - offset
						       : max);
	char *data = xmalloc(want + 1);
	ssize_t got = 0;
	if (fd >= 0 && want > 0) {
		got = pread(fd, data, want, offset);
		if (got < 0)
			got = 0;
	}
	if (fd >= 0)
		close(fd);
	size_t keep = (size_t)got;
	if (offset + got < lr->size || keep == want)
		keep = utf8_whole(data, keep);
	/* A window smaller than the character at its start still moves on:
	 * the cut bytes come out as U+FFFD rather than never. */
	if (keep == 0)
		keep = (size_t)got;
	lr->data = utf8_string(data, keep);
	lr->next_offset = offset + (int64_t)keep;
	free(data);
	return 0;
}

static void
follow_f(void *arg)
{
	struct deferred *d = arg;
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
			struct log_read lr;
			read_log(d->job_id, attempt, d->offset, LOGS_MAX, &lr);
			if (lr.next_offset <= d->offset) {
				json_decref(lr.data);
				break;
			}
			json_t *ev = json_pack("{s:s,s:I,s:i,s:o}", "event",
					       "log", "job_id",
					       (json_int_t)d->job_id,
					       "attempt", attempt, "data",
					       lr.data);
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
	deferred_free(d);
}

static void
cmd_logs(struct req *r)
{
	int64_t id = 0, offset = 0, max = LOGS_DEFAULT;
	int attempt = 0;
	bool follow = false;
	struct store_job_brief b;
	const json_t *v;
	if (arg_job_id(arg(r, "job_id"), "job_id", &id) != 0 ||
	    arg_bool(r, "follow", &follow) != 0) {
		reply_diag(r);
		return;
	}
	if ((v = arg(r, "attempt")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000) {
			reply_error(r, E_INVAL,
				    "attempt: must be a positive integer");
			return;
		}
		attempt = (int)json_integer_value(v);
	}
	if ((v = arg(r, "offset")) != NULL) {
		if (!json_is_integer(v)) {
			reply_error(r, E_INVAL, "offset: must be an integer");
			return;
		}
		offset = json_integer_value(v);
	}
	if ((v = arg(r, "max_bytes")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > LOGS_MAX) {
			reply_error(r, E_INVAL,
				    "max_bytes: must be an integer from 1 to "
				    "%d",
				    LOGS_MAX);
			return;
		}
		max = json_integer_value(v);
	}
	if (find_job(r, id, &b) != 0) {
		reply_diag(r);
		return;
	}
	int latest = b.attempt;
	if (attempt > latest) {
		reply_error(r, E_NOTFOUND, "job %lld has no attempt %d",
			    (long long)id, attempt);
		return;
	}
	/* A follow is refused before anything is answered. */
	struct deferred *d = NULL;
	if (follow && (d = deferred_new(r, "logs", follow_f)) == NULL) {
		reply_diag(r);
		return;
	}
	int a = attempt ? attempt : latest;
	struct log_read lr;
	read_log(id, a, offset, max, &lr);
	bool truncated = a == latest ? b.output_truncated
				     : lr.size >= ctx.cfg->max_log_bytes;
	bool eof = jobd_state_is_terminal(b.state) &&
		   lr.next_offset == lr.size;
	reply_ok(r, json_pack("{s:o,s:I,s:I,s:I,s:b,s:b,s:i}", "data", lr.data,
			      "offset", (json_int_t)lr.offset, "next_offset",
			      (json_int_t)lr.next_offset, "size",
			      (json_int_t)lr.size, "eof", eof, "truncated",
			      truncated, "attempt", a));
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

static void
cmd_watch(struct req *r)
{
	const json_t *q = arg(r, "queue"), *j = arg(r, "job_id");
	int64_t job_id = 0;
	if (q && (!json_is_string(q) || queue_find(json_string_value(q)) ==
						NULL)) {
		if (!json_is_string(q))
			diag_set(E_INVAL, "queue: must be a string");
		reply_diag(r);
		return;
	}
	if (j) {
		struct store_job_brief b;
		if (arg_job_id(j, "job_id", &job_id) != 0 ||
		    find_job(r, job_id, &b) != 0) {
			reply_diag(r);
			return;
		}
	}
	struct conn *c = r->c;
	if (c->watching)
		events_unsubscribe(&c->sub);
	free(c->sub.queue);
	c->sub.fn = watch_cb;
	c->sub.arg = c;
	c->sub.queue = q ? xstrdup(json_string_value(q)) : NULL;
	c->sub.job_id = job_id;
	c->sub.uid = uid_filter(c);
	events_subscribe(&c->sub);
	c->watching = true;
	reply_ok(r, json_object());
}

/* ---- queues ---- */

static struct queue *
named_queue(struct req *r)
{
	const char *name = NULL;
	if (arg_name(r, &name) != 0)
		return NULL;
	return queue_find(name);
}

/* queue.updated for q, when someone watches. */
static void
announce_queue(const struct queue *q)
{
	if (events_watched())
		events_queue(q->conf.name, queue_json(q));
}

static void
cmd_queue_list(struct req *r)
{
	json_t *arr = json_array();
	for (struct queue *q = queue_first(); q; q = q->next)
		json_array_append_new(arr, queue_json(q));
	reply_ok(r, json_pack("{s:o}", "queues", arr));
}

static void
cmd_queue_get(struct req *r)
{
	struct queue *q = named_queue(r);
	if (q == NULL) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}

static void
cmd_queue_create(struct req *r)
{
	const char *name = NULL;
	struct queue_conf base, qc;
	if (arg_name(r, &name) != 0) {
		reply_diag(r);
		return;
	}
	if (!jobspec_queue_name_valid(name)) {
		reply_error(r, E_INVAL,
			    "name: must be 1 to 64 of A-Z a-z 0-9 _ . -");
		return;
	}
	if (queue_find(name) != NULL) {
		reply_error(r, E_STATE, "queue %s exists", name);
		return;
	}
	/* A queue may be created paused, so nothing starts before its jobs
	 * are in; pausing later is queue.pause's. */
	bool paused = false;
	if (arg_bool(r, "paused", &paused) != 0) {
		reply_diag(r);
		return;
	}
	json_object_del(r->msg, "paused");
	queue_conf_init(&base, name);
	if (queue_conf_from_json(r->msg, &base, &qc) != 0) {
		reply_diag(r);
		return;
	}
	struct queue *q = queue_create(&qc, paused);
	if (q == NULL) {
		reply_diag(r);
		return;
	}
	consumer_sync(q);
	announce_queue(q);
	reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}

static void
cmd_queue_update(struct req *r)
{
	struct queue *q = named_queue(r);
	struct queue_conf qc;
	if (q == NULL || queue_conf_from_json(r->msg, &q->conf, &qc) != 0 ||
	    queue_update(q, &qc) != 0) {
		reply_diag(r);
		return;
	}
	consumer_sync(q);
	announce_queue(q);
	reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}

static void
prune_one(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	(void)arg;
	jobs_pruned(qid, id, state);
	remove_logs(id, attempts);
}

/* Deletes the finished jobs of queue qid (-1: any) that ended before
 * `before` (ms), with their logs, in chunks between which the loop runs;
 * *n gets how many.  -1 with diag when one chunk failed (the chunks
 * before it stay deleted).  Yields. */
static int
prune_sliced(int64_t before, int64_t qid, int64_t *n)
{
	int64_t k;
	*n = 0;
	do {
		if (store_job_prune(before, qid, PRUNE_CHUNK, prune_one, NULL,
				    &k) != 0)
			return -1;
		*n += k;
		if (await_slice() != 0)
			return -1;
	} while (k == PRUNE_CHUNK);
	return 0;
}

/* Checks that q may be deleted now. */
static int
queue_deletable(struct queue *q)
{
	if (queue_check_deletable(q) != 0)
		return -1;
	const char *user = producer_using_queue(q->conf.name);
	if (user != NULL)
		return diag_set(E_STATE,
				"queue %s is the target of producer %s",
				q->conf.name, user);
	return 0;
}

static void
cmd_queue_delete(struct req *r)
{
	struct queue *q = named_queue(r);
	int64_t n;
	if (q == NULL || queue_deletable(q) != 0 || q->deleting) {
		if (q != NULL && q->deleting)
			diag_set(E_STATE, "queue %s is being deleted",
				 q->conf.name);
		reply_diag(r);
		return;
	}
	/* Finished jobs go with their queue, logs included: however many,
	 * in slices first (no new job enters meanwhile), then what ended
	 * since together with the queue. */
	int64_t qid = q->id;
	q->deleting = true;
	int rc = prune_sliced(INT64_MAX, qid, &n);
	q = queue_find_id(qid);
	if (q == NULL) {
		reply_error(r, E_UNKNOWN_QUEUE, "queue deleted meanwhile");
		return;
	}
	q->deleting = false;
	if (rc != 0 || queue_deletable(q) != 0 || store_savepoint() != 0) {
		reply_diag(r);
		return;
	}
	char *name = xstrdup(q->conf.name);
	int64_t late = 0;
	if (store_job_prune(INT64_MAX, q->id, 0, prune_one, NULL, &late) !=
		    0 ||
	    queue_delete(q) != 0) {
		store_rollback();
		reply_diag(r);
		free(name);
		return;
	}
	store_release();
	if (events_watched())
		events_queue(name, json_pack("{s:s,s:b}", "name", name,
					     "deleted", 1));
	free(name);
	reply_ok(r, json_pack("{s:I}", "deleted", (json_int_t)(n + late)));
}

static void
cmd_queue_pause(struct req *r)
{
	struct queue *q = named_queue(r);
	bool pause = strcmp(json_string_value(json_object_get(r->msg, "cmd")),
			    "queue.pause") == 0;
	if (q == NULL || queue_set_paused(q, pause) != 0) {
		reply_diag(r);
		return;
	}
	announce_queue(q);
	reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}

/* ---- producers ---- */

static struct producer *
named_producer(struct req *r)
{
	const char *name = NULL;
	if (arg_name(r, &name) != 0)
		return NULL;
	return producer_find(name);
}

static void
cmd_producer_list(struct req *r)
{
	reply_ok(r, json_pack("{s:o}", "producers", producer_list_json()));
}

static void
cmd_producer_get(struct req *r)
{
	struct producer *p = named_producer(r);
	if (p == NULL) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}

static void
cmd_producer_create(struct req *r)
{
	json_t *spec = json_object_get(r->msg, "producer");
	if (shutting_down) {
		reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if (!json_is_object(spec)) {
		reply_error(r, E_INVAL, "producer: required object");
		return;
	}
	struct producer *p = producer_create(spec, r->c->uid);
	if (p == NULL) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}

static void
cmd_producer_delete(struct req *r)
{
	struct producer *p = named_producer(r);
	if (p == NULL || producer_delete(p) != 0) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_object());
}

static void
cmd_producer_pause(struct req *r)
{
	struct producer *p = named_producer(r);
	bool pause = strcmp(json_string_value(json_object_get(r->msg, "cmd")),
			    "producer.pause") == 0;
	if (p == NULL || producer_set_paused(p, pause) != 0) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}

/* ---- admin ---- */

static void
cmd_prune(struct req *r)
{
	double older = -1;
	int64_t n;
	if (arg_seconds(r, "older_than", &older) != 0) {
		reply_diag(r);
		return;
	}
	if (older < 0) {
		reply_error(r, E_INVAL, "older_than: required");
		return;
	}
	int64_t before = jobd_time_now_ms() - (int64_t)(older * 1000.0);
	if (prune_sliced(before, -1, &n) != 0) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_pack("{s:I}", "deleted", (json_int_t)n));
}

static void
cmd_reload(struct req *r)
{
	if (ctx.reload() != 0) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_object());
}

static void
cmd_shutdown(struct req *r)
{
	bool now = false;
	if (arg_bool(r, "now", &now) != 0) {
		reply_diag(r);
		return;
	}
	reply_ok(r, json_object());
	ctx.shutdown(now);
}

static void
cmd_debug_block(struct req *r)
{
	const json_t *v = arg(r, "ms");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 60000) {
		reply_error(r, E_INVAL, "ms: must be an integer from 0 to "
					"60000");
		return;
	}
	/* Blocking the loop is the point of this command. */
	json_int_t ms = json_integer_value(v);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	reply_ok(r, json_object());
}

/* ---- dispatch ---- */

static const char *const f_none[] = {NULL};
static const char *const f_submit[] = {"job", "jobs", NULL};
static const char *const f_get[] = {"job_id", "env", NULL};
static const char *const f_list[] = {"queue", "state", "limit", "after_id",
				     "before_id", "order",
				     NULL};
static const char *const f_ids[] = {"job_id", "job_ids", NULL};
static const char *const f_retry[] = {"job_id", NULL};
static const char *const f_wait[] = {"job_id", "job_ids", "timeout", NULL};
static const char *const f_logs[] = {"job_id", "attempt", "offset",
				     "max_bytes", "follow", NULL};
static const char *const f_watch[] = {"queue", "job_id", NULL};
static const char *const f_name[] = {"name", NULL};
static const char *const f_queue[] = {"name", "concurrency", "rate",
				      "capacity", "timeout", "kill_grace",
				      "max_attempts", "backoff", "paused",
				      NULL};
static const char *const f_prune[] = {"older_than", NULL};
static const char *const f_producer[] = {"producer", NULL};
static const char *const f_shutdown[] = {"now", NULL};
static const char *const f_block[] = {"ms", NULL};

static const struct command commands[] = {
	{"ping", cmd_ping, false, f_none},
	{"submit", cmd_submit, false, f_submit},
	{"get", cmd_get, false, f_get},
	{"list", cmd_list, false, f_list},
	{"cancel", cmd_cancel, false, f_ids},
	{"retry", cmd_retry, false, f_retry},
	{"wait", cmd_wait, false, f_wait},
	{"logs", cmd_logs, false, f_logs},
	{"watch", cmd_watch, false, f_watch},
	{"queue.list", cmd_queue_list, false, f_none},
	{"queue.get", cmd_queue_get, false, f_name},
	{"queue.create", cmd_queue_create, true, f_queue},
	{"queue.update", cmd_queue_update, true, f_queue},
	{"queue.delete", cmd_queue_delete, true, f_name},
	{"queue.pause", cmd_queue_pause, true, f_name},
	{"queue.resume", cmd_queue_pause, true, f_name},
	{"producer.list", cmd_producer_list, false, f_none},
	{"producer.get", cmd_producer_get, false, f_name},
	{"producer.create", cmd_producer_create, true, f_producer},
	{"producer.delete", cmd_producer_delete, true, f_name},
	{"producer.pause", cmd_producer_pause, true, f_name},
	{"producer.resume", cmd_producer_pause, true, f_name},
	{"stats", cmd_stats, false, f_none},
	{"prune", cmd_prune, true, f_prune},
	{"reload", cmd_reload, true, f_none},
	{"shutdown", cmd_shutdown, true, f_shutdown},
	{"debug.block", cmd_debug_block, true, f_block},
};

static bool
field_allowed(const struct command *cmd, const char *key)
{
	if (strcmp(key, "id") == 0 || strcmp(key, "cmd") == 0)
		return true;
	for (const char *const *f = cmd->fields; *f; f++)
		if (strcmp(*f, key) == 0)
			return true;
	return false;
}

/* An id is echoed as given, so its size is bounded (its depth is bounded
 * with the whole request's). */
static bool
id_acceptable(const json_t *id)
{
	if (json_is_string(id))
		return json_string_length(id) <= ID_MAX_BYTES;
	if (!json_is_array(id) && !json_is_object(id))
		return true;
	size_t n = json_dumpb(id, NULL, 0, JSON_COMPACT);
	return n > 0 && n <= ID_MAX_BYTES;
}

/* Where a big request line is read from while it is parsed. */
struct line_src {
	const char *p;
	size_t left;
};

static size_t
line_read_cb(void *buffer, size_t buflen, void *data)
{
	struct line_src *src = data;
	/* The parser's state lives on this coroutine's stack: the loop
	 * can run between two pieces. */
	if (await_slice() != 0)
		return (size_t)-1;
	size_t n = src->left < buflen ? src->left : buflen;
	memcpy(buffer, src->p, n);
	src->p += n;
	src->left -= n;
	return n;
}

/* Parses a request line, a big one in slices.  Yields. */
static json_t *
parse_line(const char *line, size_t len, json_error_t *err)
{
	if (len <= BIG_REQUEST)
		return jsonin_loadb(line, len, JSON_REJECT_DUPLICATES, err);
	/* jansson recurses: the nesting is bounded first (a flat scan of a
	 * few milliseconds for the longest line). */
	if (!jsonin_depth_ok(line, len, JSONIN_MAX_DEPTH)) {
		snprintf(err->text, sizeof(err->text),
			 "nested too deeply (more than %d levels)",
			 JSONIN_MAX_DEPTH);
		return NULL;
	}
	/* The callback parser stops at a NUL byte; such a line is not a
	 * request. */
	if (memchr(line, '\0', len) != NULL) {
		snprintf(err->text, sizeof(err->text),
			 "NUL byte in request");
		return NULL;
	}
	struct line_src src = {line, len};
	return json_load_callback(line_read_cb, &src, JSON_REJECT_DUPLICATES,
				  err);
}

/* Drops a request, a big one in slices: freeing 100,000 job specs at once
 * would hold the loop as long as parsing them did.  Containers still
 * referenced elsewhere are only released.  Yields. */
static void
free_sliced(json_t *msg, size_t len)
{
	if (len <= BIG_REQUEST) {
		json_decref(msg);
		return;
	}
	size_t n = 0, cap = 16;
	json_t **stack = xreallocarray(NULL, cap, sizeof(*stack));
	stack[n++] = msg;
	for (size_t step = 1; n > 0; step++) {
		json_t *top = stack[n - 1], *child = NULL;
		if (top->refcount == 1 && json_is_array(top) &&
		    json_array_size(top) > 0) {
			size_t last = json_array_size(top) - 1;
			child = json_incref(json_array_get(top, last));
			json_array_remove(top, last);
		} else if (top->refcount == 1 && json_is_object(top) &&
			   json_object_size(top) > 0) {
			void *it = json_object_iter(top);
			child = json_incref(json_object_iter_value(it));
			json_object_del(top, json_object_iter_key(it));
		}
		if (child != NULL) {
			if (n == cap) {
				cap *= 2;
				stack = xreallocarray(stack, cap,
						      sizeof(*stack));
			}
			stack[n++] = child;
		} else {
			json_decref(top);
			n--;
		}
		if (step % 64 == 0)
			(void)await_slice();
	}
	free(stack);
}

void
commands_handle(struct conn *c, const char *line, size_t len)
{
	json_error_t err;
	json_t *msg = parse_line(line, len, &err);
	struct req r = {c, msg, NULL};
	if (msg == NULL) {
		reply_error(&r, E_BADREQ, "not JSON: %s", err.text);
		return;
	}
	if (!json_is_object(msg)) {
		reply_error(&r, E_BADREQ, "request must be a JSON object");
		free_sliced(msg, len);
		return;
	}
	if (!id_acceptable(json_object_get(msg, "id"))) {
		reply_error(&r, E_BADREQ, "id: must be at most %d bytes of JSON",
			    ID_MAX_BYTES);
		free_sliced(msg, len);
		return;
	}
	r.id = json_object_get(msg, "id");
	const json_t *cmdv = json_object_get(msg, "cmd");
	if (!json_is_string(cmdv)) {
		reply_error(&r, E_BADREQ, "cmd: required string");
		free_sliced(msg, len);
		return;
	}
	const char *name = json_string_value(cmdv);
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			cmd = &commands[i];
	if (cmd != NULL && cmd->fn == cmd_debug_block && !loop_debug())
		cmd = NULL;
	if (cmd == NULL) {
		reply_error(&r, E_UNKNOWN_CMD, "unknown command %.64s", name);
		free_sliced(msg, len);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(msg, key, v)
	{
		if (!field_allowed(cmd, key)) {
			reply_error(&r, E_INVAL, "%.64s: unknown field", key);
			free_sliced(msg, len);
			return;
		}
	}
	if (cmd->admin && !c->admin) {
		reply_error(&r, E_PERM, "%s needs root or the admin group",
			    name);
		free_sliced(msg, len);
		return;
	}
	diag_clear();
	cmd->fn(&r);
	free_sliced(msg, len);
}

void
commands_conn_closed(struct conn *c)
{
	for (struct deferred *d = deferreds; d; d = d->next)
		if (d->c == c && d->co)
			coro_cancel(d->co);
}

void
commands_init(const struct commands_ctx *x)
{
	ctx = *x;
	shutting_down = false;
}

void
commands_set_shutting_down(void)
{
	shutting_down = true;
}

void
commands_prune_before(int64_t before, int64_t *n)
{
	if (prune_sliced(before, -1, n) != 0 && diag_code() != E_CANCELLED)
		log_error("prune: %s", diag_msg());
}
