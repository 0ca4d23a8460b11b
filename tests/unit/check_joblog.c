/*
 * Tests of joblog on real files in a temp directory: the path of an
 * attempt's log, opening one for writing (mode, the marker of a rerun),
 * windows read from the start or the end and clamped to the file, cuts on
 * UTF-8 character boundaries, bytes that are not UTF-8, the end of a log
 * read whole and windows made from that copy as from the file, and
 * removal of a job's logs.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "joblog.h"
#include "log.h"

Suite *joblog_suite(void);

static char tmpdir[PATH_MAX];

static void
joblog_setup(void)
{
	const char *t = getenv("TMPDIR");

	log_set_level(LOG_LEVEL_ERROR);
	diag_clear();
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-joblog-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
joblog_teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char p[PATH_MAX + 300];

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(tmpdir);
}

/* Writes n bytes of s as the log of attempt a of job id. */
static void
put_log(int64_t id, int a, const char *s, size_t n)
{
	char *path = joblog_path(tmpdir, id, a);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
	close(fd);
	free(path);
}

static bool
log_exists(int64_t id, int a)
{
	char *path = joblog_path(tmpdir, id, a);
	bool there = access(path, F_OK) == 0;

	free(path);
	return there;
}

/* Reads a window and checks its text and offsets; frees the text. */
static void
check_window(int64_t id, int a, int64_t offset, int64_t max, const char *text,
	     int64_t at, int64_t next, int64_t size)
{
	struct joblog_window w;

	joblog_read(tmpdir, id, a, offset, max, &w);
	ck_assert_ptr_nonnull(w.data);
	ck_assert_str_eq(json_string_value(w.data), text);
	ck_assert_int_eq(w.offset, at);
	ck_assert_int_eq(w.next_offset, next);
	ck_assert_int_eq(w.size, size);
	json_decref(w.data);
}

START_TEST(joblog_path_names_job_and_attempt)
{
	char *p = joblog_path("/var/lib/jobd/logs", 42, 3);

	ck_assert_str_eq(p, "/var/lib/jobd/logs/42.3.log");
	free(p);
}
END_TEST

START_TEST(joblog_read_missing_is_empty)
{
	check_window(9, 1, 0, 100, "", 0, 0, 0);
	check_window(9, 1, -10, 100, "", 0, 0, 0);
	/* Attempt 0 (none yet) reads as empty even when a file is there. */
	put_log(9, 0, "zero", 4);
	check_window(9, 0, 0, 100, "", 0, 0, 0);
}
END_TEST

START_TEST(joblog_read_windows)
{
	put_log(1, 1, "hello world", 11);
	check_window(1, 1, 0, 5, "hello", 0, 5, 11);
	check_window(1, 1, 5, 100, " world", 5, 11, 11);
	check_window(1, 1, 11, 100, "", 11, 11, 11);
}
END_TEST

START_TEST(joblog_read_offsets_clamped)
{
	put_log(1, 2, "hello world", 11);
	/* Negative: from the end. */
	check_window(1, 2, -5, 100, "world", 6, 11, 11);
	check_window(1, 2, -5, 2, "wo", 6, 8, 11);
	/* Before the start, past the end. */
	check_window(1, 2, -100, 5, "hello", 0, 5, 11);
	check_window(1, 2, 500, 5, "", 11, 11, 11);
}
END_TEST

START_TEST(joblog_read_cuts_on_characters)
{
	/* "aé€": 61 | c3 a9 | e2 82 ac */
	const char *s = "a\xc3\xa9\xe2\x82\xac";

	put_log(2, 1, s, 6);
	/* A window that ends inside é stops before it ... */
	check_window(2, 1, 0, 2, "a", 0, 1, 6);
	/* ... so the next starts on it. */
	check_window(2, 1, 1, 2, "\xc3\xa9", 1, 3, 6);
	check_window(2, 1, 3, 3, "\xe2\x82\xac", 3, 6, 6);
}
END_TEST

START_TEST(joblog_read_small_window_moves_on)
{
	/* A window smaller than the character at its start hands out its
	 * bytes (as U+FFFD) rather than nothing for ever. */
	put_log(2, 2, "\xe2\x82\xac", 3);
	check_window(2, 2, 0, 1, "\xef\xbf\xbd", 0, 1, 3);
}
END_TEST

START_TEST(joblog_read_holds_back_partial_tail)
{
	/* A character still being written at the end is left for later. */
	put_log(2, 3, "ab\xe2\x82", 4);
	check_window(2, 3, 0, 100, "ab", 0, 2, 4);
	put_log(2, 3, "ab\xe2\x82\xac", 5);
	check_window(2, 3, 2, 100, "\xe2\x82\xac", 2, 5, 5);
}
END_TEST

START_TEST(joblog_read_repairs_bytes)
{
	put_log(3, 1,
		"a\xff"
		"b\0c",
		5);
	struct joblog_window w;

	joblog_read(tmpdir, 3, 1, 0, 100, &w);
	ck_assert_int_eq(json_string_length(w.data), 7);
	ck_assert(memcmp(json_string_value(w.data),
			 "a\xef\xbf\xbd"
			 "b\0c",
			 7) == 0);
	ck_assert_int_eq(w.next_offset, 5);
	json_decref(w.data);
}
END_TEST

START_TEST(joblog_open_creates_private)
{
	char *path = joblog_path(tmpdir, 4, 1);
	struct stat sb;
	int fd = joblog_open(path, 1, false, 0, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	/* A new log gets no marker. */
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_int_eq(write(fd, "out", 3), 3);
	close(fd);
	check_window(4, 1, 0, 100, "out", 0, 3, 3);
	free(path);
}
END_TEST

START_TEST(joblog_open_marks_rerun)
{
	char *path = joblog_path(tmpdir, 4, 2);
	int fd;

	put_log(4, 2, "earlier\n", 8);
	fd = joblog_open(path, 2, false, 0, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "again\n", 6), 6);
	close(fd);
	free(path);
	check_window(4, 2, 0, 1000,
		     "earlier\n--- jobd: attempt 2 runs again (its earlier "
		     "run was stopped by a shutdown or a crash) ---\nagain\n",
		     0, 104, 104);
}
END_TEST

/* Output cut off mid-line: the marker still starts a line of its own. */
START_TEST(joblog_open_marks_rerun_on_its_own_line)
{
	char *path = joblog_path(tmpdir, 5, 2);
	int fd;

	put_log(5, 2, "half", 4);
	fd = joblog_open(path, 2, false, 0, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	free(path);
	check_window(5, 2, 0, 1000,
		     "half\n--- jobd: attempt 2 runs again (its earlier "
		     "run was stopped by a shutdown or a crash) ---\n",
		     0, 95, 95);
}
END_TEST

START_TEST(joblog_open_fails_with_diag)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/missing/1.1.log", tmpdir);
	ck_assert_int_eq(joblog_open(path, 1, false, 0, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(diag_code(), E_IO);
	ck_assert_ptr_nonnull(strstr(diag_msg(), path));
}
END_TEST

START_TEST(joblog_tail_reads_the_end)
{
	int64_t size = -1;
	char *tail = NULL;
	size_t n = 99;

	put_log(3, 1, "hello world", 11);
	ck_assert(joblog_tail(tmpdir, 3, 1, 5, &size, &tail, &n));
	ck_assert_int_eq(size, 11);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(tail, "world", 5);
	free(tail);
	/* A log shorter than asked for: all of it. */
	ck_assert(joblog_tail(tmpdir, 3, 1, 100, &size, &tail, &n));
	ck_assert_uint_eq(n, 11);
	ck_assert_mem_eq(tail, "hello world", 11);
	free(tail);
	/* No log: nothing, and no tail at all. */
	ck_assert(!joblog_tail(tmpdir, 3, 2, 100, &size, &tail, &n));
	ck_assert_int_eq(size, 0);
	ck_assert_ptr_null(tail);
	ck_assert_uint_eq(n, 0);
	ck_assert(!joblog_tail(tmpdir, 3, 0, 100, &size, &tail, &n));
}
END_TEST

/* Reads the window at offset (max bytes) of the end of "aé€ hello" kept
 * from byte base, and checks that it is joblog_read's of the file. */
static void
check_window_of(int64_t base, int64_t offset, int64_t max)
{
	static const char text[] = "a\xc3\xa9\xe2\x82\xac hello";
	const int64_t size = (int64_t)sizeof(text) - 1;
	struct joblog_window w, f;

	put_log(4, 1, text, (size_t)size);
	ck_assert(joblog_window_of(text + base, (size_t)(size - base), size,
				   offset, max, &w));
	joblog_read(tmpdir, 4, 1, offset, max, &f);
	ck_assert_str_eq(json_string_value(w.data), json_string_value(f.data));
	ck_assert_int_eq(w.offset, f.offset);
	ck_assert_int_eq(w.next_offset, f.next_offset);
	ck_assert_int_eq(w.size, f.size);
	json_decref(w.data);
	json_decref(f.data);
}

START_TEST(joblog_window_of_is_the_file_window)
{
	/* From the copy's first byte, inside it, from the end, cut on a
	 * character (the euro sign at 3..5), and the empty end. */
	check_window_of(0, 0, 100);
	check_window_of(3, 3, 2);
	check_window_of(3, 3, 100);
	check_window_of(1, -5, 3);
	check_window_of(6, 6, 4);
	check_window_of(6, 500, 4);
}
END_TEST

START_TEST(joblog_window_of_refuses_before_the_copy)
{
	struct joblog_window w = {.data = NULL};

	/* 5 bytes kept of 11: "world" is bytes 6 to 10. */
	ck_assert(!joblog_window_of("world", 5, 11, 5, 100, &w));
	ck_assert(!joblog_window_of("world", 5, 11, 0, 100, &w));
	ck_assert(!joblog_window_of("world", 5, 11, -6, 100, &w));
	ck_assert_ptr_null(w.data);
	ck_assert(joblog_window_of("world", 5, 11, -5, 100, &w));
	ck_assert_str_eq(json_string_value(w.data), "world");
	ck_assert_int_eq(w.offset, 6);
	ck_assert_int_eq(w.next_offset, 11);
	json_decref(w.data);
	/* A copy said to be longer than the log is refused. */
	ck_assert(!joblog_window_of("world", 5, 3, 0, 100, &w));
}
END_TEST

START_TEST(joblog_remove_attempts_and_one_more)
{
	for (int a = 1; a <= 4; a++)
		put_log(7, a, "x", 1);
	put_log(8, 1, "y", 1);
	joblog_remove(tmpdir, 7, 2);
	ck_assert(!log_exists(7, 1));
	ck_assert(!log_exists(7, 2));
	ck_assert(!log_exists(7, 3));
	ck_assert(log_exists(7, 4));
	ck_assert(log_exists(8, 1));
	/* Logs that are not there are no error. */
	joblog_remove(tmpdir, 7, 5);
	ck_assert(!log_exists(7, 4));
	ck_assert(log_exists(8, 1));
}
END_TEST

Suite *
joblog_suite(void)
{
	Suite *s = suite_create("joblog");
	TCase *tc = tcase_create("files");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, joblog_setup, joblog_teardown);
	tcase_add_test(tc, joblog_path_names_job_and_attempt);
	tcase_add_test(tc, joblog_read_missing_is_empty);
	tcase_add_test(tc, joblog_read_windows);
	tcase_add_test(tc, joblog_read_offsets_clamped);
	tcase_add_test(tc, joblog_read_cuts_on_characters);
	tcase_add_test(tc, joblog_read_small_window_moves_on);
	tcase_add_test(tc, joblog_read_holds_back_partial_tail);
	tcase_add_test(tc, joblog_read_repairs_bytes);
	tcase_add_test(tc, joblog_open_creates_private);
	tcase_add_test(tc, joblog_open_marks_rerun);
	tcase_add_test(tc, joblog_open_marks_rerun_on_its_own_line);
	tcase_add_test(tc, joblog_open_fails_with_diag);
	tcase_add_test(tc, joblog_tail_reads_the_end);
	tcase_add_test(tc, joblog_window_of_is_the_file_window);
	tcase_add_test(tc, joblog_window_of_refuses_before_the_copy);
	tcase_add_test(tc, joblog_remove_attempts_and_one_more);
	suite_add_tcase(s, tc);
	return s;
}
