/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/* A JSON message printed for the wire as a list of buffers: the small parts in one buffer each, every
 * large string in its own buffer, escaped in the allocation it already had (taken from the consumed tree):
 * a message carrying megabytes of output is never copied again. Pure; any thread. */

typedef struct brig_json_segment {
        char *data; /* owned */
        size_t len;
} brig_json_segment;

typedef struct brig_json_frame {
        brig_json_segment *segs; /* owned; written in order they make one line */
        size_t n, total;         /* total: bytes of all segments, the final newline included */
} brig_json_frame;

/* Prints msg (consumed, also on failure) unformatted, as cJSON_PrintUnformatted() would, followed by a
 * newline, into *ret. Returns 0 or -ENOMEM. */
int brig_json_frame_print(cJSON *msg, brig_json_frame *ret);
void brig_json_frame_done(brig_json_frame *f);

/* A cJSON string that owns s (malloc'd, NUL-terminated): the string is not copied. NULL on allocation
 * failure, when s is freed. */
cJSON *brig_json_string_take(char *s);
