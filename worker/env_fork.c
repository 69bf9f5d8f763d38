/* SPDX-License-Identifier: MIT */
/* Forking an environment (env_fork.h): the fork point taken in the source's queue, the new environment
 * built aside on the thread pool (shared history objects, the workspace checked out from them, its quota
 * checked, its metadata), then renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/json.h"
#include "sandbox/policy.h"
#include "tools/history.h"
#include "tools/registry.h"
#include "tools/wsusage.h"
#include "worker/env.h"
#include "worker/env_disk.h"
#include "worker/env_fork.h"
#include "worker/env_registry.h"
#include "worker/toolpool.h"
#include "worker/worker.h"

typedef struct fork_op {
        uv_work_t req;
        brig_env *src, *dst;              /* both held until the end */
        char *snapshot;                   /* as asked; NULL: now */
        char commit[41];                  /* the fork point */
        brig_history_fork_source *source; /* the source's files that may be copied; NULL: none */
        brig_env_fork_cb cb;
        void *userdata;

        /* Copied on the loop thread, used on the work thread. */
        char *src_git, *tmp, *tmp_ws, *tmp_git, *final, *final_ws, *envs_dir, *meta;
        bool chown;
        uid_t uid;
        gid_t gid;
        uint64_t quota;
        brig_history_options hopts; /* exclude borrowed from the new environment's policy */
        char *pause_file;           /* BRIG_TEST_FORK_PAUSE: before the rename */
        char *copy_pause_file;      /* BRIG_TEST_FORK_COPY_PAUSE: between the fork point and the files */
        brig_error err;
        int r;
} fork_op;

static void op_free(fork_op *op) {
        brig_history_fork_source_free(op->source);
        free(op->snapshot);
        free(op->src_git);
        free(op->tmp);
        free(op->tmp_ws);
        free(op->tmp_git);
        free(op->final);
        free(op->final_ws);
        free(op->envs_dir);
        free(op->meta);
        free(op->pause_file);
        free(op->copy_pause_file);
        free(op);
}

/* Ends the fork: the new environment is either complete and visible, or gone with nothing of it left. */
static void finish(fork_op *op, const brig_error *err) {
        brig_env *dst = op->dst, *src = op->src;

        if (err) {
                log_warning("fork of %s into %s: %s", src->id, dst->id, err->msg);
                dst->destroyed = true;
                dst->processes.dir_removed = true;
                brig__env_unlink(dst);
                op->cb(NULL, NULL, err, op->userdata);
        } else {
                dst->disk.forking = false;
                dst->disk.present = true;
                log_info("environment %s forked from %s at %.12s", dst->id, src->id, op->commit);
                op->cb(dst, op->commit, NULL, op->userdata);
        }
        brig__env_release(dst);
        brig__env_release(src);
        op_free(op);
}

/* In the source's queue: the fork point. */
static int fork_point(brig_history *h, void *userdata, brig_error *err) {
        fork_op *op = userdata;
        _cleanup_json_ cJSON *snap = NULL;
        struct timespec before;
        const cJSON *id;
        int r;

        if (op->snapshot)
                return brig_history_resolve_id(h, op->snapshot, "params.snapshot", op->commit, err);
        /* The clock file timestamps come from (see brig_history_fork_source_new()). */
        if (clock_gettime(CLOCK_REALTIME_COARSE, &before) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "fork: clock");
        if ((r = brig_history_snapshot(h, "fork", NULL, "fork", &snap, err)) < 0)
                return r;
        id = cJSON_GetObjectItemCaseSensitive(snap, "id");
        if (!cJSON_IsString(id) || strlen(id->valuestring) != 40)
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "fork: snapshot without an id");
        memcpy(op->commit, id->valuestring, sizeof(op->commit));
        /* The workspace now holds the snapshot, but for files written since: the fork copies the others. */
        return brig_history_fork_source_new(h, &before, &op->source, err);
}

static int build(fork_op *op) {
        brig_error *err = &op->err;
        brig_wsusage u;
        int r;

        /* Left by a fork of this id that failed and could not clean up: the id is ours now. */
        if ((r = brig_rm_rf(op->tmp)) < 0 && r != -ENOENT)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "fork: remove '%s'", op->tmp);
        if (mkdir(op->tmp, 0711) < 0 || mkdir(op->tmp_ws, 0700) < 0 ||
            (op->chown && chown(op->tmp_ws, op->uid, op->gid) < 0))
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: create the workspace");
        if (op->copy_pause_file)
                brig__env_test_pause(op->copy_pause_file);
        if ((r = brig_history_fork(op->src_git, op->commit, op->tmp_git, op->tmp_ws, op->final_ws,
                                   &op->hopts, op->source, &u, err)) < 0)
                return r;
        if (op->quota) {
                if (u.bytes > op->quota)
                        return brig_error_set(err, -EDQUOT, BRIG_KIND_LIMIT,
                                              "fork: the workspace at snapshot %.12s takes %llu bytes, over "
                                              "the policy's workspace quota of %llu",
                                              op->commit, (unsigned long long) u.bytes,
                                              (unsigned long long) op->quota);
        }
        if ((r = brig__env_meta_write(op->tmp, op->meta, op)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "fork: write the metadata");
        if (op->pause_file)
                brig__env_test_pause(op->pause_file);
        if ((r = brig__env_move_into_place(op->tmp, op->final, op->envs_dir)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "fork: move into place");
        return 0;
}

static void build_work_cb(uv_work_t *req) {
        fork_op *op = (fork_op *) req;

        if ((op->r = build(op)) < 0)
                (void) brig_rm_rf(op->tmp);
}

static void build_after_cb(uv_work_t *req, int status) {
        fork_op *op = (fork_op *) req;
        brig_error err = BRIG_ERROR_INIT;

        if (op->r < 0) {
                finish(op, &op->err);
                return;
        }
        if (status < 0) {
                (void) brig_error_set(&err, status, BRIG_KIND_INTERNAL, "fork cancelled");
                finish(op, &err);
                return;
        }
        /* In place, but its source went meanwhile: a fork of a destroyed environment is not made. */
        if (op->src->destroyed) {
                brig__env_remove_dir(op->dst->w, op->final);
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                      "environment \"%s\" was destroyed during the fork", op->src->id);
                finish(op, &err);
                return;
        }
        finish(op, NULL);
}

static int copy_inputs(fork_op *op) {
        brig_env *src = op->src, *dst = op->dst;
        brig_worker *w = dst->w;
        const brig_policy *p = dst->policy->policy;
        const char *pause = secure_getenv("BRIG_TEST_FORK_PAUSE");
        const char *copy_pause = secure_getenv("BRIG_TEST_FORK_COPY_PAUSE");

        if (asprintf(&op->src_git, "%s/history.git", src->dir) < 0 ||
            asprintf(&op->tmp, "%s/" BRIG_ENV_FORK_PREFIX "%s", w->envs_dir, dst->id) < 0 ||
            asprintf(&op->tmp_ws, "%s/workspace", op->tmp) < 0 ||
            asprintf(&op->tmp_git, "%s/history.git", op->tmp) < 0 || !(op->final = strdup(dst->dir)) ||
            !(op->final_ws = strdup(dst->workspace)) || !(op->envs_dir = strdup(w->envs_dir)) ||
            !(op->meta = brig__env_meta_text(dst)) || (pause && !(op->pause_file = strdup(pause))) ||
            (copy_pause && !(op->copy_pause_file = strdup(copy_pause))))
                return -ENOMEM;
        op->chown = dst->identity.root;
        op->uid = dst->identity.uid_outside;
        op->gid = dst->identity.gid_outside;
        op->quota = p->filesystem.quota;
        op->hopts = (brig_history_options){
                .exclude = p->history.exclude,
                .max_file_size = p->history.max_file_size,
                .author = "brig",
        };
        return 0;
}

/* The fork point is taken (or could not be): build the new environment aside. */
static void point_done_cb(brig_toolpool_result *res, void *userdata) {
        fork_op *op = userdata;
        brig_error err = BRIG_ERROR_INIT;
        int r;

        if (res->error.code) {
                finish(op, &res->error);
                return;
        }
        if (op->src->destroyed) {
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                      "environment \"%s\" was destroyed during the fork", op->src->id);
                finish(op, &err);
                return;
        }
        if (copy_inputs(op) < 0) {
                (void) brig_error_oom(&err);
                finish(op, &err);
                return;
        }
        op->err = (brig_error) BRIG_ERROR_INIT;
        if ((r = uv_queue_work(op->dst->w->loop, &op->req, build_work_cb, build_after_cb)) < 0) {
                (void) brig_error_set(&err, r, BRIG_KIND_INTERNAL, "fork: queue: %s", uv_strerror(r));
                finish(op, &err);
        }
}

int brig_env_fork(brig_env *src, const char *snapshot, const char *as, const char *policy_key,
                  const struct ucred *peer, brig_env_fork_cb cb, void *userdata, brig_error *err) {
        brig_worker *w = src->w;
        const brig_policy_entry *policy = src->policy;
        fork_op *op;
        int r;

        /* Its history's work runs with its policy (worker/toolpool.h). */
        if (!src->policy)
                return brig_error_set(err, -ENOENT, BRIG_KIND_POLICY,
                                      "environment \"%s\": its policy \"%.100s\" is not loaded", src->id,
                                      src->policy_key);
        if ((r = brig_env_id_check(as, err)) < 0)
                return r;
        if (brig_env_find(w, as))
                return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT, "environment \"%s\" exists",
                                      as);
        if (w->n_envs >= BRIG_MAX_ENVIRONMENTS)
                return brig_error_set(err, -ENOSPC, BRIG_KIND_LIMIT, "more than %d environments",
                                      BRIG_MAX_ENVIRONMENTS);
        if (policy_key) {
                bool admin = peer->uid == 0 || brig__worker_is_admin(w, peer->uid);
                if ((r = brig_policies_get(&w->policies, policy_key, admin, &policy, err)) < 0)
                        return r;
        } else
                policy_key = src->policy_key;
        /* The image is made empty and mounted before anything is written (worker/env_quota.h). */
        if (policy->policy->filesystem.quota && policy->policy->filesystem.quota_enforce == BRIG_QUOTA_HARD)
                return brig_error_set(err, -EOPNOTSUPP, BRIG_KIND_POLICY,
                                      "policy \"%.100s\" requires a hard workspace quota: an environment "
                                      "forked into it cannot have one yet",
                                      policy_key);
        if (!(op = calloc(1, sizeof(*op))) || (snapshot && !(op->snapshot = strdup(snapshot)))) {
                free(op);
                return brig_error_oom(err);
        }
        op->req.data = op;
        op->cb = cb;
        op->userdata = userdata;
        op->src = src;
        if (!(op->dst = brig__env_new(w, as, peer->uid, policy_key, policy))) {
                op_free(op);
                return brig_error_oom(err);
        }
        op->dst->disk.forking = true;
        brig__env_hold(op->dst);
        brig__env_hold(src);
        if ((r = brig_toolpool_run_history(src, fork_point, op, point_done_cb, op, err)) < 0) {
                op->dst->destroyed = true;
                brig__env_unlink(op->dst);
                brig__env_release(op->dst);
                brig__env_release(src);
                op_free(op);
                return r;
        }
        return 0;
}
