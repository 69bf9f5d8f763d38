/* SPDX-License-Identifier: MIT */
/* Printing a JSON message for the wire without copying its large strings: strings print as cJSON prints
 * them (common/json_print.h: byte for byte cJSON's). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json_frame.h"
#include "common/json_print.h"
#include "common/text.h"

/* Flags on a cJSON string made by brig_json_bytes_take() (above cJSON's own, which end at 512): its
 * encoding; its length is in valuedouble (exact below 2^53), and the bytes escaping adds in valueint when
 * known (-1 when not). */
#define BYTES_ESCAPE (1 << 12)
#define BYTES_BASE64 (1 << 13)
#define BYTES_WIRE (1 << 14) /* brig_json_wire_take(): data is the wire bytes already */

/* Strings at least this long get a buffer of their own instead of being copied into the current one. */
#define LARGE_STRING (64u * 1024u)

typedef struct printer {
        brig_json_frame f;
        brig_buf cur; /* the small parts since the last large string */
} printer;

static int push_encoded(printer *p, char *data, size_t len, size_t wire_len, brig_json_encoding enc) {
        brig_json_segment *s = realloc(p->f.segs, (p->f.n + 1) * sizeof(*s));
        if (!s)
                return -ENOMEM;
        p->f.segs = s;
        s[p->f.n++] = (brig_json_segment){data, len, wire_len, enc};
        p->f.total += wire_len;
        p->f.encoded |= enc != BRIG_JSON_AS_IS;
        return 0;
}

static int push(printer *p, char *data, size_t len) {
        return push_encoded(p, data, len, len, BRIG_JSON_AS_IS);
}

static int flush(printer *p) {
        if (p->cur.len == 0)
                return 0;
        if (push(p, p->cur.data, p->cur.len) < 0)
                return -ENOMEM;
        p->cur = (brig_buf){0};
        return 0;
}

static int put(printer *p, const char *s, size_t len) {
        return brig_buf_append(&p->cur, s, len) < 0 ? -ENOMEM : 0;
}

/* Appends the quoted, escaped s (len bytes) to the current buffer. */
static int put_string(printer *p, const char *s, size_t len) {
        return brig_json_print_string(&p->cur, s, len);
}

/* A large string: its buffer, taken from the item, is escaped in place and becomes a segment. */
static int take_string(printer *p, cJSON *item, size_t len) {
        size_t n = brig_json_escaped_len(item->valuestring, len);
        int r;

        if (n > len) {
                char *d = realloc(item->valuestring, n + 1);
                if (!d)
                        return -ENOMEM;
                item->valuestring = d;
                brig_json_escape_in_place(d, len, n);
        }
        if ((r = put(p, "\"", 1)) < 0 || (r = flush(p)) < 0 || (r = push(p, item->valuestring, n)) < 0)
                return r;
        item->valuestring = NULL; /* the frame's now */
        return put(p, "\"", 1);
}

/* A string of brig_json_bytes_take(): its raw bytes, taken from the item, become a segment encoded as it is
 * written. */
static int take_bytes(printer *p, cJSON *item) {
        size_t len = (size_t) item->valuedouble;
        brig_json_encoding enc = item->type & BYTES_WIRE     ? BRIG_JSON_AS_IS
                                 : item->type & BYTES_BASE64 ? BRIG_JSON_BASE64
                                                             : BRIG_JSON_ESCAPE;
        size_t wire = enc == BRIG_JSON_AS_IS    ? len
                      : enc == BRIG_JSON_BASE64 ? (len + 2) / 3 * 4
                      : item->valueint >= 0     ? len + (size_t) item->valueint
                                                : brig_json_escaped_len(item->valuestring, len);
        int r;

        if ((r = put(p, "\"", 1)) < 0 || (r = flush(p)) < 0 ||
            (r = push_encoded(p, item->valuestring, len, wire, enc)) < 0)
                return r;
        item->valuestring = NULL; /* the frame's now */
        return put(p, "\"", 1);
}

static int print_value(printer *p, cJSON *item) {
        int r;

        switch (item->type & 0xff) {
        case cJSON_NULL:
                return put(p, "null", 4);
        case cJSON_False:
                return put(p, "false", 5);
        case cJSON_True:
                return put(p, "true", 4);
        case cJSON_Number: {
                char num[BRIG_JSON_NUMBER_SIZE];
                int n = brig_json_print_number(item, num);
                return n < 0 ? n : put(p, num, (size_t) n);
        }
        case cJSON_Raw:
                return item->valuestring ? put(p, item->valuestring, strlen(item->valuestring)) : -EINVAL;
        case cJSON_String: {
                if (!item->valuestring)
                        return put(p, "\"\"", 2); /* as cJSON prints it */
                if (item->type & (BYTES_ESCAPE | BYTES_BASE64 | BYTES_WIRE))
                        return take_bytes(p, item);
                size_t len = strlen(item->valuestring);
                if (len >= LARGE_STRING && !(item->type & cJSON_IsReference))
                        return take_string(p, item, len);
                return put_string(p, item->valuestring, len);
        }
        case cJSON_Array:
        case cJSON_Object: {
                bool object = (item->type & 0xff) == cJSON_Object;
                if ((r = put(p, object ? "{" : "[", 1)) < 0)
                        return r;
                for (cJSON *c = item->child; c; c = c->next) {
                        if (c != item->child && (r = put(p, ",", 1)) < 0)
                                return r;
                        if (object) {
                                if (!c->string)
                                        return -EINVAL;
                                if ((r = put_string(p, c->string, strlen(c->string))) < 0 ||
                                    (r = put(p, ":", 1)) < 0)
                                        return r;
                        }
                        if ((r = print_value(p, c)) < 0)
                                return r;
                }
                return put(p, object ? "}" : "]", 1);
        }
        default:
                return -EINVAL;
        }
}

int brig_json_frame_print(cJSON *msg, brig_json_frame *ret) {
        printer p = {0};
        int r;

        r = msg ? print_value(&p, msg) : -ENOMEM;
        cJSON_Delete(msg);
        if (r >= 0)
                r = put(&p, "\n", 1);
        if (r >= 0)
                r = flush(&p);
        if (r < 0) {
                brig_buf_done(&p.cur);
                brig_json_frame_done(&p.f);
                return r;
        }
        *ret = p.f;
        return 0;
}

void brig_json_frame_done(brig_json_frame *f) {
        for (size_t i = 0; i < f->n; i++)
                free(f->segs[i].data);
        free(f->segs);
        *f = (brig_json_frame){0};
}

cJSON *brig_json_string_take(char *s) {
        cJSON *item = cJSON_CreateString("");
        if (!item) {
                free(s);
                return NULL;
        }
        cJSON_free(item->valuestring);
        item->valuestring = s;
        return item;
}

cJSON *brig_json_bytes_take(char *data, size_t len, brig_json_encoding enc) {
        cJSON *item = brig_json_string_take(data);
        if (!item)
                return NULL;
        data[len] = 0; /* what cJSON's readers see ends here */
        item->valuedouble = (double) len;
        item->valueint = -1;
        item->type |= enc == BRIG_JSON_BASE64 ? BYTES_BASE64 : BYTES_ESCAPE;
        return item;
}

cJSON *brig_json_wire_take(char *wire, size_t len) {
        cJSON *item = brig_json_bytes_take(wire, len, BRIG_JSON_ESCAPE);
        if (item)
                item->type = (item->type & ~BYTES_ESCAPE) | BYTES_WIRE;
        return item;
}

cJSON *brig_json_escaped_take(char *data, size_t len, size_t escaped_len) {
        cJSON *item = brig_json_bytes_take(data, len, BRIG_JSON_ESCAPE);
        if (item && escaped_len >= len && escaped_len - len <= INT_MAX)
                item->valueint = (int) (escaped_len - len);
        return item;
}

/* Encodes the next at most cap wire bytes of the encoded segment s from *off into chunk. */
static size_t encode_part(const brig_json_segment *s, size_t *off, char *chunk, size_t cap) {
        size_t used, n;

        if (s->enc == BRIG_JSON_BASE64) {
                /* Whole 3-byte groups, so no padding before the end. */
                used = cap / 4 * 3;
                if (used > s->len - *off)
                        used = s->len - *off;
                n = brig_base64_encode_to(chunk, s->data + *off, used);
        } else
                n = brig_json_escape_some(chunk, cap, s->data + *off, s->len - *off, &used);
        *off += used;
        return n;
}

size_t brig_json_frame_next(const brig_json_frame *f, brig_json_frame_pos *pos, char *chunk, size_t cap,
                            struct iovec *iov, size_t max_iov) {
        size_t k = 0;

        while (k < max_iov && pos->seg < f->n) {
                const brig_json_segment *s = &f->segs[pos->seg];
                if (pos->off == s->len) {
                        pos->seg++;
                        pos->off = 0;
                        continue;
                }
                if (s->enc == BRIG_JSON_AS_IS) {
                        iov[k++] = (struct iovec){s->data + pos->off, s->len - pos->off};
                        pos->off = s->len;
                        continue;
                }
                iov[k++] = (struct iovec){chunk, encode_part(s, &pos->off, chunk, cap)};
                break; /* one encoded part per call: chunk is spent */
        }
        return k;
}

char *brig_json_frame_join(const brig_json_frame *f, size_t cap) {
        _cleanup_free_ char *chunk = malloc(cap);
        char *out = malloc(f->total + 1), *at = out;
        brig_json_frame_pos pos = {0};
        struct iovec iov[4];
        size_t n;

        if (!chunk || !out) {
                free(out);
                return NULL;
        }
        while ((n = brig_json_frame_next(f, &pos, chunk, cap, iov, 4)) > 0)
                for (size_t i = 0; i < n; i++) {
                        memcpy(at, iov[i].iov_base, iov[i].iov_len);
                        at += iov[i].iov_len;
                }
        *at = 0;
        return out;
}
