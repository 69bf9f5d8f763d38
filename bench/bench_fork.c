/* SPDX-License-Identifier: MIT */
/* Measures brig/environment.fork against `cp -a` of the same workspace directory, and `brig env export` and
 * `brig env import` against `tar -c --zstd` and `tar -x --zstd` of it, in one run: a brigd of
 * its own, an environment whose workspace holds FILES files of about MB megabytes in all (text-like
 * content, in 100 directories) and 50 snapshots (the first of everything, then 20 changed files each),
 * a wait (up to 60 s) for brigd to pack that history at rest, as between an agent's sessions, then REPS
 * rounds of one fork (the RPC, end to end: the source's fork-point snapshot, the shared history, the
 * checkout, metadata and rename) and one `cp -a` of the workspace into a fresh directory, interleaved so
 * drift hits both alike. Medians; issue 13's goal is fork <= 0.25 x cp -a. Not a test: it asserts nothing.
 * Usage: bench_fork BUILD SOURCE [reps (5)] [files (10000)] [MB (100)] */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_util.h"

static void die(const char *what) {
        fprintf(stderr, "bench_fork: %s: %s\n", what, strerror(errno));
        exit(1);
}

/* Text-like content (a 64-letter alphabet: compresses as source code roughly does), seeded per file. */
static void fill(char *buf, size_t n, unsigned seed) {
        static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n";
        uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[i] = abc[x & 63];
        }
}

static void write_file(const char *ws, int i, size_t size, unsigned seed, uid_t uid, gid_t gid) {
        char path[1024], *buf = malloc(size);
        if (!buf)
                die("malloc");
        snprintf(path, sizeof(path), "%s/d%02d/f%05d.txt", ws, i % 100, i);
        fill(buf, size, seed);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, size) != (ssize_t) size || fchown(fd, uid, gid) < 0)
                die(path);
        close(fd);
        free(buf);
}

/* CPU seconds (user + system) of the waited-for children so far. */
static double children_cpu_s(void) {
        struct rusage ru;
        if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
                return 0;
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec +
               ((double) ru.ru_utime.tv_usec + (double) ru.ru_stime.tv_usec) / 1e6;
}

/* Whether the history's objects/pack holds a pack yet. */
static bool has_pack(const char *dir) {
        DIR *d = opendir(dir);
        bool found = false;

        for (struct dirent *de; d && !found && (de = readdir(d));)
                found = strncmp(de->d_name, "pack-", 5) == 0 && strstr(de->d_name, ".pack");
        if (d)
                closedir(d);
        return found;
}

static int rpc_id = 100;

static cJSON *rpc(bench_client *c, const char *method, const char *params) {
        char msg[512];
        snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}", rpc_id,
                 method, params);
        bench_client_send(c, msg);
        cJSON *m = bench_client_wait(c, rpc_id++);
        if (!cJSON_GetObjectItem(m, "result")) {
                char *t = cJSON_PrintUnformatted(m);
                fprintf(stderr, "bench_fork: %s: %s\n", method, t);
                exit(1);
        }
        return m;
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        int reps = argc > 3 ? atoi(argv[3]) : 5, files = argc > 4 ? atoi(argv[4]) : 10000;
        int mb = argc > 5 ? atoi(argv[5]) : 100;
        char dir[] = "/tmp/brig-bench-fork-XXXXXX", ws[1200], path[1200], params[256];
        bench_client c;

        if (reps < 1 || files < 100 || mb < 1 || !mkdtemp(dir))
                die("usage: bench_fork BUILD SOURCE [reps] [files] [MB]");
        chmod(dir, 0755);
        size_t size = (size_t) mb * 1024 * 1024 / (size_t) files;
        printf("bench_fork: %d files of %zu bytes (%d MB), 50 snapshots, %d rounds\n", files, size, mb,
               reps);

        bench_brigd d = {.build = build, .source = source, .dir = dir, .name = "", .spare = 0};
        bench_brigd_start(&d);
        bench_client_connect(&c, d.sock);
        bench_initialize(&c, "src", NULL);
        bench_tool_call(&c, 1, "write_file", "{\"path\":\"README\",\"content\":\"bench\\n\"}");

        /* The workspace, written from here as its owner would have it. */
        struct stat st;
        snprintf(ws, sizeof(ws), "%s/environments/src/workspace", d.state);
        if (stat(ws, &st) < 0)
                die(ws);
        for (int i = 0; i < 100; i++) {
                snprintf(path, sizeof(path), "%s/d%02d", ws, i);
                if (mkdir(path, 0755) < 0 || chown(path, st.st_uid, st.st_gid) < 0)
                        die(path);
        }
        for (int i = 0; i < files; i++)
                write_file(ws, i, size, (unsigned) i, st.st_uid, st.st_gid);
        double t0 = bench_now_ms();
        for (int s = 0; s < 50; s++) {
                for (int k = 0; k < 20 && s > 0; k++)
                        write_file(ws, (s * 20 + k) * 7 % files, size, (unsigned) (files + s * 20 + k),
                                   st.st_uid, st.st_gid);
                bench_tool_call(&c, 2 + s, "snapshot", "{}");
        }
        printf("  set-up: 50 snapshots in %.0f ms\n", bench_now_ms() - t0);
        /* An environment between sessions: brigd packs its history at rest once it is idle (2 s), in the
         * background. Up to 60 s for it; a brigd that does not pack goes on with loose objects. */
        snprintf(path, sizeof(path), "%s/environments/src/history.git/objects/pack", d.state);
        t0 = bench_now_ms();
        while (!has_pack(path) && bench_now_ms() - t0 < 60000)
                usleep(100000);
        /* The pack is in place before its loose copies go: a call queued behind the repack ends with it. */
        bench_tool_call(&c, 60, "history", "{\"limit\":1}");
        printf("  history %s after %.0f ms idle\n", has_pack(path) ? "packed" : "not packed",
               bench_now_ms() - t0);

        double *fork_ms = calloc((size_t) reps, sizeof(double)),
               *cp_ms = calloc((size_t) reps, sizeof(double));
        double *fork_cpu = calloc((size_t) reps, sizeof(double)),
               *cp_cpu = calloc((size_t) reps, sizeof(double));
        if (!fork_ms || !cp_ms || !fork_cpu || !cp_cpu)
                die("calloc");
        for (int r = 0; r < reps; r++) {
                snprintf(params, sizeof(params), "{\"from\":\"src\",\"as\":\"fork-%d\"}", r);
                double t = bench_now_ms(), cpu = bench_cpu_s(d.pid);
                cJSON_Delete(rpc(&c, "brig/environment.fork", params));
                fork_ms[r] = bench_now_ms() - t;
                fork_cpu[r] = (bench_cpu_s(d.pid) - cpu) * 1000;

                snprintf(path, sizeof(path), "%s/cp-%d", dir, r);
                char *cp[] = {(char *) "/bin/cp", (char *) "-a", ws, path, NULL};
                t = bench_now_ms();
                cpu = children_cpu_s();
                if (bench_run_quiet(cp) != 0)
                        die("cp -a");
                cp_ms[r] = bench_now_ms() - t;
                cp_cpu[r] = (children_cpu_s() - cpu) * 1000;
                printf("  round %d: fork %.0f ms (cpu %.0f ms), cp -a %.0f ms (cpu %.0f ms)\n", r,
                       fork_ms[r], fork_cpu[r], cp_ms[r], cp_cpu[r]);
        }
        /* An older snapshot costs the same checkout; shown once, for the record. */
        t0 = bench_now_ms();
        cJSON_Delete(rpc(&c, "brig/environment.fork",
                         "{\"from\":\"src\",\"as\":\"fork-old\",\"snapshot\":\"HEAD~25\"}"));
        printf("  fork at HEAD~25: %.0f ms\n", bench_now_ms() - t0);

        double f = bench_median(fork_ms, (size_t) reps), p = bench_median(cp_ms, (size_t) reps);
        bench_goal_ratio("fork (10000 files, 100 MB, 50 snapshots)", "ms", f, "cp -a", p, true, 0.25);
        /* CPU time drifts less with the machine's load than elapsed time does. */
        double fc = bench_median(fork_cpu, (size_t) reps), pc = bench_median(cp_cpu, (size_t) reps);
        printf("  cpu time: fork %.0f ms, cp -a %.0f ms, ratio %.2f\n", fc, pc, pc > 0 ? fc / pc : 0);

        /* Issue 13: export >= 0.8x the throughput of `tar -c --zstd` of the same workspace, each writing a
         * file (the same bytes in: throughput ratio = tar's time / export's). */
        double *exp_ms = calloc((size_t) reps, sizeof(double)),
               *tar_ms = calloc((size_t) reps, sizeof(double));
        double *imp_ms = calloc((size_t) reps, sizeof(double)),
               *untar_ms = calloc((size_t) reps, sizeof(double));
        /* CPU time of brigd and the CLI together, against tar's (and zstd's, its child). */
        double *exp_cpu = calloc((size_t) reps, sizeof(double)),
               *tar_cpu = calloc((size_t) reps, sizeof(double));
        double *imp_cpu = calloc((size_t) reps, sizeof(double)),
               *untar_cpu = calloc((size_t) reps, sizeof(double));
        char brig[1200], out[1200];
        if (!exp_ms || !tar_ms || !imp_ms || !untar_ms || !exp_cpu || !tar_cpu || !imp_cpu || !untar_cpu)
                die("calloc");
        snprintf(brig, sizeof(brig), "%s/brig", build);
        for (int r = 0; r < reps; r++) {
                snprintf(out, sizeof(out), "%s/export-%d.brig", dir, r);
                char *ex[] = {brig,
                              (char *) "--socket",
                              d.sock,
                              (char *) "env",
                              (char *) "export",
                              (char *) "src",
                              (char *) "-o",
                              out,
                              NULL};
                double t = bench_now_ms(), cpu = bench_cpu_s(d.pid) + children_cpu_s();
                if (bench_run_quiet(ex) != 0)
                        die("brig env export");
                exp_ms[r] = bench_now_ms() - t;
                exp_cpu[r] = (bench_cpu_s(d.pid) + children_cpu_s() - cpu) * 1000;
                snprintf(path, sizeof(path), "%s/tar-%d.tar.zst", dir, r);
                char *tar[] = {(char *) "/bin/tar", (char *) "-C", ws,           (char *) "--zstd",
                               (char *) "-cf",      path,          (char *) ".", NULL};
                t = bench_now_ms();
                cpu = children_cpu_s();
                if (bench_run_quiet(tar) != 0)
                        die("tar -c --zstd");
                tar_ms[r] = bench_now_ms() - t;
                tar_cpu[r] = (children_cpu_s() - cpu) * 1000;
                struct stat a, b;
                printf("  round %d: export %.0f ms (%lld bytes), tar -c --zstd %.0f ms (%lld bytes)\n", r,
                       exp_ms[r], stat(out, &a) == 0 ? (long long) a.st_size : -1LL, tar_ms[r],
                       stat(path, &b) == 0 ? (long long) b.st_size : -1LL);
                /* The same archives back: import into a new environment, tar -x into a fresh directory. */
                char as[64], xdir[1200];
                snprintf(as, sizeof(as), "imp-%d", r);
                char *im[] = {brig,
                              (char *) "--socket",
                              d.sock,
                              (char *) "env",
                              (char *) "import",
                              out,
                              (char *) "--as",
                              as,
                              NULL};
                t = bench_now_ms();
                cpu = bench_cpu_s(d.pid) + children_cpu_s();
                if (bench_run_quiet(im) != 0)
                        die("brig env import");
                imp_ms[r] = bench_now_ms() - t;
                imp_cpu[r] = (bench_cpu_s(d.pid) + children_cpu_s() - cpu) * 1000;
                snprintf(xdir, sizeof(xdir), "%s/x-%d", dir, r);
                char *untar[] = {(char *) "/bin/tar", (char *) "-C", xdir, (char *) "--zstd",
                                 (char *) "-xf",      path,          NULL};
                if (mkdir(xdir, 0755) < 0)
                        die(xdir);
                t = bench_now_ms();
                cpu = children_cpu_s();
                if (bench_run_quiet(untar) != 0)
                        die("tar -x --zstd");
                untar_ms[r] = bench_now_ms() - t;
                untar_cpu[r] = (children_cpu_s() - cpu) * 1000;
                printf("  round %d: import %.0f ms, tar -x --zstd %.0f ms\n", r, imp_ms[r], untar_ms[r]);
                (void) unlink(out);
                (void) unlink(path);
        }
        double e = bench_median(exp_ms, (size_t) reps), tz = bench_median(tar_ms, (size_t) reps);
        bench_goal_ratio("export throughput (MB/s, workspace + 50 snapshots' history)", "MB/s",
                         mb * 1000.0 / e, "tar -c --zstd of the workspace", mb * 1000.0 / tz, false, 0.8);
        double im_med = bench_median(imp_ms, (size_t) reps), ux = bench_median(untar_ms, (size_t) reps);
        bench_goal_ratio("import throughput (MB/s, workspace + 50 snapshots' history)", "MB/s",
                         mb * 1000.0 / im_med, "tar -x --zstd of the workspace", mb * 1000.0 / ux, false,
                         0.8);
        double ec = bench_median(exp_cpu, (size_t) reps), tc = bench_median(tar_cpu, (size_t) reps);
        double ic = bench_median(imp_cpu, (size_t) reps), uc = bench_median(untar_cpu, (size_t) reps);
        printf("  cpu time: export %.0f ms, tar -c --zstd %.0f ms, ratio %.2f; import %.0f ms, tar -x "
               "--zstd "
               "%.0f ms, ratio %.2f\n",
               ec, tc, tc > 0 ? ec / tc : 0, ic, uc, uc > 0 ? ic / uc : 0);
        free(exp_cpu);
        free(tar_cpu);
        free(imp_cpu);
        free(untar_cpu);
        free(imp_ms);
        free(untar_ms);
        free(exp_ms);
        free(tar_ms);
        bench_client_close(&c);
        (void) bench_brigd_stop(&d);
        (void) bench_rm_state(dir);
        free(fork_ms);
        free(cp_ms);
        free(fork_cpu);
        free(cp_cpu);
        return 0;
}
