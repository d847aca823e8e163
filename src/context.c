/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The library context: configuration, root prefix, disk map, log hook, last error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "libfreezeshim-internal.h"

struct log_buffer {
	pthread_mutex_t mutex;
	char *data;          /* records: one priority byte, then the text and its NUL */
	size_t size, len;
	size_t dropped;
};

void frz_log(const struct frz_ctx *ctx, int priority, const char *file, int line,
	     const char *fn, const char *format, ...)
{
	struct log_buffer *b = ctx->log_buffer;
	va_list ap;

	if (!ctx->log_fn)
		return;
	va_start(ap, format);
	if (b) {
		pthread_mutex_lock(&b->mutex);
		if (b->size - b->len > 2) {
			char *rec = b->data + b->len;
			int n = vsnprintf(rec + 1, b->size - b->len - 1, format, ap);
			if (n >= 0 && (size_t)n + 2 <= b->size - b->len) {
				rec[0] = (char)priority;
				b->len += (size_t)n + 2;
			} else {
				b->dropped++;
			}
		} else {
			b->dropped++;
		}
		pthread_mutex_unlock(&b->mutex);
	} else {
		ctx->log_fn(ctx->log_userdata, priority, file, line, fn, format, ap);
	}
	va_end(ap);
}

int ctx_log_buffer_begin(struct frz_ctx *ctx, size_t size)
{
	struct log_buffer *b;

	if (ctx->log_buffer)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->data = malloc(size);
	if (!b->data) {
		free(b);
		return -ENOMEM;
	}
	/* Touch every page now: no page fault on a frozen swap file later. */
	memset(b->data, 0, size);
	b->size = size;
	pthread_mutex_init(&b->mutex, NULL);
	ctx->log_buffer = b;
	return 0;
}

static void log_replay(struct frz_ctx *ctx, int priority, const char *format, ...) _printf_(3, 4);
static void log_replay(struct frz_ctx *ctx, int priority, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	ctx->log_fn(ctx->log_userdata, priority, __FILE__, __LINE__, __func__, format, ap);
	va_end(ap);
}

void ctx_log_buffer_end(struct frz_ctx *ctx)
{
	struct log_buffer *b = ctx->log_buffer;

	if (!b)
		return;
	ctx->log_buffer = NULL;
	for (size_t off = 0; ctx->log_fn && off < b->len;) {
		const char *text = b->data + off + 1;
		log_replay(ctx, (unsigned char)b->data[off], "%s", text);
		off += strlen(text) + 2;
	}
	if (b->dropped && ctx->log_fn)
		log_replay(ctx, LOG_WARNING, "%zu log messages of the I/O-pause window were dropped",
			   b->dropped);
	pthread_mutex_destroy(&b->mutex);
	free(b->data);
	free(b);
}

int frz_fail(struct frz_ctx *ctx, int err, const char *format, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, format);
	if (vasprintf(&msg, format, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(ctx->error);
	ctx->error = msg;
	return err > 0 ? -err : err;
}

FRZ_EXPORT int frz_ctx_new(struct frz_ctx **ret_ctx)
{
	struct frz_ctx *ctx;
	const char *env;

	if (!ret_ctx)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_priority = LOG_ERR;
	ctx->sysroot_fd = -1;
	env = secure_getenv("FREEZESHIM_LOG");
	if (env && streq(env, "debug"))
		ctx->log_priority = LOG_DEBUG;
	ctx->sysroot = strdup("/");
	ctx->sysroot_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!ctx->sysroot || ctx->sysroot_fd < 0) {
		int r = ctx->sysroot ? -errno : -ENOMEM;
		frz_ctx_unref(ctx);
		return r;
	}
	ctx->sysroot_is_host = true;
	*ret_ctx = ctx;
	return 0;
}

FRZ_EXPORT struct frz_ctx *frz_ctx_ref(struct frz_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

FRZ_EXPORT struct frz_ctx *frz_ctx_unref(struct frz_ctx *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return NULL;
	for (size_t i = 0; i < ctx->disk_map.n; i++) {
		struct frz_disk_map_entry *e = ctx->disk_map.items[i];
		free(e->device);
		free(e->disk_id);
		free(e);
	}
	ptrvec_clear(&ctx->disk_map);
	ctx_log_buffer_end(ctx);
	if (ctx->sysroot_fd >= 0)
		close(ctx->sysroot_fd);
	free(ctx->sysroot);
	free(ctx->error);
	free(ctx);
	return NULL;
}

FRZ_EXPORT void frz_ctx_set_log_fn(struct frz_ctx *ctx, frz_log_fn log_fn, void *userdata)
{
	ctx->log_fn = log_fn;
	ctx->log_userdata = userdata;
}

FRZ_EXPORT void frz_ctx_set_log_priority(struct frz_ctx *ctx, int priority)
{
	ctx->log_priority = priority;
}

FRZ_EXPORT int frz_ctx_get_log_priority(const struct frz_ctx *ctx)
{
	return ctx->log_priority;
}

FRZ_EXPORT const char *frz_ctx_get_error(const struct frz_ctx *ctx)
{
	return ctx->error;
}

FRZ_EXPORT int frz_ctx_set_sysroot(struct frz_ctx *ctx, const char *dir)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!dir || dir[0] == '\0')
		return frz_fail(ctx, FRZ_ERR_BAD_SYSROOT,
				"empty --sysroot; give the directory that holds the machine's sys/ and proc/");
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return frz_fail(ctx, FRZ_ERR_BAD_SYSROOT,
				"cannot open sysroot '%s': %s; give a directory holding sys/ and proc/",
				dir, strerror(errno));
	if (fstatat(fd, "proc/self/mountinfo", &st, 0) < 0 || faccessat(fd, "proc/self/mountinfo", R_OK, 0) < 0)
		return frz_fail(ctx, FRZ_ERR_BAD_SYSROOT,
				"sysroot '%s' has no readable proc/self/mountinfo; give a directory holding sys/ and proc/",
				dir);
	if (fstatat(fd, "sys/block", &st, 0) < 0 || !S_ISDIR(st.st_mode))
		return frz_fail(ctx, FRZ_ERR_BAD_SYSROOT,
				"sysroot '%s' has no sys/block directory; give a directory holding sys/ and proc/",
				dir);
	copy = realpath(dir, NULL);
	if (!copy)
		return -errno;
	free(ctx->sysroot);
	ctx->sysroot = TAKE_PTR(copy);
	if (ctx->sysroot_fd >= 0)
		close(ctx->sysroot_fd);
	ctx->sysroot_fd = fd;
	fd = -1;
	ctx->sysroot_is_host = streq(ctx->sysroot, "/");
	return 0;
}

FRZ_EXPORT const char *frz_ctx_get_sysroot(const struct frz_ctx *ctx)
{
	return ctx->sysroot;
}

static bool disk_id_is_valid(const char *id)
{
	if (!*id || strlen(id) > 128)
		return false;
	for (const char *p = id; *p; p++)
		if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
		      ('0' <= *p && *p <= '9') || strchr("-_.:", *p)))
			return false;
	return true;
}

FRZ_EXPORT int frz_ctx_add_disk_map(struct frz_ctx *ctx, const char *device, const char *disk_id)
{
	struct frz_disk_map_entry *e;
	const char *name;

	if (!device || !disk_id || !*device || !*disk_id)
		return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
				"malformed disk map entry: write DEVICE=DISKID, e.g. /dev/vdb=d-bp1xxxxxxxxxxxxxxxxx");
	name = startswith(device, "/dev/") ?: device;
	if (!*name || strchr(name, '/') || name[0] == '.')
		return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
				"malformed disk map device '%s': give /dev/NAME or the kernel name of a block device",
				device);
	if (!disk_id_is_valid(disk_id))
		return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
				"malformed disk ID '%s' in the disk map: use letters, digits and - _ . : only",
				disk_id);
	for (size_t i = 0; i < ctx->disk_map.n; i++) {
		struct frz_disk_map_entry *o = ctx->disk_map.items[i];
		if (streq(startswith(o->device, "/dev/") ?: o->device, name))
			return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
					"device '%s' is mapped twice; give one --disk-map per device", device);
		if (streq(o->disk_id, disk_id))
			return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
					"disk ID '%s' is mapped to two devices; give each device its own ID", disk_id);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->device = strdup(name);
	e->disk_id = strdup(disk_id);
	if (!e->device || !e->disk_id || ptrvec_push(&ctx->disk_map, e) < 0) {
		free(e->device);
		free(e->disk_id);
		free(e);
		return -ENOMEM;
	}
	return 0;
}

int ctx_add_disk_map_implicit(struct frz_ctx *ctx, const char *device, const char *disk_id)
{
	_cleanup_free_ char *saved = strdup_or_null(ctx->error);
	size_t n = ctx->disk_map.n;
	int r = frz_ctx_add_disk_map(ctx, device, disk_id);

	if (r == -FRZ_ERR_BAD_DISK_MAP) {
		/* Mapped by the user already, or its ID taken: the user's entry stands. */
		free(ctx->error);
		ctx->error = TAKE_PTR(saved);
		return 0;
	}
	if (r < 0)
		return r;
	if (ctx->disk_map.n > n)
		((struct frz_disk_map_entry *)ctx->disk_map.items[n])->implicit = true;
	return 0;
}

FRZ_EXPORT int frz_ctx_add_disk_map_string(struct frz_ctx *ctx, const char *device_eq_id)
{
	_cleanup_free_ char *copy = NULL;
	char *eq;

	if (!device_eq_id || !(eq = strchr(device_eq_id, '=')))
		return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
				"malformed disk map '%s': write DEVICE=DISKID, e.g. /dev/vdb=d-bp1xxxxxxxxxxxxxxxxx",
				device_eq_id ? device_eq_id : "");
	copy = strdup(device_eq_id);
	if (!copy)
		return -ENOMEM;
	copy[eq - device_eq_id] = '\0';
	if (!*copy || !eq[1])
		return frz_fail(ctx, FRZ_ERR_BAD_DISK_MAP,
				"malformed disk map '%s': write DEVICE=DISKID, e.g. /dev/vdb=d-bp1xxxxxxxxxxxxxxxxx",
				device_eq_id);
	return frz_ctx_add_disk_map(ctx, copy, copy + (eq - device_eq_id) + 1);
}
