/*
 * harness: runs a real jobd in a temporary directory for the integration
 * suites, and talks to it through the JSON protocol and through jobctl.
 * Binaries come from $JOBD_BIN and $JOBCTL_BIN (the Makefile sets them).
 * Every wait here is bounded by a deadline; nothing sleeps blindly.
 */
#ifndef HARNESS_H_INCLUDED
#define HARNESS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct jd {
	pid_t pid;     /* the daemon, 0 when not running */
	char dir[256]; /* temporary directory, removed by jd_free */
	char sock[320];
	char state[320];
	char conf[320];
	char log[320]; /* the daemon's stderr */
	int fd;	       /* the harness's own connection, or -1 */
	int64_t next_id;
};

/* True when the runner was asked to run every jobd on PostgreSQL
 * (JOBD_TEST_STORE=postgres): jd_start then gives each its own
 * database on the server the runner started. */
bool jd_on_postgres(void);

/* Creates the directory and writes conf_text (may be NULL: no file). */
void jd_init(struct jd *d, const char *conf_text);
/* Starts jobd with extra arguments (NULL-terminated list, may be NULL
 * only for none) and waits until its socket answers ping (10 s). */
void jd_start(struct jd *d, const char *const *extra_args);
/* SIGTERM and wait for exit (deadline 20 s); returns the exit status, or
 * -1 when it had to be killed. */
int jd_stop(struct jd *d);
/* SIGKILL and reap. */
void jd_kill9(struct jd *d);
/* Stops if running and removes the directory. */
void jd_free(struct jd *d);

/* A new connection to the daemon (fd), or -1. */
int jd_connect(const struct jd *d);
/* Writes all of s to fd; false on error. */
bool jd_write(int fd, const char *s, size_t n);
/* Writes the string s to fd, or fails the test. */
void jd_send(int fd, const char *s);
/* Reads one line from fd (without the newline) within timeout_ms; caller
 * frees; NULL on EOF/timeout. */
char *jd_read_line(int fd, int timeout_ms);
/* Closes fd and forgets what jd_read_line buffered for it, so a later
 * connection that gets the same number starts clean. */
void jd_close(int fd);
/* True when JOBD_BIN names an AddressSanitizer build (slower, and with a
 * quarantine that makes RSS no measure of leaks). */
bool jd_under_asan(void);
/* Sends req (borrowed; "id" added when absent) on fd and returns the first
 * line whose id matches (other lines — events — are skipped), new ref. */
json_t *jd_call_fd(struct jd *d, int fd, json_t *req, int timeout_ms);
/* A new connection that watches the events of queue q (NULL: all), its
 * reply read (checked ok); returns its fd.  Fails the test when it
 * cannot. */
int jd_watch_conn(struct jd *d, const char *q);
/* The same on the harness's own connection; req is stolen. */
json_t *jd_call(struct jd *d, json_t *req);
/* Shorthand: jd_call(d, json_pack(fmt, ...)); fmt builds the request. */
json_t *jd_req(struct jd *d, const char *fmt, ...);
/* The "result" of an ok response (borrowed from resp); fails the test
 * when resp is not ok. */
json_t *jd_ok(json_t *resp);
/* The error code of a failed response ("" when ok). */
const char *jd_err(json_t *resp);

/* Sends req (stolen) on the harness's connection and fails the test
 * unless the response is ok; the response is dropped. */
void jd_call_ok(struct jd *d, json_t *req);
/* Sends {"cmd": cmd, "name": name} (a queue command such as "queue.pause")
 * and fails the test unless it succeeded. */
void jd_queue_cmd(struct jd *d, const char *cmd, const char *name);
/* The error message of a failed response ("" when none). */
const char *jd_err_msg(json_t *resp);

/* Parses text (a test constant, any JSON value) or fails the test; new
 * ref. */
json_t *jd_json(const char *text);
/* The string member key of o (borrowed from o), "" when it is absent or
 * not a string. */
const char *jd_str(const json_t *o, const char *key);
/* The integer member key of o, 0 when it is absent or not an integer. */
json_int_t jd_num(const json_t *o, const char *key);

/* Submits spec (stolen) and returns the new id (fails the test on error). */
int64_t jd_submit(struct jd *d, json_t *spec);
/* The job object (new ref). */
json_t *jd_get(struct jd *d, int64_t id);
/* Waits until job id is terminal (timeout_s) and returns it (new ref). */
json_t *jd_wait(struct jd *d, int64_t id, double timeout_s);
/* Polls until job id is in state (timeout_s); true when it got there. */
bool jd_poll_state(struct jd *d, int64_t id, const char *state,
		   double timeout_s);
/* Polls until job id is in state and, when recoveries >= 0, has been
 * recovered that many times (timeout_s); returns the job (new ref), or
 * NULL when the time ran out. */
json_t *jd_poll_job(struct jd *d, int64_t id, const char *state, int recoveries,
		    double timeout_s);
/* Submits the job spec text (a test constant) and returns its id (fails
 * the test on error). */
int64_t jd_submit_text(struct jd *d, const char *text);
/* The queue object of queue.get name (new ref).  With err NULL, fails the
 * test unless the call succeeded; else returns NULL when it failed, and
 * *err gets the error code ("" when ok; valid until the next call). */
json_t *jd_queue_get(struct jd *d, const char *name, const char **err);

/* True while the daemon runs.  Once it has exited, reaps it and sets
 * d->pid to 0 (it is our child: a crashed one stays a zombie that
 * kill(pid, 0) would still find). */
bool jd_alive(struct jd *d);

/* The pid of the daemon's spawner (the child of jobd named jobd-spawner
 * that starts its jobs), or 0 when there is none. */
pid_t jd_spawner_pid(const struct jd *d);

/* Runs jobctl -s SOCK args... (NULL-terminated) with stdin from in (may be
 * NULL: /dev/null); *out and *err (may be NULL) get what it printed;
 * returns its exit status (or 128+signal). */
int jd_jobctl(struct jd *d, const char *in, char **out, char **err, ...)
	__attribute__((sentinel));

/* Runs jobd (JOBD_BIN) with args (NULL-terminated, at most 14) to its
 * end, stdin and stdout on /dev/null and stderr into errpath; returns its
 * exit status (128+signal when killed by one), or -1 when it ran longer
 * than timeout_s (it is killed then). */
int jd_run_jobd(const char *const *args, const char *errpath, double timeout_s);

/* Monotonic seconds. */
double jd_now(void);
/* Lets ms milliseconds pass: between the polls of a deadline-bounded
 * wait. */
void jd_pause_ms(int ms);
/* A file under the test directory: returns a static-per-call-site
 * buffer the caller frees. */
char *jd_path(const struct jd *d, const char *name);
/* The value of "key:" in jobctl's key: value output (get, queue get),
 * past the blanks that align it; a static buffer.  Fails the test when
 * out has no such line. */
const char *jd_kv(const char *out, const char *key);
/* Reads a whole file (caller frees), NULL when missing. */
char *jd_slurp(const char *path);
/* Number of lines in a file (0 when missing). */
int jd_count_lines(const char *path);
/* True when path exists (a symbolic link counts, dangling or not). */
bool jd_exists(const char *path);
/* The size of the file at path in bytes, 0 when it is missing. */
off_t jd_file_size(const char *path);
/* Writes text to path, created or truncated, or fails the test. */
void jd_write_file(const char *path, const char *text);

/* Counts the live processes (not zombies), other than this one and skip
 * (0: none), whose command line contains marker; what (may be NULL) gets
 * "pid N: command line" of the first one, in at most wn bytes. */
int jd_procs_with(const char *marker, pid_t skip, char *what, size_t wn);
/* Arms a guard for dir.  A test that fails leaves through _exit and one
 * that times out is killed, so no teardown runs, and Check then kills the
 * test's process group: jobd dies, and its direct children with it, but
 * not what jobs started in their own sessions.  The guard is a process
 * outside that group which waits until the test process has ended, then
 * kills whatever still runs with dir in its command line and removes dir.
 * It does so after a clean end too (nothing is left to kill then). */
void jd_guard(const char *dir);

/*
 * One daemon per test.  A suite whose every test runs one daemon keeps a
 * struct jd of its own, starts it with jd_test_start, and gives
 * jd_test_teardown to tcase_add_checked_fixture as the teardown.
 */

/* Starts the current test's daemon in d (borrowed until the teardown):
 * frees the daemon jd_test_start started before (a test that starts a
 * second one), creates a directory whose config is base followed by extra
 * (either may be NULL), arms jd_guard for it, and starts jobd with args
 * (NULL-terminated, may be NULL).  The daemon is also freed at exit, in
 * case the test ends without its teardown.  Returns d. */
struct jd *jd_test_start(struct jd *d, const char *base, const char *extra,
			 const char *const *args);
/* Stops the daemon jd_test_start started, if any, and frees it.  Fails the
 * test unless SIGTERM ended jobd with status 0, or when the daemon's log
 * holds an AddressSanitizer, UndefinedBehaviorSanitizer ("runtime error")
 * or LeakSanitizer report.  The log is printed on stderr then, and for
 * every test when JD_SHOW_LOG is set. */
void jd_test_teardown(void);

#endif /* HARNESS_H_INCLUDED */
