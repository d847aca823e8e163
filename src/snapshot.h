/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot workflow: plan -> provider.prepare -> freeze prepare ->
 * pre-scripts -> flush + freeze -> provider.create inside the window ->
 * thaw -> post-scripts -> provider.finish -> provider.tag(verdict) -> report.
 * Post-scripts run whenever the pre-script phase was entered, whatever
 * failed afterwards.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot-config.h"
#include "provider.h"
#include "scripts.h"

/* What the caller (the CLI) hears from the workflow. */
struct snapshot_hooks {
	/* The freeze session once prepared, NULL once the window is over. */
	void (*window)(void *userdata, struct frz_freeze *f);
	/* The process group working inside the window (exec), 0 afterwards. */
	void (*window_pgid)(void *userdata, pid_t pgid);
	/* Becomes true on SIGINT/SIGTERM: stop, thaw, run the post-scripts. */
	const _Atomic bool *interrupted;
	/* The exit code to report, given the workflow's (128 + a signal, say); may be NULL. */
	int (*final_exit)(int code);
	void *userdata;
};

enum snapshot_phase {
	PHASE_PRE_SCRIPT,
	PHASE_FLUSH,
	PHASE_FREEZE,
	PHASE_CREATE,
	PHASE_THAW,
	PHASE_POST_SCRIPT,
	PHASE_FINISH,
	PHASE_TAG,
	_PHASE_MAX,
};

struct snapshot_script {
	const char *phase;       /* "pre" or "post" */
	bool hook;               /* from the hook directory (gets "pre"/"post" as $1) */
	struct script_run run;
};

struct snapshot_result {
	int exit_code;                /* enum snapshot_exit */
	char *message;                /* one line: the failure, or what was made */
	bool snapshot_made;           /* the point in time was fixed (create succeeded in time) */
	bool has_verdict;
	enum snapshot_verdict verdict;
	char *group_id;
	uint64_t phase_ns[_PHASE_MAX];
	bool phase_done[_PHASE_MAX];
	uint64_t pause_ns;            /* the I/O-pause window, from the first freeze to the last thaw */
	uint64_t total_ns;
	int64_t frozen_at_us;         /* CLOCK_REALTIME when every filesystem was frozen; 0 never */
	struct snapshot_script *scripts;
	size_t n_scripts;
	struct ptrvec warnings;       /* char * */
	char *json;                   /* the --json document */
};

/*
 * Run the workflow with the settings C (already validated).  The plan is
 * built from c->targets with c->disk_map.  Fills RES (always, even on
 * failure); returns RES->exit_code.
 */
int snapshot_run(struct frz_ctx *ctx, const struct config *c, const struct snapshot_hooks *hooks,
		 struct snapshot_result *res);
void snapshot_result_clear(struct snapshot_result *res);

/* The stdout line of Alibaba's plugin: [snapshotgroup="ID"][message="TEXT"] (malloc'd). */
char *snapshot_plugin_line(const struct snapshot_result *res);
const char *snapshot_phase_to_string(enum snapshot_phase p);
