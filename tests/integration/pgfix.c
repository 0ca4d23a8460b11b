/*
 * pgfix: a private PostgreSQL server per test (pgfix.h).  The programs run
 * as children with their output in a log file of the directory, each
 * waited for against a deadline; nothing here sleeps blindly.
 */
#include "pgfix.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* The oldest major version the fixture runs. */
#define PGFIX_MIN_MAJOR 14

/* The user initdb and the server run as when the test is root. */
#define PGFIX_OS_USER "postgres"

/* execv wants a non-const array; the strings are not written to. */
static char *const *
argv_mut(const char **argv)
{
	union {
		const char **c;
		char *const *m;
	} u = {argv};
	return u.m;
}

/* Finds the newest initdb under /usr/lib/postgresql/N/bin into p->bin, or
 * says in p->why why there is none to use. */
static int
find_bin(struct pgfix *p)
{
	static const char root[] = "/usr/lib/postgresql/";
	glob_t g;
	long best = -1;

	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *v = g.gl_pathv[i] + strlen(root);
			char *end;
			long major = strtol(v, &end, 10);
			if (end == v || *end != '/' || major <= best ||
			    access(g.gl_pathv[i], X_OK) != 0)
				continue;
			best = major;
			snprintf(p->bin, sizeof(p->bin), "%s%ld/bin", root,
				 major);
		}
		globfree(&g);
	}
	if (best < 0) {
		snprintf(p->why, sizeof(p->why),
			 "no initdb under %s*/bin (Debian's postgresql "
			 "package)",
			 root);
		return -1;
	}
	if (best < PGFIX_MIN_MAJOR) {
		snprintf(p->why, sizeof(p->why),
			 "PostgreSQL %ld in %s is older than %d", best, p->bin,
			 PGFIX_MIN_MAJOR);
		return -1;
	}
	return 0;
}

/* True when prog is an executable file in a directory of $PATH. */
static bool
in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[512];

	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin";
	for (const char *s = path; *s;) {
		size_t n = strcspn(s, ":");
		if (n > 0 && n < sizeof(dir) - 64) {
			snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, s, prog);
			if (access(dir, X_OK) == 0)
				return true;
		}
		s += n;
		if (*s == ':')
			s++;
	}
	return false;
}

/* The last lines of the log file name in p->dir, at most about n bytes,
 * with newlines shown as " | " (caller frees). */
static char *
log_tail(const struct pgfix *p, const char *name, size_t n)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	char *s = jd_slurp(path);
	if (s == NULL)
		return strdup("(no output)");
	size_t len = strlen(s);
	while (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	const char *from = len > n ? s + len - n : s;
	char *r = malloc(3 * strlen(from) + 1), *w = r;
	for (; *from; from++) {
		if (*from == '\n') {
			memcpy(w, " | ", 3);
			w += 3;
		} else {
			*w++ = *from;
		}
	}
	*w = '\0';
	free(s);
	return r;
}

/* Runs p->bin/prog with args (NULL-terminated, at most 16) in p->dir, as
 * the user postgres when root, stdin on /dev/null and its output appended
 * to p->dir/logname.  Returns its exit status (128+signal when a signal
 * ended it), or -1 when it ran past timeout_s (it is killed then). */
static int
run(const struct pgfix *p, const char *prog, const char *const *args,
    const char *logname, double timeout_s)
{
	char exe[160], logpath[160];
	const char *argv[32];
	int n = 0;

	snprintf(exe, sizeof(exe), "%s/%s", p->bin, prog);
	snprintf(logpath, sizeof(logpath), "%s/%s", p->dir, logname);
	if (geteuid() == 0) {
		argv[n++] = "setpriv";
		argv[n++] = "--reuid=" PGFIX_OS_USER;
		argv[n++] = "--regid=" PGFIX_OS_USER;
		argv[n++] = "--init-groups";
		argv[n++] = "--";
	}
	argv[n++] = exe;
	for (int i = 0; i < 16 && args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	int log =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_msg(log >= 0, "cannot open %s: %s", logpath, strerror(errno));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 ||
		    dup2(log, 2) < 0 || chdir(p->dir) != 0)
			_exit(126);
		/* The server outlives the test: it keeps none of its files. */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execvp(argv[0], argv_mut(argv));
		_exit(127);
	}
	close(log);

	double deadline = jd_now() + timeout_s;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		ck_assert_msg(r == 0 || errno == EINTR, "waitpid: %s",
			      strerror(errno));
		if (jd_now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		jd_pause_ms(5);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* True while the postmaster p->pid runs (not a zombie) on p->data: the
 * check of its command line keeps a reused pid from counting. */
static bool
postmaster_alive(const struct pgfix *p)
{
	char path[64], buf[512];
	if (p->pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)p->pid);
	char *stat = jd_slurp(path);
	if (stat == NULL)
		return false;
	char *rp = strrchr(stat, ')');
	bool zombie = rp == NULL || rp[1] != ' ' || rp[2] == 'Z' ||
		      rp[2] == 'X';
	free(stat);
	if (zombie)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, p->data) != NULL;
}

/* The postmaster's pid, the first line of data/postmaster.pid (0 when
 * the file cannot be read). */
static pid_t
read_postmaster_pid(const struct pgfix *p)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/postmaster.pid", p->data);
	char *s = jd_slurp(path);
	long pid = s ? strtol(s, NULL, 10) : 0;
	free(s);
	return pid > 0 ? (pid_t)pid : 0;
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "pgfix: cannot remove %s: %s\n", path,
			strerror(errno));
	return 0;
}

/* Makes the cluster with initdb, or fails the test. */
static void
make_cluster(struct pgfix *p)
{
	const char *const args[] = {"-A",	 "trust", "-U",	  "jobd",
				    "--no-sync", "-E",	  "UTF8", "--no-locale",
				    "-D",	 p->data, NULL};
	int st = run(p, "initdb", args, "initdb.log", 60);
	if (st != 0) {
		char *tail = log_tail(p, "initdb.log", 400);
		ck_abort_msg("pgfix: initdb %s: %s",
			     st < 0 ? "ran past 60 s" : "failed", tail);
	}
}

/* Starts the server and waits until it accepts connections, or fails the
 * test. */
static void
start_server(struct pgfix *p)
{
	char opts[640], logpath[160];
	snprintf(opts, sizeof(opts),
		 "-k %s -c listen_addresses='%s' -p %d -c fsync=off "
		 "-c unix_socket_permissions=0777 "
		 "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 "
		 "-c tcp_keepalives_count=3 "
		 "-c idle_in_transaction_session_timeout=5s",
		 p->dir, p->listen, p->port);
	snprintf(logpath, sizeof(logpath), "%s/server.log", p->dir);
	const char *const args[] = {"start", "-w",    "-t", "30", "-D", p->data,
				    "-l",    logpath, "-o", opts, NULL};
	int st = run(p, "pg_ctl", args, "pg_ctl.log", 45);
	p->pid = read_postmaster_pid(p);
	if (st != 0) {
		char *ctl = log_tail(p, "pg_ctl.log", 200);
		char *server = log_tail(p, "server.log", 400);
		ck_abort_msg("pgfix: pg_ctl start %s: %s; server: %s",
			     st < 0 ? "ran past 45 s" : "failed", ctl, server);
	}
	ck_assert_msg(p->pid > 0, "pgfix: no pid in %s/postmaster.pid",
		      p->data);
}

/* A TCP port nothing on the host listens on now: the kernel's pick for a
 * socket bound to port 0 (a race with another program is possible, and
 * then pg_ctl start fails the test, saying so). */
static int
free_tcp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Lets user jobd in from the network net by trust (a line appended to the
 * cluster's pg_hba.conf, which the server reads at its start). */
static void
allow_net(const struct pgfix *p, const char *net)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/pg_hba.conf", p->data);
	FILE *f = fopen(path, "ae");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	fprintf(f, "host all jobd %s trust\n", net);
	ck_assert_int_eq(fclose(f), 0);
}

static int start_common(struct pgfix *p, const char *listen,
			const char *hba_net);

int
pgfix_start(struct pgfix *p)
{
	return start_common(p, NULL, NULL);
}

int
pgfix_start_tcp(struct pgfix *p, const char *listen, const char *hba_net)
{
	return start_common(p, listen, hba_net);
}

void
pgfix_restart(struct pgfix *p)
{
	char logpath[160];
	snprintf(logpath, sizeof(logpath), "%s/server.log", p->dir);
	/* The options come back from postmaster.opts; the log file does
	 * not. */
	const char *const args[] = {"restart", "-m",	"fast", "-w",
				    "-t",      "30",	"-D",	p->data,
				    "-l",      logpath, NULL};
	int st = run(p, "pg_ctl", args, "pg_ctl.log", 45);
	p->pid = read_postmaster_pid(p);
	if (st != 0) {
		char *ctl = log_tail(p, "pg_ctl.log", 200);
		char *server = log_tail(p, "server.log", 400);
		ck_abort_msg("pgfix: pg_ctl restart %s: %s; server: %s",
			     st < 0 ? "ran past 45 s" : "failed", ctl, server);
	}
}

static int
start_common(struct pgfix *p, const char *listen, const char *hba_net)
{
	static unsigned started;
	struct passwd *pw = NULL;

	memset(p, 0, sizeof(*p));
	if (listen != NULL)
		snprintf(p->listen, sizeof(p->listen), "%s", listen);
	if (find_bin(p) != 0)
		return -1;
	if (geteuid() == 0) {
		pw = getpwnam(PGFIX_OS_USER);
		if (pw == NULL) {
			snprintf(p->why, sizeof(p->why),
				 "running as root and there is no user %s "
				 "for initdb (which refuses root)",
				 PGFIX_OS_USER);
			return -1;
		}
		if (!in_path("setpriv")) {
			snprintf(p->why, sizeof(p->why),
				 "running as root and no setpriv to run "
				 "initdb as %s",
				 PGFIX_OS_USER);
			return -1;
		}
	}
	snprintf(p->dir, sizeof(p->dir), "/tmp/pgfix-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
	jd_guard(p->dir);
	if (pw != NULL)
		ck_assert_msg(chown(p->dir, pw->pw_uid, pw->pw_gid) == 0,
			      "chown %s: %s", p->dir, strerror(errno));
	/* The socket is open to all (unix_socket_permissions), so its
	 * directory lets all through; the cluster below stays 0700. */
	ck_assert_int_eq(chmod(p->dir, 0755), 0);
	snprintf(p->data, sizeof(p->data), "%s/data", p->dir);
	/* Only the socket dir/.s.PGSQL.port exists, so any port would do;
	 * distinct numbers keep the logs of parallel tests apart. */
	p->port =
		listen != NULL
			? free_tcp_port()
			: 5433 + (int)(((unsigned)getpid() + started++) % 1000);
	snprintf(p->conninfo, sizeof(p->conninfo),
		 "host=%s port=%d user=jobd dbname=postgres "
		 "connect_timeout=10",
		 p->dir, p->port);
	make_cluster(p);
	if (hba_net != NULL)
		allow_net(p, hba_net);
	start_server(p);
	return 0;
}

const char *
pgfix_conninfo(const struct pgfix *p)
{
	return p->conninfo;
}

/* p->why gets libpq's last message on c, without its final newline. */
static void
why_pq(struct pgfix *p, const PGconn *c)
{
	snprintf(p->why, sizeof(p->why), "%s", PQerrorMessage(c));
	p->why[strcspn(p->why, "\n")] = '\0';
}

int
pgfix_createdb(struct pgfix *p, const char *name)
{
	int rc = -1;
	char *quoted = NULL, sql[160];
	PGresult *r = NULL;

	/* The server would cut a longer name down to its first 63 bytes. */
	if (strlen(name) > 63) {
		snprintf(p->why, sizeof(p->why), "database name over 63 bytes");
		return -1;
	}
	PGconn *c = PQconnectdb(p->conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		why_pq(p, c);
		goto out;
	}
	quoted = PQescapeIdentifier(c, name, strlen(name));
	if (quoted == NULL) {
		why_pq(p, c);
		goto out;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", quoted);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		why_pq(p, c);
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	PQfreemem(quoted);
	PQfinish(c);
	return rc;
}

void
pgfix_stop(struct pgfix *p)
{
	if (p->dir[0] == '\0')
		return;
	if (p->pid > 0) {
		const char *const args[] = {"stop", "-m",    "immediate",
					    "-w",   "-t",    "30",
					    "-D",   p->data, NULL};
		int st = run(p, "pg_ctl", args, "pg_ctl.log", 45);
		if (st != 0) {
			char *tail = log_tail(p, "pg_ctl.log", 300);
			fprintf(stderr, "pgfix: pg_ctl stop %s: %s\n",
				st < 0 ? "ran past 45 s" : "failed", tail);
			free(tail);
			kill(p->pid, SIGKILL);
		}
		/* pg_ctl returns once postmaster.pid is gone, which the
		 * postmaster removes just before it exits, after its
		 * children. */
		double deadline = jd_now() + 10;
		while (postmaster_alive(p) && jd_now() < deadline)
			jd_pause_ms(5);
	}
	nftw(p->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	p->dir[0] = '\0';
	p->pid = 0;
}

static void
notice_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

PGconn *
pgfix_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", conninfo,
		      PQerrorMessage(c));
	PQsetNoticeProcessor(c, notice_quiet, NULL);
	return c;
}

void
pgfix_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
			      PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

char *
pgfix_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQerrorMessage(c));
	ck_assert_msg(PQntuples(r) == 1 && PQnfields(r) == 1,
		      "%s: %d rows of %d columns", sql, PQntuples(r),
		      PQnfields(r));
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

void
pgfix_value_is(PGconn *c, const char *sql, const char *want)
{
	char *v = pgfix_value(c, sql);
	ck_assert_msg(strcmp(v, want) == 0, "%s: \"%s\", not \"%s\"", sql, v,
		      want);
	free(v);
}

bool
pgfix_run_here(const char *suite, const TTest *t)
{
	Suite *s = suite_create(suite);
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run(sr, suite, "server", CK_SILENT);
	bool ok = srunner_ntests_failed(sr) == 0;
	srunner_free(sr);
	return ok;
}
