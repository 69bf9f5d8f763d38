/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include <cjson/cJSON.h>

/* A JSON message printed for the wire as a list of buffers: the small parts in one buffer each, every
 * large string in its own buffer, escaped in the allocation it already had (taken from the consumed tree):
 * a message carrying megabytes of output is never copied again. A string made by brig_json_bytes_take() is
 * held raw and encoded only as the frame is written, a bounded part at a time (brig_json_frame_next()):
 * a large output is then held once, unencoded, plus the part being written. Pure; any thread. */

/* How a segment's bytes become wire bytes. */
typedef enum brig_json_encoding {
        BRIG_JSON_AS_IS = 0, /* data is the wire bytes */
        BRIG_JSON_ESCAPE,    /* data is a string's UTF-8, escaped as cJSON escapes it (no quotes) */
        BRIG_JSON_BASE64,    /* data is raw bytes, written as RFC 4648 base64 (no quotes) */
} brig_json_encoding;

typedef struct brig_json_segment {
        char *data; /* owned */
        size_t len; /* bytes of data */
        size_t wire_len;
        brig_json_encoding enc;
} brig_json_segment;

typedef struct brig_json_frame {
        brig_json_segment *segs; /* owned; written in order they make one line */
        size_t n, total;         /* total: wire bytes of all segments, the final newline included */
        bool encoded; /* some segment is not BRIG_JSON_AS_IS: write it with brig_json_frame_next() */
} brig_json_frame;

/* Prints msg (consumed, also on failure) unformatted, as cJSON_PrintUnformatted() would, followed by a
 * newline, into *ret. Returns 0 or -ENOMEM (-EINVAL for a tree cJSON could not print either). */
int brig_json_frame_print(cJSON *msg, brig_json_frame *ret);
void brig_json_frame_done(brig_json_frame *f);

/* Where writing a frame has got to: zero-initialise. */
typedef struct brig_json_frame_pos {
        size_t seg, off; /* off: bytes of segs[seg].data already written or encoded */
} brig_json_frame_pos;

/* The next part of f to write from *pos, which moves past it: the BRIG_JSON_AS_IS segments from there as
 * they are (iov points into f), up to and including the next at most cap wire bytes of an encoded segment,
 * encoded into chunk (cap >= 8). At most max_iov (>= 1) entries; returns how many, 0 once all of f is out.
 * Writing every part in order writes f->total bytes. */
size_t brig_json_frame_next(const brig_json_frame *f, brig_json_frame_pos *pos, char *chunk, size_t cap,
                            struct iovec *iov, size_t max_iov);

/* The whole of f as one NUL-terminated string, through brig_json_frame_next() in parts of cap bytes (>= 8):
 * for checking what a frame writes. NULL on allocation failure. Caller frees. */
char *brig_json_frame_join(const brig_json_frame *f, size_t cap);

/* A cJSON string that owns s (malloc'd, NUL-terminated): the string is not copied. NULL on allocation
 * failure, when s is freed. */
cJSON *brig_json_string_take(char *s);

/* A cJSON string item that owns data[0..len) (malloc'd with room for len + 1 bytes) and prints, through
 * brig_json_frame_print() only, as enc (BRIG_JSON_ESCAPE: data is UTF-8 without NUL; BRIG_JSON_BASE64: any
 * bytes), encoded as it is written. cJSON's own printers and readers see data as it is (for
 * BRIG_JSON_ESCAPE the string's value; for BRIG_JSON_BASE64 not its value): use it only in a tree bound
 * for the wire. NULL on allocation failure, when data is freed. */
cJSON *brig_json_bytes_take(char *data, size_t len, brig_json_encoding enc);
/* A cJSON string item that owns wire[0..len) (malloc'd with room for len + 1 bytes): a string's contents
 * already escaped (brig_json_escape()) or base64, printed as they are between the quotes, through
 * brig_json_frame_print() only (cJSON's printers and readers see the escaped form): for a caller that
 * encodes as the bytes arrive, straight from where they are, so that they are neither copied raw first
 * nor encoded into a part as the frame is written. NULL on allocation failure, when wire is freed. */
cJSON *brig_json_wire_take(char *wire, size_t len);
/* brig_json_bytes_take(data, len, BRIG_JSON_ESCAPE) from a caller that has counted escaped_len =
 * brig_json_escaped_len(data, len) already (as the output arrived): printing then reads data only to write
 * it. */
cJSON *brig_json_escaped_take(char *data, size_t len, size_t escaped_len);
