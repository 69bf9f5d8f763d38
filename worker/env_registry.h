/* SPDX-License-Identifier: MIT */
#pragma once

/* The environment registry (env_registry.c): the worker's table of environments by id, their host-id
 * slots and the limit on their number. The public part (attach, detach, find, id check) is in env.h.
 * Loop thread only. */

#include "worker/env.h"

typedef struct brig_worker brig_worker;
typedef struct brig_env_index brig_env_index;

/* Enters a new environment into the worker's table with the smallest free slot and its identity; -ENOMEM. */
int brig__env_register(brig_env *env);
/* Takes it out of the table (destroyed: no longer found, listed or counted), and out of the spare pool. */
void brig__env_unlink(brig_env *env);
/* Sets env->identity from the worker's and env->slot (as root: base id + slot). */
void brig__env_set_identity(brig_env *env);
/* Gives env another slot (its metadata's, at start-up) and the identity that goes with it. */
void brig__env_set_slot(brig_env *env, unsigned slot);
/* Renames a registered environment (a spare taking a new environment's id). */
void brig__env_rename(brig_env *env, const char *id);
/* Sets env->state, keeping the count of environments not stopped. */
void brig__env_set_state(brig_env *env, brig_env_state state);
/* Registered environments not stopped, and background processes running in all environments (each holds
 * fds in brigd: worker/admission.c), without walking them. */
void brig__env_counts(const brig_worker *w, unsigned *ret_active, unsigned *ret_processes);
/* The pooled spares (env->spare.next), and their entry into and exit from the pool. */
brig_env *brig__env_pool(brig_worker *w);
void brig__env_pool_add(brig_env *env);
void brig__env_pool_take(brig_env *env);
/* Frees the index once every environment is gone (brig_envs_free_all()). */
void brig__env_index_free(brig_worker *w);
