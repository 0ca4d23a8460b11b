/*
 * producer_spec: a producer object checked in steps — its fields, the
 * common settings, the trigger of its type (every, schedule, generator),
 * then its job template — each step refusing with the first error in the
 * order a reader of SPEC 4 meets the fields.
 */
#include "producer_spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "xmem.h"

const char *const producer_spec_type_names[] = {"interval", "cron", "command",
						NULL};
const char *const producer_spec_format_names[] = {"lines", "json", NULL};
const char *const producer_spec_restart_names[] = {"never", "on-failure",
						   "always", NULL};

/* Fields a producer object reports but a definition does not set. */
static const char *const report_fields[] = {"state",  "produced", "skipped",
					    "errors", "last_run", "next_run",
					    "uid",    NULL};

static int
name_index(const char *const *names, const char *s)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* Reads obj's key as one of names into *out (dflt when absent or null). */
static int
enum_field(json_t *obj, const char *key, const char *const *names, int dflt,
	   int *out)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	int i = json_is_string(v) ? name_index(names, json_string_value(v))
				  : -1;
	if (i < 0) {
		struct buf b = BUF_INIT;
		for (int k = 0; names[k] != NULL; k++)
			buf_printf(&b, "%s%s", k ? ", " : "", names[k]);
		diag_set(E_INVAL, "%s: must be one of %s", key, buf_str(&b));
		buf_release(&b);
		return -1;
	}
	*out = i;
	return 0;
}

/* Validates a command's {argv} or {shell}. */
static int
check_command(json_t *g, const char *field)
{
	if (!json_is_object(g))
		return diag_set(E_INVAL,
				"%s: must be {\"argv\": [...]} or "
				"{\"shell\": \"...\"}",
				field);
	json_t *argv = json_object_get(g, "argv");
	json_t *shell = json_object_get(g, "shell");
	const char *k;
	json_t *v;
	json_object_foreach (g, k, v) {
		if (strcmp(k, "argv") != 0 && strcmp(k, "shell") != 0)
			return diag_set(E_INVAL, "%s.%s: unknown field", field,
					k);
	}
	if ((argv == NULL) == (shell == NULL))
		return diag_set(E_INVAL, "%s: one of argv or shell", field);
	if (shell && (!json_is_string(shell) || !*json_string_value(shell)))
		return diag_set(E_INVAL, "%s.shell: must be a non-empty string",
				field);
	if (argv) {
		size_t i;
		json_t *a;
		if (!json_is_array(argv) || json_array_size(argv) == 0)
			return diag_set(E_INVAL,
					"%s.argv: must be a non-empty array",
					field);
		json_array_foreach (argv, i, a) {
			if (!json_is_string(a) ||
			    strlen(json_string_value(a)) !=
				    json_string_length(a))
				return diag_set(E_INVAL,
						"%s.argv: must hold strings",
						field);
		}
	}
	return 0;
}

/* Refuses anything but an object of known fields. */
static int
check_fields(json_t *obj)
{
	static const char *const fields[] = {"name",	  "type",   "queue",
					     "job",	  "every",  "schedule",
					     "generator", "format", "restart",
					     "overlap",	  "paused", NULL};
	if (!json_is_object(obj))
		return diag_set(E_INVAL, "producer: must be an object");
	const char *key;
	json_t *v;
	json_object_foreach (obj, key, v) {
		if (name_index(fields, key) < 0 &&
		    name_index(report_fields, key) < 0)
			return diag_set(E_INVAL, "%.64s: unknown field", key);
	}
	return 0;
}

/* Reads an optional boolean field (false when absent or null). */
static int
bool_field(json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return diag_set(E_INVAL, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* The settings every type has: name, type, format, restart, queue,
 * overlap, paused, job. */
static int
parse_common(json_t *obj, producer_spec_queue_fn queue_ok,
	     struct producer_spec *s)
{
	json_t *name = json_object_get(obj, "name");
	if (!json_is_string(name) ||
	    !jobspec_queue_name_valid(json_string_value(name)))
		return diag_set(E_INVAL,
				"name: must be 1 to 64 of A-Z a-z 0-9 _ . -");
	s->name = xstrdup(json_string_value(name));
	if (json_object_get(obj, "type") == NULL)
		return diag_set(E_INVAL,
				"type: required (interval, cron, command)");
	if (enum_field(obj, "type", producer_spec_type_names, 0, &s->type) !=
		    0 ||
	    enum_field(obj, "format", producer_spec_format_names,
		       PRODUCER_SPEC_LINES, &s->format) != 0 ||
	    enum_field(obj, "restart", producer_spec_restart_names,
		       PRODUCER_SPEC_NEVER, &s->restart) != 0)
		return -1;
	json_t *q = json_object_get(obj, "queue");
	if (q != NULL && !json_is_null(q) && !json_is_string(q))
		return diag_set(E_INVAL, "queue: must be a string");
	s->queue = xstrdup(q && json_is_string(q) ? json_string_value(q)
						  : "default");
	if (queue_ok != NULL && queue_ok(s->queue) != 0)
		return -1;
	if (bool_field(obj, "overlap", &s->overlap) != 0 ||
	    bool_field(obj, "paused", &s->paused) != 0)
		return -1;
	json_t *job = json_object_get(obj, "job");
	if (job != NULL && !json_is_null(job) && !json_is_object(job))
		return diag_set(E_INVAL, "job: must be an object (a job spec)");
	s->job = job && json_is_object(job) ? json_deep_copy(job)
					    : json_object();
	json_object_del(s->job, "queue");
	return 0;
}

/* every: required for interval producers, refused for the others. */
static int
parse_every(json_t *obj, struct producer_spec *s)
{
	json_t *every = json_object_get(obj, "every");
	if (s->type != PRODUCER_SPEC_INTERVAL) {
		if (every && !json_is_null(every))
			return diag_set(E_INVAL,
					"every: only for interval producers");
		return 0;
	}
	if (!json_is_number(every) || !isfinite(json_number_value(every)) ||
	    json_number_value(every) < 0.01 ||
	    json_number_value(every) > JOBSPEC_MAX_SECONDS)
		return diag_set(E_INVAL,
				"every: must be a number of seconds >= 0.01");
	s->every = json_number_value(every);
	return 0;
}

/* schedule: required for cron producers, refused for the others. */
static int
parse_schedule(json_t *obj, struct producer_spec *s)
{
	json_t *sched = json_object_get(obj, "schedule");
	if (s->type != PRODUCER_SPEC_CRON) {
		if (sched && !json_is_null(sched))
			return diag_set(E_INVAL,
					"schedule: only for cron producers");
		return 0;
	}
	if (!json_is_string(sched))
		return diag_set(E_INVAL,
				"schedule: required for cron producers");
	if (cron_parse(json_string_value(sched), &s->cron) != 0) {
		diag_prefix("schedule");
		return -1;
	}
	return 0;
}

/* generator: required for command producers, refused for the others. */
static int
parse_generator(json_t *obj, struct producer_spec *s)
{
	json_t *gen = json_object_get(obj, "generator");
	if (s->type != PRODUCER_SPEC_COMMAND) {
		if (gen && !json_is_null(gen))
			return diag_set(E_INVAL, "generator: only for command "
						 "producers");
		return 0;
	}
	if (gen == NULL)
		return diag_set(E_INVAL,
				"generator: required for command producers");
	if (check_command(gen, "generator") != 0)
		return -1;
	s->generator = json_deep_copy(gen);
	if (s->format == PRODUCER_SPEC_LINES &&
	    !json_is_array(json_object_get(s->job, "argv")))
		return diag_set(E_INVAL, "job.argv: format lines appends each "
					 "line to job.argv");
	return 0;
}

/* The template must make a valid job by itself, except for json
 * generators, whose lines complete it; a lines generator's job gets one
 * more argument. */
static int
check_template(const struct producer_spec *s)
{
	if (s->type == PRODUCER_SPEC_COMMAND && s->format == PRODUCER_SPEC_JSON)
		return 0;
	json_t *probe = jobspec_overlay(s->job, NULL);
	if (s->type == PRODUCER_SPEC_COMMAND) {
		json_t *argv = json_deep_copy(json_object_get(s->job, "argv"));
		json_array_append_new(argv, json_string("x"));
		json_object_set_new(probe, "argv", argv);
	}
	json_object_set_new(probe, "queue", json_string(s->queue));
	struct jobspec js;
	jobspec_init(&js);
	int rc = jobspec_parse(probe, &js);
	jobspec_destroy(&js);
	json_decref(probe);
	if (rc != 0) {
		diag_prefix("job");
		return -1;
	}
	return 0;
}

int
producer_spec_parse(json_t *obj, producer_spec_queue_fn queue_ok,
		    struct producer_spec *s)
{
	memset(s, 0, sizeof(*s));
	if (check_fields(obj) != 0)
		return -1;
	if (parse_common(obj, queue_ok, s) != 0 || parse_every(obj, s) != 0 ||
	    parse_schedule(obj, s) != 0 || parse_generator(obj, s) != 0 ||
	    check_template(s) != 0) {
		producer_spec_destroy(s);
		return -1;
	}
	/* What is stored: the definition without reported fields. */
	s->stored = json_deep_copy(obj);
	for (int i = 0; report_fields[i]; i++)
		json_object_del(s->stored, report_fields[i]);
	json_object_del(s->stored, "paused");
	return 0;
}

void
producer_spec_destroy(struct producer_spec *s)
{
	free(s->name);
	free(s->queue);
	json_decref(s->stored);
	json_decref(s->job);
	json_decref(s->generator);
	memset(s, 0, sizeof(*s));
}

int
producer_spec_job(const struct producer_spec *s, json_t *over,
		  struct jobspec *js)
{
	json_t *obj = jobspec_overlay(s->job, over);
	json_object_set_new(obj, "queue", json_string(s->queue));
	jobspec_init(js);
	int rc = jobspec_parse(obj, js);
	json_decref(obj);
	return rc;
}
