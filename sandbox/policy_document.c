/* SPDX-License-Identifier: MIT */
/* The policy document: its table of sections, which drives parsing (each row validates its member and sets
 * its defaults), the check for unknown members, and the defaults `brig policy explain` shows; plus the
 * document's own fields (name, description, hostname). Pure: it validates a parsed (and merged) JSON
 * document and reads no file; policy.c loads text and files and calls it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "sandbox/policy_internal.h"

static bool name_ok(const char *s) {
        return brig__policy_charset_ok(s, "._-", MAX_NAME_BYTES) && strcmp(s, ".") != 0 &&
               strcmp(s, "..") != 0;
}

static char *default_name(brig__policy_ctx *c, const char *origin) {
        const char *base;
        size_t n;
        char *s;

        if (!origin || origin[0] == '<')
                return brig__policy_xstrdup(c, "inline");
        base = strrchr(origin, '/');
        base = base ? base + 1 : origin;
        n = strlen(base);
        if (n >= 5 && strcmp(base + n - 5, ".json") == 0)
                n -= 5;
        s = strndup(base, n);
        if (!s)
                c->oom = true;
        return s;
}

static void parse_name(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        char b[QUOTEBUF];

        if (!it) {
                if ((p->name = default_name(c, c->origin)) && !name_ok(p->name))
                        (void) brig__policy_problem(
                                c, "name",
                                "no \"name\" field, and the file name %s is not a valid name (1 to 64 "
                                "letters, digits, \".\", \"_\" or \"-\")",
                                brig__policy_quote(b, p->name));
        } else if (brig__policy_check_type(c, "name", it, cJSON_IsString(it), "a string")) {
                if (!name_ok(it->valuestring))
                        (void) brig__policy_problem(
                                c, "name", "expected 1 to 64 letters, digits, \".\", \"_\" or \"-\", got %s",
                                brig__policy_quote(b, it->valuestring));
                else
                        p->name = brig__policy_xstrdup(c, it->valuestring);
        }
}

static void explain_name(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_NAME, "name", NULL, brig__policy_show_string(p->name));
}

static void parse_description(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        if (it && brig__policy_check_type(c, "description", it, cJSON_IsString(it), "a string")) {
                if (strlen(it->valuestring) > MAX_DESCRIPTION_BYTES)
                        (void) brig__policy_problem(c, "description", "longer than %d bytes",
                                                    MAX_DESCRIPTION_BYTES);
                else
                        p->description = brig__policy_xstrdup(c, it->valuestring);
        }
}

static void parse_hostname(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        char b[QUOTEBUF];

        if (!it)
                p->hostname = brig__policy_xstrdup(c, "brig");
        else if (brig__policy_check_type(c, "hostname", it, cJSON_IsString(it), "a string")) {
                if (!brig__policy_charset_ok(it->valuestring, ".-", 64))
                        (void) brig__policy_problem(
                                c, "hostname", "expected 1 to 64 letters, digits, \".\" or \"-\", got %s",
                                brig__policy_quote(b, it->valuestring));
                else
                        p->hostname = brig__policy_xstrdup(c, it->valuestring);
        }
}

static void explain_hostname(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_HOSTNAME, "hostname", NULL,
                               brig__policy_show_string(p->hostname));
}

/* Every member a policy document may have, in the order they are validated (which is the order of their
 * problems in `brig policy check`). A row's parse validates its member (NULL when absent) and sets the
 * defaults of what the member leaves out; its explain adds the section's effective values, for `brig policy
 * explain` to show those no file set. A new section is one row here, one sub-struct of brig_policy
 * (sandbox/policy.h) and its part of docs/policy.md and policies/schema.json. */
static const struct {
        const char *key;
        void (*parse)(brig__policy_ctx *c, const cJSON *it, brig_policy *p);
        void (*explain)(const brig_policy *p, brig__policy_values *v);
} sections[] = {
        {"name", parse_name, explain_name},
        {"description", parse_description, NULL},
        {"filesystem", brig__policy_parse_filesystem, brig__policy_explain_filesystem},
        {"limits", brig__policy_parse_limits, brig__policy_explain_limits},
        {"env", brig__policy_parse_env, brig__policy_explain_env},
        {"seccomp", brig__policy_parse_seccomp, brig__policy_explain_seccomp},
        {"environment", brig__policy_parse_environment, brig__policy_explain_environment},
        {"tools", brig__policy_parse_tools, brig__policy_explain_tools},
        {"history", brig__policy_parse_history, brig__policy_explain_history},
        {"memory", brig__policy_parse_memory, brig__policy_explain_memory},
        {"audit", brig__policy_parse_audit, brig__policy_explain_audit},
        {"landlock", brig__policy_parse_landlock, brig__policy_explain_landlock},
        {"capabilities", brig__policy_parse_capabilities, brig__policy_explain_capabilities},
        {"identity", brig__policy_parse_identity, brig__policy_explain_identity},
        {"network", brig__policy_parse_network, brig__policy_explain_network},
        {"hostname", parse_hostname, explain_hostname},
        /* Resolved by the loader (policy_merge.c) before the document is validated. */
        {"extends", NULL, NULL},
};

void brig__policy_parse_document(brig__policy_ctx *c, const cJSON *root, brig_policy *p) {
        const char *keys[ELEMENTSOF(sections) + 1] = {0};

        if (!brig__policy_check_type(c, "", root, cJSON_IsObject(root), "an object"))
                return;
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                keys[i] = sections[i].key;
        brig__policy_check_keys(c, root, "", keys);
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (sections[i].parse)
                        sections[i].parse(c, brig_json_member(root, sections[i].key), p);
}

void brig__policy_value_add(brig__policy_values *v, brig__explain_rank rank, const char *path,
                            const char *unless, char *json) {
        brig_policy_value *items;
        char *copy = NULL;

        if (v->oom || !json || !(copy = strdup(path)) ||
            !(items = reallocarray(v->items, v->n + 1, sizeof(*items)))) {
                v->oom = true;
                free(json);
                free(copy);
                return;
        }
        v->items = items;
        items[v->n++] = (brig_policy_value){.path = copy, .json = json, .unless = unless, .rank = rank};
}

static int value_cmp(const void *a, const void *b) {
        const brig_policy_value *x = a, *y = b;
        return x->rank != y->rank ? (x->rank > y->rank) - (x->rank < y->rank)
                                  : (x->seq > y->seq) - (x->seq < y->seq);
}

int brig_policy_defaults(const brig_policy *p, brig_policy_value **ret, size_t *ret_n) {
        brig__policy_values v = {0};

        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (sections[i].explain)
                        sections[i].explain(p, &v);
        if (v.oom) {
                brig_policy_values_free(v.items, v.n);
                return -ENOMEM;
        }
        /* By rank, keeping each section's own order within one. */
        for (size_t i = 0; i < v.n; i++)
                v.items[i].seq = i;
        qsort(v.items, v.n, sizeof(*v.items), value_cmp);
        *ret = v.items;
        *ret_n = v.n;
        return 0;
}

void brig_policy_values_free(brig_policy_value *values, size_t n) {
        for (size_t i = 0; values && i < n; i++) {
                free(values[i].path);
                free(values[i].json);
        }
        free(values);
}
