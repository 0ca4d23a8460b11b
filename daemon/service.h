/*
 * service: the running daemon once its modules are up.  It owns the
 * supervisor coroutine and what it does: the signals (SIGTERM and SIGINT
 * drain and stop, a second one stops at once; SIGHUP reloads), the whole-
 * file config reload, the systemd status and watchdog, retention, and the
 * shutdown sequence that drains the engine and stops the loop.
 *
 * main wires the modules in layer order and hands the service the config
 * it keeps current; the service owns no other module's state and opens
 * nothing itself.
 */
#ifndef SERVICE_H_INCLUDED
#define SERVICE_H_INCLUDED

#include <stdbool.h>

#include "config.h"

struct service_opts {
	struct config *cfg;	 /* borrowed for jobd's life: a reload
				     replaces *cfg (config_destroy'ing the
				     old one) */
	const char *config_path; /* borrowed, as long as jobd runs */
	const char *socket_path; /* borrowed: kept across reloads */
	const char *state_dir;	 /* borrowed: kept across reloads */
	const char *log_dir;	 /* borrowed */
	bool debug;		 /* --debug or JOBD_DEBUG: debug mode
				     whatever the file says */
};

/* Checks that jobd can apply the limit_* keys of c's queues (borrowed):
 * cpu and tasks need their cgroup controllers.  Returns 0, or -1 with diag
 * E_INVAL "PATH: [queue NAME] limit_cpu: needs the cgroup v2 cpu
 * controller, which jobd does not have here".  Does not yield. */
int service_check_limits(const struct config *c, const char *path);

/* Validates the producers of c (borrowed), each like a producer.create
 * request; with check_queue, against the queues that exist.  path names
 * the file in the message.  Returns 0, or -1 with diag E_INVAL
 * "PATH:LINE: producer NAME: reason".  Does not yield. */
int service_check_producers(const struct config *c, const char *path,
			    bool check_queue);

/* Records o (copied; its pointers stay borrowed) and applies the settings
 * a reload may change (log level, debug timing, the consumers', submits',
 * queues' and control's limits, the admin group).  Once control_init has
 * run.  Does not yield. */
void service_init(const struct service_opts *o);

/* Starts the signal watchers (which do not keep the loop alive) and the
 * supervisor coroutine.  After service_init, before loop_run.  Does not
 * yield. */
void service_start(void);

/* Stops the signal watchers, once loop_run returned.  Does not yield. */
void service_shutdown(void);

/* Re-reads the config file.  The whole file is checked first (syntax,
 * ranges, every queue and producer definition, and that each producer's
 * queue will exist); only then is anything applied, so a refused reload
 * changes nothing.  Returns 0, or -1 with diag (and the error logged).
 * From a coroutine: the supervisor, or a connection's reload request. */
int service_reload(void);

/* Starts the graceful shutdown: the supervisor drains the engine (waiting
 * up to shutdown_timeout for running jobs) and stops the loop.  With now,
 * or when a shutdown already began, running jobs are interrupted without
 * that wait.  Does not yield. */
void service_request_shutdown(bool now);

#endif /* SERVICE_H_INCLUDED */
