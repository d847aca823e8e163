/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libfreezeshim: the public API.
 *
 * A frz_ctx holds configuration (root prefix, disk map, log hook).  A
 * frz_plan is an immutable picture of the machine restricted to the chosen
 * targets: the disks, the filesystems on them, their freeze method and the
 * order in which they can be frozen without deadlocking.
 *
 * Conventions: functions returning int return 0 (or a count) on success and
 * a negative errno-style code on failure; codes at or above FRZ_ERR_BASE are
 * freezeshim's own (see enum frz_error).  Output parameters are named ret_*
 * and left untouched on failure.  frz_*_unref(NULL) is allowed.  The library
 * never prints: messages go to the log hook, and frz_ctx_get_error() gives a
 * one-line description of the last failure.
 */
#ifndef FREEZESHIM_H
#define FREEZESHIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Project-specific error codes, returned negated like -errno. */
enum frz_error {
	FRZ_ERR_BASE = 4096,
	FRZ_ERR_BAD_SYSROOT,      /* the root prefix cannot be read */
	FRZ_ERR_BAD_DISK_MAP,     /* a disk map entry is malformed */
	FRZ_ERR_UNKNOWN_DEVICE,   /* a block device that this machine does not have */
	FRZ_ERR_UNKNOWN_DISK,     /* a disk ID that is not attached to this machine */
	FRZ_ERR_NOT_MOUNTPOINT,   /* a path target that is not a mountpoint */
	FRZ_ERR_SPANNING,         /* the chosen disks hold part of a group that spans others */
	FRZ_ERR_NO_MOUNTINFO,     /* the mount table cannot be parsed */
	/* freezing (since 0.2) */
	FRZ_ERR_LOCKED,           /* another freezer holds the lock */
	FRZ_ERR_UNSAFE_STACK,     /* a suspended dm device, a multipath device without
	                             paths or a nearly full thin pool: a freeze would hang */
	FRZ_ERR_TARGET_CHANGED,   /* a mount changed between the plan and the freeze */
	FRZ_ERR_PAUSE_FAILED,     /* a freeze failed: everything was thawed */
	FRZ_ERR_DEADLINE,         /* the I/O-pause deadline passed: everything was thawed */
	FRZ_ERR_RESUME_FAILED,    /* a thaw failed */
	FRZ_ERR_ABORTED,          /* frz_freeze_abort() ended the window */
	FRZ_ERR_GUARDIAN,         /* the guardian process could not be started or died */
	FRZ_ERR_BAD_STATE,        /* the state directory or its record is unusable */
	FRZ_ERR_MAX
};

/* Describe an error code (negative or positive); never NULL. */
const char *frz_strerror(int err);

/*
 * The documented exit code (see freezeshim(8)) for a library error: 1 for a
 * precondition that does not hold, 2 for bad input, 255 for anything else.
 */
int frz_error_to_exit_code(int err);

/* ---- context ---------------------------------------------------------- */

struct frz_ctx;

/* Log priorities are syslog's (LOG_ERR .. LOG_DEBUG). */
typedef void (*frz_log_fn)(void *userdata, int priority, const char *file,
			   int line, const char *fn, const char *format,
			   va_list args);

int frz_ctx_new(struct frz_ctx **ret_ctx);
struct frz_ctx *frz_ctx_ref(struct frz_ctx *ctx);
struct frz_ctx *frz_ctx_unref(struct frz_ctx *ctx);

void frz_ctx_set_log_fn(struct frz_ctx *ctx, frz_log_fn log_fn, void *userdata);
void frz_ctx_set_log_priority(struct frz_ctx *ctx, int priority);
int frz_ctx_get_log_priority(const struct frz_ctx *ctx);

/*
 * Read /sys, /proc and /dev below DIR instead of "/" (fixtures, machine
 * dumps).  Fails with -FRZ_ERR_BAD_SYSROOT when DIR has no readable
 * proc/self/mountinfo and sys/block.
 */
int frz_ctx_set_sysroot(struct frz_ctx *ctx, const char *dir);
const char *frz_ctx_get_sysroot(const struct frz_ctx *ctx);

/*
 * Give a block device a disk identity ("DEVICE=DISKID", or the two parts):
 * DEVICE is /dev/NAME or the kernel name; a DISKID starting with "d-" is an
 * Alibaba Cloud disk, "vol-" an AWS EBS volume, anything else a user disk.
 * The device is checked when a plan is built.
 */
int frz_ctx_add_disk_map(struct frz_ctx *ctx, const char *device, const char *disk_id);
int frz_ctx_add_disk_map_string(struct frz_ctx *ctx, const char *device_eq_id);

/* One line saying what the last failing call found wrong, or NULL. */
const char *frz_ctx_get_error(const struct frz_ctx *ctx);

/* ---- plan ------------------------------------------------------------- */

enum frz_provider {
	FRZ_PROVIDER_LOCAL,   /* a disk with no cloud identity */
	FRZ_PROVIDER_ALIYUN,  /* Alibaba Cloud ESSD (virtio-blk or NVMe) */
	FRZ_PROVIDER_AWS,     /* AWS EBS on NVMe */
	FRZ_PROVIDER_USER     /* named by the disk map with an ID of no known cloud */
};

enum frz_method {
	FRZ_METHOD_FIFREEZE,  /* FIFREEZE/FITHAW */
	FRZ_METHOD_FLUSH,     /* syncfs() only: no freeze support (FUSE, overlay, vfat, ...) */
	FRZ_METHOD_SKIP       /* nothing to do: pseudo, network or read-only */
};

enum frz_consistency {
	FRZ_CONSISTENCY_NONE,   /* not on any disk that is snapshotted */
	FRZ_CONSISTENCY_CRASH,  /* flushed, but writes may continue during the snapshot */
	FRZ_CONSISTENCY_FS      /* frozen (or read-only): the filesystem is clean */
};

enum frz_plan_flags {
	/* Add the disks that a chosen disk shares an LVM volume group, md
	 * array, btrfs volume or external log with, instead of failing. */
	FRZ_PLAN_INCLUDE_SPANNING = 1 << 0,
};

struct frz_plan;
struct frz_disk;
struct frz_fs;

/*
 * Build a plan.  Each target is a mountpoint (absolute path), a block device
 * (/dev/...) or a disk ID.  No targets means every cloud disk of the machine,
 * or every disk when it has none.
 */
int frz_plan_new(struct frz_ctx *ctx, const char *const *targets, size_t n_targets,
		 unsigned flags, struct frz_plan **ret_plan);
struct frz_plan *frz_plan_ref(struct frz_plan *plan);
struct frz_plan *frz_plan_unref(struct frz_plan *plan);

/* The disks the plan covers, in device name order. */
size_t frz_plan_get_n_disks(const struct frz_plan *plan);
const struct frz_disk *frz_plan_get_disk(const struct frz_plan *plan, size_t i);

/* The filesystems the plan covers, ordered by first mountpoint. */
size_t frz_plan_get_n_filesystems(const struct frz_plan *plan);
const struct frz_fs *frz_plan_get_filesystem(const struct frz_plan *plan, size_t i);

/* The filesystems to freeze or flush, dependents first.  Thaw in reverse. */
size_t frz_plan_get_n_freeze_order(const struct frz_plan *plan);
const struct frz_fs *frz_plan_get_freeze_order(const struct frz_plan *plan, size_t i);

size_t frz_plan_get_n_warnings(const struct frz_plan *plan);
const char *frz_plan_get_warning(const struct frz_plan *plan, size_t i);

/* The JSON document described in freezeshim(8); free() the result. */
int frz_plan_to_json(const struct frz_plan *plan, char **ret_json);

const char *frz_disk_get_id(const struct frz_disk *disk);
const char *frz_disk_get_serial(const struct frz_disk *disk); /* NULL when none */
enum frz_provider frz_disk_get_provider(const struct frz_disk *disk);
const char *frz_disk_get_device(const struct frz_disk *disk);  /* "/dev/vdb" */

/*
 * Mountpoints that lead to this filesystem, in mount table order; an
 * over-mounted one is given only when it is the filesystem's sole name.
 */
size_t frz_fs_get_n_mountpoints(const struct frz_fs *fs);
const char *frz_fs_get_mountpoint(const struct frz_fs *fs, size_t i);
const char *frz_fs_get_fstype(const struct frz_fs *fs);
const char *frz_fs_get_source(const struct frz_fs *fs);
dev_t frz_fs_get_devno(const struct frz_fs *fs);
size_t frz_fs_get_n_disks(const struct frz_fs *fs);
const struct frz_disk *frz_fs_get_disk(const struct frz_fs *fs, size_t i);
size_t frz_fs_get_n_depends_on(const struct frz_fs *fs);
const struct frz_fs *frz_fs_get_depends_on(const struct frz_fs *fs, size_t i);
enum frz_method frz_fs_get_method(const struct frz_fs *fs);
enum frz_consistency frz_fs_get_consistency(const struct frz_fs *fs);

const char *frz_provider_to_string(enum frz_provider provider);
const char *frz_method_to_string(enum frz_method method);
const char *frz_consistency_to_string(enum frz_consistency consistency);

/* ---- freeze (since 0.2) ------------------------------------------------ */

/*
 * A freeze session: one I/O-pause window over a plan's freeze order.
 *
 *   frz_freeze_new()      bind a session to a plan
 *   frz_freeze_prepare()  take the lock under the state directory, open and
 *                         check every filesystem, refuse unsafe stacks, start
 *                         the guardian process and the watchdog thread.
 *                         Nothing is frozen yet.
 *   frz_freeze_freeze()   flush every filesystem (in parallel, writers still
 *                         running), then freeze the order, dependents first;
 *                         the I/O-pause window and its deadline start here
 *   ...                   the caller's work (a snapshot call, a command)
 *   frz_freeze_thaw()     thaw in reverse, restore md arrays, end the window
 *
 * The deadline (frz_freeze_set_timeout) is kept twice: by a watchdog thread
 * in the caller's process and by the guardian, a separate memory-locked
 * process holding its own copies of the file descriptors, which also thaws
 * when the caller's process dies, SIGKILL included.  All freeze and thaw
 * ioctls run in the guardian: a FIFREEZE that blocks in the kernel never
 * blocks the caller, which returns -FRZ_ERR_DEADLINE at the deadline.
 *
 * While the window is open the library writes nothing anywhere: log
 * messages are kept in memory and handed to the log hook after the thaw.
 * The caller must also avoid writing to the frozen filesystems (its own log
 * files included): such a write blocks until the thaw.
 *
 * frz_freeze_prepare() forks the guardian.  After the fork it allocates
 * nothing and takes no lock of the caller's libraries, so a caller with
 * other threads is fine with glibc; a sanitizer's allocator is the
 * exception (fork from a single-threaded point there).
 *
 * Needs CAP_SYS_ADMIN.  One session per plan; not reusable after the thaw.
 */
struct frz_freeze;

/* What happened to one filesystem of the freeze order. */
enum frz_outcome {
	FRZ_OUTCOME_NONE,        /* not reached: the window ended before its turn */
	FRZ_OUTCOME_FROZEN,      /* frozen by us (and thawed by frz_freeze_thaw) */
	FRZ_OUTCOME_FLUSHED,     /* only flushed: no freeze support (EOPNOTSUPP) or method flush */
	FRZ_OUTCOME_BUSY,        /* someone else already held a freeze: left alone, never thawed */
	FRZ_OUTCOME_FAILED,      /* the freeze or the thaw failed: see frz_freeze_get_errno() */
};

/* Why the window ended early (frz_freeze_get_close_reason). */
enum frz_close_reason {
	FRZ_CLOSE_NONE,          /* still open, or ended by frz_freeze_thaw() */
	FRZ_CLOSE_DEADLINE,      /* the I/O-pause deadline passed */
	FRZ_CLOSE_ABORT,         /* frz_freeze_abort(), or `freezeshim thaw` for a detached window */
	FRZ_CLOSE_FREEZE_FAILED, /* a FIFREEZE failed with an error other than EOPNOTSUPP/EBUSY */
	FRZ_CLOSE_OWNER_DIED,    /* the process that opened the window died */
};

int frz_freeze_new(struct frz_plan *plan, struct frz_freeze **ret_freeze);
struct frz_freeze *frz_freeze_ref(struct frz_freeze *freeze);
/* The last unref of a session whose window is open thaws first. */
struct frz_freeze *frz_freeze_unref(struct frz_freeze *freeze);

/* The I/O-pause limit, counted from the first freeze; default 30 s. */
int frz_freeze_set_timeout(struct frz_freeze *freeze, uint64_t timeout_ms);
/* Where the lock and the state record live; default /run/freezeshim. */
int frz_freeze_set_state_dir(struct frz_freeze *freeze, const char *dir);
/*
 * A process group that works inside the window (a snapshot command): it is
 * sent SIGKILL when the window is closed early (deadline, abort, death of
 * the caller).  0 for none.
 */
int frz_freeze_set_window_pgid(struct frz_freeze *freeze, pid_t pgid);
/*
 * Called once from the watchdog thread when the window is closed early,
 * after everything is thawed, so the caller can give up a call it is
 * blocked in.  Must be thread-safe; must not call back into the session.
 */
typedef void (*frz_close_fn)(void *userdata, enum frz_close_reason reason);
void frz_freeze_set_close_fn(struct frz_freeze *freeze, frz_close_fn fn, void *userdata);

int frz_freeze_prepare(struct frz_freeze *freeze);
/*
 * 0 once every filesystem of the order is frozen (or flushed, or busy).
 * On failure the window is already closed and everything thawed:
 * -FRZ_ERR_PAUSE_FAILED, -FRZ_ERR_DEADLINE, -FRZ_ERR_ABORTED, ...
 */
int frz_freeze_freeze(struct frz_freeze *freeze);
/*
 * End the window.  0 when it was still open and every thaw succeeded;
 * -FRZ_ERR_DEADLINE or -FRZ_ERR_ABORTED when it had been closed early (all
 * thawed then); -FRZ_ERR_RESUME_FAILED when a thaw failed.
 */
int frz_freeze_thaw(struct frz_freeze *freeze);
/*
 * Leave the filesystems frozen and hand the window to the guardian, which
 * thaws at the deadline or when `freezeshim thaw` asks.  The session is
 * finished afterwards (unref it).
 */
int frz_freeze_detach(struct frz_freeze *freeze);
/* Close the window now from any thread (a signal handler thread, say). */
int frz_freeze_abort(struct frz_freeze *freeze);

enum frz_close_reason frz_freeze_get_close_reason(const struct frz_freeze *freeze);
/* Results, in freeze order (the plan's freeze order). */
size_t frz_freeze_get_n_filesystems(const struct frz_freeze *freeze);
const struct frz_fs *frz_freeze_get_filesystem(const struct frz_freeze *freeze, size_t i);
enum frz_outcome frz_freeze_get_outcome(const struct frz_freeze *freeze, size_t i);
/* The errno of a failed freeze or thaw of filesystem I, else 0. */
int frz_freeze_get_errno(const struct frz_freeze *freeze, size_t i);
/* Which parallel step of the order froze it: 0 first; thawed in reverse. */
unsigned frz_freeze_get_level(const struct frz_freeze *freeze, size_t i);
/* Durations in nanoseconds of its flush, freeze and thaw (0 when not done). */
void frz_freeze_get_times(const struct frz_freeze *freeze, size_t i, uint64_t *ret_flush_ns,
			  uint64_t *ret_freeze_ns, uint64_t *ret_thaw_ns);
/* The consistency the filesystem reached in this window. */
enum frz_consistency frz_freeze_get_consistency(const struct frz_freeze *freeze, size_t i);
/* The I/O-pause window: from the start of the first freeze to the end of the last thaw. */
uint64_t frz_freeze_get_pause_ns(const struct frz_freeze *freeze);
/* The pre-freeze flush of every filesystem (in parallel, before the window). */
uint64_t frz_freeze_get_flush_ns(const struct frz_freeze *freeze);

const char *frz_outcome_to_string(enum frz_outcome outcome);
const char *frz_close_reason_to_string(enum frz_close_reason reason);

#ifdef __cplusplus
}
#endif

#endif
