/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

/* brigd's own children (the environments' holders, started with posix_spawn by worker/env_holder.c), reaped
 * by pid when SIGCHLD says one exited. Never waitpid(-1): work threads wait for children of their own by pid
 * (sandbox/wsimage.c's mkfs). Loop thread only; nothing here logs. */

typedef struct brig_child brig_child;
/* Called once the child is reaped, with its waitpid() status; child is out of the watch by then. */
typedef void (*brig_child_exit_cb)(brig_child *child, int wstatus);

/* Embedded in its owner. */
struct brig_child {
        pid_t pid; /* 0 when not watched (not started, or reaped) */
        brig_child_exit_cb cb;
        void *data; /* the owner's */
        brig_child *prev, *next;
};

typedef struct brig_child_watch {
        uv_signal_t sigchld;
        bool started;  /* sigchld initialised */
        bool stopping; /* sigchld closes once the last child is reaped */
        brig_child *children;
        size_t n_children;
} brig_child_watch;

/* Makes sure SIGCHLD is watched; call before starting a child, so that its exit cannot go unseen. Returns
 * 0, or a negative errno from uv_signal_start() (no child may be started then). */
int brig_child_watch_ready(brig_child_watch *cw, uv_loop_t *loop);
/* Watches pid, a child just started (after brig_child_watch_ready()): cb is called once it is reaped. */
void brig_child_watch_add(brig_child_watch *cw, brig_child *child, pid_t pid, brig_child_exit_cb cb);
/* The worker stops: the watch closes its handle once every child is reaped (the loop runs until then). */
void brig_child_watch_stop(brig_child_watch *cw);
