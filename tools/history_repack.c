/* SPDX-License-Identifier: MIT */
/* Packing a history's loose objects at rest: every snapshot writes each new object as a file of its own
 * (12,000 files for a 10,000-file workspace), which export, import and fork then handle one by one. Packed,
 * they are two files (pack and index) that export copies, import writes and fork hard-links whole.
 *
 * Crash safety: the pack and its index are written by libgit2 (temporary names, renamed into place) and
 * synced before any loose object goes; a crash in between leaves objects both loose and packed, which git
 * reads alike. Only the loose objects enumerated before packing are removed, and each of those is in the
 * new pack, so no object is ever lost, whatever else the directory holds. */
#include <assert.h>
#include <dirent.h>
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
 * packed ones too), which *ret_odb keeps for reading their sizes. */
static int list_loose(brig_history *h, const char *objects, oid_list *l, git_odb **ret_odb,
                      brig_error *err) {
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
        if (r < 0)
                return brig__history_git_error(h, r, err, "repack: list loose objects");
        *ret_odb = TAKE_PTR(odb);
        return 0;
}

/* How many of l's first objects one pass takes: at most max_objects (0: any number), and no more once
 * their summed size reaches max_bytes (0: any size), but always one. Sizes come from the objects' headers
 * (a loose object's inflated start), not from reading them whole. */
static int pass_share(brig_history *h, git_odb *loose, const oid_list *l,
                      const brig_history_repack_limits *lim, size_t *ret_n, brig_error *err) {
        size_t n = l->n;
        uint64_t bytes = 0;

        if (lim->max_objects && n > lim->max_objects)
                n = lim->max_objects;
        if (!lim->max_bytes) {
                *ret_n = n;
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                git_object_t type;
                size_t size;
                int r = git_odb_read_header(&size, &type, loose, &l->ids[i]);

                if (r < 0)
                        return brig__history_git_error(h, r, err, "repack: read an object's size");
                bytes += size;
                if (bytes >= lim->max_bytes) {
                        *ret_n = i + 1;
                        return 0;
                }
        }
        *ret_n = n;
        return 0;
}

/* The number of packs in objects/pack (0 when it does not exist yet). */
static int count_packs(const char *objects, size_t *ret) {
        char path[PATH_MAX];
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        size_t n = 0, len;

        (void) snprintf(path, sizeof(path), "%s/pack", objects);
        if (!(d = opendir(path))) {
                if (errno != ENOENT)
                        return -errno;
                *ret = 0;
                return 0;
        }
        while ((de = readdir(d)))
                n += strncmp(de->d_name, "pack-", 5) == 0 && (len = strlen(de->d_name)) > 5 &&
                     strcmp(de->d_name + len - 5, ".pack") == 0;
        *ret = n;
        return 0;
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

/* Sets what packing needs in the repository's config when it is not set yet (a history imported or forked
 * from an older brig): rewriting the config on every pass would be a write and a sync for nothing. */
static int pack_config(brig_history *h, brig_error *err) {
        _cleanup_(git_config_freep) git_config *cfg = NULL;
        int64_t v;
        int r;

        if ((r = git_repository_config(&cfg, h->repo)) < 0)
                return brig__history_git_error(h, r, err, "repack: configure repository");
        for (size_t i = 0; i < ELEMENTSOF(brig__history_pack_config); i++) {
                r = git_config_get_int64(&v, cfg, brig__history_pack_config[i]);
                if (r == 0 && v == 1)
                        continue;
                if ((r = git_config_set_int64(cfg, brig__history_pack_config[i], 1)) < 0)
                        return brig__history_git_error(h, r, err, "repack: configure repository");
        }
        return 0;
}

int brig_history_repack(brig_history *h, const brig_history_repack_limits *lim,
                        brig_history_repack_result *ret, brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_packbuilder_freep) git_packbuilder *pb = NULL;
        _cleanup_(git_odb_freep) git_odb *loose = NULL;
        _cleanup_free_ git_oid *list_ids = NULL;
        oid_list l = {0};
        char objects[PATH_MAX];
        size_t n = 0, packs = 0;
        git_odb *odb;
        int r;

        assert(h && lim && ret);
        (void) snprintf(objects, sizeof(objects), "%s/objects", h->git_dir);
        if ((r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        /* Each pack costs an fd while it is read (up to BRIG_HISTORY_OPEN_PACKS, then reopened in turn)
         * and a search on every lookup that misses: past max_packs the rest stays loose. */
        if ((r = count_packs(objects, &packs)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "repack: list packs");
        if (lim->max_packs && packs >= lim->max_packs) {
                *ret = (brig_history_repack_result){0};
                return 0;
        }
        r = list_loose(h, objects, &l, &loose, err);
        list_ids = l.ids;
        if (r < 0)
                return r;
        if (l.n < lim->min_loose || l.n == 0) {
                *ret = (brig_history_repack_result){0};
                return 0;
        }
        /* The rest stays loose, read as before, for the next pass: only what goes in the pack is removed. */
        if ((r = pass_share(h, loose, &l, lim, &n, err)) < 0)
                return r;
        /* No delta search: it costs several times the packing itself (10 s against 2.4 s for 12,000
         * objects), and objects stored whole are read without resolving chains (brig__history_pack_config,
         * set when the repository is created). */
        if ((r = pack_config(h, err)) < 0)
                return r;
        if ((r = git_packbuilder_new(&pb, h->repo)) < 0)
                return brig__history_git_error(h, r, err, "repack");
        (void) git_packbuilder_set_threads(pb, 1);
        for (size_t i = 0; i < n; i++)
                if ((r = git_packbuilder_insert(pb, &l.ids[i], NULL)) < 0)
                        return brig__history_git_error(h, r, err, "repack: add an object");
        /* NULL: the repository's own objects/pack, under temporary names until complete. */
        if ((r = git_packbuilder_write(pb, NULL, 0, NULL, NULL)) < 0)
                return brig__history_git_error(h, r, err, "repack: write the pack");
        if ((r = sync_pack(objects, git_packbuilder_name(pb))) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "repack: sync the pack");
        /* Only the objects in the pack: drop_loose removes l's first l.n. */
        bool more = n < l.n;
        l.n = n;
        if ((r = drop_loose(objects, &l, err)) < 0)
                return r;
        /* The open repository finds the new pack when a loose lookup misses; tell it now. */
        if (git_repository_odb(&odb, h->repo) == 0) {
                (void) git_odb_refresh(odb);
                git_odb_free(odb);
        }
        *ret = (brig_history_repack_result){.packed = n, .more = more};
        return 0;
}
