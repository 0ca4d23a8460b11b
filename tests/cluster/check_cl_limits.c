/*
 * A6, A7 and A9 of SCALEOUT 13: a queue's global_concurrency, its rate
 * and a unique_key, each held across three nodes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobd/proto.h>

#include "cluster.h"
#include "scenarios.h"

/* Submits n jobs `sleep secs` to queue, spread round-robin over the live
 * nodes in batches (one submit of many jobs per node); ids gets them. */
static void
spread(struct cluster *c, const char *queue, const char *secs, int n,
       int64_t *ids)
{
	const char *const argv[] = {"sleep", secs, NULL};
	for (int i = 1; i <= CL_NODES; i++) {
		json_t *jobs = json_array();
		for (int k = i - 1; k < n; k += CL_NODES)
			json_array_append_new(jobs,
					      cl_spec(c, queue, -1, argv));
		json_t *r = jd_call(
			&c->n[i].jd,
			json_pack("{s:s,s:o}", "cmd", "submit", "jobs", jobs));
		json_t *got = json_object_get(jd_ok(r), "ids");
		for (int k = i - 1, j = 0; k < n; k += CL_NODES, j++)
			ids[k] = json_integer_value(
				json_array_get(got, (size_t)j));
		json_decref(r);
	}
}

/* Waits until every job of ids has succeeded (seen from node i). */
static void
all_succeed(struct cluster *c, int i, const int64_t *ids, int n,
	    double timeout_s)
{
	for (int k = 0; k < n; k++) {
		json_t *j = cl_wait_done(c, i, ids[k], timeout_s);
		ck_assert_msg(strcmp(jd_str(j, "state"), "succeeded") == 0,
			      "job %lld: %s", (long long)ids[k],
			      jd_str(j, "state"));
		json_decref(j);
	}
}

/* The number of runs in runs.log that have ended. */
static int
ended(const struct cluster *c)
{
	int n, k = 0;
	struct cl_run *r = cl_runs(c, &n);
	for (int i = 0; i < n; i++)
		k += r[i].end > 0;
	free(r);
	return k;
}

/* A6: global_concurrency 3 over three nodes of concurrency 4: never more
 * than 3 running, 3 reached; a node killed while it holds permits gives
 * them back at its rescue, and 3 run at once again after it. */
START_TEST(a6_global_concurrency_across_nodes)
{
	enum { N = 100 };
	struct cluster c;
	int64_t ids[N];
	cl_init(&c, "[queue g]\nconcurrency = 4\nglobal_concurrency = 3\n");
	cl_start_all(&c);
	spread(&c, "g", "0.3", N, ids);
	double deadline = jd_now() + 20;
	while (ended(&c) < 15) {
		ck_assert_msg(jd_now() < deadline, "15 jobs not done in 20 s");
		jd_pause_ms(20);
	}
	/* A node running one of them now (between two runs, none may). */
	int n, victim = 0;
	long long vid = 0;
	deadline = jd_now() + 10;
	while (victim == 0) {
		ck_assert_msg(jd_now() < deadline, "no job ran in 10 s");
		struct cl_run *r = cl_runs(&c, &n);
		for (int k = n - 1; k >= 0 && victim == 0; k--)
			if (r[k].end == 0) {
				victim = r[k].node;
				vid = r[k].id;
			}
		free(r);
		if (victim == 0)
			jd_pause_ms(20);
	}
	double t0 = cl_wall();
	cl_node_kill9(&c, victim);
	struct cl_run again = cl_wait_run(&c, vid, victim, 1, 15);
	ck_assert_msg(again.id == vid, "job %lld of the killed node not rerun",
		      vid);
	int live = victim == 1 ? 2 : 1;
	all_succeed(&c, live, ids, N, 40);
	int before = cl_conc_max(&c, "g", 0, NULL);
	int after = cl_conc_max(&c, "g", again.start, NULL);
	fprintf(stderr,
		"A6: at most %d running; node %d killed, its job rerun "
		"after %.2f s, then up to %d running\n",
		before, victim, again.start - t0, after);
	ck_assert_int_eq(before, 3);
	ck_assert_msg(after == 3,
		      "after the rescue only %d permits were used at once",
		      after);
	cl_stop(&c);
}
END_TEST

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A7: rate 10/s with burst 2 over three nodes: in every window [a, b] of
 * start times, at most 2 + 10 (b - a) + 1 starts.  A start is the claim's
 * time on the database clock (started_at), which the bucket governs. */
START_TEST(a7_rate_across_nodes)
{
	enum { N = 100 };
	struct cluster c;
	int64_t ids[N];
	double t[N];
	cl_init(&c, "[queue r]\nconcurrency = 4\nrate = 10/s\nburst = 2\n");
	cl_start_all(&c);
	spread(&c, "r", "0", N, ids);
	all_succeed(&c, 1, ids, N, 30);
	PGresult *res = PQexec(c.pg,
			       "SELECT extract(epoch FROM started_at) "
			       "FROM jobs j JOIN queues q ON q.id = j.qid "
			       "WHERE q.name = 'r'");
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(res), N);
	for (int k = 0; k < N; k++)
		t[k] = atof(PQgetvalue(res, k, 0));
	PQclear(res);
	qsort(t, N, sizeof(t[0]), cmp_dbl);
	double worst = -1e9;
	for (int a = 0; a < N; a++)
		for (int b = a; b < N; b++) {
			double allowed = 2 + 10 * (t[b] - t[a]) + 1;
			double over = (b - a + 1) - allowed;
			ck_assert_msg(over <= 0,
				      "%d starts in %.3f s (from start %d), "
				      "more than 2 + 10/s + 1",
				      b - a + 1, t[b] - t[a], a);
			if (over > worst)
				worst = over;
		}
	fprintf(stderr, "A7: %d starts in %.2f s at 10/s, burst 2\n", N,
		t[N - 1] - t[0]);
	cl_stop(&c);
}
END_TEST

/* A9: 150 submits of one unique_key, 50 pipelined on each node at once:
 * one job; the 149 others are answered duplicate with its id. */
START_TEST(a9_unique_key_across_nodes)
{
	struct cluster c;
	int fresh = 0, dup = 0;
	long long id = 0;
	cl_init(&c, "[queue u]\nconcurrency = 4\n");
	cl_start_all(&c);
	jd_queue_cmd(&c.n[1].jd, "queue.pause", "u");
	const char *const argv[] = {"true", NULL};
	json_t *spec = cl_spec(&c, "u", -1, argv);
	json_object_set_new(spec, "unique_key", json_string("the-one"));
	char *js = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	for (int k = 0; k < 50; k++)
		for (int i = 1; i <= CL_NODES; i++) {
			char req[1024];
			snprintf(req, sizeof(req),
				 "{\"cmd\":\"submit\",\"id\":%d,\"job\":%s}\n",
				 1000 + k, js);
			jd_send(c.n[i].jd.fd, req);
		}
	free(js);
	for (int i = 1; i <= CL_NODES; i++)
		for (int k = 0; k < 50; k++) {
			char *line = jd_read_line(c.n[i].jd.fd, 30000);
			ck_assert_msg(line != NULL, "node %d answered %d of 50",
				      i, k);
			json_t *r = json_loads(line, 0, NULL);
			free(line);
			json_t *res = jd_ok(r);
			if (id == 0)
				id = jd_num(res, "id");
			ck_assert_int_eq(jd_num(res, "id"), id);
			if (json_is_true(json_object_get(res, "duplicate")))
				dup++;
			else
				fresh++;
			json_decref(r);
		}
	ck_assert_int_eq(fresh, 1);
	ck_assert_int_eq(dup, 149);
	ck_assert_int_eq(cl_sql_int(&c, "SELECT count(*) FROM jobs"), 1);
	cl_stop(&c);
}
END_TEST

void
cl_limits_tests(TCase *tc)
{
	cl_add(tc, a9_unique_key_across_nodes);
	cl_add(tc, a7_rate_across_nodes);
	cl_add(tc, a6_global_concurrency_across_nodes);
}
