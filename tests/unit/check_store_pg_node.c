/*
 * The node calls of the PostgreSQL store (store_pg_node.c) and the fence
 * they put on claims, acks and recovery: registration and its epochs, the
 * heartbeat, the rescue of dead nodes' jobs, and what a fenced or lapsed
 * node may no longer do.  Other nodes are rows written directly, as a
 * peer's statements would leave them.  Each scenario runs on a fresh
 * database where bothfix registered the node BOTHFIX_NODE (epoch 1, a 60 s
 * lease).  Without PostgreSQL each test says it is skipped and passes.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bothfix.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "loopfix.h"
#include "store.h"
#include "store_pg.h"

Suite *store_pg_node_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)
#define OTHER "00000000-0000-4000-8000-0000000000ff"

/* Runs sql in the group transaction, commits, and returns the first
 * column of the first row (-1 when none or NULL).  Yields. */
static int64_t
sql(const char *text)
{
	PGresult *r = NULL;
	int64_t out = -1;

	CO_EXPECT(store_pg__write("test", text, NULL, &r) == 0);
	if (r != NULL && PQntuples(r) > 0 && !store_pg__null(r, 0, 0))
		out = store_pg__int(r, 0, 0);
	PQclear(r);
	CO_EXPECT(store_sync() == 0);
	return out;
}

/* A queued job of queue 1; returns its id. */
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
	j.qid = 1;
	j.state = JOBD_QUEUED;
	j.created_at = j.run_at = T0;
	j.uid = 1000;
	j.kill_grace = 5;
	j.max_attempts = 3;
	j.backoff = bo;
	CO_EXPECT(store_job_insert(&j, &id) == 0);
	CO_EXPECT(store_sync() == 0);
	jobspec_destroy(&sp);
	return id;
}

static int64_t
claim(void)
{
	struct store_job_run r;

	memset(&r, 0, sizeof(r));
	if (store_job_claim(1, T0, &r) != 0)
		return -1;
	int64_t id = r.id;
	store_job_run_destroy(&r);
	CO_EXPECT(store_sync() == 0);
	return id;
}

static int
end(int64_t id, int attempt)
{
	struct store_job_end e = {.state = JOBD_SUCCEEDED,
				  .exit_code = 0,
				  .duration = 1,
				  .memory_peak = -1,
				  .finished_at = T0 + 1000,
				  .attempt = attempt};
	int was;

	return store_job_end_attempt(id, &e, &was);
}

static void
moved(int64_t id, int64_t qid, int from, int to, void *arg)
{
	int64_t *got = arg;

	(void)qid;
	(void)from;
	got[0]++;
	got[1] = id;
	got[2] = to;
}

/* ---- registration and epochs ---- */

static void
register_f(void *arg)
{
	(void)arg;
	CO_EXPECT(store_node_id() > 0 && store_node_epoch() == 1);
	CO_EXPECT(strcmp(store_node_name(), BOTHFIX_NODE) == 0);
	int64_t me = store_node_id();
	/* The counts are this node's. */
	CO_EXPECT(sql("SELECT current_setting('jobd.node_id')::int8") == me);

	/* The same instance again (a restart): its row, a new epoch. */
	CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_node_id() == me && store_node_epoch() == 2);

	/* Another instance under that name, while the lease runs: refused,
	 * nothing changed. */
	CO_EXPECT(store_node_register(BOTHFIX_NODE, OTHER, 60) == -1);
	CO_EXPECT(diag_code() == E_CONFLICT);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(sql("SELECT epoch FROM nodes WHERE id = 1") == 2);

	/* Once the lease ran out, the other instance takes the name. */
	sql("UPDATE nodes SET lease_until = now() - interval '1 second'");
	CO_EXPECT(store_node_register(BOTHFIX_NODE, OTHER, 60) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_node_id() == me && store_node_epoch() == 3);
	CO_EXPECT(sql("SELECT count(*) FROM nodes WHERE instance = '" OTHER
		      "'") == 1);
}

START_TEST(store_pg_node_register_and_epochs)
{
	bothfix_run("store_pg_node_register_and_epochs", BOTHFIX_POSTGRES,
		    register_f, NULL);
}
END_TEST

/* ---- claims and acks, fenced ---- */

static void
fenced_ack_f(void *arg)
{
	int64_t got[3] = {0};

	(void)arg;
	int64_t a = add_job();
	CO_EXPECT(claim() == a);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE node_id = 1 AND "
		      "node_epoch = 1 AND last_node = '" BOTHFIX_NODE
		      "' AND attempt = 1") == 1);
	/* Not the attempt it claimed: nothing recorded. */
	CO_EXPECT(end(a, 2) == -1 && diag_code() == E_STATE);
	/* The node registers again: the old incarnation's ack is fenced,
	 * and the recovery takes the job back. */
	CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(end(a, 1) == -1 && diag_code() == E_STATE);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_job_recover(T0, 3, moved, got) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(got[0] == 1 && got[1] == a && got[2] == JOBD_QUEUED);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE state = 2 AND "
		      "reason = 8 AND recoveries = 1 AND attempt = 0 AND "
		      "node_id IS NULL") == 1);

	/* Claimed again by this incarnation, its ack holds and clears the
	 * owner, keeping last_node. */
	CO_EXPECT(claim() == a);
	CO_EXPECT(end(a, 1) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE state = 4 AND "
		      "node_id IS NULL AND node_epoch IS NULL AND "
		      "last_node = '" BOTHFIX_NODE "'") == 1);
}

START_TEST(store_pg_node_acks_are_fenced)
{
	bothfix_run("store_pg_node_acks_are_fenced", BOTHFIX_POSTGRES,
		    fenced_ack_f, NULL);
}
END_TEST

static void
no_claim_f(void *arg)
{
	(void)arg;
	int64_t a = add_job();

	/* Fenced here: no claim, no statement. */
	store_node_fence();
	CO_EXPECT(claim() == -1 && diag_code() == E_NOTFOUND);
	CO_EXPECT(store_node_heartbeat(60) == -1 && diag_code() == E_CONFLICT);
	CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) == 0);
	CO_EXPECT(store_sync() == 0);
	/* In doubt: none either. */
	store_node_pause_claims(true);
	CO_EXPECT(claim() == -1 && diag_code() == E_NOTFOUND);
	store_node_pause_claims(false);
	/* The lease ran out in the database, whatever this node's clock
	 * says: the claim takes nothing, and the heartbeat says so. */
	sql("UPDATE nodes SET lease_until = now() - interval '1 second'");
	CO_EXPECT(claim() == -1 && diag_code() == E_NOTFOUND);
	CO_EXPECT(sql("SELECT state FROM jobs") == JOBD_QUEUED);
	CO_EXPECT(store_node_heartbeat(60) == -1 && diag_code() == E_CONFLICT);
	CO_EXPECT(store_sync() == 0);
	/* Registered again, it claims. */
	CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_node_heartbeat(60) == 0 && store_sync() == 0);
	CO_EXPECT(claim() == a);
}

START_TEST(store_pg_node_lapsed_claims_nothing)
{
	bothfix_run("store_pg_node_lapsed_claims_nothing", BOTHFIX_POSTGRES,
		    no_claim_f, NULL);
}
END_TEST

/* ---- the rescue ---- */

static void
rescue_f(void *arg)
{
	int64_t got[3] = {0};

	(void)arg;
	int64_t a = add_job(), b = add_job(), c = add_job(), d = add_job();
	/* A peer (node 7) runs a, b (recovered three times already) and
	 * had c cancelled while running; it holds a permit and a command
	 * producer.  d runs here. */
	sql("INSERT INTO nodes (id, name, instance, lease_until) VALUES (7, "
	    "'peer', '" OTHER "', now() + interval '1 hour')");
	CO_EXPECT(claim() == a);
	sql("UPDATE jobs SET node_id = 7, node_epoch = 1, last_node = 'peer' "
	    "WHERE state = 3");
	CO_EXPECT(claim() == b);
	sql("UPDATE jobs SET node_id = 7, node_epoch = 1, recoveries = 3 "
	    "WHERE id = 2");
	CO_EXPECT(claim() == c);
	sql("UPDATE jobs SET node_id = 7, node_epoch = 1, state = 6 WHERE "
	    "id = 3");
	CO_EXPECT(claim() == d);
	sql("INSERT INTO queues (id, name, concurrency, rate_limit, "
	    "rate_period, rate_burst, capacity, timeout, kill_grace, "
	    "max_attempts, b_base, b_factor, b_max, b_jitter) VALUES (1, "
	    "'default', 1, 0, 1, 0, 0, 0, -1, 1, 1, 2, 60, 0)");
	sql("INSERT INTO queue_slots (qid, slot, job_id, node_id) VALUES "
	    "(1, 1, 1, 7)");
	sql("INSERT INTO producers (name, spec, uid, owner_node, owner_epoch) "
	    "VALUES ('p', '{}', 0, 7, 1)");

	/* Alive: nothing happens. */
	CO_EXPECT(store_node_rescue(1, 3, moved, got) == 0);
	CO_EXPECT(!store_txn_open());
	CO_EXPECT(got[0] == 0);
	/* Expired, but within the grace: nothing either. */
	sql("UPDATE nodes SET lease_until = now() - interval '2 seconds' "
	    "WHERE id = 7");
	CO_EXPECT(store_node_rescue(30, 3, moved, got) == 0);
	CO_EXPECT(got[0] == 0);
	/* Past the grace: rescued. */
	CO_EXPECT(store_node_rescue(1, 3, moved, got) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(got[0] == 2);
	CO_EXPECT(sql("SELECT count(*) FROM nodes WHERE id = 7") == 0);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE id = 1 AND state = 2 "
		      "AND reason = 8 AND recoveries = 1 AND attempt = 0 AND "
		      "node_id IS NULL AND pid IS NULL") == 1);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE id = 2 AND state = 5 "
		      "AND reason = 7 AND finished_at IS NOT NULL") == 1);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE id = 3 AND state = 6 "
		      "AND node_id IS NULL") == 1);
	CO_EXPECT(sql("SELECT count(*) FROM jobs WHERE id = 4 AND state = 3 "
		      "AND node_id = 1") == 1);
	CO_EXPECT(sql("SELECT count(*) FROM queue_slots WHERE job_id IS NULL "
		      "AND node_id IS NULL") == 1);
	CO_EXPECT(sql("SELECT count(*) FROM producers WHERE owner_node IS "
		      "NULL") == 1);
	/* The counts followed. */
	CO_EXPECT(sql("SELECT sum(n) FROM queue_counts WHERE state = 2") == 1);
	CO_EXPECT(sql("SELECT sum(n) FROM queue_counts WHERE state = 3") == 1);
}

START_TEST(store_pg_node_rescue)
{
	bothfix_run("store_pg_node_rescue", BOTHFIX_POSTGRES, rescue_f, NULL);
}
END_TEST

static void
note_id(int64_t id, void *arg)
{
	int64_t *got = arg;
	got[0]++;
	got[1] = id;
}

/* A job this node runs, cancelled by another: reported; a clean leave
 * ends the lease. */
static void
cancelled_leave_f(void *arg)
{
	int64_t got[2] = {0};

	(void)arg;
	int64_t a = add_job();
	add_job();
	CO_EXPECT(claim() == a);
	CO_EXPECT(store_node_cancelled(note_id, got) == 0);
	CO_EXPECT(got[0] == 0);
	sql("UPDATE jobs SET state = 6 WHERE id = 1");
	CO_EXPECT(store_node_cancelled(note_id, got) == 0);
	CO_EXPECT(got[0] == 1 && got[1] == a);
	CO_EXPECT(store_node_leave() == 0 && store_sync() == 0);
	CO_EXPECT(sql("SELECT count(*) FROM nodes WHERE lease_until <= "
		      "clock_timestamp()") == 1);
}

START_TEST(store_pg_node_cancelled_and_leave)
{
	bothfix_run("store_pg_node_cancelled_and_leave", BOTHFIX_POSTGRES,
		    cancelled_leave_f, NULL);
}
END_TEST

Suite *
store_pg_node_suite(void)
{
	Suite *s = suite_create("store_pg_node");
	TCase *tc = tcase_create("node");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_pg_node_register_and_epochs);
	tcase_add_test(tc, store_pg_node_acks_are_fenced);
	tcase_add_test(tc, store_pg_node_lapsed_claims_nothing);
	tcase_add_test(tc, store_pg_node_rescue);
	tcase_add_test(tc, store_pg_node_cancelled_and_leave);
	suite_add_tcase(s, tc);
	return s;
}
