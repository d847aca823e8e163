/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage dependencies between filesystems and the disks each one lives on.
 * X depends on Y when X's block stack ends in a loop device whose image is
 * on Y, when X is an overlay whose upper dir is on Y, or when X's FUSE daemon
 * keeps its store on Y (fuse.c).  X must be frozen before Y and thawed after.
 */
#include "config.h"

#include <errno.h>
#include <libmount.h>
#include <sys/sysmacros.h>

#include "devmap-internal.h"

int fs_add_dep(struct frz_fs *fs, struct frz_fs *on, enum dep_kind kind)
{
	struct fs_dep *dep;

	if (fs == on)
		return 0;
	for (size_t i = 0; i < fs->deps.n; i++)
		if (((struct fs_dep *)fs->deps.items[i])->fs == on)
			return 0;
	dep = calloc(1, sizeof(*dep));
	if (!dep)
		return -ENOMEM;
	dep->fs = on;
	dep->kind = kind;
	if (ptrvec_push(&fs->deps, dep) < 0) {
		free(dep);
		return -ENOMEM;
	}
	return ptrvec_push(&on->dependents, fs);
}

/*
 * The filesystem holding a loop device's image.  The kernel's device number
 * (LOOP_GET_STATUS64) decides when we have it; only on btrfs, whose files
 * carry a per-subvolume device number mountinfo does not show, does the
 * image's path speak instead.  Without it (a sysroot), the path decides.
 */
static void loop_find_host(struct topology *topo, struct frz_bdev *b)
{
	struct frz_fs *host = NULL, *by_path;

	by_path = b->loop_backing_file ? topology_fs_of_path(topo, b->loop_backing_file) : NULL;
	if (b->loop_backing_devno) {
		host = hashmap_get_u64(&topo->fs_by_devno, b->loop_backing_devno);
		if (!host && by_path && streq(by_path->fstype, "btrfs"))
			host = by_path;
	} else
		host = by_path;
	b->loop_host = host;
}

/*
 * Walk down from a filesystem's top devices.  Disks (leaves, or devices the
 * user mapped) end the walk; an unmapped loop device continues on the
 * filesystem that holds its image.
 */
static int walk_stack(struct topology *topo, struct frz_fs *fs, struct frz_bdev *b, unsigned depth)
{
	bool add_deps = topo != NULL;
	int r = 0;

	if (depth > 64 || b->visiting)
		return 0;
	/* Findings about loop devices concern the filesystems built on them. */
	if (add_deps && b->kind == BDEV_LOOP && !b->disk) {
		if (b->loop_backing_deleted) {
			fs->on_deleted_image = true;
			r = topology_warn(topo, fs, "%s: its image %s (loop device %s) was deleted: a snapshot "
					  "cannot bring it back", fs_first_mountpoint(fs), b->loop_backing_file, b->name);
		} else if (!b->loop_host)
			r = topology_warn(topo, fs, "%s: the image of %s (%s) is on no filesystem mounted here",
					  fs_first_mountpoint(fs), b->name, b->loop_backing_file);
		if (r < 0)
			return r;
	}
	if (b->unit && (r = ptrvec_push_unique(&fs->units, b->unit)) < 0)
		return r;
	if (add_deps && b->kind == BDEV_LOOP && b->loop_host &&
	    (r = fs_add_dep(fs, b->loop_host, DEP_LOOP)) < 0)
		return r;
	if (b->disk)
		return ptrvec_push_unique(&fs->stack_disks, b->disk);
	b->visiting = true;
	for (size_t i = 0; i < b->lowers.n; i++)
		if ((r = walk_stack(topo, fs, b->lowers.items[i], depth + 1)) < 0)
			break;
	b->visiting = false;
	return r < 0 ? r : 0;
}

/*
 * Lower dirs are only read, and reads pass a frozen filesystem, so they do
 * not order anything; they are logged for whoever debugs a plan.
 */
static void overlay_log_lowers(struct topology *topo, const struct frz_fs *fs)
{
	_cleanup_free_ char *lowers = NULL;
	char *value, *save = NULL;
	size_t len;

	if (topo->ctx->log_priority < LOG_DEBUG ||
	    mnt_optstr_get_option(fs->fs_options, "lowerdir", &value, &len) != 0 || !len ||
	    !(lowers = strndup(value, len)))
		return;
	for (char *dir = strtok_r(lowers, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		const struct frz_fs *lower = topology_fs_of_path(topo, dir);
		dbg(topo->ctx, "%s: lower dir %s on %s", fs_first_mountpoint(fs), dir,
		    lower ? fs_first_mountpoint(lower) : "no filesystem mounted here");
	}
}

static int overlay_upper(struct topology *topo, struct frz_fs *fs)
{
	struct frz_fs *upper;
	char *value;
	size_t len;

	overlay_log_lowers(topo, fs);
	if (mnt_optstr_get_option(fs->fs_options, "upperdir", &value, &len) != 0 || !len)
		return 0; /* a read-only overlay writes nowhere */
	fs->upperdir = strndup(value, len);
	if (!fs->upperdir)
		return -ENOMEM;
	upper = topology_fs_of_path(topo, fs->upperdir);
	if (!upper) {
		topology_warn(topo, fs, "%s: overlay upper dir %s is on no filesystem mounted here",
			      fs_first_mountpoint(fs), fs->upperdir);
		return 0;
	}
	return fs_add_dep(fs, upper, DEP_OVERLAY);
}

int deps_resolve(struct topology *topo)
{
	int r;

	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		if (b->kind == BDEV_LOOP)
			loop_find_host(topo, b);
	}
	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		for (size_t j = 0; j < fs->bdevs.n; j++)
			if ((r = walk_stack(topo, fs, fs->bdevs.items[j], 0)) < 0)
				return r;
		if (fs->class == FS_OVERLAY && (r = overlay_upper(topo, fs)) < 0)
			return r;
	}
	return 0;
}

/*
 * A dependency carries the other filesystem's disks, except through a loop
 * device the user mapped as a disk of its own: that one is the disk.
 */
static bool dep_carries_disks(const struct frz_fs *fs, const struct fs_dep *dep)
{
	if (dep->kind != DEP_LOOP)
		return true;
	for (size_t i = 0; i < fs->stack_disks.n; i++) {
		const struct frz_disk *d = fs->stack_disks.items[i];
		if (d->bdev->kind == BDEV_LOOP && d->bdev->loop_host == dep->fs)
			return false;
	}
	return true;
}

static int compute_disks(struct frz_fs *fs)
{
	int r;

	if (fs->disks_done || fs->disks_visiting)
		return 0;
	fs->disks_visiting = true;
	for (size_t i = 0; i < fs->stack_disks.n; i++)
		if ((r = ptrvec_push_unique(&fs->disks, fs->stack_disks.items[i])) < 0)
			return r;
	for (size_t i = 0; i < fs->deps.n; i++) {
		struct fs_dep *dep = fs->deps.items[i];
		if (!dep_carries_disks(fs, dep))
			continue;
		if ((r = compute_disks(dep->fs)) < 0)
			return r;
		for (size_t j = 0; j < dep->fs->disks.n; j++)
			if ((r = ptrvec_push_unique(&fs->disks, dep->fs->disks.items[j])) < 0)
				return r;
	}
	fs->disks_visiting = false;
	fs->disks_done = true;
	return 0;
}

static int cmp_disk(const void *a, const void *b)
{
	const struct frz_disk *x = *(struct frz_disk *const *)a, *y = *(struct frz_disk *const *)b;
	return strverscmp(x->bdev->name, y->bdev->name);
}

/* Units whose disks are the union of their members' stack disks. */
static int unit_disks(struct topology *topo)
{
	int r;

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		for (size_t j = 0; j < fs->units.n; j++) {
			struct span_unit *u = fs->units.items[j];
			for (size_t k = 0; k < fs->stack_disks.n; k++)
				if ((r = ptrvec_push_unique(&u->disks, fs->stack_disks.items[k])) < 0)
					return r;
		}
	}
	/* LVM and md members that carry no mounted filesystem still count. */
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		struct frz_fs scratch = {};
		r = 0;
		if (!b->unit)
			continue;
		for (size_t j = 0; j < b->lowers.n; j++)
			if ((r = walk_stack(NULL, &scratch, b->lowers.items[j], 0)) < 0)
				break;
		for (size_t k = 0; r >= 0 && k < scratch.stack_disks.n; k++)
			r = ptrvec_push_unique(&b->unit->disks, scratch.stack_disks.items[k]);
		ptrvec_clear(&scratch.stack_disks);
		ptrvec_clear(&scratch.units);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < topo->units.n; i++) {
		struct span_unit *u = topo->units.items[i];
		ptrvec_sort(&u->disks, cmp_disk);
	}
	return 0;
}

int deps_compute_disks(struct topology *topo)
{
	int r;

	for (size_t i = 0; i < topo->fss.n; i++)
		if ((r = compute_disks(topo->fss.items[i])) < 0)
			return r;
	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		ptrvec_sort(&fs->disks, cmp_disk);
	}
	return unit_disks(topo);
}
