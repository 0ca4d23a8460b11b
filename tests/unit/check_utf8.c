/*
 * Tests of utf8: the cut point of a read window (complete and cut
 * sequences of every length, stray continuation bytes) and the repair of
 * invalid UTF-8 (valid text kept byte for byte, NUL kept, every kind of
 * ill-formed sequence replaced by U+FFFD one byte at a time, idempotence,
 * the JSON string).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

Suite *utf8_suite(void);

#define FFFD "\xEF\xBF\xBD"

/* Repairs p[0..n) and checks the result is want[0..wn). */
static void
expect_repair(const char *p, size_t n, const char *want, size_t wn)
{
	struct buf b = BUF_INIT;

	utf8_repair(&b, p, n);
	ck_assert_uint_eq(b.len, wn);
	ck_assert_msg(wn == 0 || memcmp(b.data, want, wn) == 0,
		      "repair of %zu bytes differs", n);
	buf_release(&b);
}

#define REPAIR(in, out) expect_repair(in, sizeof(in) - 1, out, sizeof(out) - 1)

/* ---- utf8_whole ---- */

START_TEST(utf8_whole_keeps_complete_text)
{
	ck_assert_uint_eq(utf8_whole("", 0), 0);
	ck_assert_uint_eq(utf8_whole("abc", 3), 3);
	ck_assert_uint_eq(utf8_whole("a\xC3\xA9", 3), 3);
	ck_assert_uint_eq(utf8_whole("a\xE2\x82\xAC", 4), 4);
	ck_assert_uint_eq(utf8_whole("a\xF0\x9F\x98\x80", 5), 5);
}
END_TEST

START_TEST(utf8_whole_holds_back_cut_sequence)
{
	/* Each cut of "a€😀" leaves the partial character for later. */
	const char *s = "a\xE2\x82\xAC\xF0\x9F\x98\x80";
	const size_t want[] = {0, 1, 1, 1, 4, 4, 4, 4, 8};

	for (size_t m = 0; m <= 8; m++)
		ck_assert_uint_eq(utf8_whole(s, m), want[m]);
}
END_TEST

START_TEST(utf8_whole_holds_back_at_most_three)
{
	/* Only continuation bytes at the end: nothing to wait for. */
	ck_assert_uint_eq(utf8_whole("a\x80\x80\x80\x80", 5), 5);
	ck_assert_uint_eq(utf8_whole("\x80", 1), 1);
	/* A lead byte that can never be valid still waits for its
	 * continuation bytes; the repair deals with it later. */
	ck_assert_uint_eq(utf8_whole("ab\xFF", 3), 2);
	ck_assert_uint_eq(utf8_whole("ab\xF8\x80\x80", 5), 2);
}
END_TEST

/* ---- utf8_repair ---- */

START_TEST(utf8_repair_keeps_valid_text)
{
	REPAIR("plain ascii", "plain ascii");
	REPAIR("\xC2\x80\xDF\xBF", "\xC2\x80\xDF\xBF");
	REPAIR("\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF",
	       "\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF");
	REPAIR("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
	       "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
	REPAIR("a\0b", "a\0b");
	REPAIR("", "");
}
END_TEST

START_TEST(utf8_repair_replaces_each_bad_byte)
{
	REPAIR("\x80", FFFD);
	REPAIR("a\xBF"
	       "b",
	       "a" FFFD "b");
	REPAIR("\xFF\xFE", FFFD FFFD);
	REPAIR("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD);
	/* Truncated: the lead goes, the next character stays. */
	REPAIR("\xE2\x82"
	       "a",
	       FFFD FFFD "a");
	REPAIR("\xC3", FFFD);
	REPAIR("\xF0\x9F\x98", FFFD FFFD FFFD);
}
END_TEST

START_TEST(utf8_repair_refuses_overlong_surrogate_and_too_high)
{
	REPAIR("\xC0\xAF", FFFD FFFD);
	REPAIR("\xC1\xBF", FFFD FFFD);
	REPAIR("\xE0\x80\xAF", FFFD FFFD FFFD);
	REPAIR("\xED\xA0\x80", FFFD FFFD FFFD);
	REPAIR("\xED\xBF\xBF", FFFD FFFD FFFD);
	REPAIR("\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD);
	REPAIR("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD);
}
END_TEST

START_TEST(utf8_repair_is_idempotent)
{
	const char in[] = "x\xC3\x28\xE2\x82\xAC\xF0\x28\x8C\xBC\xFFy";
	struct buf once = BUF_INIT, twice = BUF_INIT;

	utf8_repair(&once, in, sizeof(in) - 1);
	ck_assert_uint_ge(once.len, sizeof(in) - 1);
	ck_assert_uint_le(once.len, 3 * (sizeof(in) - 1));
	utf8_repair(&twice, once.data, once.len);
	ck_assert_uint_eq(twice.len, once.len);
	ck_assert_int_eq(memcmp(once.data, twice.data, once.len), 0);
	buf_release(&once);
	buf_release(&twice);
}
END_TEST

START_TEST(utf8_repair_appends)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "log: ");
	utf8_repair(&b, "\xFFok", 3);
	ck_assert_str_eq(buf_str(&b), "log: " FFFD "ok");
	buf_release(&b);
}
END_TEST

START_TEST(utf8_string_is_a_json_string)
{
	json_t *s = utf8_string("a\xFF\0b", 4);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(json_string_length(s), 6);
	ck_assert_int_eq(memcmp(json_string_value(s), "a" FFFD "\0b", 6), 0);
	json_decref(s);
	s = utf8_string(NULL, 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(json_string_value(s), "");
	json_decref(s);
}
END_TEST

Suite *
utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc;

	tc = tcase_create("whole");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, utf8_whole_keeps_complete_text);
	tcase_add_test(tc, utf8_whole_holds_back_cut_sequence);
	tcase_add_test(tc, utf8_whole_holds_back_at_most_three);
	suite_add_tcase(s, tc);

	tc = tcase_create("repair");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, utf8_repair_keeps_valid_text);
	tcase_add_test(tc, utf8_repair_replaces_each_bad_byte);
	tcase_add_test(tc, utf8_repair_refuses_overlong_surrogate_and_too_high);
	tcase_add_test(tc, utf8_repair_is_idempotent);
	tcase_add_test(tc, utf8_repair_appends);
	tcase_add_test(tc, utf8_string_is_a_json_string);
	suite_add_tcase(s, tc);
	return s;
}
