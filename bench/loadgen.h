/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A load generator for brigd, shared by bench/bench_load.c and tests/integration/test_load.c: n_conns
 * connections, each initialising and then pipelining n_calls exec calls at once, over n_envs named
 * environments (n_envs 0: one unnamed environment per connection). Each call echoes a unique token and
 * must get exactly that token back. One thread, poll(2); nothing in it blocks longer than the deadline.
 * A busy refusal (JSON-RPC -32001 with data.reason "busy", docs/protocol.md) is retried after its
 * retry_after_ms, as a client should; everything else is counted as what it is. */

#define LOADGEN_MAX_KINDS 16

typedef struct loadgen_opts {
        const char *socket;
        const char *env_prefix; /* named environments are <prefix>-0 .. <prefix>-(n_envs-1) */
        unsigned n_conns, n_calls, n_envs;
        double deadline_ms;   /* a hang guard: calls still unanswered then count as hung */
        unsigned max_retries; /* per call, for busy refusals */
} loadgen_opts;

typedef struct loadgen_stats {
        size_t expected, received; /* final answers, busy refusals that were retried not counted */
        size_t ok, wrong, empty, errors, hung, busy_retried, busy_final;
        size_t conn_failed; /* connections that could not connect or were closed by brigd early */
        struct {
                char what[96];
                size_t n;
        } kinds[LOADGEN_MAX_KINDS]; /* errors by kind, first examples of wrong outputs too */
        size_t n_kinds, other_kinds;
        double p50_ms, p99_ms, elapsed_ms;
        long rss_peak_kb; /* sampled during the run when pid > 0 */
} loadgen_stats;

/* Runs one load; pid (brigd, or 0) is sampled for its peak RSS. Returns 0, or -1 when it could not run at
 * all (out of memory). */
int loadgen_run(const loadgen_opts *o, pid_t pid, loadgen_stats *st);
void loadgen_print(const char *title, const loadgen_stats *st);

/* brigd's figures from /proc: resident memory (kB), open fds, its descendant processes; -1 when
 * unreadable. */
long loadgen_rss_kb(pid_t pid);
int loadgen_fds(pid_t pid);
int loadgen_descendants(pid_t pid);
/* The same, also storing up to max of their pids in out. */
int loadgen_descendant_pids(pid_t pid, pid_t *out, size_t max);
/* Entries in <state_dir>/environments, and cgroup directories under pid's cgroup named brig*. */
int loadgen_env_dirs(const char *state_dir);
int loadgen_cgroups(pid_t pid);
