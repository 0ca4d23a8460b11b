/*
 * Producers across nodes in the store, on both backends (bothfix.h).  A
 * tick of an interval or cron producer is taken by one node only, a later
 * tick again, none while the producer is paused, and the node that takes
 * it learns the producer's last job (for overlap); the counts several
 * nodes add up; a command producer is owned by one node at a time, and
 * taken again once its owner gives it up or the rescue clears a dead
 * owner, and never by a node whose lease ran out.  Under SQLite this
 * node takes every tick and owns every producer.
 *
 * On PostgreSQL a second connection acts as the other node, running that
 * node's statements; where both contend at once, the other node's
 * statement is seen waiting for the row this node's open transaction
 * holds before this node commits, and then finds the tick (or the
 * producer) taken.
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "bothfix.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"
#include "store_pg.h"

Suite *store_both_producer_suite(void);

/* Ticks, ms: 2026-12-05T12:00:00Z and the minutes after. */
#define T(n) (1796472000000LL + (n)*60000LL)

/* The other node's id in the nodes table. */
#define OTHER_ID "7"

/* ---- the other node ---- */

/* The other node's statements: its tick is this node's (the same text),
 * its take of a command producer and its additions are what its store
 * would send. */
/* clang-format off */
static const char other_tick[] =
	"UPDATE producers SET last_tick = " PG_TS("$2") " WHERE name = $1"
	" AND NOT paused AND (last_tick IS NULL OR last_tick < " PG_TS("$2")
	") RETURNING last_job";
static const char other_own[] =
	"UPDATE producers SET owner_node = " OTHER_ID ", owner_epoch = 1"
	" WHERE name = $1 AND state < 2 AND NOT paused"
	" AND owner_node IS NULL RETURNING name";
/* clang-format on */

static PGconn *
other_connect(void)
{
	PGconn *c = PQconnectdb(bothfix_conninfo());

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "other node: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Reads r: the rows it returned (the first column of the first in *v,
 * when v is given), or the rows a command changed; -1 when it failed. */
static int
other_rows(PGresult *r, int64_t *v)
{
	int n = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		n = PQntuples(r);
		if (n > 0 && v != NULL)
			*v = PQgetisnull(r, 0, 0)
				     ? 0
				     : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	} else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		n = atoi(PQcmdTuples(r));
	} else {
		fprintf(stderr, "other node: %s", PQresultErrorMessage(r));
	}
	PQclear(r);
	return n;
}

/* Runs sql on the other node with up to two text parameters (NULL: none),
 * blocking: never while this node's transaction holds a row it needs. */
static int
other_exec(PGconn *c, const char *sql, const char *p1, const char *p2,
	   int64_t *v)
{
	const char *params[2] = {p1, p2};
	int n = p2 != NULL ? 2 : p1 != NULL ? 1 : 0;

	return other_rows(PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0),
			  v);
}

/* Waits (10 s at most) until a statement of another connection waits
 * for a lock in this database.  Through the store's own connection, so
 * that the loop runs meanwhile. */
static bool
other_waits_for_lock(void)
{
	static const char sql[] =
		"SELECT count(*) FROM pg_stat_activity WHERE datname ="
		" current_database() AND wait_event_type = 'Lock'";
	double deadline = loop_now() + 10.0;

	while (loop_now() < deadline) {
		PGresult *r;
		int64_t n = 0;

		if (store_pg__read("test lock waiters", sql, NULL, &r) != 0)
			return false;
		n = store_pg__int(r, 0, 0);
		PQclear(r);
		if (n > 0)
			return true;
		await_sleep(0.01);
	}
	return false;
}

static int
put(const char *name, const char *spec)
{
	json_t *o = json_loads(spec, 0, NULL);
	int rc = o != NULL ? store_producer_put(name, o, 1000, false) : -1;

	json_decref(o);
	return rc;
}

static char *
ms_text(char *buf, size_t len, int64_t ms)
{
	snprintf(buf, len, "%lld", (long long)ms);
	return buf;
}

/* ---- ticks ---- */

struct tick_run {
	bool won1, won1_again, won2, won_paused, won3, won_after_other;
	int64_t lj1, lj2, lj3;
	/* PostgreSQL: the other node */
	int other_t3, other_t3_again, other_concurrent;
	bool waited;
	bool won_old, won5, won6;
};

static void
tick_other_f(struct tick_run *r)
{
	PGconn *c = other_connect();
	char t[32];

	CO_EXPECT(c != NULL);
	if (c == NULL)
		return;
	/* The other node reaches T(3) first, and records its job. */
	r->other_t3 = other_exec(c, other_tick, "beat",
				 ms_text(t, sizeof(t), T(3)), NULL);
	r->other_t3_again = other_exec(c, other_tick, "beat", t, NULL);
	CO_EXPECT(other_exec(c,
			     "UPDATE producers SET last_job = 77"
			     " WHERE name = 'beat'",
			     NULL, NULL, NULL) == 1);
	CO_EXPECT(store_producer_tick("beat", T(3), &r->won3, NULL) == 0);
	CO_EXPECT(store_producer_tick("beat", T(2) + 1, &r->won_old, NULL) ==
		  0);
	CO_EXPECT(store_producer_tick("beat", T(4), &r->won_after_other,
				      &r->lj3) == 0);
	CO_EXPECT(store_sync() == 0);

	/* Both reach T(5) at once: this node's transaction holds the row
	 * until it commits; the other node waits, then finds it taken. */
	CO_EXPECT(store_hold() == 0);
	CO_EXPECT(store_producer_tick("beat", T(5), &r->won5, NULL) == 0);
	const char *params[2] = {"beat", ms_text(t, sizeof(t), T(5))};
	CO_EXPECT(PQsendQueryParams(c, other_tick, 2, NULL, params, NULL, NULL,
				    0) == 1);
	r->waited = other_waits_for_lock();
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	r->other_concurrent = other_rows(PQgetResult(c), NULL);
	while ((PQgetResult(c)) != NULL)
		;
	/* And the next tick is anyone's again. */
	CO_EXPECT(store_producer_tick("beat", T(6), &r->won6, NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	PQfinish(c);
}

static void
tick_f(void *arg)
{
	struct tick_run *r = arg;
	struct store_producer_add a = {
		.state = -1, .produced = 1, .last_job = 42};

	CO_EXPECT(put("beat", "{\"type\":\"interval\",\"every\":60}") == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_tick("beat", T(1), &r->won1, &r->lj1) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_tick("beat", T(1), &r->won1_again, NULL) == 0);
	/* The winner's job, for the next winner's overlap. */
	CO_EXPECT(store_producer_add("beat", &a, NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_tick("beat", T(2), &r->won2, &r->lj2) == 0);
	CO_EXPECT(store_producer_set_paused("beat", true) == 0);
	CO_EXPECT(store_producer_tick("beat", T(3) - 1, &r->won_paused, NULL) ==
		  0);
	CO_EXPECT(store_producer_set_paused("beat", false) == 0);
	CO_EXPECT(store_sync() == 0);
	if (bothfix_backend() == BOTHFIX_POSTGRES)
		tick_other_f(r);
}

START_TEST(store_both_producer_tick)
{
	struct tick_run r;

	memset(&r, 0, sizeof(r));
	if (!bothfix_run(__func__, _i, tick_f, &r))
		return;
	ck_assert(r.won1);
	ck_assert_int_eq(r.lj1, 0);
	ck_assert(r.won2);
	if (_i == BOTHFIX_SQLITE) {
		/* One node: every tick is its own; it keeps the last job. */
		ck_assert(r.won1_again);
		ck_assert(r.won_paused);
		ck_assert_int_eq(r.lj2, 0);
		return;
	}
	ck_assert(!r.won1_again);
	ck_assert_int_eq(r.lj2, 42);
	ck_assert(!r.won_paused);
	ck_assert_int_eq(r.other_t3, 1);
	ck_assert_int_eq(r.other_t3_again, 0);
	ck_assert(!r.won3);
	ck_assert(!r.won_old);
	ck_assert(r.won_after_other);
	ck_assert_int_eq(r.lj3, 77);
	ck_assert(r.won5);
	ck_assert(r.waited);
	ck_assert_int_eq(r.other_concurrent, 0);
	ck_assert(r.won6);
}
END_TEST

/* ---- counts ---- */

/* 2026-12-05T12:00:00.123Z */
#define LAST_RUN 1796472000123LL

struct add_run {
	struct store_producer a1, a2, a3, none;
	int64_t anchor_each;
	int n_each;
};

static int
each_anchor(const struct store_producer *p, void *arg)
{
	struct add_run *r = arg;

	r->n_each++;
	r->anchor_each = p->anchor;
	return 0;
}

static void
add_f(void *arg)
{
	struct add_run *r = arg;
	struct store_producer_add a = {
		.state = 0,
		.produced = 2,
		.skipped = 1,
		.last_run = LAST_RUN,
	};

	CO_EXPECT(put("cnt", "{\"type\":\"interval\",\"every\":1}") == 0);
	CO_EXPECT(store_producer_add("cnt", &a, &r->a1) == 0);
	CO_EXPECT(store_sync() == 0);
	if (bothfix_backend() == BOTHFIX_POSTGRES) {
		PGconn *c = other_connect();

		CO_EXPECT(c != NULL);
		if (c != NULL)
			CO_EXPECT(other_exec(c,
					     "UPDATE producers SET produced ="
					     " produced + 3, errors = errors +"
					     " 1 WHERE name = 'cnt'",
					     NULL, NULL, NULL) == 1);
		PQfinish(c);
	}
	/* State kept, counts added, last_run never goes back. */
	a = (struct store_producer_add){
		.state = -1, .produced = 1, .last_run = LAST_RUN - 1000};
	CO_EXPECT(store_producer_add("cnt", &a, &r->a2) == 0);
	a = (struct store_producer_add){.state = 1, .errors = 2};
	CO_EXPECT(store_producer_add("cnt", &a, &r->a3) == 0);
	CO_EXPECT(store_producer_add("nope", &a, &r->none) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_each(each_anchor, r) == 0);
}

START_TEST(store_both_producer_add)
{
	struct add_run r;
	int other = _i == BOTHFIX_POSTGRES;

	memset(&r, 0, sizeof(r));
	r.none.produced = -1;
	if (!bothfix_run(__func__, _i, add_f, &r))
		return;
	ck_assert_int_eq(r.a1.produced, 2);
	ck_assert_int_eq(r.a1.skipped, 1);
	ck_assert_int_eq(r.a1.errors, 0);
	ck_assert_int_eq(r.a1.state, 0);
	ck_assert_int_eq(r.a1.last_run, LAST_RUN);
	ck_assert_uint_eq(r.a1.uid, 1000);
	ck_assert_int_eq(r.a2.produced, 3 + 3 * other);
	ck_assert_int_eq(r.a2.skipped, 1);
	ck_assert_int_eq(r.a2.errors, other);
	ck_assert_int_eq(r.a2.state, 0);
	ck_assert_int_eq(r.a2.last_run, LAST_RUN);
	ck_assert_int_eq(r.a3.produced, 3 + 3 * other);
	ck_assert_int_eq(r.a3.errors, 2 + other);
	ck_assert_int_eq(r.a3.state, 1);
	ck_assert_int_eq(r.a3.last_run, LAST_RUN);
	ck_assert_int_eq(r.none.produced, 0);
	ck_assert_int_eq(r.n_each, 1);
	/* Every node reads the same anchor (PostgreSQL); SQLite keeps
	 * none. */
	if (other) {
		ck_assert_int_gt(r.a1.anchor, 0);
		ck_assert_int_eq(r.a3.anchor, r.a1.anchor);
		ck_assert_int_eq(r.anchor_each, r.a1.anchor);
	} else {
		ck_assert_int_eq(r.anchor_each, 0);
	}
}
END_TEST

/* ---- owners ---- */

struct own_run {
	bool own1, own1_again;
	/* PostgreSQL: the other node */
	int other_after_disown, other_concurrent, other_first;
	bool waited;
	bool own2, own3, own3_rescued, own_paused, own_ended;
	bool own_lapsed, own_renewed;
	struct store_producer row3;
	int64_t owned_left;
};

static void
own_other_f(struct own_run *r)
{
	PGconn *c = other_connect();
	int64_t n = -1;

	CO_EXPECT(c != NULL);
	if (c == NULL)
		return;
	CO_EXPECT(other_exec(c,
			     "INSERT INTO nodes (id, name, instance,"
			     " lease_until) VALUES (" OTHER_ID ", 'other',"
			     " gen_random_uuid(), now() + interval '1 hour')",
			     NULL, NULL, NULL) == 1);
	/* Given up: the other node takes it. */
	CO_EXPECT(store_producer_disown("gen") == 0);
	CO_EXPECT(store_sync() == 0);
	r->other_after_disown = other_exec(c, other_own, "gen", NULL, NULL);

	/* Both at once: this node's take holds the row; the other waits,
	 * then finds it owned. */
	CO_EXPECT(store_hold() == 0);
	CO_EXPECT(store_producer_own("gen2", &r->own2, NULL) == 0);
	const char *params[1] = {"gen2"};
	CO_EXPECT(PQsendQueryParams(c, other_own, 1, NULL, params, NULL, NULL,
				    0) == 1);
	r->waited = other_waits_for_lock();
	store_unhold();
	CO_EXPECT(store_sync() == 0);
	r->other_concurrent = other_rows(PQgetResult(c), NULL);
	while ((PQgetResult(c)) != NULL)
		;

	/* The other node owns gen3 and counts; this node sees its counts.
	 * It dies: the rescue deletes its row and frees what it owned (gen
	 * and gen3). */
	r->other_first = other_exec(c, other_own, "gen3", NULL, NULL);
	CO_EXPECT(other_exec(c,
			     "UPDATE producers SET produced = produced + 5"
			     " WHERE name = 'gen3'",
			     NULL, NULL, NULL) == 1);
	CO_EXPECT(store_producer_own("gen3", &r->own3, &r->row3) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other_exec(
			  c,
			  "WITH dead AS (DELETE FROM nodes WHERE id = " OTHER_ID
			  " RETURNING id) UPDATE producers p SET owner_node"
			  " = NULL FROM dead WHERE p.owner_node = dead.id",
			  NULL, NULL, NULL) == 2);
	CO_EXPECT(store_producer_own("gen3", &r->own3_rescued, NULL) == 0);
	CO_EXPECT(store_sync() == 0);

	/* Paused or ended: no one takes it. */
	CO_EXPECT(store_producer_disown("gen3") == 0);
	CO_EXPECT(store_producer_set_paused("gen3", true) == 0);
	CO_EXPECT(store_producer_own("gen3", &r->own_paused, NULL) == 0);
	CO_EXPECT(store_producer_counters("gen4", 2, 0, 0, 0, 0) == 0);
	CO_EXPECT(store_producer_own("gen4", &r->own_ended, NULL) == 0);
	CO_EXPECT(store_producer_counters("gen4", 3, 0, 0, 0, 0) == 0);
	bool failed_owned = true;
	CO_EXPECT(store_producer_own("gen4", &failed_owned, NULL) == 0);
	CO_EXPECT(!failed_owned);
	CO_EXPECT(store_sync() == 0);

	/* A node whose lease ran out takes nothing (its generator could
	 * outlive the rescue). */
	char me[32];
	snprintf(me, sizeof(me), "%lld", (long long)store_node_id());
	CO_EXPECT(store_node_id() > 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other_exec(c,
			     "UPDATE nodes SET lease_until = now() - interval"
			     " '1 second' WHERE id = $1",
			     me, NULL, NULL) == 1);
	CO_EXPECT(store_producer_own("gen5", &r->own_lapsed, NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other_exec(c,
			     "UPDATE nodes SET lease_until = now() + interval"
			     " '1 hour' WHERE id = $1",
			     me, NULL, NULL) == 1);
	CO_EXPECT(store_producer_own("gen5", &r->own_renewed, NULL) == 0);
	CO_EXPECT(store_sync() == 0);

	/* At start, whatever this node owned is free. */
	CO_EXPECT(store_producer_disown(NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(other_exec(c,
			     "SELECT count(*) FROM producers"
			     " WHERE owner_node IS NOT NULL AND owner_node "
			     "<> " OTHER_ID,
			     NULL, NULL, &n) == 1);
	r->owned_left = n;
	PQfinish(c);
}

static void
own_f(void *arg)
{
	struct own_run *r = arg;
	static const char cmd[] =
		"{\"type\":\"command\",\"generator\":{\"argv\":[\"seq\"]}}";

	CO_EXPECT(put("gen", cmd) == 0);
	CO_EXPECT(put("gen2", cmd) == 0);
	CO_EXPECT(put("gen3", cmd) == 0);
	CO_EXPECT(put("gen4", cmd) == 0);
	CO_EXPECT(put("gen5", cmd) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_own("gen", &r->own1, NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_producer_own("gen", &r->own1_again, NULL) == 0);
	CO_EXPECT(store_sync() == 0);
	if (bothfix_backend() == BOTHFIX_POSTGRES)
		own_other_f(r);
}

START_TEST(store_both_producer_own)
{
	struct own_run r;

	memset(&r, 0, sizeof(r));
	r.owned_left = -1;
	if (!bothfix_run(__func__, _i, own_f, &r))
		return;
	ck_assert(r.own1);
	if (_i == BOTHFIX_SQLITE) {
		/* One node: it owns every producer. */
		ck_assert(r.own1_again);
		return;
	}
	/* Owned already: not taken twice (a replaced definition waits). */
	ck_assert(!r.own1_again);
	ck_assert_int_eq(r.other_after_disown, 1);
	ck_assert(r.own2);
	ck_assert(r.waited);
	ck_assert_int_eq(r.other_concurrent, 0);
	ck_assert_int_eq(r.other_first, 1);
	ck_assert(!r.own3);
	ck_assert_int_eq(r.row3.produced, 5);
	ck_assert_int_eq(r.row3.state, 0);
	ck_assert(r.own3_rescued);
	ck_assert(!r.own_paused);
	ck_assert(!r.own_ended);
	ck_assert(!r.own_lapsed);
	ck_assert(r.own_renewed);
	ck_assert_int_eq(r.owned_left, 0);
}
END_TEST

Suite *
store_both_producer_suite(void)
{
	Suite *s = suite_create("store_both_producer");
	TCase *tc = tcase_create("nodes");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, store_both_producer_tick, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_producer_add, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_producer_own, 0, BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
