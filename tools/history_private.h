/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared between tools/history*.c only, and tools/memory_store.c for the libgit2 settings and cleanups. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <git2.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "tools/history.h"
#include "tools/wsusage.h"

struct brig_history {
        git_repository *repo;
        git_index *index; /* kept loaded between calls: its stat cache is what makes snapshots fast */
        char *workspace;  /* realpath, no trailing slash */
        char *git_dir;    /* realpath, no trailing slash */
        char *author;
        uint64_t max_file_size; /* 0: no cap */
        bool as_owner;          /* access files as uid/gid (we are root, the workspace is theirs) */
        uid_t uid;
        gid_t gid;
        bool lib_held; /* holds a git_libgit2_init() reference */
        /* Directories whose names are all tracked, sorted by path (history_scan.c). */
        struct brig__history_dir *dirs;
        size_t n_dirs;
        int64_t settle_ns;  /* directories changed more recently are not cached (tests lower it) */
        bool index_unsaved; /* the index in memory has changes its file lacks (a diff staged them) */
};

/* A directory whose every name was tracked (or a directory descended into) when last read: while its stat
 * data stay the same (any name added, removed or renamed changes its mtime and ctime), it is not read again;
 * its files are still stat-checked. Rebuilt by every scan; lives as long as the brig_history. */
typedef struct brig__history_dir {
        char *path; /* "" for the workspace root */
        dev_t dev;
        ino_t ino;
        struct timespec mtime, ctime;
        char **subdirs; /* NULL-terminated names descended into */
        bool cacheable; /* while scanning */
} brig__history_dir;

/* Forgets the directory cache (after a checkout, or on error). */
void brig__history_dirs_free(brig_history *h);

DEFINE_TRIVIAL_CLEANUP_FUNC(git_commit *, git_commit_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree *, git_tree_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_tree_entry *, git_tree_entry_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_diff *, git_diff_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_revwalk *, git_revwalk_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_signature *, git_signature_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_config *, git_config_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_history *, brig_history_free);

/* A reference to libgit2's global state with the settings above (history.c) in place, for code that opens a
 * repository without a brig_history; each successful acquire needs a release. */
int brig__history_lib_acquire(brig_error *err);
void brig__history_lib_release(void);

/* The thread's filesystem uid/gid while a call runs as the workspace's owner. */
typedef struct brig__history_ids {
        bool active;
        uid_t old_uid;
        gid_t old_gid;
} brig__history_ids;

/* Switches the calling thread's fsuid/fsgid to the workspace owner's when h->as_owner; undo with
 * brig__history_leave (usable as a cleanup function). */
int brig__history_enter(const brig_history *h, brig__history_ids *ids, brig_error *err);
void brig__history_leave(brig__history_ids *ids);

/* Copies libgit2's last error (thread-local) into err as "<what>: <message>", with the host paths of the
 * workspace and git directory taken out; maps libgit2 codes to negative errnos and kinds. Returns the code.
 */
/* The config keys packing needs set to 1 (brig_history_repack(): no delta search). libgit2 tries deltas
 * only for objects up to pack.bigFileThreshold bytes, but libgit2 up to at least 1.5 reads that limit from
 * pack.deltaCacheSize (packbuilder_config() in src/libgit2/pack-objects.c): both. Set when a repository is
 * created, and by a repack when missing (a history imported or forked from an older brig). */
extern const char *const brig__history_pack_config[2];

int brig__history_git_error(const brig_history *h, int gr, brig_error *err, const char *what);

/* Checks a workspace-relative path argument (no "..", not absolute) and copies it without a trailing slash
 * into buf. */
int brig__history_check_path(const char *path, const char *field, char *buf, size_t size, brig_error *err);

/* Resolves "HEAD", a full or >= 4-digit abbreviated commit id, each optionally followed by "~N", "~" or "^",
 * to a commit. `field` names the argument in errors. */
int brig__history_resolve(brig_history *h, const char *spec, const char *field, git_commit **ret,
                          brig_error *err);

/* Makes the index match the workspace, like `git add -A` (history_scan.c); *ret_changed when an entry was
 * added, removed or refreshed. The index is changed in memory only. */
int brig__history_stage(brig_history *h, bool *ret_changed, brig_error *err);

/* Writes the files of `tree` into h's (empty) workspace and h's index from them (history_fork_write.c):
 * copied from source's workspace where it vouches for them (NULL: none), else from their blobs; owned by
 * uid:gid (-1: as created). *ret_usage is the workspace's disk usage as brig_wsusage_measure() counts it.
 * Call it as root or brigd's user, not as the owner: it switches to the owner for the index itself. */
int brig__history_fork_write(brig_history *h, git_tree *tree, const brig_history_fork_source *source,
                             uid_t uid, gid_t gid, brig_wsusage *ret_usage, brig_error *err);

/* The head commit, or *ret = NULL when nothing was snapshotted yet. */
int brig__history_head(brig_history *h, git_commit **ret, brig_error *err);
