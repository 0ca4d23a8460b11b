/*
 * safedir: directory ownership and mode checks, narrowing file modes, and
 * creating directories.  It owns nothing; every check is one lstat(2), so
 * it never follows a symbolic link another user may have planted.
 */
#include "safedir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "users.h"
#include "xmem.h"

/* "uid N (name)", or "uid N" when the name is unknown, into buf. */
static void
describe_uid(uid_t uid, char *buf, size_t n)
{
	struct users_pw pw;

	if (users_pw_by_uid(uid, &pw) == 0) {
		snprintf(buf, n, "uid %u (%s)", (unsigned)uid, pw.pw.pw_name);
		users_pw_release(&pw);
	} else {
		snprintf(buf, n, "uid %u", (unsigned)uid);
	}
	diag_clear();
}

int
safedir_check(const char *path, unsigned flags)
{
	struct stat st;
	char who[320];
	uid_t me = geteuid();

	if (lstat(path, &st) != 0)
		return diag_set(E_IO, "%s: %s", path, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return diag_set(E_IO,
				"%s: is a symbolic link (give the directory "
				"itself)",
				path);
	if (!S_ISDIR(st.st_mode))
		return diag_set(E_IO, "%s: not a directory", path);
	if (st.st_uid != me && !(st.st_uid == 0 && (flags & SAFEDIR_ROOT_OK))) {
		describe_uid(st.st_uid, who, sizeof(who));
		return diag_set(
			E_IO, "%s: owned by %s, not by uid %u%s", path, who,
			(unsigned)me,
			(flags & SAFEDIR_ROOT_OK) && me != 0 ? " or root" : "");
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    !((flags & SAFEDIR_STICKY_OK) && (st.st_mode & S_ISVTX)))
		return diag_set(E_IO,
				"%s: writable by group or others (mode %04o)",
				path, (unsigned)(st.st_mode & 07777));
	return 0;
}

int
safedir_restrict(const char *path, mode_t mode, bool *changed)
{
	struct stat st;

	if (changed != NULL)
		*changed = false;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return diag_set(E_IO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return diag_set(E_IO, "%s: not a regular file or directory",
				path);
	if ((st.st_mode & 07777 & ~mode) == 0)
		return 0;
	if (chmod(path, st.st_mode & 07777 & mode) != 0)
		return diag_set(E_IO, "cannot chmod %s: %s", path,
				strerror(errno));
	if (changed != NULL)
		*changed = true;
	return 0;
}

int
safedir_mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (rc == 0 && mkdir(p, mode) != 0 && errno != EEXIST)
		rc = -1;
	int e = errno;
	free(p);
	if (rc != 0) {
		diag_set(E_IO, "cannot create %s: %s", path, strerror(e));
		errno = e;
	}
	return rc;
}
