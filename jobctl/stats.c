/*
 * The daemon's commands: ping, stats (for people, raw, or as Prometheus
 * text through prom.c), prune, reload and shutdown.
 */
#include "jobctl.h"

#include "jobd/time.h"
#include "prom.h"
#include "render.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char u_ping[] = "ping\n"
			     "\n"
			     "Checks that jobd answers: version, pid, uptime.";

static const char u_stats[] = "stats [--prometheus] [--json]\n"
			      "\n"
			      "Prints the daemon's statistics.\n"
			      "\n"
			      "options:\n"
			      "      --prometheus  in Prometheus text format\n"
			      "      --json        print the raw result";

static const char u_nodes[] =
	"nodes [--json]\n"
	"\n"
	"Lists the nodes of the cluster (the PostgreSQL store): name,\n"
	"seconds since each renewed its lease, attempts running there.\n"
	"\n"
	"options:\n"
	"      --json  print the raw array";

static const char u_prune[] =
	"prune --older-than D [--json]\n"
	"\n"
	"Deletes jobs that finished more than D ago, with their logs.";

static const char u_reload[] = "reload\n"
			       "\n"
			       "Makes jobd read its config file again.";

static const char u_shutdown[] =
	"shutdown [--now]\n"
	"\n"
	"Stops jobd; running jobs get shutdown_timeout to finish.\n"
	"\n"
	"options:\n"
	"      --now  stop running jobs at once (they are queued again)";

int
cmd_ping(int argc, char **argv)
{
	json_t *res;
	char up[32];
	int st = no_args("ping", u_ping, argc, argv);

	if (st != ST_OK)
		return st;
	res = call("ping", NULL);
	if (res == NULL)
		return call_status();
	if (jobctl.json) {
		print_json(res);
	} else {
		render_duration(jnum(res, "uptime", 0), up, sizeof(up));
		printf("jobd %s, pid %lld, up %s\n",
		       jstr(res, "version") ? jstr(res, "version") : "?",
		       (long long)jint(res, "pid", 0), up);
	}
	json_decref(res);
	return ST_OK;
}

/* Prints the members of obj as "k n, k n" after a label; known keys (a
 * NULL-ended list, may be NULL) first. */
static void
print_counts(const char *label, json_t *obj, const char *const *order)
{
	const char *key, *sep = "";
	json_t *v;

	printf("%-12s", label);
	for (size_t i = 0; order != NULL && order[i] != NULL; i++) {
		char *t = render_value(json_object_get(obj, order[i]));

		printf("%s %s %s", sep, order[i],
		       json_object_get(obj, order[i]) ? t : "0");
		sep = ",";
		free(t);
	}
	json_object_foreach (obj, key, v) {
		char *t;

		if (order != NULL && listed(order, key))
			continue;
		t = render_value(v);
		printf("%s %s %s", sep, key, t);
		sep = ",";
		free(t);
	}
	putchar('\n');
}

/* The cgroups line: where attempts run, their controllers, leftovers. */
static void
stats_cgroups(json_t *cg)
{
	if (!json_is_object(cg)) {
		printf("%-12s %s\n", "cgroups", "none (process groups only)");
		return;
	}
	json_t *ctl = json_object_get(cg, "controllers");
	size_t i;
	json_t *v;
	printf("%-12s %s, controllers:", "cgroups",
	       jstr(cg, "path") ? jstr(cg, "path") : "-");
	json_array_foreach (ctl, i, v)
		printf(" %s",
		       json_string_value(v) ? json_string_value(v) : "?");
	if (json_array_size(ctl) == 0)
		printf(" none");
	printf(", lingering %lld\n", (long long)jint(cg, "lingering", 0));
}

static void
stats_human(json_t *st)
{
	static const char *const states[] = {
		"waiting",   "scheduled", "queued",    "running",
		"succeeded", "failed",	  "cancelled", NULL,
	};
	json_t *db = json_object_get(st, "db");
	char a[64], b[64];

	printf("%-12s %s\n", "version",
	       jstr(st, "version") ? jstr(st, "version") : "?");
	printf("%-12s %lld\n", "pid", (long long)jint(st, "pid", 0));
	render_duration(jnum(st, "uptime", 0), a, sizeof(a));
	printf("%-12s %s\n", "uptime", a);
	printf("%-12s %lld\n", "connections",
	       (long long)jint(st, "connections", 0));
	render_size(jnum(st, "rss_bytes", 0), a, sizeof(a));
	printf("%-12s %s\n", "rss", a);
	print_counts("jobs", json_object_get(st, "jobs"), states);
	print_counts("totals", json_object_get(st, "totals"), NULL);
	print_counts("loop", json_object_get(st, "loop"), NULL);
	if (json_is_object(db)) {
		render_size(jnum(db, "size_bytes", 0), a, sizeof(a));
		render_size(jnum(db, "wal_bytes", 0), b, sizeof(b));
		printf("%-12s %s, %s, wal %s\n", "db",
		       jstr(db, "path") ? jstr(db, "path") : "-", a, b);
	}
	stats_cgroups(json_object_get(st, "cgroups"));
	if (json_is_array(json_object_get(st, "nodes"))) {
		json_t *n;
		size_t i;

		printf("%-12s %zu\n", "nodes",
		       json_array_size(json_object_get(st, "nodes")));
		json_array_foreach (json_object_get(st, "nodes"), i, n)
			printf("%-12s %s, lease age %.1fs, running %lld\n", "",
			       jstr(n, "name") ? jstr(n, "name") : "?",
			       jnum(n, "lease_age", 0),
			       (long long)jint(n, "running", 0));
	}
}

int
cmd_stats(int argc, char **argv)
{
	bool prom = false;
	json_t *res, *ql;
	int st = flag_args("stats", u_stats, "prometheus", &prom, argc, argv);

	if (st != ST_OK)
		return st;
	res = call("stats", NULL);
	if (res == NULL)
		return call_status();
	if (prom) {
		ql = call("queue.list", NULL);
		if (ql == NULL) {
			json_decref(res);
			return call_status();
		}
		prom_write(stdout, res, json_object_get(ql, "queues"));
		json_decref(ql);
	} else if (jobctl.json) {
		print_json(res);
	} else {
		stats_human(res);
	}
	json_decref(res);
	return ST_OK;
}

int
cmd_nodes(int argc, char **argv)
{
	json_t *res, *nodes, *n;
	size_t i;
	int st = no_args("nodes", u_nodes, argc, argv);

	if (st != ST_OK)
		return st;
	res = call("stats", NULL);
	if (res == NULL)
		return call_status();
	nodes = json_object_get(res, "nodes");
	if (!json_is_array(nodes)) {
		fprintf(stderr, "jobctl: this jobd is no cluster node (its "
				"store is SQLite)\n");
		json_decref(res);
		return ST_ERROR;
	}
	if (jobctl.json) {
		print_json(nodes);
	} else {
		printf("%-24s %10s %8s\n", "NAME", "LEASE AGE", "RUNNING");
		json_array_foreach (nodes, i, n)
			printf("%-24s %9.1fs %8lld\n",
			       jstr(n, "name") ? jstr(n, "name") : "?",
			       jnum(n, "lease_age", 0),
			       (long long)jint(n, "running", 0));
	}
	json_decref(res);
	return ST_OK;
}

int
cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{"older-than", required_argument, NULL, OPT_OLDER_THAN},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double secs = -1;
	json_t *res;
	int ch;

	opts_begin("prune", argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_OLDER_THAN:
			if (parse_duration_flag("--older-than", optarg,
						&secs) != ST_OK)
				return ST_USAGE;
			break;
		case OPT_JSON:
			jobctl.json = true;
			break;
		case 'h':
			return help(u_prune);
		default:
			return usage(u_prune);
		}
	}
	if (optind != argc || secs < 0)
		return usage(u_prune);
	res = call("prune", json_pack("{so}", "older_than", json_num(secs)));
	if (res == NULL)
		return call_status();
	if (jobctl.json)
		print_json(res);
	else
		printf("deleted %lld jobs\n",
		       (long long)jint(res, "deleted", 0));
	json_decref(res);
	return ST_OK;
}

/* A command with no arguments and an empty result: prints nothing but
 * with --json. */
static int
simple_cmd(const char *name, const char *synopsis, int argc, char **argv)
{
	int st = no_args(name, synopsis, argc, argv);

	return st != ST_OK ? st : call_show(name, NULL, NULL, NULL);
}

int
cmd_reload(int argc, char **argv)
{
	return simple_cmd("reload", u_reload, argc, argv);
}

int
cmd_shutdown(int argc, char **argv)
{
	bool now = false;
	int st = flag_args("shutdown", u_shutdown, "now", &now, argc, argv);

	if (st != ST_OK)
		return st;
	return call_show("shutdown", now ? json_pack("{sb}", "now", 1) : NULL,
			 NULL, NULL);
}
