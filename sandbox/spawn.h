/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The control protocol between brigd and an environment's init (the resident spawner). One SOCK_SEQPACKET
 * message per request, with its file descriptors attached (SCM_RIGHTS):
 *   RUN  id        fds: plan memfd (an ENTER plan), stdout, stderr, status [, stdin when FLAG_STDIN]
 *                  The init forks the command; on the status fd it writes "pid N" (in the environment's
 *                  pid namespace), then "exit N" or "signal N" when it ends, then closes it.
 *   KILL id sig    Signals the process group of command `id`.
 * and one message the other way, from the init (or a one-shot command) to brigd (or brig):
 *   LISTENER       fds: the seccomp listener of the filter it just loaded, when the filter has audited
 *                  denials (sandbox/seccomp_notify.h); sent before "ready" (or "started").
 *   PROXY          fds: a TCP socket listening on 127.0.0.1:<plan's proxy_port> in the environment's
 *                  network namespace, for brigd's HTTP proxy (worker/proxy.c), and a NETLINK_SOCK_DIAG
 *                  socket of that namespace (when the kernel has it); sent by the init of a proxy-mode
 *                  environment before its LISTENER and before "ready".
 * A hang-up of the control socket ends the environment (the init exits, and with it every process). */

enum {
        BRIG_SPAWN_RUN = 1,
        BRIG_SPAWN_KILL = 2,
        BRIG_SPAWN_LISTENER = 3,
        BRIG_SPAWN_PROXY = 4,
};

enum {
        BRIG_SPAWN_FLAG_STDIN = 1 << 0,
};

#define BRIG_SPAWN_MAX_FDS 5

typedef struct brig_spawn_msg {
        uint32_t op;
        uint32_t flags;
        uint64_t id;
        int32_t signal;
        uint32_t reserved;
} brig_spawn_msg;

/* Sends one message with n_fds descriptors. Returns 0 or -errno (-EAGAIN when the init's queue is full).
 * Async-signal-safe; any thread. */
int brig_spawn_send(int control, const brig_spawn_msg *m, const int *fds, size_t n_fds);

/* Receives one message; descriptors arrive close-on-exec in fds (at most BRIG_SPAWN_MAX_FDS), their number
 * in *ret_n_fds. Returns 1, 0 on hang-up, or -errno. A message of the wrong size, or with more descriptors
 * than that, is -EBADMSG; one whose descriptors we had no room to receive (out of fds) is -EMFILE. Either
 * way its descriptors are closed. */
int brig_spawn_recv(int control, brig_spawn_msg *m, int *fds, size_t *ret_n_fds);
