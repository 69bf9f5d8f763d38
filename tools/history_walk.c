/* SPDX-License-Identifier: MIT */
/* Walking a snapshot's tree with each file's content, for the environment archive (worker/env_export.c),
 * on a repository opened apart from the environment's own brig_history. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "tools/history_private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_repository *, git_repository_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_blob *, git_blob_free);

typedef struct walk_state {
        git_repository *repo;
        brig_history_walk_fn fn;
        void *userdata;
        brig_error *err;
        int r; /* what stopped the walk */
} walk_state;

static int walk_cb(const char *root, const git_tree_entry *te, void *payload) {
        walk_state *ws = payload;
        _cleanup_(git_blob_freep) git_blob *blob = NULL;
        char path[PATH_MAX];
        brig_history_entry e = {.path = path};
        git_filemode_t mode = git_tree_entry_filemode(te);
        int r;

        if (mode == GIT_FILEMODE_COMMIT)
                return 0;
        if ((size_t) snprintf(path, sizeof(path), "%s%s", root, git_tree_entry_name(te)) >= sizeof(path)) {
                ws->r = brig_error_set(ws->err, -ENAMETOOLONG, BRIG_KIND_IO, "history: path too long: %s%s",
                                       root, git_tree_entry_name(te));
                return -1;
        }
        if (mode == GIT_FILEMODE_TREE)
                e.type = BRIG_HISTORY_ENTRY_DIR;
        else {
                if ((r = git_blob_lookup(&blob, ws->repo, git_tree_entry_id(te))) < 0) {
                        const git_error *ge = git_error_last();
                        ws->r = brig_error_set(ws->err, -EIO, BRIG_KIND_IO, "history: read '%s': %s", path,
                                               ge && ge->message ? ge->message : "unknown error");
                        return -1;
                }
                e.type = mode == GIT_FILEMODE_LINK ? BRIG_HISTORY_ENTRY_SYMLINK : BRIG_HISTORY_ENTRY_FILE;
                e.executable = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
                e.data = git_blob_rawcontent(blob);
                e.size = (size_t) git_blob_rawsize(blob);
        }
        if ((r = ws->fn(&e, ws->userdata, ws->err)) < 0) {
                ws->r = r;
                return -1;
        }
        return 0;
}

static int git_fail(brig_error *err, int gr, const char *what) {
        const git_error *ge = git_error_last();
        return brig_error_set(err, gr == GIT_ENOTFOUND ? -ENOENT : -EIO,
                              gr == GIT_ENOTFOUND ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO, "history: %s: %s",
                              what, ge && ge->message ? ge->message : "unknown error");
}

int brig_history_tree_walk(const char *git_dir, const char *commit, brig_history_walk_fn fn, void *userdata,
                           brig_error *err) {
        _cleanup_(git_repository_freep) git_repository *repo = NULL;
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        walk_state ws = {.fn = fn, .userdata = userdata, .err = err};
        git_oid oid;
        int r;

        if (strlen(commit) != GIT_OID_HEXSZ || git_oid_fromstr(&oid, commit) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "history: bad snapshot id");
        if ((r = brig__history_lib_acquire(err)) < 0)
                return r;
        if ((r = git_repository_open_ext(
                     &repo, git_dir, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL)) < 0)
                r = git_fail(err, r, "open");
        else if ((r = git_commit_lookup(&c, repo, &oid)) < 0)
                r = git_fail(err, r, "snapshot");
        else if ((r = git_commit_tree(&tree, c)) < 0)
                r = git_fail(err, r, "snapshot's tree");
        else {
                ws.repo = repo;
                if ((r = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &ws)) < 0)
                        r = ws.r < 0 ? ws.r : git_fail(err, r, "walk");
        }
        /* Everything libgit2 holds goes before the global state it lives in. */
        git_tree_free(tree);
        tree = NULL;
        git_commit_free(c);
        c = NULL;
        git_repository_free(repo);
        repo = NULL;
        brig__history_lib_release();
        return r < 0 ? r : 0;
}
