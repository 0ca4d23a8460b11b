/*
 * relay: events across nodes (relay.h).  Owns the listening connection's
 * coroutine, the relay's own coroutine, and what arrived and is not yet
 * handled: job events, queues to wake, queues to reload.  The notification
 * callback only parses and files; the coroutine reads the store and acts.
 */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "await.h"
#include "buf.h"
#include "consumer.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "store.h"
#include "xmem.h"

/* Wake-ups wait 0 to this many seconds, at random. */
#define JITTER 0.020
/* The fallback poll (counts, who listens), the waiters' re-read, the
 * queues' reload, a listener's ping (s). */
#define POLL_EVERY 1.0
#define REREAD_EVERY 2.0
#define RELOAD_EVERY 5.0
#define PING_EVERY 2.0
/* Reconnecting the listener: first pause, longest pause (s). */
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
/* Job events from elsewhere kept for the coroutine at most: more are
 * dropped (watch is best effort; waiters re-read). */
#define INBOX_MAX 10000
/* Messages kept while the listening connection, which sends them, is
 * being made (at start, after a loss): the oldest go past this many. */
#define OUTBOX_MAX 256
/* A node's "l" counts until its row says so, for at most this long (s). */
#define HINT_FOR 3.0

struct remote_job {
	int kind;
	int64_t id, qid;
	long uid;
};

static struct {
	double said_at; /* when the last failure was logged */
	bool on, stopping;
	struct coro *listen_co, *work_co;
	struct waitq wq; /* the work coroutine's */
	char token[24];	 /* "t" and hex: who this node is before it has
			  * an id */
	struct remote_job *jobs;
	size_t njobs, capjobs;
	bool dropped; /* said that events were dropped */
	int64_t *wake;
	size_t nwake, capwake;
	double wake_at; /* loop time; 0: none due */
	char **names;	/* queues to reload */
	size_t nnames, capnames;
	bool reload_all, reconnected, listen_dirty;
	bool db_listening;	  /* another node's row says it listens */
	double hint_until;	  /* an "l" arrived: job events go out */
	char *outbox[OUTBOX_MAX]; /* messages not sent yet, oldest first */
	size_t nout;
} R;

/* ---- publishing (from the events' flush hook: no yield) ---- */

static void
sender(char *buf, size_t n)
{
	if (store_node_id() != 0)
		snprintf(buf, n, "%lld", (long long)store_node_id());
	else
		snprintf(buf, n, "%s", R.token);
}

/* Sends msg, or keeps it (a copy) until the listening connection is
 * there again. */
static void
send_or_keep(const char *msg)
{
	if (R.nout == 0 && store_publish(msg) == 0)
		return;
	if (R.nout == OUTBOX_MAX) {
		free(R.outbox[0]);
		memmove(R.outbox, R.outbox + 1,
			(OUTBOX_MAX - 1) * sizeof(R.outbox[0]));
		R.nout--;
	}
	R.outbox[R.nout++] = xstrdup(msg);
}

/* The listening connection is there: what was kept goes out. */
static void
send_kept(void)
{
	size_t i = 0;
	while (i < R.nout && store_publish(R.outbox[i]) == 0)
		free(R.outbox[i++]);
	memmove(R.outbox, R.outbox + i, (R.nout - i) * sizeof(R.outbox[0]));
	R.nout -= i;
}

/* Sends what b holds, closed, and starts the next message. */
static void
send_msg(struct buf *b, bool *empty)
{
	if (*empty)
		return;
	buf_printf(b, "]}");
	send_or_keep(b->data);
	*empty = true;
}

/* Appends one item to the message under construction, sending it first
 * when the item would not fit.  key: the array the item goes in. */
static void
add_item(struct buf *b, bool *empty, char *cur, char key, const char *item)
{
	char head[64];
	size_t need = strlen(item) + 8;
	if (!*empty && (b->len + need > STORE_NOTICE_MAX || *cur != key)) {
		if (b->len + need > STORE_NOTICE_MAX) {
			send_msg(b, empty);
		} else {
			buf_printf(b, "],\"%c\":[%s", key, item);
			*cur = key;
			return;
		}
	}
	if (*empty) {
		char me[32];
		sender(me, sizeof(me));
		buf_reset(b);
		snprintf(head, sizeof(head), "{\"n\":\"%s\",\"%c\":[", me, key);
		buf_printf(b, "%s%s", head, item);
		*cur = key;
		*empty = false;
		return;
	}
	buf_printf(b, ",%s", item);
}

static bool
name_plain(const char *s)
{
	for (; s != NULL && *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return false;
	return s != NULL;
}

static void
relay_publish(const struct events_pub *p, size_t n)
{
	struct buf b = BUF_INIT;
	bool empty = true;
	char cur = 0, item[160];

	/* Items of one kind go together: one array each, in order. */
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < n; i++) {
			if ((int)p[i].what != pass)
				continue;
			if (pass == EVENTS_PUB_JOB) {
				struct queue *q =
					p[i].name != NULL
						? queue_find(p[i].name)
						: NULL;
				snprintf(item, sizeof(item),
					 "[\"%s\",%lld,%lld,%ld]",
					 events_kind_name(p[i].kind),
					 (long long)p[i].id,
					 (long long)(q != NULL ? q->id : 0),
					 p[i].uid);
				add_item(&b, &empty, &cur, 'j', item);
			} else if (pass == EVENTS_PUB_READY) {
				snprintf(item, sizeof(item), "%lld",
					 (long long)p[i].id);
				add_item(&b, &empty, &cur, 'r', item);
			} else if (name_plain(p[i].name)) {
				snprintf(item, sizeof(item), "\"%s\"",
					 p[i].name);
				add_item(&b, &empty, &cur, 'q', item);
			}
		}
	send_msg(&b, &empty);
	buf_release(&b);
	diag_clear();
}

static void
wake_queue(struct queue *q)
{
	q->maybe_ready = true;
	waitq_notify_all(&q->work);
}

static void
relay_ready_here(int64_t qid)
{
	struct queue *q = queue_find_id(qid);
	if (q != NULL)
		wake_queue(q);
}

static void
relay_listening(bool on)
{
	(void)on;
	R.listen_dirty = true;
	waitq_notify_all(&R.wq);
}

static const struct events_relay ops = {relay_publish, relay_ready_here,
					relay_listening};

/* ---- receiving (the listener's callback: no yield) ---- */

static void
file_job(const json_t *it)
{
	int kind = events_kind_parse(json_string_value(json_array_get(it, 0)));
	if (kind < 0 || !json_is_integer(json_array_get(it, 1)))
		return;
	if (R.njobs == INBOX_MAX) {
		if (!R.dropped)
			log_warnx("relay: too many events from other nodes; "
				  "some are not shown to watchers");
		R.dropped = true;
		return;
	}
	if (R.njobs == R.capjobs) {
		R.capjobs = R.capjobs ? R.capjobs * 2 : 64;
		R.jobs = xreallocarray(R.jobs, R.capjobs, sizeof(*R.jobs));
	}
	struct remote_job *j = &R.jobs[R.njobs++];
	j->kind = kind;
	j->id = json_integer_value(json_array_get(it, 1));
	j->qid = json_integer_value(json_array_get(it, 2));
	j->uid = json_is_integer(json_array_get(it, 3))
			 ? (long)json_integer_value(json_array_get(it, 3))
			 : -1;
}

static void
file_wake(int64_t qid)
{
	for (size_t i = 0; i < R.nwake; i++)
		if (R.wake[i] == qid)
			return;
	if (R.nwake == R.capwake) {
		R.capwake = R.capwake ? R.capwake * 2 : 16;
		R.wake = xreallocarray(R.wake, R.capwake, sizeof(*R.wake));
	}
	R.wake[R.nwake++] = qid;
	if (R.wake_at == 0)
		R.wake_at = loop_now() + JITTER * ((double)random() /
						   ((double)RAND_MAX + 1));
}

static void
file_name(const char *name)
{
	for (size_t i = 0; i < R.nnames; i++)
		if (strcmp(R.names[i], name) == 0)
			return;
	if (R.nnames == 64) {
		R.reload_all = true; /* many: read them all */
		return;
	}
	if (R.nnames == R.capnames) {
		R.capnames = R.capnames ? R.capnames * 2 : 8;
		R.names = xreallocarray(R.names, R.capnames, sizeof(*R.names));
	}
	R.names[R.nnames++] = xstrdup(name);
}

static void
update_publish_jobs(void)
{
	events_publish_jobs(store_node_id() == 0 || R.db_listening ||
			    loop_now() < R.hint_until);
}

static void
on_notice(const char *payload, void *arg)
{
	char me[32];
	json_t *m = json_loads(payload, 0, NULL), *v;
	size_t i;

	(void)arg;
	if (!json_is_object(m) || R.stopping) {
		json_decref(m);
		return;
	}
	const char *from = json_string_value(json_object_get(m, "n"));
	sender(me, sizeof(me));
	if (from == NULL || strcmp(from, me) == 0 ||
	    strcmp(from, R.token) == 0) {
		json_decref(m);
		return;
	}
	json_array_foreach (json_object_get(m, "j"), i, v)
		file_job(v);
	json_array_foreach (json_object_get(m, "r"), i, v)
		if (json_is_integer(v))
			file_wake(json_integer_value(v));
	json_array_foreach (json_object_get(m, "q"), i, v)
		if (json_is_string(v))
			file_name(json_string_value(v));
	if (json_is_true(json_object_get(m, "l"))) {
		R.hint_until = loop_now() + HINT_FOR;
		update_publish_jobs();
	}
	json_decref(m);
	waitq_notify_all(&R.wq);
}

/* ---- the listener ---- */

static void
listen_f(void *arg)
{
	double pause = BACKOFF_MIN;
	bool said = false, ever = false;

	(void)arg;
	while (!R.stopping) {
		if (store_listen_open(on_notice, NULL) != 0) {
			if (diag_code() == E_CANCELLED)
				break;
			if (!said)
				log_warnx("relay: cannot listen to the other "
					  "nodes, retrying: %s",
					  diag_msg());
			said = true;
			if (await_sleep(pause) != 0 &&
			    diag_code() == E_CANCELLED)
				break;
			pause = pause * 2 < BACKOFF_MAX ? pause * 2
							: BACKOFF_MAX;
			continue;
		}
		if (said || ever)
			log_info("relay: listening to the other nodes again");
		said = false;
		ever = true;
		pause = BACKOFF_MIN;
		send_kept();
		/* What went by unheard is looked at again. */
		R.reconnected = true;
		waitq_notify_all(&R.wq);
		double ping_at = loop_now() + PING_EVERY;
		while (!R.stopping && store_listen_check() == 0) {
			if (await_sleep(0.25) != 0 &&
			    diag_code() == E_CANCELLED)
				break;
			if (loop_now() < ping_at)
				continue;
			ping_at = loop_now() + PING_EVERY;
			if (store_listen_ping() != 0)
				break;
		}
		if (!R.stopping)
			log_warnx("relay: lost the listening connection: "
				  "%s",
				  diag_msg());
	}
	store_listen_close();
}

/* ---- the relay's work (a coroutine: it reads the store) ---- */

/* Logs a failure of what (diag says why): the first at once, then one a
 * minute while the database stays away. */
static void
complain(const char *what)
{
	if (R.said_at != 0 && loop_now() - R.said_at < 60)
		return;
	R.said_at = loop_now();
	log_error("relay: %s: %s", what, diag_msg());
}

static void
changed_queue(struct queue *q, void *arg)
{
	(void)arg;
	consumer_sync(q);
	wake_queue(q);
	if (events_watched())
		events_queue(q->conf.name,
			     q->conf.concurrency == 0 &&
					     queue_find_id(q->id) == NULL
				     ? json_pack("{s:s,s:b}", "name",
						 q->conf.name, "deleted", 1)
				     : queue_json(q));
	diag_clear();
}

static void
reload_queues(void)
{
	char **names = R.names;
	size_t n = R.nnames;
	bool all = R.reload_all;

	R.names = NULL;
	R.nnames = R.capnames = 0;
	R.reload_all = false;
	int rc = 0;
	if (all)
		rc = queue_reload_stored(NULL, changed_queue, NULL);
	for (size_t i = 0; i < n; i++) {
		if (!all && rc >= 0)
			rc = queue_reload_stored(names[i], changed_queue, NULL);
		free(names[i]);
	}
	free(names);
	if (rc < 0)
		complain("queues");
	/* Read while this node changed a queue, or failed: all again on
	 * the next turn (after a pause when the store failed). */
	if (rc > 0)
		R.reload_all = true;
}

static void
terminal_cb(int64_t id, void *arg)
{
	(void)arg;
	events_job_terminal(id);
}

/* Counts the waiters' jobs that ended (anywhere). */
static void
reread_waited(void)
{
	size_t n;
	int64_t *ids = events_waiting_ids(&n);
	if (n > 0 && store_jobs_terminal(ids, n, terminal_cb, NULL) != 0)
		complain("waited jobs");
	free(ids);
}

static void
deliver_jobs(void)
{
	struct remote_job *jobs = R.jobs;
	size_t n = R.njobs;

	R.jobs = NULL;
	R.njobs = R.capjobs = 0;
	R.dropped = false;
	for (size_t i = 0; i < n && !R.stopping; i++) {
		struct remote_job *j = &jobs[i];
		if (j->kind == EVENTS_JOB_FINISHED && events_waited(j->id) &&
		    store_jobs_terminal(&j->id, 1, terminal_cb, NULL) != 0)
			complain("job events");
		struct queue *q = j->qid ? queue_find_id(j->qid) : NULL;
		if (!events_wanted(q ? q->conf.name : NULL, j->id, j->uid))
			continue;
		events_remote_job(j->kind, j->id, store_job_json(j->id, false));
		diag_clear();
	}
	free(jobs);
}

static void
wake_due(void)
{
	for (size_t i = 0; i < R.nwake; i++)
		relay_ready_here(R.wake[i]);
	R.nwake = 0;
	R.wake_at = 0;
}

static void
ready_count(int64_t qid, int state, int64_t n, void *arg)
{
	(void)arg;
	if (state == JOBD_QUEUED && n > 0)
		relay_ready_here(qid);
}

/* The fallback for notifications that never came: consumers of queues
 * with ready jobs try a claim, and who wants job events is read. */
static void
poll_store(void)
{
	bool any = false;
	if (store_count_each(ready_count, NULL) != 0)
		complain("counts");
	if (store_nodes_listening(&any) == 0)
		R.db_listening = any;
	update_publish_jobs();
}

static void
say_listening(void)
{
	char msg[64], me[32];
	bool on = events_listening();

	R.listen_dirty = false;
	if (store_node_set_listening(on) != 0 || store_sync() != 0) {
		complain("listening");
		return;
	}
	if (!on)
		return;
	sender(me, sizeof(me));
	snprintf(msg, sizeof(msg), "{\"n\":\"%s\",\"l\":true}", me);
	send_or_keep(msg);
}

static double
earliest(double a, double b)
{
	return a < b ? a : b;
}

static void
work_f(void *arg)
{
	double now = loop_now(), poll_at = now, reread_at = now + REREAD_EVERY;
	double reload_at = now + RELOAD_EVERY;

	(void)arg;
	while (!R.stopping) {
		now = loop_now();
		if (R.reconnected) {
			R.reconnected = false;
			R.reload_all = true;
			reread_at = now;
			for (struct queue *q = queue_first(); q; q = q->next)
				wake_queue(q);
		}
		if (R.wake_at != 0 && now >= R.wake_at)
			wake_due();
		if (R.listen_dirty)
			say_listening();
		if (now >= reload_at) {
			R.reload_all = true;
			reload_at = now + RELOAD_EVERY;
		}
		if (R.reload_all || R.nnames > 0)
			reload_queues();
		if (R.njobs > 0)
			deliver_jobs();
		if (now >= poll_at) {
			poll_store();
			poll_at = loop_now() + POLL_EVERY;
		}
		if (now >= reread_at) {
			reread_waited();
			reread_at = loop_now() + REREAD_EVERY;
		}
		if (R.njobs > 0 || R.nnames > 0 || R.reload_all ||
		    R.reconnected || R.listen_dirty)
			continue;
		double until = earliest(poll_at, reload_at);
		if (events_listening())
			until = earliest(until, reread_at);
		if (R.wake_at != 0)
			until = earliest(until, R.wake_at);
		double left = until - loop_now();
		if (left > 0 && waitq_wait(&R.wq, left) != 0 &&
		    diag_code() == E_CANCELLED)
			break;
	}
}

/* ---- start, stop ---- */

void
relay_start(void)
{
	if (R.on)
		return;
	memset(&R, 0, sizeof(R));
	R.wq = (struct waitq)WAITQ_INIT;
	R.on = true;
	uint64_t t = 0;
	if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t))
		t = (uint64_t)random() << 32 ^ (uint64_t)random();
	snprintf(R.token, sizeof(R.token), "t%016llx", (unsigned long long)t);
	events_set_relay(&ops);
	update_publish_jobs();
	R.listen_co = coro_spawn("relay.listen", listen_f, NULL);
	R.work_co = coro_spawn("relay", work_f, NULL);
	if (events_listening())
		R.listen_dirty = true;
}

void
relay_stop(void)
{
	if (!R.on)
		return;
	R.stopping = true;
	events_set_relay(NULL);
	events_publish_jobs(false);
	store_listen_close();
	coro_cancel(R.listen_co);
	coro_cancel(R.work_co);
	coro_detach(R.listen_co);
	coro_detach(R.work_co);
	R.listen_co = R.work_co = NULL;
	for (size_t i = 0; i < R.nnames; i++)
		free(R.names[i]);
	free(R.names);
	free(R.jobs);
	free(R.wake);
	for (size_t i = 0; i < R.nout; i++)
		free(R.outbox[i]);
	R.nout = 0;
	R.names = NULL;
	R.jobs = NULL;
	R.wake = NULL;
	R.nnames = R.njobs = R.nwake = 0;
	R.on = false;
}
