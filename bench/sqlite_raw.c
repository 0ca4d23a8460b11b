/*
 * sqlite_raw: the storage baseline of the submit benchmarks.  Measures what
 * SQLite alone does on the disk jobd's state lives on: single-row INSERT
 * transactions per second, and rows per second in transactions of 1,000
 * rows, in WAL mode with synchronous FULL or NORMAL, plus bytes per row on
 * disk.  The row is shaped like a small queued job (a dozen integers, an
 * argv and a cwd, a partial index on the ready order), not like jobd's
 * exact schema, so the figure stays a property of the disk and of SQLite.
 *
 * Usage: sqlite_raw DIR SECONDS
 * Prints key=value lines; it never touches anything outside DIR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BATCH_ROWS 1000

static const char schema[] =
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  qid INTEGER NOT NULL, state INTEGER NOT NULL,"
	"  priority INTEGER NOT NULL, run_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL, attempt INTEGER NOT NULL,"
	"  max_attempts INTEGER NOT NULL, timeout REAL NOT NULL,"
	"  kill_grace REAL NOT NULL, uid INTEGER NOT NULL,"
	"  argv TEXT, cwd TEXT NOT NULL, env_id INTEGER);"
	"CREATE INDEX jobs_ready ON jobs(qid, priority DESC, run_at, id)"
	"  WHERE state = 2;";

static const char insert_sql[] =
	"INSERT INTO jobs (qid, state, priority, run_at, created_at, attempt,"
	" max_attempts, timeout, kill_grace, uid, argv, cwd, env_id)"
	" VALUES (2, 2, 0, ?1, ?1, 0, 1, 0, 5, 0, '[\"/bin/true\"]', '/', 1)";

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "sqlite_raw: %s: %s\n", what,
		db ? sqlite3_errmsg(db) : "out of memory");
	exit(1);
}

static void
exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(db, sql);
}

static void
insert(sqlite3 *db, sqlite3_stmt *s, long long t)
{
	sqlite3_bind_int64(s, 1, t);
	if (sqlite3_step(s) != SQLITE_DONE)
		die(db, "insert");
	sqlite3_reset(s);
}

static sqlite3 *
open_db(const char *path, const char *sync)
{
	sqlite3 *db = NULL;
	char sql[64];

	unlink(path);
	snprintf(sql, sizeof(sql), "%s-wal", path);
	unlink(sql);
	snprintf(sql, sizeof(sql), "%s-shm", path);
	unlink(sql);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(db, path);
	exec(db, "PRAGMA journal_mode = WAL");
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", sync);
	exec(db, sql);
	exec(db, schema);
	return db;
}

/* Runs transactions of rows rows for about secs seconds; returns rows/s. */
static double
run(const char *path, const char *sync, int rows, double secs, long long *total)
{
	sqlite3 *db = open_db(path, sync);
	sqlite3_stmt *s;
	long long n = 0;
	double t0, t;

	if (sqlite3_prepare_v2(db, insert_sql, -1, &s, NULL) != SQLITE_OK)
		die(db, "prepare");
	t0 = now();
	do {
		exec(db, "BEGIN");
		for (int i = 0; i < rows; i++)
			insert(db, s, n + i);
		exec(db, "COMMIT");
		n += rows;
		t = now();
	} while (t - t0 < secs);
	sqlite3_finalize(s);
	sqlite3_close(db);
	*total = n;
	return (double)n / (t - t0);
}

int
main(int argc, char **argv)
{
	char path[4096];
	double secs;
	long long n;
	struct stat st;

	if (argc != 3 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: sqlite_raw DIR SECONDS\n");
		return 2;
	}
	if (snprintf(path, sizeof(path), "%s/raw.db", argv[1]) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "sqlite_raw: %s: %s\n", argv[1],
			strerror(ENAMETOOLONG));
		return 2;
	}
	printf("single_full=%.1f\n", run(path, "FULL", 1, secs, &n));
	printf("single_normal=%.1f\n", run(path, "NORMAL", 1, secs, &n));
	printf("batch_normal=%.1f\n",
	       run(path, "NORMAL", BATCH_ROWS, secs, &n));
	printf("batch_full=%.1f\n", run(path, "FULL", BATCH_ROWS, secs, &n));
	/* The last database closed cleanly, so its WAL is checkpointed
	 * into the main file and removed: the file is all there is. */
	if (stat(path, &st) == 0 && n > 0)
		printf("bytes_per_row=%.1f\n", (double)st.st_size / (double)n);
	unlink(path);
	return 0;
}
