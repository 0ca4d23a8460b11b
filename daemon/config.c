/*
 * config: reads the INI file of SPEC 7 with inih into a struct config, and
 * computes the default paths for a uid.  It checks syntax and ranges and
 * reports the first error as "file:line: reason"; it applies nothing (no
 * sockets, no store).  Producer sections become JSON objects that the
 * daemon validates like a producer.create request.
 *
 * inih is driven through ini_parse_stream() with our own line reader, which
 * hands it one physical line at a time.  That gives us the line number of
 * every key (the installed inih does not pass it to the handler), lets us
 * see sections that have no keys, turns indented continuation lines into
 * errors, and lets values longer than inih's line buffer through: such a
 * value is kept aside and inih sees a short placeholder.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>
#include <libpq-fe.h>

#include "cron.h"
#include "diag.h"
#include "jobd/time.h"
#include "jobspec.h"
#include "jsonin.h"
#include "labels.h"
#include "log.h"
#include "producer_spec.h"
#include "users.h"
#include "xmem.h"

/* Longest socket path (sun_path holds 108 bytes with the NUL). */
#define SOCKET_PATH_MAX 107
/* Marks a placeholder value standing for a line too long for inih. */
#define LONG_MARK '\x01'

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_QUEUE, SEC_PRODUCER };

struct load {
	struct config *c;
	const char *path;
	const char *data; /* the whole file; borrowed */
	size_t len, pos;
	int line; /* physical line last handed to inih */
	enum section_kind kind;
	size_t queue;	  /* index in c->queues for SEC_QUEUE */
	json_t *producer; /* borrowed from c->producers */
	char **longs;	  /* owned values of over-long lines */
	size_t nlongs;
	int store_line; /* line of the store key, 0 = not in this file */
	bool failed;
	int err_line;
	char err[DIAG_MSG_MAX];
};

/* Records the first error, at the current line.  Returns 0, which is what
 * an inih handler returns on error. */
static int __attribute__((format(printf, 2, 3)))
fail(struct load *l, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(l->err, sizeof(l->err), fmt, ap);
	va_end(ap);
	l->failed = true;
	l->err_line = l->line;
	return 0;
}

void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = 0660;
	c->socket_group = xstrdup("jobd");
	c->synchronous_full = true;
	c->shutdown_timeout = 30;
	c->kill_grace = 5;
	c->max_log_bytes = INT64_C(16) << 20;
	c->max_result_bytes = INT64_C(64) << 10;
	c->max_request_bytes = INT64_C(4) << 20;
	c->max_connections = 256;
	c->request_timeout = 30;
	c->retention = 7 * 86400;
	c->prune_interval = 5;
	c->debug = false;
	c->slow_callback_ms = 100;
	c->log_level = LOG_LEVEL_INFO;
	c->lease = 60;
	c->rescue_grace = 5;
	c->producers = json_array();
}

void
config_destroy(struct config *c)
{
	free(c->path);
	free(c->socket);
	free(c->state_dir);
	free(c->socket_group);
	free(c->admin_group);
	free(c->cgroup_root);
	free(c->database);
	free(c->node_name);
	free(c->queues);
	json_decref(c->producers);
	free(c->producer_lines);
	/* Zeroed, not re-initialised: nothing is left to free, so a second
	 * call is harmless. */
	memset(c, 0, sizeof(*c));
}

/* Value parsers.  Each returns false on bad syntax or range. */

static bool
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool
parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	long long n;
	char *end;

	if (!isdigit((unsigned char)v[0]) &&
	    !(v[0] == '-' && isdigit((unsigned char)v[1])))
		return false;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/* A plain non-negative decimal number, no unit. */
static bool
parse_number(const char *v, double *out)
{
	if (v[0] == '\0' || strspn(v, "0123456789.") != strlen(v))
		return false;
	return jobd_duration_parse(v, out) == 0;
}

/* A duration from lo to ten years. */
static bool
parse_secs(const char *v, double lo, double *out)
{
	double d;

	if (jobd_duration_parse(v, &d) < 0 || d < lo || d > JOBSPEC_MAX_SECONDS)
		return false;
	*out = d;
	return true;
}

/* "N/s", "N/m", "N/h", "N/<duration>", "none" or "0". */
static bool
parse_rate(const char *v, double *limit, double *period)
{
	const char *slash = strchr(v, '/');
	char num[64];
	double n, p;

	if (strcasecmp(v, "none") == 0 || strcmp(v, "0") == 0) {
		*limit = 0;
		*period = 1;
		return true;
	}
	if (slash == NULL || (size_t)(slash - v) >= sizeof(num))
		return false;
	memcpy(num, v, (size_t)(slash - v));
	num[slash - v] = '\0';
	if (!parse_number(num, &n) || n > 1e9)
		return false;
	slash++;
	if (strcmp(slash, "s") == 0)
		p = 1;
	else if (strcmp(slash, "m") == 0)
		p = 60;
	else if (strcmp(slash, "h") == 0)
		p = 3600;
	else if (strcmp(slash, "d") == 0)
		p = 86400;
	else if (!parse_secs(slash, 0, &p) || p <= 0)
		return false;
	*limit = n;
	*period = p;
	return true;
}

/* "base factor max jitter"; base and max may carry duration units. */
static bool
parse_backoff(struct load *l, const char *v, struct backoff *b)
{
	char buf[256], *tok[5], *save = NULL, *t;
	struct backoff nb;
	size_t n = 0;

	if (strlen(v) >= sizeof(buf))
		return fail(l, "backoff: value too long"), false;
	strcpy(buf, v);
	for (t = strtok_r(buf, " \t", &save); t != NULL && n < 5;
	     t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	if (n != 4)
		return fail(l, "backoff: expected 4 numbers: base factor max "
			       "jitter"),
		       false;
	if (jobd_duration_parse(tok[0], &nb.base) < 0)
		return fail(l, "backoff: bad base \"%s\"", tok[0]), false;
	if (!parse_number(tok[1], &nb.factor))
		return fail(l, "backoff: bad factor \"%s\"", tok[1]), false;
	if (jobd_duration_parse(tok[2], &nb.max) < 0)
		return fail(l, "backoff: bad max \"%s\"", tok[2]), false;
	if (!parse_number(tok[3], &nb.jitter))
		return fail(l, "backoff: bad jitter \"%s\"", tok[3]), false;
	if (backoff_validate(&nb) < 0)
		return fail(l, "%s", diag_msg()), false;
	*b = nb;
	return true;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

bool
config_node_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= CONFIG_NODE_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz"
			    "0123456789._-") == n;
}

/* Checks a libpq connection string with PQconninfoParse, which only
 * parses: nothing connects.  Returns false with libpq's reason in l. */
static bool
conninfo_ok(struct load *l, const char *v)
{
	PQconninfoOption *opts;
	char *err = NULL;
	size_t n;

	opts = PQconninfoParse(v, &err);
	if (opts != NULL) {
		PQconninfoFree(opts);
		return true;
	}
	if (err == NULL)
		return fail(l, "database: out of memory checking it"), false;
	n = strlen(err);
	while (n > 0 && isspace((unsigned char)err[n - 1]))
		err[--n] = '\0';
	fail(l, "database: %s", err);
	PQfreemem(err);
	return false;
}

/* The keys of the store and of cluster mode.  Returns 1 when k is one and
 * v is good, 0 after recording an error, -1 when k is none of them. */
static int
store_key(struct load *l, const char *k, const char *v)
{
	struct config *c = l->c;

	if (strcmp(k, "store") == 0) {
		if (strcmp(v, "sqlite") == 0)
			c->store = CONFIG_STORE_SQLITE;
		else if (strcmp(v, "postgres") == 0)
			c->store = CONFIG_STORE_POSTGRES;
		else
			return fail(l, "store: must be sqlite or postgres");
		l->store_line = l->line;
	} else if (strcmp(k, "database") == 0) {
		if (v[0] != '\0' && !conninfo_ok(l, v))
			return 0;
		free(c->database);
		c->database = v[0] != '\0' ? xstrdup(v) : NULL;
	} else if (strcmp(k, "node_name") == 0) {
		if (!config_node_name_valid(v))
			return fail(l,
				    "node_name: must be 1 to %d bytes of "
				    "A-Z a-z 0-9 . _ -",
				    CONFIG_NODE_NAME_MAX);
		set_str(&c->node_name, v);
	} else if (strcmp(k, "lease") == 0) {
		if (!parse_secs(v, CONFIG_LEASE_MIN, &c->lease))
			return fail(l,
				    "lease: must be a duration of at least "
				    "%ds",
				    CONFIG_LEASE_MIN);
	} else if (strcmp(k, "rescue_grace") == 0) {
		if (!parse_secs(v, 0, &c->rescue_grace))
			return fail(l, "rescue_grace: must be a duration");
	} else {
		return -1;
	}
	return 1;
}

static int
daemon_key(struct load *l, const char *k, const char *v)
{
	struct config *c = l->c;
	int64_t n;
	double d;
	bool b;
	int lvl;
	int r = store_key(l, k, v);

	if (r >= 0)
		return r;
	if (strcmp(k, "socket") == 0) {
		if (v[0] != '/' || strlen(v) > SOCKET_PATH_MAX)
			return fail(l,
				    "socket: must be an absolute path of at "
				    "most %d bytes",
				    SOCKET_PATH_MAX);
		set_str(&c->socket, v);
		c->set |= DC_SOCKET;
	} else if (strcmp(k, "socket_mode") == 0) {
		if (v[0] == '\0' || strspn(v, "01234567") != strlen(v) ||
		    strlen(v) > 4 || strtol(v, NULL, 8) > 0777)
			return fail(l, "socket_mode: must be an octal mode "
				       "from 0000 to 0777");
		c->socket_mode = (unsigned)strtol(v, NULL, 8);
	} else if (strcmp(k, "socket_group") == 0) {
		if (v[0] == '\0')
			return fail(l, "socket_group: must not be empty");
		set_str(&c->socket_group, v);
	} else if (strcmp(k, "admin_group") == 0) {
		set_str(&c->admin_group, v);
	} else if (strcmp(k, "state_dir") == 0) {
		if (v[0] != '/')
			return fail(l, "state_dir: must be an absolute path");
		set_str(&c->state_dir, v);
		c->set |= DC_STATE_DIR;
	} else if (strcmp(k, "cgroups") == 0) {
		if (strcmp(v, "auto") == 0)
			c->cgroups = CONFIG_CGROUPS_AUTO;
		else if (strcmp(v, "off") == 0)
			c->cgroups = CONFIG_CGROUPS_OFF;
		else if (strcmp(v, "required") == 0)
			c->cgroups = CONFIG_CGROUPS_REQUIRED;
		else
			return fail(l,
				    "cgroups: must be auto, off or required");
	} else if (strcmp(k, "cgroup_root") == 0) {
		if (v[0] != '\0' && v[0] != '/')
			return fail(l, "cgroup_root: must be an absolute path");
		free(c->cgroup_root);
		c->cgroup_root = v[0] != '\0' ? xstrdup(v) : NULL;
	} else if (strcmp(k, "synchronous") == 0) {
		if (strcmp(v, "full") == 0)
			c->synchronous_full = true;
		else if (strcmp(v, "normal") == 0)
			c->synchronous_full = false;
		else
			return fail(l, "synchronous: must be full or normal");
	} else if (strcmp(k, "shutdown_timeout") == 0) {
		if (!parse_secs(v, 0, &c->shutdown_timeout))
			return fail(l, "shutdown_timeout: must be a duration");
	} else if (strcmp(k, "kill_grace") == 0) {
		if (!parse_secs(v, 0, &c->kill_grace))
			return fail(l, "kill_grace: must be a duration");
	} else if (strcmp(k, "max_log_bytes") == 0) {
		if (jobd_size_parse(v, &c->max_log_bytes) < 0)
			return fail(l, "max_log_bytes: must be a size "
				       "(bytes, or with K, M, G)");
	} else if (strcmp(k, "max_result_bytes") == 0) {
		if (jobd_size_parse(v, &n) < 0 || n > CONFIG_MAX_RESULT)
			return fail(l, "max_result_bytes: must be a size up to "
				       "16M");
		c->max_result_bytes = n;
	} else if (strcmp(k, "max_request_bytes") == 0) {
		if (jobd_size_parse(v, &n) < 0 || n < 1024 ||
		    n > (INT64_C(1) << 30))
			return fail(l, "max_request_bytes: must be a size "
				       "from 1K to 1G");
		c->max_request_bytes = n;
	} else if (strcmp(k, "max_connections") == 0) {
		if (!parse_int(v, 1, 65536, &n))
			return fail(l, "max_connections: must be an integer "
				       "from 1 to 65536");
		c->max_connections = (int)n;
	} else if (strcmp(k, "request_timeout") == 0) {
		if (!parse_secs(v, 0, &d) || d <= 0)
			return fail(l, "request_timeout: must be a positive "
				       "duration");
		c->request_timeout = d;
	} else if (strcmp(k, "retention") == 0) {
		if (!parse_secs(v, 0, &c->retention))
			return fail(l, "retention: must be a duration (0 = "
				       "keep)");
	} else if (strcmp(k, "prune_interval") == 0) {
		if (!parse_secs(v, 0.05, &c->prune_interval))
			return fail(l, "prune_interval: must be a duration "
				       ">= 50ms");
	} else if (strcmp(k, "debug") == 0) {
		if (!parse_bool(v, &b))
			return fail(l, "debug: must be true or false");
		c->debug = b;
		c->set |= DC_DEBUG;
	} else if (strcmp(k, "slow_callback_ms") == 0) {
		if (!parse_number(v, &d) || d > 3600000)
			return fail(l, "slow_callback_ms: must be a number of "
				       "milliseconds");
		c->slow_callback_ms = d;
	} else if (strcmp(k, "log_level") == 0) {
		lvl = log_level_parse(v);
		if (lvl < 0)
			return fail(l, "log_level: must be debug, info, "
				       "warning or error");
		c->log_level = lvl;
		c->set |= DC_LOG_LEVEL;
	} else {
		return fail(l, "unknown key \"%s\" in [daemon]", k);
	}
	return 1;
}

static int
queue_key(struct load *l, const char *k, const char *v)
{
	struct queue_conf *q = &l->c->queues[l->queue];
	int64_t n;
	double d, p;
	int r = joblimits_config_key(k, v, &q->limits);

	if (r > 0)
		q->set |= QC_LIMITS;
	else if (r == 0)
		r = queue_conf_key(q, k, v);
	if (r < 0)
		return fail(l, "%s", diag_msg());
	if (r > 0)
		return 1;
	if (strcmp(k, "labels") == 0) {
		if (labels_config(v, &q->labels) != 0)
			return fail(l, "%s", diag_msg());
		q->set |= QC_LABELS;
	} else if (strcmp(k, "concurrency") == 0) {
		if (!parse_int(v, 1, 10000, &n))
			return fail(l, "concurrency: must be an integer from 1 "
				       "to 10000");
		q->concurrency = (int)n;
		q->set |= QC_CONCURRENCY;
	} else if (strcmp(k, "global_concurrency") == 0) {
		if (!parse_int(v, 0, QUEUE_CONF_MAX_GLOBAL, &n))
			return fail(l, "global_concurrency: must be an integer "
				       "from 0 to 100000 (0 = no cap)");
		q->global_concurrency = (int)n;
		q->set |= QC_GLOBAL_CONCURRENCY;
	} else if (strcmp(k, "rate") == 0) {
		if (!parse_rate(v, &d, &p))
			return fail(l, "rate: must be N/s, N/m, N/h, "
				       "N/<seconds>s or none");
		q->rate_limit = d;
		q->rate_period = p;
		q->set |= QC_RATE;
	} else if (strcmp(k, "burst") == 0) {
		if (!parse_number(v, &d) || d > 1e9)
			return fail(l,
				    "burst: must be a number (0 = the rate's "
				    "N)");
		q->rate_burst = d;
		q->set |= QC_BURST;
	} else if (strcmp(k, "capacity") == 0) {
		if (!parse_int(v, 0, INT64_MAX, &n))
			return fail(l, "capacity: must be an integer >= 0 "
				       "(0 = unlimited)");
		q->capacity = n;
		q->set |= QC_CAPACITY;
	} else if (strcmp(k, "timeout") == 0) {
		if (!parse_secs(v, 0, &q->timeout))
			return fail(l,
				    "timeout: must be a duration (0 = none)");
		q->set |= QC_TIMEOUT;
	} else if (strcmp(k, "kill_grace") == 0) {
		if (!parse_secs(v, 0, &q->kill_grace))
			return fail(l, "kill_grace: must be a duration");
		q->set |= QC_KILL_GRACE;
	} else if (strcmp(k, "max_attempts") == 0) {
		if (!parse_int(v, 1, 1000, &n))
			return fail(l,
				    "max_attempts: must be an integer from 1 "
				    "to 1000");
		q->max_attempts = (int)n;
		q->set |= QC_MAX_ATTEMPTS;
	} else if (strcmp(k, "snooze_exit") == 0) {
		if (strcmp(v, "none") == 0)
			n = -1;
		else if (!parse_int(v, 1, 255, &n))
			return fail(l, "snooze_exit: must be an exit status "
				       "from 1 to 255, or none");
		q->snooze_exit = (int)n;
		q->set |= QC_SNOOZE_EXIT;
	} else if (strcmp(k, "snooze") == 0) {
		if (strcmp(v, "backoff") == 0)
			q->snooze = -1;
		else if (!parse_secs(v, 0, &q->snooze))
			return fail(l, "snooze: must be a duration or backoff");
		q->set |= QC_SNOOZE;
	} else if (strcmp(k, "max_snoozes") == 0) {
		if (!parse_int(v, 0, 1000000, &n))
			return fail(l, "max_snoozes: must be an integer from 0 "
				       "to 1000000");
		q->max_snoozes = (int)n;
		q->set |= QC_MAX_SNOOZES;
	} else if (strcmp(k, "backoff") == 0) {
		if (!parse_backoff(l, v, &q->backoff))
			return 0;
		q->set |= QC_BACKOFF;
	} else if (strcmp(k, "paused") == 0) {
		return fail(l, "paused is runtime state: use jobctl queue "
			       "pause");
	} else {
		return fail(l, "unknown key \"%s\" in [queue %s]", k, q->name);
	}
	return 1;
}

/* One of the words of a NULL-terminated list. */
static bool
one_of(const char *v, const char *const *words)
{
	for (; *words != NULL; words++) {
		if (strcmp(v, *words) == 0)
			return true;
	}
	return false;
}

/* The producer's job object, created empty when missing; borrowed. */
static json_t *
producer_job(json_t *p)
{
	json_t *job = json_object_get(p, "job");

	if (job == NULL) {
		job = json_object();
		json_object_set_new(p, "job", job);
	}
	return job;
}

static int
producer_key(struct load *l, const char *k, const char *v)
{
	json_t *p = l->producer, *job;
	json_error_t jerr;
	struct cron cr;
	double d;
	bool b;

	if (strcmp(k, "type") == 0) {
		if (!one_of(v, producer_spec_type_names))
			return fail(l, "type: must be interval, cron or "
				       "command");
		json_object_set_new(p, "type", json_string(v));
	} else if (strcmp(k, "every") == 0) {
		if (!parse_secs(v, 0, &d) || d <= 0)
			return fail(l, "every: must be a positive duration");
		json_object_set_new(p, "every",
				    d == floor(d) ? json_integer((json_int_t)d)
						  : json_real(d));
	} else if (strcmp(k, "schedule") == 0) {
		if (cron_parse(v, &cr) < 0)
			return fail(l, "schedule: %s", diag_msg());
		json_object_set_new(p, "schedule", json_string(v));
	} else if (strcmp(k, "queue") == 0) {
		if (!jobspec_queue_name_valid(v))
			return fail(l, "queue: invalid queue name \"%s\"", v);
		json_object_set_new(p, "queue", json_string(v));
	} else if (strcmp(k, "shell") == 0) {
		if (v[0] == '\0')
			return fail(l, "shell: must not be empty");
		json_object_set_new(producer_job(p), "shell", json_string(v));
	} else if (strcmp(k, "job") == 0) {
		job = jsonin_loadb(v, strlen(v), JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(job)) {
			json_decref(job);
			return fail(l, "job: must be a JSON object%s%s",
				    jerr.text[0] != '\0' ? ": " : "",
				    jerr.text);
		}
		json_object_update(producer_job(p), job);
		json_decref(job);
	} else if (strcmp(k, "generator") == 0) {
		if (v[0] == '\0')
			return fail(l, "generator: must not be empty");
		json_object_set_new(p, "generator",
				    json_pack("{s:s}", "shell", v));
	} else if (strcmp(k, "format") == 0) {
		if (!one_of(v, producer_spec_format_names))
			return fail(l, "format: must be json or lines");
		json_object_set_new(p, "format", json_string(v));
	} else if (strcmp(k, "restart") == 0) {
		if (!one_of(v, producer_spec_restart_names))
			return fail(l, "restart: must be never, on-failure or "
				       "always");
		json_object_set_new(p, "restart", json_string(v));
	} else if (strcmp(k, "overlap") == 0) {
		if (!parse_bool(v, &b))
			return fail(l, "overlap: must be true or false");
		json_object_set_new(p, "overlap", json_boolean(b));
	} else {
		return fail(l, "unknown key \"%s\" in [producer %s]", k,
			    json_string_value(json_object_get(p, "name")));
	}
	return 1;
}

/* Cuts a comment (';' or '#' at the start or after a blank) and trailing
 * blanks off v, in place. */
static void
strip_value(char *v)
{
	char *p, *end;

	for (p = v; *p != '\0'; p++) {
		if ((*p == ';' || *p == '#') &&
		    (p == v || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	end = v + strlen(v);
	while (end > v && isspace((unsigned char)end[-1]))
		*--end = '\0';
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	char *v;
	size_t idx;
	int r;

	(void)section;
	if (l->failed || name == NULL)
		return 1;
	if (value == NULL)
		return fail(l, "%s: missing value", name);
	if (value[0] == LONG_MARK) {
		idx = (size_t)strtoul(value + 1, NULL, 10);
		if (idx >= l->nlongs)
			return fail(l, "internal error reading a long line");
		value = l->longs[idx];
	}
	v = xstrdup(value);
	strip_value(v);
	switch (l->kind) {
	case SEC_DAEMON:
		r = daemon_key(l, name, v);
		break;
	case SEC_QUEUE:
		r = queue_key(l, name, v);
		break;
	case SEC_PRODUCER:
		r = producer_key(l, name, v);
		break;
	case SEC_NONE:
	default:
		r = fail(l, "%s: key outside a section", name);
		break;
	}
	free(v);
	return r;
}

static void
enter_queue(struct load *l, const char *name)
{
	struct config *c = l->c;
	size_t i;

	for (i = 0; i < c->nqueues; i++) {
		if (strcmp(c->queues[i].name, name) == 0)
			break;
	}
	if (i == c->nqueues) {
		c->queues = xreallocarray(c->queues, c->nqueues + 1,
					  sizeof(*c->queues));
		queue_conf_init(&c->queues[c->nqueues++], name);
	}
	l->kind = SEC_QUEUE;
	l->queue = i;
}

static void
enter_producer(struct load *l, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach (l->c->producers, i, p) {
		if (strcmp(json_string_value(json_object_get(p, "name")),
			   name) == 0) {
			l->producer = p;
			l->kind = SEC_PRODUCER;
			return;
		}
	}
	p = json_pack("{s:s}", "name", name);
	json_array_append_new(l->c->producers, p);
	size_t n = json_array_size(l->c->producers);
	l->c->producer_lines =
		xreallocarray(l->c->producer_lines, n, sizeof(int));
	l->c->producer_lines[n - 1] = l->line;
	l->producer = p;
	l->kind = SEC_PRODUCER;
}

/* Handles a "[...]" line s (leading blanks gone; not NUL-terminated: n
 * bytes).  Returns false after recording an error. */
static bool
section_line(struct load *l, const char *s, size_t n)
{
	char buf[256], *word, *name, *end, *rest;
	size_t wlen;

	if (n >= sizeof(buf))
		return fail(l, "section header too long"), false;
	memcpy(buf, s + 1, n - 1);
	buf[n - 1] = '\0';
	end = strchr(buf, ']');
	if (end == NULL)
		return fail(l, "section header without ']'"), false;
	*end = '\0';
	rest = end + 1;
	strip_value(rest);
	if (rest[0] != '\0')
		return fail(l, "junk after section header"), false;
	word = buf + strspn(buf, " \t");
	wlen = strcspn(word, " \t");
	name = word + wlen;
	name += strspn(name, " \t");
	strip_value(name);
	word[wlen] = '\0';
	if (strcmp(word, "daemon") == 0 && name[0] == '\0') {
		l->kind = SEC_DAEMON;
	} else if (strcmp(word, "queue") == 0) {
		if (!jobspec_queue_name_valid(name))
			return fail(l,
				    "invalid queue name \"%s\" (1 to 64 of "
				    "A-Z a-z 0-9 _ . -)",
				    name),
			       false;
		enter_queue(l, name);
	} else if (strcmp(word, "producer") == 0) {
		if (!jobspec_queue_name_valid(name))
			return fail(l,
				    "invalid producer name \"%s\" (1 to 64 "
				    "of A-Z a-z 0-9 _ . -)",
				    name),
			       false;
		enter_producer(l, name);
	} else {
		return fail(l, "unknown section [%s%s%s]", word,
			    name[0] != '\0' ? " " : "", name),
		       false;
	}
	return true;
}

/* inih's line reader: one physical line per call, rewritten as described
 * at the top of the file.  Returns NULL at the end or after an error. */
static char *
reader(char *str, int num, void *stream)
{
	struct load *l = stream;
	const char *s, *eol, *eq;
	size_t n, klen;

	if (l->failed || l->pos >= l->len || num < 16)
		return NULL;
	s = l->data + l->pos;
	eol = memchr(s, '\n', l->len - l->pos);
	n = eol != NULL ? (size_t)(eol - s) : l->len - l->pos;
	l->pos += n + (eol != NULL);
	l->line++;
	if (memchr(s, '\0', n) != NULL)
		return fail(l, "NUL byte in line"), NULL;
	/* No leading blanks: an indented line is never a continuation. */
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0 || *s == ';' || *s == '#') {
		strcpy(str, "\n");
		return str;
	}
	if (*s == '[') {
		if (!section_line(l, s, n))
			return NULL;
		/* inih needs a section line too; its name is not used. */
		strcpy(str, "[s]\n");
		return str;
	}
	if (n + 2 < (size_t)num) {
		memcpy(str, s, n);
		str[n] = '\n';
		str[n + 1] = '\0';
		return str;
	}
	/* Too long for inih: keep the value aside. */
	eq = s;
	while (eq < s + n && *eq != '=' && *eq != ':')
		eq++;
	klen = (size_t)(eq - s);
	if (eq == s + n || klen + 24 >= (size_t)num)
		return fail(l, "line too long or without '='"), NULL;
	eq++;
	while (eq < s + n && (*eq == ' ' || *eq == '\t'))
		eq++;
	l->longs = xreallocarray(l->longs, l->nlongs + 1, sizeof(*l->longs));
	l->longs[l->nlongs] = xstrndup(eq, (size_t)(s + n - eq));
	snprintf(str, (size_t)num, "%.*s=%c%zu\n", (int)klen, s, LONG_MARK,
		 l->nlongs);
	l->nlongs++;
	return str;
}

int
config_load(struct config *c, const char *path)
{
	struct load l;
	FILE *f;
	char *data = NULL;
	size_t len = 0, cap = 0, got;
	int rc, ret = -1;

	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		return diag_set(E_IO, "%s: %s", path, strerror(errno));
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			data = xrealloc(data, cap);
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		diag_set(E_IO, "%s: read error", path);
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);

	memset(&l, 0, sizeof(l));
	l.c = c;
	l.path = path;
	l.data = data;
	l.len = len;
	/* A UTF-8 byte order mark is allowed. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		l.pos = 3;
	rc = ini_parse_stream(reader, &l, handler, &l);
	if (rc > 0 && (!l.failed || rc < l.err_line))
		diag_set(E_INVAL,
			 "%s:%d: syntax error (expected [section] "
			 "or key = value)",
			 path, rc);
	else if (l.failed)
		diag_set(E_INVAL, "%s:%d: %s", path, l.err_line, l.err);
	else if (rc < 0)
		diag_set(E_INVAL, "%s: cannot parse (inih error %d)", path, rc);
	else if (c->store == CONFIG_STORE_POSTGRES && c->database == NULL)
		/* At the store key's line, when this file set it. */
		diag_set(E_INVAL,
			 "%s%s%.0d: store = postgres needs database (a libpq "
			 "connection string)",
			 path, l.store_line > 0 ? ":" : "", l.store_line);
	else if (c->store == CONFIG_STORE_POSTGRES &&
		 c->kill_grace >= c->lease / 2)
		/* A fenced node must kill its attempts within the last
		 * half of its lease. */
		diag_set(E_INVAL,
			 "%s: kill_grace (%g s) must be under half the lease "
			 "(%g s) with store = postgres",
			 path, c->kill_grace, c->lease);
	else
		ret = 0;
	if (ret == 0)
		set_str(&c->path, path);
	while (l.nlongs > 0)
		free(l.longs[--l.nlongs]);
	free(l.longs);
	free(data);
	return ret;
}

static void
print_producer(const json_t *p, FILE *f)
{
	static const char *const strings[] = {"type",	"schedule", "queue",
					      "format", "restart",  NULL};
	char buf[JOBD_UNIT_LEN];
	const json_t *v;
	char *s;
	size_t i;

	fprintf(f, "\n[producer %s]\n",
		json_string_value(json_object_get(p, "name")));
	for (i = 0; strings[i] != NULL; i++) {
		v = json_object_get(p, strings[i]);
		if (json_is_string(v))
			fprintf(f, "%s = %s\n", strings[i],
				json_string_value(v));
	}
	v = json_object_get(p, "every");
	if (json_is_number(v))
		fprintf(f, "every = %s\n",
			jobd_duration_format(json_number_value(v), buf));
	v = json_object_get(json_object_get(p, "generator"), "shell");
	if (json_is_string(v))
		fprintf(f, "generator = %s\n", json_string_value(v));
	v = json_object_get(p, "job");
	if (json_is_object(v)) {
		s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(f, "job = %s\n", s);
		free(s);
	}
	v = json_object_get(p, "overlap");
	if (json_is_boolean(v))
		fprintf(f, "overlap = %s\n",
			json_is_true(v) ? "true" : "false");
}

/* The store's keys.  An unset node_name is shown commented out, with the
 * host name it stands for: the file keeps no host name. */
static void
print_store(const struct config *c, FILE *f)
{
	char buf[JOBD_UNIT_LEN], node[CONFIG_NODE_NAME_MAX + 1];

	fprintf(f, "store = %s\n",
		c->store == CONFIG_STORE_POSTGRES ? "postgres" : "sqlite");
	fprintf(f, "database = %s\n", c->database != NULL ? c->database : "");
	if (c->node_name != NULL)
		fprintf(f, "node_name = %s\n", c->node_name);
	else if (config_node_name(c, node, sizeof(node)) == 0)
		fprintf(f, "# node_name = %s (unset: the host name)\n", node);
	else
		fprintf(f, "# node_name = (unset: %s)\n", diag_msg());
	fprintf(f, "lease = %s\n", jobd_duration_format(c->lease, buf));
	fprintf(f, "rescue_grace = %s\n",
		jobd_duration_format(c->rescue_grace, buf));
}

void
config_print(const struct config *c, FILE *f)
{
	char *socket = c->socket, *state_dir = c->state_dir;
	char buf[JOBD_UNIT_LEN];
	const json_t *p;
	size_t i;

	if (socket == NULL)
		socket = config_default_socket(geteuid());
	if (state_dir == NULL)
		state_dir = config_default_state_dir(geteuid());
	if (c->path != NULL)
		fprintf(f, "# loaded from %s\n", c->path);
	fprintf(f, "[daemon]\n");
	fprintf(f, "socket = %s\n", socket);
	fprintf(f, "socket_mode = %04o\n", c->socket_mode);
	fprintf(f, "socket_group = %s\n",
		c->socket_group != NULL ? c->socket_group : "");
	fprintf(f, "admin_group = %s\n",
		c->admin_group != NULL ? c->admin_group : "");
	fprintf(f, "state_dir = %s\n", state_dir);
	fprintf(f, "synchronous = %s\n",
		c->synchronous_full ? "full" : "normal");
	fprintf(f, "shutdown_timeout = %s\n",
		jobd_duration_format(c->shutdown_timeout, buf));
	fprintf(f, "kill_grace = %s\n",
		jobd_duration_format(c->kill_grace, buf));
	fprintf(f, "max_log_bytes = %lld\n", (long long)c->max_log_bytes);
	fprintf(f, "max_result_bytes = %lld\n", (long long)c->max_result_bytes);
	fprintf(f, "max_request_bytes = %lld\n",
		(long long)c->max_request_bytes);
	fprintf(f, "max_connections = %d\n", c->max_connections);
	fprintf(f, "request_timeout = %s\n",
		jobd_duration_format(c->request_timeout, buf));
	fprintf(f, "retention = %s\n", jobd_duration_format(c->retention, buf));
	fprintf(f, "prune_interval = %s\n",
		jobd_duration_format(c->prune_interval, buf));
	fprintf(f, "debug = %s\n", c->debug ? "true" : "false");
	fprintf(f, "slow_callback_ms = %s\n",
		jobd_number_format(c->slow_callback_ms, buf));
	fprintf(f, "log_level = %s\n", log_level_name(c->log_level));
	fprintf(f, "cgroups = %s\n",
		c->cgroups == CONFIG_CGROUPS_OFF	? "off"
		: c->cgroups == CONFIG_CGROUPS_REQUIRED ? "required"
							: "auto");
	fprintf(f, "cgroup_root = %s\n",
		c->cgroup_root != NULL ? c->cgroup_root : "");
	print_store(c, f);
	for (i = 0; i < c->nqueues; i++)
		queue_conf_print(&c->queues[i], f);
	for (i = 0; i < json_array_size(c->producers); i++) {
		p = json_array_get(c->producers, i);
		print_producer(p, f);
	}
	if (socket != c->socket)
		free(socket);
	if (state_dir != c->state_dir)
		free(state_dir);
}

int
config_node_name(const struct config *c, char *buf, size_t n)
{
	char host[256];

	assert(n > CONFIG_NODE_NAME_MAX);
	if (c->node_name != NULL) {
		snprintf(buf, n, "%s", c->node_name);
		return 0;
	}
	if (gethostname(host, sizeof(host)) != 0)
		return diag_set(E_IO, "cannot read the host name: %s",
				strerror(errno));
	/* gethostname need not terminate a name it cut. */
	host[sizeof(host) - 1] = '\0';
	host[strnlen(host, CONFIG_NODE_NAME_MAX)] = '\0';
	if (!config_node_name_valid(host))
		return diag_set(E_INVAL,
				"node_name: the host name \"%s\" is not a "
				"valid node name (1 to %d bytes of A-Z a-z "
				"0-9 . _ -): set node_name",
				host, CONFIG_NODE_NAME_MAX);
	snprintf(buf, n, "%s", host);
	return 0;
}

static bool
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

bool
config_keep_start_keys(struct config *nc, const struct config *old)
{
	bool changed = nc->store != old->store ||
		       str_differ(nc->database, old->database) ||
		       str_differ(nc->node_name, old->node_name) ||
		       nc->lease != old->lease ||
		       nc->rescue_grace != old->rescue_grace;

	nc->store = old->store;
	free(nc->database);
	nc->database = old->database != NULL ? xstrdup(old->database) : NULL;
	free(nc->node_name);
	nc->node_name = old->node_name != NULL ? xstrdup(old->node_name) : NULL;
	nc->lease = old->lease;
	nc->rescue_grace = old->rescue_grace;
	return changed;
}

/* A non-empty environment variable, or NULL. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The first entry of a ':'-separated systemd directory list. */
static char *
first_dir(const char *v)
{
	return xstrndup(v, strcspn(v, ":"));
}

/* The home directory of uid: $HOME when it is the current user's, else the
 * password file, else "/". */
static char *
home_of(uid_t uid)
{
	struct users_pw pw;
	const char *h = env("HOME");
	char *home = NULL;

	if (h != NULL && uid == getuid())
		return xstrdup(h);
	if (users_pw_by_uid(uid, &pw) == 0) {
		if (pw.pw.pw_dir != NULL && pw.pw.pw_dir[0] != '\0')
			home = xstrdup(pw.pw.pw_dir);
		users_pw_release(&pw);
	}
	return home != NULL ? home : xstrdup("/");
}

/* $var/suffix if var is set to an absolute path, else $HOME/fallback/suffix. */
static char *
xdg_path(uid_t uid, const char *var, const char *fallback, const char *suffix)
{
	const char *v = env(var);
	char *home, *s;

	if (v != NULL && v[0] == '/')
		return xasprintf("%s/%s", v, suffix);
	home = home_of(uid);
	s = xasprintf("%s/%s/%s", strcmp(home, "/") == 0 ? "" : home, fallback,
		      suffix);
	free(home);
	return s;
}

char *
config_default_path(uid_t uid)
{
	if (uid == 0)
		return xstrdup("/etc/jobd/jobd.conf");
	return xdg_path(uid, "XDG_CONFIG_HOME", ".config", "jobd/jobd.conf");
}

char *
config_default_state_dir(uid_t uid)
{
	const char *v = env("STATE_DIRECTORY");

	if (v != NULL)
		return first_dir(v);
	if (uid == 0)
		return xstrdup("/var/lib/jobd");
	return xdg_path(uid, "XDG_STATE_HOME", ".local/state", "jobd");
}

char *
config_default_socket(uid_t uid)
{
	const char *v = env("RUNTIME_DIRECTORY");
	char *dir, *s;

	if (v != NULL) {
		dir = first_dir(v);
		s = xasprintf("%s/jobd.sock", dir);
		free(dir);
		return s;
	}
	if (uid == 0)
		return xstrdup("/run/jobd/jobd.sock");
	v = env("XDG_RUNTIME_DIR");
	if (v != NULL && v[0] == '/')
		return xasprintf("%s/jobd.sock", v);
	return xasprintf("/tmp/jobd-%u/jobd.sock", (unsigned)uid);
}
