/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshot providers: what makes the snapshot group once the filesystems
 * are frozen.  One small interface, called by the snapshot workflow
 * (src/snapshot.c) in this order:
 *
 *   prepare  outside the window: resolve every disk, open every file,
 *            connect, check permissions; refuse here, never inside
 *   create   inside the window: fix the point in time and return at once
 *   finish   after the thaw: wait until the snapshots are complete
 *   tag      after finish: label the snapshots with the consistency reached
 *
 * Each step returns an enum snapshot_exit (0 or the documented exit code)
 * and, on failure, sets provider->error to one line saying what went wrong
 * and what to do.  create runs with filesystems frozen: it must not write
 * to them, look up paths on them, or log (messages are buffered anyway,
 * but a path lookup on a frozen filesystem can block).  It must give up
 * promptly once *provider->window_closed becomes true (the deadline passed
 * and everything was thawed behind its back).
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "libfreezeshim-internal.h"

/* Exit codes of `freezeshim snapshot`: those of Alibaba's app-snapshot-plugin. */
enum snapshot_exit {
	SNAP_OK = 0,
	SNAP_PRECONDITION = 1,     /* a precondition does not hold */
	SNAP_BAD_PARAM = 2,        /* bad option, parameter or configuration */
	SNAP_NO_DISK = 3,          /* no disk the provider can snapshot, or no permission */
	SNAP_CREATE_FAILED = 4,    /* creating the snapshot group failed */
	SNAP_GROUP_STATE = 5,      /* the group ended in a wrong state */
	SNAP_CREATE_TIMEOUT = 6,   /* the group did not complete in time */
	SNAP_SNAPSHOT_STATE = 7,   /* a disk's snapshot is in an unexpected state */
	SNAP_TAG_FAILED = 8,       /* tagging the snapshots failed */
	SNAP_PRESCRIPT_FAILED = 9,
	SNAP_POSTSCRIPT_FAILED = 10,
	SNAP_PAUSE_FAILED = 11,    /* the I/O pause failed or hit its deadline */
	SNAP_RESUME_FAILED = 12,   /* a thaw failed */
	SNAP_NO_ROLE = 13,         /* no RAM role / credentials */
	SNAP_QUOTA = 14,           /* snapshot quota exceeded */
	SNAP_STATE_WRONG = 15,     /* snapshot state wrong */
	SNAP_IN_PROGRESS = 16,     /* a previous snapshot group is still being created */
	SNAP_UNKNOWN = 255,
};

/* The consistency a snapshot reached, worst first. */
enum snapshot_verdict {
	VERDICT_CRASH,  /* no freeze, or some filesystem only flushed */
	VERDICT_FS,     /* every filesystem frozen; scripts absent or failed */
	VERDICT_APP,    /* every filesystem frozen and every script succeeded */
};
const char *snapshot_verdict_to_string(enum snapshot_verdict v);  /* "app", "fs", "crash" */
/* The tag key of a verdict: "APPConsistent", "FsConsistent", "CrashConsistent" (value "True"). */
const char *snapshot_verdict_tag(enum snapshot_verdict v);

struct snapshot_tag {
	char *key;
	char *value;
};

/* What the workflow asks of a provider; owned by the workflow, read-only for providers. */
struct snapshot_request {
	struct frz_ctx *ctx;
	const struct frz_plan *plan;   /* the disks are frz_plan_get_disk() */
	const char *name;              /* may be NULL */
	const char *description;       /* may be NULL */
	const struct snapshot_tag *tags;   /* the user's --tag, n_tags of them */
	size_t n_tags;
	char *const *exclude_disks;    /* disk IDs to leave out, NULL-terminated (may be NULL) */
	uint64_t timeout_ms;           /* the I/O-pause limit */
	bool frozen;                   /* false with --no-freeze: create runs, nothing is frozen */
	/* provider-specific */
	const char *snapshot_dir;      /* local: where snapshots go */
	char *const *exec_command;     /* exec: argv, NULL-terminated */
	uint64_t exec_timeout_ms;      /* exec: finish-phase bound, unused by create */
};

/* One snapshot of a disk, as reported by the provider after finish. */
struct snapshot_item {
	char *disk_id;
	char *device;       /* "/dev/loop3" */
	char *snapshot_id;  /* provider's ID, or a path for local */
	char *state;        /* "completed", ... */
	uint64_t size;      /* bytes, 0 when unknown */
	char *method;       /* local: "reflink" or "copy"; else NULL */
};

struct provider;
struct provider_ops {
	const char *name;
	int (*prepare)(struct provider *p);
	int (*create)(struct provider *p);
	int (*finish)(struct provider *p);
	int (*tag)(struct provider *p, enum snapshot_verdict verdict);
	void (*free)(struct provider *p);  /* free private state; also undo a partial snapshot */
};

struct provider {
	const struct provider_ops *ops;
	const struct snapshot_request *req;
	const _Atomic bool *window_closed; /* set by the workflow when the window closed early */
	char *group_id;                    /* set by create (or prepare), e.g. "ssg-..." */
	pid_t window_pgid;                 /* set by prepare when create runs a process group
	                                      (exec): killed if the window closes early */
	struct snapshot_item *items;       /* after finish */
	size_t n_items;
	char *error;                       /* one line, set with provider_fail() */
	/* exec: the command's output tail and status, for the report */
	char *output;
	int command_status;
	void *priv;
};

/* The providers by name ("local", "exec"); NULL when unknown. */
const struct provider_ops *provider_find(const char *name);
/* "local, exec": for messages. */
const char *provider_names(void);

int provider_new(const struct provider_ops *ops, const struct snapshot_request *req,
		 const _Atomic bool *window_closed, struct provider **ret);
void provider_free(struct provider *p);
/* Set p->error (formatted, replacing any previous one) and return CODE. */
int provider_fail(struct provider *p, int code, const char *fmt, ...) _printf_(3, 4);
/* Append a snapshot item (strings copied; NULLs allowed). */
int provider_add_item(struct provider *p, const char *disk_id, const char *device,
		      const char *snapshot_id, const char *state, uint64_t size, const char *method);

/* For providers: whether the request leaves DISK out (an --exclude-disk names its ID or device). */
bool provider_disk_excluded(const struct provider *p, const struct frz_disk *disk);
/* SNAP_BAD_PARAM, with p->error set, when an --exclude-disk names no disk of the plan. */
int provider_check_excludes(struct provider *p);
/* "PREFIX-20240501T120000Z-3fa9c1": the UTC time of the call and 24 random bits. */
int provider_make_group_id(const char *prefix, char **ret);

extern const struct provider_ops provider_local_ops;
extern const struct provider_ops provider_exec_ops;
