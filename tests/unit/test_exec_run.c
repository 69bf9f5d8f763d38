/* SPDX-License-Identifier: MIT */
/* The exec tool's run-time half against a real loop, real pipes and a real control socket, with this test
 * in the environment init's place: it receives the RUN message and its descriptors and plays the command
 * (writes its output and its status), so the order of events is the test's to choose. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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
#include "common/json.h"
#include "sandbox/jailctl.h"
#include "sandbox/policy.h"
#include "tools/exec.h"

static const brig_identity ident = {.uid_outside = 4242, .gid_outside = 4343, .root = false};

typedef struct captured {
        bool done;
        bool exited;
        int exit_code;
        bool truncated;
        uint64_t out_escaped_len;
        char out[256];
} captured;

static void done_cb(const brig_exec_result *res, void *userdata) {
        captured *c = userdata;
        c->done = true;
        c->exited = res->exited;
        c->exit_code = res->exit_code;
        c->truncated = res->truncated;
        c->out_escaped_len = res->out_escaped_len;
        snprintf(c->out, sizeof(c->out), "%.*s", (int) res->out->len, res->out->data ? res->out->data : "");
}

/* A fake init's side of one exec: the command's fds, in RUN's order; control is brigd's end (sp[0]). */
typedef struct fake_run {
        int out, err, status;
        brig_jailctl *control;
} fake_run;

static brig_exec *start(uv_loop_t *loop, brig_policy **pol, int sp[2], captured *cap, fake_run *run) {
        static const brig_exec_ops ops = {.done = done_cb};
        static char true_path[] = "/bin/true";
        static char *argv[] = {true_path, NULL};
        const char *json = "{}";
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args args = {.argv = argv};
        brig_exec *e = NULL;
        brig_jailctl_msg m;
        int fds[BRIG_JAILCTL_MAX_FDS];
        size_t n = 0;

        assert_int_equal(brig_policy_parse(json, strlen(json), "<inline>", pol, NULL, &err), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        brig_jailctl *control = NULL;
        assert_int_equal(brig_jailctl_new(sp[0], &control), 0);
        brig_exec_context ctx = {.loop = loop, .policy = *pol, .identity = ident, .control = control};
        assert_int_equal(brig_exec_start(&ctx, &args, &ops, cap, &e, &err), 0);
        static char plan[BRIG_JAILCTL_PLAN_INLINE_MAX];
        size_t plan_len = 0;
        assert_int_equal(brig_jailctl_recv_run(sp[1], &m, plan, &plan_len, fds, &n), 1);
        assert_int_equal(m.op, BRIG_JAILCTL_RUN);
        assert_int_equal(n, 4);
        /* A plan this short comes inline, in the memfd's place a -1. */
        assert_int_equal(fds[0], -1);
        assert_true(plan_len > 0);
        *run = (fake_run){.out = fds[1], .err = fds[2], .status = fds[3], .control = control};
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
        run.control = brig_jailctl_unref(run.control);
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
        assert_int_equal(write(run.out, "hello\n", 6), 6);
        close(run.out);
        close(run.err);
        assert_int_equal(write(run.status, "pid 2\nexit 3\n", 13), 13);
        close(run.status);
        while (!cap.done)
                (void) uv_run(&loop, UV_RUN_ONCE);
        assert_int_equal(cap.exit_code, 3);
        assert_string_equal(cap.out, "hello\n");
        /* Counted as it arrived, for the result's printing: "hello\\n" inside a JSON string. */
        assert_int_equal(cap.out_escaped_len, 7);

        run.control = brig_jailctl_unref(run.control);
        close(sp[1]);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* The environment hangs up its control socket (stop, restart) while a background command's call still
 * lives, and the fd number is reused (here by a fresh socketpair). A signal for the command must fail, not
 * go to whatever now holds that number. */
static void test_exec__signal_after_hang_up_goes_nowhere(void **state) {
        (void) state;
        uv_loop_t loop;
        _cleanup_(brig_policy_freep) brig_policy *pol = NULL;
        int sp[2], reuse[2];
        captured cap = {0};
        fake_run run;
        char byte;

        assert_int_equal(uv_loop_init(&loop), 0);
        brig_exec *e = start(&loop, &pol, sp, &cap, &run);
        /* What brig_env_stop() does with the environment's reference. */
        brig_jailctl_hangup(run.control);
        run.control = brig_jailctl_unref(run.control);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, reuse), 0);
        assert_int_equal(reuse[0], sp[0]); /* the number the control socket had now names another socket */
        assert_int_equal(brig_exec_signal(e, SIGTERM), -ESHUTDOWN);
        assert_int_equal(recv(reuse[1], &byte, 1, MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        /* Nor the KILL of a cancel. */
        brig_exec_cancel(e);
        assert_int_equal(recv(reuse[1], &byte, 1, MSG_DONTWAIT), -1);
        /* The init is gone: so is the command, its pipes close and the call ends. */
        close(run.out);
        close(run.err);
        close(run.status);
        while (!cap.done)
                (void) uv_run(&loop, UV_RUN_ONCE);
        assert_true(cap.done);

        close(reuse[0]);
        close(reuse[1]);
        close(sp[1]);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
}

/* The wire bytes of a result: structuredContent printed plus its text block. */
static size_t result_wire_bytes(const char *data, size_t len, char **ret_text, cJSON **ret_sc) {
        brig_buf out = {0}, none = {0};
        assert_true(brig_buf_append(&out, data, len) >= 0);
        brig_exec_result res = {.exited = true, .out = &out, .err = &none, .stdout_bytes = len};
        *ret_text = brig_exec_result_to_text(&res);
        *ret_sc = brig_exec_result_to_json(&res);
        assert_non_null(*ret_text);
        assert_non_null(*ret_sc);
        _cleanup_free_ char *printed = cJSON_PrintUnformatted(*ret_sc);
        assert_non_null(printed);
        brig_buf_done(&out);
        return strlen(printed) + strlen(*ret_text);
}

/* Output of any content costs at most about twice its size on the wire (issue 11: 16 MiB of \x01 became a
 * 201 MB response: 6-byte escapes, carried twice). */
static void test_exec__result_wire_bytes_are_bounded(void **state) {
        (void) state;
        const size_t len = 1u << 20;
        _cleanup_free_ char *data = malloc(len);
        assert_non_null(data);

        for (int kind = 0; kind < 4; kind++) {
                for (size_t i = 0; i < len; i++) {
                        switch (kind) {
                        case 0: /* control bytes: valid UTF-8, 6 bytes each as escapes */
                                data[i] = 1;
                                break;
                        case 1: /* text */
                                data[i] = i % 64 == 63 ? '\n' : (char) ('a' + i % 26);
                                break;
                        case 2: /* binary */
                                data[i] = (char) (i * 131 + 7);
                                break;
                        default: /* quotes and backslashes: 2 bytes each, within the ratio: stays text */
                                data[i] = i % 2 ? '"' : '\\';
                                break;
                        }
                }
                _cleanup_free_ char *text = NULL;
                _cleanup_json_ cJSON *sc = NULL;
                size_t wire = result_wire_bytes(data, len, &text, &sc);
                assert_true(wire <= 2 * len + 64 * 1024);
                /* The text block never repeats the bulk of the output. */
                assert_true(strlen(text) <= BRIG_EXEC_TEXT_HEAD + BRIG_EXEC_TEXT_TAIL + 1024);
                const char *enc = cJSON_GetObjectItem(sc, "stdout_encoding")->valuestring;
                assert_string_equal(enc, kind == 1 || kind == 3 ? "utf8" : "base64");
        }
}

/* Short text stays whole and readable in both places; a long one keeps its head and tail. */
static void test_exec__result_text_keeps_short_output_and_excerpts_long(void **state) {
        (void) state;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ cJSON *sc = NULL;
        const char *colour = "\x1b[31mred\x1b[0m\n";

        (void) result_wire_bytes(colour, strlen(colour), &text, &sc);
        assert_string_equal(cJSON_GetObjectItem(sc, "stdout_encoding")->valuestring, "utf8");
        assert_string_equal(cJSON_GetObjectItem(sc, "stdout")->valuestring, colour);
        assert_non_null(strstr(text, colour));

        const size_t len = 100000;
        _cleanup_free_ char *big = malloc(len);
        assert_non_null(big);
        /* Two-byte characters, so a careless cut would split one. */
        for (size_t i = 0; i + 1 < len; i += 2) {
                big[i] = (char) 0xC3;
                big[i + 1] = (char) 0xA9;
        }
        big[0] = 'H';
        big[1] = '\n';
        big[len - 2] = 'T';
        big[len - 1] = '\n';
        free(text);
        cJSON_Delete(sc);
        (void) result_wire_bytes(big, len, &text, &sc);
        assert_int_equal(strlen(cJSON_GetObjectItem(sc, "stdout")->valuestring), len);
        assert_true(strncmp(text, "H\n", 2) == 0);
        assert_non_null(strstr(text, "T\n\n[exit code 0]"));
        assert_non_null(strstr(text, "structuredContent.stdout has all of them"));
        assert_true(brig_utf8_valid(text, strlen(text)));
        assert_true(strlen(text) < 20000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec__drain_reads_what_the_pipe_holds),
                cmocka_unit_test(test_exec__eof_ends_the_call_with_all_output),
                cmocka_unit_test(test_exec__signal_after_hang_up_goes_nowhere),
                cmocka_unit_test(test_exec__result_wire_bytes_are_bounded),
                cmocka_unit_test(test_exec__result_text_keeps_short_output_and_excerpts_long),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
