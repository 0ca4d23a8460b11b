/*
 * queue: the in-memory view of each queue — its settings, job counts by
 * state, pause flag, token bucket and the wait queues its consumers and
 * producers park on.  Memory holds counts and wake-ups, never the backlog:
 * the jobs themselves stay in the store.
 *
 * Every job state change the engine makes goes through queue_job_moved(),
 * which keeps the counts right, wakes consumers when work appears and
 * producers when room appears.  A move takes effect at once (a capacity
 * check or a consumer sees the changes of the open transaction), and the
 * open transaction's moves are kept aside: if it rolls back, they are
 * undone, so the counts always match the store once a commit is over.
 */
#ifndef QUEUE_H_INCLUDED
#define QUEUE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "await.h"
#include "config.h"
#include "jobd/proto.h"
#include "ratelimit.h"

struct coro;

struct queue {
	int64_t id;		/* store id */
	struct queue_conf conf; /* current settings */
	bool paused;
	int64_t counts[JOBD_STATE_COUNT];
	int64_t txn_delta[JOBD_STATE_COUNT]; /* of counts, by moves in the
						 * open transaction */
	int active;		 /* attempts whose process runs now */
	int64_t incoming;	 /* jobs of submits under way (checked,
					 * not yet inserted): the queue is not
					 * deleted meanwhile */
	int64_t reserved;	 /* of those, the pending ones: they
					 * count against capacity already */
	bool deleting;		 /* queue.delete under way: no new
					 * jobs */
	struct ratelimit rl;	 /* used when conf.rate_limit > 0 and the
					 * store does not keep the rate
					 * (store_limits_shared) */
	double claim_after;	 /* loop time (s): no claim before it, as
					 * a limit kept by the store said */
	double claim_poll;	 /* s: the last wait for a limit the store
					 * could not time (0: none); doubles
					 * while it lasts */
	bool maybe_ready;	 /* another node may have queued jobs
					 * here: idle consumers try a claim
					 * (a claim that finds none clears
					 * it) */
	struct waitq work;	 /* consumers: work, token, resume */
	struct waitq room;	 /* producers: pending below capacity */
	struct coro **consumers; /* owned array of conf.concurrency
					 * slots (or more), NULL = free */
	int nslots;
	struct queue *next;
};

/* Loads the stored queues, lays the config's [queue] sections over them
 * (creating new ones), makes sure `default` exists, and loads the counts.
 * Call once the store is open, inside init. */
int queue_init(const struct config *c);
void queue_shutdown(void);
/* Re-applies the config's [queue] sections (reload). */
int queue_apply_config(const struct config *c);

/* Borrowed; NULL with E_UNKNOWN_QUEUE when absent. */
struct queue *queue_find(const char *name);
struct queue *queue_find_id(int64_t id);
/* First queue, for `for (q = queue_first(); q; q = q->next)`. */
struct queue *queue_first(void);

/* Creates a queue with settings qc, paused or not.  E_STATE when the
 * name exists. */
struct queue *queue_create(const struct queue_conf *qc, bool paused);
/* Changes settings; takes effect at once. */
int queue_update(struct queue *q, const struct queue_conf *qc);
int queue_set_paused(struct queue *q, bool paused);
/* -1 with E_INVAL for `default`, E_STATE while q has pending or running
 * jobs (or jobs being submitted); 0 when it may be deleted. */
int queue_check_deletable(const struct queue *q);
/* Deletes a deletable queue that holds no finished jobs either (E_STATE;
 * prune them first).  q is freed once its consumers have left. */
int queue_delete(struct queue *q);

/* Jobs waiting, scheduled or queued. */
int64_t queue_pending(const struct queue *q);
/* True when capacity allows n more pending jobs (besides those reserved
 * by submits under way). */
bool queue_has_room(const struct queue *q, int64_t n);
/* Job id of queue qid went from state `from` to `to` (-1: did not exist /
 * no longer exists) for reason.  Every state change the engine makes
 * passes here; in debug mode each one is logged. */
void queue_job_moved(int64_t qid, int64_t id, int from, int to, int reason);
/* The daemon's kill_grace (seconds), which a queue without its own shows
 * as its effective value.  Set at start and on reload. */
void queue_set_default_kill_grace(double secs);
/* The queue object for responses (new reference), with effective values:
 * a queue without its own kill_grace shows the daemon's. */
json_t *queue_json(const struct queue *q);
/* Fills qc from a JSON object of queue fields laid over base; -1 with
 * E_INVAL naming the field. */
int queue_conf_from_json(json_t *obj, const struct queue_conf *base,
			 struct queue_conf *qc);
/* True when some job of some queue is `waiting` (on dependencies). */
bool queue_any_waiting(void);
/* Called for a queue that queue_reload_stored() added, changed or
 * forgot (then q->conf.concurrency is 0, and q stays valid until
 * queue_shutdown). */
typedef void (*queue_changed_fn)(struct queue *q, void *arg);
/* Reads the queue named name (NULL: every queue) from the store again,
 * as another node left it: adds it, takes its settings and pause, or
 * forgets it when it is gone; fn (may be NULL) for each one that changed.
 * Writes nothing.  -1 with diag when the store could not be read; 1, and
 * nothing changed, when this node changed a queue meanwhile (what was
 * read may be older than what it holds: read again).  Yields. */
int queue_reload_stored(const char *name, queue_changed_fn fn, void *arg);
/* Wakes every consumer of every queue (shutdown, pause changes). */
void queue_wake_all(void);

#endif /* QUEUE_H_INCLUDED */
