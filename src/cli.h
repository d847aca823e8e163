/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the CLI's subcommands: error reporting in one line, exit codes. */
#pragma once

#include <stdatomic.h>

#include "libfreezeshim-internal.h"

/* Print the context's last error (or the code's description) and return its exit code. */
int cli_error(struct frz_ctx *ctx, int err);
/* Print "Try 'freezeshim --help'" after an optional message; return 2. */
int cli_usage_error(const char *message);
/* After getopt_long returned '?': one line naming the option; return 2. */
int cli_option_error(char **argv);

int cli_plan(struct frz_ctx *ctx, int argc, char **argv);
int cli_freeze(struct frz_ctx *ctx, int argc, char **argv, bool verbose);
int cli_run(struct frz_ctx *ctx, int argc, char **argv, bool verbose);
int cli_thaw(struct frz_ctx *ctx, int argc, char **argv);
int cli_status(struct frz_ctx *ctx, int argc, char **argv);
int cli_snapshot(struct frz_ctx *ctx, int argc, char **argv, bool verbose);

/* Signals (cli-signals.c): see the top of that file. */
void cli_signals_early(void);
/* The same, but a signal only marks the run (cli_signal_received) and kills the child. */
void cli_signals_early_soft(void);
void cli_signals_take(void);
/* The window a signal closes (NULL: none now). */
void cli_signals_set_window(struct frz_freeze *f);
/* A process group a signal kills (0: none). */
void cli_signals_set_child_pgid(pid_t pgid);
bool cli_signal_received(void);
const _Atomic bool *cli_signal_flag(void);
/* CODE, or 128 + the signal received (saying once which and who sent it). */
int cli_exit_for_signal_or(int code);
