/*
 * prom_suite: the Prometheus text of `jobctl stats --prometheus`
 * (jobctl/prom.c), held to the exact text for given stats and queues:
 * every state counted (zeros too), milliseconds as seconds, metrics jobd
 * did not send left out, label values escaped, no queue metrics without
 * queues.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jobctl/prom.h"

Suite *prom_suite(void);

/* What prom_write wrote for stats and queues (JSON texts; queues may be
 * NULL).  The caller frees it. */
static char *
prom_text(const char *stats, const char *queues)
{
	json_t *st = json_loads(stats, 0, NULL);
	json_t *ql = queues != NULL ? json_loads(queues, 0, NULL) : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(st);
	ck_assert(queues == NULL || ql != NULL);
	ck_assert_ptr_nonnull(f);
	prom_write(f, st, ql);
	ck_assert_int_eq(fclose(f), 0);
	json_decref(st);
	json_decref(ql);
	return buf;
}

static const char full_stats[] =
	"{\"version\": \"0.1.0\", \"pid\": 42, \"uptime\": 3.5,"
	" \"connections\": 2, \"rss_bytes\": 1048576,"
	" \"jobs\": {\"queued\": 2, \"running\": 1, \"succeeded\": 10,"
	" \"archived\": 4},"
	" \"totals\": {\"submitted\": 13, \"started\": 11, \"failed\": 0},"
	" \"loop\": {\"iterations\": 1000, \"lag_max_ms\": 2.5,"
	" \"slow_callbacks\": 3, \"slowest_ms\": 120},"
	" \"db\": {\"path\": \"/var/lib/jobd/jobd.db\", \"size_bytes\": 4096,"
	" \"wal_bytes\": 0}}";

static const char full_queues[] =
	"[{\"name\": \"default\", \"concurrency\": 4, \"paused\": false,"
	" \"counts\": {\"waiting\": 1, \"scheduled\": 2, \"queued\": 3,"
	" \"running\": 4, \"succeeded\": 9}},"
	" {\"name\": \"we\\\"ird\\\\q\\nx\", \"concurrency\": 1,"
	" \"paused\": true, \"counts\": {}}]";

static const char full_text[] =
	"# HELP jobd_info The daemon's version.\n"
	"# TYPE jobd_info gauge\n"
	"jobd_info{version=\"0.1.0\"} 1\n"
	"# HELP jobd_jobs Jobs in each state now.\n"
	"# TYPE jobd_jobs gauge\n"
	"jobd_jobs{state=\"waiting\"} 0\n"
	"jobd_jobs{state=\"scheduled\"} 0\n"
	"jobd_jobs{state=\"queued\"} 2\n"
	"jobd_jobs{state=\"running\"} 1\n"
	"jobd_jobs{state=\"succeeded\"} 10\n"
	"jobd_jobs{state=\"failed\"} 0\n"
	"jobd_jobs{state=\"cancelled\"} 0\n"
	"jobd_jobs{state=\"archived\"} 4\n"
	"# HELP jobd_jobs_total Jobs and attempts counted since the daemon "
	"started, by result.\n"
	"# TYPE jobd_jobs_total counter\n"
	"jobd_jobs_total{result=\"submitted\"} 13\n"
	"jobd_jobs_total{result=\"started\"} 11\n"
	"jobd_jobs_total{result=\"failed\"} 0\n"
	"# HELP jobd_connections Client connections open now.\n"
	"# TYPE jobd_connections gauge\n"
	"jobd_connections 2\n"
	"# HELP jobd_loop_iterations_total Event loop iterations since the "
	"daemon started.\n"
	"# TYPE jobd_loop_iterations_total counter\n"
	"jobd_loop_iterations_total 1000\n"
	"# HELP jobd_loop_lag_max_seconds Longest time the event loop went "
	"without polling.\n"
	"# TYPE jobd_loop_lag_max_seconds gauge\n"
	"jobd_loop_lag_max_seconds 0.0025\n"
	"# HELP jobd_loop_slow_callbacks_total Callbacks and coroutine steps "
	"slower than slow_callback_ms.\n"
	"# TYPE jobd_loop_slow_callbacks_total counter\n"
	"jobd_loop_slow_callbacks_total 3\n"
	"# HELP jobd_loop_slowest_seconds Slowest callback or coroutine "
	"step.\n"
	"# TYPE jobd_loop_slowest_seconds gauge\n"
	"jobd_loop_slowest_seconds 0.12\n"
	"# HELP jobd_uptime_seconds Seconds since the daemon started.\n"
	"# TYPE jobd_uptime_seconds gauge\n"
	"jobd_uptime_seconds 3.5\n"
	"# HELP jobd_rss_bytes Resident memory of the daemon, in bytes.\n"
	"# TYPE jobd_rss_bytes gauge\n"
	"jobd_rss_bytes 1048576\n"
	"# HELP jobd_db_size_bytes Size of the database file, in bytes.\n"
	"# TYPE jobd_db_size_bytes gauge\n"
	"jobd_db_size_bytes 4096\n"
	"# HELP jobd_db_wal_bytes Size of the database's write-ahead log, in "
	"bytes.\n"
	"# TYPE jobd_db_wal_bytes gauge\n"
	"jobd_db_wal_bytes 0\n"
	"# HELP jobd_queue_running Jobs running in each queue.\n"
	"# TYPE jobd_queue_running gauge\n"
	"jobd_queue_running{queue=\"default\"} 4\n"
	"jobd_queue_running{queue=\"we\\\"ird\\\\q\\nx\"} 0\n"
	"# HELP jobd_queue_pending Jobs waiting, scheduled or queued in each "
	"queue.\n"
	"# TYPE jobd_queue_pending gauge\n"
	"jobd_queue_pending{queue=\"default\"} 6\n"
	"jobd_queue_pending{queue=\"we\\\"ird\\\\q\\nx\"} 0\n"
	"# HELP jobd_queue_concurrency Most jobs each queue runs at once.\n"
	"# TYPE jobd_queue_concurrency gauge\n"
	"jobd_queue_concurrency{queue=\"default\"} 4\n"
	"jobd_queue_concurrency{queue=\"we\\\"ird\\\\q\\nx\"} 1\n"
	"# HELP jobd_queue_paused 1 when the queue is paused, else 0.\n"
	"# TYPE jobd_queue_paused gauge\n"
	"jobd_queue_paused{queue=\"default\"} 0\n"
	"jobd_queue_paused{queue=\"we\\\"ird\\\\q\\nx\"} 1\n";

START_TEST(prom_full_text)
{
	char *out = prom_text(full_stats, full_queues);

	ck_assert_str_eq(out, full_text);
	free(out);
}
END_TEST

/* No version, no totals, no loop or db, no queues: only what was sent,
 * and every state still counted. */
START_TEST(prom_sparse_text)
{
	char *out =
		prom_text("{\"jobs\": {\"failed\": 1}, \"uptime\": 60}", "[]");

	ck_assert_str_eq(out, "# HELP jobd_jobs Jobs in each state now.\n"
			      "# TYPE jobd_jobs gauge\n"
			      "jobd_jobs{state=\"waiting\"} 0\n"
			      "jobd_jobs{state=\"scheduled\"} 0\n"
			      "jobd_jobs{state=\"queued\"} 0\n"
			      "jobd_jobs{state=\"running\"} 0\n"
			      "jobd_jobs{state=\"succeeded\"} 0\n"
			      "jobd_jobs{state=\"failed\"} 1\n"
			      "jobd_jobs{state=\"cancelled\"} 0\n"
			      "# HELP jobd_uptime_seconds Seconds since the "
			      "daemon started.\n"
			      "# TYPE jobd_uptime_seconds gauge\n"
			      "jobd_uptime_seconds 60\n");
	free(out);
}
END_TEST

/* A version with a quote and a backslash; queues NULL. */
START_TEST(prom_escapes_version)
{
	char *out = prom_text("{\"version\": \"1\\\"2\\\\3\"}", NULL);

	ck_assert_ptr_nonnull(strstr(out, "jobd_info{version=\"1\\\"2\\\\3\"} "
					  "1\n"));
	ck_assert_ptr_null(strstr(out, "jobd_queue_"));
	free(out);
}
END_TEST

Suite *
prom_suite(void)
{
	Suite *s = suite_create("prom");
	TCase *tc = tcase_create("text");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, prom_full_text);
	tcase_add_test(tc, prom_sparse_text);
	tcase_add_test(tc, prom_escapes_version);
	suite_add_tcase(s, tc);
	return s;
}
