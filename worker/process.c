/* SPDX-License-Identifier: MIT */
/* Background processes: start through the exec tool, keep a bounded ring of their output, and serve
 * process_list, process_output, process_write and process_kill. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/text.h"
#include "worker/process.h"
#include "worker/worker.h"

static void ring_append(brig_process *p, const char *data, size_t len) {
        /* Only the tail of an oversized chunk can survive anyway. */
        if (len > BRIG_PROCESS_LOG_BYTES) {
                p->total += len - BRIG_PROCESS_LOG_BYTES;
                data += len - BRIG_PROCESS_LOG_BYTES;
                len = BRIG_PROCESS_LOG_BYTES;
        }
        while (len > 0) {
                size_t at = (size_t) (p->total % BRIG_PROCESS_LOG_BYTES);
                size_t n = BRIG_PROCESS_LOG_BYTES - at < len ? BRIG_PROCESS_LOG_BYTES - at : len;
                memcpy(p->ring + at, data, n);
                p->total += n;
                data += n;
                len -= n;
        }
}

static void process_output_cb(const char *data, size_t len, brig_stream stream, void *userdata) {
        brig_process *p = userdata;
        (void) stream;
        ring_append(p, data, len);
        if (p->on_output)
                p->on_output(p, data, len, p->listener);
}

static void process_done_cb(const brig_exec_result *res, void *userdata) {
        brig_process *p = userdata;
        brig_env *env = p->env;
        char sig[16];
        cJSON *ev;

        p->exec = NULL;
        p->exited = true;
        p->exit_code = res->exited ? res->exit_code : -1;
        p->signal = res->signal;
        p->ended = time(NULL);
        p->duration_ms = res->duration_ms;
        if (res->error.code)
                (void) snprintf(p->error, sizeof(p->error), "%s", res->error.msg);
        env->running_processes--;
        ev = brig_audit_event("process_exit");
        if (ev) {
                cJSON_AddStringToObject(ev, "environment", env->id);
                cJSON_AddStringToObject(ev, "process_id", p->id);
                if (res->exited)
                        cJSON_AddNumberToObject(ev, "exit_code", res->exit_code);
                if (res->signal)
                        cJSON_AddStringToObject(ev, "signal", brig_signal_name(res->signal, sig));
                cJSON_AddNumberToObject(ev, "output_bytes", (double) p->total);
                cJSON_AddNumberToObject(ev, "duration_ms", (double) res->duration_ms);
        }
        (void) brig__worker_audit(env->w, ev);
        if (p->on_exit)
                p->on_exit(p, p->listener);
        brig__env_process_ended(env);
}

static void prune(brig_env *env) {
        /* Over the limit: forget the oldest processes that have ended. */
        while (env->n_processes >= BRIG_MAX_PROCESSES) {
                brig_process **oldest = NULL;
                for (brig_process **pp = &env->processes; *pp; pp = &(*pp)->next)
                        if ((*pp)->exited)
                                oldest = pp;
                if (!oldest || (*oldest)->hidden)
                        return;
                brig_process *dead = *oldest;
                *oldest = dead->next;
                free(dead->ring);
                free(dead);
                env->n_processes--;
        }
}

int brig_process_start(brig_env *env, const brig_exec_context *ctx, const brig_exec_args *args,
                       brig_process **ret, brig_error *err) {
        static const brig_exec_ops ops = {.output = process_output_cb, .done = process_done_cb};
        brig_process *p;
        size_t used = 0;
        int r;

        prune(env);
        if (env->n_processes >= BRIG_MAX_PROCESSES)
                return brig_error_set(err, -EAGAIN, BRIG_KIND_LIMIT,
                                      "more than %d background processes running", BRIG_MAX_PROCESSES);
        p = calloc(1, sizeof(*p));
        if (!p || !(p->ring = malloc(BRIG_PROCESS_LOG_BYTES))) {
                free(p);
                return -ENOMEM;
        }
        p->env = env;
        (void) snprintf(p->id, sizeof(p->id), "p%u", ++env->next_process);
        for (char **a = args->argv; *a && used + 2 < sizeof(p->command); a++)
                used += (size_t) snprintf(p->command + used, sizeof(p->command) - used, "%s%s",
                                          used ? " " : "", *a);
        p->started = time(NULL);
        p->start_ns = uv_hrtime();
        r = brig_exec_start(ctx, args, &ops, p, &p->exec, err);
        if (r < 0) {
                free(p->ring);
                free(p);
                return r;
        }
        p->next = env->processes;
        env->processes = p;
        env->n_processes++;
        env->running_processes++;
        *ret = p;
        return 0;
}

static cJSON *describe(const brig_process *p) {
        cJSON *o = cJSON_CreateObject();
        char sig[16];

        if (!o)
                return NULL;
        cJSON_AddStringToObject(o, "process_id", p->id);
        cJSON_AddStringToObject(o, "command", p->command);
        cJSON_AddStringToObject(o, "state", p->exited ? "exited" : "running");
        if (p->exited && p->exit_code >= 0)
                cJSON_AddNumberToObject(o, "exit_code", p->exit_code);
        else
                cJSON_AddNullToObject(o, "exit_code");
        if (p->signal)
                cJSON_AddStringToObject(o, "signal", brig_signal_name(p->signal, sig));
        else
                cJSON_AddNullToObject(o, "signal");
        cJSON_AddNumberToObject(o, "started", (double) p->started);
        cJSON_AddNumberToObject(
                o, "duration_ms",
                (double) (p->exited ? p->duration_ms : (uv_hrtime() - p->start_ns) / 1000000));
        cJSON_AddNumberToObject(o, "output_bytes", (double) p->total);
        if (p->error[0])
                cJSON_AddStringToObject(o, "error", p->error);
        return o;
}

static brig_process *find(brig_env *env, const cJSON *args, brig_error *err) {
        const char *id = NULL;

        if (brig_json_get_string(args, "arguments", "process_id", true, &id, err) < 0)
                return NULL;
        for (brig_process *p = env->processes; p; p = p->next)
                if (strcmp(p->id, id) == 0 && !p->hidden)
                        return p;
        (void) brig_error_set(err, -ESRCH, BRIG_KIND_NOT_FOUND,
                              "arguments.process_id: no process \"%.32s\" in this environment", id);
        return NULL;
}

static int check_keys(const cJSON *args, const char *const *keys, brig_error *err) {
        if (args && !cJSON_IsObject(args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object");
        return brig_json_check_keys(args, "arguments", keys, err);
}

cJSON *brig_process_list(brig_env *env, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {NULL};
        cJSON *o, *arr;

        if (check_keys(args, keys, err) < 0)
                return NULL;
        o = cJSON_CreateObject();
        if (!o || !(arr = cJSON_AddArrayToObject(o, "processes"))) {
                cJSON_Delete(o);
                return NULL;
        }
        /* Oldest first: the list is kept newest first. */
        for (unsigned n = 1; n <= env->next_process; n++)
                for (brig_process *p = env->processes; p; p = p->next)
                        if ((unsigned) atoi(p->id + 1) == n && !p->hidden)
                                cJSON_AddItemToArray(arr, describe(p));
        return o;
}

cJSON *brig_process_output(brig_env *env, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "offset", "limit", NULL};
        uint64_t offset = 0, limit = 65536;
        brig_process *p;

        if (check_keys(args, keys, err) < 0 || !(p = find(env, args, err)) ||
            brig_json_get_u64(args, "arguments", "offset", UINT64_C(1) << 52, &offset, err) < 0 ||
            brig_json_get_u64(args, "arguments", "limit", BRIG_PROCESS_READ_MAX, &limit, err) < 0)
                return NULL;
        uint64_t first = p->total > BRIG_PROCESS_LOG_BYTES ? p->total - BRIG_PROCESS_LOG_BYTES : 0;
        uint64_t from = offset < first ? first : offset > p->total ? p->total : offset;
        uint64_t n = p->total - from < limit ? p->total - from : limit;
        char *buf = malloc(n + 1);
        if (!buf)
                return NULL;
        for (uint64_t i = 0; i < n; i++)
                buf[i] = p->ring[(from + i) % BRIG_PROCESS_LOG_BYTES];
        buf[n] = 0;
        /* Hand out whole characters: hold back a sequence cut at the end of the window. */
        size_t tail = brig_utf8_incomplete_tail(buf, (size_t) n);
        if (tail < n && brig_utf8_valid(buf, (size_t) n - tail)) {
                n -= tail;
                buf[n] = 0;
        }
        cJSON *o = describe(p);
        if (o) {
                bool text = brig_utf8_valid(buf, (size_t) n);
                char *b64 = text ? NULL : brig_base64_encode(buf, (size_t) n);
                cJSON_AddStringToObject(o, "data", text ? buf : b64 ? b64 : "");
                cJSON_AddStringToObject(o, "encoding", text ? "utf8" : "base64");
                cJSON_AddNumberToObject(o, "offset", (double) from);
                cJSON_AddNumberToObject(o, "next_offset", (double) (from + n));
                /* Bytes the client asked for that the retention window no longer holds. */
                cJSON_AddNumberToObject(o, "dropped_bytes", (double) (offset < first ? first - offset : 0));
                free(b64);
        }
        free(buf);
        return o;
}

cJSON *brig_process_write(brig_env *env, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "data", "close_stdin", NULL};
        const char *data = "";
        bool close_stdin = false;
        brig_process *p;
        int r;

        if (check_keys(args, keys, err) < 0 || !(p = find(env, args, err)) ||
            brig_json_get_string(args, "arguments", "data", false, &data, err) < 0 ||
            brig_json_get_bool(args, "arguments", "close_stdin", &close_stdin, err) < 0)
                return NULL;
        if (!p->exec) {
                (void) brig_error_set(err, -ESRCH, BRIG_KIND_INVALID_ARGUMENT, "process %s has exited",
                                      p->id);
                return NULL;
        }
        size_t len = strlen(data);
        if ((r = brig_exec_write_stdin(p->exec, data, len, close_stdin)) < 0) {
                (void) brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "process %s: %s", p->id,
                                      r == -EPIPE     ? "its stdin is closed"
                                      : r == -ENOBUFS ? "more than 8 MiB would wait unread on its stdin"
                                                      : strerror(-r));
                return NULL;
        }
        cJSON *o = describe(p);
        if (o)
                cJSON_AddNumberToObject(o, "written", (double) len);
        return o;
}

static int parse_signal(const char *name) {
        const char *n = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
        for (int s = 1; s < 32; s++) {
                const char *abbrev = sigabbrev_np(s);
                if (abbrev && strcmp(abbrev, n) == 0)
                        return s;
        }
        return -1;
}

cJSON *brig_process_kill(brig_env *env, const cJSON *args, brig_error *err) {
        static const char *const keys[] = {"process_id", "signal", NULL};
        const char *name = "SIGTERM";
        brig_process *p;
        int sig, r;

        if (check_keys(args, keys, err) < 0 || !(p = find(env, args, err)) ||
            brig_json_get_string(args, "arguments", "signal", false, &name, err) < 0)
                return NULL;
        if ((sig = parse_signal(name)) < 0) {
                (void) brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.signal: unknown signal \"%.32s\"", name);
                return NULL;
        }
        if (!p->exec) {
                (void) brig_error_set(err, -ESRCH, BRIG_KIND_INVALID_ARGUMENT, "process %s has exited",
                                      p->id);
                return NULL;
        }
        if ((r = brig_exec_signal(p->exec, sig)) < 0) {
                (void) brig_error_set(err, r, BRIG_KIND_SANDBOX, "signal process %s: %s", p->id,
                                      strerror(-r));
                return NULL;
        }
        cJSON *o = describe(p);
        if (o)
                cJSON_AddBoolToObject(o, "signalled", true);
        return o;
}

cJSON *brig_process_tool_schema(const char *tool) {
        static const char *const schemas[][2] = {
                {"process_list", "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}"},
                {"process_output",
                 "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"process_id\"],"
                 "\"properties\":{\"process_id\":{\"type\":\"string\"},\"offset\":{\"type\":\"integer\","
                 "\"minimum\":0,\"description\":\"Byte offset since the process started (next_offset of the "
                 "previous read)\"},\"limit\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1048576}}}"},
                {"process_write",
                 "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"process_id\"],"
                 "\"properties\":{\"process_id\":{\"type\":\"string\"},\"data\":{\"type\":\"string\"},"
                 "\"close_stdin\":{\"type\":\"boolean\"}}}"},
                {"process_kill",
                 "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"process_id\"],"
                 "\"properties\":{\"process_id\":{\"type\":\"string\"},\"signal\":{\"type\":\"string\","
                 "\"description\":\"Signal name, default SIGTERM\"}}}"},
        };
        for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
                if (strcmp(schemas[i][0], tool) == 0)
                        return cJSON_Parse(schemas[i][1]);
        return NULL;
}

void brig_processes_free(brig_env *env) {
        for (brig_process *p = env->processes, *next; p; p = next) {
                next = p->next;
                free(p->ring);
                free(p);
        }
        env->processes = NULL;
        env->n_processes = 0;
}
