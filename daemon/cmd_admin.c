/*
 * cmd_admin: the daemon-wide commands — ping, stats, prune, reload,
 * shutdown and debug.block — and the sliced prune that queue.delete and
 * retention share.  Reload and shutdown are main's, reached through the
 * commands context.
 */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "await.h"
#include "cgroup.h"
#include "control.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "joblog.h"
#include "jobs.h"
#include "loop.h"
#include "queue.h"
#include "store.h"
#include "xmem.h"

/* Jobs pruned between two turns of the loop. */
#define PRUNE_CHUNK 64
/* Jobs the automatic pass prunes a query: fewer, so that a slice (chunks
 * until AWAIT_SLICE_NS is spent) stays within a few milliseconds on a
 * busy machine, where deleting a job with its index entries may take a
 * quarter of a millisecond. */
#define PRUNE_RULE_CHUNK 16

/* ---- ping, stats ---- */

void
cmd_ping(struct cmd_req *r)
{
	json_t *o = json_pack("{s:O,s:b,s:{s:s,s:i,s:f}}", "id",
			      r->id ? r->id : json_null(), "ok", 1, "result",
			      "version", JOBD_VERSION, "pid", (int)getpid(),
			      "uptime", loop_now() - cmd_ctx()->started_at);
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

/* stats' cgroups: where attempts run, with which controllers, and how
 * many ended attempts' cgroups still hold processes; null without. */
static json_t *
cgroups_json(void)
{
	if (!cgroup_active())
		return json_null();
	unsigned have = cgroup_controllers();
	json_t *ctl = json_array();
	if (have & JOBLIMITS_HAVE_MEMORY)
		json_array_append_new(ctl, json_string("memory"));
	if (have & JOBLIMITS_HAVE_CPU)
		json_array_append_new(ctl, json_string("cpu"));
	if (have & JOBLIMITS_HAVE_PIDS)
		json_array_append_new(ctl, json_string("pids"));
	return json_pack("{s:s,s:o,s:i}", "path", cgroup_jobs_dir(),
			 "controllers", ctl, "lingering", cgroup_pending());
}

static void
count_add(int64_t qid, int state, int64_t n, void *arg)
{
	int64_t *counts = arg;
	(void)qid;
	if (state >= 0 && state < JOBD_STATE_COUNT)
		counts[state] += n;
}

/* The jobs in each state: this node's counts alone, or the cluster's from
 * the store (PostgreSQL), where every node's changes are summed.  Yields
 * then. */
static int
job_counts(int64_t *counts)
{
	if (cmd_ctx()->cfg->store == CONFIG_STORE_POSTGRES)
		return store_count_each(count_add, counts);
	for (struct queue *q = queue_first(); q; q = q->next)
		for (int s = 0; s < JOBD_STATE_COUNT; s++)
			counts[s] += q->counts[s];
	return 0;
}

void
cmd_stats(struct cmd_req *r)
{
	int64_t counts[JOBD_STATE_COUNT] = {0};
	json_t *nodes = NULL;
	if (job_counts(counts) != 0) {
		cmd_reply_diag(r);
		return;
	}
	/* The cluster's nodes (PostgreSQL); absent with SQLite. */
	if (cmd_ctx()->cfg->store == CONFIG_STORE_POSTGRES &&
	    (nodes = store_nodes_json(cmd_ctx()->cfg->lease)) == NULL) {
		cmd_reply_diag(r);
		return;
	}
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
		"{s:s,s:i,s:f,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:i,"
		"s:{s:I,s:f,s:I,s:f},s:{s:s,s:I,s:I},s:I}",
		"version", JOBD_VERSION, "pid", (int)getpid(), "uptime",
		loop_now() - cmd_ctx()->started_at, "jobs", jobs, "totals",
		"submitted", (json_int_t)t->submitted, "started",
		(json_int_t)t->started, "succeeded", (json_int_t)t->succeeded,
		"failed", (json_int_t)t->failed, "retried",
		(json_int_t)t->retried, "timed_out", (json_int_t)t->timed_out,
		"cancelled", (json_int_t)t->cancelled, "oom",
		(json_int_t)t->oom, "connections", control_connections(),
		"loop", "iterations", (json_int_t)ls.iterations, "lag_max_ms",
		ls.lag_max_ms, "slow_callbacks", (json_int_t)ls.slow_callbacks,
		"slowest_ms", ls.slowest_ms, "db", "path", cmd_ctx()->db_path,
		"size_bytes", (json_int_t)dbb, "wal_bytes", (json_int_t)walb,
		"rss_bytes", (json_int_t)rss_bytes());
	json_object_set_new(json_object_get(res, "totals"), "snoozed",
			    json_integer((json_int_t)t->snoozed));
	json_object_set_new(json_object_get(res, "loop"), "busy_ms",
			    json_real(ls.busy_ms));
	json_object_set_new(res, "cgroups", cgroups_json());
	if (nodes != NULL)
		json_object_set_new(res, "nodes", nodes);
	cmd_reply_ok(r, res);
}

/* ---- prune ---- */

void
cmd_prune_one(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	(void)arg;
	jobs_pruned(qid, id, state);
	joblog_remove(cmd_ctx()->log_dir, id, attempts);
}

/* Deletes the finished jobs of queue qid (-1: any) that ended before
 * `before` (ms), with their logs, in chunks between which the loop runs;
 * *n gets how many.  -1 with diag when one chunk failed (the chunks
 * before it stay deleted).  Yields. */
int
cmd_prune_sliced(int64_t before, int64_t qid, int64_t *n)
{
	int64_t k;
	*n = 0;
	do {
		if (store_job_prune(before, qid, PRUNE_CHUNK, cmd_prune_one,
				    NULL, &k) != 0)
			return -1;
		*n += k;
		if (await_slice() != 0)
			return -1;
	} while (k == PRUNE_CHUNK);
	return 0;
}

/* Deletes what rule r (borrowed) lets go, in chunks; adds how many to
 * *n.  Yields. */
static int
prune_rule_sliced(const struct store_prune_rule *r, int64_t *n)
{
	int64_t k;
	do {
		if (store_job_prune_rule(r, PRUNE_RULE_CHUNK, cmd_prune_one,
					 NULL, &k) != 0)
			return -1;
		*n += k;
		if (await_slice() != 0)
			return -1;
	} while (k == PRUNE_RULE_CHUNK);
	return 0;
}

/* A queue's retention, copied: the queue may go while the pass yields. */
struct queue_rules {
	int64_t qid;
	double secs[3]; /* by end state, from JOBD_SUCCEEDED; 0: kept */
	int64_t keep;	/* keep_last; 0: nothing to cut */
};

int
cmd_prune_rules(double daemon_retention, int64_t *n)
{
	struct queue_rules *rules = NULL;
	size_t nq = 0, cap = 0;
	int rc = 0;

	*n = 0;
	for (struct queue *q = queue_first(); q; q = q->next) {
		if (nq == cap) {
			cap = cap ? cap * 2 : 16;
			rules = xreallocarray(rules, cap, sizeof(*rules));
		}
		struct queue_rules *qr = &rules[nq++];
		qr->qid = q->id;
		for (int i = 0; i < 3; i++)
			qr->secs[i] = queue_conf_retention_for(
				&q->conf, JOBD_SUCCEEDED + i, daemon_retention);
		qr->keep = q->conf.keep_last;
		/* With one node (SQLite) its counts are all the jobs: a queue
		 * within its keep_last needs no query (which reads as many
		 * index entries as it keeps).  Shared, they are the store's
		 * to count. */
		int64_t finished = q->counts[JOBD_SUCCEEDED] +
				   q->counts[JOBD_FAILED] +
				   q->counts[JOBD_CANCELLED];
		if (!store_limits_shared() && finished <= qr->keep)
			qr->keep = 0;
	}
	int64_t now = jobd_time_now_ms();
	for (size_t i = 0; i < nq && rc == 0; i++) {
		for (int s = 0; s < 3 && rc == 0; s++) {
			if (rules[i].secs[s] <= 0)
				continue;
			struct store_prune_rule r = {
				.qid = rules[i].qid,
				.state = JOBD_SUCCEEDED + s,
				.before = now -
					  (int64_t)(rules[i].secs[s] * 1000.0),
			};
			rc = prune_rule_sliced(&r, n);
		}
		if (rc == 0 && rules[i].keep > 0) {
			struct store_prune_rule r = {.qid = rules[i].qid,
						     .keep = rules[i].keep};
			rc = prune_rule_sliced(&r, n);
		}
	}
	free(rules);
	return rc;
}

/* ---- admin ---- */

void
cmd_prune(struct cmd_req *r)
{
	double older = -1;
	int64_t n;
	if (cmd_arg_seconds(r, "older_than", &older) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (older < 0) {
		cmd_reply_error(r, E_INVAL, "older_than: required");
		return;
	}
	int64_t before = jobd_time_now_ms() - (int64_t)(older * 1000.0);
	if (cmd_prune_sliced(before, -1, &n) != 0) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_pack("{s:I}", "deleted", (json_int_t)n));
}

void
cmd_reload(struct cmd_req *r)
{
	if (cmd_ctx()->reload() != 0) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_object());
}

void
cmd_shutdown(struct cmd_req *r)
{
	bool now = false;
	if (cmd_arg_bool(r, "now", &now) != 0) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_object());
	cmd_ctx()->shutdown(now);
}

void
cmd_debug_block(struct cmd_req *r)
{
	const json_t *v = cmd_arg(r, "ms");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 60000) {
		cmd_reply_error(r, E_INVAL,
				"ms: must be an integer from 0 to "
				"60000");
		return;
	}
	/* Blocking the loop is the point of this command. */
	json_int_t ms = json_integer_value(v);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	cmd_reply_ok(r, json_object());
}
