/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Subcommands of the brig CLI. Each takes the arguments after its name and returns the process exit code. */
int brig_cli_exec(int argc, char **argv);
int brig_cli_run(int argc, char **argv);

/* A one-shot jail without a daemon (oneshot.c), shared by `brig run` and `brig policy test`. Audited
 * seccomp denials are answered with the policy's errno and reported: "brig: denied NAME(ARGS)" lines on
 * stderr, or, with json_events, JSON lines on stdout (syscall_denied, limit_hit, exit). Returns the exit
 * code: the command's, 128+N for signal N, 124 on timeout, 125 if the jail could not be built. */
typedef struct brig_oneshot {
        const char *policy_path;
        const char *workspace; /* NULL: a fresh temporary directory */
        const char *cwd;
        uint64_t timeout_ms; /* 0: the policy's wall_time */
        char **argv;         /* NULL-terminated command */
        char **binds;        /* "HOST[:JAIL]" added to the policy's binds, n_binds of them */
        bool *binds_ro;      /* per entry: --ro-bind (true) or --bind */
        size_t n_binds;
        bool json_events;
} brig_oneshot;
int brig_cli_oneshot(const brig_oneshot *o);

/* `brig policy test FILE -- CMD...` (policy_test.c). */
int brig_cli_policy_test(int argc, char **argv);

int brig_cli_env(int argc, char **argv);
/* `brig env export` (env_export.c); argv[0] is "env", argv[1] "export". */
int brig_cli_env_export(int argc, char **argv);
/* `brig env import` (env_import.c); argv[1] is "import". */
int brig_cli_env_import(int argc, char **argv);
int brig_cli_mcp(int argc, char **argv);
/* `brig policy check|explain` (policy.c); argv[0] is "policy". */
int brig_cli_policy(int argc, char **argv);

/* `brig audit verify|tail` (audit.c, audit_tail.c); argv[0] is "audit". */
int brig_cli_audit(int argc, char **argv);
int brig_cli_audit_tail(int argc, char **argv);
void brig_cli_audit_help(void);
/* The log of a brigd started with neither --socket nor --audit (common/paths.h); caller frees. */
char *brig_cli_audit_default_log(void);
/* Reads an audit log line by line with at most BRIG_AUDIT_MAX_LINE_BYTES (common/audit_chain.h) held. */
typedef struct brig_cli_lines {
        int fd; /* borrowed: the caller closes it */
        char *buf;
        size_t len, cap, start;
} brig_cli_lines;
/* The next whole line (NUL-terminated, without its newline; valid until the next call) and 1; 0 at the
 * end of the file (a last line without its newline stays buffered: len > start); -EFBIG for a line over
 * the bound, -ENOMEM, or -errno of read(2). */
int brig_cli_lines_next(brig_cli_lines *r, char **ret_line, size_t *ret_len);
/* Frees the buffer; fd is set to -1, not closed. */
void brig_cli_lines_done(brig_cli_lines *r);
/* `brig memory list|show|export|import` (memory.c): in brigd's state directory, without brigd. */
int brig_cli_memory(int argc, char **argv);
/* `brig doctor` (doctor.c). */
int brig_cli_doctor(int argc, char **argv);

/* brig's own command line in memory (set by main), which a forked child that becomes a jail's init wipes:
 * the jail reads it as /proc/1/cmdline. */
extern char *brig_cli_args;
extern size_t brig_cli_args_len;

/* Client helpers (client.c). */
/* The global `brig --socket PATH`, or NULL. */
extern const char *brig_cli_socket;
/* Connects to brigd on the socket named by flag (a command's --socket, or NULL), else brig_cli_socket,
 * else $BRIG_SOCKET, else the default path (common/paths.h). On failure prints the path tried, where it
 * came from and how to name another, and returns -1. */
int brig_cli_connect(const char *flag);
#include <cjson/cJSON.h>
cJSON *brig_cli_request(const char *flag, const char *method, cJSON *params);
/* Several requests on one connection (initialized on open), for state the worker keeps per connection
 * (an export's token). A request consumes params and returns its result, or NULL after printing why not. */
typedef struct brig_cli_session brig_cli_session;
brig_cli_session *brig_cli_session_open(const char *flag);
cJSON *brig_cli_session_request(brig_cli_session *s, const char *method, cJSON *params);
/* The same in two steps, so that requests can be in flight together: send consumes params and returns the
 * request's id (or -1 after printing why not); wait returns that request's result as request does,
 * keeping answers to other requests of the session that come first. */
int brig_cli_session_send(brig_cli_session *s, const char *method, cJSON *params);
cJSON *brig_cli_session_wait(brig_cli_session *s, int id);
void brig_cli_session_close(brig_cli_session *s);
/* Hands brigd fd (brig/descriptor.pass, SCM_RIGHTS) for the session's next request with `fd: true`: 0 once
 * sent, 1 when brigd does not take this one (brig_fdpass_refusal()) or none (an older brigd): the caller
 * falls back to chunks, nothing printed;
 * -1 after printing why not. */
int brig_cli_session_pass_fd(brig_cli_session *s, int fd);
