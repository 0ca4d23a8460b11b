/*
 * Protocol names: the one table of state, reason and error strings that the
 * daemon and the client agree on.
 */
#include "jobd/proto.h"

#include <stddef.h>
#include <string.h>

static const char *const state_names[JOBD_STATE_COUNT] = {
	"waiting",   "scheduled", "queued",    "running",
	"succeeded", "failed",	  "cancelled",
};

static const char *const reason_names[JOBD_REASON_COUNT] = {
	NULL,
	"exit",
	"signal",
	"timeout",
	"spawn_error",
	"cancelled",
	"dependency_failed",
	"recovery_limit",
	"recovered",
	"interrupted",
	"oom",
	"snoozed",
	"snooze_limit",
	"not_needed",
};

static const char *const error_names[JOBD_E_COUNT] = {
	NULL,
	"bad_request",
	"unknown_command",
	"invalid_argument",
	"not_found",
	"invalid_state",
	"unknown_queue",
	"queue_full",
	"permission_denied",
	"shutting_down",
	"too_large",
	"timeout",
	"busy",
	"internal",
};

static int
lookup(const char *const *names, int n, const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

const char *
jobd_state_name(int state)
{
	if (state < 0 || state >= JOBD_STATE_COUNT)
		return NULL;
	return state_names[state];
}

int
jobd_state_parse(const char *name)
{
	return lookup(state_names, JOBD_STATE_COUNT, name);
}

int
jobd_state_is_terminal(int state)
{
	return state == JOBD_SUCCEEDED || state == JOBD_FAILED ||
	       state == JOBD_CANCELLED;
}

const char *
jobd_reason_name(int reason)
{
	if (reason <= 0 || reason >= JOBD_REASON_COUNT)
		return NULL;
	return reason_names[reason];
}

int
jobd_reason_parse(const char *name)
{
	return lookup(reason_names, JOBD_REASON_COUNT, name);
}

const char *
jobd_error_name(int code)
{
	if (code == JOBD_E_NONE)
		return NULL;
	if (code < 0 || code >= JOBD_E_COUNT)
		return "internal";
	return error_names[code];
}

int
jobd_error_parse(const char *name)
{
	return lookup(error_names, JOBD_E_COUNT, name);
}
