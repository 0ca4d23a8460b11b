/*
 * producer_suite: producers against a real jobd (SPEC 4, the producer
 * commands of SPEC 5.1, [producer] sections of SPEC 7, jobctl producer of
 * SPEC 8): interval ticks and overlap, command generators (lines with
 * backpressure, json with bad lines, restart policies), cron schedules,
 * validation, pause/resume/delete, persistence across a restart, and
 * shutdown ending generators.  Every test starts its own daemon and the
 * teardown stops it, failing on a sanitizer report or an unclean exit.
 * Time windows are measured, not assumed; every wait is a bounded poll.
 */
#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *producer_suite(void);

/* Every daemon here gets this much config; a test may add to it. */
#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* The one daemon of the current test (each test runs in its own fork). */
static struct jd D;

/* Starts the test's daemon with BASE_CONF plus extra (may be NULL). */
static struct jd *
start(const char *extra)
{
	return jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* ---- helpers ---- */

/* producer.create with the producer object p (stolen); the response. */
static json_t *
pcreate(struct jd *d, json_t *p)
{
	return jd_call(d, json_pack("{s:s,s:o}", "cmd", "producer.create",
				    "producer", p));
}

/* producer.create that must succeed. */
static void
pcreate_ok(struct jd *d, json_t *p)
{
	json_t *r = pcreate(d, p);
	jd_ok(r);
	json_decref(r);
}

/* A command on a producer name (producer.get/pause/resume/delete). */
static json_t *
pcmd(struct jd *d, const char *cmd, const char *name)
{
	return jd_req(d, "{s:s,s:s}", "cmd", cmd, "name", name);
}

/* The producer object of name (new ref); fails when it is not there. */
static json_t *
pget(struct jd *d, const char *name)
{
	json_t *r = pcmd(d, "producer.get", name);
	json_t *p = json_incref(json_object_get(jd_ok(r), "producer"));
	json_decref(r);
	ck_assert_msg(json_is_object(p), "producer.get %s: no producer", name);
	return p;
}

/* One integer field of the producer name. */
static json_int_t
pnum(struct jd *d, const char *name, const char *key)
{
	json_t *p = pget(d, name);
	json_int_t n = jd_num(p, key);
	json_decref(p);
	return n;
}

/* Fails unless producer name is in state. */
static void
assert_pstate(struct jd *d, const char *name, const char *state)
{
	json_t *p = pget(d, name);
	ck_assert_msg(strcmp(jd_str(p, "state"), state) == 0,
		      "producer %s is %s, want %s", name, jd_str(p, "state"),
		      state);
	json_decref(p);
}

/* Polls until producer name's field key >= want (timeout_s). */
static bool
poll_pnum(struct jd *d, const char *name, const char *key, json_int_t want,
	  double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (pnum(d, name, key) >= want)
			return true;
		jd_pause_ms(10);
	}
	return false;
}

/* Polls until producer name is in state (timeout_s). */
static bool
poll_pstate(struct jd *d, const char *name, const char *state, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		json_t *p = pget(d, name);
		bool hit = strcmp(jd_str(p, "state"), state) == 0;
		json_decref(p);
		if (hit)
			return true;
		jd_pause_ms(10);
	}
	return false;
}

/* Creates a queue from text (its fields, "name" included). */
static void
queue_create(struct jd *d, const char *text)
{
	json_t *req = jd_json(text);
	json_object_set_new(req, "cmd", json_string("queue.create"));
	jd_call_ok(d, req);
}

/* The counts of queue name by state (new ref). */
static json_t *
queue_counts(struct jd *d, const char *name)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", name);
	json_t *c =
		json_object_get(json_object_get(jd_ok(r), "queue"), "counts");
	ck_assert_msg(json_is_object(c), "queue.get %s: no counts", name);
	json_incref(c);
	json_decref(r);
	return c;
}

/* Jobs of queue name that are not terminal now. */
static json_int_t
queue_live(struct jd *d, const char *name)
{
	json_t *c = queue_counts(d, name);
	json_int_t n = jd_num(c, "waiting") + jd_num(c, "scheduled") +
		       jd_num(c, "queued") + jd_num(c, "running");
	json_decref(c);
	return n;
}

/* The jobs of queue name, ascending id (new ref; up to 10,000). */
static json_t *
list_jobs(struct jd *d, const char *queue)
{
	json_t *r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "queue", queue,
			   "limit", 10000);
	json_t *jobs = json_incref(json_object_get(jd_ok(r), "jobs"));
	json_decref(r);
	ck_assert(json_is_array(jobs));
	return jobs;
}

/* Number of jobs in queue name, by listing it. */
static size_t
count_jobs(struct jd *d, const char *queue)
{
	json_t *jobs = list_jobs(d, queue);
	size_t n = json_array_size(jobs);
	json_decref(jobs);
	return n;
}

/* Polls until queue name holds at least want jobs (timeout_s). */
static bool
poll_jobs(struct jd *d, const char *queue, size_t want, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (count_jobs(d, queue) >= want)
			return true;
		jd_pause_ms(10);
	}
	return false;
}

/* The integer in file path (-1 when missing or empty). */
static long
file_int(const char *path)
{
	char *s = jd_slurp(path);
	long n = s && *s ? strtol(s, NULL, 10) : -1;
	free(s);
	return n;
}

/* True when some process has marker as one of its arguments. */
static bool
process_with_arg(const char *marker)
{
	DIR *dir = opendir("/proc");
	ck_assert_ptr_nonnull(dir);
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(dir)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "re");
		if (f == NULL)
			continue;
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		for (size_t i = 0; i < n && !found; i += strlen(buf + i) + 1)
			found = strcmp(buf + i, marker) == 0;
	}
	closedir(dir);
	return found;
}

/* Polls until a process with marker exists (want) or none does. */
static bool
poll_process(const char *marker, bool want, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		if (process_with_arg(marker) == want)
			return true;
		jd_pause_ms(20);
	}
	return false;
}

/* Parses an RFC 3339 UTC time with milliseconds into seconds; fails when
 * s does not have that shape. */
static time_t
parse_time(const char *s, int *ms)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	ck_assert_msg(rest != NULL, "not an RFC 3339 time: %s", s);
	ck_assert_msg(rest[0] == '.' && strlen(rest) == 5 && rest[4] == 'Z',
		      "not .mmmZ at the end: %s", s);
	*ms = atoi(rest + 1);
	return timegm(&tm);
}

/* ---- interval ---- */

/* An interval producer (every 0.2 s) makes one job a tick: the jobs
 * listed over a measured window match its length within one. */
START_TEST(producer_interval_count)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"iv\",\"concurrency\":8}");
	pcreate_ok(d, jd_json("{\"name\":\"iv\",\"type\":\"interval\","
			      "\"every\":0.2,\"queue\":\"iv\",\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert_msg(poll_jobs(d, "iv", 1, 3), "no first tick within 3 s");
	double t0a = jd_now();
	size_t n0 = count_jobs(d, "iv");
	double t0b = jd_now();
	while (jd_now() < t0b + 2.0)
		jd_pause_ms(20);
	double t1a = jd_now();
	size_t n1 = count_jobs(d, "iv");
	double t1b = jd_now();
	/* The two snapshots were taken somewhere inside [t0a, t0b] and
	 * [t1a, t1b]: the window lies between these lengths. */
	double lmin = t1a - t0b, lmax = t1b - t0a;
	long lo = (long)(lmin / 0.2) - 1, hi = (long)(lmax / 0.2) + 2;
	long got = (long)(n1 - n0);
	ck_assert_msg(got >= lo && got <= hi,
		      "%ld jobs in a %.3f..%.3f s window, expected %ld..%ld",
		      got, lmin, lmax, lo, hi);
	/* Every job came from the producer, and it counted them. */
	json_t *p = pget(d, "iv");
	ck_assert_int_ge(jd_num(p, "produced"), (json_int_t)n1);
	ck_assert_int_eq(jd_num(p, "skipped"), 0);
	ck_assert_int_eq(jd_num(p, "errors"), 0);
	json_decref(p);
}
END_TEST

/* overlap = false (the default): a tick is skipped while the previous
 * job runs, so at most one job of the producer is live at any time. */
START_TEST(producer_interval_no_overlap)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"ov\",\"concurrency\":8}");
	pcreate_ok(d, jd_json("{\"name\":\"ov\",\"type\":\"interval\","
			      "\"every\":0.2,\"queue\":\"ov\","
			      "\"job\":{\"argv\":[\"sleep\",\"1\"]}}"));
	json_t *p = pget(d, "ov");
	ck_assert(json_is_false(json_object_get(p, "overlap")));
	json_decref(p);
	double end = jd_now() + 2.6;
	json_int_t max_live = 0;
	while (jd_now() < end) {
		json_int_t live = queue_live(d, "ov");
		if (live > max_live)
			max_live = live;
		jd_pause_ms(15);
	}
	ck_assert_msg(max_live == 1, "%lld live jobs at once (want 1)",
		      (long long)max_live);
	/* Paused, so that no tick comes between the count it reports and
	 * the jobs counted below. */
	json_t *r = pcmd(d, "producer.pause", "ov");
	jd_ok(r);
	json_decref(r);
	/* A tick's count is committed just after its job (on PostgreSQL
	 * in the next commit): the two agree within moments. */
	json_int_t jobs = -1, produced = -2;
	for (double until = jd_now() + 5; jd_now() < until; jd_pause_ms(20)) {
		p = pget(d, "ov");
		jobs = (json_int_t)count_jobs(d, "ov");
		produced = jd_num(p, "produced");
		if (jobs == produced)
			break;
		json_decref(p);
		p = NULL;
	}
	ck_assert_msg(jobs == produced, "%lld jobs, produced %lld",
		      (long long)jobs, (long long)produced);
	/* 13 ticks in 2.6 s; each 1 s job covers about 5 of them. */
	ck_assert_int_ge(jd_num(p, "skipped"), 5);
	ck_assert_int_ge(produced, 2);
	ck_assert_int_le(produced, 4);
	json_decref(p);
}
END_TEST

/* overlap = true: jobs of one producer run side by side. */
START_TEST(producer_interval_overlap)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"ov\",\"concurrency\":8}");
	pcreate_ok(d, jd_json("{\"name\":\"ov\",\"type\":\"interval\","
			      "\"every\":0.2,\"queue\":\"ov\",\"overlap\":true,"
			      "\"job\":{\"argv\":[\"sleep\",\"1\"]}}"));
	double deadline = jd_now() + 3;
	json_int_t max_live = 0;
	while (jd_now() < deadline && max_live < 3) {
		json_int_t live = queue_live(d, "ov");
		if (live > max_live)
			max_live = live;
		jd_pause_ms(15);
	}
	ck_assert_msg(max_live >= 3, "only %lld live jobs at once",
		      (long long)max_live);
	ck_assert_int_eq(pnum(d, "ov", "skipped"), 0);
}
END_TEST

/* ---- command: lines and backpressure ---- */

/* Each generator line is padded to about this many bytes, so that the
 * pipe (64 KiB) and the daemon's read buffer hold few lines. */
#define LINE_BYTES 4000
/* What the daemon and the pipe may hold between them, generously. */
#define SLACK_BYTES (256 * 1024)

/* A lines generator of 1,000 lines into a queue of capacity 10: while
 * the queue is paused and full, the generator is blocked (its progress
 * marker stops well below 1,000); after resume every line becomes one
 * job that runs exactly once. */
START_TEST(producer_lines_backpressure)
{
	struct jd *d = start(NULL);
	char *progress = jd_path(d, "progress");
	char *out = jd_path(d, "out");
	queue_create(d, "{\"name\":\"bp\",\"capacity\":10,"
			"\"concurrency\":16}");
	jd_queue_cmd(d, "queue.pause", "bp");
	char gen[512];
	snprintf(gen, sizeof(gen),
		 "pad=$(printf '%%0%dd' 0); for i in $(seq 1 1000); do "
		 "echo \"$i $pad\"; echo $i >> '%s'; done",
		 LINE_BYTES, progress);
	char script[512];
	snprintf(script, sizeof(script), "echo \"${1%%%% *}\" >> '%s'", out);
	pcreate_ok(d, json_pack("{s:s,s:s,s:s,s:{s:s},s:{s:[s,s,s,s]}}", "name",
				"bp", "type", "command", "queue", "bp",
				"generator", "shell", gen, "job", "argv", "sh",
				"-c", script, "sh"));
	/* The queue fills up to its capacity and no further. */
	ck_assert_msg(poll_pnum(d, "bp", "produced", 10, 5),
		      "the producer did not fill the queue");
	ck_assert_int_gt(jd_count_lines(progress), 0);
	long bound = 10 + SLACK_BYTES / LINE_BYTES + 2;
	long last = -1;
	double end = jd_now() + 0.5;
	for (int i = 0; jd_now() < end || i < 5; i++) {
		last = jd_count_lines(progress);
		ck_assert_msg(last > 0 && last <= bound,
			      "generator got to line %ld while blocked "
			      "(bound %ld)",
			      last, bound);
		jd_pause_ms(100);
	}
	json_t *c = queue_counts(d, "bp");
	ck_assert_int_eq(jd_num(c, "queued"), 10);
	json_decref(c);
	ck_assert_int_eq(pnum(d, "bp", "produced"), 10);
	assert_pstate(d, "bp", "running");
	/* Resume: the generator gets to its end, every line runs. */
	jd_queue_cmd(d, "queue.resume", "bp");
	ck_assert_msg(poll_pstate(d, "bp", "finished", 40),
		      "generator did not finish after resume (progress %ld)",
		      (long)jd_count_lines(progress));
	ck_assert_int_eq(jd_count_lines(progress), 1000);
	json_t *p = pget(d, "bp");
	ck_assert_int_eq(jd_num(p, "produced"), 1000);
	ck_assert_int_eq(jd_num(p, "errors"), 0);
	json_decref(p);
	double deadline = jd_now() + 30;
	json_int_t done = 0;
	while (jd_now() < deadline) {
		c = queue_counts(d, "bp");
		done = jd_num(c, "succeeded");
		json_decref(c);
		if (done == 1000)
			break;
		jd_pause_ms(20);
	}
	ck_assert_int_eq(done, 1000);
	c = queue_counts(d, "bp");
	ck_assert_int_eq(jd_num(c, "failed"), 0);
	json_decref(c);
	char *text = jd_slurp(out);
	ck_assert_ptr_nonnull(text);
	static int seen[1001];
	int lines = 0;
	for (char *s = text, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
		*nl = '\0';
		char *e;
		long v = strtol(s, &e, 10);
		ck_assert_msg(*e == '\0' && v >= 1 && v <= 1000,
			      "bad line in out: '%s'", s);
		seen[v]++;
		lines++;
	}
	ck_assert_int_eq(lines, 1000);
	for (int i = 1; i <= 1000; i++)
		ck_assert_msg(seen[i] == 1, "line %d ran %d times", i, seen[i]);
	free(text);
	free(progress);
	free(out);
}
END_TEST

/* ---- command: json ---- */

/* A json generator: each good line is laid over the template, the bad
 * ones (not JSON, not an object, bad field values, unknown fields) are
 * counted in errors and the rest go on. */
START_TEST(producer_json_bad_lines)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"js\"}");
	char *lines = jd_path(d, "lines");
	jd_write_file(lines, "{\"argv\":[\"true\"],\"name\":\"g1\"}\n"
			     "not json\n"
			     "[1,2,3]\n"
			     "{\"argv\":\"true\"}\n"
			     "{\"argv\":[\"true\"],\"priority\":5000}\n"
			     "{\"argv\":[\"true\"],\"bogus\":1}\n"
			     "{\"shell\":\"true\",\"name\":\"g2\","
			     "\"priority\":3}\n"
			     "\"a string\"\n"
			     "{\"argv\":[\"true\"],\"name\":\"g3\","
			     "\"queue\":\"default\"}\n");
	pcreate_ok(d, json_pack("{s:s,s:s,s:s,s:s,s:{s:[s,s]},s:{s:i}}", "name",
				"js", "type", "command", "queue", "js",
				"format", "json", "generator", "argv", "cat",
				lines, "job", "priority", 7));
	ck_assert(poll_pstate(d, "js", "finished", 5));
	json_t *p = pget(d, "js");
	ck_assert_int_eq(jd_num(p, "produced"), 3);
	ck_assert_int_eq(jd_num(p, "errors"), 6);
	json_decref(p);
	/* The three good lines, in order, in the producer's queue (a queue
	 * inside a line is ignored), the template's priority under them. */
	json_t *jobs = list_jobs(d, "js");
	ck_assert_int_eq(json_array_size(jobs), 3);
	ck_assert_str_eq(jd_str(json_array_get(jobs, 0), "name"), "g1");
	ck_assert_int_eq(jd_num(json_array_get(jobs, 0), "priority"), 7);
	ck_assert_str_eq(jd_str(json_array_get(jobs, 1), "name"), "g2");
	ck_assert_int_eq(jd_num(json_array_get(jobs, 1), "priority"), 3);
	ck_assert_str_eq(jd_str(json_array_get(jobs, 1), "shell"), "true");
	ck_assert_str_eq(jd_str(json_array_get(jobs, 2), "name"), "g3");
	ck_assert_str_eq(jd_str(json_array_get(jobs, 2), "queue"), "js");
	json_decref(jobs);
	ck_assert_int_eq(count_jobs(d, "default"), 0);
	free(lines);
}
END_TEST

/* ---- command: restart policies ---- */

/* Writes a generator script that counts its runs in DIR/count (replaced
 * by a rename, so a reader never sees it empty), prints
 * "runN" and exits with status (N >= ok_from ? 0 : 1); returns its path
 * (caller frees). */
static char *
counting_script(struct jd *d, int ok_from)
{
	char *path = jd_path(d, "gen.sh");
	char *count = jd_path(d, "count");
	char text[1024];
	snprintf(text, sizeof(text),
		 "n=$(cat '%s' 2>/dev/null || echo 0)\n"
		 "n=$((n + 1))\n"
		 "echo $n > '%s.tmp' && mv '%s.tmp' '%s'\n"
		 "echo run$n\n"
		 "[ $n -ge %d ]\n",
		 count, count, count, count, ok_from);
	jd_write_file(path, text);
	free(count);
	return path;
}

/* Creates a command producer "rs" running script with restart policy. */
static void
restart_producer(struct jd *d, const char *script, const char *restart)
{
	pcreate_ok(d, json_pack("{s:s,s:s,s:s,s:{s:[s,s]},s:{s:[s]}}", "name",
				"rs", "type", "command", "restart", restart,
				"generator", "argv", "sh", script, "job",
				"argv", "true"));
}

/* restart never: the generator runs once; exit 0 ends it finished. */
START_TEST(producer_restart_never)
{
	struct jd *d = start(NULL);
	char *script = counting_script(d, 1);
	char *count = jd_path(d, "count");
	restart_producer(d, script, "never");
	json_t *p = pget(d, "rs");
	ck_assert_str_eq(jd_str(p, "restart"), "never");
	json_decref(p);
	ck_assert(poll_pstate(d, "rs", "finished", 5));
	/* Longer than the restart delay: it does not run again. */
	double end = jd_now() + 1.5;
	while (jd_now() < end) {
		ck_assert_int_eq(file_int(count), 1);
		jd_pause_ms(50);
	}
	ck_assert_int_eq(pnum(d, "rs", "produced"), 1);
	assert_pstate(d, "rs", "finished");
	free(script);
	free(count);
}
END_TEST

/* restart never: a generator that fails ends the producer failed. */
START_TEST(producer_restart_never_failed)
{
	struct jd *d = start(NULL);
	char *script = counting_script(d, 2);
	restart_producer(d, script, "never");
	ck_assert(poll_pstate(d, "rs", "failed", 5));
	ck_assert_int_eq(pnum(d, "rs", "produced"), 1);
	free(script);
}
END_TEST

/* restart on-failure: a failing generator runs again; once it exits 0 the
 * producer is finished, with the lines of both runs produced. */
START_TEST(producer_restart_on_failure)
{
	struct jd *d = start(NULL);
	char *script = counting_script(d, 2);
	char *count = jd_path(d, "count");
	restart_producer(d, script, "on-failure");
	ck_assert(poll_pstate(d, "rs", "finished", 8));
	ck_assert_int_eq(file_int(count), 2);
	ck_assert_int_eq(pnum(d, "rs", "produced"), 2);
	json_t *jobs = list_jobs(d, "default");
	ck_assert_int_eq(json_array_size(jobs), 2);
	json_t *argv = json_object_get(json_array_get(jobs, 1), "argv");
	ck_assert_str_eq(json_string_value(json_array_get(argv, 1)), "run2");
	json_decref(jobs);
	free(script);
	free(count);
}
END_TEST

/* restart always: a generator that exits 0 runs again. */
START_TEST(producer_restart_always)
{
	struct jd *d = start(NULL);
	char *script = counting_script(d, 1);
	char *count = jd_path(d, "count");
	restart_producer(d, script, "always");
	ck_assert(poll_pnum(d, "rs", "produced", 2, 8));
	ck_assert_int_ge(file_int(count), 2);
	assert_pstate(d, "rs", "running");
	free(script);
	free(count);
}
END_TEST

/* ---- cron ---- */

/* "* * * * *" is accepted; next_run is the next minute boundary. */
START_TEST(producer_cron_next_run)
{
	struct jd *d = start(NULL);
	time_t before = time(NULL);
	pcreate_ok(d, jd_json("{\"name\":\"cr\",\"type\":\"cron\","
			      "\"schedule\":\"* * * * *\","
			      "\"job\":{\"argv\":[\"true\"]}}"));
	json_t *p = NULL;
	double deadline = jd_now() + 3;
	while (jd_now() < deadline) {
		json_decref(p);
		p = pget(d, "cr");
		if (json_is_string(json_object_get(p, "next_run")))
			break;
		jd_pause_ms(10);
	}
	time_t after = time(NULL);
	ck_assert_str_eq(jd_str(p, "schedule"), "* * * * *");
	ck_assert_str_eq(jd_str(p, "type"), "cron");
	ck_assert_msg(json_is_string(json_object_get(p, "next_run")),
		      "no next_run");
	int ms;
	time_t next = parse_time(jd_str(p, "next_run"), &ms);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(next % 60, 0);
	/* The minute after "now", whichever side of a boundary now was. */
	time_t lo = (before / 60 + 1) * 60, hi = (after / 60 + 1) * 60;
	ck_assert_msg(next >= lo && next <= hi,
		      "next_run %s is not the next minute",
		      jd_str(p, "next_run"));
	json_decref(p);
}
END_TEST

/* A bad or missing schedule is invalid_argument naming schedule, and
 * nothing is created. */
START_TEST(producer_cron_invalid)
{
	struct jd *d = start(NULL);
	static const char *const bad[] = {"61 * * * *", "* * * *", "bogus",
					  "* * * * * *", "*/0 * * * *"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r =
			pcreate(d, json_pack("{s:s,s:s,s:s,s:{s:[s]}}", "name",
					     "cr", "type", "cron", "schedule",
					     bad[i], "job", "argv", "true"));
		ck_assert_msg(strcmp(jd_err(r), "invalid_argument") == 0,
			      "schedule '%s': got '%s'", bad[i], jd_err(r));
		ck_assert_msg(strstr(jd_err_msg(r), "schedule") != NULL,
			      "schedule '%s': message '%s'", bad[i],
			      jd_err_msg(r));
		json_decref(r);
	}
	json_t *r = pcreate(d, jd_json("{\"name\":\"cr\",\"type\":\"cron\","
				       "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_ptr_nonnull(strstr(jd_err_msg(r), "schedule"));
	json_decref(r);
	r = pcmd(d, "producer.get", "cr");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
}
END_TEST

/* ---- validation and the producer object ---- */

/* producer.create refuses bad definitions with the right code, naming the
 * field, and stores nothing for them. */
START_TEST(producer_create_validation)
{
	struct jd *d = start(NULL);
	static const struct {
		const char *text, *code, *mention;
	} cases[] = {
		{"{\"name\":\"v\",\"type\":\"weekly\",\"every\":1,"
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "type"},
		{"{\"name\":\"v\",\"every\":1,\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "type"},
		{"{\"name\":\"v\",\"type\":\"interval\","
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "every"},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":0,"
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "every"},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":\"1s\","
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "every"},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":1,"
		 "\"colour\":\"red\",\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "colour"},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":1,"
		 "\"queue\":\"nope\",\"job\":{\"argv\":[\"true\"]}}",
		 "unknown_queue", NULL},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":1,"
		 "\"overlap\":\"yes\",\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "overlap"},
		{"{\"name\":\"v\",\"type\":\"interval\",\"every\":1,"
		 "\"job\":{\"argv\":[\"true\"],\"priority\":5000}}",
		 "invalid_argument", "priority"},
		{"{\"name\":\"bad name!\",\"type\":\"interval\",\"every\":1,"
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "name"},
		{"{\"name\":\"v\",\"type\":\"command\","
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "generator"},
		{"{\"name\":\"v\",\"type\":\"command\","
		 "\"generator\":{\"shell\":\"echo\"},\"restart\":\"sometimes\","
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "restart"},
		{"{\"name\":\"v\",\"type\":\"command\","
		 "\"generator\":{\"shell\":\"echo\"},\"format\":\"xml\","
		 "\"job\":{\"argv\":[\"true\"]}}",
		 "invalid_argument", "format"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = pcreate(d, jd_json(cases[i].text));
		ck_assert_msg(strcmp(jd_err(r), cases[i].code) == 0,
			      "%s: got '%s' (%s), want %s", cases[i].text,
			      jd_err(r), jd_err_msg(r), cases[i].code);
		ck_assert_msg(cases[i].mention == NULL ||
				      strstr(jd_err_msg(r), cases[i].mention),
			      "%s: message '%s' does not name %s",
			      cases[i].text, jd_err_msg(r), cases[i].mention);
		json_decref(r);
	}
	/* A good one, then the same name again. */
	const char *good = "{\"name\":\"v\",\"type\":\"interval\",\"every\":60,"
			   "\"job\":{\"argv\":[\"true\"]}}";
	pcreate_ok(d, jd_json(good));
	json_t *r = pcreate(d, jd_json(good));
	ck_assert_str_eq(jd_err(r), "invalid_state");
	json_decref(r);
	r = jd_req(d, "{s:s}", "cmd", "producer.list");
	ck_assert_int_eq(
		json_array_size(json_object_get(jd_ok(r), "producers")), 1);
	json_decref(r);
	/* The producer commands on an unknown name. */
	static const char *const cmds[] = {"producer.get", "producer.pause",
					   "producer.resume",
					   "producer.delete"};
	for (size_t i = 0; i < 4; i++) {
		r = pcmd(d, cmds[i], "nosuch");
		ck_assert_msg(strcmp(jd_err(r), "not_found") == 0,
			      "%s nosuch: got '%s'", cmds[i], jd_err(r));
		json_decref(r);
	}
}
END_TEST

/* Fails unless p has every member in keys. */
static void
assert_keys(const json_t *p, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++)
		ck_assert_msg(json_object_get(p, keys[i]) != NULL,
			      "producer %s has no '%s'", jd_str(p, "name"),
			      keys[i]);
}

/* producer.get and producer.list report the fields of SPEC 4. */
START_TEST(producer_get_list_fields)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"pq\"}");
	pcreate_ok(d, jd_json("{\"name\":\"a-iv\",\"type\":\"interval\","
			      "\"every\":30,\"queue\":\"pq\","
			      "\"job\":{\"argv\":[\"true\"],\"queue\":"
			      "\"default\"}}"));
	pcreate_ok(d, jd_json("{\"name\":\"b-cron\",\"type\":\"cron\","
			      "\"schedule\":\"0 3 * * *\",\"overlap\":true,"
			      "\"job\":{\"shell\":\"true\"}}"));
	pcreate_ok(d, jd_json("{\"name\":\"c-cmd\",\"type\":\"command\","
			      "\"generator\":{\"shell\":\"sleep 30\"},"
			      "\"format\":\"lines\",\"restart\":\"on-failure\","
			      "\"job\":{\"argv\":[\"echo\"]}}"));
	static const char *const common[] = {
		"name",	    "type",	"queue",    "job",     "overlap",
		"paused",   "state",	"produced", "skipped", "errors",
		"last_run", "next_run", "uid",	    NULL};
	static const char *const iv_keys[] = {"every", NULL};
	static const char *const cron_keys[] = {"schedule", NULL};
	static const char *const cmd_keys[] = {"generator", "format", "restart",
					       NULL};

	json_t *p = pget(d, "a-iv");
	assert_keys(p, common);
	assert_keys(p, iv_keys);
	ck_assert_str_eq(jd_str(p, "type"), "interval");
	ck_assert_str_eq(jd_str(p, "queue"), "pq");
	ck_assert(json_number_value(json_object_get(p, "every")) == 30);
	/* The producer's queue wins over one in the template. */
	json_t *job = json_object_get(p, "job");
	ck_assert(json_is_object(job));
	ck_assert_ptr_null(json_object_get(job, "queue"));
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(job, "argv"), 0)),
			 "true");
	ck_assert(json_is_false(json_object_get(p, "overlap")));
	ck_assert(json_is_false(json_object_get(p, "paused")));
	ck_assert_str_eq(jd_str(p, "state"), "running");
	ck_assert_int_eq(jd_num(p, "produced"), 0);
	ck_assert_int_eq(jd_num(p, "skipped"), 0);
	ck_assert_int_eq(jd_num(p, "errors"), 0);
	ck_assert(json_is_null(json_object_get(p, "last_run")));
	ck_assert_int_eq(jd_num(p, "uid"), (json_int_t)geteuid());
	json_decref(p);

	p = pget(d, "b-cron");
	assert_keys(p, common);
	assert_keys(p, cron_keys);
	ck_assert_str_eq(jd_str(p, "queue"), "default");
	ck_assert_str_eq(jd_str(p, "schedule"), "0 3 * * *");
	ck_assert(json_is_true(json_object_get(p, "overlap")));
	json_decref(p);

	p = pget(d, "c-cmd");
	assert_keys(p, common);
	assert_keys(p, cmd_keys);
	ck_assert_str_eq(jd_str(json_object_get(p, "generator"), "shell"),
			 "sleep 30");
	ck_assert_str_eq(jd_str(p, "format"), "lines");
	ck_assert_str_eq(jd_str(p, "restart"), "on-failure");
	json_decref(p);

	json_t *r = jd_req(d, "{s:s}", "cmd", "producer.list");
	json_t *list = json_object_get(jd_ok(r), "producers");
	ck_assert_int_eq(json_array_size(list), 3);
	size_t i;
	json_t *e;
	json_array_foreach (list, i, e) {
		assert_keys(e, common);
		json_t *one = pget(d, jd_str(e, "name"));
		ck_assert_str_eq(jd_str(one, "type"), jd_str(e, "type"));
		ck_assert_str_eq(jd_str(one, "queue"), jd_str(e, "queue"));
		json_decref(one);
	}
	json_decref(r);
}
END_TEST

/* A paused producer produces nothing; resumed, it produces again. */
START_TEST(producer_pause_resume)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"pr\"}");
	pcreate_ok(d, jd_json("{\"name\":\"pr\",\"type\":\"interval\","
			      "\"every\":0.1,\"queue\":\"pr\",\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert(poll_jobs(d, "pr", 1, 3));
	json_t *r = pcmd(d, "producer.pause", "pr");
	json_t *p = json_object_get(jd_ok(r), "producer");
	ck_assert_str_eq(jd_str(p, "state"), "paused");
	ck_assert(json_is_true(json_object_get(p, "paused")));
	json_decref(r);
	/* A tick being submitted commits with the pause, before its
	 * response: from here on nothing may be added. */
	size_t n0 = count_jobs(d, "pr");
	json_int_t produced = pnum(d, "pr", "produced");
	double end = jd_now() + 0.6;
	while (jd_now() < end) {
		ck_assert_int_eq(count_jobs(d, "pr"), n0);
		jd_pause_ms(20);
	}
	p = pget(d, "pr");
	ck_assert_int_eq(jd_num(p, "produced"), produced);
	ck_assert_str_eq(jd_str(p, "state"), "paused");
	ck_assert(json_is_null(json_object_get(p, "next_run")));
	json_decref(p);
	r = pcmd(d, "producer.resume", "pr");
	p = json_object_get(jd_ok(r), "producer");
	ck_assert_str_eq(jd_str(p, "state"), "running");
	ck_assert(json_is_false(json_object_get(p, "paused")));
	json_decref(r);
	ck_assert_msg(poll_jobs(d, "pr", n0 + 2, 3),
		      "no new jobs after resume");
	ck_assert_int_gt(pnum(d, "pr", "produced"), produced);
}
END_TEST

/* A deleted producer is gone: not_found, not listed, produces nothing. */
START_TEST(producer_delete)
{
	struct jd *d = start(NULL);
	queue_create(d, "{\"name\":\"dl\"}");
	pcreate_ok(d, jd_json("{\"name\":\"dl\",\"type\":\"interval\","
			      "\"every\":0.1,\"queue\":\"dl\",\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert(poll_jobs(d, "dl", 1, 3));
	json_t *r = pcmd(d, "producer.delete", "dl");
	ck_assert(json_is_object(jd_ok(r)));
	json_decref(r);
	r = pcmd(d, "producer.get", "dl");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	r = pcmd(d, "producer.delete", "dl");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	r = jd_req(d, "{s:s}", "cmd", "producer.list");
	ck_assert_int_eq(
		json_array_size(json_object_get(jd_ok(r), "producers")), 0);
	json_decref(r);
	size_t n0 = count_jobs(d, "dl");
	double end = jd_now() + 0.5;
	while (jd_now() < end) {
		ck_assert_int_eq(count_jobs(d, "dl"), n0);
		jd_pause_ms(20);
	}
	/* The name is free again. */
	pcreate_ok(d, jd_json("{\"name\":\"dl\",\"type\":\"interval\","
			      "\"every\":60,\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert_int_eq(pnum(d, "dl", "produced"), 0);
}
END_TEST

/* ---- persistence and config ---- */

/* A producer outlives a restart with its counters and its pause. */
START_TEST(producer_persist_restart)
{
	struct jd *d = start(NULL);
	pcreate_ok(d, jd_json("{\"name\":\"ps\",\"type\":\"interval\","
			      "\"every\":0.1,\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert(poll_pnum(d, "ps", "produced", 3, 3));
	json_t *r = pcmd(d, "producer.pause", "ps");
	jd_ok(r);
	json_decref(r);
	json_t *before = pget(d, "ps");
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	json_t *after = pget(d, "ps");
	ck_assert_str_eq(jd_str(after, "type"), "interval");
	ck_assert(json_number_value(json_object_get(after, "every")) == 0.1);
	ck_assert_str_eq(jd_str(after, "state"), "paused");
	ck_assert(json_is_true(json_object_get(after, "paused")));
	ck_assert_int_eq(jd_num(after, "produced"), jd_num(before, "produced"));
	ck_assert_int_eq(jd_num(after, "skipped"), jd_num(before, "skipped"));
	ck_assert_int_eq(jd_num(after, "errors"), jd_num(before, "errors"));
	ck_assert_str_eq(jd_str(after, "last_run"), jd_str(before, "last_run"));
	ck_assert_int_eq((json_int_t)count_jobs(d, "default"),
			 jd_num(before, "produced"));
	json_int_t produced = jd_num(before, "produced");
	json_decref(before);
	json_decref(after);
	r = pcmd(d, "producer.resume", "ps");
	jd_ok(r);
	json_decref(r);
	ck_assert(poll_pnum(d, "ps", "produced", produced + 1, 3));
}
END_TEST

/* A [producer NAME] section creates the producer at start. */
START_TEST(producer_from_config)
{
	struct jd *d = start("[producer cfgp]\n"
			     "type = interval\n"
			     "every = 0.2\n"
			     "shell = echo hi\n"
			     "queue = default\n");
	json_t *p = pget(d, "cfgp");
	ck_assert_str_eq(jd_str(p, "type"), "interval");
	ck_assert_str_eq(jd_str(p, "queue"), "default");
	ck_assert(json_number_value(json_object_get(p, "every")) == 0.2);
	ck_assert_str_eq(jd_str(json_object_get(p, "job"), "shell"), "echo hi");
	json_decref(p);
	ck_assert(poll_pnum(d, "cfgp", "produced", 2, 3));
	json_t *jobs = list_jobs(d, "default");
	ck_assert_int_ge(json_array_size(jobs), 1);
	ck_assert_str_eq(jd_str(json_array_get(jobs, 0), "shell"), "echo hi");
	json_decref(jobs);
}
END_TEST

/* ---- shutdown ---- */

/* SIGTERM stops producers: a long-running generator does not hold the
 * daemon up and does not outlive it. */
START_TEST(producer_shutdown_kills_generator)
{
	struct jd *d = start(NULL);
	/* sleep adds its arguments up: the marker is a unique, harmless
	 * extra argument to find the generator by. */
	char marker[64];
	snprintf(marker, sizeof(marker), "0.000%ld%d",
		 (long)(time(NULL) % 100000), (int)getpid());
	pcreate_ok(d,
		   json_pack("{s:s,s:s,s:{s:[s,s,s]},s:{s:[s]}}", "name", "gen",
			     "type", "command", "generator", "argv", "sleep",
			     "1000", marker, "job", "argv", "echo"));
	ck_assert_msg(poll_process(marker, true, 5),
		      "the generator did not start");
	double t0 = jd_now();
	int rc = jd_stop(d);
	double took = jd_now() - t0;
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(took < 5, "jobd took %.1f s to stop", took);
	ck_assert_msg(poll_process(marker, false, 5),
		      "the generator outlived the daemon");
}
END_TEST

/* ---- jobctl ---- */

/* jobctl producer add / get / rm. */
START_TEST(producer_jobctl)
{
	struct jd *d = start(NULL);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "producer", "add", "jp",
			   "--type", "interval", "--every", "1", "--", "true",
			   NULL);
	ck_assert_msg(rc == 0, "producer add: %d: %s", rc, err);
	free(out);
	free(err);
	json_t *p = pget(d, "jp");
	ck_assert_str_eq(jd_str(p, "type"), "interval");
	ck_assert(json_number_value(json_object_get(p, "every")) == 1);
	ck_assert_str_eq(
		json_string_value(json_array_get(
			json_object_get(json_object_get(p, "job"), "argv"), 0)),
		"true");
	json_decref(p);
	ck_assert(poll_pnum(d, "jp", "produced", 1, 3));

	rc = jd_jobctl(d, NULL, &out, &err, "producer", "get", "jp", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "interval"));
	free(out);
	free(err);

	rc = jd_jobctl(d, NULL, &out, &err, "producer", "rm", "jp", NULL);
	ck_assert_msg(rc == 0, "producer rm: %d: %s", rc, err);
	free(out);
	free(err);
	json_t *r = pcmd(d, "producer.get", "jp");
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	rc = jd_jobctl(d, NULL, &out, &err, "producer", "rm", "jp", NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strncmp(err, "jobctl: not_found:", 18) == 0, "stderr: %s",
		      err);
	free(out);
	free(err);
}
END_TEST

/* jobctl producer add expresses the other two types: cron (schedule) and
 * command (generator, format). */
START_TEST(producer_jobctl_types)
{
	struct jd *d = start(NULL);
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "producer", "add", "jc",
			   "--type", "cron", "--schedule", "*/5 * * * *", "-c",
			   "true", NULL);
	ck_assert_msg(rc == 0, "producer add cron: %d: %s", rc, err);
	free(out);
	free(err);
	json_t *p = pget(d, "jc");
	ck_assert_str_eq(jd_str(p, "type"), "cron");
	ck_assert_str_eq(jd_str(p, "schedule"), "*/5 * * * *");
	ck_assert_str_eq(jd_str(json_object_get(p, "job"), "shell"), "true");
	json_decref(p);

	rc = jd_jobctl(d, NULL, &out, &err, "producer", "add", "jg", "--type",
		       "command", "--generator", "seq 1 3", "--format", "lines",
		       "--", "echo", NULL);
	ck_assert_msg(rc == 0, "producer add command: %d: %s", rc, err);
	free(out);
	free(err);
	ck_assert(poll_pnum(d, "jg", "produced", 3, 5));
	p = pget(d, "jg");
	ck_assert_str_eq(jd_str(p, "type"), "command");
	ck_assert_str_eq(jd_str(p, "format"), "lines");
	ck_assert_str_eq(jd_str(json_object_get(p, "generator"), "shell"),
			 "seq 1 3");
	json_decref(p);
}
END_TEST

/* jobctl producer list: a row per producer, with the counters and the
 * last and next run times as columns. */
START_TEST(producer_jobctl_list)
{
	struct jd *d = start(NULL);
	pcreate_ok(d, jd_json("{\"name\":\"jl\",\"type\":\"interval\","
			      "\"every\":0.1,\"overlap\":true,"
			      "\"job\":{\"argv\":[\"true\"]}}"));
	ck_assert(poll_pnum(d, "jl", "produced", 1, 3));
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "producer", "list", NULL);
	ck_assert_msg(rc == 0, "producer list: %d: %s", rc, err);
	free(err);
	char *nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_msg(strncmp(nl + 1, "jl ", 3) == 0, "no row for jl: %s",
		      nl + 1);
	static const char *const cols[] = {"NAME",   "PRODUCED", "SKIPPED",
					   "ERRORS", "LAST",	 "NEXT"};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		ck_assert_msg(strstr(out, cols[i]) != NULL,
			      "producer list header '%s' has no %s column", out,
			      cols[i]);
	free(out);
}
END_TEST

Suite *
producer_suite(void)
{
	Suite *s = suite_create("producer");
	TCase *tc = tcase_create("interval");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, producer_interval_count);
	tcase_add_test(tc, producer_interval_no_overlap);
	tcase_add_test(tc, producer_interval_overlap);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, producer_lines_backpressure);
	tcase_add_test(tc, producer_json_bad_lines);
	tcase_add_test(tc, producer_restart_never);
	tcase_add_test(tc, producer_restart_never_failed);
	tcase_add_test(tc, producer_restart_on_failure);
	tcase_add_test(tc, producer_restart_always);
	suite_add_tcase(s, tc);

	tc = tcase_create("cron");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, producer_cron_next_run);
	tcase_add_test(tc, producer_cron_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, producer_create_validation);
	tcase_add_test(tc, producer_get_list_fields);
	tcase_add_test(tc, producer_pause_resume);
	tcase_add_test(tc, producer_delete);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, producer_persist_restart);
	tcase_add_test(tc, producer_from_config);
	tcase_add_test(tc, producer_shutdown_kills_generator);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobctl");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, producer_jobctl);
	tcase_add_test(tc, producer_jobctl_list);
	tcase_add_test(tc, producer_jobctl_types);
	suite_add_tcase(s, tc);
	return s;
}
