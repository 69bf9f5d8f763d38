/* SPDX-License-Identifier: MIT */
/* The history's MCP face: the snapshot, history, diff and restore tools' argument validation
 * (errors name the field) and the text shown to the model. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "tools/history.h"

/* The history's tools; what each is (schemas, description) is its entry in tools/registry.c. */
static const char *const tool_names[] = {"snapshot", "history", "diff", "restore"};

bool brig_history_is_tool(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(tool_names); i++)
                if (strcmp(name, tool_names[i]) == 0)
                        return true;
        return false;
}

/* An optional path argument; "" means the whole workspace, like leaving it out. */
static int get_path(const cJSON *args, const char **ret, brig_error *err) {
        int r = brig_json_get_string(args, "arguments", "path", false, ret, err);

        if (r >= 0 && *ret && !**ret)
                *ret = NULL;
        return r;
}

int brig_history_call(brig_history *h, const char *tool, const cJSON *args, const char *call_id,
                      cJSON **ret_result, brig_error *err) {
        static const char *const snapshot_keys[] = {"message", NULL},
                                 *const history_keys[] = {"limit", "path", NULL},
                                 *const diff_keys[] = {"from", "to", "path", NULL},
                                 *const restore_keys[] = {"snapshot", "path", NULL};
        const char *message = NULL, *path = NULL, *from = NULL, *to = NULL, *snapshot = NULL;
        _cleanup_json_ cJSON *empty = NULL;
        uint64_t limit = 0;
        int r;

        assert(h && tool && ret_result);
        if ((r = brig_json_tool_arguments(&args, &empty, err)) < 0)
                return r;
        if (strcmp(tool, "snapshot") == 0) {
                if ((r = brig_json_check_keys(args, "arguments", snapshot_keys, err)) < 0 ||
                    (r = brig_json_get_string(args, "arguments", "message", false, &message, err)) < 0)
                        return r;
                if (message && strlen(message) > BRIG_HISTORY_MAX_MESSAGE)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                              "arguments.message: longer than %u bytes",
                                              BRIG_HISTORY_MAX_MESSAGE);
                return brig_history_snapshot(h, message, call_id, "snapshot", ret_result, err);
        }
        if (strcmp(tool, "history") == 0) {
                if ((r = brig_json_check_keys(args, "arguments", history_keys, err)) < 0 ||
                    (r = brig_json_get_u64(args, "arguments", "limit", BRIG_HISTORY_MAX_LIMIT, &limit,
                                           err)) < 0 ||
                    (r = get_path(args, &path, err)) < 0)
                        return r;
                if (brig_json_member(args, "limit") && limit == 0)
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "arguments.limit: must be at least 1");
                return brig_history_log(h, (unsigned) limit, path, ret_result, err);
        }
        if (strcmp(tool, "diff") == 0) {
                if ((r = brig_json_check_keys(args, "arguments", diff_keys, err)) < 0 ||
                    (r = brig_json_get_string(args, "arguments", "from", false, &from, err)) < 0 ||
                    (r = brig_json_get_string(args, "arguments", "to", false, &to, err)) < 0 ||
                    (r = get_path(args, &path, err)) < 0)
                        return r;
                return brig_history_diff(h, from, to, path, ret_result, err);
        }
        if (strcmp(tool, "restore") == 0) {
                if ((r = brig_json_check_keys(args, "arguments", restore_keys, err)) < 0 ||
                    (r = brig_json_get_string(args, "arguments", "snapshot", true, &snapshot, err)) < 0 ||
                    (r = get_path(args, &path, err)) < 0)
                        return r;
                return brig_history_restore(h, snapshot, path, call_id, ret_result, err);
        }
        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "unknown tool \"%.64s\"", tool);
}

static const char *str(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double num(const cJSON *o, const char *key) {
        const cJSON *it = brig_json_member(o, key);
        return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

static int history_text(const cJSON *result, brig_buf *b) {
        const cJSON *list = brig_json_member(result, "snapshots"), *it;
        int r;

        if (cJSON_GetArraySize(list) == 0)
                return brig_buf_appendf(b, "No snapshots.");
        cJSON_ArrayForEach (it, list) {
                const char *msg = str(it, "message") ? str(it, "message") : "", *tool = str(it, "tool"),
                           *call = str(it, "call_id");
                int line = (int) strcspn(msg, "\n");
                unsigned files = (unsigned) num(it, "files_changed");

                r = brig_buf_appendf(b, "%s%.12s %s %.*s (%u file%s changed%s%s%s%s)", b->len ? "\n" : "",
                                     str(it, "id") ? str(it, "id") : "",
                                     str(it, "time") ? str(it, "time") : "", line, msg, files,
                                     files == 1 ? "" : "s", tool ? ", " : "", tool ? tool : "",
                                     call ? " call " : "", call ? call : "");
                if (r < 0)
                        return r;
        }
        if (cJSON_IsTrue(brig_json_member(result, "truncated")))
                return brig_buf_appendf(b, "\n[only the latest %u snapshots were searched]",
                                        BRIG_HISTORY_MAX_SCAN);
        return 0;
}

char *brig_history_result_text(const char *tool, const cJSON *result) {
        brig_buf b = {0};
        unsigned files = (unsigned) num(result, "files_changed");
        const char *id = str(result, "id") ? str(result, "id") : "";
        int r;

        if (!tool)
                tool = "";
        if (strcmp(tool, "snapshot") == 0) {
                if (cJSON_IsTrue(brig_json_member(result, "created")))
                        r = brig_buf_appendf(&b, "Snapshot %.12s (%u file%s changed): %s", id, files,
                                             files == 1 ? "" : "s",
                                             str(result, "message") ? str(result, "message") : "");
                else
                        r = brig_buf_appendf(&b, "No changes since snapshot %.12s.", id);
        } else if (strcmp(tool, "history") == 0) {
                r = history_text(result, &b);
        } else if (strcmp(tool, "diff") == 0) {
                const char *diff = str(result, "diff");
                if (!diff || !diff[0])
                        r = brig_buf_appendf(&b, "No differences.");
                else
                        r = brig_buf_appendf(&b, "%s%s", diff,
                                             cJSON_IsTrue(brig_json_member(result, "truncated"))
                                                     ? "\n[diff truncated; narrow it down with path]"
                                                     : "");
        } else if (strcmp(tool, "restore") == 0) {
                const char *path = str(result, "path");
                r = brig_buf_appendf(
                        &b,
                        "Restored %s%s%s to snapshot %.12s; recorded as snapshot %.12s (%u file%s changed). "
                        "The state before the restore is snapshot %.12s.",
                        path ? "\"" : "the workspace", path ? path : "", path ? "\"" : "",
                        str(result, "restored_from") ? str(result, "restored_from") : "", id, files,
                        files == 1 ? "" : "s", str(result, "previous") ? str(result, "previous") : "");
        } else {
                _cleanup_free_ char *s = cJSON_PrintUnformatted(result);
                r = s ? brig_buf_appendf(&b, "%s", s) : -ENOMEM;
        }
        if (r < 0 || !b.data) {
                brig_buf_done(&b);
                return NULL;
        }
        return b.data;
}
