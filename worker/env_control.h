/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"

typedef struct brig_env brig_env;
typedef struct brig_worker brig_worker;

/* An environment's control connection on demand (worker/env_control.c): brigd connects to its init when a
 * call needs it and hangs up once the environment has been idle for a while. Loop thread only; nothing
 * here logs but brig__env_control_ensure()'s failure. */

/* How long an environment stays connected with nothing going on: between one and two of these. */
#define BRIG_CONTROL_IDLE_MS 5000

/* Creates <state_dir>/control (0700, brigd's alone) and keeps it open in w for the environments' control
 * sockets. 0 or -errno with err set. */
int brig__env_control_dir_open(brig_worker *w, const char *state_dir, brig_error *err);
/* Closes it (accepts a worker that has none). */
void brig__env_control_dir_close(brig_worker *w);

/* Before env's helper starts: binds and listens on a socket of its own in the control directory and
 * connects env->control (new) to it. *ret_listener is the listening socket, for the helper's control fd;
 * the caller closes it once the helper has its copy. 0 or -errno with err set. */
int brig__env_control_listen(brig_env *env, int *ret_listener, brig_error *err);

/* The init said RECONNECT (sandbox/jailctl.h): once env runs, brigd steps away when it is idle, checked
 * every BRIG_CONTROL_IDLE_MS on the holder's start timer (which a running environment needs no more). */
void brig__env_control_may_step_away(brig_env *env);

/* A call is about to hand env's init a command: connects again when brigd stepped away. 0, or -errno
 * (logged): -ECONNREFUSED or -ENOENT when the init is gone (nothing listens: the caller restarts the
 * holder), another one (no fd or memory left here) fails the call, in err, and leaves the environment
 * running. */
int brig__env_control_ensure(brig_env *env, brig_error *err);

/* Whether brig__env_control_ensure()'s r says the init is gone. */
static inline bool brig__env_control_gone(int r) {
        return r == -ECONNREFUSED || r == -ENOENT;
}

/* The idle check, from the holder's start timer once env runs: hangs up when no call came since the last
 * check, none is in flight and no command holds the connection (the init then waits for the next one). */
void brig__env_control_idle_tick(brig_env *env);

/* The holder is going (or failed to start): hangs up env->control and removes the socket's name. */
void brig__env_control_close(brig_env *env);
