/*
 * debug_suite: debug mode against a real jobd (SPEC 6: slow-callback
 * warnings, stats.loop, debug.block, the three ways to turn it on, state
 * changes in the log) and `jobctl stats --prometheus` (SPEC 8), checked
 * against the exposition format's rules here and by promtool when it is
 * installed.  The rights of non-admin callers (SPEC 11) cannot be tested
 * as root and are not.  Every test starts its own daemon; the teardown
 * stops it and fails on a sanitizer report or an unclean exit.  Every
 * wait is a bounded poll.
 */
#include <check.h>
#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *debug_suite(void);

/* Every daemon here gets this much config; a test may add to it. */
#define BASE_CONF "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"

/* The one daemon of the current test (each test runs in its own fork). */
static struct jd D;

/* Starts the test's daemon with BASE_CONF plus extra (may be NULL) and the
 * extra arguments args (may be NULL). */
static struct jd *
start(const char *extra, const char *const *args)
{
	return jd_test_start(&D, BASE_CONF, extra, args);
}

static const char *const debug_args[] = {"--debug", NULL};

/* ---- helpers ---- */

static double
real(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* stats.loop (new ref). */
static json_t *
loop_stats(struct jd *d)
{
	json_t *r = jd_req(d, "{s:s}", "cmd", "stats");
	json_t *l = json_incref(json_object_get(jd_ok(r), "loop"));
	json_decref(r);
	ck_assert_msg(json_is_object(l), "stats has no loop object");
	return l;
}

/* debug.block for ms; the response (new ref). */
static json_t *
block(struct jd *d, int ms)
{
	return jd_req(d, "{s:s,s:i}", "cmd", "debug.block", "ms", ms);
}

/* The daemon log lines holding needle, as one string joined by '\n'
 * (caller frees); *n gets their number. */
static char *
log_lines(struct jd *d, const char *needle, int *n)
{
	char *log = jd_slurp(d->log);
	size_t cap = 1, len = 0;
	char *out = calloc(1, cap);
	*n = 0;
	for (char *s = log, *nl; s && *s; s = nl + 1) {
		nl = strchr(s, '\n');
		if (nl == NULL)
			break; /* a line still being written */
		*nl = '\0';
		if (strstr(s, needle) == NULL)
			continue;
		size_t k = strlen(s);
		out = realloc(out, cap += k + 1);
		memcpy(out + len, s, k);
		len += k;
		out[len++] = '\n';
		out[len] = '\0';
		(*n)++;
	}
	free(log);
	return out;
}

/* Polls until the log has more than have lines holding needle. */
static bool
poll_log(struct jd *d, const char *needle, int have, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	while (jd_now() < deadline) {
		int n;
		free(log_lines(d, needle, &n));
		if (n > have)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

/* ---- slow callbacks ---- */

/* A 200 ms block with slow_callback_ms = 50 is one slow step of the
 * connection's coroutine: one warning naming conn[...], one count. */
START_TEST(debug_slow_callback_warning)
{
	struct jd *d = start("slow_callback_ms = 50\n", debug_args);
	json_t *l0 = loop_stats(d);
	int warned0;
	free(log_lines(d, "slow callback:", &warned0));
	double t0 = jd_now();
	json_t *r = block(d, 200);
	jd_ok(r);
	json_decref(r);
	ck_assert_msg(jd_now() - t0 >= 0.19, "debug.block did not block");
	ck_assert_msg(poll_log(d, "slow callback:", warned0, 5),
		      "no slow callback warning");
	json_t *l1 = loop_stats(d);
	int warned;
	char *lines = log_lines(d, "slow callback:", &warned);
	ck_assert_msg(warned == warned0 + 1,
		      "%d new slow callback warnings, want 1:\n%s",
		      warned - warned0, lines);
	const char *last = lines;
	for (int i = 0; i < warned - 1; i++)
		last = strchr(last, '\n') + 1;
	ck_assert_msg(strstr(last, "warning") != NULL,
		      "not at warning level: %s", last);
	ck_assert_msg(strstr(last, "slow callback: conn[") != NULL,
		      "does not name the connection: %s", last);
	const char *took = strstr(last, " took ");
	ck_assert_msg(took != NULL, "no 'took N ms': %s", last);
	char *end;
	long ms = strtol(took + 6, &end, 10);
	ck_assert_msg(ms >= 200 && strncmp(end, " ms", 3) == 0, "took what: %s",
		      last);
	free(lines);
	ck_assert_int_eq(
		jd_num(l1, "slow_callbacks") - jd_num(l0, "slow_callbacks"), 1);
	ck_assert_msg(real(l1, "slowest_ms") >= 200, "slowest_ms %g",
		      real(l1, "slowest_ms"));
	ck_assert_int_gt(jd_num(l1, "iterations"), jd_num(l0, "iterations"));
	json_decref(l0);
	json_decref(l1);
}
END_TEST

/* Blocking the loop shows in stats.loop.lag_max_ms. */
START_TEST(debug_block_lag)
{
	struct jd *d = start(NULL, debug_args);
	json_t *r = block(d, 200);
	jd_ok(r);
	json_decref(r);
	/* The lag is seen when the loop gets back to its timers: poll. */
	json_t *l = NULL;
	double deadline = jd_now() + 2;
	while (jd_now() < deadline) {
		json_decref(l);
		l = loop_stats(d);
		if (real(l, "lag_max_ms") >= 100)
			break;
		poll(NULL, 0, 20);
	}
	ck_assert_msg(real(l, "lag_max_ms") >= 100,
		      "lag_max_ms %g after a 200 ms block",
		      real(l, "lag_max_ms"));
	json_decref(l);
}
END_TEST

/* Runs a job writing 50 MB as fast as it can in debug mode at the default
 * threshold: reading it must not make one slow step. */
static void
big_output(const char *conf, bool truncated)
{
	struct jd *d = start(conf, debug_args);
	json_t *l0 = loop_stats(d);
	int id = (int)jd_submit(d, json_pack("{s:s}", "shell",
					     "head -c 50000000 /dev/zero | "
					     "tr '\\0' x"));
	json_t *job = jd_wait(d, id, 60);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	ck_assert(json_is_boolean(json_object_get(job, "output_truncated")));
	ck_assert_int_eq(json_is_true(json_object_get(job, "output_truncated")),
			 truncated);
	json_decref(job);
	json_t *r = jd_req(d, "{s:s,s:i,s:i}", "cmd", "logs", "job_id", id,
			   "offset", -10);
	json_t *res = jd_ok(r);
	ck_assert_int_eq(jd_num(res, "size"),
			 truncated ? (json_int_t)16 << 20 : 50000000);
	ck_assert_str_eq(jd_str(res, "data"), "xxxxxxxxxx");
	json_decref(r);
	json_t *l1 = loop_stats(d);
	int warned;
	char *lines = log_lines(d, "slow callback:", &warned);
	ck_assert_msg(warned == 0, "slow callbacks:\n%s", lines);
	free(lines);
	ck_assert_int_eq(jd_num(l1, "slow_callbacks"),
			 jd_num(l0, "slow_callbacks"));
	json_decref(l0);
	json_decref(l1);
}

START_TEST(debug_big_output_kept)
{
	big_output("max_log_bytes = 64M\n", false);
}
END_TEST

START_TEST(debug_big_output_truncated)
{
	big_output(NULL, true);
}
END_TEST

/* ---- turning debug mode on ---- */

START_TEST(debug_block_needs_debug)
{
	struct jd *d = start(NULL, NULL);
	json_t *r = block(d, 0);
	ck_assert_str_eq(jd_err(r), "unknown_command");
	json_decref(r);
}
END_TEST

START_TEST(debug_on_by_flag)
{
	struct jd *d = start(NULL, debug_args);
	json_t *r = block(d, 0);
	jd_ok(r);
	json_decref(r);
}
END_TEST

START_TEST(debug_on_by_env)
{
	setenv("JOBD_DEBUG", "1", 1);
	struct jd *d = start(NULL, NULL);
	unsetenv("JOBD_DEBUG");
	json_t *r = block(d, 0);
	jd_ok(r);
	json_decref(r);
}
END_TEST

/* Under systemd (JOURNAL_STREAM set) every log line starts with its
 * syslog priority, so journald keeps the levels: <6> info, <4> warning. */
START_TEST(debug_journal_priorities)
{
	setenv("JOURNAL_STREAM", "8:12345", 1);
	struct jd *d = start("[daemon]\nslow_callback_ms = 50\n", debug_args);
	unsetenv("JOURNAL_STREAM");
	json_t *r = block(d, 120);
	jd_ok(r);
	json_decref(r);
	/* The warning is written when the slow step ends, which may be after
	 * the reply reached us: poll the log, and judge whole lines only. */
	bool info = false, warning = false;
	double deadline = jd_now() + 10;
	while (!(info && warning) && jd_now() < deadline) {
		char *log = jd_slurp(d->log);
		ck_assert_ptr_nonnull(log);
		char *end = strrchr(log, '\n');
		if (end != NULL)
			end[1] = '\0';
		else
			log[0] = '\0';
		for (char *line = log; line && *line;) {
			char *nl = strchr(line, '\n');
			*nl = '\0';
			/* Sanitizer runtimes write their own "==PID=="
			 * lines. */
			ck_assert_msg((line[0] == '<' && line[1] != '\0' &&
				       line[2] == '>') ||
					      strncmp(line, "==", 2) == 0,
				      "line without a priority: %s", line);
			if (strncmp(line, "<6>", 3) == 0)
				info = true;
			if (strncmp(line, "<4>slow callback:", 17) == 0)
				warning = true;
			line = nl + 1;
		}
		free(log);
		if (!(info && warning))
			poll(NULL, 0, 20);
	}
	ck_assert_msg(info, "no <6> info line");
	ck_assert_msg(warning, "no <4> slow callback warning");
}
END_TEST

START_TEST(debug_off_by_env_zero)
{
	setenv("JOBD_DEBUG", "0", 1);
	struct jd *d = start(NULL, NULL);
	unsetenv("JOBD_DEBUG");
	json_t *r = block(d, 0);
	ck_assert_str_eq(jd_err(r), "unknown_command");
	json_decref(r);
}
END_TEST

START_TEST(debug_on_by_config)
{
	struct jd *d = start("debug = true\n", NULL);
	json_t *r = block(d, 0);
	jd_ok(r);
	json_decref(r);
}
END_TEST

/* debug.block checks its argument. */
START_TEST(debug_block_bad_ms)
{
	struct jd *d = start(NULL, debug_args);
	json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "debug.block", "ms", "x");
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
	r = block(d, -1);
	ck_assert_str_eq(jd_err(r), "invalid_argument");
	json_decref(r);
}
END_TEST

/* ---- state changes in the log ---- */

/* Polls until the log shows, in this order, lines for job id with each of
 * the states (NULL-ended); fails with the log otherwise. */
static void
assert_state_lines(struct jd *d, int64_t id, const char *const *states)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "job=%lld ", (long long)id);
	double deadline = jd_now() + 5;
	char *lines = NULL;
	for (;;) {
		int n;
		free(lines);
		lines = log_lines(d, needle, &n);
		const char *at = lines;
		size_t i;
		for (i = 0; states[i] && at; i++) {
			char want[64];
			snprintf(want, sizeof(want), "state=%s ", states[i]);
			at = strstr(at, want);
			if (at)
				at += strlen(want);
		}
		if (at != NULL)
			break;
		ck_assert_msg(jd_now() < deadline,
			      "job %lld: no state line for %s in:\n%s",
			      (long long)id, states[i - 1], lines);
		poll(NULL, 0, 10);
	}
	free(lines);
}

/* Debug mode logs every state change of a job. */
START_TEST(debug_logs_state_changes)
{
	struct jd *d = start(NULL, debug_args);
	int64_t ok = jd_submit(d, json_pack("{s:[s]}", "argv", "true"));
	json_t *job = jd_wait(d, ok, 10);
	ck_assert_str_eq(jd_str(job, "state"), "succeeded");
	json_decref(job);
	static const char *const ok_states[] = {"queued", "running",
						"succeeded", NULL};
	assert_state_lines(d, ok, ok_states);
	/* A retried job: scheduled again after its failed attempt. */
	int64_t bad = jd_submit(d, json_pack("{s:[s],s:i,s:{s:f,s:f,s:f,s:f}}",
					     "argv", "false", "max_attempts", 2,
					     "backoff", "base", 0.1, "factor",
					     1.0, "max", 1.0, "jitter", 0.0));
	job = jd_wait(d, bad, 10);
	ck_assert_str_eq(jd_str(job, "state"), "failed");
	json_decref(job);
	static const char *const bad_states[] = {
		"queued",  "running", "scheduled", "queued",
		"running", "failed",  NULL};
	assert_state_lines(d, bad, bad_states);
}
END_TEST

/* ---- Prometheus ---- */

/* Appends a to the string dst of cap bytes, cutting what does not fit. */
static void
cat(char *dst, size_t cap, const char *a)
{
	size_t n = strlen(dst), k = strlen(a);
	if (n + k >= cap)
		k = cap - n - 1;
	memcpy(dst + n, a, k);
	dst[n + k] = '\0';
}

/* One metric family seen in the exposition. */
struct family {
	char name[128];
	bool help, type, sampled;
	char kind[16];
};

/* What prom_check has seen so far. */
struct prom {
	struct family fam[128];
	int nfam;
	char *series[1024]; /* owned: each series' identity */
	int nseries;
	const char *last_sampled; /* the family of the last sample */
};

/* Reads a metric name at *pp into name (128 bytes) and moves *pp past it;
 * NULL, or what is wrong. */
static const char *
prom_name(const char **pp, char *name)
{
	const char *p = *pp;
	size_t n = 0;

	if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
		return "bad metric name start";
	while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':')
		n++;
	if (n >= 128)
		return "metric name too long";
	memcpy(name, p, n);
	name[n] = '\0';
	*pp = p + n;
	return NULL;
}

/* A "# HELP" or "# TYPE" line of family name (f when seen before), p
 * after the name; NULL, or what is wrong. */
static const char *
prom_header(struct prom *st, struct family *f, const char *name, bool help,
	    const char *p)
{
	size_t len;

	if (*p != ' ' || p[1] == '\0')
		return "no text after the name";
	if (f == NULL) {
		if (st->nfam == 128)
			return "too many families";
		f = &st->fam[st->nfam++];
		memset(f, 0, sizeof(*f));
		strcpy(f->name, name);
	}
	if (f->sampled)
		return "HELP/TYPE after the family's samples";
	if (help) {
		if (f->help)
			return "second HELP";
		f->help = true;
		return NULL;
	}
	if (f->type)
		return "second TYPE";
	f->type = true;
	if (strcmp(p + 1, "counter") != 0 && strcmp(p + 1, "gauge") != 0)
		return "TYPE is not counter or gauge";
	strcpy(f->kind, p + 1);
	len = strlen(name);
	if (strcmp(f->kind, "counter") == 0 &&
	    !(len > 6 && strcmp(name + len - 6, "_total") == 0))
		return "counter name does not end in _total";
	return NULL;
}

/* Reads the {label="value",...} at *pp (just after '{') and appends
 * "|label=value" to key (1024 bytes) for each; *nl gets how many.  NULL,
 * or what is wrong. */
static const char *
prom_labels(const char **pp, char *key, int *nl)
{
	char labels[16][64];
	const char *p = *pp;

	*nl = 0;
	while (*p != '}') {
		size_t k = 0;

		if (!(isalpha((unsigned char)*p) || *p == '_'))
			return "bad label name";
		while (isalnum((unsigned char)p[k]) || p[k] == '_')
			k++;
		if (k >= 64 || *nl == 16)
			return "label too long or too many";
		memcpy(labels[*nl], p, k);
		labels[*nl][k] = '\0';
		for (int i = 0; i < *nl; i++)
			if (strcmp(labels[i], labels[*nl]) == 0)
				return "label twice";
		(*nl)++;
		p += k;
		if (p[0] != '=' || p[1] != '"')
			return "label without =\"";
		p += 2;
		cat(key, 1024, "|");
		cat(key, 1024, labels[*nl - 1]);
		cat(key, 1024, "=");
		for (; *p != '"'; p++) {
			char ch[2];

			if (*p == '\0')
				return "unterminated label value";
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return "bad escape";
			}
			ch[0] = *p;
			ch[1] = '\0';
			cat(key, 1024, ch);
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return "labels not separated by ,";
	}
	*pp = p + 1;
	return NULL;
}

/* The " value [timestamp]" ending a sample of family f; NULL, or what is
 * wrong. */
static const char *
prom_value(const char *p, const struct family *f)
{
	char *vend;
	const char *end;
	double v;

	if (*p != ' ')
		return "no space before the value";
	p++;
	v = strtod(p, &vend);
	end = vend;
	if (strncmp(p, "+Inf", 4) == 0 || strncmp(p, "-Inf", 4) == 0 ||
	    strncmp(p, "NaN", 3) == 0)
		end = p + (p[0] == 'N' ? 3 : 4);
	else if (end == p)
		return "value is not a number";
	if (*end == ' ') {
		const char *t = end + 1;

		if (*t == '-')
			t++;
		if (!isdigit((unsigned char)*t))
			return "bad timestamp";
		while (isdigit((unsigned char)*t))
			t++;
		end = t;
	}
	if (*end != '\0')
		return "junk after the value";
	if (strcmp(f->kind, "counter") == 0 && v < 0)
		return "negative counter";
	return NULL;
}

/* Puts the labels of a series key (name|l1=v1|l2=v2..., 1024 bytes) in
 * sorted order, so that the key names the series whatever their order on
 * the line. */
static void
prom_sort_key(char *key)
{
	char *parts[17];
	int np = 0;
	char *save = NULL;
	char tmp[1024];

	memcpy(tmp, key, sizeof(tmp));
	for (char *t = strtok_r(tmp, "|", &save); t && np < 17;
	     t = strtok_r(NULL, "|", &save))
		parts[np++] = t;
	for (int i = 1; i < np; i++)
		for (int j = i + 1; j < np; j++)
			if (strcmp(parts[j], parts[i]) < 0) {
				char *x = parts[i];

				parts[i] = parts[j];
				parts[j] = x;
			}
	key[0] = '\0';
	for (int i = 0; i < np; i++) {
		if (i > 0)
			cat(key, 1024, "|");
		cat(key, 1024, parts[i]);
	}
}

/* A sample line of family f, p after the name: name{label="value",...}
 * number [timestamp]; NULL, or what is wrong. */
static const char *
prom_sample(struct prom *st, struct family *f, const char *name, const char *p)
{
	char key[1024] = "";
	const char *why;
	int nl = 0;

	if (f == NULL || !f->help || !f->type)
		return "sample before its family's HELP and TYPE";
	if (f->sampled && st->last_sampled != f->name)
		return "family's samples are not together";
	f->sampled = true;
	st->last_sampled = f->name;
	cat(key, sizeof(key), name);
	if (*p == '{') {
		p++;
		if ((why = prom_labels(&p, key, &nl)) != NULL)
			return why;
	}
	if ((why = prom_value(p, f)) != NULL)
		return why;
	if (nl > 1)
		prom_sort_key(key);
	for (int i = 0; i < st->nseries; i++)
		if (strcmp(st->series[i], key) == 0)
			return "duplicate series";
	if (st->nseries == 1024)
		return "too many series";
	st->series[st->nseries++] = strdup(key);
	return NULL;
}

/* One line s of the exposition; NULL, or what is wrong. */
static const char *
prom_line(struct prom *st, const char *s)
{
	bool is_help = strncmp(s, "# HELP ", 7) == 0;
	bool is_type = strncmp(s, "# TYPE ", 7) == 0;
	const char *p = s, *why;
	struct family *f = NULL;
	char name[128];

	if (*s == '\0' || (*s == '#' && !is_help && !is_type))
		return NULL;
	if (is_help || is_type)
		p = s + 7;
	if ((why = prom_name(&p, name)) != NULL)
		return why;
	for (int i = 0; i < st->nfam && !f; i++)
		if (strcmp(st->fam[i].name, name) == 0)
			f = &st->fam[i];
	if (is_help || is_type)
		return prom_header(st, f, name, is_help, p);
	return prom_sample(st, f, name, p);
}

/* Checks the Prometheus text exposition format rules on text; returns
 * NULL when it passes, else a message (caller frees). */
static char *
prom_check(const char *text)
{
	struct prom *st = calloc(1, sizeof(*st));
	char *copy = strdup(text), *next, *err = NULL;
	int lineno = 0;

	for (char *s = copy; s && *s; s = next) {
		const char *why;

		next = strchr(s, '\n');
		lineno++;
		if (next != NULL)
			*next++ = '\0';
		why = next == NULL ? "last line has no newline"
				   : prom_line(st, s);
		if (why != NULL) {
			if (asprintf(&err, "line %d: %s: '%s'", lineno, why,
				     s) < 0)
				abort();
			goto out;
		}
	}
	for (int i = 0; i < st->nfam; i++) {
		if (!st->fam[i].help || !st->fam[i].type) {
			if (asprintf(&err, "family %s lacks HELP or TYPE",
				     st->fam[i].name) < 0)
				abort();
			goto out;
		}
	}
	if (st->nseries == 0)
		err = strdup("no samples at all");
out:
	for (int i = 0; i < st->nseries; i++)
		free(st->series[i]);
	free(st);
	free(copy);
	return err;
}

/* The checker itself catches what it must (so a pass means something). */
START_TEST(debug_prometheus_checker)
{
	static const char *const bad[] = {
		"x 1\n",
		"# HELP a_total a\n# TYPE a_total counter\na_total{l=\"x\"} 1\n"
		"a_total{l=\"x\"} 2\n",
		"# HELP a a\n# TYPE a counter\na 1\n",
		"# HELP a a\n# TYPE a summary\na 1\n",
		"# HELP a a\n# TYPE a gauge\na{l=\"\\q\"} 1\n",
		"# HELP a a\n# TYPE a gauge\na{l=\"x\"}\n",
		"# HELP a a\n# TYPE a gauge\na 1\n# HELP b b\n# TYPE b gauge\n"
		"b 1\na 2\n",
		"# HELP 1a a\n# TYPE 1a gauge\n1a 1\n",
		"# HELP a a\n# TYPE a gauge\na{l=x} 1\n",
		"# HELP a a\n# TYPE a gauge\na{l=\"x\",m=\"y\"} 1\n"
		"a{m=\"y\",l=\"x\"} 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *e = prom_check(bad[i]);
		ck_assert_msg(e != NULL, "checker passed bad input %zu", i);
		free(e);
	}
	char *e = prom_check("# HELP a_total a\n# TYPE a_total counter\n"
			     "a_total{l=\"x\\\"y\\\\\\n\"} 1\n"
			     "a_total{l=\"z\",m=\"1\"} 2.5e3\n"
			     "# HELP b b\n# TYPE b gauge\nb NaN\n");
	ck_assert_msg(e == NULL, "checker refused good input: %s", e);
}
END_TEST

/* Runs two jobs and returns `jobctl stats --prometheus` (caller frees). */
static char *
prometheus_text(struct jd *d)
{
	for (int i = 0; i < 2; i++) {
		int64_t id = jd_submit(d, json_pack("{s:[s]}", "argv", "true"));
		json_t *job = jd_wait(d, id, 10);
		ck_assert_str_eq(jd_str(job, "state"), "succeeded");
		json_decref(job);
	}
	char *out = NULL, *err = NULL;
	int rc = jd_jobctl(d, NULL, &out, &err, "stats", "--prometheus", NULL);
	ck_assert_msg(rc == 0, "jobctl stats --prometheus: %d: %s", rc, err);
	free(err);
	return out;
}

/* `jobctl stats --prometheus` follows the text exposition format and
 * counts the jobs right. */
START_TEST(debug_prometheus_format)
{
	struct jd *d = start(NULL, NULL);
	char *out = prometheus_text(d);
	char *e = prom_check(out);
	ck_assert_msg(e == NULL, "%s\n--- output ---\n%s", e, out);
	ck_assert_msg(strstr(out, "\njobd_jobs{state=\"succeeded\"} 2\n"),
		      "no jobd_jobs{state=\"succeeded\"} 2 in:\n%s", out);
	ck_assert_msg(strstr(out, "\njobd_jobs{state=\"failed\"} 0\n"),
		      "no jobd_jobs{state=\"failed\"} 0 in:\n%s", out);
	free(out);
}
END_TEST

/* promtool, when installed (Debian: apt-get install prometheus), accepts
 * the output; without it there is nothing more to check here. */
START_TEST(debug_prometheus_promtool)
{
	const char *promtool = "/usr/bin/promtool";
	if (access(promtool, X_OK) != 0) {
		fprintf(stderr, "debug_prometheus_promtool: no %s, skipped\n",
			promtool);
		return;
	}
	struct jd *d = start(NULL, NULL);
	char *out = prometheus_text(d);
	char *in = jd_path(d, "metrics.prom");
	char *res = jd_path(d, "promtool.out");
	jd_write_file(in, out);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s check metrics < '%s' > '%s' 2>&1",
		 promtool, in, res);
	int st = system(cmd);
	char *said = jd_slurp(res);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "promtool check metrics exited %d:\n%s",
		      WIFEXITED(st) ? WEXITSTATUS(st) : -1, said ? said : "");
	free(said);
	free(in);
	free(res);
	free(out);
}
END_TEST

Suite *
debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("slow");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, debug_slow_callback_warning);
	tcase_add_test(tc, debug_block_lag);
	tcase_add_test(tc, debug_big_output_kept);
	tcase_add_test(tc, debug_big_output_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("mode");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, debug_block_needs_debug);
	tcase_add_test(tc, debug_on_by_flag);
	tcase_add_test(tc, debug_on_by_env);
	tcase_add_test(tc, debug_journal_priorities);
	tcase_add_test(tc, debug_off_by_env_zero);
	tcase_add_test(tc, debug_on_by_config);
	tcase_add_test(tc, debug_block_bad_ms);
	tcase_add_test(tc, debug_logs_state_changes);
	suite_add_tcase(s, tc);

	tc = tcase_create("prometheus");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, debug_prometheus_checker);
	tcase_add_test(tc, debug_prometheus_format);
	tcase_add_test(tc, debug_prometheus_promtool);
	suite_add_tcase(s, tc);
	return s;
}
