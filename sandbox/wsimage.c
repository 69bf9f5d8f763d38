/* SPDX-License-Identifier: MIT */
/* Hard workspace quotas on a per-environment ext4 image: probing whether the host allows them, creating
 * and formatting an image, attaching it to a loop device and mounting it, unmounting it. The policy and
 * the environment's bookkeeping live in worker/env_quota.c; this module only touches the kernel. */
#include "sandbox/wsimage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

#define CAP_SYS_ADMIN_BIT 21
#define MKFS_ERR_MAX 200
/* Below this a journal would take too large a part of the quota; the workspace then has none. */
#define JOURNAL_MIN_BYTES (UINT64_C(64) << 20)

static const char *const mkfs_paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4", NULL};

static const char *mkfs_path(void) {
        for (size_t i = 0; mkfs_paths[i]; i++)
                if (access(mkfs_paths[i], X_OK) == 0)
                        return mkfs_paths[i];
        return NULL;
}

/* Root inside a user namespace (unshare -r, rootless containers) cannot mount ext4 or use loop devices:
 * only the identity map of the host's namespace can. */
static bool in_host_userns(void) {
        char line[128] = "";
        unsigned long a, b, n;
        FILE *f = fopen("/proc/self/uid_map", "re");

        if (!f)
                return false;
        bool ok = fgets(line, sizeof(line), f) && sscanf(line, "%lu %lu %lu", &a, &b, &n) == 3 && a == 0 &&
                  b == 0 && n == 4294967295UL;
        (void) fclose(f);
        return ok;
}

static bool has_cap_sys_admin(void) {
        char line[256];
        unsigned long long eff = 0;
        bool found = false;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = sscanf(line, "CapEff: %llx", &eff) == 1;
        (void) fclose(f);
        return found && (eff & (1ULL << CAP_SYS_ADMIN_BIT));
}

int brig_wsimage_probe(char *why, size_t why_size) {
        _cleanup_close_ int fd = -1;

        if (geteuid() != 0 || !in_host_userns()) {
                (void) snprintf(why, why_size, "brigd is not root in the host's user namespace");
                return -EPERM;
        }
        if (!has_cap_sys_admin()) {
                (void) snprintf(why, why_size, "brigd lacks CAP_SYS_ADMIN (loop devices and mounts)");
                return -EPERM;
        }
        if (!mkfs_path()) {
                (void) snprintf(why, why_size, "no mkfs.ext4 in /usr/sbin or /sbin");
                return -ENOENT;
        }
        fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                (void) snprintf(why, why_size, "no usable /dev/loop-control (%s)", strerror(-r));
                return r;
        }
        return 0;
}

/* mkfs.ext4 by fork+exec (posix_spawn), never a bare fork: the daemon is threaded. Its stderr comes back
 * on a pipe for the error message; the child is reaped by pid (libuv reaps only the pids it spawned). */
static int run_mkfs(const char *image, uint64_t bytes, brig_error *err) {
        const char *mkfs = mkfs_path();
        char *argv[16];
        char *envp[] = {(char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL};
        char msg[MKFS_ERR_MAX + 1] = "";
        size_t n_msg = 0, a = 0;
        int pipefd[2], status = 0, r;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        pid_t pid;

        if (!mkfs)
                return brig_error_set(err, -ENOENT, BRIG_KIND_SANDBOX, "no mkfs.ext4 in /usr/sbin or /sbin");
        argv[a++] = (char *) mkfs;
        argv[a++] = (char *) "-q";
        argv[a++] = (char *) "-F";
        argv[a++] = (char *) "-m"; /* no blocks reserved for root: the jail's user gets the whole quota */
        argv[a++] = (char *) "0";
        argv[a++] = (char *) "-E";
        argv[a++] = (char *) "nodiscard";
        /* A small journal keeps the workspace consistent across a host crash at a fixed ~4 MiB cost. */
        argv[a++] = (char *) (bytes >= JOURNAL_MIN_BYTES ? "-J" : "-O");
        argv[a++] = (char *) (bytes >= JOURNAL_MIN_BYTES ? "size=4" : "^has_journal");
        argv[a++] = (char *) "-L";
        argv[a++] = (char *) "brig-workspace";
        argv[a++] = (char *) image;
        argv[a] = NULL;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "mkfs pipe");
        (void) sigemptyset(&none);
        (void) sigfillset(&all);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        (void) posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        (void) posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        (void) posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        /* Work threads block every signal; the child must not inherit that, nor our handlers. */
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setsigdefault(&attr, &all);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        r = posix_spawn(&pid, mkfs, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        (void) close(pipefd[1]);
        if (r != 0) {
                (void) close(pipefd[0]);
                return brig_error_set_errno(err, -r, BRIG_KIND_SANDBOX, "spawn %s", mkfs);
        }
        for (;;) {
                char buf[256];
                ssize_t n = read(pipefd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = (size_t) n < MKFS_ERR_MAX - n_msg ? (size_t) n : MKFS_ERR_MAX - n_msg;
                memcpy(msg + n_msg, buf, take);
                n_msg += take;
        }
        (void) close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_INTERNAL, "wait for mkfs.ext4");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        msg[n_msg] = '\0';
        for (char *p = msg; *p; p++)
                if (*p == '\n' || (unsigned char) *p < 0x20)
                        *p = ' ';
        return brig_error_set(err, -EIO, BRIG_KIND_SANDBOX, "mkfs.ext4 failed (status %d): %s", status,
                              msg[0] ? msg : "no message");
}

/* A sparse file of `bytes` at path (which must not exist), formatted. On failure it is removed. */
static int format_image(const char *path, uint64_t bytes, brig_error *err) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create '%s'", path);
        /* Sparse: the image takes disk space as the workspace fills, never more than the quota. */
        if (ftruncate(fd, (off_t) bytes) < 0) {
                r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "size '%s'", path);
                (void) unlink(path);
                return r;
        }
        brig_closep(&fd);
        if ((r = run_mkfs(path, bytes, err)) < 0) {
                (void) unlink(path);
                return r;
        }
        return 0;
}

/* Templates: mkfs.ext4 is most of a new environment's cost (a process, and a scan of every attached loop
 * device, which grows with the number of environments), and its result depends only on the size and the
 * options above. So each size is formatted once, into <template_dir>/ext4-<TEMPLATE_VERSION>-<bytes>.img,
 * and every image of that size is a sparse copy of it: the same filesystem, byte for byte, but for what
 * mkfs randomises. The UUID and the directory hash seed are then shared by the images of one worker: ext4
 * mounts filesystems with equal UUIDs (only brigd sees the devices; jails see a bind mount of the
 * workspace), and a predictable hash seed lets a jail slow down directories only of its own filesystem.
 * Rewriting them per copy (tune2fs -U) would be a process again. Bump TEMPLATE_VERSION with run_mkfs's
 * options: a template of older options is then never used. */
#define TEMPLATE_VERSION 1

static pthread_mutex_t template_lock = PTHREAD_MUTEX_INITIALIZER;

static int fsync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

/* The template of `bytes` in template_dir, formatted first if there is none (under the lock: work threads
 * may ask for the same size at once); *ret_fd reads it. Made under a temporary name and renamed, durably,
 * so a template that exists is complete. */
static int open_template(const char *template_dir, uint64_t bytes, int *ret_fd, brig_error *err) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        struct stat st;
        int fd, r = 0;

        if (asprintf(&path, "%s/ext4-%d-%" PRIu64 ".img", template_dir, TEMPLATE_VERSION, bytes) < 0 ||
            asprintf(&tmp, "%s.tmp", path) < 0)
                return brig_error_oom(err);
        (void) pthread_mutex_lock(&template_lock);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t) st.st_size != bytes)) {
                /* Not what this name promises (changed by hand?): made again. */
                (void) close(fd);
                (void) unlink(path);
                fd = -1;
        }
        if (fd < 0) {
                if (mkdir(template_dir, 0700) < 0 && errno != EEXIST)
                        r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create '%s'", template_dir);
                if (r == 0)
                        (void) unlink(tmp); /* what a crash during a formatting left */
                if (r == 0 && (r = format_image(tmp, bytes, err)) == 0) {
                        if (rename(tmp, path) < 0 || (r = fsync_dir(template_dir)) < 0)
                                r = brig_error_set_errno(err, r < 0 ? r : -errno, BRIG_KIND_IO,
                                                         "install template '%s'", path);
                        if (r < 0)
                                (void) unlink(tmp);
                }
                if (r == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
                        r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", path);
        }
        (void) pthread_mutex_unlock(&template_lock);
        if (r < 0)
                return r;
        *ret_fd = fd;
        return 0;
}

/* Copies [off, off + len) from in to out: in the kernel (copy_file_range), or by read and write where it
 * cannot (another filesystem on an older kernel, a filesystem without it). */
static int copy_range(int in, int out, off_t off, off_t len) {
        char buf[65536];

        while (len > 0) {
                loff_t a = off, b = off;
                ssize_t n = copy_file_range(in, &a, out, &b, (size_t) len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
                        return -errno;
                if (n < 0) {
                        n = pread(in, buf, (size_t) len < sizeof(buf) ? (size_t) len : sizeof(buf), off);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -errno;
                        ssize_t w = n > 0 ? pwrite(out, buf, (size_t) n, off) : 0;
                        if (w < 0)
                                return -errno;
                        if (w != n)
                                return -EIO;
                }
                if (n == 0)
                        return -EIO; /* the template shrank under us */
                off += n;
                len -= n;
        }
        return 0;
}

/* out becomes a copy of in, as sparse: a shared-extent clone where the filesystem has them (btrfs, xfs),
 * else the data ranges alone (SEEK_DATA/SEEK_HOLE), the holes left holes. */
static int copy_sparse(int in, int out, uint64_t bytes) {
        off_t off = 0, data, hole;
        int r;

        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        if (ftruncate(out, (off_t) bytes) < 0)
                return -errno;
        while ((data = lseek(in, off, SEEK_DATA)) >= 0) {
                if ((hole = lseek(in, data, SEEK_HOLE)) < 0)
                        return -errno;
                if ((r = copy_range(in, out, data, hole - data)) < 0)
                        return r;
                off = hole;
        }
        return errno == ENXIO ? 0 : -errno;
}

/* Ready copies: copying the template and making the copy durable (fdatasync) is most of what is left of a
 * new image's cost, and none of it depends on the environment. So up to BRIG_WSIMAGE_READY_MAX copies of
 * each size wait, complete and synced, in <template_dir>/ready/ext4-<TEMPLATE_VERSION>-<bytes>.<random>.img,
 * made by brig_wsimage_fill_ready() off any environment's path; a new image is one of them renamed into
 * place (the same filesystem: a rename within it), and a copy only when none is left. A copy is made under
 * a .tmp name and renamed once synced, so a ready name always holds a whole image; a .tmp name is what a
 * crash left, removed by the next fill. */
#define READY_DIR "ready"
#define READY_TMP_STALE_S 3600 /* a .tmp older than this is no fill under way (another brigd's) */

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Renames a ready copy of `bytes` to image: true when one was taken. Another thread may take the same one
 * first (ENOENT): the next is tried. Anything else (no ready directory, none left) leaves the copy to the
 * caller. */
static bool take_ready(const char *template_dir, uint64_t bytes, const char *image) {
        _cleanup_free_ char *dir = NULL;
        char prefix[64];
        struct dirent *de;
        bool taken = false;
        DIR *d;

        (void) snprintf(prefix, sizeof(prefix), "ext4-%d-%" PRIu64 ".", TEMPLATE_VERSION, bytes);
        if (asprintf(&dir, "%s/" READY_DIR, template_dir) < 0 || !(d = opendir(dir)))
                return false;
        while (!taken && (de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && has_suffix(de->d_name, ".img"))
                        taken = renameat2(dirfd(d), de->d_name, AT_FDCWD, image, RENAME_NOREPLACE) == 0;
        (void) closedir(d);
        return taken;
}

/* Removes what no fill will finish: copies of another TEMPLATE_VERSION, and .tmp copies a crash left. */
static void ready_sweep(DIR *d, const char *version_prefix) {
        struct dirent *de;
        struct stat st;

        while ((de = readdir(d))) {
                bool stale = strncmp(de->d_name, "ext4-", 5) == 0 &&
                             strncmp(de->d_name, version_prefix, strlen(version_prefix)) != 0;
                if (!stale && has_suffix(de->d_name, ".tmp") &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        stale = time(NULL) - st.st_mtime > READY_TMP_STALE_S;
                if (stale)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        rewinddir(d);
}

/* Whether one more copy of tpl leaves the filesystem of d a tenth free: copies made ahead are a convenience
 * that must never take the space the state directory's real writes (audit log, metadata, history, process
 * logs) need, not even while a copy is being made and then dropped. */
static bool room_for_copy(DIR *d, int tpl) {
        struct statvfs vfs;
        struct stat st;

        if (fstatvfs(dirfd(d), &vfs) < 0 || fstat(tpl, &st) < 0)
                return false;
        uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize,
                 total = (uint64_t) vfs.f_blocks * vfs.f_frsize;
        return avail >= (uint64_t) st.st_blocks * 512 + total / 10;
}

/* One more ready copy of tpl in the ready directory d, under a new name. */
static int ready_add(DIR *d, int tpl, uint64_t bytes) {
        char tmp[96], name[96];
        uint8_t rnd[8];
        int r;

        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        (void) snprintf(name, sizeof(name), "ext4-%d-%" PRIu64 ".%02x%02x%02x%02x%02x%02x%02x%02x.img",
                        TEMPLATE_VERSION, bytes, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
                        rnd[7]);
        (void) snprintf(tmp, sizeof(tmp), "%.*s.tmp", (int) (strlen(name) - 4), name);
        _cleanup_close_ int fd =
                openat(dirfd(d), tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = copy_sparse(tpl, fd, bytes);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(dirfd(d), tmp, dirfd(d), name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd(d), tmp, 0);
        return r;
}

int brig_wsimage_fill_ready(const char *template_dir, uint64_t bytes, brig_error *err) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int tpl = -1;
        char prefix[64], version[32];
        struct dirent *de;
        unsigned have = 0;
        int r = 0;
        DIR *d;

        /* One fill at a time: a second would count the same copies and overshoot. */
        if (pthread_mutex_trylock(&ready_lock) != 0)
                return 0;
        (void) snprintf(version, sizeof(version), "ext4-%d-", TEMPLATE_VERSION);
        (void) snprintf(prefix, sizeof(prefix), "%s%" PRIu64 ".", version, bytes);
        if (asprintf(&dir, "%s/" READY_DIR, template_dir) < 0) {
                dir = NULL;
                r = brig_error_oom(err);
        } else if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create '%s'", dir);
        else if (!(d = opendir(dir)))
                r = brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", dir);
        else {
                ready_sweep(d, version);
                while ((de = readdir(d)))
                        have += strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
                                has_suffix(de->d_name, ".img");
                if (have < BRIG_WSIMAGE_READY_MAX)
                        r = open_template(template_dir, bytes, &tpl, err);
                for (; r == 0 && have < BRIG_WSIMAGE_READY_MAX && room_for_copy(d, tpl); have++)
                        if ((r = ready_add(d, tpl, bytes)) < 0)
                                (void) brig_error_set_errno(err, r, BRIG_KIND_IO,
                                                            "copy the workspace template into '%s'", dir);
                (void) closedir(d);
        }
        (void) pthread_mutex_unlock(&ready_lock);
        return r;
}

int brig_wsimage_create(const char *image, uint64_t bytes, const char *template_dir, brig_error *err) {
        _cleanup_close_ int tpl = -1, fd = -1;
        int r;

        if (!template_dir)
                return format_image(image, bytes, err);
        if (take_ready(template_dir, bytes, image))
                return 0;
        if ((r = open_template(template_dir, bytes, &tpl, err)) < 0)
                return r;
        fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "create '%s'", image);
        /* Durable before it is used, as mkfs.ext4 makes its image: a crash never leaves half a filesystem.
         */
        r = copy_sparse(tpl, fd, bytes);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(image);
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "copy the workspace template into '%s'",
                                            image);
        }
        return 0;
}

/* LOOP_CONFIGURE (Linux 5.8) sets up the device in one call; older kernels take LOOP_SET_FD, then the
 * flags. FIXME: drop the fallback once the minimum kernel is >= 5.8. */
static int loop_configure(int loop_fd, int file_fd, const char *image) {
        struct loop_config cfg = {.fd = (uint32_t) file_fd};

        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        (void) snprintf((char *) cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
        if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOTTY)
                return -errno;
        if (ioctl(loop_fd, LOOP_SET_FD, file_fd) < 0)
                return -errno;
        if (ioctl(loop_fd, LOOP_SET_STATUS64, &cfg.info) < 0) {
                int r = -errno;
                (void) ioctl(loop_fd, LOOP_CLR_FD, 0);
                return r;
        }
        return 0;
}

/* A free loop device set up on image; the returned fd keeps it until the mount holds it. Another program
 * may take the device that loop-control offered between the two calls (EBUSY): ask again. */
static int loop_attach(const char *image, char *ret_dev, size_t dev_size, brig_error *err) {
        _cleanup_close_ int ctl = -1, file = -1;
        int r = -EBUSY;

        ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "open /dev/loop-control");
        file = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (file < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", image);
        for (int attempt = 0; attempt < 16 && r == -EBUSY; attempt++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX,
                                                    "find a free loop device");
                (void) snprintf(ret_dev, dev_size, "/dev/loop%d", n);
                _cleanup_close_ int dev = open(ret_dev, O_RDWR | O_CLOEXEC);
                if (dev < 0)
                        return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "open %s", ret_dev);
                if ((r = loop_configure(dev, file, image)) == 0)
                        return TAKE_FD(dev);
        }
        return brig_error_set_errno(err, r, BRIG_KIND_SANDBOX, "attach '%s' to a loop device", image);
}

int brig_wsimage_is_mounted(const char *path) {
        _cleanup_free_ char *parent = NULL;
        struct stat st, pst;

        if (asprintf(&parent, "%s/..", path) < 0)
                return -ENOMEM;
        if (lstat(path, &st) < 0 || stat(parent, &pst) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) && st.st_dev != pst.st_dev;
}

/* lost+found would show in the workspace (and its history); e2fsck makes it again if it needs it. */
static int prepare_root(const char *mountpoint, uid_t uid, gid_t gid, brig_error *err) {
        _cleanup_free_ char *lost = NULL;

        if (asprintf(&lost, "%s/lost+found", mountpoint) < 0)
                return brig_error_oom(err);
        if ((rmdir(lost) < 0 && errno != ENOENT) || chown(mountpoint, uid, gid) < 0 ||
            chmod(mountpoint, 0700) < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "prepare workspace '%s'", mountpoint);
        return 0;
}

/* A previous mount of the image can outlive its unmount for a moment: a lazy unmount while a dying jail
 * (killed with brigd, through PR_SET_PDEATHSIG) still held a copy of it. Its loop device then still has the
 * image open, and mounting it again would put a second filesystem on the same blocks, whose late
 * write-back would undo the new one's (and the new one would not see the old one's unwritten files). A
 * write lease is granted only while no one else has the file open: wait for it, within a bound. */
#define UNUSED_WAIT_MS 10000
#define UNUSED_POLL_MS 20

static int wait_unused(const char *image, brig_error *err) {
        _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_IO, "open '%s'", image);
        for (int waited = 0;; waited += UNUSED_POLL_MS) {
                if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
                        (void) fcntl(fd, F_SETLEASE, F_UNLCK);
                        return 0;
                }
                /* Leases unsupported here (EINVAL: a network filesystem): nothing to wait for. */
                if (errno != EAGAIN && errno != EBUSY)
                        return 0;
                if (waited >= UNUSED_WAIT_MS)
                        return brig_error_set(err, -EBUSY, BRIG_KIND_SANDBOX,
                                              "workspace image '%s' is still in use by a previous mount",
                                              image);
                (void) usleep(UNUSED_POLL_MS * 1000);
        }
}

int brig_wsimage_mount(const char *image, const char *mountpoint, uid_t uid, gid_t gid, bool fresh,
                       brig_error *err) {
        _cleanup_close_ int dev = -1;
        char path[64];
        int r;

        if ((r = brig_wsimage_is_mounted(mountpoint)) < 0)
                return brig_error_set_errno(err, r, BRIG_KIND_IO, "stat '%s'", mountpoint);
        if (r > 0)
                return 0;
        if (!fresh && (r = wait_unused(image, err)) < 0)
                return r;
        if ((dev = loop_attach(image, path, sizeof(path), err)) < 0)
                return dev;
        /* nosuid, nodev: the jail's mounts have them too; here they also hold for brigd's own view. Should
         * the mount fail, closing the device detaches it (autoclear). */
        if (mount(path, mountpoint, "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro") < 0)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "mount %s on '%s'", path,
                                            mountpoint);
        if (fresh && (r = prepare_root(mountpoint, uid, gid, err)) < 0) {
                (void) umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
                return r;
        }
        return 0;
}

int brig_wsimage_unmount(const char *mountpoint) {
        int r = brig_wsimage_is_mounted(mountpoint);

        if (r <= 0)
                return r == -ENOENT ? 0 : r;
        if (umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return -errno;
        return 1;
}
