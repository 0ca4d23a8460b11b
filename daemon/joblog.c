/*
 * joblog: attempts' log files.  Owns their naming and the rules for
 * reading them as text; it keeps no state and holds no descriptor past a
 * call (joblog_open hands its descriptor to the caller).
 */
#include "joblog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "utf8.h"
#include "xmem.h"

char *
joblog_path(const char *log_dir, int64_t job_id, int attempt)
{
	return xasprintf("%s/%lld.%d.log", log_dir, (long long)job_id, attempt);
}

/* Appends the marker of a rerun to fd, the log at path, when it holds
 * output already; on a line of its own when that output did not end with
 * a newline.  fd is write-only (the job gets it): the last byte is read
 * through a descriptor of its own. */
static void
mark_rerun(int fd, const char *path, int attempt)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size == 0)
		return;
	char last = '\n';
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd >= 0) {
		if (pread(rfd, &last, 1, sb.st_size - 1) != 1)
			last = '\n';
		close(rfd);
	}
	char line[160];
	int n = snprintf(line, sizeof(line),
			 "%s--- jobd: attempt %d runs again (its earlier run "
			 "was stopped by a shutdown or a crash) ---\n",
			 last == '\n' ? "" : "\n", attempt);
	if (write(fd, line, (size_t)n) < 0)
		log_warn("job log %s", path);
}

int
joblog_open(const char *path, int attempt, bool chown, uid_t uid, gid_t gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		diag_set(E_IO, "job log %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (chown && fchown(fd, uid, gid) != 0)
		log_warn("job log %s: chown", path);
	mark_rerun(fd, path, attempt);
	return fd;
}

/* How much of a window of got bytes (of want asked for) to hand out: up
 * to the last whole character, unless a short read ended at the end of
 * the log; a window too small for the character at its start hands out
 * all it has, so reading always moves on. */
static size_t
window_cut(const char *data, size_t got, size_t want, bool at_end)
{
	size_t keep = got;
	if (!at_end || keep == want)
		keep = utf8_whole(data, keep);
	if (keep == 0)
		keep = got;
	return keep;
}

/* offset, negative from the end, clamped into [0, size]. */
static int64_t
clamp_offset(int64_t offset, int64_t size)
{
	if (offset < 0)
		offset = size + offset < 0 ? 0 : size + offset;
	return offset > size ? size : offset;
}

/* Fills w from the got bytes at data, read at offset (of want asked for)
 * of a log of size bytes. */
static void
window_make(const char *data, size_t got, size_t want, int64_t offset,
	    int64_t size, struct joblog_window *w)
{
	size_t keep =
		window_cut(data, got, want, offset + (int64_t)got >= size);

	w->size = size;
	w->offset = offset;
	w->data = utf8_string(data, keep);
	w->next_offset = offset + (int64_t)keep;
}

void
joblog_read(const char *log_dir, int64_t job_id, int attempt, int64_t offset,
	    int64_t max, struct joblog_window *w)
{
	char *path = joblog_path(log_dir, job_id, attempt);
	int fd = attempt > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	int64_t size = 0;
	free(path);
	if (fd >= 0) {
		struct stat sb;
		if (fstat(fd, &sb) == 0)
			size = sb.st_size;
	}
	offset = clamp_offset(offset, size);
	size_t want = (size_t)(size - offset < max ? size - offset : max);
	char *data = xmalloc(want + 1);
	ssize_t got = 0;
	if (fd >= 0 && want > 0) {
		got = pread(fd, data, want, offset);
		if (got < 0)
			got = 0;
	}
	if (fd >= 0)
		close(fd);
	window_make(data, (size_t)got, want, offset, size, w);
	free(data);
}

bool
joblog_tail(const char *log_dir, int64_t job_id, int attempt, size_t max,
	    int64_t *size, char **tail, size_t *tail_len)
{
	char *path = joblog_path(log_dir, job_id, attempt);
	int fd = attempt > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	struct stat sb;
	free(path);
	*size = 0;
	*tail = NULL;
	*tail_len = 0;
	if (fd < 0)
		return false;
	if (fstat(fd, &sb) == 0)
		*size = sb.st_size;
	size_t want = (size_t)(*size < (int64_t)max ? *size : (int64_t)max);
	*tail = xmalloc(want + 1);
	ssize_t got = want > 0 ? pread(fd, *tail, want, *size - (int64_t)want)
			       : 0;
	close(fd);
	if (got != (ssize_t)want) {
		/* Unreadable, or cut meanwhile: nothing is kept of it. */
		got = 0;
		*size = 0;
	}
	*tail_len = (size_t)got;
	return true;
}

bool
joblog_window_of(const char *tail, size_t tail_len, int64_t size,
		 int64_t offset, int64_t max, struct joblog_window *w)
{
	int64_t base = size - (int64_t)tail_len;
	offset = clamp_offset(offset, size);
	if (base < 0 || offset < base)
		return false;
	size_t want = (size_t)(size - offset < max ? size - offset : max);
	window_make(tail + (offset - base), want, want, offset, size, w);
	return true;
}

void
joblog_remove(const char *log_dir, int64_t job_id, int attempts)
{
	for (int a = 1; a <= attempts + 1; a++) {
		char *path = joblog_path(log_dir, job_id, a);
		unlink(path);
		free(path);
	}
}
