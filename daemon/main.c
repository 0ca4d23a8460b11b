/*
 * main: flags → config → store open + recovery → queues → control →
 * READY=1 → loop → shutdown.  Wiring only: every behaviour lives in a
 * module.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "await.h"
#include "commands.h"
#include "config.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "jobd/time.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "producer.h"
#include "queue.h"
#include "runner.h"
#include "safedir.h"
#include "scheduler.h"
#include "sdnotify.h"
#include "spawner.h"
#include "store.h"
#include "submit.h"
#include "users.h"
#include "xmem.h"

#define EX_CONFIG 78
#define MAX_RECOVERIES 3
/* A start step that writes (recovery, the queues) and cannot commit — the
 * database locked by another process, a full disk — is tried this many
 * times, START_PAUSE_US apart, then jobd exits: it never serves a
 * half-recovered state. */
#define START_TRIES 10
#define START_PAUSE_US 500000

static struct config cfg;
static char *config_path;
static char *state_dir;
static char *socket_path;
static char *log_dir;
static char *db_path;
static bool flag_debug;
static bool shutdown_started;
static bool shutdown_now;
static struct event shutdown_ev;	/* set on SIGTERM/SIGINT/shutdown */
static struct event skip_wait_ev;	/* set on the second signal */
static struct waitq supervisor_q;	/* wakes the supervisor */
static ev_signal sig_term, sig_int, sig_hup;
static bool reload_requested;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: jobd [-c FILE] [-s SOCKET] [-d STATE_DIR] [--debug]\n"
		"            [--check-config] [--version] [--help]\n"
		"\n"
		"  -c, --config FILE      config file (default %s)\n"
		"  -s, --socket PATH      control socket\n"
		"  -d, --state-dir DIR    state directory (jobd.db, logs/)\n"
		"      --debug            debug mode: slow-callback warnings,\n"
		"                         every job state change logged\n"
		"      --check-config     print the effective config and exit\n"
		"      --version          print the version and exit\n"
		"  -h, --help             this help\n"
		"\n"
		"Environment: JOBD_DEBUG=1, STATE_DIRECTORY, RUNTIME_DIRECTORY.\n"
		"Signals: SIGTERM/SIGINT drain and stop (twice: stop now),\n"
		"SIGHUP reloads the config.  See jobd(8).\n",
		geteuid() == 0 ? "/etc/jobd/jobd.conf"
			       : "~/.config/jobd/jobd.conf");
}

/* Applies flag > environment > file > default to the paths. */
static void
resolve_paths(const char *flag_socket, const char *flag_state)
{
	uid_t uid = geteuid();
	const char *rt = getenv("RUNTIME_DIRECTORY");
	const char *sd = getenv("STATE_DIRECTORY");
	if (flag_socket)
		socket_path = xstrdup(flag_socket);
	else if (rt && *rt)
		socket_path = config_default_socket(uid);
	else if (cfg.socket)
		socket_path = xstrdup(cfg.socket);
	else
		socket_path = config_default_socket(uid);
	if (flag_state)
		state_dir = xstrdup(flag_state);
	else if (sd && *sd)
		state_dir = config_default_state_dir(uid);
	else if (cfg.state_dir)
		state_dir = xstrdup(cfg.state_dir);
	else
		state_dir = config_default_state_dir(uid);
	free(cfg.socket);
	cfg.socket = xstrdup(socket_path);
	free(cfg.state_dir);
	cfg.state_dir = xstrdup(state_dir);
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode);
	free(p);
	return rc != 0 && errno != EEXIST ? -1 : 0;
}

static void
keep_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

static void
apply_runtime_settings(void)
{
	int level = cfg.log_level;
	if (cfg.debug && level < LOG_LEVEL_INFO)
		level = LOG_LEVEL_INFO;
	log_set_level((enum log_level)level);
	loop_set_debug(cfg.debug, cfg.slow_callback_ms);
	struct consumer_opts co = {log_dir, cfg.max_log_bytes, cfg.kill_grace};
	consumer_set_opts(&co);
	submit_set_kill_grace(cfg.kill_grace);
	queue_set_default_kill_grace(cfg.kill_grace);
	control_set_limits(cfg.max_request_bytes, cfg.max_connections,
			   cfg.request_timeout);
	long gid = -1;
	if (cfg.admin_group && *cfg.admin_group) {
		gid_t g;
		if (users_gid_by_name(cfg.admin_group, &g) == 0)
			gid = (long)g;
		else
			log_warnx("config: admin_group: %s", diag_msg());
	}
	control_set_admin_gid(gid);
}

static bool
debug_from_env(void)
{
	const char *e = getenv("JOBD_DEBUG");
	return e && *e && strcmp(e, "0") != 0;
}

/* Validates the config's producers (with check_queue, against the queues
 * that exist); -1 with diag "file:line: producer NAME: reason". */
static int
check_producers(const struct config *c, const char *path, bool check_queue)
{
	size_t i;
	json_t *obj;
	json_array_foreach(c->producers, i, obj)
	{
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
	json_array_foreach(c->producers, i, obj)
	{
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

/* Re-reads the config file.  The whole file is checked first (syntax,
 * ranges, every queue and producer definition, and that each producer's
 * queue will exist); only then is anything applied, so a refused reload
 * changes nothing. */
static int
reload(void)
{
	struct config nc;
	config_init(&nc);
	if (config_load(&nc, config_path) != 0 ||
	    check_producers(&nc, config_path, false) != 0 ||
	    check_producer_queues(&nc, config_path) != 0) {
		log_error("reload refused: %s", diag_msg());
		config_destroy(&nc);
		return -1;
	}
	/* Paths stay: moving the socket or the database needs a restart. */
	free(nc.socket);
	nc.socket = xstrdup(socket_path);
	free(nc.state_dir);
	nc.state_dir = xstrdup(state_dir);
	if (flag_debug || debug_from_env())
		nc.debug = true;
	config_destroy(&cfg);
	cfg = nc;
	apply_runtime_settings();
	/* Past the checks only the database can fail; what was applied
	 * stays, and the next reload applies the rest. */
	int rc = queue_apply_config(&cfg);
	for (struct queue *q = queue_first(); q; q = q->next) {
		consumer_sync(q);
		if (events_watched())
			events_queue(q->conf.name, queue_json(q));
	}
	if (rc == 0)
		rc = producer_apply_config(&cfg);
	if (rc != 0) {
		log_error("reload: %s", diag_msg());
		return -1;
	}
	log_info("config reloaded from %s", config_path);
	return 0;
}

static void
start_shutdown(bool now)
{
	if (now || shutdown_started) {
		shutdown_now = true;
		event_set(&skip_wait_ev);
	}
	shutdown_started = true;
	event_set(&shutdown_ev);
	waitq_notify_all(&supervisor_q);
}

static void
signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)l;
	(void)revents;
	if (w->signum == SIGHUP) {
		reload_requested = true;
		waitq_notify_all(&supervisor_q);
		return;
	}
	start_shutdown(false);
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

/* Waits until no attempt runs, or the deadline passes. */
static void
wait_for_runners(double deadline, struct event *skip)
{
	while (runner_count() > 0 && (skip == NULL || !skip->set)) {
		double left = deadline - loop_now();
		if (deadline >= 0 && left <= 0)
			break;
		if (await_sleep(0.02) != 0)
			break;
	}
}

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
		wait_for_runners(loop_now() + cfg.shutdown_timeout,
				 &skip_wait_ev);
	if (runner_count() > 0) {
		log_info("stopping %d running jobs", runner_count());
		runner_kill_all(RUNNER_KILL_INTERRUPT);
		wait_for_runners(-1, NULL);
	}
	while (consumer_count() > 0)
		if (await_sleep(0.01) != 0)
			break;
	scheduler_shutdown();
	store_sync();
	control_shutdown();
	store_sync();
	loop_stop();
}

static void
prune_expired(void)
{
	if (cfg.retention <= 0)
		return;
	int64_t n = 0;
	commands_prune_before(jobd_time_now_ms() -
				      (int64_t)(cfg.retention * 1000.0),
			      &n);
	if (n > 0)
		log_info("retention: pruned %lld finished jobs", (long long)n);
}

/* The supervisor: signals, reload, status, watchdog, retention, and the
 * shutdown sequence. */
static void
supervisor_f(void *arg)
{
	(void)arg;
	double wd = sdnotify_watchdog_interval();
	double tick = wd > 0 ? wd / 2 : 5.0;
	double next_prune = loop_now() + 10.0;
	for (;;) {
		if (shutdown_ev.set)
			break;
		if (reload_requested) {
			reload_requested = false;
			reload();
		}
		if (wd > 0)
			sdnotify_send("WATCHDOG=1");
		notify_status();
		if (loop_now() >= next_prune) {
			prune_expired();
			next_prune = loop_now() + 3600.0;
		}
		waitq_wait(&supervisor_q, tick);
	}
	drain_and_stop();
}

static void
recovered(int64_t id, int64_t qid, int from, int to, void *arg)
{
	(void)qid;
	(void)from;
	int *n = arg;
	(*n)++;
	if (to == JOBD_FAILED)
		log_warnx("job %lld: recovered too often, failed "
			  "(recovery_limit)",
			  (long long)id);
}

static int nrec;

static int
recover_step(void)
{
	nrec = 0;
	return store_job_recover(jobd_time_now_ms(), MAX_RECOVERIES, recovered,
				 &nrec);
}

static int
queues_step(void)
{
	return queue_init(&cfg);
}

/* Runs step (what writes at start) and commits it; when either fails,
 * undo (may be NULL) forgets what memory holds of it, and it is tried
 * again, up to START_TRIES times; then jobd exits. */
static void
start_step(const char *what, int (*step)(void), void (*undo)(void))
{
	for (int i = 1;; i++) {
		if (step() == 0 && store_commit_now() == 0)
			return;
		/* A step that failed halfway leaves nothing behind. */
		store_abort();
		if (undo != NULL)
			undo();
		if (i == START_TRIES)
			fatalx("%s: %s (gave up after %d tries: jobd does not "
			       "serve until it can write its database)",
			       what, diag_msg(), i);
		log_warnx("%s: %s; trying again", what, diag_msg());
		usleep(START_PAUSE_US);
	}
}

/* Narrows path to mode (see safedir_restrict), saying so; fatal when it
 * cannot. */
static void
restrict_mode(const char *path, mode_t mode)
{
	bool changed;
	if (safedir_restrict(path, mode, &changed) != 0)
		fatalx("state directory: %s", diag_msg());
	if (changed)
		log_info("%s was open to other users: mode narrowed to %04o",
			 path, (unsigned)mode);
}

/* The state directory holds every job's environment: it must be ours and
 * writable by nobody else (else refused), and it and logs/ are made 0700,
 * the database files 0600, whatever they were before.  A missing database
 * is created 0600 here, so SQLite (which gives -wal and -shm the database
 * file's mode) never creates a readable one. */
static void
secure_state_dir(void)
{
	if (mkdir_p(state_dir, 0700) != 0)
		fatal("cannot create state directory %s", state_dir);
	if (safedir_check(state_dir, 0) != 0)
		fatalx("unsafe state directory: %s", diag_msg());
	restrict_mode(state_dir, 0700);
	if (mkdir_p(log_dir, 0700) != 0)
		fatal("cannot create %s", log_dir);
	if (safedir_check(log_dir, 0) != 0)
		fatalx("unsafe state directory: %s", diag_msg());
	restrict_mode(log_dir, 0700);
	static const char *const files[] = {"jobd.db", "jobd.db-wal",
					    "jobd.db-shm", "jobd.lock", NULL};
	for (int i = 0; files[i] != NULL; i++) {
		char *p = xasprintf("%s/%s", state_dir, files[i]);
		restrict_mode(p, 0600);
		free(p);
	}
	int fd = open(db_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (fd < 0)
		fatal("cannot open %s", db_path);
	close(fd);
}

/* Whoever can write to the socket's directory can put their own socket in
 * its place and receive the clients' requests: the directory (created if
 * missing) must be ours or root's and writable by nobody else, unless it is
 * sticky like /tmp.  A socket handed over by systemd is not checked. */
static void
check_socket_dir(void)
{
	char *dir = xstrdup(socket_path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, geteuid() == 0 ? 0755 : 0700) != 0)
			fatal("cannot create %s", dir);
		if (safedir_check(dir, SAFEDIR_ROOT_OK | SAFEDIR_STICKY_OK) !=
		    0)
			fatalx("unsafe socket directory: %s", diag_msg());
	}
	free(dir);
}

/* One jobd per state directory: a second would recover (and kill) the
 * first one's running jobs.  The lock lives as long as the process. */
static void
lock_state_dir(void)
{
	char *path = xasprintf("%s/jobd.lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		fatal("cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			fatalx("another jobd uses the state directory %s",
			       state_dir);
		fatal("cannot lock %s", path);
	}
	free(path);
}

/* The spawner starts every job: without it no job can start.  jobd exits
 * with an error at once, as a crash would (nothing unwound, nothing more
 * committed); running jobs die with it, and its next start recovers
 * them. */
static void
spawner_lost(const char *why)
{
	log_error("%s: jobd cannot run jobs without it, exiting", why);
	_exit(1);
}

struct orphans {
	int64_t *ids;
	int *pids;
	size_t n;
};

static void
orphan_add(int64_t id, int pid, void *arg)
{
	struct orphans *o = arg;
	o->ids = xreallocarray(o->ids, o->n + 1, sizeof(*o->ids));
	o->pids = xreallocarray(o->pids, o->n + 1, sizeof(*o->pids));
	o->ids[o->n] = id;
	o->pids[o->n] = pid;
	o->n++;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"state-dir", required_argument, NULL, 'd'},
		{"debug", no_argument, NULL, 'D'},
		{"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *flag_config = NULL, *flag_socket = NULL,
		   *flag_state = NULL;
	bool check_only = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:s:d:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			flag_config = optarg;
			break;
		case 's':
			flag_socket = optarg;
			break;
		case 'd':
			flag_state = optarg;
			break;
		case 'D':
			flag_debug = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 'V':
			printf("jobd %s\n", JOBD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jobd: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_init(LOG_LEVEL_INFO);
	config_init(&cfg);
	config_path = flag_config ? xstrdup(flag_config)
				  : config_default_path(geteuid());
	if (config_load(&cfg, config_path) != 0 ||
	    check_producers(&cfg, config_path, false) != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		return EX_CONFIG;
	}
	if (flag_debug || debug_from_env())
		cfg.debug = true;
	resolve_paths(flag_socket, flag_state);
	if (check_only) {
		config_print(&cfg, stdout);
		return 0;
	}
	keep_std_fds();
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid() ^ (unsigned)jobd_time_now_ms());
	/* No fastbins: a big request frees tens of thousands of small JSON
	 * nodes, and the next large allocation then paid for consolidating
	 * them (a tenth of a batch submit's time).  tcache still serves the
	 * small sizes. */
	mallopt(M_MXFAST, 0);
	log_init((enum log_level)cfg.log_level);
	sdnotify_init();

	log_dir = xasprintf("%s/logs", state_dir);
	db_path = xasprintf("%s/jobd.db", state_dir);
	secure_state_dir();
	lock_state_dir();
	/* Now, while jobd is small: every job's reported peak RSS is at
	 * least the spawner's, which is jobd's at this point. */
	if (spawner_init() != 0)
		fatalx("%s", diag_msg());
	int listen_fd = sdnotify_listen_fd();
	if (listen_fd < 0 && diag_code() == E_INVAL)
		fatalx("socket activation: %s", diag_msg());
	if (listen_fd < 0)
		check_socket_dir();

	loop_init();
	spawner_watch(spawner_lost);
	/* A fault injection for the tests: while this file exists, every
	 * commit fails as with a full disk.  Honoured in debug mode only. */
	const char *fault = getenv("JOBD_TEST_DISK_FULL");
	if (cfg.debug && fault != NULL && *fault != '\0')
		store_fault_file = fault;
	if (store_open(db_path, cfg.synchronous_full) != 0)
		fatalx("%s", diag_msg());
	loop_add_flush(store_flush, NULL, "store.commit");
	events_init();

	struct orphans orph = {NULL, NULL, 0};
	if (store_job_running_pids(orphan_add, &orph) != 0)
		fatalx("recovery: %s", diag_msg());
	int nkilled = runner_kill_orphans(orph.ids, orph.pids, orph.n);
	if (nkilled > 0)
		log_info("killed %d leftover processes of jobs that ran under "
			 "a previous jobd",
			 nkilled);
	free(orph.ids);
	free(orph.pids);
	/* Jobs left running are recovered, and that is committed, before
	 * anything else reads the store or anyone is served. */
	start_step("recovery", recover_step, NULL);
	start_step("queues", queues_step, queue_shutdown);
	/* A producer's queue may come from the database: checked now. */
	if (check_producers(&cfg, config_path, true) != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		store_close();
		return EX_CONFIG;
	}
	if (nrec > 0)
		log_info("recovered %d jobs left running by a previous jobd",
			 nrec);

	struct consumer_opts co = {log_dir, cfg.max_log_bytes, cfg.kill_grace};
	consumer_init(&co);
	struct commands_ctx cx = {&cfg, log_dir, db_path, loop_now(), reload,
				  start_shutdown};
	commands_init(&cx);
	if (producer_init(&cfg) != 0)
		fatalx("producers: %s", diag_msg());
	struct control_opts ctl = {
		socket_path,	      listen_fd,
		cfg.socket_mode,      cfg.socket_group,
		cfg.max_request_bytes, cfg.max_connections,
		cfg.request_timeout,   geteuid() != 0,
	};
	if (control_init(&ctl) != 0)
		fatalx("%s", diag_msg());
	apply_runtime_settings();
	for (struct queue *q = queue_first(); q; q = q->next)
		consumer_sync(q);
	scheduler_init(jobs_promote_due);

	ev_signal_init(&sig_term, signal_cb, SIGTERM);
	ev_signal_init(&sig_int, signal_cb, SIGINT);
	ev_signal_init(&sig_hup, signal_cb, SIGHUP);
	ev_signal_start(loop_ev(), &sig_term);
	ev_signal_start(loop_ev(), &sig_int);
	ev_signal_start(loop_ev(), &sig_hup);
	ev_unref(loop_ev());
	ev_unref(loop_ev());
	ev_unref(loop_ev());
	coro_detach(coro_spawn("supervisor", supervisor_f, NULL));

	log_info("jobd %s ready: socket %s, state %s%s", JOBD_VERSION,
		 socket_path, state_dir, cfg.debug ? ", debug mode" : "");
	sdnotify_send("READY=1");
	loop_run();

	ev_ref(loop_ev());
	ev_ref(loop_ev());
	ev_ref(loop_ev());
	ev_signal_stop(loop_ev(), &sig_term);
	ev_signal_stop(loop_ev(), &sig_int);
	ev_signal_stop(loop_ev(), &sig_hup);
	spawner_shutdown();
	store_close();
	queue_shutdown();
	events_shutdown();
	loop_shutdown();
	coro_shutdown();
	config_destroy(&cfg);
	free(config_path);
	free(state_dir);
	free(socket_path);
	free(log_dir);
	free(db_path);
	log_info("stopped");
	return 0;
}
