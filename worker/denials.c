/* SPDX-License-Identifier: MIT */
/* Audited seccomp denials of environments: a uv_poll on each environment's seccomp listener answers every
 * notification with the policy's errno, audits it as a "syscall_denied" event attributed to the tool call
 * that caused it, and streams it to that call's client.
 *
 * Theory of operation. The environment's init loads the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER and
 * sends the listener over the control socket before it reports "ready" (sandbox/jailctl.h); brigd is its
 * only holder. A denied task sleeps in the kernel until answered; the answer is always an error (never
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE). If brigd dies, the listener closes and audited calls fail with
 * ENOSYS: still denied.
 *
 * Attribution: notif.pid is a pid in brigd's namespace. Its /proc/PID/stat parent chain leads to the
 * environment's init (host pid from the "holder" status line); the process just below it is the
 * command's reaper, named "brig-r<exec id>" by the spawner (brig_jailctl_reaper_name(): only a process can
 * rename itself). The exec id names a running call's command or a background process. A process that
 * escaped its reaper (the reaper died) hangs directly below the init with its own name, and is attributed to
 * no call, unless it renamed itself "brig-r<id>": then it can at worst pin its denials on another running
 * command of the same environment, i.e. of the same agent; the denial itself is unaffected.
 *
 * Other ABIs: when the policy audits denials, a call of another ABI (i386 through int 0x80, x32) comes here
 * too, whatever the syscall (sandbox/seccomp.c), and is answered and audited the same way; its event says
 * which ABI ("arch") and the number as given ("nr").
 *
 * Rate: a token bucket per environment; a denial without a token is still answered, but only counted,
 * and a "syscall_denied_suppressed" event with the count follows a second later. Each poll callback
 * handles at most BRIG_DENIALS_BATCH notifications (the poll is level-triggered: the rest come on the
 * next loop iteration, after other clients had their turn). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/cleanup.h"
#include "common/handles.h"
#include "common/log.h"
#include "sandbox/jailctl.h"
#include "sandbox/seccomp_notify.h"
#include "worker/audit_events.h"
#include "worker/denials.h"
#include "worker/env.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/rpc.h"
#include "worker/worker.h"

#define SUMMARY_MS 1000
#define MAX_DEPTH 64 /* parent links walked from a denied task to its reaper */

typedef struct brig_denials {
        brig_env *env; /* borrowed; NULL once stopped */
        uv_poll_t poll;
        uv_timer_t summary;
        int fd;
        brig_handles handles; /* poll, summary */
        int errno_ret;
        double tokens;
        uint64_t refilled_ms;
        uint64_t suppressed;
} brig_denials;

static void denials_all_closed(void *userdata) {
        brig_denials *d = userdata;

        brig_closep(&d->fd);
        free(d);
}

BRIG_HANDLES_CLOSED_CB(handle_closed_cb, brig_denials, handles)

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

brig_culprit brig__denials_culprit(brig_env *env, pid_t pid) {
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
                        cJSON_AddItemToObject(item, keys[i], cJSON_Duplicate(v, true));
        }
        cJSON_AddItemToArray(call->refused, item);
}

void brig__denials_stream(brig_call *call, const cJSON *ev, const char *logger) {
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
        cJSON_AddItemToObject(data, "requestId", cJSON_Duplicate(call->id, true));
        (void) brig__conn_notify(conn, brig_rpc_notification("notifications/message", params));
        record_refusal(call, ev);
}

static bool take_token(brig_denials *d) {
        uint64_t now = uv_now(d->env->w->loop);

        d->tokens += (double) (now - d->refilled_ms) * BRIG_DENIALS_RATE / 1000.0;
        if (d->tokens > BRIG_DENIALS_BURST)
                d->tokens = BRIG_DENIALS_BURST;
        d->refilled_ms = now;
        if (d->tokens < 1.0)
                return false;
        d->tokens -= 1.0;
        return true;
}

static void summary_cb(uv_timer_t *t) {
        brig_denials *d = t->data;
        cJSON *ev;

        if (!d->env || d->suppressed == 0)
                return;
        ev = brig_audit_syscall_denied_suppressed(d->env->id, d->suppressed);
        d->suppressed = 0;
        (void) brig__worker_audit(d->env->w, ev);
}

static void handle_one(brig_denials *d, const brig_seccomp_denial *den) {
        brig_env *env = d->env;
        brig_culprit c = {0};
        bool audited = take_token(d);
        int r;

        /* /proc is read while the task still waits for our answer: ID_VALID afterwards proves that pid was
         * still the denied task (not a reused pid) when we read it. */
        if (audited) {
                c = brig__denials_culprit(env, den->pid);
                if (brig_seccomp_notify_id_valid(d->fd, den->id) < 0)
                        c = (brig_culprit){0};
        }
        r = brig_seccomp_notify_deny(d->fd, den->id, d->errno_ret);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "environment %s: answer denied %s: %m, ignoring", env->id,
                                  den->syscall);
        if (!audited) {
                if (d->suppressed++ == 0)
                        (void) uv_timer_start(&d->summary, summary_cb, SUMMARY_MS, 0);
                return;
        }

        cJSON *ev = brig_audit_syscall_denied(den, env->id,
                                              c.call      ? c.call->call_id
                                              : c.process ? c.process->call_id
                                                          : 0,
                                              !c.call && c.process ? c.process->id : NULL);
        if (!ev) {
                (void) brig__worker_audit(env->w, NULL);
                return;
        }
        if (c.call)
                brig__denials_stream(c.call, ev, "brig/seccomp");
        (void) brig__worker_audit(env->w, ev);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
        brig_denials *d = h->data;
        int r = 0;

        if (!d->env)
                return;
        for (int i = 0; status >= 0 && i < BRIG_DENIALS_BATCH; i++) {
                brig_seccomp_denial den;

                r = brig_seccomp_notify_pending(d->fd);
                if (r <= 0)
                        break;
                r = brig_seccomp_notify_recv(d->fd, &den);
                if (r == -ENOENT)
                        continue; /* killed before we got to it */
                if (r < 0)
                        break;
                handle_one(d, &den);
        }
        /* Every task using the filter has exited (the environment is going), or the fd broke. Closing the
         * listener (not only no longer polling it) makes the kernel fail audited calls with ENOSYS instead
         * of leaving their tasks waiting for an answer that would never come. */
        if (status < 0 || (events & UV_DISCONNECT) || (r < 0 && r != -ENOENT)) {
                if (r < 0 && r != -EPIPE)
                        log_warning_errno(r, "environment %s: seccomp listener: %m, closing it", d->env->id);
                brig__denials_stop(d->env);
        }
}

void brig__denials_start(brig_env *env, int fd) {
        brig_denials *d;
        int r;

        if (env->denials) {
                (void) close(fd);
                return;
        }
        d = calloc(1, sizeof(*d));
        if (!d) {
                (void) close(fd);
                log_error("environment %s: out of memory: its audited syscalls fail with ENOSYS", env->id);
                return;
        }
        *d = (brig_denials){.env = env,
                            .fd = fd,
                            .errno_ret = env->policy->policy->seccomp.errno_ret,
                            .tokens = BRIG_DENIALS_BURST,
                            .refilled_ms = uv_now(env->w->loop)};
        r = uv_poll_init(env->w->loop, &d->poll, d->fd);
        if (r < 0) {
                log_error_errno(r, "environment %s: poll seccomp listener: %s", env->id, uv_strerror(r));
                (void) close(d->fd);
                free(d);
                return;
        }
        (void) uv_timer_init(env->w->loop, &d->summary);
        d->poll.data = d->summary.data = d;
        brig_handles_init(&d->handles, denials_all_closed, d);
        brig_handles_add(&d->handles, 2);
        (void) uv_poll_start(&d->poll, UV_READABLE | UV_DISCONNECT, poll_cb);
        env->denials = d;
}

void brig__denials_stop(brig_env *env) {
        brig_denials *d = env->denials;

        if (!d)
                return;
        /* A count still waiting for its summary is written now. */
        summary_cb(&d->summary);
        env->denials = NULL;
        d->env = NULL;
        uv_close((uv_handle_t *) &d->poll, handle_closed_cb);
        uv_close((uv_handle_t *) &d->summary, handle_closed_cb);
}
