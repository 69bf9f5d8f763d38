/* SPDX-License-Identifier: MIT */
/* `brig env`: list, inspect, remove, fork, export and import the environments of a running brigd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/paths.h"
#include "common/json.h"

#define FORK_HELP                                                                                           \
        "`fork` makes a new environment NEW, owned by you, whose workspace and history are ID's at\n"       \
        "SNAPSHOT (an id, at least 4 hex digits, HEAD or HEAD~N; default: a snapshot of ID taken now, "     \
        "after\n"                                                                                           \
        "the file calls already queued there). ID is untouched but for that snapshot; its background\n"     \
        "processes are not copied. NEW runs ID's policy, or --policy NAME (any you could attach with).\n"   \
        "It fails, and nothing of NEW is left, when ID or SNAPSHOT does not exist, NEW exists or is not "   \
        "a\n"                                                                                               \
        "valid id (1-64 of A-Z a-z 0-9 . _ -), ID is removed meanwhile, the environment count or the\n"     \
        "workspace quota of the policy would be exceeded.\n"

static void fork_help(void) {
        printf("Usage: brig [--socket PATH] env fork ID [--at SNAPSHOT] [--policy NAME] NEW\n\n" FORK_HELP);
}

static void env_help(void) {
        printf("Usage: brig [--socket PATH] env list\n"
               "       brig [--socket PATH] env info ID\n"
               "       brig [--socket PATH] env rm ID\n"
               "       brig [--socket PATH] env fork ID [--at SNAPSHOT] [--policy NAME] NEW\n"
               "       brig [--socket PATH] env export ID -o FILE\n"
               "       brig [--socket PATH] env import FILE [--as NEW] [--policy NAME]\n"
               "\n"
               "Environments are named, persistent jails: their workspace, /tmp, background processes and\n"
               "namespaces outlive calls and connections. `list` shows yours (root sees all), `info` one "
               "in\n"
               "detail (JSON), `rm` stops it, killing its processes, and deletes its workspace.\n"
               "\n" FORK_HELP "\n"
               "`export` writes ID into one archive file (tar + zstd) that `brig env import` recreates "
               "on\nany brigd; see `brig env export --help`.\n"
               "`import` recreates an environment from such a file; see `brig env import --help`.\n"
               "\n" BRIG_SOCKET_LOOKUP_HELP);
}

static const char *socket_path(void) {
        return brig_cli_socket;
}

static void print_time(const cJSON *v) {
        char buf[32];
        time_t t = cJSON_IsNumber(v) ? (time_t) v->valuedouble : 0;
        struct tm tm;
        (void) gmtime_r(&t, &tm);
        (void) strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("  %-20s", buf);
}

static int env_list(void) {
        cJSON *res = brig_cli_request(socket_path(), "brig/environment.list", cJSON_CreateObject()), *e;
        if (!res)
                return 1;
        printf("%-24s %-10s %-12s %6s %-20s  %-20s  %s\n", "ID", "STATE", "POLICY", "OWNER", "  CREATED",
               "  LAST USED", "CONNECTIONS");
        cJSON_ArrayForEach (e, brig_json_member(res, "environments")) {
                if (cJSON_IsTrue(brig_json_member(e, "ephemeral")))
                        continue;
                printf("%-24s %-10s %-12s %6d", brig_json_member(e, "id")->valuestring,
                       brig_json_member(e, "state")->valuestring, brig_json_member(e, "policy")->valuestring,
                       brig_json_member(e, "owner_uid")->valueint);
                print_time(brig_json_member(e, "created"));
                print_time(brig_json_member(e, "last_used"));
                printf(" %d\n", brig_json_member(e, "connections")->valueint);
        }
        cJSON_Delete(res);
        return 0;
}

static int env_one(const char *method, const char *id) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "id", id);
        cJSON *res = brig_cli_request(socket_path(), method, params);
        if (!res)
                return 1;
        char *text = cJSON_Print(res);
        if (strcmp(method, "brig/environment.info") == 0)
                printf("%s\n", text);
        else
                printf("removed %s\n", id);
        free(text);
        cJSON_Delete(res);
        return 0;
}

static int env_fork(int argc, char **argv) {
        const char *at = NULL, *policy = NULL, *pos[2];
        int n = 0;

        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        fork_help();
                        return 0;
                }
                if ((strcmp(argv[i], "--at") == 0 || strcmp(argv[i], "--policy") == 0) && i + 1 < argc) {
                        *(argv[i][2] == 'a' ? &at : &policy) = argv[i + 1];
                        i++;
                } else if (argv[i][0] != '-' && n < 2)
                        pos[n++] = argv[i];
                else
                        n = 3;
        }
        if (n != 2) {
                fprintf(stderr, "brig env fork: expected ID [--at SNAPSHOT] [--policy NAME] NEW\n"
                                "Try 'brig env fork --help'.\n");
                return 2;
        }
        cJSON *params = cJSON_CreateObject();
        if (!params || !cJSON_AddStringToObject(params, "from", pos[0]) ||
            !cJSON_AddStringToObject(params, "as", pos[1]) ||
            (at && !cJSON_AddStringToObject(params, "snapshot", at)) ||
            (policy && !cJSON_AddStringToObject(params, "policy", policy))) {
                cJSON_Delete(params);
                fprintf(stderr, "brig: out of memory\n");
                return 1;
        }
        cJSON *res = brig_cli_request(socket_path(), "brig/environment.fork", params);
        if (!res)
                return 1;
        const cJSON *snap = brig_json_member(res, "snapshot");
        printf("forked %s into %s at %s\n", pos[0], pos[1], cJSON_IsString(snap) ? snap->valuestring : "?");
        cJSON_Delete(res);
        return 0;
}

int brig_cli_env(int argc, char **argv) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                env_help();
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "list") == 0 && argc == 2)
                return env_list();
        if (strcmp(argv[1], "info") == 0 && argc == 3)
                return env_one("brig/environment.info", argv[2]);
        if ((strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "remove") == 0) && argc == 3)
                return env_one("brig/environment.destroy", argv[2]);
        if (strcmp(argv[1], "fork") == 0)
                return env_fork(argc, argv);
        if (strcmp(argv[1], "export") == 0)
                return brig_cli_env_export(argc, argv);
        if (strcmp(argv[1], "import") == 0)
                return brig_cli_env_import(argc, argv);
        fprintf(stderr, "brig env: expected list, info ID, rm ID, fork ID NEW, export ID -o FILE or import "
                        "FILE\nTry 'brig env --help'.\n");
        return 2;
}
