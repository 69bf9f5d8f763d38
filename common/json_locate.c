/* SPDX-License-Identifier: MIT */
/* Locating a value of JSON text by its diagnostic path, and byte offsets as line:column, for messages that
 * point into a policy file (cJSON keeps no positions). */
#include <stdlib.h>
#include <string.h>

#include "common/json_locate.h"

#define MAX_DEPTH 128

typedef struct scan {
        const char *p, *end;
} scan;

static void skip_ws(scan *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
                s->p++;
}

/* At an opening quote: moves past the closing one; sets *ret_start and *ret_len to the raw content. */
static bool skip_string(scan *s, const char **ret_start, size_t *ret_len) {
        const char *start = ++s->p;

        while (s->p < s->end) {
                if (*s->p == '\\') {
                        s->p += 2;
                        continue;
                }
                if (*s->p == '"') {
                        if (ret_start) {
                                *ret_start = start;
                                *ret_len = (size_t) (s->p - start);
                        }
                        s->p++;
                        return true;
                }
                s->p++;
        }
        return false;
}

static bool skip_value(scan *s, int depth);

/* At '{' or '[': calls member() with each member's raw key (objects) or index (arrays), positioned at its
 * value; member() returns 1 to stop there, 0 to have the value skipped, -1 on error. */
static int each_member(scan *s, int depth,
                       int (*member)(scan *s, const char *key, size_t key_len, size_t index, void *userdata),
                       void *userdata) {
        bool object = *s->p == '{';
        char close = object ? '}' : ']';
        size_t index = 0;

        if (depth > MAX_DEPTH)
                return -1;
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == close) {
                s->p++;
                return 0;
        }
        for (;; index++) {
                const char *key = NULL;
                size_t key_len = 0;
                skip_ws(s);
                if (object) {
                        if (s->p >= s->end || *s->p != '"' || !skip_string(s, &key, &key_len))
                                return -1;
                        skip_ws(s);
                        if (s->p >= s->end || *s->p != ':')
                                return -1;
                        s->p++;
                        skip_ws(s);
                }
                int r = member ? member(s, key, key_len, index, userdata) : 0;
                if (r != 0)
                        return r;
                if (!skip_value(s, depth + 1))
                        return -1;
                skip_ws(s);
                if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        continue;
                }
                if (s->p < s->end && *s->p == close) {
                        s->p++;
                        return 0;
                }
                return -1;
        }
}

static bool skip_value(scan *s, int depth) {
        skip_ws(s);
        if (s->p >= s->end)
                return false;
        if (*s->p == '"')
                return skip_string(s, NULL, NULL);
        if (*s->p == '{' || *s->p == '[')
                return each_member(s, depth, NULL, NULL) == 0;
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
                s->p++;
        return true;
}

typedef struct segment {
        const char *key; /* NULL for an index */
        size_t key_len;
        size_t index;
} segment;

static int match(scan *s, const char *key, size_t key_len, size_t index, void *userdata) {
        const segment *seg = userdata;
        (void) s;
        if (seg->key)
                return key && key_len == seg->key_len && memcmp(key, seg->key, key_len) == 0;
        return !key && index == seg->index;
}

/* Reads the next segment of path at *pp; false at the end or on a form this reader does not handle. */
static bool next_segment(const char **pp, segment *seg) {
        const char *p = *pp;

        if (*p == '.')
                p++;
        if (*p == '[' && p[1] == '"') {
                const char *start = p + 2, *q = start;
                while (*q && *q != '"' && *q != '\\')
                        q++;
                if (*q != '"' || q[1] != ']')
                        return false;
                *seg = (segment){.key = start, .key_len = (size_t) (q - start)};
                *pp = q + 2;
                return true;
        }
        if (*p == '[') {
                char *end;
                unsigned long i = strtoul(p + 1, &end, 10);
                if (end == p + 1 || *end != ']')
                        return false;
                *seg = (segment){.index = (size_t) i};
                *pp = end + 1;
                return true;
        }
        size_t n = strcspn(p, ".[");
        if (n == 0)
                return false;
        *seg = (segment){.key = p, .key_len = n};
        *pp = p + n;
        return true;
}

bool brig_json_locate(const char *text, size_t len, const char *path, size_t *ret_off) {
        scan s = {.p = text, .end = text + len};
        int depth = 0;

        skip_ws(&s);
        while (*path) {
                segment seg;
                if (!next_segment(&path, &seg) || s.p >= s.end)
                        return false;
                if (*s.p != (seg.key ? '{' : '['))
                        return false;
                /* A name given twice: the first one, where readers that keep the first look. */
                if (each_member(&s, depth++, match, &seg) != 1)
                        return false;
        }
        if (s.p >= s.end)
                return false;
        *ret_off = (size_t) (s.p - text);
        return true;
}

void brig_text_line_column(const char *text, size_t off, unsigned *ret_line, unsigned *ret_column) {
        unsigned line = 1, column = 1;

        for (size_t i = 0; i < off && text[i]; i++) {
                if (text[i] == '\n') {
                        line++;
                        column = 1;
                } else if (((unsigned char) text[i] & 0xc0) != 0x80)
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}
