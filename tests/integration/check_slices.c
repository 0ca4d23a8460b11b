/*
 * slices_suite: big legal requests never hold the loop (SPEC 5.1 limits,
 * SPEC 2.7 commit before reply).  Each test sends one big request — a
 * submit of 100,000 jobs, the same into a capped queue, a listing of
 * 10,000 (and the daemon's memory across `jobctl list --all`), cancel,
 * wait and prune of 100,000, a cancel by filter of 100,000 (no step of
 * jobd's loop over 50 ms meanwhile, by its own count), queue.delete of a queue with 100,000
 * finished jobs, a cancel whose reply passes the 64 MiB output cap
 * — while another client pings in a loop, and checks the request's result
 * and that the worst ping stayed under PING_BOUND_MS.  The bound is far
 * above what jobd needs (a few milliseconds) so that a loaded machine does
 * not fail it, and far below what a request done in one go costs; the
 * measured worst is printed.  Jobs go to a paused queue as `true`, so
 * nothing runs.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *slices_suite(void);

#define BASE_CONF                                                          \
	"; slices_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n" \
	"[queue p]\n"

/* The worst ping allowed while a big request is handled (ms).  Under
 * AddressSanitizer (JOBD_BIN names an asan build) every allocation costs
 * tens of times more, so the sizes shrink and the bound only catches a
 * request done in one go; the figure that counts is the plain build's. */
#define PING_BOUND_MS 250.0
#define PING_BOUND_ASAN_MS 2000.0
/* The most a request or reply may take here (ms). */
#define REPLY_MS 120000

static struct jd D;

static bool
under_asan(void)
{
	const char *b = getenv("JOBD_BIN");
	return b != NULL && strstr(b, "asan") != NULL;
}

/* How many jobs a test of "100,000" uses. */
static size_t
big_n(void)
{
	return under_asan() ? 20000 : 100000;
}

static struct jd *
start(const char *extra)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, extra, NULL);
	jd_queue_cmd(d, "queue.pause", "p");
	return d;
}

/* ---- a client that pings ---- */

struct pinger {
	pid_t pid;
	int stop;   /* write end: closing it stops the child */
	int result; /* read end: the child's worst and count */
};

/* The child: pings until stop becomes readable, then writes its worst
 * latency (ms) and the number of pings to result.  A ping unanswered in
 * REPLY_MS counts as that long. */
static void
pinger_child(struct jd *d, int stop, int result)
{
	int fd = jd_connect(d);
	double worst = fd < 0 ? 1e9 : 0;
	long count = 0;
	char req[64];
	while (fd >= 0) {
		struct pollfd p = {stop, POLLIN, 0};
		if (poll(&p, 1, 1) != 0)
			break;
		int n = snprintf(req, sizeof(req),
				 "{\"id\":%ld,\"cmd\":\"ping\"}\n", count);
		double t0 = jd_now();
		if (!jd_write(fd, req, (size_t)n))
			break;
		char *line = jd_read_line(fd, REPLY_MS);
		double ms = (jd_now() - t0) * 1000.0;
		bool ok = line && strstr(line, "\"ok\":true") != NULL;
		free(line);
		if (!ok)
			ms = REPLY_MS;
		if (ms > worst)
			worst = ms;
		count++;
		if (!ok)
			break;
	}
	char out[64];
	int n = snprintf(out, sizeof(out), "%.3f %ld\n", worst, count);
	ssize_t w = write(result, out, (size_t)n);
	(void)w;
	_exit(0);
}

static void
pinger_start(struct pinger *pg, struct jd *d)
{
	int sp[2], rp[2];
	ck_assert(pipe(sp) == 0 && pipe(rp) == 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		close(sp[1]);
		close(rp[0]);
		pinger_child(d, sp[0], rp[1]);
	}
	close(sp[0]);
	close(rp[1]);
	pg->pid = pid;
	pg->stop = sp[1];
	pg->result = rp[0];
	/* Let it connect and ping a few times first. */
	poll(NULL, 0, 50);
}

/* Stops the pinger; returns its worst latency (ms), printed with what. */
static double
pinger_stop(struct pinger *pg, const char *what)
{
	char buf[64] = "";
	close(pg->stop);
	struct pollfd p = {pg->result, POLLIN, 0};
	if (poll(&p, 1, REPLY_MS) == 1) {
		ssize_t r = read(pg->result, buf, sizeof(buf) - 1);
		buf[r > 0 ? r : 0] = '\0';
	}
	close(pg->result);
	waitpid(pg->pid, NULL, 0);
	double worst = 1e9;
	long count = 0;
	if (sscanf(buf, "%lf %ld", &worst, &count) != 2)
		worst = 1e9;
	fprintf(stderr, "slices: %s: worst ping %.1f ms (%ld pings)\n", what,
		worst, count);
	ck_assert_msg(count > 0, "%s: no ping answered", what);
	return worst;
}

/* ---- big requests and replies ---- */

/* Reads one line from fd (caller frees; *len its length), within
 * timeout_ms; with slow, at most 64 KiB a millisecond: a reader that
 * takes long but never stops.  NULL on EOF or timeout. */
static char *
read_big_line(int fd, int timeout_ms, bool slow, size_t *len)
{
	size_t cap = 1 << 20, n = 0, scanned = 0;
	char *b = malloc(cap);
	double deadline = jd_now() + timeout_ms / 1000.0;
	ck_assert(b != NULL);
	for (;;) {
		char *nl = memchr(b + scanned, '\n', n - scanned);
		if (nl != NULL) {
			*nl = '\0';
			*len = (size_t)(nl - b);
			return b;
		}
		scanned = n;
		int left = (int)((deadline - jd_now()) * 1000);
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0)
			break;
		if (poll(&p, 1, left) <= 0)
			continue;
		if (cap - n < 65536) {
			cap *= 2;
			b = realloc(b, cap);
			ck_assert(b != NULL);
		}
		ssize_t r = recv(fd, b + n, 65536, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (slow)
			poll(NULL, 0, 1);
	}
	free(b);
	return NULL;
}

/* Sends text on a new connection, then reads the reply line while a
 * pinger runs; returns the reply (caller frees) and checks the worst
 * ping against the bound. */
static char *
measured(struct jd *d, const char *what, const char *text, bool slow,
	 size_t *len)
{
	struct pinger pg;
	int fd = jd_connect(d);
	ck_assert(fd >= 0);
	pinger_start(&pg, d);
	double t0 = jd_now();
	ck_assert(jd_write(fd, text, strlen(text)));
	char *line = read_big_line(fd, REPLY_MS, slow, len);
	double took = jd_now() - t0;
	double worst = pinger_stop(&pg, what);
	close(fd);
	fprintf(stderr, "slices: %s: answered in %.0f ms (%zu bytes)\n", what,
		took * 1000, line ? *len : 0);
	ck_assert_msg(line != NULL, "%s: no reply", what);
	double bound = under_asan() ? PING_BOUND_ASAN_MS : PING_BOUND_MS;
	ck_assert_msg(worst < bound, "%s: a ping took %.1f ms (bound %.0f ms)",
		      what, worst, bound);
	return line;
}

/* Number of times needle occurs in hay[0..n). */
static size_t
count_of(const char *hay, size_t n, const char *needle)
{
	size_t k = 0, m = strlen(needle);
	const char *p = hay, *end = hay + n;
	while ((p = memmem(p, (size_t)(end - p), needle, m)) != NULL) {
		k++;
		p += m;
	}
	return k;
}

/* A submit request of n copies of spec (JSON text) into queue p. */
static char *
submit_text(size_t n, const char *spec)
{
	size_t m = strlen(spec);
	char *t = malloc(n * (m + 1) + 64);
	ck_assert(t != NULL);
	size_t o =
		(size_t)sprintf(t, "{\"id\":1,\"cmd\":\"submit\",\"jobs\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			t[o++] = ',';
		memcpy(t + o, spec, m);
		o += m;
	}
	strcpy(t + o, "]}\n");
	return t;
}

/* Submits n jobs of spec in requests of at most 4 MB; returns their ids
 * (caller frees).  Setup, not measured. */
static int64_t *
fill(struct jd *d, size_t n, const char *spec)
{
	int64_t *ids = calloc(n, sizeof(int64_t));
	size_t per = 3 * 1024 * 1024 / (strlen(spec) + 1), got = 0;
	int fd = jd_connect(d);
	ck_assert(ids != NULL && fd >= 0);
	while (got < n) {
		size_t k = n - got < per ? n - got : per, len;
		char *t = submit_text(k, spec);
		ck_assert(jd_write(fd, t, strlen(t)));
		free(t);
		char *line = read_big_line(fd, REPLY_MS, false, &len);
		ck_assert_msg(line != NULL, "fill: no reply");
		json_t *r = json_loads(line, 0, NULL);
		free(line);
		json_t *arr = json_object_get(jd_ok(r), "ids");
		ck_assert_uint_eq(json_array_size(arr), k);
		for (size_t i = 0; i < k; i++)
			ids[got + i] =
				json_integer_value(json_array_get(arr, i));
		json_decref(r);
		got += k;
	}
	close(fd);
	return ids;
}

/* {"id":1,"cmd":CMD,"job_ids":[ids...]} */
static char *
ids_request(const char *cmd, const int64_t *ids, size_t n)
{
	char *t = malloc(n * 21 + 128);
	ck_assert(t != NULL);
	size_t o = (size_t)sprintf(t, "{\"id\":1,\"cmd\":\"%s\",\"job_ids\":[",
				   cmd);
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(t + o, "%s%lld", i ? "," : "",
				     (long long)ids[i]);
	strcpy(t + o, "]}\n");
	return t;
}

/* The queue p's count of jobs in state. */
static json_int_t
queue_count(struct jd *d, const char *queue, const char *state)
{
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", queue);
	json_int_t n = jd_num(
		json_object_get(json_object_get(jd_ok(r), "queue"), "counts"),
		state);
	json_decref(r);
	return n;
}

#define SMALL_JOB "{\"argv\":[\"true\"],\"queue\":\"p\"}"

/* ---- tests ---- */

START_TEST(slices_submit_batch)
{
	struct jd *d = start(NULL);
	size_t n = big_n(), len;
	char *text = submit_text(n, SMALL_JOB), what[64];
	snprintf(what, sizeof(what), "submit of %zu", n);
	char *line = measured(d, what, text, false, &len);
	json_t *r = json_loads(line, 0, NULL);
	json_t *res = jd_ok(r);
	json_t *ids = json_object_get(res, "ids");
	json_t *dups = json_object_get(res, "duplicates");
	ck_assert_uint_eq(json_array_size(ids), n);
	ck_assert_uint_eq(json_array_size(dups), n);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_gt(
			json_integer_value(json_array_get(ids, i)),
			json_integer_value(json_array_get(ids, i - 1)));
	ck_assert(json_is_false(json_array_get(dups, n - 1)));
	json_decref(r);
	free(line);
	free(text);
	ck_assert_int_eq(queue_count(d, "p", "queued"), (json_int_t)n);
}
END_TEST

START_TEST(slices_submit_capped)
{
	size_t n = big_n(), len;
	char conf[64], what[64];
	snprintf(conf, sizeof(conf), "capacity = %zu\n", n);
	snprintf(what, sizeof(what), "submit of %zu into a capped queue", n);
	struct jd *d = start(conf);
	char *text = submit_text(n, SMALL_JOB);
	char *line = measured(d, what, text, false, &len);
	json_t *r = json_loads(line, 0, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "ids")), n);
	json_decref(r);
	free(line);
	free(text);
	ck_assert_int_eq(queue_count(d, "p", "queued"), (json_int_t)n);
	/* Full now: the next job does not fit, and the batch took all. */
	r = jd_req(d, "{s:s,s:{s:[s],s:s}}", "cmd", "submit", "job", "argv",
		   "true", "queue", "p");
	ck_assert_str_eq(jd_err(r), "queue_full");
	json_decref(r);
	/* A batch that does not fit is refused whole. */
	jd_call_ok(d, json_pack("{s:s,s:s,s:I}", "cmd", "queue.update", "name",
				"p", "capacity", (json_int_t)n + 10));
	text = submit_text(11, SMALL_JOB);
	line = measured(d, "submit of 11 into 10 places", text, false, &len);
	ck_assert_ptr_nonnull(strstr(line, "queue_full"));
	free(line);
	free(text);
	ck_assert_int_eq(queue_count(d, "p", "queued"), (json_int_t)n);
}
END_TEST

/* A job whose object is about 1 KB, as real commands often are. */
#define BIG_JOB_FMT "{\"argv\":[\"true\",\"%s\"],\"queue\":\"p\"}"

static char *
big_job(void)
{
	char pad[1001];
	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	char *spec;
	ck_assert(asprintf(&spec, BIG_JOB_FMT, pad) > 0);
	return spec;
}

START_TEST(slices_list)
{
	struct jd *d = start(NULL);
	char *spec = big_job();
	int64_t *ids = fill(d, 10000, spec);
	size_t len;
	char *line = measured(d, "list of 10000",
			      "{\"id\":1,\"cmd\":\"list\",\"limit\":10000}\n",
			      false, &len);
	json_t *r = json_loads(line, 0, NULL);
	json_t *jobs = json_object_get(jd_ok(r), "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 10000);
	for (size_t i = 0; i < 10000; i++)
		ck_assert_int_eq(jd_num(json_array_get(jobs, i), "id"), ids[i]);
	ck_assert_int_eq(jd_num(jd_ok(r), "next_after_id"), ids[9999]);
	json_decref(r);
	free(line);
	/* The page after the last is empty and has no next. */
	r = jd_req(d, "{s:s,s:I}", "cmd", "list", "after_id",
		   (json_int_t)ids[9999]);
	ck_assert_uint_eq(json_array_size(json_object_get(jd_ok(r), "jobs")),
			  0);
	ck_assert(json_is_null(json_object_get(jd_ok(r), "next_after_id")));
	json_decref(r);
	/* A filter that matches a few jobs far apart pages through the
	 * windows of ids the listing reads. */
	r = jd_req(d, "{s:s,s:[I,I,I]}", "cmd", "cancel", "job_ids",
		   (json_int_t)ids[10], (json_int_t)ids[5000],
		   (json_int_t)ids[9990]);
	jd_ok(r);
	json_decref(r);
	r = jd_req(d, "{s:s,s:s,s:i}", "cmd", "list", "state", "cancelled",
		   "limit", 2);
	jobs = json_object_get(jd_ok(r), "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 2);
	ck_assert_int_eq(jd_num(json_array_get(jobs, 1), "id"), ids[5000]);
	ck_assert_int_eq(jd_num(jd_ok(r), "next_after_id"), ids[5000]);
	json_decref(r);
	r = jd_req(d, "{s:s,s:s,s:I}", "cmd", "list", "state", "cancelled",
		   "after_id", (json_int_t)ids[5000]);
	jobs = json_object_get(jd_ok(r), "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 1);
	ck_assert_int_eq(jd_num(json_array_get(jobs, 0), "id"), ids[9990]);
	ck_assert(json_is_null(json_object_get(jd_ok(r), "next_after_id")));
	json_decref(r);
	free(ids);
	free(spec);
}
END_TEST

/* VmRSS of pid, in bytes. */
static long
rss_of(pid_t pid)
{
	char path[64], *s;
	long kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	s = jd_slurp(path);
	char *p = s ? strstr(s, "VmRSS:") : NULL;
	if (p)
		kb = strtol(p + 6, NULL, 10);
	free(s);
	return kb * 1024;
}

START_TEST(slices_list_all_flat)
{
	struct jd *d = start(NULL);
	char *spec = big_job();
	free(fill(d, 30000, spec));
	char *out = NULL;
	long before = rss_of(d->pid);
	ck_assert_int_eq(
		jd_jobctl(d, NULL, &out, NULL, "--json", "list", "--all", NULL),
		0);
	ck_assert_uint_eq(count_of(out, strlen(out), "\"state\":\"queued\""),
			  30000);
	free(out);
	long after = rss_of(d->pid);
	fprintf(stderr,
		"slices: list --all of 30000: jobd RSS %.1f -> %.1f "
		"MiB\n",
		before / 1048576.0, after / 1048576.0);
	/* AddressSanitizer keeps freed memory in quarantine. */
	ck_assert_msg(under_asan() || after - before < 16L * 1024 * 1024,
		      "RSS grew from %ld to %ld", before, after);
	free(spec);
}
END_TEST

START_TEST(slices_cancel_wait_prune)
{
	struct jd *d = start(NULL);
	size_t n = big_n(), len;
	int64_t *ids = fill(d, n, SMALL_JOB);
	char *text = ids_request("cancel", ids, n), what[64];
	snprintf(what, sizeof(what), "cancel of %zu", n);
	char *line = measured(d, what, text, false, &len);
	ck_assert_uint_eq(count_of(line, len, "\"state\":\"cancelled\""), n);
	static const char head[] =
		"{\"id\":1,\"ok\":true,\"result\":{\"jobs\":[";
	ck_assert(strncmp(line, head, strlen(head)) == 0);
	free(line);
	free(text);
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), (json_int_t)n);
	ck_assert_int_eq(queue_count(d, "p", "queued"), 0);

	text = ids_request("wait", ids, n);
	snprintf(what, sizeof(what), "wait on %zu", n);
	line = measured(d, what, text, false, &len);
	ck_assert_uint_eq(count_of(line, len, "\"state\":\"cancelled\""), n);
	ck_assert_ptr_nonnull(strstr(line, "\"ok\":true"));
	/* Replies come in request order: the first job is the first id. */
	char first[64];
	snprintf(first, sizeof(first), "\"jobs\":[{\"id\":%lld,",
		 (long long)ids[0]);
	ck_assert_ptr_nonnull(strstr(line, first));
	free(line);
	free(text);

	snprintf(what, sizeof(what), "prune of %zu", n);
	line = measured(d, what,
			"{\"id\":1,\"cmd\":\"prune\",\"older_than\":0}\n",
			false, &len);
	char deleted[64];
	snprintf(deleted, sizeof(deleted), "\"deleted\":%zu}", n);
	ck_assert_ptr_nonnull(strstr(line, deleted));
	free(line);
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), 0);
	json_t *r = jd_req(d, "{s:s,s:I}", "cmd", "get", "job_id",
			   (json_int_t)ids[n / 2]);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	free(ids);
}
END_TEST

/* The daemon's stats.loop member (new ref). */
static json_t *
loop_stats(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *l = json_incref(json_object_get(jd_ok(r), "loop"));
	json_decref(r);
	return l;
}

/* The most a bulk cancel may hold the loop at a time (ms): jobd counts
 * every step (a callback, or a coroutine's run between two yields) longer
 * than its slow_callback_ms in stats.loop.slow_callbacks. */
#define BULK_HOLD_MS 50
#define BULK_HOLD_ASAN_MS 250

/* cancel by filter of 100,000 queued jobs, with slow_callback_ms at the
 * bound: the count of slow steps does not grow over the cancel (what the
 * submits before it did is left out that way), and a pinger runs
 * meanwhile. */
START_TEST(slices_cancel_filter)
{
	char conf[64];
	snprintf(conf, sizeof(conf), "[daemon]\nslow_callback_ms = %d\n",
		 under_asan() ? BULK_HOLD_ASAN_MS : BULK_HOLD_MS);
	struct jd *d = start(conf);
	size_t n = big_n(), len;
	int64_t *ids = fill(d, n, SMALL_JOB);
	json_t *before = loop_stats(d);
	char what[64];
	snprintf(what, sizeof(what), "cancel by filter of %zu", n);
	char *line = measured(d, what,
			      "{\"id\":1,\"cmd\":\"cancel\",\"filter\":{"
			      "\"queue\":\"p\",\"state\":\"queued\"}}\n",
			      false, &len);
	json_t *after = loop_stats(d);
	json_t *r = json_loads(line, 0, NULL);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "matched"), (json_int_t)n);
	ck_assert_int_eq(jd_num(res, "changed"), (json_int_t)n);
	json_decref(r);
	free(line);
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), (json_int_t)n);
	ck_assert_int_eq(queue_count(d, "p", "queued"), 0);
	json_int_t slow = jd_num(after, "slow_callbacks") -
			  jd_num(before, "slow_callbacks");
	fprintf(stderr,
		"slices: %s: %lld steps over %d ms (slowest since start "
		"%.1f ms, %.1f ms before it)\n",
		what, (long long)slow,
		under_asan() ? BULK_HOLD_ASAN_MS : BULK_HOLD_MS,
		json_real_value(json_object_get(after, "slowest_ms")),
		json_real_value(json_object_get(before, "slowest_ms")));
	ck_assert_msg(slow == 0, "%s held the loop too long %lld times", what,
		      (long long)slow);
	json_decref(before);
	json_decref(after);
	free(ids);
}
END_TEST

START_TEST(slices_queue_delete)
{
	struct jd *d = start(NULL);
	/* Jobs whose dependency was cancelled are cancelled from the
	 * start: 100,000 finished jobs without cancelling them. */
	int64_t dep = jd_submit(d, jd_json("{\"argv\":[\"true\"],"
					   "\"queue\":\"p\"}"));
	json_decref(jd_req(d, "{s:s,s:I}", "cmd", "cancel", "job_id",
			   (json_int_t)dep));
	char spec[128];
	snprintf(spec, sizeof(spec),
		 "{\"argv\":[\"true\"],\"queue\":\"p\",\"depends_on\":[%lld]}",
		 (long long)dep);
	size_t n = big_n(), len;
	int64_t *ids = fill(d, n, spec);
	ck_assert_int_eq(queue_count(d, "p", "cancelled"), (json_int_t)n + 1);
	char what[64];
	snprintf(what, sizeof(what), "queue.delete with %zu finished jobs", n);
	char *line = measured(d, what,
			      "{\"id\":1,\"cmd\":\"queue.delete\",\"name\":"
			      "\"p\"}\n",
			      false, &len);
	ck_assert_ptr_nonnull(strstr(line, "\"ok\":true"));
	free(line);
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name", "p");
	ck_assert_str_eq(jd_err(r), "unknown_queue");
	json_decref(r);
	r = jd_req(d, "{s:s,s:I}", "cmd", "get", "job_id", (json_int_t)ids[0]);
	ck_assert_str_eq(jd_err(r), "not_found");
	json_decref(r);
	free(ids);
}
END_TEST

START_TEST(slices_reply_over_cap)
{
	struct jd *d = start(NULL);
	char *spec = big_job();
	/* Enough to pass 64 MiB (a job is about 1.5 KB). */
	size_t n = under_asan() ? 50000 : 100000, len;
	int64_t *ids = fill(d, n, spec);
	/* A watcher that never reads its events. */
	int w = jd_connect(d);
	ck_assert(jd_write(w, "{\"id\":1,\"cmd\":\"watch\"}\n", 23));
	char *l = jd_read_line(w, 10000);
	ck_assert_ptr_nonnull(l);
	free(l);
	char *text = ids_request("cancel", ids, n), what[64];
	snprintf(what, sizeof(what), "cancel of %zu 1 KB jobs, read slowly", n);
	char *line = measured(d, what, text, true, &len);
	ck_assert_msg(len > 64UL * 1024 * 1024, "reply of %zu bytes", len);
	ck_assert_uint_eq(count_of(line, len, "\"state\":\"cancelled\""), n);
	ck_assert(strcmp(line + len - 3, "]}}") == 0);
	free(line);
	free(text);
	/* The watcher was dropped: what it finds is cut short by EOF. */
	size_t got = 0;
	double deadline = jd_now() + REPLY_MS / 1000.0;
	char buf[65536];
	for (;;) {
		struct pollfd p = {w, POLLIN, 0};
		ck_assert_msg(jd_now() < deadline,
			      "the watcher was not dropped");
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t r = recv(w, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(w);
	ck_assert_msg(got < 64UL * 1024 * 1024, "the watcher got %zu bytes",
		      got);
	char *log = jd_slurp(d->log);
	ck_assert_ptr_nonnull(strstr(log, "peer does not read"));
	free(log);
	free(ids);
	free(spec);
}
END_TEST

Suite *
slices_suite(void)
{
	Suite *s = suite_create("slices");
	TCase *tc = tcase_create("slices");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, slices_submit_batch);
	tcase_add_test(tc, slices_submit_capped);
	tcase_add_test(tc, slices_list);
	tcase_add_test(tc, slices_list_all_flat);
	tcase_add_test(tc, slices_cancel_wait_prune);
	tcase_add_test(tc, slices_cancel_filter);
	tcase_add_test(tc, slices_queue_delete);
	tcase_add_test(tc, slices_reply_over_cap);
	suite_add_tcase(s, tc);
	return s;
}
