/*
 * Tests of the relay (events across nodes) on a real PostgreSQL server
 * (bothfix.h, its PostgreSQL half): a second libpq connection, LISTENing
 * on channel jobd as another node would, sees what a commit changed only
 * once it committed, never what a rolled-back transaction recorded, and
 * every item of a change too big for one notification; notifications that
 * another node sends reach this node's watchers and waiters as job events
 * read from the store, and make its idle consumers try a claim; its own
 * notifications, which come back to it, are not delivered twice.  Without
 * PostgreSQL each test says it is skipped and passes.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "await.h"
#include "bothfix.h"
#include "config.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "loopfix.h"
#include "queue.h"
#include "relay.h"
#include "store.h"
#include "store_pg.h"

Suite *relay_suite(void);

/* ---- the other node: a plain libpq connection ---- */

struct other {
	PGconn *pg;
	json_t *got; /* owned: every payload it received, parsed */
};

static bool
other_open(struct other *o)
{
	PGresult *r;

	o->got = json_array();
	o->pg = PQconnectdb(store_pg__conninfo());
	if (PQstatus(o->pg) != CONNECTION_OK)
		return false;
	r = PQexec(o->pg, "LISTEN jobd");
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

static void
other_close(struct other *o)
{
	PQfinish(o->pg);
	json_decref(o->got);
}

/* Takes in what arrived; false when a payload was not JSON or too long. */
static bool
other_read(struct other *o)
{
	PGnotify *n;
	bool ok = true;

	PQconsumeInput(o->pg);
	while ((n = PQnotifies(o->pg)) != NULL) {
		json_t *v = json_loads(n->extra, 0, NULL);
		if (v == NULL || strlen(n->extra) >= 8000)
			ok = false;
		else
			json_array_append_new(o->got, v);
		PQfreemem(n);
	}
	return ok;
}

static void
other_notify(struct other *o, const char *payload)
{
	const char *vals[] = {payload};
	PGresult *r = PQexecParams(o->pg, "SELECT pg_notify('jobd', $1)", 1,
				   NULL, vals, NULL, NULL, 0);
	CO_EXPECT(PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
}

/* The integer row 0, column 0 of sql gives on o's connection (-1 when
 * none). */
static long long
other_int(struct other *o, const char *sql)
{
	PGresult *r = PQexec(o->pg, sql);
	long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
			      ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
			      : -1;
	PQclear(r);
	return v;
}

/* True when some payload o got has, in its array key, the value v (an
 * integer or a string). */
static bool
other_saw(const struct other *o, const char *key, const json_t *v)
{
	size_t i, k;
	json_t *m, *x;

	json_array_foreach (o->got, i, m)
		json_array_foreach (json_object_get(m, key), k, x)
			if (json_equal(x, v))
				return true;
	return false;
}

static bool
other_saw_int(const struct other *o, const char *key, json_int_t v)
{
	json_t *j = json_integer(v);
	bool b = other_saw(o, key, j);
	json_decref(j);
	return b;
}

static bool
other_saw_str(const struct other *o, const char *key, const char *v)
{
	json_t *j = json_string(v);
	bool b = other_saw(o, key, j);
	json_decref(j);
	return b;
}

/* ---- this node ---- */

static struct config conf;

/* Events, queues (default made) and the relay, listening. */
static bool
node_start(void)
{
	events_init();
	config_init(&conf);
	if (queue_init(&conf) != 0 || store_sync() != 0)
		return false;
	relay_start();
	double end = loopfix_mono() + 10;
	while (store_listen_check() != 0 && loopfix_mono() < end)
		(void)await_sleep(0.01);
	return store_listen_check() == 0;
}

static void
node_stop(void)
{
	relay_stop();
	/* Its coroutines return on the next turns. */
	(void)await_sleep(0.05);
	events_shutdown();
	queue_shutdown();
	config_destroy(&conf);
}

static int64_t
add_job(void)
{
	struct jobspec sp;
	struct store_job_new j;
	struct backoff bo = BACKOFF_DEFAULT_INIT;
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[s]", "true");
	memset(&j, 0, sizeof(j));
	j.spec = &sp;
	j.qid = queue_find("default")->id;
	j.state = JOBD_QUEUED;
	j.created_at = j.run_at = 1;
	j.kill_grace = 5;
	j.max_attempts = 1;
	j.backoff = bo;
	if (store_job_insert(&j, &id) != 0)
		id = -1;
	jobspec_destroy(&sp);
	return id;
}

/* Polls until cond holds or 5 s went by. */
#define UNTIL(cond)                                      \
	do {                                             \
		double end_ = loopfix_mono() + 5;        \
		while (!(cond) && loopfix_mono() < end_) \
			(void)await_sleep(0.005);        \
	} while (0)

/* ---- publishing ---- */

static void
publish_f(void *arg)
{
	struct other o;
	struct queue_conf qc;

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	int64_t qdef = queue_find("default")->id;

	/* Nothing goes out while the change is not committed. */
	CO_EXPECT(store_hold() == 0);
	queue_conf_init(&qc, "qa");
	CO_EXPECT(queue_create(&qc, false) != NULL);
	events_queue_ready(qdef);
	(void)await_sleep(0.3);
	CO_EXPECT(other_read(&o));
	CO_EXPECT(!other_saw_str(&o, "q", "qa"));
	CO_EXPECT(!other_saw_int(&o, "r", qdef));
	/* Then it does: the queue changed, the queue gained ready jobs. */
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	UNTIL(other_read(&o) && other_saw_str(&o, "q", "qa") &&
	      other_saw_int(&o, "r", qdef));
	CO_EXPECT(other_saw_str(&o, "q", "qa"));
	CO_EXPECT(other_saw_int(&o, "r", qdef));

	/* What a rolled-back transaction recorded is never told; what the
	 * next one commits is. */
	CO_EXPECT(store_hold() == 0);
	queue_conf_init(&qc, "qb");
	CO_EXPECT(queue_create(&qc, false) != NULL);
	events_queue_ready(4242);
	store_abort();
	store_unhold();
	CO_EXPECT(store_sync() != 0); /* our write was rolled back */
	queue_conf_init(&qc, "qc");
	CO_EXPECT(queue_create(&qc, false) != NULL);
	CO_EXPECT(store_sync() == 0);
	UNTIL(other_read(&o) && other_saw_str(&o, "q", "qc"));
	CO_EXPECT(other_saw_str(&o, "q", "qc"));
	CO_EXPECT(!other_saw_str(&o, "q", "qb"));
	CO_EXPECT(!other_saw_int(&o, "r", 4242));
	node_stop();
	other_close(&o);
}

static json_t *g_lines;

static void
lines_cb(struct events_sub *s, const char *line, size_t len, void *arg)
{
	(void)s;
	(void)arg;
	json_t *v = json_loadb(line, len, 0, NULL);
	if (v != NULL)
		json_array_append_new(g_lines, v);
}

/* A job's events go out, with the job's id, while another node has
 * watchers or waiters (it said so), not before: this node's wake-ups do
 * (the marker that the commit was told). */
static void
publish_job_f(void *arg)
{
	struct other o;

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	int64_t qdef = queue_find("default")->id;

	CO_EXPECT(store_hold() == 0);
	int64_t id = add_job();
	events_job(EVENTS_JOB_SUBMITTED, id);
	events_queue_ready(qdef);
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	json_t *item = json_pack("[s,I,I,i]", "job.submitted", (json_int_t)id,
				 (json_int_t)0, -1);
	UNTIL(other_read(&o) && other_saw_int(&o, "r", qdef));
	CO_EXPECT(other_saw_int(&o, "r", qdef));
	CO_EXPECT(!other_saw(&o, "j", item));
	json_decref(item);

	/* The other node gets a watcher and says so, with an event of its
	 * own: once that reached this node's watcher, the word did too. */
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "{\"n\":\"elsewhere\",\"l\":true,\"j\":[[\"job.retrying\","
		 "%lld,0,-1]]}",
		 (long long)id);
	g_lines = json_array();
	struct events_sub sub = {lines_cb, NULL, NULL, 0, -1, NULL, NULL, NULL};
	events_subscribe(&sub);
	other_notify(&o, msg);
	UNTIL(json_array_size(g_lines) > 0);
	CO_EXPECT(json_array_size(g_lines) == 1);
	events_unsubscribe(&sub);
	json_decref(g_lines);
	CO_EXPECT(store_hold() == 0);
	id = add_job();
	events_job(EVENTS_JOB_SUBMITTED, id);
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	item = json_pack("[s,I,I,i]", "job.submitted", (json_int_t)id,
			 (json_int_t)0, -1);
	UNTIL(other_read(&o) && other_saw(&o, "j", item));
	CO_EXPECT(other_saw(&o, "j", item));
	json_decref(item);
	node_stop();
	other_close(&o);
}

/* A change too big for one notification goes out in several, each under
 * PostgreSQL's 8000 bytes, and none of it is lost. */
static void
publish_big_f(void *arg)
{
	struct other o;

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	for (int64_t q = 100000; q < 102000; q++)
		events_queue_ready(q);
	UNTIL(other_read(&o) && other_saw_int(&o, "r", 101999) &&
	      other_saw_int(&o, "r", 100000));
	CO_EXPECT(other_read(&o));
	int missing = 0;
	for (int64_t q = 100000; q < 102000; q++)
		missing += !other_saw_int(&o, "r", q);
	CO_EXPECT(missing == 0);
	node_stop();
	other_close(&o);
}

START_TEST(relay_publishes_what_committed_only)
{
	bothfix_run("relay_publishes_what_committed_only", BOTHFIX_POSTGRES,
		    publish_f, NULL);
}
END_TEST

START_TEST(relay_publishes_job_events)
{
	bothfix_run("relay_publishes_job_events", BOTHFIX_POSTGRES,
		    publish_job_f, NULL);
}
END_TEST

START_TEST(relay_publishes_a_big_change_in_pieces)
{
	bothfix_run("relay_publishes_a_big_change_in_pieces", BOTHFIX_POSTGRES,
		    publish_big_f, NULL);
}
END_TEST

/* ---- receiving ---- */

struct got {
	struct events_sub sub;
	json_t *lines;
};

static void
got_cb(struct events_sub *s, const char *line, size_t len, void *arg)
{
	struct got *g = arg;
	(void)s;
	json_t *v = json_loadb(line, len, 0, NULL);
	if (v != NULL)
		json_array_append_new(g->lines, v);
}

static const char *
got_str(const struct got *g, size_t i, const char *key)
{
	json_t *ev = json_array_get(g->lines, i);
	if (strcmp(key, "event") == 0)
		return json_string_value(json_object_get(ev, "event"));
	return json_string_value(
		json_object_get(json_object_get(ev, "job"), key));
}

static json_int_t
got_id(const struct got *g, size_t i)
{
	json_t *ev = json_array_get(g->lines, i);
	return json_integer_value(
		json_object_get(json_object_get(ev, "job"), "id"));
}

static void
receive_f(void *arg)
{
	struct other o;
	struct got g = {{got_cb, &g, NULL, 0, -1, NULL, NULL, NULL},
			json_array()};
	char msg[256];

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	CO_EXPECT(store_hold() == 0);
	int64_t id = add_job();
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	events_subscribe(&g.sub);
	int64_t ids[1] = {id};
	bool done[1] = {false};
	struct events_waiter w = {ids, done, 1, 1, coro_self(), NULL, NULL};
	events_add_waiter(&w);

	/* The job ended on another node, which says so. */
	CO_EXPECT(store_job_set_state(id, -1, JOBD_SUCCEEDED, JOBD_REASON_NONE,
				      jobd_time_now_ms()) == 0);
	CO_EXPECT(store_sync() == 0);
	snprintf(msg, sizeof(msg),
		 "{\"n\":\"elsewhere\",\"j\":[[\"job.finished\",%lld,0,-1]]}",
		 (long long)id);
	other_notify(&o, msg);
	UNTIL(json_array_size(g.lines) >= 1 && w.left == 0);
	CO_EXPECT(json_array_size(g.lines) == 1);
	CO_EXPECT(w.left == 0 && done[0]);
	CO_EXPECT(strcmp(got_str(&g, 0, "event"), "job.finished") == 0);
	CO_EXPECT(got_id(&g, 0) == id);
	CO_EXPECT(strcmp(got_str(&g, 0, "state"), "succeeded") == 0);
	events_remove_waiter(&w);
	events_unsubscribe(&g.sub);
	json_decref(g.lines);
	node_stop();
	other_close(&o);
}

static void
own_once_f(void *arg)
{
	struct other o;
	struct got g = {{got_cb, &g, NULL, 0, -1, NULL, NULL, NULL},
			json_array()};
	char msg[256];

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	CO_EXPECT(store_hold() == 0);
	int64_t id2 = add_job();
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	events_subscribe(&g.sub);
	/* Having a watcher, this node says so in its row. */
	UNTIL(other_int(&o, "SELECT count(*) FROM nodes WHERE listening") == 1);
	CO_EXPECT(other_int(&o, "SELECT count(*) FROM nodes WHERE listening") ==
		  1);

	/* The other node has a watcher too, and says so with an event. */
	snprintf(msg, sizeof(msg),
		 "{\"n\":\"elsewhere\",\"l\":true,\"j\":[[\"job.retrying\","
		 "%lld,0,-1]]}",
		 (long long)id2);
	other_notify(&o, msg);
	UNTIL(json_array_size(g.lines) >= 1);

	/* This node's own event goes out and comes back: delivered once.
	 * A marker sent by the other node after it has seen ours arrives
	 * after ours, so once the marker is here ours was handled. */
	CO_EXPECT(store_hold() == 0);
	CO_EXPECT(store_job_set_pid(id2, 1) == 0);
	events_job(EVENTS_JOB_STARTED, id2);
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	json_t *mine = json_pack("[s,I,I,i]", "job.started", (json_int_t)id2,
				 (json_int_t)queue_find("default")->id, 0);
	UNTIL(other_read(&o) && other_saw(&o, "j", mine));
	CO_EXPECT(other_saw(&o, "j", mine));
	json_decref(mine);
	snprintf(msg, sizeof(msg),
		 "{\"n\":\"elsewhere\",\"j\":[[\"job.retrying\",%lld,0,-1]]}",
		 (long long)id2);
	other_notify(&o, msg);
	UNTIL(json_array_size(g.lines) >= 3);
	(void)await_sleep(0.05);
	CO_EXPECT(json_array_size(g.lines) == 3);
	CO_EXPECT(strcmp(got_str(&g, 1, "event"), "job.started") == 0);
	CO_EXPECT(strcmp(got_str(&g, 2, "event"), "job.retrying") == 0);
	CO_EXPECT(got_id(&g, 2) == id2);
	events_unsubscribe(&g.sub);
	/* Without watchers, it says so too. */
	UNTIL(other_int(&o, "SELECT count(*) FROM nodes WHERE listening") == 0);
	CO_EXPECT(other_int(&o, "SELECT count(*) FROM nodes WHERE listening") ==
		  0);
	json_decref(g.lines);
	node_stop();
	other_close(&o);
}

/* A wake-up from another node: the queue's consumers try a claim.  (The
 * first connect woke every queue: that is let go first.) */
static void
wakeup_f(void *arg)
{
	struct other o;
	char msg[256];

	(void)arg;
	CO_EXPECT(other_open(&o));
	CO_EXPECT(node_start());
	struct queue *q = queue_find("default");
	UNTIL(q->maybe_ready);
	q->maybe_ready = false;
	snprintf(msg, sizeof(msg), "{\"n\":\"elsewhere\",\"r\":[%lld]}",
		 (long long)q->id);
	other_notify(&o, msg);
	UNTIL(q->maybe_ready);
	CO_EXPECT(q->maybe_ready);
	node_stop();
	other_close(&o);
}

START_TEST(relay_delivers_what_other_nodes_tell)
{
	bothfix_run("relay_delivers_what_other_nodes_tell", BOTHFIX_POSTGRES,
		    receive_f, NULL);
}
END_TEST

START_TEST(relay_delivers_its_own_once)
{
	bothfix_run("relay_delivers_its_own_once", BOTHFIX_POSTGRES, own_once_f,
		    NULL);
}
END_TEST

START_TEST(relay_wakeup_makes_consumers_try)
{
	bothfix_run("relay_wakeup_makes_consumers_try", BOTHFIX_POSTGRES,
		    wakeup_f, NULL);
}
END_TEST

Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_add_test(tc, relay_publishes_what_committed_only);
	tcase_add_test(tc, relay_publishes_job_events);
	tcase_add_test(tc, relay_publishes_a_big_change_in_pieces);
	tcase_add_test(tc, relay_delivers_what_other_nodes_tell);
	tcase_add_test(tc, relay_delivers_its_own_once);
	tcase_add_test(tc, relay_wakeup_makes_consumers_try);
	suite_add_tcase(s, tc);
	return s;
}
