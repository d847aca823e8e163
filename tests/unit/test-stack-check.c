/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pre-freeze stack checks and md's sync_action: the dm status parsers on
 * the kernel's formats (and on text that is not), refusals on the fixture
 * machines thin-pool, mpath-nopath and loop-dm-edges, and the writes to
 * sync_action on a copy of md-raid1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/dm-ioctl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "stack-check.h"

static const char *fixture_roots;

/* ---- helpers ---------------------------------------------------------- */

static void copy_tree_at(int src_dir, int dst_dir)
{
	DIR *d = fdopendir(dup(src_dir));
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		assert_int_equal(fstatat(src_dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
		if (S_ISDIR(st.st_mode)) {
			int s, t;

			assert_int_equal(mkdirat(dst_dir, de->d_name, 0755), 0);
			s = openat(src_dir, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			t = openat(dst_dir, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			assert_true(s >= 0 && t >= 0);
			copy_tree_at(s, t);
			close(s);
			close(t);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t k = readlinkat(src_dir, de->d_name, target, sizeof(target) - 1);

			assert_true(k >= 0);
			target[k] = '\0';
			assert_int_equal(symlinkat(target, dst_dir, de->d_name), 0);
		} else {
			char buf[8192];
			ssize_t k;
			int s = openat(src_dir, de->d_name, O_RDONLY | O_CLOEXEC);
			int t = openat(dst_dir, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

			assert_true(s >= 0 && t >= 0);
			while ((k = read(s, buf, sizeof(buf))) > 0)
				assert_int_equal(write(t, buf, (size_t)k), k);
			assert_int_equal(k, 0);
			close(s);
			close(t);
		}
	}
	closedir(d);
}

/*
 * A private, writable copy of a machine's root (the md tests write
 * sync_action), kept in the test's state so that its teardown removes it
 * even when the test fails half-way.
 */
struct machine_copy {
	char dir[4096];         /* mkdtemp */
	char root[4096 + 8];    /* dir/root */
};

static struct machine_copy *machine_copy(void **state, const char *machine)
{
	struct machine_copy *m = calloc(1, sizeof(*m));
	const char *tmp = getenv("TMPDIR");
	char src[4096];
	int s, t;

	assert_non_null(m);
	assert_null(*state);
	snprintf(m->dir, sizeof(m->dir), "%s/test-stack-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(m->dir));
	*state = m;
	snprintf(m->root, sizeof(m->root), "%s/root", m->dir);
	assert_int_equal(mkdir(m->root, 0755), 0);
	snprintf(src, sizeof(src), "%s/%s/root", fixture_roots, machine);
	s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t = open(m->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(s >= 0 && t >= 0);
	copy_tree_at(s, t);
	close(s);
	close(t);
	return m;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int remove_copy(void **state)
{
	struct machine_copy *m = *state;
	int r = 0;

	if (m)
		r = nftw(m->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(m);
	*state = NULL;
	return r;
}

static void put_file(const char *root, const char *path, const char *text)
{
	char file[8192];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", root, path);
	f = fopen(file, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *root, const char *path)
{
	char file[8192];

	snprintf(file, sizeof(file), "%s/%s", root, path);
	assert_int_equal(unlink(file), 0);
}

/* What md would act on: the first line of what was written last at offset 0. */
static char *first_line(const char *root, const char *path)
{
	static char line[256];
	char file[8192];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", root, path);
	f = fopen(file, "re");
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static char *slurp(const char *root, const char *path)
{
	static char text[256];
	char file[8192];
	ssize_t k;
	int fd;

	snprintf(file, sizeof(file), "%s/%s", root, path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	k = read(fd, text, sizeof(text) - 1);
	assert_true(k >= 0);
	text[k] = '\0';
	close(fd);
	return text;
}

struct run {
	struct frz_ctx *ctx;
	struct frz_plan *plan;
	struct md_sync *md;
	size_t n_md;
	int r;
};

/* Plan TARGET (NULL: the default plan) on ROOT and run the check. */
static void run_check(const char *root, const char *target, struct run *run)
{
	const char *targets[] = { target };
	struct md_sync sentinel;

	*run = (struct run){ .md = &sentinel, .n_md = 12345 };
	assert_int_equal(frz_ctx_new(&run->ctx), 0);
	assert_int_equal(frz_ctx_set_sysroot(run->ctx, root), 0);
	assert_int_equal(frz_plan_new(run->ctx, target ? targets : NULL, target ? 1 : 0, 0, &run->plan), 0);
	run->r = stack_check_plan(run->plan, &run->md, &run->n_md);
	if (run->r < 0) {
		/* Left untouched on failure. */
		assert_ptr_equal(run->md, &sentinel);
		assert_int_equal(run->n_md, 12345);
		run->md = NULL;
		run->n_md = 0;
	}
}

static void run_done(struct run *run)
{
	md_sync_free(run->md, run->n_md);
	frz_plan_unref(run->plan);
	frz_ctx_unref(run->ctx);
}

static void fixture_root(const char *machine, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/root", fixture_roots, machine);
}

static void expect_refusal(const char *root, const char *target, const char *message)
{
	struct run run;

	run_check(root, target, &run);
	if (run.r != -FRZ_ERR_UNSAFE_STACK)
		fail_msg("%s: expected a refusal, got %d (%s)", target ? target : "(default plan)", run.r,
			 frz_ctx_get_error(run.ctx) ?: "no message");
	assert_non_null(frz_ctx_get_error(run.ctx));
	assert_string_equal(frz_ctx_get_error(run.ctx), message);
	run_done(&run);
}

static void expect_safe(const char *root, const char *target, size_t n_md)
{
	struct run run;

	run_check(root, target, &run);
	if (run.r != 0)
		fail_msg("%s: %s", target ? target : "(default plan)", frz_ctx_get_error(run.ctx));
	assert_int_equal(run.n_md, n_md);
	if (n_md == 0)
		assert_null(run.md);
	run_done(&run);
}

/* ---- parsers ---------------------------------------------------------- */

static void test_thin_pool_parse(void **state)
{
	struct thin_pool_status tp;

	/* 6.x: every field, with the trailing space DMEMIT leaves. */
	assert_int_equal(thin_pool_status_parse("1 6213/25600 1591023/1638400 - rw discard_passdown "
						"queue_if_no_space - 1024 ", &tp), 0);
	assert_int_equal(tp.mode, THIN_POOL_RW);
	assert_int_equal(tp.used_metadata, 6213);
	assert_int_equal(tp.total_metadata, 25600);
	assert_int_equal(tp.used_data, 1591023);
	assert_int_equal(tp.total_data, 1638400);
	assert_false(tp.error_if_no_space);
	assert_false(tp.needs_check);

	/* A held metadata root, the other policies, needs_check. */
	assert_int_equal(thin_pool_status_parse("5 4096/4096 163840/163840 87 out_of_data_space ignore_discard "
						"error_if_no_space needs_check 1024", &tp), 0);
	assert_int_equal(tp.mode, THIN_POOL_OUT_OF_DATA_SPACE);
	assert_true(tp.error_if_no_space);
	assert_true(tp.needs_check);
	assert_int_equal(thin_pool_status_parse("3 200/4096 1000/163840 - ro no_discard_passdown "
						"queue_if_no_space needs_check 1024 ", &tp), 0);
	assert_int_equal(tp.mode, THIN_POOL_RO);

	/* Older kernels stop earlier; a newer one may print more. */
	assert_int_equal(thin_pool_status_parse("0 141/4096 0/163840 - rw no_discard_passdown "
						"error_if_no_space - ", &tp), 0);
	assert_int_equal(tp.used_data, 0);
	assert_int_equal(thin_pool_status_parse("7 12/1024 100/2000 - rw discard_passdown", &tp), 0);
	assert_int_equal(thin_pool_status_parse("7 12/1024 100/2000 - rw", &tp), 0);
	assert_int_equal(thin_pool_status_parse("1 1/2 1/2 - rw discard_passdown queue_if_no_space - 1024 "
						"something new", &tp), 0);

	assert_int_equal(thin_pool_status_parse("Fail", &tp), 0);
	assert_int_equal(tp.mode, THIN_POOL_FAIL);
	assert_int_equal(tp.total_data, 0);
	assert_int_equal(thin_pool_status_parse(" Fail ", &tp), 0);

	/* Not the format: unknown, never a crash. */
	static const char *const bad[] = {
		"",
		"   ",
		"Error",
		"Fail now",
		"fail",
		"1",
		"1 1/2",
		"1 1/2 1/2",
		"1 1/2 1/2 -",
		"1 1/2 1/2 - maybe",
		"1 1/2 1/2 x rw",
		"x 1/2 1/2 - rw",
		"-1 1/2 1/2 - rw",
		"1 10/0 1/2 - rw",
		"1 1/2 1/0 - rw",
		"1 5/4 1/2 - rw",
		"1 1/2 3/2 - rw",
		"1 /2 1/2 - rw",
		"1 1/ 1/2 - rw",
		"1 1-2 1/2 - rw",
		"1 1/2/3 1/2 - rw",
		"1 +1/2 1/2 - rw",
		"1 99999999999999999999/1 1/2 - rw",
		"1 1/99999999999999999999 1/2 - rw",
		"1 1/2 1/2 - rw passdown",
		"1 1/2 1/2 - rw discard_passdown maybe_if_no_space",
		"1 1/2 1/2 - rw discard_passdown queue_if_no_space ok",
		"1 1/2 1/2 - rw discard_passdown queue_if_no_space - low",
		"1\t1/2\n1/2 - rw\x01",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		tp.mode = THIN_POOL_FAIL;
		if (thin_pool_status_parse(bad[i], &tp) != -EINVAL)
			fail_msg("thin-pool status '%s' was accepted", bad[i]);
		assert_int_equal(tp.mode, THIN_POOL_FAIL);   /* untouched */
	}
}

static void test_multipath_parse(void **state)
{
	struct multipath_status mp;

	/* group_by_prio, service-time (2 args per path), every path failed. */
	assert_int_equal(multipath_status_parse("2 0 1 0 2 1 E 0 1 2 8:0 F 12 0 1 E 0 1 2 8:16 F 12 0 1 ", &mp), 0);
	assert_int_equal(mp.n_groups, 2);
	assert_int_equal(mp.n_paths, 2);
	assert_int_equal(mp.n_active_paths, 0);
	/* One active path in the current group. */
	assert_int_equal(multipath_status_parse("2 0 1 0 2 1 A 0 1 2 8:32 A 0 0 1 E 0 1 2 8:48 F 3 0 1 ", &mp), 0);
	assert_int_equal(mp.n_paths, 2);
	assert_int_equal(mp.n_active_paths, 1);
	/* multibus, round-robin (no args per path), four paths. */
	assert_int_equal(multipath_status_parse("2 0 0 0 1 1 A 0 4 0 8:16 A 0 8:32 A 0 8:48 F 1 65:0 A 0 ", &mp), 0);
	assert_int_equal(mp.n_groups, 1);
	assert_int_equal(mp.n_paths, 4);
	assert_int_equal(mp.n_active_paths, 3);
	/* queue-length: one arg per path. */
	assert_int_equal(multipath_status_parse("2 0 0 0 1 1 A 0 2 1 8:0 A 0 3 8:16 A 0 2 ", &mp), 0);
	assert_int_equal(mp.n_active_paths, 2);
	/* An active path in a disabled (bypassed) group still counts. */
	assert_int_equal(multipath_status_parse("2 0 0 0 2 2 D 0 1 0 8:0 A 0 E 0 1 0 8:16 F 1 ", &mp), 0);
	assert_int_equal(mp.n_active_paths, 1);
	/* Every path removed: no groups at all. */
	assert_int_equal(multipath_status_parse("2 1 0 0 0 0 ", &mp), 0);
	assert_int_equal(mp.n_groups, 0);
	assert_int_equal(mp.n_paths, 0);
	assert_int_equal(mp.n_active_paths, 0);
	/* Words in the features and the handler are counted, whatever they say. */
	assert_int_equal(multipath_status_parse("1 queue_if_no_path 1 alua 1 1 A 2 x y 1 0 8:0 F 2", &mp), 0);
	assert_int_equal(mp.n_paths, 1);
	assert_int_equal(mp.n_active_paths, 0);

	static const char *const bad[] = {
		"",
		"2 0",
		"2 0 1",
		"2 0 1 0",
		"2 0 1 0 1",
		"2 0 1 0 1 1",
		"2 0 1 0 1 1 A 0 1 2 8:0 F 12 0",        /* a selector arg short */
		"2 0 1 0 1 1 A 0 1 0 8:0 A 0 extra",     /* words left over */
		"2 0 1 0 1 1 X 0 1 0 8:0 A 0",           /* no such group state */
		"2 0 1 0 1 1 A 0 1 0 8:0 Z 0",           /* no such path state */
		"2 0 1 0 1 1 A 0 1 0 8:0 a 0",
		"2 0 1 0 1 1 A 0 1 0 sdb A 0",           /* not major:minor */
		"2 0 1 0 1 1 A 0 1 0 8:0 A -1",
		"2 0 1 0 3 1 A 0 1 0 8:0 A 0",           /* three groups announced, one there */
		"2 0 1 0 1 5 A 0 1 0 8:0 A 0",           /* next group beyond the last */
		"2 0 1 0 1 1 A 0 9 0 8:0 A 0",
		"18446744073709551615 a b c",
		"99999999999999999999999 0",
		"2 0 1 0 1 1 A 18446744073709551615 1 0 8:0 A 0",
		"x 0 1 0 1 1 A 0 1 0 8:0 A 0",
		"Fail",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		mp.n_paths = 77;
		if (multipath_status_parse(bad[i], &mp) != -EINVAL)
			fail_msg("multipath status '%s' was accepted", bad[i]);
		assert_int_equal(mp.n_paths, 77);
	}
}

static void test_dmsetup_lookup(void **state)
{
	static const char text[] =
		"vg0-pool: 0 209715200 linear \n"
		"vg0-pool-tpool: 0 209715200 thin-pool 1 6213/25600 1591023/1638400 - rw discard_passdown "
		"queue_if_no_space - 1024 \n"
		"vg0-span: 0 1024 linear \n"
		"vg0-span: 1024 2048 striped 2 128 8:16 A 8:32 A\r\n"
		"notable: \n"
		"weird: x y linear \n"
		"mpatha: 0 2147483648 multipath 2 0 1 0 2 1 E 0 1 2 8:0 F 12 0 1 E 0 1 2 8:16 F 12 0 1 ";
	struct dm_status st = {};

	assert_int_equal(dmsetup_status_lookup(text, "vg0-pool", &st), 0);
	assert_int_equal(st.types.n, 1);
	assert_string_equal(st.types.items[0], "linear");
	assert_string_equal(st.params.items[0], "");
	dm_status_clear(&st);

	assert_int_equal(dmsetup_status_lookup(text, "vg0-pool-tpool", &st), 0);
	assert_int_equal(st.types.n, 1);
	assert_string_equal(st.types.items[0], "thin-pool");
	assert_string_equal(st.params.items[0], "1 6213/25600 1591023/1638400 - rw discard_passdown "
				"queue_if_no_space - 1024 ");
	dm_status_clear(&st);

	/* Two targets, one line each; a CR before the newline is dropped. */
	assert_int_equal(dmsetup_status_lookup(text, "vg0-span", &st), 0);
	assert_int_equal(st.types.n, 2);
	assert_string_equal(st.types.items[1], "striped");
	assert_string_equal(st.params.items[1], "2 128 8:16 A 8:32 A");
	dm_status_clear(&st);

	/* The last line has no newline. */
	assert_int_equal(dmsetup_status_lookup(text, "mpatha", &st), 0);
	assert_string_equal(st.types.items[0], "multipath");
	dm_status_clear(&st);

	assert_int_equal(dmsetup_status_lookup(text, "vg0", &st), -ENOENT);
	assert_int_equal(dmsetup_status_lookup(text, "notable", &st), -ENOENT);
	assert_int_equal(dmsetup_status_lookup(text, "weird", &st), -ENOENT);
	assert_int_equal(dmsetup_status_lookup(text, "vg0-pool-tpool:", &st), -ENOENT);
	assert_int_equal(dmsetup_status_lookup("", "vg0-pool", &st), -ENOENT);
	assert_int_equal(dmsetup_status_lookup("vg0-pool:", "vg0-pool", &st), -ENOENT);
	assert_int_equal(st.types.n, 0);
}

/* A DM_TABLE_STATUS reply laid out as dm-ioctl.c's retrieve_status() lays it out. */
static size_t build_reply(char *buf, size_t size, const char *const *types, const char *const *params,
			  size_t n)
{
	struct dm_ioctl io = {
		.version = { DM_VERSION_MAJOR, 0, 0 },
		.data_size = (uint32_t)size,
		.data_start = sizeof(struct dm_ioctl),
		.target_count = (uint32_t)n,
	};
	size_t off = 0, used = io.data_start;
	char *data = buf + io.data_start;

	memset(buf, 0, size);
	for (size_t i = 0; i < n; i++) {
		struct dm_target_spec spec = { .sector_start = i * 1024, .length = 1024 };
		size_t len = strlen(params[i]) + 1, spec_off = off;

		strncpy(spec.target_type, types[i], sizeof(spec.target_type) - 1);
		assert_true(io.data_start + spec_off + sizeof(spec) + len <= size);
		memcpy(data + spec_off + sizeof(spec), params[i], len);
		used = io.data_start + spec_off + sizeof(spec) + len;
		/* The next spec starts 8-byte aligned; next counts from the first spec. */
		off = (spec_off + sizeof(spec) + len + 7) & ~(size_t)7;
		spec.next = (uint32_t)off;
		memcpy(data + spec_off, &spec, sizeof(spec));
	}
	if (n)
		io.data_size = (uint32_t)used;
	memcpy(buf, &io, sizeof(io));
	return used;
}

static void patch_ioctl(char *buf, void (*patch)(struct dm_ioctl *io))
{
	struct dm_ioctl io;

	memcpy(&io, buf, sizeof(io));
	patch(&io);
	memcpy(buf, &io, sizeof(io));
}

static void grow_data_size(struct dm_ioctl *io) { io->data_size = 1u << 20; }
static void start_beyond(struct dm_ioctl *io) { io->data_start = io->data_size + 8; }
static void start_inside_header(struct dm_ioctl *io) { io->data_start = 8; }
static void cut_last_nul(struct dm_ioctl *io) { io->data_size -= 1; }
static void more_targets(struct dm_ioctl *io) { io->target_count = 3; }
static void buffer_full(struct dm_ioctl *io) { io->flags |= DM_BUFFER_FULL_FLAG; }

static void test_dm_ioctl_parse(void **state)
{
	static const char *const types[] = { "linear", "thin-pool" };
	static const char *const params[] = { "", "1 6213/25600 1591023/1638400 - rw discard_passdown "
					      "queue_if_no_space - 1024 " };
	_Alignas(8) char buf[2048];
	struct dm_status st = {};
	struct dm_target_spec spec;
	size_t used;

	used = build_reply(buf, sizeof(buf), types, params, 2);
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), 0);
	assert_int_equal(st.types.n, 2);
	assert_string_equal(st.types.items[0], "linear");
	assert_string_equal(st.params.items[0], "");
	assert_string_equal(st.types.items[1], "thin-pool");
	assert_string_equal(st.params.items[1], params[1]);
	dm_status_clear(&st);
	/* The reply may be exactly as long as what it holds. */
	assert_int_equal(dm_ioctl_status_parse(buf, used, &st), 0);
	dm_status_clear(&st);

	/* No table: no targets, not an error. */
	build_reply(buf, sizeof(buf), types, params, 0);
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), 0);
	assert_int_equal(st.types.n, 0);

	/* Replies that do not hold together. */
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(struct dm_ioctl) - 1, &st), -EINVAL);
	build_reply(buf, sizeof(buf), types, params, 2);
	assert_int_equal(dm_ioctl_status_parse(buf, used - 1, &st), -EINVAL);
	static void (*const patches[])(struct dm_ioctl *) = {
		grow_data_size, start_beyond, start_inside_header, cut_last_nul, more_targets,
	};
	for (size_t i = 0; i < ARRAY_SIZE(patches); i++) {
		build_reply(buf, sizeof(buf), types, params, 2);
		patch_ioctl(buf, patches[i]);
		assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), -EINVAL);
		dm_status_clear(&st);
	}
	build_reply(buf, sizeof(buf), types, params, 2);
	patch_ioctl(buf, buffer_full);
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), -ENOBUFS);
	dm_status_clear(&st);

	/* A next offset that goes backwards would loop forever. */
	build_reply(buf, sizeof(buf), types, params, 2);
	memcpy(&spec, buf + sizeof(struct dm_ioctl), sizeof(spec));
	spec.next = 0;
	memcpy(buf + sizeof(struct dm_ioctl), &spec, sizeof(spec));
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), -EINVAL);
	dm_status_clear(&st);

	/* A target name filling all 16 bytes without a NUL stays within them. */
	build_reply(buf, sizeof(buf), types, params, 1);
	memcpy(&spec, buf + sizeof(struct dm_ioctl), sizeof(spec));
	memset(spec.target_type, 'x', sizeof(spec.target_type));
	memcpy(buf + sizeof(struct dm_ioctl), &spec, sizeof(spec));
	assert_int_equal(dm_ioctl_status_parse(buf, sizeof(buf), &st), 0);
	assert_int_equal(strlen(st.types.items[0]), sizeof(spec.target_type));
	dm_status_clear(&st);
}

/* ---- fixture machines: refusals --------------------------------------- */

#define FULL_POOL_MESSAGE                                                                           \
	"dm-2 (vg_full-pool-tpool) is a thin pool 97.1% full (data): a freeze of /data would hang on " \
	"the first write it cannot allocate; extend the pool (lvextend -L +SIZE vg_full/pool) or "     \
	"exclude its filesystems"

static void test_thin_pool_machine(void **state)
{
	char root[4096];

	fixture_root("thin-pool", root, sizeof(root));
	expect_refusal(root, "/data", FULL_POOL_MESSAGE);
	/* The disk ID of the full pool's PV says the same. */
	expect_refusal(root, "d-bp1k2n5q8t1w4z7c0f3h", FULL_POOL_MESSAGE);
	expect_refusal(root, NULL, FULL_POOL_MESSAGE);
	/* vg_ok's pool is 42 % full. */
	expect_safe(root, "/srv", 0);
	expect_safe(root, "d-bp1r6u9x2a5d8g1j4m7p", 0);
	expect_safe(root, "/", 0);
}

static void test_thin_pool_variants(void **state)
{
	static const char head[] = "vg_full-pool-tpool: 0 209715200 thin-pool ";
	static const struct {
		const char *status;
		const char *message;   /* NULL: no refusal */
	} cases[] = {
		{ "1 24400/25600 800000/1638400 - rw discard_passdown queue_if_no_space - 1024 ",
		  "dm-2 (vg_full-pool-tpool) is a thin pool 95.3% full (metadata): a freeze of /data would hang "
		  "on the first write it cannot allocate; extend the pool (lvextend --poolmetadatasize +SIZE "
		  "vg_full/pool) or exclude its filesystems" },
		/* Both over: the fuller one is named. */
		{ "1 25000/25600 1560000/1638400 - rw discard_passdown queue_if_no_space - 1024 ",
		  "dm-2 (vg_full-pool-tpool) is a thin pool 97.6% full (metadata): a freeze of /data would hang "
		  "on the first write it cannot allocate; extend the pool (lvextend --poolmetadatasize +SIZE "
		  "vg_full/pool) or exclude its filesystems" },
		/* Exactly 95 % is not above 95 %; one block more is. */
		{ "1 100/25600 1556480/1638400 - rw discard_passdown queue_if_no_space - 1024 ", NULL },
		{ "1 100/25600 1556481/1638400 - rw discard_passdown queue_if_no_space - 1024 ",
		  "dm-2 (vg_full-pool-tpool) is a thin pool 95.0% full (data): a freeze of /data would hang on "
		  "the first write it cannot allocate; extend the pool (lvextend -L +SIZE vg_full/pool) or "
		  "exclude its filesystems" },
		{ "1 6213/25600 1638400/1638400 - out_of_data_space discard_passdown queue_if_no_space - 1024 ",
		  "dm-2 (vg_full-pool-tpool) is a thin pool out of data space: a freeze of /data would hang on "
		  "the first write it cannot allocate; extend the pool (lvextend -L +SIZE vg_full/pool) or "
		  "exclude its filesystems" },
		{ "1 6213/25600 1000/1638400 - ro discard_passdown queue_if_no_space needs_check 1024 ",
		  "dm-2 (vg_full-pool-tpool) is a thin pool in read-only mode: the writes of the freeze of "
		  "/data that need new blocks would fail; repair it (lvconvert --repair vg_full/pool) or "
		  "exclude its filesystems" },
		{ "Fail",
		  "dm-2 (vg_full-pool-tpool) is a thin pool in fail mode: every write of the freeze of /data "
		  "would fail; repair it (lvconvert --repair vg_full/pool) or exclude its filesystems" },
		/* What we cannot read refuses nothing. */
		{ "Error", NULL },
		{ "1 6213/25600 1591023/1638400", NULL },
		{ "", NULL },
	};
	struct machine_copy *m;
	char text[1024];

	m = machine_copy(state, "thin-pool");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(text, sizeof(text), "%s%s\n", head, cases[i].status);
		put_file(m->root, "dmsetup-status", text);
		if (cases[i].message)
			expect_refusal(m->root, "/data", cases[i].message);
		else
			expect_safe(m->root, "/data", 0);
	}
	/* LVM names double the dashes inside VG and LV names. */
	put_file(m->root, "sys/block/dm-2/dm/name", "my--vg-thin--pool-tpool\n");
	put_file(m->root, "dmsetup-status", "my--vg-thin--pool-tpool: 0 209715200 thin-pool 1 6213/25600 "
		 "1591023/1638400 - rw discard_passdown queue_if_no_space - 1024 \n");
	expect_refusal(m->root, "/data",
		       "dm-2 (my--vg-thin--pool-tpool) is a thin pool 97.1% full (data): a freeze of /data would "
		       "hang on the first write it cannot allocate; extend the pool (lvextend -L +SIZE "
		       "my-vg/thin-pool) or exclude its filesystems");
	/* A pool that is not LVM's (docker's devicemapper driver, dmsetup by hand). */
	put_file(m->root, "sys/block/dm-2/dm/uuid", "\n");
	expect_refusal(m->root, "/data",
		       "dm-2 (my--vg-thin--pool-tpool) is a thin pool 97.1% full (data): a freeze of /data would "
		       "hang on the first write it cannot allocate; extend the pool (grow its data device) or "
		       "exclude its filesystems");

	/* Without the dump's dmsetup status, only sysfs speaks: nothing to say about pools. */
	remove_file(m->root, "dmsetup-status");
	expect_safe(m->root, "/data", 0);
	expect_safe(m->root, NULL, 0);
}

#define DEAD_LUN_MESSAGE(why)                                                                          \
	"dm-0 (mpatha) is a multipath device with no active path (" why "): a freeze of /srv/db would " \
	"queue forever; restore a path or exclude it"

static void test_multipath_machine(void **state)
{
	char root[4096];

	fixture_root("mpath-nopath", root, sizeof(root));
	expect_refusal(root, "/srv/db", DEAD_LUN_MESSAGE("2 paths, all failed"));
	expect_refusal(root, "/dev/mapper/mpatha", DEAD_LUN_MESSAGE("2 paths, all failed"));
	expect_refusal(root, NULL, DEAD_LUN_MESSAGE("2 paths, all failed"));
	expect_safe(root, "/srv/backup", 0);
	expect_safe(root, "mpathb", 0);
	expect_safe(root, "/", 0);
}

static void test_multipath_sysfs_fallback(void **state)
{
	struct machine_copy *m;

	m = machine_copy(state, "mpath-nopath");
	remove_file(m->root, "dmsetup-status");
	/* sda and sdb are transport-offline, sdc is running. */
	expect_refusal(m->root, "/srv/db", DEAD_LUN_MESSAGE("2 paths, none running"));
	expect_safe(m->root, "/srv/backup", 0);
	put_file(m->root, "sys/block/sdb/device/state", "blocked\n");
	expect_refusal(m->root, "/srv/db", DEAD_LUN_MESSAGE("2 paths, none running"));
	put_file(m->root, "sys/block/sdb/device/state", "running\n");
	expect_safe(m->root, "/srv/db", 0);
	/* A path whose state cannot be read may be alive. */
	put_file(m->root, "sys/block/sdb/device/state", "offline\n");
	remove_file(m->root, "sys/block/sda/device/state");
	expect_safe(m->root, "/srv/db", 0);

	/* The dm status wins over sysfs: here it says a path is active. */
	put_file(m->root, "sys/block/sda/device/state", "offline\n");
	put_file(m->root, "dmsetup-status", "mpatha: 0 2147483648 multipath 2 0 1 0 1 1 A 0 2 0 8:0 A 0 8:16 F 1 \n");
	expect_safe(m->root, "/srv/db", 0);
	/* ... and that no path is left at all. */
	put_file(m->root, "dmsetup-status", "mpatha: 0 2147483648 multipath 2 1 0 0 0 0 \n");
	expect_refusal(m->root, "/srv/db", DEAD_LUN_MESSAGE("it has no paths"));
	put_file(m->root, "dmsetup-status", "mpatha: 0 2147483648 multipath 2 0 1 0 1 1 E 0 1 0 8:0 F 9 \n");
	expect_refusal(m->root, "/srv/db", DEAD_LUN_MESSAGE("its only path failed"));
	/* A status we cannot read falls back to sysfs, which says offline. */
	put_file(m->root, "dmsetup-status", "mpatha: 0 2147483648 multipath 2 0 1 0 1 1 E 0 1\n");
	expect_refusal(m->root, "/srv/db", DEAD_LUN_MESSAGE("2 paths, none running"));
}

static void test_loop_dm_edges(void **state)
{
	struct machine_copy *m;
	char root[4096];

	fixture_root("loop-dm-edges", root, sizeof(root));
	expect_refusal(root, "d-uf6p2h5m8c1q4f7j0d3x",
		       "dm-0 (vg_susp-lv0) is suspended: a freeze of /srv/suspended would wait for it "
		       "forever; resume it (dmsetup resume vg_susp-lv0) first");
	/* mpatha: no dmsetup-status, paths without device/state: unknown, so not refused. */
	expect_safe(root, "/dev/mapper/mpatha", 0);
	expect_safe(root, "/mnt/vm0", 0);
	expect_safe(root, "/images", 0);

	/* A loop image on the suspended LV: the freeze of the loop filesystem writes there. */
	m = machine_copy(state, "loop-dm-edges");
	put_file(m->root, "sys/block/loop0/loop/backing_file", "/srv/suspended/disk0.img\n");
	expect_refusal(m->root, "/mnt/vm0",
		       "dm-0 (vg_susp-lv0) is suspended: a freeze of /mnt/vm0 would wait for it "
		       "forever; resume it (dmsetup resume vg_susp-lv0) first");
	/* Resumed since the topology was read: sysfs is asked again. */
	put_file(m->root, "sys/block/dm-0/dm/suspended", "0\n");
	expect_safe(m->root, "/mnt/vm0", 0);
}

/* ---- md sync_action --------------------------------------------------- */

#define SYNC_ACTION "sys/block/md0/md/sync_action"

static void test_md_collect(void **state)
{
	struct machine_copy *m;
	struct run run;

	m = machine_copy(state, "md-raid1");
	run_check(m->root, "/srv", &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.n_md, 1);
	assert_string_equal(run.md[0].name, "md0");
	assert_string_equal(run.md[0].saved, "idle");
	assert_true(run.md[0].fd >= 0);
	assert_false(run.md[0].frozen_by_us);
	run_done(&run);

	/* The whole machine: md0 once; / and /boot/efi are not on md. */
	expect_safe(m->root, NULL, 1);
	expect_safe(m->root, "/", 0);
	expect_safe(m->root, "/boot/efi", 0);
	/* No sync_action (raid0, linear): nothing to pause. */
	remove_file(m->root, SYNC_ACTION);
	expect_safe(m->root, "/srv", 0);
}

static void freeze_restore(const char *root, const char *before, const char *while_frozen,
			   const char *after)
{
	struct run run;

	put_file(root, SYNC_ACTION, before);
	run_check(root, "/srv", &run);
	assert_int_equal(run.r, 0);
	assert_int_equal(run.n_md, 1);
	assert_int_equal(md_sync_freeze(run.md, run.n_md), 0);
	assert_string_equal(first_line(root, SYNC_ACTION), while_frozen);
	/* Twice is once. */
	assert_int_equal(md_sync_freeze(run.md, run.n_md), 0);
	md_sync_restore(run.md, run.n_md);
	assert_string_equal(first_line(root, SYNC_ACTION), after);
	assert_false(run.md[0].frozen_by_us);
	run_done(&run);
}

static void test_md_freeze_restore(void **state)
{
	struct machine_copy *m;

	m = machine_copy(state, "md-raid1");
	freeze_restore(m->root, "idle\n", "frozen", "idle");
	/* md resumes a resync or a recovery by itself once unfrozen. */
	freeze_restore(m->root, "resync\n", "frozen", "idle");
	freeze_restore(m->root, "recover\n", "frozen", "idle");
	/* A user's check or repair is started again. */
	freeze_restore(m->root, "check\n", "frozen", "check");
	freeze_restore(m->root, "repair\n", "frozen", "repair");
	/* Someone else froze it: neither frozen nor unfrozen by us. */
	freeze_restore(m->root, "frozen\n", "frozen", "frozen");
	assert_string_equal(slurp(m->root, SYNC_ACTION), "frozen\n");

	/* The exact bytes: "frozen\n" over "idle\n", then "idle\n" over that. */
	put_file(m->root, SYNC_ACTION, "idle\n");
	{
		struct run run;

		run_check(m->root, "/srv", &run);
		assert_int_equal(md_sync_freeze(run.md, run.n_md), 0);
		assert_string_equal(slurp(m->root, SYNC_ACTION), "frozen\n");
		md_sync_restore(run.md, run.n_md);
		assert_string_equal(slurp(m->root, SYNC_ACTION), "idle\nn\n");
		/* Restoring again writes nothing. */
		put_file(m->root, SYNC_ACTION, "resync\n");
		md_sync_restore(run.md, run.n_md);
		assert_string_equal(slurp(m->root, SYNC_ACTION), "resync\n");
		run_done(&run);
	}
}

static void test_md_write_errors(void **state)
{
	struct machine_copy *m;
	char path[8192];
	struct md_sync *md = calloc(3, sizeof(*md));
	int fd;

	assert_non_null(md);
	m = machine_copy(state, "md-raid1");
	snprintf(path, sizeof(path), "%s/%s", m->root, SYNC_ACTION);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	/* A descriptor that cannot be written, a closed one, then a good one. */
	md[0] = (struct md_sync){ .fd = open(path, O_RDONLY | O_CLOEXEC), .name = "md1", .saved = "idle" };
	md[1] = (struct md_sync){ .fd = -1, .name = "md2", .saved = "idle" };
	md[2] = (struct md_sync){ .fd = fd, .name = "md0", .saved = "check" };
	assert_true(md[0].fd >= 0);
	errno = 4242;
	assert_int_equal(md_sync_freeze(md, 3), -EBADF);
	assert_int_equal(errno, 4242);
	assert_false(md[0].frozen_by_us);
	assert_false(md[1].frozen_by_us);
	assert_true(md[2].frozen_by_us);
	assert_string_equal(first_line(m->root, SYNC_ACTION), "frozen");
	md_sync_restore(md, 3);
	assert_int_equal(errno, 4242);
	assert_string_equal(first_line(m->root, SYNC_ACTION), "check");
	md_sync_free(md, 3);
	md_sync_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thin_pool_parse),
		cmocka_unit_test(test_multipath_parse),
		cmocka_unit_test(test_dmsetup_lookup),
		cmocka_unit_test(test_dm_ioctl_parse),
		cmocka_unit_test(test_thin_pool_machine),
		cmocka_unit_test_teardown(test_thin_pool_variants, remove_copy),
		cmocka_unit_test(test_multipath_machine),
		cmocka_unit_test_teardown(test_multipath_sysfs_fallback, remove_copy),
		cmocka_unit_test_teardown(test_loop_dm_edges, remove_copy),
		cmocka_unit_test_teardown(test_md_collect, remove_copy),
		cmocka_unit_test_teardown(test_md_freeze_restore, remove_copy),
		cmocka_unit_test_teardown(test_md_write_errors, remove_copy),
	};

	/* Roots with their symlinks made: see tests/fixtures/materialize.sh. */
	fixture_roots = getenv("FIXTURE_ROOTS");
	if (!fixture_roots) {
		fprintf(stderr, "FIXTURE_ROOTS is not set: skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
