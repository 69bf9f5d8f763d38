/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/policy.h"

/* The policies a worker can hand out: those in its policy directory, by name, plus files named by path
 * (admins only), each loaded and its seccomp program compiled once. Loop thread; loading is blocking file
 * I/O of small files, done at start-up and on first use of a path. */

typedef struct brig_policy_entry {
        char *name; /* lookup key: the policy's name, or the path it was loaded from */
        char *path;
        brig_policy *policy;
        int seccomp_fd;
        struct brig_policy_entry *next;
} brig_policy_entry;

typedef struct brig_policies {
        char *dir;
        brig_policy_entry *entries;
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
