/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* The spare pool (env_spares.c): environments of the default policy built ahead ("spares", brigd --spares)
 * and adopted by new environments of that policy. brig_spares_fill() is in env.h. Loop thread only. */

typedef struct brig_env brig_env;
typedef struct brig_worker brig_worker;
typedef struct brig_policy_entry brig_policy_entry;

/* Spare environments' ids start with this: never a valid environment id (brig_env_id_check()). */
#define BRIG_ENV_SPARE_PREFIX ".spare-"

/* A running spare of policy, renamed to id and handed over as a new environment (attach count 0), or NULL
 * when there is none (or out of memory). */
brig_env *brig__env_adopt_spare(brig_worker *w, const char *id, bool ephemeral, uid_t owner,
                                const char *policy_key, const brig_policy_entry *policy);
/* Removes the directory of a spare whose adoption failed, once its jail is gone. */
void brig__env_spare_dir_gone(brig_env *env);
