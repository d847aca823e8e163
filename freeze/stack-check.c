/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The last look below the planned filesystems before the window.  A freeze
 * (or a flush) above a suspended dm device, a multipath device with no path
 * left or a thin pool about to run out of space blocks in the kernel, and
 * nothing can interrupt it: refuse first.  md arrays go on resyncing under a
 * frozen filesystem: their sync_action is opened here, set to "frozen" for
 * the window and restored afterwards (the last two run inside the window).
 *
 * dm status comes from DM_TABLE_STATUS on the live machine and from the
 * dump's `dmsetup status` output (<sysroot>/dmsetup-status) under a sysroot.
 * A status that cannot be read or parsed is "unknown" and refuses nothing:
 * a refusal must rest on what the kernel said, not on what we failed to read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "stack-check.h"

#define STACK_MAX_DEPTH 64
/* Refuse a thin pool whose data or metadata use is above this percentage. */
#define THIN_POOL_FULL_PERCENT 95
#define DM_STATUS_INITIAL_SIZE (16u * 1024)
#define DM_STATUS_MAX_SIZE (4u * 1024 * 1024)

/* ---- words ------------------------------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next whitespace-separated word at *P; false at the end of the text. */
static bool next_word(const char **p, const char **ret_word, size_t *ret_len)
{
	const char *s = *p, *e;

	while (is_space(*s))
		s++;
	if (!*s) {
		*p = s;
		return false;
	}
	for (e = s; *e && !is_space(*e); e++)
		;
	*ret_word = s;
	*ret_len = (size_t)(e - s);
	*p = e;
	return true;
}

static bool word_is(const char *word, size_t len, const char *literal)
{
	return strlen(literal) == len && memcmp(word, literal, len) == 0;
}

/* Decimal digits only: no sign, no blanks, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned digit;

		if (s[i] < '0' || s[i] > '9')
			return false;
		digit = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*ret = v;
	return true;
}

static bool take_u64(const char **p, uint64_t *ret)
{
	const char *w;
	size_t len;

	return next_word(p, &w, &len) && parse_u64(w, len, ret);
}

static bool skip_words(const char **p, uint64_t n)
{
	const char *w;
	size_t len;

	for (uint64_t i = 0; i < n; i++)
		if (!next_word(p, &w, &len))
			return false;
	return true;
}

/* "USED/TOTAL" */
static bool take_fraction(const char **p, uint64_t *ret_used, uint64_t *ret_total)
{
	const char *w, *slash;
	size_t len;

	if (!next_word(p, &w, &len))
		return false;
	slash = memchr(w, '/', len);
	return slash && parse_u64(w, (size_t)(slash - w), ret_used) &&
	       parse_u64(slash + 1, len - (size_t)(slash - w) - 1, ret_total);
}

/* ---- parsers ---------------------------------------------------------- */

/*
 * Every field up to the mode must be there and well formed.  The later ones
 * were added over the years (no_space policy, needs_check, the metadata low
 * watermark): each is optional, checked when present, and words after the
 * last one we know are ignored, as a newer kernel may add more.  "Error"
 * (the kernel could not read the pool's metadata to report it) is not a
 * shape we can judge: -EINVAL, so the caller treats the pool as unknown.
 */
int thin_pool_status_parse(const char *params, struct thin_pool_status *ret)
{
	struct thin_pool_status tp = {};
	const char *p = params, *w;
	uint64_t number;
	size_t len;

	if (!next_word(&p, &w, &len))
		return -EINVAL;
	if (word_is(w, len, "Fail")) {
		if (next_word(&p, &w, &len))
			return -EINVAL;
		tp.mode = THIN_POOL_FAIL;
		*ret = tp;
		return 0;
	}
	if (!parse_u64(w, len, &number) ||   /* transaction id */
	    !take_fraction(&p, &tp.used_metadata, &tp.total_metadata) ||
	    !take_fraction(&p, &tp.used_data, &tp.total_data))
		return -EINVAL;
	if (tp.total_metadata == 0 || tp.total_data == 0 || tp.used_metadata > tp.total_metadata ||
	    tp.used_data > tp.total_data)
		return -EINVAL;
	/* held metadata root */
	if (!next_word(&p, &w, &len) || !(word_is(w, len, "-") || parse_u64(w, len, &number)))
		return -EINVAL;
	if (!next_word(&p, &w, &len))
		return -EINVAL;
	if (word_is(w, len, "rw"))
		tp.mode = THIN_POOL_RW;
	else if (word_is(w, len, "ro"))
		tp.mode = THIN_POOL_RO;
	else if (word_is(w, len, "out_of_data_space"))
		tp.mode = THIN_POOL_OUT_OF_DATA_SPACE;
	else
		return -EINVAL;

	if (next_word(&p, &w, &len)) {
		if (!word_is(w, len, "discard_passdown") && !word_is(w, len, "no_discard_passdown") &&
		    !word_is(w, len, "ignore_discard"))
			return -EINVAL;
		if (next_word(&p, &w, &len)) {
			if (word_is(w, len, "error_if_no_space"))
				tp.error_if_no_space = true;
			else if (!word_is(w, len, "queue_if_no_space"))
				return -EINVAL;
			if (next_word(&p, &w, &len)) {
				if (word_is(w, len, "needs_check"))
					tp.needs_check = true;
				else if (!word_is(w, len, "-"))
					return -EINVAL;
				if (next_word(&p, &w, &len) && !parse_u64(w, len, &number))
					return -EINVAL;
			}
		}
	}
	*ret = tp;
	return 0;
}

/*
 * The format is counted from end to end, so it is read strictly: a count
 * that runs past the text, a state that is not A/D/E or A/F, or words left
 * over mean we misread it, and the result is -EINVAL (unknown), never a
 * guess at the number of paths.
 */
int multipath_status_parse(const char *params, struct multipath_status *ret)
{
	struct multipath_status mp = {};
	const char *p = params, *w;
	uint64_t n, n_groups, next_group;
	size_t len;

	if (!take_u64(&p, &n) || !skip_words(&p, n) ||   /* features */
	    !take_u64(&p, &n) || !skip_words(&p, n) ||   /* hardware handler */
	    !take_u64(&p, &n_groups) || !take_u64(&p, &next_group))
		return -EINVAL;
	if (next_group > n_groups)
		return -EINVAL;
	for (uint64_t g = 0; g < n_groups; g++) {
		uint64_t n_paths, n_path_args;

		if (!next_word(&p, &w, &len) ||
		    !(word_is(w, len, "A") || word_is(w, len, "D") || word_is(w, len, "E")))
			return -EINVAL;
		if (!take_u64(&p, &n) || !skip_words(&p, n) ||   /* selector status */
		    !take_u64(&p, &n_paths) || !take_u64(&p, &n_path_args))
			return -EINVAL;
		for (uint64_t i = 0; i < n_paths; i++) {
			uint64_t fail_count;

			if (!next_word(&p, &w, &len) || !memchr(w, ':', len))   /* major:minor */
				return -EINVAL;
			if (!next_word(&p, &w, &len))
				return -EINVAL;
			if (word_is(w, len, "A"))
				mp.n_active_paths++;
			else if (!word_is(w, len, "F"))
				return -EINVAL;
			if (!take_u64(&p, &fail_count) || !skip_words(&p, n_path_args))
				return -EINVAL;
			mp.n_paths++;
		}
		mp.n_groups++;
	}
	if (next_word(&p, &w, &len))
		return -EINVAL;
	*ret = mp;
	return 0;
}

void dm_status_clear(struct dm_status *st)
{
	ptrvec_free_items(&st->types);
	ptrvec_free_items(&st->params);
}

static int dm_status_add(struct dm_status *st, const char *type, size_t type_len, const char *params,
			 size_t params_len)
{
	_cleanup_free_ char *t = strndup(type, type_len), *s = strndup(params, params_len);

	if (!t || !s || ptrvec_push(&st->types, t) < 0)
		return -ENOMEM;
	t = NULL;
	if (ptrvec_push(&st->params, s) < 0) {
		free(st->types.items[--st->types.n]);
		return -ENOMEM;
	}
	s = NULL;
	return 0;
}

/* "START LENGTH TARGET PARAMS" up to END; a line of another shape is skipped. */
static int dmsetup_target_line(const char *line, const char *end, struct dm_status *st)
{
	_cleanup_free_ char *copy = strndup(line, (size_t)(end - line));
	const char *p, *type, *params;
	size_t type_len, params_len;
	uint64_t start, length;

	if (!copy)
		return -ENOMEM;
	p = copy;
	if (!take_u64(&p, &start) || !take_u64(&p, &length) || !next_word(&p, &type, &type_len))
		return 0;
	/* dmsetup prints one space, then the target's text as it is. */
	params = *p == ' ' ? p + 1 : p;
	params_len = strlen(params);
	while (params_len > 0 && (params[params_len - 1] == '\r' || params[params_len - 1] == '\n'))
		params_len--;
	return dm_status_add(st, type, type_len, params, params_len);
}

int dmsetup_status_lookup(const char *text, const char *name, struct dm_status *ret)
{
	size_t name_len = strlen(name);
	int r;

	for (const char *line = text; *line;) {
		const char *eol = strchrnul(line, '\n');

		if ((size_t)(eol - line) > name_len + 1 && strncmp(line, name, name_len) == 0 &&
		    line[name_len] == ':' && line[name_len + 1] == ' ' &&
		    (r = dmsetup_target_line(line + name_len + 2, eol, ret)) < 0)
			return r;
		line = *eol ? eol + 1 : eol;
	}
	return ret->types.n > 0 ? 0 : -ENOENT;
}

/*
 * The reply is struct dm_ioctl, then at data_start the first dm_target_spec,
 * its NUL-terminated status text right behind it, and the next spec at
 * data_start + spec.next (8-byte aligned).  Everything is bounds-checked
 * against both data_size and SIZE, and specs are copied out, not cast.
 */
int dm_ioctl_status_parse(const void *buf, size_t size, struct dm_status *ret)
{
	const char *base = buf, *data;
	struct dm_ioctl io;
	size_t data_len, off = 0;
	int r;

	if (size < sizeof(io))
		return -EINVAL;
	memcpy(&io, buf, sizeof(io));
	if (io.data_size > size || io.data_start < sizeof(io) || io.data_start > io.data_size)
		return -EINVAL;
	if (io.flags & DM_BUFFER_FULL_FLAG)
		return -ENOBUFS;
	data = base + io.data_start;
	data_len = io.data_size - io.data_start;
	for (uint32_t i = 0; i < io.target_count; i++) {
		struct dm_target_spec spec;
		const char *params;
		size_t room, params_len;

		if (off > data_len || data_len - off < sizeof(spec))
			return -EINVAL;
		memcpy(&spec, data + off, sizeof(spec));
		params = data + off + sizeof(spec);
		room = data_len - off - sizeof(spec);
		params_len = strnlen(params, room);
		if (params_len == room)
			return -EINVAL;
		r = dm_status_add(ret, spec.target_type, strnlen(spec.target_type, sizeof(spec.target_type)),
				  params, params_len);
		if (r < 0)
			return r;
		if (i + 1 < io.target_count) {
			if (spec.next <= off)
				return -EINVAL;
			off = spec.next;
		}
	}
	return 0;
}

/* ---- dm status sources ------------------------------------------------ */

struct check {
	struct frz_ctx *ctx;
	const struct frz_fs *top;    /* the planned filesystem whose stack is being walked */
	struct hashmap bdev_seen;    /* struct frz_bdev * -> SEEN_* */
	struct hashmap fs_seen;      /* struct frz_fs * -> SEEN_* */
	struct ptrvec md;            /* struct frz_bdev *: arrays below a FIFREEZE filesystem */
	bool status_opened;
	int control_fd;              /* live machine: /dev/mapper/control, or -1 */
	char *dmsetup_text;          /* sysroot: the dump's dmsetup status, or NULL */
};

/* How far a device or filesystem was walked: checked, or checked and its md arrays taken. */
enum { SEEN_NONE, SEEN_CHECKED, SEEN_WITH_MD };

static void status_source_open(struct check *c)
{
	int fd;

	if (c->status_opened)
		return;
	c->status_opened = true;
	if (c->ctx->sysroot_is_host) {
		fd = sysroot_open(c->ctx, "dev/mapper/control", O_RDWR);
		if (fd >= 0)
			c->control_fd = fd;
		else
			dbg(c->ctx, "no device-mapper control node (%s): dm status not checked",
			    strerror(-fd));
	} else if (sysroot_read_file_at(c->ctx->sysroot_fd, "dmsetup-status", &c->dmsetup_text, NULL) < 0) {
		dbg(c->ctx, "the dump has no dmsetup-status: dm status not checked");
		c->dmsetup_text = NULL;
	}
}

/* The kernel's dev_t encoding in struct dm_ioctl (huge_encode_dev). */
static uint64_t dm_encode_dev(dev_t devno)
{
	uint64_t maj = major(devno), min = minor(devno);

	return (min & 0xff) | ((maj & 0xfff) << 8) | ((min & ~(uint64_t)0xff) << 12);
}

/*
 * DM_TABLE_STATUS by device number.  DM_NOFLUSH_FLAG: reading the status
 * must not make a thin pool commit its metadata.  A reply that did not fit
 * says DM_BUFFER_FULL_FLAG; ask again with a bigger buffer.
 */
static int dm_status_ioctl(int control_fd, dev_t devno, struct dm_status *ret)
{
	for (size_t size = DM_STATUS_INITIAL_SIZE; size <= DM_STATUS_MAX_SIZE; size *= 2) {
		_cleanup_free_ struct dm_ioctl *io = calloc(1, size);
		int r;

		if (!io)
			return -ENOMEM;
		io->version[0] = DM_VERSION_MAJOR;
		io->data_size = (uint32_t)size;
		io->data_start = sizeof(*io);
		io->flags = DM_NOFLUSH_FLAG;
		io->dev = dm_encode_dev(devno);
		if (ioctl(control_fd, DM_TABLE_STATUS, io) < 0)
			return -errno;
		if (io->flags & DM_BUFFER_FULL_FLAG)
			continue;
		r = dm_ioctl_status_parse(io, size, ret);
		if (r < 0)
			dm_status_clear(ret);
		return r;
	}
	return -ENOBUFS;
}

/* 0 with the targets, or a negative value when the status is unknown. */
static int dm_status_get(struct check *c, const struct frz_bdev *b, struct dm_status *ret)
{
	status_source_open(c);
	if (c->control_fd >= 0)
		return dm_status_ioctl(c->control_fd, b->devno, ret);
	if (c->dmsetup_text && b->dm_name)
		return dmsetup_status_lookup(c->dmsetup_text, b->dm_name, ret);
	return -ENOENT;
}

/* ---- the checks ------------------------------------------------------- */

/* "dm-3 (vg0-pool-tpool)" */
static char *dm_label(const struct frz_bdev *b)
{
	char *s = NULL;

	if (xasprintf(&s, "%s%s%s%s", b->name, b->dm_name ? " (" : "", b->dm_name ?: "",
		      b->dm_name ? ")" : "") < 0)
		return NULL;
	return s;
}

/*
 * "vg0/pool" for an LVM device named "vg0-pool-tpool" (VG, LV, layer; a
 * dash inside a name is doubled), NULL when the device is not LVM's.
 */
static char *lvm_lv_path(const struct frz_bdev *b)
{
	char *out, *o;
	bool in_lv = false;

	if (!b->dm_name || !b->dm_uuid || !startswith(b->dm_uuid, "LVM-"))
		return NULL;
	out = o = malloc(strlen(b->dm_name) + 1);
	if (!out)
		return NULL;
	for (const char *p = b->dm_name; *p; p++) {
		if (*p == '-') {
			if (p[1] != '-') {
				if (in_lv)
					break;   /* the layer: -tpool, -real, ... */
				in_lv = true;
				*o++ = '/';
				continue;
			}
			p++;
		}
		*o++ = *p;
	}
	*o = '\0';
	if (!in_lv) {
		free(out);
		return NULL;
	}
	return out;
}

/* USED/TOTAL above PERCENT, exactly, without overflow. */
static bool fraction_above(uint64_t used, uint64_t total, unsigned percent)
{
	if (total <= UINT64_MAX / 100 && used <= UINT64_MAX / 100)
		return used * 100 > total * percent;
	return (long double)used * 100 > (long double)total * percent;
}

/* Tenths of a percent, rounded down, so 95.04 % is never shown as 95.1 %. */
static unsigned tenths_of_percent(uint64_t used, uint64_t total)
{
	return (unsigned)((long double)used * 1000 / (long double)total);
}

static int fail_suspended(struct check *c, const struct frz_bdev *b, const char *label)
{
	return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
			"%s is suspended: a freeze of %s would wait for it forever; "
			"resume it (dmsetup resume %s) first",
			label, fs_first_mountpoint(c->top), b->dm_name ?: b->name);
}

/* "lvextend -L +SIZE vg0/pool" for an LVM pool, OTHERWISE for another. */
static char *pool_remedy(const char *lv, const char *lvm_command, const char *otherwise)
{
	char *s = NULL;

	if (!lv)
		return strdup(otherwise);
	return xasprintf(&s, "%s %s", lvm_command, lv) < 0 ? NULL : s;
}

/*
 * Out of data space, read-only or failed: refuse.  Otherwise refuse above
 * THIN_POOL_FULL_PERCENT of data or metadata, since the freeze itself writes
 * (journal commits, writeback) and a queue_if_no_space pool holds those
 * writes until someone extends it.  needs_check alone refuses nothing: the
 * pool works until it is next activated.
 */
static int check_thin_pool(struct check *c, const struct frz_bdev *b, const char *label, const char *params)
{
	_cleanup_free_ char *lv = lvm_lv_path(b), *remedy = NULL;
	const char *top = fs_first_mountpoint(c->top);
	struct thin_pool_status tp;
	unsigned data_tenths, metadata_tenths;
	bool data_full, metadata_full;

	if (thin_pool_status_parse(params, &tp) < 0) {
		dbg(c->ctx, "%s: thin-pool status '%s' not understood: not checked", label, params);
		return 0;
	}
	switch (tp.mode) {
	case THIN_POOL_FAIL:
	case THIN_POOL_RO:
		if (!(remedy = pool_remedy(lv, "lvconvert --repair", "thin_check, thin_repair")))
			return -ENOMEM;
		if (tp.mode == THIN_POOL_FAIL)
			return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
					"%s is a thin pool in fail mode: every write of the freeze of %s would "
					"fail; repair it (%s) or exclude its filesystems", label, top, remedy);
		return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
				"%s is a thin pool in read-only mode: the writes of the freeze of %s that need "
				"new blocks would fail; repair it (%s) or exclude its filesystems",
				label, top, remedy);
	case THIN_POOL_OUT_OF_DATA_SPACE:
		if (!(remedy = pool_remedy(lv, "lvextend -L +SIZE", "grow its data device")))
			return -ENOMEM;
		return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
				"%s is a thin pool out of data space: a freeze of %s would hang on the first "
				"write it cannot allocate; extend the pool (%s) or exclude its filesystems",
				label, top, remedy);
	case THIN_POOL_RW:
		break;
	}

	data_full = fraction_above(tp.used_data, tp.total_data, THIN_POOL_FULL_PERCENT);
	metadata_full = fraction_above(tp.used_metadata, tp.total_metadata, THIN_POOL_FULL_PERCENT);
	if (!data_full && !metadata_full)
		return 0;
	data_tenths = tenths_of_percent(tp.used_data, tp.total_data);
	metadata_tenths = tenths_of_percent(tp.used_metadata, tp.total_metadata);
	/* Name the fuller of the two when both are. */
	if (metadata_full && (!data_full || metadata_tenths > data_tenths)) {
		if (!(remedy = pool_remedy(lv, "lvextend --poolmetadatasize +SIZE", "grow its metadata device")))
			return -ENOMEM;
		return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
				"%s is a thin pool %u.%u%% full (metadata): a freeze of %s would hang on the "
				"first write it cannot allocate; extend the pool (%s) or exclude its filesystems",
				label, metadata_tenths / 10, metadata_tenths % 10, top, remedy);
	}
	if (!(remedy = pool_remedy(lv, "lvextend -L +SIZE", "grow its data device")))
		return -ENOMEM;
	return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
			"%s is a thin pool %u.%u%% full (data): a freeze of %s would hang on the first "
			"write it cannot allocate; extend the pool (%s) or exclude its filesystems",
			label, data_tenths / 10, data_tenths % 10, top, remedy);
}

static int fail_no_path(struct check *c, const char *label, const char *why)
{
	return frz_fail(c->ctx, FRZ_ERR_UNSAFE_STACK,
			"%s is a multipath device with no active path (%s): a freeze of %s would queue "
			"forever; restore a path or exclude it",
			label, why, fs_first_mountpoint(c->top));
}

/* 1 when the status says a path is active, 0 when it cannot be read, or the refusal. */
static int check_multipath(struct check *c, const char *label, const char *params)
{
	struct multipath_status mp;
	char why[64];

	if (multipath_status_parse(params, &mp) < 0) {
		dbg(c->ctx, "%s: multipath status '%s' not understood", label, params);
		return 0;
	}
	if (mp.n_active_paths > 0)
		return 1;
	if (mp.n_paths == 0)
		snprintf(why, sizeof(why), "it has no paths");
	else if (mp.n_paths == 1)
		snprintf(why, sizeof(why), "its only path failed");
	else
		snprintf(why, sizeof(why), "%u paths, all failed", mp.n_paths);
	return fail_no_path(c, label, why);
}

/*
 * Without a dm status, sysfs still tells a multipath device with no slaves
 * left, or whose SCSI paths are all in a state other than "running"
 * (offline, transport-offline, blocked, ...).  A path without a readable
 * device/state (not SCSI, or a dump without it) may be alive: then we do
 * not refuse.
 */
static int check_multipath_sysfs(struct check *c, const struct frz_bdev *b, const char *label)
{
	size_t not_running = 0;
	char why[64];

	for (size_t i = 0; i < b->lowers.n; i++) {
		const struct frz_bdev *path = b->lowers.items[i];
		const struct frz_bdev *disk = path->kind == BDEV_PARTITION && path->whole ? path->whole : path;
		_cleanup_free_ char *file = NULL, *state = NULL;

		if (xasprintf(&file, "sys/block/%s/device/state", disk->name) < 0)
			return -ENOMEM;
		if (sysroot_read_line(c->ctx, file, &state) < 0 || streq(state, "running"))
			return 0;
		not_running++;
	}
	if (b->lowers.n == 0)
		snprintf(why, sizeof(why), "it has no paths");
	else
		snprintf(why, sizeof(why), "%zu path%s, none running", not_running, not_running > 1 ? "s" : "");
	return fail_no_path(c, label, why);
}

static bool dm_suspended_now(struct check *c, const struct frz_bdev *b)
{
	_cleanup_free_ char *file = NULL, *value = NULL;

	/* The topology may be seconds old: ask again, keep its answer when sysfs will not say. */
	if (xasprintf(&file, "sys/block/%s/dm/suspended", b->name) < 0 ||
	    sysroot_read_line(c->ctx, file, &value) < 0)
		return b->dm_suspended;
	return streq(value, "1");
}

static int check_dm(struct check *c, const struct frz_bdev *b)
{
	_cleanup_free_ char *label = dm_label(b);
	struct dm_status st = {};
	bool multipath_known = false;
	int r;

	if (!label)
		return -ENOMEM;
	if (dm_suspended_now(c, b))
		return fail_suspended(c, b, label);

	r = dm_status_get(c, b, &st);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		dbg(c->ctx, "%s: no dm status (%s)", label, strerror(-r));
		r = 0;
	}
	for (size_t i = 0; r >= 0 && i < st.types.n; i++) {
		const char *type = st.types.items[i], *params = st.params.items[i];

		if (streq(type, "thin-pool")) {
			r = check_thin_pool(c, b, label, params);
		} else if (streq(type, "multipath")) {
			r = check_multipath(c, label, params);
			if (r > 0)
				multipath_known = true;
		}
	}
	dm_status_clear(&st);
	if (r < 0)
		return r;
	/* No multipath status we could read: ask sysfs about the paths. */
	if (!multipath_known && b->dm_uuid && startswith(b->dm_uuid, "mpath-"))
		return check_multipath_sysfs(c, b, label);
	return 0;
}

static int seen_raise(struct hashmap *seen, const void *key, bool with_md, bool *ret_first)
{
	uintptr_t want = with_md ? SEEN_WITH_MD : SEEN_CHECKED;
	uintptr_t now = (uintptr_t)hashmap_get_u64(seen, (uint64_t)(uintptr_t)key);
	int r;

	if (now >= want)
		return 0;
	r = hashmap_put_u64(seen, (uint64_t)(uintptr_t)key, (void *)want);
	if (r < 0)
		return r;
	*ret_first = now == SEEN_NONE;
	return 1;
}

static int walk_fs(struct check *c, const struct frz_fs *fs, bool with_md, unsigned depth);

/*
 * Down a device's lowers; a loop device continues on the filesystem that
 * holds its image, since whatever is written to the loop device is written
 * there.  md arrays count below a FIFREEZE filesystem, images included.
 */
static int walk_bdev(struct check *c, const struct frz_bdev *b, bool with_md, unsigned depth)
{
	bool first = false;
	int r;

	if (depth > STACK_MAX_DEPTH)
		return 0;
	r = seen_raise(&c->bdev_seen, b, with_md, &first);
	if (r <= 0)
		return r;
	if (first && b->kind == BDEV_DM && (r = check_dm(c, b)) < 0)
		return r;
	if (with_md && b->kind == BDEV_MD && (r = ptrvec_push_unique(&c->md, (void *)b)) < 0)
		return r;
	for (size_t i = 0; i < b->lowers.n; i++)
		if ((r = walk_bdev(c, b->lowers.items[i], with_md, depth + 1)) < 0)
			return r;
	if (b->kind == BDEV_LOOP && b->loop_host)
		return walk_fs(c, b->loop_host, with_md, depth + 1);
	return 0;
}

/*
 * A filesystem's own devices, then what it is stored on (loop image hosts,
 * overlay upper dirs, FUSE stores): freezing or flushing it writes there.
 */
static int walk_fs(struct check *c, const struct frz_fs *fs, bool with_md, unsigned depth)
{
	bool first = false;
	int r;

	if (depth > STACK_MAX_DEPTH)
		return 0;
	r = seen_raise(&c->fs_seen, fs, with_md, &first);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < fs->bdevs.n; i++)
		if ((r = walk_bdev(c, fs->bdevs.items[i], with_md, depth + 1)) < 0)
			return r;
	for (size_t i = 0; i < fs->deps.n; i++) {
		const struct fs_dep *dep = fs->deps.items[i];
		if ((r = walk_fs(c, dep->fs, with_md, depth + 1)) < 0)
			return r;
	}
	return 0;
}

/* ---- md --------------------------------------------------------------- */

static int md_open(struct check *c, const struct frz_bdev *b, struct md_sync *ret)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_close_ int fd = -1;
	char buf[64];
	ssize_t k;

	if (strlen(b->name) >= sizeof(ret->name))
		return frz_fail(c->ctx, ENAMETOOLONG, "md array name %s is too long", b->name);
	if (xasprintf(&file, "sys/block/%s/md/sync_action", b->name) < 0)
		return -ENOMEM;
	fd = sysroot_open(c->ctx, file, O_RDWR | O_NOCTTY);
	if (fd == -ENOENT) {
		/* raid0 and linear arrays have no redundancy to sync. */
		dbg(c->ctx, "%s has no sync_action: nothing to pause", b->name);
		return 0;
	}
	if (fd < 0)
		return frz_fail(c->ctx, fd, "cannot open /%s to pause %s's resync during the freeze: %s; "
				"run freezeshim as root", file, b->name, strerror(-fd));
	do
		k = pread(fd, buf, sizeof(buf) - 1, 0);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		int e = errno;
		return frz_fail(c->ctx, e, "cannot read /%s: %s", file, strerror(e));
	}
	buf[k] = '\0';
	strstrip_trailing(buf);
	if (strlen(buf) >= sizeof(ret->saved))
		return frz_fail(c->ctx, EBADMSG, "/%s says '%s', which is no md sync action", file, buf);
	*ret = (struct md_sync){ .fd = fd };
	strcpy(ret->name, b->name);
	strcpy(ret->saved, buf);
	fd = -1;
	return 1;
}

static int md_open_all(struct check *c, struct md_sync **ret_md, size_t *ret_n)
{
	struct md_sync *md = NULL;
	size_t n = 0;
	int r;

	if (c->md.n > 0 && !(md = calloc(c->md.n, sizeof(*md))))
		return -ENOMEM;
	for (size_t i = 0; i < c->md.n; i++) {
		r = md_open(c, c->md.items[i], &md[n]);
		if (r < 0) {
			md_sync_free(md, n);
			return r;
		}
		n += r > 0;
	}
	if (n == 0) {
		free(md);
		md = NULL;
	}
	*ret_md = md;
	*ret_n = n;
	return 0;
}

int stack_check_plan(const struct frz_plan *plan, struct md_sync **ret_md, size_t *ret_n_md)
{
	struct check c = { .ctx = plan->ctx, .control_fd = -1 };
	struct md_sync *md = NULL;
	size_t n_md = 0;
	int r = 0;

	hashmap_init(&c.bdev_seen, false);
	hashmap_init(&c.fs_seen, false);
	for (size_t i = 0; i < plan->filesystems.n && r >= 0; i++) {
		const struct frz_fs *fs = plan->filesystems.items[i];

		if (fs->method != FRZ_METHOD_FIFREEZE && fs->method != FRZ_METHOD_FLUSH)
			continue;
		c.top = fs;
		r = walk_fs(&c, fs, fs->method == FRZ_METHOD_FIFREEZE, 0);
	}
	if (r >= 0)
		r = md_open_all(&c, &md, &n_md);
	if (r >= 0) {
		*ret_md = md;
		*ret_n_md = n_md;
		r = 0;
	}
	hashmap_clear(&c.bdev_seen);
	hashmap_clear(&c.fs_seen);
	ptrvec_clear(&c.md);
	if (c.control_fd >= 0)
		close(c.control_fd);
	free(c.dmsetup_text);
	return r;
}

/*
 * Inside the window (and in the guardian, possibly from a signal handler):
 * only pwrite() and arithmetic on memory set up before, errno preserved.
 * A trailing newline is what `echo frozen > sync_action` writes; md accepts it.
 */
static bool action_is(const char *saved, const char *word)
{
	size_t i = 0;

	for (; saved[i] && word[i]; i++)
		if (saved[i] != word[i])
			return false;
	return saved[i] == word[i];
}

static int write_action(int fd, const char *text, size_t len)
{
	ssize_t k;

	do
		k = pwrite(fd, text, len, 0);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return (size_t)k == len ? 0 : -EIO;
}

int md_sync_freeze(struct md_sync *md, size_t n)
{
	static const char frozen[] = "frozen\n";
	int saved_errno = errno, first = 0;

	for (size_t i = 0; i < n; i++) {
		int r;

		if (md[i].fd < 0 || md[i].frozen_by_us || action_is(md[i].saved, "frozen"))
			continue;
		r = write_action(md[i].fd, frozen, sizeof(frozen) - 1);
		if (r < 0) {
			if (first == 0)
				first = r;
			continue;
		}
		md[i].frozen_by_us = true;
	}
	errno = saved_errno;
	return first;
}

void md_sync_restore(struct md_sync *md, size_t n)
{
	static const char idle[] = "idle\n";
	int saved_errno = errno;

	for (size_t i = 0; i < n; i++) {
		char again[sizeof(md[i].saved) + 1];
		size_t len = 0;

		if (md[i].fd < 0 || !md[i].frozen_by_us)
			continue;
		(void)write_action(md[i].fd, idle, sizeof(idle) - 1);
		/* A user's check or repair starts again; resync and recovery resume on their own. */
		if (action_is(md[i].saved, "check") || action_is(md[i].saved, "repair")) {
			for (; md[i].saved[len] && len < sizeof(md[i].saved) - 1; len++)
				again[len] = md[i].saved[len];
			again[len++] = '\n';
			(void)write_action(md[i].fd, again, len);
		}
		md[i].frozen_by_us = false;
	}
	errno = saved_errno;
}

void md_sync_free(struct md_sync *md, size_t n)
{
	for (size_t i = 0; md && i < n; i++)
		if (md[i].fd >= 0)
			close(md[i].fd);
	free(md);
}
