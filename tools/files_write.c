/* SPDX-License-Identifier: MIT */
/* The tools that change the workspace: write_file and edit_file (atomic replacement beside the target,
 * never through a final symlink), make_directory, move and remove. Each acts on a parent directory fd and
 * a last name that is never followed (brig_ws_open_parent). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files_internal.h"
#include "tools/wspath.h"

static int refuse_symlink(const char *tool_name, const char *path, brig_error *err) {
        char q[BRIG_WS_QUOTE_SIZE];

        return brig_error_set(err, -ELOOP, BRIG_KIND_DENIED,
                              "path '%s' is a symbolic link; %s does not write through links",
                              brig_ws_quote(path, q, sizeof(q)), tool_name);
}

/* write_file and edit_file name a file: "x/" would silently write "x". */
static int refuse_trailing_slash(const char *path, brig_error *err) {
        size_t len = strlen(path);
        char q[BRIG_WS_QUOTE_SIZE];

        if (len == 0 || path[len - 1] != '/')
                return 0;
        return brig_error_set(err, -EISDIR, BRIG_KIND_INVALID_ARGUMENT, "path '%s' ends in '/'; name a file",
                              brig_ws_quote(path, q, sizeof(q)));
}

/* The directory part of path ("" for a top-level name). New string. */
static char *parent_of(const char *path) {
        size_t len = strlen(path);
        const char *slash;

        while (len > 0 && path[len - 1] == '/')
                len--;
        slash = memrchr(path, '/', len);
        return strndup(path, slash ? (size_t) (slash - path) : 0);
}

/* write_file */

static int parse_mode(const cJSON *args, mode_t *ret, bool *ret_set, brig_error *err) {
        static const char msg[] = "arguments.mode: expected an octal string from \"0000\" to \"0777\", or a "
                                  "number up to 511 (0777)";
        const cJSON *m = brig_json_member(args, "mode");
        unsigned v = 0;

        if (!m)
                return 0;
        if (cJSON_IsNumber(m)) {
                if (m->valuedouble < 0 || m->valuedouble > 0777 ||
                    (double) (unsigned) m->valuedouble != m->valuedouble)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s", msg);
                v = (unsigned) m->valuedouble;
        } else if (cJSON_IsString(m)) {
                const char *s = m->valuestring;
                size_t n;

                if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                        s += 2;
                n = strlen(s);
                if (n == 0 || n > 4)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s", msg);
                for (; *s; s++) {
                        if (*s < '0' || *s > '7')
                                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s", msg);
                        v = v * 8 + (unsigned) (*s - '0');
                }
                if (v > 0777)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s", msg);
        } else
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "%s, got %s", msg,
                                      brig_json_type_name(m));
        *ret = (mode_t) v;
        *ret_set = true;
        return 0;
}

/* Opens the parent of path, creating it (and its parents) when asked; *ret_created tells whether it was. */
static int open_parent_maybe_create(const brig_files_ctx *ctx, const char *path, bool create,
                                    char **ret_name, bool *ret_created, brig_error *err) {
        _cleanup_free_ char *dir = NULL;
        brig_error first = BRIG_ERROR_INIT;
        int pfd, r;

        /* A missing parent is no error yet when it is to be created. */
        pfd = brig_ws_open_parent(ctx->root_fd, path, ret_name, &first);
        if (pfd != -ENOENT || !create) {
                if (pfd < 0 && err)
                        *err = first;
                return pfd;
        }
        if (!(dir = parent_of(path)))
                return brig_error_oom(err);
        if ((r = brig__files_mkdir_p(ctx, dir, NULL, err)) < 0)
                return r;
        *ret_created = true;
        return brig_ws_open_parent(ctx->root_fd, path, ret_name, err);
}

int brig__files_write_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                           brig_files_report *report, brig_error *err) {
        static const char *const keys[] = {"path", "content", "encoding", "mode", "create_parents", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ unsigned char *decoded = NULL;
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int pfd = -1;
        const char *path = NULL, *content = NULL, *encoding = NULL;
        uint64_t max = brig__files_max_write(ctx);
        bool create_parents = true, mode_set = false, exists, made_parents = false;
        brig__files_attrs attrs = {.mode = 0644, .uid = ctx->uid, .gid = ctx->gid};
        const void *data;
        size_t len;
        uint64_t allocated;
        struct stat st;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "content", true, &content, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "encoding", false, &encoding, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "create_parents", &create_parents, err)) < 0 ||
            (r = parse_mode(args, &attrs.mode, &mode_set, err)) < 0 ||
            (r = refuse_trailing_slash(path, err)) < 0)
                return r;
        len = strlen(content);
        if (encoding && strcmp(encoding, "base64") == 0) {
                size_t n = 0;
                if (len / 4 > max / 3 + 1)
                        return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT,
                                              "arguments.content: over the write limit of %llu bytes",
                                              (unsigned long long) max);
                r = brig_base64_decode(content, len, &decoded, &n);
                if (r == -ENOMEM)
                        return brig_error_oom(err);
                if (r < 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.content: invalid base64");
                data = decoded;
                len = n;
        } else if (encoding && strcmp(encoding, "utf8") != 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.encoding: expected \"utf8\" or \"base64\"");
        else
                data = content;
        if (len > max)
                return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT,
                                      "arguments.content: %zu bytes, over the write limit of %llu bytes",
                                      len, (unsigned long long) max);

        pfd = open_parent_maybe_create(ctx, path, create_parents, &name, &made_parents, err);
        if (pfd < 0)
                return pfd;
        exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (!exists && errno != ENOENT)
                return brig_ws_error(-errno, path, err);
        if (exists) {
                char q[BRIG_WS_QUOTE_SIZE];
                if (S_ISLNK(st.st_mode))
                        return refuse_symlink("write_file", path, err);
                if (S_ISDIR(st.st_mode))
                        return brig_ws_error(-EISDIR, path, err);
                if (!S_ISREG(st.st_mode))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "path '%s' is not a regular file",
                                              brig_ws_quote(path, q, sizeof(q)));
                /* A replaced file keeps its owner (when we may set it) and, unless told, its mode. */
                if (!mode_set)
                        attrs.mode = st.st_mode & 07777;
                attrs.uid = st.st_uid;
                attrs.gid = st.st_gid;
                attrs.owner_best_effort = true;
        }
        if ((r = brig__files_replace(pfd, name, path, data, len, &attrs, ctx->fsync, &allocated, err)) < 0)
                return r;
        /* New directories are not counted here: the workspace is measured instead. */
        if (!made_parents)
                brig__files_report_usage(report, allocated, exists ? &st : NULL);
        report->bytes = len;
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddNumberToObject(res, "bytes", (double) len) ||
            !cJSON_AddBoolToObject(res, "created", !exists))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* edit_file */

typedef struct edit {
        const char *old_text, *new_text;
        size_t old_len, new_len;
        bool replace_all;
} edit;

static int parse_edits(const cJSON *args, edit **ret, size_t *ret_n, brig_error *err) {
        static const char *const keys[] = {"old_text", "new_text", "replace_all", NULL};
        const cJSON *arr = brig_json_member(args, "edits"), *it;
        _cleanup_free_ edit *v = NULL;
        size_t n, i = 0;
        int r;

        if (!arr)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "arguments.edits: required");
        if (!cJSON_IsArray(arr))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.edits: expected an array, got %s",
                                      brig_json_type_name(arr));
        n = (size_t) cJSON_GetArraySize(arr);
        if (n == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.edits: must hold at least one edit");
        if (n > BRIG_FILES_MAX_EDITS)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "arguments.edits: more than %d edits",
                                      BRIG_FILES_MAX_EDITS);
        if (!(v = calloc(n, sizeof(*v))))
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, arr) {
                char p[64];

                (void) snprintf(p, sizeof(p), "arguments.edits[%zu]", i);
                if (!cJSON_IsObject(it))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: expected an object, got %s", p, brig_json_type_name(it));
                if ((r = brig_json_check_keys(it, p, keys, err)) < 0 ||
                    (r = brig_json_get_string(it, p, "old_text", true, &v[i].old_text, err)) < 0 ||
                    (r = brig_json_get_string(it, p, "new_text", true, &v[i].new_text, err)) < 0 ||
                    (r = brig_json_get_bool(it, p, "replace_all", &v[i].replace_all, err)) < 0)
                        return r;
                v[i].old_len = strlen(v[i].old_text);
                v[i].new_len = strlen(v[i].new_text);
                if (v[i].old_len == 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s.old_text: must not be empty", p);
                i++;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static size_t count_matches(const char *data, size_t len, const char *needle, size_t nlen) {
        size_t count = 0;

        for (const char *p = data, *end = data + len; (p = memmem(p, (size_t) (end - p), needle, nlen));
             p += nlen)
                count++;
        return count;
}

/* Applies one edit to *buf (replaced by a new buffer). */
static int apply_edit(char **buf, size_t *len, const edit *e, size_t count) {
        size_t nlen = *len - count * e->old_len + count * e->new_len;
        char *out = malloc(nlen + 1), *o = out;
        const char *p = *buf, *end = *buf + *len;

        if (!out)
                return -ENOMEM;
        for (const char *m; (m = memmem(p, (size_t) (end - p), e->old_text, e->old_len));) {
                memcpy(o, p, (size_t) (m - p));
                o += m - p;
                memcpy(o, e->new_text, e->new_len);
                o += e->new_len;
                p = m + e->old_len;
        }
        memcpy(o, p, (size_t) (end - p));
        o += end - p;
        *o = 0;
        free(*buf);
        *buf = out;
        *len = nlen;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(git_patch *, git_patch_free);

static void git_buf_disposep(git_buf *b) {
        git_buf_dispose(b);
}

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static int git_init_result;

/* libgit2's global state, set up once and kept for the life of the process (the history tools share it:
 * git_libgit2_init() is reference-counted). */
static void git_init(void) {
        git_init_result = git_libgit2_init();
}

/* A unified diff ("a/path", "b/path") from libgit2: never a hand-rolled one. */
static int make_diff(const char *path, const char *a, size_t alen, const char *b, size_t blen, char **ret,
                     brig_error *err) {
        _cleanup_(git_patch_freep) git_patch *patch = NULL;
        _cleanup_(git_buf_disposep) git_buf buf = GIT_BUF_INIT;
        git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
        const git_error *e;
        char *s;

        (void) pthread_once(&git_once, git_init);
        if (git_init_result < 0)
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "libgit2 initialisation failed");
        if (git_patch_from_buffers(&patch, a, alen, path, b, blen, path, &opts) < 0 ||
            git_patch_to_buf(&buf, patch) < 0) {
                /* libgit2 errors are thread-local: copy the message here, on the thread that failed. */
                e = git_error_last();
                return brig_error_set(err, -EIO, BRIG_KIND_INTERNAL, "diff: %s",
                                      e && e->message ? e->message : "?");
        }
        if (!(s = brig__files_utf8_clean(buf.ptr ? buf.ptr : "", buf.size, 0, NULL)))
                return brig_error_oom(err);
        *ret = s;
        return 0;
}

int brig__files_edit_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                          brig_files_report *report, brig_error *err) {
        static const char *const keys[] = {"path", "edits", "dry_run", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *name = NULL, *old = NULL, *cur = NULL, *diff = NULL;
        _cleanup_free_ edit *edits = NULL;
        _cleanup_close_ int pfd = -1, fd = -1;
        const char *path = NULL;
        uint64_t max = brig__files_max_write(ctx), total = 0;
        size_t n_edits = 0, old_len = 0, len;
        char q[BRIG_WS_QUOTE_SIZE];
        bool dry_run = false;
        struct stat st, now;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "dry_run", &dry_run, err)) < 0 ||
            (r = parse_edits(args, &edits, &n_edits, err)) < 0 || (r = refuse_trailing_slash(path, err)) < 0)
                return r;
        (void) brig_ws_quote(path, q, sizeof(q));

        pfd = brig_ws_open_parent(ctx->root_fd, path, &name, err);
        if (pfd < 0)
                return pfd;
        fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ELOOP && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISLNK(st.st_mode))
                        return refuse_symlink("edit_file", path, err);
                return brig_ws_error(-errno, path, err);
        }
        if (fstat(fd, &st) < 0)
                return brig_ws_error(-errno, path, err);
        if (S_ISDIR(st.st_mode))
                return brig_ws_error(-EISDIR, path, err);
        if (!S_ISREG(st.st_mode))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is not a regular file", q);
        r = (uint64_t) st.st_size > max ? -EFBIG : brig__files_read_all(fd, max, &old, &old_len);
        if (r == -EFBIG)
                return brig_error_set(err, r, BRIG_KIND_LIMIT,
                                      "path '%s' is over the write limit of %llu bytes, so edit_file cannot "
                                      "rewrite it",
                                      q, (unsigned long long) max);
        if (r < 0)
                return brig_ws_error(r, path, err);
        if (!(cur = malloc(old_len + 1)))
                return brig_error_oom(err);
        memcpy(cur, old, old_len + 1);
        len = old_len;

        for (size_t i = 0; i < n_edits; i++) {
                const edit *e = &edits[i];
                size_t count = count_matches(cur, len, e->old_text, e->old_len);

                if (count == 0)
                        return brig_error_set(
                                err, -ENOENT, BRIG_KIND_INVALID_ARGUMENT,
                                "arguments.edits[%zu] (counting from 0): old_text not found in "
                                "'%s'%s",
                                i, q, i > 0 ? " after the edits before it" : "");
                if (count > 1 && !e->replace_all)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.edits[%zu] (counting from 0): old_text matches %zu "
                                              "times in '%s'; add context to make it unique, or set "
                                              "replace_all",
                                              i, count, q);
                /* Bound the result before allocating it (len <= max holds throughout). */
                if (e->new_len > e->old_len &&
                    (e->new_len - e->old_len > max || count > (max - len) / (e->new_len - e->old_len)))
                        return brig_error_set(
                                err, -EFBIG, BRIG_KIND_LIMIT,
                                "arguments.edits[%zu]: the file would grow over the write limit "
                                "of %llu bytes",
                                i, (unsigned long long) max);
                if (apply_edit(&cur, &len, e, count) < 0)
                        return brig_error_oom(err);
                total += count;
        }
        if ((r = make_diff(path, old, old_len, cur, len, &diff, err)) < 0)
                return r;

        if (!dry_run && (len != old_len || memcmp(old, cur, len) != 0)) {
                brig__files_attrs attrs = {.mode = st.st_mode & 07777,
                                           .uid = st.st_uid,
                                           .gid = st.st_gid,
                                           .owner_best_effort = true};

                /* Refuse to replace a file that changed since we read it: the agent's edit was made
                 * against the old content. (A change within the same mtime tick goes unnoticed.) */
                if (fstatat(pfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
                        return brig_ws_error(-errno, path, err);
                if (now.st_ino != st.st_ino || now.st_dev != st.st_dev || now.st_size != st.st_size ||
                    now.st_mtim.tv_sec != st.st_mtim.tv_sec || now.st_mtim.tv_nsec != st.st_mtim.tv_nsec)
                        return brig_error_set(err, -EAGAIN, BRIG_KIND_IO,
                                              "path '%s' changed while it was being edited; try again", q);
                uint64_t allocated;
                if ((r = brig__files_replace(pfd, name, path, cur, len, &attrs, ctx->fsync, &allocated,
                                             err)) < 0)
                        return r;
                brig__files_report_usage(report, allocated, &now);
        } else
                brig__files_report_usage(report, 0, NULL);
        report->bytes = len;
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddStringToObject(res, "diff", diff) ||
            !cJSON_AddNumberToObject(res, "replacements", (double) total) ||
            !cJSON_AddBoolToObject(res, "applied", !dry_run))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* make_directory */

int brig__files_make_directory(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                               brig_files_report *report, brig_error *err) {
        static const char *const keys[] = {"path", "parents", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int pfd = -1, dfd = -1;
        const char *path = NULL;
        bool parents = true, created = false;
        struct stat st;
        int r;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "parents", &parents, err)) < 0)
                return r;
        if (parents || brig__files_path_is_dotted(path)) {
                if ((r = brig__files_mkdir_p(ctx, path, &created, err)) < 0)
                        return r;
        } else {
                pfd = brig_ws_open_parent(ctx->root_fd, path, &name, err);
                if (pfd < 0)
                        return pfd;
                if (mkdirat(pfd, name, 0755) == 0) {
                        dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (dfd < 0)
                                return brig_ws_error(-errno, path, err);
                        if ((r = brig__files_set_owner_mode(dfd, ctx->uid, ctx->gid, 0755, false)) < 0)
                                return brig_ws_error(r, path, err);
                        created = true;
                } else if (errno != EEXIST)
                        return brig_ws_error(-errno, path, err);
                else if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
                        char q[BRIG_WS_QUOTE_SIZE];
                        return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                                              "path '%s' exists and is not a directory",
                                              brig_ws_quote(path, q, sizeof(q)));
                }
        }
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddBoolToObject(res, "created", created))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* move */

int brig__files_move(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err) {
        static const char *const keys[] = {"from", "to", "overwrite", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *fname = NULL, *tname = NULL;
        _cleanup_close_ int pf = -1, pt = -1;
        const char *from = NULL, *to = NULL;
        char qf[BRIG_WS_QUOTE_SIZE], qt[BRIG_WS_QUOTE_SIZE];
        bool overwrite = false;
        struct stat st;
        int r;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "from", true, &from, err)) < 0 ||
            (r = brig__files_get_path(args, "to", true, &to, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "overwrite", &overwrite, err)) < 0)
                return r;
        (void) brig_ws_quote(from, qf, sizeof(qf));
        (void) brig_ws_quote(to, qt, sizeof(qt));
        if ((pf = brig_ws_open_parent(ctx->root_fd, from, &fname, err)) < 0)
                return brig_error_prefix(err, "arguments.from");
        if ((pt = brig_ws_open_parent(ctx->root_fd, to, &tname, err)) < 0)
                return brig_error_prefix(err, "arguments.to");
        if (fstatat(pf, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return brig_ws_error(-errno, from, err);

        /* Neither end is followed: moving a symlink moves the link, and never replaces what it points to. */
        r = renameat2(pf, fname, pt, tname, overwrite ? 0 : RENAME_NOREPLACE);
        if (r < 0 && errno == EINVAL && !overwrite) {
                /* Filesystems without RENAME_NOREPLACE: check, then rename (racy, but only within the
                 * workspace). */
                if (fstatat(pt, tname, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        errno = EEXIST;
                else
                        r = renameat(pf, fname, pt, tname);
        }
        if (r < 0) {
                switch (errno) {
                case EEXIST:
                        return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                                              "path '%s' already exists; set overwrite to replace it", qt);
                case ENOTEMPTY:
                        return brig_error_set(err, -ENOTEMPTY, BRIG_KIND_INVALID_ARGUMENT,
                                              "path '%s' is a directory that is not empty", qt);
                case EXDEV:
                        return brig_error_set(err, -EXDEV, BRIG_KIND_INVALID_ARGUMENT,
                                              "cannot move '%s' to '%s': they are on different filesystems",
                                              qf, qt);
                case EINVAL:
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "cannot move '%s' into itself ('%s')", qf, qt);
                case EISDIR:
                case ENOTDIR:
                        return brig_error_set(err, -errno, BRIG_KIND_INVALID_ARGUMENT,
                                              "cannot move '%s' over '%s': %s", qf, qt,
                                              errno == EISDIR ? "the destination is a directory"
                                                              : "the destination is not a directory");
                default:
                        return brig_ws_error(-errno, from, err);
                }
        }
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "from", from) ||
            !cJSON_AddStringToObject(res, "to", to))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* remove */

typedef struct remover {
        uint64_t count, bytes;
        dev_t dev; /* the workspace's filesystem: never descend into another one */
} remover;

/* Removes the directory name in pfd and everything below it, never following a link (each level is
 * opened O_NOFOLLOW relative to its parent's fd). */
static int rm_tree(remover *rm, int pfd, const char *name, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct stat st;
        int fd;

        if (depth > BRIG_FILES_MAX_WALK_DEPTH)
                return -E2BIG;
        fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !(d = fdopendir(fd))) {
                int e = -errno;
                close(fd);
                return e;
        }
        if (st.st_dev != rm->dev)
                return -EXDEV;
        /* Entries of a directory the agent made unwritable can still go. */
        if ((st.st_mode & 0700) != 0700)
                (void) fchmod(fd, (st.st_mode & 07777) | 0700);
        /* Entries created while we remove make rmdir fail with ENOTEMPTY: a few more passes. */
        for (int pass = 0; pass < 4; pass++) {
                struct dirent *de;

                rewinddir(d);
                while ((de = readdir(d))) {
                        struct stat es;
                        int r;

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        if (fstatat(fd, de->d_name, &es, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return -errno;
                        }
                        if (S_ISDIR(es.st_mode)) {
                                if ((r = rm_tree(rm, fd, de->d_name, depth + 1)) < 0)
                                        return r;
                                continue;
                        }
                        if (unlinkat(fd, de->d_name, 0) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return -errno;
                        }
                        rm->count++;
                        if (S_ISREG(es.st_mode))
                                rm->bytes += (uint64_t) es.st_size;
                }
                if (unlinkat(pfd, name, AT_REMOVEDIR) == 0) {
                        rm->count++;
                        return 0;
                }
                if (errno != ENOTEMPTY)
                        return -errno;
        }
        return -ENOTEMPTY;
}

int brig__files_remove(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                       brig_error *err) {
        static const char *const keys[] = {"path", "recursive", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *name = NULL, *shown = NULL;
        _cleanup_close_ int pfd = -1;
        const char *path = NULL;
        char q[BRIG_WS_QUOTE_SIZE];
        remover rm = {0};
        bool recursive = false;
        struct stat st;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "recursive", &recursive, err)) < 0)
                return r;
        (void) brig_ws_quote(path, q, sizeof(q));
        if (!(shown = brig__files_display_path(path)))
                return brig_error_oom(err);
        if (!shown[0])
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED,
                                      "refusing to remove the workspace root");
        pfd = brig_ws_open_parent(ctx->root_fd, path, &name, err);
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return brig_ws_error(-errno, path, err);
        if (S_ISDIR(st.st_mode) && recursive) {
                rm.dev = st.st_dev;
                r = rm_tree(&rm, pfd, name, 0);
                if (r == -E2BIG)
                        return brig_error_set(err, r, BRIG_KIND_LIMIT,
                                              "path '%s' is more than %d levels deep", q,
                                              BRIG_FILES_MAX_WALK_DEPTH);
                if (r == -EXDEV)
                        return brig_error_set(err, r, BRIG_KIND_DENIED, "path '%s' holds a mount point", q);
                if (r < 0)
                        return brig_ws_error(r, path, err);
        } else if (S_ISDIR(st.st_mode)) {
                if (unlinkat(pfd, name, AT_REMOVEDIR) < 0) {
                        if (errno == ENOTEMPTY || errno == EEXIST)
                                return brig_error_set(
                                        err, -ENOTEMPTY, BRIG_KIND_INVALID_ARGUMENT,
                                        "directory '%s' is not empty; set recursive to remove it", q);
                        return brig_ws_error(-errno, path, err);
                }
                rm.count = 1;
        } else {
                /* A symlink goes itself; what it points to stays. */
                if (unlinkat(pfd, name, 0) < 0)
                        return brig_ws_error(-errno, path, err);
                rm.count = 1;
                rm.bytes = S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0;
        }
        report->bytes = rm.bytes;
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddNumberToObject(res, "removed", (double) rm.count))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}
