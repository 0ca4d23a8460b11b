/*
 * Tests of config: every key and its units, producers as JSON, errors with
 * file and line, comments, long lines, merging, printing, and the default
 * paths per uid with their environment variables.  Each test writes its
 * files into its own mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "log.h"

Suite *config_suite(void);

static char tmpdir[PATH_MAX];
static char conf_path[PATH_MAX + 32];

static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/jobd-config-XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(conf_path, sizeof(conf_path), "%s/jobd.conf", tmpdir);
}

static void
tmp_teardown(void)
{
	char p[PATH_MAX + 32];

	unlink(conf_path);
	snprintf(p, sizeof(p), "%s/printed.conf", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Writes text as the config file and loads it into a fresh c. */
static int
load(struct config *c, const char *text)
{
	write_file(conf_path, text);
	config_init(c);
	diag_clear();
	return config_load(c, conf_path);
}

/* Asserts that text fails at line with a message containing reason. */
static void
expect_error(const char *text, int line, const char *reason)
{
	struct config c;
	char want[PATH_MAX + 64];

	ck_assert_msg(load(&c, text) == -1, "accepted:\n%s", text);
	ck_assert_int_eq(diag_code(), E_INVAL);
	snprintf(want, sizeof(want), "%s:%d: ", conf_path, line);
	ck_assert_msg(strncmp(diag_msg(), want, strlen(want)) == 0,
		      "message \"%s\", want line %d", diag_msg(), line);
	ck_assert_msg(strstr(diag_msg(), reason) != NULL,
		      "message \"%s\" lacks \"%s\"", diag_msg(), reason);
	config_destroy(&c);
}

static const struct queue_conf *
find_queue(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nqueues; i++) {
		if (strcmp(c->queues[i].name, name) == 0)
			return &c->queues[i];
	}
	return NULL;
}

static const json_t *
find_producer(const struct config *c, const char *name)
{
	size_t i;
	const json_t *p;

	for (i = 0; i < json_array_size(c->producers); i++) {
		p = json_array_get(c->producers, i);
		if (strcmp(json_string_value(json_object_get(p, "name")),
			   name) == 0)
			return p;
	}
	return NULL;
}

START_TEST(config_defaults)
{
	struct config c;
	struct queue_conf q;

	config_init(&c);
	ck_assert_ptr_null(c.path);
	ck_assert_ptr_null(c.socket);
	ck_assert_ptr_null(c.state_dir);
	ck_assert_uint_eq(c.set, 0);
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_str_eq(c.socket_group, "jobd");
	ck_assert(c.admin_group == NULL || c.admin_group[0] == '\0');
	ck_assert(c.synchronous_full);
	ck_assert_double_eq(c.shutdown_timeout, 30);
	ck_assert_double_eq(c.kill_grace, 5);
	ck_assert_int_eq(c.max_log_bytes, 16 << 20);
	ck_assert_int_eq(c.max_request_bytes, 4 << 20);
	ck_assert_int_eq(c.max_connections, 256);
	ck_assert_double_eq(c.request_timeout, 30);
	ck_assert_double_eq(c.retention, 7 * 86400);
	ck_assert(!c.debug);
	ck_assert_double_eq(c.slow_callback_ms, 100);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(c.store, CONFIG_STORE_SQLITE);
	ck_assert_ptr_null(c.database);
	ck_assert_ptr_null(c.node_name);
	ck_assert_double_eq(c.lease, 60);
	ck_assert_double_eq(c.rescue_grace, 5);
	ck_assert_uint_eq(c.nqueues, 0);
	ck_assert(json_is_array(c.producers));
	ck_assert_int_eq(json_array_size(c.producers), 0);
	config_destroy(&c);
	config_destroy(&c);

	queue_conf_init(&q, "jobs");
	ck_assert_str_eq(q.name, "jobs");
	ck_assert_uint_eq(q.set, 0);
	ck_assert_int_eq(q.concurrency, 4);
	ck_assert_double_eq(q.rate_limit, 0);
	ck_assert_double_eq(q.rate_burst, 0);
	ck_assert_int_eq(q.capacity, 0);
	ck_assert_double_eq(q.timeout, 0);
	ck_assert(q.kill_grace < 0);
	ck_assert_int_eq(q.max_attempts, 1);
	ck_assert_double_eq(q.backoff.base, 1);
	ck_assert_double_eq(q.backoff.factor, 2);
	ck_assert_double_eq(q.backoff.max, 300);
	ck_assert_double_eq(q.backoff.jitter, 0.1);
}
END_TEST

START_TEST(config_missing_file_is_fine)
{
	struct config c;
	char p[PATH_MAX + 32];

	config_init(&c);
	snprintf(p, sizeof(p), "%s/nope.conf", tmpdir);
	ck_assert_int_eq(config_load(&c, p), 0);
	ck_assert_ptr_null(c.path);
	ck_assert_uint_eq(c.nqueues, 0);
	ck_assert_double_eq(c.shutdown_timeout, 30);
	config_destroy(&c);
}
END_TEST

START_TEST(config_unreadable_is_io_error)
{
	struct config c;

	config_init(&c);
	/* A directory opens but cannot be read. */
	ck_assert_int_eq(config_load(&c, tmpdir), -1);
	ck_assert_int_eq(diag_code(), E_IO);
	config_destroy(&c);
}
END_TEST

static const char spec_example[] =
	"[daemon]\n"
	"socket = /run/jobd/jobd.sock\n"
	"socket_mode = 0660\n"
	"socket_group = jobd\n"
	"admin_group =               ; members may change queues\n"
	"state_dir = /var/lib/jobd\n"
	"synchronous = full          ; full | normal\n"
	"shutdown_timeout = 30\n"
	"kill_grace = 5\n"
	"max_log_bytes = 16M\n"
	"max_request_bytes = 4M\n"
	"max_connections = 256\n"
	"request_timeout = 30\n"
	"retention = 7d              ; terminal jobs older than this\n"
	"debug = false\n"
	"slow_callback_ms = 100\n"
	"log_level = info            ; debug | info | warning | error\n"
	"\n"
	"[queue default]\n"
	"concurrency = 4\n"
	"rate = 10/s                 ; N/s, N/m, N/h, or N/<seconds>s\n"
	"capacity = 0\n"
	"timeout = 0\n"
	"max_attempts = 1\n"
	"backoff = 1 2 300 0.1       ; base factor max jitter\n"
	"\n"
	"[producer nightly]\n"
	"type = cron\n"
	"schedule = 0 3 * * *\n"
	"queue = default\n"
	"shell = /usr/local/bin/backup --full      ; the job\n"
	"overlap = false\n"
	"\n"
	"[producer thumbnails]\n"
	"type = command\n"
	"generator = find /srv/in -name '*.jpg'    ; run with /bin/sh -c\n"
	"format = lines\n"
	"job = {\"argv\": [\"/usr/local/bin/thumb\"], \"timeout\": 60}\n"
	"queue = images\n";

START_TEST(config_spec_example)
{
	struct config c;
	const struct queue_conf *q;
	const json_t *p;
	json_t *want;

	ck_assert_msg(load(&c, spec_example) == 0, "%s", diag_msg());
	ck_assert_str_eq(c.path, conf_path);
	ck_assert_str_eq(c.socket, "/run/jobd/jobd.sock");
	ck_assert_str_eq(c.state_dir, "/var/lib/jobd");
	ck_assert_uint_eq(c.set,
			  DC_SOCKET | DC_STATE_DIR | DC_DEBUG | DC_LOG_LEVEL);
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_str_eq(c.admin_group, "");
	ck_assert(c.synchronous_full);
	ck_assert_int_eq(c.max_log_bytes, 16 << 20);
	ck_assert_double_eq(c.retention, 604800);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c.nqueues, 1);
	q = find_queue(&c, "default");
	ck_assert_ptr_nonnull(q);
	ck_assert_double_eq(q->rate_limit, 10);
	ck_assert_double_eq(q->rate_period, 1);
	ck_assert_uint_eq(q->set, QC_CONCURRENCY | QC_RATE | QC_CAPACITY |
					  QC_TIMEOUT | QC_MAX_ATTEMPTS |
					  QC_BACKOFF);
	ck_assert_int_eq(json_array_size(c.producers), 2);
	p = find_producer(&c, "nightly");
	want = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:b}", "name",
			 "nightly", "type", "cron", "schedule", "0 3 * * *",
			 "queue", "default", "job", "shell",
			 "/usr/local/bin/backup --full", "overlap", 0);
	ck_assert_msg(json_equal(p, want), "nightly: %s",
		      json_dumps(p, JSON_SORT_KEYS));
	json_decref(want);
	p = find_producer(&c, "thumbnails");
	want = json_pack("{s:s, s:s, s:{s:s}, s:s, s:{s:[s], s:i}, s:s}",
			 "name", "thumbnails", "type", "command", "generator",
			 "shell", "find /srv/in -name '*.jpg'", "format",
			 "lines", "job", "argv", "/usr/local/bin/thumb",
			 "timeout", 60, "queue", "images");
	ck_assert_msg(json_equal(p, want), "thumbnails: %s",
		      json_dumps(p, JSON_SORT_KEYS));
	json_decref(want);
	config_destroy(&c);
}
END_TEST

START_TEST(config_daemon_keys)
{
	struct config c;

	ck_assert_msg(load(&c, "[daemon]\n"
			       "socket=/tmp/x.sock\n"
			       "socket_mode = 0600 # owner only\n"
			       "socket_group = staff\n"
			       "admin_group = wheel\n"
			       "state_dir = /srv/jobd\n"
			       "synchronous = normal\n"
			       "shutdown_timeout = 2m\n"
			       "kill_grace = 1.5\n"
			       "max_log_bytes = 1G\n"
			       "max_request_bytes = 64KiB\n"
			       "max_connections = 10\n"
			       "request_timeout = 500ms\n"
			       "retention = 0\n"
			       "debug = yes\n"
			       "slow_callback_ms = 2.5\n"
			       "log_level = debug\n") == 0,
		      "%s", diag_msg());
	ck_assert_str_eq(c.socket, "/tmp/x.sock");
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert_str_eq(c.socket_group, "staff");
	ck_assert_str_eq(c.admin_group, "wheel");
	ck_assert_str_eq(c.state_dir, "/srv/jobd");
	ck_assert(!c.synchronous_full);
	ck_assert_double_eq(c.shutdown_timeout, 120);
	ck_assert_double_eq(c.kill_grace, 1.5);
	ck_assert_int_eq(c.max_log_bytes, 1 << 30);
	ck_assert_int_eq(c.max_request_bytes, 65536);
	ck_assert_int_eq(c.max_connections, 10);
	ck_assert_double_eq(c.request_timeout, 0.5);
	ck_assert_double_eq(c.retention, 0);
	ck_assert(c.debug);
	ck_assert_double_eq(c.slow_callback_ms, 2.5);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
	config_destroy(&c);
}
END_TEST

/* The store's keys and cluster mode's. */
START_TEST(config_store_keys)
{
	struct config c;
	char name[64];

	ck_assert_msg(load(&c, "[daemon]\n"
			       "store = postgres\n"
			       "database = hostaddr=10.0.0.5 host=db1 "
			       "dbname=jobd user=jobd sslmode=verify-full\n"
			       "node_name = build-1\n"
			       "lease = 30s\n"
			       "rescue_grace = 0\n") == 0,
		      "%s", diag_msg());
	ck_assert_int_eq(c.store, CONFIG_STORE_POSTGRES);
	ck_assert_str_eq(c.database, "hostaddr=10.0.0.5 host=db1 dbname=jobd "
				     "user=jobd sslmode=verify-full");
	ck_assert_str_eq(c.node_name, "build-1");
	ck_assert_double_eq(c.lease, 30);
	ck_assert_double_eq(c.rescue_grace, 0);
	config_destroy(&c);

	/* A URI, the shortest lease, a grace above the lease, a name of 63
	 * bytes of every allowed kind. */
	memset(name, 'x', 63);
	name[63] = '\0';
	memcpy(name, "A.z_0-9", 7);
	{
		char text[512];
		snprintf(text, sizeof(text),
			 "[daemon]\nstore = postgres\n"
			 "database = postgresql://jobd@db1:5433/jobd?"
			 "connect_timeout=5\n"
			 "node_name = %s\nlease = 5\nrescue_grace = 2m\n"
			 "kill_grace = 2\n",
			 name);
		ck_assert_msg(load(&c, text) == 0, "%s", diag_msg());
	}
	ck_assert_str_eq(c.database,
			 "postgresql://jobd@db1:5433/jobd?connect_timeout=5");
	ck_assert_str_eq(c.node_name, name);
	ck_assert_double_eq(c.lease, 5);
	ck_assert_double_eq(c.rescue_grace, 120);
	config_destroy(&c);

	/* A fenced node kills its attempts within the last half of its
	 * lease: a kill_grace as long is refused, under postgres only. */
	ck_assert_int_eq(load(&c, "[daemon]\nstore = postgres\n"
				  "database = dbname=j\nlease = 6s\n"
				  "kill_grace = 3s\n"),
			 -1);
	ck_assert_ptr_nonnull(strstr(diag_msg(), "kill_grace (3 s) must be "
						 "under half the lease (6 s)"));
	config_destroy(&c);
	ck_assert_int_eq(load(&c, "[daemon]\nstore = postgres\n"
				  "database = dbname=j\nlease = 6s\n"
				  "kill_grace = 2.9s\n"),
			 0);
	config_destroy(&c);
	ck_assert_int_eq(load(&c, "[daemon]\nlease = 6s\nkill_grace = 3s\n"),
			 0);
	config_destroy(&c);

	/* With sqlite, database is not needed, and one given is kept but
	 * not used; an empty one unsets it. */
	ck_assert_int_eq(load(&c, "[daemon]\nstore = sqlite\n"), 0);
	ck_assert_int_eq(c.store, CONFIG_STORE_SQLITE);
	ck_assert_ptr_null(c.database);
	config_destroy(&c);
	ck_assert_int_eq(load(&c, "[daemon]\ndatabase = dbname=jobd\n"), 0);
	ck_assert_int_eq(c.store, CONFIG_STORE_SQLITE);
	ck_assert_str_eq(c.database, "dbname=jobd");
	config_destroy(&c);
	ck_assert_int_eq(load(&c, "[daemon]\ndatabase = dbname=jobd\n"
				  "database =\n"),
			 0);
	ck_assert_ptr_null(c.database);
	config_destroy(&c);

	/* The database may come after the store key. */
	ck_assert_int_eq(load(&c, "[daemon]\nstore = postgres\n"
				  "[queue a]\n[daemon]\ndatabase = dbname=j\n"),
			 0);
	ck_assert_int_eq(c.store, CONFIG_STORE_POSTGRES);
	config_destroy(&c);
}
END_TEST

/* The node name: the key's value, else the host name, cut to 63 bytes. */
START_TEST(config_node_name_default)
{
	struct config c;
	char host[256], want[64], got[64];

	ck_assert(config_node_name_valid("a"));
	ck_assert(config_node_name_valid("build-1.example_net"));
	ck_assert(!config_node_name_valid(""));
	ck_assert(!config_node_name_valid("a:b"));
	memset(host, 'h', 64);
	host[64] = '\0';
	ck_assert(!config_node_name_valid(host));
	host[63] = '\0';
	ck_assert(config_node_name_valid(host));

	config_init(&c);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	snprintf(want, sizeof(want), "%.63s", host);
	if (config_node_name_valid(want)) {
		ck_assert_msg(config_node_name(&c, got, sizeof(got)) == 0, "%s",
			      diag_msg());
		ck_assert_str_eq(got, want);
	} else {
		ck_assert_int_eq(config_node_name(&c, got, sizeof(got)), -1);
		ck_assert_int_eq(diag_code(), E_INVAL);
		ck_assert_ptr_nonnull(strstr(diag_msg(), "set node_name"));
	}
	c.node_name = strdup("build-2");
	ck_assert_int_eq(config_node_name(&c, got, sizeof(got)), 0);
	ck_assert_str_eq(got, "build-2");
	config_destroy(&c);
}
END_TEST

/* A reload keeps the running store keys, and says whether the file
 * changed them. */
START_TEST(config_reload_keeps_start_keys)
{
	struct config run, nc;

	ck_assert_int_eq(load(&run, "[daemon]\nnode_name = a\nlease = 30\n"
				    "database = dbname=one\n"),
			 0);
	/* The same values: nothing changed. */
	ck_assert_int_eq(load(&nc, "[daemon]\nnode_name = a\nlease = 30s\n"
				   "database = dbname=one\nkill_grace = 2\n"),
			 0);
	ck_assert(!config_keep_start_keys(&nc, &run));
	ck_assert_double_eq(nc.kill_grace, 2);
	config_destroy(&nc);
	/* Each one changed alone is noticed and put back. */
	static const char *const changed[] = {
		"[daemon]\nnode_name = b\nlease = 30\ndatabase = dbname=one\n",
		"[daemon]\nlease = 30\ndatabase = dbname=one\n",
		"[daemon]\nnode_name = a\nlease = 31\ndatabase = dbname=one\n",
		"[daemon]\nnode_name = a\nlease = 30\ndatabase = dbname=two\n",
		"[daemon]\nnode_name = a\nlease = 30\n",
		"[daemon]\nnode_name = a\nlease = 30\ndatabase = dbname=one\n"
		"rescue_grace = 1\n",
		"[daemon]\nnode_name = a\nlease = 30\ndatabase = dbname=one\n"
		"store = postgres\n",
	};
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		ck_assert_msg(load(&nc, changed[i]) == 0, "%s", diag_msg());
		ck_assert_msg(config_keep_start_keys(&nc, &run), "%s",
			      changed[i]);
		ck_assert_int_eq(nc.store, CONFIG_STORE_SQLITE);
		ck_assert_str_eq(nc.node_name, "a");
		ck_assert_str_eq(nc.database, "dbname=one");
		ck_assert_double_eq(nc.lease, 30);
		ck_assert_double_eq(nc.rescue_grace, 5);
		config_destroy(&nc);
	}
	config_destroy(&run);
}
END_TEST

START_TEST(config_bool_words)
{
	static const char *const yes[] = {"true", "yes",  "on",
					  "1",	  "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "Off"};
	char text[128];
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\ndebug = %s\n", yes[i]);
		ck_assert_int_eq(load(&c, text), 0);
		ck_assert_msg(c.debug, "%s", yes[i]);
		config_destroy(&c);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\ndebug = %s\n", no[i]);
		ck_assert_int_eq(load(&c, text), 0);
		ck_assert_msg(!c.debug, "%s", no[i]);
		ck_assert(c.set & DC_DEBUG);
		config_destroy(&c);
	}
}
END_TEST

START_TEST(config_queue_keys)
{
	struct config c;
	const struct queue_conf *q;

	ck_assert_msg(load(&c, "[queue images]\n"
			       "concurrency = 16\n"
			       "rate = 5/2s\n"
			       "burst = 20\n"
			       "capacity = 1000\n"
			       "timeout = 1h\n"
			       "kill_grace = 10s\n"
			       "max_attempts = 5\n"
			       "backoff = 2s 3 5m 0.5\n") == 0,
		      "%s", diag_msg());
	q = find_queue(&c, "images");
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->set, QC_CONCURRENCY | QC_RATE | QC_BURST |
					  QC_CAPACITY | QC_TIMEOUT |
					  QC_KILL_GRACE | QC_MAX_ATTEMPTS |
					  QC_BACKOFF);
	ck_assert_int_eq(q->concurrency, 16);
	ck_assert_double_eq(q->rate_limit, 5);
	ck_assert_double_eq(q->rate_period, 2);
	ck_assert_double_eq(q->rate_burst, 20);
	ck_assert_int_eq(q->capacity, 1000);
	ck_assert_double_eq(q->timeout, 3600);
	ck_assert_double_eq(q->kill_grace, 10);
	ck_assert_int_eq(q->max_attempts, 5);
	ck_assert_double_eq(q->backoff.base, 2);
	ck_assert_double_eq(q->backoff.factor, 3);
	ck_assert_double_eq(q->backoff.max, 300);
	ck_assert_double_eq(q->backoff.jitter, 0.5);
	ck_assert_int_eq(q->global_concurrency, 0);
	config_destroy(&c);
}
END_TEST

/* global_concurrency: 0 (no cap, the default) to 100000; the file's
 * value overwrites the stored one, like the other keys. */
START_TEST(config_queue_global_concurrency)
{
	struct config c;
	const struct queue_conf *q;

	ck_assert_msg(load(&c, "[queue g]\nglobal_concurrency = 3\n"
			       "[queue z]\nglobal_concurrency = 0\n"
			       "[queue m]\nglobal_concurrency = 100000\n") == 0,
		      "%s", diag_msg());
	q = find_queue(&c, "g");
	ck_assert_int_eq(q->global_concurrency, 3);
	ck_assert_uint_eq(q->set, QC_GLOBAL_CONCURRENCY);
	ck_assert_int_eq(find_queue(&c, "z")->global_concurrency, 0);
	ck_assert(find_queue(&c, "z")->set & QC_GLOBAL_CONCURRENCY);
	ck_assert_int_eq(find_queue(&c, "m")->global_concurrency, 100000);
	config_destroy(&c);
	expect_error("[queue q]\nglobal_concurrency = -1\n", 2,
		     "global_concurrency: must be an integer from 0 to 100000");
	expect_error("[queue q]\nglobal_concurrency = 100001\n", 2,
		     "global_concurrency: ");
	expect_error("[queue q]\nglobal_concurrency = two\n", 2,
		     "global_concurrency: ");
}
END_TEST

static const struct {
	const char *rate;
	double limit, period;
} rates[] = {
	{"10/s", 10, 1}, {"5/m", 5, 60},    {"3/h", 3, 3600},
	{"5/2s", 5, 2},	 {"1/10m", 1, 600}, {"0.5/s", 0.5, 1},
	{"none", 0, 1},	 {"0", 0, 1},	    {"7/1.5", 7, 1.5},
};

START_TEST(config_rate_forms)
{
	char text[128];
	struct config c;
	const struct queue_conf *q;

	snprintf(text, sizeof(text), "[queue a]\nrate = %s\n", rates[_i].rate);
	ck_assert_msg(load(&c, text) == 0, "%s: %s", rates[_i].rate,
		      diag_msg());
	q = find_queue(&c, "a");
	ck_assert_double_eq(q->rate_limit, rates[_i].limit);
	ck_assert_double_eq(q->rate_period, rates[_i].period);
	ck_assert(q->set & QC_RATE);
	config_destroy(&c);
}
END_TEST

START_TEST(config_queue_sections_merge)
{
	struct config c;
	const struct queue_conf *q;

	ck_assert_int_eq(load(&c, "[queue a]\nconcurrency = 2\n"
				  "[queue b]\n"
				  "[queue a]\ntimeout = 5\n"),
			 0);
	ck_assert_uint_eq(c.nqueues, 2);
	q = find_queue(&c, "a");
	ck_assert_int_eq(q->concurrency, 2);
	ck_assert_double_eq(q->timeout, 5);
	ck_assert_uint_eq(q->set, QC_CONCURRENCY | QC_TIMEOUT);
	/* A section with no keys still defines the queue. */
	q = find_queue(&c, "b");
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->set, 0);
	config_destroy(&c);
}
END_TEST

START_TEST(config_load_overlays_existing)
{
	struct config c;

	ck_assert_int_eq(load(&c, "[daemon]\nkill_grace = 9\n"), 0);
	write_file(conf_path, "[daemon]\nretention = 1d\n");
	ck_assert_int_eq(config_load(&c, conf_path), 0);
	/* Keys the second file does not set keep their value. */
	ck_assert_double_eq(c.kill_grace, 9);
	ck_assert_double_eq(c.retention, 86400);
	config_destroy(&c);
}
END_TEST

START_TEST(config_comments_and_blanks)
{
	struct config c;

	ck_assert_msg(load(&c, "; leading comment\n"
			       "# another\n"
			       "\n"
			       "  [daemon]   ; section comment\n"
			       "\tsocket_mode = 0640 ; comment\n"
			       "socket_group = grp#notacomment\n"
			       "state_dir = /a/b   # hash comment\n"
			       "admin_group =\n"
			       "log_level = warning\r\n") == 0,
		      "%s", diag_msg());
	ck_assert_uint_eq(c.socket_mode, 0640);
	ck_assert_str_eq(c.socket_group, "grp#notacomment");
	ck_assert_str_eq(c.state_dir, "/a/b");
	ck_assert_str_eq(c.admin_group, "");
	ck_assert_int_eq(c.log_level, LOG_LEVEL_WARNING);
	config_destroy(&c);
}
END_TEST

START_TEST(config_long_lines)
{
	char text[8192], arg[3000];
	struct config c;
	const json_t *p;

	memset(arg, 'a', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "[producer big]\n"
		 "job = {\"argv\": [\"/bin/echo\", \"%s\"]}   ; comment\n"
		 "type = interval\n"
		 "every = 5m\n"
		 "bogus = 1\n",
		 arg);
	/* The long line is read whole, and line numbers stay right. */
	ck_assert_int_eq(load(&c, text), -1);
	ck_assert_msg(strstr(diag_msg(), ":5: ") != NULL, "%s", diag_msg());
	config_destroy(&c);
	text[strlen(text) - strlen("bogus = 1\n")] = '\0';
	ck_assert_msg(load(&c, text) == 0, "%s", diag_msg());
	p = find_producer(&c, "big");
	ck_assert_str_eq(
		json_string_value(json_array_get(
			json_object_get(json_object_get(p, "job"), "argv"), 1)),
		arg);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "every")), 300);
	config_destroy(&c);
}
END_TEST

START_TEST(config_producer_keys)
{
	struct config c;
	const json_t *p;
	json_t *want;

	ck_assert_msg(load(&c, "[producer gen]\n"
			       "type = command\n"
			       "generator = ls /srv\n"
			       "format = json\n"
			       "restart = on-failure\n"
			       "queue = q1\n"
			       "[producer tick]\n"
			       "type = interval\n"
			       "every = 1.5\n"
			       "job = {\"argv\": [\"true\"]}\n"
			       "overlap = on\n") == 0,
		      "%s", diag_msg());
	p = find_producer(&c, "gen");
	want = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s, s:s}", "name", "gen",
			 "type", "command", "generator", "shell", "ls /srv",
			 "format", "json", "restart", "on-failure", "queue",
			 "q1");
	ck_assert(json_equal(p, want));
	json_decref(want);
	p = find_producer(&c, "tick");
	ck_assert_double_eq(json_number_value(json_object_get(p, "every")),
			    1.5);
	ck_assert(json_is_true(json_object_get(p, "overlap")));
	ck_assert_str_eq(
		json_string_value(json_array_get(
			json_object_get(json_object_get(p, "job"), "argv"), 0)),
		"true");
	config_destroy(&c);
}
END_TEST

static const struct {
	const char *text;
	int line;
	const char *reason;
} bad_configs[] = {
	{"[daemon]\nsocket_mode = 0660\nfrobnicate = 1\n", 3, "frobnicate"},
	{"[daemon]\n\n[nonsense]\n", 3, "nonsense"},
	{"[daemon x]\n", 1, "daemon"},
	{"socket = /x\n", 1, "outside a section"},
	{"[queue bad name!]\n", 1, "queue name"},
	{"[queue ]\n", 1, "queue name"},
	{"[producer a/b]\n", 1, "producer name"},
	{"[queue a]\nconcurrency = 2\npaused = true\n", 3,
	 "paused is runtime state"},
	{"[queue a]\nspeed = 2\n", 2, "speed"},
	{"[daemon]\nthis is not a key\n", 2, "syntax"},
	{"[daemon]\nsocket_mode = 0660\n  continued\n", 3, "syntax"},
	{"[daemon\n", 1, "]"},
	{"[daemon]\nsocket = relative.sock\n", 2, "socket: "},
	{"[daemon]\nsocket_mode = 0999\n", 2, "socket_mode: "},
	{"[daemon]\nsocket_mode = 01777\n", 2, "socket_mode: "},
	{"[daemon]\nsocket_mode = rw\n", 2, "socket_mode: "},
	{"[daemon]\nsocket_group =\n", 2, "socket_group: "},
	{"[daemon]\nstate_dir = var/lib\n", 2, "state_dir: "},
	{"[daemon]\nsynchronous = off\n", 2, "synchronous: "},
	{"[daemon]\nshutdown_timeout = soon\n", 2, "shutdown_timeout: "},
	{"[daemon]\nshutdown_timeout = -1\n", 2, "shutdown_timeout: "},
	{"[daemon]\nkill_grace = 5x\n", 2, "kill_grace: "},
	{"[daemon]\nmax_log_bytes = 16Q\n", 2, "max_log_bytes: "},
	{"[daemon]\nmax_log_bytes = 99999999999999999999\n", 2,
	 "max_log_bytes: "},
	{"[daemon]\nmax_request_bytes = 10\n", 2, "max_request_bytes: "},
	{"[daemon]\nmax_connections = 0\n", 2, "max_connections: "},
	{"[daemon]\nmax_connections = 12abc\n", 2, "max_connections: "},
	{"[daemon]\nrequest_timeout = 0\n", 2, "request_timeout: "},
	{"[daemon]\nretention = forever\n", 2, "retention: "},
	{"[daemon]\ndebug = maybe\n", 2, "debug: "},
	{"[daemon]\nslow_callback_ms = 100ms\n", 2, "slow_callback_ms: "},
	{"[daemon]\nlog_level = loud\n", 2, "log_level: "},
	{"[daemon]\nstore = mysql\n", 2, "store: must be sqlite or postgres"},
	{"[daemon]\nstore = PostgreSQL\n", 2,
	 "store: must be sqlite or postgres"},
	{"[daemon]\nstore =\n", 2, "store: must be sqlite or postgres"},
	{"[daemon]\nsocket_mode = 0600\nstore = postgres\n", 3,
	 "store = postgres needs database (a libpq connection string)"},
	{"[daemon]\nstore = postgres\ndatabase =\n", 2,
	 "store = postgres needs database"},
	{"[daemon]\ndatabase = host=db1 dbname\n", 2,
	 "database: missing \"=\" after \"dbname\" in connection info "
	 "string"},
	{"[daemon]\ndatabase = host='db1\n", 2,
	 "database: unterminated quoted string in connection info string"},
	{"[daemon]\ndatabase = nosuchkey=1\n", 2,
	 "database: invalid connection option \"nosuchkey\""},
	{"[daemon]\ndatabase = postgresql://h/x?nosuch=1\n", 2,
	 "database: invalid URI query parameter"},
	{"[daemon]\nnode_name =\n", 2,
	 "node_name: must be 1 to 63 bytes of A-Z a-z 0-9 . _ -"},
	{"[daemon]\nnode_name = build 1\n", 2, "node_name: must be 1 to 63"},
	{"[daemon]\nnode_name = b\xc3\xa4r\n", 2, "node_name: must be 1 to 63"},
	{"[daemon]\nnode_name = a/b\n", 2, "node_name: must be 1 to 63"},
	{"[daemon]\nnode_name = "
	 "a234567890123456789012345678901234567890123456789012345678901234\n",
	 2, "node_name: must be 1 to 63"},
	{"[daemon]\nlease = 4.9s\n", 2,
	 "lease: must be a duration of at least 5s"},
	{"[daemon]\nlease = 0\n", 2,
	 "lease: must be a duration of at least 5s"},
	{"[daemon]\nlease = forever\n", 2, "lease: must be a duration"},
	{"[daemon]\nrescue_grace = -1\n", 2,
	 "rescue_grace: must be a duration"},
	{"[daemon]\nrescue_grace = 5x\n", 2,
	 "rescue_grace: must be a duration"},
	{"[queue a]\nconcurrency = 0\n", 2, "concurrency: "},
	{"[queue a]\nconcurrency = 10001\n", 2, "concurrency: "},
	{"[queue a]\nrate = 10\n", 2, "rate: "},
	{"[queue a]\nrate = 10/x\n", 2, "rate: "},
	{"[queue a]\nrate = -1/s\n", 2, "rate: "},
	{"[queue a]\nrate = 5/0s\n", 2, "rate: "},
	{"[queue a]\nburst = -1\n", 2, "burst: "},
	{"[queue a]\ncapacity = -1\n", 2, "capacity: "},
	{"[queue a]\ntimeout = 1y\n", 2, "timeout: "},
	{"[queue a]\nkill_grace = x\n", 2, "kill_grace: "},
	{"[queue a]\nmax_attempts = 0\n", 2, "max_attempts: "},
	{"[queue a]\nmax_attempts = 1001\n", 2, "max_attempts: "},
	{"[queue a]\nbackoff = 1 2 300\n", 2, "backoff: "},
	{"[queue a]\nbackoff = 1 2 300 0.1 9\n", 2, "backoff: "},
	{"[queue a]\nbackoff = 1 0.5 300 0.1\n", 2, "backoff.factor: "},
	{"[queue a]\nbackoff = 1 2 300 1.5\n", 2, "backoff.jitter: "},
	{"[queue a]\nbackoff = x 2 300 0.1\n", 2, "backoff: "},
	{"[queue a]\nsnooze_exit = 0\n", 2, "snooze_exit: "},
	{"[queue a]\nsnooze_exit = 256\n", 2, "snooze_exit: "},
	{"[queue a]\nsnooze = soon\n", 2, "snooze: "},
	{"[queue a]\nmax_snoozes = -1\n", 2, "max_snoozes: "},
	{"[daemon]\nmax_result_bytes = 17M\n", 2, "max_result_bytes: "},
	{"[producer p]\ntype = sometimes\n", 2, "type: "},
	{"[producer p]\nevery = 0\n", 2, "every: "},
	{"[producer p]\nschedule = 61 * * * *\n", 2, "schedule: minute: "},
	{"[producer p]\nqueue = no such\n", 2, "queue: "},
	{"[producer p]\njob = [1, 2]\n", 2, "job: "},
	{"[producer p]\njob = {\"argv\": \n", 2, "job: "},
	{"[producer p]\nformat = xml\n", 2, "format: "},
	{"[producer p]\nrestart = sometimes\n", 2, "restart: "},
	{"[producer p]\noverlap = perhaps\n", 2, "overlap: "},
	{"[producer p]\nshell =\n", 2, "shell: "},
	{"[producer p]\nname = other\n", 2, "name"},
	{"[daemon]\nsocket_mode = 0660\n[queue a]\nrate = 1/s\nnope = 1\n"
	 "nope2 = 2\n",
	 5, "nope"},
};

START_TEST(config_rejects)
{
	expect_error(bad_configs[_i].text, bad_configs[_i].line,
		     bad_configs[_i].reason);
}
END_TEST

START_TEST(config_queue_limits)
{
	struct config c, d;
	char printed[PATH_MAX + 32];
	const struct queue_conf *q;
	FILE *f;

	ck_assert_msg(load(&c, "[queue big]\n"
			       "limit_memory = 512M\n"
			       "limit_nofile = 256\n"
			       "limit_cpu_time = 2m\n") == 0,
		      "%s", diag_msg());
	q = find_queue(&c, "big");
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->set, QC_LIMITS);
	ck_assert_int_eq(q->limits.memory, 536870912);
	ck_assert_int_eq(q->limits.nofile, 256);
	ck_assert_double_eq(q->limits.cpu_time, 120);
	/* The printed file loads back to the same limits. */
	snprintf(printed, sizeof(printed), "%s/limits.conf", tmpdir);
	f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	q = find_queue(&d, "big");
	ck_assert_int_eq(q->limits.memory, 536870912);
	ck_assert_int_eq(q->limits.nofile, 256);
	ck_assert_double_eq(q->limits.cpu_time, 120);
	config_destroy(&d);
	config_destroy(&c);
	/* Bad values.  The keys that need cgroups are read here and
	 * checked against the host at start (joblimits_check). */
	expect_error("[queue q]\nlimit_memory = lots\n", 2, "limit_memory: ");
	expect_error("[queue q]\nlimit_memory = 0\n", 2, "limit_memory: ");
	expect_error("[queue q]\nlimit_nofile = 0\n", 2, "limit_nofile: ");
	expect_error("[queue q]\nlimit_cpu_time = 0\n", 2, "limit_cpu_time: ");
	expect_error("[queue q]\nlimit_cpu = none\n", 2, "limit_cpu: ");
	expect_error("[queue q]\nlimit_tasks = 0\n", 2, "limit_tasks: ");
	expect_error("[queue q]\nlimit_swap = 5\n", 2, "unknown key");
}
END_TEST

START_TEST(config_print_roundtrip)
{
	struct config c, d;
	char printed[PATH_MAX + 32];
	const struct queue_conf *q;
	FILE *f;

	ck_assert_int_eq(load(&c, spec_example), 0);
	free(c.admin_group);
	c.admin_group = strdup("ops");
	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);

	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	ck_assert_str_eq(d.socket, c.socket);
	ck_assert_str_eq(d.state_dir, c.state_dir);
	ck_assert_uint_eq(d.socket_mode, c.socket_mode);
	ck_assert_str_eq(d.admin_group, "ops");
	ck_assert_int_eq(d.max_log_bytes, c.max_log_bytes);
	ck_assert_double_eq(d.retention, c.retention);
	ck_assert_int_eq(d.log_level, c.log_level);
	ck_assert_uint_eq(d.nqueues, 1);
	q = find_queue(&d, "default");
	ck_assert_double_eq(q->rate_limit, 10);
	ck_assert_double_eq(q->backoff.jitter, 0.1);
	/* Keys the file did not set stay unset after the round trip. */
	ck_assert_uint_eq(q->set, c.queues[0].set);
	ck_assert(json_equal(d.producers, c.producers));
	config_destroy(&d);
	config_destroy(&c);
}
END_TEST

/* The store's keys print and load back; an unset node_name is printed
 * commented out and stays unset. */
START_TEST(config_print_store_keys)
{
	static const char *const texts[] = {
		"[daemon]\nstore = postgres\ndatabase = host=db1 dbname=jobd "
		"options='-c search_path=jobd'\nnode_name = n-1\n"
		"lease = 90s\nrescue_grace = 1.5\n",
		"[daemon]\nstore = sqlite\n",
	};
	struct config c, d;
	char printed[PATH_MAX + 32], *text;
	FILE *f;

	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ck_assert_msg(load(&c, texts[i]) == 0, "%s", diag_msg());
		f = fopen(printed, "w");
		ck_assert_ptr_nonnull(f);
		config_print(&c, f);
		ck_assert_int_eq(fclose(f), 0);
		text = NULL;
		f = fopen(printed, "r");
		ck_assert_ptr_nonnull(f);
		size_t cap = 0;
		ck_assert_int_gt(getdelim(&text, &cap, '\0', f), 0);
		fclose(f);
		if (c.node_name == NULL)
			ck_assert_msg(strstr(text, "\n# node_name = ") != NULL,
				      "%s", text);
		config_init(&d);
		ck_assert_msg(config_load(&d, printed) == 0, "%s\n%s",
			      diag_msg(), text);
		free(text);
		ck_assert_int_eq(d.store, c.store);
		if (c.database != NULL)
			ck_assert_str_eq(d.database, c.database);
		else
			ck_assert_ptr_null(d.database);
		if (c.node_name != NULL)
			ck_assert_str_eq(d.node_name, c.node_name);
		else
			ck_assert_ptr_null(d.node_name);
		ck_assert_double_eq(d.lease, c.lease);
		ck_assert_double_eq(d.rescue_grace, c.rescue_grace);
		config_destroy(&d);
		config_destroy(&c);
	}
}
END_TEST

/* Durations of a million seconds and more, rates over long periods and
 * small fractions print in forms the loader takes back. */
START_TEST(config_print_long_durations_load_back)
{
	struct config c, d;
	char printed[PATH_MAX + 32];
	const struct queue_conf *q;
	char *text;
	FILE *f;

	ck_assert_int_eq(load(&c, "[daemon]\nretention = 30d\n"
				  "shutdown_timeout = 2000000\n"
				  "[queue slow]\nrate = 1/30d\nburst = 3\n"
				  "timeout = 14d\nkill_grace = 1.5\n"
				  "backoff = 1d 2 30d 0.00001\n"
				  "[producer p]\ntype = interval\n"
				  "every = 14d\nshell = true\n"),
			 0);
	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	f = fopen(printed, "w");
	ck_assert_ptr_nonnull(f);
	config_print(&c, f);
	ck_assert_int_eq(fclose(f), 0);
	text = NULL;
	f = fopen(printed, "r");
	ck_assert_ptr_nonnull(f);
	{
		size_t cap = 0;
		ssize_t n = getdelim(&text, &cap, '\0', f);
		ck_assert_int_gt(n, 0);
	}
	fclose(f);
	ck_assert_msg(strstr(text, "retention = 30d\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "rate = 1/30d\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "timeout = 14d\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "every = 14d\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "backoff = 1d 2 30d 0.00001\n") != NULL,
		      "%s", text);
	ck_assert_msg(strstr(text, "e+") == NULL && strstr(text, "e-") == NULL,
		      "exponent in %s", text);
	free(text);

	config_init(&d);
	ck_assert_msg(config_load(&d, printed) == 0, "%s", diag_msg());
	ck_assert_double_eq(d.retention, 30 * 86400);
	ck_assert_double_eq(d.shutdown_timeout, 2000000);
	q = find_queue(&d, "slow");
	ck_assert_ptr_nonnull(q);
	ck_assert_double_eq(q->rate_limit, 1);
	ck_assert_double_eq(q->rate_period, 30 * 86400);
	ck_assert_double_eq(q->timeout, 14 * 86400);
	ck_assert_double_eq(q->kill_grace, 1.5);
	ck_assert_double_eq(q->backoff.max, 30 * 86400);
	ck_assert_double_eq_tol(q->backoff.jitter, 0.00001, 1e-12);
	config_destroy(&d);
	config_destroy(&c);
}
END_TEST

START_TEST(config_default_paths_root)
{
	char *s;

	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("XDG_RUNTIME_DIR", "/xdg/run", 1);
	s = config_default_path(0);
	ck_assert_str_eq(s, "/etc/jobd/jobd.conf");
	free(s);
	s = config_default_state_dir(0);
	ck_assert_str_eq(s, "/var/lib/jobd");
	free(s);
	s = config_default_socket(0);
	ck_assert_str_eq(s, "/run/jobd/jobd.sock");
	free(s);
}
END_TEST

START_TEST(config_default_paths_systemd_dirs_win)
{
	char *s;

	setenv("STATE_DIRECTORY", "/var/lib/jobd-x:/var/lib/other", 1);
	setenv("RUNTIME_DIRECTORY", "/run/jobd-x", 1);
	s = config_default_state_dir(0);
	ck_assert_str_eq(s, "/var/lib/jobd-x");
	free(s);
	s = config_default_state_dir(1000);
	ck_assert_str_eq(s, "/var/lib/jobd-x");
	free(s);
	s = config_default_socket(0);
	ck_assert_str_eq(s, "/run/jobd-x/jobd.sock");
	free(s);
}
END_TEST

START_TEST(config_default_paths_user_xdg)
{
	char *s;

	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	setenv("XDG_RUNTIME_DIR", "/xdg/run", 1);
	s = config_default_path(4242);
	ck_assert_str_eq(s, "/xdg/config/jobd/jobd.conf");
	free(s);
	s = config_default_state_dir(4242);
	ck_assert_str_eq(s, "/xdg/state/jobd");
	free(s);
	s = config_default_socket(4242);
	ck_assert_str_eq(s, "/xdg/run/jobd.sock");
	free(s);
}
END_TEST

START_TEST(config_default_paths_user_home)
{
	uid_t me = getuid();
	char *s;

	if (me == 0)
		me = 4242; /* a uid with no password entry: HOME is not used */
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("HOME", "/home/tester", 1);
	s = config_default_socket(4242);
	ck_assert_str_eq(s, "/tmp/jobd-4242/jobd.sock");
	free(s);
	if (me == getuid()) {
		s = config_default_path(me);
		ck_assert_str_eq(s, "/home/tester/.config/jobd/jobd.conf");
		free(s);
		s = config_default_state_dir(me);
		ck_assert_str_eq(s, "/home/tester/.local/state/jobd");
		free(s);
	}
	/* A relative XDG value is ignored, as the XDG spec says. */
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	s = config_default_socket(4242);
	ck_assert_str_eq(s, "/tmp/jobd-4242/jobd.sock");
	free(s);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("load");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, config_defaults);
	tcase_add_test(tc, config_missing_file_is_fine);
	tcase_add_test(tc, config_unreadable_is_io_error);
	tcase_add_test(tc, config_spec_example);
	tcase_add_test(tc, config_daemon_keys);
	tcase_add_test(tc, config_store_keys);
	tcase_add_test(tc, config_node_name_default);
	tcase_add_test(tc, config_reload_keeps_start_keys);
	tcase_add_test(tc, config_bool_words);
	tcase_add_test(tc, config_queue_keys);
	tcase_add_test(tc, config_queue_limits);
	tcase_add_loop_test(tc, config_rate_forms, 0, N(rates));
	tcase_add_test(tc, config_queue_sections_merge);
	tcase_add_test(tc, config_load_overlays_existing);
	tcase_add_test(tc, config_comments_and_blanks);
	tcase_add_test(tc, config_long_lines);
	tcase_add_test(tc, config_producer_keys);
	tcase_add_test(tc, config_print_roundtrip);
	tcase_add_test(tc, config_print_store_keys);
	tcase_add_test(tc, config_print_long_durations_load_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_loop_test(tc, config_rejects, 0, N(bad_configs));
	tcase_add_test(tc, config_queue_global_concurrency);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, config_default_paths_root);
	tcase_add_test(tc, config_default_paths_systemd_dirs_win);
	tcase_add_test(tc, config_default_paths_user_xdg);
	tcase_add_test(tc, config_default_paths_user_home);
	suite_add_tcase(s, tc);
	return s;
}
