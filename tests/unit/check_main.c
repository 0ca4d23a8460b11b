/*
 * The unit test runner: every suite in one SRunner, forking (Check's
 * default), so a crash fails one test and not the run.  Adding a suite is
 * one line in the declarations and one in the table.
 */
#include <check.h>
#include <stdlib.h>

Suite *time_suite(void);
Suite *backoff_suite(void);
Suite *ratelimit_suite(void);
Suite *cron_suite(void);
Suite *jobspec_suite(void);
Suite *config_suite(void);
Suite *queue_conf_retention_suite(void);
Suite *sdnotify_suite(void);
Suite *coro_suite(void);
Suite *store_suite(void);
Suite *migrate_suite(void);
Suite *buf_suite(void);
Suite *jsonin_suite(void);
Suite *render_suite(void);
Suite *prom_suite(void);
Suite *utf8_suite(void);
Suite *progress_suite(void);
Suite *spawner_suite(void);
Suite *producer_spec_suite(void);
Suite *safedir_suite(void);
Suite *control_suite(void);
Suite *joblog_suite(void);
Suite *queue_suite(void);
Suite *events_suite(void);
Suite *submit_suite(void);
Suite *client_suite(void);
Suite *jobs_suite(void);
Suite *await_suite(void);
Suite *loop_suite(void);
Suite *diag_suite(void);
Suite *proto_suite(void);
Suite *cgroup_suite(void);
Suite *pgconn_suite(void);
Suite *pg_schema_suite(void);
Suite *store_pg_suite(void);
Suite *store_both_job_suite(void);
Suite *store_both_queue_suite(void);
Suite *store_both_json_suite(void);
Suite *store_both_dep_suite(void);
Suite *store_both_limits_suite(void);
Suite *store_both_producer_suite(void);
Suite *producer_fence_suite(void);
Suite *store_pg_node_suite(void);
Suite *store_both_node_suite(void);
Suite *relay_suite(void);
Suite *talkback_suite(void);
Suite *labels_suite(void);
Suite *queue_hooks_suite(void);

static Suite *(*const suites[])(void) = {
	time_suite,
	backoff_suite,
	ratelimit_suite,
	cron_suite,
	jobspec_suite,
	config_suite,
	queue_conf_retention_suite,
	sdnotify_suite,
	coro_suite,
	await_suite,
	loop_suite,
	store_suite,
	buf_suite,
	diag_suite,
	proto_suite,
	jsonin_suite,
	render_suite,
	prom_suite,
	utf8_suite,
	progress_suite,
	spawner_suite,
	producer_spec_suite,
	safedir_suite,
	control_suite,
	joblog_suite,
	queue_suite,
	events_suite,
	submit_suite,
	jobs_suite,
	client_suite,
	migrate_suite,
	cgroup_suite,
	pgconn_suite,
	pg_schema_suite,
	store_pg_suite,
	store_both_job_suite,
	store_both_queue_suite,
	store_both_json_suite,
	store_both_dep_suite,
	store_both_limits_suite,
	store_both_producer_suite,
	producer_fence_suite,
	store_pg_node_suite,
	store_both_node_suite,
	relay_suite,
	talkback_suite,
	labels_suite,
	queue_hooks_suite,
};

int
main(void)
{
	SRunner *sr;
	size_t i;
	int failed;

	sr = srunner_create(NULL);
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
