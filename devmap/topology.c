/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Discovery in one pass: block devices, disks, mounts, dependencies, disks per filesystem. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>

#include "devmap-internal.h"

int topology_warn(struct topology *topo, const struct frz_fs *fs, const char *format, ...)
{
	struct topo_warning *w = calloc(1, sizeof(*w));
	va_list ap;
	int r;

	if (!w)
		return -ENOMEM;
	va_start(ap, format);
	r = vasprintf(&w->message, format, ap);
	va_end(ap);
	if (r < 0 || ptrvec_push(&topo->warnings, w) < 0) {
		if (r >= 0)
			free(w->message);
		free(w);
		return -ENOMEM;
	}
	w->fs = fs;
	warn(topo->ctx, "%s", w->message);
	return 0;
}

struct frz_bdev *topology_bdev_by_devno(const struct topology *topo, dev_t devno)
{
	return hashmap_get_u64(&topo->bdev_by_devno, devno);
}

void topology_free(struct topology *topo)
{
	if (!topo)
		return;
	fs_free_all(topo);
	for (size_t i = 0; i < topo->bdevs.n; i++)
		bdev_free(topo->bdevs.items[i]);
	ptrvec_clear(&topo->bdevs);
	for (size_t i = 0; i < topo->disks.n; i++) {
		struct frz_disk *d = topo->disks.items[i];
		free(d->id);
		free(d->serial);
		free(d->device);
		free(d);
	}
	ptrvec_clear(&topo->disks);
	for (size_t i = 0; i < topo->units.n; i++) {
		struct span_unit *u = topo->units.items[i];
		free(u->key);
		free(u->description);
		ptrvec_clear(&u->disks);
		free(u);
	}
	ptrvec_clear(&topo->units);
	for (size_t i = 0; i < topo->warnings.n; i++)
		free(((struct topo_warning *)topo->warnings.items[i])->message);
	ptrvec_free_items(&topo->warnings);
	hashmap_clear(&topo->bdev_by_devno);
	hashmap_clear(&topo->bdev_by_name);
	hashmap_clear(&topo->dm_by_name);
	hashmap_clear(&topo->fs_by_devno);
	hashmap_clear(&topo->mount_by_path);
	hashmap_clear(&topo->mount_by_id);
	hashmap_clear(&topo->unit_by_key);
	frz_ctx_unref(topo->ctx);
	free(topo);
}

int topology_new(struct frz_ctx *ctx, struct topology **ret)
{
	struct topology *topo = calloc(1, sizeof(*topo));
	int r;

	if (!topo)
		return -ENOMEM;
	topo->ctx = frz_ctx_ref(ctx);
	hashmap_init(&topo->bdev_by_devno, false);
	hashmap_init(&topo->bdev_by_name, true);
	hashmap_init(&topo->dm_by_name, true);
	hashmap_init(&topo->fs_by_devno, false);
	hashmap_init(&topo->mount_by_path, true);
	hashmap_init(&topo->mount_by_id, false);
	hashmap_init(&topo->unit_by_key, true);

	if ((r = blockdevs_scan(topo)) < 0 ||
	    (r = disks_identify(topo)) < 0 ||
	    (r = mounts_scan(topo)) < 0 ||
	    (r = mounts_link_blockdevs(topo)) < 0 ||
	    (r = deps_resolve(topo)) < 0 ||
	    (r = fuse_find_daemons(topo)) < 0 ||
	    (r = deps_compute_disks(topo)) < 0) {
		topology_free(topo);
		return r;
	}
	*ret = topo;
	return 0;
}
