/*
 * submit: resolve, check, insert, announce.
 */
#include "submit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "queue.h"
#include "scheduler.h"
#include "store.h"
#include "users.h"
#include "xmem.h"

static double daemon_kill_grace = 5.0;

void
submit_set_kill_grace(double secs)
{
	daemon_kill_grace = secs;
}

/* Fills the resolved fields of one job to insert. */
static int
resolve(const struct jobspec *sp, uid_t caller, struct store_job_new *n,
	struct queue **qp, int64_t now)
{
	struct queue *q = queue_find(sp->queue);
	if (q == NULL)
		return -1;
	*qp = q;
	memset(n, 0, sizeof(*n));
	n->spec = sp;
	n->qid = q->id;
	n->created_at = now;
	n->uid = caller;
	if (sp->user != NULL) {
		if (caller != 0)
			return diag_set(E_PERM, "user: only root may run jobs "
						"as another user");
		struct users_pw pw;
		if (users_pw_by_name(sp->user, &pw) != 0) {
			diag_prefix("user");
			return -1;
		}
		n->uid = pw.pw.pw_uid;
		users_pw_release(&pw);
	}
	n->timeout = sp->timeout >= 0 ? sp->timeout : q->conf.timeout;
	n->kill_grace = sp->kill_grace >= 0	   ? sp->kill_grace
			: q->conf.kill_grace >= 0 ? q->conf.kill_grace
						  : daemon_kill_grace;
	n->max_attempts = sp->max_attempts > 0 ? sp->max_attempts
					       : q->conf.max_attempts;
	n->backoff = q->conf.backoff;
	if (!isnan(sp->backoff.base))
		n->backoff.base = sp->backoff.base;
	if (!isnan(sp->backoff.factor))
		n->backoff.factor = sp->backoff.factor;
	if (!isnan(sp->backoff.max))
		n->backoff.max = sp->backoff.max;
	if (!isnan(sp->backoff.jitter))
		n->backoff.jitter = sp->backoff.jitter;
	n->run_at = now;
	if (sp->has_delay)
		n->run_at = now + (int64_t)llround(sp->delay * 1000.0);
	else if (sp->has_run_at)
		n->run_at = sp->run_at_ms;
	int64_t missing;
	bool failed;
	if (store_job_check_deps(sp->depends_on, sp->ndeps,
				 caller == 0 ? -1 : (long)caller, &missing,
				 &failed, &n->deps_left) != 0)
		return -1;
	if (missing)
		return diag_set(E_INVAL, "depends_on: no job %lld",
				(long long)missing);
	if (failed) {
		n->state = JOBD_CANCELLED;
		n->reason = JOBD_REASON_DEPENDENCY_FAILED;
	} else if (n->deps_left > 0) {
		n->state = JOBD_WAITING;
	} else if (n->run_at > now) {
		n->state = JOBD_SCHEDULED;
	} else {
		n->state = JOBD_QUEUED;
	}
	return 0;
}

/* Refuses the request when a queue would pass its capacity. */
static int
check_capacity(struct queue **qs, const struct submit_result *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!out[i].fresh || qs[i]->conf.capacity <= 0)
			continue;
		int64_t add = 0;
		for (size_t k = 0; k < n; k++)
			if (out[k].fresh && qs[k] == qs[i] &&
			    out[k].state != JOBD_CANCELLED)
				add++;
		if (!queue_has_room(qs[i], add))
			return diag_set(E_FULL,
					"queue %s is full (capacity %lld)",
					qs[i]->conf.name,
					(long long)qs[i]->conf.capacity);
	}
	return 0;
}

static void
announce(const struct submit_result *r)
{
	queue_job_moved(r->qid, r->id, -1, r->state,
			r->state == JOBD_CANCELLED
				? JOBD_REASON_DEPENDENCY_FAILED
				: JOBD_REASON_NONE);
	events_tally()->submitted++;
	events_job(EV_JOB_SUBMITTED, r->id);
	if (r->state == JOBD_SCHEDULED)
		scheduler_kick(r->run_at);
	if (r->state == JOBD_CANCELLED) {
		events_tally()->cancelled++;
		events_job(EV_JOB_FINISHED, r->id);
	}
}

int
submit_jobs(const struct jobspec *specs, size_t n, uid_t uid,
	    const char *prefix, struct submit_result *out)
{
	int64_t now = jobd_time_now_ms();
	struct store_job_new *nj = xcalloc(n, sizeof(*nj));
	struct queue **qs = xcalloc(n, sizeof(*qs));
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		if (resolve(&specs[i], uid, &nj[i], &qs[i], now) != 0) {
			if (prefix) {
				char p[48];
				snprintf(p, sizeof(p), "%s[%zu]", prefix, i);
				diag_prefix(p);
			}
			goto out;
		}
	}
	if (store_savepoint() != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		out[i].duplicate = false;
		out[i].fresh = false;
		/* A key repeated in this request finds its first use, which
		 * is inserted already. */
		if (specs[i].unique_key != NULL &&
		    store_job_find_unique(specs[i].unique_key, nj[i].uid,
					  &out[i].id) == 0) {
			out[i].duplicate = true;
			continue;
		}
		if (store_job_insert(&nj[i], &out[i].id) != 0)
			goto rollback;
		out[i].qid = nj[i].qid;
		out[i].state = nj[i].state;
		out[i].run_at = nj[i].run_at;
		out[i].fresh = true;
	}
	if (check_capacity(qs, out, n) != 0)
		goto rollback;
	if (store_release() != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (out[i].fresh)
			announce(&out[i]);
	rc = 0;
	goto out;
rollback:
	store_rollback();
out:
	free(nj);
	free(qs);
	return rc;
}
