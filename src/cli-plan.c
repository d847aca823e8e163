/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `freezeshim plan`: the human tree (disk -> stack -> filesystem) and the JSON document. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "plan-internal.h"

static void plan_usage(FILE *out)
{
	fputs("Usage: freezeshim plan [OPTION]... [TARGET]...\n"
	      "Show the disks, their block stacks, the filesystems on them and the order\n"
	      "in which those filesystems can be frozen without deadlocking.\n"
	      "\n"
	      "TARGET is a mountpoint, a block device or a disk ID; none means every\n"
	      "cloud disk of the machine, or every disk-backed filesystem when it has none.\n"
	      "\n"
	      "  -j, --json               print the plan as JSON\n"
	      "      --sysroot DIR        read /sys, /proc and /dev below DIR\n"
	      "      --disk-map DEV=ID    give block device DEV the disk ID ID (repeatable)\n"
	      "      --include-spanning   add disks that share a volume group, array, btrfs\n"
	      "                           volume or external log with a chosen one\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "See freezeshim(8) for the output and the exit codes.\n", out);
}

struct printer {
	const struct frz_plan *plan;
	struct ptrvec printed_fs;
};

static void indent(unsigned depth)
{
	for (unsigned i = 0; i < depth; i++)
		fputs("  ", stdout);
}

static void print_fs_line(const struct frz_fs *fs, unsigned depth)
{
	indent(depth);
	printf("%s  %s  %s  %s%s", fs_first_mountpoint(fs), fs->fstype,
	       fs->planned ? frz_method_to_string(fs->method) : "-",
	       fs->planned ? frz_consistency_to_string(fs->consistency) : "-",
	       fs->planned ? "" : "  (not in plan)");
	/* The same mountpoints as the JSON and the API: over-mounted ones only alone. */
	size_t n = frz_fs_get_n_mountpoints(fs);
	for (size_t i = 1; i < n; i++)
		printf("%s%s", i == 1 ? "  [also " : ", ", frz_fs_get_mountpoint(fs, i));
	if (n > 1)
		putchar(']');
	putchar('\n');
}

static void print_bdev(struct printer *p, const struct topology *topo, const struct frz_bdev *b, unsigned depth);
static void print_bdev_contents(struct printer *p, const struct topology *topo, const struct frz_bdev *b,
				unsigned depth);

static void print_fs(struct printer *p, const struct topology *topo, const struct frz_fs *fs, unsigned depth)
{
	if (ptrvec_contains(&p->printed_fs, fs) || depth > 40) {
		indent(depth);
		printf("%s  (see above)\n", fs_first_mountpoint(fs));
		return;
	}
	(void)ptrvec_push(&p->printed_fs, (void *)fs);
	print_fs_line(fs, depth);
	/* Loop devices whose image lives here, and what is stored here. */
	for (size_t i = 0; i < topo->bdevs.n; i++) {
		const struct frz_bdev *b = topo->bdevs.items[i];
		if (b->kind == BDEV_LOOP && b->loop_host == fs)
			print_bdev(p, topo, b, depth + 1);
	}
	for (enum dep_kind kind = DEP_FUSE; kind <= DEP_OVERLAY; kind++) {
		bool header = false;
		for (size_t i = 0; i < fs->dependents.n; i++) {
			const struct frz_fs *dep = fs->dependents.items[i];
			for (size_t j = 0; j < dep->deps.n; j++) {
				const struct fs_dep *d = dep->deps.items[j];
				if (d->fs != fs || d->kind != kind)
					continue;
				if (!header) {
					indent(depth + 1);
					puts(kind == DEP_FUSE ? "store of FUSE mounts:" : "upper dir of overlays:");
					header = true;
				}
				print_fs(p, topo, dep, depth + 2);
			}
		}
	}
}

static void print_bdev(struct printer *p, const struct topology *topo, const struct frz_bdev *b, unsigned depth)
{
	if (depth > 40)
		return;
	indent(depth);
	printf("%s (%s", b->name, bdev_kind_to_string(b->kind));
	if (b->dm_name)
		printf(" %s", b->dm_name);
	if (b->md_level)
		printf(" %s", b->md_level);
	if (b->loop_backing_file)
		printf(", image %s%s", b->loop_backing_file, b->loop_backing_deleted ? " (deleted)" : "");
	if (b->disk && depth > 1)
		printf(", disk %s", b->disk->id);
	puts(")");
	print_bdev_contents(p, topo, b, depth + 1);
}

static void print_bdev_contents(struct printer *p, const struct topology *topo, const struct frz_bdev *b,
				unsigned depth)
{
	for (size_t i = 0; i < topo->fss.n; i++) {
		const struct frz_fs *fs = topo->fss.items[i];
		if (ptrvec_contains(&fs->bdevs, b) && fs->class != FS_PSEUDO)
			print_fs(p, topo, fs, depth);
	}
	for (size_t i = 0; i < b->uppers.n; i++)
		print_bdev(p, topo, b->uppers.items[i], depth);
}

static void print_human(const struct frz_plan *plan)
{
	struct printer p = { .plan = plan };
	const struct topology *topo = plan->topo;
	bool other = false;

	for (size_t i = 0; i < plan->disks.n; i++) {
		const struct frz_disk *d = plan->disks.items[i];
		printf("disk %s  %s  %s", d->id, frz_provider_to_string(d->provider), d->device);
		if (d->serial)
			printf("  serial %s", d->serial);
		putchar('\n');
		print_bdev_contents(&p, topo, d->bdev, 1);
		ptrvec_clear(&p.printed_fs);
	}
	for (size_t i = 0; i < plan->filesystems.n; i++) {
		const struct frz_fs *fs = plan->filesystems.items[i];
		if (fs->disks.n)
			continue;
		if (!other)
			puts("not on any disk");
		other = true;
		print_fs_line(fs, 1);
	}
	puts("\nfreeze order (thaw in reverse):");
	if (plan->freeze_order.n == 0)
		puts("  (nothing to freeze)");
	for (size_t i = 0; i < plan->freeze_order.n; i++) {
		const struct frz_fs *fs = plan->freeze_order.items[i];
		printf("%4zu. %s  %s  %s  %s\n", i + 1, fs_first_mountpoint(fs), fs->fstype,
		       frz_method_to_string(fs->method), frz_consistency_to_string(fs->consistency));
	}
	if (plan->warnings.n) {
		puts("\nwarnings:");
		for (size_t i = 0; i < plan->warnings.n; i++)
			printf("  - %s\n", (char *)plan->warnings.items[i]);
	}
	ptrvec_clear(&p.printed_fs);
}

int cli_plan(struct frz_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SYSROOT = 0x100, OPT_DISK_MAP, OPT_INCLUDE_SPANNING };
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "sysroot", required_argument, NULL, OPT_SYSROOT },
		{ "disk-map", required_argument, NULL, OPT_DISK_MAP },
		{ "include-spanning", no_argument, NULL, OPT_INCLUDE_SPANNING },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct frz_plan *plan = NULL;
	unsigned flags = 0;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "jh", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case OPT_SYSROOT:
			if ((r = frz_ctx_set_sysroot(ctx, optarg)) < 0)
				return cli_error(ctx, r);
			break;
		case OPT_DISK_MAP:
			if ((r = frz_ctx_add_disk_map_string(ctx, optarg)) < 0)
				return cli_error(ctx, r);
			break;
		case OPT_INCLUDE_SPANNING:
			flags |= FRZ_PLAN_INCLUDE_SPANNING;
			break;
		case 'h':
			plan_usage(stdout);
			return 0;
		default:
			return cli_option_error(argv);
		}
	}
	r = frz_plan_new(ctx, (const char *const *)argv + optind, (size_t)(argc - optind), flags, &plan);
	if (r < 0)
		return cli_error(ctx, r);
	if (json) {
		char *text;
		r = frz_plan_to_json(plan, &text);
		if (r < 0) {
			frz_plan_unref(plan);
			return cli_error(ctx, r);
		}
		puts(text);
		free(text);
	} else
		print_human(plan);
	frz_plan_unref(plan);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "freezeshim: cannot write the plan: %s\n", strerror(errno));
		return 255;
	}
	return 0;
}
