/*
 * store backends: the table of functions a backend gives the store, and
 * nothing else.  store.h is the contract and its manual; this header lists
 * the calls of it that each backend implements its own way, once, as
 * STORE_BACKEND_CALLS: the table's fields, each backend's prototypes and
 * store_dispatch.c's functions of store.h are all made from that list, so
 * a call cannot be added to one and forgotten in another.
 *
 * store_open() picks the SQLite backend, store_open_pg() the PostgreSQL
 * one; the choice holds until store_close().
 */
#ifndef STORE_BACKEND_H_INCLUDED
#define STORE_BACKEND_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* X(return type, name, parameters, arguments) for each call that returns
 * a value; XV(name, parameters, arguments) for each that returns none.
 * The name is the store.h function's without its `store_` prefix. */
#define STORE_BACKEND_CALLS(X, XV)                                             \
	X(int, savepoint, (void), ())                                          \
	X(int, release, (void), ())                                            \
	XV(rollback, (void), ())                                               \
	XV(spill, (void), ())                                                  \
	XV(sizes, (int64_t * db_bytes, int64_t * wal_bytes),                   \
	   (db_bytes, wal_bytes))                                              \
	X(int, queue_each, (store_queue_fn fn, void *arg), (fn, arg))          \
	X(int, queue_insert,                                                   \
	  (const struct queue_conf *qc, bool paused, int64_t *id),             \
	  (qc, paused, id))                                                    \
	X(int, queue_update, (int64_t id, const struct queue_conf *qc),        \
	  (id, qc))                                                            \
	X(int, queue_set_paused, (int64_t id, bool paused), (id, paused))      \
	X(int, queue_delete, (int64_t id), (id))                               \
	X(int, count_each, (store_count_fn fn, void *arg), (fn, arg))          \
	X(int, queue_pending, (int64_t qid, int64_t * n), (qid, n))            \
	X(int, job_insert, (const struct store_job_new *j, int64_t *id),       \
	  (j, id))                                                             \
	X(int, job_find_unique, (const char *key, uid_t uid, int64_t *id),     \
	  (key, uid, id))                                                      \
	X(int, job_brief, (int64_t id, struct store_job_brief * b), (id, b))   \
	X(int, job_claim,                                                      \
	  (int64_t qid, int64_t now, struct store_job_run * r), (qid, now, r)) \
	X(int, job_set_pid, (int64_t id, int pid), (id, pid))                  \
	X(int, job_end_attempt,                                                \
	  (int64_t id, const struct store_job_end *e, int *was), (id, e, was)) \
	X(int, job_set_state,                                                  \
	  (int64_t id, int from, int state, int reason, int64_t now),          \
	  (id, from, state, reason, now))                                      \
	X(int, job_retry, (int64_t id, int from, int64_t now),                 \
	  (id, from, now))                                                     \
	X(int, job_promote_due, (int64_t now, store_job_fn fn, void *arg),     \
	  (now, fn, arg))                                                      \
	X(int, job_next_due, (int64_t * run_at), (run_at))                     \
	X(int, job_resolve_dependents,                                         \
	  (int64_t id, bool succeeded, int64_t now, store_job_fn fn,           \
	   void *arg),                                                         \
	  (id, succeeded, now, fn, arg))                                       \
	X(int, job_check_deps,                                                 \
	  (const int64_t *ids, size_t n, long uid_filter, int64_t *missing,    \
	   bool *failed, int *left),                                           \
	  (ids, n, uid_filter, missing, failed, left))                         \
	X(int, job_running_pids, (store_pid_fn fn, void *arg), (fn, arg))      \
	X(int, job_recover,                                                    \
	  (int64_t now, int max_recoveries, store_job_fn fn, void *arg),       \
	  (now, max_recoveries, fn, arg))                                      \
	X(int, job_prune,                                                      \
	  (int64_t before, int64_t qid, int64_t limit, store_prune_fn fn,      \
	   void *arg, int64_t *n),                                             \
	  (before, qid, limit, fn, arg, n))                                    \
	X(int, job_prune_rule,                                                 \
	  (const struct store_prune_rule *r, int64_t limit, store_prune_fn fn, \
	   void *arg, int64_t *n),                                             \
	  (r, limit, fn, arg, n))                                              \
	X(int64_t, job_max_id, (void), ())                                     \
	X(json_t *, job_json, (int64_t id, bool with_env), (id, with_env))     \
	X(int, job_list,                                                       \
	  (const struct store_job_filter *f, json_t *arr,                      \
	   int64_t *next_after_id),                                            \
	  (f, arr, next_after_id))                                             \
	X(int, producer_each, (store_producer_fn fn, void *arg), (fn, arg))    \
	X(int, producer_put,                                                   \
	  (const char *name, const json_t *spec, uid_t uid, bool paused),      \
	  (name, spec, uid, paused))                                           \
	X(int, producer_counters,                                              \
	  (const char *name, int state, int64_t produced, int64_t skipped,     \
	   int64_t errors, int64_t last_run),                                  \
	  (name, state, produced, skipped, errors, last_run))                  \
	X(int, producer_set_paused, (const char *name, bool paused),           \
	  (name, paused))                                                      \
	X(int, producer_delete, (const char *name), (name))                    \
	X(int, producer_add,                                                   \
	  (const char *name, const struct store_producer_add *a,               \
	   struct store_producer *after),                                      \
	  (name, a, after))                                                    \
	X(int, producer_tick,                                                  \
	  (const char *name, int64_t tick, bool *won, int64_t *last_job),      \
	  (name, tick, won, last_job))                                         \
	X(int, producer_own,                                                   \
	  (const char *name, bool *owned, struct store_producer *row),         \
	  (name, owned, row))                                                  \
	X(int, producer_disown, (const char *name), (name))                    \
	X(int, node_register,                                                  \
	  (const char *name, const char *instance, double lease),              \
	  (name, instance, lease))                                             \
	X(int, node_heartbeat, (double lease), (lease))                        \
	X(int, node_rescue,                                                    \
	  (double grace, int max_recoveries, store_job_fn fn, void *arg),      \
	  (grace, max_recoveries, fn, arg))                                    \
	X(int, node_cancelled, (store_id_fn fn, void *arg), (fn, arg))         \
	X(int, node_leave, (void), ())                                         \
	X(int, attempt_ended, (const struct store_attempt_end *a), (a))        \
	X(int, attempt_where,                                                  \
	  (int64_t id, int attempt, struct store_attempt_seen *s),             \
	  (id, attempt, s))

#define STORE_BACKEND_FIELD(ret, name, params, args) ret(*name) params;
#define STORE_BACKEND_FIELDV(name, params, args) void(*name) params;

/* A backend: its group-commit primitives (store_impl.h says what each
 * must do), then the calls of STORE_BACKEND_CALLS. */
struct store__backend {
	const char *name; /* "sqlite", "postgres" */
	bool shared;	  /* store_limits_shared() */
	bool (*db_is_open)(void);
	void (*db_close)(void);
	/* Before a transaction begins: makes sure the database can be
	 * reached (connecting again when it was lost), 0 or -1 with E_DB.
	 * May yield.  NULL: always. */
	int (*db_ready)(void);
	int (*db_begin)(void);
	int (*db_commit)(void);
	/* Instead of db_commit, for a backend whose commit is answered
	 * later (PostgreSQL): sends the COMMIT, 0 or -1 with E_DB; the
	 * answer goes to store__commit_answered().  NULL for SQLite. */
	int (*db_commit_send)(void);
	void (*db_rollback)(void);
	void (*db_txn_over)(bool committed);
	void (*db_report)(void);
	int (*db_fsync)(void);
	/* Instead of db_fsync, from the loop: starts it in the background,
	 * 0 (the answer goes to store__fsync_answered()), 1 when there is
	 * nothing to start (synchronous = normal, or no background: call
	 * db_fsync), -1 with E_DB.  NULL: db_fsync only. */
	int (*db_fsync_send)(void);
	STORE_BACKEND_CALLS(STORE_BACKEND_FIELD, STORE_BACKEND_FIELDV)
};

/* The backend in use (store_dispatch.c); NULL while the store is
 * closed. */
extern const struct store__backend *store__be;

/* The SQLite backend (store_sqlite.c). */
extern const struct store__backend store__sqlite_backend;
/* The PostgreSQL backend (store_pg.c), and its open (store_pg.h says
 * what it does). */
extern const struct store__backend store__pg_backend;
int store__pg_open(const char *conninfo);

#endif /* STORE_BACKEND_H_INCLUDED */
