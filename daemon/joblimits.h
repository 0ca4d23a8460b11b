/*
 * joblimits: a job's resource limits (SPEC 2.1 `limits`), as a job spec, a
 * queue's defaults and the config file's limit_* keys give them.  Pure:
 * jansson and the time helpers only.
 *
 * Every key is optional; 0 means "not set".  jobd enforces them in the
 * attempt's cgroup where it has one with the controller (cgroup.h: memory
 * as memory.max, cpu as cpu.max, tasks as pids.max) and with setrlimit in
 * the child (spawner) otherwise: memory as RLIMIT_AS (an address-space
 * limit), nofile as RLIMIT_NOFILE, cpu_time as RLIMIT_CPU, always.  cpu
 * and tasks have no setrlimit form: without their controller they are
 * refused (joblimits_check).
 */
#ifndef JOBLIMITS_H_INCLUDED
#define JOBLIMITS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* Cgroup v2 controllers the attempts have, as joblimits_check takes them. */
enum {
	JOBLIMITS_HAVE_MEMORY = 1u << 0,
	JOBLIMITS_HAVE_CPU = 1u << 1,
	JOBLIMITS_HAVE_PIDS = 1u << 2,
};

struct joblimits {
	int64_t memory;	 /* bytes */
	double cpu;	 /* a fraction of one CPU */
	int64_t tasks;	 /* most processes and threads */
	int64_t nofile;	 /* most open descriptors */
	double cpu_time; /* seconds of CPU */
};

/* True when no key of l is set. */
bool joblimits_is_empty(const struct joblimits *l);

/* Validates v (borrowed: an object, or JSON null for none) into *l, which
 * is zeroed first.  Returns 0, or -1 with diag E_INVAL whose message starts
 * with "limits.KEY: " (an unknown key, a bad value); "limits: must be an
 * object" when v is not one.  Whether jobd can apply them is
 * joblimits_check's. */
int joblimits_parse(const json_t *v, struct joblimits *l);

/* One [queue NAME] key of the config file: limit_memory (a size),
 * limit_cpu, limit_tasks, limit_nofile, limit_cpu_time (a duration), with
 * its text value v.  Returns 1 when k is one of them and sets it in *l, 0
 * when k is no limit key, -1 with diag E_INVAL ("limit_KEY: ...") for a
 * bad value. */
int joblimits_config_key(const char *k, const char *v, struct joblimits *l);

/* -1 with diag E_INVAL when l sets cpu or tasks and have (JOBLIMITS_HAVE_*
 * bits) lacks its controller: "PREFIXcpu: needs the cgroup v2 cpu
 * controller, which jobd does not have here" (tasks names pids); prefix is
 * "limits." or "limit_".  0 otherwise. */
int joblimits_check(const struct joblimits *l, unsigned have,
		    const char *prefix);

/* Reads the text joblimits_to_json() wrote (stored with a job or a queue)
 * into *l, zeroed first: known keys of the right type only, nothing
 * refused.  text may be NULL (no limits). */
void joblimits_load(const char *text, struct joblimits *l);

/* A new object (caller decrefs) of the keys set in l; {} when none. */
json_t *joblimits_to_json(const struct joblimits *l);

/* Gives every key of l that is not set the value base has: the job's own
 * keys beat its queue's, key by key. */
void joblimits_merge(struct joblimits *l, const struct joblimits *base);

#endif /* JOBLIMITS_H_INCLUDED */
