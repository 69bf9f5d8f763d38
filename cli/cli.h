/* SPDX-License-Identifier: MIT */
#pragma once

/* Subcommands of the brig CLI. Each takes the arguments after its name and returns the process exit code. */
int brig_cli_exec(int argc, char **argv);
int brig_cli_run(int argc, char **argv);

/* brig-jail beside this executable, else the installed one. Caller frees. */
char *brig_cli_find_helper(void);

int brig_cli_env(int argc, char **argv);
int brig_cli_mcp(int argc, char **argv);
/* `brig policy check|explain` (policy.c); argv[0] is "policy". */
int brig_cli_policy(int argc, char **argv);

/* Client helpers (client.c). */
int brig_cli_connect(const char *path);
#include <cjson/cJSON.h>
cJSON *brig_cli_request(const char *sock, const char *method, cJSON *params);
