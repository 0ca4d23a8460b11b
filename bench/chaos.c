/*
 * chaos: jobd under crashes and restarts, audited against what its clients
 * were told.  A real jobd runs in WORKDIR; several client processes (the C
 * client library) submit a mix of jobs, single and in batches, cancel and
 * retry them, wait on them and ping, while this supervisor either kills
 * jobd with SIGKILL at random moments and restarts it (torture) or stops
 * it with SIGTERM every so often and restarts it (soak).  Then every job
 * is let finish and the audit compares three records:
 *   - each client's own record (WORKDIR/client-N.rec): every submit it
 *     sent and what became of it (acknowledged with an id, refused with an
 *     error, or no answer because the connection broke), and every id it
 *     tried to cancel;
 *   - the runs file (WORKDIR/runs) that each job's process appends to:
 *     "S id attempt pid starttime" when it starts, "E id attempt pid" when
 *     it reaches its end, "X id attempt pid" when another live process of
 *     the same job holds the job's lock (flock on WORKDIR/locks/ID), and
 *     the clients' "R id" / "r id" lines around each retry request;
 *   - the daemon's jobs (list), sampled during the run and at the end.
 * It fails (exit 1) when an acknowledged job is lost, a job ran twice at
 * once or started after its end was committed and seen (with no retry in
 * between), a refused submit was stored anyway, a job is not terminal at
 * the end, a stored job came from no submit, or a job's final state is not
 * one its command and the clients' actions explain.  It also reports
 * jobd's RSS and open descriptors (from /proc) at start, maximum and end,
 * and in soak mode the slope of the RSS while jobd runs.
 *
 * usage: chaos torture|soak JOBD WORKDIR [--socket PATH] [--kills N]
 *              [--seconds S] [--restart-every S] [--clients N] [--seed N]
 *   torture        --kills kill -9s (default 100)
 *   soak           --seconds of load (default 600) with a SIGTERM and a
 *                  restart every --restart-every seconds (default 30-60 s:
 *                  each gap is drawn from [S, 2S] with S = 30)
 * Prints key=value lines for bench/run.sh after a human summary, and the
 * tail of jobd's log when the audit fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jobd/client.h"
#include "common.h"

#define MAX_CLIENTS 32
/* A start this many clock ticks after the end of the list that saw its
 * job terminal is a start after a committed end (the process's start time
 * in /proc is in ticks, 10 ms each on Linux). */
#define TICK_MARGIN 3

/* Kinds of job, named by the first letter of the job's name. */
enum kind { K_PLAIN, K_SLEEP, K_FLAKY, K_FAIL, K_TIMEOUT, K_STUBBORN,
	    K_COUNT };
static const char kind_letter[K_COUNT] = {'p', 's', 'f', 'x', 't', 'g'};

struct opts {
	bool soak;
	const char *jobd, *dir;
	char sock[108];
	int kills, clients;
	double seconds, restart_every;
	uint64_t seed;
};

static struct opts o;
static char runs_path[512], locks_path[512];
static volatile sig_atomic_t stop_flag;

/* Clock ticks since boot: the clock of a process's start time in
 * /proc/PID/stat. */
static long long
boot_ticks(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * hz + (long long)ts.tv_nsec * hz / 1000000000;
}

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: one sequence per seed. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static double
rnd_unit(uint64_t *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

/* Appends one line to path with a single write (O_APPEND), so lines of
 * several writers never mix. */
static void __attribute__((format(printf, 2, 3)))
append_line(const char *path, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n, fd;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		bench_die("line too long");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		bench_die("%s: %s", path, strerror(errno));
	close(fd);
}

/* ---- jobs ---------------------------------------------------------------- */

/* The spec of one job of kind k named name (new reference).  Its shell
 * records the run in the runs file, holds the job's lock while it lives,
 * and closes the lock's descriptor for the commands it starts, so only the
 * job's own process holds it. */
static json_t *
job_spec(enum kind k, const char *name, uint64_t *rng)
{
	char sh[4096], body[768];
	json_t *spec;

	switch (k) {
	case K_SLEEP:
		snprintf(body, sizeof(body), "sleep 0.%03d 9>&-; ",
			 20 + (int)(rnd(rng) % 180));
		break;
	case K_FLAKY:
		snprintf(body, sizeof(body),
			 "if [ $JOBD_ATTEMPT -lt 2 ]; then echo \"E $JOBD_JOB_ID "
			 "$JOBD_ATTEMPT $$\" >>%s; exit 1; fi; ",
			 runs_path);
		break;
	case K_FAIL:
		snprintf(body, sizeof(body),
			 "echo \"E $JOBD_JOB_ID $JOBD_ATTEMPT $$\" >>%s; "
			 "exit 3; ",
			 runs_path);
		break;
	case K_TIMEOUT:
		snprintf(body, sizeof(body), "sleep 3 9>&-; ");
		break;
	case K_STUBBORN:
		/* Ignores SIGTERM: a cancel leaves it alive until its end
		 * or the SIGKILL after kill_grace. */
		snprintf(body, sizeof(body), "trap '' TERM; sleep 0.3 9>&-; ");
		break;
	default:
		body[0] = '\0';
	}
	snprintf(sh, sizeof(sh),
		 "read st </proc/$$/stat; set -- $st; "
		 "exec 9>>%s/$JOBD_JOB_ID; "
		 "flock -n 9 || echo \"X $JOBD_JOB_ID $JOBD_ATTEMPT $$\" >>%s; "
		 "echo \"S $JOBD_JOB_ID $JOBD_ATTEMPT $$ ${22}\" >>%s; "
		 "%secho \"E $JOBD_JOB_ID $JOBD_ATTEMPT $$\" >>%s",
		 locks_path, runs_path, runs_path, body, runs_path);
	spec = json_pack("{s:s,s:s}", "shell", sh, "name", name);
	if (k == K_FLAKY || k == K_FAIL || k == K_TIMEOUT) {
		json_object_set_new(spec, "max_attempts",
				    json_integer(k == K_FLAKY ? 3 : 2));
		json_object_set_new(spec, "backoff",
				    json_pack("{s:f,s:f,s:f,s:f}", "base", 0.05,
					      "factor", 2.0, "max", 0.2,
					      "jitter", 0.0));
	}
	if (k == K_TIMEOUT) {
		json_object_set_new(spec, "timeout", json_real(0.2));
		json_object_set_new(spec, "kill_grace", json_real(0.2));
	}
	return spec;
}

static enum kind
kind_random(uint64_t *rng)
{
	int r = (int)(rnd(rng) % 100);
	return r < 38 ? K_PLAIN
	     : r < 58 ? K_SLEEP
	     : r < 75 ? K_FLAKY
	     : r < 87 ? K_FAIL
	     : r < 94 ? K_TIMEOUT
		      : K_STUBBORN;
}

/* ---- clients ---------------------------------------------------------------- */

struct client {
	int n;
	uint64_t rng;
	FILE *rec;
	struct jobd_client *c;
	int64_t *ids; /* acknowledged ids */
	size_t nids, cap;
	long seq;
	int64_t last_g; /* the newest acknowledged job of kind K_STUBBORN */
	double g_due;	/* when to cancel and retry it (running), or 0 */
};

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Connects, retrying every 10 ms while jobd is down; false once told to
 * stop. */
static bool
client_connect(struct client *cl)
{
	while (cl->c == NULL) {
		if (stop_flag)
			return false;
		cl->c = jobd_client_connect(o.sock);
		if (cl->c == NULL)
			bench_sleep(0.01, &stop_flag);
	}
	return true;
}

/* After a call that returned NULL: drops a broken connection; true when
 * the daemon answered with an error other than busy (which SPEC allows
 * for any request), false on a transport failure or busy. */
static bool
client_answered(struct client *cl)
{
	int code = jobd_client_error_code(cl->c);
	if (code >= 0 && code != JOBD_E_BUSY)
		return true;
	jobd_client_close(cl->c);
	cl->c = NULL;
	return false;
}

static int64_t
client_pick(struct client *cl)
{
	if (cl->nids == 0)
		return 0;
	/* Recent ids more often: they are the ones still moving. */
	size_t span = cl->nids < 64 || rnd(&cl->rng) % 2 ? cl->nids : 64;
	return cl->ids[cl->nids - 1 - rnd(&cl->rng) % span];
}

static void
client_submit(struct client *cl, int n)
{
	char names[32][48];
	json_t *jobs = json_array(), *args, *res;

	for (int i = 0; i < n; i++) {
		enum kind k = kind_random(&cl->rng);
		snprintf(names[i], sizeof(names[i]), "%c.%d.%ld",
			 kind_letter[k], cl->n, ++cl->seq);
		json_array_append_new(jobs, job_spec(k, names[i], &cl->rng));
	}
	if (n == 1) {
		args = json_pack("{s:O}", "job", json_array_get(jobs, 0));
		json_decref(jobs);
	} else {
		args = json_pack("{s:o}", "jobs", jobs);
	}
	res = jobd_client_cmd(cl->c, "submit", args);
	if (res != NULL) {
		json_t *ids = json_object_get(res, "ids");
		for (int i = 0; i < n; i++) {
			json_t *v = ids ? json_array_get(ids, (size_t)i)
					: json_object_get(res, "id");
			int64_t id = json_integer_value(v);
			if (id <= 0)
				bench_die("client %d: submit answered without ids",
				    cl->n);
			fprintf(cl->rec, "A %s %lld\n", names[i],
				(long long)id);
			if (cl->nids == cl->cap) {
				cl->cap = cl->cap * 2 + 256;
				cl->ids = bench_xrealloc(cl->ids,
						   cl->cap * sizeof(*cl->ids));
			}
			cl->ids[cl->nids++] = id;
			if (names[i][0] == kind_letter[K_STUBBORN]) {
				cl->last_g = id;
				if (rnd(&cl->rng) % 2)
					cl->g_due = bench_mono() + 0.15;
			}
		}
		json_decref(res);
		return;
	}
	bool answered = client_answered(cl);
	const char *code = answered ? jobd_client_error_name(cl->c) : "";
	if (answered && strcmp(code, "shutting_down") != 0 &&
	    strcmp(code, "busy") != 0 && strcmp(code, "internal") != 0)
		bench_die("client %d: submit refused: %s: %s", cl->n, code,
		    jobd_client_error_message(cl->c));
	for (int i = 0; i < n; i++) {
		if (answered)
			fprintf(cl->rec, "N %s %s\n", names[i], code);
		else
			fprintf(cl->rec, "U %s\n", names[i]);
	}
}

static void
client_cancel(struct client *cl)
{
	int n = 1 + (int)(rnd(&cl->rng) % 3);
	json_t *ids = json_array(), *res;

	for (int i = 0; i < n; i++) {
		int64_t id = client_pick(cl);
		fprintf(cl->rec, "c %lld\n", (long long)id);
		json_array_append_new(ids, json_integer(id));
	}
	/* The record must be on disk before jobd can act on the cancel. */
	fflush(cl->rec);
	res = jobd_client_cmd(cl->c, "cancel",
			      json_pack("{s:o}", "job_ids", ids));
	if (res == NULL && client_answered(cl) &&
	    jobd_client_error_code(cl->c) != JOBD_E_INVALID_STATE &&
	    jobd_client_error_code(cl->c) != JOBD_E_SHUTTING_DOWN)
		bench_die("client %d: cancel: %s", cl->n,
		    jobd_client_error_message(cl->c));
	json_decref(res);
}

static void
client_retry(struct client *cl)
{
	int64_t id = client_pick(cl);
	json_t *res;

	append_line(runs_path, "R %lld\n", (long long)id);
	res = jobd_client_cmd(cl->c, "retry",
			      json_pack("{s:I}", "job_id", (json_int_t)id));
	if (res == NULL && client_answered(cl) &&
	    jobd_client_error_code(cl->c) != JOBD_E_INVALID_STATE &&
	    jobd_client_error_code(cl->c) != JOBD_E_SHUTTING_DOWN)
		bench_die("client %d: retry: %s", cl->n,
		    jobd_client_error_message(cl->c));
	json_decref(res);
	append_line(runs_path, "r %lld\n", (long long)id);
}

/* A cancel and a retry of one job written together, as a client that
 * restarts a job at once does: the retry must not start a second live
 * process of the job. */
static void
client_cancel_retry(struct client *cl)
{
	int64_t id = cl->g_due > 0 ? cl->last_g : client_pick(cl);
	int64_t rc, rr;
	json_t *a, *b = NULL;

	fprintf(cl->rec, "c %lld\n", (long long)id);
	fflush(cl->rec);
	append_line(runs_path, "R %lld\n", (long long)id);
	json_t *req = json_pack("{s:s,s:I}", "cmd", "cancel", "job_id",
				(json_int_t)id);
	rc = jobd_client_send(cl->c, req);
	json_object_set_new(req, "cmd", json_string("retry"));
	rr = rc < 0 ? -1 : jobd_client_send(cl->c, req);
	json_decref(req);
	a = rr < 0 ? NULL : jobd_client_response(cl->c, rc, -1);
	b = a == NULL ? NULL : jobd_client_response(cl->c, rr, -1);
	if (a == NULL || b == NULL) {
		jobd_client_close(cl->c);
		cl->c = NULL;
	}
	json_decref(a);
	json_decref(b);
	append_line(runs_path, "r %lld\n", (long long)id);
	cl->g_due = 0;
}

static void
client_wait(struct client *cl)
{
	int64_t ids[5];
	int n = 1 + (int)(rnd(&cl->rng) % 5);
	json_t *res;

	for (int i = 0; i < n; i++)
		ids[i] = client_pick(cl);
	res = jobd_client_wait(cl->c, ids, (size_t)n, 0.3);
	if (res == NULL && client_answered(cl) &&
	    jobd_client_error_code(cl->c) != JOBD_E_TIMEOUT &&
	    jobd_client_error_code(cl->c) != JOBD_E_SHUTTING_DOWN)
		bench_die("client %d: wait: %s", cl->n,
		    jobd_client_error_message(cl->c));
	json_decref(res);
}

static void
client_simple(struct client *cl, const char *cmd, json_t *args)
{
	json_t *res = jobd_client_cmd(cl->c, cmd, args);
	if (res == NULL && client_answered(cl))
		bench_die("client %d: %s: %s", cl->n, cmd,
		    jobd_client_error_message(cl->c));
	json_decref(res);
}

/* One client process: operations at random, about one per gap seconds,
 * until SIGUSR1. */
static void __attribute__((noreturn))
client_main(int n, double gap)
{
	struct client cl;
	char path[4200];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&cl, 0, sizeof(cl));
	cl.n = n;
	cl.rng = (o.seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(n + 1)) | 1;
	snprintf(path, sizeof(path), "%s/client-%d.rec", o.dir, n);
	if ((cl.rec = fopen(path, "w")) == NULL)
		bench_die("%s: %s", path, strerror(errno));
	while (!stop_flag) {
		bench_sleep(gap * 2 * rnd_unit(&cl.rng), &stop_flag);
		if (!client_connect(&cl))
			break;
		int r = (int)(rnd(&cl.rng) % 100);
		if (cl.g_due > 0 && bench_mono() >= cl.g_due)
			client_cancel_retry(&cl);
		else if (r < 45 || cl.nids == 0)
			client_submit(&cl, 1);
		else if (r < 60)
			client_submit(&cl, 2 + (int)(rnd(&cl.rng) % 7));
		else if (r < 72)
			client_cancel(&cl);
		else if (r < 78)
			client_retry(&cl);
		else if (r < 82)
			client_cancel_retry(&cl);
		else if (r < 88)
			client_wait(&cl);
		else if (r < 94)
			client_simple(&cl, "get",
				      json_pack("{s:I}", "job_id",
						(json_int_t)client_pick(&cl)));
		else
			client_simple(&cl, "ping", NULL);
	}
	jobd_client_close(cl.c);
	free(cl.ids);
	if (fclose(cl.rec) != 0)
		bench_die("%s: %s", path, strerror(errno));
	exit(0);
}

/* ---- jobd ---------------------------------------------------------------- */

static pid_t jobd_pid;
static int jobd_starts;

static void
jobd_start(void)
{
	char conf[4200], state[4200], log[4200];

	snprintf(conf, sizeof(conf), "%s/jobd.conf", o.dir);
	snprintf(state, sizeof(state), "%s/state", o.dir);
	snprintf(log, sizeof(log), "%s/jobd.log", o.dir);
	fflush(NULL);
	jobd_pid = fork();
	if (jobd_pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (jobd_pid == 0) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		close(fd);
		execl(o.jobd, o.jobd, "-c", conf, "-s", o.sock, "-d", state,
		      (char *)NULL);
		_exit(127);
	}
	jobd_starts++;
}

static void __attribute__((noreturn))
die_with_log(const char *what)
{
	char cmd[4300];
	fprintf(stderr, "chaos: %s; last lines of jobd's log:\n", what);
	snprintf(cmd, sizeof(cmd), "tail -n 20 '%s/jobd.log' >&2", o.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "chaos: (no log)\n");
	if (jobd_pid > 0)
		kill(jobd_pid, SIGKILL);
	exit(2);
}

/* Waits until jobd answers ping, for at most timeout seconds. */
static struct jobd_client *
jobd_ready(double timeout)
{
	double deadline = bench_mono() + timeout;
	for (;;) {
		struct jobd_client *c = jobd_client_connect(o.sock);
		if (c != NULL) {
			json_t *r = jobd_client_cmd(c, "ping", NULL);
			if (r != NULL) {
				json_decref(r);
				return c;
			}
			jobd_client_close(c);
		}
		int st;
		if (waitpid(jobd_pid, &st, WNOHANG) == jobd_pid) {
			jobd_pid = 0;
			die_with_log("jobd exited at start");
		}
		if (bench_mono() > deadline)
			die_with_log("jobd did not answer ping");
		bench_sleep(0.01, &stop_flag);
	}
}

/* Waits for jobd to exit within timeout seconds; its status. */
static int
jobd_reap(double timeout)
{
	double deadline = bench_mono() + timeout;
	int st;
	while (waitpid(jobd_pid, &st, WNOHANG) != jobd_pid) {
		if (bench_mono() > deadline)
			die_with_log("jobd did not exit");
		bench_sleep(0.005, &stop_flag);
	}
	jobd_pid = 0;
	return st;
}

/* ---- jobd's resources ----------------------------------------------------- */

struct sample {
	double t;
	long rss_kb;
	int life;
};

struct res {
	long rss0, rss_max, rss_end;
	int fd0, fd_max, fd_end;
	struct sample *s;
	size_t ns, cap;
};

static struct res res;

static long
proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Samples jobd's RSS and descriptors into res. */
static void
sample(int life)
{
	long kb = proc_rss_kb(jobd_pid);
	int fds = proc_fds(jobd_pid);

	if (kb < 0 || fds < 0)
		return;
	if (res.ns == 0) {
		res.rss0 = kb;
		res.fd0 = fds;
	}
	res.rss_max = kb > res.rss_max ? kb : res.rss_max;
	res.fd_max = fds > res.fd_max ? fds : res.fd_max;
	res.rss_end = kb;
	res.fd_end = fds;
	if (res.ns == res.cap) {
		res.cap = res.cap * 2 + 256;
		res.s = bench_xrealloc(res.s, res.cap * sizeof(*res.s));
	}
	res.s[res.ns++] = (struct sample){bench_mono(), kb, life};
}

/* Least-squares slope of RSS over time within each life of jobd (each
 * life centred on its own means, so a restart's drop is not a slope), in
 * KiB per minute. */
static double
rss_slope(void)
{
	double sxy = 0, sxx = 0;
	size_t i = 0;

	while (i < res.ns) {
		size_t j = i;
		double mt = 0, mr = 0;
		while (j < res.ns && res.s[j].life == res.s[i].life) {
			mt += res.s[j].t;
			mr += (double)res.s[j].rss_kb;
			j++;
		}
		mt /= (double)(j - i);
		mr /= (double)(j - i);
		for (size_t k = i; k < j; k++) {
			sxy += (res.s[k].t - mt) * ((double)res.s[k].rss_kb - mr);
			sxx += (res.s[k].t - mt) * (res.s[k].t - mt);
		}
		i = j;
	}
	return sxx > 0 ? sxy / sxx * 60 : 0;
}

/* ---- the audit's record of runs ------------------------------------------- */

struct jrec {
	long long term_ticks; /* end of a list that saw it terminal, or 0 */
	int retry_open;	      /* retry requests sent, not answered */
	long long last_r;     /* offset of the last retry answer, or -1 */
	int starts, ends, overlaps, after_end;
	bool cancel_tried, stored;
};

struct audit {
	struct jrec *j; /* by id */
	size_t nj;
	long long off;	   /* runs file read up to here */
	char *part;	   /* an incomplete last line */
	size_t partlen;
	int bad_lines;
	long long max_id; /* the highest id seen in the runs file */
	char first_double[200];
	int snapshots;
};

static struct audit au;

static struct jrec *
jrec_of(long long id)
{
	if (id <= 0 || id > 100000000)
		return NULL;
	if ((size_t)id >= au.nj) {
		size_t n = (size_t)id * 2 + 1024;
		au.j = bench_xrealloc(au.j, n * sizeof(*au.j));
		memset(au.j + au.nj, 0, (n - au.nj) * sizeof(*au.j));
		for (size_t i = au.nj; i < n; i++)
			au.j[i].last_r = -1;
		au.nj = n;
	}
	return &au.j[id];
}

static void
runs_line(const char *l, long long off)
{
	long long id, att, pid, st;
	char kind;
	struct jrec *j;

	if (sscanf(l, "%c %lld", &kind, &id) != 2 || (j = jrec_of(id)) == NULL) {
		au.bad_lines++;
		return;
	}
	switch (kind) {
	case 'R':
		j->retry_open++;
		break;
	case 'r':
		j->retry_open--;
		j->last_r = off;
		j->term_ticks = 0;
		break;
	case 'S':
		if (sscanf(l, "S %lld %lld %lld %lld", &id, &att, &pid, &st) !=
		    4) {
			au.bad_lines++;
			return;
		}
		j->starts++;
		if (id > au.max_id)
			au.max_id = id;
		if (j->retry_open > 0) {
			j->term_ticks = 0;
		} else if (j->term_ticks > 0 &&
			   st > j->term_ticks + TICK_MARGIN) {
			if (j->after_end++ == 0 && au.first_double[0] == '\0')
				snprintf(au.first_double,
					 sizeof(au.first_double),
					 "job %lld attempt %lld (pid %lld) "
					 "started %lld ticks after a list saw "
					 "it terminal",
					 id, att, pid, st - j->term_ticks);
		}
		break;
	case 'E':
		j->ends++;
		break;
	case 'X':
		if (j->overlaps++ == 0 && au.first_double[0] == '\0')
			snprintf(au.first_double, sizeof(au.first_double),
				 "%s: a second live process of the job", l);
		break;
	default:
		au.bad_lines++;
	}
}

/* Reads the runs file from where the last call stopped to its end. */
static void
runs_read(void)
{
	char buf[65536];
	int fd = open(runs_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	if (lseek(fd, au.off, SEEK_SET) < 0)
		bench_die("runs: %s", strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		au.part = bench_xrealloc(au.part, au.partlen + (size_t)n + 1);
		memcpy(au.part + au.partlen, buf, (size_t)n);
		au.partlen += (size_t)n;
		au.part[au.partlen] = '\0';
		char *p = au.part, *nl;
		long long base = au.off - (long long)(au.partlen - (size_t)n);
		while ((nl = memchr(p, '\n', au.partlen - (size_t)(p - au.part)))) {
			*nl = '\0';
			runs_line(p, base + (p - au.part));
			p = nl + 1;
		}
		au.off += n;
		size_t left = au.partlen - (size_t)(p - au.part);
		memmove(au.part, p, left);
		au.partlen = left;
	}
	close(fd);
}

/* Every job above id after in the given states (a JSON array, borrowed;
 * NULL for all), page by page (new reference); NULL on a transport
 * failure. */
static json_t *
list_all(struct jobd_client *c, json_t *states, json_int_t after)
{
	json_t *all = json_array();

	for (;;) {
		json_t *args = json_pack("{s:i,s:I}", "limit", 10000,
					 "after_id", after);
		if (states)
			json_object_set(args, "state", states);
		json_t *r = jobd_client_cmd(c, "list", args);
		if (r == NULL) {
			json_decref(all);
			return NULL;
		}
		json_t *jobs = json_object_get(r, "jobs");
		json_t *next = json_object_get(r, "next_after_id");
		json_array_extend(all, jobs);
		bool more = json_is_integer(next) && json_array_size(jobs) > 0;
		after = json_integer_value(next);
		json_decref(r);
		if (!more)
			return all;
	}
}

/* Notes which jobs are terminal now: a start of one of them from a
 * process started after the list ended, with no retry between, is a
 * start after a committed end.  Only the newest SNAP_WINDOW ids unless
 * full, so that a long soak does not list every job every few seconds. */
#define SNAP_WINDOW 20000
static void
snapshot(struct jobd_client *c, bool full)
{
	json_t *states = json_pack("[s,s,s]", "succeeded", "failed",
				   "cancelled");
	long long o1, ticks;
	json_t *jobs, *j;
	size_t i;

	runs_read();
	o1 = au.off;
	jobs = list_all(c, states,
			full || au.max_id < SNAP_WINDOW
				? 0
				: au.max_id - SNAP_WINDOW);
	json_decref(states);
	if (jobs == NULL)
		return;
	ticks = boot_ticks();
	runs_read();
	json_array_foreach(jobs, i, j)
	{
		struct jrec *r = jrec_of(json_integer_value(
			json_object_get(j, "id")));
		if (r && r->term_ticks == 0 && r->retry_open == 0 &&
		    r->last_r < o1)
			r->term_ticks = ticks;
	}
	json_decref(jobs);
	au.snapshots++;
}

/* ---- the final audit ------------------------------------------------------ */

struct tag {
	char state; /* 'A' acknowledged, 'N' refused, 'U' unanswered */
	long long id;
	int stored;
};

struct verdict {
	long acked, refused, unanswered, unanswered_stored, producer_jobs;
	long lost, phantom, stray, dup_tag, not_terminal, unexplained;
	long overlaps, after_end, ran_unstored, starts, reruns, recovered,
		limited, cancelled_jobs, jobs;
	char first[300];
};

static void __attribute__((format(printf, 2, 3)))
first_problem(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	if (v->first[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(v->first, sizeof(v->first), fmt, ap);
	va_end(ap);
}

/* Each client's record: tags[client][seq]. */
static struct tag *tags[MAX_CLIENTS];
static long ntags[MAX_CLIENTS];

static void
read_records(struct verdict *v)
{
	char path[4200], line[256], name[64], code[64];
	long long id;

	for (int n = 0; n < o.clients; n++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/client-%d.rec", o.dir, n);
		if ((f = fopen(path, "r")) == NULL)
			bench_die("%s: %s", path, strerror(errno));
		while (fgets(line, sizeof(line), f)) {
			char k = line[0], kc;
			int cn;
			long seq;
			if (k == 'c') {
				struct jrec *r;
				if (sscanf(line, "c %lld", &id) == 1 &&
				    (r = jrec_of(id)) != NULL)
					r->cancel_tried = true;
				continue;
			}
			id = 0;
			if (sscanf(line, "%*c %63s", name) != 1 ||
			    sscanf(name, "%c.%d.%ld", &kc, &cn, &seq) != 3 ||
			    cn != n || seq <= 0)
				bench_die("%s: bad line: %s", path, line);
			if (k == 'A' && sscanf(line, "A %*s %lld", &id) != 1)
				bench_die("%s: bad line: %s", path, line);
			if (k == 'N' && sscanf(line, "N %*s %63s", code) != 1)
				bench_die("%s: bad line: %s", path, line);
			if (seq >= ntags[n]) {
				long m = seq * 2 + 1024;
				tags[n] = bench_xrealloc(tags[n], (size_t)m *
							    sizeof(*tags[n]));
				memset(tags[n] + ntags[n], 0,
				       (size_t)(m - ntags[n]) * sizeof(*tags[n]));
				ntags[n] = m;
			}
			tags[n][seq].state = k;
			tags[n][seq].id = id;
			v->acked += k == 'A';
			v->refused += k == 'N';
			v->unanswered += k == 'U';
		}
		fclose(f);
	}
}

/* Is the job's final state one its kind and the clients' actions explain?
 * Every kind may end cancelled when a client tried to cancel it, and
 * failed with recovery_limit after more than 3 recoveries. */
static bool
explained(char kind, const json_t *j, const struct jrec *r)
{
	const char *st = json_string_value(json_object_get(j, "state"));
	const char *why = json_string_value(json_object_get(j, "reason"));
	json_int_t rec = json_integer_value(json_object_get(j, "recoveries"));

	if (st == NULL)
		return false;
	why = why ? why : "";
	if (strcmp(st, "cancelled") == 0)
		return r->cancel_tried && strcmp(why, "cancelled") == 0;
	if (strcmp(st, "failed") == 0 && strcmp(why, "recovery_limit") == 0)
		return rec > 3;
	switch (kind) {
	case 'p':
	case 's':
	case 'f':
	case 'g':
		return strcmp(st, "succeeded") == 0 && r->ends > 0;
	case 'x':
		return strcmp(st, "failed") == 0 && strcmp(why, "exit") == 0 &&
		       json_integer_value(json_object_get(j, "exit_code")) == 3;
	case 't':
		return strcmp(st, "failed") == 0 && strcmp(why, "timeout") == 0;
	default:
		return false;
	}
}

static void
audit(json_t *all, struct verdict *v)
{
	json_t *j;
	size_t i;

	read_records(v);
	runs_read();
	json_array_foreach(all, i, j)
	{
		long long id = json_integer_value(json_object_get(j, "id"));
		const char *name = json_string_value(json_object_get(j, "name"));
		const char *st = json_string_value(json_object_get(j, "state"));
		struct jrec *r = jrec_of(id);
		char kc = '?';
		int cn;
		long seq;

		v->jobs++;
		if (r == NULL || name == NULL || st == NULL) {
			v->stray++;
			first_problem(v, "job %lld: no name or state", id);
			continue;
		}
		r->stored = true;
		v->recovered += json_integer_value(
			json_object_get(j, "recoveries"));
		if (strcmp(st, "cancelled") == 0)
			v->cancelled_jobs++;
		if (strcmp(name, "p.tick") == 0) {
			v->producer_jobs++;
		} else if (sscanf(name, "%c.%d.%ld", &kc, &cn, &seq) != 3 ||
			   cn < 0 || cn >= o.clients || seq <= 0 ||
			   seq >= ntags[cn] || tags[cn][seq].state == 0) {
			v->stray++;
			first_problem(v, "job %lld (%s) came from no submit",
				      id, name);
			continue;
		} else {
			struct tag *t = &tags[cn][seq];
			if (t->stored++ > 0) {
				v->dup_tag++;
				first_problem(v, "%s stored twice", name);
			}
			if (t->state == 'A' && t->id != id) {
				v->dup_tag++;
				first_problem(v, "%s acknowledged as %lld, "
						 "stored as %lld",
					      name, t->id, id);
			}
			if (t->state == 'N') {
				v->phantom++;
				first_problem(v, "%s refused but stored as "
						 "%lld",
					      name, id);
			}
			v->unanswered_stored += t->state == 'U';
		}
		if (strcmp(name, "p.tick") == 0)
			kc = 'p';
		if (strcmp(st, "succeeded") != 0 && strcmp(st, "failed") != 0 &&
		    strcmp(st, "cancelled") != 0) {
			v->not_terminal++;
			first_problem(v, "job %lld (%s) still %s", id, name, st);
		} else if (!explained(kc, j, r)) {
			const char *why = json_string_value(
				json_object_get(j, "reason"));
			v->unexplained++;
			first_problem(
				v,
				"job %lld (%s) ended %s/%s (exit %lld, signal "
				"%lld, attempt %lld, %d starts%s): not what "
				"its command and the clients did explain",
				id, name, st, why ? why : "-",
				(long long)json_integer_value(
					json_object_get(j, "exit_code")),
				(long long)json_integer_value(
					json_object_get(j, "signal")),
				(long long)json_integer_value(
					json_object_get(j, "attempt")),
				r->starts,
				r->cancel_tried ? ", a cancel was sent" : "");
		}
		const char *why = json_string_value(
			json_object_get(j, "reason"));
		if (strcmp(st, "failed") == 0 && why != NULL &&
		    strcmp(why, "recovery_limit") == 0)
			v->limited++;
	}
	for (int n = 0; n < o.clients; n++)
		for (long seq = 1; seq < ntags[n]; seq++) {
			struct tag *t = &tags[n][seq];
			if (t->state == 'A' &&
			    (jrec_of(t->id) == NULL || !jrec_of(t->id)->stored)) {
				v->lost++;
				first_problem(v, "acknowledged job %lld "
						 "(client %d, #%ld) is gone",
					      t->id, n, seq);
			}
		}
	for (size_t id = 1; id < au.nj; id++) {
		struct jrec *r = &au.j[id];
		v->starts += r->starts;
		v->overlaps += r->overlaps;
		v->after_end += r->after_end;
		if (r->starts > 0 && !r->stored) {
			v->ran_unstored++;
			first_problem(v, "job %zu ran but is not stored", id);
		}
	}
}

/* ---- the supervisor -------------------------------------------------------- */

static pid_t clients[MAX_CLIENTS];

static void
write_config(void)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/jobd.conf", o.dir);
	if ((f = fopen(path, "w")) == NULL)
		bench_die("%s: %s", path, strerror(errno));
	fprintf(f, "[daemon]\nshutdown_timeout = 1\nkill_grace = 1\n"
		   "[queue default]\nconcurrency = 8\n");
	fclose(f);
}

/* The interval producer of the soak: one job a second. */
static void
ensure_producer(struct jobd_client *c)
{
	json_t *r = jobd_client_cmd(c, "producer.get",
				    json_pack("{s:s}", "name", "tick"));
	if (r != NULL) {
		json_decref(r);
		return;
	}
	uint64_t rng = 1;
	json_t *spec = job_spec(K_PLAIN, "p.tick", &rng);
	r = jobd_client_cmd(c, "producer.create",
			    json_pack("{s:{s:s,s:s,s:s,s:i,s:o}}", "producer",
				      "name", "tick", "type", "interval",
				      "queue", "default", "every", 1, "job",
				      spec));
	if (r == NULL)
		bench_die("producer.create: %s", jobd_client_error_message(c));
	json_decref(r);
}

/* Jobs not yet terminal (up to one page), or -1 on a transport failure. */
static long
pending_jobs(struct jobd_client *c)
{
	json_t *r = jobd_client_cmd(
		c, "list",
		json_pack("{s:[s,s,s,s],s:i}", "state", "waiting", "scheduled",
			  "queued", "running", "limit", 10000));
	long n;
	if (r == NULL)
		return -1;
	n = (long)json_array_size(json_object_get(r, "jobs"));
	json_decref(r);
	return n;
}

static void
stop_clients(void)
{
	for (int i = 0; i < o.clients; i++)
		kill(clients[i], SIGUSR1);
	for (int i = 0; i < o.clients; i++) {
		int st;
		if (waitpid(clients[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			die_with_log("a client failed");
	}
}

/* Runs for up to s seconds, sampling jobd every 100 ms and listing its
 * terminal jobs every snap_every seconds (0: never). */
static void
run_for(double s, int life, struct jobd_client *c, double snap_every)
{
	double end = bench_mono() + s, next_snap = bench_mono() + snap_every;
	while (bench_mono() < end) {
		double left = end - bench_mono();
		bench_sleep(left < 0.1 ? left : 0.1, &stop_flag);
		sample(life);
		if (snap_every > 0 && bench_mono() >= next_snap) {
			snapshot(c, false);
			next_snap = bench_mono() + snap_every;
		}
	}
}

/* What the supervisor counts of jobd's lives. */
struct run {
	int kills, sigterms, bad_exits;
	double t0;		/* when jobd first started */
	double load_secs;	/* of load, kills and restarts */
	double drain_max;	/* slowest SIGTERM drain, seconds */
	double lag;		/* settle and audit, seconds */
};

/* Reads the options after MODE JOBD WORKDIR into o; false on a usage
 * error. */
static bool
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 'S'},
		{"kills", required_argument, NULL, 'k'},
		{"seconds", required_argument, NULL, 't'},
		{"restart-every", required_argument, NULL, 'r'},
		{"clients", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0}};
	int ch;

	memset(&o, 0, sizeof(o));
	o.kills = 100;
	o.clients = 4;
	o.seconds = 600;
	o.restart_every = 30;
	o.seed = 0x63686f73ULL;
	if (argc < 4 || (strcmp(argv[1], "torture") != 0 &&
			 strcmp(argv[1], "soak") != 0))
		return false;
	o.soak = strcmp(argv[1], "soak") == 0;
	o.jobd = argv[2];
	o.dir = argv[3];
	optind = 4;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (strlen(optarg) >= sizeof(o.sock))
				bench_die("socket path too long");
			snprintf(o.sock, sizeof(o.sock), "%s", optarg);
			break;
		case 'k':
			o.kills = atoi(optarg);
			break;
		case 't':
			o.seconds = atof(optarg);
			break;
		case 'r':
			o.restart_every = atof(optarg);
			break;
		case 'c':
			o.clients = atoi(optarg);
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		default:
			return false;
		}
	}
	return optind == argc && o.kills >= 1 && o.clients >= 1 &&
	       o.clients <= MAX_CLIENTS && o.seconds > 0 &&
	       o.restart_every > 0;
}

/* Makes the work directory (o.dir becomes its absolute path, owned by
 * the caller), the runs and locks paths and the config. */
static char *
prepare_dir(void)
{
	char *dir_abs;

	if (o.sock[0] == '\0' &&
	    snprintf(o.sock, sizeof(o.sock), "%s/jobd.sock", o.dir) >=
		    (int)sizeof(o.sock))
		bench_die("socket path too long: use --socket");
	if (strlen(o.dir) > 400)
		bench_die("%s: path too long", o.dir);
	if (mkdir(o.dir, 0755) != 0 && errno != EEXIST)
		bench_die("%s: %s", o.dir, strerror(errno));
	/* Jobs run in /: they need the absolute path. */
	if ((dir_abs = realpath(o.dir, NULL)) == NULL ||
	    strlen(dir_abs) > 400)
		bench_die("%s: no usable absolute path", o.dir);
	o.dir = dir_abs;
	snprintf(runs_path, sizeof(runs_path), "%s/runs", o.dir);
	snprintf(locks_path, sizeof(locks_path), "%s/locks", o.dir);
	if (mkdir(locks_path, 0755) != 0 && errno != EEXIST)
		bench_die("%s: %s", locks_path, strerror(errno));
	write_config();
	return dir_abs;
}

/* Forks the clients; c (the supervisor's connection) is not theirs. */
static void
start_clients(struct jobd_client *c)
{
	for (int i = 0; i < o.clients; i++) {
		fflush(NULL);
		if ((clients[i] = fork()) < 0)
			bench_die("fork: %s", strerror(errno));
		if (clients[i] == 0) {
			jobd_client_close(c);
			client_main(i, 0.04);
		}
	}
}

/* The torture: o.kills kill -9s at random moments, each followed by a
 * restart.  Returns the connection to the last jobd. */
static struct jobd_client *
torture(struct jobd_client *c, uint64_t *rng, struct run *r)
{
	for (r->kills = 0; r->kills < o.kills; r->kills++) {
		if (c != NULL) {
			/* Up 50-600 ms, then a list of its terminal jobs and
			 * the kill right after it. */
			run_for(0.05 + 0.55 * rnd_unit(rng), r->kills, c, 0);
			snapshot(c, true);
			jobd_client_close(c);
			c = NULL;
		} else {
			/* Every tenth kill lands in the first 30 ms of a
			 * start: in recovery. */
			bench_sleep(0.03 * rnd_unit(rng), &stop_flag);
		}
		kill(jobd_pid, SIGKILL);
		jobd_reap(10);
		jobd_start();
		if (rnd(rng) % 10 != 0 || r->kills + 1 == o.kills)
			c = jobd_ready(30);
	}
	return c;
}

/* The soak: o.seconds of load, with a SIGTERM and a restart every
 * o.restart_every seconds or so.  Returns the connection to the last
 * jobd. */
static struct jobd_client *
soak(struct jobd_client *c, uint64_t *rng, struct run *r)
{
	double end = r->t0 + o.seconds;
	int life = 0;

	while (bench_mono() < end) {
		double up = o.restart_every * (1 + rnd_unit(rng));
		if (bench_mono() + up > end - 1)
			up = end - bench_mono();
		run_for(up, life, c, 5);
		if (bench_mono() >= end - 0.5)
			break;
		snapshot(c, false);
		jobd_client_close(c);
		double t = bench_mono();
		kill(jobd_pid, SIGTERM);
		int st = jobd_reap(60);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r->bad_exits++;
		if (bench_mono() - t > r->drain_max)
			r->drain_max = bench_mono() - t;
		r->sigterms++;
		life++;
		jobd_start();
		c = jobd_ready(30);
	}
	return c;
}

/* Once the clients are gone: lets every job end, audits the store
 * against the records into v, and stops jobd.  Closes c. */
static void
settle_and_audit(struct jobd_client *c, struct verdict *v, struct run *r)
{
	/* Everything is acknowledged or given up: let every job end. */
	double deadline =
		bench_mono() + 120 + (o.soak ? o.seconds / 5 : o.kills);
	long left;
	if (o.soak) {
		json_t *pr = jobd_client_cmd(c, "producer.pause",
					     json_pack("{s:s}", "name", "tick"));
		if (pr == NULL)
			die_with_log("producer.pause failed");
		json_decref(pr);
	}
	while ((left = pending_jobs(c)) != 0) {
		if (left < 0)
			die_with_log("jobd stopped answering");
		if (bench_mono() > deadline)
			break;
		run_for(0.2, 1 << 30, c, 0);
	}
	sample(1 << 30);
	snapshot(c, true);
	json_t *all = list_all(c, NULL, 0);
	if (all == NULL)
		die_with_log("jobd stopped answering");
	memset(v, 0, sizeof(*v));
	audit(all, v);
	json_decref(all);
	jobd_client_close(c);
	kill(jobd_pid, SIGTERM);
	int st = jobd_reap(60);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		r->bad_exits++;
}

/* Prints the report for people, then the key=value lines; true when the
 * audit failed. */
static bool
report(const struct verdict *v, const struct run *r)
{
	long dbl = v->overlaps + v->after_end;
	bool fail = v->lost || dbl || v->phantom || v->stray || v->dup_tag ||
		    v->not_terminal || v->unexplained || v->ran_unstored ||
		    au.bad_lines || r->bad_exits;
	printf("%s: %.0f s of load, %s %d times, %d clients (seed %#llx)\n",
	       o.soak ? "soak" : "torture", r->load_secs,
	       o.soak ? "SIGTERM and restart" : "kill -9 and restart",
	       o.soak ? r->sigterms : r->kills, o.clients,
	       (unsigned long long)o.seed);
	printf("  jobs: %ld acknowledged, %ld refused, %ld unanswered (%ld of "
	       "them stored), %ld from the producer; %ld stored, %ld "
	       "cancelled, %ld recoveries, %ld recovery_limit\n",
	       v->acked, v->refused, v->unanswered, v->unanswered_stored,
	       v->producer_jobs, v->jobs, v->cancelled_jobs, v->recovered,
	       v->limited);
	printf("  audit: lost %ld, double runs %ld (%ld overlapping, %ld "
	       "after a committed end), refused-but-stored %ld, not "
	       "terminal %ld, unexplained %ld, from no submit %ld, stored "
	       "twice %ld, ran unstored %ld, %d snapshots, %ld starts\n",
	       v->lost, dbl, v->overlaps, v->after_end, v->phantom,
	       v->not_terminal, v->unexplained, v->stray, v->dup_tag,
	       v->ran_unstored, au.snapshots, v->starts);
	if (v->first[0] || au.first_double[0])
		printf("  first problem: %s\n",
		       v->first[0] ? v->first : au.first_double);
	if (au.bad_lines || r->bad_exits)
		printf("  %d bad lines in the runs file, %d unclean exits of "
		       "jobd\n",
		       au.bad_lines, r->bad_exits);
	printf("  jobd RSS start/max/end: %.1f / %.1f / %.1f MiB; open fds "
	       "%d / %d / %d\n",
	       (double)res.rss0 / 1024, (double)res.rss_max / 1024,
	       (double)res.rss_end / 1024, res.fd0, res.fd_max, res.fd_end);
	if (o.soak)
		printf("  RSS slope while up: %+.1f KiB/min; slowest SIGTERM "
		       "drain %.2f s\n",
		       rss_slope(), r->drain_max);
	printf("  settle and audit: %.1f s\n", r->lag);
	printf("acked=%ld\nlost=%ld\ndouble=%ld\nphantom=%ld\n"
	       "not_terminal=%ld\nunexplained=%ld\nkills=%d\nsigterms=%d\n"
	       "rss0_kb=%ld\nrss_max_kb=%ld\nrss_end_kb=%ld\nfd0=%d\n"
	       "fd_max=%d\nfd_end=%d\nslope_kb_min=%.1f\naudit=%s\n",
	       v->acked, v->lost, dbl, v->phantom, v->not_terminal,
	       v->unexplained, r->kills, r->sigterms, res.rss0, res.rss_max,
	       res.rss_end, res.fd0, res.fd_max, res.fd_end,
	       o.soak ? rss_slope() : 0.0, fail ? "FAIL" : "ok");
	if (fail) {
		char cmd[4300];
		fflush(stdout);
		fprintf(stderr, "chaos: audit failed; last lines of jobd's "
				"log:\n");
		snprintf(cmd, sizeof(cmd), "tail -n 20 '%s/jobd.log' >&2",
			 o.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "chaos: (no log)\n");
	}
	return fail;
}

int
main(int argc, char **argv)
{
	struct verdict v;
	struct run r = {0};
	struct jobd_client *c;
	char *dir_abs;
	uint64_t rng;
	bool fail;

	bench_init("chaos", 2);
	if (!parse_args(argc, argv)) {
		fprintf(stderr,
			"usage: chaos torture|soak JOBD WORKDIR [--socket PATH] "
			"[--kills N]\n"
			"             [--seconds S] [--restart-every S] "
			"[--clients N] [--seed N]\n");
		return 2;
	}
	rng = o.seed | 1;
	dir_abs = prepare_dir();
	signal(SIGPIPE, SIG_IGN);

	r.t0 = bench_mono();
	jobd_start();
	c = jobd_ready(30);
	if (o.soak)
		ensure_producer(c);
	sample(0);
	start_clients(c);
	c = o.soak ? soak(c, &rng, &r) : torture(c, &rng, &r);
	r.load_secs = bench_mono() - r.t0;
	stop_clients();
	settle_and_audit(c, &v, &r);
	r.lag = bench_mono() - r.t0 - r.load_secs;
	fail = report(&v, &r);
	for (int n = 0; n < o.clients; n++)
		free(tags[n]);
	free(au.j);
	free(au.part);
	free(res.s);
	free(dir_abs);
	return fail ? 1 : 0;
}
