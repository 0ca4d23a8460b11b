/*
 * relay: events across the nodes of a cluster (the PostgreSQL store).
 *
 * After each commit, what this node's events module recorded goes out on
 * the database's notification channel (store_publish): job events while
 * some node has watchers or waiters, the queues that gained ready jobs, and
 * the queues whose settings changed.  What other nodes publish comes in on
 * a listening connection of its own (store_listen_open), reconnected when
 * lost, and is turned into what this node would have done for a change of
 * its own: job events for its watchers (the job read from the store), the
 * waiters' jobs counted when they ended, idle consumers woken to try a
 * claim (after 0 to 20 ms of jitter, so nodes do not all claim at once),
 * queues reloaded from the store and their consumers started or stopped.
 *
 * Notifications are not durable (lost when a sender dies after its commit
 * or while a listener reconnects), so the relay also polls: every second
 * it wakes the consumers of each queue that the cluster's counts say has
 * ready jobs and reads which nodes want job events; every 2 s while a
 * waiter exists, and at each reconnect, it reads whether the waited jobs
 * ended; at each reconnect it wakes every queue's consumers and reloads
 * every queue, and every 5 s it reloads the queues anyway.
 *
 * Payloads are JSON objects of at most STORE_NOTICE_MAX bytes:
 *   {"n": sender, "j": [[event, job id, queue id, uid], ...],
 *    "r": [queue id, ...], "q": [queue name, ...], "l": true}
 * sender is the node's id once it registered, before that "t" and a random
 * token; a node ignores its own.  queue id 0 and uid -1: not known to the
 * sender.  "l": the sender has just got watchers or waiters.
 */
#ifndef RELAY_H_INCLUDED
#define RELAY_H_INCLUDED

/* Starts relaying (PostgreSQL store only): registers with events, starts
 * the listener and the relay's coroutine.  Call once the queues and
 * consumers are up.  Does not yield. */
void relay_start(void);
/* Stops relaying: unregisters, closes the listening connection, ends its
 * coroutines (they return on the loop's next turns).  Safe when not
 * started.  Does not yield. */
void relay_stop(void);

#endif /* RELAY_H_INCLUDED */
