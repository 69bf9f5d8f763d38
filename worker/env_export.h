/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "common/digest.h"
#include "common/error.h"

/* Exporting an environment into an archive file (docs/archive.md, worker/env_archive.h): a snapshot taken in
 * the environment's queue of file and history calls (message and tool "export"; none when nothing changed),
 * then, on the thread pool, <state-dir>/environments/.export-<token>.brig written from that snapshot's tree
 * and the history, metadata and processes on disk, streamed through libarchive (tar + zstd) a block at a
 * time. The file is the caller's to serve and remove; start-up removes leftovers (brig_envs_load()). Loop
 * thread only. */

typedef struct brig_env brig_env;

#define BRIG_ENV_EXPORT_TOKEN_LEN 32 /* hex digits */

typedef struct brig_env_export_result {
        const char *path;                          /* the archive file; NULL when written into out_fd */
        char token[BRIG_ENV_EXPORT_TOKEN_LEN + 1]; /* its name between the prefix and ".brig" */
        uint64_t bytes;
        char sha256[BRIG_SHA256_HEX]; /* of the whole file */
        char snapshot[41];            /* the exported snapshot */
        int fd; /* read-only on the file: the callback takes it (sets it to -1) or it is closed after */
} brig_env_export_result;

/* Called once: res (borrowed for the call) or err. */
typedef void (*brig_env_export_cb)(brig_env_export_result *res, const brig_error *err, void *userdata);

/* Exports env. Errors returned at once (cb never comes): -ENOENT/POLICY (its policy is not loaded),
 * -ENOMEM, the queue's. Later ones through cb: -ENOENT/NOT_FOUND (destroyed meanwhile), -EIO/IO (a file
 * failed; nothing is left of the archive).
 * out_fd >= 0 (taken, closed whatever happens): the archive is written into it, from its offset, rather than
 * into a file of brigd's (res->path NULL, res->fd -1): a local client's own file (brig/descriptor.pass),
 * so that the archive is written once and never crosses the socket. A failure leaves what was written. */
int brig_env_export(brig_env *env, int out_fd, brig_env_export_cb cb, void *userdata, brig_error *err);
