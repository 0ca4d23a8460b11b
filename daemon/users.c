/*
 * users: reentrant password and group look-ups.  Each call starts with a
 * buffer of sysconf's suggested size and doubles it on ERANGE up to a
 * megabyte; the buffer lives on the heap, never on a coroutine's stack.
 * It owns nothing between calls.
 */
#include "users.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "xmem.h"

#define BUF_START 1024
#define BUF_MAX (1024 * 1024)

/* The first buffer size for sysconf key k. */
static size_t
first_size(int k)
{
	long n = sysconf(k);
	return n > 0 && n <= BUF_MAX ? (size_t)n : BUF_START;
}

static bool
name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' &&
	       strnlen(name, USERS_NAME_MAX + 1) <= USERS_NAME_MAX;
}

/* One password look-up: by name when name is non-NULL, else by uid. */
static int
pw_lookup(const char *name, uid_t uid, struct users_pw *out)
{
	size_t size = first_size(_SC_GETPW_R_SIZE_MAX);
	struct passwd *res = NULL;
	int e;

	memset(out, 0, sizeof(*out));
	/* A "not found" that was really a file that could not be opened
	 * (EMFILE with a later NSS service answering "not found") leaves
	 * errno behind: callers may look. */
	errno = 0;
	for (;;) {
		out->buf = xrealloc(out->buf, size);
		res = NULL;
		e = name != NULL
			    ? getpwnam_r(name, &out->pw, out->buf, size, &res)
			    : getpwuid_r(uid, &out->pw, out->buf, size, &res);
		if (e != ERANGE || size >= BUF_MAX)
			break;
		size *= 2;
	}
	if (res != NULL)
		return 0;
	users_pw_release(out);
	/* "Not found" is 0 or, depending on the NSS module, one of these. */
	if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM) {
		if (name != NULL)
			return diag_set(E_INVAL, "no user %s", name);
		return diag_set(E_INVAL, "no user with uid %u", (unsigned)uid);
	}
	if (name != NULL)
		diag_set(E_IO, "user %s: %s", name, strerror(e));
	else
		diag_set(E_IO, "user %u: %s", (unsigned)uid, strerror(e));
	errno = e;
	return -1;
}

int
users_pw_by_name(const char *name, struct users_pw *out)
{
	if (!name_ok(name)) {
		memset(out, 0, sizeof(*out));
		return diag_set(E_INVAL, "no user %.64s%s",
				name != NULL ? name : "",
				name != NULL && strlen(name) > 64 ? "..." : "");
	}
	return pw_lookup(name, 0, out);
}

int
users_pw_by_uid(uid_t uid, struct users_pw *out)
{
	return pw_lookup(NULL, uid, out);
}

void
users_pw_release(struct users_pw *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

int
users_gid_by_name(const char *name, gid_t *gid)
{
	size_t size = first_size(_SC_GETGR_R_SIZE_MAX);
	struct group gr, *res = NULL;
	char *buf = NULL;
	int e;

	if (!name_ok(name))
		return diag_set(E_INVAL, "no group %.64s%s",
				name != NULL ? name : "",
				name != NULL && strlen(name) > 64 ? "..." : "");
	for (;;) {
		buf = xrealloc(buf, size);
		res = NULL;
		e = getgrnam_r(name, &gr, buf, size, &res);
		if (e != ERANGE || size >= BUF_MAX)
			break;
		size *= 2;
	}
	if (res != NULL)
		*gid = res->gr_gid;
	free(buf);
	if (res != NULL)
		return 0;
	if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
		return diag_set(E_INVAL, "no group %s", name);
	diag_set(E_IO, "group %s: %s", name, strerror(e));
	errno = e;
	return -1;
}
