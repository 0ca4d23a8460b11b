/*
 * utf8: bytes that ought to be UTF-8 (a job's output) made into text that
 * a JSON string can carry.  Pure: no loop, no store, no diag; it allocates
 * only through buf and jansson.
 */
#ifndef UTF8_H_INCLUDED
#define UTF8_H_INCLUDED

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Length of the longest prefix of p[0..n) (borrowed) that does not end
 * inside a UTF-8 sequence: when the last lead byte of the last four bytes
 * announces more continuation bytes than follow it, the prefix stops before
 * that lead byte, so a character cut by a read window is left whole for the
 * next read.  Otherwise n.  The result is at least n - 3 (never more than
 * three bytes are held back) and, for a valid UTF-8 text cut anywhere, the
 * last character boundary at or before the cut. */
size_t utf8_whole(const char *p, size_t n);

/* Appends p[0..n) (borrowed; may hold NUL bytes) to b as valid UTF-8: each
 * well-formed sequence is copied as it is, and each byte that does not
 * start one (a stray continuation byte, a truncated sequence, an overlong
 * form, a surrogate, a code point above U+10FFFF, a byte 0xF5-0xFF) is
 * replaced by U+FFFD (EF BF BD).  Appends between n and 3 n bytes; a valid
 * text is appended unchanged, so repairing twice is repairing once. */
void utf8_repair(struct buf *b, const char *p, size_t n);

/* A JSON string (new reference) of p[0..n) repaired as utf8_repair()
 * does. */
json_t *utf8_string(const char *p, size_t n);

#endif /* UTF8_H_INCLUDED */
