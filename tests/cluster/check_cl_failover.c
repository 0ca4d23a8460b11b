/*
 * A1 to A5 of SCALEOUT 13: a node killed, restarted, killed again and
 * again, and cut from the database.  t0 is the moment of the kill or the
 * partition, on the wall clock runs.log uses.  Bounds are the design's
 * (lease 6 s, rescue_grace 1 s, kill_grace 1 s), plus CL_SLACK for the
 * start of a process on a loaded machine where a bound is timed at a
 * job's first line.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jobd/proto.h>

#include "cluster.h"
#include "scenarios.h"

/* The rescue of a dead node's jobs: lease + grace + one rescue pass. */
#define RESCUE_BOUND (CL_LEASE + CL_GRACE + 2.0)

/* Runs four `sleep secs` (a rerun sleeps 0.2 s) on node i alone, then
 * starts the two other nodes; ids gets the jobs, pids their wrappers. */
static void
four_on(struct cluster *c, int i, double secs, int64_t ids[4], int pids[4])
{
	cl_node_start(c, i);
	for (int k = 0; k < 4; k++)
		ids[k] = cl_submit_sleep(c, i, "q", secs, 0.2);
	for (int k = 0; k < 4; k++) {
		struct cl_run r = cl_wait_run(c, ids[k], 0, 1, 15);
		ck_assert_msg(r.id == ids[k], "job %lld did not start",
			      (long long)ids[k]);
		ck_assert_int_eq(r.node, i);
		if (pids != NULL)
			pids[k] = r.pid;
	}
	for (int k = 1; k <= CL_NODES; k++)
		if (k != i)
			cl_node_start(c, k);
}

/* Job id ended succeeded with recoveries rec and attempt 1 (seen from
 * node i, within 20 s); the job (new ref). */
static json_t *
ends_recovered(struct cluster *c, int i, int64_t id, int rec)
{
	json_t *j = cl_wait_done(c, i, id, 20);
	char *s = json_dumps(j, JSON_COMPACT);
	ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0 &&
			      jd_num(j, "recoveries") == rec &&
			      jd_num(j, "attempt") == 1,
		      "job %lld: want succeeded, recoveries %d, attempt 1: %s",
		      (long long)id, rec, s);
	free(s);
	return j;
}

/* A3: node 2 is killed and stays down; nodes 1 and 3 run its jobs again
 * by t0 + lease + grace + 2 s. */
START_TEST(a3_killed_node_rescued_by_peers)
{
	struct cluster c;
	int64_t ids[4];
	double worst = 0;
	cl_init(&c, NULL);
	four_on(&c, 2, 30, ids, NULL);
	double t0 = cl_wall();
	cl_node_kill9(&c, 2);
	for (int k = 0; k < 4; k++) {
		struct cl_run r =
			cl_wait_run(&c, ids[k], 2, 1, RESCUE_BOUND + 10);
		ck_assert_msg(r.id == ids[k], "job %lld never started again",
			      (long long)ids[k]);
		ck_assert(r.node == 1 || r.node == 3);
		ck_assert_msg(r.start - t0 <= RESCUE_BOUND + CL_SLACK,
			      "job %lld started again %.2f s after the kill "
			      "(bound %.0f s)",
			      (long long)ids[k], r.start - t0, RESCUE_BOUND);
		if (r.start - t0 > worst)
			worst = r.start - t0;
	}
	fprintf(stderr,
		"A3: kill -9 rescued by peers in %.2f s (bound %.0f s)\n",
		worst, RESCUE_BOUND);
	for (int k = 0; k < 4; k++)
		json_decref(ends_recovered(&c, 1, ids[k], 1));
	cl_stop(&c);
}
END_TEST

/* A4: node 2 is killed and restarted at once (within 1 s when the machine
 * is not loaded): it recovers its own jobs at its start (a new epoch),
 * within 2 s, long before its lease would run out. */
START_TEST(a4_restarted_node_recovers_at_once)
{
	struct cluster c;
	int64_t ids[4];
	double worst = 0;
	cl_init(&c, NULL);
	four_on(&c, 2, 30, ids, NULL);
	long long epoch = cl_sql_int(&c, "SELECT epoch FROM nodes WHERE name "
					 "= 'n2'");
	ck_assert_int_ge(epoch, 1);
	double t0 = cl_wall();
	cl_node_kill9(&c, 2);
	cl_node_start(&c, 2);
	double up = c.n[2].started;
	/* So that what reruns the jobs is the restart: a peer's rescue
	 * comes no sooner than lease - lease/3 + grace (5 s) after the
	 * kill. */
	ck_assert_msg(up - t0 < 2.5, "node 2 took %.2f s to restart", up - t0);
	for (int k = 0; k < 4; k++) {
		struct cl_run r = cl_wait_run(&c, ids[k], 0, 2, 10);
		ck_assert_msg(r.id == ids[k], "job %lld never started again",
			      (long long)ids[k]);
		ck_assert_msg(r.start - up <= 2 + CL_SLACK,
			      "job %lld started again %.2f s after node 2 "
			      "was back (bound 2 s)",
			      (long long)ids[k], r.start - up);
		if (r.start - t0 > worst)
			worst = r.start - t0;
	}
	fprintf(stderr,
		"A4: restart recovered in %.2f s after the kill (node up "
		"after %.2f s)\n",
		worst, up - t0);
	ck_assert_int_eq(cl_sql_int(&c, "SELECT epoch FROM nodes WHERE name = "
					"'n2'"),
			 epoch + 1);
	for (int k = 0; k < 4; k++)
		json_decref(ends_recovered(&c, 2, ids[k], 1));
	cl_stop(&c);
}
END_TEST

/* A2 under churn: jobs on all three nodes while one is killed and
 * restarted and another stopped and restarted; none runs twice at once
 * (cl_stop checks the locks and the logged runs) and all succeed. */
START_TEST(a2_never_twice_under_churn)
{
	struct cluster c;
	int64_t ids[90];
	char secs[16];
	cl_init(&c, NULL);
	cl_start_all(&c);
	for (int k = 0; k < 90; k++) {
		snprintf(secs, sizeof(secs), "%.2f", 0.1 + (k % 5) * 0.1);
		const char *const argv[] = {"sleep", secs, NULL};
		ids[k] = jd_submit(&c.n[1 + k % 3].jd,
				   cl_spec(&c, "q", -1, argv));
	}
	ck_assert_int_eq(cl_wait_run(&c, ids[20], 0, 1, 15).id, ids[20]);
	cl_node_kill9(&c, 1);
	cl_node_start(&c, 1);
	ck_assert_int_eq(cl_node_stop(&c, 3), 0);
	cl_node_start(&c, 3);
	for (int k = 0; k < 90; k++) {
		json_t *j = cl_wait_done(&c, 2, ids[k], 30);
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
			      "job %lld: %s", (long long)ids[k],
			      jd_str(j, "state"));
		json_decref(j);
	}
	cl_stop(&c);
}
END_TEST

/* One node's answers in A1: the ids it acknowledged. */
struct a1_node {
	int sent, answered;
};

/* Reads what node i has answered so far (waiting up to ms for the first
 * line); appends acknowledged ids to acked. */
static void
a1_read(struct cluster *c, int i, struct a1_node *s, int64_t *acked,
	int *nacked, int ms)
{
	char *line;
	while (s->answered < s->sent &&
	       (line = jd_read_line(c->n[i].jd.fd, ms)) != NULL) {
		json_t *r = json_loads(line, 0, NULL);
		ck_assert_msg(r != NULL &&
				      json_is_true(json_object_get(r, "ok")),
			      "node %d refused a submit: %s", i, line);
		free(line);
		acked[(*nacked)++] = jd_num(json_object_get(r, "result"), "id");
		json_decref(r);
		s->answered++;
		ms = 5; /* jd_read_line reads nothing under 1 ms */
	}
}

/* A1: jobs submitted round-robin while a random node is killed and
 * restarted every second (after the last restart), ten times: every job a submit acknowledged ends
 * succeeded.  Submits are pipelined, so some are in flight at each kill
 * (those are not acknowledged, and not counted). */
START_TEST(a1_no_acknowledged_job_lost)
{
	enum { KILLS = 10, PER_ROUND = 1, MAX = 2000 };
	struct cluster c;
	struct a1_node st[CL_NODES + 1] = {{0}};
	static int64_t acked[MAX];
	int nacked = 0, kills = 0;
	unsigned seed = (unsigned)time(NULL);
	srand(seed);
	cl_init(&c, NULL);
	cl_start_all(&c);
	double begin = jd_now(), restarts = 0;
	double next_kill = begin + 1.0;
	while (kills < KILLS) {
		for (int i = 1; i <= CL_NODES; i++)
			for (int k = 0;
			     k < PER_ROUND && st[i].sent - st[i].answered < 50;
			     k++) {
				char secs[16], *req;
				snprintf(secs, sizeof(secs), "%.2f",
					 0.05 + (rand() % 46) / 100.0);
				const char *const argv[] = {"sleep", secs,
							    NULL};
				json_t *spec = cl_spec(&c, "q", -1, argv);
				cl_assert_alive(&c, i);
				char *js = json_dumps(spec, JSON_COMPACT);
				ck_assert_int_ge(
					asprintf(&req,
						 "{\"cmd\":\"submit\",\"id\":"
						 "%d,\"job\":%s}\n",
						 st[i].sent + 1000000, js),
					0);
				jd_send(c.n[i].jd.fd, req);
				free(req);
				free(js);
				json_decref(spec);
				st[i].sent++;
			}
		for (int i = 1; i <= CL_NODES; i++)
			a1_read(&c, i, &st[i], acked, &nacked, 5);
		ck_assert_int_lt(nacked, MAX - 100);
		if (jd_now() >= next_kill) {
			int v = 1 + rand() % CL_NODES;
			cl_node_kill9(&c, v);
			st[v].sent = st[v].answered = 0;
			double t = jd_now();
			cl_node_start(&c, v);
			restarts += jd_now() - t;
			kills++;
			next_kill = jd_now() + 1.0;
		}
		/* About 15 jobs/s: the three nodes keep up with it. */
		jd_pause_ms(200);
	}
	for (int i = 1; i <= CL_NODES; i++)
		a1_read(&c, i, &st[i], acked, &nacked, 2000);
	fprintf(stderr,
		"A1: %d kills in %.1f s (restarts %.1f s), %d jobs "
		"acknowledged (seed %u)\n",
		kills, jd_now() - begin, restarts, nacked, seed);
	/* Every acknowledged job ends succeeded. */
	char *list = malloc((size_t)nacked * 21 + 3), *w = list;
	*w++ = '{';
	for (int k = 0; k < nacked; k++)
		w += sprintf(w, "%s%lld", k ? "," : "", (long long)acked[k]);
	strcpy(w, "}");
	double deadline = jd_now() + 30;
	long long done;
	while ((done = cl_sql_int(&c,
				  "SELECT count(*) FROM jobs WHERE id = "
				  "ANY('%s'::bigint[]) AND state >= %d",
				  list, JOBD_SUCCEEDED)) < nacked &&
	       jd_now() < deadline)
		jd_pause_ms(50);
	char *bad = cl_sql(&c,
			   "SELECT count(*) || ' not succeeded (' || "
			   "coalesce(string_agg(DISTINCT state || '/' || "
			   "reason, ' '), '') || ' state/reason), first ' || "
			   "coalesce(min(id)::text, '-') FROM jobs WHERE id = "
			   "ANY('%s'::bigint[]) AND state <> %d",
			   list, JOBD_SUCCEEDED);
	ck_assert_msg(done == nacked && strncmp(bad, "0 ", 2) == 0,
		      "%lld of %d acknowledged jobs ended; %s", done, nacked,
		      bad);
	ck_assert_int_eq(cl_sql_int(&c,
				    "SELECT count(*) FROM jobs WHERE id = "
				    "ANY('%s'::bigint[])",
				    list),
			 nacked);
	free(bad);
	free(list);
	cl_stop(&c);
}
END_TEST

/* True while process pid runs (not a zombie). */
static bool
pid_alive(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	char *s = jd_slurp(path);
	char *rp = s ? strrchr(s, ')') : NULL;
	bool alive = rp != NULL && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
	free(s);
	return alive;
}

/* The times A5 measures for job k, wall clock. */
struct a5_job {
	double term, dead, again;
};

/* Watches node 2's four jobs after the partition at t0 until each runs
 * elsewhere (or t0 + 20 s). */
static void
a5_watch(struct cluster *c, const int64_t ids[4], const int pids[4], double t0,
	 struct a5_job out[4])
{
	memset(out, 0, sizeof(struct a5_job) * 4);
	for (;;) {
		int n, left = 0;
		struct cl_run *r = cl_runs(c, &n);
		double now = cl_wall();
		for (int k = 0; k < 4; k++) {
			if (out[k].dead == 0 && !pid_alive(pids[k]))
				out[k].dead = now;
			for (int j = 0; j < n; j++) {
				if (r[j].id != ids[k])
					continue;
				if (r[j].pid == pids[k] && r[j].term > 0)
					out[k].term = r[j].term;
				if (r[j].node != 2 && out[k].again == 0)
					out[k].again = r[j].start;
			}
			if (out[k].again == 0 || out[k].dead == 0)
				left++;
		}
		free(r);
		if (left == 0 || now > t0 + 20)
			return;
		jd_pause_ms(5);
	}
}

/* A5: node 2 is cut from the database while it runs four long jobs.  It
 * SIGTERMs them by t0 + 4.5 s (lease - lease/12 - kill_grace) and they are
 * dead by t0 + 5.5 s; peers start them only after that, and by t0 + 9 s.
 * After the heal node 2 records nothing for them, registers with a new
 * epoch and runs jobs again. */
START_TEST(a5_partition_self_fences)
{
	struct cluster c;
	int64_t ids[4];
	int pids[4];
	struct a5_job m[4];
	const double term_by = CL_LEASE - CL_LEASE / 12 - CL_KILL_GRACE;
	const double dead_by = CL_LEASE - CL_LEASE / 12;
	double fence = 0, first = 1e9, last = 0;
	if (!cl_partitions()) {
		fprintf(stderr, "a5_partition_self_fences: skipped: %s\n",
			cl_no_partitions());
		return;
	}
	cl_init(&c, NULL);
	four_on(&c, 2, 60, ids, pids);
	char *me = cl_sql(&c, "SELECT id || '/' || epoch FROM nodes WHERE "
			      "name = 'n2'");
	ck_assert_ptr_nonnull(me);
	double t0 = cl_wall();
	cl_partition(&c, 2);
	a5_watch(&c, ids, pids, t0, m);
	for (int k = 0; k < 4; k++) {
		ck_assert_msg(m[k].term > 0 &&
				      m[k].term - t0 <= term_by + CL_SLACK,
			      "job %lld: SIGTERM %.2f s after the partition "
			      "(bound %.1f s; 0: none)",
			      (long long)ids[k], m[k].term ? m[k].term - t0 : 0,
			      term_by);
		ck_assert_msg(m[k].dead > 0 &&
				      m[k].dead - t0 <= dead_by + CL_SLACK,
			      "job %lld: dead %.2f s after the partition "
			      "(bound %.1f s)",
			      (long long)ids[k], m[k].dead - t0, dead_by);
		ck_assert_msg(
			m[k].again > 0 && m[k].again >= m[k].dead - 0.05 &&
				m[k].again - t0 <= RESCUE_BOUND + CL_SLACK,
			"job %lld: started elsewhere %.2f s after the "
			"partition, dead at %.2f s (bound %.0f s)",
			(long long)ids[k], m[k].again - t0, m[k].dead - t0,
			RESCUE_BOUND);
		if (m[k].dead - t0 > fence)
			fence = m[k].dead - t0;
		if (m[k].again - t0 < first)
			first = m[k].again - t0;
		if (m[k].again - t0 > last)
			last = m[k].again - t0;
	}
	fprintf(stderr,
		"A5: partition: attempts dead after %.2f s (bound %.1f s), "
		"started elsewhere after %.2f to %.2f s (bound %.0f s)\n",
		fence, dead_by, first, last, RESCUE_BOUND);
	json_t *done[4];
	for (int k = 0; k < 4; k++)
		done[k] = ends_recovered(&c, 1, ids[k], 1);
	cl_heal(&c, 2);
	/* A new incarnation: a new epoch, or a new row once a peer's rescue
	 * deleted the old one. */
	double deadline = jd_now() + 20;
	for (;;) {
		char *now = cl_sql(&c, "SELECT id || '/' || epoch FROM nodes "
				       "WHERE name = 'n2'");
		bool again = now != NULL && strcmp(now, me) != 0;
		ck_assert_msg(again || jd_now() < deadline,
			      "node 2 did not register again after the heal "
			      "(id/epoch %s before, %s now)",
			      me, now ? now : "none");
		free(now);
		if (again)
			break;
		jd_pause_ms(50);
	}
	free(me);
	/* Nothing recorded for the fenced attempts: the final states stay
	 * as the reruns left them. */
	for (int k = 0; k < 4; k++) {
		json_t *j = jd_get(&c.n[1].jd, ids[k]);
		ck_assert_str_eq(jd_str(j, "state"), "succeeded");
		ck_assert(json_equal(json_object_get(j, "finished_at"),
				     json_object_get(done[k], "finished_at")));
		ck_assert_int_eq(jd_num(j, "recoveries"), 1);
		json_decref(j);
		json_decref(done[k]);
	}
	/* And it works again: alone, it runs a new job. */
	ck_assert_int_eq(cl_node_stop(&c, 1), 0);
	ck_assert_int_eq(cl_node_stop(&c, 3), 0);
	int64_t id = cl_submit_sleep(&c, 2, "q", 0.01, -1);
	json_t *j = cl_wait_done(&c, 2, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	ck_assert_int_eq(cl_wait_run(&c, id, 0, 1, 5).node, 2);
	cl_stop(&c);
}
END_TEST

void
cl_failover_tests(TCase *tc)
{
	cl_add(tc, a3_killed_node_rescued_by_peers);
	cl_add(tc, a4_restarted_node_recovers_at_once);
	cl_add(tc, a2_never_twice_under_churn);
	cl_add(tc, a1_no_acknowledged_job_lost);
	cl_add(tc, a5_partition_self_fences);
}
