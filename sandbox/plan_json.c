/* SPDX-License-Identifier: MIT */
/* The plan's wire form between the daemon (or CLI) and brig-jail: one JSON document on an inherited fd.
 * The helper trusts its parent, but still checks shapes so a bug shows up as an error, not a crash. */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/json_print.h"
#include "sandbox/caps.h"
#include "sandbox/landlock.h"
#include "sandbox/plan.h"

#define PLAN_VERSION 3

static const char *const kind_names[_BRIG_MOUNT_KIND_MAX] = {
        [BRIG_MOUNT_BIND] = "bind", [BRIG_MOUNT_TMPFS] = "tmpfs", [BRIG_MOUNT_PROC] = "proc",
        [BRIG_MOUNT_DEV] = "dev",   [BRIG_MOUNT_FILE] = "file",   [BRIG_MOUNT_HIDE] = "hide",
};

static const char *const mode_names[_BRIG_PLAN_MODE_MAX] = {
        [BRIG_PLAN_RUN] = "run",
        [BRIG_PLAN_HOLD] = "hold",
        [BRIG_PLAN_ENTER] = "enter",
};

static const char *const landlock_names[_BRIG_LANDLOCK_USE_MAX] = {
        [BRIG_LANDLOCK_AUTO] = "auto",
        [BRIG_LANDLOCK_OFF] = "off",
        [BRIG_LANDLOCK_REQUIRED] = "required",
};

static cJSON *strv_to_json(char *const *v) {
        cJSON *a = cJSON_CreateArray();
        for (; a && v && *v; v++)
                if (!cJSON_AddItemToArray(a, cJSON_CreateString(*v))) {
                        cJSON_Delete(a);
                        return NULL;
                }
        return a;
}

char *brig_plan_to_json(const brig_plan *plan) {
        _cleanup_json_ cJSON *root = cJSON_CreateObject();
        cJSON *mounts, *rl;
        bool ok = root;

        ok = ok && cJSON_AddNumberToObject(root, "version", PLAN_VERSION);
        ok = ok && cJSON_AddStringToObject(root, "mode", mode_names[plan->mode]);
        ok = ok && cJSON_AddNumberToObject(root, "namespaces", (double) plan->namespaces);
        ok = ok && cJSON_AddNumberToObject(root, "uid_inside", plan->uid_inside);
        ok = ok && cJSON_AddNumberToObject(root, "uid_outside", plan->uid_outside);
        ok = ok && cJSON_AddNumberToObject(root, "gid_inside", plan->gid_inside);
        ok = ok && cJSON_AddNumberToObject(root, "gid_outside", plan->gid_outside);
        ok = ok && cJSON_AddStringToObject(root, "hostname", plan->hostname);
        ok = ok && cJSON_AddBoolToObject(root, "loopback", plan->loopback);
        ok = ok && cJSON_AddNumberToObject(root, "proxy_port", plan->proxy_port);
        ok = ok && cJSON_AddStringToObject(root, "cwd", plan->cwd);
        ok = ok && cJSON_AddBoolToObject(root, "seccomp", plan->seccomp);
        if (plan->argv)
                ok = ok && brig_json_add(root, "argv", strv_to_json(plan->argv));
        ok = ok && brig_json_add(root, "envp", strv_to_json(plan->envp));
        ok = ok && (mounts = cJSON_AddArrayToObject(root, "mounts"));
        for (size_t i = 0; ok && i < plan->n_mounts; i++) {
                const brig_mount *m = &plan->mounts[i];
                cJSON *o = cJSON_CreateObject();
                ok = o && cJSON_AddItemToArray(mounts, o);
                ok = ok && cJSON_AddStringToObject(o, "kind", kind_names[m->kind]);
                ok = ok && cJSON_AddStringToObject(o, "dest", m->dest);
                if (ok && m->source)
                        ok = cJSON_AddStringToObject(o, "source", m->source);
                if (ok && m->content)
                        ok = cJSON_AddStringToObject(o, "content", m->content);
                ok = ok && cJSON_AddNumberToObject(o, "size", (double) m->size);
                ok = ok && cJSON_AddNumberToObject(o, "mode", m->mode);
                ok = ok && cJSON_AddBoolToObject(o, "read_only", m->read_only);
                ok = ok && cJSON_AddBoolToObject(o, "optional", m->optional);
        }
        ok = ok && (rl = cJSON_AddArrayToObject(root, "rlimits"));
        for (size_t i = 0; ok && i < plan->n_rlimits; i++) {
                cJSON *o = cJSON_CreateObject();
                ok = o && cJSON_AddItemToArray(rl, o);
                ok = ok && cJSON_AddNumberToObject(o, "resource", plan->rlimits[i].resource);
                ok = ok && cJSON_AddNumberToObject(o, "value", (double) plan->rlimits[i].value);
        }
        ok = ok && cJSON_AddNumberToObject(root, "capabilities", (double) plan->capabilities);
        ok = ok && cJSON_AddStringToObject(root, "landlock", landlock_names[plan->landlock]);
        ok = ok && (rl = cJSON_AddArrayToObject(root, "landlock_rules"));
        for (size_t i = 0; ok && i < plan->n_landlock_rules; i++) {
                cJSON *o = cJSON_CreateObject();
                ok = o && cJSON_AddItemToArray(rl, o);
                ok = ok && cJSON_AddStringToObject(o, "path", plan->landlock_rules[i].path);
                ok = ok && cJSON_AddNumberToObject(o, "access", (double) plan->landlock_rules[i].access);
        }
        /* Printed as cJSON prints it, without its printf and scanf round trip per number: a plan is printed
         * for every command, and most of its members are numbers. */
        brig_buf out = {0};
        if (!ok || brig_json_print_append(root, &out) < 0) {
                brig_buf_done(&out);
                return NULL;
        }
        return out.data;
}

static int get_strv(const cJSON *root, const char *key, char ***ret, brig_error *err) {
        size_t n = 0;
        int r = brig_json_get_strv(root, "plan", key, BRIG_PLAN_MAX_ARGS + BRIG_PLAN_MAX_ENV + 64,
                                   BRIG_PLAN_MAX_TOTAL_BYTES, ret, &n, err);
        if (r >= 0 && !*ret)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "plan.%s: required", key);
        return r;
}

static int dup_string(const cJSON *o, const char *path, const char *key, bool required, char **ret,
                      brig_error *err) {
        const char *s = NULL;
        int r = brig_json_get_string(o, path, key, required, &s, err);
        if (r < 0 || !s)
                return r;
        return (*ret = strdup(s)) ? 0 : brig_error_oom(err);
}

static int plan_fill(const cJSON *root, brig_plan *plan, brig_error *err) {
        const char *mode_name = NULL;
        uint64_t v = 0;
        const cJSON *it;
        bool b;
        int r;

        if ((r = brig_json_get_string(root, "plan", "mode", true, &mode_name, err)) < 0)
                return r;
        plan->mode = _BRIG_PLAN_MODE_INVALID;
        for (int m = 0; m < _BRIG_PLAN_MODE_MAX; m++)
                if (strcmp(mode_name, mode_names[m]) == 0)
                        plan->mode = (brig_plan_mode) m;
        if (plan->mode == _BRIG_PLAN_MODE_INVALID)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "plan.mode: unknown");

#define U64(key, max, dst)                                                                                  \
        do {                                                                                                \
                v = 0;                                                                                      \
                if ((r = brig_json_get_u64(root, "plan", key, max, &v, err)) < 0)                           \
                        return r;                                                                           \
                dst = v;                                                                                    \
        } while (0)
        U64("namespaces", UINT32_MAX, plan->namespaces);
        U64("uid_inside", UINT32_MAX - 1, plan->uid_inside);
        U64("uid_outside", UINT32_MAX - 1, plan->uid_outside);
        U64("gid_inside", UINT32_MAX - 1, plan->gid_inside);
        U64("gid_outside", UINT32_MAX - 1, plan->gid_outside);
        U64("proxy_port", UINT16_MAX, plan->proxy_port);
#undef U64
        b = false;
        if ((r = brig_json_get_bool(root, "plan", "loopback", &b, err)) < 0)
                return r;
        plan->loopback = b;
        b = false;
        if ((r = brig_json_get_bool(root, "plan", "seccomp", &b, err)) < 0)
                return r;
        plan->seccomp = b;
        if ((r = dup_string(root, "plan", "hostname", true, &plan->hostname, err)) < 0 ||
            (r = dup_string(root, "plan", "cwd", true, &plan->cwd, err)) < 0 ||
            (plan->mode != BRIG_PLAN_HOLD && (r = get_strv(root, "argv", &plan->argv, err)) < 0) ||
            (r = get_strv(root, "envp", &plan->envp, err)) < 0)
                return r;

        const cJSON *mounts = brig_json_member(root, "mounts");
        size_t n = (size_t) cJSON_GetArraySize(mounts);
        if (!cJSON_IsArray(mounts) || n > 1024) {
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                      "plan.mounts: expected an array of <= 1024");
        }
        plan->mounts = calloc(n ? n : 1, sizeof(brig_mount));
        if (!plan->mounts)
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, mounts) {
                brig_mount *m = &plan->mounts[plan->n_mounts++];
                const char *kind = NULL;
                uint64_t size = 0, mode = 0;
                bool ro = false, opt = false;

                if ((r = brig_json_get_string(it, "plan.mounts[]", "kind", true, &kind, err)) < 0)
                        return r;
                m->kind = _BRIG_MOUNT_KIND_INVALID;
                for (int k = 0; k < _BRIG_MOUNT_KIND_MAX; k++)
                        if (strcmp(kind, kind_names[k]) == 0)
                                m->kind = (brig_mount_kind) k;
                if (m->kind == _BRIG_MOUNT_KIND_INVALID) {
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                              "plan.mounts[]: unknown kind");
                }
                if ((r = dup_string(it, "plan.mounts[]", "dest", true, &m->dest, err)) < 0 ||
                    (r = dup_string(it, "plan.mounts[]", "source", m->kind == BRIG_MOUNT_BIND, &m->source,
                                    err)) < 0 ||
                    (r = dup_string(it, "plan.mounts[]", "content", m->kind == BRIG_MOUNT_FILE, &m->content,
                                    err)) < 0 ||
                    (r = brig_json_get_u64(it, "plan.mounts[]", "size", UINT64_C(1) << 50, &size, err)) <
                            0 ||
                    (r = brig_json_get_u64(it, "plan.mounts[]", "mode", 07777, &mode, err)) < 0 ||
                    (r = brig_json_get_bool(it, "plan.mounts[]", "read_only", &ro, err)) < 0 ||
                    (r = brig_json_get_bool(it, "plan.mounts[]", "optional", &opt, err)) < 0)
                        return r;
                m->size = size;
                m->mode = (unsigned) mode;
                m->read_only = ro;
                m->optional = opt;
        }
        const cJSON *rl = brig_json_member(root, "rlimits");
        if (!cJSON_IsArray(rl))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "plan.rlimits: expected an array");
        cJSON_ArrayForEach (it, rl) {
                uint64_t res = 0, val = 0;
                if (plan->n_rlimits >= ELEMENTSOF(plan->rlimits)) {
                        return brig_error_set(err, -E2BIG, BRIG_KIND_INTERNAL, "plan.rlimits: too many");
                }
                if ((r = brig_json_get_u64(it, "plan.rlimits[]", "resource", 64, &res, err)) < 0 ||
                    (r = brig_json_get_u64(it, "plan.rlimits[]", "value", UINT64_C(1) << 53, &val, err)) < 0)
                        return r;
                plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){(int) res, val};
        }
        return 0;
}

static int landlock_fill(const cJSON *root, brig_plan *plan, brig_error *err) {
        const char *name = NULL;
        const cJSON *it;
        int r;

        uint64_t caps = 0;
        if ((r = brig_json_get_u64(root, "plan", "capabilities", (UINT64_C(1) << BRIG_CAP_MAX) - 1, &caps,
                                   err)) < 0)
                return r;
        plan->capabilities = caps;
        if ((r = brig_json_get_string(root, "plan", "landlock", true, &name, err)) < 0)
                return r;
        plan->landlock = _BRIG_LANDLOCK_USE_INVALID;
        for (int i = 0; i < _BRIG_LANDLOCK_USE_MAX; i++)
                if (strcmp(name, landlock_names[i]) == 0)
                        plan->landlock = (brig_landlock_use) i;
        if (plan->landlock == _BRIG_LANDLOCK_USE_INVALID)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "plan.landlock: unknown");
        const cJSON *rules = brig_json_member(root, "landlock_rules");
        size_t n = (size_t) cJSON_GetArraySize(rules);
        if (!cJSON_IsArray(rules) || n > 2048)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                      "plan.landlock_rules: expected an array of <= 2048");
        plan->landlock_rules = calloc(n ? n : 1, sizeof(brig_landlock_rule));
        if (!plan->landlock_rules)
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, rules) {
                brig_landlock_rule *l = &plan->landlock_rules[plan->n_landlock_rules++];
                uint64_t access = 0;
                if ((r = dup_string(it, "plan.landlock_rules[]", "path", true, &l->path, err)) < 0 ||
                    (r = brig_json_get_u64(it, "plan.landlock_rules[]", "access", BRIG_LANDLOCK_FS_ALL,
                                           &access, err)) < 0)
                        return r;
                if (l->path[0] != '/')
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                              "plan.landlock_rules[].path: must be absolute");
                l->access = access;
        }
        return 0;
}

int brig_plan_from_json(const char *text, size_t len, brig_plan **ret, brig_error *err) {
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        _cleanup_json_ cJSON *root = NULL;
        uint64_t version = 0;
        int r;

        r = brig_json_parse(text, len, &root, err);
        if (r < 0)
                return r;
        if ((r = brig_json_get_u64(root, "plan", "version", 1000, &version, err)) < 0)
                return r;
        if (version != PLAN_VERSION)
                return brig_error_set(err, -EPROTO, BRIG_KIND_INTERNAL, "plan: version %llu, expected %d",
                                      (unsigned long long) version, PLAN_VERSION);
        plan = calloc(1, sizeof(*plan));
        if (!plan)
                return brig_error_oom(err);
        r = plan_fill(root, plan, err);
        if (r >= 0)
                r = landlock_fill(root, plan, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(plan);
        return 0;
}
