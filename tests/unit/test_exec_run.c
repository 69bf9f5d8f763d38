/* SPDX-License-Identifier: MIT */
/* The exec tool's run-time half against a real loop, real pipes and a real control socket, with this test
 * in the environment init's place: it receives the RUN message and its descriptors and plays the command
 * (writes its output and its status), so the order of events is the test's to choose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "sandbox/policy.h"
#include "sandbox/spawn.h"
#include "tools/exec.h"

static const brig_identity ident = {.uid_outside = 4242, .gid_outside = 4343, .root = false};

typedef struct captured {
        bool done;
        bool exited;
        int exit_code;
        bool truncated;
        char out[256];
} captured;

static void done_cb(const brig_exec_result *res, void *userdata) {
        captured *c = userdata;
        c->done = true;
        c->exited = res->exited;
        c->exit_code = res->exit_code;
        c->truncated = res->truncated;
        snprintf(c->out, sizeof(c->out), "%.*s", (int) res->out->len, res->out->data ? res->out->data : "");
}

/* A fake init's side of one exec: the command's fds, in RUN's order. */
typedef struct fake_run {
        int plan, out, err, status;
} fake_run;

static brig_exec *start(uv_loop_t *loop, brig_policy **pol, int sp[2], captured *cap, fake_run *run) {
        static const brig_exec_ops ops = {.done = done_cb};
        static char true_path[] = "/bin/true";
        static char *argv[] = {true_path, NULL};
        const char *json = "{}";
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args args = {.argv = argv};
        brig_exec *e = NULL;
        brig_spawn_msg m;
        int fds[BRIG_SPAWN_MAX_FDS];
        size_t n = 0;

        assert_int_equal(brig_policy_parse(json, strlen(json), "<inline>", pol, NULL, &err), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        brig_exec_context ctx = {.loop = loop, .policy = *pol, .identity = ident, .control_fd = sp[0]};
        assert_int_equal(brig_exec_start(&ctx, &args, &ops, cap, &e, &err), 0);
        assert_int_equal(brig_spawn_recv(sp[1], &m, fds, &n), 1);
        assert_int_equal(m.op, BRIG_SPAWN_RUN);
        assert_int_equal(n, 4);
        *run = (fake_run){.plan = fds[0], .out = fds[1], .err = fds[2], .status = fds[3]};
        return e;
}

/* A background child holds stdout open after the command exited, and its bytes reach the pipe while the
 * loop is busy elsewhere for longer than the drain delay: the loop then runs the drain timer before it polls
 * the pipe. The result must still carry those bytes (issue 11: results with exit 0 and empty stdout). */
static void test_exec__drain_reads_what_the_pipe_holds(void **state) {
        (void) state;
        uv_loop_t loop;
        _cleanup_(brig_policy_freep) brig_policy *pol = NULL;
        int sp[2];
        captured cap = {0};
        fake_run run;

        assert_int_equal(uv_loop_init(&loop), 0);
        (void) start(&loop, &pol, sp, &cap, &run);
        close(run.plan);
        assert_int_equal(write(run.status, "pid 2\nexit 0\n", 13), 13);
        close(run.status);
        /* The loop learns that the command ended; stdout and stderr stay open (the background child). */
        (void) uv_run(&loop, UV_RUN_ONCE);
        assert_false(cap.done);
        assert_int_equal(write(run.out, "7\ntag\n", 6), 6);
        /* Busy elsewhere: by the next iteration the drain delay (250 ms) is over. */
        usleep(600 * 1000);
        while (!cap.done)
                (void) uv_run(&loop, UV_RUN_ONCE);
        assert_true(cap.exited);
        assert_int_equal(cap.exit_code, 0);
        assert_string_equal(cap.out, "7\ntag\n");
        assert_false(cap.truncated);

        close(run.out);
        close(run.err);
        close(sp[0]);
        close(sp[1]);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* Without a background child the call ends at EOF, with everything written before it. */
static void test_exec__eof_ends_the_call_with_all_output(void **state) {
        (void) state;
        uv_loop_t loop;
        _cleanup_(brig_policy_freep) brig_policy *pol = NULL;
        int sp[2];
        captured cap = {0};
        fake_run run;

        assert_int_equal(uv_loop_init(&loop), 0);
        (void) start(&loop, &pol, sp, &cap, &run);
        close(run.plan);
        assert_int_equal(write(run.out, "hello\n", 6), 6);
        close(run.out);
        close(run.err);
        assert_int_equal(write(run.status, "pid 2\nexit 3\n", 13), 13);
        close(run.status);
        while (!cap.done)
                (void) uv_run(&loop, UV_RUN_ONCE);
        assert_int_equal(cap.exit_code, 3);
        assert_string_equal(cap.out, "hello\n");

        close(sp[0]);
        close(sp[1]);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec__drain_reads_what_the_pipe_holds),
                cmocka_unit_test(test_exec__eof_ends_the_call_with_all_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
