/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/socket.h>

#include "common/error.h"

/* Forking an environment (env_fork.c): a new environment whose workspace and history are the source's at
 * one snapshot (default: a snapshot taken now, in the source's queue of file and history calls, so no
 * call's writes are half in it), with the source's policy or one the caller may name, the caller as owner
 * and its own host uid. The source is untouched but for that snapshot; its processes are not copied.
 *
 * The new environment is built aside, in <state-dir>/environments/.fork-<id> (never an environment id:
 * start-up removes such leftovers, brig_envs_load()), complete with its metadata, then renamed into place:
 * a failure or a kill of brigd at any point leaves nothing that a later brigd adopts. Until then its id is
 * taken (attach gets -EBUSY) but nothing lists it. Loop thread only. */

typedef struct brig_env brig_env;

/* Directory names of forks being built start with this. */
#define BRIG_ENV_FORK_PREFIX ".fork-"

/* Called once: env is the new environment (registered, on disk) and snapshot the id it was forked at, or
 * env is NULL and err says why. */
typedef void (*brig_env_fork_cb)(brig_env *env, const char *snapshot, const brig_error *err, void *userdata);

/* Forks src (which peer may manage) at `snapshot` (a spec as the history tools take them; NULL: now) into a
 * new environment `as` of policy_key (NULL: the source's; a name or, for admins, a path, as for attach).
 * Errors returned at once (cb never comes): -EINVAL/INVALID_ARGUMENT (bad id), -EEXIST/INVALID_ARGUMENT (the
 * id is taken), -ENOSPC/LIMIT (too many environments), policy lookup errors, -EOPNOTSUPP/POLICY (the policy
 * wants a hard workspace quota, which a fork cannot set up yet), -ENOMEM. Later ones come through cb:
 * -ENOENT/NOT_FOUND (no such snapshot; the source destroyed meanwhile), -EINVAL/INVALID_ARGUMENT (a
 * malformed snapshot), -EDQUOT/LIMIT (the workspace is over the policy's quota), -EIO/IO. */
int brig_env_fork(brig_env *src, const char *snapshot, const char *as, const char *policy_key,
                  const struct ucred *peer, brig_env_fork_cb cb, void *userdata, brig_error *err);
