/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "common/error.h"
#include "common/text.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"
#include "sandbox/policy.h"

/* The `exec` tool: runs one command in an environment (its init forks it, so the threaded daemon never
 * forks at all), streams its output and reports how it ended. Runs on the loop thread. */

typedef struct brig_exec_args {
        char **argv; /* from "argv", or /bin/sh -c "command" */
        char **env;  /* "NAME=value" from "env" */
        char *cwd;   /* workspace-relative, NULL for the root */
        char *stdin_data;
        size_t stdin_len;
        bool has_stdin;
        uint64_t timeout_ms; /* 0: the policy's wall_time */
        bool background;     /* keep running after the call returns (process_* tools) */
} brig_exec_args;

#define BRIG_EXEC_MAX_TIMEOUT_MS (24ull * 60 * 60 * 1000)
#define BRIG_EXEC_MAX_STDIN (8u * 1024u * 1024u)

/* Validates the tool arguments (a JSON object) and fills *ret; errors name the field. Pure. */
int brig_exec_args_parse(const cJSON *arguments, brig_exec_args *ret, brig_error *err);
void brig_exec_args_done(brig_exec_args *a);

/* What the worker lends each call; must outlive it. */
typedef struct brig_exec_context {
        uv_loop_t *loop;
        const brig_policy *policy;
        brig_identity identity;
        brig_jailctl *control; /* borrowed: the environment's control socket (its init spawns the command);
                                * brig_exec_start() takes a reference of its own */
        const char *const *secret_env; /* borrowed: NAME=placeholder of network.secrets, or NULL */
        const char
                *ca_bundle; /* the environment's CA bundle (sandbox/plan.h) when its jail has one, or NULL */
} brig_exec_context;

typedef enum brig_stream {
        BRIG_STREAM_STDOUT = 1,
        BRIG_STREAM_STDERR = 2,
} brig_stream;

/* What a stream's output is, as it will cross the wire: a JSON string, or base64. */
typedef enum brig_output_kind {
        BRIG_OUTPUT_UNKNOWN = 0, /* not classified yet: brig_output_is_text() decides */
        BRIG_OUTPUT_TEXT,
        BRIG_OUTPUT_BINARY,
} brig_output_kind;

typedef struct brig_exec_result {
        bool started; /* the command was handed to execve, or may have been (killed before it ended) */
        bool exited;  /* exit_code is meaningful */
        int exit_code;
        int signal; /* terminating signal, 0 if none */
        bool timed_out, cancelled, truncated;
        uint64_t duration_ms;
        uint64_t stdout_bytes, stderr_bytes; /* produced, including what was dropped */
        brig_buf *out, *err; /* borrowed: valid during the done callback only (brig_exec_result_take_json()
                              * may take their data) */
        brig_output_kind out_kind, err_kind;       /* classified as the output arrived */
        uint64_t out_escaped_len, err_escaped_len; /* brig_json_escaped_len() of a TEXT *out / *err, counted
                                                    * as it arrived; 0: not known */
        brig_error error;                          /* code != 0 when a jail layer or execve failed */
} brig_exec_result;

typedef struct brig_exec_ops {
        /* A chunk the command wrote, within the policy's output budget (nothing is streamed past it).
         * escaped_extra: when all of the stream's output so far, this chunk included, is UTF-8 (a sequence
         * may still be cut at its end: brig_text_scan), the bytes JSON escaping adds to data
         * (brig_json_escaped_len(data, len) - len), counted for the result anyway; -1 when not known. */
        void (*output)(const char *data, size_t len, brig_stream stream, ssize_t escaped_extra,
                       void *userdata);
        /* Exactly once, when the process, its pipes and its status are all finished. The exec object is
         * freed after this returns: do not touch it again. */
        void (*done)(const brig_exec_result *res, void *userdata);
} brig_exec_ops;

typedef struct brig_exec brig_exec;

/* Starts the command. On success *ret is a handle for cancel/pause that stays valid until ops->done has
 * been called. On failure nothing was started and no callback will come. A background command has no
 * timeout, keeps its stdin open, and only streams its output through ops->output (the result's stdout and
 * stderr stay empty): the caller keeps what it needs. */
int brig_exec_start(const brig_exec_context *ctx, const brig_exec_args *args, const brig_exec_ops *ops,
                    void *userdata, brig_exec **ret, brig_error *err);

/* The spawner's name for the command (unique in the worker): its reaper in the environment is named
 * brig_jailctl_reaper_name(id) (/proc/PID/comm), which is how a seccomp denial finds its call. */
uint64_t brig_exec_id(const brig_exec *e);

/* Kills the command's process group now; ops->done follows with cancelled set. Idempotent. */
void brig_exec_cancel(brig_exec *e);

/* Sends signal sig to the command's process group (background processes). */
int brig_exec_signal(brig_exec *e, int sig);

/* Queues data for a background command's stdin (copied); close_after closes its stdin once written.
 * Returns -EPIPE when stdin is already closed, -ENOBUFS when more than BRIG_EXEC_MAX_STDIN would wait
 * unread. */
int brig_exec_write_stdin(brig_exec *e, const char *data, size_t len, bool close_after);

/* Stops (or resumes) reading the command's output: a full pipe then blocks the command. Used for
 * backpressure when a client reads slowly. Once the command is over, a pause is ignored: what is left in its
 * pipes is bounded and the call cannot end before it is read. */
void brig_exec_set_paused(brig_exec *e, bool paused);

/* The text rendering shows at most this much of each stream's head and tail; structuredContent has it all.
 */
#define BRIG_EXEC_TEXT_HEAD (8u * 1024u)
#define BRIG_EXEC_TEXT_TAIL (8u * 1024u)

/* structuredContent and the text rendering of a result. New objects; NULL on allocation failure. Output
 * goes as base64 unless it is text that JSON escaping keeps within BRIG_TEXT_MAX_ESCAPE_RATIO bytes per
 * byte, and the text rendering carries a bounded excerpt: a result costs at most about twice its output's
 * size on the wire, whatever the output holds. */
cJSON *brig_exec_result_to_json(const brig_exec_result *res);
/* The same, but the output moves into the result instead of being copied, raw, and is encoded only as the
 * frame is written (brig_json_bytes_take()): *res->out and *res->err are left empty. For a result about to
 * be sent through brig_json_frame_print() (cJSON's printers would print binary output raw), so the worker
 * never holds a large output twice. */
cJSON *brig_exec_result_take_json(const brig_exec_result *res);
/* Call before brig_exec_result_take_json(), which empties the output it reads. */
char *brig_exec_result_to_text(const brig_exec_result *res);
