/* SPDX-License-Identifier: MIT */
/* Removal of stopped environments' cgroups, retried on the loop until they are empty (see cgreap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/cgreap.h"
#include "worker/worker.h"

#define REAP_FIRST_MS 5
#define REAP_MAX_MS 1000
#define REAP_TRIES 30         /* about 25 s in all */
#define REAP_TRIES_STOPPING 8 /* at shutdown, about 1 s: the worker's exit waits for these */
#define REAP_KILL_AFTER 3     /* tries before the processes still inside are killed */

typedef struct cg_reap {
        uv_timer_t timer;
        brig_worker *w;
        brig_cgroup cg;
        unsigned tries;
        uint64_t delay_ms;
} cg_reap;

static void reap_closed_cb(uv_handle_t *h) {
        free(h->data);
}

static void reap_timer_cb(uv_timer_t *t) {
        cg_reap *rp = t->data;
        int r;

        rp->tries++;
        if (rp->tries >= REAP_KILL_AFTER)
                brig_cgroup_kill(&rp->cg);
        r = brig_cgroup_remove(&rp->cg);
        if (r < 0 && rp->tries < (rp->w->stopping ? REAP_TRIES_STOPPING : REAP_TRIES)) {
                rp->delay_ms = rp->delay_ms * 2 > REAP_MAX_MS ? REAP_MAX_MS : rp->delay_ms * 2;
                (void) uv_timer_start(&rp->timer, reap_timer_cb, rp->delay_ms, 0);
                return;
        }
        for (int i = 0; r < 0 && i < _BRIG_CG_MAX; i++)
                if (rp->cg.path[i][0] && (i == 0 || strcmp(rp->cg.path[i], rp->cg.path[i - 1]) != 0))
                        (void) log_warning_errno(r, "cgroup '%s' not removed after %u tries: %m",
                                                 rp->cg.path[i], rp->tries);
        uv_close((uv_handle_t *) &rp->timer, reap_closed_cb);
}

void brig__cgroup_release(brig_worker *w, brig_cgroup *cg) {
        cg_reap *rp;
        int r = brig_cgroup_remove(cg);

        if (r >= 0 || brig_cgroup_empty(cg)) {
                *cg = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
                return;
        }
        rp = calloc(1, sizeof(*rp));
        if (!rp) {
                (void) log_warning_errno(-ENOMEM, "cgroup '%s' not removed: %m", cg->path[0]);
                *cg = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
                return;
        }
        *rp = (cg_reap){.w = w, .cg = *cg, .delay_ms = REAP_FIRST_MS};
        *cg = (brig_cgroup){.mode = BRIG_CGROUP_NONE, .oom_fd = -1};
        (void) uv_timer_init(w->loop, &rp->timer);
        rp->timer.data = rp;
        (void) uv_timer_start(&rp->timer, reap_timer_cb, rp->delay_ms, 0);
}
