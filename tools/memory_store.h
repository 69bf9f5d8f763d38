/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "sandbox/policy.h"

/* The institutional memory's store: one scope's memories, kept as a bare git repository (libgit2) in brigd's
 * state directory, outside every jail. The memories are the files of the tree HEAD names; every change is
 * one commit whose trailers say who made it (environment, call id, client uid), so nothing is ever lost
 * (brig_memory_log(), and a restore is a new commit).
 *
 * Why bare: there is no working tree an agent or a crash could leave half-written, and no file on disk a
 * symlink could redirect. A change writes its blobs and tree as new objects (libgit2 writes each to a
 * temporary file and renames it into place) and then moves HEAD's branch with a lock file renamed over the
 * ref: until that rename the previous version is the current one, also when the disk is full.
 *
 * Paths here are relative to the scope ("notes/build.md"), already checked by brig_memory_path_parse().
 *
 * Threads: every function blocks on disk I/O; call it from a work thread, never the loop thread. One
 * brig_memory is used by one thread at a time; writers of one scope (several environments, several
 * threads or processes) are serialised by brig_memory_lock(), an flock(2) on the scope's lock file, taken
 * around read-modify-write. Nothing here logs; libgit2's thread-local errors are copied into err. */

typedef struct brig_memory brig_memory;

/* Who makes a change: recorded as the commit's trailers. Borrowed strings; NULL leaves a trailer out. */
typedef struct brig_memory_author {
        const char *environment; /* Brig-Environment */
        const char *call_id;     /* Brig-Call-Id */
        uid_t peer_uid;          /* Brig-Peer-Uid */
        const char *command;     /* Brig-Command: create, str_replace, ..., restore */
        const char *path;        /* Brig-Path: what the command named (its /memories path) */
        const char *feedback;    /* Brig-Feedback: helpful, wrong, stale (memory_feedback only) */
        const char *new_path;    /* Brig-New-Path: a rename's destination (its /memories path), where the
                                  * feedback about the renamed files goes (the search index follows it) */
        const char *note;        /* feedback's note: the message body, one line */
} brig_memory_author;

/* One change of a commit: path gets data (len bytes), or is removed when data is NULL. Borrowed. */
typedef struct brig_memory_change {
        const char *path;
        const char *data;
        size_t len;
} brig_memory_change;

/* What a scope may hold (the policy's memory.max_bytes and memory.max_files). */
typedef struct brig_memory_limits {
        uint64_t max_bytes;
        uint64_t max_files;
} brig_memory_limits;

#define BRIG_MEMORY_MAX_PATH 1024u  /* bytes of a path under /memories */
#define BRIG_MEMORY_MAX_LOG 100u    /* entries memory_history returns */
#define BRIG_MEMORY_MAX_SCAN 10000u /* commits memory_history {path} looks through */

/* Turns a tool's /memories path into a scope path: "/memories" is "" (the scope's root), "/memories/a/b"
 * (a trailing slash is dropped) is "a/b". Refused with -EINVAL/INVALID_ARGUMENT naming `field`: anything
 * outside /memories, empty, "." or ".." components, ".git", control characters, longer than
 * BRIG_MEMORY_MAX_PATH. buf receives the result. Pure. */
int brig_memory_path_parse(const char *path, const char *field, char buf[static BRIG_MEMORY_MAX_PATH + 1],
                           brig_error *err);

/* The directory of a scope under root (brigd's <state-dir>/memory): owner/<uid>, environment/<env_id> or
 * named/<name> (kind and name: the policy's memory.scope). New string in *ret. -ENOMEM,
 * -EINVAL (no environment id for the environment scope). Pure. */
int brig_memory_scope_dir(const char *root, brig_memory_scope_kind kind, const char *name, uid_t peer_uid,
                          const char *env_id, char **ret, brig_error *err);

/* Opens the scope's repository in dir, creating dir (0700, with missing parents) and the repository on
 * first use. *ret is the caller's (brig_memory_free()). Errors: -EIO/IO, -EACCES/DENIED, -ENOMEM. */
int brig_memory_open(const char *dir, brig_memory **ret, brig_error *err);
void brig_memory_free(brig_memory *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_memory *, brig_memory_free);

/* Takes the scope's writer lock (blocks while another writer holds it); brig_memory_unlock() or
 * brig_memory_free() drops it. */
int brig_memory_lock(brig_memory *m, brig_error *err);
void brig_memory_unlock(brig_memory *m);

/* The current content of the file at path: a new NUL-terminated buffer in *ret (its length in *ret_len).
 * -ENOENT/NOT_FOUND when there is none, -EISDIR/INVALID_ARGUMENT when path is a directory. */
int brig_memory_read(brig_memory *m, const char *path, char **ret, size_t *ret_len, brig_error *err);

/* What path is now: 0 absent, 1 a file, 2 a directory (the root "" is always a directory). */
int brig_memory_kind(brig_memory *m, const char *path, brig_error *err);

/* The files and directories below directory path, depth first in name order, at most max_depth levels
 * deep: [{path, dir, size}] (size: the file's bytes, or the bytes of every file below a directory). New
 * array in *ret; the directory's own total in *ret_total. */
int brig_memory_list(brig_memory *m, const char *path, unsigned max_depth, cJSON **ret, uint64_t *ret_total,
                     brig_error *err);

/* The scope paths of every file at or below path (a file: itself), in *ret (a new NULL-terminated array;
 * free with brig_strv_free()). */
int brig_memory_files_below(brig_memory *m, const char *path, char ***ret, brig_error *err);

/* Applies changes as one commit by who on top of the current version, after checking that the result stays
 * within limits (nothing is written when it would not: -E2BIG/LIMIT). Call with the lock held. The new
 * version's id in ret_id. A change set that changes nothing still makes a commit. */
int brig_memory_commit(brig_memory *m, const brig_memory_change *changes, size_t n,
                       const brig_memory_limits *limits, const brig_memory_author *who, char ret_id[41],
                       brig_error *err);

/* {versions: [{version, time, environment, call_id, peer_uid, command, path}], truncated}, newest first,
 * at most BRIG_MEMORY_MAX_LOG; with path (a scope path, "" for all) only versions that changed it or
 * were feedback about it (or a file below it). */
int brig_memory_log(brig_memory *m, const char *path, cJSON **ret, brig_error *err);

/* Brings the scope (path "") or one file or directory back to its state at version (a full id or a unique
 * prefix of at least 4 hex digits) as a new commit by who, within limits. A path absent from version is
 * an error (-ENOENT/NOT_FOUND). The restored version's full id in ret_from, the new one in ret_id. Call
 * with the lock held. */
int brig_memory_restore(brig_memory *m, const char *version, const char *path,
                        const brig_memory_limits *limits, const brig_memory_author *who, char ret_from[41],
                        char ret_id[41], brig_error *err);

/* Search, feedback and attribution (tools/memory_index.c, tools/memory_blame.c). */

#define BRIG_MEMORY_MAX_QUERY 1024u /* bytes of a memory_search query */
#define BRIG_MEMORY_MAX_TERMS 32u   /* words of a query */
#define BRIG_MEMORY_MAX_RESULTS 50u /* passages one search returns */
#define BRIG_MEMORY_MAX_NOTE 1024u  /* bytes of a feedback note */

/* The search index beside a scope's repository (its rollback journal adds "-journal"). Derived from the
 * repository: never exported, and removed from an imported store, whose index could not be trusted (it
 * also counts the scope's usage). */
#define BRIG_MEMORY_INDEX_FILE "index.sqlite"

/* Removes the index (and its journal) of the store at dir; the next search rebuilds it. */
int brig_memory_index_remove(const char *dir, brig_error *err);

/* What a file's feedback says: how often each outcome was reported. */
typedef struct brig_memory_feedback_counts {
        unsigned helpful, wrong, stale;
} brig_memory_feedback_counts;

/* The passages (paragraphs) of the current version that match query, best first, at most limit (1 ..
 * BRIG_MEMORY_MAX_RESULTS): [{path, line, text, score, flags?, feedback?}] in *ret (path: a scope path,
 * line: the passage's first line, 1-based; flags ["wrong", "stale"] and the counts when a file has such
 * feedback). Ranked by SQLite FTS5's BM25, raised by "helpful" feedback and lowered by "wrong" and
 * "stale". Every word of query is a literal term (any text is a valid query); a passage matches when it
 * has any of them. -EINVAL/INVALID_ARGUMENT: no word, more than BRIG_MEMORY_MAX_TERMS. Lock held (the
 * index may need to catch up). */
int brig_memory_search(brig_memory *m, const char *query, unsigned limit, cJSON **ret, brig_error *err);

/* The feedback counts of the file at path (all zero when none). Lock held. */
int brig_memory_feedback_of(brig_memory *m, const char *path, brig_memory_feedback_counts *ret,
                            brig_error *err);

/* Adds {feedback: {helpful, wrong, stale}} to o when c has any report, and flags ["wrong", "stale"] (those
 * reported). false: out of memory. */
bool brig_memory_add_flags(cJSON *o, const brig_memory_feedback_counts *c);

/* Records who's feedback (who->feedback: "helpful", "wrong" or "stale"; who->note) on the file at path as
 * a new version that changes no file, so it is attributed and kept like any change. -ENOENT/NOT_FOUND:
 * no such file. Lock held. */
int brig_memory_feedback(brig_memory *m, const char *path, const brig_memory_author *who, char ret_id[41],
                         brig_error *err);

/* Who wrote each part of the file at path (git blame of the current version), lines from..to (1-based,
 * 0: to the end): [{start_line, lines, version, time, environment, call_id, peer_uid, command, path,
 * feedback}] in *ret (the version's fields as brig_memory_log() gives them). */
int brig_memory_blame(brig_memory *m, const char *path, size_t from, size_t to, cJSON **ret,
                      brig_error *err);
