/*
 * jobctl's shared core (see jobctl.h): the global options and the one
 * connection, exit statuses, usage and option helpers, and the calls every
 * command family makes.  It knows no command; main.c dispatches.
 */
#include "jobctl.h"

#include "jobd/client.h"
#include "jobd/proto.h"
#include "jobd/time.h"
#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct jobctl jobctl;

void
oom(void)
{
	fputs("jobctl: out of memory\n", stderr);
	exit(ST_ERROR);
}

char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

char *
dup_str(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		oom();
	return d;
}

int
usage(const char *synopsis)
{
	fprintf(stderr, "usage: jobctl %s\n", synopsis);
	return ST_USAGE;
}

int
help(const char *synopsis)
{
	printf("usage: jobctl %s\n", synopsis);
	return ST_HELP;
}

int
bad_value(const char *what, const char *val)
{
	fprintf(stderr, "%s: invalid %s '%s'\n", jobctl.prog, what, val);
	return ST_USAGE;
}

int
bad_duration(const char *flag, const char *val)
{
	fprintf(stderr,
		"%s: invalid %s '%s': want a duration (90, 90s, 1h30m, 1.5h, "
		"2d)\n",
		jobctl.prog, flag, val);
	return ST_USAGE;
}

int
parse_duration_flag(const char *flag, const char *val, double *secs)
{
	if (jobd_duration_parse(val, secs) != 0)
		return bad_duration(flag, val);
	return ST_OK;
}

void
opts_begin(const char *name, char **argv)
{
	snprintf(jobctl.prog, sizeof(jobctl.prog), "jobctl %s", name);
	argv[0] = jobctl.prog;
	optind = 0;
	opterr = 1;
}

bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	long long n;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return false;
	*v = n;
	return true;
}

bool
parse_id(const char *s, int64_t *id)
{
	return parse_i64(s, 1, INT64_MAX, id);
}

json_t *
json_num(double d)
{
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return json_integer((json_int_t)d);
	return json_real(d);
}

const char *
jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int64_t
jint(const json_t *obj, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

double
jnum(const json_t *obj, const char *key, double dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

bool
add_label(json_t *labels, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key;

	if (eq == NULL || eq == arg) {
		bad_value("label (want KEY=VALUE)", arg);
		return false;
	}
	key = fmt("%.*s", (int)(eq - arg), arg);
	if (json_object_set_new(labels, key, json_string(eq + 1)) != 0) {
		free(key);
		bad_value("label (not UTF-8)", arg);
		return false;
	}
	free(key);
	return true;
}

bool
listed(const char *const *list, const char *key)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

int64_t
pending_of(const json_t *counts)
{
	return jint(counts, "waiting", 0) + jint(counts, "scheduled", 0) +
	       jint(counts, "queued", 0);
}

void
print_json(const json_t *j)
{
	json_dumpf(j, stdout,
		   JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	putchar('\n');
}

int
term_cols(int fd)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}

const char *
state_color(const char *state)
{
	return jobctl.color ? render_state_color(state) : NULL;
}

int
flag_args(const char *name, const char *synopsis, const char *flag, bool *on,
	  int argc, char **argv)
{
	const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{flag, no_argument, NULL,
		 OPT_FLAG}, /* the end if flag is NULL */
		{NULL, 0, NULL, 0},
	};
	int ch;

	opts_begin(name, argv);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_FLAG)
			*on = true;
		else if (ch == OPT_JSON)
			jobctl.json = true;
		else if (ch == 'h')
			return help(synopsis);
		else
			return usage(synopsis);
	}
	if (optind != argc)
		return usage(synopsis);
	return ST_OK;
}

int
no_args(const char *name, const char *synopsis, int argc, char **argv)
{
	return flag_args(name, synopsis, NULL, NULL, argc, argv);
}

void
lost(struct jobd_client *c)
{
	fprintf(stderr, "jobctl: %s: %s\n", jobd_client_path(c),
		jobd_client_error_message(c));
	exit(ST_NOCONN);
}

/* After a failed connect to path (errno e): one line on what it means and
 * what to do — the failures a newcomer meets are a jobd that is not
 * running, a path that is no socket, and a socket of a group they are not
 * in. */
static void
connect_hint(const char *path, int e)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (exists && !S_ISSOCK(st.st_mode))
		return;
	if (e == ENOENT || e == ECONNREFUSED) {
		fprintf(stderr, "jobctl: %s: is jobd running?",
			e == ENOENT ? "no socket there" : "nobody listens");
		/* The system's socket was tried because the user has none
		 * of their own: say where theirs would be. */
		char *mine = jobd_client_user_socket_path();
		if (getuid() != 0 && mine != NULL &&
		    strcmp(path, JOBD_CLIENT_SYSTEM_SOCKET) == 0)
			fprintf(stderr,
				" (that is where the system's jobd listens; "
				"a jobd of your own would listen on %s: start "
				"one with `jobd` or `systemctl --user start "
				"jobd`)",
				mine);
		else if (strcmp(path, JOBD_CLIENT_SYSTEM_SOCKET) == 0)
			fprintf(stderr, " (start it with `systemctl start "
					"jobd`, or run `jobd`)");
		else
			fprintf(stderr, " (start it with `jobd -s %s`)", path);
		fputc('\n', stderr);
		free(mine);
		return;
	}
	if (e == EACCES && exists) {
		char grp[64];
		struct group *gr = getgrgid(st.st_gid);
		if (gr != NULL)
			snprintf(grp, sizeof(grp), "%s", gr->gr_name);
		else
			snprintf(grp, sizeof(grp), "%u", (unsigned)st.st_gid);
		fprintf(stderr,
			"jobctl: the socket is mode %04o, group %s: members of "
			"that group may use it (ask an admin to add you, then "
			"log in again)\n",
			(unsigned)(st.st_mode & 07777), grp);
	}
}

struct jobd_client *
client(void)
{
	if (jobctl.conn != NULL)
		return jobctl.conn;
	jobctl.path = jobd_client_socket_path(jobctl.socket);
	if (jobctl.path == NULL)
		oom();
	jobctl.conn = jobd_client_connect(jobctl.path);
	if (jobctl.conn == NULL) {
		int e = errno;
		struct stat st;
		if (stat(jobctl.path, &st) == 0 && !S_ISSOCK(st.st_mode))
			fprintf(stderr,
				"jobctl: cannot connect to %s: it is not a "
				"socket (give jobd's socket with -s or "
				"$JOBD_SOCKET)\n",
				jobctl.path);
		else
			fprintf(stderr, "jobctl: cannot connect to %s: %s\n",
				jobctl.path, jobd_client_connect_error());
		connect_hint(jobctl.path, e);
		exit(ST_NOCONN);
	}
	return jobctl.conn;
}

int
error_status(const struct jobd_client *c)
{
	switch (jobd_client_error_code(c)) {
	case JOBD_E_TIMEOUT:
		return ST_TIMEOUT;
	case JOBD_E_INVALID_ARGUMENT:
		return ST_USAGE;
	default:
		return ST_ERROR;
	}
}

int
report(struct jobd_client *c)
{
	if (jobd_client_error_code(c) < 0)
		lost(c);
	char *msg = render_text(jobd_client_error_message(c));
	char *name = render_text(jobd_client_error_name(c));

	fprintf(stderr, "jobctl: %s: %s\n", name, msg);
	free(name);
	free(msg);
	return error_status(c);
}

json_t *
call(const char *cmd, json_t *args)
{
	struct jobd_client *c = client();
	json_t *res = jobd_client_cmd(c, cmd, args);

	if (res == NULL)
		report(c);
	return res;
}

int
call_status(void)
{
	return error_status(jobctl.conn);
}

int
call_show(const char *cmd, json_t *args, const char *member,
	  const char *const *keys)
{
	json_t *res = call(cmd, args);

	if (res == NULL)
		return call_status();
	if (jobctl.json)
		print_json(res);
	else if (member != NULL && json_is_object(json_object_get(res, member)))
		render_kv(stdout, json_object_get(res, member), keys,
			  jobctl.color);
	json_decref(res);
	return ST_OK;
}
