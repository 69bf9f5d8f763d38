/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "tools/wsusage.h"

/* Workspace history: every snapshot of an environment's workspace is a git commit (libgit2) in a git
 * directory OUTSIDE the workspace, so nothing inside the jail can rewrite or delete it, and nothing is ever
 * written into the workspace except by restore.
 *
 * Threads: every function here blocks on disk I/O; call it from a work thread (uv_queue_work), never the
 * loop thread. One brig_history must be used by one thread at a time (the worker serialises calls per
 * environment); different objects may be used concurrently. A scan of a large workspace (2,000+ files)
 * stats files on up to 3 short-lived helper threads as well. Errors are copied out of libgit2's
 * thread-local state into `err` before returning. Nothing here logs.
 *
 * Process-wide libgit2 settings, applied while any brig_history is open: owner validation ("safe.directory")
 * is off, since brigd (root) works on workspaces owned by an environment's uid; the system, global and XDG
 * config, ignore and attribute files are not read, so the host's ~/.gitconfig cannot change what a snapshot
 * records; strict object creation is off (trees only name objects a snapshot just wrote).
 *
 * Ownership: when the caller is root and the workspace directory belongs to another uid (an environment's
 * host uid), every call accesses files with that uid and gid (setfsuid/setfsgid on the calling thread,
 * undone before returning): restored files belong to the workspace's owner, and a symlink the agent swaps
 * into the workspace cannot make brigd read or write anything that uid could not. The git directory is then
 * created owned by that uid too; its ancestors must be searchable by it (an error names the first one that
 * is not). The scan itself never follows a symlink inside the workspace (O_NOFOLLOW, one directory fd at a
 * time); libgit2's checkout (restore) and .gitignore reading do, within that uid's rights.
 *
 * What a snapshot holds: every regular file and symlink of the workspace except
 *   - untracked paths matching the policy's `exclude` patterns (gitignore syntax, written to
 *     <git_dir>/info/exclude) or the workspace's own .gitignore files. As in git, ignore rules apply to
 *     untracked paths only. The workspace's .gitignore files are honoured (they keep build output and
 *     secrets such as .env out of history); an agent can keep a NEW file out of history this way, and the
 *     .gitignore change itself is recorded;
 *   - regular files bigger than `max_file_size` and files the workspace owner cannot read (a tracked file
 *     that becomes one leaves the next snapshot);
 *   - nested git repositories (a directory holding a .git), FIFOs, sockets and devices.
 * Excluded, ignored and oversized files are never deleted by restore. File content is stored byte for
 * byte: the workspace's .gitattributes cannot turn on end-of-line conversion or filters
 * (<git_dir>/info/attributes overrides them), and core.autocrlf is off. */

typedef struct brig_history brig_history;

typedef struct brig_history_options {
        char **exclude;         /* gitignore-style patterns, NULL-terminated; may be NULL. Borrowed. */
        uint64_t max_file_size; /* regular files bigger than this are left out of snapshots; 0: no cap */
        const char *author;     /* commit author name; NULL: "brig". Borrowed. */
} brig_history_options;

/* Bounds on what crosses the wire. */
#define BRIG_HISTORY_MAX_DIFF (4u * 1024u * 1024u) /* diff text; the rest is dropped, truncated: true */
#define BRIG_HISTORY_MAX_FILES 10000u              /* entries of a diff's "files" list */
#define BRIG_HISTORY_MAX_LIMIT 1000u               /* history {limit} */
#define BRIG_HISTORY_DEFAULT_LIMIT 20u
#define BRIG_HISTORY_MAX_SCAN 10000u           /* snapshots a history {path} search looks through */
#define BRIG_HISTORY_MAX_MESSAGE (64u * 1024u) /* snapshot {message} */

/* Opens the history of `workspace` kept in `git_dir` (both absolute; git_dir must not be inside the
 * workspace), creating the repository on first use; (re)writes the exclude list. On success *ret is owned
 * by the caller (brig_history_free). Errors: -ENOENT/NOT_FOUND (no workspace), -EINVAL/INVALID_ARGUMENT,
 * -EACCES/DENIED (git_dir not reachable by the workspace's owner), -EIO/IO (libgit2). */
int brig_history_open(const char *git_dir, const char *workspace, const brig_history_options *opts,
                      brig_history **ret, brig_error *err);
/* Closes the repository; accepts NULL. */
void brig_history_free(brig_history *h);

/* Records the workspace state as a commit on HEAD. `message` (NULL: the tool name, or "snapshot"), `call_id`
 * and `tool` (both optional) are stored; the latter two as "Brig-Call-Id:"/"Brig-Tool:" trailers.
 * *ret_result (owned by the caller): {id, message, files_changed, created}. When nothing changed since the
 * last snapshot no commit is made: id is the current head's and created is false. Uses the index's stat
 * cache: only files whose size, mtime, ctime, inode or mode changed are read. */
int brig_history_snapshot(brig_history *h, const char *message, const char *call_id, const char *tool,
                          cJSON **ret_result, brig_error *err);

/* {snapshots: [{id, message, time (RFC 3339, UTC), call_id (or null), tool (or null), files_changed}],
 * truncated}, newest first, at most `limit` (0: BRIG_HISTORY_DEFAULT_LIMIT; at most BRIG_HISTORY_MAX_LIMIT).
 * With `path` (workspace-relative file or directory) only snapshots that changed it are listed; truncated
 * is true when the search stopped after BRIG_HISTORY_MAX_SCAN snapshots. */
int brig_history_log(brig_history *h, unsigned limit, const char *path, cJSON **ret_result, brig_error *err);

/* Unified diff {diff, files: [{path, status}], truncated}; status is "added", "deleted", "modified" or
 * "typechange". `from` defaults to the last snapshot (HEAD), `to` to the working tree (new files included,
 * with what a snapshot would leave out left out). Both take a snapshot id (full, or a unique prefix of at
 * least 4 hex digits), "HEAD", or "HEAD~N" / "<id>~N". `path` limits the diff to a file or directory.
 * Errors: -EINVAL/INVALID_ARGUMENT (malformed or ambiguous id, bad path), -ENOENT/NOT_FOUND (no such
 * snapshot). The diff text is valid UTF-8 (invalid bytes become U+FFFD) and at most BRIG_HISTORY_MAX_DIFF
 * bytes. */
int brig_history_diff(brig_history *h, const char *from, const char *to, const char *path,
                      cJSON **ret_result, brig_error *err);

/* Brings the workspace (or only `path`, a file or directory present in the snapshot) back to `snapshot`.
 * Nothing is lost: the current state is snapshotted first when it differs from the last snapshot, and the
 * restored state is recorded as a new snapshot "restore <id>" (tool "restore", call_id). A whole-tree
 * restore removes files the snapshot does not have, except excluded, ignored and oversized ones.
 * *ret_result: {id, created, restored_from, previous, path (or null), files_changed}; previous is the
 * snapshot holding the state just before the restore. */
int brig_history_restore(brig_history *h, const char *snapshot, const char *path, const char *call_id,
                         cJSON **ret_result, brig_error *err);

/* Resolves a snapshot spec (as brig_history_diff() takes them; `field` names it in errors) to its full id
 * (40 hex digits and a NUL). Errors as brig_history_diff(). */
int brig_history_resolve_id(brig_history *h, const char *spec, const char *field, char ret_id[41],
                            brig_error *err);

/* What a fork of the snapshot just taken may copy from the source's workspace instead of inflating blobs:
 * the source's index entries (after brig_history_snapshot(), they describe that snapshot) whose stat data
 * are older than `before`, a CLOCK_REALTIME_COARSE time read before the snapshot began. Owned by the
 * caller (brig_history_fork_source_free() accepts NULL). -ENOMEM. Any thread but the loop's, in h's queue.
 */
typedef struct brig_history_fork_source brig_history_fork_source;
int brig_history_fork_source_new(brig_history *h, const struct timespec *before,
                                 brig_history_fork_source **ret, brig_error *err);
void brig_history_fork_source_free(brig_history_fork_source *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(brig_history_fork_source *, brig_history_fork_source_free);

/* Makes a fork of a history at snapshot `commit` (40 hex digits, from brig_history_resolve_id()): a new git
 * directory `git_dir` (must not exist) sharing the objects of `src_git_dir` (hard links, copies where a link
 * is impossible: objects are immutable, so the source may be destroyed later), its branch at `commit`, and
 * the snapshot's files written into `workspace` (an existing, empty directory whose owner the files get,
 * as in brig_history_open()): copied from the source's workspace where `source` (borrowed; NULL: none)
 * vouches for them and their stat data still match, else from the blobs. `final_workspace` is recorded as
 * core.worktree: the workspace's name once the caller has moved the fork into place. The history then
 * lists the same snapshots up to `commit`, and its index holds the written files' stat data.
 * *ret_usage: the new workspace's disk usage, as brig_wsusage_measure() counts it. Leaves what it made on
 * failure (the caller removes the directory it builds in). Errors: -ENOENT/NOT_FOUND (no such snapshot),
 * -EIO/IO. Blocking, uses up to 3 more threads; any thread but the loop's. */
int brig_history_fork(const char *src_git_dir, const char *commit, const char *git_dir,
                      const char *workspace, const char *final_workspace, const brig_history_options *opts,
                      const brig_history_fork_source *source, brig_wsusage *ret_usage, brig_error *err);

/* libgit2 keeps a pack's file open while it reads from it; beyond this many packs open at once (all
 * histories of the process together) it closes the least recently used one. brigd counts them in its fd
 * reserve (worker/worker.h). */
#define BRIG_HISTORY_OPEN_PACKS 32

/* The bounds of one brig_history_repack() pass. */
typedef struct brig_history_repack_limits {
        size_t min_loose;   /* nothing is done with fewer loose objects */
        size_t max_objects; /* objects in one pack at most (0: all) */
        uint64_t max_bytes; /* no more objects once their sizes add up to this (0: no bound; one at least) */
        size_t max_packs;   /* nothing is done once the history has this many packs (0: no bound) */
} brig_history_repack_limits;

typedef struct brig_history_repack_result {
        size_t packed; /* objects packed (0: none) */
        bool more;     /* loose objects were left for another pass by max_objects or max_bytes */
} brig_history_repack_result;

/* Packs the history's loose objects (one file per object, as snapshots write them) into one new pack with
 * its index, without deltas, then removes the loose copies: export, import and fork then handle two files
 * instead of thousands. Within `lim` (borrowed), so that a call queued behind a repack waits for a bounded
 * part of it. Crash-safe: the pack is complete and synced before any loose object goes, and only objects
 * in it go. *ret: what was packed and whether more is left for another pass. Another process or
 * brig_history_fork() reading the git directory's files at the same time may miss objects while they
 * move: run it in h's queue when no export or fork of it is under way. Errors: -EIO/IO (libgit2, the
 * filesystem), -ENOMEM. Blocking; any thread but the loop's, in h's queue. */
int brig_history_repack(brig_history *h, const brig_history_repack_limits *lim,
                        brig_history_repack_result *ret, brig_error *err);

/* Keeps libgit2's global state for the life of the process (brigd: before its work threads start). Without
 * it, libgit2 shuts down each time the last history closes, and deletes its thread-local key: the error
 * state of every work thread that used it is then lost, a leak per cycle. 0, or -EIO in err. */
int brig_history_library_hold(brig_error *err);

/* The MCP face of the module: the tools "snapshot", "history", "diff" and "restore". */

/* True for the four tool names above. */
bool brig_history_is_tool(const char *name);
/* Validates `args` (a JSON object; errors name the field, "arguments.limit: ...") and runs the tool.
 * `call_id` is recorded in the snapshots the call makes. Same thread rules as the functions above. */
int brig_history_call(brig_history *h, const char *tool, const cJSON *args, const char *call_id,
                      cJSON **ret_result, brig_error *err);
/* The text block shown to the model for a tool's result; a new string (caller frees), NULL on allocation
 * failure. Pure; any thread. */
char *brig_history_result_text(const char *tool, const cJSON *result);

/* One entry of a snapshot's tree, as brig_history_tree_walk() hands them out. */
typedef enum brig_history_entry_type {
        BRIG_HISTORY_ENTRY_DIR,
        BRIG_HISTORY_ENTRY_FILE,
        BRIG_HISTORY_ENTRY_SYMLINK,
} brig_history_entry_type;

typedef struct brig_history_entry {
        const char *path; /* relative to the workspace, no leading or trailing slash */
        brig_history_entry_type type;
        bool executable;  /* files: git's mode 100755 */
        const void *data; /* files: the content; symlinks: the target (not NUL-terminated); dirs: NULL */
        size_t size;
} brig_history_entry;

/* Called once per entry; a negative return (with err set) stops the walk and is returned by it. */
typedef int (*brig_history_walk_fn)(const brig_history_entry *e, void *userdata, brig_error *err);

/* Hands every entry of snapshot `commit` (40 hex digits) of the history in `git_dir` to fn, directories
 * before what they hold, in git's order; gitlinks are skipped. Opens the repository read-only, by itself: it
 * may run while the environment's own brig_history writes new snapshots (objects never change). One file's
 * content is in memory at a time (snapshots leave out files over the policy's history.max_file_size).
 * Errors: -EINVAL/INVALID_ARGUMENT (bad id), -ENOENT/NOT_FOUND (no such snapshot), -EIO/IO, fn's. Blocking;
 * any thread but the loop's. */
int brig_history_tree_walk(const char *git_dir, const char *commit, brig_history_walk_fn fn, void *userdata,
                           brig_error *err);
