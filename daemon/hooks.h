/*
 * hooks: a queue's on_failure, on_success and on_finish settings (SPEC 3)
 * at work.  When a job ends, the templates its queue holds for that end
 * are submitted as jobs, each in the transaction that wrote the end
 * (jobs_set_ended), so that the end and its hook jobs commit together or
 * not at all: a hook job is submitted exactly once per end, also across a
 * crash or a restart of the daemon.  A hook job records its parent
 * (hook_of), and its own end fires no hook.  It knows the templates only
 * through the queues; it does not parse the config or the protocol.
 */
#ifndef HOOKS_H_INCLUDED
#define HOOKS_H_INCLUDED

/* Registers the hooks with the jobs module.  Call once at start, before
 * any job runs. */
void hooks_init(void);

#endif /* HOOKS_H_INCLUDED */
