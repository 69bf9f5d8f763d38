/* SPDX-License-Identifier: MIT */
/* A stand-in for brig-jail that runs the real one and tampers with what it tells brigd, to put faults on
 * brigd's side of the protocol deterministically (tests/integration/test_env_start.c). brigd passes it no
 * environment, so the fault is chosen by the name it is started under (a symlink to this program):
 *   ...-reorder  the status line "holder PID" is held back until the init's "ready" has gone through
 *   ...-noready  the init's "ready" never reaches brigd
 *   ...-ctrunc   the init's descriptors (control socket) reach brigd with more descriptors attached than
 *                brigd receives at once, so its recvmsg() sees MSG_CTRUNC, as when it has no free fd
 *   ...-inherit  no fault: checks what brigd started it with and exits 1 (failing the start) unless it has
 *                exactly the helper's descriptors (0-6, then cgroup.procs or v1 tasks files only), no
 *                signal ignored or blocked, and a session of its own
 * The real brig-jail (../../brig-jail from this program's own file) gets the same fds, with a pipe of ours
 * on the status fd (4) and, for ctrunc, a socket of ours on the control fd (6), relayed to the connection
 * brigd made to its listening control socket. Test-only. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/jailctl.h"

#define STATUS_FD BRIG_JAILCTL_FD_STATUS
#define CONTROL_FD BRIG_JAILCTL_FD_CONTROL
#define EXTRA_FDS 8 /* more than BRIG_JAILCTL_MAX_FDS */

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

/* Sends m with fds plus EXTRA_FDS more (copies of /dev/null) in one control message. */
static void send_oversized(int sock, const brig_jailctl_msg *m, const int *fds, size_t n_fds) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * (BRIG_JAILCTL_MAX_FDS + EXTRA_FDS))];
                struct cmsghdr align;
        } u;
        int all[BRIG_JAILCTL_MAX_FDS + EXTRA_FDS];
        size_t n = 0;
        struct iovec iov = {.iov_base = (void *) m, .iov_len = sizeof(*m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf};

        for (size_t i = 0; i < n_fds; i++)
                all[n++] = fds[i];
        for (int i = 0; i < EXTRA_FDS; i++) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        all[n++] = fd;
        }
        memset(&u, 0, sizeof(u));
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), all, sizeof(int) * n);
        (void) sendmsg(sock, &mh, MSG_NOSIGNAL);
        for (size_t i = 0; i < n; i++)
                (void) close(all[i]);
}

/* Moves every message waiting on from to to (oversized when asked); false once from hung up. */
static bool relay(int from, int to, bool oversize) {
        for (;;) {
                struct pollfd p = {.fd = from, .events = POLLIN};
                if (poll(&p, 1, 0) <= 0)
                        return true;
                brig_jailctl_msg m;
                int fds[BRIG_JAILCTL_MAX_FDS];
                size_t n_fds = 0;
                int r = brig_jailctl_recv(from, &m, fds, &n_fds);
                if (r == 0 || (r < 0 && r != -EAGAIN && r != -EBADMSG))
                        return false;
                if (r < 0)
                        continue;
                if (oversize)
                        send_oversized(to, &m, fds, n_fds);
                else
                        (void) brig_jailctl_send(to, &m, fds, n_fds);
                for (size_t i = 0; i < n_fds; i++)
                        (void) close(fds[i]);
        }
}

/* What brigd must give the helper (sandbox/jailctl.h): 0 to BRIG_JAILCTL_FD_CONTROL, cgroup.procs (v1:
 * tasks) files above, nothing else; its signals as on a fresh start; a session of its own. Says what is
 * wrong on stderr (brigd's log). */
static bool inherited_as_a_helper(void) {
        char path[64], target[PATH_MAX], line[256];
        bool ok = getsid(0) == getpid();
        int n_low = 0;

        if (!ok)
                fprintf(stderr, "jail_fault: not a session leader\n");
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return false;
        for (struct dirent *de; (de = readdir(d));) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] == '.' || fd == dirfd(d))
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = 0;
                if (fd <= BRIG_JAILCTL_FD_CONTROL)
                        n_low++;
                else if (!strstr(target, "/cgroup.procs") && !strstr(target, "/tasks")) {
                        fprintf(stderr, "jail_fault: unexpected fd %d (%s)\n", fd, target);
                        ok = false;
                }
        }
        closedir(d);
        if (n_low != BRIG_JAILCTL_FD_CONTROL + 1) {
                fprintf(stderr, "jail_fault: %d of fds 0-%d open\n", n_low, BRIG_JAILCTL_FD_CONTROL);
                ok = false;
        }
        FILE *f = fopen("/proc/self/status", "re");
        while (f && fgets(line, sizeof(line), f))
                /* But glibc's internal signals (32, 33), which its posix_spawn ignores; the real helper
                 * sets them back (sandbox/jail_main.c), as the test checks in a command. */
                if ((strncmp(line, "SigIgn:", 7) == 0 || strncmp(line, "SigBlk:", 7) == 0) &&
                    (strtoull(line + 7, NULL, 16) & ~0x180000000ULL) != 0) {
                        fprintf(stderr, "jail_fault: %s", line);
                        ok = false;
                }
        if (f)
                fclose(f);
        return ok;
}

int main(int argc, char **argv) {
        char self[PATH_MAX], real[PATH_MAX + 32], held[512] = "", buf[4096];
        size_t len = 0;
        int status[2], control[2] = {-1, -1};
        const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        bool reorder = strstr(name, "-reorder"), noready = strstr(name, "-noready"),
             ctrunc = strstr(name, "-ctrunc"), ready_passed = false;
        (void) argc;

        if (strstr(name, "-inherit") && !inherited_as_a_helper())
                return 1;
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return 1;
        self[n] = 0;
        (void) snprintf(real, sizeof(real), "%s/../../brig-jail", dirname(self));
        if (pipe2(status, O_CLOEXEC) < 0 ||
            (ctrunc && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) < 0))
                return 1;
        /* Die with brigd's SIGKILL of the holder, like the real helper; ours dies with us. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        pid_t child = fork();
        if (child < 0)
                return 1;
        if (child == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                if (getppid() == 1)
                        _exit(1);
                (void) dup2(status[1], STATUS_FD);
                if (ctrunc)
                        (void) dup2(control[1], CONTROL_FD);
                argv[0] = real;
                execv(real, argv);
                _exit(127);
        }
        (void) close(status[1]);
        /* brigd's end: the connection it made to the listening socket it gave us (worker/env_control.h),
         * which we relay as the init's; no RECONNECT, so brigd never hangs up an idle one. */
        int ctl = CONTROL_FD, listener = -1;
        if (ctrunc &&
            (brig_jailctl_accept_first(&ctl, &listener) < 0 || (listener >= 0 && close(listener) < 0)))
                return 1;
        if (ctrunc)
                (void) close(control[1]);
        else
                (void) close(CONTROL_FD); /* only the init may hold brigd's control socket */

        bool status_open = true, control_open = ctrunc;
        while (status_open || control_open) {
                struct pollfd p[3] = {{.fd = status_open ? status[0] : -1, .events = POLLIN},
                                      {.fd = control_open ? control[0] : -1, .events = POLLIN},
                                      {.fd = control_open ? ctl : -1, .events = POLLIN}};
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                /* The init's descriptors first: it sent them before it said "ready". */
                if (control_open && (p[1].revents || p[2].revents))
                        control_open = relay(control[0], ctl, true) && relay(ctl, control[0], false);
                if (ctrunc && !control_open && control[0] >= 0) {
                        /* Either side hung up: so does the other, as on a direct socket. */
                        (void) close(control[0]);
                        (void) close(ctl);
                        control[0] = -1;
                }
                if (!p[0].revents)
                        continue;
                ssize_t r = read(status[0], buf + len, sizeof(buf) - 1 - len);
                if (r < 0 && errno == EINTR)
                        continue;
                /* After the read: what the init sent before the lines just read is queued by now (relayed
                 * before them, it could arrive after a "ready" that was written while we relayed). */
                if (control_open)
                        control_open = relay(control[0], ctl, true);
                if (r <= 0) {
                        status_open = false;
                        if (held[0])
                                (void) write_all(STATUS_FD, held, strlen(held));
                        (void) close(STATUS_FD);
                        continue;
                }
                len += (size_t) r;
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        size_t line = (size_t) (nl - buf) + 1;
                        bool is_ready = line == 6 && memcmp(buf, "ready\n", 6) == 0;
                        if (reorder && !ready_passed && strncmp(buf, "holder ", 7) == 0 &&
                            line < sizeof(held))
                                (void) snprintf(held, sizeof(held), "%.*s", (int) line, buf);
                        else if (!(noready && is_ready)) {
                                (void) write_all(STATUS_FD, buf, line);
                                if (is_ready && held[0]) {
                                        (void) write_all(STATUS_FD, held, strlen(held));
                                        held[0] = 0;
                                }
                        }
                        ready_passed |= is_ready;
                        memmove(buf, nl + 1, len - line);
                        len -= line;
                }
                if (len == sizeof(buf) - 1)
                        len = 0;
        }
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
