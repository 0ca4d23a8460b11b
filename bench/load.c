/*
 * load: the load generator of jobd's benchmarks.  Speaks the control
 * protocol (SPEC 5) over raw Unix sockets, with jansson for the answers,
 * so the client side costs as little as it can and every request is
 * exactly what the mode says: no hidden batching, no extra round trips.
 * Requests are formatted once or with snprintf; every response is parsed
 * and checked (ok:true and the ids it must carry), and a single failure
 * ends the run with status 1.
 *
 * Usage: load MODE SOCKET [-n N] [-b B] [-c C] [-d D] [-q QUEUE]
 *             [-t SECS] [-p PROGRAM]
 *   single     N submits, one at a time, each response awaited
 *   pipelined  N submits on one connection, written without waiting while
 *              the responses are read as they come
 *   batch      N jobs in submits of B jobs, D requests in flight (D = 1:
 *              one at a time)
 *   clients    C connections (threads), N single submits each
 *   latency    N samples on an idle daemon: submit PROGRAM (which prints
 *              CLOCK_REALTIME ns), wait for it, read its log; the latency
 *              is that time minus the time the submit was sent
 *   e2e        N jobs of PROGRAM in queue QUEUE, submitted in one batch
 *              (split beyond 20,000); time until all succeeded, seen by
 *              polling stats every 2 ms
 *   stuck      C connections that send watch for QUEUE and then never read
 *              again; prints "ready" and sleeps until killed
 * Each job is {"argv":[PROGRAM],"queue":QUEUE} (PROGRAM /bin/true, QUEUE
 * "bench" unless told).  -t stops sending after SECS seconds (the rate is
 * over what was answered).  Prints key=value lines: rate= (per second),
 * n=, secs=, and mode-specific figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include "common.h"

/* Most jobs in one submit: jobd takes up to 100,000, and 20,000 small
 * specs stay well under its default 4 MiB request limit. */
#define MAX_BATCH 20000
/* Bytes of requests queued ahead of the socket in pipelined mode. */
#define PIPE_AHEAD (256 * 1024)

struct conn {
	int fd;
	char *buf; /* received bytes, [off, len) not consumed */
	size_t off, len, cap;
};

struct opts {
	const char *sock;
	long n;	    /* submits, jobs or samples */
	long batch; /* jobs per submit (batch) */
	int conns;  /* connections (clients, stuck) */
	int depth;  /* requests in flight (batch) */
	const char *queue;
	const char *prog;
	double secs; /* stop sending after this; 0 = no limit */
};

static struct opts o = {NULL, 1000, 1000, 16, 1, "bench", "/bin/true", 0};
static char job_json[1024]; /* the spec every submit sends */

static long long
real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct conn *
conn_open(void)
{
	struct conn *c = bench_xmalloc(sizeof(*c));

	c->fd = bench_connect(o.sock);
	c->cap = 64 * 1024;
	c->buf = bench_xmalloc(c->cap);
	c->off = c->len = 0;
	return c;
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

static void
write_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			bench_die("write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* One read(2) into c's buffer.  Returns bytes read, 0 at EOF, -1 when
 * the socket has nothing now (non-blocking). */
static ssize_t
conn_fill(struct conn *c)
{
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->cap - c->len < 16 * 1024) {
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < 16 * 1024) {
			c->cap *= 2;
			c->buf = realloc(c->buf, c->cap);
			if (c->buf == NULL)
				bench_die("out of memory");
		}
	}
	for (;;) {
		ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -1;
		if (r < 0)
			bench_die("read: %s", strerror(errno));
		c->len += (size_t)r;
		return r;
	}
}

/* The next whole line in c's buffer (newline replaced by NUL; valid until
 * the next call on c), or NULL when none is there yet. */
static char *
conn_next(struct conn *c, size_t *n)
{
	char *start = c->buf + c->off;
	char *nl = memchr(start, '\n', c->len - c->off);
	if (nl == NULL)
		return NULL;
	*nl = '\0';
	*n = (size_t)(nl - start);
	c->off += *n + 1;
	return start;
}

/* The next line, reading (blocking) until one is whole. */
static char *
conn_line(struct conn *c, size_t *n)
{
	char *l;
	while ((l = conn_next(c, n)) == NULL)
		if (conn_fill(c) == 0)
			bench_die("jobd closed the connection");
	return l;
}

/* Parses a response and returns its result, or dies saying what failed. */
static json_t *
result_of(const char *line, size_t n, const char *what)
{
	json_error_t err;
	json_t *r = json_loadb(line, n, 0, &err), *res;

	if (r == NULL)
		bench_die("%s: bad response: %s", what, err.text);
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");
		bench_die("%s: %s: %s", what,
			  json_string_value(json_object_get(e, "code")),
			  json_string_value(json_object_get(e, "message")));
	}
	res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

/* Checks a submit response: returns the number of ids it carries and the
 * last of them in *last. */
static long
check_submit(const char *line, size_t n, long long *last)
{
	json_t *res = result_of(line, n, "submit"), *ids;
	long k = 1;

	if ((ids = json_object_get(res, "ids")) != NULL) {
		k = (long)json_array_size(ids);
		*last = json_integer_value(json_array_get(ids, (size_t)k - 1));
	} else {
		*last = json_integer_value(json_object_get(res, "id"));
	}
	if (*last <= 0)
		bench_die("submit: no id in the response");
	json_decref(res);
	return k;
}

/* Sends one request line built from fmt and returns its result. */
static json_t *__attribute__((format(printf, 3, 4)))
call(struct conn *c, const char *what, const char *fmt, ...)
{
	char req[4096];
	va_list ap;
	size_t n;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(req, sizeof(req) - 1, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(req) - 1)
		bench_die("%s: request too long", what);
	req[k] = '\n';
	write_all(c, req, (size_t)k + 1);
	const char *l = conn_line(c, &n);
	return result_of(l, n, what);
}

static int
submit_line(char *dst, size_t cap, long id)
{
	int k = snprintf(dst, cap,
			 "{\"id\":%ld,\"cmd\":\"submit\",\"job\":%s}\n", id,
			 job_json);
	if (k < 0 || (size_t)k >= cap)
		bench_die("request too long");
	return k;
}

/* A whole submit request of k copies of the job, without its id: the
 * caller writes "{\"id\":N" and then this. */
static char *
batch_body(long k, size_t *len)
{
	size_t jl = strlen(job_json), cap = (size_t)k * (jl + 1) + 64;
	char *b = bench_xmalloc(cap), *p = b;

	p += sprintf(p, ",\"cmd\":\"submit\",\"jobs\":[");
	for (long i = 0; i < k; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, job_json, jl);
		p += jl;
	}
	p += sprintf(p, "]}\n");
	*len = (size_t)(p - b);
	return b;
}

static void
report(long n, double secs)
{
	printf("rate=%.1f\nn=%ld\nsecs=%.3f\n", (double)n / secs, n, secs);
}

static int
mode_single(void)
{
	struct conn *c = conn_open();
	char req[2048];
	long i;
	long long id = 0;
	size_t n;
	double t0 = bench_mono();

	for (i = 0; i < o.n; i++) {
		if (o.secs > 0 && (i & 15) == 0 && bench_mono() - t0 >= o.secs)
			break;
		write_all(c, req, (size_t)submit_line(req, sizeof(req), i + 1));
		const char *l = conn_line(c, &n);
		check_submit(l, n, &id);
	}
	report(i, bench_mono() - t0);
	conn_close(c);
	return 0;
}

static int
mode_pipelined(void)
{
	struct conn *c = conn_open();
	size_t wcap = PIPE_AHEAD + 4096, woff = 0, wlen = 0, n;
	char *wbuf = bench_xmalloc(wcap);
	long sent = 0, got = 0, want = o.n;
	long long id;
	double t0 = bench_mono();

	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
		bench_die("fcntl: %s", strerror(errno));
	while (got < want) {
		/* Refill the write buffer while sending is allowed. */
		if (sent < want && o.secs > 0 && bench_mono() - t0 >= o.secs)
			want = sent;
		if (woff == wlen)
			woff = wlen = 0;
		while (sent < want && wlen < PIPE_AHEAD)
			wlen += (size_t)submit_line(wbuf + wlen, wcap - wlen,
						    ++sent);
		struct pollfd pf = {c->fd, POLLIN, 0};
		if (woff < wlen)
			pf.events |= POLLOUT;
		if (poll(&pf, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			bench_die("poll: %s", strerror(errno));
		}
		if (pf.revents & POLLOUT) {
			ssize_t w = write(c->fd, wbuf + woff, wlen - woff);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				bench_die("write: %s", strerror(errno));
			if (w > 0)
				woff += (size_t)w;
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (conn_fill(c) == 0)
				bench_die("jobd closed the connection");
			const char *l;
			while ((l = conn_next(c, &n)) != NULL) {
				check_submit(l, n, &id);
				got++;
			}
		}
	}
	report(got, bench_mono() - t0);
	free(wbuf);
	conn_close(c);
	return 0;
}

static int
mode_batch(void)
{
	struct conn *c = conn_open();
	long k = o.batch < o.n ? o.batch : o.n, done = 0, sent = 0;
	long *want = bench_xmalloc(sizeof(*want) * (size_t)o.depth);
	int head_i = 0, inflight = 0;
	long reqs = 0;
	size_t blen, rlen = 0, n;
	char *body = batch_body(k, &blen), *rest = NULL, head[32];
	long long id = 0;
	double t0 = bench_mono();

	for (;;) {
		bool more = sent < o.n &&
			    !(o.secs > 0 && bench_mono() - t0 >= o.secs);
		if (more && inflight < o.depth) {
			/* The last submit carries what is left. */
			long m = o.n - sent < k ? o.n - sent : k;
			if (m < k && rest == NULL)
				rest = batch_body(m, &rlen);
			int h = snprintf(head, sizeof(head), "{\"id\":%ld",
					 ++reqs);
			write_all(c, head, (size_t)h);
			write_all(c, m < k ? rest : body, m < k ? rlen : blen);
			want[(head_i + inflight) % o.depth] = m;
			sent += m;
			inflight++;
			continue;
		}
		if (inflight == 0)
			break;
		const char *l = conn_line(c, &n);
		long got = check_submit(l, n, &id);
		if (got != want[head_i])
			bench_die("submit: %ld ids for %ld jobs", got,
				  want[head_i]);
		done += got;
		head_i = (head_i + 1) % o.depth;
		inflight--;
	}
	report(done, bench_mono() - t0);
	free(want);
	free(body);
	free(rest);
	conn_close(c);
	return 0;
}

struct client_arg {
	pthread_t th;
	pthread_barrier_t *start;
	long done;
};

static void *
client_f(void *arg)
{
	struct client_arg *a = arg;
	struct conn *c = conn_open();
	char req[2048];
	long long id;
	size_t n;
	double t0;

	pthread_barrier_wait(a->start);
	t0 = bench_mono();
	for (a->done = 0; a->done < o.n; a->done++) {
		if (o.secs > 0 && (a->done & 15) == 0 &&
		    bench_mono() - t0 >= o.secs)
			break;
		write_all(c, req,
			  (size_t)submit_line(req, sizeof(req), a->done + 1));
		const char *l = conn_line(c, &n);
		check_submit(l, n, &id);
	}
	conn_close(c);
	return NULL;
}

static int
mode_clients(void)
{
	struct client_arg *a = bench_xmalloc(sizeof(*a) * (size_t)o.conns);
	pthread_barrier_t start;
	long total = 0;
	double t0;

	pthread_barrier_init(&start, NULL, (unsigned)o.conns + 1);
	for (int i = 0; i < o.conns; i++) {
		a[i].start = &start;
		if (pthread_create(&a[i].th, NULL, client_f, &a[i]) != 0)
			bench_die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	t0 = bench_mono();
	for (int i = 0; i < o.conns; i++) {
		pthread_join(a[i].th, NULL);
		total += a[i].done;
	}
	report(total, bench_mono() - t0);
	pthread_barrier_destroy(&start);
	free(a);
	return 0;
}

static int
cmp_ll(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;
	return (a > b) - (a < b);
}

static double
pct_ms(const long long *v, long n, int pct)
{
	long i = (n * pct) / 100;
	return (double)v[i < n ? i : n - 1] / 1e6;
}

static int
mode_latency(void)
{
	struct conn *c = conn_open();
	long long *lat = bench_xmalloc(sizeof(*lat) * (size_t)o.n);
	long long *ack = bench_xmalloc(sizeof(*ack) * (size_t)o.n);
	struct timespec gap = {0, 2000000};
	char req[2048];
	long long id;
	size_t n;

	for (long i = 0; i < o.n; i++) {
		/* Let the daemon go idle: the previous job's end is
		 * committed and its loop asleep. */
		nanosleep(&gap, NULL);
		long long t0 = real_ns();
		write_all(c, req, (size_t)submit_line(req, sizeof(req), 1));
		const char *l = conn_line(c, &n);
		check_submit(l, n, &id);
		ack[i] = real_ns() - t0;
		json_t *r = call(c, "wait",
				 "{\"cmd\":\"wait\",\"job_ids\":[%lld],"
				 "\"timeout\":30}",
				 id);
		const char *st = json_string_value(json_object_get(
			json_array_get(json_object_get(r, "jobs"), 0),
			"state"));
		if (st == NULL || strcmp(st, "succeeded") != 0)
			bench_die("job %lld: %s", id, st ? st : "no state");
		json_decref(r);
		r = call(c, "logs", "{\"cmd\":\"logs\",\"job_id\":%lld}", id);
		const char *data =
			json_string_value(json_object_get(r, "data"));
		long long ns = data ? strtoll(data, NULL, 10) : 0;
		if (ns <= 0)
			bench_die("job %lld: no time in its output", id);
		lat[i] = ns - t0;
		json_decref(r);
	}
	qsort(lat, (size_t)o.n, sizeof(*lat), cmp_ll);
	qsort(ack, (size_t)o.n, sizeof(*ack), cmp_ll);
	printf("p50_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\n", pct_ms(lat, o.n, 50),
	       pct_ms(lat, o.n, 99), (double)lat[o.n - 1] / 1e6);
	printf("ack_p50_ms=%.3f\nack_p99_ms=%.3f\nn=%ld\n",
	       pct_ms(ack, o.n, 50), pct_ms(ack, o.n, 99), o.n);
	free(lat);
	free(ack);
	conn_close(c);
	return 0;
}

/* totals.succeeded and totals.failed of the daemon. */
static void
totals(struct conn *c, long long *ok, long long *bad)
{
	json_t *r = call(c, "stats", "{\"cmd\":\"stats\"}");
	json_t *t = json_object_get(r, "totals");
	*ok = json_integer_value(json_object_get(t, "succeeded"));
	*bad = json_integer_value(json_object_get(t, "failed")) +
	       json_integer_value(json_object_get(t, "cancelled"));
	json_decref(r);
}

static int
mode_e2e(void)
{
	struct conn *c = conn_open(), *poller = conn_open();
	struct timespec tick = {0, 2000000};
	long long ok0, bad0, ok, bad, id;
	size_t blen, n;
	char *body, head[32];
	double t0, t_ack;
	long sent = 0, reqs = 0;

	totals(poller, &ok0, &bad0);
	t0 = bench_mono();
	while (sent < o.n) {
		long k = o.n - sent < MAX_BATCH ? o.n - sent : MAX_BATCH;
		body = batch_body(k, &blen);
		write_all(c, head,
			  (size_t)snprintf(head, sizeof(head), "{\"id\":%ld",
					   ++reqs));
		write_all(c, body, blen);
		free(body);
		const char *l = conn_line(c, &n);
		if (check_submit(l, n, &id) != k)
			bench_die("submit: wrong number of ids");
		sent += k;
	}
	t_ack = bench_mono() - t0;
	do {
		nanosleep(&tick, NULL);
		totals(poller, &ok, &bad);
		if (bad > bad0)
			bench_die("%lld jobs failed", bad - bad0);
	} while (ok - ok0 < o.n);
	report(o.n, bench_mono() - t0);
	printf("ack_secs=%.3f\n", t_ack);
	conn_close(c);
	conn_close(poller);
	return 0;
}

static void
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static int
mode_stuck(void)
{
	struct conn **c = bench_xmalloc(sizeof(*c) * (size_t)o.conns);

	signal(SIGTERM, on_term);
	for (int i = 0; i < o.conns; i++) {
		c[i] = conn_open();
		json_decref(call(c[i], "watch",
				 "{\"cmd\":\"watch\",\"queue\":\"%s\"}",
				 o.queue));
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: load single|pipelined|batch|clients|latency|e2e|stuck "
		"SOCKET\n"
		"            [-n N] [-b B] [-c C] [-d D] [-q QUEUE] [-t SECS] "
		"[-p PROGRAM]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} modes[] = {{"single", mode_single},	{"pipelined", mode_pipelined},
		     {"batch", mode_batch},	{"clients", mode_clients},
		     {"latency", mode_latency}, {"e2e", mode_e2e},
		     {"stuck", mode_stuck}};
	int ch;

	bench_init("load", 1);
	if (argc < 3)
		usage();
	o.sock = argv[2];
	optind = 3;
	while ((ch = getopt(argc, argv, "n:b:c:d:q:t:p:")) != -1) {
		switch (ch) {
		case 'n':
			o.n = atol(optarg);
			break;
		case 'b':
			o.batch = atol(optarg);
			break;
		case 'c':
			o.conns = atoi(optarg);
			break;
		case 'd':
			o.depth = atoi(optarg);
			break;
		case 'q':
			o.queue = optarg;
			break;
		case 't':
			o.secs = atof(optarg);
			break;
		case 'p':
			o.prog = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.n < 1 || o.batch < 1 || o.conns < 1 ||
	    o.depth < 1 || strlen(o.queue) > 64 || strlen(o.prog) > 512 ||
	    strpbrk(o.queue, "\"\\") || strpbrk(o.prog, "\"\\"))
		usage();
	if (o.batch > MAX_BATCH)
		o.batch = MAX_BATCH;
	snprintf(job_json, sizeof(job_json),
		 "{\"argv\":[\"%s\"],\"queue\":\"%s\"}", o.prog, o.queue);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			return modes[i].fn();
	usage();
}
