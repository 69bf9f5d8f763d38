/* SPDX-License-Identifier: MIT */
/* Policy files: turns the JSON format of docs/policy.md into a validated brig_policy. Owns every field's
 * default and bounds, and reports every problem it finds with its JSON path. Applying a policy is the
 * plan's job, not this module's. This file holds the entry points, the document, filesystem, limits and
 * seccomp; the other sections are in policy_sections.c, the shared helpers in policy_util.c, inheritance
 * in policy_merge.c. */
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
#include "sandbox/netpolicy.h"
#include "sandbox/policy.h"
#include "sandbox/policy_internal.h"
#include "sandbox/policy_merge.h"
#include "sandbox/seccomp.h"

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

/* A problem with the file as a whole (size, I/O): err gets code and kind as given. */
__attribute__((format(printf, 5, 6))) static int file_problem(brig__policy_ctx *c, int code, brig_kind kind,
                                                              int errnum, const char *fmt, ...) {
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
        brig__policy_diag_append(c, BRIG_POLICY_ERROR, "", msg, 0, 0);
        return brig_error_set(c->err, code, kind, "%s", msg);
}

static bool name_ok(const char *s) {
        return brig__policy_charset_ok(s, "._-", MAX_NAME_BYTES) && strcmp(s, ".") != 0 &&
               strcmp(s, "..") != 0;
}

/* Checks that it is an absolute, normalized path string; returns it (borrowed from the JSON) or NULL. */
static const char *get_path(brig__policy_ctx *c, const char *path, const cJSON *it) {
        const char *s, *q;
        char b[QUOTEBUF];

        if (!brig__policy_check_type(c, path, it, cJSON_IsString(it), "a path string"))
                return NULL;
        s = it->valuestring;
        if (s[0] != '/') {
                (void) brig__policy_problem(c, path, "must be an absolute path, got %s",
                                            brig__policy_quote(b, s));
                return NULL;
        }
        if (strlen(s) > MAX_PATH_BYTES) {
                (void) brig__policy_problem(c, path, "longer than %d bytes", MAX_PATH_BYTES);
                return NULL;
        }
        for (q = s; *q; q++)
                if ((unsigned char) *q < 0x20 || *q == 0x7f) {
                        (void) brig__policy_problem(c, path, "must not contain control characters, got %s",
                                                    brig__policy_quote(b, s));
                        return NULL;
                }
        if (strcmp(s, "/") == 0)
                return s;
        for (q = s; *q == '/';) {
                const char *e = strchrnul(++q, '/');
                size_t n = (size_t) (e - q);
                if (n == 0 || (n == 1 && q[0] == '.') || (n == 2 && q[0] == '.' && q[1] == '.')) {
                        (void) brig__policy_problem(
                                c, path,
                                "must be normalized (no \"//\", \".\" or \"..\" and no trailing \"/\"), "
                                "got %s",
                                brig__policy_quote(b, s));
                        return NULL;
                }
                q = e;
        }
        return s;
}

/* A jail path brig may mount over: not "/" and not one of the paths brig mounts or generates itself. */
static bool dest_ok(brig__policy_ctx *c, const char *path, const char *dest) {
        char b[QUOTEBUF];

        if (strcmp(dest, "/") == 0)
                return brig__policy_problem(c, path, "cannot mount over \"/\"") == 0;
        /* A mount on /etc itself would hide the passwd, group and hosts files brig generates there. */
        if (strcmp(dest, "/etc") == 0)
                return brig__policy_problem(
                               c, path,
                               "cannot mount over \"/etc\": bind the files below it that the jail "
                               "needs instead") == 0;
        for (size_t i = 0; i < ELEMENTSOF(reserved_dests); i++) {
                size_t n = strlen(reserved_dests[i]);
                /* Below /proc and /dev too: brig mounts fresh ones there, and host devices stay out. */
                if (strncmp(dest, reserved_dests[i], n) == 0 && (dest[n] == 0 || (dest[n] == '/' && i < 2)))
                        return brig__policy_problem(c, path, "%s is reserved: brig mounts or generates it",
                                                    brig__policy_quote(b, dest)) == 0;
        }
        return true;
}

/* "/usr" (source == dest, required) or {"source": ..., "dest": ..., "optional": ...}. */
static void parse_bind(brig__policy_ctx *c, const cJSON *it, const char *path, bool read_only,
                       brig_bind *b) {
        static const char *const keys[] = {"source", "dest", "optional", NULL};
        const char *source = NULL, *dest = NULL, *dest_path = path;
        char ps[PATHBUF], pd[PATHBUF], po[PATHBUF];

        b->read_only = read_only;
        if (cJSON_IsString(it))
                source = dest = get_path(c, path, it);
        else if (cJSON_IsObject(it)) {
                const cJSON *s = brig_json_member(it, "source"), *d = brig_json_member(it, "dest"),
                            *o = brig_json_member(it, "optional");

                brig__policy_check_keys(c, it, path, keys);
                if (!s)
                        (void) brig__policy_problem(c, brig__policy_path_key(ps, path, "source"),
                                                    "required");
                else
                        source = get_path(c, brig__policy_path_key(ps, path, "source"), s);
                dest_path = d ? brig__policy_path_key(pd, path, "dest")
                              : brig__policy_path_key(pd, path, "source");
                dest = d ? get_path(c, dest_path, d) : source;
                if (o && brig__policy_check_type(c, brig__policy_path_key(po, path, "optional"), o,
                                                 cJSON_IsBool(o), "a boolean"))
                        b->optional = cJSON_IsTrue(o);
        } else {
                (void) brig__policy_problem(c, path, "expected a path string or an object, got %s",
                                            brig_json_type_name(it));
                return;
        }
        if (!source || !dest || !dest_ok(c, dest_path, dest))
                return;
        b->source = brig__policy_xstrdup(c, source);
        b->dest = brig__policy_xstrdup(c, dest);
}

static void parse_tmpfs(brig__policy_ctx *c, const cJSON *it, const char *path, brig_tmpfs *t) {
        static const char *const keys[] = {"path", "size", "mode", NULL};
        const cJSON *pa, *sz, *mo;
        const char *dest = NULL;
        char p[PATHBUF], b[QUOTEBUF];

        t->size_bytes = 64 * MIB;
        t->mode = 01777;
        if (!brig__policy_check_type(c, path, it, cJSON_IsObject(it), "an object"))
                return;
        brig__policy_check_keys(c, it, path, keys);
        pa = brig_json_member(it, "path");
        sz = brig_json_member(it, "size");
        mo = brig_json_member(it, "mode");
        if (!pa)
                (void) brig__policy_problem(c, brig__policy_path_key(p, path, "path"), "required");
        else if ((dest = get_path(c, brig__policy_path_key(p, path, "path"), pa)) && dest_ok(c, p, dest))
                t->dest = brig__policy_xstrdup(c, dest);
        /* size=0 would mean "unlimited" to the kernel: the minimum is one byte (rounded up to a page). */
        if (sz)
                (void) brig__policy_get_size(c, brig__policy_path_key(p, path, "size"), sz, 1, 64 * GIB,
                                             "1 to 64G", &t->size_bytes);
        if (mo) {
                const char *s = cJSON_IsString(mo) ? mo->valuestring : NULL;
                size_t n = s ? strlen(s) : 0;
                bool ok = n >= 1 && n <= 5 && strspn(s, "01234567") == n;
                unsigned v = 0;

                for (size_t i = 0; ok && i < n; i++)
                        v = v * 8 + (unsigned) (s[i] - '0');
                if (!ok || v > 07777)
                        (void) brig__policy_problem(
                                c, brig__policy_path_key(p, path, "mode"),
                                "expected an octal mode string from \"0\" to \"7777\", got %s",
                                s ? brig__policy_quote(b, s) : brig_json_type_name(mo));
                else
                        t->mode = v;
        }
}

/* The k-th mount point: binds, then tmpfs mounts, then the workspace; label, if given, names it. */
static const char *mount_point(const brig_policy *p, size_t n_ro, size_t k, char *label) {
        if (k < p->filesystem.n_binds) {
                if (label)
                        (void) (k < n_ro
                                        ? brig__policy_path_index(label, "filesystem.read_only", k)
                                        : brig__policy_path_index(label, "filesystem.read_write", k - n_ro));
                return p->filesystem.binds[k].dest;
        }
        k -= p->filesystem.n_binds;
        if (k < p->filesystem.n_tmpfs) {
                if (label)
                        (void) brig__policy_path_index(label, "filesystem.tmpfs", k);
                return p->filesystem.tmpfs[k].dest;
        }
        if (label)
                (void) snprintf(label, PATHBUF, "filesystem.workspace");
        return p->filesystem.workspace;
}

/* Each mount point at most once: a second mount would silently hide the first. */
static void check_mount_conflicts(brig__policy_ctx *c, const brig_policy *p, size_t n_ro) {
        size_t n = p->filesystem.n_binds + p->filesystem.n_tmpfs + 1;
        char la[PATHBUF], lb[PATHBUF], q[QUOTEBUF];

        for (size_t j = 1; j < n; j++) {
                const char *dj = mount_point(p, n_ro, j, NULL);
                for (size_t i = 0; dj && i < j; i++) {
                        const char *di = mount_point(p, n_ro, i, NULL);
                        if (di && strcmp(di, dj) == 0) {
                                (void) mount_point(p, n_ro, j, la);
                                (void) mount_point(p, n_ro, i, lb);
                                (void) brig__policy_problem(c, la, "%s is already mounted by %s",
                                                            brig__policy_quote(q, dj), lb);
                                break;
                        }
                }
        }
}

/* "hidden": jail paths masked by an empty read-only mount. Each must not be, or contain, a mount point of
 * the policy: a mount below a hidden directory would have nowhere to go, and hiding a mount point is better
 * said by removing the mount. */
static void parse_hidden(brig__policy_ctx *c, const cJSON *arr, brig_policy *p, size_t n_ro) {
        size_t n = brig__policy_array_len(c, arr, "filesystem.hidden", MAX_BINDS), i = 0;
        const cJSON *it;
        char path[PATHBUF], label[PATHBUF], q[QUOTEBUF];

        p->filesystem.hidden = calloc(n + 1, sizeof(char *));
        if (!p->filesystem.hidden) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, (n ? arr : NULL)) {
                const char *h = get_path(c, brig__policy_path_index(path, "filesystem.hidden", i), it);
                i++;
                if (!h || !dest_ok(c, path, h))
                        continue;
                size_t hl = strlen(h);
                for (size_t k = 0; k < p->filesystem.n_binds + p->filesystem.n_tmpfs + 1; k++) {
                        const char *m = mount_point(p, n_ro, k, label);
                        if (m && strncmp(m, h, hl) == 0 && (m[hl] == 0 || m[hl] == '/')) {
                                (void) brig__policy_problem(c, path, "%s would hide %s, mounted by %s",
                                                            brig__policy_quote(q, h), m, label);
                                break;
                        }
                }
                for (size_t k = 0; k < p->filesystem.n_hidden; k++)
                        if (strcmp(p->filesystem.hidden[k], h) == 0)
                                (void) brig__policy_problem(c, path, "%s is listed twice",
                                                            brig__policy_quote(q, h));
                if (!(p->filesystem.hidden[p->filesystem.n_hidden] = brig__policy_xstrdup(c, h)))
                        return;
                p->filesystem.n_hidden++;
        }
}

/* "filesystem.workspace_quota": a size, or {"size": ..., "enforce": "auto" | "hard" | "soft"}. */
static void parse_quota(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const keys[] = {"size", "enforce", NULL};
        const cJSON *size = it, *enforce;

        if (cJSON_IsObject(it)) {
                brig__policy_check_keys(c, it, "filesystem.workspace_quota", keys);
                if (!(size = brig_json_member(it, "size"))) {
                        (void) brig__policy_problem(c, "filesystem.workspace_quota.size", "required");
                        return;
                }
                if ((enforce = brig_json_member(it, "enforce"))) {
                        int e = cJSON_IsString(enforce) ? brig_quota_enforce_from_name(enforce->valuestring)
                                                        : -EINVAL;
                        if (e < 0)
                                (void) brig__policy_problem(c, "filesystem.workspace_quota.enforce",
                                                            "expected \"auto\", \"hard\" or \"soft\"");
                        else
                                p->filesystem.quota_enforce = (brig_quota_enforce) e;
                }
        }
        (void) brig__policy_get_size(
                c, cJSON_IsObject(it) ? "filesystem.workspace_quota.size" : "filesystem.workspace_quota",
                size, 1 * MIB, 1024 * GIB, "1M to 1T", &p->filesystem.quota);
}

static void parse_filesystem(brig__policy_ctx *c, const cJSON *fs, brig_policy *p) {
        static const char *const keys[] = {"read_only", "read_write",      "tmpfs", "workspace",
                                           "hidden",    "workspace_quota", NULL};
        const cJSON *ro, *rw, *tm, *ws, *it;
        size_t n_ro, n_rw, n_tm, i;
        char path[PATHBUF];

        if (fs && !brig__policy_check_type(c, "filesystem", fs, cJSON_IsObject(fs), "an object"))
                fs = NULL;
        brig__policy_check_keys(c, fs, "filesystem", keys);
        ro = brig_json_member(fs, "read_only");
        rw = brig_json_member(fs, "read_write");
        tm = brig_json_member(fs, "tmpfs");
        ws = brig_json_member(fs, "workspace");

        n_ro = brig__policy_array_len(c, ro, "filesystem.read_only", MAX_BINDS);
        n_rw = brig__policy_array_len(c, rw, "filesystem.read_write", MAX_BINDS);
        /* One spare element keeps the arrays non-NULL, which spares every reader a NULL check. */
        p->filesystem.binds = calloc(n_ro + n_rw + 1, sizeof(brig_bind));
        if (!p->filesystem.binds) {
                c->oom = true;
                return;
        }
        p->filesystem.n_binds = n_ro + n_rw;
        /* Index-bounded loops: an array that brig__policy_array_len() refused counts as empty. */
        it = ro ? ro->child : NULL;
        for (i = 0; it && i < n_ro; it = it->next, i++)
                parse_bind(c, it, brig__policy_path_index(path, "filesystem.read_only", i), true,
                           &p->filesystem.binds[i]);
        it = rw ? rw->child : NULL;
        for (i = 0; it && i < n_rw; it = it->next, i++)
                parse_bind(c, it, brig__policy_path_index(path, "filesystem.read_write", i), false,
                           &p->filesystem.binds[n_ro + i]);

        n_tm = brig__policy_array_len(c, tm, "filesystem.tmpfs", MAX_TMPFS);
        p->filesystem.tmpfs = calloc(n_tm + 1, sizeof(brig_tmpfs));
        if (!p->filesystem.tmpfs) {
                c->oom = true;
                return;
        }
        p->filesystem.n_tmpfs = n_tm;
        it = tm ? tm->child : NULL;
        for (i = 0; it && i < n_tm; it = it->next, i++)
                parse_tmpfs(c, it, brig__policy_path_index(path, "filesystem.tmpfs", i),
                            &p->filesystem.tmpfs[i]);

        if (!ws)
                p->filesystem.workspace = brig__policy_xstrdup(c, "/workspace");
        else {
                const char *w = get_path(c, "filesystem.workspace", ws);
                if (w && dest_ok(c, "filesystem.workspace", w))
                        p->filesystem.workspace = brig__policy_xstrdup(c, w);
        }
        check_mount_conflicts(c, p, n_ro);
        parse_hidden(c, brig_json_member(fs, "hidden"), p, n_ro);
        if ((it = brig_json_member(fs, "workspace_quota")))
                parse_quota(c, it, p);
}

static void parse_limits(brig__policy_ctx *c, const cJSON *lim, brig_limits *l) {
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
        if (lim && !brig__policy_check_type(c, "limits", lim, cJSON_IsObject(lim), "an object"))
                return;
        brig__policy_check_keys(c, lim, "limits", keys);
        if ((it = brig_json_member(lim, "wall_time")))
                brig__policy_get_duration(c, "limits.wall_time", it, 1, 24 * 3600 * 1000, "1ms to 24h",
                                          &l->wall_time_ms);
        if ((it = brig_json_member(lim, "cpu_time")))
                brig__policy_get_duration(c, "limits.cpu_time", it, 1000, 24 * 3600 * 1000, "1s to 24h",
                                          &l->cpu_time_ms);
        if ((it = brig_json_member(lim, "memory")))
                (void) brig__policy_get_size(c, "limits.memory", it, 4 * MIB, TIB, "4M to 1T",
                                             &l->memory_bytes);
        if ((it = brig_json_member(lim, "processes")))
                brig__policy_get_int(c, "limits.processes", it, 1, 65536, &l->processes);
        if ((it = brig_json_member(lim, "open_files")))
                brig__policy_get_int(c, "limits.open_files", it, 16, 1048576, &l->open_files);
        if ((it = brig_json_member(lim, "file_size")))
                (void) brig__policy_get_size(c, "limits.file_size", it, 1, TIB, "1 to 1T",
                                             &l->file_size_bytes);
        if ((it = brig_json_member(lim, "output")))
                (void) brig__policy_get_size(c, "limits.output", it, KIB, 256 * MIB, "1K to 256M",
                                             &l->output_bytes);
        if ((it = brig_json_member(lim, "cpus"))) {
                if (!cJSON_IsNumber(it) || it->valuedouble < 0.01 || it->valuedouble > 1024)
                        (void) brig__policy_problem(c, "limits.cpus",
                                                    "expected a number of CPUs from 0.01 to 1024");
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
                        (void) brig__policy_problem(c, "limits.cgroups",
                                                    "expected \"auto\", \"required\" or \"off\"");
        }
}

/* "seccomp.profile": a path (relative to the policy file's directory) or an inline profile object. The
 * profile module reports with full JSON paths; its errors become the policy's problems, its warnings the
 * policy's warnings. */
static void parse_profile(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        brig_seccomp_profile_diags d = {0};
        brig_error e = BRIG_ERROR_INIT;
        _cleanup_free_ char *file = NULL;
        char b[QUOTEBUF];
        int r;

        if (cJSON_IsObject(it))
                r = brig_seccomp_profile_parse(it, "seccomp.profile", NULL, &p->seccomp.profile, &d, &e);
        else if (!brig__policy_check_type(c, "seccomp.profile", it, cJSON_IsString(it),
                                          "a path or a profile object"))
                return;
        else {
                const char *s = it->valuestring, *slash;

                if (!*s || strlen(s) > MAX_PATH_BYTES) {
                        (void) brig__policy_problem(c, "seccomp.profile", "expected a path of 1 to %d bytes",
                                                    MAX_PATH_BYTES);
                        return;
                }
                slash = c->origin ? strrchr(c->origin, '/') : NULL;
                if (s[0] == '/')
                        file = strdup(s);
                else if (!c->origin || c->origin[0] == '<') {
                        (void) brig__policy_problem(
                                c, "seccomp.profile",
                                "relative path %s needs a policy file to resolve against",
                                brig__policy_quote(b, s));
                        return;
                } else if (!slash)
                        file = strdup(s);
                else if (asprintf(&file, "%.*s/%s", (int) (slash - c->origin), c->origin, s) < 0)
                        file = NULL;
                if (!file) {
                        c->oom = true;
                        return;
                }
                r = brig_seccomp_profile_load(file, "seccomp.profile", NULL, &p->seccomp.profile, &d, &e);
        }
        if (r == -ENOMEM)
                c->oom = true;
        for (size_t i = 0; i < d.n; i++) {
                if (d.items[i].warning)
                        brig__policy_warning(c, d.items[i].path, d.items[i].msg);
                else
                        (void) brig__policy_problem(c, d.items[i].path, "%s", d.items[i].msg);
        }
        /* Without diags, an error still has its message in e. */
        if (r < 0 && r != -ENOMEM && d.n == 0)
                (void) brig__policy_problem(c, "seccomp.profile", "%s", e.msg);
        brig_seccomp_profile_diags_done(&d);
}

/* "seccomp": {"deny": [NAME | {"name": NAME, "audit": BOOL}], "errno": ..., "audit": BOOL, "profile": ...}.
 * "audit" (default true) makes floor and deny denials go to the worker, which answers them and audits each
 * one; an entry's own "audit" overrides it for that syscall. */
static void parse_seccomp(brig__policy_ctx *c, const cJSON *sc, brig_policy *p) {
        static const char *const keys[] = {"deny", "errno", "profile", "audit", NULL};
        static const char *const entry_keys[] = {"name", "audit", NULL};
        const cJSON *deny, *en, *it;
        size_t n, i, k = 0;
        char path[PATHBUF], sub[PATHBUF], b[QUOTEBUF];

        p->seccomp.errno_ret = EPERM;
        p->seccomp.audit = true;
        if (sc && !brig__policy_check_type(c, "seccomp", sc, cJSON_IsObject(sc), "an object"))
                sc = NULL;
        brig__policy_check_keys(c, sc, "seccomp", keys);
        deny = brig_json_member(sc, "deny");
        en = brig_json_member(sc, "errno");
        brig__policy_get_bool(c, "seccomp.audit", brig_json_member(sc, "audit"), &p->seccomp.audit);

        n = brig__policy_array_len(c, deny, "seccomp.deny", MAX_DENY);
        p->seccomp.deny = calloc(n + 1, sizeof(char *));
        p->seccomp.deny_audit = calloc(n + 1, sizeof(bool));
        if (!p->seccomp.deny || !p->seccomp.deny_audit) {
                c->oom = true;
                return;
        }
        it = deny ? deny->child : NULL;
        for (i = 0; it && i < n; it = it->next, i++) {
                const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
                bool dup = false, audit = p->seccomp.audit;

                brig__policy_path_index(path, "seccomp.deny", i);
                if (cJSON_IsObject(it)) {
                        const cJSON *name = brig_json_member(it, "name");
                        brig__policy_check_keys(c, it, path, entry_keys);
                        (void) brig__policy_path_key(sub, path, "name");
                        if (!name) {
                                (void) brig__policy_problem(c, sub, "is required");
                                continue;
                        }
                        if (!brig__policy_check_type(c, sub, name, cJSON_IsString(name), "a syscall name"))
                                continue;
                        s = name->valuestring;
                        (void) brig__policy_path_key(sub, path, "audit");
                        brig__policy_get_bool(c, sub, brig_json_member(it, "audit"), &audit);
                } else if (!brig__policy_check_type(c, path, it, s != NULL, "a syscall name"))
                        continue;
                for (size_t j = 0; j < k; j++)
                        if (strcmp(p->seccomp.deny[j], s) == 0)
                                dup = true;
                if (!brig__policy_charset_ok(s, "_", MAX_SYSCALL_NAME_BYTES) ||
                    strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                        (void) brig__policy_problem(c, path,
                                                    "expected a syscall name like \"syslog\", got %s",
                                                    brig__policy_quote(b, s));
                else if (dup)
                        (void) brig__policy_problem(c, path, "%s is listed twice", brig__policy_quote(b, s));
                /* Negative numbers are pseudo-syscalls: names that exist only on other architectures. */
                else if (seccomp_syscall_resolve_name(s) < 0)
                        (void) brig__policy_problem(c, path, "unknown syscall %s on this architecture",
                                                    brig__policy_quote(b, s));
                else if ((p->seccomp.deny[k] = brig__policy_xstrdup(c, s)))
                        p->seccomp.deny_audit[k++] = audit;
        }
        p->seccomp.n_deny = k;

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
                        (void) brig__policy_problem(
                                c, "seccomp.errno",
                                "expected one of \"EPERM\", \"EACCES\", \"ENOSYS\", \"EINVAL\" or an "
                                "integer from 1 to 4095");
                else
                        p->seccomp.errno_ret = v;
        }

        if ((it = brig_json_member(sc, "profile")))
                parse_profile(c, it, p);
}

static char *default_name(brig__policy_ctx *c, const char *origin) {
        const char *base;
        size_t n;
        char *s;

        if (!origin || origin[0] == '<')
                return brig__policy_xstrdup(c, "inline");
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

static void parse_policy(brig__policy_ctx *c, const cJSON *root, const char *origin, brig_policy *p) {
        static const char *const keys[] = {
                "name",     "description",  "filesystem", "limits",      "env",   "seccomp",
                "network",  "hostname",     "extends",    "environment", "tools", "history",
                "landlock", "capabilities", "identity",   "audit",       NULL};
        const cJSON *it;
        char b[QUOTEBUF];

        if (!brig__policy_check_type(c, "", root, cJSON_IsObject(root), "an object"))
                return;
        brig__policy_check_keys(c, root, "", keys);

        it = brig_json_member(root, "name");
        if (!it) {
                if ((p->name = default_name(c, origin)) && !name_ok(p->name))
                        (void) brig__policy_problem(
                                c, "name",
                                "no \"name\" field, and the file name %s is not a valid name (1 to 64 "
                                "letters, digits, \".\", \"_\" or \"-\")",
                                brig__policy_quote(b, p->name));
        } else if (brig__policy_check_type(c, "name", it, cJSON_IsString(it), "a string")) {
                if (!name_ok(it->valuestring))
                        (void) brig__policy_problem(
                                c, "name", "expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got %s",
                                brig__policy_quote(b, it->valuestring));
                else
                        p->name = brig__policy_xstrdup(c, it->valuestring);
        }

        if ((it = brig_json_member(root, "description")) &&
            brig__policy_check_type(c, "description", it, cJSON_IsString(it), "a string")) {
                if (strlen(it->valuestring) > MAX_DESCRIPTION_BYTES)
                        (void) brig__policy_problem(c, "description", "longer than %d bytes",
                                                    MAX_DESCRIPTION_BYTES);
                else
                        p->description = brig__policy_xstrdup(c, it->valuestring);
        }

        parse_filesystem(c, brig_json_member(root, "filesystem"), p);
        parse_limits(c, brig_json_member(root, "limits"), &p->limits);
        brig__policy_parse_env(c, brig_json_member(root, "env"), p);
        parse_seccomp(c, brig_json_member(root, "seccomp"), p);
        brig__policy_parse_environment(c, brig_json_member(root, "environment"), p);
        brig__policy_parse_tools(c, brig_json_member(root, "tools"), p);
        brig__policy_parse_history(c, brig_json_member(root, "history"), p);
        brig__policy_parse_audit(c, brig_json_member(root, "audit"), p);
        brig__policy_parse_landlock(c, brig_json_member(root, "landlock"), p);
        brig__policy_parse_capabilities(c, brig_json_member(root, "capabilities"), p);
        brig__policy_parse_identity(c, brig_json_member(root, "identity"), p);

        brig__policy_parse_network(c, brig_json_member(root, "network"), p);

        if (!(it = brig_json_member(root, "hostname")))
                p->hostname = brig__policy_xstrdup(c, "brig");
        else if (brig__policy_check_type(c, "hostname", it, cJSON_IsString(it), "a string")) {
                if (!brig__policy_charset_ok(it->valuestring, ".-", 64))
                        (void) brig__policy_problem(
                                c, "hostname", "expected 1 to 64 letters, digits, \".\" or \"-\", got %s",
                                brig__policy_quote(b, it->valuestring));
                else
                        p->hostname = brig__policy_xstrdup(c, it->valuestring);
        }
}

static int syntax_problem(brig__policy_ctx *c, const char *text, size_t off, const char *what) {
        unsigned line, column;

        brig_text_line_column(text, off, &line, &column);
        return brig__policy_problem_at(c, "", line, column, "%s at %u:%u", what, line, column);
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
        if (p->seccomp.profile)
                brig_sha256_update(d, p->seccomp.profile->digest, strlen(p->seccomp.profile->digest));
        return brig_sha256_finish(d, p->digest);
}

/* A problem found while merging the "extends" chain (sandbox/policy_merge.c); one in a parent file names
 * that file, in its diagnostic and, if it is the first problem, in err. */
static void merge_problem_cb(const char *file, const char *path, unsigned line, unsigned column,
                             const char *msg, void *userdata) {
        brig__policy_ctx *c = userdata;
        size_t n = c->diags ? c->diags->n : 0;
        bool first = c->n_problems == 0;

        (void) brig__policy_problem_at(c, path, line, column, "%s", msg);
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
        brig__policy_ctx c = {.diags = diags, .err = err, .origin = origin};
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
                return brig__policy_problem(&c, "", "not valid UTF-8 text (or contains a NUL byte)");

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
        brig__policy_ctx c = {.diags = diags, .err = err};
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
        for (size_t i = 0; p->filesystem.binds && i < p->filesystem.n_binds; i++) {
                free(p->filesystem.binds[i].source);
                free(p->filesystem.binds[i].dest);
        }
        free(p->filesystem.binds);
        for (size_t i = 0; p->filesystem.tmpfs && i < p->filesystem.n_tmpfs; i++)
                free(p->filesystem.tmpfs[i].dest);
        free(p->filesystem.tmpfs);
        free(p->filesystem.workspace);
        brig_strv_free(p->filesystem.hidden);
        brig_strv_free(p->env.vars);
        brig_strv_free(p->env.pass);
        brig_net_policy_free(p->network.net);
        brig_strv_free(p->seccomp.deny);
        free(p->seccomp.deny_audit);
        brig_seccomp_profile_free(p->seccomp.profile);
        brig_strv_free(p->tools.allow);
        brig_strv_free(p->history.exclude);
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

int brig_policy_check_host(const brig_policy *p, brig_policy_diags *diags) {
        brig__policy_ctx c = {.diags = diags};
        size_t ro = 0, rw = 0;
        char path[PATHBUF], q[QUOTEBUF];
        struct stat st;

        for (size_t i = 0; i < p->filesystem.n_binds; i++) {
                const brig_bind *b = &p->filesystem.binds[i];
                (void) brig__policy_path_index(
                        path, b->read_only ? "filesystem.read_only" : "filesystem.read_write",
                        b->read_only ? ro++ : rw++);
                if (b->optional || lstat(b->source, &st) == 0)
                        continue;
                int e = errno;
                (void) brig__policy_problem(
                        &c, path, "%s: %s on this host (mark the bind \"optional\" if that is expected)",
                        brig__policy_quote(q, b->source), strerror(e));
        }
        return c.oom ? -ENOMEM : (int) c.n_problems;
}

/* The one place a policy becomes a seccomp spec: the compiler and the cache key both take it from here. */
static brig_seccomp_spec seccomp_spec(const brig_policy *p) {
        return (brig_seccomp_spec){.profile = p->seccomp.profile,
                                   .deny = (const char *const *) p->seccomp.deny,
                                   .n_deny = p->seccomp.n_deny,
                                   .deny_audit = p->seccomp.deny_audit,
                                   .errno_ret = p->seccomp.errno_ret,
                                   .audit = p->seccomp.audit};
}

int brig_policy_compile_seccomp(const brig_policy *p, int *ret_fd, brig_error *err) {
        brig_seccomp_spec spec = seccomp_spec(p);
        return brig_seccomp_compile_spec(&spec, ret_fd, err);
}

int brig_policy_seccomp_key(const brig_policy *p, char out[static BRIG_SHA256_HEX]) {
        brig_seccomp_spec spec = seccomp_spec(p);
        return brig_seccomp_spec_key(&spec, out);
}

int brig_policy_add_bind(brig_policy *p, const char *source, const char *dest, bool read_only,
                         brig_error *err) {
        const char *opt = read_only ? "--ro-bind" : "--bind";
        _cleanup_json_ cJSON *js = cJSON_CreateString(source),
                             *jd = cJSON_CreateString(dest ? dest : source);
        brig__policy_ctx c = {.err = err};
        size_t n_ro = 0;
        char label[PATHBUF], q[QUOTEBUF];

        if (!js || !jd)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        const char *src = get_path(&c, opt, js), *dst = src ? get_path(&c, opt, jd) : NULL;
        if (!src || !dst || !dest_ok(&c, opt, dst))
                return -EINVAL;
        for (size_t i = 0; i < p->filesystem.n_binds; i++)
                n_ro += p->filesystem.binds[i].read_only;
        for (size_t k = 0; k < p->filesystem.n_binds + p->filesystem.n_tmpfs + 1; k++) {
                const char *m = mount_point(p, n_ro, k, label);
                if (m && strcmp(m, dst) == 0)
                        return brig__policy_problem(&c, opt, "%s is already mounted by %s",
                                                    brig__policy_quote(q, dst), label);
        }
        for (size_t k = 0; k < p->filesystem.n_hidden; k++) {
                size_t hl = strlen(p->filesystem.hidden[k]);
                if (strncmp(dst, p->filesystem.hidden[k], hl) == 0 && (dst[hl] == 0 || dst[hl] == '/'))
                        return brig__policy_problem(&c, opt,
                                                    "%s is hidden by the policy (filesystem.hidden[%zu])",
                                                    brig__policy_quote(q, dst), k);
        }
        brig_bind b = {.source = strdup(src), .dest = strdup(dst), .read_only = read_only};
        brig_bind *binds = reallocarray(p->filesystem.binds, p->filesystem.n_binds + 2, sizeof(*binds));
        if (!b.source || !b.dest || !binds) {
                free(b.source);
                free(b.dest);
                if (binds)
                        p->filesystem.binds = binds;
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        }
        p->filesystem.binds = binds;
        /* Read-only binds stay in front of the writable ones, as the parser keeps them. */
        size_t at = read_only ? n_ro : p->filesystem.n_binds;
        memmove(&binds[at + 1], &binds[at], (p->filesystem.n_binds - at + 1) * sizeof(*binds));
        binds[at] = b;
        p->filesystem.n_binds++;
        return 0;
}
