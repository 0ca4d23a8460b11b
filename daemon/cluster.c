/*
 * cluster: registration, heartbeat, rescue and fencing (cluster.h says
 * the timeline).  Two coroutines and a timer: the heartbeat renews the
 * lease every lease/3 (every second after a failure) and registers the
 * node again after a fence; the rescue looks for dead peers every 2 s;
 * the fencing timer runs on the node's own clock, so a heartbeat stuck on
 * a cut connection cannot delay it.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "log.h"
#include "loop.h"
#include "producer.h"
#include "queue.h"
#include "runner.h"
#include "store.h"
#include "xmem.h"

/* How often every node looks for dead peers (s). */
#define RESCUE_EVERY 2.0
/* Pause after a failed heartbeat or registration (s). */
#define RETRY_EVERY 1.0

static struct cluster_opts opts;
static char *name_kept, *instance_kept; /* owned copies of opts' */
static bool active;			/* started, not left */
static bool fenced;
static double t_ok; /* CLOCK_BOOTTIME (s): the last committed heartbeat's
		       send */
static ev_timer fence_timer;
static struct coro *heart, *rescuer;

static double
boottime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool
cluster_fenced(void)
{
	return fenced;
}

/* ---- the fencing clock ---- */

static double
pause_at(void)
{
	return t_ok + opts.lease / 2;
}

/* G: how long attempts get between SIGTERM and SIGKILL when fenced. */
static double
fence_grace(void)
{
	double g = opts.kill_grace;
	return g < opts.lease / 2 ? g : opts.lease / 2;
}

static double
fence_at(void)
{
	return t_ok + opts.lease - opts.lease / 12 - fence_grace();
}

/* Arms the timer for the next step still ahead, if any. */
static void
fence_arm(void)
{
	ev_timer_stop(loop_ev(), &fence_timer);
	if (!active || fenced)
		return;
	double now = boottime();
	double next = now < pause_at() ? pause_at() : fence_at();
	double in = next - now;
	ev_timer_set(&fence_timer, in > 0 ? in : 0, 0);
	ev_timer_start(loop_ev(), &fence_timer);
}

/* Stops every attempt of this node before its lease can end: SIGTERM now,
 * SIGKILL G later; their consumers record nothing (the node registers
 * again and recovers them, unless a peer rescued them first). */
static void
fence(const char *why)
{
	if (fenced)
		return;
	fenced = true;
	store_node_fence();
	int n = runner_count();
	log_error("cluster: node %s fenced (%s): stopping its %d running "
		  "attempts; it registers again once the database answers",
		  opts.name, why, n);
	runner_fence_all(fence_grace());
	producer_fence(fence_grace());
	if (heart != NULL)
		coro_wakeup(heart);
}

static void
fence_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	double now = boottime();
	if (now >= fence_at()) {
		fence("its lease could not be renewed in time");
		return;
	}
	if (now >= pause_at()) {
		log_warnx("cluster: node %s: lease not renewed for %.1f s: "
			  "claiming nothing until it is",
			  opts.name, now - t_ok);
		store_node_pause_claims(true);
	}
	fence_arm();
}

/* ---- registration, heartbeat ---- */

/* A job of this node's earlier incarnation back to queued (or failed):
 * counted and woken like any move. */
static void
moved(int64_t id, int64_t qid, int from, int to, void *arg)
{
	int *n = arg;
	(*n)++;
	queue_job_moved(qid, id, from, to,
			to == JOBD_FAILED ? JOBD_REASON_RECOVERY_LIMIT
					  : JOBD_REASON_RECOVERED);
}

/* Registers the node and commits it; t_ok becomes the moment it was sent.
 * An answer that came after half the lease is no use (the fence would
 * fall at once): the node stays fenced and tries again. */
static int
register_now(void)
{
	double sent = boottime();
	if (store_node_register(opts.name, opts.instance, opts.lease) != 0 ||
	    store_sync() != 0)
		return -1;
	if (boottime() >= sent + opts.lease / 2) {
		store_node_fence();
		return diag_set(E_TIMEOUT, "the registration was answered "
					   "too late");
	}
	t_ok = sent;
	return 0;
}

/* After a fence: registers again and recovers what the fence killed. */
static int
rejoin(void)
{
	if (register_now() != 0)
		return -1;
	int n = 0;
	if (store_job_recover(jobd_time_now_ms(), opts.max_recoveries, moved,
			      &n) != 0 ||
	    store_sync() != 0) {
		/* Registered, not recovered: fenced again, so that the next
		 * registration (a newer epoch still) recovers them. */
		store_node_fence();
		return -1;
	}
	fenced = false;
	store_node_pause_claims(false);
	log_info("cluster: node %s registered again (epoch %d); %d jobs of "
		 "its attempts recovered",
		 opts.name, store_node_epoch(), n);
	/* Its claims found nothing while it was fenced, and its consumers
	 * took the queues for empty: every one tries again. */
	for (struct queue *q = queue_first(); q != NULL; q = q->next)
		q->maybe_ready = true;
	queue_wake_all();
	fence_arm();
	return 0;
}

/* Another node cancelled a job this one runs: stop the attempt. */
static void
cancelled_here(int64_t id, void *arg)
{
	(void)arg;
	struct runner *r = runner_find(id);
	if (r != NULL)
		runner_kill(r, RUNNER_KILL_CANCEL);
}

static void
heart_f(void *arg)
{
	(void)arg;
	while (active) {
		double pause = opts.lease / 3;
		if (fenced) {
			if (rejoin() != 0) {
				log_debug("cluster: cannot register yet: %s",
					  diag_msg());
				pause = RETRY_EVERY;
			}
		} else {
			double sent = boottime();
			if (store_node_heartbeat(opts.lease) == 0 &&
			    store_sync() == 0) {
				t_ok = sent;
				store_node_pause_claims(false);
				fence_arm();
				(void)store_node_cancelled(cancelled_here,
							   NULL);
			} else if (diag_code() == E_CONFLICT) {
				fence(diag_msg());
				continue;
			} else {
				log_warnx("cluster: heartbeat: %s", diag_msg());
				pause = RETRY_EVERY;
			}
		}
		if (await_sleep(pause) != 0 && diag_code() == E_CANCELLED)
			break;
	}
}

/* ---- the rescue ---- */

static void
rescue_f(void *arg)
{
	(void)arg;
	while (active) {
		if (await_sleep(RESCUE_EVERY) != 0 &&
		    diag_code() == E_CANCELLED)
			break;
		if (fenced)
			continue;
		int n = 0;
		if (store_node_rescue(opts.rescue_grace, opts.max_recoveries,
				      moved, &n) != 0 ||
		    (n > 0 && store_sync() != 0)) {
			log_warnx("cluster: rescue: %s", diag_msg());
			continue;
		}
		if (n > 0)
			log_info("cluster: rescued %d running jobs of nodes "
				 "whose lease ran out",
				 n);
	}
}

/* ---- start and stop ---- */

int
cluster_register(const struct cluster_opts *o)
{
	opts = *o;
	name_kept = xstrdup(o->name);
	instance_kept = xstrdup(o->instance);
	opts.name = name_kept;
	opts.instance = instance_kept;
	if (register_now() == 0)
		return 0;
	free(name_kept);
	free(instance_kept);
	name_kept = instance_kept = NULL;
	return -1;
}

void
cluster_start(void)
{
	if (store_node_id() == 0)
		return; /* SQLite */
	active = true;
	ev_init(&fence_timer, fence_cb);
	fence_arm();
	heart = coro_spawn("cluster.heartbeat", heart_f, NULL);
	rescuer = coro_spawn("cluster.rescue", rescue_f, NULL);
}

void
cluster_leave(void)
{
	if (!active)
		return;
	active = false;
	ev_timer_stop(loop_ev(), &fence_timer);
	coro_cancel(heart);
	coro_cancel(rescuer);
	coro_join(heart);
	coro_join(rescuer);
	heart = rescuer = NULL;
	if (!fenced && (store_node_leave() != 0 || store_sync() != 0))
		log_warnx("cluster: leaving: %s", diag_msg());
	free(name_kept);
	free(instance_kept);
	name_kept = instance_kept = NULL;
}

/* ---- the instance ---- */

int
cluster_instance(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t got = read(fd, buf, n - 1);
		close(fd);
		if (got >= 36) {
			buf[36] = '\0';
			return 0;
		}
	} else if (errno != ENOENT) {
		return diag_set(E_IO, "%s: %s", path, strerror(errno));
	}
	/* None yet (or unreadable as one): a new instance. */
	fd = open("/proc/sys/kernel/random/uuid", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, n - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (got < 36)
		return diag_set(E_IO, "cannot make a node instance id");
	buf[36] = '\0';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return diag_set(E_IO, "%s: %s", path, strerror(errno));
	char line[40];
	int len = snprintf(line, sizeof(line), "%s\n", buf);
	ssize_t w = write(fd, line, (size_t)len);
	int rc = close(fd);
	if (w != len || rc != 0)
		return diag_set(E_IO, "%s: cannot write", path);
	return 0;
}
