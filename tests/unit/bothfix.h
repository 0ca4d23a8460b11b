/*
 * bothfix: the fixture of the unit suites that run one store scenario on
 * each backend: SQLite in a temp directory, and PostgreSQL in a database
 * of its own on a server the suite starts once (tests/integration/
 * pgfix.h).  The scenario runs as the loop's main coroutine with the
 * store open and store_flush as the loop's flush hook, so it calls the
 * store as the daemon does (every call may yield), and records what it saw
 * with CO_EXPECT (loopfix.h).  check_bothfix.c defines no suite; it is
 * named check_*.c only so that the unit runner links it.
 */
#ifndef BOTHFIX_H_INCLUDED
#define BOTHFIX_H_INCLUDED

#include <stdbool.h>

#include "coro.h"

/* The backends, as a loop test's index runs them: tcase_add_loop_test(tc,
 * test, 0, BOTHFIX_COUNT). */
enum { BOTHFIX_SQLITE, BOTHFIX_POSTGRES, BOTHFIX_COUNT };

/* The unchecked fixture of a TCase whose tests use bothfix_run: starts
 * the PostgreSQL server (or notes why there is none), stops it. */
void bothfix_server_setup(void);
void bothfix_server_teardown(void);

/* Runs fn(arg) as the loop's main coroutine over a fresh, open store of
 * backend (a loop test's _i), closing it after; fails the test when the
 * store does not open or an expectation failed.  Returns false, printing
 * "<test>: skipped: <why>", when backend is PostgreSQL and the suite has
 * no server: the test then returns. */
bool bothfix_run(const char *test, int backend, coro_fn fn, void *arg);

/* The node a scenario's store is registered as (store_node_register),
 * name and instance: registering it again is what a restart does. */
#define BOTHFIX_NODE "unit"
#define BOTHFIX_INSTANCE "00000000-0000-4000-8000-000000000001"

/* The backend of the running scenario. */
int bothfix_backend(void);

/* The libpq connection string of the running scenario's database
 * (borrowed until it ends), for a second connection acting as another
 * node; NULL under SQLite. */
const char *bothfix_conninfo(void);

#endif /* BOTHFIX_H_INCLUDED */
