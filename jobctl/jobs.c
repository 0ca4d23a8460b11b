/*
 * The job commands: get, list (paged, with a hint when more exist),
 * cancel, retry and wait (with progress on a terminal).  Jobs are shown
 * as the jobs table or as key: value lines.
 */
#include "jobctl.h"

#include "jobd/client.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "render.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most jobs one list request may ask for (SPEC 5.1). */
#define LIST_PAGE_MAX 10000
/* Requests in flight at once when probing many jobs. */
#define PIPELINE_WINDOW 256

static const char u_get[] = "get ID [--env] [--json]\n"
			    "\n"
			    "Prints a job as key: value lines (its progress "
			    "as percent,\n"
			    "message and count).\n"
			    "\n"
			    "options:\n"
			    "      --env   include the environment, one "
			    "KEY=VALUE a line\n"
			    "      --json  print the raw result";

static const char u_result[] =
	"result ID\n"
	"\n"
	"Prints the result of the job's latest attempt, the JSON value it\n"
	"wrote to $JOBD_RESULT, on one line (for jq).  Exit status 1, with\n"
	"the reason on stderr, when it has none (result_error says why a\n"
	"result written was not kept).";

static const char u_list[] =
	"list [-q QUEUE] [-S STATE]... [-l KEY=VALUE]... [-n LIMIT] [--all]\n"
	"            [--reverse] [--before-id ID | --after-id ID] [--wide]\n"
	"            [--absolute] [--json]\n"
	"\n"
	"Lists jobs as a table, newest first (with a PROGRESS column, the "
	"percent,\n"
	"when one of them has a progress).  WHEN is when a job finished, "
	"started\n"
	"(running) or may start (not yet run): relative to now on a "
	"terminal\n"
	"(2m ago, in 3h), else an RFC 3339 UTC time.\n"
	"\n"
	"options:\n"
	"  -q, --queue QUEUE         jobs of this queue only\n"
	"  -S, -s, --state S[,S...]  jobs in these states only (repeatable)\n"
	"  -l, --label KEY=VALUE     jobs with this label only (repeatable:\n"
	"                            all must match)\n"
	"  -n, --limit N             at most N jobs (default: 100)\n"
	"      --all                 every job, page after page\n"
	"      --reverse             oldest first\n"
	"      --before-id ID        jobs older than ID (the next page)\n"
	"      --after-id ID         jobs newer than ID, oldest first\n"
	"      --wide                a LABELS column too\n"
	"      --absolute            WHEN as times on a terminal too\n"
	"      --json                print the raw results";

/* The filter options cancel and retry share. */
#define FILTER_HELP                                                            \
	"  -q, --queue QUEUE         jobs of this queue only\n"                \
	"  -S, -s, --state S[,S...]  jobs in these states only (repeatable)\n" \
	"  -l, --label KEY=VALUE     jobs with this label only (repeatable:\n" \
	"                            all must match)\n"                        \
	"      --name GLOB           jobs whose name matches GLOB\n"           \
	"      --before TIME         jobs created before TIME (RFC 3339)\n"    \
	"      --after TIME          jobs created after TIME (RFC 3339)\n"     \
	"      --since D             jobs created in the last D (1h, 2d)\n"

static const char u_cancel[] =
	"cancel ID... [--json]\n"
	"       cancel [-q QUEUE] [-S STATE]... [-l KEY=VALUE]...\n"
	"              [--name GLOB] [--before TIME] [--after TIME]\n"
	"              [--since D] [--json]\n"
	"       cancel --all [--yes] [--json]\n"
	"\n"
	"Cancels unfinished jobs: those named (all or none), or those the\n"
	"filter options match (your own, every job for root), printing how\n"
	"many matched and how many were cancelled.\n"
	"\n"
	"options:\n" FILTER_HELP
	"      --all                 every unfinished job (asks first on a\n"
	"                            terminal)\n"
	"  -y, --yes                 do not ask\n"
	"      --json                print the raw result";

static const char u_retry[] =
	"retry ID... [--json]\n"
	"       retry --failed [-q QUEUE] [--since D] [-S STATE]...\n"
	"             [-l KEY=VALUE]... [--name GLOB] [--before TIME]\n"
	"             [--after TIME] [--json]\n"
	"\n"
	"Queues failed or cancelled jobs again: those named, or those the\n"
	"filter options match (your own, every job for root), printing how\n"
	"many matched and how many were queued again.\n"
	"\n"
	"options:\n"
	"      --failed              failed jobs only (-S failed)\n" FILTER_HELP
	"      --json                print the raw result";

static const char u_restart[] =
	"restart ID... [--json]\n"
	"\n"
	"Submits each finished job (succeeded, failed or cancelled) again,\n"
	"as a new job with the same spec whose resubmitted_from is ID, and\n"
	"prints the new jobs.";

static const char u_wait[] =
	"wait ID... [--any] [--timeout T] [--json]\n"
	"       wait [-l KEY=VALUE]... [-q QUEUE] [--any] [--timeout T] "
	"[--json]\n"
	"\n"
	"Waits until the jobs have finished, then prints them.  With -l or\n"
	"-q, waits until no job with these labels (of QUEUE) is pending or\n"
	"running, jobs submitted meanwhile included, and prints nothing.\n"
	"With --any, returns at the first job that finishes (of those\n"
	"pending or running when the wait began, with -l or -q) and prints\n"
	"it; the exit status is 0 if it succeeded.\n"
	"\n"
	"options:\n"
	"  -l, --label KEY=VALUE  jobs with this label (repeatable: all must\n"
	"                         match); not with IDs\n"
	"  -q, --queue QUEUE      jobs of this queue only; not with IDs\n"
	"      --any              return at the first job finished\n"
	"  -t, --timeout T        give up after T (exit status 124)\n"
	"      --json             print the raw result";

static const char *const job_keys[] = {
	"id",
	"queue",
	"name",
	"argv",
	"shell",
	"cwd",
	"state",
	"reason",
	"error",
	"exit_code",
	"signal",
	"attempt",
	"max_attempts",
	"recoveries",
	"priority",
	"timeout",
	"kill_grace",
	"backoff",
	"depends_on",
	"unique_key",
	"uid",
	"pid",
	"node",
	"created_at",
	"run_at",
	"started_at",
	"finished_at",
	"duration",
	"output_truncated",
	"rusage",
	"progress",
	"limits",
	"linger",
	"snooze_exit",
	"snooze",
	"max_snoozes",
	"snoozes",
	"result",
	"result_error",
	"labels",
	"env",
	NULL,
};

/* True when the jobs (a JSON array of job objects) name two nodes or more:
 * the jobs table then shows each one's node.  One node alone (every job
 * of a single jobd) says nothing a row needs. */
static bool
many_nodes(const json_t *jobs)
{
	const char *first = NULL;
	size_t i;
	json_t *job;

	json_array_foreach (jobs, i, job) {
		json_t *n = json_object_get(job, "node");

		if (!json_is_string(n))
			continue;
		if (first == NULL)
			first = json_string_value(n);
		else if (strcmp(first, json_string_value(n)) != 0)
			return true;
	}
	return false;
}

/* True when a job of jobs (a JSON array of job objects) has a progress:
 * the jobs table then shows each one's percent. */
static bool
any_progress(const json_t *jobs)
{
	size_t i;
	json_t *job;

	json_array_foreach (jobs, i, job) {
		if (json_is_object(json_object_get(job, "progress")))
			return true;
	}
	return false;
}

/* The WHEN column of list. */
enum when {
	WHEN_NONE,     /* no column */
	WHEN_ABSOLUTE, /* the daemon's RFC 3339 UTC times */
	WHEN_RELATIVE, /* "2m ago", "in 3h" */
};

/* The WHEN cell of job: when it finished (a terminal job), started (a
 * running one), or may start (run_at; created_at when it has none), as
 * when asks.  now_ms is the time now.  Caller frees. */
static char *
when_cell(const json_t *job, enum when when, int64_t now_ms)
{
	int state = jobd_state_parse(jstr(job, "state"));
	const char *key = jobd_state_is_terminal(state) ? "finished_at"
			  : state == JOBD_RUNNING	? "started_at"
							: "run_at";
	json_t *v = json_object_get(job, key);
	char buf[JOBD_UNIT_LEN];
	int64_t ms;

	if (!json_is_string(v) && strcmp(key, "run_at") == 0)
		v = json_object_get(job, "created_at");
	if (!json_is_string(v))
		return dup_str("-");
	if (when == WHEN_RELATIVE &&
	    jobd_time_parse(json_string_value(v), &ms) == 0)
		return dup_str(jobd_time_relative(ms, now_ms, buf));
	return render_value(v);
}

/* Prints jobs (a JSON array of job objects) as the jobs table, with a
 * NODE column when they ran on more than one node, a PROGRESS column
 * (the percent) when one of them has a progress, with wide a LABELS
 * column (key=value pairs), and unless when is WHEN_NONE a WHEN column
 * (when_cell's). */
static void
print_jobs_as(const json_t *jobs, bool wide, enum when when)
{
	static const char *const cols[] = {"ID",     "QUEUE",	    "STATE",
					   "REASON", "EXIT",	    "ATTEMPT",
					   "NODE",   "PROGRESS",    "LABELS",
					   "WHEN",   "NAME/COMMAND"};
	const char *head[11];
	bool nodes = many_nodes(jobs), progress = any_progress(jobs);
	size_t ncols = 0;
	unsigned right = 1u << 0 | 1u << 4;
	struct render_table t;
	int64_t now_ms = jobd_time_now_ms();
	size_t i;
	json_t *job;

	for (size_t c = 0; c < 11; c++) {
		if ((c == 6 && !nodes) || (c == 7 && !progress) ||
		    (c == 8 && !wide) || (c == 9 && when == WHEN_NONE))
			continue;
		if (c == 7)
			right |= 1u << ncols;
		head[ncols++] = cols[c];
	}
	render_table_init(&t, ncols, head, right, 2);
	json_array_foreach (jobs, i, job) {
		char *cells[11];
		size_t k = 6;
		const char *state = jstr(job, "state");
		json_t *sig = json_object_get(job, "signal");
		json_t *code = json_object_get(job, "exit_code");
		json_t *labels = json_object_get(job, "labels");

		cells[0] = fmt("%lld", (long long)jint(job, "id", 0));
		cells[1] = render_value(json_object_get(job, "queue"));
		cells[2] = render_value(json_object_get(job, "state"));
		cells[3] = render_value(json_object_get(job, "reason"));
		if (json_is_integer(sig))
			cells[4] = fmt("sig%lld",
				       (long long)json_integer_value(sig));
		else if (json_is_integer(code))
			cells[4] = fmt("%lld",
				       (long long)json_integer_value(code));
		else
			cells[4] = dup_str("-");
		cells[5] = fmt("%lld/%lld", (long long)jint(job, "attempt", 0),
			       (long long)jint(job, "max_attempts", 0));
		if (nodes)
			cells[k++] = render_value(json_object_get(job, "node"));
		if (progress)
			cells[k++] = render_percent(
				json_object_get(job, "progress"));
		if (wide)
			cells[k++] = json_object_size(labels) > 0
					     ? render_value(labels)
					     : dup_str("-");
		if (when != WHEN_NONE)
			cells[k++] = when_cell(job, when, now_ms);
		cells[k] = render_job_label(job);
		render_table_add(&t, state_color(state), cells);
	}
	render_table_print(&t, stdout, term_cols(STDOUT_FILENO));
}

static void
print_jobs(const json_t *jobs)
{
	print_jobs_as(jobs, false, WHEN_NONE);
}

int
cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{"env", no_argument, NULL, OPT_ENV},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *args, *res;
	bool env = false;
	int64_t id;
	int ch;

	opts_begin("get", argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_ENV:
			env = true;
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			return help(u_get);
		default:
			return usage(u_get);
		}
	}
	if (argc - optind != 1)
		return usage(u_get);
	if (!parse_id(argv[optind], &id))
		return bad_value("job id", argv[optind]);
	args = json_pack("{sI}", "job_id", (json_int_t)id);
	if (env)
		json_object_set_new(args, "env", json_true());
	res = call("get", args);
	if (res == NULL)
		return call_status();
	if (jobctl.json) {
		print_json(res);
	} else {
		json_t *job = json_object_get(res, "job");
		json_t *p = json_object_get(job, "progress");
		json_int_t bad = jint(job, "progress_bad_lines", 0);

		/* The progress as a person reads it: percent, message,
		 * count, and the bad lines when there were some (on the
		 * progress line, so the keys keep their width). */
		if (json_is_object(p) || bad > 0) {
			char *text = render_progress(p);
			char *line = bad > 0 ? fmt("%s (%lld bad lines)", text,
						   (long long)bad)
					     : dup_str(text);

			json_object_set_new(job, "progress", json_string(line));
			free(line);
			free(text);
		}
		json_object_del(job, "progress_bad_lines");
		render_kv(stdout, job, job_keys, jobctl.color);
	}
	json_decref(res);
	return ST_OK;
}

int
cmd_result(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *res, *job, *v;
	const char *why;
	int64_t id;
	int ch;

	opts_begin("result", argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return help(u_result);
		return usage(u_result);
	}
	if (argc - optind != 1)
		return usage(u_result);
	if (!parse_id(argv[optind], &id))
		return bad_value("job id", argv[optind]);
	res = call("get", json_pack("{sI}", "job_id", (json_int_t)id));
	if (res == NULL)
		return call_status();
	job = json_object_get(res, "job");
	v = json_object_get(job, "result");
	if (v == NULL || json_is_null(v)) {
		why = json_string_value(json_object_get(job, "result_error"));
		fprintf(stderr, "jobctl: job %lld has no result%s%s\n",
			(long long)id, why ? ": " : "", why ? why : "");
		json_decref(res);
		return ST_ERROR;
	}
	print_json(v);
	json_decref(res);
	return ST_OK;
}

/*
 * Adds the states of "a,b" to states (an array).  Returns false after
 * saying why when one is not a state; a path (a socket given after the
 * command) gets a hint, since -s before the command is the socket.
 */
bool
add_states(json_t *states, const char *s)
{
	char *copy = dup_str(s), *save = NULL, *tok;
	bool ok = true;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (jobd_state_parse(tok) < 0) {
			char *t = render_text(tok);

			fprintf(stderr,
				"%s: unknown state '%s' (waiting, scheduled, "
				"queued, running, succeeded, failed, "
				"cancelled)\n",
				jobctl.prog, t);
			if (strchr(tok, '/') != NULL)
				fprintf(stderr,
					"%s: -s after 'list' is a state; give "
					"the socket before the command: "
					"jobctl -s %s list\n",
					jobctl.prog, t);
			free(t);
			ok = false;
			break;
		}
		json_array_append_new(states, json_string(tok));
	}
	free(copy);
	return ok && json_array_size(states) > 0;
}

/* How many jobs match filter by the queues' counters (queue.list), or -1
 * when they cannot tell.  The counters count every user's jobs. */
static int64_t
list_total(const json_t *filter)
{
	const char *queue = jstr(filter, "queue");
	json_t *states = json_object_get(filter, "state");
	json_t *res = jobd_client_cmd(client(), "queue.list", NULL), *q;
	int64_t total = 0;
	size_t i;

	if (res == NULL)
		return -1;
	json_array_foreach (json_object_get(res, "queues"), i, q) {
		json_t *counts = json_object_get(q, "counts"), *v;
		const char *k, *name = jstr(q, "name");
		size_t n;

		if (queue != NULL && (name == NULL || strcmp(queue, name) != 0))
			continue;
		if (json_array_size(states) == 0) {
			json_object_foreach (counts, k, v) {
				total += json_integer_value(v);
			}
			continue;
		}
		json_array_foreach (states, n, v) {
			total += jint(counts, json_string_value(v), 0);
		}
	}
	json_decref(res);
	return total;
}

/* What list's options ask for, and where the paging stands. */
struct list_opts {
	json_t *filter; /* owned: the queue and state members to send */
	json_t *states; /* owned: the -S states */
	json_t *labels; /* owned: the -l labels */
	int64_t limit;	/* -n; -1: the daemon's default page */
	int64_t after;	/* --after-id, then the cursor up; 0: none */
	int64_t before; /* --before-id, then the cursor down; 0: none */
	bool all;	/* --all */
	bool asc;	/* oldest first */
	bool bounded;	/* --after-id or --before-id was given */
	bool wide;	/* --wide: the LABELS column */
	bool absolute;	/* --absolute: WHEN as times, on a terminal too */
};

/* One of list's options.  Returns ST_OK or the status to exit with. */
static int
list_option(struct list_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case 'q':
		json_object_set_new(o->filter, "queue", json_string(arg));
		return ST_OK;
	case 's':
	case 'S':
		return add_states(o->states, arg) ? ST_OK : ST_USAGE;
	case 'n':
		if (!parse_i64(arg, 1, INT64_MAX, &o->limit))
			return bad_value("limit", arg);
		return ST_OK;
	case 'l':
		return add_label(o->labels, arg) ? ST_OK : ST_USAGE;
	case OPT_WIDE:
		o->wide = true;
		return ST_OK;
	case OPT_ALL:
		o->all = true;
		return ST_OK;
	case OPT_AFTER_ID:
	case OPT_BEFORE_ID:
		if (!parse_i64(arg, 0, INT64_MAX,
			       ch == OPT_AFTER_ID ? &o->after : &o->before))
			return bad_value("job id", arg);
		/* Paging on from --after-id goes oldest first. */
		o->asc = o->asc || ch == OPT_AFTER_ID;
		o->bounded = true;
		return ST_OK;
	case OPT_REVERSE:
		o->asc = true;
		return ST_OK;
	case OPT_ABSOLUTE:
		o->absolute = true;
		return ST_OK;
	case OPT_JSON:
		jobctl.json = true;
		return ST_OK;
	case 'h':
		return help(u_list);
	default:
		return usage(u_list);
	}
}

/* Parses list's arguments into o.  Returns ST_OK or the status to exit
 * with. */
static int
list_parse(struct list_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"state", required_argument, NULL, 'S'},
		{"limit", required_argument, NULL, 'n'},
		{"label", required_argument, NULL, 'l'},
		{"wide", no_argument, NULL, OPT_WIDE},
		{"all", no_argument, NULL, OPT_ALL},
		{"after-id", required_argument, NULL, OPT_AFTER_ID},
		{"before-id", required_argument, NULL, OPT_BEFORE_ID},
		{"reverse", no_argument, NULL, OPT_REVERSE},
		{"absolute", no_argument, NULL, OPT_ABSOLUTE},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, st;

	opts_begin("list", argv);
	while ((ch = getopt_long(argc, argv, "q:s:S:n:l:h", opts, NULL)) !=
	       -1) {
		st = list_option(o, ch, optarg);
		if (st != ST_OK)
			return st;
	}
	if (optind != argc)
		return usage(u_list);
	if (json_array_size(o->states) > 0)
		json_object_set(o->filter, "state", o->states);
	if (json_object_size(o->labels) > 0)
		json_object_set(o->filter, "labels", o->labels);
	return ST_OK;
}

/*
 * Asks for the jobs page after page: newest first unless --reverse (or
 * --after-id).  Without -n or --all one request takes the daemon's default
 * page; otherwise pages of at most LIST_PAGE_MAX follow the cursor.  Jobs
 * go into all_jobs, or with --json each result is printed.  *more tells
 * whether more jobs exist past *cursor.  Returns an exit status.
 */
static int
list_fetch(struct list_opts *o, json_t *all_jobs, bool *more, int64_t *cursor)
{
	int64_t left = o->all ? INT64_MAX : o->limit;

	for (;;) {
		json_t *args = json_deep_copy(o->filter), *res, *jobs, *nv;
		int64_t page = left > LIST_PAGE_MAX ? LIST_PAGE_MAX : left;
		size_t got;

		if (left > 0)
			json_object_set_new(args, "limit", json_integer(page));
		if (o->after > 0)
			json_object_set_new(args, "after_id",
					    json_integer(o->after));
		if (o->before > 0)
			json_object_set_new(args, "before_id",
					    json_integer(o->before));
		if (!o->asc)
			json_object_set_new(args, "order", json_string("desc"));
		res = call("list", args);
		if (res == NULL)
			return call_status();
		jobs = json_object_get(res, "jobs");
		got = json_array_size(jobs);
		if (jobctl.json)
			print_json(res);
		else
			json_array_extend(all_jobs, jobs);
		nv = json_object_get(res, o->asc ? "next_after_id"
						 : "next_before_id");
		*more = json_is_integer(nv) && got > 0;
		*cursor = *more ? json_integer_value(nv) : 0;
		json_decref(res);
		if (!*more || left < 0 || (int64_t)got < page)
			return ST_OK;
		if (o->asc)
			o->after = *cursor;
		else
			o->before = *cursor;
		if (left != INT64_MAX)
			left -= (int64_t)got;
		if (left <= 0)
			return ST_OK;
	}
}

/* After a full last page: says that more exist, how many, and how to see
 * them (on stderr, so the table stays clean for a pipe). */
static void
list_more_hint(const struct list_opts *o, size_t shown, int64_t cursor)
{
	/* The queues' counters know nothing of labels. */
	int64_t total = o->bounded || json_object_size(o->labels) > 0
				? -1
				: list_total(o->filter);

	fflush(stdout);
	if (total > (int64_t)shown)
		fprintf(stderr, "jobctl: %zu of %lld jobs shown, %s first; ",
			shown, (long long)total, o->asc ? "oldest" : "newest");
	else
		fprintf(stderr, "jobctl: more jobs exist; ");
	fprintf(stderr, "%s: add --%s %lld (or -n N, --all)\n",
		o->asc ? "newer ones" : "older ones",
		o->asc ? "after-id" : "before-id", (long long)cursor);
}

int
cmd_list(int argc, char **argv)
{
	struct list_opts o = {
		.filter = json_object(),
		.states = json_array(),
		.labels = json_object(),
		.limit = -1,
	};
	json_t *all_jobs = json_array();
	bool more = false;
	int64_t cursor = 0;
	int st = list_parse(&o, argc, argv);

	if (st == ST_OK)
		st = list_fetch(&o, all_jobs, &more, &cursor);
	if (st == ST_OK && !jobctl.json) {
		print_jobs_as(all_jobs, o.wide,
			      o.absolute || !isatty(STDOUT_FILENO)
				      ? WHEN_ABSOLUTE
				      : WHEN_RELATIVE);
		if (more)
			list_more_hint(&o, json_array_size(all_jobs), cursor);
	}
	json_decref(o.states);
	json_decref(o.labels);
	json_decref(o.filter);
	json_decref(all_jobs);
	return st;
}

/* Collects the job ids argv[optind..] into arr; false on a bad one. */
static bool
collect_ids(int argc, char **argv, json_t *arr)
{
	for (int i = optind; i < argc; i++) {
		int64_t id;

		if (!parse_id(argv[i], &id)) {
			bad_value("job id", argv[i]);
			return false;
		}
		json_array_append_new(arr, json_integer(id));
	}
	return json_array_size(arr) > 0;
}

/* Parses "NAME [--json] [-h] ID..." into ids (a JSON array).  Returns
 * ST_OK, or the status to exit with. */
static int
ids_args(const char *name, const char *synopsis, int argc, char **argv,
	 json_t *ids)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	opts_begin(name, argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_JSON)
			jobctl.json = true;
		else if (ch == 'h')
			return help(synopsis);
		else
			return usage(synopsis);
	}
	if (optind == argc)
		return usage(synopsis);
	if (!collect_ids(argc, argv, ids))
		return ST_USAGE;
	return ST_OK;
}

int
cmd_cancel(int argc, char **argv)
{
	if (bulk_wanted(argc, argv))
		return bulk_cancel(u_cancel, argc, argv);
	json_t *ids = json_array(), *args, *res;
	int st = ids_args("cancel", u_cancel, argc, argv, ids);

	if (st != ST_OK)
		goto out;
	if (json_array_size(ids) == 1)
		args = json_pack("{sO}", "job_id", json_array_get(ids, 0));
	else
		args = json_pack("{sO}", "job_ids", ids);
	res = call("cancel", args);
	if (res == NULL) {
		st = call_status();
		goto out;
	}
	if (jobctl.json)
		print_json(res);
	else
		print_jobs(json_object_get(res, "jobs"));
	json_decref(res);
out:
	json_decref(ids);
	return st;
}

/* Calls method with each id of argv, one job a request (retry, resubmit),
 * and prints the jobs they answer; every id is tried, and the status is
 * 1 when any was refused. */
static int
each_id(const char *name, const char *method, const char *synopsis, int argc,
	char **argv)
{
	json_t *ids = json_array(), *jobs = json_array(), *v;
	int st = ids_args(name, synopsis, argc, argv, ids);
	size_t i;

	if (st != ST_OK)
		goto out;
	json_array_foreach (ids, i, v) {
		json_t *res = call(method, json_pack("{sO}", "job_id", v));

		if (res == NULL) {
			st = ST_ERROR;
			continue;
		}
		if (jobctl.json)
			print_json(res);
		else
			json_array_append(jobs, json_object_get(res, "job"));
		json_decref(res);
	}
	if (!jobctl.json && json_array_size(jobs) > 0)
		print_jobs(jobs);
out:
	json_decref(ids);
	json_decref(jobs);
	return st;
}

int
cmd_retry(int argc, char **argv)
{
	if (bulk_wanted(argc, argv))
		return bulk_retry(u_retry, argc, argv);
	return each_id("retry", "retry", u_retry, argc, argv);
}

int
cmd_restart(int argc, char **argv)
{
	return each_id("restart", "resubmit", u_restart, argc, argv);
}

/* Whether msg answers the request with id (or the whole connection). */
static bool
answers(const json_t *msg, int64_t id)
{
	json_t *v = json_object_get(msg, "id");

	if (json_object_get(msg, "event") != NULL)
		return false;
	if (json_is_integer(v))
		return json_integer_value(v) == id;
	return json_is_false(json_object_get(msg, "ok"));
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Marks the job of obj (a job object) finished when it is terminal and one
 * of the n sorted ids; counts it once in *done. */
static void
mark_done(const json_t *job, const int64_t *ids, bool *fin, size_t n,
	  size_t *done)
{
	int64_t id = jint(job, "id", 0);
	const int64_t *p;
	int state = jobd_state_parse(jstr(job, "state"));

	if (state < 0 || !jobd_state_is_terminal(state))
		return;
	p = bsearch(&id, ids, n, sizeof(*ids), cmp_i64);
	if (p != NULL && !fin[p - ids]) {
		fin[p - ids] = true;
		(*done)++;
	}
}

static void
wait_progress_line(size_t done, size_t n)
{
	fprintf(stderr, "\r\033[Kjobctl: %zu/%zu jobs finished", done, n);
	fflush(stderr);
}

/*
 * wait with progress on stderr (a terminal): watches job events, asks each
 * job's state (pipelined gets), then waits, counting jobs as they finish.
 * Returns the wait result (new reference) or NULL with the error in
 * jobctl.conn.
 */
static json_t *
wait_progress(const int64_t *ids, size_t n, double timeout)
{
	struct jobd_client *c = client();
	int64_t *u, sent[PIPELINE_WINDOW], wid;
	size_t nu = 0, done = 0;
	bool *fin;
	json_t *req, *res = NULL;

	if (jobd_client_watch(c, NULL, 0) != 0) {
		if (jobd_client_error_code(c) < 0)
			lost(c);
		return jobd_client_wait(c, ids, n, timeout);
	}
	u = malloc(n * sizeof(*u));
	fin = calloc(n, sizeof(*fin));
	if (u == NULL || fin == NULL)
		oom();
	memcpy(u, ids, n * sizeof(*u));
	qsort(u, n, sizeof(*u), cmp_i64);
	for (size_t i = 0; i < n; i++)
		if (nu == 0 || u[nu - 1] != u[i])
			u[nu++] = u[i];
	for (size_t i = 0; i < nu; i += PIPELINE_WINDOW) {
		size_t m = nu - i < PIPELINE_WINDOW ? nu - i : PIPELINE_WINDOW;

		for (size_t k = 0; k < m; k++) {
			req = json_pack("{sssI}", "cmd", "get", "job_id",
					(json_int_t)u[i + k]);
			sent[k] = jobd_client_send(c, req);
			json_decref(req);
			if (sent[k] < 0)
				lost(c);
		}
		for (size_t k = 0; k < m; k++) {
			json_t *r = jobd_client_response(c, sent[k], -1);

			if (r == NULL)
				lost(c);
			r = jobd_client_result(c, r);
			if (r != NULL)
				mark_done(json_object_get(r, "job"), u, fin, nu,
					  &done);
			json_decref(r);
		}
	}
	req = json_object();
	json_object_set_new(req, "cmd", json_string("wait"));
	{
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_integer(ids[i]));
		json_object_set_new(req, "job_ids", arr);
	}
	if (timeout >= 0)
		json_object_set_new(req, "timeout", json_num(timeout));
	wid = jobd_client_send(c, req);
	json_decref(req);
	if (wid < 0)
		lost(c);
	wait_progress_line(done, nu);
	for (;;) {
		json_t *m = jobd_client_read(c, -1);

		if (m == NULL)
			lost(c);
		if (json_object_get(m, "event") != NULL) {
			size_t before = done;

			mark_done(json_object_get(m, "job"), u, fin, nu, &done);
			if (done != before)
				wait_progress_line(done, nu);
			json_decref(m);
			continue;
		}
		if (answers(m, wid)) {
			res = jobd_client_result(c, m);
			break;
		}
		json_decref(m);
	}
	fputs("\r\033[K", stderr);
	free(u);
	free(fin);
	return res;
}

/* After wait --timeout ran out: names the jobs (of the n ids) that have
 * not finished, with their states, on stderr; the first few by name and
 * the rest by count. */
static void
wait_unfinished(const int64_t *ids, size_t n)
{
	size_t shown = 0, left = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *job = jobd_client_get(client(), ids[i]);
		const char *state = jstr(job, "state");

		if (job == NULL) {
			if (jobd_client_error_code(jobctl.conn) < 0)
				lost(jobctl.conn);
			continue;
		}
		if (!jobd_state_is_terminal(jobd_state_parse(state))) {
			if (shown == 0)
				fputs("jobctl: not finished:", stderr);
			if (shown < 20)
				fprintf(stderr, " %lld (%s)", (long long)ids[i],
					state ? state : "?");
			else
				left++;
			shown++;
		}
		json_decref(job);
	}
	if (left > 0)
		fprintf(stderr, " and %zu more", left);
	if (shown > 0)
		fputc('\n', stderr);
}

/* wait --any: prints the job that finished (if any); 0 if it
 * succeeded. */
static int
wait_any_done(json_t *res)
{
	const json_t *job = json_object_get(res, "job");
	const char *state = jstr(job, "state");

	if (jobctl.json) {
		print_json(res);
	} else if (json_is_object(job)) {
		json_t *one = json_pack("[O]", job);

		print_jobs(one);
		json_decref(one);
	}
	if (json_is_object(job) &&
	    (state == NULL || strcmp(state, "succeeded") != 0))
		return ST_ERROR;
	return ST_OK;
}

/* wait -l / -q: the daemon answers once nothing of the filter is left
 * pending or running (with any: at the first end).  Returns an exit
 * status. */
static int
wait_labels(json_t *labels, const char *queue, bool any, double timeout)
{
	json_t *args = json_object(), *res;
	int st = ST_OK;

	if (json_object_size(labels) > 0)
		json_object_set(args, "labels", labels);
	if (queue != NULL)
		json_object_set_new(args, "queue", json_string(queue));
	if (any)
		json_object_set_new(args, "any", json_true());
	if (timeout >= 0)
		json_object_set_new(args, "timeout", json_num(timeout));
	res = call("wait", args);
	if (res == NULL)
		return call_status();
	if (any)
		st = wait_any_done(res);
	else if (jobctl.json)
		print_json(res);
	json_decref(res);
	return st;
}

/* wait --any ID...: the first of the jobs to finish. */
static int
wait_any_ids(json_t *ids, double timeout)
{
	json_t *args = json_pack("{sOsb}", "job_ids", ids, "any", 1), *res;
	int st;

	if (timeout >= 0)
		json_object_set_new(args, "timeout", json_num(timeout));
	res = call("wait", args);
	if (res == NULL)
		return call_status();
	st = wait_any_done(res);
	json_decref(res);
	return st;
}

int
cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"label", required_argument, NULL, 'l'},
		{"queue", required_argument, NULL, 'q'},
		{"any", no_argument, NULL, 'A'},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *ids = json_array(), *res = NULL, *v;
	json_t *labels = json_object();
	const char *queue = NULL;
	bool any = false;
	int64_t *arr = NULL;
	double timeout = -1;
	size_t n, i;
	int ch, st = ST_OK;

	opts_begin("wait", argv);
	while ((ch = getopt_long(argc, argv, "t:l:q:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (!add_label(labels, optarg)) {
				st = ST_USAGE;
				goto out;
			}
			break;
		case 'q':
			queue = optarg;
			break;
		case 'A':
			any = true;
			break;
		case 't':
		case OPT_TIMEOUT:
			if (jobd_duration_parse(optarg, &timeout) != 0) {
				st = bad_duration("--timeout", optarg);
				goto out;
			}
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			st = help(u_wait);
			goto out;
		default:
			st = usage(u_wait);
			goto out;
		}
	}
	if (json_object_size(labels) > 0 || queue != NULL) {
		if (optind != argc) {
			st = usage(u_wait);
			goto out;
		}
		st = wait_labels(labels, queue, any, timeout);
		goto out;
	}
	if (optind == argc) {
		st = usage(u_wait);
		goto out;
	}
	if (!collect_ids(argc, argv, ids)) {
		st = ST_USAGE;
		goto out;
	}
	if (any) {
		st = wait_any_ids(ids, timeout);
		goto out;
	}
	n = json_array_size(ids);
	arr = malloc(n * sizeof(*arr));
	if (arr == NULL)
		oom();
	json_array_foreach (ids, i, v) {
		arr[i] = json_integer_value(v);
	}
	if (n > 1 && isatty(STDERR_FILENO))
		res = wait_progress(arr, n, timeout);
	else
		res = jobd_client_wait(client(), arr, n, timeout);
	if (res == NULL) {
		st = report(jobctl.conn);
		if (jobd_client_error_code(jobctl.conn) == JOBD_E_TIMEOUT)
			wait_unfinished(arr, n);
		goto out;
	}
	if (jobctl.json)
		print_json(res);
	else
		print_jobs(json_object_get(res, "jobs"));
	json_array_foreach (json_object_get(res, "jobs"), i, v) {
		const char *state = jstr(v, "state");

		if (state == NULL || strcmp(state, "succeeded") != 0)
			st = ST_ERROR;
	}
out:
	free(arr);
	json_decref(res);
	json_decref(ids);
	json_decref(labels);
	return st;
}
