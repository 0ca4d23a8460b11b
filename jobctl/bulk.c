/*
 * Cancel and retry by filter: the jobs of a queue, in some states, with
 * some labels, of a name or created in a span of time, picked by jobd
 * (only the caller's own unless root), which answers how many it matched
 * and how many it changed.
 */
#include "jobctl.h"

#include "jobd/proto.h"
#include "jobd/time.h"
#include "render.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_NAME = OPT_NO_LABELS + 100,
	OPT_BEFORE,
	OPT_AFTER_T,
	OPT_SINCE,
	OPT_FAILED,
	OPT_YES,
};

bool
bulk_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return false;
		if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--json") != 0 &&
		    strcmp(a, "-h") != 0 && strcmp(a, "--help") != 0)
			return true;
	}
	return false;
}

/* The time "ago" before now, as RFC 3339, into out (JOBD_TIME_LEN).  The
 * one place --since reads a duration.  false when ago is not one. */
static bool
since_time(const char *ago, char *out)
{
	double secs;
	if (jobd_duration_parse(ago, &secs) != 0 || !(secs >= 0))
		return false;
	jobd_time_format(jobd_time_now_ms() - (int64_t)(secs * 1000.0), out);
	return true;
}

/* Whether the user, asked on the terminal, agrees to what. */
static bool
confirmed(const char *what)
{
	char line[16];
	fprintf(stderr, "%s? [y/N] ", what);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* Reads cancel's or retry's filter options into filter.  Returns ST_OK,
 * or the status to exit with. */
static int
filter_args(const char *name, const char *synopsis, int argc, char **argv,
	    json_t *filter, bool *all, bool *yes)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"state", required_argument, NULL, 'S'},
		{"label", required_argument, NULL, 'l'},
		{"name", required_argument, NULL, OPT_NAME},
		{"before", required_argument, NULL, OPT_BEFORE},
		{"after", required_argument, NULL, OPT_AFTER_T},
		{"since", required_argument, NULL, OPT_SINCE},
		{"failed", no_argument, NULL, OPT_FAILED},
		{"all", no_argument, NULL, OPT_ALL},
		{"yes", no_argument, NULL, OPT_YES},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *states = json_array(), *labels = json_object();
	char t[JOBD_TIME_LEN];
	int64_t ms;
	int ch, st = ST_OK;

	opts_begin(name, argv);
	while (st == ST_OK &&
	       (ch = getopt_long(argc, argv, "q:S:s:l:yh", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			json_object_set_new(filter, "queue",
					    json_string(optarg));
			break;
		case 'S':
		case 's':
			if (!add_states(states, optarg))
				st = ST_USAGE;
			break;
		case 'l':
			if (!add_label(labels, optarg))
				st = ST_USAGE;
			break;
		case OPT_NAME:
			json_object_set_new(filter, "name",
					    json_string(optarg));
			break;
		case OPT_BEFORE:
		case OPT_AFTER_T:
			if (jobd_time_parse(optarg, &ms) != 0) {
				st = bad_value("time", optarg);
				break;
			}
			json_object_set_new(
				filter, ch == OPT_BEFORE ? "before" : "after",
				json_string(jobd_time_format(ms, t)));
			break;
		case OPT_SINCE:
			if (!since_time(optarg, t)) {
				st = bad_value("duration", optarg);
				break;
			}
			json_object_set_new(filter, "after", json_string(t));
			break;
		case OPT_FAILED:
			json_array_append_new(states, json_string("failed"));
			break;
		case OPT_ALL:
			*all = true;
			break;
		case 'y':
		case OPT_YES:
			*yes = true;
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			st = help(synopsis);
			break;
		default:
			st = usage(synopsis);
		}
	}
	if (st == ST_OK && optind < argc) {
		fprintf(stderr, "%s: job ids not with a filter\n", jobctl.prog);
		st = usage(synopsis);
	}
	if (json_array_size(states) > 0)
		json_object_set(filter, "state", states);
	if (json_object_size(labels) > 0)
		json_object_set(filter, "labels", labels);
	json_decref(states);
	json_decref(labels);
	if (st == ST_OK && json_object_size(filter) == 0 && !*all) {
		fprintf(stderr,
			"%s: no filter given; --all for every job you may "
			"touch\n",
			jobctl.prog);
		st = usage(synopsis);
	}
	return st;
}

/* Runs cancel or retry (cmd) with a filter; what says what it does, for
 * the question --all asks on a terminal. */
static int
bulk_run(const char *cmd, const char *synopsis, const char *what, int argc,
	 char **argv)
{
	json_t *filter = json_object(), *res;
	bool all = false, yes = false;
	int st = filter_args(cmd, synopsis, argc, argv, filter, &all, &yes);

	if (st != ST_OK)
		goto out;
	if (all && json_object_size(filter) == 0 && !yes &&
	    isatty(STDIN_FILENO) && isatty(STDERR_FILENO) && !confirmed(what)) {
		fprintf(stderr, "%s: nothing done\n", jobctl.prog);
		st = ST_ERROR;
		goto out;
	}
	res = call(cmd, json_pack("{sO}", "filter", filter));
	if (res == NULL) {
		st = call_status();
		goto out;
	}
	if (jobctl.json)
		print_json(res);
	else
		printf("matched: %lld\nchanged: %lld\n",
		       (long long)jint(res, "matched", 0),
		       (long long)jint(res, "changed", 0));
	json_decref(res);
out:
	json_decref(filter);
	return st;
}

int
bulk_cancel(const char *synopsis, int argc, char **argv)
{
	return bulk_run("cancel", synopsis, "cancel every unfinished job", argc,
			argv);
}

int
bulk_retry(const char *synopsis, int argc, char **argv)
{
	return bulk_run("retry", synopsis,
			"retry every failed or cancelled job", argc, argv);
}
