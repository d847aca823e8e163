/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table that turns library errors into messages and documented exit codes. */
#include "config.h"

#include <errno.h>

#include "libfreezeshim-internal.h"

static const struct {
	enum frz_error code;
	const char *message;
	int exit_code;
} errors[] = {
	{ FRZ_ERR_BAD_SYSROOT, "the root prefix cannot be read", 2 },
	{ FRZ_ERR_BAD_DISK_MAP, "malformed disk map", 2 },
	{ FRZ_ERR_UNKNOWN_DEVICE, "no such block device", 2 },
	{ FRZ_ERR_UNKNOWN_DISK, "no such disk", 2 },
	{ FRZ_ERR_NOT_MOUNTPOINT, "not a mountpoint", 2 },
	{ FRZ_ERR_SPANNING, "the chosen disks hold part of a group that spans other disks", 1 },
	{ FRZ_ERR_NO_MOUNTINFO, "the mount table cannot be read", 1 },
	{ FRZ_ERR_LOCKED, "another freezer holds the lock", 1 },
	{ FRZ_ERR_UNSAFE_STACK, "a block device below a target would make the freeze hang", 1 },
	{ FRZ_ERR_TARGET_CHANGED, "a mount changed between the plan and the freeze", 1 },
	{ FRZ_ERR_PAUSE_FAILED, "the I/O pause failed", 11 },
	{ FRZ_ERR_DEADLINE, "the I/O-pause deadline passed", 11 },
	{ FRZ_ERR_RESUME_FAILED, "the I/O resume failed", 12 },
	{ FRZ_ERR_ABORTED, "the I/O-pause window was aborted", 11 },
	{ FRZ_ERR_GUARDIAN, "the guardian process failed", 11 },
	{ FRZ_ERR_BAD_STATE, "the state directory or its record is unusable", 1 },
};

FRZ_EXPORT const char *frz_strerror(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
		if ((int)errors[i].code == err)
			return errors[i].message;
	return err < FRZ_ERR_BASE ? strerror(err) : "unknown freezeshim error";
}

FRZ_EXPORT int frz_error_to_exit_code(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
		if ((int)errors[i].code == err)
			return errors[i].exit_code;
	return err == EINVAL ? 2 : 255;
}
