/* SPDX-License-Identifier: MIT */
/* The jail-control protocol's pieces that need no jail: the helper's command line, the plan memfd, reaper
 * names, status lines split from a stream, and brigd's shared end of the control socket (a real
 * socketpair). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "sandbox/jailctl.h"
#include "sandbox/policy.h"

static void test_jailctl__helper_argv_names_each_fd(void **state) {
        (void) state;
        char *argv[BRIG_JAILCTL_ARGV_MAX];
        static const char *const want[] = {
                "brig-jail", "--plan-fd",    "3", "--status-fd", "4", "--seccomp-fd",
                "5",         "--control-fd", "6", "--cgroup-fd", "7", "--cgroup-fd",
                "8",         "--cgroup-fd",  "9", "--cgroup-fd", "10"};

        brig_jailctl_helper_argv("brig-jail", 0, false, false, argv);
        for (size_t i = 0; i < 9; i++)
                assert_string_equal(argv[i], want[i]);
        assert_null(argv[9]);
        brig_jailctl_helper_argv("brig-jail", BRIG_JAILCTL_MAX_CGROUP_FDS, false, false, argv);
        for (size_t i = 0; i < 9 + 2 * BRIG_JAILCTL_MAX_CGROUP_FDS; i++)
                assert_string_equal(argv[i], want[i]);
        assert_null(argv[9 + 2 * BRIG_JAILCTL_MAX_CGROUP_FDS]);
        brig_jailctl_helper_argv("brig-jail", 2, true, false, argv);
        assert_string_equal(argv[9], "--cgroup-self-fd");
        assert_string_equal(argv[10], "7");
        assert_string_equal(argv[11], "--cgroup-self-fd");
        assert_string_equal(argv[12], "8");
        assert_null(argv[13]);
        /* brig run's limits pipe follows the cgroups, at the fd after the last cgroup fd. */
        brig_jailctl_helper_argv("brig-jail", 3, true, true, argv);
        assert_string_equal(argv[13], "--cgroup-self-fd");
        assert_string_equal(argv[14], "9");
        assert_string_equal(argv[15], "--limits-fd");
        assert_string_equal(argv[16], "11");
        assert_null(argv[17]);
        brig_jailctl_helper_argv("brig-jail", BRIG_JAILCTL_MAX_CGROUP_FDS, false, true, argv);
        assert_string_equal(argv[9 + 2 * BRIG_JAILCTL_MAX_CGROUP_FDS], "--limits-fd");
        assert_null(argv[11 + 2 * BRIG_JAILCTL_MAX_CGROUP_FDS]);
}

/* The plan goes whole, at offset 0 and sealed, and reads back from 0 whatever the offset. */
static void test_jailctl__plan_memfd_is_whole_at_zero_sealed_and_read_back(void **state) {
        (void) state;
        static const brig_identity ident = {.uid_outside = 4242, .gid_outside = 4343};
        static const char *const argv[] = {"/bin/true", NULL};
        _cleanup_(brig_policy_freep) brig_policy *pol = NULL;
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL, *back = NULL;
        _cleanup_free_ char *json = NULL, *text = NULL;
        _cleanup_close_ int fd = -1;
        brig_error err = BRIG_ERROR_INIT;

        assert_int_equal(brig_policy_parse("{}", 2, "<inline>", &pol, NULL, &err), 0);
        brig_plan_request req = {.argv = argv, .mode = BRIG_PLAN_ENTER};
        assert_int_equal(brig_plan_build(pol, &req, &ident, &plan, &err), 0);
        assert_int_equal(brig_jailctl_plan_memfd(plan, &fd, &err), 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        json = brig_plan_to_json(plan);
        size_t len = strlen(json);
        text = calloc(1, len + 2);
        assert_int_equal(read(fd, text, len + 1), (ssize_t) len);
        assert_string_equal(text, json);
        assert_int_equal(brig_plan_from_json(text, len, &back, &err), 0);
        /* The offset is now at the end: the reader starts from 0 all the same. */
        brig_plan_free(back);
        back = NULL;
        assert_int_equal(brig_jailctl_plan_read(fd, &back, &err), 0);
        assert_int_equal(back->mode, BRIG_PLAN_ENTER);
        assert_string_equal(back->argv[0], "/bin/true");
        int seals = fcntl(fd, F_GET_SEALS);
        assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        assert_int_equal(pwrite(fd, "x", 1, 0), -1);
}

/* fds[i] and want[i] are the same open file. */
static void assert_same_files(const int *fds, const int *want, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct stat a, b;
                assert_int_equal(fstat(fds[i], &a), 0);
                assert_int_equal(fstat(want[i], &b), 0);
                assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
        }
}

/* A RUN with its plan inline reaches the spawner, and a reaper after it, with the plan's bytes and the
 * memfd's place in fds held by -1; one with a memfd is taken as before; a plain receive refuses the longer
 * message. */
static void test_jailctl__run_carries_a_short_plan_inline(void **state) {
        (void) state;
        static const char json[] = "{\"version\":3,\"mode\":\"enter\"}";
        static char plan[BRIG_JAILCTL_PLAN_INLINE_MAX];
        char big[BRIG_JAILCTL_PLAN_INLINE_MAX + 1];
        brig_jailctl *c = NULL;
        brig_jailctl_msg m;
        int sp[2], chan[2], pipe_fds[2], fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0, len = 0;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan), 0);
        assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
        assert_int_equal(brig_jailctl_new(sp[0], &c), 0);
        int sent[4] = {pipe_fds[1], pipe_fds[1], pipe_fds[1], pipe_fds[0]};

        /* Inline, with stdin: out, err, status, in after the -1. */
        assert_int_equal(brig_jailctl_run(c, 9, json, strlen(json), -1, sent[0], sent[1], sent[2], sent[3]),
                         0);
        assert_int_equal(brig_jailctl_recv_run(sp[1], &m, plan, &len, fds, &n), 1);
        assert_int_equal(m.op, BRIG_JAILCTL_RUN);
        assert_int_equal(m.id, 9);
        assert_int_equal(m.flags, BRIG_JAILCTL_FLAG_STDIN | BRIG_JAILCTL_FLAG_PLAN);
        assert_int_equal(n, 5);
        assert_int_equal(fds[0], -1);
        assert_int_equal(len, strlen(json));
        assert_memory_equal(plan, json, len);
        assert_same_files(fds + 1, sent, 4);
        /* Passed on to a reaper, it arrives the same. */
        assert_int_equal(brig_jailctl_forward_run(chan[0], &m, plan, len, fds, n), 0);
        for (size_t i = 1; i < n; i++)
                close(fds[i]);
        memset(plan, 0, sizeof(plan));
        assert_int_equal(brig_jailctl_recv_run(chan[1], &m, plan, &len, fds, &n), 1);
        assert_int_equal(n, 5);
        assert_int_equal(fds[0], -1);
        assert_int_equal(m.flags, BRIG_JAILCTL_FLAG_STDIN | BRIG_JAILCTL_FLAG_PLAN);
        assert_int_equal(len, strlen(json));
        assert_memory_equal(plan, json, len);
        assert_same_files(fds + 1, sent, 4);
        for (size_t i = 1; i < n; i++)
                close(fds[i]);

        /* A memfd instead (here any fd), without stdin: no data, the fd first. */
        assert_int_equal(
                brig_jailctl_run(c, 10, json, strlen(json), pipe_fds[0], sent[0], sent[1], sent[2], -1), 0);
        assert_int_equal(brig_jailctl_recv_run(sp[1], &m, plan, &len, fds, &n), 1);
        assert_int_equal(m.flags, 0);
        assert_int_equal(n, 4);
        assert_int_equal(len, 0);
        assert_same_files(fds, (int[]){pipe_fds[0], sent[0], sent[1], sent[2]}, 4);
        for (size_t i = 0; i < n; i++)
                close(fds[i]);

        /* Too long to go inline, or nothing at all. */
        memset(big, 'x', sizeof(big));
        assert_int_equal(brig_jailctl_run(c, 11, big, sizeof(big), -1, sent[0], sent[1], sent[2], -1),
                         -EMSGSIZE);
        assert_int_equal(brig_jailctl_run(c, 11, json, 0, -1, sent[0], sent[1], sent[2], -1), -EMSGSIZE);

        /* brig_jailctl_recv() takes fixed-size messages only. */
        assert_int_equal(brig_jailctl_run(c, 12, json, strlen(json), -1, sent[0], sent[1], sent[2], -1), 0);
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), -EBADMSG);

        c = brig_jailctl_unref(c);
        close(sp[1]);
        close(chan[0]);
        close(chan[1]);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
}

static void test_jailctl__reaper_name_round_trips(void **state) {
        (void) state;
        char name[BRIG_JAILCTL_REAPER_NAME_MAX];
        uint64_t id = 0;

        brig_jailctl_reaper_name(0x2a, name);
        assert_string_equal(name, "brig-r2a");
        assert_int_equal(brig_jailctl_reaper_parse(name, &id), 0);
        assert_int_equal(id, 0x2a);
        /* The longest that fits the kernel's 15 bytes uncut is 14. */
        brig_jailctl_reaper_name(0xffffffffULL, name);
        assert_int_equal(brig_jailctl_reaper_parse(name, &id), 0);
        assert_int_equal(id, 0xffffffffULL);
        assert_int_equal(brig_jailctl_reaper_parse("brig-r123456789", &id), -EINVAL); /* 15: maybe cut */
        assert_int_equal(brig_jailctl_reaper_parse("bash", &id), -EINVAL);
        assert_int_equal(brig_jailctl_reaper_parse("brig-r", &id), -EINVAL);
        assert_int_equal(brig_jailctl_reaper_parse("brig-rxyz", &id), -EINVAL);
}

typedef struct seen {
        brig_jail_status st[8];
        size_t n;
} seen;

static void seen_cb(const brig_jail_status *st, void *userdata) {
        seen *s = userdata;
        assert_true(s->n < 8);
        s->st[s->n++] = *st;
}

static void feed(brig_jail_status_reader *r, const char *data, seen *s) {
        size_t len = strlen(data);

        while (len > 0) {
                char *space;
                size_t room;
                brig_jail_status_reader_space(r, &space, &room);
                assert_true(room > 0);
                size_t n = len < room ? len : room;
                memcpy(space, data, n);
                brig_jail_status_reader_feed(r, n, seen_cb, s);
                data += n;
                len -= n;
        }
}

static void test_jailctl__status_reader_splits_lines(void **state) {
        (void) state;
        brig_jail_status_reader r = {0};
        seen s = {0};

        feed(&r, "holder 7\nex", &s);
        assert_int_equal(s.n, 1);
        feed(&r, "it 3\nerror cwd 2 /nope\nbogus\n", &s);
        assert_int_equal(s.n, 3);
        assert_int_equal(s.st[0].outcome, BRIG_JAIL_HOLDER);
        assert_int_equal(s.st[0].value, 7);
        assert_int_equal(s.st[1].outcome, BRIG_JAIL_EXITED);
        assert_int_equal(s.st[1].value, 3);
        assert_int_equal(s.st[2].outcome, BRIG_JAIL_ERROR);
        assert_string_equal(s.st[2].stage, "cwd");
        assert_string_equal(s.st[2].detail, "/nope");
}

/* A reaper's end: "started" with "exit N" or "signal N" in one write, so one read has both records. */
static void test_jailctl__report_end_says_started_with_the_end(void **state) {
        (void) state;
        int p[2];
        char buf[64];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        brig_jail_report_end(p[1], true, W_EXITCODE(3, 0));
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "started\nexit 3\n");
        brig_jail_report_end(p[1], false, SIGKILL);
        n = read(p[0], buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "signal 9\n");
        close(p[0]);
        close(p[1]);
}

/* A line longer than any record goes whole: its tail is not read as a record of its own. */
static void test_jailctl__status_reader_drops_overlong_lines_whole(void **state) {
        (void) state;
        brig_jail_status_reader r = {0};
        seen s = {0};
        char line[3 * BRIG_JAIL_STATUS_LINE_MAX];

        memset(line, 'x', sizeof(line));
        memcpy(line + sizeof(line) - 16, " exit 5", 7);
        memcpy(line + 2 * BRIG_JAIL_STATUS_LINE_MAX, "exit 9 ", 7);
        line[sizeof(line) - 1] = 0;
        feed(&r, line, &s);
        feed(&r, "\nsignal 9\n", &s);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.st[0].outcome, BRIG_JAIL_SIGNALED);
        assert_int_equal(s.st[0].value, 9);
}

/* brigd's end of a control socket: shared, closed on the last unref, and after a hang-up a KILL fails
 * instead of going out on whatever reuses the number. */
static void test_jailctl__control_is_refcounted_and_hangs_up(void **state) {
        (void) state;
        brig_jailctl *c = NULL, *other;
        brig_jailctl_msg m;
        int sp[2], fds[BRIG_JAILCTL_MAX_FDS], reuse[2];
        size_t n = 0;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(fcntl(sp[1], F_SETFL, O_NONBLOCK), 0);
        assert_int_equal(brig_jailctl_new(sp[0], &c), 0);
        other = brig_jailctl_ref(c);
        assert_int_equal(brig_jailctl_kill(other, 7, SIGTERM), 0);
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), 1);
        assert_int_equal(m.op, BRIG_JAILCTL_KILL);
        assert_int_equal(m.id, 7);
        assert_int_equal(m.signal, SIGTERM);
        assert_int_equal(n, 0);

        /* One reference gone: still open, the peer sees no hang-up. */
        c = brig_jailctl_unref(c);
        assert_true(brig_jailctl_is_open(other));
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), -EAGAIN);

        /* The environment stops: the peer sees the hang-up at once, the command's reference stays. */
        brig_jailctl_hangup(other);
        assert_false(brig_jailctl_is_open(other));
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, reuse), 0);
        assert_int_equal(reuse[0], sp[0]);
        assert_int_equal(brig_jailctl_kill(other, 7, SIGKILL), -ESHUTDOWN);
        assert_int_equal(brig_jailctl_run(other, 8, "{}", 2, -1, reuse[0], reuse[0], reuse[0], -1),
                         -ESHUTDOWN);
        assert_int_equal(brig_jailctl_recv(reuse[1], &m, fds, &n), -EAGAIN);
        brig_jailctl_hangup(other); /* idempotent: must not close the reused number */
        assert_int_equal(fcntl(reuse[0], F_GETFD), FD_CLOEXEC);
        other = brig_jailctl_unref(other);
        assert_null(other);
        assert_int_equal(fcntl(reuse[0], F_GETFD), FD_CLOEXEC);
        close(reuse[0]);
        close(reuse[1]);
        close(sp[1]);
}

/* Without a hang-up, the last unref closes the socket. */
static void test_jailctl__control_closes_on_last_unref(void **state) {
        (void) state;
        brig_jailctl *c = NULL;
        brig_jailctl_msg m;
        int sp[2], fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(fcntl(sp[1], F_SETFL, O_NONBLOCK), 0);
        assert_int_equal(brig_jailctl_new(sp[0], &c), 0);
        brig_jailctl *second = brig_jailctl_ref(c);
        c = brig_jailctl_unref(c);
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), -EAGAIN);
        second = brig_jailctl_unref(second);
        assert_int_equal(brig_jailctl_recv(sp[1], &m, fds, &n), 0);
        close(sp[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_jailctl__helper_argv_names_each_fd),
                cmocka_unit_test(test_jailctl__plan_memfd_is_whole_at_zero_sealed_and_read_back),
                cmocka_unit_test(test_jailctl__run_carries_a_short_plan_inline),
                cmocka_unit_test(test_jailctl__reaper_name_round_trips),
                cmocka_unit_test(test_jailctl__status_reader_splits_lines),
                cmocka_unit_test(test_jailctl__report_end_says_started_with_the_end),
                cmocka_unit_test(test_jailctl__status_reader_drops_overlong_lines_whole),
                cmocka_unit_test(test_jailctl__control_is_refcounted_and_hangs_up),
                cmocka_unit_test(test_jailctl__control_closes_on_last_unref),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
