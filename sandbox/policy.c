/* SPDX-License-Identifier: MIT */
/* Policy files: turns the JSON format of docs/policy.md into a validated brig_policy. The module owns every
 * field's default and bounds, and reports every problem it finds with its JSON path; applying a policy is
 * the plan's job. This file is the loading stage, the only one besides the "extends" loader
 * (policy_merge.c) that reads files: the policy file, its text's syntax, its parents, its seccomp.profile
 * file; the document it yields is validated by policy_document.c's section table (pure). Which file holds
 * which section: sandbox/policy_internal.h. */
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

/* The document parser's reader of seccomp.profile files. */
static int read_profile(const char *file, brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                        brig_error *err) {
        return brig_seccomp_profile_load(file, "seccomp.profile", NULL, ret, diags, err);
}

int brig_policy_parse(const char *text, size_t len, const char *origin, brig_policy **ret,
                      brig_policy_diags *diags, brig_error *err) {
        _cleanup_(brig_policy_freep) brig_policy *p = NULL;
        _cleanup_json_ cJSON *root = NULL;
        _cleanup_(brig_policy_tree_done) brig_policy_tree tree = {0};
        brig__policy_ctx c = {.diags = diags, .err = err, .origin = origin, .read_profile = read_profile};
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

        bool oom;
        root = brig_json_parse_raw(text, len, &end, &oom);
        if (oom)
                return brig_error_oom(err);
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
                if (r < 0) /* each problem went through merge_problem_cb */
                        return brig__policy_refused(&c);
        }
        brig__policy_parse_document(&c, tree.root ? tree.root : root, p);
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
                return brig__policy_refused(&c);
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
        free(p->memory.scope_name);
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
