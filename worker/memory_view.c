/* SPDX-License-Identifier: MIT */
/* The checked-out view of a memory scope (memory_view.h): the store's current files written into a plain
 * directory, each replaced by a rename, and whatever the store no longer has removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "sandbox/policy.h"
#include "tools/memory_store.h"
#include "worker/env.h"
#include "worker/memory_view.h"
#include "worker/policies.h"
#include "worker/worker.h"

/* A temporary file's name: memory paths never hold control characters (brig_memory_path_parse()), so no
 * memory file can have it. */
#define TMP_NAME "\001brig-view-tmp"

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Opens (creating it 0755) directory name below dir, never through a symlink. */
static int open_subdir(int dir, const char *name) {
        struct stat st;
        int fd;

        if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* A file of an earlier version where a directory is now. */
        if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) &&
            fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
            unlinkat(dir, name, 0) == 0)
                return open_subdir(dir, name);
        return fd < 0 ? -errno : fd;
}

static bool same_content(int dir, const char *name, const char *data, size_t len) {
        _cleanup_close_ int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != len)
                return false;
        if (!len)
                return true;
        return (buf = malloc(len)) && pread(fd, buf, len, 0) == (ssize_t) len && memcmp(buf, data, len) == 0;
}

/* Writes one file of the scope at rel below view unless it holds that content already. */
static int put_file(int view, const char *rel, const char *data, size_t len) {
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int dir = fcntl(view, F_DUPFD_CLOEXEC, 3), fd = -1;
        char *name, *slash;
        struct stat st;
        int r;

        if (!copy)
                return -ENOMEM;
        if (dir < 0)
                return -errno;
        for (name = copy; (slash = strchr(name, '/')); name = slash + 1) {
                int sub;
                *slash = 0;
                if ((sub = open_subdir(dir, name)) < 0)
                        return sub;
                (void) close(dir);
                dir = sub;
        }
        if (same_content(dir, name, data, len))
                return 0;
        (void) unlinkat(dir, TMP_NAME, 0);
        fd = openat(dir, TMP_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if ((r = brig_write_all(fd, data, len)) < 0 || (r = fchmod(fd, 0644) < 0 ? -errno : 0) < 0) {
                (void) unlinkat(dir, TMP_NAME, 0);
                return r;
        }
        /* A directory of an earlier version where a file is now. */
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "/proc/self/fd/%d/%s", dir, name) < 0)
                        return -ENOMEM;
                (void) brig_rm_rf(path);
        }
        /* Readers in the jail see the old file or the new one, never a part. */
        return renameat(dir, TMP_NAME, dir, name) < 0 ? -errno : 0;
}

/* Removes what below dir (at prefix, "" for the view) is neither one of the sorted keep paths nor a
 * directory above one. */
static int prune(int dir, const char *prefix, char **keep, size_t n) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd = fcntl(dir, F_DUPFD_CLOEXEC, 3), r = 0;

        if (fd < 0 || !(d = fdopendir(fd))) {
                r = -errno;
                if (fd >= 0)
                        (void) close(fd);
                return r;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *rel = NULL;
                char *key;
                size_t len;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (asprintf(&rel, "%s%s", prefix, de->d_name) < 0)
                        return -ENOMEM;
                len = strlen(rel);
                key = rel;
                if (bsearch(&key, keep, n, sizeof(*keep), cmp_str))
                        continue;
                /* A directory stays when a kept path starts with it and a slash. */
                bool above = false;
                for (size_t i = 0; i < n && !above; i++)
                        above = strncmp(keep[i], rel, len) == 0 && keep[i][len] == '/';
                if (above) {
                        _cleanup_close_ int sub =
                                openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        _cleanup_free_ char *next = NULL;
                        if (sub < 0 || asprintf(&next, "%s/", rel) < 0)
                                return sub < 0 ? -errno : -ENOMEM;
                        if ((r = prune(sub, next, keep, n)) < 0)
                                return r;
                } else if (unlinkat(dir, de->d_name, 0) < 0) {
                        _cleanup_free_ char *path = NULL;
                        if (errno != EISDIR || asprintf(&path, "/proc/self/fd/%d/%s", dir, de->d_name) < 0)
                                return -errno;
                        if ((r = brig_rm_rf(path)) < 0)
                                return r;
                }
        }
        return 0;
}

int brig_memory_view_update(const char *store_dir, const char *view_dir, brig_error *err) {
        _cleanup_(brig_memory_freep) brig_memory *m = NULL;
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_close_ int view = -1;
        size_t n = 0;
        int r;

        if ((r = brig_memory_open(store_dir, &m, err)) < 0 ||
            /* One update at a time, and none while the store changes: the view is of one version. */
            (r = brig_memory_lock(m, err)) < 0 || (r = brig_memory_files_below(m, "", &files, err)) < 0)
                return r;
        if ((r = brig_mkdir_p(view_dir, 0755)) < 0 ||
            (view = open(view_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            fchmod(view, 0755) < 0)
                return brig_error_set_errno(err, r < 0 ? r : -errno, BRIG_KIND_IO, "memory view: create %s",
                                            view_dir);
        for (; files[n]; n++) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                if ((r = brig_memory_read(m, files[n], &data, &len, err)) < 0)
                        return r;
                if ((r = put_file(view, files[n], data, len)) < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_IO, "memory view: write %s", files[n]);
        }
        qsort(files, n, sizeof(*files), cmp_str);
        if ((r = prune(view, "", files, n)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "memory view: remove old files");
        return 0;
}

int brig_memory_view_of(brig_env *env, uid_t uid, char **ret_store, char **ret_view, brig_error *err) {
        const brig_policy_memory *pm = &env->policy->policy->memory;
        _cleanup_free_ char *root = NULL;
        int r;

        *ret_view = NULL;
        if (ret_store)
                *ret_store = NULL;
        if (!pm->mount || pm->mode == BRIG_MEMORY_OFF)
                return 0;
        /* Beside <state-dir>/memory, not in it: `brig memory` lists and exports the stores there. */
        if (asprintf(&root, "%s-view", env->w->memory_dir) < 0) {
                root = NULL;
                return brig_error_oom(err);
        }
        if ((r = brig_memory_scope_dir(root, pm->scope, pm->scope_name, uid, env->id, ret_view, err)) < 0)
                return r;
        if (ret_store && (r = brig_memory_scope_dir(env->w->memory_dir, pm->scope, pm->scope_name, uid,
                                                    env->id, ret_store, err)) < 0) {
                free(*ret_view);
                *ret_view = NULL;
                return r;
        }
        return 0;
}

typedef struct refresh_job {
        uv_work_t req;
        brig_env *env;
        char *store, *view;
        brig_memory_view_cb cb;
        brig_error err;
} refresh_job;

static void refresh_work_cb(uv_work_t *req) {
        refresh_job *j = req->data;
        (void) brig_memory_view_update(j->store, j->view, &j->err);
}

static void refresh_after_cb(uv_work_t *req, int status) {
        refresh_job *j = req->data;

        if (status < 0 && !j->err.code)
                (void) brig_error_set(&j->err, status, BRIG_KIND_INTERNAL, "memory view: cancelled");
        if (j->err.code)
                log_warning("environment %s: %s", j->env->id, j->err.msg);
        j->cb(j->env, j->err.code ? &j->err : NULL);
        brig__env_release(j->env);
        free(j->store);
        free(j->view);
        free(j);
}

void brig_memory_view_refresh(brig_env *env, brig_memory_view_cb cb) {
        refresh_job *j = calloc(1, sizeof(*j));
        brig_error err = BRIG_ERROR_INIT;
        int r;

        if (!j) {
                (void) brig_error_oom(&err);
                cb(env, &err);
                return;
        }
        j->req.data = j;
        j->env = env;
        j->cb = cb;
        j->err = (brig_error) BRIG_ERROR_INIT;
        if ((r = brig_memory_view_of(env, env->owner, &j->store, &j->view, &err)) < 0 || !j->view ||
            (r = uv_queue_work(env->w->loop, &j->req, refresh_work_cb, refresh_after_cb)) < 0) {
                if (r < 0 && !err.code)
                        (void) brig_error_set(&err, r, BRIG_KIND_INTERNAL, "memory view: queue: %s",
                                              uv_strerror(r));
                free(j->store);
                free(j->view);
                free(j);
                cb(env, err.code ? &err : NULL);
                return;
        }
        brig__env_hold(env);
}
