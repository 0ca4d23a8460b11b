/*
 * store: group commit, the backend-neutral half of the store.  Owns the
 * group transaction's life (opened by the first write, committed by the
 * loop's flush hook), its numbering, who waits for which commit and with
 * what durability, which commits failed and who must hear of it, the
 * transaction hooks and holds; and the order of open and close.  It
 * speaks no SQL: the SQLite backend (store_sqlite.c and the row files,
 * see store_impl.h) does, through the primitives store_impl.h names.
 */
#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <sys/stat.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "store_backend.h"
#include "store_impl.h"

bool store_fail_next_commit;
const char *store_fault_file;

static bool in_txn;	    /* the group transaction is open */
static uint64_t txn_seq;    /* number of the open (or last) transaction */
static uint64_t done_seq;   /* last transaction committed or failed */
static uint64_t failed_seq; /* last transaction whose commit failed */
static uint64_t synced_seq; /* last transaction known durable */
static struct waitq commit_wq;
static int nwaiters;	      /* coroutines in store_sync*() */
static int nreporters;	      /* of those, in store_sync() */
static bool commit_asap;      /* store_request_commit() was called */
static bool durable_asap;     /* ... with durable = true */
static bool unsynced;	      /* a commit not yet fsynced */
static bool sync_flight;      /* an fsync runs in the background */
static uint64_t sync_target;  /* ... making this transaction durable */
static bool closing;	      /* store_close(): commit now */
static double txn_opened;     /* loop_now() when the transaction began */
static ev_timer commit_timer; /* wakes the loop when a delay is due */
static bool txn_doomed;	      /* the database rolled the transaction back */
static bool flight;	      /* its COMMIT was sent, the answer not read */
static bool flight_answered;  /* ... and the answer came */
static bool flight_ok;	      /* ... saying it committed */
static char fail_msg[DIAG_MSG_MAX]; /* why the last commit failed */
/* The open transaction was lost with the database's connection before
 * its COMMIT went (store__txn_lost_uncommitted); the last one that failed
 * was such (store_failed_uncommitted). */
static bool txn_lost_uncommitted, fail_uncommitted;
/* The last transactions whose commit failed, newest at failed_ring[(nfailed
 * - 1) % FAILED_RING]: a writer syncing late still learns its write was
 * lost. */
#define FAILED_RING 32
static uint64_t failed_ring[FAILED_RING];
static unsigned nfailed;
#define MAX_TXN_HOOKS 4
static struct {
	store_txn_fn fn;
	void *arg;
} txn_hooks[MAX_TXN_HOOKS];
static int ntxn_hooks;
static int holds; /* store_hold() not yet undone */

static void
commit_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	/* Nothing to do: waking the loop runs the flush hooks. */
}

/* ---- open and close ---- */

/* The end of either open: be's own open returned rc. */
static int
opened(int rc)
{
	if (rc != 0) {
		/* Half open: store_close() undoes what was done. */
		if (store__be->db_is_open())
			store_close();
		store__be = NULL;
		return -1;
	}
	in_txn = false;
	flight = false;
	sync_flight = false;
	ev_timer_init(&commit_timer, commit_timer_cb, 0, 0);
	return 0;
}

int
store_open(const char *path, bool sync_full)
{
	unsynced = false;
	store__be = &store__sqlite_backend;
	return opened(store__db_open(path, sync_full));
}

int
store_open_pg(const char *conninfo)
{
	unsynced = false;
	store__be = &store__pg_backend;
	return opened(store__pg_open(conninfo));
}

void
store_close(void)
{
	if (store__be == NULL)
		return;
	if (!store__be->db_is_open()) {
		store__be = NULL;
		return;
	}
	closing = true;
	/* A commit answered later is awaited (from a coroutine: the
	 * backends that commit so are used from one); writes are refused
	 * meanwhile, so none opens another transaction. */
	while (in_txn || flight) {
		if (in_txn && !flight)
			store_flush(NULL);
		if (!flight || coro_self() == NULL ||
		    waitq_wait(&commit_wq, -1) != 0)
			break;
	}
	closing = false;
	if (loop_ev() && ev_is_active(&commit_timer))
		ev_timer_stop(loop_ev(), &commit_timer);
	store__be->db_close();
	store__be = NULL;
	ntxn_hooks = 0;
}

/* ---- the group transaction ---- */

/* Joins the group transaction, opening it when none is open.  While the
 * last one's commit is in flight (a backend that commits without
 * waiting), a new one begins only once its answer came: the transaction
 * hooks tell one transaction's end at a time. */
int
store__write_begin(void)
{
	uint64_t *mark = coro_local();
	for (;;) {
		while (flight) {
			if (waitq_wait(&commit_wq, -1) != 0)
				return -1;
		}
		if (closing && !in_txn)
			return diag_set(E_DB, "store: closing");
		if (in_txn) {
			if (txn_doomed)
				return diag_set(E_DB, "%s", fail_msg);
			if (*mark == 0)
				*mark = txn_seq;
			return 0;
		}
		/* The database reachable before the BEGIN, which cannot wait;
		 * one that made us wait (connecting again) may have let
		 * another writer begin meanwhile: look again. */
		if (store__be->db_ready == NULL)
			break;
		uint64_t yields = coro_yields();
		if (store__be->db_ready() != 0)
			return -1;
		if (coro_yields() == yields)
			break;
	}
	if (store__be->db_begin() != 0)
		return -1;
	in_txn = true;
	txn_doomed = false;
	txn_lost_uncommitted = false;
	txn_seq++;
	txn_opened = loop_ev() ? loop_now() : 0;
	if (*mark == 0)
		*mark = txn_seq;
	return 0;
}

bool
store__txn_doomed(void)
{
	return txn_doomed;
}

const char *
store__fail_msg(void)
{
	return fail_msg;
}

void
store__txn_lost(const char *cause)
{
	if (!in_txn || txn_doomed)
		return;
	snprintf(fail_msg, sizeof(fail_msg), "store: commit failed: %s", cause);
	txn_doomed = true;
	commit_asap = true;
}

void
store__txn_lost_uncommitted(const char *cause)
{
	if (!in_txn || txn_doomed)
		return;
	store__txn_lost(cause);
	txn_lost_uncommitted = true;
}

bool
store_failed_uncommitted(void)
{
	return fail_uncommitted;
}

/* Makes every commit so far survive power loss (with synchronous =
 * full; a no-op with normal). */
static int
make_durable(void)
{
	if (unsynced && store__be->db_fsync() != 0)
		return -1;
	unsynced = false;
	synced_seq = done_seq;
	return 0;
}

static void
note_failed(uint64_t seq)
{
	failed_ring[nfailed % FAILED_RING] = seq;
	nfailed++;
	failed_seq = seq;
}

/* True when a transaction numbered from first to last failed. */
static bool
failed_between(uint64_t first, uint64_t last)
{
	unsigned n = nfailed < FAILED_RING ? nfailed : FAILED_RING;
	for (unsigned i = 0; i < n; i++) {
		uint64_t f = failed_ring[(nfailed - 1 - i) % FAILED_RING];
		if (f >= first && f <= last)
			return true;
	}
	return false;
}

/* Starts making every commit so far durable: in the background where the
 * backend can (from the loop; the answer comes to store__fsync_answered),
 * else now.  0, or -1 with E_DB when a sync made now failed. */
static int
durable_start(void)
{
	if (!unsynced || (sync_flight && !closing))
		return 0;
	if (store__be->db_fsync_send != NULL && loop_ev() != NULL && !closing) {
		uint64_t target = done_seq;
		int rc = store__be->db_fsync_send();
		if (rc < 0)
			return -1;
		if (rc == 0) {
			sync_flight = true;
			sync_target = target;
			unsynced = false;
			return 0;
		}
	}
	return make_durable();
}

void
store__fsync_answered(bool ok, const char *cause)
{
	if (!sync_flight)
		return;
	sync_flight = false;
	if (ok) {
		if (sync_target > synced_seq)
			synced_seq = sync_target;
	} else {
		snprintf(fail_msg, sizeof(fail_msg), "store: fdatasync: %s",
			 cause);
		log_error("%s", fail_msg);
		note_failed(sync_target);
		/* Tried again for the next reporter. */
		unsynced = true;
	}
	waitq_notify_all(&commit_wq);
}

/* Ends the group transaction, committed or rolled back: tells the hooks
 * (so in-memory state follows what committed), then wakes whoever waits
 * for it. */
static void
txn_over(bool committed)
{
	in_txn = false;
	txn_doomed = false;
	done_seq = txn_seq;
	store__be->db_txn_over(committed);
	if (committed)
		unsynced = true;
	else
		note_failed(txn_seq);
	for (int i = 0; i < ntxn_hooks; i++)
		txn_hooks[i].fn(committed, txn_hooks[i].arg);
	waitq_notify_all(&commit_wq);
}

/* The commit failed (or the database rolled back already): rolls back
 * whatever is left and tells everyone.  fail_msg says why. */
static void
txn_fail(bool unsent)
{
	log_error("%s", fail_msg);
	fail_uncommitted = unsent || (txn_doomed && txn_lost_uncommitted);
	store__be->db_rollback();
	txn_over(false);
}

/* Commits the group transaction now; -1 with E_DB naming the cause when
 * that failed and everything in it was rolled back. */
static int
txn_commit(void)
{
	const char *fault = NULL;
	struct stat sb;
	if (store_fail_next_commit)
		fault = "database or disk is full (injected)";
	else if (store_fault_file != NULL && stat(store_fault_file, &sb) == 0)
		fault = "database or disk is full (injected)";
	store_fail_next_commit = false;
	if (txn_doomed) {
		/* fail_msg was set when the database rolled back. */
	} else if (fault != NULL) {
		snprintf(fail_msg, sizeof(fail_msg), "store: commit failed: %s",
			 fault);
	} else if (store__be->db_commit_send != NULL) {
		/* The answer comes later: store__commit_answered(), then
		 * the flush hook ends the transaction (flight_end). */
		if (store__be->db_commit_send() == 0) {
			flight = true;
			flight_answered = false;
			return 0;
		}
		/* Not sent: nothing of it was committed. */
		snprintf(fail_msg, sizeof(fail_msg), "%s", diag_msg());
		txn_fail(true);
		return diag_set(E_DB, "%s", fail_msg);
	} else if (store__be->db_commit() != 0) {
		snprintf(fail_msg, sizeof(fail_msg), "%s", diag_msg());
	} else {
		txn_over(true);
		store__be->db_report();
		return 0;
	}
	txn_fail(false);
	return diag_set(E_DB, "%s", fail_msg);
}

void
store__commit_answered(bool committed, const char *cause)
{
	if (!flight || flight_answered)
		return;
	flight_answered = true;
	flight_ok = committed;
	if (!committed)
		snprintf(fail_msg, sizeof(fail_msg), "store: commit failed: %s",
			 cause);
	/* The flush hook ends the transaction once the coroutines woken by
	 * the answers before this one have run: what they record in memory
	 * belongs to it. */
	commit_asap = true;
}

/* The answer to a COMMIT sent came: ends its transaction. */
static void
flight_end(void)
{
	flight = false;
	if (flight_ok) {
		txn_over(true);
		store__be->db_report();
		return;
	}
	log_error("%s", fail_msg);
	fail_uncommitted = false;
	/* A COMMIT answered with an error (a statement before it in its
	 * batch failed) leaves the server's transaction open, aborted. */
	store__be->db_rollback();
	txn_over(false);
}

/* A write nobody waits for yet (a job's end, a claim) may stay open this
 * long, so that one fsync covers the changes of many loop iterations.
 * Whoever reports a change waits in store_sync(), which commits at once. */
#define COMMIT_DELAY 0.005

bool
store_flush(void *arg)
{
	(void)arg;
	bool did = false;
	if (flight) {
		if (!flight_answered)
			return false; /* its answer wakes the loop */
		flight_end();
		did = true;
	}
	if (in_txn && holds > 0) {
		if (!closing)
			return false; /* store_unhold() comes back here */
		/* Closing in the middle of a held change: it must not
		 * commit half written. */
		log_warnx("store: closing during a held change; rolling back");
		store_abort();
		did = true;
	}
	if (in_txn) {
		if (nwaiters == 0 && !commit_asap && !closing &&
		    loop_ev() != NULL &&
		    loop_now() < txn_opened + COMMIT_DELAY) {
			if (!ev_is_active(&commit_timer)) {
				ev_timer_set(&commit_timer,
					     txn_opened + COMMIT_DELAY -
						     loop_now(),
					     0);
				ev_timer_start(loop_ev(), &commit_timer);
			}
			return false;
		}
		if (loop_ev() != NULL && ev_is_active(&commit_timer))
			ev_timer_stop(loop_ev(), &commit_timer);
		commit_asap = false;
		txn_commit();
		did = true;
		/* Claims waiting for a crash-safe commit start their
		 * processes now; the fsync for the reporters comes on the
		 * next pass, so a job's dispatch does not wait for it. */
		if (nwaiters > nreporters)
			return true;
	}
	if (unsynced && (!sync_flight || closing) &&
	    (nreporters > 0 || durable_asap || closing)) {
		durable_asap = false;
		if (durable_start() != 0) {
			snprintf(fail_msg, sizeof(fail_msg), "%s", diag_msg());
			log_error("%s", fail_msg);
			note_failed(done_seq);
		}
		waitq_notify_all(&commit_wq);
		did = true;
	}
	return did;
}

int
store_commit_now(void)
{
	if (!in_txn)
		return 0;
	if (loop_ev() != NULL && ev_is_active(&commit_timer))
		ev_timer_stop(loop_ev(), &commit_timer);
	commit_asap = false;
	if (txn_commit() != 0)
		return -1;
	if (make_durable() != 0) {
		note_failed(done_seq);
		return -1;
	}
	return 0;
}

void
store_abort(void)
{
	/* A transaction whose COMMIT is in flight is the answer's to end:
	 * it is awaited, and what is aborted is what follows. */
	while (flight && coro_self() != NULL)
		if (waitq_wait(&commit_wq, -1) != 0)
			return;
	if (!in_txn || flight)
		return;
	if (!txn_doomed)
		snprintf(fail_msg, sizeof(fail_msg), "store: rolled back");
	store__be->db_rollback();
	txn_over(false);
}

/* Waits until every write made so far is committed (and with durable,
 * fsynced); -1 naming the cause when a transaction holding a write of this
 * coroutine since its last sync failed.  A coroutine that wrote nothing
 * (a ping, a read) is not failed for another's loss. */
static int
sync_wait(bool durable)
{
	uint64_t *mark = coro_local();
	uint64_t first = *mark;
	uint64_t mine = in_txn ? txn_seq : done_seq;
	bool wait_sync = durable && synced_seq < mine &&
			 (unsynced || sync_flight);
	if (!in_txn && wait_sync && coro_self() == NULL) {
		/* No coroutine to wait in: made durable now. */
		if (make_durable() != 0)
			return -1;
	} else if (in_txn || wait_sync) {
		int rc = 0;
		nwaiters++;
		nreporters += durable;
		while (done_seq < mine || (durable && synced_seq < mine &&
					   !failed_between(mine, mine))) {
			if (waitq_wait(&commit_wq, -1) != 0) {
				rc = -1;
				break;
			}
		}
		nwaiters--;
		nreporters -= durable;
		if (rc != 0)
			return -1;
	}
	*mark = 0;
	if (first != 0 && failed_between(first, mine))
		return diag_set(E_DB, "%s", fail_msg);
	return 0;
}

int
store_sync(void)
{
	return sync_wait(true);
}

int
store_sync_crash_safe(void)
{
	return sync_wait(false);
}

void
store_request_commit(bool durable)
{
	commit_asap = true;
	if (durable)
		durable_asap = true;
}

int
store_make_durable(void)
{
	return make_durable();
}

bool
store_txn_open(void)
{
	return in_txn;
}

bool
store_syncing(void)
{
	return sync_flight;
}

bool
store_committing(void)
{
	return flight && !flight_answered;
}

void
store_add_txn_hook(store_txn_fn fn, void *arg)
{
	for (int i = 0; i < ntxn_hooks; i++)
		if (txn_hooks[i].fn == fn && txn_hooks[i].arg == arg)
			return;
	if (ntxn_hooks == MAX_TXN_HOOKS)
		panic("store: too many transaction hooks");
	txn_hooks[ntxn_hooks].fn = fn;
	txn_hooks[ntxn_hooks].arg = arg;
	ntxn_hooks++;
}

int
store_hold(void)
{
	if (store__write_begin() != 0)
		return -1;
	holds++;
	return 0;
}

void
store_unhold(void)
{
	assert(holds > 0);
	holds--;
}

bool
store_held(void)
{
	return holds > 0;
}
