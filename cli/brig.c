/* SPDX-License-Identifier: MIT */
/* brig: the command-line front end. Talks to a running brigd (`exec`), runs a one-shot jail without one
 * (`run`), and checks policy files (`policy check`). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/policy.h"

static void help(void) {
        printf("Usage: brig [--socket PATH] COMMAND [ARGS]...\n"
               "\n"
               "Commands:\n"
               "  exec [OPTIONS] -- CMD...     run CMD in a jail of a running brigd, streaming its output\n"
               "  run --policy FILE -- CMD...  run CMD once in a jail, no daemon needed\n"
               "  env list|info ID|rm ID       manage brigd's persistent environments\n"
               "  mcp [--environment ID]       serve MCP on stdio through brigd, for clients that spawn "
               "servers\n"
               "  policy check FILE...         validate policy files (exit 1 on any error)\n"
               "  policy test FILE -- CMD...   run CMD once under a policy, print its denials as JSON\n"
               "  help                         show this help\n"
               "\n"
               "Global options:\n"
               "  --socket PATH   brigd's socket for `exec` (default: $BRIG_SOCKET, else ./brig.sock)\n"
               "  --version       show the version\n"
               "\n"
               "`brig COMMAND --help` describes each command. Docs: docs/protocol.md, docs/policy.md.\n");
}

char *brig_cli_find_helper(void) {
        char *s = brig_sibling_path("brig-jail");
        return s ? s : strdup(BRIG_LIBEXECDIR "/brig-jail");
}

static int policy_check(int argc, char **argv) {
        int bad = 0;

        if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
                printf("Usage: brig policy check FILE...\n\n"
                       "Validates each policy file and prints FILE: OK, or every problem as\n"
                       "FILE[:LINE:COLUMN]: PATH: MESSAGE. Warnings (such as a seccomp profile's\n"
                       "syscalls unknown on this machine) read FILE: warning: PATH: MESSAGE and do\n"
                       "not fail the check. Exits 1 if any file has an error.\n");
                return argc < 1 ? 2 : 0;
        }
        for (int i = 0; i < argc; i++) {
                brig_policy_diags diags = {0};
                brig_error err = BRIG_ERROR_INIT;
                brig_policy *p = NULL;
                int r = brig_policy_load(argv[i], &p, &diags, &err);

                if (r < 0)
                        bad = 1;
                if (r < 0 && diags.n == 0)
                        printf("%s: %s\n", argv[i], err.msg);
                /* Warnings (something ignored) are printed in both cases; only errors fail the check. */
                for (size_t d = 0; d < diags.n; d++) {
                        const brig_policy_diag *g = &diags.items[d];
                        const char *sev = g->severity == BRIG_POLICY_WARNING ? "warning: " : "";
                        if (g->line)
                                printf("%s:%u:%u: %s%s%s%s\n", argv[i], g->line, g->column, sev, g->path,
                                       g->path[0] ? ": " : "", g->msg);
                        else
                                printf("%s: %s%s%s%s\n", argv[i], sev, g->path, g->path[0] ? ": " : "",
                                       g->msg);
                }
                if (r >= 0)
                        printf("%s: OK\n", argv[i]);
                brig_policy_free(p);
                brig_policy_diags_done(&diags);
        }
        return bad;
}

int main(int argc, char **argv) {
        int i = 1;

        if (i < argc && strcmp(argv[i], "--socket") == 0) {
                if (i + 1 >= argc) {
                        fprintf(stderr, "brig: --socket needs a path\n");
                        return 2;
                }
                (void) setenv("BRIG_SOCKET", argv[i + 1], 1);
                i += 2;
        }
        if (i >= argc || strcmp(argv[i], "help") == 0 || strcmp(argv[i], "--help") == 0 ||
            strcmp(argv[i], "-h") == 0) {
                help();
                return i >= argc ? 2 : 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
                printf("brig %s\n", BRIG_VERSION);
                return 0;
        }
        if (strcmp(argv[i], "exec") == 0)
                return brig_cli_exec(argc - i, argv + i);
        if (strcmp(argv[i], "run") == 0)
                return brig_cli_run(argc - i, argv + i);
        if (strcmp(argv[i], "env") == 0)
                return brig_cli_env(argc - i, argv + i);
        if (strcmp(argv[i], "mcp") == 0)
                return brig_cli_mcp(argc - i, argv + i);
        if (strcmp(argv[i], "policy") == 0 && i + 1 < argc && strcmp(argv[i + 1], "test") == 0)
                return brig_cli_policy_test(argc - i - 1, argv + i + 1);
        if (strcmp(argv[i], "policy") == 0 && i + 1 < argc && strcmp(argv[i + 1], "check") == 0)
                return policy_check(argc - i - 2, argv + i + 2);
        fprintf(stderr, "brig: unknown command '%s'\nTry 'brig --help'.\n", argv[i]);
        return 2;
}
