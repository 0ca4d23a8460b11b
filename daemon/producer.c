/*
 * producer: one coroutine per producer.  Owns the list of producers, each
 * producer's definition, counters and (for command producers) the
 * generator process while it runs.
 */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "await.h"
#include "buf.h"
#include "cgroup.h"
#include "coro.h"
#include "cron.h"
#include "diag.h"
#include "errpipe.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "jsonin.h"
#include "log.h"
#include "producer_spec.h"
#include "loop.h"
#include "queue.h"
#include "runner.h"
#include "store.h"
#include "submit.h"
#include "utf8.h"
#include "xmem.h"

static const char *const state_names[] = {"running", "paused", "finished",
					  "failed"};

/* Longest line a generator may write (longer ones are errors). */
#define LINE_MAX_BYTES (1024 * 1024)
/* Least time between two starts of a restarting generator. */
#define RESTART_DELAY 1.0

struct producer {
	struct producer_spec def; /* owned: the definition */
	uid_t uid;
	bool paused;
	int state;
	int64_t produced, skipped, errors;
	/* The counts as last committed: the rest is added to the row. */
	int64_t stored_produced, stored_skipped, stored_errors;
	int64_t last_run, next_run; /* ms, 0: none */
	int64_t anchor;		    /* ms: an interval's first tick, the
				     * store's (the same on every node) or
				     * when its loop began; 0: not yet */
	int64_t last_job;	    /* for overlap = false */
	pid_t gen_pid;		    /* the generator's, until reaped; 0 */
	bool owned;		    /* this node runs the generator */
	bool fenced;		    /* the node lost its lease */
	json_t *last_exit_code;	    /* owned: the generator's last exit
					 * code, or null (never ran, killed
					 * by a signal, could not start) */
	char *last_error;	    /* owned: why its last run failed
					 * (its last stderr line, its exit
					 * or signal, a spawn error); NULL
					 * after a run that succeeded */
	struct coro *c;		    /* the producer's coroutine */
	struct waitq wq;	    /* wakes it: pause, resume, delete */
	bool stopping;
	bool deleted; /* freed by its coroutine's end */
	struct producer *next;
};

static struct producer *producers;
static int nlive;		       /* producer coroutines alive */
static struct waitq gone = WAITQ_INIT; /* notified when nlive reaches 0 */
static struct coro *fence_c;	       /* fence_kill_f, while it waits */
/* How long the shutdown waits for producers to end their generators. */
#define SHUTDOWN_WAIT 5.0

/* ---- definitions ---- */

static void
producer_free(struct producer *p)
{
	if (p == NULL)
		return;
	producer_spec_destroy(&p->def);
	json_decref(p->last_exit_code);
	free(p->last_error);
	free(p);
}

/* Tells producer_spec_parse whether a queue exists. */
static int
queue_exists(const char *queue)
{
	return queue_find(queue) != NULL ? 0 : -1;
}

/* Parses obj into a new producer (not started, not stored); with
 * check_queue, its queue must exist. */
static struct producer *
producer_parse(json_t *obj, uid_t uid, bool check_queue)
{
	struct producer *p = xcalloc(1, sizeof(*p));
	if (producer_spec_parse(obj, check_queue ? queue_exists : NULL,
				&p->def) != 0) {
		free(p);
		return NULL;
	}
	p->uid = uid;
	p->paused = p->def.paused;
	return p;
}

/* -1 with diag when p's job template asks for a limit jobd cannot apply
 * here (limits.cpu or limits.tasks without their controller), as a submit
 * of its jobs would be refused: refused when it is defined, not at each
 * tick.  Not checked for producers loaded from the store, which stay. */
static int
template_limits_ok(const struct producer *p)
{
	struct joblimits l;
	if (joblimits_parse(json_object_get(p->def.job, "limits"), &l) != 0 ||
	    joblimits_check(&l, cgroup_controllers(), "limits.") != 0) {
		diag_prefix("job");
		return -1;
	}
	return 0;
}

static void unlink_producer(struct producer *p);

/* ---- running ---- */

/* producer.updated for p, when someone watches. */
static void
announce(const struct producer *p)
{
	if (events_watched())
		events_producer(p->def.name, producer_json(p));
}

/* Writes what p counted since its last committed write (other nodes add
 * theirs to the same row) and state (< 0: kept), and last_job when > 0,
 * in the open transaction: *after gets the row then. */
static int
record(struct producer *p, int state, int64_t last_job,
       struct store_producer *after)
{
	struct store_producer_add a = {
		.state = state,
		.produced = p->produced - p->stored_produced,
		.skipped = p->skipped - p->stored_skipped,
		.errors = p->errors - p->stored_errors,
		.last_run = p->last_run,
		.last_job = last_job,
	};
	return store_producer_add(p->def.name, &a, after);
}

/* Once the write of record() committed: the counts are the row's, every
 * node's summed. */
static void
settle(struct producer *p, const struct store_producer *after)
{
	p->produced = p->stored_produced = after->produced;
	p->skipped = p->stored_skipped = after->skipped;
	p->errors = p->stored_errors = after->errors;
	if (after->last_run > p->last_run)
		p->last_run = after->last_run;
}

/* Records p's counts and state (< 0: kept); p then holds the row's counts
 * (every node's) and anchor.  What does not commit is added by the next
 * write.  Yields. */
static void
store_counts(struct producer *p, int state)
{
	struct store_producer after;
	if (record(p, state, 0, &after) == 0 && store_sync_crash_safe() == 0) {
		settle(p, &after);
		p->anchor = after.anchor > 0 ? after.anchor : p->anchor;
	} else if (diag_code() != E_CANCELLED) {
		log_error("producer %s: %s", p->def.name, diag_msg());
	}
}

static void
save(struct producer *p)
{
	store_counts(p, p->state);
	announce(p);
}

/* Waits on the producer's own queue.  -1 when it must stop. */
static int
producer_wait(struct producer *p, double timeout)
{
	if (waitq_wait(&p->wq, timeout) != 0 && diag_code() == E_CANCELLED)
		return -1;
	return p->stopping ? -1 : 0;
}

/* Waits while paused.  -1 when it must stop. */
static int
wait_unpaused(struct producer *p)
{
	if (!p->paused)
		return 0;
	p->state = PRODUCER_PAUSED;
	save(p);
	while (p->paused)
		if (producer_wait(p, -1) != 0)
			return -1;
	p->state = PRODUCER_RUNNING;
	save(p);
	return 0;
}

/* Submits one job from over (may be NULL), waiting for room first.
 * Returns 0 when it was submitted or refused for good (counted as an
 * error), 1 when the store could not take it now (a locked database, a
 * full disk: the caller tries again later), -1 when the producer must
 * stop.  The job is in the open transaction: the caller syncs. */
static int
produce(struct producer *p, json_t *over, const char *what)
{
	struct jobspec s;
	struct submit_result r;
	int rc = 0, sub = -1;
	if (producer_spec_job(&p->def, over, &s) != 0) {
		p->errors++;
		log_warnx("producer %s: %s: %s", p->def.name, what, diag_msg());
		goto out;
	}
	for (;;) {
		struct queue *q = queue_find(p->def.queue);
		if (q == NULL) {
			p->errors++;
			log_warnx("producer %s: queue %s is gone", p->def.name,
				  p->def.queue);
			goto out;
		}
		/* Room as this node counts it, then as the submit does: with
		 * a store shared by nodes, theirs fill it too (E_FULL). */
		if (queue_has_room(q, 1) &&
		    ((sub = submit_jobs(&s, 1, p->uid, NULL, &r, false)) == 0 ||
		     diag_code() != E_FULL))
			break;
		/* Backpressure: wait for room, also woken by a pause or
		 * a delete through the producer's own queue. */
		if ((waitq_wait(&q->room, 1.0) != 0 &&
		     diag_code() == E_CANCELLED) ||
		    p->stopping || p->fenced) {
			rc = -1;
			goto out;
		}
	}
	if (sub == 0) {
		p->produced++;
		p->last_job = r.id;
	} else if (diag_code() == E_DB) {
		rc = 1;
	} else {
		p->errors++;
		log_warnx("producer %s: %s: %s", p->def.name, what, diag_msg());
	}
out:
	jobspec_destroy(&s);
	return rc;
}

/* Pauses between tries to record produced jobs, in seconds. */
#define RECORD_RETRY_MIN 0.01
#define RECORD_RETRY_MAX 1.0

/* After a failed try to record produced jobs: logs (the first time of a
 * run of failures) and waits *pause, growing it.  -1 when the producer
 * must stop (a cancel, as the failure or during the wait). */
static int
record_retry_wait(struct producer *p, double *pause)
{
	if (diag_code() == E_CANCELLED)
		return -1;
	if (*pause == RECORD_RETRY_MIN)
		log_warnx("producer %s: jobs not recorded, will retry: %s",
			  p->def.name, diag_msg());
	if (producer_wait(p, *pause) != 0)
		return -1;
	*pause = *pause * 2 < RECORD_RETRY_MAX ? *pause * 2 : RECORD_RETRY_MAX;
	return 0;
}

static bool
last_job_live(const struct producer *p)
{
	struct store_job_brief b;
	return p->last_job > 0 && store_job_brief(p->last_job, &b) == 0 &&
	       !jobd_state_is_terminal(b.state);
}

static int64_t
next_tick(const struct producer *p, int64_t now)
{
	if (p->def.type == PRODUCER_SPEC_INTERVAL) {
		/* anchor + n * every, the first after now: ticks missed
		 * (paused, busy) are not made up, and every node computes
		 * the same ones. */
		int64_t step = (int64_t)llround(p->def.every * 1000.0);
		int64_t a = p->anchor > 0 ? p->anchor : now;
		return a + (now < a ? 1 : (now - a) / step + 1) * step;
	}
	int64_t t = cron_next(&p->def.cron, now / 1000);
	return t < 0 ? -1 : t * 1000;
}

/* Takes the tick at p->next_run, unless another node did: *won tells.
 * -1 when the producer must stop. */
static int
take_tick(struct producer *p, bool *won)
{
	double pause = RECORD_RETRY_MIN;
	for (;;) {
		int64_t last_job = 0;
		if (store_producer_tick(p->def.name, p->next_run, won,
					&last_job) == 0 &&
		    store_sync_crash_safe() == 0) {
			if (*won && last_job > 0)
				p->last_job = last_job;
			return 0;
		}
		if (record_retry_wait(p, &pause) != 0)
			return -1;
	}
}

/* Fires the tick this node took: its job (or skip) is committed, then its
 * counts, each tried again until it is.  -1 when the producer must
 * stop. */
static int
fire(struct producer *p, int64_t now)
{
	p->last_run = now;
	bool skip = !p->def.overlap && last_job_live(p);
	int64_t produced = p->produced, errors = p->errors,
		last_job = p->last_job;
	double pause = RECORD_RETRY_MIN;
	if (skip)
		p->skipped++;
	while (!skip) {
		int rc = produce(p, NULL, "tick");
		if (rc < 0)
			return -1;
		if (rc == 0 && store_sync_crash_safe() == 0)
			break;
		p->produced = produced;
		p->errors = errors;
		p->last_job = last_job;
		if (record_retry_wait(p, &pause) != 0)
			return -1;
	}
	/* Then the counts, and the job for the next tick's overlap check,
	 * on whichever node takes that tick. */
	pause = RECORD_RETRY_MIN;
	for (;;) {
		struct store_producer after;
		if (record(p, p->state,
			   p->last_job != last_job ? p->last_job : 0,
			   &after) == 0 &&
		    store_sync_crash_safe() == 0) {
			settle(p, &after);
			return 0;
		}
		if (record_retry_wait(p, &pause) != 0)
			return -1;
	}
}

static void
schedule_loop(struct producer *p)
{
	/* Another node may have added to the counts; a definition replaced
	 * on reload (whose counts p copied) records its own. */
	p->produced = p->stored_produced;
	p->skipped = p->stored_skipped;
	p->errors = p->stored_errors;
	store_counts(p, -1);
	if (p->anchor == 0)
		p->anchor = jobd_time_now_ms();
	for (;;) {
		if (wait_unpaused(p) != 0)
			return;
		int64_t now = jobd_time_now_ms();
		if (p->next_run == 0 || p->next_run < now - 1000)
			p->next_run = next_tick(p, now);
		if (p->next_run < 0) {
			p->state = PRODUCER_FINISHED;
			save(p);
			return;
		}
		while ((now = jobd_time_now_ms()) < p->next_run && !p->paused) {
			double wait = (double)(p->next_run - now) / 1000.0;
			if (producer_wait(p, wait) != 0)
				return;
		}
		if (p->paused)
			continue;
		/* The first node to take a tick fires it, and records its
		 * job before the next tick is planned. */
		bool won;
		if (take_tick(p, &won) != 0 || (won && fire(p, now) != 0))
			return;
		p->next_run = next_tick(p, jobd_time_now_ms());
		announce(p);
	}
}

/* Handles one generator line. */
static int
generator_line(struct producer *p, char *line, size_t len, int64_t lineno)
{
	char what[48];
	snprintf(what, sizeof(what), "line %lld", (long long)lineno);
	/* The line is left as it is: it may be handled again. */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	json_t *over;
	if (p->def.format == PRODUCER_SPEC_JSON) {
		json_error_t err;
		over = jsonin_loadb(line, len, 0, &err);
		if (!json_is_object(over)) {
			p->errors++;
			log_warnx("producer %s: %s: not a JSON object",
				  p->def.name, what);
			json_decref(over);
			return 0;
		}
	} else {
		if (memchr(line, '\0', len) != NULL) {
			p->errors++;
			log_warnx("producer %s: %s: NUL byte", p->def.name,
				  what);
			return 0;
		}
		json_t *argv =
			json_deep_copy(json_object_get(p->def.job, "argv"));
		json_t *arg = json_stringn(line, len);
		if (arg == NULL) {
			p->errors++;
			log_warnx("producer %s: %s: not UTF-8", p->def.name,
				  what);
			json_decref(argv);
			return 0;
		}
		json_array_append_new(argv, arg);
		over = json_pack("{s:o}", "argv", argv);
	}
	int rc = produce(p, over, what);
	json_decref(over);
	return rc;
}

/* Ends a generator: SIGTERM to its group, SIGKILL after a second, reap.
 * Returns its wait status. */
static int
generator_end(struct runner_spawn *sp, bool kill_it)
{
	int status = 0;
	if (kill_it) {
		kill(-sp->pid, SIGTERM);
		if (await_io(sp->pidfd, EV_READ, 1.0, false, NULL) != 0)
			kill(-sp->pid, SIGKILL);
	} else {
		await_io(sp->pidfd, EV_READ, -1, false, NULL);
	}
	while (waitpid(sp->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(sp->pidfd);
	return status;
}

/* Records how a run of the generator ended: status is its wait status,
 * or -1 when it could not start (error says why). */
static void
note_exit(struct producer *p, int status, const char *error,
	  const char *last_line)
{
	json_decref(p->last_exit_code);
	free(p->last_error);
	p->last_error = NULL;
	p->last_exit_code = status >= 0 && WIFEXITED(status)
				    ? json_integer(WEXITSTATUS(status))
				    : json_null();
	if (status < 0)
		p->last_error = xstrdup(error);
	else if (WIFSIGNALED(status))
		p->last_error = xasprintf(
			"killed by signal %d%s%s", WTERMSIG(status),
			last_line ? ": " : "", last_line ? last_line : "");
	else if (WEXITSTATUS(status) != 0)
		p->last_error = last_line ? xstrdup(last_line)
					  : xasprintf("exit status %d",
						      WEXITSTATUS(status));
}

/* Starts the generator with its stdout and stderr on pipes: *out and *err
 * (owned by the caller) get their read ends, non-blocking.  0, or -1 when
 * it could not start (noted as its last run). */
static int
generator_start(struct producer *p, struct runner_spawn *sp, int *out, int *err)
{
	int pfd[2], efd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		log_warn("producer %s: pipe", p->def.name);
		note_exit(p, -1, "pipe failed", NULL);
		return -1;
	}
	if (pipe2(efd, O_CLOEXEC) != 0) {
		log_warn("producer %s: pipe", p->def.name);
		note_exit(p, -1, "pipe failed", NULL);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	fcntl(efd[0], F_SETFL, O_NONBLOCK);
	char pv[96];
	snprintf(pv, sizeof(pv), "JOBD_PRODUCER=%s", p->def.name);
	char *const extra[] = {pv, NULL};
	/* The generator runs as the producer's jobs do: in the template's
	 * cwd, with its env (or the minimal one). */
	const char *cwd = json_string_value(json_object_get(p->def.job, "cwd"));
	json_t *env = json_object_get(p->def.job, "env");
	*sp = (struct runner_spawn){
		.argv = json_object_get(p->def.generator, "argv"),
		.shell = json_string_value(
			json_object_get(p->def.generator, "shell")),
		.cwd = cwd ? cwd : "/",
		.env = json_is_object(env) ? env : NULL,
		.uid = p->uid,
		.extra_env = extra,
		.out_fd = pfd[1],
		.err_fd = efd[1],
		.pid = -1,
		.pidfd = -1,
	};
	int rc = runner_spawn(sp);
	sp->extra_env = NULL; /* extra dies here */
	close(pfd[1]);
	close(efd[1]);
	if (rc != 0) {
		log_warnx("producer %s: generator: %s", p->def.name, sp->error);
		note_exit(p, -1, sp->error, NULL);
		close(pfd[0]);
		close(efd[0]);
		return -1;
	}
	*out = pfd[0];
	*err = efd[0];
	return 0;
}

/* Where the reading of a generator's stdout stands. */
struct gen_in {
	int fd;		/* borrowed: the read end */
	struct buf buf; /* read, not yet handled */
	int64_t lineno; /* lines handled */
	bool eof;	/* the generator closed its stdout */
	bool stop;	/* the producer must stop */
	bool again;	/* the lines in buf go again */
	double pause;	/* s, before they go again */
};

/* Reads what the generator wrote into g->buf; at the end sets g->eof (a
 * last line without a newline is ended); sets g->stop when the producer
 * must stop.  Returns false when the read is to be tried again. */
static bool
gen_read(struct producer *p, struct gen_in *g)
{
	if (await_io(g->fd, EV_READ, -1, false, NULL) != 0 || p->stopping ||
	    p->fenced) {
		g->stop = true;
		return true;
	}
	buf_reserve(&g->buf, 65536);
	ssize_t r = read(g->fd, g->buf.data + g->buf.len, 65536);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (r <= 0) {
		g->eof = true;
		if (g->buf.len > 0)
			buf_append(&g->buf, "\n", 1);
	} else {
		g->buf.len += (size_t)r;
		g->buf.data[g->buf.len] = '\0';
	}
	return true;
}

/* Submits, and records, every complete line of g->buf before the next
 * read: while the queue is full, nothing more is read, and a line whose
 * job the store could not take (a locked database, a commit that failed)
 * is handled again, after a pause. */
static void
gen_feed(struct producer *p, struct gen_in *g)
{
	g->again = false;
	int64_t lineno0 = g->lineno, produced0 = p->produced,
		errors0 = p->errors;
	size_t off = 0;
	char *nl;
	while (!g->stop && off < g->buf.len &&
	       (nl = memchr(g->buf.data + off, '\n', g->buf.len - off))) {
		size_t len = (size_t)(nl - (g->buf.data + off));
		int lr = generator_line(p, g->buf.data + off, len,
					g->lineno + 1);
		if (lr < 0)
			g->stop = true;
		if (lr > 0) {
			g->again = true;
			break;
		}
		g->lineno++;
		off += len + 1;
	}
	if (off > 0 && store_sync_crash_safe() != 0) {
		/* Rolled back: this read's lines go again. */
		p->produced = produced0;
		p->errors = errors0;
		g->lineno = lineno0;
		off = 0;
		g->again = true;
	}
	/* Then their counts: when they fail to commit, the next write adds
	 * them. */
	struct store_producer after;
	if (off > 0 && record(p, p->state, 0, &after) == 0 &&
	    store_sync_crash_safe() == 0)
		settle(p, &after);
	buf_consume(&g->buf, off);
	if (g->again && !g->stop && record_retry_wait(p, &g->pause) != 0)
		g->stop = true;
	if (!g->again)
		g->pause = RECORD_RETRY_MIN;
	if (g->buf.len > LINE_MAX_BYTES) {
		p->errors++;
		log_warnx("producer %s: line %lld: longer than %d bytes, "
			  "dropped",
			  p->def.name, (long long)g->lineno + 1,
			  LINE_MAX_BYTES);
		buf_reset(&g->buf);
	}
	if (g->lineno % 64 == 0)
		announce(p);
}

/* Runs the generator once.  Returns its wait status, or -1 when it could
 * not start, or -2 when the producer must stop. */
static int
generator_run(struct producer *p)
{
	struct runner_spawn sp;
	int out, err;
	if (generator_start(p, &sp, &out, &err) != 0)
		return -1;
	p->gen_pid = sp.pid;
	char who[112];
	snprintf(who, sizeof(who), "producer %s: generator", p->def.name);
	struct errpipe ep = {who, err, BUF_INIT, NULL};
	char ename[112];
	snprintf(ename, sizeof(ename), "producer[%s].stderr", p->def.name);
	struct coro *reader = coro_spawn(ename, errpipe_f, &ep);
	struct gen_in g = {
		.fd = out, .buf = BUF_INIT, .pause = RECORD_RETRY_MIN};
	while (!g.stop && (g.again || !g.eof)) {
		if (p->fenced || (p->paused && wait_unpaused(p) != 0)) {
			g.stop = true;
			break;
		}
		if (!g.again) {
			if (!gen_read(p, &g))
				continue;
			if (g.stop)
				break;
		}
		gen_feed(p, &g);
	}
	buf_release(&g.buf);
	close(out);
	int status = generator_end(&sp, g.stop || p->fenced);
	p->gen_pid = 0;
	/* The generator is gone: its reader takes what is left and ends. */
	if (!coro_is_done(reader))
		coro_cancel(reader);
	coro_join(reader);
	close(ep.fd);
	buf_release(&ep.partial);
	/* A fenced node stopped it: not this run's end. */
	if (!p->fenced)
		note_exit(p, status, NULL, ep.last);
	free(ep.last);
	if (p->fenced)
		return -3;
	save(p);
	return g.stop ? -2 : status;
}

/* How often a node tries to take a command producer no node owns. */
#define OWN_RETRY 2.0

/* Waits until this node owns p, the one node to run its generator (under
 * SQLite, at once), trying every OWN_RETRY s or when woken; meanwhile p
 * shows the owner's counts.  Returns 0 once owned or paused, -1 when p
 * must stop or ended on another node. */
static int
own(struct producer *p)
{
	double pause = RECORD_RETRY_MIN;
	while (!p->paused) {
		bool owned = false;
		struct store_producer row;
		if (store_producer_own(p->def.name, &owned, &row) != 0 ||
		    store_sync_crash_safe() != 0) {
			if (record_retry_wait(p, &pause) != 0)
				return -1;
			continue;
		}
		pause = RECORD_RETRY_MIN;
		if (owned) {
			p->owned = true;
			p->fenced = false;
			return 0;
		}
		if (row.produced + row.errors > 0)
			settle(p, &row);
		if (row.state == PRODUCER_FINISHED ||
		    row.state == PRODUCER_FAILED) {
			p->state = row.state;
			announce(p);
			return -1;
		}
		if (producer_wait(p, OWN_RETRY) != 0)
			return -1;
	}
	return 0;
}

static bool shutting_down; /* producer_shutdown frees them all */

/* Frees the producer named arg (owned) of this node's ownership, then
 * wakes a producer of that name (one replacing it on reload). */
static void
disown_f(void *arg)
{
	char *name = arg;
	if (store_producer_disown(name) != 0)
		log_warnx("producer %s: %s", name, diag_msg());
	for (struct producer *n = producers; n; n = n->next)
		if (strcmp(n->def.name, name) == 0)
			waitq_notify_all(&n->wq);
	free(name);
	if (--nlive == 0)
		waitq_notify_all(&gone);
}

/* Gives p's generator up for another node to run, from a coroutine of its
 * own: p's may be cancelled, and a write fails there while a commit is in
 * flight.  Does not yield. */
static void
disown(struct producer *p)
{
	if (!p->owned)
		return;
	p->owned = false;
	if (shutting_down)
		return;
	char name[96];
	snprintf(name, sizeof(name), "producer[%s].disown", p->def.name);
	coro_detach(coro_spawn(name, disown_f, xstrdup(p->def.name)));
	nlive++;
}

static void
command_loop(struct producer *p)
{
	for (;;) {
		/* Paused, no generator: another node may run it next. */
		if (p->paused)
			disown(p);
		if (wait_unpaused(p) != 0 || p->stopping)
			return;
		if (!p->owned && own(p) != 0)
			return;
		if (!p->owned)
			continue;
		double started = loop_now();
		p->last_run = jobd_time_now_ms();
		int st = generator_run(p);
		if (st == -2)
			return;
		if (st == -3)
			continue;
		bool ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok)
			p->errors += st == -1 ? 1 : 0;
		if (p->def.restart == PRODUCER_SPEC_NEVER ||
		    (p->def.restart == PRODUCER_SPEC_ON_FAILURE && ok)) {
			p->state = ok ? PRODUCER_FINISHED : PRODUCER_FAILED;
			save(p);
			return;
		}
		double wait = started + RESTART_DELAY - loop_now();
		if (wait > 0 && producer_wait(p, wait) != 0)
			return;
	}
}

static void
producer_f(void *arg)
{
	struct producer *p = arg;
	if (p->def.type == PRODUCER_SPEC_COMMAND) {
		command_loop(p);
		disown(p);
	} else {
		schedule_loop(p);
	}
	p->c = NULL;
	if (--nlive == 0)
		waitq_notify_all(&gone);
	if (p->deleted)
		producer_free(p);
}

static void
start(struct producer *p)
{
	if (p->c != NULL || p->state == PRODUCER_FINISHED ||
	    p->state == PRODUCER_FAILED)
		return;
	p->stopping = false;
	p->state = p->paused ? PRODUCER_PAUSED : PRODUCER_RUNNING;
	char name[96];
	snprintf(name, sizeof(name), "producer[%s]", p->def.name);
	p->c = coro_spawn(name, producer_f, p);
	coro_detach(p->c);
	nlive++;
}

/* Asks p's coroutine to stop (it kills its generator on the way out).
 * Returns false when p has no coroutine.  Does not yield. */
static bool
stop(struct producer *p)
{
	if (p->c == NULL)
		return false;
	p->stopping = true;
	waitq_notify_all(&p->wq);
	coro_cancel(p->c);
	return true;
}

/* Unlinks p and frees it now or when its coroutine has left. */
static void
retire(struct producer *p)
{
	unlink_producer(p);
	p->deleted = true;
	if (!stop(p))
		producer_free(p);
}

static void
link_producer(struct producer *p)
{
	struct producer **pp = &producers;
	while (*pp && strcmp((*pp)->def.name, p->def.name) < 0)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
}

static void
unlink_producer(struct producer *p)
{
	struct producer **pp = &producers;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
}

struct producer *
producer_find(const char *name)
{
	for (struct producer *p = producers; p; p = p->next)
		if (strcmp(p->def.name, name) == 0)
			return p;
	diag_set(E_NOTFOUND, "no producer %s", name);
	return NULL;
}

struct producer *
producer_create(json_t *obj, uid_t uid)
{
	json_t *name = json_object_get(obj, "name");
	if (json_is_string(name) &&
	    producer_find(json_string_value(name)) != NULL) {
		diag_set(E_STATE, "producer %s exists",
			 json_string_value(name));
		return NULL;
	}
	struct producer *p = producer_parse(obj, uid, true);
	if (p == NULL)
		return NULL;
	if (template_limits_ok(p) != 0) {
		producer_free(p);
		return NULL;
	}
	if (store_producer_put(p->def.name, p->def.stored, uid, p->paused) !=
		    0 ||
	    store_producer_counters(p->def.name, PRODUCER_RUNNING, 0, 0, 0,
				    0) != 0) {
		producer_free(p);
		return NULL;
	}
	link_producer(p);
	start(p);
	announce(p);
	return p;
}

int
producer_delete(struct producer *p)
{
	if (store_producer_delete(p->def.name) != 0)
		return -1;
	if (events_watched())
		events_producer(p->def.name,
				json_pack("{s:s,s:b}", "name", p->def.name,
					  "deleted", 1));
	retire(p);
	return 0;
}

int
producer_set_paused(struct producer *p, bool paused)
{
	if (store_producer_set_paused(p->def.name, paused) != 0)
		return -1;
	p->paused = paused;
	if (p->state == PRODUCER_RUNNING || p->state == PRODUCER_PAUSED)
		p->state = paused ? PRODUCER_PAUSED : PRODUCER_RUNNING;
	waitq_notify_all(&p->wq);
	announce(p);
	return 0;
}

static void
set_time(json_t *o, const char *key, int64_t ms)
{
	char tb[JOBD_TIME_LEN];
	json_object_set_new(o, key,
			    ms > 0 ? json_string(jobd_time_format(ms, tb))
				   : json_null());
}

json_t *
producer_json(const struct producer *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(p->def.name));
	json_object_set_new(o, "type",
			    json_string(producer_spec_type_names[p->def.type]));
	json_object_set_new(o, "queue", json_string(p->def.queue));
	json_object_set(o, "job", p->def.job);
	if (p->def.type == PRODUCER_SPEC_INTERVAL)
		json_object_set_new(o, "every", json_real(p->def.every));
	if (p->def.type == PRODUCER_SPEC_CRON)
		json_object_set(o, "schedule",
				json_object_get(p->def.stored, "schedule"));
	if (p->def.type == PRODUCER_SPEC_COMMAND) {
		json_object_set(o, "generator", p->def.generator);
		json_object_set_new(
			o, "format",
			json_string(producer_spec_format_names[p->def.format]));
		json_object_set_new(
			o, "restart",
			json_string(
				producer_spec_restart_names[p->def.restart]));
	}
	json_object_set_new(o, "overlap", json_boolean(p->def.overlap));
	json_object_set_new(o, "paused", json_boolean(p->paused));
	json_object_set_new(o, "state", json_string(state_names[p->state]));
	json_object_set_new(o, "produced", json_integer(p->produced));
	json_object_set_new(o, "skipped", json_integer(p->skipped));
	json_object_set_new(o, "errors", json_integer(p->errors));
	set_time(o, "last_run", p->last_run);
	if (p->def.type == PRODUCER_SPEC_COMMAND) {
		json_object_set(o, "last_exit_code",
				p->last_exit_code ? p->last_exit_code
						  : json_null());
		/* A generator may write anything to stderr. */
		json_object_set_new(o, "last_error",
				    p->last_error
					    ? utf8_string(p->last_error,
							  strlen(p->last_error))
					    : json_null());
	}
	bool scheduled = p->def.type != PRODUCER_SPEC_COMMAND && p->c != NULL &&
			 p->state == PRODUCER_RUNNING;
	/* A producer just created has not reached its loop yet: show the
	 * tick it will compute there. */
	int64_t next = p->next_run;
	if (scheduled && next == 0)
		next = next_tick(p, jobd_time_now_ms());
	set_time(o, "next_run", scheduled && next > 0 ? next : 0);
	json_object_set_new(o, "uid", json_integer((json_int_t)p->uid));
	return o;
}

json_t *
producer_list_json(void)
{
	json_t *arr = json_array();
	for (struct producer *p = producers; p; p = p->next)
		json_array_append_new(arr, producer_json(p));
	return arr;
}

static int
load_one(const struct store_producer *sp, void *arg)
{
	(void)arg;
	struct producer *p = producer_parse(sp->spec, sp->uid, true);
	if (p == NULL) {
		log_warnx("producer %s: stored definition refused: %s",
			  sp->name, diag_msg());
		return 0;
	}
	p->paused = sp->paused;
	p->state = sp->state;
	p->produced = sp->produced;
	p->skipped = sp->skipped;
	p->errors = sp->errors;
	p->stored_produced = sp->produced;
	p->stored_skipped = sp->skipped;
	p->stored_errors = sp->errors;
	p->last_run = sp->last_run;
	p->anchor = sp->anchor;
	link_producer(p);
	return 0;
}

int
producer_apply_config(const struct config *c)
{
	size_t i;
	json_t *obj;
	json_array_foreach (c->producers, i, obj) {
		const char *name =
			json_string_value(json_object_get(obj, "name"));
		struct producer *old = name ? producer_find(name) : NULL;
		struct producer *p = producer_parse(obj, geteuid(), true);
		if (p == NULL) {
			diag_prefix(name ? name : "producer");
			return -1;
		}
		if (old && json_equal(old->def.stored, p->def.stored)) {
			producer_free(p);
			continue;
		}
		if (store_producer_put(p->def.name, p->def.stored, p->uid,
				       false) != 0) {
			producer_free(p);
			return -1;
		}
		if (old) {
			/* A new definition: keep counters and pause, run
			 * it again even if the old one had finished. */
			p->paused = old->paused;
			p->produced = old->produced;
			p->skipped = old->skipped;
			p->errors = old->errors;
			p->stored_produced = old->stored_produced;
			p->stored_skipped = old->stored_skipped;
			p->stored_errors = old->stored_errors;
			p->last_run = old->last_run;
			p->anchor = old->anchor;
			retire(old);
		}
		/* The store kept the counts and set the state running. */
		link_producer(p);
		start(p);
		announce(p);
	}
	diag_clear();
	return 0;
}

int
producer_init(const struct config *c)
{
	/* None of this node's generators runs yet: what it owned in an
	 * earlier run is free. */
	if (store_producer_disown(NULL) != 0 ||
	    store_producer_each(load_one, NULL) != 0 ||
	    producer_apply_config(c) != 0)
		return -1;
	for (struct producer *p = producers; p; p = p->next)
		start(p);
	return 0;
}

void
producer_shutdown(void)
{
	shutting_down = true;
	if (fence_c != NULL)
		coro_cancel(fence_c);
	while (producers)
		retire(producers);
	/* Their coroutines end their generators and free them. */
	double deadline = loop_now() + SHUTDOWN_WAIT;
	while (nlive > 0 && coro_self() != NULL) {
		double left = deadline - loop_now();
		if (left <= 0 || (waitq_wait(&gone, left) != 0 &&
				  diag_code() == E_CANCELLED))
			break;
	}
	/* Every generator ended: another node may run them. */
	if (nlive == 0 && coro_self() != NULL &&
	    store_producer_disown(NULL) != 0)
		log_warnx("producers: %s", diag_msg());
}

/* SIGKILLs, once the grace (a double at arg, owned) has passed, the
 * generators a fence left running; nothing when cancelled (shutdown). */
static void
fence_kill_f(void *arg)
{
	double grace = *(double *)arg;
	free(arg);
	bool cancelled = await_sleep(grace) != 0;
	for (struct producer *p = producers; p && !cancelled; p = p->next)
		if (p->fenced && p->gen_pid > 0)
			kill(-p->gen_pid, SIGKILL);
	fence_c = NULL;
}

void
producer_fence(double grace)
{
	bool any = false;
	for (struct producer *p = producers; p; p = p->next) {
		if (p->def.type != PRODUCER_SPEC_COMMAND)
			continue;
		p->fenced = p->fenced || p->owned;
		p->owned = false;
		if (p->fenced && p->gen_pid > 0) {
			kill(-p->gen_pid, SIGTERM);
			any = true;
		}
		waitq_notify_all(&p->wq);
	}
	if (any && fence_c == NULL) {
		double *g = xmalloc(sizeof(*g));
		*g = grace;
		fence_c = coro_spawn("producer.fence", fence_kill_f, g);
		coro_detach(fence_c);
	}
}

const char *
producer_using_queue(const char *queue)
{
	for (struct producer *p = producers; p; p = p->next)
		if (strcmp(p->def.queue, queue) == 0)
			return p->def.name;
	return NULL;
}

int
producer_check(json_t *obj, bool check_queue)
{
	struct producer *p = producer_parse(obj, geteuid(), check_queue);
	if (p == NULL)
		return -1;
	int rc = template_limits_ok(p);
	producer_free(p);
	return rc;
}
