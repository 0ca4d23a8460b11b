/*
 * The cluster harness checked on itself: the wrapper sees a second holder
 * of a job's lock and the checks of cl_stop would fail on it, the sampler
 * counts running jobs (and forgets a killed one), a node reaches the
 * server over TCP from its namespace, and a partition cuts that.
 */
#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "pgfix.h"
#include "scenarios.h"

/* Starts the wrapper by hand as job id of queue q running `sleep secs`. */
static pid_t
run_wrapper(const struct cluster *c, const char *id, const char *secs)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		setenv("JOBD_JOB_ID", id, 1);
		setenv("JOBD_QUEUE", "hq", 1);
		setenv("JOBD_ATTEMPT", "1", 1);
		setenv("JOBD_NODE", "n1", 1);
		execl(c->wrap, c->wrap, "sleep", secs, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits until conc.log shows count k for queue hq last (5 s). */
static void
conc_reaches(const struct cluster *c, int k)
{
	char path[160], q[64];
	snprintf(path, sizeof(path), "%s/conc.log", c->dir);
	double deadline = jd_now() + 5;
	for (;;) {
		char *text = jd_slurp(path);
		int last = -1, v;
		double t;
		for (char *l = text ? strtok(text, "\n") : NULL; l != NULL;
		     l = strtok(NULL, "\n"))
			if (sscanf(l, "%lf %63s %d", &t, q, &v) == 3 &&
			    strcmp(q, "hq") == 0)
				last = v;
		free(text);
		if (last == k)
			return;
		ck_assert_msg(jd_now() < deadline,
			      "conc.log: hq at %d, not %d after 5 s", last, k);
		jd_pause_ms(10);
	}
}

START_TEST(harness_wrapper_sees_a_double_run)
{
	struct cluster c;
	char path[160];
	cl_init(&c, NULL);
	pid_t a = run_wrapper(&c, "7", "30");
	ck_assert_int_eq(cl_wait_run(&c, 7, 0, 1, 5).id, 7);
	conc_reaches(&c, 1);
	pid_t b = run_wrapper(&c, "7", "0.1");
	int st;
	ck_assert_int_eq(waitpid(b, &st, 0), b);
	snprintf(path, sizeof(path), "%s/DOUBLE_RUN", c.dir);
	ck_assert_int_eq(jd_count_lines(path), 1);
	int n;
	struct cl_run *r = cl_runs(&c, &n);
	ck_assert_int_eq(n, 2);
	ck_assert(r[1].end > 0 && r[1].start < r[1].end && r[0].end == 0);
	ck_assert_int_eq(r[0].node, 1);
	free(r);
	/* A wrapper killed as its node would be: its lock goes, and so does
	 * its command. */
	kill(a, SIGKILL);
	waitpid(a, &st, 0);
	conc_reaches(&c, 0);
	ck_assert_int_eq(jd_procs_with(c.dir, 0, NULL, 0), 0);
	/* cl_stop would fail on what this test made on purpose. */
	unlink(path);
	snprintf(path, sizeof(path), "%s/runs.log", c.dir);
	jd_write_file(path, "");
	cl_stop(&c);
}
END_TEST

/* True when a connection to the server from node i's namespace succeeds
 * within 3 s (checked in a child that enters the namespace). */
static bool
reaches_server(const struct cluster *c, int i)
{
	char conninfo[256], path[96];
	snprintf(conninfo, sizeof(conninfo),
		 "hostaddr=%s port=%d user=jobd dbname=%s connect_timeout=3",
		 c->n[i].addr, cl_server()->port, c->db);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		snprintf(path, sizeof(path), "/run/netns/%s", c->n[i].ns);
		int fd = open(path, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
			_exit(2);
		PGconn *pg = PQconnectdb(conninfo);
		_exit(PQstatus(pg) == CONNECTION_OK ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 2,
		      "cannot enter namespace %s", c->n[i].ns);
	return WEXITSTATUS(st) == 0;
}

START_TEST(harness_node_runs_jobs_over_tcp)
{
	struct cluster c;
	cl_init(&c, NULL);
	cl_node_start(&c, 1);
	int64_t id = cl_submit_sleep(&c, 1, "q", 0.01, -1);
	json_t *j = cl_wait_done(&c, 1, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	struct cl_run r = cl_wait_run(&c, id, 0, 1, 5);
	ck_assert_int_eq(r.node, 1);
	ck_assert(r.end > r.start);
	if (cl_partitions()) {
		/* Every session of the node comes from its namespace. */
		long long tcp = cl_sql_int(
			&c,
			"SELECT count(*) FROM pg_stat_activity WHERE "
			"datname = '%s' AND client_addr = '%s'::inet + 1",
			c.db, c.n[1].addr);
		ck_assert_int_ge(tcp, 1);
		ck_assert_int_eq(cl_sql_int(&c,
					    "SELECT count(*) FROM "
					    "pg_stat_activity WHERE datname = "
					    "'%s' AND client_addr IS NULL AND "
					    "pid <> pg_backend_pid()",
					    c.db),
				 0);
	}
	cl_stop(&c);
}
END_TEST

START_TEST(harness_partition_cuts_the_database)
{
	struct cluster c;
	if (!cl_partitions()) {
		fprintf(stderr,
			"harness_partition_cuts_the_database: "
			"skipped: %s\n",
			cl_no_partitions());
		return;
	}
	cl_init(&c, NULL);
	ck_assert(reaches_server(&c, 2));
	cl_partition(&c, 2);
	ck_assert(!reaches_server(&c, 2));
	ck_assert(reaches_server(&c, 1));
	cl_heal(&c, 2);
	double deadline = jd_now() + 10;
	while (!reaches_server(&c, 2))
		ck_assert_msg(jd_now() < deadline, "no way back after heal");
	cl_stop(&c);
}
END_TEST

void
cl_harness_tests(TCase *tc)
{
	cl_add(tc, harness_wrapper_sees_a_double_run);
	cl_add(tc, harness_node_runs_jobs_over_tcp);
	cl_add(tc, harness_partition_cuts_the_database);
}
