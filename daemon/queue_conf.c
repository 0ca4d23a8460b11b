/*
 * queue_conf: the defaults of a queue's settings, in one place.
 */
#include "queue_conf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"

const char *const queue_conf_hook_names[QUEUE_HOOK_COUNT] = {
	[QUEUE_HOOK_FAILURE] = "on_failure",
	[QUEUE_HOOK_SUCCESS] = "on_success",
	[QUEUE_HOOK_FINISH] = "on_finish",
};

/* The retention keys, the queue-wide one first, then by terminal state
 * in retention_by's order. */
static const char *const retention_keys[] = {"retention", "retention_succeeded",
					     "retention_failed",
					     "retention_cancelled"};
static const unsigned retention_bits[] = {QC_RETENTION, QC_RETENTION_SUCCEEDED,
					  QC_RETENTION_FAILED,
					  QC_RETENTION_CANCELLED};

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
	q->retention = -1;
	for (int i = 0; i < 3; i++)
		q->retention_by[i] = -1;
}

int
queue_conf_pool(const struct queue_conf *q)
{
	if (q->global_concurrency > 0 && q->global_concurrency < q->concurrency)
		return q->global_concurrency;
	return q->concurrency;
}

/* A hook's text as a config value that reads back the same: ';' and '#'
 * (only ever inside JSON strings) escaped, since after a blank they would
 * start a comment; "null" for none. */
static void
print_hook(const char *text, FILE *f)
{
	if (text[0] == '\0')
		fputs("null", f);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ';' || *p == '#')
			fprintf(f, "\\u%04x", (unsigned)*p);
		else
			fputc(*p, f);
	}
	fputc('\n', f);
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
	for (int i = 0; i < 4; i++) {
		double r = i == 0 ? q->retention : q->retention_by[i - 1];
		if (r >= 0)
			fprintf(f, "%s%s = %s\n", KEY(retention_bits[i]),
				retention_keys[i], jobd_duration_format(r, a));
	}
	fprintf(f, "%skeep_last = %lld\n", KEY(QC_KEEP_LAST),
		(long long)q->keep_last);
	char *labels = labels_to_text(&q->labels);
	fprintf(f, "%slabels = %s\n", KEY(QC_LABELS), labels ? labels : "");
	free(labels);
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++) {
		fprintf(f, "%s%s = ", KEY(QC_ON_FAILURE << i),
			queue_conf_hook_names[i]);
		print_hook(q->hook[i], f);
	}
#undef KEY
}

int
queue_conf_hook_set(struct queue_conf *q, int which, const json_t *v)
{
	const char *name = queue_conf_hook_names[which];
	struct jobspec s;
	char *text;

	if (json_is_null(v)) {
		memset(q->hook[which], 0, sizeof(q->hook[which]));
		return 0;
	}
	if (!json_is_object(v))
		return diag_set(E_INVAL,
				"%s: must be a job spec object or null", name);
	jobspec_init(&s);
	int rc = jobspec_parse(v, &s);
	jobspec_destroy(&s);
	if (rc != 0) {
		diag_prefix(name);
		return -1;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL || strlen(text) >= QUEUE_CONF_HOOK_MAX) {
		free(text);
		return diag_set(E_INVAL, "%s: longer than %d bytes as JSON",
				name, QUEUE_CONF_HOOK_MAX - 1);
	}
	memset(q->hook[which], 0, sizeof(q->hook[which]));
	memcpy(q->hook[which], text, strlen(text));
	free(text);
	return 0;
}

json_t *
queue_conf_hook_json(const struct queue_conf *q, int which)
{
	json_t *o = NULL;

	if (q->hook[which][0])
		o = json_loads(q->hook[which], 0, NULL);
	return o != NULL ? o : json_null();
}

int
queue_conf_hook_config(struct queue_conf *q, const char *k, const char *v)
{
	json_error_t err;
	json_t *o;
	int rc;

	for (int i = 0; i < QUEUE_HOOK_COUNT; i++) {
		if (strcmp(k, queue_conf_hook_names[i]) != 0)
			continue;
		o = *v != '\0' ? json_loads(v, JSON_DECODE_ANY, &err)
			       : json_null();
		if (o == NULL)
			return diag_set(E_INVAL, "%s: not JSON: %s", k,
					err.text);
		rc = queue_conf_hook_set(q, i, o);
		json_decref(o);
		if (rc != 0)
			return -1;
		q->set |= QC_ON_FAILURE << i;
		return 1;
	}
	return 0;
}

char *
queue_conf_hooks_text(const struct queue_conf *q)
{
	json_t *o = json_object();
	char *text = NULL;

	for (int i = 0; i < QUEUE_HOOK_COUNT; i++)
		if (q->hook[i][0])
			json_object_set_new(o, queue_conf_hook_names[i],
					    queue_conf_hook_json(q, i));
	if (json_object_size(o) > 0)
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

void
queue_conf_hooks_load(struct queue_conf *q, const char *text)
{
	json_t *o = text != NULL ? json_loads(text, 0, NULL) : NULL;

	memset(q->hook, 0, sizeof(q->hook));
	for (int i = 0; o != NULL && i < QUEUE_HOOK_COUNT; i++) {
		json_t *v = json_object_get(o, queue_conf_hook_names[i]);
		if (v != NULL && queue_conf_hook_set(q, i, v) != 0)
			memset(q->hook[i], 0, sizeof(q->hook[i]));
	}
	json_decref(o);
}

/* The index of a retention key in retention_keys, -1 when k is none. */
static int
retention_index(const char *k)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(k, retention_keys[i]) == 0)
			return i;
	return -1;
}

static double *
retention_slot(struct queue_conf *q, int i)
{
	return i == 0 ? &q->retention : &q->retention_by[i - 1];
}

int
queue_conf_retention_key(struct queue_conf *q, const char *k, const char *v)
{
	int i = retention_index(k);
	double d;

	if (i >= 0) {
		if (jobd_duration_parse(v, &d) != 0 || d > BACKOFF_LIMIT)
			return diag_set(E_INVAL,
					"%s: must be a duration (0 = keep)", k);
		*retention_slot(q, i) = d;
		q->set |= retention_bits[i];
		return 1;
	}
	if (strcmp(k, "keep_last") != 0)
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 ||
	    n > QUEUE_CONF_MAX_KEEP_LAST)
		return diag_set(E_INVAL,
				"keep_last: must be an integer from 0 to "
				"%d (0 = no cap)",
				QUEUE_CONF_MAX_KEEP_LAST);
	q->keep_last = n;
	q->set |= QC_KEEP_LAST;
	return 1;
}

int
queue_conf_retention_json(struct queue_conf *q, const char *k, const json_t *v)
{
	int i = retention_index(k);

	if (i >= 0) {
		if (json_is_null(v)) {
			*retention_slot(q, i) = -1;
			return 1;
		}
		if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
		    json_number_value(v) < 0 ||
		    json_number_value(v) > BACKOFF_LIMIT)
			return diag_set(E_INVAL,
					"%s: must be a number of seconds >= 0 "
					"(0 = keep) or null",
					k);
		*retention_slot(q, i) = json_number_value(v);
		return 1;
	}
	if (strcmp(k, "keep_last") != 0)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > QUEUE_CONF_MAX_KEEP_LAST)
		return diag_set(E_INVAL,
				"keep_last: must be an integer from 0 to "
				"%d (0 = no cap)",
				QUEUE_CONF_MAX_KEEP_LAST);
	q->keep_last = json_integer_value(v);
	return 1;
}

void
queue_conf_retention_overlay(struct queue_conf *dst,
			     const struct queue_conf *src)
{
	for (int i = 0; i < 4; i++)
		if (src->set & retention_bits[i])
			*retention_slot(dst, i) =
				i == 0 ? src->retention
				       : src->retention_by[i - 1];
	if (src->set & QC_KEEP_LAST)
		dst->keep_last = src->keep_last;
}

void
queue_conf_retention_to_json(const struct queue_conf *q, json_t *o)
{
	for (int i = 0; i < 4; i++) {
		double r = i == 0 ? q->retention : q->retention_by[i - 1];
		json_object_set_new(o, retention_keys[i],
				    r >= 0 ? json_real(r) : json_null());
	}
	json_object_set_new(o, "keep_last", json_integer(q->keep_last));
}

bool
queue_conf_retention_same(const struct queue_conf *a,
			  const struct queue_conf *b)
{
	return a->retention == b->retention &&
	       a->retention_by[0] == b->retention_by[0] &&
	       a->retention_by[1] == b->retention_by[1] &&
	       a->retention_by[2] == b->retention_by[2] &&
	       a->keep_last == b->keep_last;
}

double
queue_conf_retention_for(const struct queue_conf *q, int state,
			 double daemon_retention)
{
	int i = state - JOBD_SUCCEEDED;
	if (i >= 0 && i < 3 && q->retention_by[i] >= 0)
		return q->retention_by[i];
	if (q->retention >= 0)
		return q->retention;
	return daemon_retention;
}

int
queue_conf_key(struct queue_conf *q, const char *k, const char *v)
{
	int r = queue_conf_retention_key(q, k, v);

	return r != 0 ? r : queue_conf_hook_config(q, k, v);
}
