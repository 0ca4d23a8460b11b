/*
 * cluster: this node's part in a cluster of jobd nodes sharing one
 * PostgreSQL database (store = postgres): its registration, the heartbeat
 * that renews its lease, the rescue of dead peers' jobs, and the fencing
 * that kills this node's attempts before its lease can run out when it
 * cannot renew it.  Under SQLite none of it runs.
 *
 * The timeline, from t_ok, the moment (CLOCK_BOOTTIME) the last heartbeat
 * that committed was sent: the database set the lease's end after it
 * received that heartbeat, so the lease cannot end before t_ok + lease,
 * whatever the clocks' offset.  With m = lease/12 and G = min(kill_grace,
 * lease/2), and no newer heartbeat committed:
 *   - at t_ok + lease/2 the node stops claiming;
 *   - at t_ok + lease - m - G it fences: SIGTERM to every attempt's
 *     process group (and the producers' generators), SIGKILL G later, and
 *     nothing is recorded for those attempts;
 * so all are dead before the lease ends, and peers rescue only after it
 * ended plus rescue_grace.  The fenced node registers again (a new epoch)
 * as soon as the database answers, and recovers the killed attempts' jobs
 * as queued (reason recovered), unless a peer rescued them first.
 */
#ifndef CLUSTER_H_INCLUDED
#define CLUSTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

struct cluster_opts {
	const char *name;     /* borrowed: the node's name */
	const char *instance; /* borrowed: its UUID, from state_dir/node-id */
	double lease;	      /* s */
	double rescue_grace;  /* s */
	double kill_grace;    /* s: the daemon's, for G */
	int max_recoveries;   /* recovery_limit */
};

/* Registers the node and commits it; before recovery, so that recovery
 * takes this node's earlier incarnations' jobs.  0; -1 with E_CONFLICT
 * when a live node of another instance holds the name, E_DB when the
 * database refuses.  Does nothing under SQLite.  Yields. */
int cluster_register(const struct cluster_opts *o);

/* Starts the heartbeat, the rescue and the fencing clock.  Does nothing
 * under SQLite.  Does not yield. */
void cluster_start(void);

/* At a clean stop, once no attempt runs: stops the heartbeat and the
 * rescue and lets the lease run out, so that peers forget the node.
 * Yields. */
void cluster_leave(void);

/* True from the fence until the node has registered again. */
bool cluster_fenced(void);

/* Reads (or first writes) the node's instance UUID in path: 0 with it in
 * buf (37 bytes at least), or -1 with E_IO. */
int cluster_instance(const char *path, char *buf, size_t n);

#endif /* CLUSTER_H_INCLUDED */
