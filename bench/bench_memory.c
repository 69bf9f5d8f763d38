/* SPDX-License-Identifier: MIT */
/* Measures the institutional memory (tools/memory_*.c) against issue 15's goals, in process and as a
 * worker's pool thread runs a call (open the scope, take its lock, run the tool, close):
 *   memory_search  over N memory files of ~2 KB of generated text (default 10,000, ~20 MB): p50 <= 5 ms
 *   memory write   a `memory create` of a ~2 KB file (commit and index update included), p50 <= 2x the
 *                  peer: writing the same file into a workspace of the same N files plus the auto-snapshot
 *                  write_file takes (tools/history.c's brig_history_snapshot)
 * Queries are two words of middle frequency (the words agents look up: names, not "the"). Not a test: it
 * asserts nothing.
 * Usage: bench_memory [repetitions (51)] [files (10000)] */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_util.h"
#include "common/fs.h"
#include "tools/history.h"
#include "tools/memory_tool.h"

#define VOCABULARY 20000
#define FILE_BYTES 2000

static void die(const char *what, const char *why) {
        fprintf(stderr, "bench_memory: %s: %s\n", what, why ? why : strerror(errno));
        exit(1);
}

/* Word i of the vocabulary: syllables, so that the porter stemmer leaves them alone and they read as
 * words. */
static void word(unsigned i, char buf[static 32]) {
        static const char *const syl[] = {"ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu",
                                          "ba", "do", "fi", "gu", "he", "jo", "ly", "qu", "wa", "xe"};
        size_t n = 0;

        do {
                n += (size_t) snprintf(buf + n, 32 - n, "%s", syl[i % 20]);
                i /= 20;
        } while (i && n < 24);
}

/* A file of ~FILE_BYTES: paragraphs of words drawn with a skew (a few words are very common). */
static size_t text(unsigned seed, char *buf) {
        size_t n = 0;
        unsigned s = seed * 2654435761u + 1;

        while (n < FILE_BYTES - 40) {
                char w[32];
                s = s * 1103515245u + 12345u;
                double u = (double) (s >> 8) / (double) (1u << 24);
                word((unsigned) (u * u * u * VOCABULARY), w);
                n += (size_t) sprintf(buf + n, "%s%s", w, (s >> 4) % 97 == 0 ? ".\n\n" : " ");
        }
        buf[n++] = '\n';
        buf[n] = 0;
        return n;
}

static void write_at(const char *path, const char *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, data, len) != (ssize_t) len || close(fd) < 0)
                die(path, NULL);
}

static const brig_memory_ctx ctx = {
        .limits = {.max_bytes = 1ull << 32, .max_files = 1000000},
        .environment = "bench",
        .call_id = "1",
        .peer_uid = 1000,
};

/* One tool call as the worker makes it: open the scope, call, close. Returns its duration in ms. */
static double call(const char *dir, const char *tool, cJSON *args, int *hits) {
        brig_error err = BRIG_ERROR_INIT;
        brig_memory_report rep;
        brig_memory *m = NULL;
        cJSON *sc = NULL;
        double t = bench_now_ms();

        if (brig_memory_open(dir, &m, &err) < 0 ||
            brig_memory_call(m, tool, args, &ctx, &sc, &rep, &err) < 0)
                die(tool, err.msg);
        brig_memory_free(m);
        t = bench_now_ms() - t;
        if (hits)
                *hits += cJSON_GetArraySize(cJSON_GetObjectItem(sc, "results")) > 0;
        cJSON_Delete(sc);
        return t;
}

int main(int argc, char **argv) {
        int reps = argc > 1 ? atoi(argv[1]) : 51, files = argc > 2 ? atoi(argv[2]) : 10000;
        char root[] = "/tmp/brig-bench-memory-XXXXXX", dir[128], ws[128], gitdir[128], path[256];
        char *buf = malloc(FILE_BYTES + 64);
        brig_memory_change *changes = calloc((size_t) files, sizeof(*changes));
        char **paths = calloc((size_t) files, sizeof(char *)),
             **data = calloc((size_t) files, sizeof(char *));
        double *mt = calloc((size_t) reps, sizeof(double)), *wt = calloc((size_t) reps, sizeof(double));
        brig_error err = BRIG_ERROR_INIT;
        brig_history *h = NULL;
        brig_memory *m = NULL;
        size_t total = 0;
        int hits = 0;
        char id[41];

        if (reps < 1 || reps > 10000 || files < 100 || files > 1000000) {
                fprintf(stderr, "usage: bench_memory [repetitions 1..10000] [files 100..1000000]\n");
                return 2;
        }
        if (!buf || !changes || !paths || !data || !mt || !wt)
                die("calloc", "out of memory");
        if (!mkdtemp(root))
                die("mkdtemp", NULL);
        snprintf(dir, sizeof(dir), "%s/memory", root);
        snprintf(ws, sizeof(ws), "%s/ws", root);
        snprintf(gitdir, sizeof(gitdir), "%s/history.git", root);
        if (mkdir(ws, 0755) < 0)
                die("mkdir", NULL);

        /* The same files in the memory (one commit) and in the workspace (one first snapshot). */
        for (int i = 0; i < files; i++) {
                size_t len = text((unsigned) i, buf);
                if (i % 100 == 0) {
                        snprintf(path, sizeof(path), "%s/d%03d", ws, i / 100);
                        if (mkdir(path, 0755) < 0)
                                die(path, NULL);
                }
                if (asprintf(&paths[i], "d%03d/f%05d.md", i / 100, i) < 0 || !(data[i] = strdup(buf)))
                        die("asprintf", "out of memory");
                snprintf(path, sizeof(path), "%s/%s", ws, paths[i]);
                write_at(path, buf, len);
                changes[i] = (brig_memory_change){.path = paths[i], .data = data[i], .len = len};
                total += len;
        }
        brig_memory_author who = {.environment = "bench", .command = "import", .path = "/memories"};
        if (brig_memory_open(dir, &m, &err) < 0 || brig_memory_lock(m, &err) < 0 ||
            brig_memory_commit(m, changes, (size_t) files, &ctx.limits, &who, id, &err) < 0)
                die("memory import", err.msg);
        brig_memory_free(m);
        if (brig_history_open(gitdir, ws, &(brig_history_options){.max_file_size = 1 << 20}, &h, &err) < 0)
                die("history open", err.msg);
        cJSON *res = NULL;
        if (brig_history_snapshot(h, "bench", NULL, "bench", &res, &err) < 0)
                die("snapshot", err.msg);
        cJSON_Delete(res);
        printf("memory bench: %d files, %.1f MB, %d repetitions\n", files, (double) total / 1e6, reps);

        /* Warm the index's pages once, as a running brigd has them. */
        for (int i = 0; i < reps; i++) {
                char a[32], b[32], q[128];
                word((unsigned) (VOCABULARY / 8 + (unsigned) i * 37 % (VOCABULARY / 4)), a);
                word((unsigned) (VOCABULARY / 5 + (unsigned) i * 53 % (VOCABULARY / 4)), b);
                snprintf(q, sizeof(q), "{\"query\": \"%s %s\", \"limit\": 10}", a, b);
                cJSON *args = cJSON_Parse(q);
                if (i == 0)
                        (void) call(dir, "memory_search", args, NULL);
                mt[i] = call(dir, "memory_search", args, &hits);
                cJSON_Delete(args);
        }
        double search = bench_quantile(mt, (size_t) reps, 0.5);
        printf("memory_search: p50 %.2f ms  p90 %.2f ms  (%d of %d queries found passages)\n", search,
               bench_quantile(mt, (size_t) reps, 0.9), hits, reps);

        for (int i = 0; i < reps; i++) {
                size_t len = text((unsigned) (files + i), buf);
                char p[64];
                snprintf(p, sizeof(p), "new/n%05d.md", i);
                cJSON *args = cJSON_CreateObject();
                snprintf(path, sizeof(path), "/memories/%s", p);
                cJSON_AddStringToObject(args, "command", "create");
                cJSON_AddStringToObject(args, "path", path);
                cJSON_AddStringToObject(args, "file_text", buf);
                mt[i] = call(dir, "memory", args, NULL);
                cJSON_Delete(args);

                /* The peer: write_file's write, then its auto-snapshot. */
                double t = bench_now_ms();
                snprintf(path, sizeof(path), "%s/d%03d/n%05d.md", ws, i % 100, i);
                write_at(path, buf, len);
                if (brig_history_snapshot(h, "write_file", NULL, "write_file", &res, &err) < 0)
                        die("snapshot", err.msg);
                wt[i] = bench_now_ms() - t;
                cJSON_Delete(res);
        }
        double write = bench_quantile(mt, (size_t) reps, 0.5), peer = bench_quantile(wt, (size_t) reps, 0.5);

        char what[64];
        snprintf(what, sizeof(what), "memory_search p50 (%d files)", files);
        bench_goal_abs(what, "ms", search, NULL, 0, true, 5.0);
        bench_goal_ratio("memory write p50", "ms", write, "write_file+snapshot", peer, true, 2.0);

        brig_history_free(h);
        for (int i = 0; i < files; i++) {
                free(paths[i]);
                free(data[i]);
        }
        free(paths);
        free(data);
        free(changes);
        free(buf);
        free(mt);
        free(wt);
        if (brig_rm_rf(root) < 0)
                die("remove", NULL);
        return 0;
}
