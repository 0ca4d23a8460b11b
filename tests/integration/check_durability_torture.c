/*
 * Durability's crash torture (SPEC 2.3, 2.7): jobd killed with SIGKILL at
 * random moments under a steady stream of submits loses no acknowledged
 * job and never runs a finished job again.  A seeded client keeps a window
 * of batches in flight, restarts the daemon after each kill, and at the
 * end checks every job it was told of against the runs the jobs recorded.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "durability.h"
#include "harness.h"

/* Every job in the given states (a JSON array of names, borrowed; NULL for
 * all), ascending id, following next_after_id (new ref). */
static json_t *
list_all(struct jd *d, json_t *states)
{
	json_t *all = json_array();
	json_int_t after = 0;
	for (;;) {
		json_t *req = json_pack("{s:s,s:i,s:I}", "cmd", "list", "limit",
					10000, "after_id", after);
		if (states)
			json_object_set(req, "state", states);
		json_t *r = jd_call(d, req);
		json_t *res = jd_ok(r);
		json_t *jobs = json_object_get(res, "jobs");
		json_t *next = json_object_get(res, "next_after_id");
		json_array_extend(all, jobs);
		bool more = json_is_integer(next) && json_array_size(jobs) > 0;
		if (more)
			after = json_integer_value(next);
		json_decref(r);
		if (!more)
			return all;
	}
}

enum tclass { T_PLAIN, T_SLEEP, T_FLAKY, T_FAIL, T_LONG };
enum tack { T_PENDING, T_SENT, T_ACKED, T_LOST };

struct tjob {
	enum tclass cls;
	int param; /* T_SLEEP: ms; T_FLAKY: failures first */
	enum tack ack;
	int64_t id; /* from the acknowledgement; 0 without */
};

#define T_BATCH 10
#define T_WINDOW 4

struct tbatch {
	json_int_t rid;
	int first, n; /* tags [first, first + n) */
};

struct torture {
	struct jd *d;
	uint64_t rng;
	struct tjob *tj; /* by tag; owned */
	int ntags, cap;
	int cursor; /* first tag not sent yet */
	struct tbatch inflight[T_WINDOW];
	int ninflight;
	json_int_t next_rid;
	int64_t *term_off; /* by job id: runs offset when first seen
				 * terminal, -1 before; owned */
	size_t noff;
	char *runs, *cdir, *msleep; /* owned */
	char long_marker[400];
	int crashes, lost_batches, lost_jobs, killed_procs, killed_long;
};

static uint64_t
t_rand(struct torture *t)
{
	/* xorshift64*: the same sequence on every run of a given seed. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static int
t_tag_new(struct torture *t, enum tclass cls, int param)
{
	if (t->ntags == t->cap) {
		t->cap = t->cap * 2 + 64;
		t->tj = realloc(t->tj, (size_t)t->cap * sizeof(*t->tj));
		ck_assert_ptr_nonnull(t->tj);
	}
	struct tjob *j = &t->tj[t->ntags];
	memset(j, 0, sizeof(*j));
	j->cls = cls;
	j->param = param;
	j->ack = T_PENDING;
	return t->ntags++;
}

/* Every 200th job (the first included) sleeps 6 s as the direct child on
 * its first run; the rest: 40% plain, 25% sleep 50-200 ms, 15% fail once
 * or twice then succeed, 20% always fail. */
static void
t_tag_random(struct torture *t)
{
	if (t->ntags % 200 == 0) {
		t_tag_new(t, T_LONG, 0);
		return;
	}
	int r = (int)(t_rand(t) % 20);
	if (r < 8)
		t_tag_new(t, T_PLAIN, 0);
	else if (r < 13)
		t_tag_new(t, T_SLEEP, 50 + (int)(t_rand(t) % 151));
	else if (r < 16)
		t_tag_new(t, T_FLAKY, 1 + (int)(t_rand(t) % 2));
	else
		t_tag_new(t, T_FAIL, 0);
}

#define JID "$JOBD_JOB_ID"

static json_t *
t_spec(const struct torture *t, int tag)
{
	const struct tjob *j = &t->tj[tag];
	const char *r = t->runs, *c = t->cdir;
	char sh[2048], name[32];
	switch (j->cls) {
	case T_PLAIN:
		snprintf(sh, sizeof(sh),
			 "echo S " JID " >>%s; echo E " JID " >>%s; exit 0", r,
			 r);
		break;
	case T_SLEEP:
		snprintf(sh, sizeof(sh),
			 "echo S " JID " >>%s; %s 0.%03d; echo E " JID " >>%s",
			 r, t->msleep, j->param, r);
		break;
	case T_FLAKY:
		snprintf(sh, sizeof(sh),
			 "echo S " JID " >>%s; echo x >>%s/" JID "; "
			 "if [ $(wc -l <%s/" JID ") -le %d ]; then "
			 "echo E " JID " >>%s; exit 1; fi; echo E " JID " >>%s",
			 r, c, c, j->param, r, r);
		break;
	case T_FAIL:
		snprintf(sh, sizeof(sh),
			 "echo S " JID " >>%s; echo E " JID " >>%s; exit 3", r,
			 r);
		break;
	case T_LONG:
		snprintf(sh, sizeof(sh),
			 "echo S " JID " >>%s; echo x >>%s/" JID "; "
			 "if [ $(wc -l <%s/" JID ") -le 1 ]; then exec %s 6; "
			 "fi; echo E " JID " >>%s",
			 r, c, c, t->msleep, r);
		break;
	}
	snprintf(name, sizeof(name), "t%d", tag);
	return json_pack("{s:s,s:s}", "shell", sh, "name", name);
}

static void
t_send_batch(struct torture *t, struct conn *c, int n)
{
	struct tbatch *b = &t->inflight[t->ninflight++];
	b->rid = t->next_rid++;
	b->first = t->cursor;
	b->n = n;
	json_t *jobs = json_array();
	for (int i = 0; i < n; i++) {
		json_array_append_new(jobs, t_spec(t, b->first + i));
		t->tj[b->first + i].ack = T_SENT;
	}
	t->cursor += n;
	json_t *req = json_pack("{s:I,s:s,s:o}", "id", b->rid, "cmd", "submit",
				"jobs", jobs);
	ck_assert_msg(conn_send(c, req), "submit: the live daemon hung up");
	json_decref(req);
}

/* One response line from the submitting connection. */
static void
t_response(struct torture *t, const char *line)
{
	json_t *resp = json_loads(line, 0, NULL);
	ck_assert_msg(resp != NULL, "response is not JSON: %s", line);
	json_int_t rid = jd_num(resp, "id");
	int k = 0;
	while (k < t->ninflight && t->inflight[k].rid != rid)
		k++;
	ck_assert_msg(k < t->ninflight, "response to no batch: %s", line);
	struct tbatch b = t->inflight[k];
	memmove(&t->inflight[k], &t->inflight[k + 1],
		(size_t)(t->ninflight - k - 1) * sizeof(*t->inflight));
	t->ninflight--;
	ck_assert_msg(json_is_true(json_object_get(resp, "ok")),
		      "a batch was refused: %s", line);
	json_t *ids = json_object_get(jd_ok(resp), "ids");
	ck_assert_int_eq(json_array_size(ids), b.n);
	for (int i = 0; i < b.n; i++) {
		struct tjob *j = &t->tj[b.first + i];
		j->id = json_integer_value(json_array_get(ids, (size_t)i));
		ck_assert_int_gt(j->id, 0);
		j->ack = T_ACKED;
	}
	json_decref(resp);
}

static void
t_off_grow(struct torture *t, int64_t id)
{
	if ((size_t)id < t->noff)
		return;
	size_t n = (size_t)id * 2 + 64;
	t->term_off = realloc(t->term_off, n * sizeof(*t->term_off));
	ck_assert_ptr_nonnull(t->term_off);
	for (size_t i = t->noff; i < n; i++)
		t->term_off[i] = -1;
	t->noff = n;
}

/* Lists the terminal jobs, then notes where `runs` ends: a start of one of
 * them written past that offset ran a job whose end was committed. */
static void
t_snapshot(struct torture *t)
{
	json_t *states =
		json_pack("[s,s,s]", "succeeded", "failed", "cancelled");
	json_t *jobs = list_all(t->d, states);
	json_decref(states);
	off_t off = jd_file_size(t->runs);
	size_t i;
	json_t *j;
	json_array_foreach (jobs, i, j) {
		int64_t id = jd_num(j, "id");
		t_off_grow(t, id);
		if (t->term_off[id] < 0)
			t->term_off[id] = off;
	}
	json_decref(jobs);
}

/* Submits for uptime seconds, its quota spread evenly over them; with
 * uptime < 0, until every tag is acknowledged. */
static void
t_life(struct torture *t, struct conn *c, double uptime, int quota)
{
	double now = jd_now();
	double end = now + (uptime >= 0 ? uptime : 120.0);
	int nbatch = (quota + T_BATCH - 1) / T_BATCH;
	double every = uptime >= 0 ? uptime / (nbatch + 1) : 0;
	double next_send = now;
	int sent = 0;
	for (;;) {
		now = jd_now();
		if (uptime < 0 && t->cursor >= t->ntags && t->ninflight == 0)
			return;
		if (now >= end) {
			ck_assert_msg(uptime >= 0,
				      "submits not acknowledged in 120 s");
			break;
		}
		while (t->ninflight < T_WINDOW && sent < quota &&
		       t->cursor < t->ntags && now >= next_send) {
			int n = t->ntags - t->cursor;
			if (n > T_BATCH)
				n = T_BATCH;
			if (n > quota - sent)
				n = quota - sent;
			t_send_batch(t, c, n);
			sent += n;
			next_send += every;
		}
		double until = next_send > now && next_send < end ? next_send
								  : end;
		int left = (int)((until - now) * 1000) + 1;
		char *line = conn_line(c, left < 100 ? left : 100);
		if (line) {
			t_response(t, line);
			free(line);
		}
		ck_assert_msg(!c->eof, "the live daemon closed the connection");
	}
}

/* Sends one more batch and returns 0-1 ms later, so that the kill that
 * follows lands on a submit in flight: before it is read, before its
 * commit, or between its commit and its answer. */
static void
t_last_batch(struct torture *t, struct conn *c)
{
	if (t->cursor < t->ntags && t->ninflight < T_WINDOW) {
		int n = t->ntags - t->cursor;
		t_send_batch(t, c, n < T_BATCH ? n : T_BATCH);
	}
	/* A quarter of the kills come at once, the rest within 1 ms: jobd
	 * answers a submit in well under a millisecond. */
	int us = (int)(t_rand(t) % 1334) - 334;
	double kill_at = jd_now() + (us > 0 ? us : 0) / 1e6;
	while (jd_now() < kill_at) {
		char *line = conn_line(c, 0);
		if (line) {
			t_response(t, line);
			free(line);
		}
	}
}

/* SIGKILL, then: what the daemon answered before it died counts, the rest
 * of the batches in flight are lost (resubmitted under new tags), and no
 * process of the dead daemon's jobs outlives it. */
static void
t_crash(struct torture *t, struct conn *c)
{
	char what[4200];
	struct jd *d = t->d;
	t->killed_procs += jd_procs_with(d->dir, d->pid, NULL, 0);
	t->killed_long += jd_procs_with(t->long_marker, d->pid, NULL, 0);
	jd_kill9(d);
	t->crashes++;
	double deadline = jd_now() + 5;
	while (!c->eof && jd_now() < deadline) {
		char *line = conn_line(c, 100);
		if (line) {
			t_response(t, line);
			free(line);
		}
	}
	for (char *line; (line = conn_line(c, 0)) != NULL; free(line))
		t_response(t, line);
	ck_assert_msg(c->eof, "no EOF from a killed daemon");
	conn_close(c);
	for (int k = 0; k < t->ninflight; k++) {
		struct tbatch *b = &t->inflight[k];
		for (int i = 0; i < b->n; i++) {
			t->tj[b->first + i].ack = T_LOST;
			t_tag_new(t, t->tj[b->first + i].cls,
				  t->tj[b->first + i].param);
		}
		t->lost_batches++;
		t->lost_jobs += b->n;
	}
	t->ninflight = 0;
	ck_assert_msg(wait_no_procs(d->dir, 0, 2.0, what, sizeof(what)),
		      "crash %d: a job process outlived the killed jobd by "
		      "2 s: %s",
		      t->crashes, what);
}

/* Everything is terminal now: check each job against its command and
 * against the record of starts in `runs`. */
struct tresult {
	int reruns; /* starts beyond the counted attempts */
	int recoveries, limited, committed_lost;
	int violations; /* starts past a committed end */
	int uncounted;	/* starts beyond attempt + recoveries */
	char first_violation[128], first_uncounted[160];
};

/* What the runs file says of each job id (1..maxid), for t_verify. */
struct truns {
	int64_t maxid;
	int *starts; /* owned: starts per job id */
	int *ends;   /* owned: ends per job id */
	bool *seen;  /* owned: stored jobs */
};

/* Reads the runs file: every start and end, and the starts that came
 * after the job's committed end (violations). */
static void
t_read_runs(struct torture *t, struct truns *r, struct tresult *res)
{
	char *runs = jd_slurp(t->runs);

	ck_assert_ptr_nonnull(runs);
	for (char *p = runs; *p;) {
		char *nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "runs: unterminated line at %ld",
			      (long)(p - runs));
		char kind;
		long long id;
		ck_assert_msg(sscanf(p, "%c %lld", &kind, &id) == 2 &&
				      (kind == 'S' || kind == 'E') && id > 0,
			      "runs: bad line at %ld: %.*s", (long)(p - runs),
			      (int)(nl - p), p);
		ck_assert_msg(id <= r->maxid, "job %lld ran but is not stored",
			      id);
		if (kind == 'S') {
			r->starts[id]++;
			if (t->term_off[id] >= 0 &&
			    p - runs >= t->term_off[id]) {
				if (res->violations++ == 0)
					snprintf(res->first_violation,
						 sizeof(res->first_violation),
						 "job %lld started at offset "
						 "%ld, terminal since %lld",
						 id, (long)(p - runs),
						 (long long)t->term_off[id]);
			}
		} else {
			r->ends[id]++;
		}
		p = nl + 1;
	}
	free(runs);
}

/* Checks one stored job j against what was sent and what ran. */
static void
t_verify_job(struct torture *t, const json_t *j, struct truns *r,
	     struct tresult *res)
{
	int64_t id = jd_num(j, "id");
	const char *name = jd_str(j, "name");
	int tag = -1;
	ck_assert_msg(
		sscanf(name, "t%d", &tag) == 1 && tag >= 0 && tag < t->ntags,
		"job %lld has a name no submit gave: %s", (long long)id, name);
	struct tjob *tj = &t->tj[tag];
	ck_assert_msg(tj->ack == T_ACKED || tj->ack == T_LOST,
		      "job %lld (%s) was never sent", (long long)id, name);
	if (tj->ack == T_ACKED)
		ck_assert_msg(tj->id == id,
			      "%s: acknowledged as %lld, stored as %lld", name,
			      (long long)tj->id, (long long)id);
	else
		res->committed_lost++;
	r->seen[id] = true;

	const char *state = jd_str(j, "state");
	const char *reason = jd_str(j, "reason");
	json_int_t attempt = jd_num(j, "attempt");
	json_int_t rec = jd_num(j, "recoveries");
	bool limit = strcmp(state, "failed") == 0 &&
		     strcmp(reason, "recovery_limit") == 0 && rec > 3;
	bool ok;
	if (tj->cls == T_FAIL)
		ok = limit || (strcmp(state, "failed") == 0 &&
			       strcmp(reason, "exit") == 0 && attempt == 3 &&
			       jd_num(j, "exit_code") == 3);
	else
		ok = limit || (strcmp(state, "succeeded") == 0 &&
			       json_is_null(json_object_get(j, "reason")));
	char *s = json_dumps(j, JSON_COMPACT);
	ck_assert_msg(ok,
		      "class %d job in a state its command does not "
		      "explain: %s",
		      (int)tj->cls, s);
	if (strcmp(state, "succeeded") == 0) {
		ck_assert_msg(r->starts[id] >= 1,
			      "succeeded without running: %s", s);
		ck_assert_msg(tj->cls == T_LONG || r->ends[id] >= 1,
			      "succeeded without its end: %s", s);
	}
	free(s);
	if (r->starts[id] > attempt + rec && res->uncounted++ == 0)
		snprintf(res->first_uncounted, sizeof(res->first_uncounted),
			 "job %lld: %d starts, attempt %lld, recoveries %lld",
			 (long long)id, r->starts[id], (long long)attempt,
			 (long long)rec);
	if (r->starts[id] > attempt)
		res->reruns += r->starts[id] - (int)attempt;
	res->recoveries += (int)rec;
	if (limit)
		res->limited++;
}

/* Checks every stored job and every start recorded in `runs`, counting
 * into res what is allowed but worth reporting. */
static void
t_verify(struct torture *t, struct tresult *res)
{
	json_t *all = list_all(t->d, NULL);
	struct truns r = {0};
	size_t i;
	json_t *j;
	json_array_foreach (all, i, j) {
		if (jd_num(j, "id") > r.maxid)
			r.maxid = jd_num(j, "id");
	}
	t_off_grow(t, r.maxid);
	r.starts = calloc((size_t)r.maxid + 1, sizeof(int));
	r.ends = calloc((size_t)r.maxid + 1, sizeof(int));
	r.seen = calloc((size_t)r.maxid + 1, sizeof(bool));
	ck_assert(r.starts && r.ends && r.seen);
	t_read_runs(t, &r, res);
	json_array_foreach (all, i, j)
		t_verify_job(t, j, &r, res);
	for (int tag = 0; tag < t->ntags; tag++)
		if (t->tj[tag].ack == T_ACKED)
			ck_assert_msg(t->tj[tag].id <= r.maxid &&
					      r.seen[t->tj[tag].id],
				      "acknowledged job %lld (t%d) is gone",
				      (long long)t->tj[tag].id, tag);
	for (int64_t id = 1; id <= r.maxid; id++)
		ck_assert_msg(r.starts[id] == 0 || r.seen[id],
			      "job %lld ran but is not stored", (long long)id);
	free(r.starts);
	free(r.ends);
	free(r.seen);
	json_decref(all);
}

/* The acceptance test of the crash-safety issue: 3,000 jobs, 15 crashes.
 * Under AddressSanitizer (JOBD_BIN names an asan build) every request,
 * restart and spawn of jobd costs several times more, so the test runs
 * 1,200 jobs and 10 crashes there to stay inside the same time budget;
 * the invariants are the same.  JOBD_TORTURE_SEED replays another seed. */
START_TEST(durability_crash_torture)
{
	bool asan = jd_under_asan();
	int njobs = asan ? 1200 : 3000;
	int ncrash = asan ? 10 : 15;
	double t0 = jd_now();
	struct torture t;
	memset(&t, 0, sizeof(t));
	t.d = &jd;
	t.rng = 0x6a6f62642d637261ULL;
	const char *seed = getenv("JOBD_TORTURE_SEED");
	if (seed && *seed)
		t.rng = strtoull(seed, NULL, 0) | 1;
	uint64_t seed0 = t.rng;
	jd_init(&jd, "[queue default]\nconcurrency = 8\nmax_attempts = 3\n"
		     "backoff = 0.05 2 0.2 0\n");
	t.runs = jd_path(&jd, "runs");
	t.cdir = jd_path(&jd, "c");
	t.msleep = make_msleep(&jd);
	ck_assert_int_eq(mkdir(t.cdir, 0755), 0);
	snprintf(t.long_marker, sizeof(t.long_marker), "%s 6", t.msleep);
	for (int i = 0; i < njobs; i++)
		t_tag_random(&t);
	t.next_rid = 1;

	start(&jd);
	t_snapshot(&t);
	for (int life = 0; life <= ncrash; life++) {
		struct conn c;
		conn_open(&c, &jd);
		if (life == ncrash) {
			t_life(&t, &c, -1, t.ntags);
			conn_close(&c);
			break;
		}
		int lives_left = ncrash + 1 - life;
		int quota = (t.ntags - t.cursor + lives_left - 1) / lives_left;
		double uptime = 0.05 + (double)(t_rand(&t) % 451) / 1000.0;
		t_life(&t, &c, uptime, quota);
		/* The first crash waits (bounded) for a 6 s job to run, so
		 * the check below has a process that would outlive it. */
		double deadline = jd_now() + 5;
		while (t.killed_long == 0 &&
		       jd_procs_with(t.long_marker, jd.pid, NULL, 0) == 0 &&
		       jd_now() < deadline)
			poll(NULL, 0, 10);
		t_snapshot(&t);
		t_last_batch(&t, &c);
		t_crash(&t, &c);
		start(&jd);
		t_snapshot(&t);
	}
	ck_assert_msg(t.killed_long > 0, "no 6 s job was running at any crash");

	/* Everything acknowledged; wait until nothing is pending. */
	json_t *pending = json_pack("[s,s,s,s]", "waiting", "scheduled",
				    "queued", "running");
	double deadline = jd_now() + (asan ? 180 : 90);
	for (;;) {
		json_t *req = json_pack("{s:s,s:O,s:i}", "cmd", "list", "state",
					pending, "limit", 1);
		json_t *r = jd_call(&jd, req);
		size_t left =
			json_array_size(json_object_get(jd_ok(r), "jobs"));
		json_decref(r);
		if (left == 0)
			break;
		ck_assert_msg(jd_now() < deadline,
			      "jobs still pending after the bounded wait");
		poll(NULL, 0, 50);
	}
	json_decref(pending);
	t_snapshot(&t);

	int acked = 0;
	for (int tag = 0; tag < t.ntags; tag++)
		acked += t.tj[tag].ack == T_ACKED;
	ck_assert_int_eq(acked, njobs);
	struct tresult res;
	memset(&res, 0, sizeof(res));
	t_verify(&t, &res);
	fprintf(stderr,
		"durability: crash torture (seed %#llx%s): %d crashes, %d jobs "
		"acknowledged, %d batches (%d jobs) unacknowledged and "
		"resubmitted, %d of those committed anyway; %d reruns "
		"(starts beyond the counted attempts), %d recoveries, %d "
		"recovery_limit; %d job processes killed with "
		"their daemon (%d of them 6 s sleeps); %d starts past a "
		"committed end, %d starts not counted by attempt+recoveries; "
		"%.1f s\n",
		(unsigned long long)seed0, asan ? ", asan scale" : "",
		t.crashes, acked, t.lost_batches, t.lost_jobs,
		res.committed_lost, res.reruns, res.recoveries, res.limited,
		t.killed_procs, t.killed_long, res.violations, res.uncounted,
		jd_now() - t0);
	ck_assert_int_ge(t.crashes, asan ? 5 : 10);
	ck_assert_msg(res.violations == 0,
		      "%d starts of jobs already terminal in the database; "
		      "first: %s",
		      res.violations, res.first_violation);
	/* Each start is an attempt that counts or one given back by a
	 * crash (recoveries); a start beyond both was spawned before its
	 * claim was committed, so a crash lost it: it counts against
	 * neither max_attempts nor the recovery limit (SPEC 2.7). */
	ck_assert_msg(res.uncounted == 0,
		      "%d jobs started more often than attempt + recoveries "
		      "(spawned before the claim was committed); first: %s",
		      res.uncounted, res.first_uncounted);
	ck_assert_int_eq(jd_stop(&jd), 0);
	free(t.tj);
	free(t.term_off);
	free(t.runs);
	free(t.cdir);
	free(t.msleep);
}
END_TEST

void
durability_add_torture(Suite *s)
{
	TCase *tc = durability_tcase("torture", 300);

	tcase_add_test(tc, durability_crash_torture);
	suite_add_tcase(s, tc);
}
