/*
 * Tests of buf, the growable byte buffer: growth, printf, consume, detach,
 * reset, release.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Suite *buf_suite(void);

/* ---- buf ---- */

START_TEST(buf_starts_empty)
{
	struct buf b = BUF_INIT;

	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	buf_release(&b);
	ck_assert_str_eq(buf_str(&b), "");
}
END_TEST

START_TEST(buf_append_grows_and_terminates)
{
	struct buf b = BUF_INIT;
	char chunk[37];

	buf_append(&b, "abc", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_str_eq(buf_str(&b), "abc");
	ck_assert_int_eq(b.data[3], '\0');
	/* Bytes are bytes: an embedded NUL is kept and counted. */
	buf_append(&b, "d\0e", 3);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(memcmp(b.data, "abcd\0e", 7), 0);
	buf_append(&b, "", 0);
	ck_assert_uint_eq(b.len, 6);
	buf_reset(&b);

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (int i = 0; i < 1000; i++) {
		buf_append(&b, chunk, sizeof(chunk));
		ck_assert_uint_ge(b.cap, b.len + 1);
		ck_assert_int_eq(b.data[b.len], '\0');
	}
	ck_assert_uint_eq(b.len, 37000);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] != chunk[i % sizeof(chunk)])
			ck_abort_msg("byte %zu corrupted", i);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(buf_reserve_makes_room)
{
	struct buf b = BUF_INIT;

	buf_reserve(&b, 1000);
	ck_assert_uint_ge(b.cap, 1001);
	ck_assert_uint_eq(b.len, 0);
	buf_puts(&b, "x");
	buf_reserve(&b, 0);
	ck_assert_str_eq(buf_str(&b), "x");
	buf_release(&b);
}
END_TEST

START_TEST(buf_printf_appends)
{
	struct buf b = BUF_INIT;
	char big[3000];

	buf_puts(&b, "id=");
	buf_printf(&b, "%d,%s,%.2f", 42, "q", 1.5);
	ck_assert_str_eq(buf_str(&b), "id=42,q,1.50");
	ck_assert_uint_eq(b.len, strlen("id=42,q,1.50"));
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big);
	ck_assert_uint_eq(b.len, 12 + 2 + sizeof(big) - 1);
	ck_assert_int_eq(b.data[12], '[');
	ck_assert_int_eq(b.data[b.len - 1], ']');
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_release(&b);

	buf_printf(&b, "%s", "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	buf_release(&b);
}
END_TEST

START_TEST(buf_consume_drops_front)
{
	struct buf b = BUF_INIT;

	buf_consume(&b, 0);
	buf_consume(&b, 5);
	ck_assert_uint_eq(b.len, 0);
	buf_puts(&b, "line one\nline two\n");
	buf_consume(&b, 9);
	ck_assert_str_eq(buf_str(&b), "line two\n");
	ck_assert_uint_eq(b.len, 9);
	buf_consume(&b, 0);
	ck_assert_str_eq(buf_str(&b), "line two\n");
	buf_consume(&b, 9);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	buf_puts(&b, "abc");
	buf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(buf_str(&b), "");
	buf_puts(&b, "again");
	ck_assert_str_eq(buf_str(&b), "again");
	buf_release(&b);
}
END_TEST

START_TEST(buf_detach_hands_over)
{
	struct buf b = BUF_INIT;
	char *s;

	buf_printf(&b, "%s-%d", "job", 7);
	s = buf_detach(&b);
	ck_assert_str_eq(s, "job-7");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	free(s);
	/* An empty buffer detaches to an owned "". */
	s = buf_detach(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
	buf_puts(&b, "reused");
	ck_assert_str_eq(buf_str(&b), "reused");
	buf_release(&b);
}
END_TEST

START_TEST(buf_reset_keeps_storage)
{
	struct buf b = BUF_INIT;
	size_t cap;

	buf_puts(&b, "some text that takes room");
	cap = b.cap;
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, cap);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_str_eq(buf_str(&b), "");
	buf_puts(&b, "new");
	ck_assert_str_eq(buf_str(&b), "new");
	buf_release(&b);
	buf_reset(&b); /* on a released buffer: harmless */
	ck_assert_str_eq(buf_str(&b), "");
}
END_TEST

Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc;

	tc = tcase_create("buf");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, buf_starts_empty);
	tcase_add_test(tc, buf_append_grows_and_terminates);
	tcase_add_test(tc, buf_reserve_makes_room);
	tcase_add_test(tc, buf_printf_appends);
	tcase_add_test(tc, buf_consume_drops_front);
	tcase_add_test(tc, buf_detach_hands_over);
	tcase_add_test(tc, buf_reset_keeps_storage);
	suite_add_tcase(s, tc);
	return s;
}
