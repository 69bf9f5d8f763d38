/* SPDX-License-Identifier: MIT */
/* Policy files: turns the JSON format of docs/policy.md into a validated brig_policy. Owns every field's
 * default and bounds, and reports every problem it finds with its JSON path. Applying a policy is the
 * plan's job, not this module's. */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/json.h"
#include "common/json_locate.h"
#include "common/parse.h"
#include "common/text.h"
#include "sandbox/caps.h"
#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "sandbox/policy_merge.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define MAX_NET_RULES 1024
#define TIB (UINT64_C(1) << 40)

#define POLICY_MAX_BYTES (1024 * 1024) /* documented in docs/policy.md, as are the bounds below */
#define MAX_PATH_BYTES 4095
#define MAX_NAME_BYTES 64
#define MAX_DESCRIPTION_BYTES 1024
#define MAX_BINDS 256 /* per list */
#define MAX_TMPFS 64
#define MAX_ENV 256
#define MAX_ENV_NAME_BYTES 255
#define MAX_ENV_VALUE_BYTES (32 * 1024)
#define MAX_DENY 512
#define MAX_SYSCALL_NAME_BYTES 64
#define MAX_DIAGS 100
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact doubles */

#define PATHBUF 128 /* == sizeof(brig_policy_diag.path); longer paths are cut */
#define QUOTEBUF 80

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_policy *, brig_policy_free);

typedef struct ctx {
        brig_policy_diags *diags; /* borrowed from the caller, may be NULL */
        brig_error *err;          /* borrowed from the caller, may be NULL */
        const char *origin;       /* borrowed from the caller: a path or "<inline>", may be NULL */
        size_t n_problems;
        size_t n_warnings;
        bool oom;
} ctx;

static const char *const reserved_dests[] = {"/proc",      "/dev",       "/etc/passwd",
                                             "/etc/group", "/etc/hosts", "/etc/hostname"};

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        {"EPERM", EPERM},
        {"EACCES", EACCES},
        {"ENOSYS", ENOSYS},
        {"EINVAL", EINVAL},
};

static void diag_append(ctx *c, brig_policy_severity severity, const char *path, const char *msg,
                        unsigned line, unsigned column) {
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
 * "PATH: MESSAGE". Returns -EINVAL so that helpers can `return problem(...)`. */
__attribute__((format(printf, 5, 6))) static int problem_at(ctx *c, const char *path, unsigned line,
                                                            unsigned column, const char *fmt, ...) {
        char msg[sizeof(((brig_policy_diag *) NULL)->msg)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (c->n_problems++ == 0)
                (void) brig_error_set(c->err, -EINVAL, BRIG_KIND_POLICY, "%s%s%s", path, path[0] ? ": " : "",
                                      msg);
        if (c->n_problems <= MAX_DIAGS)
                diag_append(c, BRIG_POLICY_ERROR, path, msg, line, column);
        else if (c->n_problems == MAX_DIAGS + 1)
                diag_append(c, BRIG_POLICY_ERROR, "", "too many problems, only the first 100 are listed", 0,
                            0);
        return -EINVAL;
}

/* Records something ignored: into diags only (the first MAX_DIAGS of them); never fails the policy. */
static void warning(ctx *c, const char *path, const char *msg) {
        if (c->n_warnings++ < MAX_DIAGS)
                diag_append(c, BRIG_POLICY_WARNING, path, msg, 0, 0);
}

#define problem(c, path, ...) problem_at(c, path, 0, 0, __VA_ARGS__)

/* A problem with the file as a whole (size, I/O): err gets code and kind as given. */
__attribute__((format(printf, 5, 6))) static int file_problem(ctx *c, int code, brig_kind kind, int errnum,
                                                              const char *fmt, ...) {
        char msg[sizeof(((brig_policy_diag *) NULL)->msg)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (errnum) {
                size_t n = strlen(msg);
                (void) snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
        }
        c->n_problems++;
        diag_append(c, BRIG_POLICY_ERROR, "", msg, 0, 0);
        return brig_error_set(c->err, code, kind, "%s", msg);
}

static bool is_plain_key(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9')))
                        return false;
        return true;
}

/* Formats file-controlled text for a message: quoted, escaped, cut after about 64 bytes of output. */
static const char *quote(char buf[static QUOTEBUF], const char *s) {
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
static const char *path_key(char buf[static PATHBUF], const char *parent, const char *key) {
        char q[QUOTEBUF];

        if (is_plain_key(key))
                (void) snprintf(buf, PATHBUF, "%s%s%s", parent, parent[0] ? "." : "", key);
        else
                (void) snprintf(buf, PATHBUF, "%s[%s]", parent, quote(q, key));
        return buf;
}

static const char *path_index(char buf[static PATHBUF], const char *parent, size_t i) {
        (void) snprintf(buf, PATHBUF, "%s[%zu]", parent, i);
        return buf;
}

static char *xstrdup(ctx *c, const char *s) {
        char *d = strdup(s);
        if (!d)
                c->oom = true;
        return d;
}

static bool check_type(ctx *c, const char *path, const cJSON *it, bool ok, const char *what) {
        if (!ok)
                (void) problem(c, path, "expected %s, got %s", what, brig_json_type_name(it));
        return ok;
}

/* Reports every member of obj not in allowed, and every allowed member given twice (cJSON keeps both
 * and would silently use the first, while another reader might use the last). */
static void check_keys(ctx *c, const cJSON *obj, const char *path, const char *const *allowed) {
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
                        (void) problem(c, path_key(p, path, key), "unknown field");
                else if (seen & (UINT32_C(1) << i))
                        (void) problem(c, path_key(p, path, key), "duplicate field");
                seen |= UINT32_C(1) << i;
        }
}

/* Returns the number of items of an optional array member, or 0 after reporting a problem. */
static size_t array_len(ctx *c, const cJSON *arr, const char *path, size_t max) {
        size_t n;

        if (!arr || !check_type(c, path, arr, cJSON_IsArray(arr), "an array"))
                return 0;
        n = (size_t) cJSON_GetArraySize(arr);
        if (n > max) {
                (void) problem(c, path, "more than %zu entries", max);
                return 0;
        }
        return n;
}

static bool charset_ok(const char *s, const char *extra, size_t max) {
        size_t n = strlen(s);

        if (n < 1 || n > max)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr(extra, *s)))
                        return false;
        return true;
}

static bool name_ok(const char *s) {
        return charset_ok(s, "._-", MAX_NAME_BYTES) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Checks that it is an absolute, normalized path string; returns it (borrowed from the JSON) or NULL. */
static const char *get_path(ctx *c, const char *path, const cJSON *it) {
        const char *s, *q;
        char b[QUOTEBUF];

        if (!check_type(c, path, it, cJSON_IsString(it), "a path string"))
                return NULL;
        s = it->valuestring;
        if (s[0] != '/') {
                (void) problem(c, path, "must be an absolute path, got %s", quote(b, s));
                return NULL;
        }
        if (strlen(s) > MAX_PATH_BYTES) {
                (void) problem(c, path, "longer than %d bytes", MAX_PATH_BYTES);
                return NULL;
        }
        for (q = s; *q; q++)
                if ((unsigned char) *q < 0x20 || *q == 0x7f) {
                        (void) problem(c, path, "must not contain control characters, got %s", quote(b, s));
                        return NULL;
                }
        if (strcmp(s, "/") == 0)
                return s;
        for (q = s; *q == '/';) {
                const char *e = strchrnul(++q, '/');
                size_t n = (size_t) (e - q);
                if (n == 0 || (n == 1 && q[0] == '.') || (n == 2 && q[0] == '.' && q[1] == '.')) {
                        (void) problem(
                                c, path,
                                "must be normalized (no \"//\", \".\" or \"..\" and no trailing \"/\"), "
                                "got %s",
                                quote(b, s));
                        return NULL;
                }
                q = e;
        }
        return s;
}

/* A jail path brig may mount over: not "/" and not one of the paths brig mounts or generates itself. */
static bool dest_ok(ctx *c, const char *path, const char *dest) {
        char b[QUOTEBUF];

        if (strcmp(dest, "/") == 0)
                return problem(c, path, "cannot mount over \"/\"") == 0;
        /* A mount on /etc itself would hide the passwd, group and hosts files brig generates there. */
        if (strcmp(dest, "/etc") == 0)
                return problem(c, path,
                               "cannot mount over \"/etc\": bind the files below it that the jail "
                               "needs instead") == 0;
        for (size_t i = 0; i < ELEMENTSOF(reserved_dests); i++) {
                size_t n = strlen(reserved_dests[i]);
                /* Below /proc and /dev too: brig mounts fresh ones there, and host devices stay out. */
                if (strncmp(dest, reserved_dests[i], n) == 0 && (dest[n] == 0 || (dest[n] == '/' && i < 2)))
                        return problem(c, path, "%s is reserved: brig mounts or generates it",
                                       quote(b, dest)) == 0;
        }
        return true;
}

/* "/usr" (source == dest, required) or {"source": ..., "dest": ..., "optional": ...}. */
static void parse_bind(ctx *c, const cJSON *it, const char *path, bool read_only, brig_bind *b) {
        static const char *const keys[] = {"source", "dest", "optional", NULL};
        const char *source = NULL, *dest = NULL, *dest_path = path;
        char ps[PATHBUF], pd[PATHBUF], po[PATHBUF];

        b->read_only = read_only;
        if (cJSON_IsString(it))
                source = dest = get_path(c, path, it);
        else if (cJSON_IsObject(it)) {
                const cJSON *s = brig_json_member(it, "source"), *d = brig_json_member(it, "dest"),
                            *o = brig_json_member(it, "optional");

                check_keys(c, it, path, keys);
                if (!s)
                        (void) problem(c, path_key(ps, path, "source"), "required");
                else
                        source = get_path(c, path_key(ps, path, "source"), s);
                dest_path = d ? path_key(pd, path, "dest") : path_key(pd, path, "source");
                dest = d ? get_path(c, dest_path, d) : source;
                if (o && check_type(c, path_key(po, path, "optional"), o, cJSON_IsBool(o), "a boolean"))
                        b->optional = cJSON_IsTrue(o);
        } else {
                (void) problem(c, path, "expected a path string or an object, got %s",
                               brig_json_type_name(it));
                return;
        }
        if (!source || !dest || !dest_ok(c, dest_path, dest))
                return;
        b->source = xstrdup(c, source);
        b->dest = xstrdup(c, dest);
}

/* A size given as a string ("512M") or as an integer number of bytes, within [min, max]. */
static bool get_size(ctx *c, const char *path, const cJSON *it, uint64_t min, uint64_t max,
                     const char *range, uint64_t *ret) {
        char b[QUOTEBUF];
        uint64_t v;
        int r;

        if (cJSON_IsString(it)) {
                r = brig_parse_size(it->valuestring, &v);
                if (r == -EINVAL)
                        return problem(c, path, "expected a size like \"512M\", got %s",
                                       quote(b, it->valuestring)) == 0;
                if (r < 0 || v < min || v > max)
                        return problem(c, path, "expected a size from %s, got %s", range,
                                       quote(b, it->valuestring)) == 0;
        } else if (cJSON_IsNumber(it)) {
                double d = it->valuedouble;
                if (!(d >= 0 && d <= MAX_JSON_INT && d == (double) (uint64_t) d) || (uint64_t) d < min ||
                    (uint64_t) d > max)
                        return problem(c, path, "expected a size from %s, got %.16g", range, d) == 0;
                v = (uint64_t) d;
        } else
                return problem(c, path, "expected a size like \"512M\", got %s", brig_json_type_name(it)) ==
                       0;
        *ret = v;
        return true;
}

static void get_duration(ctx *c, const char *path, const cJSON *it, uint64_t min, uint64_t max,
                         const char *range, uint64_t *ret) {
        char b[QUOTEBUF];
        uint64_t v;
        int r;

        if (!cJSON_IsString(it)) {
                (void) problem(c, path, "expected a duration like \"30s\", got %s", brig_json_type_name(it));
                return;
        }
        r = brig_parse_duration_ms(it->valuestring, &v);
        if (r == -EINVAL)
                (void) problem(c, path, "expected a duration like \"30s\", got %s",
                               quote(b, it->valuestring));
        else if (r < 0 || v < min || v > max)
                (void) problem(c, path, "expected a duration from %s, got %s", range,
                               quote(b, it->valuestring));
        else
                *ret = v;
}

static void get_int(ctx *c, const char *path, const cJSON *it, uint64_t min, uint64_t max, uint64_t *ret) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1;

        if (!(d >= (double) min && d <= (double) max && d == (double) (uint64_t) d))
                (void) problem(c, path, "expected an integer from %llu to %llu", (unsigned long long) min,
                               (unsigned long long) max);
        else
                *ret = (uint64_t) d;
}

static void parse_tmpfs(ctx *c, const cJSON *it, const char *path, brig_tmpfs *t) {
        static const char *const keys[] = {"path", "size", "mode", NULL};
        const cJSON *pa, *sz, *mo;
        const char *dest = NULL;
        char p[PATHBUF], b[QUOTEBUF];

        t->size_bytes = 64 * MIB;
        t->mode = 01777;
        if (!check_type(c, path, it, cJSON_IsObject(it), "an object"))
                return;
        check_keys(c, it, path, keys);
        pa = brig_json_member(it, "path");
        sz = brig_json_member(it, "size");
        mo = brig_json_member(it, "mode");
        if (!pa)
                (void) problem(c, path_key(p, path, "path"), "required");
        else if ((dest = get_path(c, path_key(p, path, "path"), pa)) && dest_ok(c, p, dest))
                t->dest = xstrdup(c, dest);
        /* size=0 would mean "unlimited" to the kernel: the minimum is one byte (rounded up to a page). */
        if (sz)
                (void) get_size(c, path_key(p, path, "size"), sz, 1, 64 * GIB, "1 to 64G", &t->size_bytes);
        if (mo) {
                const char *s = cJSON_IsString(mo) ? mo->valuestring : NULL;
                size_t n = s ? strlen(s) : 0;
                bool ok = n >= 1 && n <= 5 && strspn(s, "01234567") == n;
                unsigned v = 0;

                for (size_t i = 0; ok && i < n; i++)
                        v = v * 8 + (unsigned) (s[i] - '0');
                if (!ok || v > 07777)
                        (void) problem(c, path_key(p, path, "mode"),
                                       "expected an octal mode string from \"0\" to \"7777\", got %s",
                                       s ? quote(b, s) : brig_json_type_name(mo));
                else
                        t->mode = v;
        }
}

/* The k-th mount point: binds, then tmpfs mounts, then the workspace; label, if given, names it. */
static const char *mount_point(const brig_policy *p, size_t n_ro, size_t k, char *label) {
        if (k < p->n_binds) {
                if (label)
                        (void) (k < n_ro ? path_index(label, "filesystem.read_only", k)
                                         : path_index(label, "filesystem.read_write", k - n_ro));
                return p->binds[k].dest;
        }
        k -= p->n_binds;
        if (k < p->n_tmpfs) {
                if (label)
                        (void) path_index(label, "filesystem.tmpfs", k);
                return p->tmpfs[k].dest;
        }
        if (label)
                (void) snprintf(label, PATHBUF, "filesystem.workspace");
        return p->workspace;
}

/* Each mount point at most once: a second mount would silently hide the first. */
static void check_mount_conflicts(ctx *c, const brig_policy *p, size_t n_ro) {
        size_t n = p->n_binds + p->n_tmpfs + 1;
        char la[PATHBUF], lb[PATHBUF], q[QUOTEBUF];

        for (size_t j = 1; j < n; j++) {
                const char *dj = mount_point(p, n_ro, j, NULL);
                for (size_t i = 0; dj && i < j; i++) {
                        const char *di = mount_point(p, n_ro, i, NULL);
                        if (di && strcmp(di, dj) == 0) {
                                (void) mount_point(p, n_ro, j, la);
                                (void) mount_point(p, n_ro, i, lb);
                                (void) problem(c, la, "%s is already mounted by %s", quote(q, dj), lb);
                                break;
                        }
                }
        }
}

/* "hidden": jail paths masked by an empty read-only mount. Each must not be, or contain, a mount point of
 * the policy: a mount below a hidden directory would have nowhere to go, and hiding a mount point is better
 * said by removing the mount. */
static void parse_hidden(ctx *c, const cJSON *arr, brig_policy *p, size_t n_ro) {
        size_t n = array_len(c, arr, "filesystem.hidden", MAX_BINDS), i = 0;
        const cJSON *it;
        char path[PATHBUF], label[PATHBUF], q[QUOTEBUF];

        p->hidden = calloc(n + 1, sizeof(char *));
        if (!p->hidden) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, (n ? arr : NULL)) {
                const char *h = get_path(c, path_index(path, "filesystem.hidden", i), it);
                i++;
                if (!h || !dest_ok(c, path, h))
                        continue;
                size_t hl = strlen(h);
                for (size_t k = 0; k < p->n_binds + p->n_tmpfs + 1; k++) {
                        const char *m = mount_point(p, n_ro, k, label);
                        if (m && strncmp(m, h, hl) == 0 && (m[hl] == 0 || m[hl] == '/')) {
                                (void) problem(c, path, "%s would hide %s, mounted by %s", quote(q, h), m,
                                               label);
                                break;
                        }
                }
                for (size_t k = 0; k < p->n_hidden; k++)
                        if (strcmp(p->hidden[k], h) == 0)
                                (void) problem(c, path, "%s is listed twice", quote(q, h));
                if (!(p->hidden[p->n_hidden] = xstrdup(c, h)))
                        return;
                p->n_hidden++;
        }
}

static void parse_filesystem(ctx *c, const cJSON *fs, brig_policy *p) {
        static const char *const keys[] = {"read_only", "read_write",      "tmpfs", "workspace",
                                           "hidden",    "workspace_quota", NULL};
        const cJSON *ro, *rw, *tm, *ws, *it;
        size_t n_ro, n_rw, n_tm, i;
        char path[PATHBUF];

        if (fs && !check_type(c, "filesystem", fs, cJSON_IsObject(fs), "an object"))
                fs = NULL;
        check_keys(c, fs, "filesystem", keys);
        ro = brig_json_member(fs, "read_only");
        rw = brig_json_member(fs, "read_write");
        tm = brig_json_member(fs, "tmpfs");
        ws = brig_json_member(fs, "workspace");

        n_ro = array_len(c, ro, "filesystem.read_only", MAX_BINDS);
        n_rw = array_len(c, rw, "filesystem.read_write", MAX_BINDS);
        /* One spare element keeps the arrays non-NULL, which spares every reader a NULL check. */
        p->binds = calloc(n_ro + n_rw + 1, sizeof(brig_bind));
        if (!p->binds) {
                c->oom = true;
                return;
        }
        p->n_binds = n_ro + n_rw;
        /* Index-bounded loops: an array that array_len() refused counts as empty. */
        it = ro ? ro->child : NULL;
        for (i = 0; it && i < n_ro; it = it->next, i++)
                parse_bind(c, it, path_index(path, "filesystem.read_only", i), true, &p->binds[i]);
        it = rw ? rw->child : NULL;
        for (i = 0; it && i < n_rw; it = it->next, i++)
                parse_bind(c, it, path_index(path, "filesystem.read_write", i), false, &p->binds[n_ro + i]);

        n_tm = array_len(c, tm, "filesystem.tmpfs", MAX_TMPFS);
        p->tmpfs = calloc(n_tm + 1, sizeof(brig_tmpfs));
        if (!p->tmpfs) {
                c->oom = true;
                return;
        }
        p->n_tmpfs = n_tm;
        it = tm ? tm->child : NULL;
        for (i = 0; it && i < n_tm; it = it->next, i++)
                parse_tmpfs(c, it, path_index(path, "filesystem.tmpfs", i), &p->tmpfs[i]);

        if (!ws)
                p->workspace = xstrdup(c, "/workspace");
        else {
                const char *w = get_path(c, "filesystem.workspace", ws);
                if (w && dest_ok(c, "filesystem.workspace", w))
                        p->workspace = xstrdup(c, w);
        }
        check_mount_conflicts(c, p, n_ro);
        parse_hidden(c, brig_json_member(fs, "hidden"), p, n_ro);
        if ((it = brig_json_member(fs, "workspace_quota")))
                (void) get_size(c, "filesystem.workspace_quota", it, 1 * MIB, 1024 * GIB, "1M to 1T",
                                &p->workspace_quota);
}

static void parse_limits(ctx *c, const cJSON *lim, brig_limits *l) {
        static const char *const keys[] = {"wall_time", "cpu_time", "memory", "processes", "open_files",
                                           "file_size", "output",   "cpus",   "cgroups",   NULL};
        const cJSON *it;

        *l = (brig_limits){
                .wall_time_ms = 60 * 1000,
                .cpu_time_ms = 60 * 1000,
                .memory_bytes = GIB,
                .processes = 256,
                .open_files = 1024,
                .file_size_bytes = GIB,
                .output_bytes = MIB,
                .cpus = 1.0,
                .cgroups = BRIG_CGROUP_AUTO,
        };
        if (lim && !check_type(c, "limits", lim, cJSON_IsObject(lim), "an object"))
                return;
        check_keys(c, lim, "limits", keys);
        if ((it = brig_json_member(lim, "wall_time")))
                get_duration(c, "limits.wall_time", it, 1, 24 * 3600 * 1000, "1ms to 24h", &l->wall_time_ms);
        if ((it = brig_json_member(lim, "cpu_time")))
                get_duration(c, "limits.cpu_time", it, 1000, 24 * 3600 * 1000, "1s to 24h", &l->cpu_time_ms);
        if ((it = brig_json_member(lim, "memory")))
                (void) get_size(c, "limits.memory", it, 4 * MIB, TIB, "4M to 1T", &l->memory_bytes);
        if ((it = brig_json_member(lim, "processes")))
                get_int(c, "limits.processes", it, 1, 65536, &l->processes);
        if ((it = brig_json_member(lim, "open_files")))
                get_int(c, "limits.open_files", it, 16, 1048576, &l->open_files);
        if ((it = brig_json_member(lim, "file_size")))
                (void) get_size(c, "limits.file_size", it, 1, TIB, "1 to 1T", &l->file_size_bytes);
        if ((it = brig_json_member(lim, "output")))
                (void) get_size(c, "limits.output", it, KIB, 256 * MIB, "1K to 256M", &l->output_bytes);
        if ((it = brig_json_member(lim, "cpus"))) {
                if (!cJSON_IsNumber(it) || it->valuedouble < 0.01 || it->valuedouble > 1024)
                        (void) problem(c, "limits.cpus", "expected a number of CPUs from 0.01 to 1024");
                else
                        l->cpus = it->valuedouble;
        }
        if ((it = brig_json_member(lim, "cgroups"))) {
                static const char *const names[] = {"auto", "required", "off"};
                bool ok = false;
                for (int i = 0; cJSON_IsString(it) && i < 3; i++)
                        if (strcmp(it->valuestring, names[i]) == 0) {
                                l->cgroups = (brig_cgroup_use) i;
                                ok = true;
                        }
                if (!ok)
                        (void) problem(c, "limits.cgroups", "expected \"auto\", \"required\" or \"off\"");
        }
}

static int env_cmp(const void *a, const void *b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
        int r = memcmp(x, y, nx < ny ? nx : ny);

        return r != 0 ? r : (nx > ny) - (nx < ny);
}

static bool env_name_ok(const char *s) {
        return charset_ok(s, "_", MAX_ENV_NAME_BYTES) && !(s[0] >= '0' && s[0] <= '9');
}

static void default_env(ctx *c, brig_policy *p) {
        /* HOME follows the workspace; the rest is already in sorted order. */
        const char *const rest[] = {"LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "TMPDIR=/tmp"};
        char *home = NULL;
        size_t k = 0;

        p->env = calloc(ELEMENTSOF(rest) + 2, sizeof(char *));
        if (!p->env || asprintf(&home, "HOME=%s", p->workspace ? p->workspace : "/workspace") < 0) {
                c->oom = true;
                return;
        }
        p->env[k++] = home;
        for (size_t i = 0; i < ELEMENTSOF(rest); i++)
                if ((p->env[k] = xstrdup(c, rest[i])))
                        k++;
        p->n_env = k;
}

/* NAME -> value pairs at `prefix` ("env", or "env.set"): the complete environment. */
static void parse_env_map(ctx *c, const cJSON *env, const char *prefix, brig_policy *p) {
        const cJSON *it;
        size_t n = 0, k = 0;
        char path[PATHBUF];

        if (!check_type(c, prefix, env, cJSON_IsObject(env), "an object"))
                return;
        cJSON_ArrayForEach (it, env)
                n++;
        if (n > MAX_ENV) {
                (void) problem(c, prefix, "more than %d variables", MAX_ENV);
                return;
        }
        p->env = calloc(n + 1, sizeof(char *));
        if (!p->env) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, env) {
                const char *name = it->string ? it->string : "";
                char *entry = NULL;
                bool dup = false;

                path_key(path, prefix, name);
                for (const cJSON *prev = env->child; prev != it; prev = prev->next)
                        if (prev->string && strcmp(prev->string, name) == 0)
                                dup = true;
                if (dup)
                        (void) problem(c, path, "duplicate field");
                else if (!env_name_ok(name))
                        (void) problem(c, path,
                                       "expected a name matching [A-Za-z_][A-Za-z0-9_]* of at most %d bytes",
                                       MAX_ENV_NAME_BYTES);
                else if (!check_type(c, path, it, cJSON_IsString(it), "a string"))
                        continue;
                else if (strlen(it->valuestring) > MAX_ENV_VALUE_BYTES)
                        (void) problem(c, path, "value longer than %d bytes", MAX_ENV_VALUE_BYTES);
                else if (asprintf(&entry, "%s=%s", name, it->valuestring) < 0) {
                        c->oom = true;
                        return;
                } else
                        p->env[k++] = entry;
        }
        p->n_env = k;
        qsort(p->env, k, sizeof(char *), env_cmp);
}

/* "env.pass": names (or NAME_PREFIX* patterns) whose values come from the environment of brigd or brig. */
static void parse_env_pass(ctx *c, const cJSON *arr, brig_policy *p) {
        size_t n = array_len(c, arr, "env.pass", MAX_ENV), i = 0;
        const cJSON *it;
        char path[PATHBUF], q[QUOTEBUF];

        p->env_pass = calloc(n + 1, sizeof(char *));
        if (!p->env_pass) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, (n ? arr : NULL)) {
                path_index(path, "env.pass", i++);
                if (!check_type(c, path, it, cJSON_IsString(it), "a string"))
                        continue;
                const char *s = it->valuestring;
                size_t len = strlen(s);
                char name[MAX_ENV_NAME_BYTES + 2];
                bool pattern = len > 1 && s[len - 1] == '*';
                if (len == 0 || len > MAX_ENV_NAME_BYTES + (pattern ? 1 : 0)) {
                        (void) problem(c, path, "expected a variable name or NAME_PREFIX*, got %s",
                                       quote(q, s));
                        continue;
                }
                memcpy(name, s, len - (pattern ? 1 : 0));
                name[len - (pattern ? 1 : 0)] = 0;
                if (!env_name_ok(name)) {
                        (void) problem(c, path, "expected a variable name or NAME_PREFIX*, got %s",
                                       quote(q, s));
                        continue;
                }
                if (!pattern && brig_policy_getenv(p, name))
                        (void) problem(c, path, "%s is also set by env.set; keep one", quote(q, s));
                for (size_t k = 0; k < p->n_env_pass; k++)
                        if (strcmp(p->env_pass[k], s) == 0)
                                (void) problem(c, path, "%s is listed twice", quote(q, s));
                if (!(p->env_pass[p->n_env_pass] = xstrdup(c, s)))
                        return;
                p->n_env_pass++;
        }
}

/* "env": a map of the complete environment, or {"set": map, "pass": [names]}. A map's values are strings,
 * so an object or array under "set" or "pass" can only mean the second form. */
static void parse_env(ctx *c, const cJSON *env, brig_policy *p) {
        static const char *const keys[] = {"set", "pass", NULL};
        const cJSON *set = brig_json_member(env, "set"), *pass = brig_json_member(env, "pass");

        if (cJSON_IsObject(env) && (cJSON_IsObject(set) || cJSON_IsArray(pass))) {
                check_keys(c, env, "env", keys);
                if (set)
                        parse_env_map(c, set, "env.set", p);
                else
                        default_env(c, p);
                parse_env_pass(c, pass, p);
                return;
        }
        if (!env)
                default_env(c, p);
        else
                parse_env_map(c, env, "env", p);
        if (!c->oom && !(p->env_pass = calloc(1, sizeof(char *))))
                c->oom = true;
}

static bool pass_matches(const brig_policy *p, const char *entry) {
        size_t nl = strcspn(entry, "=");

        for (size_t i = 0; i < p->n_env_pass; i++) {
                const char *pat = p->env_pass[i];
                size_t pl = strlen(pat);
                if (pat[pl - 1] == '*' ? nl >= pl - 1 && strncmp(entry, pat, pl - 1) == 0
                                       : nl == pl && strncmp(entry, pat, pl) == 0)
                        return true;
        }
        return false;
}

int brig_policy_env_pass(brig_policy *p, char *const *host_env) {
        size_t n = p->n_env, added = 0;

        if (p->n_env_pass == 0 || !host_env)
                return 0;
        for (char *const *e = host_env; *e; e++)
                n++;
        char **env = realloc(p->env, (n + 1) * sizeof(char *));
        if (!env)
                return -ENOMEM;
        p->env = env;
        for (char *const *e = host_env; *e && p->n_env < MAX_ENV; e++) {
                size_t nl = strcspn(*e, "=");
                char name[MAX_ENV_NAME_BYTES + 1];
                if ((*e)[nl] != '=' || nl == 0 || nl > MAX_ENV_NAME_BYTES ||
                    strlen(*e + nl + 1) > MAX_ENV_VALUE_BYTES || !pass_matches(p, *e))
                        continue;
                memcpy(name, *e, nl);
                name[nl] = 0;
                /* What the policy sets wins over what it passes, and a name is passed once. */
                if (!env_name_ok(name) || brig_policy_getenv(p, name))
                        continue;
                if (!(p->env[p->n_env] = strdup(*e)))
                        return -ENOMEM;
                p->env[++p->n_env] = NULL;
                added++;
        }
        qsort(p->env, p->n_env, sizeof(char *), env_cmp);
        return (int) added;
}

/* "seccomp.profile": a path (relative to the policy file's directory) or an inline profile object. The
 * profile module reports with full JSON paths; its errors become the policy's problems, its warnings the
 * policy's warnings. */
static void parse_profile(ctx *c, const cJSON *it, brig_policy *p) {
        brig_seccomp_profile_diags d = {0};
        brig_error e = BRIG_ERROR_INIT;
        _cleanup_free_ char *file = NULL;
        char b[QUOTEBUF];
        int r;

        if (cJSON_IsObject(it))
                r = brig_seccomp_profile_parse(it, "seccomp.profile", NULL, &p->seccomp_profile, &d, &e);
        else if (!check_type(c, "seccomp.profile", it, cJSON_IsString(it), "a path or a profile object"))
                return;
        else {
                const char *s = it->valuestring, *slash;

                if (!*s || strlen(s) > MAX_PATH_BYTES) {
                        (void) problem(c, "seccomp.profile", "expected a path of 1 to %d bytes",
                                       MAX_PATH_BYTES);
                        return;
                }
                slash = c->origin ? strrchr(c->origin, '/') : NULL;
                if (s[0] == '/')
                        file = strdup(s);
                else if (!c->origin || c->origin[0] == '<') {
                        (void) problem(c, "seccomp.profile",
                                       "relative path %s needs a policy file to resolve against",
                                       quote(b, s));
                        return;
                } else if (!slash)
                        file = strdup(s);
                else if (asprintf(&file, "%.*s/%s", (int) (slash - c->origin), c->origin, s) < 0)
                        file = NULL;
                if (!file) {
                        c->oom = true;
                        return;
                }
                r = brig_seccomp_profile_load(file, "seccomp.profile", NULL, &p->seccomp_profile, &d, &e);
        }
        if (r == -ENOMEM)
                c->oom = true;
        for (size_t i = 0; i < d.n; i++) {
                if (d.items[i].warning)
                        warning(c, d.items[i].path, d.items[i].msg);
                else
                        (void) problem(c, d.items[i].path, "%s", d.items[i].msg);
        }
        /* Without diags, an error still has its message in e. */
        if (r < 0 && r != -ENOMEM && d.n == 0)
                (void) problem(c, "seccomp.profile", "%s", e.msg);
        brig_seccomp_profile_diags_done(&d);
}

static void get_bool(ctx *c, const char *path, const cJSON *it, bool *ret);

/* "seccomp": {"deny": [NAME | {"name": NAME, "audit": BOOL}], "errno": ..., "audit": BOOL, "profile": ...}.
 * "audit" (default true) makes floor and deny denials go to the worker, which answers them and audits each
 * one; an entry's own "audit" overrides it for that syscall. */
static void parse_seccomp(ctx *c, const cJSON *sc, brig_policy *p) {
        static const char *const keys[] = {"deny", "errno", "profile", "audit", NULL};
        static const char *const entry_keys[] = {"name", "audit", NULL};
        const cJSON *deny, *en, *it;
        size_t n, i, k = 0;
        char path[PATHBUF], sub[PATHBUF], b[QUOTEBUF];

        p->seccomp_errno = EPERM;
        p->seccomp_audit = true;
        if (sc && !check_type(c, "seccomp", sc, cJSON_IsObject(sc), "an object"))
                sc = NULL;
        check_keys(c, sc, "seccomp", keys);
        deny = brig_json_member(sc, "deny");
        en = brig_json_member(sc, "errno");
        get_bool(c, "seccomp.audit", brig_json_member(sc, "audit"), &p->seccomp_audit);

        n = array_len(c, deny, "seccomp.deny", MAX_DENY);
        p->seccomp_deny = calloc(n + 1, sizeof(char *));
        p->seccomp_deny_audit = calloc(n + 1, sizeof(bool));
        if (!p->seccomp_deny || !p->seccomp_deny_audit) {
                c->oom = true;
                return;
        }
        it = deny ? deny->child : NULL;
        for (i = 0; it && i < n; it = it->next, i++) {
                const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
                bool dup = false, audit = p->seccomp_audit;

                path_index(path, "seccomp.deny", i);
                if (cJSON_IsObject(it)) {
                        const cJSON *name = brig_json_member(it, "name");
                        check_keys(c, it, path, entry_keys);
                        (void) path_key(sub, path, "name");
                        if (!name) {
                                (void) problem(c, sub, "is required");
                                continue;
                        }
                        if (!check_type(c, sub, name, cJSON_IsString(name), "a syscall name"))
                                continue;
                        s = name->valuestring;
                        (void) path_key(sub, path, "audit");
                        get_bool(c, sub, brig_json_member(it, "audit"), &audit);
                } else if (!check_type(c, path, it, s != NULL, "a syscall name"))
                        continue;
                for (size_t j = 0; j < k; j++)
                        if (strcmp(p->seccomp_deny[j], s) == 0)
                                dup = true;
                if (!charset_ok(s, "_", MAX_SYSCALL_NAME_BYTES) || strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                        (void) problem(c, path, "expected a syscall name like \"syslog\", got %s",
                                       quote(b, s));
                else if (dup)
                        (void) problem(c, path, "%s is listed twice", quote(b, s));
                /* Negative numbers are pseudo-syscalls: names that exist only on other architectures. */
                else if (seccomp_syscall_resolve_name(s) < 0)
                        (void) problem(c, path, "unknown syscall %s on this architecture", quote(b, s));
                else if ((p->seccomp_deny[k] = xstrdup(c, s)))
                        p->seccomp_deny_audit[k++] = audit;
        }
        p->n_seccomp_deny = k;

        if (en) {
                int v = -1;
                if (cJSON_IsString(en)) {
                        for (size_t j = 0; j < ELEMENTSOF(errno_names); j++)
                                if (strcmp(en->valuestring, errno_names[j].name) == 0)
                                        v = errno_names[j].value;
                } else if (cJSON_IsNumber(en) && en->valuedouble >= 1 && en->valuedouble <= 4095 &&
                           en->valuedouble == (double) (int) en->valuedouble)
                        v = (int) en->valuedouble;
                if (v < 0)
                        (void) problem(c, "seccomp.errno",
                                       "expected one of \"EPERM\", \"EACCES\", \"ENOSYS\", \"EINVAL\" or an "
                                       "integer from 1 to 4095");
                else
                        p->seccomp_errno = v;
        }

        if ((it = brig_json_member(sc, "profile")))
                parse_profile(c, it, p);
}

static char *default_name(ctx *c, const char *origin) {
        const char *base;
        size_t n;
        char *s;

        if (!origin || origin[0] == '<')
                return xstrdup(c, "inline");
        base = strrchr(origin, '/');
        base = base ? base + 1 : origin;
        n = strlen(base);
        if (n >= 5 && strcmp(base + n - 5, ".json") == 0)
                n -= 5;
        s = strndup(base, n);
        if (!s)
                c->oom = true;
        return s;
}

static void parse_environment(ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"idle_stop", "retention", NULL};
        const cJSON *it;

        p->idle_stop_ms = 60 * 60 * 1000ull;
        p->retention_ms = 30 * 24 * 60 * 60 * 1000ull;
        if (sec && !check_type(c, "environment", sec, cJSON_IsObject(sec), "an object"))
                return;
        check_keys(c, sec, "environment", keys);
        if ((it = brig_json_member(sec, "idle_stop")))
                get_duration(c, "environment.idle_stop", it, 1000, 365 * 24 * 3600 * 1000ull, "1s to 365d",
                             &p->idle_stop_ms);
        if ((it = brig_json_member(sec, "retention")))
                get_duration(c, "environment.retention", it, 1000, 10 * 365 * 24 * 3600 * 1000ull,
                             "1s to 3650d", &p->retention_ms);
        if (p->retention_ms < p->idle_stop_ms)
                (void) problem(c, "environment.retention", "must not be shorter than environment.idle_stop");
}

const char *const brig_tool_names[] = {
        "exec",         "process_list",   "process_output", "process_write",
        "process_kill", "repl",           "read_file",      "write_file",
        "edit_file",    "list_directory", "glob",           "grep",
        "stat",         "move",           "remove",         "make_directory",
        "snapshot",     "history",        "diff",           "restore",
        NULL,
};

bool brig_policy_allows_tool(const brig_policy *p, const char *name) {
        if (!p->tools_allow)
                return true;
        for (char **t = p->tools_allow; *t; t++)
                if (strcmp(*t, name) == 0)
                        return true;
        return false;
}

/* A list of distinct strings, each accepted by ok() (which reports its own problem). */
static char **get_strv(ctx *c, const cJSON *arr, const char *path, size_t max,
                       bool (*ok)(ctx *c, const char *path, const char *s)) {
        size_t n = array_len(c, arr, path, max), k = 0;
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
                path_index(p, path, i);
                if (!check_type(c, p, it, cJSON_IsString(it), "a string") || !ok(c, p, it->valuestring))
                        continue;
                for (size_t j = 0; j < k; j++)
                        dup = dup || strcmp(v[j], it->valuestring) == 0;
                if (dup)
                        (void) problem(c, p, "%s is listed twice", quote(b, it->valuestring));
                else if ((v[k] = xstrdup(c, it->valuestring)))
                        k++;
        }
        return v;
}

static bool tool_name_ok(ctx *c, const char *path, const char *s) {
        char b[QUOTEBUF];
        for (size_t i = 0; brig_tool_names[i]; i++)
                if (strcmp(brig_tool_names[i], s) == 0)
                        return true;
        (void) problem(c, path, "unknown tool %s", quote(b, s));
        return false;
}

static bool exclude_ok(ctx *c, const char *path, const char *s) {
        if (s[0] && strlen(s) <= 255 && !strpbrk(s, "\n\r") && strcmp(s, "!") != 0)
                return true;
        (void) problem(c, path, "expected a gitignore-style pattern of 1 to 255 bytes on one line");
        return false;
}

static void get_bool(ctx *c, const char *path, const cJSON *it, bool *ret) {
        if (it && check_type(c, path, it, cJSON_IsBool(it), "true or false"))
                *ret = cJSON_IsTrue(it);
}

static void parse_tools(ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"allow", "files", NULL};
        static const char *const file_keys[] = {"read_only",   "max_read", "max_write",
                                                "max_results", "fsync",    NULL};
        const cJSON *files, *it;

        p->files_max_read = 16 * MIB;
        p->files_max_write = 16 * MIB;
        p->files_max_results = 1000;
        p->files_fsync = true;
        if (sec && !check_type(c, "tools", sec, cJSON_IsObject(sec), "an object"))
                return;
        check_keys(c, sec, "tools", keys);
        if ((it = brig_json_member(sec, "allow")))
                p->tools_allow = get_strv(c, it, "tools.allow", 64, tool_name_ok);
        files = brig_json_member(sec, "files");
        if (files && !check_type(c, "tools.files", files, cJSON_IsObject(files), "an object"))
                return;
        check_keys(c, files, "tools.files", file_keys);
        get_bool(c, "tools.files.read_only", brig_json_member(files, "read_only"), &p->files_read_only);
        get_bool(c, "tools.files.fsync", brig_json_member(files, "fsync"), &p->files_fsync);
        if ((it = brig_json_member(files, "max_read")))
                (void) get_size(c, "tools.files.max_read", it, 1 * KIB, 1 * GIB, "1K to 1G",
                                &p->files_max_read);
        if ((it = brig_json_member(files, "max_write")))
                (void) get_size(c, "tools.files.max_write", it, 1 * KIB, 1 * GIB, "1K to 1G",
                                &p->files_max_write);
        if ((it = brig_json_member(files, "max_results")))
                get_int(c, "tools.files.max_results", it, 1, 100000, &p->files_max_results);
}

static void parse_history(ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"auto_snapshot", "exclude", "max_file_size", NULL};
        const cJSON *it;

        p->history_max_file_size = 10 * MIB;
        if (sec && !check_type(c, "history", sec, cJSON_IsObject(sec), "an object"))
                return;
        check_keys(c, sec, "history", keys);
        get_bool(c, "history.auto_snapshot", brig_json_member(sec, "auto_snapshot"),
                 &p->history_auto_snapshot);
        if ((it = brig_json_member(sec, "exclude")))
                p->history_exclude = get_strv(c, it, "history.exclude", 256, exclude_ok);
        if ((it = brig_json_member(sec, "max_file_size")))
                (void) get_size(c, "history.max_file_size", it, 1, 1 * GIB, "1 byte to 1G",
                                &p->history_max_file_size);
}

/* "audit": what the trail records beyond what it always records (refusals, environments, denials). */
static void parse_audit(ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"file_reads", "max_string", NULL};
        const cJSON *it;

        p->audit_file_reads = true;
        p->audit_max_string = 1024;
        if (sec && !check_type(c, "audit", sec, cJSON_IsObject(sec), "an object"))
                return;
        check_keys(c, sec, "audit", keys);
        get_bool(c, "audit.file_reads", brig_json_member(sec, "file_reads"), &p->audit_file_reads);
        if ((it = brig_json_member(sec, "max_string")))
                (void) get_size(c, "audit.max_string", it, 16, 64 * KIB, "16 bytes to 64K",
                                &p->audit_max_string);
}

static void parse_landlock(ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const names[_BRIG_LANDLOCK_USE_MAX] = {
                [BRIG_LANDLOCK_AUTO] = "auto",
                [BRIG_LANDLOCK_OFF] = "off",
                [BRIG_LANDLOCK_REQUIRED] = "required",
        };
        char b[QUOTEBUF];

        p->landlock = BRIG_LANDLOCK_AUTO;
        if (!it || !check_type(c, "landlock", it, cJSON_IsString(it), "\"auto\", \"off\" or \"required\""))
                return;
        for (int i = 0; i < _BRIG_LANDLOCK_USE_MAX; i++)
                if (strcmp(it->valuestring, names[i]) == 0) {
                        p->landlock = (brig_landlock_use) i;
                        return;
                }
        (void) problem(c, "landlock", "expected \"auto\", \"off\" or \"required\", got %s",
                       quote(b, it->valuestring));
}

static void parse_capabilities(ctx *c, const cJSON *arr, brig_policy *p) {
        size_t n = array_len(c, arr, "capabilities", BRIG_CAP_MAX);
        char path[PATHBUF], b[QUOTEBUF];
        const cJSON *it = arr && n ? arr->child : NULL;

        p->capabilities = 0;
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                const char *refused = NULL;
                path_index(path, "capabilities", i);
                if (!check_type(c, path, it, cJSON_IsString(it),
                                "a capability name like \"CAP_NET_BIND_SERVICE\""))
                        continue;
                int cap = brig_capability_lookup(it->valuestring, &refused);
                if (cap < 0)
                        (void) problem(c, path, "unknown capability %s", quote(b, it->valuestring));
                else if (refused)
                        (void) problem(c, path, "%s is never allowed: %s", brig_capability_name(cap),
                                       refused);
                else if (p->capabilities & (UINT64_C(1) << cap))
                        (void) problem(c, path, "%s is listed twice", brig_capability_name(cap));
                else
                        p->capabilities |= UINT64_C(1) << cap;
        }
}

static void parse_identity(ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"uid", "gid", NULL};
        const cJSON *it;
        uint64_t v;

        p->uid = 1000;
        p->gid = 1000;
        if (sec && !check_type(c, "identity", sec, cJSON_IsObject(sec), "an object"))
                return;
        check_keys(c, sec, "identity", keys);
        /* 0 is root's in the jail's /etc/passwd (and uid 0 regains the bounding set on execve); 65534 is
         * nobody, the overflow id unmapped owners show as. */
        if ((it = brig_json_member(sec, "uid"))) {
                v = p->uid;
                get_int(c, "identity.uid", it, 1, 65533, &v);
                p->uid = (uint32_t) v;
        }
        if ((it = brig_json_member(sec, "gid"))) {
                v = p->gid;
                get_int(c, "identity.gid", it, 1, 65533, &v);
                p->gid = (uint32_t) v;
        }
}

/* An array of allow or deny rules ("network.allow"). */
static brig_net_rule *parse_net_rules(ctx *c, const cJSON *arr, const char *path, size_t *ret_n) {
        size_t n = array_len(c, arr, path, MAX_NET_RULES), k = 0;
        brig_net_rule *rules = calloc(n + 1, sizeof(*rules));
        const cJSON *it = arr && n ? arr->child : NULL;
        char ipath[PATHBUF], why[128], q[QUOTEBUF];

        if (!rules) {
                c->oom = true;
                return NULL;
        }
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                path_index(ipath, path, i);
                if (!check_type(c, ipath, it, cJSON_IsString(it), "a host, *.domain or IP address"))
                        continue;
                if (!brig_net_rule_parse(it->valuestring, &rules[k], why, sizeof(why)))
                        (void) problem(c, ipath, "%s, got %s", why, quote(q, it->valuestring));
                else
                        k++;
        }
        *ret_n = k;
        return rules;
}

/* "network": "none", or {"mode": "proxy", "allow", "deny", "ports", "allow_private", ...}. */
static void parse_network(ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const keys[] = {"mode",      "allow",         "deny",
                                           "ports",     "allow_private", "max_connections",
                                           "max_bytes", "proxy_port",    NULL};
        const cJSON *mode, *arr, *x;
        char path[PATHBUF], why[128], q[QUOTEBUF];
        brig_net_policy *n;
        uint64_t v;

        p->network = BRIG_NETWORK_NONE;
        p->proxy_port = BRIG_NET_DEFAULT_PROXY_PORT;
        p->net_max_connections = 64;
        p->net_max_bytes = 1 * GIB;
        if (!it || (cJSON_IsString(it) && strcmp(it->valuestring, "none") == 0))
                return;
        if (cJSON_IsString(it)) {
                (void) problem(c, "network",
                               "expected \"none\" or an object with \"mode\": \"proxy\", got %s",
                               quote(q, it->valuestring));
                return;
        }
        if (!check_type(c, "network", it, cJSON_IsObject(it), "\"none\" or an object"))
                return;
        check_keys(c, it, "network", keys);
        mode = brig_json_member(it, "mode");
        if (!mode) {
                (void) problem(c, "network.mode", "required: \"proxy\" or \"none\"");
                return;
        }
        if (!check_type(c, "network.mode", mode, cJSON_IsString(mode), "\"proxy\" or \"none\""))
                return;
        if (strcmp(mode->valuestring, "none") == 0) {
                if (cJSON_GetArraySize(it) > 1)
                        (void) problem(c, "network", "with \"mode\": \"none\" no other field applies");
                return;
        }
        if (strcmp(mode->valuestring, "proxy") != 0) {
                (void) problem(c, "network.mode", "expected \"proxy\" or \"none\", got %s",
                               quote(q, mode->valuestring));
                return;
        }
        p->network = BRIG_NETWORK_PROXY;
        if (!(n = p->net = calloc(1, sizeof(*n)))) {
                c->oom = true;
                return;
        }
        n->allow = parse_net_rules(c, brig_json_member(it, "allow"), "network.allow", &n->n_allow);
        n->deny = parse_net_rules(c, brig_json_member(it, "deny"), "network.deny", &n->n_deny);

        arr = brig_json_member(it, "ports");
        size_t np = arr ? array_len(c, arr, "network.ports", 64) : 2;
        if (!(n->ports = calloc(np + 1, sizeof(uint16_t)))) {
                c->oom = true;
                return;
        }
        if (!arr) {
                n->ports[0] = 80;
                n->ports[1] = 443;
                n->n_ports = 2;
        }
        x = arr && np ? arr->child : NULL;
        for (size_t i = 0; x && i < np; x = x->next, i++) {
                v = 0;
                get_int(c, path_index(path, "network.ports", i), x, 1, 65535, &v);
                for (size_t k = 0; v && k < n->n_ports; k++)
                        if (n->ports[k] == v) {
                                (void) problem(c, path, "port %llu is listed twice", (unsigned long long) v);
                                v = 0;
                        }
                if (v)
                        n->ports[n->n_ports++] = (uint16_t) v;
        }

        arr = brig_json_member(it, "allow_private");
        size_t nc = array_len(c, arr, "network.allow_private", 256);
        if (!(n->allow_private = calloc(nc + 1, sizeof(brig_net_cidr)))) {
                c->oom = true;
                return;
        }
        x = arr && nc ? arr->child : NULL;
        for (size_t i = 0; x && i < nc; x = x->next, i++) {
                path_index(path, "network.allow_private", i);
                if (!check_type(c, path, x, cJSON_IsString(x), "an address or CIDR like \"10.0.0.0/8\""))
                        continue;
                if (!brig_net_cidr_parse(x->valuestring, &n->allow_private[n->n_allow_private], why,
                                         sizeof(why)))
                        (void) problem(c, path, "%s, got %s", why, quote(q, x->valuestring));
                else
                        n->n_allow_private++;
        }
        if ((x = brig_json_member(it, "max_connections"))) {
                v = p->net_max_connections;
                get_int(c, "network.max_connections", x, 1, 4096, &v);
                p->net_max_connections = (uint32_t) v;
        }
        if ((x = brig_json_member(it, "max_bytes")))
                (void) get_size(c, "network.max_bytes", x, 1 * KIB, 1024 * GIB, "1K to 1T",
                                &p->net_max_bytes);
        if ((x = brig_json_member(it, "proxy_port"))) {
                v = p->proxy_port;
                get_int(c, "network.proxy_port", x, 1024, 65535, &v);
                p->proxy_port = (uint16_t) v;
        }
}

static void parse_policy(ctx *c, const cJSON *root, const char *origin, brig_policy *p) {
        static const char *const keys[] = {
                "name",     "description",  "filesystem", "limits",      "env",   "seccomp",
                "network",  "hostname",     "extends",    "environment", "tools", "history",
                "landlock", "capabilities", "identity",   "audit",       NULL};
        const cJSON *it;
        char b[QUOTEBUF];

        if (!check_type(c, "", root, cJSON_IsObject(root), "an object"))
                return;
        check_keys(c, root, "", keys);

        it = brig_json_member(root, "name");
        if (!it) {
                if ((p->name = default_name(c, origin)) && !name_ok(p->name))
                        (void) problem(
                                c, "name",
                                "no \"name\" field, and the file name %s is not a valid name (1 to 64 "
                                "letters, digits, \".\", \"_\" or \"-\")",
                                quote(b, p->name));
        } else if (check_type(c, "name", it, cJSON_IsString(it), "a string")) {
                if (!name_ok(it->valuestring))
                        (void) problem(c, "name",
                                       "expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got %s",
                                       quote(b, it->valuestring));
                else
                        p->name = xstrdup(c, it->valuestring);
        }

        if ((it = brig_json_member(root, "description")) &&
            check_type(c, "description", it, cJSON_IsString(it), "a string")) {
                if (strlen(it->valuestring) > MAX_DESCRIPTION_BYTES)
                        (void) problem(c, "description", "longer than %d bytes", MAX_DESCRIPTION_BYTES);
                else
                        p->description = xstrdup(c, it->valuestring);
        }

        parse_filesystem(c, brig_json_member(root, "filesystem"), p);
        parse_limits(c, brig_json_member(root, "limits"), &p->limits);
        parse_env(c, brig_json_member(root, "env"), p);
        parse_seccomp(c, brig_json_member(root, "seccomp"), p);
        parse_environment(c, brig_json_member(root, "environment"), p);
        parse_tools(c, brig_json_member(root, "tools"), p);
        parse_history(c, brig_json_member(root, "history"), p);
        parse_audit(c, brig_json_member(root, "audit"), p);
        parse_landlock(c, brig_json_member(root, "landlock"), p);
        parse_capabilities(c, brig_json_member(root, "capabilities"), p);
        parse_identity(c, brig_json_member(root, "identity"), p);

        parse_network(c, brig_json_member(root, "network"), p);

        if (!(it = brig_json_member(root, "hostname")))
                p->hostname = xstrdup(c, "brig");
        else if (check_type(c, "hostname", it, cJSON_IsString(it), "a string")) {
                if (!charset_ok(it->valuestring, ".-", 64))
                        (void) problem(c, "hostname",
                                       "expected 1 to 64 letters, digits, \".\" or \"-\", got %s",
                                       quote(b, it->valuestring));
                else
                        p->hostname = xstrdup(c, it->valuestring);
        }
}

static int syntax_problem(ctx *c, const char *text, size_t off, const char *what) {
        unsigned line, column;

        brig_text_line_column(text, off, &line, &column);
        return problem_at(c, "", line, column, "%s at %u:%u", what, line, column);
}

/* Byte offset of the first "\u0000" escape, or len. cJSON decodes it into a NUL that silently cuts the
 * string short, so "/usr\u0000/../etc" would be read as "/usr". Valid JSON has backslashes only inside
 * strings, so pairs can be skipped without tracking quotes. */
static size_t find_nul_escape(const char *text, size_t len) {
        for (size_t i = 0; i + 1 < len; i++)
                if (text[i] == '\\') {
                        if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0)
                                return i;
                        i++;
                }
        return len;
}

/* Everything the policy was built from: the tree as parsed (formatting and comments of the file do not
 * matter), the origin (relative paths and the default name depend on it) and the profile's own digest. */
static int policy_digest(const cJSON *root, const char *origin, brig_policy *p) {
        _cleanup_free_ char *text = cJSON_PrintUnformatted(root);
        brig_sha256 *d = brig_sha256_new();

        if (!text) {
                (void) brig_sha256_finish(d, p->digest);
                return -ENOMEM;
        }
        brig_sha256_update(d, origin ? origin : "", strlen(origin ? origin : "") + 1);
        brig_sha256_update(d, text, strlen(text) + 1);
        if (p->seccomp_profile)
                brig_sha256_update(d, p->seccomp_profile->digest, strlen(p->seccomp_profile->digest));
        return brig_sha256_finish(d, p->digest);
}

/* A problem found while merging the "extends" chain (sandbox/policy_merge.c); one in a parent file names
 * that file, in its diagnostic and, if it is the first problem, in err. */
static void merge_problem_cb(const char *file, const char *path, unsigned line, unsigned column,
                             const char *msg, void *userdata) {
        ctx *c = userdata;
        size_t n = c->diags ? c->diags->n : 0;
        bool first = c->n_problems == 0;

        (void) problem_at(c, path, line, column, "%s", msg);
        if (!file)
                return;
        if (c->diags && c->diags->n > n)
                (void) snprintf(c->diags->items[n].file, sizeof(c->diags->items[n].file), "%s", file);
        if (first)
                (void) brig_error_set(c->err, -EINVAL, BRIG_KIND_POLICY, "%s: %s%s%s", file, path,
                                      path[0] ? ": " : "", msg);
}

int brig_policy_parse(const char *text, size_t len, const char *origin, brig_policy **ret,
                      brig_policy_diags *diags, brig_error *err) {
        _cleanup_(brig_policy_freep) brig_policy *p = NULL;
        _cleanup_json_ cJSON *root = NULL;
        _cleanup_(brig_policy_tree_done) brig_policy_tree tree = {0};
        ctx c = {.diags = diags, .err = err, .origin = origin};
        size_t first_diag = diags ? diags->n : 0;
        const char *end = NULL;
        size_t off;
        int r;

        assert(text || len == 0);
        assert(ret);

        if (len > POLICY_MAX_BYTES)
                return file_problem(&c, -EFBIG, BRIG_KIND_LIMIT, 0, "larger than the %d byte (1 MiB) limit",
                                    POLICY_MAX_BYTES);
        if (!text)
                text = "";
        if (!brig_utf8_valid(text, len))
                return problem(&c, "", "not valid UTF-8 text (or contains a NUL byte)");

        root = cJSON_ParseWithLengthOpts(text, len, &end, false);
        if (!root) {
                off = end && end >= text && end <= text + len ? (size_t) (end - text) : 0;
                return syntax_problem(&c, text, off, len == 0 ? "empty file" : "invalid JSON");
        }
        for (off = end ? (size_t) (end - text) : len; off < len; off++)
                if (!strchr(" \t\r\n", text[off]))
                        return syntax_problem(&c, text, off, "unexpected data after the JSON value");
        off = find_nul_escape(text, len);
        if (off < len)
                return syntax_problem(&c, text, off, "\"\\u0000\" is not allowed in strings");

        p = calloc(1, sizeof(*p));
        if (!p)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        /* Inheritance: the chain is merged into one document before validation, so every check applies to
         * the result; problems in values a parent set then name that parent. */
        if (cJSON_IsObject(root) && brig_json_member(root, "extends")) {
                r = brig_policy_merge(&root, origin, &tree, merge_problem_cb, &c);
                if (r == -ENOMEM)
                        return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
                if (r < 0)
                        return -EINVAL;
        }
        parse_policy(&c, tree.root ? tree.root : root, origin, p);
        for (size_t i = first_diag; diags && tree.files && i < diags->n; i++) {
                const char *file = diags->items[i].path[0]
                                           ? brig_policy_tree_file_at(&tree, diags->items[i].path)
                                           : NULL;
                if (file && file != tree.files[0])
                        (void) snprintf(diags->items[i].file, sizeof(diags->items[i].file), "%s", file);
        }
        /* Positions for the problems with a JSON path, where this file's text holds that path (a merged
         * document's paths need not match any one file's text). */
        for (size_t i = first_diag; diags && !tree.files && i < diags->n; i++) {
                brig_policy_diag *g = &diags->items[i];
                size_t at;
                if (g->line == 0 && g->path[0] && brig_json_locate(text, len, g->path, &at))
                        brig_text_line_column(text, at, &g->line, &g->column);
        }
        if (c.oom)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        if (c.n_problems > 0)
                return -EINVAL;
        if (policy_digest(tree.root ? tree.root : root, origin, p) < 0)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        *ret = TAKE_PTR(p);
        return 0;
}

int brig_policy_load(const char *path, brig_policy **ret, brig_policy_diags *diags, brig_error *err) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        ctx c = {.diags = diags, .err = err};
        struct stat st;
        size_t len = 0;

        assert(path);
        assert(ret);

        /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return file_problem(&c, -errno, errno == ENOENT ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO, errno,
                                    "cannot open");
        if (fstat(fd, &st) < 0)
                return file_problem(&c, -errno, BRIG_KIND_IO, errno, "cannot stat");
        /* A FIFO or a device could block or never end. */
        if (!S_ISREG(st.st_mode))
                return file_problem(&c, -EINVAL, BRIG_KIND_IO, 0, "not a regular file");
        if (st.st_size > POLICY_MAX_BYTES)
                return file_problem(&c, -EFBIG, BRIG_KIND_LIMIT, 0, "larger than the %d byte (1 MiB) limit",
                                    POLICY_MAX_BYTES);

        /* One byte more than the limit, to notice a file that grew since fstat(). */
        buf = malloc(POLICY_MAX_BYTES + 1);
        if (!buf)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        for (;;) {
                ssize_t n = read(fd, buf + len, POLICY_MAX_BYTES + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return file_problem(&c, -errno, BRIG_KIND_IO, errno, "cannot read");
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > POLICY_MAX_BYTES)
                        return file_problem(&c, -EFBIG, BRIG_KIND_LIMIT, 0,
                                            "larger than the %d byte (1 MiB) limit", POLICY_MAX_BYTES);
        }
        return brig_policy_parse(buf, len, path, ret, diags, err);
}

void brig_policy_free(brig_policy *p) {
        if (!p)
                return;
        free(p->name);
        free(p->description);
        for (size_t i = 0; p->binds && i < p->n_binds; i++) {
                free(p->binds[i].source);
                free(p->binds[i].dest);
        }
        free(p->binds);
        for (size_t i = 0; p->tmpfs && i < p->n_tmpfs; i++)
                free(p->tmpfs[i].dest);
        free(p->tmpfs);
        free(p->workspace);
        brig_strv_free(p->hidden);
        brig_strv_free(p->env);
        brig_strv_free(p->env_pass);
        brig_net_policy_free(p->net);
        brig_strv_free(p->seccomp_deny);
        free(p->seccomp_deny_audit);
        brig_seccomp_profile_free(p->seccomp_profile);
        brig_strv_free(p->tools_allow);
        brig_strv_free(p->history_exclude);
        free(p->hostname);
        free(p);
}

void brig_policy_diags_done(brig_policy_diags *d) {
        if (!d)
                return;
        free(d->items);
        d->items = NULL;
        d->n = 0;
}

const char *brig_policy_getenv(const brig_policy *p, const char *name) {
        size_t n;

        if (!p || !p->env || !name)
                return NULL;
        n = strlen(name);
        for (char **e = p->env; *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

int brig_policy_check_host(const brig_policy *p, brig_policy_diags *diags) {
        ctx c = {.diags = diags};
        size_t ro = 0, rw = 0;
        char path[PATHBUF], q[QUOTEBUF];
        struct stat st;

        for (size_t i = 0; i < p->n_binds; i++) {
                const brig_bind *b = &p->binds[i];
                (void) path_index(path, b->read_only ? "filesystem.read_only" : "filesystem.read_write",
                                  b->read_only ? ro++ : rw++);
                if (b->optional || lstat(b->source, &st) == 0)
                        continue;
                int e = errno;
                (void) problem(&c, path,
                               "%s: %s on this host (mark the bind \"optional\" if that is expected)",
                               quote(q, b->source), strerror(e));
        }
        return c.oom ? -ENOMEM : (int) c.n_problems;
}

int brig_policy_compile_seccomp(const brig_policy *p, int *ret_fd, brig_error *err) {
        brig_seccomp_spec spec = {.profile = p->seccomp_profile,
                                  .deny = (const char *const *) p->seccomp_deny,
                                  .n_deny = p->n_seccomp_deny,
                                  .deny_audit = p->seccomp_deny_audit,
                                  .errno_ret = p->seccomp_errno,
                                  .audit = p->seccomp_audit};
        return brig_seccomp_compile_spec(&spec, ret_fd, err);
}

int brig_policy_add_bind(brig_policy *p, const char *source, const char *dest, bool read_only,
                         brig_error *err) {
        const char *opt = read_only ? "--ro-bind" : "--bind";
        _cleanup_json_ cJSON *js = cJSON_CreateString(source),
                             *jd = cJSON_CreateString(dest ? dest : source);
        ctx c = {.err = err};
        size_t n_ro = 0;
        char label[PATHBUF], q[QUOTEBUF];

        if (!js || !jd)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        const char *src = get_path(&c, opt, js), *dst = src ? get_path(&c, opt, jd) : NULL;
        if (!src || !dst || !dest_ok(&c, opt, dst))
                return -EINVAL;
        for (size_t i = 0; i < p->n_binds; i++)
                n_ro += p->binds[i].read_only;
        for (size_t k = 0; k < p->n_binds + p->n_tmpfs + 1; k++) {
                const char *m = mount_point(p, n_ro, k, label);
                if (m && strcmp(m, dst) == 0)
                        return problem(&c, opt, "%s is already mounted by %s", quote(q, dst), label);
        }
        for (size_t k = 0; k < p->n_hidden; k++) {
                size_t hl = strlen(p->hidden[k]);
                if (strncmp(dst, p->hidden[k], hl) == 0 && (dst[hl] == 0 || dst[hl] == '/'))
                        return problem(&c, opt, "%s is hidden by the policy (filesystem.hidden[%zu])",
                                       quote(q, dst), k);
        }
        brig_bind b = {.source = strdup(src), .dest = strdup(dst), .read_only = read_only};
        brig_bind *binds = reallocarray(p->binds, p->n_binds + 2, sizeof(*binds));
        if (!b.source || !b.dest || !binds) {
                free(b.source);
                free(b.dest);
                if (binds)
                        p->binds = binds;
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        }
        p->binds = binds;
        /* Read-only binds stay in front of the writable ones, as the parser keeps them. */
        size_t at = read_only ? n_ro : p->n_binds;
        memmove(&binds[at + 1], &binds[at], (p->n_binds - at + 1) * sizeof(*binds));
        binds[at] = b;
        p->n_binds++;
        return 0;
}
