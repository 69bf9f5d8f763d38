/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Audited seccomp denials (SECCOMP_RET_USER_NOTIF, see seccomp_unotify(2)): the loop-agnostic part shared
 * by brigd and the CLI. The listener fd comes from brig_seccomp_load_listener() in the jail; whoever holds
 * it decides when it is readable (uv_poll, poll) and calls these. Every notification must be answered with
 * brig_seccomp_notify_deny(): the denied task sleeps until then. SECCOMP_USER_NOTIF_FLAG_CONTINUE is never
 * used, so no answer can let a denied call run. None of these log; any thread. */

typedef struct brig_seccomp_denial {
        uint64_t id;   /* the kernel's cookie for this notification */
        pid_t pid;     /* the caller, in the listener holder's pid namespace (0 when not visible) */
        int nr;        /* syscall number as the task gave it (x32: with __X32_SYSCALL_BIT) */
        uint32_t arch; /* AUDIT_ARCH_* of the call (another ABI's calls are all denied, see seccomp.h) */
        char abi[16];  /* "x86_64", "i386", "x32" (AUDIT_ARCH_X86_64 and the x32 bit), ... or "0x<arch>" */
        bool foreign;  /* abi is not the native one: the whole ABI was denied, not this syscall */
        char syscall[40]; /* its name in its ABI's table, or "syscall_<nr>" */
        uint64_t args[6];
} brig_seccomp_denial;

/* Whether a notification waits on listener (a non-blocking poll): 1 yes, 0 no, -EPIPE when no task uses the
 * filter any more (the listener hung up), other -errno on error. */
int brig_seccomp_notify_pending(int listener);

/* Receives and decodes one notification. Call only after the listener polled readable (else it blocks).
 * Returns 0, or -ENOENT when its task was killed meanwhile (nothing to answer), or another -errno. */
int brig_seccomp_notify_recv(int listener, brig_seccomp_denial *ret);

/* 0 while notification id still waits for an answer (so d->pid is still its task: check after reading
 * /proc/<pid>, against pid reuse), else -ENOENT. */
int brig_seccomp_notify_id_valid(int listener, uint64_t id);

/* Answers notification id: the call fails with errno_ret (1..4095). -ENOENT when its task is gone. */
int brig_seccomp_notify_deny(int listener, uint64_t id, int errno_ret);

/* Adds the event fields of a denial to obj: "syscall", "arch" (d->abi), "nr", "args" (6 hex strings: the
 * values are 64-bit, beyond JSON's exact integers) and "pid" (omitted when 0). Returns 0 or -ENOMEM. */
int brig_seccomp_denial_to_json(const brig_seccomp_denial *d, cJSON *obj);

/* Renders "mount(0x0, 0x7ffd..., ...)" into buf, followed by " from the x32 ABI" for a foreign one.
 * Returns buf. */
const char *brig_seccomp_denial_format(const brig_seccomp_denial *d, char *buf, size_t size);
