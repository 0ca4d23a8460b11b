/*
 * Tests of labels: the rules (count, keys, values), the stored text and
 * its read back, the merge under a queue's, the filter's match, and the
 * config file's two forms, read by config and printed back.  Every
 * refusal names `labels`.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "labels.h"

Suite *labels_suite(void);

static json_t *
j(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, err.text);
	return v;
}

/* labels_parse of text: 0, or -1 with a message naming labels. */
static int
parse(const char *text, struct labels *l)
{
	json_t *v = j(text);
	int rc = labels_parse(v, l);

	json_decref(v);
	if (rc != 0)
		ck_assert_msg(strncmp(diag_msg(), "labels: ", 8) == 0,
			      "%s: \"%s\"", text, diag_msg());
	return rc;
}

START_TEST(labels_rules)
{
	struct labels l;

	ck_assert_int_eq(parse("null", &l), 0);
	ck_assert(labels_is_empty(&l));
	ck_assert_int_eq(parse("{}", &l), 0);
	ck_assert_int_eq(parse("{\"a.b_c-9\":\"\",\"z\":\"v\"}", &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(parse("[]", &l), -1);
	ck_assert_int_eq(parse("\"k=v\"", &l), -1);
	ck_assert_int_eq(parse("{\"K\":\"v\"}", &l), -1);
	ck_assert_int_eq(parse("{\"\":\"v\"}", &l), -1);
	ck_assert_int_eq(parse("{\"a b\":\"v\"}", &l), -1);
	ck_assert_int_eq(parse("{\"k\":1}", &l), -1);
	ck_assert_int_eq(parse("{\"k\":null}", &l), -1);
	ck_assert_int_eq(parse("{\"k\":\"a\\u0000b\"}", &l), -1);
	/* 64-byte keys and 256-byte values are the longest. */
	char text[1024], k[70], v[300];
	memset(k, 'k', 64);
	k[64] = '\0';
	memset(v, 'v', 256);
	v[256] = '\0';
	snprintf(text, sizeof(text), "{\"%s\":\"%s\"}", k, v);
	ck_assert_int_eq(parse(text, &l), 0);
	snprintf(text, sizeof(text), "{\"%sk\":\"%s\"}", k, v);
	ck_assert_int_eq(parse(text, &l), -1);
	snprintf(text, sizeof(text), "{\"%s\":\"%sv\"}", k, v);
	ck_assert_int_eq(parse(text, &l), -1);
	/* 16 pairs, not 17. */
	int n = snprintf(text, sizeof(text), "{");
	for (int i = 0; i < 17; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "%s\"k%02d\":\"v\"", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - (size_t)n, "}");
	ck_assert_int_eq(parse(text, &l), -1);
	char *cut = strstr(text, ",\"k16\"");
	cut[0] = '}';
	cut[1] = '\0';
	ck_assert_int_eq(parse(text, &l), 0);
	ck_assert_int_eq(l.n, 16);
}
END_TEST

/* The same pairs in any order make the same bytes (a queue's settings
 * are compared with memcmp) and the same stored text, read back. */
START_TEST(labels_canonical)
{
	struct labels a, b, c;

	ck_assert_int_eq(parse("{\"b\":\"2\",\"a\":\"1\",\"c\":\"3\"}", &a), 0);
	ck_assert_int_eq(parse("{\"c\":\"3\",\"a\":\"1\",\"b\":\"2\"}", &b), 0);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	char *t = labels_to_text(&a);
	ck_assert_str_eq(t, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}");
	labels_load(t, &c);
	ck_assert_int_eq(memcmp(&a, &c, sizeof(a)), 0);
	free(t);
	struct labels e;
	ck_assert_int_eq(parse("{}", &e), 0);
	ck_assert_ptr_null(labels_to_text(&e));
	labels_load(NULL, &c);
	ck_assert(labels_is_empty(&c));
	labels_load("not json", &c);
	ck_assert(labels_is_empty(&c));
}
END_TEST

/* A pair's text is in a stored object's text exactly when the object
 * holds the pair, whatever its values hold (SQLite's listing relies on
 * it). */
START_TEST(labels_pair_text_exact)
{
	struct labels stored, f;

	ck_assert_int_eq(parse("{\"a\":\"x\\\"k\\\":\\\"v\\\"\","
			       "\"kk\":\"v\",\"b\":\"v\\\\\",\"q\":\"\\\"\"}",
			       &stored),
			 0);
	char *t = labels_to_text(&stored);
	static const char *const no[] = {
		"{\"k\":\"v\"}", "{\"b\":\"v\"}", "{\"kk\":\"\"}",
		"{\"a\":\"x\"}", "{\"q\":\"\"}",
	};
	static const char *const yes[] = {
		"{\"kk\":\"v\"}",
		"{\"b\":\"v\\\\\"}",
		"{\"q\":\"\\\"\"}",
		"{\"a\":\"x\\\"k\\\":\\\"v\\\"\"}",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		ck_assert_int_eq(parse(no[i], &f), 0);
		char *p = labels_pair_text(&f, 0);
		ck_assert_msg(strstr(t, p) == NULL, "%s found in %s", p, t);
		free(p);
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		ck_assert_int_eq(parse(yes[i], &f), 0);
		char *p = labels_pair_text(&f, 0);
		ck_assert_msg(strstr(t, p) != NULL, "%s not in %s", p, t);
		free(p);
	}
	free(t);
}
END_TEST

START_TEST(labels_merge_and_match)
{
	struct labels q, f;
	json_t *own = j("{\"tier\":\"high\",\"batch\":\"7\"}"), *out;

	ck_assert_int_eq(parse("{\"team\":\"ml\",\"tier\":\"low\"}", &q), 0);
	ck_assert_int_eq(labels_merge(own, &q, &out), 0);
	char *t = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(t, "{\"batch\":\"7\",\"team\":\"ml\","
			    "\"tier\":\"high\"}");
	free(t);
	/* Every pair of the filter, with the same value. */
	ck_assert_int_eq(parse("{\"team\":\"ml\",\"tier\":\"high\"}", &f), 0);
	ck_assert(labels_match(out, &f));
	ck_assert_int_eq(parse("{\"team\":\"ml\",\"tier\":\"low\"}", &f), 0);
	ck_assert(!labels_match(out, &f));
	ck_assert_int_eq(parse("{\"other\":\"x\"}", &f), 0);
	ck_assert(!labels_match(out, &f));
	ck_assert(!labels_match(NULL, &f));
	ck_assert_int_eq(parse("{}", &f), 0);
	ck_assert(labels_match(out, &f));
	ck_assert(labels_match(NULL, &f));
	json_decref(out);
	/* None at all: NULL. */
	struct labels none;
	ck_assert_int_eq(parse("{}", &none), 0);
	ck_assert_int_eq(labels_merge(NULL, &none, &out), 0);
	ck_assert_ptr_null(out);
	json_decref(own);
	/* Together more than 16: refused. */
	char text[512];
	int n = snprintf(text, sizeof(text), "{");
	for (int i = 0; i < 9; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "%s\"q%d\":\"v\"", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - (size_t)n, "}");
	ck_assert_int_eq(parse(text, &q), 0);
	own = j("{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":\"1\",\"e\":\"1\","
		"\"f\":\"1\",\"g\":\"1\",\"h\":\"1\"}");
	ck_assert_int_eq(labels_merge(own, &q, &out), -1);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert(strncmp(diag_msg(), "labels: ", 8) == 0);
	json_decref(own);
}
END_TEST

START_TEST(labels_config_forms)
{
	struct labels l, want;

	ck_assert_int_eq(labels_config(" team=ml , tier = low,x=", &l), 0);
	ck_assert_int_eq(
		parse("{\"team\":\"ml\",\"tier\":\"low\",\"x\":\"\"}", &want),
		0);
	ck_assert_int_eq(memcmp(&l, &want, sizeof(l)), 0);
	ck_assert_int_eq(labels_config("{\"note\": \"a, b=c\"}", &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.pair[0].value, "a, b=c");
	ck_assert_int_eq(labels_config("", &l), 0);
	ck_assert(labels_is_empty(&l));
	ck_assert_int_eq(labels_config("team", &l), -1);
	ck_assert_int_eq(labels_config("=v", &l), -1);
	ck_assert_int_eq(labels_config("Team=v", &l), -1);
	ck_assert_int_eq(labels_config("{\"k\":1}", &l), -1);
	ck_assert_int_eq(labels_config("{not json", &l), -1);
	ck_assert(strncmp(diag_msg(), "labels: ", 8) == 0);
}
END_TEST

/* Loads text as a config file at path into c. */
static int
load_conf(struct config *c, const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(c);
	diag_clear();
	return config_load(c, path);
}

static const struct queue_conf *
queue_of(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	ck_abort_msg("no queue %s", name);
	return NULL;
}

/* jobd.conf's [queue] labels key: both forms, printed as JSON by
 * config_print and loaded back the same; a bad one names its line. */
START_TEST(labels_config_file)
{
	char dir[] = "/tmp/labels-unit-XXXXXX", path[64], printed[64];
	struct config c, d;
	const struct queue_conf *q;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	snprintf(printed, sizeof(printed), "%s/b.conf", dir);
	ck_assert_msg(load_conf(&c, path,
				"[queue l]\nlabels = team=ml, tier = low\n"
				"[queue j]\nlabels = {\"note\": \"a, b\"}\n") ==
			      0,
		      "%s", diag_msg());
	q = queue_of(&c, "l");
	ck_assert(q->set & QC_LABELS);
	ck_assert_int_eq(q->labels.n, 2);
	ck_assert_str_eq(q->labels.pair[1].key, "tier");
	ck_assert_str_eq(q->labels.pair[1].value, "low");
	FILE *f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "j" : "l";
		ck_assert_int_eq(memcmp(&queue_of(&c, name)->labels,
					&queue_of(&d, name)->labels,
					sizeof(q->labels)),
				 0);
	}
	config_destroy(&d);
	config_destroy(&c);
	ck_assert_int_eq(load_conf(&c, path, "[queue q]\nlabels = Team=x\n"),
			 -1);
	ck_assert_msg(strstr(diag_msg(), ":2: labels: ") != NULL, "%s",
		      diag_msg());
	config_destroy(&c);
	unlink(path);
	unlink(printed);
	rmdir(dir);
}
END_TEST

Suite *
labels_suite(void)
{
	Suite *s = suite_create("labels");
	TCase *tc = tcase_create("labels");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, labels_rules);
	tcase_add_test(tc, labels_canonical);
	tcase_add_test(tc, labels_pair_text_exact);
	tcase_add_test(tc, labels_merge_and_match);
	tcase_add_test(tc, labels_config_forms);
	tcase_add_test(tc, labels_config_file);
	suite_add_tcase(s, tc);
	return s;
}
