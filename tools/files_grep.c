/* SPDX-License-Identifier: MIT */
/* grep: PCRE2 matching, line by line, over one file or a directory tree walked without following links.
 * Every dimension an agent controls is bounded: pattern size, backtracking (match, depth and heap limits),
 * file size, bytes read, entries examined, results and the text returned per line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "tools/files_internal.h"
#include "tools/wspath.h"

#define GREP_MATCH_LIMIT 1000000u
#define GREP_DEPTH_LIMIT 100000u
#define GREP_HEAP_LIMIT_KIB (64u * 1024u)
#define GREP_JIT_STACK_MAX (1024u * 1024u)
#define GREP_BINARY_PROBE 8192u

DEFINE_TRIVIAL_CLEANUP_FUNC(pcre2_code *, pcre2_code_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(pcre2_match_data *, pcre2_match_data_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(pcre2_match_context *, pcre2_match_context_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(pcre2_jit_stack *, pcre2_jit_stack_free);

typedef struct grepper {
        const pcre2_code *re;
        pcre2_match_data *md;
        pcre2_match_context *mctx;
        char **glob; /* components of the glob argument, NULL without one */
        size_t n_glob;
        bool glob_path; /* the glob has a "/": match it against the path below the search root */
        cJSON *matches; /* borrowed from the result */
        uint64_t count, max;
        uint64_t budget;     /* directory entries left to examine */
        uint64_t bytes_left; /* bytes left to read */
        uint64_t searched, skipped;
        bool truncated, stop;
        brig_error *err;
} grepper;

static int match_error(grepper *g, int rc, const char *shown, uint64_t line) {
        char q[BRIG_WS_QUOTE_SIZE], msg[128];

        (void) brig_ws_quote(shown, q, sizeof(q));
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
            rc == PCRE2_ERROR_JIT_STACKLIMIT)
                return brig_error_set(g->err, -E2BIG, BRIG_KIND_LIMIT,
                                      "arguments.pattern: too much backtracking at '%s' line %llu; simplify "
                                      "the expression",
                                      q, (unsigned long long) line);
        if (pcre2_get_error_message(rc, (PCRE2_UCHAR *) msg, sizeof(msg)) < 0)
                (void) snprintf(msg, sizeof(msg), "error %d", rc);
        return brig_error_set(g->err, -EIO, BRIG_KIND_INTERNAL, "grep '%s' line %llu: %s", q,
                              (unsigned long long) line, msg);
}

static int add_match(grepper *g, const char *shown, uint64_t line, const char *text, size_t len) {
        _cleanup_free_ char *clean = NULL, *shown_text = NULL;
        bool cut = false;
        cJSON *m;

        if (len > 0 && text[len - 1] == '\r')
                len--;
        if (!(clean = brig__files_utf8_clean(text, len, BRIG_FILES_GREP_LINE_MAX, &cut)))
                return -ENOMEM;
        if (cut && asprintf(&shown_text, "%s\xe2\x80\xa6", clean) < 0)
                return -ENOMEM;
        if (!(m = cJSON_CreateObject()))
                return -ENOMEM;
        cJSON_AddItemToArray(g->matches, m);
        if (!cJSON_AddStringToObject(m, "path", shown) ||
            !cJSON_AddNumberToObject(m, "line", (double) line) ||
            !cJSON_AddStringToObject(m, "text", shown_text ? shown_text : clean))
                return -ENOMEM;
        g->count++;
        return 0;
}

/* Searches fd, a file opened without following links; shown is its path in results. */
static int grep_file(grepper *g, int fd, const char *shown) {
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t len = 0;
        uint64_t line = 1;
        int r;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        if ((uint64_t) st.st_size > BRIG_FILES_GREP_MAX_FILE) {
                g->skipped++;
                return 0;
        }
        if ((uint64_t) st.st_size > g->bytes_left) {
                g->truncated = g->stop = true;
                return 0;
        }
        r = brig__files_read_all(fd, BRIG_FILES_GREP_MAX_FILE, &data, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                g->skipped++;
                return 0;
        }
        g->bytes_left -= len < g->bytes_left ? len : g->bytes_left;
        if (memchr(data, 0, len < GREP_BINARY_PROBE ? len : GREP_BINARY_PROBE)) {
                g->skipped++;
                return 0;
        }
        g->searched++;
        for (const char *p = data, *end = data + len; p < end; line++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                int rc = pcre2_match(g->re, (PCRE2_SPTR) p, n, 0, 0, g->md, g->mctx);

                if (rc >= 0) {
                        if (g->count >= g->max) {
                                g->truncated = g->stop = true;
                                return 0;
                        }
                        if ((r = add_match(g, shown, line, p, n)) < 0)
                                return r;
                } else if (rc != PCRE2_ERROR_NOMATCH)
                        return match_error(g, rc, shown, line);
                p = nl ? nl + 1 : end;
        }
        return 0;
}

static bool glob_accepts(const grepper *g, const char *rel, const char *name) {
        if (!g->glob)
                return true;
        if (g->glob_path)
                return brig__files_glob_match(g->glob, g->n_glob, rel);
        return fnmatch(g->glob[0], name, FNM_PERIOD) == 0;
}

/* Walks dfd; base is the search root as results show it, rel the path of dfd below it. */
static int grep_dir(grepper *g, int dfd, const char *base, const char *rel, unsigned depth) {
        brig__files_dirent *ents = NULL;
        size_t n = 0;
        int r;

        if (depth > BRIG_FILES_MAX_WALK_DEPTH) {
                g->truncated = true;
                return 0;
        }
        if ((r = brig__files_read_dir(dfd, &g->budget, &ents, &n, &g->truncated)) < 0)
                return r;
        for (size_t i = 0; i < n && !g->stop; i++) {
                _cleanup_free_ char *sub_rel = brig__files_join(rel, ents[i].name), *shown = NULL;
                _cleanup_close_ int fd = -1;

                if (!sub_rel) {
                        r = -ENOMEM;
                        break;
                }
                if (ents[i].type == DT_DIR) {
                        /* A repository's object store is compressed and its metadata is not what an
                         * agent searches for. */
                        if (strcmp(ents[i].name, ".git") == 0)
                                continue;
                        fd = openat(dfd, ents[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0 && (r = grep_dir(g, fd, base, sub_rel, depth + 1)) < 0)
                                break;
                        continue;
                }
                if (ents[i].type != DT_REG || !glob_accepts(g, sub_rel, ents[i].name))
                        continue;
                fd = openat(dfd, ents[i].name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (!(shown = brig__files_join(base, sub_rel))) {
                        r = -ENOMEM;
                        break;
                }
                if ((r = grep_file(g, fd, shown)) < 0)
                        break;
        }
        if (g->budget == 0)
                g->truncated = true;
        brig__files_dirents_free(ents, n);
        return r;
}

int brig__files_grep(const brig_files_ctx *ctx, const cJSON *args, cJSON **ret, brig_files_report *report,
                     brig_error *err) {
        static const char *const keys[] = {"pattern", "path", "glob", "ignore_case", "max_results", NULL};
        _cleanup_(pcre2_code_freep) pcre2_code *re = NULL;
        _cleanup_(pcre2_match_data_freep) pcre2_match_data *md = NULL;
        _cleanup_(pcre2_match_context_freep) pcre2_match_context *mctx = NULL;
        _cleanup_(pcre2_jit_stack_freep) pcre2_jit_stack *jit_stack = NULL;
        _cleanup_strv_free_ char **glob = NULL;
        _cleanup_json_ cJSON *res = NULL;
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int fd = -1;
        const char *pattern = NULL, *path = "", *glob_arg = NULL;
        uint64_t max = brig__files_max_results(ctx), want = max;
        bool ignore_case = false;
        size_t n_glob = 0, plen;
        PCRE2_SIZE erroffset = 0;
        int errcode = 0, r;
        struct stat st;
        grepper g;

        (void) report;
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "pattern", true, &pattern, err)) < 0 ||
            (r = brig__files_get_path(args, "path", false, &path, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "glob", false, &glob_arg, err)) < 0 ||
            (r = brig_json_get_bool(args, "arguments", "ignore_case", &ignore_case, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "max_results", UINT32_MAX, &want, err)) < 0)
                return r;
        if (want == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.max_results: must be at least 1");
        if (want < max)
                max = want;
        plen = strlen(pattern);
        if (plen > BRIG_FILES_MAX_PATTERN)
                return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                      "arguments.pattern: longer than %d bytes", BRIG_FILES_MAX_PATTERN);
        if (glob_arg && (r = brig__files_glob_split(glob_arg, "glob", &glob, &n_glob, err)) < 0)
                return r;

        re = pcre2_compile((PCRE2_SPTR) pattern, plen,
                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C |
                                   (ignore_case ? PCRE2_CASELESS : 0),
                           &errcode, &erroffset, NULL);
        if (!re) {
                char msg[128];
                if (pcre2_get_error_message(errcode, (PCRE2_UCHAR *) msg, sizeof(msg)) < 0)
                        (void) snprintf(msg, sizeof(msg), "error %d", errcode);
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.pattern: invalid regular expression at offset %zu: %s",
                                      (size_t) erroffset, msg);
        }
        /* JIT where the platform allows it; the interpreter otherwise. */
        (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        if (!(md = pcre2_match_data_create_from_pattern(re, NULL)) ||
            !(mctx = pcre2_match_context_create(NULL)))
                return brig_error_oom(err);
        (void) pcre2_set_match_limit(mctx, GREP_MATCH_LIMIT);
        (void) pcre2_set_depth_limit(mctx, GREP_DEPTH_LIMIT);
        (void) pcre2_set_heap_limit(mctx, GREP_HEAP_LIMIT_KIB);
        if ((jit_stack = pcre2_jit_stack_create(32 * 1024, GREP_JIT_STACK_MAX, NULL)))
                pcre2_jit_stack_assign(mctx, NULL, jit_stack);

        fd = brig_ws_open(ctx->root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return brig_ws_error(-errno, path, err);
        if (!(base = brig__files_display_path(path)) || !(res = cJSON_CreateObject()))
                return brig_error_oom(err);
        g = (grepper){.re = re,
                      .md = md,
                      .mctx = mctx,
                      .glob = glob,
                      .n_glob = n_glob,
                      .glob_path = glob_arg && strchr(glob_arg, '/'),
                      .max = max,
                      .budget = BRIG_FILES_MAX_SCAN,
                      .bytes_left = BRIG_FILES_GREP_MAX_BYTES,
                      .err = err};
        if (!(g.matches = cJSON_AddArrayToObject(res, "matches")))
                return brig_error_oom(err);
        if (S_ISDIR(st.st_mode))
                r = grep_dir(&g, fd, base, "", 0);
        else if (S_ISREG(st.st_mode))
                r = grep_file(&g, fd, base);
        else {
                char q[BRIG_WS_QUOTE_SIZE];
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "path '%s' is not a regular file or a directory",
                                      brig_ws_quote(path, q, sizeof(q)));
        }
        if (r < 0)
                return err && err->code == r ? r : brig_ws_error(r, path, err);
        if (!cJSON_AddBoolToObject(res, "truncated", g.truncated) ||
            !cJSON_AddNumberToObject(res, "files_searched", (double) g.searched) ||
            !cJSON_AddNumberToObject(res, "files_skipped", (double) g.skipped))
                return brig_error_oom(err);
        *ret = TAKE_PTR(res);
        return 0;
}
