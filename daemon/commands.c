/*
 * commands: dispatch of the protocol's requests.  Parses a request line
 * (a big one in slices), checks it against the command table (known
 * command, allowed fields, the caller's rights) and hands it to its
 * handler; holds the reply and argument helpers the handlers share
 * (cmd.h), and owns the deferred replies (wait, logs follow) until they
 * answer or their connection goes.  The handlers live in cmd_job.c,
 * cmd_logs.c, cmd_queue.c, cmd_producer.c and cmd_admin.c.
 */
#include "commands.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "cmd.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "jobspec.h"
#include "jsonin.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "utf8.h"
#include "xmem.h"

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

typedef void (*handler_fn)(struct cmd_req *r);

struct command {
	const char *name;
	handler_fn fn;
	bool admin;		   /* needs root or admin_group */
	const char *const *fields; /* allowed argument names */
};

static struct commands_ctx ctx;
static bool shutting_down;
static struct cmd_deferred *deferreds;
static int ndeferreds;

const struct commands_ctx *
cmd_ctx(void)
{
	return &ctx;
}

bool
cmd_shutting_down(void)
{
	return shutting_down;
}

/* ---- replies ---- */

void
cmd_reply_ok(struct cmd_req *r, json_t *result)
{
	json_t *o = json_object();
	json_object_set(o, "id", r->id ? r->id : json_null());
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result", result ? result : json_object());
	control_send(r->c, o);
	json_decref(o);
}

void
cmd_reply_error_id(struct conn *c, json_t *id, int code, const char *msg)
{
	/* A message may quote the request (a parser's "near '...'"), which
	 * need not be UTF-8: repaired, so the reply is always sent. */
	json_t *o = json_pack("{s:O,s:b,s:{s:s,s:o}}", "id",
			      id ? id : json_null(), "ok", 0, "error", "code",
			      diag_wire_name(code), "message",
			      utf8_string(msg, strlen(msg)));
	control_send(c, o);
	json_decref(o);
}

void
cmd_reply_diag(struct cmd_req *r)
{
	int code = diag_code();
	if (code == E_CONFLICT)
		code = E_STATE;
	cmd_reply_error_id(r->c, r->id, code ? code : E_INTERNAL, diag_msg());
}

void
cmd_reply_error(struct cmd_req *r, int code, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cmd_reply_error_id(r->c, r->id, code, msg);
}

/* Starts a streamed reply: {"id":ID,"ok":true,"result":<head>.  The
 * caller writes the rest with control_stream_write(), calls cmd_stream_turn()
 * between pieces, and ends with control_stream_end().  -1 when c is
 * closed.  Yields. */
int
cmd_stream_open(struct conn *c, const json_t *id, const char *head)
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
int
cmd_stream_turn(struct conn *c)
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
void
cmd_reply_jobs(struct conn *c, json_t *id, const int64_t *ids, size_t n)
{
	if (cmd_stream_open(c, id, "{\"jobs\":[") != 0)
		return;
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		stream_job(c, ids[i], &first);
		if (cmd_stream_turn(c) != 0) {
			control_stream_end(c, false);
			return;
		}
	}
	control_stream_write(c, "]}}\n", 4);
	control_stream_end(c, true);
}

/* ---- argument helpers ---- */

const json_t *
cmd_arg(struct cmd_req *r, const char *key)
{
	const json_t *v = json_object_get(r->msg, key);
	return json_is_null(v) ? NULL : v;
}

int
cmd_arg_job_id(const json_t *v, const char *field, int64_t *id)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return diag_set(E_INVAL, "%s: must be a positive integer",
				field);
	*id = json_integer_value(v);
	return 0;
}

/* job_id or job_ids, into a new array (caller frees). */
int
cmd_arg_job_ids(struct cmd_req *r, int64_t **ids, size_t *n)
{
	const json_t *one = cmd_arg(r, "job_id"), *many = cmd_arg(r, "job_ids");
	*ids = NULL;
	*n = 0;
	if (one && many)
		return diag_set(E_INVAL, "job_ids: not with job_id");
	if (one) {
		*ids = xmalloc(sizeof(int64_t));
		*n = 1;
		if (cmd_arg_job_id(one, "job_id", *ids) != 0) {
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
		if (cmd_arg_job_id(json_array_get(many, i), "job_ids",
				   &(*ids)[i]) != 0) {
			free(*ids);
			*ids = NULL;
			return -1;
		}
	}
	return 0;
}

int
cmd_arg_bool(struct cmd_req *r, const char *key, bool *out)
{
	const json_t *v = cmd_arg(r, key);
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return diag_set(E_INVAL, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int
cmd_arg_seconds(struct cmd_req *r, const char *key, double *out)
{
	const json_t *v = cmd_arg(r, key);
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

int
cmd_arg_labels(struct cmd_req *r, struct labels *filter)
{
	return labels_parse(cmd_arg(r, "labels"), filter);
}

int
cmd_arg_name(struct cmd_req *r, const char **name)
{
	const json_t *v = cmd_arg(r, "name");
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
int
cmd_find_job(struct cmd_req *r, int64_t id, struct store_job_brief *b)
{
	if (store_job_brief(id, b) != 0 || !visible(r->c, b->uid))
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	return 0;
}

long
cmd_uid_filter(const struct conn *c)
{
	return c->uid == 0 ? -1 : (long)c->uid;
}

/* ---- deferred replies ---- */

/* Whether r may leave a reply pending; -1 with E_BUSY when too many are
 * (the connection's coroutine holds one of its references). */
static int
deferred_check(struct cmd_req *r)
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
struct cmd_deferred *
cmd_deferred_new(struct cmd_req *r, const char *what, coro_fn fn)
{
	if (deferred_check(r) != 0)
		return NULL;
	struct cmd_deferred *d = xcalloc(1, sizeof(*d));
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

void
cmd_deferred_free(struct cmd_deferred *d)
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
	if (d->filter != NULL)
		cmd_filter_free(d->filter);
	free(d->filter);
	free(d);
	ndeferreds--;
}

/* ---- dispatch ---- */

static const char *const f_none[] = {NULL};
static const char *const f_submit[] = {"job", "jobs", NULL};
static const char *const f_get[] = {"job_id", "env", NULL};
static const char *const f_list[] = {"queue",	  "state", "limit",  "after_id",
				     "before_id", "order", "labels", NULL};
static const char *const f_cancel[] = {"job_id", "job_ids", "filter", NULL};
static const char *const f_retry[] = {"job_id", "filter", NULL};
static const char *const f_resubmit[] = {"job_id", "overrides", NULL};
static const char *const f_wait[] = {"job_id", "job_ids", "timeout", "labels",
				     "queue",  "any",	  "filter",  NULL};
static const char *const f_logs[] = {"job_id",	  "attempt", "offset",
				     "max_bytes", "follow",  NULL};
static const char *const f_watch[] = {"queue", "job_id", "labels", NULL};
static const char *const f_name[] = {"name", NULL};
static const char *const f_queue[] = {"name",
				      "concurrency",
				      "global_concurrency",
				      "rate",
				      "capacity",
				      "timeout",
				      "kill_grace",
				      "max_attempts",
				      "backoff",
				      "paused",
				      "limits",
				      "snooze_exit",
				      "snooze",
				      "max_snoozes",
				      "labels",
				      "on_failure",
				      "on_success",
				      "on_finish",
				      "retention",
				      "retention_succeeded",
				      "retention_failed",
				      "retention_cancelled",
				      "keep_last",
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
	{"cancel", cmd_cancel, false, f_cancel},
	{"retry", cmd_retry, false, f_retry},
	{"resubmit", cmd_resubmit, false, f_resubmit},
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
		snprintf(err->text, sizeof(err->text), "NUL byte in request");
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
	struct cmd_req r = {c, msg, NULL};
	if (msg == NULL) {
		cmd_reply_error(&r, E_BADREQ, "not JSON: %s", err.text);
		return;
	}
	if (!json_is_object(msg)) {
		cmd_reply_error(&r, E_BADREQ, "request must be a JSON object");
		free_sliced(msg, len);
		return;
	}
	if (!id_acceptable(json_object_get(msg, "id"))) {
		cmd_reply_error(&r, E_BADREQ,
				"id: must be at most %d bytes of JSON",
				ID_MAX_BYTES);
		free_sliced(msg, len);
		return;
	}
	r.id = json_object_get(msg, "id");
	const json_t *cmdv = json_object_get(msg, "cmd");
	if (!json_is_string(cmdv)) {
		cmd_reply_error(&r, E_BADREQ, "cmd: required string");
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
		cmd_reply_error(&r, E_UNKNOWN_CMD, "unknown command %.64s",
				name);
		free_sliced(msg, len);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach (msg, key, v) {
		if (!field_allowed(cmd, key)) {
			cmd_reply_error(&r, E_INVAL, "%.64s: unknown field",
					key);
			free_sliced(msg, len);
			return;
		}
	}
	if (cmd->admin && !c->admin) {
		cmd_reply_error(&r, E_PERM, "%s needs root or the admin group",
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
	for (struct cmd_deferred *d = deferreds; d; d = d->next)
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
commands_prune_rules(double daemon_retention, int64_t *n)
{
	if (cmd_prune_rules(daemon_retention, n) != 0 &&
	    diag_code() != E_CANCELLED)
		log_error("prune: %s", diag_msg());
}

void
commands_prune_before(int64_t before, int64_t *n)
{
	if (cmd_prune_sliced(before, -1, n) != 0 && diag_code() != E_CANCELLED)
		log_error("prune: %s", diag_msg());
}
