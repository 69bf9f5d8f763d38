/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "common/digest.h"
#include "common/error.h"

/* Writing an archive of the environment archive's layout and format (worker/env_archive.h,
 * docs/archive.md): what `brig env export` gets from brigd and `brig memory export` writes itself. Blocking:
 * a work thread's, or the command line's. */

typedef struct brig_archive_source {
        const char *meta;          /* brig-environment.json's text */
        const char *git_dir;       /* a bare repository: history.git/ */
        const char *snapshot;      /* the commit whose tree is workspace/, and history.git's main */
        const char *processes_dir; /* processes/ (its .json and .log files); NULL: none */
        int64_t mtime;             /* every entry's */
} brig_archive_source;

/* Writes the archive of src into fd (tar + zstd, libarchive in this process: never an external program),
 * MANIFEST.json last; its size in *ret_bytes and its SHA-256 in ret_sha256. What an import refuses (a path
 * over BRIG_ARCHIVE_MAX_PATH bytes) is refused here: -ENAMETOOLONG/LIMIT. Else -EIO/IO, -ENOMEM. */
int brig_archive_write(int fd, const brig_archive_source *src, uint64_t *ret_bytes,
                       char ret_sha256[static BRIG_SHA256_HEX], brig_error *err);
