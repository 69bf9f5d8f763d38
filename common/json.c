/* SPDX-License-Identifier: MIT */
/* Typed, path-naming accessors over cJSON for request arguments and policy files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

/* cJSON returns NULL both for text that is not JSON and when an allocation fails. Its allocations go through
 * this hook, which counts the failures of each thread, so that a parser can tell the two apart. Installed
 * before main(), while no thread can be using cJSON. (cJSON then grows printed buffers without realloc.) */
static __thread unsigned long alloc_failures;

static void *json_malloc(size_t size) {
        void *p = malloc(size);
        if (!p)
                alloc_failures++;
        return p;
}

__attribute__((constructor)) static void json_hooks_install(void) {
        cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = free};
        cJSON_InitHooks(&hooks);
}

cJSON *brig_json_parse_raw(const char *text, size_t len, const char **ret_end, bool *ret_oom) {
        unsigned long before = alloc_failures;
        cJSON *root = cJSON_ParseWithLengthOpts(text, len, ret_end, false);

        *ret_oom = !root && alloc_failures != before;
        return root;
}

const char *brig_json_type_name(const cJSON *item) {
        if (!item)
                return "nothing";
        if (cJSON_IsObject(item))
                return "object";
        if (cJSON_IsArray(item))
                return "array";
        if (cJSON_IsString(item))
                return "string";
        if (cJSON_IsNumber(item))
                return "number";
        if (cJSON_IsBool(item))
                return "boolean";
        if (cJSON_IsNull(item))
                return "null";
        return "invalid";
}

int brig_json_tool_arguments(const cJSON **args, cJSON **ret_empty, brig_error *err) {
        if (!*args && !(*args = *ret_empty = cJSON_CreateObject()))
                return brig_error_oom(err);
        if (!cJSON_IsObject(*args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object, got %s", brig_json_type_name(*args));
        return 0;
}

/* Offset of a \u0000 escape inside a string of the JSON text, or -1. cJSON would end the C string there,
 * silently cutting a file's content or a path short. */
static ssize_t nul_escape(const char *data, size_t len) {
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                if (data[i] == '"')
                        in_string = !in_string;
                else if (in_string && data[i] == '\\' && i + 1 < len) {
                        if (data[i + 1] == 'u' && i + 5 < len && memcmp(data + i + 2, "0000", 4) == 0)
                                return (ssize_t) i;
                        i++; /* the escaped character, a quote included */
                }
        }
        return -1;
}

int brig_json_parse(const char *data, size_t len, cJSON **ret, brig_error *err) {
        const char *end = NULL;
        /* cJSON copies bytes into strings unchecked: what is not UTF-8 would travel on into results and the
         * audit log, which must stay valid JSON text. */
        size_t good = brig_utf8_valid_prefix(data, len);
        if (good < len && !data[good])
                return brig_error_set(err, -EILSEQ, BRIG_KIND_INVALID_ARGUMENT,
                                      "NUL byte at byte %zu: JSON text must not contain one", good);
        if (good < len)
                return brig_error_set(err, -EILSEQ, BRIG_KIND_INVALID_ARGUMENT,
                                      "invalid UTF-8 at byte %zu (0x%02x): JSON text must be UTF-8", good,
                                      (unsigned) (unsigned char) data[good]);
        ssize_t nul = nul_escape(data, len);
        if (nul >= 0)
                return brig_error_set(err, -EOPNOTSUPP, BRIG_KIND_INVALID_ARGUMENT,
                                      "\\u0000 in a string (byte %zd): NUL characters are not supported",
                                      nul);
        bool oom;
        cJSON *root = brig_json_parse_raw(data, len, &end, &oom);

        if (!root && oom)
                return brig_error_oom(err);
        if (!root) {
                const char *at = cJSON_GetErrorPtr();
                size_t off = at && at >= data && at <= data + len ? (size_t) (at - data) : 0;
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "invalid JSON near byte %zu",
                                      off);
        }
        for (; end && end < data + len; end++)
                if (!strchr(" \t\r\n", *end)) {
                        cJSON_Delete(root);
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "unexpected data after the JSON value at byte %zu",
                                              (size_t) (end - data));
                }
        *ret = root;
        return 0;
}

static const char *join(char *buf, size_t size, const char *path, const char *key) {
        (void) snprintf(buf, size, "%s%s%s", path, path[0] ? "." : "", key);
        return buf;
}

const cJSON *brig_json_member(const cJSON *obj, const char *key) {
        return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

int brig_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed, brig_error *err) {
        const cJSON *it;
        char p[256];

        cJSON_ArrayForEach (it, obj) {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (it->string && strcmp(it->string, *a) == 0) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s: unknown field",
                                              join(p, sizeof(p), path, it->string ? it->string : "?"));
        }
        return 0;
}

int brig_json_get_string(const cJSON *obj, const char *path, const char *key, bool required,
                         const char **ret, brig_error *err) {
        const cJSON *it = brig_json_member(obj, key);
        char p[256];

        if (!it) {
                if (required)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s: required",
                                              join(p, sizeof(p), path, key));
                return 0;
        }
        if (!cJSON_IsString(it))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: expected a string, got %s", join(p, sizeof(p), path, key),
                                      brig_json_type_name(it));
        *ret = it->valuestring;
        return 0;
}

int brig_json_get_bool(const cJSON *obj, const char *path, const char *key, bool *ret, brig_error *err) {
        const cJSON *it = brig_json_member(obj, key);
        char p[256];

        if (!it)
                return 0;
        if (!cJSON_IsBool(it))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: expected a boolean, got %s", join(p, sizeof(p), path, key),
                                      brig_json_type_name(it));
        *ret = cJSON_IsTrue(it);
        return 0;
}

int brig_json_get_u64(const cJSON *obj, const char *path, const char *key, uint64_t max, uint64_t *ret,
                      brig_error *err) {
        const cJSON *it = brig_json_member(obj, key);
        char p[256];

        if (!it)
                return 0;
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > (double) max ||
            floor(it->valuedouble) != it->valuedouble)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: expected an integer from 0 to %llu",
                                      join(p, sizeof(p), path, key), (unsigned long long) max);
        *ret = (uint64_t) it->valuedouble;
        return 0;
}

int brig_json_get_strv(const cJSON *obj, const char *path, const char *key, size_t max_items, size_t max_len,
                       char ***ret, size_t *ret_n, brig_error *err) {
        const cJSON *arr = brig_json_member(obj, key), *it;
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0, i = 0;
        char p[256];

        if (!arr)
                return 0;
        join(p, sizeof(p), path, key);
        if (!cJSON_IsArray(arr))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: expected an array, got %s", p, brig_json_type_name(arr));
        n = (size_t) cJSON_GetArraySize(arr);
        if (n > max_items)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "%s: more than %zu items", p, max_items);
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, arr) {
                if (!cJSON_IsString(it))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s[%zu]: expected a string, got %s", p, i,
                                              brig_json_type_name(it));
                if (strlen(it->valuestring) > max_len)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "%s[%zu]: longer than %zu bytes",
                                              p, i, max_len);
                v[i] = strdup(it->valuestring);
                if (!v[i])
                        return brig_error_oom(err);
                i++;
        }
        *ret_n = n;
        *ret = TAKE_PTR(v);
        return 0;
}

bool brig_json_add(cJSON *obj, const char *key, cJSON *item) {
        if (item && cJSON_AddItemToObject(obj, key, item))
                return true;
        cJSON_Delete(item);
        return false;
}
