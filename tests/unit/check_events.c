/*
 * Tests of events over a real store and loop: nothing is delivered before
 * its commit, what a rolled-back transaction recorded is dropped with it
 * (events and the per-transaction tally of totals) while what committed
 * is kept, subscribers' filters (queue, job, uid), the wire line each
 * subscriber gets, waiters woken when their jobs are all finished, and
 * daemon.stopping delivered at once.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"
#include "storefix.h"

Suite *events_suite(void);

static int64_t qdef;

static void
events_setup(void)
{
	struct queue_conf qc;

	storefix_setup();
	memset(&events_totals, 0, sizeof(events_totals));
	loop_add_flush(store_flush, NULL, "store.commit");
	events_init();
	queue_conf_init(&qc, "default");
	ck_assert_int_eq(store_queue_insert(&qc, false, &qdef), 0);
	ck_assert_int_eq(store_commit_now(), 0);
}

static void
events_teardown(void)
{
	events_shutdown();
	storefix_teardown();
}

/* A subscriber that keeps every line it got, parsed. */
struct got {
	struct events_sub sub;
	json_t *lines; /* owned array of the parsed events */
	bool bad_line; /* a line without its newline or length */
};

static void
got_cb(struct events_sub *s, const char *line, size_t len, void *arg)
{
	struct got *g = arg;
	json_t *v;

	(void)s;
	if (len == 0 || line[len - 1] != '\n' ||
	    memchr(line, '\n', len) != line + len - 1) {
		g->bad_line = true;
		return;
	}
	v = json_loadb(line, len - 1, 0, NULL);
	if (v == NULL)
		g->bad_line = true;
	else
		json_array_append_new(g->lines, v);
}

static void
got_init(struct got *g, const char *queue, int64_t job_id, long uid)
{
	memset(g, 0, sizeof(*g));
	g->sub.fn = got_cb;
	g->sub.arg = g;
	g->sub.queue = queue != NULL ? strdup(queue) : NULL;
	g->sub.job_id = job_id;
	g->sub.uid = uid;
	g->lines = json_array();
	events_subscribe(&g->sub);
}

static void
got_destroy(struct got *g)
{
	events_unsubscribe(&g->sub);
	free(g->sub.queue);
	json_decref(g->lines);
}

static size_t
got_n(const struct got *g)
{
	return json_array_size(g->lines);
}

/* The event name of line i, or "". */
static const char *
got_event(const struct got *g, size_t i)
{
	const char *e = json_string_value(
		json_object_get(json_array_get(g->lines, i), "event"));

	return e != NULL ? e : "";
}

/* Inserts a queued job of uid in the open group transaction. */
static int64_t
add_job(uid_t uid)
{
	struct jobspec sp;
	struct store_job_new j;
	struct backoff bo = BACKOFF_DEFAULT_INIT;
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[s]", "true");
	memset(&j, 0, sizeof(j));
	j.spec = &sp;
	j.qid = qdef;
	j.state = JOBD_QUEUED;
	j.created_at = j.run_at = 1;
	j.uid = uid;
	j.kill_grace = 5;
	j.max_attempts = 1;
	j.backoff = bo;
	if (store_job_insert(&j, &id) != 0)
		id = -1;
	jobspec_destroy(&sp);
	return id;
}

/* Lets the loop run until g has n lines or 4 s went by. */
static void
await_lines(const struct got *g, size_t n)
{
	double end = loopfix_mono() + 4.0;

	while (got_n(g) < n && loopfix_mono() < end)
		(void)await_sleep(0.002);
}

START_TEST(events_subscribe_and_unsubscribe)
{
	struct got a, b;

	ck_assert(!events_watched());
	got_init(&a, NULL, 0, -1);
	got_init(&b, NULL, 0, -1);
	ck_assert(events_watched());
	got_destroy(&a);
	ck_assert(events_watched());
	/* Removing one twice does no harm. */
	events_unsubscribe(&a.sub);
	ck_assert(events_watched());
	got_destroy(&b);
	ck_assert(!events_watched());
}
END_TEST

static void
after_commit_f(void *arg)
{
	struct got *g = arg;

	CO_EXPECT(add_job(1000) > 0);
	CO_EXPECT(store_txn_open());
	events_queue("default", json_pack("{s:s}", "name", "default"));
	/* Recorded, not delivered: the write is not committed. */
	CO_EXPECT(got_n(g) == 0);
	CO_EXPECT(store_sync() == 0);
	await_lines(g, 1);
	CO_EXPECT(got_n(g) == 1);
	CO_EXPECT(!store_txn_open());
	CO_EXPECT(strcmp(got_event(g, 0), "queue.updated") == 0);
	CO_EXPECT(json_is_object(
		json_object_get(json_array_get(g->lines, 0), "queue")));
	CO_EXPECT(json_is_string(
		json_object_get(json_array_get(g->lines, 0), "time")));
}

START_TEST(events_delivered_only_after_the_commit)
{
	struct got g;

	got_init(&g, NULL, 0, -1);
	loopfix_run(after_commit_f, &g);
	ck_assert(!g.bad_line);
	got_destroy(&g);
}
END_TEST

static void
rollback_f(void *arg)
{
	struct got *g = arg;
	int64_t id;

	/* A rolled-back transaction: its events and totals go with it,
	 * except job.started (its claim committed before it was
	 * recorded). */
	CO_EXPECT(store_hold() == 0);
	id = add_job(1000);
	CO_EXPECT(id > 0);
	events_job(EVENTS_JOB_SUBMITTED, id);
	events_job(EVENTS_JOB_STARTED, id);
	events_queue("default", json_pack("{s:s}", "name", "default"));
	events_tally()->submitted++;
	events_tally()->cancelled += 2;
	CO_EXPECT(events_tally() != &events_totals);
	CO_EXPECT(events_totals.submitted == 0);
	store_unhold();
	store_abort();
	/* This coroutine's write was lost: its next sync says so. */
	CO_EXPECT(store_sync() == -1);
	CO_EXPECT(events_totals.submitted == 0);
	CO_EXPECT(events_totals.cancelled == 0);
	CO_EXPECT(events_tally() == &events_totals);
	await_lines(g, 1);
	(void)await_sleep(0.02);
	CO_EXPECT(got_n(g) == 1);
	CO_EXPECT(strcmp(got_event(g, 0), "job.started") == 0);
	/* The next transaction's tally starts from nothing and is added
	 * whole when it commits. */
	id = add_job(1000);
	CO_EXPECT(id > 0);
	events_job(EVENTS_JOB_SUBMITTED, id);
	events_tally()->submitted++;
	events_tally()->succeeded++;
	CO_EXPECT(events_totals.submitted == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(events_totals.submitted == 1);
	CO_EXPECT(events_totals.succeeded == 1);
	CO_EXPECT(events_totals.cancelled == 0);
	await_lines(g, 2);
	CO_EXPECT(got_n(g) == 2);
	CO_EXPECT(strcmp(got_event(g, 1), "job.submitted") == 0);
	CO_EXPECT(json_integer_value(json_object_get(
			  json_object_get(json_array_get(g->lines, 1), "job"),
			  "id")) == id);
}

START_TEST(events_rollback_drops_what_the_transaction_recorded)
{
	struct got g;

	got_init(&g, NULL, 0, -1);
	loopfix_run(rollback_f, &g);
	ck_assert(!g.bad_line);
	got_destroy(&g);
}
END_TEST

START_TEST(events_tally_outside_a_transaction_counts_at_once)
{
	ck_assert(!store_txn_open());
	ck_assert_ptr_eq(events_tally(), &events_totals);
	events_tally()->retried++;
	ck_assert_uint_eq(events_totals.retried, 1);
	/* A commit of a transaction that counted nothing adds nothing. */
	ck_assert_int_gt(add_job(1000), 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_uint_eq(events_totals.retried, 1);
	ck_assert_uint_eq(events_totals.submitted, 0);
}
END_TEST

struct filters {
	struct got all, qa, qb, job, uid1000, uid2000;
	int64_t id1, id2;
};

static void
filters_f(void *arg)
{
	struct filters *f = arg;

	events_queue("a", json_pack("{s:s}", "name", "a"));
	events_queue("b", json_pack("{s:s}", "name", "b"));
	events_producer("p", json_pack("{s:s}", "name", "p"));
	events_job(EVENTS_JOB_SUBMITTED, f->id1);
	events_job(EVENTS_JOB_SUBMITTED, f->id2);
	/* Not an event on the wire: for waiters only. */
	events_job(EVENTS_JOB_CHANGED, f->id1);
	await_lines(&f->all, 5);
	(void)await_sleep(0.02);
}

START_TEST(events_subscribers_see_what_their_filters_let_through)
{
	struct filters f;

	f.id1 = add_job(1000);
	f.id2 = add_job(2000);
	ck_assert_int_eq(store_commit_now(), 0);
	got_init(&f.all, NULL, 0, -1);
	got_init(&f.qa, "a", 0, -1);
	got_init(&f.qb, "default", 0, -1);
	got_init(&f.job, NULL, f.id2, -1);
	got_init(&f.uid1000, NULL, 0, 1000);
	got_init(&f.uid2000, NULL, 0, 2000);
	loopfix_run(filters_f, &f);
	ck_assert_uint_eq(got_n(&f.all), 5);
	ck_assert_str_eq(got_event(&f.all, 0), "queue.updated");
	ck_assert_str_eq(got_event(&f.all, 2), "producer.updated");
	ck_assert_str_eq(got_event(&f.all, 3), "job.submitted");
	/* Queue "a": its queue.updated only. */
	ck_assert_uint_eq(got_n(&f.qa), 1);
	ck_assert_str_eq(
		json_string_value(json_object_get(
			json_object_get(json_array_get(f.qa.lines, 0), "queue"),
			"name")),
		"a");
	/* Queue "default": both jobs. */
	ck_assert_uint_eq(got_n(&f.qb), 2);
	ck_assert_uint_eq(got_n(&f.job), 1);
	ck_assert_int_eq(
		json_integer_value(json_object_get(
			json_object_get(json_array_get(f.job.lines, 0), "job"),
			"id")),
		f.id2);
	/* A uid filter hides other users' jobs, not queue or producer
	 * events. */
	ck_assert_uint_eq(got_n(&f.uid1000), 4);
	ck_assert_uint_eq(got_n(&f.uid2000), 4);
	ck_assert_int_eq(
		json_integer_value(json_object_get(
			json_object_get(json_array_get(f.uid1000.lines, 3),
					"job"),
			"id")),
		f.id1);
	got_destroy(&f.all);
	got_destroy(&f.qa);
	got_destroy(&f.qb);
	got_destroy(&f.job);
	got_destroy(&f.uid1000);
	got_destroy(&f.uid2000);
}
END_TEST

START_TEST(events_daemon_stopping_goes_out_at_once)
{
	struct got a, b;

	got_init(&a, NULL, 0, -1);
	got_init(&b, "other", 0, 1000);
	ck_assert_int_gt(add_job(1000), 0);
	ck_assert(store_txn_open());
	events_daemon_stopping();
	ck_assert_uint_eq(got_n(&a), 1);
	ck_assert_uint_eq(got_n(&b), 1);
	ck_assert_str_eq(got_event(&a, 0), "daemon.stopping");
	ck_assert(!a.bad_line);
	got_destroy(&a);
	got_destroy(&b);
}
END_TEST

struct waiting {
	int64_t ids[2];
	bool done[2];
	struct events_waiter w;
	bool woke;
};

static void
waiter_f(void *arg)
{
	struct waiting *wt = arg;

	coro_yield();
	wt->woke = true;
}

static void
waiters_f(void *arg)
{
	struct waiting *wt = arg;
	struct coro *c = coro_spawn("waiter", waiter_f, wt);

	wt->w.c = c;
	events_add_waiter(&wt->w);
	coro_wakeup(coro_self());
	coro_yield();
	/* One finished (and an unrelated one): not yet. */
	CO_EXPECT(add_job(1000) > 0);
	events_job(EVENTS_JOB_FINISHED, wt->ids[0]);
	events_job(EVENTS_JOB_FINISHED, wt->ids[0] + 1000);
	CO_EXPECT(store_sync() == 0);
	(void)await_sleep(0.02);
	CO_EXPECT(!wt->woke);
	CO_EXPECT(wt->w.left == 1 && wt->done[0] && !wt->done[1]);
	/* A finish that rolls back wakes nobody. */
	CO_EXPECT(store_hold() == 0);
	CO_EXPECT(add_job(1000) > 0);
	events_job(EVENTS_JOB_FINISHED, wt->ids[1]);
	store_unhold();
	store_abort();
	CO_EXPECT(store_sync() == -1);
	(void)await_sleep(0.02);
	CO_EXPECT(!wt->woke);
	/* The last one committed: woken. */
	CO_EXPECT(add_job(1000) > 0);
	events_job(EVENTS_JOB_FINISHED, wt->ids[1]);
	CO_EXPECT(store_sync() == 0);
	coro_join(c);
	CO_EXPECT(wt->woke);
	CO_EXPECT(wt->w.left == 0);
	events_remove_waiter(&wt->w);
	events_remove_waiter(&wt->w);
}

START_TEST(events_waiter_woken_when_all_its_jobs_finished)
{
	struct waiting wt;

	memset(&wt, 0, sizeof(wt));
	wt.ids[0] = add_job(1000);
	wt.ids[1] = add_job(1000);
	ck_assert_int_lt(wt.ids[0], wt.ids[1]);
	ck_assert_int_eq(store_commit_now(), 0);
	wt.w.ids = wt.ids;
	wt.w.done = wt.done;
	wt.w.n = wt.w.left = 2;
	loopfix_run(waiters_f, &wt);
	ck_assert(wt.woke);
}
END_TEST

Suite *
events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc;

	tc = tcase_create("bus");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, events_setup, events_teardown);
	tcase_add_test(tc, events_subscribe_and_unsubscribe);
	tcase_add_test(tc, events_delivered_only_after_the_commit);
	tcase_add_test(tc,
		       events_subscribers_see_what_their_filters_let_through);
	tcase_add_test(tc, events_daemon_stopping_goes_out_at_once);
	tcase_add_test(tc, events_waiter_woken_when_all_its_jobs_finished);
	suite_add_tcase(s, tc);

	tc = tcase_create("totals");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, events_setup, events_teardown);
	tcase_add_test(tc, events_rollback_drops_what_the_transaction_recorded);
	tcase_add_test(tc, events_tally_outside_a_transaction_counts_at_once);
	suite_add_tcase(s, tc);
	return s;
}
