/*
 * jobd --init-db: it makes the state directory and the database's schema
 * as a start does and exits; run again it changes nothing; a bad config
 * is exit 78, a database it cannot use exit 1 with the reason; it leaves a
 * running jobd alone; a jobd started afterwards serves.  With store =
 * postgres it makes the schema in the database; a reload keeps the
 * store's keys as they were at start.  The SQLite schema is read with the
 * sqlite3 shell.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "pgfix.h"

Suite *initdb_suite(void);

#define EXIT_CONFIG 78
#define BASE_CONF "; initdb_suite\n[daemon]\nshutdown_timeout = 1\n"

static struct jd D;

/* Runs jobd -c -s -d of d with extra (NULL-terminated, at most 4) to its
 * end; returns its status, and *err (caller frees) its stderr. */
static int
run_jobd(struct jd *d, const char *const *extra, char **err)
{
	const char *args[16] = {"-c", d->conf, "-s", d->sock, "-d", d->state};
	size_t n = 6;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	char *errpath = jd_path(d, "run.err");
	int rc = jd_run_jobd(args, errpath, 20);
	*err = jd_slurp(errpath);
	if (*err == NULL)
		*err = strdup("");
	free(errpath);
	return rc;
}

static int
init_db(struct jd *d, char **err)
{
	static const char *const extra[] = {"--init-db", NULL};
	return run_jobd(d, extra, err);
}

/* What the sqlite3 shell prints for sql on d's database (caller frees);
 * fails the test when the shell fails. */
static char *
sqlite3_shell(const struct jd *d, const char *sql)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/jobd.db' '%s' 2>&1", d->state,
		 sql);
	FILE *p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	char out[16384] = "";
	size_t got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	ck_assert_msg(pclose(p) == 0, "%s: %s", cmd, out);
	return strdup(out);
}

/* A fresh state directory gets the schema of a normal start (its version
 * and its tables and indexes); a second run leaves the file as it was;
 * a jobd started afterwards serves. */
START_TEST(initdb_fresh_then_again_then_start)
{
	struct jd a, b;
	jd_init(&a, BASE_CONF);
	jd_guard(a.dir);
	char *err;
	ck_assert(!jd_exists(a.state));
	int rc = init_db(&a, &err);
	ck_assert_msg(rc == 0, "status %d: %s", rc, err);
	free(err);
	char *db = jd_path(&a, "state/jobd.db");
	ck_assert(jd_exists(db));
	ck_assert_msg(!jd_exists(a.sock), "--init-db made a socket");
	char *version = sqlite3_shell(&a, "PRAGMA user_version;");
	char *schema = sqlite3_shell(&a, ".schema");

	/* What a normal start leaves, in another directory. */
	jd_init(&b, BASE_CONF);
	jd_guard(b.dir);
	jd_start(&b, NULL);
	ck_assert_int_eq(jd_stop(&b), 0);
	char *want_version = sqlite3_shell(&b, "PRAGMA user_version;");
	char *want_schema = sqlite3_shell(&b, ".schema");
	ck_assert_int_gt(atoi(want_version), 0);
	ck_assert_str_eq(version, want_version);
	ck_assert_str_eq(schema, want_schema);
	jd_free(&b);

	/* Again: nothing changes, not a byte. */
	char *before = jd_slurp(db);
	off_t size = jd_file_size(db);
	ck_assert_ptr_nonnull(before);
	rc = init_db(&a, &err);
	ck_assert_msg(rc == 0, "second run: status %d: %s", rc, err);
	free(err);
	char *after = jd_slurp(db);
	ck_assert_int_eq(jd_file_size(db), size);
	ck_assert_msg(memcmp(before, after, (size_t)size) == 0,
		      "a second --init-db changed the database");
	free(before);
	free(after);

	/* A jobd started on it serves. */
	jd_start(&a, NULL);
	int64_t id = jd_submit(&a, json_pack("{s:[s]}", "argv", "true"));
	json_t *j = jd_wait(&a, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	ck_assert_int_eq(jd_stop(&a), 0);
	free(version);
	free(schema);
	free(want_version);
	free(want_schema);
	free(db);
	jd_free(&a);
}
END_TEST

/* A bad config: exit 78 with the file, line and reason, and nothing
 * made. */
START_TEST(initdb_bad_config)
{
	struct jd t;
	jd_init(&t, "[daemon]\nstore = mysql\n");
	jd_guard(t.dir);
	char *err;
	int rc = init_db(&t, &err);
	char where[400];
	snprintf(where, sizeof(where),
		 "%s:2: store: must be sqlite or postgres", t.conf);
	ck_assert_msg(rc == EXIT_CONFIG, "status %d: %s", rc, err);
	ck_assert_msg(strstr(err, where) != NULL, "stderr lacks %s: %s", where,
		      err);
	ck_assert_msg(!jd_exists(t.state), "a bad config made %s", t.state);
	free(err);
	jd_free(&t);
}
END_TEST

/* A database a newer jobd migrated: exit 1 naming its version, and the
 * version is left as it was.  A state directory that cannot be made:
 * exit 1 with the reason. */
START_TEST(initdb_database_refuses)
{
	struct jd t;
	jd_init(&t, BASE_CONF);
	jd_guard(t.dir);
	char *err;
	ck_assert_int_eq(init_db(&t, &err), 0);
	free(err);
	free(sqlite3_shell(&t, "PRAGMA user_version = 99;"));
	int rc = init_db(&t, &err);
	ck_assert_msg(rc == 1, "status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "jobd: --init-db: ") &&
			      strstr(err, "schema 99 is newer than this jobd"),
		      "stderr: %s", err);
	free(err);
	char *v = sqlite3_shell(&t, "PRAGMA user_version;");
	ck_assert_str_eq(v, "99\n");
	free(v);

	/* Below a regular file, no directory can be made. */
	char *file = jd_path(&t, "jobd.conf");
	char state[600];
	snprintf(state, sizeof(state), "%s/state", file);
	const char *const args[] = {"-c",  t.conf,	"-d",
				    state, "--init-db", NULL};
	char *errpath = jd_path(&t, "run.err");
	rc = jd_run_jobd(args, errpath, 20);
	err = jd_slurp(errpath);
	ck_assert_msg(rc == 1, "status %d: %s", rc, err ? err : "");
	ck_assert_msg(err && strstr(err, "cannot create state directory") &&
			      strstr(err, "Not a directory"),
		      "stderr: %s", err ? err : "");
	free(err);
	free(errpath);
	free(file);
	jd_free(&t);
}
END_TEST

/* While a jobd runs on the state directory, --init-db touches nothing and
 * says why (exit 1); the running jobd goes on serving. */
START_TEST(initdb_refused_beside_a_running_jobd)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, NULL, NULL);
	char *before = sqlite3_shell(d, "PRAGMA user_version;");
	char *err;
	int rc = init_db(d, &err);
	ck_assert_msg(rc == 1, "status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "jobd: --init-db: another jobd uses the "
				  "state directory") != NULL,
		      "stderr: %s", err);
	free(err);
	ck_assert(jd_alive(d));
	int64_t id = jd_submit(d, json_pack("{s:[s]}", "argv", "true"));
	json_t *j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);
	char *after = sqlite3_shell(d, "PRAGMA user_version;");
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
}
END_TEST

/* store = postgres: --init-db makes the schema in the database, and run
 * again changes nothing; it makes nothing in the state directory (the
 * database is the cluster's); a database it cannot reach is exit 1 with
 * the reason, and a config without one exit 78.  A jobd started on it
 * serves: a job runs. */
START_TEST(initdb_postgres)
{
	struct pgfix pg;
	if (pgfix_start(&pg) != 0) {
		fprintf(stderr, "initdb_postgres: skipped: %s\n", pg.why);
		return;
	}
	ck_assert_msg(pgfix_createdb(&pg, "cluster") == 0, "%s", pg.why);
	char conf[1024];
	snprintf(conf, sizeof(conf),
		 BASE_CONF "store = postgres\ndatabase = %s dbname=cluster\n"
			   "node_name = n1\n",
		 pgfix_conninfo(&pg));
	struct jd t;
	jd_init(&t, conf);
	jd_guard(t.dir);
	char *err;
	int rc = init_db(&t, &err);
	ck_assert_msg(rc == 0, "--init-db: status %d: %s", rc, err);
	/* To the latest version, whichever it is. */
	ck_assert_msg(strstr(err, "schema migrated from version 0 to ") != NULL,
		      "stderr: %s", err);
	free(err);
	ck_assert(!jd_exists(t.state));
	rc = init_db(&t, &err);
	ck_assert_msg(rc == 0, "--init-db again: status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "migrated") == NULL, "stderr: %s", err);
	free(err);

	/* It serves.  A second jobd (another state directory) under the
	 * same node name is refused while the first lives: a config
	 * error; under its own name it joins and serves too. */
	jd_start(&t, NULL);
	int64_t id = jd_submit(&t, jd_json("{\"argv\":[\"true\"]}"));
	ck_assert(jd_poll_state(&t, id, "succeeded", 10));
	struct jd u;
	jd_init(&u, conf);
	jd_guard(u.dir);
	rc = run_jobd(&u, NULL, &err);
	ck_assert_msg(rc == EXIT_CONFIG, "second jobd: status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "node name n1 is held by another live "
				  "node") != NULL,
		      "stderr: %s", err);
	free(err);
	char *n2 = strstr(conf, "node_name = n1");
	ck_assert_ptr_nonnull(n2);
	n2[strlen("node_name = n")] = '2';
	jd_write_file(u.conf, conf);
	jd_start(&u, NULL);
	id = jd_submit(&u, jd_json("{\"argv\":[\"true\"]}"));
	ck_assert(jd_poll_state(&u, id, "succeeded", 10));
	ck_assert_int_eq(jd_stop(&u), 0);
	jd_free(&u);
	ck_assert_int_eq(jd_stop(&t), 0);
	char *db = jd_path(&t, "state/jobd.db");
	ck_assert(!jd_exists(db));
	free(db);

	/* A database out of reach. */
	snprintf(conf, sizeof(conf),
		 BASE_CONF "store = postgres\n"
			   "database = host=/nonexistent/jobd dbname=x\n");
	jd_write_file(t.conf, conf);
	rc = init_db(&t, &err);
	ck_assert_msg(rc == 1, "--init-db: status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "jobd: --init-db: postgres: cannot "
				  "connect") != NULL,
		      "stderr: %s", err);
	free(err);

	/* Without its database, the config itself is bad. */
	jd_write_file(t.conf, "[daemon]\nstore = postgres\n");
	rc = init_db(&t, &err);
	ck_assert_msg(rc == EXIT_CONFIG, "status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "store = postgres needs database") != NULL,
		      "stderr: %s", err);
	free(err);
	jd_free(&t);
	pgfix_stop(&pg);
}
END_TEST

/* A reload takes a file that changes the store's keys (they are
 * checked) but keeps the running values, and says so in the log; a file
 * that leaves them alone reloads without a word about them. */
START_TEST(initdb_reload_keeps_store_keys)
{
	struct jd *d = jd_test_start(&D, BASE_CONF, "node_name = a\n", NULL);
	static const char *const warning =
		"reload: store, database, node_name, "
		"lease and rescue_grace take effect "
		"at the next start";
	jd_write_file(d->conf, BASE_CONF "node_name = a\nkill_grace = 2\n");
	jd_call_ok(d, json_pack("{s:s}", "cmd", "reload"));
	char *log = jd_slurp(d->log);
	ck_assert_msg(log && strstr(log, "config reloaded") &&
			      !strstr(log, warning),
		      "log: %s", log ? log : "");
	free(log);

	jd_write_file(d->conf, BASE_CONF "node_name = b\nstore = postgres\n"
					 "database = dbname=jobd\n");
	jd_call_ok(d, json_pack("{s:s}", "cmd", "reload"));
	log = jd_slurp(d->log);
	ck_assert_msg(log && strstr(log, warning), "log: %s", log ? log : "");
	free(log);
	/* Still the SQLite store it started with. */
	int64_t id = jd_submit(d, json_pack("{s:[s]}", "argv", "true"));
	json_t *j = jd_wait(d, id, 20);
	ck_assert_str_eq(jd_str(j, "state"), "succeeded");
	json_decref(j);

	/* A bad value is refused like any other. */
	jd_write_file(d->conf, BASE_CONF "lease = 1s\n");
	json_t *r = jd_req(d, "{s:s}", "cmd", "reload");
	ck_assert_str_ne(jd_err(r), "");
	ck_assert_msg(strstr(jd_err_msg(r), "lease: must be a duration of at "
					    "least 5s") != NULL,
		      "%s", jd_err_msg(r));
	json_decref(r);
}
END_TEST

Suite *
initdb_suite(void)
{
	Suite *s = suite_create("initdb");
	TCase *tc = tcase_create("initdb");
	tcase_set_timeout(tc, 90);
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_add_test(tc, initdb_fresh_then_again_then_start);
	tcase_add_test(tc, initdb_bad_config);
	tcase_add_test(tc, initdb_database_refuses);
	tcase_add_test(tc, initdb_refused_beside_a_running_jobd);
	tcase_add_test(tc, initdb_postgres);
	tcase_add_test(tc, initdb_reload_keeps_store_keys);
	suite_add_tcase(s, tc);
	return s;
}
