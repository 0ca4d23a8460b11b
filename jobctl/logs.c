/*
 * logs and watch: what jobd streams.  `logs` prints a job's output, chunk
 * by chunk, and with -f follows it until the job ends (submit --follow
 * uses the same); `watch` prints events as they happen.
 */
#include "jobctl.h"

#include "jobd/client.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "render.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char u_logs[] =
	"logs [ID] [-f] [--tail N] [--attempt N] [--json]\n"
	"\n"
	"Prints a job's output.  Without ID, that of your latest job (the "
	"one\n"
	"with the highest id that you submitted).\n"
	"\n"
	"options:\n"
	"  -f, --follow     go on until the job has finished\n"
	"  -n, --tail N     only its last N lines (read from the end)\n"
	"      --attempt N  that attempt (default: the latest)\n"
	"      --json       print the raw results and events";

/* The first window --tail reads from the end of a log, and the largest
 * (the daemon's most per read): past that, a longer last line is cut. */
#define TAIL_FIRST (16 * 1024)
#define TAIL_MAX (16 * 1024 * 1024)

static const char u_watch[] =
	"watch [-q QUEUE] [-l KEY=VALUE]... [--job ID] [--json]\n"
	"\n"
	"Prints events as they happen (a running job's progress at most 4 "
	"times a\n"
	"second).\n"
	"\n"
	"options:\n"
	"  -q, --queue QUEUE  events of this queue only\n"
	"  -l, --label KEY=VALUE\n"
	"                     job events of jobs with this label only\n"
	"                     (repeatable: all must match)\n"
	"      --job ID       this job only: its state now, then its "
	"events\n"
	"                     until it has finished\n"
	"      --json         print the events as sent";

/* Writes a logs result's or a log event's data to stdout. */
static void
emit_data(const json_t *obj)
{
	json_t *d = json_object_get(obj, "data");

	if (jobctl.json) {
		print_json(obj);
		return;
	}
	if (json_is_string(d))
		fwrite(json_string_value(d), 1, json_string_length(d), stdout);
}

static json_t *
logs_args(int64_t id, int64_t attempt, int64_t offset)
{
	json_t *args = json_pack("{sIsI}", "job_id", (json_int_t)id, "offset",
				 (json_int_t)offset);

	if (attempt > 0)
		json_object_set_new(args, "attempt", json_integer(attempt));
	return args;
}

/* Says on stderr why job id has no output: it has not started (yet). */
static void
not_started(int64_t id)
{
	json_t *job = jobd_client_get(client(), id);
	char *state, *when;

	if (job == NULL)
		return;
	state = render_value(json_object_get(job, "state"));
	if (jobd_state_is_terminal(jobd_state_parse(jstr(job, "state")))) {
		fprintf(stderr, "jobctl: job %lld never started: %s\n",
			(long long)id, state);
	} else {
		when = render_value(json_object_get(job, "run_at"));
		fprintf(stderr,
			"jobctl: job %lld has not started yet (%s, run_at "
			"%s); jobctl logs -f %lld waits for its output\n",
			(long long)id, state, when, (long long)id);
		free(when);
	}
	free(state);
	json_decref(job);
}

/* The progress bar of submit --follow, on stderr: one line, erased
 * before the job's output is written and drawn again after it once the
 * output has ended its line. */
struct bar {
	bool on;     /* drawing: stderr is a terminal */
	bool shown;  /* the line is on the screen now */
	bool at_bol; /* the job's output ended its last line */
	char *text;  /* the latest bar line, or NULL */
};

#define BAR_WIDTH 20

static void
bar_erase(struct bar *b)
{
	if (b->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		b->shown = false;
	}
}

static void
bar_draw(struct bar *b)
{
	if (!b->on || b->text == NULL || !b->at_bol)
		return;
	fflush(stdout);
	fprintf(stderr, "\r\033[K%s", b->text);
	fflush(stderr);
	b->shown = true;
}

/* A job.progress event's progress (borrowed) becomes the bar. */
static void
bar_set(struct bar *b, const json_t *progress)
{
	json_t *p = json_object_get(progress, "percent");
	double pct = json_is_number(p) ? json_number_value(p) : -1;
	char *raw = render_progress(progress), *text = render_text(raw);
	char cells[BAR_WIDTH + 1];
	int cols = term_cols(STDERR_FILENO);
	int filled = pct < 0 ? 0 : (int)(pct * BAR_WIDTH / 100 + 0.5);

	for (int i = 0; i < BAR_WIDTH; i++)
		cells[i] = i < filled ? '#' : '-';
	cells[BAR_WIDTH] = '\0';
	free(b->text);
	b->text = fmt("[%s] %s", cells, text);
	/* One line: a longer one would wrap and leave its head behind. */
	if (cols > 1 && strlen(b->text) >= (size_t)cols)
		b->text[cols - 1] = '\0';
	free(raw);
	free(text);
	bar_erase(b);
	bar_draw(b);
}

/* Log data (borrowed: a log event or reply) written under the bar. */
static void
bar_emit(struct bar *b, const json_t *obj)
{
	json_t *d = json_object_get(obj, "data");

	bar_erase(b);
	emit_data(obj);
	if (json_is_string(d) && json_string_length(d) > 0)
		b->at_bol = json_string_value(d)[json_string_length(d) - 1] ==
			    '\n';
	bar_draw(b);
}

/* The events of logs with follow, until log.end; with b->on, the job's
 * job.progress events draw the bar.  *jobp gets the job of log.end (new
 * reference) when it carries one. */
static void
follow_events(struct jobd_client *c, int64_t id, struct bar *b, json_t **jobp)
{
	bool eof = false;

	while (!eof) {
		json_t *ev = jobd_client_next_event(c, -1);
		const char *name;

		if (ev == NULL)
			lost(c);
		name = jstr(ev, "event");
		if (b->on && strcmp(name, "job.progress") == 0) {
			json_t *job = json_object_get(ev, "job");

			if (jint(job, "id", 0) == id)
				bar_set(b, json_object_get(job, "progress"));
			json_decref(ev);
			continue;
		}
		if (jint(ev, "job_id", 0) != id) {
			json_decref(ev);
			continue;
		}
		if (strcmp(name, "log") == 0) {
			bar_emit(b, ev);
			fflush(stdout);
		} else if (strcmp(name, "log.end") == 0) {
			bar_erase(b);
			if (jobctl.json)
				print_json(ev);
			*jobp = json_object_get(ev, "job");
			if (*jobp != NULL)
				json_incref(*jobp);
			eof = true;
		}
		json_decref(ev);
	}
}

/* Where the last n lines of data (len bytes) start, or -1 when it holds
 * fewer line ends than that.  A last line without its newline counts. */
static ssize_t
tail_start(const char *data, size_t len, int64_t n)
{
	size_t end = len > 0 && data[len - 1] == '\n' ? len - 1 : len;

	if (n == 0)
		return (ssize_t)len;
	while (end > 0) {
		end--;
		if (data[end] == '\n' && --n == 0)
			return (ssize_t)end + 1;
	}
	return -1;
}

/*
 * Prints the last n lines of job id's log (attempt > 0 picks one, else the
 * latest): the daemon reads windows from its end, each four times the
 * last, until one holds n lines, starts the log, or is TAIL_MAX bytes (then
 * what follows its first line end is printed).  *next gets the offset past
 * what was printed.  Returns an exit status.
 */
static int
print_tail(int64_t id, int64_t attempt, int64_t n, int64_t *next)
{
	struct jobd_client *c = client();
	int64_t want = TAIL_FIRST;

	for (;;) {
		json_t *args = logs_args(id, attempt, -want), *res, *d;
		const char *data;
		ssize_t start;
		size_t len;

		json_object_set_new(args, "max_bytes", json_integer(want));
		res = jobd_client_cmd(c, "logs", args);
		if (res == NULL)
			return report(c);
		d = json_object_get(res, "data");
		data = json_is_string(d) ? json_string_value(d) : "";
		len = json_is_string(d) ? json_string_length(d) : 0;
		start = tail_start(data, len, n);
		if (start < 0 && jint(res, "offset", 0) > 0 &&
		    want < TAIL_MAX) {
			json_decref(res);
			want *= 4;
			continue;
		}
		if (start < 0 && jint(res, "offset", 0) > 0) {
			const char *nl = memchr(data, '\n', len);

			start = nl != NULL ? nl - data + 1 : 0;
		} else if (start < 0) {
			start = 0;
		}
		json_object_set_new(
			res, "data",
			json_stringn(data + start, len - (size_t)start));
		emit_data(res);
		*next = jint(res, "next_offset", 0);
		json_decref(res);
		return ST_OK;
	}
}

/*
 * Prints job id's log (attempt > 0 picks one, else the latest): chunk by
 * chunk from offset while there is more; with follow, then streams what
 * comes until the job ends (with bar, under a progress bar on a terminal).
 * When jobp is non-NULL, *jobp receives the job object at the end (new
 * reference).  Returns an exit status.
 */
static int
show_logs_from(int64_t id, int64_t attempt, int64_t offset, bool follow,
	       bool bar, json_t **jobp)
{
	struct bar b = {.on = bar && follow && !jobctl.json &&
			      isatty(STDERR_FILENO),
			.at_bol = true};
	struct jobd_client *c = client();
	int64_t next = 0, rid;
	json_t *res, *job = NULL, *req;
	bool eof = false;

	for (;;) {
		/* When following, a refusal of the plain read (a job with no
		 * output yet, say) is left to the follow request to judge. */
		res = jobd_client_cmd(c, "logs",
				      logs_args(id, attempt, offset));
		if (res == NULL && follow && jobd_client_error_code(c) > 0) {
			next = offset;
			break;
		}
		if (res == NULL)
			return report(c);
		if (!follow && !jobctl.json && offset == 0 &&
		    jint(res, "attempt", 0) == 0 && jint(res, "size", 0) == 0)
			not_started(id);
		bar_emit(&b, res);
		eof = json_is_true(json_object_get(res, "eof"));
		next = jint(res, "next_offset", offset);
		if (next <= offset || next >= jint(res, "size", 0) || eof) {
			json_decref(res);
			break;
		}
		json_decref(res);
		offset = next;
	}
	if (follow && !eof) {
		fflush(stdout);
		/* The job's own events on this connection, for the bar. */
		if (b.on) {
			json_t *w = jobd_client_cmd(
				c, "watch",
				json_pack("{sI}", "job_id", (json_int_t)id));

			if (w == NULL)
				b.on = false;
			json_decref(w);
		}
		req = logs_args(id, attempt, next);
		json_object_set_new(req, "cmd", json_string("logs"));
		json_object_set_new(req, "follow", json_true());
		rid = jobd_client_send(c, req);
		json_decref(req);
		if (rid < 0)
			lost(c);
		res = jobd_client_result(c, jobd_client_response(c, rid, -1));
		if (res == NULL)
			return report(c);
		bar_emit(&b, res);
		eof = json_is_true(json_object_get(res, "eof"));
		json_decref(res);
		fflush(stdout);
		if (!eof)
			follow_events(c, id, &b, &job);
		bar_erase(&b);
		free(b.text);
	}
	fflush(stdout);
	if (jobp != NULL) {
		if (job == NULL)
			job = jobd_client_get(c, id);
		if (job == NULL)
			return report(c);
		*jobp = job;
	} else {
		json_decref(job);
	}
	return ST_OK;
}

int
show_logs(int64_t id, int64_t attempt, bool follow, bool bar, json_t **jobp)
{
	return show_logs_from(id, attempt, 0, follow, bar, jobp);
}

/* The PAGE jobs list answers at a time while looking for the latest. */
#define LATEST_PAGE 100

/* The id of the caller's latest job (the highest id of the jobs its uid
 * submitted) into *id: the jobs newest first, page after page, until one
 * is the caller's (the daemon shows any other user root's jobs too).
 * Returns an exit status. */
static int
latest_own_job(int64_t *id)
{
	json_int_t uid = (json_int_t)getuid(), before = 0;

	for (;;) {
		json_t *args = json_pack("{sssi}", "order", "desc", "limit",
					 LATEST_PAGE),
		       *res, *jobs, *job, *nv;
		size_t i;

		if (before > 0)
			json_object_set_new(args, "before_id",
					    json_integer(before));
		res = call("list", args);
		if (res == NULL)
			return call_status();
		jobs = json_object_get(res, "jobs");
		json_array_foreach (jobs, i, job) {
			if (jint(job, "uid", -1) == uid) {
				*id = jint(job, "id", 0);
				json_decref(res);
				return ST_OK;
			}
		}
		nv = json_object_get(res, "next_before_id");
		before = json_is_integer(nv) && json_array_size(jobs) > 0
				 ? json_integer_value(nv)
				 : 0;
		json_decref(res);
		if (before <= 0) {
			fprintf(stderr, "%s: you have no jobs\n", jobctl.prog);
			return ST_ERROR;
		}
	}
}

int
cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"tail", required_argument, NULL, 'n'},
		{"attempt", required_argument, NULL, OPT_ATTEMPT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t id, attempt = 0, tail = -1, offset = 0;
	bool follow = false;
	int ch, st;

	opts_begin("logs", argv);
	while ((ch = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case 'n':
			if (!parse_i64(optarg, 0, INT32_MAX, &tail))
				return bad_value("--tail (a number of lines)",
						 optarg);
			break;
		case OPT_ATTEMPT:
			if (!parse_i64(optarg, 1, INT32_MAX, &attempt))
				return bad_value("attempt", optarg);
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			return help(u_logs);
		default:
			return usage(u_logs);
		}
	}
	if (argc - optind > 1)
		return usage(u_logs);
	if (argc - optind == 1 && !parse_id(argv[optind], &id))
		return bad_value("job id", argv[optind]);
	if (argc - optind == 0 && (st = latest_own_job(&id)) != ST_OK)
		return st;
	if (tail >= 0 && (st = print_tail(id, attempt, tail, &offset)) != ST_OK)
		return st;
	return show_logs_from(id, attempt, offset, follow, false, NULL);
}

/* One event as a line for people; text from the daemon is escaped. */
static void
print_event(json_t *ev)
{
	json_t *job = json_object_get(ev, "job");
	json_t *q = json_object_get(ev, "queue");
	json_t *p = json_object_get(ev, "producer");
	char *tm = render_value(json_object_get(ev, "time"));
	char *name = render_value(json_object_get(ev, "event"));

	printf("%s %s", tm, name);
	free(tm);
	free(name);
	if (json_is_object(job)) {
		const char *color = state_color(jstr(job, "state"));
		char *label = render_job_label(job);
		char *queue = render_value(json_object_get(job, "queue"));
		char *state = render_value(json_object_get(job, "state"));

		printf(" job %lld %s %s%s%s", (long long)jint(job, "id", 0),
		       queue, color ? color : "", state,
		       color ? "\033[0m" : "");
		if (strcmp(jstr(ev, "event") ? jstr(ev, "event") : "",
			   "job.progress") == 0) {
			char *raw = render_progress(
				json_object_get(job, "progress"));
			char *text = render_text(raw);

			/* The brief job of job.progress has no command. */
			printf(" %s\n", text);
			free(text);
			free(raw);
			free(queue);
			free(state);
			free(label);
			return;
		}
		if (jstr(job, "reason") != NULL) {
			char *reason =
				render_value(json_object_get(job, "reason"));

			printf(" (%s)", reason);
			free(reason);
		}
		if (json_is_integer(json_object_get(job, "signal")))
			printf(" signal %lld",
			       (long long)jint(job, "signal", 0));
		else if (json_is_integer(json_object_get(job, "exit_code")))
			printf(" exit %lld",
			       (long long)jint(job, "exit_code", 0));
		printf(" %s", label);
		free(label);
		free(queue);
		free(state);
	} else if (json_is_object(q) || json_is_string(q)) {
		char *qn = render_value(
			json_is_object(q) ? json_object_get(q, "name") : q);

		printf(" queue %s%s", qn,
		       json_is_true(json_object_get(q, "paused")) ? " (paused)"
								  : "");
		free(qn);
	} else if (json_is_object(p) || json_is_string(p)) {
		char *pn = render_value(
			json_is_object(p) ? json_object_get(p, "name") : p);
		char *st = json_is_object(p)
				   ? render_value(json_object_get(p, "state"))
				   : dup_str("");

		printf(" producer %s %s", pn, st);
		free(pn);
		free(st);
	}
	putchar('\n');
}

int
cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"job", required_argument, NULL, OPT_JOB},
		{"label", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *queue = NULL;
	struct jobd_client *c;
	json_t *args = json_object(), *res;
	bool stopping = false;
	int64_t job = 0;
	int ch;

	opts_begin("watch", argv);
	while ((ch = getopt_long(argc, argv, "q:l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			queue = optarg;
			break;
		case 'l':
			if (!add_label(args, optarg)) {
				json_decref(args);
				return ST_USAGE;
			}
			break;
		case OPT_JOB:
			if (!parse_id(optarg, &job)) {
				json_decref(args);
				return bad_value("job id", optarg);
			}
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			json_decref(args);
			return help(u_watch);
		default:
			json_decref(args);
			return usage(u_watch);
		}
	}
	if (optind != argc) {
		json_decref(args);
		return usage(u_watch);
	}
	/* args holds the labels so far; the request is made around them. */
	if (json_object_size(args) > 0)
		args = json_pack("{so}", "labels", args);
	else
		json_object_clear(args);
	if (queue != NULL)
		json_object_set_new(args, "queue", json_string(queue));
	if (job > 0)
		json_object_set_new(args, "job_id", json_integer(job));
	c = client();
	res = jobd_client_cmd(c, "watch", args);
	if (res == NULL)
		return report(c);
	json_decref(res);
	/* One job: its state now first (the watch is on, so nothing after
	 * this is missed), and the end once it is terminal. */
	if (job > 0) {
		json_t *cur = jobd_client_get(c, job), *ev;
		char tm[JOBD_TIME_LEN];
		bool done;

		if (cur == NULL)
			return report(c);
		done = jobd_state_is_terminal(
			jobd_state_parse(jstr(cur, "state")));
		ev = json_pack("{sssssO}", "event", "job.state", "time",
			       jobd_time_format(jobd_time_now_ms(), tm), "job",
			       cur);
		if (jobctl.json)
			print_json(ev);
		else
			print_event(ev);
		fflush(stdout);
		json_decref(ev);
		json_decref(cur);
		if (done)
			return ST_OK;
	}
	for (;;) {
		json_t *ev = jobd_client_next_event(c, -1);
		const char *name;

		if (ev == NULL) {
			/* The daemon closes watchers when it stops. */
			if (stopping)
				return ST_OK;
			lost(c);
		}
		name = jstr(ev, "event");
		if (name != NULL && strcmp(name, "daemon.stopping") == 0)
			stopping = true;
		if (jobctl.json)
			print_json(ev);
		else
			print_event(ev);
		fflush(stdout);
		if (job > 0 && name != NULL &&
		    strcmp(name, "job.finished") == 0 &&
		    jint(json_object_get(ev, "job"), "id", 0) == job) {
			json_decref(ev);
			return ST_OK;
		}
		json_decref(ev);
	}
}
