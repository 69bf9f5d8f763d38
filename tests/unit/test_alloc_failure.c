/* SPDX-License-Identifier: MIT */
/* Allocation failure, one allocation at a time: for n = 1, 2, ... the n-th allocation of an operation fails
 * (failalloc.h), until the operation completes without reaching n. Each failed run must end cleanly: a
 * negative return with err set (never a success without a result, never an error without a message), and,
 * in the ASan build (make test), no leak. Over the policy parser, the file tools, the history and the
 * JSON-RPC parser. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/policy.h"
#include "tests/unit/failalloc.h"
#include "tools/files.h"
#include "tools/history.h"
#include "worker/rpc.h"

#define MAX_STEPS 200000 /* far above any operation here: a loop that never ends is a test bug */

/* A failed run's error is clean: the code returned, a kind, a message. */
static void assert_clean_error(int r, const brig_error *err, size_t n, const char *what) {
        if (r < 0 && err->code == r && err->msg[0])
                return;
        failalloc_print_trace();
        fail_msg("%s: allocation %zu failed: returned %d, err {code %d, msg \"%s\"}", what, n, r, err->code,
                 err->msg);
}

static char *slurp(const char *rel) {
        char path[1024];
        const char *src = getenv("BRIG_SOURCE_DIR");
        _cleanup_close_ int fd = -1;
        char *buf = malloc(1 << 20);
        ssize_t n;

        assert_non_null(buf);
        (void) snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, buf, (1 << 20) - 1);
        assert_true(n > 0);
        buf[n] = 0;
        return buf;
}

/* Runs parse under failing allocations; returns how many allocations a successful parse made. */
static size_t policy_runs(const char *text, const char *what, bool valid) {
        for (size_t n = 1; n < MAX_STEPS; n++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_policy_diags diags = {0};
                brig_policy *p = NULL;

                failalloc_arm(n);
                int r = brig_policy_parse(text, strlen(text), "<inline>", &p, &diags, &err);
                failalloc_arm(0);
                bool fired = failalloc_fired();
                brig_policy_free(p);
                brig_policy_diags_done(&diags);
                if (!fired) {
                        if (valid)
                                assert_int_equal(r, 0);
                        else
                                assert_true(r < 0 && err.code == r && err.msg[0]);
                        return n - 1;
                }
                if (r < 0)
                        assert_clean_error(r, &err, n, what);
        }
        fail_msg("%s: still allocating after %d steps", what, MAX_STEPS);
        return 0;
}

static void test_alloc_failure__policy_parser(void **state) {
        static const char *const files[] = {"policies/default.json", "policies/strict.json",
                                            "policies/permissive-dev.json"};
        (void) state;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                _cleanup_free_ char *text = slurp(files[i]);
                size_t steps = policy_runs(text, files[i], true);
                print_message("# %s: %zu allocations, each failed once\n", files[i], steps);
                assert_true(steps > 10);
        }
        /* The error path too: a refused policy, with its diagnostics. */
        (void) policy_runs("{\"limits\":{\"memory\":\"lots\",\"pids\":-1},\"tools\":{\"nope\":1}}",
                           "invalid", false);
}

static int files_run(int root_fd, const char *tool, const char *args_json, const char *reset_path) {
        brig_files_ctx ctx = {.root_fd = root_fd, .uid = (uid_t) -1, .gid = (gid_t) -1};
        size_t n;

        for (n = 1; n < MAX_STEPS; n++) {
                _cleanup_json_ cJSON *args = cJSON_Parse(args_json);
                brig_files_report report = {0};
                brig_error err = BRIG_ERROR_INIT;
                cJSON *res = NULL;

                assert_non_null(args);
                if (reset_path) {
                        _cleanup_close_ int fd =
                                openat(root_fd, reset_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        assert_true(fd >= 0);
                        assert_int_equal(write(fd, "alpha\nbeta\ngamma\n", 17), 17);
                }
                failalloc_arm(n);
                int r = brig_files_call(tool, &ctx, args, &res, &report, &err);
                failalloc_arm(0);
                bool fired = failalloc_fired();
                brig_files_report_done(&report);
                if (!fired) {
                        if (r < 0)
                                fail_msg("%s: %s", tool, err.msg);
                        assert_non_null(res);
                        cJSON_Delete(res);
                        break;
                }
                if (r < 0)
                        assert_clean_error(r, &err, n, tool);
                else if (!res) {
                        failalloc_print_trace();
                        fail_msg("%s: allocation %zu failed: returned %d without a result", tool, n, r);
                }
                cJSON_Delete(res);
        }
        return (int) n - 1;
}

static void test_alloc_failure__file_tools(void **state) {
        static const struct {
                const char *tool, *args, *reset;
        } calls[] = {
                {"write_file", "{\"path\":\"d/w.txt\",\"content\":\"hello\\nworld\\n\"}", NULL},
                {"read_file", "{\"path\":\"a.txt\"}", "a.txt"},
                {"read_file", "{\"path\":\"a.txt\",\"offset\":2,\"limit\":1}", "a.txt"},
                {"edit_file",
                 "{\"path\":\"a.txt\",\"edits\":[{\"old_text\":\"beta\",\"new_text\":\"BETA\"}]}", "a.txt"},
                {"stat", "{\"path\":\"a.txt\"}", "a.txt"},
                {"list_directory", "{\"path\":\".\",\"depth\":3}", "a.txt"},
                {"glob", "{\"pattern\":\"**/*.txt\"}", "a.txt"},
                {"grep", "{\"pattern\":\"a\",\"path\":\".\"}", "a.txt"},
                {"make_directory", "{\"path\":\"x/y/z\"}", NULL},
                {"move", "{\"from\":\"m1.txt\",\"to\":\"m2.txt\",\"overwrite\":true}", "m1.txt"},
                {"remove", "{\"path\":\"r.txt\"}", "r.txt"},
        };
        char top[] = "/tmp/brig-failalloc-XXXXXX";
        _cleanup_close_ int root_fd = -1;

        (void) state;
        assert_non_null(mkdtemp(top));
        root_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);
        assert_int_equal(mkdirat(root_fd, "d", 0755), 0);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                int steps = files_run(root_fd, calls[i].tool, calls[i].args, calls[i].reset);
                print_message("# %s: %d allocations, each failed once\n", calls[i].tool, steps);
                assert_true(steps > 0);
        }
        char cmd[128];
        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
}

/* Our side of the history (libgit2 allocates through its own allocator, which this does not fail). */
static void test_alloc_failure__history(void **state) {
        static const struct {
                const char *tool, *args;
        } calls[] = {
                {"snapshot", "{\"message\":\"step\"}"},
                {"history", "{\"limit\":5}"},
                {"diff", "{}"},
        };
        char top[] = "/tmp/brig-failalloc-XXXXXX", ws[64], git[64], file[80], cmd[128];
        size_t n;

        (void) state;
        assert_non_null(mkdtemp(top));
        (void) snprintf(ws, sizeof(ws), "%s/ws", top);
        (void) snprintf(git, sizeof(git), "%s/history.git", top);
        (void) snprintf(file, sizeof(file), "%s/a.txt", ws);
        assert_int_equal(mkdir(ws, 0755), 0);
        for (n = 1; n < MAX_STEPS; n++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_history *h = NULL;

                failalloc_arm(n);
                int r = brig_history_open(git, ws, NULL, &h, &err);
                failalloc_arm(0);
                bool fired = failalloc_fired();
                brig_history_free(h);
                if (!fired) {
                        assert_int_equal(r, 0);
                        break;
                }
                if (r < 0)
                        assert_clean_error(r, &err, n, "history open");
        }
        print_message("# open: %zu allocations, each failed once\n", n - 1);

        brig_error err = BRIG_ERROR_INIT;
        brig_history *h = NULL;
        assert_int_equal(brig_history_open(git, ws, NULL, &h, &err), 0);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                for (n = 1; n < MAX_STEPS; n++) {
                        _cleanup_json_ cJSON *args = cJSON_Parse(calls[i].args);
                        cJSON *res = NULL;
                        FILE *fp = fopen(file, "we");

                        /* A change each time, so that every snapshot and diff has something to record. */
                        assert_non_null(fp);
                        fprintf(fp, "line %zu\n", n);
                        fclose(fp);
                        err = (brig_error) BRIG_ERROR_INIT;
                        failalloc_arm(n);
                        int r = brig_history_call(h, calls[i].tool, args, "call-1", &res, &err);
                        failalloc_arm(0);
                        bool fired = failalloc_fired();
                        if (!fired) {
                                if (r < 0)
                                        fail_msg("%s: %s", calls[i].tool, err.msg);
                                assert_non_null(res);
                                cJSON_Delete(res);
                                break;
                        }
                        if (r < 0)
                                assert_clean_error(r, &err, n, calls[i].tool);
                        else if (!res) {
                                failalloc_print_trace();
                                fail_msg("%s: allocation %zu failed: returned %d without a result",
                                         calls[i].tool, n, r);
                        }
                        cJSON_Delete(res);
                }
                print_message("# %s: %zu allocations, each failed once\n", calls[i].tool, n - 1);
                assert_true(n > 1);
        }
        brig_history_free(h);
        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
}

static void test_alloc_failure__rpc_parser(void **state) {
        static const char *const lines[] = {
                "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                "\"arguments\":{\"command\":[\"echo\",\"hi\"]}}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}",
        };
        (void) state;
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                size_t n;
                for (n = 1; n < MAX_STEPS; n++) {
                        brig_error err = BRIG_ERROR_INIT;
                        brig_rpc_msg msg = {0};
                        int code = 0;

                        failalloc_arm(n);
                        int r = brig_rpc_parse(lines[i], strlen(lines[i]), &msg, &code, &err);
                        failalloc_arm(0);
                        bool fired = failalloc_fired();
                        brig_rpc_msg_done(&msg);
                        if (!fired) {
                                assert_int_equal(r, 0);
                                break;
                        }
                        if (r < 0) {
                                assert_clean_error(r, &err, n, lines[i]);
                                assert_true(code != 0);
                        }
                }
                assert_true(n > 1);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alloc_failure__policy_parser),
                cmocka_unit_test(test_alloc_failure__file_tools),
                cmocka_unit_test(test_alloc_failure__history),
                cmocka_unit_test(test_alloc_failure__rpc_parser),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
