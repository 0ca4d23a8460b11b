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
 * any job runs.  crash_file (borrowed for the process's life; NULL:
 * none) is a fault injection for the tests: when that file exists as a
 * job's hook jobs have been inserted, it is removed and jobd kills itself
 * with SIGKILL, before the transaction of the end and its hooks
 * commits. */
void hooks_init(const char *crash_file);

#endif /* HOOKS_H_INCLUDED */
