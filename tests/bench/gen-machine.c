// SPDX-License-Identifier: GPL-2.0
/*
 * gen-machine - write a fake Alibaba Cloud ECS machine root for benchmarks.
 *
 *   gen-machine DIR NDISKS NMOUNTS
 *
 * Writes DIR/sys/{devices,block,class/block,dev/block,class/dmi/id} and
 * DIR/proc/self/mountinfo the way the kernel lays them out: the files
 * devmap reads under its root prefix (--sysroot), plus what lsblk
 * --sysroot needs (sys/dev/block links, hidden, holders/, ...):
 *
 *  - NDISKS virtio-blk disks vda, vdb, ... vdz, vdaa, ... (253:16*i),
 *    each with a 20 character serial ("bp1" + 17 [a-z0-9]) derived from
 *    its index; vda1 (ext4) is the root filesystem;
 *  - most disks carry one or two partitions with ext4 or xfs, mounted
 *    under /mnt;
 *  - every 8th pair of disks is an LVM volume group: a dm-N (252:N) with
 *    slaves/ both disks, dm/name vgN-data, dm/uuid LVM-<vg><lv>, xfs on
 *    /data/vgN;
 *  - one disk in 16 holds a loop image whose loop device carries ext4 on
 *    /srv/loopN, plus the usual unbound loop devices;
 *  - the kernel/systemd pseudo filesystems, then as many docker-like
 *    units (overlay with upperdir on a data filesystem, shm tmpfs, netns
 *    nsfs, kubelet bind mount from a data filesystem, projected tmpfs) as
 *    it takes for mountinfo to have exactly NMOUNTS lines.
 *
 * Output depends only on the arguments.  DIR must not hold a machine yet.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VD_MAJOR	253
#define DM_MAJOR	252
#define LOOP_MAJOR	7
#define VD_MINORS	16	/* virtio_blk: 1 << PART_BITS minors per disk */
#define MAX_DISKS	65536	/* 16 * MAX_DISKS must fit in 20 minor bits */
#define MAX_MOUNTS	1000000
#define UNBOUND_LOOPS	8

#define ROOT_ID		22	/* mount ID of / */

static const char *prog = "gen-machine";

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* splitmix64: cheap, good enough and stable across platforms */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static const char LOWER_ALNUM[] = "abcdefghijklmnopqrstuvwxyz0123456789";
static const char ALNUM[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char UPPER_ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char HEX[] = "0123456789abcdef";

/* n characters of alphabet, a pure function of (salt, id) */
static char *rand_str(char *out, size_t n, const char *alphabet,
		      uint64_t salt, uint64_t id)
{
	size_t len = strlen(alphabet), i;
	uint64_t s = mix(salt * 0x100000001b3ULL ^ id);

	for (i = 0; i < n; i++) {
		s = mix(s + i);
		out[i] = alphabet[s % len];
	}
	out[n] = '\0';
	return out;
}

/* Kernel disk naming (virtblk_name_format): a..z, aa..az, ..., zz, aaa.. */
static void disk_name(char *buf, size_t size, const char *prefix,
		      unsigned int index)
{
	char tmp[16];
	int n = 0, i;
	long idx = index;
	size_t plen = strlen(prefix);

	do {
		tmp[n++] = 'a' + idx % 26;
		idx = idx / 26 - 1;
	} while (idx >= 0);
	if (plen + n + 1 > size)
		die("disk name too long");
	memcpy(buf, prefix, plen);
	for (i = 0; i < n; i++)
		buf[plen + i] = tmp[n - 1 - i];
	buf[plen + n] = '\0';
}

/* ---- filesystem helpers, all relative to the root directory fd ---- */

static int rootfd;

static void mkdir_p(int dfd, const char *path)
{
	char tmp[512], *slash;

	if (!mkdirat(dfd, path, 0755) || errno == EEXIST)
		return;
	if (errno != ENOENT)
		die("mkdir %s: %s", path, strerror(errno));
	if (strlen(path) >= sizeof(tmp))
		die("path too long: %s", path);
	strcpy(tmp, path);
	slash = strrchr(tmp, '/');
	if (!slash)
		die("mkdir %s: %s", path, strerror(ENOENT));
	*slash = '\0';
	mkdir_p(dfd, tmp);
	if (mkdirat(dfd, path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static int open_dir(int dfd, const char *path)
{
	int fd;

	mkdir_p(dfd, path);
	fd = openat(dfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static void put_buf(int dfd, const char *name, const char *buf, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			0644);
	ssize_t n;

	if (fd < 0)
		die("create %s: %s", name, strerror(errno));
	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write %s: %s", name, strerror(errno));
		}
		buf += n;
		len -= n;
	}
	if (close(fd))
		die("close %s: %s", name, strerror(errno));
}

__attribute__((format(printf, 3, 4)))
static void put(int dfd, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		die("%s: value too long", name);
	put_buf(dfd, name, buf, n);
}

/*
 * Symlink at link (relative to DIR) pointing at target (relative to DIR),
 * written as the shortest relative path, like sysfs does.
 */
static void rel_link(const char *target, const char *link)
{
	char buf[1024];
	const char *t = target, *l = link, *p;
	size_t common = 0, len = 0;

	/* longest common leading directory of target and link */
	while (*t && *t == *l) {
		if (*t == '/')
			common = t - target + 1;
		t++;
		l++;
	}
	for (p = link + common; *p; p++) {
		if (*p == '/') {
			if (len + 3 >= sizeof(buf))
				die("link too long: %s", link);
			memcpy(buf + len, "../", 3);
			len += 3;
		}
	}
	if (len + strlen(target + common) >= sizeof(buf))
		die("link too long: %s", link);
	strcpy(buf + len, target + common);
	if (symlinkat(buf, rootfd, link))
		die("symlink %s: %s", link, strerror(errno));
}

/* ---- mountinfo ---- */

static char *mi;
static size_t mi_len, mi_cap;
static unsigned int mi_lines, next_id = ROOT_ID, next_peer = 1;
static unsigned int next_anon = 40;	/* anonymous 0:N devices */

/* one line "ID PARENT MAJ:MIN " + fmt; returns its mount ID */
__attribute__((format(printf, 4, 5)))
static unsigned int mount_line(unsigned int parent, unsigned int maj,
			       unsigned int min, const char *fmt, ...)
{
	unsigned int id = next_id++;
	va_list ap;
	int n;

	for (;;) {
		size_t room = mi_cap - mi_len;

		n = snprintf(mi + mi_len, room, "%u %u %u:%u ",
			     id, parent, maj, min);
		if (n >= 0 && (size_t)n < room) {
			va_start(ap, fmt);
			n += vsnprintf(mi + mi_len + n, room - n, fmt, ap);
			va_end(ap);
			if ((size_t)n + 1 < room)
				break;
		}
		mi_cap = mi_cap ? mi_cap * 2 : 1 << 20;
		mi = realloc(mi, mi_cap);
		if (!mi)
			die("out of memory");
	}
	mi_len += n;
	mi[mi_len++] = '\n';
	mi_lines++;
	return id;
}

/* ---- block devices ---- */

struct datafs {
	char mnt[64];
	char src[64];
	const char *fstype;
	const char *superopts;
	unsigned int maj, min, id, peer;	/* mount ID, peer group */
};

static struct datafs *datafs;
static unsigned int ndatafs;

static const char XFS_OPTS[] =
	"rw,attr2,inode64,logbufs=8,logbsize=32k,noquota";

/*
 * A block device directory under sys/devices with the attributes every
 * gendisk/partition has, plus its sys/class/block and sys/dev/block links.
 * Returns an fd for the directory.
 */
static int blockdev(const char *devpath, const char *name, unsigned int maj,
		    unsigned int min, uint64_t sectors, int partn,
		    unsigned int diskseq)
{
	char link[128];
	int dfd = open_dir(rootfd, devpath);

	put(dfd, "dev", "%u:%u\n", maj, min);
	put(dfd, "size", "%llu\n", (unsigned long long)sectors);
	put(dfd, "ro", "0\n");
	if (partn) {
		put(dfd, "partition", "%d\n", partn);
		put(dfd, "start", "%llu\n", partn == 1 ? 2048ULL :
		    (unsigned long long)sectors + 2048);
		put(dfd, "uevent", "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\n"
		    "DEVTYPE=partition\nDISKSEQ=%u\nPARTN=%d\n",
		    maj, min, name, diskseq, partn);
	} else {
		put(dfd, "removable", "0\n");
		put(dfd, "hidden", "0\n");
		put(dfd, "uevent", "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\n"
		    "DEVTYPE=disk\nDISKSEQ=%u\n", maj, min, name, diskseq);
		mkdirat(dfd, "slaves", 0755);
		mkdirat(dfd, "queue", 0755);
		put(dfd, "queue/logical_block_size", "512\n");
		put(dfd, "queue/rotational", "1\n");
	}
	mkdirat(dfd, "holders", 0755);

	snprintf(link, sizeof(link), "sys/class/block/%s", name);
	rel_link(devpath, link);
	snprintf(link, sizeof(link), "sys/dev/block/%u:%u", maj, min);
	rel_link(devpath, link);
	if (!partn) {
		snprintf(link, sizeof(link), "sys/block/%s", name);
		rel_link(devpath, link);
	}
	return dfd;
}

static void add_datafs(const char *mnt, const char *src, const char *fstype,
		       unsigned int maj, unsigned int min, const char *opts)
{
	struct datafs *d = &datafs[ndatafs++];

	snprintf(d->mnt, sizeof(d->mnt), "%s", mnt);
	snprintf(d->src, sizeof(d->src), "%s", src);
	d->fstype = fstype;
	d->superopts = strcmp(fstype, "xfs") ? "rw" : XFS_OPTS;
	d->maj = maj;
	d->min = min;
	d->peer = next_peer++;
	d->id = mount_line(ROOT_ID, maj, min, "/ %s %s shared:%u - %s %s %s",
			   mnt, opts, d->peer, fstype, src, d->superopts);
}

/* ---- the machine ---- */

/* disk roles: disk i is ... */
static int is_lvm(unsigned int i)	{ return i % 16 >= 14; }	/* a PV */
static int vg_start(unsigned int i)	{ return i % 16 == 14; }
static int has_loop(unsigned int i)	{ return i % 16 == 3; }
static unsigned int nparts(unsigned int i)
{
	if (i == 0)
		return 1;		/* vda1: / */
	return is_lvm(i) ? 0 : 1 + (i % 3 == 0);
}

static char (*devpaths)[160];	/* sys/devices/... of each disk */
static unsigned int *disk_fs;	/* datafs index of a disk's first part */
static unsigned int run_id;	/* mount ID of /run */

static void gen_dmi(void)
{
	int dfd = open_dir(rootfd, "sys/devices/virtual/dmi/id");

	put(dfd, "sys_vendor", "Alibaba Cloud\n");
	put(dfd, "product_name", "Alibaba Cloud ECS\n");
	put(dfd, "product_version", "pc-i440fx-2.1\n");
	put(dfd, "bios_vendor", "SeaBIOS\n");
	put(dfd, "chassis_vendor", "Alibaba Cloud\n");
	close(dfd);
	mkdir_p(rootfd, "sys/class/dmi");
	rel_link("sys/devices/virtual/dmi/id", "sys/class/dmi/id");
}

static void gen_sys_mounts(void)
{
	unsigned int sys, proc, dev;
	unsigned int a = 21;	/* anonymous devices of the early mounts */

#define M(parent, mnt, opts, rest) \
	mount_line(parent, 0, a++, "/ " mnt " " opts " shared:%u - " rest, \
		   next_peer++)

	mount_line(1, VD_MAJOR, 1, "/ / rw,relatime shared:%u - "
		   "ext4 /dev/vda1 rw,errors=remount-ro",
		   next_peer++);
	sys = M(ROOT_ID, "/sys", "rw,nosuid,nodev,noexec,relatime",
		"sysfs sysfs rw");
	proc = M(ROOT_ID, "/proc", "rw,nosuid,nodev,noexec,relatime",
		 "proc proc rw");
	dev = M(ROOT_ID, "/dev", "rw,nosuid,relatime",
		"devtmpfs udev rw,size=8105484k,nr_inodes=2026371,mode=755");
	M(sys, "/sys/kernel/security", "rw,nosuid,nodev,noexec,relatime",
	  "securityfs securityfs rw");
	M(dev, "/dev/shm", "rw,nosuid,nodev", "tmpfs tmpfs rw");
	M(dev, "/dev/pts", "rw,nosuid,noexec,relatime",
	  "devpts devpts rw,gid=5,mode=620,ptmxmode=000");
	run_id = M(ROOT_ID, "/run", "rw,nosuid,nodev,noexec,relatime",
		   "tmpfs tmpfs rw,size=1627240k,mode=755");
	M(run_id, "/run/lock", "rw,nosuid,nodev,noexec,relatime",
	  "tmpfs tmpfs rw,size=5120k");
	M(sys, "/sys/fs/cgroup", "rw,nosuid,nodev,noexec,relatime",
	  "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot");
	M(sys, "/sys/fs/pstore", "rw,nosuid,nodev,noexec,relatime",
	  "pstore pstore rw");
	M(sys, "/sys/fs/bpf", "rw,nosuid,nodev,noexec,relatime",
	  "bpf bpf rw,mode=700");
	M(proc, "/proc/sys/fs/binfmt_misc", "rw,relatime",
	  "autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,"
	  "maxproto=5,direct,pipe_ino=13709");
	M(dev, "/dev/mqueue", "rw,nosuid,nodev,noexec,relatime",
	  "mqueue mqueue rw");
	M(dev, "/dev/hugepages", "rw,relatime",
	  "hugetlbfs hugetlbfs rw,pagesize=2M");
	M(sys, "/sys/kernel/debug", "rw,nosuid,nodev,noexec,relatime",
	  "debugfs debugfs rw");
	M(sys, "/sys/kernel/tracing", "rw,nosuid,nodev,noexec,relatime",
	  "tracefs tracefs rw");
	M(sys, "/sys/fs/fuse/connections", "rw,nosuid,nodev,noexec,relatime",
	  "fusectl fusectl rw");
	M(sys, "/sys/kernel/config", "rw,nosuid,nodev,noexec,relatime",
	  "configfs configfs rw");
	M(run_id, "/run/user/0", "rw,nosuid,nodev,relatime",
	  "tmpfs tmpfs rw,size=1627236k,nr_inodes=406809,mode=700");
#undef M
}
#define SYS_MOUNTS	20	/* lines gen_sys_mounts() writes */

static void gen_disks(unsigned int ndisks)
{
	char name[16], pname[24], vpath[96], path[192], mnt[64], src[64];
	char serial[24];
	unsigned int i, p;

	for (i = 0; i < ndisks; i++) {
		unsigned int min = i * VD_MINORS, np = nparts(i);
		uint64_t sectors = (i ? 100ULL + (i % 20) * 100 : 40ULL) << 21;
		char *dp = devpaths[i];
		int dfd;

		disk_name(name, sizeof(name), "vd", i);
		snprintf(vpath, sizeof(vpath),
			 "sys/devices/pci0000:%02x/0000:%02x:%02x.0/virtio%u",
			 i / 32, i / 32, i % 32, i);
		mkdir_p(rootfd, vpath);
		snprintf(dp, sizeof(devpaths[i]), "%s/block/%s", vpath, name);

		dfd = blockdev(dp, name, VD_MAJOR, min, sectors, 0, i + 1);
		put(dfd, "serial", "bp1%s\n",
		    rand_str(serial, 17, LOWER_ALNUM, 1, i));
		close(dfd);
		snprintf(path, sizeof(path), "%s/device", dp);
		rel_link(vpath, path);

		disk_fs[i] = ndatafs;
		for (p = 1; p <= np; p++) {
			const char *fs = i == 0 || (i + p) % 2 ? "ext4" : "xfs";
			uint64_t psz = (sectors - 4096) / np;

			snprintf(pname, sizeof(pname), "%s%u", name, p);
			snprintf(path, sizeof(path), "%s/%s", dp, pname);
			close(blockdev(path, pname, VD_MAJOR, min + p, psz, p,
				       i + 1));
			if (i == 0)
				continue;	/* / is mounted already */
			snprintf(mnt, sizeof(mnt), "/mnt/%s", pname);
			snprintf(src, sizeof(src), "/dev/%s", pname);
			add_datafs(mnt, src, fs, VD_MAJOR, min + p,
				   "rw,relatime");
		}
	}
}

/* one linear LV over the PVs i (and i + 1), xfs on /data/vgN */
static unsigned int gen_lvm(unsigned int ndisks)
{
	char path[128], link[192], name[16], mnt[64], src[64], vg[40], lv[40];
	unsigned int i, j, n = 0;

	for (i = 0; i < ndisks; i++) {
		uint64_t sectors = 0;
		int dfd;

		if (!vg_start(i))
			continue;
		snprintf(path, sizeof(path), "sys/devices/virtual/block/dm-%u",
			 n);
		snprintf(name, sizeof(name), "dm-%u", n);
		for (j = i; j < ndisks && j <= i + 1; j++)
			sectors += (100ULL + (j % 20) * 100) << 21;
		dfd = blockdev(path, name, DM_MAJOR, n, sectors - (16 << 11),
			       0, ndisks + n + 1);
		mkdirat(dfd, "dm", 0755);
		put(dfd, "dm/name", "vg%u-data\n", n);
		put(dfd, "dm/uuid", "LVM-%s%s\n",
		    rand_str(vg, 32, ALNUM, 2, n), rand_str(lv, 32, ALNUM, 3, n));
		put(dfd, "dm/suspended", "0\n");
		put(dfd, "dm/use_blk_mq", "1\n");
		close(dfd);
		for (j = i; j < ndisks && j <= i + 1; j++) {
			disk_name(name, sizeof(name), "vd", j);
			snprintf(link, sizeof(link), "%s/slaves/%s", path, name);
			rel_link(devpaths[j], link);
			snprintf(link, sizeof(link), "%s/holders/dm-%u",
				 devpaths[j], n);
			rel_link(path, link);
		}
		snprintf(mnt, sizeof(mnt), "/data/vg%u", n);
		snprintf(src, sizeof(src), "/dev/mapper/vg%u-data", n);
		add_datafs(mnt, src, "xfs", DM_MAJOR, n, "rw,noatime");
		n++;
	}
	return n;
}

/* loop devices backed by images on data filesystems, ext4 on /srv/loopN */
static unsigned int gen_loops(unsigned int ndisks)
{
	char path[128], name[16], mnt[64];
	unsigned int i, n = 0, total;
	int dfd;

	for (i = 0; i < ndisks; i++) {
		const struct datafs *d;

		if (!has_loop(i) || !nparts(i))
			continue;
		d = &datafs[disk_fs[i]];
		snprintf(path, sizeof(path),
			 "sys/devices/virtual/block/loop%u", n);
		snprintf(name, sizeof(name), "loop%u", n);
		dfd = blockdev(path, name, LOOP_MAJOR, n, 20ULL << 21, 0,
			       2 * ndisks + n + 1);
		mkdirat(dfd, "loop", 0755);
		put(dfd, "loop/backing_file", "%s/images/loop%u.img\n",
		    d->mnt, n);
		put(dfd, "loop/offset", "0\n");
		put(dfd, "loop/sizelimit", "0\n");
		put(dfd, "loop/autoclear", "0\n");
		put(dfd, "loop/partscan", "0\n");
		put(dfd, "loop/dio", "0\n");
		close(dfd);
		snprintf(mnt, sizeof(mnt), "/srv/loop%u", n);
		mount_line(ROOT_ID, LOOP_MAJOR, n,
			   "/ %s rw,relatime shared:%u - ext4 /dev/loop%u rw",
			   mnt, next_peer++, n);
		n++;
	}
	/* the spare, unbound loop devices every machine has */
	total = n < UNBOUND_LOOPS ? UNBOUND_LOOPS : n + 1;
	for (i = n; i < total; i++) {
		snprintf(path, sizeof(path),
			 "sys/devices/virtual/block/loop%u", i);
		snprintf(name, sizeof(name), "loop%u", i);
		close(blockdev(path, name, LOOP_MAJOR, i, 0, 0,
			       2 * ndisks + i + 1));
	}
	return n;
}

/* docker/kubelet-like mounts until mountinfo has nmounts lines */
static void gen_containers(unsigned int nmounts)
{
	static const struct datafs rootfs = {
		.mnt = "", .src = "/dev/vda1", .fstype = "ext4",
		.superopts = "rw,errors=remount-ro", .maj = VD_MAJOR, .min = 1,
		.id = ROOT_ID, .peer = 1,
	};
	char c[72], l[3][32], pod[40], key[8];
	unsigned int u;

	for (u = 0; mi_lines < nmounts; u++) {
		const struct datafs *d = ndatafs ? &datafs[u / 5 % ndatafs] :
						   &rootfs;
		const char *m = d->mnt;
		unsigned int k = u / 5;

		rand_str(c, 64, HEX, 4, k);
		rand_str(pod, 36, HEX, 5, k);
		pod[8] = pod[13] = pod[18] = pod[23] = '-';
		switch (u % 5) {
		case 0:
			rand_str(l[0], 26, UPPER_ALNUM, 6, 3 * k);
			rand_str(l[1], 26, UPPER_ALNUM, 6, 3 * k + 1);
			rand_str(l[2], 26, UPPER_ALNUM, 6, 3 * k + 2);
			mount_line(d->id, 0, next_anon++,
				   "/ %s/docker/overlay2/%s/merged rw,relatime "
				   "shared:%u - overlay overlay rw,"
				   "lowerdir=%s/docker/overlay2/l/%s:"
				   "%s/docker/overlay2/l/%s:"
				   "%s/docker/overlay2/l/%s,"
				   "upperdir=%s/docker/overlay2/%s/diff,"
				   "workdir=%s/docker/overlay2/%s/work",
				   m, c, next_peer++, m, l[0], m, l[1], m, l[2],
				   m, c, m, c);
			break;
		case 1:
			mount_line(d->id, 0, next_anon++,
				   "/ %s/docker/containers/%s/mounts/shm "
				   "rw,nosuid,nodev,noexec,relatime shared:%u "
				   "- tmpfs shm rw,size=65536k",
				   m, c, next_peer++);
			break;
		case 2:
			mount_line(run_id, 0, 4,
				   "net:[%u] /run/docker/netns/%.12s rw "
				   "shared:%u - nsfs nsfs rw",
				   4026532200u + k, c, next_peer++);
			break;
		case 3:	/* a bind mount shares its source's peer group */
			mount_line(ROOT_ID, d->maj, d->min,
				   "%s/kubelet/pods/%s/volumes/"
				   "kubernetes.io~empty-dir/cache "
				   "/var/lib/kubelet/pods/%s/volumes/"
				   "kubernetes.io~empty-dir/cache rw,relatime "
				   "shared:%u - %s %s %s",
				   *m ? "" : "/var/lib", pod, pod, d->peer,
				   d->fstype, d->src, d->superopts);
			break;
		case 4:
			mount_line(ROOT_ID, 0, next_anon++,
				   "/ /var/lib/kubelet/pods/%s/volumes/"
				   "kubernetes.io~projected/kube-api-access-%s "
				   "rw,relatime shared:%u - tmpfs tmpfs "
				   "rw,size=3932160k",
				   pod, rand_str(key, 5, LOWER_ALNUM, 7, k),
				   next_peer++);
			break;
		}
	}
}

static unsigned long parse_num(const char *s, const char *what,
			       unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		die("bad %s '%s' (want %lu..%lu)", what, s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	unsigned int ndisks, nmounts, need, i, nvg = 0, nloop = 0;
	struct stat st;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR NDISKS NMOUNTS\n", prog);
		return 2;
	}
	ndisks = parse_num(argv[2], "NDISKS", 1, MAX_DISKS);
	nmounts = parse_num(argv[3], "NMOUNTS", 1, MAX_MOUNTS);

	/* lines before the container mounts */
	need = SYS_MOUNTS;
	for (i = 1; i < ndisks; i++) {
		need += nparts(i);
		nvg += vg_start(i);
		nloop += has_loop(i) && nparts(i);
	}
	need += nvg + nloop;
	if (nmounts < need)
		die("%u disks need NMOUNTS >= %u", ndisks, need);

	if (mkdir(argv[1], 0755) && errno != EEXIST)
		die("mkdir %s: %s", argv[1], strerror(errno));
	rootfd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	if (!fstatat(rootfd, "sys", &st, AT_SYMLINK_NOFOLLOW) ||
	    !fstatat(rootfd, "proc", &st, AT_SYMLINK_NOFOLLOW))
		die("%s already holds a machine", argv[1]);

	devpaths = calloc(ndisks, sizeof(*devpaths));
	disk_fs = calloc(ndisks, sizeof(*disk_fs));
	datafs = calloc(need, sizeof(*datafs));
	if (!devpaths || !disk_fs || !datafs)
		die("out of memory");

	mkdir_p(rootfd, "sys/block");
	mkdir_p(rootfd, "sys/class/block");
	mkdir_p(rootfd, "sys/dev/block");
	mkdir_p(rootfd, "sys/devices/virtual/block");
	mkdir_p(rootfd, "sys/fs");
	mkdir_p(rootfd, "proc/self");
	gen_dmi();
	gen_sys_mounts();
	gen_disks(ndisks);
	gen_lvm(ndisks);
	gen_loops(ndisks);
	gen_containers(nmounts);
	put_buf(rootfd, "proc/self/mountinfo", mi, mi_len);
	if (mi_lines != nmounts)
		die("internal error: %u mount lines, wanted %u", mi_lines,
		    nmounts);
	return 0;
}
