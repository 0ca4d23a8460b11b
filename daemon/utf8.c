/*
 * utf8: the cut point of a read window and the repair of invalid UTF-8.
 * Decides nothing about where the bytes come from.
 */
#include "utf8.h"

#include <stdbool.h>

size_t
utf8_whole(const char *p, size_t n)
{
	size_t i = n, back = 0;
	while (i > 0 && back < 4) {
		unsigned char ch = (unsigned char)p[i - 1];
		if ((ch & 0xC0) != 0x80) {
			size_t want = ch >= 0xF0   ? 4
				      : ch >= 0xE0 ? 3
				      : ch >= 0xC0 ? 2
						   : 1;
			return back + 1 >= want ? n : i - 1;
		}
		i--;
		back++;
	}
	return n;
}

/* Length of the well-formed sequence at p[0..n) (n >= 1), or 0 when p[0]
 * does not start one. */
static size_t
sequence_len(const unsigned char *p, size_t n)
{
	unsigned char ch = p[0];
	size_t len = ch < 0x80		 ? 1
		     : (ch >> 5) == 0x6	 ? 2
		     : (ch >> 4) == 0xE	 ? 3
		     : (ch >> 3) == 0x1E ? 4
					 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((p[k] & 0xC0) != 0x80)
			return 0;
	if (len == 2 && ch < 0xC2)
		return 0; /* overlong */
	if (len == 3 &&
	    ((ch == 0xE0 && p[1] < 0xA0) || (ch == 0xED && p[1] >= 0xA0)))
		return 0; /* overlong, surrogate */
	if (len == 4 && (ch > 0xF4 || (ch == 0xF0 && p[1] < 0x90) ||
			 (ch == 0xF4 && p[1] >= 0x90)))
		return 0; /* overlong, above U+10FFFF */
	return len;
}

void
utf8_repair(struct buf *b, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;
	buf_reserve(b, n);
	while (i < n) {
		size_t len = sequence_len(u + i, n - i);
		if (len > 0) {
			buf_append(b, p + i, len);
			i += len;
		} else {
			buf_append(b, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
}

json_t *
utf8_string(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	utf8_repair(&b, p, n);
	json_t *s = json_stringn(b.data ? b.data : "", b.len);
	buf_release(&b);
	return s;
}
