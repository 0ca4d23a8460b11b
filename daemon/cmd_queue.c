/*
 * cmd_queue: the queue.* commands — list, get, create, update, delete
 * (with its finished jobs, in slices), pause and resume.  Queue changes
 * are announced to watchers as queue events.
 */
#include "cmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "producer.h"
#include "jobs.h"
#include "queue.h"
#include "store.h"
#include "xmem.h"

/* ---- queues ---- */

static struct queue *
named_queue(struct cmd_req *r)
{
	const char *name = NULL;
	if (cmd_arg_name(r, &name) != 0)
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

/* The cluster's counts of every queue (PostgreSQL), read once for a
 * listing. */
struct qcounts {
	int64_t qid;
	int64_t n[JOBD_STATE_COUNT];
};
struct qcounts_list {
	struct qcounts *v;
	size_t n, cap;
};

static void
qcounts_add(int64_t qid, int state, int64_t n, void *arg)
{
	struct qcounts_list *l = arg;
	size_t i = 0;
	while (i < l->n && l->v[i].qid != qid)
		i++;
	if (i == l->n) {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
		}
		memset(&l->v[l->n], 0, sizeof(l->v[0]));
		l->v[l->n++].qid = qid;
	}
	if (state >= 0 && state < JOBD_STATE_COUNT)
		l->v[i].n[state] += n;
}

/* q's object; with the PostgreSQL store, its counts are the cluster's
 * (from l), not this node's view. */
static json_t *
queue_obj(const struct queue *q, const struct qcounts_list *l)
{
	json_t *o = queue_json(q);
	if (l == NULL)
		return o;
	static const int64_t none[JOBD_STATE_COUNT];
	const int64_t *n = none;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].qid == q->id)
			n = l->v[i].n;
	json_t *counts = json_object();
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		json_object_set_new(counts, jobd_state_name(s),
				    json_integer(n[s]));
	json_object_set_new(o, "counts", counts);
	json_object_set_new(o, "pending",
			    json_integer(n[JOBD_WAITING] + n[JOBD_SCHEDULED] +
					 n[JOBD_QUEUED]));
	json_object_set_new(o, "running", json_integer(n[JOBD_RUNNING]));
	return o;
}

/* Reads the cluster's counts into l (PostgreSQL); false for the SQLite
 * store, whose counts are this node's own.  -1 with diag on failure. */
static int
cluster_counts(struct qcounts_list *l, bool *have)
{
	memset(l, 0, sizeof(*l));
	*have = cmd_ctx()->cfg->store == CONFIG_STORE_POSTGRES;
	if (!*have)
		return 0;
	return store_count_each(qcounts_add, l);
}

void
cmd_queue_list(struct cmd_req *r)
{
	struct qcounts_list l;
	bool have;
	if (cluster_counts(&l, &have) != 0) {
		free(l.v);
		cmd_reply_diag(r);
		return;
	}
	json_t *arr = json_array();
	for (struct queue *q = queue_first(); q; q = q->next)
		json_array_append_new(arr, queue_obj(q, have ? &l : NULL));
	free(l.v);
	cmd_reply_ok(r, json_pack("{s:o}", "queues", arr));
}

void
cmd_queue_get(struct cmd_req *r)
{
	struct qcounts_list l;
	bool have;
	if (cluster_counts(&l, &have) != 0) {
		free(l.v);
		cmd_reply_diag(r);
		return;
	}
	struct queue *q = named_queue(r);
	if (q == NULL) {
		free(l.v);
		cmd_reply_diag(r);
		return;
	}
	json_t *o = queue_obj(q, have ? &l : NULL);
	free(l.v);
	cmd_reply_ok(r, json_pack("{s:o}", "queue", o));
}

void
cmd_queue_create(struct cmd_req *r)
{
	const char *name = NULL;
	struct queue_conf base, qc;
	if (cmd_arg_name(r, &name) != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (!jobspec_queue_name_valid(name)) {
		cmd_reply_error(r, E_INVAL,
				"name: must be 1 to 64 of A-Z a-z 0-9 _ . -");
		return;
	}
	if (queue_find(name) != NULL) {
		cmd_reply_error(r, E_STATE, "queue %s exists", name);
		return;
	}
	/* A queue may be created paused, so nothing starts before its jobs
	 * are in; pausing later is queue.pause's. */
	bool paused = false;
	if (cmd_arg_bool(r, "paused", &paused) != 0) {
		cmd_reply_diag(r);
		return;
	}
	json_object_del(r->msg, "paused");
	queue_conf_init(&base, name);
	if (queue_conf_from_json(r->msg, &base, &qc) != 0) {
		cmd_reply_diag(r);
		return;
	}
	struct queue *q = queue_create(&qc, paused);
	if (q == NULL) {
		cmd_reply_diag(r);
		return;
	}
	consumer_sync(q);
	announce_queue(q);
	cmd_reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}

void
cmd_queue_update(struct cmd_req *r)
{
	struct queue *q = named_queue(r);
	struct queue_conf qc;
	if (q == NULL || queue_conf_from_json(r->msg, &q->conf, &qc) != 0 ||
	    queue_update(q, &qc) != 0) {
		cmd_reply_diag(r);
		return;
	}
	consumer_sync(q);
	announce_queue(q);
	cmd_reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
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

void
cmd_queue_delete(struct cmd_req *r)
{
	struct queue *q = named_queue(r);
	int64_t n;
	if (q == NULL || queue_deletable(q) != 0 || q->deleting) {
		if (q != NULL && q->deleting)
			diag_set(E_STATE, "queue %s is being deleted",
				 q->conf.name);
		cmd_reply_diag(r);
		return;
	}
	/* Finished jobs go with their queue, logs included: however many,
	 * in slices first (no new job enters meanwhile), then what ended
	 * since together with the queue. */
	int64_t qid = q->id;
	q->deleting = true;
	int rc = cmd_prune_sliced(INT64_MAX, qid, &n);
	q = queue_find_id(qid);
	if (q == NULL) {
		cmd_reply_error(r, E_UNKNOWN_QUEUE, "queue deleted meanwhile");
		return;
	}
	q->deleting = false;
	/* What ended since, and the queue, in one transaction (a store that
	 * yields between its calls could commit half of it otherwise). */
	if (rc != 0 || queue_deletable(q) != 0 || jobs_hold() != 0) {
		cmd_reply_diag(r);
		return;
	}
	if (store_savepoint() != 0) {
		jobs_unhold();
		cmd_reply_diag(r);
		return;
	}
	char *name = xstrdup(q->conf.name);
	int64_t late = 0;
	if (store_job_prune(INT64_MAX, qid, 0, cmd_prune_one, NULL, &late) !=
		    0 ||
	    (q = queue_find_id(qid)) == NULL || queue_delete(q) != 0) {
		if (q == NULL)
			diag_set(E_UNKNOWN_QUEUE, "queue deleted meanwhile");
		store_rollback();
		jobs_unhold();
		cmd_reply_diag(r);
		free(name);
		return;
	}
	store_release();
	jobs_unhold();
	if (events_watched())
		events_queue(name, json_pack("{s:s,s:b}", "name", name,
					     "deleted", 1));
	free(name);
	cmd_reply_ok(r, json_pack("{s:I}", "deleted", (json_int_t)(n + late)));
}

void
cmd_queue_pause(struct cmd_req *r)
{
	struct queue *q = named_queue(r);
	bool pause = strcmp(json_string_value(json_object_get(r->msg, "cmd")),
			    "queue.pause") == 0;
	if (q == NULL || queue_set_paused(q, pause) != 0) {
		cmd_reply_diag(r);
		return;
	}
	announce_queue(q);
	cmd_reply_ok(r, json_pack("{s:o}", "queue", queue_json(q)));
}
