/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `freezeshim snapshot`: the settings from the configuration file, an Azure
 * VMSnapshotPluginConfig.json, an Alibaba --params string and the options
 * (in that order of precedence), then the workflow of src/snapshot.c, then
 * the report: progress on stderr, the plugin's line or the JSON document on
 * stdout, the plugin's exit code.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sys/resource.h>

#include "cli.h"
#include "freeze-internal.h"
#include "snapshot.h"

enum {
	OPT_NO_FREEZE = 0x100,
	OPT_PRE_SCRIPT,
	OPT_POST_SCRIPT,
	OPT_PRE_PARAM,
	OPT_POST_PARAM,
	OPT_PRE_RETRIES,
	OPT_POST_RETRIES,
	OPT_SCRIPT_TIMEOUT,
	OPT_HOOK_DIR,
	OPT_REQUIRE_APP,
	OPT_NAME,
	OPT_DESCRIPTION,
	OPT_TAG,
	OPT_EXCLUDE_DISK,
	OPT_DISK_MAP,
	OPT_INCLUDE_SPANNING,
	OPT_STATE_DIR,
	OPT_SNAPSHOT_DIR,
	OPT_PROVIDER,
	OPT_RAM_ROLE,
	OPT_CONFIG,
	OPT_NO_CONFIG,
	OPT_AZURE_CONFIG,
	OPT_PARAMS,
	OPT_JSON,
	OPT_PRINT_CONFIG,
	OPT_SYSROOT,
};

static const struct option options[] = {
	{ "timeout", required_argument, NULL, 't' },
	{ "no-freeze", no_argument, NULL, OPT_NO_FREEZE },
	{ "pre-script", required_argument, NULL, OPT_PRE_SCRIPT },
	{ "post-script", required_argument, NULL, OPT_POST_SCRIPT },
	{ "pre-script-param", required_argument, NULL, OPT_PRE_PARAM },
	{ "post-script-param", required_argument, NULL, OPT_POST_PARAM },
	{ "pre-script-retries", required_argument, NULL, OPT_PRE_RETRIES },
	{ "post-script-retries", required_argument, NULL, OPT_POST_RETRIES },
	{ "script-timeout", required_argument, NULL, OPT_SCRIPT_TIMEOUT },
	{ "hook-dir", required_argument, NULL, OPT_HOOK_DIR },
	{ "require-app-consistent", no_argument, NULL, OPT_REQUIRE_APP },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "exclude-disk", required_argument, NULL, OPT_EXCLUDE_DISK },
	{ "disk-map", required_argument, NULL, OPT_DISK_MAP },
	{ "include-spanning", no_argument, NULL, OPT_INCLUDE_SPANNING },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
	{ "provider", required_argument, NULL, OPT_PROVIDER },
	{ "ram-role", required_argument, NULL, OPT_RAM_ROLE },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-config", no_argument, NULL, OPT_NO_CONFIG },
	{ "azure-config", required_argument, NULL, OPT_AZURE_CONFIG },
	{ "params", required_argument, NULL, OPT_PARAMS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
	{ "sysroot", required_argument, NULL, OPT_SYSROOT },
	{ "help", no_argument, NULL, 'h' },
	{}
};

static void snapshot_usage(FILE *out)
{
	fputs("Usage: freezeshim snapshot [OPTION]... [TARGET]... [-- COMMAND [ARG]...]\n"
	      "Take an application-consistent snapshot group: run the pre-scripts, freeze the\n"
	      "targets' filesystems, let the provider fix the point in time, thaw, run the\n"
	      "post-scripts, wait for the snapshots and tag them with the consistency reached.\n"
	      "\n"
	      "TARGET is a mountpoint, a block device or a disk ID; none: every cloud disk.\n"
	      "\n"
	      "Provider:\n"
	      "      --provider NAME        local (default: copy loop-device images) or exec\n"
	      "                             (run COMMAND, given after '--', in the window)\n"
	      "      --snapshot-dir DIR     local: where snapshots go (default\n"
	      "                             " CONFIG_DEFAULT_SNAPSHOT_DIR ")\n"
	      "      --name NAME            snapshot group name\n"
	      "      --description TEXT     snapshot group description\n"
	      "      --tag KEY=VALUE        tag the snapshots (repeatable)\n"
	      "      --exclude-disk ID      leave this disk out (repeatable)\n"
	      "      --ram-role NAME        the instance's RAM role (Alibaba Cloud)\n"
	      "Freeze:\n"
	      "  -t, --timeout SEC          the I/O-pause limit (default 30)\n"
	      "      --no-freeze            do not freeze: a crash-consistent snapshot\n"
	      "      --state-dir DIR        lock and state record (default " FRZ_DEFAULT_STATE_DIR ")\n"
	      "      --disk-map DEV=ID      give block device DEV the disk ID ID (repeatable)\n"
	      "      --include-spanning     add disks that share a volume group, array, ...\n"
	      "Scripts:\n"
	      "      --pre-script PATH      run before the freeze (root-owned, mode 0700)\n"
	      "      --post-script PATH     run after the thaw, whenever the pre phase ran\n"
	      "      --pre-script-param ARG, --post-script-param ARG   (repeatable)\n"
	      "      --pre-script-retries N, --post-script-retries N   re-runs on failure\n"
	      "      --script-timeout SEC   per script; its process group is killed (default 1800)\n"
	      "      --hook-dir DIR         hooks run with 'pre'/'post' (default\n"
	      "                             " CONFIG_DEFAULT_HOOK_DIR "; '' for none)\n"
	      "      --require-app-consistent  fail (exit 9) instead of downgrading when a\n"
	      "                             pre-script is missing, insecure or fails\n"
	      "Configuration:\n"
	      "      --config FILE          instead of " CONFIG_DEFAULT_PATH "\n"
	      "      --no-config            read no configuration file\n"
	      "      --azure-config FILE    Azure's VMSnapshotPluginConfig.json\n"
	      "      --params STRING        Alibaba's app-snapshot-plugin parameters\n"
	      "      --print-config         print the effective settings as JSON and exit\n"
	      "Output:\n"
	      "      --json                 the JSON report on stdout instead of the plugin line\n"
	      "  -h, --help                 show this help\n"
	      "\n"
	      "Exit codes are those of Alibaba's app-snapshot-plugin: 0 ok, 1 precondition,\n"
	      "2 bad parameter, 3 no usable disk, 4 create failed, 9 pre-script failed,\n"
	      "10 post-script failed, 11 I/O pause failed, 12 resume failed, ...; see\n"
	      "freezeshim(8) and freezeshim.conf(5).\n", out);
}

static int bad(char *error)
{
	fprintf(stderr, "freezeshim: %s\n", error ? error : "invalid setting");
	free(error);
	return SNAP_BAD_PARAM;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int push_string(struct ptrvec *v, const char *value)
{
	char *copy = strdup(value);

	if (!copy || ptrvec_push(v, copy) < 0) {
		free(copy);
		return -ENOMEM;
	}
	return 0;
}

/* The list options replace what the files said: reset once, on first use. */
static int push_replacing(struct config *c, struct ptrvec *list, bool *reset, const char *value)
{
	if (!*reset) {
		config_list_reset(c, list);
		*reset = true;
	}
	return push_string(list, value);
}

struct sources {
	const char *config;
	bool config_given, no_config;
	const char *azure;
	const char *params;
	bool json, print_config;
};

/* The first pass: where the settings come from, and help. -1 to go on, else an exit code. */
static int scan_sources(int argc, char **argv, int end, struct sources *s)
{
	int c;

	opterr = 0;   /* the second pass reports */
	while ((c = getopt_long(end, argv, "t:h", options, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			s->config = optarg;
			s->config_given = true;
			break;
		case OPT_NO_CONFIG:
			s->no_config = true;
			break;
		case OPT_AZURE_CONFIG:
			s->azure = optarg;
			break;
		case OPT_PARAMS:
			s->params = optarg;
			break;
		case OPT_JSON:
			s->json = true;
			break;
		case OPT_PRINT_CONFIG:
			s->print_config = true;
			break;
		case 'h':
			snapshot_usage(stdout);
			return 0;
		default:
			break;
		}
	}
	return -1;
}

/* The second pass: every other option, on top of the files. */
static int apply_options(struct config *c, int argc, char **argv, int end)
{
	bool reset_pre = false, reset_post = false, reset_tag = false, reset_excl = false,
	     reset_map = false;
	char *error = NULL;
	int opt, r = 0;

	optind = 0;
	while ((opt = getopt_long(end, argv, "t:h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (config_set_timeout(c, &c->timeout_ms, optarg, "--timeout", &error) < 0)
				return bad(error);
			break;
		case OPT_SCRIPT_TIMEOUT:
			if (config_set_timeout(c, &c->script_timeout_ms, optarg, "--script-timeout",
					       &error) < 0)
				return bad(error);
			break;
		case OPT_NO_FREEZE:
			c->freeze = false;
			break;
		case OPT_PRE_SCRIPT:
			r = set_string(&c->pre_script, optarg);
			break;
		case OPT_POST_SCRIPT:
			r = set_string(&c->post_script, optarg);
			break;
		case OPT_PRE_PARAM:
			r = push_replacing(c, &c->pre_script_params, &reset_pre, optarg);
			break;
		case OPT_POST_PARAM:
			r = push_replacing(c, &c->post_script_params, &reset_post, optarg);
			break;
		case OPT_PRE_RETRIES:
		case OPT_POST_RETRIES:
			if (parse_uint(optarg, 10, opt == OPT_PRE_RETRIES ? &c->pre_script_retries
								    : &c->post_script_retries) < 0) {
				fprintf(stderr, "freezeshim: --%s-script-retries '%s': give a number "
					"from 0 to 10\n", opt == OPT_PRE_RETRIES ? "pre" : "post", optarg);
				return SNAP_BAD_PARAM;
			}
			break;
		case OPT_HOOK_DIR:
			r = set_string(&c->hook_dir, optarg);
			break;
		case OPT_REQUIRE_APP:
			c->require_app_consistent = true;
			break;
		case OPT_NAME:
			if (config_set_name(c, optarg, "--name", &error) < 0)
				return bad(error);
			break;
		case OPT_DESCRIPTION:
			if (config_set_description(c, optarg, "--description", &error) < 0)
				return bad(error);
			break;
		case OPT_TAG:
			if (!reset_tag) {
				config_list_reset(c, &c->tags);
				reset_tag = true;
			}
			if (config_add_tag(c, optarg, "--tag", &error) < 0)
				return bad(error);
			break;
		case OPT_EXCLUDE_DISK:
			r = push_replacing(c, &c->exclude_disks, &reset_excl, optarg);
			break;
		case OPT_DISK_MAP:
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "freezeshim: --disk-map '%s': give DEVICE=DISKID\n", optarg);
				return SNAP_BAD_PARAM;
			}
			r = push_replacing(c, &c->disk_map, &reset_map, optarg);
			break;
		case OPT_INCLUDE_SPANNING:
			c->include_spanning = true;
			break;
		case OPT_STATE_DIR:
			r = set_string(&c->state_dir, optarg);
			break;
		case OPT_SNAPSHOT_DIR:
			r = set_string(&c->snapshot_dir, optarg);
			break;
		case OPT_PROVIDER:
			if (config_set_provider(c, optarg, "--provider", &error) < 0)
				return bad(error);
			break;
		case OPT_RAM_ROLE:
			r = set_string(&c->ram_role, optarg);
			break;
		case OPT_SYSROOT:
			fputs("freezeshim: --sysroot is for 'freezeshim plan' only: a machine dump "
			      "cannot be snapshotted\n", stderr);
			return SNAP_BAD_PARAM;
		case OPT_CONFIG:
		case OPT_NO_CONFIG:
		case OPT_AZURE_CONFIG:
		case OPT_PARAMS:
		case OPT_JSON:
		case OPT_PRINT_CONFIG:
			break;   /* the first pass */
		default:
			return cli_option_error(argv);
		}
		if (r < 0) {
			fprintf(stderr, "freezeshim: %s\n", strerror(-r));
			return SNAP_UNKNOWN;
		}
	}
	return -1;
}

static void set_window(void *userdata, struct frz_freeze *f)
{
	(void)userdata;
	cli_signals_set_window(f);
	if (f)
		cli_signals_take();
}

static void set_window_pgid(void *userdata, pid_t pgid)
{
	(void)userdata;
	cli_signals_set_child_pgid(pgid);
}

int cli_snapshot(struct frz_ctx *ctx, int argc, char **argv, bool verbose)
{
	struct sources src = { .config = CONFIG_DEFAULT_PATH };
	struct config c;
	struct snapshot_result res = {};
	struct snapshot_hooks hooks = {
		.window = set_window,
		.window_pgid = set_window_pgid,
		.interrupted = cli_signal_flag(),
		.final_exit = cli_exit_for_signal_or,
	};
	struct rlimit no_core = { 0, 0 };
	char *error = NULL;
	int end = argc, code, r;

	/* Until the guardian is forked, a signal only marks the run: it stops between steps. */
	cli_signals_early_soft();
	if (verbose && frz_ctx_get_log_priority(ctx) < LOG_INFO)
		frz_ctx_set_log_priority(ctx, LOG_INFO);
	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "--")) {
			end = i;
			break;
		}
	code = scan_sources(argc, argv, end, &src);
	if (code >= 0)
		return code;

	config_init(&c);
	if (!src.no_config) {
		r = config_apply_file(&c, src.config, !src.config_given, &error);
		if (r < 0) {
			config_clear(&c);
			return bad(error);
		}
	}
	if (src.azure && config_apply_azure_file(&c, src.azure, &error) < 0) {
		config_clear(&c);
		return bad(error);
	}
	if (src.params && config_apply_alibaba_params(&c, src.params, &error) < 0) {
		config_clear(&c);
		return bad(error);
	}
	code = apply_options(&c, argc, argv, end);
	if (code >= 0) {
		config_clear(&c);
		return code;
	}
	if (optind < end) {
		config_list_reset(&c, &c.targets);
		for (int i = optind; i < end; i++)
			if (push_string(&c.targets, argv[i]) < 0) {
				config_clear(&c);
				return SNAP_UNKNOWN;
			}
	}
	if (end < argc) {
		if (end + 1 >= argc) {
			config_clear(&c);
			return cli_usage_error("no COMMAND after '--'");
		}
		config_list_reset(&c, &c.exec_command);
		for (int i = end + 1; i < argc; i++)
			if (push_string(&c.exec_command, argv[i]) < 0) {
				config_clear(&c);
				return SNAP_UNKNOWN;
			}
	}
	for (size_t i = 0; i < c.warnings.n; i++)
		fprintf(stderr, "freezeshim: warning: %s\n", (const char *)c.warnings.items[i]);
	if (config_validate(&c, &error) < 0) {
		config_clear(&c);
		return bad(error);
	}
	if (src.print_config) {
		char *text = config_to_json(&c);
		if (text)
			puts(text);
		free(text);
		config_clear(&c);
		return text ? 0 : SNAP_UNKNOWN;
	}

	/* A core dump in the window could land on a frozen filesystem. */
	setrlimit(RLIMIT_CORE, &no_core);
	/*
	 * Signals close the window through the thread; until the guardian is
	 * forked (single-threaded until then) they end us.  Without a freeze
	 * there is no guardian: the thread takes them from the start.
	 */
	if (!c.freeze)
		cli_signals_take();
	code = snapshot_run(ctx, &c, &hooks, &res);
	cli_signals_set_window(NULL);

	if (res.exit_code != SNAP_OK && res.message)
		fprintf(stderr, "freezeshim: %s\n", res.message);
	if (src.json) {
		if (res.json)
			puts(res.json);
	} else {
		char *line = snapshot_plugin_line(&res);
		if (line)
			puts(line);
		free(line);
	}
	fflush(stdout);
	snapshot_result_clear(&res);
	config_clear(&c);
	return code;
}
