/* SPDX-License-Identifier: MIT */
/* Measures brig's exec path against a floor measured in the same run, and prints ratios:
 *   floor       fork + execve + waitpid of a static `true`, from a C loop (no brig at all)
 *   warm exec   tools/call exec of that same static binary in an existing environment, over the socket
 *   first call  initialize a new environment and run its first call, on an idle worker: from the spare
 *               environment brigd keeps built, and without one (the environment's jail is built for it)
 * Timings are medians (and p99) of many repetitions; absolute numbers drift between machines and runs,
 * the ratios are what to compare. Not a test: it asserts nothing. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_util.h"
#include "common/fs.h"

/* A static `true`, built from source here so the floor needs nothing installed. */
static int make_static_true(const char *path) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "printf 'int main(void){return 0;}' | cc -static -O2 -x c - -o %s", path);
        return system(cmd) == 0 ? 0 : -1;
}

/* pause_us > 0: each spawn after that long idle, as the new-environment runs are. */
static double floor_spawn(const char *bin, int n, double *samples, unsigned pause_us) {
        char *argv[] = {(char *) bin, NULL}, *envp[] = {NULL};
        for (int i = 0; i < n; i++) {
                if (pause_us)
                        usleep(pause_us);
                double t = bench_now_us();
                pid_t p = fork();
                if (p == 0) {
                        execve(bin, argv, envp);
                        _exit(127);
                }
                waitpid(p, NULL, 0);
                samples[i] = bench_now_us() - t;
        }
        return bench_quantile(samples, (size_t) n, 0.5);
}

static bench_client cl = {.fd = -1};

static void initialize(const char *env) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"},"
                 "\"_meta\":{\"brig/environment\":\"%s\"}}}",
                 env);
        bench_client_send(&cl, msg);
        cJSON_Delete(bench_client_wait(&cl, 0));
}

/* A tools/call that must succeed (isError false). */
static void tool_call(int id, const char *name, const char *args) {
        char msg[4096];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                 "\"arguments\":%s}}",
                 id, name, args);
        bench_client_send(&cl, msg);
        cJSON *m = bench_client_wait(&cl, id);
        if (!cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "isError"))) {
                char *t = cJSON_PrintUnformatted(m);
                fprintf(stderr, "bench: %s failed: %s\n", name, t);
                exit(1);
        }
        cJSON_Delete(m);
}

static void exec_call(int id, const char *prog) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"argv\":[\"%s\"]}}}",
                 id, prog);
        bench_client_send(&cl, msg);
        cJSON *m = bench_client_wait(&cl, id);
        cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent");
        cJSON *code = cJSON_GetObjectItem(sc, "exit_code");
        if (!cJSON_IsNumber(code) || code->valueint != 0) {
                char *t = cJSON_PrintUnformatted(m);
                fprintf(stderr, "bench: call failed: %s\n", t);
                exit(1);
        }
        cJSON_Delete(m);
}

/* Starts brigd on sock with state under dir/NAME-state; name "cold" keeps no spare environment. */
static pid_t start_brigd(const char *build, const char *source, const char *dir, const char *name,
                         const char *sock) {
        pid_t d = fork();
        if (d == 0) {
                char b1[1024], b2[1024], b3[1024], b4[1024], b5[1024];
                snprintf(b1, sizeof(b1), "%s/brigd", build);
                snprintf(b2, sizeof(b2), "%s/%sstate", dir, name);
                snprintf(b3, sizeof(b3), "%s/%saudit.jsonl", dir, name);
                snprintf(b4, sizeof(b4), "%s/policies/default.json", source);
                snprintf(b5, sizeof(b5), "%s/brig-jail", build);
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
                execl(b1, b1, "--socket", sock, "--state-dir", b2, "--audit", b3, "--policy", b4,
                      "--jail-helper", b5, "--log-level", "error", "--spare-environments",
                      name[0] ? "0" : "1", (char *) NULL);
                _exit(127);
        }
        return d;
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int n = argc > 3 ? atoi(argv[3]) : 400, n_first = argc > 4 ? atoi(argv[4]) : 30;
        char dir[] = "/tmp/brig-bench-XXXXXX", path[1024], sock[1024], ws_true[1024];
        double *a = calloc((size_t) n, sizeof(double)), *b = calloc((size_t) n, sizeof(double));

        if (!a || !b || !mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        snprintf(path, sizeof(path), "%s/true-static", dir);
        if (make_static_true(path) < 0) {
                fprintf(stderr, "bench: cannot build a static true (needs cc and a static libc)\n");
                return 1;
        }

        /* brigd on a private socket and state directory. */
        snprintf(sock, sizeof(sock), "%s/brig.sock", dir);
        pid_t d = start_brigd(build, source, dir, "", sock);
        for (int i = 0; i < 1000 && bench_client_connect(&cl, sock) < 0; i++)
                usleep(10000);
        if (cl.fd < 0) {
                fprintf(stderr, "bench: brigd did not start\n");
                return 1;
        }

        /* Warm environment: the static true copied into its workspace, so both sides run the same binary. */
        initialize("bench");
        exec_call(1, "/usr/bin/true");
        snprintf(ws_true, sizeof(ws_true),
                 "cp %s %s/state/environments/bench/workspace/true && chmod 755 "
                 "%s/state/environments/bench/workspace/true",
                 path, dir, dir);
        if (system(ws_true) != 0)
                return 1;
        for (int i = 0; i < 20; i++)
                exec_call(2 + i, "/workspace/true");

        /* Interleave floor and brig batches so drift hits both alike. */
        int per = n / 4;
        double floor_med[4];
        double *fa = a, *wb = b;
        for (int round = 0; round < 4; round++) {
                floor_med[round] = floor_spawn(path, per, fa + round * per, 0);
                for (int i = 0; i < per; i++) {
                        double t = bench_now_us();
                        exec_call(100 + round * per + i, "/workspace/true");
                        wb[round * per + i] = bench_now_us() - t;
                }
        }
        double floor_all = bench_quantile(fa, (size_t) 4 * per, 0.5),
               floor_p99 = bench_quantile(fa, (size_t) 4 * per, 0.99);
        double warm = bench_quantile(wb, (size_t) 4 * per, 0.5),
               warm_p99 = bench_quantile(wb, (size_t) 4 * per, 0.99);

        /* File tools on a small (1 KiB) file: absolute times, the goal being 0.2 ms. */
        char args[2048], content[1025];
        memset(content, 'x', 1024);
        content[1024] = 0;
        snprintf(args, sizeof(args), "{\"path\":\"small.txt\",\"content\":\"%s\"}", content);
        for (int i = 0; i < per; i++) {
                double t = bench_now_us();
                tool_call(10000 + i, "write_file", args);
                fa[i] = bench_now_us() - t;
                t = bench_now_us();
                tool_call(20000 + i, "read_file", "{\"path\":\"small.txt\"}");
                wb[i] = bench_now_us() - t;
        }
        double write_med = bench_quantile(fa, (size_t) per, 0.5),
               write_p99 = bench_quantile(fa, (size_t) per, 0.99);
        double read_med = bench_quantile(wb, (size_t) per, 0.5),
               read_p99 = bench_quantile(wb, (size_t) per, 0.99);
        bench_client_close(&cl);
        (void) floor_med;

        /* New environment + first call, each on its own connection, on an otherwise idle worker: the pause
         * between them (not timed) lets brigd rebuild its spare environment (--spare-environments). */
        for (int i = 0; i < n_first; i++) {
                char env[64];
                snprintf(env, sizeof(env), "first-%d", i);
                usleep(100000);
                double t = bench_now_us();
                bench_client_connect(&cl, sock);
                initialize(env);
                exec_call(1, "/usr/bin/true");
                a[i] = bench_now_us() - t;
                bench_client_close(&cl);
        }
        kill(d, SIGTERM);
        waitpid(d, NULL, 0);

        /* The same without a spare: the jail is built for the call. */
        snprintf(sock, sizeof(sock), "%s/cold.sock", dir);
        d = start_brigd(build, source, dir, "cold", sock);
        for (int i = 0; i < 1000 && bench_client_connect(&cl, sock) < 0; i++)
                usleep(10000);
        double *cold = calloc((size_t) n_first, sizeof(double));
        bool up = cl.fd >= 0;
        if (up)
                bench_client_close(&cl);
        for (int i = 0; cold && up && i < n_first; i++) {
                char env[64];
                snprintf(env, sizeof(env), "cold-%d", i);
                usleep(100000);
                double t = bench_now_us();
                bench_client_connect(&cl, sock);
                initialize(env);
                exec_call(1, "/usr/bin/true");
                cold[i] = bench_now_us() - t;
                bench_client_close(&cl);
        }
        double cold_med = cold ? bench_quantile(cold, (size_t) n_first, 0.5) : 0,
               cold_p99 = cold ? bench_quantile(cold, (size_t) n_first, 0.99) : 0;
        free(cold);
        double first = bench_quantile(a, (size_t) n_first, 0.5),
               first_p99 = bench_quantile(a, (size_t) n_first, 0.99);
        floor_spawn("/usr/bin/true", per, b, 0);
        double floor_dyn = bench_quantile(b, (size_t) per, 0.5);
        /* The new-environment runs each follow 100 ms of idle (CPU caches and frequency cool down): so does
         * this floor, for a like-for-like ratio. */
        floor_spawn(path, n_first, b, 100000);
        double floor_idle = bench_quantile(b, (size_t) n_first, 0.5);

        printf("brig bench (exec)          median      p99     ratio to floor (median, p99)\n");
        printf("floor: fork+exec static    %7.0f us %7.0f us\n", floor_all, floor_p99);
        printf("floor: dynamic /usr/bin/true %5.0f us\n", floor_dyn);
        printf("exec true, warm env        %7.0f us %7.0f us   %5.2fx %5.2fx   (goal <= 2x)\n", warm,
               warm_p99, warm / floor_all, warm_p99 / floor_all);
        printf("write_file 1 KiB           %7.0f us %7.0f us   (goal <= 200 us median)\n", write_med,
               write_p99);
        printf("read_file 1 KiB            %7.0f us %7.0f us   (goal <= 200 us median)\n", read_med,
               read_p99);
        printf("new env + first call       %7.0f us %7.0f us   %5.2fx %5.2fx   (goal <= 4x; from a spare)\n",
               first, first_p99, first / floor_all, first_p99 / floor_all);
        printf("  the same, no spare       %7.0f us %7.0f us   %5.2fx %5.2fx   (--spare-environments 0)\n",
               cold_med, cold_p99, cold_med / floor_all, cold_p99 / floor_all);
        printf("floor after 100 ms idle    %7.0f us              new env from a spare: %5.2fx of it, no "
               "spare: "
               "%5.2fx\n",
               floor_idle, first / floor_idle, cold_med / floor_idle);

        kill(d, SIGTERM);
        waitpid(d, NULL, 0);
        (void) bench_rm_state(dir);
        return 0;
}
