/*
 * Tests of safedir_mkdir_p: missing parents made, the last directory with
 * the mode asked, an existing one left as it is, and a failure that names
 * the path and keeps mkdir's errno.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "safedir.h"

Suite *safedir_suite(void);

static char base[64];

static void
tmp_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/check_safedir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void
tmp_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

START_TEST(safedir_mkdir_p_makes_parents)
{
	char path[128], mid[128];
	mode_t old = umask(0);

	snprintf(mid, sizeof(mid), "%s/a/b", base);
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	ck_assert_int_eq(safedir_mkdir_p(path, 0700), 0);
	ck_assert_uint_eq(mode_of(path), 0700);
	ck_assert_uint_eq(mode_of(mid), 0755);
	/* There already: fine, and its mode is not changed. */
	ck_assert_int_eq(safedir_mkdir_p(path, 0755), 0);
	ck_assert_uint_eq(mode_of(path), 0700);
	umask(old);
}
END_TEST

START_TEST(safedir_mkdir_p_refuses)
{
	char file[128], path[128], want[200];
	int fd;

	snprintf(file, sizeof(file), "%s/f", base);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A parent that is a file. */
	snprintf(path, sizeof(path), "%s/f/d/e", base);
	diag_clear();
	errno = 0;
	ck_assert_int_eq(safedir_mkdir_p(path, 0700), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	ck_assert_int_eq(diag_code(), E_IO);
	snprintf(want, sizeof(want), "cannot create %s: %s", path,
		 strerror(ENOTDIR));
	ck_assert_str_eq(diag_msg(), want);
	/* What exists is not looked at (safedir_check refuses what is not
	 * a directory): a file in the last place is taken as there. */
	ck_assert_int_eq(safedir_mkdir_p(file, 0700), 0);
}
END_TEST

Suite *
safedir_suite(void)
{
	Suite *s = suite_create("safedir");
	TCase *tc = tcase_create("mkdir_p");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, safedir_mkdir_p_makes_parents);
	tcase_add_test(tc, safedir_mkdir_p_refuses);
	suite_add_tcase(s, tc);
	return s;
}
