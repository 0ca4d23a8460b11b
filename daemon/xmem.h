/*
 * Allocators that never return NULL: out of memory is not an error jobd can
 * handle, so they log and abort.  Size arithmetic is checked for overflow.
 */
#ifndef XMEM_H_INCLUDED
#define XMEM_H_INCLUDED

#include <stddef.h>

/* Each returns memory the caller frees with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array of nmemb elements of size bytes; aborts on overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* XMEM_H_INCLUDED */
