/*
 * Tests of the protocol names of include/jobd/proto.h (client/proto.c):
 * every state, reason and error code, both ways, and out-of-range values.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobd/proto.h"

Suite *proto_suite(void);

#define N(a) (sizeof(a) / sizeof((a)[0]))

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
	"oom",
	"snoozed",
	"snooze_limit",
	"not_needed",
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
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("proto");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, proto_state_names_round_trip);
	tcase_add_test(tc, proto_terminal_states);
	tcase_add_test(tc, proto_reason_names_round_trip);
	tcase_add_test(tc, proto_error_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
