/*
 * store, SQLite backend: the connection and what it does beside the rows.
 * Opens the database (pragmas, migrations, every statement prepared once),
 * provides store.c the transaction primitives (begin, commit, rollback,
 * fsync of the WAL), and owns savepoints, spills of a held change, the
 * database's sizes and the checkpoint thread.  The rows are
 * store_queue.c's and store_job*.c's; the SQL text is store_sql.c's; when
 * to commit is store.c's decision, never this file's.
 */
#include "store_sqlite.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coro.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "store_impl.h"
#include "xmem.h"

static sqlite3 *db;
static sqlite3_stmt *stmts[S_COUNT];
static char *db_path;
static bool full_sync;	    /* synchronous = full was configured */
static int wal_fd = -1;	    /* the WAL file, for fdatasync */
static int sp_depth;	    /* savepoints open */
static uint64_t sp_yields;  /* coro_yields() when the first opened */
static bool busy_fail_fast; /* a lock taken now must not be waited for */

/* Checkpoints run in a thread of their own, on a connection of their own:
 * after a big commit (a submit of 100,000 jobs) copying the WAL into the
 * database takes tens of milliseconds, which the loop must not wait for.
 * The loop's connection only asks for one (its WAL hook), once the WAL
 * holds CKPT_PAGES.  The thread touches nothing but its connection and
 * these fields, under ckpt.mu. */
#define CKPT_PAGES 1000
static struct {
	pthread_t thread;
	bool running; /* the thread was started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted; /* a checkpoint is asked for */
	bool stop;   /* the thread is to leave */
	int err;     /* last SQLite error of a checkpoint, 0: none */
} ckpt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* With synchronous = full, the WAL's fdatasync runs in a thread of its
 * own too: on a busy disk it takes tens or hundreds of milliseconds, which
 * no client must wait for.  The loop asks (store__db_fsync_send); the
 * thread syncs and writes to an eventfd the loop watches (sync_th.io),
 * which tells the store (store__fsync_answered).  Started at the first
 * ask.  The thread knows nothing of the loop (which may end before the
 * store closes, in tests): it touches only the descriptors and these
 * fields, under sync_th.mu. */
static struct {
	pthread_t thread;
	bool running; /* the thread was started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;	     /* the WAL, for the asked sync */
	bool wanted; /* a sync is asked for */
	bool done;   /* ... and over: err says how */
	bool stop;   /* the thread is to leave */
	int err;     /* errno of the sync done, 0: none */
	int efd;     /* the eventfd the thread wakes the loop with */
	ev_io io;    /* its watcher, on the loop of generation gen */
	unsigned gen;
	bool watching;
} sync_th = {.mu = PTHREAD_MUTEX_INITIALIZER,
	     .cv = PTHREAD_COND_INITIALIZER,
	     .efd = -1};

sqlite3 *
store__sqlite(void)
{
	return db;
}

/* SQLite rolls a transaction back by itself after some errors (a full
 * disk, an I/O error).  The group transaction is then doomed: later writes
 * fail until the flush ends it as failed, so no write runs outside it and
 * every writer of it learns of the loss. */
static void
check_txn_lost(void)
{
	if (store_txn_open() && !store__txn_doomed() &&
	    sqlite3_get_autocommit(db))
		store__txn_lost(sqlite3_errmsg(db));
}

int
store__db_error(const char *what)
{
	int rc = diag_set(E_DB, "store: %s: %s", what, sqlite3_errmsg(db));
	check_txn_lost();
	return rc;
}

sqlite3_stmt *
store__st(enum store__stmt_id id)
{
	sqlite3_stmt *s = stmts[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

sqlite3_stmt *
store__stmt(enum store__stmt_id id)
{
	return stmts[id];
}

int
store__st_exec(sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		int r = store__db_error(what);
		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
	return 0;
}

json_t *
store__col_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (t == NULL)
		return NULL;
	return json_loads(t, JSON_DECODE_ANY, NULL);
}

static int
exec_sql(const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		diag_set(E_DB, "store: %s", err ? err : "error");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* BEGIN IMMEDIATE takes the write lock at once: another process holding
 * it makes the write fail now (SQLite is not asked to wait), instead of a
 * write halfway through a transaction. */
int
store__db_begin(void)
{
	busy_fail_fast = true;
	int rc = sqlite3_step(store__st(S_BEGIN));
	busy_fail_fast = false;
	sqlite3_reset(stmts[S_BEGIN]);
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			return diag_set(E_DB, "store: the database is locked "
					      "by another process");
		return diag_set(E_DB, "store: begin: %s", sqlite3_errmsg(db));
	}
	return 0;
}

int
store__db_commit(void)
{
	if (sqlite3_step(store__st(S_COMMIT)) != SQLITE_DONE) {
		int rc = diag_set(E_DB, "store: commit failed: %s",
				  sqlite3_errmsg(db));
		sqlite3_reset(stmts[S_COMMIT]);
		return rc;
	}
	sqlite3_reset(stmts[S_COMMIT]);
	return 0;
}

void
store__db_rollback(void)
{
	if (!sqlite3_get_autocommit(db)) {
		sqlite3_step(store__st(S_ROLLBACK));
		sqlite3_reset(stmts[S_ROLLBACK]);
	}
}

void
store__db_txn_over(bool committed)
{
	sp_depth = 0;
	if (!committed)
		store__env_cache_clear();
}

/* The WAL's descriptor, opened at first use; -1 with E_DB. */
static int
wal_open(void)
{
	if (wal_fd < 0) {
		char *wal = xasprintf("%s-wal", db_path);
		wal_fd = open(wal, O_RDWR | O_CLOEXEC);
		free(wal);
		if (wal_fd < 0)
			return diag_set(E_DB, "store: cannot open the WAL: %s",
					strerror(errno));
	}
	return wal_fd;
}

int
store__db_fsync(void)
{
	if (!full_sync)
		return 0;
	if (wal_open() < 0)
		return -1;
	while (fdatasync(wal_fd) != 0) {
		if (errno != EINTR)
			return diag_set(E_DB, "store: fdatasync: %s",
					strerror(errno));
	}
	return 0;
}

static void *
sync_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sync_th.mu);
	for (;;) {
		while (!sync_th.wanted && !sync_th.stop)
			pthread_cond_wait(&sync_th.cv, &sync_th.mu);
		if (sync_th.stop)
			break;
		int fd = sync_th.fd;
		pthread_mutex_unlock(&sync_th.mu);
		int err = 0;
		while (fdatasync(fd) != 0 && (err = errno) == EINTR)
			err = 0;
		pthread_mutex_lock(&sync_th.mu);
		sync_th.wanted = false;
		sync_th.done = true;
		sync_th.err = err;
		uint64_t one = 1;
		/* Cannot fail but full, which wakes the loop as well. */
		(void)!write(sync_th.efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&sync_th.mu);
	return NULL;
}

/* On the loop: the thread's sync is over. */
static void
sync_answered_cb(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	uint64_t n;
	(void)!read(sync_th.efd, &n, sizeof(n));
	pthread_mutex_lock(&sync_th.mu);
	bool done = sync_th.done;
	int err = sync_th.err;
	sync_th.done = false;
	pthread_mutex_unlock(&sync_th.mu);
	if (done)
		store__fsync_answered(err == 0, strerror(err));
}

/* Watches the eventfd on the current loop (unless it does already); the
 * loop's life does not hang on it. */
static void
sync_watch(void)
{
	if (sync_th.watching && sync_th.gen == loop_generation())
		return;
	/* A watcher on an earlier loop went with it. */
	ev_io_init(&sync_th.io, sync_answered_cb, sync_th.efd, EV_READ);
	ev_io_start(loop_ev(), &sync_th.io);
	ev_unref(loop_ev());
	sync_th.gen = loop_generation();
	sync_th.watching = true;
}

/* Starts the sync thread; false when it cannot start. */
static bool
sync_start(void)
{
	sync_th.stop = sync_th.wanted = sync_th.done = false;
	sync_th.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sync_th.efd < 0) {
		log_warnx("store: fsyncs run in the loop: eventfd: %s",
			  strerror(errno));
		return false;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&sync_th.thread, NULL, sync_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("store: fsyncs run in the loop: no thread");
		close(sync_th.efd);
		sync_th.efd = -1;
		return false;
	}
	sync_th.running = true;
	return true;
}

static void
sync_stop(void)
{
	if (!sync_th.running)
		return;
	pthread_mutex_lock(&sync_th.mu);
	sync_th.stop = true;
	pthread_cond_signal(&sync_th.cv);
	pthread_mutex_unlock(&sync_th.mu);
	pthread_join(sync_th.thread, NULL);
	sync_th.running = false;
	if (sync_th.watching && loop_ev() != NULL &&
	    sync_th.gen == loop_generation()) {
		ev_ref(loop_ev());
		ev_io_stop(loop_ev(), &sync_th.io);
	}
	sync_th.watching = false;
	close(sync_th.efd);
	sync_th.efd = -1;
}

int
store__db_fsync_send(void)
{
	static bool no_thread;
	if (!full_sync || no_thread || loop_ev() == NULL)
		return 1;
	if (wal_open() < 0)
		return -1;
	if (!sync_th.running && !sync_start()) {
		no_thread = true;
		return 1;
	}
	sync_watch();
	pthread_mutex_lock(&sync_th.mu);
	assert(!sync_th.wanted);
	/* An answer a loop that ended never read is forgotten. */
	sync_th.done = false;
	sync_th.fd = wal_fd;
	sync_th.wanted = true;
	pthread_cond_signal(&sync_th.cv);
	pthread_mutex_unlock(&sync_th.mu);
	return 0;
}

/* A short wait for a lock, for reads (a checkpoint or a recovery of the
 * WAL by another process): about 2 ms at most, so the loop never stalls
 * on it.  The group transaction's own BEGIN does not wait at all. */
#define BUSY_TRIES 10
#define BUSY_PAUSE_US 200

static int
busy_cb(void *arg, int n)
{
	(void)arg;
	if (busy_fail_fast || n >= BUSY_TRIES)
		return 0;
	usleep(BUSY_PAUSE_US);
	return 1;
}

static int
migrate(void)
{
	sqlite3_stmt *s;
	int version = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
	    SQLITE_OK)
		return store__db_error("user_version");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	int latest = STORE_SCHEMA_VERSION;
	if (version > latest)
		return diag_set(E_DB,
				"store: database schema %d is newer than "
				"this jobd (%d)",
				version, latest);
	if (version == latest)
		return 0;
	if (exec_sql("BEGIN IMMEDIATE") != 0)
		return -1;
	for (int v = version; v < latest; v++) {
		if (exec_sql(store__migrations[v]) != 0)
			goto fail;
		log_info("store: migrated schema to version %d", v + 1);
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest);
	if (exec_sql(sql) != 0 || exec_sql("COMMIT") != 0)
		goto fail;
	return 0;
fail:
	exec_sql("ROLLBACK");
	return -1;
}

/* ---- the checkpoint thread ---- */

static void *
ckpt_main(void *arg)
{
	sqlite3 *cdb = arg;
	pthread_mutex_lock(&ckpt.mu);
	for (;;) {
		while (!ckpt.wanted && !ckpt.stop)
			pthread_cond_wait(&ckpt.cv, &ckpt.mu);
		if (ckpt.stop)
			break;
		ckpt.wanted = false;
		pthread_mutex_unlock(&ckpt.mu);
		/* Passive: it never blocks the writer, and the writer
		 * starts the WAL over once all of it is copied. */
		int rc = sqlite3_wal_checkpoint_v2(
			cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ckpt.mu);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			ckpt.err = rc;
	}
	pthread_mutex_unlock(&ckpt.mu);
	sqlite3_close(cdb);
	return NULL;
}

/* The loop's connection committed: pages frames are in the WAL. */
static int
wal_hook(void *arg, sqlite3 *d, const char *name, int pages)
{
	(void)arg;
	(void)d;
	(void)name;
	if (pages >= CKPT_PAGES && ckpt.running) {
		pthread_mutex_lock(&ckpt.mu);
		ckpt.wanted = true;
		pthread_cond_signal(&ckpt.cv);
		pthread_mutex_unlock(&ckpt.mu);
	}
	return SQLITE_OK;
}

/* Starts the checkpoint thread; without it (it could not start), SQLite
 * checkpoints in the loop as it would by itself. */
static void
ckpt_start(const char *path)
{
	sqlite3 *cdb = NULL;
	if (sqlite3_open_v2(path, &cdb,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_exec(cdb, "PRAGMA synchronous = NORMAL", NULL, NULL,
			 NULL) != SQLITE_OK) {
		log_warnx("store: checkpoints run in the loop: %s",
			  cdb ? sqlite3_errmsg(cdb) : "out of memory");
		sqlite3_close(cdb);
		return;
	}
	ckpt.stop = ckpt.wanted = false;
	ckpt.err = 0;
	/* Signals are the loop's: the thread is born with all blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&ckpt.thread, NULL, ckpt_main, cdb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("store: checkpoints run in the loop: no thread");
		sqlite3_close(cdb);
		return;
	}
	ckpt.running = true;
	sqlite3_wal_hook(db, wal_hook, NULL);
}

static void
ckpt_stop(void)
{
	if (!ckpt.running)
		return;
	pthread_mutex_lock(&ckpt.mu);
	ckpt.stop = true;
	pthread_cond_signal(&ckpt.cv);
	pthread_mutex_unlock(&ckpt.mu);
	pthread_join(ckpt.thread, NULL);
	ckpt.running = false;
	sqlite3_wal_autocheckpoint(db, CKPT_PAGES);
}

/* Logs what the checkpoint thread could not do (it does not log). */
void
store__db_report(void)
{
	if (!ckpt.running)
		return;
	pthread_mutex_lock(&ckpt.mu);
	int err = ckpt.err;
	ckpt.err = 0;
	pthread_mutex_unlock(&ckpt.mu);
	if (err != 0)
		log_warnx("store: checkpoint: %s", sqlite3_errstr(err));
}

/* ---- open and close ---- */

int
store__db_open(const char *path, bool sync_full)
{
	/* Two threads use SQLite, each with its own connection (the loop,
	 * and checkpoints): no mutex per connection, no memory statistics.
	 * These fail harmlessly once SQLite is initialised (a second
	 * open). */
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		diag_set(E_DB, "store: cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	/* WAL lets readers (the sqlite3 shell, backups) work beside jobd.
	 * SQLite itself runs with synchronous NORMAL: a commit is written
	 * to the WAL, which survives a crash of jobd (the page cache keeps
	 * it), but not power loss.  With `synchronous = full` configured,
	 * the store fsyncs the WAL itself before anything is reported —
	 * what SQLite's FULL does at every commit — so commits nobody
	 * reports (a claim before its spawn, a job's end) cost no fsync
	 * until the next report.  The busy timeout is a couple of
	 * milliseconds (busy_cb): jobd is the only writer, a long wait
	 * would stall the loop, and a write refused because another
	 * process holds the lock is retried by its writer. */
	full_sync = sync_full;
	if (exec_sql("PRAGMA journal_mode = WAL") != 0 ||
	    exec_sql("PRAGMA synchronous = NORMAL") != 0 ||
	    exec_sql("PRAGMA foreign_keys = ON") != 0 ||
	    sqlite3_busy_handler(db, busy_cb, NULL) != SQLITE_OK ||
	    exec_sql("PRAGMA cache_size = -8000") != 0 || migrate() != 0) {
		diag_prefix(path);
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(db, store__stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &stmts[i],
				       NULL) != SQLITE_OK)
			return store__db_error(store__stmt_sql[i]);
	}
	db_path = xstrdup(path);
	ckpt_start(path);
	return 0;
}

bool
store__db_is_open(void)
{
	return db != NULL;
}

void
store__db_close(void)
{
	ckpt_stop();
	sync_stop();
	for (int i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(stmts[i]);
		stmts[i] = NULL;
	}
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
				  NULL);
	if (sqlite3_close(db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(db));
	db = NULL;
	free(db_path);
	db_path = NULL;
	if (wal_fd >= 0)
		close(wal_fd);
	wal_fd = -1;
	store__env_cache_clear();
}

/* ---- savepoints, spills, sizes ---- */

int
store__sqlite_savepoint(void)
{
	if (store__write_begin() != 0)
		return -1;
	if (store__st_exec(store__st(S_SAVEPOINT), "savepoint") != 0)
		return -1;
	if (sp_depth++ == 0)
		sp_yields = coro_yields();
	return 0;
}

int
store__sqlite_release(void)
{
	/* A savepoint never spans a yield (store.h). */
	assert(sp_depth <= 0 || coro_yields() == sp_yields);
	/* A transaction that failed meanwhile took the savepoint along. */
	if (sp_depth <= 0 || !store_txn_open() || store__txn_doomed())
		return diag_set(E_DB, "%s",
				store__txn_doomed() ? store__fail_msg()
						    : "store: savepoint lost");
	sp_depth--;
	return store__st_exec(store__st(S_RELEASE), "release");
}

void
store__sqlite_rollback(void)
{
	store__env_cache_clear();
	assert(sp_depth <= 0 || coro_yields() == sp_yields);
	if (sp_depth <= 0 || !store_txn_open() || store__txn_doomed())
		return;
	store__st_exec(store__st(S_ROLLBACK_TO), "rollback to");
	store__st_exec(store__st(S_RELEASE), "release");
	sp_depth--;
}

/* A held change writes what it made so far into the WAL, so that its
 * commit has little left to write.  Their sync is the commit's, in the
 * background (store__db_fsync_send). */
void
store__sqlite_spill(void)
{
	if (store_txn_open())
		sqlite3_db_cacheflush(db);
}

void
store__sqlite_sizes(int64_t *db_bytes, int64_t *wal_bytes)
{
	struct stat sb;
	*db_bytes = *wal_bytes = 0;
	if (db_path == NULL)
		return;
	if (stat(db_path, &sb) == 0)
		*db_bytes = sb.st_size;
	char *wal = xasprintf("%s-wal", db_path);
	if (stat(wal, &sb) == 0)
		*wal_bytes = sb.st_size;
	free(wal);
}

/* ---- the cluster: one node, always registered ---- */

int
store__sqlite_node_register(const char *name, const char *instance,
			    double lease)
{
	(void)name;
	(void)instance;
	(void)lease;
	return 0;
}

int
store__sqlite_node_heartbeat(double lease)
{
	(void)lease;
	return 0;
}

int
store__sqlite_node_rescue(double grace, int max_recoveries, store_job_fn fn,
			  void *arg)
{
	(void)grace;
	(void)max_recoveries;
	(void)fn;
	(void)arg;
	return 0;
}

int
store__sqlite_node_cancelled(store_id_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return 0;
}

int
store__sqlite_node_leave(void)
{
	return 0;
}

#define STORE_SQLITE_CALL(ret, name, params, args) .name = store__sqlite_##name,
#define STORE_SQLITE_CALLV(name, params, args) .name = store__sqlite_##name,

const struct store__backend store__sqlite_backend = {
	.name = "sqlite",
	.db_is_open = store__db_is_open,
	.db_close = store__db_close,
	.db_begin = store__db_begin,
	.db_commit = store__db_commit,
	.db_rollback = store__db_rollback,
	.db_txn_over = store__db_txn_over,
	.db_report = store__db_report,
	.db_fsync = store__db_fsync,
	.db_fsync_send = store__db_fsync_send,
	STORE_BACKEND_CALLS(STORE_SQLITE_CALL, STORE_SQLITE_CALLV)};
