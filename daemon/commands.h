/*
 * commands: one handler per protocol command (SPEC 5.1), table-driven.
 * Each handler validates its arguments (unknown fields refused), checks
 * the caller's rights, acts through the engine and the store, and answers
 * through control_send().  Handlers never wait for the commit themselves:
 * the connection syncs once for a burst before writing (control.h).
 * Commands that answer later (wait, logs follow, watch) keep a reference on
 * the connection.
 *
 * A big request (a long line, many jobs or ids, a long listing or prune)
 * works in slices of a few milliseconds, between which the loop runs:
 * parsing, checking, writing, and a streamed reply that waits for its
 * reader.  The connection's later requests wait meanwhile, so replies
 * keep their order.
 */
#ifndef COMMANDS_H_INCLUDED
#define COMMANDS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct conn;

/* What commands need from main. */
struct commands_ctx {
	const struct config *cfg; /* borrowed; main keeps it current */
	const char *log_dir;	  /* borrowed */
	const char *db_path;	  /* borrowed */
	double started_at;	  /* loop_now() at start */
	/* Re-reads the config; -1 with diag when it is refused. */
	int (*reload)(void);
	/* Starts the graceful shutdown (now: skip the wait). */
	void (*shutdown)(bool now);
};

void commands_init(const struct commands_ctx *ctx);
/* Refuse submits from now on (shutdown began). */
void commands_set_shutting_down(void);
/* Handles one request line of len bytes (borrowed, and left untouched
 * until this returns; may hold NUL bytes, which make it a bad request).
 * Yields (a big request works in slices). */
void commands_handle(struct conn *c, const char *line, size_t len);
/* Deletes finished jobs that ended before `before` (ms) with their logs;
 * *n gets how many (retention).  Yields (in chunks). */
void commands_prune_before(int64_t before, int64_t *n);
/* Deletes the finished jobs each queue's retention and keep_last let go
 * (daemon_retention, seconds, the [daemon] fallback), with their logs;
 * *n gets how many.  Yields (in chunks). */
void commands_prune_rules(double daemon_retention, int64_t *n);
/* The connection is gone: stop what answers it later. */
void commands_conn_closed(struct conn *c);

#endif /* COMMANDS_H_INCLUDED */
