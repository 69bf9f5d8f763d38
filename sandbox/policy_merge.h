/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/* Policy inheritance ("extends", docs/policy.md): loads a policy's chain of parent files and merges their
 * JSON documents into one, before the policy parser validates it, recording which file set each value.
 * Blocking file I/O: not for the event-loop thread. Does not log. */

/* At most this many files in one chain, the extending file included. */
#define BRIG_POLICY_MAX_CHAIN 16

/* One leaf of a merged document (a scalar, an empty array or object, or an array item that is not an
 * object) and the file that set it. */
typedef struct brig_policy_leaf {
        char *path; /* JSON path as in diagnostics: "limits.memory", "filesystem.read_only[2].source" */
        const char *file;   /* borrowed from brig_policy_tree.files */
        const cJSON *value; /* borrowed from brig_policy_tree.root */
} brig_policy_leaf;

/* A merged policy document and its provenance. */
typedef struct brig_policy_tree {
        cJSON *root;  /* the merged document, without "extends" */
        char **files; /* the chain: the loaded file (or its origin, e.g. "<inline>") first, then each parent;
                         NULL-terminated */
        size_t n_files;
        brig_policy_leaf *leaves; /* in document order */
        size_t n_leaves;
} brig_policy_tree;

/* Receives one problem: file is the parent file it is in, or NULL for the document being loaded; path is
 * the JSON path in that file ("" for the file as a whole); line and column are 1-based, 0 when unknown. */
typedef void (*brig_policy_merge_problem_cb)(const char *file, const char *path, unsigned line,
                                             unsigned column, const char *msg, void *userdata);

/* Resolves the "extends" chain of *root, a document parsed from origin (a path, or NULL or "<...>" for
 * text that is not a file: its parents are then looked up relative to the working directory), and merges
 * it: on success *root is replaced by the merged document (the old one is freed) and, if ret_tree is
 * non-NULL, the tree takes ownership of it (*root is then NULL) and records every leaf's file. A document
 * without "extends" is left as it is. Every problem found goes to problem_cb (may be NULL); returns 0,
 * -EINVAL after reporting at least one problem, or -ENOMEM. */
int brig_policy_merge(cJSON **root, const char *origin, brig_policy_tree *ret_tree,
                      brig_policy_merge_problem_cb problem_cb, void *userdata);

/* Reads the policy file path (at most 1 MiB of UTF-8 JSON) and merges it as above into *ret_tree. */
int brig_policy_tree_load(const char *path, brig_policy_tree *ret_tree,
                          brig_policy_merge_problem_cb problem_cb, void *userdata);

/* The file that set the value at JSON path (a leaf, or everything below it), if one file set all of it;
 * else, while path has a parent, the same for the parent; NULL when unknown or mixed. Borrowed from t. */
const char *brig_policy_tree_file_at(const brig_policy_tree *t, const char *path);

/* Frees the contents of t; accepts a zeroed or half-built tree. */
void brig_policy_tree_done(brig_policy_tree *t);
