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
	EVENTS_KIND_COUNT
};

/* How jobd writes JSON on the wire (responses and events): one line,
 * ASCII, numbers with 15 significant digits (0.1 is written 0.1). */
#define EVENTS_WIRE_FLAGS \
	(JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15))

struct events_sub;
/* Called with the event as one encoded line (borrowed, newline included,
 * len bytes): encoded once, however many subscribers take it. */
typedef void (*events_fn)(struct events_sub *s, const char *line, size_t len,
			  void *arg);

struct events_sub {
	events_fn fn;
	void *arg;
	char *queue;	/* owned filter, or NULL */
	int64_t job_id; /* filter, 0 = any */
	long uid;	/* -1: sees all jobs; else only this uid's */
	struct events_sub *next, *prev;
};

/* Registers the flush hook.  Call after store's hook is registered. */
void events_init(void);
void events_shutdown(void);

/* True when someone watches (so callers can skip building objects). */
bool events_watched(void);
/* Records a job event, delivered after the commit.  The job object is
 * taken now, so the event shows the job as this change left it. */
void events_job(enum events_kind kind, int64_t job_id);
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
		cancelled, oom;
};
extern struct events_totals events_totals;
/* The totals a change being made adds to: while a group transaction is
 * open, its own, added to events_totals when it commits and dropped when
 * it rolls back; else events_totals.  Use right after the store write the
 * count describes (no yield between). */
struct events_totals *events_tally(void);

#endif /* EVENTS_H_INCLUDED */
