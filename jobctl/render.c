/*
 * render: terminal-safe text for jobctl's human output (see render.h).  It
 * owns the rule of what is unsafe; it never decides what is shown.
 */
#include "render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
oom(void)
{
	fputs("jobctl: out of memory\n", stderr);
	exit(1);
}

/* Length of the UTF-8 sequence at s, or 0 when it is not one (truncated,
 * overlong, a surrogate, past U+10FFFF).  *cp gets the code point. */
static size_t
utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Whether code point c is unsafe on a terminal. */
static bool
unsafe(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
	       c == 0x200e || c == 0x200f || c == 0x061c;
}

/*
 * Writes s to f with unsafe characters escaped.  In a $'...' word (quoted),
 * the backslash and the single quote are escaped too.
 */
static void
put_escaped(FILE *f, const char *s, bool quoted)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		uint32_t c;
		size_t n = utf8_seq(p, &c);

		if (n == 0) {
			fprintf(f, "\\x%02x", *p);
			p++;
			continue;
		}
		if (!unsafe(c)) {
			if (quoted && (c == '\\' || c == '\''))
				fputc('\\', f);
			fwrite(p, 1, n, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == 0x1b) {
			fputs("\\e", f);
		} else if (c < 0x80) {
			fprintf(f, "\\x%02x", (unsigned)c);
		} else {
			fprintf(f, "\\u%04x", (unsigned)c);
		}
		p += n;
	}
}

bool
render_needs_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p != '\0') {
		uint32_t c;
		size_t n = utf8_seq(p, &c);

		if (n == 0 || unsafe(c))
			return true;
		p += n;
	}
	return false;
}

char *
render_text(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (s == NULL)
		s = "";
	if (!render_needs_escape(s)) {
		buf = strdup(s);
		if (buf == NULL)
			oom();
		return buf;
	}
	f = open_memstream(&buf, &len);
	if (f == NULL)
		oom();
	put_escaped(f, s, false);
	if (fclose(f) != 0)
		oom();
	return buf;
}

void
render_shell_word(FILE *f, const char *s)
{
	const char *p;

	if (*s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789_@%+=:,./-") == strlen(s)) {
		fputs(s, f);
		return;
	}
	if (render_needs_escape(s)) {
		fputs("$'", f);
		put_escaped(f, s, true);
		fputc('\'', f);
		return;
	}
	fputc('\'', f);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}
