/*
 * hooks: the templates of a queue submitted when its jobs end.  Runs
 * inside the transaction of the end (jobs.c holds it), so nothing here
 * commits or waits for a commit.
 */
#include "hooks.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "jobd/proto.h"
#include "jobs.h"
#include "jobspec.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "submit.h"

static const char *crash_file;

/* Whether hook `which` fires for an end in `state`: on_success for a
 * success, on_failure for a failure for good, on_finish for every
 * terminal end (cancels too). */
static bool
fires(int which, int state)
{
	switch (which) {
	case QUEUE_HOOK_SUCCESS:
		return state == JOBD_SUCCEEDED;
	case QUEUE_HOOK_FAILURE:
		return state == JOBD_FAILED;
	case QUEUE_HOOK_FINISH:
		return true;
	}
	return false;
}

/* A field of the parent's object as an environment value: its text, its
 * number in decimal, or "" when null or absent. */
static json_t *
env_value(const json_t *parent, const char *key)
{
	const json_t *v = json_object_get(parent, key);
	char n[32];

	if (json_is_string(v))
		return json_string(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(n, sizeof(n), "%lld",
			 (long long)json_integer_value(v));
		return json_string(n);
	}
	return json_string("");
}

/* The job object of hook tmpl (stolen) fired by the end of parent: into
 * the parent's queue unless it names one, the JOBD_PARENT_* variables
 * over its env, the parent's labels under its own. */
static json_t *
hook_job(json_t *tmpl, const json_t *parent)
{
	json_t *env = json_object_get(tmpl, "env");
	json_t *own = json_object_get(tmpl, "labels");
	const json_t *plabels = json_object_get(parent, "labels");
	json_t *labels, *e;

	if (json_object_get(tmpl, "queue") == NULL)
		json_object_set(tmpl, "queue",
				json_object_get(parent, "queue"));
	e = json_is_object(env) ? json_deep_copy(env) : json_object();
	json_object_set_new(e, "JOBD_PARENT_ID", env_value(parent, "id"));
	json_object_set_new(e, "JOBD_PARENT_STATE", env_value(parent, "state"));
	json_object_set_new(e, "JOBD_PARENT_REASON",
			    env_value(parent, "reason"));
	json_object_set_new(e, "JOBD_PARENT_EXIT_CODE",
			    env_value(parent, "exit_code"));
	json_object_set_new(tmpl, "env", e);
	labels = json_is_object(plabels) ? json_deep_copy(plabels)
					 : json_object();
	if (json_is_object(own))
		json_object_update(labels, own);
	if (json_object_size(labels) > 0)
		json_object_set_new(tmpl, "labels", labels);
	else
		json_decref(labels);
	return tmpl;
}

/* Submits hook `which` (tmpl, stolen) of job id, whose object is parent,
 * as user uid.  A hook that cannot be submitted (its queue gone or full,
 * too many labels) is logged: the end stands without it. */
static void
submit_hook(int64_t id, int which, json_t *tmpl, const json_t *parent,
	    uid_t uid)
{
	json_t *obj = hook_job(tmpl, parent);
	struct jobspec s;
	struct submit_result r;

	jobspec_init(&s);
	int rc = jobspec_parse(obj, &s);
	s.hook_of = id;
	if (rc == 0)
		rc = submit_jobs(&s, 1, uid, NULL, &r, false);
	/* A success is told by job.submitted, once committed. */
	if (rc != 0)
		log_warnx("job %lld: %s: %s", (long long)id,
			  queue_conf_hook_names[which], diag_msg());
	jobspec_destroy(&s);
	json_decref(obj);
}

/* The jobs_ended_fn: the hooks of qid that fire for `state`, unless job
 * id is a hook job itself. */
static void
hooks_ended(int64_t qid, int64_t id, int state)
{
	json_t *tmpl[QUEUE_HOOK_COUNT] = {0};
	struct queue *q = queue_find_id(qid);
	json_t *parent = NULL;
	bool any = false;

	if (q == NULL)
		return;
	/* Copied before the first store call, which may yield. */
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++) {
		if (!q->conf.hook[i][0] || !fires(i, state))
			continue;
		tmpl[i] = json_loads(q->conf.hook[i], 0, NULL);
		any |= tmpl[i] != NULL;
	}
	if (!any)
		return;
	parent = store_job_json(id, false);
	if (parent == NULL) {
		log_warnx("job %lld: hooks: %s", (long long)id, diag_msg());
		goto out;
	}
	if (!json_is_null(json_object_get(parent, "hook_of")))
		goto out; /* hooks do not fire hooks */
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++) {
		if (tmpl[i] == NULL)
			continue;
		submit_hook(id, i, tmpl[i], parent,
			    (uid_t)json_integer_value(
				    json_object_get(parent, "uid")));
		tmpl[i] = NULL;
	}
	if (crash_file != NULL && unlink(crash_file) == 0)
		raise(SIGKILL);
out:
	for (int i = 0; i < QUEUE_HOOK_COUNT; i++)
		json_decref(tmpl[i]);
	json_decref(parent);
}

void
hooks_init(const char *crash)
{
	crash_file = crash;
	jobs_set_ended(hooks_ended);
}
