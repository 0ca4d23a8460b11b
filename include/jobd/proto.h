/*
 * jobd protocol names, shared by the daemon, the client library and jobctl:
 * job states, reasons and wire error codes, each an enum with conversions to
 * and from the exact strings of the protocol, jobd-protocol(7).  Pure: no
 * I/O, no allocation.
 */
#ifndef JOBD_PROTO_H_INCLUDED
#define JOBD_PROTO_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/* Job states (SPEC 2.2).  The numeric values are stored in the database:
 * never renumber, only append. */
enum jobd_state {
	JOBD_WAITING = 0,
	JOBD_SCHEDULED = 1,
	JOBD_QUEUED = 2,
	JOBD_RUNNING = 3,
	JOBD_SUCCEEDED = 4,
	JOBD_FAILED = 5,
	JOBD_CANCELLED = 6,
	JOBD_STATE_COUNT
};

/* Why a job is failed/cancelled, or went back to scheduled/queued.  Stored in
 * the database like the states. */
enum jobd_reason {
	JOBD_REASON_NONE = 0,
	JOBD_REASON_EXIT,
	JOBD_REASON_SIGNAL,
	JOBD_REASON_TIMEOUT,
	JOBD_REASON_SPAWN_ERROR,
	JOBD_REASON_CANCELLED,
	JOBD_REASON_DEPENDENCY_FAILED,
	JOBD_REASON_RECOVERY_LIMIT,
	JOBD_REASON_RECOVERED,
	JOBD_REASON_INTERRUPTED,
	JOBD_REASON_OOM,	  /* its cgroup recorded an OOM kill */
	JOBD_REASON_SNOOZED,	  /* exited with snooze_exit: later */
	JOBD_REASON_SNOOZE_LIMIT, /* snoozed once more than max_snoozes */
	JOBD_REASON_NOT_NEEDED,	  /* after_failed: no dependency failed */
	JOBD_REASON_COUNT
};

/* Wire error codes (SPEC 5).  JOBD_E_NONE is success and has no name. */
enum jobd_error {
	JOBD_E_NONE = 0,
	JOBD_E_BAD_REQUEST,
	JOBD_E_UNKNOWN_COMMAND,
	JOBD_E_INVALID_ARGUMENT,
	JOBD_E_NOT_FOUND,
	JOBD_E_INVALID_STATE,
	JOBD_E_UNKNOWN_QUEUE,
	JOBD_E_QUEUE_FULL,
	JOBD_E_PERMISSION_DENIED,
	JOBD_E_SHUTTING_DOWN,
	JOBD_E_TOO_LARGE,
	JOBD_E_TIMEOUT,
	JOBD_E_BUSY,
	JOBD_E_INTERNAL,
	JOBD_E_COUNT
};

/* Name of a state ("queued"), or NULL when out of range. */
const char *jobd_state_name(int state);
/* State for a name, or -1 when the name is unknown. */
int jobd_state_parse(const char *name);
/* True for succeeded, failed and cancelled. */
int jobd_state_is_terminal(int state);

/* Name of a reason ("timeout"); NULL for JOBD_REASON_NONE and out of range. */
const char *jobd_reason_name(int reason);
/* Reason for a name, or -1 when unknown. */
int jobd_reason_parse(const char *name);

/* Wire name of an error ("not_found"); "internal" for anything out of range,
 * NULL for JOBD_E_NONE. */
const char *jobd_error_name(int code);
/* Error for a wire name, or -1 when unknown. */
int jobd_error_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* JOBD_PROTO_H_INCLUDED */
