/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "common/error.h"
#include "worker/env_import_extract.h"

/* Importing an environment archive (env_import.c, docs/archive.md): a new environment owned by the caller,
 * of the policy the caller names (never the archive's), whose workspace, history and process records are
 * the archive's. Its metadata is read first (on the thread pool) for the id; then the environment is
 * registered, being built (its id is taken, nothing lists it), and unpacked aside, in
 * <state-dir>/environments/.import-<id>, on the thread pool, with its workspace owned by the new
 * environment's host uid, then renamed into place: a refused archive, a failure or a kill of brigd at any
 * point leaves nothing that a later brigd adopts (start-up removes .import- leftovers). Loop thread only. */

typedef struct brig_env brig_env;
typedef struct brig_worker brig_worker;

/* Called once: env is the new environment (registered, on disk) with what the archive said in *info and
 * whether its policy_digest is the chosen policy's; or env is NULL and err says why. */
typedef void (*brig_env_import_cb)(brig_env *env, const brig_archive_info *info, bool policy_digest_matches,
                                   const brig_error *err, void *userdata);

/* Imports the archive in the file at path (read, never changed or removed) as `as` (NULL: the archive's
 * id) with policy_key (NULL: the default policy; a name or, for admins, a path, as for attach). Errors
 * returned at once (cb never comes): a bad `as`, policy lookup errors, -EOPNOTSUPP/POLICY (the policy wants
 * a hard workspace quota, which an import cannot set up yet), -ENOMEM. Later ones through cb: the archive's
 * refusals (worker/env_import_extract.h), -EINVAL/INVALID_ARGUMENT (a bad id in it),
 * -EEXIST/INVALID_ARGUMENT (the id is taken: pass `as`), -ENOSPC/LIMIT (too many environments), -EIO/IO. */
int brig_env_import(brig_worker *w, const char *path, const char *as, const char *policy_key,
                    const struct ucred *peer, brig_env_import_cb cb, void *userdata, brig_error *err);
