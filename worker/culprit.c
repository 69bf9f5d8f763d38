/* SPDX-License-Identifier: MIT */
/* Attribution of an event in an environment (an audited seccomp denial, a network connection) to the tool
 * call or background process that caused it, and its delivery to that call's client.
 *
 * Theory of operation. A pid (a seccomp notification's, or a connecting socket's owner) is a pid in brigd's
 * namespace. Its /proc/PID/stat parent chain leads to the environment's init (host pid from the "holder"
 * status line); the process just below it is the command's reaper, named "brig-r<exec id>" by the spawner
 * (brig_jailctl_reaper_name(): only a process can rename itself). The exec id names a running call's
 * command or a background process. A process that escaped its reaper (the reaper died) hangs directly below
 * the init with its own name, and is attributed to no call, unless it renamed itself "brig-r<id>": then it
 * can at worst pin its denials on another running command of the same environment, i.e. of the same agent;
 * the denial itself is unaffected. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/jailctl.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/culprit.h"
#include "worker/env.h"
#include "worker/rpc.h"
#include "worker/worker.h"

#define MAX_DEPTH 64 /* parent links walked from a task to its reaper */

static int read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

static pid_t parent_of(pid_t pid) {
        char path[64], buf[512];
        int ppid;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_small(path, buf, sizeof(buf)) < 0)
                return -1;
        /* "pid (comm) state ppid ...": comm may hold anything, ')' included. */
        char *end = strrchr(buf, ')');
        if (!end || sscanf(end + 1, " %*c %d", &ppid) != 1)
                return -1;
        return ppid;
}

/* The exec id of the command whose reaper pid runs under, or 0. */
static uint64_t exec_id_of(const brig_env *env, pid_t pid) {
        char path[64], comm[32];
        uint64_t id = 0;
        pid_t cur = pid;

        if (pid <= 0 || env->init_pid <= 0)
                return 0;
        for (int depth = 0; depth < MAX_DEPTH; depth++) {
                pid_t parent = parent_of(cur);
                if (parent <= 1)
                        return 0;
                if (parent == env->init_pid)
                        break;
                cur = parent;
        }
        if (cur == env->init_pid)
                return 0;
        (void) snprintf(path, sizeof(path), "/proc/%d/comm", (int) cur);
        if (read_small(path, comm, sizeof(comm)) < 0)
                return 0;
        comm[strcspn(comm, "\n")] = 0;
        if (brig_jailctl_reaper_parse(comm, &id) < 0)
                return 0;
        return id;
}

/* Whether the call's command is the exec whose id key points to. */
static bool call_runs_exec(const brig_call *call, const void *key) {
        /* A repl call runs in its interpreter, a hidden background process. */
        const brig_process *p = call->repl ? brig_repl_process(call->repl) : NULL;
        const brig_exec *e = call->exec ? call->exec : p ? p->exec : NULL;

        return e && brig_exec_id(e) == *(const uint64_t *) key;
}

brig_culprit brig__culprit_of(brig_env *env, pid_t pid) {
        uint64_t id = exec_id_of(env, pid);
        brig_culprit c = {0};

        if (id == 0)
                return c;
        if ((c.call = brig__worker_find_call(env->w, env, call_runs_exec, &id)))
                return c;
        for (brig_process *p = env->processes.list; p; p = p->next)
                if (p->exec && brig_exec_id(p->exec) == id) {
                        c.process = p;
                        return c;
                }
        return c;
}

/* A refusal also goes into the call's own result (mcp.c), so that an agent reading only results sees why
 * its command failed: the first few in full, the rest counted. Allowed connections are not refusals. */
static void record_refusal(brig_call *call, const cJSON *ev) {
        /* "arch" too: a refused getpid makes sense only with "x32" next to it. */
        static const char *const keys[] = {"type", "syscall", "arch",      "host",
                                           "port", "reason",  "process_id"};
        const cJSON *decision = cJSON_GetObjectItemCaseSensitive(ev, "decision");
        cJSON *item;

        if (cJSON_IsString(decision) && strcmp(decision->valuestring, "denied") != 0)
                return;
        if (!call->refused && !(call->refused = cJSON_CreateArray()))
                return;
        if ((size_t) cJSON_GetArraySize(call->refused) >= BRIG_MAX_REFUSED_IN_RESULT) {
                call->refused_more++;
                return;
        }
        if (!(item = cJSON_CreateObject()))
                return;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, keys[i]);
                if (v)
                        (void) brig_json_add(item, keys[i], cJSON_Duplicate(v, true));
        }
        cJSON_AddItemToArray(call->refused, item);
}

void brig__culprit_notify(brig_call *call, const cJSON *ev, const char *logger) {
        brig_conn *conn = call->conn;
        cJSON *params, *data;

        if (conn->closing || call->state != BRIG_CALL_RUNNING)
                return;
        /* A client that set a level above warning (logging/setLevel) still finds them in the result. */
        if (!brig__mcp_log_wanted(conn, "warning")) {
                record_refusal(call, ev);
                return;
        }
        params = cJSON_CreateObject();
        if (!params)
                return;
        data = cJSON_Duplicate(ev, true);
        if (!data || !cJSON_AddItemToObject(params, "data", data)) {
                cJSON_Delete(data);
                cJSON_Delete(params);
                return;
        }
        cJSON_AddStringToObject(params, "level", "warning");
        cJSON_AddStringToObject(params, "logger", logger);
        (void) brig_json_add(data, "requestId", cJSON_Duplicate(call->id, true));
        (void) brig__conn_notify(conn, brig_rpc_notification("notifications/message", params));
        record_refusal(call, ev);
}
