/* SPDX-License-Identifier: MIT */
/* One byte with one descriptor over a Unix stream socket (fdpass.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fdpass.h"

/* The mount's filesystem type of fd, from /proc (never a call into the file's filesystem, which a FUSE
 * server could leave unanswered). */
static int fs_type(int fd, char *type, size_t size) {
        char path[64];
        _cleanup_free_ char *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t cap = 0;
        long mnt = -1;

        (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        if (!(f = fopen(path, "re")))
                return -errno;
        while (getline(&line, &cap, f) > 0)
                if (sscanf(line, "mnt_id: %ld", &mnt) == 1)
                        break;
        fclose(TAKE_PTR(f));
        if (mnt < 0 || !(f = fopen("/proc/self/mountinfo", "re")))
                return -ENOENT;
        /* Whole lines, however long (a mount point may be): a piece of one could pass for another. */
        while (getline(&line, &cap, f) > 0) {
                long id;
                char *sep = strstr(line, " - ");
                if (sscanf(line, "%ld", &id) == 1 && id == mnt && sep &&
                    sscanf(sep + 3, "%63s", path) == 1) {
                        (void) snprintf(type, size, "%s", path);
                        return 0;
                }
        }
        return -ENOENT;
}

/* The filesystems whose files are taken: local ones, whose calls a client cannot leave unanswered (FUSE,
 * or a network mount whose server is gone, would hold one of brigd's pool threads at its will) and whose
 * files are plain data (proc, sysfs and the other kernel filesystems act on writes as their writer, root).
 */
static const char *const taken_fs[] = {"ext2", "ext3",  "ext4",     "xfs",     "btrfs",
                                       "f2fs", "tmpfs", "bcachefs", "overlay", "zfs"};

const char *brig_fdpass_refusal(int fd) {
        char type[64];
        struct stat st;
        bool taken = false;

        if (fs_type(fd, type, sizeof(type)) < 0)
                return "a descriptor of no known mount";
        for (size_t i = 0; i < sizeof(taken_fs) / sizeof(*taken_fs); i++)
                taken = taken || strcmp(type, taken_fs[i]) == 0;
        if (!taken)
                return "a file of a filesystem brigd does not write to (only local disk filesystems and "
                       "tmpfs)";
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return "not a regular file";
        /* brigd writes with CAP_FSETID, which keeps these bits where the client's own write would clear
         * them. */
        if (st.st_mode & (S_ISUID | S_ISGID))
                return "a setuid or setgid file";
        return NULL;
}

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
        /* Room for more than one: every descriptor that came is either the one taken or closed here (those
         * past the room are closed by the kernel, MSG_CTRUNC). */
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        int fds[4], n_fds = 0;
        ssize_t n;

        while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR)
                ;
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && n_fds < 4; i++)
                        memcpy(&fds[n_fds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        }
        if (n != 1 || n_fds != 1 || (mh.msg_flags & MSG_CTRUNC)) {
                for (int i = 0; i < n_fds; i++)
                        (void) close(fds[i]);
                return -EPROTO;
        }
        *ret_fd = fds[0];
        return 0;
}
