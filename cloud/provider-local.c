/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local provider: a snapshot is a copy of the image files behind
 * loop-device disks, kept in a directory of its own.
 *
 * prepare opens every backing file and creates every destination file in
 * "<snapshot-dir>/<id>.partial/", so that create (inside the window) works on
 * descriptors alone: per disk an ioctl(FICLONE) (a reflink, instant on xfs,
 * btrfs and other filesystems sharing extents) or, failing that, a sparse
 * copy of the data extents.  finish makes everything durable, writes the
 * manifest and renames the directory to "<snapshot-dir>/<id>/"; a snapshot
 * that does not reach that point is removed.
 *
 * Layout of a finished snapshot (directories 0700, files 0600):
 *
 *   <snapshot-dir>/local-20240501T120000Z-3fa9c1/
 *       manifest.json
 *       <disk>.img           one per disk, named after the disk ID
 *
 * The image is a copy of the whole backing file.  The disk's content starts
 * at "offset" bytes into it and is "size_limit" bytes long (0: to the end),
 * so `losetup --offset OFFSET --sizelimit SIZE_LIMIT --find --show IMAGE`
 * attaches the disk as it was.
 *
 * manifest.json (format 1), written at finish and rewritten atomically
 * (temporary file, fsync, rename) when the snapshot is tagged:
 *
 *   {
 *     "format": 1,
 *     "id": "local-20240501T120000Z-3fa9c1",  the directory's name
 *     "provider": "local",
 *     "name": "nightly" | null,                --name
 *     "description": "..." | null,             --description
 *     "created": "2024-05-01T12:00:00.123Z",   the point in time: the clock (UTC, ms)
 *                                              when the copies started, inside the window
 *     "verdict": "app" | "fs" | "crash" | null,  null until tagged
 *     "tags": { "KEY": "VALUE", ...,           the user's --tag, then once tagged the
 *               "FsConsistent": "True" },      verdict's tag: APPConsistent, FsConsistent
 *                                              or CrashConsistent
 *     "disks": [                               in the plan's disk order
 *       {
 *         "disk_id": "loop3",                  the disk's ID in the plan
 *         "device": "/dev/loop3",
 *         "source": "/var/tmp/disk.img",       the backing file, as the kernel names it
 *         "offset": 0,                         loop offset into the image, bytes
 *         "size_limit": 0,                     loop size limit, bytes; 0 = none
 *         "image": "loop3.img",                relative to the snapshot's directory
 *         "size": 67108864,                    bytes (the backing file's size)
 *         "method": "reflink" | "copy",
 *         "copy_ms": 12,                       how long the copy took, milliseconds
 *         "filesystems": [                     the plan's filesystems on this disk
 *           { "mountpoint": "/srv" | null, "fstype": "ext4" }
 *         ]
 *       }
 *     ]
 *   }
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "freeze-internal.h"
#include "plan-internal.h"
#include "provider.h"

#define MANIFEST_NAME "manifest.json"
#define MANIFEST_TMP_NAME "manifest.json.tmp"
/* The largest piece copied between two looks at the window. */
#define COPY_CHUNK ((size_t)8 << 20)
/* The buffer of a read/write copy, allocated in prepare. */
#define COPY_BUFFER_SIZE ((size_t)1 << 20)

struct local_disk {
	const struct frz_disk *disk;
	char *source;           /* the backing file, as the kernel reports it */
	uint64_t offset, size_limit;
	uint64_t allocated;     /* the source's allocated bytes at prepare */
	int src_fd, dst_fd;
	char *image;            /* destination file name */
	bool image_made;
	uint64_t size;          /* the source's size: at prepare, then at create */
	const char *method;     /* "reflink" or "copy"; NULL before create */
	uint64_t copy_ns;
};

struct local_state {
	struct local_disk *disks;
	size_t n_disks;
	char *dir;              /* the snapshot directory, absolute */
	int dir_fd;
	char *partial_name;     /* "<id>.partial" */
	int snap_fd;            /* the snapshot's own directory: partial, then final */
	bool partial_made;
	bool created;           /* create ran */
	bool copied;            /* ... and every copy completed inside the window */
	bool finished;
	struct timespec point_in_time;
	void *buffer;           /* COPY_BUFFER_SIZE */
	bool tagged;
	enum snapshot_verdict verdict;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool window_is_closed(const struct provider *p)
{
	return p->window_closed && atomic_load(p->window_closed);
}

/* "1.5 GiB": figures for messages. */
static const char *format_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

/* The kernel name of a loop device node ("/dev/loop3" -> "loop3"), else NULL. */
static const char *loop_name(const char *device)
{
	const char *name = device ? startswith(device, "/dev/") : NULL;
	const char *digits = name ? startswith(name, "loop") : NULL;

	if (!digits || !*digits)
		return NULL;
	for (const char *c = digits; *c; c++)
		if (*c < '0' || *c > '9')
			return NULL;
	return name;
}

static int read_u64(const struct frz_ctx *ctx, const char *path, uint64_t *ret)
{
	_cleanup_free_ char *line = NULL;
	char *end;
	unsigned long long v;
	int r;

	r = sysroot_read_line(ctx, path, &line);
	if (r < 0)
		return r;
	errno = 0;
	v = strtoull(line, &end, 10);
	if (errno || end == line || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int open_source(int *ret_fd, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOATIME | O_CLOEXEC | O_NOCTTY);

	/* O_NOATIME needs ownership or CAP_FOWNER. */
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Find the backing file of DISK's loop device and open it. */
static int disk_open_source(struct provider *p, struct local_disk *d)
{
	const struct frz_ctx *ctx = p->req->ctx;
	const char *device = frz_disk_get_device(d->disk), *id = frz_disk_get_id(d->disk);
	const char *name = loop_name(device), *deleted;
	_cleanup_free_ char *path = NULL;
	struct loop_info64 info = {};
	bool have_info = false;
	struct stat st;
	int r;

	if (!name)
		return provider_fail(p, SNAP_NO_DISK,
				     "the local provider copies loop-device disks only; %s is not one "
				     "(exclude it with --exclude-disk %s or use another provider)",
				     device, id);
	if (xasprintf(&path, "/sys/block/%s/loop/backing_file", name) < 0)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	r = sysroot_read_line(ctx, path, &d->source);
	if (r == -ENOENT)
		return provider_fail(p, SNAP_NO_DISK,
				     "%s has no backing file: attach an image to it or exclude it "
				     "with --exclude-disk %s", device, id);
	if (r < 0)
		return provider_fail(p, SNAP_NO_DISK, "cannot read the backing file of %s: %s",
				     device, strerror(-r));
	deleted = strstr(d->source, " (deleted)");
	if (deleted && streq(deleted, " (deleted)"))
		return provider_fail(p, SNAP_NO_DISK,
				     "the backing file of %s was deleted: the local provider cannot "
				     "copy it (exclude it with --exclude-disk %s)", device, id);

	/* The status ioctl is the truth when we can ask: offset, limit, which inode. */
	if (ctx->sysroot_is_host) {
		_cleanup_free_ char *node = NULL;
		_cleanup_close_ int dev_fd = -1;

		if (xasprintf(&node, "/dev/%s", name) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
		dev_fd = sysroot_open(ctx, node, O_RDONLY | O_NONBLOCK | O_NOCTTY);
		if (dev_fd >= 0 && ioctl(dev_fd, LOOP_GET_STATUS64, &info) == 0)
			have_info = true;
	}
	free(path);
	path = NULL;
	if (xasprintf(&path, "/sys/block/%s/loop/offset", name) < 0)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	if (read_u64(ctx, path, &d->offset) < 0)
		d->offset = have_info ? info.lo_offset : 0;
	free(path);
	path = NULL;
	if (xasprintf(&path, "/sys/block/%s/loop/sizelimit", name) < 0)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	if (read_u64(ctx, path, &d->size_limit) < 0)
		d->size_limit = have_info ? info.lo_sizelimit : 0;

	r = open_source(&d->src_fd, d->source);
	if (r < 0)
		return provider_fail(p, SNAP_NO_DISK, "cannot open %s, the backing file of %s: %s",
				     d->source, device, strerror(-r));
	if (fstat(d->src_fd, &st) < 0)
		return provider_fail(p, SNAP_NO_DISK, "cannot stat %s, the backing file of %s: %s",
				     d->source, device, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return provider_fail(p, SNAP_NO_DISK,
				     "%s, the backing of %s, is not a regular file: the local provider "
				     "copies image files only (exclude it with --exclude-disk %s)",
				     d->source, device, id);
	/* A path names whatever is there now: make sure it is the file the device reads. */
	if (have_info && (info.lo_device != (uint64_t)st.st_dev || info.lo_inode != st.st_ino))
		return provider_fail(p, SNAP_PRECONDITION,
				     "%s no longer names the file that %s reads (renamed or replaced "
				     "since it was attached); detach and attach it again or exclude it "
				     "with --exclude-disk %s", d->source, device, id);
	d->size = (uint64_t)st.st_size;
	d->allocated = (uint64_t)st.st_blocks * 512;
	return SNAP_OK;
}

/* mkdir -p, making what is missing 0700. */
static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *buf = strdup(path);

	if (!buf)
		return -ENOMEM;
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			break;
	}
	return 0;
}

static bool fs_in_order(const struct frz_plan *plan, const struct frz_fs *fs)
{
	for (size_t i = 0; i < frz_plan_get_n_freeze_order(plan); i++)
		if (frz_plan_get_freeze_order(plan, i) == fs)
			return true;
	return false;
}

/* A filesystem of the freeze order that FS is, or is stored on (loop image, FUSE store). */
static const struct frz_fs *fs_frozen_below(const struct frz_plan *plan, const struct frz_fs *fs,
					    unsigned depth)
{
	if (fs_in_order(plan, fs))
		return fs;
	if (depth > 32)
		return NULL;
	for (size_t i = 0; i < fs->deps.n; i++) {
		const struct fs_dep *dep = fs->deps.items[i];
		const struct frz_fs *below = fs_frozen_below(plan, dep->fs, depth + 1);

		if (below)
			return below;
	}
	return NULL;
}

static const char *fs_name(const struct frz_fs *fs)
{
	return frz_fs_get_n_mountpoints(fs) > 0 ? frz_fs_get_mountpoint(fs, 0) : frz_fs_get_source(fs);
}

/*
 * Writing into a filesystem that this snapshot freezes would block create
 * until the thaw.  The device number catches the usual case; the mount ID
 * also catches btrfs subvolumes (their files report a device number of
 * their own) and filesystems stored on a frozen one.
 */
static int check_not_frozen(struct provider *p, struct local_state *s)
{
	const struct frz_plan *plan = p->req->plan;
	const struct frz_fs *holder = NULL, *frozen = NULL;
	struct statx stx = {};
	struct stat st;

	if (fstat(s->dir_fd, &st) < 0)
		return provider_fail(p, SNAP_PRECONDITION, "cannot stat the snapshot directory %s: %s",
				     s->dir, strerror(errno));
	for (size_t i = 0; !frozen && i < frz_plan_get_n_freeze_order(plan); i++) {
		const struct frz_fs *fs = frz_plan_get_freeze_order(plan, i);

		if (frz_fs_get_devno(fs) == st.st_dev)
			frozen = holder = fs;
	}
	if (!frozen && p->req->ctx->sysroot_is_host && plan->topo &&
	    statx(s->dir_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 &&
	    (stx.stx_mask & STATX_MNT_ID)) {
		const struct frz_mount *m = hashmap_get_u64(&plan->topo->mount_by_id, stx.stx_mnt_id);

		if (m && m->fs) {
			holder = m->fs;
			frozen = fs_frozen_below(plan, holder, 0);
		}
	}
	if (!frozen)
		return SNAP_OK;
	if (holder == frozen)
		return provider_fail(p, SNAP_PRECONDITION,
				     "the snapshot directory %s is on %s, which this snapshot freezes; "
				     "choose --snapshot-dir on another filesystem", s->dir,
				     fs_name(frozen));
	return provider_fail(p, SNAP_PRECONDITION,
			     "the snapshot directory %s is on %s, which is stored on %s, which this "
			     "snapshot freezes; choose --snapshot-dir on another filesystem",
			     s->dir, fs_name(holder), fs_name(frozen));
}

/* The disk ID as a file name: [A-Za-z0-9._-], unique among the images, ".img" added. */
static int image_name(struct local_state *s, size_t n, const char *id, char **ret)
{
	_cleanup_free_ char *base = strdup(id);

	if (!base)
		return -ENOMEM;
	for (char *c = base; *c; c++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *c))
			*c = '_';
	/* Never a dotfile, "." or "..": the ID alone is no proof. */
	if (!*base || base[0] == '.') {
		char *prefixed;

		if (xasprintf(&prefixed, "disk%s", base) < 0)
			return -ENOMEM;
		free(base);
		base = prefixed;
	}
	for (unsigned k = 1;; k++) {
		char *name;
		bool taken = false;
		int r = k == 1 ? xasprintf(&name, "%s.img", base) :
				 xasprintf(&name, "%s-%u.img", base, k);

		if (r < 0)
			return -ENOMEM;
		taken = streq(name, MANIFEST_NAME) || streq(name, MANIFEST_TMP_NAME);
		for (size_t i = 0; !taken && i < n; i++)
			taken = streq(s->disks[i].image, name);
		if (!taken) {
			*ret = name;
			return 0;
		}
		free(name);
	}
}

/*
 * "<id>.partial/owner" names the run making it ("PID STARTTIME"): a
 * partial snapshot whose run is gone (killed with SIGKILL, or the machine
 * rebooted) holds nothing usable and may hold the size of every image, so
 * the next run removes it.  The images are the directory's only entries
 * besides the owner file and a manifest.
 */
#define OWNER_NAME "owner"

static void sweep_stale_partials(struct provider *p, struct local_state *s)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd = dup(s->dir_fd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char buf[64];
		int pid = 0, sub;
		unsigned long long start = 0;
		ssize_t n;

		if (l <= 8 || !streq(de->d_name + l - 8, ".partial"))
			continue;
		sub = openat(s->dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		int ofd = openat(sub, OWNER_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		n = ofd >= 0 ? read(ofd, buf, sizeof(buf) - 1) : -1;
		if (ofd >= 0)
			close(ofd);
		if (n <= 0 || (buf[n] = 0, sscanf(buf, "%d %llu", &pid, &start) != 2) ||
		    process_matches(pid, start)) {
			close(sub);   /* not ours to judge, or its run is alive */
			continue;
		}
		_cleanup_closedir_ DIR *sd = fdopendir(sub);
		if (!sd) {
			close(sub);
			continue;
		}
		struct dirent *e;
		while ((e = readdir(sd)))
			if (e->d_type == DT_REG)
				(void)unlinkat(dirfd(sd), e->d_name, 0);
		if (unlinkat(s->dir_fd, de->d_name, AT_REMOVEDIR) == 0)
			warn(p->req->ctx, "removed %s/%s, left by a run that died (pid %d)", s->dir,
			     de->d_name, pid);
	}
}

static int local_prepare(struct provider *p)
{
	const struct snapshot_request *req = p->req;
	const struct frz_plan *plan = req->plan;
	struct local_state *s;
	uint64_t needed = 0, free_bytes;
	struct statvfs sv;
	int r;

	if (p->priv)
		return provider_fail(p, SNAP_UNKNOWN, "the local provider was prepared twice");
	s = calloc(1, sizeof(*s));
	if (!s)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	s->dir_fd = s->snap_fd = -1;
	p->priv = s;

	r = provider_check_excludes(p);
	if (r != SNAP_OK)
		return r;
	if (!req->snapshot_dir || !*req->snapshot_dir)
		return provider_fail(p, SNAP_BAD_PARAM,
				     "the local provider needs a snapshot directory (--snapshot-dir)");

	s->disks = calloc(frz_plan_get_n_disks(plan) + 1, sizeof(*s->disks));
	if (!s->disks)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	for (size_t i = 0; i < frz_plan_get_n_disks(plan); i++) {
		const struct frz_disk *disk = frz_plan_get_disk(plan, i);
		struct local_disk *d = &s->disks[s->n_disks];

		if (provider_disk_excluded(p, disk))
			continue;
		*d = (struct local_disk){ .disk = disk, .src_fd = -1, .dst_fd = -1 };
		s->n_disks++;
		r = disk_open_source(p, d);
		if (r != SNAP_OK)
			return r;
		needed += d->allocated;
	}
	if (frz_plan_get_n_disks(plan) == 0)
		return provider_fail(p, SNAP_NO_DISK, "the plan holds no disk to snapshot");
	if (s->n_disks == 0)
		return provider_fail(p, SNAP_NO_DISK,
				     "no disk left to snapshot: --exclude-disk leaves out every disk "
				     "of the plan");

	r = mkdir_parents(req->snapshot_dir);
	if (r < 0)
		return provider_fail(p, SNAP_PRECONDITION,
				     "cannot create the snapshot directory %s: %s", req->snapshot_dir,
				     strerror(-r));
	s->dir_fd = open(req->snapshot_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return provider_fail(p, SNAP_PRECONDITION, "cannot open the snapshot directory %s: %s",
				     req->snapshot_dir, strerror(errno));
	s->dir = realpath(req->snapshot_dir, NULL);
	if (!s->dir)
		return provider_fail(p, SNAP_PRECONDITION,
				     "cannot resolve the snapshot directory %s: %s", req->snapshot_dir,
				     strerror(errno));
	r = check_not_frozen(p, s);
	if (r != SNAP_OK)
		return r;

	sweep_stale_partials(p, s);
	if (fstatvfs(s->dir_fd, &sv) < 0)
		return provider_fail(p, SNAP_PRECONDITION, "cannot read the free space of %s: %s",
				     s->dir, strerror(errno));
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (free_bytes < needed) {
		char have[32], need[32];

		return provider_fail(p, SNAP_PRECONDITION,
				     "the snapshot directory %s has %s free, the images need up to %s; "
				     "free space or choose another --snapshot-dir", s->dir,
				     format_bytes(have, sizeof(have), free_bytes),
				     format_bytes(need, sizeof(need), needed));
	}

	if (provider_make_group_id("local", &p->group_id) < 0 ||
	    xasprintf(&s->partial_name, "%s.partial", p->group_id) < 0)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	if (mkdirat(s->dir_fd, s->partial_name, 0700) < 0)
		return provider_fail(p, SNAP_PRECONDITION, "cannot create %s/%s: %s", s->dir,
				     s->partial_name, strerror(errno));
	s->partial_made = true;
	s->snap_fd = openat(s->dir_fd, s->partial_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->snap_fd < 0)
		return provider_fail(p, SNAP_PRECONDITION, "cannot open %s/%s: %s", s->dir,
				     s->partial_name, strerror(errno));
	{
		unsigned long long start = 0;
		char owner[64];
		int ofd = openat(s->snap_fd, OWNER_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		int len = snprintf(owner, sizeof(owner), "%d %llu\n", (int)getpid(),
				   process_start_time(getpid(), &start) < 0 ? 0 : start);
		if (ofd < 0 || write(ofd, owner, (size_t)len) != len) {
			if (ofd >= 0)
				close(ofd);
			return provider_fail(p, SNAP_PRECONDITION, "cannot write %s/%s/%s: %s",
					     s->dir, s->partial_name, OWNER_NAME, strerror(errno));
		}
		close(ofd);
	}
	for (size_t i = 0; i < s->n_disks; i++) {
		struct local_disk *d = &s->disks[i];

		if (image_name(s, i, frz_disk_get_id(d->disk), &d->image) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
		d->dst_fd = openat(s->snap_fd, d->image,
				   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d->dst_fd < 0)
			return provider_fail(p, SNAP_PRECONDITION, "cannot create %s/%s/%s: %s", s->dir,
					     s->partial_name, d->image, strerror(errno));
		d->image_made = true;
		if (ftruncate(d->dst_fd, (off_t)d->size) < 0)
			return provider_fail(p, SNAP_PRECONDITION, "cannot size %s/%s/%s: %s", s->dir,
					     s->partial_name, d->image, strerror(errno));
	}
	s->buffer = malloc(COPY_BUFFER_SIZE);
	if (!s->buffer)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	return SNAP_OK;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t k = pwrite(fd, buf, len, off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += k;
		len -= (size_t)k;
		off += k;
	}
	return 0;
}

/*
 * Copy [FROM, TO) of the source, at most COPY_CHUNK at a time, looking at the
 * window between pieces.  *USE_CFR is cleared when copy_file_range() cannot
 * serve this pair of files.  1 when the window closed, 0, or -errno.
 */
static int copy_range(struct provider *p, struct local_disk *d, off_t from, off_t to, bool *use_cfr)
{
	struct local_state *s = p->priv;

	while (from < to) {
		size_t len = (uint64_t)(to - from) < COPY_CHUNK ? (size_t)(to - from) : COPY_CHUNK;
		ssize_t k;

		if (window_is_closed(p))
			return 1;
		if (*use_cfr) {
			off_t in = from, out = from;

			k = copy_file_range(d->src_fd, &in, d->dst_fd, &out, len, 0);
			if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP)) {
				*use_cfr = false;
				continue;
			}
		} else {
			if (len > COPY_BUFFER_SIZE)
				len = COPY_BUFFER_SIZE;
			k = pread(d->src_fd, s->buffer, len, from);
			if (k > 0) {
				int r = pwrite_all(d->dst_fd, s->buffer, (size_t)k, from);

				if (r < 0)
					return r;
			}
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ENODATA; /* the source shrank under us */
		from += k;
	}
	return 0;
}

/* Copy the data extents of the source; holes stay holes (the destination was sized). */
static int copy_sparse(struct provider *p, struct local_disk *d)
{
	off_t pos = 0, size = (off_t)d->size;
	bool use_cfr = true;

	while (pos < size) {
		off_t data, hole;
		int r;

		data = lseek(d->src_fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
			data = pos; /* no extent map: copy it all */
			hole = size;
		} else if (data < 0) {
			return -errno;
		} else {
			hole = lseek(d->src_fd, data, SEEK_HOLE);
			if (hole < 0)
				return -errno;
		}
		if (data >= size)
			break;
		if (hole > size)
			hole = size;
		r = copy_range(p, d, data, hole, &use_cfr);
		if (r != 0)
			return r;
		pos = hole;
	}
	return 0;
}

/* Inside the window: descriptors only, no path lookup, no log. */
static int local_create(struct provider *p)
{
	struct local_state *s = p->priv;

	if (!s || !s->buffer)
		return provider_fail(p, SNAP_CREATE_FAILED, "the local provider was not prepared");
	if (s->created)
		return provider_fail(p, SNAP_CREATE_FAILED, "the local snapshot was already created");
	s->created = true;
	clock_gettime(CLOCK_REALTIME, &s->point_in_time);
	for (size_t i = 0; i < s->n_disks; i++) {
		struct local_disk *d = &s->disks[i];
		uint64_t start = mono_ns();
		struct stat st;
		int r = 0;

		if (window_is_closed(p))
			return provider_fail(p, SNAP_PAUSE_FAILED,
					     "the I/O-pause deadline passed before the copy of %s; "
					     "the copy is discarded", frz_disk_get_id(d->disk));
		if (fstat(d->src_fd, &st) < 0)
			r = -errno;
		else if ((uint64_t)st.st_size != d->size) {
			/* Resized since prepare (losetup --set-capacity): follow it. */
			d->size = (uint64_t)st.st_size;
			if (ftruncate(d->dst_fd, st.st_size) < 0)
				r = -errno;
		}
		if (r == 0 && ioctl(d->dst_fd, FICLONE, d->src_fd) == 0) {
			d->method = "reflink";
		} else if (r == 0 && errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL &&
			   errno != ENOTTY) {
			r = -errno;
		} else if (r == 0) {
			d->method = "copy";
			r = copy_sparse(p, d);
		}
		d->copy_ns = mono_ns() - start;
		if (r == 1)
			return provider_fail(p, SNAP_PAUSE_FAILED,
					     "the I/O-pause deadline passed during the copy of %s; "
					     "the copy is discarded", frz_disk_get_id(d->disk));
		if (r == -ENODATA)
			return provider_fail(p, SNAP_CREATE_FAILED,
					     "copying %s failed: its backing file %s shrank during the "
					     "copy", frz_disk_get_id(d->disk), d->source);
		if (r < 0)
			return provider_fail(p, SNAP_CREATE_FAILED, "copying %s (%s) failed: %s",
					     frz_disk_get_id(d->disk), d->source, strerror(-r));
	}
	/* Closed by now: some of the copy may postdate the thaw. */
	if (window_is_closed(p))
		return provider_fail(p, SNAP_PAUSE_FAILED,
				     "the I/O-pause deadline passed during the copy of %s; "
				     "the copy is discarded",
				     frz_disk_get_id(s->disks[s->n_disks - 1].disk));
	s->copied = true;
	return SNAP_OK;
}

static bool add(cJSON *obj, const char *name, cJSON *item)
{
	if (!item)
		return false;
	if (!cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return false;
	}
	return true;
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Set KEY in OBJ to VALUE, replacing an earlier one. */
static bool set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *item = cJSON_CreateString(value);

	if (!item)
		return false;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	return add(obj, key, item);
}

static cJSON *disk_filesystems(const struct frz_plan *plan, const struct frz_disk *disk)
{
	cJSON *list = cJSON_CreateArray();

	for (size_t i = 0; list && i < frz_plan_get_n_filesystems(plan); i++) {
		const struct frz_fs *fs = frz_plan_get_filesystem(plan, i);
		const char *mountpoint;
		bool on_disk = false;
		cJSON *o;

		for (size_t j = 0; !on_disk && j < frz_fs_get_n_disks(fs); j++)
			on_disk = frz_fs_get_disk(fs, j) == disk;
		if (!on_disk)
			continue;
		mountpoint = frz_fs_get_n_mountpoints(fs) > 0 ? frz_fs_get_mountpoint(fs, 0) : NULL;
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(list, o) ||
		    !add(o, "mountpoint", string_or_null(mountpoint)) ||
		    !add(o, "fstype", string_or_null(frz_fs_get_fstype(fs)))) {
			cJSON_Delete(list);
			return NULL;
		}
	}
	return list;
}

static char *manifest_json(const struct provider *p)
{
	const struct local_state *s = p->priv;
	const struct snapshot_request *req = p->req;
	cJSON *root = cJSON_CreateObject(), *tags = cJSON_CreateObject(), *disks = cJSON_CreateArray();
	char created[64], stamp[32];
	struct tm tm;
	char *text = NULL;
	bool ok;

	if (!gmtime_r(&s->point_in_time.tv_sec, &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm))
		stamp[0] = '\0';
	snprintf(created, sizeof(created), "%s.%03ldZ", stamp, s->point_in_time.tv_nsec / 1000000);

	ok = root && tags && disks;
	for (size_t i = 0; ok && i < req->n_tags; i++)
		ok = set_string(tags, req->tags[i].key, req->tags[i].value ? req->tags[i].value : "");
	if (ok && s->tagged)
		ok = set_string(tags, snapshot_verdict_tag(s->verdict), "True");
	ok = ok && add(root, "format", cJSON_CreateNumber(1)) &&
	     add(root, "id", cJSON_CreateString(p->group_id)) &&
	     add(root, "provider", cJSON_CreateString("local")) &&
	     add(root, "name", string_or_null(req->name)) &&
	     add(root, "description", string_or_null(req->description)) &&
	     add(root, "created", cJSON_CreateString(created)) &&
	     add(root, "verdict",
		 string_or_null(s->tagged ? snapshot_verdict_to_string(s->verdict) : NULL));
	if (ok && (ok = cJSON_AddItemToObject(root, "tags", tags)))
		tags = NULL;
	for (size_t i = 0; ok && i < s->n_disks; i++) {
		const struct local_disk *d = &s->disks[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(disks, o)) {
			cJSON_Delete(o);
			ok = false;
			break;
		}
		ok = add(o, "disk_id", cJSON_CreateString(frz_disk_get_id(d->disk))) &&
		     add(o, "device", cJSON_CreateString(frz_disk_get_device(d->disk))) &&
		     add(o, "source", cJSON_CreateString(d->source)) &&
		     add(o, "offset", cJSON_CreateNumber((double)d->offset)) &&
		     add(o, "size_limit", cJSON_CreateNumber((double)d->size_limit)) &&
		     add(o, "image", cJSON_CreateString(d->image)) &&
		     add(o, "size", cJSON_CreateNumber((double)d->size)) &&
		     add(o, "method", string_or_null(d->method)) &&
		     add(o, "copy_ms", cJSON_CreateNumber((double)(d->copy_ns / 1000000))) &&
		     add(o, "filesystems", disk_filesystems(req->plan, d->disk));
	}
	if (ok && (ok = cJSON_AddItemToObject(root, "disks", disks)))
		disks = NULL;
	if (ok)
		text = cJSON_Print(root);
	cJSON_Delete(root);
	cJSON_Delete(tags);
	cJSON_Delete(disks);
	return text;
}

/* Replace DIRFD's manifest.json: temporary file, fsync, rename, fsync of the directory. */
static int write_manifest(const struct provider *p, int dirfd)
{
	_cleanup_free_ char *text = manifest_json(p);
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len++] = '\n'; /* cJSON_Print's NUL becomes the final newline */
	fd = openat(dirfd, MANIFEST_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	r = pwrite_all(fd, (const uint8_t *)text, len, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(fd) < 0)
		r = -errno;
	fd = -1;
	if (r == 0 && renameat(dirfd, MANIFEST_TMP_NAME, dirfd, MANIFEST_NAME) < 0)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dirfd, MANIFEST_TMP_NAME, 0);
	return r;
}

static int local_finish(struct provider *p)
{
	struct local_state *s = p->priv;
	int r;

	if (!s || !s->copied)
		return provider_fail(p, SNAP_GROUP_STATE, "the local snapshot was not created");
	if (s->finished)
		return SNAP_OK;
	for (size_t i = 0; i < s->n_disks; i++)
		if (fsync(s->disks[i].dst_fd) < 0)
			return provider_fail(p, SNAP_GROUP_STATE,
					     "cannot write the image of %s to %s/%s: %s; the "
					     "snapshot is discarded", frz_disk_get_id(s->disks[i].disk),
					     s->dir, s->partial_name, strerror(errno));
	(void)unlinkat(s->snap_fd, OWNER_NAME, 0);   /* a finished snapshot has no owner */
	r = write_manifest(p, s->snap_fd);
	if (r < 0)
		return provider_fail(p, SNAP_GROUP_STATE,
				     "cannot write the manifest into %s/%s: %s; the snapshot is "
				     "discarded", s->dir, s->partial_name, strerror(-r));
	r = renameat2(s->dir_fd, s->partial_name, s->dir_fd, p->group_id, RENAME_NOREPLACE) < 0 ?
		    -errno : 0;
	if (r == -EINVAL) {
		struct stat st;

		/* A filesystem without RENAME_NOREPLACE: the name is random, look and rename. */
		if (fstatat(s->dir_fd, p->group_id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			r = -EEXIST;
		else if (errno != ENOENT)
			r = -errno;
		else
			r = renameat(s->dir_fd, s->partial_name, s->dir_fd, p->group_id) < 0 ?
				    -errno : 0;
	}
	if (r < 0)
		return provider_fail(p, SNAP_GROUP_STATE,
				     "cannot rename %s/%s to %s: %s; the snapshot is discarded", s->dir,
				     s->partial_name, p->group_id, strerror(-r));
	s->finished = true;
	if (fsync(s->dir_fd) < 0)
		return provider_fail(p, SNAP_GROUP_STATE, "cannot write the snapshot directory %s: %s",
				     s->dir, strerror(errno));
	for (size_t i = 0; i < s->n_disks; i++) {
		const struct local_disk *d = &s->disks[i];
		_cleanup_free_ char *path = NULL;

		if (xasprintf(&path, "%s/%s/%s", s->dir, p->group_id, d->image) < 0 ||
		    provider_add_item(p, frz_disk_get_id(d->disk), frz_disk_get_device(d->disk), path,
				      "completed", d->size, d->method) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	}
	return SNAP_OK;
}

static int local_tag(struct provider *p, enum snapshot_verdict verdict)
{
	struct local_state *s = p->priv;
	int r;

	if (!s || !s->finished)
		return provider_fail(p, SNAP_TAG_FAILED,
				     "the local snapshot was not finished: nothing to tag");
	s->tagged = true;
	s->verdict = verdict;
	r = write_manifest(p, s->snap_fd);
	if (r < 0)
		return provider_fail(p, SNAP_TAG_FAILED, "cannot rewrite %s/%s/%s: %s", s->dir,
				     p->group_id, MANIFEST_NAME, strerror(-r));
	return SNAP_OK;
}

static void local_free(struct provider *p)
{
	struct local_state *s = p->priv;

	if (!s)
		return;
	/* Nothing half-made stays behind. */
	if (s->partial_made && !s->finished) {
		for (size_t i = 0; i < s->n_disks; i++)
			if (s->disks[i].image_made && s->snap_fd >= 0)
				(void)unlinkat(s->snap_fd, s->disks[i].image, 0);
		if (s->snap_fd >= 0) {
			(void)unlinkat(s->snap_fd, MANIFEST_TMP_NAME, 0);
			(void)unlinkat(s->snap_fd, MANIFEST_NAME, 0);
			(void)unlinkat(s->snap_fd, OWNER_NAME, 0);
		}
		(void)unlinkat(s->dir_fd, s->partial_name, AT_REMOVEDIR);
	}
	for (size_t i = 0; i < s->n_disks; i++) {
		closep(&s->disks[i].src_fd);
		closep(&s->disks[i].dst_fd);
		free(s->disks[i].source);
		free(s->disks[i].image);
	}
	free(s->disks);
	closep(&s->snap_fd);
	closep(&s->dir_fd);
	free(s->dir);
	free(s->partial_name);
	free(s->buffer);
	free(s);
	p->priv = NULL;
}

const struct provider_ops provider_local_ops = {
	.name = "local",
	.prepare = local_prepare,
	.create = local_create,
	.finish = local_finish,
	.tag = local_tag,
	.free = local_free,
};
