/* SPDX-License-Identifier: MIT */
/* The policy's sections the jail applies, besides "filesystem" (policy_filesystem.c): "limits", "env" (and
 * its pass-through from the host), "seccomp", "network", "landlock", "capabilities" and "identity". Pure: a
 * seccomp.profile file is read through the loader's callback (brig__policy_ctx.read_profile). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/text.h"
#include "sandbox/caps.h"
#include "sandbox/netpolicy.h"
#include "sandbox/policy_internal.h"
#include "sandbox/seccomp_profile.h"

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        {"EPERM", EPERM},
        {"EACCES", EACCES},
        {"ENOSYS", ENOSYS},
        {"EINVAL", EINVAL},
};

void brig__policy_parse_limits(brig__policy_ctx *c, const cJSON *lim, brig_policy *p) {
        brig_limits *l = &p->limits;
        static const char *const keys[] = {"wall_time", "cpu_time", "memory", "processes", "open_files",
                                           "file_size", "output",   "cpus",   "cgroups",   NULL};
        const cJSON *it;

        *l = (brig_limits){
                .wall_time_ms = 60 * 1000,
                .cpu_time_ms = 60 * 1000,
                .memory_bytes = GIB,
                .processes = 256,
                .open_files = 1024,
                .file_size_bytes = GIB,
                .output_bytes = MIB,
                .cpus = 1.0,
                .cgroups = BRIG_CGROUP_AUTO,
        };
        if (lim && !brig__policy_check_type(c, "limits", lim, cJSON_IsObject(lim), "an object"))
                return;
        brig__policy_check_keys(c, lim, "limits", keys);
        if ((it = brig_json_member(lim, "wall_time")))
                brig__policy_get_duration(c, "limits.wall_time", it, 1, 24 * 3600 * 1000, "1ms to 24h",
                                          &l->wall_time_ms);
        if ((it = brig_json_member(lim, "cpu_time")))
                brig__policy_get_duration(c, "limits.cpu_time", it, 1000, 24 * 3600 * 1000, "1s to 24h",
                                          &l->cpu_time_ms);
        if ((it = brig_json_member(lim, "memory")))
                (void) brig__policy_get_size(c, "limits.memory", it, 4 * MIB, TIB, "4M to 1T",
                                             &l->memory_bytes);
        if ((it = brig_json_member(lim, "processes")))
                brig__policy_get_int(c, "limits.processes", it, 1, 65536, &l->processes);
        if ((it = brig_json_member(lim, "open_files")))
                brig__policy_get_int(c, "limits.open_files", it, 16, 1048576, &l->open_files);
        if ((it = brig_json_member(lim, "file_size")))
                (void) brig__policy_get_size(c, "limits.file_size", it, 1, TIB, "1 to 1T",
                                             &l->file_size_bytes);
        if ((it = brig_json_member(lim, "output")))
                (void) brig__policy_get_size(c, "limits.output", it, KIB, 256 * MIB, "1K to 256M",
                                             &l->output_bytes);
        if ((it = brig_json_member(lim, "cpus"))) {
                if (!cJSON_IsNumber(it) || it->valuedouble < 0.01 || it->valuedouble > 1024)
                        (void) brig__policy_problem(c, "limits.cpus",
                                                    "expected a number of CPUs from 0.01 to 1024");
                else
                        l->cpus = it->valuedouble;
        }
        if ((it = brig_json_member(lim, "cgroups"))) {
                static const char *const names[] = {"auto", "required", "off"};
                bool ok = false;
                for (int i = 0; cJSON_IsString(it) && i < 3; i++)
                        if (strcmp(it->valuestring, names[i]) == 0) {
                                l->cgroups = (brig_cgroup_use) i;
                                ok = true;
                        }
                if (!ok)
                        (void) brig__policy_problem(c, "limits.cgroups",
                                                    "expected \"auto\", \"required\" or \"off\"");
        }
}

void brig__policy_explain_limits(const brig_policy *p, brig__policy_values *v) {
        static const char *const cgroups[] = {"\"auto\"", "\"required\"", "\"off\""};
        const brig_limits *l = &p->limits;

        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.wall_time", NULL,
                               brig__policy_show_duration(l->wall_time_ms));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.cpu_time", NULL,
                               brig__policy_show_duration(l->cpu_time_ms));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.memory", NULL,
                               brig__policy_show_size(l->memory_bytes));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.processes", NULL,
                               brig__policy_show("%llu", (unsigned long long) l->processes));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.open_files", NULL,
                               brig__policy_show("%llu", (unsigned long long) l->open_files));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.file_size", NULL,
                               brig__policy_show_size(l->file_size_bytes));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.output", NULL,
                               brig__policy_show_size(l->output_bytes));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.cpus", NULL,
                               brig__policy_show("%g", l->cpus));
        brig__policy_value_add(v, BRIG__EXPLAIN_LIMITS, "limits.cgroups", NULL, strdup(cgroups[l->cgroups]));
}

/* "seccomp.profile": a path (relative to the policy file's directory) or an inline profile object. The
 * profile module reports with full JSON paths; its errors become the policy's problems, its warnings the
 * policy's warnings. */
static void parse_profile(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        brig_seccomp_profile_diags d = {0};
        brig_error e = BRIG_ERROR_INIT;
        _cleanup_free_ char *file = NULL;
        char b[QUOTEBUF];
        int r;

        if (cJSON_IsObject(it))
                r = brig_seccomp_profile_parse(it, "seccomp.profile", NULL, &p->seccomp.profile, &d, &e);
        else if (!brig__policy_check_type(c, "seccomp.profile", it, cJSON_IsString(it),
                                          "a path or a profile object"))
                return;
        else {
                const char *s = it->valuestring, *slash;

                if (!*s || strlen(s) > MAX_PATH_BYTES) {
                        (void) brig__policy_problem(c, "seccomp.profile", "expected a path of 1 to %d bytes",
                                                    MAX_PATH_BYTES);
                        return;
                }
                slash = c->origin ? strrchr(c->origin, '/') : NULL;
                if (s[0] == '/')
                        file = strdup(s);
                else if (!c->origin || c->origin[0] == '<') {
                        (void) brig__policy_problem(
                                c, "seccomp.profile",
                                "relative path %s needs a policy file to resolve against",
                                brig__policy_quote(b, s));
                        return;
                } else if (!slash)
                        file = strdup(s);
                else if (asprintf(&file, "%.*s/%s", (int) (slash - c->origin), c->origin, s) < 0)
                        file = NULL;
                if (!file) {
                        c->oom = true;
                        return;
                }
                r = c->read_profile(file, &p->seccomp.profile, &d, &e);
        }
        if (r == -ENOMEM)
                c->oom = true;
        for (size_t i = 0; i < d.n; i++) {
                if (d.items[i].warning)
                        brig__policy_warning(c, d.items[i].path, d.items[i].msg);
                else
                        (void) brig__policy_problem(c, d.items[i].path, "%s", d.items[i].msg);
        }
        /* Without diags, an error still has its message in e. */
        if (r < 0 && r != -ENOMEM && d.n == 0)
                (void) brig__policy_problem(c, "seccomp.profile", "%s", e.msg);
        brig_seccomp_profile_diags_done(&d);
}

/* "seccomp": {"deny": [NAME | {"name": NAME, "audit": BOOL}], "errno": ..., "audit": BOOL, "profile": ...}.
 * "audit" (default true) makes floor and deny denials go to the worker, which answers them and audits each
 * one; an entry's own "audit" overrides it for that syscall. */
void brig__policy_parse_seccomp(brig__policy_ctx *c, const cJSON *sc, brig_policy *p) {
        static const char *const keys[] = {"deny", "errno", "profile", "audit", NULL};
        static const char *const entry_keys[] = {"name", "audit", NULL};
        const cJSON *deny, *en, *it;
        size_t n, i, k = 0;
        char path[PATHBUF], sub[PATHBUF], b[QUOTEBUF];

        p->seccomp.errno_ret = EPERM;
        p->seccomp.audit = true;
        if (sc && !brig__policy_check_type(c, "seccomp", sc, cJSON_IsObject(sc), "an object"))
                sc = NULL;
        brig__policy_check_keys(c, sc, "seccomp", keys);
        deny = brig_json_member(sc, "deny");
        en = brig_json_member(sc, "errno");
        brig__policy_get_bool(c, "seccomp.audit", brig_json_member(sc, "audit"), &p->seccomp.audit);

        n = brig__policy_array_len(c, deny, "seccomp.deny", MAX_DENY);
        p->seccomp.deny = calloc(n + 1, sizeof(char *));
        p->seccomp.deny_audit = calloc(n + 1, sizeof(bool));
        if (!p->seccomp.deny || !p->seccomp.deny_audit) {
                c->oom = true;
                return;
        }
        it = deny ? deny->child : NULL;
        for (i = 0; it && i < n; it = it->next, i++) {
                const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
                bool dup = false, audit = p->seccomp.audit;

                brig__policy_path_index(path, "seccomp.deny", i);
                if (cJSON_IsObject(it)) {
                        const cJSON *name = brig_json_member(it, "name");
                        brig__policy_check_keys(c, it, path, entry_keys);
                        (void) brig__policy_path_key(sub, path, "name");
                        if (!name) {
                                (void) brig__policy_problem(c, sub, "is required");
                                continue;
                        }
                        if (!brig__policy_check_type(c, sub, name, cJSON_IsString(name), "a syscall name"))
                                continue;
                        s = name->valuestring;
                        (void) brig__policy_path_key(sub, path, "audit");
                        brig__policy_get_bool(c, sub, brig_json_member(it, "audit"), &audit);
                } else if (!brig__policy_check_type(c, path, it, s != NULL, "a syscall name"))
                        continue;
                for (size_t j = 0; j < k; j++)
                        if (strcmp(p->seccomp.deny[j], s) == 0)
                                dup = true;
                if (!brig__policy_charset_ok(s, "_", MAX_SYSCALL_NAME_BYTES) ||
                    strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                        (void) brig__policy_problem(c, path,
                                                    "expected a syscall name like \"syslog\", got %s",
                                                    brig__policy_quote(b, s));
                else if (dup)
                        (void) brig__policy_problem(c, path, "%s is listed twice", brig__policy_quote(b, s));
                /* Negative numbers are pseudo-syscalls: names that exist only on other architectures. */
                else if (seccomp_syscall_resolve_name(s) < 0)
                        (void) brig__policy_problem(c, path, "unknown syscall %s on this architecture",
                                                    brig__policy_quote(b, s));
                else if ((p->seccomp.deny[k] = brig__policy_xstrdup(c, s)))
                        p->seccomp.deny_audit[k++] = audit;
        }
        p->seccomp.n_deny = k;

        if (en) {
                int v = -1;
                if (cJSON_IsString(en)) {
                        for (size_t j = 0; j < ELEMENTSOF(errno_names); j++)
                                if (strcmp(en->valuestring, errno_names[j].name) == 0)
                                        v = errno_names[j].value;
                } else if (cJSON_IsNumber(en) && en->valuedouble >= 1 && en->valuedouble <= 4095 &&
                           en->valuedouble == (double) (int) en->valuedouble)
                        v = (int) en->valuedouble;
                if (v < 0)
                        (void) brig__policy_problem(
                                c, "seccomp.errno",
                                "expected one of \"EPERM\", \"EACCES\", \"ENOSYS\", \"EINVAL\" or an "
                                "integer from 1 to 4095");
                else
                        p->seccomp.errno_ret = v;
        }

        if ((it = brig_json_member(sc, "profile")))
                parse_profile(c, it, p);
}

void brig__policy_explain_seccomp(const brig_policy *p, brig__policy_values *v) {
        const char *en = strerrorname_np(p->seccomp.errno_ret);

        brig__policy_value_add(v, BRIG__EXPLAIN_SECCOMP_ERRNO, "seccomp.errno", NULL,
                               en ? brig__policy_show("\"%s\"", en)
                                  : brig__policy_show("%d", p->seccomp.errno_ret));
        brig__policy_value_add(v, BRIG__EXPLAIN_SECCOMP_AUDIT, "seccomp.audit", NULL,
                               brig__policy_show_bool(p->seccomp.audit));
}

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

/* Without "env", the whole default environment applies: each variable is a default. */
void brig__policy_explain_env(const brig_policy *p, brig__policy_values *v) {
        char path[PATHBUF];

        for (size_t i = 0; i < p->env.n_vars; i++) {
                const char *var = p->env.vars[i], *eq = strchr(var, '=');
                (void) snprintf(path, sizeof(path), "env.%.*s", (int) (eq - var), var);
                brig__policy_value_add(v, BRIG__EXPLAIN_ENV, path, "env", brig__policy_show_string(eq + 1));
        }
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

void brig__policy_explain_landlock(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_LANDLOCK, "landlock", NULL,
                               strdup(p->landlock == BRIG_LANDLOCK_OFF        ? "\"off\""
                                      : p->landlock == BRIG_LANDLOCK_REQUIRED ? "\"required\""
                                                                              : "\"auto\""));
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

void brig__policy_explain_capabilities(const brig_policy *p, brig__policy_values *v) {
        (void) p;
        brig__policy_value_add(v, BRIG__EXPLAIN_CAPABILITIES, "capabilities", NULL, strdup("[]"));
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

void brig__policy_explain_identity(const brig_policy *p, brig__policy_values *v) {
        brig__policy_value_add(v, BRIG__EXPLAIN_IDENTITY, "identity.uid", NULL,
                               brig__policy_show("%u", p->identity.uid));
        brig__policy_value_add(v, BRIG__EXPLAIN_IDENTITY, "identity.gid", NULL,
                               brig__policy_show("%u", p->identity.gid));
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

/* "network": "none", or {"mode": "proxy", "allow", "deny", "ports", "allow_private", "secrets", ...}. */
void brig__policy_parse_network(brig__policy_ctx *c, const cJSON *it, brig_policy *p) {
        static const char *const keys[] = {
                "mode",      "allow",      "deny",    "ports", "allow_private", "max_connections",
                "max_bytes", "proxy_port", "secrets", NULL};
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
        /* Last: a secret's hosts are checked against the allow rules and ports above. */
        brig__policy_parse_secrets(c, brig_json_member(it, "secrets"), p);
}

void brig__policy_explain_network(const brig_policy *p, brig__policy_values *v) {
        const brig_policy_network *n = &p->network;

        brig__policy_value_add(v, BRIG__EXPLAIN_NETWORK_MODE, "network", NULL, strdup("\"none\""));
        /* Only in proxy mode. */
        if (n->mode != BRIG_NETWORK_PROXY)
                return;
        brig__policy_value_add(v, BRIG__EXPLAIN_NETWORK_PROXY, "network.ports", NULL, strdup("[80,443]"));
        brig__policy_value_add(v, BRIG__EXPLAIN_NETWORK_PROXY, "network.max_connections", NULL,
                               brig__policy_show("%u", n->max_connections));
        brig__policy_value_add(v, BRIG__EXPLAIN_NETWORK_PROXY, "network.max_bytes", NULL,
                               brig__policy_show_size(n->max_bytes));
        brig__policy_value_add(v, BRIG__EXPLAIN_NETWORK_PROXY, "network.proxy_port", NULL,
                               brig__policy_show("%u", n->proxy_port));
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
