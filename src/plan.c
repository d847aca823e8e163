/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Public entry points of the plan: construction, accessors, the JSON document. */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/sysmacros.h>

#include "plan-internal.h"

FRZ_EXPORT int frz_plan_new(struct frz_ctx *ctx, const char *const *targets, size_t n_targets,
			    unsigned flags, struct frz_plan **ret_plan)
{
	struct frz_plan *plan;
	int r;

	if (!ctx || !ret_plan || (n_targets && !targets))
		return -EINVAL;
	plan = calloc(1, sizeof(*plan));
	if (!plan)
		return -ENOMEM;
	plan->refcount = 1;
	plan->ctx = frz_ctx_ref(ctx);
	r = topology_new(ctx, &plan->topo);
	if (r >= 0)
		r = plan_build(plan, targets, n_targets, flags);
	if (r < 0) {
		frz_plan_unref(plan);
		return r;
	}
	*ret_plan = plan;
	return 0;
}

FRZ_EXPORT struct frz_plan *frz_plan_ref(struct frz_plan *plan)
{
	if (plan)
		plan->refcount++;
	return plan;
}

FRZ_EXPORT struct frz_plan *frz_plan_unref(struct frz_plan *plan)
{
	if (!plan || --plan->refcount > 0)
		return NULL;
	ptrvec_clear(&plan->disks);
	ptrvec_clear(&plan->filesystems);
	ptrvec_clear(&plan->freeze_order);
	ptrvec_free_items(&plan->warnings);
	topology_free(plan->topo);
	frz_ctx_unref(plan->ctx);
	free(plan);
	return NULL;
}

FRZ_EXPORT size_t frz_plan_get_n_disks(const struct frz_plan *plan) { return plan->disks.n; }
FRZ_EXPORT const struct frz_disk *frz_plan_get_disk(const struct frz_plan *plan, size_t i)
{
	return i < plan->disks.n ? plan->disks.items[i] : NULL;
}
FRZ_EXPORT size_t frz_plan_get_n_filesystems(const struct frz_plan *plan) { return plan->filesystems.n; }
FRZ_EXPORT const struct frz_fs *frz_plan_get_filesystem(const struct frz_plan *plan, size_t i)
{
	return i < plan->filesystems.n ? plan->filesystems.items[i] : NULL;
}
FRZ_EXPORT size_t frz_plan_get_n_freeze_order(const struct frz_plan *plan) { return plan->freeze_order.n; }
FRZ_EXPORT const struct frz_fs *frz_plan_get_freeze_order(const struct frz_plan *plan, size_t i)
{
	return i < plan->freeze_order.n ? plan->freeze_order.items[i] : NULL;
}
FRZ_EXPORT size_t frz_plan_get_n_warnings(const struct frz_plan *plan) { return plan->warnings.n; }
FRZ_EXPORT const char *frz_plan_get_warning(const struct frz_plan *plan, size_t i)
{
	return i < plan->warnings.n ? plan->warnings.items[i] : NULL;
}

FRZ_EXPORT const char *frz_disk_get_id(const struct frz_disk *disk) { return disk->id; }
FRZ_EXPORT const char *frz_disk_get_serial(const struct frz_disk *disk) { return disk->serial; }
FRZ_EXPORT enum frz_provider frz_disk_get_provider(const struct frz_disk *disk) { return disk->provider; }
FRZ_EXPORT const char *frz_disk_get_device(const struct frz_disk *disk) { return disk->device; }

/* Reachable mountpoints come first; hidden ones are named only when no other is. */
FRZ_EXPORT size_t frz_fs_get_n_mountpoints(const struct frz_fs *fs)
{
	size_t n = 1;
	while (n < fs->mounts.n && !((struct frz_mount *)fs->mounts.items[n])->hidden)
		n++;
	return n;
}

FRZ_EXPORT const char *frz_fs_get_mountpoint(const struct frz_fs *fs, size_t i)
{
	return i < frz_fs_get_n_mountpoints(fs) ? ((struct frz_mount *)fs->mounts.items[i])->mountpoint : NULL;
}
FRZ_EXPORT const char *frz_fs_get_fstype(const struct frz_fs *fs) { return fs->fstype; }
FRZ_EXPORT const char *frz_fs_get_source(const struct frz_fs *fs) { return fs->source; }
FRZ_EXPORT dev_t frz_fs_get_devno(const struct frz_fs *fs) { return fs->devno; }
FRZ_EXPORT size_t frz_fs_get_n_disks(const struct frz_fs *fs) { return fs->disks.n; }
FRZ_EXPORT const struct frz_disk *frz_fs_get_disk(const struct frz_fs *fs, size_t i)
{
	return i < fs->disks.n ? fs->disks.items[i] : NULL;
}
FRZ_EXPORT size_t frz_fs_get_n_depends_on(const struct frz_fs *fs) { return fs->deps.n; }
FRZ_EXPORT const struct frz_fs *frz_fs_get_depends_on(const struct frz_fs *fs, size_t i)
{
	return i < fs->deps.n ? ((struct fs_dep *)fs->deps.items[i])->fs : NULL;
}
FRZ_EXPORT enum frz_method frz_fs_get_method(const struct frz_fs *fs) { return fs->method; }
FRZ_EXPORT enum frz_consistency frz_fs_get_consistency(const struct frz_fs *fs) { return fs->consistency; }

FRZ_EXPORT const char *frz_provider_to_string(enum frz_provider provider)
{
	switch (provider) {
	case FRZ_PROVIDER_LOCAL: return "local";
	case FRZ_PROVIDER_ALIYUN: return "aliyun";
	case FRZ_PROVIDER_AWS: return "aws";
	case FRZ_PROVIDER_USER: return "user";
	}
	return "unknown";
}

FRZ_EXPORT const char *frz_method_to_string(enum frz_method method)
{
	switch (method) {
	case FRZ_METHOD_FIFREEZE: return "fifreeze";
	case FRZ_METHOD_FLUSH: return "flush";
	case FRZ_METHOD_SKIP: return "skip";
	}
	return "unknown";
}

FRZ_EXPORT const char *frz_consistency_to_string(enum frz_consistency consistency)
{
	switch (consistency) {
	case FRZ_CONSISTENCY_NONE: return "none";
	case FRZ_CONSISTENCY_CRASH: return "crash";
	case FRZ_CONSISTENCY_FS: return "fs";
	}
	return "unknown";
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static bool add(cJSON *obj, const char *name, cJSON *item)
{
	return item && cJSON_AddItemToObject(obj, name, item);
}

static cJSON *fs_to_json(const struct frz_fs *fs)
{
	cJSON *o = cJSON_CreateObject(), *mps = cJSON_CreateArray(), *disks = cJSON_CreateArray(),
	      *deps = cJSON_CreateArray();
	char devno[32];
	bool ok = o && mps && disks && deps;

	for (size_t i = 0; ok && i < frz_fs_get_n_mountpoints(fs); i++)
		ok = cJSON_AddItemToArray(mps, cJSON_CreateString(frz_fs_get_mountpoint(fs, i)));
	for (size_t i = 0; ok && i < fs->disks.n; i++)
		ok = cJSON_AddItemToArray(disks, cJSON_CreateString(((struct frz_disk *)fs->disks.items[i])->id));
	for (size_t i = 0; ok && i < fs->deps.n; i++)
		ok = cJSON_AddItemToArray(deps, cJSON_CreateString(
				fs_first_mountpoint(((struct fs_dep *)fs->deps.items[i])->fs)));
	snprintf(devno, sizeof(devno), "%u:%u", major(fs->devno), minor(fs->devno));
	ok = ok && add(o, "mountpoints", mps);
	if (!ok) {
		cJSON_Delete(mps);
		mps = NULL;
	}
	ok = ok && add(o, "fstype", cJSON_CreateString(fs->fstype)) &&
	     add(o, "source", cJSON_CreateString(fs->source)) && add(o, "devno", cJSON_CreateString(devno));
	ok = ok && add(o, "disks", disks);
	if (!ok) {
		cJSON_Delete(disks);
		disks = NULL;
	}
	ok = ok && add(o, "method", cJSON_CreateString(frz_method_to_string(fs->method))) &&
	     add(o, "consistency", cJSON_CreateString(frz_consistency_to_string(fs->consistency)));
	ok = ok && add(o, "depends_on", deps);
	if (!ok) {
		cJSON_Delete(deps);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

FRZ_EXPORT int frz_plan_to_json(const struct frz_plan *plan, char **ret_json)
{
	cJSON *root = cJSON_CreateObject(), *disks = NULL, *fss = NULL, *order = NULL, *warnings = NULL;
	char *text;
	bool ok = root;

	if (ok && (ok = (disks = cJSON_AddArrayToObject(root, "disks"))))
		for (size_t i = 0; ok && i < plan->disks.n; i++) {
			const struct frz_disk *d = plan->disks.items[i];
			cJSON *o = cJSON_CreateObject();
			ok = o && cJSON_AddItemToArray(disks, o) && add(o, "id", cJSON_CreateString(d->id)) &&
			     add(o, "serial", string_or_null(d->serial)) &&
			     add(o, "provider", cJSON_CreateString(frz_provider_to_string(d->provider))) &&
			     add(o, "device", cJSON_CreateString(d->device));
		}
	if (ok && (ok = (fss = cJSON_AddArrayToObject(root, "filesystems"))))
		for (size_t i = 0; ok && i < plan->filesystems.n; i++) {
			cJSON *o = fs_to_json(plan->filesystems.items[i]);
			ok = o && cJSON_AddItemToArray(fss, o);
		}
	if (ok && (ok = (order = cJSON_AddArrayToObject(root, "freeze_order"))))
		for (size_t i = 0; ok && i < plan->freeze_order.n; i++)
			ok = cJSON_AddItemToArray(order, cJSON_CreateString(
					fs_first_mountpoint(plan->freeze_order.items[i])));
	if (ok && (ok = (warnings = cJSON_AddArrayToObject(root, "warnings"))))
		for (size_t i = 0; ok && i < plan->warnings.n; i++)
			ok = cJSON_AddItemToArray(warnings, cJSON_CreateString(plan->warnings.items[i]));
	text = ok ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	*ret_json = text;
	return 0;
}
