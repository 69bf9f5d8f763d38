/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/memory_tool.h"

/* The memory tools in the worker: each call runs on libuv's thread pool against the scope its
 * environment's policy names (memory.scope), in <state-dir>/memory, outside every jail. Calls of several
 * environments run in parallel; writers of one scope take turns on the scope's lock (tools/memory_store.h),
 * a pool thread waiting meanwhile. Loop thread only. */

typedef struct brig_env brig_env;
typedef struct brig_worker brig_worker;

typedef struct brig_memory_result {
        cJSON *sc;                 /* on success: {result, ...}; on a str_replace conflict {current_text} */
        brig_error error;          /* code != 0 on failure */
        brig_memory_report report; /* report.wrote: a new version, to audit */
} brig_memory_result;

typedef void (*brig_memory_done_cb)(brig_memory_result *res, void *userdata);

/* Queues memory tool `tool` with args (copied) for env's scope on behalf of the client peer_uid, env held
 * until cb. cb comes later, once, on the loop thread; res->sc is released after it returns unless it took
 * it (set it to NULL). Errors: -ENOMEM, -EINVAL (no scope), -ENOENT (env was destroyed). */
int brig_memory_run(brig_env *env, uid_t peer_uid, const char *tool, const cJSON *args, uint64_t call_id,
                    brig_memory_done_cb cb, void *userdata, brig_error *err);

/* Removes environment `id`'s own scope (policy memory.scope "environment",
 * <state-dir>/memory/environment/<id>) and its view (memory-view/environment/<id>) on the thread pool, for
 * good: its environment is destroyed or expired and no memory call of it runs any more. Owner and named
 * scopes outlive every environment and are never removed here. A removal that fails is logged. Loop thread.
 */
void brig_memory_forget_environment(brig_worker *w, const char *id);
