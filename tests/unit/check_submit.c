/*
 * Tests of submit over a real store, queues and event bus: jobs inserted
 * with what their queue resolves, all of a request or none of it, the
 * refusals (unknown queue, another user, missing dependency, full queue,
 * queue being deleted) naming the job, unique keys (per user, within a
 * request, freed by a finished job), dependencies (waiting, released,
 * failed), and a big request written in slices under a held transaction.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "loop.h"
#include "loopfix.h"
#include "queue.h"
#include "store.h"
#include "storefix.h"
#include "submit.h"

Suite *submit_suite(void);

static int64_t
submit_one(const char *text, uid_t uid)
{
	int64_t id = 0;

	ck_assert_msg(storefix_submit(text, uid, &id, NULL) == 0, "%s: %s",
		      text, diag_msg());
	ck_assert_int_gt(id, 0);
	return id;
}

static struct store_job_brief
brief(int64_t id)
{
	struct store_job_brief b;

	ck_assert_msg(store_job_brief(id, &b) == 0, "job %lld: %s",
		      (long long)id, diag_msg());
	return b;
}

static struct queue *
make_queue(const char *name, int64_t capacity)
{
	struct queue_conf qc;
	struct queue *q;

	queue_conf_init(&qc, name);
	qc.capacity = capacity;
	qc.max_attempts = 4;
	q = queue_create(&qc, false);
	ck_assert_msg(q != NULL, "%s", diag_msg());
	return q;
}

START_TEST(submit_inserts_jobs_resolved_against_their_queue)
{
	struct queue *q = make_queue("q1", 0);
	struct queue *d = queue_find("default");
	int64_t ids[3];
	bool dups[3];

	ck_assert_int_eq(
		storefix_submit("[{\"argv\":[\"true\"]},"
				"{\"argv\":[\"true\"],\"delay\":600},"
				"{\"argv\":[\"true\"],\"queue\":\"q1\","
				"\"max_attempts\":2}]",
				1000, ids, dups),
		0);
	ck_assert(ids[0] < ids[1] && ids[1] < ids[2]);
	ck_assert(!dups[0] && !dups[1] && !dups[2]);
	ck_assert_int_eq(brief(ids[0]).state, JOBD_QUEUED);
	ck_assert_int_eq(brief(ids[0]).qid, d->id);
	ck_assert_int_eq(brief(ids[0]).uid, 1000);
	ck_assert_int_eq(brief(ids[1]).state, JOBD_SCHEDULED);
	ck_assert_int_eq(brief(ids[2]).qid, q->id);
	ck_assert_int_eq(brief(ids[2]).max_attempts, 2);
	ck_assert_int_eq(d->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(d->counts[JOBD_SCHEDULED], 1);
	ck_assert_int_eq(q->counts[JOBD_QUEUED], 1);
	ck_assert_int_eq(d->incoming + d->reserved + q->incoming, 0);
	/* The queue's max_attempts when the spec gives none. */
	ck_assert_int_eq(brief(submit_one("[{\"argv\":[\"true\"],"
					  "\"queue\":\"q1\"}]",
					  1000))
				 .max_attempts,
			 4);
	/* Counted once committed. */
	ck_assert_uint_eq(events_totals.submitted, 0);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_uint_eq(events_totals.submitted, 4);
}
END_TEST

/* Every refusal leaves no job behind and no count moved. */
static void
assert_refused(const char *text, uid_t uid, int code, const char *in_msg)
{
	int64_t before = store_job_max_id();
	struct queue *d = queue_find("default");
	int64_t pending = queue_pending(d);

	ck_assert_msg(storefix_submit(text, uid, NULL, NULL) == -1, "%s", text);
	ck_assert_msg(diag_code() == code, "%s: %d %s", text, diag_code(),
		      diag_msg());
	ck_assert_msg(strstr(diag_msg(), in_msg) != NULL, "%s: %s", text,
		      diag_msg());
	ck_assert_int_eq(store_job_max_id(), before);
	ck_assert_int_eq(queue_pending(d), pending);
	ck_assert_int_eq(d->incoming, 0);
	ck_assert_int_eq(d->reserved, 0);
}

START_TEST(submit_refusals_name_the_job_and_write_nothing)
{
	struct queue *q;
	int64_t other = submit_one("[{\"argv\":[\"true\"]}]", 2000);
	char text[256];

	assert_refused("[{\"argv\":[\"true\"]},{\"argv\":[\"true\"],"
		       "\"queue\":\"nope\"}]",
		       1000, E_UNKNOWN_QUEUE, "jobs[1]");
	assert_refused("[{\"argv\":[\"true\"],\"user\":\"root\"}]", 1000,
		       E_PERM, "user");
	assert_refused("[{\"argv\":[\"true\"]},{\"argv\":[\"true\"],"
		       "\"depends_on\":[999999]}]",
		       1000, E_INVAL, "depends_on: no job 999999");
	/* Another user's job is no dependency of a non-root caller. */
	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld]}]",
		 (long long)other);
	assert_refused(text, 1000, E_INVAL, "depends_on");
	/* Root may. */
	ck_assert_int_eq(brief(submit_one(text, 0)).state, JOBD_WAITING);
	q = make_queue("q1", 0);
	q->deleting = true;
	assert_refused("[{\"argv\":[\"true\"],\"queue\":\"q1\"}]", 1000,
		       E_STATE, "being deleted");
	ck_assert_int_eq(q->incoming, 0);
}
END_TEST

START_TEST(submit_full_queue_takes_none_of_the_request)
{
	struct queue *q = make_queue("small", 2);

	submit_one("[{\"argv\":[\"true\"],\"queue\":\"small\"}]", 1000);
	ck_assert_int_eq(queue_pending(q), 1);
	ck_assert_int_eq(storefix_submit("[{\"argv\":[\"true\"],\"queue\":"
					 "\"small\"},{\"argv\":[\"true\"],"
					 "\"queue\":\"small\"}]",
					 1000, NULL, NULL),
			 -1);
	ck_assert_int_eq(diag_code(), E_FULL);
	ck_assert_int_eq(queue_pending(q), 1);
	ck_assert_int_eq(q->reserved, 0);
	ck_assert_int_eq(q->incoming, 0);
	/* One more fits. */
	submit_one("[{\"argv\":[\"true\"],\"queue\":\"small\"}]", 1000);
	ck_assert_int_eq(queue_pending(q), 2);
	ck_assert(!queue_has_room(q, 1));
	/* A key repeated in a request takes its room once. */
	q = make_queue("one", 1);
	ck_assert_int_eq(
		storefix_submit("[{\"argv\":[\"true\"],\"queue\":\"one\","
				"\"unique_key\":\"u\"},{\"argv\":[\"true\"],"
				"\"queue\":\"one\",\"unique_key\":\"u\"}]",
				1000, NULL, NULL),
		0);
	ck_assert_int_eq(queue_pending(q), 1);
}
END_TEST

START_TEST(submit_unique_key_finds_the_live_job)
{
	int64_t a, ids[3];
	bool dups[3];

	a = submit_one("[{\"argv\":[\"true\"],\"unique_key\":\"k\"}]", 1000);
	/* Again: the same job, nothing new. */
	ck_assert_int_eq(storefix_submit("[{\"argv\":[\"true\"],"
					 "\"unique_key\":\"k\"}]",
					 1000, ids, dups),
			 0);
	ck_assert_int_eq(ids[0], a);
	ck_assert(dups[0]);
	ck_assert_int_eq(store_job_max_id(), a);
	/* Keys are each user's own. */
	ck_assert_int_eq(storefix_submit("[{\"argv\":[\"true\"],"
					 "\"unique_key\":\"k\"}]",
					 2000, ids, dups),
			 0);
	ck_assert_int_gt(ids[0], a);
	ck_assert(!dups[0]);
	/* Twice in one request: the second is the first. */
	ck_assert_int_eq(storefix_submit("[{\"argv\":[\"true\"],"
					 "\"unique_key\":\"n\"},"
					 "{\"argv\":[\"true\"]},"
					 "{\"argv\":[\"true\"],"
					 "\"unique_key\":\"n\"}]",
					 1000, ids, dups),
			 0);
	ck_assert(!dups[0] && !dups[1] && dups[2]);
	ck_assert_int_eq(ids[2], ids[0]);
	ck_assert_int_eq(queue_pending(queue_find("default")), 4);
	/* A finished job frees its key. */
	ck_assert_int_eq(
		store_job_set_state(a, -1, JOBD_CANCELLED, JOBD_REASON_NONE, 1),
		0);
	ck_assert_int_eq(storefix_submit("[{\"argv\":[\"true\"],"
					 "\"unique_key\":\"k\"}]",
					 1000, ids, dups),
			 0);
	ck_assert(!dups[0]);
	ck_assert_int_ne(ids[0], a);
}
END_TEST

START_TEST(submit_dependencies_decide_the_first_state)
{
	int64_t ok, bad, ids[1];
	char text[256];
	struct queue *d = queue_find("default");

	ok = submit_one("[{\"argv\":[\"true\"]}]", 1000);
	bad = submit_one("[{\"argv\":[\"true\"]}]", 1000);
	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld,%lld]}]",
		 (long long)ok, (long long)bad);
	ck_assert_int_eq(brief(submit_one(text, 1000)).state, JOBD_WAITING);
	ck_assert_int_eq(d->counts[JOBD_WAITING], 1);
	ck_assert(queue_any_waiting());
	ck_assert_int_eq(store_job_set_state(ok, -1, JOBD_SUCCEEDED,
					     JOBD_REASON_NONE, 1),
			 0);
	/* Every dependency succeeded: ready at once. */
	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld]}]",
		 (long long)ok);
	ck_assert_int_eq(brief(submit_one(text, 1000)).state, JOBD_QUEUED);
	/* One failed: cancelled at birth, counted as such. */
	ck_assert_int_eq(
		store_job_set_state(bad, -1, JOBD_FAILED, JOBD_REASON_NONE, 1),
		0);
	ck_assert_int_eq(store_commit_now(), 0);
	memset(&events_totals, 0, sizeof(events_totals));
	snprintf(text, sizeof(text),
		 "[{\"argv\":[\"true\"],\"depends_on\":[%lld,%lld]}]",
		 (long long)ok, (long long)bad);
	ck_assert_int_eq(storefix_submit(text, 1000, ids, NULL), 0);
	ck_assert_int_eq(brief(ids[0]).state, JOBD_CANCELLED);
	ck_assert_int_eq(brief(ids[0]).reason, JOBD_REASON_DEPENDENCY_FAILED);
	ck_assert_int_eq(d->counts[JOBD_CANCELLED], 1);
	ck_assert_int_eq(store_commit_now(), 0);
	ck_assert_uint_eq(events_totals.submitted, 1);
	ck_assert_uint_eq(events_totals.cancelled, 1);
}
END_TEST

/* ---- a big request in slices, on the loop ---- */

#define BIG 400

struct big {
	struct storefix_req r;
	int rc;
	bool held_after;
};

static void
big_f(void *arg)
{
	struct big *b = arg;

	b->rc = submit_jobs(b->r.specs, b->r.n, 1000, "jobs", b->r.out, true);
	b->held_after = store_held();
	CO_EXPECT(store_sync() == 0);
}

START_TEST(submit_sliced_request_commits_whole)
{
	struct big b;
	json_t *arr = json_array();
	char *text;

	for (int i = 0; i < BIG; i++)
		json_array_append_new(arr, json_pack("{s:[s],s:s}", "argv",
						     "true", "unique_key",
						     i % 2 ? "odd" : "even"));
	text = json_dumps(arr, 0);
	json_decref(arr);
	storefix_req_parse(&b.r, text);
	free(text);
	loopfix_run(big_f, &b);
	ck_assert_msg(b.rc == 0, "%s", diag_msg());
	ck_assert(!b.held_after);
	ck_assert(!store_txn_open());
	/* Two keys: two jobs, the rest duplicates of them. */
	ck_assert_int_eq(queue_pending(queue_find("default")), 2);
	for (int i = 2; i < BIG; i++) {
		ck_assert(b.r.out[i].duplicate);
		ck_assert_int_eq(b.r.out[i].id, b.r.out[i % 2].id);
	}
	ck_assert_uint_eq(events_totals.submitted, 2);
	storefix_req_destroy(&b.r);
}
END_TEST

Suite *
submit_suite(void)
{
	Suite *s = suite_create("submit");
	TCase *tc;

	tc = tcase_create("jobs");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, storefix_engine_setup,
				  storefix_engine_teardown);
	tcase_add_test(tc, submit_inserts_jobs_resolved_against_their_queue);
	tcase_add_test(tc, submit_refusals_name_the_job_and_write_nothing);
	tcase_add_test(tc, submit_full_queue_takes_none_of_the_request);
	tcase_add_test(tc, submit_unique_key_finds_the_live_job);
	tcase_add_test(tc, submit_dependencies_decide_the_first_state);
	tcase_add_test(tc, submit_sliced_request_commits_whole);
	suite_add_tcase(s, tc);
	return s;
}
