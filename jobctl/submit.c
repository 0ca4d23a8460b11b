/*
 * submit: one job from options (spec.c builds it), or many from a file of
 * specs (--batch, sent in pipelined chunks); with --wait or --follow it
 * waits for the job and exits with the job's own status.
 */
#include "jobctl.h"

#include "jobd/client.h"
#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Batch submit: most specs and bytes in one request; the bytes stay well
 * under the daemon's default 4 MiB line limit. */
#define BATCH_MAX_JOBS 10000
#define BATCH_MAX_BYTES (3 * 1024 * 1024)

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
	"      --at TIME             start no sooner than TIME: ISO 8601\n"
	"                            (2026-11-26T10:34, local without a "
	"zone),\n"
	"                            HH:MM (its next time), 'tomorrow "
	"HH:MM'\n"
	"                            or +DURATION (+1h30m)\n"
	"      --after ID[,ID...]    start once these jobs succeeded\n"
	"      --after-any ID[,ID...]\n"
	"                            start once these jobs ended, however\n"
	"      --after-failed ID[,ID...]\n"
	"                            start only if one of them failed or was\n"
	"                            cancelled (else cancelled, not_needed)\n"
	"      --unique KEY          one unfinished job per KEY\n"
	"      --cwd DIR             working directory (default: the "
	"current one)\n"
	"      --no-env              do not send jobctl's environment\n"
	"  -e, --env KEY=VAL         set a variable (repeatable)\n"
	"  -l, --label KEY=VALUE     a label (repeatable; over the queue's)\n"
	"      --kill-grace D        SIGTERM to SIGKILL gap on timeout\n"
	"      --output capture|discard  keep the output or not\n"
	"      --user USER           run as USER (root only)\n"
	"      --linger              let what it leaves in its cgroup run "
	"on\n" SNOOZE_HELP LIMIT_HELP
	"      --wait                wait, exit with the job's status\n"
	"      --follow              print the output as it comes (and "
	"the job's\n"
	"                            progress as a bar on a terminal), "
	"then as --wait\n"
	"  -c, --shell 'SHELL'       run SHELL with /bin/sh -c\n"
	"      --batch FILE|-        one JSON job spec a line\n"
	"      --json                print the raw result";

/* Batch chunks on their way: two in flight, so jobd stores one while
 * jobctl reads and encodes the next. */
struct batch_flight {
	int64_t ids[2]; /* request ids, oldest first */
	size_t njobs[2];
	size_t *lines[2]; /* owned: each spec's line in the file */
	int n;
	size_t total;	  /* jobs acknowledged */
	const char *file; /* borrowed: the file's name for messages */
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
	json_t *res =
		jobd_client_result(c, jobd_client_response(c, bf->ids[0], -1));
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
	if (jobctl.json) {
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
	char *state = render_value(json_object_get(job, "state"));
	char *reason = render_value(json_object_get(job, "reason"));
	char *error = render_value(json_object_get(job, "error"));

	fprintf(stderr, "jobctl: job %lld %s (%s)%s%s\n",
		(long long)jint(job, "id", 0), state, reason,
		jstr(job, "error") != NULL ? ": " : "",
		jstr(job, "error") != NULL ? error : "");
	free(state);
	free(reason);
	free(error);
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

/* What submit's options gathered. */
struct submit_opts {
	json_t *spec;	   /* owned: the job spec being built */
	json_t *extra_env; /* owned: the -e KEY=VAL variables */
	json_t *deps;	   /* owned: the --after (-any, -failed) ids */
	const char *cond; /* their field: depends_on, after_any, after_failed */
	const char *shell; /* -c, borrowed from argv */
	const char *batch; /* --batch FILE, borrowed from argv */
	char *cwd;	   /* owned: --cwd, made absolute */
	bool no_env;	   /* --no-env */
	bool do_wait;	   /* --wait or --follow */
	bool follow;	   /* --follow */
	bool other;	   /* an option --batch does not go with */
};

/* --cwd: a directory that does not exist is refused now rather than as a
 * spawn_error later. */
static int
submit_cwd(struct submit_opts *o, const char *arg)
{
	struct stat sb;
	const char *why = NULL;

	free(o->cwd);
	o->cwd = absolute_dir(arg);
	if (stat(o->cwd, &sb) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(sb.st_mode))
		why = "not a directory";
	if (why != NULL) {
		char *d = render_text(arg);

		fprintf(stderr, "%s: --cwd %s: %s\n", jobctl.prog, d, why);
		free(d);
		return ST_USAGE;
	}
	return ST_OK;
}

/* One of submit's own options (spec_option takes the spec's members).
 * Returns ST_OK or the status to exit with. */
static int
submit_option(struct submit_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_AFTER:
	case OPT_AFTER_ANY:
	case OPT_AFTER_FAILED: {
		const char *cond = ch == OPT_AFTER	 ? "depends_on"
				   : ch == OPT_AFTER_ANY ? "after_any"
							 : "after_failed";
		if (o->cond != NULL && strcmp(o->cond, cond) != 0) {
			fprintf(stderr,
				"%s: --after, --after-any and --after-failed "
				"exclude each other\n",
				jobctl.prog);
			return usage(u_submit);
		}
		o->cond = cond;
		if (!parse_id_list(arg, o->deps))
			return bad_value("job id list", arg);
		return ST_OK;
	}
	case OPT_CWD:
		return submit_cwd(o, arg);
	case OPT_NO_ENV:
		o->no_env = true;
		return ST_OK;
	case 'e':
		if (!env_add(o->extra_env, arg))
			return bad_value("KEY=VAL", arg);
		return ST_OK;
	case OPT_WAIT:
		o->do_wait = true;
		return ST_OK;
	case OPT_FOLLOW:
		o->do_wait = o->follow = true;
		return ST_OK;
	case 'c':
		o->shell = arg;
		return ST_OK;
	case OPT_BATCH:
		o->batch = arg;
		return ST_OK;
	case OPT_JSON:
		jobctl.json = true;
		return ST_OK;
	case 'h':
		return help(u_submit);
	default:
		return usage(u_submit);
	}
}

/* Parses submit's options into o; they stop at the job's argv.  Returns
 * ST_OK or the status to exit with. */
static int
submit_parse(struct submit_opts *o, int argc, char **argv)
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
		{"after-any", required_argument, NULL, OPT_AFTER_ANY},
		{"after-failed", required_argument, NULL, OPT_AFTER_FAILED},
		{"unique", required_argument, NULL, OPT_UNIQUE},
		{"cwd", required_argument, NULL, OPT_CWD},
		{"no-env", no_argument, NULL, OPT_NO_ENV},
		{"env", required_argument, NULL, 'e'},
		{"label", required_argument, NULL, 'l'},
		{"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"user", required_argument, NULL, OPT_USER},
		{"linger", no_argument, NULL, OPT_LINGER},
		SNOOZE_OPTIONS,
		LIMIT_OPTIONS,
		{"wait", no_argument, NULL, OPT_WAIT},
		{"follow", no_argument, NULL, OPT_FOLLOW},
		{"shell", required_argument, NULL, 'c'},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, st;

	opts_begin("submit", argv);
	while ((ch = getopt_long(argc, argv, "+q:n:t:a:p:e:l:c:h", opts,
				 NULL)) != -1) {
		o->other = o->other || (ch != OPT_NO_ENV && ch != OPT_BATCH &&
					ch != OPT_JSON);
		if (spec_is_option(ch))
			st = spec_option(o->spec, ch, optarg);
		else
			st = submit_option(o, ch, optarg);
		if (st != ST_OK)
			return st;
	}
	return ST_OK;
}

/*
 * Checks what only all the options together tell and completes the spec:
 * the command (argv[optind..] or -c), the dependencies, the working
 * directory and the environment (jobctl's unless --no-env, with -e's on
 * top).  Returns ST_OK or the status to exit with.
 */
static int
submit_complete(struct submit_opts *o, int argc, char **argv)
{
	if (json_object_get(o->spec, "delay") != NULL &&
	    json_object_get(o->spec, "run_at") != NULL) {
		fprintf(stderr, "%s: --delay and --at exclude each other\n",
			jobctl.prog);
		return usage(u_submit);
	}
	if (!set_command(o->spec, argc - optind, argv + optind, o->shell)) {
		fprintf(stderr,
			"%s: give a command: -- ARGV... or -c 'SHELL'"
			" (not both)\n",
			jobctl.prog);
		return usage(u_submit);
	}
	if (json_array_size(o->deps) > 0)
		json_object_set(o->spec, o->cond, o->deps);
	if (o->cwd == NULL)
		o->cwd = current_dir();
	if (o->cwd != NULL)
		json_object_set_new(o->spec, "cwd", json_string(o->cwd));
	if (!o->no_env) {
		json_t *env = env_from_environ();

		json_object_update(env, o->extra_env);
		json_object_set_new(o->spec, "env", env);
	} else if (json_object_size(o->extra_env) > 0) {
		json_object_set(o->spec, "env", o->extra_env);
	}
	return ST_OK;
}

/* submit --wait or --follow: waits for job id (printing its output as it
 * comes with follow).  Returns the job's own exit status. */
static int
submit_wait(int64_t id, bool follow)
{
	json_t *job = NULL;
	int st;

	fflush(stdout);
	if (follow) {
		st = show_logs(id, 0, true, true, &job);
		if (st != ST_OK)
			return st;
	} else {
		json_t *w = call(
			"wait", json_pack("{s[I]}", "job_ids", (json_int_t)id));

		if (w == NULL)
			return call_status();
		if (jobctl.json)
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
	json_decref(job);
	return st;
}

/* Sends the spec and prints the new job's id (the result with --json);
 * then waits when asked to.  Returns an exit status. */
static int
submit_send(const struct submit_opts *o)
{
	json_t *res = call("submit", json_pack("{sO}", "job", o->spec));
	int64_t id;

	if (res == NULL)
		return call_status();
	id = jint(res, "id", 0);
	/* Set before the id is printed: whoever reads it may interrupt. */
	if (o->do_wait)
		detach_on_interrupt(id);
	if (json_is_true(json_object_get(res, "duplicate"))) {
		char *key = render_text(jstr(o->spec, "unique_key"));

		fprintf(stderr,
			"jobctl: job %lld already holds unique key '%s': "
			"nothing submitted\n",
			(long long)id, key);
		free(key);
	}
	if (jobctl.json)
		print_json(res);
	else if (!o->follow)
		printf("%lld\n", (long long)id);
	json_decref(res);
	return o->do_wait ? submit_wait(id, o->follow) : ST_OK;
}

int
cmd_submit(int argc, char **argv)
{
	struct submit_opts o = {
		.spec = json_object(),
		.extra_env = json_object(),
		.deps = json_array(),
	};
	int st = submit_parse(&o, argc, argv);

	if (st != ST_OK)
		goto out;
	if (o.batch != NULL) {
		if (o.other || optind < argc) {
			fprintf(stderr,
				"%s: --batch takes no other job "
				"options (only --no-env)\n",
				jobctl.prog);
			st = usage(u_submit);
		} else {
			st = submit_batch(o.batch, o.no_env);
		}
		goto out;
	}
	st = submit_complete(&o, argc, argv);
	if (st == ST_OK)
		st = submit_send(&o);
out:
	free(o.cwd);
	json_decref(o.deps);
	json_decref(o.extra_env);
	json_decref(o.spec);
	return st;
}
