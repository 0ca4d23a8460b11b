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
#include "coro.h"
#include "cron.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "jsonin.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "runner.h"
#include "store.h"
#include "submit.h"
#include "utf8.h"
#include "xmem.h"

enum producer_type { PT_INTERVAL, PT_CRON, PT_COMMAND };
enum producer_format { PF_LINES, PF_JSON };
enum producer_restart { PR_NEVER, PR_ON_FAILURE, PR_ALWAYS };

static const char *const type_names[] = {"interval", "cron", "command"};
static const char *const format_names[] = {"lines", "json"};
static const char *const restart_names[] = {"never", "on-failure",
					    "always"};
static const char *const state_names[] = {"running", "paused", "finished",
					  "failed"};

/* Longest line a generator may write (longer ones are errors). */
#define LINE_MAX_BYTES (1024 * 1024)
/* Least time between two starts of a restarting generator. */
#define RESTART_DELAY 1.0

struct producer {
	char *name;			/* owned */
	json_t *spec;			/* owned: the definition as given */
	int type;
	char *queue;			/* owned */
	json_t *job;			/* owned: template, queue removed */
	double every;			/* seconds */
	struct cron cron;
	json_t *generator;		/* owned: {argv} or {shell} */
	int format;
	int restart;
	bool overlap;
	uid_t uid;
	bool paused;
	int state;
	int64_t produced, skipped, errors;
	int64_t last_run, next_run;	/* ms, 0: none */
	int64_t last_job;		/* for overlap = false */
	json_t *last_exit_code;		/* owned: the generator's last exit
					 * code, or null (never ran, killed
					 * by a signal, could not start) */
	char *last_error;		/* owned: why its last run failed
					 * (its last stderr line, its exit
					 * or signal, a spawn error); NULL
					 * after a run that succeeded */
	struct coro *c;			/* the producer's coroutine */
	struct waitq wq;		/* wakes it: pause, resume, delete */
	bool stopping;
	bool deleted;			/* freed by its coroutine's end */
	struct producer *next;
};

static struct producer *producers;
static int nlive;		/* producer coroutines alive */

/* ---- definitions ---- */

static int
name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static int
enum_field(json_t *obj, const char *key, const char *const *names, int n,
	   int dflt, int *out)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	int i = json_is_string(v) ? name_index(names, n, json_string_value(v))
				  : -1;
	if (i < 0) {
		struct buf b = BUF_INIT;
		for (int k = 0; k < n; k++)
			buf_printf(&b, "%s%s", k ? ", " : "", names[k]);
		diag_set(E_INVAL, "%s: must be one of %s", key, buf_str(&b));
		buf_release(&b);
		return -1;
	}
	*out = i;
	return 0;
}

static void
producer_free(struct producer *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->queue);
	json_decref(p->spec);
	json_decref(p->job);
	json_decref(p->generator);
	json_decref(p->last_exit_code);
	free(p->last_error);
	free(p);
}

/* Validates a command's {argv} or {shell}. */
static int
check_command(json_t *g, const char *field)
{
	if (!json_is_object(g))
		return diag_set(E_INVAL, "%s: must be {\"argv\": [...]} or "
					 "{\"shell\": \"...\"}",
				field);
	json_t *argv = json_object_get(g, "argv");
	json_t *shell = json_object_get(g, "shell");
	const char *k;
	json_t *v;
	json_object_foreach(g, k, v)
	{
		if (strcmp(k, "argv") != 0 && strcmp(k, "shell") != 0)
			return diag_set(E_INVAL, "%s.%s: unknown field", field,
					k);
	}
	if ((argv == NULL) == (shell == NULL))
		return diag_set(E_INVAL, "%s: one of argv or shell", field);
	if (shell && (!json_is_string(shell) || !*json_string_value(shell)))
		return diag_set(E_INVAL, "%s.shell: must be a non-empty string",
				field);
	if (argv) {
		size_t i;
		json_t *a;
		if (!json_is_array(argv) || json_array_size(argv) == 0)
			return diag_set(E_INVAL,
					"%s.argv: must be a non-empty array",
					field);
		json_array_foreach(argv, i, a)
		{
			if (!json_is_string(a) ||
			    strlen(json_string_value(a)) !=
				    json_string_length(a))
				return diag_set(E_INVAL,
						"%s.argv: must hold strings",
						field);
		}
	}
	return 0;
}

/* The job spec for one production: template (+ over) with the producer's
 * queue, validated into s.  over may be NULL. */
static int
make_spec(const struct producer *p, json_t *over, struct jobspec *s)
{
	json_t *obj = jobspec_overlay(p->job, over);
	json_object_set_new(obj, "queue", json_string(p->queue));
	jobspec_init(s);
	int rc = jobspec_parse(obj, s);
	json_decref(obj);
	return rc;
}

static const char *const report_fields[] = {
	"state", "produced", "skipped", "errors", "last_run", "next_run", "uid",
	NULL};

/* Parses obj into a new producer (not started, not stored); with
 * check_queue, its queue must exist. */
static struct producer *
producer_parse(json_t *obj, uid_t uid, bool check_queue)
{
	static const char *const fields[] = {
		"name",	    "type",	"queue",   "job",     "every",
		"schedule", "generator", "format", "restart", "overlap",
		"paused",   NULL};
	if (!json_is_object(obj)) {
		diag_set(E_INVAL, "producer: must be an object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (int i = 0; fields[i] && !ok; i++)
			ok = strcmp(fields[i], key) == 0;
		for (int i = 0; report_fields[i] && !ok; i++)
			ok = strcmp(report_fields[i], key) == 0;
		if (!ok) {
			diag_set(E_INVAL, "%.64s: unknown field", key);
			return NULL;
		}
	}
	struct producer *p = xcalloc(1, sizeof(*p));
	p->uid = uid;
	json_t *name = json_object_get(obj, "name");
	if (!json_is_string(name) ||
	    !jobspec_queue_name_valid(json_string_value(name))) {
		diag_set(E_INVAL, "name: must be 1 to 64 of A-Z a-z 0-9 _ . -");
		goto fail;
	}
	p->name = xstrdup(json_string_value(name));
	json_t *type = json_object_get(obj, "type");
	if (type == NULL) {
		diag_set(E_INVAL, "type: required (interval, cron, command)");
		goto fail;
	}
	if (enum_field(obj, "type", type_names, 3, 0, &p->type) != 0 ||
	    enum_field(obj, "format", format_names, 2, PF_LINES,
		       &p->format) != 0 ||
	    enum_field(obj, "restart", restart_names, 3, PR_NEVER,
		       &p->restart) != 0)
		goto fail;
	json_t *q = json_object_get(obj, "queue");
	if (q != NULL && !json_is_null(q) && !json_is_string(q)) {
		diag_set(E_INVAL, "queue: must be a string");
		goto fail;
	}
	p->queue = xstrdup(q && json_is_string(q) ? json_string_value(q)
						  : "default");
	if (check_queue && queue_find(p->queue) == NULL)
		goto fail;
	json_t *ov = json_object_get(obj, "overlap");
	if (ov && !json_is_null(ov) && !json_is_boolean(ov)) {
		diag_set(E_INVAL, "overlap: must be true or false");
		goto fail;
	}
	p->overlap = json_is_true(ov);
	json_t *pv = json_object_get(obj, "paused");
	if (pv && !json_is_null(pv) && !json_is_boolean(pv)) {
		diag_set(E_INVAL, "paused: must be true or false");
		goto fail;
	}
	p->paused = json_is_true(pv);
	json_t *job = json_object_get(obj, "job");
	if (job != NULL && !json_is_null(job) && !json_is_object(job)) {
		diag_set(E_INVAL, "job: must be an object (a job spec)");
		goto fail;
	}
	p->job = job && json_is_object(job) ? json_deep_copy(job)
					    : json_object();
	json_object_del(p->job, "queue");
	json_t *every = json_object_get(obj, "every");
	json_t *sched = json_object_get(obj, "schedule");
	json_t *gen = json_object_get(obj, "generator");
	if (p->type == PT_INTERVAL) {
		if (!json_is_number(every) ||
		    !isfinite(json_number_value(every)) ||
		    json_number_value(every) < 0.01 ||
		    json_number_value(every) > JOBSPEC_MAX_SECONDS) {
			diag_set(E_INVAL, "every: must be a number of seconds "
					  ">= 0.01");
			goto fail;
		}
		p->every = json_number_value(every);
	} else if (every && !json_is_null(every)) {
		diag_set(E_INVAL, "every: only for interval producers");
		goto fail;
	}
	if (p->type == PT_CRON) {
		if (!json_is_string(sched)) {
			diag_set(E_INVAL, "schedule: required for cron "
					  "producers");
			goto fail;
		}
		if (cron_parse(json_string_value(sched), &p->cron) != 0) {
			diag_prefix("schedule");
			goto fail;
		}
	} else if (sched && !json_is_null(sched)) {
		diag_set(E_INVAL, "schedule: only for cron producers");
		goto fail;
	}
	if (p->type == PT_COMMAND) {
		if (gen == NULL || check_command(gen, "generator") != 0) {
			if (gen == NULL)
				diag_set(E_INVAL, "generator: required for "
						  "command producers");
			goto fail;
		}
		p->generator = json_deep_copy(gen);
		if (p->format == PF_LINES &&
		    !json_is_array(json_object_get(p->job, "argv"))) {
			diag_set(E_INVAL, "job.argv: format lines appends "
					  "each line to job.argv");
			goto fail;
		}
	} else if (gen && !json_is_null(gen)) {
		diag_set(E_INVAL, "generator: only for command producers");
		goto fail;
	}
	/* The template must make a valid job by itself, except for json
	 * generators, whose lines complete it. */
	if (!(p->type == PT_COMMAND && p->format == PF_JSON)) {
		struct jobspec s;
		json_t *over = NULL;
		if (p->type == PT_COMMAND)
			over = json_pack("{s:[s]}", "argv", "x");
		json_t *probe = jobspec_overlay(p->job, NULL);
		if (over) {
			json_t *argv = json_deep_copy(
				json_object_get(p->job, "argv"));
			json_array_append_new(argv, json_string("x"));
			json_object_set_new(probe, "argv", argv);
			json_decref(over);
		}
		json_object_set_new(probe, "queue", json_string(p->queue));
		jobspec_init(&s);
		int rc = jobspec_parse(probe, &s);
		jobspec_destroy(&s);
		json_decref(probe);
		if (rc != 0) {
			diag_prefix("job");
			goto fail;
		}
	}
	/* What is stored: the definition without reported fields. */
	p->spec = json_deep_copy(obj);
	for (int i = 0; report_fields[i]; i++)
		json_object_del(p->spec, report_fields[i]);
	json_object_del(p->spec, "paused");
	return p;
fail:
	producer_free(p);
	return NULL;
}

static void unlink_producer(struct producer *p);

/* ---- running ---- */

/* producer.updated for p, when someone watches. */
static void
announce(const struct producer *p)
{
	if (events_watched())
		events_producer(p->name, producer_json(p));
}

static void
save(struct producer *p)
{
	if (store_producer_counters(p->name, p->state, p->produced,
				    p->skipped, p->errors, p->last_run) != 0)
		log_error("producer %s: %s", p->name, diag_msg());
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
	if (make_spec(p, over, &s) != 0) {
		p->errors++;
		log_warnx("producer %s: %s: %s", p->name, what, diag_msg());
		jobspec_destroy(&s);
		return 0;
	}
	for (;;) {
		struct queue *q = queue_find(p->queue);
		if (q == NULL) {
			p->errors++;
			log_warnx("producer %s: queue %s is gone", p->name,
				  p->queue);
			jobspec_destroy(&s);
			return 0;
		}
		if (queue_has_room(q, 1))
			break;
		/* Backpressure: wait for room, also woken by a pause or
		 * a delete through the producer's own queue. */
		if (waitq_wait(&q->room, 1.0) != 0 &&
		    diag_code() == E_CANCELLED) {
			jobspec_destroy(&s);
			return -1;
		}
		if (p->stopping) {
			jobspec_destroy(&s);
			return -1;
		}
	}
	struct submit_result r;
	int rc = 0;
	if (submit_jobs(&s, 1, p->uid, NULL, &r, false) == 0) {
		p->produced++;
		p->last_job = r.id;
	} else if (diag_code() == E_DB) {
		rc = 1;
	} else {
		p->errors++;
		log_warnx("producer %s: %s: %s", p->name, what, diag_msg());
	}
	jobspec_destroy(&s);
	return rc;
}

/* Pauses between tries to record produced jobs, in seconds. */
#define RECORD_RETRY_MIN 0.01
#define RECORD_RETRY_MAX 1.0

/* After a failed try to record produced jobs: logs (the first time of a
 * run of failures) and waits *pause, growing it.  -1 when the producer
 * must stop. */
static int
record_retry_wait(struct producer *p, double *pause)
{
	if (*pause == RECORD_RETRY_MIN)
		log_warnx("producer %s: jobs not recorded, will retry: %s",
			  p->name, diag_msg());
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
	if (p->type == PT_INTERVAL) {
		int64_t step = (int64_t)llround(p->every * 1000.0);
		if (p->next_run == 0)
			return now + step;
		int64_t t = p->next_run + step;
		/* Ticks missed (paused, busy) are not made up. */
		if (t <= now)
			t = now + step - (now - p->next_run) % step;
		return t;
	}
	int64_t t = cron_next(&p->cron, now / 1000);
	return t < 0 ? -1 : t * 1000;
}

static void
schedule_loop(struct producer *p)
{
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
		p->last_run = now;
		if (!p->overlap && last_job_live(p)) {
			p->skipped++;
		} else {
			/* A tick's job is recorded before the next tick is
			 * planned: a failed write or commit is tried again. */
			int64_t produced = p->produced, errors = p->errors;
			double pause = RECORD_RETRY_MIN;
			for (;;) {
				int rc = produce(p, NULL, "tick");
				if (rc < 0)
					return;
				if (rc == 0 && store_sync_crash_safe() == 0)
					break;
				p->produced = produced;
				p->errors = errors;
				if (record_retry_wait(p, &pause) != 0)
					return;
			}
		}
		p->next_run = next_tick(p, jobd_time_now_ms());
		save(p);
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
	if (p->format == PF_JSON) {
		json_error_t err;
		over = jsonin_loadb(line, len, 0, &err);
		if (!json_is_object(over)) {
			p->errors++;
			log_warnx("producer %s: %s: not a JSON object", p->name,
				  what);
			json_decref(over);
			return 0;
		}
	} else {
		if (memchr(line, '\0', len) != NULL) {
			p->errors++;
			log_warnx("producer %s: %s: NUL byte", p->name, what);
			return 0;
		}
		json_t *argv = json_deep_copy(json_object_get(p->job, "argv"));
		json_t *arg = json_stringn(line, len);
		if (arg == NULL) {
			p->errors++;
			log_warnx("producer %s: %s: not UTF-8", p->name, what);
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

/* A generator's stderr, read by a coroutine of its own: each line goes to
 * jobd's log as a warning naming the producer, so journald keeps its
 * priority and a reader knows whose it is. */
struct errpipe {
	const char *producer;	/* borrowed: the producer's name */
	int fd;			/* owned: the read end */
	struct buf partial;	/* a line not yet ended */
	char *last;		/* owned: the last line, for last_error */
};

/* Logs every whole line of e->partial (all of it when flush). */
static void
errpipe_lines(struct errpipe *e, bool flush)
{
	size_t off = 0;
	char *nl;
	while (off < e->partial.len &&
	       ((nl = memchr(e->partial.data + off, '\n',
			     e->partial.len - off)) != NULL ||
		flush)) {
		size_t len = nl ? (size_t)(nl - (e->partial.data + off))
				: e->partial.len - off;
		if (len > 0) {
			char *line = xstrndup(e->partial.data + off, len);
			log_warnx("producer %s: generator: %s", e->producer,
				  line);
			free(e->last);
			e->last = line;
		}
		off += len + (nl ? 1 : 0);
	}
	buf_consume(&e->partial, off);
	/* A line too long to keep is logged in pieces. */
	if (e->partial.len > 4096)
		errpipe_lines(e, true);
}

/* Reads until EOF; once cancelled, takes what is there without waiting
 * (a child of the generator may hold the pipe open). */
static void
errpipe_f(void *arg)
{
	struct errpipe *e = arg;
	bool cancelled = false;
	for (;;) {
		if (!cancelled && await_io(e->fd, EV_READ, -1, false, NULL) != 0)
			cancelled = true;
		buf_reserve(&e->partial, 4096);
		ssize_t r = read(e->fd, e->partial.data + e->partial.len, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 && (cancelled || r == 0 || errno != EAGAIN))
			break;
		if (r > 0) {
			e->partial.len += (size_t)r;
			errpipe_lines(e, false);
		}
	}
	errpipe_lines(e, true);
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
		p->last_error = xasprintf("killed by signal %d%s%s",
					  WTERMSIG(status),
					  last_line ? ": " : "",
					  last_line ? last_line : "");
	else if (WEXITSTATUS(status) != 0)
		p->last_error = last_line ? xstrdup(last_line)
					  : xasprintf("exit status %d",
						      WEXITSTATUS(status));
}

/* Runs the generator once.  Returns its wait status, or -1 when it could
 * not start, or -2 when the producer must stop. */
static int
generator_run(struct producer *p)
{
	int pfd[2], efd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		log_warn("producer %s: pipe", p->name);
		note_exit(p, -1, "pipe failed", NULL);
		return -1;
	}
	if (pipe2(efd, O_CLOEXEC) != 0) {
		log_warn("producer %s: pipe", p->name);
		note_exit(p, -1, "pipe failed", NULL);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	fcntl(efd[0], F_SETFL, O_NONBLOCK);
	char pv[96];
	snprintf(pv, sizeof(pv), "JOBD_PRODUCER=%s", p->name);
	char *const extra[] = {pv, NULL};
	/* The generator runs as the producer's jobs do: in the template's
	 * cwd, with its env (or the minimal one). */
	const char *cwd = json_string_value(json_object_get(p->job, "cwd"));
	json_t *env = json_object_get(p->job, "env");
	struct runner_spawn sp = {
		.argv = json_object_get(p->generator, "argv"),
		.shell = json_string_value(
			json_object_get(p->generator, "shell")),
		.cwd = cwd ? cwd : "/",
		.env = json_is_object(env) ? env : NULL,
		.uid = p->uid,
		.extra_env = extra,
		.out_fd = pfd[1],
		.err_fd = efd[1],
		.pid = -1,
		.pidfd = -1,
	};
	int rc = runner_spawn(&sp);
	close(pfd[1]);
	close(efd[1]);
	if (rc != 0) {
		log_warnx("producer %s: generator: %s", p->name, sp.error);
		note_exit(p, -1, sp.error, NULL);
		close(pfd[0]);
		close(efd[0]);
		return -1;
	}
	struct errpipe ep = {p->name, efd[0], BUF_INIT, NULL};
	char ename[112];
	snprintf(ename, sizeof(ename), "producer[%s].stderr", p->name);
	struct coro *reader = coro_spawn(ename, errpipe_f, &ep);
	struct buf in = BUF_INIT;
	int64_t lineno = 0;
	bool eof = false, stop = false, again = false;
	double pause = RECORD_RETRY_MIN;
	while (!stop && (again || !eof)) {
		if (p->paused && wait_unpaused(p) != 0) {
			stop = true;
			break;
		}
		if (!again) {
			if (await_io(pfd[0], EV_READ, -1, false, NULL) != 0 ||
			    p->stopping) {
				stop = true;
				break;
			}
			buf_reserve(&in, 65536);
			ssize_t r = read(pfd[0], in.data + in.len, 65536);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				eof = true;
				if (in.len > 0)
					buf_append(&in, "\n", 1);
			} else {
				in.len += (size_t)r;
				in.data[in.len] = '\0';
			}
		}
		/* Every complete line is submitted, and recorded, before the
		 * next read: while the queue is full, nothing more is read,
		 * and a line whose job the store could not take (a locked
		 * database, a commit that failed) is handled again. */
		again = false;
		int64_t lineno0 = lineno, produced0 = p->produced,
			errors0 = p->errors;
		size_t off = 0;
		char *nl;
		while (!stop && off < in.len &&
		       (nl = memchr(in.data + off, '\n', in.len - off))) {
			size_t len = (size_t)(nl - (in.data + off));
			int lr = generator_line(p, in.data + off, len,
						lineno + 1);
			if (lr < 0)
				stop = true;
			if (lr > 0) {
				again = true;
				break;
			}
			lineno++;
			off += len + 1;
		}
		if (off > 0 && store_sync_crash_safe() != 0) {
			/* Rolled back: this read's lines go again. */
			p->produced = produced0;
			p->errors = errors0;
			lineno = lineno0;
			off = 0;
			again = true;
		}
		buf_consume(&in, off);
		if (again && !stop && record_retry_wait(p, &pause) != 0)
			stop = true;
		if (!again)
			pause = RECORD_RETRY_MIN;
		if (in.len > LINE_MAX_BYTES) {
			p->errors++;
			log_warnx("producer %s: line %lld: longer than %d "
				  "bytes, dropped",
				  p->name, (long long)lineno + 1,
				  LINE_MAX_BYTES);
			buf_reset(&in);
		}
		if (lineno % 64 == 0)
			save(p);
	}
	buf_release(&in);
	close(pfd[0]);
	int status = generator_end(&sp, stop);
	/* The generator is gone: its reader takes what is left and ends. */
	if (!coro_is_done(reader))
		coro_cancel(reader);
	coro_join(reader);
	close(ep.fd);
	buf_release(&ep.partial);
	note_exit(p, status, NULL, ep.last);
	free(ep.last);
	save(p);
	return stop ? -2 : status;
}

static void
command_loop(struct producer *p)
{
	for (;;) {
		if (wait_unpaused(p) != 0 || p->stopping)
			return;
		double started = loop_now();
		p->last_run = jobd_time_now_ms();
		int st = generator_run(p);
		if (st == -2)
			return;
		bool ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok)
			p->errors += st == -1 ? 1 : 0;
		if (p->restart == PR_NEVER ||
		    (p->restart == PR_ON_FAILURE && ok)) {
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
	if (p->type == PT_COMMAND)
		command_loop(p);
	else
		schedule_loop(p);
	p->c = NULL;
	nlive--;
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
	snprintf(name, sizeof(name), "producer[%s]", p->name);
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
	while (*pp && strcmp((*pp)->name, p->name) < 0)
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
		if (strcmp(p->name, name) == 0)
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
	if (store_producer_put(p->name, p->spec, uid, p->paused) != 0 ||
	    store_producer_counters(p->name, PRODUCER_RUNNING, 0, 0, 0, 0) !=
		    0) {
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
	if (store_producer_delete(p->name) != 0)
		return -1;
	if (events_watched())
		events_producer(p->name,
				json_pack("{s:s,s:b}", "name", p->name,
					  "deleted", 1));
	retire(p);
	return 0;
}

int
producer_set_paused(struct producer *p, bool paused)
{
	if (store_producer_set_paused(p->name, paused) != 0)
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
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "type", json_string(type_names[p->type]));
	json_object_set_new(o, "queue", json_string(p->queue));
	json_object_set(o, "job", p->job);
	if (p->type == PT_INTERVAL)
		json_object_set_new(o, "every", json_real(p->every));
	if (p->type == PT_CRON)
		json_object_set(o, "schedule",
				json_object_get(p->spec, "schedule"));
	if (p->type == PT_COMMAND) {
		json_object_set(o, "generator", p->generator);
		json_object_set_new(o, "format",
				    json_string(format_names[p->format]));
		json_object_set_new(o, "restart",
				    json_string(restart_names[p->restart]));
	}
	json_object_set_new(o, "overlap", json_boolean(p->overlap));
	json_object_set_new(o, "paused", json_boolean(p->paused));
	json_object_set_new(o, "state", json_string(state_names[p->state]));
	json_object_set_new(o, "produced", json_integer(p->produced));
	json_object_set_new(o, "skipped", json_integer(p->skipped));
	json_object_set_new(o, "errors", json_integer(p->errors));
	set_time(o, "last_run", p->last_run);
	if (p->type == PT_COMMAND) {
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
	bool scheduled = p->type != PT_COMMAND && p->c != NULL &&
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
	p->last_run = sp->last_run;
	link_producer(p);
	return 0;
}

int
producer_apply_config(const struct config *c)
{
	size_t i;
	json_t *obj;
	json_array_foreach(c->producers, i, obj)
	{
		const char *name =
			json_string_value(json_object_get(obj, "name"));
		struct producer *old = name ? producer_find(name) : NULL;
		struct producer *p = producer_parse(obj, geteuid(), true);
		if (p == NULL) {
			diag_prefix(name ? name : "producer");
			return -1;
		}
		if (old && json_equal(old->spec, p->spec)) {
			producer_free(p);
			continue;
		}
		if (store_producer_put(p->name, p->spec, p->uid, false) != 0) {
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
			p->last_run = old->last_run;
			retire(old);
		}
		link_producer(p);
		save(p);
		start(p);
	}
	diag_clear();
	return 0;
}

int
producer_init(const struct config *c)
{
	if (store_producer_each(load_one, NULL) != 0 ||
	    producer_apply_config(c) != 0)
		return -1;
	for (struct producer *p = producers; p; p = p->next)
		start(p);
	return 0;
}

void
producer_shutdown(void)
{
	while (producers)
		retire(producers);
	/* Their coroutines end their generators and free them. */
	for (int i = 0; i < 500 && nlive > 0 && coro_self() != NULL; i++)
		await_sleep(0.01);
}

const char *
producer_using_queue(const char *queue)
{
	for (struct producer *p = producers; p; p = p->next)
		if (strcmp(p->queue, queue) == 0)
			return p->name;
	return NULL;
}

int
producer_check(json_t *obj, bool check_queue)
{
	struct producer *p = producer_parse(obj, geteuid(), check_queue);
	if (p == NULL)
		return -1;
	producer_free(p);
	return 0;
}
