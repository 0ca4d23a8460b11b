/*
 * queue: in-memory queue state over the stored queues.  Owns the list of
 * struct queue; consumers are spawned by the consumer module, which this
 * module does not know.
 */
#include "queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cgroup.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobspec.h"
#include "labels.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "xmem.h"

static struct queue *queues;
static struct queue *deleted; /* deleted queues, kept for their consumers */
/* Raised as each change of this node's to a queue begins and ends: a
 * reload from the store that spans one is not applied. */
static uint64_t local_changes;

static void
rate_setup(struct queue *q, bool keep_tokens)
{
	if (keep_tokens)
		ratelimit_reconfigure(&q->rl, q->conf.rate_limit,
				      q->conf.rate_period, q->conf.rate_burst,
				      loop_now());
	else
		ratelimit_init(&q->rl, q->conf.rate_limit, q->conf.rate_period,
			       q->conf.rate_burst, loop_now());
}

static struct queue *
queue_add(int64_t id, const struct queue_conf *qc, bool paused)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	q->id = id;
	q->conf = *qc;
	q->paused = paused;
	rate_setup(q, false);
	struct queue **pp = &queues;
	while (*pp)
		pp = &(*pp)->next;
	*pp = q;
	return q;
}

static int
load_one(const struct store_queue *sq, void *arg)
{
	(void)arg;
	queue_add(sq->id, &sq->conf, sq->paused);
	return 0;
}

static void
count_one(int64_t qid, int state, int64_t n, void *arg)
{
	(void)arg;
	struct queue *q = queue_find_id(qid);
	if (q && state >= 0 && state < JOBD_STATE_COUNT)
		q->counts[state] = n;
}

/* Lays the keys a config section set over q's settings. */
static void
overlay_conf(struct queue_conf *dst, const struct queue_conf *src)
{
	if (src->set & QC_CONCURRENCY)
		dst->concurrency = src->concurrency;
	if (src->set & QC_GLOBAL_CONCURRENCY)
		dst->global_concurrency = src->global_concurrency;
	if (src->set & QC_RATE) {
		dst->rate_limit = src->rate_limit;
		dst->rate_period = src->rate_period;
	}
	if (src->set & QC_BURST)
		dst->rate_burst = src->rate_burst;
	if (src->set & QC_CAPACITY)
		dst->capacity = src->capacity;
	if (src->set & QC_TIMEOUT)
		dst->timeout = src->timeout;
	if (src->set & QC_KILL_GRACE)
		dst->kill_grace = src->kill_grace;
	if (src->set & QC_MAX_ATTEMPTS)
		dst->max_attempts = src->max_attempts;
	if (src->set & QC_BACKOFF)
		dst->backoff = src->backoff;
	if (src->set & QC_SNOOZE_EXIT)
		dst->snooze_exit = src->snooze_exit;
	if (src->set & QC_SNOOZE)
		dst->snooze = src->snooze;
	if (src->set & QC_MAX_SNOOZES)
		dst->max_snoozes = src->max_snoozes;
	if (src->set & QC_LIMITS) {
		struct joblimits l = src->limits;
		joblimits_merge(&l, &dst->limits);
		dst->limits = l;
	}
	if (src->set & QC_LABELS)
		dst->labels = src->labels;
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++)
		if (src->set & (QC_ON_FAILURE << i))
			memcpy(dst->hook[i], src->hook[i],
			       sizeof(dst->hook[i]));
	queue_conf_retention_overlay(dst, src);
}

int
queue_apply_config(const struct config *c)
{
	for (size_t i = 0; i < c->nqueues; i++) {
		const struct queue_conf *qc = &c->queues[i];
		struct queue *q = queue_find(qc->name);
		if (q == NULL) {
			struct queue_conf nc;
			queue_conf_init(&nc, qc->name);
			overlay_conf(&nc, qc);
			nc.set = 0;
			if (queue_create(&nc, false) == NULL)
				return -1;
			continue;
		}
		struct queue_conf nc = q->conf;
		overlay_conf(&nc, qc);
		nc.set = 0;
		if (memcmp(&nc, &q->conf, sizeof(nc)) != 0 &&
		    queue_update(q, &nc) != 0)
			return -1;
	}
	return 0;
}

/* A transaction ended: its moves stay (committed) or are undone. */
static void
queue_txn_end(bool committed, void *arg)
{
	(void)arg;
	for (struct queue *q = queues; q; q = q->next) {
		bool moved = false;
		for (int s = 0; s < JOBD_STATE_COUNT; s++) {
			if (q->txn_delta[s] == 0)
				continue;
			moved = true;
			if (!committed) {
				q->counts[s] -= q->txn_delta[s];
				if (q->counts[s] < 0)
					q->counts[s] = 0;
			}
			q->txn_delta[s] = 0;
		}
		if (moved && !committed) {
			waitq_notify_all(&q->work);
			waitq_notify_all(&q->room);
		}
	}
}

int
queue_init(const struct config *c)
{
	store_add_txn_hook(queue_txn_end, NULL);
	if (store_queue_each(load_one, NULL) != 0)
		return -1;
	if (queue_find("default") == NULL) {
		struct queue_conf qc;
		queue_conf_init(&qc, "default");
		if (queue_create(&qc, false) == NULL)
			return -1;
	}
	if (queue_apply_config(c) != 0)
		return -1;
	diag_clear();
	return store_count_each(count_one, NULL);
}

void
queue_shutdown(void)
{
	struct queue **lists[] = {&queues, &deleted};
	for (size_t i = 0; i < 2; i++) {
		while (*lists[i]) {
			struct queue *q = *lists[i];
			*lists[i] = q->next;
			free(q->consumers);
			free(q);
		}
	}
}

struct queue *
queue_find(const char *name)
{
	for (struct queue *q = queues; q; q = q->next)
		if (strcmp(q->conf.name, name) == 0)
			return q;
	diag_set(E_UNKNOWN_QUEUE, "no queue %s", name);
	return NULL;
}

struct queue *
queue_find_id(int64_t id)
{
	for (struct queue *q = queues; q; q = q->next)
		if (q->id == id)
			return q;
	return NULL;
}

struct queue *
queue_first(void)
{
	return queues;
}

struct queue *
queue_create(const struct queue_conf *qc, bool paused)
{
	int64_t id;
	if (queue_find(qc->name) != NULL) {
		diag_set(E_STATE, "queue %s exists", qc->name);
		return NULL;
	}
	local_changes++;
	int rc = store_queue_insert(qc, paused, &id);
	local_changes++;
	if (rc != 0)
		return NULL;
	events_queue_changed(qc->name);
	return queue_add(id, qc, paused);
}

int
queue_update(struct queue *q, const struct queue_conf *qc)
{
	local_changes++;
	int rc = store_queue_update(q->id, qc);
	local_changes++;
	if (rc != 0)
		return -1;
	events_queue_changed(qc->name);
	bool rate_changed = qc->rate_limit != q->conf.rate_limit ||
			    qc->rate_period != q->conf.rate_period ||
			    qc->rate_burst != q->conf.rate_burst;
	bool had_rate = q->conf.rate_limit > 0;
	q->conf = *qc;
	if (rate_changed)
		rate_setup(q, had_rate);
	waitq_notify_all(&q->work);
	waitq_notify_all(&q->room);
	return 0;
}

int
queue_set_paused(struct queue *q, bool paused)
{
	local_changes++;
	int rc = store_queue_set_paused(q->id, paused);
	local_changes++;
	if (rc != 0)
		return -1;
	events_queue_changed(q->conf.name);
	q->paused = paused;
	waitq_notify_all(&q->work);
	return 0;
}

int
queue_check_deletable(const struct queue *q)
{
	if (strcmp(q->conf.name, "default") == 0)
		return diag_set(E_INVAL, "name: queue default cannot be "
					 "deleted");
	if (queue_pending(q) > 0 || q->counts[JOBD_RUNNING] > 0 ||
	    q->active > 0 || q->incoming > 0)
		return diag_set(E_STATE, "queue %s has pending or running jobs",
				q->conf.name);
	return 0;
}

/* Takes q out of the list of queues. */
static void
forget(struct queue *q)
{
	struct queue **pp = &queues;
	while (*pp != q)
		pp = &(*pp)->next;
	*pp = q->next;
	/* Consumers hold q; tell them to leave by shrinking to nothing.
	 * They free nothing of q, so q is kept until shutdown. */
	q->conf.concurrency = 0;
	waitq_notify_all(&q->work);
	/* The struct stays allocated: its consumers may still be parked
	 * on it (they leave on the wake-up above, as concurrency is 0).  It
	 * is freed at shutdown. */
	q->next = deleted;
	deleted = q;
}

int
queue_delete(struct queue *q)
{
	if (queue_check_deletable(q) != 0)
		return -1;
	int64_t terminal = q->counts[JOBD_SUCCEEDED] + q->counts[JOBD_FAILED] +
			   q->counts[JOBD_CANCELLED];
	if (terminal > 0)
		return diag_set(E_STATE,
				"queue %s still holds %lld finished jobs "
				"(prune them first)",
				q->conf.name, (long long)terminal);
	local_changes++;
	int rc = store_queue_delete(q->id);
	local_changes++;
	if (rc != 0)
		return -1;
	events_queue_changed(q->conf.name);
	forget(q);
	return 0;
}

int64_t
queue_pending(const struct queue *q)
{
	return q->counts[JOBD_WAITING] + q->counts[JOBD_SCHEDULED] +
	       q->counts[JOBD_QUEUED];
}

bool
queue_has_room(const struct queue *q, int64_t n)
{
	return q->conf.capacity <= 0 ||
	       queue_pending(q) + q->reserved + n <= q->conf.capacity;
}

static bool
is_pending(int state)
{
	return state == JOBD_WAITING || state == JOBD_SCHEDULED ||
	       state == JOBD_QUEUED;
}

void
queue_job_moved(int64_t qid, int64_t id, int from, int to, int reason)
{
	struct queue *q = queue_find_id(qid);
	if (q == NULL)
		return;
	if (loop_debug())
		events_log_state(id, q->conf.name, to, reason);
	bool txn = store_txn_open();
	if (from >= 0 && from < JOBD_STATE_COUNT && q->counts[from] > 0) {
		q->counts[from]--;
		q->txn_delta[from] -= txn;
	}
	if (to >= 0 && to < JOBD_STATE_COUNT) {
		q->counts[to]++;
		q->txn_delta[to] += txn;
	}
	if (to == JOBD_QUEUED) {
		waitq_notify_one(&q->work);
		if (from != JOBD_QUEUED)
			events_queue_gained(qid);
	}
	if (is_pending(from) && !is_pending(to))
		waitq_notify_all(&q->room);
}

/* The daemon's kill_grace, for queues that have none of their own. */
static double default_kill_grace = 5.0;

void
queue_set_default_kill_grace(double secs)
{
	default_kill_grace = secs;
}

json_t *
queue_json(const struct queue *q)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(q->conf.name));
	json_object_set_new(o, "concurrency",
			    json_integer(q->conf.concurrency));
	json_object_set_new(o, "global_concurrency",
			    json_integer(q->conf.global_concurrency));
	if (q->conf.rate_limit > 0)
		json_object_set_new(
			o, "rate",
			json_pack("{s:f,s:f,s:f}", "limit", q->conf.rate_limit,
				  "period", q->conf.rate_period, "burst",
				  q->conf.rate_burst > 0 ? q->conf.rate_burst
							 : q->conf.rate_limit));
	else
		json_object_set_new(o, "rate", json_null());
	json_object_set_new(o, "capacity", json_integer(q->conf.capacity));
	json_object_set_new(o, "paused", json_boolean(q->paused));
	json_object_set_new(o, "timeout", json_real(q->conf.timeout));
	double grace = q->conf.kill_grace >= 0 ? q->conf.kill_grace
					       : default_kill_grace;
	json_object_set_new(o, "kill_grace", json_real(grace));
	json_object_set_new(o, "max_attempts",
			    json_integer(q->conf.max_attempts));
	json_object_set_new(o, "backoff",
			    json_pack("{s:f,s:f,s:f,s:f}", "base",
				      q->conf.backoff.base, "factor",
				      q->conf.backoff.factor, "max",
				      q->conf.backoff.max, "jitter",
				      q->conf.backoff.jitter));
	json_object_set_new(o, "limits", joblimits_to_json(&q->conf.limits));
	json_object_set_new(o, "snooze_exit",
			    q->conf.snooze_exit > 0
				    ? json_integer(q->conf.snooze_exit)
				    : json_null());
	json_object_set_new(o, "snooze",
			    q->conf.snooze >= 0 ? json_real(q->conf.snooze)
						: json_null());
	json_object_set_new(o, "max_snoozes",
			    json_integer(q->conf.max_snoozes));
	json_object_set_new(o, "labels", labels_to_json(&q->conf.labels));
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++)
		json_object_set_new(o, queue_conf_hook_names[i],
				    queue_conf_hook_json(&q->conf, i));
	queue_conf_retention_to_json(&q->conf, o);
	json_t *counts = json_object();
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		json_object_set_new(counts, jobd_state_name(s),
				    json_integer(q->counts[s]));
	json_object_set_new(o, "counts", counts);
	json_object_set_new(o, "pending", json_integer(queue_pending(q)));
	json_object_set_new(o, "running",
			    json_integer(q->counts[JOBD_RUNNING]));
	return o;
}

static int
get_seconds(const json_t *v, const char *field, double *out)
{
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) < 0 ||
	    json_number_value(v) > JOBSPEC_MAX_SECONDS)
		return diag_set(E_INVAL, "%s: must be a number of seconds >= 0",
				field);
	*out = json_number_value(v);
	return 0;
}

static int
get_int(const json_t *v, const char *field, long long lo, long long hi,
	long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return diag_set(E_INVAL,
				"%s: must be an integer from %lld to "
				"%lld",
				field, lo, hi);
	*out = json_integer_value(v);
	return 0;
}

/* The snooze settings of a queue object: 1 when key is one of them (and
 * was taken), 0 when it is not, -1 with diag when its value is bad. */
static int
snooze_key(const char *key, const json_t *v, struct queue_conf *qc)
{
	long long n;

	if (strcmp(key, "snooze_exit") == 0) {
		if (json_is_null(v))
			qc->snooze_exit = -1;
		else if (get_int(v, key, 1, 255, &n) != 0)
			return -1;
		else
			qc->snooze_exit = (int)n;
	} else if (strcmp(key, "snooze") == 0) {
		if (json_is_null(v))
			qc->snooze = -1;
		else if (get_seconds(v, key, &qc->snooze) != 0)
			return -1;
	} else if (strcmp(key, "max_snoozes") == 0) {
		if (get_int(v, key, 0, JOBSPEC_MAX_SNOOZES, &n) != 0)
			return -1;
		qc->max_snoozes = (int)n;
	} else {
		return 0;
	}
	return 1;
}

/* The hook key names (enum queue_conf_hook), or -1. */
static int
hook_key(const char *key)
{
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++)
		if (strcmp(key, queue_conf_hook_names[i]) == 0)
			return i;
	return -1;
}

int
queue_conf_from_json(json_t *obj, const struct queue_conf *base,
		     struct queue_conf *qc)
{
	const char *key;
	json_t *v;
	long long n;
	*qc = *base;
	json_object_foreach (obj, key, v) {
		int hook = hook_key(key);
		if (strcmp(key, "name") == 0 || strcmp(key, "cmd") == 0 ||
		    strcmp(key, "id") == 0) {
			continue;
		} else if (hook >= 0) {
			if (queue_conf_hook_set(qc, hook, v) != 0)
				return -1;
		} else if (strcmp(key, "concurrency") == 0) {
			if (get_int(v, key, 1, 10000, &n) != 0)
				return -1;
			qc->concurrency = (int)n;
		} else if (strcmp(key, "global_concurrency") == 0) {
			if (get_int(v, key, 0, QUEUE_CONF_MAX_GLOBAL, &n) != 0)
				return -1;
			qc->global_concurrency = (int)n;
		} else if (strcmp(key, "capacity") == 0) {
			if (get_int(v, key, 0, INT64_MAX, &n) != 0)
				return -1;
			qc->capacity = n;
		} else if (strcmp(key, "max_attempts") == 0) {
			if (get_int(v, key, 1, 1000, &n) != 0)
				return -1;
			qc->max_attempts = (int)n;
		} else if (strcmp(key, "labels") == 0) {
			if (labels_parse(v, &qc->labels) != 0)
				return -1;
		} else if (strcmp(key, "limits") == 0) {
			if (joblimits_parse(v, &qc->limits) != 0 ||
			    joblimits_check(&qc->limits, cgroup_controllers(),
					    "limits.") != 0)
				return -1;
		} else if (strcmp(key, "timeout") == 0) {
			if (get_seconds(v, key, &qc->timeout) != 0)
				return -1;
		} else if (strcmp(key, "kill_grace") == 0) {
			if (json_is_null(v))
				qc->kill_grace = -1;
			else if (get_seconds(v, key, &qc->kill_grace) != 0)
				return -1;
		} else if (strcmp(key, "rate") == 0) {
			if (json_is_null(v)) {
				qc->rate_limit = 0;
				qc->rate_period = 1;
				qc->rate_burst = 0;
				continue;
			}
			if (!json_is_object(v))
				return diag_set(E_INVAL,
						"rate: must be an object "
						"{limit, period, burst} or "
						"null");
			const char *rk;
			json_t *rv;
			double limit = -1, period = 1, burst = 0;
			json_object_foreach (v, rk, rv) {
				double *dst = strcmp(rk, "limit") == 0 ? &limit
					      : strcmp(rk, "period") == 0
						      ? &period
					      : strcmp(rk, "burst") == 0
						      ? &burst
						      : NULL;
				if (dst == NULL)
					return diag_set(E_INVAL,
							"rate.%s: unknown "
							"field",
							rk);
				if (json_is_null(rv))
					continue;
				if (!json_is_number(rv) ||
				    !isfinite(json_number_value(rv)) ||
				    json_number_value(rv) < 0)
					return diag_set(E_INVAL,
							"rate.%s: must be a "
							"number >= 0",
							rk);
				*dst = json_number_value(rv);
			}
			if (limit <= 0 || period <= 0)
				return diag_set(E_INVAL,
						"rate.limit: limit and period "
						"must be > 0");
			qc->rate_limit = limit;
			qc->rate_period = period;
			qc->rate_burst = burst;
		} else if (strcmp(key, "backoff") == 0) {
			if (!json_is_object(v))
				return diag_set(E_INVAL,
						"backoff: must be an object");
			struct backoff b = qc->backoff;
			const char *bk;
			json_t *bv;
			json_object_foreach (v, bk, bv) {
				double *dst = strcmp(bk, "base") == 0 ? &b.base
					      : strcmp(bk, "factor") == 0
						      ? &b.factor
					      : strcmp(bk, "max") == 0 ? &b.max
					      : strcmp(bk, "jitter") == 0
						      ? &b.jitter
						      : NULL;
				if (dst == NULL)
					return diag_set(E_INVAL,
							"backoff.%s: unknown "
							"field",
							bk);
				if (!json_is_number(bv))
					return diag_set(E_INVAL,
							"backoff.%s: must be "
							"a number",
							bk);
				*dst = json_number_value(bv);
			}
			if (backoff_validate(&b) != 0)
				return -1;
			qc->backoff = b;
		} else if (strcmp(key, "paused") == 0) {
			return diag_set(E_INVAL, "paused: use queue.pause or "
						 "queue.resume");
		} else {
			int taken = snooze_key(key, v, qc);
			if (taken == 0)
				taken = queue_conf_retention_json(qc, key, v);
			if (taken < 0)
				return -1;
			if (taken == 0)
				return diag_set(E_INVAL, "%s: unknown field",
						key);
		}
	}
	return 0;
}

void
queue_wake_all(void)
{
	for (struct queue *q = queues; q; q = q->next) {
		waitq_notify_all(&q->work);
		waitq_notify_all(&q->room);
	}
}

bool
queue_any_waiting(void)
{
	for (struct queue *q = queues; q; q = q->next)
		if (q->counts[JOBD_WAITING] > 0)
			return true;
	return false;
}

/* ---- queues changed by other nodes ---- */

/* True when a and b hold the same settings (field by field: padding is
 * not compared). */
static bool
conf_same(const struct queue_conf *a, const struct queue_conf *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       a->concurrency == b->concurrency &&
	       a->rate_limit == b->rate_limit &&
	       a->rate_period == b->rate_period &&
	       a->rate_burst == b->rate_burst && a->capacity == b->capacity &&
	       a->timeout == b->timeout && a->kill_grace == b->kill_grace &&
	       a->max_attempts == b->max_attempts &&
	       a->backoff.base == b->backoff.base &&
	       a->backoff.factor == b->backoff.factor &&
	       a->backoff.max == b->backoff.max &&
	       a->backoff.jitter == b->backoff.jitter &&
	       a->snooze_exit == b->snooze_exit && a->snooze == b->snooze &&
	       a->max_snoozes == b->max_snoozes &&
	       memcmp(&a->limits, &b->limits, sizeof(a->limits)) == 0 &&
	       memcmp(&a->labels, &b->labels, sizeof(a->labels)) == 0 &&
	       memcmp(a->hook, b->hook, sizeof(a->hook)) == 0 &&
	       queue_conf_retention_same(a, b);
}

/* Lays stored queue sq over this node's view: adds it, or takes its
 * settings and pause.  True when something changed. */
static bool
adopt(const struct store_queue *sq)
{
	struct queue *q = queue_find_id(sq->id);
	if (q == NULL) {
		/* Deleted and made again under the same name elsewhere. */
		struct queue *old = queue_find(sq->conf.name);
		if (old != NULL)
			forget(old);
		queue_add(sq->id, &sq->conf, sq->paused);
		return true;
	}
	struct queue_conf nc = sq->conf;
	nc.set = q->conf.set;
	if (conf_same(&nc, &q->conf) && q->paused == sq->paused)
		return false;
	bool rate_changed = nc.rate_limit != q->conf.rate_limit ||
			    nc.rate_period != q->conf.rate_period ||
			    nc.rate_burst != q->conf.rate_burst;
	bool had_rate = q->conf.rate_limit > 0;
	q->conf = nc;
	q->paused = sq->paused;
	if (rate_changed)
		rate_setup(q, had_rate);
	waitq_notify_all(&q->work);
	waitq_notify_all(&q->room);
	return true;
}

struct reload {
	const char *name;      /* NULL: every queue */
	struct store_queue *v; /* the stored queues (name's only) */
	size_t n, cap;
};

static int
reload_one(const struct store_queue *sq, void *arg)
{
	struct reload *rl = arg;
	if (rl->name != NULL && strcmp(sq->conf.name, rl->name) != 0)
		return 0;
	if (rl->n == rl->cap) {
		rl->cap = rl->cap ? rl->cap * 2 : 16;
		rl->v = xreallocarray(rl->v, rl->cap, sizeof(*rl->v));
	}
	rl->v[rl->n++] = *sq;
	return 0;
}

int
queue_reload_stored(const char *name, queue_changed_fn fn, void *arg)
{
	struct reload rl = {name, NULL, 0, 0};
	uint64_t before = local_changes;
	if (store_queue_each(reload_one, &rl) != 0) {
		free(rl.v);
		return -1;
	}
	/* This node changed a queue while the store was read: what was
	 * read may be older than what it holds. */
	if (local_changes != before || (before & 1) != 0) {
		free(rl.v);
		return 1;
	}
	/* Nothing below yields. */
	for (size_t i = 0; i < rl.n; i++)
		if (adopt(&rl.v[i]) && fn != NULL) {
			struct queue *q = queue_find_id(rl.v[i].id);
			if (q != NULL)
				fn(q, arg);
		}
	/* Those this node has that the store no longer holds: deleted
	 * elsewhere. */
	struct queue *q = queues, *next;
	for (; q != NULL; q = next) {
		next = q->next;
		if (name != NULL && strcmp(q->conf.name, name) != 0)
			continue;
		bool stored = false;
		for (size_t i = 0; i < rl.n && !stored; i++)
			stored = rl.v[i].id == q->id;
		if (stored)
			continue;
		log_info("queue %s: deleted on another node", q->conf.name);
		forget(q);
		if (fn != NULL)
			fn(q, arg);
	}
	free(rl.v);
	return 0;
}
