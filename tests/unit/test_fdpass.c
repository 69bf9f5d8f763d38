/* SPDX-License-Identifier: MIT */
/* Unit tests for common/fdpass.c on a real socketpair (one byte with exactly one descriptor, or refused),
 * its refusals of descriptors brigd does not take, and for brig_copy_fd() of common/fs.c, which copies what
 * a passed file holds into an upload. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fdpass.h"
#include "common/fs.h"

static void test_fdpass__one_descriptor_comes_close_on_exec(void **state) {
        (void) state;
        int sp[2], p[2], got = -1;
        struct stat a, b;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(brig_fdpass_recv(sp[1], &got), -EAGAIN);
        assert_int_equal(brig_fdpass_send(sp[0], p[0]), 0);
        assert_int_equal(brig_fdpass_recv(sp[1], &got), 0);
        assert_true(got >= 0 && got != p[0]);
        assert_int_equal(fstat(got, &a), 0);
        assert_int_equal(fstat(p[0], &b), 0);
        assert_true(a.st_ino == b.st_ino);
        assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
        close(got);
        close(p[0]);
        close(p[1]);
        close(sp[0]);
        close(sp[1]);
}

/* Descriptors open in this process (among the first 1024). */
static int open_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 1024; fd++)
                n += fcntl(fd, F_GETFD) >= 0;
        return n;
}

static void test_fdpass__a_byte_without_one_descriptor_is_refused(void **state) {
        (void) state;
        int sp[2], got = -1;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        /* A plain byte. */
        assert_int_equal(write(sp[0], "F", 1), 1);
        assert_int_equal(brig_fdpass_recv(sp[1], &got), -EPROTO);
        assert_int_equal(got, -1);
        /* Two descriptors: refused, and neither is left open here. */
        int before = open_fds();
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(2 * sizeof(int))];
        } ctl = {0};
        int two[2] = {0, 1};
        char byte = 'F';
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(two));
        memcpy(CMSG_DATA(cm), two, sizeof(two));
        assert_int_equal(sendmsg(sp[0], &mh, 0), 1);
        assert_int_equal(brig_fdpass_recv(sp[1], &got), -EPROTO);
        assert_int_equal(got, -1);
        assert_int_equal(open_fds(), before);
        /* The end of the stream. */
        close(sp[0]);
        assert_int_equal(brig_fdpass_recv(sp[1], &got), -EPROTO);
        close(sp[1]);
}

/* A file of n bytes (its offset left at off) in a fresh temporary file. */
static int file_of(size_t n, off_t off) {
        char path[] = "/tmp/brig-test-fdpass-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        char *buf = malloc(n + 1);

        assert_true(fd >= 0 && buf);
        (void) unlink(path);
        for (size_t i = 0; i < n; i++)
                buf[i] = (char) ('a' + i % 26);
        assert_int_equal(brig_write_all(fd, buf, n), 0);
        assert_int_equal(lseek(fd, off, SEEK_SET), off);
        free(buf);
        return fd;
}

static void test_fdpass__copy_fd_takes_the_whole_file_within_max(void **state) {
        (void) state;
        int in = file_of(100000, 777), out = file_of(0, 0);
        char a[100000], b[100000];

        /* From the start whatever the descriptor's offset, which stays. */
        assert_int_equal(brig_copy_fd(in, out, 100000), 100000);
        assert_int_equal(lseek(in, 0, SEEK_CUR), 777);
        assert_int_equal(pread(in, a, sizeof(a), 0), sizeof(a));
        assert_int_equal(pread(out, b, sizeof(b), 0), sizeof(b));
        assert_memory_equal(a, b, sizeof(a));
        /* Over max: max + 1 bytes, so the caller can tell. */
        assert_int_equal(ftruncate(out, 0), 0);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        assert_int_equal(brig_copy_fd(in, out, 4095), 4096);
        /* Not readable: its errno. */
        assert_int_equal(brig_copy_fd(-1, out, 10), -EBADF);
        close(in);
        close(out);
}

/* What brigd takes: a regular file of an ordinary filesystem; not a pipe, a directory or a file of proc. */
static void test_fdpass__refusal_names_what_brigd_does_not_take(void **state) {
        (void) state;
        int f = file_of(10, 0), p[2], dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
            proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_null(brig_fdpass_refusal(f));
        assert_non_null(brig_fdpass_refusal(p[0]));
        assert_string_equal(brig_fdpass_refusal(dir), "not a regular file");
        assert_string_equal(
                brig_fdpass_refusal(proc),
                "a file of a filesystem brigd does not write to (only local disk filesystems and tmpfs)");
        assert_int_equal(fchmod(f, 02644), 0);
        assert_string_equal(brig_fdpass_refusal(f), "a setuid or setgid file");
        close(f);
        close(p[0]);
        close(p[1]);
        close(dir);
        close(proc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fdpass__one_descriptor_comes_close_on_exec),
                cmocka_unit_test(test_fdpass__a_byte_without_one_descriptor_is_refused),
                cmocka_unit_test(test_fdpass__copy_fd_takes_the_whole_file_within_max),
                cmocka_unit_test(test_fdpass__refusal_names_what_brigd_does_not_take),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
