/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <linux/filter.h>

#include "common/error.h"

typedef struct brig_seccomp_profile brig_seccomp_profile;

/* The seccomp layer. Compilation (libseccomp) happens once per policy in the daemon or CLI and yields a
 * sealed memfd holding the classic-BPF program; the jail helper reads it before forking and loads it as the
 * very last step before execve(), without libseccomp. */

/* Names of brig's fixed floor: syscalls always denied whatever the policy says (NULL-terminated). */
extern const char *const brig_seccomp_floor[];

/* Compiles the floor plus the policy's extra denied syscall names into BPF for the native architecture only:
 * calls from any other ABI (i386, x32) kill the process. Denied calls fail with errno_ret; clone/clone3
 * with namespace flags, ioctl(TIOCSTI/TIOCLINUX) and personality changes are filtered by argument.
 * An extra name unknown on this architecture is an error naming it.
 * Returns a sealed, close-on-exec memfd in *ret_fd. Thread-safe (libseccomp state is per call). */
int brig_seccomp_compile(const char *const *extra_deny, size_t n_extra, int errno_ret, int *ret_fd,
                         brig_error *err);

/* The same, with a Docker/OCI profile (sandbox/seccomp_profile.h; borrowed, may be NULL for none) deciding
 * whatever the floor and the extra denials let through: its default action and rules, never relaxing them.
 * A rule libseccomp refuses is an error naming it. Returns a sealed, close-on-exec memfd in *ret_fd. */
int brig_seccomp_compile_profile(const brig_seccomp_profile *profile, const char *const *extra_deny,
                                 size_t n_extra, int errno_ret, int *ret_fd, brig_error *err);

/* Reads a program written by brig_seccomp_compile() (pread from offset 0, so one fd serves many readers).
 * *ret_prog->filter is heap memory the caller frees. Not async-signal-safe: call before fork. */
int brig_seccomp_read(int fd, struct sock_fprog *ret_prog, brig_error *err);

/* Sets no_new_privs and loads prog with seccomp(2). Async-signal-safe; returns 0 or -errno. */
int brig_seccomp_load(const struct sock_fprog *prog);
