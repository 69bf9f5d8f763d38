/* SPDX-License-Identifier: MIT */
/* The audit log's chain hash and its checkpoint file (common/audit_chain.h): the format, and reading and
 * replacing the checkpoint atomically. */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/audit_chain.h"
#include "common/cleanup.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/json.h"

/* A checkpoint is under 200 bytes; anything much larger is not one. */
#define CHECKPOINT_MAX_BYTES 4096

int brig_audit_line_hash(const char *prev_hex, const char *line_without_hash, char out[65]) {
        brig_sha256 *d = brig_sha256_new();

        brig_sha256_update(d, prev_hex, strlen(prev_hex));
        brig_sha256_update(d, "\n", 1);
        brig_sha256_update(d, line_without_hash, strlen(line_without_hash));
        return brig_sha256_finish(d, out);
}

char *brig_audit_checkpoint_path(const char *log_path) {
        char *s = NULL;
        return asprintf(&s, "%s" BRIG_AUDIT_CHECKPOINT_SUFFIX, log_path) < 0 ? NULL : s;
}

bool brig_audit_is_hash(const char *s) {
        if (strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

int brig_audit_checkpoint_read(const char *path, brig_audit_mark *ret, brig_error *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char buf[CHECKPOINT_MAX_BYTES + 1];
        ssize_t n;

        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "audit checkpoint '%s'", path);
        do
                n = read(fd, buf, sizeof(buf) - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read audit checkpoint '%s'", path);
        buf[n] = 0;
        _cleanup_json_ cJSON *o = cJSON_Parse(buf);
        const cJSON *seq = brig_json_member(o, "seq"), *hash = brig_json_member(o, "hash"),
                    *ts = brig_json_member(o, "ts");
        if (!cJSON_IsNumber(seq) || seq->valuedouble < 0 || !cJSON_IsString(hash) ||
            !brig_audit_is_hash(hash->valuestring))
                return brig_error_set(err, -EBADMSG, BRIG_KIND_IO,
                                      "audit checkpoint '%s': not a checkpoint (want {\"seq\":N,\"hash\":"
                                      "\"<64 hex digits>\",\"ts\":...})",
                                      path);
        *ret = (brig_audit_mark){.seq = (uint64_t) seq->valuedouble};
        memcpy(ret->hash, hash->valuestring, sizeof(ret->hash));
        if (cJSON_IsString(ts))
                (void) snprintf(ret->ts, sizeof(ret->ts), "%s", ts->valuestring);
        return 0;
}

int brig_audit_checkpoint_write(const char *path, const brig_audit_mark *m, brig_error *err) {
        _cleanup_free_ char *tmp = NULL, *dir = strdup(path), *text = NULL;
        _cleanup_close_ int fd = -1, dfd = -1;
        int r;

        if (!dir || asprintf(&tmp, "%s.tmp", path) < 0 ||
            asprintf(&text, "{\"seq\":%llu,\"hash\":\"%s\",\"ts\":\"%s\"}\n", (unsigned long long) m->seq,
                     m->hash, m->ts) < 0)
                return brig_error_oom(err);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "audit checkpoint: create '%s'", tmp);
        if ((r = brig_write_all(fd, text, strlen(text))) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "audit checkpoint: write '%s'", tmp);
        /* The data reaches the disk before the name does, so a crash never leaves an empty checkpoint. */
        if (fsync(fd) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "audit checkpoint: fsync '%s'", tmp);
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "audit checkpoint: rename to '%s'", path);
        }
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO,
                                            "audit checkpoint: fsync its directory");
        return 0;
}
