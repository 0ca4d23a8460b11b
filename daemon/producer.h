/*
 * producer: coroutines that put jobs into queues (SPEC 4) — on an interval,
 * on a cron schedule, or from the lines a generator command writes.  Every
 * produced job takes the same path as a submit (submit.h).  When the target
 * queue is at capacity a producer waits for room; a command producer then
 * stops reading its generator's pipe, so the generator blocks in write():
 * backpressure, never loss.
 *
 * Producers persist in the store; [producer NAME] sections of the config
 * define them too.  Schedules resume from the next tick after a restart.
 */
#ifndef PRODUCER_H_INCLUDED
#define PRODUCER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "config.h"

enum producer_state {
	PRODUCER_RUNNING = 0,
	PRODUCER_PAUSED,
	PRODUCER_FINISHED,
	PRODUCER_FAILED,
};
/* The store writes a producer that runs again as state 0 (store_sql.c),
 * below this layer: the number is pinned here. */
_Static_assert(PRODUCER_RUNNING == 0,
	       "store_sql.c stores PRODUCER_RUNNING as 0");
_Static_assert(PRODUCER_FINISHED == 2 && PRODUCER_FAILED == 3,
	       "store_pg_queue.c runs producers in states below 2 only");

struct producer;

/* Loads the stored producers, lays the config's over them and starts them
 * (unless paused, finished or failed).  Once queues are up. */
int producer_init(const struct config *c);
/* Re-applies the config's producers (reload): new ones are created,
 * changed ones restarted with their new definition. */
int producer_apply_config(const struct config *c);
/* Stops every producer (shutdown): generators are terminated, and their
 * coroutines are waited for (at most 5 s).  Yields. */
void producer_shutdown(void);

/* The node lost its lease (cluster, PostgreSQL; as runner_fence_all for
 * attempts): every generator this node runs gets SIGTERM now and SIGKILL
 * grace seconds later, and ownership of their producers is forgotten,
 * without a write: the rescue frees them, or this node takes them again
 * once it registered anew.  Their coroutines reap the generators, record
 * nothing of those runs, and wait to own their producers again.  Does not
 * yield. */
void producer_fence(double grace);

/* Validates a producer object (borrowed) without creating it; with
 * check_queue, its queue must exist.  -1 with diag as producer_create. */
int producer_check(json_t *obj, bool check_queue);
/* Borrowed; NULL with E_NOTFOUND. */
struct producer *producer_find(const char *name);
/* Validates obj (a producer object, borrowed), stores it and starts it
 * for uid.  E_INVAL naming the field, E_UNKNOWN_QUEUE, E_STATE when the
 * name exists. */
struct producer *producer_create(json_t *obj, uid_t uid);
int producer_delete(struct producer *p);
int producer_set_paused(struct producer *p, bool paused);
/* The producer object of SPEC 4 (new reference). */
json_t *producer_json(const struct producer *p);
/* The name of a producer whose target is queue (borrowed), or NULL. */
const char *producer_using_queue(const char *queue);
/* Every producer's object, in an array (new reference). */
json_t *producer_list_json(void);

#endif /* PRODUCER_H_INCLUDED */
