/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/* What the benchmarks share: a monotonic clock, order statistics, and a bare MCP client for brigd's
 * socket (one message per line; a bench exits on any I/O failure, it measures nothing then). */

double bench_now_us(void);
double bench_now_ms(void);

/* The p-quantile (0 to 1) of v[0..n), which it sorts; bench_median is p = 0.5 (mean of the middle two for
 * an even n). */
double bench_quantile(double *v, size_t n, double p);
double bench_median(double *v, size_t n);

typedef struct bench_client {
        int fd;
        char *buf; /* received, not yet parsed */
        size_t len, cap;
} bench_client;

/* Connects to a Unix socket; -1 when nothing listens there yet. */
int bench_client_connect(bench_client *c, const char *path);
void bench_client_close(bench_client *c);
/* Sends s and a newline. */
void bench_client_send(bench_client *c, const char *s);
/* Reads messages until the one with this id, which it returns (caller frees). */
cJSON *bench_client_wait(bench_client *c, int id);

/* Removes a bench's directory after its brigd stopped, unmounting first what brigd left mounted below it
 * (workspaces on filesystem images when brigd ran as root), or their loop devices would stay. */
int bench_rm_state(const char *dir);
