/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public API as an embedder sees it: only <freezeshim/freezeshim.h>,
 * linked against the installed libfreezeshim.  Plans of fixture machines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <cmocka.h>

#include <freezeshim/freezeshim.h>

static const char *fixtures;

static struct frz_ctx *ctx_for(const char *machine)
{
	struct frz_ctx *ctx;
	char root[4096];

	assert_int_equal(frz_ctx_new(&ctx), 0);
	snprintf(root, sizeof(root), "%s/%s/root", fixtures, machine);
	assert_int_equal(frz_ctx_set_sysroot(ctx, root), 0);
	return ctx;
}

static size_t order_index(const struct frz_plan *plan, const char *mountpoint)
{
	for (size_t i = 0; i < frz_plan_get_n_freeze_order(plan); i++)
		if (strcmp(frz_fs_get_mountpoint(frz_plan_get_freeze_order(plan, i), 0), mountpoint) == 0)
			return i;
	fail_msg("%s not in the freeze order", mountpoint);
	return 0;
}

static void test_ecs_default(void **state)
{
	struct frz_ctx *ctx = ctx_for("aliyun-ecs-virtio");
	struct frz_plan *plan;
	const struct frz_fs *data = NULL;

	assert_int_equal(frz_plan_new(ctx, NULL, 0, 0, &plan), 0);
	assert_int_equal(frz_plan_get_n_disks(plan), 4);
	for (size_t i = 0; i < frz_plan_get_n_disks(plan); i++) {
		const struct frz_disk *d = frz_plan_get_disk(plan, i);
		assert_int_equal(frz_disk_get_provider(d), FRZ_PROVIDER_ALIYUN);
		assert_memory_equal(frz_disk_get_id(d), "d-", 2);
		assert_string_equal(frz_disk_get_id(d) + 2, frz_disk_get_serial(d));
	}
	for (size_t i = 0; i < frz_plan_get_n_filesystems(plan); i++)
		if (strcmp(frz_fs_get_mountpoint(frz_plan_get_filesystem(plan, i), 0), "/data") == 0)
			data = frz_plan_get_filesystem(plan, i);
	assert_non_null(data);
	/* The bind mount is the same filesystem. */
	assert_int_equal(frz_fs_get_n_mountpoints(data), 2);
	assert_string_equal(frz_fs_get_mountpoint(data, 1), "/srv/www");
	assert_int_equal(frz_fs_get_method(data), FRZ_METHOD_FIFREEZE);
	assert_int_equal(frz_fs_get_consistency(data), FRZ_CONSISTENCY_FS);
	assert_string_equal(frz_fs_get_fstype(data), "ext4");
	assert_int_equal(frz_fs_get_n_disks(data), 1);
	assert_null(frz_fs_get_mountpoint(data, 2));
	assert_null(frz_plan_get_disk(plan, 99));

	char *json = NULL;
	assert_int_equal(frz_plan_to_json(plan, &json), 0);
	assert_non_null(strstr(json, "\"freeze_order\""));
	free(json);
	frz_plan_unref(plan);
	frz_ctx_unref(ctx);
}

static void test_ecs_closure(void **state)
{
	struct frz_ctx *ctx = ctx_for("aliyun-ecs-virtio");
	const char *vdc[] = { "d-bp1a8d2kq7mzr3t5uv6e" };
	struct frz_plan *plan = NULL;

	assert_int_equal(frz_plan_new(ctx, vdc, 1, 0, &plan), -FRZ_ERR_SPANNING);
	assert_null(plan);
	assert_non_null(strstr(frz_ctx_get_error(ctx), "d-bp1h2j9t0xw4nq6e8c1p"));
	assert_int_equal(frz_plan_new(ctx, vdc, 1, FRZ_PLAN_INCLUDE_SPANNING, &plan), 0);
	assert_int_equal(frz_plan_get_n_disks(plan), 2);
	assert_int_equal(frz_plan_get_n_freeze_order(plan), 2);
	frz_plan_unref(plan);
	frz_ctx_unref(ctx);
}

static void test_container_host_order(void **state)
{
	struct frz_ctx *ctx = ctx_for("container-host");
	struct frz_plan *plan;
	size_t docker, home, fuse = (size_t)-1, overlays = 0;

	assert_int_equal(frz_plan_new(ctx, NULL, 0, 0, &plan), 0);
	docker = order_index(plan, "/var/lib/docker");
	home = order_index(plan, "/home");
	for (size_t i = 0; i < frz_plan_get_n_freeze_order(plan); i++) {
		const struct frz_fs *fs = frz_plan_get_freeze_order(plan, i);
		if (strcmp(frz_fs_get_fstype(fs), "overlay") == 0) {
			overlays++;
			/* Every overlay is flushed before its upper filesystem is frozen. */
			assert_true(i < docker);
			assert_int_equal(frz_fs_get_method(fs), FRZ_METHOD_FLUSH);
			assert_int_equal(frz_fs_get_consistency(fs), FRZ_CONSISTENCY_FS);
			assert_int_equal(frz_fs_get_n_depends_on(fs), 1);
			assert_string_equal(frz_fs_get_mountpoint(frz_fs_get_depends_on(fs, 0), 0),
					    "/var/lib/docker");
		}
		if (strcmp(frz_fs_get_fstype(fs), "fuse.fuse-overlayfs") == 0) {
			fuse = i;
			assert_int_equal(frz_fs_get_method(fs), FRZ_METHOD_FLUSH);
			assert_int_equal(frz_fs_get_consistency(fs), FRZ_CONSISTENCY_CRASH);
		}
		/* lxcfs keeps no store on a disk: not in the plan. */
		assert_string_not_equal(frz_fs_get_fstype(fs), "fuse.lxcfs");
	}
	assert_int_equal(overlays, 500);
	assert_true(fuse < home);
	frz_plan_unref(plan);
	frz_ctx_unref(ctx);
}

static void test_bad_input(void **state)
{
	struct frz_ctx *ctx = ctx_for("aws-nitro");
	const char *unknown[] = { "vol-0000000000000000" };
	const char *notmount[] = { "/data/sub" };
	struct frz_plan *plan = NULL;

	assert_int_equal(frz_plan_new(ctx, unknown, 1, 0, &plan), -FRZ_ERR_UNKNOWN_DISK);
	assert_int_equal(frz_plan_new(ctx, notmount, 1, 0, &plan), -FRZ_ERR_NOT_MOUNTPOINT);
	assert_null(plan);
	assert_int_equal(frz_ctx_set_sysroot(ctx, "/nonexistent-sysroot"), -FRZ_ERR_BAD_SYSROOT);
	/* A failed set keeps the previous root. */
	assert_non_null(strstr(frz_ctx_get_sysroot(ctx), "aws-nitro"));
	assert_int_equal(frz_plan_new(ctx, NULL, 0, 0, NULL), -EINVAL);
	frz_ctx_unref(ctx);
	assert_null(frz_ctx_unref(NULL));
	assert_null(frz_plan_unref(NULL));
}

/* A session on a machine dump: everything but the freeze itself. */
static void test_freeze_session_on_dump(void **state)
{
	struct frz_ctx *ctx = ctx_for("aliyun-ecs-virtio");
	struct frz_plan *plan = NULL;
	struct frz_freeze *f = NULL;

	assert_int_equal(frz_plan_new(ctx, NULL, 0, FRZ_PLAN_INCLUDE_SPANNING, &plan), 0);
	assert_int_equal(frz_freeze_new(plan, &f), 0);
	assert_int_equal(frz_freeze_set_timeout(f, 0), -EINVAL);
	assert_int_equal(frz_freeze_set_timeout(f, 2500), 0);
	assert_int_equal(frz_freeze_set_state_dir(f, "relative/dir"), -EINVAL);
	assert_int_equal(frz_freeze_set_window_pgid(f, -1), -EINVAL);
	/* A dump cannot be frozen: refused before anything is touched. */
	assert_int_equal(frz_freeze_prepare(f), -EINVAL);
	assert_non_null(strstr(frz_ctx_get_error(ctx), "root prefix"));
	assert_int_equal(frz_freeze_freeze(f), -EALREADY);
	assert_int_equal(frz_freeze_thaw(f), -EALREADY);
	assert_int_equal(frz_freeze_abort(f), -EINVAL);
	/* Results before any window: nothing reached, nothing timed. */
	assert_int_equal(frz_freeze_get_close_reason(f), FRZ_CLOSE_NONE);
	assert_int_equal(frz_freeze_get_pause_ns(f), 0);
	assert_int_equal(frz_freeze_get_outcome(f, 0), FRZ_OUTCOME_NONE);
	assert_null(frz_freeze_get_filesystem(f, 1000));
	assert_null(frz_freeze_unref(f));
	frz_plan_unref(plan);
	frz_ctx_unref(ctx);
	assert_null(frz_freeze_unref(NULL));
}

static void test_freeze_names(void **state)
{
	assert_string_equal(frz_outcome_to_string(FRZ_OUTCOME_BUSY), "busy");
	assert_string_equal(frz_outcome_to_string(FRZ_OUTCOME_NONE), "not-reached");
	assert_string_equal(frz_close_reason_to_string(FRZ_CLOSE_DEADLINE), "deadline");
	assert_string_equal(frz_close_reason_to_string((enum frz_close_reason)99), "unknown");
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_DEADLINE), 11);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_PAUSE_FAILED), 11);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_RESUME_FAILED), 12);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_LOCKED), 1);
	assert_int_equal(frz_error_to_exit_code(-FRZ_ERR_UNSAFE_STACK), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecs_default),
		cmocka_unit_test(test_ecs_closure),
		cmocka_unit_test(test_container_host_order),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_freeze_session_on_dump),
		cmocka_unit_test(test_freeze_names),
	};
	/* Roots with their symlinks made: see tests/fixtures/materialize.sh. */
	fixtures = getenv("FIXTURE_ROOTS");
	if (!fixtures) {
		fprintf(stderr, "set FIXTURE_ROOTS to the materialized fixture roots\n");
		return 99;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
