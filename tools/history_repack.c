/* SPDX-License-Identifier: MIT */
/* Packing a history's loose objects at rest: every snapshot writes each new object as a file of its own
 * (12,000 files for a 10,000-file workspace), which export, import and fork then handle one by one. Packed,
 * they are two files (pack and index) that export copies, import writes and fork hard-links whole.
 *
 * Crash safety: the pack and its index are written by libgit2 (temporary names, renamed into place) and
 * synced before any loose object goes; a crash in between leaves objects both loose and packed, which git
 * reads alike. Only the loose objects enumerated before packing are removed, and each of those is in the
 * new pack, so no object is ever lost, whatever else the directory holds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2/sys/odb_backend.h>

#include "common/cleanup.h"
#include "tools/history_private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_odb *, git_odb_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_packbuilder *, git_packbuilder_free);

/* The loose objects found, in the order found. */
typedef struct oid_list {
        git_oid *ids;
        size_t n, cap;
} oid_list;

static int collect_cb(const git_oid *id, void *payload) {
        oid_list *l = payload;

        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 1024;
                git_oid *ids = reallocarray(l->ids, cap, sizeof(*ids));
                if (!ids)
                        return -ENOMEM;
                l->ids = ids;
                l->cap = cap;
        }
        l->ids[l->n++] = *id;
        return 0;
}

/* Every loose object of h, read through a loose-only object database (the repository's own would list the
 * packed ones too). */
static int list_loose(brig_history *h, const char *objects, oid_list *l, brig_error *err) {
        _cleanup_(git_odb_freep) git_odb *odb = NULL;
        git_odb_backend *loose = NULL;
        int r;

        if ((r = git_odb_new(&odb)) < 0 || (r = git_odb_backend_loose(&loose, objects, -1, 0, 0, 0)) < 0)
                return brig__history_git_error(h, r, err, "repack: loose objects");
        if ((r = git_odb_add_backend(odb, loose, 1)) < 0) {
                loose->free(loose);
                return brig__history_git_error(h, r, err, "repack: loose objects");
        }
        r = git_odb_foreach(odb, collect_cb, l);
        if (r == -ENOMEM)
                return brig_error_oom(err);
        return r < 0 ? brig__history_git_error(h, r, err, "repack: list loose objects") : 0;
}

/* fsync of a file or directory below dfd. */
static int sync_at(int dfd, const char *name) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

/* The new pack and its index on disk (a crash must not leave the loose copies gone and the pack not yet
 * written), then the directory that names them. */
static int sync_pack(const char *objects, const char *name) {
        char path[PATH_MAX];
        _cleanup_close_ int dfd = -1;
        int r;

        (void) snprintf(path, sizeof(path), "%s/pack", objects);
        if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
        (void) snprintf(path, sizeof(path), "pack-%s.pack", name);
        if ((r = sync_at(dfd, path)) < 0)
                return r;
        (void) snprintf(path, sizeof(path), "pack-%s.idx", name);
        if ((r = sync_at(dfd, path)) < 0)
                return r;
        return fsync(dfd) < 0 ? -errno : 0;
}

/* Removes the loose copies of l's objects (all in the new pack); their emptied fan-out directories stay. */
static int drop_loose(const char *objects, const oid_list *l, brig_error *err) {
        _cleanup_close_ int dfd = open(objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char hex[GIT_OID_HEXSZ + 1], name[GIT_OID_HEXSZ + 2];

        if (dfd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "repack: open objects");
        for (size_t i = 0; i < l->n; i++) {
                (void) git_oid_tostr(hex, sizeof(hex), &l->ids[i]);
                (void) snprintf(name, sizeof(name), "%.2s/%s", hex, hex + 2);
                if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "repack: remove %s", name);
        }
        return 0;
}

int brig_history_repack(brig_history *h, size_t min_loose, size_t max_objects, size_t *ret_packed,
                        brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_packbuilder_freep) git_packbuilder *pb = NULL;
        _cleanup_(git_config_freep) git_config *cfg = NULL;
        _cleanup_free_ git_oid *list_ids = NULL;
        oid_list l = {0};
        char objects[PATH_MAX];
        git_odb *odb;
        int r;

        (void) snprintf(objects, sizeof(objects), "%s/objects", h->git_dir);
        if ((r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        r = list_loose(h, objects, &l, err);
        list_ids = l.ids;
        if (r < 0)
                return r;
        if (l.n < min_loose || l.n == 0) {
                *ret_packed = 0;
                return 0;
        }
        /* The rest stays loose, read as before, for the next pass: only what goes in the pack is removed. */
        if (max_objects && l.n > max_objects)
                l.n = max_objects;
        /* No delta search: it costs several times the packing itself (10 s against 2.4 s for 12,000
         * objects), and objects stored whole are read without resolving chains. libgit2 tries deltas only
         * for objects up to pack.bigFileThreshold bytes, but libgit2 up to at least 1.5 reads that limit
         * from pack.deltaCacheSize (packbuilder_config() in src/libgit2/pack-objects.c): set both. */
        if ((r = git_repository_config(&cfg, h->repo)) < 0 ||
            (r = git_config_set_int64(cfg, "pack.bigFileThreshold", 1)) < 0 ||
            (r = git_config_set_int64(cfg, "pack.deltaCacheSize", 1)) < 0)
                return brig__history_git_error(h, r, err, "repack: configure repository");
        if ((r = git_packbuilder_new(&pb, h->repo)) < 0)
                return brig__history_git_error(h, r, err, "repack");
        (void) git_packbuilder_set_threads(pb, 1);
        for (size_t i = 0; i < l.n; i++)
                if ((r = git_packbuilder_insert(pb, &l.ids[i], NULL)) < 0)
                        return brig__history_git_error(h, r, err, "repack: add an object");
        /* NULL: the repository's own objects/pack, under temporary names until complete. */
        if ((r = git_packbuilder_write(pb, NULL, 0, NULL, NULL)) < 0)
                return brig__history_git_error(h, r, err, "repack: write the pack");
        if ((r = sync_pack(objects, git_packbuilder_name(pb))) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "repack: sync the pack");
        if ((r = drop_loose(objects, &l, err)) < 0)
                return r;
        /* The open repository finds the new pack when a loose lookup misses; tell it now. */
        if (git_repository_odb(&odb, h->repo) == 0) {
                (void) git_odb_refresh(odb);
                git_odb_free(odb);
        }
        *ret_packed = l.n;
        return 0;
}
