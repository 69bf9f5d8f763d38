/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/error.h"

/* The workspace file tools: read_file, write_file, edit_file, list_directory, glob, grep, stat, move,
 * remove, make_directory. Each call is one synchronous function that resolves every path beneath the
 * workspace fd (tools/wspath.h) and blocks on file I/O: run it on a work thread (uv_queue_work), never on
 * the loop thread. No global mutable state: calls may run concurrently on any threads. Never logs.
 *
 * Results are the MCP structuredContent objects documented per tool in the tool registry (tools/registry.c);
 * paths in results are relative to the workspace root. Times are RFC 3339 UTC with milliseconds
 * ("2025-01-31T12:00:00.123Z"). Directory walks never follow symlinks, list each directory's entries by
 * byte order (so results come sorted component by component), and skip names that are not valid UTF-8
 * (JSON cannot carry them). */

/* Defaults for the ctx bounds left at 0. */
#define BRIG_FILES_DEFAULT_MAX_READ (10ull * 1024 * 1024)
#define BRIG_FILES_DEFAULT_MAX_WRITE (10ull * 1024 * 1024)
#define BRIG_FILES_DEFAULT_MAX_RESULTS 1000ull

/* Fixed bounds on what an agent controls. */
#define BRIG_FILES_MAX_EDITS 100               /* edit_file edits per call */
#define BRIG_FILES_MAX_DEPTH 10                /* list_directory depth */
#define BRIG_FILES_MAX_WALK_DEPTH 128          /* directory levels glob/grep/remove descend */
#define BRIG_FILES_MAX_PATTERN 4096            /* glob and grep pattern bytes */
#define BRIG_FILES_MAX_SCAN 200000ull          /* directory entries one call examines */
#define BRIG_FILES_MAX_READ_SCAN (1ull << 30)  /* bytes read_file reads to find a line range */
#define BRIG_FILES_GREP_MAX_FILE (16ull << 20) /* larger files are skipped by grep */
#define BRIG_FILES_GREP_MAX_BYTES (1ull << 30) /* bytes one grep reads in all */
#define BRIG_FILES_GREP_LINE_MAX 512           /* bytes of a matching line returned */

/* What the worker lends each call; must outlive it. */
typedef struct brig_files_ctx {
        int root_fd;          /* the workspace directory, O_PATH|O_DIRECTORY or O_RDONLY; borrowed */
        uid_t uid;            /* owner for created files and directories; (uid_t)-1 = leave as is */
        gid_t gid;            /* (gid_t)-1 = leave as is */
        uint64_t max_read;    /* bytes a read_file may return (policy); 0: BRIG_FILES_DEFAULT_MAX_READ */
        uint64_t max_write;   /* bytes a write_file may write, and edit_file's file size; 0: default */
        uint64_t max_results; /* cap for list/glob/grep entries; 0: BRIG_FILES_DEFAULT_MAX_RESULTS */
        bool fsync;           /* fsync file + directory on write */
        bool read_only;       /* refuse mutating tools (policy) */
} brig_files_ctx;

/* For the audit event. path (owned; free with brig_files_report_done) is the path argument as given
 * ("from -> to" for move), bytes what was read or written, mutating whether the call changes the
 * workspace (false for an edit_file dry run). Filled as far as known, on failure too. */
typedef struct brig_files_report {
        char *path;
        uint64_t bytes;
        bool mutating;
        /* Set when the call knows how much it changed the workspace's usage (allocated bytes, as
         * tools/wsusage.h counts them): write_file and edit_file into an existing directory. The soft quota
         * may then account the change instead of walking the workspace (worker/toolpool.c). */
        bool usage_known;
        int64_t usage_delta;
} brig_files_report;

void brig_files_report_done(brig_files_report *r);

/* Whether name is one of the file tools, and whether it can change the workspace. Pure. */
bool brig_files_is_tool(const char *name);
bool brig_files_tool_mutates(const char *name);

/* Runs tool with args (the MCP "arguments" object; NULL means {}). On success *ret_result is a new
 * structuredContent object (caller frees). On failure returns a negative errno and sets err, whose message
 * names the argument or path; kinds: INVALID_ARGUMENT (bad arguments), NOT_FOUND, DENIED (escapes,
 * symlinks where none may be, read_only), LIMIT (a bound above), IO, INTERNAL. report may be NULL. */
int brig_files_call(const char *tool, const brig_files_ctx *ctx, const cJSON *args, cJSON **ret_result,
                    brig_files_report *report, brig_error *err);

/* A human-readable rendering of a successful result for the MCP text block: the content for read_file, the
 * diff for edit_file, one entry per line for list_directory, glob and grep ("path:line:text"), one line
 * otherwise. New string (caller frees); NULL on allocation failure. */
char *brig_files_result_text(const char *tool, const cJSON *result);
