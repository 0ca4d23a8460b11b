/*
 * storefix: a loop and a store on a temp-dir SQLite file (storefix.h).
 */
#include "storefix.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "events.h"
#include "jobspec.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"
#include "queue.h"
#include "store.h"
#include "submit.h"

static char dir[PATH_MAX];
static char db[PATH_MAX + 32];

void
storefix_setup(void)
{
	storefix_setup_from(NULL, NULL);
}

void
storefix_setup_from(storefix_prepare_fn prepare, void *arg)
{
	const char *t = getenv("TMPDIR");

	log_set_level(LOG_LEVEL_WARNING);
	diag_clear();
	loopfix_reset();
	store_fail_next_commit = false;
	loop_init();
	snprintf(dir, sizeof(dir), "%s/jobd-unit-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/jobd.db", dir);
	if (prepare != NULL)
		prepare(db, arg);
	ck_assert_msg(store_open(db, false) == 0, "%s", diag_msg());
}

void
storefix_teardown(void)
{
	char p[PATH_MAX + 64];

	store_close();
	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
	rmdir(dir);
	loopfix_teardown();
}

static struct config engine_conf;

void
storefix_engine_setup(void)
{
	storefix_setup();
	storefix_engine_start();
}

void
storefix_engine_start(void)
{
	memset(&events_totals, 0, sizeof(events_totals));
	loop_add_flush(store_flush, NULL, "store.commit");
	events_init();
	config_init(&engine_conf);
	ck_assert_msg(queue_init(&engine_conf) == 0, "%s", diag_msg());
	ck_assert_int_eq(store_commit_now(), 0);
}

void
storefix_engine_teardown(void)
{
	queue_shutdown();
	events_shutdown();
	config_destroy(&engine_conf);
	storefix_teardown();
}

const char *
storefix_db_path(void)
{
	return db;
}

void
storefix_req_parse(struct storefix_req *r, const char *text)
{
	json_error_t err;
	json_t *arr = json_loads(text, 0, &err);

	ck_assert_msg(json_is_array(arr), "%s", err.text);
	r->n = json_array_size(arr);
	r->specs = calloc(r->n, sizeof(*r->specs));
	r->out = calloc(r->n, sizeof(*r->out));
	for (size_t i = 0; i < r->n; i++) {
		jobspec_init(&r->specs[i]);
		ck_assert_msg(jobspec_parse(json_array_get(arr, i),
					    &r->specs[i]) == 0,
			      "%s", diag_msg());
	}
	json_decref(arr);
}

void
storefix_req_destroy(struct storefix_req *r)
{
	for (size_t i = 0; i < r->n; i++)
		jobspec_destroy(&r->specs[i]);
	free(r->specs);
	free(r->out);
}

int
storefix_submit(const char *text, uid_t uid, int64_t *ids, bool *dups)
{
	struct storefix_req r;
	int rc;

	storefix_req_parse(&r, text);
	diag_clear();
	rc = submit_jobs(r.specs, r.n, uid, "jobs", r.out, false);
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		if (ids != NULL)
			ids[i] = r.out[i].id;
		if (dups != NULL)
			dups[i] = r.out[i].duplicate;
	}
	storefix_req_destroy(&r);
	return rc;
}
