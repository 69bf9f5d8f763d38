/* SPDX-License-Identifier: MIT */
/* Writing a fork's workspace: the snapshot's tree as files, and the fork's index from what was written.
 *
 * Theory of operation. The calling thread walks the snapshot's tree, makes its directories and lists its
 * files in path (index) order. Then the calling thread and at most MAX_HELPERS short-lived helpers take
 * chunks of that list and write each file. A file comes from the source's workspace when the fork source
 * (brig_history_fork_source_new(), taken right after the fork point's snapshot) vouches for it: its index
 * entry names the same blob and mode, its stat data are older than the snapshot, and the source file's
 * fstat() equals them both before and after the copy. A write to the file after the snapshot began would
 * have set its ctime to the clock's time then or later, past the recorded one, so equal stat data mean
 * the bytes copied are those the snapshot stored (git's stat cache, which the snapshot itself trusted).
 * Anything else (no source, a mismatch, a symlink on the way, an error) comes from the blob. Helpers use
 * an object database of their own (libgit2 objects are not shared between threads) and touch nothing else
 * of libgit2. Files are made by the calling identity (root, or brigd's uid rootless) and chowned to the
 * workspace's owner; each source file is opened as the source's owner (fsuid switched around that one
 * call), as its snapshots read it, which a thread running as the fork's owner could not. Finally the index
 * gets every file's stat data, so the fork's first snapshot reads nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>
#if HAVE_OPENAT2
#include <linux/openat2.h>
#endif

#include "common/fs.h"
#include "tools/history_private.h"
#include "tools/wspath.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_odb *, git_odb_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(git_odb_object *, git_odb_object_free);

#define MAX_HELPERS 3
#define FILES_PER_HELPER 1000 /* below this a helper thread costs more than it saves */
#define CHUNK 64
#define COPY_BUF (128u * 1024u)

struct brig_history_fork_source {
        char *workspace; /* the source's workspace (realpath) */
        bool as_owner;   /* its files are opened as uid:gid, as its history reads them */
        uid_t uid;
        gid_t gid;
        git_index_entry *files; /* regular files the source's index vouches for, in index order */
        size_t n;
};

void brig_history_fork_source_free(brig_history_fork_source *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                free((char *) s->files[i].path);
        free(s->files);
        free(s->workspace);
        free(s);
}

static bool time_before(const git_index_time *t, const struct timespec *ts) {
        return (int64_t) t->seconds < (int64_t) ts->tv_sec ||
               ((int64_t) t->seconds == (int64_t) ts->tv_sec && (long) t->nanoseconds < ts->tv_nsec);
}

int brig_history_fork_source_new(brig_history *h, const struct timespec *before,
                                 brig_history_fork_source **ret, brig_error *err) {
        _cleanup_(brig_history_fork_source_freep) brig_history_fork_source *s = calloc(1, sizeof(*s));
        size_t n = git_index_entrycount(h->index);

        if (!s || !(s->workspace = strdup(h->workspace)) || !(s->files = calloc(n + 1, sizeof(*s->files))))
                return brig_error_oom(err);
        s->as_owner = h->as_owner;
        s->uid = h->uid;
        s->gid = h->gid;
        for (size_t i = 0; i < n; i++) {
                const git_index_entry *e = git_index_get_byindex(h->index, i);
                /* Changed as the snapshot began or later: a change after it could leave the same stat data
                 * (timestamps have a granularity), so only older ones are trusted. */
                if (!e || git_index_entry_stage(e) != 0 || e->mode == GIT_FILEMODE_LINK ||
                    !time_before(&e->ctime, before) || !time_before(&e->mtime, before))
                        continue;
                s->files[s->n] = *e;
                if (!(s->files[s->n].path = strdup(e->path)))
                        return brig_error_oom(err);
                s->n++;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

typedef struct fork_file {
        char *path;
        git_oid id;
        uint32_t mode;              /* GIT_FILEMODE_BLOB, _BLOB_EXECUTABLE, _LINK or _TREE (made already) */
        const git_index_entry *src; /* borrowed from the fork source; NULL: from the blob */
        struct stat st;             /* as written */
} fork_file;

typedef struct fork_write {
        const char *objects; /* the fork's objects directory */
        int src_root;        /* the source's workspace, or -1 */
        int dst_root;        /* the fork's workspace */
        uid_t uid;           /* -1: leave as created */
        gid_t gid;
        const brig_history_fork_source *source;
        fork_file *files;
        size_t n, cap;
        atomic_size_t next;
        atomic_bool no_clone, no_copy_range; /* found impossible here: spares a syscall per file */
        brig_wsusage usage;
        pthread_mutex_t lock; /* guards r and err */
        int r;
        brig_error *err;
} fork_write;

static int fail(fork_write *w, int r, const char *what, const char *path) {
        char q[BRIG_WS_QUOTE_SIZE];

        (void) pthread_mutex_lock(&w->lock);
        if (w->r == 0) {
                const git_error *e = r == -EIO ? git_error_last() : NULL;
                r = brig_error_set_errno(w->err, r, BRIG_KIND_IO, "fork: %s '%s'%s%s", what,
                                         brig_ws_quote(path, q, sizeof(q)), e && e->message ? ": " : "",
                                         e && e->message ? e->message : "");
                __atomic_store_n(&w->r, r, __ATOMIC_RELAXED); /* read by the other threads to stop early */
        }
        (void) pthread_mutex_unlock(&w->lock);
        return r;
}

static int entry_cmp(const void *key, const void *e) {
        return strcmp(key, ((const git_index_entry *) e)->path);
}

static const git_index_entry *vouched(const fork_write *w, const char *path, const git_oid *id,
                                      uint32_t mode) {
        const git_index_entry *e;

        if (!w->source || w->src_root < 0)
                return NULL;
        e = bsearch(path, w->source->files, w->source->n, sizeof(*e), entry_cmp);
        return e && e->mode == mode && git_oid_equal(&e->id, id) ? e : NULL;
}

static int walk_cb(const char *root, const git_tree_entry *te, void *payload) {
        fork_write *w = payload;
        const char *name = git_tree_entry_name(te);
        char path[PATH_MAX];

        if ((size_t) snprintf(path, sizeof(path), "%s%s", root, name) >= sizeof(path))
                return fail(w, -ENAMETOOLONG, "write", name);
        switch (git_tree_entry_filemode(te)) {
        case GIT_FILEMODE_TREE:
                if (mkdirat(w->dst_root, path, 0755) < 0 ||
                    (w->uid != (uid_t) -1 &&
                     fchownat(w->dst_root, path, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0))
                        return fail(w, -errno, "create the directory", path);
                break; /* listed too, for its size once its files are in */
        case GIT_FILEMODE_BLOB:
        case GIT_FILEMODE_BLOB_EXECUTABLE:
        case GIT_FILEMODE_LINK:
                break;
        default:
                return 0; /* a submodule: snapshots never hold one */
        }
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 1024;
                fork_file *f = reallocarray(w->files, cap, sizeof(*f));
                if (!f)
                        return fail(w, -ENOMEM, "list", path);
                w->files = f;
                w->cap = cap;
        }
        fork_file *f = &w->files[w->n];
        *f = (fork_file){.id = *git_tree_entry_id(te), .mode = git_tree_entry_filemode(te)};
        if (!(f->path = strdup(path)))
                return fail(w, -ENOMEM, "list", path);
        f->src = vouched(w, path, &f->id, f->mode);
        w->n++;
        return 0;
}

static int open_source(const brig_history_fork_source *source, int root, const char *path) {
#if HAVE_OPENAT2 && defined(SYS_openat2)
        /* Never a symlink on the way or at the end: a file reached otherwise is not the one vouched for. */
        struct open_how how = {
                .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        uid_t old_uid = 0;
        gid_t old_gid = 0;
        long fd;
        int r;

        /* As the source's owner, as its snapshots read it: the agent's workspace grants root nothing. The
         * calling thread only (setfsuid(2)). */
        if (source->as_owner) {
                old_gid = (gid_t) setfsgid(source->gid);
                old_uid = (uid_t) setfsuid(source->uid);
        }
        fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
        r = fd < 0 ? -errno : (int) fd;
        if (source->as_owner) {
                (void) setfsuid(old_uid);
                (void) setfsgid(old_gid);
        }
        return r;
#else
        /* FIXME: remove once the minimum kernel is >= 5.6 (openat2): without it every file is a blob. */
        (void) source;
        (void) root;
        (void) path;
        return -ENOSYS;
#endif
}

static bool same_stat(const git_index_entry *e, const struct stat *st) {
        return S_ISREG(st->st_mode) && e->file_size == (uint32_t) st->st_size &&
               e->ino == (uint32_t) st->st_ino && e->uid == st->st_uid && e->gid == st->st_gid &&
               e->mtime.seconds == (int32_t) st->st_mtim.tv_sec &&
               e->mtime.nanoseconds == (uint32_t) st->st_mtim.tv_nsec &&
               e->ctime.seconds == (int32_t) st->st_ctim.tv_sec &&
               e->ctime.nanoseconds == (uint32_t) st->st_ctim.tv_nsec;
}

/* Copies size bytes of in into out: a reflink where the file system shares blocks, else copy_file_range(),
 * else read and write. Returns the bytes copied or a negative errno. A file that grew or shrank meanwhile
 * shows in its stat data afterwards. */
static int64_t copy_data(fork_write *w, int in, int out, off_t size) {
        _cleanup_free_ char *buf = NULL;
        int64_t done = 0;
        ssize_t n = 0;

        if (size > 0 && !atomic_load_explicit(&w->no_clone, memory_order_relaxed)) {
                if (ioctl(out, FICLONE, in) == 0)
                        return size;
                if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == EINVAL)
                        atomic_store_explicit(&w->no_clone, true, memory_order_relaxed);
        }
        if (!atomic_load_explicit(&w->no_copy_range, memory_order_relaxed)) {
                while (done < size &&
                       (n = copy_file_range(in, NULL, out, NULL, (size_t) (size - done), 0)) > 0)
                        done += n;
                if (done == size || n == 0)
                        return done;
                if (done > 0 ||
                    (errno != EXDEV && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL))
                        return -errno;
                atomic_store_explicit(&w->no_copy_range, true, memory_order_relaxed);
        }
        if (!(buf = malloc(COPY_BUF)))
                return -ENOMEM;
        while (done < size && (n = read(in, buf, COPY_BUF)) > 0) {
                if (brig_write_all(out, buf, (size_t) n) < 0)
                        return -errno;
                done += n;
        }
        return done;
}

/* The file from the source's workspace, if its stat data still vouch for it after the copy; false when out
 * must be written from the blob instead (out may hold part of a copy). */
static bool copy_from_source(fork_write *w, const fork_file *f, int out) {
        _cleanup_close_ int in = open_source(w->source, w->src_root, f->path);
        struct stat before, after;

        if (in < 0 || fstat(in, &before) < 0 || !same_stat(f->src, &before) ||
            ((f->mode == GIT_FILEMODE_BLOB_EXECUTABLE) != ((before.st_mode & S_IXUSR) != 0)))
                return false;
        if (copy_data(w, in, out, before.st_size) != before.st_size)
                return false;
        /* The race: written while being copied shows as changed stat data now. */
        return fstat(in, &after) == 0 && same_stat(f->src, &after);
}

static int write_blob(fork_write *w, git_odb *odb, const fork_file *f, int out) {
        _cleanup_(git_odb_object_freep) git_odb_object *o = NULL;
        int r;

        if ((r = git_odb_read(&o, odb, &f->id)) < 0)
                return fail(w, -EIO, "read the blob of", f->path);
        if ((r = brig_write_all(out, git_odb_object_data(o), git_odb_object_size(o))) < 0)
                return fail(w, r, "write", f->path);
        return 0;
}

static int write_link(fork_write *w, git_odb *odb, fork_file *f, int dfd, const char *name) {
        _cleanup_(git_odb_object_freep) git_odb_object *o = NULL;
        _cleanup_free_ char *target = NULL;
        size_t n;

        if (git_odb_read(&o, odb, &f->id) < 0)
                return fail(w, -EIO, "read the blob of", f->path);
        n = git_odb_object_size(o);
        if (!(target = strndup(git_odb_object_data(o), n)))
                return fail(w, -ENOMEM, "write", f->path);
        if (symlinkat(target, dfd, name) < 0 ||
            (w->uid != (uid_t) -1 && fchownat(dfd, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0) ||
            fstatat(dfd, name, &f->st, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(w, -errno, "create the symlink", f->path);
        return 0;
}

static int write_file(fork_write *w, git_odb *odb, fork_file *f, int dfd, const char *name) {
        _cleanup_close_ int out = -1;
        int r;

        if (f->mode == GIT_FILEMODE_LINK)
                return write_link(w, odb, f, dfd, name);
        out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     f->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
        if (out < 0)
                return fail(w, -errno, "create", f->path);
        if (!f->src || !copy_from_source(w, f, out)) {
                if (f->src && (ftruncate(out, 0) < 0 || lseek(out, 0, SEEK_SET) < 0))
                        return fail(w, -errno, "write", f->path);
                if ((r = write_blob(w, odb, f, out)) < 0)
                        return r;
        }
        if ((w->uid != (uid_t) -1 && fchown(out, w->uid, w->gid) < 0) || fstat(out, &f->st) < 0)
                return fail(w, -errno, "write", f->path);
        return 0;
}

/* Writes chunks of files until none are left or one failed. Files come in path order, so a chunk's
 * directory is opened once for its run of files. */
static void write_files(fork_write *w) {
        _cleanup_(git_odb_freep) git_odb *odb = NULL;
        char dir[PATH_MAX];
        size_t dir_len = SIZE_MAX;
        int dfd = -1;

        if (git_odb_open(&odb, w->objects) < 0) {
                (void) fail(w, -EIO, "open the objects of", "history");
                return;
        }
        for (;;) {
                size_t from = atomic_fetch_add(&w->next, CHUNK);
                if (from >= w->n)
                        break;
                for (size_t i = from; i < w->n && i < from + CHUNK; i++) {
                        fork_file *f = &w->files[i];
                        const char *slash = strrchr(f->path, '/');
                        size_t len = slash ? (size_t) (slash - f->path) : 0;
                        if (__atomic_load_n(&w->r, __ATOMIC_RELAXED) < 0)
                                goto done;
                        if (f->mode == GIT_FILEMODE_TREE)
                                continue;
                        if (dfd < 0 || len != dir_len || strncmp(dir, f->path, len) != 0) {
                                if (dfd >= 0 && dfd != w->dst_root)
                                        (void) close(dfd);
                                memcpy(dir, f->path, len);
                                dir[len] = 0;
                                dir_len = len;
                                dfd = len ? openat(w->dst_root, dir,
                                                   O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                          : w->dst_root;
                                if (dfd < 0) {
                                        (void) fail(w, -errno, "open the directory", dir);
                                        goto done;
                                }
                        }
                        if (write_file(w, odb, f, dfd, slash ? slash + 1 : f->path) < 0)
                                goto done;
                }
        }
done:
        if (dfd >= 0 && dfd != w->dst_root)
                (void) close(dfd);
}

static void *helper_main(void *userdata) {
        write_files(userdata);
        return NULL;
}

/* The index of what was written: every file with its stat data, and the tree cache. */
static int write_index(brig_history *h, fork_write *w, const git_oid *tree_id, brig_error *err) {
        git_oid id;
        int r;

        for (size_t i = 0; i < w->n; i++) {
                const fork_file *f = &w->files[i];
                if (f->mode == GIT_FILEMODE_TREE)
                        continue;
                git_index_entry e = {
                        .ctime = {(int32_t) f->st.st_ctim.tv_sec, (uint32_t) f->st.st_ctim.tv_nsec},
                        .mtime = {(int32_t) f->st.st_mtim.tv_sec, (uint32_t) f->st.st_mtim.tv_nsec},
                        .dev = (uint32_t) f->st.st_dev,
                        .ino = (uint32_t) f->st.st_ino,
                        .mode = f->mode,
                        .uid = f->st.st_uid,
                        .gid = f->st.st_gid,
                        .file_size = (uint32_t) f->st.st_size,
                        .id = f->id,
                        .path = f->path,
                };
                if ((r = git_index_add(h->index, &e)) < 0)
                        return brig__history_git_error(h, r, err, "fork: index");
        }
        if ((r = git_index_write_tree(&id, h->index)) < 0 || (r = git_index_write(h->index)) < 0)
                return brig__history_git_error(h, r, err, "fork: write the index");
        if (!git_oid_equal(&id, tree_id))
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL,
                                      "fork: the index differs from the snapshot");
        return 0;
}

static void files_free(fork_write *w) {
        for (size_t i = 0; i < w->n; i++)
                free(w->files[i].path);
        free(w->files);
}

int brig__history_fork_write(brig_history *h, git_tree *tree, const brig_history_fork_source *source,
                             uid_t uid, gid_t gid, brig_wsusage *ret_usage, brig_error *err) {
        _cleanup_close_ int src_root = -1, dst_root = -1;
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        pthread_t helpers[MAX_HELPERS];
        size_t n_helpers = 0;
        char objects[PATH_MAX];
        long cpus;
        int r;

        (void) snprintf(objects, sizeof(objects), "%s/objects", h->git_dir);
        if ((dst_root = open(h->workspace, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: open the workspace");
        /* A source that cannot be opened only means every file comes from its blob. */
        if (source)
                src_root = open(source->workspace, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        fork_write w = {.objects = objects,
                        .src_root = src_root,
                        .dst_root = dst_root,
                        .uid = uid,
                        .gid = gid,
                        .source = source,
                        .lock = PTHREAD_MUTEX_INITIALIZER,
                        .err = err};
        if ((r = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &w)) < 0) {
                if (w.r == 0)
                        r = brig__history_git_error(h, r, err, "fork: read the snapshot");
                else
                        r = w.r;
                files_free(&w);
                return r;
        }
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        while (n_helpers < MAX_HELPERS && (long) n_helpers + 1 < cpus &&
               w.n >= (n_helpers + 1) * FILES_PER_HELPER &&
               pthread_create(&helpers[n_helpers], NULL, helper_main, &w) == 0)
                n_helpers++;
        write_files(&w);
        for (size_t i = 0; i < n_helpers; i++)
                (void) pthread_join(helpers[i], NULL);
        if (w.r < 0) {
                files_free(&w);
                return w.r;
        }
        /* Directories grow with their entries: measured once these are in. */
        for (size_t i = 0; i < w.n; i++) {
                fork_file *f = &w.files[i];
                if (f->mode == GIT_FILEMODE_TREE &&
                    fstatat(dst_root, f->path, &f->st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: measure the workspace");
                        files_free(&w);
                        return r;
                }
                w.usage.files++;
                w.usage.bytes += (uint64_t) f->st.st_blocks * 512;
        }
        /* The index belongs to the workspace's owner, as every file of the git directory. */
        if ((r = brig__history_enter(h, &ids, err)) < 0 ||
            (r = write_index(h, &w, git_tree_id(tree), err)) < 0) {
                files_free(&w);
                return r;
        }
        files_free(&w);
        *ret_usage = w.usage;
        return 0;
}
