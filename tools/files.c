/* SPDX-License-Identifier: MIT */
/* The file tools' dispatcher that applies the read-only policy and fills the audit report, and the text
 * rendering of results. The tools live in files_*.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "tools/files.h"
#include "tools/files_internal.h"
#include "tools/registry.h"
#include "tools/wspath.h"

/* Each tool's handler; what the tool is (schemas, whether it changes the workspace) is its entry in the tool
 * registry (tools/registry.h). */
typedef struct tool {
        const char *name;
        brig__files_tool_fn fn;
} tool;

static const tool tools[] = {
        {"read_file", brig__files_read_file}, {"write_file", brig__files_write_file},
        {"edit_file", brig__files_edit_file}, {"list_directory", brig__files_list_directory},
        {"glob", brig__files_glob},           {"grep", brig__files_grep},
        {"stat", brig__files_stat},           {"move", brig__files_move},
        {"remove", brig__files_remove},       {"make_directory", brig__files_make_directory},
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
        const brig_tool *t = find_tool(name) ? brig_tool_find(name) : NULL;
        return t && (t->flags & BRIG_TOOL_MUTATES);
}

void brig_files_report_done(brig_files_report *r) {
        if (!r)
                return;
        free(r->path);
        *r = (brig_files_report){0};
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
        if ((r = brig_json_tool_arguments(&args, &empty, err)) < 0)
                return r;
        if (report_path(t->name, args, report) < 0)
                return brig_error_oom(err);
        if (strcmp(t->name, "edit_file") == 0)
                dry_run = cJSON_IsTrue(brig_json_member(args, "dry_run"));
        report->mutating = brig_files_tool_mutates(t->name) && !dry_run;
        if (report->mutating && ctx->read_only)
                return brig_error_set(err, -EPERM, BRIG_KIND_DENIED,
                                      "%s: the policy makes the workspace read-only", t->name);
        return t->fn(ctx, args, ret_result, report, err);
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
