/* SPDX-License-Identifier: MIT */
/* The policy sections beyond the jail's filesystem, limits and seccomp: env (and its pass-through),
 * environment, tools, history, audit, landlock, capabilities, identity and network. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "sandbox/caps.h"
#include "sandbox/netpolicy.h"
#include "sandbox/policy_internal.h"

const char *const brig_tool_names[] = {
        "exec",         "process_list",   "process_output", "process_write",
        "process_kill", "repl",           "read_file",      "write_file",
        "edit_file",    "list_directory", "glob",           "grep",
        "stat",         "move",           "remove",         "make_directory",
        "snapshot",     "history",        "diff",           "restore",
        NULL,
};

static int env_cmp(const void *a, const void *b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
        int r = memcmp(x, y, nx < ny ? nx : ny);

        return r != 0 ? r : (nx > ny) - (nx < ny);
}

static bool env_name_ok(const char *s) {
        return brig__policy_charset_ok(s, "_", MAX_ENV_NAME_BYTES) && !(s[0] >= '0' && s[0] <= '9');
}

static void default_env(brig__policy_ctx *c, brig_policy *p) {
        /* HOME follows the workspace; the rest is already in sorted order. */
        const char *const rest[] = {"LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "TMPDIR=/tmp"};
        char *home = NULL;
        size_t k = 0;

        p->env.vars = calloc(ELEMENTSOF(rest) + 2, sizeof(char *));
        if (!p->env.vars || asprintf(&home, "HOME=%s",
                                     p->filesystem.workspace ? p->filesystem.workspace : "/workspace") < 0) {
                c->oom = true;
                return;
        }
        p->env.vars[k++] = home;
        for (size_t i = 0; i < ELEMENTSOF(rest); i++)
                if ((p->env.vars[k] = brig__policy_xstrdup(c, rest[i])))
                        k++;
        p->env.n_vars = k;
}

/* NAME -> value pairs at `prefix` ("env", or "env.set"): the complete environment. */
static void parse_env_map(brig__policy_ctx *c, const cJSON *env, const char *prefix, brig_policy *p) {
        const cJSON *it;
        size_t n = 0, k = 0;
        char path[PATHBUF];

        if (!brig__policy_check_type(c, prefix, env, cJSON_IsObject(env), "an object"))
                return;
        cJSON_ArrayForEach (it, env)
                n++;
        if (n > MAX_ENV) {
                (void) brig__policy_problem(c, prefix, "more than %d variables", MAX_ENV);
                return;
        }
        p->env.vars = calloc(n + 1, sizeof(char *));
        if (!p->env.vars) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, env) {
                const char *name = it->string ? it->string : "";
                char *entry = NULL;
                bool dup = false;

                brig__policy_path_key(path, prefix, name);
                for (const cJSON *prev = env->child; prev != it; prev = prev->next)
                        if (prev->string && strcmp(prev->string, name) == 0)
                                dup = true;
                if (dup)
                        (void) brig__policy_problem(c, path, "duplicate field");
                else if (!env_name_ok(name))
                        (void) brig__policy_problem(
                                c, path,
                                "expected a name matching [A-Za-z_][A-Za-z0-9_]* of at most %d bytes",
                                MAX_ENV_NAME_BYTES);
                else if (!brig__policy_check_type(c, path, it, cJSON_IsString(it), "a string"))
                        continue;
                else if (strlen(it->valuestring) > MAX_ENV_VALUE_BYTES)
                        (void) brig__policy_problem(c, path, "value longer than %d bytes",
                                                    MAX_ENV_VALUE_BYTES);
                else if (asprintf(&entry, "%s=%s", name, it->valuestring) < 0) {
                        c->oom = true;
                        return;
                } else
                        p->env.vars[k++] = entry;
        }
        p->env.n_vars = k;
        qsort(p->env.vars, k, sizeof(char *), env_cmp);
}

/* "env.pass": names (or NAME_PREFIX* patterns) whose values come from the environment of brigd or brig. */
static void parse_env_pass(brig__policy_ctx *c, const cJSON *arr, brig_policy *p) {
        size_t n = brig__policy_array_len(c, arr, "env.pass", MAX_ENV), i = 0;
        const cJSON *it;
        char path[PATHBUF], q[QUOTEBUF];

        p->env.pass = calloc(n + 1, sizeof(char *));
        if (!p->env.pass) {
                c->oom = true;
                return;
        }
        cJSON_ArrayForEach (it, (n ? arr : NULL)) {
                brig__policy_path_index(path, "env.pass", i++);
                if (!brig__policy_check_type(c, path, it, cJSON_IsString(it), "a string"))
                        continue;
                const char *s = it->valuestring;
                size_t len = strlen(s);
                char name[MAX_ENV_NAME_BYTES + 2];
                bool pattern = len > 1 && s[len - 1] == '*';
                if (len == 0 || len > MAX_ENV_NAME_BYTES + (pattern ? 1 : 0)) {
                        (void) brig__policy_problem(c, path,
                                                    "expected a variable name or NAME_PREFIX*, got %s",
                                                    brig__policy_quote(q, s));
                        continue;
                }
                memcpy(name, s, len - (pattern ? 1 : 0));
                name[len - (pattern ? 1 : 0)] = 0;
                if (!env_name_ok(name)) {
                        (void) brig__policy_problem(c, path,
                                                    "expected a variable name or NAME_PREFIX*, got %s",
                                                    brig__policy_quote(q, s));
                        continue;
                }
                if (!pattern && brig_policy_getenv(p, name))
                        (void) brig__policy_problem(c, path, "%s is also set by env.set; keep one",
                                                    brig__policy_quote(q, s));
                for (size_t k = 0; k < p->env.n_pass; k++)
                        if (strcmp(p->env.pass[k], s) == 0)
                                (void) brig__policy_problem(c, path, "%s is listed twice",
                                                            brig__policy_quote(q, s));
                if (!(p->env.pass[p->env.n_pass] = brig__policy_xstrdup(c, s)))
                        return;
                p->env.n_pass++;
        }
}

/* "env": a map of the complete environment, or {"set": map, "pass": [names]}. A map's values are strings,
 * so an object or array under "set" or "pass" can only mean the second form. */
void brig__policy_parse_env(brig__policy_ctx *c, const cJSON *env, brig_policy *p) {
        static const char *const keys[] = {"set", "pass", NULL};
        const cJSON *set = brig_json_member(env, "set"), *pass = brig_json_member(env, "pass");

        if (cJSON_IsObject(env) && (cJSON_IsObject(set) || cJSON_IsArray(pass))) {
                brig__policy_check_keys(c, env, "env", keys);
                if (set)
                        parse_env_map(c, set, "env.set", p);
                else
                        default_env(c, p);
                parse_env_pass(c, pass, p);
                return;
        }
        if (!env)
                default_env(c, p);
        else
                parse_env_map(c, env, "env", p);
        if (!c->oom && !(p->env.pass = calloc(1, sizeof(char *))))
                c->oom = true;
}

static bool pass_matches(const brig_policy *p, const char *entry) {
        size_t nl = strcspn(entry, "=");

        for (size_t i = 0; i < p->env.n_pass; i++) {
                const char *pat = p->env.pass[i];
                size_t pl = strlen(pat);
                if (pat[pl - 1] == '*' ? nl >= pl - 1 && strncmp(entry, pat, pl - 1) == 0
                                       : nl == pl && strncmp(entry, pat, pl) == 0)
                        return true;
        }
        return false;
}

int brig_policy_env_pass(brig_policy *p, char *const *host_env) {
        size_t n = p->env.n_vars, added = 0;

        if (p->env.n_pass == 0 || !host_env)
                return 0;
        for (char *const *e = host_env; *e; e++)
                n++;
        char **env = realloc(p->env.vars, (n + 1) * sizeof(char *));
        if (!env)
                return -ENOMEM;
        p->env.vars = env;
        for (char *const *e = host_env; *e && p->env.n_vars < MAX_ENV; e++) {
                size_t nl = strcspn(*e, "=");
                char name[MAX_ENV_NAME_BYTES + 1];
                if ((*e)[nl] != '=' || nl == 0 || nl > MAX_ENV_NAME_BYTES ||
                    strlen(*e + nl + 1) > MAX_ENV_VALUE_BYTES || !pass_matches(p, *e))
                        continue;
                memcpy(name, *e, nl);
                name[nl] = 0;
                /* What the policy sets wins over what it passes, and a name is passed once. */
                if (!env_name_ok(name) || brig_policy_getenv(p, name))
                        continue;
                if (!(p->env.vars[p->env.n_vars] = strdup(*e)))
                        return -ENOMEM;
                p->env.vars[++p->env.n_vars] = NULL;
                added++;
        }
        qsort(p->env.vars, p->env.n_vars, sizeof(char *), env_cmp);
        return (int) added;
}

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

void brig__policy_parse_landlock(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const names[_BRIG_LANDLOCK_USE_MAX] = {
                [BRIG_LANDLOCK_AUTO] = "auto",
                [BRIG_LANDLOCK_OFF] = "off",
                [BRIG_LANDLOCK_REQUIRED] = "required",
        };
        char b[QUOTEBUF];

        p->landlock = BRIG_LANDLOCK_AUTO;
        if (!it || !brig__policy_check_type(c, "landlock", it, cJSON_IsString(it),
                                            "\"auto\", \"off\" or \"required\""))
                return;
        for (int i = 0; i < _BRIG_LANDLOCK_USE_MAX; i++)
                if (strcmp(it->valuestring, names[i]) == 0) {
                        p->landlock = (brig_landlock_use) i;
                        return;
                }
        (void) brig__policy_problem(c, "landlock", "expected \"auto\", \"off\" or \"required\", got %s",
                                    brig__policy_quote(b, it->valuestring));
}

void brig__policy_parse_capabilities(brig__policy_ctx *c, const cJSON *arr, brig_policy *p) {
        size_t n = brig__policy_array_len(c, arr, "capabilities", BRIG_CAP_MAX);
        char path[PATHBUF], b[QUOTEBUF];
        const cJSON *it = arr && n ? arr->child : NULL;

        p->capabilities = 0;
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                const char *refused = NULL;
                brig__policy_path_index(path, "capabilities", i);
                if (!brig__policy_check_type(c, path, it, cJSON_IsString(it),
                                             "a capability name like \"CAP_NET_BIND_SERVICE\""))
                        continue;
                int cap = brig_capability_lookup(it->valuestring, &refused);
                if (cap < 0)
                        (void) brig__policy_problem(c, path, "unknown capability %s",
                                                    brig__policy_quote(b, it->valuestring));
                else if (refused)
                        (void) brig__policy_problem(c, path, "%s is never allowed: %s",
                                                    brig_capability_name(cap), refused);
                else if (p->capabilities & (UINT64_C(1) << cap))
                        (void) brig__policy_problem(c, path, "%s is listed twice",
                                                    brig_capability_name(cap));
                else
                        p->capabilities |= UINT64_C(1) << cap;
        }
}

void brig__policy_parse_identity(brig__policy_ctx *c, const cJSON *sec, brig_policy *p) {
        static const char *const keys[] = {"uid", "gid", NULL};
        const cJSON *it;
        uint64_t v;

        p->identity.uid = 1000;
        p->identity.gid = 1000;
        if (sec && !brig__policy_check_type(c, "identity", sec, cJSON_IsObject(sec), "an object"))
                return;
        brig__policy_check_keys(c, sec, "identity", keys);
        /* 0 is root's in the jail's /etc/passwd (and uid 0 regains the bounding set on execve); 65534 is
         * nobody, the overflow id unmapped owners show as. */
        if ((it = brig_json_member(sec, "uid"))) {
                v = p->identity.uid;
                brig__policy_get_int(c, "identity.uid", it, 1, 65533, &v);
                p->identity.uid = (uint32_t) v;
        }
        if ((it = brig_json_member(sec, "gid"))) {
                v = p->identity.gid;
                brig__policy_get_int(c, "identity.gid", it, 1, 65533, &v);
                p->identity.gid = (uint32_t) v;
        }
}

/* An array of allow or deny rules ("network.allow"). */
static brig_net_rule *parse_net_rules(brig__policy_ctx *c, const cJSON *arr, const char *path,
                                      size_t *ret_n) {
        size_t n = brig__policy_array_len(c, arr, path, MAX_NET_RULES), k = 0;
        brig_net_rule *rules = calloc(n + 1, sizeof(*rules));
        const cJSON *it = arr && n ? arr->child : NULL;
        char ipath[PATHBUF], why[128], q[QUOTEBUF];

        if (!rules) {
                c->oom = true;
                return NULL;
        }
        for (size_t i = 0; it && i < n; it = it->next, i++) {
                brig__policy_path_index(ipath, path, i);
                if (!brig__policy_check_type(c, ipath, it, cJSON_IsString(it),
                                             "a host, *.domain or IP address"))
                        continue;
                if (!brig_net_rule_parse(it->valuestring, &rules[k], why, sizeof(why)))
                        (void) brig__policy_problem(c, ipath, "%s, got %s", why,
                                                    brig__policy_quote(q, it->valuestring));
                else
                        k++;
        }
        *ret_n = k;
        return rules;
}

/* "network": "none", or {"mode": "proxy", "allow", "deny", "ports", "allow_private", ...}. */
void brig__policy_parse_network(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const keys[] = {"mode",      "allow",         "deny",
                                           "ports",     "allow_private", "max_connections",
                                           "max_bytes", "proxy_port",    NULL};
        const cJSON *mode, *arr, *x;
        char path[PATHBUF], why[128], q[QUOTEBUF];
        brig_net_policy *n;
        uint64_t v;

        p->network.mode = BRIG_NETWORK_NONE;
        p->network.proxy_port = BRIG_NET_DEFAULT_PROXY_PORT;
        p->network.max_connections = 64;
        p->network.max_bytes = 1 * GIB;
        if (!it || (cJSON_IsString(it) && strcmp(it->valuestring, "none") == 0))
                return;
        if (cJSON_IsString(it)) {
                (void) brig__policy_problem(
                        c, "network", "expected \"none\" or an object with \"mode\": \"proxy\", got %s",
                        brig__policy_quote(q, it->valuestring));
                return;
        }
        if (!brig__policy_check_type(c, "network", it, cJSON_IsObject(it), "\"none\" or an object"))
                return;
        brig__policy_check_keys(c, it, "network", keys);
        mode = brig_json_member(it, "mode");
        if (!mode) {
                (void) brig__policy_problem(c, "network.mode", "required: \"proxy\" or \"none\"");
                return;
        }
        if (!brig__policy_check_type(c, "network.mode", mode, cJSON_IsString(mode), "\"proxy\" or \"none\""))
                return;
        if (strcmp(mode->valuestring, "none") == 0) {
                if (cJSON_GetArraySize(it) > 1)
                        (void) brig__policy_problem(c, "network",
                                                    "with \"mode\": \"none\" no other field applies");
                return;
        }
        if (strcmp(mode->valuestring, "proxy") != 0) {
                (void) brig__policy_problem(c, "network.mode", "expected \"proxy\" or \"none\", got %s",
                                            brig__policy_quote(q, mode->valuestring));
                return;
        }
        p->network.mode = BRIG_NETWORK_PROXY;
        if (!(n = p->network.net = calloc(1, sizeof(*n)))) {
                c->oom = true;
                return;
        }
        n->allow = parse_net_rules(c, brig_json_member(it, "allow"), "network.allow", &n->n_allow);
        n->deny = parse_net_rules(c, brig_json_member(it, "deny"), "network.deny", &n->n_deny);

        arr = brig_json_member(it, "ports");
        size_t np = arr ? brig__policy_array_len(c, arr, "network.ports", 64) : 2;
        if (!(n->ports = calloc(np + 1, sizeof(uint16_t)))) {
                c->oom = true;
                return;
        }
        if (!arr) {
                n->ports[0] = 80;
                n->ports[1] = 443;
                n->n_ports = 2;
        }
        x = arr && np ? arr->child : NULL;
        for (size_t i = 0; x && i < np; x = x->next, i++) {
                v = 0;
                brig__policy_get_int(c, brig__policy_path_index(path, "network.ports", i), x, 1, 65535, &v);
                for (size_t k = 0; v && k < n->n_ports; k++)
                        if (n->ports[k] == v) {
                                (void) brig__policy_problem(c, path, "port %llu is listed twice",
                                                            (unsigned long long) v);
                                v = 0;
                        }
                if (v)
                        n->ports[n->n_ports++] = (uint16_t) v;
        }

        arr = brig_json_member(it, "allow_private");
        size_t nc = brig__policy_array_len(c, arr, "network.allow_private", 256);
        if (!(n->allow_private = calloc(nc + 1, sizeof(brig_net_cidr)))) {
                c->oom = true;
                return;
        }
        x = arr && nc ? arr->child : NULL;
        for (size_t i = 0; x && i < nc; x = x->next, i++) {
                brig__policy_path_index(path, "network.allow_private", i);
                if (!brig__policy_check_type(c, path, x, cJSON_IsString(x),
                                             "an address or CIDR like \"10.0.0.0/8\""))
                        continue;
                if (!brig_net_cidr_parse(x->valuestring, &n->allow_private[n->n_allow_private], why,
                                         sizeof(why)))
                        (void) brig__policy_problem(c, path, "%s, got %s", why,
                                                    brig__policy_quote(q, x->valuestring));
                else
                        n->n_allow_private++;
        }
        if ((x = brig_json_member(it, "max_connections"))) {
                v = p->network.max_connections;
                brig__policy_get_int(c, "network.max_connections", x, 1, 4096, &v);
                p->network.max_connections = (uint32_t) v;
        }
        if ((x = brig_json_member(it, "max_bytes")))
                (void) brig__policy_get_size(c, "network.max_bytes", x, 1 * KIB, 1024 * GIB, "1K to 1T",
                                             &p->network.max_bytes);
        if ((x = brig_json_member(it, "proxy_port"))) {
                v = p->network.proxy_port;
                brig__policy_get_int(c, "network.proxy_port", x, 1024, 65535, &v);
                p->network.proxy_port = (uint16_t) v;
        }
}

bool brig_policy_allows_tool(const brig_policy *p, const char *name) {
        if (!p->tools.allow)
                return true;
        for (char **t = p->tools.allow; *t; t++)
                if (strcmp(*t, name) == 0)
                        return true;
        return false;
}

const char *brig_policy_getenv(const brig_policy *p, const char *name) {
        size_t n;

        if (!p || !p->env.vars || !name)
                return NULL;
        n = strlen(name);
        for (char **e = p->env.vars; *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}
