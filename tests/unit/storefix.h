/*
 * storefix: the fixture of the unit suites that run engine modules (queue,
 * events, submit) over a real store: a loop, and a SQLite file in a fresh
 * temp directory, removed with its WAL at teardown.  check_storefix.c
 * defines no suite; it is named check_*.c only so that the unit runner
 * links it.
 */
#ifndef STOREFIX_H_INCLUDED
#define STOREFIX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Makes the loop (loop_init), a temp directory and a store in it
 * (store_open, synchronous off), quiets the log below warnings and clears
 * diag and loopfix's expectations.  Fails the test when the store does not
 * open. */
void storefix_setup(void);

/* What storefix_setup_from() calls on the database's path (borrowed)
 * before the store opens it: a test writes a database of its own there
 * (one of an older schema). */
typedef void (*storefix_prepare_fn)(const char *db_path, void *arg);
/* storefix_setup(), with prepare(path, arg) called in the fresh directory
 * before the store is opened.  For a test that builds its own database:
 * call it in the test (a fixture is not told the loop's index), and
 * storefix_teardown() or storefix_engine_teardown() at its end. */
void storefix_setup_from(storefix_prepare_fn prepare, void *arg);

/* Closes the store, removes the files and the directory, then ends the
 * loop through loopfix_teardown() (which fails a test that left a watcher
 * running). */
void storefix_teardown(void);

/* The path of the database file (borrowed, until teardown). */
const char *storefix_db_path(void);

/* The engine over that store: storefix_setup(), then the event bus (its
 * totals zeroed), the store's commit as a loop flush hook, and the queues
 * of a default config (the `default` queue), committed. */
void storefix_engine_setup(void);
/* The engine part of storefix_engine_setup(), over a store that
 * storefix_setup_from() opened. */
void storefix_engine_start(void);
/* Shuts the queues and the event bus down, then storefix_teardown(). */
void storefix_engine_teardown(void);

/* A submit request: the specs parsed from a JSON array, and room for
 * submit_jobs's results. */
struct storefix_req {
	struct jobspec *specs;
	size_t n;
	struct submit_result *out;
};
/* Parses text (a JSON array of job specs) into r; fails the test on a bad
 * spec.  Release with storefix_req_destroy(). */
void storefix_req_parse(struct storefix_req *r, const char *text);
void storefix_req_destroy(struct storefix_req *r);

/* Submits text (a JSON array of specs) for uid without slices; returns
 * submit_jobs's result, with the ids in ids and whether each was a
 * duplicate in dups (either may be NULL). */
int storefix_submit(const char *text, uid_t uid, int64_t *ids, bool *dups);

#endif /* STOREFIX_H_INCLUDED */
