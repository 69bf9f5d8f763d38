/* SPDX-License-Identifier: MIT */
/* Checked parsers for numbers, sizes and durations found in policies, options and requests. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

/* Parses leading decimal digits; *ret_end points past them. */
static int parse_digits(const char *s, uint64_t *ret, const char **ret_end) {
        uint64_t v = 0;
        const char *p = s;

        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        *ret_end = p;
        return 0;
}

int brig_parse_int(const char *s, int *ret) {
        bool neg = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                neg = true;
                s++;
        }
        r = brig_parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > (uint64_t) INT_MAX + (neg ? 1 : 0))
                return -ERANGE;
        *ret = neg ? (int) -(int64_t) v : (int) v;
        return 0;
}

typedef struct unit {
        const char *suffix;
        uint64_t mult;
} unit;

/* A number followed by one of the units' suffixes (an empty suffix: a bare number), scaled by its multiple.
 */
static int parse_scaled(const char *s, const unit *units, size_t n_units, bool ignore_case, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_units; i++) {
                if ((ignore_case ? strcasecmp : strcmp)(end, units[i].suffix) != 0)
                        continue;
                if (units[i].mult && v > UINT64_MAX / units[i].mult)
                        return -ERANGE;
                *ret = v * units[i].mult;
                return 0;
        }
        return -EINVAL;
}

int brig_parse_u64(const char *s, uint64_t *ret) {
        static const unit bare[] = {{"", 1}};

        return parse_scaled(s, bare, 1, false, ret);
}

int brig_parse_size(const char *s, uint64_t *ret_bytes) {
        static const unit units[] = {
                {"", 1},
                {"B", 1},
                {"K", 1ULL << 10},
                {"KB", 1ULL << 10},
                {"KiB", 1ULL << 10},
                {"M", 1ULL << 20},
                {"MB", 1ULL << 20},
                {"MiB", 1ULL << 20},
                {"G", 1ULL << 30},
                {"GB", 1ULL << 30},
                {"GiB", 1ULL << 30},
                {"T", 1ULL << 40},
                {"TB", 1ULL << 40},
                {"TiB", 1ULL << 40},
        };

        return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), true, ret_bytes);
}

int brig_parse_duration_ms(const char *s, uint64_t *ret_ms) {
        static const unit units[] = {
                {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {"d", 24 * 60 * 60 * 1000},
        };

        return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), false, ret_ms);
}
