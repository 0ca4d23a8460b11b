/*
 * fuzz_utf8: utf8_repair() and utf8_whole() on any bytes.  Checks the
 * contract of utf8.h against an independent validator (jansson's, through
 * json_stringn): the repair is valid UTF-8, between n and 3 n bytes, keeps
 * valid text unchanged and is idempotent; the cut point holds back at most
 * three bytes and, on valid text, falls on the last character boundary.
 */
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "fuzz.h"
#include "utf8.h"

/* True when p[0..n) is valid UTF-8 (NUL bytes allowed), by jansson. */
static int
valid(const char *p, size_t n)
{
	json_t *s = json_stringn(n ? p : "", n);
	int ok = s != NULL;
	json_decref(s);
	return ok;
}

/* The last character boundary of valid text p at or before m. */
static size_t
boundary(const char *p, size_t m)
{
	while (m > 0 && ((unsigned char)p[m] & 0xC0) == 0x80)
		m--;
	return m;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct buf once = BUF_INIT, twice = BUF_INIT;

	utf8_repair(&once, p, size);
	FUZZ_CHECK(once.len >= size && once.len <= 3 * size);
	FUZZ_CHECK(valid(once.data, once.len));
	if (valid(p, size))
		FUZZ_CHECK(once.len == size &&
			   (size == 0 || memcmp(once.data, p, size) == 0));
	utf8_repair(&twice, once.data, once.len);
	FUZZ_CHECK(twice.len == once.len);
	FUZZ_CHECK(once.len == 0 ||
		   memcmp(twice.data, once.data, once.len) == 0);

	size_t k = utf8_whole(p, size);
	FUZZ_CHECK(k <= size && k + 3 >= size);
	/* Every cut of the repaired (valid) text. */
	for (size_t m = 0; m <= once.len && m < 64; m++) {
		size_t w = utf8_whole(once.data, m);
		FUZZ_CHECK(w == (m == once.len ? m : boundary(once.data, m)));
		FUZZ_CHECK(valid(once.data, w));
	}
	json_t *s = utf8_string(p, size);
	FUZZ_CHECK(s != NULL && json_string_length(s) == once.len);
	json_decref(s);
	buf_release(&once);
	buf_release(&twice);
	return 0;
}
