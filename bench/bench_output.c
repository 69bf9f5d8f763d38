/* SPDX-License-Identifier: MIT */
/* Issue 17, goal 6: large output to a client that reads the result. A command (`cat`) prints a file of
 * SIZE (default 256 MiB) of text (lines of ASCII) or of binary (pseudo-random bytes) from the workspace;
 * the client reads every byte brigd sends until the call's result. Printed for each case:
 *   MB/s        output bytes / wall time from the request to the result's last byte, against the relay
 *               floor measured in the same run (`cat` into a pipe, a process copying it to a Unix socket,
 *               this one reading it)
 *   wire        bytes read from the socket (notifications and result) per output byte
 *   memory      brigd's peak RSS during the call minus its RSS when idle (measured once, before the first
 *               call: memory a previous call left in malloc's free lists counts too), against the policy's
 *               output limit
 *   CPU         brigd's user+system CPU per GiB of output
 * Cases: the result only; streamed with _meta.progressToken (notifications/progress); streamed with
 * brig/output notifications (initialize's _meta, what `brig exec` uses). brigd runs a copy of the default
 * policy with limits.output raised to SIZE. Not a test.
 * ONLY, when given, runs only the cases whose name contains it (e.g. "text, streamed"), for profiling brigd
 * (`perf record -g -p <brigd pid>`) through one kind of call.
 *   bench_output [BUILD [SOURCE [MIB [ONLY]]]] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/bench_util.h"
#include "bench/loadgen.h"

#define CHUNK (1 << 20)

static char buf[CHUNK];

/* The default policy with a larger output limit and time to print it, written to path. */
static int write_policy(const char *source, const char *path, unsigned mib) {
        char in[1024], size[32];
        snprintf(in, sizeof(in), "%s/policies/default.json", source);
        FILE *f = fopen(in, "re");
        if (!f)
                return -1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        cJSON *p = cJSON_Parse(buf), *limits = cJSON_GetObjectItem(p, "limits");
        if (!limits)
                return -1;
        snprintf(size, sizeof(size), "%uM", mib);
        cJSON_ReplaceItemInObject(limits, "output", cJSON_CreateString(size));
        cJSON_ReplaceItemInObject(limits, "wall_time", cJSON_CreateString("10m"));
        cJSON_ReplaceItemInObject(limits, "cpu_time", cJSON_CreateString("10m"));
        cJSON_ReplaceItemInObject(p, "name", cJSON_CreateString("bench-output"));
        char *text = cJSON_Print(p);
        f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                return -1;
        free(text);
        cJSON_Delete(p);
        return 0;
}

/* SIZE bytes of text lines or of xorshift bytes (incompressible, mostly not UTF-8). */
static int write_data(const char *path, size_t size, int binary) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        unsigned long long x = 88172645463325252ull;
        size_t line = 0;
        if (fd < 0)
                return -1;
        for (size_t done = 0; done < size;) {
                size_t n = 0;
                if (binary)
                        for (; n + 8 <= CHUNK; n += 8) {
                                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                                memcpy(buf + n, &x, 8);
                        }
                else
                        while (n + 80 <= CHUNK)
                                n += (size_t) snprintf(buf + n, 80,
                                                       "%08zu the quick brown fox jumps over the lazy dog, "
                                                       "\"quoted\"\ttabbed\n",
                                                       line++);
                if (n > size - done)
                        n = size - done;
                if (write(fd, buf, n) != (ssize_t) n)
                        return -1;
                done += n;
        }
        return close(fd);
}

/* The floor: cat FILE | relay | this process, over a pipe and a Unix socket. Returns MB/s. */
static double relay_floor(const char *file, size_t size) {
        int p[2], s[2];
        if (pipe2(p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) < 0)
                return 0;
        double t = bench_now_us();
        pid_t cat = fork();
        if (cat == 0) {
                dup2(p[1], 1);
                execl("/bin/cat", "cat", file, (char *) NULL);
                _exit(127);
        }
        pid_t relay = fork();
        if (relay == 0) {
                close(p[1]);
                for (ssize_t n; (n = read(p[0], buf, sizeof(buf))) > 0;)
                        for (ssize_t off = 0, w; off < n; off += w)
                                if ((w = write(s[1], buf + off, (size_t) (n - off))) <= 0)
                                        _exit(1);
                _exit(0);
        }
        close(p[0]);
        close(p[1]);
        close(s[1]);
        size_t got = 0;
        for (ssize_t n; (n = read(s[0], buf, sizeof(buf))) > 0;)
                got += (size_t) n;
        close(s[0]);
        waitpid(cat, NULL, 0);
        waitpid(relay, NULL, 0);
        t = bench_now_us() - t;
        return got == size ? (double) size / t : 0;
}

typedef struct result {
        double mbps, wire, mem_ratio, mem_mib, cpu_per_gib;
} result;

/* One call on c: cat FILE; reads every message until the response (a line that names no method).
 * Checks the result is not an error and not truncated from its last bytes. */
static result one_call(bench_client *c, pid_t brigd, long idle_kb, const char *file, size_t size, int id,
                       bool progress) {
        char msg[512], head[64], tail[512];
        size_t wire = 0, line_len = 0, head_len = 0, tail_len = 0;
        result r = {0};

        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"exec\","
                 "\"arguments\":{\"argv\":[\"cat\",\"%s\"]}%s}}",
                 id, file, progress ? ",\"_meta\":{\"progressToken\":\"p\"}" : "");
        bench_reset_hwm(brigd);
        double cpu0 = bench_cpu_s(brigd), t = bench_now_us();
        bench_client_send(c, msg);
        for (bool done = false; !done;) {
                ssize_t n = read(c->fd, buf, sizeof(buf));
                if (n <= 0) {
                        fprintf(stderr, "bench_output: brigd closed the connection\n");
                        exit(1);
                }
                wire += (size_t) n;
                for (size_t off = 0; off < (size_t) n;) {
                        char *nl = memchr(buf + off, '\n', (size_t) n - off);
                        size_t k = nl ? (size_t) (nl - buf) - off : (size_t) n - off;
                        for (size_t i = 0; i < k && head_len < sizeof(head) - 1; i++)
                                head[head_len++] = buf[off + i];
                        /* The last bytes of the line, for the result's flags. */
                        size_t keep = k < sizeof(tail) ? k : sizeof(tail);
                        if (tail_len + keep > sizeof(tail)) {
                                size_t drop = tail_len + keep - sizeof(tail);
                                memmove(tail, tail + drop, tail_len - drop);
                                tail_len -= drop;
                        }
                        memcpy(tail + tail_len, buf + off + k - keep, keep);
                        tail_len += keep;
                        line_len += k;
                        off += k;
                        if (!nl)
                                break;
                        off++;
                        head[head_len] = 0;
                        if (!strstr(head, "\"method\"")) {
                                done = true;
                                tail[tail_len < sizeof(tail) ? tail_len : sizeof(tail) - 1] = 0;
                                if (strstr(head, "\"error\"") || strstr(tail, "\"truncated\":true") ||
                                    line_len < size / 2) {
                                        fprintf(stderr,
                                                "bench_output: the call failed or was cut: %s ... %s\n",
                                                head, tail);
                                        exit(1);
                                }
                        }
                        line_len = head_len = tail_len = 0;
                }
        }
        t = bench_now_us() - t;
        long hwm = bench_hwm_kb(brigd);
        r.mbps = (double) size / t;
        r.wire = (double) wire / (double) size;
        r.mem_mib = (double) (hwm - idle_kb) / 1024;
        r.mem_ratio = r.mem_mib * 1024 * 1024 / (double) size;
        r.cpu_per_gib = (bench_cpu_s(brigd) - cpu0) / ((double) size / (1 << 30));
        return r;
}

static void report(const char *what, const result *r, double floor, double mbps_goal, double wire_goal) {
        char line[128];
        snprintf(line, sizeof(line), "6 %s MB/s", what);
        if (mbps_goal > 0)
                bench_goal_abs(line, "MB/s", r->mbps, "relay floor", floor, false, mbps_goal);
        else
                printf("%s: brig %.1f MB/s  relay floor %.0f MB/s  (no goal)\n", line, r->mbps, floor);
        snprintf(line, sizeof(line), "6 %s wire bytes per output byte", what);
        if (wire_goal > 0)
                bench_goal_abs(line, "B/B", r->wire, NULL, 0, true, wire_goal);
        else
                printf("%s: brig %.2f  (no goal)\n", line, r->wire);
        snprintf(line, sizeof(line), "6 %s brigd peak memory / output limit", what);
        bench_goal_abs(line, "x", r->mem_ratio, NULL, 0, true, 1.2);
        printf("  %s: brigd peak RSS +%.0f MiB, CPU %.2f s per GiB of output\n", what, r->mem_mib,
               r->cpu_per_gib);
}

int main(int argc, char **argv) {
        const char *build = argc > 1 ? argv[1] : "build", *source = argc > 2 ? argv[2] : ".";
        unsigned mib = argc > 3 ? (unsigned) atoi(argv[3]) : 256;
        const char *only = argc > 4 ? argv[4] : "";
        size_t size = (size_t) mib << 20;
        char dir[] = "/tmp/brig-bench-out-XXXXXX", policy[1024], path[2048];
        bench_client c = {.fd = -1}, s = {.fd = -1};

        if (!mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        snprintf(policy, sizeof(policy), "%s/bench-output.json", dir);
        if (write_policy(source, policy, mib) < 0) {
                fprintf(stderr, "bench_output: cannot write %s\n", policy);
                return 1;
        }
        bench_brigd d = {
                .build = build, .source = source, .dir = dir, .name = "", .policy = policy, .spare = 0};
        bench_brigd_start(&d);
        bench_client_connect(&c, d.sock);
        bench_initialize(&c, "out", NULL);
        bench_exec_call(&c, 1, "/usr/bin/true");
        bench_client_connect(&s, d.sock);
        bench_initialize(&s, "out", "\"brig/output\":true");
        const char *names[2] = {"text", "binary"};
        long idle_kb = loadgen_rss_kb(d.pid);
        printf("bench_output: %u MiB of output per call, output limit %u MiB\n", mib, mib);
        for (int bin = 0; bin < 2; bin++) {
                snprintf(path, sizeof(path), "%s/environments/out/workspace/%s", d.state, names[bin]);
                if (write_data(path, size, bin) < 0) {
                        fprintf(stderr, "bench_output: cannot write %s\n", path);
                        return 1;
                }
                char jail[64], what[64];
                snprintf(jail, sizeof(jail), "/workspace/%s", names[bin]);
                double floor = relay_floor(path, size);
                snprintf(what, sizeof(what), "%s, result only", names[bin]);
                if (strstr(what, only)) {
                        result plain = one_call(&c, d.pid, idle_kb, jail, size, 10 + bin, false);
                        report(what, &plain, floor, bin ? 0 : 1073.7, bin ? 1.4 : 1.1);
                }
                snprintf(what, sizeof(what), "%s, streamed (progress)", names[bin]);
                if (strstr(what, only)) {
                        result prog = one_call(&c, d.pid, idle_kb, jail, size, 20 + bin, true);
                        report(what, &prog, floor, bin ? 0 : 500, bin ? 0 : 2.1);
                }
                snprintf(what, sizeof(what), "%s, streamed (brig/output)", names[bin]);
                if (strstr(what, only)) {
                        result out = one_call(&s, d.pid, idle_kb, jail, size, 30 + bin, false);
                        report(what, &out, floor, bin ? 0 : 500, bin ? 0 : 2.1);
                }
                (void) unlink(path);
        }
        bench_client_close(&c);
        bench_client_close(&s);
        bench_brigd_stop(&d);
        (void) bench_rm_state(dir);
        return 0;
}
