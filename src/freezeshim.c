/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The freezeshim command: option parsing, subcommand dispatch, messages and exit codes. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>

#include "cli.h"

static void usage(FILE *out)
{
	fputs("Usage: freezeshim [OPTION]... COMMAND [ARG]...\n"
	      "Make cloud disk snapshots consistent: map disks to filesystems and freeze\n"
	      "them in dependency order.\n"
	      "\n"
	      "Commands:\n"
	      "  plan [TARGET]...   show disks, stacks, filesystems and the freeze order\n"
	      "  freeze TARGET...   freeze in dependency order; a guardian keeps the deadline\n"
	      "  run TARGET... -- COMMAND [ARG]...\n"
	      "                     freeze, run COMMAND in the window, thaw\n"
	      "  snapshot [TARGET]...\n"
	      "                     scripts, freeze, snapshot group, thaw, tag: the workflow\n"
	      "  thaw               thaw what freezeshim froze (a detached or dead run)\n"
	      "  status             say what freezeshim holds frozen\n"
	      "\n"
	      "Options:\n"
	      "  -v, --verbose      log what discovery finds to stderr\n"
	      "  -h, --help         show this help\n"
	      "  -V, --version      show the version\n"
	      "\n"
	      "Run 'freezeshim COMMAND --help' for a command's options; see freezeshim(8).\n", out);
}

static void log_stderr(void *userdata, int priority, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	fputs(priority >= LOG_DEBUG ? "freezeshim: debug: " : "freezeshim: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

int cli_error(struct frz_ctx *ctx, int err)
{
	const char *detail = frz_ctx_get_error(ctx);

	if (detail)
		fprintf(stderr, "freezeshim: %s\n", detail);
	else
		fprintf(stderr, "freezeshim: %s\n", frz_strerror(err));
	return frz_error_to_exit_code(err);
}

int cli_option_error(char **argv)
{
	const char *cmd = argv[0] && !strchr(argv[0], '/') ? argv[0] : NULL;
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	char shortopt[3] = { '-', (char)optopt, 0 };

	/* getopt's own message is off (opterr = 0): one line, ours. */
	if (optopt && !(arg && startswith(arg, "--")) &&
	    (!arg || arg[0] != '-' || !strchr(arg + 1, optopt)))
		arg = shortopt;
	fprintf(stderr, "freezeshim: unknown option, or an option without its value: '%s'; "
		"see 'freezeshim %s%s--help'\n", arg ? arg : "?", cmd ? cmd : "", cmd ? " " : "");
	return 2;
}

int cli_usage_error(const char *message)
{
	if (message)
		fprintf(stderr, "freezeshim: %s; try 'freezeshim --help'\n", message);
	else
		fputs("freezeshim: try 'freezeshim --help'\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	struct frz_ctx *ctx = NULL;
	bool verbose = false;
	int c, r;

	opterr = 0;   /* cli_option_error() says it in one line */
	while ((c = getopt_long(argc, argv, "+vhV", options, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts(PACKAGE_NAME " " PACKAGE_VERSION);
			return 0;
		default:
			return cli_option_error(argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("no command given");

	r = frz_ctx_new(&ctx);
	if (r < 0) {
		fprintf(stderr, "freezeshim: cannot start: %s\n", strerror(-r));
		return 255;
	}
	frz_ctx_set_log_fn(ctx, log_stderr, NULL);
	if (verbose)
		frz_ctx_set_log_priority(ctx, LOG_DEBUG);

	argc -= optind;
	argv += optind;
	optind = 0;
	if (streq(argv[0], "plan"))
		r = cli_plan(ctx, argc, argv);
	else if (streq(argv[0], "freeze"))
		r = cli_freeze(ctx, argc, argv, verbose);
	else if (streq(argv[0], "run"))
		r = cli_run(ctx, argc, argv, verbose);
	else if (streq(argv[0], "snapshot"))
		r = cli_snapshot(ctx, argc, argv, verbose);
	else if (streq(argv[0], "thaw"))
		r = cli_thaw(ctx, argc, argv);
	else if (streq(argv[0], "status"))
		r = cli_status(ctx, argc, argv);
	else {
		fprintf(stderr, "freezeshim: unknown command '%s'; try 'freezeshim --help'\n", argv[0]);
		r = 2;
	}
	frz_ctx_unref(ctx);
	return r;
}
