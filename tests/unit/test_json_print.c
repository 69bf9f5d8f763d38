/* SPDX-License-Identifier: MIT */
/* Unit tests for common/json_print.c: numbers, strings and whole trees print byte for byte as
 * cJSON_PrintUnformatted() prints them. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/json_print.h"

static void same_as_cjson(const cJSON *item) {
        _cleanup_free_ char *want = cJSON_PrintUnformatted(item);
        _cleanup_(brig_buf_done) brig_buf got = {0};

        assert_non_null(want);
        assert_int_equal(brig_json_print_append(item, &got), 0);
        assert_non_null(got.data);
        assert_string_equal(got.data, want);
        assert_int_equal(got.len, strlen(want));
}

static void test_json_print__numbers_print_as_cjson(void **state) {
        static const double v[] = {
                0,
                -0.0,
                1,
                -1,
                7,
                1024,
                2147483647.0,
                2147483648.0,
                -2147483649.0,
                1e14,
                999999999999999.0,
                -999999999999999.0,
                1e15,
                -1e15,
                1e16,
                123456789012345678.0,
                9007199254740993.0,
                0.5,
                -0.25,
                3.141592653589793,
                0.1,
                1e300,
                -1e-300,
                4.9e-324,
                1.7976931348623157e308,
        };
        char buf[BRIG_JSON_NUMBER_SIZE];

        (void) state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                _cleanup_json_ cJSON *n = cJSON_CreateNumber(v[i]);
                _cleanup_free_ char *want = cJSON_PrintUnformatted(n);
                int r = brig_json_print_number(n, buf);

                assert_non_null(want);
                assert_int_equal(r, (int) strlen(want));
                assert_string_equal(buf, want);
        }
        /* Not numbers JSON has: cJSON prints null. */
        _cleanup_json_ cJSON *nan = cJSON_CreateNumber(NAN), *inf = cJSON_CreateNumber(-INFINITY);
        assert_int_equal(brig_json_print_number(nan, buf), 4);
        assert_string_equal(buf, "null");
        same_as_cjson(inf);
}

static void test_json_print__trees_print_as_cjson(void **state) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        cJSON *a, *in;

        (void) state;
        assert_non_null(o);
        cJSON_AddStringToObject(o, "jsonrpc", "2.0");
        cJSON_AddNumberToObject(o, "id", 42);
        cJSON_AddStringToObject(o, "esc", "q\" b\\ \b\f\n\r\t \x01\x1f \x7f / caf\xc3\xa9 \xe2\x82\xac");
        cJSON_AddStringToObject(o, "k\"e\ny", "");
        cJSON_AddNullToObject(o, "nothing");
        cJSON_AddTrueToObject(o, "yes");
        cJSON_AddFalseToObject(o, "no");
        cJSON_AddRawToObject(o, "raw", "{\"pre\":[1,2]}");
        cJSON_AddObjectToObject(o, "empty_object");
        cJSON_AddArrayToObject(o, "empty_array");
        a = cJSON_AddArrayToObject(o, "mixed");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(-3.5));
        cJSON_AddItemToArray(a, cJSON_CreateString("x"));
        in = cJSON_CreateObject();
        cJSON_AddItemToArray(a, in);
        cJSON_AddNumberToObject(in, "seq", 18446744073709551615.0);
        cJSON_AddItemToObject(in, "deeper", cJSON_CreateArray());
        assert_non_null(cJSON_AddNumberToObject(o, "last", -0.0));
        same_as_cjson(o);
        same_as_cjson(a);
        same_as_cjson(cJSON_GetObjectItem(o, "esc"));

        /* A string item without its text prints as "", as cJSON has it. */
        _cleanup_json_ cJSON *s = cJSON_CreateString("gone");
        cJSON_free(s->valuestring);
        s->valuestring = NULL;
        same_as_cjson(s);
}

static void test_json_print__appends_and_refuses_what_cjson_cannot_print(void **state) {
        _cleanup_(brig_buf_done) brig_buf b = {0};
        _cleanup_json_ cJSON *raw = cJSON_CreateRaw("1"), *bad = cJSON_CreateNull();

        (void) state;
        assert_int_equal(brig_buf_append(&b, "x=", 2), 2);
        assert_int_equal(brig_json_print_string(&b, "a\"b", 3), 0);
        assert_int_equal(brig_json_print_string(&b, NULL, 0), 0);
        assert_string_equal(b.data, "x=\"a\\\"b\"\"\"");
        cJSON_free(raw->valuestring);
        raw->valuestring = NULL;
        assert_int_equal(brig_json_print_append(raw, &b), -EINVAL);
        bad->type = cJSON_Invalid;
        assert_int_equal(brig_json_print_append(bad, &b), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_print__numbers_print_as_cjson),
                cmocka_unit_test(test_json_print__trees_print_as_cjson),
                cmocka_unit_test(test_json_print__appends_and_refuses_what_cjson_cannot_print),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
