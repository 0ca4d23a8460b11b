/*
 * Tests of the job objects and listings (store_job_json, store_job_list)
 * on both backends: the same scenario runs on SQLite and on PostgreSQL in
 * one test, each run writing what it read as text, and the two texts must
 * be the same byte for byte.  SQLite is the reference; checks on SQLite's
 * text make sure there was something to compare (every filter finds the
 * jobs it should).  Without PostgreSQL a test checks SQLite alone and says
 * that PostgreSQL was skipped.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backoff.h"
#include "bothfix.h"
#include "buf.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobspec.h"
#include "loopfix.h"
#include "queue_conf.h"
#include "store.h"

Suite *store_both_json_suite(void);

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* How a job object is written down: all digits of every number, so two
 * doubles that differ anywhere differ in the text. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII)

/* What a scenario saw, one line per answer. */
struct seen {
	struct buf text;
	int64_t qdef, qother; /* the queues' ids */
	int64_t ids[16];      /* the jobs' ids, in the order made */
	int njobs;
};

/* A job to make: what it differs in from a plain `echo hi` queued in the
 * default queue by uid 1000. */
struct jdef {
	bool other_queue;
	int state;
	int reason;
	int priority;
	int64_t run_at; /* 0: T0 */
	uid_t uid;	/* 0: 1000 */
	const char *shell;
	const char *name;
	const char *cwd;
	const char *key;
	const char *env; /* JSON object */
	int dep;	 /* 1-based index of the job it depends on; 0: none */
	bool discard, linger, limits;
};

static void
put_queue(const char *name, int64_t *id)
{
	struct queue_conf qc;

	queue_conf_init(&qc, name);
	*id = 0;
	if (store_queue_insert(&qc, false, id) != 0)
		loopfix_expect_failed(__LINE__, diag_msg());
	CO_EXPECT(*id > 0);
}

static void
put_job(struct seen *s, const struct jdef *d)
{
	struct jobspec sp;
	struct store_job_new j = {0};
	struct backoff bo = {
		.base = 1.5, .factor = 2, .max = 60.25, .jitter = 0.1};
	int64_t id = 0;

	jobspec_init(&sp);
	if (d->shell != NULL)
		sp.shell = strdup(d->shell);
	else
		sp.argv = json_pack("[ss]", "echo", "hi");
	if (d->name != NULL)
		sp.name = strdup(d->name);
	if (d->cwd != NULL) {
		free(sp.cwd);
		sp.cwd = strdup(d->cwd);
	}
	if (d->key != NULL)
		sp.unique_key = strdup(d->key);
	if (d->env != NULL)
		sp.env = json_loads(d->env, 0, NULL);
	if (d->dep > 0) {
		sp.depends_on = malloc(sizeof(*sp.depends_on));
		sp.depends_on[0] = s->ids[d->dep - 1];
		sp.ndeps = 1;
	}
	sp.priority = d->priority;
	sp.output = d->discard ? JOBSPEC_OUTPUT_DISCARD
			       : JOBSPEC_OUTPUT_CAPTURE;
	sp.linger = d->linger;
	j.spec = &sp;
	j.qid = d->other_queue ? s->qother : s->qdef;
	j.state = d->state;
	j.reason = d->reason;
	j.created_at = T0 + s->njobs;
	j.run_at = d->run_at ? d->run_at : T0;
	j.uid = d->uid ? d->uid : 1000;
	j.timeout = 30.5;
	j.kill_grace = 5;
	j.max_attempts = 3;
	j.backoff = bo;
	j.deps_left = d->dep > 0;
	if (d->limits) {
		j.limits.memory = 64 << 20;
		j.limits.cpu = 0.5;
		j.limits.tasks = 32;
	}
	if (store_job_insert(&j, &id) != 0)
		loopfix_expect_failed(__LINE__, diag_msg());
	CO_EXPECT(id > 0);
	s->ids[s->njobs++] = id;
	jobspec_destroy(&sp);
}

/* The jobs of every scenario: each state, argv and shell, both queues, two
 * users, an environment, limits, a dependency, and enough of them to
 * fill several pages. */
static const struct jdef jobs[] = {
	{.state = JOBD_QUEUED,
	 .priority = 5,
	 .name = "first",
	 .cwd = "/srv/\xc3\xa9t\xc3\xa9",
	 .key = "k1",
	 .env = "{\"PATH\":\"/bin\",\"A\":\"1 \\\"q\\\"\"}",
	 .discard = true,
	 .linger = true,
	 .limits = true},
	{.state = JOBD_SCHEDULED,
	 .other_queue = true,
	 .run_at = T0 + 60000,
	 .uid = 1001,
	 .shell = "echo $HOME | tr a-z A-Z"},
	{.state = JOBD_WAITING, .dep = 1, .name = "after first"},
	{.state = JOBD_CANCELLED,
	 .reason = JOBD_REASON_DEPENDENCY_FAILED,
	 .dep = 2},
	{.state = JOBD_QUEUED, .other_queue = true, .uid = 1001, .priority = 3},
	{.state = JOBD_QUEUED, .env = "{}"},
	{.state = JOBD_QUEUED, .uid = 1001},
	{.state = JOBD_QUEUED},
	{.state = JOBD_QUEUED, .uid = 1001, .key = "k9"},
	{.state = JOBD_QUEUED},
	{.state = JOBD_QUEUED, .other_queue = true},
};
#define NJOBS (int)(sizeof(jobs) / sizeof(jobs[0]))

/* Claims the next job of qid at now and checks it is s's job number want
 * (1-based). */
static void
claim(struct seen *s, int64_t qid, int64_t now, int want)
{
	struct store_job_run r;

	memset(&r, 0, sizeof(r));
	if (store_job_claim(qid, now, &r) != 0)
		loopfix_expect_failed(__LINE__, diag_msg());
	CO_EXPECT(r.id == s->ids[want - 1]);
	store_job_run_destroy(&r);
}

static void
end_attempt(int64_t id, const struct store_job_end *e)
{
	struct store_job_brief b;
	struct store_job_end at = *e;
	int was;

	/* By the attempt that runs (the claim's). */
	if (store_job_brief(id, &b) == 0)
		at.attempt = b.attempt;
	if (store_job_end_attempt(id, &at, &was) != 0)
		loopfix_expect_failed(__LINE__, diag_msg());
}

/* Moves jobs along: one running with a pid, one succeeded with its
 * rusage, one failed by a signal with an error and no memory peak, one
 * given back to scheduled, one cancelled. */
static void
move_along(struct seen *s)
{
	claim(s, s->qdef, T0 + 1000, 1);
	CO_EXPECT(store_job_set_pid(s->ids[0], 4242) == 0);
	claim(s, s->qother, T0 + 2000, 5);
	end_attempt(s->ids[4],
		    &(struct store_job_end){.state = JOBD_SUCCEEDED,
					    .reason = JOBD_REASON_EXIT,
					    .exit_code = 0,
					    .duration = 1.25,
					    .ru_user = 0.5,
					    .ru_sys = 0.1,
					    .max_rss_kb = 2048,
					    .memory_peak = 4096,
					    .finished_at = T0 + 3250});
	claim(s, s->qdef, T0 + 4000, 6);
	end_attempt(s->ids[5],
		    &(struct store_job_end){.state = JOBD_FAILED,
					    .reason = JOBD_REASON_SIGNAL,
					    .exit_code = -1,
					    .signal = 9,
					    .error = "killed: \"oom\"",
					    .duration = 0.333,
					    .output_truncated = true,
					    .ru_user = 0.01,
					    .ru_sys = 0.02,
					    .max_rss_kb = 1 << 20,
					    .memory_peak = -1,
					    .finished_at = T0 + 4333});
	claim(s, s->qdef, T0 + 5000, 7);
	end_attempt(s->ids[6],
		    &(struct store_job_end){.state = JOBD_SCHEDULED,
					    .reason = JOBD_REASON_TIMEOUT,
					    .exit_code = -1,
					    .signal = 15,
					    .duration = 30.5,
					    .ru_user = 2,
					    .ru_sys = 1,
					    .max_rss_kb = 512,
					    .memory_peak = 1 << 30,
					    .run_at = T0 + 90000});
	CO_EXPECT(store_job_set_state(s->ids[7], -1, JOBD_CANCELLED,
				      JOBD_REASON_CANCELLED, T0 + 6000) == 0);
}

/* Writes job id's object, with or without env, or how it was not found. */
static void
show_job(struct seen *s, int64_t id, bool with_env)
{
	json_t *o = store_job_json(id, with_env);
	char *t;

	if (o == NULL) {
		buf_printf(&s->text, "get %lld %d: %s\n", (long long)id,
			   with_env, diag_wire_name(diag_code()));
		return;
	}
	t = json_dumps(o, DUMP_FLAGS);
	buf_printf(&s->text, "get %lld %d: %s\n", (long long)id, with_env, t);
	free(t);
	json_decref(o);
}

/* Lists with f page after page, following the cursor as cmd_list does
 * (after_id ascending, before_id descending), and writes each page and its
 * cursor under the title what.  Returns how many jobs it listed. */
static int
show_list(struct seen *s, const char *what, struct store_job_filter f)
{
	int total = 0, pages = 0;

	buf_printf(&s->text, "list %s\n", what);
	for (;;) {
		json_t *arr = json_array();
		int64_t next = -1;
		char *t;

		if (store_job_list(&f, arr, &next) != 0) {
			buf_printf(&s->text, "  error %s\n", diag_msg());
			loopfix_expect_failed(__LINE__, diag_msg());
			json_decref(arr);
			return total;
		}
		t = json_dumps(arr, DUMP_FLAGS);
		buf_printf(&s->text, "  %s next %lld\n", t, (long long)next);
		free(t);
		total += (int)json_array_size(arr);
		json_decref(arr);
		if (next == 0 || ++pages == 20)
			return total;
		if (f.desc)
			f.before_id = next;
		else
			f.after_id = next;
	}
}

/* Every job, four to a page. */
static const struct store_job_filter all = {.qid = -1, .uid = -1, .limit = 4};
#define BIT(st) (1u << (st))
#define ENDED (BIT(JOBD_SUCCEEDED) | BIT(JOBD_FAILED) | BIT(JOBD_CANCELLED))

/* A listing: its filter, in the scenario's terms, and how many jobs it
 * finds after the inserts alone and after the attempts too. */
struct lcase {
	const char *what;
	int queue; /* 0: any; 1: default; 2: other */
	unsigned mask;
	long uid;		 /* 0: any */
	int after, before, upto; /* 1-based job numbers (0: none; upto -1:
				  * past the last job) */
	bool desc;
	int limit; /* 0: 4, a page smaller than most results */
	int n[2];
};

static const struct lcase lists[] = {
	{"all", .n = {11, 11}},
	{"all desc", .desc = true, .n = {11, 11}},
	{"all in one full page", .limit = 11, .n = {11, 11}},
	{"no limit", .limit = -1, .n = {11, 11}},
	{"queue other", .queue = 2, .n = {3, 3}},
	{"queue other desc", .queue = 2, .desc = true, .n = {3, 3}},
	{"uid 1001", .uid = 1001, .n = {4, 4}},
	{"uid 1001 queue default", .uid = 1001, .queue = 1, .n = {2, 2}},
	{"queued", .mask = BIT(JOBD_QUEUED), .n = {8, 3}},
	{"queued or waiting", .mask = BIT(JOBD_QUEUED) | BIT(JOBD_WAITING),
	 .n = {9, 4}},
	{"ended desc", .mask = ENDED, .desc = true, .n = {1, 4}},
	{"scheduled in default", .mask = BIT(JOBD_SCHEDULED), .queue = 1,
	 .n = {0, 1}},
	{"running", .mask = BIT(JOBD_RUNNING), .n = {0, 1}},
	{"running desc", .mask = BIT(JOBD_RUNNING), .desc = true, .n = {0, 1}},
	{"running of uid 1001", .mask = BIT(JOBD_RUNNING), .uid = 1001,
	 .n = {0, 0}},
	{"running in default", .mask = BIT(JOBD_RUNNING), .queue = 1,
	 .desc = true, .n = {0, 1}},
	{"running after it", .mask = BIT(JOBD_RUNNING), .after = 1,
	 .n = {0, 0}},
	{"running up to it", .mask = BIT(JOBD_RUNNING), .upto = 1, .n = {0, 1}},
	{"running before it", .mask = BIT(JOBD_RUNNING), .before = 1,
	 .desc = true, .n = {0, 0}},
	{"after the fifth", .after = 5, .n = {6, 6}},
	{"before the fifth", .before = 5, .n = {4, 4}},
	{"before the fifth desc", .before = 5, .desc = true, .n = {4, 4}},
	{"between desc", .after = 2, .before = 9, .desc = true, .n = {6, 6}},
	{"window up to the eighth", .after = 2, .upto = 8, .n = {6, 6}},
	{"window and before", .after = 2, .upto = 8, .before = 7, .n = {4, 4}},
	{"queued of uid 1000, wide window", .mask = BIT(JOBD_QUEUED),
	 .uid = 1000, .upto = -1, .n = {5, 2}},
	{"past the last", .after = 11, .n = {0, 0}},
};

static int64_t
job_id(const struct seen *s, int k)
{
	return k > 0 ? s->ids[k - 1] : 0;
}

/* Every listing of the table; CO_EXPECT checks how many each finds. */
static void
show_lists(struct seen *s, bool live)
{
	size_t i;

	_Static_assert(NJOBS == 11, "the counts of lists[] are for 11 jobs");
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const struct lcase *c = &lists[i];
		struct store_job_filter f = all;

		f.qid = c->queue == 1	? s->qdef
			: c->queue == 2 ? s->qother
					: -1;
		f.state_mask = c->mask;
		f.uid = c->uid ? c->uid : -1;
		f.after_id = job_id(s, c->after);
		f.before_id = job_id(s, c->before);
		f.upto_id = c->upto < 0 ? s->ids[NJOBS - 1] + 100
					: job_id(s, c->upto);
		f.desc = c->desc;
		f.limit = c->limit ? c->limit : 4;
		if (show_list(s, c->what, f) != c->n[live])
			loopfix_expect_failed(__LINE__, c->what);
	}
}

/* The jobs made, moved along when live, then each job shown with and
 * without its environment, an id that is none, and every listing. */
static void
scenario(struct seen *s, bool live)
{
	int i;

	put_queue("default", &s->qdef);
	put_queue("other", &s->qother);
	for (i = 0; i < NJOBS; i++)
		put_job(s, &jobs[i]);
	if (live)
		move_along(s);
	CO_EXPECT(store_sync() == 0);
	for (i = 0; i < NJOBS; i++) {
		show_job(s, s->ids[i], false);
		show_job(s, s->ids[i], true);
	}
	/* An id never given, and one below the first. */
	CO_EXPECT(store_job_json(s->ids[NJOBS - 1] + 1, true) == NULL);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(store_job_json(0, false) == NULL);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	show_job(s, s->ids[NJOBS - 1] + 1, false);
	show_lists(s, live);
}

static void
inserted_f(void *arg)
{
	scenario(arg, false);
}

static void
live_f(void *arg)
{
	/* The node both stores name as where the jobs ran: SQLite's from
	 * the config, PostgreSQL's the one the claim wrote. */
	store_set_local_node(BOTHFIX_NODE);
	scenario(arg, true);
	store_set_local_node(NULL);
}

/* The first line where a and b differ, for the failure's message. */
static void
first_difference(const char *a, const char *b, char *out, size_t n)
{
	int line = 1;
	const char *la = a, *lb = b;

	while (*a != '\0' && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	snprintf(out, n, "line %d:\n  sqlite:   %.*s\n  postgres: %.*s", line,
		 (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb);
}

/* Runs fn on SQLite then on PostgreSQL, and fails the test when they saw
 * different things; *lite keeps SQLite's text (the caller releases it). */
static void
run_both(const char *test, coro_fn fn, struct seen *lite)
{
	struct seen pg = {0};
	char diff[4096];

	ck_assert(bothfix_run(test, BOTHFIX_SQLITE, fn, lite));
	if (bothfix_run(test, BOTHFIX_POSTGRES, fn, &pg) &&
	    strcmp(buf_str(&lite->text), buf_str(&pg.text)) != 0) {
		first_difference(buf_str(&lite->text), buf_str(&pg.text), diff,
				 sizeof(diff));
		ck_abort_msg("the backends differ at %s", diff);
	}
	buf_release(&pg.text);
}

/* Jobs as inserted, in each state an insert gives. */
START_TEST(store_both_json_inserted_jobs)
{
	struct seen lite = {0};

	run_both(__func__, inserted_f, &lite);
	/* What was compared holds what the scenario made: the environment
	 * as stored, an empty one, and the id that is none. */
	ck_assert_ptr_nonnull(strstr(buf_str(&lite.text),
				     "\"env\":{\"A\":\"1 \\\"q\\\"\","
				     "\"PATH\":\"/bin\"}"));
	ck_assert_ptr_nonnull(strstr(buf_str(&lite.text), "\"env\":{}"));
	ck_assert_ptr_nonnull(strstr(buf_str(&lite.text), ": not_found\n"));
	buf_release(&lite.text);
}
END_TEST

/* Jobs through attempts: running with a pid, ended with an outcome and
 * rusage, given back, cancelled. */
START_TEST(store_both_json_jobs_through_attempts)
{
	struct seen lite = {0};

	run_both(__func__, live_f, &lite);
	ck_assert_ptr_nonnull(strstr(buf_str(&lite.text), "\"pid\":4242"));
	ck_assert_ptr_nonnull(strstr(buf_str(&lite.text),
				     "\"rusage\":{\"user\":0.5,"
				     "\"system\":0.10000000000000001,"
				     "\"max_rss_kb\":2048,"
				     "\"memory_peak\":4096}"));
	ck_assert_ptr_nonnull(
		strstr(buf_str(&lite.text), "\"memory_peak\":null}"));
	buf_release(&lite.text);
}
END_TEST

/* An empty store: no job to show, with or without its environment, and
 * every kind of listing (all states or running alone, each way) finds
 * nothing and names no next page. */
static void
empty_f(void *arg)
{
	struct store_job_filter f = all;
	int i;

	(void)arg;
	CO_EXPECT(store_job_json(1, true) == NULL);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	CO_EXPECT(store_job_json(1, false) == NULL);
	CO_EXPECT(diag_code() == E_NOTFOUND);
	for (i = 0; i < 4; i++) {
		json_t *arr = json_array();
		int64_t next = -1;

		f.desc = i & 1;
		f.state_mask = i & 2 ? BIT(JOBD_RUNNING) : 0;
		CO_EXPECT(store_job_list(&f, arr, &next) == 0);
		CO_EXPECT(json_array_size(arr) == 0);
		CO_EXPECT(next == 0);
		json_decref(arr);
	}
}

START_TEST(store_both_json_empty)
{
	bothfix_run(__func__, _i, empty_f, NULL);
}
END_TEST

Suite *
store_both_json_suite(void)
{
	Suite *s = suite_create("store_both_json");
	TCase *tc = tcase_create("json");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, store_both_json_empty, 0, BOTHFIX_COUNT);
	tcase_add_test(tc, store_both_json_inserted_jobs);
	tcase_add_test(tc, store_both_json_jobs_through_attempts);
	suite_add_tcase(s, tc);
	return s;
}
