/* SPDX-License-Identifier: MIT */
/* The end of an HTTP/1.1 request's body: its framing from the headers, and a chunked body followed byte by
 * byte (sizes, extensions, data, trailers), strictly: a proxy that ends a body where the upstream does not
 * would let a request through unchecked (request smuggling, RFC 9112 11.2). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "worker/proxy_body.h"

enum {
        CHUNK_SIZE,    /* hex digits */
        CHUNK_EXT,     /* ";..." up to the CR */
        CHUNK_SIZE_LF, /* the LF of the size line */
        CHUNK_DATA,
        CHUNK_DATA_CR,
        CHUNK_DATA_LF,
        TRAILER_START, /* a trailer line or the final CRLF */
        TRAILER,
        TRAILER_LF,
        FINAL_LF,
        CHUNKS_DONE,
};

/* The states that take one given byte, and the state after it. */
static const struct {
        char want;
        int next;
} exactly[] = {
        [CHUNK_SIZE_LF] = {'\n', CHUNK_DATA}, /* or TRAILER_START after the last chunk's size */
        [CHUNK_DATA_CR] = {'\r', CHUNK_DATA_LF}, [CHUNK_DATA_LF] = {'\n', CHUNK_SIZE},
        [TRAILER_LF] = {'\n', TRAILER_START},    [FINAL_LF] = {'\n', CHUNKS_DONE},
};

#define CHUNK_DIGITS_MAX 15 /* up to 2^60: more is no real body */

static bool header_named(const char *l, const char *colon, const char *name) {
        return (size_t) (colon - l) == strlen(name) && strncasecmp(l, name, strlen(name)) == 0;
}

/* The value of a header line without surrounding blanks. */
static void value_trim(const char **v, const char **end) {
        while (*v < *end && (**v == ' ' || **v == '\t'))
                (*v)++;
        while (*end > *v && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
                (*end)--;
}

int brig_proxy_body_init(brig_proxy_body *ret, const char *lines, size_t len) {
        const char *end = lines + len;
        bool has_length = false, has_te = false, chunked_last = false;
        uint64_t length = 0;

        for (const char *l = lines; l < end;) {
                const char *e = memchr(l, '\n', (size_t) (end - l));
                if (!e)
                        e = end;
                const char *colon = memchr(l, ':', (size_t) (e - l));
                const char *v = colon ? colon + 1 : NULL, *ve = e;
                /* "Transfer-Encoding :" is no header to us, but may be framing to the upstream. */
                if (colon && colon > l && (colon[-1] == ' ' || colon[-1] == '\t'))
                        return -EINVAL;
                if (colon)
                        value_trim(&v, &ve);
                if (colon && header_named(l, colon, "content-length")) {
                        uint64_t n = 0;
                        if (v == ve || ve - v > 18)
                                return -EINVAL;
                        for (const char *d = v; d < ve; d++) {
                                if (*d < '0' || *d > '9')
                                        return -EINVAL;
                                n = n * 10 + (uint64_t) (*d - '0');
                        }
                        if (has_length && n != length)
                                return -EINVAL;
                        has_length = true;
                        length = n;
                } else if (colon && header_named(l, colon, "transfer-encoding")) {
                        /* Codings are listed in order; chunked must come last, and only there. */
                        const char *last = ve;
                        while (last > v && last[-1] != ',')
                                last--;
                        value_trim(&last, &ve);
                        has_te = true;
                        chunked_last = (size_t) (ve - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
                }
                l = e + 1;
        }
        if (has_te && (has_length || !chunked_last))
                return -EINVAL;
        *ret = (brig_proxy_body){.chunked = has_te,
                                 .left = has_te ? 0 : length,
                                 .done = !has_te && length == 0,
                                 .state = CHUNK_SIZE};
        return 0;
}

static int hex(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

int64_t brig_proxy_body_take(brig_proxy_body *b, const char *data, size_t n) {
        size_t i = 0;

        if (!b->chunked) {
                size_t take = b->left < n ? (size_t) b->left : n;
                b->left -= take;
                b->done = b->left == 0;
                return (int64_t) take;
        }
        while (i < n && !b->done) {
                char ch = data[i];
                if (b->state == CHUNK_DATA) {
                        size_t take = b->left < n - i ? (size_t) b->left : n - i;
                        b->left -= take;
                        i += take;
                        if (b->left == 0)
                                b->state = CHUNK_DATA_CR;
                        continue;
                }
                i++;
                if (exactly[b->state].want) {
                        if (ch != exactly[b->state].want)
                                return -EINVAL;
                        b->state = exactly[b->state].next;
                        if (b->state == CHUNK_DATA && b->left == 0)
                                b->state = TRAILER_START;
                        b->done = b->state == CHUNKS_DONE;
                } else if (b->state == CHUNK_SIZE && hex(ch) >= 0) {
                        if (++b->ndigits > CHUNK_DIGITS_MAX)
                                return -EINVAL;
                        b->left = b->left * 16 + (uint64_t) hex(ch);
                } else if (b->state == CHUNK_SIZE) {
                        if (b->ndigits == 0 || (ch != ';' && ch != '\r'))
                                return -EINVAL;
                        b->ndigits = 0;
                        b->state = ch == ';' ? CHUNK_EXT : CHUNK_SIZE_LF;
                } else if (ch == '\n') {
                        /* In a chunk extension or a trailer line: only after their CR. */
                        return -EINVAL;
                } else if (ch == '\r')
                        b->state = b->state == CHUNK_EXT       ? CHUNK_SIZE_LF
                                   : b->state == TRAILER_START ? FINAL_LF
                                                               : TRAILER_LF;
                else if (b->state == TRAILER_START)
                        b->state = TRAILER;
        }
        return (int64_t) i;
}
