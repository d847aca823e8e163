/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devmap: the machine's topology.  Block devices (disks, partitions,
 * device-mapper, md, loop) from sysfs, filesystems (one per superblock) from
 * the mount table, the storage dependencies between filesystems (loop images,
 * FUSE stores, overlay upper dirs), and the disks each filesystem lives on.
 * Everything is read below the context's root prefix and discovered once;
 * the topology is immutable afterwards.
 */
#pragma once

#include <sys/types.h>

#include "libfreezeshim-internal.h"

enum bdev_kind {
	BDEV_DISK,       /* a whole disk: virtio, NVMe, SCSI, ... */
	BDEV_PARTITION,
	BDEV_DM,
	BDEV_MD,
	BDEV_LOOP,
};

enum fs_class {
	FS_BLOCK,    /* on a block device (or several: btrfs) */
	FS_FUSE,     /* fuse, fuse.*, fuseblk* */
	FS_OVERLAY,  /* overlay: writes go to the upper dir's filesystem */
	FS_NETWORK,
	FS_PSEUDO,   /* no storage: proc, tmpfs, cgroup, ... */
	FS_OTHER,    /* anonymous device, unknown kind: flushed, never frozen */
};

/* Why one filesystem depends on another. */
enum dep_kind {
	DEP_LOOP,     /* its block stack ends in a loop device whose image is on the other */
	DEP_FUSE,     /* its FUSE daemon keeps its store on the other */
	DEP_OVERLAY,  /* its overlay upper dir is on the other */
};

struct frz_disk;
struct frz_fs;

/* A group of disks that must be snapshotted together. */
struct span_unit {
	char *key;          /* "lvm:<vg uuid>", "md:md0", "btrfs:<fsid>", "log:<devno>" */
	char *description;  /* "LVM volume group vg_app" */
	struct ptrvec disks; /* struct frz_disk * */
};

struct frz_bdev {
	char *name;                /* kernel name: vda, vdb1, dm-0, md0, loop3 */
	dev_t devno;
	enum bdev_kind kind;
	struct frz_bdev *whole;    /* a partition's disk */
	struct ptrvec lowers;      /* what it is built on: whole disk, slaves */
	struct ptrvec uppers;      /* partitions, dm/md holders, built on it */
	char *serial, *model;
	char *dm_name, *dm_uuid;
	bool dm_suspended;
	char *md_level;
	char *loop_backing_file;   /* as the kernel reports it, " (deleted)" removed */
	bool loop_backing_deleted;
	dev_t loop_backing_devno;  /* from LOOP_GET_STATUS64, 0 when unknown */
	struct frz_fs *loop_host;  /* the filesystem that holds the image */
	struct frz_disk *disk;     /* set when this device is a disk (leaf or mapped) */
	struct span_unit *unit;    /* LVM VG or md array this device belongs to */
	bool visiting;
};

struct frz_disk {
	char *id;           /* d-…, vol-…, a mapped ID, or the kernel name */
	char *serial;
	char *device;       /* /dev/NAME */
	enum frz_provider provider;
	struct frz_bdev *bdev;
	bool selected;      /* chosen: every filesystem on it is planned */
	bool targeted;      /* under a mountpoint target: counts for group closure only */
	bool used;          /* holds a planned filesystem */
	bool holds_fs;      /* holds any mounted filesystem */
};

struct frz_mount {
	int id, parent_id;
	char *mountpoint;
	char *root;
	bool hidden;        /* over-mounted: its path leads to another mount */
	bool covered;       /* a mount sits on top of it at the same path */
	bool shadowed;      /* its path leads elsewhere for any other reason */
	size_t order;       /* position in the mount table */
	struct frz_fs *fs;
	struct frz_mount *parent;
};

struct fs_dep {
	struct frz_fs *fs;
	enum dep_kind kind;
};

struct frz_fs {
	dev_t devno;
	char *fstype, *source;
	char *fs_options;       /* superblock options */
	enum fs_class class;
	bool read_only;
	struct ptrvec mounts;   /* struct frz_mount *, reachable ones first */
	struct ptrvec bdevs;    /* top block devices: source, btrfs members, external logs */
	struct ptrvec deps;     /* struct fs_dep *: what it depends on */
	struct ptrvec dependents; /* struct frz_fs *: what depends on it */
	struct ptrvec stack_disks; /* disks of its own block stack */
	struct ptrvec disks;    /* stack disks and those of the filesystems it is stored on */
	struct ptrvec units;    /* struct span_unit * */
	char *upperdir;         /* overlay */
	bool on_deleted_image;  /* its stack reads a loop image that was unlinked */
	pid_t fuse_daemon;      /* 0 when not found */
	size_t order;           /* position of its first mount in the mount table */
	/* plan state */
	bool planned;
	int plan_reason;        /* enum plan_reason in plan.c */
	bool disks_done, disks_visiting;
	enum frz_method method;
	enum frz_consistency consistency;
	size_t indegree;
};

/* A discovery finding; the plan shows it when its filesystem is planned. */
struct topo_warning {
	const struct frz_fs *fs;  /* NULL: about the machine as a whole */
	char *message;
};

struct topology {
	struct frz_ctx *ctx;
	struct ptrvec bdevs;     /* struct frz_bdev * */
	struct ptrvec disks;     /* struct frz_disk *, by device name */
	struct ptrvec fss;       /* struct frz_fs *, in mount table order */
	struct ptrvec mounts;    /* struct frz_mount * */
	struct ptrvec units;     /* struct span_unit * */
	struct ptrvec warnings;  /* struct topo_warning * */
	struct hashmap bdev_by_devno, bdev_by_name, dm_by_name;
	struct hashmap fs_by_devno, mount_by_path, mount_by_id, unit_by_key;
	bool have_fuse;
};

/* sysroot.c: every read of /sys, /proc and /dev goes through these. */
int sysroot_open(const struct frz_ctx *ctx, const char *path, int flags);
int sysroot_openat(int dirfd, const char *path, int flags);
/* First line of a small file, trailing whitespace removed; -errno on failure. */
int sysroot_read_line_at(int dirfd, const char *path, char **ret);
int sysroot_read_line(const struct frz_ctx *ctx, const char *path, char **ret);
int sysroot_readlink_at(int dirfd, const char *path, char **ret);
/* Whole small file (cmdline, fdinfo); *ret_len excludes the added NUL. */
int sysroot_read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len);
DIR *sysroot_opendir_at(int dirfd, const char *path);
/* "<sysroot>/<path>" for libraries that want a file name. */
int sysroot_path(const struct frz_ctx *ctx, const char *path, char **ret);

/* topology.c */
int topology_new(struct frz_ctx *ctx, struct topology **ret);
void topology_free(struct topology *topo);
int topology_warn(struct topology *topo, const struct frz_fs *fs, const char *format, ...) _printf_(3, 4);
/* The filesystem holding PATH, by the longest reachable mountpoint prefix. */
struct frz_fs *topology_fs_of_path(const struct topology *topo, const char *path);
struct frz_bdev *topology_bdev_by_devno(const struct topology *topo, dev_t devno);

/* blockdev.c */
void bdev_free(struct frz_bdev *b);
int blockdevs_scan(struct topology *topo);
int disks_identify(struct topology *topo);
int blockdev_resolve_path(struct topology *topo, const char *path, struct frz_bdev **ret);

/* mounts.c */
int mounts_scan(struct topology *topo);
void fs_free_all(struct topology *topo);
bool fstype_is_fuse(const char *fstype);
bool fstype_can_freeze(const char *fstype);
/* "/a//b/./" -> "/a/b" by string rules alone: nothing is looked up. */
char *path_normalize(const char *path);
int mounts_link_blockdevs(struct topology *topo);
const char *fs_first_mountpoint(const struct frz_fs *fs);
struct frz_mount *topology_mount_by_path(const struct topology *topo, const char *path);

/* fuse.c */
int fuse_find_daemons(struct topology *topo);

/* deps.c */
int fs_add_dep(struct frz_fs *fs, struct frz_fs *on, enum dep_kind kind);
int deps_resolve(struct topology *topo);
int deps_compute_disks(struct topology *topo);

/* plan.c needs these */
const char *bdev_kind_to_string(enum bdev_kind kind);
