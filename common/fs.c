/* SPDX-License-Identifier: MIT */
/* Recursive removal and creation of the worker's directories, fd-relative so symlinks are never followed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"

static int rm_rf_at(int dirfd, const char *name, int depth) {
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        if (depth > BRIG_RM_RF_MAX_DEPTH)
                return -ELOOP;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES) {
                (void) !fchmodat(dirfd, name, 0700, 0);
                fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        (void) !fchmod(fd, 0700);
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                (void) close(dfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                int q = rm_rf_at(fd, de->d_name, depth + 1);
                if (q < 0 && r == 0)
                        r = q;
        }
        (void) closedir(d);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && r == 0 && errno != ENOENT)
                r = -errno;
        return r;
}

int brig_rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path, 0);
}

int brig_mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        /* The parent exists as a rule (a jail's root is built top-down): one mkdir() then, not one per
         * component of the path. */
        if (mkdir(path, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int brig_path_searchable_by(const char *path, uid_t uid, char *ret_blocker, size_t size) {
        char buf[PATH_MAX];
        struct stat st;

        if (strlen(path) >= sizeof(buf) || path[0] != '/')
                return -EINVAL;
        strcpy(buf, path);
        for (;;) {
                if (stat(buf, &st) < 0)
                        return -errno;
                if (!(st.st_mode & S_IXOTH) && st.st_uid != uid) {
                        (void) snprintf(ret_blocker, size, "%s", buf);
                        return -EACCES;
                }
                char *slash = strrchr(buf, '/');
                if (!slash || slash == buf) {
                        if (buf[1] == 0)
                                return 0;
                        buf[1] = 0; /* check "/" last */
                        continue;
                }
                *slash = 0;
        }
}

char *brig_exe_relative_path(const char *rel, int mode) {
        char exe[PATH_MAX], *s = NULL;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n <= 0)
                return NULL;
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (!slash)
                return NULL;
        *slash = 0;
        if (asprintf(&s, "%s/%s", exe, rel) < 0)
                return NULL;
        if (access(s, mode) < 0) {
                free(s);
                return NULL;
        }
        return s;
}

int64_t brig_copy_fd(int in, int out, uint64_t max) {
        _cleanup_free_ char *buf = NULL;
        uint64_t want = max < UINT64_MAX ? max + 1 : max;
        loff_t off = 0;
        ssize_t n;

        while ((uint64_t) off < want) {
                size_t len =
                        want - (uint64_t) off > (1u << 30) ? (1u << 30) : (size_t) (want - (uint64_t) off);
                n = copy_file_range(in, &off, out, NULL, len, 0);
                if (n == 0)
                        return off;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
        }
        if ((uint64_t) off >= want)
                return off;
        /* Across file systems on kernels before 5.19, or where the file system has no such copy. */
        if (errno != EXDEV && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
                return -errno;
        if (!(buf = malloc(1u << 20)))
                return -ENOMEM;
        while ((uint64_t) off < want) {
                size_t len =
                        want - (uint64_t) off > (1u << 20) ? (1u << 20) : (size_t) (want - (uint64_t) off);
                int r;
                n = pread(in, buf, len, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if ((r = brig_write_all(out, buf, (size_t) n)) < 0)
                        return r;
                off += n;
        }
        return off;
}

int brig_write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                /* After a short write, the next one says why (ENOSPC, EDQUOT). */
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}
