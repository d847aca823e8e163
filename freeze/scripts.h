/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files run or read as root (trust checks), child processes with their output
 * drained into a tail, configured scripts with timeouts and retries, and hook
 * directories.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Why a file may not be run or read as root; NULL reason == trusted. */
enum trust_kind {
	TRUST_SCRIPT,         /* regular, owner root, mode & 077 == 0, executable by owner */
	TRUST_CONFIG,         /* regular, owner root, not writable by group/other */
	TRUST_CONFIG_PRIVATE, /* regular, owner root, mode & 077 == 0 (Azure's 0600 rule) */
};
#define TRUSTED_ROOT_UID 0

/*
 * Open PATH (absolute) for KIND with O_NOFOLLOW: the last component must not be a
 * symlink, the file must satisfy KIND, and every ancestor directory up to / must be
 * owned by root and not writable by group/other unless sticky (so /tmp/prescript.sh is
 * fine).  The ancestors are walked from "/" component by component with
 * openat(O_PATH|O_NOFOLLOW|O_DIRECTORY), refusing a symlinked component too; "." and
 * ".." components are refused.  Returns an O_RDONLY|O_CLOEXEC fd, -ENOENT when missing
 * (an ancestor too), -EPERM with *ret_reason ("owned by uid 65534, must be root; run
 * chown root: /x/pre.sh", "mode 0755 gives group or other access; run chmod 0700
 * /x/pre.sh", "is a symlink; give the real path", "its directory /x is writable by group
 * or others and not sticky; run chmod go-w /x", "is not a regular file"), -EINVAL for a
 * path that is not absolute, or another -errno.  *ret_reason (may be NULL) is one line,
 * malloc'd, set on every failure (also for -ENOENT: "does not exist") and left untouched
 * on success.  TRUSTED_ROOT_UID is 0; tests may not override it.
 */
int trusted_open(const char *path, enum trust_kind kind, char **ret_reason);

/* A child process with its output drained continuously into a 64 KiB tail. */
#define PROC_OUTPUT_TAIL (64 * 1024)
struct proc_result {
	int status;             /* exit status, or 128 + signal */
	int signal;             /* the signal that ended it, 0 when it exited */
	bool timed_out;         /* the group was killed at the timeout */
	bool aborted;           /* the group was killed because the abort flag became true */
	bool spawn_failed;      /* fork/exec failed: errno in spawn_errno */
	int spawn_errno;
	uint64_t duration_ns;
	char *output;           /* the last <= 64 KiB of stdout+stderr, NUL-terminated, malloc'd */
	size_t output_len;
	uint64_t output_total;  /* bytes produced in all */
};
void proc_result_clear(struct proc_result *r);

struct proc;
/*
 * Fork a child now in its own process group, stdin /dev/null, stdout+stderr into one
 * pipe, signal mask and dispositions reset, other descriptors closed, cwd "/",
 * environment = ours + ENV_ADD ("K=V" strings, NULL-terminated, may be NULL; "K=V"
 * replaces our K).  The child runs EXEC_FD (a checked fd from trusted_open, kept open
 * by the caller, executed with execveat(AT_EMPTY_PATH) after dup'ing it to a
 * non-CLOEXEC descriptor so "#!" scripts work: their $0 is then /dev/fd/N) or, when
 * EXEC_FD < 0, ARGV[0] as an absolute path.  With PROC_WAIT_GO the child blocks on a
 * socket until proc_go(): used to fork before an I/O-pause window and start inside it
 * with nothing left to look up (the child exits 127 without running anything when the
 * proc is killed or freed first).  An exec failure is reported by proc_wait
 * (spawn_failed).  0 or -errno (fork, pipes, -EINVAL for an ENV_ADD entry without "=").
 */
enum { PROC_WAIT_GO = 1 << 0 };
int proc_spawn(int exec_fd, char *const argv[], char *const env_add[], unsigned flags,
	       struct proc **ret);
pid_t proc_pgid(const struct proc *p);     /* == its pid */
/* Let a PROC_WAIT_GO child run (a no-op otherwise, or when done already); 0 or -errno. */
int proc_go(struct proc *p);
/*
 * Drain output and wait until the child exits or TIMEOUT_MS passes (0 = no limit),
 * counted from the child's start (proc_go for PROC_WAIT_GO; a child not released yet is
 * released first).  At the timeout: SIGTERM to the group, then SIGKILL to the group
 * after KILL_GRACE_MS (default 5000 via proc_set_kill_grace).  After the child exited,
 * output is still read until EOF but at most 1 s (a daemon it left behind keeping the
 * pipe open is not waited for, and not killed unless the timeout was reached).  A child
 * that SIGKILL does not end within 2 s (blocked in the kernel) is left unreaped.
 * Retries are the caller's business.  Frees P.  0, or -errno on internal error (the
 * group is then killed).
 * ABORT_FLAG (may be NULL): an atomic_bool polled every <= 50 ms; when it becomes true
 * the group is killed at once (SIGKILL; status 128 + 9, aborted set) — used when the
 * window closes early.
 */
void proc_set_kill_grace(struct proc *p, uint64_t ms);
int proc_wait(struct proc *p, uint64_t timeout_ms, const _Atomic bool *abort_flag,
	      struct proc_result *ret);
/* Kill (SIGKILL, group) and reap without waiting for output; frees P.  NULL is fine. */
void proc_kill(struct proc *p);

/* A configured script and what happened to it. */
enum script_outcome {
	SCRIPT_NOT_RUN,   /* not reached */
	SCRIPT_OK,
	SCRIPT_MISSING,   /* the file does not exist */
	SCRIPT_INSECURE,  /* trusted_open refused it: reason says why */
	SCRIPT_FAILED,    /* non-zero exit (after every retry) */
	SCRIPT_TIMEOUT,   /* killed at the script timeout (last attempt) */
	SCRIPT_ERROR,     /* could not be started (exec error) */
};
struct script_run {
	char *path;
	enum script_outcome outcome;
	char *reason;            /* one line, NULL when OK */
	unsigned attempts;
	struct proc_result last; /* the last attempt */
	uint64_t duration_ns;    /* all attempts */
};
/*
 * Check and run PATH with ARGS (NULL-terminated, may be NULL: argv is PATH then ARGS),
 * ENV_ADD, TIMEOUT_MS per attempt (0 = no limit), up to 1 + RETRIES attempts (a failure
 * or timeout re-runs it, from the same checked fd).  MISSING, INSECURE and ERROR are not
 * retried.  ABORT_FLAG (may be NULL) as for proc_wait: the attempt in progress is
 * killed and no other is made.  *RET is overwritten: clear it with script_run_clear().
 */
void script_run(const char *path, char *const args[], char *const env_add[],
		uint64_t timeout_ms, unsigned retries, const _Atomic bool *abort_flag,
		struct script_run *ret);
void script_run_clear(struct script_run *r);
/* "not-run", "ok", "missing", "insecure", "failed", "timeout", "error". */
const char *script_outcome_to_string(enum script_outcome o);

/*
 * The hooks of DIR in name order (strcmp), absolute paths, skipping dotfiles, names
 * ending in "~", containing ".dpkg-" or ending in ".rpmnew", ".rpmsave", ".rpmorig", and
 * non-regular entries (a symlink is NOT skipped: listed, so that trusted_open refuses it
 * visibly).  The paths (malloc'd) are appended to RET_PATHS on success.  -ENOENT when
 * DIR does not exist.  The directory itself is checked like an ancestor (root-owned, not
 * group/other writable unless sticky): -EPERM + reason.  *RET_REASON (may be NULL) is
 * set on every failure.
 */
int hook_dir_list(const char *dir, struct ptrvec *ret_paths, char **ret_reason);
