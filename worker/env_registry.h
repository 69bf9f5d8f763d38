/* SPDX-License-Identifier: MIT */
#pragma once

/* The environment registry (env_registry.c): the worker's table of environments by id, their host-id
 * slots and the limit on their number. The public part (attach, detach, find, id check) is in env.h.
 * Loop thread only. */

typedef struct brig_env brig_env;

/* Enters a new environment into the worker's table with the smallest free slot and its identity. */
void brig__env_register(brig_env *env);
/* Takes it out of the table (destroyed: no longer found, listed or counted). */
void brig__env_unlink(brig_env *env);
/* Sets env->identity from the worker's and env->slot (as root: base id + slot). */
void brig__env_set_identity(brig_env *env);
