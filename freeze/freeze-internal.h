/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * freeze: the I/O-pause window.  The caller's process (the "owner") plans,
 * opens and checks every filesystem, then forks the guardian, which makes
 * every FIFREEZE/FITHAW itself and reports through a shared page; a
 * watchdog thread in the owner and a timer in the guardian both keep the
 * deadline.  The state record under the state directory says what is frozen
 * so that `freezeshim status` and `freezeshim thaw` work across crashes.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan-internal.h"
#include "stack-check.h"

#define FRZ_DEFAULT_STATE_DIR "/run/freezeshim"
#define FRZ_DEFAULT_TIMEOUT_MS 30000

/* Per-filesystem state, shared by owner and guardian and written to the record. */
enum fs_state {
	FS_PENDING,
	FS_FREEZING,   /* FIFREEZE in flight */
	FS_FROZEN,
	FS_BUSY,       /* EBUSY: someone else's freeze, never ours to thaw */
	FS_FLUSHED,    /* syncfs only */
	FS_THAWING,    /* FITHAW in flight */
	FS_THAWED,
	FS_FAILED,
	FS_STATE_MAX
};
const char *fs_state_to_string(enum fs_state s);
enum fs_state fs_state_from_string(const char *s);

enum window_phase {
	PHASE_PREPARED,
	PHASE_FLUSHING,
	PHASE_FREEZING,
	PHASE_FROZEN,
	PHASE_THAWING,
	PHASE_CLOSED,
	PHASE_MAX
};
const char *window_phase_to_string(enum window_phase p);

struct shared_fs {
	_Atomic int state;       /* enum fs_state */
	int error;               /* errno of the failed ioctl */
	bool unsupported;        /* FIFREEZE said EOPNOTSUPP */
	uint64_t flush_start, flush_end;
	uint64_t freeze_start, freeze_end;
	uint64_t thaw_start, thaw_end;
};

/* One anonymous shared page (or a few) mapped before the fork. */
struct shared_window {
	_Atomic int phase;         /* enum window_phase */
	_Atomic int close_reason;  /* enum frz_close_reason */
	_Atomic int thaw_failures;
	_Atomic uint64_t deadline; /* CLOCK_MONOTONIC ns; 0 while not armed */
	_Atomic int abort_signo;   /* the signal that made the guardian close the window */
	_Atomic int abort_pid;     /* and who sent it, for the message */
	uint64_t flush_start, flush_end;
	uint64_t window_start, window_end;
	size_t n;
	struct shared_fs fs[];
};

/* One filesystem of the freeze order, opened and checked before the window. */
struct freeze_target {
	const struct frz_fs *fs;
	enum frz_method method;
	unsigned level;        /* parallel step: all dependents are in lower levels */
	int fd;                /* on the mount root; kept for the whole window */
	int mnt_id;
	const char *mountpoint;
};

/* Fixed-width fields of the record, rewritten in place with pwrite(). */
struct record_layout {
	off_t guardian_off;
	off_t deadline_off;
	off_t phase_off;
	off_t *fs_state_off;   /* per target */
};

/* Commands from the owner to the guardian, over a SOCK_SEQPACKET pair. */
enum guardian_op {
	OP_FLUSH = 1,   /* parallel syncfs of every target */
	OP_FREEZE,      /* arg: the deadline (CLOCK_MONOTONIC ns) */
	OP_THAW,
	OP_ABORT,       /* close the window now (arg: enum frz_close_reason) */
	OP_DETACH,      /* the owner leaves: keep the window until the deadline or SIGTERM */
	OP_SET_PGID,    /* arg: the window's process group */
	OP_QUIT,        /* the window is over: exit */
};

struct guardian_msg {
	int op;
	int result;        /* replies: 0 or -errno/-FRZ_ERR_* */
	int64_t arg;
};

struct frz_freeze {
	int refcount;
	struct frz_ctx *ctx;
	struct frz_plan *plan;
	uint64_t timeout_ns;
	char *state_dir;
	pid_t window_pgid;
	frz_close_fn close_fn;
	void *close_userdata;
	unsigned hold_after;   /* testing aid: stop after this many freezes (0: never) */

	struct freeze_target *targets;
	size_t n_targets;
	size_t *batch_items;   /* the guardian's work list, allocated before the fork */
	unsigned n_levels;
	struct md_sync *md;
	size_t n_md;

	int state_dir_fd;
	int lock_fd;
	int record_fd;
	struct record_layout record;

	struct shared_window *shared;
	size_t shared_size;

	pid_t owner_pid;
	pid_t guardian_pid;
	int guardian_pidfd;
	int guardian_death_code;   /* CLD_* of a guardian found dead by the watchdog, else 0 */
	int guardian_death_status; /* its exit status or signal */
	int sock;              /* the owner's end */
	pthread_mutex_t sock_mutex;  /* one request at a time from the owner's threads */

	/* watchdog */
	pthread_t watchdog;
	bool watchdog_started;
	pthread_mutex_t wd_mutex;
	pthread_cond_t wd_cond;
	bool wd_stop;
	uint64_t wd_deadline;   /* 0: not armed */
	atomic_bool closed_early_notified;
	atomic_bool fallback_done;

	bool prepared, flushed, window_open, finished, detached;
	bool mlocked, oom_adjusted;
	char saved_oom_adj[16];
	int devnull_fd;
	/*
	 * /sys/kernel/rcu_expedited: each FIFREEZE waits for three RCU grace
	 * periods (one per freeze level of the superblock), 8-16 ms each at
	 * HZ=250, while writers are already blocked.  Expedited grace periods
	 * take microseconds, so it is set to 1 for the freezes and put back.
	 */
	int rcu_fd;
	bool rcu_was_normal;   /* it read 0: we set 1 and restore 0 */
	_Atomic bool rcu_expedited_by_us;
	int owner_pidfd;
};

/* Testing aid (FREEZESHIM_DEBUG_HOLD_AFTER): stop the freeze sequence after N freezes. */
void freeze_set_hold_after(struct frz_freeze *f, unsigned n);

/* guardian.c: the forked process; never returns. */
_Noreturn void guardian_main(struct frz_freeze *f, int sock);
/* The thaw of last resort when the guardian died in the window: in the owner. */
void freeze_fallback_thaw(struct frz_freeze *f);
/* Expedited RCU for the freezes, and back (pwrite only: usable in the window). */
void rcu_expedite(struct frz_freeze *f);
void rcu_restore(struct frz_freeze *f);

/* record.c: the lock and the state record. */
int state_dir_open(struct frz_ctx *ctx, const char *dir, bool create, int *ret_fd);
int record_write(struct frz_freeze *f);
void record_set_fs_state(const struct frz_freeze *f, size_t i, enum fs_state s);
void record_set_phase(const struct frz_freeze *f, enum window_phase p);
void record_set_deadline(const struct frz_freeze *f, uint64_t deadline_mono);
void record_set_guardian(const struct frz_freeze *f, pid_t pid);
void record_remove(const struct frz_freeze *f);

/* A parsed record, for status and thaw. */
struct record_fs {
	enum fs_state state;
	dev_t devno;
	int mnt_id;
	char *fstype;
	char *mountpoint;
};
struct record_md {
	char name[32];
	char saved[24];
};
struct record {
	pid_t owner, guardian;
	unsigned long long owner_start, guardian_start;  /* /proc/PID/stat starttime */
	int64_t started_sec;
	uint64_t timeout_ms;
	int64_t deadline_sec;   /* realtime; 0 when not armed */
	enum window_phase phase;
	struct record_fs *fs;
	size_t n_fs;
	struct record_md *md;   /* md arrays whose sync_action the window froze */
	size_t n_md;
	bool rcu_expedite;      /* the window may leave /sys/kernel/rcu_expedited at 1 */
};
int record_read(int dir_fd, struct record **ret);   /* -ENOENT when there is none */
void record_free(struct record *r);
/* Is PID alive and the same process that started at START (clock ticks)? */
bool process_matches(pid_t pid, unsigned long long start);
int process_start_time(pid_t pid, unsigned long long *ret);

uint64_t now_ns(void);
