/* SPDX-License-Identifier: MIT */
/* write_file and read_file of 1 KiB (issue 17, goal 7), for one build or two side by side: with two, each
 * has its own brigd and their batches alternate, so a load that comes and goes on a shared machine hits
 * both alike. Prints each build's median and p99 per tool, and brigd's CPU time per call (all its threads),
 * which a busy machine inflates far less than wall time.
 *   bench_files SOURCE ROUNDS PER BUILD [BUILD2]   (e.g. bench_files . 20 50 build-rel /tmp/old)
 * A BUILD is a directory holding brigd and brig-jail. Not a test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench_util.h"

#define MAX_BUILDS 2

typedef struct side {
        bench_brigd d;
        bench_client cl;
        double *w, *r, cpu_s;
        char name[8];
} side;

/* CPU time of all of pid's threads in seconds, from schedstat (nanoseconds; /proc/PID/stat counts ticks). */
static double cpu_s(pid_t pid) {
        char path[64];
        double total = 0;
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        if (!(d = opendir(path)))
                return 0;
        while ((de = readdir(d))) {
                char p[320];
                unsigned long long ns = 0;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int) pid, de->d_name);
                if ((f = fopen(p, "re"))) {
                        if (fscanf(f, "%llu", &ns) == 1)
                                total += (double) ns / 1e9;
                        fclose(f);
                }
        }
        closedir(d);
        return total;
}

int main(int argc, char **argv) {
        if (argc < 5) {
                fprintf(stderr, "usage: bench_files SOURCE ROUNDS PER BUILD [BUILD2]\n");
                return 2;
        }
        const char *source = argv[1];
        int rounds = atoi(argv[2]), per = atoi(argv[3]), n = argc - 4 > MAX_BUILDS ? MAX_BUILDS : argc - 4;
        char dir[] = "/tmp/brig-bench-files-XXXXXX", args[2048], content[1025];
        side s[MAX_BUILDS] = {0};
        int id = 10;

        if (rounds <= 0 || per <= 0 || !mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        memset(content, 'x', 1024);
        content[1024] = 0;
        snprintf(args, sizeof(args), "{\"path\":\"small.txt\",\"content\":\"%s\"}", content);
        for (int i = 0; i < n; i++) {
                snprintf(s[i].name, sizeof(s[i].name), "%c", 'A' + i);
                s[i].d = (bench_brigd){
                        .build = argv[4 + i], .source = source, .dir = dir, .name = s[i].name, .spare = -1};
                s[i].cl.fd = -1;
                s[i].w = calloc((size_t) rounds * (size_t) per, sizeof(double));
                s[i].r = calloc((size_t) rounds * (size_t) per, sizeof(double));
                if (!s[i].w || !s[i].r)
                        return 1;
                bench_brigd_start(&s[i].d);
                bench_client_connect(&s[i].cl, s[i].d.sock);
                bench_initialize(&s[i].cl, "bench", NULL);
                /* Warm up: the environment's directory, the pool's threads, the page cache. */
                for (int k = 0; k < 20; k++)
                        bench_tool_call(&s[i].cl, id++, "write_file", args);
        }
        for (int round = 0; round < rounds; round++)
                for (int i = 0; i < n; i++) {
                        double cpu = cpu_s(s[i].d.pid);
                        for (int k = 0; k < per; k++) {
                                double t = bench_now_us();
                                bench_tool_call(&s[i].cl, id++, "write_file", args);
                                s[i].w[round * per + k] = bench_now_us() - t;
                        }
                        s[i].cpu_s += cpu_s(s[i].d.pid) - cpu;
                        for (int k = 0; k < per; k++) {
                                double t = bench_now_us();
                                bench_tool_call(&s[i].cl, id++, "read_file", "{\"path\":\"small.txt\"}");
                                s[i].r[round * per + k] = bench_now_us() - t;
                        }
                }
        size_t total = (size_t) rounds * (size_t) per;
        for (int i = 0; i < n; i++) {
                printf("%s %s: write_file median %.0f us p99 %.0f us, brigd CPU %.0f us/call; read_file "
                       "median %.0f us p99 %.0f us\n",
                       s[i].name, s[i].d.build, bench_quantile(s[i].w, total, 0.5),
                       bench_quantile(s[i].w, total, 0.99), s[i].cpu_s * 1e6 / (double) total,
                       bench_quantile(s[i].r, total, 0.5), bench_quantile(s[i].r, total, 0.99));
                bench_client_close(&s[i].cl);
                free(s[i].cl.buf);
                bench_brigd_stop(&s[i].d);
                free(s[i].w);
                free(s[i].r);
        }
        /* BENCH_LOGS=DIR: each brigd's log is copied there (as Abrigd.log, Bbrigd.log) before the state
         * goes. */
        const char *logs = getenv("BENCH_LOGS");
        for (int i = 0; logs && i < n; i++) {
                char from[1100], to[1100], buf[65536];
                size_t len;
                snprintf(from, sizeof(from), "%s/%sbrigd.log", dir, s[i].name);
                snprintf(to, sizeof(to), "%s/%sbrigd.log", logs, s[i].name);
                FILE *in = fopen(from, "re"), *out = fopen(to, "we");
                while (in && out && (len = fread(buf, 1, sizeof(buf), in)) > 0)
                        fwrite(buf, 1, len, out);
                if (in)
                        fclose(in);
                if (out)
                        fclose(out);
        }
        return bench_rm_state(dir) < 0;
}
