/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"

/* An environment's workspace quota: how it is enforced (hard, on a filesystem image of the quota's size,
 * see sandbox/wsimage.h; or soft, measured after each writing call, see worker/mcp.c), set up before the
 * workspace is first used in each worker's life and undone when the environment's directory goes.
 * Loop thread only, but for brig__env_rm_dir(). */

typedef struct brig_env brig_env;

typedef enum brig_env_quota_mode {
        BRIG_ENV_QUOTA_UNSET, /* not decided yet in this worker's life */
        BRIG_ENV_QUOTA_OFF,   /* no quota and no image */
        BRIG_ENV_QUOTA_SOFT,
        BRIG_ENV_QUOTA_HARD, /* the workspace is the image's mounted filesystem */
        _BRIG_ENV_QUOTA_MODE_MAX,
        _BRIG_ENV_QUOTA_MODE_INVALID = -22,
} brig_env_quota_mode;

typedef void (*brig_env_quota_cb)(brig_env *env, const brig_error *err, void *userdata);

typedef struct brig_env_quota_waiter {
        brig_env_quota_cb cb;
        void *userdata;
        struct brig_env_quota_waiter *next;
} brig_env_quota_waiter;

typedef struct brig_env_quota {
        brig_env_quota_mode mode;
        uint64_t bytes;     /* HARD: the image's size */
        char reason[200];   /* SOFT: why not hard */
        bool preparing;     /* a setup job is on the thread pool */
        bool start_waiting; /* brig_env_ensure_running() waits for it (env.c) */
        brig_env_quota_waiter *waiters;
} brig_env_quota;

/* Calls cb once the workspace is ready for use, with err set when it cannot be (a policy whose quota must
 * be hard on a host that cannot, an image that does not mount): at once when it is already, else from the
 * thread pool's completion. The environment is held meanwhile. Every path that touches the workspace (the
 * holder's start, file and history tools) goes through here first. */
void brig__env_quota_ready(brig_env *env, brig_env_quota_cb cb, void *userdata);

/* Adds "quota": {"bytes", "enforce", "mode": "hard" | "soft" | "pending", "reason"} to o (brig env info)
 * when the policy sets a quota or the workspace has an image. false when out of memory. */
bool brig__env_quota_describe(const brig_env *env, cJSON *o);

/* Removes an environment's directory: unmounts its workspace first when it is an image's filesystem (the
 * loop device then detaches itself), then removes everything. Blocking: thread pool or start-up. */
int brig__env_rm_dir(const char *dir);
