/* SPDX-License-Identifier: MIT */
/* Plan building: turns a validated policy plus one request into the data brig-jail applies. Pure, so that
 * every decision about what a jail sees is unit-testable without privileges. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/landlock.h"
#include "sandbox/plan.h"

void brig_plan_free(brig_plan *plan) {
        if (!plan)
                return;
        for (size_t i = 0; i < plan->n_mounts; i++) {
                free(plan->mounts[i].source);
                free(plan->mounts[i].dest);
                free(plan->mounts[i].content);
        }
        free(plan->mounts);
        for (size_t i = 0; i < plan->n_landlock_rules; i++)
                free(plan->landlock_rules[i].path);
        free(plan->landlock_rules);
        free(plan->hostname);
        free(plan->cwd);
        brig_strv_free(plan->argv);
        brig_strv_free(plan->envp);
        free(plan);
}

int brig_identity_detect(uid_t host_id, brig_identity *ret, brig_error *err) {
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long inside = 1, outside = 1, count = 0;

        if (geteuid() != 0) {
                *ret = (brig_identity){.uid_outside = geteuid(), .gid_outside = getegid(), .root = false};
                return 0;
        }
        /* Root inside `unshare -r` owns only its own id: it cannot map jails to another host id. */
        f = fopen("/proc/self/uid_map", "re");
        if (!f)
                return brig_error_set_errno(err, -errno, BRIG_KIND_SANDBOX, "read /proc/self/uid_map");
        if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) != 3)
                return brig_error_set(err, -EIO, BRIG_KIND_SANDBOX, "parse /proc/self/uid_map");
        if (inside == 0 && outside == 0 && count == 4294967295UL)
                *ret = (brig_identity){.uid_outside = host_id, .gid_outside = host_id, .root = true};
        else
                *ret = (brig_identity){.uid_outside = 0, .gid_outside = 0, .root = false};
        return 0;
}

int brig_relpath_check(const char *path, const char *field, brig_error *err) {
        size_t len = strlen(path);

        if (len > 4095)
                return brig_error_set(err, -ENAMETOOLONG, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: longer than 4095 bytes", field);
        if (path[0] == '/')
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                      "%s: must be relative to the workspace, got \"%.100s\"", field, path);
        for (const char *p = path; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "%s: must not contain empty, \".\" or \"..\" components, got "
                                              "\"%.100s\"",
                                              field, path);
                p += n + (slash ? 1 : 0);
                if (slash && !*p)
                        break; /* one trailing slash is fine */
        }
        return 0;
}

static int add_mount(brig_plan *plan, brig_mount m) {
        brig_mount *n = reallocarray(plan->mounts, plan->n_mounts + 1, sizeof(*n));
        if (!n) {
                free(m.source);
                free(m.dest);
                free(m.content);
                return -ENOMEM;
        }
        plan->mounts = n;
        plan->mounts[plan->n_mounts++] = m;
        return 0;
}

static int add_file(brig_plan *plan, const char *dest, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int add_file(brig_plan *plan, const char *dest, const char *fmt, ...) {
        char *content = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&content, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        char *d = strdup(dest);
        if (!d) {
                free(content);
                return -ENOMEM;
        }
        return add_mount(
                plan,
                (brig_mount){.kind = BRIG_MOUNT_FILE, .dest = d, .content = content, .read_only = true});
}

static bool env_name_valid(const char *s, size_t n) {
        if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

/* Policy environment first, then the request's entries replacing same-named ones. */
static int build_env(const brig_policy *policy, const char *const *extra, char ***ret, brig_error *err) {
        size_t n_extra = 0, n = 0, total = 0;
        _cleanup_strv_free_ char **v = NULL;

        for (const char *const *e = extra; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (++n_extra > BRIG_PLAN_MAX_ENV)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "env: more than %d variables",
                                              BRIG_PLAN_MAX_ENV);
                if (!eq || !env_name_valid(*e, (size_t) (eq - *e)))
                        return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT,
                                              "env: invalid variable name in \"%.64s\"", *e);
                total += strlen(*e);
                if (total > BRIG_PLAN_MAX_TOTAL_BYTES)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "env: more than %d bytes",
                                              BRIG_PLAN_MAX_TOTAL_BYTES);
        }
        v = calloc(policy->env.n_vars + n_extra + 1, sizeof(char *));
        if (!v)
                return brig_error_oom(err);
        for (size_t i = 0; i < policy->env.n_vars; i++) {
                const char *pe = policy->env.vars[i];
                size_t name_len = strcspn(pe, "=");
                bool overridden = false;
                for (const char *const *e = extra; e && *e; e++)
                        if (strncmp(*e, pe, name_len + 1) == 0)
                                overridden = true;
                if (overridden)
                        continue;
                if (!(v[n++] = strdup(pe)))
                        return brig_error_oom(err);
        }
        for (const char *const *e = extra; e && *e; e++) {
                /* A repeated name in the request: the last one wins. */
                size_t name_len = strcspn(*e, "=");
                bool later = false;
                for (const char *const *f = e + 1; *f; f++)
                        if (strncmp(*f, *e, name_len + 1) == 0)
                                later = true;
                if (later)
                        continue;
                if (!(v[n++] = strdup(*e)))
                        return brig_error_oom(err);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Appends each NAME=value of vars unless envp already sets NAME (the policy's env or the request, which can
 * only break the command's own access with it). -ENOMEM only. */
static int add_env_unless_set(brig_plan *plan, const char *const *vars) {
        size_t n = 0, k = 0;
        char **v;

        for (; plan->envp[n]; n++)
                ;
        for (; vars && vars[k]; k++)
                ;
        v = reallocarray(plan->envp, n + k + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        plan->envp = v;
        for (size_t i = 0; i < k; i++) {
                size_t len = strcspn(vars[i], "=");
                bool set = false;
                for (size_t j = 0; j < n && !set; j++)
                        set = strncmp(v[j], vars[i], len) == 0 && v[j][len] == '=';
                if (set)
                        continue;
                if (!(v[n] = strdup(vars[i])))
                        return -ENOMEM;
                v[++n] = NULL;
        }
        return 0;
}

/* The proxy variables every command of a proxy-mode environment gets. */
static int add_proxy_env(brig_plan *plan) {
        static const char *const names[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"};
        char vars[ELEMENTSOF(names) + 2][64];
        const char *ptrs[ELEMENTSOF(vars) + 1] = {NULL};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                (void) snprintf(vars[i], sizeof(vars[i]), "%s=http://127.0.0.1:%u", names[i],
                                (unsigned) plan->proxy_port);
        (void) snprintf(vars[ELEMENTSOF(names)], sizeof(vars[0]), "NO_PROXY=localhost,127.0.0.1,::1");
        (void) snprintf(vars[ELEMENTSOF(names) + 1], sizeof(vars[0]), "no_proxy=localhost,127.0.0.1,::1");
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                ptrs[i] = vars[i];
        return add_env_unless_set(plan, ptrs);
}

/* The variables that make the jail's TLS clients trust the environment's CA bundle. */
static int add_ca_env(brig_plan *plan) {
        static const char *const names[] = BRIG_PLAN_CA_VARS;
        char vars[ELEMENTSOF(names)][64];
        const char *ptrs[ELEMENTSOF(vars) + 1] = {NULL};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                (void) snprintf(vars[i], sizeof(vars[i]), "%s=%s", names[i], BRIG_PLAN_CA_BUNDLE);
                ptrs[i] = vars[i];
        }
        return add_env_unless_set(plan, ptrs);
}

static int copy_argv(const char *const *argv, char ***ret, brig_error *err) {
        size_t n = 0, total = 0;
        _cleanup_strv_free_ char **v = NULL;

        for (; argv && argv[n]; n++) {
                if (n >= BRIG_PLAN_MAX_ARGS)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "argv: more than %d arguments",
                                              BRIG_PLAN_MAX_ARGS);
                size_t l = strlen(argv[n]);
                if (l > BRIG_PLAN_MAX_ARG_BYTES)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT,
                                              "argv[%zu]: longer than %d bytes", n, BRIG_PLAN_MAX_ARG_BYTES);
                total += l;
                if (total > BRIG_PLAN_MAX_TOTAL_BYTES)
                        return brig_error_set(err, -E2BIG, BRIG_KIND_LIMIT, "argv: more than %d bytes",
                                              BRIG_PLAN_MAX_TOTAL_BYTES);
        }
        if (n == 0 || argv[0][0] == 0)
                return brig_error_set(err, -EINVAL, BRIG_KIND_INVALID_ARGUMENT, "argv: must name a program");
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return brig_error_oom(err);
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(argv[i])))
                        return brig_error_oom(err);
        *ret = TAKE_PTR(v);
        return 0;
}

static size_t depth(const char *path) {
        size_t n = 0;
        for (; *path; path++)
                n += *path == '/';
        return n;
}

/* Stable: mounts of equal depth keep the policy's order. */
static void sort_by_depth(brig_mount *m, size_t n) {
        for (size_t i = 1; i < n; i++) {
                brig_mount x = m[i];
                size_t j = i, d = depth(x.dest);
                for (; j > 0 && depth(m[j - 1].dest) > d; j--)
                        m[j] = m[j - 1];
                m[j] = x;
        }
}

static int add_bind(brig_plan *plan, const char *source, const char *dest, bool read_only, bool optional) {
        brig_mount m = {.kind = BRIG_MOUNT_BIND,
                        .source = strdup(source),
                        .dest = strdup(dest),
                        .read_only = read_only,
                        .optional = optional};

        if (!m.source || !m.dest) {
                free(m.source);
                free(m.dest);
                return -ENOMEM;
        }
        return add_mount(plan, m);
}

static int add_mounts(brig_plan *plan, const brig_policy *policy, const char *workspace,
                      const char *memories, const char *ca_bundle) {
        int r;

        /* Generated files go first, into the fresh root, before any bind could be written through. */
        r = add_file(plan, "/etc/passwd",
                     "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                     "agent:x:%d:%d:brig agent:%s:/bin/sh\n"
                     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                     (int) plan->uid_inside, (int) plan->gid_inside, policy->filesystem.workspace);
        if (r >= 0)
                r = add_file(plan, "/etc/group", "root:x:0:\nagent:x:%d:\nnogroup:x:65534:\n",
                             (int) plan->gid_inside);
        if (r >= 0)
                r = add_file(plan, "/etc/hostname", "%s\n", policy->hostname);
        if (r >= 0)
                r = add_file(plan, "/etc/hosts", "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost\n",
                             policy->hostname);
        /* No resolver in the jail, so that DNS cannot carry data out: names are the proxy's to resolve. The
         * nameserver is loopback, where nothing answers unless the agent runs one itself; lookups fail at
         * once (ECONNREFUSED). */
        if (r >= 0 && plan->proxy_port)
                r = add_file(
                        plan, "/etc/resolv.conf",
                        "# brig: no DNS in this jail. Reach the network through the HTTP proxy in\n"
                        "# $HTTPS_PROXY / $HTTP_PROXY (http://127.0.0.1:%u), which resolves names itself.\n"
                        "nameserver 127.0.0.1\n"
                        "options attempts:1 timeout:1\n",
                        (unsigned) plan->proxy_port);
        if (r < 0)
                return r;

        size_t first = plan->n_mounts;
        for (size_t i = 0; i < policy->filesystem.n_binds; i++) {
                const brig_bind *b = &policy->filesystem.binds[i];
                if ((r = add_bind(plan, b->source, b->dest, b->read_only, b->optional)) < 0)
                        return r;
        }
        for (size_t i = 0; i < policy->filesystem.n_tmpfs; i++) {
                brig_mount m = {.kind = BRIG_MOUNT_TMPFS,
                                .dest = strdup(policy->filesystem.tmpfs[i].dest),
                                .size = policy->filesystem.tmpfs[i].size_bytes,
                                .mode = policy->filesystem.tmpfs[i].mode};
                if (!m.dest)
                        return -ENOMEM;
                if ((r = add_mount(plan, m)) < 0)
                        return r;
        }
        if ((r = add_bind(plan, workspace, policy->filesystem.workspace, false, false)) < 0)
                return r;
        /* The memory scope's checked-out view (policy memory.mount): read-only, as its only writer is brigd.
         */
        if (memories && (r = add_bind(plan, memories, BRIG_PLAN_MEMORIES, true, false)) < 0)
                return r;
        /* A mount hides whatever was mounted below its path before it: parents go first, whatever the
         * section or file order (a bind at /tmp/cache under a tmpfs at /tmp, a bind inside the workspace).
         */
        sort_by_depth(plan->mounts + first, plan->n_mounts - first);
        /* After the mounts they may lie below; nothing the policy mounts is below them (policy.c). */
        for (size_t i = 0; i < policy->filesystem.n_hidden; i++) {
                brig_mount m = {.kind = BRIG_MOUNT_HIDE, .dest = strdup(policy->filesystem.hidden[i])};
                if (!m.dest)
                        return -ENOMEM;
                if ((r = add_mount(plan, m)) < 0)
                        return r;
        }
        /* Above whatever the policy mounts, read-only: the jail reads its CA bundle, never changes it. */
        if (ca_bundle && (r = add_bind(plan, ca_bundle, BRIG_PLAN_CA_BUNDLE, true, false)) < 0)
                return r;
        brig_mount proc = {.kind = BRIG_MOUNT_PROC, .dest = strdup("/proc")};
        if (!proc.dest || (r = add_mount(plan, proc)) < 0)
                return r < 0 ? r : -ENOMEM;
        brig_mount dev = {.kind = BRIG_MOUNT_DEV, .dest = strdup("/dev")};
        if (!dev.dest || (r = add_mount(plan, dev)) < 0)
                return r < 0 ? r : -ENOMEM;
        return 0;
}

static int add_landlock_rule(brig_plan *plan, const char *path, uint64_t access) {
        brig_landlock_rule *n = reallocarray(plan->landlock_rules, plan->n_landlock_rules + 1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        plan->landlock_rules = n;
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        n[plan->n_landlock_rules++] = (brig_landlock_rule){.path = p, .access = access};
        return 0;
}

/* One rule per mount, so that Landlock allows what the mounts expose and, in the rest of the jail's root
 * (the root directory, /etc, the directories brig creates as mount points' parents), only listing
 * directories: `ls /` and `find /` are what agents do first, and the root holds nothing brig did not put
 * there. Rules add up along a path (a read-only bind inside the workspace gets the workspace's rights from
 * Landlock; its mount still makes it read-only). */
static int add_landlock_rules(brig_plan *plan) {
        int r = add_landlock_rule(plan, "/", BRIG_LANDLOCK_FS_READ_DIR);

        for (size_t i = 0; r >= 0 && i < plan->n_mounts; i++) {
                const brig_mount *m = &plan->mounts[i];
                switch (m->kind) {
                case BRIG_MOUNT_BIND:
                        r = add_landlock_rule(plan, m->dest,
                                              m->read_only ? BRIG_LANDLOCK_FS_READ_EXEC
                                                           : BRIG_LANDLOCK_FS_ALL);
                        break;
                case BRIG_MOUNT_TMPFS:
                        r = add_landlock_rule(plan, m->dest, BRIG_LANDLOCK_FS_ALL);
                        break;
                case BRIG_MOUNT_PROC:
                        r = add_landlock_rule(plan, m->dest, BRIG_LANDLOCK_FS_PROC);
                        break;
                case BRIG_MOUNT_DEV: {
                        char shm[4096];
                        (void) snprintf(shm, sizeof(shm), "%s/shm", m->dest);
                        r = add_landlock_rule(plan, m->dest, BRIG_LANDLOCK_FS_DEV);
                        /* mounts.c puts a private, writable tmpfs there. */
                        if (r >= 0)
                                r = add_landlock_rule(plan, shm, BRIG_LANDLOCK_FS_ALL);
                        break;
                }
                case BRIG_MOUNT_FILE:
                        r = add_landlock_rule(plan, m->dest, BRIG_LANDLOCK_FS_READ_FILE);
                        break;
                case BRIG_MOUNT_HIDE:
                        /* Empty and read-only: it inherits the rule of the mount it hides part of. */
                        break;
                case _BRIG_MOUNT_KIND_MAX:
                case _BRIG_MOUNT_KIND_INVALID:
                        r = -EINVAL;
                        break;
                }
        }
        return r;
}

int brig_plan_build(const brig_policy *policy, const brig_plan_request *req, const brig_identity *id,
                    brig_plan **ret, brig_error *err) {
        _cleanup_(brig_plan_freep) brig_plan *plan = NULL;
        int r;

        if (req->mode != BRIG_PLAN_ENTER && (!req->workspace || req->workspace[0] != '/'))
                return brig_error_set(err, -EINVAL, BRIG_KIND_INTERNAL,
                                      "workspace: must be an absolute path");
        if (req->cwd && req->cwd[0] && (r = brig_relpath_check(req->cwd, "cwd", err)) < 0)
                return r;

        plan = calloc(1, sizeof(*plan));
        if (!plan)
                return brig_error_oom(err);
        plan->mode = req->mode;
        plan->namespaces =
                CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
        /* Both modes keep the jail in a network namespace of its own with loopback only: in proxy mode the
         * only way out is the worker's proxy, listening on that loopback (worker/proxy.c). A one-shot RUN
         * jail has no worker behind it, hence no proxy: loopback only. */
        plan->namespaces |= CLONE_NEWNET;
        plan->loopback = true;
        if (policy->network.mode == BRIG_NETWORK_PROXY && req->mode != BRIG_PLAN_RUN)
                plan->proxy_port = policy->network.proxy_port;
        plan->uid_inside = policy->identity.uid;
        plan->gid_inside = policy->identity.gid;
        plan->capabilities = policy->capabilities;
        plan->uid_outside = id->uid_outside;
        plan->gid_outside = id->gid_outside;
        plan->seccomp = true;
        if (!(plan->hostname = strdup(policy->hostname)))
                return brig_error_oom(err);

        if (req->mode != BRIG_PLAN_HOLD && (r = copy_argv(req->argv, &plan->argv, err)) < 0)
                return r;
        if ((r = build_env(policy, req->env, &plan->envp, err)) < 0)
                return r;
        if (plan->proxy_port && add_proxy_env(plan) < 0) /* -ENOMEM only */
                return brig_error_oom(err);
        /* Placeholders, never values: the values stay in the worker (worker/proxy_secrets.h). */
        if (plan->proxy_port && add_env_unless_set(plan, req->secret_env) < 0)
                return brig_error_oom(err);
        if (plan->proxy_port && req->ca_bundle && add_ca_env(plan) < 0)
                return brig_error_oom(err);
        if (req->cwd && req->cwd[0])
                r = asprintf(&plan->cwd, "%s/%s", policy->filesystem.workspace, req->cwd);
        else
                r = asprintf(&plan->cwd, "%s", policy->filesystem.workspace);
        if (r < 0)
                return brig_error_oom(err);

        const brig_limits *l = &policy->limits;
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_CORE, 0};
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_CPU, (l->cpu_time_ms + 999) / 1000};
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_DATA, l->memory_bytes};
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_NPROC, l->processes};
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_NOFILE, l->open_files};
        plan->rlimits[plan->n_rlimits++] = (brig_plan_rlimit){RLIMIT_FSIZE, l->file_size_bytes};

        if (req->mode != BRIG_PLAN_ENTER &&
            add_mounts(plan, policy, req->workspace, req->memories, req->ca_bundle) < 0) /* -ENOMEM only */
                return brig_error_oom(err);
        plan->landlock = policy->landlock;
        if (req->mode != BRIG_PLAN_ENTER && plan->landlock != BRIG_LANDLOCK_OFF &&
            (r = add_landlock_rules(plan)) < 0)
                return r == -ENOMEM ? brig_error_oom(err)
                                    : brig_error_set(err, r, BRIG_KIND_INTERNAL,
                                                     "landlock: a mount of no known kind");
        *ret = TAKE_PTR(plan);
        return 0;
}
