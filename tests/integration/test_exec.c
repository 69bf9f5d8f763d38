/* SPDX-License-Identifier: MIT */
/* The exec tool and the MCP protocol against a real brigd over its real socket: output, exit codes,
 * streaming, timeout, cancellation and disconnection (checked from the host's /proc), malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/text.h"
#include "sandbox/policy.h"
#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;

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

/* A connection past initialize, whose _meta is meta (NULL for none). */
static int open_session_with(const char *meta) {
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        int fd = client_connect(&d);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

static int open_session(void) {
        return open_session_with(NULL);
}

/* Waits for a condition on host processes, bounded; returns the last count seen. */
static int wait_for_count(const char *needle, int want) {
        int n = -1;
        for (int i = 0; i < 500; i++) {
                n = count_processes(needle);
                if (n == want)
                        break;
                usleep(10000);
        }
        return n;
}

static void test_exec__prints_python_output(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 1, "{\"command\":\"python3 -c 'print(6*7)'\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), "42\n");
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_false(result_is_error(r));
        cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "content");
        assert_true(cJSON_IsArray(content));
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "type")->valuestring,
                            "text");
        cJSON_Delete(r);
        close(fd);
}

static void test_exec__reports_exit_code_and_stderr(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 2, "{\"argv\":[\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]}", NULL,
                               NULL);
        assert_non_null(r);
        assert_int_equal(sc_int(r, "exit_code"), 3);
        assert_string_equal(sc_str(r, "stdout"), "out\n");
        assert_string_equal(sc_str(r, "stderr"), "err\n");
        assert_true(result_is_error(r));
        cJSON_Delete(r);
        close(fd);
}

static void test_exec__passes_stdin_env_and_cwd(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 3, "{\"command\":\"mkdir -p sub && cd sub && pwd\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        r = client_call(fd, 4,
                        "{\"command\":\"pwd; cat; echo $GREETING\",\"cwd\":\"sub\",\"stdin\":\"piped\\n\","
                        "\"env\":{\"GREETING\":\"hello\"}}",
                        NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout"), "/workspace/sub\npiped\nhello\n");
        cJSON_Delete(r);
        close(fd);
}

/* A plan too long to travel inline in the RUN message (BRIG_JAILCTL_PLAN_INLINE_MAX) goes in a memfd, and
 * the command runs all the same; short ones (every other test) go inline. */
static void test_exec__a_long_plan_goes_in_a_memfd(void **state) {
        (void) state;
        enum { LEN = 20000 };
        static char args[LEN + 128];
        int fd = open_session();
        int n = snprintf(args, sizeof(args), "{\"command\":\"echo ${#BIG}\",\"env\":{\"BIG\":\"");
        memset(args + n, 'b', LEN);
        snprintf(args + n + LEN, sizeof(args) - (size_t) n - LEN, "\"}}");
        cJSON *r = client_call(fd, 30, args, NULL, NULL);
        assert_non_null(r);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), "20000\n");
        cJSON_Delete(r);
        close(fd);
}

static void test_exec__binary_output_is_base64(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 5, "{\"command\":\"printf '\\\\377\\\\376'\"}", NULL, NULL);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "stdout_encoding"), "base64");
        assert_string_equal(sc_str(r, "stdout"), "//4=");
        cJSON_Delete(r);
        close(fd);
}

static void test_exec__streams_progress_and_brig_output(void **state) {
        (void) state;
        int fd = open_session_with("{\"brig/output\":true}");
        cJSON *notes = NULL;
        cJSON *r = client_call(fd, 6, "{\"command\":\"for i in 1 2 3; do echo line$i; sleep 0.1; done\"}",
                               "{\"progressToken\":\"tok-1\"}", &notes);
        assert_non_null(r);
        assert_non_null(notes);
        double last = 0;
        int progress = 0, outputs = 0;
        char joined[256] = "";
        cJSON *n;
        cJSON_ArrayForEach (n, notes) {
                const char *method = cJSON_GetObjectItem(n, "method")->valuestring;
                cJSON *p = cJSON_GetObjectItem(n, "params");
                if (strcmp(method, "notifications/progress") == 0) {
                        assert_string_equal(cJSON_GetObjectItem(p, "progressToken")->valuestring, "tok-1");
                        double v = cJSON_GetObjectItem(p, "progress")->valuedouble;
                        assert_true(v > last);
                        last = v;
                        strncat(joined, cJSON_GetObjectItem(p, "message")->valuestring,
                                sizeof(joined) - strlen(joined) - 1);
                        progress++;
                } else if (strcmp(method, "brig/output") == 0) {
                        assert_int_equal(cJSON_GetObjectItem(p, "requestId")->valueint, 6);
                        assert_string_equal(cJSON_GetObjectItem(p, "stream")->valuestring, "stdout");
                        assert_int_equal(cJSON_GetObjectItem(p, "seq")->valueint, outputs);
                        outputs++;
                }
        }
        assert_true(progress >= 2);
        assert_int_equal(progress, outputs);
        assert_string_equal(joined, "line1\nline2\nline3\n");
        assert_string_equal(sc_str(r, "stdout"), "line1\nline2\nline3\n");
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
}

/* A chunk of escape-heavy text goes as base64 with a character cut at its end; the next chunk then starts
 * inside that character, so it is not UTF-8 alone and goes as base64 too, even though the output so far
 * is (worker/mcp.c trusts tools/exec.c's counts only while every chunk went as text). Whatever each chunk
 * went as, the chunks join to the output. One printf writes the first chunk whole; the pause puts the
 * second in a read of its own, as a rule. */
static void test_exec__streamed_chunks_join_after_a_base64_chunk_cut_a_character(void **state) {
        (void) state;
        int fd = open_session_with("{\"brig/output\":true}");
        cJSON *notes = NULL;
        cJSON *r = client_call(
                fd, 7,
                "{\"command\":\"printf '%s\\\\342' \\\"$(head -c 400 /dev/zero | tr '\\\\0' '\\\\1')\\\";"
                " sleep 0.3; printf '\\\\202\\\\254 end\\\\n'\"}",
                NULL, &notes);
        unsigned char want[512], got[512];
        size_t got_len = 0, base64_chunks = 0;
        cJSON *n;

        assert_non_null(r);
        assert_non_null(notes);
        memset(want, 1, 400);
        memcpy(want + 400, "\342\202\254 end\n", 8);
        cJSON_ArrayForEach (n, notes) {
                cJSON *p = cJSON_GetObjectItem(n, "params");
                const char *data = cJSON_GetObjectItem(p, "data")->valuestring;
                if (cJSON_GetObjectItem(p, "encoding")) {
                        unsigned char *raw = NULL;
                        size_t len = 0;
                        assert_true(brig_base64_decode(data, strlen(data), &raw, &len) >= 0);
                        assert_true(got_len + len <= sizeof(got));
                        memcpy(got + got_len, raw, len);
                        got_len += len;
                        free(raw);
                        base64_chunks++;
                } else {
                        assert_true(brig_utf8_valid(data, strlen(data))); /* a text chunk is UTF-8 alone */
                        assert_true(got_len + strlen(data) <= sizeof(got));
                        memcpy(got + got_len, data, strlen(data));
                        got_len += strlen(data);
                }
        }
        assert_true(base64_chunks >= 1);
        assert_int_equal(got_len, 408);
        assert_memory_equal(got, want, 408);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
}

/* Text cut inside a character: the chunk goes as text without the character's first bytes, which are
 * carried and sent at the start of the next chunk (worker/mcp.c joins them to it). Every chunk is UTF-8
 * alone and goes as text; the chunks join to the output. The pause puts the second part in a read of its
 * own, as a rule (when it does not, the one chunk is the whole output). */
static void test_exec__streamed_text_carries_a_cut_character_to_the_next_chunk(void **state) {
        (void) state;
        int fd = open_session_with("{\"brig/output\":true}");
        cJSON *notes = NULL;
        cJSON *r = client_call(fd, 8,
                               "{\"command\":\"printf 'a\\\\tb\\\\342\\\\202'; sleep 0.3;"
                               " printf '\\\\254 end\\\\n'\"}",
                               "{\"progressToken\":\"tok-8\"}", &notes);
        char got[64] = "", progress[64] = "";
        cJSON *n;

        assert_non_null(r);
        assert_non_null(notes);
        cJSON_ArrayForEach (n, notes) {
                cJSON *p = cJSON_GetObjectItem(n, "params");
                if (cJSON_GetObjectItem(p, "progressToken")) {
                        strncat(progress, cJSON_GetObjectItem(p, "message")->valuestring,
                                sizeof(progress) - strlen(progress) - 1);
                        continue;
                }
                const char *data = cJSON_GetObjectItem(p, "data")->valuestring;
                assert_null(cJSON_GetObjectItem(p, "encoding"));
                assert_true(brig_utf8_valid(data, strlen(data)));
                strncat(got, data, sizeof(got) - strlen(got) - 1);
        }
        assert_string_equal(got, "a\tb\342\202\254 end\n");
        assert_string_equal(progress, got);
        assert_string_equal(sc_str(r, "stdout"), got);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
}

/* A large binary result is encoded as it is written, in parts (worker/conn.c): a result and notifications
 * queued meanwhile wait for it whole, so every line still parses, and the base64 decodes to the output. The
 * client reads nothing until both calls are over, so the large result is still being written when the
 * other one is queued. */
static void test_exec__large_output_written_in_parts_never_interleaves(void **state) {
        (void) state;
        int fd = open_session_with("{\"brig/output\":true}");
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"big\",\"method\":\"tools/call\","
                                         "\"params\":{\"name\":\"exec\",\"arguments\":{\"command\":"
                                         "\"head -c 900000 /dev/zero | tr '\\\\0' '\\\\377'\"}}}"),
                         0);
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"late\",\"method\":\"tools/call\","
                                         "\"params\":{\"name\":\"exec\",\"arguments\":{\"command\":"
                                         "\"sleep 0.5; echo late\"}}}"),
                         0);
        sleep(2);
        int results = 0;
        while (results < 2) {
                cJSON *m = client_recv(fd, 20000);
                assert_non_null(m); /* a line cut by another would not parse */
                cJSON *id = cJSON_GetObjectItem(m, "id");
                if (id) {
                        results++;
                        if (strcmp(id->valuestring, "late") == 0)
                                assert_string_equal(sc_str(m, "stdout"), "late\n");
                        else {
                                const char *out = sc_str(m, "stdout");
                                assert_string_equal(sc_str(m, "stdout_encoding"), "base64");
                                assert_int_equal(strlen(out), 1200000);
                                assert_int_equal(strspn(out, "/"), 1200000);
                        }
                }
                cJSON_Delete(m);
        }
        close(fd);
}

/* A repl call streams its output while the code runs, not all at its end. */
static void test_exec__repl_streams_output_as_it_comes(void **state) {
        (void) state;
        if (skip_why)
                skip();
        int fd = client_connect(&d);
        cJSON_Delete(client_initialize(fd, "{\"brig/output\":true}"));
        cJSON *notes = NULL;
        cJSON *r = client_tool_call(
                fd, 16, "repl",
                "{\"language\":\"python\",\"code\":\"import time\\nprint('first', flush=True)\\n"
                "time.sleep(0.5)\\nprint('second')\"}",
                NULL, &notes);
        assert_non_null(r);
        assert_string_equal(sc_str(r, "output"), "first\nsecond\n");
        char joined[256] = "";
        int outputs = 0;
        bool first_alone = false;
        cJSON *n;
        cJSON_ArrayForEach (n, notes) {
                cJSON *p = cJSON_GetObjectItem(n, "params");
                if (strcmp(cJSON_GetObjectItem(n, "method")->valuestring, "brig/output") != 0)
                        continue;
                const char *data = cJSON_GetObjectItem(p, "data")->valuestring;
                assert_int_equal(cJSON_GetObjectItem(p, "requestId")->valueint, 16);
                /* Python may write the line and its newline apart: the point is that "second" comes later.
                 */
                if (outputs++ == 0)
                        first_alone = strncmp(data, "first", 5) == 0 && !strstr(data, "second");
                strncat(joined, data, sizeof(joined) - strlen(joined) - 1);
        }
        /* The sentinel that ends each request never shows. */
        assert_string_equal(joined, "first\nsecond\n");
        assert_true(first_alone);
        cJSON_Delete(notes);
        cJSON_Delete(r);
        close(fd);
}

static void test_exec__times_out_and_kills(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 7, "{\"argv\":[\"sleep\",\"31337\"],\"timeout_ms\":300}", NULL, NULL);
        assert_non_null(r);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "timed_out")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(result_sc(r), "exit_code")));
        assert_true(result_is_error(r));
        assert_int_equal(wait_for_count("sleep 31337", 0), 0);
        cJSON_Delete(r);
        close(fd);
}

/* A reaper whose command's tree is gone runs the environment's next command (sandbox/spawner.c): the same
 * parent for both, and what brigd asks of the second call (here the kill at its timeout) reaches it there.
 */
static void test_exec__reaper_runs_the_next_command_too(void **state) {
        (void) state;
        int fd = open_session();
        /* The first command of an environment (a lone call) leaves no reaper behind; the next ones do. */
        cJSON_Delete(client_call(fd, 70, "{\"command\":\"true\"}", NULL, NULL));
        cJSON *r = client_call(fd, 71, "{\"command\":\"echo $PPID\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        char *first = strdup(sc_str(r, "stdout"));
        cJSON_Delete(r);
        r = client_call(fd, 72, "{\"command\":\"echo $PPID\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), first);
        cJSON_Delete(r);
        r = client_call(fd, 73, "{\"argv\":[\"sleep\",\"31338\"],\"timeout_ms\":300}", NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "timed_out")));
        assert_int_equal(wait_for_count("sleep 31338", 0), 0);
        cJSON_Delete(r);
        /* The killed reaper is gone; the next command gets a new one. */
        r = client_call(fd, 74, "{\"command\":\"echo $PPID\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_not_equal(sc_str(r, "stdout"), first);
        free(first);
        first = strdup(sc_str(r, "stdout"));
        cJSON_Delete(r);
        /* An idle reaper leaves within 6 s of its last command (3 s, then 3 more from the look that found
         * it idle: docs/protocol.md): an idle environment keeps only its init. */
        usleep(6500 * 1000);
        r = client_call(fd, 75, "{\"command\":\"echo $PPID\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_not_equal(sc_str(r, "stdout"), first);
        cJSON_Delete(r);
        free(first);
        close(fd);
}

/* A command that lowers its reaper's limits (same uid: prlimit is allowed) must not leave them to the next
 * command, which the reaper would otherwise run (sandbox/spawner.c). */
static void test_exec__a_reaper_changed_by_its_command_runs_nothing_else(void **state) {
        (void) state;
        int fd = open_session();
        cJSON_Delete(client_call(fd, 80, "{\"command\":\"true\"}", NULL, NULL));
        cJSON *r = client_call(fd, 81, "{\"command\":\"ulimit -Hn\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        char *hard = strdup(sc_str(r, "stdout"));
        cJSON_Delete(r);
        r = client_call(fd, 82,
                        "{\"argv\":[\"python3\",\"-c\",\"import os, resource; "
                        "resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (64, 64))\"]}",
                        NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        cJSON_Delete(r);
        r = client_call(fd, 83, "{\"command\":\"ulimit -Hn\"}", NULL, NULL);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        assert_string_equal(sc_str(r, "stdout"), hard);
        cJSON_Delete(r);
        free(hard);
        close(fd);
}

/* The text content of a tool result that must be an error (SEP-1303: argument problems are tool results the
 * model reads, not JSON-RPC errors). */
static const char *error_text(const cJSON *r) {
        const cJSON *res = cJSON_GetObjectItem(r, "result");
        assert_null(cJSON_GetObjectItem(r, "error"));
        assert_non_null(res);
        assert_true(result_is_error(r));
        const cJSON *block = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "content"), 0);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(block, "text")));
        return cJSON_GetObjectItem(block, "text")->valuestring;
}

static void test_exec__timeout_above_policy_is_refused(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 8, "{\"command\":\"true\",\"timeout_ms\":86400000}", NULL, NULL);
        assert_non_null(r);
        assert_non_null(strstr(error_text(r), "wall_time"));
        cJSON_Delete(r);
        close(fd);
}

/* Starts a process tree that announces itself, then returns once the announcement arrived. */
static void start_tree(int fd, int id, const char *marker) {
        char args[256];
        snprintf(args, sizeof(args), "{\"command\":\"sleep %s & sleep %s & echo ready; wait\"}", marker,
                 marker);
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":%s,\"_meta\":{\"progressToken\":%d}}}",
                 id, args, id);
        assert_int_equal(client_send(fd, msg), 0);
        cJSON *m = client_recv(fd, 20000);
        assert_non_null(m);
        assert_string_equal(cJSON_GetObjectItem(m, "method")->valuestring, "notifications/progress");
        cJSON_Delete(m);
        char needle[64];
        snprintf(needle, sizeof(needle), "sleep %s", marker);
        assert_true(count_processes(needle) >= 2); /* both sleeps, plus the shell whose line names them */
}

static void test_exec__cancel_kills_whole_tree(void **state) {
        (void) state;
        int fd = open_session();
        start_tree(fd, 9, "42421");
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                                         "\"params\":{\"requestId\":9,\"reason\":\"test\"}}"),
                         0);
        assert_int_equal(wait_for_count("sleep 42421", 0), 0);
        /* No response for a cancelled request; the connection keeps working. */
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}"), 0);
        cJSON *m = client_recv(fd, 10000);
        assert_non_null(m);
        assert_int_equal(cJSON_GetObjectItem(m, "id")->valueint, 10);
        cJSON_Delete(m);
        close(fd);
}

static void test_exec__disconnect_kills_whole_tree(void **state) {
        (void) state;
        int fd = open_session();
        start_tree(fd, 11, "42422");
        close(fd);
        assert_int_equal(wait_for_count("sleep 42422", 0), 0);
}

static void test_exec__concurrent_calls_answer_by_id(void **state) {
        (void) state;
        int fd = open_session();
        assert_int_equal(
                client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"tools/call\",\"params\":"
                                "{\"name\":\"exec\",\"arguments\":{\"command\":\"sleep 0.5; echo slow\"}}}"),
                0);
        assert_int_equal(
                client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"fast\",\"method\":\"tools/call\",\"params\":"
                                "{\"name\":\"exec\",\"arguments\":{\"command\":\"echo fast\"}}}"),
                0);
        cJSON *a = client_recv(fd, 20000), *b = client_recv(fd, 20000);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, "fast");
        assert_string_equal(sc_str(a, "stdout"), "fast\n");
        assert_string_equal(cJSON_GetObjectItem(b, "id")->valuestring, "slow");
        assert_string_equal(sc_str(b, "stdout"), "slow\n");
        cJSON_Delete(a);
        cJSON_Delete(b);
        close(fd);
}

static void expect_error(int fd, const char *send, int code, const char *needle) {
        assert_int_equal(client_send(fd, send), 0);
        cJSON *m = client_recv(fd, 10000);
        assert_non_null(m);
        cJSON *err = cJSON_GetObjectItem(m, "error");
        assert_non_null(err);
        assert_int_equal(cJSON_GetObjectItem(err, "code")->valueint, code);
        if (needle)
                assert_non_null(strstr(cJSON_GetObjectItem(err, "message")->valuestring, needle));
        cJSON_Delete(m);
}

static void test_protocol__malformed_input_keeps_connection(void **state) {
        (void) state;
        int fd = open_session();
        expect_error(fd, "{not json", -32700, NULL);
        expect_error(fd, "[1,2]", -32600, "batch");
        expect_error(fd, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", -32600, "jsonrpc");
        expect_error(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}", -32601, "no/such");
        expect_error(
                fd,
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}",
                -32602, "nope");
        /* Argument problems of a known tool are tool results naming the field (SEP-1303). */
        static const char *const bad_args[][2] = {
                {"{\"command\":\"x\",\"argv\":[\"y\"]}", "exactly one"},
                {"{\"command\":\"x\",\"cwd\":\"../etc\"}", "arguments.cwd: must not contain"},
                {"{\"command\":\"x\",\"colour\":1}", "arguments.colour"},
                {"{\"command\":7}", "arguments.command: expected a string"},
                {"{}", "exactly one"},
        };
        for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
                cJSON *r = client_call(fd, 20 + (int) i, bad_args[i][0], NULL, NULL);
                assert_non_null(r);
                const char *text = error_text(r);
                if (!strstr(text, bad_args[i][1]))
                        fail_msg("%s: text \"%s\" does not name the field", bad_args[i][0], text);
                assert_string_equal(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(result_sc(r), "error"), "kind")->valuestring,
                        "invalid_argument");
                cJSON_Delete(r);
        }
        cJSON *r = client_call(fd, 12, "{\"command\":\"echo still here\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "still here\n");
        cJSON_Delete(r);
        close(fd);
}

static void test_protocol__requires_initialize_first(void **state) {
        (void) state;
        if (skip_why)
                skip();
        int fd = client_connect(&d);
        expect_error(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", -32600, "initialize");
        close(fd);
}

static void test_protocol__negotiates_versions(void **state) {
        (void) state;
        if (skip_why)
                skip();
        static const char *const cases[][2] = {
                {"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"}, {"2025-03-26", "2025-03-26"},
                {"2024-11-05", "2024-11-05"}, {"1999-01-01", "2025-11-25"},
        };
        for (size_t i = 0; i < 5; i++) {
                int fd = client_connect(&d);
                char msg[256];
                snprintf(msg, sizeof(msg),
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                         "\"protocolVersion\":"
                         "\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                         cases[i][0]);
                client_send(fd, msg);
                cJSON *m = client_recv(fd, 10000);
                cJSON *res = cJSON_GetObjectItem(m, "result");
                assert_string_equal(cJSON_GetObjectItem(res, "protocolVersion")->valuestring, cases[i][1]);
                assert_string_equal(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(res, "serverInfo"), "name")->valuestring,
                        "brig");
                const cJSON *env =
                        cJSON_GetObjectItem(cJSON_GetObjectItem(res, "_meta"), "brig/environment");
                assert_true(cJSON_IsString(env));
                assert_memory_equal(env->valuestring, "env-", 4);
                cJSON_Delete(m);
                close(fd);
        }
}

static void test_protocol__tools_list_names_every_tool(void **state) {
        (void) state;
        int fd = open_session();
        client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        cJSON *m = client_recv(fd, 10000);
        cJSON *tools = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "tools");
        /* Every tool a policy can name, once each, with its schema (the default policy allows all). */
        size_t n = 0;
        while (brig_tool_names[n])
                n++;
        assert_int_equal(cJSON_GetArraySize(tools), (int) n);
        for (size_t i = 0; i < n; i++) {
                int seen = 0;
                cJSON *t;
                cJSON_ArrayForEach (t, tools)
                        if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, brig_tool_names[i]) == 0) {
                                seen++;
                                assert_true(cJSON_IsObject(cJSON_GetObjectItem(t, "inputSchema")));
                        }
                if (seen != 1)
                        print_error("tool %s listed %d times\n", brig_tool_names[i], seen);
                assert_int_equal(seen, 1);
        }
        cJSON_Delete(m);
        close(fd);
}

static void test_protocol__oversized_message_closes_only_that_connection(void **state) {
        (void) state;
        int fd = open_session();
        size_t big = 17u * 1024 * 1024;
        char *buf = malloc(big + 1);
        memset(buf, 'x', big);
        buf[big] = 0;
        (void) client_send(fd, buf); /* may fail part-way once the worker hangs up */
        free(buf);
        cJSON *m = client_recv(fd, 10000);
        if (m) {
                assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "error"), "code")->valueint,
                                 -32600);
                cJSON_Delete(m);
        }
        assert_null(client_recv(fd, 10000)); /* closed */
        close(fd);
        int fd2 = open_session();
        cJSON *r = client_call(fd2, 1, "{\"command\":\"echo alive\"}", NULL, NULL);
        assert_string_equal(sc_str(r, "stdout"), "alive\n");
        cJSON_Delete(r);
        close(fd2);
}

static void test_exec__output_is_bounded_and_marked(void **state) {
        (void) state;
        int fd = open_session();
        /* The default policy keeps 1M of output. */
        cJSON *r = client_call(fd, 13, "{\"command\":\"head -c 3000000 /dev/zero | tr '\\\\0' a\"}", NULL,
                               NULL);
        assert_non_null(r);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "truncated")));
        assert_int_equal(strlen(sc_str(r, "stdout")), 1024 * 1024);
        assert_int_equal(sc_int(r, "stdout_bytes"), 3000000);
        assert_int_equal(sc_int(r, "exit_code"), 0);
        const char *text =
                cJSON_GetObjectItem(
                        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "content"),
                                           0),
                        "text")
                        ->valuestring;
        assert_non_null(strstr(text, "truncated"));
        cJSON_Delete(r);
        close(fd);
}

/* Many calls in flight on many connections: every result carries exactly the bytes its command wrote. Half
 * the commands leave a background child holding stdout open, so their call ends by draining the pipe, not
 * by its EOF; under load the loop can reach that point before it has polled the pipe (issue 11). */
#define LOAD_CONNS 24
#define LOAD_CALLS 25

/* brigd's resident set in KiB (-1 when unknown). */
static long brigd_rss_kb(void) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) d.pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static void test_exec__no_output_lost_under_load(void **state) {
        (void) state;
        int fds[LOAD_CONNS];
        int got = 0, lost = 0;

        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        long rss_before = brigd_rss_kb();
        for (int i = 0; i < LOAD_CONNS; i++) {
                fds[i] = open_session();
                for (int j = 0; j < LOAD_CALLS; j++) {
                        char msg[512];
                        snprintf(msg, sizeof(msg),
                                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/"
                                 "call\",\"params\":{\"name\":"
                                 "\"exec\",\"arguments\":{\"command\":\"echo $RANDOM; %secho t%d.%d\"}}}",
                                 j + 1, j % 2 ? "(sleep 2) & " : "", i, j);
                        assert_int_equal(client_send(fds[i], msg), 0);
                }
        }
        for (int i = 0; i < LOAD_CONNS; i++) {
                for (int n = 0; n < LOAD_CALLS; n++) {
                        cJSON *m = client_recv(fds[i], 120000);
                        assert_non_null(m);
                        int id = cJSON_GetObjectItem(m, "id")->valueint;
                        char want[32];
                        snprintf(want, sizeof(want), "t%d.%d\n", i, id - 1);
                        const char *out = sc_str(m, "stdout");
                        const char *nl = out ? strchr(out, '\n') : NULL;
                        if (!nl || strcmp(nl + 1, want) != 0) {
                                fprintf(stderr, "# call %d.%d: stdout %s\n", i, id - 1,
                                        out ? out : "(none)");
                                lost++;
                        }
                        got++;
                        cJSON_Delete(m);
                }
                close(fds[i]);
        }
        assert_int_equal(got, LOAD_CONNS * LOAD_CALLS);
        assert_int_equal(lost, 0);
        /* Memory goes back close to the idle figure once the load is over (issue 11: 440 MB kept after a
         * peak). Waits for it, bounded; what matters is that the peak is not kept. */
        long rss_after = -1;
        for (int i = 0; i < 100; i++) {
                rss_after = brigd_rss_kb();
                if (rss_before <= 0 || rss_after <= rss_before + 6144)
                        break;
                usleep(100000);
        }
        fprintf(stderr, "# brigd RSS before %ld KiB, after %ld KiB\n", rss_before, rss_after);
#ifndef __SANITIZE_ADDRESS__
        /* Under ASan, freed memory waits in its quarantine and the figure says nothing about brigd. */
        if (rss_before > 0)
                assert_true(rss_after <= rss_before + 6144);
#endif
}

static void test_exec__missing_program_is_a_clear_error(void **state) {
        (void) state;
        int fd = open_session();
        cJSON *r = client_call(fd, 14, "{\"argv\":[\"no-such-program\"]}", NULL, NULL);
        assert_true(result_is_error(r));
        const cJSON *e = cJSON_GetObjectItem(result_sc(r), "error");
        assert_non_null(e);
        assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "no-such-program"));
        cJSON_Delete(r);
        close(fd);
}

/* Every tool's real results (success, isError, background start, truncated, timed out) against the schemas
 * tools/list declares, the input schemas against JSON Schema 2020-12 and OpenAI's strict mode, and calls
 * with null for every optional argument (tests/tool_schema_check.py does the checking). */
static FILE *schema_log;

static void log_call(int fd, const char *tool, const char *args, const char *kind, const char *field) {
        static int id = 5000;
        cJSON *r = client_tool_call(fd, id++, tool, args, NULL, NULL);
        assert_non_null(r);
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "tool", tool);
        cJSON_AddItemToObject(rec, "args", cJSON_Parse(args));
        cJSON_AddStringToObject(rec, "kind", kind);
        if (field)
                cJSON_AddStringToObject(rec, "field", field);
        cJSON_AddItemToObject(rec, "response", r);
        char *line = cJSON_PrintUnformatted(rec);
        fprintf(schema_log, "%s\n", line);
        free(line);
        cJSON_Delete(rec);
}

/* The same call with null for every optional argument it leaves out, as strict-mode clients send it. */
static void log_call_with_nulls(int fd, const cJSON *list, const char *tool, const char *args) {
        const cJSON *t;
        cJSON_ArrayForEach (t, list)
                if (strcmp(cJSON_GetObjectItem(t, "name")->valuestring, tool) == 0)
                        break;
        assert_non_null(t);
        const cJSON *props = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "inputSchema"), "properties"), *p;
        cJSON *a = cJSON_Parse(args);
        cJSON_ArrayForEach (p, props)
                if (!cJSON_GetObjectItem(a, p->string))
                        cJSON_AddNullToObject(a, p->string);
        char *s = cJSON_PrintUnformatted(a);
        log_call(fd, tool, s, "nulls", NULL);
        free(s);
        cJSON_Delete(a);
}

static void test_protocol__results_match_output_schemas(void **state) {
        (void) state;
        int fd = open_session();
        char path[512], cmd[1200], args[256];
        snprintf(path, sizeof(path), "%s/tool_results.jsonl", build_dir());
        schema_log = fopen(path, "we");
        assert_non_null(schema_log);
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":4999,\"method\":\"tools/list\"}"), 0);
        cJSON *list = client_recv(fd, 10000);
        assert_non_null(list);
        cJSON *tools = cJSON_GetObjectItem(cJSON_GetObjectItem(list, "result"), "tools");
        cJSON *first = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(first, "tools", tools);
        char *line = cJSON_PrintUnformatted(first);
        fprintf(schema_log, "%s\n", line);
        free(line);
        cJSON_Delete(first);

        log_call(fd, "exec", "{\"command\":\"echo hi\"}", "ok", NULL);
        log_call(fd, "exec", "{\"command\":\"echo no >&2; exit 3\"}", "ok", NULL);
        log_call(fd, "exec", "{\"command\":\"sleep 30\",\"timeout_ms\":200}", "ok", NULL);
        log_call(fd, "exec", "{\"command\":\"head -c 1100000 /dev/zero | tr '\\\\0' a\"}", "ok", NULL);
        log_call(fd, "exec", "{\"argv\":[\"env\"],\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}", "ok", NULL);
        log_call(fd, "exec", "{\"command\":\"x\",\"cwd\":\"../etc\"}", "bad_args", "arguments.cwd");
        log_call(fd, "exec", "{\"command\":\"x\",\"colour\":1}", "bad_args", "arguments.colour");
        log_call(fd, "exec", "{\"command\":1}", "bad_args", "arguments.command");
        log_call_with_nulls(fd, tools, "exec", "{\"command\":\"true\"}");
        /* A background start, and the process tools on it. */
        cJSON *bg =
                client_tool_call(fd, 4998, "exec", "{\"command\":\"cat\",\"background\":true}", NULL, NULL);
        assert_non_null(bg);
        const char *pid = sc_str(bg, "process_id");
        assert_non_null(pid);
        log_call(fd, "exec", "{\"command\":\"sleep 1\",\"background\":true}", "ok", NULL);
        log_call(fd, "process_list", "{}", "ok", NULL);
        log_call_with_nulls(fd, tools, "process_list", "{}");
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\",\"data\":\"x\\n\"}", pid);
        log_call(fd, "process_write", args, "ok", NULL);
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\"}", pid);
        log_call(fd, "process_output", args, "ok", NULL);
        log_call_with_nulls(fd, tools, "process_output", args);
        log_call_with_nulls(fd, tools, "process_write", args);
        log_call(fd, "process_output", "{\"process_id\":\"p999\"}", "ok", NULL);
        log_call(fd, "process_output", "{\"process_id\":\"p1\",\"offset\":\"x\"}", "bad_args",
                 "arguments.offset");
        log_call(fd, "process_kill", args, "ok", NULL);
        /* The same with nulls, on a process of its own: the first kill may have ended the one above. */
        cJSON *bg2 = client_tool_call(fd, 4997, "exec", "{\"command\":\"sleep 300\",\"background\":true}",
                                      NULL, NULL);
        assert_non_null(bg2);
        assert_non_null(sc_str(bg2, "process_id"));
        snprintf(args, sizeof(args), "{\"process_id\":\"%s\"}", sc_str(bg2, "process_id"));
        log_call_with_nulls(fd, tools, "process_kill", args);
        cJSON_Delete(bg2);
        cJSON_Delete(bg);
        /* The interpreter. */
        log_call(fd, "repl", "{\"language\":\"python\",\"code\":\"1+1\"}", "ok", NULL);
        log_call(fd, "repl", "{\"language\":\"python\",\"code\":\"raise ValueError('x')\"}", "ok", NULL);
        log_call(fd, "repl", "{\"language\":\"cobol\",\"code\":\"1\"}", "bad_args", "arguments.language");
        log_call_with_nulls(fd, tools, "repl", "{\"language\":\"python\",\"code\":\"2\"}");
        /* The workspace tools. */
        log_call(fd, "write_file", "{\"path\":\"s/a.txt\",\"content\":\"one\\ntwo\\none\\n\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "write_file", "{\"path\":\"s/b.txt\",\"content\":\"b\\n\"}");
        log_call(fd, "write_file", "{\"path\":\"../x\",\"content\":\"\"}", "ok", NULL);
        log_call(fd, "write_file", "{\"path\":\"x\"}", "bad_args", "content");
        log_call(fd, "read_file", "{\"path\":\"s/a.txt\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "read_file", "{\"path\":\"s/a.txt\"}");
        log_call(fd, "read_file", "{\"path\":\"missing\"}", "ok", NULL);
        log_call(fd, "edit_file",
                 "{\"path\":\"s/a.txt\",\"edits\":[{\"old_text\":\"one\",\"new_text\":\"1\"}]}", "ok", NULL);
        log_call(fd, "edit_file",
                 "{\"path\":\"s/a.txt\",\"edits\":[{\"old_text\":\"two\",\"new_text\":\"2\"}]}", "ok", NULL);
        log_call_with_nulls(fd, tools, "edit_file",
                            "{\"path\":\"s/a.txt\",\"edits\":[{\"old_text\":\"2\",\"new_text\":\"two\","
                            "\"replace_all\":null}]}");
        log_call(fd, "list_directory", "{}", "ok", NULL);
        log_call_with_nulls(fd, tools, "list_directory", "{}");
        log_call(fd, "glob", "{\"pattern\":\"**/*.txt\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "glob", "{\"pattern\":\"*\"}");
        log_call(fd, "grep", "{\"pattern\":\"one\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "grep", "{\"pattern\":\"one\"}");
        log_call(fd, "stat", "{\"path\":\"s/a.txt\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "stat", "{\"path\":\"s\"}");
        log_call(fd, "make_directory", "{\"path\":\"d/e\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "make_directory", "{\"path\":\"d/f\"}");
        log_call(fd, "move", "{\"from\":\"s/b.txt\",\"to\":\"s/c.txt\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "move", "{\"from\":\"s/c.txt\",\"to\":\"s/b.txt\"}");
        log_call(fd, "remove", "{\"path\":\"d/e\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "remove", "{\"path\":\"d/f\"}");
        log_call(fd, "snapshot", "{\"message\":\"one\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "snapshot", "{}");
        log_call(fd, "history", "{}", "ok", NULL);
        log_call_with_nulls(fd, tools, "history", "{}");
        log_call(fd, "diff", "{}", "ok", NULL);
        log_call_with_nulls(fd, tools, "diff", "{}");
        log_call(fd, "restore", "{\"snapshot\":\"HEAD\"}", "ok", NULL);
        log_call_with_nulls(fd, tools, "restore", "{\"snapshot\":\"HEAD\"}");
        log_call(fd, "restore", "{\"snapshot\":\"nope\"}", "ok", NULL);
        /* The memory tools. */
        log_call(fd, "memory",
                 "{\"command\":\"create\",\"path\":\"/memories/m.md\",\"file_text\":\"a\\nb\\n\"}", "ok",
                 NULL);
        log_call_with_nulls(fd, tools, "memory", "{\"command\":\"view\",\"path\":\"/memories\"}");
        log_call(fd, "memory", "{\"command\":\"view\",\"path\":\"/memories/m.md\",\"view_range\":[1,-1]}",
                 "ok", NULL);
        log_call(fd, "memory",
                 "{\"command\":\"str_replace\",\"path\":\"/memories/"
                 "m.md\",\"old_str\":\"zz\",\"new_str\":\"y\"}",
                 "ok", NULL);
        log_call(fd, "memory", "{\"command\":\"view\",\"path\":\"/memories/../x\"}", "bad_args",
                 "arguments.path");
        log_call(fd, "memory_search", "{\"query\":\"a b\",\"limit\":5}", "ok", NULL);
        log_call_with_nulls(fd, tools, "memory_search", "{\"query\":\"a\"}");
        log_call(fd, "memory_search", "{\"query\":\" \"}", "bad_args", "arguments.query");
        log_call(fd, "memory_feedback", "{\"path\":\"/memories/m.md\",\"outcome\":\"wrong\",\"note\":\"n\"}",
                 "ok", NULL);
        log_call_with_nulls(fd, tools, "memory_feedback",
                            "{\"path\":\"/memories/m.md\",\"outcome\":\"stale\"}");
        log_call(fd, "memory", "{\"command\":\"view\",\"path\":\"/memories/m.md\",\"attribution\":true}",
                 "ok", NULL);
        log_call(fd, "memory_search", "{\"query\":\"a\"}", "ok", NULL);
        log_call(fd, "memory_history", "{}", "ok", NULL);
        log_call_with_nulls(fd, tools, "memory_history", "{}");
        cJSON *mh = client_tool_call(fd, 4996, "memory_history", "{}", NULL, NULL);
        const cJSON *v0 = cJSON_GetArrayItem(cJSON_GetObjectItem(result_sc(mh), "versions"), 0);
        assert_non_null(v0);
        snprintf(args, sizeof(args), "{\"version\":\"%s\"}",
                 cJSON_GetStringValue(cJSON_GetObjectItem(v0, "version")));
        log_call(fd, "memory_restore", args, "ok", NULL);
        log_call_with_nulls(fd, tools, "memory_restore", args);
        cJSON_Delete(mh);
        fclose(schema_log);
        cJSON_Delete(list);
        close(fd);

        snprintf(cmd, sizeof(cmd), "python3 %s/tests/tool_schema_check.py %s >&2", source_dir(), path);
        int rc = system(cmd);
        assert_true(WIFEXITED(rc));
        if (WEXITSTATUS(rc) == 77) {
                fprintf(stderr, "# SKIP: python3-jsonschema is not installed\n");
                skip();
        }
        assert_int_equal(WEXITSTATUS(rc), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec__prints_python_output),
                cmocka_unit_test(test_exec__reports_exit_code_and_stderr),
                cmocka_unit_test(test_exec__passes_stdin_env_and_cwd),
                cmocka_unit_test(test_exec__a_long_plan_goes_in_a_memfd),
                cmocka_unit_test(test_exec__binary_output_is_base64),
                cmocka_unit_test(test_exec__large_output_written_in_parts_never_interleaves),
                cmocka_unit_test(test_exec__streams_progress_and_brig_output),
                cmocka_unit_test(test_exec__streamed_chunks_join_after_a_base64_chunk_cut_a_character),
                cmocka_unit_test(test_exec__streamed_text_carries_a_cut_character_to_the_next_chunk),
                cmocka_unit_test(test_exec__repl_streams_output_as_it_comes),
                cmocka_unit_test(test_exec__times_out_and_kills),
                cmocka_unit_test(test_exec__reaper_runs_the_next_command_too),
                cmocka_unit_test(test_exec__a_reaper_changed_by_its_command_runs_nothing_else),
                cmocka_unit_test(test_exec__timeout_above_policy_is_refused),
                cmocka_unit_test(test_exec__cancel_kills_whole_tree),
                cmocka_unit_test(test_exec__disconnect_kills_whole_tree),
                cmocka_unit_test(test_exec__concurrent_calls_answer_by_id),
                cmocka_unit_test(test_exec__output_is_bounded_and_marked),
                cmocka_unit_test(test_exec__missing_program_is_a_clear_error),
                cmocka_unit_test(test_exec__no_output_lost_under_load),
                cmocka_unit_test(test_protocol__malformed_input_keeps_connection),
                cmocka_unit_test(test_protocol__requires_initialize_first),
                cmocka_unit_test(test_protocol__negotiates_versions),
                cmocka_unit_test(test_protocol__tools_list_names_every_tool),
                cmocka_unit_test(test_protocol__results_match_output_schemas),
                cmocka_unit_test(test_protocol__oversized_message_closes_only_that_connection),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
