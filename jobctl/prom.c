/*
 * prom: the Prometheus text writer (see prom.h).  It only formats what it
 * is handed; it never talks to jobd.
 */
#include "prom.h"

#include "jobctl.h"

#include "jobd/proto.h"

#include <stdio.h>

static void
prom_head(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value, escaped as the exposition format wants. */
static void
prom_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
prom_value(FILE *f, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, " %lld\n", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, " %.15g\n", json_real_value(v));
	else
		fputs(" 0\n", f);
}

/* One metric with no labels, when v is a number. */
static void
prom_metric(FILE *f, const char *name, const char *type, const char *text,
	    const json_t *v)
{
	if (!json_is_number(v))
		return;
	prom_head(f, name, type, text);
	fputs(name, f);
	prom_value(f, v);
}

/* One sample name{label="value"} v. */
static void
prom_sample(FILE *f, const char *name, const char *label, const char *value,
	    const json_t *v)
{
	fprintf(f, "%s{%s=\"", name, label);
	prom_label(f, value);
	fputc('"', f);
	fputc('}', f);
	prom_value(f, v);
}

/* A new number: v (milliseconds) in seconds, or NULL. */
static json_t *
ms_to_seconds(const json_t *v)
{
	return json_is_number(v) ? json_real(json_number_value(v) / 1000.0)
				 : NULL;
}

/* The jobs by state (every state, zeros included, then any other key
 * jobd sent) and the totals by result. */
static void
prom_jobs(FILE *f, json_t *jobs, json_t *totals)
{
	json_t *v;
	const char *key;

	prom_head(f, "jobd_jobs", "gauge", "Jobs in each state now.");
	for (int s = 0; s < JOBD_STATE_COUNT; s++) {
		json_t *n = json_integer(jint(jobs, jobd_state_name(s), 0));

		prom_sample(f, "jobd_jobs", "state", jobd_state_name(s), n);
		json_decref(n);
	}
	json_object_foreach (jobs, key, v) {
		if (jobd_state_parse(key) < 0)
			prom_sample(f, "jobd_jobs", "state", key, v);
	}
	if (json_is_object(totals)) {
		prom_head(f, "jobd_jobs_total", "counter",
			  "Jobs and attempts counted since the daemon "
			  "started, by result.");
		json_object_foreach (totals, key, v) {
			prom_sample(f, "jobd_jobs_total", "result", key, v);
		}
	}
}

/* The daemon's own gauges and counters: connections, loop, memory, db. */
static void
prom_daemon(FILE *f, json_t *st)
{
	json_t *loop = json_object_get(st, "loop");
	json_t *db = json_object_get(st, "db");

	prom_metric(f, "jobd_connections", "gauge",
		    "Client connections open now.",
		    json_object_get(st, "connections"));
	prom_metric(f, "jobd_loop_iterations_total", "counter",
		    "Event loop iterations since the daemon started.",
		    json_object_get(loop, "iterations"));
	json_t *lag = ms_to_seconds(json_object_get(loop, "lag_max_ms"));
	prom_metric(f, "jobd_loop_lag_max_seconds", "gauge",
		    "Longest time the event loop went without polling.", lag);
	json_decref(lag);
	prom_metric(f, "jobd_loop_slow_callbacks_total", "counter",
		    "Callbacks and coroutine steps slower than "
		    "slow_callback_ms.",
		    json_object_get(loop, "slow_callbacks"));
	json_t *slowest = ms_to_seconds(json_object_get(loop, "slowest_ms"));
	prom_metric(f, "jobd_loop_slowest_seconds", "gauge",
		    "Slowest callback or coroutine step.", slowest);
	json_decref(slowest);
	prom_metric(f, "jobd_uptime_seconds", "gauge",
		    "Seconds since the daemon started.",
		    json_object_get(st, "uptime"));
	prom_metric(f, "jobd_rss_bytes", "gauge",
		    "Resident memory of the daemon, in bytes.",
		    json_object_get(st, "rss_bytes"));
	prom_metric(f, "jobd_db_size_bytes", "gauge",
		    "Size of the database file, in bytes.",
		    json_object_get(db, "size_bytes"));
	prom_metric(f, "jobd_db_wal_bytes", "gauge",
		    "Size of the database's write-ahead log, in bytes.",
		    json_object_get(db, "wal_bytes"));
}

/* Per queue: running, pending, concurrency and paused. */
static void
prom_queues(FILE *f, json_t *queues)
{
	json_t *q;
	size_t i;

	prom_head(f, "jobd_queue_running", "gauge",
		  "Jobs running in each queue.");
	json_array_foreach (queues, i, q) {
		json_t *n = json_integer(
			jint(json_object_get(q, "counts"), "running", 0));

		prom_sample(f, "jobd_queue_running", "queue", jstr(q, "name"),
			    n);
		json_decref(n);
	}
	prom_head(f, "jobd_queue_pending", "gauge",
		  "Jobs waiting, scheduled or queued in each queue.");
	json_array_foreach (queues, i, q) {
		json_t *n =
			json_integer(pending_of(json_object_get(q, "counts")));

		prom_sample(f, "jobd_queue_pending", "queue", jstr(q, "name"),
			    n);
		json_decref(n);
	}
	prom_head(f, "jobd_queue_concurrency", "gauge",
		  "Most jobs each queue runs at once.");
	json_array_foreach (queues, i, q) {
		prom_sample(f, "jobd_queue_concurrency", "queue",
			    jstr(q, "name"), json_object_get(q, "concurrency"));
	}
	prom_head(f, "jobd_queue_paused", "gauge",
		  "1 when the queue is paused, else 0.");
	json_array_foreach (queues, i, q) {
		json_t *n = json_integer(
			json_is_true(json_object_get(q, "paused")));

		prom_sample(f, "jobd_queue_paused", "queue", jstr(q, "name"),
			    n);
		json_decref(n);
	}
}

void
prom_write(FILE *f, json_t *stats, json_t *queues)
{
	if (jstr(stats, "version") != NULL) {
		prom_head(f, "jobd_info", "gauge", "The daemon's version.");
		fputs("jobd_info{version=\"", f);
		prom_label(f, jstr(stats, "version"));
		fputs("\"} 1\n", f);
	}
	prom_jobs(f, json_object_get(stats, "jobs"),
		  json_object_get(stats, "totals"));
	prom_daemon(f, stats);
	if (json_array_size(queues) > 0)
		prom_queues(f, queues);
}
