/* SPDX-License-Identifier: MIT */
/* The MCP server side of a connection: lifecycle (initialize, version negotiation), tools/list,
 * tools/call with streamed output and cancellation, ping and logging/setLevel. Each tools/call becomes a
 * brig_call whose one teardown path is call_finish(), reached from completion, cancellation, timeout and
 * client departure alike. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/json_frame.h"
#include "common/log.h"
#include "sandbox/plan.h"
#include "tools/files.h"
#include "tools/process.h"
#include "tools/registry.h"
#include "tools/repl.h"
#include "tools/result_text.h"
#include "worker/audit_events.h"
#include "worker/env_fork.h"
#include "worker/mcp_internal.h"
#include "worker/memory.h"
#include "worker/proxy.h"
#include "worker/rpc.h"
#include "worker/worker.h"
#include "worker/toolpool.h"

#define RESTART_NOTICE                                                                                      \
        "[environment restarted: the worker restarted since the last call, so background processes and "    \
        "interpreter state were lost; the workspace is intact]\n"

static const char *const supported_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
static const char *const log_levels[] = {"debug",    "info",  "notice",    "warning", "error",
                                         "critical", "alert", "emergency", NULL};

void brig__mcp_send_error(brig_conn *c, const cJSON *id, int code, const char *msg) {
        (void) brig__conn_send(c, brig_rpc_error(id, code, msg, NULL));
}

void brig__mcp_send_brig_error(brig_conn *c, const cJSON *id, int code, const brig_error *err) {
        cJSON *data = cJSON_CreateObject();
        if (data)
                cJSON_AddStringToObject(data, "kind", brig_kind_name(err->kind));
        (void) brig__conn_send(c, brig_rpc_error(id, code, err->msg, data));
}

static int audit_refusal(brig_conn *c, const char *method, const char *reason) {
        return brig__worker_audit(c->w, brig_audit_refused(c->id, method, reason));
}

/* --- initialize ------------------------------------------------------------------------------------- */

static void handle_initialize(brig_conn *c, const brig_rpc_msg *m) {
        const char *requested = NULL, *chosen = supported_versions[0];
        const cJSON *meta = brig_json_member(m->params, "_meta");
        brig_error err = BRIG_ERROR_INIT;
        bool brig_output = false;
        cJSON *res, *caps, *info, *rmeta;

        if (c->initialized) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_REQUEST, "already initialized");
                return;
        }
        if (!cJSON_IsObject(m->params)) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, "params: expected an object");
                return;
        }
        if (brig_json_get_string(m->params, "params", "protocolVersion", true, &requested, &err) < 0 ||
            brig_json_get_bool(meta, "params._meta", "brig/output", &brig_output, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        const char *env_id = NULL, *policy = NULL;
        if (brig_json_get_string(meta, "params._meta", "brig/environment", false, &env_id, &err) < 0 ||
            brig_json_get_string(meta, "params._meta", "brig/policy", false, &policy, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(supported_versions); i++)
                if (strcmp(requested, supported_versions[i]) == 0)
                        chosen = supported_versions[i];
        if (brig_env_attach(c->w, env_id, policy, &c->peer, &c->env, &err) < 0) {
                (void) audit_refusal(c, "initialize", err.msg);
                brig__mcp_send_brig_error(c, m->id,
                                          err.kind == BRIG_KIND_DENIED || err.kind == BRIG_KIND_LIMIT
                                                  ? BRIG_RPC_REFUSED
                                                  : BRIG_RPC_INVALID_PARAMS,
                                          &err);
                return;
        }
        c->brig_output = brig_output;
        c->initialized = true;

        if (brig__worker_audit(c->w, brig_audit_initialize(c->id, c->env->id, c->env->policy_key, chosen)) <
            0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, "audit log unavailable");
                return;
        }

        res = cJSON_CreateObject();
        if (!res)
                return;
        cJSON_AddStringToObject(res, "protocolVersion", chosen);
        caps = cJSON_AddObjectToObject(res, "capabilities");
        if (caps) {
                cJSON *tools = cJSON_AddObjectToObject(caps, "tools");
                if (tools)
                        cJSON_AddBoolToObject(tools, "listChanged", false);
                cJSON_AddObjectToObject(caps, "logging");
        }
        info = cJSON_AddObjectToObject(res, "serverInfo");
        if (info) {
                cJSON_AddStringToObject(info, "name", "brig");
                cJSON_AddStringToObject(info, "version", BRIG_VERSION);
        }
        cJSON_AddStringToObject(
                res, "instructions",
                "Tools run inside a jail: the workspace is /workspace, /tmp is private, and the "
                "network is loopback only unless the policy says otherwise.");
        rmeta = cJSON_AddObjectToObject(res, "_meta");
        if (rmeta) {
                cJSON_AddStringToObject(rmeta, "brig/environment", c->env->id);
                cJSON_AddStringToObject(rmeta, "brig/policy", c->env->policy_key);
        }
        (void) brig__conn_send(c, brig_rpc_result(m->id, res));
}

/* --- tools/list ------------------------------------------------------------------------------------- */

static void handle_tools_list(brig_conn *c, const brig_rpc_msg *m) {
        /* Only what the connection's policy lets it call. */
        cJSON *res = brig_tool_list(c->env && c->env->policy ? c->env->policy->policy : NULL);

        if (!res) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        (void) brig__conn_send(c, brig_rpc_result(m->id, res));
}

/* --- tools/call ------------------------------------------------------------------------------------- */

static void call_free(brig_call *call) {
        brig__budget_call_gone(call);
        free(call->audit_path);
        cJSON_Delete(call->refused);
        brig_exec_args_done(&call->args);
        cJSON_Delete(call->repl_args);
        cJSON_Delete(call->id);
        cJSON_Delete(call->progress_token);
        free(call);
}

static void call_unlink(brig_call *call) {
        brig_conn *c = call->conn;
        for (brig_call **p = &c->calls; *p; p = &(*p)->next)
                if (*p == call) {
                        *p = call->next;
                        c->n_calls--;
                        break;
                }
}

/* src[0..len) encoded for the wire into a new buffer: base64, or escaped when text (*wire_len: its
 * length as counted, which the escape never writes past; recounted when it was short). NULL on allocation
 * failure. */
static char *encode_wire(const char *src, size_t len, bool text, size_t *wire_len) {
        size_t want = text ? *wire_len : (len + 2) / 3 * 4, used = 0;
        char *w = malloc(want + 1);

        if (!w || !text) {
                if (w)
                        *wire_len = brig_base64_encode_to(w, src, len);
                return w;
        }
        *wire_len = brig_json_escape_some(w, want, src, len, &used);
        if (used == len)
                return w;
        free(w);
        want = brig_json_escaped_len(src, len);
        if (!(w = malloc(want + 1)))
                return NULL;
        *wire_len = brig_json_escape(w, src, len);
        return w;
}

static cJSON *wire_copy(const char *wire, size_t len) {
        char *d = malloc(len + 1);
        if (!d)
                return NULL;
        memcpy(d, wire, len);
        return brig_json_wire_take(d, len);
}

/* Sends data as notifications. Each string is encoded once, from data into the buffer the frame writes
 * (brig_json_wire_take()): the chunk is not copied raw first, nor encoded into a part as it is written. The
 * bytes carried from the last chunk (a character it cut) join it in a copy only when there are some.
 * escaped_extra: as tools/exec.h's output callback has it. */
static void stream_chunk(brig_call *call, const char *data, size_t len, brig_stream stream,
                         ssize_t escaped_extra) {
        brig_conn *c = call->conn;
        int s = stream == BRIG_STREAM_STDOUT ? 0 : 1;
        _cleanup_free_ char *joined = NULL, *wire = NULL;
        const char *src = data;
        size_t n = len, body, tail, escaped_len = 0, wire_len = 0;
        bool text;

        if (call->carry_len[s]) {
                n = call->carry_len[s] + len;
                if (!(joined = malloc(n)))
                        return;
                memcpy(joined, call->carry[s], call->carry_len[s]);
                memcpy(joined + call->carry_len[s], data, len);
                src = joined;
        }
        tail = brig_utf8_incomplete_tail(src, n);
        body = n - tail;
        /* Escape-heavy text (control bytes cost 6 wire bytes each) goes as base64, like binary. When
         * tools/exec.c's scan found the stream UTF-8 so far and every chunk before went as text, the scan's
         * carry is this one: src holds UTF-8, and the carried bytes (>= 0x80) escape to themselves, so the
         * counts it made for the result decide without reading src again. */
        if (escaped_extra >= 0 && !call->carry_reset[s]) {
                escaped_len = body + (size_t) escaped_extra;
                text = brig_output_escapes_as_text(body, escaped_len);
        } else
                text = brig_output_text_len(src, body, &escaped_len);
        if (text) {
                memcpy(call->carry[s], src + body, tail);
                call->carry_len[s] = tail;
        } else {
                body = n; /* binary: send everything, nothing to complete */
                call->carry_len[s] = 0;
                call->carry_reset[s] = true;
        }
        /* Progress messages carry text only. */
        wire_len = escaped_len;
        if ((text || c->brig_output) && !(wire = encode_wire(src, body, text, &wire_len)))
                return;

        if (call->progress_token) {
                char note[64];
                cJSON *p = cJSON_CreateObject();
                call->progress += (double) len;
                if (p) {
                        cJSON_AddItemToObject(p, "progressToken",
                                              cJSON_Duplicate(call->progress_token, true));
                        cJSON_AddNumberToObject(p, "progress", call->progress);
                        /* Taken unless brig/output below needs it too. */
                        if (text)
                                (void) brig_json_add(
                                        p, "message",
                                        c->brig_output ? wire_copy(wire, wire_len)
                                                       : brig_json_wire_take(TAKE_PTR(wire), wire_len));
                        else {
                                (void) snprintf(note, sizeof(note), "[%zu bytes of binary output]", body);
                                cJSON_AddStringToObject(p, "message", note);
                        }
                }
                (void) brig__conn_notify(c, brig_rpc_notification("notifications/progress", p));
        }
        if (c->brig_output && !c->closing) {
                cJSON *p = cJSON_CreateObject();
                if (p) {
                        (void) brig_json_add(p, "requestId", cJSON_Duplicate(call->id, true));
                        cJSON_AddStringToObject(p, "stream", s == 0 ? "stdout" : "stderr");
                        cJSON_AddNumberToObject(p, "seq", (double) call->seq++);
                        (void) brig_json_add(p, "data", brig_json_wire_take(TAKE_PTR(wire), wire_len));
                        if (!text)
                                cJSON_AddStringToObject(p, "encoding", "base64");
                }
                (void) brig__conn_notify(c, brig_rpc_notification("brig/output", p));
        }
}

static void exec_output_cb(const char *data, size_t len, brig_stream stream, ssize_t escaped_extra,
                           void *userdata) {
        brig_call *call = userdata;
        /* Kept for its result until the call ends (tools/exec.c keeps it within the policy's limit). */
        brig__budget_kept(call, (int64_t) len);
        if (call->state == BRIG_CALL_RUNNING && (call->progress_token || call->conn->brig_output))
                stream_chunk(call, data, len, stream, escaped_extra);
}

/* What a command of env needs from the worker. */
static brig_exec_context exec_context(const brig_conn *c, const brig_env *env) {
        return (brig_exec_context){
                .loop = c->w->loop,
                .policy = env->policy->policy,
                .identity = env->identity,
                .control = env->control,
                .secret_env = brig__proxy_secret_env(env),
                .ca_bundle = env->tls_ca ? BRIG_PLAN_CA_BUNDLE : NULL,
        };
}

/* The parts every call's end shares: its audit record's common fields, the result message, and the one
 * teardown. */
static brig_audit_call audit_call(const brig_call *call) {
        return (brig_audit_call){.connection = call->conn->id,
                                 .call_id = call->call_id,
                                 .environment = call->conn->env->id,
                                 .tool = call->tool};
}

static cJSON *call_end_event(const brig_call *call, bool is_error) {
        brig_audit_call ac = audit_call(call);
        return brig_audit_call_end(&ac, is_error, call->state == BRIG_CALL_CANCELLED, call->audit_path,
                                   call->audit_bytes);
}

/* Records a call's event, unless the policy leaves this call out of the trail (audit.file_reads). */
static int call_audit(const brig_call *call, cJSON *ev) {
        if (call->unaudited) {
                cJSON_Delete(ev);
                return 0;
        }
        return brig__worker_audit(call->conn->w, ev);
}

/* Sends {content: [text], structuredContent: sc, isError} (sc consumed), unless the call was cancelled;
 * the audit record (already written, or not: audit_r < 0) decides whether a result may be sent at all.
 * Out of memory is an error response, never a result that lost its text or part of sc. */
static void send_tool_result(brig_call *call, int audit_r, const char *text, cJSON *sc, bool is_error) {
        _cleanup_json_ cJSON *sc_owned = sc;
        _cleanup_free_ char *full = NULL;
        brig_conn *c = call->conn;
        char refused_text[160] = "";
        cJSON *result = NULL;
        bool ok = true;

        if (call->state != BRIG_CALL_RUNNING)
                return;
        if (audit_r < 0) {
                brig__mcp_send_error(c, call->id, BRIG_RPC_REFUSED,
                                     "audit log unavailable: result withheld");
                return;
        }
        /* What the policy refused the call, in its result too (see worker/culprit.c). */
        size_t n_refused =
                call->refused ? (size_t) cJSON_GetArraySize(call->refused) + call->refused_more : 0;
        if (n_refused && cJSON_IsObject(sc_owned))
                ok = brig_json_add(sc_owned, "refused", TAKE_PTR(call->refused)) &&
                     (!call->refused_more ||
                      cJSON_AddNumberToObject(sc_owned, "refused_more", (double) call->refused_more));
        if (n_refused)
                (void) snprintf(
                        refused_text, sizeof(refused_text),
                        "\n[brig: the policy refused %zu system call(s) or connection(s) of this call; "
                        "see structuredContent.refused]",
                        n_refused);
        if (ok && sc_owned && call->restarted_notice)
                ok = cJSON_AddBoolToObject(sc_owned, "environment_restarted", true);
        if (ok && asprintf(&full, "%s%s%s", call->restarted_notice ? RESTART_NOTICE : "", text ? text : "",
                           refused_text) >= 0)
                result = brig_tool_result(full, TAKE_PTR(sc_owned), is_error);
        if (!result) {
                brig__mcp_send_error(c, call->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        (void) brig__conn_send(c, brig_rpc_result(call->id, result));
}

static void call_finish(brig_call *call) {
        brig_conn *c = call->conn;
        call->state = BRIG_CALL_DONE;
        brig__admission_release(call);
        call_unlink(call);
        call_free(call);
        brig__conn_unref(c);
}

/* A result held until the automatic snapshot of its call is taken (issue 12). */
typedef struct held_result {
        brig_call *call;
        int audit_r;
        char *text;
        cJSON *sc;
        bool is_error;
} held_result;

static void snapshot_taken_cb(brig_toolpool_result *res, void *userdata) {
        held_result *h = userdata;

        (void) res;
        send_tool_result(h->call, h->audit_r, h->text, h->sc, h->is_error);
        call_finish(h->call);
        free(h->text);
        free(h);
}

/* Sends a result (text and sc consumed) and ends the call. With snapshot (history.auto_snapshot), what the
 * command or code did to the workspace is recorded under its call first: a client that sends its next call
 * once it has this result cannot have that call's writes land in this call's snapshot. */
static void send_and_finish(brig_call *call, int audit_r, char *text, cJSON *sc, bool is_error,
                            bool snapshot) {
        held_result *h = snapshot ? calloc(1, sizeof(*h)) : NULL;

        if (h) {
                *h = (held_result){call, audit_r, text, sc, is_error};
                if (brig_toolpool_auto_snapshot(call->conn->env, call->call_id, call->tool,
                                                snapshot_taken_cb, h))
                        return;
                free(h);
        } else if (snapshot)
                (void) brig_toolpool_auto_snapshot(call->conn->env, call->call_id, call->tool, NULL, NULL);
        send_tool_result(call, audit_r, text, sc, is_error);
        free(text);
        call_finish(call);
}

static void exec_done_cb(const brig_exec_result *res, void *userdata) {
        brig_call *call = userdata;
        brig_conn *c = call->conn;
        uint64_t oom_after = 0;
        /* The environment's OOM counter moved during the call: the kernel killed something for memory. */
        bool oom = call->oom_known && brig_env_oom_kills(c->env, &oom_after) >= 0 &&
                   oom_after > call->oom_before;
        bool is_error = !res->exited || res->exit_code != 0 || res->error.code != 0;
        cJSON *ev = call_end_event(call, is_error), *sc;

        call->exec = NULL;
        brig_audit_call_end_exec(ev, res, oom);
        int audit_r = call_audit(call, ev);
        _cleanup_free_ char *text = brig_exec_result_to_text(res);
        /* The output moves into the result and, when sent, into the write queue: held once all along. */
        sc = brig_exec_result_take_json(res);
        if (sc && oom)
                cJSON_AddBoolToObject(sc, "oom_killed", true);
        send_and_finish(call, audit_r, TAKE_PTR(text), sc, is_error, res->started);
}

/* Resources the whole worker shares ran out (fds, the environment's command queue): the call may succeed
 * later, so it is refused as busy. */
static bool out_of_resources(const brig_error *err) {
        return err->code == -EMFILE || err->code == -ENFILE ||
               (err->code == -EAGAIN && err->kind == BRIG_KIND_SANDBOX);
}

/* Ends a call that never ran a command: its arguments were wrong, the environment could not start, the exec
 * could not be spawned, or the client cancelled while the environment was starting. Everything wrong with a
 * known tool's call is a tool result with isError (MCP's SEP-1303), so the model reads the precise message
 * and can correct itself; only resources the whole worker ran out of are the protocol's busy error. extra
 * (consumed, may be NULL) carries what the error result adds (a memory str_replace's current_text). */
static void call_end_failed(brig_call *call, const brig_error *err, cJSON *extra) {
        _cleanup_json_ cJSON *extra_owned = extra;
        brig_conn *c = call->conn;
        cJSON *ev = call_end_event(call, true);

        brig_audit_set_error(ev, err ? err->msg : NULL);
        int audit_r = call_audit(call, ev);
        if (call->state == BRIG_CALL_RUNNING && audit_r >= 0 && err && out_of_resources(err)) {
                /* The one documented refusal, not one message per resource that ran out. */
                (void) brig__conn_send(c, brig__admission_busy(c->w, call->id, err->msg));
        } else if (err) {
                _cleanup_free_ char *text = NULL;
                cJSON *sc;
                if (call->def->runner == BRIG_TOOL_RUN_EXEC && err->kind != BRIG_KIND_INVALID_ARGUMENT) {
                        /* A jail that cannot be built is a failed run, reported like one. */
                        brig_buf none = {0};
                        brig_exec_result res = {.out = &none, .err = &none, .error = *err};
                        text = brig_exec_result_to_text(&res);
                        sc = brig_exec_result_to_json(&res);
                } else {
                        const char *current =
                                cJSON_GetStringValue(brig_json_member(extra_owned, "current_text"));
                        /* The memory tools' errors are the memory tool convention's texts, as they are. */
                        if (call->def->runner == BRIG_TOOL_RUN_MEMORY) {
                                if (asprintf(&text, "%s%s%s", err->msg,
                                             current ? "\nThe current text of the file:\n" : "",
                                             current ? current : "") < 0)
                                        text = NULL;
                        } else if (asprintf(&text,
                                            err->kind == BRIG_KIND_INVALID_ARGUMENT
                                                    ? "invalid arguments for %s: %s\n[correct the "
                                                      "arguments and call again]"
                                                    : "[%s failed: %s]",
                                            call->tool, err->msg) < 0)
                                text = NULL;
                        sc = cJSON_CreateObject();
                        cJSON *e = cJSON_AddObjectToObject(sc, "error");
                        if (e) {
                                cJSON_AddStringToObject(e, "kind", brig_kind_name(err->kind));
                                cJSON_AddStringToObject(e, "message", err->msg);
                        }
                        if (sc && current)
                                cJSON_AddStringToObject(sc, "current_text", current);
                }
                send_tool_result(call, audit_r, text, sc, true);
        }
        call_finish(call);
}

static void call_end_early(brig_call *call, const brig_error *err) {
        call_end_failed(call, err, NULL);
}

/* Ends a call with a structured result of its own (process tools, background starts, repl). */
static void call_end_snapshot(brig_call *call, cJSON *sc, bool is_error, bool snapshot) {
        cJSON *ev = call_end_event(call, is_error);
        const cJSON *pid = brig_json_member(sc, "process_id");
        _cleanup_free_ char *text = brig_tool_result_text(call->tool, sc, is_error);

        if (cJSON_IsString(pid))
                brig_audit_call_end_process(ev, pid->valuestring);
        send_and_finish(call, call_audit(call, ev), TAKE_PTR(text), sc, is_error, snapshot);
}

static void call_end_with(brig_call *call, cJSON *sc, bool is_error) {
        call_end_snapshot(call, sc, is_error, false);
}

static void env_ready_cb(brig_env *env, const brig_error *err, void *userdata);

/* Handing a command to the environment failed because its init is gone (killed, or out of memory) while
 * the worker had not heard of it yet: instead of failing, the call waits for the environment's restart,
 * once. */
static bool init_gone(brig_call *call, brig_env *env, int r) {
        if (call->init_gone_retried ||
            (r != -EPIPE && r != -ECONNRESET && r != -ESHUTDOWN && r != -ENOTCONN))
                return false;
        call->init_gone_retried = true;
        log_info("environment %s: its init is gone: the call waits for its restart", env->id);
        brig_env_ensure_restarted(env, env_ready_cb, call);
        return true;
}

static void start_background(brig_call *call, brig_env *env) {
        brig_conn *c = call->conn;
        brig_error err = BRIG_ERROR_INIT;
        brig_process *p = NULL;
        brig_exec_context ctx = exec_context(c, env);
        int r = brig_process_start(&env->processes, &ctx, &call->args, &p, &err);
        if (r < 0) {
                if (!init_gone(call, env, r))
                        call_end_early(call, &err);
                return;
        }
        p->call_id = call->call_id;
        cJSON *sc = cJSON_CreateObject();
        if (sc) {
                cJSON_AddStringToObject(sc, "process_id", p->id);
                cJSON_AddStringToObject(sc, "state", "running");
                cJSON_AddStringToObject(sc, "command", p->command);
        }
        call_end_with(call, sc, false);
}

static void repl_output_cb(const char *data, size_t len, void *userdata) {
        exec_output_cb(data, len, BRIG_STREAM_STDOUT, -1, userdata);
}

static void repl_done_cb(cJSON *result, bool is_error, void *userdata) {
        brig_call *call = userdata;
        call->repl = NULL;
        /* Like a command, the code may have changed the workspace. */
        call_end_snapshot(call, result, is_error, true);
}

static void start_repl(brig_call *call, brig_env *env) {
        brig_conn *c = call->conn;
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_context ctx = exec_context(c, env);
        if (brig_repl_run(&env->repls, &ctx, call->repl_args, repl_output_cb, repl_done_cb, call,
                          &call->repl, &err) < 0) {
                call_end_early(call, &err);
        }
}

static void toolpool_done_cb(brig_toolpool_result *res, void *userdata) {
        brig_call *call = userdata;
        cJSON *ev;

        /* Refused and failed calls are audited with their path too, and a refusal (an escape attempt) even
         * when the policy keeps reads out of the trail. */
        if (res->error.kind == BRIG_KIND_DENIED)
                call->unaudited = false;
        call->audit_path = TAKE_PTR(res->report.path);
        call->audit_bytes = res->report.bytes;
        if (res->error.code) {
                /* Malformed arguments are the client's; refusals (an escape, a read-only policy) and I/O
                 * errors are results the model should see. */
                call_end_early(call, &res->error);
                return;
        }
        ev = call_end_event(call, false);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(res->sc, "id");
        if (res->snapshot[0])
                brig_audit_call_end_snapshot(ev, res->snapshot);
        else if (cJSON_IsString(id) && call->def->runner == BRIG_TOOL_RUN_HISTORY)
                brig_audit_call_end_snapshot(ev, id->valuestring);
        send_tool_result(call, call_audit(call, ev), res->text, res->sc, false);
        res->sc = NULL;
        call_finish(call);
}

static void memory_done_cb(brig_memory_result *res, void *userdata) {
        brig_call *call = userdata;
        const brig_memory_report *rep = &res->report;

        /* The change happened whatever becomes of the call's result: it is recorded first. */
        if (rep->wrote) {
                cJSON *mev = brig_audit_memory_write(call->conn->env->id, call->call_id,
                                                     (unsigned) call->conn->peer.uid, rep->command,
                                                     rep->path, rep->bytes, rep->digest, rep->version);
                if (mev)
                        (void) brig__worker_audit(call->conn->w, mev);
        }
        if (res->error.code) {
                call_end_failed(call, &res->error, TAKE_PTR(res->sc));
                return;
        }
        const char *text = cJSON_GetStringValue(brig_json_member(res->sc, "result"));
        _cleanup_free_ char *copy = strdup(text ? text : "");
        cJSON *ev = call_end_event(call, false);
        send_tool_result(call, call_audit(call, ev), copy, TAKE_PTR(res->sc), false);
        call_finish(call);
}

static void env_ready_cb(brig_env *env, const brig_error *err, void *userdata) {
        static const brig_exec_ops ops = {.output = exec_output_cb, .done = exec_done_cb};
        brig_call *call = userdata;
        brig_conn *c = call->conn;
        brig_error e2 = BRIG_ERROR_INIT;
        int r;

        if (call->state == BRIG_CALL_CANCELLED) {
                call_end_early(call, NULL);
                return;
        }
        if (err) {
                call_end_early(call, err);
                return;
        }
        /* Fail closed: nothing runs that would go out without its credential. */
        if (brig__proxy_secrets_check(env, &e2) < 0) {
                call_end_early(call, &e2);
                return;
        }
        if (env->holder.restarted) {
                env->holder.restarted = false;
                call->restarted_notice = true;
        }
        if (call->args.background) {
                start_background(call, env);
                return;
        }
        if (call->repl_args) {
                start_repl(call, env);
                return;
        }
        brig_exec_context ctx = exec_context(c, env);
        call->oom_known = brig_env_oom_kills(env, &call->oom_before) >= 0;
        if ((r = brig_exec_start(&ctx, &call->args, &ops, call, &call->exec, &e2)) < 0) {
                if (!init_gone(call, env, r))
                        call_end_early(call, &e2);
                return;
        }
        brig_exec_args_done(&call->args);
        brig__conn_apply_pause(c);
}

/* Refused by admission control after its start was audited: the trail gets its end, the client the one
 * busy error. */
static void call_end_busy(brig_call *call) {
        brig_conn *c = call->conn;
        cJSON *ev = call_end_event(call, true);
        brig_audit_set_error(ev, "busy: too many calls running and queued");
        if (call_audit(call, ev) >= 0)
                (void) brig__conn_send(
                        c, brig__admission_busy(c->w, call->id, "too many calls running and queued"));
        else
                brig__mcp_send_error(c, call->id, BRIG_RPC_REFUSED, "audit log unavailable: call refused");
        call_finish(call);
}

/* The workspace over its soft quota refuses tools that may write more (a soft limit: usage is measured after
 * each call that may have written, so the call that crossed it completed). Answers the refusal itself. */
static bool over_quota(brig_conn *c, const brig_rpc_msg *m, const brig_tool *t) {
        const brig_policy *pol = c->env->policy->policy;
        char msg[320], used[64];

        if (!(t->flags & BRIG_TOOL_GROWS) || !pol->filesystem.quota ||
            c->env->limits.quota.mode == BRIG_ENV_QUOTA_HARD || !c->env->limits.ws_measured ||
            c->env->limits.ws_bytes <= pol->filesystem.quota)
                return false;
        if (c->env->limits.ws_bytes == UINT64_MAX)
                (void) snprintf(used, sizeof(used), "could not be measured (too deep or unreadable)");
        else
                (void) snprintf(used, sizeof(used), "uses %llu bytes",
                                (unsigned long long) c->env->limits.ws_bytes);
        (void) snprintf(msg, sizeof(msg),
                        "the workspace %s, over the quota of %llu set by policy \"%.64s\": remove "
                        "files first (remove, the read tools and the process tools still work)",
                        used, (unsigned long long) pol->filesystem.quota, pol->name);
        (void) audit_refusal(c, "tools/call", msg);
        brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, msg);
        return true;
}

/* Runs a call that was audited and linked: every path ends in call_end_with() or call_end_early(). */
static void call_dispatch(brig_call *call, const cJSON *arguments) {
        brig_conn *c = call->conn;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *sc = NULL;

        switch (call->def->runner) {
        case BRIG_TOOL_RUN_FILES:
        case BRIG_TOOL_RUN_HISTORY:
                /* No jail needed: the worker works on the workspace itself, off the loop thread. */
                if (brig_toolpool_run(c->env, call->def, arguments, call->call_id, toolpool_done_cb, call,
                                      &err) < 0)
                        call_end_early(call, &err);
                return;
        case BRIG_TOOL_RUN_MEMORY:
                /* Outside the jail and the workspace: the scope's store in brigd's state directory. */
                if (brig_memory_run(c->env, c->peer.uid, call->tool, arguments, call->call_id,
                                    memory_done_cb, call, &err) < 0)
                        call_end_early(call, &err);
                return;
        case BRIG_TOOL_RUN_PROCESS:
                sc = brig_process_call(&c->env->processes, call->tool, arguments, &err);
                if (sc)
                        call_end_with(call, sc, false);
                else
                        call_end_early(call, &err);
                return;
        case BRIG_TOOL_RUN_REPL:
                if (brig_repl_args_check(arguments, &err) < 0) {
                        call_end_early(call, &err);
                        return;
                }
                if (!(call->repl_args =
                              arguments ? cJSON_Duplicate(arguments, true) : cJSON_CreateObject())) {
                        (void) brig_error_oom(&err);
                        call_end_early(call, &err);
                        return;
                }
                break;
        case BRIG_TOOL_RUN_EXEC:
                if (brig_exec_args_parse(arguments, &call->args, &err) < 0) {
                        call_end_early(call, &err);
                        return;
                }
                break;
        }
        int r = brig__admission_admit(call);
        if (r > 0)
                brig__mcp_call_start(call);
        else if (r < 0)
                call_end_busy(call);
        /* else queued: brig__admission_pump() starts it. */
}

static void handle_tools_call(brig_conn *c, const brig_rpc_msg *m) {
        const char *name = NULL;
        const cJSON *meta = brig_json_member(m->params, "_meta");
        const cJSON *token = brig_json_member(meta, "progressToken");
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_json_ cJSON *arguments = NULL;
        const brig_tool *t;
        char key[160];
        brig_call *call;
        cJSON *ev;

        if (brig_json_get_string(m->params, "params", "name", true, &name, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        c->env->last_used = time(NULL);
        /* An unknown tool is the protocol's error; anything wrong with a known tool's arguments is a tool
         * result (below) the model can read and correct. */
        if (!(t = brig_tool_find(name))) {
                char msg[128];
                (void) snprintf(msg, sizeof(msg), "unknown tool \"%.64s\"", name);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, msg);
                return;
        }
        /* An environment whose policy stopped loading (it was removed, or broke) stays on disk, unusable. */
        if (!c->env->policy) {
                char msg[200];
                (void) snprintf(msg, sizeof(msg),
                                "environment \"%s\": its policy \"%.100s\" is no longer available",
                                c->env->id, c->env->policy_key);
                (void) audit_refusal(c, "tools/call", msg);
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, msg);
                return;
        }
        if (!brig_policy_allows_tool(c->env->policy->policy, name)) {
                char msg[160];
                (void) snprintf(msg, sizeof(msg), "tool \"%s\" is not allowed by policy \"%.64s\"", name,
                                c->env->policy->policy->name);
                (void) audit_refusal(c, "tools/call", msg);
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, msg);
                return;
        }
        if (over_quota(c, m, t))
                return;
        if (token && !cJSON_IsString(token) && !cJSON_IsNumber(token)) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params._meta.progressToken: expected a string or an integer");
                return;
        }
        if (brig_rpc_id_key(m->id, key, sizeof(key)) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_REQUEST, "id: too long");
                return;
        }
        for (brig_call *o = c->calls; o; o = o->next)
                if (strcmp(o->key, key) == 0) {
                        brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_REQUEST,
                                             "id: a request with this id is in flight");
                        return;
                }
        if (c->n_calls >= BRIG_MAX_CALLS_PER_CONNECTION) {
                (void) audit_refusal(c, "tools/call", "too many calls in flight");
                (void) brig__conn_send(
                        c, brig__admission_busy(c->w, m->id, "too many calls in flight on this connection"));
                return;
        }
        /* Strict-mode clients send null for every optional argument they leave out. */
        if (brig_tool_args_normalize(brig_json_member(m->params, "arguments"), &arguments) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }

        call = calloc(1, sizeof(*call));
        if (!call || !(call->id = cJSON_Duplicate(m->id, true)) ||
            (token && !(call->progress_token = cJSON_Duplicate(token, true)))) {
                if (call)
                        call_free(call);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        call->conn = c;
        call->def = t;
        call->call_id = ++c->w->next_call_id;
        (void) snprintf(call->key, sizeof(call->key), "%s", key);
        (void) snprintf(call->tool, sizeof(call->tool), "%s", name);
        const brig_policy *policy = c->env->policy->policy;
        call->unaudited = !policy->audit.file_reads && (t->flags & BRIG_TOOL_AUDIT_AS_READ);

        brig_audit_call ac = audit_call(call);
        ev = brig_audit_call_start(
                &ac, brig_audit_elide_content(arguments, policy->audit.max_string, t->content_args),
                &c->peer);
        if (call_audit(call, ev) < 0) {
                call_free(call);
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, "audit log unavailable: call refused");
                return;
        }
        call->next = c->calls;
        c->calls = call;
        c->n_calls++;
        c->refs++;
        call_dispatch(call, arguments);
}

void brig__mcp_call_start(brig_call *call) {
        brig_env_ensure_running(call->conn->env, env_ready_cb, call);
}

static void handle_cancelled(brig_conn *c, const brig_rpc_msg *m) {
        const cJSON *rid = brig_json_member(m->params, "requestId");
        char key[160];

        if (brig_rpc_id_key(rid, key, sizeof(key)) < 0)
                return;
        for (brig_call *call = c->calls; call; call = call->next)
                if (strcmp(call->key, key) == 0 && call->state == BRIG_CALL_RUNNING) {
                        /* MCP: no response is sent for a cancelled request. */
                        call->state = BRIG_CALL_CANCELLED;
                        if (call->queued) {
                                call_end_early(call, NULL);
                                return;
                        }
                        if (call->exec)
                                brig_exec_cancel(call->exec);
                        if (call->repl)
                                brig_repl_interrupt(call->repl);
                        return;
                }
}

/* The index of a syslog level name in log_levels (debug 0 ... emergency 7), -1 if it is none. */
static int level_index(const char *level) {
        for (int i = 0; log_levels[i]; i++)
                if (strcmp(log_levels[i], level) == 0)
                        return i;
        return -1;
}

bool brig__mcp_log_wanted(const brig_conn *c, const char *level) {
        return level_index(level) >= c->log_level;
}

/* Sets the least severe level of notifications/message this connection receives (default: all). */
static void handle_set_level(brig_conn *c, const brig_rpc_msg *m) {
        const char *level = NULL;
        brig_error err = BRIG_ERROR_INIT;
        int i;

        if (brig_json_get_string(m->params, "params", "level", true, &level, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        if ((i = level_index(level)) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS,
                                     "params.level: not a syslog level name");
                return;
        }
        c->log_level = i;
        (void) brig__conn_send(c, brig_rpc_result(m->id, cJSON_CreateObject()));
}

/* --- brig/environment.* ------------------------------------------------------------------------------ */

bool brig__mcp_may_manage(const brig_conn *c, const brig_env *env) {
        return c->peer.uid == 0 || c->peer.uid == env->owner;
}

static void handle_env_list(brig_conn *c, const brig_rpc_msg *m) {
        cJSON *res = cJSON_CreateObject(), *arr;

        if (!res || !(arr = cJSON_AddArrayToObject(res, "environments"))) {
                cJSON_Delete(res);
                return;
        }
        for (brig_env *e = c->w->envs; e; e = e->next)
                if (brig__mcp_may_manage(c, e) && !e->spare.pooled && !e->disk.forking &&
                    !(e->ephemeral && !e->disk.present && e != c->env))
                        cJSON_AddItemToArray(arr, brig_env_describe(e, false));
        (void) brig__conn_send(c, brig_rpc_result(m->id, res));
}

/* The environment named by params.<member>, if this client may see it; answers the error itself otherwise.
 */
brig_env *brig__mcp_env_param(brig_conn *c, const brig_rpc_msg *m, const char *method, const char *member) {
        brig_error err = BRIG_ERROR_INIT;
        const char *id = NULL;
        brig_env *env;

        if (brig_json_get_string(m->params, "params", member, true, &id, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return NULL;
        }
        env = brig_env_find(c->w, id);
        /* Someone else's environment looks like no environment at all, and so does one not made yet. */
        if (env && (env->disk.forking || env->spare.pooled))
                env = NULL;
        if (!env || !brig__mcp_may_manage(c, env)) {
                char msg[128];
                if (env)
                        (void) audit_refusal(c, method, "environment belongs to another user");
                (void) snprintf(msg, sizeof(msg), "no environment \"%.64s\"", id);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INVALID_PARAMS, msg);
                return NULL;
        }
        return env;
}

static void handle_env_info(brig_conn *c, const brig_rpc_msg *m) {
        brig_env *env = brig__mcp_env_param(c, m, "brig/environment.info", "id");
        if (env)
                (void) brig__conn_send(c, brig_rpc_result(m->id, brig_env_describe(env, true)));
}

static void handle_env_destroy(brig_conn *c, const brig_rpc_msg *m) {
        brig_env *env = brig__mcp_env_param(c, m, "brig/environment.destroy", "id");
        cJSON *res;

        if (!env)
                return;
        if (brig__worker_audit(c->w, brig_audit_environment_destroy(c->id, env->id, c->peer.uid)) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, "audit log unavailable");
                return;
        }
        /* Calls running there on any connection end as killed. */
        for (brig_conn *o = c->w->conns; o; o = o->next)
                if (o->env == env)
                        for (brig_call *call = o->calls; call; call = call->next)
                                if (call->exec)
                                        brig_exec_cancel(call->exec);
        brig_env_destroy(env);
        res = cJSON_CreateObject();
        if (res)
                cJSON_AddBoolToObject(res, "destroyed", true);
        (void) brig__conn_send(c, brig_rpc_result(m->id, res));
}

/* The JSON-RPC code of an environment management error: limits are refusals, what the caller named wrong
 * is a bad parameter, the rest the worker's own failure. data.kind says more. */
int brig__mcp_env_error_code(const brig_error *err) {
        switch (err->kind) {
        case BRIG_KIND_LIMIT:
                return BRIG_RPC_REFUSED;
        case BRIG_KIND_INVALID_ARGUMENT:
        case BRIG_KIND_NOT_FOUND:
        case BRIG_KIND_POLICY:
        case BRIG_KIND_DENIED:
                return BRIG_RPC_INVALID_PARAMS;
        default:
                return BRIG_RPC_INTERNAL_ERROR;
        }
}

typedef struct fork_reply {
        brig_conn *c; /* holds a reference */
        cJSON *id;
        char from[BRIG_ENV_ID_MAX + 1];
} fork_reply;

static void fork_done_cb(brig_env *env, const char *snapshot, const brig_error *err, void *userdata) {
        fork_reply *fr = userdata;
        cJSON *res;

        if (err)
                brig__mcp_send_brig_error(fr->c, fr->id, brig__mcp_env_error_code(err), err);
        else if ((res = brig_env_describe(env, false)) && cJSON_AddStringToObject(res, "from", fr->from) &&
                 cJSON_AddStringToObject(res, "snapshot", snapshot))
                (void) brig__conn_send(fr->c, brig_rpc_result(fr->id, res));
        else {
                cJSON_Delete(res);
                brig__mcp_send_error(fr->c, fr->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
        }
        cJSON_Delete(fr->id);
        brig__conn_unref(fr->c);
        free(fr);
}

static void handle_env_fork(brig_conn *c, const brig_rpc_msg *m) {
        brig_error err = BRIG_ERROR_INIT;
        const char *as = NULL, *snapshot = NULL, *policy = NULL;
        fork_reply *fr;
        brig_env *src;
        int r;

        if (brig_json_get_string(m->params, "params", "as", true, &as, &err) < 0 ||
            brig_json_get_string(m->params, "params", "snapshot", false, &snapshot, &err) < 0 ||
            brig_json_get_string(m->params, "params", "policy", false, &policy, &err) < 0) {
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        if (!(src = brig__mcp_env_param(c, m, "brig/environment.fork", "from")))
                return;
        if (src->disk.quarantined) {
                (void) brig__env_quarantined_error(src, &err);
                brig__mcp_send_brig_error(c, m->id, BRIG_RPC_INVALID_PARAMS, &err);
                return;
        }
        if (brig__worker_audit(c->w, brig_audit_environment_fork(c->id, as, src->id, snapshot,
                                                                 policy ? policy : src->policy_key,
                                                                 c->peer.uid)) < 0) {
                brig__mcp_send_error(c, m->id, BRIG_RPC_REFUSED, "audit log unavailable");
                return;
        }
        if (!(fr = calloc(1, sizeof(*fr))) || !(fr->id = cJSON_Duplicate(m->id, true))) {
                free(fr);
                brig__mcp_send_error(c, m->id, BRIG_RPC_INTERNAL_ERROR, "out of memory");
                return;
        }
        fr->c = c;
        (void) snprintf(fr->from, sizeof(fr->from), "%s", src->id);
        /* The answer may come before brig_env_fork() returns (a source that cannot be prepared). */
        c->refs++;
        if ((r = brig_env_fork(src, snapshot, as, policy, &c->peer, fork_done_cb, fr, &err)) < 0) {
                brig__mcp_send_brig_error(c, m->id, brig__mcp_env_error_code(&err), &err);
                cJSON_Delete(fr->id);
                free(fr);
                brig__conn_unref(c);
        }
}

void brig__mcp_conn_closing(brig_conn *c) {
        brig__audit_conn_closing(c);
        brig__mcp_exports_closing(c);
        brig__mcp_import_conn_closing(c);
        brig__mcp_fd_conn_closing(c);
        for (brig_call *call = c->calls, *next; call; call = next) {
                next = call->next;
                if (call->state == BRIG_CALL_RUNNING) {
                        call->state = BRIG_CALL_CANCELLED;
                        /* A queued call has nothing to stop: it ends here, and leaves its place. */
                        if (call->queued) {
                                call_end_early(call, NULL);
                                continue;
                        }
                        if (call->exec)
                                brig_exec_cancel(call->exec);
                        if (call->repl)
                                brig_repl_interrupt(call->repl);
                }
        }
}

void brig__mcp_handle_line(brig_conn *c, const char *line, size_t len) {
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg m;
        int code;

        if (brig_rpc_parse(line, len, &m, &code, &err) < 0) {
                brig__mcp_send_error(c, m.id, code, err.msg);
                brig_rpc_msg_done(&m);
                return;
        }
        if (m.kind == BRIG_RPC_NOTIFICATION) {
                if (strcmp(m.method, "notifications/cancelled") == 0)
                        handle_cancelled(c, &m);
                /* notifications/initialized and unknown notifications need no answer. */
        } else if (m.kind == BRIG_RPC_REQUEST) {
                if (strcmp(m.method, "initialize") == 0)
                        handle_initialize(c, &m);
                else if (strcmp(m.method, "ping") == 0)
                        (void) brig__conn_send(c, brig_rpc_result(m.id, cJSON_CreateObject()));
                else if (!c->initialized)
                        brig__mcp_send_error(c, m.id, BRIG_RPC_INVALID_REQUEST,
                                             "not initialized: send initialize first");
                else if (strcmp(m.method, "tools/list") == 0)
                        handle_tools_list(c, &m);
                else if (strcmp(m.method, "tools/call") == 0)
                        handle_tools_call(c, &m);
                else if (strcmp(m.method, "logging/setLevel") == 0)
                        handle_set_level(c, &m);
                else if (strcmp(m.method, "brig/environment.list") == 0)
                        handle_env_list(c, &m);
                else if (strcmp(m.method, "brig/environment.info") == 0)
                        handle_env_info(c, &m);
                else if (strcmp(m.method, "brig/environment.destroy") == 0)
                        handle_env_destroy(c, &m);
                else if (strcmp(m.method, "brig/environment.fork") == 0)
                        handle_env_fork(c, &m);
                else if (strcmp(m.method, "brig/environment.export") == 0)
                        brig__mcp_handle_export(c, &m);
                else if (strcmp(m.method, "brig/environment.export.read") == 0)
                        brig__mcp_handle_export_read(c, &m);
                else if (strcmp(m.method, "brig/environment.export.close") == 0)
                        brig__mcp_handle_export_close(c, &m);
                else if (strcmp(m.method, "brig/descriptor.pass") == 0)
                        brig__mcp_handle_fd_pass(c, &m);
                else if (strcmp(m.method, "brig/environment.import") == 0)
                        brig__mcp_handle_env_import(c, &m);
                else if (strcmp(m.method, "brig/audit.subscribe") == 0)
                        brig__audit_subscribe(c, &m);
                else {
                        char msg[160];
                        (void) snprintf(msg, sizeof(msg), "unknown method \"%.100s\"", m.method);
                        brig__mcp_send_error(c, m.id, BRIG_RPC_METHOD_NOT_FOUND, msg);
                }
        }
        brig_rpc_msg_done(&m);
}
