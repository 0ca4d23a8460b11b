/*
 * What the store does with jobs at start-up and at the end of their life
 * (store suite, "jobs" case): running jobs recovered after a restart, the
 * pids a restart must kill, the highest id, and the pruning of old
 * finished jobs, in chunks.
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

/* ---- recovery ---- */

START_TEST(store_recover_running_jobs)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED, .priority = 10);
	int64_t idle = ADD_JOB(.state = JOBD_QUEUED);
	struct changes ch;
	json_t *o;

	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(claim(qdef, T0 + i), a);
		ck_assert_int_eq(brief(a).attempt, 1);
		memset(&ch, 0, sizeof(ch));
		ck_assert_int_eq(
			store_job_recover(T0 + 100, 3, record_change, &ch), 0);
		ck_assert_int_eq(ch.n, 1);
		ck_assert_int_eq(ch.c[0].id, a);
		ck_assert_int_eq(ch.c[0].qid, qdef);
		ck_assert_int_eq(ch.c[0].from, JOBD_RUNNING);
		ck_assert_int_eq(ch.c[0].to, JOBD_QUEUED);
		ck_assert_int_eq(brief(a).state, JOBD_QUEUED);
		ck_assert_int_eq(brief(a).reason, JOBD_REASON_RECOVERED);
		ck_assert_int_eq(brief(a).attempt, 0);
		o = store_job_json(a, false);
		ck_assert_int_eq(jnum(o, "recoveries"), i);
		ck_assert_str_eq(jstr(o, "reason"), "recovered");
		ck_assert(jnull(o, "finished_at"));
		ck_assert(jnull(o, "pid"));
		json_decref(o);
	}
	/* Recovered more than 3 times: failed. */
	ck_assert_int_eq(claim(qdef, T0 + 4), a);
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_recover(T0 + 200, 3, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 1);
	ck_assert_int_eq(ch.c[0].to, JOBD_FAILED);
	ck_assert_int_eq(brief(a).state, JOBD_FAILED);
	ck_assert_int_eq(brief(a).reason, JOBD_REASON_RECOVERY_LIMIT);
	o = store_job_json(a, false);
	ck_assert_str_eq(jstr(o, "reason"), "recovery_limit");
	ck_assert_str_eq(jstr(o, "finished_at"), "2026-01-01T00:00:00.200Z");
	json_decref(o);
	ck_assert_int_eq(brief(idle).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(idle).reason, JOBD_REASON_NONE);
	/* Nothing running: nothing to do. */
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(store_job_recover(T0 + 300, 3, record_change, &ch), 0);
	ck_assert_int_eq(ch.n, 0);
}
END_TEST

START_TEST(store_job_max_id_is_the_highest)
{
	int64_t a, b;

	ck_assert_int_eq(store_job_max_id(), 0);
	a = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(store_job_max_id(), a);
	b = ADD_JOB(.state = JOBD_WAITING);
	ck_assert_int_gt(b, a);
	ck_assert_int_eq(store_job_max_id(), b);
	ck_assert(commit_now());
	ck_assert_int_eq(store_job_max_id(), b);
}
END_TEST

struct pids {
	int64_t id[8];
	int pid[8];
	int n;
};

static void
record_pid(int64_t id, int pid, void *arg)
{
	struct pids *p = arg;

	if (p->n < 8) {
		p->id[p->n] = id;
		p->pid[p->n] = pid;
	}
	p->n++;
}

/* Only running jobs with a recorded pid: what a restart must kill. */
START_TEST(store_running_pids_are_the_running_jobs_with_a_pid)
{
	struct pids p;
	int64_t a, b, c;

	a = ADD_JOB(.state = JOBD_QUEUED);
	b = ADD_JOB(.state = JOBD_QUEUED);
	c = ADD_JOB(.state = JOBD_QUEUED);
	ck_assert_int_eq(claim(qdef, T0), a);
	ck_assert_int_eq(claim(qdef, T0), b);
	ck_assert_int_eq(store_job_set_pid(a, 4242), 0);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_job_running_pids(record_pid, &p), 0);
	ck_assert_int_eq(p.n, 1);
	ck_assert_int_eq(p.id[0], a);
	ck_assert_int_eq(p.pid[0], 4242);

	/* A job that ended has no pid any more. */
	ck_assert_int_eq(store_job_set_pid(b, 4343), 0);
	ck_assert_int_eq(store_job_set_state(a, -1, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0),
			 0);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_job_running_pids(record_pid, &p), 0);
	ck_assert_int_eq(p.n, 1);
	ck_assert_int_eq(p.id[0], b);
	ck_assert_int_eq(p.pid[0], 4343);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
}
END_TEST

/* ---- pruning ---- */

struct pruned {
	int64_t id[16], qid[16];
	int state[16];
	int n;
};

static void
record_prune(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	struct pruned *p = arg;

	(void)attempts;
	if (p->n < 16) {
		p->id[p->n] = id;
		p->qid[p->n] = qid;
		p->state[p->n] = state;
	}
	p->n++;
}

START_TEST(store_prune_only_old_terminal_jobs)
{
	int64_t q2 = add_queue("other");
	int64_t run = ADD_JOB(.state = JOBD_QUEUED);
	int64_t a, b, c, f, g, n = -1;
	struct pruned p;
	char sql[128];

	ck_assert_int_eq(claim(qdef, T0), run);
	a = ADD_JOB(.state = JOBD_QUEUED);
	b = ADD_JOB(.state = JOBD_QUEUED);
	c = ADD_JOB(.state = JOBD_QUEUED);
	f = ADD_JOB(.qid = q2, .state = JOBD_QUEUED);
	/* g is stored cancelled (as when a dependency already failed): it
	 * finished when it was created, at T0. */
	g = ADD_JOB(.state = JOBD_CANCELLED, .deps = &b, .ndeps = 1,
		    .deps_left = 1);
	ck_assert_int_eq(
		store_job_set_state(a, -1, JOBD_SUCCEEDED, 0, T0 + 1000), 0);
	ck_assert_int_eq(store_job_set_state(b, -1, JOBD_FAILED,
					     JOBD_REASON_EXIT, T0 + 2000),
			 0);
	ck_assert_int_eq(store_job_set_state(f, -1, JOBD_CANCELLED,
					     JOBD_REASON_CANCELLED, T0 + 1200),
			 0);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, qdef, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(p.n, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert(p.id[i] == a || p.id[i] == g);
		ck_assert_int_eq(p.qid[i], qdef);
		ck_assert_int_eq(p.state[i], p.id[i] == a ? JOBD_SUCCEEDED
							  : JOBD_CANCELLED);
	}
	assert_gone(a);
	assert_gone(g);
	ck_assert_int_eq(brief(f).state, JOBD_CANCELLED);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(p.id[0], f);
	ck_assert_int_eq(p.qid[0], q2);
	assert_gone(f);
	ck_assert_int_eq(
		store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 0);

	/* Not terminal, or too recent: kept. */
	ck_assert_int_eq(brief(b).state, JOBD_FAILED);
	ck_assert_int_eq(brief(c).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(run).state, JOBD_RUNNING);
	ck_assert(commit_now());
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM deps WHERE job_id = "
		 "%lld",
		 (long long)g);
	ck_assert_int_eq(peek_int(sql), 0);
	ck_assert_int_eq(peek_int("SELECT count(*) FROM jobs"), 3);
}
END_TEST

/* A big prune goes in chunks: each call deletes at most its limit, the
 * oldest first, and says when none is left. */
START_TEST(store_prune_in_chunks)
{
	int64_t id[5], n = -1;
	struct pruned p;
	for (int i = 0; i < 5; i++) {
		id[i] = ADD_JOB(.state = JOBD_QUEUED);
		ck_assert_int_eq(store_job_set_state(id[i], -1, JOBD_CANCELLED,
						     JOBD_REASON_CANCELLED,
						     T0 + 100 * (i + 1)),
				 0);
	}
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(
		store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(
		store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(
		store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(p.n, 5);
	for (int i = 0; i < 5; i++)
		assert_gone(id[i]);
}
END_TEST

void
check_store_add_recovery(TCase *tc)
{
	tcase_add_test(tc, store_recover_running_jobs);
	tcase_add_test(tc, store_job_max_id_is_the_highest);
	tcase_add_test(tc, store_running_pids_are_the_running_jobs_with_a_pid);
	tcase_add_test(tc, store_prune_only_old_terminal_jobs);
	tcase_add_test(tc, store_prune_in_chunks);
}
