/*
 * storefix: the fixture of the unit suites that run engine modules (queue,
 * events, submit) over a real store: a loop, and a SQLite file in a fresh
 * temp directory, removed with its WAL at teardown.  check_storefix.c
 * defines no suite; it is named check_*.c only so that the unit runner
 * links it.
 */
#ifndef STOREFIX_H_INCLUDED
#define STOREFIX_H_INCLUDED

/* Makes the loop (loop_init), a temp directory and a store in it
 * (store_open, synchronous off), quiets the log below warnings and clears
 * diag and loopfix's expectations.  Fails the test when the store does not
 * open. */
void storefix_setup(void);

/* Closes the store, removes the files and the directory, then ends the
 * loop through loopfix_teardown() (which fails a test that left a watcher
 * running). */
void storefix_teardown(void);

/* The path of the database file (borrowed, until teardown). */
const char *storefix_db_path(void);

#endif /* STOREFIX_H_INCLUDED */
