/*
 * spawner_suite: the spawner process on a real loop — children started as
 * this process's own, with their output, environment and failures as jobd
 * expects, and a child's peak RSS its own even when the process that asked
 * for it is big.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "await.h"
#include "coro.h"
#include "diag.h"
#include "loop.h"
#include "loopfix.h"
#include "natively.h"
#include "spawner.h"

Suite *spawner_suite(void);

static const char *lost_why;

static void
lost_cb(const char *why)
{
	lost_why = why;
}

static void
setup(void)
{
	loopfix_reset();
	diag_clear();
	lost_why = NULL;
	ck_assert_int_eq(spawner_init(), 0);
	loop_init();
	spawner_watch(lost_cb);
}

static void
teardown(void)
{
	spawner_shutdown();
	loopfix_teardown();
}

/* A spawn of argv with envp (NULL: none), its result and its end. */
struct run {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	bool capture; /* stdout+stderr into a pipe, read here */
	int pid;
	struct spawner_fail f;
	int status;
	struct rusage ru;
	char out[256];
};

static void
run_f(void *arg)
{
	struct run *r = arg;
	static char *const no_env[] = {NULL};
	int p[2] = {-1, -1};
	if (r->capture)
		CO_EXPECT(pipe(p) == 0);
	struct spawner_req q = {
		.argv = r->argv,
		.envp = r->envp ? r->envp : no_env,
		.path = "/usr/bin:/bin",
		.cwd = r->cwd ? r->cwd : "/",
		.out_fd = p[1],
		.err_fd = -1,
	};
	int pidfd = -1;
	r->pid = spawner_spawn(&q, &pidfd, &r->f);
	if (p[1] >= 0)
		close(p[1]);
	if (r->pid > 0) {
		CO_EXPECT(pidfd >= 0);
		CO_EXPECT(await_io(pidfd, EV_READ, 10, false, NULL) == 0);
		CO_EXPECT(wait4(r->pid, &r->status, WNOHANG, &r->ru) == r->pid);
		close(pidfd);
	}
	if (p[0] >= 0) {
		/* The child has ended: what it wrote is in the pipe. */
		ssize_t n = read(p[0], r->out, sizeof(r->out) - 1);
		r->out[n > 0 ? n : 0] = '\0';
		close(p[0]);
	}
}

START_TEST(spawner_exit_and_output)
{
	SKIP_UNDER_VALGRIND("no pidfd_open");
	char *const argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3",
			      NULL};
	struct run r = {.argv = argv, .capture = true};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	ck_assert(WIFEXITED(r.status));
	ck_assert_int_eq(WEXITSTATUS(r.status), 3);
	ck_assert_str_eq(r.out, "out\nerr\n");
	ck_assert_int_gt(r.ru.ru_maxrss, 0);
	ck_assert_ptr_null(lost_why);
}
END_TEST

START_TEST(spawner_env_cwd_and_session)
{
	SKIP_UNDER_VALGRIND("no pidfd_open");
	/* The shell is a session leader (its pid is its session's id) in
	 * the cwd given, with exactly the environment given. */
	char *const argv[] = {
		"sh", "-c",
		"test \"$(ps -o sid= -p $$ | tr -d ' ')\" = $$ && "
		"test \"$PWD\" = /tmp && env | sort | tr '\\n' ' '",
		NULL};
	char *const envp[] = {"A=1", "PWD=/tmp", NULL};
	struct run r = {
		.argv = argv, .envp = envp, .cwd = "/tmp", .capture = true};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
		      "status %#x, output %s", r.status, r.out);
	ck_assert_str_eq(r.out, "A=1 PWD=/tmp ");
}
END_TEST

START_TEST(spawner_parent_is_caller)
{
	SKIP_UNDER_VALGRIND("no pidfd_open");
	/* The child is this process's, not the spawner's. */
	char *const argv[] = {"sh", "-c", "printf %s $PPID", NULL};
	struct run r = {.argv = argv, .capture = true};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	char want[32];
	snprintf(want, sizeof(want), "%d", (int)getpid());
	ck_assert_str_eq(r.out, want);
	ck_assert_int_ne(spawner_pid(), getpid());
}
END_TEST

START_TEST(spawner_signals_reset)
{
	SKIP_UNDER_VALGRIND("no pidfd_open");
	/* The spawner ignores SIGTERM; its children must not. */
	char *const argv[] = {"sh", "-c", "kill -TERM $$; sleep 5", NULL};
	struct run r = {.argv = argv};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM,
		      "status %#x", r.status);
}
END_TEST

START_TEST(spawner_failures)
{
	/* The failure of a CLONE_VFORK child's steps is seen in shared
	 * memory, which a forked copy does not share. */
	SKIP_UNDER_VALGRIND("a vfork child runs as a forked copy");
	char *const missing[] = {"no-such-program-here", NULL};
	struct run r = {.argv = missing};
	loopfix_run(run_f, &r);
	ck_assert_int_eq(r.pid, -1);
	ck_assert_str_eq(r.f.step, "exec");
	ck_assert_int_eq(r.f.err, ENOENT);

	char *const sh[] = {"sh", "-c", "true", NULL};
	struct run c = {.argv = sh, .cwd = "/no/such/dir"};
	loopfix_run(run_f, &c);
	ck_assert_int_eq(c.pid, -1);
	ck_assert_str_eq(c.f.step, "cwd");
	ck_assert_int_eq(c.f.err, ENOENT);
	ck_assert_ptr_null(lost_why);
}
END_TEST

START_TEST(spawner_too_big)
{
	/* Bigger than any exec takes: refused before it is sent. */
	size_t n = 9u << 20;
	char *big = malloc(n + 3);
	memcpy(big, "B=", 2);
	memset(big + 2, 'x', n);
	big[n + 2] = '\0';
	char *const argv[] = {"true", NULL};
	char *const envp[] = {big, NULL};
	struct run r = {.argv = argv, .envp = envp};
	loopfix_run(run_f, &r);
	ck_assert_int_eq(r.pid, -1);
	ck_assert_str_eq(r.f.step, "exec");
	ck_assert_int_eq(r.f.err, E2BIG);
	free(big);
}
END_TEST

START_TEST(spawner_big_request)
{
	SKIP_UNDER_VALGRIND("no pidfd_open");
	/* Larger than the socket's buffer: sent in pieces. */
	size_t n = 100000;
	char *vars[9];
	for (int i = 0; i < 8; i++) {
		vars[i] = malloc(n + 4);
		vars[i][0] = 'V';
		vars[i][1] = (char)('0' + i);
		vars[i][2] = '=';
		memset(vars[i] + 3, 'a' + i, n);
		vars[i][n + 3] = '\0';
	}
	vars[8] = NULL;
	char *const argv[] = {"sh", "-c", "printf %s ${#V0}-${#V7}", NULL};
	struct run r = {.argv = argv, .envp = vars, .capture = true};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	ck_assert_str_eq(r.out, "100000-100000");
	for (int i = 0; i < 8; i++)
		free(vars[i]);
}
END_TEST

START_TEST(spawner_own_peak_rss)
{
	SKIP_UNDER_VALGRIND("its own memory is in every process");
	/* This process grows by 96 MB after the spawner was forked; the
	 * child's peak must not include it. */
	size_t n = 96u << 20;
	char *big = malloc(n);
	ck_assert_ptr_nonnull(big);
	memset(big, 1, n);
	char *const argv[] = {"true", NULL};
	struct run r = {.argv = argv};
	loopfix_run(run_f, &r);
	ck_assert_int_gt(r.pid, 0);
	/* Far below this process's peak (the spawner is this process as
	 * it was before the 96 MB, AddressSanitizer's runtime included). */
	long hwm = 0;
	FILE *st = fopen("/proc/self/status", "r");
	char line[256];
	while (st != NULL && fgets(line, sizeof(line), st) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			hwm = strtol(line + 6, NULL, 10);
	if (st != NULL)
		fclose(st);
	ck_assert_msg(r.ru.ru_maxrss > 0 && r.ru.ru_maxrss < 32 * 1024 &&
			      r.ru.ru_maxrss + 64 * 1024 < hwm,
		      "true reported %ld kB, this process's peak %ld kB",
		      r.ru.ru_maxrss, hwm);
	free(big);
}
END_TEST

START_TEST(spawner_lost_reported)
{
	pid_t sp = spawner_pid();
	ck_assert_int_gt(sp, 0);
	ck_assert_int_eq(kill(sp, SIGKILL), 0);
	char *const argv[] = {"true", NULL};
	struct run r = {.argv = argv};
	loopfix_run(run_f, &r);
	ck_assert_int_eq(r.pid, -1);
	ck_assert_str_eq(r.f.step, "spawner");
	ck_assert_ptr_nonnull(lost_why);
	ck_assert_msg(strstr(lost_why, "killed by signal 9") != NULL, "%s",
		      lost_why);
}
END_TEST

Suite *
spawner_suite(void)
{
	Suite *s = suite_create("spawner");
	TCase *tc = tcase_create("spawn");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, spawner_exit_and_output);
	tcase_add_test(tc, spawner_env_cwd_and_session);
	tcase_add_test(tc, spawner_signals_reset);
	tcase_add_test(tc, spawner_failures);
	tcase_add_test(tc, spawner_too_big);
	tcase_add_test(tc, spawner_big_request);
	tcase_add_test(tc, spawner_parent_is_caller);
	tcase_add_test(tc, spawner_own_peak_rss);
	tcase_add_test(tc, spawner_lost_reported);
	suite_add_tcase(s, tc);
	return s;
}
