/* SPDX-License-Identifier: MIT */
/* Landlock for brig-jail: turns the plan's rules into a ruleset and restricts the jail's init with it, so
 * that every process of the jail is confined to the paths its mounts expose even if the mount namespace
 * were got around. The syscalls have no libc wrappers on Debian 12 (glibc 2.36): syscall() it is. See
 * https://docs.kernel.org/userspace-api/landlock.html for the ABI versions handled here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "common/cleanup.h"
#include "sandbox/landlock.h"
#include "sandbox/plan.h"

/* struct landlock_ruleset_attr as of ABI 6; the kernel takes any prefix of it (each field came with an ABI
 * version), and the header we build against only has the first field. */
typedef struct ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net; /* ABI 4 */
        uint64_t scoped;             /* ABI 6 */
} ruleset_attr;

#define SCOPE_ABSTRACT_UNIX_SOCKET (UINT64_C(1) << 0) /* ABI 6 */
#define SCOPE_SIGNAL (UINT64_C(1) << 1)               /* ABI 6 */

/* Rights the kernel accepts in a rule on something that is not a directory. */
#define FILE_RIGHTS                                                                                         \
        (BRIG_LANDLOCK_FS_EXECUTE | BRIG_LANDLOCK_FS_WRITE_FILE | BRIG_LANDLOCK_FS_READ_FILE |              \
         BRIG_LANDLOCK_FS_TRUNCATE | BRIG_LANDLOCK_FS_IOCTL_DEV)

int brig_landlock_abi(void) {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        /* ENOSYS: not built; EOPNOTSUPP: built but not enabled at boot (lsm=); EPERM: the syscall refused by
         * a seccomp filter around brig (older container runtimes). All mean "not here". */
        return abi < 0 ? 0 : (int) abi;
}

/* The filesystem rights a kernel with this ABI handles: a ruleset may not name rights it does not know. */
static uint64_t handled_fs(int abi) {
        uint64_t access = (BRIG_LANDLOCK_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

        if (abi >= 2)
                access |= BRIG_LANDLOCK_FS_REFER;
        if (abi >= 3)
                access |= BRIG_LANDLOCK_FS_TRUNCATE;
        if (abi >= 5)
                access |= BRIG_LANDLOCK_FS_IOCTL_DEV;
        return access;
}

static int add_rule(int ruleset, const brig_landlock_rule *rule, uint64_t handled) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        /* Jail paths, after pivot_root: only what mounts.c built. A link (merged /usr's /bin -> usr/bin)
         * gets no rule of its own: its target has one. */
        fd = open(rule->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return 0;
        uint64_t access = rule->access & handled;
        if (!S_ISDIR(st.st_mode))
                access &= FILE_RIGHTS;
        if (access == 0)
                return 0;
        struct landlock_path_beneath_attr attr = {.allowed_access = access, .parent_fd = fd};
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
                return -errno;
        return 0;
}

int brig_landlock_apply(const brig_plan *plan, char *detail, size_t detail_size) {
        _cleanup_close_ int ruleset = -1;
        int abi, r;

        if (plan->landlock == BRIG_LANDLOCK_OFF)
                return 0;
        abi = brig_landlock_abi();
        if (abi < BRIG_LANDLOCK_ABI_MIN) {
                if (plan->landlock != BRIG_LANDLOCK_REQUIRED)
                        return 0;
                if (abi == 0)
                        (void) snprintf(detail, detail_size,
                                        "not supported by this kernel, and the policy "
                                        "requires it (landlock: \"required\")");
                else
                        (void) snprintf(
                                detail, detail_size,
                                "kernel ABI %d is older than the %d brig needs, and the policy requires "
                                "it (landlock: \"required\")",
                                abi, BRIG_LANDLOCK_ABI_MIN);
                return -EOPNOTSUPP;
        }

        ruleset_attr attr = {.handled_access_fs = handled_fs(abi)};
        size_t size = sizeof(attr.handled_access_fs);
        /* Network rights (ABI 4) stay unhandled: the jail's own network namespace already leaves it only
         * loopback, and an egress proxy will need connect() to a loopback port. */
        if (abi >= 6) {
                /* Signals and abstract unix sockets stay inside the domain. The init, the reapers and the
                 * commands all share it (the init creates it before forking anything), so the init still
                 * signals every command; brigd, outside, is not restricted by it. */
                attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
                size = sizeof(attr);
        }
        ruleset = (int) syscall(SYS_landlock_create_ruleset, &attr, size, 0);
        if (ruleset < 0) {
                r = -errno;
                (void) snprintf(detail, detail_size, "create ruleset");
                return r;
        }
        for (size_t i = 0; i < plan->n_landlock_rules; i++)
                if ((r = add_rule(ruleset, &plan->landlock_rules[i], attr.handled_access_fs)) < 0) {
                        (void) snprintf(detail, detail_size, "rule for %s", plan->landlock_rules[i].path);
                        return r;
                }
        /* Needs no_new_privs (or CAP_SYS_ADMIN in our user namespace): the init sets it first. */
        if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
                r = -errno;
                (void) snprintf(detail, detail_size, "restrict self");
                return r;
        }
        return abi;
}
