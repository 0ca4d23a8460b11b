/*
 * jsonin: a depth check by a flat scan, then jansson.  The scan keeps no
 * stack: it counts open brackets and skips strings (with their escapes).
 */
#include "jsonin.h"

#include <stdio.h>
#include <string.h>

bool
jsonin_depth_ok(const char *p, size_t n, int max)
{
	int depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (in_string) {
			if (ch == '\\')
				i++; /* the escaped byte is not a quote */
			else if (ch == '"')
				in_string = false;
			continue;
		}
		switch (ch) {
		case '"':
			in_string = true;
			break;
		case '[':
		case '{':
			if (++depth > max)
				return false;
			break;
		case ']':
		case '}':
			depth--;
			break;
		default:
			break;
		}
	}
	return true;
}

json_t *
jsonin_loadb(const char *p, size_t n, size_t flags, json_error_t *err)
{
	if (!jsonin_depth_ok(p, n, JSONIN_MAX_DEPTH)) {
		memset(err, 0, sizeof(*err));
		snprintf(err->text, sizeof(err->text),
			 "nested too deeply (more than %d levels)",
			 JSONIN_MAX_DEPTH);
		return NULL;
	}
	return json_loadb(p, n, flags, err);
}
