/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/digest.h"
#include "common/error.h"
#include "tools/memory_store.h"

/* The memory tools' MCP face: `memory` with the commands and argument names of Anthropic's memory tool
 * (view, create, str_replace, insert, delete, rename over /memories paths), so a platform can forward a
 * model's memory calls unchanged, and `memory_history` / `memory_restore`. Argument checks name the
 * field; results and errors carry the tool convention's texts. Runs on a work thread (blocking, like
 * tools/memory_store.h); nothing logs. */

/* What one call may do and who it is. */
typedef struct brig_memory_ctx {
        bool read_only;            /* the policy's memory.mode read_only: writes and restores refused */
        brig_memory_limits limits; /* memory.max_bytes, memory.max_files */
        const char *environment;   /* borrowed: the calling environment's id */
        const char *call_id;       /* borrowed */
        uid_t peer_uid;            /* the client's uid */
} brig_memory_ctx;

/* What a change did, for the audit trail: never the content, only its size and digest. */
typedef struct brig_memory_report {
        bool wrote;       /* a new version was made */
        char command[16]; /* create, str_replace, insert, delete, rename, restore */
        char path[BRIG_MEMORY_MAX_PATH + 16];
        uint64_t bytes;               /* bytes of the file written (0 for delete, rename, restore) */
        char digest[BRIG_SHA256_HEX]; /* SHA-256 of those bytes; "" when none */
        char version[41];             /* the new version */
} brig_memory_report;

/* Whether name is one of the memory tools (the registry's, tools/registry.h). */
bool brig_memory_is_tool(const char *name);

/* Runs one memory tool call against the scope m. On success *ret_sc is {result, ...} (result: the text
 * the model reads). On failure err says why; a str_replace whose old_str is gone (another writer changed
 * the file) also returns the file's current text in *ret_sc as {current_text} for the error result (else
 * *ret_sc is NULL). rep is filled when a new version was made. */
int brig_memory_call(brig_memory *m, const char *tool, const cJSON *args, const brig_memory_ctx *ctx,
                     cJSON **ret_sc, brig_memory_report *rep, brig_error *err);
