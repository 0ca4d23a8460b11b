/*
 * queue_conf: a queue's settings (SPEC 3) and their defaults, as the
 * config file's [queue NAME] sections, queue.create and the store hold
 * them.  Pure: no loop, no store.  It sits below config, which fills
 * these from the file, and below queue, store and commands, which apply,
 * keep and change them.
 */
#ifndef QUEUE_CONF_H_INCLUDED
#define QUEUE_CONF_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "backoff.h"
#include "joblimits.h"
#include "labels.h"

/* Keys a [queue NAME] section set, for "the file overwrites what it sets". */
enum {
	QC_CONCURRENCY = 1u << 0,
	QC_RATE = 1u << 1,
	QC_BURST = 1u << 2,
	QC_CAPACITY = 1u << 3,
	QC_TIMEOUT = 1u << 4,
	QC_KILL_GRACE = 1u << 5,
	QC_MAX_ATTEMPTS = 1u << 6,
	QC_BACKOFF = 1u << 7,
	QC_LIMITS = 1u << 8, /* any limit_* key: they overwrite key by key */
	QC_GLOBAL_CONCURRENCY = 1u << 9,
	QC_SNOOZE_EXIT = 1u << 10,
	QC_SNOOZE = 1u << 11,
	QC_MAX_SNOOZES = 1u << 12,
	QC_LABELS = 1u << 13, /* replace the queue's labels whole */
	QC_ON_FAILURE = 1u << 14,
	QC_ON_SUCCESS = 1u << 15,
	QC_ON_FINISH = 1u << 16,
	QC_RETENTION = 1u << 17,
	QC_RETENTION_SUCCEEDED = 1u << 18,
	QC_RETENTION_FAILED = 1u << 19,
	QC_RETENTION_CANCELLED = 1u << 20,
	QC_KEEP_LAST = 1u << 21
};

/* The most keep_last may be. */
#define QUEUE_CONF_MAX_KEEP_LAST 1000000000

/* A queue's hooks (SPEC 3): a job template each, submitted when a job of
 * the queue ends so.  on_failure: failed for good (not a retry);
 * on_success: succeeded; on_finish: any terminal end, cancelled too. */
enum queue_conf_hook {
	QUEUE_HOOK_FAILURE = 0,
	QUEUE_HOOK_SUCCESS,
	QUEUE_HOOK_FINISH,
	QUEUE_HOOK_COUNT
};
/* Longest template, as compact JSON text, in bytes. */
#define QUEUE_CONF_HOOK_MAX 4096
/* The names of the hooks ("on_failure", ...), by enum queue_conf_hook. */
extern const char *const queue_conf_hook_names[QUEUE_HOOK_COUNT];

/* The most permits global_concurrency may give (each is a row of the
 * PostgreSQL store's queue_slots). */
#define QUEUE_CONF_MAX_GLOBAL 100000

struct queue_conf {
	char name[65];
	unsigned set;		/* QC_* bits: keys the file set */
	int concurrency;	/* default 4, 1..10000 */
	int global_concurrency; /* 0..100000, 0 = no cap: see queue_conf_pool */
	double rate_limit;	/* starts per period; 0 = no rate limit */
	double rate_period;	/* seconds */
	double rate_burst;	/* 0 = same as limit */
	int64_t capacity;	/* 0 = unlimited */
	double timeout;		/* 0 = none */
	double kill_grace;	/* < 0 = the daemon's */
	int max_attempts;	/* 1..1000, default 1 */
	struct backoff backoff;
	struct joblimits limits; /* defaults for its jobs; 0: not set */
	int snooze_exit;	 /* 1..255, default 75; -1: none */
	double snooze;		 /* seconds; < 0: the backoff delay */
	int max_snoozes;	 /* 0..1000000, default 100 */
	struct labels labels;	 /* its jobs' labels, under their own */
	/* Each hook's template as compact JSON text with sorted keys, every
	 * byte past its end zero (compared with memcmp); "": none. */
	char hook[QUEUE_HOOK_COUNT][QUEUE_CONF_HOOK_MAX];
	/* How long its terminal jobs are kept (seconds; 0: forever; < 0:
	 * not set, the daemon's retention), and by end state: succeeded,
	 * failed, cancelled (< 0: not set, retention). */
	double retention;
	double retention_by[3];
	int64_t keep_last; /* the most terminal jobs kept; 0: no cap */
};

/* Fills q (the caller's) with a queue's defaults; name (borrowed, at most
 * 64 bytes, truncated otherwise) is copied. */
void queue_conf_init(struct queue_conf *q, const char *name);
/* How many of q's jobs one node runs at once: concurrency, or
 * global_concurrency when that is set and lower (a node never runs more
 * than the whole cluster may). */
int queue_conf_pool(const struct queue_conf *q);
/* Writes q as a [queue NAME] section of jobd.conf to f, in the forms the
 * loader reads back; keys the file did not set (q->set) commented out,
 * with their value (for config_print). */
void queue_conf_print(const struct queue_conf *q, FILE *f);

/* Checks v (borrowed), the value of hook `which` (a queue field or config
 * key): a job spec object (jobspec_parse) whose text fits in
 * QUEUE_CONF_HOOK_MAX, or JSON null (none), and sets q's hook to it.  -1
 * with diag E_INVAL naming the field ("on_failure: priority: ..."), q
 * unchanged. */
int queue_conf_hook_set(struct queue_conf *q, int which, const json_t *v);
/* Hook `which` of q as a new JSON object (caller decrefs), or JSON null. */
json_t *queue_conf_hook_json(const struct queue_conf *q, int which);
/* A [queue NAME] key of the config file if it is one of the hooks: 1
 * when it is (and its value, JSON text, was taken), 0 when k is not a
 * hook, -1 with diag E_INVAL naming the key. */
int queue_conf_hook_config(struct queue_conf *q, const char *k, const char *v);
/* q's hooks as the text the store keeps (caller frees): a JSON object of
 * the hooks set, by name; NULL when none is. */
char *queue_conf_hooks_text(const struct queue_conf *q);
/* Reads back text (from queue_conf_hooks_text; NULL or not valid: none)
 * into q's hooks. */
void queue_conf_hooks_load(struct queue_conf *q, const char *text);
/* The retention keys of a [queue NAME] section (retention,
 * retention_succeeded, retention_failed, retention_cancelled, keep_last):
 * 1 when k is one of them and v (borrowed) was taken into q, 0 when k is
 * none of them, -1 with diag (E_INVAL naming the key) when v is bad. */
int queue_conf_retention_key(struct queue_conf *q, const char *k,
			     const char *v);
/* The same for a field of a queue object (queue.create, queue.set):
 * a number of seconds or null (not set) for the retention fields, an
 * integer for keep_last.  v is borrowed. */
int queue_conf_retention_json(struct queue_conf *q, const char *k,
			      const json_t *v);
/* Lays the retention keys src's file section set (src->set) over dst. */
void queue_conf_retention_overlay(struct queue_conf *dst,
				  const struct queue_conf *src);
/* Adds q's retention fields to queue object o (borrowed). */
void queue_conf_retention_to_json(const struct queue_conf *q, json_t *o);
/* True when a and b keep their jobs alike. */
bool queue_conf_retention_same(const struct queue_conf *a,
			       const struct queue_conf *b);
/* How long q keeps its jobs that ended in terminal state `state`
 * (JOBD_SUCCEEDED, JOBD_FAILED or JOBD_CANCELLED), in seconds, 0 for
 * forever: the state's own key, else the queue's retention, else
 * daemon_retention (the [daemon] key). */
double queue_conf_retention_for(const struct queue_conf *q, int state,
				double daemon_retention);

/* A [queue NAME] key this module reads (the retention keys, the hooks):
 * 1 when k is one and v was taken into q, 0 when k is none of them, -1
 * with diag E_INVAL naming the key. */
int queue_conf_key(struct queue_conf *q, const char *k, const char *v);

#endif /* QUEUE_CONF_H_INCLUDED */
