/*
 * The integration test runner: every suite runs a real jobd (harness.h).
 * Adding a suite is one line in the declarations and one in the table.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgfix.h"

Suite *basic_suite(void);
Suite *exec_suite(void);
Suite *producer_suite(void);
Suite *debug_suite(void);
Suite *durability_suite(void);
Suite *regress_suite(void);
Suite *hostile_suite(void);
Suite *cli_suite(void);
Suite *usability_suite(void);
Suite *faults_suite(void);
Suite *protodoc_suite(void);
Suite *readme_suite(void);
Suite *safety_suite(void);
Suite *limits_suite(void);
Suite *slices_suite(void);
Suite *rusage_suite(void);
Suite *rlimits_suite(void);
Suite *cgroups_suite(void);
Suite *pgfix_suite(void);
Suite *initdb_suite(void);

static Suite *(*const suites[])(void) = {
	basic_suite,	  exec_suite,	 producer_suite, debug_suite,
	durability_suite, regress_suite, hostile_suite,	 cli_suite,
	usability_suite,  faults_suite,	 protodoc_suite, readme_suite,
	safety_suite,	  limits_suite,	 slices_suite,	 rusage_suite,
	rlimits_suite,	  cgroups_suite, pgfix_suite,	 initdb_suite,
};

int
main(void)
{
	const char *store = getenv("JOBD_TEST_STORE");
	struct pgfix pg;
	bool on_pg = store != NULL && strcmp(store, "postgres") == 0;

	signal(SIGPIPE, SIG_IGN);
	/* JOBD_TEST_STORE=postgres: every jobd runs on one server started
	 * here, each in a database of its own (harness.c). */
	if (on_pg) {
		if (pgfix_start(&pg) != 0) {
			fprintf(stderr, "JOBD_TEST_STORE=postgres: %s\n",
				pg.why);
			return EXIT_FAILURE;
		}
		setenv("JOBD_TEST_PG", pgfix_conninfo(&pg), 1);
	}
	SRunner *sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (on_pg)
		pgfix_stop(&pg);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
