/*
 * nodeinfo_suite: where a job ran.  The job object's `node` is null
 * before the first start and names the node of the latest attempt after;
 * each attempt has JOBD_NODE in its environment; `jobctl get` shows the
 * node, `jobctl list` only when its jobs ran on more than one.  On
 * PostgreSQL an attempt's end writes its job_attempts row (node, log size,
 * the log's last 64 KiB), and `logs` of an attempt that ran on another
 * node is answered from that stored end when the window lies in it, and
 * refused with invalid_state naming the node otherwise (jobctl says so,
 * exit 1).  Another node is made by hand: the test renames the node in
 * the database through a connection of its own.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

Suite *nodeinfo_suite(void);

#define BASE_CONF                                                        \
	"; nodeinfo_suite\n[daemon]\nshutdown_timeout = 1\nnode_name = " \
	"node-a\n"

/* The stored end of an attempt's log (STORE_LOG_TAIL). */
#define TAIL (64 * 1024)

/* A log of 100,003 bytes: "abcdefghi\n" 10,000 times, then "END". */
#define BIG_JOB "{\"shell\":\"yes abcdefghi | head -c 100000; printf END\"}"
#define BIG_SIZE 100003

static struct jd D;

/* ---- the database under d's jobd ---- */

/* A connection of the test's own to the database d's jobd runs on. */
static PGconn *
pg_of(const struct jd *d)
{
	char conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s",
		 getenv("JOBD_TEST_PG"), strrchr(d->dir, '/') + 1);
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* Runs sql with text parameters p (n of them); fails the test unless it
 * succeeds.  The caller PQclear()s the result. */
static PGresult *
pg_run(PGconn *c, const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s",
		      sql, PQerrorMessage(c));
	return r;
}

/* Says that job id's latest attempt, and its job_attempts row if any, ran
 * on node: what another node's claim and end would have written. */
static void
pg_move(PGconn *c, int64_t id, const char *node)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	const char *p[] = {ids, node};
	PQclear(pg_run(c, "UPDATE jobs SET last_node = $2 WHERE id = $1", 2,
		       p));
	PQclear(pg_run(c, "UPDATE job_attempts SET node = $2 WHERE job_id = $1",
		       2, p));
}

/* Removes the log file of attempt 1 of job id: what is read of it after
 * can only come from the database. */
static void
drop_log(const struct jd *d, int64_t id)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/logs/%lld.1.log", d->state,
		 (long long)id);
	ck_assert_msg(unlink(path) == 0, "unlink %s", path);
}

/* ---- requests ---- */

static json_t *
logs_at(struct jd *d, int64_t id, json_int_t offset)
{
	return jd_req(d, "{s:s,s:I,s:I}", "cmd", "logs", "job_id",
		      (json_int_t)id, "offset", offset);
}

/* The node of job id as `get` shows it: its name, or NULL when null
 * (caller frees); fails the test when it is neither. */
static char *
node_of(struct jd *d, int64_t id)
{
	json_t *job = jd_get(d, id);
	json_t *n = json_object_get(job, "node");
	ck_assert_msg(n != NULL, "the job object has no node");
	ck_assert_msg(json_is_null(n) || json_is_string(n),
		      "node is neither null nor a string");
	char *s = json_is_string(n) ? strdup(json_string_value(n)) : NULL;
	json_decref(job);
	return s;
}

/* ---- tests ---- */

/* Null before the first start, this node's name after; and null again
 * after a retry, which forgets the attempts. */
START_TEST(nodeinfo_node_null_until_started)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t later =
		jd_submit_text(d, "{\"argv\":[\"true\"],\"delay\":3600}");
	int64_t ran = jd_submit_text(d, "{\"argv\":[\"false\"]}");
	json_decref(jd_wait(d, ran, 20));
	ck_assert_ptr_null(node_of(d, later));
	if (jd_on_postgres()) {
		/* Until the claim names its node, the test does (it is the
		 * node that ran the attempt). */
		PGconn *c = pg_of(d);
		pg_move(c, ran, "node-a");
		pg_move(c, later, "node-b");
		PQfinish(c);
		/* A node named for a job that never started is not shown. */
		ck_assert_ptr_null(node_of(d, later));
	}
	char *n = node_of(d, ran);
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n, "node-a");
	free(n);
	/* Paused, so that the retried job stays queued. */
	jd_queue_cmd(d, "queue.pause", "default");
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "retry", "job_id",
			   (json_int_t)ran);
	jd_ok(r);
	json_decref(r);
	ck_assert_ptr_null(node_of(d, ran));
}
END_TEST

/* Every attempt is told its node's name, the configured one or else the
 * host name. */
START_TEST(nodeinfo_jobd_node_in_env)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t id = jd_submit_text(
		d,
		"{\"shell\":\"echo \\\"[$JOBD_NODE]\\\"\",\"max_attempts\":1}");
	json_decref(jd_wait(d, id, 20));
	json_t *r = logs_at(d, id, 0);
	ck_assert_str_eq(jd_str(jd_ok(r), "data"), "[node-a]\n");
	json_decref(r);

	/* The host name cut to 63 bytes; one that is no node name leaves
	 * the node nameless (and JOBD_NODE unset). */
	char host[256] = "", want[300];
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[63] = '\0';
	bool valid = host[0] != '\0' &&
		     strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789._-") == strlen(host);
	snprintf(want, sizeof(want), "[%s]\n", valid ? host : "");
	d = jd_test_start(&D,
			  "; nodeinfo_suite\n[daemon]\nshutdown_timeout = 1\n",
			  NULL, NULL);
	id = jd_submit_text(d, "{\"shell\":\"echo \\\"[$JOBD_NODE]\\\"\"}");
	json_decref(jd_wait(d, id, 20));
	r = logs_at(d, id, 0);
	ck_assert_str_eq(jd_str(jd_ok(r), "data"), want);
	json_decref(r);
}
END_TEST

/* jobctl get prints the node; jobctl list keeps its table when every job
 * ran on one node, and adds a NODE column when they ran on several. */
START_TEST(nodeinfo_jobctl_shows_node)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t a = jd_submit_text(d, "{\"argv\":[\"true\"],\"name\":\"one\"}");
	int64_t b = jd_submit_text(d, "{\"argv\":[\"true\"],\"name\":\"two\"}");
	json_decref(jd_wait(d, a, 20));
	json_decref(jd_wait(d, b, 20));
	char id[32], *out = NULL;
	snprintf(id, sizeof(id), "%lld", (long long)a);
	PGconn *c = jd_on_postgres() ? pg_of(d) : NULL;
	if (c != NULL) {
		pg_move(c, a, "node-a");
		pg_move(c, b, "node-a");
	}
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "get", id, NULL), 0);
	ck_assert_str_eq(jd_kv(out, "node"), "node-a");
	free(out);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "list", NULL), 0);
	static const char head[] = "ID  QUEUE    STATE      REASON  EXIT  "
				   "ATTEMPT  WHEN                      "
				   "NAME/COMMAND\n";
	ck_assert_msg(strncmp(out, head, strlen(head)) == 0,
		      "list printed:\n%s", out);
	ck_assert_ptr_null(strstr(out, "node-a"));
	free(out);
	if (c == NULL)
		return; /* one node: no other to name */
	pg_move(c, b, "build-2");
	PQfinish(c);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "list", NULL), 0);
	json_t *ja = jd_get(d, a), *jb = jd_get(d, b);
	char want[512];
	snprintf(want, sizeof(want),
		 "ID  QUEUE    STATE      REASON  EXIT  ATTEMPT  NODE     "
		 "WHEN                      NAME/COMMAND\n"
		 " %lld  default  succeeded  -          0  1/1      build-2  "
		 "%s  two\n"
		 " %lld  default  succeeded  -          0  1/1      node-a   "
		 "%s  one\n",
		 (long long)b, jd_str(jb, "finished_at"), (long long)a,
		 jd_str(ja, "finished_at"));
	json_decref(ja);
	json_decref(jb);
	ck_assert_str_eq(out, want);
	free(out);
}
END_TEST

/* The end of an attempt writes its row: this node, the log's size, its
 * last 64 KiB; a log that fits is kept whole. */
START_TEST(nodeinfo_attempt_row_written)
{
	if (!jd_on_postgres()) {
		fprintf(stderr, "nodeinfo_attempt_row_written: skipped: "
				"job_attempts is PostgreSQL's\n");
		return;
	}
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t big = jd_submit_text(d, BIG_JOB);
	int64_t small = jd_submit_text(d, "{\"shell\":\"printf 'hi\\\\n'\"}");
	json_decref(jd_wait(d, big, 20));
	json_decref(jd_wait(d, small, 20));
	PGconn *c = pg_of(d);
	PGresult *r = pg_run(c,
			     "SELECT job_id, attempt, node, size, length(tail),"
			     " encode(substr(tail, length(tail) - 2), 'escape')"
			     " FROM job_attempts ORDER BY job_id",
			     0, NULL);
	ck_assert_int_eq(PQntuples(r), 2);
	ck_assert_int_eq(atoll(PQgetvalue(r, 0, 0)), big);
	ck_assert_str_eq(PQgetvalue(r, 0, 1), "1");
	ck_assert_str_eq(PQgetvalue(r, 0, 2), "node-a");
	ck_assert_int_eq(atoll(PQgetvalue(r, 0, 3)), BIG_SIZE);
	ck_assert_int_eq(atoll(PQgetvalue(r, 0, 4)), TAIL);
	ck_assert_str_eq(PQgetvalue(r, 0, 5), "END");
	ck_assert_int_eq(atoll(PQgetvalue(r, 1, 0)), small);
	ck_assert_str_eq(PQgetvalue(r, 1, 3), "3");
	ck_assert_str_eq(PQgetvalue(r, 1, 4), "3");
	PQclear(r);
	/* A log that is not captured has no tail. */
	int64_t quiet = jd_submit_text(
		d, "{\"argv\":[\"echo\",\"x\"],\"output\":\"discard\"}");
	json_decref(jd_wait(d, quiet, 20));
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)quiet);
	const char *p[] = {ids};
	r = pg_run(c,
		   "SELECT size, tail IS NULL FROM job_attempts WHERE job_id "
		   "= $1",
		   1, p);
	ck_assert_int_eq(PQntuples(r), 1);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
	ck_assert_str_eq(PQgetvalue(r, 0, 1), "t");
	PQclear(r);
	PQfinish(c);
}
END_TEST

/* logs of an attempt that ran on build-2: a window inside the stored end
 * is served (offset where it starts, as from the file), anything else and
 * follow are refused naming the node; jobctl says so and exits 1. */
START_TEST(nodeinfo_logs_of_another_node)
{
	if (!jd_on_postgres()) {
		fprintf(stderr, "nodeinfo_logs_of_another_node: skipped: "
				"one node without PostgreSQL\n");
		return;
	}
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t id = jd_submit_text(d, BIG_JOB);
	json_decref(jd_wait(d, id, 20));
	/* Here, the whole log is read from its file. */
	json_t *r = logs_at(d, id, 0);
	ck_assert_int_eq(jd_num(jd_ok(r), "size"), BIG_SIZE);
	json_decref(r);
	PGconn *c = pg_of(d);
	pg_move(c, id, "build-2");
	PQfinish(c);
	drop_log(d, id);

	char msg[96];
	snprintf(msg, sizeof(msg), "job %lld attempt 1 ran on build-2",
		 (long long)id);
	r = logs_at(d, id, 0);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	ck_assert_str_eq(jd_err_msg(r), msg);
	json_decref(r);
	/* One byte before the stored end: refused; at it: served. */
	r = logs_at(d, id, -(TAIL + 1));
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	r = logs_at(d, id, BIG_SIZE - TAIL);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "offset"), BIG_SIZE - TAIL);
	ck_assert_int_eq(jd_num(res, "next_offset"), BIG_SIZE);
	ck_assert_int_eq(jd_num(res, "size"), BIG_SIZE);
	ck_assert(json_is_true(json_object_get(res, "eof")));
	ck_assert_int_eq(jd_num(res, "attempt"), 1);
	ck_assert_uint_eq(strlen(jd_str(res, "data")), TAIL);
	json_decref(r);
	r = jd_req(d, "{s:s,s:I,s:I,s:I}", "cmd", "logs", "job_id",
		   (json_int_t)id, "offset", (json_int_t)-13, "max_bytes",
		   (json_int_t)5);
	res = jd_ok(r);
	ck_assert_str_eq(jd_str(res, "data"), "abcde");
	ck_assert_int_eq(jd_num(res, "offset"), BIG_SIZE - 13);
	ck_assert_int_eq(jd_num(res, "next_offset"), BIG_SIZE - 8);
	ck_assert(json_is_false(json_object_get(res, "eof")));
	json_decref(r);
	r = jd_req(d, "{s:s,s:I,s:I,s:b}", "cmd", "logs", "job_id",
		   (json_int_t)id, "offset", (json_int_t)-3, "follow", 1);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	ck_assert_str_eq(jd_err_msg(r), msg);
	json_decref(r);

	char ids[32], *out = NULL, *err = NULL, want[160];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "logs", ids, NULL), 1);
	snprintf(want, sizeof(want), "jobctl: invalid_state: %s\n", msg);
	ck_assert_str_eq(err, want);
	ck_assert_str_eq(out, "");
	free(out);
	free(err);
}
END_TEST

/* A log that fits in the stored end is read whole from another node, by
 * jobctl too; an attempt that runs there now is refused, follow or not. */
START_TEST(nodeinfo_logs_small_and_running_elsewhere)
{
	if (!jd_on_postgres()) {
		fprintf(stderr, "nodeinfo_logs_small_and_running_elsewhere: "
				"skipped: one node without PostgreSQL\n");
		return;
	}
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int64_t id = jd_submit_text(d, "{\"shell\":\"echo one; echo two\"}");
	int64_t run = jd_submit_text(d, "{\"shell\":\"echo up; sleep 60\"}");
	json_decref(jd_wait(d, id, 20));
	ck_assert(jd_poll_state(d, run, "running", 20));
	PGconn *c = pg_of(d);
	pg_move(c, id, "build-2");
	pg_move(c, run, "build-3");
	PQfinish(c);
	drop_log(d, id);

	char ids[32], *out = NULL, *err = NULL;
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, &err, "logs", ids, NULL), 0);
	ck_assert_str_eq(out, "one\ntwo\n");
	free(out);
	free(err);

	char msg[96];
	snprintf(msg, sizeof(msg),
		 "job %lld attempt 1 ran on build-3 (still running there)",
		 (long long)run);
	json_t *r = logs_at(d, run, 0);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	ck_assert_str_eq(jd_err_msg(r), msg);
	json_decref(r);
	r = jd_req(d, "{s:s,s:I,s:b}", "cmd", "logs", "job_id", (json_int_t)run,
		   "follow", 1);
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	jd_call_ok(d, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)run));
}
END_TEST

Suite *
nodeinfo_suite(void)
{
	Suite *s = suite_create("nodeinfo");
	TCase *tc = tcase_create("nodeinfo");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, nodeinfo_node_null_until_started);
	tcase_add_test(tc, nodeinfo_jobd_node_in_env);
	tcase_add_test(tc, nodeinfo_jobctl_shows_node);
	tcase_add_test(tc, nodeinfo_attempt_row_written);
	tcase_add_test(tc, nodeinfo_logs_of_another_node);
	tcase_add_test(tc, nodeinfo_logs_small_and_running_elsewhere);
	suite_add_tcase(s, tc);
	return s;
}
