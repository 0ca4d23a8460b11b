/*
 * joblimits: a job's resource limits checked, merged with its queue's and
 * written back as JSON, and refused when they need a cgroup controller the
 * caller says is missing.
 */
#include "joblimits.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "diag.h"
#include "jobd/time.h"

/* Most CPUs a cpu value may name. */
#define JOBLIMITS_MAX_CPU 1e6

int
joblimits_check(const struct joblimits *l, unsigned have, const char *prefix)
{
	const char *key = NULL, *ctl = NULL;

	if (l->cpu > 0 && !(have & JOBLIMITS_HAVE_CPU))
		key = "cpu", ctl = "cpu";
	else if (l->tasks > 0 && !(have & JOBLIMITS_HAVE_PIDS))
		key = "tasks", ctl = "pids";
	if (key == NULL)
		return 0;
	return diag_set(E_INVAL,
			"%s%s: needs the cgroup v2 %s controller, which jobd "
			"does not have here",
			prefix, key, ctl);
}

bool
joblimits_is_empty(const struct joblimits *l)
{
	return l->memory == 0 && l->cpu == 0 && l->tasks == 0 &&
	       l->nofile == 0 && l->cpu_time == 0;
}

/* An integer from 1 to INT64_MAX. */
static int
get_count(const char *key, const json_t *v, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return diag_set(E_INVAL, "limits.%s: must be an integer >= 1",
				key);
	*out = json_integer_value(v);
	return 0;
}

/* A number above 0 and at most max. */
static int
get_positive(const char *key, const json_t *v, double max, double *out)
{
	double d = json_is_number(v) ? json_number_value(v) : NAN;

	if (!isfinite(d) || d <= 0 || d > max)
		return diag_set(E_INVAL,
				"limits.%s: must be a number above 0 and at "
				"most %.0f",
				key, max);
	*out = d;
	return 0;
}

/* One key of a limits object into *l. */
static int
parse_key(const char *key, const json_t *v, struct joblimits *l)
{
	int rc;

	if (strcmp(key, "memory") == 0)
		rc = get_count(key, v, &l->memory);
	else if (strcmp(key, "cpu") == 0)
		rc = get_positive(key, v, JOBLIMITS_MAX_CPU, &l->cpu);
	else if (strcmp(key, "tasks") == 0)
		rc = get_count(key, v, &l->tasks);
	else if (strcmp(key, "nofile") == 0)
		rc = get_count(key, v, &l->nofile);
	else if (strcmp(key, "cpu_time") == 0)
		rc = get_positive(key, v, BACKOFF_LIMIT, &l->cpu_time);
	else
		return diag_set(E_INVAL,
				"limits.%s: unknown key (memory, cpu, tasks, "
				"nofile or cpu_time)",
				key);
	return rc;
}

int
joblimits_parse(const json_t *v, struct joblimits *l)
{
	const char *key;
	json_t *x;

	memset(l, 0, sizeof(*l));
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return diag_set(E_INVAL, "limits: must be an object");
	/* jansson iterates only non-const objects; nothing here writes. */
	json_object_foreach ((json_t *)(uintptr_t)v, key, x) {
		if (parse_key(key, x, l) < 0) {
			memset(l, 0, sizeof(*l));
			return -1;
		}
	}
	return 0;
}

/* A decimal integer from 1 up, the whole of s. */
static bool
text_count(const char *s, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 1)
		return false;
	*out = n;
	return true;
}

int
joblimits_config_key(const char *k, const char *v, struct joblimits *l)
{
	char *end;
	double d;
	int64_t n;

	if (strncmp(k, "limit_", 6) != 0)
		return 0;
	if (strcmp(k, "limit_memory") == 0) {
		if (jobd_size_parse(v, &n) < 0 || n < 1)
			return diag_set(E_INVAL, "limit_memory: must be a size "
						 "above 0 (512M, 2G)");
		l->memory = n;
	} else if (strcmp(k, "limit_cpu") == 0) {
		d = strtod(v, &end);
		if (end == v || *end != '\0' || !isfinite(d) || d <= 0 ||
		    d > JOBLIMITS_MAX_CPU)
			return diag_set(E_INVAL, "limit_cpu: must be a number "
						 "above 0 (a fraction of one "
						 "CPU)");
		l->cpu = d;
	} else if (strcmp(k, "limit_tasks") == 0) {
		if (!text_count(v, &l->tasks))
			return diag_set(E_INVAL,
					"limit_tasks: must be an integer >= 1");
	} else if (strcmp(k, "limit_nofile") == 0) {
		if (!text_count(v, &l->nofile))
			return diag_set(
				E_INVAL,
				"limit_nofile: must be an integer >= 1");
	} else if (strcmp(k, "limit_cpu_time") == 0) {
		if (jobd_duration_parse(v, &d) < 0 || d <= 0 ||
		    d > BACKOFF_LIMIT)
			return diag_set(E_INVAL,
					"limit_cpu_time: must be a duration "
					"above 0 and at most ten years");
		l->cpu_time = d;
	} else {
		return 0;
	}
	return 1;
}

void
joblimits_load(const char *text, struct joblimits *l)
{
	json_t *o = text != NULL ? json_loads(text, 0, NULL) : NULL;
	json_t *v;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o))
		goto out;
	if (json_is_integer(v = json_object_get(o, "memory")))
		l->memory = json_integer_value(v);
	if (json_is_number(v = json_object_get(o, "cpu")))
		l->cpu = json_number_value(v);
	if (json_is_integer(v = json_object_get(o, "tasks")))
		l->tasks = json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "nofile")))
		l->nofile = json_integer_value(v);
	if (json_is_number(v = json_object_get(o, "cpu_time")))
		l->cpu_time = json_number_value(v);
out:
	json_decref(o);
}

json_t *
joblimits_to_json(const struct joblimits *l)
{
	json_t *o = json_object();

	if (l->memory > 0)
		json_object_set_new(o, "memory", json_integer(l->memory));
	if (l->cpu > 0)
		json_object_set_new(o, "cpu", json_real(l->cpu));
	if (l->tasks > 0)
		json_object_set_new(o, "tasks", json_integer(l->tasks));
	if (l->nofile > 0)
		json_object_set_new(o, "nofile", json_integer(l->nofile));
	if (l->cpu_time > 0) {
		/* Whole seconds as an integer, as the job object's other
		 * durations print. */
		if (l->cpu_time == floor(l->cpu_time) && l->cpu_time < 9e15)
			json_object_set_new(
				o, "cpu_time",
				json_integer((json_int_t)l->cpu_time));
		else
			json_object_set_new(o, "cpu_time",
					    json_real(l->cpu_time));
	}
	return o;
}

void
joblimits_merge(struct joblimits *l, const struct joblimits *base)
{
	if (l->memory == 0)
		l->memory = base->memory;
	if (l->cpu == 0)
		l->cpu = base->cpu;
	if (l->tasks == 0)
		l->tasks = base->tasks;
	if (l->nofile == 0)
		l->nofile = base->nofile;
	if (l->cpu_time == 0)
		l->cpu_time = base->cpu_time;
}
