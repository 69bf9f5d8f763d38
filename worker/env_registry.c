/* SPDX-License-Identifier: MIT */
/* The environment registry: the worker's id -> environment table, the names environments may take, their
 * host-id slots, attachment by connections and the limit on how many there are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "common/log.h"
#include "worker/env.h"
#include "worker/env_registry.h"
#include "worker/env_spares.h"
#include "worker/worker.h"

int brig_env_id_check(const char *id, brig_error *err) {
        size_t n = strlen(id);

        if (n == 0 || n > BRIG_ENV_ID_MAX || id[0] == '.' || id[0] == '-')
                goto bad;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                      (id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' || id[i] == '-'))
                        goto bad;
        return 0;
bad:
        return brig_error_set(
                err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                "brig/environment: expected 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -), "
                "got \"%.80s\"",
                id);
}

/* The index beside the worker's list of environments, so that nothing a call or a creation does walks
 * every environment: a hash table of ids (chained through env->hnext, doubled when fuller than one per
 * bucket), how many environments hold each slot (the smallest free one is found from a low-water mark),
 * and the pooled spares. */
struct brig_env_index {
        brig_env **buckets;
        size_t n_buckets; /* a power of two */
        uint16_t slot_refs[BRIG_ENV_SLOTS];
        unsigned slot_low;    /* no slot below it is free (but slot 0, which is never handed out) */
        brig_env *spares;     /* through env->spare.next */
        unsigned n_active;    /* registered and not stopped (admission's fd estimate) */
        unsigned n_processes; /* background processes running, of every environment */
};

#define INDEX_BUCKETS_MIN 64

static size_t hash_id(const char *id) {
        size_t h = 1469598103934665603u; /* FNV-1a */
        for (; *id; id++)
                h = (h ^ (unsigned char) *id) * 1099511628211u;
        return h;
}

static brig_env **bucket(const brig_env_index *ix, const char *id) {
        return &ix->buckets[hash_id(id) & (ix->n_buckets - 1)];
}

static int index_grow(brig_env_index *ix) {
        size_t n = ix->n_buckets ? ix->n_buckets * 2 : INDEX_BUCKETS_MIN;
        brig_env **b = calloc(n, sizeof(*b));

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < ix->n_buckets; i++)
                for (brig_env *e = ix->buckets[i], *next; e; e = next) {
                        next = e->hnext;
                        size_t k = hash_id(e->id) & (n - 1);
                        e->hnext = b[k];
                        b[k] = e;
                }
        free(ix->buckets);
        ix->buckets = b;
        ix->n_buckets = n;
        return 0;
}

static void hash_remove(brig_env_index *ix, brig_env *env) {
        for (brig_env **p = bucket(ix, env->id); *p; p = &(*p)->hnext)
                if (*p == env) {
                        *p = env->hnext;
                        env->hnext = NULL;
                        return;
                }
}

static void hash_insert(brig_env_index *ix, brig_env *env) {
        brig_env **b = bucket(ix, env->id);
        env->hnext = *b;
        *b = env;
}

brig_env *brig_env_find(brig_worker *w, const char *id) {
        if (!w->env_index)
                return NULL;
        for (brig_env *e = *bucket(w->env_index, id); e; e = e->hnext)
                if (strcmp(e->id, id) == 0)
                        return e;
        return NULL;
}

static void slot_put(brig_env_index *ix, unsigned slot) {
        if (slot == 0 || ix->slot_refs[slot]-- != 1)
                return;
        if (slot < ix->slot_low)
                ix->slot_low = slot;
}

static void slot_get(brig_env_index *ix, unsigned slot) {
        if (slot != 0)
                ix->slot_refs[slot]++;
}

static void spare_remove(brig_env_index *ix, brig_env *env) {
        for (brig_env **p = &ix->spares; *p; p = &(*p)->spare.next)
                if (*p == env) {
                        *p = env->spare.next;
                        env->spare.next = NULL;
                        return;
                }
}

void brig__env_unlink(brig_env *env) {
        brig_env_index *ix = env->w->env_index;

        if (!env->pprev)
                return;
        *env->pprev = env->next;
        if (env->next)
                env->next->pprev = env->pprev;
        env->pprev = NULL; /* next stays: a walk that unlinked it goes on from it, as before */
        env->w->n_envs--;
        hash_remove(ix, env);
        slot_put(ix, env->slot);
        ix->n_active -= env->state != BRIG_ENV_STOPPED;
        spare_remove(ix, env);
}

/* The smallest slot no other environment holds (slot 0 is the shared id of older environments). */
static unsigned free_slot(brig_env_index *ix) {
        unsigned s = ix->slot_low ? ix->slot_low : 1;

        while (s < BRIG_ENV_SLOTS && ix->slot_refs[s])
                s++;
        ix->slot_low = s;
        return s < BRIG_ENV_SLOTS ? s : 0;
}

void brig__env_set_slot(brig_env *env, unsigned slot) {
        slot_put(env->w->env_index, env->slot);
        env->slot = slot;
        slot_get(env->w->env_index, slot);
        brig__env_set_identity(env);
}

void brig__env_rename(brig_env *env, const char *id) {
        hash_remove(env->w->env_index, env);
        (void) snprintf(env->id, sizeof(env->id), "%s", id);
        hash_insert(env->w->env_index, env);
}

void brig__env_pool_add(brig_env *env) {
        brig_env_index *ix = env->w->env_index;

        env->spare.pooled = true;
        env->spare.next = ix->spares;
        ix->spares = env;
}

void brig__env_pool_take(brig_env *env) {
        spare_remove(env->w->env_index, env);
        env->spare.pooled = false;
}

void brig__env_set_state(brig_env *env, brig_env_state state) {
        /* A destroyed environment left the count when it was unlinked. */
        if (!env->destroyed)
                env->w->env_index->n_active +=
                        (state != BRIG_ENV_STOPPED) - (env->state != BRIG_ENV_STOPPED);
        env->state = state;
}

void brig__env_counts(const brig_worker *w, unsigned *ret_active, unsigned *ret_processes) {
        *ret_active = w->env_index ? w->env_index->n_active : 0;
        *ret_processes = w->env_index ? w->env_index->n_processes : 0;
}

brig_env *brig__env_pool(brig_worker *w) {
        return w->env_index ? w->env_index->spares : NULL;
}

void brig__env_index_free(brig_worker *w) {
        if (w->env_index)
                free(w->env_index->buckets);
        free(w->env_index);
        w->env_index = NULL;
}

void brig__env_set_identity(brig_env *env) {
        env->identity = env->w->identity;
        if (env->identity.root) {
                env->identity.uid_outside += env->slot;
                env->identity.gid_outside += env->slot;
        }
}

int brig__env_register(brig_env *env) {
        brig_worker *w = env->w;
        brig_env_index *ix = w->env_index;

        if (!ix && !(ix = w->env_index = calloc(1, sizeof(*ix))))
                return -ENOMEM;
        if (w->n_envs >= ix->n_buckets && index_grow(ix) < 0)
                return -ENOMEM;
        env->slot = free_slot(ix);
        slot_get(ix, env->slot);
        brig__env_set_identity(env);
        hash_insert(ix, env);
        env->processes.running_all = &ix->n_processes;
        env->next = w->envs;
        if (w->envs)
                w->envs->pprev = &env->next;
        env->pprev = &w->envs;
        w->envs = env;
        w->n_envs++;
        return 0;
}

int brig_env_attach(brig_worker *w, const char *id, const char *policy_key, const struct ucred *peer,
                    brig_env **ret, brig_error *err) {
        const brig_policy_entry *policy = NULL;
        char fresh[32];
        brig_env *env;
        int r;

        if (id && (r = brig_env_id_check(id, err)) < 0)
                return r;
        if (id && (env = brig_env_find(w, id))) {
                if (env->disk.quarantined)
                        return brig__env_quarantined_error(env, err);
                if (env->disk.forking)
                        return brig_error_set(err, -EBUSY, BRIG_KIND_LIMIT,
                                              "environment \"%s\" is being created by a fork", id);
                if (peer->uid != env->owner && peer->uid != 0)
                        return brig_error_set(err, -EACCES, BRIG_KIND_DENIED,
                                              "environment \"%s\" belongs to another user", id);
                if (policy_key && strcmp(policy_key, env->policy_key) != 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_POLICY,
                                              "environment \"%s\" runs policy \"%.100s\", not \"%.100s\"",
                                              id, env->policy_key, policy_key);
                env->attached++;
                env->last_used = time(NULL);
                *ret = env;
                return 0;
        }
        if (w->n_envs >= BRIG_MAX_ENVIRONMENTS)
                return brig_error_set(err, -ENOSPC, BRIG_KIND_LIMIT, "more than %d environments",
                                      BRIG_MAX_ENVIRONMENTS);
        bool admin = peer->uid == 0 || brig__worker_is_admin(w, peer->uid);
        if (!policy_key)
                policy = w->default_policy;
        else if ((r = brig_policies_get(&w->policies, policy_key, admin, &policy, err)) < 0)
                return r;
        if (!id) {
                uint8_t rnd[8];
                if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "getrandom");
                (void) snprintf(fresh, sizeof(fresh), "env-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                                rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        }
        env = brig__env_adopt_spare(w, id ? id : fresh, !id, peer->uid,
                                    policy_key ? policy_key : policy->name, policy);
        if (!env)
                env = brig__env_new(w, id ? id : fresh, peer->uid, policy_key ? policy_key : policy->name,
                                    policy);
        if (!env)
                return brig_error_oom(err);
        env->ephemeral = !id;
        env->attached = 1;
        *ret = env;
        return 0;
}

void brig_env_detach(brig_env *env) {
        env->attached--;
        if (env->destroyed) {
                brig__env_maybe_free(env);
                return;
        }
        env->last_used = time(NULL);
        if (env->attached == 0 && env->ephemeral)
                brig_env_destroy(env);
        else if (env->disk.present)
                (void) brig__env_meta_update(env, NULL);
}
