/*
 * labels_suite: a job's labels (docs/jobd-protocol.7, JOB SPEC): checked
 * as the spec arrives, merged under the queue's (from queue.create and
 * from jobd.conf) and a producer's template, kept across a restart, and
 * used as filters by list (paging exact when the filter passes over many
 * jobs), watch (only matching job events) and wait (until no matching
 * job is pending or running); and jobctl's -l, get and list --wide.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"

Suite *labels_suite(void);

#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* Sends the request text (a test constant) and returns the response. */
static json_t *
req_text(struct jd *d, const char *text)
{
	return jd_call(d, jd_json(text));
}

/* The request text must be refused invalid_argument with a message that
 * starts with "labels". */
static void
refused_labels(struct jd *d, const char *text)
{
	json_t *r = req_text(d, text);
	ck_assert_msg(strcmp(jd_err(r), "invalid_argument") == 0,
		      "%s: got \"%s\"", text, jd_err(r));
	ck_assert_msg(strncmp(jd_err_msg(r), "labels", 6) == 0,
		      "%s: message \"%s\" does not name labels", text,
		      jd_err_msg(r));
	json_decref(r);
}

static void
ok_text(struct jd *d, const char *text)
{
	jd_call_ok(d, jd_json(text));
}

/* The labels of job id, as compact JSON with sorted keys (caller
 * frees). */
static char *
labels_of(struct jd *d, int64_t id)
{
	json_t *job = jd_get(d, id);
	char *t = json_dumps(json_object_get(job, "labels"),
			     JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(job);
	return t;
}

static void
assert_labels(struct jd *d, int64_t id, const char *want)
{
	char *t = labels_of(d, id);
	ck_assert_msg(t != NULL && strcmp(t, want) == 0,
		      "job %lld: labels %s, want %s", (long long)id,
		      t ? t : "(none)", want);
	free(t);
}

/* The ids list answers for filter (a JSON object text) in pages of
 * `page` jobs, ascending with after_id or newest first with before_id,
 * into ids (at most max); returns how many. */
static size_t
list_ids(struct jd *d, const char *filter, int page, bool desc, int64_t *ids,
	 size_t max)
{
	int64_t cursor = 0;
	size_t n = 0;
	for (int pages = 0; pages < 10000; pages++) {
		json_t *req = json_pack("{s:s,s:o,s:i,s:s}", "cmd", "list",
					"labels", jd_json(filter), "limit",
					page, "order", desc ? "desc" : "asc");
		if (cursor > 0)
			json_object_set_new(req,
					    desc ? "before_id" : "after_id",
					    json_integer(cursor));
		json_t *r = jd_call(d, req);
		json_t *res = jd_ok(r), *job;
		size_t i;
		json_array_foreach (json_object_get(res, "jobs"), i, job) {
			ck_assert_uint_lt(n, max);
			ids[n++] = jd_num(job, "id");
		}
		json_t *next = json_object_get(res, desc ? "next_before_id"
							 : "next_after_id");
		cursor = json_is_integer(next) ? json_integer_value(next) : 0;
		json_decref(r);
		if (cursor == 0)
			return n;
	}
	ck_abort_msg("list did not end");
	return n;
}

/* True when a line of the table out starts with job id (after the
 * blanks of a right-aligned column). */
static bool
has_row(const char *out, int64_t id)
{
	for (const char *p = out; p != NULL && *p != '\0';) {
		long long v;
		if (sscanf(p, " %lld", &v) == 1 && v == id)
			return true;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return false;
}

/* ---- validation ---- */

START_TEST(labels_validation)
{
	struct jd *d = start(NULL);
	char text[4096];
	int len;

	/* 16 labels are taken; 17 are not. */
	len = snprintf(text, sizeof(text), "%s",
		       "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
		       "\"labels\":{");
	for (int i = 0; i < 17; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				"%s\"k%d\":\"v\"", i ? "," : "", i);
	snprintf(text + len, sizeof(text) - (size_t)len, "}}}");
	refused_labels(d, text);
	char *cut = strstr(text, ",\"k16\":\"v\"");
	ck_assert_ptr_nonnull(cut);
	memmove(cut, cut + strlen(",\"k16\":\"v\""),
		strlen(cut + strlen(",\"k16\":\"v\"")) + 1);
	json_t *r = req_text(d, text);
	int64_t id = jd_num(jd_ok(r), "id");
	json_decref(r);
	json_t *job = jd_get(d, id);
	ck_assert_uint_eq(json_object_size(json_object_get(job, "labels")), 16);
	json_decref(job);

	/* Keys: 1 to 64 of a-z 0-9 _ . -. */
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":{\"Team\":\"x\"}}}");
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":{\"a/b\":\"x\"}}}");
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":{\"\":\"x\"}}}");
	char key[80];
	memset(key, 'k', 65);
	key[65] = '\0';
	snprintf(text, sizeof(text),
		 "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
		 "\"labels\":{\"%s\":\"x\"}}}",
		 key);
	refused_labels(d, text);
	key[64] = '\0';
	snprintf(text, sizeof(text),
		 "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
		 "\"labels\":{\"%s\":\"x\",\"a.b_c-9\":\"y\"}}}",
		 key);
	r = req_text(d, text);
	jd_ok(r);
	json_decref(r);

	/* Values: strings of at most 256 bytes. */
	char val[300];
	memset(val, 'v', 257);
	val[257] = '\0';
	snprintf(text, sizeof(text),
		 "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
		 "\"labels\":{\"k\":\"%s\"}}}",
		 val);
	refused_labels(d, text);
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":{\"k\":42}}}");
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":{\"k\":null}}}");
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"labels\":[\"k\"]}}");
	/* A bad job of a batch refuses the batch, naming its index. */
	r = req_text(d, "{\"cmd\":\"submit\",\"jobs\":[{\"shell\":\"true\"},"
			"{\"shell\":\"true\",\"labels\":{\"k\":1}}]}");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), "jobs[1]: labels", 15) == 0, "%s",
		      jd_err_msg(r));
	json_decref(r);

	/* The same rules for a queue's labels and for every filter. */
	refused_labels(d, "{\"cmd\":\"queue.create\",\"name\":\"q\","
			  "\"labels\":{\"K\":\"v\"}}");
	refused_labels(d, "{\"cmd\":\"list\",\"labels\":{\"k\":1}}");
	refused_labels(d, "{\"cmd\":\"list\",\"labels\":\"k=v\"}");
	refused_labels(d, "{\"cmd\":\"watch\",\"labels\":{\"k\":[]}}");
	refused_labels(d, "{\"cmd\":\"wait\",\"labels\":{\"Bad\":\"v\"}}");
	/* Nothing refused was stored: the two jobs taken are all. */
	r = jd_req(d, "{s:s}", "cmd", "list");
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "jobs")),
			  2);
	json_decref(r);
	/* And the queue's 10 with a job's 7 others are 17: refused. */
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"many\",\"labels\":{"
		   "\"q0\":\"v\",\"q1\":\"v\",\"q2\":\"v\",\"q3\":\"v\","
		   "\"q4\":\"v\",\"q5\":\"v\",\"q6\":\"v\",\"q7\":\"v\","
		   "\"q8\":\"v\",\"q9\":\"v\"}}");
	refused_labels(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			  "\"queue\":\"many\",\"labels\":{\"j0\":\"v\","
			  "\"j1\":\"v\",\"j2\":\"v\",\"j3\":\"v\",\"j4\":\"v\","
			  "\"j5\":\"v\",\"j6\":\"v\"}}}");
	/* ... but 6 others and one shared key are 16. */
	r = req_text(d, "{\"cmd\":\"submit\",\"job\":{\"shell\":\"true\","
			"\"queue\":\"many\",\"labels\":{\"j0\":\"v\","
			"\"j1\":\"v\",\"j2\":\"v\",\"j3\":\"v\",\"j4\":\"v\","
			"\"j5\":\"v\",\"q0\":\"mine\"}}}");
	id = jd_num(jd_ok(r), "id");
	json_decref(r);
	job = jd_get(d, id);
	ck_assert_uint_eq(json_object_size(json_object_get(job, "labels")), 16);
	ck_assert_str_eq(jd_str(json_object_get(job, "labels"), "q0"), "mine");
	json_decref(job);
}
END_TEST

/* ---- queue defaults ---- */

START_TEST(labels_queue_defaults)
{
	struct jd *d = start("[queue cfg]\nlabels = team=ops, env = prod\n"
			     "[queue cfgjson]\n"
			     "labels = {\"note\": \"a, b=c\"}\n");
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"q\",\"paused\":true,"
		   "\"labels\":{\"team\":\"ml\",\"tier\":\"low\"}}");
	json_t *q = jd_queue_get(d, "q", NULL);
	char *t = json_dumps(json_object_get(q, "labels"),
			     JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(t, "{\"team\":\"ml\",\"tier\":\"low\"}");
	free(t);
	json_decref(q);
	/* Merged, the job's value winning on a shared key. */
	int64_t a = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"q\","
				      "\"labels\":{\"tier\":\"high\","
				      "\"batch\":\"7\"}}");
	int64_t b = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"q\"}");
	int64_t c = jd_submit_text(d, "{\"shell\":\"true\"}");
	assert_labels(d, a,
		      "{\"batch\":\"7\",\"team\":\"ml\",\"tier\":\"high\"}");
	assert_labels(d, b, "{\"team\":\"ml\",\"tier\":\"low\"}");
	assert_labels(d, c, "{}");
	/* From jobd.conf, both forms. */
	int64_t e = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"cfg\","
				      "\"labels\":{\"env\":\"dev\"}}");
	assert_labels(d, e, "{\"env\":\"dev\",\"team\":\"ops\"}");
	int64_t f = jd_submit_text(d, "{\"shell\":\"true\","
				      "\"queue\":\"cfgjson\"}");
	assert_labels(d, f, "{\"note\":\"a, b=c\"}");
	/* queue.update replaces them whole; jobs keep theirs. */
	ok_text(d, "{\"cmd\":\"queue.update\",\"name\":\"q\","
		   "\"labels\":{\"team\":\"infra\"}}");
	int64_t g = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"q\"}");
	assert_labels(d, g, "{\"team\":\"infra\"}");
	assert_labels(d, b, "{\"team\":\"ml\",\"tier\":\"low\"}");
	/* Kept across a restart: the queue's and the jobs'. */
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	assert_labels(d, a,
		      "{\"batch\":\"7\",\"team\":\"ml\",\"tier\":\"high\"}");
	int64_t h = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"q\"}");
	assert_labels(d, h, "{\"team\":\"infra\"}");
	/* null clears them. */
	ok_text(d, "{\"cmd\":\"queue.update\",\"name\":\"q\","
		   "\"labels\":null}");
	int64_t k = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"q\"}");
	assert_labels(d, k, "{}");
}
END_TEST

/* A bad labels key in jobd.conf stops jobd with the file's line. */
START_TEST(labels_config_refused)
{
	struct jd d;
	jd_init(&d, "[queue q]\nlabels = Team=x\n");
	const char *args[] = {"-c", d.conf, "--check-config", NULL};
	char *errpath = jd_path(&d, "check.err");
	int st = jd_run_jobd(args, errpath, 30);
	char *err = jd_slurp(errpath);
	ck_assert_int_eq(st, 78);
	ck_assert_msg(err != NULL && strstr(err, "labels") != NULL, "%s",
		      err ? err : "");
	free(err);
	free(errpath);
	jd_free(&d);
}
END_TEST

/* ---- producers ---- */

/* Polls until queue has n jobs; returns the listing (new ref). */
static json_t *
poll_queue_jobs(struct jd *d, const char *queue, size_t n)
{
	double end = jd_now() + 20;
	for (;;) {
		json_t *r =
			jd_req(d, "{s:s,s:s}", "cmd", "list", "queue", queue);
		json_t *jobs = json_incref(json_object_get(jd_ok(r), "jobs"));
		json_decref(r);
		if (json_array_size(jobs) >= n)
			return jobs;
		json_decref(jobs);
		ck_assert_msg(jd_now() < end, "queue %s: fewer than %zu jobs",
			      queue, n);
		jd_pause_ms(20);
	}
}

START_TEST(labels_producer_template)
{
	struct jd *d = start(NULL);
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"pq\",\"paused\":true,"
		   "\"labels\":{\"team\":\"q\",\"src\":\"queue\"}}");
	ok_text(d, "{\"cmd\":\"producer.create\",\"producer\":{\"name\":\"iv\","
		   "\"type\":\"interval\",\"every\":0.2,\"queue\":\"pq\","
		   "\"job\":{\"argv\":[\"true\"],"
		   "\"labels\":{\"src\":\"tick\"}}}}");
	json_t *jobs = poll_queue_jobs(d, "pq", 1);
	int64_t id = jd_num(json_array_get(jobs, 0), "id");
	json_decref(jobs);
	assert_labels(d, id, "{\"src\":\"tick\",\"team\":\"q\"}");
	ok_text(d, "{\"cmd\":\"producer.delete\",\"name\":\"iv\"}");

	/* A json generator's line merges its labels over the template's. */
	ok_text(d,
		"{\"cmd\":\"queue.create\",\"name\":\"gq\",\"paused\":true}");
	ok_text(d,
		"{\"cmd\":\"producer.create\",\"producer\":{\"name\":\"gen\","
		"\"type\":\"command\",\"queue\":\"gq\",\"format\":\"json\","
		"\"generator\":{\"shell\":\"echo '{\\\"labels\\\":"
		"{\\\"n\\\":\\\"1\\\"}}'; echo '{\\\"labels\\\":"
		"{\\\"n\\\":\\\"2\\\",\\\"src\\\":\\\"line\\\"}}'\"},"
		"\"job\":{\"argv\":[\"true\"],"
		"\"labels\":{\"src\":\"gen\"}}}}");
	jobs = poll_queue_jobs(d, "gq", 2);
	int64_t g1 = jd_num(json_array_get(jobs, 0), "id");
	int64_t g2 = jd_num(json_array_get(jobs, 1), "id");
	json_decref(jobs);
	assert_labels(d, g1, "{\"n\":\"1\",\"src\":\"gen\"}");
	assert_labels(d, g2, "{\"n\":\"2\",\"src\":\"line\"}");
	/* A template with a bad label is refused at create, naming
	 * job.labels. */
	json_t *r = req_text(
		d, "{\"cmd\":\"producer.create\",\"producer\":{"
		   "\"name\":\"bad\",\"type\":\"interval\","
		   "\"every\":60,\"queue\":\"pq\",\"job\":{"
		   "\"argv\":[\"true\"],\"labels\":{\"Src\":\"x\"}}}}");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strncmp(jd_err_msg(r), "job: labels: ", 13) == 0, "%s",
		      jd_err_msg(r));
	json_decref(r);
}
END_TEST

/* ---- list ---- */

START_TEST(labels_list_filter)
{
	struct jd *d = start(NULL);
	static const char *const colors[] = {"red", "green", "blue"};
	int64_t ids[30], got[64];
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"p\",\"paused\":true}");
	for (int i = 0; i < 30; i++) {
		char text[200];
		snprintf(text, sizeof(text),
			 "{\"shell\":\"true\",\"queue\":\"p\",\"labels\":"
			 "{\"color\":\"%s\",\"size\":\"%s\"}}",
			 colors[i % 3], i % 2 ? "odd" : "even");
		ids[i] = jd_submit_text(d, text);
	}
	/* One label: every third job. */
	size_t n = list_ids(d, "{\"color\":\"red\"}", 100, false, got, 64);
	ck_assert_uint_eq(n, 10);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], ids[i * 3]);
	/* Two: both must match (red and even: i % 6 == 0). */
	n = list_ids(d, "{\"color\":\"red\",\"size\":\"even\"}", 100, false,
		     got, 64);
	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], ids[i * 6]);
	/* Paged by 2, either way, the same jobs. */
	n = list_ids(d, "{\"color\":\"red\",\"size\":\"even\"}", 2, false, got,
		     64);
	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], ids[i * 6]);
	n = list_ids(d, "{\"color\":\"red\",\"size\":\"even\"}", 2, true, got,
		     64);
	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], ids[24 - i * 6]);
	/* No match, a value that differs, a key no job has. */
	ck_assert_uint_eq(
		list_ids(d, "{\"color\":\"purple\"}", 100, false, got, 64), 0);
	ck_assert_uint_eq(
		list_ids(d, "{\"color\":\"re\"}", 100, false, got, 64), 0);
	ck_assert_uint_eq(
		list_ids(d, "{\"shape\":\"red\"}", 100, false, got, 64), 0);
	/* {} is no filter; with state and queue it narrows them. */
	ck_assert_uint_eq(list_ids(d, "{}", 1000, false, got, 64), 30);
	json_t *r = req_text(d, "{\"cmd\":\"list\",\"queue\":\"p\","
				"\"state\":\"queued\",\"labels\":"
				"{\"color\":\"blue\"}}");
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "jobs")),
			  10);
	json_decref(r);

	/* Matches far apart, more than a listing's window of ids between
	 * them: each page still holds the next match, and the cursor
	 * goes on from it. */
	int64_t far[3];
	far[0] = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"p\","
				   "\"labels\":{\"far\":\"yes\"}}");
	json_t *batch = json_array();
	for (int i = 0; i < 4300; i++)
		json_array_append_new(
			batch, jd_json("{\"shell\":\"true\",\"queue\":\"p\","
				       "\"labels\":{\"far\":\"no\"}}"));
	jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", batch));
	far[1] = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"p\","
				   "\"labels\":{\"far\":\"yes\",\"x\":\"1\"}}");
	batch = json_array();
	for (int i = 0; i < 100; i++)
		json_array_append_new(batch, jd_json("{\"shell\":\"true\","
						     "\"queue\":\"p\"}"));
	jd_call_ok(d, json_pack("{s:s,s:o}", "cmd", "submit", "jobs", batch));
	far[2] = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"p\","
				   "\"labels\":{\"far\":\"yes\"}}");
	n = list_ids(d, "{\"far\":\"yes\"}", 1, false, got, 64);
	ck_assert_uint_eq(n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(got[i], far[i]);
	n = list_ids(d, "{\"far\":\"yes\"}", 1, true, got, 64);
	ck_assert_uint_eq(n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(got[i], far[2 - i]);
	n = list_ids(d, "{\"far\":\"yes\"}", 2, false, got, 64);
	ck_assert_uint_eq(n, 3);
	/* A full page names its last job as the cursor. */
	r = req_text(d, "{\"cmd\":\"list\",\"limit\":1,"
			"\"labels\":{\"far\":\"yes\"}}");
	json_t *res = jd_ok(r);
	ck_assert_int_eq(
		jd_num(json_array_get(json_object_get(res, "jobs"), 0), "id"),
		far[0]);
	ck_assert_int_eq(jd_num(res, "next_after_id"), far[0]);
	json_decref(r);
}
END_TEST

/* ---- watch ---- */

START_TEST(labels_watch_filter)
{
	struct jd *d = start(NULL);
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	json_t *req = jd_json("{\"cmd\":\"watch\",\"labels\":"
			      "{\"w\":\"yes\",\"team\":\"a\"}}");
	json_t *r = jd_call_fd(d, fd, req, 10000);
	json_decref(req);
	jd_ok(r);
	json_decref(r);
	/* Jobs that do not match (one label of two, another value, none),
	 * a queue change, then two that do. */
	int64_t n1 = jd_submit_text(d, "{\"shell\":\"echo 10 >&3\","
				       "\"labels\":{\"w\":\"yes\"}}");
	int64_t n2 = jd_submit_text(d, "{\"shell\":\"true\",\"labels\":"
				       "{\"w\":\"no\",\"team\":\"a\"}}");
	int64_t n3 = jd_submit_text(d, "{\"shell\":\"true\"}");
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"other\"}");
	int64_t m1 = jd_submit_text(d, "{\"shell\":\"exit 3\",\"labels\":"
				       "{\"w\":\"yes\",\"team\":\"a\","
				       "\"more\":\"x\"}}");
	/* m2's progress comes too (its event carries its labels). */
	int64_t m2 = jd_submit_text(d, "{\"shell\":\"echo 42 half >&3; "
				       "sleep 0.3\",\"labels\":"
				       "{\"w\":\"yes\",\"team\":\"a\"}}");
	json_decref(jd_wait(d, n1, 20));
	json_decref(jd_wait(d, n2, 20));
	json_decref(jd_wait(d, n3, 20));
	/* Every event that comes is a job event of m1 or m2, until both
	 * have finished. */
	bool fin1 = false, fin2 = false, sub1 = false, sub2 = false;
	bool prog2 = false;
	double end = jd_now() + 30;
	while (!(fin1 && fin2)) {
		ck_assert_msg(jd_now() < end, "no job.finished for m1, m2");
		char *line = jd_read_line(fd, 1000);
		if (line == NULL)
			continue;
		json_t *ev = jd_json(line);
		free(line);
		const char *name = jd_str(ev, "event");
		json_t *job = json_object_get(ev, "job");
		ck_assert_msg(job != NULL, "event %s of no job came", name);
		int64_t id = jd_num(job, "id");
		ck_assert_msg(id == m1 || id == m2, "event %s of job %lld came",
			      name, (long long)id);
		ck_assert_str_eq(jd_str(json_object_get(job, "labels"), "w"),
				 "yes");
		if (strcmp(name, "job.submitted") == 0)
			*(id == m1 ? &sub1 : &sub2) = true;
		if (strcmp(name, "job.finished") == 0)
			*(id == m1 ? &fin1 : &fin2) = true;
		if (strcmp(name, "job.progress") == 0 && id == m2)
			prog2 = true;
		json_decref(ev);
	}
	ck_assert(sub1 && sub2);
	ck_assert_msg(prog2, "no job.progress for m2");
	/* A second watch replaces the filter: now n-style jobs come. */
	req = jd_json("{\"cmd\":\"watch\",\"labels\":{\"w\":\"no\"}}");
	r = jd_call_fd(d, fd, req, 10000);
	json_decref(req);
	jd_ok(r);
	json_decref(r);
	int64_t n4 = jd_submit_text(d, "{\"shell\":\"true\",\"labels\":"
				       "{\"w\":\"no\"}}");
	char *line = jd_read_line(fd, 10000);
	ck_assert_ptr_nonnull(line);
	json_t *ev = jd_json(line);
	free(line);
	ck_assert_int_eq(jd_num(json_object_get(ev, "job"), "id"), n4);
	json_decref(ev);
	jd_close(fd);
}
END_TEST

/* ---- wait ---- */

START_TEST(labels_wait)
{
	struct jd *d = start(NULL);
	/* Nothing matches: answered at once. */
	json_t *r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"}}");
	ck_assert(json_is_object(jd_ok(r)));
	json_decref(r);
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"p\",\"paused\":true}");
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"held\","
		   "\"paused\":true}");
	int64_t a = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"p\","
				      "\"labels\":{\"b\":\"1\"}}");
	/* A job of another batch that never runs is not waited for. */
	int64_t other = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":"
					  "\"held\",\"labels\":{\"b\":\"2\"}}");
	/* Pending: the timeout runs out; 0 answers at once. */
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"},"
			"\"timeout\":0.3}");
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"},"
			"\"timeout\":0}");
	ck_assert_str_eq(jd_err(r), "timeout");
	json_decref(r);
	/* queue narrows it: nothing of b=1 in held. */
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"},"
			"\"queue\":\"held\"}");
	ck_assert(json_is_object(jd_ok(r)));
	json_decref(r);
	/* Bad forms. */
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"},"
			"\"job_id\":1}");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{}}");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = req_text(d, "{\"cmd\":\"wait\",\"job_id\":1,\"queue\":\"p\"}");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = req_text(d, "{\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"},"
			"\"queue\":\"nope\"}");
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);

	/* The wait is sent; then a second job of the batch comes, longer
	 * than the first: the answer comes only once both have ended. */
	int fd = jd_connect(d);
	ck_assert_int_ge(fd, 0);
	jd_send(fd, "{\"id\":77,\"cmd\":\"wait\",\"labels\":{\"b\":\"1\"}}\n");
	/* The wait is under way (a ping after it is answered first: the
	 * wait answers later). */
	jd_send(fd, "{\"id\":78,\"cmd\":\"ping\"}\n");
	char *line = jd_read_line(fd, 10000);
	ck_assert_ptr_nonnull(line);
	json_t *resp = jd_json(line);
	free(line);
	ck_assert_int_eq(jd_num(resp, "id"), 78);
	json_decref(resp);
	int64_t b = jd_submit_text(d,
				   "{\"shell\":\"sleep 0.5\",\"queue\":\"p\","
				   "\"labels\":{\"b\":\"1\"}}");
	jd_queue_cmd(d, "queue.resume", "p");
	line = jd_read_line(fd, 30000);
	ck_assert_ptr_nonnull(line);
	resp = jd_json(line);
	free(line);
	ck_assert_int_eq(jd_num(resp, "id"), 77);
	ck_assert(json_is_object(jd_ok(resp)));
	json_decref(resp);
	json_t *ja = jd_get(d, a), *jb = jd_get(d, b), *jo = jd_get(d, other);
	ck_assert_str_eq(jd_str(ja, "state"), "succeeded");
	ck_assert_str_eq(jd_str(jb, "state"), "succeeded");
	ck_assert_str_eq(jd_str(jo, "state"), "queued");
	json_decref(ja);
	json_decref(jb);
	json_decref(jo);
	jd_close(fd);
}
END_TEST

/* ---- jobctl ---- */

START_TEST(labels_jobctl)
{
	struct jd *d = start(NULL);
	char *out = NULL, *err = NULL;
	ok_text(d, "{\"cmd\":\"queue.create\",\"name\":\"p\",\"paused\":true,"
		   "\"labels\":{\"owner\":\"ops\"}}");
	int st = jd_jobctl(d, NULL, &out, &err, "submit", "-q", "p", "-l",
			   "team=ml", "-l", "batch=1", "--", "true", NULL);
	ck_assert_msg(st == 0, "submit: %d %s", st, err);
	int64_t id = atoll(out);
	free(out);
	free(err);
	ck_assert_int_gt(id, 0);
	int64_t other = jd_submit_text(d, "{\"shell\":\"true\",\"queue\":\"p\","
					  "\"labels\":{\"team\":\"ml\","
					  "\"batch\":\"2\"}}");
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	/* get shows them as key=value pairs. */
	st = jd_jobctl(d, NULL, &out, &err, "get", ids, NULL);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(out, "batch=1 owner=ops team=ml") != NULL, "%s",
		      out);
	free(out);
	free(err);
	/* list -l -l: both must match. */
	st = jd_jobctl(d, NULL, &out, &err, "list", "-l", "team=ml", "-l",
		       "batch=1", NULL);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(out, "NAME/COMMAND") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "LABELS") == NULL, "%s", out);
	ck_assert_msg(has_row(out, id) && !has_row(out, other), "%s", out);
	free(out);
	free(err);
	st = jd_jobctl(d, NULL, &out, &err, "--json", "list", "-l", "team=ml",
		       NULL);
	ck_assert_int_eq(st, 0);
	json_t *res = jd_json(out);
	ck_assert_uint_eq(json_array_size(json_object_get(res, "jobs")), 2);
	json_decref(res);
	free(out);
	free(err);
	/* --wide: the LABELS column. */
	st = jd_jobctl(d, NULL, &out, &err, "list", "--wide", "-l", "batch=2",
		       NULL);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(out, "LABELS") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "batch=2 owner=ops team=ml") != NULL, "%s",
		      out);
	ck_assert_msg(has_row(out, other) && !has_row(out, id), "%s", out);
	free(out);
	free(err);
	/* A bad -l is a usage error; a bad key is jobd's. */
	st = jd_jobctl(d, NULL, &out, &err, "list", "-l", "team", NULL);
	ck_assert_int_eq(st, 2);
	free(out);
	free(err);
	st = jd_jobctl(d, NULL, &out, &err, "list", "-l", "Team=x", NULL);
	ck_assert_int_eq(st, 2);
	ck_assert_msg(strstr(err, "labels") != NULL, "%s", err);
	free(out);
	free(err);
	/* wait -l: 124 while pending; 0 once they have finished. */
	st = jd_jobctl(d, NULL, &out, &err, "wait", "-l", "team=ml",
		       "--timeout", "0.2", NULL);
	ck_assert_int_eq(st, 124);
	free(out);
	free(err);
	jd_queue_cmd(d, "queue.resume", "p");
	st = jd_jobctl(d, NULL, &out, &err, "wait", "-l", "team=ml", "-q", "p",
		       "--timeout", "30", NULL);
	ck_assert_msg(st == 0, "wait -l: %d %s", st, err);
	free(out);
	free(err);
	json_t *j = jd_get(d, other);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	st = jd_jobctl(d, NULL, &out, &err, "wait", "-l", "team=ml", "1", NULL);
	ck_assert_int_eq(st, 2);
	free(out);
	free(err);
}
END_TEST

Suite *
labels_suite(void)
{
	Suite *s = suite_create("labels");
	TCase *tc = tcase_create("labels");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, labels_validation);
	tcase_add_test(tc, labels_queue_defaults);
	tcase_add_test(tc, labels_config_refused);
	tcase_add_test(tc, labels_producer_template);
	tcase_add_test(tc, labels_list_filter);
	tcase_add_test(tc, labels_watch_filter);
	tcase_add_test(tc, labels_wait);
	tcase_add_test(tc, labels_jobctl);
	suite_add_tcase(s, tc);
	return s;
}
