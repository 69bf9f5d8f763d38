/* SPDX-License-Identifier: MIT */
/* Forking a history: a new git directory that shares the source's objects (hard links: git objects and
 * packs are immutable and never rewritten in place), its main branch at one snapshot, and its workspace
 * written from that snapshot (history_fork_write.c), so the fork's history lists the same snapshots up to
 * that point and its first snapshot finds nothing to read (the index holds every file's stat data). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "tools/history_private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(git_reference *, git_reference_free);

int brig_history_resolve_id(brig_history *h, const char *spec, const char *field, char ret_id[41],
                            brig_error *err) {
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        int r;

        if ((r = brig__history_enter(h, &ids, err)) < 0 ||
            (r = brig__history_resolve(h, spec, field, &c, err)) < 0)
                return r;
        (void) git_oid_tostr(ret_id, GIT_OID_HEXSZ + 1, git_commit_id(c));
        return 0;
}

/* A copy of one object file where a hard link is impossible (another filesystem, a host that forbids
 * linking files of another uid). */
static int copy_file(int sdir, int ddir, const char *name) {
        _cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        struct stat st;

        if (in < 0 || fstat(in, &st) < 0)
                return -errno;
        out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (out < 0)
                return -errno;
        int64_t n = brig_copy_fd(in, out, (uint64_t) st.st_size);
        if (n < 0)
                return (int) n;
        return n == st.st_size ? 0 : -EIO; /* it changed while copied */
}

/* Links (or copies) the files of src/<name> into dst/<name>, which is made owned by uid:gid (-1: as is). */
static int share_dir(int src, int dst, const char *name, uid_t uid, gid_t gid) {
        _cleanup_close_ int sfd = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int dfd = -1;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd, r;

        if (sfd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (mkdirat(dst, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        if ((dfd = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                return -errno;
        if (uid != (uid_t) -1 && fchown(dfd, uid, gid) < 0)
                return -errno;
        if ((fd = fcntl(sfd, F_DUPFD_CLOEXEC, 3)) < 0 || !(d = fdopendir(fd))) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                /* Objects and packs being written right now (libgit2 writes tmp_* and pack_git2_* and
                 * renames them): not objects yet. */
                if (de->d_name[0] == '.' || strncmp(de->d_name, "tmp_", 4) == 0 ||
                    strstr(de->d_name, "_git2_") || de->d_type == DT_DIR)
                        continue;
                if (linkat(sfd, de->d_name, dfd, de->d_name, 0) == 0 || errno == EEXIST)
                        continue;
                if (errno != EXDEV && errno != EPERM && errno != EMLINK)
                        return -errno;
                if ((r = copy_file(sfd, dfd, de->d_name)) < 0 && r != -EEXIST)
                        return r;
        }
        return errno ? -errno : 0;
}

/* Every loose object directory (two hex digits) and the packs of src_git_dir, shared into git_dir. */
static int share_objects(const char *src_git_dir, const char *git_dir, uid_t uid, gid_t gid,
                         brig_error *err) {
        _cleanup_close_ int src = -1, dst = -1;
        _cleanup_(closedirp) DIR *d = NULL;
        char path[PATH_MAX];
        struct dirent *de;
        int r;

        (void) snprintf(path, sizeof(path), "%s/objects", src_git_dir);
        if ((src = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: open the source's objects");
        (void) snprintf(path, sizeof(path), "%s/objects", git_dir);
        if (mkdir(git_dir, 0700) < 0 || mkdir(path, 0755) < 0 ||
            (dst = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
            (uid != (uid_t) -1 && (chown(git_dir, uid, gid) < 0 || fchown(dst, uid, gid) < 0)))
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: create the git directory");
        int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || !(d = fdopendir(fd))) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "fork: read the source's objects");
        }
        while ((errno = 0, de = readdir(d))) {
                bool loose = strlen(de->d_name) == 2 && isxdigit((unsigned char) de->d_name[0]) &&
                             isxdigit((unsigned char) de->d_name[1]);
                if (!loose && strcmp(de->d_name, "pack") != 0)
                        continue;
                if ((r = share_dir(src, dst, de->d_name, uid, gid)) < 0)
                        return brig_error_set_errno(err, r, BRIG_KIND_IO, "fork: share objects/%s",
                                                    de->d_name);
        }
        if (errno)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: read the source's objects");
        return 0;
}

int brig_history_fork(const char *src_git_dir, const char *commit, const char *git_dir,
                      const char *workspace, const char *final_workspace, const brig_history_options *opts,
                      const brig_history_fork_source *source, brig_wsusage *ret_usage, brig_error *err) {
        _cleanup_(brig_history_freep) brig_history *h = NULL;
        _cleanup_(brig__history_leave) brig__history_ids ids = {0};
        _cleanup_(git_commit_freep) git_commit *c = NULL;
        _cleanup_(git_tree_freep) git_tree *tree = NULL;
        _cleanup_(git_reference_freep) git_reference *ref = NULL;
        _cleanup_(git_config_freep) git_config *cfg = NULL;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        struct stat st;
        git_oid oid;
        int r;

        if (stat(workspace, &st) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "fork: workspace");
        /* As brig_history_open() does: the git directory belongs to the workspace's owner. */
        if (geteuid() == 0 && st.st_uid != 0) {
                uid = st.st_uid;
                gid = st.st_gid;
        }
        if (git_oid_fromstr(&oid, commit) < 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "fork: bad snapshot id");
        if ((r = share_objects(src_git_dir, git_dir, uid, gid, err)) < 0)
                return r;
        /* The objects are there, no HEAD yet: the open below creates the repository around them. */
        if ((r = brig_history_open(git_dir, workspace, opts, &h, err)) < 0 ||
            (r = brig__history_enter(h, &ids, err)) < 0)
                return r;
        if ((r = git_commit_lookup(&c, h->repo, &oid)) < 0)
                return brig__history_git_error(h, r, err, "fork: snapshot");
        if ((r = git_commit_tree(&tree, c)) < 0)
                return brig__history_git_error(h, r, err, "fork: snapshot");
        if ((r = git_reference_create(&ref, h->repo, "refs/heads/main", &oid, 1, "fork")) < 0)
                return brig__history_git_error(h, r, err, "fork: set the branch");
        /* For an operator's `git --git-dir=... status`: the workspace's name once the fork is in place. */
        if ((r = git_repository_config(&cfg, h->repo)) < 0 ||
            (r = git_config_set_string(cfg, "core.worktree", final_workspace)) < 0)
                return brig__history_git_error(h, r, err, "fork: configure repository");
        brig__history_leave(&ids);
        return brig__history_fork_write(h, tree, source, uid, gid, ret_usage, err);
}
