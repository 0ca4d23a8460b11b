/*
 * jobctl: the command-line client of jobd (SPEC 8).  It parses arguments,
 * turns them into the requests of SPEC 5.1 through the client library, and
 * renders the answers for people (aligned tables, colour on a terminal,
 * progress on stderr, the full-screen `top`) or raw with --json.  It holds
 * one connection and nothing else; it never includes anything from daemon/.
 *
 * This header is private to the files of jobctl/: what the command
 * families share (the global options and the connection, exit statuses,
 * usage and option helpers, calls to jobd) and the entry point of each
 * command.  main.c owns the dispatch; each command family lives in its own
 * file (submit.c, jobs.c, logs.c, stats.c, queues.c, top.c); render.c
 * formats for people, prom.c writes the Prometheus text, spec.c builds job
 * specs.
 *
 * Exit statuses are SPEC 8's: 0 ok; 1 the daemon answered an error or a job
 * did not succeed; 2 usage; 3 the daemon cannot be reached (or the
 * connection was lost); 124 `wait --timeout` ran out; `submit --wait` exits
 * with the job's own status.  A transport failure exits at once from the
 * helper that met it; everything else returns its status to main().  Out
 * of memory exits 1 from wherever it is met.
 */
#ifndef JOBCTL_H_INCLUDED
#define JOBCTL_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct jobd_client;

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

/* Long options without a short letter. */
enum {
	OPT_JSON = 256,
	OPT_VERSION,
	OPT_DELAY,
	OPT_AT,
	OPT_AFTER,
	OPT_AFTER_ANY,
	OPT_AFTER_FAILED,
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
	OPT_GLOBAL_CONCURRENCY,
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
	OPT_MEMORY,
	OPT_CPU,
	OPT_TASKS,
	OPT_NOFILE,
	OPT_CPU_TIME,
	OPT_LINGER,
	OPT_SNOOZE_EXIT,
	OPT_SNOOZE,
	OPT_MAX_SNOOZES,
	OPT_WIDE,
	OPT_LABEL,
	OPT_NO_LABELS,
	OPT_ABSOLUTE,
	OPT_ON_FAILURE,
	OPT_ON_SUCCESS,
	OPT_ON_FINISH,
	OPT_RETENTION,
	OPT_RETENTION_SUCCEEDED,
	OPT_RETENTION_FAILED,
	OPT_RETENTION_CANCELLED,
	OPT_KEEP_LAST,
};

/* The global options and the one connection; main() sets the options. */
struct jobctl {
	const char *socket;	  /* -s, borrowed from argv; NULL = lookup */
	bool json;		  /* --json: raw result objects */
	bool color;		  /* stdout takes ANSI colours */
	char *path;		  /* owned: the socket path in use */
	struct jobd_client *conn; /* owned: connected on first use */
	char prog[64];		  /* "jobctl CMD", for getopt's messages */
};

extern struct jobctl jobctl;

/* ---- memory, numbers, JSON (jobctl.c) ---- */

/* Says "out of memory" on stderr and exits 1. */
void oom(void) __attribute__((noreturn));

/* printf into a new string the caller frees. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* A copy of s (borrowed) the caller frees. */
char *dup_str(const char *s);

/* Parses s as a decimal integer in [min, max] into *v.  Returns false,
 * leaving *v alone, when it is not one. */
bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *v);

/* Parses a job id (1 and up). */
bool parse_id(const char *s, int64_t *id);

/* A number as JSON (new reference): an integer when it is one, else a
 * real. */
json_t *json_num(double d);

/* Members of obj (borrowed): a string (borrowed from obj, NULL when absent
 * or not a string), an integer (a real is truncated) or a number, else
 * dflt. */
const char *jstr(const json_t *obj, const char *key);
int64_t jint(const json_t *obj, const char *key, int64_t dflt);
double jnum(const json_t *obj, const char *key, double dflt);

/* Adds the label of -l KEY=VALUE (arg, split at its first '=') to labels
 * (an object).  Returns false after saying why when arg has no '=' or no
 * key; jobd checks the rest. */
bool add_label(json_t *labels, const char *arg);

/* Adds the states of "a,b" (arg) to states (an array).  Returns false
 * after saying why when one is not a state (jobs.c). */
bool add_states(json_t *states, const char *arg);

/* ---- cancel and retry by filter (bulk.c) ---- */

/* Whether cancel's or retry's arguments hold a filter option (anything
 * but --json and -h before the ids). */
bool bulk_wanted(int argc, char **argv);
/* cancel and retry with a filter, synopsis their help text.  Return an
 * exit status. */
int bulk_cancel(const char *synopsis, int argc, char **argv);
int bulk_retry(const char *synopsis, int argc, char **argv);

/* Whether key is one of list, a NULL-ended list. */
bool listed(const char *const *list, const char *key);

/* Sum of the pending states (waiting, scheduled, queued) in counts (a
 * queue's or the daemon's counts object). */
int64_t pending_of(const json_t *counts);

/* Prints j on stdout as one line of compact JSON (--json output). */
void print_json(const json_t *j);

/* Terminal width of fd, or 0 when it is not a terminal. */
int term_cols(int fd);

/* The ANSI colour for a state name when stdout takes colour, else NULL. */
const char *state_color(const char *state);

/* ---- usage and options (jobctl.c) ---- */

/*
 * A command's help text (its synopsis) is what follows "usage: jobctl ":
 * the usage lines, then what the command does and a line per option; each
 * command family keeps its own next to its code.
 *
 * Prints "usage: jobctl SYNOPSIS" on stderr; returns ST_USAGE.
 */
int usage(const char *synopsis);

/* Prints COMMAND -h's "usage: jobctl SYNOPSIS" on stdout; returns
 * ST_HELP. */
int help(const char *synopsis);

/* Reports a bad option value ("jobctl CMD: invalid WHAT 'VAL'"); returns
 * ST_USAGE. */
int bad_value(const char *what, const char *val);

/* Says on stderr that flag (as written: "--timeout") was given val, which
 * is no duration, and what a duration looks like.  Returns ST_USAGE. */
int bad_duration(const char *flag, const char *val);

/* Parses val, given to flag, as a duration (jobd_duration_parse: 90, 90s,
 * 1h30m, 1.5h, 2d) into *secs.  Returns ST_OK, or ST_USAGE after
 * bad_duration. */
int parse_duration_flag(const char *flag, const char *val, double *secs);

/* Gets ready for getopt_long on a command's arguments: argv[0] becomes
 * "jobctl NAME" (jobctl.prog) so getopt's own messages name the command. */
void opts_begin(const char *name, char **argv);

/* Parses a command that takes no arguments but --json, -h and, unless flag
 * is NULL, the switch --FLAG, which sets *on.  Returns ST_OK, or the
 * status to exit with. */
int flag_args(const char *name, const char *synopsis, const char *flag,
	      bool *on, int argc, char **argv);

/* Parses a command that takes no arguments but --json and -h. */
int no_args(const char *name, const char *synopsis, int argc, char **argv);

/* ---- talking to jobd (jobctl.c) ---- */

/* Reports a transport failure on c and exits with status 3. */
void lost(struct jobd_client *c) __attribute__((noreturn));

/* The connection (borrowed; jobctl.conn), made on first use; exits 3,
 * after saying why and what to do, when jobd cannot be reached. */
struct jobd_client *client(void);

/* The exit status for the daemon's error of the last call on c: 124 for a
 * timeout; 2 for invalid_argument, which names a value the user gave, the
 * status jobctl gives when it refuses a value itself; else 1. */
int error_status(const struct jobd_client *c);

/* Prints the daemon's error of the last call on c ("jobctl: code:
 * message"), or exits 3 when it was a transport failure.  Returns the
 * status for it. */
int report(struct jobd_client *c);

/* Calls cmd with args (stolen, may be NULL).  Returns the result (new
 * reference), or NULL after reporting the daemon's error; exits 3 on a
 * transport failure. */
json_t *call(const char *cmd, json_t *args);

/* The status for a failed call(): see error_status. */
int call_status(void);

/* Sends cmd with args (stolen) and prints the result: all of it with
 * --json, else its member (an object, when there is one) as key: value
 * lines, keys (a NULL-ended list) first.  Returns an exit status. */
int call_show(const char *cmd, json_t *args, const char *member,
	      const char *const *keys);

/* ---- job specs from options (spec.c) ---- */

/* The long options of a job's resource limits, for a getopt table:
 * --memory, --cpu, --tasks, --nofile, --cpu-time. */
#define LIMIT_OPTIONS                                             \
	{"memory", required_argument, NULL, OPT_MEMORY},          \
		{"cpu", required_argument, NULL, OPT_CPU},        \
		{"tasks", required_argument, NULL, OPT_TASKS},    \
		{"nofile", required_argument, NULL, OPT_NOFILE},  \
	{                                                         \
		"cpu-time", required_argument, NULL, OPT_CPU_TIME \
	}
/* The --help lines of LIMIT_OPTIONS. */
#define LIMIT_HELP                                                     \
	"      --memory SIZE         memory limit (512M, 2G)\n"        \
	"      --cpu FRACTION        CPU share (needs cgroups)\n"      \
	"      --tasks N             most processes (needs cgroups)\n" \
	"      --nofile N            most open files\n"                \
	"      --cpu-time D          most CPU time (SIGXCPU, then SIGKILL)\n"
/* Whether ch is one of LIMIT_OPTIONS. */
bool limit_is_option(int ch);
/* Sets the key of option ch (a limit option) from arg in obj's "limits"
 * object, created when missing.  Returns ST_OK, or ST_USAGE after saying
 * why on stderr. */
int limit_option(json_t *obj, int ch, const char *arg);
/* Sets obj's "limits" to the keys of base (borrowed: an object, or NULL
 * for none) with those of given (borrowed: what limit_option gathered)
 * laid over them, key by key: the flags change the keys they name and
 * keep the others. */
void limit_merge(json_t *obj, const json_t *base, json_t *given);

/* The snooze options of submit and queue add/set: the members snooze_exit,
 * snooze and max_snoozes. */
#define SNOOZE_OPTIONS                                                  \
	{"snooze-exit", required_argument, NULL, OPT_SNOOZE_EXIT},      \
		{"snooze", required_argument, NULL, OPT_SNOOZE},        \
	{                                                               \
		"max-snoozes", required_argument, NULL, OPT_MAX_SNOOZES \
	}
/* The --help lines of SNOOZE_OPTIONS. */
#define SNOOZE_HELP                                                       \
	"      --snooze-exit N|none  exit status that means: later\n"     \
	"      --snooze D|backoff    delay of a snooze that names none\n" \
	"      --max-snoozes N       most snoozes (then failed)\n"
/* Whether ch is one of SNOOZE_OPTIONS. */
bool snooze_is_option(int ch);
/* Sets obj's member of option ch (a snooze option) from arg: snooze_exit
 * (null for "none"), snooze (null for "backoff"), max_snoozes.  Returns
 * ST_OK, or ST_USAGE after saying why on stderr. */
int snooze_option(json_t *obj, int ch, const char *arg);

/* Whether ch is an option spec_option takes (submit's spec members). */
bool spec_is_option(int ch);

/* Sets the spec member (spec borrowed) that submit's option ch names, from
 * its value arg: -q -n -t -a -p, --delay --at --kill-grace --unique
 * --output --user.  Returns ST_OK or, after saying why, ST_USAGE. */
int spec_option(json_t *spec, int ch, const char *arg);

/* The process environment as a JSON object (new reference); variables that
 * are not UTF-8 are left out (JSON cannot carry them). */
json_t *env_from_environ(void);

/* Adds KEY=VAL to env (an object).  Returns false when kv is malformed. */
bool env_add(json_t *env, const char *kv);

/* The working directory, or NULL when it cannot be had.  Caller frees. */
char *current_dir(void);

/* dir made absolute against the working directory.  Caller frees. */
char *absolute_dir(const char *dir);

/* Appends the ids of "ID[,ID...]" to arr.  Returns false on a bad id or
 * when arr stays empty. */
bool parse_id_list(const char *s, json_t *arr);

/* Sets argv (the n words, borrowed) or shell on spec.  Returns false when
 * neither or both are given, or a word is not UTF-8. */
bool set_command(json_t *spec, int n, char **words, const char *shell);

/* ---- shared between command families ---- */

/*
 * Prints job id's log (logs.c; attempt > 0 picks one, else the latest):
 * chunk by chunk from offset 0 while there is more; with follow, then
 * streams what comes until the job ends, and with bar also draws the
 * job's progress as a bar on stderr when stderr is a terminal (not with
 * --json).  When jobp is non-NULL, *jobp receives the job object at the
 * end (new reference).  Returns an exit status.
 */
int show_logs(int64_t id, int64_t attempt, bool follow, bool bar,
	      json_t **jobp);

/* Gives the terminal back after `top` (top.c): cursor, main screen, line
 * mode.  Safe to call more than once and when top never ran. */
void top_restore(void);

/* ---- command entry points: argv[0] is the command's name ---- */

int cmd_ping(int argc, char **argv);	 /* stats.c */
int cmd_stats(int argc, char **argv);	 /* stats.c */
int cmd_nodes(int argc, char **argv);	 /* stats.c */
int cmd_prune(int argc, char **argv);	 /* stats.c */
int cmd_reload(int argc, char **argv);	 /* stats.c */
int cmd_shutdown(int argc, char **argv); /* stats.c */
int cmd_submit(int argc, char **argv);	 /* submit.c */
int cmd_get(int argc, char **argv);	 /* jobs.c */
int cmd_result(int argc, char **argv);	 /* jobs.c */
int cmd_list(int argc, char **argv);	 /* jobs.c */
int cmd_cancel(int argc, char **argv);	 /* jobs.c */
int cmd_retry(int argc, char **argv);	 /* jobs.c */
int cmd_restart(int argc, char **argv);	 /* jobs.c */
int cmd_wait(int argc, char **argv);	 /* jobs.c */
int cmd_logs(int argc, char **argv);	 /* logs.c */
int cmd_watch(int argc, char **argv);	 /* logs.c */
int cmd_queue(int argc, char **argv);	 /* queues.c */
int cmd_producer(int argc, char **argv); /* queues.c */
int cmd_top(int argc, char **argv);	 /* top.c */

#endif /* JOBCTL_H_INCLUDED */
