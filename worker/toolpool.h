/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/files.h"

/* The workspace tools in the worker: the file tools (tools/files.h) and history (tools/history.h) of an
 * environment, run on libuv's thread pool one at a time per environment (a call's edits and the snapshot
 * after them must not interleave with another call's), with the environment's host uid as the filesystem
 * uid of the working thread. Each environment's history lives in <env dir>/history.git, beside (never in)
 * its workspace. With the policy's history.auto_snapshot, every call that changes the workspace is followed
 * by a snapshot tagged with its call id. Loop thread only. */

typedef struct brig_env brig_env;

typedef struct brig_toolpool_result {
        cJSON *sc;                /* structuredContent on success (the callee takes it), else NULL */
        char *text;               /* the text block on success (the callee takes it) */
        brig_error error;         /* code != 0 on failure */
        brig_files_report report; /* path and bytes for the audit record (file tools) */
        char snapshot[48];        /* the automatic snapshot taken after the call, "" if none */
} brig_toolpool_result;

typedef void (*brig_toolpool_done_cb)(brig_toolpool_result *res, void *userdata);

/* Queues tool with args (copied) for env. cb comes later, once, on the loop thread; the result's members
 * are released after it returns unless it took them (set them to NULL). */
int brig_toolpool_run(brig_env *env, const struct brig_tool *tool, const cJSON *args, uint64_t call_id,
                      brig_toolpool_done_cb cb, void *userdata, brig_error *err);

/* After a call that may have changed the workspace some other way (exec, repl): the automatic snapshot, when
 * the policy asks for one (and the measurement a workspace quota needs). Audited as a "snapshot" event.
 * Returns true when a snapshot was queued and cb (if not NULL) comes once it is taken: the caller holds
 * its result until then, so that the next call's writes cannot land in this call's snapshot. Returns
 * false, and cb never comes, when there is no snapshot to wait for. */
bool brig_toolpool_auto_snapshot(brig_env *env, uint64_t call_id, const char *tool, brig_toolpool_done_cb cb,
                                 void *userdata);

/* Work of the worker's own on env's history (open), in env's queue: after the calls queued before it and
 * before those queued after, so no call's writes are half in what it sees. fn runs on the thread pool (its
 * errors go to err and come back in res->error); cb comes later, once, on the loop thread, as for
 * brig_toolpool_run(). Errors: -ENOENT/NOT_FOUND (env destroyed), -ENOMEM. */
typedef struct brig_history brig_history;
typedef int (*brig_toolpool_history_fn)(brig_history *h, void *userdata, brig_error *err);
int brig_toolpool_run_history(brig_env *env, brig_toolpool_history_fn fn, void *fn_userdata,
                              brig_toolpool_done_cb cb, void *userdata, brig_error *err);

/* Packs env's history's loose objects (brig_history_repack(), in env's queue) when env rests: work that
 * may write objects was queued since the last pass (or that pass left more), nothing is queued, running
 * or reading its history now (no export or fork under way) and no call came for 2 s (`now`, time(NULL),
 * against env->last_used). Failures are logged and ignored. Called by the periodic sweep; loop thread only.
 */
void brig_toolpool_repack_if_idle(brig_env *env, int64_t now);

/* Whether jobs are queued or running for env (it must not be freed until they are done). */
bool brig_toolpool_busy(const brig_env *env);

/* Closes env's history (no job may be queued). */
void brig_toolpool_free(brig_env *env);
