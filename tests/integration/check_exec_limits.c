/*
 * exec suite's limits (SPEC 3): a queue's rate limit, its concurrency
 * (held, raised and lowered while jobs run) and the daemon's capacity,
 * measured from the intervals the jobs stamp.
 */
#include <check.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <libpq-fe.h>

#include "exec.h"
#include "harness.h"

/* The most intervals [start[i], end[i]) open at any one time. */
static int
max_overlap(const double *start, const double *end, int n)
{
	int best = 0;
	for (int i = 0; i < n; i++) {
		/* The peak is at some interval's start. */
		int open = 0;
		for (int k = 0; k < n; k++)
			if (start[k] <= start[i] && end[k] > start[i])
				open++;
		if (open > best)
			best = open;
	}
	return best;
}
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- rate limits (SPEC 3) ---- */

START_TEST(exec_rate_limit)
{
	struct jd d;
	start(&d, NULL);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i,s:{s:f,s:f,s:f}}", "cmd",
				 "queue.create", "name", "rl", "concurrency",
				 20, "rate", "limit", 5.0, "period", 1.0,
				 "burst", 1.0));
	char *stamps = jd_path(&d, "starts");
	char *cmd = xasprintf("date +%%s.%%N >> %s", stamps);
	json_t *jobs = json_array();
	for (int i = 0; i < 11; i++)
		json_array_append_new(jobs, json_pack("{s:s,s:s}", "shell", cmd,
						      "queue", "rl"));
	json_t *r = jd_req(&d, "{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	json_t *ids = json_incref(json_object_get(jd_ok(r), "ids"));
	json_decref(r);
	r = jd_req(&d, "{s:s,s:O,s:f}", "cmd", "wait", "job_ids", ids,
		   "timeout", 15.0);
	jd_ok(r);
	json_decref(r);
	json_decref(ids);
	double t[11];
	ck_assert_int_eq(read_numbers(stamps, t, 11), 11);
	qsort(t, 11, sizeof(double), cmp_double);
	double spread = t[10] - t[0];
	int worst = 0;
	for (int i = 0; i < 11; i++) {
		int n = 0;
		for (int k = i; k < 11 && t[k] - t[i] < 1.0; k++)
			n++;
		if (n > worst)
			worst = n;
	}
	fprintf(stderr,
		"exec_rate_limit: 11 starts over %.3f s (%.2f/s after the "
		"first, want 5/s); at most %d in any 1 s window\n",
		spread, 10 / spread, worst);
	ck_assert_msg(spread >= 1.9, "11 starts at 5/s took only %.3f s",
		      spread);
	ck_assert_msg(spread <= 3.0, "11 starts at 5/s took %.3f s", spread);
	ck_assert_msg(worst <= 6, "%d starts within one second", worst);
	free(cmd);
	free(stamps);
	jd_free(&d);
}
END_TEST

/* ---- concurrency (SPEC 3) ---- */

/* A job that sleeps secs between two stamps "start end" in file. */
static char *
timed_cmd(const char *file, const char *secs)
{
	return xasprintf("s=$(date +%%s.%%N); sleep %s; "
			 "echo \"$s $(date +%%s.%%N)\" >> %s",
			 secs, file);
}

/* Reads "start end" pairs; returns how many. */
static int
read_intervals(const char *file, double *start, double *end, int max)
{
	double v[200];
	int n = read_numbers(file, v, max * 2 < 200 ? max * 2 : 200) / 2;
	for (int i = 0; i < n; i++) {
		start[i] = v[2 * i];
		end[i] = v[2 * i + 1];
	}
	return n;
}

/* Submits n jobs of cmd in one batch; ids into out. */
static void
submit_batch(struct jd *d, const char *cmd, const char *queue, int n,
	     int64_t *out)
{
	json_t *jobs = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(jobs, json_pack("{s:s,s:s}", "shell", cmd,
						      "queue", queue));
	json_t *r = jd_req(d, "{s:s,s:o}", "cmd", "submit", "jobs", jobs);
	json_t *ids = json_object_get(jd_ok(r), "ids");
	ck_assert_int_eq(json_array_size(ids), n);
	for (int i = 0; i < n; i++)
		out[i] = json_integer_value(json_array_get(ids, i));
	json_decref(r);
}

static void
wait_all(struct jd *d, const int64_t *ids, int n, double timeout_s)
{
	for (int i = 0; i < n; i++) {
		json_t *job = jd_wait(d, ids[i], timeout_s);
		assert_job(job, "succeeded", NULL);
		json_decref(job);
	}
}

/* Polls queue name until its running count is want; true when it got
 * there. */
static bool
poll_running(struct jd *d, const char *name, json_int_t want, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	do {
		json_t *q = jd_queue_get(d, name, NULL);
		json_int_t n = jd_num(json_object_get(q, "counts"), "running");
		json_decref(q);
		if (n == want)
			return true;
		poll(NULL, 0, 3);
	} while (jd_now() < deadline);
	return false;
}

START_TEST(exec_concurrency_limit)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 3\n");
	char *file = jd_path(&d, "intervals");
	char *cmd = timed_cmd(file, "0.1");
	int64_t ids[20];
	submit_batch(&d, cmd, "default", 20, ids);
	wait_all(&d, ids, 20, 20);
	double s[20], e[20];
	ck_assert_int_eq(read_intervals(file, s, e, 20), 20);
	int most = max_overlap(s, e, 20);
	fprintf(stderr, "exec_concurrency_limit: at most %d at once\n", most);
	ck_assert_msg(most <= 3, "%d jobs ran at once, concurrency 3", most);
	ck_assert_msg(most == 3, "never ran 3 at once (only %d)", most);
	free(cmd);
	free(file);
	jd_free(&d);
}
END_TEST

START_TEST(exec_concurrency_raise)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 2\n");
	char *file = jd_path(&d, "intervals");
	char *cmd = timed_cmd(file, "1");
	int64_t ids[8];
	submit_batch(&d, cmd, "default", 8, ids);
	ck_assert(poll_running(&d, "default", 2, 5));
	double raised = real_now();
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "default", "concurrency", 6));
	/* At once: well before the first two (1 s each) are done. */
	ck_assert_msg(poll_running(&d, "default", 6, 0.5),
		      "raising concurrency to 6 did not start 4 more jobs");
	wait_all(&d, ids, 8, 10);
	double s[8], e[8];
	ck_assert_int_eq(read_intervals(file, s, e, 8), 8);
	int most = max_overlap(s, e, 8);
	/* The first two ran 1 s from before the update; four more joined
	 * them at once, and the last two waited for free slots. */
	int soon = 0;
	for (int i = 0; i < 8; i++)
		if (s[i] < raised + 0.5)
			soon++;
	fprintf(stderr,
		"exec_concurrency_raise: at most %d at once; %d started by "
		"0.5 s after the update\n",
		most, soon);
	ck_assert_msg(most == 6, "%d at once after raising to 6", most);
	ck_assert_int_eq(soon, 6);
	free(cmd);
	free(file);
	jd_free(&d);
}
END_TEST

START_TEST(exec_concurrency_lower)
{
	struct jd d;
	start(&d, "[queue default]\nconcurrency = 4\n");
	char *first = jd_path(&d, "first"), *second = jd_path(&d, "second");
	/* The running four end one by one, 0.15 s apart. */
	static const char *const secs[4] = {"0.3", "0.45", "0.6", "0.75"};
	int64_t a[4], b[4];
	for (int i = 0; i < 4; i++) {
		char *cmd = timed_cmd(first, secs[i]);
		a[i] = submit_sh(&d, cmd);
		free(cmd);
	}
	ck_assert(poll_running(&d, "default", 4, 5));
	char *cmd2 = timed_cmd(second, "0.1");
	submit_batch(&d, cmd2, "default", 4, b);
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "default", "concurrency", 1));
	/* The running ones go on to their end. */
	wait_all(&d, a, 4, 10);
	wait_all(&d, b, 4, 10);
	double s1[4], e1[4], s2[4], e2[4];
	ck_assert_int_eq(read_intervals(first, s1, e1, 4), 4);
	ck_assert_int_eq(read_intervals(second, s2, e2, 4), 4);
	double last_end = 0;
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(e1[i] - s1[i] >= 0.3,
			      "a running job was cut short");
		if (e1[i] > last_end)
			last_end = e1[i];
	}
	/* Concurrency 1: nothing new starts while any of the four still
	 * runs, and then one at a time. */
	double s[8], e[8];
	for (int i = 0; i < 4; i++) {
		s[i] = s1[i];
		e[i] = e1[i];
		s[4 + i] = s2[i];
		e[4 + i] = e2[i];
	}
	int early = 0;
	for (int i = 0; i < 4; i++)
		if (s2[i] < last_end)
			early++;
	ck_assert_msg(early == 0,
		      "%d queued jobs started while the old jobs still ran "
		      "(up to %d at once after lowering concurrency to 1)",
		      early, max_overlap(s, e, 8));
	ck_assert_int_eq(max_overlap(s2, e2, 4), 1);
	free(cmd2);
	free(first);
	free(second);
	jd_free(&d);
}
END_TEST

/* ---- capacity (SPEC 3) ---- */

START_TEST(exec_capacity)
{
	struct jd d;
	start(&d, "[queue small]\ncapacity = 2\n");
	queue_pause(&d, "small", true);
	json_t *one = json_pack("{s:s,s:s}", "shell", "true", "queue", "small");
	ck_assert_int_gt(jd_submit(&d, json_deep_copy(one)), 0);
	/* A batch that does not fit: all of it is refused, also the part
	 * bound for another queue. */
	json_t *jobs = json_pack("[O,O,{s:s}]", one, one, "shell", "true");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:o}", "cmd", "submit",
					       "jobs", jobs)),
			 "queue_full");
	ck_assert_int_eq(count_jobs(&d, "small"), 1);
	ck_assert_int_eq(count_jobs(&d, "default"), 0);
	ck_assert_int_gt(jd_submit(&d, json_deep_copy(one)), 0);
	/* The third pending job. */
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:O}", "cmd", "submit",
					       "job", one)),
			 "queue_full");
	ck_assert_int_eq(count_jobs(&d, "small"), 2);
	json_decref(one);
	jd_free(&d);
}
END_TEST

/* ---- global_concurrency (one node: the whole cluster) ---- */

/* The config's key caps the node's running jobs below its concurrency;
 * queue.update raises the cap at once; queue.create takes it; values out
 * of range are refused. */
START_TEST(exec_global_concurrency)
{
	struct jd d;
	start(&d, "[queue g]\nconcurrency = 4\nglobal_concurrency = 2\n");
	json_t *q = jd_queue_get(&d, "g", NULL);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 2);
	ck_assert_int_eq(jd_num(q, "concurrency"), 4);
	json_decref(q);
	char *file = jd_path(&d, "intervals");
	char *cmd = timed_cmd(file, "0.1");
	int64_t ids[12];
	submit_batch(&d, cmd, "g", 12, ids);
	wait_all(&d, ids, 12, 20);
	double s[12], e[12];
	ck_assert_int_eq(read_intervals(file, s, e, 12), 12);
	int most = max_overlap(s, e, 12);
	fprintf(stderr, "exec_global_concurrency: at most %d at once\n", most);
	ck_assert_msg(most <= 2, "%d jobs ran at once, global_concurrency 2",
		      most);
	ck_assert_msg(most == 2, "never ran 2 at once (only %d)", most);
	/* Raised past concurrency: concurrency caps again. */
	char *gate = gate_cmd(&d, "open");
	int64_t held[6];
	submit_batch(&d, gate, "g", 6, held);
	ck_assert(poll_running(&d, "g", 2, 5));
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "g", "global_concurrency", 9));
	ck_assert_msg(poll_running(&d, "g", 4, 5),
		      "raising global_concurrency did not start 2 more jobs");
	gate_open(&d, "open");
	wait_all(&d, held, 6, 10);
	/* Kept across queue.update of other keys and shown by queue.list. */
	jd_call_ok(&d,
		   json_pack("{s:s,s:s,s:i,s:i}", "cmd", "queue.create", "name",
			     "h", "global_concurrency", 3, "capacity", 5));
	jd_call_ok(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update", "name",
				 "h", "capacity", 6));
	q = jd_queue_get(&d, "h", NULL);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 3);
	json_decref(q);
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd", "queue.update",
				      "name", "h", "global_concurrency", -1)),
		"invalid_argument");
	ck_assert_str_eq(req_err(&d, json_pack("{s:s,s:s,s:i}", "cmd",
					       "queue.create", "name", "k",
					       "global_concurrency", 100001)),
			 "invalid_argument");
	ck_assert_str_eq(
		req_err(&d, json_pack("{s:s,s:s,s:s}", "cmd", "queue.update",
				      "name", "h", "global_concurrency", "2")),
		"invalid_argument");
	/* Kept across a restart (in the store). */
	jd_stop(&d);
	jd_start(&d, NULL);
	q = jd_queue_get(&d, "h", NULL);
	ck_assert_int_eq(jd_num(q, "global_concurrency"), 3);
	json_decref(q);
	free(gate);
	free(cmd);
	free(file);
	jd_free(&d);
}
END_TEST

/* ---- capacity over a shared database ---- */

/* Runs sql on the database of d's jobd (PostgreSQL), as another node
 * would; its first value as an integer (0 when none). */
static long long
pg_exec(struct jd *d, const char *sql)
{
	char conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s",
		 getenv("JOBD_TEST_PG"), strrchr(d->dir, '/') + 1);
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET jobd.node_id = 7"));
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
			      PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
			      ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
			      : 0;
	PQclear(r);
	PQfinish(c);
	return v;
}

static json_int_t
producer_num(struct jd *d, const char *name, const char *key)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "producer.get", "name", name);
	json_int_t n = jd_num(json_object_get(jd_ok(r), "producer"), key);
	json_decref(r);
	return n;
}

/* Jobs another node put in a capped queue fill it for this node's
 * producer too: it waits for room (no line lost, no error) and goes on
 * once they are gone. */
START_TEST(exec_capacity_shared_producer_waits)
{
	if (!jd_on_postgres()) {
		fprintf(stderr, "exec_capacity_shared_producer_waits: skipped: "
				"PostgreSQL only\n");
		return;
	}
	struct jd d;
	start(&d, "[queue small]\ncapacity = 3\n");
	queue_pause(&d, "small", true);
	long long qid = pg_exec(&d, "SELECT id FROM queues WHERE name = "
				    "'small'");
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (qid, uid, run_at, priority, max_attempts, "
		 "state) VALUES (%lld, 0, now(), 0, 1, 2), "
		 "(%lld, 0, now(), 0, 1, 2)",
		 qid, qid);
	pg_exec(&d, sql);
	jd_call_ok(&d,
		   json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:{s:s},s:{s:[s]}}}",
			     "cmd", "producer.create", "producer", "name",
			     "gen", "type", "command", "queue", "small",
			     "format", "lines", "generator", "shell",
			     "printf '1\\n2\\n3\\n'", "job", "argv", "true"));
	/* One line fits; the other two wait (bounded watch: nothing more
	 * comes in while the other node's jobs fill the queue). */
	double deadline = jd_now() + 10;
	while (producer_num(&d, "gen", "produced") < 1 && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert_int_eq(producer_num(&d, "gen", "produced"), 1);
	double end = jd_now() + 1.5;
	while (jd_now() < end) {
		ck_assert_int_eq(producer_num(&d, "gen", "produced"), 1);
		ck_assert_int_eq(producer_num(&d, "gen", "errors"), 0);
		poll(NULL, 0, 50);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM jobs WHERE qid = %lld",
		 qid);
	ck_assert_int_eq(pg_exec(&d, sql), 3);
	/* The other node's jobs are cancelled: room for the rest. */
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 6, finished_at = now() WHERE qid = "
		 "%lld AND uid = 0 AND state = 2 AND id NOT IN (SELECT job_id "
		 "FROM job_specs)",
		 qid);
	pg_exec(&d, sql);
	deadline = jd_now() + 10;
	while (producer_num(&d, "gen", "produced") < 3 && jd_now() < deadline)
		poll(NULL, 0, 10);
	ck_assert_int_eq(producer_num(&d, "gen", "produced"), 3);
	ck_assert_int_eq(producer_num(&d, "gen", "errors"), 0);
	jd_free(&d);
}
END_TEST

/* ---- global_concurrency over two nodes ---- */

/* Polls d for job id until it is terminal (10 s at most); whether it
 * succeeded. */
static bool
poll_succeeded(struct jd *d, int64_t id)
{
	double deadline = jd_now() + 10;
	bool ok = false;
	do {
		json_t *job = jd_get(d, id);
		const char *st = jd_str(job, "state");
		bool end = strcmp(st, "succeeded") == 0 ||
			   strcmp(st, "failed") == 0 ||
			   strcmp(st, "cancelled") == 0;
		ok = strcmp(st, "succeeded") == 0;
		json_decref(job);
		if (end)
			break;
		poll(NULL, 0, 20);
	} while (jd_now() < deadline);
	return ok;
}

/* Two nodes on one database, each with concurrency 4 and the queue's
 * global_concurrency 2: at most 2 of its jobs run at once in the whole
 * cluster (each node alone would run 2), and 2 do. */
START_TEST(exec_global_concurrency_two_nodes)
{
	if (!jd_on_postgres()) {
		fprintf(stderr, "exec_global_concurrency_two_nodes: skipped: "
				"PostgreSQL only\n");
		return;
	}
	static const char q[] = "[queue g]\nconcurrency = 4\n"
				"global_concurrency = 2\n";
	struct jd a, b;
	start(&a, q);
	char conf[1024];
	snprintf(conf, sizeof(conf),
		 "%s\n[daemon]\nstore = postgres\ndatabase = %s dbname=%s\n"
		 "node_name = second\n",
		 q, getenv("JOBD_TEST_PG"), strrchr(a.dir, '/') + 1);
	/* b on a's database, not one of its own. */
	char *pg = strdup(getenv("JOBD_TEST_PG"));
	unsetenv("JOBD_TEST_PG");
	jd_init(&b, conf);
	jd_start(&b, NULL);
	setenv("JOBD_TEST_PG", pg, 1);
	free(pg);
	char *file = jd_path(&a, "intervals");
	char *cmd = timed_cmd(file, "0.3");
	int64_t ids[12];
	submit_batch(&a, cmd, "g", 6, ids);
	submit_batch(&b, cmd, "g", 6, ids + 6);
	for (int i = 0; i < 12; i++)
		ck_assert_msg(poll_succeeded(&a, ids[i]), "job %lld",
			      (long long)ids[i]);
	double st[12], en[12];
	ck_assert_int_eq(read_intervals(file, st, en, 12), 12);
	int most = max_overlap(st, en, 12);
	fprintf(stderr,
		"exec_global_concurrency_two_nodes: at most %d at once\n",
		most);
	ck_assert_msg(most <= 2,
		      "%d jobs ran at once on two nodes, "
		      "global_concurrency 2",
		      most);
	ck_assert_msg(most == 2, "never ran 2 at once (only %d)", most);
	free(cmd);
	free(file);
	jd_free(&b);
	jd_free(&a);
}
END_TEST

void
exec_add_limits(Suite *s)
{
	const TTest *limits[] = {
		exec_rate_limit,
		exec_concurrency_limit,
		exec_concurrency_raise,
		exec_concurrency_lower,
		exec_capacity,
		exec_global_concurrency,
		exec_capacity_shared_producer_waits,
		exec_global_concurrency_two_nodes,
		NULL,
	};

	exec_add_case(s, "limits", 30, limits);
}
