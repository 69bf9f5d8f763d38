/* SPDX-License-Identifier: MIT */
/* Memory tool calls on the thread pool: the scope a call reaches (from its environment's policy and the
 * client's uid, decided here on the loop thread so that nothing the agent sends can pick it), and the work
 * itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "tools/memory_tool.h"
#include "worker/env.h"
#include "worker/memory.h"
#include "worker/memory_view.h"
#include "worker/policies.h"
#include "worker/worker.h"

typedef struct memjob {
        uv_work_t req;
        char tool[32];
        cJSON *args;
        char *dir;  /* the scope's store */
        char *view; /* its checked-out view (policy memory.mount), or NULL */
        char *environment;
        brig_env *env; /* held until cb */
        char call_id[24];
        brig_memory_ctx ctx; /* its strings point into this job */
        brig_memory_done_cb cb;
        void *userdata;
        brig_memory_result res;
} memjob;

static void job_free(memjob *j) {
        if (!j)
                return;
        cJSON_Delete(j->args);
        cJSON_Delete(j->res.sc);
        free(j->dir);
        free(j->view);
        free(j->environment);
        free(j);
}

static void work_cb(uv_work_t *req) {
        memjob *j = req->data;
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;

        if (brig_memory_open(j->dir, &m, &j->res.error) < 0)
                return;
        if (brig_memory_call(m, j->tool, j->args, &j->ctx, &j->res.sc, &j->res.report, &j->res.error) < 0)
                return;
        j->res.error = (brig_error) BRIG_ERROR_INIT;
        brig_memory_free(TAKE_PTR(m)); /* and its lock, which the view's update takes */
        brig_error verr = BRIG_ERROR_INIT;
        /* The change is made: a view that could not follow is logged, and caught up at the next start. */
        if (j->view && j->res.report.wrote && brig_memory_view_update(j->dir, j->view, &verr) < 0)
                log_warning("memory view %s: %s", j->view, verr.msg);
}

static void after_cb(uv_work_t *req, int status) {
        memjob *j = req->data;

        if (status < 0 && !j->res.error.code)
                (void) brig_error_set(&j->res.error, status, BRIG_KIND_INTERNAL, "memory call cancelled");
        j->cb(&j->res, j->userdata);
        brig_env *env = j->env;
        job_free(j);
        /* Last: a destroyed environment's own scope may go once its calls are done (worker/env.c). */
        brig__env_release(env);
}

int brig_memory_run(brig_env *env, uid_t peer_uid, const char *tool, const cJSON *args, uint64_t call_id,
                    brig_memory_done_cb cb, void *userdata, brig_error *err) {
        const brig_policy_memory *pm = &env->policy->policy->memory;
        memjob *j = calloc(1, sizeof(*j));
        int r;

        /* Its own scope goes with it (brig_memory_forget_environment()): nothing may make it anew. */
        if (env->destroyed) {
                free(j);
                return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was destroyed",
                                      env->id);
        }
        if (!j || (args && !(j->args = cJSON_Duplicate(args, true))) ||
            !(j->environment = strdup(env->id))) {
                job_free(j);
                return brig_error_oom(err);
        }
        if ((r = brig_memory_scope_dir(env->w->memory_dir, pm->scope, pm->scope_name, peer_uid, env->id,
                                       &j->dir, err)) < 0) {
                job_free(j);
                return r;
        }
        if ((r = brig_memory_view_of(env, peer_uid, NULL, &j->view, err)) < 0) {
                job_free(j);
                return r;
        }
        j->req.data = j;
        (void) snprintf(j->tool, sizeof(j->tool), "%s", tool);
        (void) snprintf(j->call_id, sizeof(j->call_id), "%llu", (unsigned long long) call_id);
        j->ctx = (brig_memory_ctx){
                .read_only = pm->mode != BRIG_MEMORY_READ_WRITE,
                .limits = {.max_bytes = pm->max_bytes, .max_files = pm->max_files},
                .environment = j->environment,
                .call_id = j->call_id,
                .peer_uid = peer_uid,
        };
        j->cb = cb;
        j->userdata = userdata;
        if ((r = uv_queue_work(env->w->loop, &j->req, work_cb, after_cb)) < 0) {
                job_free(j);
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "queue memory call: %s", uv_strerror(r));
        }
        j->env = env;
        brig__env_hold(env);
        return 0;
}

typedef struct forget_job {
        uv_work_t req;
        char *dirs[2]; /* the store, its view */
} forget_job;

static void forget_work_cb(uv_work_t *req) {
        forget_job *j = req->data;

        for (size_t i = 0; i < ELEMENTSOF(j->dirs); i++) {
                int r = brig_rm_rf(j->dirs[i]);
                if (r < 0 && r != -ENOENT)
                        (void) log_warning_errno(r, "remove the memory '%s': %m, ignoring", j->dirs[i]);
        }
}

static void forget_job_free(forget_job *j) {
        for (size_t i = 0; i < ELEMENTSOF(j->dirs); i++)
                free(j->dirs[i]);
        free(j);
}

static void forget_after_cb(uv_work_t *req, int status) {
        (void) status;
        forget_job_free(req->data);
}

void brig_memory_forget_environment(brig_worker *w, const char *id) {
        _cleanup_free_ char *view_root = NULL;
        brig_error err = BRIG_ERROR_INIT;
        forget_job *j = calloc(1, sizeof(*j));
        int r;

        /* The view's root is brig_memory_view_of()'s. */
        if (!j || asprintf(&view_root, "%s-view", w->memory_dir) < 0) {
                view_root = NULL;
                free(j);
                log_warning("environment %s: its memory is not removed: out of memory", id);
                return;
        }
        j->req.data = j;
        if ((r = brig_memory_scope_dir(w->memory_dir, BRIG_MEMORY_SCOPE_ENVIRONMENT, NULL, 0, id,
                                       &j->dirs[0], &err)) < 0 ||
            (r = brig_memory_scope_dir(view_root, BRIG_MEMORY_SCOPE_ENVIRONMENT, NULL, 0, id, &j->dirs[1],
                                       &err)) < 0 ||
            (r = uv_queue_work(w->loop, &j->req, forget_work_cb, forget_after_cb)) < 0) {
                log_warning("environment %s: its memory is not removed: %s", id,
                            err.code ? err.msg : uv_strerror(r));
                forget_job_free(j);
        }
}
