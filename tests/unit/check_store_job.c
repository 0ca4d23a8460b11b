/*
 * The store's job rows (store suite, "jobs" case): insert and the brief
 * and full views of a job (its JSON object, with and without the env),
 * claim order, the end of an attempt, state changes and retries,
 * promotion of due jobs, dependencies and their cascades, unique keys and
 * the dedupe of environments.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_store.h"
#include "diag.h"
#include "jobd/proto.h"
#include "store.h"

/* The change recorded for id, or NULL. */
static const struct change *
change_of(const struct changes *ch, int64_t id)
{
	const struct change *found = NULL;

	for (int i = 0; i < ch->n && i < 64; i++) {
		if (ch->c[i].id == id) {
			ck_assert_msg(found == NULL, "job %lld reported twice",
				      (long long)id);
			found = &ch->c[i];
		}
	}
	return found;
}

/* ---- jobs ---- */

/* Every key of a job object (SPEC 5.2) but shell and env, which only some
 * have. */
static const char *const job_keys[] = {
	"id",	       "queue",	       "name",
	"argv",	       "cwd",	       "priority",
	"state",       "reason",       "error",
	"exit_code",   "signal",       "attempt",
	"recoveries",  "max_attempts", "timeout",
	"kill_grace",  "backoff",      "depends_on",
	"unique_key",  "uid",	       "pid",
	"created_at",  "run_at",       "started_at",
	"finished_at", "duration",     "output_truncated",
	"rusage",
};

/* What full_job() stores besides its spec. */
static void
full_job_new(struct store_job_new *j, const struct jobspec *sp)
{
	memset(j, 0, sizeof(*j));
	j->spec = sp;
	j->qid = qdef;
	j->state = JOBD_WAITING;
	j->created_at = T0;
	j->run_at = T0 + 1500;
	j->uid = 1234;
	j->timeout = 30;
	j->kill_grace = 2.5;
	j->max_attempts = 4;
	j->backoff = (struct backoff){2, 3, 60, 0};
	j->deps_left = 1;
}

/* The argv and env of full_job() (new references). */
static json_t *
full_job_argv(void)
{
	return json_pack("[sss]", "sh", "-c", "exit 0");
}

static json_t *
full_job_env(void)
{
	return json_pack("{ss,ss}", "A", "1", "PATH", "/bin");
}

/* A job with every field of the spec set, waiting for dep. */
static int64_t
full_job(int64_t dep)
{
	struct jobspec sp;
	struct store_job_new j;
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = full_job_argv();
	sp.name = strdup("build");
	free(sp.cwd);
	sp.cwd = strdup("/tmp");
	sp.env = full_job_env();
	sp.priority = 7;
	sp.unique_key = strdup("k1");
	sp.output = JOBSPEC_OUTPUT_DISCARD;
	sp.depends_on = malloc(sizeof(*sp.depends_on));
	sp.depends_on[0] = dep;
	sp.ndeps = 1;
	full_job_new(&j, &sp);
	ck_assert_msg(store_job_insert(&j, &id) == 0, "%s", diag_msg());
	jobspec_destroy(&sp);
	ck_assert_int_gt(id, dep);
	return id;
}

START_TEST(store_job_insert_then_brief)
{
	struct store_job_brief b;
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);

	ck_assert_int_eq(store_job_brief(id, &b), 0);
	ck_assert_int_eq(b.id, id);
	ck_assert_int_eq(b.qid, qdef);
	ck_assert_int_eq(b.state, JOBD_WAITING);
	ck_assert_int_eq(b.reason, JOBD_REASON_NONE);
	ck_assert_uint_eq(b.uid, 1234);
	ck_assert_int_eq(b.attempt, 0);
	ck_assert_int_eq(b.max_attempts, 4);
	ck_assert_int_eq(b.run_at, T0 + 1500);
	ck_assert(!b.output_truncated);
}
END_TEST

START_TEST(store_job_json_has_every_key)
{
	int64_t id = full_job(ADD_JOB(.state = JOBD_QUEUED));
	json_t *o = store_job_json(id, false);

	ck_assert_ptr_nonnull(o);
	for (size_t i = 0; i < sizeof(job_keys) / sizeof(job_keys[0]); i++)
		ck_assert_msg(json_object_get(o, job_keys[i]) != NULL,
			      "job object lacks %s", job_keys[i]);
	ck_assert_ptr_null(json_object_get(o, "shell"));
	ck_assert_ptr_null(json_object_get(o, "env"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_fields)
{
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);
	json_t *argv = full_job_argv();
	json_t *o = store_job_json(id, false);

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(jnum(o, "id"), id);
	ck_assert_str_eq(jstr(o, "queue"), "default");
	ck_assert_str_eq(jstr(o, "name"), "build");
	ck_assert(json_equal(json_object_get(o, "argv"), argv));
	ck_assert_str_eq(jstr(o, "cwd"), "/tmp");
	ck_assert_int_eq(jnum(o, "priority"), 7);
	ck_assert_str_eq(jstr(o, "state"), "waiting");
	ck_assert(jnull(o, "reason"));
	ck_assert(jnull(o, "error"));
	ck_assert(jnull(o, "exit_code"));
	ck_assert(jnull(o, "signal"));
	ck_assert_int_eq(jnum(o, "attempt"), 0);
	ck_assert_int_eq(jnum(o, "recoveries"), 0);
	ck_assert_int_eq(jnum(o, "max_attempts"), 4);
	ck_assert_double_eq(jnum(o, "timeout"), 30);
	ck_assert_double_eq(jnum(o, "kill_grace"), 2.5);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "base"), 2);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "factor"), 3);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "max"), 60);
	ck_assert_double_eq(jnum(json_object_get(o, "backoff"), "jitter"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(o, "depends_on")), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(
				 json_object_get(o, "depends_on"), 0)),
			 dep);
	ck_assert_str_eq(jstr(o, "unique_key"), "k1");
	ck_assert_int_eq(jnum(o, "uid"), 1234);
	ck_assert(jnull(o, "pid"));
	ck_assert_str_eq(jstr(o, "created_at"), "2026-01-01T00:00:00.000Z");
	ck_assert_str_eq(jstr(o, "run_at"), "2026-01-01T00:00:01.500Z");
	ck_assert(jnull(o, "started_at"));
	ck_assert(jnull(o, "finished_at"));
	ck_assert(jnull(o, "duration"));
	ck_assert(json_is_false(json_object_get(o, "output_truncated")));
	ck_assert(jnull(o, "rusage"));
	json_decref(o);
	json_decref(argv);
}
END_TEST

/* The env only when asked for; null for a job without one. */
START_TEST(store_job_json_with_env)
{
	int64_t dep = ADD_JOB(.state = JOBD_QUEUED);
	int64_t id = full_job(dep);
	json_t *env = full_job_env();
	json_t *o = store_job_json(id, true);

	ck_assert_ptr_nonnull(o);
	ck_assert_msg(json_equal(json_object_get(o, "env"), env),
		      "env differs");
	json_decref(o);
	json_decref(env);

	o = store_job_json(dep, true);
	ck_assert(jnull(o, "env"));
	ck_assert(json_is_array(json_object_get(o, "depends_on")));
	ck_assert_int_eq(json_array_size(json_object_get(o, "depends_on")), 0);
	ck_assert(jnull(o, "unique_key"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_of_a_shell_command)
{
	struct jobspec sp;
	struct store_job_new j;
	int64_t id = 0;
	json_t *o;

	jobspec_init(&sp);
	sp.shell = strdup("echo $HOME");
	full_job_new(&j, &sp);
	j.state = JOBD_QUEUED;
	j.deps_left = 0;
	ck_assert_int_eq(store_job_insert(&j, &id), 0);
	jobspec_destroy(&sp);
	o = store_job_json(id, false);
	ck_assert_str_eq(jstr(o, "shell"), "echo $HOME");
	ck_assert_ptr_null(json_object_get(o, "argv"));
	ck_assert(jnull(o, "name"));
	json_decref(o);
}
END_TEST

START_TEST(store_job_json_of_no_job)
{
	int64_t id = ADD_JOB(.state = JOBD_QUEUED);

	ck_assert_ptr_null(store_job_json(id + 100, false));
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	assert_gone(id + 100);
}
END_TEST

START_TEST(store_claim_order)
{
	int64_t q2 = add_queue("other");
	int64_t j1 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 300);
	int64_t j2 = ADD_JOB(.state = JOBD_QUEUED, .priority = 5,
			     .run_at = T0 + 500);
	int64_t j3 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 100);
	int64_t j4 = ADD_JOB(.state = JOBD_QUEUED, .priority = 5,
			     .run_at = T0 + 400);
	int64_t j5 = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 100);
	int64_t j6 = ADD_JOB(.state = JOBD_QUEUED, .priority = -1,
			     .run_at = T0 - 5000);
	int64_t want[] = {j4, j2, j3, j5, j1, j6};
	int64_t sched = ADD_JOB(.state = JOBD_SCHEDULED, .priority = 1000);
	int64_t wait = ADD_JOB(.state = JOBD_WAITING, .priority = 1000);
	int64_t other =
		ADD_JOB(.qid = q2, .state = JOBD_QUEUED, .priority = 1000);
	struct store_job_run r;

	ck_assert_int_eq(store_job_claim(qdef, T0 + 7000, &r), 0);
	ck_assert_int_eq(r.id, j4);
	ck_assert_int_eq(r.qid, qdef);
	ck_assert_int_eq(r.attempt, 1);
	ck_assert_int_eq(r.max_attempts, 3);
	ck_assert_int_eq(r.recoveries, 0);
	ck_assert_uint_eq(r.uid, 1000);
	ck_assert_ptr_nonnull(r.argv);
	ck_assert_str_eq(json_string_value(json_array_get(r.argv, 0)), "echo");
	ck_assert_ptr_null(r.shell);
	ck_assert_str_eq(r.cwd, "/");
	ck_assert_ptr_null(r.env);
	ck_assert_double_eq(r.timeout, 0);
	ck_assert_double_eq(r.kill_grace, 5);
	ck_assert_double_eq(r.backoff.base, 1);
	ck_assert_double_eq(r.backoff.factor, 2);
	ck_assert_int_eq(r.output, JOBSPEC_OUTPUT_CAPTURE);
	ck_assert_int_eq(r.started_at, T0 + 7000);
	store_job_run_destroy(&r);
	ck_assert_int_eq(brief(j4).state, JOBD_RUNNING);
	ck_assert_int_eq(brief(j4).attempt, 1);

	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_int_eq(claim(qdef, T0 + 7000), want[i]);
	ck_assert_int_eq(store_job_claim(qdef, T0 + 7000, &r), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	ck_assert_int_eq(brief(sched).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(wait).state, JOBD_WAITING);
	ck_assert_int_eq(claim(q2, T0), other);
	ck_assert_int_eq(store_job_claim(q2, T0, &r), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
}
END_TEST

START_TEST(store_job_end_attempt_fields)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	struct store_job_end e;
	json_t *o, *ru;
	int was = -1;

	ck_assert_int_eq(claim(qdef, T0 + 1000), a);
	ck_assert_int_eq(store_job_set_pid(a, 4242), 0);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "running");
	ck_assert_int_eq(jnum(o, "pid"), 4242);
	ck_assert_int_eq(jnum(o, "attempt"), 1);
	ck_assert_str_eq(jstr(o, "started_at"), "2026-01-01T00:00:01.000Z");
	json_decref(o);

	memset(&e, 0, sizeof(e));
	e.state = JOBD_FAILED;
	e.reason = JOBD_REASON_EXIT;
	e.exit_code = 3;
	e.signal = 0;
	e.error = "boom";
	e.duration = 1.5;
	e.output_truncated = true;
	e.ru_user = 0.25;
	e.ru_sys = 0.125;
	e.max_rss_kb = 2048;
	e.finished_at = T0 + 2500;
	ck_assert_int_eq(store_job_end_attempt(a, &e, &was), 0);
	ck_assert_int_eq(was, JOBD_RUNNING);
	ck_assert_int_eq(brief(a).state, JOBD_FAILED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_EXIT);
	ck_assert(brief(a).output_truncated);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "failed");
	ck_assert_str_eq(jstr(o, "reason"), "exit");
	ck_assert_int_eq(jnum(o, "exit_code"), 3);
	ck_assert(jnull(o, "signal"));
	ck_assert_str_eq(jstr(o, "error"), "boom");
	ck_assert_double_eq(jnum(o, "duration"), 1.5);
	ck_assert(json_is_true(json_object_get(o, "output_truncated")));
	ck_assert(jnull(o, "pid"));
	ck_assert_int_eq(jnum(o, "attempt"), 1);
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:02.500Z");
	ru = json_object_get(o, "rusage");
	ck_assert(json_is_object(ru));
	ck_assert_double_eq(jnum(ru, "user"), 0.25);
	ck_assert_double_eq(jnum(ru, "system"), 0.125);
	ck_assert_int_eq(jnum(ru, "max_rss_kb"), 2048);
	json_decref(o);

	/* A failed attempt with attempts left: scheduled, not finished. */
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0 + 1000), b);
	memset(&e, 0, sizeof(e));
	e.state = JOBD_SCHEDULED;
	e.reason = JOBD_REASON_SIGNAL;
	e.exit_code = -1;
	e.signal = 9;
	e.duration = -1;
	e.run_at = T0 + 60000;
	ck_assert_int_eq(store_job_end_attempt(b, &e, &was), 0);
	ck_assert_int_eq(brief(b).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(b).run_at, T0 + 60000);
	ck_assert_int_eq(brief(b).attempt, 1);
	o = store_job_json(b, false);
	ck_assert_str_eq(jstr(o, "reason"), "signal");
	ck_assert_int_eq(jnum(o, "signal"), 9);
	ck_assert(jnull(o, "exit_code"));
	ck_assert(jnull(o, "duration"));
	ck_assert(jnull(o, "finished_at"));
	ck_assert(jnull(o, "error"));
	ck_assert_str_eq(jstr(o, "run_at"), "2026-01-01T00:01:00.000Z");
	json_decref(o);

	/* Interrupted: back to queued, the attempt given back. */
	int64_t c = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0 + 1000), c);
	memset(&e, 0, sizeof(e));
	e.state = JOBD_QUEUED;
	e.reason = JOBD_REASON_INTERRUPTED;
	e.exit_code = -1;
	e.duration = 0.5;
	e.attempt_delta = -1;
	ck_assert_int_eq(store_job_end_attempt(c, &e, &was), 0);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).reason, JOBD_REASON_INTERRUPTED);
	ck_assert_int_eq(brief(c).attempt, 0);
	ck_assert_int_eq(brief(c).run_at, T0);
	/* And it is claimable again, as attempt 1. */
	ck_assert_int_eq(claim(qdef, T0 + 2000), c);
	ck_assert_int_eq(brief(c).attempt, 1);
}
END_TEST

START_TEST(store_set_state_and_retry)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	json_t *o;

	ck_assert_int_eq(store_job_set_state(a, -1, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0 + 5000),
			 0);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "state"), "cancelled");
	ck_assert_str_eq(jstr(o, "reason"), "cancelled");
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:05.000Z");
	json_decref(o);
	ck_assert_int_eq(store_job_retry(a, -1, T0 + 9000), 0);
	ck_assert_int_eq(brief(a).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_NONE);
	ck_assert_int_eq(brief(a).attempt, 0);
	ck_assert_int_eq(brief(a).run_at, T0 + 9000);
	o = store_job_json(a, false);
	ck_assert(jnull(o, "finished_at"));
	json_decref(o);
}
END_TEST

START_TEST(store_promote_due_and_next_due)
{
	int64_t s1 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 100);
	int64_t s3 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 300);
	int64_t s2 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 200);
	int64_t w = ADD_JOB(.state = JOBD_WAITING, .run_at = T0 + 50);
	struct changes ch;
	const struct change *c;
	int64_t due = 0;

	ck_assert_int_eq(store_job_next_due(&due), 0);
	ck_assert_int_eq(due, T0 + 100);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_promote_due(T0 + 99, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 0);
	ck_assert_int_eq(store_job_promote_due(T0 + 200, record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 2);
	for (int i = 0; i < 2; i++) {
		c = change_of(&ch, i == 0 ? s1 : s2);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->qid, qdef);
		ck_assert_int_eq(c->from, JOBD_SCHEDULED);
		ck_assert_int_eq(c->to, JOBD_QUEUED);
	}
	ck_assert_int_eq(brief(s1).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(s2).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(s3).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(w).state, JOBD_WAITING);
	ck_assert_int_eq(store_job_next_due(&due), 0);
	ck_assert_int_eq(due, T0 + 300);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_promote_due(T0 + 1000, record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	ck_assert_int_eq(ch.c[0].id, s3);
	due = 77;
	ck_assert_int_eq(store_job_next_due(&due), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	ck_assert_int_eq(brief(w).state, JOBD_WAITING);
}
END_TEST

/* ---- dependencies ---- */

START_TEST(store_deps_success_releases_dependents)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	int64_t ab[] = {a, b};
	int64_t c = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 2,
			    .deps_left = 2);
	int64_t d = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 1,
			    .deps_left = 1, .run_at = T0 + 60000);
	int64_t e = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 1,
			    .deps_left = 1);
	struct changes ch;
	const struct change *x;

	/* e was cancelled meanwhile: a success must not revive it. */
	ck_assert_int_eq(store_job_set_state(e, -1, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);
	ck_assert_int_eq(store_job_set_state(a, -1, JOBD_SUCCEEDED,
					     JOBD_REASON_NONE, T0 + 10),
			 0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(a, true, T0 + 10,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	x = change_of(&ch, d);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->from, JOBD_WAITING);
	ck_assert_int_eq(x->to, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(d).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(c).state, JOBD_WAITING);
	ck_assert_int_eq(brief(e).state, JOBD_CANCELLED);

	ck_assert_int_eq(store_job_set_state(b, -1, JOBD_SUCCEEDED,
					     JOBD_REASON_NONE, T0 + 20),
			 0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(b, true, T0 + 20,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 1);
	x = change_of(&ch, c);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->qid, qdef);
	ck_assert_int_eq(x->from, JOBD_WAITING);
	ck_assert_int_eq(x->to, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(c).reason, JOBD_REASON_NONE);
	ck_assert_int_eq(claim(qdef, T0 + 30), c);
}
END_TEST

START_TEST(store_deps_failure_cascades)
{
	int64_t y = ADD_JOB(.state = JOBD_QUEUED);
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_WAITING, .deps = &a, .ndeps = 1,
			    .deps_left = 1);
	int64_t c = ADD_JOB(.state = JOBD_WAITING, .deps = &b, .ndeps = 1,
			    .deps_left = 1);
	int64_t d = ADD_JOB(.state = JOBD_WAITING, .deps = &c, .ndeps = 1,
			    .deps_left = 1);
	int64_t ay[] = {a, y};
	int64_t x = ADD_JOB(.state = JOBD_WAITING, .deps = ay, .ndeps = 2,
			    .deps_left = 2);
	int64_t bx[] = {b, x};
	int64_t dia = ADD_JOB(.state = JOBD_WAITING, .deps = bx, .ndeps = 2,
			      .deps_left = 2);
	int64_t z = ADD_JOB(.state = JOBD_WAITING, .deps = &y, .ndeps = 1,
			    .deps_left = 1);
	int64_t gone[] = {b, c, d, x, dia};
	struct changes ch;
	json_t *o;

	ck_assert_int_eq(store_job_set_state(a, -1, JOBD_FAILED,
					     JOBD_REASON_EXIT, T0 + 10),
			 0);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_resolve_dependents(a, false, T0 + 10,
						      record_change, &ch),
			 0);
	ck_assert_int_eq(ch.n, 5);
	for (size_t i = 0; i < 5; i++) {
		const struct change *k = change_of(&ch, gone[i]);

		ck_assert_msg(k != NULL, "job %lld not reported",
			      (long long)gone[i]);
		ck_assert_int_eq(k->from, JOBD_WAITING);
		ck_assert_int_eq(k->to, JOBD_CANCELLED);
		ck_assert_int_eq(brief(gone[i]).state, JOBD_CANCELLED);
		ck_assert_int_eq(brief(gone[i]).reason,
				 JOBD_REASON_DEPENDENCY_FAILED);
		o = store_job_json(gone[i], false);
		ck_assert_str_eq(jstr(o, "reason"), "dependency_failed");
		ck_assert_str_eq(jstr(o, "finished_at"),
				 "2026-01-01T00:00:00.010Z");
		json_decref(o);
	}
	ck_assert_int_eq(brief(z).state, JOBD_WAITING);
	ck_assert_int_eq(brief(y).state, JOBD_QUEUED);
}
END_TEST

START_TEST(store_check_deps)
{
	int64_t q = ADD_JOB(.state = JOBD_QUEUED);
	int64_t s = ADD_JOB(.state = JOBD_QUEUED);
	int64_t f = ADD_JOB(.state = JOBD_QUEUED);
	int64_t x = ADD_JOB(.state = JOBD_QUEUED);
	int64_t o = ADD_JOB(.state = JOBD_QUEUED, .uid = 2000);
	int64_t ids[3];
	int64_t missing = -1;
	bool failed = true;
	int left = -1;

	ck_assert_int_eq(store_job_set_state(s, -1, JOBD_SUCCEEDED, 0, T0), 0);
	ck_assert_int_eq(
		store_job_set_state(f, -1, JOBD_FAILED, JOBD_REASON_EXIT, T0),
		0);
	ck_assert_int_eq(store_job_set_state(x, -1, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);

	ck_assert_int_eq(
		store_job_check_deps(NULL, 0, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert(!failed);
	ck_assert_int_eq(left, 0);

	ids[0] = s;
	ids[1] = q;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert(!failed);
	ck_assert_int_eq(left, 1);

	ids[0] = s;
	ids[1] = f;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert(failed);
	ck_assert_int_eq(left, 0);
	ids[0] = x;
	ck_assert_int_eq(
		store_job_check_deps(ids, 1, -1, &missing, &failed, &left), 0);
	ck_assert(failed);
	ck_assert_int_eq(missing, 0);

	ids[0] = q;
	ids[1] = x + 1000;
	ids[2] = s;
	ck_assert_int_eq(
		store_job_check_deps(ids, 3, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, x + 1000);

	/* Another user's job counts as missing under a uid filter. */
	ids[0] = q;
	ids[1] = o;
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, 1000, &missing, &failed, &left),
		0);
	ck_assert_int_eq(missing, o);
	ck_assert_int_eq(
		store_job_check_deps(ids, 2, -1, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(left, 2);
	ck_assert_int_eq(
		store_job_check_deps(&o, 1, 2000, &missing, &failed, &left), 0);
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(left, 1);
}
END_TEST

/* ---- unique keys ---- */

START_TEST(store_unique_key_held_while_live)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED, .key = "k");
	int64_t b = 0, found = 0;

	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(found, a);
	ck_assert_int_eq(
		try_add_job(&(struct jopt){.state = JOBD_QUEUED, .key = "k"},
			    &b),
		-1);
	ck_assert_int_eq(diag_code(), E_CONFLICT);
	ck_assert_int_eq(store_job_find_unique("other", 1000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	/* Jobs without a key never conflict. */
	ADD_JOB(.state = JOBD_QUEUED);
	ADD_JOB(.state = JOBD_QUEUED);

	/* Running still holds it; terminal frees it. */
	ck_assert_int_eq(claim(qdef, T0), a);
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(store_job_set_state(a, -1, JOBD_SUCCEEDED, 0, T0), 0);
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	b = ADD_JOB(.state = JOBD_SCHEDULED, .key = "k");
	ck_assert_int_eq(store_job_find_unique("k", 1000, &found), 0);
	ck_assert_int_eq(found, b);
	/* Keys are per user: another user's live job neither answers nor
	 * conflicts. */
	ck_assert_int_eq(store_job_find_unique("k", 2000, &found), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	int64_t c = ADD_JOB(.state = JOBD_QUEUED, .key = "k", .uid = 2000);
	ck_assert_int_eq(store_job_find_unique("k", 2000, &found), 0);
	ck_assert_int_eq(found, c);
}
END_TEST

/* ---- environments ---- */

START_TEST(store_env_dedupe)
{
	json_t *env = json_pack("{ss,ss,ss}", "PATH", "/bin", "HOME", "/root",
				"USER", "root");
	json_t *reordered = json_pack("{ss,ss,ss}", "USER", "root", "HOME",
				      "/root", "PATH", "/bin");
	struct store_job_run r;
	int64_t first = 0, last;
	json_t *o;

	for (int i = 0; i < 1000; i++) {
		int64_t id = ADD_JOB(.state = JOBD_QUEUED,
				     .env = i % 2 ? reordered : env);
		if (first == 0)
			first = id;
	}
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 1000);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM envs"), 1);
	ck_assert_int_eq(peek_int("SELECT count(DISTINCT env_id) FROM jobs"),
			 1);

	ck_assert_int_eq(store_job_claim(qdef, T0, &r), 0);
	ck_assert_int_eq(r.id, first);
	ck_assert_ptr_nonnull(r.env);
	ck_assert(json_equal(r.env, env));
	store_job_run_destroy(&r);

	/* More environments than the store's cache holds, then the first
	 * again: still found, not stored twice. */
	for (int i = 0; i < 20; i++) {
		char v[16];
		json_t *e;

		snprintf(v, sizeof(v), "%d", i);
		e = json_pack("{ss}", "N", v);
		ADD_JOB(.state = JOBD_QUEUED, .env = e);
		json_decref(e);
	}
	last = ADD_JOB(.state = JOBD_QUEUED, .env = env);
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM envs"), 21);
	o = store_job_json(last, true);
	ck_assert(json_equal(json_object_get(o, "env"), env));
	json_decref(o);
	json_decref(env);
	json_decref(reordered);
}
END_TEST

void
check_store_add_jobs(TCase *tc)
{
	tcase_add_test(tc, store_job_insert_then_brief);
	tcase_add_test(tc, store_job_json_has_every_key);
	tcase_add_test(tc, store_job_json_fields);
	tcase_add_test(tc, store_job_json_with_env);
	tcase_add_test(tc, store_job_json_of_a_shell_command);
	tcase_add_test(tc, store_job_json_of_no_job);
	tcase_add_test(tc, store_claim_order);
	tcase_add_test(tc, store_job_end_attempt_fields);
	tcase_add_test(tc, store_set_state_and_retry);
	tcase_add_test(tc, store_promote_due_and_next_due);
	tcase_add_test(tc, store_deps_success_releases_dependents);
	tcase_add_test(tc, store_deps_failure_cascades);
	tcase_add_test(tc, store_check_deps);
	tcase_add_test(tc, store_unique_key_held_while_live);
	tcase_add_test(tc, store_env_dedupe);
}
