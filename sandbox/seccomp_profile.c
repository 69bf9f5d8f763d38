/* SPDX-License-Identifier: MIT */
/* Docker/OCI JSON seccomp profiles: checks a profile, keeps the rules that apply to this machine and
 * resolves them into libseccomp values. Errors (the profile is refused) and warnings (something was
 * ignored) carry JSON paths. No BPF here: sandbox/seccomp.c compiles the result under brig's floor. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/json.h"
#include "sandbox/seccomp.h"
#include "sandbox/seccomp_profile.h"

#define PATHBUF 128 /* == sizeof(brig_seccomp_profile_diag.path) */
#define MAX_DIAGS 100
#define MAX_SYSCALL_NAME_BYTES 64
#define MAX_ERRNO_RET BRIG_SECCOMP_ERRNO_MAX
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact doubles */

DEFINE_TRIVIAL_CLEANUP_FUNC(brig_seccomp_profile *, brig_seccomp_profile_free);

typedef struct ctx {
        brig_seccomp_profile_diags *diags; /* borrowed, may be NULL */
        brig_error *err;                   /* borrowed, may be NULL */
        size_t n_errors, n_diags;
        bool oom;
        unsigned kernel_major, kernel_minor;
} ctx;

static const struct {
        const char *name;
        uint32_t action; /* ERRNO and TRACE get their data later */
} actions[] = {
        {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
        {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
        {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
        {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
        {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
        {"SCMP_ACT_LOG", SCMP_ACT_LOG},
        /* No supervisor listens on a brig jail's notify fd, so a notifying rule could only hang the call;
         * it is treated as SCMP_ACT_ERRNO (with a warning), which keeps the call refused. */
        {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY},
};

static const struct {
        const char *name;
        enum scmp_compare op;
} ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

/* Names used by Docker profiles in includes/excludes "arches" (Go's GOARCH spelling, plus the kernel's). */
static const struct {
        uint32_t arch;
        const char *names[3];
} arch_names[] = {
        {SCMP_ARCH_X86_64, {"amd64", "x86_64", NULL}},   {SCMP_ARCH_X86, {"386", "x86", NULL}},
        {SCMP_ARCH_AARCH64, {"arm64", "aarch64", NULL}}, {SCMP_ARCH_ARM, {"arm", NULL, NULL}},
        {SCMP_ARCH_PPC64LE, {"ppc64le", NULL, NULL}},    {SCMP_ARCH_S390X, {"s390x", NULL, NULL}},
        {SCMP_ARCH_RISCV64, {"riscv64", NULL, NULL}},
};

static void diag_add(ctx *c, bool warning, const char *path, const char *msg) {
        brig_seccomp_profile_diag *items;

        if (!warning && c->n_errors++ == 0)
                (void) brig_error_set(c->err, -EINVAL, BRIG_KIND_POLICY, "%s: %s", path, msg);
        if (!c->diags || c->n_diags++ >= MAX_DIAGS)
                return;
        items = reallocarray(c->diags->items, c->diags->n + 1, sizeof(*items));
        if (!items) {
                c->oom = true;
                return;
        }
        c->diags->items = items;
        items = &items[c->diags->n++];
        *items = (brig_seccomp_profile_diag){.warning = warning};
        (void) snprintf(items->path, sizeof(items->path), "%s", path);
        (void) snprintf(items->msg, sizeof(items->msg), "%s", msg);
}

__attribute__((format(printf, 4, 5))) static void report(ctx *c, bool warning, const char *path,
                                                         const char *fmt, ...) {
        char msg[sizeof(((brig_seccomp_profile_diag *) NULL)->msg)];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        diag_add(c, warning, path, msg);
}

#define error(c, path, ...) report(c, false, path, __VA_ARGS__)
#define warn(c, path, ...) report(c, true, path, __VA_ARGS__)

/* The file itself cannot be used: the first error, at path, and err holds the code returned (an I/O errno,
 * -EFBIG, or -EINVAL) with a kind to match, so that err and the result agree. */
static int file_failed(ctx *c, int code, brig_kind kind) {
        assert(c->n_errors == 1);
        if (c->err) {
                c->err->code = code;
                c->err->kind = kind;
        }
        return code;
}

#define file_error(c, code, kind, path, ...) (error(c, path, __VA_ARGS__), file_failed(c, code, kind))

/* Profile text in messages: quoted, escaped, cut after about 48 bytes. */
static const char *quote(char buf[static 72], const char *s) {
        size_t n = 0;

        buf[n++] = '"';
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if (n >= 48) {
                        memcpy(buf + n, "...", 3);
                        n += 3;
                        break;
                }
                if (ch == '"' || ch == '\\') {
                        buf[n++] = '\\';
                        buf[n++] = (char) ch;
                } else if (ch < 0x20 || ch >= 0x7f)
                        n += (size_t) snprintf(buf + n, 72 - n, "\\x%02x", ch);
                else
                        buf[n++] = (char) ch;
        }
        buf[n++] = '"';
        buf[n] = 0;
        return buf;
}

static const char *sub(char buf[static PATHBUF], const char *parent, const char *key) {
        (void) snprintf(buf, PATHBUF, "%s.%s", parent, key);
        return buf;
}

static const char *idx(char buf[static PATHBUF], const char *parent, size_t i) {
        (void) snprintf(buf, PATHBUF, "%s[%zu]", parent, i);
        return buf;
}

static bool check_type(ctx *c, const char *path, const cJSON *it, bool ok, const char *what) {
        if (!ok)
                error(c, path, "expected %s, got %s", what, brig_json_type_name(it));
        return ok;
}

/* Unknown members are errors: a misspelt "excludes" would silently widen a profile. */
static void check_keys(ctx *c, const cJSON *obj, const char *path, const char *const *allowed) {
        const cJSON *it;
        char p[PATHBUF], q[72];

        cJSON_ArrayForEach (it, obj) {
                const char *key = it->string ? it->string : "";
                size_t i;

                for (i = 0; allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                break;
                if (!allowed[i])
                        error(c, path, "unknown field %s", quote(q, key));
                else
                        for (const cJSON *o = obj->child; o != it; o = o->next)
                                if (o->string && strcmp(o->string, key) == 0) {
                                        error(c, sub(p, path, key), "duplicate field");
                                        break;
                                }
        }
}

/* An optional array member: its item count, or 0 after reporting a problem. */
static size_t array_len(ctx *c, const cJSON *arr, const char *path, size_t max) {
        size_t n;

        if (!arr || cJSON_IsNull(arr) || !check_type(c, path, arr, cJSON_IsArray(arr), "an array"))
                return 0;
        n = (size_t) cJSON_GetArraySize(arr);
        if (n > max) {
                error(c, path, "more than %zu entries", max);
                return 0;
        }
        return n;
}

static bool get_uint(ctx *c, const char *path, const cJSON *it, uint64_t max, uint64_t *ret) {
        if (!check_type(c, path, it, cJSON_IsNumber(it), "a number"))
                return false;
        if (!(it->valuedouble >= 0 && it->valuedouble <= MAX_JSON_INT && it->valuedouble <= (double) max &&
              it->valuedouble == (double) (uint64_t) it->valuedouble)) {
                error(c, path, "expected an integer from 0 to %ju", (uintmax_t) max);
                return false;
        }
        *ret = (uint64_t) it->valuedouble;
        return true;
}

static bool native_arch_named(const char *name) {
        uint32_t native = seccomp_arch_native();

        for (size_t i = 0; i < ELEMENTSOF(arch_names); i++)
                if (arch_names[i].arch == native)
                        for (size_t j = 0; j < ELEMENTSOF(arch_names[i].names) && arch_names[i].names[j];
                             j++)
                                if (strcmp(name, arch_names[i].names[j]) == 0)
                                        return true;
        return false;
}

/* "4.8" or "5.10.0-rc1": the first two numbers. */
static bool parse_kernel(const char *s, unsigned *ret_major, unsigned *ret_minor) {
        char *end;
        unsigned long major, minor;

        if (*s < '0' || *s > '9')
                return false;
        major = strtoul(s, &end, 10);
        if (*end != '.' || end[1] < '0' || end[1] > '9')
                return false;
        minor = strtoul(end + 1, &end, 10);
        if (major > 65535 || minor > 65535)
                return false;
        *ret_major = (unsigned) major;
        *ret_minor = (unsigned) minor;
        return true;
}

/* Evaluates an "includes" (exclude=false: every condition given must hold) or "excludes" (exclude=true:
 * any condition given suffices) filter on this machine. Capabilities: brig jails hold none, so a "caps"
 * condition never holds (a rule that needs a capability is dropped, one excluded by it stays). */
static bool filter_holds(ctx *c, const cJSON *f, const char *path, bool exclude) {
        static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
        const cJSON *caps, *arches, *mk, *it;
        bool all = true, any = false;
        char p[PATHBUF], q[PATHBUF];
        size_t n, i;

        if (!check_type(c, path, f, cJSON_IsObject(f), "an object"))
                return false;
        check_keys(c, f, path, keys);

        caps = brig_json_member(f, "caps");
        n = array_len(c, caps, sub(p, path, "caps"), 64);
        i = 0;
        cJSON_ArrayForEach (it, (n ? caps : NULL))
                (void) check_type(c, idx(q, p, i++), it, cJSON_IsString(it), "a capability name");
        if (n > 0)
                all = false;

        arches = brig_json_member(f, "arches");
        n = array_len(c, arches, sub(p, path, "arches"), 64);
        if (n > 0) {
                bool native = false;
                i = 0;
                cJSON_ArrayForEach (it, arches)
                        if (check_type(c, idx(q, p, i++), it, cJSON_IsString(it), "an architecture name") &&
                            native_arch_named(it->valuestring))
                                native = true;
                all &= native;
                any |= native;
        }

        mk = brig_json_member(f, "minKernel");
        if (mk && !cJSON_IsNull(mk) &&
            check_type(c, sub(p, path, "minKernel"), mk, cJSON_IsString(mk), "a string")) {
                unsigned major, minor;
                if (!parse_kernel(mk->valuestring, &major, &minor))
                        error(c, p, "expected a kernel version like \"4.8\", got %s",
                              quote(q, mk->valuestring));
                else {
                        bool newer = c->kernel_major > major ||
                                     (c->kernel_major == major && c->kernel_minor >= minor);
                        all &= newer;
                        any |= newer;
                }
        }
        return exclude ? any : all;
}

static bool get_action(ctx *c, const cJSON *obj, const char *path, const char *key, const char *errno_key,
                       uint64_t default_errno, uint32_t *ret) {
        const cJSON *it = brig_json_member(obj, key), *en = brig_json_member(obj, errno_key);
        char p[PATHBUF], q[72];
        uint64_t data = default_errno;
        uint32_t action = 0;
        size_t i;

        sub(p, path, key);
        if (!it) {
                error(c, p, "missing");
                return false;
        }
        if (!check_type(c, p, it, cJSON_IsString(it), "an action name"))
                return false;
        for (i = 0; i < ELEMENTSOF(actions); i++)
                if (strcmp(it->valuestring, actions[i].name) == 0)
                        break;
        if (i == ELEMENTSOF(actions)) {
                error(c, p, "unknown action %s", quote(q, it->valuestring));
                return false;
        }
        action = actions[i].action;
        if (action == SCMP_ACT_NOTIFY) {
                warn(c, p, "SCMP_ACT_NOTIFY has no supervisor in brig, treated as SCMP_ACT_ERRNO");
                action = SCMP_ACT_ERRNO(0);
        }

        /* TRACE hands its 16-bit value to the tracer; other actions ignore it. */
        if (en && !cJSON_IsNull(en) &&
            !get_uint(c, sub(p, path, errno_key), en, action == SCMP_ACT_TRACE(0) ? 65535 : MAX_ERRNO_RET,
                      &data))
                return false;
        if (action == SCMP_ACT_ERRNO(0)) {
                /* errno 0 would make a refused call report success without running. */
                if (data == 0) {
                        error(c, p, "an errno of 0 would fake success");
                        return false;
                }
                action = SCMP_ACT_ERRNO((uint32_t) data);
        } else if (action == SCMP_ACT_TRACE(0))
                action = SCMP_ACT_TRACE((uint32_t) (en ? data : 0));
        *ret = action;
        return true;
}

static void parse_args(ctx *c, const cJSON *args, const char *path, brig_seccomp_profile_rule *rule) {
        static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
        unsigned used = 0;
        const cJSON *a;
        char p[PATHBUF], q[PATHBUF], b[72];
        size_t n = array_len(c, args, path, BRIG_SECCOMP_PROFILE_MAX_ARGS), i = 0;

        cJSON_ArrayForEach (a, (n ? args : NULL)) {
                brig_seccomp_profile_arg *arg = &rule->args[rule->n_args];
                const cJSON *op = brig_json_member(a, "op"), *v2 = brig_json_member(a, "valueTwo");
                uint64_t index = 0;
                bool ok = true;
                size_t k;

                idx(p, path, i++);
                if (!check_type(c, p, a, cJSON_IsObject(a), "an object"))
                        continue;
                check_keys(c, a, p, keys);
                *arg = (brig_seccomp_profile_arg){0};
                ok &= get_uint(c, sub(q, p, "index"), brig_json_member(a, "index"), 5, &index);
                ok &= get_uint(c, sub(q, p, "value"), brig_json_member(a, "value"), UINT64_MAX, &arg->value);
                if (v2 && !cJSON_IsNull(v2))
                        ok &= get_uint(c, sub(q, p, "valueTwo"), v2, UINT64_MAX, &arg->value_two);
                sub(q, p, "op");
                if (!op)
                        ok = (error(c, q, "missing"), false);
                else if (check_type(c, q, op, cJSON_IsString(op), "a comparison name")) {
                        for (k = 0; k < ELEMENTSOF(ops); k++)
                                if (strcmp(op->valuestring, ops[k].name) == 0)
                                        break;
                        if (k == ELEMENTSOF(ops))
                                ok = (error(c, q, "unknown comparison %s", quote(b, op->valuestring)),
                                      false);
                        else
                                arg->op = (int) ops[k].op;
                } else
                        ok = false;
                if (!ok)
                        continue;
                /* libseccomp takes one comparison per argument in a rule (2.5.4 returns -EINVAL). */
                if (used & (1u << index)) {
                        error(c, p, "a second comparison of argument %u in one rule is not supported",
                              (unsigned) index);
                        continue;
                }
                used |= 1u << index;
                arg->index = (unsigned) index;
                rule->n_args++;
        }
}

/* Resolves the rule's names; unknown ones (other architectures, newer kernels) are warnings. */
static void parse_names(ctx *c, const cJSON *rule, const char *path, brig_seccomp_profile_rule *out) {
        const cJSON *names = brig_json_member(rule, "names"), *name = brig_json_member(rule, "name"), *it;
        char p[PATHBUF], q[PATHBUF], b[72], unknown[200] = "";
        size_t n, i = 0, n_unknown = 0, first = 0;

        if (names && name) {
                error(c, path, "has both \"names\" and \"name\"");
                return;
        }
        if (name) {
                /* The legacy single-name form. */
                sub(p, path, "name");
                if (!check_type(c, p, name, cJSON_IsString(name), "a syscall name"))
                        return;
                n = 1;
        } else {
                sub(p, path, "names");
                if (!names) {
                        error(c, path, "needs \"names\"");
                        return;
                }
                n = array_len(c, names, p, BRIG_SECCOMP_PROFILE_MAX_NAMES);
        }
        out->nrs = calloc(n ? n : 1, sizeof(int));
        if (!out->nrs) {
                c->oom = true;
                return;
        }
        for (it = name ? name : (n ? names->child : NULL); it && i < n; it = it->next, i++) {
                const char *s;
                int nr;

                if (name)
                        snprintf(q, sizeof(q), "%s", p);
                else
                        idx(q, p, i);
                if (!check_type(c, q, it, cJSON_IsString(it), "a syscall name"))
                        continue;
                s = it->valuestring;
                if (!*s || strlen(s) > MAX_SYSCALL_NAME_BYTES ||
                    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s)) {
                        error(c, q, "expected a syscall name like \"read\", got %s", quote(b, s));
                        continue;
                }
                /* Negative numbers are libseccomp's pseudo-syscalls: names of other architectures. */
                nr = seccomp_syscall_resolve_name(s);
                if (nr < 0) {
                        size_t len = strlen(unknown);
                        if (n_unknown++ == 0)
                                first = i;
                        if (len + strlen(s) + 8 < sizeof(unknown))
                                (void) snprintf(unknown + len, sizeof(unknown) - len, "%s%s",
                                                len ? ", " : "", quote(b, s));
                        else if (!strstr(unknown, ", ..."))
                                (void) snprintf(unknown + len, sizeof(unknown) - len, ", ...");
                        continue;
                }
                out->nrs[out->n_nrs++] = nr;
        }
        /* One warning per rule: a multi-arch profile names dozens of other architectures' syscalls. */
        if (n_unknown == 1)
                warn(c, name ? p : idx(q, p, first), "unknown syscall %s on this architecture, ignoring",
                     unknown);
        else if (n_unknown > 1)
                warn(c, p, "%zu syscalls unknown on this architecture, ignoring: %s", n_unknown, unknown);
}

static void parse_rule(ctx *c, const cJSON *r, const char *path, size_t index, brig_seccomp_profile *p) {
        static const char *const keys[] = {"names",    "name",     "action",  "errnoRet", "args",
                                           "includes", "excludes", "comment", NULL};
        brig_seccomp_profile_rule rule = {.json_index = index};
        const cJSON *inc, *exc, *comment;
        bool applies = true;
        size_t errors = c->n_errors;
        char q[PATHBUF];

        if (!check_type(c, path, r, cJSON_IsObject(r), "an object"))
                return;
        check_keys(c, r, path, keys);
        /* Both filters are checked even when the first already drops the rule, so that a profile's
         * mistakes show up on every machine. */
        inc = brig_json_member(r, "includes");
        exc = brig_json_member(r, "excludes");
        if (inc && !cJSON_IsNull(inc) && !filter_holds(c, inc, sub(q, path, "includes"), false))
                applies = false;
        if (exc && !cJSON_IsNull(exc) && filter_holds(c, exc, sub(q, path, "excludes"), true))
                applies = false;
        (void) get_action(c, r, path, "action", "errnoRet", EPERM, &rule.action);
        parse_args(c, brig_json_member(r, "args"), sub(q, path, "args"), &rule);
        if ((comment = brig_json_member(r, "comment")))
                (void) check_type(c, sub(q, path, "comment"), comment, cJSON_IsString(comment), "a string");

        /* Names of a rule that does not apply here are not resolved: they may well belong to another
         * architecture. */
        if (applies)
                parse_names(c, r, path, &rule);
        if (!applies || c->n_errors > errors || rule.n_nrs == 0) {
                free(rule.nrs);
                return;
        }
        p->rules[p->n_rules++] = rule;
}

/* Top-level architectures: other architectures are ignored (brig's floor kills them); names are checked so
 * that typos are reported. */
static void check_arch_name(ctx *c, const char *path, const cJSON *it) {
        char b[72];

        if (!check_type(c, path, it, cJSON_IsString(it), "an architecture name"))
                return;
        if (strncmp(it->valuestring, "SCMP_ARCH_", 10) != 0)
                error(c, path, "expected an architecture like \"SCMP_ARCH_X86_64\", got %s",
                      quote(b, it->valuestring));
}

static void parse_arches(ctx *c, const cJSON *root, const char *prefix) {
        static const char *const map_keys[] = {"architecture", "subArchitectures", NULL};
        const cJSON *arches = brig_json_member(root, "architectures"),
                    *map = brig_json_member(root, "archMap");
        const cJSON *it, *s;
        char p[PATHBUF], q[PATHBUF], r[PATHBUF];
        size_t n, i = 0, j;

        n = array_len(c, arches, sub(p, prefix, "architectures"), 64);
        cJSON_ArrayForEach (it, (n ? arches : NULL))
                check_arch_name(c, idx(q, p, i++), it);

        n = array_len(c, map, sub(p, prefix, "archMap"), 64);
        i = 0;
        cJSON_ArrayForEach (it, (n ? map : NULL)) {
                idx(q, p, i++);
                if (!check_type(c, q, it, cJSON_IsObject(it), "an object"))
                        continue;
                check_keys(c, it, q, map_keys);
                check_arch_name(c, sub(r, q, "architecture"), brig_json_member(it, "architecture"));
                const cJSON *subs = brig_json_member(it, "subArchitectures");
                char sp[PATHBUF];
                sub(sp, q, "subArchitectures");
                n = array_len(c, subs, sp, 64);
                j = 0;
                cJSON_ArrayForEach (s, (n ? subs : NULL))
                        check_arch_name(c, idx(r, sp, j++), s);
        }
}

int brig_seccomp_profile_parse(const cJSON *json, const char *prefix, const char *kernel_release,
                               brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                               brig_error *err) {
        /* Fields of Docker's and the OCI runtime spec's formats that brig reads, or accepts and ignores
         * ("flags" and "listenerPath" only matter to a runtime with a notify supervisor). */
        static const char *const keys[] = {"defaultAction", "defaultErrnoRet",  "architectures",
                                           "archMap",       "syscalls",         "flags",
                                           "listenerPath",  "listenerMetadata", NULL};
        _cleanup_(brig_seccomp_profile_freep) brig_seccomp_profile *p = NULL;
        ctx c = {.diags = diags, .err = err};
        const cJSON *syscalls, *it;
        struct utsname u;
        char q[PATHBUF];
        size_t n, i = 0;

        assert(prefix);
        assert(ret);

        if (!kernel_release)
                kernel_release = uname(&u) == 0 ? u.release : "0.0";
        if (!parse_kernel(kernel_release, &c.kernel_major, &c.kernel_minor))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL, "cannot parse kernel release '%s'",
                                      kernel_release);

        if (!cJSON_IsObject(json)) {
                error(&c, prefix, "expected a seccomp profile object, got %s", brig_json_type_name(json));
                return -EINVAL;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return brig_error_oom(err);
        check_keys(&c, json, prefix, keys);
        if (brig_json_member(json, "listenerPath"))
                warn(&c, sub(q, prefix, "listenerPath"), "brig has no notify supervisor, ignoring");

        (void) get_action(&c, json, prefix, "defaultAction", "defaultErrnoRet", EPERM, &p->default_action);
        parse_arches(&c, json, prefix);

        syscalls = brig_json_member(json, "syscalls");
        n = array_len(&c, syscalls, sub(q, prefix, "syscalls"), BRIG_SECCOMP_PROFILE_MAX_RULES);
        p->rules = calloc(n ? n : 1, sizeof(*p->rules));
        if (!p->rules)
                return brig_error_oom(err);
        cJSON_ArrayForEach (it, (n ? syscalls : NULL)) {
                char rp[PATHBUF];
                parse_rule(&c, it, idx(rp, q, i), i, p);
                i++;
                if (c.oom)
                        break;
        }

        if (c.oom)
                return brig_error_oom(err);
        if (c.n_errors > 0)
                return -EINVAL;
        /* The source as cJSON prints it: inline and file profiles with the same content get one key. */
        _cleanup_free_ char *text = cJSON_PrintUnformatted(json);
        if (!text || brig_sha256_hex(text, strlen(text), p->digest) < 0)
                return brig_error_oom(err);
        *ret = TAKE_PTR(p);
        return 0;
}

int brig_seccomp_profile_load(const char *path, const char *prefix, const char *kernel_release,
                              brig_seccomp_profile **ret, brig_seccomp_profile_diags *diags,
                              brig_error *err) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ cJSON *root = NULL;
        ctx c = {.diags = diags, .err = err};
        const char *end = NULL;
        struct stat st;
        size_t len = 0;
        char q[72];

        assert(path);
        assert(prefix);

        /* O_NONBLOCK: a FIFO must not block the open; it is refused below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int e = errno;
                return file_error(&c, -e, e == ENOENT ? BRIG_KIND_NOT_FOUND : BRIG_KIND_IO, prefix,
                                  "cannot open %s: %s", quote(q, path), strerror(e));
        }
        if (fstat(fd, &st) < 0) {
                int e = errno;
                return file_error(&c, -e, BRIG_KIND_IO, prefix, "cannot stat %s: %s", quote(q, path),
                                  strerror(e));
        }
        if (!S_ISREG(st.st_mode))
                return file_error(&c, -EINVAL, BRIG_KIND_POLICY, prefix, "%s is not a regular file",
                                  quote(q, path));
        if (st.st_size > BRIG_SECCOMP_PROFILE_MAX_BYTES)
                return file_error(&c, -EFBIG, BRIG_KIND_LIMIT, prefix, "%s is larger than the 1 MiB limit",
                                  quote(q, path));
        /* One byte more than the limit, to notice a file that grew since fstat(). */
        buf = malloc(BRIG_SECCOMP_PROFILE_MAX_BYTES + 1);
        if (!buf)
                return brig_error_oom(err);
        for (;;) {
                ssize_t n = read(fd, buf + len, BRIG_SECCOMP_PROFILE_MAX_BYTES + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        return file_error(&c, -e, BRIG_KIND_IO, prefix, "cannot read %s: %s", quote(q, path),
                                          strerror(e));
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > BRIG_SECCOMP_PROFILE_MAX_BYTES)
                        return file_error(&c, -EFBIG, BRIG_KIND_LIMIT, prefix,
                                          "%s is larger than the 1 MiB limit", quote(q, path));
        }
        /* cJSON decodes "\u0000" into a NUL that cuts a name short; profiles have no use for it. */
        buf[len] = 0;
        if (memchr(buf, 0, len) || memmem(buf, len, "\\u0000", 6))
                return file_error(&c, -EINVAL, BRIG_KIND_POLICY, prefix, "%s contains a NUL character",
                                  quote(q, path));
        bool oom;
        root = brig_json_parse_raw(buf, len, &end, &oom);
        if (oom)
                return brig_error_oom(err);
        size_t off = end && end >= buf && end <= buf + len ? (size_t) (end - buf) : 0;
        if (root)
                off += strspn(buf + off, " \t\r\n");
        if (!root || off < len) {
                unsigned line = 1;
                for (size_t i = 0; i < off; i++)
                        line += buf[i] == '\n';
                return file_error(&c, -EINVAL, BRIG_KIND_POLICY, prefix, "%s: invalid JSON at line %u",
                                  quote(q, path), line);
        }
        return brig_seccomp_profile_parse(root, prefix, kernel_release, ret, diags, err);
}

void brig_seccomp_profile_free(brig_seccomp_profile *p) {
        if (!p)
                return;
        for (size_t i = 0; p->rules && i < p->n_rules; i++)
                free(p->rules[i].nrs);
        free(p->rules);
        free(p);
}

void brig_seccomp_profile_diags_done(brig_seccomp_profile_diags *d) {
        if (!d)
                return;
        free(d->items);
        d->items = NULL;
        d->n = 0;
}
