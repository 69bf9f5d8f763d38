/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/exec.h"

/* Background processes of an environment: started by `exec` with background: true, they outlive the call
 * and the connection (not the worker). Each keeps its last BRIG_PROCESS_LOG_BYTES of output (stdout and
 * stderr interleaved) addressed by byte offsets since it started, so a client that reconnects resumes
 * where it left off. Loop thread only. */

#define BRIG_PROCESS_LOG_BYTES (1u << 20)
#define BRIG_MAX_PROCESSES 256 /* per environment, running or kept after exit */
#define BRIG_PROCESS_READ_MAX (1u << 20)

typedef struct brig_env brig_env;

typedef struct brig_process {
        struct brig_process *next;
        brig_env *env; /* borrowed: the environment outlives its running processes */
        char id[16];   /* "p1", "p2", ... in the environment */
        char command[256];
        brig_exec *exec; /* NULL once ended */
        bool exited;
        int exit_code, signal;
        int64_t started, ended; /* unix seconds */
        uint64_t start_ns, duration_ms;
        char error[256];
        char *ring;     /* BRIG_PROCESS_LOG_BYTES */
        uint64_t total; /* bytes produced; the ring holds the last min(total, size) of them */

        /* An internal process (a repl interpreter): not listed, and told about its output and end. */
        bool hidden;
        void (*on_output)(struct brig_process *p, const char *data, size_t len, void *userdata);
        void (*on_exit)(struct brig_process *p, void *userdata);
        void *listener;
} brig_process;

/* Starts a background process in a running environment. Returns the new process (owned by env). */
int brig_process_start(brig_env *env, const brig_exec_context *ctx, const brig_exec_args *args,
                       brig_process **ret, brig_error *err);

/* The process tools. Each returns a new structuredContent object, or NULL with err set (the message names
 * the field); arguments is the tool call's arguments object. */
cJSON *brig_process_list(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_output(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_write(brig_env *env, const cJSON *arguments, brig_error *err);
cJSON *brig_process_kill(brig_env *env, const cJSON *arguments, brig_error *err);

/* JSON Schemas for tools/list (new objects). */
cJSON *brig_process_tool_schema(const char *tool);

/* Frees every process of an environment (all must have ended). */
void brig_processes_free(brig_env *env);
