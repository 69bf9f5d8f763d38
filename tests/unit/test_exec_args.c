/* SPDX-License-Identifier: MIT */
/* Unit tests for the exec tool's contract (tools/exec_args.c and the result renderers in tools/exec.c):
 * argument validation with exact error text, the published schemas, and structured/text results. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json_frame.h"
#include "common/json.h"
#include "common/signal_name.h"
#include "common/text.h"
#include "tools/exec.h"
#include "tools/registry.h"

/* Test JSON is written with single quotes for readability; this turns them into double quotes. */
static char *dq(const char *s) {
        char *d = strdup(s);
        assert_non_null(d);
        for (char *c = d; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return d;
}

static cJSON *json(const char *s) {
        _cleanup_free_ char *text = dq(s);
        cJSON *o = cJSON_Parse(text);
        assert_non_null(o);
        return o;
}

static void parse_ok(const char *args, brig_exec_args *a) {
        _cleanup_json_ cJSON *o = json(args);
        brig_error err = BRIG_ERROR_INIT;
        int r = brig_exec_args_parse(o, a, &err);

        if (r < 0)
                print_error("unexpected failure: %s\n", err.msg);
        assert_int_equal(r, 0);
}

/* Expects failure with code want and exactly the message msg. */
static void parse_fails(const char *args, int want, const char *msg) {
        _cleanup_json_ cJSON *o = json(args);
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args a;

        memset(&a, 0x5a, sizeof(a));
        assert_int_equal(brig_exec_args_parse(o, &a, &err), want);
        assert_int_equal(err.code, want);
        assert_string_equal(err.msg, msg);
}

static void test_exec_args__command_runs_through_sh(void **state) {
        brig_exec_args a;

        (void) state;
        parse_ok("{'command': 'echo hi | wc -c'}", &a);
        assert_non_null(a.argv);
        assert_string_equal(a.argv[0], "/bin/sh");
        assert_string_equal(a.argv[1], "-c");
        assert_string_equal(a.argv[2], "echo hi | wc -c");
        assert_null(a.argv[3]);
        assert_null(a.env);
        assert_null(a.cwd);
        assert_false(a.has_stdin);
        assert_null(a.stdin_data);
        assert_int_equal(a.timeout_ms, 0);
        brig_exec_args_done(&a);
        assert_null(a.argv);
}

static void test_exec_args__argv_is_taken_verbatim(void **state) {
        brig_exec_args a;

        (void) state;
        parse_ok("{'argv': ['/usr/bin/env', '-i', '', 'a b']}", &a);
        assert_string_equal(a.argv[0], "/usr/bin/env");
        assert_string_equal(a.argv[1], "-i");
        assert_string_equal(a.argv[2], "");
        assert_string_equal(a.argv[3], "a b");
        assert_null(a.argv[4]);
        brig_exec_args_done(&a);
}

static void test_exec_args__exactly_one_of_command_and_argv(void **state) {
        static const char msg[] = "arguments: exactly one of \"command\" and \"argv\" is required";

        (void) state;
        parse_fails("{'command': 'ls', 'argv': ['ls']}", -EINVAL, msg);
        parse_fails("{}", -EINVAL, msg);
        parse_fails("{'cwd': 'a'}", -EINVAL, msg);
}

static void test_exec_args__command_and_argv_must_name_something(void **state) {
        (void) state;
        parse_fails("{'command': ''}", -EINVAL, "arguments.command: must not be empty");
        parse_fails("{'argv': []}", -EINVAL, "arguments.argv: must name a program");
        parse_fails("{'argv': ['']}", -EINVAL, "arguments.argv: must name a program");
        parse_fails("{'argv': 'ls'}", -EINVAL, "arguments.argv: expected an array, got string");
        parse_fails("{'argv': ['ls', 1]}", -EINVAL, "arguments.argv[1]: expected a string, got number");
        parse_fails("{'command': ['ls']}", -EINVAL, "arguments.command: expected a string, got array");
}

static void test_exec_args__unknown_field_is_named(void **state) {
        (void) state;
        parse_fails("{'command': 'ls', 'foo': 1}", -EINVAL, "arguments.foo: unknown field");
        parse_fails("{'foo': 1}", -EINVAL, "arguments.foo: unknown field");
        parse_fails("{'command': 'ls', 'Command': 'x'}", -EINVAL, "arguments.Command: unknown field");
}

static void test_exec_args__arguments_must_be_an_object(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args a;

        (void) state;
        parse_fails("['ls']", -EINVAL, "arguments: expected an object, got array");
        parse_fails("'ls'", -EINVAL, "arguments: expected an object, got string");
        parse_fails("null", -EINVAL, "arguments: expected an object, got null");
        assert_int_equal(brig_exec_args_parse(NULL, &a, &err), -EINVAL);
        assert_string_equal(err.msg, "arguments: expected an object, got nothing");
}

static void test_exec_args__cwd_is_validated(void **state) {
        brig_exec_args a;

        (void) state;
        parse_ok("{'command': 'ls', 'cwd': 'src/lib'}", &a);
        assert_string_equal(a.cwd, "src/lib");
        brig_exec_args_done(&a);
        parse_ok("{'command': 'ls', 'cwd': ''}", &a);
        assert_null(a.cwd);
        brig_exec_args_done(&a);

        parse_fails("{'command': 'ls', 'cwd': '/etc'}", -EINVAL,
                    "arguments.cwd: must be relative to the workspace, got \"/etc\"");
        parse_fails("{'command': 'ls', 'cwd': '../x'}", -EINVAL,
                    "arguments.cwd: must not contain empty, \".\" or \"..\" components, got \"../x\"");
        parse_fails("{'command': 'ls', 'cwd': 'a//b'}", -EINVAL,
                    "arguments.cwd: must not contain empty, \".\" or \"..\" components, got \"a//b\"");
        parse_fails("{'command': 'ls', 'cwd': 3}", -EINVAL, "arguments.cwd: expected a string, got number");
}

static size_t strv_len(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static void test_exec_args__env_becomes_name_value(void **state) {
        brig_exec_args a;

        (void) state;
        parse_ok("{'argv': ['env'], 'env': {'A': '1', 'B_2': 'x=y', 'EMPTY': ''}}", &a);
        assert_int_equal(strv_len(a.env), 3);
        assert_string_equal(a.env[0], "A=1");
        assert_string_equal(a.env[1], "B_2=x=y");
        assert_string_equal(a.env[2], "EMPTY=");
        brig_exec_args_done(&a);

        /* The form the schema publishes (closed, so strict-mode clients can send it). */
        parse_ok("{'argv': ['env'], 'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': 'x=y'}]}",
                 &a);
        assert_int_equal(strv_len(a.env), 2);
        assert_string_equal(a.env[0], "A=1");
        assert_string_equal(a.env[1], "B=x=y");
        brig_exec_args_done(&a);

        parse_ok("{'argv': ['env'], 'env': {}}", &a);
        assert_non_null(a.env);
        assert_null(a.env[0]);
        brig_exec_args_done(&a);
}

static void test_exec_args__env_rejects_bad_entries(void **state) {
        (void) state;
        parse_fails("{'argv': ['env'], 'env': {'A': 1}}", -EINVAL,
                    "arguments.env.A: expected a string, got number");
        parse_fails("{'argv': ['env'], 'env': {'A': null}}", -EINVAL,
                    "arguments.env.A: expected a string, got null");
        parse_fails("{'argv': ['env'], 'env': {'A=B': 'x'}}", -EINVAL,
                    "arguments.env: invalid variable name \"A=B\"");
        parse_fails("{'argv': ['env'], 'env': {'': 'x'}}", -EINVAL,
                    "arguments.env: invalid variable name \"\"");
        parse_fails("{'argv': ['env'], 'env': ['A=1']}", -EINVAL,
                    "arguments.env[0]: expected an object {name, value}, got string");
        parse_fails("{'argv': ['env'], 'env': 'A=1'}", -EINVAL,
                    "arguments.env: expected an array of {name, value}, got string");
        parse_fails("{'argv': ['env'], 'env': [{'name': 'A'}]}", -EINVAL,
                    "arguments.env[0]: missing required field \"value\"");
        parse_fails("{'argv': ['env'], 'env': [{'name': 'A', 'value': 1}]}", -EINVAL,
                    "arguments.env[0].value: expected a string, got number");
        parse_fails("{'argv': ['env'], 'env': [{'name': 'A', 'value': '1', 'x': 1}]}", -EINVAL,
                    "arguments.env[0].x: unknown field");
        parse_fails("{'argv': ['env'], 'env': [{'name': 'A=B', 'value': '1'}]}", -EINVAL,
                    "arguments.env: invalid variable name \"A=B\"");
        /* A later bad entry after good ones: nothing leaks (checked under ASan). */
        parse_fails("{'argv': ['env'], 'env': {'A': '1', 'B': '2', 'C': false}}", -EINVAL,
                    "arguments.env.C: expected a string, got boolean");
}

static void test_exec_args__env_count_is_bounded(void **state) {
        _cleanup_json_ cJSON *o = json("{'argv': ['env']}");
        cJSON *env = cJSON_AddObjectToObject(o, "env");
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args a;
        char name[32];

        (void) state;
        assert_non_null(env);
        for (int i = 0; i <= BRIG_PLAN_MAX_ENV; i++) {
                (void) snprintf(name, sizeof(name), "V%d", i);
                assert_non_null(cJSON_AddStringToObject(env, name, "x"));
        }
        assert_int_equal(brig_exec_args_parse(o, &a, &err), -E2BIG);
        assert_string_equal(err.msg, "arguments.env: more than 512 variables");
        cJSON_DeleteItemFromObject(env, "V0");
        assert_int_equal(brig_exec_args_parse(o, &a, &err), 0);
        assert_int_equal(strv_len(a.env), BRIG_PLAN_MAX_ENV);
        brig_exec_args_done(&a);
}

static void test_exec_args__stdin_is_kept_with_length(void **state) {
        brig_exec_args a;

        (void) state;
        parse_ok("{'command': 'cat', 'stdin': 'line 1\\nline 2\\n\\u00e9'}", &a);
        assert_true(a.has_stdin);
        assert_int_equal(a.stdin_len, strlen("line 1\nline 2\n\xc3\xa9"));
        assert_memory_equal(a.stdin_data, "line 1\nline 2\n\xc3\xa9", a.stdin_len);
        brig_exec_args_done(&a);

        /* Empty stdin is still stdin: the command sees EOF, not an inherited descriptor. */
        parse_ok("{'command': 'cat', 'stdin': ''}", &a);
        assert_true(a.has_stdin);
        assert_int_equal(a.stdin_len, 0);
        brig_exec_args_done(&a);

        parse_fails("{'command': 'cat', 'stdin': 5}", -EINVAL,
                    "arguments.stdin: expected a string, got number");
}

static void test_exec_args__timeout_bounds(void **state) {
        brig_exec_args a;
        char args[128];

        (void) state;
        parse_ok("{'command': 'ls', 'timeout_ms': 1}", &a);
        assert_int_equal(a.timeout_ms, 1);
        brig_exec_args_done(&a);
        (void) snprintf(args, sizeof(args), "{'command': 'ls', 'timeout_ms': %llu}",
                        BRIG_EXEC_MAX_TIMEOUT_MS);
        parse_ok(args, &a);
        assert_int_equal(a.timeout_ms, BRIG_EXEC_MAX_TIMEOUT_MS);
        brig_exec_args_done(&a);

        parse_fails("{'command': 'ls', 'timeout_ms': 0}", -EINVAL,
                    "arguments.timeout_ms: must be at least 1");
        (void) snprintf(args, sizeof(args), "{'command': 'ls', 'timeout_ms': %llu}",
                        BRIG_EXEC_MAX_TIMEOUT_MS + 1);
        parse_fails(args, -EINVAL, "arguments.timeout_ms: expected an integer from 0 to 86400000");
        parse_fails("{'command': 'ls', 'timeout_ms': 1.5}", -EINVAL,
                    "arguments.timeout_ms: expected an integer from 0 to 86400000");
        parse_fails("{'command': 'ls', 'timeout_ms': -1}", -EINVAL,
                    "arguments.timeout_ms: expected an integer from 0 to 86400000");
        parse_fails("{'command': 'ls', 'timeout_ms': '100'}", -EINVAL,
                    "arguments.timeout_ms: expected an integer from 0 to 86400000");
}

static void test_exec_args__command_length_is_bounded(void **state) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *big = malloc(BRIG_PLAN_MAX_ARG_BYTES + 2);
        brig_error err = BRIG_ERROR_INIT;
        brig_exec_args a;

        (void) state;
        assert_non_null(o);
        assert_non_null(big);
        memset(big, 'x', BRIG_PLAN_MAX_ARG_BYTES + 1);
        big[BRIG_PLAN_MAX_ARG_BYTES + 1] = 0;
        assert_non_null(cJSON_AddStringToObject(o, "command", big));
        assert_int_equal(brig_exec_args_parse(o, &a, &err), -E2BIG);
        assert_string_equal(err.msg, "arguments.command: longer than 131072 bytes");
}

static void test_exec_args__schemas_parse(void **state) {
        _cleanup_json_ cJSON *in = cJSON_Parse(brig_tool_find("exec")->input_schema);
        _cleanup_json_ cJSON *out = cJSON_Parse(brig_tool_find("exec")->output_schema);
        static const char *const required[] = {"exit_code", "signal",    "stdout",     "stderr",
                                               "truncated", "timed_out", "duration_ms"};
        const cJSON *req, *it;

        (void) state;
        assert_non_null(in);
        assert_non_null(out);
        assert_string_equal(cJSON_GetObjectItem(in, "type")->valuestring, "object");
        /* Every field the parser accepts is published, and nothing more. */
        static const char *const fields[] = {"command", "argv",       "cwd",       "env",
                                             "stdin",   "timeout_ms", "background"};
        const cJSON *props = cJSON_GetObjectItem(in, "properties");
        assert_int_equal(cJSON_GetArraySize(props), ELEMENTSOF(fields));
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                assert_non_null(cJSON_GetObjectItemCaseSensitive(props, fields[i]));
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(in, "additionalProperties")));

        /* A foreground result's members (the first alternative; a background start and a failed call are
         * the others). */
        req = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "anyOf"), 0), "required");
        assert_true(cJSON_IsArray(req));
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                bool found = false;
                cJSON_ArrayForEach (it, req)
                        if (cJSON_IsString(it) && strcmp(it->valuestring, required[i]) == 0)
                                found = true;
                if (!found)
                        print_error("output schema does not require '%s'\n", required[i]);
                assert_true(found);
                /* and each required field is described. */
                assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(out, "properties"),
                                                                 required[i]));
        }
}

static void test_exec_args__result_json_base64_for_binary_stdout(void **state) {
        static const char bin[] = {'a', (char) 0xff, 0, 'b', (char) 0xc3};
        brig_buf out = {0}, err = {0};
        brig_exec_result res = {.exited = true, .exit_code = 3, .out = &out, .err = &err, .duration_ms = 17};
        _cleanup_json_ cJSON *o = NULL;
        _cleanup_free_ unsigned char *dec = NULL;
        size_t n = 0;

        (void) state;
        assert_int_equal(brig_buf_append(&out, bin, sizeof(bin)), (int) sizeof(bin));
        assert_true(brig_buf_append(&err, "warn\n", 5) == 5);
        res.stdout_bytes = sizeof(bin);
        res.stderr_bytes = 5;
        o = brig_exec_result_to_json(&res);
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItem(o, "stdout_encoding")->valuestring, "base64");
        const char *b64 = cJSON_GetObjectItem(o, "stdout")->valuestring;
        assert_string_equal(b64, "Yf8AYsM=");
        assert_int_equal(brig_base64_decode(b64, strlen(b64), &dec, &n), (int) sizeof(bin));
        assert_memory_equal(dec, bin, sizeof(bin));
        /* stderr is text and stays text. */
        assert_string_equal(cJSON_GetObjectItem(o, "stderr_encoding")->valuestring, "utf8");
        assert_string_equal(cJSON_GetObjectItem(o, "stderr")->valuestring, "warn\n");
        assert_int_equal(cJSON_GetObjectItem(o, "exit_code")->valueint, 3);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "signal")));
        assert_int_equal(cJSON_GetObjectItem(o, "stdout_bytes")->valueint, 5);
        assert_int_equal(cJSON_GetObjectItem(o, "duration_ms")->valueint, 17);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "truncated")));
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "timed_out")));
        assert_null(cJSON_GetObjectItem(o, "error"));
        brig_buf_done(&out);
        brig_buf_done(&err);
}

/* Taking the output into the result gives the same JSON on the wire as copying it, text and binary alike
 * (encoded from the output's own allocation as the frame is written), and leaves the buffers empty. */
static void test_exec_args__result_take_json_equals_copy(void **state) {
        static const char bin[] = {'a', (char) 0xff, 0, 'b', (char) 0xc3};
        brig_buf out = {0}, err = {0};
        brig_exec_result res = {.exited = true,
                                .out = &out,
                                .err = &err,
                                .out_kind = BRIG_OUTPUT_BINARY,
                                .err_kind = BRIG_OUTPUT_TEXT};

        (void) state;
        for (int i = 0; i < 5000; i++)
                assert_int_equal(brig_buf_append(&out, bin, sizeof(bin)), (int) sizeof(bin));
        assert_true(brig_buf_append(&err, "caf\xc3\xa9 \"quoted\"\n", 15) == 15);
        _cleanup_json_ cJSON *copy = brig_exec_result_to_json(&res);
        _cleanup_free_ char *want = cJSON_PrintUnformatted(copy);
        assert_non_null(out.data);
        cJSON *taken = brig_exec_result_take_json(&res);
        assert_non_null(taken);
        assert_null(out.data);
        assert_int_equal(out.len, 0);
        assert_null(err.data);
        assert_string_equal(cJSON_GetObjectItem(taken, "stderr")->valuestring, "caf\xc3\xa9 \"quoted\"\n");
        /* Encoded as the frame is written, in parts that split base64 groups and escapes alike. */
        brig_json_frame f = {0};
        assert_int_equal(brig_json_frame_print(taken, &f), 0);
        assert_int_equal(f.total, strlen(want) + 1);
        for (size_t cap = 8; cap < 40; cap++) {
                _cleanup_free_ char *got = brig_json_frame_join(&f, cap);
                assert_non_null(got);
                assert_int_equal(got[f.total - 1], '\n');
                got[f.total - 1] = 0;
                assert_string_equal(got, want);
        }
        brig_json_frame_done(&f);
}

static void test_exec_args__result_json_killed_has_null_exit_code(void **state) {
        brig_buf out = {0}, err = {0};
        brig_exec_result res = {
                .exited = false, .signal = SIGKILL, .timed_out = true, .out = &out, .err = &err};
        _cleanup_json_ cJSON *o = brig_exec_result_to_json(&res);
        _cleanup_json_ cJSON *schema = cJSON_Parse(brig_tool_find("exec")->output_schema);
        const cJSON *it;

        (void) state;
        assert_non_null(o);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "exit_code")));
        assert_string_equal(cJSON_GetObjectItem(o, "signal")->valuestring, "SIGKILL");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "timed_out")));
        /* Empty output is the empty string, as text. */
        assert_string_equal(cJSON_GetObjectItem(o, "stdout")->valuestring, "");
        assert_string_equal(cJSON_GetObjectItem(o, "stdout_encoding")->valuestring, "utf8");
        /* Every field the schema requires is there. */
        cJSON_ArrayForEach (
                it,
                cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(schema, "anyOf"), 0), "required"))
                assert_non_null(cJSON_GetObjectItemCaseSensitive(o, it->valuestring));
}

static void test_exec_args__result_json_carries_error(void **state) {
        brig_buf out = {0}, err = {0};
        brig_exec_result res = {.out = &out, .err = &err};
        _cleanup_json_ cJSON *o = NULL;

        (void) state;
        (void) brig_error_set(&res.error, -ENOENT, BRIG_KIND_SANDBOX, "execve '/nope': no such file");
        o = brig_exec_result_to_json(&res);
        assert_non_null(o);
        const cJSON *e = cJSON_GetObjectItem(o, "error");
        assert_non_null(e);
        assert_string_equal(cJSON_GetObjectItem(e, "kind")->valuestring, brig_kind_name(BRIG_KIND_SANDBOX));
        assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "execve '/nope': no such file");
}

static void test_exec_args__signal_names(void **state) {
        char buf[16];

        (void) state;
        assert_string_equal(brig_signal_name(SIGKILL, buf), "SIGKILL");
        assert_string_equal(brig_signal_name(SIGSEGV, buf), "SIGSEGV");
        assert_string_equal(brig_signal_name(SIGTERM, buf), "SIGTERM");
        /* Unnamed numbers still render. */
        assert_string_equal(brig_signal_name(200, buf), "SIG200");
}

static void test_exec_args__result_text(void **state) {
        brig_buf out = {0}, err = {0};
        brig_exec_result res = {.exited = true, .exit_code = 0, .out = &out, .err = &err};
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;

        (void) state;
        assert_true(brig_buf_append(&out, "hello\n", 6) == 6);
        t1 = brig_exec_result_to_text(&res);
        assert_non_null(t1);
        assert_non_null(strstr(t1, "hello\n"));
        assert_non_null(strstr(t1, "[exit code 0]"));
        assert_null(strstr(t1, "truncated"));

        res.truncated = true;
        res.stdout_bytes = 5000;
        t2 = brig_exec_result_to_text(&res);
        assert_non_null(t2);
        assert_non_null(strstr(t2, "[output truncated: 5000 bytes produced, the policy keeps 6]"));

        res.truncated = false;
        res.exited = false;
        res.signal = SIGKILL;
        assert_true(brig_buf_append(&err, "\xff\xfe", 2) == 2);
        t3 = brig_exec_result_to_text(&res);
        assert_non_null(t3);
        assert_non_null(strstr(t3, "[killed by SIGKILL]"));
        assert_non_null(strstr(t3, "[stderr]\n[2 bytes of binary output, base64 in stderr]"));

        res.timed_out = true;
        res.duration_ms = 1000;
        t4 = brig_exec_result_to_text(&res);
        assert_non_null(t4);
        assert_non_null(strstr(t4, "[timed out after 1000 ms]"));
        brig_buf_done(&out);
        brig_buf_done(&err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec_args__command_runs_through_sh),
                cmocka_unit_test(test_exec_args__argv_is_taken_verbatim),
                cmocka_unit_test(test_exec_args__exactly_one_of_command_and_argv),
                cmocka_unit_test(test_exec_args__command_and_argv_must_name_something),
                cmocka_unit_test(test_exec_args__unknown_field_is_named),
                cmocka_unit_test(test_exec_args__arguments_must_be_an_object),
                cmocka_unit_test(test_exec_args__cwd_is_validated),
                cmocka_unit_test(test_exec_args__env_becomes_name_value),
                cmocka_unit_test(test_exec_args__env_rejects_bad_entries),
                cmocka_unit_test(test_exec_args__env_count_is_bounded),
                cmocka_unit_test(test_exec_args__stdin_is_kept_with_length),
                cmocka_unit_test(test_exec_args__timeout_bounds),
                cmocka_unit_test(test_exec_args__command_length_is_bounded),
                cmocka_unit_test(test_exec_args__schemas_parse),
                cmocka_unit_test(test_exec_args__result_json_base64_for_binary_stdout),
                cmocka_unit_test(test_exec_args__result_take_json_equals_copy),
                cmocka_unit_test(test_exec_args__result_json_killed_has_null_exit_code),
                cmocka_unit_test(test_exec_args__result_json_carries_error),
                cmocka_unit_test(test_exec_args__signal_names),
                cmocka_unit_test(test_exec_args__result_text),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
