/* SPDX-License-Identifier: MIT */
/* Unit tests for tools/process_log.c: the on-disk output ring of a background process. Wrap-around,
 * oversized chunks, reopening gives the same window and bytes, damaged files are refused with a clear
 * error, and a failed append leaves a window that only claims bytes on disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tools/process_log.h"

static char tmpdir[] = "/tmp/brig-test-process-log.XXXXXX";
static int dir_fd = -1;

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmpdir))
                return -1;
        dir_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return dir_fd >= 0 ? 0 : -1;
}

static int teardown(void **state) {
        DIR *d = opendir(tmpdir);
        struct dirent *de;

        (void) state;
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        (void) unlinkat(dir_fd, de->d_name, 0);
        (void) closedir(d);
        (void) close(dir_fd);
        return rmdir(tmpdir);
}

static void append(brig_process_log *log, const char *s) {
        brig_error err = BRIG_ERROR_INIT;
        assert_int_equal(brig_process_log_append(log, s, strlen(s), &err), 0);
}

/* Reads from offset (at most max bytes) and checks where it started and what came back. */
static void expect_read(const brig_process_log *log, uint64_t offset, size_t max, uint64_t want_from,
                        const char *want) {
        brig_error err = BRIG_ERROR_INIT;
        char buf[256];
        uint64_t from = 999;
        size_t n = 999;

        assert_true(max < sizeof(buf));
        assert_int_equal(brig_process_log_read(log, offset, buf, max, &from, &n, &err), 0);
        buf[n] = 0;
        assert_int_equal(from, want_from);
        assert_int_equal(n, strlen(want));
        assert_string_equal(buf, want);
}

static void test_process_log__holds_what_was_appended(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "plain.log", 16, &log, &err), 0);
        assert_int_equal(log.end, 0);
        expect_read(&log, 0, 100, 0, "");
        append(&log, "hello ");
        append(&log, "world");
        assert_int_equal(log.start, 0);
        assert_int_equal(log.end, 11);
        expect_read(&log, 0, 100, 0, "hello world");
        expect_read(&log, 6, 100, 6, "world");
        expect_read(&log, 6, 3, 6, "wor");
        /* Past the end: nothing, at the end. */
        expect_read(&log, 50, 100, 11, "");
        brig_process_log_close(&log);
        assert_int_equal(log.fd, -1);
        brig_process_log_close(&log); /* closing twice is fine */
}

static void test_process_log__wraps_around_keeping_the_last_bytes(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "wrap.log", 16, &log, &err), 0);
        append(&log, "0123456789");
        append(&log, "abcdefghij");
        /* 20 bytes through a ring of 16: offsets 4..19 remain, stored across the end of the ring. */
        assert_int_equal(log.start, 4);
        assert_int_equal(log.end, 20);
        expect_read(&log, 0, 100, 4, "456789abcdefghij");
        expect_read(&log, 12, 100, 12, "cdefghij");
        expect_read(&log, 8, 4, 8, "89ab");
        append(&log, "KLMNOPQRSTUVWXYZ"); /* exactly one ring more */
        assert_int_equal(log.start, 20);
        assert_int_equal(log.end, 36);
        expect_read(&log, 0, 100, 20, "KLMNOPQRSTUVWXYZ");
        brig_process_log_close(&log);
        /* The file never grows past header + ring. */
        struct stat st;
        assert_int_equal(fstatat(dir_fd, "wrap.log", &st, 0), 0);
        assert_int_equal(st.st_size, BRIG_PROCESS_LOG_HEADER_BYTES + 16);
}

static void test_process_log__oversized_chunk_keeps_its_tail(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "big.log", 16, &log, &err), 0);
        append(&log, "abc");
        append(&log, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"); /* 36 bytes */
        assert_int_equal(log.end, 39);
        assert_int_equal(log.start, 23);
        expect_read(&log, 0, 100, 23, "KLMNOPQRSTUVWXYZ");
        append(&log, "!");
        expect_read(&log, 0, 100, 24, "LMNOPQRSTUVWXYZ!");
        brig_process_log_close(&log);
}

static void test_process_log__reopened_log_has_the_same_window_and_bytes(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT, again = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "reopen.log", 16, &log, &err), 0);
        append(&log, "first line\n");
        append(&log, "second line\n");
        brig_process_log_close(&log);

        assert_int_equal(brig_process_log_open(dir_fd, "reopen.log", &again, &err), 0);
        assert_true(again.fd >= 0);
        assert_int_equal(again.size, 16);
        assert_int_equal(again.start, 7);
        assert_int_equal(again.end, 23);
        expect_read(&again, 0, 100, 7, "ine\nsecond line\n");
        /* Read-only: appending fails and leaves the window as it was. */
        assert_true(brig_process_log_append(&again, "x", 1, &err) < 0);
        assert_int_equal(again.end, 23);
        brig_process_log_close(&again);

        /* Creating it again starts a fresh log. */
        assert_int_equal(brig_process_log_create(dir_fd, "reopen.log", 16, &log, &err), 0);
        brig_process_log_close(&log);
        assert_int_equal(brig_process_log_open(dir_fd, "reopen.log", &again, &err), 0);
        assert_int_equal(again.end, 0);
        brig_process_log_close(&again);
}

static void write_file(const char *name, const void *data, size_t len) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

static void put_u64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char) (v >> (8 * i));
}

static void expect_refused(const char *name, const char *message_part) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        log.size = 77;
        assert_int_equal(brig_process_log_open(dir_fd, name, &log, &err), -EBADMSG);
        assert_int_equal(err.code, -EBADMSG);
        assert_int_equal(err.kind, BRIG_KIND_IO);
        if (!strstr(err.msg, message_part))
                fail_msg("message \"%s\" lacks \"%s\"", err.msg, message_part);
        assert_non_null(strstr(err.msg, name));
        /* Nothing written on failure. */
        assert_int_equal(log.fd, -1);
        assert_int_equal(log.size, 77);
}

static void test_process_log__damaged_files_are_refused(void **state) {
        unsigned char h[BRIG_PROCESS_LOG_HEADER_BYTES + 4] = {0};
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        write_file("empty.log", "", 0);
        expect_refused("empty.log", "short header (0 of 32 bytes)");
        write_file("short.log", BRIG_PROCESS_LOG_MAGIC "\x10", 9);
        expect_refused("short.log", "short header (9 of 32 bytes)");

        memcpy(h, "brigplg9", 8);
        put_u64(h + 8, 16);
        write_file("magic.log", h, sizeof(h));
        expect_refused("magic.log", "not a brig process log");

        memcpy(h, BRIG_PROCESS_LOG_MAGIC, 8);
        put_u64(h + 16, 10); /* start after end */
        put_u64(h + 24, 5);
        write_file("backwards.log", h, sizeof(h));
        expect_refused("backwards.log", "inconsistent header");

        put_u64(h + 16, 0); /* a window wider than the ring */
        put_u64(h + 24, 17);
        write_file("wide.log", h, sizeof(h));
        expect_refused("wide.log", "inconsistent header");

        put_u64(h + 8, 0); /* no ring at all */
        put_u64(h + 24, 0);
        write_file("zero.log", h, sizeof(h));
        expect_refused("zero.log", "inconsistent header");

        /* A consistent header over a ring cut short: opening works, reading what is missing does not. */
        put_u64(h + 8, 16);
        put_u64(h + 24, 10);
        write_file("cut.log", h, sizeof(h)); /* 4 of the 10 bytes */
        assert_int_equal(brig_process_log_open(dir_fd, "cut.log", &log, &err), 0);
        char buf[16];
        uint64_t from = 0;
        size_t n = 0;
        assert_int_equal(brig_process_log_read(&log, 0, buf, 4, &from, &n, &err), 0);
        assert_int_equal(n, 4);
        assert_int_equal(brig_process_log_read(&log, 0, buf, 10, &from, &n, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "truncated"));
        brig_process_log_close(&log);

        assert_int_equal(brig_process_log_open(dir_fd, "missing.log", &log, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "missing.log"));
        assert_int_equal(brig_process_log_create(dir_fd, "bad-size.log", 0, &log, &err), -EINVAL);
}

/* A write that fails half-way through an append (here: past RLIMIT_FSIZE) must leave the header on disk
 * claiming only bytes that are there: the oldest ones the append was about to overwrite are gone from the
 * window, the new ones are not in it yet. */
static void test_process_log__failed_append_leaves_a_consistent_window(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT, again = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;
        struct rlimit old, lim;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "fail.log", 16, &log, &err), 0);
        append(&log, "0123456789");
        /* The file is 42 bytes; the next append must write past that. */
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = BRIG_PROCESS_LOG_HEADER_BYTES + 10;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        int r = brig_process_log_append(&log, "abcdefghij", 10, &err);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        (void) signal(SIGXFSZ, prev);

        assert_int_equal(r, -EFBIG);
        assert_non_null(strstr(err.msg, "write log"));
        assert_int_equal(log.start, 4);
        assert_int_equal(log.end, 10);
        brig_process_log_close(&log);
        assert_int_equal(brig_process_log_open(dir_fd, "fail.log", &again, &err), 0);
        assert_int_equal(again.start, 4);
        assert_int_equal(again.end, 10);
        expect_read(&again, 0, 100, 4, "456789");
        brig_process_log_close(&again);
}

static void test_process_log__file_is_private_and_close_on_exec(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;
        struct stat st;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "mode.log", 16, &log, &err), 0);
        assert_int_equal(fstat(log.fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_true(fcntl(log.fd, F_GETFD) & FD_CLOEXEC);
        brig_process_log_close(&log);
        /* A symlink in its place is not followed. */
        assert_int_equal(symlinkat("mode.log", dir_fd, "link.log"), 0);
        assert_int_equal(brig_process_log_open(dir_fd, "link.log", &log, &err), -ELOOP);
        assert_int_equal(brig_process_log_create(dir_fd, "link.log", 16, &log, &err), -ELOOP);
}

/* The ring's blocks are allocated at creation (a full disk then refuses the log, never cuts it short
 * later), and a log done with appends gives back what it never used. */
static void test_process_log__ring_is_allocated_then_trimmed(void **state) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;
        struct stat st;

        (void) state;
        assert_int_equal(brig_process_log_create(dir_fd, "alloc.log", 65536, &log, &err), 0);
        assert_int_equal(fstat(log.fd, &st), 0);
        assert_int_equal(st.st_size, BRIG_PROCESS_LOG_HEADER_BYTES + 65536);
        assert_true((uint64_t) st.st_blocks * 512 >= BRIG_PROCESS_LOG_HEADER_BYTES + 65536);
        append(&log, "hello");
        assert_int_equal(brig_process_log_trim(&log, &err), 0);
        assert_int_equal(fstat(log.fd, &st), 0);
        assert_int_equal(st.st_size, BRIG_PROCESS_LOG_HEADER_BYTES + 5);
        expect_read(&log, 0, 100, 0, "hello");
        brig_process_log_close(&log);
        assert_int_equal(brig_process_log_open(dir_fd, "alloc.log", &log, &err), 0);
        expect_read(&log, 0, 100, 0, "hello");
        brig_process_log_close(&log);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_process_log__holds_what_was_appended),
                cmocka_unit_test(test_process_log__wraps_around_keeping_the_last_bytes),
                cmocka_unit_test(test_process_log__oversized_chunk_keeps_its_tail),
                cmocka_unit_test(test_process_log__reopened_log_has_the_same_window_and_bytes),
                cmocka_unit_test(test_process_log__damaged_files_are_refused),
                cmocka_unit_test(test_process_log__failed_append_leaves_a_consistent_window),
                cmocka_unit_test(test_process_log__file_is_private_and_close_on_exec),
                cmocka_unit_test(test_process_log__ring_is_allocated_then_trimmed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
