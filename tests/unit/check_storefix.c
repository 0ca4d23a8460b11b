/*
 * storefix: a loop and a store on a temp-dir SQLite file (storefix.h).
 */
#include "storefix.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "loop.h"
#include "loopfix.h"
#include "store.h"

static char dir[PATH_MAX];
static char db[PATH_MAX + 32];

void
storefix_setup(void)
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

const char *
storefix_db_path(void)
{
	return db;
}
