/* SPDX-License-Identifier: MIT */
/* Importing an environment archive (env_import.h): its metadata read on the thread pool for the id, the
 * environment registered on the loop, unpacked aside on the thread pool, then renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "tools/process.h"
#include "worker/env.h"
#include "worker/env_archive.h"
#include "worker/env_disk.h"
#include "worker/env_import.h"
#include "worker/env_registry.h"
#include "worker/worker.h"

typedef struct import_op {
        uv_work_t req;
        brig_worker *w;
        brig_env *dst; /* held once registered */
        char *path, *as, *policy_key;
        bool admin;
        uid_t owner;
        brig_env_import_cb cb;
        void *userdata;
        brig_archive_info info;

        /* Copied on the loop thread, used on the work thread. */
        char *tmp, *final, *envs_dir, *meta;
        bool chown;
        uid_t uid;
        gid_t gid;
        brig_archive_limits limits;
        char *pause_file; /* BRIG_TEST_IMPORT_PAUSE */
        bool digest_matches;
        brig_error err;
        int r;
} import_op;

static void op_free(import_op *op) {
        free(op->path);
        free(op->as);
        free(op->policy_key);
        free(op->tmp);
        free(op->final);
        free(op->envs_dir);
        free(op->meta);
        free(op->pause_file);
        free(op);
}

/* Ends the import: the new environment is either complete and visible, or gone with nothing of it left. */
static void finish(import_op *op, const brig_error *err) {
        brig_env *dst = op->dst;

        if (err) {
                log_warning("import of an archive into %s: %s", dst ? dst->id : "a new environment",
                            err->msg);
                if (dst) {
                        dst->destroyed = true;
                        dst->processes.dir_removed = true;
                        brig__env_unlink(dst);
                }
                op->cb(NULL, NULL, false, err, op->userdata);
        } else {
                dst->disk.forking = false;
                dst->disk.present = true;
                log_info("environment %s imported (archive of %s at %.12s)", dst->id, op->info.id,
                         op->info.snapshot);
                op->cb(dst, &op->info, op->digest_matches, NULL, op->userdata);
        }
        if (dst)
                brig__env_release(dst);
        op_free(op);
}

static int build(import_op *op) {
        brig_error *err = &op->err;
        _cleanup_close_ int archive = -1, dest = -1;
        brig_archive_info again;
        struct statvfs sv;
        int r;

        /* Left by an import of this id that failed and could not clean up: the id is ours now. */
        if ((r = brig_rm_rf(op->tmp)) < 0 && r != -ENOENT)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "import: remove '%s'", op->tmp);
        if (mkdir(op->tmp, 0711) < 0 || (dest = open(op->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "import: create '%s'", op->tmp);
        /* Over what the filesystem has free, the import would fill the disk before it fails. */
        if (fstatvfs(dest, &sv) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "import: free space of '%s'",
                                            op->tmp);
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        if (!op->limits.total || avail < op->limits.total)
                op->limits.total = avail;
        if ((archive = open(op->path, O_RDONLY | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "import: open the archive");
        if ((r = brig_archive_extract(archive, dest, &op->limits, op->chown ? op->uid : (uid_t) -1, op->gid,
                                      &again, err)) < 0)
                return r;
        /* The file is the caller's upload, which nobody else writes: the same metadata. */
        if (strcmp(again.format, op->info.format) != 0 || strcmp(again.id, op->info.id) != 0 ||
            strcmp(again.snapshot, op->info.snapshot) != 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "archive entry \"" BRIG_ARCHIVE_META "\": changed during the import");
        if ((r = brig__env_meta_write(op->tmp, op->meta, op)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "import: write the metadata");
        if (op->pause_file)
                brig__env_test_pause(op->pause_file);
        if ((r = brig__env_move_into_place(op->tmp, op->final, op->envs_dir)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "import: move into place");
        /* Nothing else looks at an environment being built: its processes are ours to load here. */
        if (brig_process_table_load(&op->dst->processes) < 0) {
                (void) brig_rm_rf(op->final);
                return brig_error_oom(err);
        }
        return 0;
}

static void build_work_cb(uv_work_t *req) {
        import_op *op = (import_op *) req;

        if ((op->r = build(op)) < 0)
                (void) brig_rm_rf(op->tmp);
}

static void build_after_cb(uv_work_t *req, int status) {
        import_op *op = (import_op *) req;
        brig_error err = BRIG_ERROR_INIT;

        if (op->r < 0) {
                finish(op, &op->err);
                return;
        }
        if (status < 0) {
                (void) brig_error_set(&err, status, BRIG_KIND_INTERNAL, "import cancelled");
                finish(op, &err);
                return;
        }
        finish(op, NULL);
}

static int copy_inputs(import_op *op, const brig_policy *p) {
        brig_env *dst = op->dst;
        brig_worker *w = op->w;
        const char *pause = secure_getenv("BRIG_TEST_IMPORT_PAUSE");

        if (asprintf(&op->tmp, "%s/" BRIG_ENV_IMPORT_PREFIX "%s", w->envs_dir, dst->id) < 0 ||
            !(op->final = strdup(dst->dir)) || !(op->envs_dir = strdup(w->envs_dir)) ||
            !(op->meta = brig__env_meta_text(dst)) || (pause && !(op->pause_file = strdup(pause))))
                return -ENOMEM;
        op->chown = dst->identity.root;
        op->uid = dst->identity.uid_outside;
        op->gid = dst->identity.gid_outside;
        op->limits =
                (brig_archive_limits){.file_size = p->limits.file_size_bytes, .total = p->filesystem.quota};
        op->digest_matches = strcmp(op->info.policy_digest, p->digest) == 0;
        return 0;
}

static int find_policy(brig_worker *w, const char *key, bool admin, const brig_policy_entry **ret,
                       brig_error *err) {
        int r;

        if (!key)
                *ret = w->default_policy;
        else if ((r = brig_policies_get(&w->policies, key, admin, ret, err)) < 0)
                return r;
        if (!*ret)
                return brig_error_set(err, -ENOENT, BRIG_KIND_POLICY, "no default policy: name one");
        /* The image is made empty and mounted before anything is written (worker/env_quota.h). */
        if ((*ret)->policy->filesystem.quota && (*ret)->policy->filesystem.quota_enforce == BRIG_QUOTA_HARD)
                return brig_error_set(err, -EOPNOTSUPP, BRIG_KIND_POLICY,
                                      "policy \"%.100s\" requires a hard workspace quota: an imported "
                                      "environment cannot have one yet",
                                      (*ret)->name);
        return 0;
}

/* The archive's metadata is read: register the environment and unpack it aside. */
static int registered(import_op *op, brig_error *err) {
        brig_worker *w = op->w;
        const brig_policy_entry *policy;
        const char *id = op->as ? op->as : op->info.id;
        int r;

        if (brig_env_id_check(id, err) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "the archive's environment id \"%.100s\" is not valid here: pass --as",
                                      id);
        if (brig_env_find(w, id))
                return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                                      "environment \"%s\" exists (pass --as)", id);
        if (w->n_envs >= BRIG_MAX_ENVIRONMENTS)
                return brig_error_set(err, -ENOSPC, BRIG_KIND_LIMIT, "more than %d environments",
                                      BRIG_MAX_ENVIRONMENTS);
        /* Again: a reload may have changed it meanwhile. */
        if ((r = find_policy(w, op->policy_key, op->admin, &policy, err)) < 0)
                return r;
        if (!(op->dst = brig__env_new(w, id, op->owner, op->policy_key ? op->policy_key : policy->name,
                                      policy)))
                return brig_error_oom(err);
        op->dst->disk.forking = true;
        brig__env_hold(op->dst);
        if (op->info.created)
                op->dst->created = (int64_t) op->info.created;
        if (copy_inputs(op, policy->policy) < 0)
                return brig_error_oom(err);
        op->err = (brig_error) BRIG_ERROR_INIT;
        if ((r = uv_queue_work(w->loop, &op->req, build_work_cb, build_after_cb)) < 0)
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "import: queue: %s", uv_strerror(r));
        return 0;
}

static void info_work_cb(uv_work_t *req) {
        import_op *op = (import_op *) req;
        _cleanup_close_ int fd = open(op->path, O_RDONLY | O_CLOEXEC);

        op->r = fd < 0 ? brig_error_set_errno(&op->err, -errno, BRIG_KIND_IO, "import: open the archive")
                       : brig_archive_read_info(fd, &op->info, &op->err);
        if (op->r >= 0 && strcmp(op->info.format, BRIG_ARCHIVE_FORMAT) != 0)
                op->r = brig_error_set(&op->err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                       "archive entry \"" BRIG_ARCHIVE_META "\": a %s archive, not an "
                                       "environment's (`brig memory import` takes memory archives)",
                                       op->info.format);
}

static void info_after_cb(uv_work_t *req, int status) {
        import_op *op = (import_op *) req;
        brig_error err = BRIG_ERROR_INIT;

        if (op->r < 0)
                finish(op, &op->err);
        else if (status < 0) {
                (void) brig_error_set(&err, status, BRIG_KIND_INTERNAL, "import cancelled");
                finish(op, &err);
        } else if (registered(op, &err) < 0)
                finish(op, &err);
}

int brig_env_import(brig_worker *w, const char *path, const char *as, const char *policy_key,
                    const struct ucred *peer, brig_env_import_cb cb, void *userdata, brig_error *err) {
        bool admin = peer->uid == 0 || brig__worker_is_admin(w, peer->uid);
        const brig_policy_entry *policy;
        import_op *op;
        int r;

        if (as && (r = brig_env_id_check(as, err)) < 0)
                return r;
        if ((r = find_policy(w, policy_key, admin, &policy, err)) < 0)
                return r;
        if (!(op = calloc(1, sizeof(*op))) || !(op->path = strdup(path)) || (as && !(op->as = strdup(as))) ||
            (policy_key && !(op->policy_key = strdup(policy_key)))) {
                if (op)
                        op_free(op);
                return brig_error_oom(err);
        }
        op->req.data = op;
        op->w = w;
        op->admin = admin;
        op->owner = peer->uid;
        op->cb = cb;
        op->userdata = userdata;
        if ((r = uv_queue_work(w->loop, &op->req, info_work_cb, info_after_cb)) < 0) {
                op_free(op);
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "import: queue: %s", uv_strerror(r));
        }
        return 0;
}
