/*
 * events: the bus behind `watch` and `wait`.
 *
 * Engine modules record what happened (events_job(), events_queue(), ...)
 * while they change the store.  Nothing is delivered then: a loop flush
 * hook, run after the store's group commit, delivers what the committed
 * transaction did — so no event ever reports an uncommitted change.
 * Subscribers get each event as a JSON object through a callback.  What
 * a transaction that rolls back recorded (events, log lines, totals) is
 * dropped with it, so watchers and `stats` see only what committed.
 */
#ifndef EVENTS_H_INCLUDED
#define EVENTS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

enum events_kind {
	EVENTS_JOB_SUBMITTED,
	EVENTS_JOB_STARTED,
	EVENTS_JOB_RETRYING,
	EVENTS_JOB_FINISHED,
	EVENTS_JOB_CHANGED, /* any other state change: waiters only */
	EVENTS_QUEUE_UPDATED,
	EVENTS_PRODUCER_UPDATED,
	EVENTS_DAEMON_STOPPING,
	EVENTS_JOB_PROGRESS, /* this node's watchers only */
	EVENTS_KIND_COUNT
};

/* How jobd writes JSON on the wire (responses and events): one line,
 * ASCII, numbers with 15 significant digits (0.1 is written 0.1). */
/* A job event carries the job's result only when it encodes in fewer
 * bytes than this; result_bytes otherwise. */
#define EVENTS_RESULT_MAX 4096
#define EVENTS_WIRE_FLAGS \
	(JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15))

struct events_sub;
/* Called with the event as one encoded line (borrowed, newline included,
 * len bytes): encoded once, however many subscribers take it. */
typedef void (*events_fn)(struct events_sub *s, const char *line, size_t len,
			  void *arg);

struct labels;

struct events_sub {
	events_fn fn;
	void *arg;
	char *queue;	/* owned filter, or NULL */
	int64_t job_id; /* filter, 0 = any */
	long uid;	/* -1: sees all jobs; else only this uid's */
	struct events_sub *next, *prev;
	struct labels *labels; /* owned filter, or NULL: job events only,
				  of jobs holding every pair of it */
};

/* Registers the flush hook.  Call after store's hook is registered. */
void events_init(void);
void events_shutdown(void);

/* True when someone watches (so callers can skip building objects). */
bool events_watched(void);
/* Records a job event, delivered after the commit.  The job object is
 * taken now, so the event shows the job as this change left it. */
void events_job(enum events_kind kind, int64_t job_id);
/* As events_job, with the job object obj (stolen; NULL: read now) made
 * earlier, for an event that must show the job as it was before other
 * coroutines could change it (job.submitted: store_job_new_json). */
void events_job_as(enum events_kind kind, int64_t job_id, json_t *obj);
/* Records job.progress for job_id with job (stolen: the brief job object
 * the event carries, with id, queue and uid).  Nothing is stored by it:
 * it is delivered in order with the other events, after whatever commit
 * is under way, and never told to other nodes.  Does not yield. */
void events_job_progress(int64_t job_id, json_t *job);
/* Records queue.updated / producer.updated for name (copied) with obj
 * (stolen: the queue or producer object, or {name, deleted: true}).
 * Call only when events_watched(). */
void events_queue(const char *name, json_t *obj);
void events_producer(const char *name, json_t *obj);
/* Records a log line for a job state change (debug mode), printed once
 * the change is committed. */
void events_log_state(int64_t job_id, const char *queue, int state, int reason);
/* Delivers daemon.stopping now (nothing to commit). */
void events_daemon_stopping(void);

/* Adds / removes a subscriber (s is the caller's, kept until removed). */
void events_subscribe(struct events_sub *s);
void events_unsubscribe(struct events_sub *s);

/* A waiter for `wait`: woken when every one of its jobs is terminal. */
struct events_waiter {
	int64_t *ids; /* borrowed, sorted ascending */
	bool *done;   /* borrowed, parallel to ids */
	size_t n;
	size_t left;	/* jobs not yet seen terminal */
	struct coro *c; /* woken when left reaches 0 */
	struct events_waiter *next, *prev;
};
void events_add_waiter(struct events_waiter *w);
void events_remove_waiter(struct events_waiter *w);

/* Totals since start (SPEC 5.3), kept here because every change passes. */
struct events_totals {
	uint64_t submitted, started, succeeded, failed, retried, timed_out,
		cancelled, oom, snoozed;
};
extern struct events_totals events_totals;
/* The totals a change being made adds to: while a group transaction is
 * open, its own, added to events_totals when it commits and dropped when
 * it rolls back; else events_totals.  Use right after the store write the
 * count describes (no yield between). */
struct events_totals *events_tally(void);

/*
 * Across nodes (the PostgreSQL store).  A relay (relay.c) registers here:
 * after each commit it is told what the commit changed, for the other
 * nodes; it hands back what they changed.  Without a relay (SQLite) these
 * calls do nothing.
 */
enum events_pub_what {
	EVENTS_PUB_JOB,	  /* a job event: kind, id, queue and uid if known */
	EVENTS_PUB_READY, /* queue id gained ready jobs */
	EVENTS_PUB_QUEUE  /* the queue named `name` changed (settings,
			   * pause, creation, deletion) */
};
struct events_pub {
	int what;	  /* enum events_pub_what */
	int kind;	  /* enum events_kind, for a job event */
	int64_t id;	  /* the job's id, or the queue's for a wake-up */
	long uid;	  /* the job's owner; -1: not known here */
	const char *name; /* the job's queue (NULL: not known here), or the
			   * queue changed; borrowed for the call */
};
struct events_relay {
	/* What a commit changed (pubs borrowed for the call).  Must not
	 * yield. */
	void (*publish)(const struct events_pub *pubs, size_t n);
	/* events_queue_ready() was called: this node's consumers of qid
	 * look for work too.  Must not yield. */
	void (*ready_here)(int64_t qid);
	/* The first watcher or waiter came (true) or the last went. */
	void (*listening)(bool on);
};
/* The wire name of an event kind ("job.finished"), NULL for one that is
 * not sent; and back, -1 when unknown. */
const char *events_kind_name(int kind);
int events_kind_parse(const char *name);
/* Registers the relay (borrowed until events_shutdown; NULL: none). */
void events_set_relay(const struct events_relay *r);
/* Whether job events are published (another node has watchers or
 * waiters); wake-ups and queue changes always are. */
void events_publish_jobs(bool on);
/* True while this node has watchers or waiters. */
bool events_listening(void);
/* Queue qid gained ready jobs (a rescue, a recovery, jobs made queued by
 * a statement that bypasses queue_job_moved): the other nodes' idle
 * consumers of it, and this node's, try a claim.  Told after the open
 * transaction commits (at once when none is open); dropped if it rolls
 * back.  Does not yield; nothing under SQLite. */
void events_queue_ready(int64_t qid);
/* The same for the other nodes only (queue_job_moved: this node's
 * consumers were woken already). */
void events_queue_gained(int64_t qid);
/* The queue named name changed in the open transaction (or committed):
 * the other nodes reload it from the store.  Does not yield. */
void events_queue_changed(const char *name);
/* A job event of another node: delivered now to this node's watchers,
 * with obj (stolen), the job as read from the store. */
void events_remote_job(enum events_kind kind, int64_t id, json_t *obj);
/* True when a watcher here would take an event of job id of queue (NULL:
 * not known) and uid (-1: not known). */
bool events_wanted(const char *queue, int64_t id, long uid);
/* The ids waiters wait for and have not seen terminal (a new array, the
 * caller frees it; NULL when none), *n how many. */
int64_t *events_waiting_ids(size_t *n);
/* True when a waiter waits for job id, not yet seen terminal. */
bool events_waited(int64_t id);
/* Job id was read terminal from the store (ended on another node): its
 * waiters count it. */
void events_job_terminal(int64_t id);

#endif /* EVENTS_H_INCLUDED */
