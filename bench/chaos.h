/*
 * chaos.h: what the files of the chaos benchmark share: the options, the
 * paths of the run, the kinds of job, and the entry points of the clients
 * (chaos_client.c) and of the audit (chaos_audit.c) that the supervisor
 * (chaos.c) calls.
 */
#ifndef CHAOS_H_INCLUDED
#define CHAOS_H_INCLUDED

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jobd/client.h"

#define MAX_CLIENTS 32

/* Kinds of job, named by the first letter of the job's name. */
enum kind { K_PLAIN, K_SLEEP, K_FLAKY, K_FAIL, K_TIMEOUT, K_STUBBORN, K_COUNT };

/* The command line (chaos.c parses it). */
struct opts {
	bool soak;
	const char *jobd, *dir;
	char sock[108];
	int kills, clients;
	double seconds, restart_every;
	uint64_t seed;
};

extern struct opts o;
/* WORKDIR/runs, which each job's process appends to, and WORKDIR/locks,
 * where each job's process holds its lock. */
extern char runs_path[512], locks_path[512];
/* Set by SIGTERM in a client: it finishes what it does and exits. */
extern volatile sig_atomic_t stop_flag;

/* The next number of the xorshift64* sequence of seed *s, and the same as
 * a double in [0, 1). */
uint64_t rnd(uint64_t *s);
double rnd_unit(uint64_t *s);

/* ---- chaos_client.c ---- */

/* The spec of a job of kind k named name (new ref); rng draws its
 * parameters. */
json_t *job_spec(enum kind k, const char *name, uint64_t *rng);

/* Client process n: connects, loads jobd with a request every gap
 * seconds (on average) until SIGTERM, records them, and exits. */
void client_main(int n, double gap) __attribute__((noreturn));

/* ---- chaos_audit.c ---- */

/* What the audit learnt from the runs file and the snapshots. */
struct jrec;
struct audit {
	struct jrec *j; /* by id */
	size_t nj;
	long long off; /* runs file read up to here */
	char *part;    /* an incomplete last line */
	size_t partlen;
	int bad_lines;
	long long max_id; /* the highest id seen in the runs file */
	char first_double[200];
	int snapshots;
};

extern struct audit au;

/* A client's record of one submit. */
struct tag {
	char state; /* 'A' acknowledged, 'N' refused, 'U' unanswered */
	long long id;
	int stored;
};

/* Each client's record: tags[client][seq] (owned; read by audit()). */
extern struct tag *tags[MAX_CLIENTS];

/* The audit's counts, and the first problem it met. */
struct verdict {
	long acked, refused, unanswered, unanswered_stored, producer_jobs;
	long lost, phantom, stray, dup_tag, not_terminal, unexplained;
	long overlaps, after_end, ran_unstored, starts, reruns, recovered,
		limited, cancelled_jobs, jobs;
	char first[300];
};

/* Every job above id after in the given states (a JSON array, borrowed;
 * NULL for all), page by page (new reference); NULL on a transport
 * failure. */
json_t *list_all(struct jobd_client *c, json_t *states, json_int_t after);

/* Notes which jobs are terminal now: a start of one of them from a
 * process started after the list ended, with no retry between, is a
 * start after a committed end.  Only the newest ids unless full, so that
 * a long soak does not list every job every few seconds. */
void snapshot(struct jobd_client *c, bool full);

/* The final audit of the clients' records, the runs and all (the
 * daemon's every job, borrowed) into v. */
void audit(json_t *all, struct verdict *v);

#endif /* CHAOS_H_INCLUDED */
