/*
 * events: records of changes, delivered after their commit.  Owns the
 * pending list and the subscriber and waiter lists, not the subscribers.
 */
#include "events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "labels.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "xmem.h"

struct pending {
	enum events_kind kind;
	int64_t job_id;
	char *name;	   /* owned, for queue/producer events */
	json_t *obj;	   /* owned: the job, queue or producer */
	int state, reason; /* for EV_LOG_STATE */
	bool in_txn;	   /* recorded in the open transaction: dropped
				 * if it rolls back */
	bool urgent;	   /* someone here waits for it: its commit is
			    * asked for at once (else it goes out with
			    * whichever commit comes: other nodes only) */
};

/* Not events on the wire: a debug log line waiting for its commit, and a
 * queue's settings changed (told to the other nodes once committed). */
#define EV_LOG_STATE EVENTS_KIND_COUNT
#define EV_QUEUE_CHANGED (EVENTS_KIND_COUNT + 1)

static struct pending *pend;
static size_t npend, cappend;
static size_t nurgent; /* of pend, those urgent */
/* Committed events being delivered, a few milliseconds' worth a pass:
 * list[next..n) are left. */
static struct {
	struct pending *list;
	size_t next, n;
} out;
static ev_timer resume_w; /* brings the loop back for the rest */
static struct events_sub *subs;
static struct events_waiter *waiters;
struct events_totals events_totals;
static struct events_totals txn_totals; /* the open transaction's */
/* Across nodes: the relay (NULL: none, one node), whether another node
 * wants job events, and the queues that gained ready jobs: in the open
 * transaction (told if it commits), and committed, not yet told. */
static const struct events_relay *relay;
static bool publish_jobs;
struct qids {
	int64_t *v;
	size_t n, cap;
};
static struct qids ready_txn, ready_out;
static bool was_listening;

static const char *const kind_names[EVENTS_KIND_COUNT] = {
	"job.submitted",
	"job.started",
	"job.retrying",
	"job.finished",
	NULL,
	"queue.updated",
	"producer.updated",
	"daemon.stopping",
	"job.progress",
};

static void
push(enum events_kind kind, int64_t job_id, const char *name)
{
	if (npend == cappend) {
		cappend = cappend ? cappend * 2 : 64;
		pend = xreallocarray(pend, cappend, sizeof(*pend));
	}
	pend[npend].kind = kind;
	pend[npend].job_id = job_id;
	pend[npend].name = name ? xstrdup(name) : NULL;
	pend[npend].obj = NULL;
	/* job.started follows a claim committed before the process
	 * started: what it reports holds whatever happens next. */
	pend[npend].in_txn = kind != EVENTS_JOB_STARTED && store_txn_open();
	pend[npend].urgent = true;
	npend++;
	nurgent++;
}

bool
events_watched(void)
{
	return subs != NULL;
}

void
events_log_state(int64_t job_id, const char *queue, int state, int reason)
{
	push(EV_LOG_STATE, job_id, queue);
	pend[npend - 1].state = state;
	pend[npend - 1].reason = reason;
}

/* The object an event of kind carries: NULL when nobody watches.  May
 * yield (a store that waits on its server). */
static json_t *
job_object(enum events_kind kind, int64_t job_id)
{
	return subs != NULL && kind_names[kind] != NULL
		       ? store_job_json(job_id, false)
		       : NULL;
}

void
events_job_as(enum events_kind kind, int64_t job_id, json_t *obj)
{
	/* Nobody listens: a job event needs delivering only for waiters
	 * and watchers, so skip the bookkeeping (the common case under
	 * load). */
	bool elsewhere = relay != NULL && publish_jobs &&
			 kind_names[kind] != NULL;
	if (subs == NULL && !elsewhere &&
	    (waiters == NULL || kind != EVENTS_JOB_FINISHED)) {
		json_decref(obj);
		return;
	}
	/* The object first: reading it may yield (a store that waits on
	 * its server), and pushes made meanwhile move pend. */
	if (obj == NULL)
		obj = job_object(kind, job_id);
	push(kind, job_id, NULL);
	pend[npend - 1].obj = obj;
	if (obj == NULL && (waiters == NULL || kind != EVENTS_JOB_FINISHED)) {
		pend[npend - 1].urgent = false;
		nurgent--;
	}
}

void
events_job(enum events_kind kind, int64_t job_id)
{
	events_job_as(kind, job_id, NULL);
}

void
events_job_progress(int64_t job_id, json_t *job)
{
	if (subs == NULL) {
		json_decref(job);
		return;
	}
	push(EVENTS_JOB_PROGRESS, job_id, NULL);
	pend[npend - 1].obj = job;
	/* What it reports is in memory, not in the transaction. */
	pend[npend - 1].in_txn = false;
}

void
events_queue(const char *name, json_t *obj)
{
	if (subs == NULL) {
		json_decref(obj);
		return;
	}
	push(EVENTS_QUEUE_UPDATED, 0, name);
	pend[npend - 1].obj = obj;
}

void
events_producer(const char *name, json_t *obj)
{
	if (subs == NULL) {
		json_decref(obj);
		return;
	}
	push(EVENTS_PRODUCER_UPDATED, 0, name);
	pend[npend - 1].obj = obj;
}

/* A job object as an event carries it: a result of EVENTS_RESULT_MAX
 * bytes or more (encoded) is left out, its size in result_bytes in its
 * place; get and wait give it whole.  Returns obj. */
static json_t *
event_job(json_t *obj)
{
	json_t *res = json_object_get(obj, "result");
	size_t n;

	if (res == NULL || json_is_null(res))
		return obj;
	n = json_dumpb(res, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (n < EVENTS_RESULT_MAX)
		return obj;
	json_object_del(obj, "result");
	json_object_set_new(obj, "result_bytes", json_integer((json_int_t)n));
	return obj;
}

static json_t *
event_new(enum events_kind kind)
{
	char tb[JOBD_TIME_LEN];
	jobd_time_format(jobd_time_now_ms(), tb);
	return json_pack("{s:s,s:s}", "event", kind_names[kind], "time", tb);
}

/* Encodes ev as a wire line (caller frees), *len its length. */
static char *
encode(const json_t *ev, size_t *len)
{
	char *line = json_dumps(ev, EVENTS_WIRE_FLAGS);
	if (line == NULL)
		return NULL;
	*len = strlen(line);
	line[(*len)++] = '\n'; /* over the NUL: the length is kept */
	return line;
}

/* Hands ev to each subscriber whose filters take it: queue, job_id and
 * uid those of its job (0 and -1 for an event of no job), labels the job
 * object's labels (borrowed; NULL: no job). */
static void
deliver(const json_t *ev, const char *queue, int64_t job_id, long uid,
	const json_t *labels)
{
	struct events_sub *s = subs, *next;
	char *line = NULL;
	size_t len = 0;
	for (; s; s = next) {
		next = s->next;
		if (s->queue && (queue == NULL || strcmp(s->queue, queue) != 0))
			continue;
		if (s->job_id && s->job_id != job_id)
			continue;
		if (s->uid >= 0 && job_id && uid != s->uid)
			continue;
		if (s->labels &&
		    (job_id == 0 || !labels_match(labels, s->labels)))
			continue;
		if (line == NULL && (line = encode(ev, &len)) == NULL)
			return;
		s->fn(s, line, len, s->arg);
	}
	free(line);
}

static void
notify_waiters(int64_t id)
{
	for (struct events_waiter *w = waiters; w; w = w->next) {
		int64_t *hit = NULL;
		size_t lo = 0, hi = w->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (w->ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < w->n && w->ids[lo] == id)
			hit = &w->ids[lo];
		if (hit && !w->done[lo]) {
			w->done[lo] = true;
			if (--w->left == 0)
				coro_wakeup(w->c);
		}
	}
}

static void
qids_add(struct qids *set, int64_t qid)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i] == qid)
			return;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	set->v[set->n++] = qid;
}

/* Tells the relay what committed: the job events and queue changes of
 * list[0..n), and the queues that gained ready jobs. */
static void
publish(const struct pending *list, size_t n)
{
	size_t cap = ready_out.n, k = 0;
	if (relay == NULL) {
		ready_out.n = 0;
		return;
	}
	for (size_t i = 0; i < n; i++)
		cap += list[i].kind == EV_QUEUE_CHANGED ||
		       (list[i].kind < EVENTS_KIND_COUNT && list[i].job_id);
	if (cap == 0)
		return;
	struct events_pub *pub = xcalloc(cap, sizeof(*pub));
	for (size_t i = 0; i < n; i++) {
		const struct pending *p = &list[i];
		if (p->kind == EV_QUEUE_CHANGED) {
			pub[k].what = EVENTS_PUB_QUEUE;
			pub[k++].name = p->name;
			continue;
		}
		if (p->kind >= EVENTS_KIND_COUNT || p->job_id == 0 ||
		    kind_names[p->kind] == NULL || !publish_jobs ||
		    p->kind == EVENTS_JOB_PROGRESS)
			continue;
		pub[k].what = EVENTS_PUB_JOB;
		pub[k].kind = p->kind;
		pub[k].id = p->job_id;
		pub[k].uid = -1;
		if (p->obj != NULL) {
			pub[k].name = json_string_value(
				json_object_get(p->obj, "queue"));
			pub[k].uid = (long)json_integer_value(
				json_object_get(p->obj, "uid"));
		}
		k++;
	}
	for (size_t i = 0; i < ready_out.n; i++) {
		pub[k].what = EVENTS_PUB_READY;
		pub[k++].id = ready_out.v[i];
	}
	ready_out.n = 0;
	if (k > 0)
		relay->publish(pub, k);
	free(pub);
}

static void
resume_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	/* Nothing to do: waking the loop runs the flush hooks. */
}

static bool
events_flush(void *arg)
{
	(void)arg;
	if (out.list == NULL) {
		/* Queues that gained ready jobs in a commit: the other
		 * nodes hear of them now, whatever else waits. */
		if (ready_out.n > 0 && (npend == 0 || store_txn_open()))
			publish(NULL, 0);
		if (npend == 0)
			return false;
		/* Nothing is reported before its commit: ask for one and
		 * come back (the loop runs the hooks again; while a big
		 * change holds the transaction, its end does). */
		if (store_txn_open()) {
			/* Only for other nodes: they hear of it after
			 * whichever commit ends this transaction. */
			if (nurgent == 0)
				return false;
			store_request_commit(true);
			/* Again at once, so the store's hook commits in
			 * this pass; not while its commit is answered
			 * later: the answer ends the loop's sleep. */
			return !store_held() && !store_committing();
		}
		if (store_make_durable() != 0)
			log_error("%s", diag_msg());
		/* Deliver from a private copy: a subscriber callback may
		 * record more. */
		out.list = pend;
		out.n = npend;
		out.next = 0;
		pend = NULL;
		npend = cappend = nurgent = 0;
		publish(out.list, out.n);
	}
	/* Many events (a big cancel's) go out over several passes of the
	 * loop, so that it polls in between. */
	uint64_t t0 = coro_clock_ns();
	while (out.next < out.n) {
		if (out.next % 32 == 31 &&
		    coro_clock_ns() - t0 > AWAIT_SLICE_NS) {
			if (!ev_is_active(&resume_w)) {
				ev_timer_set(&resume_w, 0, 0);
				ev_timer_start(loop_ev(), &resume_w);
			}
			return false;
		}
		struct pending *p = &out.list[out.next++];
		if (p->kind == EV_LOG_STATE) {
			const char *r = jobd_reason_name(p->reason);
			log_info("job=%lld queue=%s state=%s reason=%s",
				 (long long)p->job_id, p->name,
				 p->state >= 0 ? jobd_state_name(p->state)
					       : "deleted",
				 r ? r : "-");
			free(p->name);
			continue;
		}
		if (p->kind == EV_QUEUE_CHANGED) {
			free(p->name);
			continue;
		}
		if (p->kind == EVENTS_JOB_FINISHED)
			notify_waiters(p->job_id);
		if (subs == NULL || kind_names[p->kind] == NULL ||
		    p->obj == NULL) {
			free(p->name);
			json_decref(p->obj);
			continue;
		}
		json_t *ev = event_new(p->kind);
		if (p->job_id) {
			const char *queue = json_string_value(
				json_object_get(p->obj, "queue"));
			long uid = (long)json_integer_value(
				json_object_get(p->obj, "uid"));
			char *qcopy = xstrdup(queue ? queue : "");
			json_t *job = event_job(p->obj);
			json_object_set_new(ev, "job", job);
			deliver(ev, qcopy, p->job_id, uid,
				json_object_get(job, "labels"));
			free(qcopy);
		} else if (p->kind == EVENTS_QUEUE_UPDATED) {
			json_object_set_new(ev, "queue", p->obj);
			deliver(ev, p->name, 0, -1, NULL);
		} else {
			json_object_set_new(ev, "producer", p->obj);
			deliver(ev, NULL, 0, -1, NULL);
		}
		json_decref(ev);
		free(p->name);
	}
	free(out.list);
	out.list = NULL;
	out.n = out.next = 0;
	return npend > 0;
}

void
events_daemon_stopping(void)
{
	json_t *ev = event_new(EVENTS_DAEMON_STOPPING);
	size_t len = 0;
	char *line = encode(ev, &len);
	struct events_sub *s = subs, *next;
	for (; s && line; s = next) {
		next = s->next;
		s->fn(s, line, len, s->arg);
	}
	free(line);
	json_decref(ev);
}

struct events_totals *
events_tally(void)
{
	return store_txn_open() ? &txn_totals : &events_totals;
}

static void
free_pending(struct pending *p)
{
	free(p->name);
	json_decref(p->obj);
}

/* A transaction ended: what it recorded is kept (committed) or dropped. */
static void
events_txn_end(bool committed, void *arg)
{
	(void)arg;
	if (committed) {
		events_totals.submitted += txn_totals.submitted;
		events_totals.succeeded += txn_totals.succeeded;
		events_totals.failed += txn_totals.failed;
		events_totals.retried += txn_totals.retried;
		events_totals.timed_out += txn_totals.timed_out;
		events_totals.cancelled += txn_totals.cancelled;
		events_totals.oom += txn_totals.oom;
		events_totals.snoozed += txn_totals.snoozed;
		events_totals.started += txn_totals.started;
	}
	memset(&txn_totals, 0, sizeof(txn_totals));
	for (size_t i = 0; committed && i < ready_txn.n; i++)
		qids_add(&ready_out, ready_txn.v[i]);
	ready_txn.n = 0;
	size_t k = 0;
	for (size_t i = 0; i < npend; i++) {
		if (!committed && pend[i].in_txn) {
			free_pending(&pend[i]);
			continue;
		}
		pend[i].in_txn = false;
		pend[k++] = pend[i];
	}
	npend = k;
	nurgent = 0;
	for (size_t i = 0; i < npend; i++)
		nurgent += pend[i].urgent;
}

void
events_init(void)
{
	ev_timer_init(&resume_w, resume_cb, 0, 0);
	loop_add_flush(events_flush, NULL, "events.deliver");
	store_add_txn_hook(events_txn_end, NULL);
}

void
events_shutdown(void)
{
	if (loop_ev() != NULL && ev_is_active(&resume_w))
		ev_timer_stop(loop_ev(), &resume_w);
	for (size_t i = out.next; i < out.n; i++) {
		free(out.list[i].name);
		json_decref(out.list[i].obj);
	}
	free(out.list);
	out.list = NULL;
	out.n = out.next = 0;
	for (size_t i = 0; i < npend; i++)
		free_pending(&pend[i]);
	free(pend);
	pend = NULL;
	npend = cappend = nurgent = 0;
	free(ready_txn.v);
	free(ready_out.v);
	memset(&ready_txn, 0, sizeof(ready_txn));
	memset(&ready_out, 0, sizeof(ready_out));
	relay = NULL;
	publish_jobs = false;
	was_listening = false;
}

/* Tells the relay when the first watcher or waiter comes or the last
 * goes. */
static void
listening_check(void)
{
	bool now = subs != NULL || waiters != NULL;
	if (now == was_listening)
		return;
	was_listening = now;
	if (relay != NULL && relay->listening != NULL)
		relay->listening(now);
}

void
events_subscribe(struct events_sub *s)
{
	s->prev = NULL;
	s->next = subs;
	if (subs)
		subs->prev = s;
	subs = s;
	listening_check();
}

void
events_unsubscribe(struct events_sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (subs == s)
		subs = s->next;
	else
		return;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	listening_check();
}

void
events_add_waiter(struct events_waiter *w)
{
	w->prev = NULL;
	w->next = waiters;
	if (waiters)
		waiters->prev = w;
	waiters = w;
	listening_check();
}

void
events_remove_waiter(struct events_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else if (waiters == w)
		waiters = w->next;
	else
		return;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	listening_check();
}

/* ---- across nodes ---- */

void
events_set_relay(const struct events_relay *r)
{
	relay = r;
	ready_txn.n = ready_out.n = 0;
}

void
events_publish_jobs(bool on)
{
	publish_jobs = on;
}

bool
events_listening(void)
{
	return subs != NULL || waiters != NULL;
}

void
events_queue_gained(int64_t qid)
{
	if (relay != NULL)
		qids_add(store_txn_open() ? &ready_txn : &ready_out, qid);
}

void
events_queue_ready(int64_t qid)
{
	if (relay == NULL)
		return;
	events_queue_gained(qid);
	if (relay->ready_here != NULL)
		relay->ready_here(qid);
}

void
events_queue_changed(const char *name)
{
	if (relay != NULL) {
		push(EV_QUEUE_CHANGED, 0, name);
		pend[npend - 1].urgent = false;
		nurgent--;
	}
}

void
events_remote_job(enum events_kind kind, int64_t id, json_t *obj)
{
	if (obj == NULL || kind >= EVENTS_KIND_COUNT ||
	    kind_names[kind] == NULL || subs == NULL) {
		json_decref(obj);
		return;
	}
	json_t *ev = event_new(kind);
	const char *queue = json_string_value(json_object_get(obj, "queue"));
	long uid = (long)json_integer_value(json_object_get(obj, "uid"));
	char *qcopy = xstrdup(queue ? queue : "");
	json_t *job = event_job(obj);
	json_object_set_new(ev, "job", job);
	deliver(ev, qcopy, id, uid, json_object_get(job, "labels"));
	free(qcopy);
	json_decref(ev);
}

bool
events_wanted(const char *queue, int64_t id, long uid)
{
	for (struct events_sub *s = subs; s; s = s->next) {
		if (s->queue && queue && strcmp(s->queue, queue) != 0)
			continue;
		if (s->job_id && s->job_id != id)
			continue;
		if (s->uid >= 0 && uid >= 0 && uid != s->uid)
			continue;
		return true;
	}
	return false;
}

int64_t *
events_waiting_ids(size_t *n)
{
	size_t k = 0, cap = 0;
	int64_t *ids = NULL;
	for (struct events_waiter *w = waiters; w; w = w->next)
		for (size_t i = 0; i < w->n; i++) {
			if (w->done[i])
				continue;
			if (k == cap) {
				cap = cap ? cap * 2 : 16;
				ids = xreallocarray(ids, cap, sizeof(*ids));
			}
			ids[k++] = w->ids[i];
		}
	*n = k;
	return ids;
}

bool
events_waited(int64_t id)
{
	for (struct events_waiter *w = waiters; w; w = w->next) {
		size_t lo = 0, hi = w->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (w->ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < w->n && w->ids[lo] == id && !w->done[lo])
			return true;
	}
	return false;
}

void
events_job_terminal(int64_t id)
{
	notify_waiters(id);
}

const char *
events_kind_name(int kind)
{
	return kind >= 0 && kind < EVENTS_KIND_COUNT ? kind_names[kind] : NULL;
}

int
events_kind_parse(const char *name)
{
	for (int k = 0; name != NULL && k < EVENTS_KIND_COUNT; k++)
		if (kind_names[k] != NULL && strcmp(kind_names[k], name) == 0)
			return k;
	return -1;
}
