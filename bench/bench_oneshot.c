/* SPDX-License-Identifier: MIT */
/* Issue 17, goal 1: a one-shot `brig run --policy P -- /bin/true` against bubblewrap with the equivalent
 * isolation in the same run, for the default and strict policies, and `unshare -Urpf /bin/true` (the
 * namespace floor). bwrap's command line is built from the same policy (bench/bench_bwrap.h) and printed;
 * its workspace is a fresh directory created and removed around each run, as brig run does. Medians of N
 * interleaved runs. Not a test.
 *   bench_oneshot [BUILD [SOURCE [N]]]   (N 30) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_bwrap.h"
#include "bench/bench_util.h"
#include "common/fs.h"

/* Runs argv with output to /dev/null; seccomp_fd >= 0 is given to it as BENCH_BWRAP_SECCOMP_FD, read from
 * its start. Returns the wall time in us; exits the bench when the command fails. */
static double timed(const char *const argv[], int seccomp_fd) {
        int status;
        double t = bench_now_us();
        pid_t p = fork();
        if (p == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(null, 1);
                if (seccomp_fd >= 0)
                        bench_bwrap_child_seccomp(seccomp_fd);
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
static double timed_bwrap(bench_cmdline *c, int seccomp_fd) {
        char ws[] = "/tmp/brig-bench-ws-XXXXXX";
        double t = bench_now_us();
        if (!mkdtemp(ws))
                exit(1);
        free(c->argv[c->workspace_arg]);
        c->argv[c->workspace_arg] = strdup(ws);
        (void) timed((const char *const *) c->argv, seccomp_fd);
        (void) brig_rm_rf(ws);
        return bench_now_us() - t;
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int n = argc > 3 ? atoi(argv[3]) : 30;
        const char *names[2] = {"default", "strict"}, *true_cmd[] = {"/bin/true", NULL};
        char brig[1024], policy[2][1024];
        bench_cmdline bw[2] = {0};
        int fd[2];
        double *t[5];

        if (access(BENCH_BWRAP, X_OK) < 0) {
                printf("bench_oneshot: %s missing (make deps installs bubblewrap): goal 1 not measured\n",
                       BENCH_BWRAP);
                return 0;
        }
        snprintf(brig, sizeof(brig), "%s/brig", build);
        for (int k = 0; k < 2; k++) {
                snprintf(policy[k], sizeof(policy[k]), "%s/policies/%s.json", source, names[k]);
                if (bench_bwrap_cmdline(policy[k], true_cmd, &bw[k], &fd[k]) < 0)
                        return 1;
        }
        for (int k = 0; k < 5; k++)
                if (!(t[k] = calloc((size_t) n, sizeof(double))))
                        return 1;
        const char *run[2][7] = {{brig, "run", "--policy", policy[0], "--", "/bin/true", NULL},
                                 {brig, "run", "--policy", policy[1], "--", "/bin/true", NULL}};
        const char *unshare[] = {"/usr/bin/unshare", "-Urpf", "/bin/true", NULL};

        printf("bench_oneshot: %d interleaved runs of each\n", n);
        for (int k = 0; k < 2; k++)
                bench_bwrap_print(names[k], &bw[k]);
        /* Warm-up: page cache, dentries, the first cgroup. */
        for (int i = 0; i < 3; i++)
                for (int k = 0; k < 2; k++) {
                        (void) timed(run[k], -1);
                        (void) timed_bwrap(&bw[k], fd[k]);
                }
        for (int i = 0; i < n; i++) {
                for (int k = 0; k < 2; k++) {
                        t[2 * k][i] = timed(run[k], -1);
                        t[2 * k + 1][i] = timed_bwrap(&bw[k], fd[k]);
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
