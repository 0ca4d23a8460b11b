/*
 * Tests of the small helpers under everything: buf (growth, printf,
 * consume, detach, reset, release), diag (the error record, prefixes,
 * switching, wire names) and the protocol names of include/jobd/proto.h
 * (every state, reason and error code, both ways, and out-of-range values).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "jobd/proto.h"

Suite *buf_suite(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---- diag ---- */

START_TEST(diag_set_records_code_and_message)
{
	diag_clear();
	ck_assert_int_eq(diag_code(), 0);
	ck_assert_str_eq(diag_msg(), "");
	ck_assert_int_eq(diag_set(E_NOTFOUND, "no job %d", 99), -1);
	ck_assert_int_eq(diag_code(), E_NOTFOUND);
	ck_assert_str_eq(diag_msg(), "no job 99");
	ck_assert_ptr_eq(diag_get()->msg, diag_msg());
	ck_assert_int_eq(diag_get()->code, E_NOTFOUND);
	ck_assert_int_eq(diag_set(E_DB, "second"), -1);
	ck_assert_int_eq(diag_code(), E_DB);
	ck_assert_str_eq(diag_msg(), "second");
	diag_clear();
	ck_assert_int_eq(diag_code(), 0);
	ck_assert_str_eq(diag_msg(), "");
}
END_TEST

START_TEST(diag_long_message_truncated)
{
	char big[2 * DIAG_MSG_MAX];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(diag_set(E_INVAL, "%s", big), -1);
	ck_assert_uint_eq(strlen(diag_msg()), DIAG_MSG_MAX - 1);
	diag_prefix("ctx");
	ck_assert_uint_eq(strlen(diag_msg()), DIAG_MSG_MAX - 1);
	ck_assert_int_eq(strncmp(diag_msg(), "ctx: mmm", 8), 0);
	diag_clear();
}
END_TEST

START_TEST(diag_prefix_adds_context)
{
	diag_set(E_IO, "permission denied");
	diag_prefix("open /x");
	ck_assert_str_eq(diag_msg(), "open /x: permission denied");
	diag_prefix("store");
	ck_assert_str_eq(diag_msg(), "store: open /x: permission denied");
	ck_assert_int_eq(diag_code(), E_IO);
	diag_clear();
}
END_TEST

START_TEST(diag_switch_changes_record)
{
	struct diag mine = {0, ""};
	struct diag *prev;

	diag_set(E_PERM, "outer");
	prev = diag_switch(&mine);
	ck_assert_ptr_eq(diag_get(), &mine);
	ck_assert_int_eq(diag_code(), 0);
	diag_set(E_BUSY, "inner");
	ck_assert_int_eq(mine.code, E_BUSY);
	ck_assert_str_eq(mine.msg, "inner");
	ck_assert_ptr_eq(diag_switch(prev), &mine);
	ck_assert_int_eq(diag_code(), E_PERM);
	ck_assert_str_eq(diag_msg(), "outer");
	/* NULL is the process-wide record. */
	diag_switch(&mine);
	diag_switch(NULL);
	ck_assert_ptr_eq(diag_get(), prev);
	diag_clear();
}
END_TEST

START_TEST(diag_wire_names)
{
	for (int c = 1; c < JOBD_E_COUNT; c++)
		ck_assert_str_eq(diag_wire_name(c), jobd_error_name(c));
	ck_assert_str_eq(diag_wire_name(E_NOTFOUND), "not_found");
	ck_assert_str_eq(diag_wire_name(E_TIMEOUT), "timeout");
	ck_assert_str_eq(diag_wire_name(E_INTERNAL), "internal");
	ck_assert_str_eq(diag_wire_name(E_CANCELLED), "internal");
	ck_assert_str_eq(diag_wire_name(E_IO), "internal");
	ck_assert_str_eq(diag_wire_name(E_DB), "internal");
	ck_assert_str_eq(diag_wire_name(E_CONFLICT), "internal");
	ck_assert_str_eq(diag_wire_name(0), "internal");
	ck_assert_str_eq(diag_wire_name(-5), "internal");
	ck_assert_str_eq(diag_wire_name(10000), "internal");
}
END_TEST

/* ---- protocol names ---- */

static const char *const spec_states[] = {
	"waiting",   "scheduled", "queued",    "running",
	"succeeded", "failed",	  "cancelled",
};

static const char *const spec_reasons[] = {
	NULL,
	"exit",
	"signal",
	"timeout",
	"spawn_error",
	"cancelled",
	"dependency_failed",
	"recovery_limit",
	"recovered",
	"interrupted",
};

static const char *const spec_errors[] = {
	NULL,
	"bad_request",
	"unknown_command",
	"invalid_argument",
	"not_found",
	"invalid_state",
	"unknown_queue",
	"queue_full",
	"permission_denied",
	"shutting_down",
	"too_large",
	"timeout",
	"busy",
	"internal",
};

START_TEST(proto_state_names_round_trip)
{
	ck_assert_uint_eq(N(spec_states), JOBD_STATE_COUNT);
	for (int s = 0; s < JOBD_STATE_COUNT; s++) {
		ck_assert_str_eq(jobd_state_name(s), spec_states[s]);
		ck_assert_int_eq(jobd_state_parse(spec_states[s]), s);
	}
	ck_assert_int_eq(JOBD_QUEUED, 2);
	ck_assert_int_eq(JOBD_CANCELLED, 6);
	ck_assert_ptr_null(jobd_state_name(-1));
	ck_assert_ptr_null(jobd_state_name(JOBD_STATE_COUNT));
	ck_assert_ptr_null(jobd_state_name(1000));
	ck_assert_int_eq(jobd_state_parse("Queued"), -1);
	ck_assert_int_eq(jobd_state_parse(""), -1);
	ck_assert_int_eq(jobd_state_parse("queued "), -1);
	ck_assert_int_eq(jobd_state_parse(NULL), -1);
}
END_TEST

START_TEST(proto_terminal_states)
{
	for (int s = 0; s < JOBD_STATE_COUNT; s++) {
		int want = s == JOBD_SUCCEEDED || s == JOBD_FAILED ||
			   s == JOBD_CANCELLED;
		ck_assert_int_eq(jobd_state_is_terminal(s) != 0, want);
	}
	ck_assert(!jobd_state_is_terminal(-1));
	ck_assert(!jobd_state_is_terminal(JOBD_STATE_COUNT));
}
END_TEST

START_TEST(proto_reason_names_round_trip)
{
	ck_assert_uint_eq(N(spec_reasons), JOBD_REASON_COUNT);
	ck_assert_ptr_null(jobd_reason_name(JOBD_REASON_NONE));
	for (int r = 1; r < JOBD_REASON_COUNT; r++) {
		ck_assert_str_eq(jobd_reason_name(r), spec_reasons[r]);
		ck_assert_int_eq(jobd_reason_parse(spec_reasons[r]), r);
	}
	ck_assert_int_eq(jobd_reason_parse("dependency_failed"),
			 JOBD_REASON_DEPENDENCY_FAILED);
	ck_assert_ptr_null(jobd_reason_name(-1));
	ck_assert_ptr_null(jobd_reason_name(JOBD_REASON_COUNT));
	ck_assert_int_eq(jobd_reason_parse("none"), -1);
	ck_assert_int_eq(jobd_reason_parse(""), -1);
	ck_assert_int_eq(jobd_reason_parse(NULL), -1);
}
END_TEST

START_TEST(proto_error_names_round_trip)
{
	ck_assert_uint_eq(N(spec_errors), JOBD_E_COUNT);
	ck_assert_ptr_null(jobd_error_name(JOBD_E_NONE));
	for (int e = 1; e < JOBD_E_COUNT; e++) {
		ck_assert_str_eq(jobd_error_name(e), spec_errors[e]);
		ck_assert_int_eq(jobd_error_parse(spec_errors[e]), e);
	}
	ck_assert_str_eq(jobd_error_name(-1), "internal");
	ck_assert_str_eq(jobd_error_name(JOBD_E_COUNT), "internal");
	ck_assert_str_eq(jobd_error_name(E_CONFLICT), "internal");
	ck_assert_int_eq(jobd_error_parse("no_such_error"), -1);
	ck_assert_int_eq(jobd_error_parse(""), -1);
	ck_assert_int_eq(jobd_error_parse(NULL), -1);
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

	tc = tcase_create("diag");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, diag_set_records_code_and_message);
	tcase_add_test(tc, diag_long_message_truncated);
	tcase_add_test(tc, diag_prefix_adds_context);
	tcase_add_test(tc, diag_switch_changes_record);
	tcase_add_test(tc, diag_wire_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("proto");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, proto_state_names_round_trip);
	tcase_add_test(tc, proto_terminal_states);
	tcase_add_test(tc, proto_reason_names_round_trip);
	tcase_add_test(tc, proto_error_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
