/*
 * Tests of talkback on real files in a temp state directory: an
 * attempt's files made empty and private, a result read as compact JSON,
 * a blank file that is no result, one too large or not JSON that is an
 * error, a symbolic link or a second link refused and left alone, the
 * snooze delay read or ignored, the files removed, and a dead jobd's
 * leftovers swept at start.  And the config keys: a queue's snooze_exit,
 * snooze and max_snoozes, and max_result_bytes.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "log.h"
#include "queue_conf.h"
#include "talkback.h"

Suite *talkback_suite(void);

static char tmpdir[PATH_MAX];

static void
rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX + 300];

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) != 0)
			rm_tree(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	log_set_level(LOG_LEVEL_ERROR);
	diag_clear();
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-talkback-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_msg(talkback_init(tmpdir) == 0, "%s", diag_msg());
}

static void
teardown(void)
{
	talkback_shutdown();
	rm_tree(tmpdir);
}

/* The path an env entry "NAME=PATH" names. */
static const char *
path_of(const char *env)
{
	const char *eq = strchr(env, '=');
	ck_assert_ptr_nonnull(eq);
	return eq + 1;
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Opens attempt 1 of job 7, writes result and snooze (NULL: nothing)
 * and collects with max bytes into s. */
static void
round_trip(const char *result, const char *snooze, int64_t max,
	   struct talkback_said *s)
{
	struct talkback t;
	char rp[PATH_MAX], sp[PATH_MAX];

	ck_assert_int_eq(talkback_open(&t, 7, 1, getuid()), 0);
	snprintf(rp, sizeof(rp), "%s", path_of(t.result_env));
	snprintf(sp, sizeof(sp), "%s", path_of(t.snooze_env));
	if (result != NULL)
		put(rp, result);
	if (snooze != NULL)
		put(sp, snooze);
	talkback_collect(&t, max, s);
	ck_assert_int_ne(access(rp, F_OK), 0);
	ck_assert_int_ne(access(sp, F_OK), 0);
}

START_TEST(talkback_files_made_private_and_empty)
{
	struct talkback t;
	struct stat st;
	char talk[PATH_MAX + 32];

	ck_assert_int_eq(talkback_open(&t, 12, 3, getuid()), 0);
	ck_assert_str_eq(t.name, "12.3");
	snprintf(talk, sizeof(talk), "%s/talk/12.3.result", tmpdir);
	ck_assert_str_eq(path_of(t.result_env), talk);
	ck_assert(strncmp(t.result_env, "JOBD_RESULT=", 12) == 0);
	ck_assert(strncmp(t.snooze_env, "JOBD_SNOOZE=", 12) == 0);
	ck_assert_int_eq(lstat(path_of(t.result_env), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(lstat(path_of(t.snooze_env), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	snprintf(talk, sizeof(talk), "%s/talk", tmpdir);
	ck_assert_int_eq(lstat(talk, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, geteuid() == 0 ? 0711 : 0700);
	/* A leftover of the same attempt is replaced by an empty file. */
	put(path_of(t.result_env), "{}");
	struct talkback again;
	ck_assert_int_eq(talkback_open(&again, 12, 3, getuid()), 0);
	ck_assert_int_eq(lstat(path_of(again.result_env), &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	talkback_discard(&again);
	ck_assert_int_ne(access(path_of(t.result_env), F_OK), 0);
	talkback_discard(&t);
}
END_TEST

START_TEST(talkback_result_kept_or_refused)
{
	struct talkback_said s;

	round_trip(" {\"a\": [1, 2.5, \"x\"]}\n", NULL, 64, &s);
	ck_assert_str_eq(s.result, "{\"a\":[1,2.5,\"x\"]}");
	ck_assert_str_eq(s.result_error, "");
	ck_assert(!s.snooze_given);
	free(s.result);
	round_trip("\"text\"", NULL, 64, &s);
	ck_assert_str_eq(s.result, "\"text\"");
	free(s.result);
	/* Nothing, or blanks: no result and no error. */
	round_trip(NULL, NULL, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error, "");
	round_trip(" \n\t", NULL, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error, "");
	/* max bytes pass, one more does not. */
	round_trip("\"12345678\"", NULL, 10, &s);
	ck_assert_str_eq(s.result, "\"12345678\"");
	free(s.result);
	round_trip("\"123456789\"", NULL, 10, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error,
			 "too large: more than 10 bytes (max_result_bytes)");
	round_trip("{\"a\": ", NULL, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert(strncmp(s.result_error, "not JSON: ", 10) == 0);
	round_trip("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]"
		   "]]]]]]]]]",
		   NULL, 256, &s);
	ck_assert_ptr_null(s.result);
	ck_assert(strncmp(s.result_error, "not JSON: ", 10) == 0);
}
END_TEST

START_TEST(talkback_links_not_followed)
{
	struct talkback t;
	struct talkback_said s;
	char target[PATH_MAX + 16];

	snprintf(target, sizeof(target), "%s/target", tmpdir);
	put(target, "{\"secret\": 1}");
	ck_assert_int_eq(talkback_open(&t, 1, 1, getuid()), 0);
	ck_assert_int_eq(unlink(path_of(t.result_env)), 0);
	ck_assert_int_eq(symlink(target, path_of(t.result_env)), 0);
	talkback_collect(&t, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error, "not a regular file");
	ck_assert_int_eq(talkback_open(&t, 1, 2, getuid()), 0);
	ck_assert_int_eq(unlink(path_of(t.result_env)), 0);
	ck_assert_int_eq(link(target, path_of(t.result_env)), 0);
	talkback_collect(&t, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error, "not a regular file");
	/* A FIFO is not waited on. */
	ck_assert_int_eq(talkback_open(&t, 1, 3, getuid()), 0);
	ck_assert_int_eq(unlink(path_of(t.result_env)), 0);
	ck_assert_int_eq(mkfifo(path_of(t.result_env), 0600), 0);
	talkback_collect(&t, 64, &s);
	ck_assert_ptr_null(s.result);
	ck_assert_str_eq(s.result_error, "not a regular file");
	/* The target is untouched. */
	struct stat st;
	ck_assert_int_eq(lstat(target, &st), 0);
	ck_assert_int_eq(st.st_nlink, 1);
	ck_assert_int_eq(st.st_size, 13);
}
END_TEST

START_TEST(talkback_snooze_delay)
{
	struct talkback_said s;

	round_trip(NULL, "30\n", 64, &s);
	ck_assert(s.snooze_given);
	ck_assert_double_eq(s.snooze, 30);
	round_trip(NULL, " 2.5 ", 64, &s);
	ck_assert(s.snooze_given);
	ck_assert_double_eq(s.snooze, 2.5);
	round_trip(NULL, "0", 64, &s);
	ck_assert(s.snooze_given);
	ck_assert_double_eq(s.snooze, 0);
	static const char *const bad[] = {
		"", "\n", "soon", "-1", "nan", "inf", "1e12", "30 s", "2.5x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		round_trip(NULL, bad[i], 64, &s);
		ck_assert_msg(!s.snooze_given, "'%s' taken", bad[i]);
	}
	/* Longer than a number can be: ignored. */
	char big[200];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	round_trip(NULL, big, 64, &s);
	ck_assert(!s.snooze_given);
}
END_TEST

START_TEST(talkback_leftovers_swept)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/talk/5.1.result", tmpdir);
	put(p, "{}");
	talkback_shutdown();
	ck_assert_int_eq(talkback_init(tmpdir), 0);
	ck_assert_int_ne(access(p, F_OK), 0);
}
END_TEST

/* ---- the config keys ---- */

static const struct queue_conf *
find_queue(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	return NULL;
}

static int
load(struct config *c, const char *text)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/jobd.conf", tmpdir);
	put(path, text);
	config_init(c);
	diag_clear();
	return config_load(c, path);
}

/* The snooze keys of a queue and max_result_bytes: read, defaulted, and
 * printed back in forms that load. */
START_TEST(config_talkback_keys)
{
	struct config c, d;
	char printed[PATH_MAX + 32];
	const struct queue_conf *q;
	FILE *f;

	ck_assert_msg(load(&c, "[daemon]\nmax_result_bytes = 1M\n"
			       "[queue a]\nsnooze_exit = none\n"
			       "snooze = 2.5\nmax_snoozes = 0\n"
			       "[queue b]\nsnooze_exit = 42\n") == 0,
		      "%s", diag_msg());
	ck_assert_int_eq(c.max_result_bytes, 1 << 20);
	q = find_queue(&c, "a");
	ck_assert_int_eq(q->snooze_exit, -1);
	ck_assert_double_eq(q->snooze, 2.5);
	ck_assert_int_eq(q->max_snoozes, 0);
	ck_assert_uint_eq(q->set, QC_SNOOZE_EXIT | QC_SNOOZE | QC_MAX_SNOOZES);
	q = find_queue(&c, "b");
	ck_assert_int_eq(q->snooze_exit, 42);
	ck_assert_double_lt(q->snooze, 0);
	ck_assert_int_eq(q->max_snoozes, 100);
	snprintf(printed, sizeof(printed), "%s/talkback.conf", tmpdir);
	f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	ck_assert_int_eq(d.max_result_bytes, 1 << 20);
	q = find_queue(&d, "a");
	ck_assert_int_eq(q->snooze_exit, -1);
	ck_assert_double_eq(q->snooze, 2.5);
	ck_assert_int_eq(q->max_snoozes, 0);
	config_destroy(&d);
	config_destroy(&c);
	config_init(&c);
	ck_assert_int_eq(c.max_result_bytes, 64 << 10);
	config_destroy(&c);
}
END_TEST

Suite *
talkback_suite(void)
{
	Suite *s = suite_create("talkback");
	TCase *tc = tcase_create("talkback");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, talkback_files_made_private_and_empty);
	tcase_add_test(tc, talkback_result_kept_or_refused);
	tcase_add_test(tc, talkback_links_not_followed);
	tcase_add_test(tc, talkback_snooze_delay);
	tcase_add_test(tc, talkback_leftovers_swept);
	tcase_add_test(tc, config_talkback_keys);
	suite_add_tcase(s, tc);
	return s;
}
