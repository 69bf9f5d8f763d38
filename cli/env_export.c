/* SPDX-License-Identifier: MIT */
/* `brig env export ID -o FILE`: asks brigd for the environment's archive, pulls it chunk by chunk on the
 * same connection (the archive's token is that connection's), checks its SHA-256 and closes it. A file is
 * written aside and renamed into place only when complete and checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/paths.h"
#include "common/text.h"
#include "worker/env_archive.h"

#define EXPORT_HELP                                                                                         \
        "`export` writes environment ID into FILE (`-` for stdout): one archive (tar + zstd) holding its\n" \
        "workspace at a snapshot taken now, its whole history, its metadata and its background\n"           \
        "processes' descriptions and logs, which `brig env import` recreates on any brigd and `tar` and\n"  \
        "`git` alone can inspect (docs/archive.md). FILE appears only once complete and checked (written\n" \
        "beside it as FILE.XXXXXX first): brigd writes into it itself (the file is passed over the\n"       \
        "socket) and its size must be what brigd reports. Stdout that is no regular file gets the bytes\n"  \
        "in chunks as they come, checked against brigd's SHA-256; a mismatch shows in the exit status.\n"

static void export_help(void) {
        printf("Usage: brig [--socket PATH] env export ID -o FILE\n\n" EXPORT_HELP);
}

static cJSON *token_params(const char *token) {
        cJSON *p = cJSON_CreateObject();
        if (p && !cJSON_AddStringToObject(p, "export", token)) {
                cJSON_Delete(p);
                return NULL;
        }
        return p;
}

/* Reads of the archive in flight together: brigd serves this many at a time (worker/mcp_export.c), so one
 * chunk is read and encoded there while the one before is decoded and written here. */
#define READS_IN_FLIGHT 2

static int send_read(brig_cli_session *s, const char *token, uint64_t offset) {
        cJSON *p = token_params(token);

        if (!p || !cJSON_AddNumberToObject(p, "offset", (double) offset) ||
            !cJSON_AddNumberToObject(p, "length", BRIG_ARCHIVE_CHUNK_MAX)) {
                cJSON_Delete(p);
                fprintf(stderr, "brig: out of memory\n");
                return -1;
        }
        return brig_cli_session_send(s, "brig/environment.export.read", p);
}

/* One answer: its bytes into fd and d; *ret_len and *ret_eof as it says. Returns 0 or 1 after printing. */
static int take_chunk(brig_cli_session *s, int id, brig_sha256 *d, int fd, size_t *ret_len, bool *ret_eof) {
        cJSON *res = brig_cli_session_wait(s, id);
        const cJSON *data = brig_json_member(res, "data"), *e = brig_json_member(res, "eof");
        unsigned char *buf = NULL;
        size_t len = 0;
        int r;

        if (!res)
                return 1;
        if (!cJSON_IsString(data) || !cJSON_IsBool(e) ||
            brig_base64_decode(data->valuestring, strlen(data->valuestring), &buf, &len) < 0) {
                cJSON_Delete(res);
                fprintf(stderr, "brig: malformed export.read answer\n");
                return 1;
        }
        *ret_eof = cJSON_IsTrue(e);
        cJSON_Delete(res);
        brig_sha256_update(d, buf, len);
        r = brig_write_all(fd, buf, len);
        free(buf);
        if (r < 0) {
                fprintf(stderr, "brig: write: %s\n", strerror(-r));
                return 1;
        }
        *ret_len = len;
        return 0;
}

/* Pulls the archive into fd; returns 0 or 1 after printing why not. */
static int pull(brig_cli_session *s, const char *token, uint64_t bytes, const char *sha256, int fd) {
        brig_sha256 *d = brig_sha256_new();
        char hex[BRIG_SHA256_HEX];
        int ids[READS_IN_FLIGHT];
        uint64_t offset = 0, next = 0; /* bytes received; offset of the next read to send */
        size_t n_ids = 0;
        bool eof = false;

        while (!eof) {
                size_t len = 0;
                /* The first read is sent even for an empty archive: its answer says eof. */
                while (n_ids < READS_IN_FLIGHT && (next < bytes || (next == 0 && n_ids == 0))) {
                        if ((ids[n_ids] = send_read(s, token, next)) < 0)
                                goto fail;
                        n_ids++;
                        next += BRIG_ARCHIVE_CHUNK_MAX;
                }
                if (n_ids == 0) {
                        fprintf(stderr, "brig: export.read ended at %llu without eof\n",
                                (unsigned long long) offset);
                        goto fail;
                }
                int id = ids[0];
                memmove(ids, ids + 1, --n_ids * sizeof(*ids));
                if (take_chunk(s, id, d, fd, &len, &eof) != 0)
                        goto fail;
                offset += len;
                if (len == 0 && !eof) {
                        fprintf(stderr, "brig: export.read made no progress at %llu\n",
                                (unsigned long long) offset);
                        goto fail;
                }
                if (eof || len < BRIG_ARCHIVE_CHUNK_MAX) {
                        /* A short chunk (or the end): reads sent past it are answered, then dropped. */
                        for (size_t i = 0; i < n_ids; i++)
                                cJSON_Delete(brig_cli_session_wait(s, ids[i]));
                        n_ids = 0;
                        next = offset;
                }
        }
        if (brig_sha256_finish(d, hex) < 0) {
                fprintf(stderr, "brig: out of memory\n");
                return 1;
        }
        if (offset != bytes || strcmp(hex, sha256) != 0) {
                fprintf(stderr,
                        "brig: the archive received (%llu bytes, sha256 %s) is not the one brigd wrote "
                        "(%llu bytes, sha256 %s)\n",
                        (unsigned long long) offset, hex, (unsigned long long) bytes, sha256);
                return 1;
        }
        return 0;
fail:
        (void) brig_sha256_finish(d, hex);
        return 1;
}

/* The export written by brigd straight into fd, a regular file of ours (brig/descriptor.pass): no chunks,
 * no base64, and the archive crosses no socket. 0, 1 after printing why not, or 2 when brigd does not take
 * descriptors (the caller pulls chunks instead). */
static int export_into(brig_cli_session *s, const char *id, int fd, cJSON **ret_res) {
        cJSON *p = cJSON_CreateObject(), *res;
        const cJSON *bytes;
        off_t start = lseek(fd, 0, SEEK_CUR), end;
        int r;

        if (!p || !cJSON_AddStringToObject(p, "id", id) || !cJSON_AddBoolToObject(p, "fd", true)) {
                cJSON_Delete(p);
                fprintf(stderr, "brig: out of memory\n");
                return 1;
        }
        /* Appended writes land at the end, not at the offset the size is checked from: chunks then. */
        int fl = fcntl(fd, F_GETFL);
        if (start < 0 || fl < 0 || (fl & O_APPEND) || (r = brig_cli_session_pass_fd(s, fd)) != 0) {
                cJSON_Delete(p);
                return start < 0 || fl < 0 || (fl & O_APPEND) || r > 0 ? 2 : 1;
        }
        if (!(res = brig_cli_session_request(s, "brig/environment.export", p)))
                return 1;
        bytes = brig_json_member(res, "bytes");
        end = lseek(fd, 0, SEEK_CUR);
        /* What brigd wrote went through the descriptor's offset, which is ours too. */
        if (!cJSON_IsNumber(bytes) || !cJSON_IsString(brig_json_member(res, "sha256")) ||
            !cJSON_IsString(brig_json_member(res, "snapshot")) || end < start ||
            (double) (end - start) != bytes->valuedouble) {
                fprintf(stderr, "brig: the archive written (%lld bytes) is not the one brigd reports\n",
                        (long long) (end - start));
                cJSON_Delete(res);
                return 1;
        }
        *ret_res = res;
        return 0;
}

static int export_to(brig_cli_session *s, const char *id, const char *out) {
        cJSON *p = cJSON_CreateObject(), *res = NULL;
        const cJSON *token, *bytes, *sha, *snap;
        char *tmp = NULL;
        int fd = STDOUT_FILENO, code;
        struct stat st;

        if (!p || !cJSON_AddStringToObject(p, "id", id)) {
                cJSON_Delete(p);
                fprintf(stderr, "brig: out of memory\n");
                return 1;
        }
        if (strcmp(out, "-") != 0) {
                /* A name of our own beside out (never one that exists, nor a symlink's target), renamed
                 * over out once the archive is whole and checked. */
                fd = -1;
                if (asprintf(&tmp, "%s.XXXXXX", out) < 0 || (fd = mkostemp(tmp, O_CLOEXEC)) < 0 ||
                    fchmod(fd, 0644) < 0) {
                        int e = errno;
                        if (fd >= 0) {
                                (void) unlink(tmp);
                                (void) close(fd);
                        }
                        fprintf(stderr, "brig: %s: %s\n", out, strerror(e));
                        free(tmp);
                        cJSON_Delete(p);
                        return 1;
                }
        }
        /* A file (ours, or a regular file as stdout) is written by brigd itself; a pipe gets chunks. */
        code = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? export_into(s, id, fd, &res) : 2;
        bool direct = code != 2;
        if (code == 2) {
                code = 0;
                if (!(res = brig_cli_session_request(s, "brig/environment.export", p)))
                        code = 1;
                p = NULL;
        }
        cJSON_Delete(p);
        token = brig_json_member(res, "export");
        bytes = brig_json_member(res, "bytes");
        sha = brig_json_member(res, "sha256");
        snap = brig_json_member(res, "snapshot");
        if (code == 0 &&
            ((!direct && !cJSON_IsString(token)) || !cJSON_IsNumber(bytes) || !(bytes->valuedouble >= 0) ||
             bytes->valuedouble > 9007199254740992.0 || !cJSON_IsString(sha) || !cJSON_IsString(snap))) {
                fprintf(stderr, "brig: malformed export answer\n");
                code = 1;
        }
        if (code == 0 && !direct)
                code = pull(s, token->valuestring, (uint64_t) bytes->valuedouble, sha->valuestring, fd);
        if (tmp) {
                if (close(fd) < 0 && code == 0) {
                        fprintf(stderr, "brig: %s: %s\n", tmp, strerror(errno));
                        code = 1;
                }
                if (code == 0 && rename(tmp, out) < 0) {
                        fprintf(stderr, "brig: %s: %s\n", out, strerror(errno));
                        code = 1;
                }
                if (code != 0)
                        (void) unlink(tmp);
                free(tmp);
        }
        /* The archive's file goes with the connection anyway; closing says so at once. */
        if (!direct && cJSON_IsString(token))
                cJSON_Delete(brig_cli_session_request(s, "brig/environment.export.close",
                                                      token_params(token->valuestring)));
        if (code == 0)
                fprintf(stderr, "exported %s at %s: %llu bytes to %s\n", id, snap->valuestring,
                        (unsigned long long) bytes->valuedouble, out);
        cJSON_Delete(res);
        return code;
}

int brig_cli_env_export(int argc, char **argv) {
        const char *id = NULL, *out = NULL;
        brig_cli_session *s;
        int code;

        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        export_help();
                        return 0;
                }
                if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc && !out)
                        out = argv[++i];
                else if (!id && (argv[i][0] != '-' || argv[i][1] == 0))
                        id = argv[i];
                else
                        id = out = NULL, i = argc;
        }
        if (!id || !out) {
                fprintf(stderr, "brig env export: expected ID -o FILE\nTry 'brig env export --help'.\n");
                return 2;
        }
        if (!(s = brig_cli_session_open(NULL)))
                return 1;
        code = export_to(s, id, out);
        brig_cli_session_close(s);
        return code;
}
