/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

/* A classic-BPF interpreter for seccomp programs: answers what a compiled filter (brig_seccomp_read()) does
 * with one system call, without loading it. Used by `brig policy explain` and by tests. Pure; any thread;
 * never logs. */

/* Runs prog against data as the kernel would and returns 0 with the program's 32-bit return value
 * (SECCOMP_RET_* action and data) in *ret_action. Returns -EINVAL, leaving *ret_action alone, for a
 * program this interpreter does not understand or the kernel would refuse: an unknown opcode, a load
 * outside struct seccomp_data or the scratch memory, a jump past the end, or running off the end. A
 * division by zero returns 0 (SECCOMP_RET_KILL_THREAD), as in the kernel. */
int brig_seccomp_eval(const struct sock_fprog *prog, const struct seccomp_data *data, uint32_t *ret_action);

/* Describes a return value for people: "allowed", "errno EPERM", "kill process", "kill thread", "trap",
 * "log", "trace 5", "notify+errno EPERM" (SECCOMP_RET_USER_NOTIF, answered by brig with notify_errno; just
 * "notify" when notify_errno is 0). Writes into buf and returns it. */
const char *brig_seccomp_action_str(uint32_t action, int notify_errno, char *buf, size_t size);
