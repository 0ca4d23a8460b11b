#include <check.h>
#include "scenarios.h"
void
cl_limits_tests(TCase *ready, TCase *pending)
{
	(void)ready;
	(void)pending;
}
