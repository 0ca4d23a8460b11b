/*
 * Tests of the PostgreSQL schema (store_pg_sql.c) on a real server: the
 * migrations apply in order, each in one transaction, and not twice; the
 * counts triggers keep queue_counts equal to the jobs, whatever statements
 * change them and whichever node makes them; the unique keys of live jobs
 * hold; the claim takes the best ready jobs, at most as many as asked,
 * skipping locked ones, and none once the node's lease has expired; a
 * node registers and is rescued; and every column of SQLite's tables has
 * its place in PostgreSQL's, so that a column added to one backend alone
 * fails here.
 *
 * One server (pgfix.h) serves the suite, started by an unchecked fixture
 * (once, before the tests fork); each test makes a database of its own.
 * Where PostgreSQL is not installed, each test says why it skips and
 * passes.  The connections are blocking libpq: a test has no loop.
 */
#include <check.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/pgfix.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"

Suite *pg_schema_suite(void);

/* The suite's server, and whether it runs (pgfix_start's answer). */
static struct pgfix srv;
static bool have_pg;

static void
server_start(void)
{
	have_pg = pgfix_start(&srv) == 0;
}

static void
server_stop(void)
{
	pgfix_stop(&srv);
}

/* A connection to the database name, or fails the test. */
static PGconn *
connect_db(const char *name)
{
	char conninfo[512];

	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s",
		 pgfix_conninfo(&srv), name);
	return pgfix_connect(conninfo);
}

/* A connection to a new database name, or NULL when there is no server
 * (test then says it skips). */
static PGconn *
fresh_db(const char *name, const char *test)
{
	if (!have_pg) {
		fprintf(stderr, "%s: skipped: %s\n", test, srv.why);
		return NULL;
	}
	ck_assert_msg(pgfix_createdb(&srv, name) == 0, "createdb %s: %s", name,
		      srv.why);
	return connect_db(name);
}

/* Runs sql, which must fail with SQLSTATE state (NULL: any). */
static void
exec_fails(PGconn *c, const char *sql, const char *state)
{
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR,
		      "%s: did not fail", sql);
	const char *got = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	ck_assert_msg(state == NULL || (got != NULL && strcmp(got, state) == 0),
		      "%s: failed with %s, not %s: %s", sql, got ? got : "?",
		      state, PQerrorMessage(c));
	PQclear(r);
}

/* Applies every migration in order, each in a transaction of its own.
 * The runner's own table and row (store_pg_init_db) are the store_pg
 * suite's business. */
static void
migrate(PGconn *c)
{
	for (int v = 0; v < STORE_PG_SCHEMA_VERSION; v++) {
		pgfix_exec(c, "BEGIN");
		pgfix_exec(c, store_pg__migrations[v]);
		pgfix_exec(c, "COMMIT");
	}
}

/* ---- migrations ---- */

/* The tables version 1 makes, in name order. */
#define PG_TABLES                                                  \
	"deps,envs,job_attempts,job_specs,jobs,node_queues,nodes," \
	"producers,queue_counts,queue_rate,queue_slots,queues"

static const char tables_sql[] =
	"SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') "
	"FROM pg_tables WHERE schemaname = current_schema()";

/* The migrations hold no transaction control (a rollback undoes them
 * whole), apply in order each in its own transaction, make the tables,
 * indexes, triggers and storage settings of the schema, and fail when
 * applied again, leaving the schema as it was. */
START_TEST(store_pg_schema_migrations)
{
	PGconn *c = fresh_db("migrations", "store_pg_schema_migrations");
	if (c == NULL)
		return;

	pgfix_exec(c, "BEGIN");
	for (int v = 0; v < STORE_PG_SCHEMA_VERSION; v++)
		pgfix_exec(c, store_pg__migrations[v]);
	pgfix_value_is(c, tables_sql, PG_TABLES);
	pgfix_exec(c, "ROLLBACK");
	pgfix_value_is(c, tables_sql, "");
	pgfix_value_is(
		c, "SELECT count(*) FROM pg_proc WHERE proname = 'jobs_count'",
		"0");

	migrate(c);
	pgfix_value_is(c, tables_sql, PG_TABLES);
	pgfix_value_is(
		c,
		"SELECT string_agg(indexname, ',' ORDER BY indexname) FROM "
		"pg_indexes WHERE tablename = 'jobs'",
		"jobs_due,jobs_ended,jobs_ended_last,jobs_finished,jobs_owned,"
		"jobs_pkey,jobs_ready,jobs_unique");
	pgfix_value_is(
		c,
		"SELECT string_agg(tgname || ':' || tgtype, ',' ORDER BY "
		"tgname) FROM pg_trigger WHERE tgrelid = 'jobs'::regclass "
		"AND NOT tgisinternal",
		/* AFTER, FOR EACH STATEMENT: 4 insert, 8 delete, 16 update. */
		"jobs_count_delete:8,jobs_count_insert:4,jobs_count_update:16");
	pgfix_value_is(
		c,
		"SELECT string_agg(relname || ':' || "
		"array_to_string(reloptions, "
		"' '), ',' ORDER BY relname) FROM pg_class WHERE relname IN "
		"('jobs', 'queue_slots', 'queue_rate', 'queue_counts')",
		"jobs:fillfactor=80 autovacuum_vacuum_scale_factor=0 "
		"autovacuum_vacuum_threshold=1000,"
		"queue_counts:fillfactor=50,queue_rate:fillfactor=50,"
		"queue_slots:fillfactor=50");

	/* Again: refused, and the rollback leaves everything in place.
	 * Version 1 makes tables (duplicate_table); a later one that adds
	 * columns fails on the first (duplicate_column). */
	for (int v = 0; v < STORE_PG_SCHEMA_VERSION; v++) {
		pgfix_exec(c, "BEGIN");
		exec_fails(c, store_pg__migrations[v],
			   v == 0 ? "42P07" : "42701");
		pgfix_exec(c, "ROLLBACK");
	}
	pgfix_value_is(c, tables_sql, PG_TABLES);
	PQfinish(c);
}
END_TEST

/* ---- counts ---- */

/* What queue_counts says against what jobs holds, per (qid, state): ""
 * when they agree. */
static const char counts_diff[] =
	"SELECT coalesce(string_agg(format('(%s,%s): counts %s, jobs %s', "
	"qid, state, c.n, j.n), '; '), '') FROM "
	"(SELECT qid, state, sum(n) AS n FROM queue_counts "
	" GROUP BY qid, state HAVING sum(n) <> 0) c "
	"FULL JOIN (SELECT qid, state, count(*) AS n FROM jobs "
	" GROUP BY qid, state) j USING (qid, state) "
	"WHERE c.n IS DISTINCT FROM j.n";

/* Fails the test unless jobs holds want rows and queue_counts sums to
 * their counts per (qid, state). */
static void
counts_agree(PGconn *c, const char *step, const char *want)
{
	char *n = pgfix_value(c, "SELECT count(*) FROM jobs");
	ck_assert_msg(strcmp(n, want) == 0, "%s: %s jobs, not %s", step, n,
		      want);
	free(n);
	char *diff = pgfix_value(c, counts_diff);
	ck_assert_msg(diff[0] == '\0', "%s: %s", step, diff);
	free(diff);
}

/* Jobs of queues 1 to 3 in the states waiting, scheduled and queued: g
 * from generate_series. */
#define JOB_ROWS(from, to)                                                    \
	"INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, state) " \
	"SELECT g % 3 + 1, 1000, now(), 0, 1, g % 3 FROM "                    \
	"generate_series(" from ", " to ") g"

/* The counts follow every kind of statement on jobs: inserts, updates and
 * deletes of one row and of many, an update moving no job between states,
 * several changes in one statement (CTEs), a rolled-back transaction, an
 * insert a unique key turns away, from node 1, node 2 and no node; each
 * node's changes land in its own rows, so two nodes changing the same
 * (qid, state) at once do not wait on each other. */
START_TEST(store_pg_schema_counts)
{
	PGconn *c = fresh_db("counts", "store_pg_schema_counts");
	if (c == NULL)
		return;
	migrate(c);

	pgfix_exec(c, "SET jobd.node_id = 1");
	pgfix_exec(c, JOB_ROWS("1", "12"));
	counts_agree(c, "insert 12 as node 1", "12");
	pgfix_value_is(c,
		       "SELECT count(DISTINCT node_id) || ':' || min(node_id) "
		       "FROM queue_counts",
		       "1:1");
	pgfix_exec(c, "INSERT INTO jobs (qid, uid, run_at, priority, "
		      "max_attempts, state, unique_key) VALUES "
		      "(1, 1000, now(), 0, 1, 2, 'one')");
	counts_agree(c, "insert 1", "13");

	pgfix_exec(c, "SET jobd.node_id = 2");
	pgfix_exec(c, "UPDATE jobs SET state = 3 WHERE state = 2");
	counts_agree(c, "queued to running as node 2", "13");
	pgfix_value_is(c,
		       "SELECT n FROM queue_counts WHERE node_id = 2 AND "
		       "qid = 3 AND state = 2",
		       "-4");
	char *before = pgfix_value(c, "SELECT string_agg(format('%s', c), ';' "
				      "ORDER BY node_id, qid, state) FROM "
				      "queue_counts c");
	pgfix_exec(c, "UPDATE jobs SET pid = 42 WHERE state = 3");
	pgfix_exec(c, "UPDATE jobs SET state = state");
	pgfix_value_is(
		c,
		"SELECT string_agg(format('%s', c), ';' ORDER BY node_id, "
		"qid, state) FROM queue_counts c",
		before);
	free(before);
	counts_agree(c, "updates moving nothing", "13");
	pgfix_exec(c, "UPDATE jobs SET state = CASE state WHEN 0 THEN 2 "
		      "WHEN 1 THEN 4 WHEN 3 THEN 5 ELSE state END WHERE qid IN "
		      "(1, 2)");
	counts_agree(c, "one update, several moves", "13");

	pgfix_exec(c, "WITH a AS (UPDATE jobs SET state = 6 WHERE qid = 1 AND "
		      "state = 2 RETURNING id), "
		      "b AS (UPDATE jobs SET state = 2 WHERE qid = 2 AND "
		      "state = 4 RETURNING id), "
		      "d AS (DELETE FROM jobs WHERE qid = 3 AND state = 3 "
		      "RETURNING id) " JOB_ROWS("1", "5"));
	counts_agree(c, "two updates, a delete and an insert at once", "14");

	pgfix_exec(c, "SET jobd.node_id = 1");
	pgfix_exec(c, "DELETE FROM jobs WHERE qid = 2");
	counts_agree(c, "delete many as node 1", "8");
	pgfix_exec(c, "BEGIN");
	pgfix_exec(c, JOB_ROWS("1", "30"));
	pgfix_exec(c, "UPDATE jobs SET state = 4");
	pgfix_exec(c, "ROLLBACK");
	counts_agree(c, "rolled back", "8");

	pgfix_exec(c, "RESET jobd.node_id");
	pgfix_exec(c, JOB_ROWS("1", "4"));
	counts_agree(c, "insert as no node", "12");
	pgfix_value_is(c, "SELECT sum(n) FROM queue_counts WHERE node_id = 0",
		       "4");
	pgfix_exec(c,
		   "INSERT INTO jobs (qid, uid, run_at, priority, "
		   "max_attempts, state, unique_key) VALUES "
		   "(1, 1000, now(), 0, 1, 2, 'dup'), "
		   "(1, 1000, now(), 0, 1, 2, 'dup'), "
		   "(1, 1000, now(), 0, 1, 2, 'solo') "
		   "ON CONFLICT (uid, unique_key) WHERE unique_key IS NOT NULL "
		   "AND state < 4 DO NOTHING");
	counts_agree(c, "insert, one turned away", "14");

	/* Two nodes at once on the same (qid, state): node 1 holds its
	 * transaction open while node 2 writes; a wait would run into
	 * node 2's lock timeout and fail the statement. */
	PGconn *c2 = connect_db("counts");
	pgfix_exec(c2, "SET jobd.node_id = 2");
	pgfix_exec(c2, "SET lock_timeout = '2s'");
	pgfix_exec(c, "SET jobd.node_id = 1");
	pgfix_exec(c, "BEGIN");
	pgfix_exec(c,
		   "UPDATE jobs SET state = 3 WHERE id = (SELECT min(id) FROM "
		   "jobs WHERE qid = 1 AND state = 2)");
	pgfix_exec(c2, "UPDATE jobs SET state = 3 WHERE id = (SELECT max(id) "
		       "FROM jobs WHERE qid = 1 AND state = 2)");
	pgfix_exec(c2, JOB_ROWS("1", "3"));
	pgfix_exec(c, "COMMIT");
	counts_agree(c, "two nodes at once", "17");
	PQfinish(c2);

	pgfix_exec(c, "DELETE FROM jobs");
	counts_agree(c, "all deleted", "0");
	pgfix_value_is(
		c,
		"SELECT count(*) FROM (SELECT FROM queue_counts GROUP BY "
		"qid, state HAVING sum(n) <> 0) s",
		"0");
	PQfinish(c);
}
END_TEST

/* ---- unique keys ---- */

/* Inserts job id of uid 1000 with unique key k in state s; with fail,
 * the insert must fail with that SQLSTATE.  The ids are above those the
 * identity hands out in the test. */
static void
insert_keyed(PGconn *c, long id, const char *k, int s, const char *fail)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (id, qid, uid, run_at, priority, "
		 "max_attempts, state, unique_key) VALUES "
		 "(%ld, 1, 1000, now(), 0, 1, %d, '%s')",
		 id, s, k);
	if (fail != NULL)
		exec_fails(c, sql, fail);
	else
		pgfix_exec(c, sql);
}

/* A live job holds its unique key against any other live job of its uid,
 * whatever the live state; ON CONFLICT with the index's predicate turns
 * the second away without an error; once the holder is terminal (each of
 * the three states) a new job takes the key, and a terminal job cannot
 * come back to life while another holds it. */
START_TEST(store_pg_schema_unique)
{
	PGconn *c = fresh_db("uniq", "store_pg_schema_unique");
	if (c == NULL)
		return;
	migrate(c);

	insert_keyed(c, 1001, "k", 2, NULL);
	for (int s = 0; s < 4; s++)
		insert_keyed(c, 1010 + s, "k", s, "23505");
	/* Another uid, another key, no key: all admitted. */
	pgfix_exec(c, "INSERT INTO jobs (qid, uid, run_at, priority, "
		      "max_attempts, state, unique_key) VALUES "
		      "(1, 1001, now(), 0, 1, 2, 'k'), "
		      "(1, 1000, now(), 0, 1, 2, 'other'), "
		      "(1, 1000, now(), 0, 1, 2, NULL), "
		      "(1, 1000, now(), 0, 1, 2, NULL)");
	pgfix_value_is(
		c,
		"WITH i AS (INSERT INTO jobs (qid, uid, run_at, priority, "
		"max_attempts, state, unique_key) VALUES "
		"(1, 1000, now(), 0, 1, 2, 'k') "
		"ON CONFLICT (uid, unique_key) WHERE unique_key IS NOT NULL "
		"AND state < 4 DO NOTHING RETURNING id) "
		"SELECT count(*) FROM i",
		"0");

	/* Each terminal state frees the key for the next job. */
	long holder = 1001;
	for (int s = 4; s <= 6; s++) {
		char sql[96];
		snprintf(sql, sizeof(sql),
			 "UPDATE jobs SET state = %d WHERE id = %ld", s,
			 holder);
		pgfix_exec(c, sql);
		insert_keyed(c, 1020 + s, "k", 2, NULL);
		holder = 1020 + s;
	}
	pgfix_value_is(c,
		       "SELECT count(*) FROM jobs WHERE uid = 1000 AND "
		       "unique_key = 'k'",
		       "4");
	exec_fails(c, "UPDATE jobs SET state = 2 WHERE id = 1001", "23505");
	PQfinish(c);
}
END_TEST

/* ---- the claim ---- */

/* The claim of the PostgreSQL backend: $1 qid, $2 node id, $3 epoch, $4
 * how many.  MATERIALIZED runs the LIMIT subquery once: inlined, the
 * planner may run it inside a join and update more rows than asked. */
static const char claim_sql[] =
	"WITH me AS (SELECT FROM nodes n JOIN queues q ON q.id = $1 "
	"AND NOT q.paused WHERE n.id = $2 AND n.epoch = $3 "
	"AND n.lease_until > now()), "
	"j AS MATERIALIZED (SELECT id FROM jobs WHERE qid = $1 AND state = 2 "
	"AND EXISTS (SELECT FROM me) ORDER BY priority DESC, run_at, id "
	"LIMIT $4 FOR UPDATE SKIP LOCKED) "
	"UPDATE jobs SET state = 3, reason = 0, attempt = attempt + 1, "
	"started_at = now(), node_id = $2, node_epoch = $3, pid = NULL, "
	"exit_code = NULL, signal = NULL, error = NULL, truncated = false "
	"FROM j JOIN job_specs s ON s.job_id = j.id "
	"LEFT JOIN envs e ON e.id = s.env_id "
	"WHERE jobs.id = j.id RETURNING jobs.*, s.*, e.body";

/* Claims up to k jobs of queue 1 for node 1 in epoch, and returns their
 * ids in ascending order, comma-separated, with the environment of each
 * that has one ("103=env"); checks each claimed row's owner columns. */
static char *
claim(PGconn *c, int epoch, int k)
{
	char e[16], n[16];
	snprintf(e, sizeof(e), "%d", epoch);
	snprintf(n, sizeof(n), "%d", k);
	const char *const vals[] = {"1", "1", e, n};
	PGresult *r = PQexecParams(c, claim_sql, 4, NULL, vals, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "claim: %s",
		      PQerrorMessage(c));
	int rows = PQntuples(r);
	ck_assert_int_le(rows, k);
	int f_id = PQfnumber(r, "id"), f_body = PQfnumber(r, "body");
	int f_state = PQfnumber(r, "state"), f_node = PQfnumber(r, "node_id");
	int f_attempt = PQfnumber(r, "attempt");
	ck_assert(f_id >= 0 && f_body >= 0 && f_state >= 0 && f_node >= 0 &&
		  f_attempt >= 0);
	long ids[16];
	char bodies[16][32];
	ck_assert_int_le(rows, 16);
	for (int i = 0; i < rows; i++) {
		ck_assert_str_eq(PQgetvalue(r, i, f_state), "3");
		ck_assert_str_eq(PQgetvalue(r, i, f_node), "1");
		ck_assert_str_eq(PQgetvalue(r, i, f_attempt), "1");
		ids[i] = atol(PQgetvalue(r, i, f_id));
		snprintf(bodies[i], sizeof(bodies[i]), "%s",
			 PQgetisnull(r, i, f_body) ? ""
						   : PQgetvalue(r, i, f_body));
	}
	PQclear(r);
	/* Sorted by id: the statement returns its rows in no set order. */
	for (int i = 1; i < rows; i++)
		for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			long t = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = t;
			char b[32];
			memcpy(b, bodies[j], sizeof(b));
			memcpy(bodies[j], bodies[j - 1], sizeof(b));
			memcpy(bodies[j - 1], b, sizeof(b));
		}
	char *out = calloc(1, 512);
	for (int i = 0; i < rows; i++)
		snprintf(out + strlen(out), 512 - strlen(out), "%s%ld%s%s",
			 i ? "," : "", ids[i], bodies[i][0] ? "=" : "",
			 bodies[i]);
	return out;
}

static void
claim_is(PGconn *c, int epoch, int k, const char *want, const char *step)
{
	char *got = claim(c, epoch, k);
	ck_assert_msg(strcmp(got, want) == 0, "%s: claimed \"%s\", not \"%s\"",
		      step, got, want);
	free(got);
}

/* Queue 1 (and queue 2), node 1 with a live lease, and the jobs: six ready
 * in queue 1, in the claim order 103, 102, 106, 101, 104, 105 (priority
 * first, then run_at, then id), and beside them jobs the claim must never
 * take: scheduled, running, and ready in queue 2, all of a higher
 * priority. */
static const char claim_rows[] =
	"INSERT INTO queues (id, name, concurrency, rate_limit, rate_period, "
	"rate_burst, capacity, timeout, kill_grace, max_attempts, b_base, "
	"b_factor, b_max, b_jitter) VALUES "
	"(1, 'default', 4, 0, 1, 0, 0, 0, -1, 1, 1, 2, 300, 0.1), "
	"(2, 'mail', 4, 0, 1, 0, 0, 0, -1, 1, 1, 2, 300, 0.1);"
	"INSERT INTO nodes (name, instance, lease_until) VALUES "
	"('build-1', gen_random_uuid(), now() + interval '60 s');"
	"INSERT INTO envs (id, hash, body) VALUES (1, 7, 'env');"
	"INSERT INTO jobs (id, qid, uid, run_at, priority, max_attempts, "
	"state) VALUES "
	"(101, 1, 1000, now() - interval '10 s', 0, 1, 2), "
	"(102, 1, 1000, now() - interval '5 s', 5, 1, 2), "
	"(103, 1, 1000, now() - interval '20 s', 5, 1, 2), "
	"(104, 1, 1000, now() - interval '10 s', 0, 1, 2), "
	"(105, 1, 1000, now() - interval '30 s', -3, 1, 2), "
	"(106, 1, 1000, now() - interval '5 s', 5, 1, 2), "
	"(107, 1, 1000, now() - interval '40 s', 100, 1, 1), "
	"(108, 1, 1000, now() - interval '40 s', 100, 1, 3), "
	"(109, 2, 1000, now() - interval '40 s', 100, 1, 2);"
	"INSERT INTO job_specs (job_id, created_at, env_id, timeout, "
	"kill_grace, b_base, b_factor, b_max, b_jitter, cwd, argv) "
	"SELECT id, now(), CASE WHEN id = 103 THEN 1 END, 0, -1, 1, 2, 300, "
	"0.1, '/', '[\"/bin/true\"]' FROM jobs";

/* The claim takes at most k ready jobs of its queue, best first, with
 * their spec and environment; skips a job another transaction holds;
 * takes nothing when the node's lease has expired, its epoch is not the
 * node's, or the queue is paused; and the counts follow it. */
START_TEST(store_pg_schema_claim)
{
	PGconn *c = fresh_db("claim", "store_pg_schema_claim");
	if (c == NULL)
		return;
	migrate(c);
	pgfix_exec(c, "SET jobd.node_id = 1");
	pgfix_exec(c, claim_rows);
	pgfix_value_is(c, "SELECT id || '/' || epoch FROM nodes", "1/1");

	claim_is(c, 1, 2, "102,103=env", "the best two");
	/* Another transaction holds 106: the claim passes over it. */
	PGconn *c2 = connect_db("claim");
	pgfix_exec(c2, "BEGIN");
	pgfix_value_is(c2, "SELECT id FROM jobs WHERE id = 106 FOR UPDATE",
		       "106");
	claim_is(c, 1, 2, "101,104", "the next two but the locked one");
	pgfix_exec(c2, "ROLLBACK");
	PQfinish(c2);

	pgfix_exec(c, "UPDATE nodes SET lease_until = now() - interval '1 s'");
	claim_is(c, 1, 10, "", "lease expired");
	pgfix_exec(c, "UPDATE nodes SET lease_until = now() + interval '60 s'");
	claim_is(c, 2, 10, "", "another epoch");
	pgfix_exec(c, "UPDATE queues SET paused = true WHERE id = 1");
	claim_is(c, 1, 10, "", "queue paused");
	pgfix_value_is(c,
		       "SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs "
		       "WHERE state = 2",
		       "105,106,109");

	pgfix_exec(c, "UPDATE queues SET paused = false WHERE id = 1");
	claim_is(c, 1, 10, "105,106", "the rest of the queue");
	claim_is(c, 1, 10, "", "nothing left");
	pgfix_value_is(
		c,
		"SELECT string_agg(id || ':' || node_epoch, ',' ORDER BY "
		"id) FROM jobs WHERE state = 3 AND started_at IS NOT NULL",
		"101:1,102:1,103:1,104:1,105:1,106:1");
	pgfix_value_is(c, "SELECT state FROM jobs WHERE id = 107", "1");
	pgfix_value_is(c, "SELECT state FROM jobs WHERE id = 109", "2");
	counts_agree(c, "after the claims", "9");
	PQfinish(c);
}
END_TEST

/* ---- nodes: register and rescue ---- */

/* A node's registration: $1 name, $2 instance.  A new name, the same
 * instance again, or a name whose lease has expired gets a row (a new
 * epoch for a known name); a live name of another instance gets none. */
static const char register_sql[] =
	"INSERT INTO nodes (name, instance, lease_until) "
	"VALUES ($1, $2, now() + interval '60 s') "
	"ON CONFLICT (name) DO UPDATE SET epoch = nodes.epoch + 1, "
	"instance = excluded.instance, lease_until = excluded.lease_until "
	"WHERE nodes.instance = excluded.instance "
	"OR nodes.lease_until < now() RETURNING id || '/' || epoch";

/* The id/epoch registering name as instance gives, "" for no row. */
static char *
register_node(PGconn *c, const char *name, const char *instance)
{
	const char *const vals[] = {name, instance};
	PGresult *r =
		PQexecParams(c, register_sql, 2, NULL, vals, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "register: %s",
		      PQerrorMessage(c));
	char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static void
register_is(PGconn *c, const char *name, const char *instance, const char *want)
{
	char *got = register_node(c, name, instance);
	ck_assert_msg(strcmp(got, want) == 0, "register %s: \"%s\", not \"%s\"",
		      name, got, want);
	free(got);
}

/* The rescue, by any node: deletes the nodes whose lease ended over the
 * grace ago, frees their permits and producers, and puts their running
 * jobs back (queued, recovered) or fails them past the recovery limit
 * (3 here). */
static const char rescue_sql[] =
	"WITH dead AS (DELETE FROM nodes WHERE lease_until < now() - "
	"interval '1 s' RETURNING id), "
	"sl AS (UPDATE queue_slots s SET job_id = NULL, node_id = NULL "
	"FROM dead WHERE s.node_id = dead.id), "
	"pr AS (UPDATE producers p SET owner_node = NULL FROM dead "
	"WHERE p.owner_node = dead.id) "
	"UPDATE jobs j SET state = CASE WHEN j.recoveries >= 3 THEN 5 "
	"ELSE 2 END, reason = CASE WHEN j.recoveries >= 3 THEN 7 ELSE 8 END, "
	"recoveries = j.recoveries + 1, attempt = greatest(j.attempt - 1, 0), "
	"node_id = NULL, node_epoch = NULL, pid = NULL, "
	"finished_at = CASE WHEN j.recoveries >= 3 THEN now() END "
	"FROM dead WHERE j.node_id = dead.id AND j.state = 3 "
	"RETURNING j.id";

#define INSTANCE_A "00000000-0000-4000-8000-00000000000a"
#define INSTANCE_B "00000000-0000-4000-8000-00000000000b"

/* Registration: a node name is one row, its epoch raised when the same
 * instance comes back, refused to another while its lease runs, and the
 * rescue deletes it once expired, with no foreign key in the way: its
 * running jobs come back queued or fail at the recovery limit, its permit
 * and producer are freed, a live node's job is left alone, the counts
 * follow, and a second rescue finds nothing.  The name then registers
 * anew, under a new id. */
START_TEST(store_pg_schema_rescue)
{
	PGconn *c = fresh_db("rescue", "store_pg_schema_rescue");
	if (c == NULL)
		return;
	migrate(c);
	register_is(c, "build-1", INSTANCE_A, "1/1");
	register_is(c, "build-2", INSTANCE_B, "2/1");
	register_is(c, "build-1", INSTANCE_A, "1/2");
	register_is(c, "build-1", INSTANCE_B, "");
	pgfix_exec(c, "SET jobd.node_id = 1");
	pgfix_exec(
		c,
		"INSERT INTO queues (id, name, concurrency, rate_limit, "
		"rate_period, rate_burst, capacity, timeout, kill_grace, "
		"max_attempts, b_base, b_factor, b_max, b_jitter, "
		"global_concurrency) VALUES "
		"(1, 'default', 4, 0, 1, 0, 0, 0, -1, 1, 1, 2, 300, 0.1, 2);"
		"INSERT INTO queue_slots (qid, slot, job_id, node_id) VALUES "
		"(1, 1, 1, 1), (1, 2, 3, 2);"
		"INSERT INTO producers (name, spec, uid, owner_node, "
		"owner_epoch) "
		"VALUES ('gen', '{}', 1000, 1, 2);"
		"INSERT INTO jobs (id, qid, uid, run_at, priority, "
		"max_attempts, "
		"state, attempt, recoveries, node_id, node_epoch, pid) VALUES "
		"(1, 1, 1000, now(), 0, 1, 3, 1, 0, 1, 2, 100), "
		"(2, 1, 1000, now(), 0, 1, 3, 2, 3, 1, 2, 101), "
		"(3, 1, 1000, now(), 0, 1, 3, 1, 0, 2, 1, 102)");
	counts_agree(c, "running", "3");

	/* Nothing expired yet: the rescue changes nothing. */
	pgfix_exec(c, "SET jobd.node_id = 2");
	PGresult *r = PQexec(c, rescue_sql);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), 0);
	PQclear(r);

	pgfix_exec(c, "UPDATE nodes SET lease_until = now() - interval '5 s' "
		      "WHERE name = 'build-1'");
	r = PQexec(c, rescue_sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "rescue: %s",
		      PQerrorMessage(c));
	ck_assert_int_eq(PQntuples(r), 2);
	PQclear(r);
	pgfix_value_is(
		c,
		"SELECT string_agg(format('%s:%s/%s a%s r%s %s %s', id, state, "
		"reason, attempt, recoveries, coalesce(node_id, 0), "
		"finished_at IS NOT NULL), ',' ORDER BY id) FROM jobs",
		"1:2/8 a0 r1 0 f,2:5/7 a1 r4 0 t,3:3/0 a1 r0 2 f");
	pgfix_value_is(
		c,
		"SELECT string_agg(slot || ':' || coalesce(job_id, 0), ',' "
		"ORDER BY slot) FROM queue_slots",
		"1:0,2:3");
	pgfix_value_is(c, "SELECT coalesce(owner_node, 0) FROM producers", "0");
	pgfix_value_is(c, "SELECT string_agg(name, ',') FROM nodes", "build-2");
	counts_agree(c, "rescued", "3");
	r = PQexec(c, rescue_sql);
	ck_assert_int_eq(PQntuples(r), 0);
	PQclear(r);

	/* A new id (the sequence has moved past every attempt), epoch 1. */
	char *again = register_node(c, "build-1", INSTANCE_A);
	ck_assert_str_ne(again, "");
	free(again);
	pgfix_value_is(c,
		       "SELECT id > 2 AND epoch = 1 FROM nodes WHERE name = "
		       "'build-1'",
		       "t");
	PQfinish(c);
}
END_TEST

/* ---- both backends ---- */

/* Where the columns of a SQLite table are in PostgreSQL. */
static const struct {
	const char *sqlite;
	const char *pg[2]; /* the second may be NULL */
} same_tables[] = {
	{"jobs", {"jobs", "job_specs"}},    {"queues", {"queues", NULL}},
	{"producers", {"producers", NULL}}, {"envs", {"envs", NULL}},
	{"deps", {"deps", NULL}},
};

/* Columns PostgreSQL names otherwise, by SQLite table, up to the line of
 * NULLs: none so far; a rename adds {"table", "sqlite_name", "pg_name"}. */
static const struct {
	const char *table, *sqlite, *pg;
} renamed[] = {
	{NULL, NULL, NULL},
};

/* Columns only PostgreSQL has: what the cluster adds, and the key of
 * the cold half of jobs. */
static const struct {
	const char *table, *column;
} pg_only[] = {
	{"jobs", "node_id"},	     {"jobs", "node_epoch"},
	{"jobs", "last_node"},	     {"job_specs", "job_id"},
	{"queues", "nodes"},	     {"producers", "anchor"},
	{"producers", "last_tick"},  {"producers", "last_job"},
	{"producers", "owner_node"}, {"producers", "owner_epoch"},
};

/* The columns of PostgreSQL table t, comma-separated with a comma at each
 * end (",id,qid,"; caller frees). */
static char *
pg_columns(PGconn *c, const char *t)
{
	const char *const vals[] = {t};
	PGresult *r = PQexecParams(
		c,
		"SELECT ',' || coalesce(string_agg(column_name::text, ','), "
		"'') "
		"|| ',' FROM information_schema.columns WHERE table_schema = "
		"current_schema() AND table_name = $1",
		1, NULL, vals, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "columns of %s: %s",
		      t, PQerrorMessage(c));
	char *s = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static bool
has_column(const char *list, const char *col)
{
	char k[96];
	snprintf(k, sizeof(k), ",%s,", col);
	return strstr(list, k) != NULL;
}

/* The name PostgreSQL gives SQLite's table.col. */
static const char *
pg_name(const char *table, const char *col)
{
	for (size_t i = 0; renamed[i].table != NULL; i++)
		if (strcmp(renamed[i].table, table) == 0 &&
		    strcmp(renamed[i].sqlite, col) == 0)
			return renamed[i].pg;
	return col;
}

static bool
is_pg_only(const char *table, const char *col)
{
	for (size_t i = 0; i < sizeof(pg_only) / sizeof(pg_only[0]); i++)
		if (strcmp(pg_only[i].table, table) == 0 &&
		    strcmp(pg_only[i].column, col) == 0)
			return true;
	for (size_t i = 0; renamed[i].table != NULL; i++)
		if (strcmp(renamed[i].pg, col) == 0)
			return true;
	return false;
}

/* Every column of SQLite's tables (its schema as store_sql.c's
 * migrations build it) is in its PostgreSQL table, or in one of the two
 * halves of jobs (and in one only); every column of those PostgreSQL
 * tables is SQLite's or listed as PostgreSQL's alone.  So a column added
 * to one backend and not the other fails here. */
START_TEST(store_pg_schema_same_columns)
{
	PGconn *c = fresh_db("columns", "store_pg_schema_same_columns");
	if (c == NULL)
		return;
	migrate(c);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	for (int v = 0; v < STORE_SCHEMA_VERSION; v++)
		ck_assert_msg(sqlite3_exec(db, store__migrations[v], NULL, NULL,
					   NULL) == SQLITE_OK,
			      "SQLite migration %d: %s", v + 1,
			      sqlite3_errmsg(db));

	size_t nt = sizeof(same_tables) / sizeof(same_tables[0]);
	for (size_t t = 0; t < nt; t++) {
		const char *st = same_tables[t].sqlite;
		char *pg[2] = {NULL, NULL}, *lite, sql[96];
		size_t nlite = 0;
		for (int h = 0; h < 2 && same_tables[t].pg[h] != NULL; h++)
			pg[h] = pg_columns(c, same_tables[t].pg[h]);
		ck_assert_msg(strlen(pg[0]) > 2, "no PostgreSQL table %s",
			      same_tables[t].pg[0]);

		/* SQLite's columns, each in exactly one PostgreSQL table. */
		sqlite3_stmt *s;
		snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", st);
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
				 SQLITE_OK);
		lite = calloc(1, 2048);
		strcpy(lite, ",");
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *col =
				(const char *)sqlite3_column_text(s, 1);
			const char *name = pg_name(st, col);
			int in = 0;
			for (int h = 0; h < 2; h++)
				in += pg[h] != NULL && has_column(pg[h], name);
			ck_assert_msg(in == 1,
				      "SQLite's %s.%s is in %d of PostgreSQL's "
				      "tables %s%s%s, not one",
				      st, col, in, same_tables[t].pg[0],
				      pg[1] ? " and " : "",
				      pg[1] ? same_tables[t].pg[1] : "");
			snprintf(lite + strlen(lite), 2048 - strlen(lite),
				 "%s,", col);
			nlite++;
		}
		sqlite3_finalize(s);
		ck_assert_msg(nlite >= 2, "SQLite table %s: %zu columns", st,
			      nlite);

		/* PostgreSQL's columns, each SQLite's or its own. */
		for (int h = 0; h < 2 && pg[h] != NULL; h++) {
			const char *pt = same_tables[t].pg[h];
			for (char *p = pg[h] + 1, *e; *p; p = e + 1) {
				e = strchr(p, ',');
				*e = '\0';
				ck_assert_msg(has_column(lite, p) ||
						      is_pg_only(pt, p),
					      "PostgreSQL's %s.%s is not in "
					      "SQLite's %s nor listed as "
					      "PostgreSQL's alone",
					      pt, p, st);
			}
			free(pg[h]);
		}
		free(lite);
	}
	sqlite3_close(db);
	PQfinish(c);
}
END_TEST

Suite *
pg_schema_suite(void)
{
	Suite *s = suite_create("store_pg_schema");
	TCase *tc = tcase_create("store_pg_schema");
	/* One server for the suite: started once, before the tests fork. */
	tcase_add_unchecked_fixture(tc, server_start, server_stop);
	/* A test takes well under a second here; the server's start and
	 * stop have bounds of their own (pgfix.h). */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_pg_schema_migrations);
	tcase_add_test(tc, store_pg_schema_counts);
	tcase_add_test(tc, store_pg_schema_unique);
	tcase_add_test(tc, store_pg_schema_claim);
	tcase_add_test(tc, store_pg_schema_rescue);
	tcase_add_test(tc, store_pg_schema_same_columns);
	suite_add_tcase(s, tc);
	return s;
}
