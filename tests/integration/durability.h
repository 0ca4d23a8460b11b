/*
 * durability.h: the fixture and helpers of the durability suite, shared
 * by its files (check_durability.c defines them; the crash torture is in
 * check_durability_torture.c).  Private to those files.
 */
#ifndef DURABILITY_H_INCLUDED
#define DURABILITY_H_INCLUDED

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness.h"

/* The daemon of the current test; the fixture frees it. */
extern struct jd jd;

/* A test case named name, timeout seconds a test, whose fixture clears jd
 * before each test and frees it after. */
TCase *durability_tcase(const char *name, int timeout);

/* A connection with its own line buffer.  The harness keeps line buffers
 * for 64 descriptors at most, and keeps a descriptor's buffer until EOF;
 * the torture client and the group-commit test need more connections than
 * that, and must see EOF themselves. */
struct conn {
	int fd;
	char *buf; /* owned: bytes received, not yet returned */
	size_t len, cap;
	bool eof; /* the peer closed or the connection broke */
};

/* Connects c to d (failing the test when it cannot); conn_close() closes
 * it and frees its buffer. */
void conn_open(struct conn *c, const struct jd *d);
void conn_close(struct conn *c);

/* One line (caller frees) within timeout_ms; NULL on timeout or EOF. */
char *conn_line(struct conn *c, int timeout_ms);

/* Sends req (borrowed) as one line; returns whether it was written. */
bool conn_send(struct conn *c, const json_t *req);

/* Polls until no process but skip carries marker (timeout_s); what gets
 * a survivor when it returns false. */
bool wait_no_procs(const char *marker, pid_t skip, double timeout_s, char *what,
		   size_t wn);

/* Starts jobd on d and arms its guard (jd_guard) the first time. */
void start(struct jd *d);

/* A link to sleep(1) inside the test directory (caller frees the path):
 * a job that runs it is recognisable in /proc by its command line. */
char *make_msleep(const struct jd *d);

/* Adds the "torture" case (check_durability_torture.c) to s. */
void durability_add_torture(Suite *s);

#endif /* DURABILITY_H_INCLUDED */
