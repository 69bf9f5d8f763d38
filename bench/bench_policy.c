/* SPDX-License-Identifier: MIT */
/* Measures what compiling each policy's seccomp filter once, and sharing it by filter key, saves:
 *   parse      brig_policy_load of the file (the floor: paid by every load)
 *   compile    brig_policy_compile_seccomp of its filter (what a jail would pay without the cache)
 *   cold dir   loading the whole policy directory with nothing cached (brigd's start-up)
 *   reload     the same directory again through the SIGHUP path, programs shared by filter key
 * Timings are medians of N repetitions. Not a test: it asserts nothing.
 * Usage: bench_policy [policy dir (policies)] [repetitions (31)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "common/cleanup.h"
#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "worker/policies.h"

static void one_policy(const char *path, int reps) {
        double parse[reps], compile[reps];

        for (int i = 0; i < reps; i++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_policy *p = NULL;
                int fd = -1;
                double t0 = bench_now_ms();
                if (brig_policy_load(path, &p, NULL, &err) < 0) {
                        fprintf(stderr, "bench_policy: %s: %s\n", path, err.msg);
                        exit(1);
                }
                double t1 = bench_now_ms();
                if (brig_policy_compile_seccomp(p, &fd, &err) < 0) {
                        fprintf(stderr, "bench_policy: %s: %s\n", path, err.msg);
                        exit(1);
                }
                compile[i] = bench_now_ms() - t1;
                parse[i] = t1 - t0;
                close(fd);
                brig_policy_free(p);
        }
        double mp = bench_median(parse, (size_t) reps), mc = bench_median(compile, (size_t) reps);
        printf("%-40s parse %7.3f ms   compile %7.3f ms   compile/parse %5.1fx   saved per jail %7.3f ms\n",
               path, mp, mc, mc / mp, mc);
}

int main(int argc, char **argv) {
        const char *dir = argc > 1 ? argv[1] : "policies";
        int reps = argc > 2 ? atoi(argv[2]) : 31;
        double cold[reps > 0 ? reps : 1], warm[reps > 0 ? reps : 1];
        char path[4096];

        if (reps < 1)
                reps = 1;
        snprintf(path, sizeof(path), "%s/default.json", dir);
        one_policy(path, reps);
        snprintf(path, sizeof(path), "%s/docker-seccomp.json", dir);
        if (access(path, R_OK) == 0)
                one_policy(path, reps);

        for (int i = 0; i < reps; i++) {
                brig_error err = BRIG_ERROR_INIT;
                brig_policies set;
                cJSON *summary = cJSON_CreateObject();
                const brig_policy_entry *def = NULL;
                double t0 = bench_now_ms();
                if (brig_policies_init(&set, dir, &err) < 0) {
                        fprintf(stderr, "bench_policy: %s\n", err.msg);
                        return 1;
                }
                cold[i] = bench_now_ms() - t0;
                t0 = bench_now_ms();
                brig_policies_reload *rl = brig_policies_reload_new(&set);
                brig_policies_reload_run(rl);
                if (brig_policies_reload_commit(&set, rl, &def, summary, &err) < 0) {
                        fprintf(stderr, "bench_policy: reload: %s\n", err.msg);
                        return 1;
                }
                brig_policies_reload_free(rl);
                warm[i] = bench_now_ms() - t0;
                cJSON_Delete(summary);
                brig_policies_done(&set);
        }
        double mc = bench_median(cold, (size_t) reps), mw = bench_median(warm, (size_t) reps);
        printf("%-40s cold %7.3f ms   reload (shared programs) %7.3f ms   reload/cold %5.2fx\n", dir, mc, mw,
               mw / mc);
        return 0;
}
