/* SPDX-License-Identifier: MIT */
/* The policy parser's helpers: problems and warnings with JSON paths, typed getters that check bounds
 * (sizes, durations, integers, booleans, string lists), and the formats explain shows values in. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/parse.h"
#include "sandbox/policy_internal.h"

void brig__policy_diag_append(brig__policy_ctx *c, brig_policy_severity severity, const char *path,
                              const char *msg, unsigned line, unsigned column) {
        brig_policy_diag *items;

        if (!c->diags)
                return;
        items = reallocarray(c->diags->items, c->diags->n + 1, sizeof(*items));
        if (!items) {
                c->oom = true;
                return;
        }
        c->diags->items = items;
        items = &items[c->diags->n++];
        *items = (brig_policy_diag){.severity = severity, .line = line, .column = column};
        (void) snprintf(items->path, sizeof(items->path), "%s", path);
        (void) snprintf(items->msg, sizeof(items->msg), "%s", msg);
}

/* Records one problem: into diags (the first MAX_DIAGS of them) and, if it is the first, into err as
 * "PATH: MESSAGE". Returns -EINVAL so that helpers can `return brig__policy_problem(...)`. */
__attribute__((format(printf, 5, 6))) int brig__policy_problem_at(brig__policy_ctx *c, const char *path,
                                                                  unsigned line, unsigned column,
                                                                  const char *fmt, ...) {
        char msg[sizeof(((brig_policy_diag *) NULL)->msg)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (c->n_problems++ == 0)
                (void) brig_error_set(c->err, -EINVAL, BRIG_KIND_POLICY, "%s%s%s", path, path[0] ? ": " : "",
                                      msg);
        if (c->n_problems <= MAX_DIAGS)
                brig__policy_diag_append(c, BRIG_POLICY_ERROR, path, msg, line, column);
        else if (c->n_problems == MAX_DIAGS + 1)
                brig__policy_diag_append(c, BRIG_POLICY_ERROR, "",
                                         "too many problems, only the first 100 are listed", 0, 0);
        return -EINVAL;
}

int brig__policy_refused(const brig__policy_ctx *c) {
        assert(c->n_problems > 0);
        assert(!c->err || c->err->code == -EINVAL);
        return -EINVAL;
}

/* Records something ignored: into diags only (the first MAX_DIAGS of them); never fails the policy. */
void brig__policy_warning(brig__policy_ctx *c, const char *path, const char *msg) {
        if (c->n_warnings++ < MAX_DIAGS)
                brig__policy_diag_append(c, BRIG_POLICY_WARNING, path, msg, 0, 0);
}

bool brig__policy_is_plain_key(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9')))
                        return false;
        return true;
}

/* Formats file-controlled text for a message: quoted, escaped, cut after about 64 bytes of output. */
const char *brig__policy_quote(char buf[static QUOTEBUF], const char *s) {
        size_t n = 0;

        buf[n++] = '"';
        for (size_t i = 0; s[i]; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (n >= 64) {
                        memcpy(buf + n, "...", 3);
                        n += 3;
                        break;
                }
                if (ch == '"' || ch == '\\') {
                        buf[n++] = '\\';
                        buf[n++] = (char) ch;
                } else if (ch < 0x20 || ch >= 0x7f)
                        n += (size_t) snprintf(buf + n, QUOTEBUF - n, "\\x%02x", ch);
                else
                        buf[n++] = (char) ch;
        }
        buf[n++] = '"';
        buf[n] = 0;
        return buf;
}

/* "parent.key", or `parent["key"]` when key is not a plain identifier. */
const char *brig__policy_path_key(char buf[static PATHBUF], const char *parent, const char *key) {
        char q[QUOTEBUF];

        if (brig__policy_is_plain_key(key))
                (void) snprintf(buf, PATHBUF, "%s%s%s", parent, parent[0] ? "." : "", key);
        else
                (void) snprintf(buf, PATHBUF, "%s[%s]", parent, brig__policy_quote(q, key));
        return buf;
}

const char *brig__policy_path_index(char buf[static PATHBUF], const char *parent, size_t i) {
        (void) snprintf(buf, PATHBUF, "%s[%zu]", parent, i);
        return buf;
}

char *brig__policy_xstrdup(brig__policy_ctx *c, const char *s) {
        char *d = strdup(s);
        if (!d)
                c->oom = true;
        return d;
}

bool brig__policy_check_type(brig__policy_ctx *c, const char *path, const cJSON *it, bool ok,
                             const char *what) {
        if (!ok)
                (void) brig__policy_problem(c, path, "expected %s, got %s", what, brig_json_type_name(it));
        return ok;
}

/* Reports every member of obj not in allowed, and every allowed member given twice (cJSON keeps both
 * and would silently use the first, while another reader might use the last). */
void brig__policy_check_keys(brig__policy_ctx *c, const cJSON *obj, const char *path,
                             const char *const *allowed) {
        uint32_t seen = 0;
        const cJSON *it;
        char p[PATHBUF];

        cJSON_ArrayForEach (it, obj) {
                const char *key = it->string ? it->string : "";
                size_t i;

                for (i = 0; allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                break;
                assert(i < 32);
                if (!allowed[i])
                        (void) brig__policy_problem(c, brig__policy_path_key(p, path, key), "unknown field");
                else if (seen & (UINT32_C(1) << i))
                        (void) brig__policy_problem(c, brig__policy_path_key(p, path, key),
                                                    "duplicate field");
                seen |= UINT32_C(1) << i;
        }
}

/* Returns the number of items of an optional array member, or 0 after reporting a problem. */
size_t brig__policy_array_len(brig__policy_ctx *c, const cJSON *arr, const char *path, size_t max) {
        size_t n;

        if (!arr || !brig__policy_check_type(c, path, arr, cJSON_IsArray(arr), "an array"))
                return 0;
        n = (size_t) cJSON_GetArraySize(arr);
        if (n > max) {
                (void) brig__policy_problem(c, path, "more than %zu entries", max);
                return 0;
        }
        return n;
}

bool brig__policy_charset_ok(const char *s, const char *extra, size_t max) {
        size_t n = strlen(s);

        if (n < 1 || n > max)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr(extra, *s)))
                        return false;
        return true;
}

/* A size given as a string ("512M") or as an integer number of bytes, within [min, max]. */
bool brig__policy_get_size(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min,
                           uint64_t max, const char *range, uint64_t *ret) {
        char b[QUOTEBUF];
        uint64_t v;
        int r;

        if (cJSON_IsString(it)) {
                r = brig_parse_size(it->valuestring, &v);
                if (r == -EINVAL)
                        return brig__policy_problem(c, path, "expected a size like \"512M\", got %s",
                                                    brig__policy_quote(b, it->valuestring)) == 0;
                if (r < 0 || v < min || v > max)
                        return brig__policy_problem(c, path, "expected a size from %s, got %s", range,
                                                    brig__policy_quote(b, it->valuestring)) == 0;
        } else if (cJSON_IsNumber(it)) {
                double d = it->valuedouble;
                if (!(d >= 0 && d <= MAX_JSON_INT && d == (double) (uint64_t) d) || (uint64_t) d < min ||
                    (uint64_t) d > max)
                        return brig__policy_problem(c, path, "expected a size from %s, got %.16g", range,
                                                    d) == 0;
                v = (uint64_t) d;
        } else
                return brig__policy_problem(c, path, "expected a size like \"512M\", got %s",
                                            brig_json_type_name(it)) == 0;
        *ret = v;
        return true;
}

void brig__policy_get_duration(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min,
                               uint64_t max, const char *range, uint64_t *ret) {
        char b[QUOTEBUF];
        uint64_t v;
        int r;

        if (!cJSON_IsString(it)) {
                (void) brig__policy_problem(c, path, "expected a duration like \"30s\", got %s",
                                            brig_json_type_name(it));
                return;
        }
        r = brig_parse_duration_ms(it->valuestring, &v);
        if (r == -EINVAL)
                (void) brig__policy_problem(c, path, "expected a duration like \"30s\", got %s",
                                            brig__policy_quote(b, it->valuestring));
        else if (r < 0 || v < min || v > max)
                (void) brig__policy_problem(c, path, "expected a duration from %s, got %s", range,
                                            brig__policy_quote(b, it->valuestring));
        else
                *ret = v;
}

void brig__policy_get_int(brig__policy_ctx *c, const char *path, const cJSON *it, uint64_t min, uint64_t max,
                          uint64_t *ret) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1;

        if (!(d >= (double) min && d <= (double) max && d == (double) (uint64_t) d))
                (void) brig__policy_problem(c, path, "expected an integer from %llu to %llu",
                                            (unsigned long long) min, (unsigned long long) max);
        else
                *ret = (uint64_t) d;
}

/* A list of distinct strings, each accepted by ok() (which reports its own problem). */
char **brig__policy_get_strv(brig__policy_ctx *c, const cJSON *arr, const char *path, size_t max,
                             bool (*ok)(brig__policy_ctx *c, const char *path, const char *s)) {
        size_t n = brig__policy_array_len(c, arr, path, max), k = 0;
        char p[PATHBUF], b[QUOTEBUF];
        char **v = calloc(n + 1, sizeof(char *));
        const cJSON *it;

        if (!v) {
                c->oom = true;
                return NULL;
        }
        it = arr && n ? arr->child : NULL;
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                bool dup = false;
                brig__policy_path_index(p, path, i);
                if (!brig__policy_check_type(c, p, it, cJSON_IsString(it), "a string") ||
                    !ok(c, p, it->valuestring))
                        continue;
                for (size_t j = 0; j < k; j++)
                        dup = dup || strcmp(v[j], it->valuestring) == 0;
                if (dup)
                        (void) brig__policy_problem(c, p, "%s is listed twice",
                                                    brig__policy_quote(b, it->valuestring));
                else if ((v[k] = brig__policy_xstrdup(c, it->valuestring)))
                        k++;
        }
        return v;
}

void brig__policy_get_bool(brig__policy_ctx *c, const char *path, const cJSON *it, bool *ret) {
        if (it && brig__policy_check_type(c, path, it, cJSON_IsBool(it), "true or false"))
                *ret = cJSON_IsTrue(it);
}

/* The one table of "filesystem.workspace_quota.enforce" names: the parser, brig env info and brig policy
 * explain read it. */
static const char *const quota_enforce_names[_BRIG_QUOTA_ENFORCE_MAX] = {
        [BRIG_QUOTA_AUTO] = "auto",
        [BRIG_QUOTA_HARD] = "hard",
        [BRIG_QUOTA_SOFT] = "soft",
};

const char *brig_quota_enforce_name(brig_quota_enforce e) {
        return e >= 0 && e < _BRIG_QUOTA_ENFORCE_MAX ? quota_enforce_names[e] : NULL;
}

brig_quota_enforce brig_quota_enforce_from_name(const char *s) {
        for (int i = 0; s && i < _BRIG_QUOTA_ENFORCE_MAX; i++)
                if (strcmp(s, quota_enforce_names[i]) == 0)
                        return (brig_quota_enforce) i;
        return _BRIG_QUOTA_ENFORCE_INVALID;
}

char *brig__policy_show(const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* The largest unit that divides it exactly, as get_size reads it back: "1G", "64M"; else bytes. */
char *brig__policy_show_size(uint64_t v) {
        static const char units[] = "TGMK";
        for (int i = 0; i < 4; i++) {
                uint64_t u = UINT64_C(1) << (10 * (4 - i));
                if (v >= u && v % u == 0)
                        return brig__policy_show("\"%llu%c\"", (unsigned long long) (v / u), units[i]);
        }
        return brig__policy_show("%llu", (unsigned long long) v);
}

char *brig__policy_show_duration(uint64_t ms) {
        static const struct {
                uint64_t ms;
                const char *unit;
        } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (ms >= units[i].ms && ms % units[i].ms == 0)
                        return brig__policy_show("\"%llu%s\"", (unsigned long long) (ms / units[i].ms),
                                                 units[i].unit);
        return brig__policy_show("\"%llums\"", (unsigned long long) ms);
}

char *brig__policy_show_string(const char *s) {
        _cleanup_json_ cJSON *j = cJSON_CreateString(s);
        return j ? cJSON_PrintUnformatted(j) : NULL;
}

char *brig__policy_show_bool(bool b) {
        return strdup(b ? "true" : "false");
}
