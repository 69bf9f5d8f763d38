/* SPDX-License-Identifier: MIT */
/* The workspace file and history tools through a real brigd's socket: every tool once, escapes refused,
 * policy switches (read-only, allow-list, automatic snapshots), ownership of what the worker writes, and
 * the audit trail. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"

static brigd d;
static const char *skip_why;
static int next_id = 100;

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

static int attach_to(const brigd *b, const char *env) {
        char meta[256];
        if (skip_why) {
                fprintf(stderr, "# SKIP: %s\n", skip_why);
                skip();
        }
        snprintf(meta, sizeof(meta), "{\"brig/environment\":\"%s\"}", env);
        int fd = client_connect(b);
        assert_true(fd >= 0);
        cJSON *init = client_initialize(fd, meta);
        assert_non_null(init);
        cJSON_Delete(init);
        return fd;
}

/* Calls a tool; returns the response (caller frees). */
static cJSON *call(int fd, const char *tool, const char *args) {
        cJSON *r = client_tool_call(fd, next_id++, tool, args, NULL, NULL);
        assert_non_null(r);
        return r;
}

/* Calls a tool that must succeed; returns the response (caller frees). */
static cJSON *ok(int fd, const char *tool, const char *args) {
        cJSON *r = call(fd, tool, args);
        if (!cJSON_GetObjectItem(r, "result") || result_is_error(r)) {
                char *t = cJSON_PrintUnformatted(r);
                fprintf(stderr, "# %s %s failed: %s\n", tool, args, t);
                free(t);
                fail();
        }
        return r;
}

/* The message of a failed call, as a JSON-RPC error or a tool result with isError. */
static const char *failure(const cJSON *r) {
        const cJSON *e = cJSON_GetObjectItem(r, "error");
        if (e)
                return cJSON_GetObjectItem(e, "message")->valuestring;
        assert_true(result_is_error(r));
        const cJSON *err = cJSON_GetObjectItem(result_sc(r), "error");
        return cJSON_GetObjectItem(err, "message")->valuestring;
}

static const char *sh(int fd, const char *command) {
        static char out[4096];
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "command", command);
        char *a = cJSON_PrintUnformatted(args);
        cJSON *r = client_call(fd, next_id++, a, NULL, NULL);
        free(a);
        cJSON_Delete(args);
        assert_non_null(r);
        snprintf(out, sizeof(out), "%s", sc_str(r, "stdout") ? sc_str(r, "stdout") : "");
        cJSON_Delete(r);
        return out;
}

static void test_workspace__write_read_edit_round_trip(void **state) {
        (void) state;
        int fd = attach_to(&d, "files-1");
        cJSON *r = ok(fd, "write_file",
                      "{\"path\":\"src/hello.py\",\"content\":\"print('hello')\\nx = 1\\n\"}");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "created")));
        cJSON_Delete(r);

        /* The jail sees what the worker wrote, and may change it: it is the environment's own file. */
        assert_string_equal(sh(fd, "python3 /workspace/src/hello.py && echo more >> /workspace/src/hello.py "
                                   "&& echo ok"),
                            "hello\nok\n");

        r = ok(fd, "read_file",
               "{\"path\":\"src/hello.py\",\"line_numbers\":true,\"offset\":2,\"limit\":1}");
        assert_non_null(strstr(sc_str(r, "content"), "x = 1"));
        assert_null(strstr(sc_str(r, "content"), "hello"));
        cJSON_Delete(r);

        r = ok(fd, "edit_file",
               "{\"path\":\"src/hello.py\",\"edits\":[{\"old_text\":\"x = 1\",\"new_text\":\"x = 2\"}]}");
        const char *diff = sc_str(r, "diff");
        assert_non_null(diff);
        assert_non_null(strstr(diff, "-x = 1"));
        assert_non_null(strstr(diff, "+x = 2"));
        cJSON_Delete(r);
        assert_string_equal(sh(fd, "grep -c 'x = 2' /workspace/src/hello.py"), "1\n");

        /* Zero matches: an error naming the edit; the file is unchanged (all or nothing). */
        r = call(fd, "edit_file",
                 "{\"path\":\"src/hello.py\",\"edits\":[{\"old_text\":\"x = 2\",\"new_text\":\"x = 3\"},"
                 "{\"old_text\":\"nowhere\",\"new_text\":\"y\"}]}");
        assert_non_null(strstr(failure(r), "edit"));
        cJSON_Delete(r);
        assert_string_equal(sh(fd, "grep -c 'x = 2' /workspace/src/hello.py"), "1\n");
        close(fd);
}

static void test_workspace__listing_and_search_tools(void **state) {
        (void) state;
        int fd = attach_to(&d, "files-2");
        sh(fd, "mkdir -p /workspace/a/b && echo needle > /workspace/a/b/one.txt && echo hay > "
               "/workspace/a/two.txt && printf 'x\\0y' > /workspace/a/bin.dat");
        cJSON *r = ok(fd, "list_directory", "{\"path\":\"a\",\"depth\":2}");
        cJSON *entries = cJSON_GetObjectItem(result_sc(r), "entries");
        assert_int_equal(cJSON_GetArraySize(entries), 4); /* b, b/one.txt, bin.dat, two.txt */
        cJSON_Delete(r);

        r = ok(fd, "glob", "{\"pattern\":\"**/*.txt\"}");
        cJSON *matches = cJSON_GetObjectItem(result_sc(r), "matches");
        assert_int_equal(cJSON_GetArraySize(matches), 2);
        assert_string_equal(cJSON_GetArrayItem(matches, 0)->valuestring, "a/b/one.txt");
        cJSON_Delete(r);

        r = ok(fd, "grep", "{\"pattern\":\"ne+dle\"}");
        matches = cJSON_GetObjectItem(result_sc(r), "matches");
        assert_int_equal(cJSON_GetArraySize(matches), 1);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(matches, 0), "path")->valuestring,
                            "a/b/one.txt");
        cJSON_Delete(r);

        r = call(fd, "grep", "{\"pattern\":\"(unclosed\"}");
        assert_non_null(failure(r));
        cJSON_Delete(r);

        r = ok(fd, "stat", "{\"path\":\"a/two.txt\"}");
        assert_string_equal(sc_str(r, "type"), "file");
        cJSON_Delete(r);

        cJSON_Delete(ok(fd, "make_directory", "{\"path\":\"c/d\"}"));
        cJSON_Delete(ok(fd, "move", "{\"from\":\"a/two.txt\",\"to\":\"c/d/two.txt\"}"));
        cJSON_Delete(ok(fd, "remove", "{\"path\":\"a\",\"recursive\":true}"));
        assert_string_equal(sh(fd, "cd /workspace && find . | sort"), ".\n./c\n./c/d\n./c/d/two.txt\n");
        close(fd);
}

static void test_workspace__escapes_are_refused(void **state) {
        (void) state;
        int fd = attach_to(&d, "files-3");
        /* Links made inside the jail point at the jail's /etc, which the worker must not follow either. */
        sh(fd, "ln -s /etc /workspace/etc-link && ln -s ../../.. /workspace/up && mkdir /workspace/d");
        static const char *const cases[][2] = {
                {"read_file", "{\"path\":\"../../../../etc/passwd\"}"},
                {"read_file", "{\"path\":\"/etc/passwd\"}"},
                {"read_file", "{\"path\":\"etc-link/passwd\"}"},
                {"read_file", "{\"path\":\"up/meta.json\"}"},
                {"read_file", "{\"path\":\"d/../../meta.json\"}"},
                {"write_file", "{\"path\":\"etc-link/evil\",\"content\":\"x\"}"},
                {"write_file", "{\"path\":\"up/evil\",\"content\":\"x\"}"},
                {"list_directory", "{\"path\":\"up\"}"},
                {"remove", "{\"path\":\"etc-link/hostname\"}"},
                {"move", "{\"from\":\"d\",\"to\":\"../d\"}"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                cJSON *r = call(fd, cases[i][0], cases[i][1]);
                const char *msg = failure(r);
                fprintf(stderr, "# %s %s: %s\n", cases[i][0], cases[i][1], msg);
                cJSON_Delete(r);
        }
        /* Writing through a final symlink is refused too, and nothing changed outside. */
        cJSON *r = call(fd, "write_file", "{\"path\":\"etc-link\",\"content\":\"x\"}");
        assert_non_null(failure(r));
        cJSON_Delete(r);
        char meta[512];
        snprintf(meta, sizeof(meta), "%s/environments/files-3/evil", d.state);
        assert_int_equal(access(meta, F_OK), -1);
        close(fd);
}

static void test_workspace__history_snapshot_diff_restore(void **state) {
        (void) state;
        int fd = attach_to(&d, "files-4");
        cJSON_Delete(ok(fd, "write_file", "{\"path\":\"notes.txt\",\"content\":\"one\\n\"}"));
        cJSON *r = ok(fd, "snapshot", "{\"message\":\"first\"}");
        char first[64];
        snprintf(first, sizeof(first), "%s", sc_str(r, "id"));
        cJSON_Delete(r);

        sh(fd, "echo two > /workspace/notes.txt && echo new > /workspace/new.txt");
        r = ok(fd, "diff", "{}");
        assert_non_null(strstr(sc_str(r, "diff"), "+two"));
        cJSON_Delete(r);

        char args[256];
        snprintf(args, sizeof(args), "{\"snapshot\":\"%s\"}", first);
        r = ok(fd, "restore", args);
        assert_string_equal(sc_str(r, "restored_from"), first);
        cJSON_Delete(r);
        assert_string_equal(sh(fd, "cat /workspace/notes.txt; ls /workspace"), "one\nnotes.txt\n");

        /* Nothing is lost: the state before the restore is a snapshot too. */
        r = ok(fd, "history", "{}");
        cJSON *snaps = cJSON_GetObjectItem(result_sc(r), "snapshots");
        assert_true(cJSON_GetArraySize(snaps) >= 3);
        cJSON_Delete(r);

        /* The history is beyond the jail's reach: no .git in the workspace. */
        assert_string_equal(sh(fd, "ls -A /workspace"), "notes.txt\n");
        close(fd);
}

static void test_workspace__destroyed_environment_is_not_recreated(void **state) {
        (void) state;
        int fd = attach_to(&d, "files-5");
        cJSON_Delete(ok(fd, "write_file", "{\"path\":\"a\",\"content\":\"x\"}"));
        assert_int_equal(client_send(fd,
                                     "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"brig/environment.destroy\","
                                     "\"params\":{\"id\":\"files-5\"}}"),
                         0);
        cJSON *r = client_recv(fd, 10000);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "destroyed")));
        cJSON_Delete(r);
        /* The connection is still attached to it: its file calls fail, and nothing comes back on disk. */
        r = call(fd, "write_file", "{\"path\":\"b\",\"content\":\"y\"}");
        assert_non_null(strstr(failure(r), "destroyed"));
        cJSON_Delete(r);
        char dir[512];
        struct stat st;
        snprintf(dir, sizeof(dir), "%s/environments/files-5", d.state);
        for (int i = 0; i < 100 && stat(dir, &st) == 0; i++)
                usleep(20000); /* the removal runs on the thread pool */
        assert_int_equal(stat(dir, &st), -1);
        close(fd);
}

/* A brigd whose default policy is the shipped one with `extra` merged into its top level. */
static void start_with(brigd *b, const char *extra, char *path, size_t size) {
        char src[512];
        snprintf(src, sizeof(src), "%s/policies/default.json", source_dir());
        FILE *f = fopen(src, "r");
        assert_non_null(f);
        char text[16384];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = 0;
        cJSON *p = cJSON_Parse(text), *add = cJSON_Parse(extra), *it;
        assert_non_null(p);
        assert_non_null(add);
        cJSON_ArrayForEach (it, add) {
                cJSON_DeleteItemFromObject(p, it->string);
                cJSON_AddItemToObject(p, it->string, cJSON_Duplicate(it, true));
        }
        cJSON_ReplaceItemInObject(p, "name", cJSON_CreateString("files-test"));
        snprintf(path, size, "/tmp/brig-files-policy-%d.json", (int) getpid());
        char *out = cJSON_Print(p);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(out, f);
        fclose(f);
        chmod(path, 0644);
        free(out);
        cJSON_Delete(p);
        cJSON_Delete(add);
        const char *why = NULL;
        if (brigd_start(b, path, &why) < 0) {
                unlink(path);
                fprintf(stderr, "# SKIP: %s\n", why ? why : "brigd failed to start");
                skip();
        }
}

static void test_workspace__policy_read_only_and_allow_list(void **state) {
        (void) state;
        char path[128];
        brigd b;
        if (skip_why)
                skip();
        start_with(&b,
                   "{\"tools\":{\"allow\":[\"read_file\",\"write_file\",\"list_directory\"],"
                   "\"files\":{\"read_only\":true}}}",
                   path, sizeof(path));
        int fd = attach_to(&b, "ro");
        cJSON *r = call(fd, "write_file", "{\"path\":\"x\",\"content\":\"y\"}");
        assert_non_null(strstr(failure(r), "read-only"));
        cJSON_Delete(r);
        r = call(fd, "exec", "{\"command\":\"true\"}");
        assert_non_null(strstr(failure(r), "not allowed"));
        cJSON_Delete(r);
        cJSON_Delete(ok(fd, "list_directory", "{}"));

        /* tools/list shows only what the policy allows. */
        assert_int_equal(client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"), 0);
        r = client_recv(fd, 10000);
        assert_non_null(r);
        cJSON *tools = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "tools");
        assert_int_equal(cJSON_GetArraySize(tools), 3);
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&b), 0);
        unlink(path);
}

/* brigd with history.auto_snapshot, its policy file in path (the caller unlinks it). */
static void start_auto_snapshot(brigd *b, char *path, size_t size) {
        if (skip_why)
                skip();
        start_with(b, "{\"history\":{\"auto_snapshot\":true}}", path, size);
}

static void test_workspace__auto_snapshot_records_every_step(void **state) {
        (void) state;
        char path[128];
        brigd b;
        start_auto_snapshot(&b, path, sizeof(path));
        int fd = attach_to(&b, "auto");
        cJSON *r = ok(fd, "write_file", "{\"path\":\"a.txt\",\"content\":\"a\\n\"}");
        assert_non_null(sc_str(r, "snapshot"));
        cJSON_Delete(r);
        sh(fd, "echo b > /workspace/b.txt");
        r = ok(fd, "history", "{}");
        cJSON *snaps = cJSON_GetObjectItem(result_sc(r), "snapshots");
        assert_int_equal(cJSON_GetArraySize(snaps), 2);
        /* Newest first: the exec, then the write, each with the call that made it. */
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "tool")->valuestring, "exec");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 1), "tool")->valuestring,
                            "write_file");
        assert_true(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "call_id")));
        cJSON_Delete(r);
        close(fd);

        /* Every file call is in the audit log with its path and size. */
        FILE *f = fopen(b.audit, "r");
        assert_non_null(f);
        char line[8192];
        bool seen = false;
        while (fgets(line, sizeof(line), f))
                if (strstr(line, "\"call_end\"") && strstr(line, "\"write_file\"") &&
                    strstr(line, "\"path\":\"a.txt\"") && strstr(line, "\"bytes\":2"))
                        seen = true;
        fclose(f);
        assert_true(seen);
        assert_int_equal(brigd_stop(&b), 0);
        unlink(path);
}

/* A command killed at its timeout ran, and what it wrote is snapshotted, though its reaper, killed with it,
 * never reported its end (where it says "started"); one that failed before execve (no such cwd) is not. */
static void test_workspace__auto_snapshot_keeps_a_timed_out_command(void **state) {
        (void) state;
        char path[128];
        brigd b;
        start_auto_snapshot(&b, path, sizeof(path));
        int fd = attach_to(&b, "auto-timeout");
        cJSON *r = call(fd, "exec",
                        "{\"argv\":[\"sh\",\"-c\",\"echo t > /workspace/t.txt; exec sleep 60\"],"
                        "\"timeout_ms\":1500}");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(result_sc(r), "timed_out")));
        cJSON_Delete(r);
        r = call(fd, "exec", "{\"argv\":[\"true\"],\"cwd\":\"no-such-dir\"}");
        assert_true(result_is_error(r));
        cJSON_Delete(r);
        r = ok(fd, "history", "{}");
        cJSON *snaps = cJSON_GetObjectItem(result_sc(r), "snapshots");
        assert_int_equal(cJSON_GetArraySize(snaps), 1);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "tool")->valuestring, "exec");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&b), 0);
        unlink(path);
}

/* A command's or repl's automatic snapshot is taken before its result is sent: the next call's writes can
 * never land in it. Calls alternate between exec and repl, each writing one file of its own. */
static void test_workspace__auto_snapshots_belong_to_their_call(void **state) {
        (void) state;
        enum { ROUNDS = 15 };
        char path[128], code[128];
        brigd b;
        start_auto_snapshot(&b, path, sizeof(path));
        int fd = attach_to(&b, "auto-order");
        for (int i = 0; i < ROUNDS; i++) {
                snprintf(code, sizeof(code), "echo %d > /workspace/exec-%d", i, i);
                sh(fd, code);
                snprintf(code, sizeof(code),
                         "{\"language\":\"bash\",\"code\":\"echo %d > /workspace/repl-%d\"}", i, i);
                cJSON_Delete(ok(fd, "repl", code));
        }
        cJSON *r = ok(fd, "history", "{\"limit\":100}");
        cJSON *snaps = cJSON_GetObjectItem(result_sc(r), "snapshots"), *s;
        int misattributed = 0;
        cJSON_ArrayForEach (s, snaps) {
                const cJSON *n = cJSON_GetObjectItem(s, "files_changed");
                if (!cJSON_IsNumber(n) || n->valuedouble != 1)
                        misattributed++;
        }
        fprintf(stderr, "# %d snapshots, %d not of exactly their own call's file\n",
                cJSON_GetArraySize(snaps), misattributed);
        assert_int_equal(cJSON_GetArraySize(snaps), 2 * ROUNDS);
        assert_int_equal(misattributed, 0);
        /* Newest first: the last repl, then the last exec. */
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "tool")->valuestring, "repl");
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 1), "tool")->valuestring, "exec");
        cJSON_Delete(r);
        close(fd);
        assert_int_equal(brigd_stop(&b), 0);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_workspace__write_read_edit_round_trip),
                cmocka_unit_test(test_workspace__listing_and_search_tools),
                cmocka_unit_test(test_workspace__escapes_are_refused),
                cmocka_unit_test(test_workspace__history_snapshot_diff_restore),
                cmocka_unit_test(test_workspace__destroyed_environment_is_not_recreated),
                cmocka_unit_test(test_workspace__policy_read_only_and_allow_list),
                cmocka_unit_test(test_workspace__auto_snapshot_records_every_step),
                cmocka_unit_test(test_workspace__auto_snapshot_keeps_a_timed_out_command),
                cmocka_unit_test(test_workspace__auto_snapshots_belong_to_their_call),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
