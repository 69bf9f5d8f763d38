/* SPDX-License-Identifier: MIT */
/* `brig env`: list, inspect, remove and fork the environments of a running brigd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/paths.h"
#include "common/json.h"
#include "common/text.h"
#include "worker/env_archive.h"

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

#define IMPORT_HELP                                                                                         \
        "`import` recreates the environment in FILE, an archive `brig env export` wrote "                   \
        "(docs/archive.md),\n"                                                                              \
        "as the id it had, or NEW with --as. It is yours, runs the default policy or --policy NAME "        \
        "(never\n"                                                                                          \
        "the archive's: a warning says when the policy differs from the one it ran under) and its files\n"  \
        "belong to its own host uid. The archive is checked entry by entry: a path outside its layout, a\n" \
        "link that leaves the workspace, a device, a setuid bit, a size over the policy's limits or a\n"    \
        "manifest mismatch refuses it, naming the entry, and nothing of it is left.\n"

static void import_help(void) {
        printf("Usage: brig [--socket PATH] env import FILE [--as NEW] [--policy NAME]\n\n" IMPORT_HELP);
}

static void fork_help(void) {
        printf("Usage: brig [--socket PATH] env fork ID [--at SNAPSHOT] [--policy NAME] NEW\n\n" FORK_HELP);
}

static void env_help(void) {
        printf("Usage: brig [--socket PATH] env list\n"
               "       brig [--socket PATH] env info ID\n"
               "       brig [--socket PATH] env rm ID\n"
               "       brig [--socket PATH] env fork ID [--at SNAPSHOT] [--policy NAME] NEW\n"
               "       brig [--socket PATH] env import FILE [--as NEW] [--policy NAME]\n"
               "\n"
               "Environments are named, persistent jails: their workspace, /tmp, background processes and\n"
               "namespaces outlive calls and connections. `list` shows yours (root sees all), `info` one "
               "in\n"
               "detail (JSON), `rm` stops it, killing its processes, and deletes its workspace.\n"
               "\n" FORK_HELP "\n" IMPORT_HELP "\n" BRIG_SOCKET_LOOKUP_HELP);
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

static ssize_t read_full(int fd, unsigned char *buf, size_t len) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        return (ssize_t) got;
}

/* Pushes FILE in chunks on one connection (the upload is the connection's); the last starts the import. */
static int import_file(int fd, const char *as, const char *policy) {
        _cleanup_free_ unsigned char *buf = malloc(BRIG_ARCHIVE_CHUNK_MAX);
        _cleanup_free_ char *token = NULL;
        brig_cli_session *s = brig_cli_open(socket_path());
        cJSON *res = NULL;
        int rc = 1;

        if (!s || !buf)
                goto out;
        for (;;) {
                ssize_t n = read_full(fd, buf, BRIG_ARCHIVE_CHUNK_MAX);
                if (n < 0) {
                        fprintf(stderr, "brig env import: read: %s\n", strerror(errno));
                        goto out;
                }
                bool end = (size_t) n < BRIG_ARCHIVE_CHUNK_MAX;
                _cleanup_free_ char *b64 = brig_base64_encode(buf, (size_t) n);
                cJSON *params = cJSON_CreateObject();
                if (!b64 || !params || !cJSON_AddStringToObject(params, "data", b64) ||
                    (token && !cJSON_AddStringToObject(params, "upload", token)) ||
                    (end && !cJSON_AddBoolToObject(params, "end", true)) ||
                    (end && as && !cJSON_AddStringToObject(params, "as", as)) ||
                    (end && policy && !cJSON_AddStringToObject(params, "policy", policy))) {
                        cJSON_Delete(params);
                        fprintf(stderr, "brig: out of memory\n");
                        goto out;
                }
                if (!(res = brig_cli_call(s, "brig/environment.import", params)))
                        goto out;
                if (end)
                        break;
                const cJSON *t = brig_json_member(res, "upload");
                if (!token && (!cJSON_IsString(t) || !(token = strdup(t->valuestring)))) {
                        fprintf(stderr, "brig env import: no upload token in brigd's answer\n");
                        goto out;
                }
                cJSON_Delete(res);
                res = NULL;
        }
        const cJSON *id = brig_json_member(res, "id"), *snap = brig_json_member(res, "snapshot"),
                    *from = brig_json_member(res, "imported_from");
        if (cJSON_IsFalse(brig_json_member(res, "policy_digest_matches")))
                fprintf(stderr,
                        "brig: warning: %s now runs policy \"%s\", not the policy it ran under when "
                        "exported\n",
                        cJSON_IsString(id) ? id->valuestring : "?",
                        cJSON_IsString(brig_json_member(res, "policy"))
                                ? brig_json_member(res, "policy")->valuestring
                                : "?");
        printf("imported %s as %s at %s\n", cJSON_IsString(from) ? from->valuestring : "?",
               cJSON_IsString(id) ? id->valuestring : "?", cJSON_IsString(snap) ? snap->valuestring : "?");
        rc = 0;
out:
        cJSON_Delete(res);
        brig_cli_session_close(s);
        return rc;
}

static int env_import(int argc, char **argv) {
        const char *as = NULL, *policy = NULL, *file = NULL;
        int n = 0;

        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        import_help();
                        return 0;
                }
                if ((strcmp(argv[i], "--as") == 0 || strcmp(argv[i], "--policy") == 0) && i + 1 < argc) {
                        *(argv[i][2] == 'a' ? &as : &policy) = argv[i + 1];
                        i++;
                } else if (argv[i][0] != '-' && n < 1) {
                        file = argv[i];
                        n++;
                } else
                        n = 2;
        }
        if (n != 1) {
                fprintf(stderr, "brig env import: expected FILE [--as NEW] [--policy NAME]\n"
                                "Try 'brig env import --help'.\n");
                return 2;
        }
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "brig env import: %s: %s\n", file, strerror(errno));
                return 1;
        }
        return import_file(fd, as, policy);
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
        if (strcmp(argv[1], "import") == 0)
                return env_import(argc, argv);
        fprintf(stderr, "brig env: expected list, info ID, rm ID, fork ID NEW or import FILE\n"
                        "Try 'brig env --help'.\n");
        return 2;
}
