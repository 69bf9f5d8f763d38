/* SPDX-License-Identifier: MIT */
/* Where a request's body ends (worker/proxy_body.h): Content-Length, chunked with extensions and
 * trailers, byte by byte as well as at once, the next request's bytes left over, and the framings a proxy
 * must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "worker/proxy_body.h"

#define NEXT "GET /next HTTP/1.1\r\n\r\n"

static brig_proxy_body body(const char *lines) {
        brig_proxy_body b;
        assert_int_equal(brig_proxy_body_init(&b, lines, strlen(lines)), 0);
        return b;
}

/* The body's length in data, taken all at once and one byte at a time. */
static int64_t taken(const char *lines, const char *data) {
        brig_proxy_body b = body(lines), one = body(lines);
        size_t n = strlen(data), i;
        int64_t r = brig_proxy_body_take(&b, data, n);

        for (i = 0; i < n && !one.done; i++)
                if (brig_proxy_body_take(&one, data + i, 1) != 1)
                        return -1;
        if (r >= 0) {
                assert_true(b.done);
                assert_true(one.done);
                assert_int_equal((size_t) r, i);
        }
        return r;
}

static void test_proxy_body__content_length_ends_it(void **state) {
        (void) state;
        assert_int_equal(taken("Host: h\r\nContent-Length: 5\r\n", "hello" NEXT), 5);
        assert_int_equal(taken("content-length:  5 \r\nContent-Length: 5\r\n", "hello" NEXT), 5);
        brig_proxy_body b = body("Host: h\r\n");
        assert_true(b.done);
        assert_int_equal(brig_proxy_body_take(&b, NEXT, strlen(NEXT)), 0);
}

static void test_proxy_body__chunked_ends_after_its_trailers(void **state) {
        (void) state;
        const char *te = "Transfer-Encoding: gzip, chunked\r\n";
        const char *data = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        char all[256];

        snprintf(all, sizeof(all), "%s%s", data, NEXT);
        assert_int_equal(taken(te, all), (int64_t) strlen(data));
        assert_int_equal(taken(te, "0\r\n\r\n" NEXT), 5);
        brig_proxy_body b = body(te);
        assert_int_equal(brig_proxy_body_take(&b, "5\r\nhel", 6), 6);
        assert_false(b.done);
}

static void test_proxy_body__refuses_ambiguous_framing(void **state) {
        (void) state;
        brig_proxy_body b;
        static const char *const bad[] = {
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "Transfer-Encoding: chunked, gzip\r\n",
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                "Content-Length: -1\r\n",
                "Content-Length: 5 5\r\n",
                "Content-Length:\r\n",
                /* No header to us, framing to an upstream that trims the blank. */
                "Transfer-Encoding : chunked\r\n",
                "Content-Length\t: 5\r\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(brig_proxy_body_init(&b, bad[i], strlen(bad[i])), -EINVAL);
}

static void test_proxy_body__refuses_malformed_chunks(void **state) {
        (void) state;
        static const char *const bad[] = {
                "5\nhello\r\n0\r\n\r\n",    /* bare LF */
                "5\r\nhelloX\r\n0\r\n\r\n", /* data longer than its size */
                "\r\n",                     /* no size */
                "g\r\n",                    /* not hex */
                "1000000000000000\r\n",     /* too large */
                "0\r\nX-T: 1\n\r\n",        /* bare LF in a trailer */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                brig_proxy_body b = body("Transfer-Encoding: chunked\r\n");
                assert_int_equal(brig_proxy_body_take(&b, bad[i], strlen(bad[i])), -EINVAL);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_proxy_body__content_length_ends_it),
                cmocka_unit_test(test_proxy_body__chunked_ends_after_its_trailers),
                cmocka_unit_test(test_proxy_body__refuses_ambiguous_framing),
                cmocka_unit_test(test_proxy_body__refuses_malformed_chunks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
