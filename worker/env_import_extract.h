/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common/digest.h"
#include "common/error.h"

/* Reading an environment archive (docs/archive.md) into a directory: what `brig env import` does to the
 * untrusted bytes, and all the fuzz target exercises. Loop-free and blocking: a work thread's, or a test's.
 *
 * Every entry is checked before anything of it is written: its path (the layout, no "..", ".", empty or
 * absolute parts, at most BRIG_ARCHIVE_MAX_PATH bytes), its type (directories, regular files and, in the
 * workspace only, symlinks whose targets stay in it), its mode (no setuid, setgid or sticky bit; 0755
 * directories, 0644 or 0755 files, or 0444 in history.git where git writes its objects read-only) and its
 * size against the limits, so a decompression bomb stops at the bound. Files and directories are created
 * beneath the destination one component at a time, never through a symlink (O_NOFOLLOW), never over an
 * existing file (O_EXCL). A history pack is not written as it comes but taken through libgit2's indexer,
 * its objects' expansion bounded by limits (tools/history_pack_in.h); the archive's pack index is read
 * and dropped, and nothing else under objects/pack or objects/info is accepted. MANIFEST.json, the last
 * entry, must then list every entry read, in order, with the same type, mode, size and SHA-256. Whatever
 * fails leaves the destination's contents to the caller to remove. */

typedef struct brig_archive_limits {
        uint64_t file_size; /* a workspace file's bound in bytes; 0: none */
        uint64_t total;     /* what all files may take together; 0: none */
} brig_archive_limits;

/* What brig-environment.json says and what was read. */
typedef struct brig_archive_info {
        char format[32]; /* BRIG_ARCHIVE_FORMAT or BRIG_MEMORY_ARCHIVE_FORMAT: the caller checks which */
        char id[256];
        char policy[256];
        char policy_digest[BRIG_SHA256_HEX]; /* "" when the archive records none */
        char snapshot[41];
        uint64_t owner, created, last_used;
        uint64_t entries, bytes; /* entries and file bytes read */
} brig_archive_info;

/* Reads only the first entry, brig-environment.json, into *info. */
int brig_archive_read_info(int archive_fd, brig_archive_info *info, brig_error *err);

/* Unpacks the archive read from archive_fd (at its start) into dest_dirfd, which gets workspace/,
 * history.git/ and processes/; workspace/, history.git/ and all in them are chowned to uid:gid (the
 * history belongs to the workspace's owner, tools/history.h) unless uid is (uid_t) -1.
 * Returns 0, or a negative errno with err naming the entry: -EINVAL/INVALID_ARGUMENT (a refused entry, a
 * manifest mismatch, a truncated or corrupt stream), -EFBIG/LIMIT (over a limit), -EIO/IO, -ENOMEM. */
int brig_archive_extract(int archive_fd, int dest_dirfd, const brig_archive_limits *limits, uid_t uid,
                         gid_t gid, brig_archive_info *info, brig_error *err);
