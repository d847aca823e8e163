/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan object shared by devmap/plan.c, the public accessors and the CLI. */
#pragma once

#include "devmap-internal.h"

struct frz_plan {
	int refcount;
	struct frz_ctx *ctx;
	struct topology *topo;
	struct ptrvec disks;        /* struct frz_disk *, by device name */
	struct ptrvec filesystems;  /* struct frz_fs *, by first mountpoint */
	struct ptrvec freeze_order; /* struct frz_fs * */
	struct ptrvec warnings;     /* char * */
};

int plan_build(struct frz_plan *plan, const char *const *targets, size_t n_targets, unsigned flags);
