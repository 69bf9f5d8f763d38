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

brig_env *brig_env_find(brig_worker *w, const char *id) {
        for (brig_env *e = w->envs; e; e = e->next)
                if (strcmp(e->id, id) == 0)
                        return e;
        return NULL;
}

void brig__env_unlink(brig_env *env) {
        for (brig_env **p = &env->w->envs; *p; p = &(*p)->next)
                if (*p == env) {
                        *p = env->next;
                        env->w->n_envs--;
                        return;
                }
}

/* The smallest slot no other environment holds (slot 0 is the shared id of older environments). */
static unsigned free_slot(const brig_worker *w) {
        for (unsigned s = 1; s < BRIG_ENV_SLOTS; s++) {
                bool used = false;
                for (const brig_env *e = w->envs; e && !used; e = e->next)
                        used = e->slot == s;
                if (!used)
                        return s;
        }
        return 0;
}

void brig__env_set_identity(brig_env *env) {
        env->identity = env->w->identity;
        if (env->identity.root) {
                env->identity.uid_outside += env->slot;
                env->identity.gid_outside += env->slot;
        }
}

void brig__env_register(brig_env *env) {
        brig_worker *w = env->w;

        env->slot = free_slot(w);
        brig__env_set_identity(env);
        env->next = w->envs;
        w->envs = env;
        w->n_envs++;
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
