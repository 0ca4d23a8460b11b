/*
 * talkback_suite: what a job says back besides its exit status.  Snooze:
 * an attempt that exits with its snooze_exit goes back to scheduled
 * (reason snoozed) without using up an attempt, after the delay it wrote
 * to $JOBD_SNOOZE (else its snooze, else the backoff delay), until
 * max_snoozes ends it (snooze_limit); job fields, queue defaults and
 * config keys; job.retrying events and the snoozed total.  Results: the
 * JSON written to $JOBD_RESULT becomes the job's result (get, wait,
 * events under 4 KiB, jobctl result), a file too large or not JSON gives
 * result_error and leaves the state alone, and the files are made fresh,
 * private and the job user's, and never followed.  Every wait has a
 * deadline.
 */
#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "jobd/time.h"

Suite *talkback_suite(void);

#define BASE_CONF "; talkback_suite\n[daemon]\nshutdown_timeout = 1\n"

/* The one daemon of the current test. */
static struct jd D;

static void
start(const char *extra)
{
	jd_test_start(&D, BASE_CONF, extra, NULL);
}

/* Submits the shell command sh with the members of the JSON object text
 * more (a test constant, may be NULL) and returns its id. */
static int64_t
submit_sh(const char *sh, const char *more)
{
	json_t *spec = more != NULL ? jd_json(more) : json_object();
	json_object_set_new(spec, "shell", json_string(sh));
	return jd_submit(&D, spec);
}

/* The job, once terminal (60 s), from wait; fails the test otherwise. */
static json_t *
finished(int64_t id)
{
	json_t *j = jd_wait(&D, id, 60);
	ck_assert_ptr_nonnull(j);
	const char *st = jd_str(j, "state");
	ck_assert_msg(strcmp(st, "succeeded") == 0 ||
			      strcmp(st, "failed") == 0 ||
			      strcmp(st, "cancelled") == 0,
		      "job %lld not finished: %s", (long long)id, st);
	return j;
}

static json_int_t
total(const char *key)
{
	json_t *r = jd_req(&D, "{s:s}", "cmd", "stats");
	json_t *t = json_object_get(jd_ok(r), "totals");
	ck_assert_msg(json_is_integer(json_object_get(t, key)),
		      "stats.totals.%s missing", key);
	json_int_t n = jd_num(t, key);
	json_decref(r);
	return n;
}

/* The next event of kind (a job event of job id) on fd, within 60 s
 * (new ref); fails the test when none comes. */
static json_t *
next_event(int fd, const char *kind, int64_t id)
{
	double deadline = jd_now() + 60;
	while (jd_now() < deadline) {
		char *line = jd_read_line(fd, 500);
		if (line == NULL)
			continue;
		json_t *ev = json_loads(line, 0, NULL);
		free(line);
		json_t *job = json_object_get(ev, "job");
		if (strcmp(jd_str(ev, "event"), kind) == 0 &&
		    jd_num(job, "id") == id)
			return ev;
		json_decref(ev);
	}
	ck_abort_msg("no %s event for job %lld", kind, (long long)id);
	return NULL;
}

/* A counter in the test directory the job's shell bumps: n=RUN. */
static char *
counter_sh(const char *name, const char *body)
{
	char *path = jd_path(&D, name);
	char *sh;
	ck_assert_int_gt(asprintf(&sh,
				  "n=$(cat %s 2>/dev/null || echo 0); "
				  "n=$((n+1)); echo $n > %s; %s",
				  path, path, body),
			 0);
	free(path);
	return sh;
}

/* ---- snooze ---- */

START_TEST(talkback_snooze_three_times_one_attempt)
{
	start(NULL);
	json_int_t before = total("snoozed");
	int fd = jd_watch_conn(&D, NULL);
	/* Each run checks that its snooze file starts empty. */
	char *sh = counter_sh("runs", "[ -s \"$JOBD_SNOOZE\" ] && exit 9; "
				      "if [ $n -le 3 ]; then "
				      "echo 0.05 > \"$JOBD_SNOOZE\"; exit 75; "
				      "fi; exit 0");
	int64_t id = submit_sh(sh, NULL);
	free(sh);
	for (int i = 0; i < 3; i++) {
		json_t *ev = next_event(fd, "job.retrying", id);
		json_t *job = json_object_get(ev, "job");
		ck_assert_str_eq(jd_str(job, "state"), "scheduled");
		ck_assert_str_eq(jd_str(job, "reason"), "snoozed");
		ck_assert_int_eq(jd_num(job, "snoozes"), i + 1);
		ck_assert_int_eq(jd_num(job, "attempt"), 0);
		json_decref(ev);
	}
	json_t *ev = next_event(fd, "job.finished", id);
	json_decref(ev);
	jd_close(fd);
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	ck_assert_int_eq(jd_num(j, "snoozes"), 3);
	ck_assert_int_eq(jd_num(j, "snooze_exit"), 75);
	ck_assert_int_eq(jd_num(j, "max_snoozes"), 100);
	ck_assert(json_is_null(json_object_get(j, "snooze")));
	ck_assert(json_is_null(json_object_get(j, "reason")));
	json_decref(j);
	ck_assert_int_eq(total("snoozed") - before, 3);
	ck_assert_int_eq(total("retried"), 0);
	/* The files are gone with the attempts. */
	char *talk = NULL;
	ck_assert_int_gt(asprintf(&talk, "ls -A %s/talk | wc -l", D.state), 0);
	FILE *p = popen(talk, "r");
	int left = -1;
	ck_assert_int_eq(fscanf(p, "%d", &left), 1);
	pclose(p);
	free(talk);
	ck_assert_int_eq(left, 0);
}
END_TEST

/* Milliseconds since the epoch, as the job's shell writes them (an
 * asprintf format: its %% doubled). */
#define NOW_MS "$(($(date +%%s%%N) / 1000000))"

START_TEST(talkback_snooze_delay_honoured)
{
	start(NULL);
	/* The first run asks for 1.5 s and notes when it ends, its last
	 * step; the second attempt's start is the job's started_at, when
	 * jobd claimed it (what the job's own shell takes to start, on a
	 * loaded machine, is not jobd's delay). */
	char *times = jd_path(&D, "times");
	char *body = NULL;
	ck_assert_int_gt(
		asprintf(&body,
			 "if [ $n -eq 1 ]; then echo 1.5 > \"$JOBD_SNOOZE\"; "
			 "echo " NOW_MS " > %s; exit 75; fi; exit 0",
			 times),
		0);
	char *sh = counter_sh("runs", body);
	int fd = jd_watch_conn(&D, NULL);
	int64_t id = submit_sh(sh, "{\"snooze\": 30}");
	free(sh);
	free(body);
	int64_t run_at = 0, started = 0;
	json_t *ev = next_event(fd, "job.retrying", id);
	ck_assert_int_eq(
		jobd_time_parse(jd_str(json_object_get(ev, "job"), "run_at"),
				&run_at),
		0);
	json_decref(ev);
	jd_close(fd);
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "snoozes"), 1);
	ck_assert_int_eq(jobd_time_parse(jd_str(j, "started_at"), &started), 0);
	json_decref(j);
	char *text = jd_slurp(times);
	long long end;
	ck_assert_msg(text != NULL && sscanf(text, "%lld", &end) == 1, "%s",
		      text ? text : "(no times)");
	long long gap = (long long)started - end;
	ck_assert_msg(gap >= 1500 - 50 && gap <= 1500 + 50,
		      "snoozed 1.5 s, ran again %lld ms after its end (due "
		      "%lld ms after it)",
		      gap, (long long)run_at - end);
	free(text);
	free(times);
}
END_TEST

START_TEST(talkback_snooze_field_and_bad_file)
{
	start(NULL);
	/* Not a number in the file: the job's snooze applies. */
	char *times = jd_path(&D, "times");
	char *body = NULL;
	ck_assert_int_gt(
		asprintf(&body,
			 "echo " NOW_MS " >> %s; "
			 "if [ $n -eq 1 ]; then echo soon > \"$JOBD_SNOOZE\"; "
			 "exit 75; fi; exit 0",
			 times),
		0);
	char *sh = counter_sh("runs", body);
	int64_t id = submit_sh(sh, "{\"snooze\": 0.8}");
	free(sh);
	free(body);
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "snoozes"), 1);
	ck_assert(json_real_value(json_object_get(j, "snooze")) == 0.8);
	json_decref(j);
	char *text = jd_slurp(times);
	long long t1, t2;
	ck_assert_int_eq(sscanf(text, "%lld %lld", &t1, &t2), 2);
	ck_assert_msg(t2 - t1 >= 800, "ran again after %lld ms", t2 - t1);
	free(text);
	free(times);
}
END_TEST

START_TEST(talkback_max_snoozes_ends_the_job)
{
	start(NULL);
	int fd = jd_watch_conn(&D, NULL);
	int64_t id = submit_sh("echo 0 > \"$JOBD_SNOOZE\"; exit 75",
			       "{\"max_snoozes\": 2}");
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "snooze_limit");
	ck_assert_int_eq(jd_num(j, "snoozes"), 2);
	ck_assert_int_eq(jd_num(j, "max_snoozes"), 2);
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	ck_assert_int_eq(jd_num(j, "exit_code"), 75);
	json_decref(j);
	json_t *ev = next_event(fd, "job.finished", id);
	ck_assert_str_eq(jd_str(json_object_get(ev, "job"), "reason"),
			 "snooze_limit");
	json_decref(ev);
	jd_close(fd);

	/* A retry starts the count again (the queue paused: it waits). */
	jd_queue_cmd(&D, "queue.pause", "default");
	jd_call_ok(&D, json_pack("{s:s,s:I}", "cmd", "retry", "job_id",
				 (json_int_t)id));
	j = jd_get(&D, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_int_eq(jd_num(j, "snoozes"), 0);
	json_decref(j);
	jd_queue_cmd(&D, "queue.resume", "default");
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "reason"), "snooze_limit");
	ck_assert_int_eq(jd_num(j, "snoozes"), 2);
	ck_assert_int_eq(jd_num(j, "attempt"), 1);
	json_decref(j);

	/* max_snoozes 0: the first snooze ends it. */
	id = submit_sh("exit 75", "{\"max_snoozes\": 0}");
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "reason"), "snooze_limit");
	ck_assert_int_eq(jd_num(j, "snoozes"), 0);
	json_decref(j);
}
END_TEST

START_TEST(talkback_snooze_exit_chosen_or_off)
{
	start(NULL);
	/* Off: 75 is a failure like any other. */
	int64_t id = submit_sh("exit 75", "{\"snooze_exit\": null}");
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "exit");
	ck_assert(json_is_null(json_object_get(j, "snooze_exit")));
	ck_assert_int_eq(jd_num(j, "snoozes"), 0);
	json_decref(j);
	/* Another status; 75 then fails, and with attempts left retries
	 * (counting them), not snoozes. */
	char *sh = counter_sh("runs", "[ $n -eq 1 ] && exit 42; "
				      "[ $n -eq 2 ] && exit 75; exit 0");
	id = submit_sh(sh, "{\"snooze_exit\": 42, \"snooze\": 0, "
			   "\"max_attempts\": 2, "
			   "\"backoff\": {\"base\": 0, \"jitter\": 0}}");
	free(sh);
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "snoozes"), 1);
	ck_assert_int_eq(jd_num(j, "attempt"), 2);
	json_decref(j);
	/* A timeout is no snooze, whatever the status. */
	id = submit_sh("trap 'exit 75' TERM; sleep 30 & wait",
		       "{\"timeout\": 0.3, \"kill_grace\": 5}");
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "timeout");
	ck_assert_int_eq(jd_num(j, "snoozes"), 0);
	json_decref(j);
}
END_TEST

/* A shutdown that stops an attempt gives it back (interrupted), whatever
 * status the job exits with on its SIGTERM: no snooze. */
START_TEST(talkback_interrupted_is_no_snooze)
{
	start(NULL);
	int64_t id = submit_sh("trap 'exit 75' TERM; sleep 30 & wait", NULL);
	ck_assert(jd_poll_state(&D, id, "running", 30));
	/* Paused, so that the job waits after the restart. */
	jd_queue_cmd(&D, "queue.pause", "default");
	ck_assert_int_eq(jd_stop(&D), 0);
	jd_start(&D, NULL);
	json_t *j = jd_get(&D, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert_str_eq(jd_str(j, "reason"), "interrupted");
	ck_assert_int_eq(jd_num(j, "snoozes"), 0);
	ck_assert_int_eq(jd_num(j, "attempt"), 0);
	json_decref(j);
}
END_TEST

START_TEST(talkback_snooze_bad_fields)
{
	start(NULL);
	static const char *const bad[][2] = {
		{"{\"shell\": \"true\", \"snooze_exit\": 0}", "snooze_exit"},
		{"{\"shell\": \"true\", \"snooze_exit\": 256}", "snooze_exit"},
		{"{\"shell\": \"true\", \"snooze_exit\": \"75\"}",
		 "snooze_exit"},
		{"{\"shell\": \"true\", \"snooze\": -1}", "snooze"},
		{"{\"shell\": \"true\", \"snooze\": \"1s\"}", "snooze"},
		{"{\"shell\": \"true\", \"max_snoozes\": -1}", "max_snoozes"},
		{"{\"shell\": \"true\", \"max_snoozes\": 1.5}", "max_snoozes"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = jd_call(&D, json_pack("{s:s,s:o}", "cmd", "submit",
						  "job", jd_json(bad[i][0])));
		ck_assert_str_eq(jd_err(r), "invalid_argument");
		ck_assert_msg(strncmp(jd_err_msg(r), bad[i][1],
				      strlen(bad[i][1])) == 0,
			      "%s: %s", bad[i][0], jd_err_msg(r));
		json_decref(r);
	}
	json_t *r = jd_req(&D, "{s:s,s:s,s:i}", "cmd", "queue.create", "name",
			   "q", "snooze_exit", 0);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), "snooze_exit"), "%s",
		      jd_err_msg(r));
	json_decref(r);
	r = jd_req(&D, "{s:s,s:s,s:i}", "cmd", "queue.create", "name", "q",
		   "max_snoozes", -2);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	ck_assert_msg(strstr(jd_err_msg(r), "max_snoozes"), "%s",
		      jd_err_msg(r));
	json_decref(r);
	const char *err = NULL;
	ck_assert_ptr_null(jd_queue_get(&D, "q", &err));
	ck_assert_str_eq(err, "unknown_queue");
}
END_TEST

START_TEST(talkback_snooze_queue_defaults_and_config)
{
	start("[queue cq]\nsnooze_exit = none\nmax_snoozes = 3\n"
	      "snooze = 2s\n");
	json_t *q = jd_queue_get(&D, "cq", NULL);
	ck_assert(json_is_null(json_object_get(q, "snooze_exit")));
	ck_assert_int_eq(jd_num(q, "max_snoozes"), 3);
	ck_assert(json_real_value(json_object_get(q, "snooze")) == 2.0);
	json_decref(q);
	q = jd_queue_get(&D, "default", NULL);
	ck_assert_int_eq(jd_num(q, "snooze_exit"), 75);
	ck_assert_int_eq(jd_num(q, "max_snoozes"), 100);
	ck_assert(json_is_null(json_object_get(q, "snooze")));
	json_decref(q);

	/* A queue's defaults, made and changed by the protocol. */
	jd_call_ok(&D, json_pack("{s:s,s:s,s:i,s:i,s:f}", "cmd", "queue.create",
				 "name", "sq", "snooze_exit", 42, "max_snoozes",
				 1, "snooze", 0.0));
	int64_t id = jd_submit(
		&D, json_pack("{s:s,s:s}", "queue", "sq", "shell", "exit 42"));
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "reason"), "snooze_limit");
	ck_assert_int_eq(jd_num(j, "snoozes"), 1);
	ck_assert_int_eq(jd_num(j, "snooze_exit"), 42);
	ck_assert_int_eq(jd_num(j, "max_snoozes"), 1);
	json_decref(j);
	/* The job's own beat the queue's. */
	id = jd_submit(&D, json_pack("{s:s,s:s,s:n}", "queue", "sq", "shell",
				     "exit 42", "snooze_exit"));
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "reason"), "exit");
	json_decref(j);
	jd_call_ok(&D, json_pack("{s:s,s:s,s:n}", "cmd", "queue.update", "name",
				 "sq", "snooze_exit"));
	q = jd_queue_get(&D, "sq", NULL);
	ck_assert(json_is_null(json_object_get(q, "snooze_exit")));
	ck_assert_int_eq(jd_num(q, "max_snoozes"), 1);
	json_decref(q);

	/* jobctl's flags, and a restart keeps what the store holds. */
	char *out;
	ck_assert_int_eq(jd_jobctl(&D, NULL, &out, NULL, "queue", "set", "sq",
				   "--snooze-exit", "99", "--max-snoozes", "7",
				   "--snooze", "backoff", NULL),
			 0);
	free(out);
	ck_assert_int_eq(jd_stop(&D), 0);
	jd_start(&D, NULL);
	q = jd_queue_get(&D, "sq", NULL);
	ck_assert_int_eq(jd_num(q, "snooze_exit"), 99);
	ck_assert_int_eq(jd_num(q, "max_snoozes"), 7);
	ck_assert(json_is_null(json_object_get(q, "snooze")));
	json_decref(q);
}
END_TEST

/* ---- results ---- */

/* A JSON object of about n bytes: {"pad":"xxx..."}. */
static char *
big_json(size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, 'x', n);
	memcpy(s, "{\"pad\":\"", 8);
	memcpy(s + n - 2, "\"}", 2);
	s[n] = '\0';
	return s;
}

START_TEST(talkback_result_round_trip)
{
	start(NULL);
	char *src = jd_path(&D, "result.json");
	char *text = big_json(10 * 1024);
	jd_write_file(src, text);
	int fd = jd_watch_conn(&D, NULL);
	char *sh = NULL;
	ck_assert_int_gt(asprintf(&sh, "cat %s > \"$JOBD_RESULT\"", src), 0);
	int64_t id = submit_sh(sh, NULL);
	free(sh);
	json_t *want = jd_json(text);
	/* wait's reply, then get's. */
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_equal(json_object_get(j, "result"), want));
	ck_assert(json_is_null(json_object_get(j, "result_error")));
	json_decref(j);
	j = jd_get(&D, id);
	ck_assert(json_equal(json_object_get(j, "result"), want));
	json_decref(j);
	/* The event says how big, not what: 10 KiB is over 4 KiB. */
	json_t *ev = next_event(fd, "job.finished", id);
	json_t *job = json_object_get(ev, "job");
	ck_assert_ptr_null(json_object_get(job, "result"));
	ck_assert_int_eq(jd_num(job, "result_bytes"), 10 * 1024);
	json_decref(ev);
	/* A small one rides in the event; any JSON value will do. */
	id = submit_sh("printf ' [1, \"two\", {\"three\": 3}]\\n' "
		       "> \"$JOBD_RESULT\"; exit 3",
		       NULL);
	ev = next_event(fd, "job.finished", id);
	job = json_object_get(ev, "job");
	json_t *small = jd_json("[1, \"two\", {\"three\": 3}]");
	ck_assert(json_equal(json_object_get(job, "result"), small));
	/* A failed job keeps its result, and stays failed. */
	ck_assert_str_eq(jd_str(job, "state"), "failed");
	json_decref(ev);
	jd_close(fd);
	/* list gives the size only. */
	json_t *r = jd_req(&D, "{s:s}", "cmd", "list");
	json_t *jobs = json_object_get(jd_ok(r), "jobs");
	size_t i;
	json_t *row;
	json_array_foreach (jobs, i, row) {
		ck_assert_ptr_null(json_object_get(row, "result"));
		ck_assert_int_gt(jd_num(row, "result_bytes"), 0);
	}
	json_decref(r);
	/* jobctl result prints it raw, on one line. */
	char idtext[32], *out, *err;
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, NULL, "result", idtext, NULL), 0);
	ck_assert_str_eq(out, "[1,\"two\",{\"three\":3}]\n");
	free(out);
	/* Without one: said, status 1. */
	id = submit_sh("true", NULL);
	json_decref(finished(id));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(
		jd_jobctl(&D, NULL, &out, &err, "result", idtext, NULL), 1);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, "has no result"), "%s", err);
	free(out);
	free(err);
	json_decref(small);
	json_decref(want);
	free(text);
	free(src);
}
END_TEST

START_TEST(talkback_result_errors)
{
	start(NULL);
	char *src = jd_path(&D, "big.json");
	char *text = big_json(100 * 1024);
	jd_write_file(src, text);
	char *sh = NULL;
	ck_assert_int_gt(asprintf(&sh, "cat %s > \"$JOBD_RESULT\"", src), 0);
	int64_t id = submit_sh(sh, NULL);
	free(sh);
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_is_null(json_object_get(j, "result")));
	ck_assert_msg(strncmp(jd_str(j, "result_error"), "too large", 9) == 0,
		      "%s", jd_str(j, "result_error"));
	json_decref(j);

	id = submit_sh("echo 'rows: 12' > \"$JOBD_RESULT\"", NULL);
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert(json_is_null(json_object_get(j, "result")));
	ck_assert_msg(strncmp(jd_str(j, "result_error"), "not JSON", 8) == 0,
		      "%s", jd_str(j, "result_error"));
	json_decref(j);

	/* Nested past 32: not JSON to jobd either. */
	id = submit_sh("i=0; s=; while [ $i -lt 40 ]; do s=\"[$s\"; "
		       "i=$((i+1)); done; i=0; while [ $i -lt 40 ]; do "
		       "s=\"$s]\"; i=$((i+1)); done; printf %s \"$s\" > "
		       "\"$JOBD_RESULT\"; exit 4",
		       NULL);
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "failed");
	ck_assert_str_eq(jd_str(j, "reason"), "exit");
	ck_assert_msg(strncmp(jd_str(j, "result_error"), "not JSON", 8) == 0,
		      "%s", jd_str(j, "result_error"));
	json_decref(j);
	free(text);
	free(src);
}
END_TEST

START_TEST(talkback_result_latest_attempt_and_limit)
{
	start("max_result_bytes = 16\n");
	/* The first attempt's result goes with the second's end. */
	char *sh = counter_sh("runs", "if [ $n -eq 1 ]; then "
				      "echo '{\"n\":1}' > \"$JOBD_RESULT\"; "
				      "exit 1; fi; exit 0");
	int64_t id = submit_sh(sh, "{\"max_attempts\": 2, \"backoff\": "
				   "{\"base\": 0, \"jitter\": 0}}");
	free(sh);
	json_t *j = finished(id);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	ck_assert_int_eq(jd_num(j, "attempt"), 2);
	ck_assert(json_is_null(json_object_get(j, "result")));
	json_decref(j);
	/* max_result_bytes: 16 bytes pass, 17 do not. */
	id = submit_sh("printf '\"0123456789abcd\"' > \"$JOBD_RESULT\"", NULL);
	j = finished(id);
	ck_assert_str_eq(jd_str(j, "result"), "0123456789abcd");
	json_decref(j);
	id = submit_sh("printf '\"0123456789abcde\"' > \"$JOBD_RESULT\"", NULL);
	j = finished(id);
	ck_assert(json_is_null(json_object_get(j, "result")));
	ck_assert_msg(strstr(jd_str(j, "result_error"), "16 bytes"), "%s",
		      jd_str(j, "result_error"));
	json_decref(j);
	/* A retry forgets it (the queue paused: the job waits, queued). */
	id = submit_sh("echo 7 > \"$JOBD_RESULT\"; exit 1", NULL);
	j = finished(id);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "result")), 7);
	json_decref(j);
	jd_queue_cmd(&D, "queue.pause", "default");
	jd_call_ok(&D, json_pack("{s:s,s:I}", "cmd", "retry", "job_id",
				 (json_int_t)id));
	j = jd_get(&D, id);
	ck_assert_str_eq(jd_str(j, "state"), "queued");
	ck_assert(json_is_null(json_object_get(j, "result")));
	json_decref(j);
	jd_queue_cmd(&D, "queue.resume", "default");
	j = finished(id);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "result")), 7);
	json_decref(j);
}
END_TEST

START_TEST(talkback_files_private_fresh_and_not_followed)
{
	start(NULL);
	/* What the job sees of its files: mode, size, device, place. */
	int64_t id = submit_sh(
		"r=\"$JOBD_RESULT\"; s=\"$JOBD_SNOOZE\"; "
		"printf '{\"mode\":\"%s\",\"snooze_mode\":\"%s\",\"size\":%s,"
		"\"snooze_size\":%s,\"dev\":%s,\"path\":\"%s\"}' "
		"$(stat -c %a \"$r\") $(stat -c %a \"$s\") "
		"$(stat -c %s \"$r\") $(stat -c %s \"$s\") "
		"$(stat -c %d \"$r\") \"$r\" > \"$r.tmp\"; "
		"cat \"$r.tmp\" > \"$r\"; rm -f \"$r.tmp\"",
		NULL);
	json_t *j = finished(id);
	json_t *res = json_object_get(j, "result");
	ck_assert_msg(json_is_object(res), "%s", jd_str(j, "result_error"));
	ck_assert_str_eq(jd_str(res, "mode"), "600");
	ck_assert_str_eq(jd_str(res, "snooze_mode"), "600");
	ck_assert_int_eq(jd_num(res, "size"), 0);
	ck_assert_int_eq(jd_num(res, "snooze_size"), 0);
	struct stat st;
	ck_assert_int_eq(stat(D.state, &st), 0);
	ck_assert_int_eq(jd_num(res, "dev"), (json_int_t)st.st_dev);
	char prefix[400];
	snprintf(prefix, sizeof(prefix), "%s/talk/", D.state);
	ck_assert_msg(strncmp(jd_str(res, "path"), prefix, strlen(prefix)) == 0,
		      "%s", jd_str(res, "path"));
	ck_assert(!jd_exists(jd_str(res, "path")));
	json_decref(j);

	/* A symbolic link or a second link in its place: not read, and
	 * what it points at is left alone. */
	char *secret = jd_path(&D, "secret");
	jd_write_file(secret, "{\"secret\": 1}");
	char *sh = NULL;
	ck_assert_int_gt(
		asprintf(&sh,
			 "rm -f \"$JOBD_RESULT\"; ln -s %s \"$JOBD_RESULT\"",
			 secret),
		0);
	id = submit_sh(sh, NULL);
	free(sh);
	j = finished(id);
	ck_assert(json_is_null(json_object_get(j, "result")));
	ck_assert_str_eq(jd_str(j, "result_error"), "not a regular file");
	json_decref(j);
	ck_assert_int_gt(
		asprintf(&sh, "rm -f \"$JOBD_RESULT\"; ln %s \"$JOBD_RESULT\"",
			 secret),
		0);
	id = submit_sh(sh, NULL);
	free(sh);
	j = finished(id);
	ck_assert(json_is_null(json_object_get(j, "result")));
	ck_assert_str_eq(jd_str(j, "result_error"), "not a regular file");
	json_decref(j);
	char *kept = jd_slurp(secret);
	ck_assert_str_eq(kept, "{\"secret\": 1}");
	free(kept);
	free(secret);

	/* Another user's job: its files are its own, and it reaches them. */
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "talkback: not root or no user nobody: the "
				"second-uid part is skipped\n");
		return;
	}
	id = jd_submit(&D, json_pack("{s:s,s:s}", "user", "nobody", "shell",
				     "printf '{\"uid\":%s,\"mode\":\"%s\"}' "
				     "$(stat -c %u \"$JOBD_RESULT\") "
				     "$(stat -c %a \"$JOBD_RESULT\") "
				     "> \"$JOBD_RESULT\""));
	j = finished(id);
	res = json_object_get(j, "result");
	ck_assert_msg(json_is_object(res), "%s (%s)", jd_str(j, "state"),
		      jd_str(j, "result_error"));
	ck_assert_int_eq(jd_num(res, "uid"), (json_int_t)pw->pw_uid);
	ck_assert_str_eq(jd_str(res, "mode"), "600");
	json_decref(j);
}
END_TEST

Suite *
talkback_suite(void)
{
	Suite *s = suite_create("talkback");
	TCase *tc = tcase_create("snooze");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, talkback_snooze_three_times_one_attempt);
	tcase_add_test(tc, talkback_snooze_delay_honoured);
	tcase_add_test(tc, talkback_snooze_field_and_bad_file);
	tcase_add_test(tc, talkback_max_snoozes_ends_the_job);
	tcase_add_test(tc, talkback_snooze_exit_chosen_or_off);
	tcase_add_test(tc, talkback_interrupted_is_no_snooze);
	tcase_add_test(tc, talkback_snooze_bad_fields);
	tcase_add_test(tc, talkback_snooze_queue_defaults_and_config);
	suite_add_tcase(s, tc);
	tc = tcase_create("result");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, talkback_result_round_trip);
	tcase_add_test(tc, talkback_result_errors);
	tcase_add_test(tc, talkback_result_latest_attempt_and_limit);
	tcase_add_test(tc, talkback_files_private_fresh_and_not_followed);
	suite_add_tcase(s, tc);
	return s;
}
