/*
 * main: flags → config → store open + recovery → queues → control →
 * service → READY=1 → loop → shutdown.  Wiring only: every behaviour lives
 * in a module; the running daemon (signals, reload, drain) is service's.
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
#include "cgroup.h"
#include "cluster.h"
#include "commands.h"
#include "config.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "hooks.h"
#include "jobd/time.h"
#include "jobs.h"
#include "log.h"
#include "loop.h"
#include "producer.h"
#include "queue.h"
#include "relay.h"
#include "runner.h"
#include "safedir.h"
#include "scheduler.h"
#include "service.h"
#include "sdnotify.h"
#include "spawner.h"
#include "store.h"
#include "talkback.h"
#include "xmem.h"

#define EX_CONFIG 78
#define MAX_RECOVERIES 3
/* A start step that writes (recovery, the queues) and cannot commit — the
 * database locked by another process, a full disk — is tried this many
 * times, START_PAUSE apart, then jobd exits: it never serves a
 * half-recovered state. */
#define START_TRIES 10
#define START_PAUSE 0.5 /* s */

static struct config cfg;
static char *config_path;
static char *state_dir;
static char *socket_path;
static char *log_dir;
static char *db_path;
static bool flag_debug;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: jobd [-c FILE] [-s SOCKET] [-d STATE_DIR] [--debug]\n"
		"            [--check-config | --init-db] [--version] "
		"[--help]\n"
		"\n"
		"  -c, --config FILE      config file (default %s)\n"
		"  -s, --socket PATH      control socket\n"
		"  -d, --state-dir DIR    state directory (jobd.db, logs/)\n"
		"      --debug            debug mode: slow-callback warnings,\n"
		"                         every job state change logged\n"
		"      --check-config     print the effective config and exit\n"
		"      --init-db          create or migrate the database's\n"
		"                         schema and exit\n"
		"      --version          print the version and exit\n"
		"  -h, --help             this help\n"
		"\n"
		"Environment: JOBD_DEBUG=1, STATE_DIRECTORY, "
		"RUNTIME_DIRECTORY.\n"
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

static bool
debug_from_env(void)
{
	const char *e = getenv("JOBD_DEBUG");
	return e && *e && strcmp(e, "0") != 0;
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

/* One of main's steps, run as a coroutine on the loop: opening the store,
 * recovery and the modules' start, and the store's close, wait on the
 * database through the loop (the PostgreSQL store does). */
struct on_loop {
	void (*fn)(void);
	bool done;
};

static void
on_loop_f(void *arg)
{
	struct on_loop *o = arg;
	o->fn();
	o->done = true;
	loop_stop();
}

static void
keep_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Runs fn as a coroutine until it returns, the loop running meanwhile. */
static void
run_on_loop(const char *name, void (*fn)(void))
{
	struct on_loop o = {fn, false};
	/* Keeps ev_run waiting while fn waits on a condition that no
	 * watcher of its own stands for (a commit the flush hook makes). */
	ev_timer keep;
	ev_timer_init(&keep, keep_cb, 3600, 3600);
	ev_timer_start(loop_ev(), &keep);
	coro_detach(coro_spawn(name, on_loop_f, &o));
	while (!o.done)
		loop_run();
	ev_timer_stop(loop_ev(), &keep);
}

/* Runs step (what writes at start) and commits it; when either fails,
 * undo (may be NULL) forgets what memory holds of it, and it is tried
 * again, up to START_TRIES times; then jobd exits. */
static void
start_step(const char *what, int (*step)(void), void (*undo)(void))
{
	for (int i = 1;; i++) {
		if (step() == 0 && store_sync() == 0)
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
		(void)await_sleep(START_PAUSE);
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
 * the database files 0600, whatever they were before.  Run as root, the
 * state directory is 0711 instead: jobs of other users pass through it to
 * their own files in talk/ (talkback.h), and nobody lists it.  A missing database
 * is created 0600 here, so SQLite (which gives -wal and -shm the database
 * file's mode) never creates a readable one. */
static void
secure_state_dir(void)
{
	if (safedir_mkdir_p(state_dir, 0700) != 0)
		fatal("cannot create state directory %s", state_dir);
	if (safedir_check(state_dir, 0) != 0)
		fatalx("unsafe state directory: %s", diag_msg());
	restrict_mode(state_dir, geteuid() == 0 ? 0711 : 0700);
	if (safedir_mkdir_p(log_dir, 0700) != 0)
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
	if (cfg.store != CONFIG_STORE_SQLITE)
		return; /* no database file here */
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
		if (safedir_mkdir_p(dir, geteuid() == 0 ? 0755 : 0700) != 0)
			fatal("cannot create %s", dir);
		if (safedir_check(dir, SAFEDIR_ROOT_OK | SAFEDIR_STICKY_OK) !=
		    0)
			fatalx("unsafe socket directory: %s", diag_msg());
	}
	free(dir);
}

/* One jobd per state directory: a second would recover (and kill) the
 * first one's running jobs.  The lock lives as long as the process.
 * Returns 0, or -1 with diag E_CONFLICT when another process holds it. */
static int
lock_state_dir(void)
{
	char *path = xasprintf("%s/jobd.lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		fatal("cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			fatal("cannot lock %s", path);
		close(fd);
		free(path);
		return diag_set(E_CONFLICT,
				"another jobd uses the state directory %s",
				state_dir);
	}
	free(path);
	return 0;
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

/* What the command line asked for. */
struct flags {
	const char *config; /* borrowed from argv, or NULL */
	const char *socket; /* borrowed from argv, or NULL */
	const char *state;  /* borrowed from argv, or NULL */
	bool check_only;
	bool init_db;
};

/* Reads the command line into f (and flag_debug).  Returns -1 to go on,
 * or the exit status when jobd is done (--version, --help, a bad
 * flag). */
static int
parse_args(int argc, char **argv, struct flags *f)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"state-dir", required_argument, NULL, 'd'},
		{"debug", no_argument, NULL, 'D'},
		{"check-config", no_argument, NULL, 'C'},
		{"init-db", no_argument, NULL, 'I'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:s:d:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			f->config = optarg;
			break;
		case 's':
			f->socket = optarg;
			break;
		case 'd':
			f->state = optarg;
			break;
		case 'D':
			flag_debug = true;
			break;
		case 'C':
			f->check_only = true;
			break;
		case 'I':
			f->init_db = true;
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
	if (f->check_only && f->init_db) {
		fprintf(stderr, "jobd: --check-config and --init-db exclude "
				"each other\n");
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Loads the config file and resolves the paths.  Returns -1 to go on, or
 * the exit status (a bad file, --check-config done). */
static int
load_config(const struct flags *f)
{
	log_init(LOG_LEVEL_INFO);
	config_init(&cfg);
	config_path = f->config ? xstrdup(f->config)
				: config_default_path(geteuid());
	if (config_load(&cfg, config_path) != 0 ||
	    service_check_producers(&cfg, config_path, false) != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		return EX_CONFIG;
	}
	if (flag_debug || debug_from_env())
		cfg.debug = true;
	resolve_paths(f->socket, f->state);
	if (f->check_only) {
		config_print(&cfg, stdout);
		return 0;
	}
	return -1;
}

/* Opens the configured store, which creates or migrates its schema, and
 * closes it: --init-db's one store-specific step.  Returns 0, or -1 with
 * diag (the database's reason).  The state directory is made as at start
 * (an unusable one is fatal, exit 1), and its lock is taken: while a
 * running jobd holds it, the database is not touched (that jobd migrated
 * it when it opened it), so --init-db never disturbs it. */
static int init_pg_rc;
static char init_pg_why[DIAG_MSG_MAX]; /* its coroutine's diag */

static void
init_pg(void)
{
	int from, to;

	init_pg_rc = store_pg_init_db(cfg.database, &from, &to);
	snprintf(init_pg_why, sizeof(init_pg_why), "%s", diag_msg());
	if (init_pg_rc == 0 && from != to)
		log_info("--init-db: PostgreSQL schema migrated from version "
			 "%d to %d",
			 from, to);
}

static int
init_db_store(void)
{
	if (cfg.store == CONFIG_STORE_POSTGRES) {
		/* The database is the cluster's, not this state
		 * directory's: nothing local is made or locked. */
		loop_init();
		run_on_loop("init-db", init_pg);
		loop_shutdown();
		coro_shutdown();
		if (init_pg_rc != 0)
			return diag_set(E_DB, "%s", init_pg_why);
		return 0;
	}
	log_dir = xasprintf("%s/logs", state_dir);
	db_path = xasprintf("%s/jobd.db", state_dir);
	secure_state_dir();
	if (lock_state_dir() != 0)
		return -1;
	int rc = store_open(db_path, cfg.synchronous_full);
	store_close();
	return rc;
}

/* --init-db, once the config is loaded: the schema, then the exit
 * status (0, or 1 with the reason on stderr). */
static int
init_db(void)
{
	keep_std_fds();
	log_init((enum log_level)cfg.log_level);
	int rc = init_db_store();
	if (rc != 0)
		fprintf(stderr, "jobd: --init-db: %s\n", diag_msg());
	else
		log_info("--init-db: the database's schema is current");
	config_destroy(&cfg);
	free(config_path);
	free(state_dir);
	free(socket_path);
	free(log_dir);
	free(db_path);
	return rc != 0 ? 1 : 0;
}

/* Process-wide settings, before anything is opened. */
static void
prepare_process(void)
{
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
}

/* The state directory, its lock, the spawner and the socket's directory.
 * Returns the listening socket systemd handed over, or -1. */
static int
open_state(void)
{
	log_dir = xasprintf("%s/logs", state_dir);
	db_path = xasprintf("%s/jobd.db", state_dir);
	secure_state_dir();
	if (lock_state_dir() != 0)
		fatalx("%s", diag_msg());
	if (geteuid() == 0 && chmod(state_dir, 0711) != 0)
		fatal("cannot chmod %s", state_dir);
	if (talkback_init(state_dir) != 0)
		fatalx("%s", diag_msg());
	/* Before the spawner: it starts in the cgroup jobd moves to. */
	if ((cfg.cgroups != CONFIG_CGROUPS_OFF &&
	     cgroup_init(cfg.cgroup_root,
			 cfg.cgroups == CONFIG_CGROUPS_REQUIRED) < 0) ||
	    service_check_limits(&cfg, config_path) != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		exit(EX_CONFIG);
	}
	/* Now, while jobd is small: every job's reported peak RSS is at
	 * least the spawner's, which is jobd's at this point. */
	if (spawner_init() != 0)
		fatalx("%s", diag_msg());
	int listen_fd = sdnotify_listen_fd();
	if (listen_fd < 0 && diag_code() == E_INVAL)
		fatalx("socket activation: %s", diag_msg());
	if (listen_fd < 0)
		check_socket_dir();
	return listen_fd;
}

/* The store, with its commit hook, and the events. */
static void
open_store(void)
{
	/* A fault injection for the tests: while this file exists, every
	 * commit fails as with a full disk.  Honoured in debug mode only. */
	const char *fault = getenv("JOBD_TEST_DISK_FULL");
	if (cfg.debug && fault != NULL && *fault != '\0')
		store_fault_file = fault;
	/* The name each attempt is told (JOBD_NODE) and jobs are shown
	 * with.  A host name that is no node name leaves a SQLite node
	 * nameless, not stopped. */
	char node[CONFIG_NODE_NAME_MAX + 1];
	if (config_node_name(&cfg, node, sizeof(node)) == 0)
		store_set_local_node(node);
	else
		log_warnx("jobs run with no node name: %s", diag_msg());
	if ((cfg.store == CONFIG_STORE_POSTGRES
		     ? store_open_pg(cfg.database)
		     : store_open(db_path, cfg.synchronous_full)) != 0)
		fatalx("%s", diag_msg());
	loop_add_flush(store_flush, NULL, "store.commit");
	events_init();
}

/* Under PostgreSQL, the node's registration, before its recovery: the
 * name a live node of another instance holds is a config error. */
static int
join_cluster(void)
{
	if (cfg.store != CONFIG_STORE_POSTGRES)
		return -1;
	char name[CONFIG_NODE_NAME_MAX + 1], instance[40];
	char *path = xasprintf("%s/node-id", state_dir);
	int rc = config_node_name(&cfg, name, sizeof(name));
	if (rc == 0)
		rc = cluster_instance(path, instance, sizeof(instance));
	free(path);
	if (rc != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		return EX_CONFIG;
	}
	struct cluster_opts co = {
		.name = name,
		.instance = instance,
		.lease = cfg.lease,
		.rescue_grace = cfg.rescue_grace,
		.kill_grace = cfg.kill_grace,
		.max_recoveries = MAX_RECOVERIES,
	};
	if (cluster_register(&co) == 0) {
		log_info("cluster: node %s registered (id %lld, epoch %d)",
			 name, (long long)store_node_id(), store_node_epoch());
		return -1;
	}
	fprintf(stderr, "jobd: %s\n", diag_msg());
	return diag_code() == E_CONFLICT ? EX_CONFIG : 1;
}

/* Kills what a dead jobd's attempts left, recovers their jobs and loads
 * the queues, each committed before anything is served.  Returns -1 to go
 * on, or the exit status (a producer's queue is missing). */
static int
recover(void)
{
	struct orphans orph = {NULL, NULL, 0};
	if (store_job_running_pids(orphan_add, &orph) != 0)
		fatalx("recovery: %s", diag_msg());
	int ncg = cgroup_reap_leftovers();
	if (ncg > 0)
		log_info("killed what %d cgroups of attempts that ran under a "
			 "previous jobd held",
			 ncg);
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
	if (service_check_producers(&cfg, config_path, true) != 0) {
		fprintf(stderr, "jobd: %s\n", diag_msg());
		store_close();
		return EX_CONFIG;
	}
	if (nrec > 0)
		log_info("recovered %d jobs left running by a previous jobd",
			 nrec);
	return -1;
}

/* control's handlers: each request line goes to commands. */
static void
request_line(struct conn *c, const char *line, size_t len, void *arg)
{
	(void)arg;
	commands_handle(c, line, len);
}

static void
conn_gone(struct conn *c, void *arg)
{
	(void)arg;
	commands_conn_closed(c);
}

/* The engine and the edge, in layer order, then the service. */
static void
start_modules(int listen_fd)
{
	struct consumer_opts co = {log_dir, cfg.max_log_bytes, cfg.kill_grace,
				   cfg.max_result_bytes};
	consumer_init(&co);
	/* A fault injection for the tests, in debug mode only: see
	 * hooks_init. */
	const char *crash = getenv("JOBD_TEST_HOOK_CRASH");
	hooks_init(cfg.debug && crash != NULL && *crash != '\0' ? crash : NULL);
	struct commands_ctx cx = {
		.cfg = &cfg,
		.log_dir = log_dir,
		.db_path = db_path,
		.started_at = loop_now(),
		.reload = service_reload,
		.shutdown = service_request_shutdown,
	};
	commands_init(&cx);
	if (producer_init(&cfg) != 0)
		fatalx("producers: %s", diag_msg());
	struct control_opts ctl = {
		.path = socket_path,
		.inherited_fd = listen_fd,
		.mode = cfg.socket_mode,
		.group = cfg.socket_group,
		.max_request_bytes = cfg.max_request_bytes,
		.max_connections = cfg.max_connections,
		.request_timeout = cfg.request_timeout,
		.user_mode = geteuid() != 0,
		.on_line = request_line,
		.on_gone = conn_gone,
	};
	if (control_init(&ctl) != 0)
		fatalx("%s", diag_msg());
	struct service_opts so = {
		.cfg = &cfg,
		.config_path = config_path,
		.socket_path = socket_path,
		.state_dir = state_dir,
		.log_dir = log_dir,
		.debug = flag_debug || debug_from_env(),
	};
	service_init(&so);
	for (struct queue *q = queue_first(); q; q = q->next)
		consumer_sync(q);
	if (cfg.store == CONFIG_STORE_POSTGRES)
		relay_start();
	scheduler_init(jobs_promote_due);
	cluster_start();
	service_start();
}

static int listen_fd = -1; /* a socket systemd handed over */
static int start_rc = -1;  /* start's exit status, or -1 to serve */

/* From the store's open to READY=1. */
static void
start(void)
{
	open_store();
	if ((start_rc = join_cluster()) >= 0 || (start_rc = recover()) >= 0)
		return;
	start_modules(listen_fd);
	log_info("jobd %s ready: socket %s, state %s%s", JOBD_VERSION,
		 socket_path, state_dir, cfg.debug ? ", debug mode" : "");
	sdnotify_send("READY=1");
}

/* Once the loop stopped: every module, top down, and main's own. */
static void
shutdown_modules(void)
{
	service_shutdown();
	cgroup_shutdown(cfg.kill_grace);
	spawner_shutdown();
	talkback_shutdown();
	relay_stop();
	run_on_loop("close", store_close);
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
}

int
main(int argc, char **argv)
{
	struct flags f = {NULL, NULL, NULL, false, false};
	int rc = parse_args(argc, argv, &f);
	if (rc < 0)
		rc = load_config(&f);
	if (rc < 0 && f.init_db)
		rc = init_db();
	if (rc >= 0)
		return rc;
	prepare_process();
	listen_fd = open_state();
	loop_init();
	spawner_watch(spawner_lost);
	run_on_loop("start", start);
	if (start_rc >= 0)
		return start_rc;
	loop_run();

	shutdown_modules();
	log_info("stopped");
	return 0;
}
