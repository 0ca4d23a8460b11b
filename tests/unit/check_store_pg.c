/*
 * Tests of the PostgreSQL store's schema runner (store_pg_init_db) against
 * a real server (tests/integration/pgfix.h, one for the suite, a database
 * per test): a fresh database gets the whole schema, a current one is left
 * alone, one that needs a newer jobd is refused untouched, a newer one
 * this jobd can use is used as it is, and nodes starting together migrate
 * once.  Without PostgreSQL each test says it is skipped and passes.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../integration/pgfix.h"
#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loopfix.h"
#include "bothfix.h"
#include "queue_conf.h"
#include "store.h"
#include "store_pg.h"

Suite *store_pg_suite(void);

static struct pgfix srv;
static bool srv_up;
static int ndb;
static char conninfo[512];

static void
server_setup(void)
{
	srv_up = pgfix_start(&srv) == 0;
}

static void
server_teardown(void)
{
	if (srv_up)
		pgfix_stop(&srv);
	srv_up = false;
}

/* Makes a fresh database for the test and points conninfo at it; false,
 * saying why, when the suite has no server. */
static bool
fresh_db(const char *test)
{
	char name[32];

	if (!srv_up) {
		fprintf(stderr, "%s: skipped: %s\n", test, srv.why);
		return false;
	}
	snprintf(name, sizeof(name), "t%d_%d", (int)getpid(), ++ndb);
	ck_assert_msg(pgfix_createdb(&srv, name) == 0, "%s", srv.why);
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s",
		 pgfix_conninfo(&srv), name);
	return true;
}

/* Runs sql on the test's database with blocking libpq (the test's own
 * look at it); returns the first value, or "" (static). */
static const char *
peek(const char *sql)
{
	static char out[128];
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK ||
			      PQresultStatus(r) == PGRES_COMMAND_OK,
		      "%s: %s", sql, PQresultErrorMessage(r));
	snprintf(out, sizeof(out), "%s",
		 PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
	return out;
}

struct init_arg {
	int rc[2];
	int from[2], to[2];
	char msg[2][256];
	int n; /* how many runs */
};

static void
init_one(struct init_arg *a, int i)
{
	a->rc[i] = store_pg_init_db(conninfo, &a->from[i], &a->to[i]);
	snprintf(a->msg[i], sizeof(a->msg[i]), "%s", diag_msg());
}

static void
init_second_f(void *arg)
{
	init_one(arg, 1);
}

static void
init_main_f(void *arg)
{
	struct init_arg *a = arg;
	struct coro *c = NULL;

	if (a->n == 2)
		c = coro_spawn("second", init_second_f, a);
	init_one(a, 0);
	if (c != NULL)
		coro_join(c);
}

/* Runs store_pg_init_db n times at once (1 or 2) on a fresh loop. */
static void
run_init(struct init_arg *a, int n)
{
	memset(a, 0, sizeof(*a));
	a->n = n;
	log_set_level(LOG_LEVEL_WARNING);
	loopfix_setup();
	loopfix_run(init_main_f, a);
	loopfix_teardown();
}

START_TEST(store_pg_init_db_makes_then_keeps_the_schema)
{
	struct init_arg a;
	char want[16];

	if (!fresh_db(__func__))
		return;
	snprintf(want, sizeof(want), "%d", STORE_PG_SCHEMA_VERSION);
	run_init(&a, 1);
	ck_assert_msg(a.rc[0] == 0, "%s", a.msg[0]);
	ck_assert_int_eq(a.from[0], 0);
	ck_assert_int_eq(a.to[0], STORE_PG_SCHEMA_VERSION);
	ck_assert_str_eq(peek("SELECT version FROM jobd_schema"), want);
	ck_assert_str_eq(peek("SELECT to_regclass('jobs') IS NOT NULL"), "t");
	/* Again: nothing to do, nothing done. */
	peek("INSERT INTO nodes (name, instance, lease_until) VALUES "
	     "('kept', gen_random_uuid(), now())");
	run_init(&a, 1);
	ck_assert_msg(a.rc[0] == 0, "%s", a.msg[0]);
	ck_assert_int_eq(a.from[0], STORE_PG_SCHEMA_VERSION);
	ck_assert_int_eq(a.to[0], STORE_PG_SCHEMA_VERSION);
	ck_assert_str_eq(peek("SELECT count(*) FROM nodes"), "1");
}
END_TEST

START_TEST(store_pg_init_db_refuses_a_schema_for_newer_nodes)
{
	struct init_arg a;
	char sql[128], want[64];

	if (!fresh_db(__func__))
		return;
	run_init(&a, 1);
	ck_assert_msg(a.rc[0] == 0, "%s", a.msg[0]);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobd_schema SET version = %d, compat = %d",
		 STORE_PG_SCHEMA_VERSION + 5, STORE_PG_SCHEMA_VERSION + 1);
	peek(sql);
	run_init(&a, 1);
	ck_assert_int_eq(a.rc[0], -1);
	snprintf(want, sizeof(want), "needs jobd schema %d or newer",
		 STORE_PG_SCHEMA_VERSION + 1);
	ck_assert_msg(strstr(a.msg[0], want) != NULL, "%s", a.msg[0]);
	snprintf(want, sizeof(want), "%d", STORE_PG_SCHEMA_VERSION + 5);
	ck_assert_str_eq(peek("SELECT version FROM jobd_schema"), want);
	/* A newer schema whose changes were all additive is used as is. */
	snprintf(sql, sizeof(sql), "UPDATE jobd_schema SET compat = %d",
		 STORE_PG_SCHEMA_VERSION);
	peek(sql);
	run_init(&a, 1);
	ck_assert_msg(a.rc[0] == 0, "%s", a.msg[0]);
	ck_assert_int_eq(a.from[0], STORE_PG_SCHEMA_VERSION + 5);
	ck_assert_int_eq(a.to[0], STORE_PG_SCHEMA_VERSION + 5);
	ck_assert_str_eq(peek("SELECT version FROM jobd_schema"), want);
}
END_TEST

/* Two nodes starting at once: the advisory lock lets one migrate, and the
 * other finds the schema made. */
START_TEST(store_pg_init_db_migrates_once_when_nodes_race)
{
	struct init_arg a;

	if (!fresh_db(__func__))
		return;
	run_init(&a, 2);
	ck_assert_msg(a.rc[0] == 0, "%s", a.msg[0]);
	ck_assert_msg(a.rc[1] == 0, "%s", a.msg[1]);
	ck_assert_int_eq(a.to[0], STORE_PG_SCHEMA_VERSION);
	ck_assert_int_eq(a.to[1], STORE_PG_SCHEMA_VERSION);
	ck_assert_msg((a.from[0] == 0) != (a.from[1] == 0),
		      "both or neither migrated: from %d and %d", a.from[0],
		      a.from[1]);
}
END_TEST

START_TEST(store_pg_init_db_without_a_server_says_why)
{
	struct init_arg a;

	snprintf(conninfo, sizeof(conninfo),
		 "host=/nonexistent/jobd-test dbname=jobd");
	run_init(&a, 1);
	ck_assert_int_eq(a.rc[0], -1);
	ck_assert_msg(strstr(a.msg[0], "postgres: cannot connect") != NULL,
		      "%s", a.msg[0]);
}
END_TEST

/* ---- a commit that fails in its own batch ---- */

struct lost_arg {
	int bad_rc, sync_rc, after_rc, again_rc;
	char after_msg[256];
};

static void
bad_write_f(void *arg)
{
	struct lost_arg *a = arg;

	a->bad_rc = store_pg__write("bad", "SELECT 1 / 0", NULL, NULL);
}

/* A statement that fails in the batch whose COMMIT is already sent (a
 * reporter waited, so the commit went at once): the COMMIT is answered
 * with an error and the server's transaction is left aborted; it must be
 * rolled back there, or every statement of the next group transaction
 * fails ("current transaction is aborted"). */
static void
commit_lost_f(void *arg)
{
	struct lost_arg *a = arg;
	struct queue_conf qc;
	int64_t id;
	struct coro *c;

	if (bothfix_backend() != BOTHFIX_POSTGRES)
		return;
	/* Held, so that however slow the machine, no commit takes the
	 * first write alone before the bad one joins its transaction. */
	CO_EXPECT(store_hold() == 0);
	queue_conf_init(&qc, "before");
	CO_EXPECT(store_queue_insert(&qc, false, &id) == 0);
	/* The bad write runs in the pass where this coroutine waits for
	 * the commit, so the flush sends the COMMIT at once, after it. */
	c = coro_spawn("bad", bad_write_f, a);
	store_unhold();
	a->sync_rc = store_sync();
	coro_join(c);
	queue_conf_init(&qc, "after");
	a->after_rc = store_queue_insert(&qc, false, &id);
	snprintf(a->after_msg, sizeof(a->after_msg), "%s", diag_msg());
	a->again_rc = store_sync();
}

START_TEST(store_pg_failed_commit_is_rolled_back)
{
	struct lost_arg a = {0};

	if (!bothfix_run(__func__, BOTHFIX_POSTGRES, commit_lost_f, &a))
		return;
	ck_assert_int_eq(a.bad_rc, -1);
	ck_assert_int_eq(a.sync_rc, -1);
	ck_assert_msg(a.after_rc == 0, "the next write failed: %s",
		      a.after_msg);
	ck_assert_int_eq(a.again_rc, 0);
}
END_TEST

/* ---- prepared statements ---- */

/* How many statements of text sql the connection has prepared. */
static int64_t
prepared_count(const char *sql)
{
	struct store_pg__args a = {0};
	PGresult *r = NULL;
	int64_t n = -1;

	store_pg__arg_text(&a, sql);
	CO_EXPECT(store_pg__read("count",
				 "SELECT count(*) FROM "
				 "pg_prepared_statements WHERE "
				 "statement = $1",
				 &a, &r) == 0);
	if (r != NULL)
		n = store_pg__int(r, 0, 0);
	PQclear(r);
	return n;
}

/* Each text is prepared once per connection and run by name after; one
 * whose prepare failed is prepared again (and fails again), without
 * harming the others. */
static void
prepared_f(void *arg)
{
	static const char one[] = "SELECT 41 + 1";
	static const char bad[] = "SELEC 1";
	PGresult *r = NULL;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		CO_EXPECT(store_pg__read("one", one, NULL, &r) == 0);
		CO_EXPECT(r != NULL && store_pg__int(r, 0, 0) == 42);
		PQclear(r);
		r = NULL;
	}
	CO_EXPECT(prepared_count(one) == 1);
	for (int i = 0; i < 2; i++) {
		CO_EXPECT(store_pg__read("bad", bad, NULL, NULL) == -1);
		CO_EXPECT(strstr(diag_msg(), "syntax error") != NULL);
	}
	CO_EXPECT(prepared_count(bad) == 0);
	CO_EXPECT(store_pg__read("one", one, NULL, &r) == 0);
	CO_EXPECT(r != NULL && store_pg__int(r, 0, 0) == 42);
	PQclear(r);
}

START_TEST(store_pg_statements_are_prepared_once)
{
	bothfix_run(__func__, BOTHFIX_POSTGRES, prepared_f, NULL);
}
END_TEST

Suite *
store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *tc = tcase_create("init_db");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, server_setup, server_teardown);
	tcase_add_test(tc, store_pg_init_db_makes_then_keeps_the_schema);
	tcase_add_test(tc, store_pg_init_db_refuses_a_schema_for_newer_nodes);
	tcase_add_test(tc, store_pg_init_db_migrates_once_when_nodes_race);
	tcase_add_test(tc, store_pg_init_db_without_a_server_says_why);
	suite_add_tcase(s, tc);
	tc = tcase_create("commits");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_add_test(tc, store_pg_failed_commit_is_rolled_back);
	tcase_add_test(tc, store_pg_statements_are_prepared_once);
	suite_add_tcase(s, tc);
	return s;
}
