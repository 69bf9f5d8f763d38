/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/text.h"

/* JSON printed exactly as cJSON_PrintUnformatted() prints it, without its per-number printf and scanf
 * round trip: every audit record and every response carries a few numbers, all of them integers. Pure; any
 * thread. */

/* Room for any number brig_json_print_number() writes, its NUL included. */
#define BRIG_JSON_NUMBER_SIZE 32

/* Writes the number item as cJSON prints it, NUL-terminated, to buf; returns its length, or -ENOMEM. */
int brig_json_print_number(const cJSON *item, char buf[static BRIG_JSON_NUMBER_SIZE]);

/* Appends the string s[0..len) quoted and escaped (NULL: ""), to out, a buffer without a ->max. 0 or
 * -ENOMEM. */
int brig_json_print_string(brig_buf *out, const char *s, size_t len);

/* Appends item (not its siblings) unformatted to out, a buffer without a ->max. Returns 0, -ENOMEM, or
 * -EINVAL for what cJSON cannot print either (a raw item without text, an invalid item). */
int brig_json_print_append(const cJSON *item, brig_buf *out);
