/* SPDX-License-Identifier: MIT */
/* The audit trail's event types and their constructors (worker/audit_events.h). The member names and their
 * order are the trail's format: docs/protocol.md documents them and readers (brig audit, SIEM rules) rely
 * on them, so a member is added here, to its row of the table and to the document together. */
#include <stdio.h>

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
};

static cJSON *event(brig_audit_type type) {
        return brig_audit_event(brig_audit_types[type].name);
}

cJSON *brig_audit_worker_start(int pid, const char *version, const char *policy, uint64_t environments,
                               const char *socket, unsigned jail_uid) {
        cJSON *ev = event(BRIG_AUDIT_WORKER_START);
        if (ev) {
                cJSON_AddNumberToObject(ev, "pid", pid);
                cJSON_AddStringToObject(ev, "version", version);
                cJSON_AddStringToObject(ev, "policy", policy);
                cJSON_AddNumberToObject(ev, "environments", (double) environments);
                cJSON_AddStringToObject(ev, "socket", socket);
                cJSON_AddNumberToObject(ev, "jail_uid", jail_uid);
        }
        return ev;
}

cJSON *brig_audit_worker_stop(int pid) {
        cJSON *ev = event(BRIG_AUDIT_WORKER_STOP);
        if (ev)
                cJSON_AddNumberToObject(ev, "pid", pid);
        return ev;
}

cJSON *brig_audit_connection_open(uint64_t connection, const struct ucred *peer) {
        cJSON *ev = event(BRIG_AUDIT_CONNECTION_OPEN);
        if (ev) {
                cJSON *p = cJSON_AddObjectToObject(ev, "peer");
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                if (p) {
                        cJSON_AddNumberToObject(p, "uid", peer->uid);
                        cJSON_AddNumberToObject(p, "gid", peer->gid);
                        cJSON_AddNumberToObject(p, "pid", peer->pid);
                }
        }
        return ev;
}

cJSON *brig_audit_connection_close(uint64_t connection, const char *reason, const char *environment) {
        cJSON *ev = event(BRIG_AUDIT_CONNECTION_CLOSE);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                cJSON_AddStringToObject(ev, "reason", reason);
                if (environment)
                        cJSON_AddStringToObject(ev, "environment", environment);
        }
        return ev;
}

cJSON *brig_audit_initialize(uint64_t connection, const char *environment, const char *policy,
                             const char *protocol_version) {
        cJSON *ev = event(BRIG_AUDIT_INITIALIZE);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                cJSON_AddStringToObject(ev, "environment", environment);
                cJSON_AddStringToObject(ev, "policy", policy);
                cJSON_AddStringToObject(ev, "protocol_version", protocol_version);
        }
        return ev;
}

cJSON *brig_audit_refused(uint64_t connection, const char *method, const char *reason) {
        cJSON *ev = event(BRIG_AUDIT_REFUSED);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                cJSON_AddStringToObject(ev, "method", method ? method : "");
                cJSON_AddStringToObject(ev, "reason", reason);
        }
        return ev;
}

static cJSON *call_event(brig_audit_type type, const brig_audit_call *c) {
        cJSON *ev = event(type);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) c->connection);
                cJSON_AddNumberToObject(ev, "call_id", (double) c->call_id);
                cJSON_AddStringToObject(ev, "environment", c->environment);
                cJSON_AddStringToObject(ev, "tool", c->tool);
        }
        return ev;
}

cJSON *brig_audit_call_start(const brig_audit_call *c, cJSON *arguments, const struct ucred *peer) {
        cJSON *ev = call_event(BRIG_AUDIT_CALL_START, c);
        if (!ev) {
                cJSON_Delete(arguments);
                return NULL;
        }
        cJSON_AddItemToObject(ev, "arguments", arguments);
        cJSON *p = cJSON_AddObjectToObject(ev, "peer");
        if (p) {
                cJSON_AddNumberToObject(p, "uid", peer->uid);
                cJSON_AddNumberToObject(p, "pid", peer->pid);
        }
        return ev;
}

cJSON *brig_audit_call_end(const brig_audit_call *c, bool is_error, bool cancelled, const char *path,
                           uint64_t bytes) {
        cJSON *ev = call_event(BRIG_AUDIT_CALL_END, c);
        if (ev) {
                cJSON_AddBoolToObject(ev, "is_error", is_error);
                cJSON_AddBoolToObject(ev, "cancelled", cancelled);
                if (path) {
                        cJSON_AddStringToObject(ev, "path", path);
                        cJSON_AddNumberToObject(ev, "bytes", (double) bytes);
                }
        }
        return ev;
}

/* exit_code and signal, as call_end and process_exit record them. */
static void add_exit(cJSON *ev, const brig_exec_result *res, bool null_exit_code) {
        char sig[16];

        if (res->exited)
                cJSON_AddNumberToObject(ev, "exit_code", res->exit_code);
        else if (null_exit_code)
                cJSON_AddNullToObject(ev, "exit_code");
        if (res->signal)
                cJSON_AddStringToObject(ev, "signal", brig_signal_name(res->signal, sig));
}

void brig_audit_call_end_exec(cJSON *ev, const brig_exec_result *res, bool oom_killed) {
        if (!ev)
                return;
        add_exit(ev, res, true);
        cJSON_AddBoolToObject(ev, "timed_out", res->timed_out);
        cJSON_AddBoolToObject(ev, "truncated", res->truncated);
        if (oom_killed)
                cJSON_AddBoolToObject(ev, "oom_killed", true);
        cJSON_AddNumberToObject(ev, "stdout_bytes", (double) res->stdout_bytes);
        cJSON_AddNumberToObject(ev, "stderr_bytes", (double) res->stderr_bytes);
        cJSON_AddNumberToObject(ev, "duration_ms", (double) res->duration_ms);
        if (res->error.code)
                cJSON_AddStringToObject(ev, "error", res->error.msg);
}

void brig_audit_call_end_process(cJSON *ev, const char *process_id) {
        if (ev)
                cJSON_AddStringToObject(ev, "process_id", process_id);
}

void brig_audit_call_end_snapshot(cJSON *ev, const char *snapshot) {
        if (ev)
                cJSON_AddStringToObject(ev, "snapshot", snapshot);
}

cJSON *brig_audit_environment(brig_audit_type type, const char *environment, const char *policy,
                              unsigned owner_uid, int init_pid) {
        cJSON *ev = event(type);
        if (ev) {
                cJSON_AddStringToObject(ev, "environment", environment);
                cJSON_AddStringToObject(ev, "policy", policy);
                cJSON_AddNumberToObject(ev, "owner_uid", owner_uid);
                if (init_pid > 0)
                        cJSON_AddNumberToObject(ev, "init_pid", init_pid);
        }
        return ev;
}

cJSON *brig_audit_environment_destroy(uint64_t connection, const char *environment, unsigned by_uid) {
        cJSON *ev = event(BRIG_AUDIT_ENVIRONMENT_DESTROY);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                cJSON_AddStringToObject(ev, "environment", environment);
                cJSON_AddNumberToObject(ev, "by_uid", by_uid);
        }
        return ev;
}

cJSON *brig_audit_environment_fork(uint64_t connection, const char *environment, const char *from,
                                   const char *snapshot, const char *policy, unsigned by_uid) {
        cJSON *ev = event(BRIG_AUDIT_ENVIRONMENT_FORK);
        if (ev) {
                cJSON_AddNumberToObject(ev, "connection", (double) connection);
                cJSON_AddStringToObject(ev, "environment", environment);
                cJSON_AddStringToObject(ev, "from", from);
                if (snapshot)
                        cJSON_AddStringToObject(ev, "snapshot", snapshot);
                else
                        cJSON_AddNullToObject(ev, "snapshot");
                cJSON_AddStringToObject(ev, "policy", policy);
                cJSON_AddNumberToObject(ev, "by_uid", by_uid);
        }
        return ev;
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
        cJSON_AddBoolToObject(ev, "ok", ok);
        if (!ok)
                cJSON_AddStringToObject(ev, "error", error);
        else
                cJSON_AddStringToObject(ev, "default", default_policy);
}

cJSON *brig_audit_syscall_denied(const brig_seccomp_denial *den, const char *environment, uint64_t call_id,
                                 const char *process_id) {
        cJSON *ev = event(BRIG_AUDIT_SYSCALL_DENIED);
        if (!ev || brig_seccomp_denial_to_json(den, ev) < 0) {
                cJSON_Delete(ev);
                return NULL;
        }
        cJSON_AddStringToObject(ev, "environment", environment);
        if (process_id)
                cJSON_AddStringToObject(ev, "process_id", process_id);
        if (call_id)
                cJSON_AddNumberToObject(ev, "call_id", (double) call_id);
        return ev;
}

cJSON *brig_audit_syscall_denied_suppressed(const char *environment, uint64_t count) {
        cJSON *ev = event(BRIG_AUDIT_SYSCALL_DENIED_SUPPRESSED);
        if (ev) {
                cJSON_AddStringToObject(ev, "environment", environment);
                cJSON_AddNumberToObject(ev, "count", (double) count);
        }
        return ev;
}

cJSON *brig_audit_net_connect(const brig_audit_net *n) {
        cJSON *ev = event(BRIG_AUDIT_NET_CONNECT);
        if (!ev)
                return NULL;
        cJSON_AddStringToObject(ev, "host", n->host);
        cJSON_AddNumberToObject(ev, "port", n->port);
        if (n->address && n->address[0])
                cJSON_AddStringToObject(ev, "address", n->address);
        cJSON_AddStringToObject(ev, "method", n->tunnel ? "CONNECT" : "HTTP");
        cJSON_AddStringToObject(ev, "decision", n->allowed ? "allowed" : "denied");
        cJSON_AddStringToObject(ev, "reason", n->reason);
        if (n->error && n->error[0])
                cJSON_AddStringToObject(ev, "error", n->error);
        cJSON_AddNumberToObject(ev, "bytes_up", (double) n->bytes_up);
        cJSON_AddNumberToObject(ev, "bytes_down", (double) n->bytes_down);
        cJSON_AddNumberToObject(ev, "duration_ms", (double) n->duration_ms);
        cJSON_AddStringToObject(ev, "environment", n->environment);
        if (n->call_id)
                cJSON_AddNumberToObject(ev, "call_id", (double) n->call_id);
        if (n->process_id && n->process_id[0])
                cJSON_AddStringToObject(ev, "process_id", n->process_id);
        return ev;
}

cJSON *brig_audit_snapshot(const char *environment, const char *call_id, const char *tool, const char *id,
                           const char *error) {
        cJSON *ev = event(BRIG_AUDIT_SNAPSHOT);
        if (!ev)
                return NULL;
        cJSON_AddStringToObject(ev, "environment", environment);
        cJSON_AddStringToObject(ev, "call_id", call_id);
        cJSON_AddStringToObject(ev, "tool", tool);
        if (id && id[0])
                cJSON_AddStringToObject(ev, "id", id);
        if (error)
                cJSON_AddStringToObject(ev, "error", error);
        return ev;
}

cJSON *brig_audit_process_exit(const char *environment, const char *process_id, const brig_exec_result *res,
                               uint64_t output_bytes) {
        cJSON *ev = event(BRIG_AUDIT_PROCESS_EXIT);
        if (!ev)
                return NULL;
        cJSON_AddStringToObject(ev, "environment", environment);
        cJSON_AddStringToObject(ev, "process_id", process_id);
        add_exit(ev, res, false);
        cJSON_AddNumberToObject(ev, "output_bytes", (double) output_bytes);
        cJSON_AddNumberToObject(ev, "duration_ms", (double) res->duration_ms);
        return ev;
}

void brig_audit_set_error(cJSON *ev, const char *error) {
        if (ev && error)
                cJSON_AddStringToObject(ev, "error", error);
}
