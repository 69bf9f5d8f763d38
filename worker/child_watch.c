/* SPDX-License-Identifier: MIT */
/* Reaping brigd's own children by pid on SIGCHLD: what libuv does for the processes it spawns
 * (src/unix/process.c, uv__wait_children), for children we start with posix_spawn(), which libuv does not
 * know. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "worker/child_watch.h"

static void unlink_child(brig_child_watch *cw, brig_child *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                cw->children = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        c->pid = 0;
        cw->n_children--;
}

static brig_child *find_child(brig_child_watch *cw, pid_t pid) {
        for (brig_child *c = cw->children; c; c = c->next)
                if (c->pid == pid)
                        return c;
        return NULL;
}

/* Reaps c if it has exited; true if it did (c may be freed by its callback then). */
static bool try_reap(brig_child_watch *cw, brig_child *c) {
        int st = 0;
        pid_t p;

        while ((p = waitpid(c->pid, &st, WNOHANG)) < 0 && errno == EINTR)
                ;
        /* ECHILD cannot happen for a child nobody else waits for by pid; should it, the child is gone. */
        if (p == 0)
                return false;
        unlink_child(cw, c);
        c->cb(c, p < 0 ? 0 : st);
        return true;
}

static void maybe_close(brig_child_watch *cw) {
        if (cw->stopping && cw->started && !cw->children && !uv_is_closing((uv_handle_t *) &cw->sigchld))
                uv_close((uv_handle_t *) &cw->sigchld, NULL);
}

static void sigchld_cb(uv_signal_t *h, int signum) {
        brig_child_watch *cw = h->data;
        (void) signum;

        /* Signals coalesce: one SIGCHLD may stand for several exits. Peek at which child is a zombie
         * (WNOWAIT leaves it to be reaped) so that an exit costs one lookup rather than a waitpid() per
         * live child, of which there are thousands. A zombie that is not ours belongs to a work thread that
         * reaps it by pid: then fall back to asking for each of ours. */
        for (;;) {
                siginfo_t si;

                memset(&si, 0, sizeof(si));
                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
                        break;
                brig_child *c = find_child(cw, si.si_pid);
                if (!c || !try_reap(cw, c)) {
                        for (brig_child *k = cw->children, *next; k; k = next) {
                                next = k->next;
                                (void) try_reap(cw, k);
                        }
                        break;
                }
        }
        maybe_close(cw);
}

int brig_child_watch_ready(brig_child_watch *cw, uv_loop_t *loop) {
        int r;

        if (!cw->started) {
                if ((r = uv_signal_init(loop, &cw->sigchld)) < 0)
                        return r;
                cw->sigchld.data = cw;
                cw->started = true;
        }
        if (!uv_is_active((uv_handle_t *) &cw->sigchld) &&
            (r = uv_signal_start(&cw->sigchld, sigchld_cb, SIGCHLD)) < 0)
                return r;
        return 0;
}

void brig_child_watch_add(brig_child_watch *cw, brig_child *child, pid_t pid, brig_child_exit_cb cb) {
        child->pid = pid;
        child->cb = cb;
        child->prev = NULL;
        child->next = cw->children;
        if (cw->children)
                cw->children->prev = child;
        cw->children = child;
        cw->n_children++;
}

void brig_child_watch_stop(brig_child_watch *cw) {
        cw->stopping = true;
        maybe_close(cw);
}
