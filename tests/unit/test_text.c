/* SPDX-License-Identifier: MIT */
/* Unit tests for common/text.c: capped buffers and their truncated flag, UTF-8 validation and the
 * incomplete-tail helper at every split point, and base64 round trips with every padding case. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nettle/base64.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/json_locate.h"
#include "common/text.h"

static void test_text__buf_unbounded_grows(void **state) {
        brig_buf b = {0};
        char chunk[1000];

        (void) state;
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 100; i++)
                assert_int_equal(brig_buf_append(&b, chunk, sizeof(chunk)), (int) sizeof(chunk));
        assert_int_equal(b.len, 100 * sizeof(chunk));
        assert_true(b.cap > b.len);
        assert_false(b.truncated);
        assert_int_equal(b.data[b.len], 0);
        brig_buf_done(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
}

static void test_text__buf_cap_truncates_and_flags(void **state) {
        brig_buf b = {.max = 10};

        (void) state;
        assert_int_equal(brig_buf_append(&b, "abcdef", 6), 6);
        assert_false(b.truncated);
        assert_int_equal(brig_buf_append(&b, "ghijkl", 6), 4);
        assert_true(b.truncated);
        assert_int_equal(b.len, 10);
        assert_memory_equal(b.data, "abcdefghij", 10);
        assert_int_equal(b.data[10], 0);
        /* Full: more input is dropped, the flag stays. */
        assert_int_equal(brig_buf_append(&b, "z", 1), 0);
        assert_int_equal(b.len, 10);
        assert_true(b.truncated);
        /* The allocation never exceeds max plus the terminator. */
        assert_true(b.cap <= 11);
        brig_buf_done(&b);
        /* done keeps the cap but forgets the contents and the flag. */
        assert_int_equal(b.max, 10);
        assert_false(b.truncated);
        assert_int_equal(b.len, 0);
}

static void test_text__buf_exactly_max_is_not_truncated(void **state) {
        brig_buf b = {.max = 4};

        (void) state;
        assert_int_equal(brig_buf_append(&b, "abcd", 4), 4);
        assert_false(b.truncated);
        assert_string_equal(b.data, "abcd");
        assert_int_equal(brig_buf_append(&b, "", 0), 0);
        assert_false(b.truncated);
        brig_buf_done(&b);
}

static void test_text__buf_big_append_into_small_cap(void **state) {
        const size_t big = 100000;
        _cleanup_free_ char *data = malloc(big);
        brig_buf b = {.max = 5000};

        (void) state;
        assert_non_null(data);
        memset(data, 'q', big);
        assert_int_equal(brig_buf_append(&b, data, big), 5000);
        assert_true(b.truncated);
        assert_int_equal(b.len, 5000);
        assert_true(b.cap <= 5001);
        brig_buf_done(&b);
}

static void test_text__utf8_valid_accepts_well_formed(void **state) {
        static const char *const ok[] = {
                "",
                "plain ascii\t\r\n~",
                "\xc2\x80",                             /* U+0080 */
                "\xdf\xbf",                             /* U+07FF */
                "\xe0\xa0\x80",                         /* U+0800 */
                "\xe2\x82\xac",                         /* € */
                "\xed\x9f\xbf",                         /* U+D7FF, just below the surrogates */
                "\xee\x80\x80",                         /* U+E000, just above */
                "\xef\xbf\xbf",                         /* U+FFFF */
                "\xf0\x90\x80\x80",                     /* U+10000 */
                "\xf0\x9f\x98\x80",                     /* 😀 */
                "\xf4\x8f\xbf\xbf",                     /* U+10FFFF */
                "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", /* mixed */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                if (!brig_utf8_valid(ok[i], strlen(ok[i])))
                        print_error("rejected ok[%zu]\n", i);
                assert_true(brig_utf8_valid(ok[i], strlen(ok[i])));
        }
}

static void test_text__utf8_valid_rejects_malformed(void **state) {
        static const char *const bad[] = {
                "\x80",             /* lone continuation */
                "a\xbf",            /* lone continuation after ASCII */
                "\xc0\xaf",         /* overlong '/' */
                "\xc1\xbf",         /* overlong */
                "\xe0\x80\xaf",     /* overlong 3-byte */
                "\xe0\x9f\xbf",     /* overlong 3-byte, highest */
                "\xf0\x80\x80\xaf", /* overlong 4-byte */
                "\xf0\x8f\xbf\xbf", /* overlong 4-byte, highest */
                "\xed\xa0\x80",     /* U+D800 */
                "\xed\xbf\xbf",     /* U+DFFF */
                "\xf4\x90\x80\x80", /* U+110000 */
                "\xf5\x80\x80\x80", /* beyond */
                "\xff",             /* never valid */
                "\xfe",             /* never valid */
                "\xc3",             /* truncated 2-byte */
                "\xe2\x82",         /* truncated 3-byte */
                "\xf0\x9f\x98",     /* truncated 4-byte */
                "\xe2\x82x",        /* bad continuation */
                "\xc3\xa9\xc3",     /* good then truncated */
                "\xe2\xc2\xac",     /* lead byte where a continuation belongs */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (brig_utf8_valid(bad[i], strlen(bad[i])))
                        print_error("accepted bad[%zu]\n", i);
                assert_false(brig_utf8_valid(bad[i], strlen(bad[i])));
        }
}

static void test_text__utf8_valid_rejects_nul(void **state) {
        (void) state;
        assert_false(brig_utf8_valid("a\0b", 3));
        assert_false(brig_utf8_valid("\0", 1));
}

static void test_text__utf8_valid_respects_length(void **state) {
        (void) state;
        /* The length, not a terminator, bounds the check: a sequence cut by len is incomplete even when the
         * bytes after len would complete it. */
        assert_true(brig_utf8_valid("ab\0", 2));
        assert_false(brig_utf8_valid("\xc3\xa9", 1));
        assert_false(brig_utf8_valid("\xe2\x82\xac", 2));
        assert_false(brig_utf8_valid("\xf0\x9f\x98\x80", 3));
        assert_false(brig_utf8_valid("\xc3\xa9\xc3", 3));
        assert_true(brig_utf8_valid("\xc3\xa9\xc3", 2));
}

static void test_text__utf8_incomplete_tail_at_every_split(void **state) {
        static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xef\xbf\xbf", "\xf0\x9f\x98\x80",
                                           "\xf4\x8f\xbf\xbf"};
        char buf[16];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(seqs); i++) {
                size_t n = strlen(seqs[i]);
                for (size_t k = 0; k <= n; k++) {
                        /* "ab" + the first k bytes of the sequence. */
                        memcpy(buf, "ab", 2);
                        memcpy(buf + 2, seqs[i], k);
                        size_t want = k == n ? 0 : k;
                        assert_int_equal(brig_utf8_incomplete_tail(buf, 2 + k), want);
                        /* The same without anything before it. */
                        assert_int_equal(brig_utf8_incomplete_tail(buf + 2, k), want);
                        /* A split stream reassembles to valid UTF-8. */
                        size_t keep = 2 + k - want;
                        assert_true(brig_utf8_valid(buf, keep));
                }
        }
}

static void test_text__utf8_incomplete_tail_ignores_complete_and_garbage(void **state) {
        (void) state;
        assert_int_equal(brig_utf8_incomplete_tail("", 0), 0);
        assert_int_equal(brig_utf8_incomplete_tail("abc", 3), 0);
        assert_int_equal(brig_utf8_incomplete_tail("\xc3\xa9", 2), 0);
        /* Two complete sequences back to back. */
        assert_int_equal(brig_utf8_incomplete_tail("\xc3\xa9\xc3\xa9", 4), 0);
        /* Continuation bytes with no lead in reach cannot be completed by more input. */
        assert_int_equal(brig_utf8_incomplete_tail("\x80\x80\x80", 3), 0);
        assert_int_equal(brig_utf8_incomplete_tail("a\x80\x80\x80", 4), 0);
        /* A byte that can never lead is not carried over. */
        assert_int_equal(brig_utf8_incomplete_tail("a\xff", 2), 0);
}

static void test_text__base64_rfc4648_vectors(void **state) {
        static const struct {
                const char *plain, *b64;
        } v[] = {
                {"", ""},
                {"f", "Zg=="},
                {"fo", "Zm8="},
                {"foo", "Zm9v"},
                {"foob", "Zm9vYg=="},
                {"fooba", "Zm9vYmE="},
                {"foobar", "Zm9vYmFy"},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *enc = brig_base64_encode(v[i].plain, strlen(v[i].plain));
                _cleanup_free_ unsigned char *dec = NULL;
                size_t n = 99;

                assert_non_null(enc);
                assert_string_equal(enc, v[i].b64);
                assert_int_equal(brig_base64_decode(v[i].b64, strlen(v[i].b64), &dec, &n),
                                 (int) strlen(v[i].plain));
                assert_int_equal(n, strlen(v[i].plain));
                assert_memory_equal(dec, v[i].plain, n);
        }
}

static void test_text__base64_round_trip_lengths_0_to_64(void **state) {
        unsigned char data[64];

        (void) state;
        /* Every byte value shows up, including NUL and 0xff. */
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (unsigned char) (i * 37 + 255);
        for (size_t len = 0; len <= sizeof(data); len++) {
                _cleanup_free_ char *enc = brig_base64_encode(data, len);
                _cleanup_free_ unsigned char *dec = NULL;
                size_t n = 999;

                assert_non_null(enc);
                assert_int_equal(strlen(enc), 4 * ((len + 2) / 3));
                size_t pad = len % 3 == 0 ? 0 : 3 - len % 3;
                for (size_t p = 0; p < pad; p++)
                        assert_int_equal(enc[strlen(enc) - 1 - p], '=');
                if (strlen(enc) > pad)
                        assert_int_not_equal(enc[strlen(enc) - 1 - pad], '=');
                assert_int_equal(brig_base64_decode(enc, strlen(enc), &dec, &n), (int) len);
                assert_int_equal(n, len);
                if (len)
                        assert_memory_equal(dec, data, len);
        }
}

static void test_text__base64_decode_rejects_bad_length_and_chars(void **state) {
        static const char *const bad[] = {"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=", "@@@@", "Zm 9", "Zm9v\n"};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned char *dec = (unsigned char *) "untouched";
                size_t n = 42;

                if (brig_base64_decode(bad[i], strlen(bad[i]), &dec, &n) != -EINVAL)
                        print_error("accepted bad[%zu] '%s'\n", i, bad[i]);
                assert_int_equal(brig_base64_decode(bad[i], strlen(bad[i]), &dec, &n), -EINVAL);
                assert_string_equal((const char *) dec, "untouched");
                assert_int_equal(n, 42);
        }
}

/* '=' may only pad the last quantum: at most two, at the very end, after at least two data characters. */
static void test_text__base64_decode_rejects_misplaced_padding(void **state) {
        static const char *const bad[] = {"====", "A===", "Zg=a", "=Zm9", "Zg==Zg=="};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned char *dec = NULL;
                size_t n = 0;
                int r = brig_base64_decode(bad[i], strlen(bad[i]), &dec, &n);

                if (r != -EINVAL) {
                        print_error("accepted bad[%zu] '%s' as %d bytes\n", i, bad[i], r);
                        free(dec);
                }
                assert_int_equal(r, -EINVAL);
        }
}

static void test_text__json_locate_finds_values(void **state) {
        const char *t = "{\"a\": {\"b\": [1, {\"c\": \"x\"}, [2, 3]], \"d e\": true},\n \"s\": \"q\\\"{[\", "
                        "\"z\": null}";
        size_t len = strlen(t), off;
        unsigned line, column;

        (void) state;
        assert_true(brig_json_locate(t, len, "", &off));
        assert_int_equal(off, 0);
        assert_true(brig_json_locate(t, len, "a.b[1].c", &off));
        assert_memory_equal(t + off, "\"x\"", 3);
        assert_true(brig_json_locate(t, len, "a.b[2][1]", &off));
        assert_memory_equal(t + off, "3", 1);
        assert_true(brig_json_locate(t, len, "a[\"d e\"]", &off));
        assert_memory_equal(t + off, "true", 4);
        /* Past a string holding a quote and brackets. */
        assert_true(brig_json_locate(t, len, "z", &off));
        assert_memory_equal(t + off, "null", 4);
        brig_text_line_column(t, off, &line, &column);
        assert_int_equal(line, 2);
        assert_int_equal(column, 21);
        assert_false(brig_json_locate(t, len, "a.x", &off));
        assert_false(brig_json_locate(t, len, "a.b[3]", &off));
        assert_false(brig_json_locate(t, len, "a.b.c", &off));
        assert_false(brig_json_locate(t, len, "s.x", &off));
        assert_false(brig_json_locate(t, len, "a[", &off));
        assert_false(brig_json_locate("{\"a\": [1,", 8, "a[1]", &off));
        assert_false(brig_json_locate("", 0, "a", &off));
}

static void test_text__json_escaped_len_counts_cjson_escapes(void **state) {
        (void) state;
        const char *s = "a\"\\\n\t\x01\x1f\x7f";
        cJSON *str = cJSON_CreateString(s);
        char *printed = cJSON_PrintUnformatted(str);
        /* cJSON adds the two quotes. */
        assert_int_equal(brig_json_escaped_len(s, strlen(s)) + 2, strlen(printed));
        free(printed);
        cJSON_Delete(str);
}

static void test_text__output_is_text_only_when_escaping_is_cheap(void **state) {
        (void) state;
        char ctl[4096];
        memset(ctl, 1, sizeof(ctl));
        assert_true(brig_output_is_text("hello\n", 6));
        assert_true(brig_output_is_text("\x1b[1mbold\x1b[0m", 12));
        assert_false(brig_output_is_text(ctl, sizeof(ctl)));
        assert_false(brig_output_is_text("\xff", 1));
        assert_true(brig_output_is_text(ctl, 16)); /* a few escapes in a short output stay text */
}

/* The validator and escaper as they were before their word-at-a-time fast paths (one byte at a time): the
 * reference the fast versions must agree with. */
static bool ref_seq_valid(const unsigned char *p, size_t n) {
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return false;
        if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
                return false;
        if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
                return false;
        return true;
}

static size_t ref_valid_prefix(const char *data, size_t len) {
        const unsigned char *p = (const unsigned char *) data;
        size_t i = 0;
        while (i < len) {
                size_t n = p[i] == 0 ? 0 : brig_utf8_seq_len(p[i]);
                if (n == 0 || i + n > len || !ref_seq_valid(p + i, n))
                        return i;
                i += n;
        }
        return len;
}

static size_t ref_escape(char *dst, const char *src, size_t len) {
        size_t d = 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) src[i];
                const char *e = c == '"'    ? "\\\""
                                : c == '\\' ? "\\\\"
                                : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                            : NULL;
                if (e) {
                        memcpy(dst + d, e, 2);
                        d += 2;
                } else if (c < 0x20)
                        d += (size_t) sprintf(dst + d, "\\u%04x", c);
                else
                        dst[d++] = (char) c;
        }
        return d;
}

/* Long random buffers: the escaped length folds its per-lane counts every 255 blocks. */
static void test_text__escaped_len_matches_reference_on_long_buffers(void **state) {
        static const char pick[] = "\"\\\b\f\n\r\t\x01\x1f\x7f\x80\xff";
        unsigned seed = 3;
        size_t len = 256 * 1024;
        _cleanup_free_ char *buf = malloc(len), *ref = malloc(len * 6);

        (void) state;
        assert_non_null(buf);
        assert_non_null(ref);
        for (int round = 0; round < 4; round++) {
                /* From all escapes (every lane counts to its limit) to sparse ones. */
                for (size_t i = 0; i < len; i++)
                        buf[i] = round == 0 || rand_r(&seed) % (1 << (2 * round)) == 0
                                         ? pick[(size_t) rand_r(&seed) % (sizeof(pick) - 1)]
                                         : 'a';
                for (size_t n = len - 40; n <= len; n += 13)
                        assert_int_equal(brig_json_escaped_len(buf, n), ref_escape(ref, buf, n));
        }
}

/* Every byte value at every position of a buffer spanning two blocks and a tail, in a clean ASCII
 * background: the word at a time paths must find it wherever it falls, and agree with the byte at a time
 * reference. */
static void test_text__fast_paths_match_reference_for_every_byte_everywhere(void **state) {
        char buf[40], esc[40 * 6 + 32], ref[40 * 6], inplace[40 * 6];

        (void) state;
        for (size_t len = 1; len <= sizeof(buf); len++)
                for (size_t pos = 0; pos < len; pos++)
                        for (int c = 0; c < 256; c++) {
                                memset(buf, 'a', sizeof(buf));
                                buf[pos] = (char) c;
                                size_t want = ref_escape(ref, buf, len);
                                assert_int_equal(brig_json_escaped_len(buf, len), want);
                                /* Nothing written past the escape (the escaper stores whole blocks). */
                                memset(esc, '#', sizeof(esc));
                                assert_int_equal(brig_json_escape(esc, buf, len), want);
                                assert_memory_equal(esc, ref, want);
                                for (size_t k = want; k < sizeof(esc); k++)
                                        assert_int_equal(esc[k], '#');
                                memcpy(inplace, buf, len);
                                brig_json_escape_in_place(inplace, len, want);
                                assert_memory_equal(inplace, ref, want);
                                assert_int_equal(brig_utf8_valid_prefix(buf, len),
                                                 ref_valid_prefix(buf, len));
                        }
}

/* The escaper prints what cJSON prints, for every byte cJSON can hold (NUL ends its strings). */
static void test_text__json_escape_matches_cjson(void **state) {
        char all[255 * 3], esc[sizeof(all) * 6];
        size_t n = 0;

        (void) state;
        for (int r = 0; r < 3; r++)
                for (int c = 1; c < 256; c++)
                        all[n++] = (char) c;
        _cleanup_free_ char *s = strndup(all, n);
        cJSON *str = cJSON_CreateString(s);
        _cleanup_free_ char *printed = cJSON_PrintUnformatted(str);
        cJSON_Delete(str);
        size_t len = brig_json_escape(esc, all, n);
        assert_int_equal(len + 2, strlen(printed));
        assert_memory_equal(esc, printed + 1, len);
}

/* Escaping in bounded parts, at every part size from the smallest that always makes progress, writes what
 * one whole escape writes: no part passes its bound, no escape is cut, and a part leaves out only what did
 * not fit. All 255 non-NUL bytes, multi-byte characters and long clean runs (the block path). */
static void test_text__escape_some_parts_join_to_the_whole_escape(void **state) {
        char src[255 * 2 + 300], want[sizeof(src) * 6], got[sizeof(src) * 6], part[512];
        size_t n = 0;

        (void) state;
        for (int c = 1; c < 256; c++)
                src[n++] = (char) c;
        for (int i = 0; i < 200; i++)
                src[n++] = (char) ('a' + i % 26);
        memcpy(src + n, "\xe2\x82\xac \xf0\x9f\x98\x80\"\\\n", 12);
        n += 12;
        for (int c = 1; c < 256; c++)
                src[n++] = (char) (256 - c);
        size_t want_len = brig_json_escape(want, src, n);
        for (size_t cap = 6; cap <= sizeof(part); cap = cap < 64 ? cap + 1 : cap * 2) {
                size_t at = 0, len = 0;
                while (at < n) {
                        size_t used = 0, w = brig_json_escape_some(part, cap, src + at, n - at, &used);
                        assert_true(w <= cap);
                        assert_true(used > 0);
                        /* Full, or the next escape would not have fitted. */
                        if (at + used < n) {
                                char next[6];
                                assert_true(w + brig_json_escape(next, src + at + used, 1) > cap);
                        }
                        memcpy(got + len, part, w);
                        len += w;
                        at += used;
                }
                assert_int_equal(len, want_len);
                assert_memory_equal(got, want, want_len);
        }
}

/* Inputs for the incremental scan: text, malformed and truncated sequences, NUL, escape-heavy text. */
static const char *const scan_inputs[] = {
        "plain ascii, long enough to span several words\n",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf \xf4\x8f\xbf\xbf end",
        "bad lead \x80 here",
        "overlong \xc0\xaf and \xe0\x80\xaf",
        "surrogate \xed\xa0\x80",
        "too big \xf4\x90\x80\x80",
        "truncated at the end \xe2\x82",
        "truncated in the middle \xe2\x82 then more",
        "\xf0\x9f\x98",
        "\xc3",
        "lead then lead \xc3\xc3\xa9",
        "",
};

static void check_scan(const char *data, size_t len, const size_t *cuts, size_t n_cuts) {
        brig_text_scan s = {0};
        size_t at = 0;

        for (size_t i = 0; i <= n_cuts; i++) {
                size_t end = i < n_cuts ? cuts[i] : len;
                brig_text_scan_feed(&s, data + at, end - at);
                at = end;
        }
        bool want = ref_valid_prefix(data, len) == len &&
                    brig_json_escaped_len(data, len) <= BRIG_TEXT_MAX_ESCAPE_RATIO * len + 256;
        assert_int_equal(s.len, len);
        assert_int_equal(brig_text_scan_is_text(&s), want);
        assert_int_equal(brig_output_is_text(data, len), want);
}

/* Split at every byte position into two chunks, and at every pair of positions into three: a sequence
 * split anywhere classifies as the whole does. */
static void test_text__scan_matches_whole_output_at_every_split(void **state) {
        (void) state;
        for (size_t k = 0; k < sizeof(scan_inputs) / sizeof(*scan_inputs); k++) {
                const char *d = scan_inputs[k];
                size_t len = strlen(d);
                for (size_t a = 0; a <= len; a++) {
                        check_scan(d, len, &a, 1);
                        for (size_t b = a; b <= len; b++)
                                check_scan(d, len, (size_t[]){a, b}, 2);
                }
        }
        /* NUL is not text, wherever the chunk boundary is. */
        for (size_t a = 0; a <= 5; a++)
                check_scan("ab\0cd", 5, &a, 1);
        /* Mostly control bytes: valid UTF-8, but too costly as escapes. */
        char ctl[1024];
        memset(ctl, 1, sizeof(ctl));
        for (size_t a = 0; a <= sizeof(ctl); a += 7)
                check_scan(ctl, sizeof(ctl), &a, 1);
}

/* Random bytes biased towards UTF-8 leads and continuations, fed in random chunks. */
static void test_text__scan_matches_reference_on_random_chunks(void **state) {
        static const unsigned char pick[] = {'a',  '\n', '"',  0x01, 0x00, 0x80, 0xbf, 0xa0, 0x90,
                                             0xc3, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xc0, 0xff};
        unsigned seed = 1;
        char buf[64];

        (void) state;
        for (int round = 0; round < 20000; round++) {
                size_t len = (size_t) (rand_r(&seed) % (int) sizeof(buf));
                for (size_t i = 0; i < len; i++)
                        buf[i] = rand_r(&seed) % 3 ? 'x' : (char) pick[rand_r(&seed) % (int) sizeof(pick)];
                size_t cuts[4], n = 0, at = 0;
                while (n < 4 && len > at) {
                        at += (size_t) (rand_r(&seed) % (int) (len - at + 1));
                        cuts[n++] = at;
                }
                check_scan(buf, len, cuts, n);
        }
}

static void test_text__base64_in_place_matches_copying_encoder(void **state) {
        static const size_t lens[] = {0, 1, 2, 3, 4, 5, 63, 64, 12287, 12288, 12289, 24576, 36869, 100000};
        unsigned seed = 7;

        (void) state;
        for (size_t k = 0; k < sizeof(lens) / sizeof(*lens); k++) {
                size_t len = lens[k];
                char *data = malloc(len ? len : 1);
                assert_non_null(data);
                for (size_t i = 0; i < len; i++)
                        data[i] = (char) rand_r(&seed);
                _cleanup_free_ char *want = brig_base64_encode(data, len);
                assert_non_null(want);
                _cleanup_free_ char *got = brig_base64_encode_in_place(data, len);
                assert_non_null(got);
                assert_string_equal(got, want);
        }
}

/* The table encoder against Nettle's (what brig used before): every length up to a few 6-byte steps past
 * its 8-byte loads, from every alignment, over bytes that reach every 12-bit pair, and the output never
 * written past its length. */
static void test_text__base64_matches_nettle_at_every_length_and_alignment(void **state) {
        unsigned char data[3 * 4096 + 64];
        char want[(sizeof(data) + 2) / 3 * 4 + 1], got[sizeof(want) + 8];
        unsigned seed = 11;

        (void) state;
        /* Group k's two 12-bit halves are both k: every pair of the table is looked up. */
        for (unsigned k = 0; k < 4096; k++) {
                data[3 * k] = (unsigned char) (k >> 4);
                data[3 * k + 1] = (unsigned char) ((k & 15) << 4 | (k >> 8));
                data[3 * k + 2] = (unsigned char) k;
        }
        for (size_t i = 3 * 4096; i < sizeof(data); i++)
                data[i] = (unsigned char) rand_r(&seed);
        for (size_t off = 0; off < 8; off++)
                for (size_t len = 0; len <= 40; len++) {
                        const unsigned char *from = data + sizeof(data) - 48 + off;
                        base64_encode_raw(want, len, from);
                        memset(got, '#', sizeof(got));
                        size_t n = brig_base64_encode_to(got, from, len);
                        assert_int_equal(n, BASE64_ENCODE_RAW_LENGTH(len));
                        assert_memory_equal(got, want, n);
                        assert_int_equal(got[n], '#');
                }
        base64_encode_raw(want, sizeof(data), data);
        assert_int_equal(brig_base64_encode_to(got, data, sizeof(data)),
                         BASE64_ENCODE_RAW_LENGTH(sizeof(data)));
        assert_memory_equal(got, want, BASE64_ENCODE_RAW_LENGTH(sizeof(data)));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text__buf_unbounded_grows),
                cmocka_unit_test(test_text__fast_paths_match_reference_for_every_byte_everywhere),
                cmocka_unit_test(test_text__json_escape_matches_cjson),
                cmocka_unit_test(test_text__escape_some_parts_join_to_the_whole_escape),
                cmocka_unit_test(test_text__escaped_len_matches_reference_on_long_buffers),
                cmocka_unit_test(test_text__scan_matches_whole_output_at_every_split),
                cmocka_unit_test(test_text__scan_matches_reference_on_random_chunks),
                cmocka_unit_test(test_text__base64_in_place_matches_copying_encoder),
                cmocka_unit_test(test_text__base64_matches_nettle_at_every_length_and_alignment),
                cmocka_unit_test(test_text__json_escaped_len_counts_cjson_escapes),
                cmocka_unit_test(test_text__output_is_text_only_when_escaping_is_cheap),
                cmocka_unit_test(test_text__buf_cap_truncates_and_flags),
                cmocka_unit_test(test_text__buf_exactly_max_is_not_truncated),
                cmocka_unit_test(test_text__buf_big_append_into_small_cap),
                cmocka_unit_test(test_text__utf8_valid_accepts_well_formed),
                cmocka_unit_test(test_text__utf8_valid_rejects_malformed),
                cmocka_unit_test(test_text__utf8_valid_rejects_nul),
                cmocka_unit_test(test_text__utf8_valid_respects_length),
                cmocka_unit_test(test_text__utf8_incomplete_tail_at_every_split),
                cmocka_unit_test(test_text__utf8_incomplete_tail_ignores_complete_and_garbage),
                cmocka_unit_test(test_text__base64_rfc4648_vectors),
                cmocka_unit_test(test_text__json_locate_finds_values),
                cmocka_unit_test(test_text__base64_round_trip_lengths_0_to_64),
                cmocka_unit_test(test_text__base64_decode_rejects_bad_length_and_chars),
                cmocka_unit_test(test_text__base64_decode_rejects_misplaced_padding),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
