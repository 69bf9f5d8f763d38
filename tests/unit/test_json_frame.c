/* SPDX-License-Identifier: MIT */
/* Unit tests for common/json_frame.c: a frame's segments, written in order (encoded ones a bounded part at
 * a time), are byte for byte what cJSON_PrintUnformatted() prints plus a newline; large strings travel in
 * the buffer they were built in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json_frame.h"
#include "common/text.h"

/* Prints msg both ways (consuming it) and compares; returns the frame for more checks. */
static brig_json_frame check_same_as_cjson(cJSON *msg) {
        brig_json_frame f = {0};
        _cleanup_free_ char *want = cJSON_PrintUnformatted(msg);
        size_t at = 0;

        assert_non_null(want);
        assert_int_equal(brig_json_frame_print(msg, &f), 0);
        assert_int_equal(f.total, strlen(want) + 1);
        for (size_t i = 0; i < f.n; i++) {
                assert_true(at + f.segs[i].len <= f.total);
                if (at + f.segs[i].len == f.total) {
                        assert_memory_equal(f.segs[i].data, want + at, f.segs[i].len - 1);
                        assert_int_equal(f.segs[i].data[f.segs[i].len - 1], '\n');
                } else
                        assert_memory_equal(f.segs[i].data, want + at, f.segs[i].len);
                at += f.segs[i].len;
        }
        assert_int_equal(at, f.total);
        return f;
}

static char *big_string(size_t len, unsigned seed) {
        static const char pick[] = "abc \n\t\"\\\x01\x1f\x7f\xc3\xa9/";
        char *s = malloc(len + 1);
        assert_non_null(s);
        for (size_t i = 0; i < len; i++)
                s[i] = rand_r(&seed) % 4 ? (char) ('a' + i % 26)
                                         : pick[(size_t) rand_r(&seed) % (sizeof(pick) - 1)];
        s[len] = 0;
        return s;
}

static void test_json_frame__small_message_prints_as_cjson(void **state) {
        cJSON *m = cJSON_CreateObject();
        (void) state;
        cJSON_AddStringToObject(m, "jsonrpc", "2.0");
        cJSON_AddNumberToObject(m, "id", 7);
        cJSON *r = cJSON_AddObjectToObject(m, "result");
        cJSON_AddNumberToObject(r, "pi", 3.141592653589793);
        cJSON_AddNumberToObject(r, "big", 1e300);
        cJSON_AddNumberToObject(r, "neg", -12);
        cJSON_AddNumberToObject(r, "huge", 18446744073709551615.0);
        cJSON_AddNullToObject(r, "null");
        cJSON_AddBoolToObject(r, "t", true);
        cJSON_AddBoolToObject(r, "f", false);
        cJSON_AddObjectToObject(r, "empty_object");
        cJSON_AddArrayToObject(r, "empty_array");
        cJSON_AddStringToObject(r, "key \"with\"\n\x01 escapes", "value\t\\ \xe2\x82\xac");
        cJSON *a = cJSON_AddArrayToObject(r, "list");
        cJSON_AddItemToArray(a, cJSON_CreateString(""));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(0.5));
        cJSON_AddItemToArray(a, cJSON_CreateArray());
        cJSON_AddItemToArray(a, cJSON_CreateRaw("{\"raw\":1}"));
        brig_json_frame f = check_same_as_cjson(m);
        assert_int_equal(f.n, 1);
        brig_json_frame_done(&f);
}

/* Large strings, escapes and all, print as cJSON prints them, each in its own segment: the buffer the string
 * was built in (taken, not copied). A string the tree only references is copied, never taken. */
static void test_json_frame__large_strings_travel_in_their_own_buffers(void **state) {
        _cleanup_free_ char *ref = big_string(70000, 3);
        cJSON *m = cJSON_CreateObject();
        (void) state;
        for (unsigned k = 0; k < 3; k++) {
                char key[8];
                snprintf(key, sizeof(key), "s%u", k);
                cJSON_AddItemToObject(m, key, brig_json_string_take(big_string(65536 + k * 1000, k)));
                cJSON_AddNumberToObject(m, "n", k);
        }
        cJSON_AddItemToObject(m, "clean", brig_json_string_take(memset(calloc(1, 100001), 'x', 100000)));
        cJSON_AddItemToObject(m, "ref", cJSON_CreateStringReference(ref));
        cJSON_AddStringToObject(m, "just_below", memset((char[65536]){0}, 'y', 65535));
        brig_json_frame f = check_same_as_cjson(m);
        /* small, s0, small, s1, small, s2, small, clean, the rest (ref and just_below copied into it) */
        assert_int_equal(f.n, 9);
        assert_int_equal(f.segs[7].len, 100000);
        brig_json_frame_done(&f);
}

/* Writes f in parts of at most cap encoded bytes, max_iov entries a call; returns the bytes (NUL-ended). */
static char *write_in_parts(const brig_json_frame *f, size_t cap, size_t max_iov) {
        char *out = malloc(f->total + 1), *chunk = malloc(cap);
        brig_json_frame_pos pos = {0};
        struct iovec iov[8];
        size_t n, at = 0;

        assert_non_null(out);
        assert_non_null(chunk);
        while ((n = brig_json_frame_next(f, &pos, chunk, cap, iov, max_iov)) > 0) {
                assert_true(n <= max_iov);
                for (size_t i = 0; i < n; i++) {
                        if (iov[i].iov_base == chunk)
                                assert_true(iov[i].iov_len <= cap);
                        assert_true(at + iov[i].iov_len <= f->total);
                        memcpy(out + at, iov[i].iov_base, iov[i].iov_len);
                        at += iov[i].iov_len;
                }
        }
        assert_int_equal(at, f->total);
        out[at] = 0;
        free(chunk);
        return out;
}

static char *dup_bytes(const char *s, size_t len) {
        char *d = malloc(len + 1);
        assert_non_null(d);
        memcpy(d, s, len);
        return d;
}

/* Strings held raw (brig_json_bytes_take) print as cJSON prints their escaped text or their base64, at
 * every part size and however few iovecs a call may fill: base64 groups and escapes cut at any part
 * boundary, UTF-8 characters split between parts, control bytes, and every base64 padding case. */
static void test_json_frame__encoded_strings_write_as_cjson_in_parts(void **state) {
        static const char text[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \x01\x1f\t\n\r end";
        static const char bin[] = {'a', (char) 0xff, 0, 'b', (char) 0xc3, (char) 0x80, 0, 0x7f, '\n', 'z'};

        (void) state;
        for (size_t blen = 0; blen <= sizeof(bin); blen++) {
                _cleanup_free_ char *big = big_string(100000 + blen, (unsigned) blen);
                _cleanup_free_ char *b64 = brig_base64_encode(bin, blen);
                _cleanup_free_ char *big_b64 = brig_base64_encode(big, 100000 + blen);
                cJSON *want_msg = cJSON_CreateObject(), *m = cJSON_CreateObject();
                cJSON_AddStringToObject(want_msg, "text", text);
                cJSON_AddNumberToObject(want_msg, "n", 1);
                cJSON_AddStringToObject(want_msg, "bin", b64);
                cJSON_AddStringToObject(want_msg, "big", big);
                cJSON_AddStringToObject(want_msg, "big_b64", big_b64);
                cJSON_AddStringToObject(want_msg, "empty", "");
                cJSON_AddStringToObject(want_msg, "counted", big);
                _cleanup_free_ char *want = cJSON_PrintUnformatted(want_msg);
                cJSON_Delete(want_msg);
                cJSON_AddItemToObject(m, "text",
                                      brig_json_bytes_take(dup_bytes(text, sizeof(text) - 1),
                                                           sizeof(text) - 1, BRIG_JSON_ESCAPE));
                cJSON_AddNumberToObject(m, "n", 1);
                cJSON_AddItemToObject(m, "bin",
                                      brig_json_bytes_take(dup_bytes(bin, blen), blen, BRIG_JSON_BASE64));
                cJSON_AddItemToObject(m, "big",
                                      brig_json_bytes_take(dup_bytes(big, 100000 + blen), 100000 + blen,
                                                           BRIG_JSON_ESCAPE));
                cJSON_AddItemToObject(m, "big_b64",
                                      brig_json_bytes_take(dup_bytes(big, 100000 + blen), 100000 + blen,
                                                           BRIG_JSON_BASE64));
                cJSON_AddItemToObject(m, "empty",
                                      brig_json_bytes_take(dup_bytes("", 0), 0, BRIG_JSON_BASE64));
                /* Its escaped length counted by the caller, as output is as it arrives. */
                cJSON_AddItemToObject(m, "counted",
                                      brig_json_escaped_take(dup_bytes(big, 100000 + blen), 100000 + blen,
                                                             brig_json_escaped_len(big, 100000 + blen)));
                /* What cJSON's readers see of an escaped one is its value. */
                assert_string_equal(cJSON_GetObjectItem(m, "text")->valuestring, text);

                brig_json_frame f = {0};
                assert_int_equal(brig_json_frame_print(m, &f), 0);
                assert_true(f.encoded);
                assert_int_equal(f.total, strlen(want) + 1);
                for (size_t cap = 8; cap < 80; cap += blen + 1)
                        for (size_t max_iov = 1; max_iov <= 3; max_iov++) {
                                _cleanup_free_ char *got = write_in_parts(&f, cap, max_iov);
                                assert_int_equal(got[f.total - 1], '\n');
                                got[f.total - 1] = 0;
                                assert_string_equal(got, want);
                        }
                _cleanup_free_ char *got = write_in_parts(&f, 65536, 8);
                got[f.total - 1] = 0;
                assert_string_equal(got, want);
                brig_json_frame_done(&f);
        }
}

/* Strings taken in their wire form (brig_json_wire_take: escaped or base64 already) print between their
 * quotes as they are, as cJSON prints their value, and leave the frame with nothing to encode: it is
 * written as its segments, the taken strings among them. */
static void test_json_frame__wire_strings_print_as_they_are(void **state) {
        static const char text[] = "caf\xc3\xa9 \"q\" \\ \x01\x1f\t\n\r end";
        _cleanup_free_ char *big = big_string(100000, 3);
        size_t big_len = strlen(big);
        char esc[sizeof(text) * 6];
        char *big_esc = malloc(brig_json_escaped_len(big, big_len) + 1);

        (void) state;
        assert_non_null(big_esc);
        size_t esc_len = brig_json_escape(esc, text, sizeof(text) - 1);
        size_t big_esc_len = brig_json_escape(big_esc, big, big_len);
        _cleanup_free_ char *b64 = brig_base64_encode(big, big_len);
        cJSON *want_msg = cJSON_CreateObject(), *m = cJSON_CreateObject();
        cJSON_AddStringToObject(want_msg, "text", text);
        cJSON_AddStringToObject(want_msg, "big", big);
        cJSON_AddStringToObject(want_msg, "b64", b64);
        cJSON_AddStringToObject(want_msg, "empty", "");
        _cleanup_free_ char *want = cJSON_PrintUnformatted(want_msg);
        cJSON_Delete(want_msg);
        cJSON_AddItemToObject(m, "text", brig_json_wire_take(dup_bytes(esc, esc_len), esc_len));
        cJSON_AddItemToObject(m, "big", brig_json_wire_take(big_esc, big_esc_len));
        cJSON_AddItemToObject(m, "b64", brig_json_wire_take(dup_bytes(b64, strlen(b64)), strlen(b64)));
        cJSON_AddItemToObject(m, "empty", brig_json_wire_take(dup_bytes("", 0), 0));

        brig_json_frame f = {0};
        assert_int_equal(brig_json_frame_print(m, &f), 0);
        assert_false(f.encoded);
        assert_int_equal(f.total, strlen(want) + 1);
        _cleanup_free_ char *got = write_in_parts(&f, 8, 1);
        got[f.total - 1] = 0;
        assert_string_equal(got, want);
        brig_json_frame_done(&f);
}

/* A frame with nothing to encode is written as its segments, zero-copy. */
static void test_json_frame__plain_frame_parts_are_its_segments(void **state) {
        cJSON *m = cJSON_CreateObject();
        brig_json_frame f = {0};
        brig_json_frame_pos pos = {0};
        struct iovec iov[8];
        char chunk[8];

        (void) state;
        cJSON_AddItemToObject(m, "s", brig_json_string_take(big_string(70000, 1)));
        assert_int_equal(brig_json_frame_print(m, &f), 0);
        assert_false(f.encoded);
        assert_int_equal(brig_json_frame_next(&f, &pos, chunk, sizeof(chunk), iov, 8), f.n);
        for (size_t i = 0; i < f.n; i++)
                assert_ptr_equal(iov[i].iov_base, f.segs[i].data);
        assert_int_equal(brig_json_frame_next(&f, &pos, chunk, sizeof(chunk), iov, 8), 0);
        brig_json_frame_done(&f);
}

static void test_json_frame__null_message_is_enomem(void **state) {
        brig_json_frame f = {0};
        (void) state;
        assert_int_equal(brig_json_frame_print(NULL, &f), -ENOMEM);
        assert_null(f.segs);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_frame__small_message_prints_as_cjson),
                cmocka_unit_test(test_json_frame__large_strings_travel_in_their_own_buffers),
                cmocka_unit_test(test_json_frame__encoded_strings_write_as_cjson_in_parts),
                cmocka_unit_test(test_json_frame__wire_strings_print_as_they_are),
                cmocka_unit_test(test_json_frame__plain_frame_parts_are_its_segments),
                cmocka_unit_test(test_json_frame__null_message_is_enomem),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
