/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <linux/filter.h>

#include "common/digest.h"
#include "common/error.h"

typedef struct brig_seccomp_profile brig_seccomp_profile;

/* The largest errno a denial may return: the kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO (4095), and
 * libseccomp 2.5.4 refuses 4095 itself. Policies, profiles and the compiler all use this bound. */
#define BRIG_SECCOMP_ERRNO_MAX 4094

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

/* What to compile. Denials of the floor and of deny[] are "audited" when audit (or deny_audit[i]) is set:
 * the filter returns SECCOMP_RET_USER_NOTIF and whoever holds the listener answers with -errno_ret and
 * reports the call (sandbox/seccomp_notify.h); otherwise they fail with errno_ret directly. With audit set,
 * every call of another ABI (i386, x32) is such an audited denial too; without it, it kills the process.
 * clone3's ENOSYS and a profile's own actions never change. */
/* Everything a program is compiled from. Every field is part of brig_seccomp_spec_key(). */
typedef struct brig_seccomp_spec {
        const brig_seccomp_profile *profile; /* borrowed, NULL for none */
        const char *const *deny;             /* extra denied names (borrowed) */
        size_t n_deny;
        const bool *deny_audit; /* per deny[] entry, or NULL: every entry follows audit */
        int errno_ret;
        bool audit;
} brig_seccomp_spec;

/* The cache key of the program spec compiles to (worker/policies.c shares programs by it): SHA-256 of a
 * canonical serialization of every field of spec, so two specs that can compile to different programs never
 * share a key. A new field of brig_seccomp_spec must be serialized there (a static assertion on the
 * struct's size reminds). The floor is part of this binary, so it needs no place in the key. Returns 0 or
 * -ENOMEM. Any thread. */
int brig_seccomp_spec_key(const brig_seccomp_spec *spec, char out[static BRIG_SHA256_HEX]);

/* Compiles spec as brig_seccomp_compile_profile() does. Returns a sealed, close-on-exec memfd in *ret_fd. */
int brig_seccomp_compile_spec(const brig_seccomp_spec *spec, int *ret_fd, brig_error *err);

/* Reads a program written by brig_seccomp_compile() (pread from offset 0, so one fd serves many readers).
 * *ret_prog->filter is heap memory the caller frees. Not async-signal-safe: call before fork. */
int brig_seccomp_read(int fd, struct sock_fprog *ret_prog, brig_error *err);

/* Whether prog returns SECCOMP_RET_USER_NOTIF anywhere (it has audited denials). Async-signal-safe. */
bool brig_seccomp_has_notify(const struct sock_fprog *prog);

/* Sets no_new_privs and loads prog with seccomp(2). When prog has audited denials it is loaded with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener (close-on-exec) is returned in *ret_listener, which
 * is then required (-EINVAL without); else *ret_listener (when given) is -1. The listener's holder must
 * answer every notification; once every copy of it is closed, audited calls fail with ENOSYS (fail
 * closed). Async-signal-safe; returns 0 or -errno. */
int brig_seccomp_load_listener(const struct sock_fprog *prog, int *ret_listener);

/* The same without a listener: a prog with audited denials is -EINVAL. */
int brig_seccomp_load(const struct sock_fprog *prog);
