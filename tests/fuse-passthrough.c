// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuse-passthrough - minimal FUSE filesystem serving a STORE directory, used
 * by the real-kernel tests so that freezeshim has a FUSE daemon (holder of
 * /dev/fuse, cwd = STORE) and a store filesystem to discover.
 *
 * Usage: fuse-passthrough [fuse options] STORE MOUNTPOINT
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

/* Directory fd on STORE; every operation is relative to it. */
static int store_fd = -1;
static const char *store_path;

/*
 * FUSE hands us absolute paths ("/", "/a/b"); turn them into paths relative
 * to store_fd.  The root becomes ".".
 */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static void *pt_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;

	cfg->use_ino = 1;
	/*
	 * fuse_main() daemonizes (and chdirs to "/") before the kernel sends
	 * INIT, so this is the place to make the daemon's cwd the store.
	 */
	if (fchdir(store_fd) < 0)
		perror("fuse-passthrough: fchdir");
	return NULL;
}

static int pt_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	int res;

	if (fi)
		res = fstat(fi->fh, st);
	else
		res = fstatat(store_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
	return res < 0 ? -errno : 0;
}

static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	(void)offset;
	(void)fi;
	(void)flags;

	fd = openat(store_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		int err = -errno;

		close(fd);
		return err;
	}

	/* Offset 0 everywhere: the whole directory is listed in one call. */
	while ((de = readdir(dir)) != NULL) {
		struct stat st = { .st_ino = de->d_ino,
				   .st_mode = (mode_t)de->d_type << 12 };

		if (filler(buf, de->d_name, &st, 0, 0))
			break;
	}
	closedir(dir);
	return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(store_fd, rel(path), fi->flags | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	fi->fh = fd;
	return 0;
}

static int pt_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = openat(store_fd, rel(path), fi->flags | O_CREAT | O_CLOEXEC,
			mode);

	if (fd < 0)
		return -errno;
	fi->fh = fd;
	return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t offset,
		   struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	n = pread(fi->fh, buf, size, offset);
	return n < 0 ? -errno : (int)n;
}

static int pt_write(const char *path, const char *buf, size_t size,
		    off_t offset, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	n = pwrite(fi->fh, buf, size, offset);
	return n < 0 ? -errno : (int)n;
}

static int pt_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close(fi->fh);
	return 0;
}

static int pt_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int res;

	(void)path;
	res = datasync ? fdatasync(fi->fh) : fsync(fi->fh);
	return res < 0 ? -errno : 0;
}

static int pt_mkdir(const char *path, mode_t mode)
{
	return mkdirat(store_fd, rel(path), mode) < 0 ? -errno : 0;
}

static int pt_unlink(const char *path)
{
	return unlinkat(store_fd, rel(path), 0) < 0 ? -errno : 0;
}

static int pt_rmdir(const char *path)
{
	return unlinkat(store_fd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int pt_rename(const char *from, const char *to, unsigned int flags)
{
	/* RENAME_NOREPLACE / RENAME_EXCHANGE map straight onto renameat2(). */
	if (renameat2(store_fd, rel(from), store_fd, rel(to), flags) < 0)
		return -errno;
	return 0;
}

static int pt_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, res;

	if (fi)
		return ftruncate(fi->fh, size) < 0 ? -errno : 0;

	/* There is no ftruncateat(): open the file for writing instead. */
	fd = openat(store_fd, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	res = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return res;
}

static int pt_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	int res;

	if (fi)
		res = futimens(fi->fh, tv);
	else
		res = utimensat(store_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
	return res < 0 ? -errno : 0;
}

static int pt_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return fstatvfs(store_fd, st) < 0 ? -errno : 0;
}

static const struct fuse_operations pt_ops = {
	.init		= pt_init,
	.getattr	= pt_getattr,
	.readdir	= pt_readdir,
	.open		= pt_open,
	.create		= pt_create,
	.read		= pt_read,
	.write		= pt_write,
	.release	= pt_release,
	.fsync		= pt_fsync,
	.mkdir		= pt_mkdir,
	.unlink		= pt_unlink,
	.rmdir		= pt_rmdir,
	.rename		= pt_rename,
	.truncate	= pt_truncate,
	.utimens	= pt_utimens,
	.statfs		= pt_statfs,
};

/*
 * fuse_opt_parse() callback: take the first non-option argument as STORE and
 * drop it from the argument list; everything else goes on to fuse_main().
 */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;

	if (key == FUSE_OPT_KEY_NONOPT && !store_path) {
		store_path = arg;
		return 0;
	}
	return 1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int ret;

	if (fuse_opt_parse(&args, NULL, NULL, opt_proc) < 0)
		return 1;
	if (!store_path) {
		fprintf(stderr,
			"usage: %s [fuse options] STORE MOUNTPOINT\n", argv[0]);
		fuse_opt_free_args(&args);
		return 1;
	}

	/* Opened before daemonizing, so a relative STORE works too. */
	store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (store_fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], store_path,
			strerror(errno));
		fuse_opt_free_args(&args);
		return 1;
	}

	/* No chdir here: a relative MOUNTPOINT is resolved from our cwd. */
	ret = fuse_main(args.argc, args.argv, &pt_ops, NULL);

	fuse_opt_free_args(&args);
	close(store_fd);
	return ret;
}
