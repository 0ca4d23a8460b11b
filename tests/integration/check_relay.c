/*
 * relay_suite: a jobd on PostgreSQL and the other nodes of its cluster,
 * played by a plain libpq connection to its database (a server of the
 * suite's own, tests/integration/pgfix.h) that changes rows and sends
 * notifications as another node would.  The jobd publishes what its
 * commits changed; it runs a job another node queued, promptly when told
 * and by its fallback poll when not; its watchers get another node's job
 * events; a wait sees a job end elsewhere with no notification at all, and
 * after its connections to the database were cut; queues changed elsewhere
 * are picked up, told or not; stats and `jobctl nodes` list the nodes
 * table.  On SQLite, stats has no nodes and `jobctl nodes` says why.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"
#include "pgfix.h"

Suite *relay_suite(void);

#define BASE_CONF "; relay_suite\n[daemon]\nshutdown_timeout = 1\n"

static struct jd D;

/* ---- the other node ---- */

static PGconn *other;
static json_t *heard; /* every payload other received, parsed */

static void
sql(const char *text)
{
	pgfix_exec(other, text);
}

/* The integer in row 0, column 0 of query text. */
static long long
sql_int(const char *text)
{
	PGresult *r = PQexec(other, text);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0,
		      "%s: %s", text, PQerrorMessage(other));
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static void
notify(const char *payload)
{
	const char *vals[] = {payload};
	PGresult *r = PQexecParams(other, "SELECT pg_notify('jobd', $1)", 1,
				   NULL, vals, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s",
		      PQerrorMessage(other));
	PQclear(r);
}

static void
hear(void)
{
	PGnotify *n;
	PQconsumeInput(other);
	while ((n = PQnotifies(other)) != NULL) {
		json_t *v = json_loads(n->extra, 0, NULL);
		ck_assert_msg(v != NULL, "payload: %s", n->extra);
		json_array_append_new(heard, v);
		PQfreemem(n);
	}
}

/* True when a payload heard has v (JSON text) in its array key. */
static bool
heard_item(const char *key, const char *v)
{
	json_t *want = jd_json(v), *m, *x;
	size_t i, k;
	bool found = false;
	hear();
	json_array_foreach (heard, i, m)
		json_array_foreach (json_object_get(m, key), k, x)
			found = found || json_equal(x, want);
	json_decref(want);
	return found;
}

/* Polls cond every 10 ms for up to secs; true when it held. */
#define WITHIN(secs, cond)                                 \
	({                                                 \
		double end_ = jd_now() + (secs);           \
		bool ok_;                                  \
		while (!(ok_ = (cond)) && jd_now() < end_) \
			jd_pause_ms(10);                   \
		ok_;                                       \
	})

static const char *
started_at(struct jd *d, int64_t id)
{
	static char buf[64];
	json_t *j = jd_get(d, id);
	snprintf(buf, sizeof(buf), "%s", jd_str(j, "started_at"));
	json_decref(j);
	return buf;
}

/* Job id, finished, queued again by "another node": its row changed, and
 * with tell a wake-up sent.  Returns when this jobd ran it again. */
static bool
requeued_runs(struct jd *d, int64_t id, long long qid, bool tell, double secs)
{
	char q[256], before[64];
	snprintf(before, sizeof(before), "%s", started_at(d, id));
	snprintf(q, sizeof(q),
		 "UPDATE jobs SET state = 2, attempt = 0, finished_at = NULL"
		 " WHERE id = %lld",
		 (long long)id);
	sql(q);
	if (tell) {
		snprintf(q, sizeof(q), "{\"n\":\"n2\",\"r\":[%lld]}", qid);
		notify(q);
	}
	return WITHIN(secs, strcmp(started_at(d, id), before) != 0 &&
				    jd_poll_state(d, id, "succeeded", 0.01));
}

/* ---- the scenarios ---- */

static void
work_and_events(struct jd *d)
{
	int64_t id = jd_submit_text(d, "{\"argv\":[\"true\"]}");
	ck_assert(jd_poll_state(d, id, "succeeded", 10));
	long long qid = sql_int("SELECT id FROM queues WHERE name = 'default'");
	char item[128];

	/* What its commits changed went out: the queue that gained a ready
	 * job, and not the job's events: no node has watchers or waiters. */
	snprintf(item, sizeof(item), "%lld", qid);
	ck_assert(WITHIN(5, heard_item("r", item)));
	snprintf(item, sizeof(item), "[\"job.submitted\",%lld,0,-1]",
		 (long long)id);
	ck_assert_msg(!heard_item("j", item), "heard: %s", item);

	/* Another node gets a watcher (its row says so, and it says so):
	 * job events go out, with the job's id (its queue and owner unknown
	 * here: this node has no watcher to read the job for). */
	sql("INSERT INTO nodes (name, instance, lease_until, listening)"
	    " VALUES ('n4', gen_random_uuid(), now() + interval '1 hour',"
	    " true)");
	notify("{\"n\":\"n4\",\"l\":true}");
	bool told = false;
	for (int i = 0; i < 20 && !told; i++) {
		int64_t j = jd_submit_text(d, "{\"argv\":[\"true\"]}");
		snprintf(item, sizeof(item), "[\"job.submitted\",%lld,0,-1]",
			 (long long)j);
		told = WITHIN(0.5, heard_item("j", item));
	}
	ck_assert_msg(told, "no job event went out to a listening node");

	/* Work queued elsewhere runs here: told, and not told (the poll). */
	ck_assert_msg(requeued_runs(d, id, qid, true, 10),
		      "a job queued elsewhere and told did not run");
	ck_assert_msg(requeued_runs(d, id, qid, false, 10),
		      "a job queued elsewhere, untold, did not run");

	/* Another node's job event reaches a watcher here. */
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *req = jd_json("{\"cmd\":\"watch\"}");
	json_t *wr = jd_call_fd(d, fd, req, 5000);
	jd_ok(wr);
	json_decref(wr);
	json_decref(req);
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "{\"n\":\"n2\",\"j\":[[\"job.finished\",%lld,%lld,-1]]}",
		 (long long)id, qid);
	notify(msg);
	bool seen = false;
	double end = jd_now() + 5;
	while (!seen && jd_now() < end) {
		char *line = jd_read_line(fd, 500);
		json_t *ev = line ? json_loads(line, 0, NULL) : NULL;
		json_t *job = json_object_get(ev, "job");
		seen = strcmp(jd_str(ev, "event"), "job.finished") == 0 &&
		       jd_num(job, "id") == id &&
		       strcmp(jd_str(job, "state"), "succeeded") == 0;
		json_decref(ev);
		free(line);
	}
	jd_close(fd);
	ck_assert_msg(seen, "the watcher did not get the other node's event");
}

/* A wait for job id, which "another node" runs and ends without a word:
 * it answers with the job succeeded. */
static void
wait_sees_silent_end(struct jd *d, int64_t id)
{
	char q[200];
	snprintf(
		q, sizeof(q),
		"UPDATE jobs SET state = 3, finished_at = NULL WHERE id = %lld",
		(long long)id);
	sql(q);
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	char req[128];
	snprintf(req, sizeof(req),
		 "{\"id\":7,\"cmd\":\"wait\",\"job_id\":%lld,\"timeout\":20}\n",
		 (long long)id);
	jd_send(fd, req);
	jd_pause_ms(200); /* the wait is parked (else it answers at once) */
	snprintf(q, sizeof(q),
		 "UPDATE jobs SET state = 4, finished_at = now()"
		 " WHERE id = %lld",
		 (long long)id);
	sql(q);
	double t0 = jd_now();
	char *line = jd_read_line(fd, 8000);
	ck_assert_msg(line != NULL, "wait did not answer");
	json_t *r = json_loads(line, 0, NULL);
	json_t *job = json_array_get(json_object_get(jd_ok(r), "jobs"), 0);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_msg(jd_now() - t0 < 4.5, "wait took %.1f s", jd_now() - t0);
	json_decref(r);
	free(line);
	jd_close(fd);
}

/* Reads fd's lines until a queue.updated of queue name, paused as said
 * (5 s at most). */
static bool
queue_event(int fd, const char *name, bool paused)
{
	bool seen = false;
	double end = jd_now() + 5;
	while (!seen && jd_now() < end) {
		char *line = jd_read_line(fd, 500);
		json_t *ev = line ? json_loads(line, 0, NULL) : NULL;
		json_t *q = json_object_get(ev, "queue");
		seen = strcmp(jd_str(ev, "event"), "queue.updated") == 0 &&
		       strcmp(jd_str(q, "name"), name) == 0 &&
		       json_is_true(json_object_get(q, "paused")) == paused;
		json_decref(ev);
		free(line);
	}
	return seen;
}

static void
queues_from_elsewhere(struct jd *d)
{
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *req = jd_json("{\"cmd\":\"watch\"}");
	json_t *wr = jd_call_fd(d, fd, req, 5000);
	jd_ok(wr);
	json_decref(wr);
	json_decref(req);

	/* Paused elsewhere, and said so: a watcher here hears of it. */
	sql("UPDATE queues SET paused = true, concurrency = 7"
	    " WHERE name = 'default'");
	notify("{\"n\":\"n2\",\"q\":[\"default\"]}");
	ck_assert_msg(queue_event(fd, "default", true),
		      "no queue.updated for a queue paused elsewhere");
	jd_close(fd);
	ck_assert(WITHIN(5, ({
				 json_t *q = jd_queue_get(d, "default", NULL);
				 bool p = json_is_true(json_object_get(
						  q, "paused")) &&
					  jd_num(q, "concurrency") == 7;
				 json_decref(q);
				 p;
			 })));
	/* Made elsewhere, unannounced: the periodic reload finds it. */
	sql("INSERT INTO queues (name, concurrency, rate_limit, rate_period,"
	    " rate_burst, capacity, timeout, kill_grace, max_attempts, b_base,"
	    " b_factor, b_max, b_jitter, paused) SELECT 'remote', 2,"
	    " rate_limit, rate_period, rate_burst, capacity, timeout,"
	    " kill_grace, max_attempts, b_base, b_factor, b_max, b_jitter,"
	    " false FROM queues WHERE name = 'default'");
	const char *err = "";
	ck_assert(WITHIN(10, ({
				 json_t *q = jd_queue_get(d, "remote", &err);
				 bool p = q != NULL &&
					  jd_num(q, "concurrency") == 2;
				 json_decref(q);
				 p;
			 })));
	/* Deleted elsewhere, and said so. */
	sql("DELETE FROM queues WHERE name = 'remote'");
	notify("{\"n\":\"n2\",\"q\":[\"remote\"]}");
	ck_assert(WITHIN(5, ({
				 json_t *q = jd_queue_get(d, "remote", &err);
				 json_decref(q);
				 q == NULL;
			 })));
	ck_assert_str_eq(err, "unknown_queue");
	sql("UPDATE queues SET paused = false WHERE name = 'default'");
	notify("{\"n\":\"n2\",\"q\":[\"default\"]}");
}

static void
nodes_listed(struct jd *d, int64_t id)
{
	char q[200];
	sql("INSERT INTO nodes (name, instance, lease_until) VALUES"
	    " ('n2', gen_random_uuid(), now() + interval '4 s'),"
	    " ('n3', gen_random_uuid(), now() - interval '10 s')");
	long long n2 = sql_int("SELECT id FROM nodes WHERE name = 'n2'");
	snprintf(q, sizeof(q),
		 "UPDATE jobs SET state = 3, node_id = %lld WHERE id = %lld",
		 n2, (long long)id);
	sql(q);
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *nodes = json_object_get(jd_ok(r), "nodes");
	/* n1 (this jobd), n2, n3, n4, by name. */
	ck_assert_int_eq(json_array_size(nodes), 4);
	json_t *me = json_array_get(nodes, 0), *a = json_array_get(nodes, 1),
	       *b = json_array_get(nodes, 2);
	ck_assert_str_eq(jd_str(me, "name"), "n1");
	ck_assert_str_eq(jd_str(a, "name"), "n2");
	ck_assert_str_eq(jd_str(b, "name"), "n3");
	/* lease = 12s: renewed 8 s ago, and 22 s ago (expired); this node
	 * renews every 4 s. */
	double age_me = json_number_value(json_object_get(me, "lease_age"));
	double age_a = json_number_value(json_object_get(a, "lease_age"));
	double age_b = json_number_value(json_object_get(b, "lease_age"));
	ck_assert_msg(age_me >= 0 && age_me < 8, "n1 lease_age %g", age_me);
	ck_assert_msg(age_a >= 7.5 && age_a < 12, "n2 lease_age %g", age_a);
	ck_assert_msg(age_b >= 21.5 && age_b < 26, "n3 lease_age %g", age_b);
	ck_assert_int_eq(jd_num(a, "running"), 1);
	ck_assert_int_eq(jd_num(b, "running"), 0);
	/* The cluster's counts: the job running on n2 counts here. */
	ck_assert_int_ge(jd_num(json_object_get(jd_ok(r), "jobs"), "running"),
			 1);
	json_decref(r);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "nodes", NULL);
	ck_assert_msg(rc == 0, "jobctl nodes: %d: %s", rc, err);
	ck_assert_msg(strstr(out, "n2") && strstr(out, "n3") &&
			      strstr(out, "LEASE AGE"),
		      "jobctl nodes: %s", out);
	free(out);
	free(err);
	snprintf(q, sizeof(q),
		 "UPDATE jobs SET state = 4, node_id = NULL WHERE id = %lld",
		 (long long)id);
	sql(q);
}

START_TEST(relay_with_another_node)
{
	struct pgfix pg;
	if (pgfix_start(&pg) != 0) {
		fprintf(stderr, "relay_with_another_node: skipped: %s\n",
			pg.why);
		return;
	}
	ck_assert_msg(pgfix_createdb(&pg, "cluster") == 0, "%s", pg.why);
	char conf[1024], conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "%s dbname=cluster",
		 pgfix_conninfo(&pg));
	snprintf(conf, sizeof(conf),
		 "store = postgres\ndatabase = %s\nnode_name = n1\n"
		 "lease = 12s\nrescue_grace = 10m\n",
		 conninfo);
	struct jd *d = jd_test_start(&D, BASE_CONF, conf, NULL);
	other = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(other) == CONNECTION_OK, "%s",
		      PQerrorMessage(other));
	heard = json_array();
	sql("LISTEN jobd");

	work_and_events(d);
	int64_t id = jd_submit_text(d, "{\"argv\":[\"true\"]}");
	ck_assert(jd_poll_state(d, id, "succeeded", 10));
	wait_sees_silent_end(d, id);
	queues_from_elsewhere(d);
	nodes_listed(d, id);

	/* Every connection of the jobd is cut: it listens again, and a wait
	 * still sees a job end elsewhere. */
	sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	    " WHERE datname = 'cluster' AND pid <> pg_backend_pid()");
	ck_assert(WITHIN(10, ({
				 char *t = jd_slurp(d->log);
				 bool again = t != NULL &&
					      strstr(t, "listening to the "
							"other nodes again");
				 free(t);
				 again;
			 })));
	wait_sees_silent_end(d, id);

	json_decref(heard);
	PQfinish(other);
	jd_test_teardown();
	pgfix_stop(&pg);
}
END_TEST

/* Two jobd on one database: a queue made on one runs on the other; a
 * watcher and a waiter on the second see every job submitted on the
 * first end, those that ran on the first included. */
START_TEST(relay_two_nodes)
{
	struct pgfix pg;
	if (pgfix_start(&pg) != 0) {
		fprintf(stderr, "relay_two_nodes: skipped: %s\n", pg.why);
		return;
	}
	ck_assert_msg(pgfix_createdb(&pg, "two") == 0, "%s", pg.why);
	char conf[1024], conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "%s dbname=two",
		 pgfix_conninfo(&pg));
	snprintf(conf, sizeof(conf),
		 BASE_CONF "store = postgres\ndatabase = %s\nlease = 12s\n",
		 conninfo);
	char ca[1100], cb[1100];
	snprintf(ca, sizeof(ca), "%snode_name = a\n", conf);
	snprintf(cb, sizeof(cb), "%snode_name = b\n", conf);
	struct jd a, b;
	jd_init(&a, ca);
	jd_guard(a.dir);
	jd_start(&a, NULL);
	jd_init(&b, cb);
	jd_guard(b.dir);
	jd_start(&b, NULL);
	other = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(other) == CONNECTION_OK, "%s",
		      PQerrorMessage(other));

	/* A queue made on a: b runs its consumers within a second or so. */
	jd_call_ok(&a, jd_json("{\"cmd\":\"queue.create\",\"name\":"
			       "\"shared\",\"concurrency\":3}"));
	const char *err = "";
	ck_assert(WITHIN(5, ({
				 json_t *q = jd_queue_get(&b, "shared", &err);
				 bool p = q != NULL &&
					  jd_num(q, "concurrency") == 3;
				 json_decref(q);
				 p;
			 })));

	/* Work submitted on a, whose one consumer of the queue is busy, is
	 * claimed by b's idle one. */
	jd_call_ok(&a, jd_json("{\"cmd\":\"queue.create\",\"name\":"
			       "\"solo\",\"concurrency\":1}"));
	ck_assert(WITHIN(5, ({
				 json_t *q = jd_queue_get(&b, "solo", &err);
				 json_decref(q);
				 q != NULL;
			 })));
	int64_t s1 = jd_submit_text(&a, "{\"queue\":\"solo\",\"argv\":"
					"[\"sleep\",\"3\"]}");
	int64_t s2 = jd_submit_text(&a, "{\"queue\":\"solo\",\"argv\":"
					"[\"sleep\",\"3\"]}");
	ck_assert_msg(
		WITHIN(2.5, jd_poll_state(&a, s1, "running", 0.01) &&
				    jd_poll_state(&a, s2, "running", 0.01)),
		"the two jobs did not run at once on the two nodes");
	ck_assert_int_eq(sql_int("SELECT count(DISTINCT last_node) FROM jobs"
				 " WHERE qid = (SELECT id FROM queues WHERE"
				 " name = 'solo')"),
			 2);

	/* b watches; once its row says so, a sends its job events. */
	int fd = jd_connect(&b);
	ck_assert_int_ge(fd, 0);
	json_t *req = jd_json("{\"cmd\":\"watch\",\"queue\":\"shared\"}");
	json_t *wr = jd_call_fd(&b, fd, req, 5000);
	jd_ok(wr);
	json_decref(wr);
	json_decref(req);
	ck_assert(WITHIN(5, sql_int("SELECT count(*) FROM nodes"
				    " WHERE name = 'b' AND listening") == 1));
	jd_pause_ms(300); /* a hears b's word (sent once it committed) */

	enum { N = 8 };
	int64_t ids[N];
	for (int i = 0; i < N; i++)
		ids[i] = jd_submit_text(&a, "{\"queue\":\"shared\",\"argv\":"
					    "[\"sleep\",\"0.3\"]}");
	/* b waits for them all. */
	json_t *w = json_pack("{s:s,s:[],s:i}", "cmd", "wait", "job_ids",
			      "timeout", 30);
	for (int i = 0; i < N; i++)
		json_array_append_new(json_object_get(w, "job_ids"),
				      json_integer(ids[i]));
	json_t *wres = jd_call(&b, w);
	json_t *jobs = json_object_get(jd_ok(wres), "jobs");
	ck_assert_int_eq(json_array_size(jobs), N);
	for (int i = 0; i < N; i++)
		ck_assert_str_eq(jd_str(json_array_get(jobs, i), "state"),
				 "succeeded");
	json_decref(wres);
	/* Where they ran: some on a, whose ends b heard of. */
	int on_a = (int)sql_int("SELECT count(*) FROM jobs WHERE last_node ="
				" 'a' AND qid = (SELECT id FROM queues WHERE"
				" name = 'shared')");
	ck_assert_msg(on_a > 0 && on_a < N + 1, "%d of %d ran on a", on_a, N);
	int finished = 0;
	double end = jd_now() + 10;
	while (finished < N && jd_now() < end) {
		char *line = jd_read_line(fd, 500);
		json_t *ev = line ? json_loads(line, 0, NULL) : NULL;
		if (strcmp(jd_str(ev, "event"), "job.finished") == 0)
			finished++;
		json_decref(ev);
		free(line);
	}
	jd_close(fd);
	ck_assert_msg(finished == N,
		      "b's watcher saw %d of %d jobs end (%d ran on a)",
		      finished, N, on_a);
	PQfinish(other);
	ck_assert_int_eq(jd_stop(&b), 0);
	ck_assert_int_eq(jd_stop(&a), 0);
	jd_free(&b);
	jd_free(&a);
	pgfix_stop(&pg);
}
END_TEST

START_TEST(relay_sqlite_has_no_nodes)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	ck_assert_ptr_null(json_object_get(jd_ok(r), "nodes"));
	json_decref(r);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "nodes", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err, "no cluster node") != NULL, "%s", err);
	free(out);
	free(err);
}
END_TEST

Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, relay_with_another_node);
	tcase_add_test(tc, relay_two_nodes);
	tcase_add_test(tc, relay_sqlite_has_no_nodes);
	suite_add_tcase(s, tc);
	return s;
}
