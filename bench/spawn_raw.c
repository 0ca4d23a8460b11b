/*
 * spawn_raw: the process baseline of the end-to-end benchmarks.  A plain
 * spawn-and-reap loop with what jobd does for each attempt and nothing
 * else: posix_spawn (glibc's is clone(CLONE_VM|CLONE_VFORK), as jobd's
 * spawn) in a new session, stdin from /dev/null, stdout and stderr into a
 * pipe read by the parent until EOF, then waitpid.  It keeps P children in
 * flight, as a queue with concurrency P does.
 *
 * Usage:
 *   spawn_raw rate N P PROGRAM      N spawns of PROGRAM, P at a time;
 *                                   prints rate= (spawns/s)
 *   spawn_raw latency N PROGRAM     N spawns one at a time of a PROGRAM
 *                                   that prints CLOCK_REALTIME ns; prints
 *                                   p50_ms= and p99_ms= of spawn call to
 *                                   that time
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct child {
	pid_t pid;
	int fd;	      /* read end of its output pipe, -1 if free */
	char out[64]; /* the start of its output */
	size_t len;
};

static int null_fd;

static double
mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long
real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what, int e)
{
	fprintf(stderr, "spawn_raw: %s: %s\n", what, strerror(e));
	exit(1);
}

static void
start(struct child *c, const char *prog)
{
	char *argv[] = {(char *)(uintptr_t)prog, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int p[2], e;

	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe", errno);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, null_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
	e = posix_spawn(&c->pid, prog, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (e != 0)
		die(prog, e);
	c->fd = p[0];
	c->len = 0;
}

/* Reads what c's pipe holds; at EOF reaps c and returns 1. */
static int
drain(struct child *c)
{
	char buf[4096];
	ssize_t r = read(c->fd, buf, sizeof(buf));
	int st;

	if (r < 0 && errno == EINTR)
		return 0;
	if (r > 0) {
		size_t k = (size_t)r;
		if (k > sizeof(c->out) - 1 - c->len)
			k = sizeof(c->out) - 1 - c->len;
		memcpy(c->out + c->len, buf, k);
		c->len += k;
		c->out[c->len] = '\0';
		return 0;
	}
	close(c->fd);
	c->fd = -1;
	while (waitpid(c->pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid", errno);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "spawn_raw: child failed (status %d)\n", st);
		exit(1);
	}
	return 1;
}

static int
rate(long n, int par, const char *prog)
{
	struct child *c = calloc((size_t)par, sizeof(*c));
	struct pollfd *pf = calloc((size_t)par, sizeof(*pf));
	long started = 0, done = 0;
	double t0;

	if (c == NULL || pf == NULL)
		die("calloc", ENOMEM);
	t0 = mono();
	for (int i = 0; i < par; i++) {
		c[i].fd = -1;
		if (started < n) {
			start(&c[i], prog);
			started++;
		}
	}
	while (done < n) {
		for (int i = 0; i < par; i++) {
			pf[i].fd = c[i].fd;
			pf[i].events = POLLIN;
		}
		if (poll(pf, (nfds_t)par, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", errno);
		}
		for (int i = 0; i < par; i++) {
			if (c[i].fd < 0 || pf[i].revents == 0)
				continue;
			if (!drain(&c[i]))
				continue;
			done++;
			if (started < n) {
				start(&c[i], prog);
				started++;
			}
		}
	}
	printf("rate=%.1f\nn=%ld\nsecs=%.3f\n", (double)n / (mono() - t0), n,
	       mono() - t0);
	free(c);
	free(pf);
	return 0;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static int
latency(long n, const char *prog)
{
	long long *lat = calloc((size_t)n, sizeof(*lat));
	struct child c;

	if (lat == NULL)
		die("calloc", ENOMEM);
	for (long i = 0; i < n; i++) {
		long long t0 = real_ns();
		start(&c, prog);
		while (!drain(&c))
			;
		lat[i] = strtoll(c.out, NULL, 10) - t0;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_ll);
	printf("p50_ms=%.3f\np99_ms=%.3f\n", (double)lat[n / 2] / 1e6,
	       (double)lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		die("/dev/null", errno);
	if (argc == 5 && strcmp(argv[1], "rate") == 0 && atol(argv[2]) > 0 &&
	    atoi(argv[3]) > 0)
		return rate(atol(argv[2]), atoi(argv[3]), argv[4]);
	if (argc == 4 && strcmp(argv[1], "latency") == 0 && atol(argv[2]) > 0)
		return latency(atol(argv[2]), argv[3]);
	fprintf(stderr, "usage: spawn_raw rate N P PROGRAM\n"
			"       spawn_raw latency N PROGRAM\n");
	return 2;
}
