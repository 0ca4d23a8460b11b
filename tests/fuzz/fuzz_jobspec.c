/*
 * fuzz_jobspec: jobspec_parse() on JSON read from the input.  An object is
 * parsed as a job spec; an array of two objects is laid one over the other
 * with jobspec_overlay() first, as a producer does with a generated line.
 * A refusal must be E_INVAL naming a field; an accepted spec must hold what
 * jobspec.h promises (a command, a valid queue, an absolute cwd, values in
 * range), and jobspec_destroy() must be safe to call twice.
 */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "diag.h"
#include "fuzz.h"
#include "jobspec.h"

static void
check_spec(const json_t *obj)
{
	struct jobspec s;

	jobspec_init(&s);
	diag_clear();
	if (jobspec_parse(obj, &s) != 0) {
		FUZZ_CHECK(diag_code() == E_INVAL && diag_msg()[0] != '\0');
	} else {
		FUZZ_CHECK((s.argv != NULL) != (s.shell != NULL));
		FUZZ_CHECK(s.argv == NULL || (json_is_array(s.argv) &&
					      json_array_size(s.argv) > 0));
		FUZZ_CHECK(s.shell == NULL || s.shell[0] != '\0');
		FUZZ_CHECK(s.queue && jobspec_queue_name_valid(s.queue));
		FUZZ_CHECK(s.cwd && s.cwd[0] == '/');
		FUZZ_CHECK(s.priority >= -1000 && s.priority <= 1000);
		FUZZ_CHECK(!s.has_delay || (isfinite(s.delay) && s.delay >= 0 &&
					    s.delay <= JOBSPEC_MAX_SECONDS));
		FUZZ_CHECK(s.timeout < 0 || s.timeout <= JOBSPEC_MAX_SECONDS);
		FUZZ_CHECK(s.kill_grace < 0 ||
			   s.kill_grace <= JOBSPEC_MAX_SECONDS);
		FUZZ_CHECK(s.max_attempts >= 0);
		FUZZ_CHECK(s.ndeps <= JOBSPEC_MAX_DEPS);
		FUZZ_CHECK(s.ndeps == 0 || s.depends_on != NULL);
		FUZZ_CHECK(s.name == NULL ||
			   strlen(s.name) <= JOBSPEC_MAX_TEXT);
		FUZZ_CHECK(s.unique_key == NULL ||
			   strlen(s.unique_key) <= JOBSPEC_MAX_TEXT);
		FUZZ_CHECK(s.env == NULL || json_is_object(s.env));
		FUZZ_CHECK(s.output == JOBSPEC_OUTPUT_CAPTURE ||
			   s.output == JOBSPEC_OUTPUT_DISCARD);
	}
	jobspec_destroy(&s);
	jobspec_destroy(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size,
			       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	if (v == NULL)
		return 0;
	if (json_is_array(v) && json_array_size(v) == 2) {
		json_t *o = jobspec_overlay(json_array_get(v, 0),
					    json_array_get(v, 1));
		FUZZ_CHECK(json_is_object(o));
		check_spec(o);
		json_decref(o);
	} else {
		check_spec(v);
	}
	json_decref(v);
	return 0;
}
