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
        name = seccomp_syscall_resolve_num_arch(n.data.arch, n.data.nr);
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

        if (!cJSON_AddStringToObject(obj, "syscall", d->syscall))
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
                        ", 0x%" PRIx64 ")",
                        d->syscall, d->args[0], d->args[1], d->args[2], d->args[3], d->args[4], d->args[5]);
        return buf;
}
