/* SPDX-License-Identifier: MIT */
/* Workspace quotas of environments: deciding between a hard quota (the workspace on a filesystem image,
 * sandbox/wsimage.h) and the soft one (worker/mcp.c refuses writing calls once a measured workspace is
 * over it), setting the image up off the loop thread before anything uses the workspace, describing the
 * outcome for brig env info, and unmounting before an environment's directory is removed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "sandbox/wsimage.h"
#include "worker/env.h"
#include "worker/env_quota.h"
#include "worker/policies.h"
#include "worker/worker.h"

/* Whether this process can make images: asked once (it cannot change while brigd runs). */
static int probe_r = 1;
static char probe_why[160];

static int probe(void) {
        if (probe_r > 0)
                probe_r = brig_wsimage_probe(probe_why, sizeof(probe_why));
        return probe_r;
}

typedef struct quota_job {
        uv_work_t req;
        brig_env *env; /* held */
        char *image, *workspace;
        uint64_t bytes;
        uid_t uid;
        gid_t gid;
        bool create; /* no image yet: make one (the workspace must be empty) */
        uint64_t got_bytes;
        brig_error err;
        int r;
} quota_job;

static int dir_is_empty(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        int r = 1;

        if (!d)
                return -errno;
        while (r == 1 && (de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = 0;
        closedir(d);
        return r;
}

static void job_work_cb(uv_work_t *req) {
        quota_job *j = (quota_job *) req;
        struct stat st;
        int r;

        if (j->create) {
                /* Files written before the quota existed would vanish under the new mount. */
                if ((r = dir_is_empty(j->workspace)) <= 0) {
                        j->r = r < 0 ? brig_error_set_errno(&j->err, r, BRIG_KIND_IO, "read workspace")
                                     : brig_error_set(&j->err, -ENOTEMPTY, BRIG_KIND_SANDBOX,
                                                      "the workspace has files from before its quota");
                        return;
                }
                if ((j->r = brig_wsimage_create(j->image, j->bytes, &j->err)) < 0)
                        return;
        }
        j->r = brig_wsimage_mount(j->image, j->workspace, j->uid, j->gid, j->create, &j->err);
        if (j->r < 0 && j->create)
                (void) unlink(j->image);
        else if (j->r >= 0 && stat(j->image, &st) == 0)
                j->got_bytes = (uint64_t) st.st_size;
}

static void fire(brig_env *env, const brig_error *err) {
        brig_env_quota_waiter *list = env->quota.waiters;

        env->quota.waiters = NULL;
        while (list) {
                brig_env_quota_waiter *next = list->next;
                list->cb(env, err, list->userdata);
                free(list);
                list = next;
        }
}

static void soft(brig_env *env, const char *why) {
        env->quota.mode = BRIG_ENV_QUOTA_SOFT;
        (void) snprintf(env->quota.reason, sizeof(env->quota.reason), "%s", why);
        if (env->policy && env->policy->policy->workspace_quota)
                log_info("environment %s: soft workspace quota: %s", env->id, why);
}

static void job_after_cb(uv_work_t *req, int status) {
        quota_job *j = (quota_job *) req;
        brig_env *env = j->env;
        const brig_policy *p = env->policy ? env->policy->policy : NULL;

        env->quota.preparing = false;
        if (status < 0 && j->r >= 0)
                j->r = brig_error_set(&j->err, status, BRIG_KIND_INTERNAL, "cancelled");
        if (j->r >= 0) {
                env->quota.mode = BRIG_ENV_QUOTA_HARD;
                env->quota.bytes = j->got_bytes;
                log_info("environment %s: hard workspace quota of %llu bytes", env->id,
                         (unsigned long long) j->got_bytes);
                fire(env, NULL);
        } else if (j->create && p && p->workspace_quota_enforce != BRIG_QUOTA_HARD) {
                soft(env, j->err.msg);
                fire(env, NULL);
        } else {
                /* An image that does not mount leaves the workspace unavailable, whatever the policy: its
                 * files are in the image, and anything written beside it would vanish at the next mount. */
                brig_error_prefix(&j->err, "environment \"%s\": workspace quota", env->id);
                (void) log_error_errno(j->r, "%s", j->err.msg);
                fire(env, &j->err);
        }
        free(j->image);
        free(j->workspace);
        free(j);
        brig__env_release(env);
}

static void wait_for(brig_env *env, brig_env_quota_cb cb, void *userdata) {
        brig_env_quota_waiter *wt = calloc(1, sizeof(*wt));
        brig_error err = BRIG_ERROR_INIT;

        if (!wt) {
                (void) brig_error_set(&err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
                cb(env, &err, userdata);
                return;
        }
        wt->cb = cb;
        wt->userdata = userdata;
        wt->next = env->quota.waiters;
        env->quota.waiters = wt;
}

static int start_job(brig_env *env, const char *image, bool create, brig_error *err) {
        const brig_identity *id = &env->identity;
        quota_job *j = calloc(1, sizeof(*j));

        if (!j || !(j->image = strdup(image)) || !(j->workspace = strdup(env->workspace))) {
                if (j)
                        free(j->image);
                free(j);
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        }
        j->env = env;
        j->create = create;
        j->bytes = env->policy->policy->workspace_quota;
        j->uid = id->root ? id->uid_outside : getuid();
        j->gid = id->root ? id->gid_outside : getgid();
        j->err = (brig_error) BRIG_ERROR_INIT;
        int r = uv_queue_work(env->w->loop, &j->req, job_work_cb, job_after_cb);
        if (r < 0) {
                free(j->image);
                free(j->workspace);
                free(j);
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "queue workspace quota set-up: %s",
                                      uv_strerror(r));
        }
        brig__env_hold(env);
        env->quota.preparing = true;
        return 0;
}

void brig__env_quota_ready(brig_env *env, brig_env_quota_cb cb, void *userdata) {
        const brig_policy *p = env->policy ? env->policy->policy : NULL;
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_free_ char *image = NULL;
        struct stat st;

        if (env->quota.mode != BRIG_ENV_QUOTA_UNSET || !p) {
                cb(env, NULL, userdata);
                return;
        }
        if (env->quota.preparing) {
                wait_for(env, cb, userdata);
                return;
        }
        if (brig_env_ensure_on_disk(env, &err) < 0) {
                cb(env, &err, userdata);
                return;
        }
        if (asprintf(&image, "%s/" BRIG_WSIMAGE_NAME, env->dir) < 0) {
                (void) brig_error_set(&err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
                cb(env, &err, userdata);
                return;
        }
        /* A small stat on the loop thread, like the directory's mkdir before it. */
        bool have_image = lstat(image, &st) == 0;
        if (!have_image && p->workspace_quota == 0) {
                env->quota.mode = BRIG_ENV_QUOTA_OFF;
                cb(env, NULL, userdata);
                return;
        }
        if (!have_image && p->workspace_quota_enforce == BRIG_QUOTA_SOFT) {
                soft(env, "the policy asks for a soft quota");
                cb(env, NULL, userdata);
                return;
        }
        if (probe() < 0) {
                if (have_image)
                        (void) brig_error_set(&err, -EPERM, BRIG_KIND_SANDBOX,
                                              "environment \"%s\": its workspace is on a filesystem image, "
                                              "which cannot be mounted here: %s",
                                              env->id, probe_why);
                else if (p->workspace_quota_enforce == BRIG_QUOTA_HARD)
                        (void) brig_error_set(
                                &err, -EOPNOTSUPP, BRIG_KIND_SANDBOX,
                                "environment \"%s\": policy \"%.64s\" requires a hard workspace "
                                "quota, but %s",
                                env->id, p->name, probe_why);
                if (err.code) {
                        (void) log_error_errno(err.code, "%s", err.msg);
                        cb(env, &err, userdata);
                        return;
                }
                soft(env, probe_why);
                cb(env, NULL, userdata);
                return;
        }
        if (start_job(env, image, !have_image, &err) < 0) {
                cb(env, &err, userdata);
                return;
        }
        wait_for(env, cb, userdata);
}

bool brig__env_quota_describe(const brig_env *env, cJSON *o) {
        const brig_policy *p = env->policy ? env->policy->policy : NULL;
        const brig_env_quota *q = &env->quota;
        uint64_t bytes = q->mode == BRIG_ENV_QUOTA_HARD ? q->bytes : p ? p->workspace_quota : 0;
        const char *mode, *reason = NULL;

        if (bytes == 0)
                return true;
        brig_quota_enforce enforce = p ? p->workspace_quota_enforce : BRIG_QUOTA_AUTO;
        switch (q->mode) {
        case BRIG_ENV_QUOTA_HARD:
                mode = "hard";
                break;
        case BRIG_ENV_QUOTA_SOFT:
                mode = "soft";
                reason = q->reason;
                break;
        case BRIG_ENV_QUOTA_UNSET:
        case BRIG_ENV_QUOTA_OFF:
        default:
                /* Not set up yet in this worker's life: what it will be, where that is known. */
                if (enforce == BRIG_QUOTA_SOFT) {
                        mode = "soft";
                        reason = "the policy asks for a soft quota";
                } else if (probe() < 0) {
                        mode = enforce == BRIG_QUOTA_HARD ? "unavailable" : "soft";
                        reason = probe_why;
                } else {
                        mode = "pending";
                        reason = "set up when the environment is next used";
                }
                break;
        }
        cJSON *qo = cJSON_AddObjectToObject(o, "quota");
        return qo && cJSON_AddNumberToObject(qo, "bytes", (double) bytes) &&
               cJSON_AddStringToObject(qo, "enforce", brig_quota_enforce_name(enforce)) &&
               cJSON_AddStringToObject(qo, "mode", mode) &&
               (!reason || cJSON_AddStringToObject(qo, "reason", reason));
}

int brig__env_rm_dir(const char *dir) {
        _cleanup_free_ char *ws = NULL;
        int r;

        if (asprintf(&ws, "%s/workspace", dir) < 0)
                return -ENOMEM;
        /* Removing files through a mount that stays would leave the mount, its loop device and the image's
         * space behind. */
        if ((r = brig_wsimage_unmount(ws)) < 0)
                return r;
        return brig_rm_rf(dir);
}
