/*
 * scenarios: the cluster suites' registration (check_cluster.c).  Each
 * adds its scenarios to the test case it is given, run by every `make
 * check`.
 */
#ifndef SCENARIOS_H_INCLUDED
#define SCENARIOS_H_INCLUDED

#include <check.h>

/* Adds scenario t to tc, unless JOBD_CLUSTER_ONLY names another (a
 * comma-separated list of test names: for running one or a few). */
void cl_add(TCase *tc, const TTest *t);

/* The harness itself: the wrapper's checks, a node over TCP, a partition. */
void cl_harness_tests(TCase *tc);
/* A1 to A5: kills, restarts, partitions. */
void cl_failover_tests(TCase *tc);
/* A6, A7, A9: global concurrency, rate, unique keys. */
void cl_limits_tests(TCase *tc);
/* A8, A10, A11: producers, wait and watch, a server restart. */
void cl_events_tests(TCase *tc);
/* R1: retention pruned by every node at once. */
void cl_retention_tests(TCase *tc);

#endif /* SCENARIOS_H_INCLUDED */
