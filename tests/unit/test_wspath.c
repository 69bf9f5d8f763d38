/* SPDX-License-Identifier: MIT */
/* Unit tests for tools/wspath.c on a real filesystem: every escape (.., absolute paths, symlinks out,
 * /proc/self/root, magic links, writes through a final symlink) and a concurrent directory/symlink swap,
 * each run twice: once through openat2 and once through the fallback walk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "tools/wspath.h"

typedef struct fixture {
        bool fallback;
        char top[64];       /* the temp dir: ws/ and outside/ */
        char outside[96];   /* a directory next to the workspace */
        int root_fd;        /* ws/, O_PATH */
        struct stat secret; /* outside/file */
        int fds_before;
} fixture;

static const bool use_kernel = false, use_fallback = true;

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void write_at(int dfd, const char *path, const char *text) {
        _cleanup_close_ int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static void mkdir_at(int dfd, const char *path) {
        assert_int_equal(mkdirat(dfd, path, 0755), 0);
}

static void symlink_at(int dfd, const char *target, const char *path) {
        assert_int_equal(symlinkat(target, dfd, path), 0);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        _cleanup_close_ int top = -1;

        assert_non_null(f);
        f->fallback = *(const bool *) *state;
        brig_ws_force_fallback(f->fallback);
        f->fds_before = count_fds();
        strcpy(f->top, "/tmp/brig-wspath-XXXXXX");
        assert_non_null(mkdtemp(f->top));
        top = open(f->top, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(top >= 0);
        mkdir_at(top, "ws");
        mkdir_at(top, "outside");
        write_at(top, "outside/file", "secret\n");
        assert_int_equal(fstatat(top, "outside/file", &f->secret, 0), 0);
        (void) snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
        f->root_fd = openat(top, "ws", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->root_fd >= 0);

        /* ws/sub/file.txt, ws/dir/file, and links that stay inside */
        mkdir_at(f->root_fd, "sub");
        mkdir_at(f->root_fd, "a");
        write_at(f->root_fd, "sub/file.txt", "inside\n");
        mkdir_at(f->root_fd, "dir");
        write_at(f->root_fd, "dir/file", "inside dir\n");
        symlink_at(f->root_fd, "sub", "l");
        symlink_at(f->root_fd, "l", "l2");
        symlink_at(f->root_fd, "../sub/file.txt", "sub/back");
        /* links that lead out */
        symlink_at(f->root_fd, "/etc", "etc");
        symlink_at(f->root_fd, "../..", "up");
        symlink_at(f->root_fd, "../outside", "out");
        symlink_at(f->root_fd, "../outside/file", "outfile");
        symlink_at(f->root_fd, "/proc/self/root/etc", "procroot");
        symlink_at(f->root_fd, "loop2", "loop1");
        symlink_at(f->root_fd, "loop1", "loop2");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        brig_ws_force_fallback(false);
        close(f->root_fd);
        assert_int_equal(brig_rm_rf(f->top), 0);
        /* No test leaks an fd. */
        assert_int_equal(count_fds(), f->fds_before);
        free(f);
        return 0;
}

/* Opens path and expects success on the same inode as expect (a path relative to the workspace). */
static void open_ok(fixture *f, const char *path, int flags, const char *expect) {
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_close_ int fd = brig_ws_open(f->root_fd, path, flags, 0, &err);
        struct stat a, b;

        if (fd < 0)
                print_error("%s: %s\n", path, err.msg);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(fstatat(f->root_fd, expect, &b, AT_EMPTY_PATH), 0);
        assert_int_equal(a.st_dev, b.st_dev);
        assert_int_equal(a.st_ino, b.st_ino);
}

static void open_fails(fixture *f, const char *path, int flags, int want, brig_kind kind, const char *msg) {
        brig_error err = BRIG_ERROR_INIT;
        int fd = brig_ws_open(f->root_fd, path, flags, 0644, &err);

        if (fd >= 0)
                close(fd);
        assert_int_equal(fd, want);
        assert_int_equal(err.code, want);
        assert_int_equal(err.kind, kind);
        if (msg)
                assert_string_equal(err.msg, msg);
}

static void test_wspath__check_path_syntax(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        char longp[PATH_MAX + 8], longc[NAME_MAX + 2];

        (void) state;
        assert_int_equal(brig_ws_check_path("", &err), 0);
        assert_int_equal(brig_ws_check_path(".", &err), 0);
        assert_int_equal(brig_ws_check_path("a/b/../c/", &err), 0);
        assert_int_equal(brig_ws_check_path("/etc/passwd", &err), -EINVAL);
        assert_int_equal(err.kind, BRIG_KIND_INVALID_ARGUMENT);
        assert_string_equal(err.msg,
                            "path '/etc/passwd' is absolute; paths are relative to the workspace root");

        memset(longp, 'a', sizeof(longp));
        for (size_t i = 100; i < sizeof(longp); i += 100)
                longp[i] = '/';
        longp[PATH_MAX] = 0;
        assert_int_equal(brig_ws_check_path(longp, &err), -ENAMETOOLONG);
        longp[PATH_MAX - 1] = 0;
        assert_int_equal(brig_ws_check_path(longp, &err), 0);

        memset(longc, 'b', sizeof(longc));
        longc[NAME_MAX + 1] = 0;
        assert_int_equal(brig_ws_check_path(longc, &err), -ENAMETOOLONG);
        assert_non_null(strstr(err.msg, "has a component longer than 255 bytes"));
        longc[NAME_MAX] = 0;
        assert_int_equal(brig_ws_check_path(longc, &err), 0);
}

static void test_wspath__quote_escapes_and_cuts(void **state) {
        char buf[BRIG_WS_QUOTE_SIZE], small[12], longs[300];

        (void) state;
        assert_string_equal(brig_ws_quote("a'b\\c\nd\x01", buf, sizeof(buf)), "a\\'b\\\\c\\nd\\x01");
        /* Valid UTF-8 stays, invalid bytes are escaped. */
        assert_string_equal(brig_ws_quote("caf\xc3\xa9 \xff", buf, sizeof(buf)), "caf\xc3\xa9 \\xff");
        assert_string_equal(brig_ws_quote("abcdefghijklmnop", small, sizeof(small)), "abcdefgh...");
        /* Never cuts inside a sequence. */
        assert_string_equal(brig_ws_quote("abcdefg\xc3\xa9xyz", small, sizeof(small)), "abcdefg...");
        memset(longs, 'x', sizeof(longs));
        longs[299] = 0;
        assert_int_equal(strlen(brig_ws_quote(longs, buf, sizeof(buf))), sizeof(buf) - 1);
}

static void test_wspath__plain_paths_open(void **state) {
        fixture *f = *state;

        open_ok(f, "sub/file.txt", O_RDONLY, "sub/file.txt");
        open_ok(f, "", O_RDONLY | O_DIRECTORY, "");
        open_ok(f, ".", O_PATH, "");
        open_ok(f, "sub/", O_RDONLY, "sub");
        open_ok(f, "sub//file.txt", O_RDONLY, "sub/file.txt");
        open_ok(f, "./sub/./file.txt", O_RDONLY, "sub/file.txt");
        /* ".." that stays inside is fine */
        open_ok(f, "sub/../dir/file", O_RDONLY, "dir/file");
        open_ok(f, "sub/..", O_PATH, "");
}

static void test_wspath__dotdot_escapes(void **state) {
        fixture *f = *state;

        open_fails(f, "..", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, "path '..' escapes the workspace");
        open_fails(f, "../outside/file", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "a/../../x", O_RDONLY, -EXDEV, BRIG_KIND_DENIED,
                   "path 'a/../../x' escapes the workspace");
        open_fails(f, "sub/../../outside/file", O_RDONLY, -EXDEV, BRIG_KIND_DENIED,
                   "path 'sub/../../outside/file' escapes the workspace");
        open_fails(f, "sub/../..", O_PATH, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "../ws/sub/file.txt", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
}

static void test_wspath__absolute_path_refused(void **state) {
        fixture *f = *state;

        open_fails(f, "/etc/passwd", O_RDONLY, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "path '/etc/passwd' is absolute; paths are relative to the workspace root");
        open_fails(f, "//etc", O_RDONLY, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, NULL);
}

static void test_wspath__symlink_to_etc_refused(void **state) {
        fixture *f = *state;

        open_fails(f, "etc/passwd", O_RDONLY, -EXDEV, BRIG_KIND_DENIED,
                   "path 'etc/passwd' escapes the workspace");
        open_fails(f, "etc", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "etc/", O_PATH, -EXDEV, BRIG_KIND_DENIED, NULL);
}

static void test_wspath__relative_symlinks_out_refused(void **state) {
        fixture *f = *state;

        open_fails(f, "up", O_PATH, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "up/outside/file", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "out/file", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "outfile", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "l/../out/file", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        /* Creation through a link out creates nothing outside. */
        open_fails(f, "out/new", O_WRONLY | O_CREAT, -EXDEV, BRIG_KIND_DENIED, NULL);
        assert_int_equal(faccessat(AT_FDCWD, f->outside, F_OK, 0), 0);
        char p[160];
        (void) snprintf(p, sizeof(p), "%s/new", f->outside);
        assert_int_equal(access(p, F_OK), -1);
}

static void test_wspath__symlinks_inside_are_followed(void **state) {
        fixture *f = *state;

        open_ok(f, "l/file.txt", O_RDONLY, "sub/file.txt");
        open_ok(f, "l2/file.txt", O_RDONLY, "sub/file.txt");
        open_ok(f, "l", O_RDONLY | O_DIRECTORY, "sub");
        open_ok(f, "l/", O_PATH, "sub");
        open_ok(f, "sub/back", O_RDONLY, "sub/file.txt");
        open_ok(f, "l2/back", O_RDONLY, "sub/file.txt");
        open_ok(f, "l/../dir/file", O_RDONLY, "dir/file");
        /* O_PATH|O_NOFOLLOW names the link itself */
        {
                brig_error err = BRIG_ERROR_INIT;
                _cleanup_close_ int fd = brig_ws_open(f->root_fd, "l2", O_PATH | O_NOFOLLOW, 0, &err);
                struct stat st;
                assert_true(fd >= 0);
                assert_int_equal(fstat(fd, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
        }
        /* A dangling link inside is followed by O_CREAT, and the file lands inside. */
        symlink_at(f->root_fd, "sub/created", "dangling");
        {
                brig_error err = BRIG_ERROR_INIT;
                _cleanup_close_ int fd =
                        brig_ws_open(f->root_fd, "dangling", O_WRONLY | O_CREAT, 0600, &err);
                assert_true(fd >= 0);
        }
        open_ok(f, "sub/created", O_RDONLY, "dangling");
}

static void test_wspath__proc_self_root_refused(void **state) {
        fixture *f = *state;

        open_fails(f, "procroot/passwd", O_RDONLY, -EXDEV, BRIG_KIND_DENIED, NULL);
        open_fails(f, "procroot", O_PATH, -EXDEV, BRIG_KIND_DENIED, NULL);
        /* Without a /proc inside the workspace, "proc" is just a name. */
        open_fails(f, "proc/self/root/etc/passwd", O_RDONLY, -ENOENT, BRIG_KIND_NOT_FOUND, NULL);
}

/* A workspace that contains procfs: its magic links (root, cwd, fd/N) are never followed. */
static void test_wspath__magic_links_refused(void **state) {
        fixture *f = *state;
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_close_ int proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int secret = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char fdpath[32];
        int fd;

        assert_true(proc >= 0 && secret >= 0);
        fd = brig_ws_open(proc, "root/etc/passwd", O_RDONLY, 0, &err);
        assert_true(fd < 0);
        assert_int_equal(err.kind, BRIG_KIND_DENIED);
        fd = brig_ws_open(proc, "cwd", O_RDONLY | O_DIRECTORY, 0, &err);
        assert_true(fd < 0);
        assert_int_equal(err.kind, BRIG_KIND_DENIED);
        (void) snprintf(fdpath, sizeof(fdpath), "fd/%d", secret);
        fd = brig_ws_open(proc, fdpath, O_RDONLY, 0, &err);
        assert_true(fd < 0);
        assert_int_equal(err.kind, BRIG_KIND_DENIED);
        (void) snprintf(fdpath, sizeof(fdpath), "fd/%d/file", secret);
        fd = brig_ws_open(proc, fdpath, O_RDONLY, 0, &err);
        assert_true(fd < 0);
        assert_int_equal(err.kind, BRIG_KIND_DENIED);
        /* Plain files in procfs still open. */
        fd = brig_ws_open(proc, "status", O_RDONLY, 0, &err);
        assert_true(fd >= 0);
        close(fd);
}

static void test_wspath__symlink_loop_refused(void **state) {
        fixture *f = *state;
        char name[16], target[16];

        open_fails(f, "loop1", O_RDONLY, -ELOOP, BRIG_KIND_DENIED, NULL);
        open_fails(f, "loop1/x", O_RDONLY, -ELOOP, BRIG_KIND_DENIED, NULL);
        /* A chain of 40 links resolves, 41 do not. */
        for (int i = 0; i < 41; i++) {
                (void) snprintf(name, sizeof(name), "c%d", i);
                (void) snprintf(target, sizeof(target), i == 40 ? "sub" : "c%d", i + 1);
                symlink_at(f->root_fd, target, name);
        }
        open_ok(f, "c1/file.txt", O_RDONLY, "sub/file.txt");
        open_fails(f, "c0/file.txt", O_RDONLY, -ELOOP, BRIG_KIND_DENIED, NULL);
}

static void test_wspath__errors_name_the_path(void **state) {
        fixture *f = *state;

        open_fails(f, "nope/x", O_RDONLY, -ENOENT, BRIG_KIND_NOT_FOUND, "path 'nope/x' does not exist");
        open_fails(f, "sub/file.txt/x", O_RDONLY, -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'sub/file.txt/x': not a directory");
        open_fails(f, "sub/file.txt/", O_RDONLY, -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT, NULL);
        open_fails(f, "sub", O_WRONLY, -EISDIR, BRIG_KIND_INVALID_ARGUMENT, "path 'sub' is a directory");
        open_fails(f, "sub/file.txt", O_WRONLY | O_CREAT | O_EXCL, -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'sub/file.txt' already exists");
        open_fails(f, "bad'\n", O_RDONLY, -ENOENT, BRIG_KIND_NOT_FOUND, "path 'bad\\'\\n' does not exist");
}

static void test_wspath__final_symlink_not_written_through(void **state) {
        fixture *f = *state;
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int pfd = -1;
        struct stat st;
        char buf[32];

        /* O_NOFOLLOW on the last component: a link inside is refused too. */
        open_fails(f, "l2", O_WRONLY | O_NOFOLLOW, -ELOOP, BRIG_KIND_DENIED, NULL);
        symlink_at(f->root_fd, "sub/file.txt", "fl");
        open_fails(f, "fl", O_WRONLY | O_TRUNC | O_NOFOLLOW, -ELOOP, BRIG_KIND_DENIED, NULL);
        /* Following a link out to write is an escape. */
        open_fails(f, "outfile", O_WRONLY | O_TRUNC, -EXDEV, BRIG_KIND_DENIED, NULL);

        /* open_parent + *at() with the last name never follows it. */
        pfd = brig_ws_open_parent(f->root_fd, "outfile", &name, &err);
        assert_true(pfd >= 0);
        assert_string_equal(name, "outfile");
        assert_int_equal(openat(pfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC), -1);
        assert_int_equal(errno, ELOOP);
        assert_int_equal(fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISLNK(st.st_mode));

        /* The outside file is untouched. */
        _cleanup_close_ int sfd = open(f->outside, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int rfd = openat(sfd, "file", O_RDONLY | O_CLOEXEC);
        assert_true(rfd >= 0);
        assert_int_equal(read(rfd, buf, sizeof(buf)), 7);
        assert_memory_equal(buf, "secret\n", 7);
}

static void test_wspath__open_parent(void **state) {
        fixture *f = *state;
        brig_error err = BRIG_ERROR_INIT;
        char *name = NULL;
        int fd;
        struct stat a, b;

        fd = brig_ws_open_parent(f->root_fd, "sub/file.txt", &name, &err);
        assert_true(fd >= 0);
        assert_string_equal(name, "file.txt");
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(fstatat(f->root_fd, "sub", &b, 0), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        free(name);
        name = NULL;

        fd = brig_ws_open_parent(f->root_fd, "top-level/", &name, &err);
        assert_true(fd >= 0);
        assert_string_equal(name, "top-level");
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(fstat(f->root_fd, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        assert_true(fd > 2 && fd != f->root_fd);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        free(name);
        name = NULL;

        /* A parent reached through an inside link is fine. */
        fd = brig_ws_open_parent(f->root_fd, "l2/new", &name, &err);
        assert_true(fd >= 0);
        close(fd);
        free(name);
        name = NULL;

        assert_int_equal(brig_ws_open_parent(f->root_fd, "", &name, &err), -EINVAL);
        assert_string_equal(err.msg, "path '' names the workspace root, not a file in it");
        assert_int_equal(brig_ws_open_parent(f->root_fd, "./", &name, &err), -EINVAL);
        assert_int_equal(brig_ws_open_parent(f->root_fd, "sub/..", &name, &err), -EINVAL);
        assert_string_equal(err.msg, "path 'sub/..' must end in a file name, not '.' or '..'");
        assert_int_equal(brig_ws_open_parent(f->root_fd, "..", &name, &err), -EINVAL);
        assert_int_equal(brig_ws_open_parent(f->root_fd, "up/x", &name, &err), -EXDEV);
        assert_string_equal(err.msg, "path 'up/x' escapes the workspace");
        assert_int_equal(brig_ws_open_parent(f->root_fd, "../x", &name, &err), -EXDEV);
        assert_int_equal(brig_ws_open_parent(f->root_fd, "etc/x", &name, &err), -EXDEV);
        assert_int_equal(brig_ws_open_parent(f->root_fd, "/etc/x", &name, &err), -EINVAL);
        assert_int_equal(brig_ws_open_parent(f->root_fd, "nope/x", &name, &err), -ENOENT);
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        assert_string_equal(err.msg, "path 'nope/x': parent directory does not exist");
        assert_int_equal(brig_ws_open_parent(f->root_fd, "sub/file.txt/x", &name, &err), -ENOTDIR);
        assert_null(name);
}

/* As on a kernel without openat2: a seccomp filter in a child makes it fail with ENOSYS, and brig_ws_open()
 * must notice and take the walk, escapes still refused. */
static void test_wspath__enosys_takes_the_walk(void **state) {
        fixture *f = *state;
        int status = 0;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                scmp_filter_ctx sc = seccomp_init(SCMP_ACT_ALLOW);
                brig_error err = BRIG_ERROR_INIT;
                int fd;

                if (!sc || seccomp_rule_add(sc, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 ||
                    seccomp_load(sc) < 0)
                        _exit(10);
#ifdef SYS_openat2
                if (syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0) != -1 || errno != ENOSYS)
                        _exit(11);
#endif
                fd = brig_ws_open(f->root_fd, "l2/back", O_RDONLY, 0, &err);
                if (fd < 0)
                        _exit(12);
                close(fd);
                if (brig_ws_open(f->root_fd, "out/file", O_RDONLY, 0, &err) != -EXDEV)
                        _exit(13);
                if (brig_ws_open(f->root_fd, "sub/../..", O_PATH, 0, &err) != -EXDEV)
                        _exit(14);
                if (brig_ws_open(f->root_fd, "etc/passwd", O_RDONLY, 0, &err) != -EXDEV)
                        _exit(15);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* The swap races: a thread keeps exchanging ws/dir (a directory) with ws/swap (a symlink to the outside
 * directory, which holds a file of the same name) while the main thread resolves paths through "dir". */
typedef struct swapper {
        int root_fd;
        atomic_bool stop;
        atomic_ulong swaps;
} swapper;

static void *swap_thread(void *userdata) {
        swapper *s = userdata;

        while (!atomic_load(&s->stop)) {
                if (renameat2(s->root_fd, "dir", s->root_fd, "swap", RENAME_EXCHANGE) == 0)
                        atomic_fetch_add(&s->swaps, 1);
        }
        return NULL;
}

#define RACE_ROUNDS 20000

static void race_start(fixture *f, const char *link_target, swapper *s, pthread_t *t) {
        symlink_at(f->root_fd, link_target, "swap");
        s->root_fd = f->root_fd;
        atomic_store(&s->stop, false);
        atomic_store(&s->swaps, 0);
        assert_int_equal(pthread_create(t, NULL, swap_thread, s), 0);
}

static void race_stop(swapper *s, pthread_t t) {
        atomic_store(&s->stop, true);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(atomic_load(&s->swaps) > 0);
}

static void race_open(fixture *f, const char *link_target) {
        unsigned long inside = 0, refused = 0;
        pthread_t t;
        swapper s;

        race_start(f, link_target, &s, &t);
        for (int i = 0; i < RACE_ROUNDS; i++) {
                brig_error err = BRIG_ERROR_INIT;
                int fd = brig_ws_open(f->root_fd, "dir/file", O_RDONLY, 0, &err);
                struct stat st;

                if (fd < 0) {
                        refused++;
                        continue;
                }
                assert_int_equal(fstat(fd, &st), 0);
                close(fd);
                /* Never the outside file. */
                assert_false(st.st_dev == f->secret.st_dev && st.st_ino == f->secret.st_ino);
                inside++;
        }
        race_stop(&s, t);
        assert_int_equal(inside + refused, RACE_ROUNDS);
        print_message("# %s, link %s: %lu opened inside, %lu refused, %lu swaps\n",
                      f->fallback ? "fallback" : "openat2", link_target, inside, refused,
                      atomic_load(&s.swaps));
}

static void test_wspath__swap_race_open(void **state) {
        race_open(*state, "../outside");
}

static void test_wspath__swap_race_open_absolute_link(void **state) {
        fixture *f = *state;
        race_open(f, f->outside);
}

static void test_wspath__swap_race_create(void **state) {
        fixture *f = *state;
        unsigned long created = 0, refused = 0;
        struct dirent *de;
        pthread_t t;
        swapper s;
        DIR *d;

        race_start(f, "../outside", &s, &t);
        for (int i = 0; i < RACE_ROUNDS; i++) {
                brig_error err = BRIG_ERROR_INIT;
                _cleanup_free_ char *name = NULL;
                _cleanup_close_ int pfd = -1;
                char path[32];
                int fd;

                (void) snprintf(path, sizeof(path), "dir/new-%d", i);
                pfd = brig_ws_open_parent(f->root_fd, path, &name, &err);
                if (pfd < 0) {
                        refused++;
                        continue;
                }
                fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0) {
                        refused++;
                        continue;
                }
                close(fd);
                created++;
        }
        race_stop(&s, t);
        print_message("# %s: %lu created inside, %lu refused\n", f->fallback ? "fallback" : "openat2",
                      created, refused);
        /* Nothing was created outside. */
        d = opendir(f->outside);
        assert_non_null(d);
        while ((de = readdir(d)))
                assert_true(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                            strcmp(de->d_name, "file") == 0);
        closedir(d);
        assert_true(created > 0);
}

#define BOTH(t)                                                                                             \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *) &use_kernel),                 \
                cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *) &use_fallback)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wspath__check_path_syntax),
                cmocka_unit_test(test_wspath__quote_escapes_and_cuts),
                BOTH(test_wspath__plain_paths_open),
                BOTH(test_wspath__dotdot_escapes),
                BOTH(test_wspath__absolute_path_refused),
                BOTH(test_wspath__symlink_to_etc_refused),
                BOTH(test_wspath__relative_symlinks_out_refused),
                BOTH(test_wspath__symlinks_inside_are_followed),
                BOTH(test_wspath__proc_self_root_refused),
                BOTH(test_wspath__magic_links_refused),
                BOTH(test_wspath__symlink_loop_refused),
                BOTH(test_wspath__errors_name_the_path),
                BOTH(test_wspath__final_symlink_not_written_through),
                BOTH(test_wspath__open_parent),
                cmocka_unit_test_prestate_setup_teardown(test_wspath__enosys_takes_the_walk, setup, teardown,
                                                         (void *) &use_kernel),
                BOTH(test_wspath__swap_race_open),
                BOTH(test_wspath__swap_race_open_absolute_link),
                BOTH(test_wspath__swap_race_create),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
