/*
 * chaos's audit: the record of runs read from WORKDIR/runs as it grows
 * (starts, ends, overlapping runs, starts after a committed end), the
 * daemon's jobs sampled during the run (snapshot), and the final audit of
 * the clients' records, the runs and the daemon's jobs into a verdict.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* A start this many clock ticks after the end of the list that saw its
 * job terminal is a start after a committed end (the process's start time
 * in /proc is in ticks, 10 ms each on Linux). */
#define TICK_MARGIN 3

/* Clock ticks since boot: the clock of a process's start time in
 * /proc/PID/stat. */
static long long
boot_ticks(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * hz +
	       (long long)ts.tv_nsec * hz / 1000000000;
}

/* ---- the audit's record of runs ------------------------------------------ */

struct jrec {
	long long term_ticks; /* end of a list that saw it terminal, or 0 */
	int retry_open;	      /* retry requests sent, not answered */
	long long last_r;     /* offset of the last retry answer, or -1 */
	int starts, ends, overlaps, after_end;
	bool cancel_tried, stored;
};

struct audit au;

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

	if (sscanf(l, "%c %lld", &kind, &id) != 2 ||
	    (j = jrec_of(id)) == NULL) {
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
		while ((nl = memchr(p, '\n',
				    au.partlen - (size_t)(p - au.part)))) {
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
json_t *
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
void
snapshot(struct jobd_client *c, bool full)
{
	json_t *states =
		json_pack("[s,s,s]", "succeeded", "failed", "cancelled");
	long long o1, ticks;
	json_t *jobs, *j;
	size_t i;

	runs_read();
	o1 = au.off;
	jobs = list_all(
		c, states,
		full || au.max_id < SNAP_WINDOW ? 0 : au.max_id - SNAP_WINDOW);
	json_decref(states);
	if (jobs == NULL)
		return;
	ticks = boot_ticks();
	runs_read();
	json_array_foreach (jobs, i, j) {
		struct jrec *r =
			jrec_of(json_integer_value(json_object_get(j, "id")));
		if (r && r->term_ticks == 0 && r->retry_open == 0 &&
		    r->last_r < o1)
			r->term_ticks = ticks;
	}
	json_decref(jobs);
	au.snapshots++;
}

/* ---- the final audit ----------------------------------------------------- */

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
struct tag *tags[MAX_CLIENTS];
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
				tags[n] = bench_xrealloc(
					tags[n], (size_t)m * sizeof(*tags[n]));
				memset(tags[n] + ntags[n], 0,
				       (size_t)(m - ntags[n]) *
					       sizeof(*tags[n]));
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

void
audit(json_t *all, struct verdict *v)
{
	json_t *j;
	size_t i;

	read_records(v);
	runs_read();
	json_array_foreach (all, i, j) {
		long long id = json_integer_value(json_object_get(j, "id"));
		const char *name =
			json_string_value(json_object_get(j, "name"));
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
		v->recovered +=
			json_integer_value(json_object_get(j, "recoveries"));
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
				first_problem(v,
					      "%s acknowledged as %lld, "
					      "stored as %lld",
					      name, t->id, id);
			}
			if (t->state == 'N') {
				v->phantom++;
				first_problem(v,
					      "%s refused but stored as "
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
			first_problem(v, "job %lld (%s) still %s", id, name,
				      st);
		} else if (!explained(kc, j, r)) {
			const char *why =
				json_string_value(json_object_get(j, "reason"));
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
		const char *why =
			json_string_value(json_object_get(j, "reason"));
		if (strcmp(st, "failed") == 0 && why != NULL &&
		    strcmp(why, "recovery_limit") == 0)
			v->limited++;
	}
	for (int n = 0; n < o.clients; n++)
		for (long seq = 1; seq < ntags[n]; seq++) {
			struct tag *t = &tags[n][seq];
			if (t->state == 'A' && (jrec_of(t->id) == NULL ||
						!jrec_of(t->id)->stored)) {
				v->lost++;
				first_problem(v,
					      "acknowledged job %lld "
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
