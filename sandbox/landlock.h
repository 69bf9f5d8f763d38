/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sandbox/plan.h"

/* Landlock: the jail's second filesystem layer, under the mount namespace. The plan (sandbox/plan.c) says
 * which jail paths get which rights; brig_landlock_apply() turns that into a ruleset in the jail's init. */

/* Filesystem access rights, with the kernel's values (linux/landlock.h). Kept here because Debian 12's
 * header stops at ABI 2; the ABI that introduced each right is noted. */
#define BRIG_LANDLOCK_FS_EXECUTE (UINT64_C(1) << 0)
#define BRIG_LANDLOCK_FS_WRITE_FILE (UINT64_C(1) << 1)
#define BRIG_LANDLOCK_FS_READ_FILE (UINT64_C(1) << 2)
#define BRIG_LANDLOCK_FS_READ_DIR (UINT64_C(1) << 3)
#define BRIG_LANDLOCK_FS_REMOVE_DIR (UINT64_C(1) << 4)
#define BRIG_LANDLOCK_FS_REMOVE_FILE (UINT64_C(1) << 5)
#define BRIG_LANDLOCK_FS_MAKE_CHAR (UINT64_C(1) << 6)
#define BRIG_LANDLOCK_FS_MAKE_DIR (UINT64_C(1) << 7)
#define BRIG_LANDLOCK_FS_MAKE_REG (UINT64_C(1) << 8)
#define BRIG_LANDLOCK_FS_MAKE_SOCK (UINT64_C(1) << 9)
#define BRIG_LANDLOCK_FS_MAKE_FIFO (UINT64_C(1) << 10)
#define BRIG_LANDLOCK_FS_MAKE_BLOCK (UINT64_C(1) << 11)
#define BRIG_LANDLOCK_FS_MAKE_SYM (UINT64_C(1) << 12)
#define BRIG_LANDLOCK_FS_REFER (UINT64_C(1) << 13)     /* ABI 2 */
#define BRIG_LANDLOCK_FS_TRUNCATE (UINT64_C(1) << 14)  /* ABI 3 */
#define BRIG_LANDLOCK_FS_IOCTL_DEV (UINT64_C(1) << 15) /* ABI 5 */

/* Every right brig knows; the jail keeps those the running kernel's ABI handles. */
#define BRIG_LANDLOCK_FS_ALL ((UINT64_C(1) << 16) - 1)
/* Read-only binds: read files, list directories, run programs. */
#define BRIG_LANDLOCK_FS_READ_EXEC                                                                          \
        (BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_READ_DIR | BRIG_LANDLOCK_FS_EXECUTE)
/* /dev: read and write the device nodes (ioctls for the tty), create nothing. */
#define BRIG_LANDLOCK_FS_DEV                                                                                \
        (BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_WRITE_FILE | BRIG_LANDLOCK_FS_READ_DIR |             \
         BRIG_LANDLOCK_FS_IOCTL_DEV)
/* /proc: read, and write the files a process tunes itself with (`echo 1000 > /proc/self/oom_score_adj`
 * opens with O_TRUNC, hence TRUNCATE). */
#define BRIG_LANDLOCK_FS_PROC                                                                               \
        (BRIG_LANDLOCK_FS_READ_FILE | BRIG_LANDLOCK_FS_WRITE_FILE | BRIG_LANDLOCK_FS_READ_DIR |             \
         BRIG_LANDLOCK_FS_TRUNCATE)

/* The oldest ABI brig uses: ABI 1 cannot allow renames or links across directories at all (REFER came in
 * 2), which would break `mv` and git in the workspace. */
#define BRIG_LANDLOCK_ABI_MIN 2

/* The running kernel's Landlock ABI version (>= 1), or 0 where Landlock is missing (not built, disabled
 * at boot, or its syscalls refused by an outer seccomp filter). Does not log; any thread. */
int brig_landlock_abi(void);

/* Applies the plan's Landlock rules to the calling process (and so to everything it forks later): one
 * ruleset handling every filesystem right the kernel's ABI knows, one rule per plan path that exists
 * (missing paths, such as skipped optional binds, are left out: no rule means no access), then
 * landlock_restrict_self(), which needs no_new_privs. From ABI 6 the domain is also scoped: signals and
 * abstract unix sockets cannot reach processes outside it. Only for brig-jail's init, after the root is
 * built. Returns the ABI applied (> 0); 0 when Landlock is missing and the plan allows that ("auto"); or
 * -errno, with what failed in detail (a "required" plan on a kernel without Landlock fails -EOPNOTSUPP).
 * Does not log. */
int brig_landlock_apply(const brig_plan *plan, char *detail, size_t detail_size);
