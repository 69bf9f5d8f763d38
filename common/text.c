/* SPDX-License-Identifier: MIT */
/* Capped buffers, UTF-8 validation and JSON string escaping (base64, declared in text.h, is in base64.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "text.h"

/* Absolute slack before the ratio applies: a few escapes in a short output never turn it into base64. */
#define TEXT_ESCAPE_SLACK 256

int brig_buf_reserve(brig_buf *b, size_t len) {
        /* Less room than asked would let the caller write past the allocation. */
        if (b->max && b->len + len > b->max)
                return -ENOBUFS;
        if (b->len + len + 1 <= b->cap)
                return 0;
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
        return 0;
}

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
        if (brig_buf_reserve(b, len) < 0)
                return -ENOMEM;
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

/* Sixteen bytes at a time through GCC's vector extensions (SSE2 on x86-64, NEON on arm64, plain words
 * elsewhere): a comparison yields 0xff in each lane where it holds. */
#define BLOCK 16
typedef uint8_t vec __attribute__((vector_size(BLOCK)));
typedef uint64_t vec_words __attribute__((vector_size(BLOCK)));

static inline vec load_block(const char *p) {
        vec v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static inline bool any_lane(vec v) {
        vec_words w = (vec_words) v;
        return (w[0] | w[1]) != 0;
}

/* Lanes that a JSON string escapes: control bytes, '"' and '\\'. */
static inline vec needs_escape(vec v) {
        return (vec) (v < 0x20) | (vec) (v == '"') | (vec) (v == '\\');
}

/* Whether the block holds anything but ASCII without NUL: v - 1 wraps NUL to 0xff, so both NUL and the
 * bytes from 0x80 end up at or above 0x7f. */
static inline bool block_not_plain_ascii(const char *p) {
        vec v = load_block(p);
        return any_lane((vec) ((vec) (v - 1) >= 0x7f));
}

/* Bit i set where lane i of m (0xff or 0) is set. */
static inline unsigned lane_mask(vec m) {
#if defined(__SSE2__)
        return (unsigned) _mm_movemask_epi8((__m128i) m);
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Each lane's top bit moved to bit 8i, then gathered into the top byte by one multiplication
         * (no two partial products share a bit, so nothing carries). */
        vec_words w = ((vec_words) m & 0x8080808080808080ull) >> 7;
        return (unsigned) ((w[0] * 0x0102040810204080ull) >> 56) |
               (unsigned) ((w[1] * 0x0102040810204080ull) >> 56) << 8;
#else
        unsigned mask = 0;
        for (int i = 0; i < BLOCK; i++)
                mask |= (unsigned) (m[i] & 1) << i;
        return mask;
#endif
}

/* Each byte's escape as cJSON prints it, and its length: 0 for bytes that need none. One table, read by
 * the escapers and the length counters alike. */
typedef struct escape {
        char seq[6];
        uint8_t len;
        uint8_t pad; /* 8 bytes: brig_json_escape() stores an entry as one word */
} escape;

#define U(c)                                                                                                \
        { {'\\', 'u', '0', '0', "0123456789abcdef"[(c) >> 4], "0123456789abcdef"[(c) &15]}, 6 }
#define SHORT(ch)                                                                                           \
        { {'\\', ch}, 2 }
static const escape escapes[256] = {
        U(0x00),
        U(0x01),
        U(0x02),
        U(0x03),
        U(0x04),
        U(0x05),
        U(0x06),
        U(0x07),
        SHORT('b'),
        SHORT('t'),
        SHORT('n'),
        U(0x0b),
        SHORT('f'),
        SHORT('r'),
        U(0x0e),
        U(0x0f),
        U(0x10),
        U(0x11),
        U(0x12),
        U(0x13),
        U(0x14),
        U(0x15),
        U(0x16),
        U(0x17),
        U(0x18),
        U(0x19),
        U(0x1a),
        U(0x1b),
        U(0x1c),
        U(0x1d),
        U(0x1e),
        U(0x1f),
        ['"'] = SHORT('"'),
        ['\\'] = SHORT('\\'),
};
#undef U
#undef SHORT

static inline size_t escape_cost(unsigned char c) {
        return escapes[c].len ? escapes[c].len : 1;
}

static uint64_t lane_sum(vec v) {
        uint64_t n = 0;
        for (int i = 0; i < BLOCK; i++)
                n += v[i];
        return n;
}

/* brig_json_escaped_len(), and in *plain whether all of data is ASCII without NUL (so valid UTF-8): in the
 * same pass, so that the text scan of a command's output reads it once, not twice. */
static size_t escaped_len_plain(const char *data, size_t len, bool *plain) {
        size_t n = len, i = 0;
        vec odd = {0};

        /* Per lane counts of control bytes (escape cost 6), of '"' and '\\' (2), and of the control bytes
         * with a short escape (\b \t \n \f \r: 2, not 6). A lane counts to at most 255 blocks. */
        while (i + BLOCK <= len) {
                vec ctl = {0}, quote = {0}, brief = {0};
                for (int k = 0; k < 255 && i + BLOCK <= len; k++, i += BLOCK) {
                        vec v = load_block(data + i);
                        ctl -= (vec) (v < 0x20);
                        quote -= (vec) (v == '"') | (vec) (v == '\\');
                        brief -= (vec) ((vec) (v - 8) < 6) & (vec) (v != 11);
                        odd |= (vec) ((vec) (v - 1) >= 0x7f); /* as block_not_plain_ascii() */
                }
                n += 5 * lane_sum(ctl) + lane_sum(quote) - 4 * lane_sum(brief);
        }
        bool odd_tail = false;
        for (; i < len; i++) {
                unsigned char c = (unsigned char) data[i];
                n += escape_cost(c) - 1;
                odd_tail |= c == 0 || c >= 0x80;
        }
        *plain = !odd_tail && !any_lane(odd);
        return n;
}

size_t brig_json_escaped_len(const char *data, size_t len) {
        bool plain;
        return escaped_len_plain(data, len, &plain);
}

/* Writes the escape of c (escape_cost(c) > 1 bytes) at dst, as cJSON prints it; returns its length. */
static inline size_t write_escape(char *dst, unsigned char c) {
        if (escapes[c].len == 2)
                memcpy(dst, escapes[c].seq, 2);
        else
                memcpy(dst, escapes[c].seq, 6);
        return escapes[c].len;
}

size_t brig_json_escape(char *dst, const char *src, size_t len) {
        char *d = dst;
        size_t i = 0;

        /* A block at a time, all its escapes from one mask: before each escape the input from the lane
         * after the last one is copied as a whole block (its lanes up to the escape are right, the rest is
         * written again by what follows). That copy may read a block past the current one, so this runs
         * while two blocks of input are left; every byte left takes at least one output byte, so the
         * stores stay inside the output. */
        while (i + 2 * BLOCK <= len) {
                const char *blk = src + i;
                unsigned mask = lane_mask(needs_escape(load_block(blk))), at = 0;
                while (mask) {
                        unsigned k = (unsigned) __builtin_ctz(mask);
                        const escape *e = &escapes[(unsigned char) blk[k]];
                        memcpy(d, blk + at, BLOCK);
                        d += k - at;
                        /* The whole entry: what is past its length is written again by what follows. */
                        memcpy(d, e, sizeof(*e));
                        d += e->len;
                        at = k + 1;
                        mask &= mask - 1;
                }
                memcpy(d, blk + at, BLOCK);
                d += BLOCK - at;
                i += BLOCK;
        }
        /* The last blocks, stored whole, the next from the lane after each escape. */
        while (i + BLOCK <= len) {
                vec v = load_block(src + i);
                unsigned mask = lane_mask(needs_escape(v));
                memcpy(d, &v, BLOCK);
                if (!mask) {
                        d += BLOCK;
                        i += BLOCK;
                        continue;
                }
                unsigned k = (unsigned) __builtin_ctz(mask);
                d += k;
                i += k;
                d += write_escape(d, (unsigned char) src[i++]);
        }
        for (; i < len; i++) {
                unsigned char c = (unsigned char) src[i];
                if (escapes[c].len)
                        d += write_escape(d, c);
                else
                        *d++ = (char) c;
        }
        return (size_t) (d - dst);
}

size_t brig_json_escape_some(char *dst, size_t cap, const char *src, size_t len, size_t *ret_used) {
        size_t d = 0, i = 0;

        /* Spans whose worst case (6 bytes each) fits escape whole; each fills at least a sixth of the room
         * left, so a clean chunk takes a few dozen spans; the last few bytes go one at a time. */
        while (i < len && cap - d >= 6 * 16) {
                size_t n = (cap - d) / 6;
                if (n > len - i)
                        n = len - i;
                d += brig_json_escape(dst + d, src + i, n);
                i += n;
        }
        for (; i < len && escape_cost((unsigned char) src[i]) <= cap - d; i++)
                d += brig_json_escape(dst + d, src + i, 1);
        *ret_used = i;
        return d;
}

void brig_json_escape_in_place(char *buf, size_t len, size_t escaped_len) {
        /* From the end: every byte's destination is at or past its source, so nothing unread is
         * overwritten; a block is loaded whole before anything is stored over it. */
        size_t i = len, d = escaped_len, blocks = len - len % BLOCK;

        while (i > blocks) {
                unsigned char c = (unsigned char) buf[--i];
                d -= escape_cost(c);
                if (escape_cost(c) == 1)
                        buf[d] = (char) c;
                else
                        write_escape(buf + d, c);
        }
        while (i > 0) {
                i -= BLOCK;
                vec v = load_block(buf + i);
                unsigned mask = lane_mask(needs_escape(v)), end = BLOCK;
                const char *lanes = (const char *) &v;
                /* The clean lanes after each escape, from the last, then the escape itself. */
                while (mask) {
                        unsigned k = 31u - (unsigned) __builtin_clz(mask);
                        d -= end - k - 1;
                        memcpy(buf + d, lanes + k + 1, end - k - 1);
                        d -= escape_cost((unsigned char) lanes[k]);
                        write_escape(buf + d, (unsigned char) lanes[k]);
                        end = k;
                        mask &= ~(1u << k);
                }
                d -= end;
                memcpy(buf + d, lanes, end);
        }
}

bool brig_output_is_text(const char *data, size_t len) {
        size_t escaped_len;
        return brig_output_text_len(data, len, &escaped_len);
}

bool brig_output_text_len(const char *data, size_t len, size_t *ret_escaped_len) {
        bool plain;
        /* One pass for the count and the ASCII check; the UTF-8 check only for what is not ASCII. */
        size_t n = escaped_len_plain(data, len, &plain);

        if (!plain && !brig_utf8_valid(data, len))
                return false;
        if (!brig_output_escapes_as_text(len, n))
                return false;
        *ret_escaped_len = n;
        return true;
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
                /* ASCII without NUL, a block at a time. */
                while (i + BLOCK <= len && !block_not_plain_ascii(data + i))
                        i += BLOCK;
                if (i == len)
                        break;
                if (p[i] == 0)
                        return i;
                size_t n = brig_utf8_seq_len(p[i]);
                if (n == 0 || i + n > len || !seq_valid(p + i, n))
                        return i;
                i += n;
        }
        return len;
}

void brig_text_scan_feed(brig_text_scan *s, const char *data, size_t len) {
        s->len += len;
        if (s->invalid)
                return;
        bool plain;
        s->escaped_len += escaped_len_plain(data, len, &plain);
        if (plain && !s->carry_len)
                return; /* valid, and ends on a character */
        if (s->carry_len) {
                /* Complete the sequence the last chunk ended inside. */
                size_t need = brig_utf8_seq_len(s->carry[0]), take = need - s->carry_len;
                if (take > len)
                        take = len;
                for (size_t k = 0; k < take; k++)
                        if (((unsigned char) data[k] & 0xc0) != 0x80) {
                                s->invalid = true;
                                return;
                        }
                memcpy(s->carry + s->carry_len, data, take);
                s->carry_len += (uint8_t) take;
                data += take;
                len -= take;
                if (s->carry_len < need)
                        return;
                s->carry_len = 0;
                if (!seq_valid(s->carry, need)) {
                        s->invalid = true;
                        return;
                }
        }
        size_t good = brig_utf8_valid_prefix(data, len), rest = len - good;
        if (rest == 0)
                return;
        /* A sequence cut by the chunk's end is carried; anything else stops the text. */
        if (rest < 4 && brig_utf8_incomplete_tail(data, len) == rest) {
                memcpy(s->carry, data + good, rest);
                s->carry_len = (uint8_t) rest;
                return;
        }
        s->invalid = true;
}

bool brig_text_scan_is_text(const brig_text_scan *s) {
        return !s->invalid && s->carry_len == 0 && brig_output_escapes_as_text(s->len, s->escaped_len);
}

bool brig_output_escapes_as_text(uint64_t len, uint64_t escaped_len) {
        return escaped_len <= BRIG_TEXT_MAX_ESCAPE_RATIO * len + TEXT_ESCAPE_SLACK;
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
