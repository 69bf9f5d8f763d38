/* SPDX-License-Identifier: MIT */
/* One byte with one descriptor over a Unix stream socket (fdpass.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdpass.h"

typedef union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
} one_fd;

int brig_fdpass_send(int sock, int fd) {
        one_fd ctl = {0};
        char byte = 'F';
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        ssize_t n;

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
                ;
        return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

int brig_fdpass_recv(int sock, int *ret_fd) {
        one_fd ctl;
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        struct cmsghdr *cm;
        int fd = -1;
        ssize_t n;

        while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR)
                ;
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        cm = n == 1 ? CMSG_FIRSTHDR(&mh) : NULL;
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (fd < 0 || (mh.msg_flags & MSG_CTRUNC)) {
                if (fd >= 0)
                        (void) close(fd);
                return -EPROTO;
        }
        *ret_fd = fd;
        return 0;
}
