/*
 * queue_conf: the defaults of a queue's settings, in one place.
 */
#include "queue_conf.h"

#include <stdio.h>
#include <string.h>

void
queue_conf_init(struct queue_conf *q, const char *name)
{
	struct backoff b = BACKOFF_DEFAULT_INIT;

	memset(q, 0, sizeof(*q));
	snprintf(q->name, sizeof(q->name), "%s", name != NULL ? name : "");
	q->concurrency = 4;
	q->rate_limit = 0;
	q->rate_period = 1;
	q->rate_burst = 0;
	q->capacity = 0;
	q->timeout = 0;
	q->kill_grace = -1;
	q->max_attempts = 1;
	q->backoff = b;
}

int
queue_conf_pool(const struct queue_conf *q)
{
	if (q->global_concurrency > 0 && q->global_concurrency < q->concurrency)
		return q->global_concurrency;
	return q->concurrency;
}
