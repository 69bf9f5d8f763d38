/* SPDX-License-Identifier: MIT */
/* Issue 17, goal 1: a one-shot `brig run --policy P -- /bin/true` against bubblewrap with the equivalent
 * isolation in the same run, for the default and strict policies, and `unshare -Urpf /bin/true` (the
 * namespace floor). bwrap's command line is built from the same policy and printed: a new user, pid, net,
 * ipc, uts and cgroup namespace, the policy's read-only binds, its tmpfs, its hidden paths, a fresh
 * workspace directory bound read-write (created and removed around each run, as brig run does), /proc,
 * /dev, the policy's environment, no capabilities, a new session, and the policy's seccomp filter (compiled
 * by brig's own compiler, without audit). What brig applies on top and bwrap cannot: Landlock, rlimits,
 * cgroup limits, audited seccomp denials. Medians of N interleaved runs. Not a test.
 *   bench_oneshot [BUILD [SOURCE [N]]]   (N 30) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "common/fs.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"

#define BWRAP "/usr/bin/bwrap"
#define SECCOMP_FD 10
#define MAX_ARGS 512

typedef struct cmdline {
        char *argv[MAX_ARGS];
        int n;
} cmdline;

static void add(cmdline *c, const char *a) {
        if (c->n < MAX_ARGS - 1)
                c->argv[c->n++] = strdup(a);
        c->argv[c->n] = NULL;
}

/* bwrap's arguments for the policy at path, workspace bound from ws (its path is replaced per run). */
static int bwrap_cmdline(const char *path, cmdline *c, int *seccomp_fd) {
        brig_error err = BRIG_ERROR_INIT;
        brig_policy *p = NULL;
        char size[32], mode[16];

        if (brig_policy_load(path, &p, NULL, &err) < 0) {
                fprintf(stderr, "bench_oneshot: %s: %s\n", path, err.msg);
                return -1;
        }
        brig_seccomp_spec spec = {.deny = (const char *const *) p->seccomp_deny,
                                  .n_deny = p->n_seccomp_deny,
                                  .errno_ret = p->seccomp_errno,
                                  .audit = false,
                                  .profile = p->seccomp_profile};
        if (brig_seccomp_compile_spec(&spec, seccomp_fd, &err) < 0) {
                fprintf(stderr, "bench_oneshot: seccomp: %s\n", err.msg);
                return -1;
        }
        add(c, BWRAP);
        const char *fixed[] = {"--unshare-all", "--die-with-parent",
                               "--new-session", "--cap-drop",
                               "ALL",           "--uid",
                               "100000",        "--gid",
                               "100000",        "--hostname",
                               p->hostname,     "--clearenv"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                add(c, fixed[i]);
        for (size_t i = 0; i < p->n_binds; i++) {
                add(c, p->binds[i].read_only ? (p->binds[i].optional ? "--ro-bind-try" : "--ro-bind")
                                             : (p->binds[i].optional ? "--bind-try" : "--bind"));
                add(c, p->binds[i].source);
                add(c, p->binds[i].dest);
        }
        for (size_t i = 0; i < p->n_tmpfs; i++) {
                snprintf(size, sizeof(size), "%llu", (unsigned long long) p->tmpfs[i].size_bytes);
                snprintf(mode, sizeof(mode), "%o", p->tmpfs[i].mode);
                add(c, "--perms");
                add(c, mode);
                add(c, "--size");
                add(c, size);
                add(c, "--tmpfs");
                add(c, p->tmpfs[i].dest);
        }
        for (size_t i = 0; i < p->n_hidden; i++) {
                struct stat st;
                if (stat(p->hidden[i], &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        add(c, "--tmpfs");
                        add(c, p->hidden[i]);
                        add(c, "--remount-ro");
                } else {
                        add(c, "--ro-bind");
                        add(c, "/dev/null");
                }
                add(c, p->hidden[i]);
        }
        add(c, "--proc");
        add(c, "/proc");
        add(c, "--dev");
        add(c, "/dev");
        for (size_t i = 0; i < p->n_env; i++) {
                char *eq = strchr(p->env[i], '=');
                if (!eq)
                        continue;
                *eq = '\0';
                add(c, "--setenv");
                add(c, p->env[i]);
                add(c, eq + 1);
                *eq = '=';
        }
        add(c, "--bind");
        add(c, "WORKSPACE"); /* replaced per run */
        add(c, p->workspace);
        add(c, "--chdir");
        add(c, p->workspace);
        add(c, "--seccomp");
        snprintf(size, sizeof(size), "%d", SECCOMP_FD);
        add(c, size);
        add(c, "/bin/true");
        brig_policy_free(p);
        return 0;
}

/* Runs argv with output to /dev/null; seccomp_fd >= 0 is given to it as SECCOMP_FD, read from its start.
 * Returns the wall time in us; exits the bench when the command fails. */
static double timed(const char *const argv[], int seccomp_fd) {
        int status;
        double t = bench_now_us();
        pid_t p = fork();
        if (p == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(null, 1);
                if (seccomp_fd >= 0) {
                        (void) lseek(seccomp_fd, 0, SEEK_SET);
                        dup2(seccomp_fd, SECCOMP_FD);
                }
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        waitpid(p, &status, 0);
        t = bench_now_us() - t;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench_oneshot: %s exited with status 0x%x\n", argv[0], status);
                exit(1);
        }
        return t;
}

/* bwrap with a fresh workspace directory, created and removed in the timed span as brig run does. */
static double timed_bwrap(cmdline *c, int ws_arg, int seccomp_fd) {
        char ws[] = "/tmp/brig-bench-ws-XXXXXX";
        double t = bench_now_us();
        if (!mkdtemp(ws))
                exit(1);
        free(c->argv[ws_arg]);
        c->argv[ws_arg] = strdup(ws);
        (void) timed((const char *const *) c->argv, seccomp_fd);
        (void) brig_rm_rf(ws);
        return bench_now_us() - t;
}

static void print_cmdline(const char *name, const cmdline *c) {
        printf("  bwrap for %s:", name);
        for (int i = 0; i < c->n; i++)
                printf(" %s", strcmp(c->argv[i], "WORKSPACE") == 0 ? "$(mktemp -d)" : c->argv[i]);
        printf(" %d<seccomp.bpf\n", SECCOMP_FD);
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int n = argc > 3 ? atoi(argv[3]) : 30;
        const char *names[2] = {"default", "strict"};
        char brig[1024], policy[2][1024];
        cmdline bw[2] = {0};
        int fd[2], ws_arg[2];
        double *t[5];

        if (access(BWRAP, X_OK) < 0) {
                printf("bench_oneshot: %s missing (make deps installs bubblewrap): goal 1 not measured\n",
                       BWRAP);
                return 0;
        }
        snprintf(brig, sizeof(brig), "%s/brig", build);
        for (int k = 0; k < 2; k++) {
                snprintf(policy[k], sizeof(policy[k]), "%s/policies/%s.json", source, names[k]);
                if (bwrap_cmdline(policy[k], &bw[k], &fd[k]) < 0)
                        return 1;
                for (ws_arg[k] = 0; strcmp(bw[k].argv[ws_arg[k]], "WORKSPACE") != 0; ws_arg[k]++)
                        ;
        }
        for (int k = 0; k < 5; k++)
                if (!(t[k] = calloc((size_t) n, sizeof(double))))
                        return 1;
        const char *run[2][7] = {{brig, "run", "--policy", policy[0], "--", "/bin/true", NULL},
                                 {brig, "run", "--policy", policy[1], "--", "/bin/true", NULL}};
        const char *unshare[] = {"/usr/bin/unshare", "-Urpf", "/bin/true", NULL};

        printf("bench_oneshot: %d interleaved runs of each\n", n);
        for (int k = 0; k < 2; k++)
                print_cmdline(names[k], &bw[k]);
        /* Warm-up: page cache, dentries, the first cgroup. */
        for (int i = 0; i < 3; i++)
                for (int k = 0; k < 2; k++) {
                        (void) timed(run[k], -1);
                        (void) timed_bwrap(&bw[k], ws_arg[k], fd[k]);
                }
        for (int i = 0; i < n; i++) {
                for (int k = 0; k < 2; k++) {
                        t[2 * k][i] = timed(run[k], -1);
                        t[2 * k + 1][i] = timed_bwrap(&bw[k], ws_arg[k], fd[k]);
                }
                t[4][i] = timed(unshare, -1);
        }
        double floor = bench_median(t[4], (size_t) n) / 1e3;
        for (int k = 0; k < 2; k++) {
                char what[64];
                double b = bench_median(t[2 * k], (size_t) n) / 1e3,
                       w = bench_median(t[2 * k + 1], (size_t) n) / 1e3;
                snprintf(what, sizeof(what), "1 oneshot %s", names[k]);
                bench_goal_ratio(what, "ms", b, "bwrap", w, true, 0.8);
                printf("  %s: brig %.2fx unshare -Urpf (%.2f ms), bwrap %.2fx it\n", names[k], b / floor,
                       floor, w / floor);
        }
        return 0;
}
