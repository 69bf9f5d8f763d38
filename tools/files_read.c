/* SPDX-License-Identifier: MIT */
/* The tools that only look: read_file (line ranges, binary as base64), stat, list_directory and glob.
 * Directory walks hold an fd per level and open each child with O_NOFOLLOW relative to it, so a swapped
 * symlink can never lead them out of the workspace. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files_internal.h"
#include "tools/wspath.h"

/* read_file */

/* Collects lines first..last (1-based, inclusive) of a stream into out. */
typedef struct slicer {
        uint64_t first, last;
        uint64_t line; /* the line the next byte belongs to */
        bool partial;  /* bytes since the last newline */
        bool more;     /* bytes after the range were seen */
        brig_buf out;  /* max: the read limit */
} slicer;

static void slicer_done(slicer *s) {
        brig_buf_done(&s->out);
}

static int slicer_feed(slicer *s, const char *data, size_t len) {
        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t) (nl - data) + 1 : len;

                if (s->line >= s->first && s->line <= s->last) {
                        if (brig_buf_append(&s->out, data, n) < 0)
                                return -ENOMEM;
                        if (s->out.truncated)
                                return -EFBIG;
                } else if (s->line > s->last)
                        s->more = true;
                if (nl)
                        s->line++;
                s->partial = !nl;
                data += n;
                len -= n;
        }
        return 0;
}

/* cat -n: "%6llu\t" before each line. */
static char *number_lines(const char *data, size_t len, uint64_t first) {
        brig_buf b = {0};
        uint64_t line = first;

        for (size_t i = 0; i < len;) {
                const char *nl = memchr(data + i, '\n', len - i);
                size_t n = nl ? (size_t) (nl - (data + i)) + 1 : len - i;
                char num[32];
                int k = snprintf(num, sizeof(num), "%6llu\t", (unsigned long long) line++);

                if (brig_buf_append(&b, num, (size_t) k) < 0 || brig_buf_append(&b, data + i, n) < 0) {
                        brig_buf_done(&b);
                        return NULL;
                }
                i += n;
        }
        return b.data ? b.data : strdup("");
}

static int get_encoding(const cJSON *args, const char **ret, brig_error *err) {
        const char *e = NULL;
        int r = brig_json_get_string(args, "arguments", "encoding", false, &e, err);

        if (r < 0)
                return r;
        if (e && strcmp(e, "utf8") != 0 && strcmp(e, "base64") != 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.encoding: expected \"utf8\" or \"base64\"");
        *ret = e;
        return 0;
}

int brig__files_read_file(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                          brig_files_report *report, brig_error *err) {
        static const char *const keys[] = {"path", "offset", "limit", "line_numbers", "encoding", NULL};
        _cleanup_(slicer_done) slicer s = {0};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *chunk = NULL, *content = NULL;
        _cleanup_close_ int fd = -1;
        const char *path = NULL, *encoding = NULL;
        uint64_t offset = 1, limit = UINT64_MAX, max = brig__files_max_read(ctx), scanned = 0;
        bool line_numbers = false, ranged, eof = false;
        char q[BRIG_WS_QUOTE_SIZE];
        struct stat st;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "offset", UINT32_MAX, &offset, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "limit", UINT32_MAX, &limit, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "line_numbers", &line_numbers, err)) < 0 ||
            (r = get_encoding(args, &encoding, err)) < 0)
                return r;
        ranged = brig_json_member(args, "offset") || brig_json_member(args, "limit");
        if (offset == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.offset: lines are numbered from 1");
        if (limit == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.limit: must be at least 1");
        if (encoding && strcmp(encoding, "base64") == 0 && (ranged || line_numbers))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.%s: not available with encoding \"base64\"",
                                      line_numbers                       ? "line_numbers"
                                      : brig_json_member(args, "offset") ? "offset"
                                                                         : "limit");
        (void) brig_ws_quote(path, q, sizeof(q));

        /* O_NONBLOCK: a FIFO must not hang the thread; only regular files are read anyway. */
        fd = brig_ws_open(ctx->root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return brig_ws_error(-errno, path, err);
        if (S_ISDIR(st.st_mode))
                return brig_error_set(err, -EISDIR, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is a directory; use list_directory", q);
        if (!S_ISREG(st.st_mode))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is not a regular file", q);
        if (!ranged && (uint64_t) st.st_size > max)
                return brig_error_set(
                        err, -EFBIG, BRIG_KIND_LIMIT,
                        "path '%s' is %llu bytes, over the read limit of %llu bytes; read a line "
                        "range with offset and limit",
                        q, (unsigned long long) st.st_size, (unsigned long long) max);

        s = (slicer){.first = offset,
                     .last = limit > UINT64_MAX - offset ? UINT64_MAX : offset + limit - 1,
                     .line = 1,
                     .out = {.max = max}};
        if (!(chunk = malloc(65536)))
                return brig_error_oom(err);
        for (;;) {
                ssize_t n = read(fd, chunk, 65536);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return brig_ws_error(-errno, path, err);
                }
                if (n == 0) {
                        eof = true;
                        break;
                }
                scanned += (uint64_t) n;
                r = slicer_feed(&s, chunk, (size_t) n);
                if (r == -EFBIG)
                        return brig_error_set(
                                err, r, BRIG_KIND_LIMIT,
                                "path '%s': the lines asked for are over the read limit of %llu "
                                "bytes; ask for fewer lines",
                                q, (unsigned long long) max);
                if (r < 0) /* -ENOMEM, the only other failure */
                        return brig_error_oom(err);
                /* Past the range: small files are counted to the end for total_lines, large ones not. */
                if (s.more && (uint64_t) st.st_size > max)
                        break;
                if (s.line < s.first && scanned > BRIG_FILES_MAX_READ_SCAN)
                        return brig_error_set(err, -EFBIG, BRIG_KIND_LIMIT,
                                              "path '%s': line %llu is beyond the first %llu bytes that "
                                              "read_file scans",
                                              q, (unsigned long long) offset,
                                              (unsigned long long) BRIG_FILES_MAX_READ_SCAN);
        }
        const char *data = s.out.data ? s.out.data : "";
        size_t len = s.out.len;
        bool text = brig_utf8_valid(data, len);
        bool b64 = encoding ? strcmp(encoding, "base64") == 0 : !text;

        if (encoding && !b64 && !text)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is not UTF-8 text (or contains NUL bytes); read it with "
                                      "encoding \"base64\"",
                                      q);
        if (b64)
                content = brig_base64_encode(data, len);
        else if (line_numbers)
                content = number_lines(data, len, offset);
        else
                content = strdup(data);
        if (!content)
                return brig_error_oom(err);

        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddStringToObject(res, "content", content) ||
            !cJSON_AddStringToObject(res, "encoding", b64 ? "base64" : "utf8") ||
            (eof &&
             !cJSON_AddNumberToObject(res, "total_lines", (double) (s.line - 1 + (s.partial ? 1 : 0)))) ||
            !cJSON_AddBoolToObject(res, "truncated", s.more) ||
            !cJSON_AddNumberToObject(res, "size", (double) st.st_size))
                return brig_error_oom(err);
        report->bytes = len;
        *ret = TAKE_PTR(res);
        return 0;
}

/* stat */

int brig__files_stat(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err) {
        static const char *const keys[] = {"path", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *name = NULL, *target = NULL;
        _cleanup_close_ int pfd = -1;
        const char *path = NULL;
        char mode[16], mtime[40];
        struct stat st;
        int r;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", true, &path, err)) < 0)
                return r;
        if (brig__files_path_is_dotted(path)) {
                /* The root, or a path ending in "." or "..": a directory, no link to describe. */
                pfd = brig_ws_open(ctx->root_fd, path, O_PATH | O_DIRECTORY, 0, err);
                if (pfd < 0)
                        return pfd;
                if (fstat(pfd, &st) < 0)
                        return brig_ws_error(-errno, path, err);
        } else {
                pfd = brig_ws_open_parent(ctx->root_fd, path, &name, err);
                if (pfd < 0)
                        return pfd;
                if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return brig_ws_error(-errno, path, err);
                if (S_ISLNK(st.st_mode)) {
                        char buf[PATH_MAX];
                        ssize_t n = readlinkat(pfd, name, buf, sizeof(buf) - 1);
                        if (n < 0)
                                return brig_ws_error(-errno, path, err);
                        if (!(target = brig__files_utf8_clean(buf, (size_t) n, 0, NULL)))
                                return brig_error_oom(err);
                }
        }
        (void) snprintf(mode, sizeof(mode), "%04o", (unsigned) (st.st_mode & 07777));
        if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "path", path) ||
            !cJSON_AddStringToObject(res, "type", brig__files_type_name(st.st_mode)) ||
            !cJSON_AddNumberToObject(res, "size", (double) st.st_size) ||
            !cJSON_AddStringToObject(res, "mode", mode) ||
            !cJSON_AddStringToObject(res, "mtime",
                                     brig__files_format_time(&st.st_mtim, mtime, sizeof(mtime))) ||
            (target && !cJSON_AddStringToObject(res, "link_target", target)))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* list_directory */

typedef struct lister {
        cJSON *entries; /* borrowed from the result */
        uint64_t count, max, budget;
        unsigned depth;
        bool truncated;
} lister;

static int list_walk(lister *l, int dfd, const char *prefix, unsigned level) {
        brig__files_dirent *ents = NULL;
        size_t n = 0;
        int r;

        if ((r = brig__files_read_dir(dfd, &l->budget, &ents, &n, &l->truncated)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                cJSON *e;

                if (l->count >= l->max) {
                        l->truncated = true;
                        break;
                }
                if (fstatat(dfd, ents[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* removed meanwhile */
                if (!(p = brig__files_join(prefix, ents[i].name)) || !(e = cJSON_CreateObject())) {
                        r = -ENOMEM;
                        break;
                }
                cJSON_AddItemToArray(l->entries, e);
                if (!cJSON_AddStringToObject(e, "path", p) ||
                    !cJSON_AddStringToObject(e, "type", brig__files_type_name(st.st_mode)) ||
                    !cJSON_AddNumberToObject(e, "size", (double) st.st_size)) {
                        r = -ENOMEM;
                        break;
                }
                l->count++;
                if (S_ISDIR(st.st_mode) && level < l->depth) {
                        _cleanup_close_ int sub =
                                openat(dfd, ents[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue; /* replaced meanwhile */
                        if ((r = list_walk(l, sub, p, level + 1)) < 0)
                                break;
                }
        }
        brig__files_dirents_free(ents, n);
        return r;
}

int brig__files_list_directory(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret,
                               brig_files_report *report, brig_error *err) {
        static const char *const keys[] = {"path", "depth", NULL};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *prefix = NULL;
        _cleanup_close_ int dfd = -1;
        const char *path = "";
        uint64_t depth = 1;
        lister l;
        int r;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig__files_get_path(args, "path", false, &path, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "depth", UINT32_MAX, &depth, err)) < 0)
                return r;
        if (depth == 0 || depth > BRIG_FILES_MAX_DEPTH)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.depth: expected an integer from 1 to %d",
                                      BRIG_FILES_MAX_DEPTH);
        dfd = brig_ws_open(ctx->root_fd, path, O_PATH | O_DIRECTORY, 0, err);
        if (dfd < 0)
                return dfd;
        if (!(prefix = brig__files_display_path(path)) || !(res = cJSON_CreateObject()) ||
            !cJSON_AddStringToObject(res, "path", prefix))
                return brig_error_oom(err);
        l = (lister){.max = brig__files_max_results(ctx),
                     .budget = BRIG_FILES_MAX_SCAN,
                     .depth = (unsigned) depth};
        if (!(l.entries = cJSON_AddArrayToObject(res, "entries")))
                return brig_error_oom(err);
        if ((r = list_walk(&l, dfd, prefix, 1)) < 0)
                return brig_ws_error(r, path, err);
        if (!cJSON_AddBoolToObject(res, "truncated", l.truncated))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}

/* glob */

typedef struct globber {
        char **pat;
        size_t n_pat;
        char **found; /* up to limit = max + 1 paths */
        size_t n_found, limit;
        uint64_t budget;
        bool truncated;
} globber;

static void globber_done(globber *g) {
        brig_strv_free(g->pat);
        for (size_t i = 0; g->found && i < g->n_found; i++)
                free(g->found[i]);
        free(g->found);
}

/* Takes p. */
static int glob_add(globber *g, char *p) {
        if (g->n_found == g->limit) {
                free(p);
                g->truncated = true;
                return 0;
        }
        g->found[g->n_found++] = p;
        return 0;
}

static bool glob_full(const globber *g) {
        return g->n_found == g->limit || g->budget == 0;
}

static int glob_walk(globber *g, int dfd, const char *prefix, size_t i, unsigned depth) {
        const char *c = g->pat[i];
        bool last = i + 1 == g->n_pat;
        brig__files_dirent *ents = NULL;
        size_t n = 0;
        int r = 0;

        if (glob_full(g))
                return 0;
        if (depth > BRIG_FILES_MAX_WALK_DEPTH) {
                g->truncated = true;
                return 0;
        }
        if (!strpbrk(c, "*?[\\")) {
                /* A literal component: look it up instead of reading the directory. */
                _cleanup_free_ char *p = NULL;
                struct stat st;

                g->budget--;
                if (fstatat(dfd, c, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 0;
                if (!(p = brig__files_join(prefix, c)))
                        return -ENOMEM;
                if (last)
                        return glob_add(g, TAKE_PTR(p));
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub =
                                openat(dfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                return glob_walk(g, sub, p, i + 1, depth + 1);
                }
                return 0;
        }
        bool globstar = strcmp(c, "**") == 0;
        if (globstar && !last && (r = glob_walk(g, dfd, prefix, i + 1, depth)) < 0)
                return r;
        if ((r = brig__files_read_dir(dfd, &g->budget, &ents, &n, &g->truncated)) < 0)
                return r;
        for (size_t k = 0; k < n && !glob_full(g); k++) {
                _cleanup_free_ char *p = NULL;
                bool descend;

                if (globstar ? ents[k].name[0] == '.' : fnmatch(c, ents[k].name, FNM_PERIOD) != 0)
                        continue;
                if (!(p = brig__files_join(prefix, ents[k].name))) {
                        r = -ENOMEM;
                        break;
                }
                /* "**" stays on its component while it descends; others move to the next one. */
                descend = ents[k].type == DT_DIR && (globstar || !last);
                if (descend) {
                        _cleanup_close_ int sub =
                                openat(dfd, ents[k].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0 && (r = glob_walk(g, sub, p, globstar ? i : i + 1, depth + 1)) < 0)
                                break;
                }
                if (last && (r = glob_add(g, TAKE_PTR(p))) < 0)
                        break;
        }
        brig__files_dirents_free(ents, n);
        return r;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int brig__files_glob(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err) {
        static const char *const keys[] = {"pattern", "path", NULL};
        _cleanup_(globber_done) globber g = {0};
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *prefix = NULL;
        _cleanup_close_ int dfd = -1;
        const char *pattern = NULL, *path = "";
        uint64_t max = brig__files_max_results(ctx);
        cJSON *matches;
        size_t kept = 0;
        int r;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "pattern", true, &pattern, err)) < 0 ||
            (r = brig__files_get_path(args, "path", false, &path, err)) < 0 ||
            (r = brig__files_glob_split(pattern, "pattern", &g.pat, &g.n_pat, err)) < 0)
                return r;
        dfd = brig_ws_open(ctx->root_fd, path, O_PATH | O_DIRECTORY, 0, err);
        if (dfd < 0)
                return dfd;
        g.limit = max + 1;
        g.budget = BRIG_FILES_MAX_SCAN;
        if (!(prefix = brig__files_display_path(path)) || !(g.found = calloc(g.limit, sizeof(char *))))
                return brig_error_oom(err);
        if ((r = glob_walk(&g, dfd, prefix, 0, 0)) < 0)
                return brig_ws_error(r, path, err);
        if (g.budget == 0)
                g.truncated = true;
        qsort(g.found, g.n_found, sizeof(char *), str_cmp);
        if (!(res = cJSON_CreateObject()) || !(matches = cJSON_AddArrayToObject(res, "matches")))
                return brig_error_oom(err);
        for (size_t i = 0; i < g.n_found; i++) {
                cJSON *s;
                if (i > 0 && strcmp(g.found[i], g.found[i - 1]) == 0)
                        continue; /* "**" can reach a path twice */
                if (kept == max) {
                        g.truncated = true;
                        break;
                }
                if (!(s = cJSON_CreateString(g.found[i])))
                        return brig_error_oom(err);
                cJSON_AddItemToArray(matches, s);
                kept++;
        }
        if (!cJSON_AddBoolToObject(res, "truncated", g.truncated))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}
