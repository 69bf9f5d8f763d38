/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

/* One goal of issue 17 checked in the same run: what, brig's figure and its floor or peer (same unit),
 * their ratio against the goal (le: brig/peer <= goal, else >= goal). Prints one line ending PASS or FAIL,
 * e.g. "oneshot default: brig 9.8 ms  bwrap 6.1 ms  ratio 1.61 (goal <= 0.80)  FAIL". */
void bench_goal_ratio(const char *what, const char *unit, double brig, const char *peer_name, double peer,
                      bool le, double goal);
/* The same for a goal that is an absolute figure (e.g. write_file <= 200 us); peer_name may be NULL. */
void bench_goal_abs(const char *what, const char *unit, double brig, const char *peer_name, double peer,
                    bool le, double goal);

/* A static `true` built from source (needs cc and a static libc), so floors need nothing installed. */
int bench_make_static_true(const char *path);
/* fork + execve + waitpid of bin n times (each after pause_us idle when > 0): samples[i] in us; returns
 * the median. */
double bench_floor_spawn(const char *bin, int n, double *samples, unsigned pause_us);
/* Runs argv (a path, no PATH search) with stdin/stdout/stderr on /dev/null; its exit status or -1. */
int bench_run_quiet(char *const argv[]);

/* brigd for a bench: its own socket, state and audit under dir (names prefixed by name), stdout and
 * stderr to dir/<name>brigd.log. policy NULL: source/policies/default.json. spare < 0: brigd's default. */
typedef struct bench_brigd {
        const char *build, *source, *dir, *name, *policy;
        int spare;
        char sock[1024], state[1024];
        pid_t pid;
} bench_brigd;
/* Starts it and waits (at most 20 s) until its socket accepts; exits the bench when it does not. */
void bench_brigd_start(bench_brigd *b);
/* SIGTERM and wait; returns its exit status. */
int bench_brigd_stop(bench_brigd *b);

/* initialize on c, attached to environment env (NULL: an unnamed one); extra_meta is more members of
 * _meta ("\"brig/output\":true") or NULL. */
void bench_initialize(bench_client *c, const char *env, const char *extra_meta);
/* tools/call exec of argv[0] with no argument, which must exit 0. */
void bench_exec_call(bench_client *c, int id, const char *prog);
/* A tools/call that must succeed (isError false); args is the arguments object as JSON. */
void bench_tool_call(bench_client *c, int id, const char *name, const char *args);

/* From /proc (RSS, fds and descendants are bench/loadgen.h's): a process's peak resident set (kB; -1 when
 * unreadable), its proportional set size (smaps_rollup, kB), its user+system CPU time (s). */
long bench_hwm_kb(pid_t pid);
/* Resets the peak bench_hwm_kb reports to the current RSS (root, /proc/PID/clear_refs). */
void bench_reset_hwm(pid_t pid);
long bench_pss_kb(pid_t pid);
double bench_cpu_s(pid_t pid);
/* Slab + KernelStack + PageTables from /proc/meminfo, kB: kernel memory a new jail's objects grow. */
long bench_kernel_kb(void);
