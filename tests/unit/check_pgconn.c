/*
 * Tests of pgconn against a real PostgreSQL server (tests/integration/
 * pgfix.h, one server for the suite): statements of one loop iteration go
 * in one batch, a failed statement aborts only the rest of its batch, the
 * loop runs on while a statement waits, a lost or silent connection fails
 * its waiters, notifications arrive, scripts run outside pipeline mode.
 * Without PostgreSQL each test says it is skipped and passes.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "../integration/pgfix.h"
#include "await.h"
#include "coro.h"
#include "diag.h"
#include "loop.h"
#include "loopfix.h"
#include "pgconn.h"

Suite *pgconn_suite(void);

static struct pgfix srv;
static bool srv_up;

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

/* False, saying why, when the suite has no server. */
static bool
have_server(const char *test)
{
	if (!srv_up)
		fprintf(stderr, "%s: skipped: %s\n", test, srv.why);
	return srv_up;
}

/* An int from row 0, column 0 of res (freed). */
static long
int_of(PGresult *res)
{
	long v = res != NULL && PQntuples(res) > 0
			 ? strtol(PQgetvalue(res, 0, 0), NULL, 10)
			 : -1;

	PQclear(res);
	return v;
}

/* ---- round trips, batches, the loop kept running ---- */

struct tick_arg {
	bool stop;
	int ticks;
};

static void
ticker_f(void *arg)
{
	struct tick_arg *t = arg;

	while (!t->stop) {
		await_sleep(0.01);
		t->ticks++;
	}
}

static void
roundtrip_main_f(void *arg)
{
	struct tick_arg *t = arg;
	struct pgconn *pc = pgconn_connect(pgfix_conninfo(&srv), 10);
	PGresult *res = NULL;
	const char *v[] = {"41"};

	CO_EXPECT(pc != NULL);
	if (pc == NULL)
		return;
	CO_EXPECT(pgconn_query(pc, "SELECT $1::int + 1", 1, v, &res) == 0);
	CO_EXPECT(int_of(res) == 42);
	CO_EXPECT(pgconn_prepare(pc, "twice", "SELECT $1::int * 2") == 0);
	CO_EXPECT(pgconn_exec(pc, "twice", 1, v, &res) == 0);
	CO_EXPECT(int_of(res) == 82);
	/* While the server sleeps, the loop runs other coroutines. */
	struct coro *tk = coro_spawn("ticker", ticker_f, t);

	CO_EXPECT(pgconn_query(pc, "SELECT pg_sleep(0.3)", 0, NULL, NULL) == 0);
	t->stop = true;
	coro_join(tk);
	CO_EXPECT(pgconn_pending(pc) == 0);
	CO_EXPECT(pgconn_ok(pc));
	pgconn_delete(pc);
}

START_TEST(pgconn_roundtrip_keeps_the_loop_running)
{
	struct tick_arg t = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(roundtrip_main_f, &t);
	ck_assert_msg(t.ticks >= 10, "the loop ticked %d times in 0.3 s",
		      t.ticks);
	loopfix_teardown();
}
END_TEST

#define NBATCH 50

struct batch_arg {
	struct pgconn *pc;
	char at[NBATCH][64]; /* each statement's transaction start */
	int done;
};

struct batch_one {
	struct batch_arg *b;
	int i;
};

static void
batch_one_f(void *arg)
{
	struct batch_one *o = arg;
	PGresult *res = NULL;

	CO_EXPECT(pgconn_query(o->b->pc, "SELECT now()::text", 0, NULL, &res) ==
		  0);
	if (res != NULL && PQntuples(res) == 1)
		snprintf(o->b->at[o->i], sizeof(o->b->at[o->i]), "%s",
			 PQgetvalue(res, 0, 0));
	PQclear(res);
	o->b->done++;
}

static void
batch_main_f(void *arg)
{
	struct batch_arg *b = arg;
	struct batch_one one[NBATCH];
	struct coro *c[NBATCH];

	b->pc = pgconn_connect(pgfix_conninfo(&srv), 10);
	CO_EXPECT(b->pc != NULL);
	if (b->pc == NULL)
		return;
	for (int i = 0; i < NBATCH; i++) {
		one[i] = (struct batch_one){b, i};
		c[i] = coro_spawn("batch", batch_one_f, &one[i]);
	}
	for (int i = 0; i < NBATCH; i++)
		coro_join(c[i]);
	pgconn_delete(b->pc);
}

/* Statements sent in one loop iteration end with one Sync, so the server
 * runs them in one implicit transaction: now() is the same for all. */
START_TEST(pgconn_one_iteration_is_one_batch)
{
	struct batch_arg b = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(batch_main_f, &b);
	ck_assert_int_eq(b.done, NBATCH);
	for (int i = 1; i < NBATCH; i++)
		ck_assert_str_eq(b.at[i], b.at[0]);
	loopfix_teardown();
}
END_TEST

/* ---- failures ---- */

struct fail_arg {
	struct pgconn *pc;
	int rc_bad, rc_after;
	char sqlstate[8];
	char msg_after[256];
	long later;
};

static void
fail_after_f(void *arg)
{
	struct fail_arg *a = arg;

	a->rc_after = pgconn_query(a->pc, "SELECT 1", 0, NULL, NULL);
	snprintf(a->msg_after, sizeof(a->msg_after), "%s", diag_msg());
}

static void
fail_main_f(void *arg)
{
	struct fail_arg *a = arg;
	PGresult *res = NULL;

	a->pc = pgconn_connect(pgfix_conninfo(&srv), 10);
	CO_EXPECT(a->pc != NULL);
	if (a->pc == NULL)
		return;
	/* Sent in this iteration, after the failing one below. */
	struct coro *after = coro_spawn("after", fail_after_f, a);

	a->rc_bad = pgconn_query(a->pc, "SELECT 1 / 0", 0, NULL, &res);
	CO_EXPECT(strstr(diag_msg(), "division by zero") != NULL);
	CO_EXPECT(diag_code() == E_DB);
	if (res != NULL)
		snprintf(a->sqlstate, sizeof(a->sqlstate), "%s",
			 PQresultErrorField(res, PG_DIAG_SQLSTATE));
	PQclear(res);
	coro_join(after);
	/* The next batch runs. */
	CO_EXPECT(pgconn_query(a->pc, "SELECT 7", 0, NULL, &res) == 0);
	a->later = int_of(res);
	pgconn_delete(a->pc);
}

START_TEST(pgconn_error_aborts_only_its_batch)
{
	struct fail_arg a = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(fail_main_f, &a);
	ck_assert_int_eq(a.rc_bad, -1);
	ck_assert_str_eq(a.sqlstate, "22012");
	ck_assert_int_eq(a.rc_after, -1);
	ck_assert_msg(strstr(a.msg_after, "earlier statement") != NULL, "%s",
		      a.msg_after);
	ck_assert_int_eq(a.later, 7);
	loopfix_teardown();
}
END_TEST

struct lost_arg {
	int rc, rc_again;
	double took;
	char msg[256];
	bool ok_after;
};

static void
lost_main_f(void *arg)
{
	struct lost_arg *a = arg;
	struct pgconn *victim = pgconn_connect(pgfix_conninfo(&srv), 10);
	struct pgconn *killer = pgconn_connect(pgfix_conninfo(&srv), 10);
	PGresult *res = NULL;
	char pid[32];
	const char *v[] = {pid};

	CO_EXPECT(victim != NULL && killer != NULL);
	if (victim == NULL || killer == NULL)
		return;
	CO_EXPECT(pgconn_query(victim, "SELECT pg_backend_pid()", 0, NULL,
			       &res) == 0);
	snprintf(pid, sizeof(pid), "%ld", int_of(res));
	/* The killer ends the victim's backend while it sleeps. */
	CO_EXPECT(pgconn_send(victim, "SELECT pg_sleep(20)", 0, NULL, NULL,
			      NULL) == 0);
	CO_EXPECT(pgconn_query(killer, "SELECT pg_sleep(0.2)", 0, NULL, NULL) ==
		  0);
	CO_EXPECT(pgconn_query(killer, "SELECT pg_terminate_backend($1::int)",
			       1, v, NULL) == 0);
	double t0 = loopfix_mono();

	a->rc = pgconn_query(victim, "SELECT 1", 0, NULL, NULL);
	a->took = loopfix_mono() - t0;
	snprintf(a->msg, sizeof(a->msg), "%s", diag_msg());
	a->ok_after = pgconn_ok(victim);
	a->rc_again = pgconn_query(victim, "SELECT 1", 0, NULL, NULL);
	pgconn_delete(victim);
	pgconn_delete(killer);
}

START_TEST(pgconn_lost_connection_fails_its_waiters)
{
	struct lost_arg a = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(lost_main_f, &a);
	ck_assert_int_eq(a.rc, -1);
	ck_assert_msg(a.took < 3, "learned of the loss in %.2f s", a.took);
	ck_assert_msg(strstr(a.msg, "postgres:") != NULL, "%s", a.msg);
	ck_assert(!a.ok_after);
	ck_assert_int_eq(a.rc_again, -1);
	loopfix_teardown();
}
END_TEST

struct timeout_arg {
	int rc;
	double took;
	char msg[256];
};

static void
timeout_main_f(void *arg)
{
	struct timeout_arg *a = arg;
	struct pgconn *pc = pgconn_connect(pgfix_conninfo(&srv), 0.5);

	CO_EXPECT(pc != NULL);
	if (pc == NULL)
		return;
	double t0 = loopfix_mono();

	a->rc = pgconn_query(pc, "SELECT pg_sleep(4)", 0, NULL, NULL);
	a->took = loopfix_mono() - t0;
	snprintf(a->msg, sizeof(a->msg), "%s", diag_msg());
	pgconn_delete(pc);
}

START_TEST(pgconn_silent_server_times_out)
{
	struct timeout_arg a = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(timeout_main_f, &a);
	ck_assert_int_eq(a.rc, -1);
	/* The timer counts from the loop's clock, read when the loop last
	 * polled: up to a few ms before t0 (many more under Valgrind). */
	ck_assert_msg(a.took >= 0.4 && a.took < 2.5, "gave up after %.3f s",
		      a.took);
	ck_assert_msg(strstr(a.msg, "no answer in 0.5 s") != NULL, "%s", a.msg);
	loopfix_teardown();
}
END_TEST

struct connect_arg {
	char bad_dir[256], bad_syntax[256];
	bool got_null[2];
};

static void
connect_main_f(void *arg)
{
	struct connect_arg *a = arg;
	struct pgconn *pc;

	pc = pgconn_connect("host=/nonexistent/jobd-test dbname=x", 5);
	a->got_null[0] = pc == NULL;
	snprintf(a->bad_dir, sizeof(a->bad_dir), "%s", diag_msg());
	pgconn_delete(pc);
	pc = pgconn_connect("host='unterminated", 5);
	a->got_null[1] = pc == NULL;
	snprintf(a->bad_syntax, sizeof(a->bad_syntax), "%s", diag_msg());
	pgconn_delete(pc);
}

START_TEST(pgconn_connect_failures_say_why)
{
	struct connect_arg a = {0};

	loopfix_setup();
	loopfix_run(connect_main_f, &a);
	ck_assert(a.got_null[0] && a.got_null[1]);
	ck_assert_msg(strstr(a.bad_dir, "postgres: cannot connect:") != NULL,
		      "%s", a.bad_dir);
	ck_assert_msg(strstr(a.bad_syntax, "bad connection string") != NULL,
		      "%s", a.bad_syntax);
	loopfix_teardown();
}
END_TEST

/* ---- notifications, sends, scripts, big statements ---- */

struct notify_arg {
	char got[64];
	int calls;
	struct coro *main;
	char sent_result[32], sent_err[256];
	int sent_calls;
};

static void
on_notify(const char *channel, const char *payload, void *arg)
{
	struct notify_arg *a = arg;

	snprintf(a->got, sizeof(a->got), "%s:%s", channel, payload);
	a->calls++;
	coro_wakeup(a->main);
}

static void
on_sent(PGresult *res, const char *err, void *arg)
{
	struct notify_arg *a = arg;

	a->sent_calls++;
	if (res != NULL)
		snprintf(a->sent_result, sizeof(a->sent_result), "%s",
			 PQgetvalue(res, 0, 0));
	if (err != NULL)
		snprintf(a->sent_err, sizeof(a->sent_err), "%s", err);
}

static void
notify_main_f(void *arg)
{
	struct notify_arg *a = arg;
	struct pgconn *l = pgconn_connect(pgfix_conninfo(&srv), 10);
	struct pgconn *s = pgconn_connect(pgfix_conninfo(&srv), 10);

	a->main = coro_self();
	CO_EXPECT(l != NULL && s != NULL);
	if (l == NULL || s == NULL)
		return;
	pgconn_on_notify(l, on_notify, a);
	CO_EXPECT(pgconn_query(l, "LISTEN jobd_test", 0, NULL, NULL) == 0);
	CO_EXPECT(pgconn_send(s, "SELECT pg_notify('jobd_test', 'hello'), 5", 0,
			      NULL, on_sent, a) == 0);
	while (a->calls == 0)
		CO_EXPECT(await_wakeup(3) == 0);
	/* A send whose connection closes unanswered hears of it. */
	CO_EXPECT(pgconn_send(s, "SELECT pg_sleep(10)", 0, NULL, on_sent, a) ==
		  0);
	pgconn_delete(s);
	pgconn_delete(l);
}

START_TEST(pgconn_notifications_and_sends)
{
	struct notify_arg a = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(notify_main_f, &a);
	ck_assert_str_eq(a.got, "jobd_test:hello");
	ck_assert_int_eq(a.sent_calls, 2);
	ck_assert_str_eq(a.sent_result, "");
	ck_assert_msg(strstr(a.sent_err, "connection closed") != NULL, "%s",
		      a.sent_err);
	loopfix_teardown();
}
END_TEST

struct script_arg {
	long rows;
	int rc_bad;
	char msg[256];
	long after;
	long big;
};

static void
script_main_f(void *arg)
{
	struct script_arg *a = arg;
	struct pgconn *pc = pgconn_connect(pgfix_conninfo(&srv), 10);
	PGresult *res = NULL;

	CO_EXPECT(pc != NULL);
	if (pc == NULL)
		return;
	CO_EXPECT(pgconn_script(pc,
				"CREATE TABLE s1 (x int);"
				"INSERT INTO s1 VALUES (1), (2), (3);") == 0);
	CO_EXPECT(pgconn_query(pc, "SELECT count(*) FROM s1", 0, NULL, &res) ==
		  0);
	a->rows = int_of(res);
	/* A script stops at its first error, whose text comes back; the
	 * statements before it are rolled back with it. */
	a->rc_bad = pgconn_script(pc, "INSERT INTO s1 VALUES (4);"
				      "SELECT * FROM no_such_table;");
	snprintf(a->msg, sizeof(a->msg), "%s", diag_msg());
	CO_EXPECT(pgconn_query(pc, "SELECT count(*) FROM s1", 0, NULL, &res) ==
		  0);
	a->after = int_of(res);
	/* A statement bigger than the socket's buffers goes out in parts. */
	size_t n = 8u << 20;
	char *big = malloc(n + 1);

	memset(big, 'x', n);
	big[n] = '\0';
	const char *v[] = {big};

	CO_EXPECT(pgconn_query(pc, "SELECT length($1)", 1, v, &res) == 0);
	a->big = int_of(res);
	free(big);
	pgconn_delete(pc);
}

START_TEST(pgconn_scripts_and_big_statements)
{
	struct script_arg a = {0};

	if (!have_server(__func__))
		return;
	loopfix_setup();
	loopfix_run(script_main_f, &a);
	ck_assert_int_eq(a.rows, 3);
	ck_assert_int_eq(a.rc_bad, -1);
	ck_assert_msg(strstr(a.msg, "no_such_table") != NULL, "%s", a.msg);
	ck_assert_int_eq(a.after, 3);
	ck_assert_int_eq(a.big, 8 << 20);
	loopfix_teardown();
}
END_TEST

Suite *
pgconn_suite(void)
{
	Suite *s = suite_create("pgconn");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, server_setup, server_teardown);
	tcase_add_test(tc, pgconn_roundtrip_keeps_the_loop_running);
	tcase_add_test(tc, pgconn_one_iteration_is_one_batch);
	tcase_add_test(tc, pgconn_error_aborts_only_its_batch);
	tcase_add_test(tc, pgconn_lost_connection_fails_its_waiters);
	tcase_add_test(tc, pgconn_silent_server_times_out);
	tcase_add_test(tc, pgconn_connect_failures_say_why);
	tcase_add_test(tc, pgconn_notifications_and_sends);
	tcase_add_test(tc, pgconn_scripts_and_big_statements);
	suite_add_tcase(s, tc);
	return s;
}
