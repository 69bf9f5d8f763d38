/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared between tools/memory_store.c, tools/memory_index.c (the search index, feedback counts and the
 * usage cache) and tools/memory_blame.c only. */

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>
#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "tools/memory_store.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_blob *, git_blob_free);

struct brig_memory {
        git_repository *repo;
        char *dir;
        int lock_fd; /* -1 until brig_memory_lock() */
        bool lib_held;
        sqlite3 *db; /* the index (memory_index.c), opened on first use; NULL until then */
};

/* libgit2's last error (gr) as err, without the store's host path. */
int brig__memory_fail(brig_memory *m, int gr, brig_error *err, const char *what);

/* The current version's commit and tree; both NULL while the scope has none. */
int brig__memory_head(brig_memory *m, git_commit **ret_commit, git_tree **ret_tree, brig_error *err);

/* o's version, time and provenance fields from c's trailers (environment, call_id, peer_uid, command,
 * path, feedback; null when absent), as memory_history lists them. */
int brig__memory_describe(git_commit *c, cJSON *o, brig_error *err);

/* Makes tree_id the new version on top of parent (NULL: the first), by who, and brings the index up to
 * it. Lock held. */
int brig__memory_commit_tree(brig_memory *m, git_commit *parent, const git_oid *tree_id,
                             const brig_memory_author *who, char ret_id[41], brig_error *err);

/* Brings the index up to the current version: a catch-up from the version it records (the files the
 * trees' diff names, the feedback of the commits since), or a rebuild when it has none, is not an ancestor
 * or the file is missing or damaged. Lock held. */
int brig__memory_index_sync(brig_memory *m, brig_error *err);

/* The scope's size at version at from the index, without walking the tree: true when the index records
 * exactly that version (else the caller measures the tree). Never fails. */
bool brig__memory_index_usage(brig_memory *m, const git_oid *at, uint64_t *ret_bytes, uint64_t *ret_files);

void brig__memory_index_close(brig_memory *m);
