/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Byte buffers with a hard cap, UTF-8 checks and base64, for output that crosses the wire. Pure; any thread.
 */

typedef struct brig_buf {
        char *data;
        size_t len;
        size_t cap; /* allocated */
        size_t max; /* never grows past this; 0 means unbounded */
        bool truncated;
} brig_buf;

/* Appends up to the buffer's max; what does not fit is dropped and sets ->truncated. Returns the number of
 * bytes kept, or -ENOMEM. */
int brig_buf_append(brig_buf *b, const void *data, size_t len);
/* Room for len more bytes and a NUL after the data (for the caller to write and add to ->len itself);
 * within ->max when that is set. 0, -ENOBUFS when len more would pass ->max, or -ENOMEM. */
int brig_buf_reserve(brig_buf *b, size_t len);
/* Appends a printf-formatted string the same way. */
int brig_buf_appendf(brig_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void brig_buf_done(brig_buf *b);

/* True when data[0..len) is well-formed UTF-8 (no overlongs, surrogates or NUL bytes: NUL cannot travel in
 * a JSON string through cJSON). */
bool brig_utf8_valid(const char *data, size_t len);
/* Length of the longest prefix of data[0..len) that brig_utf8_valid() accepts: the offset of the first bad
 * byte, or len. */
size_t brig_utf8_valid_prefix(const char *data, size_t len);

/* Length of the UTF-8 sequence that starts with byte c (1 for ASCII, NUL included), 0 if c cannot start
 * one. */
size_t brig_utf8_seq_len(unsigned char c);

/* Number of bytes at the end of data that start a UTF-8 sequence not yet complete (0..3); a streaming
 * reader carries them to the next chunk. */
size_t brig_utf8_incomplete_tail(const char *data, size_t len);

/* Bytes data[0..len) takes inside a JSON string as cJSON prints it: `"` and `\\` and \b \f \n \r \t take 2,
 * other control bytes 6 (\u00XX), everything else 1. */
size_t brig_json_escaped_len(const char *data, size_t len);

/* True when output data[0..len) should cross the wire as a JSON string rather than as base64: it is valid
 * UTF-8 and escaping costs at most BRIG_TEXT_MAX_ESCAPE_RATIO bytes per byte (plus a little slack, so a
 * short line with a colour code stays readable). Either way the wire carries at most that ratio. */
#define BRIG_TEXT_MAX_ESCAPE_RATIO 2
bool brig_output_is_text(const char *data, size_t len);
/* brig_output_is_text(), and when it is text its brig_json_escaped_len() in *ret_escaped_len: for a caller
 * that escapes it next (brig_json_escaped_take()), which then reads it once fewer. */
bool brig_output_text_len(const char *data, size_t len, size_t *ret_escaped_len);
/* The escape-ratio half of brig_output_is_text(): whether UTF-8 of len bytes that escapes to escaped_len
 * bytes goes as text. */
bool brig_output_escapes_as_text(uint64_t len, uint64_t escaped_len);

/* Writes data[0..len) escaped for the inside of a JSON string, as cJSON prints it, to dst (room for
 * brig_json_escaped_len() bytes); returns the bytes written. */
size_t brig_json_escape(char *dst, const char *src, size_t len);
/* The same, a bounded part at a time: escapes a prefix of src[0..len) into dst, at most cap bytes and only
 * whole escapes, as much as fits (at least one byte when cap >= 6 and len > 0). Sets *ret_used to the
 * source bytes consumed; returns the bytes written. */
size_t brig_json_escape_some(char *dst, size_t cap, const char *src, size_t len, size_t *ret_used);
/* The same in place: buf holds len bytes and has room for escaped_len = brig_json_escaped_len(buf, len). */
void brig_json_escape_in_place(char *buf, size_t len, size_t escaped_len);

/* brig_output_is_text() computed as output arrives in chunks, so the whole output is never read again: a
 * UTF-8 sequence split between chunks is carried to the next one. Zero-initialise; feed every chunk in
 * order; brig_text_scan_is_text() then equals brig_output_is_text() of all the chunks concatenated. */
typedef struct brig_text_scan {
        uint64_t len, escaped_len;
        bool invalid;      /* a byte that cannot be part of text (malformed UTF-8 or NUL) was seen */
        uint8_t carry_len; /* bytes of an incomplete sequence at the end of what was fed */
        unsigned char carry[4];
} brig_text_scan;
void brig_text_scan_feed(brig_text_scan *s, const char *data, size_t len);
bool brig_text_scan_is_text(const brig_text_scan *s);

/* base64 (common/base64.c). Returns a NUL-terminated base64 (RFC 4648) encoding, or NULL on allocation
 * failure. Caller frees. */
char *brig_base64_encode(const void *data, size_t len);

/* Writes the base64 of data[0..len) to dst (room for 4 * ceil(len / 3) bytes, not NUL-terminated); returns
 * the bytes written. Encoding a long input in parts whose lengths are multiples of 3 gives the same bytes.
 */
size_t brig_base64_encode_to(char *dst, const void *data, size_t len);

/* Encodes data[0..len) (malloc'd, room for len bytes, owned by the caller) to base64 in the same
 * allocation, grown with realloc: a large output is never held twice. Returns the NUL-terminated encoding
 * (which replaces data), or NULL on allocation failure, when data is unchanged and still the caller's. */
char *brig_base64_encode_in_place(char *data, size_t len);

/* Decodes base64 into a new buffer; returns length or -EINVAL/-ENOMEM. Caller frees *ret. */
int brig_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len);
