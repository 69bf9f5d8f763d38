/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "common/text.h"

/* Splits a byte stream into '\n'-terminated lines (a trailing '\r' is dropped), as the MCP stdio framing
 * does. A line longer than max is an error before it is buffered whole. Pure; one owner thread. */

/* Largest accepted message, documented in docs/protocol.md. */
#define BRIG_MAX_MESSAGE_BYTES (16u * 1024u * 1024u)

typedef struct brig_framer {
        brig_buf partial; /* bytes of the line not yet terminated */
        size_t max;
} brig_framer;

/* Called for each complete line, without its terminator and NUL-terminated. Return < 0 to stop feeding; that
 * value is returned by brig_framer_feed(). */
typedef int (*brig_framer_line_cb)(const char *line, size_t len, void *userdata);

void brig_framer_init(brig_framer *f, size_t max);
void brig_framer_done(brig_framer *f);

/* Feeds data; calls cb per complete line. Returns 0, cb's negative value, -EMSGSIZE when a line exceeds
 * max (the framer is then unusable: close the connection), or -ENOMEM. */
int brig_framer_feed(brig_framer *f, const char *data, size_t len, brig_framer_line_cb cb, void *userdata);
