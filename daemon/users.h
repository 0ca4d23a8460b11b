/*
 * users: look-ups in the password and group databases through the
 * reentrant calls (getpwnam_r, getpwuid_r, getgrnam_r), with a heap buffer
 * grown while the C library answers ERANGE.  Nothing here keeps state
 * between calls: a caching caller (runner) does its own caching.  No loop,
 * no store; the look-ups may read files or ask NSS services, so callers on
 * the loop keep them off hot paths.
 */
#ifndef USERS_H_INCLUDED
#define USERS_H_INCLUDED

#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>

/* Longest user or group name looked up, in bytes: longer ones are refused
 * before any look-up (LOGIN_NAME_MAX on Linux is 256 with the NUL). */
#define USERS_NAME_MAX 256

/* A password entry: pw's strings point into buf. */
struct users_pw {
	struct passwd pw;
	char *buf; /* owned */
};

/* Fills *out (the caller's) with the entry of user name (borrowed).
 * Returns 0, or -1 with diag E_INVAL "no user NAME" when there is none (or
 * the name is empty or longer than USERS_NAME_MAX), E_IO when the look-up
 * failed (errno then says why, e.g. EMFILE).  On success release *out with
 * users_pw_release(). */
int users_pw_by_name(const char *name, struct users_pw *out);

/* The same for uid; diag E_INVAL "no user with uid N" when there is
 * none. */
int users_pw_by_uid(uid_t uid, struct users_pw *out);

/* Frees what p holds; safe on a zeroed or released p. */
void users_pw_release(struct users_pw *p);

/* Stores the gid of group name (borrowed) in *gid.  Returns 0, or -1 with
 * diag E_INVAL when there is no such group (or the name is empty or too
 * long), E_IO when the look-up failed. */
int users_gid_by_name(const char *name, gid_t *gid);

#endif /* USERS_H_INCLUDED */
