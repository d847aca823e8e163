/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan: which disks and filesystems the targets select, the disks that
 * must join because they share a volume group, array, btrfs volume or log
 * with a chosen one, each filesystem's method and reachable consistency, and
 * the freeze order (dependents first, ties by mountpoint).
 */
#include "config.h"

#include <errno.h>
#include <sys/sysmacros.h>

#include "devmap-internal.h"
#include "plan-internal.h"

enum plan_reason {
	REASON_NONE,
	REASON_TARGET,     /* named by a mountpoint target, or disk-backed by default */
	REASON_DISK,       /* lives on a chosen disk */
	REASON_DEPENDENT,  /* stored on a planned filesystem: frozen first for safety */
};

static int plan_warn(struct frz_plan *plan, const char *format, ...) _printf_(2, 3);
static int plan_warn(struct frz_plan *plan, const char *format, ...)
{
	const char *msg;
	va_list ap;

	va_start(ap, format);
	msg = ptrvec_push_vprintf(&plan->warnings, format, ap);
	va_end(ap);
	return msg ? 0 : -ENOMEM;
}

static int cmp_fs_mountpoint(const void *a, const void *b)
{
	const struct frz_fs *x = *(struct frz_fs *const *)a, *y = *(struct frz_fs *const *)b;
	return strcmp(fs_first_mountpoint(x), fs_first_mountpoint(y));
}

static int cmp_disk_name(const void *a, const void *b)
{
	const struct frz_disk *x = *(struct frz_disk *const *)a, *y = *(struct frz_disk *const *)b;
	return strverscmp(x->bdev->name, y->bdev->name);
}

/* Disks below a block device, through loop images when they are not disks themselves. */
static int bdev_disks(struct frz_bdev *b, struct ptrvec *out, unsigned depth)
{
	int r;

	if (depth > 64)
		return 0;
	if (b->disk)
		return ptrvec_push_unique(out, b->disk);
	if (b->kind == BDEV_LOOP && b->loop_host) {
		for (size_t i = 0; i < b->loop_host->disks.n; i++)
			if ((r = ptrvec_push_unique(out, b->loop_host->disks.items[i])) < 0)
				return r;
		return 0;
	}
	for (size_t i = 0; i < b->lowers.n; i++)
		if ((r = bdev_disks(b->lowers.items[i], out, depth + 1)) < 0)
			return r;
	return 0;
}

static struct frz_disk *disk_by_id(struct topology *topo, const char *id)
{
	for (size_t i = 0; i < topo->disks.n; i++) {
		struct frz_disk *d = topo->disks.items[i];
		if (streq(d->id, id))
			return d;
	}
	/* A local disk's ID is its kernel name; a cloud disk may be named so too. */
	struct frz_bdev *b = hashmap_get_str(&topo->bdev_by_name, id);
	return b ? b->disk : NULL;
}

/* Returns 1 for a mountpoint target, 0 for a disk or device, or a failure. */
static int select_target(struct frz_plan *plan, const char *target)
{
	struct topology *topo = plan->topo;
	struct frz_ctx *ctx = plan->ctx;
	_cleanup_free_ char *path = NULL;
	struct frz_mount *m;
	struct frz_bdev *b;
	struct frz_disk *disk;
	int r;

	if (!*target)
		return frz_fail(ctx, FRZ_ERR_UNKNOWN_DISK,
				"empty target; give a mountpoint, a block device or a disk ID");
	if (target[0] != '/') {
		disk = disk_by_id(topo, target);
		if (!disk)
			return frz_fail(ctx, FRZ_ERR_UNKNOWN_DISK,
					"unknown disk ID '%s': no disk of this machine has it; "
					"run 'freezeshim plan' to list the disks (or map it with --disk-map)",
					target);
		disk->selected = true;
		return 0;
	}
	path = path_normalize(target);
	if (!path)
		return -ENOMEM;
	m = topology_mount_by_path(topo, path);
	if (m && m->hidden) {
		/* The path leads into whatever covers it now: name what is mounted there. */
		struct ptrvec ids = {};
		for (size_t i = 0; i < topo->mounts.n; i++) {
			const struct frz_mount *o = topo->mounts.items[i];
			if (streq(o->mountpoint, path))
				for (size_t j = 0; j < o->fs->disks.n; j++)
					if (ptrvec_push_unique(&ids, ((struct frz_disk *)o->fs->disks.items[j])->id) < 0) {
						ptrvec_clear(&ids);
						return -ENOMEM;
					}
		}
		_cleanup_free_ char *list = ptrvec_join(&ids, ", ", 0);
		if (!list) {
			ptrvec_clear(&ids);
			return -ENOMEM;
		}
		r = frz_fail(ctx, FRZ_ERR_NOT_MOUNTPOINT,
			     "'%s' is over-mounted: the path leads into a later mount, not to what is "
			     "mounted there; %s%s", target,
			     ids.n ? (ids.n > 1 ? "name the disks instead: " : "name the disk instead: ")
				   : "unmount what covers it first", list);
		ptrvec_clear(&ids);
		return r;
	}
	if (m) {
		m->fs->plan_reason = REASON_TARGET;
		m->fs->planned = true;
		return 1;
	}
	if (startswith(path, "/dev/")) {
		struct ptrvec disks = {};
		r = blockdev_resolve_path(topo, path, &b);
		if (r < 0)
			return frz_fail(ctx, FRZ_ERR_UNKNOWN_DEVICE,
					"'%s' is not a block device of this machine; give a mountpoint, "
					"a block device or a disk ID", target);
		r = bdev_disks(b, &disks, 0);
		if (r < 0)
			return r;
		if (disks.n == 0) {
			ptrvec_clear(&disks);
			return frz_fail(ctx, FRZ_ERR_UNKNOWN_DEVICE,
					"block device '%s' rests on no disk this machine knows; "
					"name its disk with --disk-map", target);
		}
		for (size_t i = 0; i < disks.n; i++)
			((struct frz_disk *)disks.items[i])->selected = true;
		ptrvec_clear(&disks);
		return 0;
	}
	return frz_fail(ctx, FRZ_ERR_NOT_MOUNTPOINT,
			"'%s' is not a mountpoint; give a mountpoint, a block device or a disk ID "
			"(run 'freezeshim plan' to list them)", target);
}

static bool fs_on_selected_disk(const struct frz_fs *fs)
{
	for (size_t i = 0; i < fs->disks.n; i++)
		if (((struct frz_disk *)fs->disks.items[i])->selected)
			return true;
	return false;
}

/* Plan everything on a chosen disk, and everything stored on a planned filesystem. */
static int propagate(struct topology *topo)
{
	struct ptrvec work = {};
	int r = 0;

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		if (!fs->planned && fs_on_selected_disk(fs)) {
			fs->planned = true;
			fs->plan_reason = REASON_DISK;
		}
		if (fs->planned && (r = ptrvec_push(&work, fs)) < 0)
			goto out;
	}
	/* Worklist: each filesystem is pushed once, when it becomes planned. */
	while (work.n > 0) {
		struct frz_fs *fs = work.items[--work.n];
		for (size_t j = 0; j < fs->dependents.n; j++) {
			struct frz_fs *dep = fs->dependents.items[j];
			if (dep->planned)
				continue;
			dep->planned = true;
			dep->plan_reason = REASON_DEPENDENT;
			if ((r = ptrvec_push(&work, dep)) < 0)
				goto out;
		}
	}
out:
	ptrvec_clear(&work);
	return r;
}

/* Disks a filesystem needs alongside it in one snapshot group. */
static int required_disks(const struct frz_fs *fs, struct ptrvec *out)
{
	int r;

	for (size_t i = 0; i < fs->stack_disks.n; i++)
		if ((r = ptrvec_push_unique(out, fs->stack_disks.items[i])) < 0)
			return r;
	for (size_t i = 0; i < fs->units.n; i++) {
		const struct span_unit *u = fs->units.items[i];
		for (size_t j = 0; j < u->disks.n; j++)
			if ((r = ptrvec_push_unique(out, u->disks.items[j])) < 0)
				return r;
	}
	return 0;
}

static const char *span_description(const struct frz_fs *fs, const struct frz_disk *missing)
{
	for (size_t i = 0; i < fs->units.n; i++) {
		const struct span_unit *u = fs->units.items[i];
		if (ptrvec_contains(&u->disks, missing))
			return u->description;
	}
	return NULL;
}

/*
 * Group closure.  Returns 1 when disks were added (with --include-spanning),
 * 0 when the selection is closed, or a failure naming the missing disks.
 */
static int close_groups(struct frz_plan *plan, unsigned flags)
{
	struct topology *topo = plan->topo;
	struct ptrvec missing = {}, missing_for = {}, need = {};
	const struct frz_fs *culprit = NULL;
	int r = 0;

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		if (!fs->planned || fs->plan_reason == REASON_DEPENDENT)
			continue;
		need.n = 0;
		if ((r = required_disks(fs, &need)) < 0)
			goto out;
		for (size_t j = 0; j < need.n; j++) {
			struct frz_disk *d = need.items[j];
			if (d->selected || d->targeted || ptrvec_contains(&missing, d))
				continue;
			if (!culprit)
				culprit = fs;
			if ((r = ptrvec_push(&missing, d)) < 0 || (r = ptrvec_push(&missing_for, fs)) < 0)
				goto out;
		}
	}
	if (missing.n == 0)
		goto out;
	if (flags & FRZ_PLAN_INCLUDE_SPANNING) {
		for (size_t i = 0; i < missing.n; i++) {
			struct frz_disk *d = missing.items[i];
			const struct frz_fs *needs = missing_for.items[i];
			/*
			 * A disk joins the way the filesystem that needs it was
			 * chosen: with all its filesystems for a disk selection,
			 * for the snapshot group only for a mountpoint target.
			 */
			if (needs->plan_reason == REASON_TARGET)
				d->targeted = true;
			else
				d->selected = true;
			const char *what = span_description(needs, d);
			if ((r = plan_warn(plan, "added disk %s (%s): it holds part of %s%s",
					   d->id, d->device, what ?: "the filesystem at ",
					   what ? "" : fs_first_mountpoint(needs))) < 0)
				goto out;
		}
		r = 1;
		goto out;
	}
	{
		ptrvec_sort(&missing, cmp_disk_name);
		struct ptrvec ids = {};
		for (size_t i = 0; i < missing.n; i++)
			if ((r = ptrvec_push(&ids, ((struct frz_disk *)missing.items[i])->id)) < 0) {
				ptrvec_clear(&ids);
				goto out;
			}
		_cleanup_free_ char *list = ptrvec_join(&ids, ", ", 0);
		ptrvec_clear(&ids);
		if (!list) {
			r = -ENOMEM;
			goto out;
		}
		const char *what = span_description(culprit, missing.items[0]);
		_cleanup_free_ char *fallback = NULL;
		const char *chosen = NULL;
		need.n = 0;
		if ((r = required_disks(culprit, &need)) < 0)
			goto out;
		for (size_t i = 0; i < need.n && !chosen; i++) {
			const struct frz_disk *d = need.items[i];
			if (d->selected || d->targeted)
				chosen = d->id;
		}
		if (!what && xasprintf(&fallback, "the %s filesystem at %s", culprit->fstype,
				       fs_first_mountpoint(culprit)) < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = frz_fail(plan->ctx, FRZ_ERR_SPANNING,
			     "%s%s holds part of %s, which also spans %s; add %s to the targets "
			     "or pass --include-spanning",
			     chosen ? "disk " : "", chosen ?: "the selection", what ?: fallback, list,
			     missing.n > 1 ? "them" : "it");
	}
out:
	ptrvec_clear(&missing);
	ptrvec_clear(&missing_for);
	ptrvec_clear(&need);
	return r;
}

static void assign_method(struct frz_fs *fs)
{
	/* No path reaches it, so nothing can open it to flush or freeze it. */
	if (((struct frz_mount *)fs->mounts.items[0])->hidden && fs->class != FS_PSEUDO &&
	    fs->class != FS_NETWORK) {
		fs->method = FRZ_METHOD_SKIP;
		fs->consistency = FRZ_CONSISTENCY_CRASH;
		return;
	}
	switch (fs->class) {
	case FS_PSEUDO:
	case FS_NETWORK:
		fs->method = FRZ_METHOD_SKIP;
		fs->consistency = FRZ_CONSISTENCY_NONE;
		return;
	case FS_BLOCK:
		if (fs->read_only) {
			fs->method = FRZ_METHOD_SKIP;
			fs->consistency = FRZ_CONSISTENCY_FS;
		} else if (fstype_can_freeze(fs->fstype)) {
			fs->method = FRZ_METHOD_FIFREEZE;
			fs->consistency = FRZ_CONSISTENCY_FS;
		} else {
			fs->method = FRZ_METHOD_FLUSH;
			fs->consistency = FRZ_CONSISTENCY_CRASH;
		}
		return;
	case FS_OVERLAY:
		if (!fs->upperdir) {
			fs->method = FRZ_METHOD_SKIP;
			fs->consistency = FRZ_CONSISTENCY_FS;
			return;
		}
		/* Its writes land on the upper filesystem: frozen there, clean here. */
		fs->method = FRZ_METHOD_FLUSH;
		fs->consistency = FRZ_CONSISTENCY_CRASH;
		for (size_t i = 0; i < fs->deps.n; i++) {
			const struct fs_dep *dep = fs->deps.items[i];
			if (dep->kind == DEP_OVERLAY && dep->fs->planned &&
			    dep->fs->method == FRZ_METHOD_FIFREEZE)
				fs->consistency = FRZ_CONSISTENCY_FS;
		}
		return;
	case FS_FUSE:
	case FS_OTHER:
		fs->method = FRZ_METHOD_FLUSH;
		fs->consistency = fs->read_only ? FRZ_CONSISTENCY_FS : FRZ_CONSISTENCY_CRASH;
		return;
	}
}

/* A binary min-heap of filesystems keyed by first mountpoint. */
struct heap {
	struct frz_fs **items;
	size_t n;
};

static bool heap_less(struct frz_fs *a, struct frz_fs *b)
{
	return strcmp(fs_first_mountpoint(a), fs_first_mountpoint(b)) < 0;
}

static void heap_push(struct heap *h, struct frz_fs *fs)
{
	size_t i = h->n++;
	h->items[i] = fs;
	while (i > 0 && heap_less(h->items[i], h->items[(i - 1) / 2])) {
		struct frz_fs *t = h->items[i];
		h->items[i] = h->items[(i - 1) / 2];
		h->items[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct frz_fs *heap_pop(struct heap *h)
{
	struct frz_fs *top = h->items[0];
	size_t i = 0;

	h->items[0] = h->items[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && heap_less(h->items[l], h->items[m]))
			m = l;
		if (r < h->n && heap_less(h->items[r], h->items[m]))
			m = r;
		if (m == i)
			break;
		struct frz_fs *t = h->items[i];
		h->items[i] = h->items[m];
		h->items[m] = t;
		i = m;
	}
	return top;
}

static bool in_order(const struct frz_fs *fs)
{
	return fs->planned && fs->method != FRZ_METHOD_SKIP;
}

/*
 * Kahn's algorithm over "X is stored on Y" edges: a filesystem is frozen
 * only once everything stored on it is.  A cycle (heuristic FUSE matches can
 * make one) is broken at the smallest mountpoint, with a warning.
 */
static int order_filesystems(struct frz_plan *plan)
{
	struct ptrvec *fss = &plan->filesystems;
	struct heap h = { .items = calloc(fss->n + 1, sizeof(struct frz_fs *)) };
	size_t placed = 0, total = 0;
	int r = 0;

	if (!h.items)
		return -ENOMEM;
	for (size_t i = 0; i < fss->n; i++) {
		struct frz_fs *fs = fss->items[i];
		fs->indegree = 0;
		if (!in_order(fs))
			continue;
		total++;
		for (size_t j = 0; j < fs->dependents.n; j++)
			if (in_order(fs->dependents.items[j]))
				fs->indegree++;
	}
	for (size_t i = 0; i < fss->n; i++) {
		struct frz_fs *fs = fss->items[i];
		if (in_order(fs) && fs->indegree == 0)
			heap_push(&h, fs);
	}
	while (placed < total) {
		struct frz_fs *fs;
		if (h.n == 0) {
			/* Cycle: take the smallest remaining filesystem. */
			struct frz_fs *pick = NULL;
			for (size_t i = 0; i < fss->n; i++) {
				struct frz_fs *c = fss->items[i];
				if (in_order(c) && c->indegree > 0 && (!pick || heap_less(c, pick)))
					pick = c;
			}
			if ((r = plan_warn(plan, "storage dependency cycle through %s; ordered by mountpoint there",
					   fs_first_mountpoint(pick))) < 0)
				break;
			pick->indegree = 0;
			heap_push(&h, pick);
		}
		fs = heap_pop(&h);
		fs->indegree = (size_t)-1; /* placed */
		placed++;
		if ((r = ptrvec_push(&plan->freeze_order, fs)) < 0)
			break;
		for (size_t i = 0; i < fs->deps.n; i++) {
			struct frz_fs *on = ((struct fs_dep *)fs->deps.items[i])->fs;
			if (in_order(on) && on->indegree != (size_t)-1 && on->indegree > 0 && --on->indegree == 0)
				heap_push(&h, on);
		}
	}
	free(h.items);
	return r;
}

static const struct frz_bdev *stack_find_suspended(const struct frz_bdev *b, unsigned depth)
{
	if (b->kind == BDEV_DM && b->dm_suspended)
		return b;
	for (size_t i = 0; depth < 64 && i < b->lowers.n; i++) {
		const struct frz_bdev *s = stack_find_suspended(b->lowers.items[i], depth + 1);
		if (s)
			return s;
	}
	return NULL;
}

/* Mountpoint targets leave the rest of their disks crash-consistent: say so, per disk. */
static int warn_neighbours(struct frz_plan *plan)
{
	struct topology *topo = plan->topo;
	struct ptrvec names = {};
	int r = 0;

	for (size_t i = 0; i < plan->disks.n && r >= 0; i++) {
		const struct frz_disk *d = plan->disks.items[i];
		_cleanup_free_ char *list = NULL;

		names.n = 0;
		for (size_t j = 0; j < topo->fss.n && r >= 0; j++) {
			const struct frz_fs *fs = topo->fss.items[j];
			if (fs->planned || fs->read_only || fs->class == FS_PSEUDO || fs->class == FS_NETWORK ||
			    !ptrvec_contains(&fs->disks, d))
				continue;
			r = ptrvec_push(&names, (void *)fs_first_mountpoint(fs));
		}
		if (r < 0 || names.n == 0)
			continue;
		list = ptrvec_join(&names, ", ", 4);
		r = list ? plan_warn(plan, "disk %s also holds %s, not in the plan: a snapshot of the disk "
				     "leaves %s crash-consistent", d->id, list, names.n > 1 ? "them" : "it")
			 : -ENOMEM;
	}
	ptrvec_clear(&names);
	return r < 0 ? r : 0;
}

static int collect_warnings(struct frz_plan *plan, bool by_mountpoint)
{
	struct topology *topo = plan->topo;
	int r;

	for (size_t i = 0; i < topo->warnings.n; i++) {
		const struct topo_warning *w = topo->warnings.items[i];
		if ((!w->fs || w->fs->planned) && (r = plan_warn(plan, "%s", w->message)) < 0)
			return r;
	}
	/* Disks holding unplanned filesystems are named by warn_neighbours(). */
	for (size_t i = 0; i < topo->fss.n; i++) {
		const struct frz_fs *fs = topo->fss.items[i];
		for (size_t j = 0; j < fs->disks.n; j++)
			((struct frz_disk *)fs->disks.items[j])->holds_fs = true;
	}
	for (size_t i = 0; i < plan->disks.n; i++) {
		struct frz_disk *d = plan->disks.items[i];
		if (!d->holds_fs && (r = plan_warn(plan, "disk %s (%s) holds no mounted filesystem: "
						   "its snapshot is crash-consistent at best", d->id, d->device)) < 0)
			return r;
	}
	for (size_t i = 0; i < plan->filesystems.n; i++) {
		struct frz_fs *fs = plan->filesystems.items[i];
		if (((struct frz_mount *)fs->mounts.items[0])->hidden &&
		    (r = plan_warn(plan, "%s (%s on %s) is only mounted at over-mounted paths: "
				   "it cannot be opened to freeze it and stays crash-consistent",
				   fs_first_mountpoint(fs), fs->fstype, fs->source)) < 0)
			return r;
		if (fs->class == FS_FUSE && !fs->fuse_daemon &&
		    (r = plan_warn(plan, "%s (%s): no daemon found serving it; it is flushed, "
				   "but its store's freeze is not ordered after it",
				   fs_first_mountpoint(fs), fs->fstype)) < 0)
			return r;
		if ((fs->class == FS_PSEUDO || fs->class == FS_NETWORK) &&
		    (r = plan_warn(plan, "%s is a %s filesystem with no disk to snapshot: skipped",
				   fs_first_mountpoint(fs), fs->fstype)) < 0)
			return r;
		/* A suspended device-mapper device anywhere below blocks FIFREEZE. */
		for (size_t j = 0; j < fs->bdevs.n; j++) {
			const struct frz_bdev *s = stack_find_suspended(fs->bdevs.items[j], 0);
			if (!s)
				continue;
			if ((r = plan_warn(plan, "%s (%s) is suspended: freezing %s would block until it resumes",
					   s->name, s->dm_name ?: "", fs_first_mountpoint(fs))) < 0)
				return r;
			break;
		}
	}
	return by_mountpoint ? warn_neighbours(plan) : 0;
}

int plan_build(struct frz_plan *plan, const char *const *targets, size_t n_targets, unsigned flags)
{
	struct topology *topo = plan->topo;
	bool by_mountpoint = false;
	int r = 0;

	for (size_t i = 0; i < n_targets; i++) {
		if ((r = select_target(plan, targets[i])) < 0)
			goto out;
		if (r > 0)
			by_mountpoint = true;
	}
	if (n_targets == 0) {
		bool any_cloud = false;
		for (size_t i = 0; i < topo->disks.n; i++) {
			struct frz_disk *d = topo->disks.items[i];
			if (d->provider != FRZ_PROVIDER_LOCAL) {
				d->selected = true;
				any_cloud = true;
			}
		}
		/* No cloud disk: every disk-backed filesystem. */
		if (!any_cloud)
			for (size_t i = 0; i < topo->fss.n; i++) {
				struct frz_fs *fs = topo->fss.items[i];
				if (fs->disks.n > 0 && fs->class != FS_PSEUDO && fs->class != FS_NETWORK) {
					fs->planned = true;
					fs->plan_reason = REASON_TARGET;
				}
			}
	}
	/*
	 * A targeted filesystem's own disks count as chosen for group closure,
	 * but do not bring the other filesystems on them into the plan.
	 */
	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		if (fs->plan_reason == REASON_TARGET)
			for (size_t j = 0; j < fs->stack_disks.n; j++)
				((struct frz_disk *)fs->stack_disks.items[j])->targeted = true;
	}
	for (;;) {
		if ((r = propagate(topo)) < 0)
			goto out;
		r = close_groups(plan, flags);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
	}

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		if (fs->planned && (r = ptrvec_push(&plan->filesystems, fs)) < 0)
			goto out;
	}
	ptrvec_sort(&plan->filesystems, cmp_fs_mountpoint);
	/* Block filesystems first: an overlay's consistency depends on its upper's method. */
	for (size_t i = 0; i < plan->filesystems.n; i++)
		if (((struct frz_fs *)plan->filesystems.items[i])->class != FS_OVERLAY)
			assign_method(plan->filesystems.items[i]);
	for (size_t i = 0; i < plan->filesystems.n; i++)
		if (((struct frz_fs *)plan->filesystems.items[i])->class == FS_OVERLAY)
			assign_method(plan->filesystems.items[i]);
	/* A filesystem on an unlinked loop image is lost when the snapshot is mounted. */
	for (size_t i = 0; i < plan->filesystems.n; i++) {
		struct frz_fs *fs = plan->filesystems.items[i];
		if (fs->on_deleted_image)
			fs->consistency = FRZ_CONSISTENCY_NONE;
	}

	/* The plan's disks: the chosen ones and every one a planned filesystem lives on. */
	for (size_t i = 0; i < plan->filesystems.n; i++) {
		struct frz_fs *fs = plan->filesystems.items[i];
		for (size_t j = 0; j < fs->disks.n; j++)
			((struct frz_disk *)fs->disks.items[j])->used = true;
	}
	for (size_t i = 0; i < topo->disks.n; i++) {
		struct frz_disk *d = topo->disks.items[i];
		if ((d->selected || d->targeted || d->used) && (r = ptrvec_push(&plan->disks, d)) < 0)
			goto out;
	}
	ptrvec_sort(&plan->disks, cmp_disk_name);
	if ((r = order_filesystems(plan)) < 0 || (r = collect_warnings(plan, by_mountpoint)) < 0)
		goto out;
	r = 0;
out:
	return r;
}
