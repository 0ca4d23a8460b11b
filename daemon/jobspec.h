/*
 * jobspec: validation of a job spec object (SPEC 2.1) into a struct jobspec.
 * It checks syntax, types and ranges only; whether the queue, the
 * dependencies or the user exist is for the caller.  Uses jansson, nothing
 * else: no store, no loop.
 */
#ifndef JOBSPEC_H_INCLUDED
#define JOBSPEC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backoff.h"
#include "joblimits.h"

enum jobspec_output { JOBSPEC_OUTPUT_CAPTURE = 0, JOBSPEC_OUTPUT_DISCARD = 1 };

/* Longest name and unique_key, in bytes. */
#define JOBSPEC_MAX_TEXT 256
/* Longest user name, in bytes (Linux's LOGIN_NAME_MAX without the NUL). */
#define JOBSPEC_MAX_USER 256
/* Most entries in depends_on (after, after_any, after_failed). */
#define JOBSPEC_MAX_DEPS 1000
/* Highest N of an "@N" dependency (a spec of the same request). */
#define JOBSPEC_MAX_REF 1000000

/* When a job with dependencies may run: the field that named them.
 * depends_on and after are one condition (every dependency succeeded). */
enum jobspec_cond {
	JOBSPEC_AFTER = 0,	  /* depends_on, after */
	JOBSPEC_AFTER_ANY = 1,	  /* every dependency ended, however */
	JOBSPEC_AFTER_FAILED = 2, /* every dependency ended, one failed or
				     was cancelled */
};

/* The name of condition cond (enum jobspec_cond) as the job object
 * shows it: "after", "after_any" or "after_failed". */
const char *jobspec_cond_name(int cond);

/* An entry of depends_on that names spec N of the same request ("@N")
 * rather than a job id; JOBSPEC_DEP_REF(N) is negative, ids are not. */
#define JOBSPEC_DEP_REF(n) (-(int64_t)(n)-1)
#define JOBSPEC_DEP_IS_REF(d) ((d) < 0)
#define JOBSPEC_DEP_REF_INDEX(d) ((size_t)(-(d)-1))
/* Longest delay, timeout, kill_grace: ten years, in seconds, the longest
 * duration jobd takes anywhere (backoff.h holds the value). */
#define JOBSPEC_MAX_SECONDS BACKOFF_LIMIT
/* snooze_exit: not given (the queue's), and null (no snoozing). */
#define JOBSPEC_SNOOZE_EXIT_UNSET (-2)
#define JOBSPEC_SNOOZE_EXIT_OFF (-1)
/* The exit status of a snooze by default: EX_TEMPFAIL of sysexits.h. */
#define JOBSPEC_SNOOZE_EXIT_DEFAULT 75
/* The most snoozes max_snoozes may allow; 100 by default. */
#define JOBSPEC_MAX_SNOOZES 1000000
#define JOBSPEC_MAX_SNOOZES_DEFAULT 100

struct jobspec {
	json_t *argv; /* owned reference: array of strings, or NULL */
	char *shell;  /* owned, or NULL */
	char *queue;  /* owned; "default" when not given */
	char *name;   /* owned, or NULL */
	char *cwd;    /* owned; "/" when not given */
	json_t *env;  /* owned reference: object of strings, or NULL (minimal
			 env) */
	int priority; /* -1000..1000, default 0 */
	bool has_delay;
	double delay; /* seconds */
	bool has_run_at;
	int64_t run_at_ms;	/* epoch ms */
	double timeout;		/* seconds; < 0 when not given (queue's) */
	double kill_grace;	/* seconds; < 0 when not given */
	int max_attempts;	/* 0 when not given */
	struct backoff backoff; /* each field NAN when not given */
	int64_t *depends_on;	/* owned array: job ids, and earlier specs
				   of the request as JOBSPEC_DEP_REF(N) */
	size_t ndeps;
	int dep_cond;		 /* enum jobspec_cond */
	const char *dep_field;	 /* static: the field that gave depends_on
				   ("after_any"), or NULL */
	char *unique_key;	 /* owned, or NULL */
	int output;		 /* enum jobspec_output */
	char *user;		 /* owned, or NULL */
	struct joblimits limits; /* keys not given are 0 (the queue's) */
	bool linger;	 /* what its cgroup holds may outlive the attempt's
			main process (default false: killed kill_grace
			after it) */
	int snooze_exit; /* 1..255, JOBSPEC_SNOOZE_EXIT_OFF (null), or
			    JOBSPEC_SNOOZE_EXIT_UNSET (the queue's) */
	double snooze;	 /* seconds; < 0 when not given (the queue's) */
	int max_snoozes; /* 0..JOBSPEC_MAX_SNOOZES; < 0 when not given */
	json_t *labels;	 /* owned reference: the checked labels object (at
			   least one pair), or NULL */
	int64_t hook_of; /* the job whose end submitted this one as its
			    queue's hook; 0: none.  Never parsed: only the
			    daemon sets it */
	int64_t resubmitted_from; /* the job this one is a copy of
				     (resubmit); 0: none.  Not a field
				     of a spec: jobspec_parse leaves it */
};

/* Fills s with the defaults of a spec that gives nothing (queue "default",
 * cwd "/", timeout and kill_grace -1, backoff fields NAN).  s is the
 * caller's; release it with jobspec_destroy(). */
void jobspec_init(struct jobspec *s);

/* Validates obj (borrowed) and fills s, which must be jobspec_init'ed and
 * not yet parsed into.  Fields of obj that are JSON null count as not
 * given.  s takes references to obj's argv, env and labels (which
 * nobody may change while s holds them) and copies of the rest.  Returns 0, or -1 with
 * diag E_INVAL whose message starts with the field name ("priority: must be
 * an integer from -1000 to 1000"); on failure s holds only what
 * jobspec_destroy() frees. */
int jobspec_parse(const json_t *obj, struct jobspec *s);

/* Frees what s owns and leaves every pointer NULL (queue and cwd too: call
 * jobspec_init() to use s again); safe to call twice. */
void jobspec_destroy(struct jobspec *s);

/* A new object (caller decrefs): the fields of tmpl with those of over laid
 * on top, one level deep, but for labels, merged key by key (over's value
 * winning).  Either may be NULL (or not an object: ignored).  For
 * producers merging a generated line over their job template. */
json_t *jobspec_overlay(const json_t *tmpl, const json_t *over);

/* True if name is a valid queue name: 1 to 64 of [A-Za-z0-9_.-]. */
bool jobspec_queue_name_valid(const char *name);

#endif /* JOBSPEC_H_INCLUDED */
