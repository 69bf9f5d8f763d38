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
 * Attribution of a denial to a call: worker/culprit.c.
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
#include "worker/culprit.h"
#include "worker/denials.h"
#include "worker/env.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/rpc.h"
#include "worker/worker.h"

#define SUMMARY_MS 1000

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
                c = brig__culprit_of(env, den->pid);
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
                brig__culprit_notify(c.call, ev, "brig/seccomp");
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
