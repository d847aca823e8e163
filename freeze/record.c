/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state directory: the lock that keeps freezers apart and the record of
 * what a window froze.  The record is plain text with fixed-width fields so
 * the guardian can update it inside the window with pwrite() alone: no path
 * lookup, no allocation, on tmpfs.
 *
 *   freezeshim-state 1
 *   owner PID STARTTIME
 *   guardian PID STARTTIME
 *   started UNIX-SECONDS
 *   timeout_ms N
 *   deadline UNIX-SECONDS|-
 *   phase WORD
 *   fs STATE MAJ:MIN MOUNT-ID FSTYPE MOUNTPOINT      (one per filesystem, in freeze order)
 *   md NAME SAVED-ACTION                             (one per md array paused for the window)
 *   rcu_expedited 0                                  (we set it to 1 for the freezes)
 *
 * STARTTIME is field 22 of /proc/PID/stat, so a recycled pid is never taken
 * for the process that wrote the record.  FSTYPE and MOUNTPOINT escape space,
 * tab, newline and backslash as \ooo, like /proc/self/mountinfo.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "freeze-internal.h"

#define RECORD_NAME "state"
#define RECORD_TMP_NAME "state.new"
#define PID_WIDTH 10
#define START_WIDTH 20
#define PHASE_WIDTH 10
#define STATE_WIDTH 8

static const char *const fs_state_names[FS_STATE_MAX] = {
	[FS_PENDING] = "pending", [FS_FREEZING] = "freezing", [FS_FROZEN] = "frozen",
	[FS_BUSY] = "busy",       [FS_FLUSHED] = "flushed",   [FS_THAWING] = "thawing",
	[FS_THAWED] = "thawed",   [FS_FAILED] = "failed",
};

static const char *const phase_names[PHASE_MAX] = {
	[PHASE_PREPARED] = "prepared", [PHASE_FLUSHING] = "flushing", [PHASE_FREEZING] = "freezing",
	[PHASE_FROZEN] = "frozen",     [PHASE_THAWING] = "thawing",   [PHASE_CLOSED] = "closed",
};

const char *fs_state_to_string(enum fs_state s)
{
	return s < FS_STATE_MAX ? fs_state_names[s] : "unknown";
}

enum fs_state fs_state_from_string(const char *s)
{
	for (int i = 0; i < FS_STATE_MAX; i++)
		if (streq(s, fs_state_names[i]))
			return i;
	return FS_STATE_MAX;
}

const char *window_phase_to_string(enum window_phase p)
{
	return p < PHASE_MAX ? phase_names[p] : "unknown";
}

static enum window_phase window_phase_from_string(const char *s)
{
	for (int i = 0; i < PHASE_MAX; i++)
		if (streq(s, phase_names[i]))
			return i;
	return PHASE_MAX;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int process_start_time(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t len;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len <= 0)
		return len < 0 ? -errno : -EIO;
	buf[len] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	/* Fields after the name start at 3 (state); starttime is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	if (sscanf(p, " %llu", ret) != 1)
		return -EIO;
	return 0;
}

bool process_matches(pid_t pid, unsigned long long start)
{
	unsigned long long now_start;
	char path[64], state[8] = "";
	_cleanup_fclose_ FILE *f = NULL;

	if (pid <= 0 || process_start_time(pid, &now_start) < 0 || now_start != start)
		return false;
	/* A zombie has exited: it holds nothing any more. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f && fscanf(f, "%*d (%*[^)]) %7s", state) == 1 && streq(state, "Z"))
		return false;
	return true;
}

/*
 * Open (and with CREATE make) the state directory.  It must be a real
 * directory owned by root and writable by nobody else: the record decides
 * what `freezeshim thaw` thaws.
 */
int state_dir_open(struct frz_ctx *ctx, const char *dir, bool create, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!dir || dir[0] != '/')
		return frz_fail(ctx, EINVAL, "state directory '%s' is not an absolute path",
				dir ? dir : "");
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return frz_fail(ctx, FRZ_ERR_BAD_STATE, "cannot create state directory %s: %m", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return -ENOENT;
		return frz_fail(ctx, FRZ_ERR_BAD_STATE, "cannot open state directory %s: %m", dir);
	}
	if (fstat(fd, &st) < 0)
		return frz_fail(ctx, FRZ_ERR_BAD_STATE, "cannot stat state directory %s: %m", dir);
	if (st.st_uid != geteuid() || (st.st_mode & 0022))
		return frz_fail(ctx, FRZ_ERR_BAD_STATE,
				"state directory %s must be owned by uid %u and writable by nobody else "
				"(it is uid %u, mode %04o); fix it or pass another --state-dir",
				dir, (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	*ret_fd = fd;
	fd = -1;
	return 0;
}

static void put_escaped(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
			fprintf(out, "\\%03o", c);
		else
			fputc(c, out);
	}
}

static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/*
 * Write the record before the guardian exists (its pid is filled in later)
 * and before anything is frozen.  Written to a new file and renamed, so a
 * reader never sees half of it; the descriptor stays open for the updates.
 */
int record_write(struct frz_freeze *f)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_fclose_ FILE *out = NULL;
	_cleanup_close_ int fd = -1;
	unsigned long long owner_start = 0;
	size_t len = 0;
	long pos;

	f->record.fs_state_off = calloc(f->n_targets ? f->n_targets : 1, sizeof(off_t));
	if (!f->record.fs_state_off)
		return -ENOMEM;
	(void)process_start_time(getpid(), &owner_start);
	out = open_memstream(&buf, &len);
	if (!out)
		return -ENOMEM;
	fprintf(out, "freezeshim-state 1\n");
	fprintf(out, "owner %*d %*llu\n", PID_WIDTH, (int)getpid(), START_WIDTH, owner_start);
	fputs("guardian ", out);
	pos = ftell(out);
	f->record.guardian_off = pos;
	fprintf(out, "%*d %*d\n", PID_WIDTH, 0, START_WIDTH, 0);
	fprintf(out, "started %lld\n", (long long)time(NULL));
	fprintf(out, "timeout_ms %" PRIu64 "\n", f->timeout_ns / 1000000);
	fputs("deadline ", out);
	f->record.deadline_off = ftell(out);
	fprintf(out, "%-*s\n", START_WIDTH, "-");
	fputs("phase ", out);
	f->record.phase_off = ftell(out);
	fprintf(out, "%-*s\n", PHASE_WIDTH, window_phase_to_string(PHASE_PREPARED));
	for (size_t i = 0; i < f->n_targets; i++) {
		const struct freeze_target *t = &f->targets[i];
		fputs("fs ", out);
		f->record.fs_state_off[i] = ftell(out);
		fprintf(out, "%-*s %u:%u %d ", STATE_WIDTH, fs_state_to_string(FS_PENDING),
			major(t->fs->devno), minor(t->fs->devno), t->mnt_id);
		put_escaped(out, t->fs->fstype);
		fputc(' ', out);
		put_escaped(out, t->mountpoint);
		fputc('\n', out);
	}
	for (size_t i = 0; i < f->n_md; i++)
		if (!streq(f->md[i].saved, "frozen"))
			fprintf(out, "md %s %s\n", f->md[i].name, f->md[i].saved[0] ? f->md[i].saved : "idle");
	if (f->rcu_was_normal)
		fputs("rcu_expedited 0\n", out);
	if (fflush(out) != 0)
		return -ENOMEM;

	fd = openat(f->state_dir_fd, RECORD_TMP_NAME,
		    O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return frz_fail(f->ctx, FRZ_ERR_BAD_STATE, "cannot write the state record in %s: %m",
				f->state_dir);
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0 ||
	    renameat(f->state_dir_fd, RECORD_TMP_NAME, f->state_dir_fd, RECORD_NAME) < 0) {
		int r = -errno;
		unlinkat(f->state_dir_fd, RECORD_TMP_NAME, 0);
		return frz_fail(f->ctx, r, "cannot write the state record in %s: %s", f->state_dir,
				strerror(-r));
	}
	f->record_fd = fd;
	fd = -1;
	return 0;
}

/* The updates below run inside the window: pwrite() into fixed slots only. */
static void record_put(const struct frz_freeze *f, off_t off, const char *text, size_t width)
{
	char slot[32];
	size_t len = strlen(text);

	if (f->record_fd < 0 || width >= sizeof(slot))
		return;
	memset(slot, ' ', width);
	memcpy(slot, text, len < width ? len : width);
	(void)!pwrite(f->record_fd, slot, width, off);
}

void record_set_fs_state(const struct frz_freeze *f, size_t i, enum fs_state s)
{
	record_put(f, f->record.fs_state_off[i], fs_state_to_string(s), STATE_WIDTH);
}

void record_set_phase(const struct frz_freeze *f, enum window_phase p)
{
	record_put(f, f->record.phase_off, window_phase_to_string(p), PHASE_WIDTH);
}

void record_set_deadline(const struct frz_freeze *f, uint64_t deadline_mono)
{
	char text[32];
	uint64_t mono = now_ns();
	int64_t real = (int64_t)time(NULL);
	int64_t left = deadline_mono > mono ? (int64_t)((deadline_mono - mono + 999999999u) / 1000000000u) : 0;

	snprintf(text, sizeof(text), "%lld", (long long)(real + left));
	record_put(f, f->record.deadline_off, text, START_WIDTH);
}

void record_set_guardian(const struct frz_freeze *f, pid_t pid)
{
	char text[PID_WIDTH + START_WIDTH + 4];
	unsigned long long start = 0;

	(void)process_start_time(pid, &start);
	snprintf(text, sizeof(text), "%*d %*llu", PID_WIDTH, (int)pid, START_WIDTH, start);
	record_put(f, f->record.guardian_off, text, PID_WIDTH + 1 + START_WIDTH);
}

void record_remove(const struct frz_freeze *f)
{
	if (f->state_dir_fd >= 0)
		unlinkat(f->state_dir_fd, RECORD_NAME, 0);
}

void record_free(struct record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_fs; i++) {
		free(r->fs[i].fstype);
		free(r->fs[i].mountpoint);
	}
	free(r->fs);
	free(r->md);
	free(r);
}

int record_read(int dir_fd, struct record **ret)
{
	_cleanup_fclose_ FILE *in = NULL;
	_cleanup_free_ char *line = NULL;
	struct record *r;
	size_t cap = 0;
	bool header = false;
	int fd;

	fd = openat(dir_fd, RECORD_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return -errno;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->phase = PHASE_MAX;
	while (getline(&line, &cap, in) > 0) {
		char word[32], a[512], b[4096];
		long long ll;
		unsigned maj, min;
		int pid, mnt_id;
		unsigned long long start;

		strstrip_trailing(line);
		if (streq(line, "freezeshim-state 1")) {
			header = true;
		} else if (sscanf(line, "owner %d %llu", &pid, &start) == 2) {
			r->owner = pid;
			r->owner_start = start;
		} else if (sscanf(line, "guardian %d %llu", &pid, &start) == 2) {
			r->guardian = pid;
			r->guardian_start = start;
		} else if (sscanf(line, "started %lld", &ll) == 1) {
			r->started_sec = ll;
		} else if (sscanf(line, "timeout_ms %lld", &ll) == 1) {
			r->timeout_ms = (uint64_t)ll;
		} else if (sscanf(line, "deadline %lld", &ll) == 1) {
			r->deadline_sec = ll;
		} else if (sscanf(line, "phase %31s", word) == 1) {
			r->phase = window_phase_from_string(word);
		} else if (streq(line, "rcu_expedited 0")) {
			r->rcu_expedite = true;
		} else if (sscanf(line, "md %31s %23s", word, a) == 2) {
			struct record_md *n = realloc(r->md, (r->n_md + 1) * sizeof(*n));
			if (!n) {
				record_free(r);
				return -ENOMEM;
			}
			r->md = n;
			snprintf(r->md[r->n_md].name, sizeof(r->md[r->n_md].name), "%s", word);
			memcpy(r->md[r->n_md].saved, a, sizeof(r->md[r->n_md].saved));
			r->md[r->n_md].saved[sizeof(r->md[r->n_md].saved) - 1] = '\0';
			r->n_md++;
		} else if (sscanf(line, "fs %31s %u:%u %d %511s %4095s", word, &maj, &min, &mnt_id, a, b) == 6) {
			struct record_fs *n = realloc(r->fs, (r->n_fs + 1) * sizeof(*n));
			if (!n) {
				record_free(r);
				return -ENOMEM;
			}
			r->fs = n;
			unescape(a);
			unescape(b);
			r->fs[r->n_fs] = (struct record_fs){
				.state = fs_state_from_string(word),
				.devno = makedev(maj, min),
				.mnt_id = mnt_id,
				.fstype = strdup(a),
				.mountpoint = strdup(b),
			};
			r->n_fs++;
			if (!r->fs[r->n_fs - 1].fstype || !r->fs[r->n_fs - 1].mountpoint) {
				record_free(r);
				return -ENOMEM;
			}
		}
	}
	if (!header || r->owner <= 0) {
		record_free(r);
		return -EBADMSG;
	}
	*ret = r;
	return 0;
}
