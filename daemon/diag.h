/*
 * diag: the error record.  A function that fails returns -1 or NULL after
 * diag_set() has recorded a code and a message.  The record belongs to the
 * running coroutine (coro switches it), so a reason survives a yield; outside
 * any coroutine a process-wide record is used.
 *
 * Codes are the wire error codes of include/jobd/proto.h, plus a few that
 * exist only inside the daemon and go on the wire as "internal".
 */
#ifndef DIAG_H_INCLUDED
#define DIAG_H_INCLUDED

#include "jobd/proto.h"

enum {
	E_BADREQ = JOBD_E_BAD_REQUEST,
	E_UNKNOWN_CMD = JOBD_E_UNKNOWN_COMMAND,
	E_INVAL = JOBD_E_INVALID_ARGUMENT,
	E_NOTFOUND = JOBD_E_NOT_FOUND,
	E_STATE = JOBD_E_INVALID_STATE,
	E_UNKNOWN_QUEUE = JOBD_E_UNKNOWN_QUEUE,
	E_FULL = JOBD_E_QUEUE_FULL,
	E_PERM = JOBD_E_PERMISSION_DENIED,
	E_SHUTDOWN = JOBD_E_SHUTTING_DOWN,
	E_TOOLARGE = JOBD_E_TOO_LARGE,
	E_TIMEOUT = JOBD_E_TIMEOUT,
	E_BUSY = JOBD_E_BUSY,
	E_INTERNAL = JOBD_E_INTERNAL,
	/* Internal only. */
	E_CANCELLED = JOBD_E_COUNT, /* the coroutine was cancelled: unwind */
	E_IO,			    /* a system call failed */
	E_DB,			    /* SQLite failed */
	E_CONFLICT,		    /* a uniqueness rule was hit */
};

#define DIAG_MSG_MAX 512

struct diag {
	int code;		/* 0 when nothing was recorded */
	char msg[DIAG_MSG_MAX]; /* NUL-terminated */
};

/* Records code and message in the current record; returns -1 so a caller
 * can write `return diag_set(...)`. */
int diag_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The current record; borrowed. */
struct diag *diag_get(void);
int diag_code(void);
const char *diag_msg(void);
void diag_clear(void);
/* Prefixes the current message with "prefix: ". */
void diag_prefix(const char *prefix);
/* Makes d the current record (coro calls this on every switch; NULL
 * restores the process-wide record).  Returns the previous one. */
struct diag *diag_switch(struct diag *d);
/* The wire name for a code: internal codes map to "internal". */
const char *diag_wire_name(int code);

#endif /* DIAG_H_INCLUDED */
