/* SPDX-License-Identifier: MIT */
/* A workspace's disk usage for the soft quota: a walk below its directory fd (see wsusage.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "tools/wsusage.h"

#define MAX_DEPTH 512

/* Inodes with more than one link seen so far (an open-addressing set), so that each is counted once. */
typedef struct seen {
        ino_t *slot; /* 0 marks a free slot; inode 0 does not occur on Linux file systems */
        size_t n, cap;
} seen;

static bool seen_insert(ino_t *slot, size_t cap, ino_t ino) {
        for (size_t i = (size_t) (ino * 0x9e3779b97f4a7c15ULL) & (cap - 1);; i = (i + 1) & (cap - 1)) {
                if (slot[i] == ino)
                        return false;
                if (slot[i] == 0) {
                        slot[i] = ino;
                        return true;
                }
        }
}

/* Returns whether ino is new. On allocation failure a file may be counted twice, never lost. */
static bool seen_add(seen *s, ino_t ino) {
        if (ino == 0)
                return true;
        if (2 * (s->n + 1) > s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                ino_t *slot = calloc(cap, sizeof(ino_t));
                if (!slot)
                        return true;
                for (size_t i = 0; i < s->cap; i++)
                        if (s->slot[i])
                                (void) seen_insert(slot, cap, s->slot[i]);
                free(s->slot);
                s->slot = slot;
                s->cap = cap;
        }
        if (!seen_insert(s->slot, s->cap, ino))
                return false;
        s->n++;
        return true;
}

static int walk(int dir_fd, dev_t dev, int depth, seen *links, brig_wsusage *u, brig_error *err) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > MAX_DEPTH)
                return brig_error_set(err, -ELOOP, BRIG_KIND_LIMIT, "workspace nested deeper than %d levels",
                                      MAX_DEPTH);
        d = fdopendir(dir_fd);
        if (!d) {
                (void) close(dir_fd);
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read a workspace directory");
        }
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (st.st_dev != dev)
                        continue;
                u->files++;
                if (S_ISDIR(st.st_mode)) {
                        u->bytes += (uint64_t) st.st_blocks * 512;
                        int fd = openat(dirfd(d), de->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
                        if (fd < 0 && errno == EPERM)
                                fd = openat(dirfd(d), de->d_name,
                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                r = walk(fd, dev, depth + 1, links, u, err);
                        continue;
                }
                if (st.st_nlink > 1 && !seen_add(links, st.st_ino))
                        continue;
                u->bytes += (uint64_t) st.st_blocks * 512;
        }
        if (r >= 0 && errno != 0)
                r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "read a workspace directory");
        (void) closedir(d);
        return r;
}

int brig_wsusage_measure(int root_fd, brig_wsusage *ret, brig_error *err) {
        brig_wsusage u = {0};
        seen links = {0};
        struct stat st;
        int fd, r;

        if (fstat(root_fd, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "stat the workspace");
        fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open the workspace");
        u.bytes = (uint64_t) st.st_blocks * 512;
        r = walk(fd, st.st_dev, 0, &links, &u, err);
        free(links.slot);
        if (r < 0)
                return r;
        *ret = u;
        return 0;
}
