/* SPDX-License-Identifier: MIT */
/* Unit tests for tools/process.c without a jail: what a restarted worker finds of its processes. A table
 * loaded from a directory lists the processes whose end was recorded as they ended and the others as
 * lost, serves the output kept in their logs, continues ids after the highest file, removes what nothing
 * describes (a log without description, a temporary) and keeps only the newest BRIG_MAX_PROCESSES; the
 * process tools name what is wrong with their arguments. */
#include <errno.h>
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

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "tools/process.h"

static char tmpdir[] = "/tmp/brig-test-process-table.XXXXXX";
static char procdir[sizeof(tmpdir) + 16];

static int setup(void **state) {
        (void) state;
        if (!mkdtemp(tmpdir))
                return -1;
        (void) snprintf(procdir, sizeof(procdir), "%s/processes", tmpdir);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        return brig_rm_rf(tmpdir);
}

/* Each test starts with an empty processes/ directory. */
static int fresh(void **state) {
        (void) state;
        (void) brig_rm_rf(procdir);
        return mkdir(procdir, 0700);
}

static void put(const char *name, const char *text) {
        char path[256];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/%s", procdir, name);
        assert_non_null(f = fopen(path, "we"));
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void put_log(const char *name, const char *data) {
        brig_process_log log = BRIG_PROCESS_LOG_INIT;
        brig_error err = BRIG_ERROR_INIT;
        char path[256];

        (void) snprintf(path, sizeof(path), "%s/%s", procdir, name);
        assert_int_equal(brig_process_log_create(AT_FDCWD, path, 64, &log, &err), 0);
        assert_int_equal(brig_process_log_append(&log, data, strlen(data), &err), 0);
        brig_process_log_close(&log);
}

static bool exists(const char *name) {
        char path[256];

        (void) snprintf(path, sizeof(path), "%s/%s", procdir, name);
        return access(path, F_OK) == 0;
}

static void put_ended(unsigned n) {
        char name[32], text[256];

        (void) snprintf(name, sizeof(name), "p%u.json", n);
        (void) snprintf(text, sizeof(text),
                        "{\"version\": 1, \"process_id\": \"p%u\", \"command\": \"echo %u\", \"started\": "
                        "1700000000, \"ended\": 1700000001, \"exit_code\": 3, \"signal\": null, "
                        "\"duration_ms\": 1000, \"output_bytes\": 6}",
                        n, n);
        put(name, text);
}

static void load(brig_process_table *t) {
        static const brig_process_hooks no_hooks = {0};

        assert_int_equal(brig_process_table_init(t, "test", tmpdir, &no_hooks), 0);
        assert_int_equal(brig_process_table_load(t), 0);
}

static cJSON *call(brig_process_table *t, const char *tool, const char *args, brig_error *err) {
        _cleanup_json_ cJSON *a = cJSON_Parse(args);

        assert_non_null(a);
        *err = (brig_error) BRIG_ERROR_INIT;
        return brig_process_call(t, tool, a, err);
}

static const char *str(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        assert_true(cJSON_IsString(v));
        return v->valuestring;
}

static double num(const cJSON *o, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        assert_true(cJSON_IsNumber(v));
        return v->valuedouble;
}

static void test_process_table__restart_lists_ended_and_lost_processes_with_their_output(void **state) {
        brig_process_table t;
        brig_error err;
        (void) state;

        put_ended(1);
        put_log("p1.log", "hello\n");
        /* Running when the worker died: no end recorded. */
        put("p3.json",
            "{\"version\": 1, \"process_id\": \"p3\", \"command\": \"sleep 100\", \"started\": "
            "1700000000, \"ended\": null, \"exit_code\": null, \"signal\": null, \"duration_ms\": "
            "null, \"output_bytes\": 0}");
        put_log("p3.log", "partial");
        load(&t);
        assert_int_equal(t.n, 2);
        assert_int_equal(t.next_number, 3);

        _cleanup_json_ cJSON *list = call(&t, "process_list", "{}", &err);
        assert_non_null(list);
        const cJSON *procs = cJSON_GetObjectItemCaseSensitive(list, "processes");
        assert_int_equal(cJSON_GetArraySize(procs), 2);
        /* Oldest first. */
        const cJSON *p1 = cJSON_GetArrayItem(procs, 0), *p3 = cJSON_GetArrayItem(procs, 1);
        assert_string_equal(str(p1, "process_id"), "p1");
        assert_string_equal(str(p1, "state"), "exited");
        assert_string_equal(str(p1, "command"), "echo 1");
        assert_int_equal(num(p1, "exit_code"), 3);
        assert_int_equal(num(p1, "duration_ms"), 1000);
        assert_int_equal(num(p1, "output_bytes"), 6);
        assert_string_equal(str(p3, "process_id"), "p3");
        assert_string_equal(str(p3, "state"), "lost");
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p3, "exit_code")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p3, "duration_ms")));
        /* How far it got is what its log holds. */
        assert_int_equal(num(p3, "output_bytes"), 7);
        assert_non_null(strstr(str(p3, "error"), "brigd restarted"));

        _cleanup_json_ cJSON *out =
                call(&t, "process_output", "{\"process_id\": \"p1\", \"offset\": 2}", &err);
        assert_non_null(out);
        assert_string_equal(str(out, "data"), "llo\n");
        assert_string_equal(str(out, "encoding"), "utf8");
        assert_int_equal(num(out, "offset"), 2);
        assert_int_equal(num(out, "next_offset"), 6);
        _cleanup_json_ cJSON *lost = call(&t, "process_output", "{\"process_id\": \"p3\"}", &err);
        assert_non_null(lost);
        assert_string_equal(str(lost, "data"), "partial");

        /* Nothing of them runs any more. */
        assert_null(call(&t, "process_write", "{\"process_id\": \"p1\", \"data\": \"x\"}", &err));
        assert_int_equal(err.code, -ESRCH);
        assert_string_equal(err.msg, "process p1 has exited");
        assert_null(call(&t, "process_kill", "{\"process_id\": \"p3\"}", &err));
        assert_non_null(strstr(err.msg, "ended with the worker"));
        brig_process_table_free(&t);
}

static void test_process_table__restart_removes_undescribed_files_and_continues_ids(void **state) {
        brig_process_table t;
        brig_error err;
        (void) state;

        put_ended(2);
        put_log("p2.log", "hello\n");
        put_log("p9.log", "a log whose description was never written");
        put(".p2.json.tmp", "{\"half\": ");
        put("p04.json", "not one of ours: the name is not canonical");
        put("p5.json", "{\"version\": 1, \"process_id\": \"p6\"}");
        load(&t);
        /* The highest id of any file is never handed out again. */
        assert_int_equal(t.next_number, 9);
        assert_int_equal(t.n, 1);
        assert_true(exists("p2.json") && exists("p2.log"));
        assert_false(exists("p9.log"));
        assert_false(exists(".p2.json.tmp"));
        assert_true(exists("p04.json"));
        /* A damaged description is skipped, not removed: it may be read by hand. */
        assert_true(exists("p5.json"));

        assert_null(call(&t, "process_output", "{\"process_id\": \"p5\"}", &err));
        assert_int_equal(err.kind, BRIG_KIND_NOT_FOUND);
        assert_string_equal(err.msg, "arguments.process_id: no process \"p5\" in this environment");
        assert_null(call(&t, "process_output", "{\"process_id\": \"p2\", \"bogus\": 1}", &err));
        assert_int_equal(err.kind, BRIG_KIND_INVALID_ARGUMENT);
        assert_non_null(strstr(err.msg, "bogus"));
        assert_null(call(&t, "process_kill", "{\"process_id\": \"p2\", \"signal\": \"SIGNOPE\"}", &err));
        assert_string_equal(err.msg, "arguments.signal: unknown signal \"SIGNOPE\"");
        assert_null(call(&t, "process_nothing", "{}", &err));
        assert_int_equal(err.code, -ENOSYS);
        brig_process_table_free(&t);
}

static void test_process_table__restart_keeps_only_the_newest(void **state) {
        brig_process_table t;
        brig_error err;
        (void) state;

        for (unsigned n = 1; n <= BRIG_MAX_PROCESSES + 2; n++)
                put_ended(n);
        put_log("p1.log", "old\n");
        load(&t);
        assert_int_equal(t.n, BRIG_MAX_PROCESSES);
        assert_int_equal(t.next_number, BRIG_MAX_PROCESSES + 2);
        assert_false(exists("p1.json") || exists("p1.log") || exists("p2.json"));
        assert_true(exists("p3.json"));

        _cleanup_json_ cJSON *list = call(&t, "process_list", "{}", &err);
        assert_non_null(list);
        const cJSON *procs = cJSON_GetObjectItemCaseSensitive(list, "processes");
        assert_int_equal(cJSON_GetArraySize(procs), BRIG_MAX_PROCESSES);
        assert_string_equal(str(cJSON_GetArrayItem(procs, 0), "process_id"), "p3");
        brig_process_table_free(&t);
}

static void test_process_table__no_directory_is_an_empty_table(void **state) {
        brig_process_table t;
        brig_error err;
        (void) state;

        assert_int_equal(brig_rm_rf(procdir), 0);
        load(&t);
        assert_int_equal(t.n, 0);
        assert_int_equal(t.next_number, 0);
        _cleanup_json_ cJSON *list = call(&t, "process_list", "{}", &err);
        assert_non_null(list);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "processes")), 0);
        brig_process_table_free(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(
                        test_process_table__restart_lists_ended_and_lost_processes_with_their_output, fresh),
                cmocka_unit_test_setup(
                        test_process_table__restart_removes_undescribed_files_and_continues_ids, fresh),
                cmocka_unit_test_setup(test_process_table__restart_keeps_only_the_newest, fresh),
                cmocka_unit_test_setup(test_process_table__no_directory_is_an_empty_table, fresh),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
