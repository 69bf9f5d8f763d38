/* SPDX-License-Identifier: MIT */
/* Resolution of client paths beneath the workspace directory fd: openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) where the kernel has it, a component walk with the same rules where it does not,
 * and the client messages both share. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>
#if HAVE_OPENAT2
#include <linux/openat2.h>
#endif

#include "common/cleanup.h"
#include "common/text.h"
#include "tools/wspath.h"

/* Tests only (brig_ws_force_fallback). */
static atomic_bool force_fallback;
/* Set once the kernel answered ENOSYS: that answer cannot change while we run. */
static atomic_bool no_openat2;

void brig_ws_force_fallback(bool on) {
        atomic_store(&force_fallback, on);
}

const char *brig_ws_quote(const char *s, char *buf, size_t size) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0, limit;

        assert(size >= 8);
        limit = size - 4; /* room for "..." and the NUL */
        for (const char *p = s; *p;) {
                unsigned char c = (unsigned char) *p;
                char tmp[4];
                size_t n = 1, tn = 1;

                if (c >= 0x80) {
                        size_t k = brig_utf8_seq_len(c);
                        if (k && strnlen(p, k) == k && brig_utf8_valid(p, k)) {
                                memcpy(tmp, p, k);
                                n = tn = k;
                        } else {
                                tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15];
                                tn = 4;
                        }
                } else if (c == '\'' || c == '\\') {
                        tmp[0] = '\\', tmp[1] = (char) c;
                        tn = 2;
                } else if (c == '\n' || c == '\t' || c == '\r') {
                        tmp[0] = '\\', tmp[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
                        tn = 2;
                } else if (c < 0x20 || c == 0x7f) {
                        tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15];
                        tn = 4;
                } else
                        tmp[0] = (char) c;
                if (o + tn > limit) {
                        memcpy(buf + o, "...", 4);
                        return buf;
                }
                memcpy(buf + o, tmp, tn);
                o += tn;
                p += n;
        }
        buf[o] = 0;
        return buf;
}

int brig_ws_error(int r, const char *path, brig_error *err) {
        char q[BRIG_WS_QUOTE_SIZE];

        (void) brig_ws_quote(path, q, sizeof(q));
        switch (r) {
        case -EXDEV:
                return brig_error_set(err, r, BRIG_KIND_DENIED, "path '%s' escapes the workspace", q);
        case -ELOOP:
                return brig_error_set(
                        err, r, BRIG_KIND_DENIED,
                        "path '%s': too many symbolic links, or a link that may not be followed", q);
        case -ENOENT:
                return brig_error_set(err, r, BRIG_KIND_NOT_FOUND, "path '%s' does not exist", q);
        case -ENOTDIR:
                return brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "path '%s': not a directory", q);
        case -EISDIR:
                return brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "path '%s' is a directory", q);
        case -EEXIST:
                return brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "path '%s' already exists", q);
        case -EACCES:
        case -EPERM:
                return brig_error_set(err, r, BRIG_KIND_DENIED, "path '%s': permission denied", q);
        case -ENAMETOOLONG:
                return brig_error_set(err, r, BRIG_KIND_INVALID_ARGUMENT, "path '%s': name too long", q);
        case -ENOMEM:
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "out of memory");
        default:
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "path '%s'", q);
        }
}

int brig_ws_check_path(const char *path, brig_error *err) {
        char q[BRIG_WS_QUOTE_SIZE];
        size_t len;

        assert(path);
        len = strnlen(path, PATH_MAX);
        if (len >= PATH_MAX)
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is longer than %d bytes", brig_ws_quote(path, q, sizeof(q)),
                                      PATH_MAX - 1);
        if (path[0] == '/')
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is absolute; paths are relative to the workspace root",
                                      brig_ws_quote(path, q, sizeof(q)));
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                if (n > NAME_MAX)
                        return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                              "path '%s' has a component longer than %d bytes",
                                              brig_ws_quote(path, q, sizeof(q)), NAME_MAX);
                p += n;
                p += strspn(p, "/");
        }
        return 0;
}

#if HAVE_OPENAT2 && defined(SYS_openat2)
static int open_kernel(int root_fd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (unsigned) flags,
                .mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };

        /* EAGAIN: a rename or mount raced with a ".." lookup and the kernel could not prove the result is
         * still beneath. Retry a few times, then let the caller take the walk. */
        for (int i = 0; i < 16; i++) {
                long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}
#endif

/* The fallback walk. FIXME: remove once the minimum kernel is >= 5.6 (openat2).
 *
 * Invariants: dir_fd is an O_PATH fd of a directory reached from the root only through directories
 * opened with O_NOFOLLOW, and cur is that chain of names. ".." pops a name and walks cur again from the
 * root (never opening ".." itself, so a directory moved meanwhile cannot lead out), a symlink is read and
 * its target spliced in front of what is left of the path, and an absolute target or a ".." at the root
 * is -EXDEV, as RESOLVE_BENEATH has it. Links on procfs are refused like RESOLVE_NO_MAGICLINKS does. */
typedef struct walk {
        int root_fd;
        int dir_fd;
        char cur[PATH_MAX];
        size_t cur_len;
        unsigned links;
        char *todo; /* what is left to resolve; the walk reads it through a cursor */
} walk;

static void walk_done(walk *w) {
        brig_closep(&w->dir_fd);
        free(w->todo);
}

/* Walks w->cur again from the root, every step O_NOFOLLOW: a name swapped for a symlink fails. */
static int walk_reopen(walk *w) {
        _cleanup_close_ int fd = openat(w->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        char names[PATH_MAX], *save = NULL;

        if (fd < 0)
                return -errno;
        memcpy(names, w->cur, w->cur_len + 1);
        for (char *c = strtok_r(names, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int nfd = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
                if (nfd < 0)
                        return -errno;
                brig_closep(&fd);
                fd = nfd;
        }
        brig_closep(&w->dir_fd);
        w->dir_fd = TAKE_FD(fd);
        return 0;
}

static int walk_enter(walk *w, const char *name, size_t len, int fd) {
        if (w->cur_len + 1 + len >= sizeof(w->cur)) {
                brig_close_nointr(fd);
                return -ENAMETOOLONG;
        }
        if (w->cur_len)
                w->cur[w->cur_len++] = '/';
        memcpy(w->cur + w->cur_len, name, len);
        w->cur_len += len;
        w->cur[w->cur_len] = 0;
        brig_closep(&w->dir_fd);
        w->dir_fd = fd;
        return 0;
}

static int walk_up(walk *w) {
        char *slash;

        if (w->cur_len == 0)
                return -EXDEV;
        slash = memrchr(w->cur, '/', w->cur_len);
        w->cur_len = slash ? (size_t) (slash - w->cur) : 0;
        w->cur[w->cur_len] = 0;
        return walk_reopen(w);
}

/* Replaces the link (link_fd, an O_PATH fd of it) and everything before rest with the link's target:
 * the walk then continues from the current directory with target + rest. */
static int walk_splice(walk *w, int link_fd, const char *rest) {
        char target[PATH_MAX];
        struct statfs sfs;
        size_t rest_len = strlen(rest);
        ssize_t n;
        char *s;

        if (++w->links > BRIG_WS_MAX_LINKS)
                return -ELOOP;
        if (fstatfs(link_fd, &sfs) < 0)
                return -errno;
        if (sfs.f_type == PROC_SUPER_MAGIC)
                return -ELOOP;
        n = readlinkat(link_fd, "", target, sizeof(target));
        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(target) || (size_t) n + rest_len >= PATH_MAX)
                return -ENAMETOOLONG;
        if (n == 0)
                return -ENOENT;
        if (target[0] == '/')
                return -EXDEV;
        s = malloc((size_t) n + rest_len + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, target, (size_t) n);
        memcpy(s + n, rest, rest_len + 1);
        free(w->todo);
        w->todo = s;
        return 0;
}

/* Opens the last component. Returns an fd, a negative errno, or INT_MAX when the walk goes on through a
 * spliced symlink. */
static int walk_last(walk *w, const char *name, const char *rest, bool trailing_slash, int flags,
                     mode_t mode) {
        _cleanup_close_ int fd = -1, lfd = -1;
        struct stat st;
        int r;

        if (trailing_slash) {
                if (flags & O_CREAT)
                        return -EISDIR;
                flags |= O_DIRECTORY;
        }
        if (flags & O_NOFOLLOW) {
                fd = openat(w->dir_fd, name, flags, mode);
                return fd < 0 ? -errno : TAKE_FD(fd);
        }
        fd = openat(w->dir_fd, name, flags | O_NOFOLLOW, mode);
        if (fd >= 0) {
                if (!(flags & O_PATH))
                        return TAKE_FD(fd);
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISLNK(st.st_mode))
                        return TAKE_FD(fd);
                lfd = TAKE_FD(fd);
        } else {
                /* ELOOP: a symlink opened with O_NOFOLLOW; ENOTDIR: the same with O_DIRECTORY. */
                int e = errno;
                if (e != ELOOP && e != ENOTDIR)
                        return -e;
                lfd = openat(w->dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (lfd < 0)
                        return -errno;
                if (fstat(lfd, &st) < 0)
                        return -errno;
                if (!S_ISLNK(st.st_mode))
                        return -e;
        }
        r = walk_splice(w, lfd, rest);
        return r < 0 ? r : INT_MAX;
}

static int open_walk(int root_fd, const char *path, int flags, mode_t mode) {
        _cleanup_(walk_done) walk w = {.root_fd = root_fd, .dir_fd = -1};
        const char *p;
        int r;

        w.todo = strdup(path);
        if (!w.todo)
                return -ENOMEM;
        w.dir_fd = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (w.dir_fd < 0)
                return -errno;
        p = w.todo;
        for (;;) {
                char name[NAME_MAX + 1];
                const char *end, *next;
                size_t len;

                p += strspn(p, "/");
                if (!*p) {
                        /* Empty, or ended in "." or "..": the current directory itself. */
                        r = openat(w.dir_fd, ".", flags, mode);
                        return r < 0 ? -errno : r;
                }
                end = strchrnul(p, '/');
                len = (size_t) (end - p);
                if (len > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(name, p, len);
                name[len] = 0;
                next = end + strspn(end, "/");
                if (strcmp(name, ".") == 0) {
                        p = end;
                        continue;
                }
                if (strcmp(name, "..") == 0) {
                        if ((r = walk_up(&w)) < 0)
                                return r;
                        p = end;
                        continue;
                }
                if (!*next) {
                        r = walk_last(&w, name, end, *end == '/', flags, mode);
                        if (r != INT_MAX)
                                return r;
                        p = w.todo;
                        continue;
                }

                _cleanup_close_ int fd = openat(w.dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;

                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        if ((r = walk_enter(&w, name, len, TAKE_FD(fd))) < 0)
                                return r;
                        p = end;
                } else if (S_ISLNK(st.st_mode)) {
                        if ((r = walk_splice(&w, fd, end)) < 0)
                                return r;
                        p = w.todo;
                } else
                        return -ENOTDIR;
        }
}

static int open_beneath(int root_fd, const char *path, int flags, mode_t mode) {
        if (!path[0])
                path = ".";
        flags |= O_CLOEXEC;
#if HAVE_OPENAT2 && defined(SYS_openat2)
        if (!atomic_load(&force_fallback) && !atomic_load(&no_openat2)) {
                int r = open_kernel(root_fd, path, flags, mode);
                if (r != -ENOSYS && r != -EAGAIN)
                        return r;
                if (r == -ENOSYS)
                        atomic_store(&no_openat2, true);
        }
#endif
        return open_walk(root_fd, path, flags, mode);
}

int brig_ws_open(int root_fd, const char *path, int flags, mode_t mode, brig_error *err) {
        int r = brig_ws_check_path(path, err);

        if (r < 0)
                return r;
        r = open_beneath(root_fd, path, flags, mode);
        if (r < 0)
                return brig_ws_error(r, path, err);
        return r;
}

int brig_ws_open_parent(int root_fd, const char *path, char **ret_name, brig_error *err) {
        _cleanup_free_ char *parent = NULL, *name = NULL;
        char q[BRIG_WS_QUOTE_SIZE];
        const char *slash;
        size_t len;
        int fd, r;

        if ((r = brig_ws_check_path(path, err)) < 0)
                return r;
        len = strlen(path);
        while (len > 0 && path[len - 1] == '/')
                len--;
        if (len == 0 || (len == 1 && path[0] == '.'))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' names the workspace root, not a file in it",
                                      brig_ws_quote(path, q, sizeof(q)));
        /* Not memrchr(): gcc 12 with the sanitizers and -O2 proves a null `path` on a path it invents and
         * fails the build (-Werror=nonnull). */
        size_t cut = len;
        while (cut > 0 && path[cut - 1] != '/')
                cut--;
        slash = cut > 0 ? path + cut - 1 : NULL;
        name = strndup(slash ? slash + 1 : path, slash ? len - (size_t) (slash + 1 - path) : len);
        if (!name || (slash && !(parent = strndup(path, (size_t) (slash - path)))))
                return brig_error_oom(err);
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' must end in a file name, not '.' or '..'",
                                      brig_ws_quote(path, q, sizeof(q)));
        /* A top-level name's parent is the root itself: nothing to resolve, a copy of its fd will do. */
        if (parent)
                fd = open_beneath(root_fd, parent, O_PATH | O_DIRECTORY, 0);
        else if ((fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                fd = -errno;
        if (fd == -ENOENT)
                return brig_error_set(err, fd, BRIG_KIND_NOT_FOUND,
                                      "path '%s': parent directory does not exist",
                                      brig_ws_quote(path, q, sizeof(q)));
        if (fd == -ENOTDIR)
                return brig_error_set(err, fd, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s': parent is not a directory",
                                      brig_ws_quote(path, q, sizeof(q)));
        if (fd < 0)
                return brig_ws_error(fd, path, err);
        *ret_name = TAKE_PTR(name);
        return fd;
}
