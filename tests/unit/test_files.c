/* SPDX-License-Identifier: MIT */
/* Unit tests for the workspace file tools (tools/files*.c) on a real filesystem in a temp dir: each tool's
 * results and error paths with their messages, edit matching and diff shape, atomic writes, symlinks that
 * are never written through, read_only, bounds, and the text renderings. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files.h"
#include "tools/registry.h"

typedef struct fixture {
        char top[64];
        char ws[96], outside[96];
        int root_fd;
        int fds_before;
        brig_files_ctx ctx;
} fixture;

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

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
        if (!o)
                print_error("bad test JSON: %s\n", text);
        assert_non_null(o);
        return o;
}

static void put(fixture *f, const char *path, const char *text) {
        _cleanup_close_ int fd = openat(f->root_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

/* Contents of a workspace file (NULL if absent). Caller frees. */
static char *get(fixture *f, const char *path) {
        _cleanup_close_ int fd = openat(f->root_fd, path, O_RDONLY | O_CLOEXEC);
        char *data = NULL;
        size_t len = 0;
        FILE *m;
        char buf[4096];
        ssize_t n;

        if (fd < 0)
                return NULL;
        m = open_memstream(&data, &len);
        assert_non_null(m);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                assert_int_equal(fwrite(buf, 1, (size_t) n, m), (size_t) n);
        fclose(m);
        return data;
}

static bool exists(fixture *f, const char *path) {
        struct stat st;
        return fstatat(f->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static mode_t mode_of(fixture *f, const char *path) {
        struct stat st;
        assert_int_equal(fstatat(f->root_fd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
        return st.st_mode & 07777;
}

/* No temp file of an atomic write is left in dir. */
static void assert_no_temp_files(fixture *f, const char *dir) {
        _cleanup_close_ int fd = openat(f->root_fd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;

        assert_true(fd >= 0);
        d = fdopendir(TAKE_FD(fd));
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".brig-", 6) == 0)
                        fail_msg("temp file %s left in '%s'", de->d_name, dir);
        closedir(d);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        _cleanup_close_ int top = -1;

        assert_non_null(f);
        f->fds_before = count_fds();
        strcpy(f->top, "/tmp/brig-files-XXXXXX");
        assert_non_null(mkdtemp(f->top));
        (void) snprintf(f->ws, sizeof(f->ws), "%s/ws", f->top);
        (void) snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
        assert_int_equal(mkdir(f->ws, 0755), 0);
        assert_int_equal(mkdir(f->outside, 0755), 0);
        top = open(f->outside, O_PATH | O_DIRECTORY | O_CLOEXEC);
        {
                _cleanup_close_ int fd = openat(top, "secret", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, "secret needle\n", 14), 14);
        }
        f->root_fd = open(f->ws, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->root_fd >= 0);
        f->ctx = (brig_files_ctx){.root_fd = f->root_fd,
                                  .uid = (uid_t) -1,
                                  .gid = (gid_t) -1,
                                  .max_read = 1 << 20,
                                  .max_write = 1 << 20,
                                  .max_results = 100};
        assert_int_equal(symlinkat("../outside", f->root_fd, "out"), 0);
        assert_int_equal(symlinkat("../outside/secret", f->root_fd, "outfile"), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        close(f->root_fd);
        assert_int_equal(brig_rm_rf(f->top), 0);
        assert_int_equal(count_fds(), f->fds_before);
        free(f);
        return 0;
}

/* Calls tool and expects success; returns the result (caller frees). */
static cJSON *call_ok_report(fixture *f, const char *tool, const char *args, brig_files_report *report) {
        _cleanup_json_ cJSON *a = args ? json(args) : NULL;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_files_call(tool, &f->ctx, a, &res, report, &err);

        if (r < 0)
                print_error("%s %s: unexpected failure: %s\n", tool, args ? args : "", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(res);
        return res;
}

static cJSON *call_ok(fixture *f, const char *tool, const char *args) {
        return call_ok_report(f, tool, args, NULL);
}

/* Expects failure with code want and kind; msg, when given, must be the exact message. */
static void call_fails(fixture *f, const char *tool, const char *args, int want, brig_kind kind,
                       const char *msg) {
        _cleanup_json_ cJSON *a = args ? json(args) : NULL;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_files_call(tool, &f->ctx, a, &res, NULL, &err);

        if (r >= 0)
                print_error("%s %s: unexpected success\n", tool, args ? args : "");
        assert_int_equal(r, want);
        assert_null(res);
        assert_int_equal(err.code, want);
        if (err.kind != kind)
                print_error("%s: kind %s, want %s (%s)\n", tool, brig_kind_name(err.kind),
                            brig_kind_name(kind), err.msg);
        assert_int_equal(err.kind, kind);
        if (msg && strcmp(err.msg, msg) != 0) {
                print_error("message: %s\n   want: %s\n", err.msg, msg);
                fail();
        }
}

/* Like call_fails, with msg a substring of the message. */
static void call_fails_with(fixture *f, const char *tool, const char *args, int want, brig_kind kind,
                            const char *part) {
        _cleanup_json_ cJSON *a = json(args);
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_files_call(tool, &f->ctx, a, &res, NULL, &err);

        assert_int_equal(r, want);
        assert_int_equal(err.kind, kind);
        if (!strstr(err.msg, part)) {
                print_error("message: %s\n  lacks: %s\n", err.msg, part);
                fail();
        }
}

static const char *s_of(const cJSON *o, const char *key) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsString(it))
                fail_msg("member %s is not a string", key);
        return it->valuestring;
}

static double n_of(const cJSON *o, const char *key) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(it))
                fail_msg("member %s is not a number", key);
        return it->valuedouble;
}

static bool b_of(const cJSON *o, const char *key) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsBool(it))
                fail_msg("member %s is not a boolean", key);
        return cJSON_IsTrue(it);
}

/* The array member key as one string, items joined by "\n" ("path" of objects, or strings). */
static char *joined(const cJSON *o, const char *key) {
        const cJSON *it;
        brig_buf b = {0};

        cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(o, key)) {
                const char *s = cJSON_IsString(it) ? it->valuestring : s_of(it, "path");
                if (b.len)
                        assert_true(brig_buf_append(&b, "\n", 1) == 1);
                assert_true(brig_buf_append(&b, s, strlen(s)) >= 0);
        }
        return b.data ? b.data : strdup("");
}

/* Tool list and dispatch */

static void test_files__tool_list_and_names(void **state) {
        static const char *const names[] = {"read_file", "write_file",    "edit_file", "list_directory",
                                            "glob",      "grep",          "stat",      "move",
                                            "remove",    "make_directory"};

        (void) state;
        /* Each file tool has its registry entry, run on the files runner. */
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const brig_tool *t = brig_tool_find(names[i]);
                assert_non_null(t);
                assert_int_equal(t->runner, BRIG_TOOL_RUN_FILES);
                assert_true(strlen(t->description) > 20);
                assert_true(brig_files_is_tool(names[i]));
        }
        assert_false(brig_files_is_tool("exec"));
        assert_false(brig_files_is_tool(NULL));
        assert_true(brig_files_tool_mutates("write_file"));
        assert_true(brig_files_tool_mutates("edit_file"));
        assert_true(brig_files_tool_mutates("move"));
        assert_true(brig_files_tool_mutates("remove"));
        assert_true(brig_files_tool_mutates("make_directory"));
        assert_false(brig_files_tool_mutates("read_file"));
        assert_false(brig_files_tool_mutates("grep"));
        assert_false(brig_files_tool_mutates("nope"));
}

static void test_files__dispatch_errors(void **state) {
        fixture *f = *state;

        call_fails(f, "nope", "{}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "unknown tool 'nope'");
        call_fails(f, "read_file", "[1]", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments: expected an object, got array");
        call_fails(f, "read_file", "{}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "arguments.path: required");
        call_fails(f, "read_file", "{'path': 1}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.path: expected a string, got number");
        call_fails(f, "read_file", "{'path': 'a', 'pth': 1}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.pth: unknown field");
        /* NULL arguments mean {} */
        {
                _cleanup_json_ cJSON *res = call_ok(f, "list_directory", NULL);
                assert_false(b_of(res, "truncated"));
        }
}

/* read_file */

static void test_files__read_file_text_and_ranges(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *all = NULL, *mid = NULL, *num = NULL, *past = NULL, *nonl = NULL;
        brig_files_report report = {0};

        put(f, "a.txt", "one\ntwo\nthree\nfour\n");
        all = call_ok_report(f, "read_file", "{'path': 'a.txt'}", &report);
        assert_string_equal(s_of(all, "path"), "a.txt");
        assert_string_equal(s_of(all, "content"), "one\ntwo\nthree\nfour\n");
        assert_string_equal(s_of(all, "encoding"), "utf8");
        assert_int_equal(n_of(all, "total_lines"), 4);
        assert_int_equal(n_of(all, "size"), 19);
        assert_false(b_of(all, "truncated"));
        assert_string_equal(report.path, "a.txt");
        assert_int_equal(report.bytes, 19);
        assert_false(report.mutating);
        brig_files_report_done(&report);

        mid = call_ok(f, "read_file", "{'path': 'a.txt', 'offset': 2, 'limit': 2}");
        assert_string_equal(s_of(mid, "content"), "two\nthree\n");
        assert_true(b_of(mid, "truncated"));
        assert_int_equal(n_of(mid, "total_lines"), 4);

        num = call_ok(f, "read_file", "{'path': 'a.txt', 'offset': 3, 'line_numbers': true}");
        assert_string_equal(s_of(num, "content"), "     3\tthree\n     4\tfour\n");
        assert_false(b_of(num, "truncated"));

        past = call_ok(f, "read_file", "{'path': 'a.txt', 'offset': 10}");
        assert_string_equal(s_of(past, "content"), "");

        put(f, "b.txt", "x\ny");
        nonl = call_ok(f, "read_file", "{'path': 'b.txt', 'line_numbers': true}");
        assert_string_equal(s_of(nonl, "content"), "     1\tx\n     2\ty");
        assert_int_equal(n_of(nonl, "total_lines"), 2);
}

static void test_files__read_file_binary_as_base64(void **state) {
        fixture *f = *state;
        static const unsigned char bin[] = {'P', 'K', 0, 3, 0xff, 0xfe, '\n', 'z'};
        _cleanup_json_ cJSON *res = NULL, *forced = NULL;
        _cleanup_free_ unsigned char *dec = NULL;
        size_t n = 0;

        {
                _cleanup_close_ int fd = openat(f->root_fd, "bin", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_int_equal(write(fd, bin, sizeof(bin)), (ssize_t) sizeof(bin));
        }
        res = call_ok(f, "read_file", "{'path': 'bin'}");
        assert_string_equal(s_of(res, "encoding"), "base64");
        const char *b64 = s_of(res, "content");
        assert_int_equal(brig_base64_decode(b64, strlen(b64), &dec, &n), (int) sizeof(bin));
        assert_memory_equal(dec, bin, sizeof(bin));
        assert_int_equal(n_of(res, "size"), sizeof(bin));

        call_fails(f, "read_file", "{'path': 'bin', 'encoding': 'utf8'}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT,
                   "path 'bin' is not UTF-8 text (or contains NUL bytes); read it with encoding \"base64\"");
        put(f, "t.txt", "hi\n");
        forced = call_ok(f, "read_file", "{'path': 't.txt', 'encoding': 'base64'}");
        assert_string_equal(s_of(forced, "content"), "aGkK");
        call_fails(f, "read_file", "{'path': 't.txt', 'encoding': 'base64', 'offset': 1}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT, "arguments.offset: not available with encoding \"base64\"");
        call_fails(f, "read_file", "{'path': 't.txt', 'encoding': 'latin1'}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT, "arguments.encoding: expected \"utf8\" or \"base64\"");
}

static void test_files__read_file_limit(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *part = NULL;
        char line[64];
        brig_buf b = {0};

        for (int i = 1; i <= 100; i++) {
                int n = snprintf(line, sizeof(line), "line %03d 0123456789\n", i);
                assert_true(brig_buf_append(&b, line, (size_t) n) == n);
        }
        put(f, "big.txt", b.data);
        f->ctx.max_read = 1000;
        call_fails(f, "read_file", "{'path': 'big.txt'}", -EFBIG, BRIG_KIND_LIMIT,
                   "path 'big.txt' is 2000 bytes, over the read limit of 1000 bytes; read a line range with "
                   "offset and limit");
        /* A line range that fits is read, and stops early. */
        part = call_ok(f, "read_file", "{'path': 'big.txt', 'offset': 50, 'limit': 2}");
        assert_string_equal(s_of(part, "content"), "line 050 0123456789\nline 051 0123456789\n");
        assert_true(b_of(part, "truncated"));
        assert_null(cJSON_GetObjectItem(part, "total_lines"));
        call_fails_with(f, "read_file", "{'path': 'big.txt', 'offset': 1, 'limit': 90}", -EFBIG,
                        BRIG_KIND_LIMIT, "over the read limit of 1000 bytes; ask for fewer lines");
        brig_buf_done(&b);
}

static void test_files__read_file_errors(void **state) {
        fixture *f = *state;

        assert_int_equal(mkdirat(f->root_fd, "d", 0755), 0);
        call_fails(f, "read_file", "{'path': 'nope'}", -ENOENT, BRIG_KIND_NOT_FOUND,
                   "path 'nope' does not exist");
        call_fails(f, "read_file", "{'path': 'd'}", -EISDIR, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'd' is a directory; use list_directory");
        call_fails(f, "read_file", "{'path': '../outside/secret'}", -EXDEV, BRIG_KIND_DENIED,
                   "path '../outside/secret' escapes the workspace");
        call_fails(f, "read_file", "{'path': 'outfile'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "read_file", "{'path': 'out/secret'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "read_file", "{'path': '/etc/passwd'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "path '/etc/passwd' is absolute; paths are relative to the workspace root");
        call_fails(f, "read_file", "{'path': 'a', 'offset': 0}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.offset: lines are numbered from 1");
        call_fails(f, "read_file", "{'path': 'a', 'limit': 0}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.limit: must be at least 1");
        call_fails(f, "read_file", "{'path': 'a', 'offset': -1}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT, NULL);
        /* A FIFO is refused without blocking. */
        assert_int_equal(mkfifoat(f->root_fd, "fifo", 0644), 0);
        call_fails(f, "read_file", "{'path': 'fifo'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'fifo' is not a regular file");
        /* A link inside is followed for reads. */
        put(f, "real.txt", "real\n");
        assert_int_equal(symlinkat("real.txt", f->root_fd, "alias"), 0);
        {
                _cleanup_json_ cJSON *res = call_ok(f, "read_file", "{'path': 'alias'}");
                assert_string_equal(s_of(res, "content"), "real\n");
        }
}

/* write_file */

static void test_files__write_file_creates_and_replaces(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_free_ char *c1 = NULL, *c2 = NULL, *c3 = NULL;
        brig_files_report report = {0};
        struct stat before, after;

        f->ctx.fsync = true;
        r1 = call_ok_report(f, "write_file", "{'path': 'new.txt', 'content': 'hello\\n'}", &report);
        assert_string_equal(s_of(r1, "path"), "new.txt");
        assert_int_equal(n_of(r1, "bytes"), 6);
        assert_true(b_of(r1, "created"));
        assert_true(report.mutating);
        assert_int_equal(report.bytes, 6);
        brig_files_report_done(&report);
        assert_string_equal(c1 = get(f, "new.txt"), "hello\n");
        assert_int_equal(mode_of(f, "new.txt"), 0644);

        /* Replacing keeps the mode, and is a new inode renamed into place. */
        assert_int_equal(fchmodat(f->root_fd, "new.txt", 0600, 0), 0);
        assert_int_equal(fstatat(f->root_fd, "new.txt", &before, 0), 0);
        r2 = call_ok(f, "write_file", "{'path': 'new.txt', 'content': 'bye'}");
        assert_false(b_of(r2, "created"));
        assert_string_equal(c2 = get(f, "new.txt"), "bye");
        assert_int_equal(mode_of(f, "new.txt"), 0600);
        assert_int_equal(fstatat(f->root_fd, "new.txt", &after, 0), 0);
        assert_int_not_equal(before.st_ino, after.st_ino);
        assert_no_temp_files(f, "");

        /* Parents are created by default. */
        r3 = call_ok(f, "write_file", "{'path': 'a/b/c.txt', 'content': '', 'mode': '0755'}");
        assert_string_equal(c3 = get(f, "a/b/c.txt"), "");
        assert_int_equal(mode_of(f, "a/b/c.txt"), 0755);
        assert_int_equal(mode_of(f, "a/b"), 0755);
        assert_no_temp_files(f, "a/b");
}

static void test_files__write_file_modes_and_encodings(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
        _cleanup_free_ char *c = NULL;

        r1 = call_ok(f, "write_file", "{'path': 'm1', 'content': 'x', 'mode': 420}");
        assert_int_equal(mode_of(f, "m1"), 0644);
        r2 = call_ok(f, "write_file",
                     "{'path': 'm2', 'content': 'aGkK', 'encoding': 'base64', 'mode': '700'}");
        assert_int_equal(mode_of(f, "m2"), 0700);
        assert_string_equal(c = get(f, "m2"), "hi\n");
        call_fails_with(f, "write_file", "{'path': 'm3', 'content': 'x', 'mode': '0999'}", -EINVAL,
                        BRIG_KIND_INVALID_ARGUMENT, "arguments.mode: expected an octal string");
        call_fails_with(f, "write_file", "{'path': 'm3', 'content': 'x', 'mode': 512}", -EINVAL,
                        BRIG_KIND_INVALID_ARGUMENT, "arguments.mode");
        call_fails_with(f, "write_file", "{'path': 'm3', 'content': 'x', 'mode': '04755'}", -EINVAL,
                        BRIG_KIND_INVALID_ARGUMENT, "arguments.mode");
        call_fails_with(f, "write_file", "{'path': 'm3', 'content': 'x', 'mode': true}", -EINVAL,
                        BRIG_KIND_INVALID_ARGUMENT, "got boolean");
        call_fails(f, "write_file", "{'path': 'm3', 'content': '!!!', 'encoding': 'base64'}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT, "arguments.content: invalid base64");
        call_fails(f, "write_file", "{'path': 'm3'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.content: required");
        assert_false(exists(f, "m3"));
}

static void test_files__write_file_refusals(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *c = NULL;
        char big[64];

        /* Through a final symlink: refused, whether the link points inside or outside. */
        put(f, "target.txt", "target\n");
        assert_int_equal(symlinkat("target.txt", f->root_fd, "link"), 0);
        call_fails(f, "write_file", "{'path': 'link', 'content': 'x'}", -ELOOP, BRIG_KIND_DENIED,
                   "path 'link' is a symbolic link; write_file does not write through links");
        call_fails(f, "write_file", "{'path': 'outfile', 'content': 'x'}", -ELOOP, BRIG_KIND_DENIED, NULL);
        assert_string_equal(c = get(f, "target.txt"), "target\n");
        /* Through a link in the parent that leads out: an escape. */
        call_fails(f, "write_file", "{'path': 'out/new', 'content': 'x'}", -EXDEV, BRIG_KIND_DENIED,
                   "path 'out/new' escapes the workspace");
        call_fails(f, "write_file", "{'path': '../x', 'content': 'x'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        assert_int_equal(access(f->outside, F_OK), 0);
        {
                char p[160];
                (void) snprintf(p, sizeof(p), "%s/new", f->outside);
                assert_int_equal(access(p, F_OK), -1);
                (void) snprintf(p, sizeof(p), "%s/secret", f->outside);
                FILE *s = fopen(p, "re");
                char buf[32] = {0};
                assert_non_null(s);
                assert_non_null(fgets(buf, sizeof(buf), s));
                fclose(s);
                assert_string_equal(buf, "secret needle\n");
        }
        assert_int_equal(mkdirat(f->root_fd, "dir", 0755), 0);
        call_fails(f, "write_file", "{'path': 'dir', 'content': 'x'}", -EISDIR, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'dir' is a directory");
        call_fails(f, "write_file", "{'path': 'nodir/x', 'content': 'x', 'create_parents': false}", -ENOENT,
                   BRIG_KIND_NOT_FOUND, "path 'nodir/x': parent directory does not exist");
        call_fails(f, "write_file", "{'path': 'target.txt/x', 'content': 'x'}", -ENOTDIR,
                   BRIG_KIND_INVALID_ARGUMENT, NULL);
        call_fails(f, "write_file", "{'path': '', 'content': 'x'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "path '' names the workspace root, not a file in it");
        call_fails(f, "write_file", "{'path': 'newdir/', 'content': 'x'}", -EISDIR,
                   BRIG_KIND_INVALID_ARGUMENT, "path 'newdir/' ends in '/'; name a file");
        assert_false(exists(f, "newdir"));
        /* Bounded by max_write. */
        f->ctx.max_write = 16;
        memset(big, 'a', sizeof(big));
        big[40] = 0;
        {
                char args[128];
                (void) snprintf(args, sizeof(args), "{'path': 'big', 'content': '%s'}", big);
                call_fails(f, "write_file", args, -EFBIG, BRIG_KIND_LIMIT,
                           "arguments.content: 40 bytes, over the write limit of 16 bytes");
        }
        assert_false(exists(f, "big"));
        assert_no_temp_files(f, "");
}

/* A write that fails half-way (RLIMIT_FSIZE) leaves neither a temp file nor a changed target. */
static void test_files__write_file_failure_leaves_no_temp(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *c = NULL;
        struct rlimit old, small = {.rlim_cur = 8, .rlim_max = 0};
        void (*prev)(int);

        put(f, "keep.txt", "original\n");
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        small.rlim_max = old.rlim_max;
        prev = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        call_fails_with(f, "write_file", "{'path': 'keep.txt', 'content': 'much longer than eight bytes'}",
                        -EFBIG, BRIG_KIND_IO, "path 'keep.txt'");
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        (void) signal(SIGXFSZ, prev);
        assert_string_equal(c = get(f, "keep.txt"), "original\n");
        assert_no_temp_files(f, "");
}

static void test_files__created_files_get_ctx_owner(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
        struct stat st;

        /* Needs root with those ids mapped (not so under `unshare -r`). */
        put(f, "probe", "");
        if (fchownat(f->root_fd, "probe", 4321, 4322, 0) < 0) {
                print_message("# cannot chown to 4321:4322 (%s): ownership not tested\n", strerror(errno));
                return;
        }
        f->ctx.uid = 4321;
        f->ctx.gid = 4322;
        r1 = call_ok(f, "write_file", "{'path': 'p/q/owned.txt', 'content': 'x'}");
        assert_int_equal(fstatat(f->root_fd, "p/q/owned.txt", &st, 0), 0);
        assert_int_equal(st.st_uid, 4321);
        assert_int_equal(st.st_gid, 4322);
        assert_int_equal(fstatat(f->root_fd, "p", &st, 0), 0);
        assert_int_equal(st.st_uid, 4321);
        r2 = call_ok(f, "make_directory", "{'path': 'mine'}");
        assert_int_equal(fstatat(f->root_fd, "mine", &st, 0), 0);
        assert_int_equal(st.st_uid, 4321);
        assert_int_equal(st.st_gid, 4322);
        /* edit_file keeps an existing file's owner */
        put(f, "root.txt", "a\n");
        f->ctx.uid = 1111;
        {
                _cleanup_json_ cJSON *r3 =
                        call_ok(f, "edit_file",
                                "{'path': 'root.txt', 'edits': [{'old_text': 'a', 'new_text': 'b'}]}");
                assert_non_null(r3);
                assert_int_equal(fstatat(f->root_fd, "root.txt", &st, 0), 0);
                assert_int_equal(st.st_uid, 0);
        }
}

/* edit_file */

static void test_files__edit_file_single_and_diff_shape(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *c = NULL, *text = NULL;
        brig_files_report report = {0};
        struct stat before, after;

        put(f, "code.c", "int main(void) {\n        return 1;\n}\n");
        assert_int_equal(fchmodat(f->root_fd, "code.c", 0640, 0), 0);
        assert_int_equal(fstatat(f->root_fd, "code.c", &before, 0), 0);
        res = call_ok_report(
                f, "edit_file",
                "{'path': 'code.c', 'edits': [{'old_text': 'return 1;', 'new_text': 'return 0;'}]}",
                &report);
        assert_string_equal(c = get(f, "code.c"), "int main(void) {\n        return 0;\n}\n");
        assert_int_equal(n_of(res, "replacements"), 1);
        assert_true(b_of(res, "applied"));
        assert_true(report.mutating);
        brig_files_report_done(&report);
        const char *diff = s_of(res, "diff");
        assert_true(strncmp(diff, "diff --git a/code.c b/code.c\n", 29) == 0);
        assert_non_null(strstr(diff, "\n--- a/code.c\n+++ b/code.c\n@@ -1,3 +1,3 @@"));
        assert_non_null(strstr(diff, "\n-        return 1;\n+        return 0;\n"));
        /* Mode kept, a new inode, no temp left */
        assert_int_equal(mode_of(f, "code.c"), 0640);
        assert_int_equal(fstatat(f->root_fd, "code.c", &after, 0), 0);
        assert_int_not_equal(before.st_ino, after.st_ino);
        assert_no_temp_files(f, "");
        text = brig_files_result_text("edit_file", res);
        assert_string_equal(text, diff);
}

static void test_files__edit_file_match_counts(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *c1 = NULL, *c2 = NULL;

        put(f, "t.txt", "foo bar foo\nbaz\n");
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': [{'old_text': 'nothere', 'new_text': 'x'}]}",
                   -ENOENT, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.edits[0] (counting from 0): old_text not found in 't.txt'");
        call_fails(
                f, "edit_file", "{'path': 't.txt', 'edits': [{'old_text': 'foo', 'new_text': 'x'}]}",
                -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                "arguments.edits[0] (counting from 0): old_text matches 2 times in 't.txt'; add context to "
                "make it unique, or set replace_all");
        assert_string_equal(c1 = get(f, "t.txt"), "foo bar foo\nbaz\n");
        res = call_ok(f, "edit_file",
                      "{'path': 't.txt', 'edits': [{'old_text': 'foo', 'new_text': 'quux', 'replace_all': "
                      "true}]}");
        assert_int_equal(n_of(res, "replacements"), 2);
        assert_string_equal(c2 = get(f, "t.txt"), "quux bar quux\nbaz\n");
}

static void test_files__edit_file_all_or_nothing(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *c1 = NULL, *c2 = NULL;

        put(f, "t.txt", "alpha\nbeta\ngamma\n");
        /* The second edit fails: the first is not applied either. */
        call_fails(f, "edit_file",
                   "{'path': 't.txt', 'edits': [{'old_text': 'alpha', 'new_text': 'ALPHA'},"
                   "{'old_text': 'delta', 'new_text': 'DELTA'}]}",
                   -ENOENT, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.edits[1] (counting from 0): old_text not found in 't.txt' after the edits "
                   "before it");
        assert_string_equal(c1 = get(f, "t.txt"), "alpha\nbeta\ngamma\n");
        /* Edits apply in order, each to the result of the ones before. */
        res = call_ok(f, "edit_file",
                      "{'path': 't.txt', 'edits': [{'old_text': 'alpha', 'new_text': 'one'},"
                      "{'old_text': 'one\\nbeta', 'new_text': 'two'}]}");
        assert_int_equal(n_of(res, "replacements"), 2);
        assert_string_equal(c2 = get(f, "t.txt"), "two\ngamma\n");
        assert_no_temp_files(f, "");
}

static void test_files__edit_file_dry_run_leaves_file(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *res = NULL, *ro = NULL;
        _cleanup_free_ char *c = NULL;
        brig_files_report report = {0};
        struct stat before, after;

        put(f, "t.txt", "keep me\n");
        assert_int_equal(fstatat(f->root_fd, "t.txt", &before, 0), 0);
        res = call_ok_report(
                f, "edit_file",
                "{'path': 't.txt', 'dry_run': true, 'edits': [{'old_text': 'keep', 'new_text': 'change'}]}",
                &report);
        assert_false(b_of(res, "applied"));
        assert_false(report.mutating);
        brig_files_report_done(&report);
        assert_non_null(strstr(s_of(res, "diff"), "-keep me\n+change me\n"));
        assert_string_equal(c = get(f, "t.txt"), "keep me\n");
        assert_int_equal(fstatat(f->root_fd, "t.txt", &after, 0), 0);
        assert_int_equal(before.st_ino, after.st_ino);
        /* A dry run is allowed under a read-only policy; the real edit is not. */
        f->ctx.read_only = true;
        ro = call_ok(f, "edit_file",
                     "{'path': 't.txt', 'dry_run': true, 'edits': [{'old_text': 'keep', 'new_text': 'x'}]}");
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': [{'old_text': 'keep', 'new_text': 'x'}]}",
                   -EPERM, BRIG_KIND_DENIED, "edit_file: the policy makes the workspace read-only");
}

static void test_files__edit_file_argument_errors(void **state) {
        fixture *f = *state;
        brig_buf args = {0};

        put(f, "t.txt", "abc\n");
        assert_int_equal(symlinkat("t.txt", f->root_fd, "tl"), 0);
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': [{'old_text': '', 'new_text': 'x'}]}",
                   -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "arguments.edits[0].old_text: must not be empty");
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': []}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.edits: must hold at least one edit");
        call_fails(f, "edit_file", "{'path': 't.txt'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.edits: required");
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': [{'old_text': 'a'}]}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT, "arguments.edits[0].new_text: required");
        call_fails(f, "edit_file",
                   "{'path': 't.txt', 'edits': [{'old_text': 'a', 'new_text': 'b', 'x': 1}]}", -EINVAL,
                   BRIG_KIND_INVALID_ARGUMENT, "arguments.edits[0].x: unknown field");
        call_fails(f, "edit_file", "{'path': 't.txt', 'edits': [1]}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.edits[0]: expected an object, got number");
        call_fails(f, "edit_file", "{'path': 'tl', 'edits': [{'old_text': 'a', 'new_text': 'b'}]}", -ELOOP,
                   BRIG_KIND_DENIED, "path 'tl' is a symbolic link; edit_file does not write through links");
        call_fails(f, "edit_file", "{'path': 'outfile', 'edits': [{'old_text': 'secret', 'new_text': 'b'}]}",
                   -ELOOP, BRIG_KIND_DENIED, NULL);
        call_fails(f, "edit_file",
                   "{'path': 'out/secret', 'edits': [{'old_text': 'secret', 'new_text': 'b'}]}", -EXDEV,
                   BRIG_KIND_DENIED, NULL);
        call_fails(f, "edit_file", "{'path': 'none', 'edits': [{'old_text': 'a', 'new_text': 'b'}]}",
                   -ENOENT, BRIG_KIND_NOT_FOUND, "path 'none' does not exist");
        /* At most 100 edits. */
        assert_true(brig_buf_append(&args, "{'path': 't.txt', 'edits': [", 28) == 28);
        for (int i = 0; i <= 100; i++) {
                const char *e =
                        i ? ",{'old_text': 'a', 'new_text': 'a'}" : "{'old_text': 'a', 'new_text': 'a'}";
                assert_true(brig_buf_append(&args, e, strlen(e)) >= 0);
        }
        assert_true(brig_buf_append(&args, "]}", 2) == 2);
        call_fails(f, "edit_file", args.data, -E2BIG, BRIG_KIND_LIMIT,
                   "arguments.edits: more than 100 edits");
        brig_buf_done(&args);
        /* The result is bounded by max_write. */
        f->ctx.max_write = 10;
        call_fails(f, "edit_file",
                   "{'path': 't.txt', 'edits': [{'old_text': 'abc', 'new_text': 'abcdefghijklmnop'}]}",
                   -EFBIG, BRIG_KIND_LIMIT,
                   "arguments.edits[0]: the file would grow over the write limit of 10 bytes");
        assert_no_temp_files(f, "");
}

/* list_directory */

static void test_files__list_directory(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *d1 = NULL, *d2 = NULL, *sub = NULL, *cut = NULL;
        _cleanup_free_ char *j1 = NULL, *j2 = NULL, *j3 = NULL, *text = NULL;
        const cJSON *e;

        assert_int_equal(mkdirat(f->root_fd, "src", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "src/lib", 0755), 0);
        put(f, "src/main.c", "int x;\n");
        put(f, "src/lib/a.c", "");
        put(f, "README", "readme\n");
        put(f, ".hidden", "");

        d1 = call_ok(f, "list_directory", "{}");
        assert_string_equal(j1 = joined(d1, "entries"), ".hidden\nREADME\nout\noutfile\nsrc");
        assert_false(b_of(d1, "truncated"));
        cJSON_ArrayForEach (e, cJSON_GetObjectItem(d1, "entries")) {
                if (strcmp(s_of(e, "path"), "README") == 0) {
                        assert_string_equal(s_of(e, "type"), "file");
                        assert_int_equal(n_of(e, "size"), 7);
                }
                if (strcmp(s_of(e, "path"), "out") == 0)
                        assert_string_equal(s_of(e, "type"), "symlink");
                if (strcmp(s_of(e, "path"), "src") == 0)
                        assert_string_equal(s_of(e, "type"), "directory");
        }
        /* Depth 3: sorted within each directory, links never followed (nothing of outside/ shows). */
        d2 = call_ok(f, "list_directory", "{'path': '.', 'depth': 3}");
        assert_string_equal(j2 = joined(d2, "entries"),
                            ".hidden\nREADME\nout\noutfile\nsrc\nsrc/lib\nsrc/lib/a.c\nsrc/main.c");
        sub = call_ok(f, "list_directory", "{'path': 'src/'}");
        assert_string_equal(j3 = joined(sub, "entries"), "src/lib\nsrc/main.c");
        text = brig_files_result_text("list_directory", sub);
        assert_string_equal(text, "src/lib/\nsrc/main.c\n");

        f->ctx.max_results = 2;
        cut = call_ok(f, "list_directory", "{'depth': 2}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cut, "entries")), 2);
        assert_true(b_of(cut, "truncated"));

        call_fails(f, "list_directory", "{'depth': 0}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.depth: expected an integer from 1 to 10");
        call_fails(f, "list_directory", "{'depth': 11}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.depth: expected an integer from 1 to 10");
        call_fails(f, "list_directory", "{'path': 'README'}", -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'README': not a directory");
        call_fails(f, "list_directory", "{'path': 'out'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "list_directory", "{'path': '..'}", -EXDEV, BRIG_KIND_DENIED, NULL);
}

/* glob */

static void test_files__glob(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *g1 = NULL, *g2 = NULL, *g3 = NULL, *g4 = NULL, *g5 = NULL, *g6 = NULL,
                             *g7 = NULL;
        _cleanup_free_ char *j1 = NULL, *j2 = NULL, *j3 = NULL, *j4 = NULL, *j5 = NULL, *j6 = NULL,
                            *t = NULL;

        assert_int_equal(mkdirat(f->root_fd, "src", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "src/a", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "src/a/b", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, ".git", 0755), 0);
        put(f, "top.c", "");
        put(f, "src/x.c", "");
        put(f, "src/x.h", "");
        put(f, "src/a/y.c", "");
        put(f, "src/a/b/z.c", "");
        put(f, "src/.dot.c", "");
        put(f, ".git/cfg.c", "");
        /* A symlinked directory is not descended into. */
        assert_int_equal(symlinkat("src", f->root_fd, "srclink"), 0);
        put(f, "../outside/evil.c", "");

        g1 = call_ok(f, "glob", "{'pattern': '**/*.c'}");
        assert_string_equal(j1 = joined(g1, "matches"), "src/a/b/z.c\nsrc/a/y.c\nsrc/x.c\ntop.c");
        assert_false(b_of(g1, "truncated"));
        g2 = call_ok(f, "glob", "{'pattern': '*.c'}");
        assert_string_equal(j2 = joined(g2, "matches"), "top.c");
        g3 = call_ok(f, "glob", "{'pattern': 'src/**'}");
        assert_string_equal(j3 = joined(g3, "matches"),
                            "src/a\nsrc/a/b\nsrc/a/b/z.c\nsrc/a/y.c\nsrc/x.c\nsrc/x.h");
        g4 = call_ok(f, "glob", "{'pattern': 'src/*/*.c'}");
        assert_string_equal(j4 = joined(g4, "matches"), "src/a/y.c");
        /* Hidden names match when the pattern names them; a base path prefixes results. */
        g5 = call_ok(f, "glob", "{'pattern': '.*.c', 'path': 'src'}");
        assert_string_equal(j5 = joined(g5, "matches"), "src/.dot.c");
        g6 = call_ok(f, "glob", "{'pattern': 'src/[xy].?'}");
        assert_string_equal(j6 = joined(g6, "matches"), "src/x.c\nsrc/x.h");
        t = brig_files_result_text("glob", g6);
        assert_string_equal(t, "src/x.c\nsrc/x.h\n");

        f->ctx.max_results = 2;
        g7 = call_ok(f, "glob", "{'pattern': '**/*.c'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g7, "matches")), 2);
        assert_true(b_of(g7, "truncated"));

        call_fails(f, "glob", "{'pattern': '../*'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.pattern: must not contain '..'");
        call_fails(f, "glob", "{'pattern': '/etc/*'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.pattern: must be relative to the workspace root");
        call_fails(f, "glob", "{'pattern': ''}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.pattern: must not be empty");
        call_fails(f, "glob", "{'pattern': '*', 'path': 'out'}", -EXDEV, BRIG_KIND_DENIED, NULL);
}

/* grep */

static void test_files__grep(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL, *r6 = NULL;
        _cleanup_free_ char *j3 = NULL, *j4 = NULL, *text = NULL;
        const cJSON *m;

        assert_int_equal(mkdirat(f->root_fd, "src", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, ".git", 0755), 0);
        put(f, "src/a.c", "int needle;\nint other;\n/* NEEDLE */\n");
        put(f, "src/b.h", "needle in header\n");
        put(f, "notes.txt", "no match here\nneedle at line 2\r\n");
        put(f, ".git/config", "needle\n");
        {
                _cleanup_close_ int fd = openat(f->root_fd, "bin", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_int_equal(write(fd, "needle\0\n", 8), 8);
        }

        r1 = call_ok(f, "grep", "{'pattern': 'needle'}");
        m = cJSON_GetObjectItem(r1, "matches");
        assert_int_equal(cJSON_GetArraySize(m), 3);
        assert_string_equal(s_of(cJSON_GetArrayItem(m, 0), "path"), "notes.txt");
        assert_int_equal(n_of(cJSON_GetArrayItem(m, 0), "line"), 2);
        assert_string_equal(s_of(cJSON_GetArrayItem(m, 0), "text"), "needle at line 2");
        assert_string_equal(s_of(cJSON_GetArrayItem(m, 1), "path"), "src/a.c");
        assert_int_equal(n_of(cJSON_GetArrayItem(m, 1), "line"), 1);
        assert_string_equal(s_of(cJSON_GetArrayItem(m, 2), "path"), "src/b.h");
        /* notes.txt, src/a.c, src/b.h; bin is binary, .git skipped, links not followed */
        assert_int_equal(n_of(r1, "files_searched"), 3);
        assert_false(b_of(r1, "truncated"));
        text = brig_files_result_text("grep", r1);
        assert_string_equal(
                text, "notes.txt:2:needle at line 2\nsrc/a.c:1:int needle;\nsrc/b.h:1:needle in header\n");

        r2 = call_ok(f, "grep", "{'pattern': 'NEEDLE', 'ignore_case': true, 'glob': '*.c'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r2, "matches")), 2);
        r3 = call_ok(f, "grep", "{'pattern': 'ne+dle\\\\b', 'path': 'src', 'glob': '**/*.h'}");
        assert_string_equal(j3 = joined(r3, "matches"), "src/b.h");
        r4 = call_ok(f, "grep", "{'pattern': '^int', 'path': 'src/a.c'}");
        assert_string_equal(j4 = joined(r4, "matches"), "src/a.c\nsrc/a.c");
        assert_int_equal(n_of(cJSON_GetArrayItem(cJSON_GetObjectItem(r4, "matches"), 1), "line"), 2);
        r5 = call_ok(f, "grep", "{'pattern': 'e', 'max_results': 2}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r5, "matches")), 2);
        assert_true(b_of(r5, "truncated"));
        r6 = call_ok(f, "grep", "{'pattern': 'secret'}");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r6, "matches")), 0);

        call_fails(f, "grep", "{'pattern': 'a(b'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.pattern: invalid regular expression at offset 3: missing closing parenthesis");
        call_fails(f, "grep", "{'pattern': 'x', 'max_results': 0}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.max_results: must be at least 1");
        call_fails(f, "grep", "{'pattern': 'x', 'path': 'out'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "grep", "{'pattern': 'x', 'path': 'outfile'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "grep", "{'pattern': 'x', 'path': 'missing'}", -ENOENT, BRIG_KIND_NOT_FOUND, NULL);
}

static void test_files__grep_bounds(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL;
        char line[2100];
        const char *text;

        /* Long lines come back cut, with an ellipsis, as valid UTF-8. */
        memset(line, 'x', sizeof(line));
        memcpy(line + 1000, "\xc3\xa9", 2);
        memcpy(line, "needle", 6);
        line[sizeof(line) - 2] = '\n';
        line[sizeof(line) - 1] = 0;
        put(f, "long.txt", line);
        r1 = call_ok(f, "grep", "{'pattern': 'needle'}");
        text = s_of(cJSON_GetArrayItem(cJSON_GetObjectItem(r1, "matches"), 0), "text");
        assert_true(strlen(text) <= 512 + 3);
        assert_true(strncmp(text, "needlexxx", 9) == 0);
        assert_string_equal(text + strlen(text) - 3, "\xe2\x80\xa6");
        assert_true(brig_utf8_valid(text, strlen(text)));

        /* Catastrophic backtracking stops at the match limit. */
        put(f, "bt.txt", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\n");
        call_fails_with(f, "grep", "{'pattern': '(a|aa)+$', 'path': 'bt.txt'}", -E2BIG, BRIG_KIND_LIMIT,
                        "arguments.pattern: too much backtracking at 'bt.txt' line 1");
}

/* stat */

static void test_files__stat(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
        _cleanup_free_ char *text = NULL;
        regex_t rfc3339;

        put(f, "f.txt", "12345");
        assert_int_equal(fchmodat(f->root_fd, "f.txt", 0640, 0), 0);
        assert_int_equal(mkdirat(f->root_fd, "d", 0750), 0);
        s1 = call_ok(f, "stat", "{'path': 'f.txt'}");
        assert_string_equal(s_of(s1, "type"), "file");
        assert_int_equal(n_of(s1, "size"), 5);
        assert_string_equal(s_of(s1, "mode"), "0640");
        assert_int_equal(regcomp(&rfc3339,
                                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                                 REG_EXTENDED | REG_NOSUB),
                         0);
        assert_int_equal(regexec(&rfc3339, s_of(s1, "mtime"), 0, NULL, 0), 0);
        regfree(&rfc3339);
        assert_null(cJSON_GetObjectItem(s1, "link_target"));

        s2 = call_ok(f, "stat", "{'path': 'd'}");
        assert_string_equal(s_of(s2, "type"), "directory");
        assert_string_equal(s_of(s2, "mode"), "0750");
        /* The link itself, even one pointing outside. */
        s3 = call_ok(f, "stat", "{'path': 'outfile'}");
        assert_string_equal(s_of(s3, "type"), "symlink");
        assert_string_equal(s_of(s3, "link_target"), "../outside/secret");
        s4 = call_ok(f, "stat", "{'path': ''}");
        assert_string_equal(s_of(s4, "type"), "directory");
        text = brig_files_result_text("stat", s3);
        assert_non_null(strstr(text, "outfile: symlink"));
        assert_non_null(strstr(text, "-> ../outside/secret"));

        call_fails(f, "stat", "{'path': 'nope'}", -ENOENT, BRIG_KIND_NOT_FOUND,
                   "path 'nope' does not exist");
        call_fails(f, "stat", "{'path': 'out/secret'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "stat", "{'path': '..'}", -EXDEV, BRIG_KIND_DENIED, NULL);
}

/* move */

static void test_files__move(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *m1 = NULL, *m2 = NULL, *m3 = NULL;
        _cleanup_free_ char *c1 = NULL, *c2 = NULL;
        brig_files_report report = {0};
        struct stat st;

        put(f, "a.txt", "A");
        put(f, "b.txt", "B");
        assert_int_equal(mkdirat(f->root_fd, "dir", 0755), 0);
        m1 = call_ok_report(f, "move", "{'from': 'a.txt', 'to': 'dir/c.txt'}", &report);
        assert_string_equal(s_of(m1, "from"), "a.txt");
        assert_string_equal(s_of(m1, "to"), "dir/c.txt");
        assert_string_equal(report.path, "a.txt -> dir/c.txt");
        brig_files_report_done(&report);
        assert_false(exists(f, "a.txt"));
        assert_string_equal(c1 = get(f, "dir/c.txt"), "A");

        call_fails(f, "move", "{'from': 'b.txt', 'to': 'dir/c.txt'}", -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'dir/c.txt' already exists; set overwrite to replace it");
        m2 = call_ok(f, "move", "{'from': 'b.txt', 'to': 'dir/c.txt', 'overwrite': true}");
        assert_string_equal(c2 = get(f, "dir/c.txt"), "B");

        /* Moving a link moves the link; its target stays where it is. */
        m3 = call_ok(f, "move", "{'from': 'outfile', 'to': 'renamed'}");
        assert_int_equal(fstatat(f->root_fd, "renamed", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISLNK(st.st_mode));
        {
                char p[160];
                (void) snprintf(p, sizeof(p), "%s/secret", f->outside);
                assert_int_equal(access(p, F_OK), 0);
        }
        /* Neither end may lead out. */
        call_fails(f, "move", "{'from': 'dir/c.txt', 'to': 'out/stolen'}", -EXDEV, BRIG_KIND_DENIED,
                   "arguments.to: path 'out/stolen' escapes the workspace");
        call_fails(f, "move", "{'from': 'out/secret', 'to': 'mine'}", -EXDEV, BRIG_KIND_DENIED,
                   "arguments.from: path 'out/secret' escapes the workspace");
        call_fails(f, "move", "{'from': '../outside/secret', 'to': 'mine'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        assert_false(exists(f, "mine"));
        call_fails(f, "move", "{'from': 'nope', 'to': 'x'}", -ENOENT, BRIG_KIND_NOT_FOUND,
                   "path 'nope' does not exist");
        call_fails(f, "move", "{'from': 'dir', 'to': 'dir/inside'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "cannot move 'dir' into itself ('dir/inside')");
        call_fails(f, "move", "{'from': '', 'to': 'x'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.from: path '' names the workspace root, not a file in it");
        call_fails(f, "move", "{'from': 'dir'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.to: required");
}

/* remove */

static void test_files__remove(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        char p[160];

        put(f, "f.txt", "x");
        assert_int_equal(mkdirat(f->root_fd, "empty", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "tree", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "tree/sub", 0755), 0);
        put(f, "tree/sub/a", "aaaa");
        put(f, "tree/b", "bb");
        /* Links in the tree to outside: removed as links, their targets untouched. */
        assert_int_equal(symlinkat(f->outside, f->root_fd, "tree/sub/abs"), 0);
        assert_int_equal(symlinkat("../../out", f->root_fd, "tree/sub/rel"), 0);
        /* An unwritable directory inside is still removed. */
        assert_int_equal(mkdirat(f->root_fd, "tree/ro", 0755), 0);
        put(f, "tree/ro/x", "");
        assert_int_equal(fchmodat(f->root_fd, "tree/ro", 0500, 0), 0);

        r1 = call_ok(f, "remove", "{'path': 'f.txt'}");
        assert_false(exists(f, "f.txt"));
        assert_int_equal(n_of(r1, "removed"), 1);
        r2 = call_ok(f, "remove", "{'path': 'empty'}");
        assert_false(exists(f, "empty"));
        call_fails(f, "remove", "{'path': 'tree'}", -ENOTEMPTY, BRIG_KIND_INVALID_ARGUMENT,
                   "directory 'tree' is not empty; set recursive to remove it");
        r3 = call_ok(f, "remove", "{'path': 'tree', 'recursive': true}");
        assert_false(exists(f, "tree"));
        assert_int_equal(n_of(r3, "removed"), 8);
        (void) snprintf(p, sizeof(p), "%s/secret", f->outside);
        assert_int_equal(access(p, F_OK), 0);

        /* A link to an outside directory: the link goes, recursive or not. */
        r4 = call_ok(f, "remove", "{'path': 'out', 'recursive': true}");
        assert_false(exists(f, "out"));
        assert_int_equal(access(p, F_OK), 0);

        call_fails(f, "remove", "{'path': ''}", -EPERM, BRIG_KIND_DENIED,
                   "refusing to remove the workspace root");
        call_fails(f, "remove", "{'path': '.', 'recursive': true}", -EPERM, BRIG_KIND_DENIED, NULL);
        call_fails(f, "remove", "{'path': './'}", -EPERM, BRIG_KIND_DENIED, NULL);
        call_fails(f, "remove", "{'path': 'x/..'}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT, NULL);
        call_fails(f, "remove", "{'path': '..', 'recursive': true}", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   NULL);
        call_fails(f, "remove", "{'path': 'nope'}", -ENOENT, BRIG_KIND_NOT_FOUND,
                   "path 'nope' does not exist");
        assert_int_equal(symlinkat("../outside", f->root_fd, "out2"), 0);
        call_fails(f, "remove", "{'path': 'out2/secret'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        assert_int_equal(access(p, F_OK), 0);
}

/* make_directory */

static void test_files__make_directory(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *m1 = NULL, *m2 = NULL, *m3 = NULL;

        m1 = call_ok(f, "make_directory", "{'path': 'a/b/c'}");
        assert_true(b_of(m1, "created"));
        assert_int_equal(mode_of(f, "a/b/c"), 0755);
        m2 = call_ok(f, "make_directory", "{'path': 'a/b'}");
        assert_false(b_of(m2, "created"));
        m3 = call_ok(f, "make_directory", "{'path': 'a/d', 'parents': false}");
        assert_true(b_of(m3, "created"));
        call_fails(f, "make_directory", "{'path': 'x/y', 'parents': false}", -ENOENT, BRIG_KIND_NOT_FOUND,
                   "path 'x/y': parent directory does not exist");
        put(f, "file", "");
        call_fails(f, "make_directory", "{'path': 'file', 'parents': false}", -EEXIST,
                   BRIG_KIND_INVALID_ARGUMENT, "path 'file' exists and is not a directory");
        call_fails(f, "make_directory", "{'path': 'file'}", -ENOTDIR, BRIG_KIND_INVALID_ARGUMENT,
                   "path 'file': not a directory");
        call_fails(f, "make_directory", "{'path': 'out/new'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        call_fails(f, "make_directory", "{'path': 'a/../../new'}", -EXDEV, BRIG_KIND_DENIED, NULL);
        {
                char p[160];
                (void) snprintf(p, sizeof(p), "%s/new", f->outside);
                assert_int_equal(access(p, F_OK), -1);
                (void) snprintf(p, sizeof(p), "%s/../new", f->ws);
                assert_int_equal(access(p, F_OK), -1);
        }
}

/* read_only */

static void test_files__read_only_refuses_mutations(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL;
        brig_files_report report = {0};
        brig_error err = BRIG_ERROR_INIT;
        _cleanup_json_ cJSON *args = json("{'path': 'x', 'content': 'y'}");
        cJSON *res = NULL;

        put(f, "t.txt", "t\n");
        f->ctx.read_only = true;
        call_fails(f, "write_file", "{'path': 'x', 'content': 'y'}", -EPERM, BRIG_KIND_DENIED,
                   "write_file: the policy makes the workspace read-only");
        call_fails(f, "move", "{'from': 't.txt', 'to': 'u'}", -EPERM, BRIG_KIND_DENIED, NULL);
        call_fails(f, "remove", "{'path': 't.txt'}", -EPERM, BRIG_KIND_DENIED, NULL);
        call_fails(f, "make_directory", "{'path': 'd'}", -EPERM, BRIG_KIND_DENIED, NULL);
        assert_false(exists(f, "x"));
        assert_false(exists(f, "d"));
        assert_true(exists(f, "t.txt"));
        r1 = call_ok(f, "read_file", "{'path': 't.txt'}");
        r2 = call_ok(f, "grep", "{'pattern': 't'}");
        /* The audit report is filled on a refusal too. */
        assert_int_equal(brig_files_call("write_file", &f->ctx, args, &res, &report, &err), -EPERM);
        assert_string_equal(report.path, "x");
        assert_true(report.mutating);
        brig_files_report_done(&report);
        brig_files_report_done(NULL);
}

static void test_files__result_texts(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;

        put(f, "t.txt", "text\n");
        r1 = call_ok(f, "read_file", "{'path': 't.txt'}");
        assert_string_equal(t1 = brig_files_result_text("read_file", r1), "text\n");
        r2 = call_ok(f, "write_file", "{'path': 'n.txt', 'content': 'abc'}");
        assert_string_equal(t2 = brig_files_result_text("write_file", r2),
                            "created, wrote 3 bytes to 'n.txt'");
        r3 = call_ok(f, "make_directory", "{'path': 'dd'}");
        assert_string_equal(t3 = brig_files_result_text("make_directory", r3), "created directory 'dd'");
        r4 = call_ok(f, "remove", "{'path': 'dd'}");
        assert_string_equal(t4 = brig_files_result_text("remove", r4), "removed 'dd' (1 entries)");
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_files__tool_list_and_names),
                T(test_files__dispatch_errors),
                T(test_files__read_file_text_and_ranges),
                T(test_files__read_file_binary_as_base64),
                T(test_files__read_file_limit),
                T(test_files__read_file_errors),
                T(test_files__write_file_creates_and_replaces),
                T(test_files__write_file_modes_and_encodings),
                T(test_files__write_file_refusals),
                T(test_files__write_file_failure_leaves_no_temp),
                T(test_files__created_files_get_ctx_owner),
                T(test_files__edit_file_single_and_diff_shape),
                T(test_files__edit_file_match_counts),
                T(test_files__edit_file_all_or_nothing),
                T(test_files__edit_file_dry_run_leaves_file),
                T(test_files__edit_file_argument_errors),
                T(test_files__list_directory),
                T(test_files__glob),
                T(test_files__grep),
                T(test_files__grep_bounds),
                T(test_files__stat),
                T(test_files__move),
                T(test_files__remove),
                T(test_files__make_directory),
                T(test_files__read_only_refuses_mutations),
                T(test_files__result_texts),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
