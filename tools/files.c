/* SPDX-License-Identifier: MIT */
/* The file tools' contract: names, published schemas, the dispatcher that applies the read-only policy and
 * fills the audit report, and the text rendering of results. The tools live in files_*.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files.h"
#include "tools/files_internal.h"
#include "tools/wspath.h"

typedef struct tool {
        const char *name;
        bool mutates;
        brig__files_tool_fn fn;
        const char *description;
        const char *schema;
} tool;

static const char read_file_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"File path relative to the "
        "workspace root\"},\"offset\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"First line "
        "to return, counting from 1\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,"
        "\"description\":\"Number of lines to return\"},\"line_numbers\":{\"type\":\"boolean\","
        "\"description\":\"Prefix each line with its number and a tab, like cat -n\"},"
        "\"encoding\":{\"enum\":[\"utf8\",\"base64\"],\"description\":\"Default: utf8 for text, base64 "
        "for binary files\"}}}";

static const char write_file_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\",\"content\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"File path relative to the "
        "workspace root\"},\"content\":{\"type\":\"string\",\"description\":\"The new content\"},"
        "\"encoding\":{\"enum\":[\"utf8\",\"base64\"],\"description\":\"How content is encoded "
        "(default utf8)\"},\"mode\":{\"type\":[\"string\",\"integer\"],\"description\":\"Permissions "
        "as an octal string such as \\\"0644\\\" (a number is taken as is: 420 is 0644); default: kept "
        "for an existing file, 0644 for a new one\"},\"create_parents\":{\"type\":\"boolean\","
        "\"description\":\"Create missing parent directories (default true)\"}}}";

static const char edit_file_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\",\"edits\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"File path relative to the "
        "workspace root\"},\"edits\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":100,"
        "\"items\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"old_text\","
        "\"new_text\"],\"properties\":{\"old_text\":{\"type\":\"string\",\"minLength\":1,"
        "\"description\":\"Exact text to find\"},\"new_text\":{\"type\":\"string\","
        "\"description\":\"Replacement\"},\"replace_all\":{\"type\":\"boolean\","
        "\"description\":\"Replace every match instead of requiring exactly one\"}}}},"
        "\"dry_run\":{\"type\":\"boolean\",\"description\":\"Return the diff without writing\"}}}";

static const char list_directory_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"Directory relative to the "
        "workspace root (default: the root)\"},\"depth\":{\"type\":\"integer\",\"minimum\":1,"
        "\"maximum\":10,\"description\":\"Levels to descend (default 1: the directory's own "
        "entries)\"}}}";

static const char glob_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"pattern\"],"
        "\"properties\":{\"pattern\":{\"type\":\"string\",\"description\":\"Glob pattern such as "
        "\\\"src/**/*.c\\\"\"},\"path\":{\"type\":\"string\",\"description\":\"Directory to match "
        "under (default: the workspace root)\"}}}";

static const char grep_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"pattern\"],"
        "\"properties\":{\"pattern\":{\"type\":\"string\",\"description\":\"Regular expression "
        "(PCRE2)\"},\"path\":{\"type\":\"string\",\"description\":\"File or directory to search "
        "(default: the workspace root)\"},\"glob\":{\"type\":\"string\",\"description\":\"Only files "
        "whose name (or, when it contains a /, whose path below path) matches this glob\"},"
        "\"ignore_case\":{\"type\":\"boolean\"},\"max_results\":{\"type\":\"integer\",\"minimum\":1,"
        "\"description\":\"At most this many matching lines (capped by the policy)\"}}}";

static const char stat_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"Path relative to the "
        "workspace root\"}}}";

static const char move_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"from\",\"to\"],"
        "\"properties\":{\"from\":{\"type\":\"string\",\"description\":\"Existing path\"},"
        "\"to\":{\"type\":\"string\",\"description\":\"New path (its parent must exist)\"},"
        "\"overwrite\":{\"type\":\"boolean\",\"description\":\"Replace an existing destination "
        "(default false)\"}}}";

static const char remove_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"Path relative to the "
        "workspace root\"},\"recursive\":{\"type\":\"boolean\",\"description\":\"Remove a directory "
        "and everything in it\"}}}";

static const char make_directory_schema[] =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\"],"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"Directory path relative to "
        "the workspace root\"},\"parents\":{\"type\":\"boolean\",\"description\":\"Create missing "
        "parents (default true)\"}}}";

static const tool tools[] = {
        {"read_file", false, brig__files_read_file,
         "Read a file of the workspace. Text comes back as is (optionally a line range, optionally "
         "numbered like cat -n); binary files come back base64-encoded with encoding \"base64\". Files "
         "over the policy's read limit must be read by line range.",
         read_file_schema},
        {"write_file", true, brig__files_write_file,
         "Create or replace a file atomically (a temporary file renamed into place). Never writes "
         "through a symbolic link. Missing parent directories are created unless create_parents is "
         "false.",
         write_file_schema},
        {"edit_file", true, brig__files_edit_file,
         "Replace exact text in a file. Each edit's old_text must match exactly once (or set "
         "replace_all); edits apply in order, all or none, and the result is a unified diff. dry_run "
         "shows the diff without writing.",
         edit_file_schema},
        {"list_directory", false, brig__files_list_directory,
         "List a directory of the workspace (default: the root) to the given depth, sorted by name "
         "within each directory. Symbolic links are listed, never followed.",
         list_directory_schema},
        {"glob", false, brig__files_glob,
         "Find paths matching a glob pattern: * ? and [...] match within a path component, ** matches "
         "any number of directories; names starting with a dot only match a pattern that starts with "
         "one. Results are sorted and bounded; symbolic links to directories are not followed.",
         glob_schema},
        {"grep", false, brig__files_grep,
         "Search file contents with a regular expression (PCRE2 syntax), line by line. Binary files, "
         ".git directories and files over 16 MiB are skipped; results are bounded.",
         grep_schema},
        {"stat", false, brig__files_stat,
         "Describe a path: type, size, permissions, modification time and, for a symbolic link, its "
         "target (the link itself is described, not what it points to).",
         stat_schema},
        {"move", true, brig__files_move,
         "Rename or move a file or directory within the workspace. Fails if the destination exists "
         "unless overwrite is true.",
         move_schema},
        {"remove", true, brig__files_remove,
         "Remove a file, a symbolic link (not its target) or a directory (recursive is required unless "
         "it is empty).",
         remove_schema},
        {"make_directory", true, brig__files_make_directory,
         "Create a directory; missing parents are created too unless parents is false. An existing "
         "directory is not an error.",
         make_directory_schema},
};

static const tool *find_tool(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(tools); i++)
                if (strcmp(tools[i].name, name) == 0)
                        return &tools[i];
        return NULL;
}

bool brig_files_is_tool(const char *name) {
        return find_tool(name) != NULL;
}

bool brig_files_tool_mutates(const char *name) {
        const tool *t = find_tool(name);
        return t && t->mutates;
}

void brig_files_report_done(brig_files_report *r) {
        if (!r)
                return;
        free(r->path);
        *r = (brig_files_report){0};
}

cJSON *brig_files_tool_list(void) {
        _cleanup_json_ cJSON *list = cJSON_CreateArray();

        if (!list)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                cJSON *t = cJSON_CreateObject(), *schema;

                if (!t)
                        return NULL;
                cJSON_AddItemToArray(list, t);
                schema = cJSON_Parse(tools[i].schema);
                if (!schema)
                        return NULL;
                if (!cJSON_AddStringToObject(t, "name", tools[i].name) ||
                    !cJSON_AddStringToObject(t, "description", tools[i].description) ||
                    !cJSON_AddItemToObject(t, "inputSchema", schema)) {
                        cJSON_Delete(schema);
                        return NULL;
                }
        }
        return TAKE_PTR(list);
}

/* The audit path: the path argument as given, "from -> to" for move. */
static int report_path(const char *tool_name, const cJSON *args, brig_files_report *report) {
        const cJSON *path = brig_json_member(args, "path"), *from = brig_json_member(args, "from"),
                    *to = brig_json_member(args, "to");

        free(report->path);
        report->path = NULL;
        if (strcmp(tool_name, "move") == 0) {
                if (cJSON_IsString(from) && cJSON_IsString(to) &&
                    asprintf(&report->path, "%s -> %s", from->valuestring, to->valuestring) < 0) {
                        report->path = NULL;
                        return -ENOMEM;
                }
                return 0;
        }
        if (cJSON_IsString(path) && !(report->path = strdup(path->valuestring)))
                return -ENOMEM;
        if (!path && !(report->path = strdup("")))
                return -ENOMEM;
        return 0;
}

int brig_files_call(const char *tool_name, const brig_files_ctx *ctx, const cJSON *args, cJSON **ret_result,
                    brig_files_report *report, brig_error *err) {
        _cleanup_(brig_files_report_done) brig_files_report own = {0};
        _cleanup_json_ cJSON *empty = NULL;
        const tool *t = find_tool(tool_name);
        char q[BRIG_WS_QUOTE_SIZE];
        bool dry_run = false;
        int r;

        assert(ctx && ret_result);
        if (err)
                *err = (brig_error) BRIG_ERROR_INIT;
        if (!report)
                report = &own;
        if (!t)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "unknown tool '%s'",
                                      brig_ws_quote(tool_name ? tool_name : "", q, sizeof(q)));
        if (!args) {
                if (!(empty = cJSON_CreateObject()))
                        return -ENOMEM;
                args = empty;
        }
        if (!cJSON_IsObject(args))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "arguments: expected an object, got %s", brig_json_type_name(args));
        if (report_path(t->name, args, report) < 0)
                return brig_error_set(err, -ENOMEM, BRIG_KIND_INTERNAL, "out of memory");
        if (strcmp(t->name, "edit_file") == 0)
                dry_run = cJSON_IsTrue(brig_json_member(args, "dry_run"));
        report->mutating = t->mutates && !dry_run;
        if (report->mutating && ctx->read_only)
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED,
                                      "%s: the policy makes the workspace read-only", t->name);
        r = t->fn(ctx, args, ret_result, report, err);
        if (r == -ENOMEM && err && err->code != -ENOMEM)
                return brig_error_set(err, r, BRIG_KIND_INTERNAL, "out of memory");
        if (r < 0 && err && err->code == 0)
                return brig_error_set_errno(err, r, BRIG_KIND_INTERNAL, "%s", t->name);
        return r;
}

/* Text renderings. */

static const char *str_member(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsString(it) ? it->valuestring : "";
}

static double num_member(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

static int append_str(brig_buf *b, const char *s) {
        return brig_buf_append(b, s, strlen(s));
}

static int render(const char *tool_name, const cJSON *res, brig_buf *b) {
        const char *path = str_member(res, "path");
        const cJSON *it;
        int r = 0;

        if (strcmp(tool_name, "read_file") == 0) {
                if (strcmp(str_member(res, "encoding"), "base64") == 0)
                        return brig_buf_appendf(
                                b, "[binary file '%s', %.0f bytes; base64 in structuredContent]", path,
                                num_member(res, "size"));
                r = append_str(b, str_member(res, "content"));
                if (r >= 0 && cJSON_IsTrue(brig_json_member(res, "truncated")))
                        r = append_str(b, "\n[more lines follow]");
                return r;
        }
        if (strcmp(tool_name, "write_file") == 0)
                return brig_buf_appendf(b, "%s %.0f bytes to '%s'",
                                        cJSON_IsTrue(brig_json_member(res, "created")) ? "created, wrote"
                                                                                       : "wrote",
                                        num_member(res, "bytes"), path);
        if (strcmp(tool_name, "edit_file") == 0) {
                const char *diff = str_member(res, "diff");
                bool applied = cJSON_IsTrue(brig_json_member(res, "applied"));
                if (!diff[0])
                        return brig_buf_appendf(b, "no change to '%s'", path);
                r = append_str(b, diff);
                if (r >= 0 && !applied)
                        r = append_str(b, "[dry run: not written]\n");
                return r;
        }
        if (strcmp(tool_name, "list_directory") == 0) {
                cJSON_ArrayForEach (it, brig_json_member(res, "entries")) {
                        bool dir = strcmp(str_member(it, "type"), "directory") == 0;
                        bool link = strcmp(str_member(it, "type"), "symlink") == 0;
                        if ((r = brig_buf_appendf(b, "%s%s\n", str_member(it, "path"),
                                                  dir    ? "/"
                                                  : link ? "@"
                                                         : "")) < 0)
                                return r;
                }
        } else if (strcmp(tool_name, "glob") == 0) {
                cJSON_ArrayForEach (it, brig_json_member(res, "matches"))
                        if ((r = brig_buf_appendf(b, "%s\n", cJSON_IsString(it) ? it->valuestring : "")) < 0)
                                return r;
        } else if (strcmp(tool_name, "grep") == 0) {
                cJSON_ArrayForEach (it, brig_json_member(res, "matches"))
                        if ((r = brig_buf_appendf(b, "%s:%.0f:%s\n", str_member(it, "path"),
                                                  num_member(it, "line"), str_member(it, "text"))) < 0)
                                return r;
        } else if (strcmp(tool_name, "stat") == 0) {
                r = brig_buf_appendf(b, "%s: %s, %.0f bytes, mode %s, modified %s", path[0] ? path : ".",
                                     str_member(res, "type"), num_member(res, "size"),
                                     str_member(res, "mode"), str_member(res, "mtime"));
                if (r >= 0 && brig_json_member(res, "link_target"))
                        r = brig_buf_appendf(b, ", -> %s", str_member(res, "link_target"));
                return r;
        } else if (strcmp(tool_name, "move") == 0)
                return brig_buf_appendf(b, "moved '%s' to '%s'", str_member(res, "from"),
                                        str_member(res, "to"));
        else if (strcmp(tool_name, "remove") == 0)
                return brig_buf_appendf(b, "removed '%s' (%.0f entries)", path, num_member(res, "removed"));
        else if (strcmp(tool_name, "make_directory") == 0)
                return brig_buf_appendf(b,
                                        cJSON_IsTrue(brig_json_member(res, "created"))
                                                ? "created directory '%s'"
                                                : "directory '%s' exists",
                                        path);
        if (cJSON_IsTrue(brig_json_member(res, "truncated")))
                r = append_str(b, "[truncated: more results than the limit]\n");
        return r;
}

char *brig_files_result_text(const char *tool_name, const cJSON *result) {
        brig_buf b = {0};

        if (render(tool_name, result, &b) < 0) {
                brig_buf_done(&b);
                return NULL;
        }
        return b.data ? b.data : strdup("");
}
