/*
 * service: the supervisor coroutine — signals, reload, status, watchdog,
 * retention — and the shutdown sequence.  Signal callbacks only record
 * what was asked and wake the supervisor; the supervisor does the work.
 * It waits on conditions (its own wait queue, the consumers' drain), never
 * on a polling sleep.
 */
#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "await.h"
#include "cgroup.h"
#include "cluster.h"
#include "commands.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/time.h"
#include "log.h"
#include "loop.h"
#include "producer.h"
#include "queue.h"
#include "runner.h"
#include "scheduler.h"
#include "sdnotify.h"
#include "store.h"
#include "submit.h"
#include "users.h"
#include "xmem.h"

static struct service_opts opts;
static bool shutdown_started;	  /* SIGTERM/SIGINT/shutdown came */
static bool shutdown_now;	  /* a second one: skip the drain's wait */
static bool reload_requested;	  /* SIGHUP came */
static struct waitq supervisor_q; /* wakes the supervisor */
static ev_signal sig_term, sig_int, sig_hup;

/* Applies what a reload may change. */
static void
apply_settings(void)
{
	const struct config *cfg = opts.cfg;
	int level = cfg->log_level;
	if (cfg->debug && level < LOG_LEVEL_INFO)
		level = LOG_LEVEL_INFO;
	log_set_level((enum log_level)level);
	loop_set_debug(cfg->debug, cfg->slow_callback_ms);
	struct consumer_opts co = {opts.log_dir, cfg->max_log_bytes,
				   cfg->kill_grace, cfg->max_result_bytes};
	consumer_set_opts(&co);
	submit_set_kill_grace(cfg->kill_grace);
	queue_set_default_kill_grace(cfg->kill_grace);
	control_set_limits(cfg->max_request_bytes, cfg->max_connections,
			   cfg->request_timeout);
	long gid = -1;
	if (cfg->admin_group && *cfg->admin_group) {
		gid_t g;
		if (users_gid_by_name(cfg->admin_group, &g) == 0)
			gid = (long)g;
		else
			log_warnx("config: admin_group: %s", diag_msg());
	}
	control_set_admin_gid(gid);
}

void
service_init(const struct service_opts *o)
{
	opts = *o;
	apply_settings();
}

int
service_check_producers(const struct config *c, const char *path,
			bool check_queue)
{
	size_t i;
	json_t *obj;
	json_array_foreach (c->producers, i, obj) {
		if (producer_check(obj, check_queue) == 0)
			continue;
		char msg[DIAG_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", diag_msg());
		return diag_set(E_INVAL, "%s:%d: producer %s: %s", path,
				c->producer_lines ? c->producer_lines[i] : 0,
				json_string_value(json_object_get(obj, "name")),
				msg);
	}
	return 0;
}

int
service_check_limits(const struct config *c, const char *path)
{
	for (size_t i = 0; i < c->nqueues; i++) {
		const struct queue_conf *q = &c->queues[i];
		if (joblimits_check(&q->limits, cgroup_controllers(),
				    "limit_") == 0)
			continue;
		char msg[DIAG_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", diag_msg());
		return diag_set(E_INVAL, "%s: [queue %s] %s", path, q->name,
				msg);
	}
	return 0;
}

/* True when queue name exists, or c (the file about to be applied)
 * defines it. */
static bool
queue_known(const struct config *c, const char *name)
{
	if (queue_find(name) != NULL)
		return true;
	for (size_t i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, name) == 0)
			return true;
	return false;
}

/* Checks that every producer of c feeds a queue that exists once c is
 * applied; -1 with diag "file:line: producer NAME: no queue Q". */
static int
check_producer_queues(const struct config *c, const char *path)
{
	size_t i;
	json_t *obj;
	json_array_foreach (c->producers, i, obj) {
		const char *q =
			json_string_value(json_object_get(obj, "queue"));
		if (q == NULL)
			q = "default";
		if (queue_known(c, q))
			continue;
		return diag_set(
			E_INVAL, "%s:%d: producer %s: no queue %s", path,
			c->producer_lines ? c->producer_lines[i] : 0,
			json_string_value(json_object_get(obj, "name")), q);
	}
	diag_clear();
	return 0;
}

int
service_reload(void)
{
	struct config nc;
	config_init(&nc);
	if (config_load(&nc, opts.config_path) != 0 ||
	    service_check_limits(&nc, opts.config_path) != 0 ||
	    service_check_producers(&nc, opts.config_path, false) != 0 ||
	    check_producer_queues(&nc, opts.config_path) != 0) {
		log_error("reload refused: %s", diag_msg());
		config_destroy(&nc);
		return -1;
	}
	/* Paths stay: moving the socket or the database needs a restart. */
	free(nc.socket);
	nc.socket = xstrdup(opts.socket_path);
	free(nc.state_dir);
	nc.state_dir = xstrdup(opts.state_dir);
	if (opts.debug)
		nc.debug = true;
	/* So do the store and the node's name and lease. */
	if (config_keep_start_keys(&nc, opts.cfg))
		log_warnx("reload: store, database, node_name, lease and "
			  "rescue_grace take effect at the next start: the "
			  "running values stay");
	config_destroy(opts.cfg);
	*opts.cfg = nc;
	apply_settings();
	/* Past the checks only the database can fail; what was applied
	 * stays, and the next reload applies the rest. */
	int rc = queue_apply_config(opts.cfg);
	for (struct queue *q = queue_first(); q; q = q->next) {
		consumer_sync(q);
		if (events_watched())
			events_queue(q->conf.name, queue_json(q));
	}
	if (rc == 0)
		rc = producer_apply_config(opts.cfg);
	if (rc != 0) {
		log_error("reload: %s", diag_msg());
		return -1;
	}
	log_info("config reloaded from %s", opts.config_path);
	return 0;
}

void
service_request_shutdown(bool now)
{
	if (now || shutdown_started) {
		shutdown_now = true;
		/* A drain waiting for running jobs looks again. */
		consumer_drain_wake();
	}
	shutdown_started = true;
	waitq_notify_all(&supervisor_q);
}

static void
service_signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)l;
	(void)revents;
	if (w->signum == SIGHUP) {
		reload_requested = true;
		waitq_notify_all(&supervisor_q);
		return;
	}
	service_request_shutdown(false);
}

static void
notify_status(void)
{
	int64_t running = 0, queued = 0;
	for (struct queue *q = queue_first(); q; q = q->next) {
		running += q->counts[JOBD_RUNNING];
		queued += queue_pending(q);
	}
	sdnotify_send("STATUS=%lld running, %lld queued", (long long)running,
		      (long long)queued);
}

/* Stops taking work, lets running jobs end (up to shutdown_timeout,
 * unless told to stop now), interrupts what still runs, waits for every
 * consumer to leave, then stops the loop. */
static void
drain_and_stop(void)
{
	log_info("shutting down%s", shutdown_now ? " now" : "");
	sdnotify_send("STOPPING=1");
	commands_set_shutting_down();
	events_daemon_stopping();
	consumer_stop_all();
	producer_shutdown();
	if (!shutdown_now)
		consumer_await_drained(false,
				       loop_now() + opts.cfg->shutdown_timeout,
				       &shutdown_now);
	if (runner_count() > 0) {
		log_info("stopping %d running jobs", runner_count());
		runner_kill_all(RUNNER_KILL_INTERRUPT);
		consumer_await_drained(false, -1, NULL);
	}
	consumer_await_drained(true, -1, NULL);
	/* No attempt runs any more: peers may forget this node. */
	cluster_leave();
	scheduler_shutdown();
	store_sync();
	control_shutdown();
	store_sync();
	loop_stop();
}

/* One retention pass: each queue's rules, falling back to the daemon's
 * retention.  Cheap when nothing is due (a few indexed queries per
 * queue), so it runs every prune_interval. */
static void
prune_expired(void)
{
	int64_t n = 0;
	commands_prune_rules(opts.cfg->retention, &n);
	if (n > 0)
		log_info("retention: pruned %lld finished jobs", (long long)n);
}

static void
service_supervisor_f(void *arg)
{
	(void)arg;
	double wd = sdnotify_watchdog_interval();
	double tick = wd > 0 ? wd / 2 : 5.0;
	double next_prune = loop_now() + opts.cfg->prune_interval;
	for (;;) {
		if (shutdown_started)
			break;
		if (reload_requested) {
			reload_requested = false;
			service_reload();
		}
		if (wd > 0)
			sdnotify_send("WATCHDOG=1");
		notify_status();
		if (loop_now() >= next_prune) {
			prune_expired();
			next_prune = loop_now() + opts.cfg->prune_interval;
		}
		double wait = next_prune - loop_now();
		waitq_wait(&supervisor_q,
			   wait > 0 && wait < tick ? wait : tick);
	}
	drain_and_stop();
}

void
service_start(void)
{
	ev_signal_init(&sig_term, service_signal_cb, SIGTERM);
	ev_signal_init(&sig_int, service_signal_cb, SIGINT);
	ev_signal_init(&sig_hup, service_signal_cb, SIGHUP);
	ev_signal_start(loop_ev(), &sig_term);
	ev_signal_start(loop_ev(), &sig_int);
	ev_signal_start(loop_ev(), &sig_hup);
	ev_unref(loop_ev());
	ev_unref(loop_ev());
	ev_unref(loop_ev());
	coro_detach(coro_spawn("supervisor", service_supervisor_f, NULL));
}

void
service_shutdown(void)
{
	ev_ref(loop_ev());
	ev_ref(loop_ev());
	ev_ref(loop_ev());
	ev_signal_stop(loop_ev(), &sig_term);
	ev_signal_stop(loop_ev(), &sig_int);
	ev_signal_stop(loop_ev(), &sig_hup);
}
