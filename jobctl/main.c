/*
 * jobctl's main: the global options (-s, --json, --help, --version), the
 * top-level usage, and the table that dispatches a command to its family
 * (see jobctl.h for the program's layout and its exit statuses).
 */
#include "jobctl.h"

#include "jobd/client.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif

static const char usage_text[] =
	"usage: jobctl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
	"\n"
	"commands:\n"
	"  ping\n"
	"  submit [-q QUEUE] [-n NAME] [-t TIMEOUT] [-a MAX_ATTEMPTS]\n"
	"         [-p PRIORITY] [--delay D | --at TIME] [--after ID[,ID...]]\n"
	"         [--unique KEY] [--cwd DIR] [--no-env] [-e KEY=VAL]...\n"
	"         [-l KEY=VALUE]... [--kill-grace D] [--output "
	"capture|discard] [--user USER]\n"
	"         [--linger] [--memory SIZE] [--nofile N] [--cpu-time D]\n"
	"         [--snooze-exit N|none] [--snooze D|backoff]\n"
	"         [--max-snoozes N]\n"
	"         [--wait [--follow]] (-- ARGV... | -c 'SHELL')\n"
	"  submit --batch FILE|- [--no-env]\n"
	"  get ID [--env]\n"
	"  result ID\n"
	"  list [-q QUEUE] [-S STATE[,STATE...]]... [-l KEY=VALUE]...\n"
	"       [-n LIMIT] [--all] [--reverse] [--before-id ID | --after-id "
	"ID]\n"
	"       [--wide] [--absolute]\n"
	"  cancel ID... | FILTER... | --all [--yes]\n"
	"  retry ID... | --failed [-q QUEUE] [--since D] [FILTER...]\n"
	"  restart ID...\n"
	"  wait ID... [--any] [--timeout T]\n"
	"  wait [-l KEY=VALUE]... [-q QUEUE] [--any] [--timeout T]\n"
	"  logs [ID] [-f] [--tail N] [--attempt N]\n"
	"  watch [-q QUEUE] [-l KEY=VALUE]... [--job ID]\n"
	"  top\n"
	"  queue list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"  queue add|set NAME [--concurrency N] [--global-concurrency N]\n"
	"        [--rate N/PERIOD|none]\n"
	"        [--burst B] [--capacity N] [--timeout T] [--kill-grace D]\n"
	"        [--max-attempts N] [--backoff 'BASE FACTOR MAX JITTER']\n"
	"        [--memory SIZE] [--nofile N] [--cpu-time D]\n"
	"        [--snooze-exit N|none] [--snooze D|backoff]\n"
	"        [--max-snoozes N]\n"
	"        [--label KEY=VALUE]... [--no-labels] [--paused]\n"
	"  producer list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"  producer add NAME --type interval|cron|command [--every D]\n"
	"        [--schedule CRON] [-q QUEUE] [--overlap]\n"
	"        [--format json|lines]\n"
	"        [--restart never|on-failure|always] [--generator 'SHELL']\n"
	"        [--job JSON] [--cwd DIR] [--no-env] [-e KEY=VAL]...\n"
	"        [--memory SIZE] [--nofile N] [--cpu-time D]\n"
	"        [-- ARGV... | -c 'SHELL']\n"
	"  stats [--prometheus]\n"
	"  nodes\n"
	"  prune --older-than D\n"
	"  reload\n"
	"  shutdown [--now]\n"
	"  help [COMMAND]\n"
	"\n"
	"'jobctl help COMMAND' (or 'jobctl COMMAND -h') describes its "
	"options.\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH  jobd's socket (default: $JOBD_SOCKET, else\n"
	"                     the user socket if it exists, else\n"
	"                     /run/jobd/jobd.sock)\n"
	"      --json         print the raw JSON results, one a line\n"
	"  -h, --help         print this help\n"
	"      --version      print jobctl's version\n"
	"\n"
	"exit status: 0 ok, 1 jobd answered an error or a job did not\n"
	"succeed, 2 usage or an invalid value (whichever side refused it),\n"
	"3 cannot reach jobd, 124 wait --timeout ran out.\n";

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{"ping", cmd_ping},	{"submit", cmd_submit},
	{"get", cmd_get},	{"result", cmd_result},
	{"list", cmd_list},	{"ls", cmd_list},
	{"cancel", cmd_cancel}, {"retry", cmd_retry},
	{"wait", cmd_wait},	{"logs", cmd_logs},
	{"watch", cmd_watch},	{"top", cmd_top},
	{"queue", cmd_queue},	{"producer", cmd_producer},
	{"stats", cmd_stats},	{"prune", cmd_prune},
	{"reload", cmd_reload}, {"shutdown", cmd_shutdown},
	{"nodes", cmd_nodes},	{"restart", cmd_restart},
	{"help", cmd_help},
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

/* help, or help COMMAND: that command's own help. */
static int
cmd_help(int argc, char **argv)
{
	static char dash_h[] = "-h";

	if (argc < 2) {
		fputs(usage_text, stdout);
		return ST_OK;
	}
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].name, argv[1]) == 0 &&
		    commands[i].fn != cmd_help) {
			char *args[] = {argv[1], dash_h, NULL};

			return commands[i].fn(2, args);
		}
	fprintf(stderr, "jobctl: unknown command '%s'\n", argv[1]);
	return ST_USAGE;
}

static void
cleanup(void)
{
	top_restore();
	jobd_client_close(jobctl.conn);
	jobctl.conn = NULL;
	free(jobctl.path);
	jobctl.path = NULL;
}

/* Colour on stdout: a terminal, NO_COLOR unset or empty, TERM set and not
 * dumb. */
static bool
want_color(void)
{
	const char *term = getenv("TERM");

	const char *no = getenv("NO_COLOR");

	/* no-color.org: NO_COLOR set and not empty. */
	return isatty(STDOUT_FILENO) && (no == NULL || no[0] == '\0') &&
	       term != NULL && strcmp(term, "dumb") != 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	static const char short_usage[] =
		"usage: jobctl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
		"try 'jobctl --help' for the commands\n";
	static char progname[] = "jobctl";
	const struct command *cmd = NULL;
	int ch, st;

	atexit(cleanup);
	argv[0] = progname;
	while ((ch = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			jobctl.socket = optarg;
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return ST_OK;
		case OPT_VERSION:
			printf("jobctl %s\n", JOBD_VERSION);
			return ST_OK;
		default:
			fputs(short_usage, stderr);
			return ST_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(short_usage, stderr);
		return ST_USAGE;
	}
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].name, argv[optind]) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		fprintf(stderr, "jobctl: unknown command '%s'\n", argv[optind]);
		fputs(short_usage, stderr);
		return ST_USAGE;
	}
	jobctl.color = want_color();
	st = cmd->fn(argc - optind, argv + optind);
	if (st == ST_HELP)
		st = ST_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "jobctl: writing output: %s\n",
			strerror(errno));
		if (st == ST_OK)
			st = ST_ERROR;
	}
	return st;
}
