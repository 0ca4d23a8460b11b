/*
 * cmd: private to the commands module — what commands.c (dispatch, the
 * command table, request parsing) shares with the files that hold the
 * handlers: cmd_job.c (submit, get, list, cancel, retry, wait),
 * cmd_bulk.c (cancel and retry by filter, resubmit), cmd_logs.c (logs,
 * watch), cmd_queue.c (queue.*), cmd_producer.c (producer.*) and
 * cmd_admin.c (ping, stats, prune, reload, shutdown,
 * debug.*).  Nothing outside those files includes it; the module's
 * contract is commands.h.
 *
 * A handler runs in its connection's coroutine with the request
 * validated as far as the table goes (a known command, no unknown field,
 * the caller's rights): it checks its own arguments, acts, and answers
 * exactly once through the reply helpers below (or leaves the answer to a
 * deferred reply).  It may yield; it never waits for the commit itself.
 */
#ifndef CMD_H_INCLUDED
#define CMD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "commands.h"
#include "coro.h"
#include "labels.h"
#include "store.h"

struct conn;

/* What one request carries while it is handled. */
struct cmd_req {
	struct conn *c; /* borrowed */
	json_t *msg;	/* the whole request, borrowed */
	json_t *id;	/* borrowed; NULL: none given */
};

/* A reply that comes later (wait, logs follow): it holds a reference on
 * its connection and a coroutine of its own until it answers or the
 * connection goes (commands_conn_closed cancels it). */
/* A filter of jobs (cancel, retry and wait by filter): what the store
 * matches (f: queue, states, labels, the caller's uid) and what is matched
 * after it (name, creation time).  f.labels points into the struct, so it
 * is made where it stays (cmd_filter_parse) and never copied. */
struct cmd_filter {
	struct store_job_filter f;
	struct labels labels;
	char *name;	/* a glob, owned; NULL: any */
	int64_t before; /* ms: created before it only; 0: no bound */
	int64_t after;	/* ms: created after it only; 0: no bound */
};

struct cmd_deferred {
	struct conn *c; /* referenced */
	json_t *id;	/* owned */
	struct coro *co;
	struct cmd_deferred *next, *prev;
	/* wait */
	int64_t *ids; /* owned; request order */
	size_t nids;
	double timeout;		   /* s; < 0: none */
	struct cmd_filter *filter; /* owned: wait by filter (ids NULL) */
	bool any;		   /* wait: answers at the first job ended */
	/* logs follow */
	int64_t job_id;
	int attempt;	/* asked for; 0: follow the latest */
	int followed;	/* the attempt followed now */
	int64_t offset; /* bytes of it sent so far */
};

/* What main gave commands_init (borrowed, kept current by main). */
const struct commands_ctx *cmd_ctx(void);
/* True once commands_set_shutting_down() was called. */
bool cmd_shutting_down(void);

/* ---- replies (commands.c) ----
 * Each appends one line to the connection's output (control_send); none
 * yields unless it says so. */

/* {"id":..,"ok":true,"result":result}; takes result (NULL: {}). */
void cmd_reply_ok(struct cmd_req *r, json_t *result);
/* An error reply with the wire name of diag code `code` and msg (both
 * borrowed), for a request whose id is id (borrowed, NULL: null). */
void cmd_reply_error_id(struct conn *c, json_t *id, int code, const char *msg);
/* An error reply from the current diag (E_CONFLICT answers
 * invalid_state; no code answers internal). */
void cmd_reply_diag(struct cmd_req *r);
/* An error reply with code and a printf-style message. */
void cmd_reply_error(struct cmd_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Starts a streamed reply: {"id":ID,"ok":true,"result":<head> (head
 * borrowed).  The caller writes the rest with control_stream_write(),
 * calls cmd_stream_turn() between pieces, and ends with
 * control_stream_end().  -1 when c is closed.  Yields. */
int cmd_stream_open(struct conn *c, const json_t *id, const char *head);
/* Between two pieces of a streamed reply: the peer takes what waits, and
 * the loop gets its turn.  -1 when the reply cannot go on.  Yields. */
int cmd_stream_turn(struct conn *c);
/* Answers {"jobs":[...]} for ids[0..n) (borrowed), streamed one job at a
 * time; a job gone meanwhile is left out.  Yields. */
void cmd_reply_jobs(struct conn *c, json_t *id, const int64_t *ids, size_t n);

/* ---- arguments (commands.c) ----
 * Each returns 0, or -1 with E_INVAL naming the field; none yields. */

/* r's argument key, or NULL when absent or null (borrowed from r). */
const json_t *cmd_arg(struct cmd_req *r, const char *key);
/* v as a positive job id into *id; field names it in the error. */
int cmd_arg_job_id(const json_t *v, const char *field, int64_t *id);
/* job_id or job_ids (at most 100,000) into *ids, a new array the caller
 * frees, and *n. */
int cmd_arg_job_ids(struct cmd_req *r, int64_t **ids, size_t *n);
/* Optional boolean key into *out (left as is when absent). */
int cmd_arg_bool(struct cmd_req *r, const char *key, bool *out);
/* Optional number of seconds >= 0 into *out (left as is when absent). */
int cmd_arg_seconds(struct cmd_req *r, const char *key, double *out);
/* The optional labels filter, `labels` ({"k": "v", ...}: a job matches
 * when it holds every pair), into *filter, emptied when absent; the
 * checks of a job's labels apply.  For every command that picks jobs by
 * label (list, watch, wait). */
int cmd_arg_labels(struct cmd_req *r, struct labels *filter);
/* The required string "name" into *name (borrowed from r). */
int cmd_arg_name(struct cmd_req *r, const char **name);
/* Fills *b for job id when the caller may see it; -1 with E_NOTFOUND
 * otherwise. */
int cmd_find_job(struct cmd_req *r, int64_t id, struct store_job_brief *b);
/* The owner filter of c's listings: -1 (all) for root, else its uid. */
long cmd_uid_filter(const struct conn *c);

/* state: a state name or an array of them into *mask (a bit per state;
 * 0 when v is NULL).  E_INVAL naming state. */
int cmd_state_mask(const json_t *v, unsigned *mask);
/* Puts failed or cancelled job b back to queued, its earlier logs
 * removed: E_STATE when it is in another state or its process has not
 * exited yet, else as jobs_retry().  May yield. */
int cmd_retry_job(const struct store_job_brief *b);

/* ---- deferred replies (commands.c) ---- */

/* A pending reply for r whose coroutine runs fn(d), or NULL with E_BUSY
 * when none can be had now (per connection and global limits, or no
 * stack for the coroutine).  The caller sets the fields fn needs before
 * it yields: fn starts at the next scheduler pass.  Does not yield. */
struct cmd_deferred *cmd_deferred_new(struct cmd_req *r, const char *what,
				      coro_fn fn);
/* Called by fn as it ends: unlinks d, drops its connection reference and
 * frees it with its ids. */
void cmd_deferred_free(struct cmd_deferred *d);

/* ---- shared by queue.delete and prune (cmd_admin.c) ---- */

/* A pruned job's store callback: its queue counts and its logs. */
void cmd_prune_one(int64_t id, int64_t qid, int state, int attempts, void *arg);
/* Deletes the finished jobs of queue qid (-1: any) that ended before
 * `before` (ms), with their logs, in chunks between which the loop runs;
 * *n gets how many.  -1 with diag when one chunk failed (the chunks
 * before it stay deleted).  Yields. */
int cmd_prune_sliced(int64_t before, int64_t qid, int64_t *n);
/* One retention pass: for each queue, deletes the finished jobs its
 * retention by end state lets go (queue_conf_retention_for, with
 * daemon_retention, seconds, as the [daemon] fallback; 0: kept) and those
 * past its keep_last most recent, with their logs, in chunks between
 * which the loop runs; *n gets how many.  -1 with diag when one chunk
 * failed.  Yields. */
int cmd_prune_rules(double daemon_retention, int64_t *n);

/* ---- the handlers, one per command of the table ---- */

void cmd_submit(struct cmd_req *r); /* cmd_job.c */
void cmd_get(struct cmd_req *r);
void cmd_list(struct cmd_req *r);
void cmd_cancel(struct cmd_req *r);
void cmd_retry(struct cmd_req *r);
void cmd_wait(struct cmd_req *r);
/* Reads filter object o ({queue, state, labels, name, before, after},
 * each optional) of a request on c into *w (zeroed first): the caller's
 * jobs only, unless root.  0, or -1 with diag (E_INVAL naming
 * "filter.FIELD", E_NOTFOUND for a queue); cmd_filter_free either way. */
int cmd_filter_parse(const struct conn *c, const json_t *o,
		     struct cmd_filter *w); /* cmd_bulk.c */
/* Whether job (an object of a listing by w->f) passes the rest of w: its
 * name and its creation time. */
bool cmd_filter_match(const struct cmd_filter *w, const json_t *job);
/* Whether w matches on more than the store looks at (name, time). */
bool cmd_filter_after_store(const struct cmd_filter *w);
void cmd_filter_free(struct cmd_filter *w);
void cmd_cancel_filter(struct cmd_req *r);
void cmd_retry_filter(struct cmd_req *r);
void cmd_resubmit(struct cmd_req *r);
void cmd_logs(struct cmd_req *r); /* cmd_logs.c */
void cmd_watch(struct cmd_req *r);
void cmd_queue_list(struct cmd_req *r); /* cmd_queue.c */
void cmd_queue_get(struct cmd_req *r);
void cmd_queue_create(struct cmd_req *r);
void cmd_queue_update(struct cmd_req *r);
void cmd_queue_delete(struct cmd_req *r);
void cmd_queue_pause(struct cmd_req *r);   /* and queue.resume */
void cmd_producer_list(struct cmd_req *r); /* cmd_producer.c */
void cmd_producer_get(struct cmd_req *r);
void cmd_producer_create(struct cmd_req *r);
void cmd_producer_delete(struct cmd_req *r);
void cmd_producer_pause(struct cmd_req *r); /* and producer.resume */
void cmd_ping(struct cmd_req *r);	    /* cmd_admin.c */
void cmd_stats(struct cmd_req *r);
void cmd_prune(struct cmd_req *r);
void cmd_reload(struct cmd_req *r);
void cmd_shutdown(struct cmd_req *r);
void cmd_debug_block(struct cmd_req *r); /* debug mode only */

#endif /* CMD_H_INCLUDED */
