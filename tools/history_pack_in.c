/* SPDX-License-Identifier: MIT */
/* Taking an untrusted pack into a history (history_pack_in.h). libgit2 reads a pack through its index
 * and, in 1.5, follows a REF_DELTA's base by id without a cycle check: an index that maps an id to a delta
 * whose base is that id makes a read loop forever. So no index of the source is kept: the indexer builds
 * one from the pack's content, and it fails on exactly what would make such an index. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "tools/history_pack_in.h"
#include "tools/history_private.h"

/* What the pack's objects expand to, read as the bytes pass: libgit2 holds a whole object (a delta's
 * result too) in memory to hash it, and a delta of a few bytes can copy a base of megabytes thousands of
 * times, so each object's size and their sum are bounded before the indexer resolves anything. Object
 * sizes are in the pack's entry headers and, for a delta, at the start of its inflated data; finding where
 * an entry ends takes inflating it (once more than the indexer does). */
typedef struct scan {
        enum { S_HEAD, S_ENTRY, S_BASE, S_DATA, S_DONE } state;
        unsigned char head[12];
        size_t head_len, base_left; /* S_HEAD's bytes; S_BASE: a REF_DELTA's id bytes still to skip */
        uint32_t left;              /* entries still to come */
        int type, shift;
        bool more; /* S_ENTRY: a header byte follows */
        uint64_t size;
        unsigned char delta[20]; /* a delta's first bytes: its base's size and its result's */
        size_t delta_len;
        z_stream z;
        bool z_init;
        unsigned char *out; /* inflated bytes land here, unread beyond delta[] */
        uint64_t pack_bytes, max_object, max_total, total;
} scan;

/* The least an entry takes: a header byte and an empty zlib stream (8 bytes). */
#define ENTRY_MIN 9

enum { OBJ_COMMIT = 1, OBJ_TREE = 2, OBJ_BLOB = 3, OBJ_TAG = 4, OBJ_OFS_DELTA = 6, OBJ_REF_DELTA = 7 };
#define SCAN_OUT (64 * 1024)

static int scan_invalid(brig_error *err, const char *why) {
        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "not a valid pack: %s", why);
}

static int scan_count(scan *s, uint64_t size, brig_error *err) {
        if (size > s->max_object)
                return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT,
                                      "pack: an object of %llu bytes, over %llu (the workspace quota, or "
                                      "the free space)",
                                      (unsigned long long) size, (unsigned long long) s->max_object);
        if (size > s->max_total - s->total)
                return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT,
                                      "pack: its objects expand to more than %llu bytes",
                                      (unsigned long long) s->max_total);
        s->total += size;
        return 0;
}

/* A delta's result size: after its base's, each a little-endian varint. */
static int delta_result(const scan *s, uint64_t *ret) {
        size_t i = 0;

        for (int n = 0; n < 2; n++) {
                uint64_t v = 0;
                int shift = 0;
                for (;; shift += 7) {
                        if (i >= s->delta_len || shift > 56)
                                return -EINVAL;
                        v |= (uint64_t) (s->delta[i] & 0x7f) << shift;
                        if (!(s->delta[i++] & 0x80))
                                break;
                }
                *ret = v;
        }
        return 0;
}

static int scan_entry_done(scan *s, brig_error *err) {
        uint64_t result;
        int r;

        if (s->z.total_out != s->size)
                return scan_invalid(err, "an entry whose data is not the size its header says");
        if (s->type == OBJ_OFS_DELTA || s->type == OBJ_REF_DELTA) {
                if (delta_result(s, &result) < 0)
                        return scan_invalid(err, "a delta without its sizes");
                if ((r = scan_count(s, result, err)) < 0)
                        return r;
        }
        if (inflateReset(&s->z) != Z_OK)
                return scan_invalid(err, "zlib");
        s->state = --s->left ? S_ENTRY : S_DONE;
        s->shift = 0;
        return 0;
}

/* Inflates what it can of the entry's data from *p; the bytes after its end stay for the next entry. */
static int scan_data(scan *s, const unsigned char **p, size_t *n, brig_error *err) {
        for (;;) {
                uLong before = s->z.total_out;
                s->z.next_in = (Bytef *) *p;
                s->z.avail_in = *n > UINT_MAX ? UINT_MAX : (uInt) *n;
                s->z.next_out = s->out;
                s->z.avail_out = SCAN_OUT;
                int zr = inflate(&s->z, Z_NO_FLUSH);
                size_t used = (size_t) (s->z.next_in - *p), made = s->z.total_out - before;
                *p += used;
                *n -= used;
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                        return scan_invalid(err, "an entry whose data does not inflate");
                if (s->z.total_out > s->size)
                        return scan_invalid(err, "an entry whose data is larger than its header says");
                for (size_t i = 0; i < made && s->delta_len < sizeof(s->delta); i++)
                        s->delta[s->delta_len++] = s->out[i];
                if (zr == Z_STREAM_END)
                        return scan_entry_done(s, err);
                /* Output room left: zlib wants more input. (Full: it may hold more output, even with
                 * all input taken.) */
                if (s->z.avail_out > 0 && *n == 0)
                        return 0;
                if (used == 0 && made == 0)
                        return scan_invalid(err, "an entry whose data does not inflate");
        }
}

/* One byte of an entry's header: its type and size (4 bits, then 7 a byte), then a delta's base. */
static int scan_header_byte(scan *s, unsigned char c, brig_error *err) {
        int r;

        if (s->state == S_BASE) {
                /* An OFS_DELTA's offset: a varint; a REF_DELTA's id: 20 bytes. */
                if (s->type == OBJ_OFS_DELTA ? !(c & 0x80) : --s->base_left == 0)
                        s->state = S_DATA;
                else if (s->type == OBJ_OFS_DELTA && ++s->base_left > 10)
                        return scan_invalid(err, "a delta's offset too long");
                return 0;
        }
        if (s->shift == 0) {
                s->type = (c >> 4) & 7;
                s->size = c & 15;
                s->shift = 4;
        } else if (s->shift > 60)
                return scan_invalid(err, "an entry's size too long");
        else {
                s->size |= (uint64_t) (c & 0x7f) << s->shift;
                s->shift += 7;
        }
        if (c & 0x80)
                return 0;
        if (s->type != OBJ_COMMIT && s->type != OBJ_TREE && s->type != OBJ_BLOB && s->type != OBJ_TAG &&
            s->type != OBJ_OFS_DELTA && s->type != OBJ_REF_DELTA)
                return scan_invalid(err, "an entry of unknown type");
        /* A delta's data is its instructions: no larger than its result, give or take a header. */
        if (s->type != OBJ_OFS_DELTA && s->type != OBJ_REF_DELTA) {
                if ((r = scan_count(s, s->size, err)) < 0)
                        return r;
        } else if (s->size > 64 && (s->size - 64) / 2 > s->max_object)
                return scan_count(s, s->size, err);
        s->delta_len = 0;
        s->base_left = s->type == OBJ_REF_DELTA ? 20 : 0;
        s->state = s->type == OBJ_OFS_DELTA || s->type == OBJ_REF_DELTA ? S_BASE : S_DATA;
        return 0;
}

static int scan_append(scan *s, const void *data, size_t n, brig_error *err) {
        const unsigned char *p = data;
        int r;

        while (n > 0 && s->state != S_DONE) {
                if (s->state == S_DATA) {
                        if ((r = scan_data(s, &p, &n, err)) < 0)
                                return r;
                        continue;
                }
                if (s->state == S_HEAD) {
                        s->head[s->head_len++] = *p;
                        if (s->head_len == sizeof(s->head)) {
                                uint32_t version = (uint32_t) s->head[4] << 24 | s->head[5] << 16 |
                                                   s->head[6] << 8 | s->head[7];
                                if (memcmp(s->head, "PACK", 4) != 0 || (version != 2 && version != 3))
                                        return scan_invalid(err, "no version 2 or 3 pack header");
                                s->left = (uint32_t) s->head[8] << 24 | s->head[9] << 16 | s->head[10] << 8 |
                                          s->head[11];
                                /* libgit2 sizes its tables by this count before it reads an entry. */
                                if (s->left > s->pack_bytes / ENTRY_MIN)
                                        return scan_invalid(err, "more objects than its size can hold");
                                s->state = s->left ? S_ENTRY : S_DONE;
                        }
                } else if ((r = scan_header_byte(s, *p, err)) < 0)
                        return r;
                p++;
                n--;
        }
        return 0;
}

struct brig_pack_in {
        scan scan;
        git_indexer *idx;
        git_indexer_progress stats;
        int dirfd;
        uid_t uid;
        gid_t gid;
        bool lib; /* holds a reference to libgit2's global state */
};

static int pack_error(brig_error *err, const char *what) {
        const git_error *e = git_error_last();
        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s: %.200s", what,
                              e && e->message ? e->message : "not a valid pack");
}

int brig_pack_in_new(int pack_dirfd, uid_t uid, gid_t gid, uint64_t pack_bytes, uint64_t max_object,
                     uint64_t max_total, brig_pack_in **ret, brig_error *err) {
        git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
        brig_pack_in *p = calloc(1, sizeof(*p));
        char path[64];
        int r;

        if (!p)
                return brig_error_oom(err);
        p->scan.pack_bytes = pack_bytes;
        p->scan.max_object = max_object;
        p->scan.max_total = max_total;
        if (!(p->scan.out = malloc(SCAN_OUT)) || inflateInit(&p->scan.z) != Z_OK) {
                brig_pack_in_free(p);
                return brig_error_oom(err);
        }
        p->scan.z_init = true;
        p->dirfd = pack_dirfd;
        p->uid = uid;
        p->gid = gid;
        if ((r = brig__history_lib_acquire(err)) < 0) {
                brig_pack_in_free(p);
                return r;
        }
        p->lib = true;
        /* The directory by its descriptor: the name it was opened by is not looked up again. */
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", pack_dirfd);
        /* No object database: a delta's base must be in the pack itself. */
        if (git_indexer_new(&p->idx, path, 0444, NULL, &opts) < 0) {
                r = brig_error_set(err, -EIO, BRIG_KIND_IO, "pack: start the indexer: %.200s",
                                   git_error_last() && git_error_last()->message ? git_error_last()->message
                                                                                 : "unknown error");
                brig_pack_in_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int brig_pack_in_append(brig_pack_in *p, const void *data, size_t n, brig_error *err) {
        int r;

        if ((r = scan_append(&p->scan, data, n, err)) < 0)
                return r;
        if (git_indexer_append(p->idx, data, n, &p->stats) < 0)
                return pack_error(err, "not a valid pack");
        return 0;
}

static int chown_file(brig_pack_in *p, const char *name, const char *ext, brig_error *err) {
        char file[128];

        (void) snprintf(file, sizeof(file), "pack-%s.%s", name, ext);
        if (fchownat(p->dirfd, file, p->uid, p->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "pack: chown %s", file);
        return 0;
}

int brig_pack_in_commit(brig_pack_in *p, brig_error *err) {
        const char *name;
        int r;

        if (p->scan.state != S_DONE)
                return scan_invalid(err, "truncated");
        if (git_indexer_commit(p->idx, &p->stats) < 0)
                return pack_error(err, "not a valid pack (its objects do not resolve)");
        if (p->uid == (uid_t) -1)
                return 0;
        name = git_indexer_name(p->idx);
        if ((r = chown_file(p, name, "pack", err)) < 0 || (r = chown_file(p, name, "idx", err)) < 0)
                return r;
        return 0;
}

uint64_t brig_pack_in_expanded(const brig_pack_in *p) {
        return p->scan.total;
}

void brig_pack_in_free(brig_pack_in *p) {
        if (!p)
                return;
        git_indexer_free(p->idx);
        if (p->scan.z_init)
                (void) inflateEnd(&p->scan.z);
        free(p->scan.out);
        if (p->lib)
                brig__history_lib_release();
        free(p);
}
