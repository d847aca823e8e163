/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the internal helpers: hash map, paths, disk map parsing, fstype classes. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "devmap-internal.h"

static void test_hashmap_strings(void **state)
{
	struct hashmap h;
	char keys[2000][16];

	hashmap_init(&h, true);
	for (int i = 0; i < 2000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%d", i);
		assert_int_equal(hashmap_put_str(&h, keys[i], &keys[i]), 0);
	}
	assert_int_equal(h.n, 2000);
	for (int i = 0; i < 2000; i++)
		assert_ptr_equal(hashmap_get_str(&h, keys[i]), &keys[i]);
	assert_null(hashmap_get_str(&h, "key2000"));
	/* Only the first LEN bytes count: "key19" cut to 4 is "key1". */
	assert_ptr_equal(hashmap_get_strn(&h, "key19", 4), &keys[1]);
	assert_null(hashmap_get_strn(&h, "key19", 2));
	assert_ptr_equal(hashmap_get_strn(&h, "key19xyz", 5), &keys[19]);
	/* Replacing keeps one entry. */
	assert_int_equal(hashmap_put_str(&h, keys[5], NULL), 0);
	assert_int_equal(h.n, 2000);
	hashmap_clear(&h);
}

static void test_hashmap_u64(void **state)
{
	struct hashmap h;
	int v[3];

	hashmap_init(&h, false);
	assert_null(hashmap_get_u64(&h, 7));
	assert_int_equal(hashmap_put_u64(&h, 0, &v[0]), 0);
	assert_int_equal(hashmap_put_u64(&h, UINT64_MAX, &v[1]), 0);
	assert_int_equal(hashmap_put_u64(&h, (253ULL << 8) | 1, &v[2]), 0);
	assert_ptr_equal(hashmap_get_u64(&h, 0), &v[0]);
	assert_ptr_equal(hashmap_get_u64(&h, UINT64_MAX), &v[1]);
	assert_ptr_equal(hashmap_get_u64(&h, (253ULL << 8) | 1), &v[2]);
	assert_null(hashmap_get_u64(&h, 1));
	hashmap_clear(&h);
}

static void check_normalize(const char *in, const char *want)
{
	char *out = path_normalize(in);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void test_path_normalize(void **state)
{
	check_normalize("/", "/");
	check_normalize("//", "/");
	check_normalize("/data/", "/data");
	check_normalize("/data//www/./x/", "/data/www/x");
	check_normalize("/./a", "/a");
	/* ".." is not resolved: that would need lookups. */
	check_normalize("/a/../b", "/a/../b");
}

static void test_path_startswith(void **state)
{
	assert_true(path_startswith("/data/x", "/data"));
	assert_true(path_startswith("/data", "/data"));
	assert_false(path_startswith("/database", "/data"));
	assert_true(path_startswith("/anything", "/"));
	assert_false(path_startswith("relative", "/"));
}

static void check_join(const char *const *items, size_t n, size_t max, const char *want)
{
	struct ptrvec v = {};
	char *s;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(ptrvec_push(&v, (void *)items[i]), 0);
	s = ptrvec_join(&v, ", ", max);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	ptrvec_clear(&v);
}

static void test_ptrvec_join(void **state)
{
	static const char *const five[] = { "/a", "/b", "/c", "/d", "/e" };

	check_join(five, 0, 0, "");
	check_join(five, 1, 0, "/a");
	check_join(five, 5, 0, "/a, /b, /c, /d, /e");
	/* At most MAX shown: all when they fit, else MAX - 1 and "...". */
	check_join(five, 4, 4, "/a, /b, /c, /d");
	check_join(five, 5, 4, "/a, /b, /c, ...");
	check_join(five, 2, 1, "...");
}

static void test_fstype_classes(void **state)
{
	assert_true(fstype_is_fuse("fuse"));
	assert_true(fstype_is_fuse("fuse.sshfs"));
	assert_true(fstype_is_fuse("fuseblk"));
	assert_true(fstype_is_fuse("fuseblk.ntfs"));
	/* fusectl is the control filesystem, a pseudo one. */
	assert_false(fstype_is_fuse("fusectl"));
	assert_false(fstype_is_fuse("fuseext"));
	assert_true(fstype_can_freeze("ext4"));
	assert_true(fstype_can_freeze("xfs"));
	assert_true(fstype_can_freeze("btrfs"));
	assert_false(fstype_can_freeze("vfat"));
	assert_false(fstype_can_freeze("overlay"));
	assert_false(fstype_can_freeze("tmpfs"));
}

static void test_disk_map_parsing(void **state)
{
	struct frz_ctx *ctx;

	assert_int_equal(frz_ctx_new(&ctx), 0);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "/dev/loop3=d-abc"), 0);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop4=vol-0123"), 0);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop5"), -FRZ_ERR_BAD_DISK_MAP);
	assert_non_null(strstr(frz_ctx_get_error(ctx), "DEVICE=DISKID"));
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "=d-x"), -FRZ_ERR_BAD_DISK_MAP);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop6="), -FRZ_ERR_BAD_DISK_MAP);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "/dev/a/b=d-x"), -FRZ_ERR_BAD_DISK_MAP);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop6=d x"), -FRZ_ERR_BAD_DISK_MAP);
	/* The same device twice, or one ID for two devices, is ambiguous. */
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop3=d-other"), -FRZ_ERR_BAD_DISK_MAP);
	assert_int_equal(frz_ctx_add_disk_map_string(ctx, "loop7=d-abc"), -FRZ_ERR_BAD_DISK_MAP);
	assert_int_equal(ctx->disk_map.n, 2);
	frz_ctx_unref(ctx);
}

static void test_error_table(void **state)
{
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_UNKNOWN_DISK), 2);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_NOT_MOUNTPOINT), 2);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_BAD_DISK_MAP), 2);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_BAD_SYSROOT), 2);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_SPANNING), 1);
	assert_int_equal(frz_error_to_exit_code(-ENOMEM), 255);
	assert_string_equal(frz_strerror(-ENOENT), strerror(ENOENT));
	assert_non_null(frz_strerror(-(FRZ_ERR_MAX + 10)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashmap_strings),
		cmocka_unit_test(test_hashmap_u64),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_path_startswith),
		cmocka_unit_test(test_ptrvec_join),
		cmocka_unit_test(test_fstype_classes),
		cmocka_unit_test(test_disk_map_parsing),
		cmocka_unit_test(test_error_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
