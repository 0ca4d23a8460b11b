/*
 * progress_suite: what a job writes to $JOBD_PROGRESS_FD.  Lines written
 * by a grandchild reach `get` and `watch` while the job runs; a job that
 * writes 100,000 lines costs jobd at most 10 ms of loop time a second
 * (the CPU time of jobd's loop thread over the job's run; the wall time
 * between polls, stats loop.busy_ms, is printed beside it, as it counts
 * the waits for the disk too);
 * job.progress events come at most 4 a second, the latest value winning;
 * bad lines are counted and harm nothing; the progress is stored with the
 * attempt's end and shown after it, and after a restart.  Every wait has
 * a deadline.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "jobd/time.h"

Suite *progress_suite(void);

#define BASE_CONF "; progress_suite\n[daemon]\nshutdown_timeout = 2\n"

/* The one daemon of the current test. */
static struct jd D;

/* The next event on fd for job id within timeout_ms (new ref), or NULL. */
static json_t *
next_event(int fd, int64_t id, int timeout_ms)
{
	double until = jd_now() + timeout_ms / 1000.0;
	while (jd_now() < until) {
		int left = (int)((until - jd_now()) * 1000) + 1;
		char *line = jd_read_line(fd, left);
		if (line == NULL)
			return NULL;
		json_t *ev = json_loads(line, 0, NULL);
		free(line);
		if (jd_num(json_object_get(ev, "job"), "id") == id)
			return ev;
		json_decref(ev);
	}
	return NULL;
}

/* The percent of a job object's (or brief job's) progress, -1: none. */
static json_int_t
percent_of(const json_t *job)
{
	json_t *p =
		json_object_get(json_object_get(job, "progress"), "percent");
	return json_is_integer(p) ? json_integer_value(p) : -1;
}

START_TEST(progress_grandchild_reaches_get_and_watch)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int w = jd_watch_conn(d, NULL);
	char *release = jd_path(d, "release");
	char sh[1024];
	/* Two subshells, each followed by a command so that neither execs
	 * its last one: the writer is the job's grandchild at least.  It
	 * waits for the test before the job ends. */
	snprintf(sh, sizeof(sh),
		 "( ( sh -c 'echo \"42 fd $JOBD_PROGRESS_FD\" "
		 ">&$JOBD_PROGRESS_FD; i=0; while [ ! -e %s ] && "
		 "[ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
		 "echo \"{\\\"percent\\\":90,\\\"message\\\":\\\"last\\\","
		 "\\\"current\\\":9,\\\"total\\\":10}\" >&$JOBD_PROGRESS_FD'; "
		 "true ); true ) & wait",
		 release);
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", sh));

	/* In memory while it runs: get shows it. */
	json_t *job = NULL;
	double until = jd_now() + 30;
	while (jd_now() < until) {
		job = jd_get(d, id);
		if (percent_of(job) == 42)
			break;
		json_decref(job);
		job = NULL;
		jd_pause_ms(20);
	}
	ck_assert_msg(job != NULL, "get never showed the grandchild's 42");
	ck_assert_str_eq(jd_str(job, "state"), "running");
	json_t *p = json_object_get(job, "progress");
	ck_assert_str_eq(jd_str(p, "message"), "fd 3");
	ck_assert_int_eq(json_object_size(p), 2);
	ck_assert_int_eq(jd_num(job, "progress_bad_lines"), 0);
	json_decref(job);

	/* And watch got it as job.progress. */
	json_t *ev;
	bool seen = false;
	while (!seen && (ev = next_event(w, id, 20000)) != NULL) {
		if (strcmp(jd_str(ev, "event"), "job.progress") == 0) {
			json_t *bj = json_object_get(ev, "job");
			ck_assert_int_eq(percent_of(bj), 42);
			ck_assert_str_eq(jd_str(json_object_get(bj, "progress"),
						"message"),
					 "fd 3");
			ck_assert_str_eq(jd_str(bj, "queue"), "default");
			ck_assert_int_eq(jd_num(bj, "attempt"), 1);
			seen = true;
		}
		json_decref(ev);
	}
	ck_assert_msg(seen, "no job.progress event on the watch");

	/* The last line, a JSON object, is the stored progress. */
	jd_write_file(release, "");
	job = jd_wait(d, id, 60);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	p = json_object_get(job, "progress");
	ck_assert_int_eq(percent_of(job), 90);
	ck_assert_str_eq(jd_str(p, "message"), "last");
	ck_assert_int_eq(jd_num(p, "current"), 9);
	ck_assert_int_eq(jd_num(p, "total"), 10);
	json_decref(job);
	free(release);
	jd_close(w);
}
END_TEST

/* stats loop.busy_ms now. */
static double
busy_ms(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *b =
		json_object_get(json_object_get(jd_ok(r), "loop"), "busy_ms");
	ck_assert_msg(json_is_number(b), "stats has no loop.busy_ms");
	double v = json_number_value(b);
	json_decref(r);
	return v;
}

/* The CPU time jobd's main thread, its loop, has used so far, in ms: from
 * its schedstat (ns), else from utime and stime of its stat (ticks). */
static double
loop_cpu_ms(const struct jd *d)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)d->pid,
		 (int)d->pid);
	char *t = jd_slurp(path);
	if (t != NULL) {
		double ns = strtod(t, NULL);
		free(t);
		return ns / 1e6;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)d->pid,
		 (int)d->pid);
	t = jd_slurp(path);
	ck_assert_msg(t != NULL, "cannot read %s", path);
	/* Fields after the command's closing parenthesis: state is the
	 * third field, utime the 14th and stime the 15th. */
	char *p = strrchr(t, ')');
	unsigned long ut = 0, st = 0;
	ck_assert(p != NULL && sscanf(p + 2,
				      "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				      "%*u %*u %lu %lu",
				      &ut, &st) == 2);
	free(t);
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

START_TEST(progress_many_lines_cost_little)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	/* 100,000 lines, one write each, in 20 bursts a tenth of a second
	 * apart: the job runs 2 s at least, and jobd sees a line after line
	 * writer, the worst case for wake-ups. */
	const char *sh = "for b in $(seq 0 19); do awk -v b=$b 'BEGIN { "
			 "for (i = b * 5000 + 1; i <= (b + 1) * 5000; i++) { "
			 "printf \"%d step %d\\n\", i / 1000, i; fflush() } }' "
			 ">&$JOBD_PROGRESS_FD || exit 1; sleep 0.1; done";
	double b0 = busy_ms(d), c0 = loop_cpu_ms(d);
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", sh));
	json_t *job = jd_wait(d, id, 120);
	double c1 = loop_cpu_ms(d), b1 = busy_ms(d);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	double run = json_number_value(json_object_get(job, "duration"));
	/* Everything the loop did for the job, from its submit to the
	 * answer of wait, against the time the job ran. */
	double per_s = (c1 - c0) / run;
	fprintf(stderr,
		"progress_many_lines_cost_little: 100000 lines in %.2f s; "
		"jobd's loop thread used %.2f ms of CPU, %.2f ms a second "
		"(loop busy %.2f ms of wall time, waits included)\n",
		run, c1 - c0, per_s, b1 - b0);
	ck_assert_msg(run >= 2.0, "the job ran %.2f s only", run);
	ck_assert_msg(per_s <= (jd_under_asan() ? 50.0 : 10.0),
		      "100000 progress lines cost jobd %.2f ms of loop time "
		      "per second",
		      per_s);
	/* Every line read: the last one is the progress, none bad. */
	json_t *p = json_object_get(job, "progress");
	ck_assert_int_eq(percent_of(job), 100);
	ck_assert_str_eq(jd_str(p, "message"), "step 100000");
	ck_assert_int_eq(jd_num(job, "progress_bad_lines"), 0);
	json_decref(job);
}
END_TEST

START_TEST(progress_events_throttled_latest_wins)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	int w = jd_watch_conn(d, NULL);
	/* 0 to 100, a line every 10 ms or so (a sleep each): about 1.5 s
	 * of lines, far more than 4 a second. */
	const char *sh = "i=0; while [ $i -le 100 ]; do "
			 "echo \"$i step $i\" >&$JOBD_PROGRESS_FD; "
			 "i=$((i+1)); sleep 0.01; done";
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", sh));
	int64_t times[256];
	json_int_t pcts[256];
	int n = 0;
	json_t *fin = NULL, *ev;
	while (fin == NULL && (ev = next_event(w, id, 60000)) != NULL) {
		const char *name = jd_str(ev, "event");
		if (strcmp(name, "job.progress") == 0) {
			ck_assert_int_lt(n, 256);
			ck_assert_int_eq(
				jobd_time_parse(jd_str(ev, "time"), &times[n]),
				0);
			pcts[n++] = percent_of(json_object_get(ev, "job"));
		} else if (strcmp(name, "job.finished") == 0) {
			fin = json_incref(json_object_get(ev, "job"));
		}
		json_decref(ev);
	}
	ck_assert_msg(fin != NULL, "no job.finished");
	ck_assert_str_eq(jd_str(fin, "state"), "succeeded");
	double run = json_number_value(json_object_get(fin, "duration"));
	fprintf(stderr,
		"progress_events_throttled_latest_wins: %d events in %.2f s\n",
		n, run);
	ck_assert_msg(n >= 2, "only %d job.progress events", n);
	/* 250 ms apart (a few ms of delivery jitter allowed), so at most 4
	 * a second; each the latest then, so never going back. */
	for (int i = 1; i < n; i++) {
		ck_assert_msg(times[i] - times[i - 1] >= 200,
			      "events %d and %d %lld ms apart", i - 1, i,
			      (long long)(times[i] - times[i - 1]));
		ck_assert_int_ge(pcts[i], pcts[i - 1]);
	}
	ck_assert_int_le(n, (int)(run * 4) + 2);
	/* The last line wins: the job's progress at its end. */
	ck_assert_int_eq(percent_of(fin), 100);
	ck_assert_str_eq(jd_str(json_object_get(fin, "progress"), "message"),
			 "step 100");
	json_decref(fin);
	jd_close(w);
}
END_TEST

START_TEST(progress_bad_lines_counted_and_stored)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	/* Two good lines around four bad ones: not a percent, over 100, an
	 * unknown key, and a line of 5,000 bytes. */
	const char *sh = "exec 3>&$JOBD_PROGRESS_FD; echo '10 first' >&3; "
			 "echo 'garbage' >&3; echo '{\"percent\":200}' >&3; "
			 "echo '{\"eta\":3}' >&3; "
			 "awk 'BEGIN { s = \"70 \"; for (i = 0; i < 5000; i++) "
			 "s = s \"x\"; print s }' >&3; "
			 "printf '60%% done\\n' >&3; echo output";
	int64_t id = jd_submit(d, json_pack("{s:s}", "shell", sh));
	json_t *job = jd_wait(d, id, 60);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert_int_eq(percent_of(job), 60);
	ck_assert_str_eq(jd_str(json_object_get(job, "progress"), "message"),
			 "done");
	ck_assert_int_eq(jd_num(job, "progress_bad_lines"), 4);
	json_decref(job);

	/* What jobctl shows: the percent in list, the message in get. */
	char idtext[32], *out = NULL;
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "list", NULL), 0);
	ck_assert_msg(strstr(out, "PROGRESS") != NULL && strstr(out, "60%"),
		      "list: %s", out);
	free(out);
	ck_assert_int_eq(jd_jobctl(d, NULL, &out, NULL, "get", idtext, NULL),
			 0);
	ck_assert_str_eq(jd_kv(out, "progress"), "60% done (4 bad lines)");
	free(out);

	/* Stored: the same after a restart. */
	ck_assert_int_eq(jd_stop(d), 0);
	jd_start(d, NULL);
	job = jd_get(d, id);
	ck_assert_int_eq(percent_of(job), 60);
	ck_assert_str_eq(jd_str(json_object_get(job, "progress"), "message"),
			 "done");
	ck_assert_int_eq(jd_num(job, "progress_bad_lines"), 4);
	json_decref(job);

	/* A job that writes nothing has none. */
	int64_t quiet = jd_submit(d, json_pack("{s:s}", "shell", "true"));
	job = jd_wait(d, quiet, 60);
	ck_assert(json_is_null(json_object_get(job, "progress")));
	ck_assert_int_eq(jd_num(job, "progress_bad_lines"), 0);
	json_decref(job);
}
END_TEST

Suite *
progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, progress_grandchild_reaches_get_and_watch);
	tcase_add_test(tc, progress_many_lines_cost_little);
	tcase_add_test(tc, progress_events_throttled_latest_wins);
	tcase_add_test(tc, progress_bad_lines_counted_and_stored);
	suite_add_tcase(s, tc);
	return s;
}
