/*
 * Retention across nodes: three nodes prune the same queue at once (each
 * runs its retention pass every 100ms).  Rows another node is deleting
 * are skipped, not waited for or deleted twice: keep_last leaves exactly
 * the most recent jobs, no node logs a prune error, and the queue's
 * counts, kept by the database, end at the kept jobs.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "scenarios.h"

/* R1: 3,000 finished jobs, then keep_last = 10 seen by all three nodes at
 * once: the 10 of the highest ids stay (they ended last), and nothing
 * else. */
START_TEST(r1_prune_on_every_node)
{
	enum { N = 3000, KEEP = 10 };
	struct cluster c;
	cl_init(&c, "[daemon]\nprune_interval = 100ms\n"
		    "[queue p]\nretention = 0\n");
	cl_start_all(&c);
	struct jd *d = &c.n[1].jd;
	/* Jobs whose dependency was cancelled are cancelled as they are
	 * submitted: N finished jobs at once, one after another in time. */
	json_t *r = jd_call(d, json_pack("{s:s,s:{s:[s],s:s,s:f}}", "cmd",
					 "submit", "job", "argv", "true",
					 "queue", "p", "delay", 3600.0));
	json_int_t dep = jd_num(jd_ok(r), "id");
	json_decref(r);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id", dep));
	for (int got = 0; got < N; got += 500) {
		json_t *jobs = json_array();
		for (int k = 0; k < 500; k++)
			json_array_append_new(
				jobs,
				json_pack("{s:[s],s:s,s:[I]}", "argv", "true",
					  "queue", "p", "depends_on", dep));
		jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs",
					jobs));
	}
	long long top = cl_sql_int(&c, "SELECT max(id) FROM jobs");
	ck_assert_int_eq(cl_sql_int(&c, "SELECT count(*) FROM jobs"), N + 1);
	jd_call_ok(d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				"p", "keep_last", KEEP));
	double t0 = jd_now(), deadline = t0 + 60;
	long long left;
	while ((left = cl_sql_int(&c, "SELECT count(*) FROM jobs")) > KEEP) {
		ck_assert_msg(jd_now() < deadline, "%lld jobs left after 60 s",
			      left);
		jd_pause_ms(50);
	}
	fprintf(stderr, "R1: %d jobs pruned by three nodes in %.0f ms\n",
		N + 1 - KEEP, (jd_now() - t0) * 1000);
	/* A few passes more: still exactly the most recent ones. */
	jd_pause_ms(500);
	ck_assert_int_eq(cl_sql_int(&c, "SELECT count(*) FROM jobs"), KEEP);
	ck_assert_int_eq(cl_sql_int(&c, "SELECT min(id) FROM jobs"),
			 top - KEEP + 1);
	for (int i = 1; i <= CL_NODES; i++) {
		cl_assert_alive(&c, i);
		char *log = jd_slurp(c.n[i].jd.log);
		ck_assert_msg(log == NULL || strstr(log, "prune:") == NULL,
			      "node %d logged a prune error", i);
		free(log);
		json_t *q = jd_call(&c.n[i].jd,
				    json_pack("{s:s,s:s}", "cmd", "queue.get",
					      "name", "p"));
		json_t *counts = json_object_get(
			json_object_get(jd_ok(q), "queue"), "counts");
		ck_assert_int_eq(jd_num(counts, "cancelled"), KEEP);
		json_decref(q);
	}
	cl_stop(&c);
}
END_TEST

void
cl_retention_tests(TCase *tc)
{
	cl_add(tc, r1_prune_on_every_node);
}
