/* SPDX-License-Identifier: MIT */
#pragma once

/* bubblewrap with the isolation a brig policy asks for, as the peer of brig's benchmarks: a new user, pid,
 * net, ipc, uts and cgroup namespace, the policy's read-only binds, its tmpfs, its hidden paths, a
 * workspace directory bound read-write, /proc, /dev, the policy's environment, no capabilities, a new
 * session, and the policy's seccomp filter (compiled by brig's own compiler, without audit, given as fd
 * BENCH_BWRAP_SECCOMP_FD). What brig applies on top and bwrap cannot: Landlock, rlimits, cgroup limits,
 * audited seccomp denials. */

#define BENCH_BWRAP "/usr/bin/bwrap"
#define BENCH_BWRAP_SECCOMP_FD 10
#define BENCH_BWRAP_MAX_ARGS 512

typedef struct bench_cmdline {
        char *argv[BENCH_BWRAP_MAX_ARGS];
        int n;
        int workspace_arg; /* argv index of the workspace's host path, "WORKSPACE" until set */
} bench_cmdline;

/* bwrap's arguments for the policy file at path, running cmd (NULL-terminated); *seccomp_fd gets the
 * compiled filter (a memfd: give it with bench_bwrap_child_seccomp). Returns 0, or -1 after printing why. */
int bench_bwrap_cmdline(const char *path, const char *const *cmd, bench_cmdline *c, int *seccomp_fd);
/* Prints it on one line, indented, named. */
void bench_bwrap_print(const char *name, const bench_cmdline *c);
/* In a child about to exec bwrap: the filter as BENCH_BWRAP_SECCOMP_FD, opened anew so that concurrent
 * sandboxes do not share (and race on) one file offset. */
void bench_bwrap_child_seccomp(int seccomp_fd);
