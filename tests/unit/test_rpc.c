/* SPDX-License-Identifier: MIT */
/* Unit tests for worker/rpc.c: the JSON-RPC 2.0 envelope checks (error codes, id recovery for the error
 * reply), message classification, the exact JSON the builders produce and in-flight id keys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "worker/rpc.h"

/* Test JSON is written with single quotes for readability; this turns them into double quotes. */
static char *dq(const char *s) {
        char *d = strdup(s);
        assert_non_null(d);
        for (char *c = d; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return d;
}

/* Parses json (single-quoted) expecting success; the caller calls brig_rpc_msg_done(). */
static void parse_ok(const char *json, brig_rpc_msg *msg) {
        _cleanup_free_ char *text = dq(json);
        brig_error err = BRIG_ERROR_INIT;
        int code = 0;
        int r = brig_rpc_parse(text, strlen(text), msg, &code, &err);

        if (r < 0)
                print_error("unexpected failure for %s: %s\n", text, err.msg);
        assert_int_equal(r, 0);
        assert_int_equal(err.code, 0);
}

/* Parses json expecting failure with the JSON-RPC code and a message containing msg_part. Returns the id
 * recovered for the error reply, serialised ("null" when none); caller frees. */
static char *parse_fails(const char *json, int want_code, const char *msg_part) {
        _cleanup_free_ char *text = dq(json);
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg msg;
        int code = 0;
        char *id;
        int r = brig_rpc_parse(text, strlen(text), &msg, &code, &err);

        if (r >= 0)
                print_error("unexpected success for %s\n", text);
        assert_true(r < 0);
        assert_int_equal(err.code, r);
        assert_int_equal(code, want_code);
        if (!strstr(err.msg, msg_part))
                print_error("message '%s' lacks '%s'\n", err.msg, msg_part);
        assert_non_null(strstr(err.msg, msg_part));
        id = msg.id ? cJSON_PrintUnformatted(msg.id) : strdup("null");
        assert_non_null(id);
        brig_rpc_msg_done(&msg);
        return id;
}

static void assert_fails(const char *json, int want_code, const char *msg_part, const char *want_id) {
        _cleanup_free_ char *id = parse_fails(json, want_code, msg_part);
        assert_string_equal(id, want_id);
}

static void test_rpc__invalid_json_is_parse_error(void **state) {
        (void) state;
        assert_fails("{", BRIG_RPC_PARSE_ERROR, "invalid JSON", "null");
        assert_fails("", BRIG_RPC_PARSE_ERROR, "invalid JSON", "null");
        assert_fails("{'jsonrpc':'2.0','id':1,'method':'x'", BRIG_RPC_PARSE_ERROR, "invalid JSON", "null");
        assert_fails("{'jsonrpc':'2.0','id':1,'method':'x'} {}", BRIG_RPC_PARSE_ERROR,
                     "after the JSON value", "null");
        assert_fails("nope", BRIG_RPC_PARSE_ERROR, "invalid JSON", "null");
        /* cJSON would cut the string at the NUL: refused rather than silently shortened, and answered with
         * the request's id so the caller is not left waiting. */
        assert_fails("{'jsonrpc':'2.0','id':1,'method':'x','params':{'c':'a\\u0000b'}}",
                     BRIG_RPC_INVALID_REQUEST, "\\u0000 in a string (byte 53)", "1");
        assert_fails("{'jsonrpc':'2.0','id':'c-9','method':'x','params':{'c':'\\u0000'}}",
                     BRIG_RPC_INVALID_REQUEST, "NUL characters", "\"c-9\"");
        /* An id cut short at its own \u0000 is not the caller's id: null. */
        assert_fails("{'jsonrpc':'2.0','id':'a\\u0000b','method':'x'}", BRIG_RPC_INVALID_REQUEST,
                     "NUL characters", "null");
        /* An escaped backslash followed by u0000 is text, not a NUL. */
        brig_rpc_msg msg;
        brig_error err = BRIG_ERROR_INIT;
        int code = 0;
        _cleanup_free_ char *ok = dq("{'jsonrpc':'2.0','id':1,'method':'x','params':{'c':'a\\\\u0000b'}}");
        assert_int_equal(brig_rpc_parse(ok, strlen(ok), &msg, &code, &err), 0);
        brig_rpc_msg_done(&msg);
}

/* Bytes that are not UTF-8 never reach the tools or the audit log: refused, naming the byte, answered with
 * the request's id. */
static void test_rpc__invalid_utf8_is_refused_with_the_requests_id(void **state) {
        (void) state;
        assert_fails(
                "{'jsonrpc':'2.0','id':5,'method':'tools/call','params':{'arguments':{'command':'a\xff'}}}",
                BRIG_RPC_PARSE_ERROR, "invalid UTF-8 at byte 81 (0xff)", "5");
        /* Overlong encodings and lone continuation bytes too. */
        assert_fails("{'jsonrpc':'2.0','id':'r','method':'x','params':{'s':'\xc0\xaf'}}",
                     BRIG_RPC_PARSE_ERROR, "invalid UTF-8 at byte 54 (0xc0)", "\"r\"");
        assert_fails("{'jsonrpc':'2.0','id':6,'method':'x','params':{'s':'\x80'}}", BRIG_RPC_PARSE_ERROR,
                     "invalid UTF-8", "6");
        /* An id that is itself not UTF-8 cannot be echoed: null. */
        assert_fails("{'jsonrpc':'2.0','id':'\xff','method':'x'}", BRIG_RPC_PARSE_ERROR, "invalid UTF-8",
                     "null");
        /* A raw NUL byte is named as such. */
        {
                static const char raw[] = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\"}\0";
                brig_error err = BRIG_ERROR_INIT;
                brig_rpc_msg m;
                int code = 0;
                assert_true(brig_rpc_parse(raw, sizeof(raw) - 1, &m, &code, &err) < 0);
                assert_int_equal(code, BRIG_RPC_PARSE_ERROR);
                assert_non_null(strstr(err.msg, "NUL byte at byte 37"));
                brig_rpc_msg_done(&m);
        }
        /* Valid multi-byte text passes. */
        brig_rpc_msg msg;
        parse_ok("{'jsonrpc':'2.0','id':3,'method':'x','params':{'s':'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'}"
                 "}",
                 &msg);
        brig_rpc_msg_done(&msg);
}

static void test_rpc__parse_error_leaves_message_empty(void **state) {
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg msg;
        int code = 0;

        (void) state;
        assert_true(brig_rpc_parse("{]", 2, &msg, &code, &err) < 0);
        assert_int_equal(code, BRIG_RPC_PARSE_ERROR);
        assert_null(msg.root);
        assert_null(msg.id);
        assert_null(msg.method);
        brig_rpc_msg_done(&msg);
}

static void test_rpc__length_bounds_the_parse(void **state) {
        static const char line[] = "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}GARBAGE";
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg msg;
        int code = 0;

        (void) state;
        assert_int_equal(brig_rpc_parse(line, strlen(line) - 7, &msg, &code, &err), 0);
        assert_string_equal(msg.method, "a");
        brig_rpc_msg_done(&msg);
}

static void test_rpc__batches_are_invalid_requests(void **state) {
        (void) state;
        assert_fails("[{'jsonrpc':'2.0','id':1,'method':'ping'}]", BRIG_RPC_INVALID_REQUEST, "batch",
                     "null");
        assert_fails("[]", BRIG_RPC_INVALID_REQUEST, "batch", "null");
}

static void test_rpc__non_objects_are_invalid_requests(void **state) {
        (void) state;
        assert_fails("1", BRIG_RPC_INVALID_REQUEST, "expected a JSON object, got number", "null");
        assert_fails("'x'", BRIG_RPC_INVALID_REQUEST, "expected a JSON object, got string", "null");
        assert_fails("null", BRIG_RPC_INVALID_REQUEST, "expected a JSON object, got null", "null");
        assert_fails("true", BRIG_RPC_INVALID_REQUEST, "expected a JSON object, got boolean", "null");
}

static void test_rpc__jsonrpc_must_be_2_0(void **state) {
        (void) state;
        assert_fails("{'id':1,'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "jsonrpc", "1");
        assert_fails("{'jsonrpc':'1.0','id':1,'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "jsonrpc", "1");
        assert_fails("{'jsonrpc':2.0,'id':'a','method':'ping'}", BRIG_RPC_INVALID_REQUEST, "jsonrpc",
                     "\"a\"");
        assert_fails("{'jsonrpc':'2.0 ','method':'ping'}", BRIG_RPC_INVALID_REQUEST, "jsonrpc", "null");
}

static void test_rpc__id_must_be_string_or_integer(void **state) {
        (void) state;
        assert_fails("{'jsonrpc':'2.0','id':null,'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "id:", "null");
        assert_fails("{'jsonrpc':'2.0','id':{'a':1},'method':'ping'}", BRIG_RPC_INVALID_REQUEST,
                     "id: must be a string or an integer, got object", "null");
        assert_fails("{'jsonrpc':'2.0','id':[1],'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "got array",
                     "null");
        assert_fails("{'jsonrpc':'2.0','id':1.5,'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "got number",
                     "null");
        assert_fails("{'jsonrpc':'2.0','id':true,'method':'ping'}", BRIG_RPC_INVALID_REQUEST, "got boolean",
                     "null");
        assert_fails("{'jsonrpc':'2.0','id':1e300,'method':'ping'}", BRIG_RPC_INVALID_REQUEST,
                     "id:", "null");
}

static void test_rpc__method_must_be_a_nonempty_string(void **state) {
        (void) state;
        assert_fails("{'jsonrpc':'2.0','id':7}", BRIG_RPC_INVALID_REQUEST, "method: required", "7");
        assert_fails("{'jsonrpc':'2.0'}", BRIG_RPC_INVALID_REQUEST, "method: required", "null");
        assert_fails("{'jsonrpc':'2.0','id':7,'method':3}", BRIG_RPC_INVALID_REQUEST, "method:", "7");
        assert_fails("{'jsonrpc':'2.0','id':'q','method':null}", BRIG_RPC_INVALID_REQUEST,
                     "method:", "\"q\"");
        assert_fails("{'jsonrpc':'2.0','id':7,'method':''}", BRIG_RPC_INVALID_REQUEST, "method:", "7");
        /* A result without a usable id is not a response either. */
        assert_fails("{'jsonrpc':'2.0','result':{}}", BRIG_RPC_INVALID_REQUEST, "method: required", "null");
}

static void test_rpc__params_must_be_object_or_array(void **state) {
        static const char *const bad[] = {"1", "'x'", "true", "null"};
        char json[128];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                (void) snprintf(json, sizeof(json), "{'jsonrpc':'2.0','id':3,'method':'m','params':%s}",
                                bad[i]);
                assert_fails(json, BRIG_RPC_INVALID_REQUEST, "params:", "3");
        }
}

static void test_rpc__classifies_request(void **state) {
        brig_rpc_msg msg;

        (void) state;
        parse_ok("{'jsonrpc':'2.0','id':42,'method':'tools/call','params':{'name':'exec'}}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_REQUEST);
        assert_string_equal(msg.method, "tools/call");
        assert_true(cJSON_IsNumber(msg.id));
        assert_int_equal(msg.id->valueint, 42);
        assert_true(cJSON_IsObject(msg.params));
        assert_string_equal(cJSON_GetObjectItem(msg.params, "name")->valuestring, "exec");
        brig_rpc_msg_done(&msg);
        assert_null(msg.root);

        parse_ok("{'jsonrpc':'2.0','id':'abc','method':'ping','params':[1,2]}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_REQUEST);
        assert_true(cJSON_IsString(msg.id));
        assert_string_equal(msg.id->valuestring, "abc");
        assert_true(cJSON_IsArray(msg.params));
        brig_rpc_msg_done(&msg);

        /* Negative and zero ids are integers too; params is optional. */
        parse_ok("{'method':'ping','id':-1,'jsonrpc':'2.0'}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_REQUEST);
        assert_null(msg.params);
        brig_rpc_msg_done(&msg);
        parse_ok("{'jsonrpc':'2.0','id':0,'method':'ping'}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_REQUEST);
        assert_non_null(msg.id);
        brig_rpc_msg_done(&msg);
}

static void test_rpc__classifies_notification(void **state) {
        brig_rpc_msg msg;

        (void) state;
        parse_ok("{'jsonrpc':'2.0','method':'notifications/initialized'}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_NOTIFICATION);
        assert_null(msg.id);
        assert_string_equal(msg.method, "notifications/initialized");
        brig_rpc_msg_done(&msg);

        parse_ok("{'jsonrpc':'2.0','method':'notifications/cancelled','params':{'requestId':3}}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_NOTIFICATION);
        assert_non_null(msg.params);
        brig_rpc_msg_done(&msg);
}

static void test_rpc__classifies_response(void **state) {
        brig_rpc_msg msg;

        (void) state;
        parse_ok("{'jsonrpc':'2.0','id':5,'result':{}}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_RESPONSE);
        assert_int_equal(msg.id->valueint, 5);
        assert_null(msg.method);
        brig_rpc_msg_done(&msg);

        parse_ok("{'jsonrpc':'2.0','id':'s1','error':{'code':-1,'message':'no'}}", &msg);
        assert_int_equal(msg.kind, BRIG_RPC_RESPONSE);
        assert_string_equal(msg.id->valuestring, "s1");
        brig_rpc_msg_done(&msg);
}

/* Compares a built object with the expected single-quoted JSON, byte for byte. */
static void assert_json(cJSON *o, const char *want) {
        _cleanup_free_ char *w = dq(want);
        _cleanup_free_ char *got = NULL;

        assert_non_null(o);
        got = cJSON_PrintUnformatted(o);
        assert_non_null(got);
        assert_string_equal(got, w);
        cJSON_Delete(o);
}

static void test_rpc__result_builder(void **state) {
        cJSON *id = cJSON_CreateNumber(9), *sid = cJSON_CreateString("x\"y"), *res;

        (void) state;
        res = cJSON_CreateObject();
        assert_non_null(cJSON_AddStringToObject(res, "k", "v"));
        assert_json(brig_rpc_result(id, res), "{'jsonrpc':'2.0','id':9,'result':{'k':'v'}}");
        assert_json(brig_rpc_result(sid, cJSON_CreateArray()), "{'jsonrpc':'2.0','id':'x\\'y','result':[]}");
        assert_json(brig_rpc_result(NULL, cJSON_CreateObject()), "{'jsonrpc':'2.0','id':null,'result':{}}");
        /* The id is copied, not taken. */
        assert_int_equal(id->valueint, 9);
        cJSON_Delete(id);
        cJSON_Delete(sid);
}

static void test_rpc__error_builder(void **state) {
        cJSON *id = cJSON_CreateString("a"), *data = cJSON_CreateObject();

        (void) state;
        assert_json(
                brig_rpc_error(NULL, BRIG_RPC_PARSE_ERROR, "invalid JSON near byte 1", NULL),
                "{'jsonrpc':'2.0','id':null,'error':{'code':-32700,'message':'invalid JSON near byte 1'}}");
        assert_non_null(cJSON_AddStringToObject(data, "kind", "policy"));
        assert_json(brig_rpc_error(id, BRIG_RPC_INVALID_PARAMS, "bad", data),
                    "{'jsonrpc':'2.0','id':'a','error':{'code':-32602,'message':'bad','data':{'kind':'"
                    "policy'}}}");
        cJSON_Delete(id);
}

static void test_rpc__notification_builder(void **state) {
        cJSON *params = cJSON_CreateObject();

        (void) state;
        assert_non_null(cJSON_AddNumberToObject(params, "progress", 1));
        assert_json(brig_rpc_notification("notifications/progress", params),
                    "{'jsonrpc':'2.0','method':'notifications/progress','params':{'progress':1}}");
}

static void test_rpc__builders_round_trip_through_parse(void **state) {
        cJSON *id = cJSON_CreateNumber(77);
        _cleanup_free_ char *text = NULL;
        brig_error err = BRIG_ERROR_INIT;
        brig_rpc_msg msg;
        int code = 0;
        cJSON *o;

        (void) state;
        o = brig_rpc_result(id, cJSON_CreateObject());
        assert_non_null(o);
        text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        assert_int_equal(brig_rpc_parse(text, strlen(text), &msg, &code, &err), 0);
        assert_int_equal(msg.kind, BRIG_RPC_RESPONSE);
        assert_true(cJSON_Compare(msg.id, id, true));
        brig_rpc_msg_done(&msg);
        cJSON_Delete(id);
}

static void test_rpc__id_key_distinguishes_strings_from_numbers(void **state) {
        cJSON *s = cJSON_CreateString("1"), *n = cJSON_CreateNumber(1), *neg = cJSON_CreateNumber(-12),
              *big = cJSON_CreateNumber(4503599627370496.0), *nul = cJSON_CreateNull();
        char ks[64], kn[64], buf[64];

        (void) state;
        assert_int_equal(brig_rpc_id_key(s, ks, sizeof(ks)), 0);
        assert_int_equal(brig_rpc_id_key(n, kn, sizeof(kn)), 0);
        assert_string_not_equal(ks, kn);
        assert_string_equal(ks, "s:1");
        assert_string_equal(kn, "n:1");
        assert_int_equal(brig_rpc_id_key(neg, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "n:-12");
        assert_int_equal(brig_rpc_id_key(big, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "n:4503599627370496");
        assert_int_equal(brig_rpc_id_key(nul, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(brig_rpc_id_key(NULL, buf, sizeof(buf)), -EINVAL);
        /* Too small a buffer is an error, never a silently shortened key that could collide. */
        assert_int_equal(brig_rpc_id_key(s, buf, 3), -ENAMETOOLONG);
        cJSON_Delete(s);
        cJSON_Delete(n);
        cJSON_Delete(neg);
        cJSON_Delete(big);
        cJSON_Delete(nul);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rpc__invalid_json_is_parse_error),
                cmocka_unit_test(test_rpc__invalid_utf8_is_refused_with_the_requests_id),
                cmocka_unit_test(test_rpc__parse_error_leaves_message_empty),
                cmocka_unit_test(test_rpc__length_bounds_the_parse),
                cmocka_unit_test(test_rpc__batches_are_invalid_requests),
                cmocka_unit_test(test_rpc__non_objects_are_invalid_requests),
                cmocka_unit_test(test_rpc__jsonrpc_must_be_2_0),
                cmocka_unit_test(test_rpc__id_must_be_string_or_integer),
                cmocka_unit_test(test_rpc__method_must_be_a_nonempty_string),
                cmocka_unit_test(test_rpc__params_must_be_object_or_array),
                cmocka_unit_test(test_rpc__classifies_request),
                cmocka_unit_test(test_rpc__classifies_notification),
                cmocka_unit_test(test_rpc__classifies_response),
                cmocka_unit_test(test_rpc__result_builder),
                cmocka_unit_test(test_rpc__error_builder),
                cmocka_unit_test(test_rpc__notification_builder),
                cmocka_unit_test(test_rpc__builders_round_trip_through_parse),
                cmocka_unit_test(test_rpc__id_key_distinguishes_strings_from_numbers),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
