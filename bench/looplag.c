/*
 * looplag: how long one big request holds jobd's loop, seen by another
 * client.  A pinger thread sends ping after ping on its own connection
 * (one in flight, each latency recorded) while the main thread sends one
 * big request on another connection and reads its whole answer.  For each
 * request it prints the worst ping whose flight overlapped the request,
 * the request's own duration (from the first byte written to the last
 * byte of the answer read), and jobd's RSS before and after; then, as the
 * baseline, the worst ping over the same duration with no request running
 * (a pause of 100 ms first, at most 10 s).
 *
 * usage: looplag SOCKET JOBCTL [-n N] [-l L]
 * The requests, in order, on a fresh daemon:
 *   submit       N jobs in one submit, into paused queue "lag"
 *   submit_cap   N jobs in one submit, into paused queue "lagcap" with
 *                capacity 200000
 *   list         list of L jobs (limit L) of queue "lag"
 *   wait         wait on the N jobs of "lag" (pending) with timeout 1 s
 *   cancel       cancel of the N jobs of "lag"
 *   prune        prune older_than 0: deletes the N cancelled jobs
 *   list_all     `JOBCTL list --all`, paging through the N jobs left
 * Defaults N = 100000, L = 10000.  Prints a line per request for people,
 * then key=value lines: NAME_ms (worst ping during), NAME_base_ms (worst
 * idle ping), NAME_s (the request), NAME_rss0_kb, NAME_rss1_kb.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jobd/client.h"
#include "common.h"

/* The target: no ping waits longer than this. */
#define TARGET_MS 50.0
/* The idle baseline runs at least this long, and at most MAX. */
#define BASE_MIN_S 0.2
#define BASE_MAX_S 10.0

extern char **environ;

static const char *sock_path, *jobctl;
static long n_jobs = 100000, n_list = 10000;
static pid_t jobd_pid;

static long
rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)jobd_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- the pinger ------------------------------------------------------------
 * A window is opened before a request and closed after it; the worst ping
 * of the window is that of every ping in flight at some moment inside it.
 * Closing waits for the ping in flight to end, since the ping held up by a
 * request is answered only after it. */

enum { W_NONE, W_OPEN, W_CLOSING };

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state;
	double start, end, worst;
	long count;
	bool done, quit, failed;
} pg = {PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_COND_INITIALIZER,
	W_NONE,
	0,
	0,
	0,
	0,
	false,
	false,
	false};

static void *
pinger_f(void *arg)
{
	struct jobd_client *c = arg;
	for (;;) {
		double t0 = bench_mono();
		json_t *r = jobd_client_cmd(c, "ping", NULL);
		double t1 = bench_mono();
		pthread_mutex_lock(&pg.mu);
		if (r == NULL)
			pg.failed = true;
		json_decref(r);
		if (pg.state != W_NONE && t1 >= pg.start &&
		    (pg.state == W_OPEN || t0 <= pg.end)) {
			if (t1 - t0 > pg.worst)
				pg.worst = t1 - t0;
			pg.count++;
		}
		if (pg.state == W_CLOSING && t0 > pg.end)
			pg.done = true;
		bool quit = pg.quit || pg.failed;
		pthread_cond_broadcast(&pg.cv);
		pthread_mutex_unlock(&pg.mu);
		if (quit)
			return NULL;
	}
}

static void
window_open(void)
{
	pthread_mutex_lock(&pg.mu);
	pg.state = W_OPEN;
	pg.start = bench_mono();
	pg.worst = 0;
	pg.count = 0;
	pg.done = false;
	pthread_mutex_unlock(&pg.mu);
}

/* Closes the window; its worst ping in ms (pings counted in *n). */
static double
window_close(long *n)
{
	double worst;
	pthread_mutex_lock(&pg.mu);
	pg.end = bench_mono();
	pg.state = W_CLOSING;
	while (!pg.done && !pg.failed)
		pthread_cond_wait(&pg.cv, &pg.mu);
	if (pg.failed)
		bench_die("ping failed");
	pg.state = W_NONE;
	worst = pg.worst * 1e3;
	*n = pg.count;
	pthread_mutex_unlock(&pg.mu);
	return worst;
}

/* ---- the big requests, on a raw connection ------------------------------- */

static int big_fd = -1;
static char *rbuf;
static size_t rlen, rcap;

static void
big_connect(void)
{
	big_fd = bench_connect(sock_path);
}

/* Writes req (a line) and reads the whole answer line into rbuf; its
 * length (without the newline).  The duration in *secs. */
static size_t
big_call(const char *req, size_t n, double *secs)
{
	double t0 = bench_mono();
	size_t off = 0;
	char *nl = NULL;

	while (off < n) {
		ssize_t w = write(big_fd, req + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			bench_die("write: %s", strerror(errno));
		off += (size_t)w;
	}
	rlen = 0;
	while (nl == NULL) {
		if (rcap - rlen < 65536) {
			rcap = rcap * 2 + 65536;
			if ((rbuf = realloc(rbuf, rcap)) == NULL)
				bench_die("out of memory");
		}
		ssize_t r = read(big_fd, rbuf + rlen, rcap - rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_die("jobd closed the connection");
		nl = memchr(rbuf + rlen, '\n', (size_t)r);
		rlen += (size_t)r;
	}
	*secs = bench_mono() - t0;
	return (size_t)(nl - rbuf);
}

/* The result of an answer (borrowed from resp), or NULL when it is the
 * error code allowed (NULL: none allowed). */
static json_t *
result_of(json_t *resp, const char *what, const char *allowed)
{
	if (json_is_true(json_object_get(resp, "ok")))
		return json_object_get(resp, "result");
	json_t *e = json_object_get(resp, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	if (allowed && code && strcmp(code, allowed) == 0)
		return NULL;
	bench_die("%s: %s: %s", what, code ? code : "?",
		  json_string_value(json_object_get(e, "message")));
}

/* ---- one measured request ------------------------------------------------ */

struct figure {
	const char *name, *label;
	double worst_ms, base_ms, secs, base_secs;
	long pings, base_pings, rss0, rss1;
};

static struct figure figs[8];
static int nfigs;

/* Measures req (NULL: run jobctl list --all); the answer (new reference)
 * or NULL for jobctl. */
static json_t *
measure(const char *name, const char *label, const char *req, size_t n)
{
	struct figure *f = &figs[nfigs++];
	json_t *resp = NULL;
	size_t alen = 0;

	f->name = name;
	f->label = label;
	f->rss0 = rss_kb();
	window_open();
	if (req != NULL) {
		alen = big_call(req, n, &f->secs);
	} else {
		char *argv[] = {(char *)(uintptr_t)jobctl,
				(char *)"-s",
				(char *)(uintptr_t)sock_path,
				(char *)"list",
				(char *)"--all",
				NULL};
		posix_spawn_file_actions_t fa;
		pid_t pid;
		int st;
		double t0 = bench_mono();
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
						 0);
		if (posix_spawn(&pid, jobctl, &fa, NULL, argv, environ) != 0)
			bench_die("%s: cannot run", jobctl);
		posix_spawn_file_actions_destroy(&fa);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bench_die("jobctl list --all failed");
		f->secs = bench_mono() - t0;
	}
	f->worst_ms = window_close(&f->pings);
	f->rss1 = rss_kb();
	if (req != NULL) {
		json_error_t err;
		if ((resp = json_loadb(rbuf, alen, 0, &err)) == NULL)
			bench_die("%s: bad answer: %s", name, err.text);
	}

	/* The baseline: the same length of time with nothing running. */
	bench_sleep(0.1, NULL);
	f->base_secs = f->secs < BASE_MIN_S   ? BASE_MIN_S
		       : f->secs > BASE_MAX_S ? BASE_MAX_S
					      : f->secs;
	window_open();
	bench_sleep(f->base_secs, NULL);
	f->base_ms = window_close(&f->base_pings);
	printf("%-11s %-34s worst ping %9.2f ms (idle %6.2f ms), request "
	       "%7.3f s, RSS %.1f -> %.1f MiB: %s\n",
	       name, label, f->worst_ms, f->base_ms, f->secs,
	       (double)f->rss0 / 1024, (double)f->rss1 / 1024,
	       f->worst_ms < TARGET_MS ? "PASS" : "MISS");
	fflush(stdout);
	return resp;
}

/* A request line: head, then the n items that item() writes, then tail. */
static char *
build(size_t *len, const char *head, const char *tail, long n,
      int (*item)(char *, size_t, long, const void *), const void *arg)
{
	size_t cap = 1 << 20, off;
	char *b = malloc(cap);
	if (b == NULL)
		bench_die("out of memory");
	off = (size_t)snprintf(b, cap, "%s", head);
	for (long i = 0; i < n; i++) {
		if (cap - off < 4096) {
			cap *= 2;
			if ((b = realloc(b, cap)) == NULL)
				bench_die("out of memory");
		}
		if (i > 0)
			b[off++] = ',';
		off += (size_t)item(b + off, cap - off, i, arg);
	}
	if (cap - off < 4096 && (b = realloc(b, cap + 4096)) == NULL)
		bench_die("out of memory");
	off += (size_t)snprintf(b + off, 4096, "%s\n", tail);
	*len = off;
	return b;
}

static int
job_item(char *dst, size_t cap, long i, const void *queue)
{
	(void)i;
	return snprintf(dst, cap, "{\"argv\":[\"true\"],\"queue\":\"%s\"}",
			(const char *)queue);
}

static int
id_item(char *dst, size_t cap, long i, const void *ids)
{
	return snprintf(dst, cap, "%lld", (long long)((const int64_t *)ids)[i]);
}

static void
admin(struct jobd_client *c, const char *cmd, json_t *args)
{
	json_t *r = jobd_client_cmd(c, cmd, args);
	if (r == NULL)
		bench_die("%s: %s", cmd, jobd_client_error_message(c));
	json_decref(r);
}

/* The paused queues the requests fill: "lag", and "lagcap" with a
 * capacity. */
static void
make_queues(struct jobd_client *ac)
{
	admin(ac, "queue.create", json_pack("{s:s}", "name", "lag"));
	admin(ac, "queue.pause", json_pack("{s:s}", "name", "lag"));
	admin(ac, "queue.create",
	      json_pack("{s:s,s:i}", "name", "lagcap", "capacity", 200000));
	admin(ac, "queue.pause", json_pack("{s:s}", "name", "lagcap"));
}

/* The two big submits; returns the ids of the jobs of "lag" (the
 * caller frees). */
static int64_t *
measure_submits(void)
{
	json_t *resp, *r;
	int64_t *ids;
	size_t len;
	char *req;

	req = build(&len, "{\"id\":1,\"cmd\":\"submit\",\"jobs\":[", "]}",
		    n_jobs, job_item, "lag");
	resp = measure("submit", "submit of N jobs in one request", req, len);
	free(req);
	r = json_object_get(result_of(resp, "submit", NULL), "ids");
	if ((long)json_array_size(r) != n_jobs)
		bench_die("submit: %zu ids for %ld jobs", json_array_size(r),
			  n_jobs);
	if ((ids = malloc(sizeof(*ids) * (size_t)n_jobs)) == NULL)
		bench_die("out of memory");
	for (long i = 0; i < n_jobs; i++)
		ids[i] = json_integer_value(json_array_get(r, (size_t)i));
	json_decref(resp);

	req = build(&len, "{\"id\":2,\"cmd\":\"submit\",\"jobs\":[", "]}",
		    n_jobs, job_item, "lagcap");
	resp = measure("submit_cap", "submit of N into a capped queue", req,
		       len);
	free(req);
	result_of(resp, "submit (capped)", NULL);
	json_decref(resp);

	return ids;
}

/* list, wait, cancel and prune over the jobs of "lag" (ids, n_jobs of
 * them), then jobctl list --all. */
static void
measure_the_rest(const int64_t *ids)
{
	json_t *resp;
	size_t len;
	char *req;
	char small[256];
	len = (size_t)snprintf(small, sizeof(small),
			       "{\"id\":3,\"cmd\":\"list\",\"queue\":\"lag\","
			       "\"limit\":%ld}\n",
			       n_list);
	resp = measure("list", "list of L jobs", small, len);
	if ((long)json_array_size(json_object_get(result_of(resp, "list", NULL),
						  "jobs")) != n_list)
		bench_die("list: not %ld jobs", n_list);
	json_decref(resp);

	req = build(&len, "{\"id\":4,\"cmd\":\"wait\",\"job_ids\":[",
		    "],\"timeout\":1}", n_jobs, id_item, ids);
	resp = measure("wait", "wait on N pending jobs (1 s)", req, len);
	free(req);
	result_of(resp, "wait", "timeout");
	json_decref(resp);

	req = build(&len, "{\"id\":5,\"cmd\":\"cancel\",\"job_ids\":[", "]}",
		    n_jobs, id_item, ids);
	resp = measure("cancel", "cancel of N jobs", req, len);
	free(req);
	if ((long)json_array_size(json_object_get(
		    result_of(resp, "cancel", NULL), "jobs")) != n_jobs)
		bench_die("cancel: not %ld jobs", n_jobs);
	json_decref(resp);

	len = (size_t)snprintf(small, sizeof(small),
			       "{\"id\":6,\"cmd\":\"prune\","
			       "\"older_than\":0}\n");
	bench_sleep(0.01, NULL); /* "finished before now" */
	resp = measure("prune", "prune of N jobs", small, len);
	if (json_integer_value(json_object_get(result_of(resp, "prune", NULL),
					       "deleted")) < n_jobs)
		bench_die("prune: fewer than %ld deleted", n_jobs);
	json_decref(resp);

	measure("list_all", "jobctl list --all through N jobs", NULL, 0);
}

/* The key=value lines of every figure. */
static void
print_figures(void)
{
	for (int i = 0; i < nfigs; i++) {
		struct figure *f = &figs[i];
		printf("%s_ms=%.3f\n%s_base_ms=%.3f\n%s_s=%.4f\n%s_pings=%ld\n"
		       "%s_rss0_kb=%ld\n%s_rss1_kb=%ld\n",
		       f->name, f->worst_ms, f->name, f->base_ms, f->name,
		       f->secs, f->name, f->pings, f->name, f->rss0, f->name,
		       f->rss1);
	}
}

int
main(int argc, char **argv)
{
	struct jobd_client *pc, *ac;
	pthread_t th;
	json_t *r;
	int64_t *ids;
	int ch;

	bench_init("looplag", 1);
	if (argc < 3)
		goto usage;
	sock_path = argv[1];
	jobctl = argv[2];
	optind = 3;
	while ((ch = getopt(argc, argv, "n:l:")) != -1) {
		switch (ch) {
		case 'n':
			n_jobs = atol(optarg);
			break;
		case 'l':
			n_list = atol(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || n_jobs < 1 || n_jobs > 100000 || n_list < 1 ||
	    n_list > 10000)
		goto usage;
	signal(SIGPIPE, SIG_IGN);

	if ((ac = jobd_client_connect(sock_path)) == NULL ||
	    (pc = jobd_client_connect(sock_path)) == NULL)
		bench_die("%s: %s", sock_path, strerror(errno));
	if ((r = jobd_client_cmd(ac, "ping", NULL)) == NULL)
		bench_die("ping: %s", jobd_client_error_message(ac));
	jobd_pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	make_queues(ac);
	big_connect();
	if (pthread_create(&th, NULL, pinger_f, pc) != 0)
		bench_die("pthread_create failed");

	printf("loop lag: %ld jobs, list of %ld; worst ping seen by another "
	       "client (target < %.0f ms)\n",
	       n_jobs, n_list, TARGET_MS);
	ids = measure_submits();
	measure_the_rest(ids);
	free(ids);
	pthread_mutex_lock(&pg.mu);
	pg.quit = true;
	pthread_mutex_unlock(&pg.mu);
	pthread_join(th, NULL);
	print_figures();
	close(big_fd);
	free(rbuf);
	jobd_client_close(pc);
	jobd_client_close(ac);
	return 0;
usage:
	fprintf(stderr, "usage: looplag SOCKET JOBCTL [-n N (<= 100000)] "
			"[-l L (<= 10000)]\n");
	return 2;
}
