/* SPDX-License-Identifier: MIT */
/* brig: the command-line front end. Talks to a running brigd (`exec`), runs a one-shot jail without one
 * (`run`), checks and explains policy files (`policy`, in cli/policy.c) and the host (`doctor`). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/paths.h"

/* `brig memory` is the program brig-memory beside brig-jail: it needs libgit2, SQLite and libarchive, whose
 * loading would cost every `brig run` several milliseconds (issue 17), and brig links none of them
 * (the cli_links test in tests/meson.build). */
static int memory_exec(int argc, char **argv) {
        _cleanup_free_ char *path = brig_find_libexec("brig-memory");

        (void) argc;
        if (!path) {
                fprintf(stderr, "brig memory: out of memory\n");
                return 1;
        }
        argv[0] = path;
        execv(path, argv);
        fprintf(stderr, "brig memory: cannot run %s: %m\n", path);
        return 127;
}

/* Every command of brig: dispatch and the help text are read from this table, and docs/brig.1.in describes
 * each one (tests/man_check.py checks that against `brig --help`). */
static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *help; /* its lines in `brig --help` */
} commands[] = {
        {"exec", brig_cli_exec,
         "  exec [OPTIONS] -- CMD...     run CMD in a jail of a running brigd, streaming its output\n"},
        {"run", brig_cli_run, "  run [--policy F] -- CMD...   run CMD once in a jail, no daemon needed\n"},
        {"env", brig_cli_env, "  env list|info ID|rm ID|...   manage brigd's persistent environments\n"},
        {"mcp", brig_cli_mcp,
         "  mcp [--environment ID]       serve MCP on stdio through brigd, for clients that spawn "
         "servers\n"},
        {"policy", brig_cli_policy,
         "  policy check FILE...         validate policy files (exit 1 on any error)\n"
         "  policy explain FILE          show the effective policy: each value's source and\n"
         "                               what its seccomp filter does with each syscall\n"
         "  policy test FILE -- CMD...   run CMD once under a policy, print its denials as JSON\n"},
        {"audit", brig_cli_audit,
         "  audit verify [LOG]           check the audit log's hash chain and its checkpoint\n"
         "  audit tail [-f] [LOG]        print (and follow) audit records, filtered by type or\n"
         "                               environment\n"},
        {"memory", memory_exec,
         "  memory list|show|export|import  the institutional memory's scopes, in brigd's state\n"
         "                               directory: list, show a file and its history, back up, restore\n"},
        {"doctor", brig_cli_doctor,
         "  doctor [--json]              check what brig needs from this host, and run each shipped\n"
         "                               policy once (exit 1 when something is missing)\n"},
};

static void help(void) {
        printf("Usage: brig [--socket PATH] COMMAND [ARGS]...\n"
               "\n"
               "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
                fputs(commands[i].help, stdout);
        printf("  help                         show this help\n"
               "\n"
               "Global options:\n"
               "  --socket PATH   brigd's socket for exec, env, mcp and doctor (see below)\n"
               "  --version       show the version\n"
               "\n" BRIG_SOCKET_LOOKUP_HELP "\n"
               "`brig COMMAND --help` describes each command. Docs: brig(1), docs/protocol.md,\n"
               "docs/policy.md.\n");
}

char *brig_cli_args;
size_t brig_cli_args_len;

int main(int argc, char **argv) {
        int i = 1;

        /* The kernel lays the arguments out one after the other. */
        brig_cli_args = argv[0];
        brig_cli_args_len = (size_t) (argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);

        if (i < argc && strcmp(argv[i], "--socket") == 0) {
                if (i + 1 >= argc) {
                        fprintf(stderr, "brig: --socket needs a path\n");
                        return 2;
                }
                brig_cli_socket = argv[i + 1];
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
        for (size_t c = 0; c < sizeof(commands) / sizeof(*commands); c++)
                if (strcmp(argv[i], commands[c].name) == 0)
                        return commands[c].run(argc - i, argv + i);
        fprintf(stderr, "brig: unknown command '%s'\nTry 'brig --help'.\n", argv[i]);
        return 2;
}
