/*
 * spec: job specs (SPEC 5.1's job objects) built from jobctl's options:
 * the spec members submit's flags name, the command (argv or shell), the
 * working directory and the environment.  submit and producer add build
 * with it; it sends nothing.
 */
#include "jobctl.h"

#include "jobd/time.h"
#include "render.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process environment as a JSON object; variables that are not UTF-8
 * are left out (JSON cannot carry them). */
json_t *
env_from_environ(void)
{
	json_t *env = json_object();

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char *key;
		json_t *v;

		if (eq == NULL || eq == *e)
			continue;
		key = strndup(*e, (size_t)(eq - *e));
		if (key == NULL)
			oom();
		v = json_string(eq + 1);
		if (v != NULL)
			json_object_set_new(env, key, v);
		free(key);
	}
	return env;
}

/* Adds KEY=VAL to env (an object).  Returns false when kv is malformed. */
bool
env_add(json_t *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;
	json_t *v;
	int rc;

	if (eq == NULL || eq == kv)
		return false;
	key = strndup(kv, (size_t)(eq - kv));
	if (key == NULL)
		oom();
	v = json_string(eq + 1);
	rc = v != NULL ? json_object_set_new(env, key, v) : -1;
	free(key);
	return rc == 0;
}

/* The working directory, or NULL when it cannot be had.  Caller frees. */
char *
current_dir(void)
{
	return getcwd(NULL, 0);
}

/* dir made absolute against the working directory.  Caller frees. */
char *
absolute_dir(const char *dir)
{
	char *cwd, *abs;

	if (dir[0] == '/')
		return dup_str(dir);
	cwd = current_dir();
	if (cwd == NULL)
		return dup_str(dir);
	abs = fmt("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, dir);
	free(cwd);
	return abs;
}

/* Appends the ids of "ID[,ID...]" to arr.  Returns false on a bad id. */
bool
parse_id_list(const char *s, json_t *arr)
{
	char *copy = dup_str(s), *save = NULL, *tok;
	bool ok = true;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int64_t id;

		if (!parse_id(tok, &id)) {
			ok = false;
			break;
		}
		json_array_append_new(arr, json_integer(id));
	}
	free(copy);
	return ok && json_array_size(arr) > 0;
}

/* Sets argv (from words) or shell on spec.  Returns false when neither or
 * both are given. */
bool
set_command(json_t *spec, int n, char **words, const char *shell)
{
	json_t *arr;

	if ((n > 0) == (shell != NULL))
		return false;
	if (shell != NULL)
		return json_object_set_new(spec, "shell", json_string(shell)) ==
		       0;
	arr = json_array();
	for (int i = 0; i < n; i++) {
		json_t *w = json_string(words[i]);

		if (w == NULL) {
			fprintf(stderr, "jobctl: argument is not UTF-8: %s\n",
				words[i]);
			json_decref(arr);
			return false;
		}
		json_array_append_new(arr, w);
	}
	json_object_set_new(spec, "argv", arr);
	return true;
}

bool
spec_is_option(int ch)
{
	switch (ch) {
	case 'q':
	case 'n':
	case 't':
	case 'a':
	case 'p':
	case OPT_DELAY:
	case OPT_KILL_GRACE:
	case OPT_AT:
	case OPT_UNIQUE:
	case OPT_OUTPUT:
	case OPT_USER:
	case OPT_LINGER:
	case 'l':
		return true;
	default:
		return limit_is_option(ch) || snooze_is_option(ch);
	}
}

bool
snooze_is_option(int ch)
{
	return ch == OPT_SNOOZE_EXIT || ch == OPT_SNOOZE ||
	       ch == OPT_MAX_SNOOZES;
}

int
snooze_option(json_t *obj, int ch, const char *arg)
{
	int64_t n;
	double d;

	switch (ch) {
	case OPT_SNOOZE_EXIT:
		if (strcmp(arg, "none") == 0) {
			json_object_set_new(obj, "snooze_exit", json_null());
			return ST_OK;
		}
		if (!parse_i64(arg, 1, 255, &n))
			return bad_value("exit status (1 to 255, or none)",
					 arg);
		json_object_set_new(obj, "snooze_exit", json_integer(n));
		return ST_OK;
	case OPT_SNOOZE:
		if (strcmp(arg, "backoff") == 0) {
			json_object_set_new(obj, "snooze", json_null());
			return ST_OK;
		}
		if (jobd_duration_parse(arg, &d) != 0)
			return bad_value("duration (or backoff)", arg);
		json_object_set_new(obj, "snooze", json_num(d));
		return ST_OK;
	default:
		if (!parse_i64(arg, 0, INT32_MAX, &n))
			return bad_value("max snoozes", arg);
		json_object_set_new(obj, "max_snoozes", json_integer(n));
		return ST_OK;
	}
}

bool
limit_is_option(int ch)
{
	return ch == OPT_MEMORY || ch == OPT_CPU || ch == OPT_TASKS ||
	       ch == OPT_NOFILE || ch == OPT_CPU_TIME;
}

int
limit_option(json_t *obj, int ch, const char *arg)
{
	json_t *l = json_object_get(obj, "limits");
	int64_t n;
	double d;
	char *end;

	if (!json_is_object(l)) {
		l = json_object();
		json_object_set_new(obj, "limits", l);
	}
	switch (ch) {
	case OPT_MEMORY:
		if (jobd_size_parse(arg, &n) != 0 || n < 1)
			return bad_value("size (512M, 2G)", arg);
		json_object_set_new(l, "memory", json_integer(n));
		return ST_OK;
	case OPT_CPU:
		errno = 0;
		d = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' || !(d > 0))
			return bad_value("CPU fraction", arg);
		json_object_set_new(l, "cpu", json_num(d));
		return ST_OK;
	case OPT_TASKS:
	case OPT_NOFILE:
		if (!parse_i64(arg, 1, INT64_MAX, &n))
			return bad_value("number", arg);
		json_object_set_new(l, ch == OPT_TASKS ? "tasks" : "nofile",
				    json_integer(n));
		return ST_OK;
	default:
		if (jobd_duration_parse(arg, &d) != 0 || !(d > 0))
			return bad_value("duration", arg);
		json_object_set_new(l, "cpu_time", json_num(d));
		return ST_OK;
	}
}

void
limit_merge(json_t *obj, const json_t *base, json_t *given)
{
	json_t *l = json_is_object(base) ? json_deep_copy(base) : json_object();

	json_object_update(l, given);
	json_object_set_new(obj, "limits", l);
}

/* -t, --delay, --kill-grace: a duration. */
static int
spec_duration(json_t *spec, int ch, const char *arg)
{
	double secs;

	if (jobd_duration_parse(arg, &secs) != 0)
		return bad_duration(ch == 't'	      ? "--timeout"
				    : ch == OPT_DELAY ? "--delay"
						      : "--kill-grace",
				    arg);
	json_object_set_new(spec,
			    ch == 't'	      ? "timeout"
			    : ch == OPT_DELAY ? "delay"
					      : "kill_grace",
			    json_num(secs));
	return ST_OK;
}

/* -a, -p: an integer. */
static int
spec_integer(json_t *spec, int ch, const char *arg)
{
	int64_t i64;

	if (ch == 'a') {
		if (!parse_i64(arg, 1, INT32_MAX, &i64))
			return bad_value("max attempts", arg);
		json_object_set_new(spec, "max_attempts", json_integer(i64));
	} else {
		if (!parse_i64(arg, INT32_MIN, INT32_MAX, &i64))
			return bad_value("priority", arg);
		json_object_set_new(spec, "priority", json_integer(i64));
	}
	return ST_OK;
}

/* --at: a time (jobd_at_parse's forms, from the time now), sent in the
 * daemon's own form. */
static int
spec_run_at(json_t *spec, const char *arg)
{
	char buf[JOBD_TIME_LEN];
	int64_t ms;

	if (jobd_at_parse(arg, jobd_time_now_ms(), &ms) != 0) {
		fprintf(stderr,
			"%s: invalid --at '%s': want an ISO 8601 time "
			"(2026-11-26T10:34, with or without a zone), HH:MM, "
			"'tomorrow HH:MM' or +DURATION (+1h30m)\n",
			jobctl.prog, arg);
		return ST_USAGE;
	}
	json_object_set_new(spec, "run_at",
			    json_string(jobd_time_format(ms, buf)));
	return ST_OK;
}

int
spec_option(json_t *spec, int ch, const char *arg)
{
	switch (ch) {
	case 'q':
		json_object_set_new(spec, "queue", json_string(arg));
		return ST_OK;
	case 'n':
		if (json_object_set_new(spec, "name", json_string(arg)) != 0)
			return bad_value("name", arg);
		return ST_OK;
	case 't':
	case OPT_DELAY:
	case OPT_KILL_GRACE:
		return spec_duration(spec, ch, arg);
	case 'a':
	case 'p':
		return spec_integer(spec, ch, arg);
	case OPT_AT:
		return spec_run_at(spec, arg);
	case OPT_UNIQUE:
		json_object_set_new(spec, "unique_key", json_string(arg));
		return ST_OK;
	case OPT_OUTPUT:
		if (strcmp(arg, "capture") != 0 && strcmp(arg, "discard") != 0)
			return bad_value("output (capture or discard)", arg);
		json_object_set_new(spec, "output", json_string(arg));
		return ST_OK;
	case OPT_USER:
		json_object_set_new(spec, "user", json_string(arg));
		return ST_OK;
	case OPT_LINGER:
		json_object_set_new(spec, "linger", json_true());
		return ST_OK;
	case 'l': {
		json_t *l = json_object_get(spec, "labels");

		if (!json_is_object(l)) {
			l = json_object();
			json_object_set_new(spec, "labels", l);
		}
		return add_label(l, arg) ? ST_OK : ST_USAGE;
	}
	default:
		if (limit_is_option(ch))
			return limit_option(spec, ch, arg);
		if (snooze_is_option(ch))
			return snooze_option(spec, ch, arg);
		/* Not a spec option: spec_is_option tells which are. */
		return ST_USAGE;
	}
}
