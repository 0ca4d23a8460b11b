/*
 * diag: per-coroutine error records.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct diag main_diag;
static struct diag *cur = &main_diag;

int
diag_set(int code, const char *fmt, ...)
{
	va_list ap;
	cur->code = code;
	va_start(ap, fmt);
	vsnprintf(cur->msg, sizeof(cur->msg), fmt, ap);
	va_end(ap);
	return -1;
}

struct diag *
diag_get(void)
{
	return cur;
}

int
diag_code(void)
{
	return cur->code;
}

const char *
diag_msg(void)
{
	return cur->msg;
}

void
diag_clear(void)
{
	cur->code = 0;
	cur->msg[0] = '\0';
}

void
diag_prefix(const char *prefix)
{
	char tmp[2 * DIAG_MSG_MAX + 2];
	snprintf(tmp, sizeof(tmp), "%s: %s", prefix, cur->msg);
	snprintf(cur->msg, sizeof(cur->msg), "%.*s", DIAG_MSG_MAX - 1, tmp);
}

struct diag *
diag_switch(struct diag *d)
{
	struct diag *prev = cur;
	cur = d ? d : &main_diag;
	return prev;
}

const char *
diag_wire_name(int code)
{
	if (code <= 0 || code >= JOBD_E_COUNT)
		return "internal";
	return jobd_error_name(code);
}
