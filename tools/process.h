/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "tools/exec.h"
#include "tools/process_log.h"

/* Background processes of an environment: started by `exec` with background: true, they outlive the call
 * and the connection (not the worker). Each keeps its last BRIG_PROCESS_LOG_BYTES of output (stdout and
 * stderr interleaved) addressed by byte offsets since it started, so a client that reconnects resumes
 * where it left off.
 *
 * A brig_process_table owns the processes of one environment, their ids, output logs and files. On disk,
 * outside the workspace the jail sees: <dir>/processes/<id>.log is that output, a ring file
 * (tools/process_log.h) that is the only copy of it, open while the process runs and opened for each read
 * after it ended; <id>.json is its description, written when it starts and when it ends. A restarted
 * worker loads them (brig_process_table_load): processes whose end was recorded are listed as they ended,
 * the others as "lost" (they died with the previous worker), and the output of both stays readable.
 * Interpreters of the repl tool (hidden, tools/repl.h) are not persisted.
 *
 * What the environment lends: its directory, its name for log messages, a command start in its jail
 * (brig_exec_context) and two hooks. Loop thread only; the files are small page-cache writes made on it,
 * as the audit log's appends are. */

#define BRIG_PROCESS_LOG_BYTES (1u << 20)
#define BRIG_MAX_PROCESSES 256 /* per environment, running or kept after exit */
#define BRIG_PROCESS_READ_MAX (1u << 20)

typedef struct brig_process brig_process;
typedef struct brig_process_table brig_process_table;

/* How the owner hears about processes ending. */
typedef struct brig_process_hooks {
        /* A process ended (hidden ones too), its description updated: the owner audits it. Comes before the
         * process's own listener (on_exit). */
        void (*exited)(const brig_process *p, const brig_exec_result *res, void *userdata);
        /* Last, after a process ended or an interpreter's timer closed (tools/repl.h): nothing of the
         * table runs for it any more, so the owner may free the table once nothing else runs. */
        void (*idle)(void *userdata);
        void *userdata;
} brig_process_hooks;

struct brig_process_table {
        const char *name; /* for log messages (the environment's id); borrowed */
        char *dir;        /* holds processes/ (the environment's directory) */
        bool dir_removed; /* the owner removes dir: no description is written any more */
        brig_process_hooks hooks;
        brig_process *list; /* newest first, hidden ones included */
        size_t n;
        unsigned next_number; /* the last number handed out ("p<n>") */
        int running;
        unsigned *running_all; /* NULL, or a count of every table's running processes to keep too */
};

struct brig_process {
        brig_process *next;
        brig_process_table *table; /* borrowed: the table outlives its running processes */
        char id[16];               /* "p1", "p2", ... in the environment */
        unsigned number;           /* 1 for "p1" */
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
};

/* An empty table keeping its files under dir (copied) and naming itself name (borrowed) in log messages.
 * -ENOMEM. */
int brig_process_table_init(brig_process_table *t, const char *name, const char *dir,
                            const brig_process_hooks *hooks);
/* The owner's directory moved (a spare adopted under a new name): later files go under dir. -ENOMEM. */
int brig_process_table_set_dir(brig_process_table *t, const char *dir);

/* Loads the processes a previous worker left under the directory, as ended (start-up; blocking): at most
 * BRIG_MAX_PROCESSES, the newest; the files of older ones are removed. Later ids continue after the highest
 * found. Logs what it skips; returns 0 or -ENOMEM. */
int brig_process_table_load(brig_process_table *t);

/* Frees every process of the table (all must have ended); their files stay. */
void brig_process_table_free(brig_process_table *t);

/* Starts a background process in a running environment: creates its log and description under the
 * table's directory (an -EIO-kind error when it cannot) and starts the command. Returns the new process
 * (owned by the table). */
int brig_process_start(brig_process_table *t, const brig_exec_context *ctx, const brig_exec_args *args,
                       brig_process **ret, brig_error *err);
/* The same for an internal process (hidden, with its listener set before any output): nothing of it is
 * written to disk. */
int brig_process_start_hidden(brig_process_table *t, const brig_exec_context *ctx,
                              const brig_exec_args *args,
                              void (*on_output)(brig_process *p, const char *data, size_t len,
                                                void *userdata),
                              void (*on_exit)(brig_process *p, void *userdata), void *listener,
                              brig_process **ret, brig_error *err);

/* Runs the process tool `tool` (process_list, process_output, process_write, process_kill; its registry
 * entry runs on BRIG_TOOL_RUN_PROCESS): a new structuredContent object, or NULL with err set (the message
 * names the field); arguments is the tool call's arguments object. */
cJSON *brig_process_call(brig_process_table *t, const char *tool, const cJSON *arguments, brig_error *err);
