#include <check.h>
#include "scenarios.h"
void
cl_failover_tests(TCase *ready, TCase *pending)
{
	(void)ready;
	(void)pending;
}
