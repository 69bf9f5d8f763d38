/* SPDX-License-Identifier: MIT */
/* An environment on disk: meta.json written whole and durably, the gate that prepares an environment's
 * directory, workspace, first metadata and workspace quota on the thread pool before anything uses it,
 * the removal of a directory, and, at start-up, the loading of what is on disk (quarantining what cannot be
 * read). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "tools/process.h"
#include "worker/env.h"
#include "worker/env_archive.h"
#include "worker/env_disk.h"
#include "worker/env_fork.h"
#include "worker/env_quota.h"
#include "worker/env_registry.h"
#include "worker/env_spares.h"
#include "worker/worker.h"

/* meta.json is what makes a directory an environment: written whole (a temporary file, fsync, rename,
 * fsync of the directory) or not at all. Creating an environment waits for the first write and fails with
 * it, so nothing exists that a restart could not attribute; later updates (last use) go to the thread pool
 * too, and one that fails leaves the previous, complete file in place. A directory whose metadata cannot be
 * read is quarantined at start-up (listed for root, never adopted: see brig_envs_load()). */

char *brig__env_meta_text(const brig_env *env) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddNumberToObject(o, "version", 1) || !cJSON_AddStringToObject(o, "id", env->id) ||
            !cJSON_AddNumberToObject(o, "owner_uid", env->owner) ||
            !cJSON_AddNumberToObject(o, "slot", env->slot) ||
            !cJSON_AddStringToObject(o, "policy", env->policy_key) ||
            !cJSON_AddBoolToObject(o, "ephemeral", env->ephemeral) ||
            !cJSON_AddNumberToObject(o, "created", (double) env->created) ||
            !cJSON_AddNumberToObject(o, "last_used", (double) env->last_used))
                return NULL;
        return cJSON_Print(o);
}

/* path holds text, durably (written whole, then fsync), or -errno; a failed write leaves it partial. */
static int write_synced(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        int r;

        if (fd < 0)
                return -errno;
        if ((r = brig_write_all(fd, text, strlen(text))) < 0)
                return r;
        return fsync(fd) < 0 ? -errno : 0;
}

int brig__env_meta_write(const char *dir, const char *text, const void *tag) {
        _cleanup_free_ char *tmp = NULL, *path = NULL;
        _cleanup_close_ int dfd = -1;
        int r;

        if (asprintf(&tmp, "%s/.meta.json.%p", dir, tag) < 0 || asprintf(&path, "%s/meta.json", dir) < 0)
                return -ENOMEM;
        r = write_synced(tmp, text);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        /* The rename itself must survive a crash too. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}

typedef struct meta_work {
        uv_work_t req;
        brig_env *env; /* held: its directory is not removed while this writes into it */
        char *dir, *text;
        int r;
} meta_work;

static void meta_work_cb(uv_work_t *req) {
        meta_work *mw = (meta_work *) req;
        mw->r = brig__env_meta_write(mw->dir, mw->text, mw);
}

static void meta_after_cb(uv_work_t *req, int status) {
        meta_work *mw = (meta_work *) req;
        if (status == 0 && mw->r < 0)
                (void) log_warning_errno(mw->r,
                                         "environment directory '%s': update metadata: %m; the previous "
                                         "metadata stays",
                                         mw->dir);
        brig_env *env = mw->env;
        free(mw->dir);
        free(mw->text);
        free(mw);
        brig__env_release(env);
}

int brig__env_meta_update(brig_env *env, brig_error *err) {
        meta_work *mw;

        /* A spare has no identity to keep: a worker that dies leaves it for the next one to remove. */
        if (env->spare.pooled || env->disk.quarantined)
                return 0;
        mw = calloc(1, sizeof(*mw));
        if (!mw || !(mw->dir = strdup(env->dir)) || !(mw->text = brig__env_meta_text(env))) {
                if (mw) {
                        free(mw->dir);
                        free(mw);
                }
                return brig_error_oom(err);
        }
        mw->env = env;
        if (uv_queue_work(env->w->loop, &mw->req, meta_work_cb, meta_after_cb) < 0) {
                free(mw->dir);
                free(mw->text);
                free(mw);
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL,
                                      "environment '%s': queue metadata write", env->id);
        }
        brig__env_hold(env);
        return 0;
}

int brig__env_quarantined_error(const brig_env *env, brig_error *err) {
        return brig_error_set(
                err, -EEXIST, BRIG_KIND_DENIED,
                "environment \"%s\" is quarantined: its directory '%s' has no readable metadata "
                "(%s); it is never adopted: an operator must inspect it and remove it "
                "(`brig env rm %s` as root) before the name can be used again",
                env->id, env->dir, env->disk.quarantine_reason ? env->disk.quarantine_reason : "missing",
                env->id);
}

/* --- the gate ----------------------------------------------------------------------------------------- */

typedef struct prepare_job {
        uv_work_t req;
        brig_env *env; /* held */
        char id[BRIG_ENV_ID_MAX + 1];
        bool create;   /* a new environment: its directory is made, and must not exist yet */
        bool leftover; /* in: the directory is what a failed creation of this one left; out: it still is */
        char *dir, *workspace;
        char *spare_dir, *envs_dir; /* adopting a spare: its directory takes the name dir */
        char *meta; /* the first metadata; NULL for a spare, which has none until it is adopted */
        bool chown;
        uid_t uid;
        gid_t gid;
        bool quota; /* its workspace quota is set up */
        brig_env_quota_setup qs;
        brig_error err;
        int r;
} prepare_job;

/* A new environment gets a new directory: one already there belongs to nobody we know of (a quarantined
 * leftover) and is never taken over. The jail's host uid must pass through it. Nothing half-created stays
 * behind on failure: what this made is empty but for a temporary metadata file. */
static int make_dir(prepare_job *j) {
        int r;

        if (mkdir(j->dir, 0711) == 0)
                return 0;
        /* Our own leftover (its removal failed, e.g. out of fds) is no stranger's directory: it goes. */
        if (errno == EEXIST && j->leftover) {
                if ((r = brig_rm_rf(j->dir)) < 0)
                        return brig_error_set_errno(&j->err, r, BRIG_KIND_IO,
                                                    "environment '%s': remove what a failed creation left",
                                                    j->id);
                j->leftover = false;
                if (mkdir(j->dir, 0711) == 0)
                        return 0;
        }
        if (errno != EEXIST)
                return brig_error_set_errno(&j->err, -errno, BRIG_KIND_IO, "environment '%s': create",
                                            j->id);
        return brig_error_set(&j->err, -EEXIST, BRIG_KIND_DENIED,
                              "environment \"%s\": its directory '%s' already exists without "
                              "metadata of this worker; it is never adopted: an operator must "
                              "inspect and remove it",
                              j->id, j->dir);
}

static void *quota_thread(void *arg) {
        brig__env_quota_setup_run(arg);
        return NULL;
}

/* The metadata's write (two fsyncs) and the workspace's quota (an image's loop device and mount) wait on
 * the disk and the kernel, not on each other: the quota is set up on a second thread meanwhile. Should the
 * metadata fail, the image goes with the directory (unmounted first). */
static int create_dir(prepare_job *j) {
        bool quota_thread_running = false;
        pthread_t quota_t;
        int r;

        if ((r = make_dir(j)) < 0)
                return r;
        if (mkdir(j->workspace, 0700) < 0)
                r = brig_error_set_errno(&j->err, -errno, BRIG_KIND_IO, "environment '%s': create workspace",
                                         j->id);
        else if (j->chown && chown(j->workspace, j->uid, j->gid) < 0)
                r = brig_error_set_errno(&j->err, -errno, BRIG_KIND_IO, "environment '%s': chown workspace",
                                         j->id);
        else {
                if (j->quota)
                        quota_thread_running = pthread_create(&quota_t, NULL, quota_thread, &j->qs) == 0;
                if (j->meta && (r = brig__env_meta_write(j->dir, j->meta, j)) < 0)
                        r = brig_error_set_errno(&j->err, r, BRIG_KIND_IO,
                                                 "environment \"%s\" not created: cannot write its metadata",
                                                 j->id);
        }
        if (quota_thread_running)
                (void) pthread_join(quota_t, NULL);
        else if (r >= 0 && j->quota)
                brig__env_quota_setup_run(&j->qs);
        /* A removal that fails too (out of fds, say) is remembered, so the name stays usable. */
        if (r < 0 && brig__env_rm_dir(j->dir) < 0)
                j->leftover = true;
        return r;
}

static int fsync_dir(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

/* The new metadata goes in first, durably, so the directory is never under its new name without it; on
 * failure it is a spare without metadata again, which a restart removes. It is written in place, not
 * through a temporary file and a rename (brig__env_meta_write()): under a spare's name a partial file is
 * removed with the spare at restart, so only the directory's rename has to be made durable. */
static int adopt_dir(prepare_job *j) {
        _cleanup_free_ char *meta = NULL;
        int r;

        if (asprintf(&meta, "%s/meta.json", j->spare_dir) < 0)
                return brig_error_oom(&j->err);
        if ((r = write_synced(meta, j->meta)) < 0) {
                (void) unlink(meta);
                return brig_error_set_errno(&j->err, r, BRIG_KIND_IO,
                                            "environment \"%s\" not created: cannot write its metadata",
                                            j->id);
        }
        if (renameat2(AT_FDCWD, j->spare_dir, AT_FDCWD, j->dir, RENAME_NOREPLACE) < 0) {
                r = brig_error_set_errno(
                        &j->err, -errno, BRIG_KIND_IO,
                        "environment \"%s\" not created: cannot rename its spare's directory", j->id);
                (void) unlink(meta);
                return r;
        }
        if ((r = fsync_dir(j->envs_dir)) < 0) {
                (void) brig_error_set_errno(&j->err, r, BRIG_KIND_IO,
                                            "environment \"%s\" not created: cannot write its metadata",
                                            j->id);
                (void) rename(j->dir, j->spare_dir);
                (void) unlink(meta);
                return r;
        }
        return 0;
}

static void prepare_work_cb(uv_work_t *req) {
        prepare_job *j = (prepare_job *) req;

        if (j->spare_dir && (j->r = adopt_dir(j)) < 0)
                return;
        if (j->create) {
                /* The quota too, beside the metadata. */
                j->r = create_dir(j);
                return;
        }
        if (j->quota)
                brig__env_quota_setup_run(&j->qs);
}

static void fire(brig_env *env, const brig_error *err) {
        brig_env_prepare_waiter *list = env->disk.prepare.waiters;

        env->disk.prepare.waiters = NULL;
        while (list) {
                brig_env_prepare_waiter *next = list->next;
                list->cb(env, err, list->userdata);
                free(list);
                list = next;
        }
}

static void job_free(prepare_job *j) {
        brig__env_quota_setup_done(&j->qs);
        free(j->dir);
        free(j->workspace);
        free(j->meta);
        free(j->spare_dir);
        free(j->envs_dir);
        free(j);
}

static void prepare_after_cb(uv_work_t *req, int status) {
        prepare_job *j = (prepare_job *) req;
        brig_env *env = j->env;
        brig_error err = BRIG_ERROR_INIT;
        int r = j->r;

        env->disk.prepare.running = false;
        if (j->create)
                env->disk.prepare.leftover = j->leftover;
        if (status < 0 && r >= 0)
                r = brig_error_set(&j->err, status, BRIG_KIND_INTERNAL, "environment preparation cancelled");
        if (r < 0) {
                err = j->err;
                log_warning("%s", err.msg);
        } else
                env->disk.present = true;
        if (j->spare_dir)
                brig__env_adopted(env, r < 0 ? &err : NULL);
        if (r >= 0 && j->quota)
                r = brig__env_quota_setup_apply(env, &j->qs, &err);
        if (env->destroyed) {
                /* Destroyed meanwhile: its directory goes once the hold below is released. */
                env->disk.remove_pending = env->disk.present;
                if (r >= 0)
                        r = brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                           "environment \"%s\" was destroyed", env->id);
        }
        job_free(j);
        fire(env, r < 0 ? &err : NULL);
        brig__env_release(env);
}

static int start_job(brig_env *env, brig_error *err) {
        const brig_identity *id = &env->identity;
        prepare_job *j = calloc(1, sizeof(*j));
        int r;

        if (!j)
                return brig_error_oom(err);
        j->env = env;
        j->err = (brig_error) BRIG_ERROR_INIT;
        (void) snprintf(j->id, sizeof(j->id), "%s", env->id);
        j->create = !env->disk.present && !env->spare.dir;
        j->leftover = env->disk.prepare.leftover;
        j->chown = id->root;
        j->uid = id->uid_outside;
        j->gid = id->gid_outside;
        if (!(j->dir = strdup(env->dir)) || !(j->workspace = strdup(env->workspace)) ||
            (!env->disk.present && !env->spare.pooled && !(j->meta = brig__env_meta_text(env))) ||
            (env->spare.dir &&
             (!(j->spare_dir = strdup(env->spare.dir)) || !(j->envs_dir = strdup(env->w->envs_dir)))) ||
            brig__env_quota_setup_init(env, &j->qs, &j->quota) < 0) {
                job_free(j);
                return brig_error_oom(err);
        }
        if ((r = uv_queue_work(env->w->loop, &j->req, prepare_work_cb, prepare_after_cb)) < 0) {
                job_free(j);
                return brig_error_set(err, r, BRIG_KIND_INTERNAL,
                                      "environment \"%s\": queue preparation: %s", env->id, uv_strerror(r));
        }
        brig__env_hold(env);
        env->disk.prepare.running = true;
        return 0;
}

bool brig__env_prepared(const brig_env *env) {
        return !env->disk.quarantined && env->disk.present &&
               (env->limits.quota.mode != BRIG_ENV_QUOTA_UNSET || !env->policy);
}

void brig__env_prepare(brig_env *env, brig_env_prepared_cb cb, void *userdata) {
        brig_error err = BRIG_ERROR_INIT;
        brig_env_prepare_waiter *wt, **tail;

        if (env->disk.quarantined) {
                (void) brig__env_quarantined_error(env, &err);
                cb(env, &err, userdata);
                return;
        }
        if (brig__env_prepared(env)) {
                cb(env, NULL, userdata);
                return;
        }
        if (env->destroyed) {
                /* Nothing is made on disk for an environment that is gone. */
                (void) brig_error_set(&err, -ENOENT, BRIG_KIND_NOT_FOUND, "environment \"%s\" was destroyed",
                                      env->id);
                cb(env, &err, userdata);
                return;
        }
        if (!(wt = calloc(1, sizeof(*wt)))) {
                (void) brig_error_oom(&err);
                cb(env, &err, userdata);
                return;
        }
        wt->cb = cb;
        wt->userdata = userdata;
        for (tail = &env->disk.prepare.waiters; *tail; tail = &(*tail)->next)
                ;
        *tail = wt;
        if (env->disk.prepare.running)
                return;
        if (start_job(env, &err) < 0)
                fire(env, &err);
}

void brig__env_prepare_free(brig_env *env) {
        for (brig_env_prepare_waiter *wt = env->disk.prepare.waiters, *next; wt; wt = next) {
                next = wt->next;
                free(wt);
        }
        env->disk.prepare.waiters = NULL;
}

/* --- removal and start-up ------------------------------------------------------------------------------ */

#define META_MAX_BYTES 65536

typedef struct rm_work {
        uv_work_t req;
        char *path;
        int r;
} rm_work;

static void rm_work_cb(uv_work_t *req) {
        rm_work *rw = (rm_work *) req;
        rw->r = brig__env_rm_dir(rw->path);
}

static void rm_after_cb(uv_work_t *req, int status) {
        rm_work *rw = (rm_work *) req;
        if (status == 0 && rw->r < 0)
                (void) log_warning_errno(rw->r, "remove '%s': %m, ignoring", rw->path);
        free(rw->path);
        free(rw);
}

/* Removal may be large (a whole workspace): on the thread pool. */
void brig__env_remove_dir(brig_worker *w, const char *path) {
        rm_work *rw = calloc(1, sizeof(*rw));
        if (!rw || !(rw->path = strdup(path))) {
                free(rw);
                return;
        }
        if (uv_queue_work(w->loop, &rw->req, rm_work_cb, rm_after_cb) < 0) {
                free(rw->path);
                free(rw);
        }
}

/* A directory that looks like an environment but whose metadata cannot be read (a full disk when it was
 * written, damage, a crash from before metadata was written first) belongs to nobody we can name: it is
 * listed (to root: owner 0) as "quarantined" and refused to every attach, whatever the policy or owner, so
 * its workspace is never handed to a new environment of the same name. `brig env rm` removes it. */
static int quarantine(brig_worker *w, const char *id, const char *why) {
        brig_env *env = brig__env_new(w, id, 0, "", NULL);
        struct stat st;

        if (!env || !(env->disk.quarantine_reason = strdup(why)))
                return -ENOMEM;
        log_warning("environment directory '%s': unreadable metadata (%s): quarantined, never adopted; "
                    "inspect it and remove it with `brig env rm %s`",
                    env->dir, why, id);
        env->disk.quarantined = true;
        env->disk.present = true;
        brig__env_set_slot(env, 0);
        if (stat(env->dir, &st) == 0)
                env->created = env->last_used = st.st_mtime;
        return 0;
}

/* What a previous brigd may have left in the environments directory, by name: spares, and forks and imports
 * that did not finish (they build aside: worker/env_fork.h, worker/env_import.h) are directories; archives
 * exported and never closed (worker/env_export.h) and uploads of a connection gone with that brigd
 * (worker/mcp_import.c) are files. All go at start-up. */
typedef struct leftover_kind {
        const char *prefix;
        bool dir;
} leftover_kind;

static const leftover_kind leftovers[] = {
        {BRIG_ENV_SPARE_PREFIX, true},   {BRIG_ENV_FORK_PREFIX, true},    {BRIG_ENV_IMPORT_PREFIX, true},
        {BRIG_ENV_EXPORT_PREFIX, false}, {BRIG_ENV_UPLOAD_PREFIX, false},
};

static const leftover_kind *leftover_of(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(leftovers); i++)
                if (strncmp(name, leftovers[i].prefix, strlen(leftovers[i].prefix)) == 0)
                        return &leftovers[i];
        return NULL;
}

int brig_envs_load(brig_worker *w, brig_error *err) {
        _cleanup_(closedirp) DIR *d = opendir(w->envs_dir);
        struct dirent *de;

        if (!d)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", w->envs_dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *meta = NULL, *dir = NULL, *text = NULL;
                _cleanup_json_ cJSON *o = NULL;
                brig_error e2 = BRIG_ERROR_INIT;
                const brig_policy_entry *policy = NULL;
                const char *policy_key = NULL;
                uint64_t owner = 0, created = 0, last = 0, slot = 0;
                bool ephemeral = false;

                /* Work of a previous brigd, never an environment (see leftovers[]). */
                const leftover_kind *lk = leftover_of(de->d_name);
                if (lk && lk->dir) {
                        _cleanup_free_ char *leftover = NULL;
                        if (asprintf(&leftover, "%s/%s", w->envs_dir, de->d_name) >= 0)
                                (void) brig__env_rm_dir(leftover);
                        continue;
                }
                if (lk) {
                        (void) unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                if (brig_env_id_check(de->d_name, NULL) < 0)
                        continue;
                /* Out of memory is an error, never a reason to quarantine a good environment. */
                if (asprintf(&dir, "%s/%s", w->envs_dir, de->d_name) < 0 ||
                    asprintf(&meta, "%s/meta.json", dir) < 0 || !(text = malloc(META_MAX_BYTES + 1)))
                        return brig_error_oom(err);
                int fd = open(meta, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                ssize_t n = fd >= 0 ? read(fd, text, META_MAX_BYTES) : -1;
                if (fd >= 0)
                        close(fd);
                if (n <= 0 || brig_json_parse(text, (size_t) n, &o, &e2) < 0 ||
                    brig_json_get_u64(o, "", "owner_uid", UINT32_MAX - 1, &owner, &e2) < 0 ||
                    brig_json_get_string(o, "", "policy", true, &policy_key, &e2) < 0 ||
                    brig_json_get_bool(o, "", "ephemeral", &ephemeral, &e2) < 0 ||
                    brig_json_get_u64(o, "", "created", UINT64_C(1) << 52, &created, &e2) < 0 ||
                    brig_json_get_u64(o, "", "last_used", UINT64_C(1) << 52, &last, &e2) < 0 ||
                    brig_json_get_u64(o, "", "slot", BRIG_ENV_SLOTS - 1, &slot, &e2) < 0) {
                        if (quarantine(w, de->d_name, e2.msg[0] ? e2.msg : "missing") < 0)
                                return brig_error_oom(err);
                        continue;
                }
                if (ephemeral) {
                        /* An unnamed environment outlived its worker: nobody can name it to come back. */
                        (void) brig__env_rm_dir(dir);
                        continue;
                }
                if (brig_policies_get(&w->policies, policy_key, true, &policy, &e2) < 0) {
                        log_warning("environment '%s': %s; it stays on disk but cannot start", de->d_name,
                                    e2.msg);
                        policy = NULL;
                }
                brig_env *env = brig__env_new(w, de->d_name, (uid_t) owner, policy_key, policy);
                if (!env)
                        return brig_error_oom(err);
                env->created = (int64_t) created;
                env->last_used = (int64_t) last;
                /* Its files belong to the id it was created with. */
                brig__env_set_slot(env, (unsigned) slot);
                env->disk.present = true;
                env->holder.restarted = true;
                /* Its processes ended with the previous worker; their descriptions and output remain. */
                /* It fails only out of memory. */
                if (brig_process_table_load(&env->processes) < 0)
                        return brig_error_oom(err);
        }
        return 0;
}

int brig__env_move_into_place(const char *tmp, const char *final, const char *envs_dir) {
        _cleanup_close_ int fd = -1;

        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
                return -errno;
        if ((fd = open(envs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
                int r = -errno;
                (void) brig_rm_rf(final);
                return r;
        }
        return 0;
}

void brig__env_test_pause(const char *file) {
        _cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        for (int i = 0; i < 6000 && access(file, F_OK) == 0; i++)
                (void) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
}
