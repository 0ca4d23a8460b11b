/*
 * cluster: three nodes on one database (cluster.h).  Network namespaces
 * are made with ip(8); a node enters its own with setns(2) between fork
 * and exec, so it keeps the host's mounts (ip netns exec would remount
 * /sys, and with it the cgroup tree).
 */
#include "cluster.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgfix.h"

/* The runner's shared state, inherited by every forked scenario. */
static struct pgfix server;
static bool server_up;
static bool net_up;
static char net_why[256] = "the network namespaces were not set up";
static int net_tag;   /* names namespaces and links: jc<tag>... */
static int net_octet; /* the nodes' subnets: 10.<octet>.<i>.0/30 */

double
cl_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the shell command made from fmt, its output discarded; its exit
 * status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
sh(const char *fmt, ...)
{
	char cmd[512], full[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	int st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
ns_name(int i, char *buf, size_t n)
{
	snprintf(buf, n, "jc%d-%d", net_tag, i);
}

static void
veth_name(int i, char side, char *buf, size_t n)
{
	snprintf(buf, n, "jc%d%c%d", net_tag, side, i);
}

/* True when some interface has an IPv4 address in 10.octet.0.0/16. */
static bool
octet_taken(int octet)
{
	struct ifaddrs *ifs, *a;
	bool taken = false;
	if (getifaddrs(&ifs) != 0)
		return true;
	for (a = ifs; a != NULL; a = a->ifa_next) {
		if (a->ifa_addr == NULL || a->ifa_addr->sa_family != AF_INET)
			continue;
		uint32_t ip = ntohl(((struct sockaddr_in *)(void *)a->ifa_addr)
					    ->sin_addr.s_addr);
		if ((ip >> 24) == 10 && ((ip >> 16) & 0xff) == (uint32_t)octet)
			taken = true;
	}
	freeifaddrs(ifs);
	return taken;
}

static void
net_teardown(void)
{
	char name[32];
	for (int i = 1; i <= CL_NODES; i++) {
		veth_name(i, 'h', name, sizeof(name));
		sh("ip link del %s", name);
		ns_name(i, name, sizeof(name));
		sh("ip netns del %s", name);
	}
}

/* A process outside the runner's process group that tears the network
 * down once the runner has ended, however it ended. */
static void
net_guard(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		setsid();
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0])
				close(fd);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		/* The nodes' guards kill them meanwhile: a namespace goes
		 * when its last process has. */
		net_teardown();
		_exit(0);
	}
	close(p[0]);
}

bool
cl_net_setup(char *why, size_t n)
{
	char ns[32], h[16], nn[16];
	if (geteuid() != 0) {
		snprintf(why, n, "not root: no network namespaces");
		goto no;
	}
	if (sh("ip -V") != 0) {
		snprintf(why, n, "no ip(8) (iproute2)");
		goto no;
	}
	net_tag = (int)(getpid() % 100000);
	net_octet = 100 + (int)(getpid() % 150);
	for (int k = 0; k < 150 && octet_taken(net_octet); k++)
		net_octet = 100 + (net_octet - 100 + 1) % 150;
	net_guard();
	for (int i = 1; i <= CL_NODES; i++) {
		ns_name(i, ns, sizeof(ns));
		veth_name(i, 'h', h, sizeof(h));
		veth_name(i, 'n', nn, sizeof(nn));
		if (sh("ip netns add %s", ns) != 0 ||
		    sh("ip link add %s type veth peer name %s", h, nn) != 0 ||
		    sh("ip link set %s netns %s", nn, ns) != 0 ||
		    sh("ip addr add 10.%d.%d.1/30 dev %s", net_octet, i, h) !=
			    0 ||
		    sh("ip link set %s up", h) != 0 ||
		    sh("ip -n %s addr add 10.%d.%d.2/30 dev %s", ns, net_octet,
		       i, nn) != 0 ||
		    sh("ip -n %s link set %s up", ns, nn) != 0 ||
		    sh("ip -n %s link set lo up", ns) != 0) {
			snprintf(why, n, "ip could not make namespace %s", ns);
			net_teardown();
			goto no;
		}
	}
	net_up = true;
	return true;
no:
	snprintf(net_why, sizeof(net_why), "%s", why);
	return false;
}

bool
cl_partitions(void)
{
	return net_up;
}

const char *
cl_no_partitions(void)
{
	return net_why;
}

struct pgfix *
cl_server(void)
{
	return &server;
}

int
cl_server_start(char *why, size_t n)
{
	char listen[160] = "", net[32];
	int rc;
	if (net_up) {
		for (int i = 1; i <= CL_NODES; i++)
			snprintf(listen + strlen(listen),
				 sizeof(listen) - strlen(listen),
				 "%s10.%d.%d.1", i > 1 ? "," : "", net_octet,
				 i);
		snprintf(net, sizeof(net), "10.%d.0.0/16", net_octet);
		rc = pgfix_start_tcp(&server, listen, net);
	} else {
		rc = pgfix_start(&server);
	}
	if (rc != 0)
		snprintf(why, n, "%s", server.why);
	server_up = rc == 0;
	return rc;
}

void
cl_server_stop(void)
{
	if (server_up)
		pgfix_stop(&server);
	server_up = false;
}

/* ---- the wrapper and the sampler ---- */

/* The job wrapper: wrap.sh [-r SECS] CMD...; DIR is the scenario's
 * directory.  The lock's descriptor (9) is not passed to the command, so
 * only the wrapper holds it; the command dies with the wrapper
 * (setpriv --pdeathsig), which dies with its jobd. */
static const char wrapper[] =
	"#!/bin/sh\n"
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH\n"
	"d=%s\n"
	"t0=$(date +%%s.%%N)\n"
	"id=${JOBD_JOB_ID:-0} q=${JOBD_QUEUE:-none} a=${JOBD_ATTEMPT:-0}\n"
	"node=${JOBD_NODE:-}\n"
	"if [ -z \"$node\" ]; then\n"
	"  node=$(tr '\\0' '\\n' </proc/$PPID/cmdline | sed -n "
	"'/^-s$/{n;p;q}')\n"
	"fi\n"
	"rerun=\n"
	"if [ \"$1\" = -r ]; then rerun=$2; shift 2; fi\n"
	"mkdir -p \"$d/locks/$q\"\n"
	"lock=\"$d/locks/$q/$id\"\n"
	"if [ -n \"$rerun\" ] && [ -e \"$lock\" ]; then set -- sleep "
	"\"$rerun\"; fi\n"
	"exec 9>>\"$lock\"\n"
	"if ! flock -n 9; then\n"
	"  echo \"$id $a $node $t0 $$\" >>\"$d/DOUBLE_RUN\"\n"
	"fi\n"
	"echo \"start $id $a $node $t0 $$\" >>\"$d/runs.log\"\n"
	"c=\n"
	"trap 'echo \"term $id $a $node $(date +%%s.%%N) $$\" "
	">>\"$d/runs.log\";"
	" [ -n \"$c\" ] && kill -TERM $c 2>/dev/null' TERM\n"
	"setpriv --pdeathsig KILL -- \"$@\" 9>&- &\n"
	"c=$!\n"
	"wait $c; st=$?\n"
	"while kill -0 $c 2>/dev/null; do wait $c; st=$?; done\n"
	"echo \"end $id $a $node $(date +%%s.%%N) $$ $st\" >>\"$d/runs.log\"\n"
	"exit $st\n";

/* Inodes of files under dir/locks/queue that some process holds a flock
 * on, counted against /proc/locks' text. */
static int
held(const char *dir, const char *queue, const char *locks)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/locks/%s", dir, queue);
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char key[48];
		if (e->d_name[0] == '.')
			continue;
		/* "FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE START END" */
		snprintf(key, sizeof(key), ":%llu ",
			 (unsigned long long)e->d_ino);
		for (const char *s = strstr(locks, key); s != NULL;
		     s = strstr(s + 1, key)) {
			const char *bol = s;
			while (bol > locks && bol[-1] != '\n')
				bol--;
			if (strncmp(strchr(bol, ' ') + 1, "FLOCK", 5) == 0 &&
			    strstr(bol, "->") == NULL) {
				n++;
				break;
			}
		}
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* The sampler: every 10 ms, the running count of each queue directory
 * under dir/locks; a line "TIME QUEUE COUNT" to conc.log on each change.
 * Ends with the scenario's process. */
static void __attribute__((noreturn)) sample(const char *dir)
{
	char path[160], qs[16][64];
	int last[16], nq = 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "%s/conc.log", dir);
	FILE *out = fopen(path, "ae");
	if (out == NULL)
		_exit(1);
	for (;;) {
		char lp[160];
		snprintf(lp, sizeof(lp), "%s/locks", dir);
		DIR *d = opendir(lp);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL && nq < 16) {
			bool known = e->d_name[0] == '.';
			for (int i = 0; i < nq && !known; i++)
				known = strcmp(qs[i], e->d_name) == 0;
			if (!known) {
				snprintf(qs[nq], sizeof(qs[nq]), "%.63s",
					 e->d_name);
				last[nq++] = -1;
			}
		}
		if (d != NULL)
			closedir(d);
		char *locks = jd_slurp("/proc/locks");
		double now = cl_wall();
		for (int i = 0; i < nq && locks != NULL; i++) {
			int k = held(dir, qs[i], locks);
			if (k != last[i]) {
				fprintf(out, "%.6f %s %d\n", now, qs[i], k);
				fflush(out);
				last[i] = k;
			}
		}
		free(locks);
		poll(NULL, 0, 10);
	}
}

/* ---- a scenario ---- */

/* c->extra gets extra with each @WRAP@ replaced by the wrapper's path. */
static void
subst_wrap(struct cluster *c, const char *extra)
{
	size_t n = 0;
	while (*extra && n + sizeof(c->wrap) + 1 < sizeof(c->extra)) {
		if (strncmp(extra, "@WRAP@", 6) == 0) {
			n += (size_t)snprintf(c->extra + n,
					      sizeof(c->extra) - n, "%s",
					      c->wrap);
			extra += 6;
		} else {
			c->extra[n++] = *extra++;
		}
	}
	c->extra[n] = '\0';
	ck_assert_msg(*extra == '\0', "config text too long");
}

void
cl_init(struct cluster *c, const char *extra)
{
	static int seq;
	char path[160], conninfo[256];
	memset(c, 0, sizeof(*c));
	ck_assert_msg(server_up, "the cluster's server is not running");
	snprintf(c->dir, sizeof(c->dir), "/tmp/jdc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c->dir));
	chmod(c->dir, 0755);
	jd_guard(c->dir);
	snprintf(c->db, sizeof(c->db), "s%d_%d", (int)getpid(), seq++);
	ck_assert_msg(pgfix_createdb(&server, c->db) == 0, "createdb: %s",
		      server.why);
	snprintf(conninfo, sizeof(conninfo), "%s dbname=%s",
		 pgfix_conninfo(&server), c->db);
	c->pg = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c->pg) == CONNECTION_OK, "%s",
		      PQerrorMessage(c->pg));
	snprintf(c->wrap, sizeof(c->wrap), "%s/wrap.sh", c->dir);
	subst_wrap(c, extra ? extra : "");
	char *text;
	ck_assert_int_ge(asprintf(&text, wrapper, c->dir), 0);
	jd_write_file(c->wrap, text);
	free(text);
	chmod(c->wrap, 0755);
	snprintf(path, sizeof(path), "%s/locks", c->dir);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/runs.log", c->dir);
	jd_write_file(path, "");
	/* A copy: c->dir lies in the struct the names are written into. */
	char base[sizeof(c->dir)];
	memcpy(base, c->dir, sizeof(base));
	_Static_assert(CL_NODES < 10, "node names of one digit");
	for (int i = 1; i <= CL_NODES; i++) {
		struct cl_node *n = &c->n[i];
		n->jd.fd = -1;
		n->jd.next_id = 1;
		n->name[0] = 'n';
		n->name[1] = (char)('0' + i);
		n->name[2] = '\0';
		char nd[sizeof(n->jd.dir)];
		snprintf(nd, sizeof(nd), "%s/%s", base, n->name);
		memcpy(n->jd.dir, nd, sizeof(nd));
		mkdir(nd, 0755);
		snprintf(n->jd.sock, sizeof(n->jd.sock), "%s/jobd.sock", nd);
		snprintf(n->jd.state, sizeof(n->jd.state), "%s/state", nd);
		snprintf(n->jd.conf, sizeof(n->jd.conf), "%s/jobd.conf", nd);
		snprintf(n->jd.log, sizeof(n->jd.log), "%s/jobd.log", nd);
		if (net_up) {
			ns_name(i, n->ns, sizeof(n->ns));
			veth_name(i, 'h', n->veth, sizeof(n->veth));
			snprintf(n->addr, sizeof(n->addr), "10.%d.%d.1",
				 net_octet, i);
			snprintf(conninfo, sizeof(conninfo),
				 "hostaddr=%s port=%d user=jobd dbname=%s "
				 "connect_timeout=10",
				 n->addr, server.port, c->db);
			/* A scenario before may have left it down. */
			sh("ip link set %s up", n->veth);
		} else {
			snprintf(conninfo, sizeof(conninfo),
				 "host=%s port=%d user=jobd dbname=%s "
				 "connect_timeout=10",
				 server.dir, server.port, c->db);
		}
		ck_assert_int_ge(
			asprintf(&text,
				 "[daemon]\nstore = postgres\ndatabase = %s\n"
				 "node_name = n%d\nlease = 6s\n"
				 "rescue_grace = 1s\nkill_grace = 1s\n"
				 "cgroups = off\n\n[queue q]\nconcurrency = "
				 "4\n\n%s",
				 conninfo, i, c->extra),
			0);
		jd_write_file(n->jd.conf, text);
		free(text);
	}
	c->sampler = fork();
	ck_assert_int_ge(c->sampler, 0);
	if (c->sampler == 0)
		sample(c->dir);
}

/* Enters namespace ns (in the child, before exec). */
static void
enter_ns(const char *ns)
{
	char path[96];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
		_exit(126);
	close(fd);
}

void
cl_node_start(struct cluster *c, int i)
{
	struct cl_node *n = &c->n[i];
	const char *bin = getenv("JOBD_BIN");
	if (bin == NULL || *bin == '\0')
		bin = "build/jobd";
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(n->jd.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDWR);
		if (fd < 0 || null < 0)
			_exit(126);
		dup2(fd, 2);
		dup2(null, 0);
		dup2(null, 1);
		if (n->ns[0])
			enter_ns(n->ns);
		execl(bin, bin, "-c", n->jd.conf, "-s", n->jd.sock, "-d",
		      n->jd.state, (char *)NULL);
		_exit(127);
	}
	n->jd.pid = pid;
	double deadline = jd_now() + 20;
	while (jd_now() < deadline) {
		if (!jd_alive(&n->jd)) {
			char *log = jd_slurp(n->jd.log);
			ck_abort_msg("node %s exited at start: %s", n->name,
				     log ? log : "");
		}
		int fd = jd_connect(&n->jd);
		if (fd >= 0) {
			n->jd.fd = fd;
			json_t *r = jd_req(&n->jd, "{s:s}", "cmd", "ping");
			bool ok = json_is_true(json_object_get(r, "ok"));
			json_decref(r);
			if (ok) {
				n->started = cl_wall();
				return;
			}
			jd_close(fd);
			n->jd.fd = -1;
		}
		jd_pause_ms(10);
	}
	ck_abort_msg("node %s did not answer within 20 s", n->name);
}

void
cl_start_all(struct cluster *c)
{
	for (int i = 1; i <= CL_NODES; i++)
		cl_node_start(c, i);
}

void
cl_assert_alive(struct cluster *c, int i)
{
	if (jd_alive(&c->n[i].jd))
		return;
	char *log = jd_slurp(c->n[i].jd.log);
	size_t n = log ? strlen(log) : 0;
	ck_abort_msg("node %s exited: %s", c->n[i].name,
		     log ? log + (n > 600 ? n - 600 : 0) : "");
}

void
cl_node_kill9(struct cluster *c, int i)
{
	struct jd *d = &c->n[i].jd;
	if (d->fd >= 0)
		jd_close(d->fd);
	d->fd = -1;
	jd_kill9(d);
}

int
cl_node_stop(struct cluster *c, int i)
{
	struct jd *d = &c->n[i].jd;
	if (d->fd >= 0)
		jd_close(d->fd);
	d->fd = -1;
	return jd_stop(d);
}

void
cl_partition(struct cluster *c, int i)
{
	ck_assert_msg(net_up, "no partitions here: %s", net_why);
	ck_assert_int_eq(sh("ip link set %s down", c->n[i].veth), 0);
}

void
cl_heal(struct cluster *c, int i)
{
	ck_assert_int_eq(sh("ip link set %s up", c->n[i].veth), 0);
}

json_t *
cl_spec(const struct cluster *c, const char *queue, double rerun,
	const char *const *argv)
{
	json_t *a = json_array();
	json_array_append_new(a, json_string(c->wrap));
	if (rerun >= 0) {
		char s[32];
		snprintf(s, sizeof(s), "%g", rerun);
		json_array_append_new(a, json_string("-r"));
		json_array_append_new(a, json_string(s));
	}
	for (int i = 0; argv[i] != NULL; i++)
		json_array_append_new(a, json_string(argv[i]));
	return json_pack("{s:o,s:s}", "argv", a, "queue", queue);
}

int64_t
cl_submit_sleep(struct cluster *c, int i, const char *queue, double secs,
		double rerun)
{
	char s[32];
	snprintf(s, sizeof(s), "%g", secs);
	const char *const argv[] = {"sleep", s, NULL};
	return jd_submit(&c->n[i].jd, cl_spec(c, queue, rerun, argv));
}

/* The node a runs.log field names: "nK", or a socket path with /nK/. */
static int
node_of(const char *s)
{
	if (s[0] == 'n' && s[1] >= '1' && s[1] <= '9' && s[2] == '\0')
		return s[1] - '0';
	const char *p = strstr(s, "/n");
	while (p != NULL) {
		if (p[2] >= '1' && p[2] <= '9' && p[3] == '/')
			return p[2] - '0';
		p = strstr(p + 1, "/n");
	}
	return 0;
}

struct cl_run *
cl_runs(const struct cluster *c, int *n)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/runs.log", c->dir);
	char *text = jd_slurp(path);
	int cap = 64, k = 0;
	struct cl_run *r = calloc((size_t)cap, sizeof(*r));
	for (char *line = text ? strtok(text, "\n") : NULL; line != NULL;
	     line = strtok(NULL, "\n")) {
		char what[8], node[160];
		long long id;
		int att, pid, st = 0;
		double t;
		int f = sscanf(line, "%7s %lld %d %159s %lf %d %d", what, &id,
			       &att, node, &t, &pid, &st);
		if (f < 6)
			continue;
		if (strcmp(what, "start") == 0) {
			if (k == cap)
				r = realloc(r, sizeof(*r) * (size_t)(cap *= 2));
			r[k++] = (struct cl_run){.id = id,
						 .attempt = att,
						 .node = node_of(node),
						 .pid = pid,
						 .start = t};
			continue;
		}
		for (int j = k - 1; j >= 0; j--) {
			if (r[j].pid != pid || r[j].id != id)
				continue;
			if (strcmp(what, "term") == 0 && r[j].term == 0)
				r[j].term = t;
			else if (strcmp(what, "end") == 0) {
				r[j].end = t;
				r[j].status = st;
			}
			break;
		}
	}
	free(text);
	*n = k;
	return r;
}

struct cl_run
cl_wait_run(const struct cluster *c, long long id, int not, int want,
	    double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	for (;;) {
		int n, seen = 0;
		struct cl_run *r = cl_runs(c, &n), last = {0};
		for (int i = 0; i < n; i++)
			if (r[i].id == id && (not == 0 || r[i].node != not )) {
				seen++;
				last = r[i];
			}
		free(r);
		if (seen >= want)
			return last;
		if (jd_now() > deadline)
			return (struct cl_run){0};
		jd_pause_ms(10);
	}
}

int
cl_conc_max(const struct cluster *c, const char *queue, double since,
	    double *at)
{
	char path[160], q[64];
	snprintf(path, sizeof(path), "%s/conc.log", c->dir);
	char *text = jd_slurp(path);
	int best = 0, k;
	double t;
	for (char *line = text ? strtok(text, "\n") : NULL; line != NULL;
	     line = strtok(NULL, "\n")) {
		if (sscanf(line, "%lf %63s %d", &t, q, &k) != 3 ||
		    strcmp(q, queue) != 0 || t < since)
			continue;
		if (k > best) {
			best = k;
			if (at != NULL)
				*at = t;
		}
	}
	free(text);
	return best;
}

/* Never twice at once: DOUBLE_RUN is empty, and no two runs of one job
 * overlap (a run its node's kill ended has no end line: the lock, which
 * DOUBLE_RUN watches, covers it). */
static void
assert_never_twice(const struct cluster *c)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/DOUBLE_RUN", c->dir);
	char *dbl = jd_slurp(path);
	ck_assert_msg(dbl == NULL || dbl[0] == '\0',
		      "%d times a job ran twice at once (DOUBLE_RUN: id "
		      "attempt node time pid): %.300s",
		      jd_count_lines(path), dbl);
	free(dbl);
	int n;
	struct cl_run *r = cl_runs(c, &n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			if (i == j || r[i].id != r[j].id || r[i].end == 0)
				continue;
			bool overlap = r[j].start >= r[i].start &&
				       r[j].start < r[i].end;
			ck_assert_msg(!overlap,
				      "job %lld: a run started on n%d at "
				      "%.3f while one on n%d ran (%.3f to "
				      "%.3f)",
				      r[i].id, r[j].node, r[j].start, r[i].node,
				      r[i].start, r[i].end);
		}
	free(r);
}

void
cl_stop(struct cluster *c)
{
	if (c->dir[0] == '\0')
		return;
	for (int i = 1; i <= CL_NODES; i++) {
		if (c->n[i].veth[0])
			sh("ip link set %s up", c->n[i].veth);
		if (c->n[i].jd.pid > 0)
			cl_node_stop(c, i);
	}
	if (c->sampler > 0) {
		kill(c->sampler, SIGKILL);
		waitpid(c->sampler, NULL, 0);
		c->sampler = 0;
	}
	if (getenv("JD_SHOW_LOG") != NULL)
		for (int i = 1; i <= CL_NODES; i++) {
			char *log = jd_slurp(c->n[i].jd.log);
			fprintf(stderr, "--- %s ---\n%s\n", c->n[i].name,
				log ? log : "");
			free(log);
		}
	assert_never_twice(c);
	PQfinish(c->pg);
	c->pg = NULL;
	sh("rm -rf '%s'", c->dir);
	c->dir[0] = '\0';
}

/* Runs sql; the result, or fails the test. */
static PGresult *
query(struct cluster *c, const char *fmt, va_list ap)
{
	char *sql;
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	PGresult *r = PQexec(c->pg, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK ||
			      PQresultStatus(r) == PGRES_COMMAND_OK,
		      "%.300s: %s", sql, PQerrorMessage(c->pg));
	free(sql);
	return r;
}

char *
cl_sql(struct cluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PGresult *r = query(c, fmt, ap);
	va_end(ap);
	char *v = PQntuples(r) > 0 && PQnfields(r) > 0
			  ? strdup(PQgetvalue(r, 0, 0))
			  : NULL;
	PQclear(r);
	return v;
}

long long
cl_sql_int(struct cluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PGresult *r = query(c, fmt, ap);
	va_end(ap);
	long long v = PQntuples(r) > 0 && PQnfields(r) > 0
			      ? atoll(PQgetvalue(r, 0, 0))
			      : -1;
	PQclear(r);
	return v;
}

json_t *
cl_wait_done(struct cluster *c, int i, int64_t id, double timeout_s)
{
	double deadline = jd_now() + timeout_s;
	for (;;) {
		json_t *j = jd_get(&c->n[i].jd, id);
		const char *s = jd_str(j, "state");
		if (strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
		    strcmp(s, "cancelled") == 0)
			return j;
		char *txt = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (jd_now() > deadline)
			ck_abort_msg("job %lld not done in %.0f s: %s",
				     (long long)id, timeout_s, txt);
		free(txt);
		jd_pause_ms(20);
	}
}
