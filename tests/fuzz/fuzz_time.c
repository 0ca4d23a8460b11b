/*
 * fuzz_time: the parsers of include/jobd/time.h on any text.  The first
 * byte picks the parser; the rest is the string.  Checks what the header
 * promises: a parsed time formats back to a string that parses to the same
 * instant, a duration is finite and not negative, a size is not negative
 * and fits, and a failure leaves errno EINVAL and the output untouched.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "jobd/time.h"

static void
check_time(const char *s)
{
	int64_t ms = 42, again = 0;
	char out[JOBD_TIME_LEN];

	errno = 0;
	if (jobd_time_parse(s, &ms) != 0) {
		FUZZ_CHECK(errno == EINVAL && ms == 42);
		return;
	}
	jobd_time_format(ms, out);
	FUZZ_CHECK(strlen(out) < JOBD_TIME_LEN);
	/* Years 0000-9999 come back in the same form; an offset can move an
	 * instant just outside them. */
	if (out[0] >= '0' && out[0] <= '9' && strlen(out) == 24) {
		FUZZ_CHECK(jobd_time_parse(out, &again) == 0);
		FUZZ_CHECK(again == ms);
	}
}

static void
check_duration(const char *s)
{
	double secs = 42;

	errno = 0;
	if (jobd_duration_parse(s, &secs) != 0) {
		FUZZ_CHECK(errno == EINVAL && secs == 42);
		return;
	}
	FUZZ_CHECK(isfinite(secs) && secs >= 0);
}

static void
check_size(const char *s)
{
	int64_t bytes = 42;

	errno = 0;
	if (jobd_size_parse(s, &bytes) != 0) {
		FUZZ_CHECK(errno == EINVAL && bytes == 42);
		return;
	}
	FUZZ_CHECK(bytes >= 0);
}

/* Any instant formats into the room the header promises. */
static void
check_format(const uint8_t *data, size_t size)
{
	int64_t ms = 0;
	char out[JOBD_TIME_LEN + 8];

	memcpy(&ms, data, size < sizeof(ms) ? size : sizeof(ms));
	memset(out, 'x', sizeof(out));
	jobd_time_format(ms, out);
	FUZZ_CHECK(memchr(out, '\0', JOBD_TIME_LEN) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		check_time(s);
		break;
	case 1:
		check_duration(s);
		break;
	case 2:
		check_size(s);
		break;
	default:
		check_format(data + 1, size - 1);
		break;
	}
	free(s);
	return 0;
}
