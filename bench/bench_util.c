/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "common/fs.h"

double bench_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

double bench_now_ms(void) {
        return bench_now_us() / 1e3;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double p) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(double), cmp);
        return v[(size_t) (p * (double) (n - 1) + 0.5)];
}

double bench_median(double *v, size_t n) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(double), cmp);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_client_connect(bench_client *c, const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        c->fd = fd;
        c->len = 0;
        return fd;
}

void bench_client_close(bench_client *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->len = 0;
}

void bench_client_send(bench_client *c, const char *s) {
        size_t len = strlen(s);
        /* One write, as MCP clients send a message: in two, brigd wakes for the message and again for its
         * newline (and, on a loaded machine, the client may be descheduled between them). */
        struct iovec iov[2] = {{.iov_base = (void *) s, .iov_len = len},
                               {.iov_base = (void *) "\n", .iov_len = 1}};
        if (writev(c->fd, iov, 2) != (ssize_t) len + 1) {
                perror("bench: write");
                exit(1);
        }
}

cJSON *bench_client_wait(bench_client *c, int id) {
        for (;;) {
                char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
                if (nl) {
                        size_t line = (size_t) (nl - c->buf);
                        cJSON *m = cJSON_ParseWithLength(c->buf, line);
                        memmove(c->buf, nl + 1, c->len - line - 1);
                        c->len -= line + 1;
                        cJSON *mid = cJSON_GetObjectItem(m, "id");
                        if (cJSON_IsNumber(mid) && mid->valueint == id)
                                return m;
                        cJSON_Delete(m);
                        continue;
                }
                if (c->len == c->cap) {
                        size_t cap = c->cap ? c->cap * 2 : 1 << 20;
                        char *b = realloc(c->buf, cap);
                        if (!b) {
                                fprintf(stderr, "bench: out of memory\n");
                                exit(1);
                        }
                        c->buf = b;
                        c->cap = cap;
                }
                ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (n <= 0) {
                        fprintf(stderr, "bench: brigd closed the connection\n");
                        exit(1);
                }
                c->len += (size_t) n;
        }
}

/* Unmounts (lazily) the mounts below dir, deepest first; returns how many it found. */
static size_t unmount_below(const char *dir) {
        char line[4096], **mounts = NULL;
        size_t n = 0, cap = 0, len = strlen(dir);
        FILE *f = fopen("/proc/self/mounts", "re");

        while (f && fgets(line, sizeof(line), f)) {
                char *point = strchr(line, ' ');
                char *end = point ? strchr(point + 1, ' ') : NULL;
                if (!end)
                        continue;
                *end = '\0';
                point++;
                if (strncmp(point, dir, len) != 0 || point[len] != '/')
                        continue;
                if (n == cap) {
                        char **m = realloc(mounts, (cap = cap ? 2 * cap : 256) * sizeof(*mounts));
                        if (!m)
                                break;
                        mounts = m;
                }
                if ((mounts[n] = strdup(point)))
                        n++;
        }
        if (f)
                (void) fclose(f);
        /* Later in the table is mounted later, so below or over what came before: unmount it first. */
        for (size_t i = n; i > 0; i--) {
                (void) umount2(mounts[i - 1], MNT_DETACH);
                free(mounts[i - 1]);
        }
        free(mounts);
        return n;
}

int bench_rm_state(const char *dir) {
        /* Every workspace brigd left mounted (one per environment at scale), or their loop devices stay
         * attached and slow every later mkfs on the host. */
        for (int pass = 0; pass < 4 && unmount_below(dir) > 0; pass++)
                ;
        return brig_rm_rf(dir);
}

/* Three significant figures or more, never an exponent. */
static const char *fig(char *buf, size_t len, double v) {
        snprintf(buf, len, v >= 100 || v <= -100 ? "%.0f" : v >= 10 || v <= -10 ? "%.1f" : "%.2f", v);
        return buf;
}

static void goal_line(const char *what, const char *unit, double brig, const char *peer_name, double peer,
                      const char *ratio, bool le, double goal, bool pass) {
        char a[32], b[32], g[32];
        const char *sp = *unit ? " " : "";
        printf("%s: brig %s%s%s", what, fig(a, sizeof(a), brig), sp, unit);
        if (peer_name)
                printf("  %s %s%s%s", peer_name, fig(b, sizeof(b), peer), sp, unit);
        printf("  %s(goal %s %s%s%s)  %s\n", ratio, le ? "<=" : ">=", fig(g, sizeof(g), goal),
               *ratio ? "" : sp, *ratio ? "" : unit, pass ? "PASS" : "FAIL");
        (void) fflush(stdout);
}

void bench_goal_ratio(const char *what, const char *unit, double brig, const char *peer_name, double peer,
                      bool le, double goal) {
        double r = peer > 0 ? brig / peer : 0;
        char ratio[48];
        snprintf(ratio, sizeof(ratio), "ratio %.2f ", r);
        goal_line(what, unit, brig, peer_name, peer, ratio, le, goal,
                  peer > 0 && (le ? r <= goal : r >= goal));
}

void bench_goal_abs(const char *what, const char *unit, double brig, const char *peer_name, double peer,
                    bool le, double goal) {
        goal_line(what, unit, brig, peer_name, peer, "", le, goal, le ? brig <= goal : brig >= goal);
}

int bench_make_static_true(const char *path) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "printf 'int main(void){return 0;}' | cc -static -O2 -x c - -o %s", path);
        return system(cmd) == 0 ? 0 : -1;
}

double bench_floor_spawn(const char *bin, int n, double *samples, unsigned pause_us) {
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

int bench_run_quiet(char *const argv[]) {
        int status;
        pid_t p = fork();
        if (p == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        if (p < 0 || waitpid(p, &status, 0) < 0)
                return -1;
        return status;
}

void bench_brigd_start(bench_brigd *b) {
        char spare[16], policy[1024];
        snprintf(b->sock, sizeof(b->sock), "%s/%sbrig.sock", b->dir, b->name);
        snprintf(b->state, sizeof(b->state), "%s/%sstate", b->dir, b->name);
        snprintf(policy, sizeof(policy), "%s/policies/default.json", b->source);
        snprintf(spare, sizeof(spare), "%d", b->spare);
        b->pid = fork();
        if (b->pid == 0) {
                char bin[1024], audit[1024], helper[1024], log[1024];
                snprintf(bin, sizeof(bin), "%s/brigd", b->build);
                snprintf(audit, sizeof(audit), "%s/%saudit.jsonl", b->dir, b->name);
                snprintf(helper, sizeof(helper), "%s/brig-jail", b->build);
                snprintf(log, sizeof(log), "%s/%sbrigd.log", b->dir, b->name);
                int null = open("/dev/null", O_WRONLY), lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                dup2(null, 1);
                dup2(lf >= 0 ? lf : null, 2);
                const char *argv[20] = {bin,
                                        "--socket",
                                        b->sock,
                                        "--state-dir",
                                        b->state,
                                        "--audit",
                                        audit,
                                        "--policy",
                                        b->policy ? b->policy : policy,
                                        "--jail-helper",
                                        helper,
                                        "--log-level",
                                        "error"};
                int n = 13;
                if (b->spare >= 0) {
                        argv[n++] = "--spare-environments";
                        argv[n++] = spare;
                }
                execv(bin, (char *const *) argv);
                _exit(127);
        }
        bench_client c = {.fd = -1};
        for (int i = 0; i < 400 && bench_client_connect(&c, b->sock) < 0; i++)
                usleep(50000);
        if (c.fd < 0) {
                fprintf(stderr, "bench: brigd did not start (see %s/%sbrigd.log)\n", b->dir, b->name);
                exit(1);
        }
        bench_client_close(&c);
}

int bench_brigd_stop(bench_brigd *b) {
        int status = -1;
        if (b->pid > 0 && kill(b->pid, SIGTERM) == 0)
                (void) waitpid(b->pid, &status, 0);
        b->pid = -1;
        return status;
}

void bench_initialize(bench_client *c, const char *env, const char *extra_meta) {
        char msg[1024], meta[512] = "";
        if (env || extra_meta)
                snprintf(meta, sizeof(meta), ",\"_meta\":{%s%s%s%s%s}", env ? "\"brig/environment\":\"" : "",
                         env ? env : "", env ? "\"" : "", env && extra_meta ? "," : "",
                         extra_meta ? extra_meta : "");
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                 "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}%"
                 "s}}",
                 meta);
        bench_client_send(c, msg);
        cJSON *m = bench_client_wait(c, 0);
        if (!cJSON_GetObjectItem(m, "result")) {
                char *t = cJSON_PrintUnformatted(m);
                fprintf(stderr, "bench: initialize failed: %s\n", t);
                exit(1);
        }
        cJSON_Delete(m);
}

static _Noreturn void call_failed(const char *what, cJSON *m) {
        char *t = cJSON_PrintUnformatted(m);
        fprintf(stderr, "bench: %s failed: %s\n", what, t);
        exit(1);
}

void bench_exec_call(bench_client *c, int id, const char *prog) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"argv\":[\"%s\"]}}}",
                 id, prog);
        bench_client_send(c, msg);
        cJSON *m = bench_client_wait(c, id);
        cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent");
        cJSON *code = cJSON_GetObjectItem(sc, "exit_code");
        if (!cJSON_IsNumber(code) || code->valueint != 0)
                call_failed(prog, m);
        cJSON_Delete(m);
}

void bench_tool_call(bench_client *c, int id, const char *name, const char *args) {
        size_t len = strlen(args) + 256;
        char *msg = malloc(len);
        if (!msg)
                exit(1);
        snprintf(msg, len,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                 "\"arguments\":%s}}",
                 id, name, args);
        bench_client_send(c, msg);
        free(msg);
        cJSON *m = bench_client_wait(c, id);
        if (!cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "isError")))
                call_failed(name, m);
        cJSON_Delete(m);
}

/* The first "Key: N" number in a /proc file, or -1. */
static long proc_field(const char *path, const char *key) {
        char line[256];
        long v = -1;
        size_t klen = strlen(key);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        v = atol(line + klen + 1);
                        break;
                }
        (void) fclose(f);
        return v;
}

long bench_hwm_kb(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        return proc_field(path, "VmHWM");
}

void bench_reset_hwm(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int) pid);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) !write(fd, "5", 1);
                close(fd);
        }
}

long bench_pss_kb(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        return proc_field(path, "Pss");
}

double bench_cpu_s(pid_t pid) {
        char path[64], buf[1024];
        unsigned long ut = 0, st = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        /* Fields 14 and 15 (utime, stime) after the comm's closing parenthesis: state is field 3. */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return -1;
        return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

long bench_kernel_kb(void) {
        return proc_field("/proc/meminfo", "Slab") + proc_field("/proc/meminfo", "KernelStack") +
               proc_field("/proc/meminfo", "PageTables");
}
