/*
 * The queue and producer commands: list, get, rm, pause and resume, which
 * the two families share; queue add and set; producer add.
 */
#include "jobctl.h"

#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobd/time.h"

static const char u_queue[] =
	"queue list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"       jobctl queue add|set NAME [OPTIONS]\n"
	"\n"
	"options of add and set:\n"
	"      --concurrency N       most jobs running at once (on each "
	"node)\n"
	"      --global-concurrency N  most running at once on all nodes "
	"(0 = no cap)\n"
	"      --rate N/PERIOD       most starts per period: N/s, N/m, "
	"N/h, N/d,\n"
	"                            N/DURATION (5/30s); none or 0: no "
	"limit\n"
	"      --burst B             starts the bucket holds\n"
	"      --capacity N          most pending jobs (0 = no limit)\n"
	"      --timeout T           default job timeout\n"
	"      --kill-grace D        default SIGTERM to SIGKILL gap\n"
	"      --max-attempts N      default attempts\n"
	"      --backoff 'BASE FACTOR MAX JITTER'  retry delays\n" SNOOZE_HELP
		LIMIT_HELP
	"      --retention D|none    how long its finished jobs are kept\n"
	"                            (0: forever; none: the daemon's)\n"
	"      --retention-succeeded D|none\n"
	"      --retention-failed D|none\n"
	"      --retention-cancelled D|none\n"
	"                            the same by end state (none: "
	"--retention)\n"
	"      --keep-last N         most finished jobs kept (0 = no cap)\n"
	"      --label KEY=VALUE     a label of its jobs (repeatable; set\n"
	"                            replaces all the queue's labels)\n"
	"      --no-labels           (set) remove the queue's labels\n"
	"      --on-failure JSON     a job spec submitted when a job fails\n"
	"                            for good (none: no hook)\n"
	"      --on-success JSON     a job spec submitted when a job "
	"succeeds\n"
	"      --on-finish JSON      a job spec submitted when a job ends\n"
	"                            (cancels too)\n"
	"      --paused              (add) create it paused\n"
	"      --json                print the raw result";

static const char u_producer[] =
	"producer list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"       jobctl producer add NAME --type TYPE [OPTIONS] "
	"[-- ARGV... | -c 'SHELL']\n"
	"\n"
	"options of add:\n"
	"      --type interval|cron|command  how it makes jobs\n"
	"      --every D             interval: one job every D\n"
	"      --schedule CRON       cron: 5 fields or @daily etc.\n"
	"  -q, --queue QUEUE         the queue its jobs go to\n"
	"      --overlap             start a job while the last runs\n"
	"      --format json|lines   command: what a line of output is\n"
	"      --restart never|on-failure|always  command: rerun it\n"
	"      --generator 'SHELL'   command: the generator\n"
	"      --job JSON            the job spec template\n"
	"      --cwd DIR             the jobs' working directory (default: "
	"the current one)\n"
	"      --no-env              do not give the jobs jobctl's "
	"environment\n"
	"  -e, --env KEY=VAL         a variable of the jobs (repeatable)\n"
	"  -c, --shell 'SHELL'       the jobs' shell command\n" LIMIT_HELP
	"      --json                print the raw result";

static const char *const queue_keys[] = {
	"name",
	"concurrency",
	"global_concurrency",
	"rate",
	"capacity",
	"paused",
	"timeout",
	"kill_grace",
	"max_attempts",
	"backoff",
	"limits",
	"snooze_exit",
	"snooze",
	"max_snoozes",
	"labels",
	"retention",
	"retention_succeeded",
	"retention_failed",
	"retention_cancelled",
	"keep_last",
	"counts",
	NULL,
};

static const char *const producer_keys[] = {
	"name",	    "type",	"queue",     "state",	"paused",
	"every",    "schedule", "generator", "format",	"restart",
	"overlap",  "job",	"produced",  "skipped", "errors",
	"last_run", "next_run", "uid",	     NULL,
};

/* Parses a rate: "none" or "0" (no limit), or N/s, N/m, N/h, N/d, or
 * N/DURATION ("10/30s"); N of 0 means no limit too.
 * Returns the rate object or JSON null (new reference), or NULL when s is
 * malformed. */
static json_t *
parse_rate(const char *s)
{
	const char *slash = strchr(s, '/');
	double limit, period;
	char *end;

	if (strcmp(s, "none") == 0 || strcmp(s, "off") == 0 ||
	    strcmp(s, "0") == 0)
		return json_null();
	if (slash == NULL || slash == s)
		return NULL;
	errno = 0;
	limit = strtod(s, &end);
	if (errno != 0 || end != slash || !(limit >= 0) || !isfinite(limit))
		return NULL;
	if (strcmp(slash + 1, "s") == 0)
		period = 1;
	else if (strcmp(slash + 1, "m") == 0)
		period = 60;
	else if (strcmp(slash + 1, "h") == 0)
		period = 3600;
	else if (strcmp(slash + 1, "d") == 0)
		period = 86400;
	else if (jobd_duration_parse(slash + 1, &period) != 0 || !(period > 0))
		return NULL;
	if (limit == 0)
		return json_null(); /* no starts per period: no limit, as in
				       the config file */
	return json_pack("{soso}", "limit", json_num(limit), "period",
			 json_num(period));
}

/* Parses "BASE FACTOR MAX JITTER" (BASE and MAX durations).  Returns the
 * backoff object (new reference) or NULL. */
static json_t *
parse_backoff(const char *s)
{
	char *copy = dup_str(s), *save = NULL, *tok[5];
	double v[4];
	int n = 0;
	json_t *b = NULL;

	for (char *t = strtok_r(copy, " \t,", &save); t != NULL && n < 5;
	     t = strtok_r(NULL, " \t,", &save))
		tok[n++] = t;
	if (n != 4)
		goto out;
	for (int i = 0; i < 4; i++) {
		char *end;

		if (i == 0 || i == 2) {
			if (jobd_duration_parse(tok[i], &v[i]) != 0)
				goto out;
			continue;
		}
		errno = 0;
		v[i] = strtod(tok[i], &end);
		if (errno != 0 || *end != '\0' || !isfinite(v[i]))
			goto out;
	}
	b = json_pack("{sosososo}", "base", json_num(v[0]), "factor",
		      json_num(v[1]), "max", json_num(v[2]), "jitter",
		      json_num(v[3]));
out:
	free(copy);
	return b;
}

/*
 * "NOUN list": sends {"cmd": "NOUN.list"} and prints the result's array
 * member as a table of ncols columns, each element's cells made by row().
 */
static int
list_cmd(const char *noun, const char *member, size_t ncols,
	 const char *const *head, unsigned right,
	 void (*row)(const json_t *elem, char **cells), int argc, char **argv)
{
	char label[48], wire[64];
	struct render_table t;
	json_t *res, *elem;
	size_t i;
	int st;

	snprintf(label, sizeof(label), "%s list", noun);
	snprintf(wire, sizeof(wire), "%s.list", noun);
	st = no_args(label, label, argc, argv);
	if (st != ST_OK)
		return st;
	res = call(wire, NULL);
	if (res == NULL)
		return call_status();
	if (jobctl.json) {
		print_json(res);
		json_decref(res);
		return ST_OK;
	}
	render_table_init(&t, ncols, head, right, 99);
	json_array_foreach (json_object_get(res, member), i, elem) {
		char *cells[16];

		row(elem, cells);
		render_table_add(&t, NULL, cells);
	}
	render_table_print(&t, stdout, term_cols(STDOUT_FILENO));
	json_decref(res);
	return ST_OK;
}

static void
queue_row(const json_t *q, char **cells)
{
	json_t *counts = json_object_get(q, "counts");

	cells[0] = dup_str(jstr(q, "name") ? jstr(q, "name") : "-");
	cells[1] = render_value(json_object_get(q, "concurrency"));
	/* 0 (or an older jobd's missing key): no cap. */
	cells[2] =
		jint(q, "global_concurrency", 0) > 0
			? render_value(json_object_get(q, "global_concurrency"))
			: dup_str("-");
	cells[3] = fmt("%lld", (long long)jint(counts, "running", 0));
	cells[4] = fmt("%lld", (long long)pending_of(counts));
	cells[5] = render_value(json_object_get(q, "capacity"));
	cells[6] = render_rate(json_object_get(q, "rate"));
	cells[7] = dup_str(json_is_true(json_object_get(q, "paused")) ? "yes"
								      : "no");
}

static int
queue_list(int argc, char **argv)
{
	static const char *const head[] = {"NAME",    "CONCURRENCY", "GLOBAL",
					   "RUNNING", "PENDING",     "CAPACITY",
					   "RATE",    "PAUSED"};

	return list_cmd("queue", "queues", 8, head, 0x3e, queue_row, argc,
			argv);
}

/*
 * A command that takes one NAME: "NOUN VERB NAME" sends {"cmd":
 * "NOUN.WIRE", "name": NAME}.  With show, prints the result's NOUN member
 * (a queue or producer object) as key: value lines with keys; otherwise
 * prints nothing but with --json.
 */
static int
name_cmd(const char *noun, const char *verb, const char *wire, bool show,
	 const char *const *keys, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char label[48], synopsis[64], cmd[64];
	int ch;

	snprintf(label, sizeof(label), "%s %s", noun, verb);
	snprintf(synopsis, sizeof(synopsis), "%s NAME", label);
	snprintf(cmd, sizeof(cmd), "%s.%s", noun, wire);
	opts_begin(label, argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_JSON)
			jobctl.json = true;
		else if (ch == 'h')
			return help(synopsis);
		else
			return usage(synopsis);
	}
	if (argc - optind != 1)
		return usage(synopsis);
	if (strcmp(wire, "delete") == 0 && !jobctl.json) {
		/* Deleting a queue deletes its finished jobs: say how many. */
		json_t *res =
			call(cmd, json_pack("{ss}", "name", argv[optind]));
		char *name = render_text(argv[optind]);

		if (res != NULL &&
		    json_is_integer(json_object_get(res, "deleted")))
			printf("deleted %s %s and its %lld finished jobs\n",
			       noun, name, (long long)jint(res, "deleted", 0));
		free(name);
		if (res == NULL)
			return call_status();
		json_decref(res);
		return ST_OK;
	}
	return call_show(cmd, json_pack("{ss}", "name", argv[optind]),
			 show ? noun : NULL, keys);
}

/* A family of subcommands, "queue ..." or "producer ...". */
struct family {
	const char *noun;	 /* "queue": names the wire commands too */
	const char *synopsis;	 /* for usage and help */
	const char *const *keys; /* the object's keys, for get */
	int (*list)(int argc, char **argv);
	int (*add)(int argc, char **argv);
	int (*set)(int argc, char **argv); /* NULL: no set */
};

/* Runs "NOUN SUB ARGS...": argv[1] is SUB. */
static int
family_cmd(const struct family *f, int argc, char **argv)
{
	/* The subcommands that take just a NAME. */
	static const struct {
		const char *verb, *alias, *wire;
		bool show;
	} by_name[] = {
		{"get", NULL, "get", true},
		{"rm", "delete", "delete", false},
		{"pause", NULL, "pause", false},
		{"resume", NULL, "resume", false},
	};
	const char *sub;

	if (argc < 2)
		return usage(f->synopsis);
	sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
		return help(f->synopsis);
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
		return f->list(argc - 1, argv + 1);
	if (strcmp(sub, "add") == 0 || strcmp(sub, "create") == 0)
		return f->add(argc - 1, argv + 1);
	if (f->set != NULL &&
	    (strcmp(sub, "set") == 0 || strcmp(sub, "update") == 0))
		return f->set(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++) {
		if (strcmp(sub, by_name[i].verb) == 0 ||
		    (by_name[i].alias != NULL &&
		     strcmp(sub, by_name[i].alias) == 0))
			return name_cmd(f->noun, by_name[i].verb,
					by_name[i].wire, by_name[i].show,
					f->keys, argc - 1, argv + 1);
	}
	fprintf(stderr, "jobctl %s: unknown subcommand '%s'\n", f->noun, sub);
	return usage(f->synopsis);
}

/* What queue add's or set's options gathered. */
struct queue_opts {
	json_t *args; /* owned: the request's members */
	json_t *rate; /* owned: --rate's object or JSON null; NULL: none */
	double burst; /* --burst; -1: none */
	bool create;  /* queue add (else queue set) */
};

/* --concurrency, --global-concurrency, --capacity, --max-attempts: a
 * count. */
static int
queue_count(json_t *args, int ch, const char *arg)
{
	int64_t n;

	if (!parse_i64(arg, 0, INT32_MAX, &n))
		return bad_value("number", arg);
	json_object_set_new(args,
			    ch == OPT_CONCURRENCY ? "concurrency"
			    : ch == OPT_GLOBAL_CONCURRENCY
				    ? "global_concurrency"
			    : ch == OPT_CAPACITY ? "capacity"
						 : "max_attempts",
			    json_integer(n));
	return ST_OK;
}

/* --timeout, --kill-grace, --backoff: the queue's job defaults. */
static int
queue_default(json_t *args, int ch, const char *arg)
{
	double secs;
	json_t *v;

	if (ch == OPT_BACKOFF) {
		v = parse_backoff(arg);
		if (v == NULL)
			return bad_value("backoff ('BASE FACTOR MAX "
					 "JITTER')",
					 arg);
		json_object_set_new(args, "backoff", v);
		return ST_OK;
	}
	if (jobd_duration_parse(arg, &secs) != 0)
		return bad_duration(
			ch == OPT_TIMEOUT ? "--timeout" : "--kill-grace", arg);
	json_object_set_new(args, ch == OPT_TIMEOUT ? "timeout" : "kill_grace",
			    json_num(secs));
	return ST_OK;
}

/* --on-failure, --on-success, --on-finish: a job spec object as JSON,
 * or "none" (null: no hook), into args. */
static int
hook_option(json_t *args, int ch, const char *arg)
{
	const char *key = ch == OPT_ON_FAILURE	 ? "on_failure"
			  : ch == OPT_ON_SUCCESS ? "on_success"
						 : "on_finish";
	json_t *v = strcmp(arg, "none") == 0 ? json_null()
					     : json_loads(arg, 0, NULL);

	if (!json_is_object(v) && !json_is_null(v)) {
		json_decref(v);
		return bad_value(key, arg);
	}
	json_object_set_new(args, key, v);
	return ST_OK;
}

/* --retention, --retention-STATE (a duration, or none: not set) and
 * --keep-last. */
static int
queue_retention(json_t *args, int ch, const char *arg)
{
	static const char *const keys[] = {"retention", "retention_succeeded",
					   "retention_failed",
					   "retention_cancelled"};
	double secs;
	int64_t n;

	if (ch == OPT_KEEP_LAST) {
		if (!parse_i64(arg, 0, 1000000000, &n))
			return bad_value("number (0 = no cap)", arg);
		json_object_set_new(args, "keep_last", json_integer(n));
		return ST_OK;
	}
	const char *key = keys[ch - OPT_RETENTION];
	if (strcmp(arg, "none") == 0) {
		json_object_set_new(args, key, json_null());
		return ST_OK;
	}
	if (jobd_duration_parse(arg, &secs) != 0)
		return bad_value("duration (or none)", arg);
	json_object_set_new(args, key, json_num(secs));
	return ST_OK;
}

/* One option of queue add or set.  Returns ST_OK or the status to exit
 * with. */
static int
queue_option(struct queue_opts *o, int ch, const char *arg)
{
	char *end;

	switch (ch) {
	case OPT_CONCURRENCY:
	case OPT_GLOBAL_CONCURRENCY:
	case OPT_CAPACITY:
	case OPT_MAX_ATTEMPTS:
		return queue_count(o->args, ch, arg);
	case OPT_RATE:
		json_decref(o->rate);
		o->rate = parse_rate(arg);
		if (o->rate == NULL)
			return bad_value("rate (N/s, N/m, N/h, N/d, "
					 "N/DURATION such as 5/30s, "
					 "none or 0)",
					 arg);
		return ST_OK;
	case OPT_BURST:
		errno = 0;
		o->burst = strtod(arg, &end);
		if (errno != 0 || *end != '\0' || !(o->burst > 0) ||
		    !isfinite(o->burst))
			return bad_value("burst", arg);
		return ST_OK;
	case OPT_TIMEOUT:
	case OPT_KILL_GRACE:
	case OPT_BACKOFF:
		return queue_default(o->args, ch, arg);
	case OPT_SNOOZE_EXIT:
	case OPT_SNOOZE:
	case OPT_MAX_SNOOZES:
		return snooze_option(o->args, ch, arg);
	case OPT_RETENTION:
	case OPT_RETENTION_SUCCEEDED:
	case OPT_RETENTION_FAILED:
	case OPT_RETENTION_CANCELLED:
	case OPT_KEEP_LAST:
		return queue_retention(o->args, ch, arg);
	case OPT_PAUSED:
		/* queue set has pause and resume for that. */
		if (!o->create) {
			fprintf(stderr,
				"%s: --paused is for queue add; use "
				"jobctl queue pause NAME\n",
				jobctl.prog);
			return ST_USAGE;
		}
		json_object_set_new(o->args, "paused", json_true());
		return ST_OK;
	case OPT_LABEL:
	case OPT_NO_LABELS: {
		json_t *l = json_object_get(o->args, "labels");

		if (!json_is_object(l)) {
			l = json_object();
			json_object_set_new(o->args, "labels", l);
		}
		return ch == OPT_NO_LABELS || add_label(l, arg) ? ST_OK
								: ST_USAGE;
	}
	case OPT_ON_FAILURE:
	case OPT_ON_SUCCESS:
	case OPT_ON_FINISH:
		return hook_option(o->args, ch, arg);
	case OPT_JSON:
		jobctl.json = true;
		return ST_OK;
	case 'h':
		return help(u_queue);
	default:
		if (limit_is_option(ch))
			return limit_option(o->args, ch, arg);
		return usage(u_queue);
	}
}

/* --burst: sets the burst on the rate given, or with queue set and no
 * --rate, on the queue's current rate.  Returns an exit status. */
static int
queue_burst(struct queue_opts *o, const char *name)
{
	if (o->rate == NULL && !o->create) {
		/* --burst alone changes the burst of the queue's current
		 * rate. */
		json_t *q = call("queue.get", json_pack("{ss}", "name", name));

		if (q == NULL)
			return call_status();
		o->rate = json_deep_copy(
			json_object_get(json_object_get(q, "queue"), "rate"));
		json_decref(q);
	}
	if (!json_is_object(o->rate)) {
		fprintf(stderr, "%s: --burst needs a rate (--rate)\n",
			jobctl.prog);
		return usage(u_queue);
	}
	json_object_set_new(o->rate, "burst", json_num(o->burst));
	return ST_OK;
}

/* queue set's limits: the keys given over the queue's current ones, since
 * queue.update replaces the whole object.  Returns an exit status. */
static int
queue_limits(struct queue_opts *o, const char *name)
{
	json_t *given = json_object_get(o->args, "limits");
	json_t *q;

	if (o->create || given == NULL)
		return ST_OK;
	q = call("queue.get", json_pack("{ss}", "name", name));
	if (q == NULL)
		return call_status();
	limit_merge(o->args,
		    json_object_get(json_object_get(q, "queue"), "limits"),
		    given);
	json_decref(q);
	return ST_OK;
}

/* queue add / queue set. */
static int
queue_edit(int argc, char **argv, bool create)
{
	static const struct option opts[] = {
		{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
		{"global-concurrency", required_argument, NULL,
		 OPT_GLOBAL_CONCURRENCY},
		{"rate", required_argument, NULL, OPT_RATE},
		{"burst", required_argument, NULL, OPT_BURST},
		{"capacity", required_argument, NULL, OPT_CAPACITY},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
		{"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
		{"backoff", required_argument, NULL, OPT_BACKOFF},
		{"paused", no_argument, NULL, OPT_PAUSED},
		SNOOZE_OPTIONS,
		{"retention", required_argument, NULL, OPT_RETENTION},
		{"retention-succeeded", required_argument, NULL,
		 OPT_RETENTION_SUCCEEDED},
		{"retention-failed", required_argument, NULL,
		 OPT_RETENTION_FAILED},
		{"retention-cancelled", required_argument, NULL,
		 OPT_RETENTION_CANCELLED},
		{"keep-last", required_argument, NULL, OPT_KEEP_LAST},
		{"label", required_argument, NULL, OPT_LABEL},
		{"no-labels", no_argument, NULL, OPT_NO_LABELS},
		{"on-failure", required_argument, NULL, OPT_ON_FAILURE},
		{"on-success", required_argument, NULL, OPT_ON_SUCCESS},
		{"on-finish", required_argument, NULL, OPT_ON_FINISH},
		LIMIT_OPTIONS,
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct queue_opts o = {
		.args = json_object(),
		.burst = -1,
		.create = create,
	};
	int ch, st = ST_OK;

	opts_begin(create ? "queue add" : "queue set", argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		st = queue_option(&o, ch, optarg);
		if (st != ST_OK)
			goto out;
	}
	if (argc - optind != 1) {
		st = usage(u_queue);
		goto out;
	}
	if (o.burst > 0 && (st = queue_burst(&o, argv[optind])) != ST_OK)
		goto out;
	if ((st = queue_limits(&o, argv[optind])) != ST_OK)
		goto out;
	if (o.rate != NULL)
		json_object_set(o.args, "rate", o.rate);
	if (!create && json_object_size(o.args) == 0) {
		fprintf(stderr, "%s: nothing to change\n", jobctl.prog);
		st = usage(u_queue);
		goto out;
	}
	json_object_set_new(o.args, "name", json_string(argv[optind]));
	st = call_show(create ? "queue.create" : "queue.update",
		       json_incref(o.args), "queue", queue_keys);
out:
	json_decref(o.rate);
	json_decref(o.args);
	return st;
}

static int
queue_add(int argc, char **argv)
{
	return queue_edit(argc, argv, true);
}

static int
queue_set(int argc, char **argv)
{
	return queue_edit(argc, argv, false);
}

int
cmd_queue(int argc, char **argv)
{
	static const struct family queue = {
		"queue", u_queue, queue_keys, queue_list, queue_add, queue_set,
	};

	return family_cmd(&queue, argc, argv);
}

static void
producer_row(const json_t *p, char **cells)
{
	static const char *const cols[] = {"name",   "type",	 "queue",
					   "state",  "produced", "skipped",
					   "errors", "last_run", "next_run"};

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		cells[i] = render_value(json_object_get(p, cols[i]));
}

static int
producer_list(int argc, char **argv)
{
	static const char *const head[] = {"NAME",   "TYPE",	 "QUEUE",
					   "STATE",  "PRODUCED", "SKIPPED",
					   "ERRORS", "LAST_RUN", "NEXT_RUN"};

	return list_cmd("producer", "producers", 9, head, 0x70, producer_row,
			argc, argv);
}

/* What producer add's options gathered. */
struct producer_opts {
	json_t *p;	   /* owned: the producer object being built */
	json_t *tmpl;	   /* owned: --job's template; NULL: none yet */
	json_t *env;	   /* owned: the -e variables */
	json_t *lim;	   /* owned: the limit options, as "limits" */
	const char *type;  /* --type, borrowed from argv */
	const char *shell; /* -c, borrowed from argv */
	char *cwd;	   /* owned: --cwd, made absolute */
	bool no_env;	   /* --no-env */
};

/* --type, --format, --restart: one of a fixed list of words. */
static int
producer_choice(struct producer_opts *o, int ch, const char *arg)
{
	static const char *const types[] = {"interval", "cron", "command",
					    NULL};
	static const char *const formats[] = {"json", "lines", NULL};
	static const char *const restarts[] = {"never", "on-failure", "always",
					       NULL};

	if (ch == OPT_TYPE) {
		if (!listed(types, arg))
			return bad_value("type (interval, cron or "
					 "command)",
					 arg);
		o->type = arg;
	} else if (ch == OPT_FORMAT) {
		if (!listed(formats, arg))
			return bad_value("format (json or lines)", arg);
		json_object_set_new(o->p, "format", json_string(arg));
	} else {
		if (!listed(restarts, arg))
			return bad_value("restart (never, on-failure or "
					 "always)",
					 arg);
		json_object_set_new(o->p, "restart", json_string(arg));
	}
	return ST_OK;
}

/* --every, --job: a duration, a JSON template. */
static int
producer_value(struct producer_opts *o, int ch, const char *arg)
{
	json_error_t err;
	double secs;

	if (ch == OPT_EVERY) {
		if (jobd_duration_parse(arg, &secs) != 0)
			return bad_duration("--every", arg);
		json_object_set_new(o->p, "every", json_num(secs));
		return ST_OK;
	}
	json_decref(o->tmpl);
	o->tmpl = json_loads(arg, 0, &err);
	if (!json_is_object(o->tmpl))
		return bad_value("job (a JSON object)", arg);
	return ST_OK;
}

/* One option of producer add.  Returns ST_OK or the status to exit
 * with. */
static int
producer_option(struct producer_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_TYPE:
	case OPT_FORMAT:
	case OPT_RESTART:
		return producer_choice(o, ch, arg);
	case OPT_EVERY:
	case OPT_JOB:
		return producer_value(o, ch, arg);
	case OPT_SCHEDULE:
		json_object_set_new(o->p, "schedule", json_string(arg));
		return ST_OK;
	case 'q':
		json_object_set_new(o->p, "queue", json_string(arg));
		return ST_OK;
	case OPT_OVERLAP:
		json_object_set_new(o->p, "overlap", json_true());
		return ST_OK;
	case OPT_GENERATOR:
		json_object_set_new(o->p, "generator",
				    json_pack("{ss}", "shell", arg));
		return ST_OK;
	case OPT_CWD:
		free(o->cwd);
		o->cwd = absolute_dir(arg);
		return ST_OK;
	case 'e':
		if (!env_add(o->env, arg))
			return bad_value("KEY=VAL", arg);
		return ST_OK;
	case 'c':
		o->shell = arg;
		return ST_OK;
	case OPT_NO_ENV:
		o->no_env = true;
		return ST_OK;
	case OPT_JSON:
		jobctl.json = true;
		return ST_OK;
	case 'h':
		return help(u_producer);
	default:
		if (limit_is_option(ch))
			return limit_option(o->lim, ch, arg);
		return usage(u_producer);
	}
}

/*
 * Completes the job template: the command (argv[optind..] or -c), and like
 * submit, the jobs (and the generator) run where jobctl runs, with its
 * environment, unless told otherwise.  Then checks that the type has what
 * it needs.  Returns ST_OK or the status to exit with.
 */
static int
producer_template(struct producer_opts *o, int argc, char **argv)
{
	if (o->tmpl == NULL)
		o->tmpl = json_object();
	if ((optind < argc || o->shell != NULL) &&
	    !set_command(o->tmpl, argc - optind, argv + optind, o->shell))
		return usage(u_producer);
	if (o->cwd == NULL && json_object_get(o->tmpl, "cwd") == NULL)
		o->cwd = current_dir();
	if (o->cwd != NULL)
		json_object_set_new(o->tmpl, "cwd", json_string(o->cwd));
	if (!o->no_env && json_object_get(o->tmpl, "env") == NULL) {
		json_t *mine = env_from_environ();
		json_object_update(mine, o->env);
		json_decref(o->env);
		o->env = mine;
	}
	if (json_object_size(o->env) > 0)
		json_object_set(o->tmpl, "env", o->env);
	/* The limit options over --job's limits, as queue set does over
	 * the queue's. */
	json_t *given = json_object_get(o->lim, "limits");
	if (given != NULL)
		limit_merge(o->tmpl, json_object_get(o->tmpl, "limits"), given);
	if (strcmp(o->type, "command") != 0 && json_object_size(o->tmpl) == 0) {
		fprintf(stderr,
			"%s: give the job: -- ARGV..., -c 'SHELL' or "
			"--job JSON\n",
			jobctl.prog);
		return usage(u_producer);
	}
	if (strcmp(o->type, "command") == 0 &&
	    json_object_get(o->p, "generator") == NULL) {
		fprintf(stderr, "%s: a command producer needs --generator\n",
			jobctl.prog);
		return usage(u_producer);
	}
	return ST_OK;
}

static int
producer_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{"type", required_argument, NULL, OPT_TYPE},
		{"every", required_argument, NULL, OPT_EVERY},
		{"schedule", required_argument, NULL, OPT_SCHEDULE},
		{"queue", required_argument, NULL, 'q'},
		{"overlap", no_argument, NULL, OPT_OVERLAP},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"restart", required_argument, NULL, OPT_RESTART},
		{"generator", required_argument, NULL, OPT_GENERATOR},
		{"job", required_argument, NULL, OPT_JOB},
		{"cwd", required_argument, NULL, OPT_CWD},
		{"env", required_argument, NULL, 'e'},
		{"no-env", no_argument, NULL, OPT_NO_ENV},
		{"shell", required_argument, NULL, 'c'},
		LIMIT_OPTIONS,
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct producer_opts o = {
		.p = json_object(),
		.env = json_object(),
		.lim = json_object(),
	};
	const char *name = NULL;
	int ch, st = ST_OK;

	/* NAME comes first; the options stop at the job's argv. */
	if (argc >= 2 && argv[1][0] != '-') {
		name = argv[1];
		argv++;
		argc--;
	}
	opts_begin("producer add", argv);
	while ((ch = getopt_long(argc, argv, "+q:e:c:h", opts, NULL)) != -1) {
		st = producer_option(&o, ch, optarg);
		if (st != ST_OK)
			goto out;
	}
	if (name == NULL && optind < argc && strcmp(argv[optind - 1], "--"))
		name = argv[optind++];
	if (name == NULL || o.type == NULL) {
		fprintf(stderr, "%s: a NAME and --type are needed\n",
			jobctl.prog);
		st = usage(u_producer);
		goto out;
	}
	st = producer_template(&o, argc, argv);
	if (st != ST_OK)
		goto out;
	json_object_set_new(o.p, "name", json_string(name));
	json_object_set_new(o.p, "type", json_string(o.type));
	json_object_set(o.p, "job", o.tmpl);
	st = call_show("producer.create", json_pack("{sO}", "producer", o.p),
		       "producer", producer_keys);
out:
	free(o.cwd);
	json_decref(o.tmpl);
	json_decref(o.env);
	json_decref(o.lim);
	json_decref(o.p);
	return st;
}

int
cmd_producer(int argc, char **argv)
{
	static const struct family producer = {
		"producer",    u_producer,   producer_keys,
		producer_list, producer_add, NULL,
	};

	return family_cmd(&producer, argc, argv);
}
