/* SPDX-License-Identifier: MIT */
/* `brig env`: list, inspect and remove the environments of a running brigd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/paths.h"
#include "common/json.h"

static void env_help(void) {
        printf("Usage: brig [--socket PATH] env list\n"
               "       brig [--socket PATH] env info ID\n"
               "       brig [--socket PATH] env rm ID\n"
               "\n"
               "Environments are named, persistent jails: their workspace, /tmp, background processes and\n"
               "namespaces outlive calls and connections. `list` shows yours (root sees all), `info` one "
               "in\n"
               "detail (JSON), `rm` stops it, killing its processes, and deletes its workspace.\n"
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
        fprintf(stderr, "brig env: expected list, info ID or rm ID\nTry 'brig env --help'.\n");
        return 2;
}
