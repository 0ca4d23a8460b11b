/*
 * The store's calls around jobs' attempts, on both backends (bothfix.h):
 * scheduled jobs promoted when due and the next one due, dependents
 * released by a success or cancelled by a failure (transitively, in the
 * order SQLite's walk reports them), the pids of running jobs, recovery at
 * start and its limit, and pruning by time, queue and limit.  Jobs are
 * made with store_job_insert; the state a scenario starts from is written
 * into the row directly and the outcome read from it, so that each test
 * checks only the call it is about; one takes the daemon's own path
 * (claim, pid, recovery) instead.  Without PostgreSQL the PostgreSQL
 * half of each test says it is skipped and passes.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "bothfix.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "loopfix.h"
#include "store.h"
#include "store_impl.h"
#include "store_pg.h"
#include "store_sqlite.h"

Suite *store_both_dep_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)
/* A parameter of poke() that is SQL NULL. */
#define NUL INT64_MIN

/* ---- the rows, directly ---- */

/* Runs sql (the text for the backend in use: lite for SQLite, pg for
 * PostgreSQL) with the n integer parameters v (NUL: NULL) inside the
 * group transaction; returns the first column of the first row (NUL when
 * none or NULL).  Yields. */
static int64_t
poke(const char *lite, const char *pg, int n, const int64_t *v)
{
	int64_t out = NUL;

	if (bothfix_backend() == BOTHFIX_SQLITE) {
		sqlite3_stmt *s = NULL;
		int rc;

		CO_EXPECT(store__write_begin() == 0);
		rc = sqlite3_prepare_v2(store__sqlite(), lite, -1, &s, NULL);
		CO_EXPECT(rc == SQLITE_OK);
		if (rc != SQLITE_OK)
			return NUL;
		for (int i = 0; i < n; i++)
			if (v[i] == NUL)
				sqlite3_bind_null(s, i + 1);
			else
				sqlite3_bind_int64(s, i + 1, v[i]);
		rc = sqlite3_step(s);
		CO_EXPECT(rc == SQLITE_ROW || rc == SQLITE_DONE);
		if (rc == SQLITE_ROW &&
		    sqlite3_column_type(s, 0) != SQLITE_NULL)
			out = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	} else {
		struct store_pg__args a = {0};
		PGresult *r = NULL;

		for (int i = 0; i < n; i++)
			if (v[i] == NUL)
				store_pg__arg_null(&a);
			else
				store_pg__arg_int(&a, v[i]);
		CO_EXPECT(store_pg__write("poke", pg, &a, &r) == 0);
		if (r != NULL && PQntuples(r) > 0 && !store_pg__null(r, 0, 0))
			out = store_pg__int(r, 0, 0);
		PQclear(r);
	}
	return out;
}

#define POKE(lite, pg, ...)                                  \
	poke(lite, pg, sizeof((int64_t[]){__VA_ARGS__}) / 8, \
	     (int64_t[]){__VA_ARGS__})

/* Puts job id in state with reason, finished at fin (NUL: not), with pid
 * (NUL: none), attempt and recoveries. */
static void
set_row(int64_t id, int state, int reason, int64_t fin, int64_t pid,
	int attempt, int recoveries)
{
	POKE("UPDATE jobs SET state = ?2, reason = ?3, finished_at = ?4, "
	     "pid = ?5, attempt = ?6, recoveries = ?7 WHERE id = ?1",
	     "UPDATE jobs SET state = $2, reason = $3, finished_at = " PG_TS(
		     "$4") ", pid = $5, attempt = $6, recoveries = $7 "
			   "WHERE id = $1",
	     id, state, reason, fin, pid, attempt, recoveries);
}

/* What the row of a job holds (found false: there is none). */
struct row {
	bool found;
	int state, reason, attempt, recoveries, deps_left;
	int64_t finished_at; /* ms; NUL: NULL */
	int64_t pid;	     /* NUL: NULL */
};

static struct row
row_of(int64_t id)
{
	struct row w = {.finished_at = NUL, .pid = NUL};
	static const char *const col[] = {
		"state", "reason", "attempt", "recoveries", "deps_left",
	};
	int *dst[] = {&w.state, &w.reason, &w.attempt, &w.recoveries,
		      &w.deps_left};
	char lite[128], pg[128];

	w.found = POKE("SELECT count(*) FROM jobs WHERE id = ?1",
		       "SELECT count(*) FROM jobs WHERE id = $1", id) == 1;
	if (!w.found)
		return w;
	for (size_t i = 0; i < sizeof(col) / sizeof(col[0]); i++) {
		snprintf(lite, sizeof(lite),
			 "SELECT %s FROM jobs WHERE id = ?1", col[i]);
		snprintf(pg, sizeof(pg), "SELECT %s FROM jobs WHERE id = $1",
			 col[i]);
		*dst[i] = (int)POKE(lite, pg, id);
	}
	w.finished_at = POKE(
		"SELECT finished_at FROM jobs WHERE id = ?1",
		"SELECT " PG_MS("finished_at") " FROM jobs WHERE id = $1", id);
	w.pid = POKE("SELECT pid FROM jobs WHERE id = ?1",
		     "SELECT pid FROM jobs WHERE id = $1", id);
	return w;
}

/* How many deps rows name job id as the dependent. */
static int64_t
deps_of(int64_t id)
{
	return POKE("SELECT count(*) FROM deps WHERE job_id = ?1",
		    "SELECT count(*) FROM deps WHERE job_id = $1", id);
}

/* How many deps rows name job id as the dependency. */
static int64_t
dependents_of(int64_t id)
{
	return POKE("SELECT count(*) FROM deps WHERE dep_id = ?1",
		    "SELECT count(*) FROM deps WHERE dep_id = $1", id);
}

/* ---- jobs ---- */

struct jopt {
	int64_t qid; /* 0: 1 */
	int state;
	int64_t run_at; /* 0: T0 */
	const int64_t *deps;
	size_t ndeps;
	int deps_left;
};

/* Inserts a job with store_job_insert, as a submit would; returns its id
 * (0 when it failed). */
static int64_t
add_job(const struct jopt *o)
{
	struct jobspec sp;
	struct store_job_new j;
	struct backoff bo = BACKOFF_DEFAULT_INIT;
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[ss]", "echo", "hi");
	if (o->ndeps > 0) {
		sp.depends_on = malloc(o->ndeps * sizeof(*sp.depends_on));
		memcpy(sp.depends_on, o->deps,
		       o->ndeps * sizeof(*sp.depends_on));
		sp.ndeps = o->ndeps;
	}
	memset(&j, 0, sizeof(j));
	j.spec = &sp;
	j.qid = o->qid ? o->qid : 1;
	j.state = o->state;
	j.reason = JOBD_REASON_NONE;
	j.created_at = T0;
	j.run_at = o->run_at ? o->run_at : T0;
	j.uid = 1000;
	j.kill_grace = 5;
	j.max_attempts = 3;
	j.backoff = bo;
	j.deps_left = o->deps_left;
	CO_EXPECT(store_job_insert(&j, &id) == 0);
	jobspec_destroy(&sp);
	return id;
}
#define ADD_JOB(...) add_job(&(struct jopt){__VA_ARGS__})

/* ---- what the calls report ---- */

struct change {
	int64_t id, qid;
	int from, to;
};

struct changes {
	struct change c[64];
	int n;
};

static void
record_change(int64_t id, int64_t qid, int from, int to, void *arg)
{
	struct changes *ch = arg;

	if (ch->n < 64)
		ch->c[ch->n] = (struct change){id, qid, from, to};
	ch->n++;
}

/* Whether ch holds exactly want[0..n), in that order. */
static bool
changes_are(const struct changes *ch, const struct change *want, int n)
{
	if (ch->n != n)
		return false;
	for (int i = 0; i < n; i++)
		if (ch->c[i].id != want[i].id || ch->c[i].qid != want[i].qid ||
		    ch->c[i].from != want[i].from || ch->c[i].to != want[i].to)
			return false;
	return true;
}
#define CHANGES_ARE(ch, ...)                                 \
	changes_are(ch, (struct change[]){__VA_ARGS__},      \
		    sizeof((struct change[]){__VA_ARGS__}) / \
			    sizeof(struct change))

/* ---- promotion ---- */

/* Due jobs become queued, reported by id whatever their times; the next
 * due time follows; other states and later jobs are left alone. */
static void
promote_f(void *arg)
{
	int64_t s1 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 300);
	int64_t s2 =
		ADD_JOB(.qid = 7, .state = JOBD_SCHEDULED, .run_at = T0 + 100);
	int64_t s3 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 200);
	int64_t s4 = ADD_JOB(.state = JOBD_SCHEDULED, .run_at = T0 + 900);
	int64_t w = ADD_JOB(.state = JOBD_WAITING, .run_at = T0 + 50);
	int64_t q = ADD_JOB(.state = JOBD_QUEUED, .run_at = T0 + 50);
	struct changes ch = {0};
	int64_t due = 0;

	(void)arg;
	CO_EXPECT(store_job_next_due(&due) == 0);
	CO_EXPECT(due == T0 + 100);
	CO_EXPECT(store_job_promote_due(T0 + 99, record_change, &ch) == 0);
	CO_EXPECT(ch.n == 0);
	CO_EXPECT(row_of(s2).state == JOBD_SCHEDULED);

	/* run_at == now is due. */
	CO_EXPECT(store_job_promote_due(T0 + 300, record_change, &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {s1, 1, JOBD_SCHEDULED, JOBD_QUEUED},
			      {s2, 7, JOBD_SCHEDULED, JOBD_QUEUED},
			      {s3, 1, JOBD_SCHEDULED, JOBD_QUEUED}));
	CO_EXPECT(row_of(s1).state == JOBD_QUEUED);
	CO_EXPECT(row_of(s2).state == JOBD_QUEUED);
	CO_EXPECT(row_of(s3).state == JOBD_QUEUED);
	CO_EXPECT(row_of(s4).state == JOBD_SCHEDULED);
	CO_EXPECT(row_of(w).state == JOBD_WAITING);
	CO_EXPECT(row_of(q).state == JOBD_QUEUED);
	CO_EXPECT(store_job_next_due(&due) == 0);
	CO_EXPECT(due == T0 + 900);

	/* Promoted once only. */
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_promote_due(T0 + 5000, record_change, &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {s4, 1, JOBD_SCHEDULED, JOBD_QUEUED}));
	due = 77;
	CO_EXPECT(store_job_next_due(&due) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(due == 77);
	CO_EXPECT(row_of(w).state == JOBD_WAITING);
}

START_TEST(store_both_dep_promote_by_time)
{
	bothfix_run("store_both_dep_promote_by_time", _i, promote_f, NULL);
}
END_TEST

/* ---- dependents ---- */

/* A success takes one dependency off each waiting dependent; those it was
 * the last of become queued, or scheduled when their time is later; jobs
 * no longer waiting are left as they are. */
static void
deps_success_f(void *arg)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	int64_t ab[] = {a, b};
	int64_t c = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 2,
			    .deps_left = 2);
	int64_t d = ADD_JOB(.qid = 5, .state = JOBD_WAITING, .deps = ab,
			    .ndeps = 1, .deps_left = 1, .run_at = T0 + 60000);
	int64_t e = ADD_JOB(.state = JOBD_WAITING, .deps = ab, .ndeps = 1,
			    .deps_left = 1);
	int64_t f = ADD_JOB(.qid = 6, .state = JOBD_WAITING, .deps = ab,
			    .ndeps = 1, .deps_left = 1);
	struct changes ch = {0};

	(void)arg;
	CO_EXPECT(deps_of(c) == 2);
	CO_EXPECT(dependents_of(a) == 4);
	/* e was cancelled meanwhile: a success must not revive it. */
	set_row(e, JOBD_CANCELLED, JOBD_REASON_CANCELLED, T0, NUL, 0, 0);
	set_row(a, JOBD_SUCCEEDED, JOBD_REASON_NONE, T0 + 10, NUL, 1, 0);
	CO_EXPECT(store_job_resolve_dependents(a, true, T0 + 10, record_change,
					       &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {d, 5, JOBD_WAITING, JOBD_SCHEDULED},
			      {f, 6, JOBD_WAITING, JOBD_QUEUED}));
	CO_EXPECT(row_of(c).state == JOBD_WAITING);
	CO_EXPECT(row_of(c).deps_left == 1);
	CO_EXPECT(row_of(d).state == JOBD_SCHEDULED);
	CO_EXPECT(row_of(d).deps_left == 0);
	CO_EXPECT(row_of(f).state == JOBD_QUEUED);
	CO_EXPECT(row_of(f).reason == JOBD_REASON_NONE);
	CO_EXPECT(row_of(e).state == JOBD_CANCELLED);
	CO_EXPECT(row_of(e).deps_left == 1);

	set_row(b, JOBD_SUCCEEDED, JOBD_REASON_NONE, T0 + 20, NUL, 1, 0);
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_resolve_dependents(b, true, T0 + 20, record_change,
					       &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {c, 1, JOBD_WAITING, JOBD_QUEUED}));
	CO_EXPECT(row_of(c).state == JOBD_QUEUED);
	CO_EXPECT(row_of(c).deps_left == 0);

	/* Told twice, or of a job nobody waits for: nothing changes. */
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_resolve_dependents(b, true, T0 + 30, record_change,
					       &ch) == 0);
	CO_EXPECT(store_job_resolve_dependents(f, true, T0 + 30, record_change,
					       &ch) == 0);
	CO_EXPECT(ch.n == 0);
	CO_EXPECT(row_of(c).deps_left == 0);
	CO_EXPECT(row_of(c).state == JOBD_QUEUED);
}

START_TEST(store_both_dep_success_releases_dependents)
{
	bothfix_run("store_both_dep_success_releases_dependents", _i,
		    deps_success_f, NULL);
}
END_TEST

/* A failure cancels the dependents that have not started, theirs, and so
 * on, each once, depth first in id order (b, then e through b, then c and
 * its own); a job that ended already is left as it is, and so are the
 * jobs behind it. */
static void
deps_failure_f(void *arg)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_WAITING, .deps = &a, .ndeps = 1,
			    .deps_left = 1);
	int64_t c = ADD_JOB(.qid = 3, .state = JOBD_WAITING, .deps = &a,
			    .ndeps = 1, .deps_left = 1);
	int64_t d = ADD_JOB(.state = JOBD_WAITING, .deps = &c, .ndeps = 1,
			    .deps_left = 1);
	int64_t bd[] = {b, d};
	int64_t e = ADD_JOB(.state = JOBD_WAITING, .deps = bd, .ndeps = 2,
			    .deps_left = 2);
	int64_t s =
		ADD_JOB(.qid = 4, .state = JOBD_QUEUED, .deps = &c, .ndeps = 1);
	int64_t g = ADD_JOB(.state = JOBD_WAITING, .deps = &a, .ndeps = 1,
			    .deps_left = 1);
	int64_t h = ADD_JOB(.state = JOBD_WAITING, .deps = &g, .ndeps = 1,
			    .deps_left = 1);
	int64_t y = ADD_JOB(.state = JOBD_QUEUED);
	int64_t z = ADD_JOB(.state = JOBD_WAITING, .deps = &y, .ndeps = 1,
			    .deps_left = 1);
	int64_t gone[] = {b, c, d, e, s};
	struct changes ch = {0};

	(void)arg;
	set_row(g, JOBD_CANCELLED, JOBD_REASON_CANCELLED, T0 + 5, NUL, 0, 0);
	set_row(a, JOBD_FAILED, JOBD_REASON_EXIT, T0 + 10, NUL, 1, 0);
	CO_EXPECT(store_job_resolve_dependents(a, false, T0 + 10, record_change,
					       &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {b, 1, JOBD_WAITING, JOBD_CANCELLED},
			      {e, 1, JOBD_WAITING, JOBD_CANCELLED},
			      {c, 3, JOBD_WAITING, JOBD_CANCELLED},
			      {d, 1, JOBD_WAITING, JOBD_CANCELLED},
			      {s, 4, JOBD_QUEUED, JOBD_CANCELLED}));
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		struct row w = row_of(gone[i]);

		CO_EXPECT(w.state == JOBD_CANCELLED);
		CO_EXPECT(w.reason == JOBD_REASON_DEPENDENCY_FAILED);
		CO_EXPECT(w.finished_at == T0 + 10);
	}
	CO_EXPECT(row_of(a).state == JOBD_FAILED);
	CO_EXPECT(row_of(g).state == JOBD_CANCELLED);
	CO_EXPECT(row_of(g).reason == JOBD_REASON_CANCELLED);
	CO_EXPECT(row_of(g).finished_at == T0 + 5);
	CO_EXPECT(row_of(h).state == JOBD_WAITING);
	CO_EXPECT(row_of(y).state == JOBD_QUEUED);
	CO_EXPECT(row_of(z).state == JOBD_WAITING);

	/* Told again: all of them ended already. */
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_resolve_dependents(a, false, T0 + 20, record_change,
					       &ch) == 0);
	CO_EXPECT(ch.n == 0);
	CO_EXPECT(row_of(e).finished_at == T0 + 10);

	/* A cancelled job's own dependents go the same way. */
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_resolve_dependents(g, false, T0 + 30, record_change,
					       &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {h, 1, JOBD_WAITING, JOBD_CANCELLED}));
	CO_EXPECT(row_of(h).finished_at == T0 + 30);
	CO_EXPECT(row_of(z).state == JOBD_WAITING);
}

START_TEST(store_both_dep_failure_cascades)
{
	bothfix_run("store_both_dep_failure_cascades", _i, deps_failure_f,
		    NULL);
}
END_TEST

/* Twenty levels of two jobs, each waiting for both of the level above:
 * 2^20 paths from the top, each job reached by two.  A failure at the top
 * cancels the forty once each, depth first: down the first of each level,
 * then back up through the second ones. */
#define LEVELS 20
static void
deps_ladder_f(void *arg)
{
	int64_t top = ADD_JOB(.state = JOBD_QUEUED);
	int64_t x[LEVELS], y[LEVELS];
	struct changes ch = {0};
	bool order = true;

	(void)arg;
	for (int i = 0; i < LEVELS; i++) {
		int64_t up[] = {i ? x[i - 1] : top, i ? y[i - 1] : top};
		size_t nup = i ? 2 : 1;

		x[i] = ADD_JOB(.state = JOBD_WAITING, .deps = up, .ndeps = nup,
			       .deps_left = (int)nup);
		y[i] = ADD_JOB(.state = JOBD_WAITING, .deps = up, .ndeps = nup,
			       .deps_left = (int)nup);
	}
	set_row(top, JOBD_FAILED, JOBD_REASON_EXIT, T0 + 10, NUL, 1, 0);
	CO_EXPECT(store_job_resolve_dependents(top, false, T0 + 10,
					       record_change, &ch) == 0);
	CO_EXPECT(ch.n == 2 * LEVELS);
	for (int i = 0; i < LEVELS && ch.n == 2 * LEVELS; i++) {
		order = order && ch.c[i].id == x[i];
		order = order && ch.c[2 * LEVELS - 1 - i].id == y[i];
	}
	CO_EXPECT(order);
	CO_EXPECT(row_of(x[LEVELS - 1]).state == JOBD_CANCELLED);
	CO_EXPECT(row_of(y[0]).reason == JOBD_REASON_DEPENDENCY_FAILED);
}

START_TEST(store_both_dep_failure_cascades_once_per_job)
{
	bothfix_run("store_both_dep_failure_cascades_once_per_job", _i,
		    deps_ladder_f, NULL);
}
END_TEST

/* ---- running jobs ---- */

struct pids {
	int64_t id[8];
	int pid[8];
	int n;
};

static void
record_pid(int64_t id, int pid, void *arg)
{
	struct pids *p = arg;

	if (p->n < 8) {
		p->id[p->n] = id;
		p->pid[p->n] = pid;
	}
	p->n++;
}

/* Only running jobs with a recorded pid: what a restart must kill. */
static void
running_pids_f(void *arg)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.state = JOBD_QUEUED);
	int64_t c = ADD_JOB(.state = JOBD_QUEUED);
	int64_t d = ADD_JOB(.state = JOBD_QUEUED);
	struct pids p = {0};

	(void)arg;
	CO_EXPECT(store_job_running_pids(record_pid, &p) == 0);
	CO_EXPECT(p.n == 0);
	set_row(a, JOBD_RUNNING, 0, NUL, 4242, 1, 0);
	set_row(b, JOBD_RUNNING, 0, NUL, NUL, 1, 0);
	set_row(c, JOBD_SUCCEEDED, 0, T0, 4343, 1, 0);
	set_row(d, JOBD_RUNNING, 0, NUL, 4444, 2, 0);
	CO_EXPECT(store_job_running_pids(record_pid, &p) == 0);
	CO_EXPECT(p.n == 2);
	CO_EXPECT(p.id[0] == a && p.pid[0] == 4242);
	CO_EXPECT(p.id[1] == d && p.pid[1] == 4444);
}

START_TEST(store_both_dep_running_pids)
{
	bothfix_run("store_both_dep_running_pids", _i, running_pids_f, NULL);
}
END_TEST

/* Running jobs go back to queued with their attempt given back, until
 * they were recovered max_recoveries times: then they fail. */
static void
recover_f(void *arg)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t idle = ADD_JOB(.state = JOBD_QUEUED);
	int64_t b = ADD_JOB(.qid = 2, .state = JOBD_QUEUED);
	int64_t f = ADD_JOB(.qid = 3, .state = JOBD_QUEUED);
	int64_t done = ADD_JOB(.state = JOBD_QUEUED);
	struct changes ch = {0};
	struct row w;

	(void)arg;
	set_row(a, JOBD_RUNNING, 0, NUL, 100, 1, 0);
	set_row(b, JOBD_RUNNING, 0, NUL, 101, 2, 2);
	set_row(f, JOBD_RUNNING, 0, NUL, 102, 2, 3);
	set_row(done, JOBD_SUCCEEDED, 0, T0 + 1, NUL, 1, 0);
	CO_EXPECT(store_job_recover(T0 + 100, 3, record_change, &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {a, 1, JOBD_RUNNING, JOBD_QUEUED},
			      {b, 2, JOBD_RUNNING, JOBD_QUEUED},
			      {f, 3, JOBD_RUNNING, JOBD_FAILED}));
	w = row_of(a);
	CO_EXPECT(w.state == JOBD_QUEUED);
	CO_EXPECT(w.reason == JOBD_REASON_RECOVERED);
	CO_EXPECT(w.attempt == 0);
	CO_EXPECT(w.recoveries == 1);
	CO_EXPECT(w.pid == NUL);
	CO_EXPECT(w.finished_at == NUL);
	w = row_of(b);
	CO_EXPECT(w.state == JOBD_QUEUED);
	CO_EXPECT(w.reason == JOBD_REASON_RECOVERED);
	CO_EXPECT(w.attempt == 1);
	CO_EXPECT(w.recoveries == 3);
	w = row_of(f);
	CO_EXPECT(w.state == JOBD_FAILED);
	CO_EXPECT(w.reason == JOBD_REASON_RECOVERY_LIMIT);
	CO_EXPECT(w.attempt == 1);
	CO_EXPECT(w.recoveries == 4);
	CO_EXPECT(w.pid == NUL);
	CO_EXPECT(w.finished_at == T0 + 100);
	CO_EXPECT(row_of(idle).state == JOBD_QUEUED);
	CO_EXPECT(row_of(idle).reason == JOBD_REASON_NONE);
	CO_EXPECT(row_of(done).state == JOBD_SUCCEEDED);

	/* b runs again, and is now past the limit. */
	set_row(b, JOBD_RUNNING, 0, NUL, 103, 2, 3);
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_recover(T0 + 200, 3, record_change, &ch) == 0);
	CO_EXPECT(CHANGES_ARE(&ch, {b, 2, JOBD_RUNNING, JOBD_FAILED}));
	CO_EXPECT(row_of(b).reason == JOBD_REASON_RECOVERY_LIMIT);
	CO_EXPECT(row_of(b).finished_at == T0 + 200);

	/* Nothing running: nothing to do. */
	memset(&ch, 0, sizeof(ch));
	CO_EXPECT(store_job_recover(T0 + 300, 3, record_change, &ch) == 0);
	CO_EXPECT(ch.n == 0);
}

START_TEST(store_both_dep_recover_and_its_limit)
{
	bothfix_run("store_both_dep_recover_and_its_limit", _i, recover_f,
		    NULL);
}
END_TEST

/* The daemon's own path: a job claimed, its pid recorded, then recovered
 * at each restart, until it is past the limit and fails. */
static void
recover_claimed_f(void *arg)
{
	int64_t a = ADD_JOB(.state = JOBD_QUEUED);
	int64_t idle = ADD_JOB(.qid = 2, .state = JOBD_QUEUED);
	struct store_job_run run;
	struct changes ch;
	struct pids p;
	struct row w;

	(void)arg;
	for (int i = 1; i <= 4; i++) {
		CO_EXPECT(store_job_claim(1, T0 + i, &run) == 0);
		CO_EXPECT(run.id == a);
		CO_EXPECT(run.recoveries == i - 1);
		store_job_run_destroy(&run);
		CO_EXPECT(store_job_set_pid(a, 500 + i) == 0);
		/* The restart: the node registers again, its epoch
		 * raised, and finds the attempts of the one before. */
		CO_EXPECT(store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE,
					      60) == 0);
		memset(&p, 0, sizeof(p));
		CO_EXPECT(store_job_running_pids(record_pid, &p) == 0);
		CO_EXPECT(p.n == 1 && p.id[0] == a && p.pid[0] == 500 + i);
		memset(&ch, 0, sizeof(ch));
		CO_EXPECT(store_job_recover(T0 + 100 * i, 3, record_change,
					    &ch) == 0);
		w = row_of(a);
		CO_EXPECT(w.recoveries == i);
		CO_EXPECT(w.attempt == 0);
		CO_EXPECT(w.pid == NUL);
		if (i <= 3) {
			CO_EXPECT(CHANGES_ARE(
				&ch, {a, 1, JOBD_RUNNING, JOBD_QUEUED}));
			CO_EXPECT(w.reason == JOBD_REASON_RECOVERED);
			CO_EXPECT(w.finished_at == NUL);
		} else {
			CO_EXPECT(CHANGES_ARE(
				&ch, {a, 1, JOBD_RUNNING, JOBD_FAILED}));
			CO_EXPECT(w.reason == JOBD_REASON_RECOVERY_LIMIT);
			CO_EXPECT(w.finished_at == T0 + 400);
		}
	}
	memset(&p, 0, sizeof(p));
	CO_EXPECT(store_job_running_pids(record_pid, &p) == 0);
	CO_EXPECT(p.n == 0);
	CO_EXPECT(store_job_claim(1, T0 + 500, &run) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(row_of(idle).state == JOBD_QUEUED);
}

START_TEST(store_both_dep_recover_claimed_jobs)
{
	bothfix_run("store_both_dep_recover_claimed_jobs", _i,
		    recover_claimed_f, NULL);
}
END_TEST

/* ---- pruning ---- */

struct pruned {
	int64_t id[16], qid[16];
	int state[16], attempts[16];
	int n;
};

static void
record_prune(int64_t id, int64_t qid, int state, int attempts, void *arg)
{
	struct pruned *p = arg;

	if (p->n < 16) {
		p->id[p->n] = id;
		p->qid[p->n] = qid;
		p->state[p->n] = state;
		p->attempts[p->n] = attempts;
	}
	p->n++;
}

/* Finished jobs that ended before the time, of the queue asked (or any),
 * the oldest first, with their own deps rows; the rest stays. */
static void
prune_f(void *arg)
{
	int64_t x = ADD_JOB(.state = JOBD_QUEUED);
	int64_t p1 = ADD_JOB(.state = JOBD_WAITING, .deps = &x, .ndeps = 1,
			     .deps_left = 1);
	int64_t p2 = ADD_JOB(.state = JOBD_QUEUED);
	int64_t p3 = ADD_JOB(.qid = 2, .state = JOBD_QUEUED);
	int64_t late = ADD_JOB(.state = JOBD_QUEUED);
	int64_t edge = ADD_JOB(.state = JOBD_QUEUED);
	int64_t k = ADD_JOB(.state = JOBD_WAITING, .deps = &p2, .ndeps = 1,
			    .deps_left = 1);
	int64_t run = ADD_JOB(.state = JOBD_QUEUED);
	struct pruned p = {0};
	int64_t n = -1;

	(void)arg;
	set_row(p1, JOBD_SUCCEEDED, 0, T0 + 1000, NUL, 1, 0);
	set_row(p2, JOBD_CANCELLED, JOBD_REASON_CANCELLED, T0 + 500, NUL, 2, 0);
	set_row(p3, JOBD_FAILED, JOBD_REASON_EXIT, T0 + 800, NUL, 3, 0);
	set_row(late, JOBD_FAILED, JOBD_REASON_EXIT, T0 + 2000, NUL, 1, 0);
	set_row(edge, JOBD_SUCCEEDED, 0, T0 + 1500, NUL, 1, 0);
	set_row(run, JOBD_RUNNING, 0, NUL, 77, 1, 0);
	CO_EXPECT(deps_of(p1) == 1);

	CO_EXPECT(store_job_prune(T0 + 1500, 1, 0, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 2);
	CO_EXPECT(p.n == 2);
	CO_EXPECT(p.id[0] == p2 && p.qid[0] == 1);
	CO_EXPECT(p.state[0] == JOBD_CANCELLED && p.attempts[0] == 2);
	CO_EXPECT(p.id[1] == p1 && p.qid[1] == 1);
	CO_EXPECT(p.state[1] == JOBD_SUCCEEDED && p.attempts[1] == 1);
	CO_EXPECT(!row_of(p1).found);
	CO_EXPECT(!row_of(p2).found);
	CO_EXPECT(row_of(p3).found);
	/* p1's own deps rows went with it; k's, which names p2, stays. */
	CO_EXPECT(deps_of(p1) == 0);
	CO_EXPECT(dependents_of(x) == 0);
	CO_EXPECT(deps_of(k) == 1);
	if (bothfix_backend() == BOTHFIX_POSTGRES)
		CO_EXPECT(POKE("",
			       "SELECT count(*) FROM job_specs "
			       "WHERE job_id IN ($1, $2)",
			       p1, p2) == 0);

	memset(&p, 0, sizeof(p));
	n = -1;
	CO_EXPECT(store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 1);
	CO_EXPECT(p.n == 1 && p.id[0] == p3 && p.qid[0] == 2);
	CO_EXPECT(p.state[0] == JOBD_FAILED && p.attempts[0] == 3);
	n = -1;
	CO_EXPECT(store_job_prune(T0 + 1500, -1, 0, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 0);
	CO_EXPECT(p.n == 1);

	/* Not finished, or not before the time: kept. */
	CO_EXPECT(row_of(x).state == JOBD_QUEUED);
	CO_EXPECT(row_of(late).state == JOBD_FAILED);
	CO_EXPECT(row_of(edge).state == JOBD_SUCCEEDED);
	CO_EXPECT(row_of(k).state == JOBD_WAITING);
	CO_EXPECT(row_of(run).state == JOBD_RUNNING);
	CO_EXPECT(POKE("SELECT count(*) FROM jobs",
		       "SELECT count(*) FROM jobs") == 5);
	/* No time bound (a queue's delete): every finished job, however
	 * late, and a time past what the database holds is no error. */
	n = -1;
	CO_EXPECT(store_job_prune(INT64_MAX, 1, 0, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 2);
	CO_EXPECT(!row_of(late).found && !row_of(edge).found);
	CO_EXPECT(row_of(run).state == JOBD_RUNNING);
}

START_TEST(store_both_dep_prune_by_time_and_queue)
{
	bothfix_run("store_both_dep_prune_by_time_and_queue", _i, prune_f,
		    NULL);
}
END_TEST

/* A big prune goes in chunks: each call deletes at most its limit, the
 * oldest first, and says how many, fewer than the limit when none is
 * left. */
static void
prune_limit_f(void *arg)
{
	static const int64_t fin[] = {500, 100, 400, 200, 300};
	int64_t id[5], n = -1;
	struct pruned p = {0};

	(void)arg;
	for (int i = 0; i < 5; i++) {
		id[i] = ADD_JOB(.state = JOBD_QUEUED);
		set_row(id[i], JOBD_CANCELLED, JOBD_REASON_CANCELLED,
			T0 + fin[i], NUL, 0, 0);
	}
	CO_EXPECT(store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 2);
	CO_EXPECT(p.n == 2 && p.id[0] == id[1] && p.id[1] == id[3]);
	CO_EXPECT(!row_of(id[1]).found && row_of(id[4]).found);
	n = -1;
	CO_EXPECT(store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 2);
	CO_EXPECT(p.n == 4 && p.id[2] == id[4] && p.id[3] == id[2]);
	n = -1;
	CO_EXPECT(store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 1);
	CO_EXPECT(p.n == 5 && p.id[4] == id[0]);
	n = -1;
	CO_EXPECT(store_job_prune(T0 + 1000, -1, 2, record_prune, &p, &n) == 0);
	CO_EXPECT(n == 0);
	CO_EXPECT(p.n == 5);
	CO_EXPECT(POKE("SELECT count(*) FROM jobs",
		       "SELECT count(*) FROM jobs") == 0);
}

START_TEST(store_both_dep_prune_in_chunks)
{
	bothfix_run("store_both_dep_prune_in_chunks", _i, prune_limit_f, NULL);
}
END_TEST

Suite *
store_both_dep_suite(void)
{
	Suite *s = suite_create("store_both_dep");
	TCase *tc = tcase_create("rows");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, store_both_dep_promote_by_time, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_success_releases_dependents, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_failure_cascades, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_failure_cascades_once_per_job, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_running_pids, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_recover_and_its_limit, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_recover_claimed_jobs, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_prune_by_time_and_queue, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_dep_prune_in_chunks, 0,
			    BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
