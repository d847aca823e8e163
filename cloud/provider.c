/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The provider registry and what every provider shares: errors, items, verdict names. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "provider.h"

static const struct provider_ops *const providers[] = {
	&provider_local_ops,
	&provider_exec_ops,
};

const struct provider_ops *provider_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
		if (streq(providers[i]->name, name))
			return providers[i];
	return NULL;
}

const char *provider_names(void)
{
	return "local, exec";
}

const char *snapshot_verdict_to_string(enum snapshot_verdict v)
{
	switch (v) {
	case VERDICT_APP:
		return "app";
	case VERDICT_FS:
		return "fs";
	case VERDICT_CRASH:
		return "crash";
	}
	return "crash";
}

const char *snapshot_verdict_tag(enum snapshot_verdict v)
{
	switch (v) {
	case VERDICT_APP:
		return "APPConsistent";
	case VERDICT_FS:
		return "FsConsistent";
	case VERDICT_CRASH:
		return "CrashConsistent";
	}
	return "CrashConsistent";
}

int provider_new(const struct provider_ops *ops, const struct snapshot_request *req,
		 const _Atomic bool *window_closed, struct provider **ret)
{
	struct provider *p;

	if (!ops || !req)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->req = req;
	p->window_closed = window_closed;
	p->command_status = -1;
	*ret = p;
	return 0;
}

static void item_clear(struct snapshot_item *item)
{
	free(item->disk_id);
	free(item->device);
	free(item->snapshot_id);
	free(item->state);
	free(item->method);
}

void provider_free(struct provider *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->free)
		p->ops->free(p);
	for (size_t i = 0; i < p->n_items; i++)
		item_clear(&p->items[i]);
	free(p->items);
	free(p->group_id);
	free(p->error);
	free(p->output);
	free(p);
}

int provider_fail(struct provider *p, int code, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(p->error);
	/* Out of memory: the code still says what failed. */
	p->error = msg;
	return code;
}

int provider_add_item(struct provider *p, const char *disk_id, const char *device,
		      const char *snapshot_id, const char *state, uint64_t size, const char *method)
{
	struct snapshot_item item = { .size = size }, *items;

	items = reallocarray(p->items, p->n_items + 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	p->items = items;
	if ((disk_id && !(item.disk_id = strdup(disk_id))) ||
	    (device && !(item.device = strdup(device))) ||
	    (snapshot_id && !(item.snapshot_id = strdup(snapshot_id))) ||
	    (state && !(item.state = strdup(state))) ||
	    (method && !(item.method = strdup(method)))) {
		item_clear(&item);
		return -ENOMEM;
	}
	p->items[p->n_items++] = item;
	return 0;
}

bool provider_disk_excluded(const struct provider *p, const struct frz_disk *disk)
{
	char *const *ex = p->req->exclude_disks;

	for (size_t i = 0; ex && ex[i]; i++)
		if (streq(ex[i], frz_disk_get_id(disk)) || streq(ex[i], frz_disk_get_device(disk)))
			return true;
	return false;
}

int provider_check_excludes(struct provider *p)
{
	const struct frz_plan *plan = p->req->plan;
	char *const *ex = p->req->exclude_disks;

	for (size_t i = 0; ex && ex[i]; i++) {
		bool found = false;

		for (size_t j = 0; !found && j < frz_plan_get_n_disks(plan); j++) {
			const struct frz_disk *d = frz_plan_get_disk(plan, j);

			found = streq(ex[i], frz_disk_get_id(d)) ||
				streq(ex[i], frz_disk_get_device(d));
		}
		if (!found)
			return provider_fail(p, SNAP_BAD_PARAM,
					     "--exclude-disk %s names no disk of this snapshot; "
					     "see `freezeshim plan` for the disk IDs", ex[i]);
	}
	return SNAP_OK;
}

int provider_make_group_id(const char *prefix, char **ret)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	uint8_t rnd[3];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		/* Early boot: the clock and the pid keep two runs apart well enough. */
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);

		rnd[0] = (uint8_t)x;
		rnd[1] = (uint8_t)(x >> 8);
		rnd[2] = (uint8_t)(x >> 16);
	}
	return xasprintf(ret, "%s-%s-%02x%02x%02x", prefix, stamp, rnd[0], rnd[1], rnd[2]) < 0 ?
		       -ENOMEM : 0;
}
