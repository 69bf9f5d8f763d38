/* SPDX-License-Identifier: MIT */
/* The policy's sections for the layers above the jail: "tools" (tools/, worker/toolpool.c), "history"
 * (tools/history.c), "audit" (worker/audit.c) and "environment" (lifetimes of persistent environments,
 * worker/env.c). Pure: no file is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/json.h"
#include "sandbox/policy_internal.h"

const char *const brig_tool_names[] = {
        "exec",
        "process_list",
        "process_output",
        "process_write",
        "process_kill",
        "repl",
        "read_file",
        "write_file",
        "edit_file",
        "list_directory",
        "glob",
        "grep",
        "stat",
        "move",
        "remove",
        "make_directory",
        "snapshot",
        "history",
        "diff",
        "restore",
        "memory",
        "memory_history",
        "memory_restore",
        "memory_search",
        "memory_feedback",
        NULL,
};

void brig__policy_parse_environment(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"idle_stop", "retention", NULL};
        const cJSON *it;

        p->environment.idle_stop_ms = 60 * 60 * 1000ull;
        p->environment.retention_ms = 30 * 24 * 60 * 60 * 1000ull;
        if (sec && !brig__policy_check_type(c, "environment", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "environment", keys);
        if ((it = brig_json_member(sec, "idle_stop")))
                brig__policy_get_duration(c, "environment.idle_stop", it, 1000, 365 * 24 * 3600 * 1000ull,
                                          "1s to 365d", &p->environment.idle_stop_ms);
        if ((it = brig_json_member(sec, "retention")))
                brig__policy_get_duration(c, "environment.retention", it, 1000,
                                          10 * 365 * 24 * 3600 * 1000ull, "1s to 3650d",
                                          &p->environment.retention_ms);
        if (p->environment.retention_ms < p->environment.idle_stop_ms)
                (void) brig__policy_problem(c, "environment.retention",
                                            "must not be shorter than environment.idle_stop");
}

void brig__policy_explain_environment(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_ENVIRONMENT, "environment.idle_stop", NULL,
                               brig__policy_show_duration(p->environment.idle_stop_ms));
        brig__policy_value_add(v, BRIG__EXPLAIN_ENVIRONMENT, "environment.retention", NULL,
                               brig__policy_show_duration(p->environment.retention_ms));
}

static bool tool_name_ok(brig__policy_ctx *c, const char *path, const char *s) {
        char b[QUOTEBUF];
        for (size_t i = 0; brig_tool_names[i]; i++)
                if (strcmp(brig_tool_names[i], s) == 0)
                        return true;
        (void) brig__policy_problem(c, path, "unknown tool %s", brig__policy_quote(b, s));
        return false;
}

static bool exclude_ok(brig__policy_ctx *c, const char *path, const char *s) {
        if (s[0] && strlen(s) <= 255 && !strpbrk(s, "\n\r") && strcmp(s, "!") != 0)
                return true;
        (void) brig__policy_problem(c, path,
                                    "expected a gitignore-style pattern of 1 to 255 bytes on one line");
        return false;
}

void brig__policy_parse_tools(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"allow", "files", NULL};
        static const char *const file_keys[] = {"read_only",   "max_read", "max_write",
                                                "max_results", "fsync",    NULL};
        const cJSON *files, *it;

        p->tools.files.max_read = 16 * MIB;
        p->tools.files.max_write = 16 * MIB;
        p->tools.files.max_results = 1000;
        p->tools.files.fsync = true;
        if (sec && !brig__policy_check_type(c, "tools", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "tools", keys);
        if ((it = brig_json_member(sec, "allow")))
                p->tools.allow = brig__policy_get_strv(c, it, "tools.allow", 64, tool_name_ok);
        files = brig_json_member(sec, "files");
        if (files && !brig__policy_check_type(c, "tools.files", files, cJSON_IsObject(files), "an object"))
                return;
        brig__policy_check_keys(c, files, "tools.files", file_keys);
        brig__policy_get_bool(c, "tools.files.read_only", brig_json_member(files, "read_only"),
                              &p->tools.files.read_only);
        brig__policy_get_bool(c, "tools.files.fsync", brig_json_member(files, "fsync"),
                              &p->tools.files.fsync);
        if ((it = brig_json_member(files, "max_read")))
                (void) brig__policy_get_size(c, "tools.files.max_read", it, 1 * KIB, 1 * GIB, "1K to 1G",
                                             &p->tools.files.max_read);
        if ((it = brig_json_member(files, "max_write")))
                (void) brig__policy_get_size(c, "tools.files.max_write", it, 1 * KIB, 1 * GIB, "1K to 1G",
                                             &p->tools.files.max_write);
        if ((it = brig_json_member(files, "max_results")))
                brig__policy_get_int(c, "tools.files.max_results", it, 1, 100000,
                                     &p->tools.files.max_results);
}

void brig__policy_explain_tools(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_TOOLS, "tools.files.read_only", NULL,
                               brig__policy_show_bool(p->tools.files.read_only));
        brig__policy_value_add(v, BRIG__EXPLAIN_TOOLS, "tools.files.max_read", NULL,
                               brig__policy_show_size(p->tools.files.max_read));
        brig__policy_value_add(v, BRIG__EXPLAIN_TOOLS, "tools.files.max_write", NULL,
                               brig__policy_show_size(p->tools.files.max_write));
        brig__policy_value_add(v, BRIG__EXPLAIN_TOOLS, "tools.files.max_results", NULL,
                               brig__policy_show("%llu", (unsigned long long) p->tools.files.max_results));
        brig__policy_value_add(v, BRIG__EXPLAIN_TOOLS, "tools.files.fsync", NULL,
                               brig__policy_show_bool(p->tools.files.fsync));
}

void brig__policy_parse_history(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"auto_snapshot", "exclude", "max_file_size", NULL};
        const cJSON *it;

        p->history.max_file_size = 10 * MIB;
        if (sec && !brig__policy_check_type(c, "history", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "history", keys);
        brig__policy_get_bool(c, "history.auto_snapshot", brig_json_member(sec, "auto_snapshot"),
                              &p->history.auto_snapshot);
        if ((it = brig_json_member(sec, "exclude")))
                p->history.exclude = brig__policy_get_strv(c, it, "history.exclude", 256, exclude_ok);
        if ((it = brig_json_member(sec, "max_file_size")))
                (void) brig__policy_get_size(c, "history.max_file_size", it, 1, 1 * GIB, "1 byte to 1G",
                                             &p->history.max_file_size);
}

void brig__policy_explain_history(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_HISTORY, "history.auto_snapshot", NULL,
                               brig__policy_show_bool(p->history.auto_snapshot));
        brig__policy_value_add(v, BRIG__EXPLAIN_HISTORY, "history.max_file_size", NULL,
                               brig__policy_show_size(p->history.max_file_size));
}

/* "audit": what the trail records beyond what it always records (refusals, environments, denials). */
void brig__policy_parse_audit(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"file_reads", "max_string", NULL};
        const cJSON *it;

        p->audit.file_reads = true;
        p->audit.max_string = 1024;
        if (sec && !brig__policy_check_type(c, "audit", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "audit", keys);
        brig__policy_get_bool(c, "audit.file_reads", brig_json_member(sec, "file_reads"),
                              &p->audit.file_reads);
        if ((it = brig_json_member(sec, "max_string")))
                (void) brig__policy_get_size(c, "audit.max_string", it, 16, 64 * KIB, "16 bytes to 64K",
                                             &p->audit.max_string);
}

void brig__policy_explain_audit(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_AUDIT, "audit.file_reads", NULL,
                               brig__policy_show_bool(p->audit.file_reads));
        brig__policy_value_add(v, BRIG__EXPLAIN_AUDIT, "audit.max_string", NULL,
                               brig__policy_show("%llu", (unsigned long long) p->audit.max_string));
}

bool brig_policy_allows_tool(const brig_policy *p, const char *name) {
        /* memory.mode off hides the memory tools whatever tools.allow says. */
        if (p->memory.mode == BRIG_MEMORY_OFF && strncmp(name, "memory", 6) == 0)
                return false;
        if (!p->tools.allow)
                return true;
        for (char **t = p->tools.allow; *t; t++)
                if (strcmp(*t, name) == 0)
                        return true;
        return false;
}
