/* SPDX-License-Identifier: MIT */
/* Exporting an environment (env_export.h): the snapshot taken in its queue, then the archive written on the
 * thread pool (env_archive_write.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "tools/history.h"
#include "tools/registry.h"
#include "worker/env.h"
#include "worker/env_archive.h"
#include "worker/env_archive_write.h"
#include "worker/env_export.h"
#include "worker/toolpool.h"
#include "worker/worker.h"

typedef struct export_op {
        uv_work_t req;
        brig_env *env; /* held until the end */
        brig_env_export_cb cb;
        void *userdata;
        brig_env_export_result res;

        /* Copied on the loop thread, used on the work thread. */
        char *path, *git_dir, *processes_dir, *meta;
        int out_fd; /* the client's, or -1 */
        int64_t exported_at;
        brig_error err;
        int r;
} export_op;

static void op_free(export_op *op) {
        if (op->out_fd >= 0)
                (void) close(op->out_fd);
        free(op->path);
        free(op->git_dir);
        free(op->processes_dir);
        free(op->meta);
        free(op);
}

static void work_cb(uv_work_t *req) {
        export_op *op = req->data;
        _cleanup_close_ int fd = -1;
        const brig_archive_source src = {
                .meta = op->meta,
                .git_dir = op->git_dir,
                .snapshot = op->res.snapshot,
                .processes_dir = op->processes_dir,
                .mtime = op->exported_at,
        };

        if (op->out_fd >= 0) {
                op->r = brig_archive_write(op->out_fd, &src, &op->res.bytes, op->res.sha256, &op->err);
                return;
        }
        if ((fd = open(op->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
                op->r = brig_error_set_errno(&op->err, -errno, BRIG_KIND_IO, "export: create the archive");
                return;
        }
        if ((op->r = brig_archive_write(fd, &src, &op->res.bytes, op->res.sha256, &op->err)) < 0)
                (void) unlink(op->path);
        /* For the reads that serve it, which then never block the loop on a path lookup. */
        else if ((op->res.fd = open(op->path, O_RDONLY | O_CLOEXEC)) < 0) {
                op->r = brig_error_set_errno(&op->err, -errno, BRIG_KIND_IO, "export: reopen the archive");
                (void) unlink(op->path);
        }
}

static void finish(export_op *op, const brig_error *err) {
        if (err)
                log_warning("export of %s: %s", op->env->id, err->msg);
        else
                log_info("environment %s exported at %.12s: %llu bytes", op->env->id, op->res.snapshot,
                         (unsigned long long) op->res.bytes);
        op->cb(err ? NULL : &op->res, err, op->userdata);
        if (op->res.fd >= 0)
                (void) close(op->res.fd);
        brig__env_release(op->env);
        op_free(op);
}

static void after_cb(uv_work_t *req, int status) {
        export_op *op = req->data;
        brig_error err = BRIG_ERROR_INIT;

        if (op->r < 0) {
                finish(op, &op->err);
                return;
        }
        if (status < 0) {
                if (op->res.fd >= 0)
                        (void) close(op->res.fd);
                op->res.fd = -1;
                if (op->out_fd < 0)
                        (void) unlink(op->path);
                (void) brig_error_set(&err, status, BRIG_KIND_INTERNAL, "export cancelled");
                finish(op, &err);
                return;
        }
        finish(op, NULL);
}

/* In the environment's queue: the snapshot exported. */
static int export_point(brig_history *h, void *userdata, brig_error *err) {
        export_op *op = userdata;
        _cleanup_json_ cJSON *snap = NULL;
        const cJSON *id;
        int r;

        if ((r = brig_history_snapshot(h, "export", NULL, "export", &snap, err)) < 0)
                return r;
        id = cJSON_GetObjectItemCaseSensitive(snap, "id");
        if (!cJSON_IsString(id) || strlen(id->valuestring) != 40)
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "export: snapshot without an id");
        memcpy(op->res.snapshot, id->valuestring, sizeof(op->res.snapshot));
        return 0;
}

static char *meta_text(const export_op *op) {
        const brig_env *env = op->env;
        _cleanup_json_ cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "format", BRIG_ARCHIVE_FORMAT) ||
            !cJSON_AddNumberToObject(o, "version", BRIG_ARCHIVE_VERSION) ||
            !cJSON_AddStringToObject(o, "id", env->id) ||
            !cJSON_AddNumberToObject(o, "owner", (double) env->owner) ||
            !cJSON_AddStringToObject(o, "policy", env->policy_key) ||
            !cJSON_AddStringToObject(o, "policy_digest", env->policy->policy->digest) ||
            !cJSON_AddNumberToObject(o, "created", (double) env->created) ||
            !cJSON_AddNumberToObject(o, "last_used", (double) env->last_used) ||
            !cJSON_AddNumberToObject(o, "exported_at", (double) op->exported_at) ||
            !cJSON_AddStringToObject(o, "snapshot", op->res.snapshot) ||
            !cJSON_AddStringToObject(o, "brig_version", BRIG_VERSION))
                return NULL;
        return cJSON_Print(o);
}

static void point_done_cb(brig_toolpool_result *res, void *userdata) {
        export_op *op = userdata;
        brig_env *env = op->env;
        brig_error err = BRIG_ERROR_INIT;
        int r;

        if (res->error.code) {
                finish(op, &res->error);
                return;
        }
        if (env->destroyed || !env->policy) {
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                      "environment \"%s\" was destroyed during the export", env->id);
                finish(op, &err);
                return;
        }
        op->exported_at = (int64_t) time(NULL);
        if (asprintf(&op->git_dir, "%s/history.git", env->dir) < 0 ||
            asprintf(&op->processes_dir, "%s/processes", env->dir) < 0 || !(op->meta = meta_text(op))) {
                (void) brig_error_oom(&err);
                finish(op, &err);
                return;
        }
        if ((r = uv_queue_work(env->w->loop, &op->req, work_cb, after_cb)) < 0) {
                (void) brig_error_set(&err, r, BRIG_KIND_INTERNAL, "export: queue: %s", uv_strerror(r));
                finish(op, &err);
        }
}

int brig_env_export(brig_env *env, int out_fd, brig_env_export_cb cb, void *userdata, brig_error *err) {
        _cleanup_close_ int out = out_fd;
        unsigned char rnd[BRIG_ENV_EXPORT_TOKEN_LEN / 2];
        export_op *op;
        int r;

        if (!env->policy)
                return brig_error_set(err, -ENOENT, BRIG_KIND_POLICY,
                                      "environment \"%s\": its policy \"%.100s\" is not loaded", env->id,
                                      env->policy_key);
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "export: random token");
        if (!(op = calloc(1, sizeof(*op))))
                return brig_error_oom(err);
        op->out_fd = TAKE_FD(out);
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(op->res.token + 2 * i, 3, "%02x", rnd[i]);
        if (asprintf(&op->path, "%s/" BRIG_ENV_EXPORT_PREFIX "%s.brig", env->w->envs_dir, op->res.token) <
            0) {
                op->path = NULL;
                op_free(op);
                return brig_error_oom(err);
        }
        op->res.path = op->out_fd >= 0 ? NULL : op->path;
        op->res.fd = -1;
        op->req.data = op;
        op->env = env;
        op->cb = cb;
        op->userdata = userdata;
        op->err = (brig_error) BRIG_ERROR_INIT;
        brig__env_hold(env);
        if ((r = brig_toolpool_run_history(env, export_point, op, point_done_cb, op, err)) < 0) {
                brig__env_release(env);
                op_free(op);
                return r;
        }
        return 0;
}
