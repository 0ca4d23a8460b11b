/*
 * jobctl: the command-line client of jobd (SPEC 8).  It parses arguments,
 * turns them into the requests of SPEC 5.1 through the client library, and
 * renders the answers for people (aligned tables, colour on a terminal,
 * progress on stderr, the full-screen `top`) or raw with --json.  It holds
 * one connection and nothing else; it never includes anything from daemon/.
 *
 * Exit statuses are SPEC 8's: 0 ok; 1 the daemon answered an error or a job
 * did not succeed; 2 usage; 3 the daemon cannot be reached (or the
 * connection was lost); 124 `wait --timeout` ran out; `submit --wait` exits
 * with the job's own status.  A transport failure exits at once from the
 * helper that met it; everything else returns its status to main().
 */
#include "jobd/client.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef JOBD_VERSION
#define JOBD_VERSION "unknown"
#endif

/* Exit statuses (SPEC 8). */
enum {
	ST_OK = 0,
	ST_ERROR = 1,
	ST_USAGE = 2,
	ST_NOCONN = 3,
	ST_TIMEOUT = 124,
	/* Internal: -h printed the synopsis; main() exits 0. */
	ST_HELP = -1,
};

/* Most jobs one list request may ask for (SPEC 5.1). */
#define LIST_PAGE_MAX 10000
/* Batch submit: most specs and bytes in one request; the bytes stay well
 * under the daemon's default 4 MiB line limit. */
#define BATCH_MAX_JOBS 10000
#define BATCH_MAX_BYTES (3 * 1024 * 1024)
/* Requests in flight at once when probing many jobs. */
#define PIPELINE_WINDOW 256
/* Running jobs `top` asks for. */
#define TOP_MAX_RUNNING 500

/* Long options without a short letter. */
enum {
	OPT_JSON = 256,
	OPT_VERSION,
	OPT_DELAY,
	OPT_AT,
	OPT_AFTER,
	OPT_UNIQUE,
	OPT_CWD,
	OPT_NO_ENV,
	OPT_WAIT,
	OPT_FOLLOW,
	OPT_BATCH,
	OPT_KILL_GRACE,
	OPT_OUTPUT,
	OPT_USER,
	OPT_ALL,
	OPT_AFTER_ID,
	OPT_BEFORE_ID,
	OPT_REVERSE,
	OPT_PAUSED,
	OPT_ENV,
	OPT_TIMEOUT,
	OPT_ATTEMPT,
	OPT_JOB,
	OPT_CONCURRENCY,
	OPT_RATE,
	OPT_BURST,
	OPT_CAPACITY,
	OPT_MAX_ATTEMPTS,
	OPT_BACKOFF,
	OPT_TYPE,
	OPT_EVERY,
	OPT_SCHEDULE,
	OPT_OVERLAP,
	OPT_FORMAT,
	OPT_RESTART,
	OPT_GENERATOR,
	OPT_OLDER_THAN,
	OPT_FLAG, /* flag_args' switch */
};

static struct {
	const char *socket;    /* -s, borrowed from argv; NULL = lookup */
	bool json;	       /* --json: raw result objects */
	bool color;	       /* stdout takes ANSI colours */
	char *path;	       /* owned: the socket path in use */
	struct jobd_client *c; /* owned: connected on first use */
	char prog[64];	       /* "jobctl CMD", for getopt's messages */
} g;

static const char usage_text[] =
	"usage: jobctl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
	"\n"
	"commands:\n"
	"  ping\n"
	"  submit [-q QUEUE] [-n NAME] [-t TIMEOUT] [-a MAX_ATTEMPTS]\n"
	"         [-p PRIORITY] [--delay D | --at TIME] [--after ID[,ID...]]\n"
	"         [--unique KEY] [--cwd DIR] [--no-env] [-e KEY=VAL]...\n"
	"         [--kill-grace D] [--output capture|discard] [--user USER]\n"
	"         [--wait [--follow]] (-- ARGV... | -c 'SHELL')\n"
	"  submit --batch FILE|- [--no-env]\n"
	"  get ID [--env]\n"
	"  list [-q QUEUE] [-S STATE[,STATE...]]... [-n LIMIT] [--all]\n"
	"       [--reverse] [--before-id ID | --after-id ID]\n"
	"  cancel ID...\n"
	"  retry ID...\n"
	"  wait ID... [--timeout T]\n"
	"  logs ID [-f] [--attempt N]\n"
	"  watch [-q QUEUE] [--job ID]\n"
	"  top\n"
	"  queue list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"  queue add|set NAME [--concurrency N] [--rate N/PERIOD|none]\n"
	"        [--burst B] [--capacity N] [--timeout T] [--kill-grace D]\n"
	"        [--max-attempts N] [--backoff 'BASE FACTOR MAX JITTER']\n"
	"        [--paused]\n"
	"  producer list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"  producer add NAME --type interval|cron|command [--every D]\n"
	"        [--schedule CRON] [-q QUEUE] [--overlap]\n"
	"        [--format json|lines]\n"
	"        [--restart never|on-failure|always] [--generator 'SHELL']\n"
	"        [--job JSON] [--cwd DIR] [--no-env] [-e KEY=VAL]...\n"
	"        [-- ARGV... | -c 'SHELL']\n"
	"  stats [--prometheus]\n"
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

/* Per-command help: a usage block with a line per option, for COMMAND -h,
 * `jobctl help COMMAND` and usage errors.  Each starts after "usage:
 * jobctl ". */
static const char u_ping[] = "ping\n"
			     "\n"
			     "Checks that jobd answers: version, pid, uptime.";
static const char u_submit[] =
	"submit [OPTIONS] -- ARGV...\n"
	"       jobctl submit [OPTIONS] -c 'SHELL'\n"
	"       jobctl submit --batch FILE|- [--no-env]\n"
	"\n"
	"Submits a job and prints its id.\n"
	"\n"
	"options:\n"
	"  -q, --queue QUEUE         the queue (default: default)\n"
	"  -n, --name NAME           a name for people\n"
	"  -t, --timeout D           stop the job after D (0 = none)\n"
	"  -a, --max-attempts N      attempts in all, the first included\n"
	"  -p, --priority P          -1000..1000; higher runs first\n"
	"      --delay D             start no sooner than D from now\n"
	"      --at TIME             start no sooner than TIME (RFC 3339)\n"
	"      --after ID[,ID...]    start once these jobs succeeded\n"
	"      --unique KEY          one unfinished job per KEY\n"
	"      --cwd DIR             working directory (default: the "
	"current one)\n"
	"      --no-env              do not send jobctl's environment\n"
	"  -e, --env KEY=VAL         set a variable (repeatable)\n"
	"      --kill-grace D        SIGTERM to SIGKILL gap on timeout\n"
	"      --output capture|discard  keep the output or not\n"
	"      --user USER           run as USER (root only)\n"
	"      --wait                wait, exit with the job's status\n"
	"      --follow              print the output as it comes, then "
	"as --wait\n"
	"  -c, --shell 'SHELL'       run SHELL with /bin/sh -c\n"
	"      --batch FILE|-        one JSON job spec a line\n"
	"      --json                print the raw result";
static const char u_get[] = "get ID [--env] [--json]\n"
			    "\n"
			    "Prints a job as key: value lines.\n"
			    "\n"
			    "options:\n"
			    "      --env   include the environment, one "
			    "KEY=VALUE a line\n"
			    "      --json  print the raw result";
static const char u_list[] =
	"list [-q QUEUE] [-S STATE]... [-n LIMIT] [--all] [--reverse]\n"
	"            [--before-id ID | --after-id ID] [--json]\n"
	"\n"
	"Lists jobs as a table, newest first.\n"
	"\n"
	"options:\n"
	"  -q, --queue QUEUE         jobs of this queue only\n"
	"  -S, -s, --state S[,S...]  jobs in these states only (repeatable)\n"
	"  -n, --limit N             at most N jobs (default: 100)\n"
	"      --all                 every job, page after page\n"
	"      --reverse             oldest first\n"
	"      --before-id ID        jobs older than ID (the next page)\n"
	"      --after-id ID         jobs newer than ID, oldest first\n"
	"      --json                print the raw results";
static const char u_cancel[] = "cancel ID... [--json]\n"
			       "\n"
			       "Cancels unfinished jobs (all or none).";
static const char u_retry[] = "retry ID... [--json]\n"
			      "\n"
			      "Queues failed or cancelled jobs again.";
static const char u_wait[] =
	"wait ID... [--timeout T] [--json]\n"
	"\n"
	"Waits until the jobs have finished, then prints them.\n"
	"\n"
	"options:\n"
	"  -t, --timeout T  give up after T (exit status 124)\n"
	"      --json       print the raw result";
static const char u_logs[] =
	"logs ID [-f] [--attempt N] [--json]\n"
	"\n"
	"Prints a job's output.\n"
	"\n"
	"options:\n"
	"  -f, --follow     go on until the job has finished\n"
	"      --attempt N  that attempt (default: the latest)\n"
	"      --json       print the raw results and events";
static const char u_watch[] =
	"watch [-q QUEUE] [--job ID] [--json]\n"
	"\n"
	"Prints events as they happen.\n"
	"\n"
	"options:\n"
	"  -q, --queue QUEUE  events of this queue only\n"
	"      --job ID       this job only: its state now, then its "
	"events\n"
	"                     until it has finished\n"
	"      --json         print the events as sent";
static const char u_top[] = "top\n"
			    "\n"
			    "A live full-screen view of queues and running "
			    "jobs; q quits.";
static const char u_queue[] =
	"queue list | get NAME | rm NAME | pause NAME | resume NAME\n"
	"       jobctl queue add|set NAME [OPTIONS]\n"
	"\n"
	"options of add and set:\n"
	"      --concurrency N       most jobs running at once\n"
	"      --rate N/PERIOD       most starts per period: N/s, N/m, "
	"N/h, N/d,\n"
	"                            N/DURATION (5/30s); none or 0: no "
	"limit\n"
	"      --burst B             starts the bucket holds\n"
	"      --capacity N          most pending jobs (0 = no limit)\n"
	"      --timeout T           default job timeout\n"
	"      --kill-grace D        default SIGTERM to SIGKILL gap\n"
	"      --max-attempts N      default attempts\n"
	"      --backoff 'BASE FACTOR MAX JITTER'  retry delays\n"
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
	"  -c, --shell 'SHELL'       the jobs' shell command\n"
	"      --json                print the raw result";
static const char u_stats[] = "stats [--prometheus] [--json]\n"
			      "\n"
			      "Prints the daemon's statistics.\n"
			      "\n"
			      "options:\n"
			      "      --prometheus  in Prometheus text format\n"
			      "      --json        print the raw result";
static const char u_prune[] =
	"prune --older-than D [--json]\n"
	"\n"
	"Deletes jobs that finished more than D ago, with their logs.";
static const char u_reload[] = "reload\n"
			       "\n"
			       "Makes jobd read its config file again.";
static const char u_shutdown[] =
	"shutdown [--now]\n"
	"\n"
	"Stops jobd; running jobs get shutdown_timeout to finish.\n"
	"\n"
	"options:\n"
	"      --now  stop running jobs at once (they are queued again)";

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static void oom(void) __attribute__((noreturn));
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static void
oom(void)
{
	fputs("jobctl: out of memory\n", stderr);
	exit(ST_ERROR);
}

/* printf into a new string the caller frees. */
static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

static char *
dup_str(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		oom();
	return d;
}

/* Prints a usage line for one command and returns the usage status. */
static int
usage(const char *synopsis)
{
	fprintf(stderr, "usage: jobctl %s\n", synopsis);
	return ST_USAGE;
}

/* Prints COMMAND -h's synopsis on stdout; returns ST_HELP. */
static int
help(const char *synopsis)
{
	printf("usage: jobctl %s\n", synopsis);
	return ST_HELP;
}

/* Reports a bad option value and returns the usage status. */
static int
bad_value(const char *what, const char *val)
{
	fprintf(stderr, "%s: invalid %s '%s'\n", g.prog, what, val);
	return ST_USAGE;
}

/* Gets ready for getopt_long on a command's arguments: argv[0] becomes
 * "jobctl NAME" so getopt's own messages name the command. */
static void
opts_begin(const char *name, char **argv)
{
	snprintf(g.prog, sizeof(g.prog), "jobctl %s", name);
	argv[0] = g.prog;
	optind = 0;
	opterr = 1;
}

static bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	long long n;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return false;
	*v = n;
	return true;
}

static bool
parse_id(const char *s, int64_t *id)
{
	return parse_i64(s, 1, INT64_MAX, id);
}

/* A number as JSON: an integer when it is one, else a real. */
static json_t *
json_num(double d)
{
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return json_integer((json_int_t)d);
	return json_real(d);
}

static const char *
jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int64_t
jint(const json_t *obj, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

static double
jnum(const json_t *obj, const char *key, double dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static void
print_json(const json_t *j)
{
	json_dumpf(j, stdout,
		   JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	putchar('\n');
}

/* Terminal width of stdout, or 0 when it is not a terminal. */
static int
term_cols(int fd)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}

static int
term_rows(int fd)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0)
		return 24;
	return ws.ws_row;
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

/* ANSI colour for a state name, or NULL (no colour wanted or none fits). */
static const char *
state_color(const char *state)
{
	if (!g.color || state == NULL)
		return NULL;
	switch (jobd_state_parse(state)) {
	case JOBD_SUCCEEDED:
		return "\033[32m";
	case JOBD_FAILED:
		return "\033[31m";
	case JOBD_CANCELLED:
		return "\033[33m";
	case JOBD_RUNNING:
		return "\033[36m";
	case JOBD_WAITING:
	case JOBD_SCHEDULED:
		return "\033[34m";
	default:
		return NULL;
	}
}

/* Display width of UTF-8 text: code points, which is close enough. */
static size_t
text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Byte length of the first max code points of s. */
static size_t
text_prefix(const char *s, size_t max)
{
	size_t i = 0, n = 0;

	while (s[i] != '\0') {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == max)
				break;
			n++;
		}
		i++;
	}
	return i;
}

/* "1h02m03s", "5m12s", "12.3s", "450ms". */
static void
fmt_duration(double secs, char *buf, size_t n)
{
	long long s;

	if (secs < 0 || !isfinite(secs)) {
		snprintf(buf, n, "-");
		return;
	}
	if (secs < 1) {
		snprintf(buf, n, "%.0fms", secs * 1000);
		return;
	}
	if (secs < 60) {
		snprintf(buf, n, "%.1fs", secs);
		return;
	}
	s = (long long)secs;
	if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm%02llds", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, n, "%lldd%02lldh%02lldm", s / 86400,
			 s / 3600 % 24, s / 60 % 60);
}

/* "512 B", "12.3 KiB", "4.0 MiB". */
static void
fmt_size(double bytes, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0f B", bytes);
	else
		snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

/* A JSON value as text for people; the caller frees it. */
static char *
value_text(const json_t *v)
{
	char *s;

	if (v == NULL || json_is_null(v))
		return dup_str("-");
	if (json_is_string(v))
		return render_text(json_string_value(v));
	if (json_is_integer(v))
		return fmt("%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return fmt("%g", json_real_value(v));
	if (json_is_boolean(v))
		return dup_str(json_is_true(v) ? "true" : "false");
	/* An object of plain values (rate, backoff, rusage, counts) reads
	 * best as key=value pairs. */
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *e;
		bool flat = true;
		json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
			if (json_is_object(e) || json_is_array(e))
				flat = false;
		}
		if (flat) {
			char *out = dup_str("");
			json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
				char *t = value_text(e);
				char *n = fmt("%s%s%s=%s", out, *out ? " " : "",
					      k, t);
				free(t);
				free(out);
				out = n;
			}
			return out;
		}
	}
	s = json_dumps(v,
		       JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	if (s == NULL)
		oom();
	{
		char *safe = render_text(s);

		free(s);
		return safe;
	}
}

/* What a person calls a job: its name, else its command.  Caller frees. */
static char *
job_label(const json_t *job)
{
	const char *name = jstr(job, "name");
	json_t *argv = json_object_get(job, "argv");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	size_t i;
	json_t *a;

	if (name != NULL && name[0] != '\0')
		return render_text(name);
	if (jstr(job, "shell") != NULL)
		return render_text(jstr(job, "shell"));
	if (!json_is_array(argv))
		return dup_str("-");
	f = open_memstream(&buf, &len);
	if (f == NULL)
		oom();
	json_array_foreach (argv, i, a) {
		if (i > 0)
			fputc(' ', f);
		render_shell_word(f, json_string_value(a) ? json_string_value(a)
							  : "");
	}
	if (fclose(f) != 0)
		oom();
	return buf;
}

/* ------------------------------------------------------------------ */
/* Tables                                                               */

struct table {
	size_t ncols;
	size_t nrows;	     /* the header included */
	size_t cap;	     /* rows allocated */
	char **cells;	     /* owned: nrows * ncols owned strings */
	const char **colors; /* per row, for column color_col; borrowed */
	size_t color_col;
	unsigned right; /* bit i set: column i is right-aligned */
};

static void
table_add(struct table *t, const char *color, char **cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;

		t->cells = realloc(t->cells, cap * t->ncols * sizeof(char *));
		t->colors = realloc(t->colors, cap * sizeof(char *));
		if (t->cells == NULL || t->colors == NULL)
			oom();
		t->cap = cap;
	}
	memcpy(t->cells + t->nrows * t->ncols, cells,
	       t->ncols * sizeof(char *));
	t->colors[t->nrows++] = color;
}

/* Starts a table with the given header (ncols static strings). */
static void
table_init(struct table *t, size_t ncols, const char *const *head,
	   unsigned right, size_t color_col)
{
	char *cells[16];

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->right = right;
	t->color_col = color_col;
	for (size_t i = 0; i < ncols && i < 16; i++)
		cells[i] = dup_str(head[i]);
	table_add(t, NULL, cells);
}

/* Prints the table aligned, frees it.  On a terminal the last column is cut
 * to the width left. */
static void
table_print(struct table *t)
{
	size_t w[16] = {0}, used = 0, last = t->ncols - 1;
	int cols = term_cols(STDOUT_FILENO);

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t n = text_width(t->cells[r * t->ncols + i]);

			if (n > w[i])
				w[i] = n;
		}
	for (size_t i = 0; i < last; i++)
		used += w[i] + 2;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = text_width(s), pad = w[i] - n;
			const char *color =
				i == t->color_col ? t->colors[r] : NULL;

			if (i == last) {
				if (cols > 0 && (size_t)cols > used + 4 &&
				    n > (size_t)cols - used) {
					size_t room = (size_t)cols - used - 3;

					printf("%.*s...",
					       (int)text_prefix(s, room), s);
				} else {
					fputs(s, stdout);
				}
				break;
			}
			if (t->right & (1u << i))
				printf("%*s", (int)pad, "");
			if (color != NULL)
				fputs(color, stdout);
			fputs(s, stdout);
			if (color != NULL)
				fputs("\033[0m", stdout);
			if (!(t->right & (1u << i)))
				printf("%*s", (int)pad, "");
			fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colors);
	memset(t, 0, sizeof(*t));
}

/* Prints jobs (a JSON array of job objects) as the jobs table. */
static void
print_jobs(const json_t *jobs)
{
	static const char *const head[] = {"ID",	  "QUEUE", "STATE",
					   "REASON",	  "EXIT",  "ATTEMPT",
					   "NAME/COMMAND"};
	struct table t;
	size_t i;
	json_t *job;

	table_init(&t, 7, head, 1u << 0 | 1u << 4, 2);
	json_array_foreach (jobs, i, job) {
		char *cells[7];
		const char *state = jstr(job, "state");
		json_t *sig = json_object_get(job, "signal");
		json_t *code = json_object_get(job, "exit_code");

		cells[0] = fmt("%lld", (long long)jint(job, "id", 0));
		cells[1] = value_text(json_object_get(job, "queue"));
		cells[2] = value_text(json_object_get(job, "state"));
		cells[3] = value_text(json_object_get(job, "reason"));
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
		cells[6] = job_label(job);
		table_add(&t, state_color(state), cells);
	}
	table_print(&t);
}

/* Whether key is one of the NULL-terminated list. */
static bool
listed(const char *const *list, const char *key)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

static char *rate_text(const json_t *rate);

/* Keys whose numbers are durations, shown as jobctl takes them ("30d"). */
static const char *const duration_keys[] = {
	"timeout", "kill_grace", "every", "duration", "uptime", NULL,
};

/* v for people under key: durations, rates and backoffs in the forms
 * jobctl's options take back, the rest by value_text.  Caller frees. */
static char *
pair_text(const char *key, const json_t *v)
{
	char a[JOBD_UNIT_LEN], b[JOBD_UNIT_LEN], c[JOBD_UNIT_LEN],
		d[JOBD_UNIT_LEN];

	if (json_is_number(v) && listed(duration_keys, key)) {
		double secs = json_number_value(v);

		/* A measured duration carries float noise: milliseconds
		 * are enough for people. */
		if (strcmp(key, "duration") == 0)
			secs = round(secs * 1000) / 1000;
		if (jobd_duration_format(secs, a) != NULL)
			return dup_str(a);
	}
	if (strcmp(key, "rate") == 0 && json_is_object(v))
		return rate_text(v);
	if (strcmp(key, "backoff") == 0 && json_is_object(v))
		return fmt("%s %s %s %s",
			   jobd_duration_format(jnum(v, "base", 0), a),
			   jobd_number_format(jnum(v, "factor", 0), b),
			   jobd_duration_format(jnum(v, "max", 0), c),
			   jobd_number_format(jnum(v, "jitter", 0), d));
	return value_text(v);
}

static void
print_pair(const char *key, const json_t *v, size_t w)
{
	const char *color = NULL;
	char *text;

	/* The environment: one KEY=VALUE a line under the key. */
	if (strcmp(key, "env") == 0 && json_is_object(v)) {
		const char *k;
		json_t *e;

		printf("%s:\n", key);
		json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
			char *sk = render_text(k);
			char *sv = value_text(e);

			printf("  %s=%s\n", sk, sv);
			free(sk);
			free(sv);
		}
		return;
	}
	text = pair_text(key, v);
	if (strcmp(key, "state") == 0)
		color = state_color(json_string_value(v));
	printf("%s:%*s %s%s%s\n", key, (int)(w - strlen(key)), "",
	       color ? color : "", text, color ? "\033[0m" : "");
	free(text);
}

/* Prints an object as "key: value" lines: the keys of order (a NULL-ended
 * list) that are present first, then the others in the object's order. */
static void
print_kv(json_t *obj, const char *const *order)
{
	size_t w = 0;
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		if (strlen(key) > w)
			w = strlen(key);
	}
	for (size_t i = 0; order[i] != NULL; i++) {
		v = json_object_get(obj, order[i]);
		if (v != NULL)
			print_pair(order[i], v, w);
	}
	json_object_foreach (obj, key, v) {
		if (!listed(order, key))
			print_pair(key, v, w);
	}
}

/* ------------------------------------------------------------------ */
/* Talking to jobd                                                      */

/* Reports a transport failure on c and exits with status 3. */
static void lost(struct jobd_client *c) __attribute__((noreturn));

static void
lost(struct jobd_client *c)
{
	fprintf(stderr, "jobctl: %s: %s\n", jobd_client_path(c),
		jobd_client_error_message(c));
	exit(ST_NOCONN);
}

/* After a failed connect to path (errno e): one line on what it means and
 * what to do — the failures a newcomer meets are a jobd that is not
 * running, a path that is no socket, and a socket of a group they are not
 * in. */
static void
connect_hint(const char *path, int e)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (exists && !S_ISSOCK(st.st_mode))
		return;
	if (e == ENOENT || e == ECONNREFUSED) {
		fprintf(stderr, "jobctl: %s: is jobd running?",
			e == ENOENT ? "no socket there" : "nobody listens");
		/* The system's socket was tried because the user has none
		 * of their own: say where theirs would be. */
		char *mine = jobd_client_user_socket_path();
		if (getuid() != 0 && mine != NULL &&
		    strcmp(path, JOBD_CLIENT_SYSTEM_SOCKET) == 0)
			fprintf(stderr,
				" (that is where the system's jobd listens; "
				"a jobd of your own would listen on %s: start "
				"one with `jobd` or `systemctl --user start "
				"jobd`)",
				mine);
		else if (strcmp(path, JOBD_CLIENT_SYSTEM_SOCKET) == 0)
			fprintf(stderr, " (start it with `systemctl start "
					"jobd`, or run `jobd`)");
		else
			fprintf(stderr, " (start it with `jobd -s %s`)", path);
		fputc('\n', stderr);
		free(mine);
		return;
	}
	if (e == EACCES && exists) {
		char grp[64];
		struct group *gr = getgrgid(st.st_gid);
		if (gr != NULL)
			snprintf(grp, sizeof(grp), "%s", gr->gr_name);
		else
			snprintf(grp, sizeof(grp), "%u", (unsigned)st.st_gid);
		fprintf(stderr,
			"jobctl: the socket is mode %04o, group %s: members of "
			"that group may use it (ask an admin to add you, then "
			"log in again)\n",
			(unsigned)(st.st_mode & 07777), grp);
	}
}

/* The connection, made on first use; exits 3 when jobd cannot be
 * reached. */
static struct jobd_client *
client(void)
{
	if (g.c != NULL)
		return g.c;
	g.path = jobd_client_socket_path(g.socket);
	if (g.path == NULL)
		oom();
	g.c = jobd_client_connect(g.path);
	if (g.c == NULL) {
		int e = errno;
		struct stat st;
		if (stat(g.path, &st) == 0 && !S_ISSOCK(st.st_mode))
			fprintf(stderr,
				"jobctl: cannot connect to %s: it is not a "
				"socket (give jobd's socket with -s or "
				"$JOBD_SOCKET)\n",
				g.path);
		else
			fprintf(stderr, "jobctl: cannot connect to %s: %s\n",
				g.path, jobd_client_connect_error());
		connect_hint(g.path, e);
		exit(ST_NOCONN);
	}
	return g.c;
}

/*
 * The exit status for the daemon's error of the last call on c: 124 for a
 * timeout; 2 for invalid_argument, which names a value the user gave, the
 * status jobctl gives when it refuses a value itself; else 1.
 */
static int
error_status(const struct jobd_client *c)
{
	switch (jobd_client_error_code(c)) {
	case JOBD_E_TIMEOUT:
		return ST_TIMEOUT;
	case JOBD_E_INVALID_ARGUMENT:
		return ST_USAGE;
	default:
		return ST_ERROR;
	}
}

/* Prints the daemon's error of the last call ("jobctl: code: message"), or
 * exits 3 when it was a transport failure.  Returns the status for it. */
static int
report(struct jobd_client *c)
{
	if (jobd_client_error_code(c) < 0)
		lost(c);
	char *msg = render_text(jobd_client_error_message(c));
	char *name = render_text(jobd_client_error_name(c));

	fprintf(stderr, "jobctl: %s: %s\n", name, msg);
	free(name);
	free(msg);
	return error_status(c);
}

/* Calls cmd with args (stolen, may be NULL).  Returns the result (new
 * reference), or NULL after reporting the daemon's error; exits 3 on a
 * transport failure. */
static json_t *
call(const char *cmd, json_t *args)
{
	struct jobd_client *c = client();
	json_t *res = jobd_client_cmd(c, cmd, args);

	if (res == NULL)
		report(c);
	return res;
}

/* The status for a failed call(): see error_status. */
static int
call_status(void)
{
	return error_status(g.c);
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

/* ------------------------------------------------------------------ */
/* Job specs                                                            */

/* The process environment as a JSON object; variables that are not UTF-8
 * are left out (JSON cannot carry them). */
static json_t *
env_from_environ(void)
{
	json_t *env = json_object();

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char *key;
		json_t *v;

		if (eq == NULL || eq == *e)
			continue;
		key = strndup(*e, (size_t)(eq - *e));
		if (key == NULL)
			oom();
		v = json_string(eq + 1);
		if (v != NULL)
			json_object_set_new(env, key, v);
		free(key);
	}
	return env;
}

/* Adds KEY=VAL to env (an object).  Returns false when kv is malformed. */
static bool
env_add(json_t *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;
	json_t *v;
	int rc;

	if (eq == NULL || eq == kv)
		return false;
	key = strndup(kv, (size_t)(eq - kv));
	if (key == NULL)
		oom();
	v = json_string(eq + 1);
	rc = v != NULL ? json_object_set_new(env, key, v) : -1;
	free(key);
	return rc == 0;
}

/* The working directory, or NULL when it cannot be had.  Caller frees. */
static char *
current_dir(void)
{
	return getcwd(NULL, 0);
}

/* dir made absolute against the working directory.  Caller frees. */
static char *
absolute_dir(const char *dir)
{
	char *cwd, *abs;

	if (dir[0] == '/')
		return dup_str(dir);
	cwd = current_dir();
	if (cwd == NULL)
		return dup_str(dir);
	abs = fmt("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, dir);
	free(cwd);
	return abs;
}

/* Appends the ids of "ID[,ID...]" to arr.  Returns false on a bad id. */
static bool
parse_id_list(const char *s, json_t *arr)
{
	char *copy = dup_str(s), *save = NULL, *tok;
	bool ok = true;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int64_t id;

		if (!parse_id(tok, &id)) {
			ok = false;
			break;
		}
		json_array_append_new(arr, json_integer(id));
	}
	free(copy);
	return ok && json_array_size(arr) > 0;
}

/* Sets argv (from words) or shell on spec.  Returns false when neither or
 * both are given. */
static bool
set_command(json_t *spec, int n, char **words, const char *shell)
{
	json_t *arr;

	if ((n > 0) == (shell != NULL))
		return false;
	if (shell != NULL)
		return json_object_set_new(spec, "shell", json_string(shell)) ==
		       0;
	arr = json_array();
	for (int i = 0; i < n; i++) {
		json_t *w = json_string(words[i]);

		if (w == NULL) {
			fprintf(stderr, "jobctl: argument is not UTF-8: %s\n",
				words[i]);
			json_decref(arr);
			return false;
		}
		json_array_append_new(arr, w);
	}
	json_object_set_new(spec, "argv", arr);
	return true;
}

/* The exit status a finished job stands for (submit --wait). */
static int
job_status(const json_t *job)
{
	const char *state = jstr(job, "state");
	const char *reason = jstr(job, "reason");
	int64_t sig = jint(job, "signal", 0);
	int64_t code = jint(job, "exit_code", -1);

	if (state != NULL && strcmp(state, "succeeded") == 0)
		return ST_OK;
	if (reason != NULL && strcmp(reason, "timeout") == 0)
		return ST_TIMEOUT;
	if (reason != NULL && strcmp(reason, "signal") == 0 && sig > 0 &&
	    sig < 128)
		return 128 + (int)sig;
	if (reason != NULL && strcmp(reason, "exit") == 0 && code > 0 &&
	    code < 256)
		return (int)code;
	return ST_ERROR;
}

/* ------------------------------------------------------------------ */
/* logs                                                                 */

/* Writes a logs result's or a log event's data to stdout. */
static void
emit_data(const json_t *obj)
{
	json_t *d = json_object_get(obj, "data");

	if (g.json) {
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
	state = value_text(json_object_get(job, "state"));
	if (jobd_state_is_terminal(jobd_state_parse(jstr(job, "state")))) {
		fprintf(stderr, "jobctl: job %lld never started: %s\n",
			(long long)id, state);
	} else {
		when = value_text(json_object_get(job, "run_at"));
		fprintf(stderr,
			"jobctl: job %lld has not started yet (%s, run_at "
			"%s); jobctl logs -f %lld waits for its output\n",
			(long long)id, state, when, (long long)id);
		free(when);
	}
	free(state);
	json_decref(job);
}

/*
 * Prints job id's log (attempt > 0 picks one, else the latest): chunk by
 * chunk from offset 0 while there is more; with follow, then streams what
 * comes until the job ends.  When jobp is non-NULL, *jobp receives the job
 * object at the end (new reference).  Returns an exit status.
 */
static int
show_logs(int64_t id, int64_t attempt, bool follow, json_t **jobp)
{
	struct jobd_client *c = client();
	int64_t offset = 0, next = 0, rid;
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
		if (!follow && !g.json && offset == 0 &&
		    jint(res, "attempt", 0) == 0 && jint(res, "size", 0) == 0)
			not_started(id);
		emit_data(res);
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
		emit_data(res);
		eof = json_is_true(json_object_get(res, "eof"));
		json_decref(res);
		fflush(stdout);
		while (!eof) {
			json_t *ev = jobd_client_next_event(c, -1);
			const char *name;

			if (ev == NULL)
				lost(c);
			name = jstr(ev, "event");
			if (jint(ev, "job_id", 0) != id) {
				json_decref(ev);
				continue;
			}
			if (strcmp(name, "log") == 0) {
				emit_data(ev);
				fflush(stdout);
			} else if (strcmp(name, "log.end") == 0) {
				if (g.json)
					print_json(ev);
				job = json_object_get(ev, "job");
				if (job != NULL)
					json_incref(job);
				eof = true;
			}
			json_decref(ev);
		}
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

static int
cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"attempt", required_argument, NULL, OPT_ATTEMPT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t id, attempt = 0;
	bool follow = false;
	int ch;

	opts_begin("logs", argv);
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case OPT_ATTEMPT:
			if (!parse_i64(optarg, 1, INT32_MAX, &attempt))
				return bad_value("attempt", optarg);
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			return help(u_logs);
		default:
			return usage(u_logs);
		}
	}
	if (argc - optind != 1)
		return usage(u_logs);
	if (!parse_id(argv[optind], &id))
		return bad_value("job id", argv[optind]);
	return show_logs(id, attempt, follow, NULL);
}

/* ------------------------------------------------------------------ */
/* submit                                                               */

/* Batch chunks on their way: two in flight, so jobd stores one while
 * jobctl reads and encodes the next. */
struct batch_flight {
	int64_t ids[2];		/* request ids, oldest first */
	size_t njobs[2];
	size_t *lines[2];	/* owned: each spec's line in the file */
	int n;
	size_t total;		/* jobs acknowledged */
	const char *file;	/* borrowed: the file's name for messages */
};

/* Reports a refused chunk: the daemon names a spec by its index in the
 * chunk ("jobs[3]: ..."), which becomes the file's line. */
static int
batch_report(struct jobd_client *c, const char *file, const size_t *lines,
	     size_t njobs)
{
	const char *msg = jobd_client_error_message(c);
	size_t k;
	int used = 0;

	if (jobd_client_error_code(c) > 0 &&
	    sscanf(msg, "jobs[%zu]%n", &k, &used) == 1 && used > 0 &&
	    k < njobs) {
		char *rest = render_text(msg + used + (msg[used] == ':'));

		fprintf(stderr, "jobctl: %s:%zu: %s:%s\n", file, lines[k],
			jobd_client_error_name(c), rest);
		free(rest);
		return error_status(c);
	}
	return report(c);
}

/* Waits for the oldest chunk's answer and prints its ids. */
static int
batch_receive(struct batch_flight *bf)
{
	struct jobd_client *c = client();
	json_t *res = jobd_client_result(
		c, jobd_client_response(c, bf->ids[0], -1));
	size_t njobs = bf->njobs[0];
	json_t *v;
	size_t i;

	size_t *lines = bf->lines[0];
	int st;

	bf->ids[0] = bf->ids[1];
	bf->njobs[0] = bf->njobs[1];
	bf->lines[0] = bf->lines[1];
	bf->lines[1] = NULL;
	bf->n--;
	if (res == NULL) {
		st = batch_report(c, bf->file, lines, njobs);
		free(lines);
		return st;
	}
	free(lines);
	if (g.json) {
		print_json(res);
	} else {
		json_array_foreach (json_object_get(res, "ids"), i, v) {
			printf("%lld\n", (long long)json_integer_value(v));
		}
	}
	bf->total += njobs;
	json_decref(res);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rjobctl: submitted %zu jobs", bf->total);
	return ST_OK;
}

/* Sends one chunk (emptying jobs) without waiting for its answer; waits
 * for the oldest when two are in flight.  Returns an exit status. */
static int
batch_flush(json_t *jobs, size_t **lines, struct batch_flight *bf)
{
	struct jobd_client *c = client();
	int st = ST_OK;

	if (json_array_size(jobs) == 0)
		return ST_OK;
	if (bf->n == 2 && (st = batch_receive(bf)) != ST_OK)
		return st;
	json_t *req = json_pack("{s:s,s:O}", "cmd", "submit", "jobs", jobs);
	int64_t id = jobd_client_send(c, req);
	json_decref(req);
	if (id < 0) {
		report(c);
		return ST_NOCONN;
	}
	bf->ids[bf->n] = id;
	bf->njobs[bf->n] = json_array_size(jobs);
	bf->lines[bf->n] = *lines;
	*lines = NULL;
	bf->n++;
	json_array_clear(jobs);
	return ST_OK;
}

/* submit --batch: one job spec a line from file ("-" is stdin), sent in
 * chunks; a spec without env/cwd gets jobctl's (env not with no_env). */
static int
submit_batch(const char *file, bool no_env)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	json_t *env = NULL, *cwdv = NULL, *jobs = json_array();
	char *line = NULL, *cwd;
	size_t cap = 0, bytes = 0, lineno = 0, extra = 0;
	struct batch_flight bf = {.file = strcmp(file, "-") == 0 ? "stdin"
								 : file};
	size_t *lines = NULL;
	ssize_t n;
	int st = ST_OK;

	if (f == NULL) {
		fprintf(stderr, "jobctl: %s: %s\n", file, strerror(errno));
		json_decref(jobs);
		return ST_ERROR;
	}
	if (!no_env)
		env = env_from_environ();
	cwd = current_dir();
	if (cwd != NULL)
		cwdv = json_string(cwd);
	free(cwd);
	/* What a spec grows by when it gets jobctl's env and cwd, measured
	 * once rather than by encoding every spec twice. */
	if (env != NULL)
		extra += json_dumpb(env, NULL, 0, JSON_COMPACT) + 8;
	if (cwdv != NULL)
		extra += json_dumpb(cwdv, NULL, 0, JSON_COMPACT) + 8;
	client();
	while ((n = getline(&line, &cap, f)) >= 0) {
		json_error_t err;
		json_t *spec;
		size_t size;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (strspn(line, " \t") == (size_t)n)
			continue;
		spec = json_loadb(line, (size_t)n, 0, &err);
		if (!json_is_object(spec)) {
			if (isatty(STDERR_FILENO) && bf.total > 0)
				fputc('\n', stderr);
			fprintf(stderr, "jobctl: %s:%zu: %s\n",
				strcmp(file, "-") == 0 ? "stdin" : file, lineno,
				spec == NULL ? err.text : "not a JSON object");
			json_decref(spec);
			st = ST_USAGE;
			goto out;
		}
		if (env != NULL && json_object_get(spec, "env") == NULL)
			json_object_set(spec, "env", env);
		if (cwdv != NULL && json_object_get(spec, "cwd") == NULL)
			json_object_set(spec, "cwd", cwdv);
		size = (size_t)n + extra + 1;
		if (json_array_size(jobs) >= BATCH_MAX_JOBS ||
		    (json_array_size(jobs) > 0 &&
		     bytes + size > BATCH_MAX_BYTES)) {
			st = batch_flush(jobs, &lines, &bf);
			bytes = 0;
			if (st != ST_OK) {
				json_decref(spec);
				goto out;
			}
		}
		if (json_array_size(jobs) % 1024 == 0) {
			lines = realloc(lines, (json_array_size(jobs) + 1024) *
						       sizeof(*lines));
			if (lines == NULL)
				oom();
		}
		lines[json_array_size(jobs)] = lineno;
		json_array_append_new(jobs, spec);
		bytes += size;
	}
	if (ferror(f)) {
		fprintf(stderr, "jobctl: %s: %s\n", file, strerror(errno));
		st = ST_ERROR;
		goto out;
	}
	st = batch_flush(jobs, &lines, &bf);
out:
	/* Chunks already sent are answered and their ids printed, also
	 * after an error: no stored job goes unreported. */
	while (bf.n > 0) {
		int r = batch_receive(&bf);
		if (st == ST_OK)
			st = r;
	}
	if (isatty(STDERR_FILENO) && bf.total > 0)
		fputc('\n', stderr);
	free(lines);
	free(line);
	if (f != stdin)
		fclose(f);
	json_decref(env);
	json_decref(cwdv);
	json_decref(jobs);
	return st;
}

/* The line SIGINT prints while submit waits, formatted beforehand: only
 * write(2) may be used in the handler. */
static char detach_msg[128];
static size_t detach_len;

static void
detach_signal(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, detach_msg, detach_len) < 0) {
		/* Nothing to be done. */
	}
	_exit(128 + SIGINT);
}

/* Ctrl-C while submit --wait or --follow waits for job id leaves the job
 * running and says how to find it again. */
static void
detach_on_interrupt(int64_t id)
{
	struct sigaction sa;
	int n = snprintf(detach_msg, sizeof(detach_msg),
			 "\njobctl: job %lld still running: jobctl logs -f "
			 "%lld\n",
			 (long long)id, (long long)id);

	detach_len = n > 0 && (size_t)n < sizeof(detach_msg) ? (size_t)n : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = detach_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* Says on stderr why a waited job (that exited with no status of its own)
 * did not succeed: cancelled, say by someone else, or could not start. */
static void
job_unsuccessful(const json_t *job)
{
	char *state = value_text(json_object_get(job, "state"));
	char *reason = value_text(json_object_get(job, "reason"));
	char *error = value_text(json_object_get(job, "error"));

	fprintf(stderr, "jobctl: job %lld %s (%s)%s%s\n",
		(long long)jint(job, "id", 0), state, reason,
		jstr(job, "error") != NULL ? ": " : "",
		jstr(job, "error") != NULL ? error : "");
	free(state);
	free(reason);
	free(error);
}

static int
cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"name", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"max-attempts", required_argument, NULL, 'a'},
		{"priority", required_argument, NULL, 'p'},
		{"delay", required_argument, NULL, OPT_DELAY},
		{"at", required_argument, NULL, OPT_AT},
		{"after", required_argument, NULL, OPT_AFTER},
		{"unique", required_argument, NULL, OPT_UNIQUE},
		{"cwd", required_argument, NULL, OPT_CWD},
		{"no-env", no_argument, NULL, OPT_NO_ENV},
		{"env", required_argument, NULL, 'e'},
		{"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"user", required_argument, NULL, OPT_USER},
		{"wait", no_argument, NULL, OPT_WAIT},
		{"follow", no_argument, NULL, OPT_FOLLOW},
		{"shell", required_argument, NULL, 'c'},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *spec = json_object(), *extra_env = json_object();
	json_t *deps = json_array(), *res = NULL, *job = NULL;
	const char *shell = NULL, *batch = NULL;
	char *cwd = NULL;
	bool no_env = false, do_wait = false, follow = false, other = false;
	bool have_delay = false, have_at = false;
	int64_t i64, id;
	double secs;
	int ch, st = ST_USAGE;

	opts_begin("submit", argv);
	while ((ch = getopt_long(argc, argv, "+q:n:t:a:p:e:c:h", opts, NULL)) !=
	       -1) {
		other = other ||
			(ch != OPT_NO_ENV && ch != OPT_BATCH && ch != OPT_JSON);
		switch (ch) {
		case 'q':
			json_object_set_new(spec, "queue", json_string(optarg));
			break;
		case 'n':
			if (json_object_set_new(spec, "name",
						json_string(optarg)) != 0) {
				st = bad_value("name", optarg);
				goto out;
			}
			break;
		case 't':
		case OPT_DELAY:
		case OPT_KILL_GRACE:
			if (jobd_duration_parse(optarg, &secs) != 0) {
				st = bad_value("duration", optarg);
				goto out;
			}
			json_object_set_new(spec,
					    ch == 't'	      ? "timeout"
					    : ch == OPT_DELAY ? "delay"
							      : "kill_grace",
					    json_num(secs));
			have_delay = have_delay || ch == OPT_DELAY;
			break;
		case 'a':
			if (!parse_i64(optarg, 1, INT32_MAX, &i64)) {
				st = bad_value("max attempts", optarg);
				goto out;
			}
			json_object_set_new(spec, "max_attempts",
					    json_integer(i64));
			break;
		case 'p':
			if (!parse_i64(optarg, INT32_MIN, INT32_MAX, &i64)) {
				st = bad_value("priority", optarg);
				goto out;
			}
			json_object_set_new(spec, "priority",
					    json_integer(i64));
			break;
		case OPT_AT: {
			char buf[JOBD_TIME_LEN];

			if (jobd_time_parse(optarg, &i64) != 0) {
				st = bad_value("time (want RFC 3339, e.g. "
					       "2026-11-26T10:34:12Z)",
					       optarg);
				goto out;
			}
			json_object_set_new(
				spec, "run_at",
				json_string(jobd_time_format(i64, buf)));
			have_at = true;
			break;
		}
		case OPT_AFTER:
			if (!parse_id_list(optarg, deps)) {
				st = bad_value("job id list", optarg);
				goto out;
			}
			break;
		case OPT_UNIQUE:
			json_object_set_new(spec, "unique_key",
					    json_string(optarg));
			break;
		case OPT_CWD: {
			struct stat sb;
			const char *why = NULL;

			free(cwd);
			cwd = absolute_dir(optarg);
			/* Refused now rather than as a spawn_error later. */
			if (stat(cwd, &sb) != 0)
				why = strerror(errno);
			else if (!S_ISDIR(sb.st_mode))
				why = "not a directory";
			if (why != NULL) {
				char *d = render_text(optarg);

				fprintf(stderr, "%s: --cwd %s: %s\n", g.prog,
					d, why);
				free(d);
				st = ST_USAGE;
				goto out;
			}
			break;
		}
		case OPT_NO_ENV:
			no_env = true;
			break;
		case 'e':
			if (!env_add(extra_env, optarg)) {
				st = bad_value("KEY=VAL", optarg);
				goto out;
			}
			break;
		case OPT_OUTPUT:
			if (strcmp(optarg, "capture") != 0 &&
			    strcmp(optarg, "discard") != 0) {
				st = bad_value("output (capture or discard)",
					       optarg);
				goto out;
			}
			json_object_set_new(spec, "output",
					    json_string(optarg));
			break;
		case OPT_USER:
			json_object_set_new(spec, "user", json_string(optarg));
			break;
		case OPT_WAIT:
			do_wait = true;
			break;
		case OPT_FOLLOW:
			do_wait = follow = true;
			break;
		case 'c':
			shell = optarg;
			break;
		case OPT_BATCH:
			batch = optarg;
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			st = help(u_submit);
			goto out;
		default:
			st = usage(u_submit);
			goto out;
		}
	}
	if (batch != NULL) {
		if (other || optind < argc) {
			fprintf(stderr,
				"%s: --batch takes no other job "
				"options (only --no-env)\n",
				g.prog);
			st = usage(u_submit);
			goto out;
		}
		st = submit_batch(batch, no_env);
		goto out;
	}
	if (have_delay && have_at) {
		fprintf(stderr, "%s: --delay and --at exclude each other\n",
			g.prog);
		st = usage(u_submit);
		goto out;
	}
	if (!set_command(spec, argc - optind, argv + optind, shell)) {
		fprintf(stderr,
			"%s: give a command: -- ARGV... or -c 'SHELL'"
			" (not both)\n",
			g.prog);
		st = usage(u_submit);
		goto out;
	}
	if (json_array_size(deps) > 0)
		json_object_set(spec, "depends_on", deps);
	if (cwd == NULL)
		cwd = current_dir();
	if (cwd != NULL)
		json_object_set_new(spec, "cwd", json_string(cwd));
	if (!no_env) {
		json_t *env = env_from_environ();

		json_object_update(env, extra_env);
		json_object_set_new(spec, "env", env);
	} else if (json_object_size(extra_env) > 0) {
		json_object_set(spec, "env", extra_env);
	}

	res = call("submit", json_pack("{sO}", "job", spec));
	if (res == NULL) {
		st = call_status();
		goto out;
	}
	id = jint(res, "id", 0);
	/* Set before the id is printed: whoever reads it may interrupt. */
	if (do_wait)
		detach_on_interrupt(id);
	if (json_is_true(json_object_get(res, "duplicate"))) {
		char *key = render_text(jstr(spec, "unique_key"));

		fprintf(stderr,
			"jobctl: job %lld already holds unique key '%s': "
			"nothing submitted\n",
			(long long)id, key);
		free(key);
	}
	if (g.json)
		print_json(res);
	else if (!follow)
		printf("%lld\n", (long long)id);
	st = ST_OK;
	if (!do_wait)
		goto out;
	fflush(stdout);
	if (follow) {
		st = show_logs(id, 0, true, &job);
		if (st != ST_OK)
			goto out;
	} else {
		json_t *w = call(
			"wait", json_pack("{s[I]}", "job_ids", (json_int_t)id));

		if (w == NULL) {
			st = call_status();
			goto out;
		}
		if (g.json)
			print_json(w);
		job = json_array_get(json_object_get(w, "jobs"), 0);
		json_incref(job);
		json_decref(w);
	}
	signal(SIGINT, SIG_DFL);
	st = job_status(job);
	if (st == ST_ERROR && (jstr(job, "reason") == NULL ||
			       strcmp(jstr(job, "reason"), "exit") != 0))
		job_unsuccessful(job);
out:
	free(cwd);
	json_decref(job);
	json_decref(res);
	json_decref(deps);
	json_decref(extra_env);
	json_decref(spec);
	return st;
}

/* ------------------------------------------------------------------ */
/* ping, get, list, cancel, retry                                       */

static const char *const job_keys[] = {
	"id",		"queue",       "name",	     "argv",
	"shell",	"cwd",	       "state",	     "reason",
	"error",	"exit_code",   "signal",     "attempt",
	"max_attempts", "recoveries",  "priority",   "timeout",
	"kill_grace",	"backoff",     "depends_on", "unique_key",
	"uid",		"pid",	       "created_at", "run_at",
	"started_at",	"finished_at", "duration",   "output_truncated",
	"rusage",	"env",	       NULL,
};

/* Parses a command that takes no arguments but --json, -h and, unless flag
 * is NULL, the switch --FLAG, which sets *on. */
static int
flag_args(const char *name, const char *synopsis, const char *flag, bool *on,
	  int argc, char **argv)
{
	const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{flag, no_argument, NULL, OPT_FLAG}, /* the end if flag is NULL */
		{NULL, 0, NULL, 0},
	};
	int ch;

	opts_begin(name, argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_FLAG)
			*on = true;
		else if (ch == OPT_JSON)
			g.json = true;
		else if (ch == 'h')
			return help(synopsis);
		else
			return usage(synopsis);
	}
	if (optind != argc)
		return usage(synopsis);
	return ST_OK;
}

/* Parses a command that takes no arguments but --json and -h. */
static int
no_args(const char *name, const char *synopsis, int argc, char **argv)
{
	return flag_args(name, synopsis, NULL, NULL, argc, argv);
}

static int
cmd_ping(int argc, char **argv)
{
	json_t *res;
	char up[32];
	int st = no_args("ping", u_ping, argc, argv);

	if (st != ST_OK)
		return st;
	res = call("ping", NULL);
	if (res == NULL)
		return call_status();
	if (g.json) {
		print_json(res);
	} else {
		fmt_duration(jnum(res, "uptime", 0), up, sizeof(up));
		printf("jobd %s, pid %lld, up %s\n",
		       jstr(res, "version") ? jstr(res, "version") : "?",
		       (long long)jint(res, "pid", 0), up);
	}
	json_decref(res);
	return ST_OK;
}

static int
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
			g.json = true;
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
	if (g.json)
		print_json(res);
	else
		print_kv(json_object_get(res, "job"), job_keys);
	json_decref(res);
	return ST_OK;
}

/*
 * Adds the states of "a,b" to states (an array).  Returns false after
 * saying why when one is not a state; a path (a socket given after the
 * command) gets a hint, since -s before the command is the socket.
 */
static bool
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
				g.prog, t);
			if (strchr(tok, '/') != NULL)
				fprintf(stderr,
					"%s: -s after 'list' is a state; give "
					"the socket before the command: "
					"jobctl -s %s list\n",
					g.prog, t);
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

static int
cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"state", required_argument, NULL, 'S'},
		{"limit", required_argument, NULL, 'n'},
		{"all", no_argument, NULL, OPT_ALL},
		{"after-id", required_argument, NULL, OPT_AFTER_ID},
		{"before-id", required_argument, NULL, OPT_BEFORE_ID},
		{"reverse", no_argument, NULL, OPT_REVERSE},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *filter = json_object(), *all_jobs = json_array();
	json_t *states = json_array();
	int64_t limit = -1, after = 0, before = 0, left, cursor = 0;
	bool all = false, asc = false, more = false, bounded = false;
	int ch, st = ST_OK;

	opts_begin("list", argv);
	while ((ch = getopt_long(argc, argv, "q:s:S:n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			json_object_set_new(filter, "queue",
					    json_string(optarg));
			break;
		case 's':
		case 'S':
			if (!add_states(states, optarg)) {
				st = ST_USAGE;
				goto out;
			}
			break;
		case 'n':
			if (!parse_i64(optarg, 1, INT64_MAX, &limit)) {
				st = bad_value("limit", optarg);
				goto out;
			}
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_AFTER_ID:
		case OPT_BEFORE_ID:
			if (!parse_i64(optarg, 0, INT64_MAX,
				       ch == OPT_AFTER_ID ? &after : &before)) {
				st = bad_value("job id", optarg);
				goto out;
			}
			/* Paging on from --after-id goes oldest first. */
			asc = asc || ch == OPT_AFTER_ID;
			bounded = true;
			break;
		case OPT_REVERSE:
			asc = true;
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			st = help(u_list);
			goto out;
		default:
			st = usage(u_list);
			goto out;
		}
	}
	if (optind != argc) {
		st = usage(u_list);
		goto out;
	}
	if (json_array_size(states) > 0)
		json_object_set(filter, "state", states);
	/* Newest first unless --reverse (or --after-id).  Without -n or
	 * --all one request takes the daemon's default page; otherwise pages
	 * of at most LIST_PAGE_MAX follow the cursor. */
	left = all ? INT64_MAX : limit;
	for (;;) {
		json_t *args = json_deep_copy(filter), *res, *jobs, *nv;
		int64_t page = left > LIST_PAGE_MAX ? LIST_PAGE_MAX : left;
		size_t got;

		if (left > 0)
			json_object_set_new(args, "limit", json_integer(page));
		if (after > 0)
			json_object_set_new(args, "after_id",
					    json_integer(after));
		if (before > 0)
			json_object_set_new(args, "before_id",
					    json_integer(before));
		if (!asc)
			json_object_set_new(args, "order", json_string("desc"));
		res = call("list", args);
		if (res == NULL) {
			st = call_status();
			goto out;
		}
		jobs = json_object_get(res, "jobs");
		got = json_array_size(jobs);
		if (g.json)
			print_json(res);
		else
			json_array_extend(all_jobs, jobs);
		nv = json_object_get(res,
				     asc ? "next_after_id" : "next_before_id");
		more = json_is_integer(nv) && got > 0;
		cursor = more ? json_integer_value(nv) : 0;
		if (!more || left < 0 || (int64_t)got < page) {
			json_decref(res);
			break;
		}
		if (asc)
			after = cursor;
		else
			before = cursor;
		json_decref(res);
		if (left != INT64_MAX)
			left -= (int64_t)got;
		if (left <= 0)
			break;
	}
	if (g.json)
		goto out;
	print_jobs(all_jobs);
	/* A full last page: say that more exist, how many, and how to see
	 * them (on stderr, so the table stays clean for a pipe). */
	if (more) {
		int64_t total = bounded ? -1 : list_total(filter);
		size_t shown = json_array_size(all_jobs);

		fflush(stdout);
		if (total > (int64_t)shown)
			fprintf(stderr,
				"jobctl: %zu of %lld jobs shown, %s first; ",
				shown, (long long)total,
				asc ? "oldest" : "newest");
		else
			fprintf(stderr, "jobctl: more jobs exist; ");
		fprintf(stderr, "%s: add --%s %lld (or -n N, --all)\n",
			asc ? "newer ones" : "older ones",
			asc ? "after-id" : "before-id", (long long)cursor);
	}
out:
	json_decref(states);
	json_decref(filter);
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
			g.json = true;
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

static int
cmd_cancel(int argc, char **argv)
{
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
	if (g.json)
		print_json(res);
	else
		print_jobs(json_object_get(res, "jobs"));
	json_decref(res);
out:
	json_decref(ids);
	return st;
}

/* retry takes one job a request; every id is tried, and the status is 1
 * when any was refused. */
static int
cmd_retry(int argc, char **argv)
{
	json_t *ids = json_array(), *jobs = json_array(), *v;
	int st = ids_args("retry", u_retry, argc, argv, ids);
	size_t i;

	if (st != ST_OK)
		goto out;
	json_array_foreach (ids, i, v) {
		json_t *res = call("retry", json_pack("{sO}", "job_id", v));

		if (res == NULL) {
			st = ST_ERROR;
			continue;
		}
		if (g.json)
			print_json(res);
		else
			json_array_append(jobs, json_object_get(res, "job"));
		json_decref(res);
	}
	if (!g.json && json_array_size(jobs) > 0)
		print_jobs(jobs);
out:
	json_decref(ids);
	json_decref(jobs);
	return st;
}

/* ------------------------------------------------------------------ */
/* wait                                                                 */

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
 * Returns the wait result (new reference) or NULL with the error in g.c.
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
			if (jobd_client_error_code(g.c) < 0)
				lost(g.c);
			continue;
		}
		if (!jobd_state_is_terminal(jobd_state_parse(state))) {
			if (shown == 0)
				fputs("jobctl: not finished:", stderr);
			if (shown < 20)
				fprintf(stderr, " %lld (%s)",
					(long long)ids[i], state ? state : "?");
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

static int
cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	json_t *ids = json_array(), *res = NULL, *v;
	int64_t *arr = NULL;
	double timeout = -1;
	size_t n, i;
	int ch, st = ST_OK;

	opts_begin("wait", argv);
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
		case OPT_TIMEOUT:
			if (jobd_duration_parse(optarg, &timeout) != 0) {
				st = bad_value("duration", optarg);
				goto out;
			}
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			st = help(u_wait);
			goto out;
		default:
			st = usage(u_wait);
			goto out;
		}
	}
	if (optind == argc) {
		st = usage(u_wait);
		goto out;
	}
	if (!collect_ids(argc, argv, ids)) {
		st = ST_USAGE;
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
		st = report(g.c);
		if (jobd_client_error_code(g.c) == JOBD_E_TIMEOUT)
			wait_unfinished(arr, n);
		goto out;
	}
	if (g.json)
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
	return st;
}

/* ------------------------------------------------------------------ */
/* watch                                                                */

/* One event as a line for people; text from the daemon is escaped. */
static void
print_event(json_t *ev)
{
	json_t *job = json_object_get(ev, "job");
	json_t *q = json_object_get(ev, "queue");
	json_t *p = json_object_get(ev, "producer");
	char *tm = value_text(json_object_get(ev, "time"));
	char *name = value_text(json_object_get(ev, "event"));

	printf("%s %s", tm, name);
	free(tm);
	free(name);
	if (json_is_object(job)) {
		const char *color = state_color(jstr(job, "state"));
		char *label = job_label(job);
		char *queue = value_text(json_object_get(job, "queue"));
		char *state = value_text(json_object_get(job, "state"));

		printf(" job %lld %s %s%s%s", (long long)jint(job, "id", 0),
		       queue, color ? color : "", state,
		       color ? "\033[0m" : "");
		if (jstr(job, "reason") != NULL) {
			char *reason =
				value_text(json_object_get(job, "reason"));

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
		char *qn = value_text(
			json_is_object(q) ? json_object_get(q, "name") : q);

		printf(" queue %s%s", qn,
		       json_is_true(json_object_get(q, "paused")) ? " (paused)"
								  : "");
		free(qn);
	} else if (json_is_object(p) || json_is_string(p)) {
		char *pn = value_text(
			json_is_object(p) ? json_object_get(p, "name") : p);
		char *st = json_is_object(p)
				   ? value_text(json_object_get(p, "state"))
				   : dup_str("");

		printf(" producer %s %s", pn, st);
		free(pn);
		free(st);
	}
	putchar('\n');
}

static int
cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queue", required_argument, NULL, 'q'},
		{"job", required_argument, NULL, OPT_JOB},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *queue = NULL;
	struct jobd_client *c;
	bool stopping = false;
	int64_t job = 0;
	int ch;

	opts_begin("watch", argv);
	while ((ch = getopt_long(argc, argv, "q:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			queue = optarg;
			break;
		case OPT_JOB:
			if (!parse_id(optarg, &job))
				return bad_value("job id", optarg);
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			return help(u_watch);
		default:
			return usage(u_watch);
		}
	}
	if (optind != argc)
		return usage(u_watch);
	c = client();
	if (jobd_client_watch(c, queue, job) != 0)
		return report(c);
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
		if (g.json)
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
		if (g.json)
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

/* ------------------------------------------------------------------ */
/* stats, prune, reload, shutdown                                       */

/* Sum of the pending states (waiting, scheduled, queued) in counts. */
static int64_t
pending_of(const json_t *counts)
{
	return jint(counts, "waiting", 0) + jint(counts, "scheduled", 0) +
	       jint(counts, "queued", 0);
}

static void
prom_head(const char *name, const char *type, const char *text)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value, escaped as the exposition format wants. */
static void
prom_label(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", stdout);
		else if (*s == '"')
			fputs("\\\"", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static void
prom_value(const json_t *v)
{
	if (json_is_integer(v))
		printf(" %lld\n", (long long)json_integer_value(v));
	else if (json_is_real(v))
		printf(" %.15g\n", json_real_value(v));
	else
		fputs(" 0\n", stdout);
}

/* One metric with no labels, when v is a number. */
static void
prom_metric(const char *name, const char *type, const char *text,
	    const json_t *v)
{
	if (!json_is_number(v))
		return;
	prom_head(name, type, text);
	fputs(name, stdout);
	prom_value(v);
}

/* One sample name{label="value"} v. */
static void
prom_sample(const char *name, const char *label, const char *value,
	    const json_t *v)
{
	printf("%s{%s=\"", name, label);
	prom_label(value);
	putchar('"');
	putchar('}');
	prom_value(v);
}

/* A new number: v (milliseconds) in seconds, or NULL. */
static json_t *
ms_to_seconds(const json_t *v)
{
	return json_is_number(v) ? json_real(json_number_value(v) / 1000.0)
				 : NULL;
}

static void
stats_prometheus(json_t *st, json_t *queues)
{
	json_t *jobs = json_object_get(st, "jobs");
	json_t *totals = json_object_get(st, "totals");
	json_t *loop = json_object_get(st, "loop");
	json_t *db = json_object_get(st, "db");
	json_t *v, *q;
	const char *key;
	size_t i;

	if (jstr(st, "version") != NULL) {
		prom_head("jobd_info", "gauge", "The daemon's version.");
		fputs("jobd_info{version=\"", stdout);
		prom_label(jstr(st, "version"));
		fputs("\"} 1\n", stdout);
	}
	prom_head("jobd_jobs", "gauge", "Jobs in each state now.");
	for (int s = 0; s < JOBD_STATE_COUNT; s++) {
		json_t *n = json_integer(jint(jobs, jobd_state_name(s), 0));

		prom_sample("jobd_jobs", "state", jobd_state_name(s), n);
		json_decref(n);
	}
	json_object_foreach (jobs, key, v) {
		if (jobd_state_parse(key) < 0)
			prom_sample("jobd_jobs", "state", key, v);
	}
	if (json_is_object(totals)) {
		prom_head("jobd_jobs_total", "counter",
			  "Jobs and attempts counted since the daemon "
			  "started, by result.");
		json_object_foreach (totals, key, v) {
			prom_sample("jobd_jobs_total", "result", key, v);
		}
	}
	prom_metric("jobd_connections", "gauge", "Client connections open now.",
		    json_object_get(st, "connections"));
	prom_metric("jobd_loop_iterations_total", "counter",
		    "Event loop iterations since the daemon started.",
		    json_object_get(loop, "iterations"));
	json_t *lag = ms_to_seconds(json_object_get(loop, "lag_max_ms"));
	prom_metric("jobd_loop_lag_max_seconds", "gauge",
		    "Longest time the event loop went without polling.", lag);
	json_decref(lag);
	prom_metric("jobd_loop_slow_callbacks_total", "counter",
		    "Callbacks and coroutine steps slower than "
		    "slow_callback_ms.",
		    json_object_get(loop, "slow_callbacks"));
	json_t *slowest = ms_to_seconds(json_object_get(loop, "slowest_ms"));
	prom_metric("jobd_loop_slowest_seconds", "gauge",
		    "Slowest callback or coroutine step.", slowest);
	json_decref(slowest);
	prom_metric("jobd_uptime_seconds", "gauge",
		    "Seconds since the daemon started.",
		    json_object_get(st, "uptime"));
	prom_metric("jobd_rss_bytes", "gauge",
		    "Resident memory of the daemon, in bytes.",
		    json_object_get(st, "rss_bytes"));
	prom_metric("jobd_db_size_bytes", "gauge",
		    "Size of the database file, in bytes.",
		    json_object_get(db, "size_bytes"));
	prom_metric("jobd_db_wal_bytes", "gauge",
		    "Size of the database's write-ahead log, in bytes.",
		    json_object_get(db, "wal_bytes"));
	if (json_array_size(queues) == 0)
		return;
	prom_head("jobd_queue_running", "gauge", "Jobs running in each queue.");
	json_array_foreach (queues, i, q) {
		json_t *n = json_integer(
			jint(json_object_get(q, "counts"), "running", 0));

		prom_sample("jobd_queue_running", "queue", jstr(q, "name"), n);
		json_decref(n);
	}
	prom_head("jobd_queue_pending", "gauge",
		  "Jobs waiting, scheduled or queued in each queue.");
	json_array_foreach (queues, i, q) {
		json_t *n =
			json_integer(pending_of(json_object_get(q, "counts")));

		prom_sample("jobd_queue_pending", "queue", jstr(q, "name"), n);
		json_decref(n);
	}
	prom_head("jobd_queue_concurrency", "gauge",
		  "Most jobs each queue runs at once.");
	json_array_foreach (queues, i, q) {
		prom_sample("jobd_queue_concurrency", "queue", jstr(q, "name"),
			    json_object_get(q, "concurrency"));
	}
	prom_head("jobd_queue_paused", "gauge",
		  "1 when the queue is paused, else 0.");
	json_array_foreach (queues, i, q) {
		json_t *n = json_integer(
			json_is_true(json_object_get(q, "paused")));

		prom_sample("jobd_queue_paused", "queue", jstr(q, "name"), n);
		json_decref(n);
	}
}

/* Prints the members of obj as "k n, k n" after a label; known keys (a
 * NULL-ended list, may be NULL) first. */
static void
print_counts(const char *label, json_t *obj, const char *const *order)
{
	const char *key, *sep = "";
	json_t *v;

	printf("%-12s", label);
	for (size_t i = 0; order != NULL && order[i] != NULL; i++) {
		char *t = value_text(json_object_get(obj, order[i]));

		printf("%s %s %s", sep, order[i],
		       json_object_get(obj, order[i]) ? t : "0");
		sep = ",";
		free(t);
	}
	json_object_foreach (obj, key, v) {
		char *t;

		if (order != NULL && listed(order, key))
			continue;
		t = value_text(v);
		printf("%s %s %s", sep, key, t);
		sep = ",";
		free(t);
	}
	putchar('\n');
}

static void
stats_human(json_t *st)
{
	static const char *const states[] = {
		"waiting",   "scheduled", "queued",    "running",
		"succeeded", "failed",	  "cancelled", NULL,
	};
	json_t *db = json_object_get(st, "db");
	char a[64], b[64];

	printf("%-12s %s\n", "version",
	       jstr(st, "version") ? jstr(st, "version") : "?");
	printf("%-12s %lld\n", "pid", (long long)jint(st, "pid", 0));
	fmt_duration(jnum(st, "uptime", 0), a, sizeof(a));
	printf("%-12s %s\n", "uptime", a);
	printf("%-12s %lld\n", "connections",
	       (long long)jint(st, "connections", 0));
	fmt_size(jnum(st, "rss_bytes", 0), a, sizeof(a));
	printf("%-12s %s\n", "rss", a);
	print_counts("jobs", json_object_get(st, "jobs"), states);
	print_counts("totals", json_object_get(st, "totals"), NULL);
	print_counts("loop", json_object_get(st, "loop"), NULL);
	if (json_is_object(db)) {
		fmt_size(jnum(db, "size_bytes", 0), a, sizeof(a));
		fmt_size(jnum(db, "wal_bytes", 0), b, sizeof(b));
		printf("%-12s %s, %s, wal %s\n", "db",
		       jstr(db, "path") ? jstr(db, "path") : "-", a, b);
	}
}

static int
cmd_stats(int argc, char **argv)
{
	bool prom = false;
	json_t *res, *ql;
	int st = flag_args("stats", u_stats, "prometheus", &prom, argc, argv);

	if (st != ST_OK)
		return st;
	res = call("stats", NULL);
	if (res == NULL)
		return call_status();
	if (prom) {
		ql = call("queue.list", NULL);
		if (ql == NULL) {
			json_decref(res);
			return call_status();
		}
		stats_prometheus(res, json_object_get(ql, "queues"));
		json_decref(ql);
	} else if (g.json) {
		print_json(res);
	} else {
		stats_human(res);
	}
	json_decref(res);
	return ST_OK;
}

static int
cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double secs = -1;
	json_t *res;
	int ch;

	opts_begin("prune", argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_OLDER_THAN:
			if (jobd_duration_parse(optarg, &secs) != 0)
				return bad_value("duration", optarg);
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			return help(u_prune);
		default:
			return usage(u_prune);
		}
	}
	if (optind != argc || secs < 0)
		return usage(u_prune);
	res = call("prune", json_pack("{so}", "older_than", json_num(secs)));
	if (res == NULL)
		return call_status();
	if (g.json)
		print_json(res);
	else
		printf("deleted %lld jobs\n",
		       (long long)jint(res, "deleted", 0));
	json_decref(res);
	return ST_OK;
}

/* Sends cmd with args (stolen) and prints the result: all of it with
 * --json, else its member (a queue or producer object), if there is one,
 * as key: value lines. */
static int
call_show(const char *cmd, json_t *args, const char *member,
	  const char *const *keys)
{
	json_t *res = call(cmd, args);

	if (res == NULL)
		return call_status();
	if (g.json)
		print_json(res);
	else if (member != NULL && json_is_object(json_object_get(res, member)))
		print_kv(json_object_get(res, member), keys);
	json_decref(res);
	return ST_OK;
}

/* A command with no arguments and an empty result: prints nothing but
 * with --json. */
static int
simple_cmd(const char *name, const char *synopsis, int argc, char **argv)
{
	int st = no_args(name, synopsis, argc, argv);

	return st != ST_OK ? st : call_show(name, NULL, NULL, NULL);
}

static int
cmd_reload(int argc, char **argv)
{
	return simple_cmd("reload", u_reload, argc, argv);
}

static int
cmd_shutdown(int argc, char **argv)
{
	bool now = false;
	int st = flag_args("shutdown", u_shutdown, "now", &now, argc, argv);

	if (st != ST_OK)
		return st;
	return call_show("shutdown", now ? json_pack("{sb}", "now", 1) : NULL,
			 NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* queue and producer                                                   */

static const char *const queue_keys[] = {
	"name",	   "concurrency", "rate",	"capacity",
	"paused",  "timeout",	  "kill_grace", "max_attempts",
	"backoff", "counts",	  NULL,
};

static const char *const producer_keys[] = {
	"name",	    "type",	"queue",     "state",	"paused",
	"every",    "schedule", "generator", "format",	"restart",
	"overlap",  "job",	"produced",  "skipped", "errors",
	"last_run", "next_run", "uid",	     NULL,
};

/* A queue's rate for people, in the form --rate takes: "100/m",
 * "10/s burst 20", or "-". */
static char *
rate_text(const json_t *rate)
{
	double limit = jnum(rate, "limit", 0), period = jnum(rate, "period", 1);
	json_t *burst = json_object_get(rate, "burst");
	char r[JOBD_UNIT_LEN], b[JOBD_UNIT_LEN];

	if (!json_is_object(rate))
		return dup_str("-");
	jobd_rate_format(limit, period, r);
	if (json_is_number(burst) && json_number_value(burst) != limit)
		return fmt("%s burst %s", r,
			   jobd_number_format(json_number_value(burst), b));
	return dup_str(r);
}

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
	struct table t;
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
	if (g.json) {
		print_json(res);
		json_decref(res);
		return ST_OK;
	}
	table_init(&t, ncols, head, right, 99);
	json_array_foreach (json_object_get(res, member), i, elem) {
		char *cells[16];

		row(elem, cells);
		table_add(&t, NULL, cells);
	}
	table_print(&t);
	json_decref(res);
	return ST_OK;
}

static void
queue_row(const json_t *q, char **cells)
{
	json_t *counts = json_object_get(q, "counts");

	cells[0] = dup_str(jstr(q, "name") ? jstr(q, "name") : "-");
	cells[1] = value_text(json_object_get(q, "concurrency"));
	cells[2] = fmt("%lld", (long long)jint(counts, "running", 0));
	cells[3] = fmt("%lld", (long long)pending_of(counts));
	cells[4] = value_text(json_object_get(q, "capacity"));
	cells[5] = rate_text(json_object_get(q, "rate"));
	cells[6] = dup_str(json_is_true(json_object_get(q, "paused")) ? "yes"
								      : "no");
}

static int
queue_list(int argc, char **argv)
{
	static const char *const head[] = {"NAME",    "CONCURRENCY", "RUNNING",
					   "PENDING", "CAPACITY",    "RATE",
					   "PAUSED"};

	return list_cmd("queue", "queues", 7, head, 0x1e, queue_row, argc,
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
			g.json = true;
		else if (ch == 'h')
			return help(synopsis);
		else
			return usage(synopsis);
	}
	if (argc - optind != 1)
		return usage(synopsis);
	if (strcmp(wire, "delete") == 0 && !g.json) {
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
	const char *noun;	     /* "queue": names the wire commands too */
	const char *synopsis;	     /* for usage and help */
	const char *const *keys;     /* the object's keys, for get */
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

/* queue add / queue set. */
static int
queue_edit(int argc, char **argv, bool create)
{
	static const struct option opts[] = {
		{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
		{"rate", required_argument, NULL, OPT_RATE},
		{"burst", required_argument, NULL, OPT_BURST},
		{"capacity", required_argument, NULL, OPT_CAPACITY},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
		{"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
		{"backoff", required_argument, NULL, OPT_BACKOFF},
		{"paused", no_argument, NULL, OPT_PAUSED},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *label = create ? "queue add" : "queue set";
	json_t *args = json_object(), *rate = NULL, *v;
	double burst = -1, secs;
	int64_t n;
	int ch, st = ST_OK;
	char *end;

	opts_begin(label, argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_CONCURRENCY:
		case OPT_CAPACITY:
		case OPT_MAX_ATTEMPTS:
			if (!parse_i64(optarg, 0, INT32_MAX, &n)) {
				st = bad_value("number", optarg);
				goto out;
			}
			json_object_set_new(
				args,
				ch == OPT_CONCURRENCY ? "concurrency"
				: ch == OPT_CAPACITY  ? "capacity"
						      : "max_attempts",
				json_integer(n));
			break;
		case OPT_RATE:
			json_decref(rate);
			rate = parse_rate(optarg);
			if (rate == NULL) {
				st = bad_value("rate (N/s, N/m, N/h, N/d, "
					       "N/DURATION such as 5/30s, "
					       "none or 0)",
					       optarg);
				goto out;
			}
			break;
		case OPT_BURST:
			errno = 0;
			burst = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(burst > 0) ||
			    !isfinite(burst)) {
				st = bad_value("burst", optarg);
				goto out;
			}
			break;
		case OPT_TIMEOUT:
		case OPT_KILL_GRACE:
			if (jobd_duration_parse(optarg, &secs) != 0) {
				st = bad_value("duration", optarg);
				goto out;
			}
			json_object_set_new(args,
					    ch == OPT_TIMEOUT ? "timeout"
							      : "kill_grace",
					    json_num(secs));
			break;
		case OPT_BACKOFF:
			v = parse_backoff(optarg);
			if (v == NULL) {
				st = bad_value("backoff ('BASE FACTOR MAX "
					       "JITTER')",
					       optarg);
				goto out;
			}
			json_object_set_new(args, "backoff", v);
			break;
		case OPT_PAUSED:
			/* queue set has pause and resume for that. */
			if (!create) {
				fprintf(stderr,
					"%s: --paused is for queue add; use "
					"jobctl queue pause NAME\n",
					g.prog);
				st = ST_USAGE;
				goto out;
			}
			json_object_set_new(args, "paused", json_true());
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			st = help(u_queue);
			goto out;
		default:
			st = usage(u_queue);
			goto out;
		}
	}
	if (argc - optind != 1) {
		st = usage(u_queue);
		goto out;
	}
	if (burst > 0) {
		if (rate == NULL && !create) {
			/* --burst alone changes the burst of the queue's
			 * current rate. */
			json_t *q = call("queue.get", json_pack("{ss}", "name",
								argv[optind]));

			if (q == NULL) {
				st = call_status();
				goto out;
			}
			rate = json_deep_copy(json_object_get(
				json_object_get(q, "queue"), "rate"));
			json_decref(q);
		}
		if (!json_is_object(rate)) {
			fprintf(stderr, "%s: --burst needs a rate (--rate)\n",
				g.prog);
			st = usage(u_queue);
			goto out;
		}
		json_object_set_new(rate, "burst", json_num(burst));
	}
	if (rate != NULL) {
		json_object_set(args, "rate", rate);
	}
	if (!create && json_object_size(args) == 0) {
		fprintf(stderr, "%s: nothing to change\n", g.prog);
		st = usage(u_queue);
		goto out;
	}
	json_object_set_new(args, "name", json_string(argv[optind]));
	st = call_show(create ? "queue.create" : "queue.update",
		       json_incref(args), "queue", queue_keys);
out:
	json_decref(rate);
	json_decref(args);
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

static int
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
	static const char *const cols[] = {
		"name",	   "type",   "queue",	 "state",   "produced",
		"skipped", "errors", "last_run", "next_run"};

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		cells[i] = value_text(json_object_get(p, cols[i]));
}

static int
producer_list(int argc, char **argv)
{
	static const char *const head[] = {
		"NAME",	  "TYPE",   "QUEUE",	"STATE",   "PRODUCED",
		"SKIPPED", "ERRORS", "LAST_RUN", "NEXT_RUN"};

	return list_cmd("producer", "producers", 9, head, 0x70, producer_row,
			argc, argv);
}

static bool
one_of(const char *s, const char *const *list)
{
	return listed(list, s);
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
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const types[] = {"interval", "cron", "command",
					    NULL};
	bool no_env = false;
	static const char *const formats[] = {"json", "lines", NULL};
	static const char *const restarts[] = {"never", "on-failure", "always",
					       NULL};
	json_t *p = json_object(), *tmpl = NULL, *env = json_object();
	const char *name = NULL, *type = NULL, *shell = NULL;
	char *cwd = NULL;
	double secs;
	int ch, st = ST_OK;

	/* NAME comes first; the options stop at the job's argv. */
	if (argc >= 2 && argv[1][0] != '-') {
		name = argv[1];
		argv++;
		argc--;
	}
	opts_begin("producer add", argv);
	while ((ch = getopt_long(argc, argv, "+q:e:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_TYPE:
			if (!one_of(optarg, types)) {
				st = bad_value("type (interval, cron or "
					       "command)",
					       optarg);
				goto out;
			}
			type = optarg;
			break;
		case OPT_EVERY:
			if (jobd_duration_parse(optarg, &secs) != 0) {
				st = bad_value("duration", optarg);
				goto out;
			}
			json_object_set_new(p, "every", json_num(secs));
			break;
		case OPT_SCHEDULE:
			json_object_set_new(p, "schedule", json_string(optarg));
			break;
		case 'q':
			json_object_set_new(p, "queue", json_string(optarg));
			break;
		case OPT_OVERLAP:
			json_object_set_new(p, "overlap", json_true());
			break;
		case OPT_FORMAT:
			if (!one_of(optarg, formats)) {
				st = bad_value("format (json or lines)",
					       optarg);
				goto out;
			}
			json_object_set_new(p, "format", json_string(optarg));
			break;
		case OPT_RESTART:
			if (!one_of(optarg, restarts)) {
				st = bad_value("restart (never, on-failure or "
					       "always)",
					       optarg);
				goto out;
			}
			json_object_set_new(p, "restart", json_string(optarg));
			break;
		case OPT_GENERATOR:
			json_object_set_new(p, "generator",
					    json_pack("{ss}", "shell", optarg));
			break;
		case OPT_JOB: {
			json_error_t err;

			json_decref(tmpl);
			tmpl = json_loads(optarg, 0, &err);
			if (!json_is_object(tmpl)) {
				st = bad_value("job (a JSON object)", optarg);
				goto out;
			}
			break;
		}
		case OPT_CWD:
			free(cwd);
			cwd = absolute_dir(optarg);
			break;
		case 'e':
			if (!env_add(env, optarg)) {
				st = bad_value("KEY=VAL", optarg);
				goto out;
			}
			break;
		case 'c':
			shell = optarg;
			break;
		case OPT_NO_ENV:
			no_env = true;
			break;
		case OPT_JSON:
			g.json = true;
			break;
		case 'h':
			st = help(u_producer);
			goto out;
		default:
			st = usage(u_producer);
			goto out;
		}
	}
	if (name == NULL && optind < argc && strcmp(argv[optind - 1], "--"))
		name = argv[optind++];
	if (name == NULL || type == NULL) {
		fprintf(stderr, "%s: a NAME and --type are needed\n", g.prog);
		st = usage(u_producer);
		goto out;
	}
	if (tmpl == NULL)
		tmpl = json_object();
	if ((optind < argc || shell != NULL) &&
	    !set_command(tmpl, argc - optind, argv + optind, shell)) {
		st = usage(u_producer);
		goto out;
	}
	/* Like submit: the jobs (and the generator) run where jobctl runs,
	 * with its environment, unless told otherwise. */
	if (cwd == NULL && json_object_get(tmpl, "cwd") == NULL)
		cwd = current_dir();
	if (cwd != NULL)
		json_object_set_new(tmpl, "cwd", json_string(cwd));
	if (!no_env && json_object_get(tmpl, "env") == NULL) {
		json_t *mine = env_from_environ();
		json_object_update(mine, env);
		json_decref(env);
		env = mine;
	}
	if (json_object_size(env) > 0)
		json_object_set(tmpl, "env", env);
	if (strcmp(type, "command") != 0 && json_object_size(tmpl) == 0) {
		fprintf(stderr,
			"%s: give the job: -- ARGV..., -c 'SHELL' or "
			"--job JSON\n",
			g.prog);
		st = usage(u_producer);
		goto out;
	}
	if (strcmp(type, "command") == 0 &&
	    json_object_get(p, "generator") == NULL) {
		fprintf(stderr, "%s: a command producer needs --generator\n",
			g.prog);
		st = usage(u_producer);
		goto out;
	}
	json_object_set_new(p, "name", json_string(name));
	json_object_set_new(p, "type", json_string(type));
	json_object_set(p, "job", tmpl);
	st = call_show("producer.create", json_pack("{sO}", "producer", p),
		       "producer", producer_keys);
out:
	free(cwd);
	json_decref(tmpl);
	json_decref(env);
	json_decref(p);
	return st;
}

static int
cmd_producer(int argc, char **argv)
{
	static const struct family producer = {
		"producer", u_producer, producer_keys, producer_list,
		producer_add, NULL,
	};

	return family_cmd(&producer, argc, argv);
}

/* ------------------------------------------------------------------ */
/* top                                                                  */

static volatile sig_atomic_t top_quit;	  /* SIGINT, SIGTERM, SIGHUP */
static volatile sig_atomic_t top_resized; /* SIGWINCH */
static struct termios top_saved;	  /* the terminal before top */
static bool top_tio;			  /* top_saved is to be restored */
static bool top_screen;			  /* the alternate screen is on */

static void
top_signal(int sig)
{
	if (sig == SIGWINCH)
		top_resized = 1;
	else
		top_quit = 1;
}

/* Gives the terminal back: cursor, main screen, line mode.  Safe to call
 * more than once (main's atexit handler calls it too). */
static void
top_restore(void)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (top_screen) {
		top_screen = false;
		fflush(stdout);
		if (write(STDOUT_FILENO, leave, sizeof(leave) - 1) < 0) {
			/* Nothing more can be done for a broken terminal. */
		}
	}
	if (top_tio) {
		top_tio = false;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved);
	}
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One screenful being built. */
struct frame {
	FILE *f;  /* memstream */
	int rows; /* lines available; 0 = no limit */
	int cols; /* columns; 0 = no limit */
	int used; /* lines written */
	bool tty; /* clear to end of line after each */
};

static void frame_line(struct frame *fr, const char *f, ...)
	__attribute__((format(printf, 2, 3)));

static void
frame_line(struct frame *fr, const char *f, ...)
{
	char line[1024];
	size_t n;
	va_list ap;

	if (fr->rows > 0 && fr->used >= fr->rows - 1)
		return;
	va_start(ap, f);
	vsnprintf(line, sizeof(line), f, ap);
	va_end(ap);
	n = fr->cols > 0 ? text_prefix(line, (size_t)fr->cols) : strlen(line);
	fwrite(line, 1, n, fr->f);
	fputs(fr->tty ? "\033[K\n" : "\n", fr->f);
	fr->used++;
}

/* "[####------]" for frac of width cells. */
static void
bar(char *buf, int width, double frac)
{
	int fill;

	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * width + 0.5);
	buf[0] = '[';
	for (int i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : '-';
	buf[width + 1] = ']';
	buf[width + 2] = '\0';
}

/* What `top` remembers between frames, for rates. */
struct top_state {
	json_t *totals; /* owned: the previous stats totals */
	json_t *done;	/* owned: queue name -> finished jobs then */
	int64_t ms;	/* monotonic ms of the previous frame */
};

/* A call for top: on failure gives the terminal back before reporting.
 * Exits 3 on a transport failure. */
static json_t *
top_call(const char *cmd, json_t *args)
{
	struct jobd_client *c = client();
	json_t *res = jobd_client_cmd(c, cmd, args);

	if (res == NULL) {
		top_restore();
		report(c);
	}
	return res;
}

static int64_t
finished_of(const json_t *counts)
{
	return jint(counts, "succeeded", 0) + jint(counts, "failed", 0) +
	       jint(counts, "cancelled", 0);
}

/* Fetches stats, queues and running jobs, and writes one frame. */
static int
top_frame(struct top_state *ts, struct frame *fr)
{
	json_t *st, *ql = NULL, *rl = NULL, *jobs, *totals, *q, *done, *job;
	int64_t now = mono_ms(), wall = jobd_time_now_ms(), maxpend = 1;
	double dt = ts->ms > 0 ? (double)(now - ts->ms) / 1000.0 : 0;
	char up[32], rss[32], dbs[32], rb[32], pb[32], el[32];
	size_t i;
	int rc = ST_ERROR;

	st = top_call("stats", NULL);
	if (st == NULL)
		return ST_ERROR;
	ql = top_call("queue.list", NULL);
	if (ql == NULL)
		goto out;
	rl = top_call("list", json_pack("{sssi}", "state", "running", "limit",
					TOP_MAX_RUNNING));
	if (rl == NULL)
		goto out;
	jobs = json_object_get(st, "jobs");
	totals = json_object_get(st, "totals");
	fmt_duration(jnum(st, "uptime", 0), up, sizeof(up));
	fmt_size(jnum(st, "rss_bytes", 0), rss, sizeof(rss));
	fmt_size(jnum(json_object_get(st, "db"), "size_bytes", 0), dbs,
		 sizeof(dbs));
	frame_line(fr,
		   "jobd %s  pid %lld  up %s  connections %lld  rss %s  "
		   "db %s%s",
		   jstr(st, "version") ? jstr(st, "version") : "?",
		   (long long)jint(st, "pid", 0), up,
		   (long long)jint(st, "connections", 0), rss, dbs,
		   fr->tty ? "   (q quits)" : "");
	frame_line(fr,
		   "jobs: waiting %lld  scheduled %lld  queued %lld  "
		   "running %lld  succeeded %lld  failed %lld  "
		   "cancelled %lld",
		   (long long)jint(jobs, "waiting", 0),
		   (long long)jint(jobs, "scheduled", 0),
		   (long long)jint(jobs, "queued", 0),
		   (long long)jint(jobs, "running", 0),
		   (long long)jint(jobs, "succeeded", 0),
		   (long long)jint(jobs, "failed", 0),
		   (long long)jint(jobs, "cancelled", 0));
	if (ts->totals != NULL && dt > 0) {
		double started = (double)(jint(totals, "started", 0) -
					  jint(ts->totals, "started", 0));
		double fin =
			(double)(finished_of(totals) - finished_of(ts->totals));

		frame_line(fr,
			   "throughput: %.1f started/s  %.1f finished/s  "
			   "loop lag max %.1f ms  slow callbacks %lld",
			   started / dt, fin / dt,
			   jnum(json_object_get(st, "loop"), "lag_max_ms", 0),
			   (long long)jint(json_object_get(st, "loop"),
					   "slow_callbacks", 0));
	} else {
		frame_line(fr, "throughput: -");
	}
	frame_line(fr, "%s", "");
	json_array_foreach (json_object_get(ql, "queues"), i, q) {
		int64_t p = pending_of(json_object_get(q, "counts"));

		if (p > maxpend)
			maxpend = p;
	}
	frame_line(fr, "%-16s %-12s %-9s %-12s %8s %8s  %s", "QUEUE", "RUNNING",
		   "", "PENDING", "", "DONE/S", "RATE");
	done = json_object();
	json_array_foreach (json_object_get(ql, "queues"), i, q) {
		json_t *counts = json_object_get(q, "counts");
		const char *qn = jstr(q, "name") ? jstr(q, "name") : "-";
		int64_t run = jint(counts, "running", 0);
		int64_t conc = jint(q, "concurrency", 0);
		int64_t pend = pending_of(counts);
		int64_t cap = jint(q, "capacity", 0);
		int64_t fin = finished_of(counts);
		json_t *prev = json_object_get(ts->done, qn);
		char rate[64] = "-", *rt, *sqn;
		char runs[32];

		if (prev != NULL && dt > 0 && fin >= json_integer_value(prev))
			snprintf(rate, sizeof(rate), "%.1f",
				 (double)(fin - json_integer_value(prev)) / dt);
		json_object_set_new(done, qn, json_integer(fin));
		bar(rb, 10, conc > 0 ? (double)run / (double)conc : 0);
		bar(pb, 10, (double)pend / (double)(cap > 0 ? cap : maxpend));
		snprintf(runs, sizeof(runs), "%lld/%lld", (long long)run,
			 (long long)conc);
		rt = rate_text(json_object_get(q, "rate"));
		sqn = render_text(qn);
		frame_line(fr, "%-16s %s %-9s %s %8lld %8s  %s%s", sqn, rb,
			   runs, pb, (long long)pend, rate, rt,
			   json_is_true(json_object_get(q, "paused"))
				   ? "  paused"
				   : "");
		free(sqn);
		free(rt);
	}
	json_decref(ts->done);
	ts->done = done;
	frame_line(fr, "%s", "");
	frame_line(fr, "running jobs: %zu",
		   json_array_size(json_object_get(rl, "jobs")));
	frame_line(fr, "%10s  %-16s %-11s %-8s %s", "ID", "QUEUE", "ELAPSED",
		   "ATTEMPT", "NAME/COMMAND");
	json_array_foreach (json_object_get(rl, "jobs"), i, job) {
		const char *sa = jstr(job, "started_at");
		int64_t t0;
		char att[32], *label = job_label(job);
		char *queue = value_text(json_object_get(job, "queue"));

		if (sa != NULL && jobd_time_parse(sa, &t0) == 0)
			fmt_duration((double)(wall - t0) / 1000.0, el,
				     sizeof(el));
		else
			snprintf(el, sizeof(el), "-");
		snprintf(att, sizeof(att), "%lld/%lld",
			 (long long)jint(job, "attempt", 0),
			 (long long)jint(job, "max_attempts", 0));
		frame_line(fr, "%10lld  %-16s %-11s %-8s %s",
			   (long long)jint(job, "id", 0), queue, el, att,
			   label);
		free(queue);
		free(label);
	}
	json_decref(ts->totals);
	ts->totals = json_incref(totals);
	ts->ms = now;
	rc = ST_OK;
out:
	json_decref(rl);
	json_decref(ql);
	json_decref(st);
	return rc;
}

/* Builds and shows one frame.  Returns an exit status. */
static int
top_draw(struct top_state *ts, bool tty)
{
	struct frame fr = {0};
	char *buf = NULL;
	size_t len = 0;
	int rc;

	fr.f = open_memstream(&buf, &len);
	if (fr.f == NULL)
		oom();
	fr.tty = tty;
	if (tty) {
		fr.rows = term_rows(STDOUT_FILENO);
		fr.cols = term_cols(STDOUT_FILENO);
		fputs("\033[H", fr.f);
	}
	rc = top_frame(ts, &fr);
	if (tty)
		fputs("\033[J", fr.f);
	if (fclose(fr.f) != 0)
		oom();
	if (rc == ST_OK) {
		fwrite(buf, 1, len, stdout);
		fflush(stdout);
	}
	free(buf);
	return rc;
}

static int
cmd_top(int argc, char **argv)
{
	static const char enter[] = "\033[?1049h\033[?25l";
	struct top_state ts = {0};
	struct sigaction sa;
	int st = no_args("top", u_top, argc, argv);

	if (st != ST_OK)
		return st;
	if (g.json) {
		fprintf(stderr, "jobctl top: no --json: for machines, use "
				"'jobctl --json stats' and 'jobctl --json "
				"queue list'\n");
		return ST_USAGE;
	}
	client();
	if (!isatty(STDOUT_FILENO)) {
		/* Not a terminal: one plain frame, for scripts and logs. */
		st = top_draw(&ts, false);
		goto out;
	}
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top_saved) == 0) {
		struct termios raw = top_saved;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			top_tio = true;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	fputs(enter, stdout);
	top_screen = true;
	while (!top_quit) {
		int64_t next;

		st = top_draw(&ts, true);
		if (st != ST_OK)
			break;
		next = mono_ms() + 1000;
		while (!top_quit) {
			struct pollfd pfd = {.fd = STDIN_FILENO,
					     .events = POLLIN};
			int64_t left = next - mono_ms();
			char keys[64];
			ssize_t n;

			if (left <= 0 || top_resized)
				break;
			if (poll(&pfd, top_tio ? 1 : 0, (int)left) <= 0)
				continue;
			n = read(STDIN_FILENO, keys, sizeof(keys));
			if (n <= 0) {
				/* stdin closed: keep refreshing, without
				 * keys. */
				top_tio = false;
				continue;
			}
			if (memchr(keys, 'q', (size_t)n) != NULL ||
			    memchr(keys, 'Q', (size_t)n) != NULL)
				top_quit = 1;
			else if (memchr(keys, ' ', (size_t)n) != NULL)
				break;
		}
		top_resized = 0;
	}
out:
	top_restore();
	json_decref(ts.totals);
	json_decref(ts.done);
	return st;
}

/* ------------------------------------------------------------------ */
/* main                                                                 */

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{"ping", cmd_ping},	    {"submit", cmd_submit},
	{"get", cmd_get},	    {"list", cmd_list},
	{"ls", cmd_list},	    {"cancel", cmd_cancel},
	{"retry", cmd_retry},	    {"wait", cmd_wait},
	{"logs", cmd_logs},	    {"watch", cmd_watch},
	{"top", cmd_top},	    {"queue", cmd_queue},
	{"producer", cmd_producer}, {"stats", cmd_stats},
	{"prune", cmd_prune},	    {"reload", cmd_reload},
	{"shutdown", cmd_shutdown}, {"help", cmd_help},
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
	jobd_client_close(g.c);
	g.c = NULL;
	free(g.path);
	g.path = NULL;
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
			g.socket = optarg;
			break;
		case OPT_JSON:
			g.json = true;
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
	g.color = want_color();
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
