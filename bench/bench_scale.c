/* SPDX-License-Identifier: MIT */
/* Issue 17, goals 4 and 8: brigd with many live environments. Creates N named environments one after the
 * other (connect, initialize, first exec true, disconnect: each stays running until its idle stop), and at
 * 100 and at N live environments measures
 *   creation    p50 of the WINDOW creations made from that point on (goal 4: at N <= 1.5x at 100)
 *   warm exec   median of a warm exec true in one of them (goal 4: unchanged, <= 1.2x at 100)
 *   fds         brigd's open fds plus every holder process's, per environment (the slope between 100 and
 *               N; goal 4: <= 2)
 *   memory      per environment all told: the PSS of brigd's descendant processes (the holders) plus
 *               brigd's RSS, the slope between 100 and N (goal 8: <= 400 KiB and below bubblewrap's one
 *               sandbox). Kernel memory (Slab + KernelStack + PageTables) is printed beside it: it counts
 *               every process on the host, so it is noisy when other work runs.
 * bubblewrap's sandbox: BWRAPS bwrap sandboxes (the default policy's isolation, bench/bench_bwrap.h) each
 * running `sleep`, the PSS of their bwrap processes per sandbox.
 * When brigd refuses an environment or a call before N, the figures are those at the count it reached.
 *   bench_scale [BUILD [SOURCE [N]]]   (N 1000; 10000 is the goal) */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_bwrap.h"
#include "bench/bench_util.h"
#include "bench/loadgen.h"
#include "common/fs.h"

#define WINDOW 50
#define BWRAPS 20
#define MAX_PIDS 65536

static pid_t pids[MAX_PIDS];

typedef struct point {
        long live;
        double create_p50, warm;
        long fds, brigd_fds, pss_kb, brigd_kb, kernel_kb;
} point;

/* exec true; false (after printing why) when it failed. Not bench_exec_call(), which exits: a refusal at
 * scale ends the growth, and the figures so far are still printed. */
static bool call_true(bench_client *c, int id, long env) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"argv\":[\"/usr/bin/true\"]}}}",
                 id);
        bench_client_send(c, msg);
        cJSON *m = bench_client_wait(c, id);
        cJSON *code = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent"), "exit_code");
        bool ok = cJSON_IsNumber(code) && code->valueint == 0;
        if (!ok) {
                char *text = cJSON_PrintUnformatted(m);
                printf("  exec true in environment %ld failed: %.300s\n", env + 1, text);
                free(text);
        }
        cJSON_Delete(m);
        return ok;
}

/* A new named environment and its first call; the time in us, or -1 (after printing why) when brigd
 * refused it. */
static double create(const char *sock, long i) {
        bench_client c = {.fd = -1};
        char msg[512];
        double t = bench_now_us();
        if (bench_client_connect(&c, sock) < 0)
                return -1;
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"},"
                 "\"_meta\":{\"brig/environment\":\"scale-%ld\"}}}",
                 i);
        bench_client_send(&c, msg);
        cJSON *m = bench_client_wait(&c, 0);
        if (!cJSON_GetObjectItem(m, "result")) {
                char *text = cJSON_PrintUnformatted(m);
                printf("  brigd refused environment %ld: %.300s\n", i + 1, text);
                free(text);
                cJSON_Delete(m);
                bench_client_close(&c);
                free(c.buf);
                return -1;
        }
        cJSON_Delete(m);
        t = call_true(&c, 1, i) ? bench_now_us() - t : -1;
        bench_client_close(&c);
        free(c.buf);
        return t;
}

static double warm_exec(const char *sock) {
        bench_client c = {.fd = -1};
        double t[WINDOW];
        bench_client_connect(&c, sock);
        bench_initialize(&c, "scale-0", NULL);
        int i;
        for (i = 0; i < WINDOW; i++) {
                double s = bench_now_us();
                if (!call_true(&c, 1 + i, 0))
                        break;
                t[i] = bench_now_us() - s;
        }
        bench_client_close(&c);
        free(c.buf);
        return i == WINDOW ? bench_median(t, WINDOW) : 0;
}

/* Sums over brigd and its descendants. */
static void measure(pid_t brigd, point *p) {
        int n = loadgen_descendant_pids(brigd, pids, MAX_PIDS);
        p->fds = p->brigd_fds = loadgen_fds(brigd);
        p->pss_kb = 0;
        for (int i = 0; i < n && i < MAX_PIDS; i++) {
                p->fds += loadgen_fds(pids[i]);
                p->pss_kb += bench_pss_kb(pids[i]);
        }
        p->brigd_kb = loadgen_rss_kb(brigd);
        p->kernel_kb = bench_kernel_kb();
}

/* Creates environments until live reaches target; times[] gets each one's time. Returns live. */
static long grow(const char *sock, long live, long target, double *times) {
        for (; live < target; live++) {
                double t = create(sock, live);
                if (t < 0)
                        break;
                times[live] = t;
        }
        return live;
}

/* PSS per sandbox of BWRAPS bwrap sandboxes running sleep, counting the bwrap processes only. */
static double bwrap_pss_kb(const char *source, double *kernel_kb) {
        const char *cmd[] = {"/bin/sleep", "1000", NULL};
        char policy[1024];
        bench_cmdline c = {0};
        int fd;
        pid_t top[BWRAPS];
        char ws[] = "/tmp/brig-bench-bwrap-XXXXXX";

        snprintf(policy, sizeof(policy), "%s/policies/default.json", source);
        if (access(BENCH_BWRAP, X_OK) < 0 || bench_bwrap_cmdline(policy, cmd, &c, &fd) < 0 || !mkdtemp(ws))
                return -1;
        free(c.argv[c.workspace_arg]);
        c.argv[c.workspace_arg] = strdup(ws);
        long k0 = bench_kernel_kb();
        for (int i = 0; i < BWRAPS; i++) {
                top[i] = fork();
                if (top[i] == 0) {
                        int null = open("/dev/null", O_RDWR);
                        dup2(null, 0);
                        dup2(null, 1);
                        bench_bwrap_child_seccomp(fd);
                        execv(c.argv[0], c.argv);
                        _exit(127);
                }
                usleep(50000);
        }
        usleep(500000);
        long pss = 0, k1 = bench_kernel_kb();
        for (int i = 0; i < BWRAPS; i++) {
                pss += bench_pss_kb(top[i]);
                int n = loadgen_descendant_pids(top[i], pids, MAX_PIDS);
                for (int j = 0; j < n && j < MAX_PIDS; j++) {
                        char path[64], comm[32] = "";
                        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pids[j]);
                        FILE *f = fopen(path, "re");
                        if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "bwrap", 5) == 0)
                                pss += bench_pss_kb(pids[j]);
                        if (f)
                                fclose(f);
                }
        }
        for (int i = 0; i < BWRAPS; i++) {
                kill(top[i], SIGKILL);
                waitpid(top[i], NULL, 0);
        }
        (void) brig_rm_rf(ws);
        *kernel_kb = (double) (k1 - k0) / BWRAPS;
        return (double) pss / BWRAPS;
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        long n = argc > 3 ? atol(argv[3]) : 1000;
        char dir[] = "/tmp/brig-bench-scale-XXXXXX";
        double *times = calloc((size_t) n + WINDOW, sizeof(double));
        point at[2] = {{.live = 100}, {.live = n}};

        if (!times || n < 100 + WINDOW || !mkdtemp(dir)) {
                fprintf(stderr, "bench_scale: N must be at least %d\n", 100 + WINDOW);
                return 1;
        }
        chmod(dir, 0755);
        printf("bench_scale: %ld live environments, creation p50 over %d creations at 100 and at %ld\n", n,
               WINDOW, n);
        bench_brigd d = {.build = build, .source = source, .dir = dir, .name = "", .spare = -1};
        bench_brigd_start(&d);
        sleep(1); /* the spare environment builds */
        double t0 = bench_now_ms();
        long live = grow(d.sock, 0, 100, times);
        for (int k = 0; k < 2 && live == at[k].live; k++) {
                measure(d.pid, &at[k]);
                at[k].warm = warm_exec(d.sock);
                long from = live;
                live = grow(d.sock, live, live + WINDOW, times);
                if (live < from + WINDOW)
                        break;
                at[k].create_p50 = bench_quantile(times + from, WINDOW, 0.5);
                if (k == 0 && (live = grow(d.sock, live, n, times)) < n)
                        at[1].live = live; /* short of N: the figures at what was reached */
        }
        printf("  created %ld environments in %.1f s\n", live, (bench_now_ms() - t0) / 1e3);
        if (at[1].create_p50 == 0) {
                printf("4 creation at %ld live: brig reached only %ld live environments  FAIL\n", n, live);
                bench_goal_abs("4 live environments", "", (double) live, NULL, 0, false, (double) n);
                if (at[0].create_p50 > 0)
                        printf("  creation p50 at 100 live: %.1f ms\n", at[0].create_p50 / 1e3);
        }
        if (at[1].live > at[0].live && at[1].fds > 0) {
                char what[96];
                double span = (double) (at[1].live - at[0].live);
                n = at[1].live;
                snprintf(what, sizeof(what), "4 creation p50 at %ld live", n);
                if (at[1].create_p50 > 0)
                        bench_goal_ratio(what, "ms", at[1].create_p50 / 1e3, "at 100",
                                         at[0].create_p50 / 1e3, true, 1.5);
                snprintf(what, sizeof(what), "4 warm exec at %ld live", n);
                if (at[1].warm > 0)
                        bench_goal_ratio(what, "us", at[1].warm, "at 100", at[0].warm, true, 1.2);
                bench_goal_abs("4 fds per idle environment", "", (double) (at[1].fds - at[0].fds) / span,
                               NULL, 0, true, 2);
                printf("  fds: brigd and its processes %ld at 100 live, %ld at %ld; brigd alone %ld and "
                       "%ld, %.1f "
                       "per environment\n",
                       at[0].fds, at[1].fds, n, at[0].brigd_fds, at[1].brigd_fds,
                       (double) (at[1].brigd_fds - at[0].brigd_fds) / span);
                double per_env =
                        (double) (at[1].pss_kb - at[0].pss_kb + at[1].brigd_kb - at[0].brigd_kb) / span;
                double kernel = (double) (at[1].kernel_kb - at[0].kernel_kb) / span, bw_kernel = 0;
                double bw = bwrap_pss_kb(source, &bw_kernel);
                bench_goal_abs("8 memory per idle environment", "KiB", per_env, "bwrap sandbox", bw, true,
                               400);
                printf("  holders' PSS %.0f KiB + brigd's RSS %.1f KiB per environment; kernel (Slab, "
                       "stacks, page "
                       "tables) +%.0f KiB per environment, bwrap +%.0f KiB per sandbox\n",
                       (double) (at[1].pss_kb - at[0].pss_kb) / span,
                       (double) (at[1].brigd_kb - at[0].brigd_kb) / span, kernel, bw_kernel);
                printf("  at 100 live: holders' PSS %ld kB, brigd RSS %ld kB; at %ld: %ld kB, %ld kB\n",
                       at[0].pss_kb, at[0].brigd_kb, n, at[1].pss_kb, at[1].brigd_kb);
        }
        t0 = bench_now_ms();
        int status = bench_brigd_stop(&d);
        printf("  brigd stopped %ld environments in %.1f s (status 0x%x)\n", live,
               (bench_now_ms() - t0) / 1e3, status);
        (void) bench_rm_state(dir);
        return 0;
}
