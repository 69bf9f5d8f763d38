/* SPDX-License-Identifier: MIT */
/* The policy's "filesystem" section: binds, tmpfs mounts, the workspace, hidden paths and the workspace
 * quota, each mount point checked against the others; also what the section needs from the host (check_host)
 * and the binds `brig run` adds (add_bind). Pure: no file is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/policy.h"
#include "sandbox/policy_internal.h"

static const char *const reserved_dests[] = {"/proc",      "/dev",       "/etc/passwd",
                                             "/etc/group", "/etc/hosts", "/etc/hostname"};

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

void brig__policy_parse_filesystem(brig__policy_ctx *c, const cJSON *fs, brig_policy *p) {
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

void brig__policy_explain_filesystem(const brig_policy *p, brig__policy_values *v) {
        const brig_policy_filesystem *f = &p->filesystem;

        brig__policy_value_add(v, BRIG__EXPLAIN_FILESYSTEM, "filesystem.workspace", NULL,
                               brig__policy_show_string(f->workspace));
        /* Only with a quota: how it is enforced (brig env info shows what it got). */
        if (f->quota)
                brig__policy_value_add(
                        v, BRIG__EXPLAIN_FILESYSTEM, "filesystem.workspace_quota.enforce", NULL,
                        brig__policy_show("\"%s\"", brig_quota_enforce_name(f->quota_enforce)));
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
                return brig__policy_refused(&c);
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
