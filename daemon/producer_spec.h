/*
 * producer_spec: validation of a producer object (SPEC 4) into a struct
 * producer_spec, and the names of its enumerated fields.  It checks
 * fields, types and ranges, and that the job template makes a valid job;
 * whether the queue exists is asked of the caller through a callback.
 * Uses jansson, cron and jobspec, nothing else: no store, no loop, so the
 * unit tests drive it directly.
 */
#ifndef PRODUCER_SPEC_H_INCLUDED
#define PRODUCER_SPEC_H_INCLUDED

#include <stdbool.h>

#include <jansson.h>

#include "cron.h"
#include "jobspec.h"

enum producer_spec_type {
	PRODUCER_SPEC_INTERVAL = 0,
	PRODUCER_SPEC_CRON,
	PRODUCER_SPEC_COMMAND,
};

/* How a command producer reads its generator's lines. */
enum producer_spec_format {
	PRODUCER_SPEC_LINES = 0, /* each line is one more argv entry */
	PRODUCER_SPEC_JSON,	 /* each line is an object over the job */
};

/* When a command producer runs its generator again. */
enum producer_spec_restart {
	PRODUCER_SPEC_NEVER = 0,
	PRODUCER_SPEC_ON_FAILURE,
	PRODUCER_SPEC_ALWAYS,
};

/* The wire names of each enum, indexed by its value, NULL-terminated: the
 * one list of them in the daemon (config checks its [producer] keys
 * against them too). */
extern const char *const producer_spec_type_names[];
extern const char *const producer_spec_format_names[];
extern const char *const producer_spec_restart_names[];

/* A producer's definition. */
struct producer_spec {
	char *name;	   /* owned */
	json_t *stored;	   /* owned: the object as given, less the
				   reported fields and paused: what the
				   store keeps and a reload compares */
	int type;	   /* enum producer_spec_type */
	char *queue;	   /* owned; "default" when not given */
	json_t *job;	   /* owned: the job template, queue removed;
				   {} when not given */
	double every;	   /* seconds; interval producers */
	struct cron cron;  /* cron producers */
	json_t *generator; /* owned: {argv} or {shell}; command
				   producers, else NULL */
	int format;	   /* enum producer_spec_format */
	int restart;	   /* enum producer_spec_restart */
	bool overlap;
	bool paused; /* as given */
};

/* Tells whether queue (borrowed) exists: 0, or -1 with diag (E_UNKNOWN_QUEUE
 * "no queue Q"). */
typedef int (*producer_spec_queue_fn)(const char *queue);

/* Validates obj (a producer object, borrowed) into *s (the caller's).
 * Fields reported by producer objects (state, produced, ...) are allowed
 * and ignored.  queue_ok (may be NULL: not checked) is asked whether the
 * producer's queue exists.  Returns 0 (release *s with
 * producer_spec_destroy), or -1 with diag E_INVAL naming the field ("every:
 * only for interval producers"), or queue_ok's; *s then holds nothing. */
int producer_spec_parse(json_t *obj, producer_spec_queue_fn queue_ok,
			struct producer_spec *s);

/* Frees what s owns and zeroes it; safe on a zeroed s. */
void producer_spec_destroy(struct producer_spec *s);

/* Validates into *js (the caller's, jobspec_destroy it in every case) the
 * job one production of s submits: its template with over (borrowed, may
 * be NULL) laid on top, in s's queue.  0, or -1 with diag as
 * jobspec_parse. */
int producer_spec_job(const struct producer_spec *s, json_t *over,
		      struct jobspec *js);

#endif /* PRODUCER_SPEC_H_INCLUDED */
