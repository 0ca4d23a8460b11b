/*
 * check_store.h: the fixtures and helpers the store suite's files share
 * (check_store.c defines them; the tests are in check_store*.c).  Private
 * to those files: the store suite's test database, a second connection to
 * look at it, and short ways to make and inspect jobs.
 */
#ifndef CHECK_STORE_H_INCLUDED
#define CHECK_STORE_H_INCLUDED

#include <check.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "store.h"

/* 2026-01-01T00:00:00.000Z, in ms. */
#define T0 INT64_C(1767225600000)

/* The id of queue "default", made by store_setup(). */
extern int64_t qdef;

/* A second connection to the test database (the caller closes it), and
 * the first column of the first row of sql over one, or -1. */
sqlite3 *peek_open(void);
int64_t peek_int(const char *sql);

/* Makes a loop, a temp directory and a store in it with queue "default";
 * store_teardown() closes the store and removes the files. */
void store_setup(void);
void store_teardown(void);

/* Adds queue name with the default settings; returns its id. */
int64_t add_queue(const char *name);

/* What a test job differs in; zero fields take the defaults. */
struct jopt {
	int64_t qid; /* 0: default queue */
	int state;
	int priority;
	int64_t run_at; /* 0: T0 */
	const char *key;
	const int64_t *deps;
	size_t ndeps;
	int deps_left;
	const json_t *env; /* borrowed */
	uid_t uid;	   /* 0: 1000 */
};

/* Inserts a job (store_job_insert: 0/-1, *id set); add_job() fails the
 * test when that fails, and returns the id. */
int try_add_job(const struct jopt *o, int64_t *id);
int64_t add_job(const struct jopt *o);
#define ADD_JOB(...) add_job(&(struct jopt){__VA_ARGS__})

/* Commits the group transaction now, as a flush with a waiter would.
 * Returns whether something was committed. */
bool commit_now(void);

/* Job id's brief (fails the test when there is none); assert_gone() fails
 * it when there is one. */
struct store_job_brief brief(int64_t id);
void assert_gone(int64_t id);

/* Claims the next job of queue qid at now; returns its id. */
int64_t claim(int64_t qid, int64_t now);

/* State changes, as store_job_* report them through record_change() with
 * a struct changes * as arg. */
struct change {
	int64_t id, qid;
	int from, to;
};

struct changes {
	struct change c[64];
	int n;
};

void record_change(int64_t id, int64_t qid, int from, int to, void *arg);

/* Member key of a job object: a string, a number (failing the test when
 * it is another type), or whether it is present and null. */
static inline const char *
jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

static inline double
jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_number(v), "%s is not a number", key);
	return json_number_value(v);
}

static inline bool
jnull(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v != NULL && json_is_null(v);
}

/* Queues as store_queue_list() gives them to collect_queue(), which stops
 * the listing after stop_after (when not 0). */
struct queue_list {
	struct store_queue q[8];
	int n;
	int stop_after;
};

int collect_queue(const struct store_queue *q, void *arg);

/* Add the tests of the other files to the store suite: queues and
 * producers to the "file" case, job rows, recovery and pruning, and lists
 * to the "jobs" case; the "sync" case to s. */
void check_store_add_queues(TCase *tc);
void check_store_add_jobs(TCase *tc);
void check_store_add_recovery(TCase *tc);
void check_store_add_lists(TCase *tc);
void check_store_add_sync(Suite *s);

#endif /* CHECK_STORE_H_INCLUDED */
