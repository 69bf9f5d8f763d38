/* SPDX-License-Identifier: MIT */
/* The policy's "memory" section: which memory scope an environment's agent reaches through the memory tool
 * (tools/memory_store.h), whether it may change it, and the scope's bounds. The scope is the operator's
 * choice in the policy: an agent cannot name itself into another scope. Pure: no file is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/json.h"
#include "sandbox/policy_internal.h"

static const char *const scope_names[] = {"owner", "environment"};
static const char *const mode_names[] = {"read_write", "read_only", "off"};

/* A named scope is a directory name of brigd's state directory: one short lowercase word, no dots first. */
static bool scope_name_ok(const char *s) {
        size_t n = strlen(s);

        if (n < 1 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
                        return false;
        return true;
}

static void parse_scope(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        if (!cJSON_IsString(it) || !scope_name_ok(it->valuestring)) {
                (void) brig__policy_problem(c, "memory.scope",
                                            "expected \"owner\", \"environment\" or a scope name of 1 to 64 "
                                            "characters a-z, 0-9, '.', '_' and '-' (starting with a letter "
                                            "or digit)");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(scope_names); i++)
                if (strcmp(it->valuestring, scope_names[i]) == 0) {
                        p->memory.scope = (brig_memory_scope_kind) i;
                        return;
                }
        if ((p->memory.scope_name = brig__policy_xstrdup(c, it->valuestring)))
                p->memory.scope = BRIG_MEMORY_SCOPE_NAMED;
}

void brig__policy_parse_memory(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"scope", "mode", "max_bytes", "max_files", "mount", NULL};
        const cJSON *it;

        p->memory = (brig_policy_memory){
                .scope = BRIG_MEMORY_SCOPE_OWNER,
                .mode = BRIG_MEMORY_READ_WRITE,
                .max_bytes = 16 * MIB,
                .max_files = 1000,
        };
        if (sec && !brig__policy_check_type(c, "memory", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "memory", keys);
        if ((it = brig_json_member(sec, "scope")))
                parse_scope(c, it, p);
        if ((it = brig_json_member(sec, "mode"))) {
                bool ok = false;
                for (size_t i = 0; cJSON_IsString(it) && i < ELEMENTSOF(mode_names); i++)
                        if (strcmp(it->valuestring, mode_names[i]) == 0) {
                                p->memory.mode = (brig_memory_mode) i;
                                ok = true;
                        }
                if (!ok)
                        (void) brig__policy_problem(c, "memory.mode",
                                                    "expected \"read_write\", \"read_only\" or \"off\"");
        }
        if ((it = brig_json_member(sec, "max_bytes")))
                (void) brig__policy_get_size(c, "memory.max_bytes", it, 1 * KIB, 1 * GIB, "1K to 1G",
                                             &p->memory.max_bytes);
        if ((it = brig_json_member(sec, "max_files")))
                brig__policy_get_int(c, "memory.max_files", it, 1, 100000, &p->memory.max_files);
        if ((it = brig_json_member(sec, "mount")))
                brig__policy_get_bool(c, "memory.mount", it, &p->memory.mount);
}

void brig__policy_explain_memory(const brig_policy *p, brig__policy_values *v) {
        const char *scope = p->memory.scope == BRIG_MEMORY_SCOPE_NAMED ? p->memory.scope_name
                                                                       : scope_names[p->memory.scope];

        brig__policy_value_add(v, BRIG__EXPLAIN_MEMORY, "memory.scope", NULL,
                               brig__policy_show_string(scope));
        brig__policy_value_add(v, BRIG__EXPLAIN_MEMORY, "memory.mode", NULL,
                               brig__policy_show_string(mode_names[p->memory.mode]));
        brig__policy_value_add(v, BRIG__EXPLAIN_MEMORY, "memory.max_bytes", NULL,
                               brig__policy_show_size(p->memory.max_bytes));
        brig__policy_value_add(v, BRIG__EXPLAIN_MEMORY, "memory.max_files", NULL,
                               brig__policy_show("%llu", (unsigned long long) p->memory.max_files));
        brig__policy_value_add(v, BRIG__EXPLAIN_MEMORY, "memory.mount", NULL,
                               brig__policy_show_bool(p->memory.mount));
}
