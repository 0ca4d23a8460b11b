/*
 * The store's queues and producers (store suite, "file" case: their rows,
 * created, changed, listed and deleted), and the counts and pages of jobs
 * a queue's listing shows ("jobs" case).
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

/* ---- queues ---- */

START_TEST(store_queue_crud)
{
	struct queue_conf qc;
	struct queue_list l;
	int64_t id, dup = -7;

	queue_conf_init(&qc, "work");
	qc.concurrency = 8;
	qc.rate_limit = 10;
	qc.rate_period = 60;
	qc.rate_burst = 20;
	qc.capacity = 100;
	qc.timeout = 30;
	qc.kill_grace = 3;
	qc.max_attempts = 5;
	qc.backoff = (struct backoff){2, 3, 120, 0.5};
	ck_assert_int_eq(store_queue_insert(&qc, false, &id), 0);
	ck_assert_int_ne(id, qdef);
	ck_assert_int_eq(store_queue_insert(&qc, false, &dup), -1);
	ck_assert_int_eq(diag_code(), E_CONFLICT);
	ck_assert_int_eq(dup, -7);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.q[0].id, qdef);
	ck_assert_str_eq(l.q[0].conf.name, "default");
	ck_assert_int_eq(l.q[1].id, id);
	ck_assert_str_eq(l.q[1].conf.name, "work");
	ck_assert(!l.q[1].paused);
	ck_assert_int_eq(l.q[1].conf.concurrency, 8);
	ck_assert_double_eq(l.q[1].conf.rate_limit, 10);
	ck_assert_double_eq(l.q[1].conf.rate_period, 60);
	ck_assert_double_eq(l.q[1].conf.rate_burst, 20);
	ck_assert_int_eq(l.q[1].conf.capacity, 100);
	ck_assert_double_eq(l.q[1].conf.timeout, 30);
	ck_assert_double_eq(l.q[1].conf.kill_grace, 3);
	ck_assert_int_eq(l.q[1].conf.max_attempts, 5);
	ck_assert_double_eq(l.q[1].conf.backoff.base, 2);
	ck_assert_double_eq(l.q[1].conf.backoff.factor, 3);
	ck_assert_double_eq(l.q[1].conf.backoff.max, 120);
	ck_assert_double_eq(l.q[1].conf.backoff.jitter, 0.5);

	qc.concurrency = 2;
	qc.capacity = 0;
	ck_assert_int_eq(store_queue_update(id, &qc), 0);
	ck_assert_int_eq(store_queue_set_paused(id, true), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.q[1].conf.concurrency, 2);
	ck_assert_int_eq(l.q[1].conf.capacity, 0);
	ck_assert_str_eq(l.q[1].conf.name, "work");
	ck_assert(l.q[1].paused);
	ck_assert(!l.q[0].paused);

	/* The callback can stop the walk. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	store_queue_each(collect_queue, &l);
	ck_assert_int_eq(l.n, 1);

	ck_assert_int_eq(store_queue_delete(id), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_queue_each(collect_queue, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.q[0].conf.name, "default");
	/* The name is free again. */
	ck_assert_int_eq(store_queue_insert(&qc, false, &id), 0);
}
END_TEST

/* ---- producers ---- */

struct prod_list {
	struct {
		char name[32];
		json_t *spec; /* owned */
		uid_t uid;
		bool paused;
		int state;
		int64_t produced, skipped, errors, last_run;
	} p[4];
	int n;
	int stop_after;
};

static int
collect_producer(const struct store_producer *p, void *arg)
{
	struct prod_list *l = arg;

	ck_assert_int_lt(l->n, 4);
	snprintf(l->p[l->n].name, sizeof(l->p[l->n].name), "%s", p->name);
	l->p[l->n].spec = json_deep_copy(p->spec);
	l->p[l->n].uid = p->uid;
	l->p[l->n].paused = p->paused;
	l->p[l->n].state = p->state;
	l->p[l->n].produced = p->produced;
	l->p[l->n].skipped = p->skipped;
	l->p[l->n].errors = p->errors;
	l->p[l->n].last_run = p->last_run;
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static void
list_producers(struct prod_list *l, int stop_after)
{
	for (int i = 0; i < l->n; i++)
		json_decref(l->p[i].spec);
	memset(l, 0, sizeof(*l));
	l->stop_after = stop_after;
}

START_TEST(store_producer_crud)
{
	json_t *tick = json_pack("{ss,sf}", "queue", "default", "every", 1.0);
	json_t *cron = json_pack("{ss}", "cron", "* * * * *");
	struct prod_list l = {.n = 0};

	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 0);

	ck_assert_int_eq(store_producer_put("tick", tick, 1000, false), 0);
	ck_assert_int_eq(store_producer_put("nightly", cron, 0, true), 0);
	ck_assert_int_eq(store_producer_counters("tick", 1, 5, 2, 1, T0), 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 2);
	/* By name. */
	ck_assert_str_eq(l.p[0].name, "nightly");
	ck_assert(json_equal(l.p[0].spec, cron));
	ck_assert_uint_eq(l.p[0].uid, 0);
	ck_assert(l.p[0].paused);
	ck_assert_int_eq(l.p[0].state, 0);
	ck_assert_int_eq(l.p[0].produced, 0);
	ck_assert_int_eq(l.p[0].last_run, 0);
	ck_assert_str_eq(l.p[1].name, "tick");
	ck_assert(json_equal(l.p[1].spec, tick));
	ck_assert_uint_eq(l.p[1].uid, 1000);
	ck_assert(!l.p[1].paused);
	ck_assert_int_eq(l.p[1].state, 1);
	ck_assert_int_eq(l.p[1].produced, 5);
	ck_assert_int_eq(l.p[1].skipped, 2);
	ck_assert_int_eq(l.p[1].errors, 1);
	ck_assert_int_eq(l.p[1].last_run, T0);

	/* A new definition keeps counters and pause; the state starts
	 * over. */
	ck_assert_int_eq(store_producer_set_paused("tick", true), 0);
	ck_assert_int_eq(store_producer_put("tick", cron, 1001, false), 0);
	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert(json_equal(l.p[1].spec, cron));
	ck_assert_uint_eq(l.p[1].uid, 1001);
	ck_assert(l.p[1].paused);
	ck_assert_int_eq(l.p[1].state, 0);
	ck_assert_int_eq(l.p[1].produced, 5);
	ck_assert_int_eq(l.p[1].last_run, T0);

	/* The callback can stop the walk. */
	list_producers(&l, 1);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), -1);
	ck_assert_int_eq(l.n, 1);

	ck_assert_int_eq(store_producer_delete("nightly"), 0);
	ck_assert(commit_now());
	ck_assert_int_eq(peek_int("SELECT count(*) FROM producers"), 1);
	list_producers(&l, 0);
	ck_assert_int_eq(store_producer_each(collect_producer, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.p[0].name, "tick");
	list_producers(&l, 0);
	json_decref(tick);
	json_decref(cron);
}
END_TEST

/* ---- counts and lists ---- */

struct counts {
	int64_t n[2][JOBD_STATE_COUNT];
	int64_t q2;
};

static void
record_count(int64_t qid, int state, int64_t n, void *arg)
{
	struct counts *c = arg;

	if (state >= 0 && state < JOBD_STATE_COUNT)
		c->n[qid == c->q2][state] += n;
}

START_TEST(store_counts_and_list)
{
	struct counts c;
	struct store_job_filter f;
	int64_t q2 = add_queue("other");
	int64_t ids[6], next = -1;
	json_t *arr;

	for (int i = 0; i < 4; i++)
		ids[i] = ADD_JOB(.state = JOBD_QUEUED);
	ids[4] = ADD_JOB(.qid = q2, .state = JOBD_SCHEDULED, .uid = 7);
	ids[5] = ADD_JOB(.state = JOBD_WAITING);
	memset(&c, 0, sizeof(c));
	c.q2 = q2;
	ck_assert_int_eq(store_count_each(record_count, &c), 0);
	ck_assert_int_eq(c.n[0][JOBD_QUEUED], 4);
	ck_assert_int_eq(c.n[0][JOBD_WAITING], 1);
	ck_assert_int_eq(c.n[1][JOBD_SCHEDULED], 1);
	ck_assert_int_eq(c.n[1][JOBD_QUEUED], 0);

	memset(&f, 0, sizeof(f));
	f.qid = qdef;
	f.state_mask = 1u << JOBD_QUEUED;
	f.limit = 3;
	f.uid = -1;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 3);
	ck_assert_int_eq(next, ids[2]);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[0]);
	f.after_id = next;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 4);
	ck_assert_int_eq(jnum(json_array_get(arr, 3), "id"), ids[3]);
	ck_assert_int_eq(next, 0);
	json_decref(arr);

	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.limit = 100;
	f.uid = 7;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 1);
	ck_assert_str_eq(jstr(json_array_get(arr, 0), "queue"), "other");
	json_decref(arr);
}
END_TEST

/* Newest first: descending pages, before_id as the cursor, and the
 * running-jobs statement the same way. */
START_TEST(store_list_newest_first)
{
	struct store_job_filter f;
	int64_t ids[5], next = -1;
	json_t *arr;

	for (int i = 0; i < 5; i++)
		ids[i] = ADD_JOB(.state = i == 1 || i == 3 ? JOBD_RUNNING
							   : JOBD_QUEUED);
	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.uid = -1;
	f.limit = 2;
	f.desc = true;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 2);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[4]);
	ck_assert_int_eq(jnum(json_array_get(arr, 1), "id"), ids[3]);
	ck_assert_int_eq(next, ids[3]);
	f.before_id = next;
	f.limit = 10;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 5);
	ck_assert_int_eq(jnum(json_array_get(arr, 2), "id"), ids[2]);
	ck_assert_int_eq(jnum(json_array_get(arr, 4), "id"), ids[0]);
	ck_assert_int_eq(next, 0);
	json_decref(arr);

	/* Ascending with both bounds. */
	f.desc = false;
	f.after_id = ids[0];
	f.before_id = ids[4];
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 3);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[1]);
	json_decref(arr);

	/* The running jobs, newest first. */
	memset(&f, 0, sizeof(f));
	f.qid = -1;
	f.uid = -1;
	f.limit = 1;
	f.state_mask = 1u << JOBD_RUNNING;
	f.desc = true;
	arr = json_array();
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(json_array_size(arr), 1);
	ck_assert_int_eq(jnum(json_array_get(arr, 0), "id"), ids[3]);
	f.before_id = next;
	ck_assert_int_eq(store_job_list(&f, arr, &next), 0);
	ck_assert_int_eq(jnum(json_array_get(arr, 1), "id"), ids[1]);
	json_decref(arr);
}
END_TEST

void
check_store_add_queues(TCase *tc)
{
	tcase_add_test(tc, store_queue_crud);
	tcase_add_test(tc, store_producer_crud);
}

void
check_store_add_lists(TCase *tc)
{
	tcase_add_test(tc, store_counts_and_list);
	tcase_add_test(tc, store_list_newest_first);
}
