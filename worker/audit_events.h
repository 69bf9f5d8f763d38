/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "tools/exec.h"

/* The audit trail's event types (docs/protocol.md, "Audit"): one table of every type and the members its
 * events may carry besides the envelope brig_audit_emit() adds (version, seq, ts, prev, hash), and one
 * constructor per type, which every site that records an event uses. A constructor returns a new event
 * for brig__worker_audit()/brig_audit_emit(), complete, or NULL when out of memory (which those report);
 * the functions that add optional members accept a NULL event, and empty the event when they cannot add
 * theirs (brig_audit_emit() refuses it as out of memory), so no event is recorded with a member missing.
 * test_audit checks the table against the document and every constructor's members against the table;
 * test_alloc_failure that each is whole or nothing. */

typedef enum brig_audit_type {
        BRIG_AUDIT_WORKER_START,
        BRIG_AUDIT_WORKER_STOP,
        BRIG_AUDIT_CONNECTION_OPEN,
        BRIG_AUDIT_INITIALIZE,
        BRIG_AUDIT_CONNECTION_CLOSE,
        BRIG_AUDIT_CALL_START,
        BRIG_AUDIT_CALL_END,
        BRIG_AUDIT_REFUSED,
        BRIG_AUDIT_ENVIRONMENT_START,
        BRIG_AUDIT_ENVIRONMENT_STOP,
        BRIG_AUDIT_ENVIRONMENT_IDLE_STOP,
        BRIG_AUDIT_ENVIRONMENT_EXPIRED,
        BRIG_AUDIT_ENVIRONMENT_DESTROY,
        BRIG_AUDIT_ENVIRONMENT_FORK,
        BRIG_AUDIT_ENVIRONMENT_EXPORT,
        BRIG_AUDIT_ENVIRONMENT_IMPORT,
        BRIG_AUDIT_POLICY_RELOAD,
        BRIG_AUDIT_SYSCALL_DENIED,
        BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED,
        BRIG_AUDIT_NET_CONNECT,
        BRIG_AUDIT_SNAPSHOT,
        BRIG_AUDIT_PROCESS_EXIT,
        BRIG_AUDIT_MEMORY_WRITE,
        BRIG_AUDIT_SECRET_USED,
        BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED,
        _BRIG_AUDIT_TYPE_MAX,
} brig_audit_type;

typedef struct brig_audit_type_info {
        const char *name;
        const char *const *fields; /* NULL-terminated, in the order events carry them */
} brig_audit_type_info;

extern const brig_audit_type_info brig_audit_types[_BRIG_AUDIT_TYPE_MAX];

/* worker_start, worker_stop */
cJSON *brig_audit_worker_start(int pid, const char *version, const char *policy, uint64_t environments,
                               const char *socket, unsigned jail_uid);
cJSON *brig_audit_worker_stop(int pid);

/* connection_open, connection_close (environment: NULL when the connection had none), initialize,
 * refused */
cJSON *brig_audit_connection_open(uint64_t connection, const struct ucred *peer);
cJSON *brig_audit_connection_close(uint64_t connection, const char *reason, const char *environment);
cJSON *brig_audit_initialize(uint64_t connection, const char *environment, const char *policy,
                             const char *protocol_version);
cJSON *brig_audit_refused(uint64_t connection, const char *method, const char *reason);

/* What call_start and call_end share. */
typedef struct brig_audit_call {
        uint64_t connection;
        uint64_t call_id;
        const char *environment;
        const char *tool;
} brig_audit_call;

/* call_start; arguments (the elided copy, brig_audit_elide()) is consumed. */
cJSON *brig_audit_call_start(const brig_audit_call *c, cJSON *arguments, const struct ucred *peer);
/* call_end's common members; path (NULL: none) and bytes are a file tool's. */
cJSON *brig_audit_call_end(const brig_audit_call *c, bool is_error, bool cancelled, const char *path,
                           uint64_t bytes);
/* A command's end, on a call_end. */
void brig_audit_call_end_exec(cJSON *ev, const brig_exec_result *res, bool oom_killed);
/* A background process a call started, on a call_end. */
void brig_audit_call_end_process(cJSON *ev, const char *process_id);
/* The snapshot a call took or named, on a call_end. */
void brig_audit_call_end_snapshot(cJSON *ev, const char *snapshot);

/* environment_start, _stop, _idle_stop, _expired (type is one of these); init_pid 0: none. */
cJSON *brig_audit_environment(brig_audit_type type, const char *environment, const char *policy,
                              unsigned owner_uid, int init_pid);
/* environment_destroy */
cJSON *brig_audit_environment_destroy(uint64_t connection, const char *environment, unsigned by_uid);
/* environment_export: an export asked for */
cJSON *brig_audit_environment_export(uint64_t connection, const char *environment, unsigned by_uid);
/* environment_fork: a fork asked for (environment: the new one; snapshot NULL: the source's state now) */
cJSON *brig_audit_environment_fork(uint64_t connection, const char *environment, const char *from,
                                   const char *snapshot, const char *policy, unsigned by_uid);
/* environment_import: an uploaded archive of `bytes` to import (environment: as asked, NULL: the archive's
 * id; policy NULL: the default policy) */
cJSON *brig_audit_environment_import(uint64_t connection, const char *environment, const char *policy,
                                     uint64_t bytes, unsigned by_uid);

/* policy_reload: the event, the lists of policy names the reload changed (each may be NULL on allocation
 * failure), and its outcome (default_policy when ok, error when not). */
cJSON *brig_audit_policy_reload(void);
void brig_audit_policy_reload_lists(cJSON *ev, cJSON **ret_changed, cJSON **ret_added, cJSON **ret_removed);
void brig_audit_policy_reload_result(cJSON *ev, bool ok, const char *error, const char *default_policy);

/* syscall_denied: the denial's own members (sandbox/seccomp_notify.h) come first; then who it is
 * attributed to: a call (call_id), a background process (process_id, and its call_id when known), or
 * nobody (both 0/NULL). */
struct brig_seccomp_denial;
cJSON *brig_audit_syscall_denied(const struct brig_seccomp_denial *den, const char *environment,
                                 uint64_t call_id, const char *process_id);
cJSON *brig_audit_syscall_denied_suppressed(const char *environment, uint64_t count);

/* net_connect: one decision of the network proxy. */
typedef struct brig_audit_net {
        const char *host;
        unsigned port;
        const char *address; /* "" or NULL: not resolved */
        bool tunnel;         /* CONNECT, else plain HTTP */
        bool allowed;
        const char *reason;
        const char *error; /* "" or NULL: none */
        uint64_t bytes_up, bytes_down, duration_ms;
        const char *environment;
        uint64_t call_id;       /* 0: none */
        const char *process_id; /* "" or NULL: none */
} brig_audit_net;
cJSON *brig_audit_net_connect(const brig_audit_net *n);

/* secret_used (the proxy put a network.secrets value into a request) and secret_exfiltration_refused (a
 * request carried the placeholder of a secret to a host not among its hosts): the secret's name, never its
 * value. call_id 0: none. */
cJSON *brig_audit_secret(brig_audit_type type, const char *name, const char *host, uint64_t call_id,
                         const char *environment);

/* snapshot: id ("" or NULL when none was taken) and error (NULL: none). */
cJSON *brig_audit_snapshot(const char *environment, const char *call_id, const char *tool, const char *id,
                           const char *error);

/* process_exit */
cJSON *brig_audit_process_exit(const char *environment, const char *process_id, const brig_exec_result *res,
                               uint64_t output_bytes);

/* memory_write: a change or restore of a memory scope (never its content: the bytes written and their
 * SHA-256; digest "" and bytes 0 for delete, rename and restore). */
cJSON *brig_audit_memory_write(const char *environment, uint64_t call_id, unsigned peer_uid,
                               const char *command, const char *path, uint64_t bytes, const char *digest,
                               const char *version);

/* The member "error" of an event whose type has one (call_end, environment_*, snapshot). */
void brig_audit_set_error(cJSON *ev, const char *error);
