/* SPDX-License-Identifier: MIT */
/* The memory tools' MCP face: argument checks (errors name the field), the six commands of the memory
 * tool convention on top of the store, memory_history and memory_restore, and the texts the model reads.
 * What each tool is (schemas, description) is its entry in tools/registry.c. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "tools/memory_tool.h"
#include "tools/registry.h"

/* The convention's commands and the arguments each takes besides "command". */
static const struct {
        const char *name;
        bool writes;
        const char *const keys[6];
} commands[] = {
        {"view", false, {"command", "path", "view_range", "attribution", NULL}},
        {"create", true, {"command", "path", "file_text", NULL}},
        {"str_replace", true, {"command", "path", "old_str", "new_str", NULL}},
        {"insert", true, {"command", "path", "insert_line", "insert_text", NULL}},
        {"delete", true, {"command", "path", NULL}},
        {"rename", true, {"command", "old_path", "new_path", NULL}},
};

/* What the model reads of a shown string (old_str in an error): short and on one line's worth. */
#define SHOWN 64

bool brig_memory_is_tool(const char *name) {
        const brig_tool *t = name ? brig_tool_find(name) : NULL;
        return t && t->runner == BRIG_TOOL_RUN_MEMORY;
}

static int not_found(const char *shown, brig_error *err) {
        return brig_error_set(err, -ENOENT, BRIG_KIND_NOT_FOUND,
                              "The path %s does not exist. Please provide a valid path.", shown);
}

/* A /memories path argument: its scope path in buf. */
static int get_path(const cJSON *args, const char *key, bool required, const char **ret_shown,
                    char buf[static BRIG_MEMORY_MAX_PATH + 1], brig_error *err) {
        char field[32];
        int r;

        (void) snprintf(field, sizeof(field), "arguments.%s", key);
        if ((r = brig_json_get_string(args, "arguments", key, required, ret_shown, err)) < 0)
                return r;
        if (!*ret_shown)
                return 0;
        return brig_memory_path_parse(*ret_shown, field, buf, err);
}

static cJSON *result_new(const char *text) {
        cJSON *sc = cJSON_CreateObject();

        if (sc && !cJSON_AddStringToObject(sc, "result", text)) {
                cJSON_Delete(sc);
                return NULL;
        }
        return sc;
}

static int result_take(char *text, cJSON **ret_sc, brig_error *err) {
        _cleanup_free_ char *t = text;

        if (!t || !(*ret_sc = result_new(t)))
                return brig_error_oom(err);
        return 0;
}

static void human_size(uint64_t n, char buf[static 32]) {
        if (n < 1024)
                (void) snprintf(buf, 32, "%lluB", (unsigned long long) n);
        else if (n < 1024 * 1024)
                (void) snprintf(buf, 32, "%.1fK", (double) n / 1024);
        else
                (void) snprintf(buf, 32, "%.1fM", (double) n / (1024 * 1024));
}

/* The convention hides dot files and node_modules from a directory's view. */
static bool hidden(const char *path) {
        for (const char *c = path; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
                if (c[0] == '.' || strncmp(c, "node_modules", 12) == 0)
                        if (c[0] == '.' || c[12] == '/' || c[12] == 0)
                                return true;
        return false;
}

static int view_dir(brig_memory *m, const char *shown, const char *path, cJSON **ret_sc, brig_error *err) {
        _cleanup_json_ cJSON *list = NULL;
        char *text = NULL, size[32];
        uint64_t total;
        size_t len = 0;
        const cJSON *it;
        FILE *f;
        int r;

        if ((r = brig_memory_list(m, path, 2, &list, &total, err)) < 0)
                return r;
        if (!(f = open_memstream(&text, &len)))
                return brig_error_oom(err);
        human_size(total, size);
        (void) fprintf(f,
                       "Here're the files and directories up to 2 levels deep in %s, excluding hidden items "
                       "and node_modules:\n%s\t%s\n",
                       shown, size, shown);
        cJSON_ArrayForEach (it, list) {
                const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path"));
                const cJSON *sz = cJSON_GetObjectItemCaseSensitive(it, "size");
                if (!p || hidden(p))
                        continue;
                human_size((uint64_t) cJSON_GetNumberValue(sz), size);
                (void) fprintf(f, "%s\t/memories/%s%s\n", size, p,
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "dir")) ? "/" : "");
        }
        if (fclose(f) != 0) {
                free(text);
                return brig_error_oom(err);
        }
        return result_take(text, ret_sc, err);
}

/* The number of lines of text: a final newline ends the last line rather than starting one. */
static size_t count_lines(const char *text, size_t len) {
        size_t n = 0;

        for (size_t i = 0; i < len; i++)
                if (text[i] == '\n')
                        n++;
        return len && text[len - 1] != '\n' ? n + 1 : n;
}

/* Lines from..to (1-based, inclusive) of text, numbered like cat -n. */
static char *numbered(const char *header, const char *text, size_t len, size_t from, size_t to) {
        char *out = NULL;
        size_t size = 0, line = 1;
        FILE *f = open_memstream(&out, &size);

        if (!f)
                return NULL;
        (void) fputs(header, f);
        for (size_t i = 0; i < len && line <= to;) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t n = nl ? (size_t) (nl - (text + i)) : len - i;
                if (line >= from)
                        (void) fprintf(f, "%6zu\t%.*s\n", line, (int) n, text + i);
                i += n + 1;
                line++;
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

/* Appends text to sc's result. */
static int append_result(cJSON *sc, const char *text, brig_error *err) {
        const char *old = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sc, "result"));
        _cleanup_free_ char *joined = NULL;

        if (asprintf(&joined, "%s%s", old ? old : "", text) < 0) {
                joined = NULL;
                return brig_error_oom(err);
        }
        return cJSON_ReplaceItemInObjectCaseSensitive(sc, "result", cJSON_CreateString(joined))
                       ? 0
                       : brig_error_oom(err);
}

/* What view of a file adds to the convention's text: the feedback flags when others reported it wrong or
 * stale (always: a reader must not miss them), and with attribution: true who wrote which lines. */
static int view_extras(brig_memory *m, const cJSON *args, const char *path, size_t from, size_t to,
                       cJSON *sc, brig_error *err) {
        brig_memory_feedback_counts fb;
        bool attribution = false;
        int r;

        if ((r = brig_json_get_bool(args, "arguments", "attribution", &attribution, err)) < 0 ||
            (r = brig_memory_feedback_of(m, path, &fb, err)) < 0)
                return r;
        if (!brig_memory_add_flags(sc, &fb))
                return brig_error_oom(err);
        if (fb.wrong || fb.stale) {
                _cleanup_free_ char *note =
                        format("\n[feedback: reported wrong %u, stale %u, helpful %u time(s): "
                               "check before relying on it]\n",
                               fb.wrong, fb.stale, fb.helpful);
                if (!note)
                        return brig_error_oom(err);
                if ((r = append_result(sc, note, err)) < 0)
                        return r;
        }
        if (!attribution)
                return 0;

        _cleanup_json_ cJSON *hunks = NULL;
        char *text = NULL;
        size_t size = 0;
        const cJSON *it;
        FILE *f;
        if ((r = brig_memory_blame(m, path, from, to, &hunks, err)) < 0)
                return r;
        if (!(f = open_memstream(&text, &size)))
                return brig_error_oom(err);
        (void) fputs("\nWho wrote it:\n", f);
        cJSON_ArrayForEach (it, hunks) {
#define S(k) (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, k)) ?: "-")
#define N(k) ((size_t) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, k)))
                (void) fprintf(f, "lines %zu-%zu: version %.12s %s %s by environment %s (uid %s, call %s)\n",
                               N("start_line"), N("start_line") + N("lines") - 1, S("version"), S("time"),
                               S("command"), S("environment"), S("peer_uid"), S("call_id"));
#undef N
#undef S
        }
        if (fclose(f) != 0) {
                free(text);
                return brig_error_oom(err);
        }
        _cleanup_free_ char *t = text;
        if ((r = append_result(sc, t, err)) < 0)
                return r;
        return brig_json_add(sc, "attribution", TAKE_PTR(hunks)) ? 0 : brig_error_oom(err);
}

static int view_file(brig_memory *m, const cJSON *args, const char *shown, const char *path, cJSON **ret_sc,
                     brig_error *err) {
        const cJSON *range = brig_json_member(args, "view_range");
        _cleanup_free_ char *text = NULL, *header = NULL;
        size_t len, lines, from = 1, to;
        int r;

        if ((r = brig_memory_read(m, path, &text, &len, err)) < 0)
                return r == -ENOENT ? not_found(shown, err) : r;
        lines = count_lines(text, len);
        to = lines;
        if (range) {
                const cJSON *a = cJSON_GetArrayItem(range, 0), *b = cJSON_GetArrayItem(range, 1);
                if (!cJSON_IsArray(range) || cJSON_GetArraySize(range) != 2 || !cJSON_IsNumber(a) ||
                    !cJSON_IsNumber(b) || a->valuedouble != (double) a->valueint ||
                    b->valuedouble != (double) b->valueint)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.view_range: expected [start, end], two integers");
                if (a->valueint < 1 || (size_t) a->valueint > (lines ? lines : 1) ||
                    (b->valueint != -1 && (b->valueint < a->valueint || (size_t) b->valueint > lines)))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.view_range: [%d, %d] is outside the file's lines "
                                              "[1, %zu] (end -1: to the last line)",
                                              a->valueint, b->valueint, lines);
                from = (size_t) a->valueint;
                if (b->valueint != -1)
                        to = (size_t) b->valueint;
        }
        if (asprintf(&header, "Here's the content of %s with line numbers:\n", shown) < 0) {
                header = NULL;
                return brig_error_oom(err);
        }
        if ((r = result_take(numbered(header, text, len, from, to), ret_sc, err)) < 0)
                return r;
        return view_extras(m, args, path, from, range ? to : 0, *ret_sc, err);
}

static void report(brig_memory_report *rep, const char *command, const char *shown, const char *data,
                   size_t len, const char *version) {
        (void) snprintf(rep->command, sizeof(rep->command), "%s", command);
        (void) snprintf(rep->path, sizeof(rep->path), "%s", shown);
        (void) snprintf(rep->version, sizeof(rep->version), "%s", version);
        rep->bytes = data ? len : 0;
        rep->digest[0] = 0;
        if (data && brig_sha256_hex(data, len, rep->digest) < 0)
                rep->digest[0] = 0;
        rep->wrote = true;
}

/* Commits changes by this call and answers text with the new version. new_shown: a rename's destination,
 * else NULL. */
static int write_changes(brig_memory *m, const brig_memory_ctx *ctx, const char *command, const char *shown,
                         const char *new_shown, const brig_memory_change *changes, size_t n,
                         const char *data, size_t len, char *text, cJSON **ret_sc, brig_memory_report *rep,
                         brig_error *err) {
        _cleanup_free_ char *t = text;
        brig_memory_author who = {.environment = ctx->environment,
                                  .call_id = ctx->call_id,
                                  .peer_uid = ctx->peer_uid,
                                  .command = command,
                                  .path = shown,
                                  .new_path = new_shown};
        char id[41];
        int r;

        if (!t)
                return brig_error_oom(err);
        if ((r = brig_memory_commit(m, changes, n, &ctx->limits, &who, id, err)) < 0)
                return r;
        if (!(*ret_sc = result_new(t)) || !cJSON_AddStringToObject(*ret_sc, "version", id))
                return brig_error_oom(err);
        report(rep, command, shown, data, len, id);
        return 0;
}

static int cmd_create(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, const char *shown,
                      const char *path, cJSON **ret_sc, brig_memory_report *rep, brig_error *err) {
        const char *text = NULL;
        int r;

        if ((r = brig_json_get_string(args, "arguments", "file_text", true, &text, err)) < 0)
                return r;
        if (!*path)
                return brig_error_set(err, -EISDIR, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.path: name a file "
                                      "under /memories");
        if ((r = brig_memory_kind(m, path, err)) < 0)
                return r;
        if (r)
                return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT, "File %s already exists",
                                      shown);
        size_t len = strlen(text);
        brig_memory_change c = {.path = path, .data = text, .len = len};
        return write_changes(m, ctx, "create", shown, NULL, &c, 1, text, len,
                             format("File created successfully at: %s", shown), ret_sc, rep, err);
}

/* The lines (1-based) where needle starts in text, as "1, 3". */
static char *lines_of(const char *text, const char *needle) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        bool first = true;

        if (!f)
                return NULL;
        /* Lines counted once, from one match to the next: a file of many matches stays linear. */
        const char *c = text;
        size_t line = 1;
        for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
                for (; c < p; c++)
                        line += *c == '\n';
                (void) fprintf(f, "%s%zu", first ? "" : ", ", line);
                first = false;
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static int cmd_str_replace(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, const char *shown,
                           const char *path, cJSON **ret_sc, brig_memory_report *rep, brig_error *err) {
        const char *old_str = NULL, *new_str = NULL;
        _cleanup_free_ char *text = NULL, *out = NULL;
        size_t len;
        int r;

        if ((r = brig_json_get_string(args, "arguments", "old_str", true, &old_str, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "new_str", false, &new_str, err)) < 0)
                return r;
        if (!*old_str)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.old_str: must not be empty");
        if (!new_str)
                new_str = "";
        if ((r = brig_memory_read(m, path, &text, &len, err)) < 0)
                return r == -ENOENT ? not_found(shown, err) : r;
        const char *at = strstr(text, old_str);
        if (!at || strstr(at + 1, old_str)) {
                /* Most often another writer changed the file since the caller read it: the current text
                 * lets it try again without another call. */
                if ((*ret_sc = cJSON_CreateObject()))
                        (void) cJSON_AddStringToObject(*ret_sc, "current_text", text);
                if (!at)
                        return brig_error_set(
                                err, -ENOENT, BRIG_KIND_NOT_FOUND,
                                "No replacement was performed, old_str `%.*s%s` did not appear "
                                "verbatim in %s.",
                                SHOWN, old_str, strlen(old_str) > SHOWN ? "..." : "", shown);
                _cleanup_free_ char *where = lines_of(text, old_str);
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "No replacement was performed. Multiple occurrences of old_str `%.*s%s` "
                        "in lines: %s. Please ensure it is unique",
                        SHOWN, old_str, strlen(old_str) > SHOWN ? "..." : "", where ? where : "?");
        }
        size_t pre = (size_t) (at - text), ol = strlen(old_str), nl = strlen(new_str);
        size_t n = len - ol + nl;
        if (!(out = malloc(n + 1)))
                return brig_error_oom(err);
        memcpy(out, text, pre);
        memcpy(out + pre, new_str, nl);
        memcpy(out + pre + nl, at + ol, len - pre - ol + 1);
        brig_memory_change c = {.path = path, .data = out, .len = n};
        return write_changes(m, ctx, "str_replace", shown, NULL, &c, 1, out, n,
                             format("The memory file has been edited."), ret_sc, rep, err);
}

static int cmd_insert(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, const char *shown,
                      const char *path, cJSON **ret_sc, brig_memory_report *rep, brig_error *err) {
        _cleanup_free_ char *text = NULL, *out = NULL;
        const char *insert = NULL;
        uint64_t line = 0;
        size_t len, lines, off = 0;
        int r;

        if ((r = brig_json_get_string(args, "arguments", "insert_text", true, &insert, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "insert_line", UINT32_MAX, &line, err)) < 0)
                return r;
        if (!brig_json_member(args, "insert_line"))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.insert_line: required");
        if ((r = brig_memory_read(m, path, &text, &len, err)) < 0)
                return r == -ENOENT ? not_found(shown, err) : r;
        lines = count_lines(text, len);
        if (line > lines)
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "Invalid `insert_line` parameter: %llu. It should be within the range of "
                        "lines of the file: [0, %zu]",
                        (unsigned long long) line, lines);
        for (uint64_t i = 0; i < line; i++) {
                const char *nl = memchr(text + off, '\n', len - off);
                off = nl ? (size_t) (nl - text) + 1 : len;
        }
        /* After a last line without its newline, the inserted text starts a line of its own. */
        bool sep_before = off == len && len && text[len - 1] != '\n';
        size_t il = strlen(insert);
        bool sep_after = !sep_before && (!il || insert[il - 1] != '\n');
        size_t n = len + il + sep_before + sep_after;
        if (!(out = malloc(n + 1)))
                return brig_error_oom(err);
        char *p = out;
        memcpy(p, text, off), p += off;
        if (sep_before)
                *p++ = '\n';
        memcpy(p, insert, il), p += il;
        if (sep_after)
                *p++ = '\n';
        memcpy(p, text + off, len - off + 1);
        brig_memory_change c = {.path = path, .data = out, .len = n};
        return write_changes(m, ctx, "insert", shown, NULL, &c, 1, out, n,
                             format("The file %s has been edited.", shown), ret_sc, rep, err);
}

/* The files at or below path (shown: its /memories form), at least one. */
static int files_at(brig_memory *m, const char *path, const char *shown, char ***ret, size_t *ret_n,
                    brig_error *err) {
        size_t n = 0;
        int r;

        if ((r = brig_memory_files_below(m, path, ret, err)) < 0)
                return r;
        while ((*ret)[n])
                n++;
        *ret_n = n;
        return n ? 0 : not_found(shown, err);
}

static int cmd_delete(brig_memory *m, const brig_memory_ctx *ctx, const char *shown, const char *path,
                      cJSON **ret_sc, brig_memory_report *rep, brig_error *err) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ brig_memory_change *changes = NULL;
        size_t n = 0;
        int r;

        if (!*path)
                return brig_error_set(err, -EPERM, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.path: /memories itself cannot be deleted");
        if ((r = files_at(m, path, shown, &files, &n, err)) < 0)
                return r;
        if (!(changes = calloc(n, sizeof(*changes))))
                return brig_error_oom(err);
        for (size_t i = 0; i < n; i++)
                changes[i].path = files[i];
        return write_changes(m, ctx, "delete", shown, NULL, changes, n, NULL, 0,
                             format("Successfully deleted %s", shown), ret_sc, rep, err);
}

static int cmd_rename(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, cJSON **ret_sc,
                      brig_memory_report *rep, brig_error *err) {
        char from[BRIG_MEMORY_MAX_PATH + 1], to[BRIG_MEMORY_MAX_PATH + 1];
        const char *old_shown = NULL, *new_shown = NULL;
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ brig_memory_change *changes = NULL;
        size_t n = 0, fl;
        int r;

        if ((r = get_path(args, "old_path", true, &old_shown, from, err)) < 0 ||
            (r = get_path(args, "new_path", true, &new_shown, to, err)) < 0)
                return r;
        fl = strlen(from);
        if (!*from || !*to)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: /memories itself cannot be renamed or replaced");
        if (strncmp(to, from, fl) == 0 && (to[fl] == '/' || to[fl] == 0))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.new_path: must not be old_path or inside it");
        if ((r = brig_memory_kind(m, to, err)) < 0)
                return r;
        if (r)
                return brig_error_set(err, -EEXIST, BRIG_KIND_INVALID_ARGUMENT,
                                      "The destination %s already exists", new_shown);
        if ((r = files_at(m, from, old_shown, &files, &n, err)) < 0)
                return r;
        _cleanup_free_ char **data = calloc(n + 1, sizeof(char *));
        _cleanup_strv_free_ char **dest = calloc(n + 1, sizeof(char *));
        if (!(changes = calloc(2 * n, sizeof(*changes))) || !data || !dest)
                return brig_error_oom(err);
        for (size_t i = 0; i < n && r >= 0; i++) {
                size_t len;
                if (asprintf(&dest[i], "%s%s", to, files[i] + fl) < 0) {
                        dest[i] = NULL;
                        r = brig_error_oom(err);
                        break;
                }
                if ((r = brig_memory_read(m, files[i], &data[i], &len, err)) < 0)
                        break;
                changes[2 * i] = (brig_memory_change){.path = files[i]};
                changes[2 * i + 1] = (brig_memory_change){.path = dest[i], .data = data[i], .len = len};
        }
        if (r >= 0)
                r = write_changes(m, ctx, "rename", old_shown, new_shown, changes, 2 * n, NULL, 0,
                                  format("Successfully renamed %s to %s", old_shown, new_shown), ret_sc, rep,
                                  err);
        for (size_t i = 0; i < n; i++)
                free(data[i]);
        return r;
}

static int call_memory(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, cJSON **ret_sc,
                       brig_memory_report *rep, brig_error *err) {
        char path[BRIG_MEMORY_MAX_PATH + 1];
        const char *command = NULL, *shown = NULL;
        size_t i;
        int r;

        if ((r = brig_json_get_string(args, "arguments", "command", true, &command, err)) < 0)
                return r;
        for (i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(command, commands[i].name) == 0)
                        break;
        if (i == ELEMENTSOF(commands))
                return brig_error_set(
                        err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                        "arguments.command: expected view, create, str_replace, insert, delete "
                        "or rename");
        if ((r = brig_json_check_keys(args, "arguments", commands[i].keys, err)) < 0)
                return r;
        if (commands[i].writes && ctx->read_only)
                return brig_error_set(err, -EROFS, BRIG_KIND_DENIED,
                                      "the memory is read-only for this environment (policy memory.mode)");
        if (strcmp(command, "rename") == 0)
                return cmd_rename(m, args, ctx, ret_sc, rep, err);
        if ((r = get_path(args, "path", true, &shown, path, err)) < 0)
                return r;
        if (strcmp(command, "view") == 0) {
                if ((r = brig_memory_kind(m, path, err)) < 0)
                        return r;
                if (r == 0)
                        return not_found(shown, err);
                return r == 2 ? view_dir(m, shown, path, ret_sc, err)
                              : view_file(m, args, shown, path, ret_sc, err);
        }
        if (strcmp(command, "create") == 0)
                return cmd_create(m, args, ctx, shown, path, ret_sc, rep, err);
        if (strcmp(command, "str_replace") == 0)
                return cmd_str_replace(m, args, ctx, shown, path, ret_sc, rep, err);
        if (strcmp(command, "insert") == 0)
                return cmd_insert(m, args, ctx, shown, path, ret_sc, rep, err);
        return cmd_delete(m, ctx, shown, path, ret_sc, rep, err);
}

static int call_history(brig_memory *m, const cJSON *args, cJSON **ret_sc, brig_error *err) {
        static const char *const keys[] = {"path", NULL};
        char path[BRIG_MEMORY_MAX_PATH + 1] = "";
        _cleanup_json_ cJSON *res = NULL;
        const char *shown = NULL;
        char *text = NULL;
        size_t size = 0;
        const cJSON *it;
        FILE *f;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = get_path(args, "path", false, &shown, path, err)) < 0 ||
            (r = brig_memory_log(m, path, &res, err)) < 0)
                return r;
        if (!(f = open_memstream(&text, &size)))
                return brig_error_oom(err);
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "versions")) == 0)
                (void) fprintf(f, "No versions%s%s yet.\n", shown ? " of " : "", shown ? shown : "");
        cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(res, "versions")) {
#define S(k) (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, k)) ?: "-")
                (void) fprintf(f, "%.12s %s %s %s by environment %s (uid %s, call %s)\n", S("version"),
                               S("time"), S("command"), S("path"), S("environment"), S("peer_uid"),
                               S("call_id"));
#undef S
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "truncated")))
                (void) fputs("[older versions not shown]\n", f);
        if (fclose(f) != 0) {
                free(text);
                return brig_error_oom(err);
        }
        _cleanup_free_ char *t = text;
        if (!cJSON_AddStringToObject(res, "result", t))
                return brig_error_oom(err);
        *ret_sc = TAKE_PTR(res);
        return 0;
}

static int call_restore(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, cJSON **ret_sc,
                        brig_memory_report *rep, brig_error *err) {
        static const char *const keys[] = {"version", "path", NULL};
        char path[BRIG_MEMORY_MAX_PATH + 1] = "", from[41], id[41];
        const char *version = NULL, *shown = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "version", true, &version, err)) < 0 ||
            (r = get_path(args, "path", false, &shown, path, err)) < 0)
                return r;
        if (ctx->read_only)
                return brig_error_set(err, -EROFS, BRIG_KIND_DENIED,
                                      "the memory is read-only for this environment (policy memory.mode)");
        brig_memory_author who = {.environment = ctx->environment,
                                  .call_id = ctx->call_id,
                                  .peer_uid = ctx->peer_uid,
                                  .command = "restore",
                                  .path = shown ? shown : "/memories"};
        if ((r = brig_memory_restore(m, version, path, &ctx->limits, &who, from, id, err)) < 0)
                return r;
        if (!(text = format(
                      "Restored %s to version %.12s as the new version %.12s (nothing lost: the previous "
                      "version stays in memory_history)",
                      who.path, from, id)) ||
            !(*ret_sc = result_new(text)) || !cJSON_AddStringToObject(*ret_sc, "version", id) ||
            !cJSON_AddStringToObject(*ret_sc, "restored_from", from))
                return brig_error_oom(err);
        report(rep, "restore", who.path, NULL, 0, id);
        return 0;
}

static int call_search(brig_memory *m, const cJSON *args, cJSON **ret_sc, brig_error *err) {
        static const char *const keys[] = {"query", "limit", NULL};
        _cleanup_json_ cJSON *res = cJSON_CreateObject(), *hits = NULL;
        const char *query = NULL;
        uint64_t limit = 10;
        char *text = NULL;
        size_t size = 0;
        cJSON *it;
        FILE *f;
        int r;

        if (!res)
                return brig_error_oom(err);
        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "query", true, &query, err)) < 0 ||
            (r = brig_json_get_u64(args, "arguments", "limit", BRIG_MEMORY_MAX_RESULTS, &limit, err)) < 0)
                return r;
        if ((r = brig_memory_search(m, query, (unsigned) limit, &hits, err)) < 0)
                return r;
        if (!(f = open_memstream(&text, &size)))
                return brig_error_oom(err);
        if (!cJSON_GetArraySize(hits))
                (void) fputs("No memory matches.\n", f);
        cJSON_ArrayForEach (it, hits) {
                cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
                const cJSON *flags = cJSON_GetObjectItemCaseSensitive(it, "flags");
                _cleanup_free_ char *shown = format("/memories/%s", cJSON_GetStringValue(p));
                if (!shown || !cJSON_SetValuestring(p, shown)) {
                        (void) fclose(f);
                        free(text);
                        return brig_error_oom(err);
                }
                (void) fprintf(f, "%s (line %d)", shown,
                               (int) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "line")));
                for (int i = 0; i < cJSON_GetArraySize(flags); i++)
                        (void) fprintf(f, "%s%s", i ? ", " : " [reported ",
                                       cJSON_GetStringValue(cJSON_GetArrayItem(flags, i)));
                (void) fprintf(f, "%s\n%s\n\n", flags ? "]" : "",
                               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "text")));
        }
        if (fclose(f) != 0) {
                free(text);
                return brig_error_oom(err);
        }
        _cleanup_free_ char *t = text;
        if (!cJSON_AddStringToObject(res, "result", t) || !brig_json_add(res, "results", TAKE_PTR(hits)))
                return brig_error_oom(err);
        *ret_sc = TAKE_PTR(res);
        return 0;
}

static int call_feedback(brig_memory *m, const cJSON *args, const brig_memory_ctx *ctx, cJSON **ret_sc,
                         brig_memory_report *rep, brig_error *err) {
        static const char *const keys[] = {"path", "outcome", "note", NULL};
        char path[BRIG_MEMORY_MAX_PATH + 1], id[41];
        const char *shown = NULL, *outcome = NULL, *note = NULL;
        _cleanup_free_ char *line = NULL;
        int r;

        if ((r = brig_json_check_keys(args, "arguments", keys, err)) < 0 ||
            (r = get_path(args, "path", true, &shown, path, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "outcome", true, &outcome, err)) < 0 ||
            (r = brig_json_get_string(args, "arguments", "note", false, &note, err)) < 0)
                return r;
        if (note && strlen(note) > BRIG_MEMORY_MAX_NOTE)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments.note: longer than %u bytes", BRIG_MEMORY_MAX_NOTE);
        if (ctx->read_only)
                return brig_error_set(err, -EROFS, BRIG_KIND_DENIED,
                                      "the memory is read-only for this environment (policy memory.mode)");
        /* The note is one line of the version's message: it can never pass for a trailer of its own. */
        if (note && !(line = strdup(note)))
                return brig_error_oom(err);
        for (char *c = line; c && *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = ' ';
        brig_memory_author who = {.environment = ctx->environment,
                                  .call_id = ctx->call_id,
                                  .peer_uid = ctx->peer_uid,
                                  .command = "feedback",
                                  .path = shown,
                                  .feedback = outcome,
                                  .note = line};
        if ((r = brig_memory_feedback(m, path, &who, id, err)) < 0)
                return r == -ENOENT ? not_found(shown, err) : r;
        _cleanup_free_ char *text =
                format("Recorded %s feedback on %s as version %.12s.", outcome, shown, id);
        if (!text || !(*ret_sc = result_new(text)) || !cJSON_AddStringToObject(*ret_sc, "version", id))
                return brig_error_oom(err);
        report(rep, "feedback", shown, line, line ? strlen(line) : 0, id);
        return 0;
}

int brig_memory_call(brig_memory *m, const char *tool, const cJSON *args, const brig_memory_ctx *ctx,
                     cJSON **ret_sc, brig_memory_report *rep, brig_error *err) {
        _cleanup_json_ cJSON *empty = NULL;
        int r;

        assert(m && tool && ctx && ret_sc && rep);
        *ret_sc = NULL;
        *rep = (brig_memory_report){0};
        if ((r = brig_json_tool_arguments(&args, &empty, err)) < 0)
                return r;
        if (strcmp(tool, "memory_history") == 0)
                return call_history(m, args, ret_sc, err);
        /* Writers of one scope take turns: a read-modify-write (str_replace, insert) sees the latest text,
         * and the search index (which a search or view may have to catch up) has one writer. */
        if ((r = brig_memory_lock(m, err)) < 0)
                return r;
        if (strcmp(tool, "memory_restore") == 0)
                r = call_restore(m, args, ctx, ret_sc, rep, err);
        else if (strcmp(tool, "memory_search") == 0)
                r = call_search(m, args, ret_sc, err);
        else if (strcmp(tool, "memory_feedback") == 0)
                r = call_feedback(m, args, ctx, ret_sc, rep, err);
        else
                r = call_memory(m, args, ctx, ret_sc, rep, err);
        brig_memory_unlock(m);
        return r;
}
