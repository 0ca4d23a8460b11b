/*
 * prom: jobd's statistics in the Prometheus text exposition format, the
 * text `jobctl stats --prometheus` prints.  A pure function of its inputs:
 * it writes to the FILE it is handed and talks to nobody, so a test can
 * hold its output to the exact text.
 */
#ifndef PROM_H_INCLUDED
#define PROM_H_INCLUDED

#include <jansson.h>
#include <stdio.h>

/*
 * Writes the metrics of stats (the stats command's result) and queues (the
 * queue.list result's queues array; may be NULL or empty) to f, each with
 * its # HELP and # TYPE lines: jobd_info (with the version), jobd_jobs by
 * state, jobd_jobs_total by result, the daemon's gauges and counters
 * present in stats (milliseconds become seconds), and per queue
 * jobd_queue_running, _pending, _concurrency and _paused.  Label values
 * are escaped (backslash, double quote, newline).  Both are borrowed.
 */
void prom_write(FILE *f, json_t *stats, json_t *queues);

#endif /* PROM_H_INCLUDED */
