/* SPDX-License-Identifier: MIT */
/* Builds the jail's root filesystem inside a fresh mount namespace, following bubblewrap's sequence: a
 * tmpfs holds both the new root and the old one, so bind sources are reached as /oldroot/SOURCE (even those
 * under a /tmp the setup tmpfs covers), and the old root is detached before the command runs. Runs in the
 * jail's init process, before any agent code, so the only paths it walks are the policy's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "sandbox/jail.h"

#define SETUP_DIR "/tmp"
/* In the setup root: what hidden paths are bound to. */
#define HIDDEN_DIR "/hidden.d"
#define HIDDEN_FILE "/hidden"

static int mkdir_parent(const char *path) {
        char buf[PATH_MAX];
        char *slash;

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        slash = strrchr(buf, '/');
        if (!slash || slash == buf)
                return 0;
        *slash = 0;
        return brig_mkdir_p(buf, 0755);
}

static int touch(const char *path, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        (void) close(fd);
        return 0;
}

/* Sets mount flags on a whole bind tree. mount_setattr() reaches submounts too, which a plain remount does
 * not; a remount must keep the flags the kernel locked on the source (nosuid, nodev, noexec, atime) or it
 * fails with EPERM inside a user namespace. */
static int restrict_mount(const char *path, bool read_only, bool recursive) {
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0),
        };
        struct statvfs sv;

        if (mount_setattr(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr)) == 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;
        /* A remount reaches the top mount only: the submounts of a recursive bind would stay writable,
         * with suid and devices. Refuse rather than build a weaker jail. */
        if (recursive)
                return -EOPNOTSUPP;
        /* FIXME: remove once the minimum kernel is >= 5.12 (mount_setattr). */
        if (statvfs(path, &sv) < 0)
                return -errno;
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
        if (sv.f_flag & ST_NOEXEC)
                flags |= MS_NOEXEC;
        if (sv.f_flag & ST_NOATIME)
                flags |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME)
                flags |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME)
                flags |= MS_RELATIME;
        if (mount(NULL, path, NULL, flags, NULL) < 0)
                return -errno;
        return 0;
}

static int apply_bind(const brig_mount *m, const char *dst) {
        char src[PATH_MAX], target[PATH_MAX];
        struct stat st;
        int r;

        if (snprintf(src, sizeof(src), "/oldroot%s", m->source) >= (int) sizeof(src))
                return -ENAMETOOLONG;
        if (lstat(src, &st) < 0)
                return errno == ENOENT && m->optional ? 0 : -errno;
        if (S_ISLNK(st.st_mode)) {
                /* Merged-/usr systems have /bin -> usr/bin: recreate the link rather than bind its target.
                 */
                ssize_t n = readlink(src, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                if ((r = mkdir_parent(dst)) < 0)
                        return r;
                return symlink(target, dst) < 0 ? -errno : 0;
        }
        if (S_ISDIR(st.st_mode))
                r = brig_mkdir_p(dst, 0755);
        else if ((r = mkdir_parent(dst)) >= 0)
                r = touch(dst, 0644);
        if (r < 0)
                return r;
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;
        return restrict_mount(dst, m->read_only, true);
}

static int apply_tmpfs(const brig_mount *m, const char *dst) {
        char opts[64];
        int r = brig_mkdir_p(dst, 0755);

        if (r < 0)
                return r;
        (void) snprintf(opts, sizeof(opts), "size=%llu,mode=%04o", (unsigned long long) m->size, m->mode);
        return mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ? -errno : 0;
}

/* A minimal /dev: a few harmless nodes bound from the host (mknod is not allowed in a user namespace), the
 * standard links, and a private /dev/shm. No /dev/pts: no terminal to inject input into. */
static int apply_dev(const char *dst) {
        static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
        static const char *const links[][2] = {
                {"fd", "/proc/self/fd"},
                {"stdin", "/proc/self/fd/0"},
                {"stdout", "/proc/self/fd/1"},
                {"stderr", "/proc/self/fd/2"},
        };
        char src[PATH_MAX], path[PATH_MAX];
        int r = brig_mkdir_p(dst, 0755);

        if (r < 0)
                return r;
        if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                (void) snprintf(src, sizeof(src), "/oldroot/dev/%s", nodes[i]);
                (void) snprintf(path, sizeof(path), "%s/%s", dst, nodes[i]);
                if ((r = touch(path, 0666)) < 0)
                        return r;
                if (mount(src, path, NULL, MS_BIND, NULL) < 0)
                        return -errno;
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                (void) snprintf(path, sizeof(path), "%s/%s", dst, links[i][0]);
                if (symlink(links[i][1], path) < 0)
                        return -errno;
        }
        (void) snprintf(path, sizeof(path), "%s/shm", dst);
        if (mkdir(path, 01777) < 0)
                return -errno;
        if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") < 0)
                return -errno;
        /* Only the /dev tmpfs itself: /dev/shm stays writable. */
        return restrict_mount(dst, true, false);
}

static int apply_file(const brig_mount *m, const char *dst) {
        size_t len = strlen(m->content);
        int r = mkdir_parent(dst);

        if (r < 0)
                return r;
        int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, m->content, len);
        r = n < 0 ? -errno : (size_t) n != len ? -EIO : 0;
        (void) close(fd);
        return r;
}

/* Masks a path: an empty read-only directory over a directory, an empty read-only file over anything
 * else. Both are made once in the setup root (make_hidden_sources) and each hidden path gets a bind of one
 * of them: a bind costs a clone of a mount, where a tmpfs per directory cost a superblock to make and, when
 * the jail ends, to tear down. The jail cannot reach the rest of the setup root through a bind of an empty
 * directory, and the setup root is detached before the command runs. A path that does not exist has nothing
 * to hide. The path is resolved as the jail will see it (RESOLVE_IN_ROOT: symlinks, absolute ones included,
 * stay inside the new root), and the mount is attached to what it resolved to with the new mount API, so the
 * hidden thing is the link's target, never a host path. */
static int apply_hide(int newroot, const char *dest) {
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                              MOUNT_ATTR_NOEXEC};
        _cleanup_close_ int target = -1, mnt = -1;
        struct stat st;

        target = (int) syscall(SYS_openat2, newroot, dest + 1, &how, sizeof(how));
        if (target < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(target, &st) < 0)
                return -errno;
        mnt = open_tree(AT_FDCWD, S_ISDIR(st.st_mode) ? HIDDEN_DIR : HIDDEN_FILE,
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (mnt < 0 || mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ||
            move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

/* The empty directory and file that hidden paths are bound to, made once when the plan hides anything. */
static int make_hidden_sources(const brig_plan *plan) {
        for (size_t i = 0; i < plan->n_mounts; i++) {
                if (plan->mounts[i].kind != BRIG_MOUNT_HIDE)
                        continue;
                if (mkdir(HIDDEN_DIR, 0555) < 0 || mknodat(AT_FDCWD, HIDDEN_FILE, S_IFREG | 0444, 0) < 0)
                        return -errno;
                return 0;
        }
        return 0;
}

/* Fails with -ELOOP when a component of path below /newroot that already exists is a symbolic link.
 * Nothing runs in the jail while its root is built, so what is checked is what mount() will see. */
static int no_symlink_on_path(const char *path) {
        char buf[PATH_MAX];
        struct stat st;
        size_t root = strlen("/newroot");

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + root + 1;; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char saved = *p;
                *p = 0;
                if (lstat(buf, &st) < 0)
                        return errno == ENOENT ? 0 : -errno;
                if (S_ISLNK(st.st_mode))
                        return -ELOOP;
                if (saved == 0)
                        return 0;
                *p = saved;
        }
}

/* newroot: an O_PATH fd of /newroot, the root HIDE resolves in. */
static int apply_one(const brig_mount *m, const char *dst, int newroot) {
        switch (m->kind) {
        case BRIG_MOUNT_BIND:
                return apply_bind(m, dst);
        case BRIG_MOUNT_TMPFS:
                return apply_tmpfs(m, dst);
        case BRIG_MOUNT_PROC: {
                int r = brig_mkdir_p(dst, 0555);
                if (r < 0)
                        return r;
                return mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? -errno : 0;
        }
        case BRIG_MOUNT_DEV:
                return apply_dev(dst);
        case BRIG_MOUNT_FILE:
                return apply_file(m, dst);
        case BRIG_MOUNT_HIDE:
                return apply_hide(newroot, m->dest);
        case _BRIG_MOUNT_KIND_MAX:
        case _BRIG_MOUNT_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

static int fail(int r, const char *stage, const char *what, char *detail, size_t size,
                const char **ret_stage) {
        *ret_stage = stage;
        (void) snprintf(detail, size, "%s", what);
        return r;
}

int brig__mounts_apply(const brig_plan *plan, char *detail, size_t size, const char **ret_stage) {
        static const char *const stage_names[_BRIG_MOUNT_KIND_MAX] = {
                [BRIG_MOUNT_BIND] = "bind", [BRIG_MOUNT_TMPFS] = "tmpfs", [BRIG_MOUNT_PROC] = "proc",
                [BRIG_MOUNT_DEV] = "dev",   [BRIG_MOUNT_FILE] = "file",   [BRIG_MOUNT_HIDE] = "hide",
        };
        char dst[PATH_MAX];
        int r;

        /* Keep every mount we make out of the host's namespace, and the host's later mounts out of ours. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail(-errno, "mount", "make / private", detail, size, ret_stage);
        if (mount("tmpfs", SETUP_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
                return fail(-errno, "mount", "setup tmpfs", detail, size, ret_stage);
        if (chdir(SETUP_DIR) < 0 || mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0)
                return fail(-errno, "mount", "setup directories", detail, size, ret_stage);
        if (syscall(SYS_pivot_root, SETUP_DIR, SETUP_DIR "/oldroot") < 0 || chdir("/") < 0)
                return fail(-errno, "pivot_root", "setup root", detail, size, ret_stage);
        if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755") < 0)
                return fail(-errno, "mount", "root tmpfs", detail, size, ret_stage);
        /* Opened once for every HIDE, closed (by its cleanup) before the command runs. */
        _cleanup_close_ int newroot = open("/newroot", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (newroot < 0)
                return fail(-errno, "mount", "root tmpfs", detail, size, ret_stage);
        if ((r = make_hidden_sources(plan)) < 0)
                return fail(r, "hide", "empty sources", detail, size, ret_stage);

        for (size_t i = 0; i < plan->n_mounts; i++) {
                const brig_mount *m = &plan->mounts[i];
                if (m->dest[0] != '/' || strstr(m->dest, "..") ||
                    snprintf(dst, sizeof(dst), "/newroot%s", m->dest) >= (int) sizeof(dst))
                        return fail(-EINVAL, "mount", m->dest, detail, size, ret_stage);
                /* A mount point below another mount (the workspace, a writable bind) may pass through
                 * what the agent left there; mkdir, touch and mount would follow its symlinks out of the
                 * new root. HIDE resolves inside the root by itself. */
                if (m->kind != BRIG_MOUNT_HIDE && (r = no_symlink_on_path(dst)) < 0)
                        return fail(r, "mount", m->dest, detail, size, ret_stage);
                r = apply_one(m, dst, newroot);
                if (r < 0)
                        return fail(r, stage_names[m->kind],
                                    m->kind == BRIG_MOUNT_BIND ? m->source : m->dest, detail, size,
                                    ret_stage);
        }

        /* The root itself is read-only: the agent writes only where the policy mounted something writable.
         */
        if ((r = restrict_mount("/newroot", true, false)) < 0)
                return fail(r, "mount", "read-only root", detail, size, ret_stage);
        if (umount2("/oldroot", MNT_DETACH) < 0)
                return fail(-errno, "mount", "detach old root", detail, size, ret_stage);
        /* pivot_root(".", ".") stacks the setup tmpfs on top of the new root; detaching "." drops it. */
        if (chdir("/newroot") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                return fail(-errno, "pivot_root", "jail root", detail, size, ret_stage);
        return 0;
}
