/* SPDX-License-Identifier: MIT */
/* Allocation failure, one allocation at a time: for n = 1, 2, ... the n-th allocation of an operation fails
 * (failalloc.h), until the operation completes without reaching n. Each failed run must end cleanly: a
 * negative return with err set (never a success without a result, never an error without a message), and,
 * in the ASan build (make test), no leak. Over the policy parser, the file tools, the history, plans and
 * their JSON form, the exec tool's arguments, the process tools and the JSON-RPC parser. */
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
#include "sandbox/plan.h"
#include "sandbox/policy.h"
#include "tests/unit/failalloc.h"
#include "tools/exec.h"
#include "tools/files.h"
#include "tools/history.h"
#include "tools/process.h"
#include "tools/process_log.h"
#include "worker/rpc.h"

#define MAX_STEPS 200000 /* far above any operation here: a loop that never ends is a test bug */

/* One run of the operation under test: returns its result code, and whether it produced its result (which it
 * frees). Its preparation (files to reset) is done before it arms the allocator. */
typedef int (*op_fn)(void *userdata, brig_error *err, bool *ret_result);

/* Runs op with the n-th allocation failing, n = 1, 2, ..., until it completes without reaching n; then it
 * must have succeeded with a result (or, when !valid, failed cleanly). Returns how many allocations it made.
 */
static size_t fail_each(const char *what, op_fn op, void *userdata, bool valid) {
        for (size_t n = 1; n < MAX_STEPS; n++) {
                brig_error err = BRIG_ERROR_INIT;
                bool result = false;

                failalloc_arm(n);
                int r = op(userdata, &err, &result);
                failalloc_arm(0);
                bool fired = failalloc_fired();
                if (!fired && valid && (r < 0 || !result))
                        fail_msg("%s: failed without an allocation failing: %d %s", what, r, err.msg);
                if (!fired && !valid && r >= 0)
                        fail_msg("%s: accepted", what);
                if (r < 0 && (err.code != r || !err.msg[0])) {
                        failalloc_print_trace();
                        fail_msg("%s: allocation %zu failed: returned %d, err {code %d, msg \"%s\"}", what,
                                 n, r, err.code, err.msg);
                }
                if (r >= 0 && !result) {
                        failalloc_print_trace();
                        fail_msg("%s: allocation %zu failed: returned %d without a result", what, n, r);
                }
                if (!fired) {
                        print_message("# %s: %zu allocations, each failed once\n", what, n - 1);
                        return n - 1;
                }
        }
        fail_msg("%s: still allocating after %d steps", what, MAX_STEPS);
        return 0;
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

static void put(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void remove_tree(const char *top) {
        char cmd[128];

        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        assert_int_equal(system(cmd), 0);
}

static int policy_op(void *userdata, brig_error *err, bool *ret_result) {
        const char *text = userdata;
        brig_policy_diags diags = {0};
        brig_policy *p = NULL;

        int r = brig_policy_parse(text, strlen(text), "<inline>", &p, &diags, err);
        *ret_result = p != NULL;
        brig_policy_free(p);
        brig_policy_diags_done(&diags);
        return r;
}

static void test_alloc_failure__policy_parser(void **state) {
        static const char *const files[] = {"policies/default.json", "policies/strict.json",
                                            "policies/permissive-dev.json"};
        (void) state;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                _cleanup_free_ char *text = slurp(files[i]);
                assert_true(fail_each(files[i], policy_op, text, true) > 10);
        }
        /* The error path too: a refused policy, with its diagnostics. */
        (void) fail_each("an invalid policy", policy_op,
                         (void *) "{\"limits\":{\"memory\":\"lots\",\"pids\":-1},\"tools\":{\"nope\":1}}",
                         false);
}

typedef struct files_call {
        int root_fd;
        const char *ws;
        const char *tool;
        cJSON *args;       /* parsed before the allocator is armed */
        const char *reset; /* a workspace file written afresh before each run, or NULL */
} files_call;

static int files_op(void *userdata, brig_error *err, bool *ret_result) {
        const files_call *c = userdata;
        brig_files_ctx ctx = {.root_fd = c->root_fd, .uid = (uid_t) -1, .gid = (gid_t) -1};
        brig_files_report report = {0};
        cJSON *res = NULL;

        int r = brig_files_call(c->tool, &ctx, c->args, &res, &report, err);
        *ret_result = res != NULL;
        cJSON_Delete(res);
        brig_files_report_done(&report);
        if (c->reset) { /* for the next run (plain stdio: no wrapped allocation) */
                char path[160];
                (void) snprintf(path, sizeof(path), "%s/%s", c->ws, c->reset);
                put(path, "alpha\nbeta\ngamma\n");
        }
        return r;
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
        char top[] = "/tmp/brig-failalloc-XXXXXX", path[160];
        _cleanup_close_ int root_fd = -1;

        (void) state;
        assert_non_null(mkdtemp(top));
        root_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);
        assert_int_equal(mkdirat(root_fd, "d", 0755), 0);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                files_call c = {
                        .root_fd = root_fd, .ws = top, .tool = calls[i].tool, .reset = calls[i].reset};
                assert_non_null(c.args = cJSON_Parse(calls[i].args));
                if (c.reset) {
                        (void) snprintf(path, sizeof(path), "%s/%s", top, c.reset);
                        put(path, "alpha\nbeta\ngamma\n");
                }
                assert_true(fail_each(calls[i].tool, files_op, &c, true) > 0);
                cJSON_Delete(c.args);
        }
        remove_tree(top);
}

typedef struct history_call {
        const char *ws, *git;
        brig_history *h;
        const char *tool;
        cJSON *args;
        unsigned change; /* a different content for the workspace's file before each run */
} history_call;

static int history_open_op(void *userdata, brig_error *err, bool *ret_result) {
        const history_call *c = userdata;
        brig_history *h = NULL;

        int r = brig_history_open(c->git, c->ws, NULL, &h, err);
        *ret_result = h != NULL;
        brig_history_free(h);
        return r;
}

static int history_op(void *userdata, brig_error *err, bool *ret_result) {
        history_call *c = userdata;
        char path[160], text[32];
        cJSON *res = NULL;

        int r = brig_history_call(c->h, c->tool, c->args, "call-1", &res, err);
        *ret_result = res != NULL;
        cJSON_Delete(res);
        /* A change before each run, so that every snapshot and diff has something to record. */
        (void) snprintf(path, sizeof(path), "%s/a.txt", c->ws);
        (void) snprintf(text, sizeof(text), "line %u\n", ++c->change);
        put(path, text);
        return r;
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
        char top[] = "/tmp/brig-failalloc-XXXXXX", ws[64], git[64], path[80];
        brig_error err = BRIG_ERROR_INIT;
        history_call c = {.ws = ws, .git = git};

        (void) state;
        assert_non_null(mkdtemp(top));
        (void) snprintf(ws, sizeof(ws), "%s/ws", top);
        (void) snprintf(git, sizeof(git), "%s/history.git", top);
        (void) snprintf(path, sizeof(path), "%s/a.txt", ws);
        assert_int_equal(mkdir(ws, 0755), 0);
        put(path, "first\n");
        assert_true(fail_each("history open", history_open_op, &c, true) > 0);
        assert_int_equal(brig_history_open(git, ws, NULL, &c.h, &err), 0);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                c.tool = calls[i].tool;
                assert_non_null(c.args = cJSON_Parse(calls[i].args));
                assert_true(fail_each(calls[i].tool, history_op, &c, true) > 0);
                cJSON_Delete(c.args);
        }
        brig_history_free(c.h);
        remove_tree(top);
}

typedef struct plan_case {
        const brig_policy *policy;
        brig_plan_mode mode;
} plan_case;

/* A plan built, written as brig-jail reads it, and read back. */
static int plan_op(void *userdata, brig_error *err, bool *ret_result) {
        static const char *const argv[] = {"sh", "-c", "echo hi", NULL}, *const env[] = {"A=1", NULL};
        static const brig_identity ident = {.uid_outside = 4242, .gid_outside = 4343};
        const plan_case *c = userdata;
        brig_plan_request req = {
                .mode = c->mode, .argv = argv, .env = env, .cwd = "src", .workspace = "/tmp/brig-ws"};
        brig_plan *plan = NULL, *back = NULL;
        char *json = NULL;

        int r = brig_plan_build(c->policy, &req, &ident, &plan, err);
        if (r >= 0 && !(json = brig_plan_to_json(plan))) /* NULL only when out of memory */
                r = brig_error_oom(err);
        if (r >= 0)
                r = brig_plan_from_json(json, strlen(json), &back, err);
        *ret_result = back != NULL;
        brig_plan_free(back);
        free(json);
        brig_plan_free(plan);
        return r;
}

static int exec_args_op(void *userdata, brig_error *err, bool *ret_result) {
        brig_exec_args a = {0};

        int r = brig_exec_args_parse(userdata, &a, err);
        *ret_result = r >= 0;
        brig_exec_args_done(&a);
        return r;
}

static void test_alloc_failure__plan_and_exec_args(void **state) {
        static const char *const args[] = {
                "{\"command\":\"echo hi | wc -c\",\"cwd\":\"src/lib\"}",
                "{\"argv\":[\"env\"],\"env\":{\"A\":\"1\",\"B_2\":\"x=y\",\"EMPTY\":\"\"}}",
        };
        _cleanup_free_ char *text = slurp("policies/default.json");
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;

        (void) state;
        assert_int_equal(brig_policy_parse(text, strlen(text), "<inline>", &p, NULL, &err), 0);
        assert_true(fail_each("run plan", plan_op, &(plan_case){p, BRIG_PLAN_RUN}, true) > 0);
        assert_true(fail_each("enter plan", plan_op, &(plan_case){p, BRIG_PLAN_ENTER}, true) > 0);
        brig_policy_free(p);
        for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
                _cleanup_json_ cJSON *a = cJSON_Parse(args[i]);
                assert_non_null(a);
                assert_true(fail_each(args[i], exec_args_op, a, true) > 0);
        }
}

typedef struct process_call {
        brig_process_table *table;
        const char *tool;
        cJSON *args;
} process_call;

static int process_op(void *userdata, brig_error *err, bool *ret_result) {
        const process_call *c = userdata;

        cJSON *res = brig_process_call(c->table, c->tool, c->args, err);
        *ret_result = res != NULL;
        cJSON_Delete(res);
        return res ? 0 : err->code < 0 ? err->code : -EIO; /* an unset err then fails the run */
}

/* The process tools over a table loaded from disk (one ended process with its output log), no jail. */
static void test_alloc_failure__process_tools(void **state) {
        static const struct {
                const char *tool, *args;
        } calls[] = {
                {"process_list", "{}"},
                {"process_output", "{\"process_id\":\"p1\"}"},
                {"process_output", "{\"process_id\":\"p1\",\"offset\":2,\"limit\":3}"},
        };
        static const brig_process_hooks no_hooks = {0};
        char top[] = "/tmp/brig-failalloc-XXXXXX", path[96];
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;
        brig_process_table t;

        (void) state;
        assert_non_null(mkdtemp(top));
        (void) snprintf(path, sizeof(path), "%s/processes", top);
        assert_int_equal(mkdir(path, 0700), 0);
        (void) snprintf(path, sizeof(path), "%s/processes/p1.json", top);
        put(path,
            "{\"version\": 1, \"process_id\": \"p1\", \"command\": \"echo hi\", \"started\": 1700000000, "
            "\"ended\": 1700000001, \"exit_code\": 0, \"signal\": null, \"duration_ms\": 1000, "
            "\"output_bytes\": 9}");
        (void) snprintf(path, sizeof(path), "%s/processes/p1.log", top);
        assert_int_equal(brig_process_log_create(AT_FDCWD, path, 64, &log, &err), 0);
        assert_int_equal(brig_process_log_append(&log, "hi\n\xff\xfe out", 9, &err), 0);
        brig_process_log_close(&log);
        assert_int_equal(brig_process_table_init(&t, "test", top, &no_hooks), 0);
        assert_int_equal(brig_process_table_load(&t), 0);
        assert_int_equal(t.n, 1);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                process_call c = {.table = &t, .tool = calls[i].tool};
                assert_non_null(c.args = cJSON_Parse(calls[i].args));
                assert_true(fail_each(calls[i].tool, process_op, &c, true) > 0);
                cJSON_Delete(c.args);
        }
        brig_process_table_free(&t);
        remove_tree(top);
}

static int rpc_op(void *userdata, brig_error *err, bool *ret_result) {
        const char *line = userdata;
        brig_rpc_msg msg = {0};
        int code = 0;

        int r = brig_rpc_parse(line, strlen(line), &msg, &code, err);
        *ret_result = msg.root != NULL;
        brig_rpc_msg_done(&msg);
        /* A refused line is answered with a JSON-RPC error code, never with none. */
        if (r < 0 && code == 0)
                fail_msg("%s: no JSON-RPC error code", line);
        return r;
}

static void test_alloc_failure__rpc_parser(void **state) {
        static const char *const lines[] = {
                ("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"command\":[\"echo\",\"hi\"]}}}"),
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}",
        };
        (void) state;
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
                assert_true(fail_each(lines[i], rpc_op, (void *) lines[i], true) > 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alloc_failure__policy_parser),
                cmocka_unit_test(test_alloc_failure__file_tools),
                cmocka_unit_test(test_alloc_failure__history),
                cmocka_unit_test(test_alloc_failure__plan_and_exec_args),
                cmocka_unit_test(test_alloc_failure__process_tools),
                cmocka_unit_test(test_alloc_failure__rpc_parser),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
