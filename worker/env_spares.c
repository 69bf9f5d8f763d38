/* SPDX-License-Identifier: MIT */
/* The spare pool: environments of the default policy built ahead, and their adoption by new ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "tools/process.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/env_registry.h"
#include "worker/env_spares.h"
#include "worker/worker.h"

/* Building an environment's jail costs several plain fork+execs (namespaces, a network namespace, mounts).
 * brigd keeps a pool of `spares` environments of its default policy built ahead, unnamed and unlisted; a
 * new environment of that policy adopts one: its directory is renamed (the jail's workspace bind follows
 * the directory, not its name), and so are its cgroups where the hierarchy allows (v1; v2 keeps the
 * spare's name). The pool is refilled ahead of demand, one build per two CPUs at a time so that the
 * builds leave CPU to the calls (those of the environment that just took a spare first), and not while
 * calls wait for an admission slot: a daemon at its bound has no CPU to spare, and the pool fills again
 * once it is below it (the next adoption, build or sweep).
 * A burst outruns a pool of `spares`, and only a pool built before it can serve it: a miss costs a whole
 * build, and refills during the burst compete with the burst's own builds for the CPUs. So the pool
 * learns: it counts the new environments of the default policy since it was last full (the demand), and
 * each that finds it without a running spare raises its target to that demand plus `spares` (never past
 * --spare-environments-max, the environments' cap or half the fd budget: brig__admission_spare_fits()),
 * and lets one more build run at once, since the calls of the burst wait for a jail anyway. The next burst
 * of the same size finds its spares built. After SPARE_DECAY_S without running dry the target halves back
 * towards `spares`, and the spares above it are removed. */

#define SPARE_DELAY_MS 20 /* after an adoption: the first call goes first */
#define SPARE_RETRY_S 60  /* after a spare failed to start */
#define SPARE_DECAY_S 30  /* without running dry: the target halves */

static void spare_timer_cb(uv_timer_t *t) {
        brig_spares_fill(t->data);
}

/* A refill already due sooner keeps its time: restarting the timer on each adoption of a burst (calls less
 * than SPARE_DELAY_MS apart) put the refill off until the burst ended. */
static void fill_later(brig_worker *w, uint64_t delay_ms) {
        if (uv_is_closing((uv_handle_t *) &w->spare_timer) ||
            (uv_is_active((uv_handle_t *) &w->spare_timer) &&
             uv_timer_get_due_in(&w->spare_timer) <= delay_ms))
                return;
        (void) uv_timer_start(&w->spare_timer, spare_timer_cb, delay_ms, 0);
}

static void spare_ready_cb(brig_env *env, const brig_error *err, void *userdata) {
        (void) userdata;
        if (!env->spare.pooled)
                return;
        if (!err) {
                /* One build fewer under way: the next one may start (on the next loop turn). */
                fill_later(env->w, 0);
                return;
        }
        log_warning("spare environment: %s; retrying in %d s", err->msg, SPARE_RETRY_S);
        env->w->spare_failed_at = time(NULL);
        brig_env_destroy(env);
}

/* Spares being built at once: one per two CPUs, at least one. */
static unsigned builds_max(void) {
        static unsigned n;
        if (!n) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                n = cpus >= 4 ? (unsigned) (cpus / 2) : 1;
        }
        return n;
}

/* An adoption left the pool without a running spare, or found none: the next burst of the size this one
 * has reached so far finds its spares built. */
static void pool_ran_dry(brig_worker *w) {
        unsigned target = w->spares_demand + w->spares_wanted;
        if (target < w->spares_target)
                target = w->spares_target;
        w->spares_target = target < w->spares_max ? target : w->spares_max;
        w->spares_drained_at = time(NULL);
}

/* The target halves towards `spares` after SPARE_DECAY_S without running dry; running spares above it go. */
static void pool_decay(brig_worker *w) {
        unsigned have = 0;

        if (w->spares_target < w->spares_wanted)
                w->spares_target = w->spares_wanted;
        if (w->spares_target == w->spares_wanted || time(NULL) - w->spares_drained_at < SPARE_DECAY_S)
                return;
        w->spares_target = w->spares_target / 2 > w->spares_wanted ? w->spares_target / 2 : w->spares_wanted;
        w->spares_drained_at = time(NULL);
        for (brig_env *e = brig__env_pool(w), *next; e; e = next) {
                next = e->spare.next;
                if (++have > w->spares_target && e->state == BRIG_ENV_RUNNING)
                        brig_env_destroy(e);
        }
}

void brig_spares_fill(brig_worker *w) {
        unsigned have = 0, building = 0;

        /* A spare's jail is built before its owner and id are known: with memory.mount it would show
         * another scope at /memories. */
        if (w->stopping || !w->default_policy || w->default_policy->policy->memory.mount ||
            w->admission.queued > 0 ||
            (w->spare_failed_at && time(NULL) - w->spare_failed_at < SPARE_RETRY_S))
                return;
        pool_decay(w);
        for (const brig_env *e = brig__env_pool(w); e; e = e->spare.next) {
                have++;
                building += e->state != BRIG_ENV_RUNNING;
        }
        if (have - building >= w->spares_target)
                w->spares_demand = 0; /* full: the next burst counts from here */
        unsigned builds = builds_max() + (building == have && w->spares_target > w->spares_wanted);
        while (have < w->spares_target && building < builds && w->n_envs < BRIG_MAX_ENVIRONMENTS &&
               brig__admission_spare_fits(w)) {
                uint8_t rnd[6];
                char id[32];
                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return;
                (void) snprintf(id, sizeof(id), BRIG_ENV_SPARE_PREFIX "%02x%02x%02x%02x%02x%02x", rnd[0],
                                rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
                brig_env *env = brig__env_new(w, id, getuid(), w->default_policy->name, w->default_policy);
                if (!env)
                        return;
                brig__env_pool_add(env);
                env->ephemeral = true;
                have++;
                building++;
                brig_env_ensure_running(env, spare_ready_cb, NULL);
        }
}

/* A running spare of the policy becomes the environment `id` at once; its directory takes the new name on
 * the thread pool once the new metadata is in it, durably (brig__env_prepare(), worker/env_disk.c), and
 * every call waits for that as for a new environment's directory. */
brig_env *brig__env_adopt_spare(brig_worker *w, const char *id, bool ephemeral, uid_t owner,
                                const char *policy_key, const brig_policy_entry *policy) {
        _cleanup_free_ char *dir = NULL, *workspace = NULL, *key = NULL;
        brig_env *env;

        for (env = brig__env_pool(w); env; env = env->spare.next)
                if (!env->destroyed && env->state == BRIG_ENV_RUNNING && env->policy == policy &&
                    !env->disk.prepare.running)
                        break;
        bool pooled = policy == w->default_policy && w->spares_wanted > 0;
        w->spares_demand += pooled;
        if (!env && pooled) {
                /* A miss: this environment's jail is built for it, and the pool grows for the rest. */
                pool_ran_dry(w);
                fill_later(w, SPARE_DELAY_MS);
        }
        if (!env || asprintf(&dir, "%s/%s", w->envs_dir, id) < 0 ||
            asprintf(&workspace, "%s/workspace", dir) < 0 || !(key = strdup(policy_key)) ||
            brig_process_table_set_dir(&env->processes, dir) < 0)
                return NULL;
        log_info("environment %s starts from spare %s", id, env->id);
        brig__env_pool_take(env);
        const brig_env *left = brig__env_pool(w);
        while (left && left->state != BRIG_ENV_RUNNING)
                left = left->spare.next;
        if (!left)
                pool_ran_dry(w);
        brig__env_rename(env, id);
        free(env->workspace);
        free(env->policy_key);
        env->spare.dir = env->dir;
        env->dir = TAKE_PTR(dir);
        env->workspace = TAKE_PTR(workspace);
        env->policy_key = TAKE_PTR(key);
        env->disk.present = false;
        env->owner = owner;
        env->ephemeral = ephemeral;
        env->created = env->last_used = time(NULL);
        fill_later(w, SPARE_DELAY_MS);
        return env;
}

/* Removes the directory of a spare whose adoption failed once its jail is gone. */
void brig__env_spare_dir_gone(brig_env *env) {
        if (!env->spare.leftover || env->state != BRIG_ENV_STOPPED)
                return;
        brig__env_remove_dir(env->w, env->spare.leftover);
        free(env->spare.leftover);
        env->spare.leftover = NULL;
}

void brig__env_adopted(brig_env *env, const brig_error *err) {
        if (err) {
                /* The spare's jail goes with its directory; the next call creates the environment anew. */
                log_warning("environment %s from spare '%s': %s", env->id, env->spare.dir, err->msg);
                free(env->spare.leftover);
                env->spare.leftover = TAKE_PTR(env->spare.dir);
                brig_env_stop(env);
                brig__env_spare_dir_gone(env);
                return;
        }
        free(env->spare.dir);
        env->spare.dir = NULL;
        brig_cgroup_rename(&env->limits.cg, env->id);
        if (!env->destroyed)
                brig__env_audit(env, BRIG_AUDIT_ENVIRONMENT_START, NULL);
}
