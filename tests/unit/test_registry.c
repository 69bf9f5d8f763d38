/* SPDX-License-Identifier: MIT */
/* The tool registry: the same tools as the policy's tools.allow knows, each entry complete and consistent,
 * and null arguments treated as absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "sandbox/policy.h"
#include "tools/registry.h"

static void test_registry__names_match_the_policy(void **state) {
        size_t n = 0;

        (void) state;
        for (size_t i = 0; brig_tool_names[i]; i++) {
                if (!brig_tool_find(brig_tool_names[i]))
                        fail_msg("policy tool %s has no registry entry", brig_tool_names[i]);
                n++;
        }
        for (size_t i = 0; brig_tool_at(i); i++) {
                bool found = false;
                for (size_t j = 0; brig_tool_names[j]; j++)
                        found = found || strcmp(brig_tool_names[j], brig_tool_at(i)->name) == 0;
                if (!found)
                        fail_msg("registry tool %s is unknown to tools.allow", brig_tool_at(i)->name);
                assert_ptr_equal(brig_tool_find(brig_tool_at(i)->name), brig_tool_at(i));
                n--;
        }
        assert_int_equal(n, 0);
        assert_null(brig_tool_find("nope"));
        assert_null(brig_tool_find(NULL));
}

static void test_registry__entries_are_complete(void **state) {
        (void) state;
        for (size_t i = 0; brig_tool_at(i); i++) {
                const brig_tool *t = brig_tool_at(i);
                _cleanup_json_ cJSON *d = brig_tool_describe(t);
                assert_non_null(d);
                assert_true(strlen(t->title) > 3 && strlen(t->description) > 20);
                assert_true(cJSON_IsObject(cJSON_GetObjectItem(d, "inputSchema")));
                assert_true(cJSON_IsObject(cJSON_GetObjectItem(d, "outputSchema")));
                assert_true(cJSON_IsBool(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "annotations"), "readOnlyHint")));
                /* A tool that grows the workspace or is snapshotted after changes it; a read changes
                 * nothing. */
                if (t->flags & (BRIG_TOOL_GROWS | BRIG_TOOL_SNAPSHOT_AFTER))
                        assert_true(t->flags & BRIG_TOOL_MUTATES);
                if (t->read_only)
                        assert_false(t->flags & BRIG_TOOL_MUTATES);
        }
}

static void test_registry__nulls_are_absent(void **state) {
        _cleanup_json_ cJSON *in =
                cJSON_Parse("{\"command\":\"x\",\"cwd\":null,\"env\":[{\"name\":\"A\",\"value\":\"1\"}],"
                            "\"edits\":[{\"old_text\":\"a\",\"replace_all\":null}],\"list\":[null]}");
        _cleanup_json_ cJSON *out = NULL;

        (void) state;
        assert_int_equal(brig_tool_args_normalize(in, &out), 0);
        _cleanup_free_ char *s = cJSON_PrintUnformatted(out);
        /* Members that are null go; null array elements stay (the handler names them). */
        assert_string_equal(s, "{\"command\":\"x\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}],"
                               "\"edits\":[{\"old_text\":\"a\"}],\"list\":[null]}");
        cJSON *none = (cJSON *) 1;
        assert_int_equal(brig_tool_args_normalize(NULL, &none), 0);
        assert_null(none);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry__names_match_the_policy),
                cmocka_unit_test(test_registry__entries_are_complete),
                cmocka_unit_test(test_registry__nulls_are_absent),
        };
        return cmocka_run_group_tests_name("tests", tests, NULL, NULL);
}
