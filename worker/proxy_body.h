/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where an HTTP/1.1 request's body ends (RFC 9112 6.3, 7.1): Content-Length, chunked, or none. The
 * proxy uses it to check every request of an intercepted connection, not only the first. Pure. */

typedef struct brig_proxy_body {
        bool chunked;
        bool done;        /* the body (and a chunked body's trailers) has ended */
        int state;        /* a chunked body's parser state (proxy_body.c) */
        uint64_t left;    /* bytes of the body, or of the current chunk, still to come */
        unsigned ndigits; /* of the current chunk size */
} brig_proxy_body;

/* Sets *ret from the header lines of a request (each ending in "\n", without the blank line): -EINVAL
 * when the framing is ambiguous or unsupported (Transfer-Encoding not ending in chunked, both it and
 * Content-Length, an invalid or repeated differing Content-Length), which a proxy must refuse. */
int brig_proxy_body_init(brig_proxy_body *ret, const char *lines, size_t len);

/* How many of the n bytes at data belong to the body (the rest is the next request's): ≥ 0, b->done set
 * once it has ended, or -EINVAL for a malformed chunked encoding. */
int64_t brig_proxy_body_take(brig_proxy_body *b, const char *data, size_t n);
