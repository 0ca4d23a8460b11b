/*
 * jsonin: parsing JSON that comes from outside (requests, generator lines,
 * config templates) with its nesting bounded before jansson sees it.
 *
 * jansson parses and encodes recursively, so a value nested a few hundred
 * deep costs that many stack frames — on a coroutine's stack, enough to
 * overflow it.  Nothing jobd takes needs more than a few levels, so the
 * depth is checked with a flat scan first.  Pure: no loop, no store.
 */
#ifndef JSONIN_H_INCLUDED
#define JSONIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Deepest nesting of arrays and objects accepted: a request object is
 * level 1, its `jobs` array 2, a spec 3, its `env` or `backoff` 4. */
#define JSONIN_MAX_DEPTH 32

/* True when the arrays and objects of the JSON text p[0..n) nest no
 * deeper than max.  Brackets inside strings do not count.  The text need
 * not be valid JSON (the parser decides that). */
bool jsonin_depth_ok(const char *p, size_t n, int max);

/* json_loadb(p, n, flags, err) after a depth check against
 * JSONIN_MAX_DEPTH: NULL with err->text "nested too deeply (more than 32
 * levels)" when it fails.  Returns a new reference. */
json_t *jsonin_loadb(const char *p, size_t n, size_t flags, json_error_t *err);

#endif /* JSONIN_H_INCLUDED */
