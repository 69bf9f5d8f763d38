/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
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
        if (write(c->fd, s, len) != (ssize_t) len || write(c->fd, "\n", 1) != 1) {
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

int bench_rm_state(const char *dir) {
        char line[4096], *mounts[256];
        size_t n = 0, len = strlen(dir);
        FILE *f = fopen("/proc/self/mounts", "re");

        while (f && n < 256 && fgets(line, sizeof(line), f)) {
                char *point = strchr(line, ' ');
                char *end = point ? strchr(point + 1, ' ') : NULL;
                if (!end)
                        continue;
                *end = '\0';
                point++;
                if (strncmp(point, dir, len) == 0 && point[len] == '/' && (mounts[n] = strdup(point)))
                        n++;
        }
        if (f)
                (void) fclose(f);
        /* Deepest first: a mount below another goes before it. */
        while (n > 0) {
                (void) umount2(mounts[n - 1], MNT_DETACH);
                free(mounts[--n]);
        }
        return brig_rm_rf(dir);
}
