/*
 * fuzz_request: the request path of jobd.  Each input is a burst of
 * request lines, as one read of a connection delivers them, handed to
 * commands_handle() for a real struct conn (its fd is /dev/null: replies
 * stay in its output buffer) by a coroutine on a real loop, over a fresh
 * in-memory store with the queues initialised as the daemon does.
 *
 * The connection is root's (admin), unless the input starts with the line
 * "#nobody": then it is an unprivileged user's (uid 65534, not admin).
 *
 * Nothing runs: no consumer is started, and runner_spawn is linked to a
 * stand-in (-Wl,--wrap) that refuses, so a command producer's generator
 * never starts.  After the burst the loop turns once (commits, events,
 * the first step of deferred replies and producers), then the connection
 * closes as control.c closes it, and every coroutine must be gone before
 * the next input: a deferred reply that outlives its connection, or a
 * reply that is not one JSON object per line, or a request answered twice
 * is a crash.  With FUZZ_SHOW set in the environment, the replies are
 * printed (to look at what a reproducer does).
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "await.h"
#include "commands.h"
#include "config.h"
#include "consumer.h"
#include "control.h"
#include "coro.h"
#include "diag.h"
#include "events.h"
#include "fuzz.h"
#include "log.h"
#include "loop.h"
#include "producer.h"
#include "queue.h"
#include "runner.h"
#include "store.h"
#include "xmem.h"

/* Most request lines handled per input. */
#define MAX_LINES 64
/* Loop passes allowed for everything to unwind after the close. */
#define MAX_PASSES 100

int __wrap_runner_spawn(struct runner_spawn *sp);
const char *__asan_default_options(void);

static struct config cfg;
static char log_dir[PATH_MAX];
static int devnull = -1;

/* The stand-in for runner_spawn: no process is ever started. */
int
__wrap_runner_spawn(struct runner_spawn *sp)
{
	snprintf(sp->error, sizeof(sp->error), "not started while fuzzing");
	sp->pid = -1;
	sp->pidfd = -1;
	return -1;
}

/* Each input allocates and frees a whole store: a smaller quarantine
 * (still many inputs deep) keeps the target from touching fresh pages on
 * every allocation, which made it twice as slow. */
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=32";
}

static int
fake_reload(void)
{
	return 0;
}

static void
fake_shutdown(bool now)
{
	(void)now;
	commands_set_shutting_down();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(log_dir, sizeof(log_dir), "%s/jobd-fuzz-request-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(log_dir) != NULL);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	FUZZ_CHECK(devnull >= 0);
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_LEVEL_ERROR);
	config_init(&cfg);
	loop_init();
	loop_add_flush(store_flush, NULL, "store.commit");
	events_init();
	struct consumer_opts co = {.log_dir = log_dir,
				   .max_log_bytes = cfg.max_log_bytes,
				   .kill_grace = cfg.kill_grace,
				   .max_result_bytes = cfg.max_result_bytes};
	consumer_init(&co);
	/* Queues get no consumers: nothing is ever claimed or run. */
	consumer_stop_all();
	return 0;
}

struct burst {
	const char *data;
	size_t size;
	struct conn *c;
	int requests; /* lines handed to commands_handle */
	int waits;    /* of them, `wait` commands (may answer later) */
};

/* True when line[0..len) is a JSON object whose cmd is "wait". */
static bool
is_wait(const char *line, size_t len)
{
	json_t *m = json_loadb(line, len, 0, NULL);
	const char *cmd = json_string_value(json_object_get(m, "cmd"));
	bool yes = cmd && strcmp(cmd, "wait") == 0;
	json_decref(m);
	return yes;
}

/* Checks c's output: whole lines, each a JSON object; returns how many
 * are replies (carry "ok"). */
static int
check_output(const struct conn *c)
{
	int replies = 0;
	size_t off = 0;
	while (off < c->out.len) {
		const char *start = c->out.data + off;
		const char *nl = memchr(start, '\n', c->out.len - off);
		FUZZ_CHECK(nl != NULL);
		json_error_t err;
		json_t *m = json_loadb(start, (size_t)(nl - start), 0, &err);
		if (!json_is_object(m)) {
			fprintf(stderr,
				"output line is not a JSON object: "
				"%s\n%.*s\n",
				err.text, (int)(nl - start), start);
			abort();
		}
		if (json_object_get(m, "ok") != NULL) {
			FUZZ_CHECK(json_is_boolean(json_object_get(m, "ok")));
			replies++;
		}
		json_decref(m);
		off = (size_t)(nl - c->out.data) + 1;
	}
	return replies;
}

static void
burst_f(void *arg)
{
	struct burst *b = arg;
	struct conn *c = b->c;
	size_t off = 0;
	while (off < b->size && b->requests < MAX_LINES) {
		const char *start = b->data + off;
		const char *nl = memchr(start, '\n', b->size - off);
		size_t len = nl ? (size_t)(nl - start) : b->size - off;
		off += len + 1;
		/* Blank lines are skipped, as control.c does. */
		size_t blank = 0;
		while (blank < len && strchr(" \t\r", start[blank]) &&
		       start[blank] != '\0')
			blank++;
		if (blank == len)
			continue;
		/* An exact copy, so a read past the line is caught. */
		char *line = xmalloc(len);
		memcpy(line, start, len);
		commands_handle(c, line, len);
		b->requests++;
		if (is_wait(line, len))
			b->waits++;
		free(line);
	}
	/* Commit as the connection does before it writes, and let the
	 * loop turn: deferred replies, producers and events take a step. */
	FUZZ_CHECK(store_sync() == 0);
	await_sleep(0);
	if (getenv("FUZZ_SHOW") != NULL)
		fprintf(stderr, "%.*s", (int)c->out.len, buf_str(&c->out));
	int replies = check_output(c);
	FUZZ_CHECK(replies <= b->requests);
	FUZZ_CHECK(replies >= b->requests - b->waits);

	/* The peer goes: what control.c's connection coroutine does. */
	c->closed = true;
	if (c->watching) {
		events_unsubscribe(&c->sub);
		c->watching = false;
	}
	commands_conn_closed(c);
	control_conn_unref(c);
	for (int i = 0; i < MAX_PASSES && c->refs > 1; i++)
		await_sleep(0);
	if (c->refs > 1) {
		fprintf(stderr,
			"%d deferred replies outlive their "
			"connection\n",
			c->refs - 1);
		abort();
	}
	loop_stop();
}

/* Lets cancelled coroutines leave. */
static void
drain_f(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		await_sleep(0);
	loop_stop();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (store_open(":memory:", false) != 0 || queue_init(&cfg) != 0) {
		fprintf(stderr, "setup: %s\n", diag_msg());
		abort();
	}
	struct commands_ctx cx = {&cfg,	      log_dir,	   ":memory:",
				  loop_now(), fake_reload, fake_shutdown};
	commands_init(&cx);

	struct conn *c = xcalloc(1, sizeof(*c));
	c->fd = devnull;
	c->num = 1;
	c->uid = geteuid();
	c->gid = getegid();
	c->pid = getpid();
	c->admin = true;
	if (size >= 8 && memcmp(data, "#nobody\n", 8) == 0) {
		c->uid = 65534;
		c->gid = 65534;
		c->admin = false;
		data += 8;
		size -= 8;
	}
	/* One reference for the connection, one kept here to see that
	 * every deferred reply let go of it. */
	c->refs = 2;

	struct burst b = {(const char *)data, size, c, 0, 0};
	coro_detach(coro_spawn("conn[1]", burst_f, &b));
	loop_run();
	control_conn_unref(c);

	/* Producers the burst created stop before the next input. */
	producer_shutdown();
	coro_detach(coro_spawn("drain", drain_f, NULL));
	loop_run();

	/* Nothing was claimed or started. */
	FUZZ_CHECK(consumer_count() == 0 && runner_count() == 0);
	store_close();
	queue_shutdown();
	events_shutdown();
	return 0;
}
