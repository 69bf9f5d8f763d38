/* SPDX-License-Identifier: MIT */
/* The environment's lifecycle core: its creation and freeing (once destroyed, when nothing refers to it any
 * more), destruction, the periodic sweep (idle stop, retention), audit events and its description. The
 * parts live beside it: the registry (env_registry.c), the on-disk store (env_disk.c), the holder
 * (env_holder.c) and the spare pool (env_spares.c). See env.h for the model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "tools/process.h"
#include "tools/repl.h"
#include "worker/audit_events.h"
#include "worker/env.h"
#include "worker/env_control.h"
#include "worker/env_holder.h"
#include "worker/proxy_secrets.h"
#include "worker/proxy_tls.h"
#include "worker/env_registry.h"
#include "worker/memory.h"
#include "worker/worker.h"
#include "worker/toolpool.h"

static const char *const state_names[_BRIG_ENV_STATE_MAX] = {
        [BRIG_ENV_STOPPED] = "stopped",
        [BRIG_ENV_STARTING] = "starting",
        [BRIG_ENV_RUNNING] = "running",
};

const char *brig_env_state_name(brig_env_state s) {
        return s >= 0 && s < _BRIG_ENV_STATE_MAX ? state_names[s] : "invalid";
}

static void env_free(brig_env *env) {
        brig_policies_release(&env->w->policies, env->policy);
        brig_toolpool_free(env);
        brig_repl_set_free(&env->repls);
        brig_process_table_free(&env->processes);
        free(env->policy_key);
        free(env->disk.quarantine_reason);
        free(env->spare.dir);
        free(env->spare.leftover);
        brig__env_control_close(env);
        brig_proxy_secrets_free(env->secrets);
        brig_tls_ca_free(env->tls_ca);
        free(env->dir);
        free(env->workspace);
        free(env);
}

/* A destroyed environment's directory goes once nothing can write into it any more: its processes are
 * gone with its holder, and no metadata, file or history work is in flight (a file created while the
 * removal runs would keep the directory, and a meta.json would bring the environment back at restart).
 * Its own memory scope goes then too: no memory call of it is in flight (each holds it), and a later
 * environment of the same name must not find it. */
static void maybe_remove(brig_env *env) {
        if (!env->destroyed || !brig_handles_none(&env->holder.handles) ||
            !brig_handles_none(&env->repls.handles) || env->processes.running != 0 || env->holds != 0)
                return;
        if (env->disk.remove_pending) {
                env->disk.remove_pending = false;
                brig__env_remove_dir(env->w, env->dir);
        }
        if (env->disk.memory_remove_pending) {
                env->disk.memory_remove_pending = false;
                brig_memory_forget_environment(env->w, env->id);
        }
}

/* Frees a destroyed environment once nothing refers to it any more. */
void brig__env_maybe_free(brig_env *env) {
        maybe_remove(env);
        if (env->destroyed && env->attached == 0 && brig_handles_none(&env->holder.handles) &&
            brig_handles_none(&env->repls.handles) && env->processes.running == 0 && env->holds == 0 &&
            !env->disk.remove_pending)
                env_free(env);
}

/* The process table's hooks (tools/process.h). */
static void process_exited(const brig_process *p, const brig_exec_result *res, void *userdata) {
        brig_env *env = userdata;

        (void) brig__worker_audit(env->w, brig_audit_process_exit(env->id, p->id, res, p->total));
}

static void processes_idle(void *userdata) {
        brig__env_maybe_free(userdata);
}

void brig__env_hold(brig_env *env) {
        env->holds++;
}

void brig__env_release(brig_env *env) {
        env->holds--;
        brig__env_maybe_free(env);
}

brig_env *brig__env_new(brig_worker *w, const char *id, uid_t owner, const char *policy_key,
                        const brig_policy_entry *policy) {
        brig_env *env = calloc(1, sizeof(*env));

        if (!env)
                return NULL;
        env->w = w;
        env->owner = owner;
        env->policy = policy;
        brig_policies_hold(policy);
        env->limits.cg.oom_fd = -1;
        brig__env_holder_init(env);
        (void) snprintf(env->id, sizeof(env->id), "%s", id);
        brig_process_hooks hooks = {.exited = process_exited, .idle = processes_idle, .userdata = env};
        brig_repl_set_init(&env->repls, &env->processes);
        if (!(env->policy_key = strdup(policy_key)) || asprintf(&env->dir, "%s/%s", w->envs_dir, id) < 0 ||
            asprintf(&env->workspace, "%s/%s/workspace", w->envs_dir, id) < 0 ||
            brig_process_table_init(&env->processes, env->id, env->dir, &hooks) < 0 ||
            brig__env_register(env) < 0) {
                env_free(env);
                return NULL;
        }
        env->created = env->last_used = time(NULL);
        return env;
}

void brig__env_audit(brig_env *env, brig_audit_type type, const char *error) {
        cJSON *ev;

        /* A spare becomes an environment, and is audited as one, when it is adopted. */
        if (env->spare.pooled)
                return;
        ev = brig_audit_environment(type, env->id, env->policy_key, env->owner, env->init_pid);
        brig_audit_set_error(ev, error);
        (void) brig__worker_audit(env->w, ev);
}

void brig_env_destroy(brig_env *env) {
        if (env->destroyed)
                return;
        log_info("environment %s destroyed", env->id);
        brig_env_stop(env);
        env->destroyed = true;
        env->processes.dir_removed = true;
        brig_repl_set_close(&env->repls);
        brig__env_unlink(env);
        env->disk.remove_pending = env->disk.present;
        /* Whatever its policy now: an earlier policy of this name may have had scope "environment". A
         * spare's name (".spare-...") never had a memory. */
        env->disk.memory_remove_pending = !env->spare.pooled;
        brig__env_maybe_free(env);
}

void brig_envs_sweep(brig_worker *w) {
        int64_t now = time(NULL);

        brig_spares_fill(w);
        for (brig_env *e = w->envs, *next; e; e = next) {
                next = e->next;
                if (!e->disk.forking)
                        brig_toolpool_repack_if_idle(e, now);
                if (e->attached > 0 || !e->policy || e->spare.pooled || e->disk.forking)
                        continue;
                int64_t unused_ms = (now - e->last_used) * 1000;
                const brig_policy *p = e->policy->policy;
                if (unused_ms >= (int64_t) p->environment.retention_ms) {
                        brig__env_audit(e, BRIG_AUDIT_ENVIRONMENT_EXPIRED, NULL);
                        brig_env_destroy(e);
                } else if (e->state == BRIG_ENV_RUNNING &&
                           unused_ms >= (int64_t) p->environment.idle_stop_ms) {
                        brig__env_audit(e, BRIG_AUDIT_ENVIRONMENT_IDLE_STOP, NULL);
                        log_info("environment %s idle: stopping it (workspace kept)", e->id);
                        brig_env_stop(e);
                }
        }
}

void brig_envs_stop_all(brig_worker *w) {
        for (brig_env *e = w->envs; e; e = e->next) {
                brig_env_stop(e);
                brig_repl_set_close(&e->repls);
        }
}

void brig_envs_free_all(brig_worker *w) {
        for (brig_env *e = w->envs, *next; e; e = next) {
                next = e->next;
                brig__env_free_waiters(e->holder.waiters, NULL, NULL);
                brig__env_free_waiters(e->holder.restart_waiters, NULL, NULL);
                brig__env_prepare_free(e);
                env_free(e);
        }
        w->envs = NULL;
        w->n_envs = 0;
        brig__env_index_free(w);
}

cJSON *brig_env_describe(const brig_env *env, bool detailed) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddStringToObject(o, "id", env->id) &&
                  cJSON_AddNumberToObject(o, "owner_uid", env->owner) &&
                  cJSON_AddStringToObject(o, "policy", env->policy_key) &&
                  cJSON_AddStringToObject(o, "state",
                                          env->disk.quarantined ? "quarantined"
                                                                : brig_env_state_name(env->state)) &&
                  (!env->disk.quarantined ||
                   cJSON_AddStringToObject(o, "quarantine_reason", env->disk.quarantine_reason)) &&
                  cJSON_AddBoolToObject(o, "ephemeral", env->ephemeral) &&
                  cJSON_AddNumberToObject(o, "created", (double) env->created) &&
                  cJSON_AddNumberToObject(o, "last_used", (double) env->last_used) &&
                  cJSON_AddNumberToObject(o, "connections", env->attached);
        if (ok && detailed) {
                const brig_identity *id = &env->identity;
                ok = cJSON_AddStringToObject(o, "workspace", env->workspace) &&
                     cJSON_AddNumberToObject(o, "jail_uid", id->uid_outside) &&
                     (env->init_pid > 0 ? cJSON_AddNumberToObject(o, "init_pid", env->init_pid)
                                        : cJSON_AddNullToObject(o, "init_pid")) &&
                     cJSON_AddStringToObject(o, "limits",
                                             env->limits.cg.mode == BRIG_CGROUP_V2   ? "cgroup v2 + rlimits"
                                             : env->limits.cg.mode == BRIG_CGROUP_V1 ? "cgroup v1 + rlimits"
                                                                                     : "rlimits") &&
                     (env->limits.cg.mode == BRIG_CGROUP_NONE ||
                      (cJSON_AddStringToObject(o, "cgroup_memory", env->limits.cg.path[BRIG_CG_MEMORY]) &&
                       cJSON_AddStringToObject(o, "cgroup_pids", env->limits.cg.path[BRIG_CG_PIDS]) &&
                       cJSON_AddStringToObject(o, "cgroup_cpu", env->limits.cg.path[BRIG_CG_CPU]))) &&
                     (env->limits.cg.mode != BRIG_CGROUP_NONE || !env->w->cgroups.why[0] ||
                      cJSON_AddStringToObject(o, "cgroups_unavailable", env->w->cgroups.why)) &&
                     (!env->policy ||
                      (cJSON_AddNumberToObject(o, "idle_stop_ms",
                                               (double) env->policy->policy->environment.idle_stop_ms) &&
                       cJSON_AddNumberToObject(o, "retention_ms",
                                               (double) env->policy->policy->environment.retention_ms)));
                if (ok && env->policy && env->policy->policy->filesystem.quota)
                        ok = cJSON_AddNumberToObject(o, "workspace_quota",
                                                     (double) env->policy->policy->filesystem.quota) &&
                             (env->limits.ws_measured && env->limits.ws_bytes != UINT64_MAX
                                      ? cJSON_AddNumberToObject(o, "workspace_bytes",
                                                                (double) env->limits.ws_bytes)
                                      : cJSON_AddNullToObject(o, "workspace_bytes"));
                ok = ok && brig__env_quota_describe(env, o);
                if (ok && env->policy) {
                        const brig_limits *l = &env->policy->policy->limits;
                        cJSON *lim = cJSON_AddObjectToObject(o, "rlimits");
                        ok = lim && cJSON_AddNumberToObject(lim, "memory_bytes", (double) l->memory_bytes) &&
                             cJSON_AddNumberToObject(lim, "processes", (double) l->processes) &&
                             cJSON_AddNumberToObject(lim, "open_files", (double) l->open_files) &&
                             cJSON_AddNumberToObject(lim, "cpu_time_ms", (double) l->cpu_time_ms) &&
                             cJSON_AddNumberToObject(lim, "wall_time_ms", (double) l->wall_time_ms);
                }
        }
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}
