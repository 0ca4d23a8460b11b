/*
 * render_suite: jobctl's terminal-safe text (jobctl/render.c): control
 * characters, C1 controls, bidirectional overrides and bytes that are not
 * UTF-8 come out escaped; other text, UTF-8 included, comes out as is.
 */
#include <check.h>
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
	{"c1 \xc2\x9b" "31m", "c1 \\u009b31m"},
	{"rtl \xe2\x80\xae" "txt", "rtl \\u202etxt"},
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

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("escape");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, render_text_escapes, 0, N(texts));
	tcase_add_loop_test(tc, render_shell_word_quotes, 0, N(words));
	suite_add_tcase(s, tc);
	return s;
}
