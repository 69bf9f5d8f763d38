/* SPDX-License-Identifier: MIT */
/* Unit tests for common/framing.c: lines split across chunks or packed into one, CRLF, blank lines, the size
 * bound (checked before a line is buffered whole) and callbacks that stop the feed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/framing.h"

#define MAX_LINES 16

/* What the callback saw, in order. */
typedef struct seen {
        char *lines[MAX_LINES];
        size_t lens[MAX_LINES];
        bool nul_terminated[MAX_LINES]; /* line[len] == 0 as the callback saw it */
        size_t n;
        int fail_at; /* return -EPIPE for the line with this index; -1 never */
} seen;

static int line_cb(const char *line, size_t len, void *userdata) {
        seen *s = userdata;

        assert_true(s->n < MAX_LINES);
        assert_null(memchr(line, 0, len));
        s->nul_terminated[s->n] = line[len] == 0;
        s->lines[s->n] = strndup(line, len);
        assert_non_null(s->lines[s->n]);
        s->lens[s->n] = len;
        s->n++;
        if ((int) s->n - 1 == s->fail_at)
                return -EPIPE;
        return 0;
}

static void seen_done(seen *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->lines[i]);
        *s = (seen){0};
}

static int feed(brig_framer *f, const char *data, seen *s) {
        return brig_framer_feed(f, data, strlen(data), line_cb, s);
}

static void test_framing__line_split_across_chunks(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "{\"jsonrpc\":", &s), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(feed(&f, "\"2.0\"", &s), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(feed(&f, "}", &s), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(feed(&f, "\n", &s), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.lines[0], "{\"jsonrpc\":\"2.0\"}");
        /* Nothing is left over for the next line. */
        assert_int_equal(feed(&f, "x\n", &s), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[1], "x");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__every_split_point_gives_the_same_lines(void **state) {
        static const char stream[] = "alpha\nbeta\r\n\n\ngamma delta\n";

        (void) state;
        for (size_t cut = 0; cut <= strlen(stream); cut++) {
                brig_framer f;
                seen s = {.fail_at = -1};

                brig_framer_init(&f, 64);
                assert_int_equal(brig_framer_feed(&f, stream, cut, line_cb, &s), 0);
                assert_int_equal(brig_framer_feed(&f, stream + cut, strlen(stream) - cut, line_cb, &s), 0);
                assert_int_equal(s.n, 3);
                assert_string_equal(s.lines[0], "alpha");
                assert_string_equal(s.lines[1], "beta");
                assert_string_equal(s.lines[2], "gamma delta");
                seen_done(&s);
                brig_framer_done(&f);
        }
}

static void test_framing__several_lines_in_one_chunk(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "one\ntwo\nthree\nfour", &s), 0);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.lines[0], "one");
        assert_string_equal(s.lines[1], "two");
        assert_string_equal(s.lines[2], "three");
        assert_int_equal(s.lens[2], 5);
        /* "four" waits for its terminator. */
        assert_int_equal(feed(&f, "\n", &s), 0);
        assert_int_equal(s.n, 4);
        assert_string_equal(s.lines[3], "four");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__crlf_is_stripped(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "a\r\nb\r", &s), 0);
        assert_int_equal(feed(&f, "\nc\r\r\n", &s), 0);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.lines[0], "a");
        assert_int_equal(s.lens[0], 1);
        assert_string_equal(s.lines[1], "b");
        /* Only one '\r' belongs to the terminator. */
        assert_string_equal(s.lines[2], "c\r");
        assert_int_equal(s.lens[2], 2);
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__blank_lines_are_skipped(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "\n\r\n\n", &s), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(feed(&f, "x\n\n\r\ny\n", &s), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "x");
        assert_string_equal(s.lines[1], "y");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__exactly_max_is_accepted(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 8);
        assert_int_equal(feed(&f, "12345678\n", &s), 0);
        assert_int_equal(feed(&f, "1234", &s), 0);
        assert_int_equal(feed(&f, "5678\n", &s), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "12345678");
        assert_string_equal(s.lines[1], "12345678");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__max_plus_one_is_rejected(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 8);
        assert_int_equal(feed(&f, "123456789\n", &s), -EMSGSIZE);
        assert_int_equal(s.n, 0);
        brig_framer_done(&f);

        /* Split: the ninth byte arrives without a terminator. */
        brig_framer_init(&f, 8);
        assert_int_equal(feed(&f, "12345678", &s), 0);
        assert_int_equal(feed(&f, "9", &s), -EMSGSIZE);
        assert_int_equal(s.n, 0);
        brig_framer_done(&f);
}

static void test_framing__exactly_max_with_crlf_is_accepted(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 8);
        assert_int_equal(feed(&f, "12345678\r\n", &s), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.lines[0], "12345678");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__oversized_line_is_refused_before_buffering(void **state) {
        const size_t big = 1024 * 1024;
        _cleanup_free_ char *data = malloc(big);
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        assert_non_null(data);
        memset(data, 'a', big);
        brig_framer_init(&f, 1000);
        /* One huge chunk with no newline: refused without copying any of it. */
        assert_int_equal(brig_framer_feed(&f, data, big, line_cb, &s), -EMSGSIZE);
        assert_int_equal(f.partial.len, 0);
        assert_true(f.partial.cap <= 1000 + 1);
        brig_framer_done(&f);

        /* Many small chunks: the buffer never holds more than max bytes. */
        brig_framer_init(&f, 1000);
        int r = 0;
        size_t fed = 0;
        while (fed < big && (r = brig_framer_feed(&f, data + fed, 100, line_cb, &s)) == 0) {
                assert_true(f.partial.len <= 1000);
                fed += 100;
        }
        assert_int_equal(r, -EMSGSIZE);
        assert_int_equal(fed, 1000);
        assert_true(f.partial.len <= 1000);
        assert_int_equal(s.n, 0);
        brig_framer_done(&f);
}

static void test_framing__callback_error_stops_feeding(void **state) {
        brig_framer f;
        seen s = {.fail_at = 1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "a\nb\nc\nd\n", &s), -EPIPE);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "a");
        assert_string_equal(s.lines[1], "b");
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__line_given_to_callback_is_nul_terminated(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};
        /* Not NUL-terminated itself: the framer must not hand out a pointer into it. */
        const char chunk[6] = {'h', 'e', 'l', 'l', 'o', '\n'};
        const char tail[3] = {'w', 'x', '\n'};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(brig_framer_feed(&f, chunk, sizeof(chunk), line_cb, &s), 0);
        assert_int_equal(brig_framer_feed(&f, tail, sizeof(tail), line_cb, &s), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "hello");
        assert_true(s.nul_terminated[0]);
        assert_string_equal(s.lines[1], "wx");
        assert_true(s.nul_terminated[1]);
        seen_done(&s);
        brig_framer_done(&f);
}

/* The header promises a NUL right after len bytes; with "\r\n" the NUL must replace the '\r'. */
static void test_framing__crlf_line_is_nul_terminated(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 1024);
        assert_int_equal(feed(&f, "abc\r\n", &s), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.lens[0], 3);
        assert_true(s.nul_terminated[0]);
        seen_done(&s);
        brig_framer_done(&f);
}

static void test_framing__empty_feed_is_harmless(void **state) {
        brig_framer f;
        seen s = {.fail_at = -1};

        (void) state;
        brig_framer_init(&f, 4);
        assert_int_equal(brig_framer_feed(&f, "", 0, line_cb, &s), 0);
        assert_int_equal(feed(&f, "ab", &s), 0);
        assert_int_equal(brig_framer_feed(&f, "", 0, line_cb, &s), 0);
        assert_int_equal(feed(&f, "\n", &s), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.lines[0], "ab");
        seen_done(&s);
        brig_framer_done(&f);
        /* done twice and on a never-fed framer is fine. */
        brig_framer_done(&f);
        brig_framer_init(&f, 4);
        brig_framer_done(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_framing__line_split_across_chunks),
                cmocka_unit_test(test_framing__every_split_point_gives_the_same_lines),
                cmocka_unit_test(test_framing__several_lines_in_one_chunk),
                cmocka_unit_test(test_framing__crlf_is_stripped),
                cmocka_unit_test(test_framing__blank_lines_are_skipped),
                cmocka_unit_test(test_framing__exactly_max_is_accepted),
                cmocka_unit_test(test_framing__max_plus_one_is_rejected),
                cmocka_unit_test(test_framing__exactly_max_with_crlf_is_accepted),
                cmocka_unit_test(test_framing__oversized_line_is_refused_before_buffering),
                cmocka_unit_test(test_framing__callback_error_stops_feeding),
                cmocka_unit_test(test_framing__line_given_to_callback_is_nul_terminated),
                cmocka_unit_test(test_framing__crlf_line_is_nul_terminated),
                cmocka_unit_test(test_framing__empty_feed_is_harmless),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
