/* SPDX-License-Identifier: MIT */
/* The worker-wide budget of bytes held for clients: replies queued on their sockets and the output that
 * running calls keep for their results. Past the budget, the connections holding more than an equal share
 * of it have their commands' output left unread (the commands block on full pipes) until writes drain;
 * connections within their share go on, so a client that stops reading only stalls its own calls. So that
 * calls whose output alone exceeds their share cannot all wait on each other, one call at a time (the
 * oldest, of a connection whose client has read everything sent to it) keeps running past the budget. */
#include <unistd.h>

#include "common/log.h"
#include "worker/worker.h"

#define MIB (1024ull * 1024)

void brig__budget_init(brig_worker *w, const brig_worker_options *o) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        uint64_t ram = pages > 0 && page > 0 ? (uint64_t) pages * (uint64_t) page : 0;
        uint64_t max = ram / 16;

        if (max < BRIG_CLIENT_BYTES_MIN_DEFAULT)
                max = BRIG_CLIENT_BYTES_MIN_DEFAULT;
        if (max > BRIG_CLIENT_BYTES_MAX_DEFAULT)
                max = BRIG_CLIENT_BYTES_MAX_DEFAULT;
        w->budget = (brig_budget){.max = o->max_client_bytes ? o->max_client_bytes : max};
        log_info("client budget: %llu MiB held for clients before output is left unread",
                 (unsigned long long) (w->budget.max / MIB));
}

bool brig__budget_over(const brig_worker *w) {
        return w->budget.held > w->budget.max;
}

static uint64_t share(const brig_worker *w) {
        return w->budget.max / (w->budget.n_holding ? w->budget.n_holding : 1);
}

static void rebalance_cb(uv_timer_t *t);

static void schedule(brig_worker *w) {
        if (w->budget.timer_ready && !uv_is_active((uv_handle_t *) &w->budget.timer))
                (void) uv_timer_start(&w->budget.timer, rebalance_cb, 0, 0);
}

static void set_budget_paused(brig_conn *c, bool paused) {
        if (c->budget_paused == paused)
                return;
        c->budget_paused = paused;
        if (paused)
                c->w->budget.n_paused++;
        else
                c->w->budget.n_paused--;
}

static void held_change(brig_conn *c, int64_t delta) {
        brig_worker *w = c->w;
        brig_budget *b = &w->budget;
        bool was_over = brig__budget_over(w), was_holding = c->held > 0;

        c->held = (uint64_t) ((int64_t) c->held + delta);
        b->held = (uint64_t) ((int64_t) b->held + delta);
        if (!was_holding && c->held)
                b->n_holding++;
        else if (was_holding && !c->held)
                b->n_holding--;
        if (delta > 0 && !c->budget_paused && !c->closing && brig__budget_over(w) && c->held > share(w)) {
                /* Stop its growth now; the rebalance finds the call that keeps going, if any. */
                set_budget_paused(c, true);
                brig__conn_apply_pause(c);
                schedule(w);
        } else if ((delta < 0 && b->n_paused) || was_over != brig__budget_over(w))
                schedule(w);
}

void brig__budget_kept(brig_call *call, int64_t delta) {
        call->kept = (uint64_t) ((int64_t) call->kept + delta);
        held_change(call->conn, delta);
}

void brig__budget_queued(brig_conn *c, int64_t delta) {
        c->queued = (uint64_t) ((int64_t) c->queued + delta);
        c->w->budget.queued = (uint64_t) ((int64_t) c->w->budget.queued + delta);
        held_change(c, delta);
}

void brig__budget_conn_paused(brig_conn *c) {
        if (c->w->budget.exempt && c->w->budget.exempt->conn == c)
                schedule(c->w);
}

void brig__budget_call_gone(brig_call *call) {
        brig_worker *w = call->conn->w;
        if (call->kept)
                brig__budget_kept(call, -(int64_t) call->kept);
        if (w->budget.exempt == call) {
                w->budget.exempt = NULL;
                schedule(w);
        }
}

/* The oldest call whose output is left unread only for the budget, of a client that has read everything
 * sent to it: when it finishes, its client can drain the result. */
static bool eligible(const brig_conn *c) {
        return c->budget_paused && !c->paused && !c->closing && !c->queued;
}

static brig_call *pick_exempt(brig_worker *w) {
        brig_call *best = NULL;
        for (brig_conn *c = w->conns; c; c = c->next) {
                if (!eligible(c))
                        continue;
                for (brig_call *call = c->calls; call; call = call->next)
                        if (call->exec && call->state == BRIG_CALL_RUNNING &&
                            (!best || call->call_id < best->call_id))
                                best = call;
        }
        return best;
}

static void rebalance(brig_worker *w) {
        brig_budget *b = &w->budget;
        bool over = brig__budget_over(w);
        uint64_t s = share(w);

        for (brig_conn *c = w->conns; c; c = c->next) {
                set_budget_paused(c, over && !c->closing && c->held > s);
                /* Over the budget, a client holding unread replies must be reading them. */
                if (over && c->queued && !c->closing)
                        brig__conn_watch_stall(c);
        }
        /* Always one, however far over: replies queued for clients that are not reading now cannot be
         * what a reading client waits for (a client reading its connections one after the other would
         * wait forever). What this lets grow is bounded: one running call at a time, and only for a client
         * that has read everything sent to it. */
        if (!over)
                b->exempt = NULL;
        /* An exempt call whose own client stopped reading (its connection paused at its mark) cannot end:
         * another client's call goes instead. */
        else if (!b->exempt || b->exempt->conn->paused || b->exempt->conn->closing)
                b->exempt = pick_exempt(w);
        for (brig_conn *c = w->conns; c; c = c->next)
                brig__conn_apply_pause(c);
}

static void rebalance_cb(uv_timer_t *t) {
        rebalance(t->data);
}

void brig__budget_start(brig_worker *w) {
        (void) uv_timer_init(w->loop, &w->budget.timer);
        w->budget.timer.data = w;
        w->budget.timer_ready = true;
}

void brig__budget_stop(brig_worker *w) {
        if (!w->budget.timer_ready)
                return;
        w->budget.timer_ready = false;
        uv_close((uv_handle_t *) &w->budget.timer, NULL);
}
