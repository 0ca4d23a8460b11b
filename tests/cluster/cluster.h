/*
 * cluster: three jobd nodes on one private PostgreSQL database, for the
 * scenarios of the cluster suites (SCALEOUT 13).  Built on the integration
 * harness (harness.h) and its server fixture (pgfix.h).
 *
 * One server serves every scenario: the runner starts it (cl_server_start)
 * and each scenario makes a database of its own.  As root, with ip(8),
 * each node runs in a network namespace of its own, joined to the host by
 * a veth pair, and reaches the server over TCP through it: a partition
 * (cl_partition: the host end of the pair down) cuts every connection of
 * that node to the database and nothing else (the harness reaches a node
 * through its Unix socket, which namespaces do not hide).  Otherwise the
 * nodes reach the server by its Unix socket, and cl_partitions() is false:
 * the partition scenarios are skipped, saying so.
 *
 * Every job runs through the scenario's wrapper (cl_spec): it takes `flock
 * -n` on a file named after JOBD_JOB_ID under locks/QUEUE/ (when another
 * process holds it, a line goes to DOUBLE_RUN), logs its start, a SIGTERM
 * and its end, with the node (JOBD_NODE, or the socket of the jobd that
 * started it) to runs.log, and runs the command as a child that dies with
 * it.  A sampler counts the held locks of each queue (/proc/locks) every
 * 10 ms and writes each change to conc.log: the running count,
 * exact even for jobs killed with their node.  cl_stop asserts "never
 * twice at once" (A2) for every scenario.
 */
#ifndef CLUSTER_H_INCLUDED
#define CLUSTER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define CL_NODES 3
/* The nodes' [daemon] timing: lease 6 s, rescue_grace 1 s, kill_grace 1 s. */
#define CL_LEASE 6.0
#define CL_GRACE 1.0
#define CL_KILL_GRACE 1.0
/* What a process start may add on a loaded machine to a bound the design
 * gives (fork, exec and the wrapper's first date(1)). */
#define CL_SLACK 0.5

struct cl_node {
	struct jd jd;	/* dir, sock, state, conf, log, fd, pid */
	char name[8];	/* "n1".. */
	char ns[32];	/* its network namespace, "" when none */
	char veth[16];	/* the host end of its veth pair, "" when none */
	char addr[20];	/* the server's address as it sees it */
	double started; /* when it last answered ping, wall clock */
};

struct cluster {
	char dir[64];	  /* wrap.sh, runs.log, DOUBLE_RUN, conc.log, locks/ */
	char db[32];	  /* the scenario's database */
	char wrap[96];	  /* the wrapper's path */
	char extra[2048]; /* config text after each node's [daemon] */
	struct cl_node n[CL_NODES + 1]; /* 1-based: n[1] is n1 */
	pid_t sampler;			/* the conc.log sampler, 0: none */
	PGconn *pg;			/* the harness's connection to db */
};

/* One run of a job's wrapper, from runs.log. */
struct cl_run {
	long long id;
	int attempt;
	int node;     /* 1..3, 0 when unknown */
	int pid;      /* the wrapper's */
	double start; /* wall clock, s */
	double term;  /* when it got SIGTERM, 0: never */
	double end;   /* when it ended, 0: not logged (killed) */
	int status;   /* its command's exit status, when ended */
};

/* ---- the runner's part (check_cluster.c), once per process ---- */

/* Makes the namespaces and veth pairs when root and ip(8) are here;
 * false, with why, otherwise.  Torn down when the runner exits. */
bool cl_net_setup(char *why, size_t n);
/* Starts the shared server (in a Check test: the fixture asserts), over
 * TCP on the veth addresses when the network is up.  0, or -1 with why
 * when PostgreSQL is not here. */
int cl_server_start(char *why, size_t n);
void cl_server_stop(void);
/* True when nodes run in namespaces, so partitions can be made. */
bool cl_partitions(void);
/* Why cl_partitions() is false. */
const char *cl_no_partitions(void);
/* The shared server (pgfix_restart for A11). */
struct pgfix *cl_server(void);

/* ---- a scenario ---- */

/* Makes the scenario's directory, database and wrapper, and starts the
 * sampler; no node yet.  extra (may be NULL) is appended to every node's
 * config (queue and producer sections), each @WRAP@ in it replaced by the
 * wrapper's path.  Every node has [queue q] with
 * concurrency 4 before it. */
void cl_init(struct cluster *c, const char *extra);
/* Starts node i (1..3) and waits until it answers ping (20 s): in its
 * namespace when there is one; its state dir is kept across restarts. */
void cl_node_start(struct cluster *c, int i);
/* Starts nodes 1..3. */
void cl_start_all(struct cluster *c);
/* Fails the test, with the end of its log, when node i has exited. */
void cl_assert_alive(struct cluster *c, int i);
/* SIGKILL to node i, reaped. */
void cl_node_kill9(struct cluster *c, int i);
/* SIGTERM to node i; returns its exit status (-1: it had to be killed). */
int cl_node_stop(struct cluster *c, int i);
/* Cuts node i from the database (its veth pair down), and heals it. */
void cl_partition(struct cluster *c, int i);
void cl_heal(struct cluster *c, int i);
/* Stops every node, stops the sampler, asserts never twice at once (A2:
 * DOUBLE_RUN empty, no two logged runs of one job overlap), and removes
 * the directory (the database stays until the server stops). */
void cl_stop(struct cluster *c);

/* A job spec running argv (NULL-terminated) through the wrapper in queue
 * (new ref).  rerun >= 0: a second run of the job sleeps that many seconds
 * instead of running argv (so a rescued `sleep 30` ends soon). */
json_t *cl_spec(const struct cluster *c, const char *queue, double rerun,
		const char *const *argv);
/* Submits `sleep secs` through the wrapper to node i; the new id. */
int64_t cl_submit_sleep(struct cluster *c, int i, const char *queue,
			double secs, double rerun);

/* The runs in runs.log (caller frees), *n their number. */
struct cl_run *cl_runs(const struct cluster *c, int *n);
/* Waits until at least want runs of job id were logged on a node other
 * than not (0: any), within timeout_s; the latest such run, or a run with
 * id 0 when time ran out. */
struct cl_run cl_wait_run(const struct cluster *c, long long id, int not,
			  int want, double timeout_s);
/* The highest running count conc.log shows for queue since wall-clock
 * time since (0: ever), and *at when it was first reached (may be NULL). */
int cl_conc_max(const struct cluster *c, const char *queue, double since,
		double *at);

/* Runs sql (printf format) on the scenario's database; the first value of
 * the first row (caller frees; "" for NULL), NULL when there is no row;
 * fails the test on an error. */
char *cl_sql(struct cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same, as an integer (-1 when there is no row). */
long long cl_sql_int(struct cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Polls node i until job id is terminal (timeout_s); the job (new ref),
 * or fails the test. */
json_t *cl_wait_done(struct cluster *c, int i, int64_t id, double timeout_s);

/* Wall-clock seconds (runs.log's clock). */
double cl_wall(void);

#endif /* CLUSTER_H_INCLUDED */
