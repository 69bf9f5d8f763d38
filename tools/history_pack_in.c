/* SPDX-License-Identifier: MIT */
/* Taking an untrusted pack into a history (history_pack_in.h). libgit2 reads a pack through its index
 * and, in 1.5, follows a REF_DELTA's base by id without a cycle check: an index that maps an id to a delta
 * whose base is that id makes a read loop forever. So no index of the source is kept: the indexer builds
 * one from the pack's content, and it fails on exactly what would make such an index. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <git2.h>

#include "common/cleanup.h"
#include "tools/history_pack_in.h"
#include "tools/history_private.h"

struct brig_pack_in {
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

int brig_pack_in_new(int pack_dirfd, uid_t uid, gid_t gid, brig_pack_in **ret, brig_error *err) {
        git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
        brig_pack_in *p = calloc(1, sizeof(*p));
        char path[64];
        int r;

        if (!p)
                return brig_error_oom(err);
        p->dirfd = pack_dirfd;
        p->uid = uid;
        p->gid = gid;
        if ((r = brig__history_lib_acquire(err)) < 0) {
                free(p);
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

        if (git_indexer_commit(p->idx, &p->stats) < 0)
                return pack_error(err, "not a valid pack (its objects do not resolve)");
        if (p->uid == (uid_t) -1)
                return 0;
        name = git_indexer_name(p->idx);
        if ((r = chown_file(p, name, "pack", err)) < 0 || (r = chown_file(p, name, "idx", err)) < 0)
                return r;
        return 0;
}

void brig_pack_in_free(brig_pack_in *p) {
        if (!p)
                return;
        git_indexer_free(p->idx);
        if (p->lib)
                brig__history_lib_release();
        free(p);
}
