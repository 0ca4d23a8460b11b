/*
 * render: text that jobctl shows people, made safe for a terminal.  Names,
 * commands and messages come from other users and from jobs; written raw,
 * an escape sequence in one would recolour or clear an admin's screen and a
 * newline would split a table row.  These helpers escape every control
 * character (C0, DEL, C1), bidirectional overrides and bytes that are not
 * UTF-8, so what reaches the terminal is printable.  --json output never
 * goes through them: it keeps the exact values.  Pure: no I/O but the FILE
 * a caller hands in; out of memory exits.
 */
#ifndef RENDER_H_INCLUDED
#define RENDER_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

/*
 * Returns s (borrowed; NULL reads as "") with each unsafe character written
 * C-style: "\n", "\t", "\r", "\e", "\xNN" for other bytes below 0x20, DEL
 * and bytes that are not UTF-8, "\uNNNN" for C1 controls and bidirectional
 * overrides.  Other text, backslashes included, is kept.  The caller frees
 * the result with free().
 */
char *render_text(const char *s);

/* Whether s (borrowed) holds a character render_text would escape. */
bool render_needs_escape(const char *s);

/*
 * Writes s (borrowed) to f as one word a POSIX shell reads back: as is when
 * it is made of safe characters only, in single quotes when it holds no
 * unsafe character, else in bash's $'...' quoting with the unsafe
 * characters, the backslash and the quote escaped.
 */
void render_shell_word(FILE *f, const char *s);

#endif /* RENDER_H_INCLUDED */
