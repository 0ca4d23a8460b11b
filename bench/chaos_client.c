/*
 * chaos's clients: the mix of jobs they submit (job_spec: one kind a job,
 * named by its first letter) and the client processes themselves, which
 * submit, cancel, retry, wait and ping through the client library until
 * stopped, and record in WORKDIR/client-N.rec every submit and what became
 * of it, and every id they tried to cancel (the audit's first record).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jobd/client.h"
#include "chaos.h"
#include "common.h"

static const char kind_letter[K_COUNT] = {'p', 's', 'f', 'x', 't', 'g'};

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
json_t *
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
			 "if [ $JOBD_ATTEMPT -lt 2 ]; then echo \"E "
			 "$JOBD_JOB_ID "
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
	return r < 38	? K_PLAIN
	       : r < 58 ? K_SLEEP
	       : r < 75 ? K_FLAKY
	       : r < 87 ? K_FAIL
	       : r < 94 ? K_TIMEOUT
			: K_STUBBORN;
}

/* ---- clients ------------------------------------------------------------- */

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
				bench_die("client %d: submit answered without "
					  "ids",
					  cl->n);
			fprintf(cl->rec, "A %s %lld\n", names[i],
				(long long)id);
			if (cl->nids == cl->cap) {
				cl->cap = cl->cap * 2 + 256;
				cl->ids = bench_xrealloc(
					cl->ids, cl->cap * sizeof(*cl->ids));
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
void
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
