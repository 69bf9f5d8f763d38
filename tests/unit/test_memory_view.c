/* SPDX-License-Identifier: MIT */
/* The checked-out view of a memory scope (worker/memory_view.h): it follows the store's versions — new,
 * changed and removed files, a file that becomes a directory and back — and leaves an unchanged file alone
 * (a reader's open file stays the current one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "tools/memory_store.h"
#include "worker/memory_view.h"

static char tmp[] = "/tmp/brig-test-memory-view.XXXXXX";
static char store[128], view[128];

/* One commit: path gets text, or goes when text is NULL. Then the view is updated. */
static void change(const char *path, const char *text) {
        brig_memory *m = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_memory_change c = {.path = path, .data = text, .len = text ? strlen(text) : 0};
        brig_memory_limits lim = {.max_bytes = 1 << 20, .max_files = 100};
        brig_memory_author who = {.environment = "e", .command = "create", .path = path};
        char id[41];

        assert_int_equal(brig_memory_open(store, &m, &err), 0);
        assert_int_equal(brig_memory_lock(m, &err), 0);
        assert_int_equal(brig_memory_commit(m, &c, 1, &lim, &who, id, &err), 0);
        brig_memory_free(m);
        assert_int_equal(brig_memory_view_update(store, view, &err), 0);
}

/* The view's file at rel ("" when absent, "<dir>" for a directory). */
static const char *in_view(const char *rel) {
        static char buf[256];
        char path[256];
        struct stat st;
        FILE *f;
        size_t n;

        (void) snprintf(path, sizeof(path), "%s/%s", view, rel);
        if (lstat(path, &st) < 0)
                return "";
        if (S_ISDIR(st.st_mode))
                return "<dir>";
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_non_null(f = fopen(path, "re"));
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static ino_t inode(const char *rel) {
        char path[256];
        struct stat st;
        (void) snprintf(path, sizeof(path), "%s/%s", view, rel);
        assert_int_equal(lstat(path, &st), 0);
        return st.st_ino;
}

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmp))
                return -1;
        (void) snprintf(store, sizeof(store), "%s/memory/owner/1", tmp);
        (void) snprintf(view, sizeof(view), "%s/memory-view/owner/1", tmp);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        return brig_rm_rf(tmp);
}

static void test_view_follows_the_store(void **state) {
        (void) state;
        change("a/b.md", "one\n");
        assert_string_equal(in_view("a/b.md"), "one\n");
        change("c.md", "c\n");
        ino_t kept = inode("a/b.md");
        change("c.md", "c2\n");
        assert_string_equal(in_view("c.md"), "c2\n");
        /* An unchanged file is not rewritten. */
        assert_true(inode("a/b.md") == kept);

        /* A file becomes a directory, and the directory a file again. */
        change("c.md", NULL);
        change("c.md/d.md", "d\n");
        assert_string_equal(in_view("c.md"), "<dir>");
        assert_string_equal(in_view("c.md/d.md"), "d\n");
        change("c.md/d.md", NULL);
        change("c.md", "file again\n");
        assert_string_equal(in_view("c.md"), "file again\n");

        /* Removed files go, and the directories that held only them. */
        change("a/b.md", NULL);
        assert_string_equal(in_view("a/b.md"), "");
        assert_string_equal(in_view("a"), "");
        assert_string_equal(in_view("c.md"), "file again\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_view_follows_the_store),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
