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

#ifdef __cplusplus
}
#endif

#endif
