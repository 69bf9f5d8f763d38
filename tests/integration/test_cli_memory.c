/* SPDX-License-Identifier: MIT */
/* `brig memory list|show|export|import` on a state directory whose stores the memory store's own code
 * wrote, as brigd would: what an operator sees, an export imported elsewhere with every version, an
 * existing scope kept unless --replace, and archives the importer must refuse (a manifest that lies, an
 * environment's archive) leaving no scope behind. Needs no daemon and no privileges. */
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
#include "tests/integration/harness.h"
#include "tools/memory_store.h"

static char tmp[] = "/tmp/brig-test-cli-memory.XXXXXX";
static char out[1 << 16];

/* One commit of path=text to the store at <tmp>/state/memory/scope, by environment env. */
static void write_memory(const char *scope, const char *env, const char *path, const char *text) {
        char dir[512], id[41];
        brig_memory *m = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_memory_change c = {.path = path, .data = text, .len = strlen(text)};
        brig_memory_limits lim = {.max_bytes = 1 << 20, .max_files = 100};
        brig_memory_author who = {
                .environment = env, .call_id = "7", .peer_uid = 1000, .command = "create", .path = path};

        (void) snprintf(dir, sizeof(dir), "%s/state/memory/%s", tmp, scope);
        assert_int_equal(brig_memory_open(dir, &m, &err), 0);
        assert_int_equal(brig_memory_lock(m, &err), 0);
        assert_int_equal(brig_memory_commit(m, &c, 1, &lim, &who, id, &err), 0);
        brig_memory_free(m);
}

/* `brig memory --state-dir state ARGS 2>&1` in tmp: its exit status; its output in out. */
static int memory(const char *args) {
        return run_shell(out, sizeof(out), "cd %s && %s/brig memory --state-dir state %s 2>&1", tmp,
                         build_dir(), args);
}

static bool exists(const char *rel) {
        char path[512];
        struct stat st;
        (void) snprintf(path, sizeof(path), "%s/%s", tmp, rel);
        return lstat(path, &st) == 0;
}

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmp))
                return -1;
        write_memory("owner/1000", "env-a", "notes/build.md", "make -j2\n");
        write_memory("owner/1000", "env-b", "notes/build.md", "ninja -C build\n");
        write_memory("owner/1000", "env-b", "quirks.md", "the API returns 202 first\n");
        write_memory("named/team", "env-c", "review.md", "no mocks\n");
        return 0;
}

static int teardown(void **state) {
        (void) state;
        return brig_rm_rf(tmp);
}

static void test_list_and_show(void **state) {
        (void) state;
        assert_int_equal(memory("list"), 0);
        /* owner/1000: 2 files, 15 + 26 bytes */
        assert_non_null(strstr(out, "owner/1000"));
        assert_non_null(strstr(out, "       2           41  "));
        assert_non_null(strstr(out, "named/team"));

        assert_int_equal(memory("show owner/1000 /memories/notes/build.md"), 0);
        assert_string_equal(out, "ninja -C build\n");
        assert_int_equal(memory("show owner/1000"), 0);
        assert_non_null(strstr(out, "/memories/notes/build.md"));
        assert_non_null(strstr(out, "/memories/quirks.md"));
        assert_int_equal(memory("show owner/1000 notes/build.md --history"), 0);
        assert_non_null(strstr(out, "environment=env-a"));
        assert_non_null(strstr(out, "environment=env-b"));
        assert_null(strstr(out, "quirks"));

        assert_int_equal(memory("show owner/1000 missing.md"), 1);
        assert_int_equal(memory("show owner/2000"), 1);
        assert_non_null(strstr(out, "no such scope"));
        assert_false(exists("state/memory/owner/2000"));
        assert_int_equal(memory("show etc"), 2);
        assert_int_equal(memory("show owner/.."), 2);
}

static void test_export_import(void **state) {
        (void) state;
        assert_int_equal(memory("export owner/1000 -o owner.brig"), 0);
        assert_true(exists("owner.brig"));
        /* Readable with tar alone, in the environment archive's layout. */
        assert_int_equal(run_shell(out, sizeof(out), "tar --zstd -tf %s/owner.brig", tmp), 0);
        assert_non_null(strstr(out, "brig-environment.json\n"));
        assert_non_null(strstr(out, "workspace/notes/build.md\n"));
        assert_non_null(strstr(out, "history.git/HEAD\n"));
        assert_non_null(strstr(out, "MANIFEST.json\n"));

        assert_int_equal(memory("import named/copy owner.brig"), 0);
        assert_int_equal(memory("show named/copy notes/build.md"), 0);
        assert_string_equal(out, "ninja -C build\n");
        assert_int_equal(memory("show named/copy notes/build.md --history"), 0);
        assert_non_null(strstr(out, "environment=env-a"));

        /* An existing scope is kept unless asked. */
        assert_int_equal(memory("import named/team owner.brig"), 1);
        assert_non_null(strstr(out, "--replace"));
        assert_int_equal(memory("show named/team review.md"), 0);
        assert_int_equal(memory("import named/team owner.brig --replace"), 0);
        assert_int_equal(memory("show named/team review.md"), 1);
        assert_int_equal(memory("show named/team quirks.md"), 0);
        assert_string_equal(out, "the API returns 202 first\n");
        assert_int_equal(run_shell(out, sizeof(out), "ls -a %s/state/memory/named", tmp), 0);
        assert_null(strstr(out, ".import-"));
}

/* The archive repacked by the tests' reference writer, with --bad CASE or valid. */
static void repack(const char *name, const char *bad) {
        assert_int_equal(
                run_shell(out, sizeof(out),
                          "set -e; rm -rf %1$s/x; mkdir %1$s/x; tar --zstd -xf %1$s/owner.brig -C %1$s/x;"
                          " rm %1$s/x/MANIFEST.json; %2$s %3$s/tests/integration/brig_archive.py "
                          "%1$s/x %1$s/%4$s %5$s 2>&1",
                          tmp, "python3", source_dir(), name, bad),
                0);
}

static void test_import_refusals(void **state) {
        (void) state;
        assert_int_equal(memory("export owner/1000 -o owner.brig"), 0);
        repack("good.brig", "");
        assert_int_equal(memory("import named/good good.brig"), 0);

        repack("sha.brig", "--bad sha");
        assert_int_equal(memory("import named/sha sha.brig"), 1);
        assert_non_null(strstr(out, "MANIFEST.json"));
        assert_false(exists("state/memory/named/sha"));

        assert_int_equal(
                run_shell(out, sizeof(out),
                          "sed -i 's/brig-memory/brig-environment/' %1$s/x/brig-environment.json && "
                          "rm -f %1$s/x/MANIFEST.json && python3 %2$s/tests/integration/brig_archive.py "
                          "%1$s/x %1$s/env.brig",
                          tmp, source_dir()),
                0);
        assert_int_equal(memory("import named/env env.brig"), 1);
        assert_non_null(strstr(out, "not a memory's"));
        assert_false(exists("state/memory/named/env"));

        assert_int_equal(run_shell(out, sizeof(out), "head -c 300 %1$s/owner.brig > %1$s/cut.brig", tmp), 0);
        assert_int_equal(memory("import named/cut cut.brig"), 1);
        assert_false(exists("state/memory/named/cut"));
        assert_int_equal(run_shell(out, sizeof(out), "ls -a %s/state/memory/named", tmp), 0);
        assert_null(strstr(out, ".import-"));
}

/* The search index is derived state: an export leaves it out, and an import does not keep one that came
 * with the archive (it could understate the scope's usage). */
static void test_index_stays_home(void **state) {
        char dir[512];
        brig_memory *m = NULL;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *found = NULL;

        (void) state;
        (void) snprintf(dir, sizeof(dir), "%s/state/memory/owner/1000", tmp);
        assert_int_equal(brig_memory_open(dir, &m, &err), 0);
        assert_int_equal(brig_memory_lock(m, &err), 0);
        assert_int_equal(brig_memory_search(m, "ninja", 5, &found, &err), 0);
        cJSON_Delete(found);
        brig_memory_free(m);
        assert_true(exists("state/memory/owner/1000/" BRIG_MEMORY_INDEX_FILE));

        assert_int_equal(memory("export owner/1000 -o indexed.brig"), 0);
        assert_int_equal(run_shell(out, sizeof(out), "tar --zstd -tf %s/indexed.brig", tmp), 0);
        assert_non_null(strstr(out, "history.git/HEAD\n"));
        assert_null(strstr(out, BRIG_MEMORY_INDEX_FILE));

        assert_int_equal(
                run_shell(out, sizeof(out),
                          "set -e; rm -rf %1$s/x; mkdir %1$s/x; tar --zstd -xf %1$s/indexed.brig -C %1$s/x;"
                          " rm %1$s/x/MANIFEST.json; printf planted > %1$s/x/history.git/%2$s;"
                          " python3 %3$s/tests/integration/brig_archive.py %1$s/x %1$s/planted.brig 2>&1",
                          tmp, BRIG_MEMORY_INDEX_FILE, source_dir()),
                0);
        assert_int_equal(memory("import named/planted planted.brig"), 0);
        assert_int_equal(run_shell(out, sizeof(out),
                                   "head -c 7 %s/state/memory/named/planted/%s 2>/dev/null; true", tmp,
                                   BRIG_MEMORY_INDEX_FILE),
                         0);
        assert_string_not_equal(out, "planted");
        assert_int_equal(memory("show named/planted notes/build.md"), 0);
        assert_string_equal(out, "ninja -C build\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_and_show),
                cmocka_unit_test(test_export_import),
                cmocka_unit_test(test_import_refusals),
                cmocka_unit_test(test_index_stays_home),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
