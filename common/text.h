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

/* base64 (common/base64.c). Returns a NUL-terminated base64 (RFC 4648) encoding, or NULL on allocation
 * failure. Caller frees. */
char *brig_base64_encode(const void *data, size_t len);

/* Decodes base64 into a new buffer; returns length or -EINVAL/-ENOMEM. Caller frees *ret. */
int brig_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len);
