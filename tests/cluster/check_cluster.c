/*
 * The cluster test runner: the scenarios of SCALEOUT 13 against three jobd
 * nodes on one PostgreSQL database (cluster.h).  It makes the network
 * namespaces (as root, with ip(8)) and starts the one server, in tests of
 * their own run in this process, then runs every suite; each scenario
 * makes its own database and nodes.
 *
 * Each file registers its scenarios in one test case, run by every `make
 * check`.  JOBD_CLUSTER_ONLY=NAME,... runs only the scenarios named.
 * Without PostgreSQL the runner says so and passes.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "pgfix.h"
#include "scenarios.h"

static char why[512];
static bool pg_missing;

START_TEST(cluster_setup)
{
	char nwhy[256];
	if (!cl_net_setup(nwhy, sizeof(nwhy)))
		fprintf(stderr,
			"cluster: nodes share the host's network (%s): the "
			"partition scenarios will be skipped\n",
			nwhy);
	pg_missing = cl_server_start(why, sizeof(why)) != 0;
}
END_TEST

START_TEST(cluster_teardown)
{
	cl_server_stop();
}
END_TEST

void
cl_add(TCase *tc, const TTest *t)
{
	const char *only = getenv("JOBD_CLUSTER_ONLY");
	size_t n = strlen(t->name);
	if (only != NULL && *only != '\0') {
		const char *p = only;
		while ((p = strstr(p, t->name)) != NULL &&
		       !((p == only || p[-1] == ',') &&
			 (p[n] == '\0' || p[n] == ',')))
			p += n;
		if (p == NULL)
			return;
	}
	tcase_add_test(tc, t);
}

/* The suite of one file: its scenarios. */
static Suite *
suite_of(const char *name, void (*reg)(TCase *tc))
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("scenarios");
	/* A scenario stays well under 30 s (but A8's minute boundary); the
	 * bound catches a hang. */
	tcase_set_timeout(tc, 90);
	reg(tc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!pgfix_run_here("cluster-server", cluster_setup))
		return EXIT_FAILURE;
	if (pg_missing) {
		fprintf(stderr, "cluster: skipped: %s\n", why);
		return EXIT_SUCCESS;
	}
	SRunner *sr = srunner_create(NULL);
	srunner_add_suite(sr, suite_of("harness", cl_harness_tests));
	srunner_add_suite(sr, suite_of("failover", cl_failover_tests));
	srunner_add_suite(sr, suite_of("limits", cl_limits_tests));
	srunner_add_suite(sr, suite_of("events", cl_events_tests));
	srunner_add_suite(sr, suite_of("retention", cl_retention_tests));
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!pgfix_run_here("cluster-server", cluster_teardown))
		failed++;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
