/*
 * buf: a growable byte buffer, always NUL-terminated so its data can be read
 * as a string.  The struct is public so buffers live on stacks and in
 * structs; `struct buf b = BUF_INIT;` is an empty buffer.
 */
#ifndef BUF_H_INCLUDED
#define BUF_H_INCLUDED

#include <stddef.h>

struct buf {
	char *data; /* owned; NULL until the first append */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap; /* bytes allocated */
};

/* A braced list, not a block: */
/* clang-format off */
#define BUF_INIT {NULL, 0, 0}
/* clang-format on */

/* Makes room for n more bytes. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Hands the data (NUL-terminated) to the caller, who frees it. */
char *buf_detach(struct buf *b);
/* Returns a pointer to the data, "" when empty; borrowed. */
const char *buf_str(const struct buf *b);

#endif /* BUF_H_INCLUDED */
