/* SPDX-License-Identifier: MIT */
/* The audit trail's event types and their constructors (worker/audit_events.h). The member names and their
 * order are the trail's format: docs/protocol.md documents them and readers (brig audit, SIEM rules) rely
 * on them, so a member is added here, to its row of the table and to the document together. */
#include <stdio.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/signal_name.h"
#include "sandbox/seccomp_notify.h"
#include "worker/audit.h"
#include "worker/audit_events.h"

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

const brig_audit_type_info brig_audit_types[_BRIG_AUDIT_TYPE_MAX] = {
        [BRIG_AUDIT_WORKER_START] = {"worker_start", FIELDS("pid", "version", "policy", "environments",
                                                            "socket", "jail_uid")},
        [BRIG_AUDIT_WORKER_STOP] = {"worker_stop", FIELDS("pid")},
        [BRIG_AUDIT_CONNECTION_OPEN] = {"connection_open", FIELDS("peer", "connection")},
        [BRIG_AUDIT_INITIALIZE] = {"initialize",
                                   FIELDS("connection", "environment", "policy", "protocol_version")},
        [BRIG_AUDIT_CONNECTION_CLOSE] = {"connection_close", FIELDS("connection", "reason", "environment")},
        [BRIG_AUDIT_CALL_START] = {"call_start", FIELDS("connection", "call_id", "environment", "tool",
                                                        "arguments", "peer")},
        [BRIG_AUDIT_CALL_END] = {"call_end",
                                 FIELDS("connection", "call_id", "environment", "tool", "is_error",
                                        "cancelled", "path", "bytes", "exit_code", "signal", "timed_out",
                                        "truncated", "oom_killed", "stdout_bytes", "stderr_bytes",
                                        "duration_ms", "process_id", "snapshot", "error")},
        [BRIG_AUDIT_REFUSED] = {"refused", FIELDS("connection", "method", "reason")},
        [BRIG_AUDIT_ENVIRONMENT_START] = {"environment_start",
                                          FIELDS("environment", "policy", "owner_uid", "init_pid", "error")},
        [BRIG_AUDIT_ENVIRONMENT_STOP] = {"environment_stop",
                                         FIELDS("environment", "policy", "owner_uid", "init_pid", "error")},
        [BRIG_AUDIT_ENVIRONMENT_IDLE_STOP] = {"environment_idle_stop",
                                              FIELDS("environment", "policy", "owner_uid", "init_pid",
                                                     "error")},
        [BRIG_AUDIT_ENVIRONMENT_EXPIRED] = {"environment_expired", FIELDS("environment", "policy",
                                                                          "owner_uid", "init_pid", "error")},
        [BRIG_AUDIT_ENVIRONMENT_DESTROY] = {"environment_destroy",
                                            FIELDS("connection", "environment", "by_uid")},
        [BRIG_AUDIT_ENVIRONMENT_FORK] = {"environment_fork", FIELDS("connection", "environment", "from",
                                                                    "snapshot", "policy", "by_uid")},
        [BRIG_AUDIT_ENVIRONMENT_EXPORT] = {"environment_export",
                                           FIELDS("connection", "environment", "by_uid")},
        [BRIG_AUDIT_ENVIRONMENT_IMPORT] = {"environment_import",
                                           FIELDS("connection", "environment", "policy", "bytes", "by_uid")},
        [BRIG_AUDIT_POLICY_RELOAD] = {"policy_reload",
                                      FIELDS("changed", "added", "removed", "ok", "error", "default")},
        [BRIG_AUDIT_SYSCALL_DENIED] = {"syscall_denied", FIELDS("syscall", "arch", "nr", "args", "pid",
                                                                "environment", "process_id", "call_id")},
        [BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED] = {"syscall_denied_suppressed",
                                                  FIELDS("environment", "count")},
        [BRIG_AUDIT_NET_CONNECT] = {"net_connect",
                                    FIELDS("host", "port", "address", "method", "decision", "reason",
                                           "error", "bytes_up", "bytes_down", "duration_ms", "environment",
                                           "call_id", "process_id")},
        [BRIG_AUDIT_SNAPSHOT] = {"snapshot", FIELDS("environment", "call_id", "tool", "id", "error")},
        [BRIG_AUDIT_PROCESS_EXIT] = {"process_exit", FIELDS("environment", "process_id", "exit_code",
                                                            "signal", "output_bytes", "duration_ms")},
        [BRIG_AUDIT_MEMORY_WRITE] = {"memory_write", FIELDS("environment", "call_id", "peer_uid", "command",
                                                            "path", "bytes", "digest", "version")},
        [BRIG_AUDIT_SECRET_USED] = {"secret_used", FIELDS("name", "host", "call_id", "environment")},
        [BRIG_AUDIT_SECRET_EXFILTRATION_REFUSED] = {"secret_exfiltration_refused",
                                                    FIELDS("name", "host", "call_id", "environment")},
};

static cJSON *event(brig_audit_type type) {
        return brig_audit_event(brig_audit_types[type].name);
}

/* An event is recorded whole or not at all: a constructor that could not add a member returns NULL (out of
 * memory, which brig_audit_emit() reports), never an event that silently lacks one. */
static cJSON *finish(cJSON *ev, bool ok) {
        if (ok)
                return ev;
        cJSON_Delete(ev);
        return NULL;
}

/* The same for the functions that add members to an event they do not own: one that could not add a member
 * empties the event, and brig_audit_emit() refuses an event without its type as out of memory. */
static void spoil_unless(cJSON *ev, bool ok) {
        while (!ok && ev->child)
                cJSON_Delete(cJSON_DetachItemViaPointer(ev, ev->child));
}

#define ADD_STRING(ev, key, s) (cJSON_AddStringToObject(ev, key, s) != NULL)
#define ADD_NUMBER(ev, key, n) (cJSON_AddNumberToObject(ev, key, (double) (n)) != NULL)
#define ADD_BOOL(ev, key, b) (cJSON_AddBoolToObject(ev, key, b) != NULL)
#define ADD_STRING_OR_NULL(ev, key, s)                                                                      \
        ((s) ? ADD_STRING(ev, key, s) : cJSON_AddNullToObject(ev, key) != NULL)

cJSON *brig_audit_worker_start(int pid, const char *version, const char *policy, uint64_t environments,
                               const char *socket, unsigned jail_uid) {
        cJSON *ev = event(BRIG_AUDIT_WORKER_START);
        return finish(ev, ev && ADD_NUMBER(ev, "pid", pid) && ADD_STRING(ev, "version", version) &&
                                  ADD_STRING(ev, "policy", policy) &&
                                  ADD_NUMBER(ev, "environments", environments) &&
                                  ADD_STRING(ev, "socket", socket) && ADD_NUMBER(ev, "jail_uid", jail_uid));
}

cJSON *brig_audit_worker_stop(int pid) {
        cJSON *ev = event(BRIG_AUDIT_WORKER_STOP);
        return finish(ev, ev && ADD_NUMBER(ev, "pid", pid));
}

cJSON *brig_audit_connection_open(uint64_t connection, const struct ucred *peer) {
        cJSON *ev = event(BRIG_AUDIT_CONNECTION_OPEN), *p = ev ? cJSON_AddObjectToObject(ev, "peer") : NULL;
        return finish(ev, p && ADD_NUMBER(ev, "connection", connection) && ADD_NUMBER(p, "uid", peer->uid) &&
                                  ADD_NUMBER(p, "gid", peer->gid) && ADD_NUMBER(p, "pid", peer->pid));
}

cJSON *brig_audit_connection_close(uint64_t connection, const char *reason, const char *environment) {
        cJSON *ev = event(BRIG_AUDIT_CONNECTION_CLOSE);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING(ev, "reason", reason) &&
                                  (!environment || ADD_STRING(ev, "environment", environment)));
}

cJSON *brig_audit_initialize(uint64_t connection, const char *environment, const char *policy,
                             const char *protocol_version) {
        cJSON *ev = event(BRIG_AUDIT_INITIALIZE);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING(ev, "environment", environment) &&
                                  ADD_STRING(ev, "policy", policy) &&
                                  ADD_STRING(ev, "protocol_version", protocol_version));
}

cJSON *brig_audit_refused(uint64_t connection, const char *method, const char *reason) {
        cJSON *ev = event(BRIG_AUDIT_REFUSED);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING(ev, "method", method ? method : "") &&
                                  ADD_STRING(ev, "reason", reason));
}

static bool add_call(cJSON *ev, const brig_audit_call *c) {
        return ADD_NUMBER(ev, "connection", c->connection) && ADD_NUMBER(ev, "call_id", c->call_id) &&
               ADD_STRING(ev, "environment", c->environment) && ADD_STRING(ev, "tool", c->tool);
}

cJSON *brig_audit_call_start(const brig_audit_call *c, cJSON *arguments, const struct ucred *peer) {
        cJSON *ev = event(BRIG_AUDIT_CALL_START), *p;
        /* brig_json_add() consumes arguments, also when it fails. */
        bool ok = ev && add_call(ev, c) && brig_json_add(ev, "arguments", TAKE_PTR(arguments)) &&
                  (p = cJSON_AddObjectToObject(ev, "peer")) && ADD_NUMBER(p, "uid", peer->uid) &&
                  ADD_NUMBER(p, "pid", peer->pid);
        cJSON_Delete(arguments);
        return finish(ev, ok);
}

cJSON *brig_audit_call_end(const brig_audit_call *c, bool is_error, bool cancelled, const char *path,
                           uint64_t bytes) {
        cJSON *ev = event(BRIG_AUDIT_CALL_END);
        return finish(ev,
                      ev && add_call(ev, c) && ADD_BOOL(ev, "is_error", is_error) &&
                              ADD_BOOL(ev, "cancelled", cancelled) &&
                              (!path || (ADD_STRING(ev, "path", path) && ADD_NUMBER(ev, "bytes", bytes))));
}

/* exit_code and signal, as call_end and process_exit record them. */
static bool add_exit(cJSON *ev, const brig_exec_result *res, bool null_exit_code) {
        char sig[16];

        if (res->exited && !ADD_NUMBER(ev, "exit_code", res->exit_code))
                return false;
        if (!res->exited && null_exit_code && !cJSON_AddNullToObject(ev, "exit_code"))
                return false;
        return !res->signal || ADD_STRING(ev, "signal", brig_signal_name(res->signal, sig));
}

void brig_audit_call_end_exec(cJSON *ev, const brig_exec_result *res, bool oom_killed) {
        if (!ev)
                return;
        spoil_unless(ev, add_exit(ev, res, true) && ADD_BOOL(ev, "timed_out", res->timed_out) &&
                                 ADD_BOOL(ev, "truncated", res->truncated) &&
                                 (!oom_killed || ADD_BOOL(ev, "oom_killed", true)) &&
                                 ADD_NUMBER(ev, "stdout_bytes", res->stdout_bytes) &&
                                 ADD_NUMBER(ev, "stderr_bytes", res->stderr_bytes) &&
                                 ADD_NUMBER(ev, "duration_ms", res->duration_ms) &&
                                 (!res->error.code || ADD_STRING(ev, "error", res->error.msg)));
}

void brig_audit_call_end_process(cJSON *ev, const char *process_id) {
        if (ev)
                spoil_unless(ev, ADD_STRING(ev, "process_id", process_id));
}

void brig_audit_call_end_snapshot(cJSON *ev, const char *snapshot) {
        if (ev)
                spoil_unless(ev, ADD_STRING(ev, "snapshot", snapshot));
}

cJSON *brig_audit_environment(brig_audit_type type, const char *environment, const char *policy,
                              unsigned owner_uid, int init_pid) {
        cJSON *ev = event(type);
        return finish(ev, ev && ADD_STRING(ev, "environment", environment) &&
                                  ADD_STRING(ev, "policy", policy) &&
                                  ADD_NUMBER(ev, "owner_uid", owner_uid) &&
                                  (init_pid <= 0 || ADD_NUMBER(ev, "init_pid", init_pid)));
}

/* An environment managed by a connection's user: destroy, export. */
static cJSON *environment_by(brig_audit_type type, uint64_t connection, const char *environment,
                             unsigned by_uid) {
        cJSON *ev = event(type);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING(ev, "environment", environment) &&
                                  ADD_NUMBER(ev, "by_uid", by_uid));
}

cJSON *brig_audit_environment_destroy(uint64_t connection, const char *environment, unsigned by_uid) {
        return environment_by(BRIG_AUDIT_ENVIRONMENT_DESTROY, connection, environment, by_uid);
}

cJSON *brig_audit_environment_export(uint64_t connection, const char *environment, unsigned by_uid) {
        return environment_by(BRIG_AUDIT_ENVIRONMENT_EXPORT, connection, environment, by_uid);
}

cJSON *brig_audit_environment_fork(uint64_t connection, const char *environment, const char *from,
                                   const char *snapshot, const char *policy, unsigned by_uid) {
        cJSON *ev = event(BRIG_AUDIT_ENVIRONMENT_FORK);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING(ev, "environment", environment) &&
                                  ADD_STRING(ev, "from", from) &&
                                  ADD_STRING_OR_NULL(ev, "snapshot", snapshot) &&
                                  ADD_STRING(ev, "policy", policy) && ADD_NUMBER(ev, "by_uid", by_uid));
}

cJSON *brig_audit_environment_import(uint64_t connection, const char *environment, const char *policy,
                                     uint64_t bytes, unsigned by_uid) {
        cJSON *ev = event(BRIG_AUDIT_ENVIRONMENT_IMPORT);
        return finish(ev, ev && ADD_NUMBER(ev, "connection", connection) &&
                                  ADD_STRING_OR_NULL(ev, "environment", environment) &&
                                  ADD_STRING_OR_NULL(ev, "policy", policy) &&
                                  ADD_NUMBER(ev, "bytes", bytes) && ADD_NUMBER(ev, "by_uid", by_uid));
}

cJSON *brig_audit_policy_reload(void) {
        return event(BRIG_AUDIT_POLICY_RELOAD);
}

void brig_audit_policy_reload_lists(cJSON *ev, cJSON **ret_changed, cJSON **ret_added, cJSON **ret_removed) {
        *ret_changed = cJSON_AddArrayToObject(ev, "changed");
        *ret_added = cJSON_AddArrayToObject(ev, "added");
        *ret_removed = cJSON_AddArrayToObject(ev, "removed");
}

void brig_audit_policy_reload_result(cJSON *ev, bool ok, const char *error, const char *default_policy) {
        if (!ev)
                return;
        spoil_unless(ev, ADD_BOOL(ev, "ok", ok) && (ok ? ADD_STRING(ev, "default", default_policy)
                                                       : ADD_STRING(ev, "error", error)));
}

cJSON *brig_audit_syscall_denied(const brig_seccomp_denial *den, const char *environment, uint64_t call_id,
                                 const char *process_id) {
        cJSON *ev = event(BRIG_AUDIT_SYSCALL_DENIED);
        return finish(ev, ev && brig_seccomp_denial_to_json(den, ev) >= 0 &&
                                  ADD_STRING(ev, "environment", environment) &&
                                  (!process_id || ADD_STRING(ev, "process_id", process_id)) &&
                                  (!call_id || ADD_NUMBER(ev, "call_id", call_id)));
}

cJSON *brig_audit_syscall_denied_suppressed(const char *environment, uint64_t count) {
        cJSON *ev = event(BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED);
        return finish(ev,
                      ev && ADD_STRING(ev, "environment", environment) && ADD_NUMBER(ev, "count", count));
}

cJSON *brig_audit_net_connect(const brig_audit_net *n) {
        cJSON *ev = event(BRIG_AUDIT_NET_CONNECT);
        return finish(ev, ev && ADD_STRING(ev, "host", n->host) && ADD_NUMBER(ev, "port", n->port) &&
                                  (!n->address || !n->address[0] || ADD_STRING(ev, "address", n->address)) &&
                                  ADD_STRING(ev, "method", n->tunnel ? "CONNECT" : "HTTP") &&
                                  ADD_STRING(ev, "decision", n->allowed ? "allowed" : "denied") &&
                                  ADD_STRING(ev, "reason", n->reason) &&
                                  (!n->error || !n->error[0] || ADD_STRING(ev, "error", n->error)) &&
                                  ADD_NUMBER(ev, "bytes_up", n->bytes_up) &&
                                  ADD_NUMBER(ev, "bytes_down", n->bytes_down) &&
                                  ADD_NUMBER(ev, "duration_ms", n->duration_ms) &&
                                  ADD_STRING(ev, "environment", n->environment) &&
                                  (!n->call_id || ADD_NUMBER(ev, "call_id", n->call_id)) &&
                                  (!n->process_id || !n->process_id[0] ||
                                   ADD_STRING(ev, "process_id", n->process_id)));
}

cJSON *brig_audit_secret(brig_audit_type type, const char *name, const char *host, uint64_t call_id,
                         const char *environment) {
        cJSON *ev = event(type);
        return finish(ev, ev && ADD_STRING(ev, "name", name) && ADD_STRING(ev, "host", host) &&
                                  (!call_id || ADD_NUMBER(ev, "call_id", call_id)) &&
                                  ADD_STRING(ev, "environment", environment));
}

cJSON *brig_audit_snapshot(const char *environment, const char *call_id, const char *tool, const char *id,
                           const char *error) {
        cJSON *ev = event(BRIG_AUDIT_SNAPSHOT);
        return finish(ev, ev && ADD_STRING(ev, "environment", environment) &&
                                  ADD_STRING(ev, "call_id", call_id) && ADD_STRING(ev, "tool", tool) &&
                                  (!id || !id[0] || ADD_STRING(ev, "id", id)) &&
                                  (!error || ADD_STRING(ev, "error", error)));
}

cJSON *brig_audit_process_exit(const char *environment, const char *process_id, const brig_exec_result *res,
                               uint64_t output_bytes) {
        cJSON *ev = event(BRIG_AUDIT_PROCESS_EXIT);
        return finish(ev, ev && ADD_STRING(ev, "environment", environment) &&
                                  ADD_STRING(ev, "process_id", process_id) && add_exit(ev, res, false) &&
                                  ADD_NUMBER(ev, "output_bytes", output_bytes) &&
                                  ADD_NUMBER(ev, "duration_ms", res->duration_ms));
}

void brig_audit_set_error(cJSON *ev, const char *error) {
        if (ev && error)
                spoil_unless(ev, ADD_STRING(ev, "error", error));
}

cJSON *brig_audit_memory_write(const char *environment, uint64_t call_id, unsigned peer_uid,
                               const char *command, const char *path, uint64_t bytes, const char *digest,
                               const char *version) {
        cJSON *ev = event(BRIG_AUDIT_MEMORY_WRITE);
        return finish(
                ev, ev && ADD_STRING(ev, "environment", environment) && ADD_NUMBER(ev, "call_id", call_id) &&
                            ADD_NUMBER(ev, "peer_uid", peer_uid) && ADD_STRING(ev, "command", command) &&
                            ADD_STRING(ev, "path", path) && ADD_NUMBER(ev, "bytes", bytes) &&
                            (!digest || !digest[0] || ADD_STRING(ev, "digest", digest)) &&
                            ADD_STRING(ev, "version", version));
}
