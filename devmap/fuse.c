/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE daemons and their stores.  A FUSE filesystem stalls when the
 * filesystem its daemon writes to is frozen, so it must be flushed before
 * that one is frozen.  The daemon is a process holding /dev/fuse: matched to
 * its mount exactly by the "fuse_connection" line of fdinfo where the kernel
 * prints one, otherwise by the mountpoint on its command line.  Its store is
 * wherever its command line, working directory and open files point.  Only
 * strings are compared: nothing below a FUSE mount is ever looked up.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>

#include "devmap-internal.h"

struct fuse_daemon {
	pid_t pid;
	long connection;        /* from fdinfo, -1 when the kernel does not say */
	char *cmdline;          /* NUL-separated */
	size_t cmdline_len;
	char *cwd;
	struct ptrvec files;    /* char *: absolute paths of open files */
};

static void daemon_free(struct fuse_daemon *d)
{
	free(d->cmdline);
	free(d->cwd);
	ptrvec_free_items(&d->files);
	free(d);
}

static long fdinfo_connection(int piddir, const char *fd)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	const char *line;

	if (xasprintf(&path, "fdinfo/%s", fd) < 0 || sysroot_read_file_at(piddir, path, &text, NULL) < 0)
		return -1;
	line = strstr(text, "fuse_connection:");
	if (!line)
		return -1;
	return strtol(line + strlen("fuse_connection:"), NULL, 10);
}

static bool is_pseudo_path(const char *p)
{
	return path_startswith(p, "/dev") || path_startswith(p, "/proc") || path_startswith(p, "/sys") ||
	       path_startswith(p, "/run");
}

/* A process holding /dev/fuse, with what we need to match and place it. */
static int scan_process(int procfd, const char *pid, struct fuse_daemon **ret)
{
	_cleanup_close_ int piddir = sysroot_openat(procfd, pid, O_RDONLY | O_DIRECTORY);
	_cleanup_closedir_ DIR *fds = NULL;
	struct ptrvec files = {};
	long connection = -1;
	bool holds_fuse = false;
	struct fuse_daemon *d;
	struct dirent *de;

	*ret = NULL;
	if (piddir < 0)
		return 0;
	fds = sysroot_opendir_at(piddir, "fd");
	if (!fds)
		return 0;
	while ((de = readdir(fds))) {
		_cleanup_free_ char *rel = NULL;
		char *target = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (xasprintf(&rel, "fd/%s", de->d_name) < 0)
			goto nomem;
		if (sysroot_readlink_at(piddir, rel, &target) < 0)
			continue;
		if (streq(target, "/dev/fuse")) {
			long c = fdinfo_connection(piddir, de->d_name);
			holds_fuse = true;
			if (c >= 0)
				connection = c;
			free(target);
			continue;
		}
		/* Kept until we know whether this process is a daemon at all. */
		if (target[0] != '/' || is_pseudo_path(target) || ptrvec_push(&files, target) < 0)
			free(target);
	}
	if (!holds_fuse) {
		ptrvec_free_items(&files);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto nomem;
	d->pid = (pid_t)atoi(pid);
	d->connection = connection;
	d->files = files;
	(void)sysroot_read_file_at(piddir, "cmdline", &d->cmdline, &d->cmdline_len);
	(void)sysroot_readlink_at(piddir, "cwd", &d->cwd);
	*ret = d;
	return 0;
nomem:
	ptrvec_free_items(&files);
	return -ENOMEM;
}

static bool cmdline_names(const struct fuse_daemon *d, const char *mountpoint)
{
	if (!d->cmdline)
		return false;
	for (size_t off = 0; off < d->cmdline_len; off += strlen(d->cmdline + off) + 1) {
		_cleanup_free_ char *p = NULL;
		const char *arg = d->cmdline + off;
		if (arg[0] != '/')
			continue;
		p = path_normalize(arg);
		if (p && streq(p, mountpoint))
			return true;
	}
	return false;
}

static bool daemon_serves(const struct fuse_daemon *d, const struct frz_fs *fs)
{
	if (d->connection >= 0)
		return major(fs->devno) == 0 && (long)minor(fs->devno) == d->connection;
	for (size_t i = 0; i < fs->mounts.n; i++)
		if (cmdline_names(d, ((struct frz_mount *)fs->mounts.items[i])->mountpoint))
			return true;
	return false;
}

static bool path_in_fs(const char *path, const struct frz_fs *fs)
{
	for (size_t i = 0; i < fs->mounts.n; i++)
		if (path_startswith(path, ((struct frz_mount *)fs->mounts.items[i])->mountpoint))
			return true;
	return false;
}

/* One candidate store path: depend on the filesystem holding it. */
static int consider_store(struct topology *topo, struct frz_fs *fs, const char *path)
{
	struct frz_fs *store;

	if (path[0] != '/' || streq(path, "/") || is_pseudo_path(path) || path_in_fs(path, fs))
		return 0;
	store = topology_fs_of_path(topo, path);
	if (!store || store == fs || store->class == FS_PSEUDO)
		return 0;
	return fs_add_dep(fs, store, DEP_FUSE);
}

/* Absolute paths in an argument, including option values: "-o upperdir=/a,workdir=/b". */
static int consider_argument(struct topology *topo, struct frz_fs *fs, const char *arg)
{
	_cleanup_free_ char *copy = strdup(arg);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",=:", &save); tok; tok = strtok_r(NULL, ",=:", &save)) {
		int r = consider_store(topo, fs, tok);
		if (r < 0)
			return r;
	}
	return 0;
}

static int place_store(struct topology *topo, struct frz_fs *fs, const struct fuse_daemon *d)
{
	int r;

	fs->fuse_daemon = d->pid;
	if (d->cmdline) {
		/* Skip argv[0]: the daemon's binary is not its store. */
		size_t off = strlen(d->cmdline) + 1;
		for (; off < d->cmdline_len; off += strlen(d->cmdline + off) + 1)
			if ((r = consider_argument(topo, fs, d->cmdline + off)) < 0)
				return r;
	}
	/* Daemons chdir("/") when they detach; only another cwd means something. */
	if (d->cwd && (r = consider_store(topo, fs, d->cwd)) < 0)
		return r;
	for (size_t i = 0; i < d->files.n; i++)
		if ((r = consider_store(topo, fs, d->files.items[i])) < 0)
			return r;
	return 0;
}

int fuse_find_daemons(struct topology *topo)
{
	_cleanup_close_ int procfd = -1;
	_cleanup_closedir_ DIR *proc = NULL;
	struct ptrvec daemons = {};
	struct dirent *de;
	int r = 0;

	if (!topo->have_fuse)
		return 0;
	procfd = sysroot_open(topo->ctx, "proc", O_RDONLY | O_DIRECTORY);
	if (procfd < 0)
		return 0;
	proc = sysroot_opendir_at(procfd, ".");
	if (!proc)
		return 0;
	while ((de = readdir(proc))) {
		struct fuse_daemon *d;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		r = scan_process(procfd, de->d_name, &d);
		if (r < 0)
			goto out;
		if (d && (r = ptrvec_push(&daemons, d)) < 0) {
			daemon_free(d);
			goto out;
		}
	}

	for (size_t i = 0; i < topo->fss.n; i++) {
		struct frz_fs *fs = topo->fss.items[i];
		struct fuse_daemon *found = NULL;

		if (fs->class != FS_FUSE)
			continue;
		for (size_t j = 0; j < daemons.n && !found; j++)
			if (daemon_serves(daemons.items[j], fs))
				found = daemons.items[j];
		if (!found) {
			dbg(topo->ctx, "no daemon found for FUSE mount %s", fs_first_mountpoint(fs));
			continue;
		}
		if ((r = place_store(topo, fs, found)) < 0)
			goto out;
	}
out:
	for (size_t i = 0; i < daemons.n; i++)
		daemon_free(daemons.items[i]);
	ptrvec_clear(&daemons);
	return r;
}
