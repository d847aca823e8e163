/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checks of the block stacks below a plan's filesystems before anything is
 * frozen, and md's sync_action for the window.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "plan-internal.h"

struct md_sync {
	int fd;             /* <md>/md/sync_action opened O_RDWR|O_CLOEXEC before the window, -1 when closed */
	char name[32];      /* kernel name: md0 */
	char saved[24];     /* the action read before freezing: idle, resync, recover, check, repair, reshape, frozen */
	bool frozen_by_us;  /* we wrote "frozen" */
};

/*
 * Check the block stacks below every filesystem of the plan whose method is
 * FIFREEZE or FLUSH (frz_fs.bdevs, their lowers, and the filesystems they are
 * stored on): a suspended dm device, a multipath device with no active path
 * or a thin pool over 95 % full (or out of data space, read-only, failed)
 * fails with -FRZ_ERR_UNSAFE_STACK and a one-line message in the context.
 * Every md array below a FIFREEZE filesystem gets its sync_action opened and
 * read into a malloc'ed array: *ret_md and *ret_n_md (NULL and 0 when none),
 * set on success only.  Reads go through the context's sysroot.
 */
int stack_check_plan(const struct frz_plan *plan, struct md_sync **ret_md, size_t *ret_n_md);

/*
 * Right before the first freeze: write "frozen" to every array whose saved
 * action is not already "frozen".  pwrite() only: no allocation, no path
 * lookup, no logging; async-signal-safe.  0 or the first -errno (the others
 * are still tried).
 */
int md_sync_freeze(struct md_sync *md, size_t n);

/*
 * After the last thaw: "idle" to every array md_sync_freeze() froze (md then
 * resumes a pending resync or recovery by itself), then "check" or "repair"
 * again where that was running.  Same constraints as md_sync_freeze().
 */
void md_sync_restore(struct md_sync *md, size_t n);

/* Close the descriptors and free the array; (NULL, 0) is fine. */
void md_sync_free(struct md_sync *md, size_t n);

/* ---- status parsers, exposed for the unit tests ----------------------- */

enum thin_pool_mode {
	THIN_POOL_RW,
	THIN_POOL_RO,                 /* metadata error: no new blocks */
	THIN_POOL_OUT_OF_DATA_SPACE,
	THIN_POOL_FAIL,               /* every I/O fails */
};

struct thin_pool_status {
	enum thin_pool_mode mode;
	uint64_t used_metadata, total_metadata;  /* blocks; all 0 in fail mode */
	uint64_t used_data, total_data;
	bool error_if_no_space;
	bool needs_check;
};

/*
 * The status of a "thin-pool" target: "Fail", or "<transaction id>
 * <used>/<total metadata blocks> <used>/<total data blocks> <held root|->
 * ro|rw|out_of_data_space [no_]discard_passdown|ignore_discard
 * error|queue_if_no_space needs_check|- [<metadata low watermark>]"; the
 * fields after the mode are optional (older kernels print fewer).
 * 0, or -EINVAL when the text is not of that shape.
 */
int thin_pool_status_parse(const char *params, struct thin_pool_status *ret);

struct multipath_status {
	unsigned n_groups;
	unsigned n_paths;
	unsigned n_active_paths;  /* "A" in any group */
};

/*
 * The status of a "multipath" target: "<#features> <features...> <#handler
 * args> <args...> <#groups> <next group>", then per group "A|D|E <#selector
 * status args> <args...> <#paths> <#selector args per path>", then per path
 * "<major:minor> A|F <fail count> <selector args...>".  0, or -EINVAL.
 */
int multipath_status_parse(const char *params, struct multipath_status *ret);

/* The targets of one dm device and their status parameters. */
struct dm_status {
	struct ptrvec types;   /* char *: "linear", "thin-pool", "multipath", ... */
	struct ptrvec params;  /* char *, one per target */
};
void dm_status_clear(struct dm_status *st);

/*
 * The targets of device NAME in TEXT, the output of `dmsetup status`
 * ("NAME: START LENGTH TARGET PARAMS" per target), added to RET (which starts
 * empty).  0 when NAME has at least one target, -ENOENT when it has none,
 * -ENOMEM.
 */
int dmsetup_status_lookup(const char *text, const char *name, struct dm_status *ret);

/*
 * The targets in a DM_TABLE_STATUS reply: BUF of SIZE bytes starting with
 * struct dm_ioctl.  0, -ENOBUFS when the kernel said the buffer was too
 * small, -EINVAL when the reply does not hold together, -ENOMEM.
 */
int dm_ioctl_status_parse(const void *buf, size_t size, struct dm_status *ret);
