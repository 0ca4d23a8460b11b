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
};

/* Not an event on the wire: a debug log line waiting for its commit. */
#define EV_LOG_STATE EVENTS_KIND_COUNT

static struct pending *pend;
static size_t npend, cappend;
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

static const char *const kind_names[EVENTS_KIND_COUNT] = {
	"job.submitted",
	"job.started",
	"job.retrying",
	"job.finished",
	NULL,
	"queue.updated",
	"producer.updated",
	"daemon.stopping",
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
	npend++;
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

void
events_job(enum events_kind kind, int64_t job_id)
{
	/* Nobody listens: a job event needs delivering only for waiters
	 * and watchers, so skip the bookkeeping (the common case under
	 * load). */
	if (subs == NULL && (waiters == NULL || kind != EVENTS_JOB_FINISHED))
		return;
	/* The object first: reading it may yield (a store that waits on
	 * its server), and pushes made meanwhile move pend. */
	json_t *obj = subs != NULL && kind_names[kind] != NULL
			      ? store_job_json(job_id, false)
			      : NULL;
	push(kind, job_id, NULL);
	pend[npend - 1].obj = obj;
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

static void
deliver(const json_t *ev, const char *queue, int64_t job_id, long uid)
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
		if (npend == 0)
			return false;
		/* Nothing is reported before its commit: ask for one and
		 * come back (the loop runs the hooks again; while a big
		 * change holds the transaction, its end does). */
		if (store_txn_open()) {
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
		npend = cappend = 0;
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
			json_object_set_new(ev, "job", p->obj);
			deliver(ev, qcopy, p->job_id, uid);
			free(qcopy);
		} else if (p->kind == EVENTS_QUEUE_UPDATED) {
			json_object_set_new(ev, "queue", p->obj);
			deliver(ev, p->name, 0, -1);
		} else {
			json_object_set_new(ev, "producer", p->obj);
			deliver(ev, NULL, 0, -1);
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
		events_totals.started += txn_totals.started;
	}
	memset(&txn_totals, 0, sizeof(txn_totals));
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
	npend = cappend = 0;
}

void
events_subscribe(struct events_sub *s)
{
	s->prev = NULL;
	s->next = subs;
	if (subs)
		subs->prev = s;
	subs = s;
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
}

void
events_add_waiter(struct events_waiter *w)
{
	w->prev = NULL;
	w->next = waiters;
	if (waiters)
		waiters->prev = w;
	waiters = w;
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
}
