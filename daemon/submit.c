/*
 * submit: resolve and check every job, reserve room, insert, announce —
 * a big request in slices, between which the loop runs.
 */
#include "submit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "cgroup.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "jobs.h"
#include "labels.h"
#include "queue.h"
#include "store.h"
#include "users.h"
#include "xmem.h"

static double daemon_kill_grace = 5.0;

void
submit_set_kill_grace(double secs)
{
	daemon_kill_grace = secs;
}

/* The state of job n from its dependencies: failed, whether one has
 * failed or was cancelled, and n->deps_left, how many have not ended. */
static void
deps_state(struct store_job_new *n, bool failed, int64_t now)
{
	n->dep_failed = failed;
	n->reason = JOBD_REASON_NONE;
	if (n->dep_cond == JOBSPEC_AFTER && failed) {
		n->state = JOBD_CANCELLED;
		n->reason = JOBD_REASON_DEPENDENCY_FAILED;
	} else if (n->deps_left > 0) {
		n->state = JOBD_WAITING;
	} else if (n->dep_cond == JOBSPEC_AFTER_FAILED && !failed) {
		n->state = JOBD_CANCELLED;
		n->reason = JOBD_REASON_NOT_NEEDED;
	} else if (n->run_at > now) {
		n->state = JOBD_SCHEDULED;
	} else {
		n->state = JOBD_QUEUED;
	}
}

/* Checks the dependencies of spec idx of a request: each "@N" names an
 * earlier spec (it has not ended: it is not inserted yet), each id a job
 * the caller may see.  Fills n's state. */
static int
resolve_deps(const struct jobspec *sp, uid_t caller, size_t idx,
	     struct store_job_new *n, int64_t now)
{
	const char *f = sp->dep_field != NULL ? sp->dep_field : "depends_on";
	int64_t *ids = xcalloc(sp->ndeps + 1, sizeof(*ids));
	size_t nids = 0, nrefs = 0;
	int64_t missing;
	bool failed;
	int rc = -1;

	n->dep_cond = sp->dep_cond;
	for (size_t i = 0; i < sp->ndeps; i++) {
		int64_t d = sp->depends_on[i];

		if (!JOBSPEC_DEP_IS_REF(d)) {
			ids[nids++] = d;
		} else if (JOBSPEC_DEP_REF_INDEX(d) >= idx) {
			diag_set(E_INVAL,
				 "%s: \"@%zu\" is not an earlier job of the "
				 "request",
				 f, JOBSPEC_DEP_REF_INDEX(d));
			goto out;
		} else {
			nrefs++;
		}
	}
	if (store_job_check_deps(ids, nids, caller == 0 ? -1 : (long)caller,
				 &missing, &failed, &n->deps_left) != 0)
		goto out;
	if (missing) {
		diag_set(E_INVAL, "%s: no job %lld", f, (long long)missing);
		goto out;
	}
	n->deps_left += (int)nrefs;
	deps_state(n, failed, now);
	rc = 0;
out:
	free(ids);
	return rc;
}

/* Fills the resolved fields of job idx of a request to insert. */
static int
resolve(const struct jobspec *sp, uid_t caller, size_t idx,
	struct store_job_new *n, struct queue **qp, int64_t now)
{
	struct queue *q = queue_find(sp->queue);
	if (q == NULL)
		return -1;
	if (q->deleting)
		return diag_set(E_STATE, "queue %s is being deleted",
				q->conf.name);
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
	n->kill_grace = sp->kill_grace >= 0	  ? sp->kill_grace
			: q->conf.kill_grace >= 0 ? q->conf.kill_grace
						  : daemon_kill_grace;
	n->max_attempts = sp->max_attempts > 0 ? sp->max_attempts
					       : q->conf.max_attempts;
	n->snooze_exit = sp->snooze_exit != JOBSPEC_SNOOZE_EXIT_UNSET
				 ? sp->snooze_exit
				 : q->conf.snooze_exit;
	n->snooze = sp->snooze >= 0 ? sp->snooze : q->conf.snooze;
	n->max_snoozes = sp->max_snoozes >= 0 ? sp->max_snoozes
					      : q->conf.max_snoozes;
	n->limits = sp->limits;
	joblimits_merge(&n->limits, &q->conf.limits);
	if (joblimits_check(&n->limits, cgroup_controllers(), "limits.") != 0)
		return -1;
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
	return resolve_deps(sp, caller, idx, n, now);
}

/* One job of a request while it is submitted. */
struct item {
	struct store_job_new nj;
	struct queue *q; /* kept from deletion by q->incoming */
	bool incoming;	 /* counted in q->incoming */
	bool reserved;	 /* counted in q->reserved */
	bool dup;	 /* its unique_key names a live job already:
				 * the result's id is that job's */
	json_t *shown;	 /* for job.submitted: the job as inserted */
	json_t *labels;	 /* owned: its labels over its queue's (nj.labels
			    points here); NULL: none */
	int64_t *deps;	 /* owned: its dependencies, "@N" resolved
			    (nj.deps points here); NULL: none */
};

static void
item_release(struct item *it)
{
	if (it->reserved)
		it->q->reserved--;
	if (it->incoming)
		it->q->incoming--;
	it->reserved = it->incoming = false;
}

/* Gives the loop a turn between jobs of a big request. */
static int
slice(bool sliced)
{
	return sliced ? await_slice() : 0;
}

/* Checks job i of a request: resolves it, counts it as incoming to its
 * queue, and tells whether its unique_key finds a live job (keys holds
 * the keys of the request's earlier jobs).  Writes nothing. */
static int
check_one(const struct jobspec *sp, size_t idx, uid_t uid, int64_t now,
	  json_t *keys, struct item *it, struct submit_result *r)
{
	if (resolve(sp, uid, idx, &it->nj, &it->q, now) != 0)
		return -1;
	if (labels_merge(sp->labels, &it->q->conf.labels, &it->labels) != 0)
		return -1;
	it->nj.labels = it->labels;
	it->q->incoming++;
	it->incoming = true;
	if (sp->unique_key == NULL)
		return 0;
	if (store_job_find_unique(sp->unique_key, it->nj.uid, &r->id) == 0) {
		it->dup = true;
		return 0;
	}
	if (diag_code() != E_NOTFOUND)
		return -1;
	/* A key repeated in this request finds its first use once that is
	 * inserted (unless that one starts cancelled: it holds no key);
	 * it takes no room meanwhile. */
	char *k =
		xasprintf("%lu:%s", (unsigned long)it->nj.uid, sp->unique_key);
	if (json_object_get(keys, k) != NULL)
		it->dup = true;
	else if (it->nj.state != JOBD_CANCELLED)
		json_object_set_new_nocheck(keys, k, json_true());
	free(k);
	if (it->dup)
		r->id = 0;
	return 0;
}

/* The ids of job it's dependencies, each "@N" the id spec N of the
 * request got (done holds the results of the specs before it): it->deps,
 * each id once. */
static void
deps_resolved(const struct jobspec *sp, struct item *it,
	      const struct submit_result *done)
{
	size_t n = 0;

	it->deps = xcalloc(sp->ndeps + 1, sizeof(*it->deps));
	for (size_t i = 0; i < sp->ndeps; i++) {
		int64_t d = sp->depends_on[i];
		size_t k;

		if (JOBSPEC_DEP_IS_REF(d))
			d = done[JOBSPEC_DEP_REF_INDEX(d)].id;
		for (k = 0; k < n && it->deps[k] != d; k++)
			;
		if (k == n)
			it->deps[n++] = d;
	}
	it->nj.deps = it->deps;
	it->nj.ndeps = n;
}

/* A dependency may have ended since the check: look again, or the job
 * could wait for an end that has passed.  One naming earlier specs of the
 * request learns their ids and states now. */
static int
recheck_deps(const struct jobspec *sp, struct item *it,
	     const struct submit_result *done, int64_t now)
{
	bool refs = false;
	int64_t missing;
	bool failed;

	for (size_t i = 0; i < sp->ndeps && !refs; i++)
		refs = JOBSPEC_DEP_IS_REF(sp->depends_on[i]);
	if (refs)
		deps_resolved(sp, it, done);
	if (it->nj.state != JOBD_WAITING && !refs)
		return 0;
	if (store_job_check_deps(it->nj.deps ? it->nj.deps : sp->depends_on,
				 it->nj.deps ? it->nj.ndeps : sp->ndeps, -1,
				 &missing, &failed, &it->nj.deps_left) != 0)
		return -1;
	if (missing) {
		/* Gone since: only finished jobs are pruned. */
		it->nj.deps_left = 0;
		failed = true;
	}
	deps_state(&it->nj, failed, now);
	return 0;
}

/* Inserts job it (checked) unless it turns out a duplicate, and counts
 * it in its queue; done holds the results of the request's jobs before
 * it.  No yield: what it reads still holds when it writes. */
static int
insert_one(const struct jobspec *sp, struct item *it, struct submit_result *r,
	   const struct submit_result *done, int64_t now)
{
	r->duplicate = false;
	r->fresh = false;
	if (it->dup && r->id > 0) {
		r->duplicate = true;
		item_release(it);
		return 0;
	}
	/* The key may have been taken since the check (by this request's
	 * first use of it, or by another). */
	if (sp->unique_key != NULL) {
		if (store_job_find_unique(sp->unique_key, it->nj.uid, &r->id) ==
		    0) {
			r->duplicate = true;
			item_release(it);
			return 0;
		}
		if (diag_code() != E_NOTFOUND)
			return -1;
	}
	if (recheck_deps(sp, it, done, now) != 0)
		return -1;
	if (store_job_insert(&it->nj, &r->id) != 0) {
		/* The key taken between the look above and the insert (a
		 * store that waits on its server lets another submit in
		 * between): a duplicate of that job, as if found above. */
		if (diag_code() != E_CONFLICT || sp->unique_key == NULL ||
		    store_job_find_unique(sp->unique_key, it->nj.uid, &r->id) !=
			    0)
			return -1;
		r->duplicate = true;
		item_release(it);
		return 0;
	}
	r->qid = it->nj.qid;
	r->state = it->nj.state;
	r->run_at = it->nj.run_at;
	r->fresh = true;
	/* Made now, not read at the announce: a claim sent while the insert
	 * was awaited may have taken the job already, and job.submitted
	 * shows it as submitted. */
	if (events_watched())
		it->shown =
			store_job_new_json(&it->nj, r->id, it->q->conf.name);
	item_release(it);
	jobs_inserted(r->qid, r->id, r->state);
	return 0;
}

/* Inserts what check_one passed, all or nothing.  A big request writes
 * in slices, each in a savepoint, while the store holds the group
 * transaction open (store_hold): no commit can take half of it.  A write
 * that fails after earlier slices were released rolls the whole group
 * transaction back (store_abort), since their rows cannot be taken back
 * alone. */
static int
insert_all(const struct jobspec *specs, size_t n, struct item *it,
	   struct submit_result *out, int64_t now, bool sliced)
{
	bool in_sp = false, released = false;
	size_t i = 0;
	for (; i < n; i++) {
		if (!in_sp) {
			if (store_savepoint() != 0)
				goto fail;
			in_sp = true;
		}
		if (insert_one(&specs[i], &it[i], &out[i], out, now) != 0)
			goto fail;
		if (sliced && coro_step_ns() >= AWAIT_SLICE_NS) {
			in_sp = false;
			released = true;
			if (store_release() != 0)
				goto fail;
			store_spill();
			/* Cancelled or not, the rest is inserted: a
			 * request is never left half written. */
			(void)await_yield();
		}
	}
	if (in_sp) {
		in_sp = false;
		if (store_release() != 0)
			goto fail;
	}
	return 0;
fail:
	if (in_sp)
		store_rollback();
	if (released) {
		/* The whole group transaction goes, and its counts with it
		 * (the store's transaction hooks). */
		char why[DIAG_MSG_MAX];
		snprintf(why, sizeof(why), "%s", diag_msg());
		store_abort();
		diag_set(E_DB, "%s", why);
		return -1;
	}
	/* Nothing of the request stays: its counts go back. */
	for (size_t k = 0; k <= i && k < n; k++)
		if (out[k].fresh)
			jobs_insert_undone(out[k].qid, out[k].id, out[k].state);
	return -1;
}

/* Whether job it takes room in a capped queue. */
static bool
takes_room(const struct item *it)
{
	return !it->dup && it->nj.state != JOBD_CANCELLED &&
	       it->q->conf.capacity > 0;
}

static bool
any_capped(const struct item *it, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (takes_room(&it[i]))
			return true;
	return false;
}

static int
by_id(const void *a, const void *b)
{
	const struct queue *x = *(struct queue *const *)a;
	const struct queue *y = *(struct queue *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Capacity, for the whole request at once: each capped queue the request
 * fills has room for all its jobs of it, or nothing is reserved (-1 with
 * E_FULL).  The room is reserved (q->reserved), so that submits running
 * meanwhile see it taken until the jobs are inserted and counted.
 *
 * Pending jobs are this node's counts, or, where the store keeps the
 * limits of several nodes (store_limits_shared), the database's over the
 * whole cluster, read with the queue's row locked until the group
 * transaction ends, so that submits to it on other nodes wait for this
 * one's commit.  Queues are locked in id order.  A queue's room is judged
 * as soon as its count comes back, before anything else of this node
 * runs: a submit of this node whose jobs the count includes has let its
 * reservation go by then, and one whose jobs it does not include still
 * holds it.  Yields then. */
static int
reserve_room(struct item *it, size_t n)
{
	struct queue **qs = xcalloc(n > 0 ? n : 1, sizeof(*qs));
	size_t nq = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (!takes_room(&it[i]))
			continue;
		while (k < nq && qs[k] != it[i].q)
			k++;
		if (k == nq)
			qs[nq++] = it[i].q;
	}
	qsort(qs, nq, sizeof(*qs), by_id);
	for (size_t k = 0; k < nq; k++) {
		struct queue *q = qs[k];
		int64_t pending = queue_pending(q), want = 0;

		if (store_limits_shared() &&
		    store_queue_pending(q->id, &pending) != 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			want += takes_room(&it[i]) && it[i].q == q;
		if (q->conf.capacity > 0 &&
		    pending + q->reserved + want > q->conf.capacity) {
			diag_set(E_FULL, "queue %s is full (capacity %lld)",
				 q->conf.name, (long long)q->conf.capacity);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (it[i].q != q || !takes_room(&it[i]))
				continue;
			q->reserved++;
			it[i].reserved = true;
		}
	}
	rc = 0;
out:
	free(qs);
	return rc;
}

int
submit_jobs(const struct jobspec *specs, size_t n, uid_t uid,
	    const char *prefix, struct submit_result *out, bool sliced)
{
	int64_t now = jobd_time_now_ms();
	struct item *it = xcalloc(n, sizeof(*it));
	json_t *keys = json_object();
	bool held = false;
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		out[i].fresh = false;
		if (check_one(&specs[i], i, uid, now, keys, &it[i], &out[i]) !=
		    0) {
			if (prefix) {
				char p[48];
				snprintf(p, sizeof(p), "%s[%zu]", prefix, i);
				diag_prefix(p);
			}
			goto out;
		}
		if (slice(sliced) != 0)
			goto out;
	}
	/* The group transaction is held from the capacity check to the
	 * last insert when the check locked queue rows (store_queue_pending):
	 * a commit in between would let the lock go before the jobs are in. */
	if (sliced || (store_limits_shared() && any_capped(it, n))) {
		if (jobs_hold() != 0)
			goto out;
		held = true;
	}
	if (reserve_room(it, n) != 0)
		goto out;
	if (insert_all(specs, n, it, out, now, sliced) != 0)
		goto out;
	/* Announced before the hold ends: no job of the request can start
	 * (and be reported started) before it is reported submitted. */
	for (size_t i = 0; i < n; i++) {
		if (out[i].fresh) {
			jobs_submitted(out[i].id, out[i].state, out[i].run_at,
				       it[i].shown);
			it[i].shown = NULL;
		}
		(void)slice(sliced);
	}
	rc = 0;
out:
	if (held)
		jobs_unhold();
	for (size_t i = 0; i < n; i++) {
		item_release(&it[i]);
		json_decref(it[i].shown);
		json_decref(it[i].labels);
		free(it[i].deps);
	}
	json_decref(keys);
	free(it);
	return rc;
}
