/* SPDX-License-Identifier: MIT */
/* Audited seccomp denials: receiving, decoding and answering SECCOMP_RET_USER_NOTIF notifications from a
 * filter's listener fd (seccomp_unotify(2)). Who polls the fd, and where the events go, is the caller's. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/seccomp.h>
#include <seccomp.h>

#include "sandbox/seccomp_notify.h"

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* Names of the ABIs a call can come from, by AUDIT_ARCH_* (libseccomp's SCMP_ARCH_* are the same values).
 * x32 is not here: it shares AUDIT_ARCH_X86_64 and is told apart by its number. */
static const struct {
        uint32_t arch;
        const char *name;
} abis[] = {
        {SCMP_ARCH_X86_64, "x86_64"}, {SCMP_ARCH_X86, "i386"},        {SCMP_ARCH_AARCH64, "aarch64"},
        {SCMP_ARCH_ARM, "arm"},       {SCMP_ARCH_RISCV64, "riscv64"}, {SCMP_ARCH_PPC64LE, "ppc64le"},
        {SCMP_ARCH_S390X, "s390x"},   {SCMP_ARCH_S390, "s390"},
};

/* Fills d->abi and d->foreign, and returns the SCMP_ARCH_* whose table names d->nr. */
static uint32_t classify_abi(brig_seccomp_denial *d) {
        uint32_t table = d->arch;

        (void) snprintf(d->abi, sizeof(d->abi), "0x%08" PRIx32, d->arch);
        for (size_t i = 0; i < sizeof(abis) / sizeof(abis[0]); i++)
                if (abis[i].arch == d->arch)
                        (void) snprintf(d->abi, sizeof(d->abi), "%s", abis[i].name);
        /* -1 is no system call at all (a tracer's skip), not x32. */
        if (d->arch == SCMP_ARCH_X86_64 && d->nr != -1 && ((uint32_t) d->nr & __X32_SYSCALL_BIT)) {
                (void) snprintf(d->abi, sizeof(d->abi), "x32");
                table = SCMP_ARCH_X32;
        }
        d->foreign = d->arch != seccomp_arch_native() || table != d->arch;
        return table;
}

int brig_seccomp_notify_pending(int listener) {
        struct pollfd p = {.fd = listener, .events = POLLIN};
        int n;

        do
                n = poll(&p, 1, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        if (p.revents & POLLIN)
                return 1;
        /* POLLHUP: the filter has no tasks left, so nothing will ever arrive again. */
        return (p.revents & POLLNVAL) ? -EBADF : -EPIPE;
}

int brig_seccomp_notify_recv(int listener, brig_seccomp_denial *ret) {
        /* The kernel refuses (EINVAL) a buffer that is not zeroed. */
        struct seccomp_notif n;
        char *name;

        memset(&n, 0, sizeof(n));
        for (;;) {
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) == 0)
                        break;
                /* ENOENT: the task was killed between our wake-up and the receive. */
                if (errno != EINTR)
                        return -errno;
                memset(&n, 0, sizeof(n));
        }

        *ret = (brig_seccomp_denial){
                .id = n.id,
                .pid = (pid_t) n.pid,
                .nr = n.data.nr,
                .arch = n.data.arch,
        };
        memcpy(ret->args, n.data.args, sizeof(ret->args));
        name = seccomp_syscall_resolve_num_arch(classify_abi(ret), n.data.nr);
        if (name && strlen(name) < sizeof(ret->syscall))
                memcpy(ret->syscall, name, strlen(name) + 1);
        else
                (void) snprintf(ret->syscall, sizeof(ret->syscall), "syscall_%d", n.data.nr);
        free(name);
        return 0;
}

int brig_seccomp_notify_id_valid(int listener, uint64_t id) {
        __u64 cookie = id;

        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &cookie) < 0)
                return -errno;
        return 0;
}

int brig_seccomp_notify_deny(int listener, uint64_t id, int errno_ret) {
        /* flags stays 0: SECCOMP_USER_NOTIF_FLAG_CONTINUE would run the denied call. */
        struct seccomp_notif_resp resp = {.id = id, .val = 0, .error = -errno_ret, .flags = 0};

        if (errno_ret < 1 || errno_ret > 4095)
                return -EINVAL;
        for (;;) {
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

int brig_seccomp_denial_to_json(const brig_seccomp_denial *d, cJSON *obj) {
        cJSON *args;
        char hex[24];

        if (!cJSON_AddStringToObject(obj, "syscall", d->syscall) ||
            !cJSON_AddStringToObject(obj, "arch", d->abi) || !cJSON_AddNumberToObject(obj, "nr", d->nr))
                return -ENOMEM;
        args = cJSON_CreateArray();
        if (!args || !cJSON_AddItemToObject(obj, "args", args)) {
                cJSON_Delete(args);
                return -ENOMEM;
        }
        for (size_t i = 0; i < 6; i++) {
                (void) snprintf(hex, sizeof(hex), "0x%" PRIx64, d->args[i]);
                cJSON *s = cJSON_CreateString(hex);
                if (!s || !cJSON_AddItemToArray(args, s)) {
                        cJSON_Delete(s);
                        return -ENOMEM;
                }
        }
        if (d->pid > 0 && !cJSON_AddNumberToObject(obj, "pid", (double) d->pid))
                return -ENOMEM;
        return 0;
}

const char *brig_seccomp_denial_format(const brig_seccomp_denial *d, char *buf, size_t size) {
        (void) snprintf(buf, size,
                        "%s(0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64
                        ", 0x%" PRIx64 ")%s%s%s",
                        d->syscall, d->args[0], d->args[1], d->args[2], d->args[3], d->args[4], d->args[5],
                        d->foreign ? " from the " : "", d->foreign ? d->abi : "", d->foreign ? " ABI" : "");
        return buf;
}
