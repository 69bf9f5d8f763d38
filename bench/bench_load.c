/* SPDX-License-Identifier: MIT */
/* Load: N connections x M pipelined exec calls (default 200 x 50) over K named environments, then the same
 * with one unnamed environment per connection. Each call echoes a unique token and must get exactly it
 * back. Prints responses expected and received, wrong or empty outputs, errors by kind, p50/p99 latency,
 * brigd's RSS before/peak/after, its fds before/after, and the processes, environments and cgroups left
 * over. The goal: nothing lost, wrong or hung, no error but the documented busy refusal (retried), RSS after
 * at most twice the idle figure, fds and processes back to idle.
 *   bench_load [BUILD [SOURCE [N [M [K [NOFILE]]]]]]
 * NOFILE > 0 starts brigd with that soft RLIMIT_NOFILE (a typical service limit is 1024). Not a test. */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "bench/loadgen.h"
#include "common/fs.h"

static pid_t start_brigd(const char *build, const char *source, const char *dir, const char *sock,
                         long nofile) {
        pid_t d = fork();
        if (d == 0) {
                char b1[1024], b2[1024], b3[1024], b4[1024], b5[1024];
                snprintf(b1, sizeof(b1), "%s/brigd", build);
                snprintf(b2, sizeof(b2), "%s/state", dir);
                snprintf(b3, sizeof(b3), "%s/audit.jsonl", dir);
                snprintf(b4, sizeof(b4), "%s/policies/default.json", source);
                snprintf(b5, sizeof(b5), "%s/brig-jail", build);
                if (nofile > 0) {
                        struct rlimit rl;
                        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                                rl.rlim_cur = (rlim_t) nofile;
                                (void) setrlimit(RLIMIT_NOFILE, &rl);
                        }
                }
                char log[1100];
                snprintf(log, sizeof(log), "%s/brigd.log", dir);
                int null = open("/dev/null", O_WRONLY);
                int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                dup2(null, 1);
                dup2(lf >= 0 ? lf : null, 2);
                execl(b1, b1, "--socket", sock, "--state-dir", b2, "--audit", b3, "--policy", b4,
                      "--jail-helper", b5, "--log-level", "error", (char *) NULL);
                _exit(127);
        }
        return d;
}

/* Waits (at most 30 s) for brigd to be back to its idle process count after a load. */
static void settle(pid_t pid, int idle_procs) {
        for (int i = 0; i < 300 && loadgen_descendants(pid) > idle_procs; i++)
                usleep(100000);
}

static void figures(const char *when, pid_t pid, const char *state) {
        printf("  brigd %s: RSS %ld kB, fds %d, processes %d, environment dirs %d, cgroups %d\n", when,
               loadgen_rss_kb(pid), loadgen_fds(pid), loadgen_descendants(pid), loadgen_env_dirs(state),
               loadgen_cgroups(pid));
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        unsigned n = argc > 3 ? (unsigned) atoi(argv[3]) : 200, m = argc > 4 ? (unsigned) atoi(argv[4]) : 50;
        unsigned k = argc > 5 ? (unsigned) atoi(argv[5]) : 20;
        long nofile = argc > 6 ? atol(argv[6]) : 0;
        char dir[] = "/tmp/brig-bench-load-XXXXXX", sock[1024], state[1024];
        loadgen_stats named, unnamed;
        bench_client probe = {.fd = -1};

        if (!mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        snprintf(sock, sizeof(sock), "%s/brig.sock", dir);
        snprintf(state, sizeof(state), "%s/state", dir);
        pid_t d = start_brigd(build, source, dir, sock, nofile);
        for (int i = 0; i < 200 && bench_client_connect(&probe, sock) < 0; i++)
                usleep(50000);
        if (probe.fd < 0) {
                fprintf(stderr, "bench: brigd did not start\n");
                return 1;
        }
        bench_client_close(&probe);
        sleep(2); /* the spare environment builds */
        int idle_procs = loadgen_descendants(d);
        long rss_before = loadgen_rss_kb(d);
        int fds_before = loadgen_fds(d);

        printf("bench_load: %u connections x %u pipelined exec calls; brigd soft fd limit %s%ld\n", n, m,
               nofile > 0 ? "" : "inherited, ", nofile > 0 ? nofile : 0L);
        figures("before", d, state);
        loadgen_opts o = {.socket = sock,
                          .env_prefix = "load",
                          .n_conns = n,
                          .n_calls = m,
                          .n_envs = k,
                          .deadline_ms = 600000,
                          .max_retries = 1000};
        char title[128];
        snprintf(title, sizeof(title), "named: %u environments", k);
        if (loadgen_run(&o, d, &named) < 0)
                return 1;
        loadgen_print(title, &named);
        settle(d, idle_procs + (int) k);
        figures("after named", d, state);
        o.n_envs = 0;
        if (loadgen_run(&o, d, &unnamed) < 0)
                return 1;
        loadgen_print("unnamed: one environment per connection", &unnamed);
        /* The named environments' holders stay until their idle stop; the unnamed ones go. */
        settle(d, idle_procs + (int) k);
        long peak = named.rss_peak_kb > unnamed.rss_peak_kb ? named.rss_peak_kb : unnamed.rss_peak_kb;
        long rss_after = loadgen_rss_kb(d);
        int fds_after = loadgen_fds(d);
        figures("after", d, state);
        printf("summary: RSS before %ld kB, peak %ld kB, after %ld kB (%.2fx); fds before %d, after %d "
               "(%d named environments kept running)\n",
               rss_before, peak, rss_after, rss_before > 0 ? (double) rss_after / (double) rss_before : 0,
               fds_before, fds_after, k);
        int status = 0;
        bool alive = kill(d, SIGTERM) == 0;
        waitpid(d, &status, 0);
        if (!alive || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                /* Kept for a post-mortem: brigd.log is its stderr. */
                printf("brigd did not stop cleanly (status 0x%x): see %s/brigd.log\n", status, dir);
                return 1;
        }
        if (bench_rm_state(dir) < 0)
                fprintf(stderr, "bench: could not remove %s\n", dir);
        size_t lost = named.hung + unnamed.hung, bad = named.wrong + named.empty + unnamed.wrong +
                                                       unnamed.empty + named.errors + unnamed.errors;
        return lost || bad ? 1 : 0;
}
