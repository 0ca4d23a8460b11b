/*
 * Tests of a queue's hooks settings (queue_conf): on_failure, on_success
 * and on_finish checked as job specs (a refusal names the key), kept as
 * the text the store holds and read back, and the config file's key, read
 * by config and printed back by config_print.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "queue_conf.h"

Suite *queue_hooks_suite(void);

static int
set(struct queue_conf *q, int which, const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	ck_assert_msg(v != NULL, "bad test JSON: %s", text);
	int rc = queue_conf_hook_set(q, which, v);
	json_decref(v);
	return rc;
}

START_TEST(queue_hooks_checked)
{
	struct queue_conf q;
	char big[QUEUE_CONF_HOOK_MAX + 64];

	queue_conf_init(&q, "w");
	ck_assert_int_eq(set(&q, QUEUE_HOOK_FAILURE,
			     "{\"shell\":\"true\",\"priority\":3}"),
			 0);
	ck_assert_str_eq(q.hook[QUEUE_HOOK_FAILURE],
			 "{\"priority\":3,\"shell\":\"true\"}");
	ck_assert_int_eq(set(&q, QUEUE_HOOK_SUCCESS, "{\"priority\":3}"), -1);
	ck_assert_msg(strncmp(diag_msg(), "on_success", 10) == 0, "%s",
		      diag_msg());
	ck_assert_int_eq(set(&q, QUEUE_HOOK_FINISH, "[1]"), -1);
	ck_assert_msg(strncmp(diag_msg(), "on_finish: ", 11) == 0, "%s",
		      diag_msg());
	ck_assert_int_eq(diag_code(), E_INVAL);
	/* Too long as JSON: refused, the hook as it was. */
	snprintf(big, sizeof(big), "{\"shell\":\"%0*d\"}", QUEUE_CONF_HOOK_MAX,
		 0);
	ck_assert_int_eq(set(&q, QUEUE_HOOK_FAILURE, big), -1);
	ck_assert_str_eq(q.hook[QUEUE_HOOK_FAILURE],
			 "{\"priority\":3,\"shell\":\"true\"}");
	/* Stored and read back the same, byte for byte. */
	char *text = queue_conf_hooks_text(&q);
	struct queue_conf r;
	queue_conf_init(&r, "w");
	queue_conf_hooks_load(&r, text);
	ck_assert_int_eq(memcmp(q.hook, r.hook, sizeof(q.hook)), 0);
	free(text);
	ck_assert_int_eq(set(&q, QUEUE_HOOK_FAILURE, "null"), 0);
	ck_assert_int_eq(q.hook[QUEUE_HOOK_FAILURE][0], 0);
	ck_assert_ptr_null(queue_conf_hooks_text(&q));
}
END_TEST

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

START_TEST(queue_hooks_config_file)
{
	char dir[] = "/tmp/hooks-unit-XXXXXX", path[64], printed[64];
	struct config c, d;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	snprintf(printed, sizeof(printed), "%s/b.conf", dir);
	ck_assert_msg(
		load_conf(&c, path,
			  "[queue w]\non_failure = {\"argv\": [\"mail\"], "
			  "\"queue\": \"alerts\"}\non_finish =\n"
			  "on_success = {\"shell\": \"a \\u003b b \\u0023 "
			  "c\"}\n") == 0,
		"%s", diag_msg());
	ck_assert_int_eq(c.nqueues, 1);
	const struct queue_conf *q = &c.queues[0];
	ck_assert(q->set & QC_ON_FAILURE);
	ck_assert(q->set & QC_ON_FINISH);
	ck_assert_str_eq(q->hook[QUEUE_HOOK_FAILURE],
			 "{\"argv\":[\"mail\"],\"queue\":\"alerts\"}");
	ck_assert_int_eq(q->hook[QUEUE_HOOK_FINISH][0], 0);
	ck_assert_str_eq(q->hook[QUEUE_HOOK_SUCCESS],
			 "{\"shell\":\"a ; b # c\"}");
	FILE *f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	ck_assert_int_eq(memcmp(c.queues[0].hook, d.queues[0].hook,
				sizeof(c.queues[0].hook)),
			 0);
	config_destroy(&d);
	config_destroy(&c);
	ck_assert_int_eq(
		load_conf(&c, path, "[queue q]\non_success = {\"shell\": 1}\n"),
		-1);
	ck_assert_msg(strstr(diag_msg(), ":2: on_success") != NULL, "%s",
		      diag_msg());
	config_destroy(&c);
	ck_assert_int_eq(load_conf(&c, path, "[queue q]\non_finish = {oops\n"),
			 -1);
	ck_assert_msg(strstr(diag_msg(), ":2: on_finish") != NULL, "%s",
		      diag_msg());
	config_destroy(&c);
	unlink(path);
	unlink(printed);
	rmdir(dir);
}
END_TEST

Suite *
queue_hooks_suite(void)
{
	Suite *s = suite_create("queue_hooks");
	TCase *tc = tcase_create("queue_hooks");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, queue_hooks_checked);
	tcase_add_test(tc, queue_hooks_config_file);
	suite_add_tcase(s, tc);
	return s;
}
