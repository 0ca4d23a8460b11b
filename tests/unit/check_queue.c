/*
 * Tests of queue over a real store: creating, updating, pausing and
 * deleting queues (what memory holds and what the store keeps), the job
 * counts that every move passes through (never negative, undone when the
 * transaction rolls back, kept when it commits), capacity and room, the
 * wake-ups consumers and producers park for, the rate bucket handed from
 * one setting to the next, and the JSON of a queue both ways.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "await.h"
#include "config.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "loop.h"
#include "loopfix.h"
#include "queue.h"
#include "store.h"
#include "storefix.h"

Suite *queue_suite(void);

static struct config conf;

static void
queue_setup(void)
{
	storefix_setup();
	config_init(&conf);
	ck_assert_msg(queue_init(&conf) == 0, "%s", diag_msg());
	ck_assert_int_eq(store_commit_now(), 0);
}

static void
queue_teardown(void)
{
	queue_shutdown();
	config_destroy(&conf);
	storefix_teardown();
}

static struct queue *
make_queue(const char *name, int64_t capacity)
{
	struct queue_conf qc;
	struct queue *q;

	queue_conf_init(&qc, name);
	qc.capacity = capacity;
	q = queue_create(&qc, false);
	ck_assert_msg(q != NULL, "%s", diag_msg());
	return q;
}

/* What the store holds of queue name: -1 when absent, else its paused
 * flag, with *qc (may be NULL) its settings. */
struct stored {
	const char *name;
	int paused;
	struct queue_conf conf;
};

static int
find_stored(const struct store_queue *sq, void *arg)
{
	struct stored *st = arg;

	if (strcmp(sq->conf.name, st->name) == 0) {
		st->paused = sq->paused;
		st->conf = sq->conf;
	}
	return 0;
}

static int
stored_paused(const char *name, struct queue_conf *qc)
{
	struct stored st = {.name = name, .paused = -1};

	ck_assert_int_eq(store_queue_each(find_stored, &st), 0);
	if (qc != NULL)
		*qc = st.conf;
	return st.paused;
}

START_TEST(queue_init_makes_default_and_finds_by_name_and_id)
{
	struct queue *d = queue_find("default");
	struct queue *q;

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_eq(queue_first(), d);
	ck_assert_ptr_eq(queue_find_id(d->id), d);
	ck_assert_int_eq(stored_paused("default", NULL), 0);
	q = make_queue("q1", 0);
	ck_assert_ptr_eq(d->next, q);
	ck_assert_ptr_eq(queue_find("q1"), q);
	ck_assert_ptr_eq(queue_find_id(q->id), q);
	ck_assert_ptr_null(queue_find_id(q->id + 100));
	diag_clear();
	ck_assert_ptr_null(queue_find("nope"));
	ck_assert_int_eq(diag_code(), E_UNKNOWN_QUEUE);
}
END_TEST

START_TEST(queue_create_refuses_an_existing_name)
{
	struct queue_conf qc;

	make_queue("q1", 0);
	queue_conf_init(&qc, "q1");
	diag_clear();
	ck_assert_ptr_null(queue_create(&qc, false));
	ck_assert_int_eq(diag_code(), E_STATE);
	ck_assert_ptr_null(queue_create(&qc, true));
	ck_assert_int_eq(stored_paused("q1", NULL), 0);
}
END_TEST

START_TEST(queue_update_and_pause_reach_the_store)
{
	struct queue *q = make_queue("q1", 0);
	struct queue_conf qc = q->conf, got;

	qc.concurrency = 7;
	qc.capacity = 12;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(q->conf.concurrency, 7);
	ck_assert_int_eq(queue_set_paused(q, true), 0);
	ck_assert(q->paused);
	ck_assert_int_eq(stored_paused("q1", &got), 1);
	ck_assert_int_eq(got.concurrency, 7);
	ck_assert_int_eq(got.capacity, 12);
	ck_assert_int_eq(queue_set_paused(q, false), 0);
	ck_assert(!q->paused);
	ck_assert_int_eq(stored_paused("q1", NULL), 0);
}
END_TEST

START_TEST(queue_init_loads_what_the_store_holds)
{
	struct queue *q = make_queue("kept", 0);
	int64_t id;
	struct queue_conf qc = q->conf;

	qc.concurrency = 3;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(queue_set_paused(q, true), 0);
	id = q->id;
	ck_assert_int_eq(store_commit_now(), 0);
	queue_shutdown();
	ck_assert_ptr_null(queue_first());
	ck_assert_int_eq(queue_init(&conf), 0);
	q = queue_find("kept");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(q->id, id);
	ck_assert(q->paused);
	ck_assert_int_eq(q->conf.concurrency, 3);
}
END_TEST

START_TEST(queue_apply_config_lays_only_set_keys_over)
{
	struct queue *q = make_queue("q1", 5);
	struct queue_conf sec[2];

	queue_conf_init(&sec[0], "q1");
	sec[0].concurrency = 9;
	sec[0].capacity = 99; /* not marked set: ignored */
	sec[0].set = QC_CONCURRENCY;
	queue_conf_init(&sec[1], "fresh");
	sec[1].max_attempts = 4;
	sec[1].set = QC_MAX_ATTEMPTS;
	conf.queues = sec;
	conf.nqueues = 2;
	ck_assert_msg(queue_apply_config(&conf) == 0, "%s", diag_msg());
	conf.queues = NULL;
	conf.nqueues = 0;
	ck_assert_int_eq(q->conf.concurrency, 9);
	ck_assert_int_eq(q->conf.capacity, 5);
	ck_assert_ptr_nonnull(queue_find("fresh"));
	ck_assert_int_eq(queue_find("fresh")->conf.max_attempts, 4);
	ck_assert_int_eq(queue_find("fresh")->conf.set, 0);
}
END_TEST

START_TEST(queue_counts_follow_moves_and_never_go_negative)
{
	struct queue *q = make_queue("q1", 0);

	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 2, -1, JOBD_SCHEDULED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 3, -1, JOBD_WAITING, JOBD_REASON_NONE);
	ck_assert_int_eq(queue_pending(q), 3);
	ck_assert(queue_any_waiting());
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 0);
	ck_assert_int_eq(q->counts[JOBD_RUNNING], 1);
	/* A move out of a state counted empty (a job the counts never
	 * saw) takes nothing below zero. */
	queue_job_moved(q->id, 9, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 0);
	ck_assert_int_eq(q->counts[JOBD_RUNNING], 2);
	queue_job_moved(q->id, 3, JOBD_WAITING, -1, JOBD_REASON_NONE);
	ck_assert(!queue_any_waiting());
	queue_job_moved(q->id, 3, JOBD_WAITING, -1, JOBD_REASON_NONE);
	ck_assert_int_eq(q->counts[JOBD_WAITING], 0);
	/* Moves of an unknown queue or out-of-range states change
	 * nothing. */
	queue_job_moved(q->id + 100, 4, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 4, JOBD_STATE_COUNT, JOBD_STATE_COUNT,
			JOBD_REASON_NONE);
	ck_assert_int_eq(queue_pending(q), 1);
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		ck_assert_int_ge(q->counts[s], 0);
}
END_TEST

START_TEST(queue_rollback_undoes_the_transactions_moves)
{
	struct queue *q = make_queue("q1", 0);

	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(store_hold(), 0);
	ck_assert(store_txn_open());
	queue_job_moved(q->id, 2, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(q->counts[JOBD_RUNNING], 1);
	store_unhold();
	store_abort();
	ck_assert(!store_txn_open());
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(q->counts[JOBD_RUNNING], 0);
	for (int s = 0; s < JOBD_STATE_COUNT; s++)
		ck_assert_int_eq(q->txn_delta[s], 0);
}
END_TEST

START_TEST(queue_commit_keeps_the_transactions_moves)
{
	struct queue *q = make_queue("q1", 0);

	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(store_hold(), 0);
	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 2, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	ck_assert_int_eq(q->txn_delta[JOBD_QUEUED], 2);
	store_unhold();
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_int_eq(q->txn_delta[JOBD_QUEUED], 0);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 2);
	/* A later rollback takes back only its own. */
	ck_assert_int_eq(store_hold(), 0);
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_SUCCEEDED,
			JOBD_REASON_NONE);
	store_unhold();
	store_abort();
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 2);
	ck_assert_int_eq(q->counts[JOBD_SUCCEEDED], 0);
}
END_TEST

START_TEST(queue_room_counts_pending_and_reserved)
{
	struct queue *q = make_queue("q1", 3);
	struct queue *u = make_queue("unbounded", 0);

	ck_assert(queue_has_room(q, 3));
	ck_assert(!queue_has_room(q, 4));
	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 2, -1, JOBD_WAITING, JOBD_REASON_NONE);
	ck_assert(queue_has_room(q, 1));
	q->reserved = 1;
	ck_assert(!queue_has_room(q, 1));
	q->reserved = 0;
	/* A running job is not pending: it frees its room. */
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	ck_assert(queue_has_room(q, 2));
	ck_assert(queue_has_room(u, INT64_C(1) << 40));
}
END_TEST

START_TEST(queue_delete_refuses_default_busy_and_finished)
{
	struct queue *d = queue_find("default");
	struct queue *q = make_queue("q1", 0);

	ck_assert_int_eq(queue_check_deletable(d), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	ck_assert_int_eq(queue_delete(q), -1);
	ck_assert_int_eq(diag_code(), E_STATE);
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	ck_assert_int_eq(queue_check_deletable(q), -1);
	queue_job_moved(q->id, 1, JOBD_RUNNING, JOBD_SUCCEEDED,
			JOBD_REASON_NONE);
	ck_assert_int_eq(queue_check_deletable(q), 0);
	q->incoming = 1;
	ck_assert_int_eq(queue_check_deletable(q), -1);
	ck_assert_int_eq(diag_code(), E_STATE);
	q->incoming = 0;
	q->active = 1;
	ck_assert_int_eq(queue_check_deletable(q), -1);
	q->active = 0;
	/* Deletable, but a finished job is still there: prune first. */
	diag_clear();
	ck_assert_int_eq(queue_delete(q), -1);
	ck_assert_int_eq(diag_code(), E_STATE);
	ck_assert_ptr_nonnull(strstr(diag_msg(), "prune"));
	ck_assert_ptr_eq(queue_find("q1"), q);
	ck_assert_int_eq(stored_paused("q1", NULL), 0);
}
END_TEST

START_TEST(queue_delete_removes_it_and_sends_consumers_away)
{
	struct queue *q = make_queue("q1", 0);

	ck_assert_int_gt(q->conf.concurrency, 0);
	ck_assert_int_eq(queue_delete(q), 0);
	ck_assert_ptr_null(queue_find("q1"));
	ck_assert_int_eq(stored_paused("q1", NULL), -1);
	/* Kept allocated for the consumers that may hold it, with nothing
	 * for them to do. */
	ck_assert_int_eq(q->conf.concurrency, 0);
	ck_assert_ptr_null(queue_find("default")->next);
	/* The name is free again. */
	make_queue("q1", 0);
}
END_TEST

/* ---- wake-ups, on a real loop ---- */

struct parked {
	struct waitq *on;
	int rc;
	bool woke;
};

static void
park_f(void *arg)
{
	struct parked *p = arg;

	p->rc = waitq_wait(p->on, 4.0);
	p->woke = true;
}

/* Parks a coroutine on wq and lets it get there. */
static struct coro *
park(struct parked *p, struct waitq *wq)
{
	struct coro *c;

	p->on = wq;
	p->rc = 99;
	p->woke = false;
	c = coro_spawn("parked", park_f, p);
	coro_wakeup(coro_self());
	coro_yield();
	CO_EXPECT(!p->woke);
	return c;
}

static void
work_wakeups_f(void *arg)
{
	struct queue *q = arg;
	struct parked p;
	struct coro *c;

	/* Work appears. */
	c = park(&p, &q->work);
	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	coro_join(c);
	CO_EXPECT(p.woke && p.rc == 0);
	/* A job that is not ready wakes no consumer... */
	c = park(&p, &q->work);
	queue_job_moved(q->id, 2, -1, JOBD_SCHEDULED, JOBD_REASON_NONE);
	coro_wakeup(coro_self());
	coro_yield();
	CO_EXPECT(!p.woke);
	/* ...a change of settings (concurrency) does. */
	struct queue_conf qc = q->conf;
	qc.concurrency = 1;
	CO_EXPECT(queue_update(q, &qc) == 0);
	coro_join(c);
	CO_EXPECT(p.woke && p.rc == 0);
	/* So does a pause (or a resume). */
	c = park(&p, &q->work);
	CO_EXPECT(queue_set_paused(q, true) == 0);
	coro_join(c);
	CO_EXPECT(p.woke && p.rc == 0);
	/* And queue_wake_all (shutdown). */
	c = park(&p, &q->work);
	queue_wake_all();
	coro_join(c);
	CO_EXPECT(p.woke && p.rc == 0);
}

START_TEST(queue_wakes_consumers_when_work_or_settings_change)
{
	loopfix_run(work_wakeups_f, make_queue("q1", 0));
}
END_TEST

static void
room_wakeups_f(void *arg)
{
	struct queue *q = arg;
	struct parked p;
	struct coro *c;

	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 2, -1, JOBD_SCHEDULED, JOBD_REASON_NONE);
	/* Pending to pending frees no room: nobody wakes. */
	c = park(&p, &q->room);
	queue_job_moved(q->id, 2, JOBD_SCHEDULED, JOBD_QUEUED,
			JOBD_REASON_NONE);
	coro_wakeup(coro_self());
	coro_yield();
	CO_EXPECT(!p.woke);
	/* Pending to running does. */
	queue_job_moved(q->id, 1, JOBD_QUEUED, JOBD_RUNNING, JOBD_REASON_NONE);
	coro_join(c);
	CO_EXPECT(p.woke && p.rc == 0);
	CO_EXPECT(queue_has_room(q, 1));
	/* A rolled-back move wakes both sides, as the counts changed. */
	struct parked w;
	struct coro *cw;
	CO_EXPECT(store_hold() == 0);
	queue_job_moved(q->id, 3, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	c = park(&p, &q->room);
	cw = park(&w, &q->work);
	store_unhold();
	store_abort();
	coro_join(c);
	coro_join(cw);
	CO_EXPECT(p.woke && p.rc == 0);
	CO_EXPECT(w.woke && w.rc == 0);
}

START_TEST(queue_wakes_producers_when_room_appears)
{
	loopfix_run(room_wakeups_f, make_queue("q1", 2));
}
END_TEST

/* ---- the rate bucket ---- */

static struct queue *
rated_queue(const char *name, double limit, double burst)
{
	struct queue_conf qc;
	struct queue *q;

	queue_conf_init(&qc, name);
	qc.rate_limit = limit;
	qc.rate_period = 60;
	qc.rate_burst = burst;
	q = queue_create(&qc, false);
	ck_assert_msg(q != NULL, "%s", diag_msg());
	return q;
}

static int
drain(struct queue *q)
{
	int n = 0;

	while (n < 1000 && ratelimit_take(&q->rl, loop_now(), NULL))
		n++;
	return n;
}

START_TEST(queue_rate_change_hands_the_tokens_over)
{
	struct queue *q = rated_queue("q1", 3, 0);
	struct queue_conf qc;

	ck_assert_int_eq(drain(q), 3);
	/* A new rate keeps the bucket as it was (empty): changing the
	 * setting is no way around the limit. */
	qc = q->conf;
	qc.rate_limit = 10;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(drain(q), 0);
	/* A setting that leaves the rate alone leaves the bucket too. */
	qc.concurrency = 2;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(drain(q), 0);
}
END_TEST

START_TEST(queue_new_rate_starts_full)
{
	struct queue *q = make_queue("q1", 0);
	struct queue_conf qc = q->conf;

	/* No rate: the bucket never refuses. */
	ck_assert_int_eq(drain(q), 1000);
	qc.rate_limit = 2;
	qc.rate_period = 60;
	qc.rate_burst = 5;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(drain(q), 5);
	/* A smaller burst caps what is kept. */
	q = rated_queue("q2", 4, 0);
	ck_assert_int_eq(drain(q), 4);
	q = rated_queue("q3", 4, 0);
	ck_assert(ratelimit_take(&q->rl, loop_now(), NULL));
	qc = q->conf;
	qc.rate_burst = 1;
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(drain(q), 1);
}
END_TEST

/* ---- JSON ---- */

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	ck_assert_msg(v != NULL, "%s", err.text);
	return v;
}

/* queue_conf_from_json on text over base; returns its result. */
static int
from_json(const char *text, const struct queue_conf *base,
	  struct queue_conf *qc)
{
	json_t *v = parse(text);
	int rc;

	diag_clear();
	rc = queue_conf_from_json(v, base, qc);
	json_decref(v);
	return rc;
}

START_TEST(queue_conf_from_json_takes_fields_over_base)
{
	struct queue_conf base, qc;

	queue_conf_init(&base, "q1");
	base.capacity = 8;
	base.rate_limit = 5;
	base.rate_period = 1;
	ck_assert_int_eq(from_json("{\"name\":\"x\",\"concurrency\":3,"
				   "\"kill_grace\":null,\"timeout\":1.5,"
				   "\"rate\":null,\"backoff\":{\"max\":9}}",
				   &base, &qc),
			 0);
	ck_assert_str_eq(qc.name, "q1");
	ck_assert_int_eq(qc.concurrency, 3);
	ck_assert_int_eq(qc.capacity, 8);
	ck_assert(qc.kill_grace < 0);
	ck_assert(qc.timeout == 1.5);
	ck_assert(qc.rate_limit == 0);
	ck_assert(qc.backoff.max == 9);
	ck_assert(qc.backoff.base == base.backoff.base);
	ck_assert_int_eq(
		from_json("{\"rate\":{\"limit\":4,\"period\":2}}", &base, &qc),
		0);
	ck_assert(qc.rate_limit == 4 && qc.rate_period == 2);
}
END_TEST

/* global_concurrency: from queue.create/update's JSON (0 to 100000), in
 * the queue object, laid over by a config section that sets it, and the
 * pool one node runs (the lower of it and concurrency). */
START_TEST(queue_global_concurrency_fields_and_pool)
{
	struct queue_conf base, qc, sec;
	struct queue *q = make_queue("g", 0);
	json_t *o;

	queue_conf_init(&base, "g");
	ck_assert_int_eq(base.global_concurrency, 0);
	ck_assert_int_eq(queue_conf_pool(&base), 4);
	ck_assert_int_eq(from_json("{\"global_concurrency\":2}", &base, &qc),
			 0);
	ck_assert_int_eq(qc.global_concurrency, 2);
	ck_assert_int_eq(queue_conf_pool(&qc), 2);
	qc.global_concurrency = 9;
	ck_assert_int_eq(queue_conf_pool(&qc), 4);
	ck_assert_int_eq(from_json("{\"global_concurrency\":-1}", &base, &qc),
			 -1);
	ck_assert_int_eq(
		from_json("{\"global_concurrency\":100001}", &base, &qc), -1);
	ck_assert_int_eq(from_json("{\"global_concurrency\":1.5}", &base, &qc),
			 -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	o = queue_json(q);
	ck_assert_int_eq(
		json_integer_value(json_object_get(o, "global_concurrency")),
		0);
	json_decref(o);
	queue_conf_init(&sec, "g");
	sec.global_concurrency = 3;
	sec.set = QC_GLOBAL_CONCURRENCY;
	conf.queues = &sec;
	conf.nqueues = 1;
	ck_assert_msg(queue_apply_config(&conf) == 0, "%s", diag_msg());
	conf.queues = NULL;
	conf.nqueues = 0;
	ck_assert_int_eq(q->conf.global_concurrency, 3);
	o = queue_json(q);
	ck_assert_int_eq(
		json_integer_value(json_object_get(o, "global_concurrency")),
		3);
	json_decref(o);
}
END_TEST

START_TEST(queue_limits_reach_json_store_and_config)
{
	struct queue *q = make_queue("q1", 0);
	struct queue_conf qc, got, sec;
	json_t *o;

	/* queue.update's limits replace the queue's object. */
	ck_assert_int_eq(from_json("{\"limits\":{\"nofile\":9,\"memory\":"
				   "1048576}}",
				   &q->conf, &qc),
			 0);
	ck_assert_int_eq(qc.limits.nofile, 9);
	ck_assert_int_eq(queue_update(q, &qc), 0);
	ck_assert_int_eq(stored_paused("q1", &got), 0);
	ck_assert_int_eq(got.limits.nofile, 9);
	ck_assert_int_eq(got.limits.memory, 1048576);
	o = queue_json(q);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(o, "limits"), "nofile")),
			 9);
	json_decref(o);
	/* The config file's limit_* keys overwrite only theirs. */
	queue_conf_init(&sec, "q1");
	sec.limits.nofile = 30;
	sec.set = QC_LIMITS;
	conf.queues = &sec;
	conf.nqueues = 1;
	ck_assert_msg(queue_apply_config(&conf) == 0, "%s", diag_msg());
	conf.queues = NULL;
	conf.nqueues = 0;
	ck_assert_int_eq(q->conf.limits.nofile, 30);
	ck_assert_int_eq(q->conf.limits.memory, 1048576);
	/* null clears them. */
	ck_assert_int_eq(from_json("{\"limits\":null}", &q->conf, &qc), 0);
	ck_assert(joblimits_is_empty(&qc.limits));
}
END_TEST

START_TEST(queue_conf_from_json_refuses_bad_fields)
{
	static const char *const bad[] = {
		"{\"concurrency\":0}",
		"{\"concurrency\":10001}",
		"{\"concurrency\":\"2\"}",
		"{\"capacity\":-1}",
		"{\"max_attempts\":0}",
		"{\"timeout\":-1}",
		"{\"kill_grace\":\"x\"}",
		"{\"rate\":5}",
		"{\"rate\":{\"limit\":0}}",
		"{\"rate\":{\"limit\":1,\"speed\":2}}",
		"{\"rate\":{\"limit\":-1}}",
		"{\"backoff\":[]}",
		"{\"backoff\":{\"base\":\"x\"}}",
		"{\"backoff\":{\"step\":1}}",
		"{\"paused\":true}",
		"{\"colour\":1}",
		"{\"limits\":5}",
		"{\"limits\":{\"nofile\":0}}",
		"{\"limits\":{\"cpu\":0.5}}",
		"{\"limits\":{\"tasks\":3}}",
	};
	struct queue_conf base, qc;

	queue_conf_init(&base, "q1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(from_json(bad[i], &base, &qc) == -1, "%s",
			      bad[i]);
		ck_assert_msg(diag_code() == E_INVAL, "%s", bad[i]);
	}
	ck_assert_int_eq(from_json("{\"colour\":1}", &base, &qc), -1);
	ck_assert_ptr_nonnull(strstr(diag_msg(), "colour"));
}
END_TEST

START_TEST(queue_json_shows_effective_values_and_counts)
{
	struct queue *q = make_queue("q1", 4);
	json_t *o;

	queue_set_default_kill_grace(7.5);
	queue_job_moved(q->id, 1, -1, JOBD_QUEUED, JOBD_REASON_NONE);
	queue_job_moved(q->id, 2, -1, JOBD_RUNNING, JOBD_REASON_NONE);
	o = queue_json(q);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "q1");
	ck_assert(json_real_value(json_object_get(o, "kill_grace")) == 7.5);
	ck_assert(json_is_null(json_object_get(o, "rate")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "capacity")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "pending")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "running")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(o, "counts"), "queued")),
			 1);
	ck_assert(json_is_false(json_object_get(o, "paused")));
	json_decref(o);
	q = rated_queue("q2", 3, 0);
	o = queue_json(q);
	/* A burst of 0 shows as the limit. */
	ck_assert(json_number_value(json_object_get(json_object_get(o, "rate"),
						    "burst")) == 3);
	json_decref(o);
	queue_set_default_kill_grace(5.0);
}
END_TEST

Suite *
queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc;

	tc = tcase_create("settings");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, queue_setup, queue_teardown);
	tcase_add_test(tc, queue_init_makes_default_and_finds_by_name_and_id);
	tcase_add_test(tc, queue_create_refuses_an_existing_name);
	tcase_add_test(tc, queue_update_and_pause_reach_the_store);
	tcase_add_test(tc, queue_init_loads_what_the_store_holds);
	tcase_add_test(tc, queue_apply_config_lays_only_set_keys_over);
	tcase_add_test(tc, queue_delete_refuses_default_busy_and_finished);
	tcase_add_test(tc, queue_delete_removes_it_and_sends_consumers_away);
	suite_add_tcase(s, tc);

	tc = tcase_create("counts");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, queue_setup, queue_teardown);
	tcase_add_test(tc, queue_counts_follow_moves_and_never_go_negative);
	tcase_add_test(tc, queue_rollback_undoes_the_transactions_moves);
	tcase_add_test(tc, queue_commit_keeps_the_transactions_moves);
	tcase_add_test(tc, queue_room_counts_pending_and_reserved);
	suite_add_tcase(s, tc);

	tc = tcase_create("wakeups");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, queue_setup, queue_teardown);
	tcase_add_test(tc, queue_wakes_consumers_when_work_or_settings_change);
	tcase_add_test(tc, queue_wakes_producers_when_room_appears);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, queue_setup, queue_teardown);
	tcase_add_test(tc, queue_rate_change_hands_the_tokens_over);
	tcase_add_test(tc, queue_new_rate_starts_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, queue_setup, queue_teardown);
	tcase_add_test(tc, queue_conf_from_json_takes_fields_over_base);
	tcase_add_test(tc, queue_conf_from_json_refuses_bad_fields);
	tcase_add_test(tc, queue_limits_reach_json_store_and_config);
	tcase_add_test(tc, queue_global_concurrency_fields_and_pool);
	tcase_add_test(tc, queue_json_shows_effective_values_and_counts);
	suite_add_tcase(s, tc);
	return s;
}
