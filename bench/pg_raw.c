/*
 * pg_raw: the database baseline of the cluster benchmark.  A bare libpq
 * claim loop on a table shaped like jobd's hot `jobs` table: per batch, one
 * `LIMIT k` claim (FOR UPDATE SKIP LOCKED, as jobd's, committed), one
 * fenced ack of the batch (committed) and one NOTIFY after it; no
 * processes, no protocol, one connection.  Every commit is durable
 * (synchronous_commit on, the server's default).
 *
 * Usage:
 *   pg_raw rate CONNINFO N K   N rows claimed and acknowledged K at a
 *                              time, in a table of its own (pg_raw_jobs,
 *                              made afresh); prints rate= (jobs/s), n=,
 *                              secs=
 *   pg_raw wait CONNINFO N S   polls jobd's jobs table every 5 ms until N
 *                              jobs have succeeded (S seconds at most);
 *                              exits 1 when one failed or time ran out;
 *                              prints secs= (from its start)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

static double
mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn)) die(PGconn *c, const char *what)
{
	fprintf(stderr, "pg_raw: %s: %s", what, c ? PQerrorMessage(c) : "\n");
	exit(1);
}

/* Runs sql (no parameters), which must succeed; the result. */
static PGresult *
run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die(c, sql);
	return r;
}

static const char setup_sql[] =
	"DROP TABLE IF EXISTS pg_raw_jobs;"
	"CREATE TABLE pg_raw_jobs (id bigserial PRIMARY KEY, qid int, "
	"state smallint, reason smallint, priority int, run_at timestamptz, "
	"attempt int, recoveries int, node_id bigint, node_epoch int, pid "
	"int, started_at timestamptz, finished_at timestamptz, exit_code "
	"int) WITH (fillfactor = 80);"
	"CREATE INDEX pg_raw_ready ON pg_raw_jobs (qid, priority DESC, "
	"run_at, id) WHERE state = 2;";

/* The claim of jobd's store (SCALEOUT 4), without the node and queue
 * checks: k ready rows, running on node 1 epoch 1. */
static const char claim_sql[] =
	"WITH j AS MATERIALIZED (SELECT id FROM pg_raw_jobs WHERE qid = 1 "
	"AND state = 2 ORDER BY priority DESC, run_at, id LIMIT $1 FOR "
	"UPDATE SKIP LOCKED) UPDATE pg_raw_jobs SET state = 3, reason = 0, "
	"attempt = attempt + 1, started_at = now(), node_id = 1, node_epoch "
	"= 1, pid = NULL, exit_code = NULL FROM j WHERE pg_raw_jobs.id = "
	"j.id RETURNING pg_raw_jobs.id";

/* The fenced ack of the batch. */
static const char ack_sql[] =
	"UPDATE pg_raw_jobs SET state = 4, reason = 1, exit_code = 0, "
	"finished_at = now(), node_id = NULL, node_epoch = NULL, pid = NULL "
	"WHERE id = ANY($1::bigint[]) AND node_id = 1 AND node_epoch = 1 AND "
	"state IN (3, 6) RETURNING id, state";

static int
mode_rate(PGconn *c, long n, int k)
{
	char sql[160], kbuf[16];
	PQclear(run(c, setup_sql));
	snprintf(sql, sizeof(sql),
		 "INSERT INTO pg_raw_jobs (qid, state, reason, priority, "
		 "run_at, attempt, recoveries) SELECT 1, 2, 0, 0, now(), 0, 0 "
		 "FROM generate_series(1, %ld)",
		 n);
	PQclear(run(c, sql));
	PQclear(run(c, "VACUUM ANALYZE pg_raw_jobs"));
	PQclear(PQprepare(c, "claim", claim_sql, 1, NULL));
	PQclear(PQprepare(c, "ack", ack_sql, 1, NULL));
	snprintf(kbuf, sizeof(kbuf), "%d", k);
	size_t cap = (size_t)k * 21 + 3;
	char *ids = malloc(cap);
	long done = 0;
	double t0 = mono();
	while (done < n) {
		const char *cv[1] = {kbuf};
		PGresult *r = PQexecPrepared(c, "claim", 1, cv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die(c, "claim");
		int got = PQntuples(r);
		if (got == 0)
			die(NULL, "claim found nothing before the end");
		char *w = ids;
		*w++ = '{';
		for (int i = 0; i < got; i++)
			w += snprintf(w, cap - (size_t)(w - ids), "%s%s",
				      i ? "," : "", PQgetvalue(r, i, 0));
		strcpy(w, "}");
		PQclear(r);
		const char *av[1] = {ids};
		r = PQexecPrepared(c, "ack", 1, av, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != got)
			die(c, "ack");
		PQclear(r);
		PQclear(run(c, "SELECT pg_notify('jobd', 'batch')"));
		done += got;
	}
	double secs = mono() - t0;
	printf("rate=%.1f\nn=%ld\nsecs=%.3f\n", (double)n / secs, n, secs);
	free(ids);
	PQclear(run(c, "DROP TABLE pg_raw_jobs"));
	return 0;
}

static int
mode_wait(PGconn *c, long n, double limit)
{
	struct timespec tick = {0, 5000000};
	double t0 = mono();
	for (;;) {
		PGresult *r = run(c,
				  "SELECT count(*) FILTER (WHERE state = 4), "
				  "count(*) FILTER (WHERE state IN (5, 6)) "
				  "FROM jobs");
		long ok = atol(PQgetvalue(r, 0, 0));
		long bad = atol(PQgetvalue(r, 0, 1));
		PQclear(r);
		if (bad > 0) {
			fprintf(stderr, "pg_raw: %ld jobs failed\n", bad);
			return 1;
		}
		if (ok >= n)
			break;
		if (mono() - t0 > limit) {
			fprintf(stderr, "pg_raw: %ld of %ld done in %.0f s\n",
				ok, n, limit);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	printf("secs=%.3f\n", mono() - t0);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 5 ||
	    (strcmp(argv[1], "rate") != 0 && strcmp(argv[1], "wait") != 0)) {
		fprintf(stderr, "usage: pg_raw rate CONNINFO N K | pg_raw wait "
				"CONNINFO N SECS\n");
		return 2;
	}
	PGconn *c = PQconnectdb(argv[2]);
	if (PQstatus(c) != CONNECTION_OK)
		die(c, "connect");
	PQclear(run(c, "SET client_min_messages = warning"));
	long n = atol(argv[3]);
	int rc = strcmp(argv[1], "rate") == 0 ? mode_rate(c, n, atoi(argv[4]))
					      : mode_wait(c, n, atof(argv[4]));
	PQfinish(c);
	return rc;
}
