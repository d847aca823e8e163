/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What freezeshim runs as root: the trust checks of scripts, hooks and
 * configuration files, the child processes (own process group, output
 * drained into a tail, timeout with a kill grace), the configured scripts
 * with their retries, and the hook directories.
 *
 * A checked file is run through the descriptor that was checked
 * (execveat(AT_EMPTY_PATH)), never by its path again: what was checked is
 * what runs, even if the path is replaced in between.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "scripts.h"

#define NSEC_PER_MSEC 1000000ull
#define KILL_GRACE_DEFAULT_MS 5000
/* After the child exited, how long a descendant may keep the output pipe open. */
#define DRAIN_AFTER_EXIT_NS (1000 * NSEC_PER_MSEC)
/* After SIGKILL, how long to wait for the child to die (it may sleep in the kernel). */
#define REAP_WAIT_NS (2000 * NSEC_PER_MSEC)
#define ABORT_POLL_MS 50
/* Bytes read per wake-up at most, so that a flood of output cannot starve the timers. */
#define READ_BUDGET (4u << 20)
/* The child's exit status when it could not exec (or was never let go). */
#define CHILD_EXEC_FAILED 127

static inline int take_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set *RET_REASON (when asked for) to one formatted line and return -ERR. */
static int _printf_(3, 4) refuse(char **ret_reason, int err, const char *format, ...)
{
	va_list ap;

	if (ret_reason) {
		char *s;

		va_start(ap, format);
		if (vasprintf(&s, format, ap) < 0)
			s = NULL;
		va_end(ap);
		*ret_reason = s;
	}
	return -err;
}

/* ---- trust checks -------------------------------------------------------- */

/* The rule for every directory above a trusted file, and for a hook directory itself. */
static int check_dir(const struct stat *st, const char *path, size_t len, char **ret_reason)
{
	int l = (int)len;

	if (st->st_uid != TRUSTED_ROOT_UID)
		return refuse(ret_reason, EPERM,
			      "directory %.*s is owned by uid %u, must be root; run chown root: %.*s",
			      l, path, (unsigned)st->st_uid, l, path);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return refuse(ret_reason, EPERM,
			      "directory %.*s is writable by group or others and not sticky; run chmod go-w %.*s",
			      l, path, l, path);
	return 0;
}

/*
 * Open the directory PATH[0, LEN) (absolute) walking from "/" one component
 * at a time without following symlinks, checking every directory on the way,
 * the last one included.  An O_PATH descriptor, or -errno and a reason.
 */
static int trusted_dir_open(const char *path, size_t len, int *ret_fd, char **ret_reason)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t pos = 1;

	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return refuse(ret_reason, errno, "cannot open /: %s", strerror(errno));
	if (check_dir(&st, "/", 1, ret_reason) < 0)
		return -EPERM;

	while (pos < len) {
		char name[NAME_MAX + 1];
		size_t end;
		int next, l;

		while (pos < len && path[pos] == '/')
			pos++;
		if (pos >= len)
			break;
		for (end = pos; end < len && path[end] != '/'; end++)
			;
		l = (int)end;
		if (end - pos > NAME_MAX)
			return refuse(ret_reason, ENAMETOOLONG,
				      "has a component longer than %d bytes", NAME_MAX);
		memcpy(name, path + pos, end - pos);
		name[end - pos] = '\0';
		if (streq(name, ".") || streq(name, ".."))
			return refuse(ret_reason, EINVAL,
				      "has a \".\" or \"..\" component; give the plain absolute path");

		next = openat(fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (next < 0) {
			int e = errno;

			if (e == ENOENT)
				return refuse(ret_reason, ENOENT,
					      "does not exist: no directory %.*s", l, path);
			if (e == ENOTDIR || e == ELOOP) {
				if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISLNK(st.st_mode))
					return refuse(ret_reason, EPERM,
						      "directory %.*s is a symlink; give the real path",
						      l, path);
				return refuse(ret_reason, ENOENT,
					      "does not exist: %.*s is not a directory", l, path);
			}
			return refuse(ret_reason, e, "cannot open directory %.*s: %s", l, path,
				      strerror(e));
		}
		close(fd);
		fd = next;
		if (fstat(fd, &st) < 0)
			return refuse(ret_reason, errno, "cannot stat directory %.*s: %s", l, path,
				      strerror(errno));
		if (check_dir(&st, path, end, ret_reason) < 0)
			return -EPERM;
		pos = end;
	}
	*ret_fd = take_fd(&fd);
	return 0;
}

static int check_file(const struct stat *st, const char *path, enum trust_kind kind,
		      char **ret_reason)
{
	unsigned mode = st->st_mode & 07777;

	if (!S_ISREG(st->st_mode))
		return refuse(ret_reason, EPERM, "is not a regular file; give the path of a file");
	if (st->st_uid != TRUSTED_ROOT_UID)
		return refuse(ret_reason, EPERM,
			      "owned by uid %u, must be root; run chown root: %s",
			      (unsigned)st->st_uid, path);
	switch (kind) {
	case TRUST_SCRIPT:
		if (mode & 077)
			return refuse(ret_reason, EPERM,
				      "mode %04o gives group or other access; run chmod 0700 %s",
				      mode, path);
		if (!(mode & S_IXUSR))
			return refuse(ret_reason, EPERM,
				      "mode %04o is not executable by its owner; run chmod 0700 %s",
				      mode, path);
		break;
	case TRUST_CONFIG:
		if (mode & 022)
			return refuse(ret_reason, EPERM,
				      "mode %04o lets group or other write it; run chmod go-w %s",
				      mode, path);
		break;
	case TRUST_CONFIG_PRIVATE:
		if (mode & 077)
			return refuse(ret_reason, EPERM,
				      "mode %04o gives group or other access; run chmod 0600 %s",
				      mode, path);
		break;
	default:
		return refuse(ret_reason, EINVAL, "unknown trust kind %d", (int)kind);
	}
	return 0;
}

int trusted_open(const char *path, enum trust_kind kind, char **ret_reason)
{
	_cleanup_close_ int dir_fd = -1, fd = -1;
	const char *slash, *last;
	struct stat st;
	int r, flags;

	if (!path || path[0] != '/')
		return refuse(ret_reason, EINVAL,
			      "is not an absolute path; give the full path starting with /");
	slash = strrchr(path, '/');
	last = slash + 1;
	if (*last == '\0' || streq(last, ".") || streq(last, ".."))
		return refuse(ret_reason, EINVAL, "does not name a file; give the path of a file");
	if (strlen(last) > NAME_MAX)
		return refuse(ret_reason, ENAMETOOLONG, "has a name longer than %d bytes",
			      NAME_MAX);

	r = trusted_dir_open(path, slash > path ? (size_t)(slash - path) : 1, &dir_fd, ret_reason);
	if (r < 0)
		return r;

	/* O_NONBLOCK: a FIFO put in place of a script must not hang us in open(). */
	fd = openat(dir_fd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return refuse(ret_reason, ENOENT, "does not exist");
		if (e == ELOOP)
			return refuse(ret_reason, EPERM, "is a symlink; give the real path");
		if (e == ENXIO)  /* a socket */
			return refuse(ret_reason, EPERM,
				      "is not a regular file; give the path of a file");
		return refuse(ret_reason, e, "cannot open: %s", strerror(e));
	}
	if (fstat(fd, &st) < 0)
		return refuse(ret_reason, errno, "cannot stat: %s", strerror(errno));
	r = check_file(&st, path, kind, ret_reason);
	if (r < 0)
		return r;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return refuse(ret_reason, errno, "cannot set flags: %s", strerror(errno));
	return take_fd(&fd);
}

/* ---- child processes ----------------------------------------------------- */

struct proc {
	pid_t pid;
	int out_fd;              /* the output pipe's read end, O_NONBLOCK; -1 at EOF */
	int go_fd;               /* our end of the go socket; -1 once the child was let go */
	int err_fd;              /* the child's errno when it could not exec; EOF otherwise */
	int pidfd;               /* -1 without pidfd_open(): the child is then polled */
	uint64_t kill_grace_ms;
	uint64_t start_ns;
};

/* What the child needs, prepared before fork(): it may make async-signal-safe calls only. */
struct child_setup {
	int null_fd, out_write, err_write, go_child, exec_fd;
	int keep[3];             /* what the child keeps beyond 0-2, sorted */
	size_t n_keep;
	int max_fd;              /* for the close_range() fallback */
	char *const *argv;
	char **envp;
};

static void proc_free(struct proc *p)
{
	if (!p)
		return;
	close_fd(&p->out_fd);
	close_fd(&p->go_fd);
	close_fd(&p->err_fd);
	close_fd(&p->pidfd);
	free(p);
}

void proc_result_clear(struct proc_result *r)
{
	if (!r)
		return;
	free(r->output);
	*r = (struct proc_result){};
}

/* A descriptor the child can dup2() onto 0, 1 or 2 without losing another one. */
static int fd_above_stdio(int fd)
{
	int r;

	if (fd < 0 || fd > 2)
		return fd;
	r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return r;
}

/* Our environment, with every "K=V" of ENV_ADD replacing our K. */
static int build_env(char *const env_add[], char ***ret)
{
	extern char **environ;
	size_t n_ours = 0, n_add = 0, n = 0;
	char **envp;

	for (char **e = environ; e && *e; e++)
		n_ours++;
	for (char *const *a = env_add; a && *a; a++) {
		if (!strchr(*a, '=') || **a == '=')
			return -EINVAL;
		n_add++;
	}
	envp = calloc(n_ours + n_add + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t key_len = eq ? (size_t)(eq - *e) : strlen(*e);
		bool replaced = false;

		for (char *const *a = env_add; a && *a && !replaced; a++)
			replaced = strncmp(*a, *e, key_len) == 0 && (*a)[key_len] == '=';
		if (!replaced)
			envp[n++] = *e;
	}
	for (char *const *a = env_add; a && *a; a++)
		envp[n++] = *a;
	envp[n] = NULL;
	*ret = envp;
	return 0;
}

/* Close every descriptor from 3 up but KEEP (sorted, each >= 3); async-signal-safe. */
static void close_all_but(const int *keep, size_t n_keep, int max_fd)
{
	unsigned lo = 3;

	for (size_t i = 0; i <= n_keep; i++) {
		unsigned hi = i < n_keep ? (unsigned)keep[i] : ~0u;  /* first one not closed */

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0u) < 0)
			for (unsigned fd = lo; fd < hi && fd < (unsigned)max_fd; fd++)
				(void)close((int)fd);
		lo = hi + 1;
	}
}

static _Noreturn void child_fail(int err_write)
{
	int e = errno;

	if (write(err_write, &e, sizeof(e)) < 0) {
		/* nothing left to tell it with */
	}
	_exit(CHILD_EXEC_FAILED);
}

static _Noreturn void child_run(const struct child_setup *c)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (setpgid(0, 0) < 0)
		child_fail(c->err_write);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);  /* fails for glibc's own signals: fine */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(c->err_write);
	if (dup2(c->null_fd, STDIN_FILENO) < 0 || dup2(c->out_write, STDOUT_FILENO) < 0 ||
	    dup2(c->out_write, STDERR_FILENO) < 0)
		child_fail(c->err_write);
	if (chdir("/") < 0)
		child_fail(c->err_write);
	/*
	 * Every inherited descriptor goes, an embedder's too, and now rather
	 * than at exec: a child waiting for its go must not hold the pipes of
	 * children that other threads spawn meanwhile, nor the parent's end of
	 * its own go socket (no EOF for it when the parent closes it).
	 */
	close_all_but(c->keep, c->n_keep, c->max_fd);

	if (c->go_child >= 0) {
		char b;
		ssize_t k;

		do
			k = read(c->go_child, &b, 1);
		while (k < 0 && errno == EINTR);
		if (k != 1)
			_exit(CHILD_EXEC_FAILED);
		close(c->go_child);
	}

	if (c->exec_fd >= 0) {
		/* Not close-on-exec: a "#!" interpreter opens the script as /dev/fd/N. */
		int fd = fcntl(c->exec_fd, F_DUPFD, 3);

		if (fd < 0)
			child_fail(c->err_write);
		syscall(SYS_execveat, fd, "", c->argv, c->envp, AT_EMPTY_PATH);
	} else {
		execve(c->argv[0], c->argv, c->envp);
	}
	child_fail(c->err_write);
}

int proc_spawn(int exec_fd, char *const argv[], char *const env_add[], unsigned flags,
	       struct proc **ret)
{
	_cleanup_free_ char **envp = NULL;
	struct child_setup c = { .null_fd = -1, .out_write = -1, .err_write = -1, .go_child = -1,
				 .exec_fd = -1, .argv = argv };
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, go[2] = { -1, -1 };
	int exec_copy = -1, wanted[3];
	struct proc *p = NULL;
	struct rlimit rl;
	sigset_t all, saved;
	pid_t pid;
	int r, e;

	if (!argv || !argv[0] || !ret || (flags & ~(unsigned)PROC_WAIT_GO))
		return -EINVAL;
	if (exec_fd < 0 && argv[0][0] != '/')
		return -EINVAL;
	r = build_env(env_add, &envp);
	if (r < 0)
		return r;
	c.envp = envp;
	c.max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur
									     : 65536;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct proc){ .out_fd = -1, .go_fd = -1, .err_fd = -1, .pidfd = -1,
			    .kill_grace_ms = KILL_GRACE_DEFAULT_MS };

	c.null_fd = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (c.null_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    ((flags & PROC_WAIT_GO) &&
	     socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)) {
		r = -errno;
		goto out;
	}
	out[0] = fd_above_stdio(out[0]);
	c.out_write = out[1] = fd_above_stdio(out[1]);
	err[0] = fd_above_stdio(err[0]);
	c.err_write = err[1] = fd_above_stdio(err[1]);
	go[0] = fd_above_stdio(go[0]);
	c.go_child = go[1] = fd_above_stdio(go[1]);
	if (exec_fd >= 0) {
		/* The caller's descriptor stays as it is; ours is above 2 and closed at exec. */
		exec_copy = fcntl(exec_fd, F_DUPFD_CLOEXEC, 3);
		if (exec_copy < 0) {
			r = -errno;
			goto out;
		}
		c.exec_fd = exec_copy;
	}
	if (out[0] < 0 || out[1] < 0 || err[0] < 0 || err[1] < 0 ||
	    ((flags & PROC_WAIT_GO) && (go[0] < 0 || go[1] < 0))) {
		r = -EMFILE;
		goto out;
	}
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	wanted[0] = c.err_write;
	wanted[1] = c.go_child;
	wanted[2] = c.exec_fd;

	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
		size_t j;

		if (wanted[i] < 0)
			continue;
		for (j = c.n_keep++; j > 0 && c.keep[j - 1] > wanted[i]; j--)
			c.keep[j] = c.keep[j - 1];
		c.keep[j] = wanted[i];
	}

	/* No handler of ours may run in the child before its dispositions are reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = fork();
	e = errno;
	if (pid == 0)
		child_run(&c);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (pid < 0) {
		r = -e;
		goto out;
	}
	/* Also here: the group must exist before anyone signals it, whoever runs first. */
	(void)setpgid(pid, pid);

	p->pid = pid;
	p->out_fd = take_fd(&out[0]);
	p->err_fd = take_fd(&err[0]);
	p->go_fd = take_fd(&go[0]);
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0)
		p->pidfd = -1;
	p->start_ns = now_ns();
	r = 0;
	*ret = TAKE_PTR(p);
out:
	close_fd(&c.null_fd);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&go[0]);
	close_fd(&go[1]);
	close_fd(&exec_copy);
	proc_free(p);
	return r;
}

pid_t proc_pgid(const struct proc *p)
{
	return p ? p->pid : -1;
}

int proc_go(struct proc *p)
{
	char b = 1;
	int r = 0;

	if (!p)
		return -EINVAL;
	if (p->go_fd < 0)
		return 0;
	if (send(p->go_fd, &b, 1, MSG_NOSIGNAL) != 1)
		r = -errno;
	close_fd(&p->go_fd);
	p->start_ns = now_ns();
	return r;
}

void proc_set_kill_grace(struct proc *p, uint64_t ms)
{
	if (p)
		p->kill_grace_ms = ms;
}

/*
 * Has the child exited?  Observed without reaping it: until proc_reap() its
 * pid, and so its group's id, cannot be reused, and signals to the group
 * cannot reach strangers.  1, 0, or -errno.
 */
static int proc_exited(struct proc *p)
{
	siginfo_t si = {};

	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return -errno;
	return si.si_pid == p->pid;
}

/* Wait until the child exited or UNTIL_NS passed; true when it exited. */
static bool proc_wait_exit(struct proc *p, uint64_t until_ns)
{
	for (;;) {
		uint64_t now = now_ns();
		int r = proc_exited(p), ms;

		if (r != 0)
			return r > 0;
		if (now >= until_ns)
			return false;
		ms = (int)((until_ns - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
		if (p->pidfd >= 0) {
			struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

			(void)poll(&pfd, 1, ms);
		} else {
			struct timespec ts = { .tv_nsec = 10 * (long)NSEC_PER_MSEC };

			nanosleep(&ts, NULL);
		}
	}
}

/* Reap the exited child into RES's status. */
static void proc_reap(struct proc *p, struct proc_result *res)
{
	int st = 0, e = 0;
	pid_t r;

	do
		r = waitpid(p->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r == p->pid) {
		if (WIFEXITED(st)) {
			res->status = WEXITSTATUS(st);
		} else if (WIFSIGNALED(st)) {
			res->signal = WTERMSIG(st);
			res->status = 128 + res->signal;
		}
	}
	if (p->err_fd >= 0 && read(p->err_fd, &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		res->spawn_failed = true;
		res->spawn_errno = e;
	}
}

void proc_kill(struct proc *p)
{
	struct proc_result ignored = {};

	if (!p)
		return;
	close_fd(&p->go_fd);  /* a child still waiting exits without running anything */
	(void)kill(-p->pid, SIGKILL);
	if (proc_wait_exit(p, now_ns() + REAP_WAIT_NS))
		proc_reap(p, &ignored);
	proc_free(p);
}

/* The last PROC_OUTPUT_TAIL bytes of the output, in a ring. */
struct tail {
	char *buf;
	size_t pos;         /* where the next byte goes */
	uint64_t total;
};

/* Read what is there: 1 at EOF, 0 when drained (or the budget spent), -errno. */
static int tail_read(struct tail *t, int fd)
{
	size_t budget = READ_BUDGET;

	while (budget > 0) {
		ssize_t k = read(fd, t->buf + t->pos, PROC_OUTPUT_TAIL - t->pos);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (k == 0)
			return 1;
		t->pos = (t->pos + (size_t)k) % PROC_OUTPUT_TAIL;
		t->total += (uint64_t)k;
		budget -= (size_t)k < budget ? (size_t)k : budget;
	}
	return 0;
}

static char *tail_take(const struct tail *t, size_t *ret_len)
{
	size_t len = t->total < PROC_OUTPUT_TAIL ? (size_t)t->total : PROC_OUTPUT_TAIL;
	char *s = malloc(len + 1);

	if (!s)
		return NULL;
	if (t->total < PROC_OUTPUT_TAIL) {
		memcpy(s, t->buf, len);
	} else {
		memcpy(s, t->buf + t->pos, PROC_OUTPUT_TAIL - t->pos);
		memcpy(s + PROC_OUTPUT_TAIL - t->pos, t->buf, t->pos);
	}
	s[len] = '\0';
	*ret_len = len;
	return s;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int proc_wait(struct proc *p, uint64_t timeout_ms, const _Atomic bool *abort_flag,
	      struct proc_result *ret)
{
	_cleanup_free_ char *ring = NULL;
	struct proc_result res = {};
	struct tail tail = {};
	bool exited = false, term_sent = false, kill_sent = false;
	uint64_t deadline = 0, kill_at = 0, drain_until = 0, reap_until = 0, end_ns = 0;
	int r = 0;

	if (!p || !ret) {
		proc_kill(p);
		return -EINVAL;
	}
	ring = malloc(PROC_OUTPUT_TAIL);
	if (!ring) {
		proc_kill(p);
		return -ENOMEM;
	}
	tail.buf = ring;
	(void)proc_go(p);  /* a child never let go would only run into the timeout */
	if (timeout_ms)
		deadline = p->start_ns + timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int out_i = -1, ms;
		uint64_t now = now_ns(), wake = UINT64_MAX;
		/* After a timeout, remaining holders of the pipe get the grace, then SIGKILL. */
		bool grace_running = term_sent && !kill_sent;

		if (!exited) {
			r = proc_exited(p);
			if (r < 0)
				break;
			if (r > 0) {
				exited = true;
				end_ns = now;
				drain_until = now + DRAIN_AFTER_EXIT_NS;
			}
			r = 0;
		}
		if (abort_flag && atomic_load(abort_flag)) {
			if (!exited) {
				(void)kill(-p->pid, SIGKILL);
				res.aborted = true;
			}
			break;
		}
		if (!exited && deadline && !term_sent && now >= deadline) {
			(void)kill(-p->pid, SIGTERM);
			term_sent = res.timed_out = grace_running = true;
			kill_at = now + p->kill_grace_ms * NSEC_PER_MSEC;
		}
		if (grace_running && now >= kill_at) {
			(void)kill(-p->pid, SIGKILL);
			kill_sent = true;
			grace_running = false;
			reap_until = now + REAP_WAIT_NS;
			if (exited)
				drain_until = now + DRAIN_AFTER_EXIT_NS;
		}
		if (exited && (p->out_fd < 0 || (!grace_running && now >= drain_until))) {
			/*
			 * Timed out, and the child and the pipe are gone: whatever
			 * of the group ignored SIGTERM goes now (the zombie child
			 * keeps the group's id ours until it is reaped).
			 */
			if (grace_running)
				(void)kill(-p->pid, SIGKILL);
			break;
		}
		if (!exited && kill_sent && now >= reap_until)
			break;  /* asleep in the kernel: left unreaped */

		if (!exited && deadline && !term_sent)
			wake = min_u64(wake, deadline);
		if (grace_running)
			wake = min_u64(wake, kill_at);
		if (exited && !grace_running)
			wake = min_u64(wake, drain_until);
		if (!exited && kill_sent)
			wake = min_u64(wake, reap_until);
		if (wake == UINT64_MAX) {
			ms = -1;
		} else {
			uint64_t left = wake - min_u64(wake, now);

			ms = (int)min_u64((left + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, INT_MAX);
		}
		if ((abort_flag || p->pidfd < 0) && (ms < 0 || ms > ABORT_POLL_MS))
			ms = ABORT_POLL_MS;
		if (p->out_fd >= 0) {
			out_i = (int)n;
			pfd[n++] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
		}
		if (!exited && p->pidfd >= 0)
			pfd[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		if (poll(pfd, n, ms) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (out_i >= 0 && pfd[out_i].revents) {
			int k = tail_read(&tail, p->out_fd);

			if (k != 0)
				close_fd(&p->out_fd);  /* EOF, or an error: no more output */
		}
	}

	if (!exited && (res.aborted || r < 0)) {
		/* ECHILD: not our child (SIGCHLD ignored?): its id may be someone else's. */
		if (r < 0 && r != -ECHILD)
			(void)kill(-p->pid, SIGKILL);
		exited = proc_wait_exit(p, now_ns() + REAP_WAIT_NS);
	}
	if (p->out_fd >= 0 && (exited || res.aborted))
		(void)tail_read(&tail, p->out_fd);  /* what is already there, without waiting */
	if (!end_ns)
		end_ns = now_ns();
	if (exited) {
		proc_reap(p, &res);
	} else {
		res.signal = SIGKILL;
		res.status = 128 + SIGKILL;
	}
	if (r < 0) {
		proc_free(p);
		return r;
	}
	res.duration_ns = end_ns - min_u64(end_ns, p->start_ns);
	res.output_total = tail.total;
	res.output = tail_take(&tail, &res.output_len);
	proc_free(p);
	if (!res.output)
		return -ENOMEM;
	*ret = res;
	return 0;
}

/* ---- configured scripts -------------------------------------------------- */

const char *script_outcome_to_string(enum script_outcome o)
{
	static const char *const names[] = {
		[SCRIPT_NOT_RUN] = "not-run", [SCRIPT_OK] = "ok",
		[SCRIPT_MISSING] = "missing", [SCRIPT_INSECURE] = "insecure",
		[SCRIPT_FAILED] = "failed",   [SCRIPT_TIMEOUT] = "timeout",
		[SCRIPT_ERROR] = "error",
	};

	if ((unsigned)o >= ARRAY_SIZE(names) || !names[o])
		return "unknown";
	return names[o];
}

void script_run_clear(struct script_run *r)
{
	if (!r)
		return;
	free(r->path);
	free(r->reason);
	proc_result_clear(&r->last);
	*r = (struct script_run){};
}

/* " (attempt 2 of 3)", or nothing when there was only ever one. */
static void attempt_note(char *buf, size_t size, unsigned attempt, unsigned max)
{
	if (max > 1)
		snprintf(buf, size, " (attempt %u of %u)", attempt, max);
	else
		buf[0] = '\0';
}

void script_run(const char *path, char *const args[], char *const env_add[],
		uint64_t timeout_ms, unsigned retries, const _Atomic bool *abort_flag,
		struct script_run *ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char **argv = NULL;
	unsigned max = retries < UINT_MAX ? retries + 1 : UINT_MAX;
	uint64_t start = now_ns();
	size_t n_args = 0;
	char note[64] = "";

	*ret = (struct script_run){ .outcome = SCRIPT_NOT_RUN };
	if (!path) {
		ret->outcome = SCRIPT_ERROR;
		ret->reason = strdup("no path given");
		return;
	}
	ret->path = strdup(path);

	fd = trusted_open(path, TRUST_SCRIPT, &ret->reason);
	if (fd < 0) {
		if (fd == -ENOENT)
			ret->outcome = SCRIPT_MISSING;
		else if (fd == -EPERM || fd == -EINVAL)
			ret->outcome = SCRIPT_INSECURE;
		else
			ret->outcome = SCRIPT_ERROR;
		goto done;
	}

	for (char *const *a = args; a && *a; a++)
		n_args++;
	argv = calloc(n_args + 2, sizeof(*argv));
	if (!argv) {
		ret->outcome = SCRIPT_ERROR;
		(void)xasprintf(&ret->reason, "out of memory");
		goto done;
	}
	argv[0] = (char *)path;
	for (size_t i = 0; i < n_args; i++)
		argv[i + 1] = args[i];

	while (ret->attempts < max) {
		struct proc *p = NULL;
		int r;

		ret->attempts++;
		proc_result_clear(&ret->last);
		attempt_note(note, sizeof(note), ret->attempts, max);
		r = proc_spawn(fd, argv, env_add, 0, &p);
		if (r >= 0)
			r = proc_wait(p, timeout_ms, abort_flag, &ret->last);
		if (r < 0) {
			ret->last.spawn_failed = true;
			ret->last.spawn_errno = -r;
			ret->outcome = SCRIPT_ERROR;
			(void)xasprintf(&ret->reason, "could not be started: %s%s", strerror(-r),
					note);
			goto done;
		}
		if (ret->last.spawn_failed) {
			int e = ret->last.spawn_errno;

			ret->outcome = SCRIPT_ERROR;
			(void)xasprintf(&ret->reason, "could not be executed: %s%s%s", strerror(e),
					e == ENOENT ? " (is its #! interpreter installed?)" :
					e == ENOEXEC ? " (does it start with #!?)" : "",
					note);
			goto done;
		}
		if (!ret->last.timed_out && ret->last.status == 0) {
			ret->outcome = SCRIPT_OK;
			goto done;
		}
		if (ret->last.aborted) {
			ret->outcome = SCRIPT_FAILED;
			(void)xasprintf(&ret->reason, "killed: the run was interrupted");
			goto done;
		}
	}

	if (ret->last.timed_out) {
		ret->outcome = SCRIPT_TIMEOUT;
		(void)xasprintf(&ret->reason, "killed after the %.1f s script timeout%s",
				(double)timeout_ms / 1000.0, note);
	} else if (ret->last.signal) {
		const char *name = sigabbrev_np(ret->last.signal);

		ret->outcome = SCRIPT_FAILED;
		(void)xasprintf(&ret->reason, "killed by signal %d (SIG%s)%s", ret->last.signal,
				name ? name : "?", note);
	} else {
		ret->outcome = SCRIPT_FAILED;
		(void)xasprintf(&ret->reason, "exited with status %d%s", ret->last.status, note);
	}
done:
	ret->duration_ns = now_ns() - start;
}

/* ---- hook directories ---------------------------------------------------- */

static bool endswith(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && streq(s + ls - lx, suffix);
}

/* Names that package managers and editors leave behind, and hidden files. */
static bool hook_name_ignored(const char *name)
{
	return name[0] == '.' || endswith(name, "~") || strstr(name, ".dpkg-") ||
	       endswith(name, ".rpmnew") || endswith(name, ".rpmsave") ||
	       endswith(name, ".rpmorig");
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int hook_dir_list(const char *dir, struct ptrvec *ret_paths, char **ret_reason)
{
	_cleanup_close_ int path_fd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct ptrvec found = {};
	struct dirent *de;
	size_t len, n_before;
	int r, fd;

	if (!dir || !ret_paths)
		return -EINVAL;
	if (dir[0] != '/')
		return refuse(ret_reason, EINVAL,
			      "is not an absolute path; give the full path starting with /");
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	r = trusted_dir_open(dir, len, &path_fd, ret_reason);
	if (r < 0)
		return r;
	fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return refuse(ret_reason, errno, "cannot open: %s", strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		r = errno;
		close(fd);
		return refuse(ret_reason, r, "cannot read: %s", strerror(r));
	}

	r = 0;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		char *path;

		if (hook_name_ignored(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;  /* gone since readdir() */
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			continue;
		if (xasprintf(&path, "%.*s/%s", len > 1 ? (int)len : 0, dir, de->d_name) < 0 ||
		    ptrvec_push(&found, path) < 0) {
			free(path);
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0 && errno != 0)
		r = -errno;
	if (r < 0) {
		ptrvec_free_items(&found);
		return refuse(ret_reason, -r, "cannot read: %s", strerror(-r));
	}

	ptrvec_sort(&found, cmp_str_ptr);
	n_before = ret_paths->n;
	for (size_t i = 0; i < found.n; i++) {
		if (ptrvec_push(ret_paths, found.items[i]) < 0) {
			ret_paths->n = n_before;  /* the items are still in FOUND */
			ptrvec_free_items(&found);
			return refuse(ret_reason, ENOMEM, "out of memory");
		}
	}
	ptrvec_clear(&found);
	return 0;
}
