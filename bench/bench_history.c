/* SPDX-License-Identifier: MIT */
/* Measures the workspace history (tools/history.c) against git's own CLI in the same run, on two copies of
 * one generated workspace (default 10,000 small text files in 100 directories):
 *   snapshot    change one file, brig snapshot    vs  git add -A && git commit -q -m x
 *   no-op       brig snapshot with nothing changed vs  git status --porcelain
 *   diff        change one file, brig diff         vs  git diff
 * git runs as /usr/bin/git through posix_spawn (each command is one process, as a shell would run it),
 * with no system or user config. Timings are medians of N repetitions; ratios brig/git below 1 mean brig is
 * faster. Not a test: it asserts nothing.
 * Usage: bench_history [repetitions (21)] [files (10000)] */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_util.h"
#include "common/fs.h"
#include "tools/history.h"

extern char **environ;

static char git_env_home[256];

static void die(const char *what) {
        fprintf(stderr, "bench_history: %s: %s\n", what, strerror(errno));
        exit(1);
}

/* Runs /usr/bin/git -C dir args... with stdout and stderr on /dev/null; returns its exit status. */
static int git(const char *dir, const char *const *args) {
        static char nosystem[] = "GIT_CONFIG_NOSYSTEM=1", an[] = "GIT_AUTHOR_NAME=bench",
                    ae[] = "GIT_AUTHOR_EMAIL=bench@localhost", cn[] = "GIT_COMMITTER_NAME=bench",
                    ce[] = "GIT_COMMITTER_EMAIL=bench@localhost", path[] = "PATH=/usr/bin:/bin";
        char *argv[16], *envp[] = {git_env_home, nosystem, an, ae, cn, ce, path, NULL};
        posix_spawn_file_actions_t fa;
        int n = 0, status;
        pid_t pid;

        argv[n++] = (char *) "git";
        argv[n++] = (char *) "-C";
        argv[n++] = (char *) dir;
        for (; *args && n < 15; args++)
                argv[n++] = (char *) *args;
        argv[n] = NULL;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        errno = posix_spawn(&pid, "/usr/bin/git", &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        if (errno)
                die("spawn /usr/bin/git");
        if (waitpid(pid, &status, 0) < 0)
                die("waitpid");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void write_file(const char *path, const char *data) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t len = strlen(data);

        if (fd < 0 || write(fd, data, len) != (ssize_t) len)
                die(path);
        close(fd);
}

static void populate(const char *root, int files) {
        char path[512], data[256];

        for (int i = 0; i < files; i++) {
                if (i % 100 == 0) {
                        snprintf(path, sizeof(path), "%s/dir%03d", root, i / 100);
                        if (mkdir(path, 0755) < 0)
                                die(path);
                }
                snprintf(path, sizeof(path), "%s/dir%03d/file%03d.txt", root, i / 100, i % 100);
                snprintf(data, sizeof(data), "file %d\nline two of %d\nline three\n", i, i);
                write_file(path, data);
        }
}

/* The same one-file change in both copies. */
static void change(const char *ws, const char *gws, int files, int round) {
        char path[512], data[128];
        int i = (round * 7919) % files;

        snprintf(data, sizeof(data), "file %d\nchanged in round %d\nline three\n", i, round);
        snprintf(path, sizeof(path), "%s/dir%03d/file%03d.txt", ws, i / 100, i % 100);
        write_file(path, data);
        snprintf(path, sizeof(path), "%s/dir%03d/file%03d.txt", gws, i / 100, i % 100);
        write_file(path, data);
}

static cJSON *brig_snapshot(brig_history *h) {
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res = NULL;

        if (brig_history_snapshot(h, "bench", NULL, "bench", &res, &err) < 0) {
                fprintf(stderr, "bench_history: snapshot: %s\n", err.msg);
                exit(1);
        }
        return res;
}

static void report(const char *name, const char *git_cmd, double *b, double *g, int n) {
        double mb = bench_median(b, (size_t) n), mg = bench_median(g, (size_t) n);
        printf("%-24s %9.2f %9.2f %9.2f   (%s)\n", name, mb, mg, mb / mg, git_cmd);
}

int main(int argc, char **argv) {
        static const char *const add[] = {"add", "-A", NULL},
                                 *const commit[] = {"commit", "-q", "-m", "x", NULL},
                                 *const status[] = {"status", "--porcelain", NULL},
                                 *const diff[] = {"diff", NULL}, *const init[] = {"init", "-q", NULL};
        int reps = argc > 1 ? atoi(argv[1]) : 21, files = argc > 2 ? atoi(argv[2]) : 10000;
        char root[] = "/tmp/brig-bench-history-XXXXXX", ws[128], gws[128], gitdir[128];
        double *bt, *gt, t, first, first_git;
        brig_history *h = NULL;
        brig_error err = BRIG_ERROR_INIT;
        cJSON *res;
        int errors = 0;

        if (reps < 1 || reps > 1000 || files < 100 || files > 1000000) {
                fprintf(stderr, "usage: bench_history [repetitions 1..1000] [files 100..1000000]\n");
                return 2;
        }
        if (!mkdtemp(root))
                die("mkdtemp");
        snprintf(ws, sizeof(ws), "%s/brig-ws", root);
        snprintf(gws, sizeof(gws), "%s/git-ws", root);
        snprintf(gitdir, sizeof(gitdir), "%s/history.git", root);
        snprintf(git_env_home, sizeof(git_env_home), "HOME=%s", root);
        if (mkdir(ws, 0755) < 0 || mkdir(gws, 0755) < 0)
                die("mkdir");
        populate(ws, files);
        populate(gws, files);
        bt = calloc((size_t) reps, sizeof(double));
        gt = calloc((size_t) reps, sizeof(double));
        if (!bt || !gt)
                die("calloc");

        errors |= git(gws, init);
        t = bench_now_ms();
        errors |= git(gws, add) | git(gws, commit);
        first_git = bench_now_ms() - t;
        if (brig_history_open(gitdir, ws, &(brig_history_options){.max_file_size = 1 << 20}, &h, &err) < 0) {
                fprintf(stderr, "bench_history: open: %s\n", err.msg);
                return 1;
        }
        t = bench_now_ms();
        cJSON_Delete(brig_snapshot(h));
        first = bench_now_ms() - t;
        /* warm both: the first status after a commit refreshes git's index */
        cJSON_Delete(brig_snapshot(h));
        errors |= git(gws, status);

        printf("history bench: %d files in %d directories, median of %d; ms (lower is better)\n", files,
               (files + 99) / 100, reps);
        printf("%-24s %9s %9s %9s\n", "", "brig", "git", "brig/git");

        for (int i = 0; i < reps; i++) {
                change(ws, gws, files, i);
                t = bench_now_ms();
                res = brig_snapshot(h);
                bt[i] = bench_now_ms() - t;
                if (!cJSON_IsTrue(cJSON_GetObjectItem(res, "created")))
                        fprintf(stderr, "bench_history: a changed file made no snapshot\n"), errors = 1;
                cJSON_Delete(res);
                t = bench_now_ms();
                errors |= git(gws, add) | git(gws, commit);
                gt[i] = bench_now_ms() - t;
        }
        report("snapshot, 1 file changed", "git add -A && git commit", bt, gt, reps);

        for (int i = 0; i < reps; i++) {
                t = bench_now_ms();
                res = brig_snapshot(h);
                bt[i] = bench_now_ms() - t;
                if (cJSON_IsTrue(cJSON_GetObjectItem(res, "created")))
                        fprintf(stderr, "bench_history: a no-op made a snapshot\n"), errors = 1;
                cJSON_Delete(res);
                t = bench_now_ms();
                errors |= git(gws, status);
                gt[i] = bench_now_ms() - t;
        }
        report("no-op snapshot", "git status --porcelain", bt, gt, reps);

        for (int i = 0; i < reps; i++) {
                change(ws, gws, files, reps + i);
                t = bench_now_ms();
                if (brig_history_diff(h, NULL, NULL, NULL, &res, &err) < 0) {
                        fprintf(stderr, "bench_history: diff: %s\n", err.msg);
                        return 1;
                }
                bt[i] = bench_now_ms() - t;
                if (cJSON_GetArraySize(cJSON_GetObjectItem(res, "files")) != 1)
                        fprintf(stderr, "bench_history: diff does not show one file\n"), errors = 1;
                cJSON_Delete(res);
                t = bench_now_ms();
                errors |= git(gws, diff);
                gt[i] = bench_now_ms() - t;
                /* back to one change per round */
                cJSON_Delete(brig_snapshot(h));
                errors |= git(gws, add) | git(gws, commit);
        }
        report("diff, 1 file changed", "git diff", bt, gt, reps);
        printf("%-24s %9.1f %9.1f %9.2f   (git add -A && git commit, once)\n", "first snapshot", first,
               first_git, first / first_git);

        brig_history_free(h);
        free(bt);
        free(gt);
        if (brig_rm_rf(root) < 0)
                fprintf(stderr, "bench_history: could not remove %s\n", root);
        if (errors)
                fprintf(stderr, "bench_history: some commands failed\n");
        return errors ? 1 : 0;
}
