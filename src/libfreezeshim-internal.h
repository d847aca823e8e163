/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The context object and the logging/error plumbing shared by every folder. */
#pragma once

#include <syslog.h>

#include "freezeshim/freezeshim.h"
#include "util.h"

struct frz_disk_map_entry {
	char *device;   /* as given: "/dev/loop3" or "loop3" */
	char *disk_id;
	bool implicit;  /* added by freezeshim, not the user: skipped when the device is gone */
};

/*
 * A disk map entry the user did not give (the local provider names every
 * loop device): a device that disappears before the plan is skipped, and an
 * entry that clashes with the user's is not added (0 then).
 */
int ctx_add_disk_map_implicit(struct frz_ctx *ctx, const char *device, const char *disk_id);

struct frz_ctx {
	int refcount;
	frz_log_fn log_fn;
	void *log_userdata;
	int log_priority;
	char *sysroot;          /* "/" or an absolute directory */
	int sysroot_fd;         /* O_PATH|O_DIRECTORY on sysroot */
	bool sysroot_is_host;   /* sysroot is "/": ioctls on /dev nodes are meaningful */
	struct ptrvec disk_map; /* struct frz_disk_map_entry * */
	char *error;            /* last failure, one line */
	struct log_buffer *log_buffer; /* set while an I/O-pause window is open */
};

/*
 * While a window is open, log messages are formatted into memory allocated
 * beforehand and handed to the log hook after the thaw: the hook may write
 * to a file on a frozen filesystem.  Messages beyond the buffer are counted
 * and reported as dropped.
 */
int ctx_log_buffer_begin(struct frz_ctx *ctx, size_t size);
void ctx_log_buffer_end(struct frz_ctx *ctx);

void frz_log(const struct frz_ctx *ctx, int priority, const char *file, int line,
	     const char *fn, const char *format, ...) _printf_(6, 7);

#define frz_log_cond(ctx, prio, ...)                                                   \
	do {                                                                           \
		if ((ctx)->log_priority >= (prio))                                     \
			frz_log(ctx, prio, __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
#define dbg(ctx, ...) frz_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define info(ctx, ...) frz_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define warn(ctx, ...) frz_log_cond(ctx, LOG_WARNING, __VA_ARGS__)

/*
 * Record what went wrong (one line, what to do included) and return -err,
 * so callers can write: return frz_fail(ctx, FRZ_ERR_X, "...").
 */
int frz_fail(struct frz_ctx *ctx, int err, const char *format, ...) _printf_(3, 4);
