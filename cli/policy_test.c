/* SPDX-License-Identifier: MIT */
/* `brig policy test FILE -- CMD...`: runs CMD once in a one-shot jail under the policy FILE and prints
 * what the policy did to it as JSON lines on stdout: each audited syscall denial, a limit the command hit,
 * how it exited, and what it created, changed or deleted in its workspace (cli/wsdiff.c). For policy authors
 * checking what a tool trips over before deploying a policy. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/parse.h"

static void help(void) {
        printf("Usage: brig policy test [--workspace DIR] [--timeout MS] FILE -- COMMAND [ARG]...\n"
               "\n"
               "Runs COMMAND once in a jail built from the policy FILE (as `brig run` does) and prints, "
               "one\n"
               "JSON object per line on stdout:\n"
               "  {\"type\":\"syscall_denied\",\"syscall\":\"mount\",\"args\":[\"0x...\",...],\"pid\":N}\n"
               "  {\"type\":\"syscall_denied_suppressed\",\"count\":N}  (beyond the first 1000 denials)\n"
               "  {\"type\":\"limit_hit\",\"limit\":\"wall_time\"|\"cpu_time\"|\"file_size\",...}\n"
               "  {\"type\":\"exit\",\"code\":N[,\"signal\":\"SIGXCPU\"]}\n"
               "  {\"type\":\"workspace_change\",\"change\":\"created\"|\"modified\"|\"deleted\",\n"
               "   \"path\":\"out/a.txt\",\"kind\":\"file\",\"bytes\":N}  (after the exit; at most 1000)\n"
               "COMMAND's own stdout and stderr are this terminal's. Only denials the policy audits\n"
               "(seccomp.audit, on by default) are seen. Exits with COMMAND's code, like `brig run`.\n");
}

int brig_cli_policy_test(int argc, char **argv) {
        static const struct option opts[] = {
                {"workspace", required_argument, NULL, 'w'},
                {"timeout", required_argument, NULL, 't'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        brig_oneshot o = {.json_events = true};
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
                switch (c) {
                case 'w':
                        o.workspace = optarg;
                        break;
                case 't':
                        if (brig_parse_u64(optarg, &o.timeout_ms) < 0 || o.timeout_ms == 0) {
                                fprintf(stderr,
                                        "brig policy test: --timeout: expected milliseconds, got '%s'\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        }
        /* FILE, then the command after "--" (getopt has consumed a "--" right after the options). */
        if (optind >= argc) {
                fprintf(stderr, "brig policy test: no policy FILE given\nTry 'brig policy test --help'.\n");
                return 2;
        }
        o.policy_path = argv[optind++];
        if (optind < argc && strcmp(argv[optind], "--") == 0)
                optind++;
        if (optind >= argc) {
                fprintf(stderr, "brig policy test: no command given\nTry 'brig policy test --help'.\n");
                return 2;
        }
        o.argv = argv + optind;
        return brig_cli_oneshot(&o);
}
