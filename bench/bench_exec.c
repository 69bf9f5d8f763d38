/* SPDX-License-Identifier: MIT */
/* Measures brig's exec path against floors measured in the same run (issue 17, goals 2, 3, 5 and 7):
 *   floor       fork + execve + waitpid of a static `true`, from a C loop (no brig at all)
 *   warm exec   tools/call exec of that same static binary in an existing environment, over the socket:
 *               median and p99 against the floor's median (goal 2)
 *   new env     initialize a new environment and run its first call on an idle worker, from the spare
 *               environment brigd keeps built; 100 created back to back (the burst: p50 and p99); and
 *               with no spare at all (--spare-environments 0) (goal 3). The first burst meets the pool
 *               of --spare-environments; a second ("learned") burst 3 s later meets the pool grown to the
 *               first one's demand
 *   throughput  exec true calls per second, one client calling sequentially and 10 clients at once,
 *               against the bare spawn loop done the same way (1 and 10 threads) (goal 5)
 *   write_file  1 KiB with the default policy (fsync false): median (goal 7)
 * Each goal prints one line with both figures, the ratio, the goal and PASS or FAIL. Absolute numbers
 * drift between machines and runs, the ratios are what to compare. Not a test.
 *   bench_exec [BUILD [SOURCE [N [N_FIRST [SECONDS]]]]]   (400 warm calls, 30 new environments, 3 s) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"

#define WAYS 10
#define BURST 100

static const char *floor_bin; /* the static true, on the host */

/* One client per thread, calling exec /workspace/true as fast as answers come until the deadline. */
typedef struct worker {
        const char *sock;
        double until_us;
        long calls;
} worker;

static void *brig_loop(void *arg) {
        worker *w = arg;
        bench_client c = {.fd = -1};
        if (bench_client_connect(&c, w->sock) < 0)
                return NULL;
        bench_initialize(&c, "bench", NULL);
        for (int id = 1; bench_now_us() < w->until_us; id++, w->calls++)
                bench_exec_call(&c, id, "/workspace/true");
        bench_client_close(&c);
        free(c.buf);
        return NULL;
}

static void *spawn_loop(void *arg) {
        worker *w = arg;
        double one;
        while (bench_now_us() < w->until_us) {
                bench_floor_spawn(floor_bin, 1, &one, 0);
                w->calls++;
        }
        return NULL;
}

/* Calls per second of ways threads running fn for seconds. */
static double per_second(void *(*fn)(void *), const char *sock, int ways, double seconds) {
        pthread_t t[WAYS];
        worker w[WAYS];
        double start = bench_now_us();
        long total = 0;
        for (int i = 0; i < ways; i++) {
                w[i] = (worker){.sock = sock, .until_us = start + seconds * 1e6};
                pthread_create(&t[i], NULL, fn, &w[i]);
        }
        for (int i = 0; i < ways; i++) {
                pthread_join(t[i], NULL);
                total += w[i].calls;
        }
        return (double) total / ((bench_now_us() - start) / 1e6);
}

/* connect + initialize a new environment + its first call, timed. */
static double new_env(const char *sock, const char *env) {
        bench_client c = {.fd = -1};
        double t = bench_now_us();
        bench_client_connect(&c, sock);
        bench_initialize(&c, env, NULL);
        bench_exec_call(&c, 1, "/usr/bin/true");
        t = bench_now_us() - t;
        bench_client_close(&c);
        free(c.buf);
        return t;
}

/* BURST new environments prefix-0, prefix-1, ... created back to back; their times in t. */
static void burst_of(const char *sock, const char *prefix, double *t) {
        for (int i = 0; i < BURST; i++) {
                char env[64];
                snprintf(env, sizeof(env), "%s-%d", prefix, i);
                t[i] = new_env(sock, env);
        }
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int n = argc > 3 ? atoi(argv[3]) : 400, n_first = argc > 4 ? atoi(argv[4]) : 30;
        double seconds = argc > 5 ? atof(argv[5]) : 3;
        char dir[] = "/tmp/brig-bench-XXXXXX", path[1024], ws_true[2048];
        int per = n / 4;
        double *a = calloc((size_t) n + BURST, sizeof(double)),
               *b = calloc((size_t) n + BURST, sizeof(double));
        bench_client cl = {.fd = -1};

        if (!a || !b || !mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        snprintf(path, sizeof(path), "%s/true-static", dir);
        if (bench_make_static_true(path) < 0) {
                fprintf(stderr, "bench: cannot build a static true (needs cc and a static libc)\n");
                return 1;
        }
        floor_bin = path;
        printf("bench_exec: %d warm calls, %d new environments, throughput over %.0f s\n", 4 * per, n_first,
               seconds);

        bench_brigd d = {.build = build, .source = source, .dir = dir, .name = "", .spare = -1};
        bench_brigd_start(&d);

        /* Warm environment: the static true copied into its workspace, so both sides run the same binary. */
        bench_client_connect(&cl, d.sock);
        bench_initialize(&cl, "bench", NULL);
        bench_exec_call(&cl, 1, "/usr/bin/true");
        snprintf(ws_true, sizeof(ws_true),
                 "cp %s %s/environments/bench/workspace/true && chmod 755 "
                 "%s/environments/bench/workspace/true",
                 path, d.state, d.state);
        if (system(ws_true) != 0)
                return 1;
        for (int i = 0; i < 20; i++)
                bench_exec_call(&cl, 2 + i, "/workspace/true");

        /* Goal 2. Interleave floor and brig batches so drift hits both alike. */
        for (int round = 0; round < 4; round++) {
                bench_floor_spawn(path, per, a + round * per, 0);
                for (int i = 0; i < per; i++) {
                        double t = bench_now_us();
                        bench_exec_call(&cl, 100 + round * per + i, "/workspace/true");
                        b[round * per + i] = bench_now_us() - t;
                }
        }
        double floor_all = bench_quantile(a, (size_t) 4 * per, 0.5);
        double warm = bench_quantile(b, (size_t) 4 * per, 0.5),
               warm_p99 = bench_quantile(b, (size_t) 4 * per, 0.99);
        bench_goal_ratio("2 warm exec median", "us", warm, "fork+exec", floor_all, true, 1.4);
        bench_goal_ratio("2 warm exec p99", "us", warm_p99, "fork+exec median", floor_all, true, 2.5);

        /* Goal 7: file tools on a small (1 KiB) file. */
        char args[2048], content[1025];
        memset(content, 'x', 1024);
        content[1024] = 0;
        snprintf(args, sizeof(args), "{\"path\":\"small.txt\",\"content\":\"%s\"}", content);
        for (int i = 0; i < per; i++) {
                double t = bench_now_us();
                bench_tool_call(&cl, 10000 + i, "write_file", args);
                a[i] = bench_now_us() - t;
                t = bench_now_us();
                bench_tool_call(&cl, 20000 + i, "read_file", "{\"path\":\"small.txt\"}");
                b[i] = bench_now_us() - t;
        }
        bench_goal_abs("7 write_file 1 KiB median", "us", bench_quantile(a, (size_t) per, 0.5), NULL, 0,
                       true, 200);
        printf("  read_file 1 KiB median %.0f us, p99 %.0f us; write_file p99 %.0f us\n",
               bench_quantile(b, (size_t) per, 0.5), bench_quantile(b, (size_t) per, 0.99),
               bench_quantile(a, (size_t) per, 0.99));
        bench_client_close(&cl);

        /* Goal 5: calls per second, one and WAYS clients, against the spawn loop the same way. */
        double seq_floor = per_second(spawn_loop, NULL, 1, seconds);
        double seq = per_second(brig_loop, d.sock, 1, seconds);
        double par_floor = per_second(spawn_loop, NULL, WAYS, seconds);
        double par = per_second(brig_loop, d.sock, WAYS, seconds);
        bench_goal_ratio("5 sequential exec true", "calls/s", seq, "spawn loop", seq_floor, false, 0.8);
        bench_goal_ratio("5 10-way exec true", "calls/s", par, "spawn loop", par_floor, false, 0.8);

        /* Goal 3. New environment + first call, each on its own connection, on an otherwise idle worker: the
         * pause between them (not timed) lets brigd rebuild its spare environment. The floor follows the
         * same 100 ms of idle (CPU caches and frequency cool down), for a like-for-like ratio. */
        for (int i = 0; i < n_first; i++) {
                char env[64];
                snprintf(env, sizeof(env), "first-%d", i);
                usleep(100000);
                a[i] = new_env(d.sock, env);
        }
        double first = bench_quantile(a, (size_t) n_first, 0.5);
        double floor_idle = bench_floor_spawn(path, n_first, b, 100000);
        bench_goal_ratio("3 new env from a spare", "us", first, "fork+exec after idle", floor_idle, true, 3);

        /* A burst: BURST created back to back, no pause: the spare pool has to keep up. */
        usleep(500000);
        burst_of(d.sock, "burst", a);
        double burst = bench_quantile(a, BURST, 0.5), burst_p99 = bench_quantile(a, BURST, 0.99);
        bench_goal_ratio("3 first burst of 100 new envs p50", "us", burst, "fork+exec", floor_all, true, 4);
        printf("  first burst p99 %.0f us (%.2fx the floor)\n", burst_p99, burst_p99 / floor_all);
        /* A second burst after a pause (not timed): the pool grew to the first one's demand. */
        sleep(3);
        burst_of(d.sock, "burst2", a);
        bench_goal_ratio("3 learned burst of 100 (3 s later) p50", "us", bench_quantile(a, BURST, 0.5),
                         "fork+exec", floor_all, true, 4);
        printf("  learned burst p99 %.0f us (%.2fx the floor)\n", bench_quantile(a, BURST, 0.99),
               bench_quantile(a, BURST, 0.99) / floor_all);
        bench_brigd_stop(&d);

        /* The same without a spare: the jail is built for the call. */
        bench_brigd cold = {.build = build, .source = source, .dir = dir, .name = "cold", .spare = 0};
        bench_brigd_start(&cold);
        for (int i = 0; i < n_first; i++) {
                char env[64];
                snprintf(env, sizeof(env), "cold-%d", i);
                usleep(100000);
                a[i] = new_env(cold.sock, env);
        }
        bench_goal_abs("3 new env without a spare", "ms", bench_quantile(a, (size_t) n_first, 0.5) / 1e3,
                       NULL, 0, true, 10);
        printf("  without a spare p99 %.1f ms; floor: fork+exec static %.0f us, after idle %.0f us\n",
               bench_quantile(a, (size_t) n_first, 0.99) / 1e3, floor_all, floor_idle);
        bench_brigd_stop(&cold);
        (void) bench_rm_state(dir);
        return 0;
}
