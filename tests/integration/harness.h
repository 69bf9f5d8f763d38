/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Starts a real brigd on a temporary socket and talks to it over the real socket. Single-threaded test
 * processes only (it forks). BRIG_TEST_MODE selects how brigd runs: unset = as the test runs, "setpriv" =
 * as uid/gid 65534 through setpriv (needs root), "userns" = under `unshare -r`. */

typedef struct brigd {
        char dir[64];
        char socket[128];
        char audit[128];
        char state[128];
        char policy[512];
        pid_t pid;
        int stderr_fd;                 /* brigd's stderr, for failure messages */
        const char *const *extra_args; /* more brigd options (NULL-terminated, borrowed), or NULL */
} brigd;

/* policy: a name under policies/, or an absolute path. Returns 0; or -1 with a skip reason in *why when
 * the mode cannot run on this host (setpriv without root, no unprivileged user namespaces). A brigd that
 * exits or does not listen is a test failure: the harness fails the running test itself (fail_msg); in a
 * child process a test forked it returns -1 with *why NULL instead. */
int brigd_start(brigd *d, const char *policy, const char **why);
/* brigd_start() with more brigd options (NULL-terminated; kept for restarts, so they must outlive d). */
int brigd_start_args(brigd *d, const char *policy, const char *const *extra_args, const char **why);
/* Starts brigd again on the same socket, state and audit log (after it was stopped or killed). */
int brigd_restart(brigd *d, const char **why);
/* Stops brigd (if running, a clean stop is asserted) and starts it again with var set to value in its
 * environment (NULL: unset): a test hook such as BRIG_TEST_FORK_PAUSE. */
void brigd_restart_with(brigd *d, const char *var, const char *value);
/* SIGTERM and wait; returns brigd's exit status (0 for a clean stop). */
int brigd_stop(brigd *d);

int client_connect(const brigd *d);
int client_send(int fd, const char *json);
/* Next message, waiting at most timeout_ms; NULL on EOF/timeout. Caller frees. */
cJSON *client_recv(int fd, int timeout_ms);
/* initialize + notifications/initialized; returns the initialize result (caller frees) or NULL. */
cJSON *client_initialize(int fd, const char *meta_json);
/* Sends tools/call exec with the given arguments JSON and id; collects notifications into *ret_notes (a
 * JSON array, may be NULL) until the response with that id arrives. Returns the response. */
cJSON *client_call(int fd, int id, const char *arguments_json, const char *meta_json, cJSON **ret_notes);
/* The same for any tool. */
cJSON *client_tool_call(int fd, int id, const char *tool, const char *arguments_json, const char *meta_json,
                        cJSON **ret_notes);

/* Sends a JSON-RPC request (params: a JSON object's text) and returns its response (caller frees), skipping
 * other messages; a response that does not come within a minute fails the test. The two halves: send
 * (returns the request's id) and wait for the response to it. */
cJSON *client_rpc(int fd, const char *method, const char *params_json);
int client_rpc_send(int fd, const char *method, const char *params_json);
cJSON *client_rpc_wait(int fd, int id);
/* brig/descriptor.pass: asks, waits for `ready` (else fails the test) and sends pass with one byte. The
 * second half alone: 0 or -errno. */
void client_pass_fd(int fd, int pass);
int client_send_fd(int fd, int pass);
/* Runs a shell command with the exec tool and returns its stdout (a static buffer, valid until the next
 * call); a command that does not exit 0 fails the test. */
const char *client_sh(int fd, const char *command);
/* Runs the printf-formatted shell command with the exec tool as request id; returns the response (caller
 * frees), whatever the command's exit. */
cJSON *client_shf(int fd, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The audit log's events of type (and host, unless NULL) as a JSON array (caller frees); the second waits up
 * to 3 s for at least one (empty when none came). */
cJSON *audit_events_read(const brigd *d, const char *type, const char *host);
cJSON *audit_events_wait(const brigd *d, const char *type, const char *host);

/* Connects and initializes, attached to env (NULL: none); skips the test, saying why, when skip_why is set
 * (the brigd it would talk to could not start). */
int client_attach(const brigd *d, const char *env, const char *skip_why);
/* A tool call's structuredContent (duplicated: caller frees); a tool error fails the test. */
cJSON *client_tool_sc(int fd, const char *name, const char *args);
/* Whether brig/environment.list shows the environment id. */
bool client_env_listed(int fd, const char *id);
/* The snapshot ids of the environment's history, newest first, each followed by a space (caller frees). */
char *client_history_ids(int fd);
/* A hash of every path, type, mode, link target and content under the workspace (caller frees). */
char *client_tree_hash(int fd);
/* The directory holding environment env's history packs, <env dir>/history.git/objects/pack (from
 * brig/environment.info), into dir. */
void client_pack_dir(int fd, const char *env, char *dir, size_t size);
/* Waits, watching the directory only (nothing asked of brigd, so the environment rests), for brigd to pack
 * env's history at rest (worker/toolpool.h); the pack's file name into name. Fails after a minute. */
void client_wait_packed(int fd, const char *env, char *name, size_t size);

/* Shorthands on a tools/call response. */
const cJSON *result_sc(const cJSON *resp); /* result.structuredContent */
const char *sc_str(const cJSON *resp, const char *key);
int sc_int(const cJSON *resp, const char *key); /* -1000 when missing or null */
bool result_is_error(const cJSON *resp);

/* Counts host processes whose command line contains needle (reads /proc). */
int count_processes(const char *needle);
/* Open descriptors of a host process (-1 when unreadable). */
int count_fds(pid_t pid);
/* Waits, 60 s at most, until brigd has hung up its control connection to environment env's init (idle,
 * worker/env_control.h), which then keeps one descriptor, its listening control socket: whether it did.
 * fd: a connection that may ask brig/environment.info about env. */
bool client_wait_stepped_away(int fd, const char *env);

const char *build_dir(void);
const char *source_dir(void);

/* Runs a shell command line (printf-style); its exit status (128+N for signal N), and its stdout (and
 * stderr with 2>&1 in the line) in out, cut at size - 1 bytes. */
int run_shell(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether the text file at path has a line containing needle (false when it cannot be read). */
bool file_contains(const char *path, const char *needle);
/* Whether some loop device is backed by a file below dir. */
bool loop_backed_below(const char *dir);
/* The inodes of the ready workspace image copies in dir (sandbox/wsimage.h; up to max), once there are max
 * of them: waits, boundedly, since they are made after the image that took the previous one. Returns how
 * many there are. */
int ready_copies(const char *dir, ino_t *inodes, int max);
