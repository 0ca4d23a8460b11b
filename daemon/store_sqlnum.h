/*
 * store: the numbers SQL text names, shared by both backends' SQL files
 * (store_sql.c for SQLite, store_pg_sql.c for PostgreSQL).  Private to the
 * store like store_impl.h.
 *
 * Job states and reasons are stored as the numbers of include/jobd/proto.h,
 * and some statements and indexes name them (the claim takes `state = 2`,
 * queued).  SQL cannot spell a C enum, so each such number is written here
 * once, as STATE(QUEUED) or REASON(RECOVERED), and pinned to its enum
 * below: a renumbered enum breaks the build instead of the stored jobs, in
 * either backend.
 */
#ifndef STORE_SQLNUM_H_INCLUDED
#define STORE_SQLNUM_H_INCLUDED

#include "jobd/proto.h"
#include "jobspec.h"

/* The numbers the SQL names, one per enum member it uses. */
#define SQL_STATE_WAITING 0
#define SQL_STATE_SCHEDULED 1
#define SQL_STATE_QUEUED 2
#define SQL_STATE_RUNNING 3
#define SQL_STATE_SUCCEEDED 4 /* the first terminal state */
#define SQL_STATE_FAILED 5
#define SQL_STATE_CANCELLED 6
#define SQL_REASON_NONE 0
#define SQL_REASON_RECOVERY_LIMIT 7
#define SQL_REASON_RECOVERED 8
#define SQL_OUTPUT_CAPTURE 0
/* deps.cond: the dependent's enum jobspec_cond, or FAILED_MET, an
 * after_failed dependent one of whose dependencies failed (every row of
 * that job then says so). */
#define SQL_DEP_AFTER 0
#define SQL_DEP_FAILED 2
#define SQL_DEP_FAILED_MET 3

/* STATE(QUEUED) is "2", for SQL text. */
#define STATE(name) SQL_NUMBER(SQL_STATE_##name)
#define REASON(name) SQL_NUMBER(SQL_REASON_##name)
#define OUTPUT(name) SQL_NUMBER(SQL_OUTPUT_##name)
#define DEP(name) SQL_NUMBER(SQL_DEP_##name)
#define SQL_NUMBER(n) SQL_NUMBER_(n)
#define SQL_NUMBER_(n) #n

_Static_assert(SQL_STATE_WAITING == JOBD_WAITING, "STATE(WAITING)");
_Static_assert(SQL_STATE_SCHEDULED == JOBD_SCHEDULED, "STATE(SCHEDULED)");
_Static_assert(SQL_STATE_QUEUED == JOBD_QUEUED, "STATE(QUEUED)");
_Static_assert(SQL_STATE_RUNNING == JOBD_RUNNING, "STATE(RUNNING)");
_Static_assert(SQL_STATE_SUCCEEDED == JOBD_SUCCEEDED, "STATE(SUCCEEDED)");
_Static_assert(SQL_STATE_FAILED == JOBD_FAILED, "STATE(FAILED)");
_Static_assert(SQL_STATE_CANCELLED == JOBD_CANCELLED, "STATE(CANCELLED)");
/* `state < STATE(SUCCEEDED)` means live and `state >= STATE(SUCCEEDED)`
 * terminal (the unique keys, pruning): true while the terminal states are
 * the last three.  `state < STATE(RUNNING)` means waiting, scheduled or
 * queued: a job that has not started. */
_Static_assert(JOBD_STATE_COUNT == JOBD_CANCELLED + 1 &&
		       JOBD_FAILED > JOBD_SUCCEEDED &&
		       JOBD_CANCELLED > JOBD_SUCCEEDED,
	       "every state from STATE(SUCCEEDED) on is terminal");
_Static_assert(JOBD_WAITING < JOBD_RUNNING && JOBD_SCHEDULED < JOBD_RUNNING &&
		       JOBD_QUEUED < JOBD_RUNNING,
	       "every state below STATE(RUNNING) has not started");
_Static_assert(SQL_REASON_NONE == JOBD_REASON_NONE, "REASON(NONE)");
_Static_assert(SQL_REASON_RECOVERY_LIMIT == JOBD_REASON_RECOVERY_LIMIT,
	       "REASON(RECOVERY_LIMIT)");
_Static_assert(SQL_REASON_RECOVERED == JOBD_REASON_RECOVERED,
	       "REASON(RECOVERED)");
_Static_assert(SQL_OUTPUT_CAPTURE == JOBSPEC_OUTPUT_CAPTURE, "OUTPUT(CAPTURE)");
_Static_assert(SQL_DEP_AFTER == JOBSPEC_AFTER, "DEP(AFTER)");
_Static_assert(SQL_DEP_FAILED == JOBSPEC_AFTER_FAILED, "DEP(FAILED)");
_Static_assert(SQL_DEP_FAILED_MET > JOBSPEC_AFTER_FAILED &&
		       SQL_DEP_FAILED_MET > JOBSPEC_AFTER_ANY,
	       "DEP(FAILED_MET) is no condition");

#endif /* STORE_SQLNUM_H_INCLUDED */
