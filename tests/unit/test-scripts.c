/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scripts and child processes: every refusal of trusted_open, the child's
 * environment, exit codes and signals, the timeout with a group that ignores
 * SIGTERM, a flood of output, a daemon keeping the pipe open, PROC_WAIT_GO,
 * the abort flag, script_run's retries and reasons, and hook_dir_list.
 *
 * Runs as root (files must be chowned); the trees live under a fresh
 * mkdtemp() in /var/tmp.  The program is a child subreaper so that the
 * descendants its scripts leave behind are reaped here, and a killed process
 * group can be seen to be gone.  Time bounds are generous: other tests run
 * alongside.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "scripts.h"

#define MSEC 1000000ull
#define SEC (1000 * MSEC)
#define TEN_MIB (10u * 1024 * 1024)

static char base[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * (long)MSEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* BASE/FMT..., malloc'd. */
static char *at_base(const char *fmt, ...) _printf_(1, 2);
static char *at_base(const char *fmt, ...)
{
	char *rel, *path;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&rel, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&path, "%s/%s", base, rel) >= 0);
	free(rel);
	return path;
}

static void make_dir(const char *path, mode_t mode)
{
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(content);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* A "#!/bin/sh" script BASE/NAME with BODY, mode 0700; the path is malloc'd. */
static char *make_script(const char *name, const char *body)
{
	char *path = at_base("%s", name), *content;

	assert_true(asprintf(&content, "#!/bin/sh\n%s", body) >= 0);
	write_file(path, content, 0700);
	free(content);
	return path;
}

static int open_script(const char *path)
{
	char *reason = NULL;
	int fd = trusted_open(path, TRUST_SCRIPT, &reason);

	if (fd < 0)
		print_error("trusted_open(%s): %d %s\n", path, fd, reason ? reason : "(null)");
	assert_true(fd >= 0);
	assert_null(reason);
	return fd;
}

static void expect_refusal(const char *path, enum trust_kind kind, int err, const char *words)
{
	char *reason = NULL;
	int r = trusted_open(path, kind, &reason);

	if (r >= 0)
		close(r);
	if (r != -err || !reason || !strstr(reason, words))
		print_error("trusted_open(%s): %d \"%s\", expected %d with \"%s\"\n", path, r,
			    reason ? reason : "(null)", -err, words);
	assert_int_equal(r, -err);
	assert_non_null(reason);
	assert_non_null(strstr(reason, words));
	assert_null(strchr(reason, '\n'));
	free(reason);
}

static void expect_trusted(const char *path, enum trust_kind kind)
{
	char *reason = NULL;
	int fd = trusted_open(path, kind, &reason);

	if (fd < 0)
		print_error("trusted_open(%s): %d %s\n", path, fd, reason ? reason : "(null)");
	assert_true(fd >= 0);
	assert_null(reason);
	/* read-only, close-on-exec, blocking */
	assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

/* Run the script at PATH through its checked fd and wait for it. */
static void run_fd(int fd, char *const argv[], char *const env_add[], uint64_t timeout_ms,
		   uint64_t grace_ms, const _Atomic bool *abort_flag, struct proc_result *res,
		   pid_t *ret_pgid)
{
	struct proc *p = NULL;

	assert_int_equal(proc_spawn(fd, argv, env_add, 0, &p), 0);
	assert_non_null(p);
	if (ret_pgid)
		*ret_pgid = proc_pgid(p);
	if (grace_ms)
		proc_set_kill_grace(p, grace_ms);
	assert_int_equal(proc_wait(p, timeout_ms, abort_flag, res), 0);
	assert_non_null(res->output);
	assert_int_equal(strlen(res->output), res->output_len);
}

static void run_body(const char *name, const char *body, uint64_t timeout_ms, uint64_t grace_ms,
		     const _Atomic bool *abort_flag, struct proc_result *res, pid_t *ret_pgid)
{
	char *path = make_script(name, body);
	char *argv[] = { path, NULL };
	int fd = open_script(path);

	run_fd(fd, argv, NULL, timeout_ms, grace_ms, abort_flag, res, ret_pgid);
	close(fd);
	free(path);
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Every process of group PGID is gone (and reaped), within 10 s. */
static void assert_group_gone(pid_t pgid)
{
	uint64_t until = now_ns() + 10 * SEC;

	for (;;) {
		reap_orphans();
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return;
		if (now_ns() > until)
			break;
		sleep_ms(20);
	}
	fail_msg("process group %d still has members", (int)pgid);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int setup_base(void **state)
{
	snprintf(base, sizeof(base), "/var/tmp/freezeshim-test-scripts-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	return 0;
}

static int remove_base(void **state)
{
	reap_orphans();
	return nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* ---- trusted_open -------------------------------------------------------- */

static void test_trusted_ok(void **state)
{
	char *dir = at_base("ok"), *script = at_base("ok/pre.sh"), *conf = at_base("ok/a.conf");

	make_dir(dir, 0755);
	write_file(script, "#!/bin/sh\n", 0700);
	write_file(conf, "x=1\n", 0600);
	expect_trusted(script, TRUST_SCRIPT);
	expect_trusted(conf, TRUST_CONFIG);
	expect_trusted(conf, TRUST_CONFIG_PRIVATE);
	/* a reason pointer is optional */
	assert_int_equal(trusted_open("/nonexistent/freezeshim-test", TRUST_SCRIPT, NULL),
			 -ENOENT);
	free(dir);
	free(script);
	free(conf);
}

static void test_trusted_missing(void **state)
{
	char *file = at_base("missing.sh"), *in_dir = at_base("no-such-dir/pre.sh");
	char *reason = NULL;

	expect_refusal(file, TRUST_SCRIPT, ENOENT, "does not exist");
	expect_refusal(in_dir, TRUST_SCRIPT, ENOENT, "does not exist");
	assert_int_equal(trusted_open(in_dir, TRUST_SCRIPT, &reason), -ENOENT);
	assert_non_null(strstr(reason, "no-such-dir"));
	free(reason);
	free(file);
	free(in_dir);
}

static void test_trusted_wrong_owner(void **state)
{
	char *file = at_base("owner.sh"), *dir = at_base("owned-dir"), *in_dir;

	write_file(file, "#!/bin/sh\n", 0700);
	assert_int_equal(chown(file, 65534, 65534), 0);
	expect_refusal(file, TRUST_SCRIPT, EPERM, "owned by uid 65534, must be root");
	expect_refusal(file, TRUST_CONFIG, EPERM, "chown root:");

	/* a directory on the way owned by someone else */
	make_dir(dir, 0755);
	in_dir = at_base("owned-dir/pre.sh");
	write_file(in_dir, "#!/bin/sh\n", 0700);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	expect_refusal(in_dir, TRUST_SCRIPT, EPERM, "owned by uid 65534");
	free(file);
	free(dir);
	free(in_dir);
}

static void test_trusted_modes(void **state)
{
	char *file = at_base("mode.sh"), *words;

	write_file(file, "#!/bin/sh\n", 0755);
	assert_true(asprintf(&words, "mode 0755 gives group or other access; run chmod 0700 %s",
			     file) >= 0);
	expect_refusal(file, TRUST_SCRIPT, EPERM, words);
	free(words);

	assert_int_equal(chmod(file, 0710), 0);
	expect_refusal(file, TRUST_SCRIPT, EPERM, "mode 0710");
	assert_int_equal(chmod(file, 0600), 0);
	expect_refusal(file, TRUST_SCRIPT, EPERM, "not executable by its owner");

	/* configuration: readable by others is fine unless private, writable never */
	assert_int_equal(chmod(file, 0644), 0);
	expect_trusted(file, TRUST_CONFIG);
	expect_refusal(file, TRUST_CONFIG_PRIVATE, EPERM, "mode 0644 gives group or other access");
	expect_refusal(file, TRUST_CONFIG_PRIVATE, EPERM, "chmod 0600");
	assert_int_equal(chmod(file, 0664), 0);
	expect_refusal(file, TRUST_CONFIG, EPERM, "mode 0664 lets group or other write it");
	assert_int_equal(chmod(file, 0646), 0);
	expect_refusal(file, TRUST_CONFIG, EPERM, "chmod go-w");
	assert_int_equal(chmod(file, 0600), 0);
	expect_trusted(file, TRUST_CONFIG_PRIVATE);
	free(file);
}

static void test_trusted_symlinks(void **state)
{
	char *target = at_base("target.sh"), *link = at_base("link.sh");
	char *real = at_base("real-dir"), *real_file = at_base("real-dir/pre.sh");
	char *dir_link = at_base("dir-link"), *via_link = at_base("dir-link/pre.sh");

	write_file(target, "#!/bin/sh\n", 0700);
	assert_int_equal(symlink(target, link), 0);
	expect_trusted(target, TRUST_SCRIPT);
	expect_refusal(link, TRUST_SCRIPT, EPERM, "is a symlink; give the real path");
	expect_refusal(link, TRUST_CONFIG, EPERM, "is a symlink");

	make_dir(real, 0755);
	write_file(real_file, "#!/bin/sh\n", 0700);
	assert_int_equal(symlink("real-dir", dir_link), 0);
	expect_trusted(real_file, TRUST_SCRIPT);
	expect_refusal(via_link, TRUST_SCRIPT, EPERM, "is a symlink");
	expect_refusal(via_link, TRUST_SCRIPT, EPERM, "dir-link");
	free(target);
	free(link);
	free(real);
	free(real_file);
	free(dir_link);
	free(via_link);
}

static void test_trusted_directories(void **state)
{
	char *open_dir = at_base("world"), *open_file = at_base("world/pre.sh");
	char *group_dir = at_base("group"), *group_file = at_base("group/pre.sh");
	char *sticky = at_base("sticky"), *sticky_file = at_base("sticky/pre.sh");

	make_dir(open_dir, 0777);
	write_file(open_file, "#!/bin/sh\n", 0700);
	expect_refusal(open_file, TRUST_SCRIPT, EPERM,
		       "writable by group or others and not sticky");
	expect_refusal(open_file, TRUST_CONFIG, EPERM, "run chmod go-w");

	make_dir(group_dir, 0770);
	write_file(group_file, "#!/bin/sh\n", 0700);
	expect_refusal(group_file, TRUST_SCRIPT, EPERM, "writable by group");

	/* like /tmp */
	make_dir(sticky, 01777);
	write_file(sticky_file, "#!/bin/sh\n", 0700);
	expect_trusted(sticky_file, TRUST_SCRIPT);
	free(open_dir);
	free(open_file);
	free(group_dir);
	free(group_file);
	free(sticky);
	free(sticky_file);
}

static void test_trusted_paths(void **state)
{
	char *dir = at_base("paths"), *file = at_base("paths/pre.sh");
	char *dotdot = at_base("paths/../paths/pre.sh"), *trailing = at_base("paths/");
	char *double_slash = at_base("paths//pre.sh");

	make_dir(dir, 0755);
	write_file(file, "#!/bin/sh\n", 0700);
	expect_refusal("pre.sh", TRUST_SCRIPT, EINVAL, "not an absolute path");
	expect_refusal("etc/freezeshim/pre.sh", TRUST_CONFIG, EINVAL, "not an absolute path");
	expect_refusal("", TRUST_SCRIPT, EINVAL, "not an absolute path");
	expect_refusal(dotdot, TRUST_SCRIPT, EINVAL, "\"..\"");
	expect_refusal(trailing, TRUST_SCRIPT, EINVAL, "does not name a file");
	expect_refusal("/", TRUST_SCRIPT, EINVAL, "does not name a file");
	expect_trusted(double_slash, TRUST_SCRIPT);
	free(dir);
	free(file);
	free(dotdot);
	free(trailing);
	free(double_slash);
}

static void test_trusted_not_regular(void **state)
{
	char *dir = at_base("a-dir"), *fifo = at_base("a-fifo"), *through_file;
	char *file = at_base("a-file");

	make_dir(dir, 0700);
	expect_refusal(dir, TRUST_SCRIPT, EPERM, "is not a regular file");
	/* must not block in open() */
	assert_int_equal(mkfifo(fifo, 0700), 0);
	expect_refusal(fifo, TRUST_SCRIPT, EPERM, "is not a regular file");
	expect_refusal("/dev/null", TRUST_CONFIG, EPERM, "is not a regular file");
	/* a file where a directory should be */
	write_file(file, "", 0600);
	through_file = at_base("a-file/pre.sh");
	expect_refusal(through_file, TRUST_SCRIPT, ENOENT, "is not a directory");
	free(dir);
	free(fifo);
	free(file);
	free(through_file);
}

/* ---- proc_spawn / proc_wait ---------------------------------------------- */

static void test_proc_exit_status(void **state)
{
	struct proc_result res = {};

	run_body("exit3.sh", "echo hello\necho err >&2\nexit 3\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 3);
	assert_int_equal(res.signal, 0);
	assert_false(res.timed_out);
	assert_false(res.aborted);
	assert_false(res.spawn_failed);
	assert_string_equal(res.output, "hello\nerr\n");
	assert_int_equal(res.output_total, 10);
	proc_result_clear(&res);
	assert_null(res.output);

	run_body("exit0.sh", "exit 0\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.output, "");
	assert_int_equal(res.output_len, 0);
	assert_int_equal(res.output_total, 0);
	proc_result_clear(&res);
}

static void test_proc_signal(void **state)
{
	struct proc_result res = {};

	run_body("kill9.sh", "echo before\nkill -9 $$\necho after\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 128 + SIGKILL);
	assert_int_equal(res.signal, SIGKILL);
	assert_false(res.timed_out);
	assert_string_equal(res.output, "before\n");
	proc_result_clear(&res);
}

/* Dispositions and mask reset, stdin /dev/null, cwd /, no inherited descriptor. */
static void test_proc_child_setup(void **state)
{
	struct proc_result res = {};
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_usr1;
	sigset_t usr2, old_mask;
	int leak = open("/dev/null", O_RDONLY);

	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 200), 200);  /* not close-on-exec */
	close(leak);
	assert_int_equal(sigaction(SIGUSR1, &ign, &old_usr1), 0);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr2, &old_mask), 0);
	assert_int_equal(chdir(base), 0);

	run_body("setup.sh",
		 "cat\n"
		 "pwd\n"
		 "[ -e /proc/$$/fd/200 ] && echo leaked-fd\n"
		 "echo end\n",
		 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.output, "/\nend\n");
	proc_result_clear(&res);

	run_body("usr1.sh", "kill -USR1 $$\necho survived\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 128 + SIGUSR1);
	proc_result_clear(&res);
	run_body("usr2.sh", "kill -USR2 $$\necho survived\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 128 + SIGUSR2);
	proc_result_clear(&res);

	assert_int_equal(chdir("/"), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
	close(200);
}

/* The shell and its child ignore SIGTERM: SIGKILL after the grace ends the whole group. */
static void test_proc_timeout_group(void **state)
{
	struct proc_result res = {};
	pid_t pgid = -1;

	run_body("ignore-term.sh",
		 "trap '' TERM\n"
		 "sleep 100 &\n"
		 "echo ready\n"
		 "wait\n"
		 "echo after-wait\n",
		 2000, 300, NULL, &res, &pgid);
	assert_true(res.timed_out);
	assert_false(res.aborted);
	assert_string_equal(res.output, "ready\n");
	assert_int_equal(res.status, 128 + SIGKILL);
	assert_int_equal(res.signal, SIGKILL);
	/* killed at the timeout plus the grace, not before, and not much later */
	assert_true(res.duration_ns >= 2300 * MSEC);
	assert_true(res.duration_ns < 2300 * MSEC + 8 * SEC);
	assert_group_gone(pgid);
	proc_result_clear(&res);
}

/* A group that dies at SIGTERM is not waited for until the end of the grace. */
static void test_proc_timeout_term(void **state)
{
	struct proc_result res = {};
	pid_t pgid = -1;

	run_body("sleeper.sh", "echo sleeping\nsleep 100\n", 1000, 0, NULL, &res, &pgid);
	assert_true(res.timed_out);
	assert_int_equal(res.status, 128 + SIGTERM);
	assert_true(res.duration_ns >= 1000 * MSEC);
	assert_true(res.duration_ns < 1000 * MSEC + 4 * SEC);  /* the grace is 5 s */
	assert_group_gone(pgid);
	proc_result_clear(&res);
}

static void test_proc_big_output(void **state)
{
	struct proc_result res = {};
	const char marker[] = "MARKER\n";
	size_t m = strlen(marker);
	uint64_t start = now_ns();

	run_body("flood.sh", "head -c 10485760 /dev/zero | tr '\\0' x\necho MARKER\n",
		 120000, 0, NULL, &res, NULL);
	assert_false(res.timed_out);
	assert_int_equal(res.status, 0);
	assert_true(now_ns() - start < 60 * SEC);
	assert_int_equal(res.output_total, TEN_MIB + m);
	assert_int_equal(res.output_len, PROC_OUTPUT_TAIL);
	assert_int_equal(strlen(res.output), PROC_OUTPUT_TAIL);
	assert_memory_equal(res.output + PROC_OUTPUT_TAIL - m, marker, m);
	for (size_t i = 0; i < PROC_OUTPUT_TAIL - m; i++)
		if (res.output[i] != 'x')
			fail_msg("byte %zu of the tail is 0x%02x", i, (unsigned char)res.output[i]);
	proc_result_clear(&res);
}

/* The tail is exactly the last 64 KiB, in order, also across the ring's wrap. */
static void test_proc_tail_order(void **state)
{
	struct proc_result res = {};
	char *expected = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&expected, &len);

	/* 20000 numbered lines: about 128 KiB, written in several pieces */
	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %06d\n", i);
	fclose(f);
	assert_true(len > 2 * PROC_OUTPUT_TAIL);

	run_body("lines.sh", "i=0\nwhile [ $i -lt 20000 ]; do printf 'line %06d\\n' $i; "
		 "i=$((i + 1)); done\n", 120000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.output_total, len);
	assert_int_equal(res.output_len, PROC_OUTPUT_TAIL);
	assert_memory_equal(res.output, expected + len - PROC_OUTPUT_TAIL, PROC_OUTPUT_TAIL);
	free(expected);
	proc_result_clear(&res);
}

/* A daemon left behind with the output pipe: not waited for beyond about 1 s. */
static void test_proc_daemon_keeps_pipe(void **state)
{
	struct proc_result res = {};
	uint64_t start = now_ns(), elapsed;
	pid_t pgid = -1;

	run_body("daemon.sh", "sleep 60 &\necho started\nexit 0\n", 30000, 0, NULL, &res, &pgid);
	elapsed = now_ns() - start;
	assert_int_equal(res.status, 0);
	assert_false(res.timed_out);
	assert_string_equal(res.output, "started\n");
	assert_true(elapsed >= 900 * MSEC);
	assert_true(elapsed < 4 * SEC);
	/* and it was left alone */
	assert_int_equal(kill(-pgid, 0), 0);
	assert_int_equal(kill(-pgid, SIGKILL), 0);
	assert_group_gone(pgid);
	proc_result_clear(&res);
}

/* Output a descendant writes after the script exited is kept, until EOF. */
static void test_proc_late_output(void **state)
{
	struct proc_result res = {};

	run_body("late.sh", "(sleep 0.05; echo late) &\necho early\n", 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.output, "early\nlate\n");
	proc_result_clear(&res);
}

static void test_proc_wait_go(void **state)
{
	char *marker = at_base("go-marker"), *body, *path;
	struct proc_result res = {};
	struct proc *p = NULL;
	char *argv[2] = { NULL, NULL };
	int fd;

	assert_true(asprintf(&body, "touch %s\n", marker) >= 0);
	path = make_script("go.sh", body);
	argv[0] = path;
	fd = open_script(path);

	/* killed before the go: never runs */
	assert_int_equal(proc_spawn(fd, argv, NULL, PROC_WAIT_GO, &p), 0);
	sleep_ms(300);
	assert_int_equal(access(marker, F_OK), -1);
	proc_kill(p);
	assert_int_equal(access(marker, F_OK), -1);

	/* runs at the go only */
	assert_int_equal(proc_spawn(fd, argv, NULL, PROC_WAIT_GO, &p), 0);
	sleep_ms(300);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(proc_go(p), 0);
	assert_int_equal(proc_go(p), 0);  /* once is enough */
	assert_int_equal(proc_wait(p, 30000, NULL, &res), 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(access(marker, F_OK), 0);
	proc_result_clear(&res);
	assert_int_equal(unlink(marker), 0);

	/* proc_wait lets a waiting child go */
	assert_int_equal(proc_spawn(fd, argv, NULL, PROC_WAIT_GO, &p), 0);
	assert_int_equal(proc_wait(p, 30000, NULL, &res), 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(access(marker, F_OK), 0);
	proc_result_clear(&res);

	close(fd);
	free(marker);
	free(body);
	free(path);
}

struct abort_later {
	_Atomic bool *flag;
	unsigned ms;
};

static void *set_abort_later(void *arg)
{
	struct abort_later *a = arg;

	sleep_ms(a->ms);
	atomic_store(a->flag, true);
	return NULL;
}

static void test_proc_abort(void **state)
{
	struct proc_result res = {};
	_Atomic bool flag = false;
	struct abort_later later = { .flag = &flag, .ms = 300 };
	uint64_t start = now_ns();
	pthread_t t;
	pid_t pgid = -1;

	assert_int_equal(pthread_create(&t, NULL, set_abort_later, &later), 0);
	run_body("abort.sh", "sleep 100 &\nsleep 100\n", 60000, 0, &flag, &res, &pgid);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(res.aborted);
	assert_false(res.timed_out);
	assert_int_equal(res.status, 128 + SIGKILL);
	assert_true(now_ns() - start < 10 * SEC);
	assert_group_gone(pgid);
	proc_result_clear(&res);

	/* already set: killed at once */
	start = now_ns();
	run_body("abort2.sh", "sleep 100\n", 0, 0, &flag, &res, &pgid);
	assert_true(res.aborted);
	assert_int_equal(res.status, 128 + SIGKILL);
	assert_true(now_ns() - start < 5 * SEC);
	assert_group_gone(pgid);
	proc_result_clear(&res);
}

static void test_proc_exec_errors(void **state)
{
	struct proc_result res = {};
	struct proc *p = NULL;
	char *argv[] = { "/nonexistent/freezeshim-test", NULL };
	char *relative[] = { "true", NULL };
	char *bad_env[] = { "NO_EQUALS_SIGN", NULL };

	/* no "#!" and no ELF */
	{
		char *path = at_base("plain.txt");
		char *pargv[] = { path, NULL };
		int fd;

		write_file(path, "echo hi\n", 0700);
		fd = open_script(path);
		run_fd(fd, pargv, NULL, 30000, 0, NULL, &res, NULL);
		assert_true(res.spawn_failed);
		assert_int_equal(res.spawn_errno, ENOEXEC);
		assert_int_equal(res.status, 127);
		proc_result_clear(&res);
		close(fd);
		free(path);
	}

	/* by path */
	assert_int_equal(proc_spawn(-1, argv, NULL, 0, &p), 0);
	assert_int_equal(proc_wait(p, 30000, NULL, &res), 0);
	assert_true(res.spawn_failed);
	assert_int_equal(res.spawn_errno, ENOENT);
	proc_result_clear(&res);

	p = NULL;
	assert_int_equal(proc_spawn(-1, relative, NULL, 0, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(proc_spawn(-1, argv, bad_env, 0, &p), -EINVAL);
	assert_null(p);
}

/* What runs is the file that was checked, even if the path was replaced since. */
static void test_proc_runs_checked_file(void **state)
{
	char *path = make_script("swap.sh", "echo original\n");
	char *other = make_script("swap-new.sh", "echo replaced\n");
	char *argv[] = { path, NULL };
	struct proc_result res = {};
	int fd = open_script(path);

	assert_int_equal(rename(other, path), 0);
	run_fd(fd, argv, NULL, 30000, 0, NULL, &res, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.output, "original\n");
	proc_result_clear(&res);
	close(fd);
	free(path);
	free(other);
}

/* ENV_ADD replaces our variable of the same name: one entry, not two (a shell would hide it). */
static void test_proc_env_by_path(void **state)
{
	char *argv[] = { "/usr/bin/env", NULL };
	char *env_add[] = { "FRZ_TEST_OVERRIDE=new", "FRZ_TEST_ADDED=1", NULL };
	struct proc_result res = {};
	struct proc *p = NULL;

	assert_int_equal(setenv("FRZ_TEST_OVERRIDE", "old", 1), 0);
	assert_int_equal(setenv("FRZ_TEST_OVERRIDE_NOT", "kept", 1), 0);
	assert_int_equal(proc_spawn(-1, argv, env_add, 0, &p), 0);
	assert_int_equal(proc_wait(p, 30000, NULL, &res), 0);
	assert_int_equal(res.status, 0);
	assert_non_null(strstr(res.output, "\nFRZ_TEST_OVERRIDE=new\n"));
	assert_null(strstr(res.output, "FRZ_TEST_OVERRIDE=old"));
	assert_non_null(strstr(res.output, "FRZ_TEST_OVERRIDE_NOT=kept\n"));
	assert_non_null(strstr(res.output, "FRZ_TEST_ADDED=1\n"));
	proc_result_clear(&res);
	unsetenv("FRZ_TEST_OVERRIDE");
	unsetenv("FRZ_TEST_OVERRIDE_NOT");
}

/* ---- script_run ---------------------------------------------------------- */

static char *make_counter_script(const char *name, const char *counter)
{
	char *body, *path;

	assert_true(asprintf(&body,
			     "n=$(cat %s 2>/dev/null || echo 0)\n"
			     "n=$((n + 1))\n"
			     "echo $n > %s\n"
			     "echo attempt $n\n"
			     "[ $n -ge 3 ] || exit 4\n",
			     counter, counter) >= 0);
	path = make_script(name, body);
	free(body);
	return path;
}

static void test_script_retries(void **state)
{
	char *counter = at_base("counter"), *path = make_counter_script("retry.sh", counter);
	struct script_run run;

	script_run(path, NULL, NULL, 30000, 2, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_OK);
	assert_string_equal(script_outcome_to_string(run.outcome), "ok");
	assert_int_equal(run.attempts, 3);
	assert_null(run.reason);
	assert_string_equal(run.path, path);
	assert_int_equal(run.last.status, 0);
	assert_string_equal(run.last.output, "attempt 3\n");
	assert_true(run.duration_ns >= run.last.duration_ns);
	script_run_clear(&run);
	assert_null(run.path);

	assert_int_equal(unlink(counter), 0);
	script_run(path, NULL, NULL, 30000, 1, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_FAILED);
	assert_string_equal(script_outcome_to_string(run.outcome), "failed");
	assert_int_equal(run.attempts, 2);
	assert_string_equal(run.reason, "exited with status 4 (attempt 2 of 2)");
	assert_string_equal(run.last.output, "attempt 2\n");
	script_run_clear(&run);

	assert_int_equal(unlink(counter), 0);
	script_run(path, NULL, NULL, 30000, 0, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_FAILED);
	assert_string_equal(run.reason, "exited with status 4");
	assert_int_equal(run.attempts, 1);
	script_run_clear(&run);
	free(counter);
	free(path);
}

static void test_script_params_env(void **state)
{
	char *path = make_script("params.sh",
				 "printf '<%s>' \"$@\"\n"
				 "echo\n"
				 "echo \"added=$FRZ_TEST_ADDED\"\n"
				 "echo \"override=$FRZ_TEST_OVERRIDE\"\n"
				 "env | grep -c '^FRZ_TEST_OVERRIDE='\n"
				 "echo \"kept=$FRZ_TEST_KEPT\"\n");
	char *args[] = { "one", "two words", "", NULL };
	char *env_add[] = { "FRZ_TEST_ADDED=added value", "FRZ_TEST_OVERRIDE=new", NULL };
	struct script_run run;

	assert_int_equal(setenv("FRZ_TEST_OVERRIDE", "old", 1), 0);
	assert_int_equal(setenv("FRZ_TEST_KEPT", "ours", 1), 0);
	script_run(path, args, env_add, 30000, 0, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_OK);
	assert_string_equal(run.last.output, "<one><two words><>\n"
					     "added=added value\n"
					     "override=new\n"
					     "1\n"
					     "kept=ours\n");
	script_run_clear(&run);
	unsetenv("FRZ_TEST_OVERRIDE");
	unsetenv("FRZ_TEST_KEPT");
	free(path);
}

static void test_script_outcomes(void **state)
{
	char *missing = at_base("absent.sh"), *insecure = make_script("open.sh", "exit 0\n");
	char *sleeper = make_script("slow.sh", "sleep 100\n");
	char *killer = make_script("suicide.sh", "kill -9 $$\n");
	char *plain = at_base("plain-text.sh"), *no_interp = at_base("no-interp.sh");
	struct script_run run;

	script_run(missing, NULL, NULL, 30000, 3, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_MISSING);
	assert_string_equal(script_outcome_to_string(run.outcome), "missing");
	assert_int_equal(run.attempts, 0);
	assert_string_equal(run.reason, "does not exist");
	script_run_clear(&run);

	assert_int_equal(chmod(insecure, 0755), 0);
	script_run(insecure, NULL, NULL, 30000, 3, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_INSECURE);
	assert_string_equal(script_outcome_to_string(run.outcome), "insecure");
	assert_int_equal(run.attempts, 0);
	assert_non_null(strstr(run.reason, "chmod 0700"));
	script_run_clear(&run);

	script_run("relative.sh", NULL, NULL, 30000, 0, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_INSECURE);
	script_run_clear(&run);

	script_run(sleeper, NULL, NULL, 500, 1, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_TIMEOUT);
	assert_string_equal(script_outcome_to_string(run.outcome), "timeout");
	assert_int_equal(run.attempts, 2);
	assert_string_equal(run.reason, "killed after the 0.5 s script timeout (attempt 2 of 2)");
	assert_true(run.last.timed_out);
	assert_true(run.duration_ns >= 1000 * MSEC);
	script_run_clear(&run);

	script_run(killer, NULL, NULL, 30000, 0, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_FAILED);
	assert_string_equal(run.reason, "killed by signal 9 (SIGKILL)");
	script_run_clear(&run);

	write_file(plain, "echo no interpreter line\n", 0700);
	script_run(plain, NULL, NULL, 30000, 2, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_ERROR);
	assert_string_equal(script_outcome_to_string(run.outcome), "error");
	assert_int_equal(run.attempts, 1);
	assert_true(run.last.spawn_failed);
	assert_non_null(strstr(run.reason, "could not be executed"));
	script_run_clear(&run);

	write_file(no_interp, "#!/nonexistent/freezeshim-interpreter\n", 0700);
	script_run(no_interp, NULL, NULL, 30000, 0, NULL, &run);
	assert_int_equal(run.outcome, SCRIPT_ERROR);
	assert_non_null(strstr(run.reason, "interpreter"));
	script_run_clear(&run);

	assert_string_equal(script_outcome_to_string(SCRIPT_NOT_RUN), "not-run");
	free(missing);
	free(insecure);
	free(sleeper);
	free(killer);
	free(plain);
	free(no_interp);
}

/* ---- hook_dir_list ------------------------------------------------------- */

static void test_hook_dir(void **state)
{
	static const char *const ignored[] = {
		".hidden", "old~", "x.dpkg-old", "x.dpkg-dist", "x.dpkg-new",
		"y.rpmnew", "y.rpmsave", "y.rpmorig",
	};
	char *dir = at_base("hooks.d"), *dir_slash = at_base("hooks.d/");
	char *missing = at_base("no-hooks.d"), *sub, *fifo, *link, *reason = NULL;
	struct ptrvec paths = {};
	char *expected[3];

	make_dir(dir, 0755);
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++) {
		char *f = at_base("hooks.d/%s", ignored[i]);

		write_file(f, "#!/bin/sh\n", 0700);
		free(f);
	}
	expected[0] = at_base("hooks.d/10-a");
	expected[1] = at_base("hooks.d/15-link");
	expected[2] = at_base("hooks.d/20-b");
	write_file(expected[2], "#!/bin/sh\n", 0700);
	write_file(expected[0], "#!/bin/sh\n", 0700);
	assert_int_equal(symlink(expected[0], expected[1]), 0);
	sub = at_base("hooks.d/12-sub");
	make_dir(sub, 0700);
	fifo = at_base("hooks.d/13-fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(hook_dir_list(dir, &paths, &reason), 0);
	assert_null(reason);
	assert_int_equal(paths.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(paths.items[i], expected[i]);
	ptrvec_free_items(&paths);

	/* the same through a trailing slash; appended to what is there */
	assert_int_equal(ptrvec_push(&paths, strdup("first")), 0);
	assert_int_equal(hook_dir_list(dir_slash, &paths, &reason), 0);
	assert_int_equal(paths.n, 4);
	assert_string_equal(paths.items[0], "first");
	assert_string_equal(paths.items[3], expected[2]);
	ptrvec_free_items(&paths);

	/* the listed symlink is refused when opened */
	link = expected[1];
	expect_refusal(link, TRUST_SCRIPT, EPERM, "is a symlink");

	assert_int_equal(hook_dir_list(missing, &paths, &reason), -ENOENT);
	assert_non_null(reason);
	free(reason);
	reason = NULL;
	assert_int_equal(paths.n, 0);

	assert_int_equal(hook_dir_list("hooks.d", &paths, &reason), -EINVAL);
	free(reason);
	reason = NULL;

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(hook_dir_list(dir, &paths, &reason), -EPERM);
	assert_non_null(strstr(reason, "writable by group or others"));
	free(reason);
	reason = NULL;
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(hook_dir_list(dir, &paths, &reason), -EPERM);
	assert_non_null(strstr(reason, "owned by uid 65534"));
	free(reason);
	assert_int_equal(paths.n, 0);

	for (size_t i = 0; i < 3; i++)
		free(expected[i]);
	free(dir);
	free(dir_slash);
	free(missing);
	free(sub);
	free(fifo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trusted_ok),
		cmocka_unit_test(test_trusted_missing),
		cmocka_unit_test(test_trusted_wrong_owner),
		cmocka_unit_test(test_trusted_modes),
		cmocka_unit_test(test_trusted_symlinks),
		cmocka_unit_test(test_trusted_directories),
		cmocka_unit_test(test_trusted_paths),
		cmocka_unit_test(test_trusted_not_regular),
		cmocka_unit_test(test_proc_exit_status),
		cmocka_unit_test(test_proc_signal),
		cmocka_unit_test(test_proc_child_setup),
		cmocka_unit_test(test_proc_timeout_group),
		cmocka_unit_test(test_proc_timeout_term),
		cmocka_unit_test(test_proc_big_output),
		cmocka_unit_test(test_proc_tail_order),
		cmocka_unit_test(test_proc_daemon_keeps_pipe),
		cmocka_unit_test(test_proc_late_output),
		cmocka_unit_test(test_proc_wait_go),
		cmocka_unit_test(test_proc_abort),
		cmocka_unit_test(test_proc_exec_errors),
		cmocka_unit_test(test_proc_runs_checked_file),
		cmocka_unit_test(test_proc_env_by_path),
		cmocka_unit_test(test_script_retries),
		cmocka_unit_test(test_script_params_env),
		cmocka_unit_test(test_script_outcomes),
		cmocka_unit_test(test_hook_dir),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "not root (files must be chowned): skipped\n");
		return 77;
	}
	/* The orphans of killed scripts come to us, so that their group can be seen gone. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 99;
	}
	return cmocka_run_group_tests(tests, setup_base, remove_base);
}
