/* SPDX-License-Identifier: MIT */
/* Unit tests for tools/memory_store.c and tools/memory_tool.c against real libgit2 on temporary stores:
 * path rules, scope directories, each command of the memory tool convention, read-only mode, limits
 * checked before writing, attribution trailers, history and restore, and two writers of one scope. */
#include <errno.h>
#include <pthread.h>
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
#include <git2.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "tools/memory_tool.h"

typedef struct fixture {
        char root[64];
        char dir[128];
        brig_memory *m;
        brig_memory_ctx ctx;
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        brig_error err = BRIG_ERROR_INIT;

        assert_non_null(f);
        strcpy(f->root, "/tmp/brig-test-memory-XXXXXX");
        assert_non_null(mkdtemp(f->root));
        snprintf(f->dir, sizeof(f->dir), "%s/state/memory/owner/1000", f->root);
        assert_int_equal(brig_memory_open(f->dir, &f->m, &err), 0);
        f->ctx = (brig_memory_ctx){
                .limits = {.max_bytes = 1 << 20, .max_files = 100},
                .environment = "envA",
                .call_id = "7",
                .peer_uid = 1000,
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        brig_memory_free(f->m);
        assert_int_equal(brig_rm_rf(f->root), 0);
        free(f);
        return 0;
}

/* Runs tool with args (JSON with ' for "): the call's code, its structured content in *ret_sc. */
static int call_json(fixture *f, const char *tool, const char *args_sq, cJSON **ret_sc,
                     brig_memory_report *rep, brig_error *err) {
        _cleanup_free_ char *json = strdup(args_sq);
        brig_memory_report r0;

        for (char *c = json; *c; c++)
                if (*c == '\'')
                        *c = '"';
        _cleanup_json_ cJSON *args = cJSON_Parse(json);
        assert_non_null(args);
        return brig_memory_call(f->m, tool, args, &f->ctx, ret_sc, rep ? rep : &r0, err);
}

/* Runs tool with args; returns the call's code, the result text or error in *out. */
static int run(fixture *f, const char *tool, const char *args_sq, char **out, brig_memory_report *rep) {
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_json_ cJSON *sc = NULL;
        int r = call_json(f, tool, args_sq, &sc, rep, &err);
        const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "result"));

        *out = strdup(r < 0 ? err.msg : res ? res : "");
        return r;
}

static void ok(fixture *f, const char *tool, const char *args, const char *expect) {
        _cleanup_free_ char *out = NULL;
        int r = run(f, tool, args, &out, NULL);

        if (r < 0)
                fail_msg("%s %s: %s", tool, args, out);
        if (expect && strcmp(out, expect) != 0)
                fail_msg("%s %s:\n got: %s\nwant: %s", tool, args, out, expect);
}

static void fails(fixture *f, const char *tool, const char *args, const char *expect) {
        _cleanup_free_ char *out = NULL;

        if (run(f, tool, args, &out, NULL) >= 0)
                fail_msg("%s %s: succeeded: %s", tool, args, out);
        if (strcmp(out, expect) != 0)
                fail_msg("%s %s:\n got: %s\nwant: %s", tool, args, out, expect);
}

static char *content(fixture *f, const char *path) {
        brig_error err = BRIG_ERROR_INIT;
        char *d = NULL;
        size_t n;

        return brig_memory_read(f->m, path, &d, &n, &err) < 0 ? NULL : d;
}

static void test_memory__path_rules(void **state) {
        char buf[BRIG_MEMORY_MAX_PATH + 1];
        brig_error err = BRIG_ERROR_INIT;

        (void) state;
        assert_int_equal(brig_memory_path_parse("/memories", "p", buf, &err), 0);
        assert_string_equal(buf, "");
        assert_int_equal(brig_memory_path_parse("/memories/", "p", buf, &err), 0);
        assert_string_equal(buf, "");
        assert_int_equal(brig_memory_path_parse("/memories/a/b.md/", "p", buf, &err), 0);
        assert_string_equal(buf, "a/b.md");
        static const char *const bad[] = {"memories/a",       "/memoriesx",     "/memories/../etc",
                                          "/memories/a/../b", "/memories/./a",  "/memories//a",
                                          "/memories/.git/x", "/memories/a\nb", "/tmp/x",
                                          "/memories/a\\b",   "/memories/.GIT", ""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (brig_memory_path_parse(bad[i], "arguments.path", buf, &err) != -EINVAL)
                        fail_msg("accepted %s", bad[i]);
                assert_int_equal(err.kind, BRIG_KIND_INVALID_ARGUMENT);
                assert_non_null(strstr(err.msg, "arguments.path"));
        }
        char long_path[BRIG_MEMORY_MAX_PATH + 8] = "/memories/";
        memset(long_path + 10, 'a', sizeof(long_path) - 11);
        long_path[sizeof(long_path) - 1] = 0;
        assert_int_equal(brig_memory_path_parse(long_path, "p", buf, &err), -ENAMETOOLONG);
}

static void test_memory__scope_dirs(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        char *d = NULL;

        (void) state;
        assert_int_equal(brig_memory_scope_dir("/s", BRIG_MEMORY_SCOPE_OWNER, NULL, 1000, "e1", &d, &err),
                         0);
        assert_string_equal(d, "/s/owner/1000");
        free(d);
        assert_int_equal(
                brig_memory_scope_dir("/s", BRIG_MEMORY_SCOPE_ENVIRONMENT, NULL, 1000, "e1", &d, &err), 0);
        assert_string_equal(d, "/s/environment/e1");
        free(d);
        assert_int_equal(brig_memory_scope_dir("/s", BRIG_MEMORY_SCOPE_NAMED, "team", 1000, "e1", &d, &err),
                         0);
        assert_string_equal(d, "/s/named/team");
        free(d);
        assert_int_equal(
                brig_memory_scope_dir("/s", BRIG_MEMORY_SCOPE_ENVIRONMENT, NULL, 1000, "../x", &d, &err),
                -EINVAL);
        assert_int_equal(brig_memory_scope_dir("/s", BRIG_MEMORY_SCOPE_NAMED, "a/b", 1000, "e1", &d, &err),
                         -EINVAL);
}

static void test_memory__create_and_view(void **state) {
        fixture *f = *state;
        struct stat st;

        ok(f, "memory", "{'command': 'view', 'path': '/memories'}",
           "Here're the files and directories up to 2 levels deep in /memories, excluding hidden items and "
           "node_modules:\n0B\t/memories\n");
        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/build.md', 'file_text': 'make\\nninja\\n'}",
           "File created successfully at: /memories/build.md");
        ok(f, "memory", "{'command': 'create', 'path': '/memories/api/quirks.md', 'file_text': 'x'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/.hidden', 'file_text': 'x'}", NULL);
        fails(f, "memory", "{'command': 'create', 'path': '/memories/build.md', 'file_text': 'y'}",
              "File /memories/build.md already exists");
        fails(f, "memory", "{'command': 'create', 'path': '/memories/build.md/x', 'file_text': 'y'}",
              "build.md is a file, not a directory");
        fails(f, "memory", "{'command': 'create', 'path': '/memories/api', 'file_text': 'y'}",
              "File /memories/api already exists");
        fails(f, "memory", "{'command': 'create', 'path': '/memories/../x', 'file_text': 'y'}",
              "arguments.path: \"..\" is not allowed as a path component");
        fails(f, "memory", "{'command': 'create', 'path': '/memories/x'}", "arguments.file_text: required");
        ok(f, "memory", "{'command': 'view', 'path': '/memories/build.md'}",
           "Here's the content of /memories/build.md with line numbers:\n     1\tmake\n     2\tninja\n");
        ok(f, "memory", "{'command': 'view', 'path': '/memories/build.md', 'view_range': [2, -1]}",
           "Here's the content of /memories/build.md with line numbers:\n     2\tninja\n");
        fails(f, "memory", "{'command': 'view', 'path': '/memories/build.md', 'view_range': [3, 4]}",
              "arguments.view_range: [3, 4] is outside the file's lines [1, 2] (end -1: to the last line)");
        ok(f, "memory", "{'command': 'view', 'path': '/memories/'}",
           "Here're the files and directories up to 2 levels deep in /memories/, excluding hidden items and "
           "node_modules:\n13B\t/memories/\n1B\t/memories/api/\n1B\t/memories/api/quirks.md\n11B\t/memories/"
           "build.md\n");
        fails(f, "memory", "{'command': 'view', 'path': '/memories/none'}",
              "The path /memories/none does not exist. Please provide a valid path.");
        fails(f, "memory", "{'command': 'view', 'path': '/memories/a', 'file_text': 'x'}",
              "arguments.file_text: unknown field");
        fails(f, "memory", "{'command': 'list', 'path': '/memories'}",
              "arguments.command: expected view, create, str_replace, insert, delete or rename");
        /* Bare: no working tree holds the memories, so none can be half-written or redirected. */
        char p[256];
        snprintf(p, sizeof(p), "%s/build.md", f->dir);
        assert_int_equal(lstat(p, &st), -1);
        snprintf(p, sizeof(p), "%s/HEAD", f->dir);
        assert_int_equal(lstat(p, &st), 0);
}

static void test_memory__str_replace(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *text = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_memory_report rep;
        cJSON *sc = NULL, *args;

        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/p.md', 'file_text': 'alpha\\nbeta\\nalpha\\n'}", NULL);
        fails(f, "memory",
              "{'command': 'str_replace', 'path': '/memories/p.md', 'old_str': 'alpha', 'new_str': 'x'}",
              "No replacement was performed. Multiple occurrences of old_str `alpha` in lines: 1, 3. Please "
              "ensure it is unique");
        ok(f, "memory",
           "{'command': 'str_replace', 'path': '/memories/p.md', 'old_str': 'beta', 'new_str': 'gamma'}",
           "The memory file has been edited.");
        assert_string_equal(text = content(f, "p.md"), "alpha\ngamma\nalpha\n");
        /* Another writer changed the text: the error says so and carries the current text. */
        args = cJSON_Parse(
                "{\"command\": \"str_replace\", \"path\": \"/memories/p.md\", \"old_str\": \"beta\", "
                "\"new_str\": \"delta\"}");
        assert_int_equal(brig_memory_call(f->m, "memory", args, &f->ctx, &sc, &rep, &err), -ENOENT);
        assert_string_equal(
                err.msg,
                "No replacement was performed, old_str `beta` did not appear verbatim in /memories/p.md.");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "current_text")),
                            "alpha\ngamma\nalpha\n");
        assert_false(rep.wrote);
        cJSON_Delete(sc);
        cJSON_Delete(args);
        ok(f, "memory", "{'command': 'str_replace', 'path': '/memories/p.md', 'old_str': 'gamma\\n'}", NULL);
        free(text);
        assert_string_equal(text = content(f, "p.md"), "alpha\nalpha\n");
        fails(f, "memory",
              "{'command': 'str_replace', 'path': '/memories/q.md', 'old_str': 'a', 'new_str': 'b'}",
              "The path /memories/q.md does not exist. Please provide a valid path.");
        fails(f, "memory",
              "{'command': 'str_replace', 'path': '/memories/p.md', 'old_str': '', 'new_str': 'b'}",
              "arguments.old_str: must not be empty");
}

static void test_memory__insert(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/l.md', 'file_text': 'one\\ntwo'}", NULL);
        ok(f, "memory",
           "{'command': 'insert', 'path': '/memories/l.md', 'insert_line': 0, 'insert_text': 'zero'}",
           "The file /memories/l.md has been edited.");
        assert_string_equal(a = content(f, "l.md"), "zero\none\ntwo");
        ok(f, "memory",
           "{'command': 'insert', 'path': '/memories/l.md', 'insert_line': 3, 'insert_text': 'three'}",
           NULL);
        assert_string_equal(b = content(f, "l.md"), "zero\none\ntwo\nthree");
        ok(f, "memory",
           "{'command': 'insert', 'path': '/memories/l.md', 'insert_line': 2, 'insert_text': 'x\\n'}", NULL);
        assert_string_equal(c = content(f, "l.md"), "zero\none\nx\ntwo\nthree");
        fails(f, "memory",
              "{'command': 'insert', 'path': '/memories/l.md', 'insert_line': 9, 'insert_text': 'x'}",
              "Invalid `insert_line` parameter: 9. It should be within the range of lines of the file: [0, "
              "5]");
        fails(f, "memory", "{'command': 'insert', 'path': '/memories/l.md', 'insert_text': 'x'}",
              "arguments.insert_line: required");
}

static void test_memory__delete_and_rename(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/d/a.md', 'file_text': 'A'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/d/e/b.md', 'file_text': 'B'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/c.md', 'file_text': 'C'}", NULL);
        fails(f, "memory", "{'command': 'rename', 'old_path': '/memories/d', 'new_path': '/memories/c.md'}",
              "The destination /memories/c.md already exists");
        fails(f, "memory", "{'command': 'rename', 'old_path': '/memories/d', 'new_path': '/memories/d/x'}",
              "arguments.new_path: must not be old_path or inside it");
        fails(f, "memory", "{'command': 'rename', 'old_path': '/memories/zz', 'new_path': '/memories/y'}",
              "The path /memories/zz does not exist. Please provide a valid path.");
        ok(f, "memory", "{'command': 'rename', 'old_path': '/memories/d', 'new_path': '/memories/n/d2'}",
           "Successfully renamed /memories/d to /memories/n/d2");
        assert_string_equal(a = content(f, "n/d2/e/b.md"), "B");
        assert_null(content(f, "d/a.md"));
        ok(f, "memory", "{'command': 'delete', 'path': '/memories/n'}", "Successfully deleted /memories/n");
        assert_null(content(f, "n/d2/a.md"));
        fails(f, "memory", "{'command': 'delete', 'path': '/memories/n'}",
              "The path /memories/n does not exist. Please provide a valid path.");
        fails(f, "memory", "{'command': 'delete', 'path': '/memories'}",
              "arguments.path: /memories itself cannot be deleted");
}

/* Paths the tool stores stay within its rules however they are made: a rename that would join two long
 * paths past the limit, and a name longer than a filesystem's (the mounted view could not hold it). */
static void test_memory__stored_paths_keep_the_path_rules(void **state) {
        fixture *f = *state;
        char a[700], b[700], long_name[300], args[2048];

        memset(a, 'a', 600);
        a[600] = 0;
        memset(b, 'b', 200);
        b[200] = 0;
        memset(long_name, 'n', 256);
        long_name[256] = 0;
        snprintf(args, sizeof(args),
                 "{'command': 'create', 'path': '/memories/%s/%s/f.md', 'file_text': 'x'}", a, b);
        fails(f, "memory", args, "arguments.path: a path component is longer than 255 bytes");
        snprintf(args, sizeof(args), "{'command': 'create', 'path': '/memories/%s', 'file_text': 'x'}",
                 long_name);
        fails(f, "memory", args, "arguments.path: a path component is longer than 255 bytes");
        /* Two directories of 250-byte names, each path under the limit alone; moved below the other, the
         * file's path would pass it. */
        memset(a, 'a', 250);
        a[250] = 0;
        snprintf(args, sizeof(args),
                 "{'command': 'create', 'path': '/memories/%s/%s/%s/f.md', 'file_text': 'x'}", a, a, a);
        ok(f, "memory", args, NULL);
        memset(b, 'b', 250);
        b[250] = 0;
        snprintf(args, sizeof(args),
                 "{'command': 'create', 'path': '/memories/%s/%s/g.md', 'file_text': 'x'}", b, b);
        ok(f, "memory", args, NULL);
        snprintf(args, sizeof(args),
                 "{'command': 'rename', 'old_path': '/memories/%s', 'new_path': '/memories/%s/%s/%s'}", a, b,
                 b, a);
        fails(f, "memory", args, "path: longer than 1024 bytes");
}

static void test_memory__read_only_refuses_writes(void **state) {
        fixture *f = *state;
        brig_memory_report rep;
        _cleanup_free_ char *out = NULL;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'A'}", NULL);
        f->ctx.read_only = true;
        static const char msg[] = "the memory is read-only for this environment (policy memory.mode)";
        fails(f, "memory", "{'command': 'create', 'path': '/memories/b.md', 'file_text': 'B'}", msg);
        fails(f, "memory",
              "{'command': 'str_replace', 'path': '/memories/a.md', 'old_str': 'A', 'new_str': 'B'}", msg);
        fails(f, "memory",
              "{'command': 'insert', 'path': '/memories/a.md', 'insert_line': 0, 'insert_text': 'B'}", msg);
        fails(f, "memory", "{'command': 'delete', 'path': '/memories/a.md'}", msg);
        fails(f, "memory", "{'command': 'rename', 'old_path': '/memories/a.md', 'new_path': '/memories/b'}",
              msg);
        fails(f, "memory_restore", "{'version': 'abcd'}", msg);
        ok(f, "memory", "{'command': 'view', 'path': '/memories/a.md'}", NULL);
        assert_int_equal(run(f, "memory_history", "{}", &out, &rep), 0);
        assert_non_null(strstr(out, "create /memories/a.md by environment envA (uid 1000, call 7)"));
}

static void test_memory__limits_are_checked_before_writing(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *out = NULL;
        brig_memory_report rep;

        f->ctx.limits = (brig_memory_limits){.max_bytes = 10, .max_files = 2};
        ok(f, "memory", "{'command': 'create', 'path': '/memories/a', 'file_text': '12345'}", NULL);
        fails(f, "memory", "{'command': 'create', 'path': '/memories/b', 'file_text': '123456'}",
              "the memory would hold 11 bytes, over memory.max_bytes (10)");
        ok(f, "memory", "{'command': 'create', 'path': '/memories/b', 'file_text': '1'}", NULL);
        fails(f, "memory", "{'command': 'create', 'path': '/memories/c', 'file_text': '1'}",
              "the memory would hold 3 files, over memory.max_files (2)");
        fails(f, "memory",
              "{'command': 'str_replace', 'path': '/memories/a', 'old_str': '1', 'new_str': '1234567'}",
              "the memory would hold 12 bytes, over memory.max_bytes (10)");
        assert_int_equal(run(f, "memory_history", "{}", &out, &rep), 0);
        /* The refused writes made no version. */
        int versions = 0;
        for (char *c = out; *c; c++)
                versions += *c == '\n';
        assert_int_equal(versions, 2);
        /* A shrinking write is fine even over a lowered bound. */
        f->ctx.limits.max_bytes = 2;
        ok(f, "memory",
           "{'command': 'str_replace', 'path': '/memories/a', 'old_str': '12345', 'new_str': '1'}", NULL);
}

static void test_memory__commits_carry_provenance(void **state) {
        fixture *f = *state;
        git_repository *repo = NULL;
        git_commit *c = NULL;
        git_oid id;
        brig_memory_report rep;
        _cleanup_free_ char *out = NULL;

        assert_int_equal(run(f, "memory",
                             "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'hello'}", &out,
                             &rep),
                         0);
        assert_true(rep.wrote);
        assert_string_equal(rep.command, "create");
        assert_string_equal(rep.path, "/memories/a.md");
        assert_int_equal(rep.bytes, 5);
        /* sha256("hello") */
        assert_string_equal(rep.digest, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_int_equal(strlen(rep.version), 40);
        git_libgit2_init();
        assert_int_equal(git_repository_open_bare(&repo, f->dir), 0);
        assert_int_equal(git_reference_name_to_id(&id, repo, "HEAD"), 0);
        assert_int_equal(git_commit_lookup(&c, repo, &id), 0);
        assert_string_equal(git_commit_message(c),
                            "create /memories/a.md\n\nBrig-Environment: envA\nBrig-Call-Id: "
                            "7\nBrig-Peer-Uid: 1000\nBrig-Command: create\nBrig-Path: "
                            "/memories/a.md\n");
        git_commit_free(c);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

static char *version_of(const char *history_text, int index) {
        const char *line = history_text;

        for (int i = 0; i < index; i++)
                line = strchr(line, '\n') + 1;
        return strndup(line, 12);
}

static void test_memory__history_and_restore(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *out = NULL, *v1 = NULL, *t = NULL, *t2 = NULL, *out2 = NULL, *out3 = NULL;
        brig_memory_report rep;
        char args[256];

        ok(f, "memory_history", "{}", "No versions yet.\n");
        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'first'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/b.md', 'file_text': 'other'}", NULL);
        f->ctx.environment = "envB";
        ok(f, "memory",
           "{'command': 'str_replace', 'path': '/memories/a.md', 'old_str': 'first', 'new_str': 'second'}",
           NULL);
        assert_int_equal(run(f, "memory_history", "{'path': '/memories/a.md'}", &out, &rep), 0);
        assert_non_null(strstr(out, "str_replace /memories/a.md by environment envB"));
        assert_null(strstr(out, "b.md"));
        v1 = version_of(out, 1);
        snprintf(args, sizeof(args), "{'version': '%s', 'path': '/memories/a.md'}", v1);
        assert_int_equal(run(f, "memory_restore", args, &out2, &rep), 0);
        assert_true(rep.wrote);
        assert_string_equal(rep.command, "restore");
        assert_string_equal(t = content(f, "a.md"), "first");
        assert_string_equal(t2 = content(f, "b.md"), "other");
        /* Nothing lost: the overwritten text is a version of its own. */
        assert_int_equal(run(f, "memory_history", "{'path': '/memories/a.md'}", &out3, &rep), 0);
        assert_non_null(strstr(out3, "restore /memories/a.md"));
        assert_non_null(strstr(out3, "str_replace /memories/a.md"));
        fails(f, "memory_restore", "{'version': 'zz'}",
              "version: expected a version id (at least 4 hex digits)");
        fails(f, "memory_restore", "{'version': 'ffffffff'}", "version: no version ffffffff");
        snprintf(args, sizeof(args), "{'version': '%s', 'path': '/memories/nope'}", v1);
        _cleanup_free_ char *e = NULL;
        assert_int_equal(run(f, "memory_restore", args, &e, &rep), -ENOENT);
        /* The whole scope back to the first version: b.md goes, and comes back with the next restore. */
        _cleanup_free_ char *all = NULL, *first = NULL;
        assert_int_equal(run(f, "memory_history", "{}", &all, &rep), 0);
        first = version_of(all, 3);
        snprintf(args, sizeof(args), "{'version': '%s'}", first);
        ok(f, "memory_restore", args, NULL);
        assert_null(content(f, "b.md"));
}

typedef struct writer {
        const char *dir;
        const char *name;
        int n;
        int failures;
} writer;

static void *write_loop(void *userdata) {
        writer *w = userdata;
        brig_memory_ctx ctx = {.limits = {.max_bytes = 1 << 20, .max_files = 100}, .environment = w->name};

        for (int i = 0; i < w->n; i++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_memory *m = NULL;
                brig_memory_report rep;
                cJSON *sc = NULL;
                char json[200];
                snprintf(json, sizeof(json),
                         "{\"command\": \"insert\", \"path\": \"/memories/log.md\", \"insert_line\": 0, "
                         "\"insert_text\": \"%s %d\"}",
                         w->name, i);
                cJSON *args = cJSON_Parse(json);
                if (brig_memory_open(w->dir, &m, &err) < 0 ||
                    brig_memory_call(m, "memory", args, &ctx, &sc, &rep, &err) < 0)
                        w->failures++;
                cJSON_Delete(sc);
                cJSON_Delete(args);
                brig_memory_free(m);
        }
        return NULL;
}

/* Two environments writing one scope at once: every write lands, none is lost to a lost update. */
static void test_memory__concurrent_writers_serialise(void **state) {
        fixture *f = *state;
        writer a = {f->dir, "envA", 20, 0}, b = {f->dir, "envB", 20, 0};
        pthread_t ta, tb;
        _cleanup_free_ char *text = NULL;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/log.md', 'file_text': ''}", NULL);
        assert_int_equal(pthread_create(&ta, NULL, write_loop, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, write_loop, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_int_equal(a.failures + b.failures, 0);
        text = content(f, "log.md");
        int lines = 0;
        for (char *c = text; *c; c++)
                lines += *c == '\n';
        assert_int_equal(lines, 40);
        assert_non_null(strstr(text, "envA 19\n"));
        assert_non_null(strstr(text, "envB 19\n"));
}

/* Runs tool with args (as run()) and returns its structured content; fails the test when the call fails. */
static cJSON *call_sc(fixture *f, const char *tool, const char *args_sq) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *sc = NULL;

        if (call_json(f, tool, args_sq, &sc, NULL, &err) < 0)
                fail_msg("%s %s: %s", tool, args_sq, err.msg);
        return sc;
}

/* The path of search result i, or "" when there is none. */
static const char *hit_path(const cJSON *sc, int i) {
        const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sc, "results"), i);
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hit, "path"));
        return p ? p : "";
}

static void test_memory__search_ranks_passages(void **state) {
        fixture *f = *state;

        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/build.md', 'file_text': 'The project builds with "
           "meson.\n\n"
           "Cats are not involved.\nNot at all.\n'}",
           NULL);
        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/tools/meson.md', 'file_text': 'meson setup, then meson "
           "compile: meson'}",
           NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/other.md', 'file_text': 'nothing here'}",
           NULL);

        _cleanup_json_ cJSON *sc = call_sc(f, "memory_search", "{'query': 'meson'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sc, "results")), 2);
        /* BM25: the passage that says it three times in fewer words ranks first. */
        assert_string_equal(hit_path(sc, 0), "/memories/tools/meson.md");
        assert_string_equal(hit_path(sc, 1), "/memories/build.md");
        const cJSON *second = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sc, "results"), 1);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(second, "text")),
                            "The project builds with meson.\n");
        assert_null(cJSON_GetObjectItemCaseSensitive(second, "flags"));

        /* A passage is a paragraph: the second one of build.md, from its line 3. */
        _cleanup_json_ cJSON *cats = call_sc(f, "memory_search", "{'query': 'cat'}");
        const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cats, "results"), 0);
        assert_string_equal(hit_path(cats, 0), "/memories/build.md");
        assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(hit, "line")), 3);
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cats, "result")),
                               "/memories/build.md (line 3)\nCats are not involved.\nNot at all.\n"));

        _cleanup_json_ cJSON *one = call_sc(f, "memory_search", "{'query': 'meson', 'limit': 1}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "results")), 1);

        /* Any text is a valid query: FTS5's syntax is quoted away. */
        _cleanup_json_ cJSON *odd = call_sc(f, "memory_search", "{'query': 'AND (\\'meson NEAR( * :'}");
        assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(odd, "results")));
        fails(f, "memory_search", "{'query': '  '}", "arguments.query: give at least one word");
        fails(f, "memory_search", "{'query': 'meson', 'limit': 0}", "arguments.limit: expected 1 to 50");
        fails(f, "memory_search", "{'query': 'meson', 'limit': 51}",
              "arguments.limit: expected an integer from 0 to 50");
        fails(f, "memory_search",
              "{'query': 'a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7'}",
              "arguments.query: more than 32 words");
        fails(f, "memory_search", "{'query': 'meson', 'path': '/memories'}",
              "arguments.path: unknown field");
}

static void copy_file(const char *from, const char *to) {
        char buf[4096];
        size_t n;
        FILE *in = fopen(from, "rbe"), *out = fopen(to, "wbe");

        assert_non_null(in);
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        assert_int_equal(fclose(out), 0);
}

/* Closes the store, deletes its search index and opens it again. */
static void reopen_without_index(fixture *f) {
        char path[256];
        brig_error err = BRIG_ERROR_INIT;

        brig_memory_free(f->m);
        f->m = NULL;
        snprintf(path, sizeof(path), "%s/index.sqlite", f->dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(brig_memory_open(f->dir, &f->m, &err), 0);
}

/* The feedback counts of the file at path, as view reports them ("" when none). */
static const char *feedback_in_view(fixture *f, const char *path) {
        static char out[128];
        char args[256];

        snprintf(args, sizeof(args), "{'command': 'view', 'path': '%s'}", path);
        _cleanup_json_ cJSON *sc = call_sc(f, "memory", args);
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(sc, "feedback");
        if (!fb)
                return "";
        snprintf(out, sizeof(out), "helpful %d wrong %d stale %d",
                 cJSON_GetObjectItemCaseSensitive(fb, "helpful")->valueint,
                 cJSON_GetObjectItemCaseSensitive(fb, "wrong")->valueint,
                 cJSON_GetObjectItemCaseSensitive(fb, "stale")->valueint);
        return out;
}

/* Feedback follows a rename, of a file or of a directory, and a file created at the old path starts
 * without it; the same when the index is rebuilt from the repository. */
static void test_memory__feedback_follows_a_rename(void **state) {
        fixture *f = *state;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'alpha'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/d/x.md', 'file_text': 'xray'}", NULL);
        ok(f, "memory_feedback", "{'path': '/memories/a.md', 'outcome': 'wrong'}", NULL);
        ok(f, "memory_feedback", "{'path': '/memories/d/x.md', 'outcome': 'stale'}", NULL);
        ok(f, "memory", "{'command': 'rename', 'old_path': '/memories/a.md', 'new_path': '/memories/b.md'}",
           NULL);
        ok(f, "memory", "{'command': 'rename', 'old_path': '/memories/d', 'new_path': '/memories/e'}", NULL);
        ok(f, "memory_feedback", "{'path': '/memories/b.md', 'outcome': 'helpful'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'new alpha'}", NULL);
        for (int pass = 0; pass < 2; pass++) {
                assert_string_equal(feedback_in_view(f, "/memories/b.md"), "helpful 1 wrong 1 stale 0");
                assert_string_equal(feedback_in_view(f, "/memories/e/x.md"), "helpful 0 wrong 0 stale 1");
                assert_string_equal(feedback_in_view(f, "/memories/a.md"), "");
                _cleanup_json_ cJSON *sc = call_sc(f, "memory_search", "{'query': 'xray'}");
                const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sc, "results"), 0);
                assert_string_equal(hit_path(sc, 0), "/memories/e/x.md");
                assert_non_null(cJSON_GetObjectItemCaseSensitive(hit, "flags"));
                /* The rename says where it went. */
                _cleanup_json_ cJSON *log = call_sc(f, "memory_history", "{'path': '/memories/e'}");
                const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(log, "versions"), 0);
                assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "new_path")),
                                    "/memories/e");
                /* Again with the index rebuilt from the repository. */
                reopen_without_index(f);
        }
}

/* The index is derived state: deleted, damaged or behind, it is rebuilt or caught up from the repository. */
static void test_memory__search_index_is_rebuilt(void **state) {
        fixture *f = *state;
        char path[256];
        brig_error err = BRIG_ERROR_INIT;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'alpha gamma'}", NULL);
        ok(f, "memory_feedback", "{'path': '/memories/a.md', 'outcome': 'stale'}", NULL);
        reopen_without_index(f);
        snprintf(path, sizeof(path), "%s/index.sqlite", f->dir);
        /* A write with no index: its usage is measured from the tree, then the index is rebuilt. */
        ok(f, "memory", "{'command': 'create', 'path': '/memories/b.md', 'file_text': 'beta gamma'}", NULL);
        _cleanup_json_ cJSON *sc = call_sc(f, "memory_search", "{'query': 'alpha'}");
        assert_string_equal(hit_path(sc, 0), "/memories/a.md");
        const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sc, "results"), 0);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(hit, "flags"));

        /* Damaged: thrown away and rebuilt. */
        brig_memory_free(f->m);
        f->m = NULL;
        FILE *junk = fopen(path, "we");
        assert_non_null(junk);
        fputs("this is not a database, not even close to one; SQLite reads its header and says so.", junk);
        fclose(junk);
        assert_int_equal(brig_memory_open(f->dir, &f->m, &err), 0);
        _cleanup_json_ cJSON *again = call_sc(f, "memory_search", "{'query': 'gamma', 'limit': 5}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(again, "results")), 2);

        /* Behind (an older copy of the index comes back): caught up by diffing trees before the search. */
        char saved[300];
        snprintf(saved, sizeof(saved), "%s.saved", path);
        brig_memory_free(f->m);
        f->m = NULL;
        copy_file(path, saved);
        assert_int_equal(brig_memory_open(f->dir, &f->m, &err), 0);
        ok(f, "memory", "{'command': 'delete', 'path': '/memories/a.md'}", NULL);
        brig_memory_free(f->m);
        f->m = NULL;
        assert_int_equal(rename(saved, path), 0);
        assert_int_equal(brig_memory_open(f->dir, &f->m, &err), 0);
        _cleanup_json_ cJSON *gone = call_sc(f, "memory_search", "{'query': 'alpha'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gone, "results")), 0);
        _cleanup_json_ cJSON *kept = call_sc(f, "memory_search", "{'query': 'beta'}");
        assert_string_equal(hit_path(kept, 0), "/memories/b.md");
}

static void test_memory__feedback_changes_ranking_and_flags(void **state) {
        fixture *f = *state;

        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/deploy.md', 'file_text': 'deploy with make deploy'}",
           NULL);
        ok(f, "memory",
           "{'command': 'create', 'path': '/memories/old.md', 'file_text': 'deploy by hand, then deploy "
           "again "
           "and check'}",
           NULL);
        _cleanup_json_ cJSON *before = call_sc(f, "memory_search", "{'query': 'deploy'}");
        assert_string_equal(hit_path(before, 0), "/memories/deploy.md");

        fails(f, "memory_feedback", "{'path': '/memories/none.md', 'outcome': 'wrong'}",
              "The path /memories/none.md does not exist. Please provide a valid path.");
        fails(f, "memory_feedback", "{'path': '/memories/deploy.md', 'outcome': 'bad'}",
              "arguments.outcome: expected helpful, wrong or stale");
        _cleanup_json_ cJSON *fb =
                call_sc(f, "memory_feedback",
                        "{'path': '/memories/deploy.md', 'outcome': 'wrong', 'note': 'no make'}");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(fb, "version"));

        /* wrong sinks it below the other one, and flags it in search and view. */
        _cleanup_json_ cJSON *after = call_sc(f, "memory_search", "{'query': 'deploy'}");
        assert_string_equal(hit_path(after, 0), "/memories/old.md");
        assert_string_equal(hit_path(after, 1), "/memories/deploy.md");
        const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(after, "results"), 1);
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(hit, "flags");
        assert_int_equal(cJSON_GetArraySize(flags), 1);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(flags, 0)), "wrong");
        _cleanup_json_ cJSON *view =
                call_sc(f, "memory", "{'command': 'view', 'path': '/memories/deploy.md'}");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(view, "flags"));
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(view, "result")),
                               "[feedback: reported wrong 1, stale 0, helpful 0 time(s)"));

        /* helpful raises the other one back: three helpful reports outweigh one wrong. */
        for (int i = 0; i < 3; i++)
                ok(f, "memory_feedback", "{'path': '/memories/deploy.md', 'outcome': 'helpful'}", NULL);
        _cleanup_json_ cJSON *risen = call_sc(f, "memory_search", "{'query': 'deploy'}");
        assert_string_equal(hit_path(risen, 0), "/memories/deploy.md");

        /* Each report is an attributed version that changes no file, in the history of the file it is
         * about (and only there). */
        _cleanup_json_ cJSON *log = call_sc(f, "memory_history", "{'path': '/memories/deploy.md'}");
        const cJSON *versions = cJSON_GetObjectItemCaseSensitive(log, "versions");
        assert_int_equal(cJSON_GetArraySize(versions), 5);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetArrayItem(versions, 3), "feedback")),
                            "wrong");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetArrayItem(versions, 4), "command")),
                            "create");
        _cleanup_json_ cJSON *other = call_sc(f, "memory_history", "{'path': '/memories/old.md'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(other, "versions")), 1);
        _cleanup_json_ cJSON *all = call_sc(f, "memory_history", "{}");
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(all, "versions"), 3);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "feedback")),
                            "wrong");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "environment")),
                            "envA");

        f->ctx.read_only = true;
        fails(f, "memory_feedback", "{'path': '/memories/deploy.md', 'outcome': 'stale'}",
              "the memory is read-only for this environment (policy memory.mode)");
}

static void test_memory__view_attribution(void **state) {
        fixture *f = *state;
        const char *view = "{'command': 'view', 'path': '/memories/a.md'}";
        _cleanup_free_ char *plain = NULL;

        ok(f, "memory", "{'command': 'create', 'path': '/memories/a.md', 'file_text': 'one\ntwo\n'}", NULL);
        f->ctx.environment = "envB";
        f->ctx.call_id = "9";
        ok(f, "memory",
           "{'command': 'insert', 'path': '/memories/a.md', 'insert_line': 2, 'insert_text': 'three'}",
           NULL);
        /* By default view is the convention's text, nothing more. */
        assert_int_equal(run(f, "memory", view, &plain, NULL), 0);
        assert_string_equal(plain, "Here's the content of /memories/a.md with line numbers:\n"
                                   "     1\tone\n     2\ttwo\n     3\tthree\n");

        _cleanup_json_ cJSON *sc =
                call_sc(f, "memory", "{'command': 'view', 'path': '/memories/a.md', 'attribution': true}");
        const cJSON *hunks = cJSON_GetObjectItemCaseSensitive(sc, "attribution");
        assert_int_equal(cJSON_GetArraySize(hunks), 2);
        const cJSON *a = cJSON_GetArrayItem(hunks, 0), *b = cJSON_GetArrayItem(hunks, 1);
#define FIELD(o, k) cJSON_GetObjectItemCaseSensitive(o, k)
        assert_int_equal(cJSON_GetNumberValue(FIELD(a, "start_line")), 1);
        assert_int_equal(cJSON_GetNumberValue(FIELD(a, "lines")), 2);
        assert_string_equal(cJSON_GetStringValue(FIELD(a, "environment")), "envA");
        assert_string_equal(cJSON_GetStringValue(FIELD(a, "command")), "create");
        assert_int_equal(cJSON_GetNumberValue(FIELD(b, "start_line")), 3);
        assert_string_equal(cJSON_GetStringValue(FIELD(b, "environment")), "envB");
        assert_string_equal(cJSON_GetStringValue(FIELD(b, "call_id")), "9");
#undef FIELD
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "result")),
                               "\nWho wrote it:\nlines 1-2: version "));

        /* With view_range, only those lines. */
        _cleanup_json_ cJSON *part = call_sc(
                f, "memory",
                "{'command': 'view', 'path': '/memories/a.md', 'view_range': [3, 3], 'attribution': true}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(part, "attribution")), 1);
}

/* The usage the index caches follows deletes and renames: the bounds hold as when measured. */
static void test_memory__usage_cache_follows_changes(void **state) {
        fixture *f = *state;

        f->ctx.limits.max_files = 2;
        f->ctx.limits.max_bytes = 10;
        ok(f, "memory", "{'command': 'create', 'path': '/memories/a', 'file_text': '12345'}", NULL);
        ok(f, "memory", "{'command': 'create', 'path': '/memories/b', 'file_text': '1234'}", NULL);
        fails(f, "memory", "{'command': 'create', 'path': '/memories/c', 'file_text': ''}",
              "the memory would hold 3 files, over memory.max_files (2)");
        ok(f, "memory", "{'command': 'delete', 'path': '/memories/a'}", NULL);
        ok(f, "memory", "{'command': 'rename', 'old_path': '/memories/b', 'new_path': '/memories/d/b'}",
           NULL);
        fails(f, "memory", "{'command': 'create', 'path': '/memories/c', 'file_text': '1234567'}",
              "the memory would hold 11 bytes, over memory.max_bytes (10)");
        ok(f, "memory", "{'command': 'create', 'path': '/memories/c', 'file_text': '123456'}", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_memory__path_rules),
                cmocka_unit_test(test_memory__scope_dirs),
                cmocka_unit_test_setup_teardown(test_memory__create_and_view, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__str_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__insert, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__delete_and_rename, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__stored_paths_keep_the_path_rules, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_memory__read_only_refuses_writes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__limits_are_checked_before_writing, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_memory__commits_carry_provenance, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__history_and_restore, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__concurrent_writers_serialise, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__search_ranks_passages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__search_index_is_rebuilt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__feedback_follows_a_rename, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__feedback_changes_ranking_and_flags, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_memory__view_attribution, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory__usage_cache_follows_changes, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
