/* SPDX-License-Identifier: MIT */
#pragma once

/* Subcommands of the brig CLI. Each takes the arguments after its name and returns the process exit code. */
int brig_cli_exec(int argc, char **argv);
int brig_cli_run(int argc, char **argv);

/* brig-jail beside this executable, else the installed one. Caller frees. */
char *brig_cli_find_helper(void);
