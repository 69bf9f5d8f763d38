/* SPDX-License-Identifier: MIT */
/* `brig env import FILE [--as NEW] [--policy NAME]`: pushes an environment archive (docs/archive.md) to
 * brigd in chunks on one connection (the upload is the connection's) and reports the new environment. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "worker/env_archive.h"

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

/* Chunks in flight together: brigd writes one while the next waits, decoded (worker/mcp_import.c), so
 * this side reads and encodes a chunk while brigd decodes and writes the one before. */
#define CHUNKS_IN_FLIGHT 2

/* Sends one chunk of FILE; the id of its request, or -1 after printing why not. */
static int send_chunk(brig_cli_session *s, const unsigned char *buf, size_t n, const char *token, bool end,
                      const char *as, const char *policy) {
        _cleanup_free_ char *b64 = brig_base64_encode(buf, n);
        cJSON *params = cJSON_CreateObject();

        if (!b64 || !params || !cJSON_AddStringToObject(params, "data", b64) ||
            (token && !cJSON_AddStringToObject(params, "upload", token)) ||
            (end && !cJSON_AddBoolToObject(params, "end", true)) ||
            (end && as && !cJSON_AddStringToObject(params, "as", as)) ||
            (end && policy && !cJSON_AddStringToObject(params, "policy", policy))) {
                cJSON_Delete(params);
                fprintf(stderr, "brig: out of memory\n");
                return -1;
        }
        return brig_cli_session_send(s, "brig/environment.import", params);
}

/* Hands brigd the file itself (brig/descriptor.pass), which it copies in the kernel: no chunks, no base64.
 * The answer (NULL after printing why not), or *ret_fallback set when brigd takes no descriptors. */
static cJSON *import_fd(brig_cli_session *s, int fd, const char *as, const char *policy,
                        bool *ret_fallback) {
        cJSON *params = cJSON_CreateObject();
        int r;

        if (!params || !cJSON_AddBoolToObject(params, "fd", true) ||
            (as && !cJSON_AddStringToObject(params, "as", as)) ||
            (policy && !cJSON_AddStringToObject(params, "policy", policy))) {
                cJSON_Delete(params);
                fprintf(stderr, "brig: out of memory\n");
                return NULL;
        }
        if ((r = brig_cli_session_pass_fd(s, fd)) != 0) {
                cJSON_Delete(params);
                *ret_fallback = r > 0;
                return NULL;
        }
        return brig_cli_session_request(s, "brig/environment.import", params);
}

/* Pushes FILE in chunks on one connection (the upload is the connection's); the last starts the import. The
 * first is answered before the next goes (its answer names the upload). */
static int import_file(int fd, const char *as, const char *policy) {
        _cleanup_free_ unsigned char *buf = malloc(BRIG_ARCHIVE_CHUNK_MAX);
        _cleanup_free_ char *token = NULL;
        brig_cli_session *s = brig_cli_session_open(NULL);
        int ids[CHUNKS_IN_FLIGHT];
        size_t n_ids = 0;
        cJSON *res = NULL;
        bool end = false;
        int rc = 1;

        struct stat st;
        bool fallback = false;

        if (!s || !buf)
                goto out;
        /* A regular file goes by descriptor; what brigd does not take that way goes in chunks. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
                if (!(res = import_fd(s, fd, as, policy, &fallback)) && !fallback)
                        goto out;
                end = res != NULL;
        }
        while (!end || n_ids > 0) {
                if (!end && n_ids < CHUNKS_IN_FLIGHT && (token || n_ids == 0)) {
                        ssize_t n = read_full(fd, buf, BRIG_ARCHIVE_CHUNK_MAX);
                        if (n < 0) {
                                fprintf(stderr, "brig env import: read: %s\n", strerror(errno));
                                goto out;
                        }
                        end = (size_t) n < BRIG_ARCHIVE_CHUNK_MAX;
                        if ((ids[n_ids] = send_chunk(s, buf, (size_t) n, token, end, as, policy)) < 0)
                                goto out;
                        n_ids++;
                        continue;
                }
                int id = ids[0];
                memmove(ids, ids + 1, --n_ids * sizeof(*ids));
                cJSON_Delete(res);
                if (!(res = brig_cli_session_wait(s, id)))
                        goto out;
                const cJSON *t = brig_json_member(res, "upload");
                if (!token && !end && (!cJSON_IsString(t) || !(token = strdup(t->valuestring)))) {
                        fprintf(stderr, "brig env import: no upload token in brigd's answer\n");
                        goto out;
                }
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

int brig_cli_env_import(int argc, char **argv) {
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
