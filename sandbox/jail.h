/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <linux/filter.h>

#include "common/error.h"
#include "sandbox/jailctl.h"
#include "sandbox/plan.h"

/* Applying a plan: the body of the single-threaded brig-jail helper. Never called in the threaded daemon.
 * Every process of the jail reports on status_fd, and talks to brigd over control, as sandbox/jailctl.h
 * describes. The jail ends when its init (pid 1 of the new pid namespace) exits, which kills every other
 * process in the namespace; the init in turn dies with the helper (PR_SET_PDEATHSIG), so killing the helper
 * kills the whole tree. */

/* Runs the plan to completion; returns the helper's exit code (0 when the status line says it all). prog:
 * the seccomp program the plan's "seccomp" asks for, or NULL for a RUN plan whose init is to receive it on
 * control (SECCOMP, sandbox/jailctl.h) before it forks the command. A HOLD
 * plan needs control, the init's end of the control socket (sandbox/jailctl.h), and runs until brigd hangs
 * up or the helper is killed. A RUN plan takes -1, or a socket on which its command sends the seccomp
 * listener (BRIG_JAILCTL_LISTENER) when the filter has audited denials: without one, such a filter is an
 * error ("seccomp" stage, ENOTCONN). ENTER plans are for the spawner, not for this function. */
/* cgroup_fds: the files (n_cgroup_fds of them) that move the init into the environment's cgroups before
 * it forks anything: the init writes "0" to each itself when cgroup_self (v1 `tasks`), the helper writes
 * its pid otherwise (v2 cgroup.procs), as sandbox/jail.c says why; each is closed. limits: -1, or the socket
 * (sandbox/jailctl.h) whose one byte says the cgroups' limits are set: the init forks the command only
 * after it, and the jail stops with a "cgroup" error when it closes without it. */
/* cgroup_later (a RUN plan with control, v1, no cgroup_fds): the init receives its `tasks` files on control
 * instead (CGROUPS, sandbox/jailctl.h) and joins them before it forks anything; a hang-up stops the jail. */
int brig_jail_run(const brig_plan *plan, const struct sock_fprog *prog, int status_fd, int control,
                  const int *cgroup_fds, size_t n_cgroup_fds, bool cgroup_self, bool cgroup_later,
                  int limits);

/* The helper's descriptors (sandbox/jailctl.h), -1 where absent: seccomp, a sealed memfd with the compiled
 * filter; status; control; cgroup (n_cgroup of them, joined as cgroup_self says, see brig_jail_run());
 * limits. */
typedef struct brig_jail_fds {
        int status, seccomp, control, limits;
        int cgroup[BRIG_JAILCTL_MAX_CGROUP_FDS];
        size_t n_cgroup;
        bool cgroup_self;
        bool seccomp_later; /* no seccomp: the init receives the filter on control (brig_jail_run()) */
        bool cgroup_later;  /* no cgroup: the init receives its v1 `tasks` files on control (brig_jail_run())
                             */
} brig_jail_fds;

/* What the helper does once it has its descriptors (brig-jail's main): resets the signal state, reads the
 * seccomp program and runs brig_jail_run(); returns its exit code. Errors go to the status fd. Takes
 * ownership of every descriptor of fds. Single-threaded callers only. */
int brig_jail_start(const brig_plan *plan, const brig_jail_fds *fds);

/* The helper without brig-jail's execve, for `brig run` (single-threaded, so it may fork): to be called in
 * the child right after fork(). Moves fds to brig-jail's numbers and closes every other descriptor from 3
 * up, wipes the environment (the jail's init, a clone of this process, makes itself non-dumpable), then
 * brig_jail_start() and _exit() with its code. Never returns; never flushes the parent's stdio. */
_Noreturn void brig_jail_start_forked(const brig_plan *plan, brig_jail_fds fds);

/* Internal pieces of brig-jail, in their own files. Each returns 0 or -errno and names the failing stage
 * and object in stage/detail for the status line. */
int brig__mounts_apply(const brig_plan *plan, char *detail, size_t detail_size, const char **ret_stage);
/* Keeps only the capabilities in keep (bit n for capability n, usually 0) in every set, ambient included, so
 * that they survive execve() as a non-root uid; drops the rest from the bounding set. */
int brig__caps_keep_only(uint64_t keep);
/* The command's last steps (sandbox/jailctl.h), from its new session to execve(); notify: where a one-shot
 * command sends its filter's listener, else -1. started: NULL to say "started" on the status fd, else a
 * flag in memory the caller shares, set to 1 instead (a reaper says it with the end: one write, and one
 * wakeup of brigd, fewer per command). */
_Noreturn void brig__command_main(const brig_plan *plan, const struct sock_fprog *prog, int status,
                                  int notify, bool new_session, volatile int *started);
/* Closes every fd from 3 up but keep and also (-1: none). Async-signal-safe. */
int brig__close_fds_except(int keep, int also);
/* Closes every fd from lo up: 0 or -errno. */
int brig__close_fds_from(int lo);
/* The spawner (sandbox/spawner.c): what an environment's init becomes once the environment is built.
 * listener: the listening control socket brigd connects to again after it hung up, or -1 (a hang-up ends
 * the environment). */
_Noreturn void brig__spawner_main(int status, int control, int listener, const struct sock_fprog *prog);
