/* SPDX-License-Identifier: MIT */
/* base64 of text.h, by hand: Nettle's encoder takes a character at a time (~1.3 GB/s, 0.75 s of brigd's
 * CPU per GiB of a command's binary output); a table of character pairs here is three times as fast. An
 * object of its own, apart from text.c: a program that uses the buffers or the UTF-8 checks but no base64
 * (brig-jail) does not carry its tables. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <endian.h>
#include <string.h>

#include "text.h"

/* RFC 4648's alphabet as a constant expression, for the table below. */
#define B64_CHAR(v)                                                                                         \
        (char) ((v) < 26    ? 'A' + (v)                                                                     \
                : (v) < 52  ? 'a' + (v) -26                                                                 \
                : (v) < 62  ? '0' + (v) -52                                                                 \
                : (v) == 62 ? '+'                                                                           \
                            : '/')
#define B64_PAIR(i)                                                                                         \
        { B64_CHAR((i) >> 6), B64_CHAR((i) &63) }
#define B64_PAIRS4(i) B64_PAIR(i), B64_PAIR((i) + 1), B64_PAIR((i) + 2), B64_PAIR((i) + 3)
#define B64_PAIRS16(i) B64_PAIRS4(i), B64_PAIRS4((i) + 4), B64_PAIRS4((i) + 8), B64_PAIRS4((i) + 12)
#define B64_PAIRS64(i) B64_PAIRS16(i), B64_PAIRS16((i) + 16), B64_PAIRS16((i) + 32), B64_PAIRS16((i) + 48)
#define B64_PAIRS256(i) B64_PAIRS64(i), B64_PAIRS64((i) + 64), B64_PAIRS64((i) + 128), B64_PAIRS64((i) + 192)
#define B64_PAIRS1024(i)                                                                                    \
        B64_PAIRS256(i), B64_PAIRS256((i) + 256), B64_PAIRS256((i) + 512), B64_PAIRS256((i) + 768)

/* The two characters of every 12 bits: three bytes take two lookups instead of four. */
static const char b64_pair[4096][2] = {
        B64_PAIRS1024(0),
        B64_PAIRS1024(1024),
        B64_PAIRS1024(2048),
        B64_PAIRS1024(3072),
};

size_t brig_base64_encode_to(char *dst, const void *data, size_t len) {
        const unsigned char *s = data;
        char *d = dst;
        size_t i = 0;

        /* Six bytes (eight characters) a step from one 8-byte load, while eight are left to load. */
        for (; i + 8 <= len; i += 6, d += 8) {
                uint64_t v;
                memcpy(&v, s + i, 8);
                v = be64toh(v) >> 16; /* the six bytes, big-endian, in the low 48 bits */
                memcpy(d, b64_pair[v >> 36], 2);
                memcpy(d + 2, b64_pair[(v >> 24) & 0xfff], 2);
                memcpy(d + 4, b64_pair[(v >> 12) & 0xfff], 2);
                memcpy(d + 6, b64_pair[v & 0xfff], 2);
        }
        for (; i + 3 <= len; i += 3, d += 4) {
                uint32_t v = (uint32_t) s[i] << 16 | (uint32_t) s[i + 1] << 8 | s[i + 2];
                memcpy(d, b64_pair[v >> 12], 2);
                memcpy(d + 2, b64_pair[v & 0xfff], 2);
        }
        if (i < len) {
                /* One or two bytes left: two or three characters, then padding. */
                uint32_t v = (uint32_t) s[i] << 16 | (i + 1 < len ? (uint32_t) s[i + 1] << 8 : 0);
                memcpy(d, b64_pair[v >> 12], 2);
                d[2] = i + 1 < len ? b64_pair[v & 0xfff][0] : '=';
                d[3] = '=';
                d += 4;
        }
        return (size_t) (d - dst);
}

char *brig_base64_encode(const void *data, size_t len) {
        if (len > (SIZE_MAX / 4) * 3 - 3 || len > INT32_MAX)
                return NULL;
        char *out = malloc((len + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        out[brig_base64_encode_to(out, data, len)] = 0;
        return out;
}

/* The alphabet's values plus one, 0 for every other byte: one lookup both checks and decodes a character. */
static const uint8_t b64_value[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
        ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
        ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
        ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
        ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
        ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
        ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* By hand rather than through Nettle: its decoder takes a character at a time (and white space and '='
 * anywhere, which a check before it had to refuse), ~140 MB/s, the most of what `brig env export` spent
 * in the CLI; four characters a step here. Only the alphabet, padding only at the end. */
int brig_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len) {
        const unsigned char *t = (const unsigned char *) text;

        if (len % 4 != 0 || len > INT32_MAX)
                return -EINVAL;
        size_t pad = len >= 1 && t[len - 1] == '=' ? (len >= 2 && t[len - 2] == '=' ? 2 : 1) : 0;
        unsigned char *out = malloc(len / 4 * 3 + 1), *o = out;
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 4) {
                bool last = i + 4 == len;
                uint32_t a = b64_value[t[i]] - 1u, b = b64_value[t[i + 1]] - 1u;
                uint32_t c = last && pad == 2 ? 0 : b64_value[t[i + 2]] - 1u;
                uint32_t d = last && pad >= 1 ? 0 : b64_value[t[i + 3]] - 1u;
                if ((a | b | c | d) > 63) {
                        free(out);
                        return -EINVAL;
                }
                uint32_t v = a << 18 | b << 12 | c << 6 | d;
                *o++ = (unsigned char) (v >> 16);
                if (!(last && pad == 2))
                        *o++ = (unsigned char) (v >> 8);
                if (!(last && pad >= 1))
                        *o++ = (unsigned char) v;
        }
        *ret = out;
        *ret_len = (size_t) (o - out);
        return (int) *ret_len;
}

#define B64_BLOCK (3u * 4096u)

char *brig_base64_encode_in_place(char *data, size_t len) {
        static _Thread_local unsigned char block[B64_BLOCK];

        if (len > (SIZE_MAX / 4) * 3 - 3)
                return NULL;
        size_t out_len = 4 * ((len + 2) / 3);
        char *out = realloc(data, out_len + 1);
        if (!out)
                return NULL;
        /* Blocks of whole 3-byte groups from the end: block k's encoding lands at or past its source, and
         * only over sources of blocks already encoded (each block is copied out before it is overwritten).
         */
        size_t start = len / B64_BLOCK * B64_BLOCK, end = len;
        if (start == len && start > 0)
                start -= B64_BLOCK;
        for (;;) {
                size_t n = end - start, at = start / 3 * 4;
                memcpy(block, out + start, n);
                brig_base64_encode_to(out + at, block, n);
                if (start == 0)
                        break;
                end = start;
                start -= B64_BLOCK;
        }
        out[out_len] = 0;
        return out;
}
