/*
 * safedir: checks that a directory jobd keeps its files in (the state
 * directory, its logs/, the socket's directory) cannot be tampered with by
 * other users, and narrows the modes of files that must stay private; it
 * creates missing directories (mkdir -p) for whoever needs one.  No loop,
 * no store.
 */
#ifndef SAFEDIR_H_INCLUDED
#define SAFEDIR_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

/* Flags of safedir_check. */
enum {
	SAFEDIR_ROOT_OK = 1u << 0,  /* root may own it too */
	SAFEDIR_STICKY_OK = 1u << 1 /* group/other write is fine with the
				       sticky bit (as on /tmp) */
};

/* Checks path (borrowed) with lstat(2): it must be a directory (a symbolic
 * link is refused), owned by the effective uid (or root with
 * SAFEDIR_ROOT_OK), and not writable by group or others (unless
 * SAFEDIR_STICKY_OK and the sticky bit is set).  Returns 0, or -1 with
 * diag E_IO naming path and what is wrong ("owned by uid 65534 (nobody)",
 * "writable by group or others (mode 0777)", ...). */
int safedir_check(const char *path, unsigned flags);

/* Takes from path's mode every permission bit not in mode (e.g. 0600 for a
 * private file).  A missing path is fine.  *changed (may be NULL) is set
 * when a chmod was needed.  Returns 0, or -1 with diag E_IO when path is
 * not a regular file or directory (a symbolic link is refused) or the
 * chmod failed. */
int safedir_restrict(const char *path, mode_t mode, bool *changed);

/* Creates directory path (borrowed) with mode, and its missing parents
 * with 0755, as mkdir -p does; a directory that exists is fine and keeps
 * its mode.  Returns 0, or -1 with diag E_IO "cannot create PATH: reason"
 * and errno left as the mkdir(2) that failed set it. */
int safedir_mkdir_p(const char *path, mode_t mode);

#endif /* SAFEDIR_H_INCLUDED */
