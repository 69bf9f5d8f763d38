/* SPDX-License-Identifier: MIT */
#pragma once

#include "common/fs.h"

/* The environment archive (docs/archive.md): what `brig env export` writes and `brig env import` reads.
 * One truth for the names and bounds that the exporter (env_export.c), the importer (env_import.c), the
 * fuzz target and the tests share. A tar stream compressed with zstd, written and read with libarchive.
 *
 *   brig-environment.json   first entry: the environment's metadata (BRIG_ARCHIVE_META_*)
 *   workspace/...           the workspace at the exported snapshot (directories, files, symlinks)
 *   history.git/...         the history: a bare git repository whose refs/heads/main is that snapshot
 *   processes/...           the background processes' descriptions and logs, as brigd keeps them
 *   MANIFEST.json           last entry: every entry above with its type, mode, size and SHA-256 */

#define BRIG_ARCHIVE_FORMAT "brig-environment"
/* A memory scope's archive (`brig memory export`, cli/memory.c): the same layout, with the scope's store as
 * history.git/, its files at the store's head as workspace/, no processes/; brig-environment.json's id is
 * the scope ("owner/1000", "named/team"), its owner the owner scope's uid or 0. */
#define BRIG_MEMORY_ARCHIVE_FORMAT "brig-memory"
#define BRIG_ARCHIVE_VERSION 1

#define BRIG_ARCHIVE_META "brig-environment.json"
#define BRIG_ARCHIVE_MANIFEST "MANIFEST.json"
#define BRIG_ARCHIVE_WORKSPACE "workspace"
#define BRIG_ARCHIVE_HISTORY "history.git"
#define BRIG_ARCHIVE_PROCESSES "processes"

/* Bounds an import enforces whatever the policy says (the policy's own limits apply too). */
#define BRIG_ARCHIVE_MAX_ENTRIES 1000000
#define BRIG_ARCHIVE_MAX_PATH 4095
/* Directories an entry's path may have: an environment built from it must stay removable (its directory
 * lies a few levels below the state directory, which brig_rm_rf() starts from). */
#define BRIG_ARCHIVE_MAX_DEPTH (BRIG_RM_RF_MAX_DEPTH - 16)
#define BRIG_ARCHIVE_MAX_META_BYTES (1024 * 1024)           /* brig-environment.json */
#define BRIG_ARCHIVE_MAX_MANIFEST_BYTES (256 * 1024 * 1024) /* MANIFEST.json */
/* What the objects of a history's packs may expand to, all together, in multiples of the archive's bound
 * on its files (the workspace quota, or the free space): the indexer hashes each object whole, and a
 * history holds every version of every file, so more than the workspace; one object alone may take no
 * more than that bound. */
#define BRIG_ARCHIVE_PACK_EXPANSION 64

/* Transfer over JSON-RPC: chunks of at most this many bytes (base64 in the messages). */
#define BRIG_ARCHIVE_CHUNK_MAX (1024 * 1024)

/* Directory names in <state-dir>/environments/ of archives and imports in progress: never environment ids;
 * start-up removes them (brig_envs_load()). */
#define BRIG_ENV_EXPORT_PREFIX ".export-"
#define BRIG_ENV_UPLOAD_PREFIX ".upload-"
#define BRIG_ENV_IMPORT_PREFIX ".import-"
