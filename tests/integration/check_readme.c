/*
 * readme_suite: the README's quick start and tour, run as printed against a
 * fresh jobd, so they cannot rot.  The quick start's commands must print
 * what the README shows; each tour command must succeed (one that follows
 * or watches may still be running when its few seconds are up).  `jobctl`
 * and `build/jobctl` are small wrappers that name the test's socket.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

Suite *readme_suite(void);

static struct jd D;

/* The indented block that starts at the first indented line after the line
 * holding marker (itself after heading); NULL when missing.  Lines lose
 * their four-space indent; continuation lines (ending in a backslash)
 * are joined.  Caller frees. */
static char *
readme_block(const char *readme, const char *heading, const char *marker)
{
	const char *at = strstr(readme, heading);
	if (at == NULL)
		return NULL;
	if (marker != NULL && (at = strstr(at, marker)) == NULL)
		return NULL;
	/* The first line that starts with four spaces. */
	while ((at = strchr(at, '\n')) != NULL && strncmp(at + 1, "    ", 4))
		at++;
	if (at == NULL)
		return NULL;
	at++;
	size_t cap = strlen(at) + 1, n = 0;
	char *out = malloc(cap);
	while (strncmp(at, "    ", 4) == 0) {
		const char *nl = strchr(at, '\n');
		size_t len = nl ? (size_t)(nl - at) : strlen(at);
		memcpy(out + n, at + 4, len - 4);
		n += len - 4;
		if (n > 0 && out[n - 1] == '\\')
			n--; /* joined with the next line */
		else
			out[n++] = '\n';
		if (nl == NULL)
			break;
		at = nl + 1;
	}
	out[n] = '\0';
	return out;
}

/* Writes an executable file. */
static void
write_exec(const char *path, const char *text)
{
	jd_write_file(path, text);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

/* Runs cmd with /bin/sh in dir; *out gets what it printed (caller frees).
 * A command still running after limit seconds is killed: that counts as
 * success when streaming is set.  Returns the exit status, -2 when
 * killed. */
static int
run_sh(const char *dir, const char *cmd, double limit, char **out)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (chdir(dir) != 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	double deadline = jd_now() + limit;
	bool killed = false;
	for (;;) {
		int left = (int)((deadline - jd_now()) * 1000);
		if (left <= 0 && !killed) {
			kill(-pid, SIGKILL);
			killed = true;
			left = 5000;
		}
		struct pollfd p = {pfd[0], POLLIN, 0};
		int pr = poll(&p, 1, left > 0 ? left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		if (n + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = read(pfd[0], buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* What the command left in its group goes too. */
	kill(-pid, SIGKILL);
	*out = buf;
	if (killed)
		return -2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(readme_quick_start_and_tour)
{
	char *readme = jd_slurp("README.md");
	ck_assert_msg(readme != NULL, "README.md not found from %s",
		      getcwd(NULL, 0));
	struct jd *d = jd_test_start(&D, "[daemon]\nshutdown_timeout = 1\n",
				     NULL, NULL);

	/* The wrappers, and the scripts the tour names. */
	char *work = jd_path(d, "work");
	ck_assert_int_eq(mkdir(work, 0755), 0);
	char path[512], text[1024];
	const char *bin = getenv("JOBCTL_BIN");
	char *abs = realpath(bin ? bin : "build/jobctl", NULL);
	ck_assert_ptr_nonnull(abs);
	snprintf(text, sizeof(text), "#!/bin/sh\nexec %s -s %s \"$@\"\n", abs,
		 d->sock);
	free(abs);
	snprintf(path, sizeof(path), "%s/build", work);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/build/jobctl", work);
	write_exec(path, text);
	snprintf(path, sizeof(path), "%s/bin", work);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/bin/jobctl", work);
	write_exec(path, text);
	const char *scripts[] = {"report", "thumb", "rotate"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", work, scripts[i]);
		write_exec(path, "#!/bin/sh\nexit 0\n");
	}
	snprintf(path, sizeof(path), "%s/bin:%s", work, getenv("PATH"));
	setenv("PATH", path, 1);

	/* Quick start: each "$ command" prints the lines under it. */
	char *quick = readme_block(readme, "## Quick start",
				   "Then, in another terminal:");
	ck_assert_msg(quick != NULL, "no quick start block");
	int nquick = 0;
	for (char *line = quick; line && *line;) {
		ck_assert_msg(strncmp(line, "$ ", 2) == 0,
			      "quick start line is not a command: %s", line);
		char *nl = strchr(line, '\n');
		*nl = '\0';
		char *cmd = line + 2, *want = nl + 1;
		char *next = strstr(want, "$ ");
		while (next && next != want && next[-1] != '\n')
			next = strstr(next + 1, "$ ");
		size_t wn = next ? (size_t)(next - want) : strlen(want);
		char *out;
		int st = run_sh(work, cmd, 20, &out);
		ck_assert_msg(st == 0, "%s: exit %d: %s", cmd, st, out);
		ck_assert_msg(strlen(out) == wn && memcmp(out, want, wn) == 0,
			      "%s printed:\n%s\nthe README shows:\n%.*s", cmd,
			      out, (int)wn, want);
		free(out);
		nquick++;
		line = next;
	}
	ck_assert_int_ge(nquick, 3);

	/* The tour: every command succeeds. */
	char *tour = readme_block(readme, "## A tour", "current directory");
	ck_assert_msg(tour != NULL, "no tour block");
	int ntour = 0;
	for (char *line = tour; line && *line;) {
		char *nl = strchr(line, '\n');
		*nl = '\0';
		bool streams = strstr(line, "logs -f") ||
			       strstr(line, "watch") ||
			       strstr(line, "jobctl top");
		char *out;
		int st = run_sh(work, line, streams ? 3 : 20, &out);
		ck_assert_msg(st == 0 || (streams && st == -2),
			      "%s: exit %d: %s", line, st, out);
		free(out);
		ntour++;
		line = nl + 1;
	}
	ck_assert_int_ge(ntour, 10);

	/* The textfile example's rename dance, in the work directory. */
	char *prom = readme_block(readme, "textfile collector", NULL);
	ck_assert_msg(prom != NULL && strstr(prom, "mv jobd.prom."),
		      "no textfile example");
	char *cmd = strstr(prom, "jobctl stats");
	char *out;
	ck_assert_int_eq(run_sh(work, cmd, 20, &out), 0);
	free(out);
	snprintf(path, sizeof(path), "%s/jobd.prom", work);
	char *metrics = jd_slurp(path);
	ck_assert_msg(metrics && strstr(metrics, "jobd_info"), "no metrics");
	free(metrics);
	free(prom);
	free(tour);
	free(quick);
	free(work);
	free(readme);
}
END_TEST

Suite *
readme_suite(void)
{
	Suite *s = suite_create("readme");
	TCase *tc = tcase_create("readme");
	tcase_add_checked_fixture(tc, NULL, jd_test_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, readme_quick_start_and_tour);
	suite_add_tcase(s, tc);
	return s;
}
