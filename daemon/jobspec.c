/*
 * jobspec: turns a job spec object (SPEC 2.1) into a struct jobspec, or
 * refuses it with a message that starts with the offending field.  Syntax,
 * types and ranges only: the queue, the dependencies and the user are
 * checked by the caller against the store.  Depends on jansson and the
 * pure helpers only.
 */
#include "jobspec.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobd/time.h"
#include "labels.h"
#include "xmem.h"

static const char *const known_fields[] = {
	"argv",		"shell",	"queue",   "name",	 "cwd",
	"env",		"priority",	"delay",   "run_at",	 "timeout",
	"kill_grace",	"max_attempts", "backoff", "depends_on", "unique_key",
	"output",	"user",		"limits",  "linger",	 "snooze_exit",
	"snooze",	"max_snoozes",	"labels",  "after",	 "after_any",
	"after_failed", NULL,
};

/* jansson's iteration and setters take non-const objects even to read;
 * this drops the qualifier without a cast warning.  Nothing here writes
 * through the result. */
static json_t *
unconst(const json_t *j)
{
	return (json_t *)(uintptr_t)j;
}

/* The value of an optional field, NULL when absent or JSON null. */
static json_t *
field(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* True if the JSON string v holds no NUL byte. */
static bool
string_clean(const json_t *v)
{
	return strlen(json_string_value(v)) == json_string_length(v);
}

/* A string field as a fresh copy; -1 with diag when it is not a string or
 * holds a NUL. */
static int
get_string(const char *key, const json_t *v, char **out)
{
	if (!json_is_string(v))
		return diag_set(E_INVAL, "%s: must be a string", key);
	if (!string_clean(v))
		return diag_set(E_INVAL, "%s: must not contain NUL bytes", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* A number of seconds from 0 to JOBSPEC_MAX_SECONDS. */
static int
get_seconds(const char *key, const json_t *v, double *out)
{
	double d;

	if (!json_is_number(v))
		return diag_set(E_INVAL, "%s: must be a number of seconds",
				key);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > JOBSPEC_MAX_SECONDS)
		return diag_set(
			E_INVAL,
			"%s: must be a number of seconds from 0 to %.0f", key,
			JOBSPEC_MAX_SECONDS);
	*out = d;
	return 0;
}

static int
parse_argv(const json_t *v, struct jobspec *s)
{
	const json_t *a;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return diag_set(E_INVAL,
				"argv: must be a non-empty array of strings");
	for (i = 0; i < json_array_size(v); i++) {
		a = json_array_get(v, i);
		if (!json_is_string(a))
			return diag_set(E_INVAL,
					"argv: element %zu must be a string",
					i);
		if (!string_clean(a))
			return diag_set(E_INVAL,
					"argv: element %zu contains a NUL "
					"byte",
					i);
	}
	if (json_string_length(json_array_get(v, 0)) == 0)
		return diag_set(E_INVAL, "argv: argv[0] must not be empty");
	/* A reference, not a copy: the request outlives the spec, and
	 * nothing writes to either. */
	s->argv = json_incref(unconst(v));
	return 0;
}

static int
parse_env(const json_t *v, struct jobspec *s)
{
	const char *key;
	json_t *val;
	size_t klen;
	void *it;

	if (!json_is_object(v))
		return diag_set(E_INVAL, "env: must be an object of strings");
	for (it = json_object_iter(unconst(v)); it != NULL;
	     it = json_object_iter_next(unconst(v), it)) {
		key = json_object_iter_key(it);
		klen = json_object_iter_key_len(it);
		val = json_object_iter_value(it);
		if (klen == 0 || strlen(key) != klen ||
		    strchr(key, '=') != NULL)
			return diag_set(E_INVAL,
					"env: invalid variable name \"%s\"",
					key);
		if (!json_is_string(val))
			return diag_set(E_INVAL, "env: %s must be a string",
					key);
		if (!string_clean(val))
			return diag_set(E_INVAL, "env: %s contains a NUL byte",
					key);
	}
	s->env = json_incref(unconst(v));
	return 0;
}

static int
parse_backoff(const json_t *v, struct jobspec *s)
{
	struct backoff check = BACKOFF_DEFAULT_INIT;
	struct backoff got = {NAN, NAN, NAN, NAN};
	const char *key;
	json_t *val;
	double *dst, *chk;

	if (!json_is_object(v))
		return diag_set(E_INVAL, "backoff: must be an object");
	json_object_foreach (unconst(v), key, val) {
		if (strcmp(key, "base") == 0) {
			dst = &got.base;
			chk = &check.base;
		} else if (strcmp(key, "factor") == 0) {
			dst = &got.factor;
			chk = &check.factor;
		} else if (strcmp(key, "max") == 0) {
			dst = &got.max;
			chk = &check.max;
		} else if (strcmp(key, "jitter") == 0) {
			dst = &got.jitter;
			chk = &check.jitter;
		} else {
			return diag_set(E_INVAL, "backoff.%s: unknown field",
					key);
		}
		if (json_is_null(val))
			continue;
		if (!json_is_number(val))
			return diag_set(E_INVAL, "backoff.%s: must be a number",
					key);
		*dst = *chk = json_number_value(val);
	}
	/* Fields not given are checked at their (valid) defaults. */
	if (backoff_validate(&check) < 0)
		return -1;
	s->backoff = got;
	return 0;
}

/* One entry of a dependency list: a positive job id, or "@N", spec N of
 * the same request (whether N is earlier is for the caller). */
static int
parse_dep(const char *f, size_t i, const json_t *a, int64_t *out)
{
	if (json_is_integer(a) && json_integer_value(a) > 0) {
		*out = json_integer_value(a);
		return 0;
	}
	if (json_is_string(a)) {
		const char *p = json_string_value(a);
		char *end;
		unsigned long long n;

		if (p[0] == '@' && p[1] >= '0' && p[1] <= '9') {
			errno = 0;
			n = strtoull(p + 1, &end, 10);
			if (errno == 0 && *end == '\0' &&
			    n <= JOBSPEC_MAX_REF) {
				*out = JOBSPEC_DEP_REF(n);
				return 0;
			}
		}
	}
	return diag_set(E_INVAL,
			"%s: element %zu must be a positive job id or \"@N\"",
			f, i);
}

static int
parse_depends(const char *f, int cond, const json_t *v, struct jobspec *s)
{
	int64_t id = 0;
	size_t i, j, n;

	if (s->dep_field != NULL)
		return diag_set(E_INVAL,
				"%s: only one of depends_on, after, after_any "
				"and after_failed may be given",
				f);
	s->dep_field = f;
	s->dep_cond = cond;
	if (!json_is_array(v))
		return diag_set(E_INVAL, "%s: must be an array of job ids", f);
	n = json_array_size(v);
	if (n > JOBSPEC_MAX_DEPS)
		return diag_set(E_INVAL, "%s: at most %d ids", f,
				JOBSPEC_MAX_DEPS);
	if (n == 0)
		return 0;
	s->depends_on = xreallocarray(NULL, n, sizeof(*s->depends_on));
	s->ndeps = 0;
	for (i = 0; i < n; i++) {
		if (parse_dep(f, i, json_array_get(v, i), &id) < 0)
			return -1;
		for (j = 0; j < s->ndeps; j++) {
			if (s->depends_on[j] == id)
				break;
		}
		if (j == s->ndeps)
			s->depends_on[s->ndeps++] = id;
	}
	return 0;
}

const char *
jobspec_cond_name(int cond)
{
	switch (cond) {
	case JOBSPEC_AFTER_ANY:
		return "after_any";
	case JOBSPEC_AFTER_FAILED:
		return "after_failed";
	}
	return "after";
}

/* depends_on or one of its conditions: after (the same), after_any,
 * after_failed. */
static int
parse_conds(const json_t *obj, struct jobspec *s)
{
	static const struct {
		const char *f;
		int cond;
	} conds[] = {
		{"depends_on", JOBSPEC_AFTER},
		{"after", JOBSPEC_AFTER},
		{"after_any", JOBSPEC_AFTER_ANY},
		{"after_failed", JOBSPEC_AFTER_FAILED},
	};
	const json_t *v;

	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		if ((v = field(obj, conds[i].f)) != NULL &&
		    parse_depends(conds[i].f, conds[i].cond, v, s) < 0)
			return -1;
	return 0;
}

/* Snoozing: snooze_exit (null: none; absent: the queue's), snooze,
 * max_snoozes. */
static int
parse_snooze_fields(const json_t *obj, struct jobspec *s)
{
	const json_t *v;
	json_int_t n;

	v = json_object_get(obj, "snooze_exit");
	if (json_is_null(v)) {
		s->snooze_exit = JOBSPEC_SNOOZE_EXIT_OFF;
	} else if (v != NULL) {
		n = json_is_integer(v) ? json_integer_value(v) : 0;
		if (n < 1 || n > 255)
			return diag_set(E_INVAL,
					"snooze_exit: must be an exit status "
					"from 1 to 255, or null");
		s->snooze_exit = (int)n;
	}
	if ((v = field(obj, "snooze")) != NULL &&
	    get_seconds("snooze", v, &s->snooze) < 0)
		return -1;
	if ((v = field(obj, "max_snoozes")) != NULL) {
		n = json_is_integer(v) ? json_integer_value(v) : -1;
		if (n < 0 || n > JOBSPEC_MAX_SNOOZES)
			return diag_set(E_INVAL,
					"max_snoozes: must be an integer from "
					"0 to %d",
					JOBSPEC_MAX_SNOOZES);
		s->max_snoozes = (int)n;
	}
	return 0;
}

/* How the job runs and is known: output, linger, labels, user. */
static int
parse_how_fields(const json_t *obj, struct jobspec *s)
{
	const json_t *v;

	if ((v = field(obj, "output")) != NULL) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), "capture") == 0)
			s->output = JOBSPEC_OUTPUT_CAPTURE;
		else if (json_is_string(v) &&
			 strcmp(json_string_value(v), "discard") == 0)
			s->output = JOBSPEC_OUTPUT_DISCARD;
		else
			return diag_set(E_INVAL,
					"output: must be \"capture\" or "
					"\"discard\"");
	}
	if ((v = field(obj, "linger")) != NULL) {
		if (!json_is_boolean(v))
			return diag_set(E_INVAL, "linger: must be a boolean");
		s->linger = json_is_true(v);
	}
	if ((v = field(obj, "labels")) != NULL) {
		if (labels_check(v) < 0)
			return -1;
		if (json_object_size(v) > 0)
			s->labels = json_incref(unconst(v));
	}
	if ((v = field(obj, "user")) != NULL) {
		if (get_string("user", v, &s->user) < 0)
			return -1;
		if (s->user[0] == '\0' || strlen(s->user) > JOBSPEC_MAX_USER)
			return diag_set(E_INVAL,
					"user: must be a user name of 1 to %d "
					"bytes",
					JOBSPEC_MAX_USER);
	}
	return 0;
}

static int
parse_fields(const json_t *obj, struct jobspec *s)
{
	const json_t *v;
	json_int_t n;

	if ((v = field(obj, "argv")) != NULL && parse_argv(v, s) < 0)
		return -1;
	if ((v = field(obj, "shell")) != NULL) {
		if (s->argv != NULL)
			return diag_set(E_INVAL, "shell: not with argv");
		if (get_string("shell", v, &s->shell) < 0)
			return -1;
		if (s->shell[0] == '\0')
			return diag_set(E_INVAL, "shell: must not be empty");
	}
	if (s->argv == NULL && s->shell == NULL)
		return diag_set(E_INVAL,
				"argv: one of argv or shell is required");
	if ((v = field(obj, "queue")) != NULL) {
		if (!json_is_string(v) || !string_clean(v) ||
		    !jobspec_queue_name_valid(json_string_value(v)))
			return diag_set(E_INVAL,
					"queue: must be 1 to 64 of A-Z a-z "
					"0-9 _ . -");
		free(s->queue);
		s->queue = xstrdup(json_string_value(v));
	}
	if ((v = field(obj, "name")) != NULL) {
		if (get_string("name", v, &s->name) < 0)
			return -1;
		if (strlen(s->name) > JOBSPEC_MAX_TEXT)
			return diag_set(E_INVAL,
					"name: must be at most %d bytes",
					JOBSPEC_MAX_TEXT);
	}
	if ((v = field(obj, "cwd")) != NULL) {
		free(s->cwd);
		s->cwd = NULL;
		if (get_string("cwd", v, &s->cwd) < 0)
			return -1;
		if (s->cwd[0] != '/')
			return diag_set(E_INVAL,
					"cwd: must be an absolute path");
	}
	if ((v = field(obj, "env")) != NULL && parse_env(v, s) < 0)
		return -1;
	if ((v = field(obj, "priority")) != NULL) {
		n = json_is_integer(v) ? json_integer_value(v) : INT64_MAX;
		if (n < -1000 || n > 1000)
			return diag_set(E_INVAL,
					"priority: must be an integer from "
					"-1000 to 1000");
		s->priority = (int)n;
	}
	if ((v = field(obj, "delay")) != NULL) {
		if (get_seconds("delay", v, &s->delay) < 0)
			return -1;
		s->has_delay = true;
	}
	if ((v = field(obj, "run_at")) != NULL) {
		if (s->has_delay)
			return diag_set(E_INVAL, "run_at: not with delay");
		if (!json_is_string(v) || !string_clean(v) ||
		    jobd_time_parse(json_string_value(v), &s->run_at_ms) < 0)
			return diag_set(E_INVAL,
					"run_at: must be an RFC 3339 time "
					"(\"2026-11-26T10:34:12Z\")");
		s->has_run_at = true;
	}
	if ((v = field(obj, "timeout")) != NULL &&
	    get_seconds("timeout", v, &s->timeout) < 0)
		return -1;
	if ((v = field(obj, "kill_grace")) != NULL &&
	    get_seconds("kill_grace", v, &s->kill_grace) < 0)
		return -1;
	if ((v = field(obj, "max_attempts")) != NULL) {
		n = json_is_integer(v) ? json_integer_value(v) : 0;
		if (n < 1 || n > 1000)
			return diag_set(E_INVAL,
					"max_attempts: must be an integer from "
					"1 to 1000");
		s->max_attempts = (int)n;
	}
	if ((v = field(obj, "backoff")) != NULL && parse_backoff(v, s) < 0)
		return -1;
	if (parse_conds(obj, s) < 0)
		return -1;
	if ((v = field(obj, "unique_key")) != NULL) {
		if (get_string("unique_key", v, &s->unique_key) < 0)
			return -1;
		if (s->unique_key[0] == '\0' ||
		    strlen(s->unique_key) > JOBSPEC_MAX_TEXT)
			return diag_set(E_INVAL,
					"unique_key: must be 1 to %d bytes",
					JOBSPEC_MAX_TEXT);
	}
	if (parse_snooze_fields(obj, s) < 0)
		return -1;
	return parse_how_fields(obj, s);
}

void
jobspec_init(struct jobspec *s)
{
	memset(s, 0, sizeof(*s));
	s->queue = xstrdup("default");
	s->cwd = xstrdup("/");
	s->timeout = -1;
	s->kill_grace = -1;
	s->backoff.base = NAN;
	s->backoff.factor = NAN;
	s->backoff.max = NAN;
	s->backoff.jitter = NAN;
	s->output = JOBSPEC_OUTPUT_CAPTURE;
	s->snooze_exit = JOBSPEC_SNOOZE_EXIT_UNSET;
	s->snooze = -1;
	s->max_snoozes = -1;
}

int
jobspec_parse(const json_t *obj, struct jobspec *s)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return diag_set(E_INVAL, "job: must be an object");
	json_object_foreach (unconst(obj), key, v) {
		for (i = 0; known_fields[i] != NULL; i++) {
			if (strcmp(key, known_fields[i]) == 0)
				break;
		}
		if (known_fields[i] == NULL)
			return diag_set(E_INVAL, "%s: unknown field", key);
	}
	if (parse_fields(obj, s) < 0)
		return -1;
	return joblimits_parse(field(obj, "limits"), &s->limits);
}

void
jobspec_destroy(struct jobspec *s)
{
	json_decref(s->argv);
	json_decref(s->env);
	json_decref(s->labels);
	free(s->shell);
	free(s->queue);
	free(s->name);
	free(s->cwd);
	free(s->depends_on);
	free(s->unique_key);
	free(s->user);
	/* Not jobspec_init(): that would allocate again.  Everything is
	 * NULL now, so a second call frees nothing. */
	memset(s, 0, sizeof(*s));
	s->timeout = -1;
	s->kill_grace = -1;
	s->backoff.base = NAN;
	s->backoff.factor = NAN;
	s->backoff.max = NAN;
	s->backoff.jitter = NAN;
}

json_t *
jobspec_overlay(const json_t *tmpl, const json_t *over)
{
	json_t *o = json_object();
	json_t *tl = json_object_get(tmpl, "labels");
	json_t *ol = json_object_get(over, "labels");

	if (json_is_object(tmpl))
		json_object_update(o, unconst(tmpl));
	if (json_is_object(over))
		json_object_update(o, unconst(over));
	/* Labels are merged a level deeper: the line's over the
	 * template's. */
	if (json_is_object(tl) && json_is_object(ol)) {
		json_t *l = json_deep_copy(tl);

		json_object_update(l, ol);
		json_object_set_new(o, "labels", l);
	}
	return o;
}

bool
jobspec_queue_name_valid(const char *name)
{
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		char ch = name[i];

		if (i >= 64)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			return false;
	}
	return i > 0;
}
