/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* The one table of brig's tools: what tools/list publishes (name, title, description, input and output
 * schemas, annotations) and what the worker needs to run, audit and limit a call (how it runs, whether it
 * changes the workspace). tools/list, the policy's allow-list and quota checks, auditing and dispatch all
 * read it; adding a tool is one entry here plus its handler. Pure, no state. */

/* Where a tool's handler runs. */
typedef enum brig_tool_runner {
        BRIG_TOOL_RUN_EXEC,    /* a command in the environment's jail (tools/exec.h) */
        BRIG_TOOL_RUN_REPL,    /* the environment's long-lived interpreter, in its jail (tools/repl.h) */
        BRIG_TOOL_RUN_PROCESS, /* the environment's process table, on the loop thread (tools/process.h) */
        BRIG_TOOL_RUN_FILES,   /* the thread pool, against the workspace directory (tools/files.h) */
        BRIG_TOOL_RUN_HISTORY, /* the thread pool, against the workspace's history (tools/history.h) */
        BRIG_TOOL_RUN_MEMORY,  /* the thread pool, against the policy's memory scope (tools/memory_tool.h) */
} brig_tool_runner;

typedef enum brig_tool_flags {
        /* May change the workspace: its usage is measured after (when a soft quota applies). */
        BRIG_TOOL_MUTATES = 1 << 0,
        /* May make the workspace bigger: refused while it is over a soft quota (remove and move are not, so
         * that files can be removed). */
        BRIG_TOOL_GROWS = 1 << 3,
        /* Left out of the audit trail when the policy's audit.file_reads is false. */
        BRIG_TOOL_AUDIT_AS_READ = 1 << 1,
        /* Followed by an automatic snapshot when the policy's history.auto_snapshot is on. */
        BRIG_TOOL_SNAPSHOT_AFTER = 1 << 2,
} brig_tool_flags;

typedef struct brig_tool {
        const char *name;
        const char *title;
        const char *description;
        const char *input_schema;  /* JSON text */
        const char *output_schema; /* JSON text */
        /* MCP ToolAnnotations. */
        bool read_only, destructive, idempotent, open_world;
        brig_tool_runner runner;
        unsigned flags; /* brig_tool_flags */
        /* Arguments the audit trail records only the size of (NULL-terminated, or NULL: none): a memory's
         * text is provenance's to keep in the store, not the trail's to copy. */
        const char *const *content_args;
} brig_tool;

/* The tool called name, or NULL. */
const brig_tool *brig_tool_find(const char *name);

/* The i-th tool (0-based, in tools/list order), NULL past the end. */
const brig_tool *brig_tool_at(size_t i);

/* The tools/list entry of t: {name, title, description, inputSchema, outputSchema, annotations}. New object
 * (caller frees); NULL on allocation failure. */
cJSON *brig_tool_describe(const brig_tool *t);

/* The result of tools/list, {"tools": [brig_tool_describe() of each tool]}, with only the tools policy
 * allows (NULL: all). New object (caller frees); NULL on allocation failure. */
struct brig_policy;
cJSON *brig_tool_list(const struct brig_policy *policy);

/* The result of tools/call: {"content": [{"type": "text", "text": text}], "structuredContent": sc (left out
 * when NULL), "isError": is_error}. sc is consumed, also on failure. New object (caller frees); NULL on
 * allocation failure, never a result without its text. */
cJSON *brig_tool_result(const char *text, cJSON *sc, bool is_error);

/* A copy of a call's arguments with every member whose value is null removed, at any depth: strict-mode
 * clients (OpenAI) send null for each optional field they leave out, and null means "absent" for every
 * brig tool. NULL stays NULL; non-objects are copied as they are (the handler names them). *ret is NULL
 * only on allocation failure (returns -ENOMEM). */
int brig_tool_args_normalize(const cJSON *args, cJSON **ret);
