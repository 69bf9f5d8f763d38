/* SPDX-License-Identifier: MIT */
/* Unit tests for tools/history*.c against real libgit2 on temporary workspaces: nothing is written into the
 * workspace, snapshots and no-op snapshots, the log and its path filter, diffs and id errors, restore of
 * the whole tree and of one path (nothing lost, excluded paths kept), excludes, the size cap, byte-exact
 * content despite .gitattributes, nested repositories, a workspace owned by another uid, and the tool layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <git2.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/history.h"
#include "tools/registry.h"
#include "tools/history_private.h"

typedef struct fixture {
        char root[64];
        char ws[128];
        char git[128];
        brig_history *h;
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->root, "/tmp/brig-test-history-XXXXXX");
        assert_non_null(mkdtemp(f->root));
        snprintf(f->ws, sizeof(f->ws), "%s/workspace", f->root);
        snprintf(f->git, sizeof(f->git), "%s/state/history.git", f->root);
        assert_int_equal(mkdir(f->ws, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        brig_history_free(f->h);
        assert_int_equal(brig_rm_rf(f->root), 0);
        free(f);
        return 0;
}

static void put(fixture *f, const char *rel, const char *data, size_t len) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", f->ws, rel);
        for (char *p = path + strlen(f->ws) + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
                *p = '/';
        }
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
}

static void puts_(fixture *f, const char *rel, const char *text) {
        put(f, rel, text, strlen(text));
}

/* The file's content (NUL-terminated), or NULL when it does not exist. */
static char *get(fixture *f, const char *rel) {
        char path[PATH_MAX], *buf = calloc(1, 1 << 16);
        ssize_t n;

        assert_non_null(buf);
        snprintf(path, sizeof(path), "%s/%s", f->ws, rel);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(buf);
                return NULL;
        }
        n = read(fd, buf, (1 << 16) - 1);
        assert_true(n >= 0);
        return buf;
}

static bool exists(fixture *f, const char *rel) {
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", f->ws, rel);
        return lstat(path, &st) == 0;
}

static void rm(fixture *f, const char *rel) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", f->ws, rel);
        assert_int_equal(brig_rm_rf(path), 0);
}

static void open_with(fixture *f, uint64_t max_file_size) {
        static char node_modules[] = "node_modules/", venv[] = ".venv/";
        static char *exclude[] = {node_modules, venv, NULL};
        brig_history_options opts = {
                .exclude = exclude, .max_file_size = max_file_size, .author = "brig-test"};
        brig_error err = BRIG_ERROR_INIT;
        int r = brig_history_open(f->git, f->ws, &opts, &f->h, &err);

        if (r < 0)
                print_error("open: %s\n", err.msg);
        assert_int_equal(r, 0);
}

static void open_h(fixture *f) {
        open_with(f, 1024);
}

static cJSON *snap(fixture *f, const char *message, const char *call_id) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_history_snapshot(f->h, message, call_id, NULL, &res, &err);

        if (r < 0)
                print_error("snapshot: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_non_null(res);
        return res;
}

/* The id of a new snapshot (asserts one was created); caller frees. */
static char *snap_id(fixture *f, const char *message, const char *call_id) {
        _cleanup_json_ cJSON *res = snap(f, message, call_id);

        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(res, "created")));
        return strdup(cJSON_GetObjectItem(res, "id")->valuestring);
}

static cJSON *diff_ok(fixture *f, const char *from, const char *to, const char *path) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_history_diff(f->h, from, to, path, &res, &err);

        if (r < 0)
                print_error("diff: %s\n", err.msg);
        assert_int_equal(r, 0);
        return res;
}

static const char *diff_text(const cJSON *res) {
        return cJSON_GetObjectItem(res, "diff")->valuestring;
}

/* "path:status,path:status" from a diff's files list. */
static char *files_of(const cJSON *res) {
        const cJSON *it;
        brig_buf b = {0};

        cJSON_ArrayForEach (it, cJSON_GetObjectItem(res, "files")) {
                char s[512];
                int n = snprintf(s, sizeof(s), "%s%s:%s", b.len ? "," : "",
                                 cJSON_GetObjectItem(it, "path")->valuestring,
                                 cJSON_GetObjectItem(it, "status")->valuestring);
                assert_true(brig_buf_append(&b, s, (size_t) n) >= 0);
        }
        return b.data ? b.data : strdup("");
}

static cJSON *log_ok(fixture *f, unsigned limit, const char *path) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_history_log(f->h, limit, path, &res, &err);

        if (r < 0)
                print_error("history: %s\n", err.msg);
        assert_int_equal(r, 0);
        return res;
}

static cJSON *restore_ok(fixture *f, const char *snapshot, const char *path, const char *call_id) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        int r = brig_history_restore(f->h, snapshot, path, call_id, &res, &err);

        if (r < 0)
                print_error("restore: %s\n", err.msg);
        assert_int_equal(r, 0);
        return res;
}

static const char *sget(const cJSON *o, const char *key) {
        const cJSON *it = cJSON_GetObjectItem(o, key);
        assert_true(cJSON_IsString(it));
        return it->valuestring;
}

static int iget(const cJSON *o, const char *key) {
        const cJSON *it = cJSON_GetObjectItem(o, key);
        assert_true(cJSON_IsNumber(it));
        return it->valueint;
}

/* The blob at path in HEAD (read with libgit2 directly), NULL when HEAD has no such path. */
static char *head_blob(fixture *f, const char *path, size_t *ret_len) {
        git_repository *repo = NULL;
        git_object *obj = NULL;
        char spec[PATH_MAX];
        char *data = NULL;

        assert_true(git_libgit2_init() > 0);
        assert_int_equal(git_repository_open_bare(&repo, f->git), 0);
        snprintf(spec, sizeof(spec), "HEAD:%s", path);
        if (git_revparse_single(&obj, repo, spec) == 0 && git_object_type(obj) == GIT_OBJECT_BLOB) {
                const git_blob *b = (const git_blob *) obj;
                size_t n = (size_t) git_blob_rawsize(b);
                data = malloc(n + 1);
                assert_non_null(data);
                memcpy(data, git_blob_rawcontent(b), n);
                data[n] = 0;
                if (ret_len)
                        *ret_len = n;
        }
        git_object_free(obj);
        git_repository_free(repo);
        git_libgit2_shutdown();
        return data;
}

static bool in_head(fixture *f, const char *path) {
        _cleanup_free_ char *b = head_blob(f, path, NULL);
        return b != NULL;
}

/* Every path below dir, relative, sorted by readdir order into one "a,b/c" string. */
static void list_tree(const char *dir, const char *prefix, brig_buf *out) {
        DIR *d = opendir(dir);
        struct dirent *e;

        assert_non_null(d);
        while ((e = readdir(d))) {
                char sub[PATH_MAX], rel[PATH_MAX];
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
                snprintf(rel, sizeof(rel), "%s%s", prefix, e->d_name);
                assert_true(brig_buf_append(out, rel, strlen(rel)) >= 0);
                assert_true(brig_buf_append(out, "\n", 1) >= 0);
                if (e->d_type == DT_DIR) {
                        strcat(rel, "/");
                        list_tree(sub, rel, out);
                }
        }
        closedir(d);
}

static size_t count_entries(fixture *f) {
        brig_buf b = {0};
        size_t n = 0;

        list_tree(f->ws, "", &b);
        for (size_t i = 0; i < b.len; i++)
                n += b.data[i] == '\n';
        brig_buf_done(&b);
        return n;
}

static void test_history__writes_nothing_into_the_workspace(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL;
        char path[PATH_MAX];
        struct stat st;

        puts_(f, "a.txt", "one\n");
        puts_(f, "sub/b.txt", "two\n");
        open_h(f);
        s1 = snap_id(f, "first", "call-1");
        puts_(f, "a.txt", "changed\n");
        cJSON_Delete(diff_ok(f, NULL, NULL, NULL));
        cJSON_Delete(snap(f, NULL, NULL));
        cJSON_Delete(log_ok(f, 0, NULL));
        cJSON_Delete(restore_ok(f, s1, NULL, "call-2"));
        /* a.txt, sub, sub/b.txt and nothing else: no .git file or directory, no temporary files */
        assert_int_equal(count_entries(f), 3);
        assert_false(exists(f, ".git"));
        snprintf(path, sizeof(path), "%s/HEAD", f->git);
        assert_int_equal(stat(path, &st), 0);
        snprintf(path, sizeof(path), "%s/index", f->git);
        assert_int_equal(stat(path, &st), 0);
}

static void test_history__snapshot_is_created_then_a_noop(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *first = NULL, *again = NULL, *touched = NULL, *changed = NULL;
        char path[PATH_MAX];

        puts_(f, "a.txt", "one\n");
        puts_(f, "sub/b.txt", "two\n");
        open_h(f);
        first = snap(f, "first", NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(first, "created")));
        assert_int_equal(strlen(sget(first, "id")), 40);
        assert_int_equal(strspn(sget(first, "id"), "0123456789abcdef"), 40);
        assert_int_equal(iget(first, "files_changed"), 2);
        assert_string_equal(sget(first, "message"), "first");

        again = snap(f, "again", NULL);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(again, "created")));
        assert_string_equal(sget(again, "id"), sget(first, "id"));
        assert_int_equal(iget(again, "files_changed"), 0);

        /* New mtime, same content: still nothing to record. */
        snprintf(path, sizeof(path), "%s/a.txt", f->ws);
        assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
        touched = snap(f, NULL, NULL);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(touched, "created")));

        puts_(f, "a.txt", "one!\n");
        changed = snap(f, NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(changed, "created")));
        assert_string_not_equal(sget(changed, "id"), sget(first, "id"));
        assert_int_equal(iget(changed, "files_changed"), 1);
        assert_string_equal(sget(changed, "message"), "snapshot");
}

static void test_history__history_lists_newest_first_with_call_ids(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL;
        _cleanup_json_ cJSON *all = NULL, *two = NULL, *only_x = NULL, *only_a = NULL, *empty = NULL;
        _cleanup_json_ cJSON *s3res = NULL;
        brig_error err = BRIG_ERROR_INIT;
        const cJSON *list, *e;

        puts_(f, "a.txt", "one\n");
        open_h(f);
        empty = log_ok(f, 0, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(empty, "snapshots")), 0);

        s1 = snap_id(f, "first", "c1");
        puts_(f, "a.txt", "two\n");
        s2 = snap_id(f, "second\n\nwith a body\n\nBrig-Call-Id: forged", "c2");
        puts_(f, "x/y.txt", "new\n");
        puts_(f, "z.txt", "new\n");
        assert_int_equal(brig_history_snapshot(f->h, "third", "c3", "write_file", &s3res, &err), 0);
        s3 = strdup(sget(s3res, "id"));

        all = log_ok(f, 0, NULL);
        list = cJSON_GetObjectItem(all, "snapshots");
        assert_int_equal(cJSON_GetArraySize(list), 3);
        e = cJSON_GetArrayItem(list, 0);
        assert_string_equal(sget(e, "id"), s3);
        assert_string_equal(sget(e, "message"), "third");
        assert_string_equal(sget(e, "call_id"), "c3");
        assert_string_equal(sget(e, "tool"), "write_file");
        assert_int_equal(iget(e, "files_changed"), 2);
        assert_int_equal(strlen(sget(e, "time")), 20);
        assert_int_equal(sget(e, "time")[10], 'T');
        assert_int_equal(sget(e, "time")[19], 'Z');
        e = cJSON_GetArrayItem(list, 1);
        assert_string_equal(sget(e, "id"), s2);
        assert_string_equal(sget(e, "call_id"), "c2"); /* not the "forged" one in the message */
        assert_string_equal(sget(e, "message"), "second\n\nwith a body\n\nBrig-Call-Id: forged");
        assert_string_equal(sget(e, "tool"), "snapshot");
        assert_int_equal(iget(e, "files_changed"), 1);
        e = cJSON_GetArrayItem(list, 2);
        assert_string_equal(sget(e, "id"), s1);
        assert_string_equal(sget(e, "call_id"), "c1");
        assert_int_equal(iget(e, "files_changed"), 1);

        two = log_ok(f, 2, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(two, "snapshots")), 2);

        only_x = log_ok(f, 0, "x/");
        list = cJSON_GetObjectItem(only_x, "snapshots");
        assert_int_equal(cJSON_GetArraySize(list), 1);
        assert_string_equal(sget(cJSON_GetArrayItem(list, 0), "id"), s3);

        only_a = log_ok(f, 0, "a.txt");
        list = cJSON_GetObjectItem(only_a, "snapshots");
        assert_int_equal(cJSON_GetArraySize(list), 2);
        assert_string_equal(sget(cJSON_GetArrayItem(list, 0), "id"), s2);
        assert_string_equal(sget(cJSON_GetArrayItem(list, 1), "id"), s1);
}

static void test_history__diff_defaults_to_head_against_the_working_tree(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *d = NULL, *clean = NULL;
        _cleanup_free_ char *files = NULL, *s1 = NULL;

        puts_(f, "a.txt", "one\ntwo\nthree\n");
        puts_(f, "gone.txt", "bye\n");
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        puts_(f, "a.txt", "one\nTWO\nthree\n");
        puts_(f, "new/file.txt", "hello\n");
        puts_(f, "node_modules/dep.js", "excluded\n");
        put(f, "big.bin", "x", 1);
        {
                char big[2048];
                memset(big, 'b', sizeof(big));
                put(f, "big.txt", big, sizeof(big)); /* over the cap: not in the next snapshot, not here */
        }
        rm(f, "gone.txt");

        d = diff_ok(f, NULL, NULL, NULL);
        assert_non_null(strstr(diff_text(d), "-two\n+TWO\n"));
        assert_non_null(strstr(diff_text(d), "+hello\n"));
        assert_non_null(strstr(diff_text(d), "-bye\n"));
        assert_null(strstr(diff_text(d), "excluded"));
        assert_null(strstr(diff_text(d), "bbbb"));
        files = files_of(d);
        assert_string_equal(files, "a.txt:modified,big.bin:added,gone.txt:deleted,new/file.txt:added");
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(d, "truncated")));

        cJSON_Delete(snap(f, NULL, NULL));
        clean = diff_ok(f, NULL, NULL, NULL);
        assert_string_equal(diff_text(clean), "");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(clean, "files")), 0);
}

static void test_history__diff_between_snapshots_with_a_path_filter(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL, *files = NULL, *only_a = NULL, *only_sub = NULL;
        _cleanup_json_ cJSON *d = NULL, *da = NULL, *dsub = NULL, *dhead = NULL, *dshort = NULL;
        char short_id[8];

        puts_(f, "a.txt", "a1\n");
        puts_(f, "sub/b.txt", "b1\n");
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        puts_(f, "a.txt", "a2\n");
        puts_(f, "sub/b.txt", "b2\n");
        s2 = snap_id(f, NULL, NULL);
        puts_(f, "a.txt", "a3 (not snapshotted)\n");

        d = diff_ok(f, s1, s2, NULL);
        files = files_of(d);
        assert_string_equal(files, "a.txt:modified,sub/b.txt:modified");
        assert_non_null(strstr(diff_text(d), "-a1\n+a2\n"));
        assert_null(strstr(diff_text(d), "a3"));

        da = diff_ok(f, s1, s2, "a.txt");
        only_a = files_of(da);
        assert_string_equal(only_a, "a.txt:modified");
        dsub = diff_ok(f, s1, s2, "sub");
        only_sub = files_of(dsub);
        assert_string_equal(only_sub, "sub/b.txt:modified");

        dhead = diff_ok(f, "HEAD~1", "HEAD", NULL);
        assert_string_equal(diff_text(dhead), diff_text(d));
        memcpy(short_id, s1, 7);
        short_id[7] = 0;
        dshort = diff_ok(f, short_id, s2, NULL);
        assert_string_equal(diff_text(dshort), diff_text(d));
}

static void diff_fails(fixture *f, const char *from, const char *path, int code, brig_kind kind,
                       const char *msg) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;

        assert_int_equal(brig_history_diff(f->h, from, NULL, path, &res, &err), code);
        assert_null(res);
        assert_int_equal(err.kind, kind);
        if (strcmp(err.msg, msg) != 0)
                print_error("got \"%s\"\n", err.msg);
        assert_string_equal(err.msg, msg);
}

static void test_history__diff_rejects_bad_ids(void **state) {
        fixture *f = *state;

        puts_(f, "a.txt", "a\n");
        open_h(f);
        diff_fails(f, "HEAD", NULL, -ENOENT, BRIG_KIND_NOT_FOUND, "arguments.from: no snapshot yet");
        cJSON_Delete(snap(f, NULL, NULL));
        diff_fails(f, "zzzz", NULL, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.from: expected a snapshot id (at least 4 hex digits), HEAD or HEAD~N, got "
                   "\"zzzz\"");
        diff_fails(f, "abc", NULL, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.from: expected a snapshot id (at least 4 hex digits), HEAD or HEAD~N, got "
                   "\"abc\"");
        diff_fails(f, "HEAD:a.txt", NULL, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.from: expected a snapshot id (at least 4 hex digits), HEAD or HEAD~N, got "
                   "\"HEAD:a.txt\"");
        diff_fails(f, "ffffffff", NULL, -ENOENT, BRIG_KIND_NOT_FOUND,
                   "arguments.from: no snapshot \"ffffffff\"");
        diff_fails(f, "HEAD~3", NULL, -ENOENT, BRIG_KIND_NOT_FOUND,
                   "arguments.from: \"HEAD~3\" goes back past the first snapshot");
        diff_fails(f, NULL, "../etc", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.path: must not contain empty, \".\" or \"..\" components, got \"../etc\"");
        diff_fails(f, NULL, "/etc", -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                   "arguments.path: must be relative to the workspace, got \"/etc\"");
}

static void test_history__restore_brings_back_the_tree_and_keeps_excluded_files(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *keep = NULL, *gone = NULL, *before_files = NULL;
        _cleanup_json_ cJSON *res = NULL, *log = NULL, *before = NULL;
        const cJSON *list;

        puts_(f, "keep.txt", "original\n");
        puts_(f, "gone.txt", "deleted later\n");
        puts_(f, "dir/inner.txt", "inner\n");
        puts_(f, "node_modules/dep.js", "dep\n");
        open_h(f);
        s1 = snap_id(f, "good state", NULL);

        rm(f, "gone.txt");
        rm(f, "dir");
        puts_(f, "keep.txt", "broken\n");
        puts_(f, "new.txt", "created later\n");
        puts_(f, "node_modules/new.js", "installed later\n");

        res = restore_ok(f, s1, NULL, "call-r");
        keep = get(f, "keep.txt");
        gone = get(f, "gone.txt");
        assert_string_equal(keep, "original\n");
        assert_non_null(gone);
        assert_string_equal(gone, "deleted later\n");
        assert_true(exists(f, "dir/inner.txt"));
        assert_false(exists(f, "new.txt"));
        assert_true(exists(f, "node_modules/dep.js"));
        assert_true(exists(f, "node_modules/new.js"));

        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(res, "created")));
        assert_string_equal(sget(res, "restored_from"), s1);
        assert_string_not_equal(sget(res, "id"), s1);
        assert_string_not_equal(sget(res, "previous"), s1);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(res, "path")));

        /* restore, "before restore" (the state that was replaced), then the original */
        log = log_ok(f, 0, NULL);
        list = cJSON_GetObjectItem(log, "snapshots");
        assert_int_equal(cJSON_GetArraySize(list), 3);
        assert_string_equal(sget(cJSON_GetArrayItem(list, 0), "id"), sget(res, "id"));
        assert_string_equal(sget(cJSON_GetArrayItem(list, 0), "tool"), "restore");
        assert_string_equal(sget(cJSON_GetArrayItem(list, 0), "call_id"), "call-r");
        assert_non_null(strstr(sget(cJSON_GetArrayItem(list, 0), "message"), "restore "));
        assert_string_equal(sget(cJSON_GetArrayItem(list, 1), "id"), sget(res, "previous"));
        assert_string_equal(sget(cJSON_GetArrayItem(list, 2), "id"), s1);

        /* nothing lost: the replaced state can be diffed (and restored) */
        before = diff_ok(f, s1, sget(res, "previous"), NULL);
        before_files = files_of(before);
        assert_string_equal(before_files,
                            "dir/inner.txt:deleted,gone.txt:deleted,keep.txt:modified,new.txt:added");
        assert_non_null(strstr(diff_text(before), "+broken\n"));
}

static void test_history__restore_one_path(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *a = NULL, *b = NULL;
        _cleanup_json_ cJSON *res = NULL, *unchanged = NULL;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *none = NULL;

        puts_(f, "a.txt", "a1\n");
        puts_(f, "b.txt", "b1\n");
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        puts_(f, "a.txt", "a2\n");
        puts_(f, "b.txt", "b2\n");

        res = restore_ok(f, s1, "a.txt", NULL);
        a = get(f, "a.txt");
        b = get(f, "b.txt");
        assert_string_equal(a, "a1\n");
        assert_string_equal(b, "b2\n");
        assert_string_equal(sget(res, "path"), "a.txt");
        assert_int_equal(iget(res, "files_changed"), 1); /* a.txt went back; b2 was recorded before */

        unchanged = diff_ok(f, NULL, NULL, NULL);
        assert_string_equal(diff_text(unchanged), "");

        /* a directory: its files go back, files it did not have go away, the rest stays */
        puts_(f, "sub/x.txt", "x1\n");
        free(s1);
        s1 = snap_id(f, NULL, NULL);
        puts_(f, "sub/x.txt", "x2\n");
        puts_(f, "sub/y.txt", "y\n");
        puts_(f, "b.txt", "b3\n");
        cJSON_Delete(restore_ok(f, s1, "sub/", NULL));
        free(a);
        a = get(f, "sub/x.txt");
        assert_string_equal(a, "x1\n");
        assert_false(exists(f, "sub/y.txt"));
        free(b);
        b = get(f, "b.txt");
        assert_string_equal(b, "b3\n");

        assert_int_equal(brig_history_restore(f->h, s1, "nope.txt", NULL, &none, &err), -ENOENT);
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        assert_non_null(strstr(err.msg, "arguments.path: \"nope.txt\" is not in snapshot"));
        assert_null(none);
}

static void test_history__excludes_are_respected(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *res = NULL, *d = NULL;

        puts_(f, "src/a.c", "int a;\n");
        puts_(f, "node_modules/x/index.js", "x\n");
        puts_(f, ".venv/lib/site.py", "y\n");
        puts_(f, "sub/node_modules/z.js", "z\n");
        open_h(f);
        res = snap(f, NULL, NULL);
        assert_int_equal(iget(res, "files_changed"), 1);
        assert_true(in_head(f, "src/a.c"));
        assert_false(in_head(f, "node_modules/x/index.js"));
        assert_false(in_head(f, ".venv/lib/site.py"));
        assert_false(in_head(f, "sub/node_modules/z.js"));

        puts_(f, "node_modules/x/index.js", "changed\n");
        d = diff_ok(f, NULL, NULL, NULL);
        assert_string_equal(diff_text(d), "");
}

static void test_history__size_cap_is_respected(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *small = NULL, *big = NULL;
        _cleanup_json_ cJSON *res = NULL, *grown = NULL;
        char data[2000];

        memset(data, 'x', sizeof(data));
        puts_(f, "small.txt", "small\n");
        put(f, "big.bin", data, sizeof(data));
        put(f, "edge.bin", data, 1024); /* exactly the cap: kept */
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        assert_true(in_head(f, "small.txt"));
        assert_true(in_head(f, "edge.bin"));
        assert_false(in_head(f, "big.bin"));

        /* a tracked file growing past the cap leaves the next snapshot */
        put(f, "small.txt", data, sizeof(data));
        grown = snap(f, NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(grown, "created")));
        assert_false(in_head(f, "small.txt"));

        /* restore brings small.txt back and leaves the oversized file alone */
        res = restore_ok(f, s1, NULL, NULL);
        small = get(f, "small.txt");
        assert_string_equal(small, "small\n");
        big = get(f, "big.bin");
        assert_non_null(big);
        assert_int_equal(strlen(big), sizeof(data));
}

static void test_history__content_is_stored_byte_for_byte(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *crlf = NULL, *lf = NULL, *crlf2 = NULL, *lf2 = NULL;
        size_t n;

        puts_(f, ".gitattributes", "* text eol=crlf ident\n");
        puts_(f, "crlf.txt", "a\r\nb\r\n");
        puts_(f, "lf.txt", "a\nb\n$Id$\n");
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        crlf = head_blob(f, "crlf.txt", &n);
        assert_non_null(crlf);
        assert_string_equal(crlf, "a\r\nb\r\n");
        lf = head_blob(f, "lf.txt", &n);
        assert_string_equal(lf, "a\nb\n$Id$\n");

        rm(f, "crlf.txt");
        rm(f, "lf.txt");
        cJSON_Delete(restore_ok(f, s1, NULL, NULL));
        crlf2 = get(f, "crlf.txt");
        lf2 = get(f, "lf.txt");
        assert_string_equal(crlf2, "a\r\nb\r\n");
        assert_string_equal(lf2, "a\nb\n$Id$\n");
}

static void test_history__nested_repositories_do_not_break_snapshots(void **state) {
        fixture *f = *state;
        git_repository *inner = NULL, *own = NULL;
        char path[PATH_MAX];

        puts_(f, "a.txt", "a\n");
        puts_(f, "vendor/lib/file.c", "int x;\n");
        open_h(f); /* first: it keeps libgit2 away from $HOME's config */
        assert_true(git_libgit2_init() > 0);
        snprintf(path, sizeof(path), "%s/vendor/lib", f->ws);
        assert_int_equal(git_repository_init(&inner, path, 0), 0); /* an unborn nested repository */
        assert_int_equal(git_repository_init(&own, f->ws, 0), 0);  /* the agent's own .git at the root */
        git_repository_free(inner);
        git_repository_free(own);
        git_libgit2_shutdown();

        cJSON_Delete(snap(f, NULL, NULL));
        assert_true(in_head(f, "a.txt"));
        assert_false(in_head(f, ".git/HEAD"));
        assert_false(in_head(f, "vendor/lib/file.c"));
        cJSON_Delete(diff_ok(f, NULL, NULL, NULL));
}

static void test_history__diff_is_valid_utf8_and_bounded(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *d = NULL, *big = NULL;
        const size_t size = BRIG_HISTORY_MAX_DIFF + BRIG_HISTORY_MAX_DIFF / 4;
        _cleanup_free_ char *data = malloc(size);
        const char *text;

        assert_non_null(data);
        puts_(f, "latin1.txt", "caf\xe9\n");
        open_with(f, 0);
        cJSON_Delete(snap(f, NULL, NULL));
        puts_(f, "latin1.txt", "na\xefve\n");
        d = diff_ok(f, NULL, NULL, NULL);
        text = diff_text(d);
        assert_true(brig_utf8_valid(text, strlen(text)));
        assert_non_null(strstr(text, "+na\xef\xbf\xbdve\n"));

        for (size_t i = 0; i < size; i++)
                data[i] = i % 64 == 63 ? '\n' : 'a' + (char) (i % 26);
        put(f, "huge.txt", data, size);
        big = diff_ok(f, NULL, NULL, NULL);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(big, "truncated")));
        assert_true(strlen(diff_text(big)) <= BRIG_HISTORY_MAX_DIFF);
        assert_true(strlen(diff_text(big)) > BRIG_HISTORY_MAX_DIFF / 2);
}

/* Waits until file timestamps (taken from the coarse clock) have moved on, so a change made now is
 * visible in a directory's mtime and ctime. */
static void wait_tick(void) {
        struct timespec a, b;

        clock_gettime(CLOCK_REALTIME_COARSE, &a);
        for (int i = 0; i < 2; i++) {
                do
                        clock_gettime(CLOCK_REALTIME_COARSE, &b);
                while (b.tv_sec == a.tv_sec && b.tv_nsec == a.tv_nsec);
                a = b;
        }
}

static void test_history__directory_cache_sees_every_change(void **state) {
        fixture *f = *state;
        char big[2000], path[PATH_MAX];

        memset(big, 'x', sizeof(big));
        puts_(f, "d/a.txt", "a\n");
        puts_(f, "d/b.txt", "b\n");
        puts_(f, "d/sub/c.txt", "c\n");
        open_h(f);
        f->h->settle_ns = 0; /* cache directories at once (wait_tick() keeps it honest) */
        wait_tick();
        cJSON_Delete(snap(f, NULL, NULL));
        cJSON_Delete(snap(f, NULL, NULL));
        assert_int_equal(f->h->n_dirs, 3); /* "", d and d/sub: read once, not again */

        wait_tick();
        puts_(f, "d/new.txt", "new\n"); /* a new name in a cached directory */
        cJSON_Delete(snap(f, NULL, NULL));
        assert_true(in_head(f, "d/new.txt"));

        wait_tick();
        puts_(f, "d/sub2/x.txt", "x\n"); /* a new subdirectory */
        cJSON_Delete(snap(f, NULL, NULL));
        assert_true(in_head(f, "d/sub2/x.txt"));

        wait_tick();
        put(f, "d/a.txt", big, sizeof(big)); /* in place: the directory does not change */
        cJSON_Delete(snap(f, NULL, NULL));
        assert_false(in_head(f, "d/a.txt"));
        wait_tick();
        puts_(f, "d/a.txt", "small again\n"); /* left out last time, so its directory is read again */
        cJSON_Delete(snap(f, NULL, NULL));
        assert_true(in_head(f, "d/a.txt"));

        wait_tick();
        rm(f, "d/b.txt");
        cJSON_Delete(snap(f, NULL, NULL));
        assert_false(in_head(f, "d/b.txt"));

        wait_tick();
        snprintf(path, sizeof(path), "%s/d/sub/.git", f->ws);
        assert_int_equal(mkdir(path, 0755), 0); /* d/sub becomes a nested repository */
        cJSON_Delete(snap(f, NULL, NULL));
        assert_false(in_head(f, "d/sub/c.txt"));
        assert_true(in_head(f, "d/new.txt"));
}

static void test_history__reopening_keeps_history_and_index(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL;
        _cleanup_json_ cJSON *again = NULL, *log = NULL;

        puts_(f, "a.txt", "a\n");
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        brig_history_free(f->h);
        f->h = NULL;
        open_h(f);
        again = snap(f, NULL, NULL);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(again, "created")));
        assert_string_equal(sget(again, "id"), s1);
        log = log_ok(f, 0, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(log, "snapshots")), 1);
}

/* a.txt "one\n" and dir/b.txt, snapshot "first" (*ret_s1), then a.txt "two\n", snapshot "second" (*ret_s2);
 * the ids are the caller's to free. */
static void two_snapshots(fixture *f, char **ret_s1, char **ret_s2) {
        puts_(f, "a.txt", "one\n");
        puts_(f, "dir/b.txt", "bee\n");
        open_h(f);
        *ret_s1 = snap_id(f, "first", NULL);
        puts_(f, "a.txt", "two\n");
        *ret_s2 = snap_id(f, "second", NULL);
}

/* Forks f's history at commit into <root>/fork.git and <root>/fork-ws (their paths into fork_git and
 * fork_ws, 160 bytes each). */
static void fork_into(fixture *f, const char *commit, char *fork_git, char *fork_ws) {
        brig_error err = BRIG_ERROR_INIT;
        brig_wsusage usage;

        snprintf(fork_git, 160, "%s/fork.git", f->root);
        snprintf(fork_ws, 160, "%s/fork-ws", f->root);
        assert_int_equal(mkdir(fork_ws, 0755), 0);
        assert_int_equal(brig_history_fork(f->git, commit, fork_git, fork_ws, "/final/workspace", NULL, NULL,
                                           &usage, &err),
                         0);
}

/* Asserts that the file's first line is `line` (with its newline). */
static void assert_first_line(const char *path, const char *line) {
        char text[64] = "";
        FILE *in = fopen(path, "re");

        assert_non_null(in);
        assert_non_null(fgets(text, sizeof(text), in));
        fclose(in);
        assert_string_equal(text, line);
}

/* A fork shares the objects (hard links, so it outlives its source), lists the snapshots up to its point,
 * has that snapshot's files, and cannot name the source's later snapshots. */
static void test_history__fork_at_a_snapshot_shares_objects_and_outlives_its_source(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL;
        _cleanup_json_ cJSON *log = NULL, *again = NULL;
        char fork_git[160], fork_ws[160], id[41], path[256];
        brig_history *h2 = NULL;
        brig_error err = BRIG_ERROR_INIT;
        struct stat st;

        two_snapshots(f, &s1, &s2);
        assert_int_equal(brig_history_resolve_id(f->h, "HEAD~1", "snapshot", id, &err), 0);
        assert_string_equal(id, s1);

        fork_into(f, s1, fork_git, fork_ws);
        /* The commit's loose object is the source's, linked. */
        snprintf(path, sizeof(path), "%s/objects/%.2s/%s", fork_git, s1, s1 + 2);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_nlink, 2);
        snprintf(path, sizeof(path), "%s/a.txt", fork_ws);
        assert_first_line(path, "one\n");

        /* The source goes; the fork's history is whole without it. */
        brig_history_free(f->h);
        f->h = NULL;
        assert_int_equal(brig_rm_rf(f->git), 0);
        assert_int_equal(brig_history_open(fork_git, fork_ws, NULL, &h2, &err), 0);
        assert_int_equal(brig_history_log(h2, 0, NULL, &log, &err), 0);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(log, "snapshots")), 1);
        assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(log, "snapshots"), 0), "id"), s1);
        assert_int_equal(brig_history_snapshot(h2, NULL, NULL, NULL, &again, &err), 0);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItem(again, "created")));
        /* The source's later snapshot is among the shared objects, but not in the fork's history. */
        assert_int_equal(brig_history_resolve_id(h2, s2, "snapshot", id, &err), -ENOENT);
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        brig_history_free(h2);
}

/* Files under <git>/objects: loose objects (in the two-digit fan-out directories) and pack files. */
static void count_objects(const char *git, int *ret_loose, int *ret_packs) {
        char path[PATH_MAX];
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        *ret_loose = *ret_packs = 0;
        snprintf(path, sizeof(path), "%s/objects", git);
        assert_non_null(d = opendir(path));
        while ((de = readdir(d))) {
                if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
                        continue;
                _cleanup_(closedirp) DIR *sub = NULL;
                snprintf(path, sizeof(path), "%s/objects/%s", git, de->d_name);
                assert_non_null(sub = opendir(path));
                for (struct dirent *o; (o = readdir(sub));)
                        *ret_loose += o->d_name[0] != '.';
        }
        closedir(TAKE_PTR(d));
        snprintf(path, sizeof(path), "%s/objects/pack", git);
        if (!(d = opendir(path)))
                return;
        while ((de = readdir(d)))
                *ret_packs += strncmp(de->d_name, "pack-", 5) == 0 && strstr(de->d_name, ".pack") != NULL;
}

static int repack(fixture *f, size_t min_loose, size_t max_objects, uint64_t max_bytes, size_t max_packs,
                  brig_history_repack_result *ret) {
        const brig_history_repack_limits lim = {
                .min_loose = min_loose,
                .max_objects = max_objects,
                .max_bytes = max_bytes,
                .max_packs = max_packs,
        };
        brig_error err = BRIG_ERROR_INIT;

        return brig_history_repack(f->h, &lim, ret, &err);
}

/* Packing at rest: below its threshold nothing moves; above it every loose object goes into one pack, and
 * every snapshot stays readable (log, diff, restore), new snapshots still work, and a fork links the pack.
 */
static void test_history__repack_packs_loose_objects_and_keeps_every_snapshot(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL, *s3 = NULL;
        _cleanup_json_ cJSON *log = NULL, *diff = NULL, *restored = NULL;
        char fork_git[160], fork_ws[160], path[256];
        brig_error err = BRIG_ERROR_INIT;
        int loose, packs;
        brig_history_repack_result res = {.packed = 99};

        two_snapshots(f, &s1, &s2);
        count_objects(f->git, &loose, &packs);
        assert_true(loose >= 7);
        assert_int_equal(packs, 0);

        assert_int_equal(repack(f, 1000, 0, 0, 0, &res), 0);
        assert_int_equal(res.packed, 0);
        assert_false(res.more);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(packs, 0);

        /* A bounded pass packs its share and leaves the rest loose for the next. */
        int before = loose;
        assert_int_equal(repack(f, 1, 3, 0, 0, &res), 0);
        assert_int_equal(res.packed, 3);
        assert_true(res.more);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(loose, before - 3);
        assert_int_equal(packs, 1);

        assert_int_equal(repack(f, 1, 0, 0, 0, &res), 0);
        assert_int_equal(res.packed, (size_t) loose);
        assert_false(res.more);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(loose, 0);
        assert_int_equal(packs, 2);

        /* Every snapshot is read from the pack, through the same open history. */
        log = log_ok(f, 0, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(log, "snapshots")), 2);
        assert_int_equal(brig_history_diff(f->h, s1, s2, NULL, &diff, &err), 0);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(diff, "files")), 1);
        assert_int_equal(brig_history_restore(f->h, s1, NULL, NULL, &restored, &err), 0);
        snprintf(path, sizeof(path), "%s/a.txt", f->ws);
        assert_first_line(path, "one\n");
        puts_(f, "c.txt", "sea\n");
        s3 = snap_id(f, "third", NULL);
        count_objects(f->git, &loose, &packs);
        assert_true(loose > 0);

        /* A fork shares the pack by a hard link, and reads the snapshot's files from it. */
        fork_into(f, s2, fork_git, fork_ws);
        count_objects(fork_git, &loose, &packs);
        assert_int_equal(packs, 2);
        snprintf(path, sizeof(path), "%s/dir/b.txt", fork_ws);
        assert_int_equal(access(path, F_OK), 0);
}

/* A pass stops once its objects' sizes reach the byte budget (one object at least), and no pass adds a
 * pack once the history has max_packs; what stays loose is still read. */
static void test_history__repack_is_bounded_by_bytes_and_packs(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL, *big = malloc(1000);
        _cleanup_json_ cJSON *log = NULL;
        brig_history_repack_result res;
        int loose, before, packs;

        assert_non_null(big);
        memset(big, 'x', 999); /* within the history's 1,024-byte file limit (open_h) */
        big[999] = 0;
        two_snapshots(f, &s1, &s2);
        for (int i = 0; i < 3; i++) {
                char name[16];
                big[0] = (char) ('a' + i); /* three different blobs */
                snprintf(name, sizeof(name), "big%d", i);
                puts_(f, name, big);
        }
        free(snap_id(f, "big", NULL));
        count_objects(f->git, &before, &packs);

        /* Every object is larger than this budget: one per pass. */
        assert_int_equal(repack(f, 1, 0, 1, 0, &res), 0);
        assert_int_equal(res.packed, 1);
        assert_true(res.more);
        /* At least two big blobs are left, 2,000 bytes: a 1,500-byte budget takes some, not all. */
        assert_int_equal(repack(f, 1, 0, 1500, 0, &res), 0);
        assert_true(res.packed >= 1 && res.packed < (size_t) before - 1);
        assert_true(res.more);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(loose, before - 1 - (int) res.packed);
        assert_int_equal(packs, 2);

        /* Two packs reach a cap of 2: nothing moves. */
        before = loose;
        assert_int_equal(repack(f, 1, 0, 0, 2, &res), 0);
        assert_int_equal(res.packed, 0);
        assert_false(res.more);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(loose, before);
        assert_int_equal(packs, 2);
        log = log_ok(f, 0, NULL);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(log, "snapshots")), 3);

        assert_int_equal(repack(f, 1, 0, 0, 3, &res), 0);
        assert_int_equal(res.packed, (size_t) before);
        count_objects(f->git, &loose, &packs);
        assert_int_equal(loose, 0);
        assert_int_equal(packs, 3);
}

/* The packing settings are written when the repository is created: a pass does not rewrite the config. */
static void test_history__repack_leaves_the_config_of_a_new_history_alone(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *s2 = NULL;
        brig_history_repack_result res;
        char path[PATH_MAX];
        struct stat held;

        two_snapshots(f, &s1, &s2);
        snprintf(path, sizeof(path), "%s/config", f->git);
        /* libgit2 writes a config to a lock file renamed over it: the file held open here would lose its
         * name (held, its inode number cannot be reused either). */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(repack(f, 1, 0, 0, 0, &res), 0);
        assert_true(res.packed > 0);
        assert_int_equal(fstat(fd, &held), 0);
        assert_int_equal(held.st_nlink, 1);
}

static void test_history__git_dir_inside_the_workspace_is_refused(void **state) {
        fixture *f = *state;
        brig_error err = BRIG_ERROR_INIT;
        char inside[PATH_MAX];

        snprintf(inside, sizeof(inside), "%s/.history", f->ws);
        assert_int_equal(brig_history_open(inside, f->ws, NULL, &f->h, &err), -EINVAL);
        assert_null(f->h);
        assert_string_equal(err.msg, "history: the git directory must be outside the workspace");
}

static void chown_tree(const char *path, uid_t uid) {
        DIR *d = opendir(path);
        struct dirent *e;

        assert_int_equal(lchown(path, uid, uid), 0);
        if (!d)
                return;
        while ((e = readdir(d))) {
                char sub[PATH_MAX];
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                if (e->d_type == DT_DIR)
                        chown_tree(sub, uid);
                else
                        assert_int_equal(lchown(sub, uid, uid), 0);
        }
        closedir(d);
}

static void test_history__workspace_of_another_uid(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *s1 = NULL, *secret = NULL;
        _cleanup_json_ cJSON *d = NULL;
        const uid_t uid = 100000;
        char path[PATH_MAX];
        struct stat st;

        if (geteuid() != 0 || lchown(f->ws, uid, uid) < 0)
                skip(); /* not root, or a user namespace without uid 100000 mapped */
        puts_(f, "a.txt", "a\n");
        puts_(f, "sub/b.txt", "b\n");
        chown_tree(f->ws, uid);
        assert_int_equal(chmod(f->root, 0755), 0);
        open_h(f);
        s1 = snap_id(f, NULL, NULL);
        assert_int_equal(stat(f->git, &st), 0);
        assert_int_equal(st.st_uid, uid);
        snprintf(path, sizeof(path), "%s/index", f->git);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, uid);

        rm(f, "sub");
        cJSON_Delete(restore_ok(f, s1, NULL, NULL));
        snprintf(path, sizeof(path), "%s/sub/b.txt", f->ws);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_gid, uid);
        snprintf(path, sizeof(path), "%s/sub", f->ws);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, uid);

        /* Files the owner cannot read stay out of reach: a symlink to one is stored as a link, and a
         * root-only file in the workspace is left out instead of being read as root. */
        snprintf(path, sizeof(path), "%s/link", f->ws);
        assert_int_equal(symlink("/etc/shadow", path), 0);
        assert_int_equal(lchown(path, uid, uid), 0);
        d = diff_ok(f, NULL, NULL, NULL);
        assert_null(strstr(diff_text(d), "root:"));
        cJSON_Delete(snap(f, NULL, NULL));
        put(f, "root-only.txt", "secret\n", 7);
        snprintf(path, sizeof(path), "%s/root-only.txt", f->ws);
        assert_int_equal(chmod(path, 0600), 0);
        cJSON_Delete(diff_ok(f, NULL, NULL, NULL));
        cJSON_Delete(snap(f, NULL, NULL));
        secret = head_blob(f, "root-only.txt", NULL);
        assert_null(secret);
        /* the thread got its own identity back */
        assert_int_equal(setfsuid((uid_t) -1), 0);
}

static void call_fails(fixture *f, const char *tool, const char *args, const char *msg) {
        _cleanup_json_ cJSON *a = cJSON_Parse(args);
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;

        assert_non_null(a);
        assert_int_equal(brig_history_call(f->h, tool, a, NULL, &res, &err), -EINVAL);
        assert_null(res);
        if (strcmp(err.msg, msg) != 0)
                print_error("got \"%s\"\n", err.msg);
        assert_string_equal(err.msg, msg);
}

static char *call_text(fixture *f, const char *tool, const char *args, const char *call_id, cJSON **ret) {
        _cleanup_json_ cJSON *a = cJSON_Parse(args);
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;
        char *text;
        int r;

        assert_non_null(a);
        r = brig_history_call(f->h, tool, a, call_id, &res, &err);
        if (r < 0)
                print_error("%s: %s\n", tool, err.msg);
        assert_int_equal(r, 0);
        text = brig_history_result_text(tool, res);
        assert_non_null(text);
        if (ret)
                *ret = res;
        else
                cJSON_Delete(res);
        return text;
}

static void test_history__tools_are_listed_and_validate_arguments(void **state) {
        fixture *f = *state;
        _cleanup_json_ cJSON *snapres = NULL;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL, *t6 = NULL;
        static const char *const names[] = {"snapshot", "history", "diff", "restore"};
        char args[128];

        for (int i = 0; i < 4; i++) {
                const brig_tool *t = brig_tool_find(names[i]);
                assert_non_null(t);
                assert_int_equal(t->runner, BRIG_TOOL_RUN_HISTORY);
                assert_true(strlen(t->description) > 20);
                assert_true(brig_history_is_tool(names[i]));
        }
        assert_false(brig_history_is_tool("exec"));
        assert_false(brig_history_is_tool(NULL));

        puts_(f, "a.txt", "a\n");
        open_h(f);
        call_fails(f, "history", "{\"limit\": 0}", "arguments.limit: must be at least 1");
        call_fails(f, "history", "{\"foo\": 1}", "arguments.foo: unknown field");
        call_fails(f, "snapshot", "{\"message\": 3}", "arguments.message: expected a string, got number");
        call_fails(f, "restore", "{}", "arguments.snapshot: required");
        call_fails(f, "diff", "[]", "arguments: expected an object, got array");
        call_fails(f, "checkout", "{}", "unknown tool \"checkout\"");

        t1 = call_text(f, "snapshot", "{\"message\": \"start\"}", "call-7", &snapres);
        assert_non_null(strstr(t1, "Snapshot "));
        assert_non_null(strstr(t1, "(1 file changed): start"));
        t2 = call_text(f, "snapshot", "{}", NULL, NULL);
        assert_non_null(strstr(t2, "No changes since snapshot"));
        t3 = call_text(f, "history", "{\"limit\": 5, \"path\": \"\"}", NULL, NULL);
        assert_non_null(strstr(t3, "start (1 file changed, snapshot call call-7)"));
        puts_(f, "a.txt", "b\n");
        t4 = call_text(f, "diff", "{}", NULL, NULL);
        assert_non_null(strstr(t4, "-a\n+b\n"));
        snprintf(args, sizeof(args), "{\"snapshot\": \"%.8s\", \"path\": \"a.txt\"}", sget(snapres, "id"));
        t5 = call_text(f, "restore", args, "call-8", NULL);
        assert_non_null(strstr(t5, "Restored \"a.txt\" to snapshot "));
        t6 = call_text(f, "diff", "{\"path\": \"a.txt\"}", NULL, NULL);
        assert_string_equal(t6, "No differences.");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_history__writes_nothing_into_the_workspace, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__snapshot_is_created_then_a_noop, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__history_lists_newest_first_with_call_ids,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__diff_defaults_to_head_against_the_working_tree,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__diff_between_snapshots_with_a_path_filter,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__diff_rejects_bad_ids, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_history__restore_brings_back_the_tree_and_keeps_excluded_files, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_history__restore_one_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__excludes_are_respected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__size_cap_is_respected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__content_is_stored_byte_for_byte, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__nested_repositories_do_not_break_snapshots,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__diff_is_valid_utf8_and_bounded, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__directory_cache_sees_every_change, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__reopening_keeps_history_and_index, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_history__fork_at_a_snapshot_shares_objects_and_outlives_its_source, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(
                        test_history__repack_packs_loose_objects_and_keeps_every_snapshot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__repack_is_bounded_by_bytes_and_packs, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_history__repack_leaves_the_config_of_a_new_history_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__git_dir_inside_the_workspace_is_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_history__workspace_of_another_uid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history__tools_are_listed_and_validate_arguments, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
