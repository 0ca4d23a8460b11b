/*
 * producer_fence on both backends (bothfix.h), over the queues, the event
 * bus and the spawner: a command producer's generator is killed when the
 * node is fenced, that run is not recorded as the generator's end (no
 * error, no exit code), and the generator runs again once the node owns
 * the producer again: at once under SQLite (one node, always the owner);
 * on PostgreSQL only after the rescue cleared the row's owner (this node
 * has not registered again, so it cannot take its own producer back
 * before), which a second connection does here as a peer's rescue would.
 */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "await.h"
#include "bothfix.h"
#include "config.h"
#include "events.h"
#include "loop.h"
#include "loopfix.h"
#include "natively.h"
#include "producer.h"
#include "queue.h"
#include "spawner.h"
#include "store.h"
#include "store_pg.h"

Suite *producer_fence_suite(void);

struct fence_run {
	char pidfile[PATH_MAX];
	pid_t pid1, pid2;
	bool pid1_gone, pid2_gone;
	bool owned_after_fence; /* PostgreSQL: the row still names us */
	json_int_t errors;
	bool exit_code_null;
	char state[16];
};

/* The pid the generator wrote to path, or 0. */
static pid_t
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Waits (timeout s at most) for a live generator other than old to have
 * written its pid; 0 when none did. */
static pid_t
poll_new_pid(const char *path, pid_t old, double timeout)
{
	double deadline = loop_now() + timeout;

	while (loop_now() < deadline) {
		pid_t pid = read_pid(path);

		if (pid > 0 && pid != old && kill(pid, 0) == 0)
			return pid;
		await_sleep(0.02);
	}
	return 0;
}

/* Waits for pid to be gone (reaped), timeout s at most. */
static bool
poll_gone(pid_t pid, double timeout)
{
	double deadline = loop_now() + timeout;

	while (loop_now() < deadline) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return true;
		await_sleep(0.02);
	}
	return false;
}

/* PostgreSQL: the peer's rescue of this node, through a connection of its
 * own: what it owned is free.  After a commit, so that no open
 * transaction of the store holds the row (the call blocks the loop). */
static void
rescue_this_node(void)
{
	PGconn *c = PQconnectdb(bothfix_conninfo());

	char id[32];
	const char *params[1] = {id};

	snprintf(id, sizeof(id), "%lld", (long long)store_node_id());
	CO_EXPECT(PQstatus(c) == CONNECTION_OK);
	PGresult *r = PQexecParams(c,
				   "UPDATE producers SET owner_node = NULL"
				   " WHERE owner_node = $1",
				   1, NULL, params, NULL, NULL, 0);
	CO_EXPECT(PQresultStatus(r) == PGRES_COMMAND_OK);
	CO_EXPECT(strcmp(PQcmdTuples(r), "1") == 0);
	PQclear(r);
	PQfinish(c);
}

static bool
owner_is_set(void)
{
	PGresult *r;
	bool set = false;

	if (store_pg__read("test owner",
			   "SELECT owner_node IS NOT NULL FROM producers"
			   " WHERE name = 'gen'",
			   NULL, &r) != 0)
		return false;
	set = PQntuples(r) == 1 && store_pg__bool(r, 0, 0);
	PQclear(r);
	return set;
}

static void
fence_f(void *arg)
{
	struct fence_run *r = arg;
	struct config conf;
	char shell[PATH_MAX + 64];

	config_init(&conf);
	events_init();
	CO_EXPECT(queue_init(&conf) == 0);
	CO_EXPECT(store_sync() == 0);
	snprintf(shell, sizeof(shell), "echo $$ > %s; exec sleep 1000",
		 r->pidfile);
	json_t *obj = json_pack("{s:s,s:s,s:{s:s},s:{s:[s]}}", "name", "gen",
				"type", "command", "generator", "shell", shell,
				"job", "argv", "true");
	struct producer *p = producer_create(obj, geteuid());
	json_decref(obj);
	CO_EXPECT(p != NULL);
	if (p == NULL)
		goto out;
	r->pid1 = poll_new_pid(r->pidfile, 0, 10);
	CO_EXPECT(r->pid1 > 0);

	producer_fence(0.5);
	r->pid1_gone = r->pid1 > 0 && poll_gone(r->pid1, 10);
	if (bothfix_backend() == BOTHFIX_POSTGRES) {
		CO_EXPECT(store_sync() == 0);
		r->owned_after_fence = owner_is_set();
		CO_EXPECT(store_sync() == 0);
		rescue_this_node();
	}
	r->pid2 = poll_new_pid(r->pidfile, r->pid1, 10);

	json_t *o = producer_json(p);
	r->errors = json_integer_value(json_object_get(o, "errors"));
	r->exit_code_null = json_is_null(json_object_get(o, "last_exit_code"));
	snprintf(r->state, sizeof(r->state), "%s",
		 json_string_value(json_object_get(o, "state")));
	json_decref(o);
out:
	producer_shutdown();
	r->pid2_gone = r->pid2 > 0 && poll_gone(r->pid2, 10);
	queue_shutdown();
	events_shutdown();
	config_destroy(&conf);
}

START_TEST(producer_fence_kills_and_restarts)
{
	/* A generator's supervision needs pidfd_open. */
	SKIP_UNDER_VALGRIND("no pidfd_open");
	struct fence_run r;
	char dir[PATH_MAX - 16];
	const char *t = getenv("TMPDIR");

	memset(&r, 0, sizeof(r));
	snprintf(dir, sizeof(dir), "%s/jobd-fence-XXXXXX",
		 t != NULL ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(r.pidfile, sizeof(r.pidfile), "%s/pid", dir);
	ck_assert_int_eq(spawner_init(), 0);
	bool ran = bothfix_run(__func__, _i, fence_f, &r);
	spawner_shutdown();
	unlink(r.pidfile);
	rmdir(dir);
	if (!ran)
		return;
	ck_assert_int_gt(r.pid1, 0);
	ck_assert(r.pid1_gone);
	if (_i == BOTHFIX_POSTGRES)
		ck_assert(r.owned_after_fence);
	ck_assert_int_gt(r.pid2, 0);
	ck_assert(r.pid2_gone);
	ck_assert_int_eq(r.errors, 0);
	ck_assert(r.exit_code_null);
	ck_assert_str_eq(r.state, "running");
}
END_TEST

Suite *
producer_fence_suite(void)
{
	Suite *s = suite_create("producer_fence");
	TCase *tc = tcase_create("fence");

	tcase_add_unchecked_fixture(tc, bothfix_server_setup,
				    bothfix_server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, producer_fence_kills_and_restarts, 0,
			    BOTHFIX_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
