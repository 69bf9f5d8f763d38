/* SPDX-License-Identifier: MIT */
/* Brings the history's index up to date with the workspace (`git add -A`), fast and without following
 * symlinks.
 *
 * Theory of operation. Two things run at once, on the calling thread and a few short-lived helper threads:
 *   - stat check (helpers, then the caller once it is done walking): every index entry is fstatat()ed and
 *     compared with the stat data recorded in it (git's stat cache: mode, size, mtime, ctime, inode, owner;
 *     entries as new as the index file itself are "racily clean" and always re-read). This is git's
 *     core.preloadIndex; the per-file syscall is what a scan costs, so it is spread over the CPUs.
 *   - walk (the caller): every directory is opened with O_NOFOLLOW relative to its parent's fd and read
 *     for names. Names the index knows are marked present; other names are new files, checked against the
 *     ignore rules (the policy's info/exclude, the workspace's .gitignore files; untracked paths only, as
 *     in git) and hashed at once through an O_NOFOLLOW fd. Untracked ignored directories (node_modules/)
 *     are not entered at all; directories holding a .git are nested repositories and are left out.
 * A directory whose names were all tracked when last read, and whose stat data have not changed since, is
 * not read again (git's untracked cache, reduced to the case that needs no ignore bookkeeping): its tracked
 * names are taken from the index and its subdirectories from the cache.
 * Then entries not found by the walk are removed, and entries whose stat data differ are re-read: their
 * directory is reopened one component at a time with O_NOFOLLOW, so a directory the agent swapped for a
 * symlink is refused, never followed. Helper threads touch no libgit2 object (a git_repository is not
 * thread-safe): they only read index entries, which nothing changes until they have been joined.
 *
 * Why not git_index_add_all(): libgit2's working-tree iterator lstat()s and opens every file by its
 * absolute path on one thread, which took 1.2x git status and 1.8x git diff on 10,000 files, and follows a
 * symlink swapped in mid-walk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/history_private.h"

#define MAX_DEPTH 256
#define SMALL_FILE (64u * 1024u) /* read into memory; bigger files stream through a temporary file */
#define MAX_HELPERS 3
#define ENTRIES_PER_HELPER 2000 /* below this a helper thread costs more than it saves */
#define CHUNK 256

typedef struct scan {
        brig_history *h;
        int root;                        /* the workspace, O_DIRECTORY */
        size_t n;                        /* index entries when the scan began */
        const git_index_entry **entries; /* borrowed from the index, in its (path) order */
        bool *seen;                      /* walk: the entry's name is in its directory, same kind */
        bool *dirty;                     /* stat check: the entry's stat data differ (or stat failed) */
        atomic_size_t next;              /* stat check: next chunk of entries to take */
        struct stat idx;                 /* the index file: entries as new as it are racily clean */
        bool have_idx;
        git_index_entry *adds; /* new or changed entries, applied after the walk (paths owned) */
        size_t n_adds, cap_adds;
        brig__history_dir *old_dirs; /* the cache of the previous scan, sorted by path */
        size_t n_old;
        brig__history_dir *dirs; /* this scan's directories; sorted by path once the walk is over */
        size_t n_dirs, cap_dirs;
        struct timespec settled; /* directories changed after this may change again unnoticed */
        char path[PATH_MAX];     /* walk: the current workspace-relative path */
        brig_error *err;
} scan;

static void dirs_free(brig__history_dir *d, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(d[i].path);
                brig_strv_free(d[i].subdirs);
        }
        free(d);
}

void brig__history_dirs_free(brig_history *h) {
        dirs_free(h->dirs, h->n_dirs);
        h->dirs = NULL;
        h->n_dirs = 0;
}

static void scan_done(scan *s) {
        dirs_free(s->old_dirs, s->n_old);
        dirs_free(s->dirs, s->n_dirs);
        for (size_t i = 0; i < s->n_adds; i++)
                free((char *) s->adds[i].path);
        free(s->adds);
        free(s->entries);
        free(s->seen);
        free(s->dirty);
        if (s->root >= 0)
                (void) close(s->root);
}

static uint32_t mode_of(const struct stat *st) {
        if (S_ISLNK(st->st_mode))
                return GIT_FILEMODE_LINK;
        return st->st_mode & S_IXUSR ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
}

static bool entry_fresh(const scan *s, const git_index_entry *e, const struct stat *st) {
        const struct timespec *ix = &s->idx.st_mtim;

        if (!(S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) || e->mode != mode_of(st) ||
            e->file_size != (uint32_t) st->st_size || e->ino != (uint32_t) st->st_ino ||
            e->uid != st->st_uid || e->gid != st->st_gid ||
            e->mtime.seconds != (int32_t) st->st_mtim.tv_sec ||
            e->mtime.nanoseconds != (uint32_t) st->st_mtim.tv_nsec ||
            e->ctime.seconds != (int32_t) st->st_ctim.tv_sec ||
            e->ctime.nanoseconds != (uint32_t) st->st_ctim.tv_nsec)
                return false;
        /* Racily clean: written in the same instant as the index, it may have changed again since. */
        return s->have_idx &&
               (e->mtime.seconds < (int32_t) ix->tv_sec ||
                (e->mtime.seconds == (int32_t) ix->tv_sec && e->mtime.nanoseconds < (uint32_t) ix->tv_nsec));
}

/* The stat check, shared by the helpers and the caller. Entries come in path order, so each directory is
 * opened once (O_PATH) and its files are fstatat()ed by name: the kernel resolves one component per file.
 * The paths come from the index, which libgit2 validated (relative, no "..", no ".git"); a symlink swapped
 * into one only makes the entry dirty, and dirty entries are re-read without following symlinks. */
static void stat_entries(scan *s) {
        char dir[PATH_MAX];
        size_t dir_len = SIZE_MAX;
        int dfd = -1;

        for (;;) {
                size_t from = atomic_fetch_add(&s->next, CHUNK);
                if (from >= s->n)
                        break;
                for (size_t i = from; i < s->n && i < from + CHUNK; i++) {
                        const char *path = s->entries[i]->path, *slash = strrchr(path, '/');
                        size_t len = slash ? (size_t) (slash - path) : 0;
                        struct stat st;

                        if (len != dir_len || memcmp(dir, path, len) != 0) {
                                if (dfd >= 0)
                                        (void) close(dfd);
                                dfd = -1;
                                dir_len = len;
                                memcpy(dir, path, len);
                                dir[len] = 0;
                                if (len)
                                        dfd = openat(s->root, dir,
                                                     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        }
                        if (len && dfd < 0)
                                s->dirty[i] = true;
                        else
                                s->dirty[i] = fstatat(len ? dfd : s->root, slash ? slash + 1 : path, &st,
                                                      AT_SYMLINK_NOFOLLOW) < 0 ||
                                              !entry_fresh(s, s->entries[i], &st);
                }
        }
        if (dfd >= 0)
                (void) close(dfd);
}

static void *helper_main(void *userdata) {
        scan *s = userdata;

        if (s->h->as_owner) {
                /* per thread, like the caller's */
                (void) setfsgid(s->h->gid);
                (void) setfsuid(s->h->uid);
        }
        stat_entries(s);
        return NULL;
}

/* Index position of path, or -1. */
static ssize_t find(const scan *s, const char *path) {
        size_t lo = 0, hi = s->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(s->entries[mid]->path, path);
                if (c == 0)
                        return (ssize_t) mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/* Whether any entry lies below directory `dir` (given with its trailing slash). */
static bool tracked_below(const scan *s, const char *dir) {
        size_t lo = 0, hi = s->n, len = strlen(dir);

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(s->entries[mid]->path, dir) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < s->n && strncmp(s->entries[lo]->path, dir, len) == 0;
}

static int git_fail(scan *s, int r, const char *what) {
        return brig__history_git_error(s->h, r, s->err, what);
}

static int ignored(scan *s, bool *ret) {
        int ign = 0, r = git_ignore_path_is_ignored(&ign, s->h->repo, s->path);

        if (r < 0)
                return git_fail(s, r, "snapshot: ignore rules");
        *ret = ign != 0;
        return 0;
}

/* Reads the regular file behind fd into a blob. *ret_skip when it grew past the size cap meanwhile. */
static int file_blob(scan *s, int fd, const char *path, git_oid *ret, bool *ret_skip) {
        uint64_t cap = s->h->max_file_size, total = 0;
        _cleanup_free_ char *buf = malloc(SMALL_FILE);
        git_writestream *ws = NULL;
        size_t len = 0;
        ssize_t n;
        int r;

        if (!buf)
                return brig_error_oom(s->err);
        while (len < SMALL_FILE && (n = read(fd, buf + len, SMALL_FILE - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return brig_error_set_errno(s->err, -errno, BRIG_KIND_IO, "snapshot: read '%s'",
                                                    path);
                len += (size_t) n;
        }
        /* No stale error or errno may stand in for a failure that sets neither (brig__history_git_error). */
        git_error_clear();
        errno = 0;
        if (len < SMALL_FILE) {
                if ((r = git_blob_create_from_buffer(ret, s->h->repo, buf, len)) < 0)
                        return git_fail(s, r, "snapshot: store a file");
                return 0;
        }
        if ((r = git_blob_create_from_stream(&ws, s->h->repo, NULL)) < 0)
                return git_fail(s, r, "snapshot: store a file");
        for (;;) {
                total += len;
                if (cap && total > cap) {
                        ws->free(ws);
                        *ret_skip = true;
                        return 0;
                }
                if ((r = ws->write(ws, buf, len)) < 0) {
                        int saved = errno;
                        ws->free(ws);
                        errno = saved;
                        return git_fail(s, r, "snapshot: store a file");
                }
                do
                        n = read(fd, buf, SMALL_FILE);
                while (n < 0 && errno == EINTR);
                if (n < 0) {
                        r = -errno;
                        ws->free(ws);
                        return brig_error_set_errno(s->err, r, BRIG_KIND_IO, "snapshot: read '%s'", path);
                }
                if (n == 0)
                        break;
                len = (size_t) n;
        }
        if ((r = git_blob_create_from_stream_commit(ret, ws)) < 0)
                return git_fail(s, r, "snapshot: store a file");
        return 0;
}

/* Hashes the file or symlink `name` in dfd (workspace path `path`) into a blob and queues its index entry.
 * Files that vanished, became something else, cannot be read or are over the size cap are left out
 * (*ret_skip). */
static int queue_entry(scan *s, int dfd, const char *name, const char *path, bool *ret_skip) {
        git_index_entry e = {0};
        struct stat st;
        int r;

        *ret_skip = true;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOMEM ? brig_error_oom(s->err) : 0;
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dfd, name, target, sizeof(target));
                if (n < 0 || (size_t) n >= sizeof(target))
                        return 0;
                if ((r = git_blob_create_from_buffer(&e.id, s->h->repo, target, (size_t) n)) < 0)
                        return git_fail(s, r, "snapshot: store a symlink");
        } else if (S_ISREG(st.st_mode)) {
                /* O_NONBLOCK: a FIFO swapped in after the fstatat() must not block the open. */
                _cleanup_close_ int fd =
                        openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0)
                        return errno == ENOMEM ? brig_error_oom(s->err) : 0; /* EACCES, or raced away */
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (s->h->max_file_size && (uint64_t) st.st_size > s->h->max_file_size))
                        return 0;
                *ret_skip = false;
                if ((r = file_blob(s, fd, path, &e.id, ret_skip)) < 0 || *ret_skip)
                        return r;
        } else
                return 0; /* FIFOs, sockets, devices: git stores none of them */
        *ret_skip = false;
        e.ctime.seconds = (int32_t) st.st_ctim.tv_sec;
        e.ctime.nanoseconds = (uint32_t) st.st_ctim.tv_nsec;
        e.mtime.seconds = (int32_t) st.st_mtim.tv_sec;
        e.mtime.nanoseconds = (uint32_t) st.st_mtim.tv_nsec;
        e.dev = (uint32_t) st.st_dev;
        e.ino = (uint32_t) st.st_ino;
        e.mode = mode_of(&st);
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        e.file_size = (uint32_t) st.st_size;
        if (!(e.path = strdup(path)))
                return brig_error_oom(s->err);
        if (s->n_adds == s->cap_adds) {
                size_t cap = s->cap_adds ? s->cap_adds * 2 : 64;
                git_index_entry *n = reallocarray(s->adds, cap, sizeof(*n));
                if (!n) {
                        free((char *) e.path);
                        return brig_error_oom(s->err);
                }
                s->adds = n;
                s->cap_adds = cap;
        }
        s->adds[s->n_adds++] = e;
        return 0;
}

static bool ts_before(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static int dir_cmp(const void *a, const void *b) {
        return strcmp(((const brig__history_dir *) a)->path, ((const brig__history_dir *) b)->path);
}

static brig__history_dir *dir_find(brig__history_dir *dirs, size_t n, const char *path) {
        brig__history_dir key = {.path = (char *) path};
        return n ? bsearch(&key, dirs, n, sizeof(*dirs), dir_cmp) : NULL;
}

/* Appends a record for the directory s->path with stat st; *ret_idx is its index (records move). */
static int dir_new(scan *s, const struct stat *st, size_t *ret_idx) {
        brig__history_dir d = {
                .dev = st->st_dev, .ino = st->st_ino, .mtime = st->st_mtim, .ctime = st->st_ctim};

        /* Racily clean directories are not cached: file times come from a clock that only advances every
         * tick, so a name added right after the readdir may leave mtime and ctime as they were. */
        d.cacheable = ts_before(&st->st_mtim, &s->settled) && ts_before(&st->st_ctim, &s->settled);

        if (s->n_dirs == s->cap_dirs) {
                size_t cap = s->cap_dirs ? s->cap_dirs * 2 : 64;
                brig__history_dir *n = reallocarray(s->dirs, cap, sizeof(*n));
                if (!n)
                        return brig_error_oom(s->err);
                s->dirs = n;
                s->cap_dirs = cap;
        }
        if (!(d.path = strdup(s->path)) || !(d.subdirs = calloc(1, sizeof(char *)))) {
                free(d.path);
                return brig_error_oom(s->err);
        }
        *ret_idx = s->n_dirs;
        s->dirs[s->n_dirs++] = d;
        return 0;
}

static int dir_add_subdir(scan *s, size_t idx, const char *name) {
        brig__history_dir *d = &s->dirs[idx];
        size_t n = 0;
        char **v;

        while (d->subdirs[n])
                n++;
        if (!(v = reallocarray(d->subdirs, n + 2, sizeof(char *))))
                return brig_error_oom(s->err);
        d->subdirs = v;
        if (!(v[n] = strdup(name)))
                return brig_error_oom(s->err);
        v[n + 1] = NULL;
        return 0;
}

/* After the walk: the directory holding `path` has a name the index will not have. */
static void dir_invalidate(scan *s, const char *path) {
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        size_t len = slash ? (size_t) (slash - path) : 0;
        brig__history_dir *d;

        memcpy(dir, path, len);
        dir[len] = 0;
        if ((d = dir_find(s->dirs, s->n_dirs, dir)))
                d->cacheable = false;
}

/* Marks the tracked names directly inside directory s->path[0..len) as present. */
static void mark_children(scan *s, size_t len) {
        size_t lo = 0, hi = s->n, plen = len ? len + 1 : 0;

        s->path[len] = len ? '/' : 0;
        s->path[plen] = 0;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(s->entries[mid]->path, s->path) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t i = lo; i < s->n && strncmp(s->entries[i]->path, s->path, plen) == 0; i++)
                if (!strchr(s->entries[i]->path + plen, '/'))
                        s->seen[i] = true;
        s->path[len] = 0;
}

typedef enum name_kind {
        NAME_TRACKED, /* in the index */
        NAME_ADDED,   /* new, queued for the index */
        NAME_SUBDIR,  /* a directory descended into */
        NAME_OTHER,   /* left out: ignored, over the cap, unreadable, nested repository, special file */
} name_kind;

static int scan_dir(scan *s, int dfd, size_t len, unsigned depth);

/* The directory entry `name` of dfd, whose workspace path is s->path (of length len). */
static int scan_entry(scan *s, int dfd, const char *name, unsigned char type, size_t len, unsigned depth,
                      name_kind *ret_kind) {
        struct stat st;
        ssize_t pos;
        bool skip = false;
        int r;

        *ret_kind = NAME_OTHER;
        if (type == DT_UNKNOWN) {
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return errno == ENOMEM ? brig_error_oom(s->err) : 0;
                type = S_ISDIR(st.st_mode)   ? DT_DIR
                       : S_ISREG(st.st_mode) ? DT_REG
                       : S_ISLNK(st.st_mode) ? DT_LNK
                                             : 0;
        }
        if (type == DT_DIR) {
                _cleanup_close_ int sub = -1;
                struct stat git;

                s->path[len] = '/';
                s->path[len + 1] = 0;
                skip = !tracked_below(s, s->path);
                s->path[len] = 0;
                /* untracked and ignored (node_modules/): not even read */
                if (skip && ((r = ignored(s, &skip)) < 0 || skip))
                        return r;
                sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return errno == ENOMEM ? brig_error_oom(s->err)
                                               : 0; /* unreadable or raced away: left out */
                if (fstatat(sub, ".git", &git, AT_SYMLINK_NOFOLLOW) == 0)
                        return 0; /* a nested repository: left out */
                *ret_kind = NAME_SUBDIR;
                return scan_dir(s, TAKE_FD(sub), len, depth + 1);
        }
        if (type != DT_REG && type != DT_LNK)
                return 0; /* FIFOs, sockets, devices: git stores none of them */
        if ((pos = find(s, s->path)) >= 0) {
                s->seen[pos] = true; /* the stat check decides whether it changed */
                *ret_kind = NAME_TRACKED;
                return 0;
        }
        if ((r = ignored(s, &skip)) < 0 || skip)
                return r;
        if ((r = queue_entry(s, dfd, name, s->path, &skip)) < 0)
                return r;
        *ret_kind = skip ? NAME_OTHER : NAME_ADDED;
        return 0;
}

/* A directory the cache says is unchanged: tracked names from the index, subdirectories from the cache. */
static int scan_cached(scan *s, int dfd, size_t len, unsigned depth, const brig__history_dir *old,
                       size_t idx) {
        size_t sub = len ? len + 1 : 0;
        int r = 0;

        mark_children(s, len);
        for (char **name = old->subdirs; r >= 0 && *name; name++) {
                size_t n = strlen(*name);
                name_kind kind;
                if (len)
                        s->path[len] = '/';
                memcpy(s->path + sub, *name, n + 1);
                r = scan_entry(s, dfd, *name, DT_DIR, sub + n, depth, &kind);
                s->path[len] = 0;
                if (r >= 0 && kind == NAME_SUBDIR)
                        r = dir_add_subdir(s, idx, *name);
                else
                        s->dirs[idx].cacheable = false;
        }
        return r;
}

/* Takes ownership of dfd; s->path[0..len) is the directory's path ("" for the workspace root). */
static int scan_dir(scan *s, int dfd, size_t len, unsigned depth) {
        const brig__history_dir *old;
        struct dirent *de;
        struct stat st;
        size_t idx = 0;
        DIR *d;
        int r = 0;

        if (depth > MAX_DEPTH) {
                (void) close(dfd);
                return brig_error_set(s->err, -ELOOP, BRIG_KIND_LIMIT,
                                      "snapshot: the workspace is more than %d directories deep", MAX_DEPTH);
        }
        if (fstat(dfd, &st) < 0 || (r = dir_new(s, &st, &idx)) < 0) {
                r = r < 0 ? r : -errno;
                (void) close(dfd);
                return r == -ENOMEM
                               ? brig_error_oom(s->err)
                               : brig_error_set_errno(s->err, r, BRIG_KIND_IO, "snapshot: '%s'", s->path);
        }
        old = dir_find(s->old_dirs, s->n_old, s->path);
        if (old && old->dev == st.st_dev && old->ino == st.st_ino &&
            old->mtime.tv_sec == st.st_mtim.tv_sec && old->mtime.tv_nsec == st.st_mtim.tv_nsec &&
            old->ctime.tv_sec == st.st_ctim.tv_sec && old->ctime.tv_nsec == st.st_ctim.tv_nsec) {
                r = scan_cached(s, dfd, len, depth, old, idx);
                (void) close(dfd);
                return r;
        }
        if (!(d = fdopendir(dfd))) {
                r = -errno;
                (void) close(dfd);
                return brig_error_set_errno(s->err, r, BRIG_KIND_IO, "snapshot: read '%s'", s->path);
        }
        while (r >= 0) {
                name_kind kind;
                size_t n, sub;
                errno = 0;
                if (!(de = readdir(d))) {
                        if (errno)
                                r = brig_error_set_errno(s->err, -errno, BRIG_KIND_IO, "snapshot: read '%s'",
                                                         s->path);
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    strcmp(de->d_name, ".git") == 0)
                        continue;
                n = strlen(de->d_name);
                if (len + n + 2 >= sizeof(s->path)) {
                        s->dirs[idx].cacheable = false; /* longer than PATH_MAX: cannot be stored */
                        continue;
                }
                sub = len ? len + 1 : 0;
                if (len)
                        s->path[len] = '/';
                memcpy(s->path + sub, de->d_name, n + 1);
                r = scan_entry(s, dirfd(d), de->d_name, de->d_type, sub + n, depth, &kind);
                s->path[len] = 0;
                if (r >= 0 && kind == NAME_SUBDIR)
                        r = dir_add_subdir(s, idx, de->d_name);
                else if (kind == NAME_OTHER)
                        s->dirs[idx].cacheable = false;
        }
        (void) closedir(d);
        return r;
}

/* Opens the directory holding `path` below the workspace, one component at a time, refusing symlinks;
 * *ret_base points into path. */
static int open_parent(scan *s, const char *path, const char **ret_base) {
        const char *slash = strrchr(path, '/'), *p = path;
        int fd = fcntl(s->root, F_DUPFD_CLOEXEC, 3);

        if (fd < 0)
                return -errno;
        while (slash && p < slash) {
                char comp[NAME_MAX + 1];
                const char *end = strchr(p, '/');
                size_t n = (size_t) (end - p);
                int next;
                if (n == 0 || n > NAME_MAX) {
                        (void) close(fd);
                        return -EINVAL;
                }
                memcpy(comp, p, n);
                comp[n] = 0;
                next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                (void) close(fd);
                if (next < 0)
                        return -errno;
                fd = next;
                p = end + 1;
        }
        *ret_base = slash ? slash + 1 : path;
        return fd;
}

int brig__history_stage(brig_history *h, bool *ret_changed, brig_error *err) {
        _cleanup_(scan_done) scan s = {.h = h, .root = -1, .err = err};
        pthread_t helpers[MAX_HELPERS];
        size_t n_helpers = 0;
        char index_path[PATH_MAX];
        bool changed = false;
        long cpus;
        int root, r;

        if (clock_gettime(CLOCK_REALTIME, &s.settled) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "snapshot: clock");
        /* a second covers any timestamp granularity (ticks, multigrain) */
        s.settled.tv_sec -= h->settle_ns / 1000000000;
        s.settled.tv_nsec -= h->settle_ns % 1000000000;
        if (s.settled.tv_nsec < 0) {
                s.settled.tv_sec--;
                s.settled.tv_nsec += 1000000000;
        }
        /* The old cache is dropped whatever happens; only a scan that succeeds leaves one behind. */
        s.old_dirs = TAKE_PTR(h->dirs);
        s.n_old = h->n_dirs;
        h->n_dirs = 0;
        if ((r = git_index_read(h->index, 0)) < 0)
                return brig__history_git_error(h, r, err, "snapshot: read the index");
        s.n = git_index_entrycount(h->index);
        s.entries = calloc(s.n + 1, sizeof(*s.entries));
        s.seen = calloc(s.n + 1, sizeof(bool));
        s.dirty = calloc(s.n + 1, sizeof(bool));
        if (!s.entries || !s.seen || !s.dirty)
                return brig_error_oom(err);
        for (size_t i = 0; i < s.n; i++)
                s.entries[i] = git_index_get_byindex(h->index, i);
        (void) snprintf(index_path, sizeof(index_path), "%s/index", h->git_dir);
        s.have_idx = stat(index_path, &s.idx) == 0;
        if ((s.root = open(h->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "snapshot: open the workspace");
        if ((root = fcntl(s.root, F_DUPFD_CLOEXEC, 3)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "snapshot: open the workspace");

        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        while (n_helpers < MAX_HELPERS && (long) n_helpers + 1 < cpus &&
               s.n >= (n_helpers + 1) * ENTRIES_PER_HELPER &&
               pthread_create(&helpers[n_helpers], NULL, helper_main, &s) == 0)
                n_helpers++;
        r = scan_dir(&s, root, 0, 0);
        stat_entries(&s); /* whatever the helpers have not taken yet */
        for (size_t i = 0; i < n_helpers; i++)
                (void) pthread_join(helpers[i], NULL);
        if (r < 0)
                return r;
        if (s.n_dirs)
                qsort(s.dirs, s.n_dirs, sizeof(*s.dirs), dir_cmp);

        /* Re-read what changed; its directory is reopened without following symlinks. */
        for (size_t i = 0; i < s.n; i++) {
                const char *base = NULL;
                bool skip;
                int dfd;
                if (!s.seen[i] || !s.dirty[i])
                        continue;
                dfd = open_parent(&s, s.entries[i]->path, &base);
                if (dfd == -ENOMEM)
                        return brig_error_oom(err);
                skip = true;
                if (dfd >= 0) {
                        r = queue_entry(&s, dfd, base, s.entries[i]->path, &skip);
                        (void) close(dfd);
                        if (r < 0)
                                return r;
                }
                if (skip)
                        s.seen[i] = false; /* vanished, unreadable or over the cap now: removed */
        }
        /* Entries whose file is gone, last first so positions stay valid. Removing invalidates s.entries. */
        for (size_t i = s.n; i-- > 0;) {
                if (s.seen[i])
                        continue;
                dir_invalidate(&s, s.entries[i]->path); /* a name (if it still exists) the index lacks */
                if ((r = git_index_remove(h->index, s.entries[i]->path,
                                          git_index_entry_stage(s.entries[i]))) < 0)
                        return brig__history_git_error(h, r, err, "snapshot: update the index");
                changed = true;
        }
        for (size_t i = 0; i < s.n_adds; i++) {
                if ((r = git_index_add(h->index, &s.adds[i])) < 0) {
                        const git_error *e = git_error_last();
                        if (e && e->klass == GIT_ERROR_NOMEMORY)
                                return brig_error_oom(err);
                        git_error_clear(); /* a path git refuses to store: left out */
                        dir_invalidate(&s, s.adds[i].path);
                        continue;
                }
                changed = true;
        }

        /* Keep the directories whose names are all in the index now. */
        for (size_t i = 0; i < s.n_dirs; i++) {
                if (s.dirs[i].cacheable) {
                        s.dirs[h->n_dirs++] = s.dirs[i];
                        continue;
                }
                free(s.dirs[i].path);
                brig_strv_free(s.dirs[i].subdirs);
        }
        h->dirs = TAKE_PTR(s.dirs);
        s.n_dirs = 0;
        *ret_changed = changed;
        return 0;
}
