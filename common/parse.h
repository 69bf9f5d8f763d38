/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* Checked number parsers: the whole string must be consumed, no sign where none is allowed, no overflow.
 * Each returns 0 and writes *ret on success, -EINVAL on malformed input, -ERANGE on overflow.
 * Pure; any thread. */

int brig_parse_u64(const char *s, uint64_t *ret);
int brig_parse_int(const char *s, int *ret);

/* "4096", "64K", "512M", "2G", "1T" (binary multiples; an optional trailing "B"/"iB" is accepted). */
int brig_parse_size(const char *s, uint64_t *ret_bytes);

/* "250ms", "30s", "5m", "1h", "7d"; a bare number is rejected so that units are never guessed. */
int brig_parse_duration_ms(const char *s, uint64_t *ret_ms);
