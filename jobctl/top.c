/*
 * top: a live full-screen view of the daemon, its queues and its running
 * jobs, redrawn every second (or on a space, or a resize) until q or a
 * signal.  Not on a terminal it prints one plain frame.  It owns the
 * terminal while it runs and always gives it back (top_restore).
 */
#include "jobctl.h"

#include "jobd/client.h"
#include "jobd/time.h"
#include "render.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Running jobs `top` asks for. */
#define TOP_MAX_RUNNING 500

static const char u_top[] = "top\n"
			    "\n"
			    "A live full-screen view of queues and running "
			    "jobs (with their\n"
			    "progress); q quits.";

static volatile sig_atomic_t top_quit;	  /* SIGINT, SIGTERM, SIGHUP */
static volatile sig_atomic_t top_resized; /* SIGWINCH */
static struct termios top_saved;	  /* the terminal before top */
static bool top_tio;			  /* top_saved is to be restored */
static bool top_screen;			  /* the alternate screen is on */

static void
top_signal(int sig)
{
	if (sig == SIGWINCH)
		top_resized = 1;
	else
		top_quit = 1;
}

/* Gives the terminal back: cursor, main screen, line mode.  Safe to call
 * more than once (main's atexit handler calls it too). */
void
top_restore(void)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (top_screen) {
		top_screen = false;
		fflush(stdout);
		if (write(STDOUT_FILENO, leave, sizeof(leave) - 1) < 0) {
			/* Nothing more can be done for a broken terminal. */
		}
	}
	if (top_tio) {
		top_tio = false;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved);
	}
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
term_rows(int fd)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0)
		return 24;
	return ws.ws_row;
}

/* One screenful being built. */
struct frame {
	FILE *f;  /* memstream */
	int rows; /* lines available; 0 = no limit */
	int cols; /* columns; 0 = no limit */
	int used; /* lines written */
	bool tty; /* clear to end of line after each */
};

static void frame_line(struct frame *fr, const char *f, ...)
	__attribute__((format(printf, 2, 3)));

static void
frame_line(struct frame *fr, const char *f, ...)
{
	char line[1024];
	size_t n;
	va_list ap;

	if (fr->rows > 0 && fr->used >= fr->rows - 1)
		return;
	va_start(ap, f);
	vsnprintf(line, sizeof(line), f, ap);
	va_end(ap);
	n = fr->cols > 0 ? render_prefix(line, (size_t)fr->cols) : strlen(line);
	fwrite(line, 1, n, fr->f);
	fputs(fr->tty ? "\033[K\n" : "\n", fr->f);
	fr->used++;
}

/* "[####------]" for frac of width cells. */
static void
bar(char *buf, int width, double frac)
{
	int fill;

	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * width + 0.5);
	buf[0] = '[';
	for (int i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : '-';
	buf[width + 1] = ']';
	buf[width + 2] = '\0';
}

/* What `top` remembers between frames, for rates. */
struct top_state {
	json_t *totals; /* owned: the previous stats totals */
	json_t *done;	/* owned: queue name -> finished jobs then */
	int64_t ms;	/* monotonic ms of the previous frame */
};

/* A call for top: on failure gives the terminal back before reporting.
 * Exits 3 on a transport failure. */
static json_t *
top_call(const char *cmd, json_t *args)
{
	struct jobd_client *c = client();
	json_t *res = jobd_client_cmd(c, cmd, args);

	if (res == NULL) {
		top_restore();
		report(c);
	}
	return res;
}

static int64_t
finished_of(const json_t *counts)
{
	return jint(counts, "succeeded", 0) + jint(counts, "failed", 0) +
	       jint(counts, "cancelled", 0);
}

/* The daemon's lines: who it is, its jobs by state, its throughput since
 * the last frame (dt seconds ago; 0: the first frame). */
static void
top_daemon(const struct top_state *ts, struct frame *fr, json_t *st, double dt)
{
	json_t *jobs = json_object_get(st, "jobs");
	json_t *totals = json_object_get(st, "totals");
	char up[32], rss[32], dbs[32];

	render_duration(jnum(st, "uptime", 0), up, sizeof(up));
	render_size(jnum(st, "rss_bytes", 0), rss, sizeof(rss));
	render_size(jnum(json_object_get(st, "db"), "size_bytes", 0), dbs,
		    sizeof(dbs));
	frame_line(fr,
		   "jobd %s  pid %lld  up %s  connections %lld  rss %s  "
		   "db %s%s",
		   jstr(st, "version") ? jstr(st, "version") : "?",
		   (long long)jint(st, "pid", 0), up,
		   (long long)jint(st, "connections", 0), rss, dbs,
		   fr->tty ? "   (q quits)" : "");
	frame_line(fr,
		   "jobs: waiting %lld  scheduled %lld  queued %lld  "
		   "running %lld  succeeded %lld  failed %lld  "
		   "cancelled %lld",
		   (long long)jint(jobs, "waiting", 0),
		   (long long)jint(jobs, "scheduled", 0),
		   (long long)jint(jobs, "queued", 0),
		   (long long)jint(jobs, "running", 0),
		   (long long)jint(jobs, "succeeded", 0),
		   (long long)jint(jobs, "failed", 0),
		   (long long)jint(jobs, "cancelled", 0));
	if (ts->totals != NULL && dt > 0) {
		double started = (double)(jint(totals, "started", 0) -
					  jint(ts->totals, "started", 0));
		double fin =
			(double)(finished_of(totals) - finished_of(ts->totals));

		frame_line(fr,
			   "throughput: %.1f started/s  %.1f finished/s  "
			   "loop lag max %.1f ms  slow callbacks %lld",
			   started / dt, fin / dt,
			   jnum(json_object_get(st, "loop"), "lag_max_ms", 0),
			   (long long)jint(json_object_get(st, "loop"),
					   "slow_callbacks", 0));
	} else {
		frame_line(fr, "throughput: -");
	}
	frame_line(fr, "%s", "");
}

/* One queue's line; remembers its finished jobs in done for the next
 * frame's rate.  maxpend scales the pending bar of a queue with no
 * capacity. */
static void
top_queue(const struct top_state *ts, struct frame *fr, json_t *q, json_t *done,
	  int64_t maxpend, double dt)
{
	json_t *counts = json_object_get(q, "counts");
	const char *qn = jstr(q, "name") ? jstr(q, "name") : "-";
	int64_t run = jint(counts, "running", 0);
	int64_t conc = jint(q, "concurrency", 0);
	int64_t pend = pending_of(counts);
	int64_t cap = jint(q, "capacity", 0);
	int64_t fin = finished_of(counts);
	json_t *prev = json_object_get(ts->done, qn);
	char rate[64] = "-", *rt, *sqn;
	char runs[32], rb[32], pb[32];

	if (prev != NULL && dt > 0 && fin >= json_integer_value(prev))
		snprintf(rate, sizeof(rate), "%.1f",
			 (double)(fin - json_integer_value(prev)) / dt);
	json_object_set_new(done, qn, json_integer(fin));
	bar(rb, 10, conc > 0 ? (double)run / (double)conc : 0);
	bar(pb, 10, (double)pend / (double)(cap > 0 ? cap : maxpend));
	snprintf(runs, sizeof(runs), "%lld/%lld", (long long)run,
		 (long long)conc);
	rt = render_rate(json_object_get(q, "rate"));
	sqn = render_text(qn);
	frame_line(fr, "%-16s %s %-9s %s %8lld %8s  %s%s", sqn, rb, runs, pb,
		   (long long)pend, rate, rt,
		   json_is_true(json_object_get(q, "paused")) ? "  paused"
							      : "");
	free(sqn);
	free(rt);
}

/* The queues' table; ts->done becomes the queues' finished jobs now. */
static void
top_queues(struct top_state *ts, struct frame *fr, json_t *queues, double dt)
{
	int64_t maxpend = 1;
	json_t *q, *done;
	size_t i;

	json_array_foreach (queues, i, q) {
		int64_t p = pending_of(json_object_get(q, "counts"));

		if (p > maxpend)
			maxpend = p;
	}
	frame_line(fr, "%-16s %-12s %-9s %-12s %8s %8s  %s", "QUEUE", "RUNNING",
		   "", "PENDING", "", "DONE/S", "RATE");
	done = json_object();
	json_array_foreach (queues, i, q) {
		top_queue(ts, fr, q, done, maxpend, dt);
	}
	json_decref(ts->done);
	ts->done = done;
	frame_line(fr, "%s", "");
}

/* The running jobs' table; wall is the time now (ms since the epoch). */
static void
top_running(struct frame *fr, json_t *jobs, int64_t wall)
{
	json_t *job;
	size_t i;

	frame_line(fr, "running jobs: %zu", json_array_size(jobs));
	frame_line(fr, "%10s  %-16s %-11s %-8s %8s  %s", "ID", "QUEUE",
		   "ELAPSED", "ATTEMPT", "PROGRESS", "NAME/COMMAND");
	json_array_foreach (jobs, i, job) {
		const char *sa = jstr(job, "started_at");
		int64_t t0;
		char el[32], att[32], *label = render_job_label(job);
		char *queue = render_value(json_object_get(job, "queue"));
		char *pct = render_percent(json_object_get(job, "progress"));

		if (sa != NULL && jobd_time_parse(sa, &t0) == 0)
			render_duration((double)(wall - t0) / 1000.0, el,
					sizeof(el));
		else
			snprintf(el, sizeof(el), "-");
		snprintf(att, sizeof(att), "%lld/%lld",
			 (long long)jint(job, "attempt", 0),
			 (long long)jint(job, "max_attempts", 0));
		frame_line(fr, "%10lld  %-16s %-11s %-8s %8s  %s",
			   (long long)jint(job, "id", 0), queue, el, att, pct,
			   label);
		free(pct);
		free(queue);
		free(label);
	}
}

/* Fetches stats, queues and running jobs, and writes one frame. */
static int
top_frame(struct top_state *ts, struct frame *fr)
{
	json_t *st, *ql = NULL, *rl = NULL;
	int64_t now = mono_ms(), wall = jobd_time_now_ms();
	double dt = ts->ms > 0 ? (double)(now - ts->ms) / 1000.0 : 0;
	int rc = ST_ERROR;

	st = top_call("stats", NULL);
	if (st == NULL)
		return ST_ERROR;
	ql = top_call("queue.list", NULL);
	if (ql == NULL)
		goto out;
	rl = top_call("list", json_pack("{sssi}", "state", "running", "limit",
					TOP_MAX_RUNNING));
	if (rl == NULL)
		goto out;
	top_daemon(ts, fr, st, dt);
	top_queues(ts, fr, json_object_get(ql, "queues"), dt);
	top_running(fr, json_object_get(rl, "jobs"), wall);
	json_decref(ts->totals);
	ts->totals = json_incref(json_object_get(st, "totals"));
	ts->ms = now;
	rc = ST_OK;
out:
	json_decref(rl);
	json_decref(ql);
	json_decref(st);
	return rc;
}

/* Builds and shows one frame.  Returns an exit status. */
static int
top_draw(struct top_state *ts, bool tty)
{
	struct frame fr = {0};
	char *buf = NULL;
	size_t len = 0;
	int rc;

	fr.f = open_memstream(&buf, &len);
	if (fr.f == NULL)
		oom();
	fr.tty = tty;
	if (tty) {
		fr.rows = term_rows(STDOUT_FILENO);
		fr.cols = term_cols(STDOUT_FILENO);
		fputs("\033[H", fr.f);
	}
	rc = top_frame(ts, &fr);
	if (tty)
		fputs("\033[J", fr.f);
	if (fclose(fr.f) != 0)
		oom();
	if (rc == ST_OK) {
		fwrite(buf, 1, len, stdout);
		fflush(stdout);
	}
	free(buf);
	return rc;
}

int
cmd_top(int argc, char **argv)
{
	static const char enter[] = "\033[?1049h\033[?25l";
	struct top_state ts = {0};
	struct sigaction sa;
	int st = no_args("top", u_top, argc, argv);

	if (st != ST_OK)
		return st;
	if (jobctl.json) {
		fprintf(stderr, "jobctl top: no --json: for machines, use "
				"'jobctl --json stats' and 'jobctl --json "
				"queue list'\n");
		return ST_USAGE;
	}
	client();
	if (!isatty(STDOUT_FILENO)) {
		/* Not a terminal: one plain frame, for scripts and logs. */
		st = top_draw(&ts, false);
		goto out;
	}
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top_saved) == 0) {
		struct termios raw = top_saved;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			top_tio = true;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	fputs(enter, stdout);
	top_screen = true;
	while (!top_quit) {
		int64_t next;

		st = top_draw(&ts, true);
		if (st != ST_OK)
			break;
		next = mono_ms() + 1000;
		while (!top_quit) {
			struct pollfd pfd = {.fd = STDIN_FILENO,
					     .events = POLLIN};
			int64_t left = next - mono_ms();
			char keys[64];
			ssize_t n;

			if (left <= 0 || top_resized)
				break;
			if (poll(&pfd, top_tio ? 1 : 0, (int)left) <= 0)
				continue;
			n = read(STDIN_FILENO, keys, sizeof(keys));
			if (n <= 0) {
				/* stdin closed: keep refreshing, without
				 * keys. */
				top_tio = false;
				continue;
			}
			if (memchr(keys, 'q', (size_t)n) != NULL ||
			    memchr(keys, 'Q', (size_t)n) != NULL)
				top_quit = 1;
			else if (memchr(keys, ' ', (size_t)n) != NULL)
				break;
		}
		top_resized = 0;
	}
out:
	top_restore();
	json_decref(ts.totals);
	json_decref(ts.done);
	return st;
}
