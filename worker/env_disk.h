/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "common/error.h"

/* An environment on disk: its metadata (meta.json, written whole and durably or not at all) and the one
 * gate, brig__env_prepare(), that everything wanting the environment on disk passes first (the holder's
 * start, file and history tools). The first time in a worker's life a job on the thread pool creates the
 * directory, the workspace (owned by the jail's host uid) and, for a new environment, its first metadata,
 * then sets up the workspace quota (worker/env_quota.h): none of it blocks the loop (fsync takes
 * milliseconds, an image's mkfs far more). Loop thread only, but for brig__env_meta_write(). */

typedef struct brig_env brig_env;
typedef struct brig_worker brig_worker;

typedef void (*brig_env_prepared_cb)(brig_env *env, const brig_error *err, void *userdata);

typedef struct brig_env_prepare_waiter {
        brig_env_prepared_cb cb;
        void *userdata;
        struct brig_env_prepare_waiter *next;
} brig_env_prepare_waiter;

typedef struct brig_env_prepare {
        bool running;       /* a job is on the thread pool (it holds the environment) */
        bool start_waiting; /* brig_env_ensure_running() waits for it (env_holder.c) */
        bool leftover;      /* a failed creation could not remove its directory: the next one does first */
        brig_env_prepare_waiter *waiters;
} brig_env_prepare;

/* Calls cb once the environment is ready on disk (err NULL), or with why it cannot be: at once when it is
 * (or is quarantined), else from the job's completion, in the order of the calls. A new environment whose
 * directory exists already (it is never taken over) or whose metadata cannot be written durably is not
 * created ("environment "x" not created: cannot write its metadata: ..."), and nothing of it stays on
 * disk: the next call tries again. One destroyed meanwhile gets an error and its directory is removed. */
void brig__env_prepare(brig_env *env, brig_env_prepared_cb cb, void *userdata);

/* Whether brig__env_prepare() would call back at once without error. */
bool brig__env_prepared(const brig_env *env);

/* Frees the waiters of an environment whose worker is gone (no callback). */
void brig__env_prepare_free(brig_env *env);

/* The metadata of env as JSON text (new string, NULL when out of memory). Loop thread. */
char *brig__env_meta_text(const brig_env *env);
/* Writes text as dir/meta.json: a temporary file, fsync, rename, fsync of dir; nothing changes on failure
 * (negative errno). tag makes the temporary file's name unique among writes in flight for one directory.
 * Blocking: any thread, the loop's only where a caller says why. */
int brig__env_meta_write(const char *dir, const char *text, const void *tag);
/* Updates an existing environment's metadata (its last use) on the thread pool; one that fails leaves the
 * previous, complete file in place (logged). Spares and quarantined environments have none to update. */
int brig__env_meta_update(brig_env *env, brig_error *err);

/* Moves an environment built aside (a fork's, an import's: tmp) into place (final, in envs_dir): a rename
 * that never replaces, then an fsync of envs_dir, so after a crash it is there whole or not at all (a
 * failed fsync removes it again). Negative errno. Blocking: a work thread's. */
int brig__env_move_into_place(const char *tmp, const char *final, const char *envs_dir);
/* A test hook of forks and imports, harmless elsewhere: creates file (when the variable naming it is set in
 * brigd's environment) and waits, at most a minute, while it exists, so a test can kill brigd with an
 * environment complete but for its move into place. Blocking: a work thread's. */
void brig__env_test_pause(const char *file);

/* Removes a directory (an environment's, a spare's) on the thread pool, logging a failure. Loop thread. */
void brig__env_remove_dir(brig_worker *w, const char *path);

/* The refusal of every attach to, and use of, a quarantined environment. Returns the code. */
int brig__env_quarantined_error(const brig_env *env, brig_error *err);
