/*
 * store, PostgreSQL backend: the connection, the schema's versions, the
 * group transaction's primitives and the helpers its row files share
 * (store_pg.h).  The schema's texts are store_pg_sql.c's.
 *
 * One connection in pipeline mode (pgconn) carries every statement, reads
 * and writes alike: a read made while the group transaction is open runs
 * inside it and sees this node's writes not yet committed, as SQLite's
 * reads do.  BEGIN, ROLLBACK and COMMIT are sent without waiting; the
 * COMMIT's answer reaches store.c through store__commit_answered().  Any
 * statement that fails inside the transaction has made the server abort
 * it: the store is told at once (store__txn_lost), so every writer of it
 * learns of the loss from its next store_sync().
 *
 * The schema's version is the one-row table jobd_schema (version,
 * compat): `version` is the schema the database holds, `compat` the
 * oldest jobd schema version that can use it.  A migration that only adds
 * (a column with a default, a table, an index) keeps `compat`, so nodes of
 * the older version go on running beside newer ones during a rolling
 * upgrade; one that changes what older nodes read raises it, and they
 * refuse to start.
 */
#include "store_pg.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "pgconn.h"
#include "store_impl.h"
#include "xmem.h"

/* The advisory lock every node takes to migrate ("jobd" in ASCII). */
#define MIGRATE_LOCK "1785684580"
/* The oldest server jobd runs on: 14 brought pipeline mode and
 * client_connection_check_interval. */
#define PG_MIN_VERSION 140000
/* How long connecting, and any one statement, may take (s). */
#define PG_TIMEOUT 10

static struct pgconn *conn;
struct store_pg__node store_pg__node;

static void prepared_forget(void);
static char *conninfo_kept; /* owned: for connecting again */
static bool reconnecting;
static struct waitq reconnect_wq;

/* The table the runner, not the migrations, makes and writes. */
static const char schema_table[] =
	"CREATE TABLE IF NOT EXISTS jobd_schema ("
	"  one bool PRIMARY KEY DEFAULT true CHECK (one),"
	"  version int NOT NULL,"
	"  compat int NOT NULL);"
	"INSERT INTO jobd_schema (version, compat) VALUES (0, 0)"
	"  ON CONFLICT DO NOTHING;";

/* What each connection sets for itself.  Commits are durable on the
 * server whatever its default (a claim the server lost would let another
 * node run the job); a transaction left open or a lock waited on past
 * these bounds is the server's to end, not a stuck node's to hold; a
 * client gone away is noticed while its statement runs, and an idle one
 * within seconds by the server's keepalives (its session, and the node
 * lock with it, would otherwise outlive it by the kernel's two hours). */
static const char *const session_settings[] = {
	"SET synchronous_commit = on",
	"SET idle_in_transaction_session_timeout = '30s'",
	"SET lock_timeout = '5s'",
	"SET client_connection_check_interval = '2s'",
	"SET tcp_keepalives_idle = 5",
	"SET tcp_keepalives_interval = 2",
	"SET tcp_keepalives_count = 3",
	"SET tcp_user_timeout = 10000",
	"SET TIME ZONE 'UTC'",
};

/* ---- the connection ---- */

/* A new connection to conninfo_kept, with its session set up. */
static struct pgconn *
connect_session(void)
{
	struct pgconn *pc = pgconn_connect(conninfo_kept, PG_TIMEOUT);

	if (pc == NULL)
		return NULL;
	for (size_t i = 0;
	     i < sizeof(session_settings) / sizeof(session_settings[0]); i++)
		if (pgconn_query(pc, session_settings[i], 0, NULL, NULL) != 0)
			goto fail;
	/* The node's own counts (the jobs_count triggers), once it has
	 * registered; a connection made again keeps them. */
	if (store_pg__node.id != 0) {
		char id[24];
		const char *v[] = {id};
		snprintf(id, sizeof(id), "%" PRId64, store_pg__node.id);
		if (pgconn_query(pc,
				 "SELECT set_config('jobd.node_id', $1, "
				 "false)",
				 1, v, NULL) != 0)
			goto fail;
	}
	return pc;
fail:
	pgconn_delete(pc);
	return NULL;
}

/* Makes sure the connection works, connecting again when it was lost: not
 * while the group transaction is open (it went with the connection; the
 * flush ends it as failed), and once for all the coroutines that find it
 * lost at the same time.  0, or -1 with E_DB.  Yields. */
static int
usable(void)
{
	if (conn == NULL)
		return diag_set(E_DB, "store: the database is closed");
	while (reconnecting)
		if (waitq_wait(&reconnect_wq, -1) != 0)
			return -1;
	if (pgconn_ok(conn))
		return 0;
	if (store_txn_open())
		return diag_set(E_DB, "store: %s", pgconn_error(conn));
	/* Tried again for PG_TIMEOUT seconds, pausing 0.1 s doubling to
	 * 5 s: a server restarting or failing over is back by then. */
	log_warnx("store: lost the connection to PostgreSQL (%s); "
		  "connecting again",
		  pgconn_error(conn));
	reconnecting = true;
	double give_up = loop_now() + PG_TIMEOUT, pause = 0.1;
	struct pgconn *pc;
	while ((pc = connect_session()) == NULL &&
	       loop_now() + pause < give_up && await_sleep(pause) == 0)
		pause = pause * 2 < 5 ? pause * 2 : 5;
	reconnecting = false;
	waitq_notify_all(&reconnect_wq);
	if (pc == NULL)
		return -1;
	log_info("store: connected to PostgreSQL again");
	pgconn_delete(conn);
	conn = pc;
	prepared_forget();
	return 0;
}

/* ---- statements ---- */

static void
arg_put(struct store_pg__args *a, const char *v)
{
	assert(a->n < STORE_PG_MAX_ARGS);
	a->v[a->n++] = v;
}

void
store_pg__arg_int(struct store_pg__args *a, int64_t v)
{
	snprintf(a->buf[a->n], sizeof(a->buf[a->n]), "%" PRId64, v);
	arg_put(a, a->buf[a->n]);
}

void
store_pg__arg_double(struct store_pg__args *a, double v)
{
	snprintf(a->buf[a->n], sizeof(a->buf[a->n]), "%.17g", v);
	arg_put(a, a->buf[a->n]);
}

void
store_pg__arg_bool(struct store_pg__args *a, bool v)
{
	arg_put(a, v ? "t" : "f");
}

void
store_pg__arg_text(struct store_pg__args *a, const char *s)
{
	arg_put(a, s);
}

void
store_pg__arg_null(struct store_pg__args *a)
{
	arg_put(a, NULL);
}

/* ---- prepared statements ---- */

/* The statements prepared on the connection in use, found by their text:
 * the server parses and plans each once per connection, not at every run
 * (the claim's plan cost more than its execution).  Names are "s" and
 * the index; a slot whose prepare failed is dead (sql NULL) and the text
 * is prepared again in a new one.  A new connection starts with none. */
#define PREPARED_MAX 256
struct prepared {
	uint64_t hash;
	char *sql; /* owned; NULL: dead */
};
static struct prepared prepared[PREPARED_MAX];
static int nprepared;
/* Why the last prepare that failed did: the runs sent after it failed
 * with it ("not run"), and say this instead. */
static char prepare_why[DIAG_MSG_MAX];

static uint64_t
text_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
prepared_forget(void)
{
	for (int i = 0; i < nprepared; i++)
		free(prepared[i].sql);
	nprepared = 0;
}

/* The answer to a prepare: one that failed leaves its slot dead (the
 * runs sent after it failed with it), unless the table was forgotten
 * since (a new connection). */
static void
prepare_done(PGresult *res, const char *err, void *arg)
{
	int i = (int)(intptr_t)arg;

	(void)res;
	if (err != NULL && i < nprepared) {
		free(prepared[i].sql);
		prepared[i].sql = NULL;
		snprintf(prepare_why, sizeof(prepare_why), "%s", err);
	}
}

/* Puts in name (of size n) the name of sql's statement prepared on conn,
 * sending its preparation first when it has none (without waiting: the
 * run the caller sends next follows it in the pipeline), or "" to run it
 * unprepared (the table is full).  -1 with E_DB when the connection is
 * lost.  Does not yield. */
static int
prepared_name(const char *sql, char *name, size_t n, int *slot)
{
	uint64_t h = text_hash(sql);
	int i;

	name[0] = '\0';
	*slot = -1;
	for (i = 0; i < nprepared; i++)
		if (prepared[i].hash == h && prepared[i].sql != NULL &&
		    strcmp(prepared[i].sql, sql) == 0) {
			snprintf(name, n, "s%d", i);
			*slot = i;
			return 0;
		}
	if (nprepared == PREPARED_MAX)
		return 0;
	i = *slot = nprepared;
	snprintf(name, n, "s%d", i);
	if (pgconn_send_prepare(conn, name, sql, prepare_done,
				(void *)(intptr_t)i) != 0)
		return -1;
	prepared[i].hash = h;
	prepared[i].sql = xstrdup(sql);
	nprepared++;
	return 0;
}

/* Runs sql; a failure inside the group transaction loses it (the server
 * aborted it). */
static int
run(const char *what, const char *sql, const struct store_pg__args *a,
    PGresult **res)
{
	PGresult *r = NULL;
	char name[16];
	int slot;

	if (res != NULL)
		*res = NULL;
	if (usable() != 0) {
		diag_prefix("store");
		return -1;
	}
	struct pgconn *on = conn;
	int rc = prepared_name(sql, name, sizeof(name), &slot);
	if (rc == 0)
		rc = name[0] != '\0'
			     ? pgconn_exec(conn, name, a != NULL ? a->n : 0,
					   a != NULL ? a->v : NULL, &r)
			     : pgconn_query(conn, sql, a != NULL ? a->n : 0,
					    a != NULL ? a->v : NULL, &r);
	/* Its prepare failed: that is the cause to tell. */
	if (rc != 0 && conn == on && slot >= 0 && slot < nprepared &&
	    prepared[slot].sql == NULL)
		diag_set(E_DB, "%s", prepare_why);
	if (rc != 0) {
		char msg[DIAG_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", diag_msg());
		/* A FATAL error ends the session (a server shutting down):
		 * its transaction went with it, as with a lost connection. */
		const char *sev =
			r != NULL ? PQresultErrorField(
					    r, PG_DIAG_SEVERITY_NONLOCALIZED)
				  : NULL;
		bool gone = !pgconn_ok(on) ||
			    (sev != NULL && strcmp(sev, "FATAL") == 0);
		PQclear(r);
		/* Not the transaction whose COMMIT is in flight: the
		 * answer says how that one ended. */
		if (store_txn_open() && !store_committing()) {
			if (gone)
				store__txn_lost_uncommitted(msg);
			else
				store__txn_lost(msg);
		}
		return diag_set(E_DB, "store: %s: %s", what, msg);
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int
store_pg__read(const char *what, const char *sql,
	       const struct store_pg__args *a, PGresult **res)
{
	return run(what, sql, a, res);
}

int
store_pg__write(const char *what, const char *sql,
		const struct store_pg__args *a, PGresult **res)
{
	if (res != NULL)
		*res = NULL;
	if (store__write_begin() != 0)
		return -1;
	return run(what, sql, a, res);
}

/* The answer to a write nobody waits for: a failure loses the group
 * transaction it was part of (its COMMIT then answers ROLLBACK). */
static void
unawaited_done(PGresult *res, const char *err, void *arg)
{
	(void)res;
	(void)arg;
	if (err != NULL) {
		log_warnx("store: an unawaited write failed: %s", err);
		/* Not the transaction whose COMMIT is in flight: the
		 * answer says how that one ended. */
		if (store_txn_open() && !store_committing())
			store__txn_lost(err);
	}
}

int
store_pg__write_unawaited(const char *what, const char *sql,
			  const struct store_pg__args *a)
{
	if (store__write_begin() != 0)
		return -1;
	if (pgconn_send(conn, sql, a != NULL ? a->n : 0,
			a != NULL ? a->v : NULL, unawaited_done, NULL) != 0) {
		store__txn_lost(diag_msg());
		return diag_set(E_DB, "store: %s: %s", what, diag_msg());
	}
	return 0;
}

bool
store_pg__null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col);
}

int64_t
store_pg__int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col)
		       ? 0
		       : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double
store_pg__double(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0
					: strtod(PQgetvalue(r, row, col), NULL);
}

bool
store_pg__bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

const char *
store_pg__text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

json_t *
store_pg__json(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
}

/* ---- schema versions ---- */

/* Applies the migrations from the database's version to
 * STORE_PG_SCHEMA_VERSION inside the open transaction, which holds the
 * migration lock. */
static int
migrate_locked(struct pgconn *pc, int *from, int *to)
{
	PGresult *res = NULL;
	int version, compat, latest = STORE_PG_SCHEMA_VERSION;

	if (pgconn_script(pc, schema_table) != 0)
		return -1;
	if (pgconn_query(pc, "SELECT version, compat FROM jobd_schema", 0, NULL,
			 &res) != 0) {
		PQclear(res);
		return -1;
	}
	version = atoi(PQgetvalue(res, 0, 0));
	compat = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	*from = *to = version;
	if (compat > latest)
		return diag_set(E_DB,
				"store: database schema %d needs jobd schema "
				"%d or newer; this jobd has %d",
				version, compat, latest);
	for (int v = version; v < latest; v++) {
		if (pgconn_script(pc, store_pg__migrations[v]) != 0) {
			char p[64];

			snprintf(p, sizeof(p),
				 "store: migration to schema version %d",
				 v + 1);
			diag_prefix(p);
			return -1;
		}
		if (store_pg__compat[v] > compat)
			compat = store_pg__compat[v];
		log_info("store: migrated the PostgreSQL schema to version %d",
			 v + 1);
		*to = v + 1;
	}
	if (*to == version)
		return 0;

	char vbuf[16], cbuf[16];
	const char *vals[] = {vbuf, cbuf};

	snprintf(vbuf, sizeof(vbuf), "%d", *to);
	snprintf(cbuf, sizeof(cbuf), "%d", compat);
	return pgconn_query(pc,
			    "UPDATE jobd_schema SET version = $1::int, "
			    "compat = $2::int",
			    2, vals, NULL);
}

/* Creates or migrates the schema on pc, in one transaction under the
 * migration lock. */
static int
migrate(struct pgconn *pc, int *from, int *to)
{
	int server = pgconn_server_version(pc);

	if (server < PG_MIN_VERSION)
		return diag_set(E_DB,
				"store: PostgreSQL %d.%d is too old: jobd "
				"needs 14 or newer",
				server / 10000, server % 10000);
	if (pgconn_query(pc, "BEGIN", 0, NULL, NULL) != 0)
		return -1;
	if (pgconn_query(pc, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")",
			 0, NULL, NULL) != 0 ||
	    migrate_locked(pc, from, to) != 0 ||
	    pgconn_query(pc, "COMMIT", 0, NULL, NULL) != 0) {
		char why[DIAG_MSG_MAX];

		snprintf(why, sizeof(why), "%s", diag_msg());
		if (pgconn_ok(pc))
			(void)pgconn_query(pc, "ROLLBACK", 0, NULL, NULL);
		return diag_set(E_DB, "%s", why);
	}
	return 0;
}

int
store_pg_init_db(const char *conninfo, int *from, int *to)
{
	struct pgconn *pc = pgconn_connect(conninfo, PG_TIMEOUT);
	int rc;

	if (pc == NULL)
		return -1;
	rc = migrate(pc, from, to);
	pgconn_delete(pc);
	return rc;
}

/* ---- open, close and the group transaction's primitives ---- */

int
store__pg_open(const char *conninfo)
{
	int from, to;

	conninfo_kept = xstrdup(conninfo);
	reconnect_wq = (struct waitq)WAITQ_INIT;
	conn = connect_session();
	if (conn == NULL) {
		free(conninfo_kept);
		conninfo_kept = NULL;
		return -1;
	}
	if (migrate(conn, &from, &to) != 0)
		return -1; /* store_close() closes conn */
	return 0;
}

static bool
pg_is_open(void)
{
	return conn != NULL;
}

static void
pg_close(void)
{
	pgconn_delete(conn);
	conn = NULL;
	prepared_forget();
	free(conninfo_kept);
	conninfo_kept = NULL;
	free(store_pg__node.name);
	memset(&store_pg__node, 0, sizeof(store_pg__node));
}

/* The BEGIN, ROLLBACK and COMMIT are answered after the caller went on:
 * what they say reaches the store here. */
static void
begin_done(PGresult *res, const char *err, void *arg)
{
	(void)res;
	(void)arg;
	if (err != NULL && conn != NULL &&
	    (!pgconn_ok(conn) || strstr(err, "FATAL") != NULL))
		store__txn_lost_uncommitted(err);
	else if (err != NULL)
		store__txn_lost(err);
}

static void
commit_done(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (err != NULL && conn != NULL && !pgconn_ok(conn)) {
		char why[DIAG_MSG_MAX];
		snprintf(why, sizeof(why),
			 "commit outcome unknown (the connection was lost "
			 "with it: %s)",
			 err);
		store__commit_answered(false, why);
		return;
	}
	if (err != NULL) {
		store__commit_answered(false, err);
		return;
	}
	/* COMMIT of a transaction the server aborted answers ROLLBACK,
	 * without an error. */
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		store__commit_answered(false, "the server rolled the "
					      "transaction back");
		return;
	}
	store__commit_answered(true, NULL);
}

static int
pg_ready(void)
{
	if (usable() != 0) {
		diag_prefix("store");
		return -1;
	}
	return 0;
}

static int
pg_begin(void)
{
	if (conn == NULL)
		return diag_set(E_DB, "store: the database is closed");
	return pgconn_send(conn, "BEGIN", 0, NULL, begin_done, NULL);
}

static int
pg_commit_send(void)
{
	return pgconn_send(conn, "COMMIT", 0, NULL, commit_done, NULL);
}

static void
pg_rollback(void)
{
	if (conn != NULL && pgconn_ok(conn))
		(void)pgconn_send(conn, "ROLLBACK", 0, NULL, NULL, NULL);
}

static void
pg_txn_over(bool committed)
{
	(void)committed;
}

static void
pg_report(void)
{
}

/* Commits are durable when the server answers them (synchronous_commit
 * is on): nothing is left to make so. */
static int
pg_fsync(void)
{
	return 0;
}

/* A change that spans rows (store_savepoint) cannot be rolled back alone
 * here: statements of other coroutines join the group transaction while
 * its own wait for their answers.  So its failure rolls the whole group
 * transaction back, and every writer of it learns so from store_sync():
 * nothing half written is ever committed or reported. */
int
store__pg_savepoint(void)
{
	return store__write_begin();
}

int
store__pg_release(void)
{
	if (store__txn_doomed())
		return diag_set(E_DB, "%s", store__fail_msg());
	return 0;
}

void
store__pg_rollback(void)
{
	store__txn_lost("a change failed halfway, and its transaction "
			"with it");
}

void
store__pg_spill(void)
{
}

void
store__pg_sizes(int64_t *db_bytes, int64_t *wal_bytes)
{
	PGresult *r;

	*db_bytes = *wal_bytes = 0;
	if (store_pg__read("size",
			   "SELECT pg_database_size(current_database())", NULL,
			   &r) == 0) {
		*db_bytes = store_pg__int(r, 0, 0);
		PQclear(r);
	}
}

#define STORE_PG_CALL(ret, name, params, args) .name = store__pg_##name,
#define STORE_PG_CALLV(name, params, args) .name = store__pg_##name,

const struct store__backend store__pg_backend = {
	.name = "postgres",
	.shared = true,
	.db_is_open = pg_is_open,
	.db_close = pg_close,
	.db_ready = pg_ready,
	.db_begin = pg_begin,
	.db_commit_send = pg_commit_send,
	.db_rollback = pg_rollback,
	.db_txn_over = pg_txn_over,
	.db_report = pg_report,
	.db_fsync = pg_fsync,
	STORE_BACKEND_CALLS(STORE_PG_CALL, STORE_PG_CALLV)};

/* ---- for the listening connection (store_pg_events.c) ---- */

const char *
store_pg__conninfo(void)
{
	return conninfo_kept;
}
