/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "sandbox/policy.h"

/* The policies a worker can hand out: those in its policy directory, by name, plus files named by path
 * (admins only), each loaded and its seccomp program compiled once. Loop thread; loading is blocking file
 * I/O of small files, done at start-up and on first use of a path. A reload (SIGHUP) loads and compiles on
 * another thread and swaps the set on the loop; entries it replaces stay alive, retired, while environments
 * that started with them run. */

typedef struct brig_policy_entry {
        char *name; /* lookup key: the policy's name, or the path it was loaded from */
        char *path;
        brig_policy *policy;
        int seccomp_fd;
        char filter_key[65]; /* SHA-256 of what the program is compiled from; equal keys share a program */
        bool keep;           /* reload bookkeeping */
        unsigned users;      /* environments holding it, destroyed ones still running included */
        struct brig_policy_entry *next;
} brig_policy_entry;

typedef struct brig_policies {
        char *dir;
        char *default_path; /* real path of the default policy's file */
        brig_policy_entry *entries;
        brig_policy_entry
                *retired; /* replaced or removed by a reload; freed once no environment uses them */
} brig_policies;

/* Loads every *.json in dir. A file that fails to load is logged and skipped (the rest still serve). */
int brig_policies_init(brig_policies *set, const char *dir, brig_error *err);
/* Adds (or finds) the policy at path under its own name, for the worker's default policy. */
int brig_policies_add_file(brig_policies *set, const char *path, const brig_policy_entry **ret,
                           brig_error *err);
void brig_policies_done(brig_policies *set);

/* Looks up `name` (a policy name from the directory) or, when allow_path and name contains '/', a file.
 * Errors: -ENOENT (unknown name), -EPERM (a path from a client that may not use one). */
int brig_policies_get(brig_policies *set, const char *name, bool allow_path, const brig_policy_entry **ret,
                      brig_error *err);

/* The entry served under name today, or NULL. Never loads. */
const brig_policy_entry *brig_policies_find(const brig_policies *set, const char *name);

/* Reloading, in three steps: _new() on the loop thread snapshots what to load (the directory, the default
 * policy's file, paths clients named) and copies of the compiled programs; _run() loads and compiles on any
 * thread, touching nothing shared; _commit() on the loop swaps the new set in. A policy whose digest did not
 * change keeps its entry. A reload fails as a whole, keeping every old policy, when the directory cannot be
 * read, the default policy does not load, or any policy served before no longer loads; new files that do
 * not load are skipped with a warning, as at start-up. The summary object gets "changed", "added" and
 * "removed" name lists. */
typedef struct brig_policies_reload brig_policies_reload;
brig_policies_reload *brig_policies_reload_new(const brig_policies *set);
void brig_policies_reload_run(brig_policies_reload *rl);
int brig_policies_reload_commit(brig_policies *set, brig_policies_reload *rl,
                                const brig_policy_entry **ret_default, cJSON *summary, brig_error *err);
void brig_policies_reload_free(brig_policies_reload *rl);

/* An environment takes or lets go of an entry (NULL is ignored). A retired entry is freed when its last
 * environment lets go: environments outlive their place in the worker's list while their jail ends. The
 * count is the set's bookkeeping, not part of the entry's value, hence the const. */
void brig_policies_hold(const brig_policy_entry *e);
void brig_policies_release(brig_policies *set, const brig_policy_entry *e);

/* Frees the retired entries no environment holds. */
void brig_policies_gc(brig_policies *set);
