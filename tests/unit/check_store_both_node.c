/*
 * Where jobs ran, on both backends (bothfix.h): the job object's node
 * (null until the job started; this node's name on SQLite, jobs.last_node
 * on PostgreSQL; null again after a retry), and the attempts' rows
 * (store_attempt_ended, store_attempt_where): written, replaced by a
 * second end of the same attempt, skipped for a job that is gone, without
 * ever losing the group transaction; nothing on SQLite.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bothfix.h"
#include "diag.h"
#include "jobd/proto.h"
#include "loopfix.h"
#include "queue_conf.h"
#include "store.h"
#include "store_pg.h"

Suite *store_both_node_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* The queue every job here goes to. */
static int64_t qid;

static void
put_queue(void)
{
	struct queue_conf qc;

	queue_conf_init(&qc, "default");
	qid = 0;
	CO_EXPECT(store_queue_insert(&qc, false, &qid) == 0);
}

/* A queued `true` of the queue; its id, 0 when the insert failed. */
static int64_t
add(void)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	int64_t id = 0;

	jobspec_init(&sp);
	sp.argv = json_pack("[s]", "true");
	j.spec = &sp;
	j.qid = qid;
	j.state = JOBD_QUEUED;
	j.created_at = T0;
	j.run_at = T0;
	j.uid = 1000;
	j.max_attempts = 3;
	j.backoff = (struct backoff){1, 2, 30, 0};
	CO_EXPECT(store_job_insert(&j, &id) == 0);
	jobspec_destroy(&sp);
	return id;
}

/* Claims the next job of queue 1 and ends its attempt failed. */
static int64_t
run_and_fail(void)
{
	struct store_job_run r;
	struct store_job_end e = {.state = JOBD_FAILED,
				  .reason = JOBD_REASON_EXIT,
				  .exit_code = 1,
				  .duration = 0.5,
				  .finished_at = T0 + 2000,
				  .now = T0 + 2000};
	int was = -1;
	int64_t id;

	if (store_job_claim(qid, T0 + 1000, &r) != 0) {
		CO_EXPECT(!"claimed");
		return 0;
	}
	id = r.id;
	e.attempt = r.attempt;
	store_job_run_destroy(&r);
	CO_EXPECT(store_job_end_attempt(id, &e, &was) == 0);
	CO_EXPECT(was == JOBD_RUNNING);
	return id;
}

/* The node of job id's object: its name (caller frees), or NULL when
 * null; "?" when there is no such key. */
static char *
node_of(int64_t id)
{
	json_t *o = store_job_json(id, false);
	json_t *n = o != NULL ? json_object_get(o, "node") : NULL;
	char *s = n == NULL	      ? strdup("?")
		  : json_is_string(n) ? strdup(json_string_value(n))
				      : NULL;

	json_decref(o);
	return s;
}

static bool
node_is(int64_t id, const char *want)
{
	char *n = node_of(id);
	bool same = want == NULL ? n == NULL
				 : n != NULL && strcmp(n, want) == 0;

	free(n);
	return same;
}

/* What the claim of another node writes: the node of job id's latest
 * attempt (PostgreSQL only). */
static void
set_last_node(int64_t id, const char *node)
{
	struct store_pg__args a = {0};

	store_pg__arg_int(&a, id);
	store_pg__arg_text(&a, node);
	CO_EXPECT(store_pg__write("test",
				  "UPDATE jobs SET last_node = $2 "
				  "WHERE id = $1::int8",
				  &a, NULL) == 0);
}

/* ---- the job object's node ---- */

static void
node_f(void *arg)
{
	bool pg = bothfix_backend() == BOTHFIX_POSTGRES;
	int64_t waiting, ran;
	struct json_t *list;
	int64_t next = 0;

	(void)arg;
	store_set_local_node("unit-a");
	put_queue();
	ran = add();
	waiting = add();
	CO_EXPECT(node_is(ran, NULL));
	CO_EXPECT(run_and_fail() == ran);
	CO_EXPECT(store_sync() == 0);
	/* The node that claimed it: under PostgreSQL the registered one,
	 * whose name the claim wrote. */
	CO_EXPECT(node_is(ran, pg ? BOTHFIX_NODE : "unit-a"));
	if (pg) {
		/* Another node's name: the object shows what the column
		 * holds. */
		set_last_node(ran, "unit-b");
		set_last_node(waiting, "unit-b");
	}
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(node_is(ran, pg ? "unit-b" : "unit-a"));
	/* A job that has not started shows none, whatever is stored. */
	CO_EXPECT(node_is(waiting, NULL));
	/* The listing's objects are the same. */
	list = json_array();
	CO_EXPECT(store_job_list(&(struct store_job_filter){.qid = -1,
							    .limit = 10,
							    .uid = -1},
				 list, &next) == 0);
	CO_EXPECT(json_array_size(list) == 2);
	CO_EXPECT(json_is_string(
		json_object_get(json_array_get(list, 0), "node")));
	CO_EXPECT(
		json_is_null(json_object_get(json_array_get(list, 1), "node")));
	json_decref(list);
	/* A retry forgets the attempts, and their node. */
	CO_EXPECT(store_job_retry(ran, JOBD_FAILED, T0 + 3000) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(node_is(ran, NULL));
	store_set_local_node(NULL);
}

START_TEST(store_both_node_in_job_object)
{
	if (!bothfix_run(__func__, _i, node_f, NULL))
		return;
}
END_TEST

/* ---- attempts' rows ---- */

static void
attempts_f(void *arg)
{
	bool pg = bothfix_backend() == BOTHFIX_POSTGRES;
	struct store_attempt_seen s;
	char big[STORE_LOG_TAIL + 10];
	int64_t id;

	(void)arg;
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 3, "END", 3);
	store_set_local_node(BOTHFIX_NODE);
	CO_EXPECT(store_keeps_attempts() == pg);
	put_queue();
	id = add();
	CO_EXPECT(run_and_fail() == id);
	CO_EXPECT(store_attempt_ended(
			  &(struct store_attempt_end){.job_id = id,
						      .attempt = 1,
						      .log_size = 6,
						      .tail = "hello\n",
						      .tail_len = 6}) == 0);
	/* A job that is gone gets no row, and nothing fails. */
	CO_EXPECT(store_attempt_ended(&(struct store_attempt_end){
			  .job_id = id + 100, .attempt = 1}) == 0);
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_attempt_where(id, 1, &s) == 0);
	if (!pg) {
		/* Every log is here: nothing is known, nothing kept. */
		CO_EXPECT(s.node == NULL && !s.have_tail && s.tail == NULL);
		store_attempt_seen_destroy(&s);
		store_set_local_node(NULL);
		return;
	}
	/* Asked on the node that ran it: the log is here, no tail comes. */
	CO_EXPECT(s.node != NULL && strcmp(s.node, BOTHFIX_NODE) == 0);
	CO_EXPECT(!s.running);
	CO_EXPECT(s.have_tail);
	CO_EXPECT(s.log_size == 6);
	CO_EXPECT(s.tail == NULL && s.tail_len == 0);
	store_attempt_seen_destroy(&s);
	/* Asked on another: the tail comes. */
	store_set_local_node("unit-x");
	CO_EXPECT(store_attempt_where(id, 1, &s) == 0);
	CO_EXPECT(s.node != NULL && strcmp(s.node, BOTHFIX_NODE) == 0);
	CO_EXPECT(s.have_tail);
	CO_EXPECT(s.tail_len == 6 && memcmp(s.tail, "hello\n", 6) == 0);
	store_attempt_seen_destroy(&s);
	CO_EXPECT(store_attempt_where(id + 100, 1, &s) == -1);
	CO_EXPECT(diag_code() == E_NOTFOUND);

	/* The same attempt ended again (written again after a failed
	 * commit, or run again under its number elsewhere): replaced, and
	 * only the last STORE_LOG_TAIL bytes are kept. */
	store_set_local_node("unit-b");
	CO_EXPECT(store_attempt_ended(&(struct store_attempt_end){
			  .job_id = id,
			  .attempt = 1,
			  .log_size = 200000,
			  .tail = big,
			  .tail_len = sizeof(big)}) == 0);
	/* ...whose claim named it. */
	set_last_node(id, "unit-b");
	CO_EXPECT(store_sync() == 0);
	store_set_local_node("unit-x");
	CO_EXPECT(store_attempt_where(id, 1, &s) == 0);
	CO_EXPECT(s.node != NULL && strcmp(s.node, "unit-b") == 0);
	CO_EXPECT(s.log_size == 200000);
	CO_EXPECT(s.tail_len == STORE_LOG_TAIL);
	CO_EXPECT(s.tail != NULL &&
		  memcmp(s.tail + STORE_LOG_TAIL - 3, "END", 3) == 0);
	store_attempt_seen_destroy(&s);

	/* The latest attempt is where the job says it ran: a row of an
	 * earlier run under that number on another node keeps its tail to
	 * itself. */
	set_last_node(id, "unit-c");
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_attempt_where(id, 1, &s) == 0);
	CO_EXPECT(s.node != NULL && strcmp(s.node, "unit-c") == 0);
	CO_EXPECT(!s.have_tail && s.tail == NULL);
	store_attempt_seen_destroy(&s);
	/* An attempt the job has not reached has no node. */
	CO_EXPECT(store_attempt_where(id, 2, &s) == 0);
	CO_EXPECT(s.node == NULL && !s.have_tail);
	store_attempt_seen_destroy(&s);
	store_set_local_node(NULL);
}

START_TEST(store_both_node_attempt_rows)
{
	if (!bothfix_run(__func__, _i, attempts_f, NULL))
		return;
}
END_TEST

/* A running attempt says so, where the row of its earlier run (given
 * back by a shutdown) holds a tail that is not the whole of it. */
static void
running_f(void *arg)
{
	struct store_attempt_seen s;
	struct store_job_run r;
	int64_t id;

	(void)arg;
	if (bothfix_backend() != BOTHFIX_POSTGRES)
		return;
	store_set_local_node("unit-a");
	put_queue();
	id = add();
	CO_EXPECT(store_job_claim(qid, T0 + 1000, &r) == 0);
	store_job_run_destroy(&r);
	CO_EXPECT(store_attempt_ended(
			  &(struct store_attempt_end){.job_id = id,
						      .attempt = 1,
						      .log_size = 2,
						      .tail = "a\n",
						      .tail_len = 2}) == 0);
	set_last_node(id, "unit-a");
	CO_EXPECT(store_sync() == 0);
	CO_EXPECT(store_attempt_where(id, 1, &s) == 0);
	CO_EXPECT(s.running);
	CO_EXPECT(s.node != NULL && strcmp(s.node, "unit-a") == 0);
	store_attempt_seen_destroy(&s);
	store_set_local_node(NULL);
}

START_TEST(store_both_node_running_attempt)
{
	if (!bothfix_run(__func__, _i, running_f, NULL))
		return;
}
END_TEST

Suite *
store_both_node_suite(void)
{
	Suite *s = suite_create("store_both_node");
	TCase *tc = tcase_create("node");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_add_loop_test(tc, store_both_node_in_job_object, 0,
			    BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_node_attempt_rows, 0, BOTHFIX_COUNT);
	tcase_add_loop_test(tc, store_both_node_running_attempt, 0,
			    BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
