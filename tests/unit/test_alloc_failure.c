/* SPDX-License-Identifier: MIT */
/* Allocation failure, one allocation at a time: for n = 1, 2, ... the n-th allocation of an operation fails
 * (failalloc.h), until the operation completes without reaching n. Each failed run must end cleanly: a
 * negative return with err set (never a success without a result, never an error without a message), and,
 * in the ASan build (make test), no leak. Over the policy parser and the policy directory, the file tools,
 * the history, plans and their JSON form, the exec tool's arguments, the process tools, the JSON-RPC parser
 * and what goes back on the wire: JSON-RPC responses and notifications, tools/list, tool results and their
 * text, and audit events (built whole or not at all, and written to a trail). */
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
#include "sandbox/seccomp_notify.h"
#include "tests/unit/failalloc.h"
#include "tools/exec.h"
#include "tools/files.h"
#include "tools/history.h"
#include "tools/process.h"
#include "tools/process_log.h"
#include "tools/registry.h"
#include "tools/result_text.h"
#include "worker/audit.h"
#include "worker/audit_events.h"
#include "worker/policies.h"
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

/* ---- what goes back: built whole, or not at all ---- */

/* A builder of a new JSON value or string (exactly one of json and text is set) that takes no input it
 * could half-consume: whatever it consumes it makes itself. */
typedef struct whole_case {
        const char *what;
        bool event; /* an audit event: one without its type is no result (worker/audit_events.h) */
        cJSON *(*json)(const void *arg);
        char *(*text)(const void *arg);
        const void *arg;
        char *expect; /* what it builds with no allocation failing */
} whole_case;

static char *whole_build(const whole_case *c) {
        cJSON *j;
        char *s;

        if (c->text)
                return c->text(c->arg);
        j = c->json(c->arg);
        s = j && (!c->event || cJSON_GetObjectItemCaseSensitive(j, "type")) ? cJSON_PrintUnformatted(j)
                                                                            : NULL;
        cJSON_Delete(j);
        return s;
}

/* The builder's result is NULL, or the whole of what it builds when nothing fails: never a part of it.
 * (Once the armed allocation has failed, every later one succeeds: printing never hides a part.) */
static int whole_op(void *userdata, brig_error *err, bool *ret_result) {
        const whole_case *c = userdata;
        char *s = whole_build(c);

        *ret_result = s != NULL;
        if (s && strcmp(s, c->expect) != 0) {
                failalloc_arm(0);
                failalloc_print_trace();
                fail_msg("%s: incomplete after a failed allocation:\n#  got    %s\n#  wanted %s", c->what, s,
                         c->expect);
        }
        free(s);
        return *ret_result ? 0 : brig_error_oom(err);
}

static void check_whole(whole_case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                assert_non_null(cases[i].expect = whole_build(&cases[i]));
                assert_true(fail_each(cases[i].what, whole_op, &cases[i], true) > 0);
                free(cases[i].expect);
        }
}

static cJSON *test_id; /* a request's id, made before the allocator is armed */

static cJSON *rpc_result(const void *arg) {
        (void) arg;
        return brig_rpc_result(test_id, cJSON_CreateObject());
}

static cJSON *rpc_error_with_data(const void *arg) {
        cJSON *data = cJSON_CreateObject();
        (void) arg;
        if (!data || !cJSON_AddStringToObject(data, "kind", "invalid_argument")) {
                cJSON_Delete(data);
                return NULL;
        }
        /* From here on, data is brig_rpc_error()'s to free. */
        return brig_rpc_error(test_id, BRIG_RPC_INVALID_PARAMS, "arguments.path: expected a string", data);
}

static cJSON *rpc_error(const void *arg) {
        (void) arg;
        return brig_rpc_error(NULL, BRIG_RPC_PARSE_ERROR, "invalid JSON", NULL);
}

static cJSON *rpc_notification(const void *arg) {
        cJSON *params = cJSON_CreateObject();
        (void) arg;
        return brig_rpc_notification("notifications/tools/list_changed", params);
}

static cJSON *tool_list(const void *arg) {
        return brig_tool_list(arg);
}

/* sc is made here; once it is, it is brig_tool_result()'s to free. */
static cJSON *tool_result(const void *arg) {
        cJSON *sc = cJSON_Parse(arg);
        return sc ? brig_tool_result("[p1 (echo hi): running]", sc, true) : NULL;
}

static brig_buf test_out = {.data = (char *) "hi\n", .len = 3};
static brig_buf test_err = {.data = (char *) "oops\n", .len = 5};
static const brig_exec_result test_exec = {.started = true,
                                           .exited = true,
                                           .exit_code = 3,
                                           .duration_ms = 12,
                                           .stdout_bytes = 3,
                                           .stderr_bytes = 5,
                                           .out = &test_out,
                                           .err = &test_err};
static const brig_exec_result test_killed = {
        .started = true,
        .signal = 9,
        .timed_out = true,
        .out = &test_out,
        .err = &test_err,
        .error = {.code = -ETIMEDOUT, .kind = BRIG_KIND_LIMIT, .msg = "timed out after 10 ms"}};

static cJSON *exec_json(const void *arg) {
        return brig_exec_result_to_json(arg);
}

static char *exec_text(const void *arg) {
        return brig_exec_result_to_text(arg);
}

typedef struct text_case {
        const char *tool;
        cJSON *sc;
} text_case;

static char *result_text(const void *arg) {
        const text_case *t = arg;
        return brig_tool_result_text(t->tool, t->sc, false);
}

static char *files_text(const void *arg) {
        const text_case *t = arg;
        return brig_files_result_text(t->tool, t->sc);
}

static void test_alloc_failure__responses_and_tool_results(void **state) {
        static const char reader[] = "{\"tools\": {\"allow\": [\"read_file\", \"grep\", \"diff\"]}}";
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *strict = NULL;
        text_case texts[] = {
                {"process_list",
                 cJSON_Parse("{\"processes\":[{\"process_id\":\"p1\",\"command\":\"sleep 9\","
                             "\"state\":\"running\",\"output_bytes\":4}]}")},
                {"process_output",
                 cJSON_Parse(
                         "{\"process_id\":\"p1\",\"command\":\"make\",\"state\":\"exited\",\"exit_code\":2,"
                         "\"data\":\"cc: error\\n\",\"next_offset\":10,\"dropped\":5}")},
                {"repl", cJSON_Parse("{\"output\":\"42\\n\",\"truncated\":true}")},
                {"read_file", cJSON_Parse("{\"path\":\"a.txt\",\"content\":\"alpha\\nbeta\\n\","
                                          "\"total_lines\":2,\"truncated\":false}")},
                {"grep",
                 cJSON_Parse("{\"matches\":[{\"path\":\"a.txt\",\"line\":1,\"text\":\"alpha\"},"
                             "{\"path\":\"b.txt\",\"line\":3,\"text\":\"beta\"}],\"truncated\":false}")},
        };
        (void) state;
        assert_int_equal(brig_policy_parse(reader, strlen(reader), "<inline>", &strict, NULL, &err), 0);
        assert_non_null(test_id = cJSON_CreateString("call-7"));
        whole_case cases[] = {
                {"rpc result", false, rpc_result, NULL, NULL, NULL},
                {"rpc error with data", false, rpc_error_with_data, NULL, NULL, NULL},
                {"rpc error", false, rpc_error, NULL, NULL, NULL},
                {"rpc notification", false, rpc_notification, NULL, NULL, NULL},
                {"tools/list", false, tool_list, NULL, NULL, NULL},
                {"tools/list (three tools allowed)", false, tool_list, NULL, strict, NULL},
                {"tool result", false, tool_result, NULL,
                 "{\"process_id\":\"p1\",\"state\":\"running\",\"refused\":[{\"syscall\":\"ptrace\"}]}",
                 NULL},
                {"exec result", false, exec_json, NULL, &test_exec, NULL},
                {"exec result (killed)", false, exec_json, NULL, &test_killed, NULL},
                {"exec text", false, NULL, exec_text, &test_exec, NULL},
                {"exec text (killed)", false, NULL, exec_text, &test_killed, NULL},
                {"process_list text", false, NULL, result_text, &texts[0], NULL},
                {"process_output text", false, NULL, result_text, &texts[1], NULL},
                {"repl text", false, NULL, result_text, &texts[2], NULL},
                {"read_file text", false, NULL, files_text, &texts[3], NULL},
                {"grep text", false, NULL, files_text, &texts[4], NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                assert_non_null(texts[i].sc);
        check_whole(cases, ELEMENTSOF(cases));
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                cJSON_Delete(texts[i].sc);
        brig_policy_free(strict);
        cJSON_Delete(test_id);
}

static const struct ucred test_peer = {.pid = 4321, .uid = 1000, .gid = 1000};
static const brig_audit_call test_call = {
        .connection = 3, .call_id = 9, .environment = "env-a", .tool = "exec"};

static cJSON *ev_worker_start(const void *arg) {
        (void) arg;
        return brig_audit_worker_start(77, "1.2.3", "default", 2, "/run/brig.sock", 65534);
}

static cJSON *ev_connection(const void *arg) {
        (void) arg;
        return brig_audit_connection_open(3, &test_peer);
}

static cJSON *ev_initialize(const void *arg) {
        (void) arg;
        return brig_audit_initialize(3, "env-a", "default", "2025-06-18");
}

/* The arguments are made here; once they are, they are brig_audit_call_start()'s to free. */
static cJSON *ev_call_start(const void *arg) {
        cJSON *args = cJSON_Parse("{\"command\":\"make -j2\",\"timeout_ms\":1000}");
        (void) arg;
        return args ? brig_audit_call_start(&test_call, args, &test_peer) : NULL;
}

/* call_end with every optional part: a command's end (its error too), a process, a snapshot. */
static cJSON *ev_call_end(const void *arg) {
        cJSON *ev = brig_audit_call_end(&test_call, true, false, "src/a.c", 120);
        brig_audit_call_end_exec(ev, arg, true);
        brig_audit_call_end_process(ev, "p2");
        brig_audit_call_end_snapshot(ev, "3f2a");
        return ev;
}

static cJSON *ev_environment(const void *arg) {
        cJSON *ev = brig_audit_environment(BRIG_AUDIT_ENVIRONMENT_STOP, "env-a", "default", 1000, 42);
        (void) arg;
        brig_audit_set_error(ev, "init exited");
        return ev;
}

static cJSON *ev_policy_reload(const void *arg) {
        cJSON *ev = brig_audit_policy_reload();
        (void) arg;
        brig_audit_policy_reload_result(ev, true, NULL, "default");
        return ev;
}

static cJSON *ev_syscall_denied(const void *arg) {
        static const brig_seccomp_denial den = {.pid = 12,
                                                .nr = 101,
                                                .arch = 0xc000003e,
                                                .abi = "x86_64",
                                                .syscall = "ptrace",
                                                .args = {1, 2}};
        (void) arg;
        return brig_audit_syscall_denied(&den, "env-a", 9, "p2");
}

static cJSON *ev_net_connect(const void *arg) {
        static const brig_audit_net net = {.host = "example.org",
                                           .port = 443,
                                           .address = "93.184.215.14",
                                           .tunnel = true,
                                           .allowed = false,
                                           .reason = "not in network.allow",
                                           .error = "refused",
                                           .bytes_up = 10,
                                           .environment = "env-a",
                                           .call_id = 9,
                                           .process_id = "p2"};
        (void) arg;
        return brig_audit_net_connect(&net);
}

static cJSON *ev_snapshot(const void *arg) {
        (void) arg;
        return brig_audit_snapshot("env-a", "9", "write_file", "3f2a", NULL);
}

static cJSON *ev_process_exit(const void *arg) {
        return brig_audit_process_exit("env-a", "p2", arg, 4096);
}

static void test_alloc_failure__audit_events(void **state) {
        whole_case cases[] = {
                {"worker_start", true, ev_worker_start, NULL, NULL, NULL},
                {"connection_open", true, ev_connection, NULL, NULL, NULL},
                {"initialize", true, ev_initialize, NULL, NULL, NULL},
                {"call_start", true, ev_call_start, NULL, NULL, NULL},
                {"call_end", true, ev_call_end, NULL, &test_killed, NULL},
                {"environment_stop", true, ev_environment, NULL, NULL, NULL},
                {"policy_reload", true, ev_policy_reload, NULL, NULL, NULL},
                {"syscall_denied", true, ev_syscall_denied, NULL, NULL, NULL},
                {"net_connect", true, ev_net_connect, NULL, NULL, NULL},
                {"snapshot", true, ev_snapshot, NULL, NULL, NULL},
                {"process_exit", true, ev_process_exit, NULL, &test_exec, NULL},
        };
        (void) state;
        check_whole(cases, ELEMENTSOF(cases));
}

/* An event written to a trail: each line whole, or an error (the trail's own buffers included). */
static int audit_emit_op(void *userdata, brig_error *err, bool *ret_result) {
        int r = brig_audit_emit(userdata, ev_call_end(&test_exec), err);
        *ret_result = r >= 0;
        return r;
}

static void test_alloc_failure__audit_trail(void **state) {
        char top[] = "/tmp/brig-failalloc-XXXXXX", path[64];
        brig_error err = BRIG_ERROR_INIT;
        brig_audit *a = NULL;

        (void) state;
        assert_non_null(mkdtemp(top));
        (void) snprintf(path, sizeof(path), "%s/audit.log", top);
        assert_int_equal(brig_audit_open(path, &a, &err), 0);
        assert_true(fail_each("audit emit", audit_emit_op, a, true) > 0);
        brig_audit_free(a);
        remove_tree(top);
}

/* The policy directory as brigd loads it: every policy or an error, never one quietly left out. */
typedef struct policies_case {
        const char *dir;
        size_t n; /* policies it holds */
} policies_case;

static int policies_op(void *userdata, brig_error *err, bool *ret_result) {
        const policies_case *c = userdata;
        brig_policies set;
        size_t n = 0;

        int r = brig_policies_init(&set, c->dir, err);
        for (const brig_policy_entry *e = set.entries; e; e = e->next)
                n++;
        brig_policies_done(&set);
        if (r >= 0 && n != c->n)
                fail_msg("policy directory: %zu policies loaded, not %zu", n, c->n);
        *ret_result = r >= 0;
        return r;
}

static void test_alloc_failure__policy_directory(void **state) {
        char top[] = "/tmp/brig-failalloc-XXXXXX", path[64];
        policies_case c = {.dir = top, .n = 2};

        (void) state;
        assert_int_equal(setenv("EDITOR", "vi", 1), 0); /* for env.pass */
        assert_non_null(mkdtemp(top));
        (void) snprintf(path, sizeof(path), "%s/small.json", top);
        put(path, "{\"name\": \"small\", \"env\": {\"pass\": [\"EDITOR\", \"TERM_PROGRAM\"]}}\n");
        (void) snprintf(path, sizeof(path), "%s/tools.json", top);
        put(path, "{\"name\": \"tools\", \"tools\": {\"allow\": [\"read_file\"]}}\n");
        assert_true(fail_each("policy directory", policies_op, &c, true) > 0);
        remove_tree(top);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alloc_failure__policy_parser),
                cmocka_unit_test(test_alloc_failure__file_tools),
                cmocka_unit_test(test_alloc_failure__history),
                cmocka_unit_test(test_alloc_failure__plan_and_exec_args),
                cmocka_unit_test(test_alloc_failure__process_tools),
                cmocka_unit_test(test_alloc_failure__rpc_parser),
                cmocka_unit_test(test_alloc_failure__responses_and_tool_results),
                cmocka_unit_test(test_alloc_failure__audit_events),
                cmocka_unit_test(test_alloc_failure__audit_trail),
                cmocka_unit_test(test_alloc_failure__policy_directory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
