/* SPDX-License-Identifier: MIT */
/* Admission control: how many calls run commands at once, in the worker and in each environment, and
 * within the fds brigd may open. A call that does not fit waits in one FIFO queue; when the queue is full
 * the call is refused at once with one documented error (busy, with a retry hint) instead of running
 * into EMFILE halfway through a jail start, where every failing open would surface as its own error.
 * The fd budget keeps BRIG_FD_RESERVE fds out of every call's reach: accepting (libuv also keeps a spare
 * fd for EMFILE on accept), the audit log (opened once) and answers (on the connection's own fd) need
 * none beyond them. */
#include <stdio.h>
#include <sys/resource.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "worker/env_registry.h"
#include "worker/rpc.h"
#include "worker/worker.h"

static unsigned clamp_u(uint64_t v, unsigned lo, unsigned hi) {
        return v < lo ? lo : v > hi ? hi : (unsigned) v;
}

/* fs.nr_open, the ceiling of any fd limit; 0 when unknown. Read once at start, before the loop runs. */
static rlim_t nr_open(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/sys/fs/nr_open", "re");
        unsigned long long v = 0;

        if (!f || fscanf(f, "%llu", &v) != 1)
                return 0;
        return (rlim_t) v;
}

/* Raises *rl (brigd's RLIMIT_NOFILE) to BRIG_FD_LIMIT_WANTED when allowed to raise the hard limit, else
 * the soft limit to the hard one, and rereads it. */
static void raise_fd_limit(struct rlimit *rl) {
        rlim_t old = rl->rlim_cur, want = BRIG_FD_LIMIT_WANTED, ceiling = nr_open();

        if (ceiling && want > ceiling)
                want = ceiling;
        if (rl->rlim_max != RLIM_INFINITY && rl->rlim_max < want) {
                struct rlimit more = {want, want};
                if (setrlimit(RLIMIT_NOFILE, &more) == 0) {
                        *rl = more;
                        return;
                }
                /* Without CAP_SYS_RESOURCE: the hard limit is the ceiling. */
        }
        if (rl->rlim_cur < rl->rlim_max) {
                rl->rlim_cur = rl->rlim_max;
                if (setrlimit(RLIMIT_NOFILE, rl) < 0)
                        (void) log_warning_errno(-errno, "raise the fd limit from %llu, ignoring",
                                                 (unsigned long long) old);
                (void) getrlimit(RLIMIT_NOFILE, rl);
        }
}

void brig__admission_init(brig_worker *w, const brig_worker_options *o) {
        brig_admission *a = &w->admission;
        struct rlimit rl;
        uint64_t budget;

        *a = (brig_admission){.avg_call_ms = 100};
        /* A service manager's soft limit (often 1024) is far below what brigd needs with a few hundred
         * environments; the hard limit is what we are allowed, and as root we may go past it up to
         * fs.nr_open. Jails get the policy's open_files. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                raise_fd_limit(&rl);
                a->fd_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t) rl.rlim_cur;
        } else
                a->fd_limit = 1024;
        /* Half of what is left after the reserve goes to calls; the other half to connections and to the
         * environments' holders. */
        budget = a->fd_limit > BRIG_FD_RESERVE ? (a->fd_limit - BRIG_FD_RESERVE) / 2 : 0;
        a->max_calls =
                o->max_calls ? o->max_calls : clamp_u(budget / BRIG_FDS_PER_CALL, 1, BRIG_MAX_CALLS_CAP);
        a->max_calls_per_env = o->max_calls_per_env
                                       ? o->max_calls_per_env
                                       : clamp_u(a->max_calls, 1, BRIG_MAX_CALLS_PER_ENV_DEFAULT);
        a->max_queued = o->max_queued ? o->max_queued : 8 * a->max_calls;
        log_info("admission: fd limit %llu, at most %u calls running (%u per environment), %u queued",
                 (unsigned long long) a->fd_limit, a->max_calls, a->max_calls_per_env, a->max_queued);
}

/* The fds that what runs now holds, at most, and whether one more call on env fits beside them. */
static bool fds_fit(const brig_worker *w, const brig_env *env) {
        const brig_admission *a = &w->admission;
        uint64_t need = BRIG_FD_RESERVE + w->n_conns + ((uint64_t) a->in_flight + 1) * BRIG_FDS_PER_CALL;

        if (a->fd_limit == UINT64_MAX)
                return true;
        /* Running environments, their proxies and their background processes (counted as they change: a
         * walk over every environment per call grows with their number). */
        unsigned active, processes;
        brig__env_counts(w, &active, &processes);
        need += (uint64_t) active * BRIG_FDS_PER_ENV + (uint64_t) w->n_controls * BRIG_FDS_PER_CONTROL +
                (uint64_t) w->n_proxies * BRIG_FDS_PER_PROXY + (uint64_t) processes * BRIG_FDS_PER_CALL;
        if (env->state == BRIG_ENV_STOPPED)
                need += BRIG_FDS_PER_ENV;
        /* Its start, or brigd connecting again after it stepped away. */
        if (!brig_jailctl_is_open(env->control))
                need += BRIG_FDS_PER_CONTROL;
        return need <= a->fd_limit;
}

/* Spares (worker/env_spares.c) hold their fds before any call needs them: the environments' fds stay
 * within half the fd budget, so that a pool grown by bursts never queues the calls it is there for. */
bool brig__admission_spare_fits(const brig_worker *w) {
        unsigned active, processes;

        if (w->admission.fd_limit == UINT64_MAX)
                return true;
        brig__env_counts(w, &active, &processes);
        return BRIG_FD_RESERVE + ((uint64_t) active + 1) * BRIG_FDS_PER_ENV <= w->admission.fd_limit / 2;
}

static bool fits(const brig_worker *w, const brig_env *env) {
        const brig_admission *a = &w->admission;
        return a->in_flight < a->max_calls && env->calls_in_flight < a->max_calls_per_env && fds_fit(w, env);
}

static void take_slot(brig_call *call) {
        brig_worker *w = call->conn->w;
        call->admitted = true;
        call->slot_env = call->conn->env;
        call->slot_env->calls_in_flight++;
        call->admitted_at = uv_now(w->loop);
        w->admission.in_flight++;
}

int brig__admission_admit(brig_call *call) {
        brig_worker *w = call->conn->w;
        brig_admission *a = &w->admission;

        /* First come, first served: nothing overtakes a queue that is not empty. */
        if (!a->head && fits(w, call->conn->env)) {
                take_slot(call);
                return 1;
        }
        /* With nothing running, nothing would ever make room: the fds are taken by environments. */
        if (a->queued >= a->max_queued || a->in_flight == 0)
                return -EBUSY;
        call->queued = true;
        call->qprev = a->tail;
        call->qnext = NULL;
        if (a->tail)
                a->tail->qnext = call;
        else
                a->head = call;
        a->tail = call;
        a->queued++;
        return 0;
}

static void unqueue(brig_admission *a, brig_call *call) {
        if (call->qprev)
                call->qprev->qnext = call->qnext;
        else
                a->head = call->qnext;
        if (call->qnext)
                call->qnext->qprev = call->qprev;
        else
                a->tail = call->qprev;
        call->qprev = call->qnext = NULL;
        call->queued = false;
        a->queued--;
}

void brig__admission_pump(brig_worker *w) {
        brig_admission *a = &w->admission;

        /* Starting a call may end one at once (a jail that cannot start), which pumps again: loop here. */
        if (a->pumping) {
                a->pump_again = true;
                return;
        }
        a->pumping = true;
        do {
                a->pump_again = false;
                /* The head may wait on its environment's limit while calls of others fit behind it. Starting
                 * a call can end others (a connection that fails closes with its queued calls): rescan. */
                brig_call *call = a->head;
                while (call && a->in_flight < a->max_calls) {
                        if (!fits(w, call->conn->env)) {
                                call = call->qnext;
                                continue;
                        }
                        unqueue(a, call);
                        take_slot(call);
                        brig__mcp_call_start(call);
                        call = a->head;
                }
        } while (a->pump_again);
        a->pumping = false;
}

static void pump_cb(uv_timer_t *t) {
        brig__admission_pump(t->data);
}

void brig__admission_release(brig_call *call) {
        brig_worker *w = call->conn->w;
        brig_admission *a = &w->admission;

        if (call->queued)
                unqueue(a, call);
        if (!call->admitted)
                return;
        call->admitted = false;
        if (--call->slot_env->calls_in_flight == 0)
                brig_env_calls_idle(call->slot_env);
        a->in_flight--;
        a->avg_call_ms = 0.9 * a->avg_call_ms + 0.1 * (double) (uv_now(w->loop) - call->admitted_at);
        /* Not from here: a call ends inside callbacks of its environment (a failed start calls all its
         * waiters), and a queued call started now would re-enter them. On the next loop turn instead. */
        if (a->head && a->timer_ready && !uv_is_active((uv_handle_t *) &a->pump_timer))
                (void) uv_timer_start(&a->pump_timer, pump_cb, 0, 0);
}

void brig__admission_start(brig_worker *w) {
        (void) uv_timer_init(w->loop, &w->admission.pump_timer);
        w->admission.pump_timer.data = w;
        w->admission.timer_ready = true;
}

void brig__admission_stop(brig_worker *w) {
        if (!w->admission.timer_ready)
                return;
        w->admission.timer_ready = false;
        uv_close((uv_handle_t *) &w->admission.pump_timer, NULL);
}

cJSON *brig__admission_busy(brig_worker *w, const cJSON *id, const char *what) {
        const brig_admission *a = &w->admission;
        cJSON *data = cJSON_CreateObject();
        /* Long enough for the calls ahead to drain at the recent pace, bounded both ways. */
        double ahead = (double) (a->queued + a->in_flight) / (double) (a->max_calls ? a->max_calls : 1);
        double retry = a->avg_call_ms * (1 + ahead);
        char msg[200];

        if (data) {
                cJSON_AddStringToObject(data, "reason", "busy");
                cJSON_AddNumberToObject(data, "retry_after_ms",
                                        retry < 50      ? 50
                                        : retry > 10000 ? 10000
                                                        : (double) (int64_t) retry);
                cJSON_AddNumberToObject(data, "in_flight", a->in_flight);
                cJSON_AddNumberToObject(data, "queued", a->queued);
        }
        (void) snprintf(msg, sizeof(msg), "busy: %s; retry later", what);
        return brig_rpc_error(id, BRIG_RPC_REFUSED, msg, data);
}
