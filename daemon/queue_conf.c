/*
 * queue_conf: the defaults of a queue's settings, in one place.
 */
#include "queue_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobd/time.h"

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
	q->snooze_exit = 75; /* EX_TEMPFAIL */
	q->snooze = -1;
	q->max_snoozes = 100;
}

int
queue_conf_pool(const struct queue_conf *q)
{
	if (q->global_concurrency > 0 && q->global_concurrency < q->concurrency)
		return q->global_concurrency;
	return q->concurrency;
}

void
queue_conf_print(const struct queue_conf *q, FILE *f)
{
	char a[JOBD_UNIT_LEN], b[JOBD_UNIT_LEN], c[JOBD_UNIT_LEN],
		d[JOBD_UNIT_LEN];

	/* Keys the file does not set keep the value stored in the database:
	 * they are shown commented out, with the default.  Durations, rates
	 * and numbers are written in the forms the loader reads back. */
#define KEY(bit) ((q->set & (bit)) ? "" : "# ")
	fprintf(f, "\n[queue %s]\n", q->name);
	fprintf(f, "%sconcurrency = %d\n", KEY(QC_CONCURRENCY), q->concurrency);
	fprintf(f, "%sglobal_concurrency = %d\n", KEY(QC_GLOBAL_CONCURRENCY),
		q->global_concurrency);
	if (q->rate_limit > 0)
		fprintf(f, "%srate = %s\n", KEY(QC_RATE),
			jobd_rate_format(q->rate_limit, q->rate_period, a));
	else
		fprintf(f, "%srate = none\n", KEY(QC_RATE));
	fprintf(f, "%sburst = %s\n", KEY(QC_BURST),
		jobd_number_format(q->rate_burst, a));
	fprintf(f, "%scapacity = %lld\n", KEY(QC_CAPACITY),
		(long long)q->capacity);
	fprintf(f, "%stimeout = %s\n", KEY(QC_TIMEOUT),
		jobd_duration_format(q->timeout, a));
	if (q->kill_grace >= 0)
		fprintf(f, "%skill_grace = %s\n", KEY(QC_KILL_GRACE),
			jobd_duration_format(q->kill_grace, a));
	fprintf(f, "%smax_attempts = %d\n", KEY(QC_MAX_ATTEMPTS),
		q->max_attempts);
	fprintf(f, "%sbackoff = %s %s %s %s\n", KEY(QC_BACKOFF),
		jobd_duration_format(q->backoff.base, a),
		jobd_number_format(q->backoff.factor, b),
		jobd_duration_format(q->backoff.max, c),
		jobd_number_format(q->backoff.jitter, d));
	if (q->snooze_exit > 0)
		fprintf(f, "%ssnooze_exit = %d\n", KEY(QC_SNOOZE_EXIT),
			q->snooze_exit);
	else
		fprintf(f, "%ssnooze_exit = none\n", KEY(QC_SNOOZE_EXIT));
	if (q->snooze >= 0)
		fprintf(f, "%ssnooze = %s\n", KEY(QC_SNOOZE),
			jobd_duration_format(q->snooze, a));
	else
		fprintf(f, "%ssnooze = backoff\n", KEY(QC_SNOOZE));
	fprintf(f, "%smax_snoozes = %d\n", KEY(QC_MAX_SNOOZES), q->max_snoozes);
	if (q->limits.memory > 0)
		fprintf(f, "limit_memory = %lld\n",
			(long long)q->limits.memory);
	if (q->limits.nofile > 0)
		fprintf(f, "limit_nofile = %lld\n",
			(long long)q->limits.nofile);
	if (q->limits.cpu_time > 0)
		fprintf(f, "limit_cpu_time = %s\n",
			jobd_duration_format(q->limits.cpu_time, a));
	char *labels = labels_to_text(&q->labels);
	fprintf(f, "%slabels = %s\n", KEY(QC_LABELS), labels ? labels : "");
	free(labels);
#undef KEY
}
