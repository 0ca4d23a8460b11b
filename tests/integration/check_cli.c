/*
 * cli_suite: jobctl as a person meets it, against a real jobd: human
 * output that a job's name cannot use to drive the terminal, the list's
 * newest page and its footer, durations and rates that can be pasted back,
 * help, exit statuses, Ctrl-C while waiting, and the small messages that
 * say what happened.  Commands that run while a test acts on them (Ctrl-C,
 * a cancel from elsewhere, a pseudo-terminal) are children read with
 * deadlines; nothing sleeps blindly.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *cli_suite(void);

#define BASE_CONF \
	"; cli_suite\n[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

static struct jd D;

static void
setup(void)
{
	jd_test_start(&D, BASE_CONF, NULL, NULL);
}

/* ---- helpers ---- */

/* Creates queue name, paused, so its jobs stay queued. */
static void
held_queue(const char *name)
{
	jd_call_ok(&D, json_pack("{s:s,s:s,s:b}", "cmd", "queue.create", "name",
				 name, "paused", 1));
}

/* Submits argv-less `true` to queue (NULL: default) with name (may be
 * NULL); returns the id. */
static int64_t
submit_true(const char *queue, const char *name)
{
	json_t *spec = json_pack("{s:[s]}", "argv", "true");

	if (queue != NULL)
		json_object_set_new(spec, "queue", json_string(queue));
	if (name != NULL)
		json_object_set_new(spec, "name", json_string(name));
	return jd_submit(&D, spec);
}

/* Number of lines of s. */
static int
lines_of(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The id in the first column of line `row` (0: the header) of a table. */
static long long
table_id(const char *out, int row)
{
	const char *p = out;

	for (int i = 0; i < row && p != NULL; i++) {
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	ck_assert_msg(p != NULL && *p != '\0', "no row %d in:\n%s", row, out);
	return strtoll(p, NULL, 10);
}

/* A jobctl child whose stdout is read through a socket (for
 * jd_read_line) and whose stderr goes to a file. */
struct child {
	pid_t pid;
	int out;
	char *errpath;
};

static void
spawn(struct child *ch, const char *const *args)
{
	const char *argv[32];
	int sv[2], n = 0;
	const char *bin = getenv("JOBCTL_BIN");

	argv[n++] = bin != NULL ? bin : "build/jobctl";
	argv[n++] = "-s";
	argv[n++] = D.sock;
	for (; *args != NULL && n < 30; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	ch->errpath = jd_path(&D, "child.err");
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ch->pid = fork();
	ck_assert_int_ge(ch->pid, 0);
	if (ch->pid == 0) {
		int e = open(ch->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int i = open("/dev/null", O_RDONLY);

		dup2(i, 0);
		dup2(sv[1], 1);
		dup2(e, 2);
		close(sv[0]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(sv[1]);
	ch->out = sv[0];
}

/* Waits (deadline secs) for the child; returns its exit status or
 * 128+signal. */
static int
reap(struct child *ch, double secs)
{
	double end = jd_now() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(ch->pid, &st, WNOHANG);

		if (r == ch->pid)
			break;
		if (jd_now() > end) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, &st, 0);
			ck_abort_msg("jobctl did not exit in %.0f s", secs);
		}
		poll(NULL, 0, 10);
	}
	jd_close(ch->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- 1. terminal injection ---- */

START_TEST(cli_human_output_escapes_control_characters)
{
	const char *evil = "\033[2J\033]0;owned\007two\nlines";
	int64_t id = submit_true(NULL, evil);
	char *out, *err;
	char idtext[32];

	json_decref(jd_wait(&D, id, 20));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "list", NULL), 0);
	ck_assert_msg(strchr(out, '\033') == NULL &&
			      strchr(out, '\007') == NULL,
		      "raw control characters in list:\n%s", out);
	ck_assert_msg(strstr(out, "\\e[2J\\e]0;owned\\x07two\\nlines"), "%s",
		      out);
	ck_assert_int_eq(lines_of(out), 2);
	free(out);
	free(err);

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "get", idtext, NULL),
			 0);
	ck_assert(strchr(out, '\033') == NULL);
	ck_assert_msg(strstr(out, "name:") && strstr(out, "two\\nlines"), "%s",
		      out);
	free(out);

	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "watch", "--job", idtext, NULL),
		0);
	ck_assert_msg(strchr(out, '\033') == NULL && lines_of(out) == 1, "%s",
		      out);
	free(out);

	/* A command with control characters is quoted as $'...'. */
	json_t *spec =
		json_pack("{s:[sss]}", "argv", "printf", "%s", "\033[31mred");
	int64_t id2 = jd_submit(&D, spec);
	json_decref(jd_wait(&D, id2, 20));
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "list", NULL), 0);
	ck_assert_msg(strstr(out, "printf %s $'\\e[31mred'"), "%s", out);
	free(out);

	/* --json keeps the exact value. */
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "--json", "get", idtext, NULL),
		0);
	json_t *j = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(jd_str(json_object_get(j, "job"), "name"), evil);
	json_decref(j);
	free(out);
}
END_TEST

/* ---- 2 and 10. the list ---- */

START_TEST(cli_list_newest_page_and_footer)
{
	int64_t ids[5];
	char *out, *err;

	held_queue("held");
	for (int i = 0; i < 5; i++)
		ids[i] = submit_true("held", NULL);
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, &err, "list", "-n", "2", NULL), 0);
	ck_assert_int_eq(lines_of(out), 3);
	ck_assert_int_eq(table_id(out, 1), ids[4]);
	ck_assert_int_eq(table_id(out, 2), ids[3]);
	char want[96];
	snprintf(want, sizeof(want), "--before-id %lld", (long long)ids[3]);
	ck_assert_msg(strstr(err, "2 of 5 jobs shown, newest first") &&
			      strstr(err, want),
		      "footer: %s", err);
	free(out);
	free(err);

	/* The next page, and then no footer. */
	snprintf(want, sizeof(want), "%lld", (long long)ids[3]);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "list", "--before-id",
				   want, NULL),
			 0);
	ck_assert_int_eq(lines_of(out), 4);
	ck_assert_int_eq(table_id(out, 1), ids[2]);
	ck_assert_int_eq(table_id(out, 3), ids[0]);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);

	/* Oldest first. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "list", "--reverse",
				   "-n", "2", NULL),
			 0);
	ck_assert_int_eq(table_id(out, 1), ids[0]);
	ck_assert_int_eq(table_id(out, 2), ids[1]);
	ck_assert_msg(strstr(err, "oldest first") && strstr(err, "--after-id"),
		      "%s", err);
	free(out);
	free(err);

	/* The protocol: order and before_id. */
	json_t *r = jd_req(&D, "{s:s,s:s,s:i,s:I}", "cmd", "list", "order",
			   "desc", "limit", 2, "before_id", (json_int_t)ids[4]);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(
		jd_num(json_array_get(json_object_get(res, "jobs"), 0), "id"),
		ids[3]);
	ck_assert_int_eq(jd_num(res, "next_before_id"), ids[2]);
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s}", "cmd", "list", "order", "sideways");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
}
END_TEST

START_TEST(cli_list_several_states)
{
	char *out, *err;

	held_queue("held");
	int64_t done = submit_true(NULL, NULL);
	json_decref(jd_wait(&D, done, 20));
	int64_t queued = submit_true("held", NULL);
	int64_t cancelled = submit_true("held", NULL);
	jd_call_ok(&D, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				 (json_int_t)cancelled));

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "list", "-s",
				   "succeeded", "-s", "cancelled", NULL),
			 0);
	ck_assert_int_eq(lines_of(out), 3);
	ck_assert_int_eq(table_id(out, 1), cancelled);
	ck_assert_int_eq(table_id(out, 2), done);
	free(out);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "list", "-S", "queued",
				   "--state", "succeeded", NULL),
			 0);
	ck_assert_int_eq(lines_of(out), 3);
	ck_assert_int_eq(table_id(out, 1), queued);
	free(out);

	/* -s after the command is a state; a socket path there is
	 * explained. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "list", "-s",
				   "/tmp/jobd.sock", NULL),
			 2);
	ck_assert_msg(strstr(err, "jobctl -s /tmp/jobd.sock list"), "%s", err);
	free(out);
	free(err);
}
END_TEST

/* ---- 5 and 15. durations and rates that can be pasted back ---- */

START_TEST(cli_durations_and_rates_paste_back)
{
	char *out, *err;
	char timeout[128], rate[128], backoff[128];

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "queue", "add", "q",
				   "--timeout", "30d", "--rate", "1/30d",
				   "--backoff", "1d 2 14d 0.1", NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "timeout"), "30d");
	ck_assert_str_eq(jd_kv(out, "rate"), "1/30d");
	ck_assert_str_eq(jd_kv(out, "backoff"), "1d 2 14d 0.1");
	snprintf(timeout, sizeof(timeout), "%s", jd_kv(out, "timeout"));
	snprintf(rate, sizeof(rate), "%s", jd_kv(out, "rate"));
	snprintf(backoff, sizeof(backoff), "%s", jd_kv(out, "backoff"));
	free(out);
	free(err);
	/* What get shows is what set takes. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "queue", "set", "q",
				   "--timeout", timeout, "--rate", rate,
				   "--backoff", backoff, NULL),
			 0);
	free(out);
	free(err);

	/* The form given is the form shown. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "queue", "set", "q",
				   "--rate", "100/m", NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "rate"), "100/m");
	free(out);
	/* --rate 0 is no limit, as in the config file. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "queue", "set", "q",
				   "--rate", "0", NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "rate"), "-");
	free(out);
	/* The error lists every form. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "queue", "set", "q",
				   "--rate", "fast", NULL),
			 2);
	ck_assert_msg(strstr(err, "N/d") && strstr(err, "N/DURATION") &&
			      strstr(err, "none or 0"),
		      "%s", err);
	free(out);
	free(err);

	/* A measured duration has no float noise. */
	int64_t id = submit_true(NULL, NULL);
	char idtext[32];
	json_decref(jd_wait(&D, id, 20));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "get", idtext, NULL),
			 0);
	const char *dur = jd_kv(out, "duration");
	const char *dot = strchr(dur, '.');
	ck_assert_msg(dot == NULL || strlen(dot) <= 5, "duration %s", dur);
	free(out);
}
END_TEST

/* jobd --check-config prints durations that load back. */
START_TEST(cli_check_config_output_loads_back)
{
	struct jd t;
	const char *bin = getenv("JOBD_BIN");
	char *printed, *conf2 = NULL, *text;
	int st;

	jd_init(&t, "[daemon]\nretention = 30d\n[queue slow]\n"
		    "timeout = 14d\nrate = 1/30d\n");
	jd_guard(t.dir);
	printed = jd_path(&t, "printed.conf");
	for (int round = 0; round < 2; round++) {
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int o = open(printed, O_WRONLY | O_CREAT | O_TRUNC,
				     0644);
			const char *conf = round == 0 ? t.conf : conf2;

			dup2(o, 1);
			execl(bin ? bin : "build/jobd", "jobd", "-c", conf,
			      "--check-config", (char *)NULL);
			_exit(127);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		text = jd_slurp(printed);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "round %d: status %d\n%s", round, st, text);
		ck_assert_msg(strstr(text, "retention = 30d\n") &&
				      strstr(text, "timeout = 14d\n") &&
				      strstr(text, "rate = 1/30d\n"),
			      "%s", text);
		if (round == 0) {
			conf2 = jd_path(&t, "again.conf");
			jd_write_file(conf2, text);
		}
		free(text);
	}
	free(conf2);
	free(printed);
	jd_free(&t);
}
END_TEST

/* ---- 7. Ctrl-C and a cancel from elsewhere while waiting ---- */

START_TEST(cli_ctrl_c_on_submit_wait_says_how_to_follow)
{
	held_queue("held");
	for (int m = 0; m < 2; m++) {
		/* --wait prints the id; --follow prints the job's output,
		 * and this job's first line says it runs. */
		const char *wait_args[] = {"submit", "-q",   "held", "--wait",
					   "--",     "true", NULL};
		const char *follow_args[] = {"submit", "--follow", "-c",
					     "echo ready; exec sleep 30", NULL};
		struct child ch;
		char *line, *err, want[96];
		long long id;

		spawn(&ch, m == 0 ? wait_args : follow_args);
		line = jd_read_line(ch.out, 10000);
		ck_assert_ptr_nonnull(line);
		if (m == 0) {
			id = atoll(line);
		} else {
			json_t *r = jd_req(&D, "{s:s,s:s}", "cmd", "list",
					   "state", "running");
			json_t *jobs = json_object_get(jd_ok(r), "jobs");

			ck_assert_str_eq(line, "ready");
			ck_assert_int_eq(json_array_size(jobs), 1);
			id = jd_num(json_array_get(jobs, 0), "id");
			json_decref(r);
		}
		free(line);
		kill(ch.pid, SIGINT);
		ck_assert_int_eq(reap(&ch, 10), 130);
		err = jd_slurp(ch.errpath);
		snprintf(want, sizeof(want),
			 "job %lld still running: jobctl logs -f %lld", id, id);
		ck_assert_msg(err && strstr(err, want), "stderr: %s",
			      err ? err : "");
		free(err);
		free(ch.errpath);
		/* The job goes on. */
		json_t *job = jd_get(&D, id);
		ck_assert_str_eq(jd_str(job, "state"),
				 m == 0 ? "queued" : "running");
		json_decref(job);
		jd_call_ok(&D, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
					 (json_int_t)id));
	}
}
END_TEST

START_TEST(cli_wait_reports_a_cancel_from_elsewhere)
{
	const char *args[] = {"submit", "-q",	"held", "--wait",
			      "--",	"true", NULL};
	struct child ch;
	char *line, *err, want[64];
	long long id;

	held_queue("held");
	spawn(&ch, args);
	line = jd_read_line(ch.out, 10000);
	ck_assert_ptr_nonnull(line);
	id = atoll(line);
	free(line);
	jd_call_ok(&D, json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				 (json_int_t)id));
	ck_assert_int_eq(reap(&ch, 10), 1);
	err = jd_slurp(ch.errpath);
	snprintf(want, sizeof(want), "job %lld cancelled", id);
	ck_assert_msg(err && strstr(err, want), "stderr: %s", err ? err : "");
	free(err);
	free(ch.errpath);
}
END_TEST

/* ---- 8, 9, 11. logs, watch --job, get --env ---- */

START_TEST(cli_logs_error_printed_once)
{
	char *out, *err;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "logs", "999", NULL),
			 1);
	ck_assert_msg(lines_of(err) == 1 && strstr(err, "not_found"), "%s",
		      err);
	free(out);
	free(err);
}
END_TEST

START_TEST(cli_logs_of_a_job_not_started_says_why)
{
	char *out, *err, idtext[32];

	held_queue("held");
	snprintf(idtext, sizeof(idtext), "%lld",
		 (long long)submit_true("held", NULL));
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "logs", idtext, NULL),
			 0);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, "has not started yet (queued"), "%s", err);
	free(out);
	free(err);
}
END_TEST

START_TEST(cli_watch_job_prints_state_and_ends)
{
	char *out, *err, idtext[32];
	int64_t id = submit_true(NULL, "w");

	json_decref(jd_wait(&D, id, 20));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, &err, "watch", "--job", idtext, NULL),
		0);
	ck_assert_msg(strstr(out, "job.state job") && strstr(out, "succeeded"),
		      "%s", out);
	free(out);
	free(err);

	/* A job that finishes while watched: its events, then the end. */
	held_queue("held");
	id = submit_true("held", NULL);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	const char *args[] = {"watch", "--job", idtext, NULL};
	struct child ch;
	spawn(&ch, args);
	char *line = jd_read_line(ch.out, 10000);
	ck_assert_msg(line && strstr(line, "queued"), "%s", line ? line : "");
	free(line);
	jd_queue_cmd(&D, "queue.resume", "held");
	ck_assert_int_eq(reap(&ch, 20), 0);
	free(ch.errpath);
}
END_TEST

START_TEST(cli_get_env_one_variable_a_line)
{
	char *out, *idtext;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &idtext, NULL, "submit",
				   "--no-env", "-e", "A=1", "-e", "B=two words",
				   "--", "true", NULL),
			 0);
	idtext[strcspn(idtext, "\n")] = '\0';
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "get", "--env", idtext, NULL),
		0);
	ck_assert_msg(strstr(out, "\nenv:\n  A=1\n  B=two words\n"), "%s", out);
	free(out);
	free(idtext);
}
END_TEST

/* ---- 13. exit statuses ---- */

START_TEST(cli_invalid_value_same_status_either_side)
{
	char *err;

	/* jobctl refuses this one itself. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, NULL, &err, "submit", "-p", "x",
				   "--", "true", NULL),
			 2);
	free(err);
	/* jobd refuses this one (out of range). */
	ck_assert_int_eq(jd_jobctl(&D, NULL, NULL, &err, "submit", "-p", "5000",
				   "--", "true", NULL),
			 2);
	ck_assert_msg(strstr(err, "invalid_argument"), "%s", err);
	free(err);
	/* Not an invalid value: an unknown job is still 1. */
	ck_assert_int_eq(jd_jobctl(&D, NULL, NULL, &err, "get", "424242", NULL),
			 1);
	free(err);
}
END_TEST

/* ---- 14. help and top ---- */

START_TEST(cli_help_per_command)
{
	static const char *const cmds[] = {
		"submit", "get",    "list",	"cancel", "retry",    "wait",
		"logs",	  "watch",  "top",	"queue",  "producer", "stats",
		"prune",  "reload", "shutdown", "ping",
	};
	char *out, *out2;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];

		ck_assert_int_eq(
			jd_jobctl(&D, NULL, &out, NULL, "help", cmds[i], NULL),
			0);
		snprintf(want, sizeof(want), "usage: jobctl %s", cmds[i]);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
		ck_assert_int_eq(jd_jobctl(&D, NULL, &out2, NULL, cmds[i],
					   "--help", NULL),
				 0);
		ck_assert_str_eq(out, out2);
		free(out);
		free(out2);
	}
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "help", "submit", NULL), 0);
	/* A line per option. */
	ck_assert_msg(strstr(out, "\n  -t, --timeout D ") &&
			      strstr(out, "\n      --unique KEY ") &&
			      strstr(out, "\n      --follow "),
		      "%s", out);
	free(out);
}
END_TEST

START_TEST(cli_top_plain_frame_and_json)
{
	char *out, *err;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "top", NULL), 0);
	ck_assert_msg(strstr(out, "jobd ") && !strstr(out, "q quits"), "%s",
		      out);
	free(out);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "top", "--json", NULL),
			 2);
	ck_assert_msg(strstr(err, "--json"), "%s", err);
	free(out);
	free(err);
}
END_TEST

/* ---- 17. small ones ---- */

START_TEST(cli_unique_duplicate_says_so)
{
	char *out, *err, *out2;

	held_queue("held");
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "submit", "-q", "held",
				   "--unique", "k", "--", "true", NULL),
			 0);
	ck_assert_str_eq(err, "");
	free(err);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out2, &err, "submit", "-q",
				   "held", "--unique", "k", "--", "true", NULL),
			 0);
	ck_assert_str_eq(out, out2);
	ck_assert_msg(strstr(err, "already holds unique key 'k'"), "%s", err);
	free(out);
	free(out2);
	free(err);
}
END_TEST

START_TEST(cli_cwd_must_exist)
{
	char *out, *err;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "submit", "--cwd",
				   "/nonexistent/dir", "--", "true", NULL),
			 2);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, "/nonexistent/dir") &&
			      strstr(err, "No such file"),
		      "%s", err);
	free(out);
	free(err);
}
END_TEST

START_TEST(cli_batch_error_names_the_line)
{
	char *out, *err;

	ck_assert_int_eq(jd_jobctl(&D,
				   "{\"argv\":[\"true\"]}\n\n"
				   "{\"argv\":[\"true\"]}\n"
				   "{\"argv\":[\"true\"],\"priority\":5000}\n",
				   &out, &err, "submit", "--batch", "-", NULL),
			 2);
	ck_assert_msg(strstr(err, "stdin:4: invalid_argument: priority"), "%s",
		      err);
	free(out);
	free(err);
}
END_TEST

/* Runs jobctl list under a pseudo-terminal with NO_COLOR set to no_color
 * (NULL: unset); returns whether the output had a colour sequence. */
static bool
list_in_colour(const char *no_color)
{
	const char *bin = getenv("JOBCTL_BIN");
	char buf[8192];
	size_t len = 0;
	int master, st;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("TERM", "xterm", 1);
		if (no_color != NULL)
			setenv("NO_COLOR", no_color, 1);
		else
			unsetenv("NO_COLOR");
		execl(bin ? bin : "build/jobctl", "jobctl", "-s", D.sock,
		      "list", (char *)NULL);
		_exit(127);
	}
	double end = jd_now() + 10;
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		int left = (int)((end - jd_now()) * 1000);
		ssize_t n;

		ck_assert_msg(left > 0, "jobctl list under a pty did not end");
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break; /* EIO once the child has gone */
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(master);
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", buf);
	return strstr(buf, "\033[32m") != NULL;
}

START_TEST(cli_empty_no_color_keeps_colour)
{
	json_decref(jd_wait(&D, submit_true(NULL, NULL), 20));
	ck_assert(list_in_colour(NULL));
	ck_assert(list_in_colour(""));
	ck_assert(!list_in_colour("1"));
}
END_TEST

START_TEST(cli_wait_timeout_names_the_jobs)
{
	char *out, *err, a[32], b[32], want[96];

	held_queue("held");
	snprintf(a, sizeof(a), "%lld", (long long)submit_true("held", NULL));
	int64_t done = submit_true(NULL, NULL);
	json_decref(jd_wait(&D, done, 20));
	snprintf(b, sizeof(b), "%lld", (long long)done);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, &err, "wait", "--timeout",
				   "0.2", a, b, NULL),
			 124);
	snprintf(want, sizeof(want), "not finished: %s (queued)\n", a);
	ck_assert_msg(strstr(err, want), "%s", err);
	free(out);
	free(err);
}
END_TEST

START_TEST(cli_producer_add_cron_shows_next_run)
{
	char *out;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "producer", "add",
				   "nightly", "--type", "cron", "--schedule",
				   "0 3 * * *", "--", "true", NULL),
			 0);
	ck_assert_msg(strlen(jd_kv(out, "next_run")) > 10, "%s", out);
	free(out);
}
END_TEST

START_TEST(cli_queue_rm_counts_finished_jobs)
{
	char *out;

	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "queue", "add", "q",
				   "--paused", NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "paused"), "true");
	free(out);
	int64_t a = submit_true("q", NULL), b = submit_true("q", NULL);
	jd_call_ok(&D, json_pack("{s:s,s:[I,I]}", "cmd", "cancel", "job_ids",
				 (json_int_t)a, (json_int_t)b));
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "queue", "rm", "q", NULL), 0);
	ck_assert_str_eq(out, "deleted queue q and its 2 finished jobs\n");
	free(out);
}
END_TEST

START_TEST(cli_queue_get_default_shows_effective_kill_grace)
{
	char *out;
	json_t *r =
		jd_req(&D, "{s:s,s:s}", "cmd", "queue.get", "name", "default");
	json_t *q = json_object_get(jd_ok(r), "queue");

	ck_assert(json_is_number(json_object_get(q, "kill_grace")));
	ck_assert(json_number_value(json_object_get(q, "kill_grace")) == 1);
	json_decref(r);
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "queue", "get",
				   "default", NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "kill_grace"), "1s");
	free(out);
}
END_TEST

Suite *
cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, setup, jd_test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cli_human_output_escapes_control_characters);
	tcase_add_test(tc, cli_list_newest_page_and_footer);
	tcase_add_test(tc, cli_list_several_states);
	tcase_add_test(tc, cli_durations_and_rates_paste_back);
	tcase_add_test(tc, cli_ctrl_c_on_submit_wait_says_how_to_follow);
	tcase_add_test(tc, cli_wait_reports_a_cancel_from_elsewhere);
	tcase_add_test(tc, cli_logs_error_printed_once);
	tcase_add_test(tc, cli_logs_of_a_job_not_started_says_why);
	tcase_add_test(tc, cli_watch_job_prints_state_and_ends);
	tcase_add_test(tc, cli_get_env_one_variable_a_line);
	tcase_add_test(tc, cli_invalid_value_same_status_either_side);
	tcase_add_test(tc, cli_help_per_command);
	tcase_add_test(tc, cli_top_plain_frame_and_json);
	tcase_add_test(tc, cli_unique_duplicate_says_so);
	tcase_add_test(tc, cli_cwd_must_exist);
	tcase_add_test(tc, cli_batch_error_names_the_line);
	tcase_add_test(tc, cli_empty_no_color_keeps_colour);
	tcase_add_test(tc, cli_wait_timeout_names_the_jobs);
	tcase_add_test(tc, cli_producer_add_cron_shows_next_run);
	tcase_add_test(tc, cli_queue_rm_counts_finished_jobs);
	tcase_add_test(tc, cli_queue_get_default_shows_effective_kill_grace);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cli_check_config_output_loads_back);
	suite_add_tcase(s, tc);
	return s;
}
