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

int brig__env_quota_setup_init(brig_env *env, brig_env_quota_setup *s, bool *ret_needed) {
        const brig_policy *p = env->policy ? env->policy->policy : NULL;
        const brig_identity *id = &env->identity;

        *s = (brig_env_quota_setup){.err = BRIG_ERROR_INIT};
        *ret_needed = false;
        if (env->limits.quota.mode != BRIG_ENV_QUOTA_UNSET || !p)
                return 0;
        if (asprintf(&s->image, "%s/" BRIG_WSIMAGE_NAME, env->dir) < 0) {
                s->image = NULL;
                return -ENOMEM;
        }
        if (!(s->workspace = strdup(env->workspace)) ||
            asprintf(&s->template_dir, "%s/" BRIG_ENV_TEMPLATES_DIR, env->w->envs_dir) < 0) {
                s->template_dir = NULL;
                brig__env_quota_setup_done(s);
                return -ENOMEM;
        }
        (void) snprintf(s->id, sizeof(s->id), "%s", env->id);
        (void) snprintf(s->policy_name, sizeof(s->policy_name), "%.64s", p->name);
        s->bytes = p->filesystem.quota;
        s->enforce = p->filesystem.quota_enforce;
        s->probe_r = probe();
        s->probe_why = probe_why;
        s->uid = id->root ? id->uid_outside : getuid();
        s->gid = id->root ? id->gid_outside : getgid();
        *ret_needed = true;
        return 0;
}

static void set_soft(brig_env_quota_setup *s, const char *why) {
        s->mode = BRIG_ENV_QUOTA_SOFT;
        (void) snprintf(s->reason, sizeof(s->reason), "%s", why);
}

/* The image: made (the workspace must be empty, files written before the quota existed would vanish under
 * the new mount) unless there is one, then mounted on the workspace. */
static void image_setup(brig_env_quota_setup *s, bool create) {
        struct stat st;
        int r;

        if (create) {
                if ((r = dir_is_empty(s->workspace)) <= 0) {
                        s->r = r < 0 ? brig_error_set_errno(&s->err, r, BRIG_KIND_IO, "read workspace")
                                     : brig_error_set(&s->err, -ENOTEMPTY, BRIG_KIND_SANDBOX,
                                                      "the workspace has files from before its quota");
                        return;
                }
                if ((s->r = brig_wsimage_create(s->image, s->bytes, s->template_dir, &s->err)) < 0)
                        return;
        }
        s->made = create;
        s->r = brig_wsimage_mount(s->image, s->workspace, s->uid, s->gid, create, &s->err);
        if (s->r < 0 && create)
                (void) unlink(s->image);
        else if (s->r >= 0 && stat(s->image, &st) == 0)
                s->got_bytes = (uint64_t) st.st_size;
}

void brig__env_quota_setup_run(brig_env_quota_setup *s) {
        struct stat st;
        bool have_image = lstat(s->image, &st) == 0;

        if (!have_image && s->bytes == 0) {
                s->mode = BRIG_ENV_QUOTA_OFF;
                return;
        }
        if (!have_image && s->enforce == BRIG_QUOTA_SOFT) {
                set_soft(s, "the policy asks for a soft quota");
                return;
        }
        if (s->probe_r < 0) {
                if (have_image)
                        s->r = brig_error_set(&s->err, -EPERM, BRIG_KIND_SANDBOX,
                                              "environment \"%s\": its workspace is on a filesystem image, "
                                              "which cannot be mounted here: %s",
                                              s->id, s->probe_why);
                else if (s->enforce == BRIG_QUOTA_HARD)
                        s->r = brig_error_set(&s->err, -EOPNOTSUPP, BRIG_KIND_SANDBOX,
                                              "environment \"%s\": policy \"%s\" requires a hard workspace "
                                              "quota, but %s",
                                              s->id, s->policy_name, s->probe_why);
                else
                        set_soft(s, s->probe_why);
                return;
        }
        image_setup(s, !have_image);
        if (s->r >= 0)
                s->mode = BRIG_ENV_QUOTA_HARD;
        else if (!have_image && s->enforce != BRIG_QUOTA_HARD) {
                set_soft(s, s->err.msg);
                s->r = 0;
                s->err = (brig_error) BRIG_ERROR_INIT;
        } else
                /* An image that does not mount leaves the workspace unavailable, whatever the policy: its
                 * files are in the image, and anything written beside it would vanish at the next mount. */
                (void) brig_error_prefix(&s->err, "environment \"%s\": workspace quota", s->id);
}

typedef struct ready_fill {
        uv_work_t req;
        char *template_dir;
        uint64_t bytes;
} ready_fill;

static void ready_fill_work_cb(uv_work_t *req) {
        ready_fill *f = (ready_fill *) req;
        brig_error err = BRIG_ERROR_INIT;

        if (brig_wsimage_fill_ready(f->template_dir, f->bytes, &err) < 0)
                log_warning("workspace images made ahead: %s; new ones are copied when needed", err.msg);
}

static void ready_fill_after_cb(uv_work_t *req, int status) {
        ready_fill *f = (ready_fill *) req;
        (void) status;
        free(f->template_dir);
        free(f);
}

/* Best effort: without ready copies a new image is copied on its environment's path, as it always could. */
static void ready_fill_queue(brig_worker *w, const brig_env_quota_setup *s) {
        ready_fill *f = calloc(1, sizeof(*f));

        if (!f || !(f->template_dir = strdup(s->template_dir))) {
                free(f);
                return;
        }
        f->bytes = s->bytes;
        if (uv_queue_work(w->loop, &f->req, ready_fill_work_cb, ready_fill_after_cb) < 0) {
                free(f->template_dir);
                free(f);
        }
}

int brig__env_quota_setup_apply(brig_env *env, brig_env_quota_setup *s, brig_error *err) {
        if (s->made)
                ready_fill_queue(env->w, s);
        if (s->r < 0) {
                *err = s->err;
                return log_error_errno(s->r, "%s", s->err.msg);
        }
        env->limits.quota.mode = s->mode;
        if (s->mode == BRIG_ENV_QUOTA_HARD) {
                env->limits.quota.bytes = s->got_bytes;
                log_info("environment %s: hard workspace quota of %llu bytes", env->id,
                         (unsigned long long) s->got_bytes);
        } else if (s->mode == BRIG_ENV_QUOTA_SOFT) {
                (void) snprintf(env->limits.quota.reason, sizeof(env->limits.quota.reason), "%s", s->reason);
                if (s->bytes)
                        log_info("environment %s: soft workspace quota: %s", env->id, s->reason);
        }
        return 0;
}

void brig__env_quota_setup_done(brig_env_quota_setup *s) {
        free(s->image);
        free(s->workspace);
        free(s->template_dir);
        s->image = s->workspace = s->template_dir = NULL;
}

bool brig__env_quota_describe(const brig_env *env, cJSON *o) {
        const brig_policy *p = env->policy ? env->policy->policy : NULL;
        const brig_env_quota *q = &env->limits.quota;
        uint64_t bytes = q->mode == BRIG_ENV_QUOTA_HARD ? q->bytes : p ? p->filesystem.quota : 0;
        const char *mode, *reason = NULL;

        if (bytes == 0)
                return true;
        brig_quota_enforce enforce = p ? p->filesystem.quota_enforce : BRIG_QUOTA_AUTO;
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
