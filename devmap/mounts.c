/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Filesystems from the mount table: one node per superblock (bind mounts
 * merged), classified by kind, with the mounts that are still reachable by
 * path listed first, and the block devices each one lives on (its source,
 * every btrfs member, XFS logdev/rtdev, an ext3/4 external journal).
 */
#include "config.h"

#include <blkid.h>
#include <errno.h>
#include <libmount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "devmap-internal.h"

static const char *const freezable_fstypes[] = {
	"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "nilfs2", "gfs2", "ocfs2", "reiserfs",
};

/* Network and host-shared filesystems libmount's list may miss. */
static const char *const network_fstypes[] = {
	"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs",
	"9p", "virtiofs", "afs", "ncpfs", "coda", "ocfs2_dlmfs", "davfs", "orangefs",
};

static bool str_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (streq(s, list[i]))
			return true;
	return false;
}

bool fstype_is_fuse(const char *fstype)
{
	return streq(fstype, "fuse") || startswith(fstype, "fuse.") || streq(fstype, "fuseblk") ||
	       startswith(fstype, "fuseblk.");
}

bool fstype_can_freeze(const char *fstype)
{
	return str_in(fstype, freezable_fstypes, ARRAY_SIZE(freezable_fstypes));
}

static enum fs_class classify(struct libmnt_fs *mfs, const char *fstype, dev_t devno)
{
	if (fstype_is_fuse(fstype))
		return FS_FUSE;
	if (streq(fstype, "overlay"))
		return FS_OVERLAY;
	if (mnt_fs_is_netfs(mfs) || str_in(fstype, network_fstypes, ARRAY_SIZE(network_fstypes)))
		return FS_NETWORK;
	if (streq(fstype, "btrfs") || major(devno) != 0)
		return FS_BLOCK;
	if (mnt_fs_is_pseudofs(mfs) || streq(fstype, "tmpfs") || streq(fstype, "ramfs"))
		return FS_PSEUDO;
	return FS_OTHER;
}

const char *fs_first_mountpoint(const struct frz_fs *fs)
{
	return ((struct frz_mount *)fs->mounts.items[0])->mountpoint;
}

static void fs_free(struct frz_fs *fs)
{
	free(fs->fstype);
	free(fs->source);
	free(fs->fs_options);
	free(fs->upperdir);
	ptrvec_clear(&fs->mounts);
	ptrvec_clear(&fs->bdevs);
	ptrvec_free_items(&fs->deps);
	ptrvec_clear(&fs->dependents);
	ptrvec_clear(&fs->stack_disks);
	ptrvec_clear(&fs->disks);
	ptrvec_clear(&fs->units);
	free(fs);
}

void fs_free_all(struct topology *topo)
{
	for (size_t i = 0; i < topo->fss.n; i++)
		fs_free(topo->fss.items[i]);
	ptrvec_clear(&topo->fss);
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		free(m->mountpoint);
		free(m->root);
		free(m);
	}
	ptrvec_clear(&topo->mounts);
}

static struct frz_fs *fs_new(struct topology *topo, struct libmnt_fs *mfs, dev_t devno, size_t order)
{
	const char *fstype = mnt_fs_get_fstype(mfs) ?: "none";
	const char *options = mnt_fs_get_fs_options(mfs);
	struct frz_fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->devno = devno;
	fs->order = order;
	fs->fstype = strdup(fstype);
	fs->source = strdup(mnt_fs_get_source(mfs) ?: "none");
	fs->fs_options = strdup(options ?: "");
	if (!fs->fstype || !fs->source || !fs->fs_options) {
		fs_free(fs);
		return NULL;
	}
	fs->class = classify(mfs, fstype, devno);
	fs->read_only = mnt_optstr_get_option(fs->fs_options, "ro", NULL, NULL) == 0;
	if (ptrvec_push(&topo->fss, fs) < 0 || hashmap_put_u64(&topo->fs_by_devno, devno, fs) < 0) {
		fs_free(fs);
		return NULL;
	}
	if (fs->class == FS_FUSE)
		topo->have_fuse = true;
	return fs;
}

/* "/a//b/" -> "/a/b"; no symlinks are followed and ".." is left alone. */
char *path_normalize(const char *path)
{
	char *out = malloc(strlen(path) + 2), *o = out;

	if (!out)
		return NULL;
	for (const char *p = path; *p; p++) {
		if (*p == '/' && o > out && o[-1] == '/')
			continue;
		if (*p == '.' && o > out && o[-1] == '/' && (p[1] == '/' || p[1] == '\0')) {
			if (p[1] == '/')
				p++;
			continue;
		}
		*o++ = *p;
	}
	while (o > out + 1 && o[-1] == '/')
		o--;
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

static bool is_namespace_root(const struct frz_mount *m)
{
	return streq(m->mountpoint, "/") && (!m->parent || m->parent == m);
}

/*
 * Reachability by path, as the kernel walks it (checked with real mounts):
 * - covered: another mount sits on top of M at M's own path (its parent is
 *   M), so the path leads into that one;
 * - shadowed: a sibling (same parent) is mounted on a directory above M's
 *   mountpoint, in whatever order the table lists them (mount --move keeps
 *   a mount's ID and place); or M's parent is shadowed; or M's parent is
 *   covered and M is not what covers it; or M is stacked on the namespace
 *   root at "/": walks start at the root mount and never cross what is
 *   stacked on it, so the root stays reachable and those do not.
 * A mount is hidden when covered or shadowed.
 */
static int mark_hidden(struct topology *topo)
{
	struct hashmap by_parent_path;
	struct ptrvec keys = {};
	char *key;
	int r = 0;

	hashmap_init(&by_parent_path, true);
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		if (xasprintf(&key, "%d:%s", m->parent_id, m->mountpoint) < 0 || ptrvec_push(&keys, key) < 0) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = hashmap_put_str(&by_parent_path, key, m)) < 0)
			goto out;
	}
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		const char *mp;
		size_t off, len;

		if (is_namespace_root(m))
			continue;
		if (m->parent && is_namespace_root(m->parent) && streq(m->mountpoint, "/")) {
			m->shadowed = true;
			continue;
		}
		if (xasprintf(&key, "%d:%s", m->id, m->mountpoint) < 0) {
			r = -ENOMEM;
			goto out;
		}
		m->covered = hashmap_get_str(&by_parent_path, key) != NULL;
		free(key);
		/* Siblings on a directory above our mountpoint: key is ours, keys[i]. */
		key = keys.items[i];
		mp = strchr(key, ':') + 1;
		off = (size_t)(mp - key);
		len = strlen(mp);
		while (len > 1 && !m->shadowed) {
			while (len > 0 && mp[len - 1] != '/')
				len--;
			len = len > 1 ? len - 1 : 1; /* "/a/" -> "/a"; "/" stays */
			/* What is stacked on the namespace root shadows nothing. */
			if (len == 1 && m->parent && is_namespace_root(m->parent))
				break;
			const struct frz_mount *n = hashmap_get_strn(&by_parent_path, key, off + len);
			if (n && n != m)
				m->shadowed = true;
		}
	}
	/* Parents precede children in practice, but do not rely on it. */
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < topo->mounts.n; i++) {
			struct frz_mount *m = topo->mounts.items[i];
			const struct frz_mount *p = m->parent;
			if (m->shadowed || !p || p == m || is_namespace_root(m))
				continue;
			if (p->shadowed || (p->covered && !streq(m->mountpoint, p->mountpoint))) {
				m->shadowed = true;
				changed = true;
			}
		}
	}
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		m->hidden = m->covered || m->shadowed;
	}
out:
	hashmap_clear(&by_parent_path);
	ptrvec_free_items(&keys);
	return r;
}

static int cmp_mount(const void *a, const void *b)
{
	const struct frz_mount *x = *(struct frz_mount *const *)a, *y = *(struct frz_mount *const *)b;

	if (x->hidden != y->hidden)
		return x->hidden ? 1 : -1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct frz_mount *topology_mount_by_path(const struct topology *topo, const char *path)
{
	return hashmap_get_str(&topo->mount_by_path, path);
}

/*
 * The paths looked up here are the kernel's d_path() strings (a loop's
 * backing_file, /proc links) or were resolved when something was set up
 * (overlay and FUSE options): both name the mount that was reached then,
 * hidden or not, so the longest mountpoint wins, a reachable one first
 * where two share a path.
 */
struct frz_fs *topology_fs_of_path(const struct topology *topo, const char *path)
{
	_cleanup_free_ char *p = path_normalize(path);
	size_t len;

	if (!p || p[0] != '/')
		return NULL;
	len = strlen(p);
	for (;;) {
		struct frz_mount *m = hashmap_get_strn(&topo->mount_by_path, p, len);
		if (m)
			return m->fs;
		if (len == 1)
			return NULL;
		while (len > 1 && p[len - 1] != '/')
			len--;
		if (len > 1)
			len--;
	}
}

int mounts_scan(struct topology *topo)
{
	struct frz_ctx *ctx = topo->ctx;
	_cleanup_free_ char *path = NULL;
	struct libmnt_table *tb = NULL;
	struct libmnt_iter *itr = NULL;
	struct libmnt_fs *mfs;
	size_t order = 0;
	int r;

	r = sysroot_path(ctx, "proc/self/mountinfo", &path);
	if (r < 0)
		return r;
	tb = mnt_new_table();
	itr = mnt_new_iter(MNT_ITER_FORWARD);
	if (!tb || !itr) {
		r = -ENOMEM;
		goto out;
	}
	r = mnt_table_parse_file(tb, path);
	if (r < 0) {
		r = frz_fail(ctx, FRZ_ERR_NO_MOUNTINFO, "cannot parse the mount table %s: %s", path,
			     strerror(r == -1 ? EINVAL : -r));
		goto out;
	}
	while (mnt_table_next_fs(tb, itr, &mfs) == 0) {
		const char *target = mnt_fs_get_target(mfs);
		dev_t devno = mnt_fs_get_devno(mfs);
		struct frz_mount *m;
		struct frz_fs *fs;

		if (!target)
			continue;
		m = calloc(1, sizeof(*m));
		if (!m || ptrvec_push(&topo->mounts, m) < 0) {
			free(m);
			r = -ENOMEM;
			goto out;
		}
		m->id = mnt_fs_get_id(mfs);
		m->parent_id = mnt_fs_get_parent_id(mfs);
		m->mountpoint = path_normalize(target);
		m->root = strdup(mnt_fs_get_root(mfs) ?: "/");
		m->order = order++;
		if (!m->mountpoint || !m->root) {
			r = -ENOMEM;
			goto out;
		}
		fs = hashmap_get_u64(&topo->fs_by_devno, devno);
		if (!fs)
			fs = fs_new(topo, mfs, devno, m->order);
		if (!fs || ptrvec_push(&fs->mounts, m) < 0 || hashmap_put_u64(&topo->mount_by_id, (uint64_t)m->id, m) < 0) {
			r = -ENOMEM;
			goto out;
		}
		m->fs = fs;
	}
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		m->parent = hashmap_get_u64(&topo->mount_by_id, (uint64_t)m->parent_id);
	}
	r = mark_hidden(topo);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < topo->mounts.n; i++) {
		struct frz_mount *m = topo->mounts.items[i];
		struct frz_mount *old = hashmap_get_str(&topo->mount_by_path, m->mountpoint);
		if (!old || (old->hidden && !m->hidden) || (old->hidden == m->hidden && m->order > old->order))
			if ((r = hashmap_put_str(&topo->mount_by_path, m->mountpoint, m)) < 0)
				goto out;
	}
	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		ptrvec_sort(&fs->mounts, cmp_mount);
	}
	r = 0;
out:
	mnt_free_iter(itr);
	mnt_unref_table(tb);
	return r;
}

static int fs_add_bdev(struct frz_fs *fs, struct frz_bdev *b)
{
	return ptrvec_push_unique(&fs->bdevs, b);
}

/* Map kernel names to their btrfs filesystem directory, scanned once. */
static int btrfs_members(struct topology *topo, struct frz_fs *fs, struct frz_bdev *source)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int btrfsfd, r;
	_cleanup_close_ int fsdirs = sysroot_open(topo->ctx, "sys/fs/btrfs", O_RDONLY | O_DIRECTORY);

	if (fsdirs < 0)
		return 0;
	btrfsfd = fsdirs;
	d = sysroot_opendir_at(btrfsfd, ".");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_closedir_ DIR *devs = NULL;
		_cleanup_free_ char *sub = NULL;
		struct ptrvec members = {};
		bool ours = false;
		struct dirent *dd;

		if (de->d_name[0] == '.' || streq(de->d_name, "features"))
			continue;
		if (xasprintf(&sub, "%s/devices", de->d_name) < 0)
			return -ENOMEM;
		devs = sysroot_opendir_at(btrfsfd, sub);
		if (!devs)
			continue;
		while ((dd = readdir(devs))) {
			struct frz_bdev *b;
			if (dd->d_name[0] == '.')
				continue;
			b = hashmap_get_str(&topo->bdev_by_name, dd->d_name);
			if (!b)
				continue;
			if (b == source)
				ours = true;
			if (ptrvec_push(&members, b) < 0) {
				ptrvec_clear(&members);
				return -ENOMEM;
			}
		}
		if (ours) {
			for (size_t i = 0; i < members.n; i++)
				if ((r = fs_add_bdev(fs, members.items[i])) < 0)
					break;
			if (members.n > 1) {
				_cleanup_free_ char *key = NULL, *desc = NULL;
				struct span_unit *u;
				if (xasprintf(&key, "btrfs:%s", de->d_name) < 0 ||
				    xasprintf(&desc, "the btrfs volume at %s", fs_first_mountpoint(fs)) < 0) {
					ptrvec_clear(&members);
					return -ENOMEM;
				}
				u = calloc(1, sizeof(*u));
				if (!u || !(u->key = TAKE_PTR(key)) || !(u->description = TAKE_PTR(desc)) ||
				    ptrvec_push(&topo->units, u) < 0 || ptrvec_push(&fs->units, u) < 0) {
					ptrvec_clear(&members);
					return -ENOMEM;
				}
			}
			ptrvec_clear(&members);
			return 0;
		}
		ptrvec_clear(&members);
	}
	return 0;
}

static int add_log_unit(struct topology *topo, struct frz_fs *fs, const char *what)
{
	struct span_unit *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	if (xasprintf(&u->key, "log:%u:%u", major(fs->devno), minor(fs->devno)) < 0 ||
	    xasprintf(&u->description, "the %s filesystem at %s with its %s", fs->fstype,
		      fs_first_mountpoint(fs), what) < 0 ||
	    ptrvec_push(&topo->units, u) < 0) {
		free(u->key);
		free(u->description);
		free(u);
		return -ENOMEM;
	}
	return ptrvec_push(&fs->units, u);
}

/* XFS logdev=/rtdev= options name devices that hold part of the filesystem. */
static int xfs_extra_devices(struct topology *topo, struct frz_fs *fs)
{
	static const char *const opts[] = { "logdev", "rtdev" };
	static const char *const what[] = { "external log", "realtime device" };
	int added = -1;

	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		_cleanup_free_ char *dev = NULL;
		struct frz_bdev *b;
		char *value;
		size_t len;

		if (mnt_optstr_get_option(fs->fs_options, opts[i], &value, &len) != 0 || !len)
			continue;
		dev = strndup(value, len);
		if (!dev)
			return -ENOMEM;
		if (blockdev_resolve_path(topo, dev, &b) < 0) {
			topology_warn(topo, fs, "%s: %s=%s is not a block device of this machine",
				      fs_first_mountpoint(fs), opts[i], dev);
			continue;
		}
		if (fs_add_bdev(fs, b) < 0)
			return -ENOMEM;
		added = added < 0 ? (int)i : 2;
	}
	if (added < 0)
		return 0;
	return add_log_unit(topo, fs, added == 2 ? "external log and realtime device" : what[added]);
}

static int probe_value(const char *path, const char *name, char **ret)
{
	static const char *const types[] = { "ext2", "ext3", "ext4", "jbd", NULL };
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *value;
	int r = -ENOENT;

	if (!pr)
		return -errno ?: -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID);
	blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_ONLYIN, (char **)types);
	if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, name, &value, NULL) == 0) {
		*ret = strdup(value);
		r = *ret ? 0 : -ENOMEM;
	}
	blkid_free_probe(pr);
	return r;
}

/* An ext3/4 external journal: EXT_JOURNAL names the UUID of a jbd device. */
static int ext_journal_device(struct topology *topo, struct frz_fs *fs, struct frz_bdev *source)
{
	_cleanup_free_ char *path = NULL, *journal_uuid = NULL;
	_cleanup_free_ char *rel = NULL;

	if (xasprintf(&rel, "dev/%s", source->name) < 0 || sysroot_path(topo->ctx, rel, &path) < 0)
		return -ENOMEM;
	if (probe_value(path, "EXT_JOURNAL", &journal_uuid) < 0)
		return 0;
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		_cleanup_free_ char *bpath = NULL, *brel = NULL, *uuid = NULL, *type = NULL;

		if (b == source || b->uppers.n > 0)
			continue;
		if (xasprintf(&brel, "dev/%s", b->name) < 0 || sysroot_path(topo->ctx, brel, &bpath) < 0)
			return -ENOMEM;
		if (probe_value(bpath, "TYPE", &type) < 0 || !streq(type, "jbd"))
			continue;
		/* libblkid reports a jbd device's UUID as LOGUUID. */
		if ((probe_value(bpath, "LOGUUID", &uuid) < 0 && probe_value(bpath, "UUID", &uuid) < 0) ||
		    !streq(uuid, journal_uuid))
			continue;
		if (fs_add_bdev(fs, b) < 0)
			return -ENOMEM;
		return add_log_unit(topo, fs, "external journal");
	}
	topology_warn(topo, fs, "%s uses an external journal (UUID %s) that no block device here holds",
		      fs_first_mountpoint(fs), journal_uuid);
	return 0;
}

int mounts_link_blockdevs(struct topology *topo)
{
	int r;

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		struct frz_bdev *source = NULL;

		if (fs->class != FS_BLOCK && fs->class != FS_FUSE)
			continue;
		if (major(fs->devno) != 0)
			source = topology_bdev_by_devno(topo, fs->devno);
		else if (streq(fs->fstype, "btrfs") && startswith(fs->source, "/dev/"))
			(void)blockdev_resolve_path(topo, fs->source, &source);
		if (!source) {
			if (fs->class == FS_BLOCK && major(fs->devno) != 0)
				topology_warn(topo, fs, "%s: device %u:%u of %s is not in sysfs",
					      fs_first_mountpoint(fs), major(fs->devno), minor(fs->devno),
					      fs->source);
			continue;
		}
		if ((r = fs_add_bdev(fs, source)) < 0)
			return r;
		if (streq(fs->fstype, "btrfs"))
			r = btrfs_members(topo, fs, source);
		else if (streq(fs->fstype, "xfs"))
			r = xfs_extra_devices(topo, fs);
		else if (streq(fs->fstype, "ext3") || streq(fs->fstype, "ext4"))
			r = ext_journal_device(topo, fs, source);
		if (r < 0)
			return r;
	}
	return 0;
}
