/*
 * The store's queues, producers and job counts on both backends
 * (bothfix.h): SQLite's behaviour is the reference, and every scenario
 * runs on SQLite and on PostgreSQL and must see the same.  A queue's name
 * taken is E_CONFLICT and leaves the group transaction good; a change to
 * a queue or producer that does not exist changes nothing and is no
 * error; a producer put again gets the new definition and keeps its
 * counters and pause; the counts follow the jobs as they are inserted,
 * change state and are deleted, and a deleted queue leaves no count.
 *
 * The jobs the counts need are inserted through the store; on
 * PostgreSQL, the scenario's own statements (store_pg__write) move and
 * delete them, where SQLite's store_job_set_state and store_job_prune
 * do.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bothfix.h"
#include "diag.h"
#include "jobd/proto.h"
#include "joblimits.h"
#include "jobspec.h"
#include "loopfix.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlnum.h"

Suite *store_both_queue_suite(void);

/* ---- what the scenarios read back ---- */

#define MAXQ 8
struct queues {
	int n;
	struct store_queue q[MAXQ];
	int stop_after; /* > 0: the callback stops at that row */
};

static int
collect_queue(const struct store_queue *q, void *arg)
{
	struct queues *l = arg;

	if (l->n < MAXQ)
		l->q[l->n] = *q;
	l->n++;
	return l->stop_after > 0 && l->n >= l->stop_after ? 1 : 0;
}

static int
list_queues(struct queues *l)
{
	memset(l, 0, sizeof(*l));
	return store_queue_each(collect_queue, l);
}

#define MAXP 8
struct prod {
	char name[32];
	char spec[128]; /* compact, keys sorted */
	uid_t uid;
	bool paused;
	int state;
	int64_t produced, skipped, errors, last_run;
};
struct prods {
	int n;
	struct prod p[MAXP];
	int stop_after;
};

static int
collect_prod(const struct store_producer *p, void *arg)
{
	struct prods *l = arg;

	if (l->n < MAXP) {
		struct prod *o = &l->p[l->n];
		char *s = json_dumps(p->spec, JSON_COMPACT | JSON_SORT_KEYS);

		snprintf(o->name, sizeof(o->name), "%s", p->name);
		snprintf(o->spec, sizeof(o->spec), "%s", s ? s : "");
		free(s);
		o->uid = p->uid;
		o->paused = p->paused;
		o->state = p->state;
		o->produced = p->produced;
		o->skipped = p->skipped;
		o->errors = p->errors;
		o->last_run = p->last_run;
	}
	l->n++;
	return l->stop_after > 0 && l->n >= l->stop_after ? 1 : 0;
}

static int
list_prods(struct prods *l)
{
	memset(l, 0, sizeof(*l));
	return store_producer_each(collect_prod, l);
}

/* The counts as (qid, state, n) triples, in the order they came. */
#define MAXC 16
struct counts {
	int n;
	int64_t v[MAXC][3];
};

static void
collect_count(int64_t qid, int state, int64_t n, void *arg)
{
	struct counts *c = arg;

	if (c->n < MAXC) {
		c->v[c->n][0] = qid;
		c->v[c->n][1] = state;
		c->v[c->n][2] = n;
	}
	c->n++;
}

/* The count of (qid, state), 0 when fn was not called for it; -1 when it
 * was called twice. */
static int64_t
count_of(const struct counts *c, int64_t qid, int state)
{
	int64_t n = 0;
	int seen = 0;

	for (int i = 0; i < c->n && i < MAXC; i++)
		if (c->v[i][0] == qid && c->v[i][1] == state) {
			n = c->v[i][2];
			seen++;
		}
	return seen > 1 ? -1 : n;
}

static int
read_counts(struct counts *c)
{
	memset(c, 0, sizeof(*c));
	return store_count_each(collect_count, c);
}

/* ---- queues ---- */

static void
work_conf(struct queue_conf *qc, const char *name)
{
	queue_conf_init(qc, name);
	qc->concurrency = 8;
	qc->rate_limit = 10;
	qc->rate_period = 60;
	qc->rate_burst = 20.5;
	qc->capacity = 5000000000LL;
	qc->timeout = 30.25;
	qc->kill_grace = -1;
	qc->max_attempts = 5;
	qc->backoff = (struct backoff){2, 3, 120, 0.1};
	qc->limits.memory = 256LL << 20;
	qc->limits.cpu = 0.5;
	qc->limits.tasks = 64;
}

struct queue_run {
	int64_t a, b, c, dup;
	struct queues l1, l2, l3, l4;
	int rc_stop;
};

static void
queue_crud_f(void *arg)
{
	struct queue_run *r = arg;
	struct queue_conf qc;

	work_conf(&qc, "work");
	CO_EXPECT(store_queue_insert(&qc, false, &r->a) == 0);
	queue_conf_init(&qc, "held");
	CO_EXPECT(store_queue_insert(&qc, true, &r->b) == 0);
	/* The name taken: a conflict that loses nothing already written. */
	r->dup = -7;
	work_conf(&qc, "work");
	qc.concurrency = 1;
	diag_clear();
	CO_EXPECT(store_queue_insert(&qc, false, &r->dup) == -1);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(r->dup == -7);
	queue_conf_init(&qc, "third");
	CO_EXPECT(store_queue_insert(&qc, false, &r->c) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(list_queues(&r->l1) == 0);

	/* Update: the settings change, the name and the pause do not. */
	queue_conf_init(&qc, "renamed");
	qc.concurrency = 2;
	qc.rate_limit = 0;
	qc.capacity = 0;
	qc.kill_grace = 7.5;
	qc.max_attempts = 1;
	CO_EXPECT(store_queue_update(r->b, &qc) == 0);
	CO_EXPECT(store_queue_set_paused(r->a, true) == 0);
	CO_EXPECT(store_queue_set_paused(r->b, false) == 0);
	CO_EXPECT(list_queues(&r->l2) == 0);

	/* No such queue: nothing changes, and no error. */
	CO_EXPECT(store_queue_update(r->c + 100, &qc) == 0);
	CO_EXPECT(store_queue_set_paused(r->c + 100, true) == 0);
	CO_EXPECT(store_queue_delete(r->c + 100) == 0);
	CO_EXPECT(store_queue_delete(r->b) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(list_queues(&r->l3) == 0);

	/* A deleted queue's name is free again. */
	queue_conf_init(&qc, "held");
	CO_EXPECT(store_queue_insert(&qc, false, &r->dup) == 0);
	CO_EXPECT(store_sync() == 0);
	memset(&r->l4, 0, sizeof(r->l4));
	r->l4.stop_after = 2;
	r->rc_stop = store_queue_each(collect_queue, &r->l4);
}

static void
assert_work(const struct store_queue *q, int64_t id, bool paused)
{
	ck_assert_int_eq(q->id, id);
	ck_assert_str_eq(q->conf.name, "work");
	ck_assert(q->paused == paused);
	ck_assert_int_eq(q->conf.concurrency, 8);
	ck_assert_double_eq(q->conf.rate_limit, 10);
	ck_assert_double_eq(q->conf.rate_period, 60);
	ck_assert_double_eq(q->conf.rate_burst, 20.5);
	ck_assert_int_eq(q->conf.capacity, 5000000000LL);
	ck_assert_double_eq(q->conf.timeout, 30.25);
	ck_assert_double_eq(q->conf.kill_grace, -1);
	ck_assert_int_eq(q->conf.max_attempts, 5);
	ck_assert_double_eq(q->conf.backoff.base, 2);
	ck_assert_double_eq(q->conf.backoff.factor, 3);
	ck_assert_double_eq(q->conf.backoff.max, 120);
	ck_assert_double_eq(q->conf.backoff.jitter, 0.1);
	ck_assert_int_eq(q->conf.limits.memory, 256LL << 20);
	ck_assert_double_eq(q->conf.limits.cpu, 0.5);
	ck_assert_int_eq(q->conf.limits.tasks, 64);
	ck_assert_int_eq(q->conf.limits.nofile, 0);
}

START_TEST(store_both_queue_crud)
{
	struct queue_run r;
	struct queue_conf def;

	memset(&r, 0, sizeof(r));
	if (!bothfix_run(__func__, _i, queue_crud_f, &r))
		return;
	queue_conf_init(&def, "x");
	ck_assert_int_lt(r.a, r.b);
	ck_assert_int_lt(r.b, r.c);
	ck_assert_int_eq(r.l1.n, 3);
	assert_work(&r.l1.q[0], r.a, false);
	ck_assert_int_eq(r.l1.q[1].id, r.b);
	ck_assert_str_eq(r.l1.q[1].conf.name, "held");
	ck_assert(r.l1.q[1].paused);
	ck_assert_int_eq(r.l1.q[1].conf.concurrency, def.concurrency);
	ck_assert_double_eq(r.l1.q[1].conf.kill_grace, def.kill_grace);
	ck_assert(joblimits_is_empty(&r.l1.q[1].conf.limits));
	ck_assert_str_eq(r.l1.q[2].conf.name, "third");

	ck_assert_int_eq(r.l2.n, 3);
	assert_work(&r.l2.q[0], r.a, true);
	ck_assert_int_eq(r.l2.q[1].id, r.b);
	ck_assert_str_eq(r.l2.q[1].conf.name, "held");
	ck_assert(!r.l2.q[1].paused);
	ck_assert_int_eq(r.l2.q[1].conf.concurrency, 2);
	ck_assert_double_eq(r.l2.q[1].conf.rate_limit, 0);
	ck_assert_int_eq(r.l2.q[1].conf.capacity, 0);
	ck_assert_double_eq(r.l2.q[1].conf.kill_grace, 7.5);
	ck_assert_int_eq(r.l2.q[1].conf.max_attempts, 1);

	ck_assert_int_eq(r.l3.n, 2);
	assert_work(&r.l3.q[0], r.a, true);
	ck_assert_int_eq(r.l3.q[1].id, r.c);
	ck_assert_str_eq(r.l3.q[1].conf.name, "third");
	ck_assert(!r.l3.q[1].paused);

	ck_assert_int_gt(r.dup, r.c);
	ck_assert_int_eq(r.rc_stop, -1);
	ck_assert_int_eq(r.l4.n, 2);
}
END_TEST

/* ---- producers ---- */

/* 2026-12-05T12:00:00.123Z */
#define LAST_RUN 1796472000123LL

struct prod_run {
	struct prods l1, l2, l3, l4, l5;
	int rc_stop;
};

static int
put(const char *name, const char *spec, uid_t uid, bool paused)
{
	json_t *o = json_loads(spec, 0, NULL);
	int rc = o != NULL ? store_producer_put(name, o, uid, paused) : -1;

	json_decref(o);
	return rc;
}

static void
producer_crud_f(void *arg)
{
	struct prod_run *r = arg;

	CO_EXPECT(put("nightly",
		      "{\"every\":\"1d\",\"job\":{\"argv\":[\"x\"]}}", 1000,
		      false) == 0);
	CO_EXPECT(put("alpha", "{\"cron\":\"* * * * *\"}", 4000000000U, true) ==
		  0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(list_prods(&r->l1) == 0);

	CO_EXPECT(store_producer_counters("nightly", 2, 5, 1, 3, LAST_RUN) ==
		  0);
	CO_EXPECT(store_producer_set_paused("nightly", true) == 0);
	CO_EXPECT(list_prods(&r->l2) == 0);

	/* Put again: the definition is replaced, the counters and the pause
	 * are kept, and it runs again (state 0). */
	CO_EXPECT(put("nightly",
		      "{\"job\":{\"argv\":[\"y\"]},\"every\":\"2h\"}", 1001,
		      false) == 0);
	CO_EXPECT(list_prods(&r->l3) == 0);

	/* No such producer: nothing changes, and no error. */
	CO_EXPECT(store_producer_counters("nope", 1, 1, 1, 1, LAST_RUN) == 0);
	CO_EXPECT(store_producer_set_paused("nope", true) == 0);
	CO_EXPECT(store_producer_delete("nope") == 0);
	CO_EXPECT(store_producer_counters("alpha", 1, 9, 0, 0, 0) == 0);
	CO_EXPECT(store_producer_delete("nightly") == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(list_prods(&r->l4) == 0);

	CO_EXPECT(put("nightly", "{\"every\":\"1d\"}", 1000, false) == 0);
	memset(&r->l5, 0, sizeof(r->l5));
	r->l5.stop_after = 1;
	r->rc_stop = store_producer_each(collect_prod, &r->l5);
}

START_TEST(store_both_producer_crud)
{
	struct prod_run r;
	const struct prod *p;

	memset(&r, 0, sizeof(r));
	if (!bothfix_run(__func__, _i, producer_crud_f, &r))
		return;
	/* By name. */
	ck_assert_int_eq(r.l1.n, 2);
	p = &r.l1.p[0];
	ck_assert_str_eq(p->name, "alpha");
	ck_assert_str_eq(p->spec, "{\"cron\":\"* * * * *\"}");
	ck_assert_uint_eq(p->uid, 4000000000U);
	ck_assert(p->paused);
	ck_assert_int_eq(p->state, 0);
	ck_assert_int_eq(p->produced, 0);
	ck_assert_int_eq(p->last_run, 0);
	p = &r.l1.p[1];
	ck_assert_str_eq(p->name, "nightly");
	ck_assert_str_eq(p->spec,
			 "{\"every\":\"1d\",\"job\":{\"argv\":[\"x\"]}}");
	ck_assert_uint_eq(p->uid, 1000);
	ck_assert(!p->paused);

	p = &r.l2.p[1];
	ck_assert(p->paused);
	ck_assert_int_eq(p->state, 2);
	ck_assert_int_eq(p->produced, 5);
	ck_assert_int_eq(p->skipped, 1);
	ck_assert_int_eq(p->errors, 3);
	ck_assert_int_eq(p->last_run, LAST_RUN);

	p = &r.l3.p[1];
	ck_assert_str_eq(p->spec,
			 "{\"every\":\"2h\",\"job\":{\"argv\":[\"y\"]}}");
	ck_assert_uint_eq(p->uid, 1001);
	ck_assert(p->paused);
	ck_assert_int_eq(p->state, 0);
	ck_assert_int_eq(p->produced, 5);
	ck_assert_int_eq(p->skipped, 1);
	ck_assert_int_eq(p->errors, 3);
	ck_assert_int_eq(p->last_run, LAST_RUN);

	ck_assert_int_eq(r.l4.n, 1);
	p = &r.l4.p[0];
	ck_assert_str_eq(p->name, "alpha");
	ck_assert_int_eq(p->state, 1);
	ck_assert_int_eq(p->produced, 9);
	ck_assert_int_eq(p->last_run, 0);
	ck_assert(p->paused);

	ck_assert_int_eq(r.rc_stop, -1);
	ck_assert_int_eq(r.l5.n, 1);
}
END_TEST

/* ---- counts ---- */

/* A job of queue qid in state, through the store; its id, or -1. */
static int64_t
job_add(int64_t qid, int state)
{
	struct jobspec sp;
	struct store_job_new j = {.qid = qid,
				  .state = state,
				  .reason = JOBD_REASON_NONE,
				  .created_at = LAST_RUN,
				  .run_at = LAST_RUN,
				  .uid = 1000,
				  .kill_grace = 5,
				  .max_attempts = 1,
				  .backoff = BACKOFF_DEFAULT_INIT};
	int64_t id = -1;

	jobspec_init(&sp);
	sp.argv = json_pack("[s]", "true");
	j.spec = &sp;
	if (store_job_insert(&j, &id) != 0)
		id = -1;
	jobspec_destroy(&sp);
	return id;
}

/* Moves job id to state (a terminal one ends it now). */
static int
job_move(int64_t id, int state)
{
	static const char sql[] =
		"UPDATE jobs SET state = $2::smallint, finished_at = CASE"
		" WHEN $2::smallint >= " STATE(SUCCEEDED) " THEN now() END"
							  " WHERE id = $1";
	struct store_pg__args a = {0};

	if (bothfix_backend() == BOTHFIX_SQLITE)
		return store_job_set_state(id, state, JOBD_REASON_NONE,
					   state >= JOBD_SUCCEEDED ? LAST_RUN
								   : 0);
	store_pg__arg_int(&a, id);
	store_pg__arg_int(&a, state);
	return store_pg__write("test move", sql, &a, NULL);
}

static void
prune_none(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	(void)id;
	(void)qid;
	(void)state;
	(void)attempts;
	(void)arg;
}

/* Deletes the ended jobs of queue qid. */
static int
jobs_prune(int64_t qid)
{
	static const char sql[] = "DELETE FROM jobs WHERE qid = $1 AND state"
				  " >= " STATE(SUCCEEDED);
	struct store_pg__args a = {0};
	int64_t n;

	if (bothfix_backend() == BOTHFIX_SQLITE)
		return store_job_prune(LAST_RUN + 1, qid, 0, prune_none, NULL,
				       &n);
	store_pg__arg_int(&a, qid);
	return store_pg__write("test prune", sql, &a, NULL);
}

/* On PostgreSQL, the rows of queue_counts that name qid; 0 on SQLite. */
static int64_t
count_rows(int64_t qid)
{
	static const char sql[] = "SELECT count(*) FROM queue_counts"
				  " WHERE qid = $1";
	struct store_pg__args a = {0};
	PGresult *res;
	int64_t n = -1;

	if (bothfix_backend() == BOTHFIX_SQLITE)
		return 0;
	store_pg__arg_int(&a, qid);
	if (store_pg__read("test count rows", sql, &a, &res) == 0)
		n = store_pg__int(res, 0, 0);
	PQclear(res);
	return n;
}

/* On PostgreSQL, the statements of the rest of the group transaction are
 * another node's (node 7): its count rows then differ from this one's,
 * and the sums must not. */
static int
as_other_node(void)
{
	static const char sql[] =
		"SELECT set_config('jobd.node_id', '7', true)";

	if (bothfix_backend() == BOTHFIX_SQLITE)
		return 0;
	return store_pg__write("test node", sql, NULL, NULL);
}

struct count_run {
	int64_t q1, q2, q3, j[4];
	struct counts c0, c1, c2, c3, c4;
	int64_t rows_before, rows_after;
};

static void
count_f(void *arg)
{
	struct count_run *r = arg;
	struct queue_conf qc;

	queue_conf_init(&qc, "one");
	CO_EXPECT(store_queue_insert(&qc, false, &r->q1) == 0);
	queue_conf_init(&qc, "two");
	CO_EXPECT(store_queue_insert(&qc, false, &r->q2) == 0);
	queue_conf_init(&qc, "three");
	CO_EXPECT(store_queue_insert(&qc, false, &r->q3) == 0);
	CO_EXPECT(read_counts(&r->c0) == 0);

	for (int i = 0; i < 3; i++)
		CO_EXPECT((r->j[i] = job_add(r->q1, JOBD_QUEUED)) > 0);
	CO_EXPECT((r->j[3] = job_add(r->q2, JOBD_SCHEDULED)) > 0);
	CO_EXPECT(job_add(r->q3, JOBD_WAITING) > 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(read_counts(&r->c1) == 0);

	CO_EXPECT(as_other_node() == 0);
	CO_EXPECT(job_move(r->j[0], JOBD_RUNNING) == 0);
	CO_EXPECT(job_move(r->j[1], JOBD_CANCELLED) == 0);
	CO_EXPECT(job_move(r->j[3], JOBD_QUEUED) == 0);
	CO_EXPECT(read_counts(&r->c2) == 0);
	CO_EXPECT(store_sync() == 0);

	CO_EXPECT(job_move(r->j[0], JOBD_SUCCEEDED) == 0);
	CO_EXPECT(jobs_prune(r->q1) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(read_counts(&r->c3) == 0);

	/* q1 holds no job now: deleted, it leaves no count row behind. */
	CO_EXPECT(job_move(r->j[2], JOBD_FAILED) == 0);
	CO_EXPECT(jobs_prune(r->q1) == 0);
	r->rows_before = count_rows(r->q1);
	CO_EXPECT(store_queue_delete(r->q1) == 0);
	r->rows_after = count_rows(r->q1);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(read_counts(&r->c4) == 0);
}

START_TEST(store_both_count_each)
{
	struct count_run r;

	memset(&r, 0, sizeof(r));
	if (!bothfix_run(__func__, _i, count_f, &r))
		return;
	ck_assert_int_eq(r.c0.n, 0);

	ck_assert_int_eq(r.c1.n, 3);
	ck_assert_int_eq(count_of(&r.c1, r.q1, JOBD_QUEUED), 3);
	ck_assert_int_eq(count_of(&r.c1, r.q2, JOBD_SCHEDULED), 1);
	ck_assert_int_eq(count_of(&r.c1, r.q3, JOBD_WAITING), 1);

	/* Read inside the transaction that moved them, as SQLite reads. */
	ck_assert_int_eq(r.c2.n, 5);
	ck_assert_int_eq(count_of(&r.c2, r.q1, JOBD_QUEUED), 1);
	ck_assert_int_eq(count_of(&r.c2, r.q1, JOBD_RUNNING), 1);
	ck_assert_int_eq(count_of(&r.c2, r.q1, JOBD_CANCELLED), 1);
	ck_assert_int_eq(count_of(&r.c2, r.q2, JOBD_QUEUED), 1);
	ck_assert_int_eq(count_of(&r.c2, r.q3, JOBD_WAITING), 1);

	/* The pruned ones and the emptied states are gone. */
	ck_assert_int_eq(r.c3.n, 3);
	ck_assert_int_eq(count_of(&r.c3, r.q1, JOBD_QUEUED), 1);
	ck_assert_int_eq(count_of(&r.c3, r.q2, JOBD_QUEUED), 1);
	ck_assert_int_eq(count_of(&r.c3, r.q3, JOBD_WAITING), 1);

	if (_i == BOTHFIX_POSTGRES)
		ck_assert_int_gt(r.rows_before, 0);
	ck_assert_int_eq(r.rows_after, 0);
	ck_assert_int_eq(r.c4.n, 2);
	ck_assert_int_eq(count_of(&r.c4, r.q2, JOBD_QUEUED), 1);
	ck_assert_int_eq(count_of(&r.c4, r.q3, JOBD_WAITING), 1);
	/* By queue, then state. */
	ck_assert_int_eq(r.c3.v[0][0], r.q1);
	ck_assert_int_eq(r.c3.v[1][0], r.q2);
	ck_assert_int_eq(r.c3.v[2][0], r.q3);
}
END_TEST

Suite *
store_both_queue_suite(void)
{
	Suite *s = suite_create("store_both_queue");
	TCase *tc = tcase_create("rows");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, store_both_queue_crud, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_producer_crud, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_count_each, 0, BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
