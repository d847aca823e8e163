/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owner's side of a freeze session: prepare (lock, open and check every
 * filesystem, refuse unsafe stacks, fork the guardian), drive the window
 * through the guardian, keep the deadline with a watchdog thread, and read
 * the results from the page shared with the guardian.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "freeze-internal.h"

#define WINDOW_LOG_BUFFER (256 * 1024)
#define WATCHDOG_STACK_SIZE (128 * 1024)
/* How long the owner waits past the deadline for the guardian's thaw report. */
#define THAW_REPORT_GRACE_NS (700 * 1000000ull)

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

FRZ_EXPORT int frz_freeze_new(struct frz_plan *plan, struct frz_freeze **ret_freeze)
{
	struct frz_freeze *f;

	if (!plan || !ret_freeze)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->refcount = 1;
	f->plan = frz_plan_ref(plan);
	f->ctx = frz_ctx_ref(plan->ctx);
	f->timeout_ns = FRZ_DEFAULT_TIMEOUT_MS * 1000000ull;
	f->state_dir = strdup(FRZ_DEFAULT_STATE_DIR);
	f->state_dir_fd = f->lock_fd = f->record_fd = -1;
	f->guardian_pidfd = f->sock = f->devnull_fd = f->owner_pidfd = f->rcu_fd = -1;
	pthread_mutex_init(&f->sock_mutex, NULL);
	pthread_mutex_init(&f->wd_mutex, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wd_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!f->state_dir) {
		frz_freeze_unref(f);
		return -ENOMEM;
	}
	*ret_freeze = f;
	return 0;
}

FRZ_EXPORT struct frz_freeze *frz_freeze_ref(struct frz_freeze *f)
{
	if (f)
		f->refcount++;
	return f;
}

static void watchdog_stop(struct frz_freeze *f);
static void guardian_reap(struct frz_freeze *f, uint64_t wait_ns);
static int fail_aborted(struct frz_freeze *f);

FRZ_EXPORT struct frz_freeze *frz_freeze_unref(struct frz_freeze *f)
{
	if (!f || --f->refcount > 0)
		return NULL;
	if (f->window_open)
		(void)frz_freeze_thaw(f);
	watchdog_stop(f);
	if (f->sock >= 0) {
		struct guardian_msg m = { .op = OP_QUIT };
		(void)!send(f->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(f->sock);
		f->sock = -1;
	}
	/* A guardian still finishing a freeze the kernel holds is not waited for. */
	if (!f->detached)
		guardian_reap(f, 200000000ull);
	ctx_log_buffer_end(f->ctx);
	for (size_t i = 0; i < f->n_targets; i++)
		if (f->targets[i].fd >= 0)
			close(f->targets[i].fd);
	free(f->targets);
	free(f->batch_items);
	md_sync_free(f->md, f->n_md);
	free(f->record.fs_state_off);
	for (int *fd = (int[]){ f->record_fd, f->lock_fd, f->state_dir_fd, f->guardian_pidfd,
				f->devnull_fd, f->owner_pidfd, f->rcu_fd, -2 };
	     *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
	if (f->shared)
		munmap(f->shared, f->shared_size);
	pthread_mutex_destroy(&f->sock_mutex);
	pthread_mutex_destroy(&f->wd_mutex);
	pthread_cond_destroy(&f->wd_cond);
	free(f->state_dir);
	frz_plan_unref(f->plan);
	frz_ctx_unref(f->ctx);
	free(f);
	return NULL;
}

FRZ_EXPORT int frz_freeze_set_timeout(struct frz_freeze *f, uint64_t timeout_ms)
{
	if (!f || timeout_ms == 0 || timeout_ms > 24ull * 3600 * 1000)
		return -EINVAL;
	if (f->prepared)
		return -EBUSY;
	f->timeout_ns = timeout_ms * 1000000ull;
	return 0;
}

FRZ_EXPORT int frz_freeze_set_state_dir(struct frz_freeze *f, const char *dir)
{
	char *copy;

	if (!f || !dir || dir[0] != '/')
		return -EINVAL;
	if (f->prepared)
		return -EBUSY;
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	free(f->state_dir);
	f->state_dir = copy;
	return 0;
}

FRZ_EXPORT int frz_freeze_set_window_pgid(struct frz_freeze *f, pid_t pgid)
{
	if (!f || pgid < 0)
		return -EINVAL;
	f->window_pgid = pgid;
	if (f->sock >= 0 && !f->finished) {
		struct guardian_msg m = { .op = OP_SET_PGID, .arg = pgid };
		if (send(f->sock, &m, sizeof(m), MSG_NOSIGNAL) < 0)
			return -errno;
	}
	return 0;
}

FRZ_EXPORT void frz_freeze_set_close_fn(struct frz_freeze *f, frz_close_fn fn, void *userdata)
{
	f->close_fn = fn;
	f->close_userdata = userdata;
}

void freeze_set_hold_after(struct frz_freeze *f, unsigned n)
{
	f->hold_after = n;
}

/* ---- prepare ------------------------------------------------------------ */

static bool have_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data) < 0)
		return geteuid() == 0;
	return data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

static const struct frz_mount *first_reachable_mount(const struct frz_fs *fs)
{
	for (size_t i = 0; i < fs->mounts.n; i++) {
		const struct frz_mount *m = fs->mounts.items[i];
		if (!m->hidden)
			return m;
	}
	return NULL;
}

static int mount_id_of_fd(int fd, int *ret)
{
	struct statx stx;
	char path[64], line[128];
	_cleanup_fclose_ FILE *in = NULL;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID)) {
		*ret = (int)stx.stx_mnt_id;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	in = fopen(path, "re");
	if (!in)
		return -errno;
	while (fgets(line, sizeof(line), in))
		if (sscanf(line, "mnt_id: %d", ret) == 1)
			return 0;
	return -ENOENT;
}

/*
 * Open the filesystem's first reachable mountpoint and check that it is the
 * mount the plan saw: a path can lead elsewhere once mounts change, and the
 * ioctls act on whatever the descriptor reaches.
 */
static int target_open(struct frz_freeze *f, struct freeze_target *t)
{
	const struct frz_mount *m = first_reachable_mount(t->fs);
	struct stat st;
	int fd, mnt_id, r;

	if (!m)
		return frz_fail(f->ctx, FRZ_ERR_TARGET_CHANGED,
				"%s has no reachable mountpoint; run the plan again", t->fs->source);
	t->mountpoint = m->mountpoint;
	fd = open(m->mountpoint, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return frz_fail(f->ctx, errno == ENOENT ? FRZ_ERR_TARGET_CHANGED : errno,
				"cannot open %s: %m", m->mountpoint);
	t->fd = fd;
	if ((r = mount_id_of_fd(fd, &mnt_id)) < 0)
		return frz_fail(f->ctx, r, "cannot read the mount ID of %s: %s", m->mountpoint,
				strerror(-r));
	if (fstat(fd, &st) < 0)
		return frz_fail(f->ctx, errno, "cannot stat %s: %m", m->mountpoint);
	/* btrfs gives each subvolume its own st_dev: the mount ID decides there. */
	if (mnt_id != m->id || (st.st_dev != t->fs->devno && !streq(t->fs->fstype, "btrfs")))
		return frz_fail(f->ctx, FRZ_ERR_TARGET_CHANGED,
				"%s is no longer the mount the plan saw (mount %d, device %u:%u; "
				"expected mount %d, device %u:%u): mounts changed, run again",
				m->mountpoint, mnt_id, major(st.st_dev), minor(st.st_dev), m->id,
				major(t->fs->devno), minor(t->fs->devno));
	t->mnt_id = mnt_id;
	return 0;
}

/*
 * The parallel steps: a filesystem's level is one more than that of any
 * filesystem stored on it that comes earlier in the order, so each level
 * can be frozen at once and thawed at once, highest (the hosts) first.
 */
static int targets_build(struct frz_freeze *f)
{
	const struct ptrvec *order = &f->plan->freeze_order;
	struct hashmap index;
	int r = 0;

	f->targets = calloc(order->n ? order->n : 1, sizeof(*f->targets));
	if (!f->targets)
		return -ENOMEM;
	hashmap_init(&index, false);
	for (size_t i = 0; i < order->n; i++) {
		const struct frz_fs *fs = order->items[i];
		struct freeze_target *t = &f->targets[f->n_targets];
		if (fs->method != FRZ_METHOD_FIFREEZE && fs->method != FRZ_METHOD_FLUSH)
			continue;
		*t = (struct freeze_target){ .fs = fs, .method = fs->method, .fd = -1 };
		for (size_t d = 0; d < fs->dependents.n; d++) {
			struct freeze_target *dep = hashmap_get_u64(&index, (uint64_t)(uintptr_t)fs->dependents.items[d]);
			if (dep && dep->level + 1 > t->level)
				t->level = dep->level + 1;
		}
		if (t->level + 1 > f->n_levels)
			f->n_levels = t->level + 1;
		if ((r = hashmap_put_u64(&index, (uint64_t)(uintptr_t)fs, t)) < 0)
			break;
		f->n_targets++;
	}
	hashmap_clear(&index);
	return r;
}

static int lock_take(struct frz_freeze *f)
{
	_cleanup_close_ int fd = -1;
	struct record *rec = NULL;
	int r;

	fd = openat(f->state_dir_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return frz_fail(f->ctx, FRZ_ERR_BAD_STATE, "cannot open %s/lock: %m", f->state_dir);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return frz_fail(f->ctx, FRZ_ERR_BAD_STATE, "cannot lock %s/lock: %m", f->state_dir);
		if (record_read(f->state_dir_fd, &rec) == 0) {
			r = frz_fail(f->ctx, FRZ_ERR_LOCKED,
				     "another freezeshim (pid %d, guardian %d) holds %s/lock; wait for it "
				     "or see 'freezeshim status'", (int)rec->owner, (int)rec->guardian,
				     f->state_dir);
			record_free(rec);
			return r;
		}
		return frz_fail(f->ctx, FRZ_ERR_LOCKED,
				"another freezeshim holds %s/lock; wait for it or see 'freezeshim status'",
				f->state_dir);
	}
	/* We hold the lock, so a record left here belongs to a run that died. */
	r = record_read(f->state_dir_fd, &rec);
	if (r == 0) {
		bool frozen = false;
		for (size_t i = 0; i < rec->n_fs; i++)
			frozen |= rec->fs[i].state == FS_FROZEN || rec->fs[i].state == FS_FREEZING ||
				  rec->fs[i].state == FS_THAWING;
		pid_t owner = rec->owner;
		record_free(rec);
		if (frozen)
			return frz_fail(f->ctx, FRZ_ERR_BAD_STATE,
					"a previous run (pid %d) died and left filesystems frozen; "
					"run 'freezeshim thaw' first", (int)owner);
		unlinkat(f->state_dir_fd, "state", 0);
	}
	f->lock_fd = fd;
	fd = -1;
	return 0;
}

static int shared_map(struct frz_freeze *f)
{
	size_t size = sizeof(struct shared_window) + f->n_targets * sizeof(struct shared_fs);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	f->shared = p;
	f->shared_size = size;
	f->shared->n = f->n_targets;
	atomic_store(&f->shared->phase, PHASE_PREPARED);
	return 0;
}

/* Wait for one message from the guardian; 0 deadline: wait for ever.  -ETIMEDOUT, -EPIPE. */
static int guardian_recv(struct frz_freeze *f, struct guardian_msg *m, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = f->sock, .events = POLLIN },
			{ .fd = f->guardian_pidfd, .events = POLLIN },
		};
		int timeout = -1;
		if (deadline) {
			uint64_t now = now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			timeout = (int)((deadline - now + 999999) / 1000000);
		}
		int r = poll(pfd, f->guardian_pidfd >= 0 ? 2 : 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (pfd[0].revents) {
			ssize_t len = recv(f->sock, m, sizeof(*m), MSG_DONTWAIT);
			if (len == (ssize_t)sizeof(*m))
				return 0;
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return -EPIPE;
		}
		if (pfd[1].revents)
			return -EPIPE;
	}
}

/* Send OP and wait for its reply. */
static int guardian_call(struct frz_freeze *f, int op, int64_t arg, uint64_t deadline)
{
	struct guardian_msg m = { .op = op, .arg = arg };
	int r;

	pthread_mutex_lock(&f->sock_mutex);
	if (send(f->sock, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
		r = -EPIPE;
		goto out;
	}
	for (;;) {
		r = guardian_recv(f, &m, deadline);
		if (r < 0 || m.op == op)
			break;
	}
	if (r == 0)
		r = m.result;
out:
	pthread_mutex_unlock(&f->sock_mutex);
	return r;
}

static int devnull_open(struct frz_freeze *f)
{
	f->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return f->devnull_fd < 0 ? -errno : 0;
}

/* Without the file (old kernel, read-only /sys) the freezes are just slower. */
static void rcu_open(struct frz_freeze *f)
{
	char value[4] = "";

	f->rcu_fd = open("/sys/kernel/rcu_expedited", O_RDWR | O_CLOEXEC);
	if (f->rcu_fd < 0)
		return;
	if (pread(f->rcu_fd, value, sizeof(value) - 1, 0) > 0 && value[0] == '0')
		f->rcu_was_normal = true;
}

void rcu_expedite(struct frz_freeze *f)
{
	if (f->rcu_fd >= 0 && f->rcu_was_normal && pwrite(f->rcu_fd, "1", 1, 0) == 1)
		atomic_store(&f->rcu_expedited_by_us, true);
}

void rcu_restore(struct frz_freeze *f)
{
	if (atomic_exchange(&f->rcu_expedited_by_us, false))
		(void)!pwrite(f->rcu_fd, "0", 1, 0);
}

static void *watchdog_main(void *arg);

/*
 * fork() copies only the calling thread: a lock another thread held at that
 * moment stays locked in the child for ever.  The guardian therefore
 * allocates nothing and takes no library lock; glibc's own fork handling
 * covers malloc and thread creation.  (A sanitizer's allocator is not
 * covered: the CLI forks while it is single-threaded.)
 */
static int guardian_start(struct frz_freeze *f)
{
	int sv[2], r;
	struct guardian_msg m;
	pid_t pid;

	f->owner_pid = getpid();
	f->owner_pidfd = pidfd_open_(f->owner_pid);
	if (f->owner_pidfd < 0)
		return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "pidfd_open: %m (Linux 5.3 or later is needed)");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "cannot fork the guardian: %s", strerror(-r));
	}
	if (pid == 0) {
		close(sv[0]);
		guardian_main(f, sv[1]);
	}
	close(sv[1]);
	f->sock = sv[0];
	f->guardian_pid = pid;
	f->guardian_pidfd = pidfd_open_(pid);
	/* Its "ready" comes once it is memory-locked and its threads run. */
	r = guardian_recv(f, &m, now_ns() + 10000000000ull);
	if (r < 0 || m.op != 0)
		return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "the guardian process did not start");
	record_set_guardian(f, pid);
	return 0;
}

static int watchdog_start(struct frz_freeze *f)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WATCHDOG_STACK_SIZE);
	/* The caller's signal handlers are its business: the watchdog takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&f->watchdog, &attr, watchdog_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r == 0)
		f->watchdog_started = true;
	return r;
}

FRZ_EXPORT int frz_freeze_prepare(struct frz_freeze *f)
{
	struct frz_ctx *ctx;
	struct stat st;
	int r;

	if (!f)
		return -EINVAL;
	ctx = f->ctx;
	if (f->prepared || f->finished)
		return frz_fail(ctx, EALREADY, "this freeze session was already prepared");
	if (!ctx->sysroot_is_host)
		return frz_fail(ctx, EINVAL,
				"cannot freeze below a root prefix (%s): --sysroot is for plans of other machines",
				ctx->sysroot);
	if (!have_cap_sys_admin())
		return frz_fail(ctx, EPERM, "freezing needs CAP_SYS_ADMIN: run freezeshim as root");

	if ((r = targets_build(f)) < 0)
		return r;
	if (f->n_targets == 0)
		return frz_fail(ctx, EINVAL,
				"nothing to freeze or flush: the targets' filesystems are pseudo, network or "
				"read-only filesystems (see 'freezeshim plan')");
	if ((r = state_dir_open(ctx, f->state_dir, true, &f->state_dir_fd)) < 0)
		return r;
	if ((r = lock_take(f)) < 0)
		return r;
	/* By device, and by path for btrfs subvolumes, whose st_dev is their own. */
	const struct frz_fs *state_fs = topology_fs_of_path(f->plan->topo, f->state_dir);
	if (fstat(f->state_dir_fd, &st) == 0)
		for (size_t i = 0; i < f->n_targets; i++)
			if (f->targets[i].fs->devno == st.st_dev || f->targets[i].fs == state_fs)
				return frz_fail(ctx, EINVAL,
						"the state directory %s is on %s, which is to be frozen: "
						"use a --state-dir on tmpfs (/run)", f->state_dir,
						fs_first_mountpoint(f->targets[i].fs));
	for (size_t i = 0; i < f->n_targets; i++)
		if ((r = target_open(f, &f->targets[i])) < 0)
			return r;
	if ((r = stack_check_plan(f->plan, &f->md, &f->n_md)) < 0)
		return r;
	if ((r = shared_map(f)) < 0 || (r = devnull_open(f)) < 0)
		return r;
	f->batch_items = calloc(f->n_targets, sizeof(size_t));
	if (!f->batch_items)
		return -ENOMEM;
	rcu_open(f);
	if ((r = record_write(f)) < 0)
		return r;
	if ((r = guardian_start(f)) < 0) {
		record_remove(f);
		return r;
	}
	if ((r = watchdog_start(f)) < 0)
		return r;
	if (f->window_pgid > 0)
		(void)frz_freeze_set_window_pgid(f, f->window_pgid);
	f->prepared = true;
	return 0;
}

/* ---- the window --------------------------------------------------------- */

static void memory_lock(struct frz_freeze *f)
{
	char line[128], value[16] = "";
	_cleanup_fclose_ FILE *in = NULL;
	bool already_locked = false;
	int fd;

	/* An embedder that locked its memory itself keeps it locked after us. */
	in = fopen("/proc/self/status", "re");
	while (in && fgets(line, sizeof(line), in)) {
		unsigned long kb;
		if (sscanf(line, "VmLck: %lu", &kb) == 1)
			already_locked = kb > 0;
	}
	if (!already_locked && mlockall(MCL_CURRENT | MCL_FUTURE) == 0)
		f->mlocked = true;

	fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t len = read(fd, value, sizeof(value) - 1);
		if (len > 0) {
			value[len] = '\0';
			strstrip_trailing(value);
			snprintf(f->saved_oom_adj, sizeof(f->saved_oom_adj), "%s", value);
			if (pwrite(fd, "-1000", 5, 0) == 5)
				f->oom_adjusted = true;
		}
		close(fd);
	}
}

static void memory_unlock(struct frz_freeze *f)
{
	if (f->mlocked)
		munlockall();
	f->mlocked = false;
	if (f->oom_adjusted) {
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)!write(fd, f->saved_oom_adj, strlen(f->saved_oom_adj));
			close(fd);
		}
	}
	f->oom_adjusted = false;
}

static void watchdog_arm(struct frz_freeze *f, uint64_t deadline)
{
	pthread_mutex_lock(&f->wd_mutex);
	f->wd_deadline = deadline;
	pthread_cond_broadcast(&f->wd_cond);
	pthread_mutex_unlock(&f->wd_mutex);
}

static void window_end(struct frz_freeze *f)
{
	watchdog_arm(f, 0);
	f->window_open = false;
	memory_unlock(f);
	ctx_log_buffer_end(f->ctx);
}

static void log_results(struct frz_freeze *f);

FRZ_EXPORT int frz_freeze_freeze(struct frz_freeze *f)
{
	struct frz_ctx *ctx;
	uint64_t deadline;
	int r;

	if (!f)
		return -EINVAL;
	ctx = f->ctx;
	if (!f->prepared || f->finished || f->window_open)
		return frz_fail(ctx, EALREADY, "freeze: prepare the session first, and freeze it once");
	if (atomic_load(&f->shared->phase) == PHASE_CLOSED)
		return frz_fail(ctx, FRZ_ERR_ABORTED, "the window was aborted before it opened");

	/* Before the window: flush while writers still run, so the freeze has little left to do. */
	r = guardian_call(f, OP_FLUSH, 0, now_ns() + f->timeout_ns);
	if (r == -ETIMEDOUT) {
		frz_freeze_abort(f);
		f->finished = true;
		for (size_t i = 0; i < f->n_targets; i++)
			if (f->shared->fs[i].flush_start && !f->shared->fs[i].flush_end)
				return frz_fail(ctx, FRZ_ERR_PAUSE_FAILED,
						"flushing %s did not finish within the timeout (%.1f s): it or "
						"its storage is not answering (is something below it frozen?); "
						"nothing was frozen", f->targets[i].mountpoint,
						(double)f->timeout_ns / 1e9);
		return frz_fail(ctx, FRZ_ERR_PAUSE_FAILED,
				"flushing did not finish within the timeout (%.1f s): a filesystem or its "
				"storage is not answering; nothing was frozen", (double)f->timeout_ns / 1e9);
	}
	if (r < 0) {
		f->finished = true;
		return r == -EPIPE ? frz_fail(ctx, FRZ_ERR_GUARDIAN, "the guardian process died")
				   : frz_fail(ctx, r, "the window was closed before the freeze: %s",
					      frz_strerror(r));
	}
	f->flushed = true;

	memory_lock(f);
	if ((r = ctx_log_buffer_begin(ctx, WINDOW_LOG_BUFFER)) < 0) {
		memory_unlock(f);
		return r;
	}
	f->window_open = true;
	deadline = now_ns() + f->timeout_ns;
	watchdog_arm(f, deadline);
	r = guardian_call(f, OP_FREEZE, (int64_t)deadline, deadline + THAW_REPORT_GRACE_NS);
	if (r == 0)
		return 0;

	/* The guardian has thawed (or, when it died, the watchdog fell back). */
	if (r == -EPIPE)
		freeze_fallback_thaw(f);
	f->finished = true;
	window_end(f);
	log_results(f);
	switch (frz_freeze_get_close_reason(f)) {
	case FRZ_CLOSE_DEADLINE:
		for (size_t i = 0; i < f->n_targets; i++)
			if (atomic_load(&f->shared->fs[i].state) == FS_FREEZING)
				return frz_fail(ctx, FRZ_ERR_DEADLINE,
						"the freeze of %s did not complete within %.1f s (is something "
						"below it frozen or stuck?): everything else was thawed, and the "
						"guardian undoes that freeze once the kernel completes it",
						f->targets[i].mountpoint, (double)f->timeout_ns / 1e9);
		return frz_fail(ctx, FRZ_ERR_DEADLINE,
				"the freeze did not complete within %.1f s: everything was thawed",
				(double)f->timeout_ns / 1e9);
	case FRZ_CLOSE_FREEZE_FAILED:
		for (size_t i = 0; i < f->n_targets; i++)
			if (atomic_load(&f->shared->fs[i].state) != FS_BUSY && f->shared->fs[i].error &&
			    !f->shared->fs[i].unsupported)
				return frz_fail(ctx, FRZ_ERR_PAUSE_FAILED,
						"cannot freeze %s: %s; everything was thawed",
						f->targets[i].mountpoint, strerror(f->shared->fs[i].error));
		return frz_fail(ctx, FRZ_ERR_PAUSE_FAILED, "a freeze failed; everything was thawed");
	case FRZ_CLOSE_OWNER_DIED:
	case FRZ_CLOSE_ABORT:
		return fail_aborted(f);
	case FRZ_CLOSE_NONE:
		break;
	}
	if (r == -ETIMEDOUT)
		return frz_fail(ctx, FRZ_ERR_DEADLINE,
				"the freeze did not complete within %.1f s", (double)f->timeout_ns / 1e9);
	return frz_fail(ctx, r == -EPIPE ? FRZ_ERR_GUARDIAN : r, "the freeze failed: %s",
			frz_strerror(r == -EPIPE ? -FRZ_ERR_GUARDIAN : r));
}

static void guardian_reap(struct frz_freeze *f, uint64_t wait_ns)
{
	if (f->guardian_pid <= 0)
		return;
	if (f->guardian_pidfd >= 0) {
		struct pollfd pfd = { .fd = f->guardian_pidfd, .events = POLLIN };
		(void)poll(&pfd, 1, (int)(wait_ns / 1000000));
	}
	/* A guardian still finishing a late freeze is left to exit by itself. */
	if (waitpid(f->guardian_pid, NULL, WNOHANG) != 0)
		f->guardian_pid = 0;
}

/*
 * An abort through the guardian (SIGTERM, `freezeshim thaw`) names its
 * sender: a window closed by someone else's stray signal must say who.
 */
static int fail_aborted(struct frz_freeze *f)
{
	int signo = atomic_load(&f->shared->abort_signo), pid = atomic_load(&f->shared->abort_pid);
	char path[64], comm[32] = "";

	if (!signo) {
		if (f->guardian_death_code == CLD_EXITED)
			return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "the guardian process exited with status %d "
					"while the window was open (close reason %s); the watchdog thawed "
					"everything", f->guardian_death_status,
					frz_close_reason_to_string(atomic_load(&f->shared->close_reason)));
		if (f->guardian_death_code == CLD_KILLED || f->guardian_death_code == CLD_DUMPED)
			return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "the guardian process was killed by SIG%s "
					"while the window was open; the watchdog thawed everything",
					sigabbrev_np(f->guardian_death_status) ?
					sigabbrev_np(f->guardian_death_status) : "?");
		return frz_fail(f->ctx, FRZ_ERR_ABORTED, "the window was aborted: everything was thawed");
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	_cleanup_fclose_ FILE *in = fopen(path, "re");
	if (!in || !fgets(comm, sizeof(comm), in))
		comm[0] = 0;
	strstrip_trailing(comm);
	return frz_fail(f->ctx, FRZ_ERR_ABORTED,
			"the window was aborted by SIG%s from pid %d%s%s%s to the guardian: "
			"everything was thawed", sigabbrev_np(signo) ? sigabbrev_np(signo) : "?", pid,
			comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
}

FRZ_EXPORT int frz_freeze_thaw(struct frz_freeze *f)
{
	struct frz_ctx *ctx;
	int r;

	if (!f)
		return -EINVAL;
	ctx = f->ctx;
	if (!f->window_open) {
		if (!f->prepared)
			return frz_fail(ctx, EALREADY, "thaw: nothing was frozen by this session");
		r = 0;
		switch (frz_freeze_get_close_reason(f)) {
		case FRZ_CLOSE_DEADLINE:
			r = frz_fail(ctx, FRZ_ERR_DEADLINE, "the I/O-pause deadline (%.1f s) passed: "
				     "everything was thawed then", (double)f->timeout_ns / 1e9);
			break;
		case FRZ_CLOSE_NONE:
			break;
		default:
			r = fail_aborted(f);
		}
		return r;
	}

	r = guardian_call(f, OP_THAW, 0, now_ns() + f->timeout_ns + THAW_REPORT_GRACE_NS);
	if (r == -EPIPE) {
		freeze_fallback_thaw(f);
		r = atomic_load(&f->shared->thaw_failures) ? -FRZ_ERR_RESUME_FAILED : 0;
	}
	f->finished = true;
	window_end(f);
	guardian_reap(f, 1000000000ull);
	log_results(f);

	if (atomic_load(&f->shared->thaw_failures) > 0) {
		for (size_t i = 0; i < f->n_targets; i++)
			if (atomic_load(&f->shared->fs[i].state) == FS_FROZEN)
				return frz_fail(ctx, FRZ_ERR_RESUME_FAILED,
						"cannot thaw %s: %s; it is still frozen: run 'freezeshim thaw'",
						f->targets[i].mountpoint, strerror(f->shared->fs[i].error));
		return frz_fail(ctx, FRZ_ERR_RESUME_FAILED, "a thaw failed");
	}
	switch (frz_freeze_get_close_reason(f)) {
	case FRZ_CLOSE_DEADLINE:
		return frz_fail(ctx, FRZ_ERR_DEADLINE,
				"the I/O-pause deadline (%.1f s) passed before the thaw: everything "
				"was thawed then", (double)f->timeout_ns / 1e9);
	case FRZ_CLOSE_NONE:
		break;
	default:
		return fail_aborted(f);
	}
	if (r == -ETIMEDOUT)
		return frz_fail(ctx, FRZ_ERR_RESUME_FAILED,
				"the guardian did not report the thaw in time; see 'freezeshim status'");
	if (r < 0)
		return frz_fail(ctx, r, "thaw: %s", frz_strerror(r));
	return 0;
}

FRZ_EXPORT int frz_freeze_detach(struct frz_freeze *f)
{
	int r;

	if (!f || !f->window_open)
		return -EINVAL;
	r = guardian_call(f, OP_DETACH, 0, now_ns() + 5000000000ull);
	if (r == -FRZ_ERR_ABORTED)
		return frz_fail(f->ctx, FRZ_ERR_ABORTED,
				"the window was closed (%s) before the guardian took it over: "
				"everything was thawed", frz_close_reason_to_string(frz_freeze_get_close_reason(f)));
	if (r < 0)
		return frz_fail(f->ctx, FRZ_ERR_GUARDIAN, "the guardian did not take the window over");
	watchdog_stop(f);
	close(f->sock);
	f->sock = -1;
	f->detached = true;
	f->finished = true;
	window_end(f);
	return 0;
}

FRZ_EXPORT int frz_freeze_abort(struct frz_freeze *f)
{
	struct guardian_msg m = { .op = OP_ABORT, .arg = FRZ_CLOSE_ABORT };

	if (!f || !f->prepared || f->detached)
		return -EINVAL;
	if (f->window_pgid > 0)
		kill(-f->window_pgid, SIGKILL);
	if (f->sock >= 0 && send(f->sock, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/*
 * The guardian is gone while the window may be open: thaw from our own
 * descriptors what the shared page says it froze.  Only after its death,
 * so the two never race on one filesystem.
 */
void freeze_fallback_thaw(struct frz_freeze *f)
{
	struct shared_window *sh = f->shared;
	bool expected = false;

	/*
	 * A guardian that closed the window itself (a thaw, the deadline) and
	 * then exited left nothing to do, and its close reason stands.
	 */
	if (!sh || atomic_load(&sh->phase) == PHASE_CLOSED ||
	    !atomic_compare_exchange_strong(&f->fallback_done, &expected, true))
		return;
	if (f->guardian_pidfd >= 0) {
		struct pollfd pfd = { .fd = f->guardian_pidfd, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0)
			return;  /* still alive: it thaws itself */
		/* How it died, for the message (it is our child: not reaped here). */
		siginfo_t si = {};
		if (waitid(P_PIDFD, (id_t)f->guardian_pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
			f->guardian_death_code = si.si_code;
			f->guardian_death_status = si.si_status;
		}
	}
	for (size_t i = f->n_targets; i-- > 0;) {
		int s = atomic_load(&sh->fs[i].state);
		if (s != FS_FROZEN && s != FS_FREEZING && s != FS_THAWING)
			continue;
		sh->fs[i].thaw_start = now_ns();
		if (ioctl(f->targets[i].fd, FITHAW, 0) == 0 || errno == EINVAL) {
			atomic_store(&sh->fs[i].state, FS_THAWED);
		} else {
			sh->fs[i].error = errno;
			atomic_fetch_add(&sh->thaw_failures, 1);
		}
		sh->fs[i].thaw_end = now_ns();
		record_set_fs_state(f, i, atomic_load(&sh->fs[i].state));
	}
	md_sync_restore(f->md, f->n_md);
	rcu_restore(f);
	int none = FRZ_CLOSE_NONE;
	atomic_compare_exchange_strong(&sh->close_reason, &none, FRZ_CLOSE_ABORT);
	if (!sh->window_end)
		sh->window_end = now_ns();
	atomic_store(&sh->phase, PHASE_CLOSED);
	if (!atomic_load(&sh->thaw_failures))
		record_remove(f);
}

/*
 * The watchdog: at the deadline it closes the window through the guardian,
 * kills the window's process group and tells the caller, whatever the main
 * thread is blocked in.  It also notices the guardian's death.
 */
static void *watchdog_main(void *arg)
{
	struct frz_freeze *f = arg;

	pthread_mutex_lock(&f->wd_mutex);
	while (!f->wd_stop) {
		uint64_t deadline = f->wd_deadline;
		if (!deadline) {
			pthread_cond_wait(&f->wd_cond, &f->wd_mutex);
			continue;
		}
		/* Wake at the deadline, and every 100 ms to see whether the guardian lives. */
		uint64_t now = now_ns(), wake = deadline;
		if (wake > now + 100000000ull)
			wake = now + 100000000ull;
		struct timespec ts = { .tv_sec = (time_t)(wake / 1000000000u),
				       .tv_nsec = (long)(wake % 1000000000u) };
		pthread_cond_timedwait(&f->wd_cond, &f->wd_mutex, &ts);
		if (f->wd_stop || !f->wd_deadline)
			continue;

		bool guardian_dead = false;
		if (f->guardian_pidfd >= 0) {
			struct pollfd pfd = { .fd = f->guardian_pidfd, .events = POLLIN };
			guardian_dead = poll(&pfd, 1, 0) > 0;
		}
		if (now_ns() < f->wd_deadline && !guardian_dead)
			continue;
		/*
		 * The guardian exits once it has thawed at the owner's request:
		 * seen before frz_freeze_thaw() disarmed us, that is no early close.
		 */
		if (guardian_dead && atomic_load(&f->shared->phase) == PHASE_CLOSED &&
		    atomic_load(&f->shared->close_reason) == FRZ_CLOSE_NONE) {
			f->wd_deadline = 0;
			continue;
		}

		f->wd_deadline = 0;
		pthread_mutex_unlock(&f->wd_mutex);
		if (guardian_dead) {
			freeze_fallback_thaw(f);
		} else {
			struct guardian_msg m = { .op = OP_ABORT, .arg = FRZ_CLOSE_DEADLINE };
			(void)!send(f->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (f->window_pgid > 0)
			kill(-f->window_pgid, SIGKILL);
		/* Tell the caller once the guardian has thawed (or gave up trying). */
		for (int i = 0; i < 200 && atomic_load(&f->shared->phase) != PHASE_CLOSED; i++) {
			struct timespec tick = { 0, 5000000 };
			nanosleep(&tick, NULL);
			if (!guardian_dead && f->guardian_pidfd >= 0) {
				struct pollfd pfd = { .fd = f->guardian_pidfd, .events = POLLIN };
				if (poll(&pfd, 1, 0) > 0) {
					guardian_dead = true;
					freeze_fallback_thaw(f);
				}
			}
		}
		if (f->close_fn) {
			int reason = atomic_load(&f->shared->close_reason);
			f->close_fn(f->close_userdata, reason ? reason : FRZ_CLOSE_DEADLINE);
		}
		pthread_mutex_lock(&f->wd_mutex);
	}
	pthread_mutex_unlock(&f->wd_mutex);
	return NULL;
}

static void watchdog_stop(struct frz_freeze *f)
{
	if (!f->watchdog_started)
		return;
	pthread_mutex_lock(&f->wd_mutex);
	f->wd_stop = true;
	pthread_cond_broadcast(&f->wd_cond);
	pthread_mutex_unlock(&f->wd_mutex);
	pthread_join(f->watchdog, NULL);
	f->watchdog_started = false;
}

/* ---- results ------------------------------------------------------------ */

static void log_results(struct frz_freeze *f)
{
	struct frz_ctx *ctx = f->ctx;
	const struct shared_window *sh = f->shared;

	for (size_t i = 0; i < f->n_targets; i++) {
		const struct shared_fs *s = &sh->fs[i];
		uint64_t flush, freeze, thaw;
		frz_freeze_get_times(f, i, &flush, &freeze, &thaw);
		info(ctx, "%s (%s): %s, level %u, flush %.3f ms, freeze %.3f ms, thaw %.3f ms%s%s",
		     f->targets[i].mountpoint, f->targets[i].fs->fstype,
		     frz_outcome_to_string(frz_freeze_get_outcome(f, i)), f->targets[i].level,
		     (double)flush / 1e6, (double)freeze / 1e6, (double)thaw / 1e6,
		     s->error ? ": " : "", s->error ? strerror(s->error) : "");
		if (atomic_load(&s->state) == FS_BUSY)
			warn(ctx, "%s was already frozen by someone else: left frozen, counted crash-consistent",
			     f->targets[i].mountpoint);
	}
	info(ctx, "pause %.3f ms (flush before the window %.3f ms)",
	     (double)frz_freeze_get_pause_ns(f) / 1e6, (double)frz_freeze_get_flush_ns(f) / 1e6);
}

FRZ_EXPORT enum frz_close_reason frz_freeze_get_close_reason(const struct frz_freeze *f)
{
	return f && f->shared ? (enum frz_close_reason)atomic_load(&f->shared->close_reason)
			      : FRZ_CLOSE_NONE;
}

FRZ_EXPORT size_t frz_freeze_get_n_filesystems(const struct frz_freeze *f)
{
	return f ? f->n_targets : 0;
}

FRZ_EXPORT const struct frz_fs *frz_freeze_get_filesystem(const struct frz_freeze *f, size_t i)
{
	return f && i < f->n_targets ? f->targets[i].fs : NULL;
}

FRZ_EXPORT enum frz_outcome frz_freeze_get_outcome(const struct frz_freeze *f, size_t i)
{
	if (!f || !f->shared || i >= f->n_targets)
		return FRZ_OUTCOME_NONE;
	const struct shared_fs *s = &f->shared->fs[i];
	switch (atomic_load(&s->state)) {
	case FS_FROZEN:
		/* Still frozen after the window: its thaw failed. */
		return atomic_load(&f->shared->phase) == PHASE_CLOSED ? FRZ_OUTCOME_FAILED
								       : FRZ_OUTCOME_FROZEN;
	case FS_THAWING:
	case FS_THAWED:
		return FRZ_OUTCOME_FROZEN;
	case FS_FLUSHED:
		return FRZ_OUTCOME_FLUSHED;
	case FS_BUSY:
		return FRZ_OUTCOME_BUSY;
	case FS_FAILED:
		return FRZ_OUTCOME_FAILED;
	default:
		return FRZ_OUTCOME_NONE;
	}
}

FRZ_EXPORT int frz_freeze_get_errno(const struct frz_freeze *f, size_t i)
{
	return f && f->shared && i < f->n_targets ? f->shared->fs[i].error : 0;
}

FRZ_EXPORT unsigned frz_freeze_get_level(const struct frz_freeze *f, size_t i)
{
	return f && i < f->n_targets ? f->targets[i].level : 0;
}

static uint64_t span(uint64_t start, uint64_t end)
{
	return start && end > start ? end - start : 0;
}

FRZ_EXPORT void frz_freeze_get_times(const struct frz_freeze *f, size_t i, uint64_t *ret_flush_ns,
				     uint64_t *ret_freeze_ns, uint64_t *ret_thaw_ns)
{
	const struct shared_fs *s = f && f->shared && i < f->n_targets ? &f->shared->fs[i] : NULL;

	if (ret_flush_ns)
		*ret_flush_ns = s ? span(s->flush_start, s->flush_end) : 0;
	if (ret_freeze_ns)
		*ret_freeze_ns = s ? span(s->freeze_start, s->freeze_end) : 0;
	if (ret_thaw_ns)
		*ret_thaw_ns = s ? span(s->thaw_start, s->thaw_end) : 0;
}

FRZ_EXPORT enum frz_consistency frz_freeze_get_consistency(const struct frz_freeze *f, size_t i)
{
	if (!f || !f->shared || i >= f->n_targets)
		return FRZ_CONSISTENCY_NONE;
	const struct freeze_target *t = &f->targets[i];
	enum frz_consistency planned = t->fs->consistency;
	/* A window closed early let writes in before the caller's work was done. */
	if (frz_freeze_get_close_reason(f) != FRZ_CLOSE_NONE)
		return planned < FRZ_CONSISTENCY_CRASH ? planned : FRZ_CONSISTENCY_CRASH;
	switch (frz_freeze_get_outcome(f, i)) {
	case FRZ_OUTCOME_FROZEN:
		return planned;
	case FRZ_OUTCOME_FLUSHED:
		/* An overlay is as consistent as its upper filesystem, planned to be frozen. */
		if (t->method == FRZ_METHOD_FLUSH && !f->shared->fs[i].unsupported)
			return planned;
		return planned < FRZ_CONSISTENCY_CRASH ? planned : FRZ_CONSISTENCY_CRASH;
	default:
		return planned < FRZ_CONSISTENCY_CRASH ? planned : FRZ_CONSISTENCY_CRASH;
	}
}

FRZ_EXPORT uint64_t frz_freeze_get_pause_ns(const struct frz_freeze *f)
{
	return f && f->shared ? span(f->shared->window_start, f->shared->window_end) : 0;
}

FRZ_EXPORT uint64_t frz_freeze_get_flush_ns(const struct frz_freeze *f)
{
	return f && f->shared ? span(f->shared->flush_start, f->shared->flush_end) : 0;
}

FRZ_EXPORT const char *frz_outcome_to_string(enum frz_outcome outcome)
{
	static const char *const names[] = {
		[FRZ_OUTCOME_NONE] = "not-reached", [FRZ_OUTCOME_FROZEN] = "frozen",
		[FRZ_OUTCOME_FLUSHED] = "flushed",  [FRZ_OUTCOME_BUSY] = "busy",
		[FRZ_OUTCOME_FAILED] = "failed",
	};
	return (unsigned)outcome < ARRAY_SIZE(names) ? names[outcome] : "unknown";
}

FRZ_EXPORT const char *frz_close_reason_to_string(enum frz_close_reason reason)
{
	static const char *const names[] = {
		[FRZ_CLOSE_NONE] = "none",
		[FRZ_CLOSE_DEADLINE] = "deadline",
		[FRZ_CLOSE_ABORT] = "abort",
		[FRZ_CLOSE_FREEZE_FAILED] = "freeze-failed",
		[FRZ_CLOSE_OWNER_DIED] = "owner-died",
	};
	return (unsigned)reason < ARRAY_SIZE(names) ? names[reason] : "unknown";
}
