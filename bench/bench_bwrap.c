/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_bwrap.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"

static void add(bench_cmdline *c, const char *a) {
        if (c->n < BENCH_BWRAP_MAX_ARGS - 1)
                c->argv[c->n++] = strdup(a);
        c->argv[c->n] = NULL;
}

int bench_bwrap_cmdline(const char *path, const char *const *cmd, bench_cmdline *c, int *seccomp_fd) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char size[32], mode[16];

        if (brig_policy_load(path, &p, NULL, &err) < 0) {
                fprintf(stderr, "bench: %s: %s\n", path, err.msg);
                return -1;
        }
        brig_seccomp_spec spec = {.deny = (const char *const *) p->seccomp.deny,
                                  .n_deny = p->seccomp.n_deny,
                                  .errno_ret = p->seccomp.errno_ret,
                                  .audit = false,
                                  .profile = p->seccomp.profile};
        if (brig_seccomp_compile_spec(&spec, seccomp_fd, &err) < 0) {
                fprintf(stderr, "bench: seccomp: %s\n", err.msg);
                return -1;
        }
        add(c, BENCH_BWRAP);
        const char *fixed[] = {"--unshare-all", "--die-with-parent",
                               "--new-session", "--cap-drop",
                               "ALL",           "--uid",
                               "100000",        "--gid",
                               "100000",        "--hostname",
                               p->hostname,     "--clearenv"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                add(c, fixed[i]);
        for (size_t i = 0; i < p->filesystem.n_binds; i++) {
                add(c, p->filesystem.binds[i].read_only
                               ? (p->filesystem.binds[i].optional ? "--ro-bind-try" : "--ro-bind")
                               : (p->filesystem.binds[i].optional ? "--bind-try" : "--bind"));
                add(c, p->filesystem.binds[i].source);
                add(c, p->filesystem.binds[i].dest);
        }
        for (size_t i = 0; i < p->filesystem.n_tmpfs; i++) {
                snprintf(size, sizeof(size), "%llu", (unsigned long long) p->filesystem.tmpfs[i].size_bytes);
                snprintf(mode, sizeof(mode), "%o", p->filesystem.tmpfs[i].mode);
                add(c, "--perms");
                add(c, mode);
                add(c, "--size");
                add(c, size);
                add(c, "--tmpfs");
                add(c, p->filesystem.tmpfs[i].dest);
        }
        for (size_t i = 0; i < p->filesystem.n_hidden; i++) {
                struct stat st;
                if (stat(p->filesystem.hidden[i], &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        add(c, "--tmpfs");
                        add(c, p->filesystem.hidden[i]);
                        add(c, "--remount-ro");
                } else {
                        add(c, "--ro-bind");
                        add(c, "/dev/null");
                }
                add(c, p->filesystem.hidden[i]);
        }
        add(c, "--proc");
        add(c, "/proc");
        add(c, "--dev");
        add(c, "/dev");
        for (size_t i = 0; i < p->env.n_vars; i++) {
                char *eq = strchr(p->env.vars[i], '=');
                if (!eq)
                        continue;
                *eq = '\0';
                add(c, "--setenv");
                add(c, p->env.vars[i]);
                add(c, eq + 1);
                *eq = '=';
        }
        add(c, "--bind");
        c->workspace_arg = c->n;
        add(c, "WORKSPACE"); /* replaced per run */
        add(c, p->filesystem.workspace);
        add(c, "--chdir");
        add(c, p->filesystem.workspace);
        add(c, "--seccomp");
        snprintf(size, sizeof(size), "%d", BENCH_BWRAP_SECCOMP_FD);
        add(c, size);
        for (size_t i = 0; cmd[i]; i++)
                add(c, cmd[i]);
        brig_policy_free(p);
        return 0;
}

void bench_bwrap_print(const char *name, const bench_cmdline *c) {
        printf("  bwrap for %s:", name);
        for (int i = 0; i < c->n; i++)
                printf(" %s", i == c->workspace_arg ? "$(mktemp -d)" : c->argv[i]);
        printf(" %d<seccomp.bpf\n", BENCH_BWRAP_SECCOMP_FD);
}

void bench_bwrap_child_seccomp(int seccomp_fd) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", seccomp_fd);
        int fd = open(path, O_RDONLY);
        if (fd >= 0)
                dup2(fd, BENCH_BWRAP_SECCOMP_FD);
}
