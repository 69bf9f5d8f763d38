/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cleanup.h"
#include "error.h"

/* Typed access to cJSON members with errors that name the JSON path ("arguments.timeout_ms: expected ...").
 * `path` is the path of obj itself ("" for the document root). Absent optional members leave *ret untouched
 * and return 0; present members of the wrong type are BRIG_KIND_INVALID_ARGUMENT errors. Pure; any thread.
 */

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);
#define _cleanup_json_ _cleanup_(cJSON_Deletep)

/* "object", "array", "string", "number", "boolean", "null". */
const char *brig_json_type_name(const cJSON *item);

/* A tool's arguments: none at all are {} (*ret_empty then holds it, for the caller to free); anything else
 * must be an object ("arguments: expected an object, got ..."). */
int brig_json_tool_arguments(const cJSON **args, cJSON **ret_empty, brig_error *err);

/* Parses exactly one JSON value from data[0..len) (trailing whitespace allowed). On error the message gives
 * the byte offset: -EINVAL for a syntax error, -EILSEQ for text that is not UTF-8 (or holds a NUL byte), and
 * -EOPNOTSUPP for well-formed JSON with a \u0000 in a string (cJSON would cut the string there). */
int brig_json_parse(const char *data, size_t len, cJSON **ret, brig_error *err);

/* Fails on the first member of obj whose name is not in the NULL-terminated allowed list. */
int brig_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed, brig_error *err);

int brig_json_get_string(const cJSON *obj, const char *path, const char *key, bool required,
                         const char **ret, brig_error *err);
int brig_json_get_bool(const cJSON *obj, const char *path, const char *key, bool *ret, brig_error *err);
/* An integral number within [0, max]. */
int brig_json_get_u64(const cJSON *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
                      brig_error *err);
/* An array of at most max_items strings, each at most max_len bytes and without NUL; returns a new
 * NULL-terminated vector (caller frees with brig_strv_free) and its length. */
int brig_json_get_strv(const cJSON *obj, const char *path, const char *key, size_t max_items, size_t max_len,
                       char ***ret, size_t *ret_n, brig_error *err);

/* cJSON_ParseWithLengthOpts(text, len, ret_end, false), telling what cJSON does not: when it returns NULL,
 * *ret_oom says whether an allocation failed (so the text may be fine) rather than the text being invalid.
 * cJSON allocates through hooks this module installs before main() (they count failures per thread). */
cJSON *brig_json_parse_raw(const char *text, size_t len, const char **ret_end, bool *ret_oom);

/* Member access that treats a missing object as empty. */
const cJSON *brig_json_member(const cJSON *obj, const char *key);

/* Adds item (taken; NULL, as from a failed allocation, is allowed) to obj under key. cJSON_AddItemToObject()
 * leaves the item with the caller when it cannot copy the key; this frees it then. Returns false on
 * allocation failure. */
bool brig_json_add(cJSON *obj, const char *key, cJSON *item);
