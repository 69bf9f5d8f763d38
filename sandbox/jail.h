/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <linux/filter.h>

#include "common/error.h"
#include "sandbox/plan.h"

/* Applying a plan: the body of the single-threaded brig-jail helper. Never called in the threaded daemon.
 *
 * Status protocol: every process of the jail writes one-line records to status_fd (writes below PIPE_BUF
 * are atomic, so lines from the helper, the jail's init and the command never interleave):
 *   "error STAGE ERRNO DETAIL\n"  a layer could not be applied (or execve failed); nothing ran
 *   "started\n"                   the command is about to execve
 *   "exit CODE\n" | "signal SIGNO\n"  how the command ended
 *   "holder PID\n"                HOLD: host pid of the environment's init, to enter it later; written
 *                                 before the init is released, so before its "ready" (readers accept
 *                                 both orders all the same)
 *   "ready\n"                     HOLD: the environment is built
 *   "pid PID\n"                   a spawned command's pid in its environment (it leads its own group)
 *   "layer NAME VALUE DETAIL\n"    an optional layer's fate: "layer landlock 7 applied" (VALUE: the ABI),
 *                                 "layer landlock 0 skipped: ..." or "layer landlock 0 off by policy"
 * The jail ends when its init (pid 1 of the new pid namespace) exits, which kills every other process in
 * the namespace; the init in turn dies with the helper (PR_SET_PDEATHSIG), so killing the helper kills the
 * whole tree. */

/* Runs the plan to completion; returns the helper's exit code (0 when the status line says it all). A HOLD
 * plan needs control, the init's end of the spawner socket (sandbox/spawn.h), and runs until brigd hangs
 * up or the helper is killed. A RUN plan takes -1, or a socket on which its command sends the seccomp
 * listener (BRIG_SPAWN_LISTENER) when the filter has audited denials: without one, such a filter is an
 * error ("seccomp" stage, ENOTCONN). ENTER plans are for the spawner, not for this function. */
int brig_jail_run(const brig_plan *plan, const struct sock_fprog *prog, int status_fd, int control);

typedef enum brig_jail_outcome {
        BRIG_JAIL_ERROR,
        BRIG_JAIL_STARTED,
        BRIG_JAIL_EXITED,
        BRIG_JAIL_SIGNALED,
        BRIG_JAIL_READY,
        BRIG_JAIL_HOLDER,
        BRIG_JAIL_PID,
        BRIG_JAIL_LAYER,
        _BRIG_JAIL_OUTCOME_MAX,
        _BRIG_JAIL_OUTCOME_INVALID = -22,
} brig_jail_outcome;

typedef struct brig_jail_status {
        brig_jail_outcome outcome;
        int value;        /* exit code, signal number, positive errno or pid */
        char stage[32];   /* ERROR: the failed stage; LAYER: the layer's name */
        char detail[200]; /* ERROR, LAYER */
} brig_jail_status;

/* Parses one status line (without the newline). Pure. */
int brig_jail_status_parse(const char *line, size_t len, brig_jail_status *ret);

/* Turns an ERROR status into a client error: "sandbox: mount '/usr': permission denied". */
int brig_jail_status_to_error(const brig_jail_status *st, brig_error *err);

/* Internal pieces of brig-jail, in their own files. Each returns 0 or -errno and names the failing stage
 * and object in stage/detail for the status line. */
int brig__mounts_apply(const brig_plan *plan, char *detail, size_t detail_size, const char **ret_stage);
/* Keeps only the capabilities in keep (bit n for capability n, usually 0) in every set, ambient included, so
 * that they survive execve() as a non-root uid; drops the rest from the bounding set. */
int brig__caps_keep_only(uint64_t keep);
