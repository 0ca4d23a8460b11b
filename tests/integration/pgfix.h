/*
 * pgfix: a private PostgreSQL server for one test, in its own temporary
 * directory, reached only through a Unix socket in that directory (no TCP
 * port is opened, so fixtures never collide, however many run at once).
 * The cluster is made with `initdb -A trust -U jobd --no-sync` and runs
 * with fsync off (no test crashes the machine), 2/1/3 s TCP keepalives and
 * a 5 s idle-in-transaction timeout.  The programs are those of Debian's
 * postgresql package, the newest major version under
 * /usr/lib/postgresql/N/bin (14 at least).  As root, initdb and the
 * server run as the user postgres (through setpriv: initdb refuses root);
 * the test connects as the database user jobd, which trust lets in.
 * Every wait is bounded: initdb 60 s, pg_ctl start and stop 30 s each
 * (their -t; killed at 45 s).
 */
#ifndef PGFIX_H_INCLUDED
#define PGFIX_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

#include <check.h>
#include <libpq-fe.h>

struct pgfix {
	char dir[64];	    /* the temporary directory, socket directory too */
	char data[96];	    /* dir/data, the cluster */
	char bin[128];	    /* where initdb and pg_ctl are */
	int port;	    /* names the socket dir/.s.PGSQL.port */
	pid_t pid;	    /* the postmaster, 0 when not running */
	char listen[160];   /* TCP addresses too (pgfix_start_tcp), or "" */
	char conninfo[192]; /* what pgfix_conninfo returns */
	char why[512];	    /* why pgfix_start or pgfix_createdb failed */
};

/* Makes a new cluster in a new temporary directory and starts its server.
 * Returns 0 once it accepts connections, or -1 when PostgreSQL is not
 * available here (no initdb under /usr/lib/postgresql, one older than 14,
 * root without the user postgres, no setpriv); p->why says which, and
 * nothing is left behind.  The test then prints "<test>: skipped: <why>"
 * and passes.  When PostgreSQL is here but initdb or pg_ctl fails, fails
 * the test (with the tail of their output).  Arms jd_guard for the
 * directory, so a test that fails or times out leaves no server behind.
 * Ends with pgfix_stop. */
int pgfix_start(struct pgfix *p);

/* As pgfix_start, and the server also listens on TCP: on the addresses
 * listen (listen_addresses syntax, such as "10.1.1.1,10.1.2.1": they must
 * be configured on an interface already) at p->port, then a port that was
 * free on the host, and lets user jobd in by trust from the network
 * hba_net (CIDR, such as "10.1.0.0/16").  pgfix_conninfo still names the
 * Unix socket. */
int pgfix_start_tcp(struct pgfix *p, const char *listen, const char *hba_net);

/* `pg_ctl restart -m fast -w`: every session is ended and the server comes
 * back with the same settings on the same socket and port.  Fails the test
 * when it does not accept connections within 45 s. */
void pgfix_restart(struct pgfix *p);

/* A libpq connection string for the database postgres as user jobd, with
 * a 10 s connect_timeout (borrowed from p until pgfix_stop).  Appending
 * " dbname=NAME" reaches database NAME instead: the last keyword wins. */
const char *pgfix_conninfo(const struct pgfix *p);

/* Creates database name (any name: it is quoted), owned by jobd.  Returns
 * 0, or -1 with the server's message in p->why. */
int pgfix_createdb(struct pgfix *p, const char *name);

/* Stops the server at once (`pg_ctl stop -m immediate -w`: nothing in it
 * needs to survive), kills the postmaster if that fails, waits until it
 * has exited (10 s at most; its children end before it), and removes the
 * directory.  Does nothing when p holds no directory, so it may be called
 * twice, or after a pgfix_start that failed. */
void pgfix_stop(struct pgfix *p);

/* Runs test t alone, in this process, so that a server it starts outlives
 * it (a fixture's start or stop); true when it passed.  Run by the name
 * suite, so that CK_RUN_SUITE, which picks the suites to run, does not
 * skip it. */
bool pgfix_run_here(const char *suite, const TTest *t);

/* Blocking libpq for the tests' own looks at a database; each fails the
 * test on an error. */
/* A connection to conninfo.  The server's notices are not printed: a stop
 * warns every open connection. */
PGconn *pgfix_connect(const char *conninfo);
/* Runs sql (statements; rows they return are ignored). */
void pgfix_exec(PGconn *c, const char *sql);
/* The one value sql returns (caller frees; "" for NULL). */
char *pgfix_value(PGconn *c, const char *sql);
/* Fails the test unless sql returns the one value want. */
void pgfix_value_is(PGconn *c, const char *sql, const char *want);

#endif /* PGFIX_H_INCLUDED */
