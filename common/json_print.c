/* SPDX-License-Identifier: MIT */
/* Unformatted JSON into a brig_buf, byte for byte as cJSON prints it (tests/unit/test_json_print.c holds the
 * two side by side): strings through the block escaper of common/text.h, integers by hand. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json_print.h"

int brig_json_print_number(const cJSON *item, char buf[static BRIG_JSON_NUMBER_SIZE]) {
        double d = item->valuedouble;

        /* An integer below 1e15 in magnitude is what "%1.15g" prints digit for digit (and what cJSON's older
         * "%d" shortcut printed). Negative zero ("-0") and everything else go to cJSON itself. */
        if (d > -1e15 && d < 1e15 && d == (double) (int64_t) d && !(d == 0 && signbit(d))) {
                char tmp[BRIG_JSON_NUMBER_SIZE];
                int64_t v = (int64_t) d;
                uint64_t u = v < 0 ? (uint64_t) -v : (uint64_t) v;
                size_t n = 0, len = 0;

                do
                        tmp[n++] = (char) ('0' + u % 10);
                while ((u /= 10));
                if (v < 0)
                        buf[len++] = '-';
                while (n)
                        buf[len++] = tmp[--n];
                buf[len] = 0;
                return (int) len;
        }
        _cleanup_free_ char *s = cJSON_PrintUnformatted(item);
        size_t len = s ? strlen(s) : 0;
        if (!s || len >= BRIG_JSON_NUMBER_SIZE)
                return -ENOMEM;
        memcpy(buf, s, len + 1);
        return (int) len;
}

int brig_json_print_string(brig_buf *out, const char *s, size_t len) {
        size_t n;

        assert(out && !out->max);
        /* cJSON prints a missing string (or key) as "". */
        if (!s)
                return brig_buf_append(out, "\"\"", 2) < 0 ? -ENOMEM : 0;
        n = brig_json_escaped_len(s, len);
        /* Room first, then escape straight into the buffer. */
        if (brig_buf_append(out, "\"", 1) < 0 || brig_buf_reserve(out, n) < 0)
                return -ENOMEM;
        out->len += brig_json_escape(out->data + out->len, s, len);
        out->data[out->len] = 0;
        return brig_buf_append(out, "\"", 1) < 0 ? -ENOMEM : 0;
}

static int append_string(brig_buf *out, const char *s) {
        return brig_json_print_string(out, s, s ? strlen(s) : 0);
}

static int append_lit(brig_buf *out, const char *s, size_t len) {
        return brig_buf_append(out, s, len) < 0 ? -ENOMEM : 0;
}

int brig_json_print_append(const cJSON *item, brig_buf *out) {
        char num[BRIG_JSON_NUMBER_SIZE];
        int r;

        assert(item && out && !out->max);
        switch (item->type & 0xff) {
        case cJSON_NULL:
                return append_lit(out, "null", 4);
        case cJSON_False:
                return append_lit(out, "false", 5);
        case cJSON_True:
                return append_lit(out, "true", 4);
        case cJSON_Number:
                if ((r = brig_json_print_number(item, num)) < 0)
                        return r;
                return append_lit(out, num, (size_t) r);
        case cJSON_Raw:
                return item->valuestring ? append_lit(out, item->valuestring, strlen(item->valuestring))
                                         : -EINVAL;
        case cJSON_String:
                return append_string(out, item->valuestring);
        case cJSON_Array:
        case cJSON_Object: {
                bool object = (item->type & 0xff) == cJSON_Object;
                if ((r = append_lit(out, object ? "{" : "[", 1)) < 0)
                        return r;
                for (const cJSON *c = item->child; c; c = c->next) {
                        if (c != item->child && (r = append_lit(out, ",", 1)) < 0)
                                return r;
                        if (object &&
                            ((r = append_string(out, c->string)) < 0 || (r = append_lit(out, ":", 1)) < 0))
                                return r;
                        if ((r = brig_json_print_append(c, out)) < 0)
                                return r;
                }
                return append_lit(out, object ? "}" : "]", 1);
        }
        default:
                return -EINVAL;
        }
}
