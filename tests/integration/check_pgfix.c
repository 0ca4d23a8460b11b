/*
 * pgfix_suite: the private PostgreSQL fixture (pgfix.h) the cluster tests
 * build on.  It starts a server with the settings it promises, makes a
 * database that libpq reaches, leaves no process and no file behind, and
 * runs beside another fixture without either seeing the other.  Where
 * PostgreSQL is not installed, each test says why it skips and passes.
 */
#include <check.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pgfix.h"

Suite *pgfix_suite(void);

/* Starts p, or prints why test skips: false then. */
static bool
begin(struct pgfix *p, const char *test)
{
	if (pgfix_start(p) == 0)
		return true;
	fprintf(stderr, "%s: skipped: %s\n", test, p->why);
	return false;
}

/* A process as it was seen: pid and start time (clock ticks after boot),
 * so that a pid used again later is not taken for it. */
struct proc {
	long pid;
	unsigned long long start;
};

/* The start time of pid, or 0 when it is gone or a zombie; *ppid (ppid
 * may be NULL) gets its parent. */
static unsigned long long
proc_start(long pid, long *ppid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	char *s = jd_slurp(path);
	unsigned long long start = 0;
	char *rp = s ? strrchr(s, ')') : NULL;
	/* After "pid (comm)": state, ppid (field 4), and starttime is
	 * field 22. */
	if (rp != NULL && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X') {
		char *f = rp + 4;
		long parent = strtol(f, &f, 10);
		if (ppid)
			*ppid = parent;
		for (int i = 0; i < 17 && f != NULL; i++)
			f = strchr(f + 1, ' ');
		if (f != NULL)
			start = strtoull(f + 1, NULL, 10);
	}
	free(s);
	return start;
}

/* The postmaster and its children now, in at most n; the count. */
static int
server_procs(const struct pgfix *p, struct proc *out, int n)
{
	int k = 0;
	char path[96];
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
		 (long)p->pid, (long)p->pid);
	char *kids = jd_slurp(path);
	ck_assert_ptr_nonnull(kids);
	out[k].pid = p->pid;
	out[k].start = proc_start(p->pid, NULL);
	ck_assert_msg(out[k].start > 0, "postmaster %ld is not running",
		      (long)p->pid);
	k++;
	for (char *s = kids, *end; k < n; s = end) {
		long pid = strtol(s, &end, 10), ppid = 0;
		if (end == s)
			break;
		out[k].pid = pid;
		out[k].start = proc_start(pid, &ppid);
		if (out[k].start > 0 && ppid == (long)p->pid)
			k++;
	}
	free(kids);
	return k;
}

/* Fails the test if any of the n processes still runs. */
static void
assert_gone(const struct proc *procs, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(proc_start(procs[i].pid, NULL) != procs[i].start,
			      "process %ld of the server still runs",
			      procs[i].pid);
}

/* Stops p and fails the test unless its directory and every process of
 * its server are gone. */
static void
stop_and_check(struct pgfix *p)
{
	struct proc procs[64];
	char dir[sizeof(p->dir)], what[4200];
	int n = server_procs(p, procs, 64);

	/* A postmaster alone would mean the probe found no children. */
	ck_assert_int_ge(n, 2);
	snprintf(dir, sizeof(dir), "%s", p->dir);
	pgfix_stop(p);
	ck_assert_msg(!jd_exists(dir), "%s is still there", dir);
	ck_assert_msg(jd_procs_with(dir, 0, what, sizeof(what)) == 0,
		      "still running: %s", what);
	assert_gone(procs, n);
	ck_assert_str_eq(p->dir, "");
}

/* The server runs with the settings pgfix.h promises, on its socket only;
 * a database made with pgfix_createdb is reached by adding its name to the
 * connection string and keeps a table; the stop leaves nothing. */
START_TEST(pgfix_roundtrip)
{
	struct pgfix p;
	char path[160], *conninfo;

	if (!begin(&p, "pgfix_roundtrip"))
		return;
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", p.dir, p.port);
	ck_assert_msg(jd_exists(path), "no socket %s", path);
	PGconn *c = pgfix_connect(pgfix_conninfo(&p));
	char *v = pgfix_value(c, "SHOW server_version_num");
	ck_assert_int_ge(atol(v), 140000);
	free(v);
	pgfix_value_is(c, "SHOW fsync", "off");
	pgfix_value_is(c, "SHOW listen_addresses", "");
	pgfix_value_is(c, "SHOW idle_in_transaction_session_timeout", "5s");
	/* SHOW gives 0 for the keepalives of a Unix socket connection; the
	 * server's own values are what TCP clients will get. */
	pgfix_value_is(
		c,
		"SELECT string_agg(name || '=' || reset_val, ',' ORDER BY "
		"name) FROM pg_settings WHERE name LIKE 'tcp_keepalives_%'",
		"tcp_keepalives_count=3,tcp_keepalives_idle=2,"
		"tcp_keepalives_interval=1");
	pgfix_value_is(c, "SELECT current_user", "jobd");
	pgfix_value_is(c, "SHOW server_encoding", "UTF8");

	ck_assert_msg(pgfix_createdb(&p, "jobs") == 0, "createdb: %s", p.why);
	ck_assert_int_eq(pgfix_createdb(&p, "jobs"), -1);
	ck_assert_msg(strstr(p.why, "already exists") != NULL, "why: %s",
		      p.why);
	ck_assert_int_eq(pgfix_createdb(&p, "a \"quoted\" name"), 0);
	pgfix_value_is(c,
		       "SELECT string_agg(datname, ',' ORDER BY datname) FROM "
		       "pg_database WHERE datname NOT LIKE 'template%'",
		       "a \"quoted\" name,jobs,postgres");

	ck_assert_int_ge(
		asprintf(&conninfo, "%s dbname=jobs", pgfix_conninfo(&p)), 0);
	PGconn *j = pgfix_connect(conninfo);
	pgfix_value_is(j, "SELECT current_database()", "jobs");
	pgfix_exec(j, "CREATE TABLE job (id bigint PRIMARY KEY, name text)");
	pgfix_exec(j, "INSERT INTO job VALUES (1, 'first'), (2, 'second')");
	pgfix_value_is(j, "SELECT string_agg(name, ',' ORDER BY id) FROM job",
		       "first,second");
	pgfix_value_is(c,
		       "SELECT count(*) FROM pg_tables WHERE tablename = 'job'",
		       "0");
	PQfinish(j);
	j = pgfix_connect(conninfo);
	pgfix_value_is(j, "SELECT count(*) FROM job", "2");
	free(conninfo);

	/* The stop ends the server with both connections still open. */
	stop_and_check(&p);
	ck_assert(PQstatus(c) == CONNECTION_OK);
	PGresult *r = PQexec(c, "SELECT 1");
	ck_assert_int_ne(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	PQfinish(c);
	PQfinish(j);
	pgfix_stop(&p);
}
END_TEST

/* Two fixtures at once (as two tests run in parallel): distinct
 * directories and ports, separate data, and stopping one leaves the other
 * running. */
START_TEST(pgfix_two_at_once)
{
	struct pgfix a, b;
	char sql[64];

	if (!begin(&a, "pgfix_two_at_once"))
		return;
	ck_assert_int_eq(pgfix_start(&b), 0);
	ck_assert_str_ne(a.dir, b.dir);
	ck_assert_int_ne(a.port, b.port);
	ck_assert_int_ne(a.pid, b.pid);
	PGconn *ca = pgfix_connect(pgfix_conninfo(&a));
	PGconn *cb = pgfix_connect(pgfix_conninfo(&b));
	snprintf(sql, sizeof(sql), "%d", a.port);
	pgfix_value_is(ca, "SHOW port", sql);
	snprintf(sql, sizeof(sql), "%d", b.port);
	pgfix_value_is(cb, "SHOW port", sql);
	pgfix_exec(ca, "CREATE TABLE only_a (x int)");
	pgfix_exec(ca, "INSERT INTO only_a VALUES (1)");
	pgfix_value_is(ca, "SELECT count(*) FROM only_a", "1");
	pgfix_value_is(cb,
		       "SELECT count(*) FROM pg_tables WHERE tablename = "
		       "'only_a'",
		       "0");

	PQfinish(ca);
	stop_and_check(&a);
	pgfix_value_is(cb, "SELECT 1 + 1", "2");
	PQfinish(cb);
	stop_and_check(&b);
}
END_TEST

Suite *
pgfix_suite(void)
{
	Suite *s = suite_create("pgfix");
	TCase *tc = tcase_create("pgfix");
	/* A start and a stop take about a second each here; their bounds
	 * (pgfix.h) are far longer. */
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, pgfix_roundtrip);
	tcase_add_test(tc, pgfix_two_at_once);
	suite_add_tcase(s, tc);
	return s;
}
