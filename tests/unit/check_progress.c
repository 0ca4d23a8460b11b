/*
 * progress_suite: progress lines are read into the shown object (`42 msg`
 * becomes {"percent":42,"message":"msg"}), every line that is not one is
 * counted bad, and the reader keeps the latest valid line across reads
 * cut anywhere.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

Suite *progress_suite(void);

/* The object of line as compact JSON with sorted keys off, in the
 * object's own order (caller frees), or NULL for a bad line. */
static char *
shown(const char *line)
{
	json_t *o = progress_line_json(line, strlen(line));
	char *s;

	ck_assert_int_eq(o != NULL, progress_line_ok(line, strlen(line)));
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII |
				  JSON_REAL_PRECISION(15));
	json_decref(o);
	return s;
}

static void
assert_shown(const char *line, const char *want)
{
	char *s = shown(line);

	ck_assert_msg(s != NULL, "%s: refused", line);
	ck_assert_msg(strcmp(s, want) == 0, "%s: %s, not %s", line, s, want);
	free(s);
}

static void
assert_bad(const char *line)
{
	char *s = shown(line);

	ck_assert_msg(s == NULL, "%s: taken as %s", line, s);
}

START_TEST(progress_plain_lines)
{
	assert_shown("42", "{\"percent\":42}");
	assert_shown("42 copying files", "{\"percent\":42,\"message\":"
					 "\"copying files\"}");
	assert_shown("  7%\tstep two  \r", "{\"percent\":7,\"message\":"
					   "\"step two\"}");
	assert_shown("42.5% half", "{\"percent\":42.5,\"message\":\"half\"}");
	assert_shown("100", "{\"percent\":100}");
	assert_shown("0 caf\xc3\xa9", "{\"percent\":0,\"message\":"
				      "\"caf\\u00E9\"}");
	assert_bad("101");
	assert_bad("-1");
	assert_bad("copying");
	assert_bad("42copying");
	assert_bad("42.");
	assert_bad("42 bad\xff");
	assert_bad("42 esc\x1b[2J");
	assert_bad("");
}
END_TEST

START_TEST(progress_json_lines)
{
	assert_shown("{\"percent\":42,\"message\":\"copying\",\"current\":84,"
		     "\"total\":200}",
		     "{\"percent\":42,\"message\":\"copying\",\"current\":84,"
		     "\"total\":200}");
	/* The shown order is fixed, whatever the line's. */
	assert_shown(" { \"total\" : 200 , \"message\":\"a\\\"b\" } ",
		     "{\"message\":\"a\\\"b\",\"total\":200}");
	/* A percent from current and total when none is given. */
	assert_shown("{\"current\":84,\"total\":200}",
		     "{\"percent\":42,\"current\":84,\"total\":200}");
	assert_shown("{\"current\":1,\"total\":3}",
		     "{\"percent\":33.33,\"current\":1,\"total\":3}");
	assert_shown("{\"message\":\"\\ud83d\\ude00\"}",
		     "{\"message\":\"\\uD83D\\uDE00\"}");
	assert_shown("{\"percent\":4.2e1}", "{\"percent\":42.0}");
	assert_bad("{}");
	assert_bad("{\"percent\":101}");
	assert_bad("{\"percent\":-1}");
	assert_bad("{\"percent\":\"42\"}");
	assert_bad("{\"percent\":42,\"percent\":43}");
	assert_bad("{\"eta\":3}");
	assert_bad("{\"current\":-1}");
	assert_bad("{\"current\":1234567890123456789}");
	assert_bad("{\"message\":null}");
	assert_bad("{\"message\":\"a\\u0000b\"}");
	assert_bad("{\"message\":\"\\ud83d\"}");
	assert_bad("{\"message\":\"\\x\"}");
	assert_bad("{\"message\":\"a\"} x");
	assert_bad("{\"message\":\"a\",}");
	assert_bad("{\"message\":\"a\"");
	assert_bad("{\"percent\":01}");
	assert_bad("[42]");
}
END_TEST

START_TEST(progress_reader_keeps_latest)
{
	struct progress *p = progress_new();
	const char *text = "10 one\nbad\n\n20 two\n{\"percent\":30}\nnope\n";
	json_t *o;

	/* Fed a byte at a time: lines cut anywhere read the same. */
	for (size_t i = 0; i < strlen(text); i++)
		progress_feed(p, text + i, 1);
	ck_assert_int_eq(p->bad, 2);
	o = progress_json(p);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "percent")), 30);
	json_decref(o);
	/* Fed whole. */
	struct progress *q = progress_new();
	progress_feed(q, text, strlen(text));
	ck_assert_int_eq(q->bad, 2);
	ck_assert_int_eq(q->seq, p->seq);
	o = progress_json(q);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "percent")), 30);
	json_decref(o);
	/* A last line without its newline waits for EOF. */
	progress_feed(q, "77 end", 6);
	o = progress_json(q);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "percent")), 30);
	json_decref(o);
	progress_eof(q);
	o = progress_json(q);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "percent")), 77);
	json_decref(o);
	progress_delete(p);
	progress_delete(q);
}
END_TEST

START_TEST(progress_reader_long_line_bad)
{
	struct progress *p = progress_new();
	size_t n = PROGRESS_MAX_LINE + 10;
	char *big = malloc(n + 1);
	json_t *o;

	memset(big, 'x', n);
	memcpy(big, "50 ", 3);
	big[n] = '\n';
	progress_feed(p, "5 ok\n", 5);
	/* Over the limit, in one read and across reads: each is one bad
	 * line, and the line after it is read. */
	progress_feed(p, big, n + 1);
	progress_feed(p, big, 100);
	progress_feed(p, big + 100, n + 1 - 100);
	progress_feed(p, "6 next\n", 7);
	ck_assert_int_eq(p->bad, 2);
	o = progress_json(p);
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
			 "next");
	json_decref(o);
	/* At the limit exactly: taken. */
	big[PROGRESS_MAX_LINE] = '\n';
	progress_feed(p, big, PROGRESS_MAX_LINE + 1);
	ck_assert_int_eq(p->bad, 2);
	ck_assert_uint_eq(p->last_len, PROGRESS_MAX_LINE);
	free(big);
	progress_delete(p);
}
END_TEST

Suite *
progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("lines");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, progress_plain_lines);
	tcase_add_test(tc, progress_json_lines);
	tcase_add_test(tc, progress_reader_keeps_latest);
	tcase_add_test(tc, progress_reader_long_line_bad);
	suite_add_tcase(s, tc);
	return s;
}
