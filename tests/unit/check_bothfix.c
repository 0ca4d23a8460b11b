/*
 * bothfix: one store scenario per backend (bothfix.h).
 */
#include "bothfix.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../integration/pgfix.h"
#include "diag.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"

static struct pgfix srv;
static bool srv_up;
static int ndb;

void
bothfix_server_setup(void)
{
	srv_up = pgfix_start(&srv) == 0;
}

void
bothfix_server_teardown(void)
{
	if (srv_up)
		pgfix_stop(&srv);
	srv_up = false;
}

struct run {
	int backend;
	char where[PATH_MAX + 256]; /* the file, or the conninfo */
	bool opened;
	char why[512];
	coro_fn fn;
	void *arg;
};

static struct run *cur;

int
bothfix_backend(void)
{
	return cur->backend;
}

const char *
bothfix_conninfo(void)
{
	return cur->backend == BOTHFIX_POSTGRES ? cur->where : NULL;
}

static void
run_f(void *arg)
{
	struct run *r = arg;
	int rc = r->backend == BOTHFIX_SQLITE ? store_open(r->where, false)
					      : store_open_pg(r->where);

	if (rc != 0) {
		snprintf(r->why, sizeof(r->why), "%s", diag_msg());
		return;
	}
	/* The node the claims are made by (nothing under SQLite). */
	if (store_node_register(BOTHFIX_NODE, BOTHFIX_INSTANCE, 60) != 0 ||
	    store_sync() != 0) {
		snprintf(r->why, sizeof(r->why), "%s", diag_msg());
		store_close();
		return;
	}
	r->opened = true;
	r->fn(r->arg);
	store_close();
}

bool
bothfix_run(const char *test, int backend, coro_fn fn, void *arg)
{
	struct run r = {.backend = backend, .fn = fn, .arg = arg};
	char dir[PATH_MAX] = "";

	if (backend == BOTHFIX_POSTGRES) {
		char name[32];

		if (!srv_up) {
			fprintf(stderr, "%s: skipped: %s\n", test, srv.why);
			return false;
		}
		snprintf(name, sizeof(name), "b%d_%d", (int)getpid(), ++ndb);
		ck_assert_msg(pgfix_createdb(&srv, name) == 0, "%s", srv.why);
		snprintf(r.where, sizeof(r.where), "%s dbname=%s",
			 pgfix_conninfo(&srv), name);
	} else {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/jobd-unit-XXXXXX",
			 t != NULL ? t : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(dir));
		snprintf(r.where, sizeof(r.where), "%s/jobd.db", dir);
	}
	log_set_level(LOG_LEVEL_WARNING);
	store_fail_next_commit = false;
	loopfix_setup();
	loop_add_flush(store_flush, NULL, "store.commit");
	cur = &r;
	loopfix_run(run_f, &r);
	cur = NULL;
	loopfix_teardown();
	if (dir[0] != '\0') {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_msg(r.opened, "%s: the store did not open: %s",
		      backend == BOTHFIX_SQLITE ? "sqlite" : "postgres", r.why);
	return true;
}
