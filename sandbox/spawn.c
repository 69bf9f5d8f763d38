/* SPDX-License-Identifier: MIT */
/* Framing of brigd <-> environment-init control messages (see spawn.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/spawn.h"

int brig_spawn_send(int control, const brig_spawn_msg *m, const int *fds, size_t n_fds) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * BRIG_SPAWN_MAX_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = (void *) m, .iov_len = sizeof(*m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

        if (n_fds > BRIG_SPAWN_MAX_FDS)
                return -E2BIG;
        if (n_fds > 0) {
                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        for (;;) {
                ssize_t n = sendmsg(control, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                return n == (ssize_t) sizeof(*m) ? 0 : -EIO;
        }
}

int brig_spawn_recv(int control, brig_spawn_msg *m, int *fds, size_t *ret_n_fds) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * BRIG_SPAWN_MAX_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
        size_t n_fds = 0;
        ssize_t n;

        do
                n = recvmsg(control, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (n_fds < BRIG_SPAWN_MAX_FDS)
                                        fds[n_fds++] = fd;
                                else
                                        (void) close(fd);
                        }
                }
        if (n != (ssize_t) sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                for (size_t i = 0; i < n_fds; i++)
                        (void) close(fds[i]);
                /* Cut short with room left in our buffer: the kernel could not install a descriptor for
                 * us (out of fds, which passes); a full buffer means more were sent than the protocol
                 * has (a broken peer). */
                if (n == (ssize_t) sizeof(*m) && !(mh.msg_flags & MSG_TRUNC) && n_fds < BRIG_SPAWN_MAX_FDS)
                        return -EMFILE;
                return -EBADMSG;
        }
        *ret_n_fds = n_fds;
        return 1;
}
