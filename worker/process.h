/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/exec.h"
#include "worker/process_log.h"

/* Background processes of an environment: started by `exec` with background: true, they outlive the call
 * and the connection (not the worker). Each keeps its last BRIG_PROCESS_LOG_BYTES of output (stdout and
 * stderr interleaved) addressed by byte offsets since it started, so a client that reconnects resumes
 * where it left off.
 *
 * On disk, outside the workspace the jail sees: <env dir>/processes/<id>.log is that output, a ring file
 * (worker/process_log.h) that is the only copy of it, open while the process runs and opened for each
 * read after it ended; <id>.json is its description, written when it starts and when it ends. A
 * restarted worker loads them (brig_processes_load): processes whose end was recorded are listed as they
 * ended, the others as "lost" (they died with the previous worker), and the output of both stays
 * readable. Interpreters of the repl tool (hidden) are not persisted.
 *
 * Loop thread only; the files are small page-cache writes made on it, as the audit log's appends are. */

#define BRIG_PROCESS_LOG_BYTES (1u << 20)
#define BRIG_MAX_PROCESSES 256 /* per environment, running or kept after exit */
#define BRIG_PROCESS_READ_MAX (1u << 20)

typedef struct brig_env brig_env;

typedef struct brig_process {
        struct brig_process *next;
        brig_env *env;   /* borrowed: the environment outlives its running processes */
        char id[16];     /* "p1", "p2", ... in the environment */
        unsigned number; /* 1 for "p1" */
        char command[256];
        uint64_t call_id; /* the call that started it (0: unknown), for audit events */
        brig_exec *exec;  /* NULL once ended */
        bool exited;
        bool lost; /* loaded after a restart without a recorded end: it ended with the previous worker */
        int exit_code, signal;
        int64_t started, ended; /* unix seconds */
        uint64_t start_ns, duration_ms;
        char error[256];
        brig_process_log log; /* open while it runs (not for hidden processes) */
        int log_error;        /* negative errno once appending to the log failed: no more is kept */
        bool on_disk;         /* its files exist */
        uint64_t total;       /* bytes produced; the log holds the last min(total, size) of them */

        /* An internal process (a repl interpreter): not listed, not persisted, and told about its output
         * and end. */
        bool hidden;
        void (*on_output)(struct brig_process *p, const char *data, size_t len, void *userdata);
        void (*on_exit)(struct brig_process *p, void *userdata);
        void *listener;
} brig_process;

/* Starts a background process in a running environment: creates its log and description under the
 * environment's directory (an -EIO-kind error when it cannot) and starts the command. Returns the new
 * process (owned by env). */
int brig_process_start(brig_env *env, const brig_exec_context *ctx, const brig_exec_args *args,
                       brig_process **ret, brig_error *err);
/* The same for an internal process (hidden, with its listener set before any output): nothing of it is
 * written to disk. */
int brig_process_start_hidden(brig_env *env, const brig_exec_context *ctx, const brig_exec_args *args,
                              void (*on_output)(brig_process *p, const char *data, size_t len,
                                                void *userdata),
                              void (*on_exit)(brig_process *p, void *userdata), void *listener,
                              brig_process **ret, brig_error *err);

/* Loads the processes a previous worker left in the environment's directory, as ended (start-up;
 * blocking): at most BRIG_MAX_PROCESSES, the newest; the files of older ones are removed. Later ids
 * continue after the highest found. Logs what it skips; returns 0 or -ENOMEM. */
int brig_processes_load(brig_env *env);

/* The process tools. Each returns a new structuredContent object, or NULL with err set (the message names
 * the field); arguments is the tool call's arguments object. */
cJSON *brig_process_list(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_output(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_write(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_kill(brig_env *env, const cJSON *arguments, brig_error *err);

/* The handler of a process_* tool (its registry entry runs on BRIG_TOOL_RUN_PROCESS), NULL for another name.
 */
typedef cJSON *(*brig_process_tool_fn)(brig_env *env, const cJSON *arguments, brig_error *err);
brig_process_tool_fn brig_process_tool(const char *name);

/* Frees every process of an environment (all must have ended); their files stay. */
void brig_processes_free(brig_env *env);
