/* SPDX-License-Identifier: MIT */
/* Newline framing of the MCP byte stream, with the message size bounded before buffering. */
#include <errno.h>
#include <string.h>

#include "common/framing.h"

void brig_framer_init(brig_framer *f, size_t max) {
        *f = (brig_framer){.max = max};
}

void brig_framer_done(brig_framer *f) {
        brig_buf_done(&f->partial);
}

static int emit(char *line, size_t len, brig_framer_line_cb cb, void *userdata) {
        if (len > 0 && line[len - 1] == '\r')
                line[--len] = 0;
        if (len == 0)
                return 0; /* blank lines between messages are harmless */
        return cb(line, len, userdata);
}

int brig_framer_feed(brig_framer *f, const char *data, size_t len, brig_framer_line_cb cb, void *userdata) {
        int r;

        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t) (nl - data) : len;

                /* One byte of slack for the '\r' of a CRLF, which does not count as part of the line. */
                size_t total = f->partial.len + n;
                if (total > f->max + 1)
                        return -EMSGSIZE;
                if (total == f->max + 1) {
                        char last = n > 0 ? data[n - 1] : f->partial.data[f->partial.len - 1];
                        if (last != '\r')
                                return -EMSGSIZE;
                }
                if (!nl) {
                        r = brig_buf_append(&f->partial, data, n);
                        return r < 0 ? r : 0;
                }
                /* Copied even when whole, so the callback always sees a NUL-terminated line. */
                if ((r = brig_buf_append(&f->partial, data, n)) < 0)
                        return r;
                r = f->partial.len ? emit(f->partial.data, f->partial.len, cb, userdata) : 0;
                f->partial.len = 0;
                if (r < 0)
                        return r;
                data += n + 1;
                len -= n + 1;
        }
        return 0;
}
