/* SPDX-License-Identifier: MIT */
/* Capabilities of jailed processes: the names a policy may use (and those it may not), and setting the
 * bounding, permitted, effective, inheritable and ambient sets so that a jailed command keeps exactly the
 * policy's list, usually nothing. After this, no execve() can gain any other capability. */
#include <errno.h>
#include <stddef.h>
#include <strings.h>
#include <sys/prctl.h>

#include <sys/capability.h>

#include "sandbox/caps.h"
#include "sandbox/jail.h"

/* Every capability up to CAP_CHECKPOINT_RESTORE, and why a policy may not keep it (NULL: it may). What a
 * capability allows inside the jail's own user namespace is what matters: most act only on what that
 * namespace owns (its mount, network, ipc and pid namespaces, files of its one mapped uid). Refused are
 * those that reach the kernel as a whole, undo another layer (rlimits, no_new_privs' file caps, the
 * bounding set) or exist only for attacks. */
static const struct {
        const char *name;
        const char *refused;
} caps[BRIG_CAP_MAX] = {
        [0] = {"CAP_CHOWN", NULL},
        [1] = {"CAP_DAC_OVERRIDE", NULL},
        [2] = {"CAP_DAC_READ_SEARCH", "open_by_handle_at() reaches files outside the jail's mounts"},
        [3] = {"CAP_FOWNER", NULL},
        [4] = {"CAP_FSETID", NULL},
        [5] = {"CAP_KILL", NULL},
        [6] = {"CAP_SETGID", NULL},
        [7] = {"CAP_SETUID", NULL},
        [8] = {"CAP_SETPCAP", "it changes the bounding set and securebits brig relies on"},
        [9] = {"CAP_LINUX_IMMUTABLE", "immutable and append-only flags outlive the jail"},
        [10] = {"CAP_NET_BIND_SERVICE", NULL},
        [11] = {"CAP_NET_BROADCAST", NULL},
        [12] = {"CAP_NET_ADMIN", "it configures the network stack, a large kernel attack surface"},
        [13] = {"CAP_NET_RAW", NULL},
        [14] = {"CAP_IPC_LOCK", "locked memory escapes RLIMIT_MEMLOCK"},
        [15] = {"CAP_IPC_OWNER", NULL},
        [16] = {"CAP_SYS_MODULE", "it loads kernel code"},
        [17] = {"CAP_SYS_RAWIO", "it gives raw device and I/O port access"},
        [18] = {"CAP_SYS_CHROOT", NULL},
        [19] = {"CAP_SYS_PTRACE", "it traces and rewrites other processes of the jail, its init included"},
        [20] = {"CAP_SYS_PACCT", "process accounting is the host's"},
        [21] = {"CAP_SYS_ADMIN", "mount, namespaces and most of the kernel: it undoes the jail"},
        [22] = {"CAP_SYS_BOOT", "reboot() kills the jail's init"},
        [23] = {"CAP_SYS_NICE", NULL},
        [24] = {"CAP_SYS_RESOURCE", "it raises rlimits above the policy's limits"},
        [25] = {"CAP_SYS_TIME", "the clock is the host's"},
        [26] = {"CAP_SYS_TTY_CONFIG", "terminals are the host's"},
        [27] = {"CAP_MKNOD", NULL},
        [28] = {"CAP_LEASE", NULL},
        [29] = {"CAP_AUDIT_WRITE", "the audit log is the host's"},
        [30] = {"CAP_AUDIT_CONTROL", "the audit log is the host's"},
        [31] = {"CAP_SETFCAP", "file capabilities outlive the jail"},
        [32] = {"CAP_MAC_OVERRIDE", "it overrides the host's mandatory access control"},
        [33] = {"CAP_MAC_ADMIN", "it changes the host's mandatory access control"},
        [34] = {"CAP_SYSLOG", "the kernel log is the host's and leaks kernel addresses"},
        [35] = {"CAP_WAKE_ALARM", "alarms wake the host"},
        [36] = {"CAP_BLOCK_SUSPEND", "it keeps the host from suspending"},
        [37] = {"CAP_AUDIT_READ", "the audit log is the host's"},
        [38] = {"CAP_PERFMON", "perf events expose the kernel and other processes"},
        [39] = {"CAP_BPF", "BPF programs run in the kernel"},
        [40] = {"CAP_CHECKPOINT_RESTORE", "it picks pids and reads other processes' mappings"},
};

int brig_capability_lookup(const char *name, const char **ret_refused) {
        if (strncasecmp(name, "CAP_", 4) == 0)
                name += 4;
        for (int c = 0; c < BRIG_CAP_MAX; c++)
                if (strcasecmp(name, caps[c].name + 4) == 0) {
                        if (ret_refused)
                                *ret_refused = caps[c].refused;
                        return c;
                }
        return -ENOENT;
}

const char *brig_capability_name(int cap) {
        return cap >= 0 && cap < BRIG_CAP_MAX ? caps[cap].name : NULL;
}

int brig__caps_keep_only(uint64_t keep) {
        cap_value_t last = (cap_value_t) cap_max_bits() - 1;
        cap_value_t list[BRIG_CAP_MAX];
        int n = 0, r = 0;
        cap_t set;

        for (cap_value_t c = 0; c < BRIG_CAP_MAX; c++)
                if (keep & (UINT64_C(1) << c)) {
                        /* A capability this kernel does not know cannot be kept: fail rather than run
                         * without what the policy asked for. */
                        if (c > last)
                                return -EOPNOTSUPP;
                        list[n++] = c;
                }
        /* Bounding set first: dropping it needs CAP_SETPCAP, which the capset below removes. */
        for (cap_value_t c = 0; c <= last; c++)
                if ((c >= BRIG_CAP_MAX || !(keep & (UINT64_C(1) << c))) &&
                    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        set = cap_init();
        if (!set)
                return -ENOMEM;
        /* Inheritable and permitted are what ambient needs; ambient is what survives the execve of a
         * program without file capabilities by a uid other than 0, which is every jailed command. */
        if (n > 0 && (cap_set_flag(set, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
                      cap_set_flag(set, CAP_EFFECTIVE, n, list, CAP_SET) < 0 ||
                      cap_set_flag(set, CAP_INHERITABLE, n, list, CAP_SET) < 0))
                r = -errno;
        if (r >= 0 && cap_set_proc(set) < 0)
                r = -errno;
        (void) cap_free(set);
        for (int i = 0; r >= 0 && i < n; i++)
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, list[i], 0, 0) < 0)
                        r = -errno;
        return r;
}
