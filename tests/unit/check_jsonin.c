/*
 * jsonin_suite: the depth scan counts brackets outside strings only, and
 * jsonin_loadb refuses what nests too deep before jansson recurses.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jsonin.h"

Suite *jsonin_suite(void);

static char *
nested(int n)
{
	char *s = malloc((size_t)n * 2 + 1);
	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[n * 2] = '\0';
	return s;
}

START_TEST(jsonin_depth_counts)
{
	const char *flat = "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":[]}}";
	ck_assert(jsonin_depth_ok(flat, strlen(flat), 3));
	ck_assert(!jsonin_depth_ok(flat, strlen(flat), 2));
	ck_assert(jsonin_depth_ok("", 0, 0));
	ck_assert(jsonin_depth_ok("1", 1, 0));
	ck_assert(!jsonin_depth_ok("[]", 2, 0));
}
END_TEST

START_TEST(jsonin_depth_skips_strings)
{
	/* Brackets and escaped quotes inside strings do not nest. */
	const char *s = "{\"k\":\"[[[[{{{{\\\"[[[[\"}";
	ck_assert(jsonin_depth_ok(s, strlen(s), 1));
	/* An escape at the very end does not read past the text. */
	const char *t = "[\"\\";
	ck_assert(jsonin_depth_ok(t, strlen(t), 1));
}
END_TEST

START_TEST(jsonin_load_refuses_deep)
{
	json_error_t err;
	char *ok = nested(JSONIN_MAX_DEPTH);
	json_t *v = jsonin_loadb(ok, strlen(ok), 0, &err);
	ck_assert_ptr_nonnull(v);
	json_decref(v);
	free(ok);

	char *deep = nested(100000);
	v = jsonin_loadb(deep, strlen(deep), 0, &err);
	ck_assert_ptr_null(v);
	ck_assert_msg(strstr(err.text, "nested too deeply") != NULL, "%s",
		      err.text);
	free(deep);

	/* Text that is not JSON still gets jansson's own error. */
	v = jsonin_loadb("{", 1, 0, &err);
	ck_assert_ptr_null(v);
	ck_assert(strstr(err.text, "nested") == NULL);
}
END_TEST

Suite *
jsonin_suite(void)
{
	Suite *s = suite_create("jsonin");
	TCase *tc = tcase_create("depth");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, jsonin_depth_counts);
	tcase_add_test(tc, jsonin_depth_skips_strings);
	tcase_add_test(tc, jsonin_load_refuses_deep);
	suite_add_tcase(s, tc);
	return s;
}
