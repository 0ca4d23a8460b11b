/*
 * talkback: an attempt's result and snooze files (talkback.h).  Owns the
 * descriptor of STATE_DIR/talk; every file is reached relative to it.
 */
#include "talkback.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "diag.h"
#include "jobspec.h"
#include "jsonin.h"
#include "log.h"
#include "safedir.h"
#include "xmem.h"

static int dir_fd = -1;
static char *dir_path; /* owned: STATE_DIR/talk */

/* The most of $JOBD_SNOOZE read: a number of seconds, with room for
 * blanks around it. */
#define SNOOZE_MAX 64

/* Removes every entry of the directory (a dead jobd's files).  Only
 * names are removed, relative to dir_fd: nothing is followed. */
static void
sweep(void)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int n = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dir_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("talkback: removed %d files left by attempts that "
			 "did not end",
			 n);
}

int
talkback_init(const char *state_dir)
{
	mode_t mode = geteuid() == 0 ? 0711 : 0700;
	struct stat st;

	talkback_shutdown();
	dir_path = xasprintf("%s/talk", state_dir);
	if (safedir_mkdir_p(dir_path, mode) != 0 ||
	    safedir_check(dir_path, 0) != 0)
		return -1;
	dir_fd =
		open(dir_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0)
		return diag_set(E_IO, "cannot open %s: %s", dir_path,
				strerror(errno));
	/* Exactly the mode wanted: jobs of other users pass through it,
	 * and nobody lists it. */
	if (fstat(dir_fd, &st) == 0 && (st.st_mode & 07777) != mode &&
	    fchmod(dir_fd, mode) != 0)
		return diag_set(E_IO, "cannot chmod %s: %s", dir_path,
				strerror(errno));
	sweep();
	return 0;
}

void
talkback_shutdown(void)
{
	if (dir_fd >= 0)
		close(dir_fd);
	dir_fd = -1;
	free(dir_path);
	dir_path = NULL;
}

/* Makes the empty file NAME.suffix owned by uid (when root). */
static int
make_file(const struct talkback *t, const char *suffix, uid_t uid)
{
	char name[80];
	int fd;

	snprintf(name, sizeof(name), "%s.%s", t->name, suffix);
	/* A leftover of the same attempt run before (stopped by a
	 * shutdown) goes first: the attempt starts with an empty file. */
	(void)unlinkat(dir_fd, name, 0);
	fd = openat(dir_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return diag_set(E_IO, "cannot create %s/%s: %s", dir_path, name,
				strerror(errno));
	if (geteuid() == 0 && uid != 0 && fchown(fd, uid, (gid_t)-1) != 0) {
		int e = errno;

		close(fd);
		(void)unlinkat(dir_fd, name, 0);
		errno = e;
		return diag_set(E_IO, "cannot chown %s/%s: %s", dir_path, name,
				strerror(e));
	}
	close(fd);
	return 0;
}

static void
release(struct talkback *t)
{
	free(t->result_env);
	free(t->snooze_env);
	t->result_env = t->snooze_env = NULL;
	t->made = false;
}

int
talkback_open(struct talkback *t, int64_t id, int attempt, uid_t uid)
{
	memset(t, 0, sizeof(*t));
	if (dir_fd < 0)
		return diag_set(E_IO, "talkback: no directory");
	snprintf(t->name, sizeof(t->name), "%lld.%d", (long long)id, attempt);
	if (make_file(t, "result", uid) != 0)
		return -1;
	if (make_file(t, "snooze", uid) != 0) {
		int e = errno;
		char name[80];

		snprintf(name, sizeof(name), "%s.result", t->name);
		(void)unlinkat(dir_fd, name, 0);
		errno = e;
		return -1;
	}
	t->result_env =
		xasprintf("JOBD_RESULT=%s/%s.result", dir_path, t->name);
	t->snooze_env =
		xasprintf("JOBD_SNOOZE=%s/%s.snooze", dir_path, t->name);
	t->made = true;
	return 0;
}

/* Reads at most max bytes of NAME.suffix into *buf (the caller frees it;
 * NUL-terminated), *len their count, *over whether there was more.
 * Returns -1 (nothing read, *why says why when it matters) when the file
 * is missing, not a regular file with one link, or unreadable. */
static int
read_file(const struct talkback *t, const char *suffix, size_t max, char **buf,
	  size_t *len, bool *over, const char **why)
{
	char name[80];
	struct stat st;
	size_t n = 0;
	ssize_t got;
	int fd;

	*buf = NULL;
	*len = 0;
	*over = false;
	*why = NULL;
	snprintf(name, sizeof(name), "%s.%s", t->name, suffix);
	fd = openat(dir_fd, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			*why = "not a regular file";
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		*why = "not a regular file";
		return -1;
	}
	if (st.st_size > (off_t)max) {
		close(fd);
		*over = true;
		return 0;
	}
	/* One byte more than max tells a file that grew meanwhile. */
	*buf = xmalloc(max + 2);
	while (n <= max && ((got = read(fd, *buf + n, max + 1 - n)) > 0 ||
			    (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	close(fd);
	if (n > max) {
		free(*buf);
		*buf = NULL;
		*over = true;
		return 0;
	}
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

static bool
blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i]))
			return false;
	return true;
}

/* The result file into s. */
static void
collect_result(const struct talkback *t, int64_t max, struct talkback_said *s)
{
	size_t len;
	bool over;
	const char *why;
	char *buf;
	json_error_t err;
	json_t *v;

	if (read_file(t, "result", (size_t)max, &buf, &len, &over, &why) != 0) {
		if (why != NULL)
			snprintf(s->result_error, sizeof(s->result_error), "%s",
				 why);
		return;
	}
	if (over) {
		snprintf(s->result_error, sizeof(s->result_error),
			 "too large: more than %lld bytes (max_result_bytes)",
			 (long long)max);
		return;
	}
	if (blank(buf, len)) {
		free(buf);
		return;
	}
	v = jsonin_loadb(buf, len, JSON_DECODE_ANY, &err);
	free(buf);
	if (v == NULL) {
		snprintf(s->result_error, sizeof(s->result_error),
			 "not JSON: %s", err.text);
		return;
	}
	s->result = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
}

/* The snooze file into s. */
static void
collect_snooze(const struct talkback *t, struct talkback_said *s)
{
	size_t len;
	bool over;
	const char *why;
	char *buf, *end;
	double d;

	if (read_file(t, "snooze", SNOOZE_MAX, &buf, &len, &over, &why) != 0)
		return;
	if (!over && blank(buf, len)) {
		free(buf);
		return;
	}
	d = over ? NAN : strtod(buf, &end);
	if (over || end == buf || !blank(end, len - (size_t)(end - buf)) ||
	    !isfinite(d) || d < 0 || d > JOBSPEC_MAX_SECONDS)
		log_warnx("attempt %s (job.attempt): $JOBD_SNOOZE does not "
			  "hold a number of seconds: ignored",
			  t->name);
	else {
		s->snooze_given = true;
		s->snooze = d;
	}
	free(buf);
}

static void
remove_files(const struct talkback *t)
{
	char name[80];

	snprintf(name, sizeof(name), "%s.result", t->name);
	(void)unlinkat(dir_fd, name, 0);
	snprintf(name, sizeof(name), "%s.snooze", t->name);
	(void)unlinkat(dir_fd, name, 0);
}

void
talkback_collect(struct talkback *t, int64_t max_result,
		 struct talkback_said *s)
{
	memset(s, 0, sizeof(*s));
	if (t->made && dir_fd >= 0) {
		collect_result(t, max_result, s);
		collect_snooze(t, s);
		remove_files(t);
	}
	release(t);
}

void
talkback_discard(struct talkback *t)
{
	if (t->made && dir_fd >= 0)
		remove_files(t);
	release(t);
}
