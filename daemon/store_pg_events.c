/*
 * store, PostgreSQL backend: what the nodes tell each other and read of
 * each other (store.h, "Across nodes").  A second connection of its own
 * listens on channel `jobd` and carries what this node publishes there:
 * a NOTIFY on it is a statement alone in its batch, never inside nor
 * joined to the group transaction of the writing connection (a notifying
 * commit would hold the server's notification lock across its flush).
 * The reads (nodes, waited jobs) go through the writing connection, as
 * every read of the store does.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "pgconn.h"
#include "store.h"
#include "xmem.h"

/* How long connecting, and any one statement (the relay's ping), may
 * take (s): a listener that misses its ping this long is lost. */
#define LISTEN_TIMEOUT 5

static struct pgconn *listener;
static store_notice_fn notice_fn;
static void *notice_arg;

static void
on_notify(const char *channel, const char *payload, void *arg)
{
	(void)arg;
	if (notice_fn != NULL && strcmp(channel, STORE_CHANNEL) == 0)
		notice_fn(payload, notice_arg);
}

int
store_listen_open(store_notice_fn fn, void *arg)
{
	const char *conninfo = store_pg__conninfo();
	struct pgconn *pc;

	store_listen_close();
	if (conninfo == NULL)
		return diag_set(E_DB, "store: the database is closed");
	pc = pgconn_connect(conninfo, LISTEN_TIMEOUT);
	if (pc == NULL)
		return -1;
	pgconn_on_notify(pc, on_notify, NULL);
	if (pgconn_query(pc, "LISTEN " STORE_CHANNEL, 0, NULL, NULL) != 0) {
		pgconn_delete(pc);
		diag_prefix("store: listen");
		return -1;
	}
	/* The connection may have closed meanwhile (a shutdown). */
	store_listen_close();
	listener = pc;
	notice_fn = fn;
	notice_arg = arg;
	return 0;
}

int
store_listen_check(void)
{
	if (listener == NULL)
		return diag_set(E_DB, "store: not listening");
	if (!pgconn_ok(listener))
		return diag_set(E_DB, "store: listen: %s",
				pgconn_error(listener));
	return 0;
}

int
store_listen_ping(void)
{
	struct pgconn *pc = listener;

	if (pc == NULL || !pgconn_ok(pc))
		return diag_set(E_DB, "store: not listening");
	if (pgconn_query(pc, "SELECT 1", 0, NULL, NULL) != 0) {
		diag_prefix("store: listen");
		return -1;
	}
	return 0;
}

void
store_listen_close(void)
{
	struct pgconn *pc = listener;

	listener = NULL;
	notice_fn = NULL;
	pgconn_delete(pc);
}

int
store_publish(const char *payload)
{
	const char *vals[] = {payload};

	if (strlen(payload) > STORE_NOTICE_MAX)
		return diag_set(E_INVAL, "store: notification too long");
	if (listener == NULL || !pgconn_ok(listener))
		return diag_set(E_DB, "store: not listening");
	return pgconn_send(listener,
			   "SELECT pg_notify('" STORE_CHANNEL "', $1)", 1, vals,
			   NULL, NULL);
}

/* ---- reads ---- */

/* The nodes, by name: lease_age is the lease's length (this node's
 * `lease`, $1 s) less what is left of it. */
static const char nodes_sql[] =
	"SELECT n.name, $1::float8 - extract(epoch FROM n.lease_until -"
	" now())::float8, (SELECT count(*) FROM jobs j WHERE j.node_id ="
	" n.id) FROM nodes n ORDER BY n.name";

json_t *
store_nodes_json(double lease)
{
	struct store_pg__args a = {0};
	PGresult *r;
	json_t *arr;

	store_pg__arg_double(&a, lease);
	if (store_pg__read("nodes", nodes_sql, &a, &r) != 0)
		return NULL;
	arr = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = store_pg__text(r, i, 0);
		json_t *age = store_pg__null(r, i, 1)
				      ? json_null()
				      : json_real(store_pg__double(r, i, 1));

		json_array_append_new(
			arr,
			json_pack("{s:s,s:o,s:I}", "name", name ? name : "",
				  "lease_age", age, "running",
				  (json_int_t)store_pg__int(r, i, 2)));
	}
	PQclear(r);
	return arr;
}

/* Ids are sent as one array literal, this many at a time. */
#define TERMINAL_CHUNK 1000

int
store_jobs_terminal(const int64_t *ids, size_t n, store_id_fn fn, void *arg)
{
	for (size_t at = 0; at < n; at += TERMINAL_CHUNK) {
		size_t k = n - at < TERMINAL_CHUNK ? n - at : TERMINAL_CHUNK;
		struct store_pg__args a = {0};
		struct buf b = BUF_INIT;
		PGresult *r;
		int rc;

		buf_printf(&b, "{");
		for (size_t i = 0; i < k; i++)
			buf_printf(&b, "%s%lld", i ? "," : "",
				   (long long)ids[at + i]);
		buf_printf(&b, "}");
		store_pg__arg_text(&a, b.data);
		rc = store_pg__read("terminal jobs",
				    "SELECT id FROM jobs WHERE id ="
				    " ANY($1::int8[]) AND state >= 4",
				    &a, &r);
		buf_release(&b);
		if (rc != 0)
			return -1;
		for (int i = 0; i < PQntuples(r); i++)
			fn(store_pg__int(r, i, 0), arg);
		PQclear(r);
	}
	return 0;
}

int
store_node_set_listening(bool on)
{
	struct store_pg__args a = {0};

	if (store_node_id() == 0)
		return 0;
	store_pg__arg_int(&a, store_node_id());
	store_pg__arg_bool(&a, on);
	return store_pg__write("listening",
			       "UPDATE nodes SET listening = $2 WHERE id = $1"
			       " AND listening IS DISTINCT FROM $2",
			       &a, NULL);
}

int
store_nodes_listening(bool *any)
{
	struct store_pg__args a = {0};
	PGresult *r;

	store_pg__arg_int(&a, store_node_id());
	if (store_pg__read("listening",
			   "SELECT EXISTS (SELECT FROM nodes WHERE listening"
			   " AND id <> $1)",
			   &a, &r) != 0)
		return -1;
	*any = store_pg__bool(r, 0, 0);
	PQclear(r);
	return 0;
}
