/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way devmap reads /sys, /proc and /dev: relative to the context's
 * root directory descriptor, so a fixture directory can stand in for "/".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>

#include "devmap-internal.h"

static const char *relative(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

int sysroot_openat(int dirfd, const char *path, int flags)
{
	int fd = openat(dirfd, relative(path), flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int sysroot_open(const struct frz_ctx *ctx, const char *path, int flags)
{
	return sysroot_openat(ctx->sysroot_fd, path, flags);
}

int sysroot_read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = sysroot_openat(dirfd, path, O_RDONLY | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		if (cap - len < 512) {
			cap = cap ? cap * 2 : 1024;
			if (cap > (1u << 20))
				return -EFBIG;
			char *n = realloc(buf, cap);
			if (!n)
				return -ENOMEM;
			buf = n;
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int sysroot_read_line_at(int dirfd, const char *path, char **ret)
{
	_cleanup_close_ int fd = sysroot_openat(dirfd, path, O_RDONLY | O_NOCTTY);
	char buf[4096];
	ssize_t k;
	char *nl, *s;

	if (fd < 0)
		return fd;
	do
		k = read(fd, buf, sizeof(buf) - 1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	buf[k] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	s = strdup(strstrip_trailing(buf));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int sysroot_read_line(const struct frz_ctx *ctx, const char *path, char **ret)
{
	return sysroot_read_line_at(ctx->sysroot_fd, path, ret);
}

int sysroot_readlink_at(int dirfd, const char *path, char **ret)
{
	char buf[PATH_MAX];
	ssize_t k = readlinkat(dirfd, relative(path), buf, sizeof(buf) - 1);
	char *s;

	if (k < 0)
		return -errno;
	buf[k] = '\0';
	s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

DIR *sysroot_opendir_at(int dirfd, const char *path)
{
	int fd = sysroot_openat(dirfd, path, O_RDONLY | O_DIRECTORY);
	DIR *d;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

int sysroot_path(const struct frz_ctx *ctx, const char *path, char **ret)
{
	if (streq(ctx->sysroot, "/"))
		return xasprintf(ret, "/%s", relative(path)) < 0 ? -ENOMEM : 0;
	return xasprintf(ret, "%s/%s", ctx->sysroot, relative(path)) < 0 ? -ENOMEM : 0;
}
