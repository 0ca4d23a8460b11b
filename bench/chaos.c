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
 *
 * This file is the supervisor: options, jobd's start, stop and resources,
 * the torture and soak loops and the report.  The clients are in
 * chaos_client.c, the audit in chaos_audit.c; chaos.h is what they share.
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
#include "chaos.h"
#include "common.h"

struct opts o;
char runs_path[512], locks_path[512];
volatile sig_atomic_t stop_flag;

uint64_t
rnd(uint64_t *s)
{
	/* xorshift64*: one sequence per seed. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

double
rnd_unit(uint64_t *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
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

static void __attribute__((noreturn)) die_with_log(const char *what)
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

/* ---- jobd's resources ---------------------------------------------------- */

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
			sxy += (res.s[k].t - mt) *
			       ((double)res.s[k].rss_kb - mr);
			sxx += (res.s[k].t - mt) * (res.s[k].t - mt);
		}
		i = j;
	}
	return sxx > 0 ? sxy / sxx * 60 : 0;
}

/* ---- the supervisor ------------------------------------------------------ */

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
	json_t *r = jobd_client_cmd(c, "list",
				    json_pack("{s:[s,s,s,s],s:i}", "state",
					      "waiting", "scheduled", "queued",
					      "running", "limit", 10000));
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
	double t0;	  /* when jobd first started */
	double load_secs; /* of load, kills and restarts */
	double drain_max; /* slowest SIGTERM drain, seconds */
	double lag;	  /* settle and audit, seconds */
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
	if (argc < 4 ||
	    (strcmp(argv[1], "torture") != 0 && strcmp(argv[1], "soak") != 0))
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
	       o.clients <= MAX_CLIENTS && o.seconds > 0 && o.restart_every > 0;
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
	if ((dir_abs = realpath(o.dir, NULL)) == NULL || strlen(dir_abs) > 400)
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
	double deadline = bench_mono() + 120 +
			  (o.soak ? o.seconds / 5 : o.kills);
	long left;
	if (o.soak) {
		json_t *pr =
			jobd_client_cmd(c, "producer.pause",
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
			"usage: chaos torture|soak JOBD WORKDIR [--socket "
			"PATH] "
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
