/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the CLI's subcommands: error reporting in one line, exit codes. */
#pragma once

#include "libfreezeshim-internal.h"

/* Print the context's last error (or the code's description) and return its exit code. */
int cli_error(struct frz_ctx *ctx, int err);
/* Print "Try 'freezeshim --help'" after an optional message; return 2. */
int cli_usage_error(const char *message);

int cli_plan(struct frz_ctx *ctx, int argc, char **argv);
int cli_freeze(struct frz_ctx *ctx, int argc, char **argv, bool verbose);
int cli_run(struct frz_ctx *ctx, int argc, char **argv, bool verbose);
int cli_thaw(struct frz_ctx *ctx, int argc, char **argv);
int cli_status(struct frz_ctx *ctx, int argc, char **argv);
