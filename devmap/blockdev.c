/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block devices from sysfs (disks, partitions, device-mapper, md, loop) and
 * the identity of each disk: Alibaba ESSD, AWS EBS, or local, from serials,
 * NVMe models, DMI and the user's disk map.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "devmap-internal.h"

#define ALIYUN_NVME_MODEL "Alibaba Cloud Elastic Block Storage"
#define AWS_EBS_MODEL "Amazon Elastic Block Store"

const char *bdev_kind_to_string(enum bdev_kind kind)
{
	static const char *const names[] = {
		[BDEV_DISK] = "disk",
		[BDEV_PARTITION] = "partition",
		[BDEV_DM] = "dm",
		[BDEV_MD] = "md",
		[BDEV_LOOP] = "loop",
	};
	return names[kind];
}

static int parse_devno(const char *s, dev_t *ret)
{
	unsigned maj, min;
	char tail;

	if (sscanf(s, "%u:%u%c", &maj, &min, &tail) != 2)
		return -EINVAL;
	*ret = makedev(maj, min);
	return 0;
}

void bdev_free(struct frz_bdev *b)
{
	if (!b)
		return;
	free(b->name);
	free(b->serial);
	free(b->model);
	free(b->dm_name);
	free(b->dm_uuid);
	free(b->md_level);
	free(b->loop_backing_file);
	ptrvec_clear(&b->lowers);
	ptrvec_clear(&b->uppers);
	free(b);
}

static int bdev_register(struct topology *topo, struct frz_bdev *b)
{
	int r;

	if (hashmap_get_str(&topo->bdev_by_name, b->name)) {
		bdev_free(b);
		return 0;
	}
	r = ptrvec_push(&topo->bdevs, b);
	if (r < 0) {
		bdev_free(b);
		return r;
	}
	r = hashmap_put_str(&topo->bdev_by_name, b->name, b);
	if (r >= 0)
		r = hashmap_put_u64(&topo->bdev_by_devno, b->devno, b);
	if (r >= 0 && b->dm_name)
		r = hashmap_put_str(&topo->dm_by_name, b->dm_name, b);
	return r;
}

static struct frz_bdev *bdev_new(const char *name, int dirfd)
{
	_cleanup_free_ char *dev = NULL;
	struct frz_bdev *b;
	dev_t devno;

	if (sysroot_read_line_at(dirfd, "dev", &dev) < 0 || parse_devno(dev, &devno) < 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->name = strdup(name);
	if (!b->name) {
		free(b);
		return NULL;
	}
	b->devno = devno;
	return b;
}

/* The backing file's device through LOOP_GET_STATUS64, when /dev holds the node. */
static void loop_query_backing_devno(struct topology *topo, struct frz_bdev *b)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct loop_info64 info = {};
	struct stat st;

	if (xasprintf(&path, "dev/%s", b->name) < 0)
		return;
	fd = sysroot_open(topo->ctx, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	/* Only trust a node that really is this device. */
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != b->devno)
		return;
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		return;
	b->loop_backing_devno = (dev_t)info.lo_device;
}

static int scan_loop(struct topology *topo, struct frz_bdev *b, int dirfd)
{
	char *file = NULL, *deleted;

	if (sysroot_read_line_at(dirfd, "loop/backing_file", &file) < 0)
		return 0;
	deleted = strstr(file, " (deleted)");
	if (deleted && deleted[strlen(" (deleted)")] == '\0') {
		*deleted = '\0';
		b->loop_backing_deleted = true;
	}
	b->loop_backing_file = file;
	loop_query_backing_devno(topo, b);
	return 1;
}

/* Names in a slaves/ directory; resolved once every device is known. */
static int scan_slaves(int dirfd, struct ptrvec *names)
{
	_cleanup_closedir_ DIR *d = sysroot_opendir_at(dirfd, "slaves");
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *s = strdup(de->d_name);
		if (!s || ptrvec_push(names, s) < 0) {
			free(s);
			return -ENOMEM;
		}
	}
	return 0;
}

static int scan_partitions(struct topology *topo, struct frz_bdev *disk, int dirfd)
{
	_cleanup_closedir_ DIR *d = sysroot_opendir_at(dirfd, ".");
	size_t namelen = strlen(disk->name);
	struct dirent *de;
	int r;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_close_ int pfd = -1;
		struct frz_bdev *p;

		if (strncmp(de->d_name, disk->name, namelen) != 0 || de->d_type == DT_REG)
			continue;
		pfd = sysroot_openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY);
		if (pfd < 0 || faccessat(pfd, "partition", F_OK, 0) < 0)
			continue;
		p = bdev_new(de->d_name, pfd);
		if (!p)
			continue;
		p->kind = BDEV_PARTITION;
		p->whole = disk;
		r = bdev_register(topo, p);
		if (r < 0)
			return r;
	}
	return 0;
}

struct pending_slaves {
	struct frz_bdev *bdev;
	struct ptrvec names;
};

static int scan_one(struct topology *topo, int blockfd, const char *name, struct ptrvec *pending)
{
	_cleanup_close_ int dirfd = sysroot_openat(blockfd, name, O_RDONLY | O_DIRECTORY);
	struct frz_bdev *b;
	struct stat st;
	int r;

	if (dirfd < 0)
		return 0;
	b = bdev_new(name, dirfd);
	if (!b)
		return 0;

	if (fstatat(dirfd, "dm", &st, 0) == 0 && S_ISDIR(st.st_mode)) {
		_cleanup_free_ char *suspended = NULL;
		b->kind = BDEV_DM;
		(void)sysroot_read_line_at(dirfd, "dm/name", &b->dm_name);
		(void)sysroot_read_line_at(dirfd, "dm/uuid", &b->dm_uuid);
		if (sysroot_read_line_at(dirfd, "dm/suspended", &suspended) >= 0)
			b->dm_suspended = streq(suspended, "1");
	} else if (fstatat(dirfd, "md", &st, 0) == 0 && S_ISDIR(st.st_mode)) {
		b->kind = BDEV_MD;
		(void)sysroot_read_line_at(dirfd, "md/level", &b->md_level);
	} else if (startswith(name, "loop")) {
		b->kind = BDEV_LOOP;
		if (scan_loop(topo, b, dirfd) == 0) {
			/* An unbound loop device holds nothing. */
			bdev_free(b);
			return 0;
		}
	} else {
		b->kind = BDEV_DISK;
		if (sysroot_read_line_at(dirfd, "serial", &b->serial) < 0)
			(void)sysroot_read_line_at(dirfd, "device/serial", &b->serial);
		(void)sysroot_read_line_at(dirfd, "device/model", &b->model);
		if (b->serial && !*b->serial) {
			free(b->serial);
			b->serial = NULL;
		}
	}

	if (b->kind == BDEV_DM || b->kind == BDEV_MD) {
		struct pending_slaves *ps = calloc(1, sizeof(*ps));
		if (!ps || ptrvec_push(pending, ps) < 0) {
			free(ps);
			bdev_free(b);
			return -ENOMEM;
		}
		ps->bdev = b;
		r = scan_slaves(dirfd, &ps->names);
		if (r < 0)
			return r;
	}

	r = bdev_register(topo, b);
	if (r < 0)
		return r;
	/* Partitions of disks, loop devices and md arrays. */
	if (b->kind != BDEV_DM)
		return scan_partitions(topo, b, dirfd);
	return 0;
}

static int link_bdev(struct frz_bdev *upper, struct frz_bdev *lower)
{
	int r = ptrvec_push_unique(&upper->lowers, lower);
	if (r >= 0)
		r = ptrvec_push_unique(&lower->uppers, upper);
	return r;
}

static int cmp_bdev_name(const void *a, const void *b)
{
	const struct frz_bdev *x = *(struct frz_bdev *const *)a, *y = *(struct frz_bdev *const *)b;
	return strverscmp(x->name, y->name);
}

/* "vg_app-lv_db" -> "vg_app"; dashes inside names are doubled by LVM. */
static char *lvm_vg_name(const char *dm_name)
{
	_cleanup_free_ char *vg = malloc(strlen(dm_name) + 1);
	size_t j = 0;

	if (!vg)
		return NULL;
	for (const char *p = dm_name; *p; p++) {
		if (*p == '-') {
			if (p[1] != '-')
				break;
			p++;
		}
		vg[j++] = *p;
	}
	vg[j] = '\0';
	return TAKE_PTR(vg);
}

static struct span_unit *unit_get(struct topology *topo, const char *key, const char *description)
{
	struct span_unit *u = hashmap_get_str(&topo->unit_by_key, key);

	if (u)
		return u;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->key = strdup(key);
	u->description = strdup(description);
	if (!u->key || !u->description || ptrvec_push(&topo->units, u) < 0 ||
	    hashmap_put_str(&topo->unit_by_key, u->key, u) < 0) {
		free(u->key);
		free(u->description);
		free(u);
		return NULL;
	}
	return u;
}

static int assign_units(struct topology *topo)
{
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		_cleanup_free_ char *key = NULL, *desc = NULL, *vg = NULL;
		const char *lvm;

		if (b->kind == BDEV_DM && b->dm_uuid && (lvm = startswith(b->dm_uuid, "LVM-")) &&
		    strlen(lvm) >= 32) {
			vg = b->dm_name ? lvm_vg_name(b->dm_name) : NULL;
			if (xasprintf(&key, "lvm:%.32s", lvm) < 0 ||
			    xasprintf(&desc, "the LVM volume group %s", vg && *vg ? vg : "(unnamed)") < 0)
				return -ENOMEM;
		} else if (b->kind == BDEV_MD) {
			if (xasprintf(&key, "md:%s", b->name) < 0 ||
			    xasprintf(&desc, "the %s array %s", b->md_level ?: "md", b->name) < 0)
				return -ENOMEM;
		} else
			continue;
		b->unit = unit_get(topo, key, desc);
		if (!b->unit)
			return -ENOMEM;
	}
	return 0;
}

int blockdevs_scan(struct topology *topo)
{
	_cleanup_close_ int blockfd = sysroot_open(topo->ctx, "sys/block", O_RDONLY | O_DIRECTORY);
	_cleanup_closedir_ DIR *d = NULL;
	struct ptrvec pending = {};
	struct dirent *de;
	int r = 0;

	if (blockfd < 0)
		return frz_fail(topo->ctx, FRZ_ERR_BAD_SYSROOT,
				"cannot read %s/sys/block: %s", streq(topo->ctx->sysroot, "/") ? "" : topo->ctx->sysroot,
				strerror(-blockfd));
	d = sysroot_opendir_at(blockfd, ".");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		r = scan_one(topo, blockfd, de->d_name, &pending);
		if (r < 0)
			goto out;
	}

	/* Partitions lean on their disk; dm and md on their slaves. */
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		if (b->kind == BDEV_PARTITION && (r = link_bdev(b, b->whole)) < 0)
			goto out;
	}
	for (size_t i = 0; i < pending.n; i++) {
		struct pending_slaves *ps = pending.items[i];
		for (size_t j = 0; j < ps->names.n; j++) {
			struct frz_bdev *lower = hashmap_get_str(&topo->bdev_by_name, ps->names.items[j]);
			if (!lower) {
				topology_warn(topo, NULL, "%s lists slave %s, which sysfs does not show",
					      ps->bdev->name, (char *)ps->names.items[j]);
				continue;
			}
			if ((r = link_bdev(ps->bdev, lower)) < 0)
				goto out;
		}
	}
	ptrvec_sort(&topo->bdevs, cmp_bdev_name);
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		ptrvec_sort(&b->uppers, cmp_bdev_name);
		ptrvec_sort(&b->lowers, cmp_bdev_name);
	}
	r = assign_units(topo);
out:
	for (size_t i = 0; i < pending.n; i++) {
		struct pending_slaves *ps = pending.items[i];
		ptrvec_free_items(&ps->names);
		free(ps);
	}
	ptrvec_clear(&pending);
	return r;
}

static bool dmi_is_alibaba(const struct topology *topo)
{
	_cleanup_free_ char *vendor = NULL;

	if (sysroot_read_line(topo->ctx, "sys/class/dmi/id/sys_vendor", &vendor) < 0)
		return false;
	return streq(vendor, "Alibaba Cloud");
}

static enum frz_provider provider_of_id(const char *id)
{
	if (startswith(id, "d-"))
		return FRZ_PROVIDER_ALIYUN;
	if (startswith(id, "vol-"))
		return FRZ_PROVIDER_AWS;
	return FRZ_PROVIDER_USER;
}

static int disk_new(struct topology *topo, struct frz_bdev *b, const char *id, enum frz_provider provider)
{
	struct frz_disk *disk = calloc(1, sizeof(*disk));

	if (!disk)
		return -ENOMEM;
	disk->id = strdup(id);
	disk->serial = strdup_or_null(b->serial);
	disk->provider = provider;
	disk->bdev = b;
	if (!disk->id || (b->serial && !disk->serial) ||
	    xasprintf(&disk->device, "/dev/%s", b->name) < 0 || ptrvec_push(&topo->disks, disk) < 0) {
		free(disk->id);
		free(disk->serial);
		free(disk->device);
		free(disk);
		return -ENOMEM;
	}
	b->disk = disk;
	return 0;
}

/* Cloud identity of a whole disk from its serial and model; NULL id = local. */
static int identify_cloud_disk(const struct frz_bdev *b, bool alibaba, char **ret_id,
			       enum frz_provider *ret_provider)
{
	const char *vol;

	*ret_id = NULL;
	*ret_provider = FRZ_PROVIDER_LOCAL;
	if (!b->serial)
		return 0;
	if (b->model && streq(b->model, ALIYUN_NVME_MODEL)) {
		*ret_provider = FRZ_PROVIDER_ALIYUN;
		return xasprintf(ret_id, "d-%s", b->serial) < 0 ? -ENOMEM : 0;
	}
	if (b->model && streq(b->model, AWS_EBS_MODEL) && (vol = startswith(b->serial, "vol")) && *vol) {
		*ret_provider = FRZ_PROVIDER_AWS;
		return xasprintf(ret_id, "vol-%s", vol[0] == '-' ? vol + 1 : vol) < 0 ? -ENOMEM : 0;
	}
	/* virtio-blk on ECS: the serial is the disk ID without "d-". */
	if (alibaba && startswith(b->name, "vd")) {
		*ret_provider = FRZ_PROVIDER_ALIYUN;
		return xasprintf(ret_id, "d-%s", b->serial) < 0 ? -ENOMEM : 0;
	}
	return 0;
}

int disks_identify(struct topology *topo)
{
	struct frz_ctx *ctx = topo->ctx;
	bool alibaba = dmi_is_alibaba(topo);
	int r;

	/* The user's map first: it names what carries no serial. */
	for (size_t i = 0; i < ctx->disk_map.n; i++) {
		struct frz_disk_map_entry *e = ctx->disk_map.items[i];
		struct frz_bdev *b = hashmap_get_str(&topo->bdev_by_name, e->device);

		if (!b && e->implicit)
			continue;   /* a loop device detached meanwhile */
		if (!b)
			return frz_fail(ctx, FRZ_ERR_UNKNOWN_DEVICE,
					"--disk-map names device '%s', which this machine does not have; "
					"list block devices with lsblk", e->device);
		if (b->kind == BDEV_PARTITION || b->kind == BDEV_DM || b->kind == BDEV_MD)
			return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
					"--disk-map names %s, a %s: map the whole disk below it instead",
					e->device, bdev_kind_to_string(b->kind));
		r = disk_new(topo, b, e->disk_id, provider_of_id(e->disk_id));
		if (r < 0)
			return r;
	}

	for (size_t i = 0; i < topo->bdevs.n; i++) {
		struct frz_bdev *b = topo->bdevs.items[i];
		_cleanup_free_ char *id = NULL;
		enum frz_provider provider;
		const char *wwid;

		/* A multipath device is one disk seen through several paths. */
		if (b->kind == BDEV_DM && !b->disk && b->dm_uuid && (wwid = startswith(b->dm_uuid, "mpath-"))) {
			r = disk_new(topo, b, b->dm_name ?: b->name, FRZ_PROVIDER_LOCAL);
			if (r < 0)
				return r;
			free(b->disk->serial);
			free(b->disk->device);
			b->disk->serial = strdup(wwid);
			if (!b->disk->serial || xasprintf(&b->disk->device, "/dev/mapper/%s", b->dm_name ?: b->name) < 0)
				return -ENOMEM;
			continue;
		}
		if (b->kind != BDEV_DISK || b->disk)
			continue;
		r = identify_cloud_disk(b, alibaba, &id, &provider);
		if (r < 0)
			return r;
		r = disk_new(topo, b, id ?: b->name, provider);
		if (r < 0)
			return r;
	}

	/* Two disks with one ID would make every selection ambiguous. */
	struct hashmap seen;
	hashmap_init(&seen, true);
	for (size_t i = 0; i < topo->disks.n; i++) {
		struct frz_disk *disk = topo->disks.items[i];
		struct frz_disk *other = hashmap_get_str(&seen, disk->id);
		if (other) {
			hashmap_clear(&seen);
			return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
					"disk ID %s names both %s and %s; fix the --disk-map entries",
					disk->id, other->device, disk->device);
		}
		if (hashmap_put_str(&seen, disk->id, disk) < 0) {
			hashmap_clear(&seen);
			return -ENOMEM;
		}
	}
	hashmap_clear(&seen);
	return 0;
}

static int bdev_by_dev_path(struct topology *topo, const char *name, struct frz_bdev **ret)
{
	struct frz_bdev *b = hashmap_get_str(&topo->bdev_by_name, name);
	const char *dm;
	char *slash;

	if (!b && (dm = startswith(name, "mapper/")))
		b = hashmap_get_str(&topo->dm_by_name, dm);
	if (!b && (slash = strchr(name, '/')) && !strchr(slash + 1, '/')) {
		/* /dev/VG/LV: device-mapper calls it VG-LV with dashes doubled. */
		_cleanup_free_ char *dmname = malloc(2 * strlen(name) + 1);
		size_t j = 0;
		if (!dmname)
			return -ENOMEM;
		for (const char *p = name; *p; p++) {
			if (p == slash) {
				dmname[j++] = '-';
				continue;
			}
			if (*p == '-')
				dmname[j++] = '-';
			dmname[j++] = *p;
		}
		dmname[j] = '\0';
		b = hashmap_get_str(&topo->dm_by_name, dmname);
	}
	if (!b)
		return -ENOENT;
	*ret = b;
	return 0;
}

int blockdev_resolve_path(struct topology *topo, const char *path, struct frz_bdev **ret)
{
	const char *name = startswith(path, "/dev/");
	_cleanup_free_ char *link = NULL;
	struct stat st;

	if (!name || !*name)
		return -ENOENT;
	/* On the host, a device node says exactly which device it is. */
	if (topo->ctx->sysroot_is_host) {
		if (stat(path, &st) < 0)
			return -errno;
		if (!S_ISBLK(st.st_mode))
			return -ENOTBLK;
		struct frz_bdev *b = topology_bdev_by_devno(topo, st.st_rdev);
		if (!b)
			return -ENOENT;
		*ret = b;
		return 0;
	}
	if (bdev_by_dev_path(topo, name, ret) == 0)
		return 0;
	/* Fixtures may carry /dev/disk/by-id links; follow one level. */
	if (sysroot_readlink_at(topo->ctx->sysroot_fd, path, &link) < 0)
		return -ENOENT;
	const char *base = strrchr(link, '/');
	return bdev_by_dev_path(topo, base ? base + 1 : link, ret);
}
