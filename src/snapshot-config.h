/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The settings of `freezeshim snapshot` and the four ways to give them, in
 * increasing precedence:
 *
 *   1. built-in defaults (config_init)
 *   2. /etc/freezeshim/freezeshim.conf, or --config FILE (JSON, freezeshim.conf(5)):
 *      keys are the long option names ("pre-script", "timeout", ...); options
 *      that repeat take arrays; flags take true/false
 *   3. --azure-config FILE: Azure's VMSnapshotPluginConfig.json
 *   4. --params STRING: the Alibaba app-snapshot-plugin's parameter string
 *   5. command-line options
 *
 * Each source is applied on top of the previous one with config_apply_*();
 * a later source replaces a single value and replaces (not appends to) a
 * list.  Every parse error is one line in *ret_error ("FILE: key 'timeout':
 * expected a number of seconds between 0.001 and 86400"), return -EINVAL.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/freezeshim/freezeshim.conf"
#define CONFIG_DEFAULT_HOOK_DIR SYSCONFDIR "/freezeshim/hooks.d"
#define CONFIG_DEFAULT_SNAPSHOT_DIR "/var/lib/freezeshim/snapshots"
#define CONFIG_DEFAULT_TIMEOUT_MS 30000
#define CONFIG_DEFAULT_SCRIPT_TIMEOUT_MS 1800000

struct config {
	char *provider;               /* "local" (default), "exec", later "aliyun", "aws" */
	uint64_t timeout_ms;          /* the I/O-pause limit: --timeout, TimeoutInSeconds */
	bool freeze;                  /* false: --no-freeze, EnableFsFreeze=false, fsFreezeEnabled=false */
	char *pre_script;             /* --pre-script, PreScriptPath, preScriptLocation; NULL none */
	char *post_script;            /* --post-script, PostScriptPath, postScriptLocation */
	struct ptrvec pre_script_params;   /* char *: --pre-script-param, preScriptParams */
	struct ptrvec post_script_params;  /* char *: --post-script-param, postScriptParams */
	unsigned pre_script_retries;  /* --pre-script-retries, preScriptNoOfRetries */
	unsigned post_script_retries; /* --post-script-retries, postScriptNoOfRetries */
	uint64_t script_timeout_ms;   /* --script-timeout, ScriptTimeoutInSeconds, timeoutInSeconds */
	char *hook_dir;               /* --hook-dir; default CONFIG_DEFAULT_HOOK_DIR; "" none */
	bool require_app_consistent;  /* --require-app-consistent, continueBackupOnFailure=false */
	char *name;                   /* --name, Name */
	char *description;            /* --description, Description */
	struct ptrvec tags;           /* struct snapshot_tag * (cloud/provider.h): --tag K=V */
	struct ptrvec exclude_disks;  /* char *: --exclude-disk, ExcludeDiskId */
	struct ptrvec targets;        /* char *: TARGET arguments, "targets" key */
	struct ptrvec disk_map;       /* char * "DEV=ID": --disk-map */
	bool include_spanning;        /* --include-spanning */
	char *state_dir;              /* --state-dir; default FRZ_DEFAULT_STATE_DIR */
	char *snapshot_dir;           /* --snapshot-dir (local) */
	struct ptrvec exec_command;   /* char *: `-- COMMAND ARG...` or "exec-command" (exec) */
	char *ram_role;               /* --ram-role, RamRoleName (aliyun, later) */
	/*
	 * char *: what the sources said that was ignored (the unknown keys of an
	 * Azure file, which carry extra keys): print each as a warning.
	 */
	struct ptrvec warnings;
	/* Where each value came from, for --print-config and messages: not needed by callers. */
};

void config_init(struct config *c);
void config_clear(struct config *c);
/*
 * Empty LIST, one of C's lists, freeing its items (&c->tags holds struct
 * snapshot_tag *): the command line calls it before the first --tag,
 * --exclude-disk, ... so that its values replace those of the files.
 */
void config_list_reset(struct config *c, struct ptrvec *list);

/*
 * Read a freezeshim.conf JSON file.  The file is opened with trusted_open
 * (freeze/scripts.h, TRUST_CONFIG): it names scripts that run as root.
 * PATH NULL is CONFIG_DEFAULT_PATH.  MISSING_OK: a file that does not exist
 * is not an error (the default path).
 * Unknown keys are errors (a typo must not silently drop a pre-script).
 * A source is applied whole or not at all: on an error C is unchanged.
 * Returns -ENOENT (missing), -EPERM (not trusted), -EFBIG (over 1 MiB),
 * -EINVAL (content), or another -errno; *ret_error says which.
 */
int config_apply_file(struct config *c, const char *path, bool missing_ok, char **ret_error);
/* The same from a JSON text already read (unit tests); ORIGIN names it in errors. */
int config_apply_json(struct config *c, const char *json, const char *origin, char **ret_error);

/*
 * Azure's VMSnapshotPluginConfig.json (TRUST_CONFIG_PRIVATE: root, mode
 * 0600 or stricter, as Azure requires).  Keys: pluginName (ignored),
 * preScriptLocation, postScriptLocation, preScriptParams, postScriptParams
 * (arrays of strings), preScriptNoOfRetries, postScriptNoOfRetries,
 * timeoutInSeconds (the script timeout), continueBackupOnFailure,
 * fsFreezeEnabled.  Values may be JSON strings or numbers/booleans.  An
 * empty string, like an empty Alibaba value, leaves the setting as it was
 * (Azure's template carries every key); so do empty entries of the params
 * arrays.  Unknown keys are not errors: each adds a line to c->warnings.
 */
int config_apply_azure_file(struct config *c, const char *path, char **ret_error);
int config_apply_azure_json(struct config *c, const char *json, const char *origin,
			    char **ret_error);

/*
 * The Alibaba parameter string, with or without the leading "--params=":
 * -RamRoleName="r",-EnableFsFreeze=true,-TimeoutInSeconds=30,
 * -PreScriptPath="/tmp/prescript.sh",-PostScriptPath="/tmp/postscript.sh",
 * -ExcludeDiskId="",-Name="n",-Description="d",-ScriptTimeoutInSeconds=1800
 * Values are bare or double-quoted (a quoted value may hold commas; \" and
 * \\ escape); ExcludeDiskId holds disk IDs separated by commas or spaces;
 * an empty value leaves the setting unset.  Unknown or repeated names, a
 * missing '=', an unterminated quote: -EINVAL.
 */
int config_apply_alibaba_params(struct config *c, const char *params, char **ret_error);

/*
 * Setters for the command line (and used by the parsers above): each
 * validates its value and says what is wrong.  ORIGIN names the source in
 * messages ("--timeout", "freezeshim.conf: key 'timeout'", "-TimeoutInSeconds").
 */
int config_set_timeout(struct config *c, uint64_t *field, const char *value, const char *origin,
		       char **ret_error);
int config_set_name(struct config *c, const char *value, const char *origin, char **ret_error);
int config_set_description(struct config *c, const char *value, const char *origin,
			   char **ret_error);
int config_add_tag(struct config *c, const char *key_eq_value, const char *origin,
		   char **ret_error);
int config_set_provider(struct config *c, const char *value, const char *origin,
			char **ret_error);

/* Final checks once every source is applied (e.g. exec without a command). */
int config_validate(const struct config *c, char **ret_error);

/* The effective settings as a JSON object (for --print-config); free() the result. */
char *config_to_json(const struct config *c);

/*
 * Name rules (Alibaba's, applied to every provider): 1-128 characters,
 * starting with an ASCII letter, then letters, digits, '.', '_', '-', ':';
 * not starting with "http://" or "https://".  Description: 1-256
 * characters (UTF-8), no control characters.  Alibaba's minimum of 2 for
 * both is not ours: its app-snapshot-plugin example passes -Name="n", and
 * the aliyun provider checks it itself.  Tag keys: 1-128 characters, not
 * starting with "aliyun" or "acs:", not one of the consistency tags
 * freezeshim sets; values up to 128; at most 20 tags.  A name or
 * description set to "" is unset.
 */
bool config_name_valid(const char *name);
