/*
 * store, PostgreSQL backend: this node in the cluster.  A node registers
 * its row in `nodes` (one per name), renews its lease there, rescues the
 * running jobs of nodes whose lease ran out, and leaves.  Leases are per
 * node, not per job: one statement renews all of a node's claims.
 *
 * Every lease time is the database's clock (clock_timestamp(): the
 * transaction's start, now(), may be long past in a group transaction),
 * so the nodes' clocks never meet.  The fencing on this side (the node
 * that cannot renew kills its attempts before its lease can run out) is
 * daemon/cluster.c's, on the node's own monotonic clock.
 */
#include "store_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobd/proto.h"
#include "store_impl.h"
#include "store_sqlnum.h"
#include "xmem.h"

/* clang-format off */

/* A node takes its name's row: a new row (epoch 1), or the row it had
 * before (the same instance, restarting) or one whose lease ran out (a
 * host given the name anew), with the epoch raised, so that every write
 * of an older incarnation is fenced off.  No row back: a live node of
 * another instance holds the name.  The connection's jobd.node_id (the
 * counts' node) is set in the same statement. */
static const char sql_register[] =
	"WITH n AS (INSERT INTO nodes AS n (name, instance, lease_until)"
	"  VALUES ($1::text, $2::uuid,"
	"   clock_timestamp() + $3::float8 * interval '1 second')"
	"  ON CONFLICT (name) DO UPDATE SET epoch = n.epoch + 1,"
	"   instance = excluded.instance, lease_until = excluded.lease_until,"
	"   listening = false"
	"  WHERE n.instance = excluded.instance"
	"   OR n.lease_until < clock_timestamp()"
	"  RETURNING n.id, n.epoch)"
	"SELECT id, epoch, set_config('jobd.node_id', id::text, false)"
	" FROM n";

/* The lease renewed, only while this incarnation still holds it. */
static const char sql_heartbeat[] =
	"UPDATE nodes SET"
	" lease_until = clock_timestamp() + $3::float8 * interval '1 second'"
	" WHERE id = $1::int8 AND epoch = $2::int"
	" AND lease_until > clock_timestamp() RETURNING 1";

/* Whether any node's lease ran out more than $1 seconds ago: the rescue
 * writes only then. */
static const char sql_any_dead[] =
	"SELECT EXISTS (SELECT FROM nodes WHERE lease_until"
	" < clock_timestamp() - $1::float8 * interval '1 second')";

/*
 * The rescue of the nodes whose lease ran out more than $1 seconds ago:
 * their rows go, their global permits are freed, their command producers
 * left without an owner, and their running jobs go back to queued
 * (reason recovered, the attempt given back) or, past $2 recoveries, to
 * failed (recovery_limit), as the recovery at start does.  Jobs cancelled
 * while one of them ran lose their owner too (nobody will ack them).
 * Reported by id.  A dead node's row another transaction holds (a peer
 * rescuing it, the node itself come back) is left to it: waiting could
 * run past lock_timeout and fail the whole group transaction.
 */
static const char sql_rescue[] =
	"WITH gone AS (SELECT id FROM nodes WHERE lease_until"
	"  < clock_timestamp() - $1::float8 * interval '1 second'"
	"  ORDER BY id FOR UPDATE SKIP LOCKED),"
	" dead AS (DELETE FROM nodes n USING gone WHERE n.id = gone.id"
	"  RETURNING n.id),"
	" sl AS (UPDATE queue_slots s SET job_id = NULL, node_id = NULL"
	"  FROM dead WHERE s.node_id = dead.id),"
	" pr AS (UPDATE producers p SET owner_node = NULL, owner_epoch = NULL"
	"  FROM dead WHERE p.owner_node = dead.id),"
	" cx AS (UPDATE jobs j SET node_id = NULL, node_epoch = NULL,"
	"  pid = NULL FROM dead WHERE j.node_id = dead.id"
	"  AND j.state <> " STATE(RUNNING) "),"
	" back AS (UPDATE jobs j SET "
	PG_SET_RECOVERED("$2", "now()")
	"  FROM dead WHERE j.node_id = dead.id"
	"  AND j.state = " STATE(RUNNING) " RETURNING j.id, j.qid, j.state)"
	" SELECT id, qid, state FROM back ORDER BY id";

/* The jobs this incarnation runs that a node cancelled meanwhile. */
static const char sql_cancelled[] =
	"SELECT id FROM jobs WHERE node_id = $1::int8 AND node_epoch = $2::int"
	" AND state = " STATE(CANCELLED) " ORDER BY id";

/* A node that stops lets its lease run out now: its peers delete its row
 * once rescue_grace has passed. */
static const char sql_leave[] =
	"UPDATE nodes SET lease_until = clock_timestamp()"
	" WHERE id = $1::int8 AND epoch = $2::int";

/* clang-format on */

int
store__pg_node_register(const char *name, const char *instance, double lease)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_text(&a, name);
	store_pg__arg_text(&a, instance);
	store_pg__arg_double(&a, lease);
	if (store_pg__write("register", sql_register, &a, &r) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_CONFLICT,
				"node name %s is held by another live node "
				"(another host, or another state directory)",
				name);
	}
	store_pg__node.id = store_pg__int(r, 0, 0);
	store_pg__node.epoch = (int)store_pg__int(r, 0, 1);
	store_pg__node.claims_paused = false;
	PQclear(r);
	if (store_pg__node.name == NULL ||
	    strcmp(store_pg__node.name, name) != 0) {
		free(store_pg__node.name);
		store_pg__node.name = xstrdup(name);
	}
	return 0;
}

int
store__pg_node_heartbeat(double lease)
{
	struct store_pg__args a = {0};
	PGresult *r;
	int n;

	if (store_pg__node.epoch == 0)
		return diag_set(E_CONFLICT, "the node is fenced");
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	store_pg__arg_double(&a, lease);
	if (store_pg__write("heartbeat", sql_heartbeat, &a, &r) != 0)
		return -1;
	n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return diag_set(E_CONFLICT, "the node's lease ran out");
	return 0;
}

int
store__pg_node_rescue(double grace, int max_recoveries, store_job_fn fn,
		      void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;
	bool any;

	store_pg__arg_double(&a, grace);
	if (store_pg__read("rescue", sql_any_dead, &a, &r) != 0)
		return -1;
	any = store_pg__bool(r, 0, 0);
	PQclear(r);
	if (!any)
		return 0;
	store_pg__arg_int(&a, max_recoveries);
	if (store_pg__write("rescue", sql_rescue, &a, &r) != 0)
		return -1;
	store_pg__report_recovered(r, fn, arg);
	PQclear(r);
	return 0;
}

int
store__pg_node_cancelled(store_id_fn fn, void *arg)
{
	struct store_pg__args a = {0};
	PGresult *r;

	if (store_pg__node.epoch == 0)
		return 0;
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	if (store_pg__read("cancelled", sql_cancelled, &a, &r) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		fn(store_pg__int(r, i, 0), arg);
	PQclear(r);
	return 0;
}

int
store__pg_node_leave(void)
{
	struct store_pg__args a = {0};

	if (store_pg__node.epoch == 0)
		return 0;
	store_pg__arg_int(&a, store_pg__node.id);
	store_pg__arg_int(&a, store_pg__node.epoch);
	return store_pg__write("leave", sql_leave, &a, NULL);
}

/* ---- what store.h says of the node ---- */

int64_t
store_node_id(void)
{
	return store_pg__node.id;
}

int
store_node_epoch(void)
{
	return store_pg__node.epoch;
}

const char *
store_node_name(void)
{
	return store_pg__node.name;
}

void
store_node_fence(void)
{
	store_pg__node.epoch = 0;
}

void
store_node_pause_claims(bool paused)
{
	store_pg__node.claims_paused = paused;
}
