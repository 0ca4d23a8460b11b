/*
 * render_suite: jobctl's text for people (jobctl/render.c).  Terminal-safe
 * text: control characters, C1 controls, bidirectional overrides and bytes
 * that are not UTF-8 come out escaped; other text, UTF-8 included, comes
 * out as is.  Durations, sizes, values (key=value objects), job labels and
 * rates take their forms; tables align and cut; key: value lines order,
 * align and colour.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jobctl/render.h"

Suite *render_suite(void);

static const struct {
	const char *in, *out;
} texts[] = {
	{"plain name", "plain name"},
	{"caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93"},
	{"a\\b", "a\\b"},
	{"\x1b[2J\x1b[31mred", "\\e[2J\\e[31mred"},
	{"two\nlines", "two\\nlines"},
	{"tab\there\r", "tab\\there\\r"},
	{"bell\a del\x7f", "bell\\x07 del\\x7f"},
	{"c1 \xc2\x9b"
	 "31m",
	 "c1 \\u009b31m"},
	{"rtl \xe2\x80\xae"
	 "txt",
	 "rtl \\u202etxt"},
	{"bad \xff\xfe utf8", "bad \\xff\\xfe utf8"},
	{"", ""},
};

START_TEST(render_text_escapes)
{
	char *s = render_text(texts[_i].in);

	ck_assert_str_eq(s, texts[_i].out);
	ck_assert_int_eq(render_needs_escape(texts[_i].in),
			 strcmp(texts[_i].in, texts[_i].out) != 0);
	free(s);
}
END_TEST

static const struct {
	const char *in, *out;
} words[] = {
	{"echo", "echo"},
	{"/usr/bin/env", "/usr/bin/env"},
	{"two words", "'two words'"},
	{"it's", "'it'\\''s'"},
	{"", "''"},
	{"\x1b]0;owned\a", "$'\\e]0;owned\\x07'"},
	{"a\nb 'q' \\", "$'a\\nb \\'q\\' \\\\'"},
};

START_TEST(render_shell_word_quotes)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	render_shell_word(f, words[_i].in);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(buf, words[_i].out);
	free(buf);
}
END_TEST

/* Runs call with f open on a memstream; buf gets what it wrote (the
 * caller frees it). */
#define CAPTURE(buf, call)                               \
	do {                                             \
		size_t len_ = 0;                         \
		FILE *f = open_memstream(&(buf), &len_); \
		ck_assert_ptr_nonnull(f);                \
		call;                                    \
		ck_assert_int_eq(fclose(f), 0);          \
	} while (0)

static const struct {
	double secs;
	const char *out;
} durations[] = {
	{0.45, "450ms"},
	{0, "0ms"},
	{12.34, "12.3s"},
	{59.94, "59.9s"},
	{312, "5m12s"},
	{3723, "1h02m03s"},
	{86399, "23h59m59s"},
	{2 * 86400 + 3 * 3600 + 4 * 60 + 5, "2d03h04m"},
	{-1, "-"},
	{INFINITY, "-"},
};

START_TEST(render_duration_forms)
{
	char buf[32];

	render_duration(durations[_i].secs, buf, sizeof(buf));
	ck_assert_str_eq(buf, durations[_i].out);
}
END_TEST

static const struct {
	double bytes;
	const char *out;
} sizes[] = {
	{0, "0 B"},
	{512, "512 B"},
	{1023, "1023 B"},
	{1024, "1.0 KiB"},
	{12.3 * 1024, "12.3 KiB"},
	{4.0 * 1024 * 1024, "4.0 MiB"},
	{3.5 * 1024 * 1024 * 1024, "3.5 GiB"},
	{2048.0 * 1024 * 1024 * 1024 * 1024, "2048.0 TiB"},
};

START_TEST(render_size_forms)
{
	char buf[32];

	render_size(sizes[_i].bytes, buf, sizeof(buf));
	ck_assert_str_eq(buf, sizes[_i].out);
}
END_TEST

static const struct {
	const char *json, *out;
} values[] = {
	{"null", "-"},
	{"\"plain\"", "plain"},
	{"\"a\\u001b[31mb\"", "a\\e[31mb"},
	{"42", "42"},
	{"-7", "-7"},
	{"1.5", "1.5"},
	{"true", "true"},
	{"false", "false"},
	{"{\"limit\": 10, \"period\": 1.5, \"on\": true}",
	 "limit=10 period=1.5 on=true"},
	{"{\"k\": \"two\\nlines\", \"n\": null}", "k=two\\nlines n=-"},
	{"{\"a\": {\"b\": 1}}", "{\"a\":{\"b\":1}}"},
	{"{}", "{}"},
	{"[1, \"x\\ty\"]", "[1,\"x\\ty\"]"},
};

START_TEST(render_value_forms)
{
	json_t *v = json_loads(values[_i].json, JSON_DECODE_ANY, NULL);
	char *s;

	ck_assert_ptr_nonnull(v);
	s = render_value(v);
	ck_assert_str_eq(s, values[_i].out);
	free(s);
	json_decref(v);
}
END_TEST

START_TEST(render_value_absent_is_dash)
{
	char *s = render_value(NULL);

	ck_assert_str_eq(s, "-");
	free(s);
}
END_TEST

static const struct {
	const char *json, *out;
} labels[] = {
	{"{\"name\": \"nightly\", \"shell\": \"make\"}", "nightly"},
	{"{\"name\": \"\", \"shell\": \"make all\"}", "make all"},
	{"{\"argv\": [\"rsync\", \"-a\", \"/srv/a b\", \"it's\"]}",
	 "rsync -a '/srv/a b' 'it'\\''s'"},
	{"{\"argv\": [\"echo\", \"\\u001b]0;x\\u0007\"]}",
	 "echo $'\\e]0;x\\x07'"},
	{"{\"name\": \"bad\\u202ename\"}", "bad\\u202ename"},
	{"{\"id\": 3}", "-"},
};

START_TEST(render_job_label_forms)
{
	json_t *job = json_loads(labels[_i].json, 0, NULL);
	char *s;

	ck_assert_ptr_nonnull(job);
	s = render_job_label(job);
	ck_assert_str_eq(s, labels[_i].out);
	free(s);
	json_decref(job);
}
END_TEST

static const struct {
	const char *json, *out;
} rates[] = {
	{"{\"limit\": 10, \"period\": 1}", "10/s"},
	{"{\"limit\": 100, \"period\": 60}", "100/m"},
	{"{\"limit\": 10, \"period\": 1, \"burst\": 20}", "10/s burst 20"},
	{"{\"limit\": 10, \"period\": 1, \"burst\": 10}", "10/s"},
	{"null", "-"},
};

START_TEST(render_rate_forms)
{
	json_t *r = json_loads(rates[_i].json, JSON_DECODE_ANY, NULL);
	char *s;

	ck_assert_ptr_nonnull(r);
	s = render_rate(r);
	ck_assert_str_eq(s, rates[_i].out);
	free(s);
	json_decref(r);
}
END_TEST

/* A three-column table: ids right-aligned, the state column coloured. */
static void
fill_table(struct render_table *t)
{
	static const char *const head[] = {"ID", "STATE", "NAME/COMMAND"};
	static const char *const rows[][3] = {
		{"7", "running", "echo hi"},
		{"1234", "failed", "caf\xc3\xa9 au lait with a long tail"},
	};

	render_table_init(t, 3, head, 1u << 0, 1);
	for (size_t r = 0; r < 2; r++) {
		char *cells[3];

		for (size_t i = 0; i < 3; i++)
			cells[i] = strdup(rows[r][i]);
		render_table_add(t, r == 0 ? "\033[36m" : NULL, cells);
	}
}

START_TEST(render_table_aligns)
{
	struct render_table t;
	char *out = NULL;

	fill_table(&t);
	CAPTURE(out, render_table_print(&t, f, 0));
	ck_assert_str_eq(out, "  ID  STATE    NAME/COMMAND\n"
			      "   7  \033[36mrunning\033[0m  echo hi\n"
			      "1234  failed   caf\xc3\xa9 au lait with a long "
			      "tail\n");
	ck_assert_ptr_null(t.cells);
	free(out);
}
END_TEST

START_TEST(render_table_cuts_last_column)
{
	struct render_table t;
	char *out = NULL;

	/* 15 columns go to the first two; of the 10 left, 7 and "...". */
	fill_table(&t);
	CAPTURE(out, render_table_print(&t, f, 25));
	ck_assert_str_eq(out, "  ID  STATE    NAME/CO...\n"
			      "   7  \033[36mrunning\033[0m  echo hi\n"
			      "1234  failed   caf\xc3\xa9 au...\n");
	free(out);
}
END_TEST

START_TEST(render_table_too_narrow_keeps_all)
{
	struct render_table t;
	char *out = NULL;

	/* No room worth cutting to: the cells stay whole. */
	fill_table(&t);
	CAPTURE(out, render_table_print(&t, f, 18));
	ck_assert_ptr_nonnull(strstr(out, "caf\xc3\xa9 au lait with a long "
					  "tail\n"));
	free(out);
}
END_TEST

static const char *const kv_order[] = {"id", "state", "timeout", NULL};

static const char kv_json[] =
	"{\"uid\": 1000, \"state\": \"failed\", \"id\": 9, \"timeout\": 90,"
	" \"duration\": 1.23449999, \"rate\": {\"limit\": 5, \"period\": 30},"
	" \"backoff\": {\"base\": 1, \"factor\": 2, \"max\": 3600,"
	" \"jitter\": 0.1}, \"argv\": [\"a\", \"b\"], \"name\": \"x\\ny\","
	" \"env\": {\"HOME\": \"/root\", \"E\": \"\\u001b\"}}";

START_TEST(render_kv_lines)
{
	json_t *obj = json_loads(kv_json, 0, NULL);
	char *out = NULL;

	ck_assert_ptr_nonnull(obj);
	CAPTURE(out, render_kv(f, obj, kv_order, false));
	ck_assert_str_eq(out, "id:       9\n"
			      "state:    failed\n"
			      "timeout:  90s\n"
			      "uid:      1000\n"
			      "duration: 1.234s\n"
			      "rate:     5/30s\n"
			      "backoff:  1s 2 1h 0.1\n"
			      "argv:     [\"a\",\"b\"]\n"
			      "name:     x\\ny\n"
			      "env:\n"
			      "  HOME=/root\n"
			      "  E=\\e\n");
	free(out);
	json_decref(obj);
}
END_TEST

START_TEST(render_kv_colours_state)
{
	json_t *obj = json_pack("{sssi}", "state", "succeeded", "id", 1);
	char *out = NULL;

	CAPTURE(out, render_kv(f, obj, kv_order, true));
	ck_assert_str_eq(out, "id:    1\n"
			      "state: \033[32msucceeded\033[0m\n");
	free(out);
	json_decref(obj);
}
END_TEST

START_TEST(render_state_colors)
{
	ck_assert_str_eq(render_state_color("succeeded"), "\033[32m");
	ck_assert_str_eq(render_state_color("failed"), "\033[31m");
	ck_assert_str_eq(render_state_color("running"), "\033[36m");
	ck_assert_str_eq(render_state_color("scheduled"), "\033[34m");
	ck_assert_ptr_null(render_state_color("queued"));
	ck_assert_ptr_null(render_state_color("nonsense"));
	ck_assert_ptr_null(render_state_color(NULL));
}
END_TEST

START_TEST(render_width_counts_code_points)
{
	ck_assert_uint_eq(render_width("caf\xc3\xa9"), 4);
	ck_assert_uint_eq(render_width(""), 0);
	ck_assert_uint_eq(render_prefix("caf\xc3\xa9!", 4), 5);
	ck_assert_uint_eq(render_prefix("ab", 5), 2);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("escape");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, render_text_escapes, 0, N(texts));
	tcase_add_loop_test(tc, render_shell_word_quotes, 0, N(words));
	tcase_add_test(tc, render_width_counts_code_points);
	suite_add_tcase(s, tc);

	tc = tcase_create("forms");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, render_duration_forms, 0, N(durations));
	tcase_add_loop_test(tc, render_size_forms, 0, N(sizes));
	tcase_add_loop_test(tc, render_value_forms, 0, N(values));
	tcase_add_test(tc, render_value_absent_is_dash);
	tcase_add_loop_test(tc, render_job_label_forms, 0, N(labels));
	tcase_add_loop_test(tc, render_rate_forms, 0, N(rates));
	tcase_add_test(tc, render_state_colors);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, render_table_aligns);
	tcase_add_test(tc, render_table_cuts_last_column);
	tcase_add_test(tc, render_table_too_narrow_keeps_all);
	tcase_add_test(tc, render_kv_lines);
	tcase_add_test(tc, render_kv_colours_state);
	suite_add_tcase(s, tc);
	return s;
}
