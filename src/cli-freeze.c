/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `freezeshim freeze`, `run`, `thaw` and `status`: the freeze engine at the
 * command line.  Signals are taken by one thread so that SIGINT and SIGTERM
 * in the window close it (thaw) before the process exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "freeze-internal.h"

enum {
	OPT_STATE_DIR = 0x100,
	OPT_DISK_MAP,
	OPT_INCLUDE_SPANNING,
	OPT_SYSROOT,
	OPT_STALE,
};

struct freeze_options {
	uint64_t timeout_ms;
	const char *state_dir;
	unsigned plan_flags;
	char **targets;
	size_t n_targets;
	char **command;   /* run: NULL-terminated */
};

static void freeze_usage(FILE *out, bool run)
{
	if (run)
		fputs("Usage: freezeshim run [OPTION]... TARGET... -- COMMAND [ARG]...\n"
		      "Freeze the targets' filesystems in dependency order, run COMMAND inside the\n"
		      "window in its own process group, thaw, and exit with COMMAND's status.\n", out);
	else
		fputs("Usage: freezeshim freeze [OPTION]... TARGET...\n"
		      "Freeze the targets' filesystems in dependency order and return; a guardian\n"
		      "process thaws them at the deadline or on 'freezeshim thaw'.\n", out);
	fputs("\n"
	      "TARGET is a mountpoint, a block device or a disk ID, as for 'freezeshim plan'.\n"
	      "\n"
	      "  -t, --timeout SEC        the I/O-pause limit, counted from the first freeze\n"
	      "                           (default 30; decimals allowed)\n"
	      "      --state-dir DIR      lock and state record (default " FRZ_DEFAULT_STATE_DIR ")\n"
	      "      --disk-map DEV=ID    give block device DEV the disk ID ID (repeatable)\n"
	      "      --include-spanning   add disks that share a volume group, array, btrfs\n"
	      "                           volume or external log with a chosen one\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Exit: 0 done (run: COMMAND's status), 1 precondition failed, 2 bad input,\n"
	      "11 the I/O pause failed or hit the deadline, 12 a thaw failed; see freezeshim(8).\n",
	      out);
}

/* "2.5" -> 2500; 0 when malformed or out of range. */
static uint64_t parse_timeout(const char *s)
{
	char *end;
	double sec;

	errno = 0;
	sec = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(sec) || sec < 0.001 || sec > 86400)
		return 0;
	return (uint64_t)llround(sec * 1000.0);
}

static int read_proc_number(const char *path, long *ret)
{
	_cleanup_fclose_ FILE *in = fopen(path, "re");

	return in && fscanf(in, "%ld", ret) == 1 ? 0 : -ENOENT;
}

/*
 * Writers blocked longer than hung_task_timeout_secs are reported as hung,
 * and with hung_task_panic the machine panics: refuse such a deadline rather
 * than cap it silently.
 */
static int check_timeout_against_kernel(uint64_t timeout_ms)
{
	long hung = 0, panic = 0;

	if (read_proc_number("/proc/sys/kernel/hung_task_timeout_secs", &hung) < 0 || hung <= 0)
		return 0;
	(void)read_proc_number("/proc/sys/kernel/hung_task_panic", &panic);
	if (timeout_ms < (uint64_t)hung * 1000)
		return 0;
	if (panic) {
		fprintf(stderr,
			"freezeshim: --timeout %.1f reaches kernel.hung_task_timeout_secs (%ld) and "
			"kernel.hung_task_panic is set: writers blocked that long panic the machine; "
			"use a timeout below %ld\n", (double)timeout_ms / 1000, hung, hung);
		return -EINVAL;
	}
	fprintf(stderr,
		"freezeshim: warning: --timeout %.1f reaches kernel.hung_task_timeout_secs (%ld): "
		"writers blocked that long are reported as hung tasks\n", (double)timeout_ms / 1000, hung);
	return 0;
}

/* Parse the options of freeze and run; returns -1 to go on, else an exit code. */
static int parse_freeze_options(struct frz_ctx *ctx, int argc, char **argv, bool run,
				struct freeze_options *o)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "disk-map", required_argument, NULL, OPT_DISK_MAP },
		{ "include-spanning", no_argument, NULL, OPT_INCLUDE_SPANNING },
		{ "sysroot", required_argument, NULL, OPT_SYSROOT },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r, end = argc;

	if (run) {
		for (int i = 1; i < argc; i++)
			if (streq(argv[i], "--")) {
				end = i;
				break;
			}
		if (end == argc) {
			for (int i = 1; i < argc; i++)
				if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
					freeze_usage(stdout, true);
					return 0;
				}
			return cli_usage_error("run needs '-- COMMAND [ARG]...' after the targets");
		}
		if (end + 1 >= argc)
			return cli_usage_error("no COMMAND after '--'");
		o->command = argv + end + 1;
	}
	o->timeout_ms = FRZ_DEFAULT_TIMEOUT_MS;
	o->state_dir = FRZ_DEFAULT_STATE_DIR;
	while ((c = getopt_long(end, argv, "t:h", options, NULL)) != -1) {
		switch (c) {
		case 't':
			o->timeout_ms = parse_timeout(optarg);
			if (!o->timeout_ms) {
				fprintf(stderr, "freezeshim: invalid --timeout '%s': give seconds between "
					"0.001 and 86400, e.g. 30 or 2.5\n", optarg);
				return 2;
			}
			break;
		case OPT_STATE_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr, "freezeshim: --state-dir '%s' must be an absolute path\n", optarg);
				return 2;
			}
			o->state_dir = optarg;
			break;
		case OPT_DISK_MAP:
			if ((r = frz_ctx_add_disk_map_string(ctx, optarg)) < 0)
				return cli_error(ctx, r);
			break;
		case OPT_INCLUDE_SPANNING:
			o->plan_flags |= FRZ_PLAN_INCLUDE_SPANNING;
			break;
		case OPT_SYSROOT:
			fputs("freezeshim: --sysroot is for 'freezeshim plan' only: a machine dump "
			      "cannot be frozen\n", stderr);
			return 2;
		case 'h':
			freeze_usage(stdout, run);
			return 0;
		default:
			return cli_option_error(argv);
		}
	}
	if (optind >= end)
		return cli_usage_error(run ? "run needs at least one TARGET before '--'"
					   : "freeze needs at least one TARGET (a mountpoint, device or disk ID)");
	o->targets = argv + optind;
	o->n_targets = (size_t)(end - optind);
	if (check_timeout_against_kernel(o->timeout_ms) < 0)
		return 2;
	return -1;
}

/* ---- the command of run -------------------------------------------------------- */

/* Find COMMAND on PATH now, before the window: no directory search inside it. */
static char *resolve_command(const char *name)
{
	const char *path;
	char *copy, *dir, *save = NULL;

	if (strchr(name, '/')) {
		struct stat st;
		if (stat(name, &st) < 0 || !S_ISREG(st.st_mode) || access(name, X_OK) < 0)
			return NULL;
		return strdup(name);
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *candidate;
		struct stat st;
		if (xasprintf(&candidate, "%s/%s", *dir ? dir : ".", name) < 0)
			break;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
			free(copy);
			return candidate;
		}
		free(candidate);
	}
	free(copy);
	return NULL;
}

/*
 * Fork COMMAND now, in its own process group, waiting on a pipe: it is
 * started inside the window by one write, with nothing left to look up.
 */
static pid_t command_spawn(char **command, int *ret_go_fd)
{
	_cleanup_free_ char *exe = resolve_command(command[0]);
	int go[2];
	pid_t pid;

	if (!exe) {
		fprintf(stderr, "freezeshim: command '%s' not found%s or not executable; nothing was frozen\n",
			command[0], strchr(command[0], '/') ? "" : " on PATH");
		return -ENOENT;
	}
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(go[0]);
		close(go[1]);
		return -errno;
	}
	if (pid == 0) {
		char byte;
		sigset_t none;
		setpgid(0, 0);
		close(go[1]);
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		if (read(go[0], &byte, 1) != 1)
			_exit(127);   /* the window never opened */
		execv(exe, command);
		fprintf(stderr, "freezeshim: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(go[0]);
	*ret_go_fd = go[1];
	return pid;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 255;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* ---- freeze and run ------------------------------------------------------------ */

static void print_freeze_summary(struct frz_freeze *f)
{
	for (size_t i = 0; i < frz_freeze_get_n_filesystems(f); i++) {
		const struct frz_fs *fs = frz_freeze_get_filesystem(f, i);
		uint64_t flush, freeze;
		frz_freeze_get_times(f, i, &flush, &freeze, NULL);
		fprintf(stderr, "freezeshim: %s (%s): %s, level %u, flush %.3f ms, freeze %.3f ms\n",
			frz_fs_get_mountpoint(fs, 0), frz_fs_get_fstype(fs),
			frz_outcome_to_string(frz_freeze_get_outcome(f, i)), frz_freeze_get_level(f, i),
			(double)flush / 1e6, (double)freeze / 1e6);
	}
}

/* Is standard output or error a file on a filesystem this window freezes? */
static bool std_output_on_targets(const struct frz_freeze *f)
{
	for (int fd = 1; fd <= 2; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		for (size_t i = 0; i < frz_freeze_get_n_filesystems(f); i++)
			if (frz_fs_get_devno(frz_freeze_get_filesystem(f, i)) == st.st_dev)
				return true;
	}
	return false;
}

static int freeze_or_run(struct frz_ctx *ctx, int argc, char **argv, bool run, bool verbose)
{
	struct freeze_options o = {};
	struct frz_plan *plan = NULL;
	struct frz_freeze *f = NULL;
	pid_t child = 0;
	int go_fd = -1, r, code;
	struct rlimit no_core = { 0, 0 };
	const char *hold;

	code = parse_freeze_options(ctx, argc, argv, run, &o);
	if (code >= 0)
		return code;

	r = frz_plan_new(ctx, (const char *const *)o.targets, o.n_targets, o.plan_flags, &plan);
	if (r < 0)
		return cli_error(ctx, r);
	/*
	 * Discovery is done (its findings are the plan's warnings, scoped to the
	 * plan); from here warnings are about this window, such as a filesystem
	 * someone else had frozen: always worth a line after the thaw.
	 */
	if (frz_ctx_get_log_priority(ctx) < LOG_WARNING)
		frz_ctx_set_log_priority(ctx, LOG_WARNING);
	if ((r = frz_freeze_new(plan, &f)) < 0) {
		frz_plan_unref(plan);
		return cli_error(ctx, r);
	}
	frz_freeze_set_timeout(f, o.timeout_ms);
	frz_freeze_set_state_dir(f, o.state_dir);
	/* Testing aid (freezeshim(8), ENVIRONMENT): stop after K freezes and hold. */
	hold = secure_getenv("FREEZESHIM_DEBUG_HOLD_AFTER");
	if (hold && atoi(hold) > 0)
		freeze_set_hold_after(f, (unsigned)atoi(hold));

	/* A core dump in the window could land on a frozen filesystem. */
	setrlimit(RLIMIT_CORE, &no_core);
	if (run) {
		child = command_spawn(o.command, &go_fd);
		if (child < 0) {
			code = 127;
			goto out;
		}
		cli_signals_set_child_pgid(child);
		frz_freeze_set_window_pgid(f, child);
	}
	r = frz_freeze_prepare(f);
	/* From here a signal closes the window instead of ending the process. */
	if (r == 0) {
		cli_signals_set_window(f);
		cli_signals_take();
	}
	if (r < 0) {
		code = cli_exit_for_signal_or(cli_error(ctx, r));
		goto out;
	}
	/* The plan's warnings once we know we go ahead: a refusal stays one line. */
	for (size_t i = 0; i < frz_plan_get_n_warnings(plan); i++)
		fprintf(stderr, "freezeshim: warning: %s\n", frz_plan_get_warning(plan, i));
	/* Our working directory must not be on a filesystem we freeze. */
	if (chdir(o.state_dir) < 0)
		(void)!chdir("/");
	if (cli_signal_received()) {
		code = cli_exit_for_signal_or(1);
		goto out;
	}

	r = frz_freeze_freeze(f);
	if (r < 0) {
		code = cli_exit_for_signal_or(cli_error(ctx, r));
		goto out;
	}

	if (!run) {
		/*
		 * After the detach the filesystems stay frozen: a message written to
		 * a file on one of them would block us until the deadline.
		 */
		bool output_frozen = std_output_on_targets(f);
		if (output_frozen)
			frz_ctx_set_log_fn(ctx, NULL, NULL);
		r = frz_freeze_detach(f);
		if (r < 0) {
			(void)frz_freeze_thaw(f);
			code = cli_error(ctx, r);
			goto out;
		}
		if (verbose && !output_frozen)
			print_freeze_summary(f);
		code = 0;
		goto out;
	}

	/* The window is open: start COMMAND and wait for it. */
	if (write(go_fd, "g", 1) != 1) {
		kill(-child, SIGKILL);
	}
	close(go_fd);
	go_fd = -1;
	code = wait_child(child);
	child = 0;
	cli_signals_set_child_pgid(0);
	r = frz_freeze_thaw(f);
	if (r < 0)
		code = cli_exit_for_signal_or(cli_error(ctx, r));
	else if (cli_signal_received())
		code = cli_exit_for_signal_or(code);

out:
	cli_signals_set_window(NULL);
	if (go_fd >= 0)
		close(go_fd);
	if (child > 0) {
		kill(-child, SIGKILL);
		(void)wait_child(child);
	}
	frz_freeze_unref(f);
	frz_plan_unref(plan);
	return code;
}

/* Timings with -v. */
static void set_log_priority(struct frz_ctx *ctx, bool verbose)
{
	if (verbose && frz_ctx_get_log_priority(ctx) < LOG_INFO)
		frz_ctx_set_log_priority(ctx, LOG_INFO);
}

int cli_freeze(struct frz_ctx *ctx, int argc, char **argv, bool verbose)
{
	cli_signals_early();
	set_log_priority(ctx, verbose);
	return freeze_or_run(ctx, argc, argv, false, verbose);
}

int cli_run(struct frz_ctx *ctx, int argc, char **argv, bool verbose)
{
	cli_signals_early();
	set_log_priority(ctx, verbose);
	return freeze_or_run(ctx, argc, argv, true, verbose);
}

/* ---- status and thaw ------------------------------------------------------------ */

enum record_liveness { REC_IDLE, REC_ACTIVE, REC_STALE };

static bool fs_state_holds_freeze(enum fs_state s)
{
	return s == FS_FROZEN || s == FS_FREEZING || s == FS_THAWING;
}

static enum record_liveness record_liveness(const struct record *r, bool *ret_guardian_alive)
{
	bool guardian = process_matches(r->guardian, r->guardian_start);
	bool owner = process_matches(r->owner, r->owner_start);
	bool frozen = false;

	for (size_t i = 0; i < r->n_fs; i++)
		frozen |= fs_state_holds_freeze(r->fs[i].state);
	if (ret_guardian_alive)
		*ret_guardian_alive = guardian;
	if (guardian || owner)
		return REC_ACTIVE;
	return frozen ? REC_STALE : REC_IDLE;
}

static void format_time(int64_t sec, char *buf, size_t size, bool rfc3339)
{
	struct tm tm;
	time_t t = (time_t)sec;

	localtime_r(&t, &tm);
	strftime(buf, size, rfc3339 ? "%Y-%m-%dT%H:%M:%S%z" : "%Y-%m-%d %H:%M:%S", &tm);
	if (rfc3339 && strlen(buf) >= 5) {
		/* +0100 -> +01:00 */
		size_t l = strlen(buf);
		if (l + 1 < size) {
			memmove(buf + l - 1, buf + l - 2, 3);
			buf[l - 2] = ':';
		}
	}
}

static int status_open(const char *dir, struct record **ret)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = record_read(fd, ret);
	close(fd);
	return r;
}

int cli_status(struct frz_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *dir = FRZ_DEFAULT_STATE_DIR;
	struct record *rec = NULL;
	enum record_liveness live = REC_IDLE;
	bool json = false;
	int c, r;

	(void)ctx;
	while ((c = getopt_long(argc, argv, "jh", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case OPT_STATE_DIR:
			dir = optarg;
			break;
		case 'h':
			fputs("Usage: freezeshim status [--json] [--state-dir DIR]\n"
			      "Say whether freezeshim holds filesystems frozen, by which process and\n"
			      "until when.  Exit 0 idle or active, 1 when a dead run left a freeze.\n", stdout);
			return 0;
		default:
			return cli_option_error(argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("status takes no arguments");
	r = status_open(dir, &rec);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "freezeshim: cannot read the state record in %s: %s\n", dir,
			r == -EBADMSG ? "malformed" : strerror(-r));
		return 255;
	}
	if (rec)
		live = record_liveness(rec, NULL);
	if (live == REC_IDLE) {
		record_free(rec);
		rec = NULL;
	}

	if (json) {
		static const char *const names[] = { "idle", "active", "stale" };
		cJSON *root = cJSON_CreateObject(), *list = cJSON_CreateArray();
		char buf[64];
		cJSON_AddStringToObject(root, "state", names[live]);
		if (rec) {
			cJSON_AddNumberToObject(root, "pid", rec->owner);
			cJSON_AddNumberToObject(root, "guardian", rec->guardian);
			format_time(rec->started_sec, buf, sizeof(buf), true);
			cJSON_AddStringToObject(root, "started", buf);
			cJSON_AddNumberToObject(root, "timeout_ms", (double)rec->timeout_ms);
			if (rec->deadline_sec) {
				format_time(rec->deadline_sec, buf, sizeof(buf), true);
				cJSON_AddStringToObject(root, "deadline", buf);
			} else {
				cJSON_AddNullToObject(root, "deadline");
			}
			cJSON_AddStringToObject(root, "phase", window_phase_to_string(rec->phase));
			for (size_t i = 0; i < rec->n_fs; i++) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "mountpoint", rec->fs[i].mountpoint);
				snprintf(buf, sizeof(buf), "%u:%u", major(rec->fs[i].devno), minor(rec->fs[i].devno));
				cJSON_AddStringToObject(o, "devno", buf);
				cJSON_AddStringToObject(o, "fstype", rec->fs[i].fstype);
				cJSON_AddStringToObject(o, "state", fs_state_to_string(rec->fs[i].state));
				cJSON_AddItemToArray(list, o);
			}
		}
		cJSON_AddItemToObject(root, "filesystems", list);
		char *text = cJSON_Print(root);
		if (text)
			puts(text);
		free(text);
		cJSON_Delete(root);
	} else if (!rec) {
		puts("idle: freezeshim holds no filesystem frozen");
	} else {
		char started[64], deadline[64] = "not set";
		format_time(rec->started_sec, started, sizeof(started), false);
		if (rec->deadline_sec)
			format_time(rec->deadline_sec, deadline, sizeof(deadline), false);
		printf("%s: pid %d, guardian %d, started %s, deadline %s, phase %s\n",
		       live == REC_STALE ? "stale" : "active", (int)rec->owner, (int)rec->guardian,
		       started, deadline, window_phase_to_string(rec->phase));
		for (size_t i = 0; i < rec->n_fs; i++)
			printf("  %-8s %-6s %s\n", fs_state_to_string(rec->fs[i].state), rec->fs[i].fstype,
			       rec->fs[i].mountpoint);
		if (live == REC_STALE)
			puts("the run that froze these died: run 'freezeshim thaw'");
	}
	record_free(rec);
	return live == REC_STALE ? 1 : 0;
}

/* Resume the md arrays a dead run paused: "idle", then a check or repair again. */
static int md_restore_recorded(const struct record *rec)
{
	int failures = 0;

	for (size_t i = 0; i < rec->n_md; i++) {
		const struct record_md *m = &rec->md[i];
		char path[96];
		int fd;

		snprintf(path, sizeof(path), "/sys/block/%s/md/sync_action", m->name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "idle\n", 5) != 5 ||
		    ((streq(m->saved, "check") || streq(m->saved, "repair")) &&
		     (write(fd, m->saved, strlen(m->saved)) < 0))) {
			fprintf(stderr, "freezeshim: cannot resume %s (write 'idle' to %s): %m\n", m->name, path);
			failures++;
		} else {
			printf("resumed %s (sync_action was %s)\n", m->name, m->saved);
		}
		if (fd >= 0)
			close(fd);
	}
	return failures;
}

/*
 * Thaw what a dead run recorded, through descriptors checked against the
 * record.  A filesystem that cannot be reached any more (unmounted while
 * frozen, or replaced at its path) is reported, and the record is kept as
 * state.unresolved: it must not block every later run.
 */
static int thaw_recorded(const char *dir, int dir_fd, struct record *rec)
{
	_cleanup_close_ int lock_fd = -1;
	int failures = 0, unreachable = 0;

	lock_fd = openat(dir_fd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "freezeshim: a live process holds %s/lock; it thaws on its own\n", dir);
		return 1;
	}
	for (size_t i = rec->n_fs; i-- > 0;) {
		struct record_fs *r = &rec->fs[i];
		struct statx stx;
		int fd;

		if (!fs_state_holds_freeze(r->state))
			continue;
		fd = open(r->mountpoint, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "freezeshim: cannot open %s to thaw it: %m; if it is still "
				"frozen, only SysRq-j (echo j > /proc/sysrq-trigger) thaws it\n", r->mountpoint);
			unreachable++;
			continue;
		}
		if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
		    ((stx.stx_mask & STATX_MNT_ID) && (int)stx.stx_mnt_id != r->mnt_id) ||
		    (!streq(r->fstype, "btrfs") && makedev(stx.stx_dev_major, stx.stx_dev_minor) != r->devno)) {
			fprintf(stderr, "freezeshim: %s is no longer the mount that was frozen; not "
				"touching it (if the old one is still frozen, only SysRq-j thaws it)\n",
				r->mountpoint);
			close(fd);
			unreachable++;
			continue;
		}
		if (ioctl(fd, FITHAW, 0) == 0) {
			printf("thawed %s\n", r->mountpoint);
		} else if (errno == EINVAL) {
			printf("%s was not frozen any more\n", r->mountpoint);
		} else {
			fprintf(stderr, "freezeshim: cannot thaw %s: %m\n", r->mountpoint);
			failures++;
		}
		close(fd);
	}
	failures += md_restore_recorded(rec);
	if (rec->rcu_expedite) {
		/* The dead run may have left RCU expedited: put back what it found. */
		int fd = open("/sys/kernel/rcu_expedited", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)!write(fd, "0", 1);
			close(fd);
		}
	}
	if (failures)
		return 12;   /* the record stays: a FITHAW that failed may succeed later */
	if (unreachable) {
		renameat(dir_fd, "state", dir_fd, "state.unresolved");
		fprintf(stderr, "freezeshim: the record is kept as %s/state.unresolved\n", dir);
		return 12;
	}
	unlinkat(dir_fd, "state", 0);
	return 0;
}

int cli_thaw(struct frz_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "stale", no_argument, NULL, OPT_STALE },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *dir = FRZ_DEFAULT_STATE_DIR;
	_cleanup_close_ int dir_fd = -1;
	struct record *rec = NULL;
	bool stale_only = false, guardian_alive;
	int c, r, code;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_STATE_DIR:
			dir = optarg;
			break;
		case OPT_STALE:
			stale_only = true;
			break;
		case 'h':
			fputs("Usage: freezeshim thaw [--stale] [--state-dir DIR]\n"
			      "Thaw what freezeshim froze: ask the guardian of a 'freezeshim freeze' to\n"
			      "thaw now, or thaw what a run that died recorded (only that).\n"
			      "  --stale   only thaw what a dead run left (for the systemd timer)\n", stdout);
			return 0;
		default:
			return cli_option_error(argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("thaw takes no arguments");
	r = state_dir_open(ctx, dir, false, &dir_fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return cli_error(ctx, r);
	r = record_read(dir_fd, &rec);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		fprintf(stderr, "freezeshim: cannot read %s/state: %s\n", dir,
			r == -EBADMSG ? "malformed" : strerror(-r));
		return 255;
	}

	enum record_liveness live = record_liveness(rec, &guardian_alive);
	if (live == REC_IDLE) {
		record_free(rec);
		return 0;
	}
	if (live == REC_ACTIVE && stale_only) {
		record_free(rec);
		return 0;
	}
	if (guardian_alive && rec->phase == PHASE_CLOSED) {
		/* It already thawed; what keeps it is a freeze the kernel has not finished. */
		for (size_t i = 0; i < rec->n_fs; i++)
			if (rec->fs[i].state == FS_FREEZING)
				printf("the guardian %d has thawed everything; it waits for the kernel to "
				       "finish a freeze of %s, which it undoes at once\n",
				       (int)rec->guardian, rec->fs[i].mountpoint);
		record_free(rec);
		return 0;
	}
	if (guardian_alive) {
		/* Ask the guardian: it thaws through the descriptors it checked, then exits. */
		int pidfd = (int)syscall(SYS_pidfd_open, rec->guardian, 0);
		if (pidfd < 0 || !process_matches(rec->guardian, rec->guardian_start)) {
			if (pidfd >= 0)
				close(pidfd);
			record_free(rec);
			return 0;  /* it exited meanwhile */
		}
		if (syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0) {
			fprintf(stderr, "freezeshim: cannot signal the guardian %d: %m\n", (int)rec->guardian);
			close(pidfd);
			record_free(rec);
			return 12;
		}
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		pid_t guardian = rec->guardian;
		r = poll(&pfd, 1, 10000);
		close(pidfd);
		record_free(rec);
		rec = NULL;
		if (r <= 0) {
			fprintf(stderr, "freezeshim: the guardian %d did not finish thawing within 10 s; "
				"see 'freezeshim status'\n", (int)guardian);
			return 12;
		}
		r = record_read(dir_fd, &rec);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return 12;
		if (record_liveness(rec, NULL) == REC_IDLE) {
			record_free(rec);
			return 0;
		}
	}
	code = thaw_recorded(dir, dir_fd, rec);
	record_free(rec);
	return code;
}
