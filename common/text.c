/* SPDX-License-Identifier: MIT */
/* Capped buffers and UTF-8 validation (base64, declared in text.h, is in base64.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int brig_buf_append(brig_buf *b, const void *data, size_t len) {
        size_t room = len;

        if (b->max) {
                room = b->len >= b->max ? 0 : b->max - b->len;
                if (room < len) {
                        b->truncated = true;
                        len = room;
                }
        }
        if (len == 0)
                return 0;
        if (b->len + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->len + len + 1)
                        cap *= 2;
                if (b->max && cap > b->max + 1)
                        cap = b->max + 1;
                char *p = realloc(b->data, cap);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = 0;
        return (int) (len > INT32_MAX ? INT32_MAX : len);
}

int brig_buf_appendf(brig_buf *b, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        n = brig_buf_append(b, s, (size_t) n);
        free(s);
        return n;
}

size_t brig_json_escaped_len(const char *data, size_t len) {
        size_t n = len;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) data[i];
                if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
                        n += 1;
                else if (c < 0x20)
                        n += 5;
        }
        return n;
}

/* Absolute slack before the ratio applies: a few escapes in a short output never turn it into base64. */
#define TEXT_ESCAPE_SLACK 256

bool brig_output_is_text(const char *data, size_t len) {
        return brig_utf8_valid(data, len) &&
               brig_json_escaped_len(data, len) <= BRIG_TEXT_MAX_ESCAPE_RATIO * len + TEXT_ESCAPE_SLACK;
}

void brig_buf_done(brig_buf *b) {
        free(b->data);
        *b = (brig_buf){.max = b->max};
}

size_t brig_utf8_seq_len(unsigned char c) {
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                return 2;
        if (c >= 0xe0 && c <= 0xef)
                return 3;
        if (c >= 0xf0 && c <= 0xf4)
                return 4;
        return 0;
}

/* Validates one sequence of length n at p (all bytes present). */
static bool seq_valid(const unsigned char *p, size_t n) {
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return false;
        if (n == 3) {
                if (p[0] == 0xe0 && p[1] < 0xa0)
                        return false; /* overlong */
                if (p[0] == 0xed && p[1] >= 0xa0)
                        return false; /* surrogate */
        }
        if (n == 4) {
                if (p[0] == 0xf0 && p[1] < 0x90)
                        return false;
                if (p[0] == 0xf4 && p[1] >= 0x90)
                        return false; /* > U+10FFFF */
        }
        return true;
}

size_t brig_utf8_valid_prefix(const char *data, size_t len) {
        const unsigned char *p = (const unsigned char *) data;
        size_t i = 0;

        while (i < len) {
                if (p[i] == 0)
                        return i;
                size_t n = brig_utf8_seq_len(p[i]);
                if (n == 0 || i + n > len || !seq_valid(p + i, n))
                        return i;
                i += n;
        }
        return len;
}

bool brig_utf8_valid(const char *data, size_t len) {
        return brig_utf8_valid_prefix(data, len) == len;
}

size_t brig_utf8_incomplete_tail(const char *data, size_t len) {
        const unsigned char *p = (const unsigned char *) data;

        /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
        for (size_t back = 1; back <= 3 && back <= len; back++) {
                unsigned char c = p[len - back];
                if ((c & 0xc0) == 0x80)
                        continue;
                size_t n = brig_utf8_seq_len(c);
                return n > back ? back : 0;
        }
        return 0;
}
