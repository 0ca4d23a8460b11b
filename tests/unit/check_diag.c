/*
 * Tests of diag, the error record: codes and messages, truncation,
 * prefixes, switching records, wire names, and the record that belongs to
 * each coroutine and survives its yields (on a real loop, loopfix.h).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "loop.h"
#include "loopfix.h"

Suite *diag_suite(void);

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

/* ---- the diag record follows the coroutine ---- */

struct diag_arg {
	int code_a;
	char msg_a[64];
	int code_b;
};

static void
diag_a_f(void *arg)
{
	struct diag_arg *d = arg;

	diag_set(E_IO, "from a");
	await_sleep(0.01);
	d->code_a = diag_code();
	snprintf(d->msg_a, sizeof(d->msg_a), "%s", diag_msg());
}

static void
diag_b_f(void *arg)
{
	struct diag_arg *d = arg;

	CO_EXPECT(diag_code() == 0);
	diag_set(E_DB, "from b");
	await_sleep(0.02);
	d->code_b = diag_code();
}

static void
diag_main_f(void *arg)
{
	struct coro *a = coro_spawn("a", diag_a_f, arg);
	struct coro *b = coro_spawn("b", diag_b_f, arg);

	CO_EXPECT(diag_code() == 0);
	coro_join(a);
	coro_join(b);
	CO_EXPECT(diag_code() == 0);
}

START_TEST(diag_record_is_per_coroutine)
{
	struct diag_arg d;

	memset(&d, 0, sizeof(d));
	diag_set(E_PERM, "outside");
	loopfix_run(diag_main_f, &d);
	ck_assert_int_eq(d.code_a, E_IO);
	ck_assert_str_eq(d.msg_a, "from a");
	ck_assert_int_eq(d.code_b, E_DB);
	/* The scheduler's own record was not touched. */
	ck_assert_int_eq(diag_code(), E_PERM);
	ck_assert_str_eq(diag_msg(), "outside");
}
END_TEST

Suite *
diag_suite(void)
{
	Suite *s = suite_create("diag");
	TCase *tc;

	tc = tcase_create("diag");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, diag_set_records_code_and_message);
	tcase_add_test(tc, diag_long_message_truncated);
	tcase_add_test(tc, diag_prefix_adds_context);
	tcase_add_test(tc, diag_switch_changes_record);
	tcase_add_test(tc, diag_wire_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("coroutine");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, loopfix_setup, loopfix_teardown);
	tcase_add_test(tc, diag_record_is_per_coroutine);
	suite_add_tcase(s, tc);
	return s;
}
