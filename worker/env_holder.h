/* SPDX-License-Identifier: MIT */
#pragma once

#include "common/error.h"

/* The holder of an environment (env_holder.c): its start (brig_env_ensure_running()), stop (brig_env_stop())
 * and the waiters for both, declared in env.h; here what the other parts of the environment need. Loop
 * thread only. */

typedef struct brig_env brig_env;
typedef struct brig_env_waiter brig_env_waiter;

/* Sets up a new environment's holder state (no handle yet). */
void brig__env_holder_init(brig_env *env);
/* Frees a list of waiters, calling each back with err first when env is not NULL. */
void brig__env_free_waiters(brig_env_waiter *list, brig_env *env, const brig_error *err);
