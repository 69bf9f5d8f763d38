/* SPDX-License-Identifier: MIT */
/* Integration tests for `brig exec` against a running brigd: the command's output on our stdout and stderr,
 * its exit code (124 on timeout, 128+N when killed by signal N, 125 when brig itself failed, 2 on usage
 * errors), -e, --cwd, --timeout and --env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;

/* Runs `brig exec ARGS` against our brigd with sh; returns its exit status and its stdout in *ret_out
 * (caller frees); stderr goes to stdout too when merge_stderr. */
static int brig_exec(char **ret_out, bool merge_stderr, const char *fmt, ...) {
        char args[2048], cmd[4096];
        size_t n = 0, cap = 1 << 16;
        char *out = malloc(cap);
        va_list ap;
        FILE *p;
        int st;

        va_start(ap, fmt);
        (void) vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        (void) snprintf(cmd, sizeof(cmd), "BRIG_SOCKET='%s' %s/brig exec %s %s", d.socket, build_dir(), args,
                        merge_stderr ? "2>&1" : "2>/dev/null");
        assert_non_null(out);
        assert_non_null(p = popen(cmd, "r"));
        for (size_t k; (k = fread(out + n, 1, cap - n - 1, p)) > 0;)
                n += k;
        out[n] = 0;
        st = pclose(p);
        *ret_out = out;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int setup(void **state) {
        (void) state;
        if (brigd_start(&d, NULL, &skip_why) < 0 && !skip_why)
                skip_why = "brigd failed to start";
        return 0;
}

static int teardown(void **state) {
        (void) state;
        if (d.pid > 0)
                assert_int_equal(brigd_stop(&d), 0);
        return 0;
}

static void test_cli_exec__output_and_exit_code(void **state) {
        (void) state;
        char *out;

        if (skip_why)
                skip();
        assert_int_equal(brig_exec(&out, false, "-- sh -c 'echo out; echo err >&2; exit 3'"), 3);
        assert_string_equal(out, "out\n");
        free(out);
        assert_int_equal(brig_exec(&out, true, "-- sh -c 'echo err >&2'"), 0);
        assert_string_equal(out, "err\n");
        free(out);
        /* argv is passed as it is: no shell between brig and the command. */
        assert_int_equal(brig_exec(&out, false, "-- printf '%%s|' 'a b' '$HOME'"), 0);
        assert_string_equal(out, "a b|$HOME|");
        free(out);
}

static void test_cli_exec__options(void **state) {
        (void) state;
        char *out;

        if (skip_why)
                skip();
        assert_int_equal(brig_exec(&out, false,
                                   "-e GREETING=hello -e EMPTY= -c 'printf \"%%s.%%s\" \"$GREETING\" "
                                   "\"${EMPTY-unset}\"'"),
                         0);
        assert_string_equal(out, "hello.");
        free(out);
        /* A named environment keeps its workspace between connections; --cwd is relative to it. */
        assert_int_equal(brig_exec(&out, false, "--env cli-1 -c 'mkdir -p sub && echo kept > sub/f'"), 0);
        free(out);
        assert_int_equal(brig_exec(&out, false, "--env cli-1 --cwd sub -c 'pwd; cat f'"), 0);
        assert_string_equal(out, "/workspace/sub\nkept\n");
        free(out);
        assert_int_equal(brig_exec(&out, true, "--timeout 300 -c 'sleep 30'"), 124);
        assert_non_null(strstr(out, "timed out"));
        free(out);
        assert_int_equal(brig_exec(&out, true, "-c 'kill -KILL $$'"), 128 + 9);
        assert_non_null(strstr(out, "SIGKILL"));
        free(out);
}

static void test_cli_exec__usage_and_failures(void **state) {
        (void) state;
        char *out;

        if (skip_why)
                skip();
        assert_int_equal(brig_exec(&out, true, ""), 2);
        assert_non_null(strstr(out, "no command given"));
        free(out);
        assert_int_equal(brig_exec(&out, true, "-e =x -- true"), 2);
        assert_non_null(strstr(out, "NAME=VALUE"));
        free(out);
        assert_int_equal(brig_exec(&out, true, "--timeout soon -- true"), 2);
        free(out);
        /* Refused by brigd (the policy does not exist): brig's own failure, with brigd's reason. */
        assert_int_equal(brig_exec(&out, true, "--policy no-such-policy -- true"), 125);
        assert_non_null(strstr(out, "brig: "));
        free(out);
        assert_int_equal(brig_exec(&out, true, "--cwd ../etc -- true"), 125);
        assert_non_null(strstr(out, "cwd"));
        free(out);
        assert_int_equal(brig_exec(&out, false, "--help"), 0);
        assert_non_null(strstr(out, "Usage: brig"));
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cli_exec__output_and_exit_code),
                cmocka_unit_test(test_cli_exec__options),
                cmocka_unit_test(test_cli_exec__usage_and_failures),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
