/*
 * The integration test runner: every suite runs a real jobd (harness.h).
 * Adding a suite is one line in the declarations and one in the table.
 * With JOBD_TEST_STORE=postgres the suites marked so run with every jobd
 * on a private PostgreSQL server (`make check` runs them both ways).
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
Suite *producer_node_suite(void);
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
Suite *nodeinfo_suite(void);
Suite *relay_suite(void);
Suite *talkback_suite(void);
Suite *labels_suite(void);
Suite *progress_suite(void);
Suite *human_suite(void);
Suite *hooks_suite(void);
Suite *bulk_suite(void);
Suite *retention_suite(void);
Suite *workflow_suite(void);

/* Every suite, and whether it also runs with every jobd on PostgreSQL
 * (JOBD_TEST_STORE=postgres): not those that read the SQLite file, nor
 * those whose requests of many thousand jobs (a statement and a round trip
 * per job on PostgreSQL, for now) outlast their tests' time. */
static const struct {
	Suite *(*make)(void);
	bool on_postgres;
} suites[] = {
	{basic_suite, true},	   {exec_suite, true},
	{producer_suite, true},	   {debug_suite, true},
	{durability_suite, false}, /* jobd.db */
	{regress_suite, true},	   {hostile_suite, true},
	{cli_suite, true},	   {usability_suite, true},
	{faults_suite, false}, /* a full disk under jobd.db */
	{protodoc_suite, true},	   {readme_suite, true},
	{safety_suite, true},	   {limits_suite, true},
	{slices_suite, false}, /* requests of 10,000 to 100,000 jobs */
	{rusage_suite, true},	   {rlimits_suite, true},
	{cgroups_suite, true},	   {pgfix_suite, false}, /* its own servers */
	{initdb_suite, false}, /* both stores, its own server */
	{nodeinfo_suite, true},	   {producer_node_suite, true},
	{relay_suite, false}, /* both stores, its own server */
	{talkback_suite, true},	   {labels_suite, true},
	{progress_suite, true},	   {human_suite, true},
	{hooks_suite, true},	   {bulk_suite, true},
	{retention_suite, true},   {workflow_suite, true},
};

/* The PostgreSQL server every jobd runs on with JOBD_TEST_STORE=postgres:
 * started and stopped by tests of their own, run in this process (the
 * fixture asserts, which Check takes only inside a test). */
static struct pgfix pg;
static bool pg_up;

START_TEST(pg_server_start)
{
	pg_up = pgfix_start(&pg) == 0;
	ck_assert_msg(pg_up, "JOBD_TEST_STORE=postgres: %s", pg.why);
}
END_TEST

START_TEST(pg_server_stop)
{
	pgfix_stop(&pg);
}
END_TEST

int
main(void)
{
	const char *store = getenv("JOBD_TEST_STORE");
	bool on_pg = store != NULL && strcmp(store, "postgres") == 0;

	signal(SIGPIPE, SIG_IGN);
	/* JOBD_TEST_STORE=postgres: every jobd runs on one server started
	 * here, each in a database of its own (harness.c). */
	if (on_pg) {
		if (!pgfix_run_here("postgres", pg_server_start))
			return EXIT_FAILURE;
		setenv("JOBD_TEST_PG", pgfix_conninfo(&pg), 1);
	}
	SRunner *sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (!on_pg || suites[i].on_postgres)
			srunner_add_suite(sr, suites[i].make());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (on_pg && !pgfix_run_here("postgres", pg_server_stop))
		failed++;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
