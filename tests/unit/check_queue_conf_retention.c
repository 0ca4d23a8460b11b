/*
 * queue_conf_retention_suite: a queue's retention keys (retention,
 * retention_succeeded, retention_failed, retention_cancelled, keep_last)
 * from jobd.conf and from a queue object, their fallback (the state's key,
 * the queue's retention, the daemon's; 0 keeps), the [daemon]
 * prune_interval, and all of them printed and loaded back.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "jobd/proto.h"
#include "queue_conf.h"

Suite *queue_conf_retention_suite(void);

static char tmpdir[PATH_MAX];
static char conf_path[PATH_MAX + 32];
static char printed[PATH_MAX + 32];

static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-retention-XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(conf_path, sizeof(conf_path), "%s/jobd.conf", tmpdir);
	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
}

static void
tmp_teardown(void)
{
	unlink(conf_path);
	unlink(printed);
	rmdir(tmpdir);
}

/* Writes text as the config file and loads it into a fresh c. */
static int
load(struct config *c, const char *text)
{
	FILE *f = fopen(conf_path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	config_init(c);
	diag_clear();
	return config_load(c, conf_path);
}

static const struct queue_conf *
find_queue(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	return NULL;
}

/* text must be refused, the message holding reason. */
static void
refused(const char *text, const char *reason)
{
	struct config c;
	ck_assert_msg(load(&c, text) == -1, "accepted:\n%s", text);
	ck_assert_int_eq(diag_code(), E_INVAL);
	ck_assert_msg(strstr(diag_msg(), reason) != NULL,
		      "message \"%s\" lacks \"%s\"", diag_msg(), reason);
	config_destroy(&c);
}

START_TEST(queue_conf_retention_config)
{
	struct config c, d;
	const struct queue_conf *q;

	ck_assert_int_eq(load(&c, "[daemon]\nretention = 2d\n"
				  "prune_interval = 250ms\n"
				  "[queue a]\nretention = 1h\n"
				  "retention_failed = 0\n"
				  "retention_cancelled = 90s\nkeep_last = 100\n"
				  "[queue b]\n"),
			 0);
	ck_assert_double_eq(c.prune_interval, 0.25);
	q = find_queue(&c, "a");
	ck_assert_double_eq(q->retention, 3600);
	ck_assert_int_eq(q->keep_last, 100);
	ck_assert_double_eq(
		queue_conf_retention_for(q, JOBD_SUCCEEDED, c.retention), 3600);
	ck_assert_double_eq(
		queue_conf_retention_for(q, JOBD_FAILED, c.retention), 0);
	ck_assert_double_eq(
		queue_conf_retention_for(q, JOBD_CANCELLED, c.retention), 90);
	q = find_queue(&c, "b");
	ck_assert_int_eq(q->keep_last, 0);
	ck_assert_double_eq(
		queue_conf_retention_for(q, JOBD_FAILED, c.retention),
		2 * 86400);

	FILE *f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	ck_assert_double_eq(d.prune_interval, 0.25);
	q = find_queue(&d, "a");
	ck_assert_double_eq(q->retention, 3600);
	ck_assert_double_eq(q->retention_by[JOBD_FAILED - JOBD_SUCCEEDED], 0);
	ck_assert_double_eq(q->retention_by[JOBD_CANCELLED - JOBD_SUCCEEDED],
			    90);
	ck_assert_double_eq(q->retention_by[0], -1);
	ck_assert_int_eq(q->keep_last, 100);
	ck_assert_uint_eq(q->set, find_queue(&c, "a")->set);
	ck_assert_uint_eq(find_queue(&d, "b")->set, 0);
	config_destroy(&d);
	config_destroy(&c);

	refused("[queue a]\nretention_failed = soon\n",
		"retention_failed: must be a duration");
	refused("[queue a]\nkeep_last = -3\n", "keep_last: must be an integer");
	refused("[queue a]\nkeep_last = 2000000000\n",
		"keep_last: must be an integer");
	refused("[daemon]\nprune_interval = 10ms\n",
		"prune_interval: must be a duration");
}
END_TEST

START_TEST(queue_conf_retention_fields)
{
	struct queue_conf q;
	json_t *v;

	queue_conf_init(&q, "x");
	/* Not set: the daemon's for every state. */
	ck_assert_double_eq(queue_conf_retention_for(&q, JOBD_FAILED, 7), 7);
	v = json_real(60);
	ck_assert_int_eq(queue_conf_retention_json(&q, "retention", v), 1);
	json_decref(v);
	v = json_integer(0);
	ck_assert_int_eq(
		queue_conf_retention_json(&q, "retention_succeeded", v), 1);
	json_decref(v);
	ck_assert_double_eq(queue_conf_retention_for(&q, JOBD_SUCCEEDED, 7), 0);
	ck_assert_double_eq(queue_conf_retention_for(&q, JOBD_CANCELLED, 7),
			    60);
	/* null unsets. */
	v = json_null();
	ck_assert_int_eq(queue_conf_retention_json(&q, "retention", v), 1);
	json_decref(v);
	ck_assert_double_eq(queue_conf_retention_for(&q, JOBD_CANCELLED, 7), 7);
	v = json_integer(5);
	ck_assert_int_eq(queue_conf_retention_json(&q, "keep_last", v), 1);
	ck_assert_int_eq(q.keep_last, 5);
	/* Not a retention field: left to others. */
	ck_assert_int_eq(queue_conf_retention_json(&q, "capacity", v), 0);
	json_decref(v);
	/* Bad values name their field and change nothing. */
	v = json_real(-1);
	ck_assert_int_eq(queue_conf_retention_json(&q, "retention_failed", v),
			 -1);
	ck_assert_str_eq(diag_msg(), "retention_failed: must be a number of "
				     "seconds >= 0 (0 = keep) or null");
	ck_assert_int_eq(queue_conf_retention_json(&q, "keep_last", v), -1);
	json_decref(v);
	v = json_string("1h");
	ck_assert_int_eq(queue_conf_retention_json(&q, "retention", v), -1);
	json_decref(v);
	ck_assert_double_eq(q.retention_by[JOBD_FAILED - JOBD_SUCCEEDED], -1);
	ck_assert_int_eq(q.keep_last, 5);
	/* Shown as the protocol's fields. */
	json_t *o = json_object();
	queue_conf_retention_to_json(&q, o);
	ck_assert(json_is_null(json_object_get(o, "retention")));
	ck_assert(json_integer_value(json_object_get(o, "keep_last")) == 5);
	ck_assert(json_real_value(json_object_get(o, "retention_succeeded")) ==
		  0);
	json_decref(o);
}
END_TEST

Suite *
queue_conf_retention_suite(void)
{
	Suite *s = suite_create("queue_conf_retention");
	TCase *tc = tcase_create("retention");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, queue_conf_retention_config);
	tcase_add_test(tc, queue_conf_retention_fields);
	suite_add_tcase(s, tc);
	return s;
}
