/*
 * protodoc_suite: keeps the protocol reference, docs/jobd-protocol.7, true
 * to the daemon.  Every command the page lists is one a running jobd
 * answers; every command of the daemon's table (daemon/commands.c), every
 * event it sends (daemon/events.c, and the log events of logs follow),
 * every job spec field it takes (daemon/jobspec.c) and every error code of
 * <jobd/proto.h> has its entry in the page, and the page has no entry the
 * daemon does not know; so has every field of the job, queue, producer and
 * stats objects a running jobd sends, and the other way round.  Paths are
 * relative to the repository root, where the tests run.
 *
 * An entry is a .TP or .TQ tag of the page's man(7) source: a line
 * ".B name" (commands, events, error codes) or ".BR name ..." (fields)
 * right after the .TP or .TQ line, in the section (.SH) it belongs to.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "jobd/proto.h"

Suite *protodoc_suite(void);

#define PAGE "docs/jobd-protocol.7"
#define MAX_NAMES 256
#define NAME_MAX_LEN 64

#define BASE_CONF "; protodoc_suite\n[daemon]\nshutdown_timeout = 1\n"

static const char *const debug_args[] = {"--debug", NULL};

static struct jd D;

/* A list of names, filled by the parsers below. */
struct names {
	char v[MAX_NAMES][NAME_MAX_LEN];
	int n;
};

static void
names_add(struct names *ns, const char *s, size_t len)
{
	ck_assert_msg(ns->n < MAX_NAMES, "more than %d names", MAX_NAMES);
	ck_assert_msg(len > 0 && len < NAME_MAX_LEN, "bad name length %zu",
		      len);
	memcpy(ns->v[ns->n], s, len);
	ns->v[ns->n][len] = '\0';
	ns->n++;
}

static bool
names_has(const struct names *ns, const char *s)
{
	for (int i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return true;
	return false;
}

/* The page's source (caller frees). */
static char *
page_text(void)
{
	char *p = jd_slurp(PAGE);
	ck_assert_msg(p != NULL,
		      "cannot read %s (run from the repository "
		      "root)",
		      PAGE);
	return p;
}

/* The lines of section title (".SH title" or ".SH \"title\"") up to the
 * next .SH, as a new string (caller frees); fails the test when the page
 * has no such section. */
static char *
section(const char *page, const char *title)
{
	char plain[128], quoted[128];
	snprintf(plain, sizeof(plain), "\n.SH %s\n", title);
	snprintf(quoted, sizeof(quoted), "\n.SH \"%s\"\n", title);
	const char *start = strstr(page, plain);
	if (start == NULL)
		start = strstr(page, quoted);
	ck_assert_msg(start != NULL, "%s has no section %s", PAGE, title);
	start = strchr(start + 1, '\n') + 1;
	const char *end = strstr(start, "\n.SH ");
	size_t len = end ? (size_t)(end - start) + 1 : strlen(start);
	char *s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, start, len);
	s[len] = '\0';
	return s;
}

/* The entries of section text sec: the word after ".B " on a line of its
 * own (only_b), or also after ".BR " before a space (fields), on the line
 * right after a .TP or .TQ. */
static void
entries(const char *sec, bool only_b, struct names *out)
{
	out->n = 0;
	const char *p = sec;
	bool after_tag = false;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (after_tag) {
			size_t skip = 0;
			if (len > 3 && strncmp(p, ".B ", 3) == 0)
				skip = 3;
			else if (!only_b && len > 4 &&
				 strncmp(p, ".BR ", 4) == 0)
				skip = 4;
			if (skip) {
				const char *w = p + skip;
				size_t wl = strcspn(w, " \n");
				bool alone = w + wl == p + len;
				if (!only_b || alone)
					names_add(out, w, wl);
			}
		}
		after_tag = (len == 3 && (strncmp(p, ".TP", 3) == 0 ||
					  strncmp(p, ".TQ", 3) == 0));
		p += len + (nl ? 1 : 0);
	}
}

/* The double-quoted strings of source file path between the first start
 * marker and the first end marker after it. */
static void
source_strings(const char *path, const char *start, const char *end,
	       struct names *out)
{
	char *src = jd_slurp(path);
	ck_assert_msg(src != NULL, "cannot read %s", path);
	const char *s = strstr(src, start);
	ck_assert_msg(s != NULL, "%s: no \"%s\"", path, start);
	s += strlen(start);
	const char *e = strstr(s, end);
	ck_assert_msg(e != NULL, "%s: no \"%s\" after \"%s\"", path, end,
		      start);
	out->n = 0;
	for (const char *q = s; q < e; q++) {
		if (*q != '"')
			continue;
		const char *close = strchr(q + 1, '"');
		ck_assert(close != NULL && close < e);
		names_add(out, q + 1, (size_t)(close - q - 1));
		q = close;
	}
	free(src);
}

/* Fails the test unless every name of have is an entry of the page's
 * section (what names where), and, with both_ways, every entry of the
 * section is one of have. */
static void
check_same(const char *section_title, bool only_b, const struct names *have,
	   const char *what, bool both_ways)
{
	char *page = page_text();
	char *sec = section(page, section_title);
	static struct names doc;
	entries(sec, only_b, &doc);
	for (int i = 0; i < have->n; i++)
		ck_assert_msg(names_has(&doc, have->v[i]),
			      "%s %s is not in section %s of %s", what,
			      have->v[i], section_title, PAGE);
	if (both_ways)
		for (int i = 0; i < doc.n; i++)
			ck_assert_msg(names_has(have, doc.v[i]),
				      "section %s of %s documents %s, which "
				      "is no %s",
				      section_title, PAGE, doc.v[i], what);
	free(sec);
	free(page);
}

/* Adds the keys of object o to ns (once each). */
static void
add_keys(struct names *ns, json_t *o)
{
	const char *key;
	json_t *v;
	ck_assert(json_is_object(o));
	json_object_foreach (o, key, v) {
		if (!names_has(ns, key))
			names_add(ns, key, strlen(key));
	}
}

/* ---- commands ---- */

START_TEST(protodoc_commands_answered)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, debug_args);
	char *page = page_text();
	char *sec = section(page, "COMMANDS");
	static struct names doc;
	entries(sec, true, &doc);
	ck_assert_msg(doc.n >= 20, "only %d commands found in %s", doc.n, PAGE);
	/* An unknown argument is refused after the command is found and
	 * before it runs: a probe that changes nothing, even for shutdown. */
	for (int i = 0; i < doc.n; i++) {
		json_t *r = jd_call(d, json_pack("{s:s,s:b}", "cmd", doc.v[i],
						 "protodoc_probe", 1));
		ck_assert_msg(strcmp(jd_err(r), "unknown_command") != 0,
			      "%s documents %s, which jobd does not know", PAGE,
			      doc.v[i]);
		ck_assert_str_eq(jd_err(r), "invalid_argument");
		ck_assert_str_eq(jd_err_msg(r),
				 "protodoc_probe: unknown field");
		json_decref(r);
	}
	/* The probe tells an unknown command apart. */
	json_t *r = jd_call(d, json_pack("{s:s,s:b}", "cmd", "protodoc.none",
					 "protodoc_probe", 1));
	ck_assert_str_eq(jd_err(r), "unknown_command");
	json_decref(r);
	free(sec);
	free(page);
}
END_TEST

START_TEST(protodoc_command_table_documented)
{
	static struct names table;
	source_strings("daemon/commands.c", "commands[] = {", "};", &table);
	ck_assert_msg(table.n >= 20, "only %d commands in the table", table.n);
	check_same("COMMANDS", true, &table, "command", true);
}
END_TEST

/* ---- error codes, events, job spec fields ---- */

START_TEST(protodoc_error_codes)
{
	static struct names codes;
	codes.n = 0;
	for (int i = 1; i < JOBD_E_COUNT; i++)
		names_add(&codes, jobd_error_name(i),
			  strlen(jobd_error_name(i)));
	check_same("ERRORS", true, &codes, "error code", true);
}
END_TEST

START_TEST(protodoc_events)
{
	static struct names ev;
	source_strings("daemon/events.c", "kind_names[EVENTS_KIND_COUNT] = {",
		       "};", &ev);
	ck_assert_msg(ev.n >= 7, "only %d events in daemon/events.c", ev.n);
	/* The events of logs with follow, sent by daemon/commands.c. */
	names_add(&ev, "log", 3);
	names_add(&ev, "log.end", 7);
	check_same("EVENTS", true, &ev, "event", true);
}
END_TEST

START_TEST(protodoc_job_spec_fields)
{
	static struct names fields;
	source_strings("daemon/jobspec.c", "known_fields[] = {", "};", &fields);
	ck_assert_msg(fields.n >= 17, "only %d job spec fields", fields.n);
	check_same("JOB SPEC", false, &fields, "job spec field", true);
}
END_TEST

/* ---- objects ---- */

START_TEST(protodoc_objects)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	static struct names keys;

	/* Jobs: one of argv and one of shell, ended, with its env. */
	keys.n = 0;
	int64_t a = jd_submit(d, jd_json("{\"argv\":[\"true\"]}"));
	int64_t s = jd_submit(d, jd_json("{\"shell\":\"exit 0\"}"));
	json_decref(jd_wait(d, a, 20));
	json_decref(jd_wait(d, s, 20));
	int64_t ids[] = {a, s};
	for (int i = 0; i < 2; i++) {
		json_t *r = jd_req(d, "{s:s,s:I,s:b}", "cmd", "get", "job_id",
				   (json_int_t)ids[i], "env", 1);
		add_keys(&keys, json_object_get(jd_ok(r), "job"));
		json_decref(r);
	}
	/* And one with a result, as a listing shows it (result_bytes). */
	int64_t w = jd_submit(
		d, jd_json("{\"shell\":\"echo 1 > \\\"$JOBD_RESULT\\\"\"}"));
	json_decref(jd_wait(d, w, 20));
	json_t *lr = jd_req(d, "{s:s,s:I}", "cmd", "list", "after_id",
			    (json_int_t)(w - 1));
	json_t *rows = json_object_get(jd_ok(lr), "jobs");
	ck_assert_int_eq(jd_num(json_array_get(rows, 0), "result_bytes"), 1);
	add_keys(&keys, json_array_get(rows, 0));
	json_decref(lr);
	check_same("JOB OBJECT", false, &keys, "job object field", true);

	/* Queues: one with a rate. */
	keys.n = 0;
	jd_call_ok(d, jd_json("{\"cmd\":\"queue.create\",\"name\":\"rated\","
			      "\"rate\":{\"limit\":5}}"));
	const char *qs[] = {"default", "rated"};
	for (int i = 0; i < 2; i++) {
		json_t *r = jd_req(d, "{s:s,s:s}", "cmd", "queue.get", "name",
				   qs[i]);
		add_keys(&keys, json_object_get(jd_ok(r), "queue"));
		json_decref(r);
	}
	check_same("QUEUE OBJECT", false, &keys, "queue object field", true);

	/* Producers: one of each type. */
	keys.n = 0;
	jd_call_ok(d,
		   jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			   "{\"name\":\"i\",\"type\":\"interval\","
			   "\"every\":3600,\"job\":{\"argv\":[\"true\"]}}}"));
	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"c\",\"type\":\"cron\","
			      "\"schedule\":\"@yearly\","
			      "\"job\":{\"argv\":[\"true\"]}}}"));
	jd_call_ok(d, jd_json("{\"cmd\":\"producer.create\",\"producer\":"
			      "{\"name\":\"g\",\"type\":\"command\","
			      "\"generator\":{\"argv\":[\"true\"]},"
			      "\"format\":\"json\"}}"));
	json_t *r = jd_req(d, "{s:s}", "cmd", "producer.list");
	json_t *ps = json_object_get(jd_ok(r), "producers");
	ck_assert_int_eq(json_array_size(ps), 3);
	size_t i;
	json_t *p;
	json_array_foreach (ps, i, p) {
		add_keys(&keys, p);
	}
	json_decref(r);
	check_same("PRODUCER OBJECT", false, &keys, "producer object field",
		   true);

	/* Stats. */
	keys.n = 0;
	r = jd_req(d, "{s:s}", "cmd", "stats");
	add_keys(&keys, jd_ok(r));
	json_decref(r);
	/* The cluster's nodes: a field of the PostgreSQL store only. */
	if (!jd_on_postgres())
		names_add(&keys, "nodes", 5);
	check_same("STATS OBJECT", false, &keys, "stats field", true);
}
END_TEST

Suite *
protodoc_suite(void)
{
	Suite *s = suite_create("protodoc");
	TCase *tc = tcase_create("page");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, protodoc_commands_answered);
	tcase_add_test(tc, protodoc_command_table_documented);
	tcase_add_test(tc, protodoc_error_codes);
	tcase_add_test(tc, protodoc_events);
	tcase_add_test(tc, protodoc_job_spec_fields);
	tcase_add_test(tc, protodoc_objects);
	suite_add_tcase(s, tc);
	return s;
}
