/*
 * The integration test runner: every suite runs a real jobd (harness.h).
 * Adding a suite is one line in the declarations and one in the table.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>

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
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
