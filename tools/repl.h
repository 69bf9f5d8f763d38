/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "common/error.h"
#include "common/handles.h"
#include "tools/exec.h"
#include "tools/process.h"

/* The `repl` tool: one long-lived interpreter per language per environment (python, bash, node), run as a
 * hidden background process of the environment's process table (tools/process.h). A small driver in the
 * interpreter reads each request, runs it in the state kept from the previous ones (variables, imports, cwd,
 * shell environment), and ends its output with a sentinel line. A timeout or cancel sends SIGINT, which
 * interrupts the code and keeps the state; an interpreter that does not answer within BRIG_REPL_KILL_MS
 * after that is killed and the next call starts a fresh one, saying so. Loop thread only. */

#define BRIG_REPL_KILL_MS 2000
#define BRIG_REPL_MAX_CODE (1u << 20)

typedef struct brig_repl brig_repl;

/* The interpreters of one environment, by language. */
typedef struct brig_repl_set {
        brig_process_table *processes; /* borrowed: where the interpreters run */
        brig_repl *list;
        brig_handles handles; /* timers not closed yet: the set must not be freed before they are */
} brig_repl_set;

/* Called once with the result's structuredContent (owned by the callee) and whether it is an error. */
typedef void (*brig_repl_done_cb)(cJSON *result, bool is_error, void *userdata);
/* The request's output as it comes (the interpreter's stdout and stderr together), a little behind it: the
 * last bytes are held back until they cannot be the start of the end-of-request sentinel. */
typedef void (*brig_repl_output_cb)(const char *data, size_t len, void *userdata);

/* Validates the arguments ({language, code, timeout_ms?}); pure. */
int brig_repl_args_check(const cJSON *arguments, brig_error *err);

/* An empty set whose interpreters run in processes. */
void brig_repl_set_init(brig_repl_set *s, brig_process_table *processes);

/* Runs code in the set's interpreter for the language, starting it if needed (in ctx's environment, on
 * ctx's loop; its timeout and output are bounded by ctx's policy: wall_time, output_bytes). On success, cb
 * is called later (never from within this call), output (may be NULL) before it, and *ret identifies the
 * request for brig_repl_interrupt(). */
int brig_repl_run(brig_repl_set *s, const brig_exec_context *ctx, const cJSON *arguments,
                  brig_repl_output_cb output, brig_repl_done_cb cb, void *userdata, brig_repl **ret,
                  brig_error *err);

/* The interpreter's hidden background process (borrowed), or NULL while none runs. */
brig_process *brig_repl_process(const brig_repl *r);

/* Interrupts the running request (SIGINT, then a kill if ignored); its callback still comes. */
void brig_repl_interrupt(brig_repl *r);

/* Closes the interpreters' timers (environment destroyed or worker stopping); the last one closed calls
 * the process table's idle hook. The structures are freed by brig_repl_set_free() once every handle is
 * closed (brig_handles_none(&set->handles)). */
void brig_repl_set_close(brig_repl_set *s);
void brig_repl_set_free(brig_repl_set *s);
