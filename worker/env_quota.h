/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/error.h"

/* An environment's workspace quota: how it is enforced (hard, on a filesystem image of the quota's size,
 * see sandbox/wsimage.h; or soft, measured after each writing call, see worker/mcp.c), set up before the
 * workspace is first used in each worker's life (as part of the environment's preparation, see
 * worker/env_disk.h) and undone when the environment's directory goes. Loop thread only, but for
 * brig__env_quota_setup_run() and brig__env_rm_dir(). */

typedef struct brig_env brig_env;

/* Beside the environments' directories: the formatted workspace images new ones are copied from
 * (sandbox/wsimage.h). Never a valid environment id, so never taken for one at start-up. */
#define BRIG_ENV_TEMPLATES_DIR ".templates"

typedef enum brig_env_quota_mode {
        BRIG_ENV_QUOTA_UNSET, /* not decided yet in this worker's life */
        BRIG_ENV_QUOTA_OFF,   /* no quota and no image */
        BRIG_ENV_QUOTA_SOFT,
        BRIG_ENV_QUOTA_HARD, /* the workspace is the image's mounted filesystem */
        _BRIG_ENV_QUOTA_MODE_MAX,
        _BRIG_ENV_QUOTA_MODE_INVALID = -22,
} brig_env_quota_mode;

typedef struct brig_env_quota {
        brig_env_quota_mode mode;
        uint64_t bytes;   /* HARD: the image's size */
        char reason[200]; /* SOFT: why not hard */
} brig_env_quota;

/* One environment's quota set-up, part of its preparation (worker/env_disk.h): the inputs are copied on
 * the loop thread, the decision (whether the workspace already has an image decides it) and the image's
 * creation and mount run on the thread pool, and the outcome is applied on the loop thread. */
typedef struct brig_env_quota_setup {
        /* in */
        char id[65];
        char *image, *workspace;
        char *template_dir; /* formatted images to copy (sandbox/wsimage.h) */
        uint64_t bytes;     /* the policy's quota, 0: none */
        int enforce;        /* brig_quota_enforce */
        char policy_name[65];
        int probe_r;           /* whether this process can make images, and why not */
        const char *probe_why; /* static */
        uid_t uid;
        gid_t gid;
        /* out */
        brig_env_quota_mode mode;
        uint64_t got_bytes;
        bool made; /* a new image: one ready copy fewer (sandbox/wsimage.h) */
        char reason[200];
        brig_error err;
        int r;
} brig_env_quota_setup;

/* Fills s for env when its quota is not decided yet in this worker's life (*ret_needed), else leaves it
 * empty. -ENOMEM. Loop thread. */
int brig__env_quota_setup_init(brig_env *env, brig_env_quota_setup *s, bool *ret_needed);
/* Decides and sets up: creates and mounts the image where the policy and host allow it (blocking: any
 * thread but the loop's). The workspace must exist. */
void brig__env_quota_setup_run(brig_env_quota_setup *s);
/* Applies the outcome to env->limits.quota and logs it; a workspace that cannot be used (a policy whose
 * quota must be hard on a host that cannot, an image that does not mount) returns the error. After a new
 * image, the ready copies of its size are topped up on the thread pool, off this environment's path.
 * Loop thread. */
int brig__env_quota_setup_apply(brig_env *env, brig_env_quota_setup *s, brig_error *err);
void brig__env_quota_setup_done(brig_env_quota_setup *s);

/* Adds "quota": {"bytes", "enforce", "mode": "hard" | "soft" | "pending", "reason"} to o (brig env info)
 * when the policy sets a quota or the workspace has an image. false when out of memory. */
bool brig__env_quota_describe(const brig_env *env, cJSON *o);

/* Removes an environment's directory: unmounts its workspace first when it is an image's filesystem (the
 * loop device then detaches itself), then removes everything. Blocking: thread pool or start-up. */
int brig__env_rm_dir(const char *dir);
